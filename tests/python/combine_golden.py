"""Independent numpy reference model of the combine operators:

    aclnnMoeTokenUnpermute      (layer spec 3.3, layer decision 14)
    aclnnMoeFinalizeRouting     (routing spec 6.3)
    aclnnMoeFinalizeRoutingV2   (routing spec 7.2)

Written from the specification, not from the C sources. Vectorised over tokens and columns; the slots are
added one after the other, in order, as the spec requires.

Conventions
-----------
* float16 / float32 arrays are numpy float16 / float32; bfloat16 is carried as np.uint16 raw bits
  (dtype "bf16").
* Every arithmetic step is computed exactly in float64 and rounded once to the arithmetic format:
  - "f16": the sum and the product of two fp16 values are exact in float64 (the exponent span of fp16 is
    under 40 bits, a product has at most 22 significant bits), and numpy's float64 -> float16 cast is one
    correctly rounded conversion (tests/python/test_model.py checks it against struct 'e').
  - "f32": a product of two fp32 values is exact in float64 (48 bits); a sum may not be, but float64 has
    53 >= 2*24 + 2 bits, so rounding the float64 sum to float32 gives the correctly rounded fp32 sum.
  So the model never relies on the library's fp32-then-fp16 argument.
* NaN payloads are not specified by the spec; the tests compare NaN as a class.
"""

import numpy as np

DTYPES = ("f16", "bf16", "f32")
NP_DTYPE = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32}


class Refused(Exception):
    """The operator refuses the data at execute (161002); `where` names the first offending position."""

    def __init__(self, where, message):
        super().__init__(message)
        self.where = where


# ---------------------------------------------------------------------------------------------------------
# element conversions
# ---------------------------------------------------------------------------------------------------------

