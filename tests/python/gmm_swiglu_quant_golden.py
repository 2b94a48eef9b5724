"""numpy model of GroupedMatmulSwigluQuant (layer spec 9.3; docs/operators/grouped_matmul_swiglu_quant.md) and
the FRACTAL_NZ packing of an int8 weight (spec 8.1), shared by tests/python/test_gmm_swiglu_quant.py and the
package test tests/pypkg/test_gmm_swiglu_quant_pkg.py. Written from the spec's formulas."""

import numpy as np

import mlp_golden as mg

F32 = np.float32


def model(x, w, ends, wscale, xscale, silu):
    """Spec 9.3 in numpy: (y int8 [M, N/2], scale float32 [M], rows written). wscale as float32."""
    m, n = x.shape[0], w.shape[2]
    h = n // 2
    y = np.zeros((m, h), np.int8)
    sc = np.zeros(m, F32)
    start = 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for g, end in enumerate(ends):
            for r in range(start, int(end)):
                a = x[r].astype(np.int64) @ w[g].astype(np.int64)           # exact
                c = a.astype(np.int32).astype(F32)                          # int32 -> fp32 RNE
                c = (c * F32(xscale[r])).astype(F32)                        # per token first
                c = (c * wscale[g]).astype(F32)                             # then per channel
                s = (silu(c[:h]) * c[h:]).astype(F32)
                amax = np.abs(s).max(initial=F32(0)).astype(F32)
                qs = F32(amax / F32(127))
                inv = F32(F32(1) / qs)
                t = (s * inv).astype(F32).astype(np.float16).astype(F32)  # fp32 -> fp16 RNE
                y[r] = mg.i8_rne(t)                                         # fp16 -> int8 RNE
                sc[r] = qs
            start = int(end)
    return y, sc, int(ends[-1]) if len(ends) else 0


def nz_pack(w):
    """[E, K, N] int8 -> the FRACTAL_NZ bytes [E, ceil(N/32), ceil(K/16), 16, 32] (spec 8.1), zero padding."""
    e, k, n = w.shape
    n1, k1 = -(-n // 32), -(-k // 16)
    p = np.zeros((e, k1 * 16, n1 * 32), np.int8)
    p[:, :k, :n] = w
    return np.ascontiguousarray(p.reshape(e, k1, 16, n1, 32).transpose(0, 3, 1, 2, 4))
