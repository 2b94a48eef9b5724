"""aclnnMoeTokenUnpermute, aclnnMoeFinalizeRouting and aclnnMoeFinalizeRoutingV2 through the aclnn API
(ctypes), byte for byte against combine_golden, on randomized shapes, dtypes, optional-argument combinations,
index layouts, skipped and dropped slots, special values and strided input views (including negative
strides and 3-D drop-mode views). Data errors are injected too: the call must be refused at execute with
161002, a message naming the first offending position, and every output byte untouched.

Every randomized case comes from (session seed, operator, index): replay one with
  MOEROUTE_TEST_SEED=<seed> MOEROUTE_LIB=... python3 -m pytest 'tests/python/test_combine.py::test_v2_random[7]'
MOEROUTE_TEST_SCALE multiplies the number of randomized cases. CTest runs this file once per ISA level; the
larger cases are big enough for the thread pool to split them, so thread-count independence is exercised
against the single-threaded golden model as well.
"""

import ctypes
from fractions import Fraction

import numpy as np
import pytest

import combine_golden as cg
import moeroute_ctypes as mr
import routing_family_ctypes as rf
from moe_testenv import case_scale, pick

_vp = ctypes.c_void_p
_u64p = ctypes.POINTER(ctypes.c_uint64)
_vpp = ctypes.POINTER(ctypes.c_void_p)

ACL = {"f16": mr.ACL_FLOAT16, "bf16": mr.ACL_BF16, "f32": mr.ACL_FLOAT, "i32": mr.ACL_INT32}
CARRIER = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32, "i32": np.int32}
FILLS = {"f16": np.uint16(0xFBFF).view(np.float16), "bf16": np.uint16(0xFF7F), "f32": np.float32(-3.0e38),
         "i32": np.int32(-2 ** 31 + 7)}
KIND = {"unpermute": 21, "v1": 22, "v2": 23, "bad": 24}

N_UP = max(1, int(round(300 * case_scale())))
N_V1 = max(1, int(round(250 * case_scale())))
N_V2 = max(1, int(round(400 * case_scale())))
N_BAD = max(1, int(round(120 * case_scale())))

_ARGS = {
    "unpermute": [_vp, _vp, _vp, ctypes.c_bool, _vp, _vp],
    "v1": [_vp] * 8,
    "v2": [_vp] * 7 + [ctypes.c_int64, _vp],
}
_NAMES = {"unpermute": "aclnnMoeTokenUnpermute", "v1": "aclnnMoeFinalizeRouting", "v2": "aclnnMoeFinalizeRoutingV2"}


class Ops:
    def __init__(self, lib):
        self.lib = lib
        self.gws, self.exe = {}, {}
        for op, args in _ARGS.items():
            f = getattr(lib.dll, _NAMES[op] + "GetWorkspaceSize")
            f.restype = ctypes.c_int32
            f.argtypes = args + [_u64p, _vpp]
            e = getattr(lib.dll, _NAMES[op])
            e.restype = ctypes.c_int32
            e.argtypes = [_vp, ctypes.c_uint64, _vp, _vp]
            self.gws[op], self.exe[op] = f, e

    def run(self, op, args):
        """Both phases; returns (phase, status)."""
        ws, exe = ctypes.c_uint64(0xDEADBEEF), _vp(None)
        st = self.gws[op](*args, ctypes.byref(ws), ctypes.byref(exe))
        if st != 0:
            return "phase1", st
        buf = np.zeros(ws.value, np.uint8) if ws.value else None
        return "execute", self.exe[op](None if buf is None else buf.ctypes.data, ws.value, exe.value, None)


@pytest.fixture(scope="module")
def ops(lib):
    missing = [n + s for n in _NAMES.values() for s in ("", "GetWorkspaceSize") if not hasattr(lib.dll, n + s)]
    if missing:
        pytest.fail("libmoeroute (%s) does not export %s" % (lib.path, ", ".join(missing)))
    return Ops(lib)


# ---------------------------------------------------------------------------------------------------------
# tensors: inputs placed in strided views, outputs guarded
# ---------------------------------------------------------------------------------------------------------

