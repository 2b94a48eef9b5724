"""Error paths through ctypes: status codes, messages, untouched outputs, executor lifetime.

(The C tests cover every validation rule; this file checks the ones most visible from a binding.)
"""

import re

import numpy as np
import pytest

import moe_golden as g
import moeroute_ctypes as mr

N, K, H = 5, 3, 4
L = N * K


class Setup:
    """A valid small MoeInitRouting(Quant) call whose pieces a test can spoil."""

    def __init__(self, lib, quant=True, dtype="f16", row=None, active=N, x_dims=None, x_dtype=None,
                 out_x_dtype=None, row_dtype="i32", seed=5):
        self.lib = lib
        self.quant = quant
        self.dtype = dtype
        rng = np.random.default_rng(seed)
        self.x = (rng.standard_normal((N, H)) * 50).astype(np.float16)
        self.expert = rng.integers(0, 4, (N, K)).astype(np.int32)
        self.row = g.canonical_row_idx(N, K) if row is None else np.asarray(row, np.int32)
        self.active = active
        self.scale, self.offset = 0.8, 0.25
        A = min(N, max(active, 0)) * K
        xdt = np.int8 if quant else np.float16
        self.outs = [mr.GuardedOutput((A, H), xdt), mr.GuardedOutput((L,), np.int32),
                     mr.GuardedOutput((L,), np.int32)]
        xd = [N, H] if x_dims is None else x_dims
        self.x_store = np.zeros(int(np.prod(xd)), np.float16)
        self.x_store[:self.x.size] = self.x.reshape(-1)
        self.tx = lib.create_tensor(xd, x_dtype or dtype, None, 0, None, self.x_store)
        self.tr = lib.create_tensor([N, K], row_dtype, None, 0, None, self.row)
        self.te = lib.create_tensor([N, K], "i32", None, 0, None, self.expert)
        ox, orow, oexp = self.outs
        self.tox = lib.create_tensor([A, H], out_x_dtype or ("i8" if quant else dtype), None, 0, None, ox.address)
        self.tor = lib.create_tensor([L], "i32", None, 0, None, orow.address)
        self.toe = lib.create_tensor([L], "i32", None, 0, None, oexp.address)
        lib.recent_err_msg()                         # drain older messages

    def tensors(self):
        return [self.tx, self.tr, self.te, self.tox, self.tor, self.toe]

    def phase1(self, tensors=None, active=None):
        t = self.tensors() if tensors is None else tensors
        return self.lib.get_workspace(self.quant, t[0], t[1], t[2], self.active if active is None else active,
                                      self.scale, self.offset, t[3], t[4], t[5])

    def execute(self, exe, ws_size=None, ws_buf="alloc"):
        size = ws_size
        buf = ws_buf
        if isinstance(ws_buf, str):
            buf = np.zeros(size, np.uint8) if size else None
        return self.lib.execute(self.quant, buf, size, exe)

    def golden(self):
        if self.quant:
            return g.init_routing_quant(self.x, self.row, self.expert, self.active, self.scale, self.offset, "f16")
        return g.init_routing(self.x, self.row, self.expert, self.active)

    def outputs_untouched(self):
        return all(o.untouched() for o in self.outs)

    def outputs_equal_golden(self):
        return all(o.guards_intact() and np.array_equal(o.array(), e) for o, e in zip(self.outs, self.golden()))

    def close(self):
        self.lib.destroy_tensors(*self.tensors())


@pytest.fixture
def make(lib):
    made = []

    def _make(**kw):
        s = Setup(lib, **kw)
        made.append(s)
        return s

    yield _make
    for s in made:
        s.close()


def _contains_number(msg, n):
    return re.search(r"(?<![0-9])%s(?![0-9])" % re.escape(str(n)), msg) is not None


# ---- rowIdx not a permutation: refused at execute, message names the position, outputs untouched ---------

