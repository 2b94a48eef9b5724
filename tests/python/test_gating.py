"""aclnnMoeGatingTopK, aclnnMoeGatingTopKSoftmax and aclnnMoeGatingTopKSoftmaxV2 through the aclnn API
(ctypes), and moeroute_gating_top_k / moeroute_gating_top_k_softmax through the native API, byte for byte
against gating_golden on randomized cases: dtypes, E from 1 to 300 (a few up to 2048), k, expert groups with
both group-select modes, bias, outFlag, routed scaling factor and eps, finished rows, 3-D x for the softmax
operators, strided input views (negative strides too), special values (NaN, +-inf, -0, subnormals, raw bit
patterns) and ties (many equal logits, saturated sigmoids, softmax underflow).

Values are compared bit for bit (NaN as a class): the model's exp/sigmoid is the double-precision value rounded
once to fp32, the reference of layer decision 11, so a difference means either a wrong step or a library exp
that is not correctly rounded for that input -- the failure message says which.

The native API runs with contexts of 1, 2 and 3 threads (cases large enough for the pool to split them) and
must give the aclnn API's bytes. Every randomized case comes from (session seed, operator, index): replay one
with MOEROUTE_TEST_SEED=<seed> MOEROUTE_LIB=... python3 -m pytest 'tests/python/test_gating.py::test_topk_random[7]'
MOEROUTE_TEST_SCALE multiplies the number of randomized cases. CTest runs this file once per ISA level.
"""

import ctypes
import math

import numpy as np
import pytest

import gating_golden as gg
import moeroute_ctypes as mr
import routing_family_ctypes as rf
from combine_golden import nan_mask
from moe_testenv import case_scale, pick
from test_combine import ACL, CARRIER, FILLS, gen_values, to_carrier

_vp = ctypes.c_void_p
_i64 = ctypes.c_int64
_u64p = ctypes.POINTER(ctypes.c_uint64)
_vpp = ctypes.POINTER(ctypes.c_void_p)
ACL_BOOL = 12
NATIVE_DT = {"f32": 0, "f16": 1, "bf16": 27}
KIND = {"topk": 61, "softmax": 62, "native": 63}

N_TOPK = max(1, int(round(300 * case_scale())))
N_SOFTMAX = max(1, int(round(300 * case_scale())))
N_NATIVE = max(1, int(round(40 * case_scale())))

_ARGS = {
    "topk": [_vp, _vp, _i64, _i64, _i64, _i64, _i64, _i64, ctypes.c_bool, ctypes.c_double, ctypes.c_double,
             _vp, _vp, _vp],
    "v1": [_vp, _vp, _i64, _vp, _vp, _vp],
    "v2": [_vp, _vp, _i64, _i64, ctypes.c_bool, _vp, _vp, _vp],
}
_NAMES = {"topk": "aclnnMoeGatingTopK", "v1": "aclnnMoeGatingTopKSoftmax", "v2": "aclnnMoeGatingTopKSoftmaxV2"}


class Ops:
    def __init__(self, lib):
        self.lib = lib
        d = lib.dll
        self.gws, self.exe = {}, {}
        for op, args in _ARGS.items():
            f = getattr(d, _NAMES[op] + "GetWorkspaceSize")
            f.restype = ctypes.c_int32
            f.argtypes = args + [_u64p, _vpp]
            e = getattr(d, _NAMES[op])
            e.restype = ctypes.c_int32
            e.argtypes = [_vp, ctypes.c_uint64, _vp, _vp]
            self.gws[op], self.exe[op] = f, e
        lay = mr._layout_module()
        self.TopKArgs = lay.struct_type(d, "moeroute_gating_top_k_args")
        self.SoftmaxArgs = lay.struct_type(d, "moeroute_gating_top_k_softmax_args")
        self.native_topk = d.moeroute_gating_top_k
        self.native_topk.restype = ctypes.c_int
        self.native_topk.argtypes = [_vp, ctypes.POINTER(self.TopKArgs)]
        self.native_softmax = d.moeroute_gating_top_k_softmax
        self.native_softmax.restype = ctypes.c_int
        self.native_softmax.argtypes = [_vp, ctypes.POINTER(self.SoftmaxArgs)]

    def run(self, op, args):
        """Both phases; returns (phase, status)."""
        ws, exe = ctypes.c_uint64(0xDEADBEEF), _vp(None)
        self.lib.recent_err_msg()
        st = self.gws[op](*args, ctypes.byref(ws), ctypes.byref(exe))
        if st != 0:
            return "phase1", st
        buf = np.zeros(ws.value, np.uint8) if ws.value else None
        return "execute", self.exe[op](None if buf is None else buf.ctypes.data, ws.value, exe.value, None)