class View3D:
    """[A, B, C] logical array in a 1-D storage through strides (contig, swapped outer dims, reversed C)."""

    def __init__(self, a, layout, fill):
        A, B, C = a.shape
        if layout == "contig":
            strides, off = (B * C, C, 1), 0
        elif layout == "swap":                     # storage [B, A, C]
            strides, off = (C, A * C, 1), 0
        else:                                       # "revcol": columns stored backwards
            strides, off = (B * C, C, -1), max(C - 1, 0)
        size = max(A * B * C, 1) + 3
        storage = np.empty(size, a.dtype)
        storage[...] = fill
        if a.size:
            i, j, k = np.meshgrid(np.arange(A), np.arange(B), np.arange(C), indexing="ij")
            storage[off + i * strides[0] + j * strides[1] + k * strides[2]] = a
        self.storage, self.dims, self.strides, self.offset = storage, (A, B, C), strides, off
        self.storage_dims = (size,)
        self.layout = layout

    def describe(self):
        return "%s dims=%s strides=%s" % (self.layout, self.dims, self.strides)


class Tensors:
    """Builds aclTensor handles for one call and keeps their buffers alive."""

    def __init__(self, lib, rng):
        self.lib, self.rng = lib, rng
        self.handles, self.views, self.outs = [], [], []
        self.desc = []

    def inp(self, name, a, dtype, layout=None):
        if a is None:
            self.desc.append("%s: NULL" % name)
            return None
        a = np.ascontiguousarray(np.asarray(a, CARRIER[dtype]))
        fill = FILLS[dtype]
        if a.ndim == 1:
            layout = layout or pick(self.rng, ["contig", "offset", "stride", "neg"], p=[0.55, 0.15, 0.15, 0.15])
            v = rf.make_view_1d(a, layout, self.rng, fill)
        elif a.ndim == 2:
            layout = layout or pick(self.rng, ["contig", "padded", "colmajor", "offset", "negrow", "negcol", "colstep"],
                                    p=[0.4] + [0.1] * 6)
            v = mr.make_view(a, layout, self.rng, fill)
        else:
            v = View3D(a, layout or pick(self.rng, ["contig", "swap", "revcol"]), fill)
        self.views.append(v)
        self.desc.append("%s: %s %s" % (name, dtype, v.describe()))
        h = self.lib.create_tensor(v.dims, ACL[dtype], v.strides, v.offset, v.storage_dims, v.storage.ctypes.data)
        self.handles.append(h)
        return h

    def out(self, name, shape, dtype):
        g = mr.GuardedOutput(shape, CARRIER[dtype])
        self.outs.append(g)
        self.desc.append("%s: %s %s" % (name, dtype, tuple(shape)))
        h = self.lib.create_tensor(shape, ACL[dtype], None, 0, None, g.address)
        self.handles.append(h)
        return h, g

    def destroy(self):
        self.lib.destroy_tensors(*self.handles)
        self.handles = []

    def describe(self):
        return "\n  ".join(self.desc)


def assert_equal_out(got, want, dtype, context):
    assert got.shape == want.shape, (got.shape, want.shape)
    gb = np.ascontiguousarray(got).view(np.uint8).reshape(got.size, -1) if got.size else np.zeros((0, 1), np.uint8)
    wb = np.ascontiguousarray(want).view(np.uint8).reshape(want.size, -1) if want.size else np.zeros((0, 1), np.uint8)
    both_nan = (cg.nan_mask(got, dtype) & cg.nan_mask(want, dtype)).reshape(-1)
    bad = (gb != wb).any(axis=1) & ~both_nan
    if bad.any():
        e = int(np.nonzero(bad)[0][0])
        where = tuple(int(i) for i in np.unravel_index(e, got.shape))
        raise AssertionError("out differs at %s: got %r (%s) want %r (%s); %d elements differ\n  %s" % (
            where, got.reshape(-1)[e], gb[e].tobytes().hex(), want.reshape(-1)[e], wb[e].tobytes().hex(),
            int(bad.sum()), context))


# ---------------------------------------------------------------------------------------------------------
# value generation
# ---------------------------------------------------------------------------------------------------------

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, -65504.0, 2.0 ** -24, -(2.0 ** -14), 1e30, -1e-30,
            0.5, 1.5, 2048.0, 1.0 + 2.0 ** -8, 3.0e38]


