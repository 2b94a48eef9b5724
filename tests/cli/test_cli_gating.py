"""The moeroute CLI's gating commands (cli/combine_cmds.c): gating-top-k and gating-top-k-softmax (versions 1
and 2) on .npy files written by numpy, against the independent numpy model tests/python/gating_golden.py.
By hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli/test_cli_gating.py
Checks: every output byte (outside the rare rows where the model flags a hard rounding point), the set of
files written, 3-D x and finished masks, threads and ISA giving the same bytes, refused inputs with exit 1 or 2
and nothing written. Random cases use fixed seeds (the parameter), so a failure replays as it is.
"""

import os
import subprocess

import numpy as np
import pytest

# cli_common first: it puts tests/python (the golden models) on sys.path
from cli_common import CLI, needs_cli
import gating_golden as gg  # noqa: E402

pytestmark = needs_cli
CARRIER = {"f16": np.float16, "bf16": np.uint16, "f32": np.float32}


def run(*args):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, timeout=120, env=env)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


def logits(rng, shape, dtype):
    v = rng.standard_normal(shape).astype(np.float32)
    if dtype == "bf16":
        return (v.view(np.uint32) >> 16).astype(np.uint16)
    return v.astype(CARRIER[dtype])


def load(d, name):
    return np.load(os.path.join(str(d), name + ".npy"))


def written(d):
    return sorted(f[:-4] for f in os.listdir(d)) if os.path.isdir(d) else []


@pytest.mark.parametrize("seed", range(8))
def test_gating_top_k(tmp_path, seed):
    rng = np.random.default_rng([seed, 9])
    dtype = ("f32", "f16", "bf16")[seed % 3]
    N, G = int(rng.integers(0, 12)), (1, 4, 8)[seed % 3]
    E = G * int(rng.integers(2, 9))
    norm, mode = seed % 2, (seed // 2) % 2
    kg = int(rng.integers(1, G + 1))
    k = int(rng.integers(1, kg * (E // G) + 1))
    x = logits(rng, (N, E), dtype)
    bias = logits(rng, (E,), dtype) if seed % 4 < 2 else None
    np.save(tmp_path / "x.npy", x)
    args = ["gating-top-k", "--x", tmp_path / "x.npy", "--k", k, "--k-group", kg, "--group-count", G,
            "--group-select-mode", mode, "--norm-type", norm, "--routed-scaling-factor", 2.5, "--out-flag"]
    if bias is not None:
        np.save(tmp_path / "b.npy", bias)
        args += ["--bias", tmp_path / "b.npy"]
    if dtype == "bf16":
        args.append("--bf16")
    outs = []
    for threads, isa in ((1, "scalar"), (3, "auto")):
        d = tmp_path / ("out%d" % threads)
        r = run(*args, "--out", d, "--threads", threads, "--isa", isa)
        assert r.returncode == 0, r.stderr
        assert written(d) == ["expert_idx", "scores", "y"]
        outs.append([load(d, n) for n in ("y", "expert_idx", "scores")])
    for a, b in zip(*outs):
        assert a.tobytes() == b.tobytes()
    hard = []
    y, idx, s = gg.gating_top_k(x, dtype, k, bias, kg, G, mode, 0, norm, 2.5, 1e-20, hard_rows=hard)
    ok = ~hard[0]
    assert outs[0][0].dtype == CARRIER[dtype] and outs[0][1].dtype == np.int32
    assert (outs[0][1][ok] == idx[ok]).all() and outs[0][0][ok].tobytes() == y[ok].tobytes()
    assert outs[0][2][ok].tobytes() == s[ok].tobytes()


@pytest.mark.parametrize("seed", range(8))
def test_gating_top_k_softmax(tmp_path, seed):
    rng = np.random.default_rng([seed, 10])
    dtype = ("f32", "bf16", "f16")[seed % 3]
    version, renorm = 1 + seed % 2, (seed // 2) % 2 if seed % 2 else 0
    shape = (int(rng.integers(1, 4)), int(rng.integers(0, 6)), int(rng.integers(2, 40))) if seed % 3 == 0 else \
        (int(rng.integers(0, 10)), int(rng.integers(2, 40)))
    E = shape[-1]
    k = int(rng.integers(1, E + 1))
    x = logits(rng, shape, dtype)
    fin = rng.integers(0, 2, shape[:-1]).astype(bool)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "f.npy", fin)
    args = ["gating-top-k-softmax", "--x", tmp_path / "x.npy", "--finished", tmp_path / "f.npy", "--k", k,
            "--version", version, "--renorm", renorm, "--out", tmp_path / "o"]
    if version == 2 and renorm == 0:
        args.append("--softmax-result")
    if dtype == "bf16":
        args.append("--bf16")
    r = run(*args)
    assert r.returncode == 0, r.stderr
    third = "row_idx" if version == 1 else "softmax_result"
    assert written(tmp_path / "o") == sorted(["y", "expert_idx"] + ([third] if version == 1 or renorm == 0 else []))
    hard = []
    want = gg.gating_top_k_softmax(x, dtype, k, fin, version, renorm, hard_rows=hard)
    ok = ~hard[0].reshape(shape[:-1])
    assert (load(tmp_path / "o", "expert_idx")[ok] == want[1][ok]).all()
    assert load(tmp_path / "o", "y")[ok].tobytes() == want[0][ok].tobytes()
    if version == 1:
        assert load(tmp_path / "o", "row_idx").tobytes() == want[2].tobytes()


def test_refused(tmp_path):
    x = np.zeros((3, 8), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "f.npy", np.zeros(4, bool))
    cases = [
        (["gating-top-k", "--x", tmp_path / "x.npy", "--k", 9], 1),                      # k > E
        (["gating-top-k", "--x", tmp_path / "x.npy", "--k", 2, "--group-count", 3], 1),  # 3 does not divide 8
        (["gating-top-k", "--x", tmp_path / "x.npy", "--k", "two"], 2),
        (["gating-top-k", "--x", tmp_path / "x.npy"], 2),                                # --k missing
        (["gating-top-k-softmax", "--x", tmp_path / "x.npy", "--k", 2, "--finished", tmp_path / "f.npy"], 1),
        (["gating-top-k-softmax", "--x", tmp_path / "x.npy", "--k", 2, "--softmax-result"], 1),  # version 1
    ]
    for args, status in cases:
        r = run(*args, "--out", tmp_path / "o")
        assert r.returncode == status, (args, r.returncode, r.stderr)
        assert len(r.stderr.strip().splitlines()) >= 1
        assert not os.path.exists(tmp_path / "o") or written(tmp_path / "o") == []