@pytest.fixture(scope="module")
def ops(lib):
    names = [n + s for n in _NAMES.values() for s in ("", "GetWorkspaceSize")]
    missing = [n for n in names + ["moeroute_gating_top_k", "moeroute_gating_top_k_softmax"] if not hasattr(lib.dll, n)]
    if missing:
        pytest.fail("libmoeroute (%s) does not export %s" % (lib.path, ", ".join(missing)))
    return Ops(lib)


# ---------------------------------------------------------------------------------------------------------
# tensors
# ---------------------------------------------------------------------------------------------------------

class View3:
    """[A, B, C] in a 1-D storage. contig; padrow (row pitch C + pad); revcol (columns backwards); odd1 (a
    size-1 dim gets a stride that is not the product of the others: legal, the dim has one index)."""

    def __init__(self, a, layout, rng, fill):
        A, B, C = a.shape
        off = 0
        if layout == "padrow":
            pitch = C + int(rng.integers(1, 4))
            strides = (B * pitch, pitch, 1)
        elif layout == "revcol":
            strides, off = (B * C, C, -1), C - 1
        elif layout == "odd1":
            strides = [B * C, C, 1]
            for d in (0, 1):
                if a.shape[d] == 1:
                    strides[d] = int(rng.integers(0, 7)) * (1 if d else C)
            strides = tuple(strides)
        else:
            strides = (B * C, C, 1)
        span = sum((n - 1) * s for n, s in zip(a.shape, strides) if s > 0)
        size = off + span + 1 + int(rng.integers(0, 3))
        storage = np.empty(size, a.dtype)
        storage[...] = fill
        i, j, k = np.meshgrid(np.arange(A), np.arange(B), np.arange(C), indexing="ij")
        storage[off + i * strides[0] + j * strides[1] + k * strides[2]] = a
        self.storage, self.dims, self.strides, self.offset = storage, (A, B, C), strides, off
        self.storage_dims = (size,)
        self.layout = layout

    def describe(self):
        return "%s dims=%s strides=%s offset=%d" % (self.layout, self.dims, self.strides, self.offset)


X2_LAYOUTS = ["contig", "padded", "colmajor", "offset", "negrow", "negcol", "colstep"]


class Tensors:
    """aclTensor handles for one call; keeps the buffers alive."""

    def __init__(self, lib, rng):
        self.lib, self.rng = lib, rng
        self.handles, self.views, self.desc = [], [], []

    def _handle(self, v, acl):
        self.views.append(v)
        h = self.lib.create_tensor(v.dims, acl, v.strides, v.offset, v.storage_dims, v.storage.ctypes.data)
        self.handles.append(h)
        return h

    def inp(self, name, a, dtype, layout=None):
        if a is None:
            self.desc.append("%s: NULL" % name)
            return None
        a = np.ascontiguousarray(a)
        fill = FILLS[dtype] if dtype in FILLS else np.uint8(1)
        acl = ACL_BOOL if dtype == "bool" else ACL[dtype]
        if a.ndim == 1:
            v = rf.make_view_1d(a, layout or pick(self.rng, ["contig", "offset", "stride", "neg"],
                                                  p=[0.55, 0.15, 0.15, 0.15]), self.rng, fill)
        elif a.ndim == 2:
            v = mr.make_view(a, layout or pick(self.rng, X2_LAYOUTS, p=[0.4] + [0.1] * 6), self.rng, fill)
        else:
            v = View3(a, layout or pick(self.rng, ["contig", "padrow", "revcol"]), self.rng, fill)
        self.desc.append("%s: %s %s" % (name, dtype, v.describe()))
        return self._handle(v, acl)

    def out(self, name, shape, dtype):
        g = mr.GuardedOutput(shape, CARRIER[dtype])
        self.desc.append("%s: %s %s" % (name, dtype, tuple(shape)))
        h = self.lib.create_tensor(shape, ACL[dtype], None, 0, None, g.address)
        self.handles.append(h)
        return h, g

    def destroy(self):
        self.lib.destroy_tensors(*self.handles)
        self.handles = []

    def describe(self):
        return "\n  ".join(self.desc)


def bytes_equal(got, want, dtype):
    """Index of the first element whose bytes differ (NaN equal to NaN), or None."""
    got, want = np.ascontiguousarray(got), np.ascontiguousarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if not got.size:
        return None
    gb = got.view(np.uint8).reshape(got.size, -1)
    wb = want.view(np.uint8).reshape(want.size, -1)
    bad = (gb != wb).any(axis=1)
    if dtype in ("f16", "bf16", "f32"):
        bad &= ~(nan_mask(got, dtype) & nan_mask(want, dtype)).reshape(-1)
    return int(np.nonzero(bad)[0][0]) if bad.any() else None