def to_carrier(v, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(v, np.float64)
        if dtype == "f16":
            return v.astype(np.float16)
        if dtype == "f32":
            return v.astype(np.float32)
        return cg.f32_to_bf16(v.astype(np.float32), False)


def gen_values(rng, dtype, shape, allow_bits=True):
    """Values that make the per-step rounding matter: mixed magnitudes, ties, now and then raw bit patterns
    (NaN, inf, subnormals) and specials."""
    mode = pick(rng, ["normal", "wide", "ints", "bits"], p=[0.45, 0.25, 0.2, 0.1] if allow_bits else [0.5, 0.3, 0.2, 0])
    n = int(np.prod(shape)) if len(shape) else 1
    if mode == "bits":
        if dtype == "f32":
            return rng.integers(0, 2 ** 32, shape, dtype=np.uint64).astype(np.uint32).view(np.float32)
        b = rng.integers(0, 2 ** 16, shape, dtype=np.uint64).astype(np.uint16)
        return b.view(np.float16) if dtype == "f16" else b
    if mode == "normal":
        v = rng.standard_normal(shape) * pick(rng, [0.1, 1.0, 30.0])
    elif mode == "wide":
        v = rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 4, shape)
    else:                                       # small integers and halves: sums land on ties
        v = rng.integers(-64, 65, shape) / pick(rng, [1.0, 2.0, 4.0]) + pick(rng, [0.0, 1024.0, 2048.0, 256.0])
    x = to_carrier(v, dtype)
    if n and rng.random() < 0.3:
        m = rng.random(shape) < pick(rng, [0.01, 0.05])
        x = np.where(m, to_carrier(np.array(SPECIALS)[rng.integers(0, len(SPECIALS), shape)], dtype), x).astype(x.dtype)
    return x


def gen_size(rng):
    u = rng.random()
    if u < 0.05:
        return pick(rng, [0, 1])
    if u < 0.8:
        return int(rng.integers(1, 40))
    return int(rng.integers(40, 130))


def gen_h(rng):
    return pick(rng, [0, 1, 2, 3, 7, 8, 16, 31, 64, 100, 255, 256, 257, 300, 513])


def _maybe_big(rng, n, k, h):
    """Now and then a case large enough for the thread pool (work = n * (k + 1) * h >= 128K)."""
    if rng.random() < 0.08:
        return int(rng.integers(120, 260)), max(k, 4), pick(rng, [256, 300, 700])
    while n > 1 and n * (k + 1) * max(h, 1) > 400_000:
        n //= 2
    return n, k, h


# ---------------------------------------------------------------------------------------------------------
# MoeTokenUnpermute
# ---------------------------------------------------------------------------------------------------------

def gen_unpermute(seed, index, bad=False):
    rng = np.random.default_rng([seed, KIND["bad" if bad else "unpermute"], index])
    tdt, pdt = pick(rng, list(cg.DTYPES)), pick(rng, list(cg.DTYPES))
    has_probs = bad or rng.random() < 0.85
    T = gen_size(rng)
    k = (0 if rng.random() < 0.03 else int(rng.integers(1, 9))) if has_probs else 1
    H = gen_h(rng)
    T, kk, H = _maybe_big(rng, T, k, H)
    if has_probs and k != 0:
        k = kk
    if bad:
        T, k = max(T, 1), max(k, 1)
    L = T * k
    mmode = pick(rng, ["full", "trunc", "more"], p=[0.5, 0.35, 0.15])
    M = L if mmode == "full" else int(rng.integers(0, L + 1)) if mmode == "trunc" else L + int(rng.integers(1, 5))
    if rng.random() < 0.7:
        idx = rng.permutation(max(L, 0)).astype(np.int64)
    else:
        idx = rng.integers(-3, M + 4, L)
    probs = None
    if has_probs:
        probs = gen_values(rng, pdt, (T, k))
        if L and rng.random() < 0.5:          # exact zeros of both signs: skipped slots
            z = rng.random((T, k)) < 0.2
            probs = np.where(z, to_carrier(np.where(rng.random((T, k)) < 0.5, 0.0, -0.0), pdt), probs).astype(probs.dtype)
        neg = idx.reshape(T, k) < 0
        probs = np.where(neg, to_carrier(np.where(rng.random((T, k)) < 0.5, 0.0, -0.0), pdt), probs).astype(probs.dtype)
    else:
        idx = np.where(idx < 0, M + 1, idx)
    if bad:                                   # one kept slot with a negative index
        t, j = int(rng.integers(0, T)), int(rng.integers(0, k))
        idx[t * k + j] = pick(rng, [-1, -2, -(2 ** 31)])
        probs[t, j] = to_carrier(pick(rng, [1.0, -0.5, 3.0, np.nan]), pdt)
    tokens = gen_values(rng, tdt, (M, H))
    return dict(tdt=tdt, pdt=pdt, tokens=tokens, idx=idx.astype(np.int32), probs=probs, T=T, k=k, H=H, M=M), rng


