"""The moeroute CLI's expert-parallel commands (distribute-dispatch, distribute-combine; cli/README.md) on 2 and 4
ranks, float16 and bfloat16, quantMode 0 and 2: every output against the independent numpy model of the global
routing in tests/pypkg/distribute_model.py (received rows, int8 rows and scales, token counts, recv counts; the
bookkeeping layout of docs/operators/distribute.md computed here), then combine after an identity expert (the
weighted sum of each token's copies) or, for quantMode 2, the model's dequantizing expert; and the refusals
(negative id, shapes that do not fit, --ranks outside 1..MOEROUTE_DEVICE_COUNT, corrupted bookkeeping) with their
exit status, one error line and no output written.

MOEROUTE_CLI is the built binary (CTest sets it); by hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli/test_cli_distribute.py
Random cases print their seed; MOEROUTE_TEST_SEED=<n> replays one.
"""

import os
import sys

import numpy as np
import pytest

from cli_common import IO, OK, REFUSED, ROOT, USAGE, needs_cli, readme_blocks, run, run_readme_blocks

PYPKG_DIR = os.path.join(ROOT, "tests", "pypkg")  # the shared model of the global routing
if PYPKG_DIR not in sys.path:
    sys.path.insert(0, PYPKG_DIR)
import distribute_model as dm  # noqa: E402

pytestmark = needs_cli

H, K, E = 16, 2, 8


def _seed(default):
    s = int(os.environ.get("MOEROUTE_TEST_SEED", default))
    print("seed", s)
    return s


