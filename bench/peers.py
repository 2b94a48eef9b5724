#!/usr/bin/env python3
"""moeroute against what a Python user would otherwise run, in one process on the same inputs:

  numpy  the golden-model way (tests/python/moe_golden.py): stable argsort, inverse map, the fp16 quant
         chain evaluated exactly in float64 on the N distinct rows, then a gather of the int8 rows
  torch  PyTorch CPU eager: torch.argsort(stable=True), scatter for the inverse map, the fp16 chain in torch
         ops (product exact in float32, sum exact in float64, both rounded once to float16), index_select;
         skipped when torch cannot be imported
  moeroute  the native API through ctypes (library from --lib or MOEROUTE_LIB)

Every implementation's outputs are compared with moeroute's, bit for bit, so a speed-up is never reported
for a wrong result. Times are medians over --reps calls after one warm-up call.

  MOEROUTE_LIB=build/src/libmoeroute.so python3 bench/peers.py
  python3 bench/peers.py --lib build/src/libmoeroute.so --preset deepseek-v3 --n 4096,8192 --dtype bf16,f16
"""

import argparse
import ctypes
import ctypes.util
import os
import statistics
import sys
import time

import numpy as np

PRESETS = {  # name: (hidden, experts, k)
    "deepseek-v3": (7168, 256, 8),
    "qwen3-235b-a22b": (4096, 128, 8),
    "qwen3-30b-a3b": (2048, 128, 8),
    "mixtral-8x7b": (4096, 8, 2),
    "gpt-oss-120b": (2880, 128, 4),
    "llama-4-maverick": (5120, 128, 1),
}
DTYPE_CODE = {"f32": 0, "f16": 1, "bf16": 27}  # moeroute_dtype == aclDataType
INT8 = 2
SCALE, OFFSET = 20.0, 1.0


# ---- moeroute through ctypes ------------------------------------------------------------------------------

class Moeroute:
    def __init__(self, path, threads, isa):
        self.dll = ctypes.CDLL(path)
        d = self.dll
        # the structs from the library's own description (python/moeroute/_layout.py, loaded by path)
        here = os.path.dirname(os.path.abspath(__file__))
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "moeroute_layout", os.path.join(here, "..", "python", "moeroute", "_layout.py"))
        layout = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(layout)
        global Options, InitRoutingArgs
        Options = layout.struct_type(d, "moeroute_options")
        InitRoutingArgs = layout.struct_type(d, "moeroute_init_routing_args")
        d.moeroute_context_create.restype = ctypes.c_int
        d.moeroute_context_create.argtypes = [ctypes.POINTER(Options), ctypes.POINTER(ctypes.c_void_p)]
        d.moeroute_context_destroy.restype = None
        d.moeroute_context_destroy.argtypes = [ctypes.c_void_p]
        d.moeroute_init_routing.restype = ctypes.c_int
        d.moeroute_init_routing.argtypes = [ctypes.c_void_p, ctypes.POINTER(InitRoutingArgs)]
        for name in ("moeroute_error_message", "moeroute_version_string"):
            getattr(d, name).restype = ctypes.c_char_p
            getattr(d, name).argtypes = []
        d.moeroute_isa_name.restype = ctypes.c_char_p
        d.moeroute_isa_name.argtypes = [ctypes.c_int]
        d.moeroute_detected_isa.restype = ctypes.c_int
        d.moeroute_detected_isa.argtypes = []
        self.ctx = ctypes.c_void_p()
        st = d.moeroute_context_create(ctypes.byref(Options(threads, isa)), ctypes.byref(self.ctx))
        if st != 0:
            raise RuntimeError("moeroute_context_create failed (%d): %s" % (st, self.error()))
        self.version = d.moeroute_version_string().decode()
        self.detected_isa = d.moeroute_isa_name(d.moeroute_detected_isa()).decode()

    def error(self):
        m = self.dll.moeroute_error_message()
        return m.decode() if m else "(no message)"

    def close(self):
        if self.ctx:
            self.dll.moeroute_context_destroy(self.ctx)
            self.ctx = ctypes.c_void_p()

    def prepare(self, x, expert, dtype, quant):
        """Output arrays and the argument struct for one case (built once: ctypes set-up is not timed)."""
        n, h = x.shape
        k = expert.shape[1]
        out = np.empty((n * k, h), dtype=np.int8 if quant else x.dtype)
        row_out = np.empty(n * k, dtype=np.int32)
        exp_out = np.empty(n * k, dtype=np.int32)
        a = InitRoutingArgs()
        a.num_rows, a.k, a.hidden, a.active_num = n, k, h, n
        a.x_dtype = DTYPE_CODE[dtype]
        a.x, a.x_row_stride, a.x_col_stride = x.ctypes.data, h, 1
        a.expert_idx, a.expert_row_stride, a.expert_col_stride = expert.ctypes.data, k, 1
        a.row_idx = None  # canonical rowIdx[r][j] = j*N + r
        a.expanded_x_dtype = INT8 if quant else DTYPE_CODE[dtype]
        a.scale, a.offset = SCALE, OFFSET
        a.expanded_x, a.expanded_row_idx, a.expanded_expert_idx = (
            out.ctypes.data, row_out.ctypes.data, exp_out.ctypes.data)
        return a, (out, row_out, exp_out)

    def run(self, args):
        st = self.dll.moeroute_init_routing(self.ctx, ctypes.byref(args))
        if st != 0:
            raise RuntimeError("moeroute_init_routing failed (%d): %s" % (st, self.error()))


