"""DynamicQuant (V1, V2), SwiGlu and DequantSwigluQuant through the aclnn API and the native API (ctypes),
against the numpy models of mlp_golden on randomized shapes, dtypes, optional arguments, group indices,
special values and strided input views.

- DynamicQuant is exact: bytes equal to the model.
- SwiGlu: the library's SiLU is within 1 ulp of the float64 reference (checked over every fp32 input class),
  and every output element is one of the results a SiLU within 1 ulp allows.
- DequantSwigluQuant: bit for bit against the model fed with the library's own SiLU values (obtained through
  moeroute_swiglu on float32 with a second half of ones: silu(a) * 1 is exact).
- Determinism: the native API gives the same bytes in contexts of every ISA level (scalar, avx2, avx512; those
  the CPU lacks fall back) and thread count (1, 3, 4).
Data errors at execute must be refused with 161002, outputs untouched.

Every randomized case comes from (session seed, test, index): replay one with
  MOEROUTE_TEST_SEED=<seed> MOEROUTE_LIB=... python3 -m pytest 'tests/python/test_mlp_elementwise.py::test_dq_random[3]'
CTest runs this file once per ISA level (MOEROUTE_ISA caps the aclnn calls' level).
"""

import ctypes

import numpy as np
import pytest

import mlp_golden as mg
import moeroute_ctypes as mr
from moe_testenv import case_scale

_vp = ctypes.c_void_p
_i64 = ctypes.c_int64
_u64p = ctypes.POINTER(ctypes.c_uint64)
_vpp = ctypes.POINTER(ctypes.c_void_p)

KIND = {"dq": 41, "swiglu": 42, "dsq": 43}
N_DQ = max(1, int(round(150 * case_scale())))
N_SWG = max(1, int(round(120 * case_scale())))
N_DSQ = max(1, int(round(120 * case_scale())))

_GWS = {
    "aclnnDynamicQuant": [_vp] * 4,
    "aclnnDynamicQuantV2": [_vp, _vp, _vp, _i64, _vp, _vp, _vp],
    "aclnnSwiGlu": [_vp, _i64, _vp],
    "aclnnDequantSwigluQuant": [_vp] * 7 + [ctypes.c_bool, ctypes.c_char_p, _vp, _vp],
}
CONTEXTS = [(mr.MOEROUTE_ISA_SCALAR, 1), (mr.MOEROUTE_ISA_AVX2, 3), (mr.MOEROUTE_ISA_AVX512, 4)]
DT_CODE = {"f16": 1, "bf16": 27, "f32": 0, "i32": 3}
CARRIER = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32, "i32": np.int32}
ACL = {"f16": mr.ACL_FLOAT16, "bf16": mr.ACL_BF16, "f32": mr.ACL_FLOAT, "i32": mr.ACL_INT32, "i64": mr.ACL_INT64,
       "i8": mr.ACL_INT8}


class Ops:
    def __init__(self, lib):
        self.lib = lib
        d = lib.dll
        self.gws, self.exe = {}, {}
        for name, args in _GWS.items():
            f = getattr(d, name + "GetWorkspaceSize")
            f.restype, f.argtypes = ctypes.c_int32, args + [_u64p, _vpp]
            e = getattr(d, name)
            e.restype, e.argtypes = ctypes.c_int32, [_vp, ctypes.c_uint64, _vp, _vp]
            self.gws[name], self.exe[name] = f, e
        lay = mr._layout_module()
        self.args = {k: lay.struct_type(d, "moeroute_%s_args" % k)
                     for k in ("dynamic_quant", "swiglu", "dequant_swiglu_quant")}
        self.native = {}
        for k, t in self.args.items():
            f = getattr(d, "moeroute_" + k)
            f.restype, f.argtypes = ctypes.c_int, [_vp, ctypes.POINTER(t)]
            self.native[k] = f
        self.ctxs = [lib.context_create(num_threads=t, isa=i) for i, t in CONTEXTS]

    def run(self, name, args):
        """Both phases; returns (phase, status)."""
        ws, exe = ctypes.c_uint64(0xDEADBEEF), _vp(None)
        st = self.gws[name](*args, ctypes.byref(ws), ctypes.byref(exe))
        if st != 0:
            return "phase1", st
        buf = np.zeros(ws.value, np.uint8) if ws.value else None
        return "execute", self.exe[name](None if buf is None else buf.ctypes.data, ws.value, exe.value, None)

    def call_native(self, kind, ctx, **fields):
        a = self.args[kind]()
        for k, v in fields.items():
            setattr(a, k, v)
        return self.native[kind](ctx, ctypes.byref(a))


