"""Independent numpy reference model of the gating operators:

    aclnnMoeGatingTopK              (layer spec 1.3; layer decision 11)
    aclnnMoeGatingTopKSoftmax       (routing spec 8.2)
    aclnnMoeGatingTopKSoftmaxV2     (routing spec 8.2, "V2")

Written from the specification and the decisions recorded in docs/operators/gating.md, not from the C
sources. The structure (softmax as max / exp / sum / normalise, top-k by a sort, the k-major row index of V1)
follows the numpy golden functions of Ascend/op-plugin's torch_npu tests (test_npu_moe_gating_top_k_softmax,
test_npu_moe_gating_top_k; BSD-3-Clause, Copyright Huawei Technologies Co., Ltd), rewritten to follow the fp32
steps of the spec one rounding at a time.

Conventions
-----------
* float16 / float32 arrays are numpy float16 / float32; bfloat16 is carried as np.uint16 raw bits ("bf16").
* Every arithmetic step is one IEEE binary32 operation in numpy float32, in the order the spec states.
* exp and sigmoid: evaluated in float64 and rounded once to float32 -- the reference of layer decision 11 --
  except that a float64 value within a few of its ulps of a float32 rounding midpoint (where numpy's float64
  exp, not always correctly rounded, could flip the rounding) is evaluated again with 60 decimal digits. So
  the model holds the correctly rounded fp32 value; the library's exp is within 1 ulp of it and, the tests
  expect, equal to it.
* Sums run sequentially in ascending index (or slot) order: np.add.accumulate, never np.sum (pairwise).
* Selection order: descending value, ties to the lower index, NaN below every number (also -inf), -0 equal to
  +0 -- np.lexsort by (isnan, -value, index).
"""

from decimal import Decimal, localcontext

import numpy as np

from combine_golden import f32_to_bf16, widen

DTYPES = ("f16", "bf16", "f32")
NP_DTYPE = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32}

_F32 = np.float32


def widen32(a, dtype):
    """Carrier array -> float32, exact."""
    with np.errstate(invalid="ignore"):
        return widen(a, dtype).astype(_F32)


# A float32 result whose exact value lies within HARD_REL (relative) of a float32 rounding midpoint: the
# library's float64 evaluation (relative error < 2^-48 for exp, sigmoid and SiLU, kernels/math/mr_math.h) may
# round it either way, so only the 1-ulp bound of decision 11 holds there. Small f16/bf16 logits hit this
# systematically: sigmoid(x) = 0.5 + x/4 - x^3/48, and 0.5 + x/4 is a float32 midpoint for many such x.
HARD_REL = 2.0 ** -46


def _round_correctly(x, approx, exact, hard):
    """approx: float64 evaluations of f(x); returns them correctly rounded to float32. Where a float64 value
    lies so close to a float32 rounding midpoint that its own error could decide the rounding (numpy's float64
    exp is not always correctly rounded), f is evaluated again with 60 decimal digits (exact(Decimal) ->
    Decimal) and the nearer float32 taken. hard (a bool array of x's shape, or None) gets the hard points."""
    with np.errstate(over="ignore", invalid="ignore"):
        r = approx.astype(_F32)
        fin = np.isfinite(approx) & np.isfinite(r) & (approx != 0)
        toward = np.where(approx > r, _F32(np.inf), _F32(-np.inf)).astype(_F32)
        mid = (r.astype(np.float64) + np.nextafter(r, toward).astype(np.float64)) / 2
        near = fin & (np.abs(approx - mid) <= 4 * HARD_REL * np.abs(approx))
    for i in zip(*np.nonzero(near)):
        with localcontext() as ctx:
            ctx.prec = 60
            t = exact(Decimal(float(x[i])))
            cands = [np.nextafter(r[i], _F32(-np.inf)), r[i], np.nextafter(r[i], _F32(np.inf))]
            dist = sorted((abs(Decimal(float(c)) - t), j) for j, c in enumerate(cands))
            r[i] = cands[dist[0][1]]
            if hard is not None and (dist[1][0] - dist[0][0]) <= 2 * Decimal(HARD_REL) * abs(t):
                hard[i] = True
    return r