def _same(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and np.array_equal(a.view(np.uint8), b.view(np.uint8))


def _save(d, name, a):
    p = d / name
    np.save(p, a)
    return p


def _one_line(r):
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("moeroute distribute-"), r.stderr


def _assist(W, ids, masks):
    """docs/operators/distribute.md bookkeeping, per receiving rank: (source rank, token, slot) of each row, rows
    by local expert, then source rank, then (token, slot)."""
    L = E // W
    out = []
    for r in range(W):
        rows = []
        for le in range(L):
            for s in range(W):
                for t in range(ids[s].shape[0]):
                    if masks[s] is not None and not masks[s][t]:
                        continue
                    rows += [(s, t, j) for j in range(K) if ids[s][t, j] == r * L + le]
        out.append(np.array(rows, np.int32).reshape(-1, 3))
    return out


def _dispatch_args(d, W, xs, ids, ws, masks, bf16):
    args = ["distribute-dispatch", "--ranks", W, "--experts", E, "--x", _save(d, "x.npy", np.stack(xs)),
            "--expert-ids", _save(d, "ids.npy", np.stack(ids))]
    if masks[0] is not None:
        args += ["--active-mask", _save(d, "mask.npy", np.stack(masks))]
    args += ["--expert-scales", _save(d, "w.npy", np.stack(ws))]
    return args + (["--bf16"] if bf16 else [])


@pytest.mark.parametrize("W", [2, 4])
@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("quant", [False, True])
def test_dispatch_then_combine(tmp_path, W, bf16, quant):
    seed = _seed(1000 + 10 * W + 2 * bf16 + quant)
    bs, masked = 5, quant
    xs, ids, ws, masks = dm.make(W, bs, H, K, E, bf16, masked, seed)
    smooth = dm.make_smooth(E, H, seed + 1) if quant else None
    m = dm.model_layer(W, xs, ids, ws, masks, E, bf16, quant=quant, smooth=smooth)
    L, A = E // W, bs * W * min(E // W, K)
    args = _dispatch_args(tmp_path, W, xs, ids, ws, masks, bf16)
    count = bool(quant)  # token counts with quantMode 2, cumsums otherwise
    if quant:
        args += ["--quant-mode", 2, "--scales", _save(tmp_path, "s.npy", smooth)]
    args += ["--token-nums-type", int(count), "--out", tmp_path / "d"]
    r = run(*args)
    assert r.returncode == OK, r.stderr
    out = {n: np.load(tmp_path / "d" / (n + ".npy")) for n in
           ("expand_x", "assist_info", "expert_token_nums", "ep_recv_counts", "expand_scales")}
    assert out["expand_x"].shape == (W, A, H) and out["expand_x"].dtype == (
        np.int8 if quant else np.uint16 if bf16 else np.float16)
    assert (tmp_path / "d" / "dynamic_scales.npy").exists() == quant
    assist = _assist(W, ids, masks)
    for q in range(W):
        n = m["rows"][q].shape[0]
        assert _same(out["expand_x"][q, :n], m["rows"][q]) and not out["expand_x"][q, n:].any()
        assert _same(out["assist_info"][q, :n], assist[q])
        cnt = m["counts"][q]
        assert _same(out["expert_token_nums"][q], cnt if count else np.cumsum(cnt))
        assert _same(out["ep_recv_counts"][q], m["recv"][q])
        # the expert scale of each received row, from its (source, token, slot)
        assert _same(out["expand_scales"][q, :n], np.array([ws[s][t, j] for s, t, j in assist[q]], np.float32))
        if quant:
            assert _same(np.load(tmp_path / "d" / "dynamic_scales.npy")[q, :n], m["scales"][q])

    # the experts: identity (rows as they came), or the model's dequantizing expert for int8 rows
    y = np.zeros((W, A, H), np.uint16 if bf16 else np.float16)
    for q in range(W):
        n = m["rows"][q].shape[0]
        if not quant:
            y[q, :n] = out["expand_x"][q, :n]
            continue
        dyn = np.load(tmp_path / "d" / "dynamic_scales.npy")[q]
        starts = np.concatenate([[0], np.cumsum(m["counts"][q])])
        for le in range(L):
            a, b = starts[le], starts[le + 1]
            y[q, a:b] = dm.apply_expert(out["expand_x"][q, a:b], dyn[a:b], q * L + le, bf16, True)
    cargs = ["distribute-combine", "--ranks", W, "--experts", E, "--expand-x", _save(tmp_path, "y.npy", y),
             "--expert-ids", tmp_path / "ids.npy", "--expert-scales", tmp_path / "w.npy",
             "--assist-info", tmp_path / "d" / "assist_info.npy",
             "--ep-send-counts", tmp_path / "d" / "ep_recv_counts.npy", "--out", tmp_path / "c"]
    if masked:
        cargs += ["--active-mask", tmp_path / "mask.npy"]
    r = run(*(cargs + (["--bf16"] if bf16 else [])))
    assert r.returncode == OK, r.stderr
    assert _same(np.load(tmp_path / "c" / "x.npy"), np.stack(m["outs"]))


def test_identity_is_the_weighted_sum(tmp_path):
    """Hand-checked: 2 ranks, one token each, both slots on the other rank's expert and its own; identity expert
    gives x * (w0 + w1). x and the weights in Fortran order (read as C order)."""
    x = np.array([[[1, 2, 3, 4]], [[-2, .5, 0, 8]]], np.float16)
    ids = np.array([[[0, 3]], [[2, 1]]], np.int32)
    w = np.array([[[.25, .5]], [[1, .125]]], np.float32)
    d = tmp_path
    r = run("distribute-dispatch", "--ranks", 2, "--experts", 4, "--x", _save(d, "x.npy", np.asfortranarray(x)), "--expert-ids",
            _save(d, "i.npy", ids), "--out", d / "o")
    assert r.returncode == OK, r.stderr
    r = run("distribute-combine", "--ranks", 2, "--experts", 4, "--expand-x", d / "o" / "expand_x.npy",
            "--expert-ids", d / "i.npy", "--expert-scales", _save(d, "w.npy", np.asfortranarray(w)), "--ep-send-counts",
            d / "o" / "ep_recv_counts.npy", "--out", d / "c")
    assert r.returncode == OK, r.stderr
    assert np.load(d / "c" / "x.npy").tolist() == [[[.75, 1.5, 2.25, 3]], [[-2.25, .5625, 0, 9]]]


def test_refusals(tmp_path):
    W, bs = 2, 3
    xs, ids, ws, masks = dm.make(W, bs, H, K, E, False, False, _seed(7))
    base = _dispatch_args(tmp_path, W, xs, ids, ws, masks, False)
    out = tmp_path / "o"

    def refused(args, status, words, env=None):
        r = run(*(args + ["--out", out]), env=env)
        assert r.returncode == status, r.stderr
        _one_line(r)
        assert words in r.stderr, r.stderr
        assert not out.exists()

    def opt(args, name, value):
        """args with the value of --name replaced"""
        i = args.index("--" + name)
        return args[:i + 1] + [value] + args[i + 2:]

    bad = np.stack(ids).copy()
    bad[1, 2, 1] = -1  # a negative id on rank 1: every rank refuses
    refused(opt(base, "expert-ids", _save(tmp_path, "bad.npy", bad)), REFUSED, "MOEROUTE_ERR_INVALID_VALUE")
    # shapes that do not fit: ids of another Bs, x of another rank count
    refused(opt(base, "expert-ids", _save(tmp_path, "short.npy", np.stack(ids)[:, :2])), REFUSED,
            "input refused: --expert-ids has shape [2, 2, 2]")
    refused(opt(base, "ranks", 3), REFUSED, "input refused: --x has shape [2, 3, 16], the call needs [3, -1, -1]")
    # W outside 1..MOEROUTE_DEVICE_COUNT
    refused(opt(base, "ranks", 0), USAGE, "--ranks must be at least 1")
    refused(base, REFUSED, "HCCL_E_PARA", env={"MOEROUTE_DEVICE_COUNT": "1"})
    # E not a multiple of the ranks, quant mode outside 0|2, a wrong dtype
    refused(opt(base, "experts", 7), REFUSED, "moeExpertNum = 7")
    refused(base + ["--quant-mode", 1], USAGE, "--quant-mode must be 0 or 2")
    refused(opt(base, "x", _save(tmp_path, "x32.npy", np.stack(xs).astype(np.float32))), IO, "--x must be float16")

    # combine on bookkeeping that does not match the routing
    r = run(*(base + ["--out", tmp_path / "d"]))
    assert r.returncode == OK, r.stderr
    cnt = np.load(tmp_path / "d" / "ep_recv_counts.npy")
    cnt[0, 0] += 1
    cargs = ["distribute-combine", "--ranks", W, "--experts", E, "--expand-x", tmp_path / "d" / "expand_x.npy",
             "--expert-ids", tmp_path / "ids.npy", "--expert-scales", tmp_path / "w.npy",
             "--ep-send-counts", _save(tmp_path, "cnt.npy", cnt)]
    refused(cargs, REFUSED, "MOEROUTE_ERR_INVALID_VALUE")
    refused(cargs[:-2] + ["--ep-send-counts", _save(tmp_path, "cnt2.npy", cnt[:, :3])], REFUSED,
            "--ep-send-counts has shape [2, 3]")


def test_readme_examples(tmp_path):
    """The expert-parallel examples of cli/README.md, as written, give the results they state."""
    blocks = readme_blocks("Expert parallelism")
    assert any("moeroute distribute-combine " in b for b in blocks)
    work = run_readme_blocks(tmp_path, blocks)
    assert np.load(work / "out_ep" / "expert_token_nums.npy").tolist() == [[1, 2], [1, 2]]
    assert np.load(work / "out_epc" / "x.npy").tolist() == [[[.75, 1.5, 2.25, 3]], [[-2.25, .5625, 0, 9]]]
    assert not (work / "out_ep_bad").exists()


@pytest.mark.parametrize("bf16", [False, True])
def test_shared_experts_and_shared_x(tmp_path, bf16):
    """4 ranks, ranks 0-1 the two copies of one shared expert (S = 1, R = 2), 4 MoE experts on ranks 2-3, a
    [W, Bs, K] mask, ids >= E (nothing sent) and --shared-x; identity experts. Each active token comes back as
    the fp32 chain sum_j x * w_j over its live slots, + x (the shared expert, unweighted) + shared_x, rounded
    once; inactive tokens are zeros. Shared ranks get one local expert: column 0 of expert_token_nums."""
    W, bs, E4, seed = 4, 6, 4, _seed(4242)
    rng = np.random.default_rng(seed)
    xf = (rng.integers(-64, 64, size=(W, bs, H)) / 16).astype(np.float32)
    x = dm.round_to(xf, bf16)
    ids = rng.integers(0, E4 + 2, size=(W, bs, K)).astype(np.int32)  # E4, E4 + 1: nothing sent
    mask = rng.random((W, bs, K)) < 0.8
    mask[:, 0] = False  # token 0: no active slot, not sent anywhere
    w = rng.random((W, bs, K), dtype=np.float32)
    sx = dm.round_to((rng.integers(-8, 8, size=(W, bs, H)) / 4).astype(np.float32), bf16)
    d = tmp_path
    common = ["--ranks", W, "--experts", E4, "--shared-experts", 1, "--shared-ranks", 2, "--expert-ids",
              _save(d, "i.npy", ids), "--active-mask", _save(d, "m.npy", mask)] + (["--bf16"] if bf16 else [])
    r = run("distribute-dispatch", "--x", _save(d, "x.npy", x), "--out", d / "o", *common)
    assert r.returncode == OK, r.stderr
    nums = np.load(d / "o" / "expert_token_nums.npy")
    active = mask.any(axis=2)
    # shared copy q serves the sources s with s % 2 == q: all their tokens with an active slot (cumsum = count)
    for q in range(2):
        assert nums[q].tolist() == [int(active[q::2].sum()), 0]
    r = run("distribute-combine", "--expand-x", d / "o" / "expand_x.npy", "--ep-send-counts",
            d / "o" / "ep_recv_counts.npy", "--assist-info", d / "o" / "assist_info.npy", "--expert-scales",
            _save(d, "w.npy", w), "--shared-x", _save(d, "sx.npy", sx), "--out", d / "c", *common)
    assert r.returncode == OK, r.stderr
    want = np.zeros_like(x)
    for s in range(W):
        for t in range(bs):
            if not active[s, t]:
                continue
            xt = dm.to_f32(x[s, t], bf16)
            acc = np.zeros(H, np.float32)
            for j in range(K):
                if mask[s, t, j] and ids[s, t, j] < E4:
                    acc = (acc + (xt * w[s, t, j]).astype(np.float32)).astype(np.float32)
            acc = (acc + xt).astype(np.float32)
            acc = (acc + dm.to_f32(sx[s, t], bf16)).astype(np.float32)
            want[s, t] = dm.round_to(acc, bf16)
    assert _same(np.load(d / "c" / "x.npy"), want)
