"""moeroute_grouped_matmul and aclnnGroupedMatmulV4 against the numpy model of grouped_matmul_golden.py:
randomized experts, shapes (zeros included), group lists of all three types with empty, skewed and short
groups (rows past the last group must stay untouched), every dtype row, optional bias, scales, strided x and
transposed weights. int8 rows and float rows whose products are exact in fp32 are compared byte for byte with
the model of the fp32 ascending-k order; full-precision fp32 cases are checked against the float64 result
within the documented bound. Every case also runs on contexts of 1..3 threads and every ISA level this
machine has, which must give the same bytes. Bad group lists are refused (native: MOEROUTE_ERR_INVALID_VALUE,
aclnn: 161002 at execute) with every output byte untouched.

Every randomized case comes from (session seed, kind, index): replay one with
  MOEROUTE_TEST_SEED=<seed> MOEROUTE_LIB=... python3 -m pytest 'tests/python/test_grouped_matmul.py::test_random[7]'
MOEROUTE_TEST_SCALE multiplies the number of randomized cases. CTest runs this file once per ISA level.
"""

import ctypes

import numpy as np
import pytest

import grouped_matmul_golden as gg
import moeroute_ctypes as mr
from moe_testenv import SEED, case_scale

_vp = ctypes.c_void_p
N_RANDOM = max(1, int(round(120 * case_scale())))
N_ACLNN = max(1, int(round(30 * case_scale())))
N_BAD = max(1, int(round(30 * case_scale())))
KIND = {"random": 41, "aclnn": 42, "bad": 43, "large": 44}

NATIVE_DT = {"f32": 0, "f16": 1, "i8": 2, "i32": 3, "bf16": 27}
CARRIER = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16, "i8": np.int8, "i32": np.int32}
ESIZE = {"f32": 4, "f16": 2, "bf16": 2, "i8": 1, "i32": 4}
SENT = 0xA5
# (x dtype, out dtype, scale dtype or None)
ROWS = [("f16", "f16", None), ("bf16", "bf16", None), ("f32", "f32", None), ("f32x", "f32", None),
        ("i8", "i32", None), ("i8", "bf16", "bf16"), ("i8", "f16", "f32")]


class Api:
    def __init__(self, lib):
        self.lib = lib
        d = lib.dll
        self.Args = mr._layout_module().struct_type(d, "moeroute_grouped_matmul_args")
        self.native = d.moeroute_grouped_matmul
        self.native.restype = ctypes.c_int
        self.native.argtypes = [_vp, ctypes.POINTER(self.Args)]
        self.ctl = d.aclCreateTensorList
        self.ctl.restype = _vp
        self.ctl.argtypes = [ctypes.POINTER(_vp), ctypes.c_uint64]
        self.dtl = d.aclDestroyTensorList
        self.dtl.restype = ctypes.c_int32
        self.dtl.argtypes = [_vp]
        self.gws = d.aclnnGroupedMatmulV4GetWorkspaceSize
        self.gws.restype = ctypes.c_int32
        self.gws.argtypes = [_vp] * 12 + [ctypes.c_int64] * 4 + [_vp] * 3 + [ctypes.POINTER(ctypes.c_uint64),
                                                                            ctypes.POINTER(_vp)]
        self.exe = d.aclnnGroupedMatmulV4
        self.exe.restype = ctypes.c_int32
        self.exe.argtypes = [_vp, ctypes.c_uint64, _vp, _vp]
        self.ctx = {}

    def context(self, threads, isa):
        key = (threads, isa)
        if key not in self.ctx:
            self.ctx[key] = self.lib.context_create(threads, isa)
        return self.ctx[key]


@pytest.fixture(scope="module")
def api(lib):
    a = Api(lib)
    yield a
    for c in a.ctx.values():
        lib.context_destroy(c)


def _rng(kind, i):
    return np.random.default_rng([SEED, KIND[kind], i])