def run_unpermute(lib, ops, c, rng):
    tz = Tensors(lib, rng)
    try:
        a = [tz.inp("permutedTokens", c["tokens"], c["tdt"]), tz.inp("sortedIndices", c["idx"], "i32"),
             tz.inp("probsOptional", c["probs"], c["pdt"])]
        h, g = tz.out("out", (c["T"], c["H"]), c["tdt"])
        lib.recent_err_msg()
        phase, st = ops.run("unpermute", a[:3] + [False, None, h])
        return phase, st, g, tz.describe()
    finally:
        tz.destroy()


@pytest.mark.parametrize("index", range(N_UP))
def test_unpermute_random(lib, ops, seed, index):
    c, rng = gen_unpermute(seed, index)
    want = cg.token_unpermute(c["tokens"], c["tdt"], c["idx"], c["probs"], c["pdt"])
    phase, st, g, desc = run_unpermute(lib, ops, c, rng)
    ctx = "T=%d k=%d H=%d M=%d\n  %s" % (c["T"], c["k"], c["H"], c["M"], desc)
    assert st == 0, "%s returned %d (%r)\n  %s" % (phase, st, lib.recent_err_msg(), ctx)
    assert g.guards_intact(), ctx
    assert_equal_out(g.array(), want, c["tdt"], ctx)


@pytest.mark.parametrize("index", range(N_BAD))
def test_unpermute_refused(lib, ops, seed, index):
    c, rng = gen_unpermute(seed, index, bad=True)
    with pytest.raises(cg.Refused) as r:
        cg.token_unpermute(c["tokens"], c["tdt"], c["idx"], c["probs"], c["pdt"])
    phase, st, g, desc = run_unpermute(lib, ops, c, rng)
    msg = lib.recent_err_msg()
    assert (phase, st) == ("execute", mr.ACLNN_ERR_PARAM_INVALID), (phase, st, msg, desc)
    assert msg and r.value.where in msg, (r.value.where, msg)
    assert g.untouched(), desc


# ---------------------------------------------------------------------------------------------------------
# MoeFinalizeRouting (V1)
# ---------------------------------------------------------------------------------------------------------

def gen_v1(seed, index, bad=False):
    rng = np.random.default_rng([seed, KIND["bad" if bad else "v1"], index + (10 ** 6 if bad else 0)])
    dt = pick(rng, list(cg.DTYPES))
    N, K, H = gen_size(rng), int(rng.integers(1, 9)), gen_h(rng)
    N, K, H = _maybe_big(rng, N, K, H)
    if bad:
        N = max(N, 1)
    E = int(rng.integers(1, 20))
    M = N * K + (int(rng.integers(1, 4)) if rng.random() < 0.15 else 0)
    ri = rng.permutation(M)[:M] if rng.random() < 0.7 else rng.integers(0, max(M, 1), M)
    ri = ri.astype(np.int32) if M else np.zeros(0, np.int32)
    ei = rng.integers(0, E, (N, K)).astype(np.int32)
    c = dict(dt=dt, N=N, K=K, H=H, E=E, M=M, ri=ri, ei=ei,
             ex=gen_values(rng, dt, (M, H)), x1=gen_values(rng, dt, (N, H)),
             x2=gen_values(rng, dt, (N, H)) if rng.random() < 0.5 else None,
             bias=gen_values(rng, dt, (E, H)), scales=gen_values(rng, dt, (N, K)))
    if bad:
        i, k = int(rng.integers(0, N)), int(rng.integers(0, K))
        if rng.random() < 0.5:
            c["ri"][i + k * N] = pick(rng, [-1, M, M + 7, -(2 ** 31), 2 ** 31 - 1])
        else:
            c["ei"][i, k] = pick(rng, [-1, E, E + 3, 2 ** 31 - 1])
    return c, rng