def exp_check(v):
    """For a float32 value: the library-independent facts about e^v a mismatch report needs."""
    d = float(v)
    exact = math.exp(d) if d < 709 else math.inf
    return "x=%r e^x(double)=%r -> f32 %r" % (d, exact, float(np.float32(exact)) if exact < 3.5e38 else math.inf)


def within_one_ulp(got, want):
    """float32 arrays: equal bits, both NaN, or neighbours (adjacent float32 values of the same sign)."""
    g = np.ascontiguousarray(got, np.float32).view(np.int32).astype(np.int64)
    w = np.ascontiguousarray(want, np.float32).view(np.int32).astype(np.int64)
    both_nan = np.isnan(got) & np.isnan(want)
    return both_nan | ((np.sign(g) == np.sign(w)) & (np.abs(g - w) <= 1))


def assert_same(name, got, want, dtype, context, hard=None, scores=False):
    """Byte equality (NaN as a class). hard: bool mask of the rows (the leading dims flattened) holding a point
    where decision 11 guarantees only 1 ulp (gating_golden.HARD_REL): those rows must be within 1 ulp when
    `scores` (the library's own exp/sigmoid results), and are not compared otherwise (the selection may then
    legitimately differ)."""
    if hard is not None and hard.any():
        rows = hard.size
        g2, w2 = got.reshape(rows, -1), want.reshape(rows, -1)
        if scores:
            ok = within_one_ulp(g2[hard], w2[hard])
            assert ok.all(), "%s: a hard row is more than 1 ulp off: got %r want %r\n  %s" % (
                name, g2[hard][~ok][:4], w2[hard][~ok][:4], context)
        got, want = g2[~hard], w2[~hard]
    e = bytes_equal(got, want, dtype)
    if e is None:
        return
    where = tuple(int(i) for i in np.unravel_index(e, got.shape))
    g, w = got.reshape(-1)[e], want.reshape(-1)[e]
    gh = np.ascontiguousarray(got).reshape(-1)[e:e + 1].view(np.uint8).tobytes().hex()
    wh = np.ascontiguousarray(want).reshape(-1)[e:e + 1].view(np.uint8).tobytes().hex()
    n = int(np.sum([bytes_equal(got.reshape(-1)[i:i + 1], want.reshape(-1)[i:i + 1], dtype) is not None
                    for i in range(got.size)]))
    where_note = " (of the rows without hard points)" if hard is not None and hard.any() else ""
    raise AssertionError("%s differs at %s%s: got %r (%s) want %r (%s); %d elements differ\n  %s"
                         % (name, where, where_note, g, gh, w, wh, n, context))


# ---------------------------------------------------------------------------------------------------------
# case generation
# ---------------------------------------------------------------------------------------------------------

def gen_logits(rng, dtype, shape):
    """Logits: ordinary gating values, ties (a few distinct values), wide ranges (exp underflow, sigmoid
    saturation), raw bits / specials (through test_combine.gen_values), and rows of one repeated value."""
    mode = pick(rng, ["gauss", "ties", "wide", "mixed", "const"], p=[0.4, 0.2, 0.12, 0.23, 0.05])
    if mode == "gauss":
        v = rng.standard_normal(shape) * pick(rng, [0.5, 1.0, 3.0, 8.0])
    elif mode == "ties":
        v = rng.integers(-2, 3, shape) * pick(rng, [0.5, 1.0, 20.0, 100.0])
    elif mode == "wide":
        v = rng.standard_normal(shape) * pick(rng, [30.0, 100.0, 1000.0])
    elif mode == "const":
        v = np.full(shape, pick(rng, [0.0, -0.0, 1.5, -7.0, 40.0]))
        if rng.random() < 0.3:
            v = np.where(rng.random(shape) < 0.5, 0.0, -0.0)
    else:
        return gen_values(rng, dtype, shape)
    x = to_carrier(v, dtype)
    if x.size and rng.random() < 0.15:  # a sprinkle of specials
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 88.5, -104.0, 1e-40])
        m = rng.random(shape) < pick(rng, [0.02, 0.1, 0.5])
        x = np.where(m, to_carrier(specials[rng.integers(0, len(specials), shape)], dtype), x).astype(x.dtype)
    return x


def gen_rows(rng, big_ok=True):
    u = rng.random()
    if u < 0.04:
        return 0
    if u < 0.12 and big_ok:
        return int(rng.integers(40, 200))  # several 16-row tasks: the pool splits them
    return int(rng.integers(1, 40))


def gen_experts(rng):
    u = rng.random()
    if u < 0.3:
        return int(rng.integers(1, 17))
    if u < 0.65:
        return pick(rng, [8, 16, 32, 48, 60, 64, 72, 96, 128, 160, 192, 256, 288])
    if u < 0.97:
        return int(rng.integers(17, 301))
    return pick(rng, [512, 1000, 2048])


