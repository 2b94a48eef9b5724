#!/usr/bin/env python3
"""Gating (docs/operators/gating.md) against PyTorch CPU eager computing the same result, in one process on the
same logits:

  deepseek   MoeGatingTopK as DeepSeek-V3 calls it: sigmoid, selection bias, 8 groups (sum of the two best),
             4 groups kept, top-8, renormalised, routed_scaling_factor 2.5      (npu_moe_gating_top_k)
  softmax    MoeGatingTopKSoftmax: softmax over E, top-k values and indices      (npu_moe_gating_top_k_softmax)

torch runs the same formula with the same operation order where torch lets one choose it; its exp and
reductions are its own, so outputs are compared within a tolerance (indices may differ only where two scores
are within a few ulps; the fraction of rows whose index sets differ is printed). Times are medians over --reps
calls after one warm-up call, both sides with the same thread count.

  MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 bench/gating_peers.py
  python3 bench/gating_peers.py --n 4096,8192 --e 128,256 --threads 2
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np


def median_time(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def torch_deepseek(torch, x, bias, k=8, groups=8, keep=4, rsf=2.5, eps=1e-20):
    s = torch.sigmoid(x.float())
    b = s + bias.float()
    n, e = b.shape
    g = b.view(n, groups, e // groups).topk(2, dim=-1).values.sum(-1)
    gi = g.topk(keep, dim=-1).indices
    mask = torch.zeros(n, groups, dtype=torch.bool).scatter_(1, gi, True)
    bm = b.masked_fill(~mask.repeat_interleave(e // groups, dim=1), float("-inf"))
    idx = bm.topk(k, dim=-1).indices
    w = s.gather(1, idx)
    w = w / (w.sum(-1, keepdim=True) + eps) * rsf
    return w.to(x.dtype), idx.int()


def torch_softmax(torch, x, k=8):
    p = torch.softmax(x.float(), -1)
    v, i = p.topk(k, -1)
    return v.to(x.dtype), i.int()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="4096,8192", help="tokens, comma list")
    ap.add_argument("--e", default="128,256", help="experts, comma list (deepseek runs where E is divisible by 8)")
    ap.add_argument("--case", default="deepseek,softmax")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="threads for both (0: all CPUs)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "python"))
    import moeroute
    try:
        import torch
    except ImportError:
        print("torch cannot be imported: nothing to compare with (PYTHONPATH may need a torch)", file=sys.stderr)
        return 1
    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    ctx = moeroute.Context(num_threads=threads)
    rng = np.random.default_rng(args.seed)
    print("moeroute %s (isa %s, %d threads) vs torch %s (%d threads); load average %s" % (
        moeroute.library_version(), ctx.isa, ctx.num_threads, torch.__version__, torch.get_num_threads(),
        " ".join("%.2f" % v for v in os.getloadavg())))
    print("%-9s %6s %4s %10s %10s %8s %12s" % ("case", "N", "E", "moeroute", "torch", "speedup", "rows differ"))
    for case in args.case.split(","):
        for e in (int(v) for v in args.e.split(",")):
            if case == "deepseek" and e % 8:
                continue
            for n in (int(v) for v in args.n.split(",")):
                xt = torch.from_numpy(rng.standard_normal((n, e), dtype=np.float32)).to(torch.bfloat16)
                if case == "deepseek":
                    bias = torch.from_numpy(rng.standard_normal(e, dtype=np.float32) * 0.1).to(torch.bfloat16)
                    ours = lambda: moeroute.npu_moe_gating_top_k(  # noqa: E731
                        xt, 8, bias=bias, k_group=4, group_count=8, group_select_mode=1, norm_type=1,
                        routed_scaling_factor=2.5, ctx=ctx)
                    theirs = lambda: torch_deepseek(torch, xt, bias)  # noqa: E731
                else:
                    ours = lambda: moeroute.npu_moe_gating_top_k_softmax(xt, None, 8, ctx=ctx)  # noqa: E731
                    theirs = lambda: torch_softmax(torch, xt)  # noqa: E731
                a, b = ours(), theirs()
                same_set = (np.sort(a[1].numpy(), 1) == np.sort(b[1].numpy(), 1)).all(1)
                if not np.allclose(a[0].float().numpy()[same_set], b[0].float().numpy()[same_set], rtol=2e-2,
                                   atol=1e-3):
                    print("%s N=%d E=%d: weights differ from torch beyond tolerance" % (case, n, e), file=sys.stderr)
                    return 1
                t_ours, t_theirs = median_time(ours, args.reps), median_time(theirs, args.reps)
                print("%-9s %6d %4d %8.2f ms %8.2f ms %7.1fx %11.4f%%" % (
                    case, n, e, t_ours * 1e3, t_theirs * 1e3, t_theirs / t_ours, 100.0 * (1 - same_set.mean())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