def exp32(x, hard=None):
    """e^x of float32 values, correctly rounded to float32 (float64 evaluation, near-ties resolved)."""
    x = np.asarray(x, _F32)
    with np.errstate(over="ignore", invalid="ignore"):
        approx = np.exp(x.astype(np.float64))
    return _round_correctly(x, approx, lambda d: d.exp(), hard)


def sigmoid32(x, hard=None):
    """1 / (1 + e^-x) of float32 values, correctly rounded to float32 (as exp32)."""
    x = np.asarray(x, _F32)
    with np.errstate(over="ignore", invalid="ignore"):
        approx = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    return _round_correctly(x, approx, lambda d: 1 / (1 + (-d).exp()), hard)


def silu32(x, hard=None):
    """x / (1 + e^-x) of float32 values, correctly rounded to float32; -inf gives -0 (the limit)."""
    x = np.asarray(x, _F32)
    with np.errstate(over="ignore", invalid="ignore"):
        d = x.astype(np.float64)
        approx = d / (1.0 + np.exp(-d))
    r = _round_correctly(x, approx, lambda d: d / (1 + (-d).exp()), hard)
    return np.where(d == -np.inf, _F32(-0.0), r).astype(_F32)


def seq_sum(a):
    """Sum of the last axis in ascending index order, one float32 rounding per addition (starts at +0)."""
    a = np.asarray(a, _F32)
    if a.shape[-1] == 0:
        return np.zeros(a.shape[:-1], _F32)
    with np.errstate(over="ignore", invalid="ignore"):
        acc = np.add.accumulate(a, axis=-1, dtype=_F32)[..., -1]
        return (acc + _F32(0.0)).astype(_F32)  # 0 + x: the running sum starts at +0 (turns -0 into +0)


def nan_max(a):
    """Max of the last axis ignoring NaN, starting at -inf (a row of NaN gives -inf)."""
    a = np.asarray(a, _F32)
    return np.fmax.reduce(a, axis=-1, initial=-np.inf).astype(_F32)


def exp_shift_sum(v, hard=None):
    """Softmax numerator and denominator of each row of v (float32 [..., n]): d = exp(f32(v - m)) with m the
    max over the non-NaN values, S = the sequential sum of d. hard: as exp32."""
    m = nan_max(v)
    with np.errstate(over="ignore", invalid="ignore"):
        d = exp32((v - m[..., None]).astype(_F32), hard)
    return d, seq_sum(d)


def order(values, allowed=None):
    """Indices of the last axis of a float32 array in selection order (descending, ties to the lower index, NaN
    last, -0 = +0), per row for a 2-D array; for a 1-D array the positions where allowed is False are left
    out."""
    v = np.asarray(values, _F32)
    idx = np.broadcast_to(np.arange(v.shape[-1]), v.shape)
    if allowed is not None:
        v, idx = v[allowed], idx[allowed]
    nan = np.isnan(v)
    key = np.where(nan, _F32(0), -v) + _F32(0)  # -0 -> +0
    o = np.lexsort((idx, key, nan), axis=-1)
    return np.take_along_axis(idx, o, axis=-1) if v.ndim > 1 else idx[o]


def store_y(w, dtype, bf16_ties_away):
    """float32 weights -> the carrier of dtype: f16 RNE, bf16 RNE or ties away from zero, f32 as is."""
    w = np.asarray(w, _F32)
    if dtype == "f32":
        return w.copy()
    if dtype == "f16":
        with np.errstate(over="ignore"):
            return w.astype(np.float16)
    return f32_to_bf16(w, bf16_ties_away)


def grouped(E, k_group, group_count):
    return group_count != 1 and group_count != E and k_group != group_count


