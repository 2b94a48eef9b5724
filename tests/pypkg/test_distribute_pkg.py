"""moeroute.npu_moe_distribute_dispatch_v2 -> identity expert -> npu_moe_distribute_combine_v2 (torch_npu's names
and argument orders) on 2 and 4 ranks, each rank a Python thread of an in-process communicator from
moeroute.hccl.comm_init_all, against a single-process numpy model of the global routing (docs/operators/
distribute.md, layer spec 11): received rows (order: local expert, source rank, (token, slot)), expert token
counts / cumsums and the combined tokens (fp32 chain of spec 11.4, rounded once), all bit for bit. Random
cases use fixed seeds (printed on failure through the case id)."""

import os

import numpy as np
import pytest

from pkgtest import torch, needs_torch
import moeroute  # noqa: E402
from moeroute import hccl  # noqa: E402

os.environ.setdefault("MOEROUTE_HCCL_TIMEOUT_MS", "20000")  # a failing rank must not stall the others for long


# the numpy model of the global routing, shared with the MPI test (mpi_distribute_pkg.py)
from distribute_model import make as _make, model as _model, run_ranks as _run_ranks  # noqa: E402


def _to_torch(a):
    """A numpy array as a CPU tensor: uint16 bfloat16 bits as torch.bfloat16, anything else as it is."""
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16) if a.dtype == np.uint16 else torch.from_numpy(a)


def _layer(comm, x, ids, w, mask, E, nums_type, bf16, wrap=lambda a: a):
    ex, dyn, assist, tok, recv, tp_recv, exp_sc = moeroute.npu_moe_distribute_dispatch_v2(
        wrap(x), wrap(ids), comm.name, comm.size, comm.rank, E, x_active_mask=None if mask is None else wrap(mask),
        expert_token_nums_type=nums_type, bf16=bf16)
    # identity expert: the dispatched rows are the expert output
    out = moeroute.npu_moe_distribute_combine_v2(ex, wrap(ids), assist, recv, wrap(w), comm.name, comm.size,
                                                 comm.rank, E, x_active_mask=None if mask is None else wrap(mask),
                                                 bf16=bf16)
    return ex, tok, recv, tp_recv, out


CASES = [(W, bs, bf16, masked, nums_type, seed)
         for seed, (W, bs, bf16, masked, nums_type) in enumerate([
             (2, 5, True, False, 0), (2, 7, False, True, 1), (4, 6, True, True, 1), (4, 3, False, False, 0),
             (4, 9, True, False, 1), (2, 1, True, True, 0)])]


