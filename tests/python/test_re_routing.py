"""aclnnMoeReRouting and moeroute_re_routing against an independent numpy model of layer spec 4.2, byte for byte:
randomized ranks, experts, counts (zeros, empty ranks and experts), token dtypes (float16, bfloat16 bits, int8),
INT32 / INT64 counts, with and without per-token scales, strided input views (negative and zero strides too);
the native API with contexts of 1..4 threads, all giving the same bytes; injected data errors (a negative
count, counts not summing to A) refused at execute with 161002, a message and every output byte untouched.

The model (re_routing_golden.py) states the operator differently from the library: a stable sort of the rows
by the key (expert, source rank) of their block.

Every randomized case comes from (session seed, index): replay one with
  MOEROUTE_TEST_SEED=<seed> MOEROUTE_LIB=... python3 -m pytest 'tests/python/test_re_routing.py::test_random[7]'
MOEROUTE_TEST_SCALE multiplies the number of randomized cases. CTest runs this file once per ISA level.
"""

import ctypes

import numpy as np
import pytest

import moeroute_ctypes as mr
from re_routing_golden import model
from moe_testenv import case_scale

_vp = ctypes.c_void_p
N_RANDOM = max(1, int(round(150 * case_scale())))
N_NATIVE = max(1, int(round(40 * case_scale())))
N_BAD = max(1, int(round(40 * case_scale())))

ACL = {"f16": mr.ACL_FLOAT16, "bf16": mr.ACL_BF16, "i8": mr.ACL_INT8, "i32": mr.ACL_INT32, "i64": mr.ACL_INT64}
NATIVE_DT = {"f16": 1, "bf16": 27, "i8": 2}
_EMPTY = np.zeros(4, np.float32)
CARRIER = {"f16": np.uint16, "bf16": np.uint16, "i8": np.int8, "i32": np.int32, "i64": np.int64}


def test_model_example():
    """layer spec 4.2 worked by hand: counts [[1, 0, 2], [2, 1, 1]] (problem P of tests/c/test_re_routing.c)."""
    tok = np.arange(14, dtype=np.int8).reshape(7, 2)
    _, _, idx, num = model(tok, np.array([[1, 0, 2], [2, 1, 1]], np.int32), None)
    assert idx.tolist() == [0, 3, 4, 5, 1, 2, 6] and num.tolist() == [3, 1, 3]


class Op:
    def __init__(self, lib):
        self.lib = lib
        d = lib.dll
        self.gws = d.aclnnMoeReRoutingGetWorkspaceSize
        self.gws.restype = ctypes.c_int32
        self.gws.argtypes = [_vp, _vp, _vp, ctypes.c_int64, ctypes.c_int64, _vp, _vp, _vp, _vp,
                             ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(_vp)]
        self.exe = d.aclnnMoeReRouting
        self.exe.restype = ctypes.c_int32
        self.exe.argtypes = [_vp, ctypes.c_uint64, _vp, _vp]
        self.Args = mr._layout_module().struct_type(d, "moeroute_re_routing_args")
        self.native = d.moeroute_re_routing
        self.native.restype = ctypes.c_int
        self.native.argtypes = [_vp, ctypes.POINTER(self.Args)]


@pytest.fixture(scope="module")
def op(lib):
    for name in ("aclnnMoeReRoutingGetWorkspaceSize", "aclnnMoeReRouting", "moeroute_re_routing"):
        if not hasattr(lib.dll, name):
            pytest.fail("libmoeroute (%s) does not export %s" % (lib.path, name))
    return Op(lib)


