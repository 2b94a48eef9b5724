"""moeroute.npu_moe_distribute_dispatch_v2 -> identity expert -> npu_moe_distribute_combine_v2 (torch_npu's names
and argument orders) on 2 and 4 ranks, each rank a Python thread of an in-process communicator from
moeroute.hccl.comm_init_all, against a single-process numpy model of the global routing (docs/operators/
distribute.md, layer spec 11): received rows (order: local expert, source rank, (token, slot)), expert token
counts / cumsums and the combined tokens (fp32 chain of spec 11.4, rounded once), all bit for bit. Random
cases use fixed seeds (printed on failure through the case id)."""

import os
import threading

import numpy as np
import pytest

from pkgtest import torch, needs_torch
import moeroute  # noqa: E402
from moeroute import hccl  # noqa: E402

os.environ.setdefault("MOEROUTE_HCCL_TIMEOUT_MS", "20000")  # a failing rank must not stall the others for long


def _bf16_round(f32):
    """float32 -> bfloat16 bits (uint16), round to nearest even (finite inputs)."""
    u = np.asarray(f32, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _to_f32(x, bf16):
    return (x.astype(np.uint32) << 16).view(np.float32) if bf16 else x.astype(np.float32)


def _make(W, bs, H, K, E, bf16, masked, seed):
    rng = np.random.default_rng(seed)
    xs, ids, ws, masks = [], [], [], []
    for _ in range(W):
        if bf16:
            x = _bf16_round(rng.integers(-512, 512, size=(bs, H)).astype(np.float32) / 64)
        else:
            x = (rng.integers(-512, 512, size=(bs, H)) / 64).astype(np.float16)
        xs.append(x)
        ids.append(np.stack([rng.permutation(E)[:K] for _ in range(bs)]).astype(np.int32).reshape(bs, K))
        ws.append(rng.random((bs, K), dtype=np.float32))
        masks.append(rng.random(bs) < 0.7 if masked else None)
    return xs, ids, ws, masks


def _model(W, xs, ids, ws, masks, E, bf16):
    """Per rank: expected received rows, expert token counts [L], ep_recv_counts [W * L] and combined x."""
    L = E // W
    rows, counts, recv, outs = [], [], [], []
    for r in range(W):
        got, cnt, cum, c = [], [], [], 0
        for le in range(L):
            n_le = 0
            for s in range(W):
                for t in range(ids[s].shape[0]):
                    if masks[s] is not None and not masks[s][t]:
                        continue
                    for j in range(ids[s].shape[1]):
                        if ids[s][t, j] == r * L + le:
                            got.append(xs[s][t])
                            n_le += 1
                            c += 1
                cum.append(c)
            cnt.append(n_le)
        rows.append(np.array(got).reshape(len(got), xs[0].shape[1]))
        counts.append(np.array(cnt, np.int64))
        recv.append(np.array(cum, np.int32))
        bs, H = xs[r].shape
        out = np.zeros((bs, H), np.uint16 if bf16 else np.float16)
        for t in range(bs):
            if masks[r] is not None and not masks[r][t]:
                continue
            acc = np.zeros(H, np.float32)
            v = _to_f32(xs[r][t], bf16)
            for j in range(ids[r].shape[1]):
                acc = (acc + (v * ws[r][t, j]).astype(np.float32)).astype(np.float32)
            out[t] = _bf16_round(acc) if bf16 else acc.astype(np.float16)
        outs.append(out)
    return rows, counts, recv, outs


def _run_ranks(W, body):
    """body(comm) on W threads, one per rank; re-raises the first exception."""
    comms = hccl.comm_init_all(W)
    res, errs = [None] * W, [None] * W

    def main(r):
        try:
            res[r] = body(comms[r])
        except BaseException as e:  # noqa: BLE001 -- handed to the main thread
            errs[r] = e

    th = [threading.Thread(target=main, args=(r,)) for r in range(W)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    for c in comms:
        c.destroy()
    for e in errs:
        if e is not None:
            raise e
    return res


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

    def wrap(a):
        a = np.ascontiguousarray(a)
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16) if a.dtype == np.uint16 else \
            torch.from_numpy(a)

    res = _run_ranks(W, lambda c: _layer(c, xs[c.rank], ids[c.rank], ws[c.rank], None, E, 1, False, wrap))
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