def _values(rng, shape, dt):
    """Carrier array for dtype name dt ('f32x': fp32 with at most 12 significant bits)."""
    if dt == "i8":
        a = rng.integers(-128, 128, size=shape)
        if a.size and rng.random() < 0.3:
            a.flat[rng.integers(0, a.size, size=max(1, a.size // 8))] = rng.choice([-128, 127])
        return a.astype(np.int8)
    f = rng.normal(size=shape) * rng.choice([0.25, 1.0, 3.0])
    if dt == "f16":
        return f.astype(np.float16)
    if dt == "bf16":
        return gg.f32_to_bf16(f.astype(np.float32))
    if dt == "f32x":
        return (np.clip(np.round(f * 256), -2047, 2047) / 64).astype(np.float32)
    return f.astype(np.float32)


def _group_list(rng, m, e):
    """(list or None, type, expected covered rows): skewed, empty and short groups."""
    ltype = int(rng.integers(0, 3))
    total = m if rng.random() < 0.6 else int(rng.integers(0, m + 1))
    w = rng.random(e) ** rng.choice([1.0, 6.0])  # ** 6: one expert takes most rows
    w[rng.random(e) < 0.25] = 0
    counts = np.floor(w / w.sum() * total).astype(np.int64) if w.sum() > 0 else np.zeros(e, np.int64)
    if e and counts.sum() < total:
        counts[int(rng.integers(0, e))] += total - counts.sum()
    if ltype == 0:
        return np.cumsum(counts).astype(np.int64), 0
    if ltype == 1:
        return counts, 1
    ids = rng.integers(0, e, size=e)
    return np.stack([ids, counts], axis=1).astype(np.int64), 2


class Case:
    """One problem: inputs as carrier arrays, how they are laid out, and the model's expectations."""

    def __init__(self, rng, row=None, m=None, k=None, n=None, e=None):
        self.xdt, self.odt, self.sdt = row if row else ROWS[int(rng.integers(0, len(ROWS)))]
        self.exact = self.xdt != "f32"
        self.xdt = "f32" if self.xdt == "f32x" else self.xdt
        xdt_gen = "f32x" if self.exact and self.xdt == "f32" else self.xdt
        self.e = int(rng.integers(1, 7)) if e is None else e
        self.m = int(rng.integers(0, 61)) if m is None else m
        self.k = int(rng.integers(0, 81)) if k is None else k
        self.n = int(rng.integers(0, 71)) if n is None else n
        self.x = _values(rng, (self.m, self.k), xdt_gen)
        self.w = _values(rng, (self.e, self.k, self.n), xdt_gen)
        self.gl, self.ltype = _group_list(rng, self.m, self.e)
        if self.e == 1 and rng.random() < 0.2:
            self.gl, self.ltype = None, 0
        self.bias = None
        if rng.random() < 0.5:
            if self.xdt == "i8":
                self.bias = rng.integers(-2 ** 20, 2 ** 20, size=(self.e, self.n)).astype(np.int32)
            elif self.xdt == "f16":
                self.bias = _values(rng, (self.e, self.n), "f16")
            else:
                self.bias = _values(rng, (self.e, self.n), "f32x" if self.exact else "f32")
        self.scale = self.pts = None
        if self.sdt:
            s = (rng.random((self.e, self.n)) * 0.02 + 1e-4).astype(np.float32)
            self.scale = gg.f32_to_bf16(s) if self.sdt == "bf16" else s
            if rng.random() < 0.8:
                self.pts = (rng.random(self.m) * 0.05 + 1e-3).astype(np.float32)
        self.x_pad = int(rng.integers(0, 3))
        self.w_trans = bool(rng.random() < 0.5)
        self.grp = gg.groups(self.gl, self.ltype, self.m, self.e)
        self.covered = self.grp[-1][1] if self.grp else 0

    # ---- storage for the library ----
    def x_storage(self):
        st = np.zeros((self.m, self.k + self.x_pad), self.x.dtype)
        st[:, :self.k] = self.x
        return st, (self.k + self.x_pad, 1)

    def w_storage(self):
        if self.w_trans:
            st = np.ascontiguousarray(np.transpose(self.w, (0, 2, 1)))
            return st, (self.k * self.n, 1, self.k)
        return np.ascontiguousarray(self.w), (self.k * self.n, self.n, 1)

    def out_buffer(self):
        return mr.GuardedOutput((self.m, self.n), CARRIER[self.odt], SENT)

    # ---- the model ----
    def expected(self):
        out = np.frombuffer(bytes([SENT]) * (self.m * self.n * ESIZE[self.odt]), CARRIER[self.odt]).reshape(
            self.m, self.n).copy()
        if self.xdt == "i8":
            sc = None if self.scale is None else gg.widen(self.scale, self.sdt)
            gg.int8_model(self.x, self.w, self.grp, self.bias, sc, self.pts, self.odt, out)
        else:
            gg.float_model(gg.widen(self.x, self.xdt), gg.widen(self.w, self.xdt), self.grp, self.bias_f32(),
                           self.odt, out)
        return out

    def bias_f32(self):
        """The float bias as float32 values (FLOAT16 for f16 x, FLOAT otherwise)."""
        return None if self.bias is None else self.bias.astype(np.float32)

    def describe(self):
        return ("%s->%s scale=%s E=%d M=%d K=%d N=%d type=%d list=%s bias=%s pts=%s trans=%s pad=%d"
                % (self.xdt, self.odt, self.sdt, self.e, self.m, self.k, self.n, self.ltype,
                   None if self.gl is None else self.gl.tolist(), self.bias is not None, self.pts is not None,
                   self.w_trans, self.x_pad))


def _ptr(a):
    return None if a is None else a.ctypes.data


def nz_weight(w, rng):
    """w [E, K, N] int8 as its FRACTAL_NZ storage [E, N1, K1, 16, 32] (layer spec 8.1); the padding is random
    bytes, which the operator must never read."""
    e, k, n = w.shape
    k1, n1 = -(-k // 16), -(-n // 32)
    pad = rng.integers(-128, 128, size=(e, k1 * 16, n1 * 32)).astype(np.int8)
    pad[:, :k, :n] = w
    return np.ascontiguousarray(pad.reshape(e, k1, 16, n1, 32).transpose(0, 3, 1, 2, 4))


def run_native(api, c, ctx, out, gl=None, nz=None):
    xs, (xr, xc) = c.x_storage()
    ws, (we, wk, wn) = c.w_storage()
    if nz is not None:
        ws = nz
    gl = c.gl if gl is None else gl
    a = api.Args()
    a.num_rows, a.k, a.n, a.num_experts = c.m, c.k, c.n, c.e
    a.x_dtype = NATIVE_DT[c.xdt]
    a.x, a.x_row_stride, a.x_col_stride = xs.ctypes.data, xr, xc
    a.weight, a.weight_expert_stride, a.weight_k_stride, a.weight_n_stride = ws.ctypes.data, we, wk, wn
    a.group_list_type = c.ltype
    a.num_groups = 0 if gl is None else gl.shape[0]
    a.group_list = _ptr(gl)
    a.bias = _ptr(c.bias)
    a.scale_dtype = NATIVE_DT[c.sdt] if c.sdt else 0
    a.scale = _ptr(c.scale)
    a.per_token_scale = _ptr(c.pts)
    a.out_dtype = NATIVE_DT[c.odt]
    a.out = out.address
    a.weight_format = 29 if nz is not None else 0
    keep = (xs, ws)  # alive during the call
    st = api.native(ctx, ctypes.byref(a))
    del keep
    return st


def run_aclnn(api, c, out, gl=None):
    lib = api.lib
    xs, (xr, xc) = c.x_storage()
    ws, wstr = c.w_storage()
    gl = c.gl if gl is None else gl
    acl = {"f32": mr.ACL_FLOAT, "f16": mr.ACL_FLOAT16, "bf16": mr.ACL_BF16, "i8": mr.ACL_INT8, "i32": mr.ACL_INT32}
    made = []

    def one(t):
        arr = (_vp * 1)(t)
        lst = api.ctl(arr, 1)
        made.append(lst)
        return lst

    x = one(lib.create_tensor([c.m, c.k], acl[c.xdt], strides=[xr, xc], storage_dims=[xs.size], data=xs))
    w = one(lib.create_tensor([c.e, c.k, c.n], acl[c.xdt], strides=list(wstr), storage_dims=[ws.size], data=ws))
    bdt = {"i8": mr.ACL_INT32, "f16": mr.ACL_FLOAT16}.get(c.xdt, mr.ACL_FLOAT)
    bias = one(lib.create_tensor([c.e, c.n], bdt, data=c.bias)) if c.bias is not None else None
    scale = one(lib.create_tensor([c.e, c.n], acl[c.sdt], data=c.scale)) if c.scale is not None else None
    pts = one(lib.create_tensor([c.m], mr.ACL_FLOAT, data=c.pts)) if c.pts is not None else None
    o = one(lib.create_tensor([c.m, c.n], acl[c.odt], data=out.address))
    g = lib.create_tensor(list(gl.shape), mr.ACL_INT64, data=gl) if gl is not None else None
    wsz = ctypes.c_uint64(0)
    exe = _vp(None)
    st = api.gws(x, w, bias, scale, None, None, None, pts, g, None, None, None, 2, 0, c.ltype, 0, o, None, None,
                 ctypes.byref(wsz), ctypes.byref(exe))
    phase = 1
    if st == 0:
        phase = 2
        buf = np.zeros(max(1, wsz.value), np.uint8)
        st = api.exe(buf.ctypes.data, wsz.value, exe, None)
    for lst in made:
        api.dtl(lst)
    lib.destroy_tensors(g)
    return st, phase


def _isas(lib):
    """Every level this machine runs (x86: scalar, avx2, avx512 up to the detected one; AArch64: scalar, neon)."""
    detected = lib.dll.moeroute_detected_isa()
    if detected == mr.MOEROUTE_ISA_NEON:
        return [mr.MOEROUTE_ISA_SCALAR, mr.MOEROUTE_ISA_NEON]
    return [i for i in (mr.MOEROUTE_ISA_SCALAR, mr.MOEROUTE_ISA_AVX2, mr.MOEROUTE_ISA_AVX512) if i <= detected]


def check_case(api, c, variants=True):
    want = c.expected()
    out = c.out_buffer()
    st = run_native(api, c, api.context(0, 0), out)
    assert st == 0, "%s: %r" % (c.describe(), api.lib.native_err_msg())
    assert out.guards_intact(), c.describe()
    got = out.array()
    covered_bytes = c.covered * c.n * ESIZE[c.odt]
    raw = got.view(np.uint8).reshape(-1)
    assert (raw[covered_bytes:] == SENT).all(), "rows past the last group were written: " + c.describe()
    if c.exact:
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), c.describe()
    if c.xdt != "i8":  # every float result also lies within the documented bound of the float64 result
        ref, bound = gg.reference_and_bound(gg.widen(c.x, c.xdt), gg.widen(c.w, c.xdt), c.grp,
                                            c.bias_f32(), c.odt, c.m, c.n)
        val = gg.widen(got[:c.covered], c.odt).astype(np.float64)
        err = np.abs(val - ref[:c.covered])
        assert (err <= bound[:c.covered]).all(), "%s: worst excess %g" % (c.describe(), (err - bound[:c.covered]).max())
    if not variants:
        return got.copy()
    first = got.copy()
    for isa in _isas(api.lib):
        for threads in (1, 2, 3):
            out2 = c.out_buffer()
            assert run_native(api, c, api.context(threads, isa), out2) == 0
            assert np.array_equal(out2.array().view(np.uint8), first.view(np.uint8)), \
                "isa %d threads %d differ: %s" % (isa, threads, c.describe())
    return first


def test_model_hand_example():
    """problem P of tests/c/test_grouped_matmul.c through the model."""
    x = np.array([[1, 2], [3, 4], [5, 6]], np.float32)
    w = np.array([[[1, 0], [0, 1]], [[1, 1], [1, -1]]], np.float32)
    out = np.zeros((3, 2), np.float32)
    gg.float_model(x, w, gg.groups([2, 1], 1, 3, 2), np.array([[.5, .5], [0, 1]], np.float32), "f32", out)
    assert out.tolist() == [[1.5, 2.5], [3.5, 4.5], [11, 0]]


@pytest.mark.parametrize("i", range(N_RANDOM))
def test_random(api, i):
    check_case(api, Case(_rng("random", i)))


@pytest.mark.parametrize("row", range(len(ROWS)))
def test_large_skewed(api, row):
    """Big enough for several row chunks and column tiles per group: the work splits across threads."""
    rng = _rng("large", row)
    c = Case(rng, row=ROWS[row], m=700, k=int(rng.integers(300, 420)), n=int(rng.integers(140, 300)), e=5)
    check_case(api, c)


@pytest.mark.parametrize("row", range(len(ROWS)))
def test_wide_tiles(api, row):
    """N above the 1024-column tile: several column tiles per row chunk."""
    rng = _rng("large", 100 + row)
    check_case(api, Case(rng, row=ROWS[row], m=300, k=int(rng.integers(1, 40)), n=int(rng.integers(1025, 2200)), e=3))


@pytest.mark.parametrize("i", range(N_ACLNN))
def test_aclnn_matches_native(api, i):
    c = Case(_rng("aclnn", i))
    if c.gl is None and c.e > 1:
        return
    if c.ltype == 2 and c.xdt != "i8":
        c.ltype, c.gl = 1, np.asarray(c.gl)[:, 1].copy()
        c.grp = gg.groups(c.gl, 1, c.m, c.e)  # key-value lists: int8 only on the device
        c.covered = c.grp[-1][1] if c.grp else 0
    if c.gl is not None and c.gl.shape[0] != c.e:
        return
    want = check_case(api, c, variants=False)
    out = c.out_buffer()
    st, phase = run_aclnn(api, c, out)
    assert st == 0, "%s: phase %d %r" % (c.describe(), phase, api.lib.recent_err_msg())
    assert np.array_equal(out.array().view(np.uint8), want.view(np.uint8)), c.describe()


def _break(rng, c):
    """A group list the operator must refuse."""
    gl = np.array(c.gl, np.int64)
    g = int(rng.integers(0, gl.shape[0]))
    if c.ltype == 0:
        gl[g] = -1 if g == 0 or rng.random() < 0.5 else c.m + 1 + int(rng.integers(0, 5))
        if g > 0 and gl[g] < 0:
            gl[g] = gl[g - 1] - 1 if gl[g - 1] > 0 else -1
    elif c.ltype == 1:
        gl[g] = -int(rng.integers(1, 4)) if rng.random() < 0.5 else c.m + 1
    else:
        if rng.random() < 0.5:
            gl[g, 0] = c.e + int(rng.integers(0, 3)) if rng.random() < 0.5 else -1
        else:
            gl[g, 1] = -1 if rng.random() < 0.5 else c.m + 1
    with pytest.raises(gg.GroupListError):
        gg.groups(gl, c.ltype, c.m, c.e)
    return gl


@pytest.mark.parametrize("i", range(N_BAD))
def test_bad_group_list(api, i):
    rng = _rng("bad", i)
    c = Case(rng, m=int(rng.integers(1, 30)))
    if c.gl is None:
        c.gl, c.ltype = np.array([c.m], np.int64), 0
    gl = _break(rng, c)
    out = c.out_buffer()
    assert run_native(api, c, api.context(0, 0), out, gl=gl) == mr.MOEROUTE_ERR_INVALID_VALUE, c.describe()
    assert api.lib.native_err_msg()
    assert out.untouched()
    if c.ltype == 2 and c.xdt != "i8":
        return
    st, phase = run_aclnn(api, c, out, gl=gl)
    assert (st, phase) == (mr.ACLNN_ERR_PARAM_INVALID, 2), (st, phase, api.lib.recent_err_msg(), c.describe())
    assert out.untouched()


@pytest.mark.parametrize("i", range(max(1, N_RANDOM // 4)))
def test_nz_weight(api, i):
    """int8 weights in FRACTAL_NZ give the bytes of the same weights in ND, on every ISA."""
    rng = _rng("random", 10 ** 5 + i)
    row = [r for r in ROWS if r[0] == "i8"][i % 3]
    c = Case(rng, row=row)
    want = check_case(api, c, variants=False)
    nz = nz_weight(c.w, rng)
    for isa in _isas(api.lib):
        out = c.out_buffer()
        assert run_native(api, c, api.context(2, isa), out, nz=nz) == 0, api.lib.native_err_msg()
        assert np.array_equal(out.array().view(np.uint8), want.view(np.uint8)), c.describe()


def test_poison_unwritten(api, monkeypatch):
    rng = _rng("random", 10 ** 6)
    for row in ROWS:
        c = Case(rng, row=row, m=9, k=5, n=4, e=2)
        c.gl, c.ltype = np.array([2, 3], np.int64), 1
        c.grp, c.covered = gg.groups(c.gl, 1, c.m, c.e), 5
        monkeypatch.setenv("MOEROUTE_POISON_UNWRITTEN", "1")
        out = c.out_buffer()
        assert run_native(api, c, api.context(0, 0), out) == 0
        monkeypatch.delenv("MOEROUTE_POISON_UNWRITTEN")
        tail = out.array()[5:]
        if c.odt == "i32":
            assert (tail.view(np.uint8) == 0x7F).all()
        else:
            assert np.isnan(gg.widen(tail, c.odt)).all()