def gen_case(seed, index, tag):
    rng = np.random.default_rng([seed, tag, index])
    R, E = int(rng.integers(1, 6)), int(rng.integers(1, 9))
    big = index % 10 == 9  # now and then enough rows for the thread pool
    hi = 60 if big else 6
    counts = rng.integers(0, hi, size=(R, E))
    counts[rng.random((R, E)) < 0.25] = 0
    if rng.random() < 0.1:
        counts[:] = 0  # A = 0
    A = int(counts.sum())
    H = int(rng.choice([1, 3, 16, 129, 1000])) if big else int(rng.integers(1, 40))
    tdt = ("f16", "bf16", "i8")[index % 3]
    cdt = ("i32", "i64")[(index // 3) % 2]
    info = np.iinfo(CARRIER[tdt])
    tokens = rng.integers(info.min, info.max, size=(A, H), endpoint=True).astype(CARRIER[tdt])
    scales = rng.standard_normal(A).astype(np.float32) if rng.random() < 0.6 else None
    return rng, tdt, cdt, tokens, counts.astype(CARRIER[cdt]), scales


def _scales_view(rng, scales):
    """A 1-D float32 view of scales with stride 1, 3 or -2: (storage, stride, offset)."""
    A = scales.size
    s = int(rng.choice([1, 3, -2]))
    store = np.full(max(1, A * abs(s) + 2), np.float32(7.25), np.float32)
    off = (A - 1) * -s if s < 0 and A else 0
    if A:
        store[off + np.arange(A) * s] = scales
    return store, s, off


def run_aclnn(lib, op, rng, tdt, cdt, tokens, counts, scales, layouts=True):
    """Both phases on (possibly strided) views; returns (phase, status, outputs as GuardedOutput)."""
    A, H = tokens.shape
    R, E = counts.shape
    tl = str(rng.choice(mr.VIEW_LAYOUTS[:7])) if layouts and A and H else "contig"
    cl = str(rng.choice(mr.VIEW_LAYOUTS[:7])) if layouts else "contig"
    tv = mr.make_view(tokens, tl, rng, np.array(0x55).astype(tokens.dtype))
    cv = mr.make_view(counts, cl, rng, np.array(-1).astype(counts.dtype))
    ts = []
    t_tok = lib.create_tensor(tv.dims, ACL[tdt], strides=tv.strides, offset=tv.offset, storage_dims=tv.storage_dims,
                              data=tv.storage)
    t_cnt = lib.create_tensor(cv.dims, ACL[cdt], strides=cv.strides, offset=cv.offset, storage_dims=cv.storage_dims,
                              data=cv.storage)
    ts += [t_tok, t_cnt]
    t_sc = None
    if scales is not None:
        store, s, off = _scales_view(rng, scales)
        t_sc = lib.create_tensor((A,), mr.ACL_FLOAT, strides=(s,), offset=off, storage_dims=(store.size,), data=store)
        ts += [t_sc, store]
    outs = (mr.GuardedOutput((A, H), tokens.dtype), mr.GuardedOutput((A,), np.float32),
            mr.GuardedOutput((A,), np.int32), mr.GuardedOutput((E,), counts.dtype))
    t_out = [lib.create_tensor(outs[0].shape, ACL[tdt], data=outs[0].address),
             lib.create_tensor(outs[1].shape, mr.ACL_FLOAT, data=outs[1].address),
             lib.create_tensor(outs[2].shape, mr.ACL_INT32, data=outs[2].address),
             lib.create_tensor(outs[3].shape, ACL[cdt], data=outs[3].address)]
    ws, exe = ctypes.c_uint64(0), _vp(None)
    st = op.gws(t_tok, t_cnt, t_sc, 1, 0, *t_out, ctypes.byref(ws), ctypes.byref(exe))
    phase = "phase1"
    if st == 0:
        phase = "execute"
        buf = np.zeros(max(1, ws.value), np.uint8)
        st = op.exe(buf.ctypes.data, ws.value, exe.value, None)
    lib.destroy_tensors(t_tok, t_cnt, t_sc, *t_out)
    return phase, st, outs, (tl, cl)


def check_outputs(outs, want, context):
    names = ("permuteTokensOut", "permutePerTokenScalesOut", "permuteTokenIdxOut", "expertTokenNumOut")
    for o, w, n in zip(outs, want, names):
        assert o.guards_intact(), "%s: %s wrote outside its bounds" % (context, n)
        got = o.array()
        assert got.shape == w.shape and np.array_equal(got.view(np.uint8), np.ascontiguousarray(w).view(np.uint8)), \
            "%s: %s differs" % (context, n)


@pytest.mark.parametrize("index", range(N_RANDOM))
def test_random(lib, op, seed, index):
    rng, tdt, cdt, tokens, counts, scales = gen_case(seed, index, 41)
    phase, st, outs, layouts = run_aclnn(lib, op, rng, tdt, cdt, tokens, counts, scales)
    ctx = "case %d (%s tokens %s, counts %s %s, scales %s, views %s)" % (index, tdt, tokens.shape, cdt,
                                                                       counts.tolist(), scales is not None, layouts)
    assert st == 0, "%s: %s status %d: %s" % (ctx, phase, st, lib.recent_err_msg())
    check_outputs(outs, model(tokens, counts, scales), ctx)


def _native_args(op, tdt, cdt, tokens, counts, scales, outs):
    a = op.Args()
    A, H = tokens.shape
    R, E = counts.shape
    a.num_rows, a.hidden, a.num_ranks, a.num_experts = A, H, R, E
    a.tokens_dtype = NATIVE_DT[tdt]
    a.tokens = tokens.ctypes.data if tokens.size else None
    a.tokens_row_stride, a.tokens_col_stride = (s // tokens.itemsize for s in tokens.strides)
    a.counts_int64 = 1 if cdt == "i64" else 0
    a.counts = counts.ctypes.data
    a.counts_row_stride, a.counts_col_stride = (s // counts.itemsize for s in counts.strides)
    if scales is not None:
        a.scales = scales.ctypes.data if scales.size else _EMPTY.ctypes.data  # given, even when empty
        a.scales_stride = scales.strides[0] // 4
    a.permuted_tokens, a.permuted_scales, a.permuted_idx, a.expert_tokens = (o.address for o in outs)
    return a


@pytest.mark.parametrize("index", range(N_NATIVE))
def test_native_threads(lib, op, seed, index):
    """The native API through numpy views (negative strides included) with contexts of 1..4 threads: the
    model's bytes every time."""
    rng, tdt, cdt, tokens, counts, scales = gen_case(seed, index, 42)
    if tokens.shape[0] > 1 and index % 2:
        tokens = np.ascontiguousarray(tokens[::-1])[::-1]  # negative row stride over the same rows
    counts_t = np.ascontiguousarray(counts.T).T  # column-major counts
    sc = None if scales is None else np.ascontiguousarray(np.repeat(scales, 2))[::2]  # stride 2
    want = model(tokens, counts, scales)
    for threads in (1, 2, 3, 4):
        ctx = lib.context_create(num_threads=threads)
        try:
            outs = (mr.GuardedOutput(want[0].shape, tokens.dtype), mr.GuardedOutput(want[1].shape, np.float32),
                    mr.GuardedOutput(want[2].shape, np.int32), mr.GuardedOutput(want[3].shape, counts.dtype))
            st = op.native(ctx, ctypes.byref(_native_args(op, tdt, cdt, tokens, counts_t, sc, outs)))
            assert st == 0, "native, %d threads: %s" % (threads, lib.native_err_msg())
            check_outputs(outs, want, "native case %d with %d threads" % (index, threads))
        finally:
            lib.context_destroy(ctx)


@pytest.mark.parametrize("index", range(N_BAD))
def test_bad_counts_refused(lib, op, seed, index):
    """A negative count or counts not summing to A: 161002 at execute, a message naming it, nothing written."""
    rng, tdt, cdt, tokens, counts, scales = gen_case(seed, index, 43)
    counts = counts.copy()
    R, E = counts.shape
    r, e = int(rng.integers(0, R)), int(rng.integers(0, E))
    kind = index % 3
    if kind == 0:  # a negative count, the sum kept at A by the next block where there is one
        counts[r, e] -= counts[r, e] + 1
        want_text = "negative"
    elif kind == 1:
        counts[r, e] += int(rng.integers(1, 5))  # sum above A
        want_text = "sum"
    else:
        if counts.sum() == 0:
            tokens = np.zeros((1, tokens.shape[1]), tokens.dtype)  # A = 1 with zero counts
            scales = None if scales is None else np.zeros(1, np.float32)
        else:
            rr, ee = np.argwhere(counts > 0)[0]
            counts[rr, ee] -= 1  # sum below A
        want_text = "sum"
    phase, st, outs, _ = run_aclnn(lib, op, rng, tdt, cdt, tokens, counts, scales)
    msg = lib.recent_err_msg() or ""
    assert (phase, st) == ("execute", 161002), "bad counts %s: %s %d %s" % (counts.tolist(), phase, st, msg)
    assert "expertTokenNumPerRank" in msg and want_text in msg, msg
    assert all(o.untouched() for o in outs), "a refused call wrote an output"


def test_refusals_phase1(lib, op):
    """Attribute, shape and dtype refusals of spec 4.3 with their statuses (tests/c/test_re_routing.c has
    every one; these check that the Python binding of the entry point sees the same)."""
    tokens = np.zeros((3, 4), np.uint16)
    counts = np.array([[1, 2]], np.int32)

    def call(num_type=1, idx_type=0, tdt="f16", out_rows=3):
        t = lib.create_tensor((3, 4), ACL[tdt], data=tokens)
        c = lib.create_tensor((1, 2), mr.ACL_INT32, data=counts)
        outs = (mr.GuardedOutput((out_rows, 4), np.uint16), mr.GuardedOutput((3,), np.float32),
                mr.GuardedOutput((3,), np.int32), mr.GuardedOutput((2,), np.int32))
        to = [lib.create_tensor(outs[0].shape, ACL[tdt], data=outs[0].address),
              lib.create_tensor((3,), mr.ACL_FLOAT, data=outs[1].address),
              lib.create_tensor((3,), mr.ACL_INT32, data=outs[2].address),
              lib.create_tensor((2,), mr.ACL_INT32, data=outs[3].address)]
        ws, exe = ctypes.c_uint64(0), _vp(None)
        st = op.gws(t, c, None, num_type, idx_type, *to, ctypes.byref(ws), ctypes.byref(exe))
        lib.destroy_tensors(t, c, *to)
        if st != 0:
            assert all(o.untouched() for o in outs)
            return st
        buf = np.zeros(ws.value, np.uint8)
        return op.exe(buf.ctypes.data, ws.value, exe.value, None)

    assert call() == 0
    assert call(num_type=0) == 561002
    assert call(idx_type=1) == 561002
    assert call(out_rows=2) == 561002
    assert call(tdt="i32") == 161002