def widen(a, dtype):
    """Carrier array -> float64, exact."""
    a = np.asarray(a)
    with np.errstate(invalid="ignore"):
        if dtype == "bf16":
            return (a.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
        return a.astype(np.float64)


def rnd(v, arith):
    """Round float64 value(s) once to the arithmetic format (RNE, overflow to inf); result as float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(v, np.float64)
        if arith == "f16":
            return v.astype(np.float16).astype(np.float64)
        return v.astype(np.float32).astype(np.float64)


def f32_to_bf16(v, ties_away):
    """float32 -> bf16 bits: ties to even (RNE) or ties away from zero (CAST_ROUND); NaN stays NaN (quiet)."""
    f = np.asarray(v, np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    if ties_away:
        r = (u + np.uint64(0x8000)) >> np.uint64(16)
    else:
        r = (u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    qnan = (u >> np.uint64(16)) | np.uint64(0x40)
    return np.where(np.isnan(f), qnan, r).astype(np.uint16)


def store(acc, dtype, bf16_ties_away=False):
    """acc (float64 holding values of the arithmetic format) -> output carrier of dtype."""
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "f32":
            return acc.astype(np.float32)
        if dtype == "f16":
            return acc.astype(np.float16)
        return f32_to_bf16(acc.astype(np.float32), bf16_ties_away)


def nan_mask(a, dtype):
    a = np.asarray(a)
    if dtype == "bf16":
        return ((a & 0x7F80) == 0x7F80) & ((a & 0x7F) != 0)
    return np.isnan(a)


# ---------------------------------------------------------------------------------------------------------
# the shared accumulation (docs/operators/finalize_routing.md "The accumulate step")
# ---------------------------------------------------------------------------------------------------------

def _accumulate(N, K, H, arith, init, rows, r_of, kept_of, bias=None, e_of=None, plus_zero=False, scale_of=None):
    """init: ("sum", a, b) | ("plus_zero", a) | ("first",); rows [M, H] float64; r_of(j) -> int64[N];
    kept_of(j) -> bool[N]; e_of(j) -> int64[N]; scale_of(j) -> float64[N] or None."""
    with np.errstate(over="ignore", invalid="ignore"):
        if init[0] == "sum":
            acc = rnd(init[1] + init[2], arith)
        elif init[0] == "plus_zero":
            acc = rnd(init[1] + 0.0, arith)
        else:
            acc = np.zeros((N, H), np.float64)
        for j in range(K):
            kept = kept_of(j)
            if not kept.any():
                continue
            r = np.where(kept, r_of(j), 0)
            t = rows[r] if rows.shape[0] else np.zeros((N, H))
            if bias is not None:
                e = np.where(kept, e_of(j), 0)
                t = rnd(t + bias[e], arith)
            elif plus_zero:
                t = rnd(t + 0.0, arith)
            if scale_of is not None:
                t = rnd(t * scale_of(j)[:, None], arith)
            new = t if (init[0] == "first" and j == 0) else rnd(acc + t, arith)
            acc = np.where(kept[:, None], new, acc)
        return acc


# ---------------------------------------------------------------------------------------------------------
# MoeTokenUnpermute
# ---------------------------------------------------------------------------------------------------------

def token_unpermute(tokens, tdtype, sorted_indices, probs=None, pdtype=None):
    """tokens [M, H] (carrier of tdtype), sorted_indices int32 [T*k], probs [T, k] (carrier of pdtype) or
    None (k = 1). Returns out [T, H] in tdtype's carrier. Raises Refused for a kept negative index."""
    tokens = np.asarray(tokens)
    M, H = tokens.shape
    idx = np.asarray(sorted_indices).astype(np.int64).reshape(-1)
    if probs is None:
        T, k = idx.size, 1
        p = None
    else:
        T, k = np.asarray(probs).shape
        p = widen(probs, pdtype)
    assert idx.size == T * k
    d = idx.reshape(T, k) if T * k else np.zeros((T, k), np.int64)
    kept = d < M
    if p is not None:
        kept &= p != 0.0                        # +0 and -0 both skip; NaN is kept
    bad = kept & (d < 0)
    if bad.any():
        t, j = [int(v) for v in np.argwhere(bad)[0]]
        raise Refused("sortedIndices[%d]" % (t * k + j), "kept slot with a negative index")
    acc = _accumulate(T, k, H, "f32", ("first",), widen(tokens, tdtype), lambda j: d[:, j], lambda j: kept[:, j],
                      scale_of=None if p is None else (lambda j: p[:, j]))
    return store(acc, tdtype)


# ---------------------------------------------------------------------------------------------------------
# MoeFinalizeRouting and V2
# ---------------------------------------------------------------------------------------------------------

def _arith(dtype):
    return "f16" if dtype == "f16" else "f32"


def _check_finalize(N, K, r_at, kept, M, e_at, E, row_name, expert_name, row_pos):
    """First slot in (i, k) order whose row index or (with a bias) expert id is out of range."""
    for i in range(N):
        for k in range(K):
            if not kept[i, k]:
                continue
            r = int(r_at[i, k])
            if r < 0 or r >= M:
                raise Refused("%s[%d]" % (row_name, row_pos(i, k)), "row index %d outside [0, %d)" % (r, M))
            if e_at is not None:
                e = int(e_at[i, k])
                if e < 0 or e >= E:
                    raise Refused("%s[%d][%d]" % (expert_name, i, k), "expert id %d outside [0, %d)" % (e, E))


def finalize_routing(expanded_x, x1, x2, bias, scales, expanded_row_idx, expanded_expert_idx, dtype):
    """aclnnMoeFinalizeRouting: all float tensors in dtype's carrier; returns out [N, H]."""
    ex = np.asarray(expanded_x)
    M, H = ex.shape
    N, K = np.asarray(scales).shape
    ri = np.asarray(expanded_row_idx).astype(np.int64).reshape(-1)
    ei = np.asarray(expanded_expert_idx).astype(np.int64)
    E = np.asarray(bias).shape[0]
    r_at = np.array([[ri[i + k * N] for k in range(K)] for i in range(N)], np.int64).reshape(N, K)
    kept = np.ones((N, K), bool)
    _check_finalize(N, K, r_at, kept, M, ei, E, "expandedRowIdx", "expandedExpertIdx", lambda i, k: i + k * N)
    arith = _arith(dtype)
    init = ("sum", widen(x1, dtype), widen(x2, dtype)) if x2 is not None else ("plus_zero", widen(x1, dtype))
    sc = widen(scales, dtype)
    acc = _accumulate(N, K, H, arith, init, widen(ex, dtype), lambda j: r_at[:, j], lambda j: kept[:, j],
                      bias=widen(bias, dtype), e_of=lambda j: ei[:, j], scale_of=lambda j: sc[:, j])
    return store(acc, dtype, bf16_ties_away=True)


def finalize_routing_v2(expanded_x, expanded_row_idx, x1, x2, bias, scales, expert_idx, drop_pad_mode, dtype,
                        scales_dtype=None):
    """aclnnMoeFinalizeRoutingV2. expanded_x [M, H] (modes 0/2) or [E, C, H] (modes 1/3); optional tensors
    None. scales_dtype: dtype of scales (default dtype; "f32" allowed with "bf16"). Returns out [N, H]."""
    ex = np.asarray(expanded_x)
    drop = drop_pad_mode in (1, 3)
    if drop:
        E_, C, H = ex.shape
        rows = widen(ex.reshape(E_ * C, H), dtype)
    else:
        H = ex.shape[1]
        rows = widen(ex, dtype)
    M = rows.shape[0]
    ri = np.asarray(expanded_row_idx).astype(np.int64).reshape(-1)
    K = np.asarray(scales).shape[1] if scales is not None else 1
    N = ri.size // K
    if drop_pad_mode in (2, 3):
        pos = lambda i, k: i * K + k        # noqa: E731
    else:
        pos = lambda i, k: i + k * N        # noqa: E731
    r_at = np.array([[ri[pos(i, k)] for k in range(K)] for i in range(N)], np.int64).reshape(N, K)
    kept = (r_at != -1) if drop else np.ones((N, K), bool)
    ei = np.asarray(expert_idx).astype(np.int64) if (bias is not None) else None
    E = np.asarray(bias).shape[0] if bias is not None else 0
    _check_finalize(N, K, r_at, kept, M, ei, E, "expandedRowIdx", "expertIdxOptional", pos)
    arith = _arith(dtype)
    if x1 is not None and x2 is not None:
        init = ("sum", widen(x1, dtype), widen(x2, dtype))
    elif x1 is not None or x2 is not None:
        init = ("plus_zero", widen(x1 if x1 is not None else x2, dtype))
    else:
        init = ("first",)
    sc = widen(scales, scales_dtype or dtype) if scales is not None else None
    acc = _accumulate(N, K, H, arith, init, rows, lambda j: r_at[:, j], lambda j: kept[:, j],
                      bias=None if bias is None else widen(bias, dtype), e_of=lambda j: ei[:, j],
                      plus_zero=bias is None, scale_of=None if sc is None else (lambda j: sc[:, j]))
    return store(acc, dtype, bf16_ties_away=False)
