"""The moeroute CLI's element-wise MLP commands (dynamic-quant, swiglu, dequant-swiglu-quant) against the numpy
models of tests/python/mlp_golden.py (byte for byte; SwiGlu within the results a 1-ulp SiLU allows), Fortran-order
and bfloat16 inputs, and their refusals with the documented exit statuses (cli/README.md).

MOEROUTE_CLI is the built binary (CTest sets it); by hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli/test_cli_mlp.py
"""

import os
import subprocess

import numpy as np
import pytest

# cli_common first: it puts tests/python (the golden models) on sys.path
from cli_common import CLI, IO, REFUSED, USAGE, needs_cli
import mlp_golden as mg  # noqa: E402

pytestmark = needs_cli


def run(*args):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, env=env)


def _same(a, b):
    return np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


@pytest.mark.parametrize("i", range(6))
def test_dynamic_quant(tmp_path, i):
    rng = np.random.default_rng(100 + i)
    dtype = ["f16", "bf16"][i % 2]
    x = mg.from_f32(rng.standard_normal((9, 24)).astype(np.float32) * 5, dtype)
    args = ["dynamic-quant", "--x", tmp_path / "x.npy", "--out", tmp_path / "o"]
    np.save(tmp_path / "x.npy", np.asfortranarray(x) if i % 3 == 0 else x)
    smooth = groups = None
    if i >= 2:
        groups = np.array([4, 9], np.int32) if i >= 4 else None
        smooth = mg.from_f32(rng.random((2, 24) if groups is not None else 24).astype(np.float32) + .5, dtype)
        np.save(tmp_path / "s.npy", smooth)
        args += ["--smooth-scales", tmp_path / "s.npy"]
        if groups is not None:
            np.save(tmp_path / "g.npy", groups)
            args += ["--group-index", tmp_path / "g.npy"]
    if dtype == "bf16":
        args.append("--bf16")
    r = run(*args)
    assert r.returncode == 0, r.stderr
    y_ref, s_ref = mg.dynamic_quant(x, dtype, smooth, groups)
    assert _same(np.load(tmp_path / "o" / "y.npy"), y_ref) and _same(np.load(tmp_path / "o" / "scale.npy"), s_ref)


def test_swiglu(tmp_path):
    x = np.random.default_rng(5).standard_normal((7, 32)).astype(np.float16)
    np.save(tmp_path / "x.npy", x)
    r = run("swiglu", "--x", tmp_path / "x.npy", "--out", tmp_path / "o", "--threads", 2)
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "o" / "out.npy").view(np.uint16)
    ok = np.zeros(got.shape, bool)
    for c in mg.swiglu_candidates(x, "f16", -1):
        ok |= got == np.asarray(c).view(np.uint16)
    assert ok.all()


def test_dequant_swiglu_quant(tmp_path):
    x = np.array([[10, -20, 30, 40], [4, 2, -8, 6]], np.int32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", np.array([.5, .5, .25, .25], np.float32))
    np.save(tmp_path / "a.npy", np.array([2, .5], np.float32))
    np.save(tmp_path / "q.npy", np.array([.25], np.float32))
    np.save(tmp_path / "qo.npy", np.array([.5], np.float32))
    base = ["dequant-swiglu-quant", "--x", tmp_path / "x.npy", "--weight-scale", tmp_path / "w.npy",
            "--activation-scale", tmp_path / "a.npy", "--activate-left"]
    r = run(*base, "--quant-mode", "dynamic", "--out", tmp_path / "d")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "d" / "y.npy").tolist() == [[127, 0], [-127, 41]]
    assert np.load(tmp_path / "d" / "scale.npy").view(np.uint32).tolist() == [0x3f972c9b, 0x3bbc9fe8]
    r = run(*base, "--quant-scale", tmp_path / "q.npy", "--quant-offset", tmp_path / "qo.npy", "--out", tmp_path / "s")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "s" / "y.npy").tolist() == [[38, 0], [0, 1]]
    assert (np.load(tmp_path / "s" / "scale.npy") == 0).all()


def test_refusals(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.float16))
    np.save(tmp_path / "xi.npy", np.zeros((2, 4), np.int32))
    np.save(tmp_path / "xo.npy", np.zeros((2, 3), np.float32))
    np.save(tmp_path / "s3.npy", np.ones(3, np.float16))
    np.save(tmp_path / "g.npy", np.array([1, 2], np.int32))
    np.save(tmp_path / "w3.npy", np.ones(3, np.float32))
    out = ["--out", tmp_path / "o"]
    cases = [
        (("dynamic-quant",) + tuple(out), USAGE),                                           # no --x
        (("dynamic-quant", "--x", tmp_path / "x.npy", "--bogus", 1) + tuple(out), USAGE),
        (("dynamic-quant", "--x", tmp_path / "xi.npy") + tuple(out), IO),                 # int32 x
        (("dynamic-quant", "--x", tmp_path / "x.npy", "--smooth-scales", tmp_path / "s3.npy") + tuple(out), REFUSED),
        (("dynamic-quant", "--x", tmp_path / "x.npy", "--group-index", tmp_path / "g.npy") + tuple(out), REFUSED),
        (("swiglu", "--x", tmp_path / "xo.npy") + tuple(out), REFUSED),                   # odd columns
        (("dequant-swiglu-quant", "--x", tmp_path / "xi.npy", "--quant-mode", "pertoken") + tuple(out), USAGE),
        (("dequant-swiglu-quant", "--x", tmp_path / "xi.npy") + tuple(out), REFUSED),    # static without a scale
        (("dequant-swiglu-quant", "--x", tmp_path / "xi.npy", "--weight-scale", tmp_path / "w3.npy",
          "--quant-mode", "dynamic") + tuple(out), REFUSED),
    ]
    for args, want in cases:
        r = run(*args)
        assert r.returncode == want, (args, r.returncode, r.stderr)
        assert r.stderr.startswith("moeroute "), r.stderr
        assert not (tmp_path / "o").exists()