def run_v1(lib, ops, c, rng):
    tz = Tensors(lib, rng)
    try:
        a = [tz.inp("expandedX", c["ex"], c["dt"]), tz.inp("x1", c["x1"], c["dt"]), tz.inp("x2Optional", c["x2"], c["dt"]),
             tz.inp("bias", c["bias"], c["dt"]), tz.inp("scales", c["scales"], c["dt"]),
             tz.inp("expandedRowIdx", c["ri"], "i32"), tz.inp("expandedExpertIdx", c["ei"], "i32")]
        h, g = tz.out("out", (c["N"], c["H"]), c["dt"])
        lib.recent_err_msg()
        phase, st = ops.run("v1", a + [h])
        return phase, st, g, tz.describe()
    finally:
        tz.destroy()


@pytest.mark.parametrize("index", range(N_V1))
def test_v1_random(lib, ops, seed, index):
    c, rng = gen_v1(seed, index)
    want = cg.finalize_routing(c["ex"], c["x1"], c["x2"], c["bias"], c["scales"], c["ri"], c["ei"], c["dt"])
    phase, st, g, desc = run_v1(lib, ops, c, rng)
    ctx = "%s N=%d K=%d H=%d E=%d M=%d\n  %s" % (c["dt"], c["N"], c["K"], c["H"], c["E"], c["M"], desc)
    assert st == 0, "%s returned %d (%r)\n  %s" % (phase, st, lib.recent_err_msg(), ctx)
    assert g.guards_intact(), ctx
    assert_equal_out(g.array(), want, c["dt"], ctx)


@pytest.mark.parametrize("index", range(N_BAD))
def test_v1_refused(lib, ops, seed, index):
    c, rng = gen_v1(seed, index, bad=True)
    with pytest.raises(cg.Refused) as r:
        cg.finalize_routing(c["ex"], c["x1"], c["x2"], c["bias"], c["scales"], c["ri"], c["ei"], c["dt"])
    phase, st, g, desc = run_v1(lib, ops, c, rng)
    msg = lib.recent_err_msg()
    assert (phase, st) == ("execute", mr.ACLNN_ERR_PARAM_INVALID), (phase, st, msg, desc)
    assert msg and r.value.where in msg, (r.value.where, msg)
    assert g.untouched(), desc


# ---------------------------------------------------------------------------------------------------------
# MoeFinalizeRoutingV2
# ---------------------------------------------------------------------------------------------------------