# ---- numpy, golden style ----------------------------------------------------------------------------------

def np_to_f16(x, dtype):
    if dtype == "bf16":  # raw bits -> float32 exactly -> half (one rounding)
        return (x.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float16)
    return x.astype(np.float16)


def np_quant(x, dtype):
    s = np.float64(np.float16(np.float32(SCALE)))  # double -> float -> half: the kernel's two roundings
    o = np.float64(np.float16(np.float32(OFFSET)))
    with np.errstate(over="ignore", invalid="ignore"):
        a = np_to_f16(x, dtype).astype(np.float64)
        b = (a * s).astype(np.float16).astype(np.float64)  # exact product, one rounding
        c = (b + o).astype(np.float16).astype(np.float64)  # exact sum, one rounding
    r = np.rint(c)
    r = np.where(np.isnan(r), 0.0, r)
    return np.clip(r, -128.0, 127.0).astype(np.int8)


def numpy_routing(x, expert, dtype, quant):
    n, k = expert.shape
    e_flat = expert.reshape(-1)
    perm = np.argsort(e_flat, kind="stable")
    expanded_expert = e_flat[perm]
    sorted_row = (perm % k) * n + perm // k  # canonical row_idx of flat position perm
    expanded_row = np.empty(n * k, dtype=np.int32)
    expanded_row[sorted_row] = np.arange(n * k, dtype=np.int32)
    src = sorted_row % n
    rows = np_quant(x, dtype) if quant else x  # quantize the N rows once, then gather (as the golden does)
    return rows[src], expanded_row, expanded_expert


# ---- torch eager ------------------------------------------------------------------------------------------

def torch_inputs(torch, x, expert, dtype):
    if dtype == "bf16":
        tx = torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
    else:
        tx = torch.from_numpy(x)
    return tx, torch.from_numpy(expert)


def torch_routing(torch, tx, texpert, quant):
    n, k = texpert.shape
    e_flat = texpert.reshape(-1)
    perm = torch.argsort(e_flat, stable=True)
    expanded_expert = e_flat.index_select(0, perm)
    sorted_row = (perm % k) * n + torch.div(perm, k, rounding_mode="floor")
    expanded_row = torch.empty(n * k, dtype=torch.int32)
    expanded_row.scatter_(0, sorted_row, torch.arange(n * k, dtype=torch.int32))
    src = sorted_row % n
    if not quant:
        return tx.index_select(0, src), expanded_row, expanded_expert
    s = float(np.float16(np.float32(SCALE)))
    o = float(np.float16(np.float32(OFFSET)))
    a = tx.to(torch.float16)
    # half*half has at most 22 significant bits: exact in float32, so one rounding to half
    b = (a.to(torch.float32) * s).to(torch.float16)
    # half+half may need ~40 bits: exact only in float64
    c = (b.to(torch.float64) + o).to(torch.float16)
    q = torch.nan_to_num(torch.round(c.to(torch.float32)), nan=0.0).clamp_(-128, 127).to(torch.int8)
    return q.index_select(0, src), expanded_row, expanded_expert


# ---- driver -----------------------------------------------------------------------------------------------

def make_inputs(n, h, e, k, dtype, seed):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, h), dtype=np.float32) * 2.0
    if dtype == "f32":
        x = v
    elif dtype == "f16":
        x = v.astype(np.float16)
    else:  # bf16 raw bits, round to nearest even
        u = v.view(np.uint32).astype(np.uint64)
        x = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    # K distinct experts per token: the first K of a random permutation (argsort of random keys)
    expert = np.argsort(rng.random((n, e)), axis=1)[:, :k].astype(np.int32)
    return np.ascontiguousarray(x), np.ascontiguousarray(expert)


