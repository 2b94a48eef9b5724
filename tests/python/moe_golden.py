"""Independent numpy reference model of aclnnMoeInitRouting / aclnnMoeInitRoutingQuant.

Written from the specification (shared/spec/cann-moe-routing.md, "Project decisions", sections 0.3, 1.4,
2.2), not from the C sources, so that it can serve as a golden model for the library.

Conventions
-----------
* x is a logical [N, H] array. float16 / float32 arrays are numpy float16 / float32; bfloat16 is carried
  as np.uint16 raw bits everywhere (pass dtype="bf16").
* row_idx and expert_idx are logical [N, K] int32 arrays (any layout, the model reads them logically).
* Outputs: expanded_x [min(N, active_num) * K, H] (int8 for the quant op, x's dtype / raw bits for the copy
  op), expanded_row_idx [N*K] int32, expanded_expert_idx [N*K] int32.

Numerics of the quant chain (spec 1.4 + decision 2)
----------------------------------------------------
  s = f16(f32(scale)), o = f16(f32(offset))         double -> float (RNE) -> half (RNE): two roundings
  a = f16(x)                                        f16 as is; f32 -> f16 RNE; bf16 -> f32 exact -> f16 RNE
  b = f16(a * s)                                    exact product in float64, one rounding to half
  c = f16(b + o)                                    exact sum in float64, one rounding to half
  q = saturate_int8(rint(c))                        ties to even; NaN -> 0; +-inf -> 127 / -128
Every fp16 operation is "exact real result, then one rounding": the product of two fp16 values has at most
22 significant bits and the sum of two fp16 values fits in 53 bits (exponent span of fp16 is < 40 bits),
so both are exact in float64, and numpy's float64 -> float16 cast is a single correctly rounded conversion
(checked against Python's struct 'e' packing in test_model.py).
"""

import numpy as np

DTYPES = ("f16", "bf16", "f32")

# numpy dtype used to carry each ACL element type (bf16 travels as raw uint16 bits)
NP_DTYPE = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32}


# ---------------------------------------------------------------------------------------------------------
# scalar / element conversions
# ---------------------------------------------------------------------------------------------------------