def gen_v2(seed, index, bad=False):
    rng = np.random.default_rng([seed, KIND["bad" if bad else "v2"], index + (2 * 10 ** 6 if bad else 0)])
    dt = pick(rng, list(cg.DTYPES))
    sdt = "f32" if dt == "bf16" and rng.random() < 0.5 else dt
    mode = int(rng.integers(0, 4))
    drop = mode in (1, 3)
    has_scales = rng.random() < 0.75
    N, H = gen_size(rng), gen_h(rng)
    K = int(rng.integers(1, 9)) if has_scales else 1
    N, K, H = _maybe_big(rng, N, K, H)
    if not has_scales:
        K = 1
    if bad:
        N = max(N, 1)
    L = N * K
    if drop:
        Ed, C = int(rng.integers(0 if rng.random() < 0.05 else 1, 12)), int(rng.integers(1, 6))
        M = Ed * C
        ex = gen_values(rng, dt, (Ed, C, H))
        ri = rng.integers(0, M, L) if M else np.full(L, -1)
        ri = np.where(rng.random(L) < pick(rng, [0.0, 0.2, 0.6, 1.0]), -1, ri)
        E = Ed
    else:
        M = L + (int(rng.integers(1, 4)) if rng.random() < 0.15 else 0) - (int(rng.integers(0, L + 1)) if rng.random() < 0.1 else 0)
        M = max(M, 0)
        ex = gen_values(rng, dt, (M, H))
        ri = (rng.permutation(L) % max(M, 1)) if M else np.zeros(L, np.int64)
        if M == 0:
            N, K, L = 0, K, 0
            ri = np.zeros(0, np.int64)
        E = int(rng.integers(max(K, 1), K + 10))
    has_bias = E >= max(K, 1) and rng.random() < 0.55
    has_eidx = has_bias or rng.random() < 0.2
    c = dict(dt=dt, sdt=sdt, mode=mode, N=N, K=K, H=H, E=E, M=M, ex=ex, ri=np.asarray(ri, np.int64).astype(np.int32),
             x1=gen_values(rng, dt, (N, H)) if rng.random() < 0.5 else None,
             x2=gen_values(rng, dt, (N, H)) if rng.random() < 0.5 else None,
             bias=gen_values(rng, dt, (E, H)) if has_bias else None,
             scales=gen_values(rng, sdt, (N, K)) if has_scales else None,
             eidx=None)
    if has_eidx:
        eidx = rng.integers(0, max(E, 1), (N, K))
        if not has_bias and rng.random() < 0.5:
            eidx = rng.integers(-5, 1000, (N, K))           # unused without a bias: any value
        if drop and has_bias and L:                          # dropped slots' ids are never read
            pos = (np.arange(N)[:, None] * K + np.arange(K)[None, :]) if mode == 3 else \
                  (np.arange(N)[:, None] + np.arange(K)[None, :] * N)
            dropped = c["ri"][pos] == -1
            eidx = np.where(dropped & (rng.random((N, K)) < 0.5), 12345, eidx)
        c["eidx"] = eidx.astype(np.int32)
    if bad:
        if not L:
            return None, rng
        i, k = int(rng.integers(0, N)), int(rng.integers(0, K))
        p = i * K + k if mode in (2, 3) else i + k * N
        if has_bias and M and rng.random() < 0.5:       # a kept slot with an expert id outside [0, E)
            c["ri"][p] = int(rng.integers(0, M))
            c["eidx"][i, k] = pick(rng, [-1, E, E + 5])
        else:                                           # a row index outside its range
            c["ri"][p] = pick(rng, [M, M + 3, -2, -(2 ** 31)] + ([] if drop else [-1]))
    return c, rng


def run_v2(lib, ops, c, rng):
    tz = Tensors(lib, rng)
    try:
        a = [tz.inp("expandedX", c["ex"], c["dt"]), tz.inp("expandedRowIdx", c["ri"], "i32"),
             tz.inp("x1Optional", c["x1"], c["dt"]), tz.inp("x2Optional", c["x2"], c["dt"]),
             tz.inp("biasOptional", c["bias"], c["dt"]), tz.inp("scalesOptional", c["scales"], c["sdt"]),
             tz.inp("expertIdxOptional", c["eidx"], "i32")]
        h, g = tz.out("out", (c["N"], c["H"]), c["dt"])
        lib.recent_err_msg()
        phase, st = ops.run("v2", a + [c["mode"], h])
        return phase, st, g, tz.describe()
    finally:
        tz.destroy()


def v2_golden(c):
    return cg.finalize_routing_v2(c["ex"], c["ri"], c["x1"], c["x2"], c["bias"], c["scales"], c["eidx"], c["mode"],
                                  c["dt"], c["sdt"])


@pytest.mark.parametrize("index", range(N_V2))
def test_v2_random(lib, ops, seed, index):
    c, rng = gen_v2(seed, index)
    want = v2_golden(c)
    phase, st, g, desc = run_v2(lib, ops, c, rng)
    ctx = "%s/%s mode %d N=%d K=%d H=%d E=%d M=%d\n  %s" % (c["dt"], c["sdt"], c["mode"], c["N"], c["K"], c["H"],
                                                           c["E"], c["M"], desc)
    assert st == 0, "%s returned %d (%r)\n  %s" % (phase, st, lib.recent_err_msg(), ctx)
    assert g.guards_intact(), ctx
    assert_equal_out(g.array(), want, c["dt"], ctx)


@pytest.mark.parametrize("index", range(N_BAD))
def test_v2_refused(lib, ops, seed, index):
    c, rng = gen_v2(seed, index, bad=True)
    if c is None:
        pytest.skip("empty case")
    with pytest.raises(cg.Refused) as r:
        v2_golden(c)
    phase, st, g, desc = run_v2(lib, ops, c, rng)
    msg = lib.recent_err_msg()
    assert (phase, st) == ("execute", mr.ACLNN_ERR_PARAM_INVALID), (phase, st, msg, desc)
    assert msg and r.value.where in msg, (r.value.where, msg)
    assert g.untouched(), desc