def gating_top_k(x, dtype, k, bias=None, k_group=1, group_count=1, group_select_mode=0, renorm=0, norm_type=0,
                 routed_scaling_factor=1.0, eps=1e-20, hard_rows=None):
    """MoeGatingTopK on x [N, E] (carrier of dtype), bias [E] or None. Returns (y [N, k] carrier, expert_idx
    int32 [N, k], out float32 [N, E] = the normalised scores s). renorm 1 (vllm-ascend's copy; the native API)
    divides softmax weights by their sum + eps as sigmoid weights always are. hard_rows: None, or a list that
    gets the bool [N] mask of the rows holding a hard point (HARD_REL)."""
    v = widen32(x, dtype)
    N, E = v.shape
    hard = np.zeros(v.shape, bool)
    rsf, ep = _F32(routed_scaling_factor), _F32(eps)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if norm_type == 1:
            s = sigmoid32(v, hard)
        else:
            d, S = exp_shift_sum(v, hard)
            inv = (_F32(1.0) / S).astype(_F32)
            s = (d * inv[:, None]).astype(_F32)
        b = s if bias is None else (s + widen32(bias, dtype)[None, :]).astype(_F32)
    idx = np.zeros((N, k), np.int32)
    w = np.zeros((N, k), _F32)
    G = group_count
    P = E // G
    for r in range(N):
        allowed = None
        if grouped(E, k_group, G):
            bg = b[r].reshape(G, P)
            o = order(bg)  # each group's experts in selection order
            best = np.take_along_axis(bg, o[:, :2], axis=1)
            with np.errstate(over="ignore", invalid="ignore"):
                gs = best[:, 0] if group_select_mode == 0 else (best[:, 0] + best[:, 1]).astype(_F32)
            allowed = np.repeat(np.isin(np.arange(G), order(gs)[:k_group]), P)
        sel = order(b[r], allowed)[:k]
        idx[r] = sel
        wr = s[r, sel].astype(_F32)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if norm_type == 1 or renorm == 1:
                t = _F32(seq_sum(wr) + ep)
                wr = (wr / t).astype(_F32)
            wr = (wr * rsf).astype(_F32)
        w[r] = wr
    if hard_rows is not None:
        hard_rows.append(hard.any(axis=1))
    return store_y(w, dtype, False), idx, s


def gating_top_k_softmax(x, dtype, k, finished=None, version=1, renorm=0, hard_rows=None):
    """MoeGatingTopKSoftmax (version 1) / V2 on x [..., E] (2-D or 3-D carrier), finished bool [...] or None.
    Returns (y [..., k] carrier, expert_idx int32 [..., k], third): version 1 third = rowIdx int32 [..., k]
    (j * rows + r); version 2 third = the softmax p float32 [..., E] (None with renorm 1). hard_rows: as
    gating_top_k (the mask over the flattened rows)."""
    x = np.asarray(x)
    lead = x.shape[:-1]
    E = x.shape[-1]
    v = widen32(x.reshape(-1, E), dtype)
    N = v.shape[0]
    fin = np.zeros(N, bool) if finished is None else np.asarray(finished, bool).reshape(N)
    idx = np.zeros((N, k), np.int32)
    w = np.zeros((N, k), _F32)
    p = None
    hard = np.zeros(v.shape, bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if version == 2 and renorm == 1:
            for r in range(N):
                sel = order(v[r])[:k]
                idx[r] = sel
                hk = np.zeros(k, bool)
                d, S = exp_shift_sum(v[r, sel], hk)
                hard[r, 0] = hk.any()
                w[r] = (d / S).astype(_F32)
        else:
            d, S = exp_shift_sum(v, hard)
            p = (d / S[:, None]).astype(_F32)
            for r in range(N):
                sel = order(p[r])[:k]
                idx[r] = sel
                w[r] = p[r, sel]
    idx[fin] = E
    y = store_y(w, dtype, True).reshape(lead + (k,))
    idx = idx.reshape(lead + (k,))
    if version == 1:
        third = (np.arange(k)[None, :] * N + np.arange(N)[:, None]).astype(np.int32).reshape(lead + (k,))
    else:
        third = None if p is None else p.reshape(lead + (E,))
    if hard_rows is not None:
        hard_rows.append(hard.any(axis=1))
    return y, idx, third
