#!/usr/bin/env python3
"""One DeepSeek-V3-shaped MoE layer through moeroute.torch_npu (the vllm-ascend call sequence of layer spec 14.1
and 14.2, moeroute.layer; with --ep W also 14.3, expert parallel), checked against a float64 numpy reference
(examples/moe_layer_reference.py) stage by stage and end to end with the bounds of docs/layer.md. Exits 1 when a
bound is broken.

    PYTHONPATH=python MOEROUTE_LIB=build/src/libmoeroute.so python3 examples/moe_layer.py --preset small
    ... --preset deepseek-v3 --experts 64 --tokens 4 --mode bf16     (the full 256 experts: 21 GiB of bf16 weights)
    ... --preset small --ep 4     (also expert parallel over 4 ranks: dispatch / the rank's experts / combine)
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moe_layer_reference as ref  # noqa: E402
from moeroute import layer  # noqa: E402

RUNS = {"bf16": [("bf16", None)], "w8a8": [("w8a8", "fused")], "w8a8-b": [("w8a8", "dequant-swiglu-quant")],
        "w8a8-a": [("w8a8", "gmm-bf16")]}
RUNS["all"] = RUNS["bf16"] + RUNS["w8a8"] + RUNS["w8a8-b"] + RUNS["w8a8-a"]
LABELS = {"dequant-swiglu-quant": "14.2 fallback b", "gmm-bf16": "14.2 fallback a",
          "fused": "14.2 default, npu_grouped_matmul_swiglu_quant"}


def run_ep(x, w, cfg, lib, mode, path, ep, out=print):
    """The layer expert-parallel over `ep` ranks (moeroute.layer.run_layer_ep), checked as examples/moe_layer.cpp
    --ep checks it: bf16 gives the single-device y values; W8A8 (dispatch quantizes with DynamicQuant's recipe)
    stays within the float64 bound. Returns True when it does."""
    e = layer.run_layer_ep(x, w, cfg, ep, w8a8_path=path)
    same = layer.bf16_value(e["y"]) == layer.bf16_value(lib["y"])  # values: an all-(-0) sum may come back +0
    differ = int(same.size - same.sum())
    if mode == "bf16":
        out("   expert parallel over %d ranks (dispatch / MLP / combine, %.3f ms): %d element(s) of y differ from "
            "the single-device y: %s" % (ep, e["seconds"] * 1e3, differ, "FAILED" if differ else "the same values"))
        return differ == 0
    stages, checks, _ = ref.check_layer(x, w, cfg, e, path, expert_parallel=True)
    good = all(c.ok for c in stages + checks)
    out("   expert parallel over %d ranks (%.3f ms; dispatch quantizes with DynamicQuant's recipe): %d element(s) "
        "differ from the single-device y; max |err| %.3g, max err/bound %.3g: %s"
        % (ep, e["seconds"] * 1e3, differ, checks[-1].max_err, checks[-1].use,
           "within the bound" if good else "BOUND BROKEN"))
    for c in stages + checks[:-1]:
        if not c.ok:
            out("     " + str(c))
    return good


def run_one(cfg, n, mode, path, seed, out=print, ep=0):
    """Run and check one configuration (and expert parallel over `ep` ranks, when ep > 1); returns True when
    every bound holds."""
    w = layer.make_weights(cfg, seed, w8a8=(mode == "w8a8"))
    x = layer.make_tokens(cfg, n, seed)
    layer.run_layer(x, w, cfg, w8a8_path=path or "fused")  # warm-up (first-call binding)
    times = {}
    lib = layer.run_layer(x, w, cfg, w8a8_path=path or "fused", times=times)
    total = sum(times.values())
    label = mode + ("" if path is None else " (%s: %s)" % (LABELS[path], path))
    out("== %s, N=%d tokens: %.3f ms, %.0f tokens/s" % (label, n, total * 1e3, n / total if total else 0))
    out("   " + "  ".join("%s %.3f ms (%.0f%%)" % (s, times[s] * 1e3, 100 * times[s] / total)
                          for s in layer.STAGES))
    stages, checks, info = ref.check_layer(x, w, cfg, lib, path or "fused")
    out("   stage by stage (library inputs fed to the float64 reference):")
    for c in stages:
        out("     " + str(c))
    out("   layer output against the float64 layer:")
    for c in checks:
        out("     " + str(c))
    out("     y checksum (FNV-1a of the bf16 bytes): %016x (examples/moe_layer.cpp prints the same)"
        % layer.checksum(lib["y"]))
    out("     relative error ||y - y64|| / ||y64|| = %.3g (bound's norm %.3g)" % (info["rel_err"], info["rel_bound"]))
    ok = all(c.ok for c in stages + checks)
    if ep > 1:
        ok &= run_ep(x, w, cfg, lib, mode, path or "fused", ep, out)
    return ok


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(layer.PRESETS), default="small")
    p.add_argument("--tokens", type=int, help="N (default: the preset's)")
    p.add_argument("--experts", type=int, help="E (a multiple of 8; default: the preset's)")
    p.add_argument("--mode", choices=sorted(RUNS), default="all",
                   help="bf16 (14.1), w8a8 (14.2's default: fused), w8a8-b (fallback b), w8a8-a (fallback a) or "
                   "all (default)")
    p.add_argument("--seed", type=int, default=1, help="weights and tokens (0..255)")
    p.add_argument("--ep", type=int, default=0,
                   help="also run expert parallel over W ranks (W >= 2 dividing the experts and the tokens)")
    a = p.parse_args(argv)
    cfg = layer.LayerConfig.preset(a.preset, a.experts)
    n = a.tokens or layer.PRESETS[a.preset][4]
    if a.ep == 1 or a.ep < 0 or (a.ep > 1 and (cfg.experts % a.ep or n % a.ep)):
        p.error("--ep W needs W >= 2 dividing the experts (%d) and the tokens (%d)" % (cfg.experts, n))
    print("MoE layer %s: %r, N=%d, seed %d" % (a.preset, cfg, n, a.seed))
    ok = True
    for mode, path in RUNS[a.mode]:
        ok &= run_one(cfg, n, mode, path, a.seed, ep=a.ep)
    print("verified: every stage and the layer output within their bounds" if ok else "FAILED: a bound is broken")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
