#!/usr/bin/env python3
"""The whole MoE layer (moeroute.layer, docs/layer.md): tokens per second for decode and prefill batches, the
share of time each stage takes, and PyTorch CPU eager computing the same layer in float32 in the same run.

  moeroute  bf16 (layer spec 14.1) and W8A8 (14.2 fallback b) through moeroute.torch_npu, the default Context
            (all cores); each also with its grouped-matmul weights packed once beforehand (-packed columns,
            layer.pack_weights; the same bytes)
  torch     the same layer written in eager PyTorch, float32 weights (the bf16 model widened): router matmul,
            sigmoid + bias, grouped top-k, one matmul pair per expert, index_add combine; same thread count.
            Skipped with a message when torch cannot be imported.

Each timed round calls every column once (so the columns share whatever load the machine has), after one
warm-up round; a column's time is the best of its --reps calls (per stage: the best of each stage), the stable
estimate on a machine shared with other jobs; --stat median gives medians. The relative difference of torch's y from
moeroute's bf16 y is printed as a sanity check (bf16 intermediates: about 0.4%).

  MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 bench/moe_layer_bench.py
  PYTHONPATH=python:/tmp/torchsite python3 bench/moe_layer_bench.py --preset mid --decode 1,4,16 --prefill 512,4096
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    from moeroute import layer
except ImportError:  # the source tree's package
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
    from moeroute import layer


STAT = min


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def moeroute_call(cfg, w, x, path, ctx):
    """One layer call: (seconds, seconds per stage, y)."""
    times = {}
    dt, out = timed(lambda: layer.run_layer(x, w, cfg, w8a8_path=path, times=times, ctx=ctx))
    return dt, times, out["y"]


class TorchLayer:
    """The same layer in eager PyTorch, float32."""

    def __init__(self, torch, cfg, w):
        self.t, self.cfg = torch, cfg
        f = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        self.gate, self.bias = f(w.gate), f(w.e_bias)
        self.w13 = f(layer.bf16_value(w.w13))   # [E, 2I, H]
        self.w2 = f(layer.bf16_value(w.w2))     # [E, H, I]

    def __call__(self, x):
        t, c = self.t, self.cfg
        N = x.shape[0]
        E, K, I, G = c.experts, c.top_k, c.inter, c.groups
        logits = x @ self.gate.T
        s = t.sigmoid(logits)
        b = s + self.bias
        gs = b.view(N, G, E // G).topk(2, dim=-1).values.sum(-1)
        gi = gs.topk(c.topk_groups, dim=-1).indices
        mask = t.zeros(N, G, dtype=t.bool).scatter_(1, gi, True)
        ids = b.masked_fill(~mask.repeat_interleave(E // G, dim=1), float("-inf")).topk(K, dim=-1).indices
        wts = s.gather(1, ids)
        wts = wts / (wts.sum(-1, keepdim=True) + 1e-20) * c.routed_scaling
        flat = ids.reshape(-1)
        order = t.argsort(flat, stable=True)
        counts = t.bincount(flat, minlength=E).tolist()
        src = order // K
        xs = x[src]
        out = t.empty(N * K, x.shape[1])
        start = 0
        for e, n in enumerate(counts):
            if n:
                h = xs[start:start + n] @ self.w13[e].T
                out[start:start + n] = (t.nn.functional.silu(h[:, :I]) * h[:, I:]) @ self.w2[e].T
                start += n
        return t.zeros(N, x.shape[1]).index_add_(0, src, out * wts.reshape(-1)[order, None])


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(layer.PRESETS), default="mid")
    ap.add_argument("--experts", type=int, help="override the preset's E (a multiple of 8)")
    ap.add_argument("--decode", default="1,2,4,8,16", help="decode batch sizes (comma list; empty: none)")
    ap.add_argument("--prefill", default="512,1024,2048,4096", help="prefill batch sizes (comma list)")
    ap.add_argument("--modes", default="bf16,bf16-packed,w8a8,w8a8-packed",
                    help="bf16, w8a8 (14.2 fallback b), w8a8-a (fallback a); -packed: the same with the grouped "
                         "matmuls' weights packed once beforehand (layer.pack_weights)")
    ap.add_argument("--reps", type=int, default=5, help="timed calls per case (prefill: at least 3)")
    ap.add_argument("--stat", choices=("min", "median"), default="min", help="statistic of the timed calls")
    ap.add_argument("--threads", type=int, default=0, help="threads of both sides (0: moeroute's default, all "
                    "CPUs, and torch's own default)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    a = ap.parse_args()
    global STAT
    STAT = min if a.stat == "min" else statistics.median
    cfg = layer.LayerConfig.preset(a.preset, a.experts)
    sizes = [("decode", int(n)) for n in a.decode.split(",") if n] + \
            [("prefill", int(n)) for n in a.prefill.split(",") if n]
    modes = [m for m in a.modes.split(",") if m]
    paths = {"bf16": "dequant-swiglu-quant", "w8a8": "dequant-swiglu-quant", "w8a8-a": "gmm-bf16"}
    paths.update({m + "-packed": p for m, p in list(paths.items())})
    torch = None
    if not a.no_torch:
        try:
            import torch
        except ImportError:
            print("torch cannot be imported: the PyTorch column is skipped (PYTHONPATH=<a torch site> to add it)")
    ctx = None
    if a.threads:
        import moeroute
        ctx = moeroute.Context(num_threads=a.threads)
        if torch is not None:
            torch.set_num_threads(a.threads)
    weights = {m: layer.make_weights(cfg, 1, w8a8=not m.startswith("bf16")) for m in modes}
    for m in modes:
        if m.endswith("-packed"):
            layer.pack_weights(weights[m], ctx)
    tl = TorchLayer(torch, cfg, weights["bf16"] if "bf16" in weights else layer.make_weights(cfg, 1)) \
        if torch is not None else None
    print("MoE layer %s: %r" % (a.preset, cfg))
    print("times: %s of the timed calls after a warm-up; load average before: %.2f" % (a.stat, os.getloadavg()[0]))
    print("machine: %s, %d logical CPUs, moeroute threads %s, Python %s, numpy %s%s" % (
        platform.processor() or platform.machine(), os.cpu_count(), a.threads or "all", platform.python_version(),
        np.__version__,
        (", torch %s (%d threads)" % (torch.__version__, torch.get_num_threads())) if torch is not None else ""))
    head = "| phase | N | " + " | ".join("moeroute %s tok/s" % m for m in modes) + \
        (" | torch fp32 tok/s | moeroute bf16 / torch" if tl else "") + " | stage shares (%s) |" % modes[0]
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for phase, n in sizes:
        x = layer.make_tokens(cfg, n, 1)
        reps = max(3, a.reps if phase == "decode" else min(a.reps, 3))
        # every timed round runs each column once, so they share the machine's load; then STAT per column
        calls = [(m, lambda m=m: moeroute_call(cfg, weights[m], x, paths[m], ctx)) for m in modes]
        if tl:
            xt = torch.from_numpy(layer.bf16_value(x))
            calls.append(("torch", lambda: (timed(lambda: tl(xt)) + (None,))))
        runs = {name: [] for name, _ in calls}
        with (torch.no_grad() if tl else _Null()):
            for r in range(reps + 1):  # round 0 warms up
                for name, fn in calls:
                    res = fn()
                    if r:
                        runs[name].append(res)
        cols, ys = [], {}
        for i, m in enumerate(modes):
            cols.append(n / STAT([t for t, _, _ in runs[m]]))
            ys[m] = runs[m][-1][2]
            if i == 0:
                stages = {s: STAT([st[s] for _, st, _ in runs[m]]) for s in layer.STAGES}
                tot = sum(stages.values())
                shares = " ".join("%s %.0f%%" % (s, 100 * stages[s] / tot) for s in layer.STAGES)
        row = "| %s | %d | " % (phase, n) + " | ".join("%.0f" % c for c in cols)
        if tl:
            tt = STAT([t for t, _, _ in runs["torch"]])
            yt = runs["torch"][-1][1].numpy()
            row += " | %.0f" % (n / tt)
            if "bf16" in ys:
                yb = layer.bf16_value(ys["bf16"]).astype(np.float64)
                rel = np.linalg.norm(yb - yt) / max(np.linalg.norm(yt), 1e-300)
                row += " | %.2f (y rel. diff %.1e)" % (cols[modes.index("bf16")] / (n / tt), rel)
            else:
                row += " | -"
        print(row + " | " + shares + " |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
