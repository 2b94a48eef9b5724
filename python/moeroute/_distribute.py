"""MoeDistributeDispatchV2 / MoeDistributeCombineV2 (expert parallelism, docs/operators/distribute.md) over the
native API (moeroute_distribute_dispatch / _combine), under torch_npu's names and argument orders:

    npu_moe_distribute_dispatch_v2   aclnnMoeDistributeDispatchV2
    npu_moe_distribute_combine_v2    aclnnMoeDistributeCombineV2
    npu_moe_distribute_dispatch      aclnnMoeDistributeDispatch (V1: expand_idx [Bs * K] instead of assist info)
    npu_moe_distribute_combine       aclnnMoeDistributeCombine (V1)

``group_ep`` names a communicator made by moeroute.hccl (comm_init_all: ranks as threads of this process, each
calling on its own Python thread, ctypes releasing the GIL so the ranks meet inside the library; or
comm_init_mpi / comm_init_root_info under mpirun: one rank per process), or is one of its Comm objects;
``ep_rank_id`` picks this rank's handle. Inputs are numpy arrays or CPU torch tensors
(copied contiguous); bfloat16 numpy data is uint16 with ``bf16=True``. Outputs are of the same kind. The TP
domain (tp_world_size 2) and comm_quant_mode 2 are refused as by the library.
"""

import ctypes
import threading

import numpy as np

from . import _lib, hccl
from ._layout import struct_type
from ._routing import _is_tensor

_bind_lock = threading.Lock()


def _library():
    lib = _lib.get()
    if not hasattr(lib, "distribute_dispatch"):
        with _bind_lock:
            if not hasattr(lib, "distribute_dispatch"):
                for attr, sname, fname in (("DistributeDispatchArgs", "moeroute_distribute_dispatch_args",
                                            "moeroute_distribute_dispatch"),
                                           ("DistributeCombineArgs", "moeroute_distribute_combine_args",
                                            "moeroute_distribute_combine")):
                    setattr(lib, attr, struct_type(lib.dll, sname))
                    f = getattr(lib.dll, fname)
                    f.restype = ctypes.c_int
                    f.argtypes = [ctypes.c_void_p, ctypes.POINTER(getattr(lib, attr))]
                    setattr(lib, fname[len("moeroute_"):], f)
    return lib


def _value_error(msg):
    return _lib.MoerouteError(_lib.MOEROUTE_ERR_INVALID_SHAPE, msg)


class _Io:
    """Converts inputs to contiguous numpy (remembering whether torch came in) and outputs back."""

    def __init__(self, bf16):
        self.torch = False
        self.bf16 = bool(bf16)

    def x(self, name, a):
        """A float16 / bfloat16 operand: (contiguous numpy, moeroute dtype code)."""
        if _is_tensor(a):
            import torch
            self.torch = True
            if a.dtype == torch.bfloat16:
                return np.ascontiguousarray(a.detach().contiguous().view(torch.int16).numpy().view(np.uint16)), \
                    _lib.DTYPE_BFLOAT16
            a = a.detach().numpy()
        a = np.asarray(a)
        if a.dtype == np.float16:
            return np.require(a, requirements="CA"), _lib.DTYPE_FLOAT16
        if a.dtype == np.uint16 and self.bf16:
            return np.require(a, requirements="CA"), _lib.DTYPE_BFLOAT16
        raise _lib.MoerouteError(_lib.MOEROUTE_ERR_INVALID_DTYPE,
                                 "%s must be float16 or bfloat16 (uint16 numpy with bf16=True), got %s"
                                 % (name, a.dtype))

    def arr(self, a, dtype):
        if a is None:
            return None
        if _is_tensor(a):
            self.torch = True
            a = a.detach().numpy()
        return np.require(np.asarray(a), dtype=dtype, requirements="CA")

    def out(self, a, code=None):
        if not self.torch:
            return a
        import torch
        if code == _lib.DTYPE_BFLOAT16:
            return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(a)


def _addr(a):
    return None if a is None else a.ctypes.data


def _comm(api, group_ep, ep_world_size, ep_rank_id):
    c = hccl.lookup(group_ep, ep_rank_id)
    if c is None:
        raise _value_error("%s: group_ep %r with ep_rank_id %d is no live communicator of this process "
                           "(moeroute.hccl.comm_init_all, comm_init_mpi or comm_init_root_info)"
                           % (api, getattr(group_ep, "name", group_ep), ep_rank_id))
    if c.size != int(ep_world_size):
        raise _value_error("%s: ep_world_size %d is not the size %d of communicator %s"
                           % (api, ep_world_size, c.size, c.name))
    return c


