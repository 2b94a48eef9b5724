"""Independent numpy reference models of the MoE routing family:

    aclnnMoeInitRoutingV2, aclnnMoeInitRoutingQuantV2, aclnnMoeInitRoutingV3, aclnnMoeComputeExpertTokens

Written from the behavioural specification (shared/spec/cann-moe-routing.md sections 0.3, 3, 4, 5, 9) and
the binding project decisions (notes/decisions.md, which win where the two differ), not from the C sources.

Conventions (as in moe_golden.py)
---------------------------------
* x is a logical [N, H] array: numpy float16 / float32, int8 (V3 only), bfloat16 carried as np.uint16 bits
  (pass dtype="bf16").
* expert_idx is a logical [N, K] int32 array; flat position f = r*K + j.
* Every model returns a dict  name -> Out(value, written)  with one entry per operator output: `value` has
  the full output shape and dtype, `written` is a bool array of the same shape that says which elements the
  operator writes. Elements with written == False must keep whatever the caller's buffer held (a test
  checks they still hold its sentinel); their `value` is 0 and meaningless. An output the call does not
  write at all has written all False.
* Data-dependent refusals (an expert id outside [0, E) where E is used, a bad sortedExperts list) raise
  Refused(status, message, position).

Numerics
--------
* Sort: stable ascending sort of expertIdx_flat by its exact int32 value (decision 3).
* Static quant (QuantV2 quantMode 0): s = f16(scale[0]), o = f16(offset[0]) from the FLOAT32 tensors (a
  single fp32 -> fp16 rounding), then the fp16 chain QS of spec 1.4 (moe_golden.quantize).
* Dynamic quant (decisions "Dynamic recipe"): v = f32(x) (* smooth, fp32 multiply); m = max |v| with NaN
  ignored (m starts at 0); sc = f32(m / 127); q = round-half-away(f32(v / sc)) saturated to [-128, 127],
  NaN -> 0; the row's scale output is sc.
* Special DeepSeek-V3 decode recipe of V3 (decisions; spec 5.4): same v, m, sc, but y = f32(v / sc) is
  rounded to fp16 with round-to-odd and then to int8 with ties-to-even (saturating, NaN -> 0).
numpy float32 arithmetic is IEEE binary32 with round-to-nearest-even per operation (no contraction), which
is what the recipes ask for.
"""

import numpy as np

import moe_golden as g

ACLNN_ERR_PARAM_INVALID = 161002
ACLNN_ERR_INNER_TILING_ERROR = 561002

# numpy carrier of each element type name used by the tests
NP_CARRIER = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32, "i8": np.int8}

# the special V3 shape (decisions "MoeInitRoutingV3", last bullet)
DEEPSEEK_H = 7168
DEEPSEEK_K = 8
DEEPSEEK_E = 256


class Refused(Exception):
    """The operator refuses the call (data-dependent, at execute) with `status`."""

    def __init__(self, status, message, position=None):
        Exception.__init__(self, message)
        self.status = status
        self.position = position


class Out:
    """One operator output: expected values and the mask of elements the operator writes."""

    def __init__(self, value, written):
        self.value = np.asarray(value)
        self.written = np.asarray(written, dtype=bool)
        assert self.value.shape == self.written.shape

    @classmethod
    def full(cls, value):
        value = np.asarray(value)
        return cls(value, np.ones(value.shape, dtype=bool))

    @classmethod
    def unwritten(cls, shape, dtype):
        return cls(np.zeros(shape, dtype=dtype), np.zeros(shape, dtype=bool))

    def __repr__(self):
        return "Out(shape=%s, dtype=%s, written %d of %d)" % (self.value.shape, self.value.dtype,
                                                              int(self.written.sum()), self.written.size)


# ---------------------------------------------------------------------------------------------------------
# element conversions and quantization recipes
# ---------------------------------------------------------------------------------------------------------

def to_f32(x, dtype):
    """The input element widened to float32 (exact for f16 and bf16; int8 exact too)."""
    x = np.asarray(x)
    if dtype == "bf16":
        return g.bf16_bits_to_f32(x)
    if dtype in ("f16", "f32", "i8"):
        return x.astype(np.float32)
    raise ValueError("unknown dtype %r" % (dtype,))


