"""moeroute_grouped_matmul_swiglu_quant against a numpy model of layer spec 9.3 (docs/operators/
grouped_matmul_swiglu_quant.md): random int8 x and weights, cumsum group lists with empty, skewed and short groups
(rows past the last group must stay untouched), all-zero rows, weight scales in float32 / float16 / bfloat16,
transposed ND weights and the same weights in FRACTAL_NZ (which must give the ND bytes). The model uses the
library's SiLU (read back through moeroute_swiglu, whose 1-ulp bound test_mlp_elementwise.py checks) so that the
comparison is byte for byte; everything else in the chain -- the int32 sums, the per-token then per-channel
fp32 dequant, the fp32 -> fp16 -> int8 double rounding -- is the model's own. Each case runs on contexts of
1 and 3 threads and the scalar ISA, which must agree; CTest runs the file once per forced ISA level. Bad group
lists are refused with MOEROUTE_ERR_INVALID_VALUE, every output byte untouched.

Replay a case: MOEROUTE_TEST_SEED=<seed> MOEROUTE_LIB=... python3 -m pytest 'tests/python/test_gmm_swiglu_quant.py::test_random[3]'
"""

import ctypes

import numpy as np
import pytest

import grouped_matmul_golden as gg
from gmm_swiglu_quant_golden import model, nz_pack
import moeroute_ctypes as mr
from moe_testenv import SEED, case_scale

F32 = np.float32
N_RANDOM = max(1, int(round(60 * case_scale())))
SCALE_DT = {"f32": (0, np.float32), "f16": (1, np.float16), "bf16": (27, np.uint16)}
INVALID_VALUE = 4


class Api:
    def __init__(self, lib):
        self.lib = lib
        d = lib.dll
        lay = mr._layout_module()
        self.Args = lay.struct_type(d, "moeroute_grouped_matmul_swiglu_quant_args")
        self.Swiglu = lay.struct_type(d, "moeroute_swiglu_args")
        self.fn = d.moeroute_grouped_matmul_swiglu_quant
        self.swiglu = d.moeroute_swiglu
        for f, a in ((self.fn, self.Args), (self.swiglu, self.Swiglu)):
            f.restype = ctypes.c_int
            f.argtypes = [ctypes.c_void_p, ctypes.POINTER(a)]
        self.ctxs = [lib.context_create(1, 0), lib.context_create(3, 0), lib.context_create(1, 1)]

    def silu(self, a):
        """The library's SiLU: moeroute_swiglu(x = [a | 1]) (silu(a) * 1 is exact)."""
        a = np.ascontiguousarray(a, F32).reshape(-1)
        if a.size == 0:
            return a.copy()
        x = np.concatenate([a, np.ones(a.size, F32)])
        out = np.empty(a.size, F32)
        s = self.Swiglu(struct_size=ctypes.sizeof(self.Swiglu), num_rows=1, cols=2 * a.size, x_dtype=0,
                        x=x.ctypes.data, x_row_stride=2 * a.size, x_col_stride=1, out=out.ctypes.data)
        assert self.swiglu(self.ctxs[0], ctypes.byref(s)) == 0, self.lib.native_err_msg()
        return out


@pytest.fixture(scope="module")
def api(lib):
    a = Api(lib)
    yield a
    for c in a.ctxs:
        lib.context_destroy(c)


def _case(rng):
    e = int(rng.integers(1, 7))
    m = int(rng.integers(0, 50))
    k = int(rng.choice([0, 1, 7, 16, 33, 80, 130]))
    n = 2 * int(rng.choice([0, 1, 5, 16, 17, 40]))
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    if m and rng.random() < 0.5:
        x[rng.integers(0, m)] = 0                                   # an all-zero row: scale 0, output 0
    w = rng.integers(-128, 128, size=(e, k, n)).astype(np.int8)
    g = int(rng.integers(0, e + 1))
    total = m if rng.random() < 0.6 else int(rng.integers(0, m + 1))
    wts = rng.random(g) ** rng.choice([1.0, 6.0])
    wts[rng.random(g) < 0.25] = 0
    counts = np.floor(wts / wts.sum() * total).astype(np.int64) if g and wts.sum() > 0 else np.zeros(g, np.int64)
    if g and counts.sum() < total:
        counts[int(rng.integers(0, g))] += total - counts.sum()
    ends = np.cumsum(counts).astype(np.int64)
    sdt = ["f32", "f16", "bf16"][int(rng.integers(0, 3))]
    ws32 = (rng.random((e, n)) * 2.0 ** -float(rng.integers(4, 12))).astype(F32)
    ws = ws32.astype(np.float16) if sdt == "f16" else gg.f32_to_bf16(ws32) if sdt == "bf16" else ws32
    ws_f32 = ws.astype(F32) if sdt == "f16" else gg.bf16_to_f32(ws) if sdt == "bf16" else ws
    xs = (rng.random(m) * 0.05 + 1e-4).astype(F32)
    return x, w, ends, sdt, ws, ws_f32, xs