@pytest.fixture(scope="module")
def ops(lib):
    o = Ops(lib)
    yield o
    for ctx in o.ctxs:
        lib.context_destroy(ctx)


def _rng(seed, kind, i):
    return np.random.default_rng([seed, KIND[kind], i])


def _values(rng, shape, dtype, specials=True):
    """Random carrier values of dtype with a sprinkling of zeros, ties and (optionally) NaN/inf."""
    scale = float(rng.choice([1e-3, 1.0, 30.0, 1e3]))
    v = (rng.standard_normal(shape) * scale).astype(np.float32)
    if v.size and specials:
        k = max(1, v.size // 50)
        idx = rng.integers(0, v.size, k)
        v.reshape(-1)[idx] = rng.choice(np.array([0.0, -0.0, 0.5, -2.5, 65504.0, np.inf, -np.inf, np.nan],
                                                 np.float32), k)
    if dtype == "i32":
        return rng.integers(-2 ** 20, 2 ** 20, shape).astype(np.int32)
    return mg.from_f32(v, dtype)


def _tensor(lib, arr, dtype, view=None):
    """A contiguous aclTensor over arr (kept alive by the caller), or over a StridedView."""
    if view is not None:
        return lib.create_tensor(view.dims, ACL[dtype], view.strides, view.offset, view.storage_dims, view.storage)
    arr = np.ascontiguousarray(arr)
    strides = [int(np.prod(arr.shape[i + 1:])) for i in range(arr.ndim)]
    return lib.create_tensor(arr.shape, ACL[dtype], strides, 0, arr.shape, arr)


def _layout(rng):
    return mr.VIEW_LAYOUTS[int(rng.integers(0, 7))]  # no broadcast layouts


def _same(a, b):
    return np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


def _first_diffs(got, want, x2):
    """The first differing elements of two SwiGlu outputs (bits) with their inputs' bits: the failure message."""
    bits = np.uint32 if np.asarray(want).dtype.itemsize == 4 else np.uint16
    g, w = np.asarray(got).view(bits).reshape(-1), np.asarray(want).view(bits).reshape(-1)
    n = x2.shape[1] // 2
    xb = x2.view(bits)
    return ["out[%d]: %#x vs %#x (a %#x, b %#x)" % (i, g[i], w[i], xb[i // n, i % n], xb[i // n, n + i % n])
            for i in np.flatnonzero(g != w)[:6]]


# ---- DynamicQuant ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(N_DQ))
def test_dq_random(lib, ops, seed, i):
    rng = _rng(seed, "dq", i)
    dtype = ["f16", "bf16"][i % 2]
    rows = int(rng.choice([0, 1, 3, 4, 17, 100, 384, 400]))
    H = int(rng.choice([0, 1, 7, 8, 128, 136, 300, 1024, 4096]))
    if rows * H > 600000:
        rows = 5
    x = _values(rng, (rows, H), dtype)
    if rows and rng.random() < 0.1:
        x[0] = mg.from_f32(np.zeros(H, np.float32), dtype)  # an all-zero row
    v2 = bool(rng.random() < 0.6)
    groups = None
    if v2 and rng.random() < 0.6:
        G = int(rng.integers(1, 6))
        cuts = np.sort(rng.integers(0, rows + 1, G - 1)) if G > 1 else np.zeros(0, np.int64)
        groups = np.concatenate([cuts, [rows]]).astype(np.int32)
    smooth = None
    if rng.random() < 0.6 or groups is not None:
        G = len(groups) if groups is not None else 0
        smooth = _values(rng, (G, H) if G else (H,), dtype, specials=False)
    y_ref, s_ref = mg.dynamic_quant(x, dtype, smooth, groups)

    view = mr.make_view(x, _layout(rng), rng, 0)
    keep = [x, smooth, groups]
    xt = _tensor(lib, x, dtype, view)
    st_ = _tensor(lib, smooth, dtype) if smooth is not None else None
    gt = _tensor(lib, groups, "i32") if groups is not None else None
    y = mr.GuardedOutput((rows, H), np.int8)
    sc = mr.GuardedOutput((rows,), np.float32)
    yt = lib.create_tensor((rows, H), mr.ACL_INT8, (H, 1), 0, (rows, H), y.address)
    scl = lib.create_tensor((rows,), mr.ACL_FLOAT, (1,), 0, (rows,), sc.address)
    try:
        if v2:
            ph, st = ops.run("aclnnDynamicQuantV2", [xt, st_, gt, 2, yt, scl, None])
        else:
            ph, st = ops.run("aclnnDynamicQuant", [xt, st_, yt, scl])
    finally:
        lib.destroy_tensors(xt, st_, gt, yt, scl)
    assert (ph, st) == ("execute", 0), lib.recent_err_msg()
    assert y.guards_intact() and sc.guards_intact()
    assert _same(y.array(), y_ref), "int8 differs (%s rows=%d H=%d v2=%s)" % (dtype, rows, H, v2)
    assert _same(sc.array(), s_ref), "scale differs"
    # native: every template, every ISA level and thread count gives the same bytes as the model
    for tmpl in (0, 1, 2):
        want_y, want_s = mg.dynamic_quant(x, dtype, smooth, groups, {0: None, 1: "A", 2: "B"}[tmpl])
        for ctx in ops.ctxs:
            yn = np.full((rows, H), 7, np.int8)
            sn = np.full(rows, 7.0, np.float32)
            st = ops.call_native(
                "dynamic_quant", ctx, num_rows=rows, hidden=H, x_dtype=DT_CODE[dtype],
                x=view.element0_address(), x_row_stride=view.strides[0], x_col_stride=view.strides[1],
                smooth_scales=smooth.ctypes.data if smooth is not None else None,
                num_groups=len(groups) if groups is not None else 0,
                group_index=groups.ctypes.data if groups is not None else None, scale_template=tmpl,
                y=yn.ctypes.data if yn.size else None, scale=sn.ctypes.data if sn.size else None)
            assert st == 0, lib.native_err_msg()
            assert _same(yn, want_y) and _same(sn, want_s), "native template %d" % tmpl
    del keep


def test_dq_bad_group_index(lib, ops):
    rows, H = 6, 16
    x = mg.from_f32(np.arange(rows * H, dtype=np.float32).reshape(rows, H), "f16")
    smooth = mg.from_f32(np.ones((2, H), np.float32), "f16")
    for groups, what in (([3, 2], "below"), ([3, 7], "beyond"), ([-1, 6], "negative"), ([2, 5], "ends at row 5")):
        gi = np.array(groups, np.int32)
        y = mr.GuardedOutput((rows, H), np.int8)
        sc = mr.GuardedOutput((rows,), np.float32)
        xt, stt, gt = _tensor(lib, x, "f16"), _tensor(lib, smooth, "f16"), _tensor(lib, gi, "i32")
        yt = lib.create_tensor((rows, H), mr.ACL_INT8, (H, 1), 0, (rows, H), y.address)
        scl = lib.create_tensor((rows,), mr.ACL_FLOAT, (1,), 0, (rows,), sc.address)
        ph, st = ops.run("aclnnDynamicQuantV2", [xt, stt, gt, 2, yt, scl, None])
        lib.destroy_tensors(xt, stt, gt, yt, scl)
        assert (ph, st) == ("execute", mr.ACLNN_ERR_PARAM_INVALID), groups
        assert what in (lib.recent_err_msg() or "")
        assert y.untouched() and sc.untouched()


# ---- SiLU and SwiGlu ---------------------------------------------------------------------------------------

def _library_silu(ops, a):
    """The library's SiLU of float32 values, via moeroute_swiglu(x = [a | 1]) (silu(a) * 1 is exact)."""
    a = np.ascontiguousarray(a, np.float32).reshape(-1)
    n = a.size
    if n == 0:
        return a.copy()
    x = np.concatenate([a, np.ones(n, np.float32)]).reshape(1, 2 * n)
    out = np.empty((1, n), np.float32)
    st = ops.call_native("swiglu", ops.ctxs[0], num_rows=1, cols=2 * n, x_dtype=0, x=x.ctypes.data,
                         x_row_stride=2 * n, x_col_stride=1, out=out.ctypes.data)
    assert st == 0, ops.lib.native_err_msg()
    return out.reshape(-1)


def test_silu_within_one_ulp(ops, seed):
    rng = np.random.default_rng([seed, 44])
    bits = rng.integers(0, 2 ** 32, 200000, dtype=np.uint64).astype(np.uint32)
    a = np.concatenate([bits.view(np.float32), np.linspace(-120, 120, 20001, dtype=np.float32),
                        np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 88.7, -88.7, -103.9, -120.0,
                                  -120.00001, 3.4e38, -3.4e38], np.float32)])
    got = _library_silu(ops, a)
    ok = mg.within_one_ulp(got, mg.silu_ref(a))
    bad = np.nonzero(~ok)[0]
    assert bad.size == 0, "SiLU off by more than 1 ulp at %r: got %r, reference %r" % (
        a[bad[:5]], got[bad[:5]], mg.silu_ref(a[bad[:5]]))


@pytest.mark.parametrize("i", range(N_SWG))
def test_swiglu_random(lib, ops, seed, i):
    rng = _rng(seed, "swiglu", i)
    dtype = ["f16", "bf16", "f32"][i % 3]
    rank = int(rng.integers(1, 5))
    shape = [int(rng.choice([1, 2, 3, 5])) for _ in range(rank)]
    dim = int(rng.integers(-rank, rank))
    shape[dim] = 2 * int(rng.choice([0, 1, 3, 8, 64, 257])) if rng.random() < 0.95 else 0
    if np.prod(shape) > 400000:
        shape[dim] = 2
    x = _values(rng, tuple(shape), dtype)
    cands = mg.swiglu_candidates(x, dtype, dim)
    oshape = list(shape)
    oshape[dim] //= 2
    xt = _tensor(lib, x, dtype)
    out = mr.GuardedOutput(oshape, CARRIER[dtype])
    ostr = [int(np.prod(oshape[j + 1:])) for j in range(rank)]
    ot = lib.create_tensor(oshape, ACL[dtype], ostr, 0, oshape, out.address)
    ph, st = ops.run("aclnnSwiGlu", [xt, dim, ot])
    lib.destroy_tensors(xt, ot)
    assert (ph, st) == ("execute", 0), lib.recent_err_msg()
    assert out.guards_intact()
    got = out.array().view(np.uint16 if dtype != "f32" else np.uint32)
    ok = np.zeros(got.shape, bool)
    for c in cands:
        c = np.asarray(c).view(got.dtype)
        ok |= got == c
        if dtype != "bf16":
            ok |= np.isnan(out.array()) & np.isnan(np.asarray(c).view(out.array().dtype))
        else:
            ok |= mg_nan_bf16(got) & mg_nan_bf16(c)
    assert ok.all(), "SwiGlu outside the 1-ulp SiLU results (%s shape=%s dim=%d)" % (dtype, shape, dim)
    # native on the 2-D [rows, 2n] form (dim moved last), every context: identical bytes
    if dim in (-1, rank - 1):
        x2 = np.ascontiguousarray(x).reshape(int(np.prod(shape[:-1])), shape[-1])
        for ctx in ops.ctxs:
            o = np.empty((x2.shape[0], shape[-1] // 2), CARRIER[dtype])
            st = ops.call_native("swiglu", ctx, num_rows=x2.shape[0], cols=x2.shape[1], x_dtype=DT_CODE[dtype],
                                 x=x2.ctypes.data if x2.size else None, x_row_stride=x2.shape[1], x_col_stride=1,
                                 out=o.ctypes.data if o.size else None)
            assert st == 0, lib.native_err_msg()
            assert _same(o.reshape(oshape), out.array()), _first_diffs(o, out.array(), x2)


def mg_nan_bf16(bits):
    bits = np.asarray(bits)
    return ((bits & 0x7F80) == 0x7F80) & ((bits & 0x7F) != 0)


def test_swiglu_bad_dim(lib, ops):
    x = np.zeros((2, 4), np.float32)
    for dim, oshape in ((2, (2, 2)), (-3, (2, 2)), (0, (1, 2)), (1, (2, 4))):
        xt = _tensor(lib, x, "f32")
        out = mr.GuardedOutput(oshape, np.float32)
        ot = lib.create_tensor(oshape, mr.ACL_FLOAT, (oshape[1], 1), 0, oshape, out.address)
        ph, st = ops.run("aclnnSwiGlu", [xt, dim, ot])
        lib.destroy_tensors(xt, ot)
        assert (ph, st) == ("phase1", mr.ACLNN_ERR_INNER_TILING_ERROR), dim
        assert out.untouched()
    x = np.zeros((3, 3), np.float32)  # odd split along dim 0
    xt = _tensor(lib, x, "f32")
    ot = lib.create_tensor((1, 3), mr.ACL_FLOAT, (3, 1), 0, (1, 3), np.zeros(3, np.float32))
    assert ops.run("aclnnSwiGlu", [xt, 0, ot]) == ("phase1", mr.ACLNN_ERR_INNER_TILING_ERROR)
    lib.destroy_tensors(xt, ot)


# ---- DequantSwigluQuant ------------------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(N_DSQ))
def test_dsq_random(lib, ops, seed, i):
    rng = _rng(seed, "dsq", i)
    xdtype = ["i32", "i32", "f16", "bf16"][i % 4]
    rows = int(rng.choice([0, 1, 2, 9, 33, 128]))
    n = int(rng.choice([0, 1, 4, 16, 100, 512]))
    cols = 2 * n
    dynamic = bool(rng.random() < 0.7)
    left = bool(rng.random() < 0.6)
    counts = None
    if rng.random() < 0.5:
        G = int(rng.integers(1, 5))
        counts = rng.multinomial(int(rng.integers(0, rows + 1)), np.ones(G) / G).astype(
            np.int64 if rng.random() < 0.5 else np.int32)
    P = len(counts) if counts is not None and rng.random() < 0.7 else 1
    x = _values(rng, (rows, cols), xdtype, specials=xdtype != "i32")
    need = xdtype == "i32"
    ws = (rng.random((P, cols)) * 0.01).astype(np.float32) if need or rng.random() < 0.3 else None
    act = (rng.random(rows) * 0.1 + 0.001).astype(np.float32) if need or rng.random() < 0.3 else None
    bdt = ["f32", "f16", "bf16", "i32"][int(rng.integers(0, 4))]
    bias = _values(rng, (P, cols), bdt, specials=False) if rng.random() < 0.4 else None
    if dynamic:
        qs = (rng.random((P, n)) + 0.5).astype(np.float32) if rng.random() < 0.5 else None
        qo = None
    else:
        qs = (rng.random(P) * 20).astype(np.float32)
        qo = (rng.standard_normal(P) * 3).astype(np.float32) if rng.random() < 0.5 else None

    # the library's SiLU of the exact activations the model forms
    def lib_silu(a):
        return _library_silu(ops, a)

    y_ref, s_ref, written = mg.dequant_swiglu_quant(x, xdtype, ws, act, bias, bdt, qs, qo, counts, left, dynamic,
                                                    silu=lib_silu)
    # aclnn
    view = mr.make_view(x, _layout(rng), rng, 0)
    ts = [_tensor(lib, x, xdtype, view),
          _tensor(lib, ws, "f32") if ws is not None else None,
          _tensor(lib, act.reshape(rows, 1), "f32") if act is not None else None,
          _tensor(lib, bias if P > 1 or counts is not None else bias.reshape(-1), bdt) if bias is not None else None,
          _tensor(lib, qs, "f32") if qs is not None else None,
          _tensor(lib, qo, "f32") if qo is not None else None,
          _tensor(lib, counts, "i64" if counts is not None and counts.dtype == np.int64 else "i32")
          if counts is not None else None]
    y = mr.GuardedOutput((rows, n), np.int8)
    sc = mr.GuardedOutput((rows,), np.float32)
    yt = lib.create_tensor((rows, n), mr.ACL_INT8, (n, 1), 0, (rows, n), y.address)
    scl = lib.create_tensor((rows,), mr.ACL_FLOAT, (1,), 0, (rows,), sc.address)
    mode = b"dynamic" if dynamic else (b"static" if rng.random() < 0.5 else None)
    ph, st = ops.run("aclnnDequantSwigluQuant", ts + [left, mode, yt, scl])
    lib.destroy_tensors(*(ts + [yt, scl]))
    assert (ph, st) == ("execute", 0), lib.recent_err_msg()
    assert y.guards_intact() and sc.guards_intact()
    ya = y.array()
    assert _same(ya[:written], y_ref[:written]), "int8 differs (%s rows=%d n=%d dyn=%s)" % (xdtype, rows, n, dynamic)
    assert (y.buf[y.GUARD + written * n:y.GUARD + rows * n] == y.sentinel).all(), "rows past the groups written"
    if dynamic:
        assert _same(sc.array()[:written], s_ref[:written])
    else:
        assert sc.untouched()
    # native, every context
    for ctx in ops.ctxs:
        yn = np.full((rows, n), 5, np.int8)
        sn = np.full(rows, 5.0, np.float32)
        st = ops.call_native(
            "dequant_swiglu_quant", ctx, num_rows=rows, cols=cols, x_dtype=DT_CODE[xdtype],
            x=view.element0_address(), x_row_stride=view.strides[0], x_col_stride=view.strides[1],
            num_groups=len(counts) if counts is not None else 0,
            group_index_int64=int(counts is not None and counts.dtype == np.int64),
            group_index=counts.ctypes.data if counts is not None else None, param_rows=P,
            weight_scale=ws.ctypes.data if ws is not None else None,
            activation_scale=act.ctypes.data if act is not None else None, bias_dtype=DT_CODE[bdt],
            bias=bias.ctypes.data if bias is not None else None,
            quant_scale=qs.ctypes.data if qs is not None else None,
            quant_offset=qo.ctypes.data if qo is not None else None, activate_left=int(left),
            quant_mode=int(dynamic), y=yn.ctypes.data if yn.size else None, scale=sn.ctypes.data if sn.size else None)
        assert st == 0, lib.native_err_msg()
        assert _same(yn[:written], y_ref[:written]) and (yn[written:] == 5).all()
        if dynamic:
            assert _same(sn[:written], s_ref[:written])
        assert (sn[written if dynamic else 0:] == 5.0).all()


def test_dsq_bad_counts(lib, ops):
    rows, n = 4, 2
    x = np.ones((rows, 2 * n), np.int32)
    ws = np.ones(2 * n, np.float32)
    act = np.ones((rows, 1), np.float32)
    for counts in ([2, -1], [3, 2]):
        gi = np.array(counts, np.int64)
        y = mr.GuardedOutput((rows, n), np.int8)
        sc = mr.GuardedOutput((rows,), np.float32)
        ts = [_tensor(lib, x, "i32"), _tensor(lib, ws, "f32"), _tensor(lib, act, "f32"), None, None, None,
              _tensor(lib, gi, "i64")]
        yt = lib.create_tensor((rows, n), mr.ACL_INT8, (n, 1), 0, (rows, n), y.address)
        scl = lib.create_tensor((rows,), mr.ACL_FLOAT, (1,), 0, (rows,), sc.address)
        ph, st = ops.run("aclnnDequantSwigluQuant", ts + [True, b"dynamic", yt, scl])
        lib.destroy_tensors(*(ts + [yt, scl]))
        assert (ph, st) == ("execute", mr.ACLNN_ERR_PARAM_INVALID), counts
        assert y.untouched() and sc.untouched()