def median_time(fn, reps):
    fn()  # warm-up: page faults, allocator, first-call set-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def same(ref, got):
    """Bit equality of each output pair (bf16 arrives as uint16 or int16: compare raw bits)."""
    for r, g in zip(ref, got):
        r, g = np.asarray(r), np.asarray(g)
        if r.shape != g.shape or r.dtype.itemsize != g.dtype.itemsize:
            return False
        u = "u%d" % r.dtype.itemsize
        if not np.array_equal(r.view(u), g.view(u)):
            return False
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lib", default=os.environ.get("MOEROUTE_LIB"), help="libmoeroute.so (default $MOEROUTE_LIB)")
    p.add_argument("--preset", default="deepseek-v3,qwen3-235b-a22b,qwen3-30b-a3b,mixtral-8x7b")
    p.add_argument("--n", default="4096", help="tokens, comma list")
    p.add_argument("--dtype", default="bf16", help="f16,bf16,f32")
    p.add_argument("--op", default="quant", help="quant,copy")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="moeroute and torch threads (0: library default)")
    p.add_argument("--isa", type=int, default=0, help="moeroute_isa value (0 auto)")
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args()

    lib = args.lib or ctypes.util.find_library("moeroute")
    if not lib:
        sys.exit("peers.py: give the library with --lib or MOEROUTE_LIB")
    mr = Moeroute(lib, args.threads, args.isa)
    threads = args.threads or int(os.environ.get("MOEROUTE_NUM_THREADS", "0") or 0) or len(os.sched_getaffinity(0))

    torch = None
    torch_note = "disabled (--no-torch)"
    if not args.no_torch:
        try:
            import torch as _torch
            torch = _torch
            torch.set_num_threads(threads)
            torch_note = "torch %s, %d threads" % (torch.__version__, torch.get_num_threads())
        except Exception as exc:  # not installed, or a broken install: measure the rest
            torch_note = "skipped: cannot import torch (%s)" % (exc,)

    print("# peers: moeroute %s (detected ISA %s, threads %d) | numpy %s, single-threaded | %s"
          % (mr.version, mr.detected_isa, threads, np.__version__, torch_note))
    print("# median of %d calls after a warm-up; speed-up = peer time / moeroute time; outputs compared bit for bit"
          % args.reps)
    hdr = "%-16s %6s %5s %-5s %12s %12s %12s %9s %9s  %s" % (
        "preset", "N", "dtype", "op", "moeroute_ms", "numpy_ms", "torch_ms", "x_numpy", "x_torch", "check")
    print(hdr)
    failed = 0
    for preset in args.preset.split(","):
        h, e, k = PRESETS[preset]
        for n in (int(v) for v in args.n.split(",")):
            for dtype in args.dtype.split(","):
                x, expert = make_inputs(n, h, e, k, dtype, seed=n * 31 + h)
                for op in args.op.split(","):
                    quant = op == "quant"
                    cargs, outs = mr.prepare(x, expert, dtype, quant)
                    t_mr = median_time(lambda: mr.run(cargs), args.reps)
                    t_np = median_time(lambda: numpy_routing(x, expert, dtype, quant), args.reps)
                    ok = same(outs, numpy_routing(x, expert, dtype, quant))
                    t_th = None
                    if torch is not None:
                        tx, te = torch_inputs(torch, x, expert, dtype)
                        t_th = median_time(lambda: torch_routing(torch, tx, te, quant), args.reps)
                        got = torch_routing(torch, tx, te, quant)
                        g0 = got[0].view(torch.int16).numpy().view(np.uint16) if dtype == "bf16" and not quant \
                            else got[0].numpy()
                        ok = ok and same(outs, (g0, got[1].numpy(), got[2].numpy()))
                    failed += not ok
                    print("%-16s %6d %5s %-5s %12.2f %12.2f %12s %9.1f %9s  %s" % (
                        preset, n, dtype, op, t_mr * 1e3, t_np * 1e3,
                        "%.2f" % (t_th * 1e3) if t_th is not None else "-", t_np / t_mr,
                        "%.1f" % (t_th / t_mr) if t_th is not None else "-", "same" if ok else "DIFFERENT"),
                        flush=True)
    mr.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
