"""The whole MoE layer (moeroute.layer, the torch_npu call sequence of layer spec 14.1 / 14.2) against the float64
reference of examples/moe_layer_reference.py: every stage and the layer output within the bounds of docs/layer.md,
for bf16, W8A8 fused (GroupedMatmulSwigluQuant) and both W8A8 fallbacks, single-device and expert parallel over 2
and 4 ranks (run_layer_ep); the checks themselves catch a wrong expert, a wrong row and a perturbed output (so they
are not vacuous); the C++ example computes the same bytes (when MOEROUTE_LAYER_EXAMPLE names it).

Run as tests/pypkg/test_package.py is:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg/test_moe_layer_pkg.py
Layer seeds are fixed (0..255, in the test ids), so a failure replays as it is.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from pkgtest import ROOT  # first: sys.path for moeroute
from moeroute import layer  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "examples"))
import moe_layer_reference as ref  # noqa: E402

RUNS = [("bf16", None), ("w8a8", "fused"), ("w8a8", "dequant-swiglu-quant"), ("w8a8", "gmm-bf16")]  # the C++ order
MODE_OPTION = {None: "bf16", "fused": "w8a8", "dequant-swiglu-quant": "w8a8-b", "gmm-bf16": "w8a8-a"}


def run(seed, mode, path, n=None, experts=None, tokens_scale=1.0):
    cfg = layer.LayerConfig.preset("small", experts)
    w = layer.make_weights(cfg, seed, w8a8=(mode == "w8a8"))
    x = layer.make_tokens(cfg, n or layer.PRESETS["small"][4], seed)
    if tokens_scale != 1.0:  # larger activations: more spread of the logits
        x = layer.bf16_bits(layer.bf16_value(x) * tokens_scale)
    lib = layer.run_layer(x, w, cfg, w8a8_path=path or "fused")
    return cfg, w, x, lib


def verdict(cfg, w, x, lib, path, expert_parallel=False):
    stages, checks, info = ref.check_layer(x, w, cfg, lib, path or "fused", expert_parallel)
    return stages, checks, info


@pytest.mark.parametrize("seed", [1, 7, 200])
@pytest.mark.parametrize("mode,path", RUNS)
def test_layer_within_bounds(seed, mode, path):
    cfg, w, x, lib = run(seed, mode, path)
    stages, checks, info = verdict(cfg, w, x, lib, path)
    failed = [str(c) for c in stages + checks if not c.ok]
    assert not failed, "seed %d:\n%s" % (seed, "\n".join(failed))
    # the bound is not empty talk: the layer differs from float64 (bf16 intermediates), and by less than 2%
    assert 0 < info["rel_err"] < (0.01 if mode == "bf16" else 0.03)


def test_shapes_and_stage_outputs():
    cfg, w, x, lib = run(3, "bf16", None, n=5)
    N, H, E, K, I = 5, cfg.hidden, cfg.experts, cfg.top_k, cfg.inter
    assert lib["logits"].shape == (N, E) and lib["logits"].dtype == np.float32
    assert lib["topk_ids"].shape == (N, K) and lib["topk_weights"].dtype == np.float32
    assert lib["counts"].sum() == N * K and lib["h1"].shape == (N * K, 2 * I) and lib["h2"].shape == (N * K, I)
    assert lib["y"].shape == (N, H) and lib["y"].dtype == np.uint16
    # sigmoid weights are renormalised, then scaled: each row sums to the routed scaling factor
    assert np.allclose(lib["topk_weights"].sum(axis=1), cfg.routed_scaling, rtol=1e-6)


def test_one_token_and_expert_override():
    cfg, w, x, lib = run(5, "w8a8", "dequant-swiglu-quant", n=1, experts=32)
    stages, checks, _ = verdict(cfg, w, x, lib, None)
    assert all(c.ok for c in stages + checks)


def test_checks_catch_a_wrong_expert():
    cfg, w, x, lib = run(1, "bf16", None)
    ids = lib["topk_ids"].copy()
    _, _, b, _ = ref.select(bias=w.e_bias.astype(np.float64), cfg=cfg,
                             logits=lib["logits"].astype(np.float64))
    # replace token 0's last expert by its worst-scoring expert: far from a tie
    ids[0, -1] = int(np.argmin(b[0]))
    differ, bad = ref.near_tie_rows(ids, lib["logits"].astype(np.float64), w.e_bias.astype(np.float64), cfg,
                                    ref.TIE_TOL)
    assert list(differ) == [0] and bad == [0]


def test_near_tie_is_accepted():
    cfg = layer.LayerConfig.preset("small")
    logits = np.zeros((1, cfg.experts))  # every score equal: any order of equal scores is a tie
    bias = np.zeros(cfg.experts)
    ids, _, _, _ = ref.select(logits, bias, cfg)
    assert list(ids[0]) == [0, 1, 2, 3]  # ties go to the lower index
    swapped = ids[:, ::-1].copy()
    differ, bad = ref.near_tie_rows(swapped, logits, bias, cfg, ref.TIE_TOL)
    assert list(differ) == [0] and bad == []


@pytest.mark.parametrize("mode,path", RUNS)
def test_layer_with_near_ties(mode, path):
    """Experts 0 and 1 get zero gate rows (logit 0, sigmoid exactly 0.5) and biases 0.5 and 0.5 + 2^-24 (one fp32
    ulp apart): float64 scores them 1 and 1 + 2^-24 and ranks expert 1 first; the library's fp32 sum rounds both
    to 1.0 (a tie, to even) and ranks expert 0 first (the lower index). Both always win (1.0 beats every other
    score). Every row differs from float64 by this near tie; the checks accept it and compare the layer on the
    library's ids."""
    cfg = layer.LayerConfig.preset("small")
    w = layer.make_weights(cfg, 4, w8a8=(mode == "w8a8"))
    w.gate[:2] = 0
    w.e_bias[0] = np.float32(0.5)
    w.e_bias[1] = np.nextafter(np.float32(0.5), np.float32(1))
    x = layer.make_tokens(cfg, 64, 4)
    lib = layer.run_layer(x, w, cfg, w8a8_path=path or "fused")
    assert (lib["topk_ids"][:, :2] == [0, 1]).all()
    stages, checks, info = verdict(cfg, w, x, lib, path)
    assert info["selection_differs"] == 64
    failed = [str(c) for c in stages + checks if not c.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("mode,path", RUNS)
def test_checks_catch_perturbed_outputs(mode, path):
    cfg, w, x, lib = run(2, mode, path)
    for key, how in (("y", "ulp"), ("h3", "ulp"), ("expanded_row_idx", "swap"), ("counts", "swap")):
        bad = dict(lib)
        a = lib[key].copy()
        if how == "ulp":  # 4 ulps up on the largest element: past every bf16 store bound
            i = np.argmax(np.abs(layer.bf16_value(a)))
            a.reshape(-1)[i] += 4
        else:
            a[[0, 1]] = a[[1, 0]] if a[0] != a[1] else (a[0], a[1] + 1)
        bad[key] = a
        stages, checks, _ = verdict(cfg, w, x, bad, path)
        assert not all(c.ok for c in stages + checks), "a perturbed %s passed the checks" % key


@pytest.mark.parametrize("mode,path", RUNS)
def test_example_script(mode, path, capsys):
    import moe_layer
    assert moe_layer.main(["--preset", "small", "--tokens", "16", "--mode", MODE_OPTION[path]]) == 0
    assert "verified" in capsys.readouterr().out


@pytest.mark.parametrize("ep", [2, 4])
@pytest.mark.parametrize("mode,path", RUNS)
def test_expert_parallel(ep, mode, path):
    """run_layer_ep (layer spec 14.3): each rank gates its tokens as the single device does (the same logits, ids
    and weights, bit for bit), dispatch delivers the single-device routing's rows of the rank's experts in the same
    order (bf16: copied; W8A8: DynamicQuant's int8 and scale, exact against numpy), and y is the single-device y
    byte for byte (bf16) or within the float64 bound (W8A8)."""
    cfg, w, x, lib = run(1, mode, path)
    e = layer.run_layer_ep(x, w, cfg, ep, w8a8_path=path or "fused")
    for k in ("logits", "topk_weights", "topk_ids"):
        assert np.array_equal(e[k], lib[k]), k
    Le = cfg.experts // ep
    off = np.concatenate([[0], np.cumsum(lib["counts"])])
    src = np.argsort(lib["topk_ids"].reshape(-1), kind="stable") // cfg.top_k
    for r, o in enumerate(e["ranks"]):
        a, b = off[r * Le], off[(r + 1) * Le]
        assert np.array_equal(o["expert_token_nums"], lib["counts"][r * Le:(r + 1) * Le]), r
        if mode == "bf16":
            assert np.array_equal(o["expand_x"][:b - a], lib["expanded_x"][a:b]), r
        else:
            v = layer.bf16_value(x[src[a:b]])
            assert np.array_equal(o["expand_x"][:b - a], ref.dynamic_quant_int8(v)), r
            assert np.array_equal(o["dynamic_scales"][:b - a],
                                  np.float32(1) / (np.float32(127) / np.abs(v).max(axis=1)).astype(np.float32)), r
    if mode == "bf16":
        assert e["y"].dtype == np.uint16 and np.array_equal(e["y"], lib["y"])
    else:
        stages, checks, info = verdict(cfg, w, x, e, path, expert_parallel=True)
        failed = [str(c) for c in stages + checks if not c.ok]
        assert not failed, "\n".join(failed)
        assert 0 < info["rel_err"] < 0.03
    with pytest.raises(ValueError, match="ep must be"):
        layer.run_layer_ep(x, w, cfg, 3)


@pytest.mark.parametrize("mode,path", RUNS)
def test_packed_weights_same_bytes(mode, path):
    """layer.pack_weights (moeroute.GroupedMatmulWeights for the grouped matmuls): every stage output is the
    unpacked run's byte for byte, single device and over 2 ranks (weights packed per rank's experts)."""
    cfg, w, x, lib = run(5, mode, path)
    ep = layer.run_layer_ep(x, w, cfg, 2, w8a8_path=path or "fused")
    layer.pack_weights(w)
    assert w.packed and all(p.nbytes > 0 for p in w.packed.values())
    got = layer.run_layer(x, w, cfg, w8a8_path=path or "fused")
    assert sorted(got) == sorted(lib)
    for k in lib:
        assert np.array_equal(np.asarray(got[k]), np.asarray(lib[k])), k
    layer.pack_weights(w, ep=2)
    assert len(w.packed) == 4
    got = layer.run_layer_ep(x, w, cfg, 2, w8a8_path=path or "fused")
    assert np.array_equal(got["y"], ep["y"])
    for r in range(2):
        for k in ep["ranks"][r]:
            assert np.array_equal(np.asarray(got["ranks"][r][k]), np.asarray(ep["ranks"][r][k])), (r, k)


def test_example_script_ep(capsys):
    import moe_layer
    assert moe_layer.main(["--preset", "small", "--tokens", "16", "--ep", "2"]) == 0
    out = capsys.readouterr().out
    assert "verified" in out and "differ from the single-device y: the same values" in out
    assert out.count("expert parallel over 2 ranks") == len(RUNS)


@pytest.mark.skipif(not os.environ.get("MOEROUTE_LAYER_EXAMPLE"), reason="MOEROUTE_LAYER_EXAMPLE is not set")
def test_c_example_same_bytes():
    """examples/moe_layer.cpp (CANN API) and moeroute.layer (torch_npu names) compute the same y bytes."""
    out = subprocess.run([os.environ["MOEROUTE_LAYER_EXAMPLE"], "--preset", "small", "--reps", "1"],
                         capture_output=True, text=True, check=True).stdout
    sums = re.findall(r"y checksum \(FNV-1a of the bf16 bytes\): ([0-9a-f]{16})", out)
    assert len(sums) == len(RUNS) and "verified" in out
    for (mode, path), got in zip(RUNS, sums):
        cfg, w, x, lib = run(1, mode, path)
        assert "%016x" % layer.checksum(lib["y"]) == got, (mode, path)
