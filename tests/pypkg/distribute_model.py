"""Single-process numpy model of expert-parallel dispatch -> expert -> combine over W ranks (docs/operators/
distribute.md, layer spec 11), shared by the thread-transport test (test_distribute_pkg.py) and the MPI one
(mpi_distribute_pkg.py): received rows (order: local expert, source rank, (token, slot)), the per-token int8
recipe of quantMode 2, expert token counts / cumsums and the combined tokens (fp32 chain of spec 11.4, rounded
once). No shared-expert ranks; masks are per token ([Bs]) or absent."""

import threading

import numpy as np


def bf16_round(f32):
    """float32 -> bfloat16 bits (uint16), round to nearest even (finite inputs)."""
    u = np.asarray(f32, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def to_f32(x, bf16):
    return (x.astype(np.uint32) << 16).view(np.float32) if bf16 else x.astype(np.float32)


def round_to(f32, bf16):
    """float32 -> the activation dtype (bf16 bits as uint16, or float16), round to nearest even."""
    return bf16_round(f32) if bf16 else np.asarray(f32, np.float32).astype(np.float16)


def make(W, bs, H, K, E, bf16, masked, seed):
    """Every rank's x [bs, H], expert ids [bs, K] (distinct per token), weights [bs, K] and mask [bs] (or None)."""
    rng = np.random.default_rng(seed)
    xs, ids, ws, masks = [], [], [], []
    for _ in range(W):
        x = rng.integers(-512, 512, size=(bs, H)).astype(np.float32) / 64
        xs.append(round_to(x, bf16))
        ids.append(np.stack([rng.permutation(E)[:K] for _ in range(bs)]).astype(np.int32).reshape(bs, K))
        ws.append(rng.random((bs, K), dtype=np.float32))
        masks.append(rng.random(bs) < 0.7 if masked else None)
    return xs, ids, ws, masks


def make_smooth(E, H, seed):
    """quantMode 2 smooth factors [E, H] float32 in [0.5, 1.5)."""
    return (np.random.default_rng(seed).random((E, H), dtype=np.float32) + np.float32(0.5)).astype(np.float32)


def quant_row(x, bf16, smooth_row=None):
    """Dynamic per-token int8 (docs/operators/distribute.md, template A): (int8 [H], float32 scale)."""
    v = to_f32(x, bf16)
    if smooth_row is not None:
        v = (v * smooth_row).astype(np.float32)
    a = np.max(np.abs(v)).astype(np.float32)
    if a == 0:
        return np.zeros(v.shape, np.int8), np.float32(0)
    f = np.float32(127) / a
    y = np.clip(np.rint((v * f).astype(np.float32)), -128, 127).astype(np.int8)
    return y, np.float32(1) / f


def expert_factor(e):
    """The test expert e multiplies by 2^(e % 3 - 1): exact in every dtype for the test's values."""
    return np.float32(2.0 ** (e % 3 - 1))


def apply_expert(rows, scales, e, bf16, quant):
    """Expert e on received rows [n, H] (int8 with their float32 scales when quant): dequantize, scale, round
    to the activation dtype."""
    v = (rows.astype(np.float32) * scales[:, None]).astype(np.float32) if quant else to_f32(rows, bf16)
    return round_to((v * expert_factor(e)).astype(np.float32), bf16)


def model_layer(W, xs, ids, ws, masks, E, bf16, quant=False, smooth=None, expert=False):
    """Per rank: rows (received, in order), scales (their float32 quant scales; empty unless quant), counts
    (rows per local expert [L], int64), recv (ep_recv_counts [W * L]) and outs (combined x [Bs, H]). With
    expert (always with quant) the rows pass through apply_expert before combine; otherwise through identity."""
    L = E // W
    H = xs[0].shape[1]
    expert = expert or quant

    def routed(s, t, e):
        if quant:
            q, sc = quant_row(xs[s][t], bf16, None if smooth is None else smooth[e])
            return q, sc
        return xs[s][t], np.float32(0)

    def active(s, t):
        return masks[s] is None or masks[s][t]

    res = {"rows": [], "scales": [], "counts": [], "recv": [], "outs": []}
    for r in range(W):
        got, scs, cnt, cum, c = [], [], [], [], 0
        for le in range(L):
            n_le = 0
            for s in range(W):
                for t in range(ids[s].shape[0]):
                    if not active(s, t):
                        continue
                    for j in range(ids[s].shape[1]):
                        if ids[s][t, j] == r * L + le:
                            row, sc = routed(s, t, r * L + le)
                            got.append(row)
                            scs.append(sc)
                            n_le += 1
                            c += 1
                cum.append(c)
            cnt.append(n_le)
        res["rows"].append(np.array(got, np.int8 if quant else xs[0].dtype).reshape(len(got), H))
        res["scales"].append(np.array(scs, np.float32) if quant else np.zeros(0, np.float32))
        res["counts"].append(np.array(cnt, np.int64))
        res["recv"].append(np.array(cum, np.int32))
        bs = xs[r].shape[0]
        out = np.zeros((bs, H), np.uint16 if bf16 else np.float16)
        for t in range(bs):
            if not active(r, t):
                continue
            acc = np.zeros(H, np.float32)
            for j in range(ids[r].shape[1]):
                e = int(ids[r][t, j])
                if not 0 <= e < E:
                    continue
                if expert:
                    row, sc = routed(r, t, e)
                    y = apply_expert(row[None, :], np.array([sc], np.float32), e, bf16, quant)[0]
                else:
                    y = xs[r][t]
                acc = (acc + (to_f32(y, bf16) * ws[r][t, j]).astype(np.float32)).astype(np.float32)
            out[t] = round_to(acc, bf16)
        res["outs"].append(out)
    return res


def model(W, xs, ids, ws, masks, E, bf16):
    """Identity expert, rows copied: per rank (rows, counts, recv, outs)."""
    m = model_layer(W, xs, ids, ws, masks, E, bf16)
    return m["rows"], m["counts"], m["recv"], m["outs"]


def run_ranks(W, body):
    """body(comm) on W threads, one per rank of an in-process communicator (moeroute.hccl.comm_init_all);
    results in rank order; re-raises the first exception."""
    from moeroute import hccl
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