def _bad_rows():
    base = g.canonical_row_idx(N, K).reshape(-1)
    dup = base.copy()
    dup[11] = dup[4]                                # value at flat 4 repeated at flat 11
    oor = base.copy()
    oor[7] = 1234                                   # out of range
    neg = base.copy()
    neg[9] = -1
    return {"duplicate": (dup, [4, 11], dup[4]), "out_of_range": (oor, [7], 1234), "negative": (neg, [9], -1)}


@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
@pytest.mark.parametrize("which", ["duplicate", "out_of_range", "negative"])
def test_non_permutation_row_idx_aclnn(lib, make, which, quant):
    bad, positions, value = _bad_rows()[which]
    s = make(quant=quant, row=bad.reshape(N, K))
    st, ws, exe = s.phase1()
    assert st == 0, "phase 1 must not look at data: %d %r" % (st, lib.recent_err_msg())
    st = s.execute(exe, ws)
    assert st == mr.ACLNN_ERR_PARAM_INVALID
    msg = lib.recent_err_msg()
    assert msg, "no message for a refused rowIdx"
    assert _contains_number(msg, value), msg
    # the position may be given flat or as (r, j)
    named = [p for p in positions if _contains_number(msg, p) or
             (_contains_number(msg, p // K) and _contains_number(msg, p % K))]
    assert named, "message does not name the offending position %s: %r" % (positions, msg)
    assert s.outputs_untouched(), "outputs written by a refused call"
    assert not lib.recent_err_msg(), "reading must clear the messages"


@pytest.mark.parametrize("which", ["duplicate", "out_of_range", "negative"])
def test_non_permutation_row_idx_native(lib, which):
    bad, positions, value = _bad_rows()[which]
    x = np.ones((N, H), np.float32)
    expert = np.zeros((N, K), np.int32)
    row = bad.reshape(N, K).astype(np.int32)
    outs = [mr.GuardedOutput((L, H), np.int8), mr.GuardedOutput((L,), np.int32), mr.GuardedOutput((L,), np.int32)]
    a = mr.MoerouteInitRoutingArgs()
    a.num_rows, a.k, a.hidden, a.active_num = N, K, H, N
    a.x_dtype, a.x, a.x_row_stride, a.x_col_stride = mr.ACL_FLOAT, x.ctypes.data, H, 1
    a.expert_idx, a.expert_row_stride, a.expert_col_stride = expert.ctypes.data, K, 1
    a.row_idx, a.row_idx_row_stride, a.row_idx_col_stride = row.ctypes.data, K, 1
    a.expanded_x_dtype, a.scale, a.offset = mr.ACL_INT8, 1.0, 0.0
    a.expanded_x, a.expanded_row_idx, a.expanded_expert_idx = outs[0].address, outs[1].address, outs[2].address
    lib.native_err_msg()
    st = lib.init_routing(None, a)
    assert st == mr.MOEROUTE_ERR_INVALID_VALUE
    msg = lib.native_err_msg()
    assert msg and _contains_number(msg, value), msg
    assert all(o.untouched() for o in outs)


# ---- data-independent errors at phase 1 ------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(x_dtype="i32"),
    dict(out_x_dtype="f16"),                         # quant output must be int8
    dict(row_dtype="f32"),
    dict(quant=False, out_x_dtype="f32"),            # copy output must equal x's dtype (f16 here)
    dict(quant=False, out_x_dtype="i8"),
], ids=["x_int32", "quant_out_f16", "rowidx_f32", "copy_out_f32", "copy_out_i8"])
def test_wrong_dtype(lib, make, kw):
    s = make(**kw)
    st, _, _ = s.phase1()
    assert st == mr.ACLNN_ERR_PARAM_INVALID
    assert lib.recent_err_msg()
    assert s.outputs_untouched()


@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
def test_x_3d(lib, make, quant):
    s = make(quant=quant, x_dims=[N, H, 1])
    st, _, _ = s.phase1()
    assert st == mr.ACLNN_ERR_INNER_TILING_ERROR
    assert lib.recent_err_msg()


@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
def test_active_num_negative(lib, make, quant):
    s = make(quant=quant)
    st, _, _ = s.phase1(active=-1)
    assert st == mr.ACLNN_ERR_INNER_TILING_ERROR
    assert lib.recent_err_msg()
    assert s.outputs_untouched()


@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
@pytest.mark.parametrize("pos", range(6))
def test_null_tensor(lib, make, quant, pos):
    s = make(quant=quant)
    t = s.tensors()
    t[pos] = None
    st, _, _ = s.phase1(tensors=t)
    assert st == mr.ACLNN_ERR_PARAM_NULLPTR
    assert lib.recent_err_msg()


def test_null_workspace_size_and_executor_pointers(lib, make):
    s = make()
    t = s.tensors()
    exe = mr._vp(None)
    ws = mr.ctypes.c_uint64(0)
    st = lib.aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], N, 1.0, 0.0, t[3], t[4], t[5], None,
                                                      mr.ctypes.byref(exe))
    assert st == mr.ACLNN_ERR_PARAM_NULLPTR
    assert lib.recent_err_msg()
    st = lib.aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], N, 1.0, 0.0, t[3], t[4], t[5],
                                                      mr.ctypes.byref(ws), None)
    assert st == mr.ACLNN_ERR_PARAM_NULLPTR
    assert lib.recent_err_msg()


