"""numpy golden models of the element-wise expert-MLP operators (docs/operators/dynamic_quant.md, swiglu.md,
dequant_swiglu_quant.md), written from the layer spec (sections 5, 6, 10) and the docs, independently of the C
code. Every step is one numpy float32 operation (IEEE, round to nearest even), in the documented order.

SiLU: silu_ref is the test reference of layer decision 11 -- x / (1 + e^-x) evaluated in float64 and rounded
once to float32. The library's SiLU must lie within 1 ulp of it; the models that contain a SiLU take the SiLU
values as a function argument, so a test can feed them either the reference or the library's own values (to
check everything after the SiLU bit for bit).
"""

import numpy as np

from combine_golden import f32_to_bf16, widen

F32 = np.float32


def to_f32(a, dtype):
    """Carrier array (float16 / uint16 bf16 bits / float32 / int32) -> float32 (int32: RNE)."""
    if dtype == "i32":
        return np.asarray(a, np.int32).astype(np.float32)
    return widen(a, dtype).astype(np.float32)


def from_f32(v, dtype):
    """float32 -> carrier of dtype, RNE (bf16 ties to even, NaN quiet)."""
    v = np.asarray(v, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "f32":
            return v.copy()
        if dtype == "f16":
            return v.astype(np.float16)
    return f32_to_bf16(v, ties_away=False)


def i8_rne(v):
    """float32 -> int8: NaN -> 0, ties to even, saturated to [-128, 127]."""
    v = np.asarray(v, np.float32)
    with np.errstate(invalid="ignore"):
        r = np.rint(np.where(np.isnan(v), F32(0), v))
    return np.clip(r, -128, 127).astype(np.int8)


def silu_ref(a):
    """x / (1 + e^-x) in float64, rounded once to float32 (the reference of layer decision 11)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        d = np.asarray(a, np.float32).astype(np.float64)
        r = d / (1.0 + np.exp(-d))
    r = np.where(d < -700.0, -0.0, r)  # e^-x overflows: the limit is -0
    return r.astype(np.float32)


def within_one_ulp(got, ref):
    """Elementwise: got equals ref, or is its float32 neighbour (NaN matches NaN)."""
    got = np.asarray(got, np.float32)
    ref = np.asarray(ref, np.float32)
    up = np.nextafter(ref, F32(np.inf))
    down = np.nextafter(ref, F32(-np.inf))
    same = (got == ref) | (got == up) | (got == down) | (np.isnan(got) & np.isnan(ref))
    return same


# ---- DynamicQuant (spec 5.3) -----------------------------------------------------------------------------

UB, UB_RESERVED = 196608, 4416


def device_template(rows, h, has_smooth, has_group):
    """'A' or 'B': the Atlas A2/A3 tiling's scale formula (spec 5.3, UB = 192 KiB)."""
    if has_group:
        return "A"
    if h in (4096, 5120, 10240) and 4 <= rows <= 384:
        return "B"
    hmax = min(16320, (UB - UB_RESERVED) // (15 if has_smooth else 11) // 64 * 64)
    return "B" if 128 <= h <= hmax and h % 8 == 0 else "A"


def group_of_ends(ends, r):
    """smallest g with r < ends[g]"""
    return int(np.searchsorted(np.asarray(ends, np.int64), r, side="right"))


def dynamic_quant(x, dtype, smooth=None, group_index=None, template=None):
    """x [rows, H] carrier; smooth [H] or [G, H] carrier of dtype; group_index ascending end offsets.
    Returns (y int8 [rows, H], scale float32 [rows])."""
    x = np.asarray(x)
    rows, h = x.shape
    tmpl = template or device_template(rows, h, smooth is not None, group_index is not None)
    v = to_f32(x, dtype)
    if smooth is not None:
        smooth = np.asarray(smooth)
        s = to_f32(smooth if smooth.ndim == 2 else smooth[None, :], dtype)
        if group_index is not None:
            g = np.array([group_of_ends(group_index, r) for r in range(rows)], np.int64)
            s = s[g] if rows else s[:0]
        v = v * s  # float32 * float32: one rounding
    with np.errstate(invalid="ignore"):
        a = np.where(np.isnan(v), F32(0), np.abs(v)).max(axis=1, initial=F32(0)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f = (F32(127) / a).astype(np.float32)
        y = i8_rne(v * f[:, None])
        if tmpl == "A":
            scale = (F32(1) / f).astype(np.float32)
        else:
            scale = (a * (F32(1) / F32(127))).astype(np.float32)
    return y, scale


# ---- SwiGlu (spec 6.2) -----------------------------------------------------------------------------------

def swiglu(x, dtype, dim, silu=silu_ref):
    """out = RNE(f32(silu(A) * B) -> dtype); A, B the halves of x along dim."""
    x = np.asarray(x)
    n = x.shape[dim] // 2
    a = to_f32(np.take(x, np.arange(n), axis=dim), dtype)
    b = to_f32(np.take(x, np.arange(n, 2 * n), axis=dim), dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        r = (silu(a) * b).astype(np.float32)
    return from_f32(r, dtype)


def swiglu_candidates(x, dtype, dim):
    """The three results a SiLU within 1 ulp of the reference allows: (down, ref, up) carriers."""
    out = []
    for step in (-np.inf, None, np.inf):
        def s(a, step=step):
            r = silu_ref(a)
            return r if step is None else np.nextafter(r, F32(step))
        out.append(swiglu(x, dtype, dim, s))
    return out


# ---- DequantSwigluQuant (spec 10) --------------------------------------------------------------------------

def _row_param(p, g, cols):
    p = np.asarray(p)
    p = p if p.ndim == 2 else p.reshape(1, cols)
    return p[g if p.shape[0] > 1 else 0]


def dequant_swiglu_quant(x, xdtype, weight_scale=None, activation_scale=None, bias=None, bdtype="f32",
                         quant_scale=None, quant_offset=None, group_counts=None, activate_left=True, dynamic=True,
                         silu=silu_ref):
    """x [rows, 2n] carrier. Per-group parameters have 1 or G leading rows. Returns (y int8 [rows, n],
    scale float32 [rows], rows_written); rows past the last group are left as -1 / NaN here."""
    x = np.asarray(x)
    rows, cols = x.shape
    n = cols // 2
    y = np.full((rows, n), -1, np.int8)
    scale = np.full(rows, np.nan, np.float32)
    if group_counts is None:
        ends, written = None, rows
    else:
        ends = np.cumsum(np.asarray(group_counts, np.int64))
        written = int(ends[-1]) if len(ends) else 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for r in range(written):
            g = 0 if ends is None else group_of_ends(ends, r)
            v = to_f32(x[r], xdtype)
            if weight_scale is not None:
                v = (v * _row_param(weight_scale, g, cols).astype(np.float32)).astype(np.float32)
            if activation_scale is not None:
                v = (v * F32(np.asarray(activation_scale, np.float32).reshape(-1)[r])).astype(np.float32)
            if bias is not None:
                v = (v + to_f32(_row_param(bias, g, cols), bdtype)).astype(np.float32)
            act, oth = (v[:n], v[n:]) if activate_left else (v[n:], v[:n])
            s = (silu(act) * oth).astype(np.float32)
            if dynamic:
                if quant_scale is not None:
                    s = (s * _row_param(quant_scale, g, n).astype(np.float32)).astype(np.float32)
                a = np.where(np.isnan(s), F32(0), np.abs(s)).max(initial=F32(0)).astype(np.float32)
                sc = F32(a / F32(127))
                y[r] = i8_rne((s / sc).astype(np.float32))
                scale[r] = sc
            else:
                qs = np.asarray(quant_scale, np.float32).reshape(-1)
                t = (s * qs[g if qs.size > 1 else 0]).astype(np.float32)
                if quant_offset is not None:
                    qo = np.asarray(quant_offset, np.float32).reshape(-1)
                    t = (t + qo[g if qo.size > 1 else 0]).astype(np.float32)
                y[r] = i8_rne(t)
    return y, scale, written
