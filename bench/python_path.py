#!/usr/bin/env python3
"""The Python path against the C API, in one process on the same inputs (docs/performance.md, "The Python path").

  c_api      the native call through ctypes on a prepared argument struct and reused output buffers
             (bench/peers.py's Moeroute): the library's own time, the floor for any Python call
  out=       moeroute.moe_init_routing_quant / npu_moe_init_routing with out= arrays reused every call
  pooled     the functional call (new outputs each call), outputs from the package's buffer pool (default)
  fresh      the functional call with the pool off (set_output_pool(False)): numpy allocates the outputs,
             so every call takes the page faults of a fresh multi-megabyte allocation

Every call uses the same moeroute.Context (thread pool and scratch reused), so the columns differ only in
how the outputs are obtained. Outputs of every path are compared with c_api's, bit for bit. Times are
medians over --reps calls after one warm-up call; the outputs of a functional call are released before the
next one, as in a loop that consumes them.

  MOEROUTE_LIB=build/src/libmoeroute.so python3 bench/python_path.py
  python3 bench/python_path.py --lib build/src/libmoeroute.so --preset deepseek-v3 --n 4096 --op quant,copy
"""

import argparse
import ctypes.util
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402  (the C-API runner, inputs and timing of the peer benchmark)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lib", default=os.environ.get("MOEROUTE_LIB"), help="libmoeroute.so (default $MOEROUTE_LIB)")
    p.add_argument("--preset", default="deepseek-v3", help="comma list of %s" % ",".join(peers.PRESETS))
    p.add_argument("--n", default="4096", help="tokens, comma list")
    p.add_argument("--dtype", default="bf16", help="f16,bf16,f32")
    p.add_argument("--op", default="quant", help="quant,copy")
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--threads", type=int, default=0, help="threads (0: library default)")
    args = p.parse_args()

    lib = args.lib or ctypes.util.find_library("moeroute")
    if not lib:
        sys.exit("python_path.py: give the library with --lib or MOEROUTE_LIB")
    os.environ["MOEROUTE_LIB"] = os.path.abspath(lib) if os.path.exists(lib) else lib
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
    import moeroute

    mr = peers.Moeroute(lib, args.threads, 0)
    ctx = moeroute.Context(num_threads=args.threads)
    print("# python path: moeroute %s (detected ISA %s, %d threads), numpy %s, python %s"
          % (mr.version, mr.detected_isa, ctx.num_threads, np.__version__, sys.version.split()[0]))
    print("# median of %d calls after a warm-up, ms; x = time / c_api; outputs compared bit for bit" % args.reps)
    print("%-14s %6s %5s %-5s %7s %8s %8s %8s %8s %7s %7s %7s  %s" % (
        "preset", "N", "dtype", "op", "out_MB", "c_api", "out=", "pooled", "fresh", "x_out=", "x_pool", "x_fresh",
        "check"))
    failed = 0
    for preset in args.preset.split(","):
        h, e, k = peers.PRESETS[preset]
        for n in (int(v) for v in args.n.split(",")):
            for dtype in args.dtype.split(","):
                x, expert = peers.make_inputs(n, h, e, k, dtype, seed=n * 31 + h)
                for op in args.op.split(","):
                    quant = op == "quant"
                    cargs, ref = mr.prepare(x, expert, dtype, quant)

                    def functional(out=None):
                        if quant:
                            return moeroute.moe_init_routing_quant(x, None, expert, n, peers.SCALE, peers.OFFSET,
                                                                   bf16=dtype == "bf16", ctx=ctx, out=out)
                        return moeroute.npu_moe_init_routing(x, None, expert, n, bf16=dtype == "bf16", ctx=ctx,
                                                             out=out)

                    t_c = peers.median_time(lambda: mr.run(cargs), args.reps)
                    outs = tuple(np.empty_like(a) for a in ref)
                    t_out = peers.median_time(lambda: functional(outs), args.reps)
                    ok = peers.same(ref, outs)
                    moeroute.set_output_pool(True)
                    t_pool = peers.median_time(functional, args.reps)
                    ok = ok and peers.same(ref, functional())
                    moeroute.set_output_pool(False)
                    t_fresh = peers.median_time(functional, args.reps)
                    ok = ok and peers.same(ref, functional())
                    moeroute.set_output_pool(True)
                    failed += not ok
                    mb = sum(a.nbytes for a in ref) / 1e6
                    print("%-14s %6d %5s %-5s %7.1f %8.2f %8.2f %8.2f %8.2f %7.2f %7.2f %7.2f  %s" % (
                        preset, n, dtype, op, mb, t_c * 1e3, t_out * 1e3, t_pool * 1e3, t_fresh * 1e3, t_out / t_c,
                        t_pool / t_c, t_fresh / t_c, "same" if ok else "DIFFERENT"), flush=True)
    ctx.close()
    mr.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