# ---- workspace and executor lifetime ---------------------------------------------------------------------

@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
def test_workspace_too_small(lib, make, quant):
    s = make(quant=quant)
    st, ws, exe = s.phase1()
    assert st == 0
    if ws == 0:
        # nothing smaller can be given; the executor must still run with no workspace
        assert s.execute(exe, 0, None) == 0
        assert s.outputs_equal_golden()
        pytest.skip("the library asks for no workspace for this call")
    buf = np.zeros(ws, np.uint8)
    st = s.execute(exe, ws - 1, buf)
    assert st == mr.ACLNN_ERR_PARAM_INVALID
    assert lib.recent_err_msg()
    assert s.outputs_untouched()


@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
def test_one_shot_executor_second_run_refused(lib, make, quant):
    s = make(quant=quant)
    st, ws, exe = s.phase1()
    assert st == 0
    buf = np.zeros(ws, np.uint8) if ws else None
    assert s.lib.execute(quant, buf, ws, exe) == 0
    assert s.outputs_equal_golden()
    for o in s.outs:
        o.reset()
    st = s.lib.execute(quant, buf, ws, exe)
    assert st != 0, "a released one-shot executor ran again"
    assert lib.recent_err_msg()
    assert s.outputs_untouched()


@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
def test_null_executor(lib, quant):
    lib.recent_err_msg()
    assert lib.execute(quant, None, 0, None) == mr.ACLNN_ERR_INNER_NULLPTR
    assert lib.recent_err_msg()
    assert lib.aclSetAclOpExecutorRepeatable(None) == mr.ACLNN_ERR_INNER_NULLPTR
    assert lib.aclDestroyAclOpExecutor(None) == mr.ACLNN_ERR_INNER_NULLPTR
    lib.recent_err_msg()


@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
def test_repeatable_executor(lib, make, quant):
    s = make(quant=quant, row=np.random.default_rng(3).permutation(L).reshape(N, K))
    st, ws, exe = s.phase1()
    assert st == 0
    assert lib.aclSetAclOpExecutorRepeatable(exe) == 0
    buf = np.zeros(ws, np.uint8) if ws else None
    for _ in range(3):
        for o in s.outs:
            o.reset()
        assert s.lib.execute(quant, buf, ws, exe) == 0
        assert s.outputs_equal_golden()
    assert lib.aclDestroyAclOpExecutor(exe) == 0