def static_quant(x, dtype, scale_f32, offset_f32):
    """QuantV2 static mode: s = f16(float32 scale), o = f16(float32 offset), then QS (spec 1.4)."""
    # moe_golden.quantize converts a double via float32 to float16; a float32 value passes the first
    # rounding unchanged, so this is exactly the single fp32 -> fp16 rounding of decisions.md.
    return g.quantize(x, dtype, float(np.float32(scale_f32)), float(np.float32(offset_f32)))


def _row_max_abs(v):
    """m = max |v| over the last axis; NaN never wins (m starts at 0 and takes |v| only when |v| > m)."""
    a = np.abs(v)
    a = np.where(np.isnan(a), np.float32(0), a)
    if a.shape[-1] == 0:
        return np.zeros(a.shape[:-1], dtype=np.float32)
    return a.max(axis=-1).astype(np.float32)


def _i8_round_half_away(y):
    """float32 y -> int8 rounding half away from zero, saturating, NaN -> 0."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        r = np.sign(y) * np.floor(np.abs(y) + 0.5)
    r = np.where(np.isnan(r), 0.0, r)
    return np.clip(r, -128.0, 127.0).astype(np.int8)


def f32_to_f16_round_to_odd(y):
    """float32 -> float16 with round-to-odd (von Neumann rounding): an exact value is kept, any other
    value becomes the fp16 value next to it (toward zero) with the lowest significand bit forced to 1.
    Values beyond the fp16 range become +-65504 (its significand is odd); inf and NaN are kept."""
    y = np.asarray(y, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        h = y.astype(np.float16)                                     # RNE, one rounding
    y64 = y.astype(np.float64)
    h64 = h.astype(np.float64)
    exact = (h64 == y64) | np.isnan(y64)
    bits = h.view(np.uint16).copy()
    sign = bits & np.uint16(0x8000)
    mag = bits & np.uint16(0x7FFF)
    # truncation toward zero: step one ulp back when RNE rounded away from zero (incl. overflow to inf)
    with np.errstate(invalid="ignore"):
        away = np.abs(h64) > np.abs(y64)
    mag_t = np.where(away & ~exact, mag - np.uint16(1), mag).astype(np.uint16)
    odd = (mag_t | np.uint16(1)).astype(np.uint16)
    out = np.where(exact, bits, sign | odd).astype(np.uint16)
    return out.view(np.float16)


def dynamic_quant_rows(v):
    """The general dynamic recipe on float32 rows v [R, H] (already smoothed).
    Returns (q int8 [R, H], sc float32 [R])."""
    v = np.asarray(v, dtype=np.float32)
    m = _row_max_abs(v)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sc = (m / np.float32(127.0)).astype(np.float32)
        y = (v / sc[:, None]).astype(np.float32)
    return _i8_round_half_away(y), sc


def dynamic_quant_rows_round_to_odd(v):
    """The special DeepSeek-V3 decode recipe on float32 rows v [R, H]: y = f32(v / sc) -> fp16 round-to-odd
    -> int8 ties-to-even. Returns (q int8 [R, H], sc float32 [R])."""
    v = np.asarray(v, dtype=np.float32)
    m = _row_max_abs(v)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sc = (m / np.float32(127.0)).astype(np.float32)
        y = (v / sc[:, None]).astype(np.float32)
    return g.f16_to_i8_rne(f32_to_f16_round_to_odd(y)), sc


def smooth_rows(xf32, smooth, smooth_row_of):
    """v = f32(x) * smooth[smooth_row_of[i]] (fp32 multiply); smooth None -> v = f32(x)."""
    if smooth is None:
        return xf32
    smooth = np.asarray(smooth, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        return (xf32 * smooth[np.asarray(smooth_row_of, dtype=np.int64)]).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# routing core
# ---------------------------------------------------------------------------------------------------------

def stable_perm(expert_flat):
    """perm[i] = flat position of the i-th copy in stable ascending expert order (exact int32 keys)."""
    return np.argsort(np.asarray(expert_flat, dtype=np.int64), kind="stable")


def _check_ids_in_range(expert_flat, E, K, why):
    bad = np.nonzero((expert_flat < 0) | (expert_flat >= E))[0]
    if bad.size:
        f = int(bad[0])
        raise Refused(ACLNN_ERR_PARAM_INVALID,
                      "expert id %d at flat position %d (row %d, slot %d) is outside [0, %d) (%s)"
                      % (int(expert_flat[f]), f, f // K if K else 0, f % K if K else 0, E, why), f)


def v2_route(expert_idx, active_num, capacity, expert_num, drop_pad_mode, count_flag, before_capacity_flag,
             eh_smooth=False):
    """Routing part shared by V2 and QuantV2.

    Returns a dict with
      perm       stable order of the flat positions (all L)
      rows       int64 [R] flat position feeding each expanded row, -1 for a pad row
                 (R = A dropless, E*C drop)
      row_expert int64 [R] expert of each expanded row (the sorted expert id; pad rows: their slot's expert)
      row_idx    int32 [L] expandedRowIdxOut
      count      int32 [E] or None (flag != 0 and dropless)
      before     int32 [E] or None (drop and before_capacity_flag)
    Attributes are assumed valid (the tests check the refusals separately); ids are checked here when the
    decisions require the range."""
    expert_idx = np.asarray(expert_idx)
    if expert_idx.ndim != 2:
        raise ValueError("expert_idx must be [N, K]")
    N, K = expert_idx.shape
    L = N * K
    e_flat = expert_idx.reshape(-1).astype(np.int64)
    E = int(expert_num)
    drop = int(drop_pad_mode) == 1
    if drop:
        count_flag = 0                              # forced to 0 in drop mode
    else:
        before_capacity_flag = False                # ignored in dropless mode
    if drop or count_flag > 0 or eh_smooth:
        why = "drop mode" if drop else ("expert token counts" if count_flag > 0 else "[E, H] smooth scales")
        _check_ids_in_range(e_flat, E, K, why)
    perm = stable_perm(e_flat)
    sorted_e = e_flat[perm]
    res = {"perm": perm, "count": None, "before": None}
    if not drop:
        A = L if int(active_num) == 0 else min(L, int(active_num))
        row_idx = np.empty(L, dtype=np.int32)
        row_idx[perm] = np.arange(L, dtype=np.int32)
        res["rows"] = perm[:A].astype(np.int64)
        res["row_expert"] = sorted_e[:A]
        res["row_idx"] = row_idx
        if count_flag in (1, 2):
            hist = np.bincount(e_flat, minlength=E)[:E] if L else np.zeros(E, dtype=np.int64)
            res["count"] = (np.cumsum(hist) if count_flag == 1 else hist).astype(np.int32)
    else:
        C = int(capacity)
        row_idx = np.full(L, -1, dtype=np.int32)
        rows = np.full(E * C, -1, dtype=np.int64)
        # rank of each sorted copy inside its expert: the first C copies (smallest flat positions) keep a slot
        first = np.searchsorted(sorted_e, sorted_e, side="left")
        rank = np.arange(L, dtype=np.int64) - first
        keep = rank < C
        slots = sorted_e[keep] * C + rank[keep]
        row_idx[perm[keep]] = slots.astype(np.int32)
        rows[slots] = perm[keep]
        cnt = np.bincount(sorted_e, minlength=E)[:E] if L else np.zeros(E, dtype=np.int64)
        res["rows"] = rows
        res["row_expert"] = np.repeat(np.arange(E, dtype=np.int64), C)
        res["row_idx"] = row_idx
        if before_capacity_flag:
            res["before"] = cnt.astype(np.int32)
    return res


def _count_outs(route, expert_num):
    E = max(int(expert_num), 0)
    count = Out.full(route["count"]) if route["count"] is not None else Out.unwritten((E,), np.int32)
    before = Out.full(route["before"]) if route["before"] is not None else Out.unwritten((E,), np.int32)
    return count, before


def init_routing_v2(x, expert_idx, active_num, capacity, expert_num, drop_pad_mode, count_flag,
                    before_capacity_flag):
    """aclnnMoeInitRoutingV2 (spec 3.3 + decisions). x: [N, H] in its carrier dtype; expandedX is a bit
    copy (pad rows in drop mode are zero bytes, i.e. +0.0).

    Returns {"expanded_x", "expanded_row_idx", "expert_tokens_count_or_cumsum",
             "expert_tokens_before_capacity"} of Out; the two count outputs have shape [max(E, 0)] and are
    all-unwritten when the mode does not produce them."""
    x = np.asarray(x)
    N, K = np.asarray(expert_idx).shape
    if x.ndim != 2 or x.shape[0] != N:
        raise ValueError("x must be [N, H] with N = expert_idx rows")
    H = x.shape[1]
    r = v2_route(expert_idx, active_num, capacity, expert_num, drop_pad_mode, count_flag, before_capacity_flag)
    rows = r["rows"]
    ex = np.zeros((rows.size, H), dtype=x.dtype)
    real = rows >= 0
    if real.any() and H:
        ex[real] = x[rows[real] // K]
    if int(drop_pad_mode) == 1:
        ex = ex.reshape(int(expert_num), int(capacity), H)
    count, before = _count_outs(r, expert_num)
    return {"expanded_x": Out.full(ex), "expanded_row_idx": Out.full(r["row_idx"]),
            "expert_tokens_count_or_cumsum": count, "expert_tokens_before_capacity": before}


def init_routing_quant_v2(x, dtype, expert_idx, scale, offset, active_num, capacity, expert_num,
                          drop_pad_mode, count_flag, before_capacity_flag, quant_mode):
    """aclnnMoeInitRoutingQuantV2 (spec 4 + decisions).

    quant_mode 0 (static): scale, offset are the FLOAT32 [1] tensors' values (arrays or scalars).
    quant_mode 1 (dynamic): scale is None or the smooth scales [1, H] or [E, H] (float32); offset ignored.
    Returns the V2 dict with expanded_x int8 plus "dynamic_quant_scale" (float32 [R], all-unwritten for
    static mode)."""
    x = np.asarray(x)
    N, K = np.asarray(expert_idx).shape
    if x.ndim != 2 or x.shape[0] != N:
        raise ValueError("x must be [N, H] with N = expert_idx rows")
    H = x.shape[1]
    smooth = None if scale is None else np.asarray(scale, dtype=np.float32)
    eh = (int(quant_mode) == 1 and smooth is not None and smooth.ndim == 2 and smooth.shape[0] != 1)
    r = v2_route(expert_idx, active_num, capacity, expert_num, drop_pad_mode, count_flag, before_capacity_flag,
                 eh_smooth=eh)
    rows = r["rows"]
    R = rows.size
    real = rows >= 0
    src = rows[real] // K if K else rows[real]
    q = np.zeros((R, H), dtype=np.int8)
    dyn = Out.unwritten((R,), np.float32)
    if int(quant_mode) == 0:
        s = np.asarray(scale, dtype=np.float32).reshape(-1)[0]
        o = np.asarray(offset, dtype=np.float32).reshape(-1)[0]
        if real.any() and H:
            q[real] = static_quant(x, dtype, s, o)[src]
    else:
        sc_all = np.zeros(R, dtype=np.float32)
        if real.any():
            v = to_f32(x, dtype)[src]
            if smooth is not None:
                srow = np.zeros(src.size, dtype=np.int64) if smooth.shape[0] == 1 else r["row_expert"][real]
                v = smooth_rows(v, smooth, srow)
            qq, sc = dynamic_quant_rows(v)
            q[real] = qq
            sc_all[real] = sc
        dyn = Out.full(sc_all)
    if int(drop_pad_mode) == 1:
        q = q.reshape(int(expert_num), int(capacity), H)
    count, before = _count_outs(r, expert_num)
    return {"expanded_x": Out.full(q), "expanded_row_idx": Out.full(r["row_idx"]),
            "expert_tokens_count_or_cumsum": count, "expert_tokens_before_capacity": before,
            "dynamic_quant_scale": dyn}


# ---------------------------------------------------------------------------------------------------------
# V3
# ---------------------------------------------------------------------------------------------------------

def is_deepseek_special(x_shape, dtype, K, smooth_shape, start, end, tokens_num_type, quant_mode):
    """The exact shape that takes the round-to-odd recipe (decisions): x [1, 7168] BF16, K = 8, smooth scale
    [256, 7168], range [0, 256), expertTokensNumType 2, quantMode 1."""
    return (tuple(x_shape) == (1, DEEPSEEK_H) and dtype == "bf16" and K == DEEPSEEK_K and
            smooth_shape is not None and tuple(smooth_shape) == (DEEPSEEK_E, DEEPSEEK_H) and
            (start, end) == (0, DEEPSEEK_E) and tokens_num_type == 2 and quant_mode == 1)


def init_routing_v3(x, dtype, expert_idx, scale, expert_num, tokens_num_type, quant_mode, active_range,
                    row_idx_type):
    """aclnnMoeInitRoutingV3 (spec 5.3 + decisions). Attributes are assumed valid.

    x: [N, H] carrier of dtype (f16/bf16/f32/i8); scale: None, float32 [N] (quantMode -1) or smooth float32
    [end-start, H] (quantMode 1); active_range: None / [] -> [0, expert_num), else (start, end).
    Returns {"expanded_x", "expanded_row_idx", "expert_tokens_count_or_cumsum", "expanded_scale"} of Out
    plus "V" (the number of routed copies) and "special" (whether the round-to-odd recipe applies)."""
    x = np.asarray(x)
    expert_idx = np.asarray(expert_idx)
    N, K = expert_idx.shape
    if x.ndim != 2 or x.shape[0] != N:
        raise ValueError("x must be [N, H] with N = expert_idx rows")
    H = x.shape[1]
    L = N * K
    E = int(expert_num)
    if active_range is None or len(active_range) == 0:
        start, end = 0, E
    else:
        start, end = int(active_range[0]), int(active_range[1])
    e_flat = expert_idx.reshape(-1).astype(np.int64)
    inr = (e_flat >= start) & (e_flat < end)
    pos = np.nonzero(inr)[0]
    perm = pos[np.argsort(e_flat[pos], kind="stable")]          # in-range copies, stable ascending
    V = perm.size
    sorted_e = e_flat[perm]
    src = perm // K if K else perm

    # expandedRowIdxOut (all L written)
    if int(row_idx_type) == 0:
        row_idx = np.full(L, -1, dtype=np.int32)
        row_idx[perm] = np.arange(V, dtype=np.int32)
    else:
        row_idx = np.full(L, -1, dtype=np.int32)
        row_idx[:V] = perm.astype(np.int32)

    # expandedXOut and expandedScaleOut: rows < V written, the rest not
    x_dt = np.int8 if int(quant_mode) == 1 else x.dtype
    ex = np.zeros((L, H), dtype=x_dt)
    ex_w = np.zeros((L, H), dtype=bool)
    ex_w[:V] = True
    sc_out = np.zeros(L, dtype=np.float32)
    sc_w = np.zeros(L, dtype=bool)
    special = False
    if int(quant_mode) == -1:
        if V and H:
            ex[:V] = x[src]
        if scale is not None:
            sc_out[:V] = np.asarray(scale, dtype=np.float32).reshape(-1)[src]
            sc_w[:V] = True
    else:
        smooth = None if scale is None else np.asarray(scale, dtype=np.float32)
        special = is_deepseek_special(x.shape, dtype, K, None if smooth is None else smooth.shape, start, end,
                                      int(tokens_num_type), int(quant_mode))
        if V:
            v = to_f32(x, dtype)[src]
            if smooth is not None:
                v = smooth_rows(v, smooth, sorted_e - start)
            qq, sc = (dynamic_quant_rows_round_to_odd if special else dynamic_quant_rows)(v)
            ex[:V] = qq
            sc_out[:V] = sc
        sc_w[:V] = True

    # expertTokensCountOrCumsumOut (INT64)
    nrange = end - start
    counts = np.bincount(e_flat[inr] - start, minlength=nrange)[:nrange].astype(np.int64) if V else \
        np.zeros(nrange, dtype=np.int64)
    if int(tokens_num_type) == 1:
        cnt = Out.full(counts)
    else:
        val = np.zeros((E, 2), dtype=np.int64)
        w = np.zeros((E, 2), dtype=bool)
        nzj = np.nonzero(counts)[0]
        nz = nzj.size
        val[:nz, 0] = nzj + start
        val[:nz, 1] = counts[nzj]
        w[:max(nz, min(nrange + 1, E))] = True
        cnt = Out(val, w)
    return {"expanded_x": Out(ex, ex_w), "expanded_row_idx": Out.full(row_idx),
            "expert_tokens_count_or_cumsum": cnt, "expanded_scale": Out(sc_out, sc_w),
            "V": V, "special": special}


# ---------------------------------------------------------------------------------------------------------
# MoeComputeExpertTokens
# ---------------------------------------------------------------------------------------------------------

def compute_expert_tokens(sorted_experts, num_experts):
    """out[e] = #{i : sortedExperts[i] <= e} for e in [0, numExperts) (spec 9). Refused (161002) when a value
    is outside [0, numExperts) or a neighbour pair descends (decisions)."""
    s = np.asarray(sorted_experts, dtype=np.int64).reshape(-1)
    E = int(num_experts)
    bad = np.nonzero((s < 0) | (s >= E))[0]
    if bad.size:
        i = int(bad[0])
        raise Refused(ACLNN_ERR_PARAM_INVALID, "sortedExperts[%d] = %d is outside [0, %d)" % (i, int(s[i]), E), i)
    if s.size > 1:
        desc = np.nonzero(s[1:] < s[:-1])[0]
        if desc.size:
            i = int(desc[0]) + 1
            raise Refused(ACLNN_ERR_PARAM_INVALID,
                          "sortedExperts[%d] = %d is smaller than sortedExperts[%d] = %d" % (i, int(s[i]), i - 1,
                                                                                             int(s[i - 1])), i)
    out = np.searchsorted(s, np.arange(E, dtype=np.int64), side="right").astype(np.int32)
    return {"out": Out.full(out)}


# ---------------------------------------------------------------------------------------------------------
# self-check on the spec's worked examples (python3 routing_family_golden.py)
# ---------------------------------------------------------------------------------------------------------

def _self_check():
    x = np.array([[0.1] * 4, [0.2] * 4, [0.3] * 4], dtype=np.float32)
    e = np.array([[1, 2], [0, 1], [0, 2]], dtype=np.int32)
    # spec 3.3: dropless, activeNum 0
    for flag, want in ((2, [2, 2, 2]), (1, [2, 4, 6])):
        o = init_routing_v2(x, e, 0, 0, 3, 0, flag, False)
        assert o["expanded_row_idx"].value.tolist() == [2, 4, 0, 3, 1, 5]
        assert np.array_equal(o["expanded_x"].value, x[[1, 2, 0, 1, 0, 2]])
        assert o["expert_tokens_count_or_cumsum"].value.tolist() == want
        assert not o["expert_tokens_before_capacity"].written.any()
    # spec 4.2: static drop example
    o = init_routing_quant_v2(x, "f32", e, [0.3452], [1.8369], 0, 2, 3, 1, 0, True, 0)
    assert o["expanded_row_idx"].value.tolist() == [2, 4, 0, 3, 1, 5]
    assert o["expanded_x"].value.shape == (3, 2, 4) and (o["expanded_x"].value == 2).all()
    assert o["expert_tokens_before_capacity"].value.tolist() == [2, 2, 2]
    assert not o["expert_tokens_count_or_cumsum"].written.any()
    assert float(np.float16(np.float32(0.3452))) == 0.34521484375
    assert float(np.float16(np.float32(1.8369))) == 1.8369140625
    # round-to-odd
    t = np.array([2.5, 2.5000002, 2.4999998, 1e6, -1e6, np.inf, -np.inf, 0.0, 1e-10, -1e-10, 65504.0, 65519.0,
                  65520.0], dtype=np.float32)
    got = f32_to_f16_round_to_odd(t).astype(np.float64).tolist()
    assert got[0] == 2.5 and got[1] == 2.501953125 and got[2] == 2.498046875, got
    assert got[3] == 65504.0 and got[4] == -65504.0 and got[5] == np.inf and got[6] == -np.inf
    assert got[7] == 0.0 and got[8] == 2.0 ** -24 and got[9] == -(2.0 ** -24)
    assert got[10] == 65504.0 and got[11] == 65504.0 and got[12] == 65504.0
    # ties: general rounds away, special to even
    v = np.array([[127.0, 2.5, -2.5, 0.5, -0.5, 3.5, 126.5, -127.0]], dtype=np.float32)
    qa, sa = dynamic_quant_rows(v)
    qo, so = dynamic_quant_rows_round_to_odd(v)
    assert sa[0] == 1.0 and so[0] == 1.0
    assert qa.tolist() == [[127, 3, -3, 1, -1, 4, 127, -127]], qa
    assert qo.tolist() == [[127, 2, -2, 0, 0, 4, 126, -127]], qo
    # compute expert tokens
    assert compute_expert_tokens([0, 0, 2, 2, 2, 5], 7)["out"].value.tolist() == [2, 2, 5, 5, 5, 6, 6]
    print("routing_family_golden: worked examples OK")


if __name__ == "__main__":
    _self_check()