def _call(api, ctx, x, w, ends, sdt, ws, xs, y, sc, nz, transposed):
    m, k = x.shape
    e, _, n = w.shape
    a = api.Args(struct_size=ctypes.sizeof(api.Args), num_rows=m, k=k, n=n, num_experts=e, x=x.ctypes.data,
                 x_row_stride=k, x_col_stride=1, weight_scale_dtype=SCALE_DT[sdt][0], weight_scale=ws.ctypes.data,
                 x_scale=xs.ctypes.data, num_groups=len(ends), group_list=ends.ctypes.data,
                 output=y.address, output_scale=sc.address)
    if nz:
        buf = nz_pack(w)
        a.weight, a.weight_format = buf.ctypes.data, 29
    elif transposed:                                                # a contiguous [E, N, K] read transposed
        buf = np.ascontiguousarray(w.transpose(0, 2, 1))
        a.weight, a.weight_expert_stride, a.weight_k_stride, a.weight_n_stride = buf.ctypes.data, n * k, 1, k
    else:
        buf = w
        a.weight, a.weight_expert_stride, a.weight_k_stride, a.weight_n_stride = buf.ctypes.data, k * n, n, 1
    st = api.fn(ctx, ctypes.byref(a))
    return st, buf


@pytest.mark.parametrize("i", range(N_RANDOM))
def test_random(api, i):
    rng = np.random.default_rng([SEED, 61, i])
    x, w, ends, sdt, ws, ws_f32, xs = _case(rng)
    m, n = x.shape[0], w.shape[2]
    want_y, want_s, written = model(x, w, ends, ws_f32, xs, api.silu)
    got = None
    for ci, ctx in enumerate(api.ctxs):
        for nz in (False, True):
            y = mr.GuardedOutput((m, n // 2), np.int8)
            sc = mr.GuardedOutput((m,), F32)
            st, _ = _call(api, ctx, x, w, ends, sdt, ws, xs, y, sc, nz, transposed=bool(rng.random() < 0.5))
            assert st == 0, api.lib.native_err_msg()
            assert y.guards_intact() and sc.guards_intact()
            ya, sa = y.array(), sc.array()
            what = "context %d, %s weight (seed %d, case %d)" % (ci, "NZ" if nz else "ND", SEED, i)
            assert np.array_equal(ya[:written], want_y[:written]), what
            assert np.array_equal(sa[:written].view(np.uint32), want_s[:written].view(np.uint32)), what
            assert np.all(ya[written:].view(np.uint8) == 0xA5) and np.all(sa[written:].view(np.uint32) == 0xA5A5A5A5), \
                "rows past the last group were written: " + what
            if got is None:
                got = (ya.copy(), sa.copy())
            assert np.array_equal(ya, got[0]) and np.array_equal(sa.view(np.uint32), got[1].view(np.uint32)), \
                "threads / ISA / weight layout changed the bytes: " + what


@pytest.mark.parametrize("bad", ["decreasing", "above_m", "negative"])
def test_bad_group_list(api, bad):
    rng = np.random.default_rng([SEED, 62])
    x = rng.integers(-128, 128, size=(6, 16)).astype(np.int8)
    w = rng.integers(-128, 128, size=(3, 16, 8)).astype(np.int8)
    ends = {"decreasing": [2, 5, 4], "above_m": [2, 4, 7], "negative": [-1, 2, 3]}[bad]
    ends = np.array(ends, np.int64)
    ws = np.ones((3, 8), F32)
    xs = np.ones(6, F32)
    for nz in (False, True):
        y = mr.GuardedOutput((6, 4), np.int8)
        sc = mr.GuardedOutput((6,), F32)
        st, _ = _call(api, api.ctxs[1], x, w, ends, "f32", ws, xs, y, sc, nz, False)
        assert st == INVALID_VALUE, (bad, st)
        assert "groupList" in api.lib.native_err_msg()
        assert y.untouched() and sc.untouched()


def test_double_rounding_visible(api):
    """One row where the fp16 step changes the int8 result (spec 9.3): s * inv = 101.484375 -> fp16 101.5
    -> int8 102, where rounding once gives 101."""
    x = np.array([[127, 1]], np.int8)
    w = np.array([[[0, 0, 1, 51], [64, 64, 0, 18]]], np.int8)
    ws = np.array([[1, 1, 1, 1 / 64]], F32)
    xs = np.array([0.5], F32)
    ends = np.array([1], np.int64)
    y = mr.GuardedOutput((1, 2), np.int8)
    sc = mr.GuardedOutput((1,), F32)
    st, _ = _call(api, api.ctxs[0], x, w, ends, "f32", ws, xs, y, sc, True, False)
    assert st == 0, api.lib.native_err_msg()
    assert y.array().tolist() == [[127, 102]] and sc.array().tolist() == [16.0]