# ---------------------------------------------------------------------------------------------------------
# fixed cases and the model's own primitives
# ---------------------------------------------------------------------------------------------------------

def _bf16_ref(x, ties_away):
    """float32 -> bf16 bits by exact rational rounding (finite, non-NaN x)."""
    f = Fraction(float(x))
    if f == 0:
        return 0x8000 if np.signbit(x) else 0
    sign = 0x8000 if f < 0 else 0
    a = abs(f)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    e = max(e, -126)
    q = Fraction(2) ** (e - 7)
    n, rem = divmod(a, q)
    half = Fraction(1, 2)
    frac = rem / q
    if frac > half or (frac == half and (ties_away or n % 2 == 1)):
        n += 1
    v = n * q
    if v >= Fraction(2) ** 128:
        return sign | 0x7F80
    return sign | int(np.float32(float(v)).view(np.uint32) >> 16)


def test_model_bf16_rounding():
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2 ** 32, 4000, dtype=np.uint64).astype(np.uint32)
    bits[:6] = [0x3F808000, 0x3F818000, 0xBF808000, 0x7F7FFFFF, 0x7F7F8000, 0x00008000]
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    for ties_away in (False, True):
        got = cg.f32_to_bf16(x, ties_away)
        want = np.array([_bf16_ref(v, ties_away) for v in x], np.uint16)
        assert np.array_equal(got, want), ties_away


def test_model_examples():
    # routing spec 6: problem F of tests/c/test_combine.c, worked by hand there
    ex = np.arange(1, 9, dtype=np.float32).reshape(4, 2)
    x1 = np.array([[10, 20], [30, 40]], np.float32)
    x2 = np.array([[1, 1], [2, 2]], np.float32)
    bias = np.array([[.5, .5], [-1, 1]], np.float32)
    sc = np.array([[.5, .25], [1, 2]], np.float32)
    ri = np.array([2, 0, 3, 1], np.int32)
    ei = np.array([[1, 0], [0, 1]], np.int32)
    out = cg.finalize_routing(ex, x1, x2, bias, sc, ri, ei, "f32")
    assert out.tolist() == [[14.875, 26.625], [37.5, 54.5]]
    out2 = cg.finalize_routing_v2(ex.reshape(2, 2, 2), np.array([2, -1, -1, 1], np.int32), x1, x2, bias, sc, ei, 1,
                                  "f32")
    assert out2.tolist() == [[13, 24.5], [36, 52]]
    # fp16 steps: 1024 + .5 + .5 stays 1024; unpermute sums fp16 rows in fp32: 2048 + 1 + 1 = 2050
    h = cg.finalize_routing(np.array([[.5], [.5]], np.float16), np.array([[1024]], np.float16), None,
                            np.zeros((1, 1), np.float16), np.ones((1, 2), np.float16), np.array([0, 1], np.int32),
                            np.zeros((1, 2), np.int32), "f16")
    assert h.tolist() == [[1024.0]]
    u = cg.token_unpermute(np.array([[2048], [1], [1]], np.float16), "f16", np.array([0, 1, 2], np.int32),
                           np.ones((1, 3), np.float16), "f16")
    assert u.tolist() == [[2050.0]]


def test_documented_layer_walkthrough(lib, ops):
    """vllm-ascend's use (layer spec 14.1): MoeTokenUnpermute on the abs() of a V3 row index where non-local
    slots (-1 -> 1) carry prob 0: skipped, so the result is defined."""
    rng = np.random.default_rng(11)
    T, k, H = 3, 2, 4
    tokens = rng.standard_normal((T * k, H)).astype(np.float32)
    idx = np.abs(np.array([0, -1, 2, 3, -1, 5], np.int32))
    probs = np.array([[.5, 0], [.25, .75], [0, 1]], np.float32)
    c = dict(tdt="f32", pdt="f32", tokens=tokens, idx=idx, probs=probs, T=T, k=k, H=H, M=T * k)
    phase, st, g, desc = run_unpermute(lib, ops, c, rng)
    assert st == 0, (phase, st, lib.recent_err_msg())
    want = np.stack([np.float32(.5) * tokens[0], np.float32(.25) * tokens[2] + np.float32(.75) * tokens[3],
                     np.float32(1) * tokens[5]])
    assert_equal_out(g.array(), want.astype(np.float32), "f32", desc)
