"""numpy model of GroupedMatmul's MoE subset (layer spec 7.3, decisions 12 and 13), written independently of
the library: the groups from the list, then per group a plain matmul in the stated order.

float: acc = +0; for k ascending: acc = fl32(acc + x[k] * w[k]) with the exact product (an fp32 fused
       multiply-add). The model forms each step as float32(float64(acc) + float64(x) * float64(w)): exact
       whenever the product x*w is representable in fp32 (always for fp16 inputs, for bf16 inputs barring
       under/overflow, for fp32 inputs whose mantissas have at most 12 bits), because then the float64 sum is
       either exact or lies within 2^-29 of a float, far from any rounding boundary.
int8:  int64 sums (exact), + int32 bias (wrapping), then f32(a) * scale[e][n] * perTokenScale[m] in float32.
"""

import numpy as np


class GroupListError(ValueError):
    pass


def groups(group_list, list_type, m, e):
    """[(start, end, expert)], or GroupListError for a list the operator must refuse."""
    if group_list is None:
        return [(0, m, 0)]
    out, at = [], 0
    gl = np.asarray(group_list, np.int64)
    for g in range(gl.shape[0]):
        if list_type == 0:
            end = int(gl[g])
            if end < at:
                raise GroupListError("decreasing cumsum at %d" % g)
            cnt, ex = end - at, g
        elif list_type == 1:
            cnt, ex = int(gl[g]), g
            if cnt < 0:
                raise GroupListError("negative count at %d" % g)
        else:
            ex, cnt = int(gl[g, 0]), int(gl[g, 1])
            if ex < 0 or ex >= e or cnt < 0:
                raise GroupListError("bad pair at %d" % g)
        if cnt > m - at:
            raise GroupListError("more than M rows at %d" % g)
        out.append((at, at + cnt, ex))
        at += cnt
    return out


def bf16_to_f32(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(f):
    """float32 -> bfloat16 bits, ties to even (finite inputs and infinities)."""
    u = np.asarray(f, np.float32).view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype(np.uint16)


def widen(a, dt):
    """Carrier array of dtype name dt -> float32 values (exact)."""
    if dt == "bf16":
        return bf16_to_f32(a)
    return np.asarray(a).astype(np.float32)


def narrow(f, dt):
    """float32 -> carrier of dt, RNE."""
    if dt == "bf16":
        return f32_to_bf16(f)
    if dt == "f16":
        return f.astype(np.float16)
    return f.astype(np.float32)


def float_model(x, w, grp, bias, dt, out):
    """x [M, K], w [E, K, N] float32 values; bias float32 [E, N] or None; writes rows of `out` (carrier of dt)."""
    for start, end, e in grp:
        if end == start:
            continue
        xs = x[start:end].astype(np.float64)
        we = w[e].astype(np.float64)
        acc = np.zeros((end - start, w.shape[2]), np.float32)
        for k in range(x.shape[1]):
            acc = (acc.astype(np.float64) + xs[:, k:k + 1] * we[k:k + 1, :]).astype(np.float32)
        if bias is not None:
            acc = acc + bias[e][None, :]
        out[start:end] = narrow(acc, dt)


def int8_model(x, w, grp, bias, scale, pts, out_dt, out):
    """x int8 [M, K], w int8 [E, K, N]; bias int32 [E, N] or None; scale float32 [E, N] or None; pts float32
    [M] or None; out carrier: int32 (no scale), bf16 bits or float16."""
    for start, end, e in grp:
        if end == start:
            continue
        a = x[start:end].astype(np.int64) @ w[e].astype(np.int64)
        if bias is not None:
            a = a + bias[e][None, :].astype(np.int64)
        a32 = ((a + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)
        if scale is None:
            out[start:end] = a32
            continue
        d = a32.astype(np.float32) * scale[e][None, :]
        if pts is not None:
            d = d * pts[start:end, None]
        out[start:end] = narrow(d, out_dt)


U_OUT = {"bf16": 2.0 ** -8, "f16": 2.0 ** -11, "f32": 2.0 ** -24}
ETA_OUT = {"bf16": 2.0 ** -134, "f16": 2.0 ** -25, "f32": 2.0 ** -150}


def reference_and_bound(x, w, grp, bias, dt, m, n):
    """The float64 result r and the documented bound per element (docs/operators/grouped_matmul.md):
    |out - r| <= g * S + u_out * (|r| + g * S) + eta,   g = 1.01 * (K + 1) * 2^-24,
    S = sum_k |x w| + |bias|, u_out = 2^-8 / 2^-11 / 2^-24 for bf16 / fp16 / fp32 output,
    eta = (K + 1) * 2^-150 + half the output type's smallest subnormal (2^-134 / 2^-25 / 2^-150).
    Returns float64 arrays [M, N] (zero outside the groups)."""
    k = x.shape[1]
    ref = np.zeros((m, n))
    bound = np.zeros((m, n))
    for start, end, e in grp:
        xs = x[start:end].astype(np.float64)
        we = w[e].astype(np.float64)
        r = xs @ we
        s = np.abs(xs) @ np.abs(we)
        if bias is not None:
            r = r + bias[e][None, :].astype(np.float64)
            s = s + np.abs(bias[e][None, :].astype(np.float64))
        acc_err = 1.01 * (k + 1) * 2.0 ** -24 * s
        ref[start:end] = r
        eta = (k + 1) * 2.0 ** -150 + ETA_OUT[dt]
        bound[start:end] = acc_err + U_OUT[dt] * (np.abs(r) + acc_err) + eta
    return ref, bound