@pytest.mark.parametrize("W,bs,bf16,masked,nums_type,seed", CASES)
def test_dispatch_identity_combine(W, bs, bf16, masked, nums_type, seed):
    H, K, E = 32, 3, 4 * W
    xs, ids, ws, masks = _make(W, bs, H, K, E, bf16, masked, seed)
    rows, counts, recv_w, outs = _model(W, xs, ids, ws, masks, E, bf16)
    res = _run_ranks(W, lambda c: _layer(c, xs[c.rank], ids[c.rank], ws[c.rank], masks[c.rank], E, nums_type,
                                         bf16))
    for r, (ex, tok, recv, tp_recv, out) in enumerate(res):
        n = len(rows[r])
        assert ex.shape == (bs * W * min(E // W, K), H), "seed %d rank %d" % (seed, r)
        assert np.array_equal(ex[:n].view(np.uint16), rows[r].view(np.uint16)), "seed %d rank %d rows" % (seed, r)
        want_tok = counts[r] if nums_type == 1 else np.cumsum(counts[r])
        assert np.array_equal(tok, want_tok), "seed %d rank %d expert_token_nums" % (seed, r)
        assert np.array_equal(recv, recv_w[r]) and tp_recv[0] == n, "seed %d rank %d ep_recv_counts" % (seed, r)
        assert out.dtype == outs[r].dtype and np.array_equal(out.view(np.uint16), outs[r].view(np.uint16)), \
            "seed %d rank %d combined tokens" % (seed, r)


@needs_torch
def test_torch_bf16():
    W, bs, H, K, E = 2, 4, 16, 2, 8
    xs, ids, ws, masks = _make(W, bs, H, K, E, True, False, 99)
    _, _, _, outs = _model(W, xs, ids, ws, masks, E, True)

    res = _run_ranks(W, lambda c: _layer(c, xs[c.rank], ids[c.rank], ws[c.rank], None, E, 1, False, _to_torch))
    for r, (ex, tok, recv, tp_recv, out) in enumerate(res):
        assert out.dtype == torch.bfloat16 and ex.dtype == torch.bfloat16
        assert np.array_equal(out.view(torch.int16).numpy().view(np.uint16), outs[r])


def test_refusals():
    comms = hccl.comm_init_all(2)
    try:
        x = np.zeros((2, 8), np.float16)
        ids = np.zeros((2, 2), np.int32)
        with pytest.raises(moeroute.MoerouteError, match="no live communicator"):
            moeroute.npu_moe_distribute_dispatch_v2(x, ids, "no-such-group", 2, 0, 4)
        with pytest.raises(moeroute.MoerouteError, match="ep_world_size 4"):
            moeroute.npu_moe_distribute_dispatch_v2(x, ids, comms[0].name, 4, 0, 4)
        with pytest.raises(moeroute.MoerouteError, match="tp_world_size"):
            moeroute.npu_moe_distribute_dispatch_v2(x, ids, comms[0].name, 2, 0, 4, tp_world_size=2)
        with pytest.raises(moeroute.MoerouteError, match="float16 or bfloat16"):
            moeroute.npu_moe_distribute_dispatch_v2(x.astype(np.float32), ids, comms[0].name, 2, 0, 4)
    finally:
        for c in comms:
            c.destroy()
    assert hccl.lookup(comms[0].name, 0) is None


def test_comm_handles():
    comms = hccl.comm_init_all(4)
    try:
        assert [c.rank for c in comms] == [0, 1, 2, 3] and all(c.size == 4 for c in comms)
        assert len({c.name for c in comms}) == 1 and hccl.lookup(comms[0].name, 2) is comms[2]
    finally:
        for c in comms:
            c.destroy()


# ---- V1: npu_moe_distribute_dispatch / npu_moe_distribute_combine (docs/operators/distribute.md "V1") ----------

def _expand_idx_model(ids, mask, E):
    """expand_idx as documented, slot by slot: the position among this rank's earlier active slots with the same
    expert, -1 for a slot that sends nothing."""
    seen, out = {}, []
    for t in range(ids.shape[0]):
        for j in range(ids.shape[1]):
            e = int(ids[t, j])
            if (mask is None or mask[t]) and 0 <= e < E:
                out.append(seen.get(e, 0))
                seen[e] = seen.get(e, 0) + 1
            else:
                out.append(-1)
    return np.array(out, np.int32)


def _both_versions(comm, x, ids, w, mask, E, bf16, wrap=lambda a: a):
    """V2 then V1 on the same inputs (identity expert); each: (dispatch outputs, combined x)."""
    from moeroute import torch_npu
    m = None if mask is None else wrap(mask)
    args = (wrap(x), wrap(ids), comm.name, comm.size, comm.rank, E)
    d2 = torch_npu.npu_moe_distribute_dispatch_v2(*args, x_active_mask=m, bf16=bf16)
    o2 = torch_npu.npu_moe_distribute_combine_v2(d2[0], wrap(ids), d2[2], d2[4], wrap(w), comm.name, comm.size,
                                                 comm.rank, E, x_active_mask=m, bf16=bf16)
    d1 = torch_npu.npu_moe_distribute_dispatch(*args, x_active_mask=m, bf16=bf16)
    o1 = torch_npu.npu_moe_distribute_combine(d1[0], wrap(ids), d1[2], d1[4], wrap(w), comm.name, comm.size,
                                              comm.rank, E, x_active_mask=m, bf16=bf16)
    return d2, o2, d1, o1


@pytest.mark.parametrize("W,bs,bf16,masked,seed", [(2, 5, True, False, 11), (2, 6, False, True, 12),
                                                   (4, 7, True, True, 13), (4, 4, False, False, 14)])
def test_v1_same_bytes_as_v2(W, bs, bf16, masked, seed):
    H, K, E = 32, 3, 2 * W
    xs, ids, ws, masks = _make(W, bs, H, K, E, bf16, masked, seed)
    _, _, _, outs = _model(W, xs, ids, ws, masks, E, bf16)
    res = _run_ranks(W, lambda c: _both_versions(c, xs[c.rank], ids[c.rank], ws[c.rank], masks[c.rank], E, bf16))
    for r, (d2, o2, d1, o1) in enumerate(res):
        for i in (0, 1, 3, 4, 5, 6):  # expand_x (all A rows), dynamic_scales, counts, expand_scales
            assert np.array_equal(np.asarray(d1[i]).view(np.uint8), np.asarray(d2[i]).view(np.uint8)), \
                "seed %d rank %d output %d" % (seed, r, i)
        assert d1[2].dtype == np.int32 and np.array_equal(d1[2], _expand_idx_model(ids[r], masks[r], E)), \
            "seed %d rank %d expand_idx" % (seed, r)
        assert np.array_equal(o1.view(np.uint16), o2.view(np.uint16)), "seed %d rank %d combine as V2" % (seed, r)
        assert np.array_equal(o1.view(np.uint16), outs[r].view(np.uint16)), "seed %d rank %d combine" % (seed, r)


@needs_torch
def test_v1_torch():
    W, bs, H, K, E = 2, 4, 16, 2, 4
    xs, ids, ws, masks = _make(W, bs, H, K, E, True, False, 21)
    _, _, _, outs = _model(W, xs, ids, ws, masks, E, True)

    res = _run_ranks(W, lambda c: _both_versions(c, xs[c.rank], ids[c.rank], ws[c.rank], None, E, False, _to_torch))
    for r, (_, _, d1, o1) in enumerate(res):
        assert d1[2].dtype == torch.int32 and o1.dtype == torch.bfloat16
        assert np.array_equal(o1.view(torch.int16).numpy().view(np.uint16), outs[r])


def _v1_refused(comm, x, ids, w, E, bad_rank, corrupt):
    """V1 dispatch, then a combine whose expand_idx rank bad_rank corrupts; the combine's exception (or None)."""
    from moeroute import torch_npu
    d = torch_npu.npu_moe_distribute_dispatch(x, ids, comm.name, comm.size, comm.rank, E)
    idx = np.array(d[2])
    if comm.rank == bad_rank:
        corrupt(idx)
    try:
        torch_npu.npu_moe_distribute_combine(d[0], ids, idx, d[4], w, comm.name, comm.size, comm.rank, E)
    except moeroute.MoerouteError as e:
        return e
    return None


@pytest.mark.parametrize("W", [2, 4])
def test_v1_corrupted_expand_idx_refused_everywhere(W):
    bs, H, K, E = 4, 16, 2, 2 * W
    xs, ids, ws, _ = _make(W, bs, H, K, E, False, False, 31)

    def corrupt(idx):
        idx[np.flatnonzero(idx >= 0)[0]] += 1

    errs = _run_ranks(W, lambda c: _v1_refused(c, xs[c.rank], ids[c.rank], ws[c.rank], E, 1, corrupt))
    assert all(isinstance(e, moeroute.MoerouteValueError) for e in errs), errs
    assert "expand_idx" in str(errs[1])


def test_v1_refusals_and_names():
    from moeroute import torch_npu
    assert "npu_moe_distribute_dispatch" in torch_npu.__all__ and "npu_moe_distribute_combine" in torch_npu.__all__
    comms = hccl.comm_init_all(2)
    try:
        x, ids, w = np.zeros((2, 8), np.float16), np.zeros((2, 2), np.int32), np.zeros((2, 2), np.float32)
        with pytest.raises(moeroute.MoerouteError, match="group_list"):
            torch_npu.npu_moe_distribute_combine(x, ids, np.zeros(4, np.int32), np.zeros(2, np.int32), w,
                                                 comms[0].name, 2, 0, 4, group_list=np.zeros(2, np.int64))
        with pytest.raises(moeroute.MoerouteError, match="group_list_type"):
            torch_npu.npu_moe_distribute_combine(x, ids, np.zeros(4, np.int32), np.zeros(2, np.int32), w,
                                                 comms[0].name, 2, 0, 4, group_list_type=1)
        with pytest.raises(moeroute.MoerouteError, match="no live communicator"):
            torch_npu.npu_moe_distribute_dispatch(x, ids, "no-such-group", 2, 0, 4)
    finally:
        for c in comms:
            c.destroy()


def test_v1_overlapping_layers():
    """Two V1 dispatches, then their combines in the other order (the bookkeeping of each is kept)."""
    from moeroute import torch_npu
    W, bs, H, K, E = 2, 4, 16, 2, 4
    layers = [_make(W, bs, H, K, E, False, False, seed) for seed in (41, 42)]
    want = [_model(W, xs, ids, ws, masks, E, False)[3] for xs, ids, ws, masks in layers]

    def body(c):
        d = [torch_npu.npu_moe_distribute_dispatch(xs[c.rank], ids[c.rank], c.name, W, c.rank, E)
             for xs, ids, _, _ in layers]
        return [torch_npu.npu_moe_distribute_combine(d[i][0], layers[i][1][c.rank], d[i][2], d[i][4],
                                                     layers[i][2][c.rank], c.name, W, c.rank, E) for i in (1, 0)]

    for r, (out1, out0) in enumerate(_run_ranks(W, body)):
        assert np.array_equal(out0.view(np.uint16), want[0][r].view(np.uint16)), "rank %d layer 0" % r
        assert np.array_equal(out1.view(np.uint16), want[1][r].view(np.uint16)), "rank %d layer 1" % r