def bf16_bits_to_f32(bits):
    """bf16 raw bits (uint16 array) -> float32, exact (bits << 16)."""
    bits = np.asarray(bits, dtype=np.uint16)
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def f32_to_bf16_bits_rne(v):
    """float32 -> bf16 raw bits, round to nearest even (NaN kept quiet). Used to make test inputs only."""
    u = np.asarray(v, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = np.isnan(np.asarray(v, dtype=np.float32))
    r = ((u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)).astype(np.uint16)
    qnan = ((u >> np.uint64(16)) | np.uint64(0x40)).astype(np.uint16)
    return np.where(nan, qnan, r)


def f16_of_double(v):
    """Round float64 value(s) to IEEE binary16 once (RNE, overflow -> inf)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(v, dtype=np.float64).astype(np.float16)


def scale_to_f16(value):
    """The kernel's conversion of a double attribute: double -> float (RNE) -> half (RNE)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.float16(np.float32(np.float64(value)))


def to_f16(x, dtype):
    """Step a of QS: the input element converted to fp16."""
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "f16":
            return np.asarray(x, dtype=np.float16)
        if dtype == "f32":
            return np.asarray(x, dtype=np.float32).astype(np.float16)
        if dtype == "bf16":
            return bf16_bits_to_f32(x).astype(np.float16)
    raise ValueError("unknown dtype %r" % (dtype,))


def f16_to_i8_rne(c):
    """fp16 -> int8: round half to even, saturate to [-128, 127], NaN -> 0."""
    c = np.asarray(c, dtype=np.float16).astype(np.float64)
    r = np.rint(c)
    r = np.where(np.isnan(r), 0.0, r)
    r = np.clip(r, -128.0, 127.0)
    return r.astype(np.int8)


def quantize(x, dtype, scale, offset):
    """QS of spec 1.4 applied element-wise; returns int8 array of x's shape."""
    s = np.float64(scale_to_f16(scale))
    o = np.float64(scale_to_f16(offset))
    a = to_f16(x, dtype).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        b = f16_of_double(a * s).astype(np.float64)
        c = f16_of_double(b + o)
    return f16_to_i8_rne(c)


# ---------------------------------------------------------------------------------------------------------
# routing
# ---------------------------------------------------------------------------------------------------------

def _check_indices(row_idx, expert_idx):
    row_idx = np.asarray(row_idx)
    expert_idx = np.asarray(expert_idx)
    if row_idx.ndim != 2 or expert_idx.ndim != 2 or row_idx.shape != expert_idx.shape:
        raise ValueError("row_idx and expert_idx must both be [N, K]")
    if row_idx.dtype != np.int32 or expert_idx.dtype != np.int32:
        raise ValueError("row_idx and expert_idx must be int32")
    L = row_idx.size
    flat = row_idx.reshape(-1).astype(np.int64)
    if L and not np.array_equal(np.sort(flat), np.arange(L, dtype=np.int64)):
        raise ValueError("row_idx is not a permutation of 0..N*K-1 (undefined; the library refuses it)")
    return row_idx, expert_idx


def route(row_idx, expert_idx, active_num):
    """Steps (a) and (b) of spec 1.4 plus the gather sources of step (c).

    Returns (expanded_row_idx int32[L], expanded_expert_idx int32[L], src int64[A]) where src[i] is the
    x row feeding expanded row i."""
    row_idx, expert_idx = _check_indices(row_idx, expert_idx)
    N, K = expert_idx.shape
    L = N * K
    if active_num < 0:
        raise ValueError("active_num must be >= 0")
    e_flat = expert_idx.reshape(-1)
    perm = np.argsort(e_flat, kind="stable")          # exact int32 keys, ties keep smaller flat position
    expanded_expert_idx = e_flat[perm].astype(np.int32)
    sorted_row = row_idx.reshape(-1)[perm].astype(np.int64)
    expanded_row_idx = np.empty(L, dtype=np.int32)
    expanded_row_idx[sorted_row] = np.arange(L, dtype=np.int32)
    A = min(N, int(active_num)) * K
    src = np.mod(sorted_row[:A], N) if A else np.zeros(0, dtype=np.int64)
    return expanded_row_idx, expanded_expert_idx, src


def init_routing(x, row_idx, expert_idx, active_num):
    """aclnnMoeInitRouting: expanded_x is a bit copy of the gathered rows, in x's dtype."""
    x = np.asarray(x)
    expanded_row_idx, expanded_expert_idx, src = route(row_idx, expert_idx, active_num)
    if x.ndim != 2 or x.shape[0] != np.asarray(expert_idx).shape[0]:
        raise ValueError("x must be [N, H]")
    expanded_x = x[src] if src.size else np.zeros((0, x.shape[1]), dtype=x.dtype)
    return np.ascontiguousarray(expanded_x), expanded_row_idx, expanded_expert_idx


def init_routing_quant(x, row_idx, expert_idx, active_num, scale, offset, dtype):
    """aclnnMoeInitRoutingQuant: expanded_x int8 = QS(gathered rows)."""
    x = np.asarray(x)
    expanded_row_idx, expanded_expert_idx, src = route(row_idx, expert_idx, active_num)
    if x.ndim != 2 or x.shape[0] != np.asarray(expert_idx).shape[0]:
        raise ValueError("x must be [N, H]")
    H = x.shape[1]
    if src.size == 0:
        return np.zeros((0, H), dtype=np.int8), expanded_row_idx, expanded_expert_idx
    # quantize each distinct source row once, then gather (same result, cheaper)
    q = quantize(x, dtype, scale, offset)
    return np.ascontiguousarray(q[src]), expanded_row_idx, expanded_expert_idx


def canonical_row_idx(N, K):
    """rowIdx[r][j] = j*N + r (the layout produced by MoeGatingTopKSoftmax)."""
    return (np.arange(K, dtype=np.int64)[None, :] * N + np.arange(N, dtype=np.int64)[:, None]).astype(np.int32)