def _check_tp(api, tp_world_size, tp_rank_id, expert_shard_type):
    if int(tp_world_size) not in (0, 1) or int(tp_rank_id) != 0:
        raise _value_error("%s: tp_world_size %d / tp_rank_id %d: only no TP domain (0 or 1, rank 0) is "
                           "implemented" % (api, tp_world_size, tp_rank_id))
    if int(expert_shard_type) != 0:
        raise _value_error("%s: expert_shard_type must be 0, got %d" % (api, expert_shard_type))


def _placement(W, rank, bs, K, E, S, R, global_bs):
    """(local experts L of this rank, rows A of expand_x: the spec 11.2 bound)."""
    max_bs = global_bs // W if global_bs else bs
    if R > 0 and rank < R:
        P = max(R // max(S, 1), 1)
        return 1, max_bs * sum(1 for s in range(W) if s % P == rank % P)
    L = E // (W - R) if W > R else 0
    return L, max_bs * W * min(L, K)


def _dispatch(api, x, expert_ids, group_ep, ep_world_size, ep_rank_id, moe_expert_num, scales, x_active_mask,
              expert_scales, tp_world_size, tp_rank_id, expert_shard_type, shared_expert_num, shared_expert_rank_num,
              quant_mode, global_bs, expert_token_nums_type, bf16, assist_per_row):
    """The dispatch of both versions on numpy: (io, comm, ids, mask, outputs as numpy, x's dtype code); the assist
    info has assist_per_row entries per row of expand_x (128 as torch_npu's V2 returns it, 3 are used)."""
    _check_tp(api, tp_world_size, tp_rank_id, expert_shard_type)
    c = _comm(api, group_ep, ep_world_size, ep_rank_id)
    io = _Io(bf16)
    xa, code = io.x("x", x)
    ids = io.arr(expert_ids, np.int32)
    if xa.ndim != 2 or ids.ndim != 2 or ids.shape[0] != xa.shape[0]:
        raise _value_error("%s: x must be [Bs, H] and expert_ids [Bs, K], got %s and %s"
                           % (api, list(xa.shape), list(ids.shape)))
    (bs, H), K = xa.shape, ids.shape[1]
    W, S, R, E = c.size, int(shared_expert_num), int(shared_expert_rank_num), int(moe_expert_num)
    L, A = _placement(W, c.rank, bs, K, E, S, R, int(global_bs))
    sm = io.arr(scales, np.float32)
    mask = io.arr(x_active_mask, np.uint8)
    es = io.arr(expert_scales, np.float32)
    expand = np.zeros((A, H), np.int8 if int(quant_mode) == 2 else xa.dtype)
    dyn = np.zeros((A,), np.float32)
    assist = np.zeros((A * assist_per_row,), np.int32)
    tok = np.zeros((max(L, 1),), np.int64)
    recv = np.zeros((W * max(L, 1),), np.int32)
    exp_sc = np.zeros((A if es is not None else 0,), np.float32)
    lib = _library()
    a = lib.DistributeDispatchArgs()
    a.struct_size = ctypes.sizeof(a)
    a.comm, a.x_dtype, a.quant_mode = c.handle, code, int(quant_mode)
    a.num_tokens, a.hidden, a.top_k, a.num_experts = bs, H, K, E
    a.shared_expert_num, a.shared_expert_rank_num, a.global_bs = S, R, int(global_bs)
    a.token_nums_type = int(expert_token_nums_type)
    a.mask_2d = 1 if mask is not None and mask.ndim == 2 else 0
    a.x, a.expert_ids, a.smooth_scales, a.active_mask, a.expert_scales = (
        _addr(xa), _addr(ids), _addr(sm), _addr(mask), _addr(es))
    a.max_rows = A
    a.expand_x, a.assist_info, a.expert_token_nums, a.ep_recv_counts = (
        _addr(expand), _addr(assist), _addr(tok), _addr(recv))
    a.dynamic_scales = _addr(dyn) if int(quant_mode) == 2 else None
    a.expand_scales = _addr(exp_sc) if es is not None else None
    lib.check(lib.distribute_dispatch(None, ctypes.byref(a)))
    tp_recv = np.array([recv[-1] if recv.size else 0], np.int32)
    return io, c, ids, mask, (expand, dyn, assist, tok, recv, tp_recv, exp_sc), \
        code if int(quant_mode) != 2 else None


def _outputs(io, outs, code):
    """The seven dispatch outputs in the caller's kind (expand_x in x's dtype, or int8)."""
    return (io.out(outs[0], code),) + tuple(io.out(o) for o in outs[1:])


def npu_moe_distribute_dispatch_v2(x, expert_ids, group_ep, ep_world_size, ep_rank_id, moe_expert_num, *,
                                   scales=None, x_active_mask=None, expert_scales=None, group_tp="",
                                   tp_world_size=0, tp_rank_id=0, expert_shard_type=0, shared_expert_num=1,
                                   shared_expert_rank_num=0, quant_mode=0, global_bs=0, expert_token_nums_type=1,
                                   comm_alg="", bf16=False):
    """torch_npu.npu_moe_distribute_dispatch_v2 on the CPU (docs/operators/distribute.md).

    x [Bs, H] float16/bfloat16; expert_ids [Bs, K] int32; scales None or float32 [E (+ S), H] (quant_mode 2);
    x_active_mask None or bool [Bs] / [Bs, K]; expert_scales None or float32 [Bs, K]. Returns (expand_x [A, H]
    (x's dtype, int8 with quant_mode 2), dynamic_scales float32 [A] (zeros unless quant_mode 2),
    assist_info_for_combine int32 [A * 128], expert_token_nums int64 [L], ep_recv_counts int32 [W * L],
    tp_recv_counts int32 [1] (rows received), expand_scales float32 [A] (empty without expert_scales)).
    group_tp and comm_alg are not used."""
    del group_tp, comm_alg
    io, _, _, _, outs, code = _dispatch(
        "npu_moe_distribute_dispatch_v2", x, expert_ids, group_ep, ep_world_size, ep_rank_id, moe_expert_num, scales,
        x_active_mask, expert_scales, tp_world_size, tp_rank_id, expert_shard_type, shared_expert_num,
        shared_expert_rank_num, quant_mode, global_bs, expert_token_nums_type, bf16, 128)
    return _outputs(io, outs, code)


def _combine(api, expand_x, expert_ids, expert_scales, group_ep, ep_world_size, ep_rank_id, moe_expert_num,
             x_active_mask, shared_expert_x, tp_world_size, tp_rank_id, expert_shard_type, shared_expert_num,
             shared_expert_rank_num, global_bs, comm_quant_mode, bf16, bookkeeping):
    """The combine of both versions. bookkeeping(io, ids, mask, A) gives (assist info or None, ep_send_counts) as
    numpy and, for V1, a refusal message of this rank (None when it has none): the call then still goes through the
    library with ep_send_counts that no rank accepts, so that every rank refuses, and raises that message here."""
    _check_tp(api, tp_world_size, tp_rank_id, expert_shard_type)
    if int(comm_quant_mode) != 0:
        raise _value_error("%s: comm_quant_mode %d is not implemented (0 only)" % (api, comm_quant_mode))
    c = _comm(api, group_ep, ep_world_size, ep_rank_id)
    io = _Io(bf16)
    ex, code = io.x("expand_x", expand_x)
    ids = io.arr(expert_ids, np.int32)
    if ex.ndim != 2 or ids.ndim != 2:
        raise _value_error("%s: expand_x must be [A, H] and expert_ids [Bs, K], got %s and %s"
                           % (api, list(ex.shape), list(ids.shape)))
    (A, H), (bs, K) = ex.shape, ids.shape
    w = io.arr(expert_scales, np.float32)
    mask = io.arr(x_active_mask, np.uint8)
    assist, send, refusal = bookkeeping(io, ids, mask, A)
    shared = None
    if shared_expert_x is not None:
        shared, scode = io.x("shared_expert_x", shared_expert_x)
        if scode != code or shared.shape != (bs, H):
            raise _value_error("%s: shared_expert_x must be [Bs, H] = [%d, %d] in expand_x's dtype" % (api, bs, H))
    if (assist is not None and assist.size < A * 3) or w.shape != (bs, K):
        raise _value_error("%s: assist_info_for_combine needs >= %d entries and expert_scales shape [%d, %d]"
                           % (api, A * 3, bs, K))
    if refusal is not None:  # an ep_send_counts this rank's own check refuses: the refusal reaches every rank
        send = _unacceptable(send, c.rank, A)
    out = np.zeros((bs, H), ex.dtype)
    lib = _library()
    a = lib.DistributeCombineArgs()
    a.struct_size = ctypes.sizeof(a)
    a.comm, a.x_dtype = c.handle, code
    a.mask_2d = 1 if mask is not None and mask.ndim == 2 else 0
    a.num_tokens, a.hidden, a.top_k, a.num_experts = bs, H, K, int(moe_expert_num)
    a.shared_expert_num, a.shared_expert_rank_num = int(shared_expert_num), int(shared_expert_rank_num)
    a.global_bs, a.max_rows = int(global_bs), A
    a.expand_x, a.expert_ids, a.assist_info, a.ep_send_counts = _addr(ex), _addr(ids), _addr(assist), _addr(send)
    a.expert_scales, a.active_mask, a.shared_x, a.out = _addr(w), _addr(mask), _addr(shared), _addr(out)
    st = lib.distribute_combine(None, ctypes.byref(a))
    if refusal is not None:  # the library refused too (every rank did); this rank says why
        lib.take_error_message()
        raise _lib.MoerouteError(_lib.MOEROUTE_ERR_INVALID_VALUE, refusal)
    lib.check(st)
    return io.out(out, code)


def npu_moe_distribute_combine_v2(expand_x, expert_ids, assist_info_for_combine, ep_send_counts, expert_scales,
                                  group_ep, ep_world_size, ep_rank_id, moe_expert_num, *, tp_send_counts=None,
                                  x_active_mask=None, expand_scales=None, shared_expert_x=None, group_tp="",
                                  tp_world_size=0, tp_rank_id=0, expert_shard_type=0, shared_expert_num=1,
                                  shared_expert_rank_num=0, global_bs=0, comm_quant_mode=0, comm_alg="",
                                  bf16=False):
    """torch_npu.npu_moe_distribute_combine_v2 on the CPU (docs/operators/distribute.md): brings this rank's
    tokens back from the expert ranks and sums them in fp32 (weights expert_scales [Bs, K]; shared_expert_x
    None or [Bs, H] added unweighted). expand_x [A, H] is this rank's expert output in dispatch's row order;
    assist_info_for_combine and ep_send_counts are this rank's dispatch outputs. Returns x [Bs, H] in
    expand_x's dtype (rows of inactive tokens zero). tp_send_counts, expand_scales, group_tp, comm_alg: not
    read."""
    del tp_send_counts, expand_scales, group_tp, comm_alg
    return _combine("npu_moe_distribute_combine_v2", expand_x, expert_ids, expert_scales, group_ep, ep_world_size,
                    ep_rank_id, moe_expert_num, x_active_mask, shared_expert_x, tp_world_size, tp_rank_id,
                    expert_shard_type, shared_expert_num, shared_expert_rank_num, global_bs, comm_quant_mode, bf16,
                    lambda io, ids, mask, A: (io.arr(assist_info_for_combine, np.int32),
                                              io.arr(ep_send_counts, np.int32), None))


# ---- V1 (layer spec 11.5; docs/operators/distribute.md "V1") ---------------------------------------------------
# The library's combine recomputes every row from the gathered expert ids and ep_send_counts; the assist info only
# cross-checks it and may be NULL. npu_moe_distribute_dispatch runs the dispatch above and returns expand_idx
# (moeroute's layout, _expand_idx); npu_moe_distribute_combine checks expand_idx against the same layout and runs
# the combine without assist info.


def _expand_idx(ids, mask, E):
    """expand_idx [Bs * K]: per slot in (token, slot) order, its position among this rank's active slots sent to
    the same expert (its row in the owner's (expert, source) block), -1 for a slot that sends nothing."""
    bs, K = ids.shape
    active = np.ones((bs, K), bool) if mask is None else np.broadcast_to(mask.astype(bool).reshape(bs, -1), (bs, K))
    flat = ids.reshape(-1).astype(np.int64)
    sends = np.flatnonzero(active.reshape(-1) & (flat >= 0) & (flat < E))
    out = np.full(bs * K, -1, np.int32)
    order = np.argsort(flat[sends], kind="stable")  # slots grouped by expert, (token, slot) order within
    e = flat[sends][order]
    first = np.searchsorted(e, e, side="left")  # first slot of each expert's group
    out[sends[order]] = (np.arange(e.size) - first).astype(np.int32)
    return out


def _unacceptable(send, rank, A):
    """ep_send_counts with this rank's own first block (local expert 0, source rank) A + 1 rows too long: this
    rank's own check of its blocks refuses it, so the library's vote fails the call on every rank."""
    bad = np.array(send, np.int32, copy=True)
    if bad.size > rank:
        bad[rank:] += np.int32(A + 1)
    return bad


def npu_moe_distribute_dispatch(x, expert_ids, group_ep, ep_world_size, ep_rank_id, moe_expert_num, *,
                                scales=None, x_active_mask=None, expert_scales=None, group_tp="", tp_world_size=0,
                                tp_rank_id=0, expert_shard_type=0, shared_expert_num=1, shared_expert_rank_num=0,
                                quant_mode=0, global_bs=0, expert_token_nums_type=1, bf16=False):
    """torch_npu.npu_moe_distribute_dispatch (V1) on the CPU: as npu_moe_distribute_dispatch_v2 without comm_alg,
    returning expand_idx int32 [Bs * K] (moeroute's layout, docs/operators/distribute.md "V1") in place of the
    assist info: (expand_x, dynamic_scales, expand_idx, expert_token_nums, ep_recv_counts, tp_recv_counts,
    expand_scales)."""
    del group_tp
    io, _, ids, mask, outs, code = _dispatch(
        "npu_moe_distribute_dispatch", x, expert_ids, group_ep, ep_world_size, ep_rank_id, moe_expert_num, scales,
        x_active_mask, expert_scales, tp_world_size, tp_rank_id, expert_shard_type, shared_expert_num,
        shared_expert_rank_num, quant_mode, global_bs, expert_token_nums_type, bf16, 3)
    idx = _expand_idx(ids, mask, int(moe_expert_num))
    return _outputs(io, outs[:2] + (idx,) + outs[3:], code)


def npu_moe_distribute_combine(expand_x, expert_ids, expand_idx, ep_send_counts, expert_scales, group_ep,
                               ep_world_size, ep_rank_id, moe_expert_num, *, tp_send_counts=None, x_active_mask=None,
                               activation_scale=None, weight_scale=None, group_list=None, expand_scales=None,
                               shared_expert_x=None, group_tp="", tp_world_size=0, tp_rank_id=0, expert_shard_type=0,
                               shared_expert_num=1, shared_expert_rank_num=0, global_bs=0, out_dtype=0,
                               comm_quant_mode=0, group_list_type=0, bf16=False):
    """torch_npu.npu_moe_distribute_combine (V1) on the CPU: as npu_moe_distribute_combine_v2 with expand_idx
    (this rank's npu_moe_distribute_dispatch output) in place of the assist info. expand_idx and ep_send_counts
    must be this rank's dispatch outputs for the same expert_ids and mask: otherwise every rank refuses
    (MoerouteValueError). activation_scale, weight_scale and group_list must be None, out_dtype and
    group_list_type 0 (as the library); tp_send_counts, expand_scales, group_tp: not read."""
    api = "npu_moe_distribute_combine"
    del tp_send_counts, expand_scales, group_tp
    if activation_scale is not None or weight_scale is not None or group_list is not None:
        raise _lib.MoerouteError(_lib.MOEROUTE_ERR_INVALID_VALUE, "%s: activation_scale, weight_scale and group_list "
                                 "must be None (not supported on Atlas A3)" % api)
    if int(out_dtype) != 0 or int(group_list_type) != 0:
        raise _value_error("%s: out_dtype and group_list_type must be 0, got %d and %d"
                           % (api, out_dtype, group_list_type))
    E = int(moe_expert_num)

    def bookkeeping(io, ids, mask, A):
        idx = io.arr(expand_idx, np.int32).reshape(-1)
        send = io.arr(ep_send_counts, np.int32)
        want = _expand_idx(ids, mask, E)
        if idx.shape != want.shape or not np.array_equal(idx, want):
            bad = 0 if idx.shape != want.shape else int(np.flatnonzero(idx != want)[0])
            return None, send, \
                "%s: expand_idx (shape %s) is not what rank %d's dispatch gave for these expert_ids and mask " \
                "(first difference at %d); pass dispatch's expand_idx" % (api, list(idx.shape), ep_rank_id, bad)
        return None, send, None

    return _combine(api, expand_x, expert_ids, expert_scales, group_ep, ep_world_size, ep_rank_id, moe_expert_num,
                    x_active_mask, shared_expert_x, tp_world_size, tp_rank_id, expert_shard_type, shared_expert_num,
                    shared_expert_rank_num, global_bs, comm_quant_mode, bf16, bookkeeping)