def gen_topk(seed, index, tag="topk"):
    rng = np.random.default_rng([seed, KIND[tag], index])
    dt = pick(rng, list(gg.DTYPES))
    E = gen_experts(rng)
    N = gen_rows(rng, E <= 300)
    G, kg, mode = 1, 1, 0
    if rng.random() < 0.5:
        divs = [g for g in range(1, E + 1) if E % g == 0]
        G = pick(rng, divs)
        P = E // G
        if G * (-(-P // 32) * 32) > 2048:  # the Atlas grouped limit; tests/c/test_gating.c checks the refusal
            G = 1
        kg = int(rng.integers(1, G + 1))
        mode = int(rng.integers(0, 2)) if E // G >= 2 else 0
    P = E // G
    kmax = min(E, kg * P)
    k = int(rng.integers(1, min(kmax, 9) + 1)) if rng.random() < 0.8 else int(rng.integers(1, kmax + 1))
    c = dict(dt=dt, N=N, E=E, k=k, G=G, kg=kg, mode=mode, norm=int(rng.integers(0, 2)),
             x=gen_logits(rng, dt, (N, E)),
             bias=gen_logits(rng, dt, (E,)) if rng.random() < 0.5 else None,
             out_flag=bool(rng.random() < 0.6),
             rsf=pick(rng, [1.0, 1.0, 2.5, 0.1, float(rng.uniform(0.01, 10.0))]),
             eps=pick(rng, [1e-20, 1e-20, 1e-6, 0.1, 0.0, 1e-45]), renorm=0)
    if c["bias"] is not None and rng.random() < 0.5:  # small biases, as DeepSeek's correction bias
        c["bias"] = to_carrier(rng.standard_normal(E) * 0.01, dt)
    return c, rng


def gen_softmax(seed, index, tag="softmax"):
    rng = np.random.default_rng([seed, KIND[tag], index])
    dt = pick(rng, list(gg.DTYPES))
    version = int(rng.integers(1, 3))
    renorm = int(rng.integers(0, 2)) if version == 2 else 0
    flag = version == 2 and renorm == 0 and rng.random() < 0.6
    E = gen_experts(rng)
    if rng.random() < 0.3 and tag == "softmax":
        lead = (int(rng.integers(1, 6)), pick(rng, [1, 1, 2, 3, 7, 16]))
        if rng.random() < 0.3:
            lead = lead[::-1]
    else:
        lead = (max(1, gen_rows(rng, E <= 300)),) if tag == "softmax" else (gen_rows(rng, E <= 300),)
    kcap = min(E, 1024)
    k = int(rng.integers(1, min(kcap, 9) + 1)) if rng.random() < 0.8 else int(rng.integers(1, kcap + 1))
    fin = None
    if rng.random() < 0.5:
        fin = rng.random(lead) < pick(rng, [0.1, 0.5, 1.0])
    c = dict(dt=dt, version=version, renorm=renorm, flag=flag, E=E, lead=lead, k=k, finished=fin,
             x=gen_logits(rng, dt, lead + (E,)))
    return c, rng


# ---------------------------------------------------------------------------------------------------------
# MoeGatingTopK
# ---------------------------------------------------------------------------------------------------------

def topk_golden(c):
    """(y, expert_idx, out, hard rows)."""
    hard = []
    r = gg.gating_top_k(c["x"], c["dt"], c["k"], c["bias"], c["kg"], c["G"], c["mode"], c["renorm"], c["norm"],
                        c["rsf"], c["eps"], hard)
    return r + (hard[0],)


def run_topk(lib, ops, c, rng):
    tz = Tensors(lib, rng)
    N, E, k = c["N"], c["E"], c["k"]
    try:
        x = tz.inp("x", c["x"], c["dt"])
        b = tz.inp("biasOptional", c["bias"], c["dt"])
        hy, gy = tz.out("yOut", (N, k), c["dt"])
        hi, gi = tz.out("expertIdxOut", (N, k), "i32")
        oshape = (N, E) if c["out_flag"] or rng.random() < 0.5 else (1, 1)
        ho, go = tz.out("outOut", oshape, "f32")
        phase, st = ops.run("topk", [x, b, c["k"], c["kg"], c["G"], c["mode"], c["renorm"], c["norm"], c["out_flag"],
                                     c["rsf"], c["eps"], hy, hi, ho])
        return phase, st, (gy, gi, go), tz.describe()
    finally:
        tz.destroy()


def describe_topk(c):
    return ("%s N=%d E=%d k=%d groups %d/%d mode %d norm %d bias %s outFlag %s rsf %r eps %r"
            % (c["dt"], c["N"], c["E"], c["k"], c["kg"], c["G"], c["mode"], c["norm"], c["bias"] is not None,
               c["out_flag"], c["rsf"], c["eps"]))


def explain_value_mismatch(c, got_out, want_out):
    """When values differ: whether the library's score differs from the double-rounded exp/sigmoid."""
    if got_out is None or want_out is None or got_out.shape != want_out.shape:
        return ""
    e = bytes_equal(got_out, want_out, "f32")
    if e is None:
        return ""
    r, col = np.unravel_index(e, got_out.shape)
    v = gg.widen32(c["x"][r:r + 1], c["dt"])[0]
    return "\n  first score difference at (%d, %d): x=%r got %r want %r; %s" % (
        r, col, float(v[col]), float(got_out[r, col]), float(want_out[r, col]), exp_check(v[col]))


@pytest.mark.parametrize("index", range(N_TOPK))
def test_topk_random(lib, ops, seed, index):
    c, rng = gen_topk(seed, index)
    want = topk_golden(c)
    phase, st, (gy, gi, go), desc = run_topk(lib, ops, c, rng)
    ctx = describe_topk(c) + "\n  " + desc
    assert st == 0, "%s returned %d (%r)\n  %s" % (phase, st, lib.recent_err_msg(), ctx)
    assert gy.guards_intact() and gi.guards_intact() and go.guards_intact(), ctx
    got_out = go.array() if c["out_flag"] else None
    hard = want[3]
    if c["out_flag"]:
        assert_same("outOut", got_out, want[2], "f32", ctx + explain_value_mismatch(c, got_out, want[2]),
                    hard, True)
    else:
        assert go.untouched(), "outOut written with outFlag false\n  " + ctx
    assert_same("expertIdxOut", gi.array(), want[1], "i32", ctx, hard)
    assert_same("yOut", gy.array(), want[0], c["dt"], ctx, hard)


# ---------------------------------------------------------------------------------------------------------
# MoeGatingTopKSoftmax V1 / V2
# ---------------------------------------------------------------------------------------------------------

def softmax_golden(c):
    """(y, expert_idx, third, hard rows)."""
    hard = []
    r = gg.gating_top_k_softmax(c["x"], c["dt"], c["k"], c["finished"], c["version"], c["renorm"], hard)
    return r + (hard[0],)


def run_softmax(lib, ops, c, rng):
    tz = Tensors(lib, rng)
    lead, E, k = c["lead"], c["E"], c["k"]
    try:
        x = tz.inp("x", c["x"], c["dt"])
        f = None
        if c["finished"] is not None:
            fa = c["finished"].astype(np.uint8)
            fa = np.where(fa != 0, pick(rng, [1, 1, 2, 255]), 0).astype(np.uint8)  # any non-zero byte is true
            f = tz.inp("finishedOptional", fa, "bool", None if fa.ndim == 1 else pick(rng, ["contig", "offset"]))
        hy, gy = tz.out("yOut", lead + (k,), c["dt"])
        hi, gi = tz.out("expertIdxOut", lead + (k,), "i32")
        if c["version"] == 1:
            ht, gt = tz.out("rowIdxOut", lead + (k,), "i32")
            phase, st = ops.run("v1", [x, f, k, hy, hi, ht])
        else:
            ht, gt = (tz.out("softmaxResultOutOptional", lead + (E,), "f32") if c["flag"] or rng.random() < 0.3
                      else (None, None))
            phase, st = ops.run("v2", [x, f, k, c["renorm"], c["flag"], hy, hi, ht])
        return phase, st, (gy, gi, gt), tz.describe()
    finally:
        tz.destroy()


def describe_softmax(c):
    return "%s V%d renorm %d flag %s lead=%s E=%d k=%d finished %s" % (
        c["dt"], c["version"], c["renorm"], c["flag"], c["lead"], c["E"], c["k"], c["finished"] is not None)


@pytest.mark.parametrize("index", range(N_SOFTMAX))
def test_softmax_random(lib, ops, seed, index):
    c, rng = gen_softmax(seed, index)
    want = softmax_golden(c)
    phase, st, (gy, gi, gt), desc = run_softmax(lib, ops, c, rng)
    ctx = describe_softmax(c) + "\n  " + desc
    assert st == 0, "%s returned %d (%r)\n  %s" % (phase, st, lib.recent_err_msg(), ctx)
    for g in (gy, gi, gt):
        assert g is None or g.guards_intact(), ctx
    hard = want[3]
    if c["version"] == 1:
        assert_same("rowIdxOut", gt.array(), want[2], "i32", ctx)
    elif c["flag"]:
        assert_same("softmaxResultOut", gt.array(), want[2], "f32", ctx, hard, True)
    elif gt is not None:
        assert gt.untouched(), "softmaxResultOut written without the flag\n  " + ctx
    assert_same("expertIdxOut", gi.array(), want[1], "i32", ctx, hard)
    assert_same("yOut", gy.array(), want[0], c["dt"], ctx, hard)


def test_softmax_refusals(lib, ops):
    """The Python side of routing spec 8.3 (tests/c/test_gating.c has every refusal): a zero dim, V2 renorm 1
    with the softmax flag, a 3-D x whose leading dims do not collapse to one stride; outputs untouched."""
    rng = np.random.default_rng(3)
    base = dict(dt="f32", version=2, renorm=0, flag=False, E=8, lead=(4,), k=2, finished=None,
                x=np.ones((4, 8), np.float32))
    cases = [(dict(lead=(0,), x=np.ones((0, 8), np.float32)), ("phase1", 561002)),
             (dict(renorm=1, flag=True), ("phase1", 561002)),
             (dict(renorm=2), ("phase1", 561002)),
             (dict(k=9), ("phase1", 561002))]
    for change, want in cases:
        c = dict(base, **change)
        phase, st, outs, desc = run_softmax(lib, ops, c, rng)
        msg = lib.recent_err_msg()
        assert (phase, st) == want, (change, phase, st, msg)
        assert msg, change
        assert all(g is None or g.untouched() for g in outs), change
    # a 3-D view whose two leading dims are swapped in storage: no single row stride -> 161002
    tz = Tensors(lib, rng)
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    storage = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(-1)
    hx = lib.create_tensor((2, 3, 4), mr.ACL_FLOAT, (4, 8, 1), 0, (24,), storage.ctypes.data)
    hy, gy = tz.out("y", (2, 3, 1), "f32")
    hi, gi = tz.out("i", (2, 3, 1), "i32")
    hr, gr = tz.out("r", (2, 3, 1), "i32")
    phase, st = ops.run("v1", [hx, None, 1, hy, hi, hr])
    msg = lib.recent_err_msg()
    lib.destroy_tensors(hx)
    tz.destroy()
    assert (phase, st) == ("phase1", 161002), (phase, st, msg)
    assert gy.untouched() and gi.untouched() and gr.untouched()


@pytest.mark.parametrize("lead", [(3, 1), (1, 3), (1, 1), (4, 1)])
def test_softmax_size1_leading_dim(lib, ops, lead):
    """A 3-D x whose size-1 leading dim has a stride that is not the product of the others (legal: that dim
    has one index; torch gives such strides, e.g. transpose(0, 1) of a [S, 1, E] tensor): the rows are found
    through the other dim's stride, and the view is not refused."""
    rng = np.random.default_rng(7)
    for version in (1, 2):
        c = dict(dt="f32", version=version, renorm=0, flag=version == 2, E=6, lead=lead, k=2, finished=None,
                 x=rng.standard_normal(lead + (6,)).astype(np.float32))
        tz = Tensors(lib, rng)
        x = tz.inp("x", c["x"], "f32", "odd1")
        hy, gy = tz.out("y", lead + (2,), "f32")
        hi, gi = tz.out("i", lead + (2,), "i32")
        ht, gt = tz.out("t", lead + ((2,) if version == 1 else (6,)), "i32" if version == 1 else "f32")
        args = [x, None, 2, hy, hi, ht] if version == 1 else [x, None, 2, 0, True, hy, hi, ht]
        phase, st = ops.run("v%d" % version, args)
        desc = tz.describe()
        tz.destroy()
        assert st == 0, (version, phase, st, lib.recent_err_msg(), desc)
        want = softmax_golden(c)
        assert_same("expertIdxOut", gi.array(), want[1], "i32", desc)
        assert_same("yOut", gy.array(), want[0], "f32", desc, want[3])


# ---------------------------------------------------------------------------------------------------------
# native API: 1, 2 and 3 threads, equal to the aclnn API and the model
# ---------------------------------------------------------------------------------------------------------

def _native_x(x, how):
    """The logical x [N, E] (carrier) as a numpy view with the given memory order: (array, row, col strides)."""
    if how == "negrow" and x.shape[0] > 1:
        v = np.ascontiguousarray(x[::-1])[::-1]
    elif how == "colmajor":
        v = np.ascontiguousarray(x.T).T
    elif how == "negcol" and x.shape[1] > 1:
        v = np.ascontiguousarray(x[:, ::-1])[:, ::-1]
    else:
        v = np.ascontiguousarray(x)
    assert np.ascontiguousarray(v).tobytes() == np.ascontiguousarray(x).tobytes()
    return v, v.strides[0] // v.itemsize, v.strides[1] // v.itemsize


def _addr(a):
    return a.__array_interface__["data"][0] if a is not None else None


def _native_run(lib, fn, args, threads, outs):
    """One native call in a fresh context of `threads` threads; the outputs' arrays (guards checked)."""
    ctx = lib.context_create(num_threads=threads)
    try:
        st = fn(ctx, ctypes.byref(args))
    finally:
        lib.context_destroy(ctx)
    assert st == 0, "%s, %d threads: %d %s" % (fn.__name__, threads, st, lib.native_err_msg())
    assert all(o.guards_intact() for o in outs)
    return tuple(o.array().copy() for o in outs)


def native_topk(lib, ops, c, threads, how, renorm):
    N, E, k = c["N"], c["E"], c["k"]
    xv, rs, cs = _native_x(c["x"], how)
    a = ops.TopKArgs()
    a.num_rows, a.num_experts, a.k, a.k_group, a.group_count = N, E, k, c["kg"], c["G"]
    a.group_select_mode, a.renorm, a.norm_type = c["mode"], renorm, c["norm"]
    a.routed_scaling_factor, a.eps = c["rsf"], c["eps"]
    a.x_dtype, a.x, a.x_row_stride, a.x_col_stride = NATIVE_DT[c["dt"]], _addr(xv), rs, cs
    keep = [xv]
    if c["bias"] is not None:
        bv = np.ascontiguousarray(c["bias"][::-1])[::-1] if how == "negrow" else np.repeat(c["bias"], 2)[::2]
        keep.append(bv)
        a.bias, a.bias_stride = _addr(bv), bv.strides[0] // bv.itemsize
    y = mr.GuardedOutput((N, k), CARRIER[c["dt"]])
    i = mr.GuardedOutput((N, k), np.int32)
    o = mr.GuardedOutput((N, E), np.float32)
    a.y, a.expert_idx, a.out = y.address, i.address, o.address
    return _native_run(lib, ops.native_topk, a, threads, (y, i, o))


def native_softmax(lib, ops, c, threads, how):
    N, E, k = c["lead"][0], c["E"], c["k"]
    xv, rs, cs = _native_x(c["x"], how)
    a = ops.SoftmaxArgs()
    a.version, a.renorm, a.num_rows, a.num_experts, a.k = c["version"], c["renorm"], N, E, k
    a.x_dtype, a.x, a.x_row_stride, a.x_col_stride = NATIVE_DT[c["dt"]], _addr(xv), rs, cs
    keep = [xv]
    if c["finished"] is not None:
        fv = np.repeat(c["finished"].astype(np.uint8), 3)[::3]
        keep.append(fv)
        a.finished, a.finished_stride = _addr(fv), 3 if fv.size > 1 else 1
    y = mr.GuardedOutput((N, k), CARRIER[c["dt"]])
    i = mr.GuardedOutput((N, k), np.int32)
    t = mr.GuardedOutput((N, k) if c["version"] == 1 else (N, E), np.int32 if c["version"] == 1 else np.float32)
    a.y, a.expert_idx = y.address, i.address
    if c["version"] == 1:
        a.row_idx = t.address
    elif c["flag"]:
        a.softmax_out = t.address
    r = _native_run(lib, ops.native_softmax, a, threads, (y, i, t))
    if c["version"] == 2 and not c["flag"]:
        assert t.untouched()
    return r


def _same_bytes(a, b):
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


@pytest.mark.parametrize("index", range(N_NATIVE))
def test_native_topk_threads(lib, ops, seed, index):
    """moeroute_gating_top_k with 1, 2 and 3 threads: identical bytes, equal to the aclnn API (renorm 0) and to
    the model (renorm 0 and vllm-ascend's renorm 1)."""
    c, rng = gen_topk(seed, index, "native")
    if index % 4 == 0:  # enough rows for the pool
        c["N"] = int(rng.integers(50, 120))
        c["x"] = gen_logits(rng, c["dt"], (c["N"], c["E"]))
    c["out_flag"] = True
    how = pick(rng, ["contig", "negrow", "colmajor", "negcol"])
    renorm = int(index % 3 == 2)
    c["renorm"] = renorm
    ctxs = describe_topk(c) + " renorm %d x %s" % (renorm, how)
    results = [native_topk(lib, ops, c, t, how, renorm) for t in (1, 2, 3)]
    for r in results[1:]:
        for got, first in zip(r, results[0]):
            assert _same_bytes(got, first), "thread counts disagree\n  " + ctxs
    want = topk_golden(c)
    for name, got, w, dt in zip(("y", "expert_idx", "out"), results[0], want, (c["dt"], "i32", "f32")):
        assert_same(name, got, w, dt, ctxs, want[3], name == "out")
    if renorm == 0:
        phase, st, (gy, gi, go), desc = run_topk(lib, ops, c, rng)
        assert st == 0, (phase, st, lib.recent_err_msg())
        for got, nat in zip((gy.array(), gi.array(), go.array()), results[0]):
            assert _same_bytes(got, nat), "aclnn != native\n  " + ctxs


@pytest.mark.parametrize("index", range(N_NATIVE))
def test_native_softmax_threads(lib, ops, seed, index):
    """moeroute_gating_top_k_softmax (versions 1 and 2) with 1, 2 and 3 threads: identical bytes, equal to the
    aclnn API and the model; N = 0 included (the native API accepts it)."""
    c, rng = gen_softmax(seed, index, "native")
    if index % 4 == 0:
        c["lead"] = (int(rng.integers(50, 120)),)
        c["x"] = gen_logits(rng, c["dt"], c["lead"] + (c["E"],))
        if c["finished"] is not None:
            c["finished"] = rng.random(c["lead"]) < 0.3
    how = pick(rng, ["contig", "negrow", "colmajor", "negcol"])
    ctxs = describe_softmax(c) + " x " + how
    results = [native_softmax(lib, ops, c, t, how) for t in (1, 2, 3)]
    for r in results[1:]:
        for got, first in zip(r, results[0]):
            assert _same_bytes(got, first), "thread counts disagree\n  " + ctxs
    want = softmax_golden(c)
    assert_same("y", results[0][0], want[0], c["dt"], ctxs, want[3])
    assert_same("expert_idx", results[0][1], want[1], "i32", ctxs, want[3])
    if c["version"] == 1:
        assert_same("row_idx", results[0][2], want[2], "i32", ctxs)
    elif c["flag"]:
        assert_same("softmax_out", results[0][2], want[2], "f32", ctxs, want[3], True)
    if c["lead"][0] > 0:
        phase, st, (gy, gi, gt), desc = run_softmax(lib, ops, c, rng)
        assert st == 0, (phase, st, lib.recent_err_msg())
        assert _same_bytes(gy.array(), results[0][0]) and _same_bytes(gi.array(), results[0][1]), \
            "aclnn != native\n  " + ctxs


# ---------------------------------------------------------------------------------------------------------
# fixed cases
# ---------------------------------------------------------------------------------------------------------

def test_topk_empty_rows(lib, ops):
    """N = 0 through the aclnn API: success, nothing written."""
    rng = np.random.default_rng(1)
    c = dict(dt="f16", N=0, E=16, k=2, G=4, kg=2, mode=1, norm=1, x=np.zeros((0, 16), np.float16), bias=None,
             out_flag=True, rsf=1.0, eps=1e-20, renorm=0)
    phase, st, outs, desc = run_topk(lib, ops, c, rng)
    assert st == 0, (phase, st, lib.recent_err_msg())
    assert all(g.untouched() for g in outs)


def test_model_examples():
    """The model against values worked by hand (tests/c/test_gating.c has the same problems through the
    library)."""
    # softmax of [0, ln 3] with exact-ish exp: p = [1/4, 3/4]; selection ties to the lower index
    x = np.array([[0.0, 0.0, 1.0, 1.0]], np.float32)
    y, idx, _ = gg.gating_top_k_softmax(x, "f32", 3)
    assert idx.tolist() == [[2, 3, 0]]
    # NaN ranks last, -inf above it; -0 ties +0
    assert gg.order(np.array([np.nan, -np.inf, -0.0, 0.0, 1.0], np.float32)).tolist() == [4, 2, 3, 1, 0]
    # sigmoid(0) = 0.5 twice, sum 1 + eps, rsf 2: weights 1.0 each
    y, idx, s = gg.gating_top_k(np.zeros((1, 4), np.float32), "f32", 2, norm_type=1, routed_scaling_factor=2.0)
    assert idx.tolist() == [[0, 1]] and y.tolist() == [[1.0, 1.0]] and s.tolist() == [[0.5] * 4]
    # groups: 2 groups of 2, mode 1 sums [.1+.2, .9+0] -> group 1 alone; bias lifts expert 0 only for selection
    x = np.array([[0.1, 0.2, 0.9, 0.0]], np.float32)
    lo = np.log(x.astype(np.float64) + 1e-30).astype(np.float32)
    y, idx, s = gg.gating_top_k(lo, "f32", 2, k_group=1, group_count=2, group_select_mode=1)
    assert idx.tolist() == [[2, 3]]
    # V2 renorm 1: top-2 of [1, 3, 2] is [3, 2]; softmax over them = [e/(e+1), 1/(e+1)]
    y, idx, _ = gg.gating_top_k_softmax(np.array([[1.0, 3.0, 2.0]], np.float32), "f32", 2, version=2, renorm=1)
    assert idx.tolist() == [[1, 2]]
    assert y.tolist() == [[float(np.float32(1) / (np.float32(1) + np.float32(np.exp(-1.0)))),
                           float(np.float32(np.exp(-1.0)) / (np.float32(1) + np.float32(np.exp(-1.0))))]]
