"""aclnnMoeInitRoutingV2, aclnnMoeInitRoutingQuantV2, aclnnMoeInitRoutingV3 and aclnnMoeComputeExpertTokens
through the aclnn API (ctypes), byte for byte against routing_family_golden.

Every randomized case comes from (session seed, operator, index): replay a failure with
  MOEROUTE_TEST_SEED=<seed> MOEROUTE_LIB=... python3 -m pytest 'tests/python/test_routing_family.py::test_v3_random[7]'
MOEROUTE_TEST_SCALE multiplies the number of randomized cases.

Every output byte is checked: elements the operator writes equal the golden model, elements it does not
write keep the buffer's sentinel (0xA5), and the guard bytes around every output stay intact.
"""

import os
import re

import numpy as np
import pytest

import moe_golden as g
import moeroute_ctypes as mr
import routing_family_ctypes as rf
import routing_family_golden as rg
from moe_testenv import case_scale, pick

INT32_MIN = -2 ** 31
INT32_MAX = 2 ** 31 - 1
FLOAT_DTYPES = ("f16", "bf16", "f32")

N_V2 = max(1, int(round(500 * case_scale())))
N_QV2 = max(1, int(round(800 * case_scale())))
N_V3 = max(1, int(round(800 * case_scale())))
N_CET = max(1, int(round(150 * case_scale())))
KIND_CODE = {"v2": 11, "qv2": 12, "v3": 13, "cet": 14, "big": 15, "special": 16}

# garbage placed in storage cells no view addresses (reading them gives a visible difference)
FILLS = {"f16": np.uint16(0xFBFF).view(np.float16), "bf16": np.uint16(0xFF7F), "f32": np.float32(-3.0e38),
         "i8": np.int8(-77), "i32": np.int32(INT32_MIN + 7), "i64": np.int64(-5)}


# ---------------------------------------------------------------------------------------------------------
# fixtures and the generic runner
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fam(lib):
    missing = rf.missing_symbols(lib)
    if missing:
        pytest.fail("libmoeroute (%s) does not export %s" % (lib.path, ", ".join(missing)))
    return rf.bind(lib)


def run_call(lib, fam, call, rng, ws_extra=0):
    """Both phases. Returns (phase, status): phase "phase1" when phase 1 failed, else "execute"."""
    lib.recent_err_msg()                                 # drain older messages
    vals = call.build(lib, fam, rng, FILLS)
    try:
        st, ws, exe = fam.phase1(call.op, vals)
        if st != 0:
            return "phase1", st
        assert exe, "phase 1 succeeded without an executor\n  " + call.describe()
        size = ws + ws_extra
        buf = np.zeros(size, np.uint8) if size > 0 else None
        return "execute", fam.execute(call.op, buf, size, exe)
    finally:
        call.destroy(lib, fam)


def run_ok(lib, fam, call, rng, ws_extra=0):
    phase, st = run_call(lib, fam, call, rng, ws_extra)
    assert st == 0, "%s returned %d (%r)\n  %s" % (phase, st, lib.recent_err_msg(), call.describe())


def _first_diff(got_b, exp_b, mask, isz, shape, got, exp):
    bad = np.nonzero(mask)[0]
    e = int(bad[0])
    where = tuple(int(i) for i in np.unravel_index(e, shape)) if len(shape) else ()
    return "element %d at %s: got %r (bytes %s) expected %r (bytes %s); %d elements differ" % (
        e, where, got.reshape(-1)[e], got_b[e].tobytes().hex(), exp.reshape(-1)[e], exp_b[e].tobytes().hex(),
        bad.size)


def check_outputs(call, gold, context=""):
    """Compare every output argument of `call` with the golden dict (name -> rg.Out)."""
    for name, arg in call.args.items():
        if arg is None or arg.kind != "out":
            continue
        exp = gold[name]
        assert arg.guard.guards_intact(), "%s wrote outside its buffer%s\n  %s" % (name, context, call.describe())
        got = arg.guarded_array()
        assert got.shape == exp.value.shape and got.dtype == exp.value.dtype, (name, got.shape, exp.value.shape,
                                                                              got.dtype, exp.value.dtype)
        isz = got.dtype.itemsize
        n = got.size
        got_b = np.ascontiguousarray(got).reshape(-1).view(np.uint8).reshape(n, isz)
        exp_b = np.ascontiguousarray(exp.value).reshape(-1).view(np.uint8).reshape(n, isz)
        w = exp.written.reshape(-1)
        wrong = w & (got_b != exp_b).any(axis=1)
        if wrong.any():
            raise AssertionError("%s differs from the golden model: %s%s\n  %s" % (
                name, _first_diff(got_b, exp_b, wrong, isz, got.shape, got, exp.value), context, call.describe()))
        touched = ~w & (got_b != arg.guard.sentinel).any(axis=1)
        if touched.any():
            e = int(np.nonzero(touched)[0][0])
            raise AssertionError("%s: element %d (%s) must not be written but holds %s; %d such elements%s\n  %s"
                                 % (name, e, tuple(int(i) for i in np.unravel_index(e, got.shape)),
                                    got_b[e].tobytes().hex(), int(touched.sum()), context, call.describe()))


# ---------------------------------------------------------------------------------------------------------
# value generation
# ---------------------------------------------------------------------------------------------------------

def to_carrier(v, dtype):
    """float64 values -> the carrier of dtype (RNE); bf16 as raw bits."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(v, np.float64)
        if dtype == "f16":
            return v.astype(np.float16)
        if dtype == "f32":
            return v.astype(np.float32)
        if dtype == "bf16":
            return g.f32_to_bf16_bits_rne(v.astype(np.float32))
        if dtype == "i8":
            return np.clip(np.nan_to_num(np.rint(v)), -128, 127).astype(np.int8)
    raise ValueError(dtype)


def random_bits(rng, dtype, shape):
    if dtype == "f32":
        return rng.integers(0, 2 ** 32, shape, dtype=np.uint64).astype(np.uint32).view(np.float32)
    if dtype == "i8":
        return rng.integers(-128, 128, shape).astype(np.int8)
    b = rng.integers(0, 2 ** 16, shape, dtype=np.uint64).astype(np.uint16)
    return b.view(np.float16) if dtype == "f16" else b


SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, -65504.0, 65520.0, 2.0 ** -24, -(2.0 ** -24), 6e-5,
            127.5, -128.5, 0.5, 1.5, 2.5, -2.5, 1e30, -1e-30, 1e-40]


def sprinkle(rng, x, dtype, p=None):
    if x.size == 0 or dtype == "i8":
        return x
    p = pick(rng, [0.01, 0.05, 0.2]) if p is None else p
    m = rng.random(x.shape) < p
    vals = to_carrier(np.array(SPECIALS)[rng.integers(0, len(SPECIALS), x.shape)], dtype)
    return np.where(m, vals, x).astype(x.dtype)


def gen_sizes(rng, max_elems=150_000):
    u = rng.random()
    if u < 0.05:
        N = pick(rng, [0, 1])
    elif u < 0.2:
        N = int(rng.integers(1, 5))
    elif u < 0.8:
        N = int(rng.integers(5, 65))
    else:
        N = int(rng.integers(65, 201))
    K = 0 if rng.random() < 0.04 else int(rng.integers(1, 10))
    u = rng.random()
    if u < 0.02:
        H, N = 7168, min(N, int(rng.integers(1, 4)))
    else:
        H = pick(rng, [0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 129, 256, 300])
    while N > 1 and N * max(K, 1) * max(H, 1) > max_elems:
        N //= 2
    return N, K, H


def gen_ids_in_range(rng, shape, lo, hi):
    """int32 ids in [lo, hi) with collisions."""
    mode = pick(rng, ["uniform", "few", "one", "skewed"], p=[0.4, 0.25, 0.1, 0.25])
    if mode == "uniform":
        e = rng.integers(lo, hi, shape)
    elif mode == "few":
        sub = rng.integers(lo, hi, int(rng.integers(1, 4)))
        e = sub[rng.integers(0, sub.size, shape)]
    elif mode == "one":
        e = np.full(shape, int(rng.integers(lo, hi)))
    else:
        e = np.minimum(lo + np.floor(rng.exponential(2.0, shape)).astype(np.int64), hi - 1)
    return np.asarray(e, np.int64).astype(np.int32), mode


def gen_ids_any(rng, shape):
    mode = pick(rng, ["small", "neg", "wide", "equal", "extremes"], p=[0.35, 0.2, 0.2, 0.1, 0.15])
    if mode == "small":
        e = rng.integers(0, 8, shape)
    elif mode == "neg":
        e = rng.integers(-50, 50, shape)
    elif mode == "wide":
        e = rng.integers(INT32_MIN, INT32_MAX, shape, endpoint=True)
    elif mode == "equal":
        e = np.full(shape, int(rng.integers(-3, 300)))
    else:
        e = rng.choice(np.array([INT32_MIN, INT32_MIN + 1, -1, 0, 1, 2 ** 24, 2 ** 24 + 1, INT32_MAX - 1,
                                 INT32_MAX], dtype=np.int64), shape)
    return np.asarray(e, np.int64).astype(np.int32), mode


def gen_active_dropless(rng, L):
    mode = pick(rng, ["zero", "lt", "eq", "gt", "huge"], p=[0.2, 0.3, 0.2, 0.15, 0.15])
    if mode == "zero":
        return 0
    if mode == "lt":
        return int(rng.integers(1, L)) if L > 1 else 1
    if mode == "eq":
        return L
    if mode == "gt":
        return L + int(rng.integers(1, 1000))
    return pick(rng, [2 ** 62, 2 ** 63 - 1, 2 ** 31, 2 ** 32 + 1])


def gen_x_copy(rng, dtype, shape):
    if rng.random() < 0.6:
        return random_bits(rng, dtype, shape)
    return sprinkle(rng, to_carrier(rng.standard_normal(shape) * 30.0, dtype), dtype)


def gen_static_params(rng):
    specials_s = [0.0, -0.0, -1.7, np.nan, np.inf, -np.inf, 1e-8, 65504.0, 1e6, 0.5900879, 0.0776062, 65519.0,
                  65520.0, 6e-8, -65504.0, 1.0, 0.3452]
    specials_o = [0.0, -0.0, 0.5, -0.5, np.nan, np.inf, -np.inf, 1e-8, 65504.0, 1e6, 127.5, -128.5, 300.0, 1.8369]
    if rng.random() < 0.25:
        s = pick(rng, specials_s)
    else:
        s = float(10.0 ** rng.uniform(-2.5, 1.5)) * (-1.0 if rng.random() < 0.2 else 1.0)
    o = pick(rng, specials_o) if rng.random() < 0.25 else float(rng.standard_normal() * pick(rng, [0.5, 3, 20]))
    return np.float32(s), np.float32(o)


def gen_x_static(rng, dtype, shape, s, o):
    mode = pick(rng, ["normal", "ties", "bits"], p=[0.6, 0.2, 0.2])
    if mode == "bits":
        return random_bits(rng, dtype, shape), mode
    if mode == "ties":
        v = rng.integers(-600, 601, shape) / 4.0
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            sh, oh = float(np.float16(s)), float(np.float16(o))
        target = rng.standard_normal(shape) * pick(rng, [40.0, 90.0, 160.0])
        v = (target - oh) / sh if (np.isfinite(sh) and sh != 0 and np.isfinite(oh)) else target
    x = to_carrier(v, dtype)
    if rng.random() < 0.5:
        x = sprinkle(rng, x, dtype)
    return x, mode


def gen_x_dynamic(rng, dtype, shape):
    """Rows for the dynamic recipe; "ties" puts v/scale exactly on k + 0.5 (row max 127 * 2^p)."""
    mode = pick(rng, ["normal", "ties", "bits", "zerorows"], p=[0.45, 0.3, 0.1, 0.15])
    if mode == "bits" and dtype != "i8":
        return random_bits(rng, dtype, shape), mode
    R, H = shape
    if mode == "ties" and H:
        k = rng.integers(-127, 127, shape) + 0.5
        k = np.where(rng.random(shape) < 0.3, np.rint(k - 0.5), k)
        col = rng.integers(0, H, R)
        k[np.arange(R), col] = np.where(rng.random(R) < 0.5, 127.0, -127.0)
        p = rng.integers(-6, 4, R)[:, None] * (rng.random((R, 1)) < 0.5)
        v = k * 2.0 ** p
        return to_carrier(v, dtype), mode           # bf16: 8 significant bits hold k + 0.5 exactly
    v = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, (R, 1))
    if mode == "zerorows":
        v = np.where(rng.random((R, 1)) < 0.5, 0.0, v)
    x = to_carrier(v, dtype)
    if rng.random() < 0.4:
        x = sprinkle(rng, x, dtype, pick(rng, [0.002, 0.02]))
    return x, mode


def gen_smooth(rng, R, H):
    mode = pick(rng, ["ones", "pow2", "random", "specials"], p=[0.2, 0.3, 0.35, 0.15])
    if mode == "ones":
        s = np.ones((R, H))
    elif mode == "pow2":
        s = np.broadcast_to(2.0 ** rng.integers(-3, 4, (R, 1)), (R, H)).copy()
    else:
        s = rng.uniform(0.25, 4.0, (R, H)) * np.where(rng.random((R, H)) < 0.1, -1.0, 1.0)
        if mode == "specials" and s.size:
            m = rng.random((R, H)) < 0.05
            s = np.where(m, np.array([0.0, np.nan, np.inf, -1.0, 1e-30])[rng.integers(0, 5, (R, H))], s)
    return np.ascontiguousarray(s.astype(np.float32)), mode


def _layout2(rng):
    layouts = ["contig", "padded", "colmajor", "offset", "negrow", "negcol", "colstep"]
    return pick(rng, layouts, p=[0.4] + [0.1] * 6)


def _maybe_broadcast(rng, p, lay, name, key):
    """Now and then give an input a stride-0 layout (rows or columns repeated), making the data fit it."""
    a = p.get(key)
    if a is None or np.asarray(a).ndim != 2 or rng.random() >= 0.06:
        return
    layout = pick(rng, ["rowbcast", "colbcast"])
    a = np.asarray(a)
    if layout == "rowbcast" and a.shape[0] > 0:
        a = np.ascontiguousarray(np.broadcast_to(a[:1], a.shape))
    elif layout == "colbcast" and a.shape[1] > 0:
        a = np.ascontiguousarray(np.broadcast_to(a[:, :1], a.shape))
    p[key] = a
    lay[name] = layout


def _layout1(rng):
    return pick(rng, ["contig", "offset", "stride", "neg"], p=[0.55, 0.15, 0.15, 0.15])


# ---------------------------------------------------------------------------------------------------------
# call builders (parameter dicts -> rf.Call)
# ---------------------------------------------------------------------------------------------------------

def v2_out_shapes(p):
    N, K = p["expert"].shape
    H = p["x"].shape[1] if p["x"].ndim == 2 else 0
    L = N * K
    E, C = p["E"], p["C"]
    if p["drop"] == 1:
        ex, R = (max(E, 0), max(C, 0), H), max(E, 0) * max(C, 0)
    else:
        A = L if p["active"] == 0 else min(L, max(p["active"], 0))
        ex, R = (A, H), A
    return ex, (L,), (max(E, 0),), (R,)


def v2_call(p):
    """p: op ("v2"/"qv2"), dtype, x, expert, active, C, E, drop, flag, before, [qm, scale, offset],
    layouts, pass_count/pass_before/pass_dyn (for outputs the mode does not need)."""
    op = p["op"]
    ex_shape, row_shape, cnt_shape, dyn_shape = v2_out_shapes(p)
    lay = p.get("layouts", {})
    args = {"x": rf.Arg.inp(p["x"], p["dtype"], lay.get("x", "contig")),
            "expert_idx": rf.Arg.inp(p["expert"], "i32", lay.get("expert", "contig"))}
    for a in args.values():
        a.data_null = p.get("data_null", False)
    need_count = p["drop"] == 0 and p["flag"] != 0
    need_before = p["drop"] == 1 and p["before"]
    args["expanded_x"] = rf.Arg.out(ex_shape, "i8" if op == "qv2" else p["dtype"])
    args["expanded_row_idx"] = rf.Arg.out(row_shape, "i32")
    args["expert_tokens_count_or_cumsum"] = (rf.Arg.out(cnt_shape, "i32")
                                             if need_count or p.get("pass_count") else None)
    args["expert_tokens_before_capacity"] = (rf.Arg.out(cnt_shape, "i32")
                                             if need_before or p.get("pass_before") else None)
    attrs = {"active_num": p["active"], "expert_capacity": p["C"], "expert_num": p["E"],
             "drop_pad_mode": p["drop"], "count_flag": p["flag"], "before_capacity_flag": bool(p["before"])}
    if op == "qv2":
        attrs["quant_mode"] = p["qm"]
        sc, of = p.get("scale"), p.get("offset")
        args["scale"] = None if sc is None else rf.Arg.inp(np.asarray(sc, np.float32), "f32",
                                                            lay.get("scale", "contig"))
        args["offset"] = None if of is None else rf.Arg.inp(np.asarray(of, np.float32), "f32",
                                                             lay.get("offset", "contig"))
        args["dynamic_quant_scale"] = (rf.Arg.out(dyn_shape, "f32")
                                       if p["qm"] == 1 or p.get("pass_dyn") else None)
    return rf.Call(op, rf.ORDER[op], args, attrs)


def v2_golden(p):
    if p["op"] == "v2":
        return rg.init_routing_v2(p["x"], p["expert"], p["active"], p["C"], p["E"], p["drop"], p["flag"],
                                  p["before"])
    return rg.init_routing_quant_v2(p["x"], p["dtype"], p["expert"], p.get("scale"), p.get("offset"), p["active"],
                                    p["C"], p["E"], p["drop"], p["flag"], p["before"], p["qm"])


def v3_call(p):
    """p: dtype, x, expert, scale, offset, active, C, E, drop, ntype, nflag, qm, range, rit, layouts."""
    N, K = p["expert"].shape
    H = p["x"].shape[1] if p["x"].ndim == 2 else 0
    L = N * K
    rng_ = p["range"]
    start, end = (0, p["E"]) if not rng_ else (rng_[0], rng_[1])
    lay = p.get("layouts", {})
    args = {"x": rf.Arg.inp(p["x"], p["dtype"], lay.get("x", "contig")),
            "expert_idx": rf.Arg.inp(p["expert"], "i32", lay.get("expert", "contig"))}
    for a in args.values():
        a.data_null = p.get("data_null", False)
    sc, of = p.get("scale"), p.get("offset")
    args["scale"] = None if sc is None else rf.Arg.inp(np.asarray(sc, np.float32), "f32", lay.get("scale", "contig"))
    args["offset"] = None if of is None else rf.Arg.inp(np.asarray(of, np.float32), "f32", "contig")
    args["expanded_x"] = rf.Arg.out((L, H), "i8" if p["qm"] == 1 else p["dtype"])
    args["expanded_row_idx"] = rf.Arg.out((L,), "i32")
    cnt_shape = (max(end - start, 0),) if p["ntype"] != 2 else (max(p["E"], 0), 2)
    args["expert_tokens_count_or_cumsum"] = rf.Arg.out(cnt_shape, "i64")
    args["expanded_scale"] = rf.Arg.out((L,), "f32")
    attrs = {"active_num": p["active"], "expert_capacity": p["C"], "expert_num": p["E"], "drop_pad_mode": p["drop"],
             "tokens_num_type": p["ntype"], "tokens_num_flag": bool(p["nflag"]), "quant_mode": p["qm"],
             "active_range": p["range"], "row_idx_type": p["rit"]}
    return rf.Call("v3", rf.ORDER["v3"], args, attrs)


def v3_golden(p):
    return rg.init_routing_v3(p["x"], p["dtype"], p["expert"], p.get("scale"), p["E"], p["ntype"], p["qm"],
                              p["range"], p["rit"])


def cet_call(p):
    args = {"sorted_experts": rf.Arg.inp(np.asarray(p["sorted"], np.int32), "i32", p.get("layout", "contig")),
            "out": rf.Arg.out((max(p["E"], 0),), "i32")}
    args["sorted_experts"].data_null = p.get("data_null", False)
    return rf.Call("cet", rf.ORDER["cet"], args, {"num_experts": p["E"]})


def run_and_check(lib, fam, p, rng, context=""):
    op = p["op"]
    if op in ("v2", "qv2"):
        call, gold = v2_call(p), v2_golden(p)
    elif op == "v3":
        call, gold = v3_call(p), v3_golden(p)
    else:
        call, gold = cet_call(p), rg.compute_expert_tokens(p["sorted"], p["E"])
    run_ok(lib, fam, call, rng, p.get("ws_extra", 0))
    check_outputs(call, gold, context)
    return call, gold


# ---------------------------------------------------------------------------------------------------------
# randomized case generators
# ---------------------------------------------------------------------------------------------------------

def gen_v2_case(seed, op, index):
    rng = np.random.default_rng([seed, KIND_CODE[op], index])
    dtype = pick(rng, list(FLOAT_DTYPES))
    N, K, H = gen_sizes(rng)
    drop = int(rng.random() < 0.35)
    p = {"op": op, "dtype": dtype, "seed": seed, "index": index}
    qm = int(rng.random() < 0.55) if op == "qv2" else None
    smooth_kind = None
    if qm == 1:
        smooth_kind = pick(rng, [None, "1H", "EH"], p=[0.35, 0.3, 0.35])
    if drop:
        N = max(N, 1)
        E = int(rng.integers(1, 13))
        C = int(rng.integers(1, N + 1)) if rng.random() < 0.8 else N
        flag = pick(rng, [0, 1, 2])                 # forced to 0 in drop mode: output never written
        before = bool(rng.random() < 0.6)
        active = pick(rng, [0, 1, N, 2 ** 40])      # ignored in drop mode
        expert, emode = gen_ids_in_range(rng, (N, K), 0, E)
    else:
        flag = pick(rng, [0, 1, 2])
        before = bool(rng.random() < 0.3)            # ignored in dropless mode
        active = gen_active_dropless(rng, N * K)
        needs_range = flag > 0 or smooth_kind == "EH"
        if needs_range:
            E = int(rng.integers(1, 20))
            expert, emode = gen_ids_in_range(rng, (N, K), 0, E)
        else:
            E = int(rng.integers(0, 20))
            expert, emode = gen_ids_any(rng, (N, K))
        C = int(rng.integers(0, 5))
    p.update(N=N, K=K, H=H, E=E, C=C, drop=drop, flag=flag, before=before, active=active, emode=emode,
             expert=expert)
    p["pass_count"] = bool(rng.random() < 0.5)
    p["pass_before"] = bool(rng.random() < 0.5)
    lay = {"x": _layout2(rng), "expert": _layout2(rng), "scale": _layout2(rng), "offset": _layout1(rng)}
    if op == "v2":
        p["x"] = gen_x_copy(rng, dtype, (N, H))
        p["xmode"] = "copy"
    elif qm == 0:
        s, o = gen_static_params(rng)
        p["scale"], p["offset"] = np.array([s], np.float32), np.array([o], np.float32)
        p["x"], p["xmode"] = gen_x_static(rng, dtype, (N, H), s, o)
        lay["scale"] = _layout1(rng)
    else:
        p["x"], p["xmode"] = gen_x_dynamic(rng, dtype, (N, H))
        if smooth_kind == "1H":
            p["scale"], p["smode"] = gen_smooth(rng, 1, H)
        elif smooth_kind == "EH":
            p["scale"], p["smode"] = gen_smooth(rng, E, H)
        else:
            p["scale"] = None
        # offset is ignored in dynamic mode
        p["offset"] = np.array([rng.standard_normal()], np.float32) if rng.random() < 0.3 else None
    p["qm"] = qm
    p["smooth"] = smooth_kind
    for name, key in (("x", "x"), ("expert", "expert"), ("scale", "scale")):
        _maybe_broadcast(rng, p, lay, name, key)
    p["layouts"] = lay
    p["data_null"] = bool(rng.random() < 0.5)
    p["ws_extra"] = pick(rng, [0, 0, 0, 64])
    return p, rng


def gen_v3_case(seed, index):
    rng = np.random.default_rng([seed, KIND_CODE["v3"], index])
    dtype = pick(rng, ["f16", "bf16", "f32", "i8"], p=[0.28, 0.28, 0.28, 0.16])
    qm = -1 if dtype == "i8" else pick(rng, [-1, 1])
    N, K, H = gen_sizes(rng)
    E = int(rng.integers(1, 40)) if rng.random() < 0.85 else int(rng.integers(40, 301))
    u = rng.random()
    if u < 0.15:
        rng_ = None
    elif u < 0.25:
        rng_ = []
    else:
        s = int(rng.integers(0, E))
        rng_ = [s, int(rng.integers(s + 1, E + 1))]
    start, end = (0, E) if not rng_ else rng_
    ids, emode = gen_ids_in_range(rng, (N, K), start, end)
    if rng.random() < 0.7:
        # filtered copies: below start, at/after end, beyond E, negative, extremes
        out_vals = np.array([start - 1, start - 2, end, end + 1, E, E + 7, -1, -100, INT32_MIN, INT32_MAX,
                             2 ** 24 + 1], dtype=np.int64)
        m = rng.random((N, K)) < pick(rng, [0.1, 0.3, 0.6, 1.0])
        ids = np.where(m, out_vals[rng.integers(0, out_vals.size, (N, K))], ids).astype(np.int32)
        emode += "+filtered"
    L = N * K
    p = {"op": "v3", "dtype": dtype, "seed": seed, "index": index, "N": N, "K": K, "H": H, "E": E,
         "range": rng_, "expert": ids, "emode": emode, "qm": qm, "active": pick(rng, [-1, L]),
         "C": pick(rng, [-1, 0, 3]), "drop": 0, "ntype": pick(rng, [1, 2]), "nflag": True,
         "rit": pick(rng, [0, 1])}
    lay = {"x": _layout2(rng), "expert": _layout2(rng)}
    if qm == -1:
        p["x"] = gen_x_copy(rng, dtype, (N, H))
        p["xmode"] = "copy"
        if rng.random() < 0.5:
            sc = rng.standard_normal(N) * 10.0 ** rng.uniform(-3, 3)
            if N and rng.random() < 0.3:
                sc[rng.integers(0, N)] = pick(rng, [np.nan, np.inf, -0.0, 0.0, 1e-40])
            p["scale"] = sc.astype(np.float32)
            lay["scale"] = _layout1(rng)
        else:
            p["scale"] = None
    else:
        p["x"], p["xmode"] = gen_x_dynamic(rng, dtype, (N, H))
        if rng.random() < 0.6:
            p["scale"], p["smode"] = gen_smooth(rng, end - start, H)
            lay["scale"] = _layout2(rng)
        else:
            p["scale"] = None
    p["offset"] = np.array([1.5], np.float32) if rng.random() < 0.15 else None     # ignored
    for name, key in (("x", "x"), ("expert", "expert"), ("scale", "scale")):
        _maybe_broadcast(rng, p, lay, name, key)
    p["layouts"] = lay
    p["data_null"] = bool(rng.random() < 0.5)
    p["ws_extra"] = pick(rng, [0, 0, 0, 64])
    return p, rng


def gen_cet_case(seed, index):
    rng = np.random.default_rng([seed, KIND_CODE["cet"], index])
    E = int(rng.integers(1, 65)) if rng.random() < 0.8 else pick(rng, [1, 2047, 2048, int(rng.integers(65, 2049))])
    L = pick(rng, [0, 1, 2, int(rng.integers(3, 100)), int(rng.integers(100, 3000))])
    mode = pick(rng, ["uniform", "one", "ends", "few"])
    if mode == "uniform":
        v = rng.integers(0, E, L)
    elif mode == "one":
        v = np.full(L, int(rng.integers(0, E)))
    elif mode == "ends":
        v = rng.choice(np.array([0, E - 1]), L)
    else:
        v = rng.integers(0, E, 3)[rng.integers(0, 3, L)]
    v = np.sort(v).astype(np.int32)
    layout = _layout1(rng) if L else "contig"
    if L and mode == "one" and rng.random() < 0.5:
        layout = "bcast"
    return {"op": "cet", "E": E, "sorted": v, "layout": layout, "mode": mode,
            "data_null": bool(rng.random() < 0.5), "ws_extra": pick(rng, [0, 0, 64])}, rng


def _ctx(p, keys):
    return "\n  case: " + ", ".join("%s=%r" % (k, p.get(k)) for k in keys)


V2_KEYS = ["seed", "index", "op", "dtype", "N", "K", "H", "E", "C", "drop", "flag", "before", "active", "emode",
           "qm", "smooth", "xmode", "layouts", "data_null"]
V3_KEYS = ["seed", "index", "dtype", "N", "K", "H", "E", "range", "emode", "qm", "active", "ntype", "rit",
           "xmode", "layouts", "data_null"]


# ---------------------------------------------------------------------------------------------------------
# (1) worked examples of the spec, exact values
# ---------------------------------------------------------------------------------------------------------

X_DOC = np.array([[0.1] * 4, [0.2] * 4, [0.3] * 4], dtype=np.float32)
E_DOC = np.array([[1, 2], [0, 1], [0, 2]], dtype=np.int32)


def _v2p(**kw):
    p = {"op": "v2", "dtype": "f32", "x": X_DOC, "expert": E_DOC, "active": 0, "C": 0, "E": 3, "drop": 0,
         "flag": 0, "before": False}
    p.update(kw)
    return p


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("flag,counts", [(2, [2, 2, 2]), (1, [2, 4, 6])], ids=["count", "cumsum"])
def test_v2_worked_example(lib, fam, dtype, flag, counts):
    """Spec 3.3: dropless, activeNum 0 (all rows)."""
    x = to_carrier(X_DOC.astype(np.float64), dtype)
    p = _v2p(dtype=dtype, x=x, flag=flag)
    call, _ = run_and_check(lib, fam, p, np.random.default_rng(0))
    assert call.args["expanded_row_idx"].guarded_array().tolist() == [2, 4, 0, 3, 1, 5]
    got = call.args["expanded_x"].guarded_array()
    assert np.array_equal(got.view(np.uint8), x[[1, 2, 0, 1, 0, 2]].view(np.uint8))
    assert call.args["expert_tokens_count_or_cumsum"].guarded_array().tolist() == counts


def test_v2_drop_hand_example(lib, fam):
    """Drop & pad with real dropping: expert 0 gets 5 copies, capacity 2."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    e = np.array([[0, 0], [0, 1], [0, 0]], dtype=np.int32)
    p = _v2p(x=x, expert=e, C=2, E=2, drop=1, before=True, flag=2, pass_count=True)
    call, _ = run_and_check(lib, fam, p, np.random.default_rng(0))
    assert call.args["expanded_row_idx"].guarded_array().tolist() == [0, 1, -1, 2, -1, -1]
    ex = call.args["expanded_x"].guarded_array()
    assert ex.shape == (2, 2, 4)
    assert ex[0, 0].tolist() == x[0].tolist() and ex[0, 1].tolist() == x[0].tolist()
    assert ex[1, 0].tolist() == x[1].tolist() and ex[1, 1].tolist() == [0.0] * 4
    assert np.array_equal(ex[1, 1].view(np.uint32), np.zeros(4, np.uint32))       # +0.0 pad
    assert call.args["expert_tokens_before_capacity"].guarded_array().tolist() == [5, 1]
    assert call.args["expert_tokens_count_or_cumsum"].guard.untouched()            # drop: never written


def test_quant_v2_worked_example_static_drop(lib, fam):
    """Spec 4.2: static scale 0.3452, offset 1.8369, drop mode C = 2, E = 3, before-capacity counts."""
    p = _v2p(op="qv2", qm=0, scale=np.array([0.3452], np.float32), offset=np.array([1.8369], np.float32),
             drop=1, C=2, E=3, before=True)
    call, _ = run_and_check(lib, fam, p, np.random.default_rng(0))
    assert call.args["expanded_row_idx"].guarded_array().tolist() == [2, 4, 0, 3, 1, 5]
    ex = call.args["expanded_x"].guarded_array()
    assert ex.shape == (3, 2, 4) and (ex == 2).all()
    assert call.args["expert_tokens_before_capacity"].guarded_array().tolist() == [2, 2, 2]


def test_quant_v2_static_single_rounding(lib, fam):
    """Static QuantV2 rounds the FLOAT32 scale to fp16 once. 0.5900879 as float32 is 0.590087890625, which is
    exactly halfway between two fp16 values (0x38B8 and 0x38B9): RNE gives 0x38B8, so x = 0.84765625 gives
    q = 0 (with s rounded up it would be 1)."""
    s = np.float32(0.5900879)
    assert float(np.float16(s)) == float(np.uint16(0x38B8).view(np.float16))
    for dtype in FLOAT_DTYPES:
        x = to_carrier(np.array([[0.84765625, -0.84765625, 0.0]]), dtype)
        p = _v2p(op="qv2", dtype=dtype, x=x, expert=np.zeros((1, 1), np.int32), E=1, qm=0,
                 scale=np.array([s], np.float32), offset=np.array([0.0], np.float32))
        call, _ = run_and_check(lib, fam, p, np.random.default_rng(0))
        assert call.args["expanded_x"].guarded_array().tolist() == [[0, 0, 0]], dtype


def test_quant_v2_dynamic_hand_example(lib, fam):
    """Dynamic: row max 127 -> scale 1.0, ties round half away from zero."""
    x = np.array([[127.0, 2.5, -2.5, 0.5, -0.5, 1.25, 0.0, -127.0],
                  [0.0] * 8], dtype=np.float32)
    e = np.array([[0], [1]], dtype=np.int32)
    p = _v2p(op="qv2", x=x, expert=e, E=2, qm=1, scale=None, offset=None)
    call, _ = run_and_check(lib, fam, p, np.random.default_rng(0))
    assert call.args["expanded_x"].guarded_array().tolist() == [[127, 3, -3, 1, -1, 1, 0, -127], [0] * 8]
    assert call.args["dynamic_quant_scale"].guarded_array().tolist() == [1.0, 0.0]


@pytest.mark.parametrize("rit,row_idx", [(0, [0, 2, -1, 1, -1, 3]), (1, [0, 3, 1, 5, -1, -1])],
                         ids=["gather", "scatter"])
@pytest.mark.parametrize("ntype,counts", [(1, [[2, 2]]), (2, [[1, 2], [2, 2], [0, 0]])], ids=["count", "keyvalue"])
def test_v3_hand_example(lib, fam, rit, row_idx, ntype, counts):
    """V3 on the doc inputs with range [1, 3): expert 0's copies are filtered (V = 4)."""
    sc = np.array([0.5, 0.25, 0.125], np.float32)
    p = {"op": "v3", "dtype": "f32", "x": X_DOC, "expert": E_DOC, "scale": sc, "offset": None, "active": 6,
         "C": -1, "E": 3, "drop": 0, "ntype": ntype, "nflag": True, "qm": -1, "range": [1, 3], "rit": rit}
    call, gold = run_and_check(lib, fam, p, np.random.default_rng(0))
    assert gold["V"] == 4
    assert call.args["expanded_row_idx"].guarded_array().tolist() == row_idx
    ex = call.args["expanded_x"].guarded_array()
    assert ex[:4].tolist() == X_DOC[[0, 1, 0, 2]].tolist()
    assert call.args["expanded_x"].guard.array().reshape(6, 4)[4:].view(np.uint8).tolist() == [[0xA5] * 16] * 2
    assert call.args["expanded_scale"].guarded_array()[:4].tolist() == [0.5, 0.25, 0.5, 0.125]
    assert np.asarray(counts).reshape(-1).tolist() == call.args["expert_tokens_count_or_cumsum"].guarded_array() \
        .reshape(-1).tolist()


def test_compute_expert_tokens_example(lib, fam):
    p = {"op": "cet", "E": 7, "sorted": np.array([0, 0, 2, 2, 2, 5], np.int32)}
    call, _ = run_and_check(lib, fam, p, np.random.default_rng(0))
    assert call.args["out"].guarded_array().tolist() == [2, 2, 5, 5, 5, 6, 6]


# ---------------------------------------------------------------------------------------------------------
# (2) randomized cases
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("index", range(N_V2))
def test_v2_random(lib, fam, seed, index):
    p, rng = gen_v2_case(seed, "v2", index)
    run_and_check(lib, fam, p, rng, _ctx(p, V2_KEYS))


@pytest.mark.parametrize("index", range(N_QV2))
def test_quant_v2_random(lib, fam, seed, index):
    p, rng = gen_v2_case(seed, "qv2", index)
    run_and_check(lib, fam, p, rng, _ctx(p, V2_KEYS))


@pytest.mark.parametrize("index", range(N_V3))
def test_v3_random(lib, fam, seed, index):
    p, rng = gen_v3_case(seed, index)
    run_and_check(lib, fam, p, rng, _ctx(p, V3_KEYS))


@pytest.mark.parametrize("index", range(N_CET))
def test_compute_expert_tokens_random(lib, fam, seed, index):
    p, rng = gen_cet_case(seed, index)
    run_and_check(lib, fam, p, rng, _ctx(p, ["E", "mode", "layout", "data_null"]) + " L=%d" % p["sorted"].size)


EMPTY_SHAPES = [(0, 3, 4), (4, 0, 4), (4, 3, 0), (0, 0, 0), (1, 0, 0)]


@pytest.mark.parametrize("N,K,H", EMPTY_SHAPES)
@pytest.mark.parametrize("variant", ["v2_dropless", "v2_drop", "qv2_static", "qv2_dyn_eh", "qv2_drop_dyn",
                                     "v3_copy", "v3_dyn", "v3_kv"])
def test_empty(lib, fam, N, K, H, variant):
    """N = 0, K = 0, H = 0: success, only the defined outputs written."""
    rng = np.random.default_rng([N, K, H])
    x = to_carrier(rng.standard_normal((N, H)), "f16")
    e = rng.integers(0, 3, (N, K)).astype(np.int32)
    if variant.startswith("v3"):
        qm = 1 if variant == "v3_dyn" else -1
        p = {"op": "v3", "dtype": "f16", "x": x, "expert": e, "scale": None, "offset": None, "active": -1,
             "C": -1, "E": 3, "drop": 0, "ntype": 2 if variant == "v3_kv" else 1, "nflag": True, "qm": qm,
             "range": None, "rit": int(rng.integers(0, 2))}
        if qm == 1:
            p["scale"] = np.arange(3 * H, dtype=np.float32).reshape(3, H) + 1
            p["layouts"] = {"scale": "colmajor"}        # a non-contiguous smooth view with nothing to route
        elif N:
            p["scale"] = np.ones(N, np.float32)
        run_and_check(lib, fam, p, rng)
        return
    drop = 1 if variant.endswith("drop") or variant == "qv2_drop_dyn" else 0
    if drop and N == 0:
        pytest.skip("drop mode needs 1 <= C <= N")
    p = {"op": "v2" if variant.startswith("v2") else "qv2", "dtype": "f16", "x": x, "expert": e,
         "active": 0, "C": 1 if drop else 0, "E": 3, "drop": drop, "flag": 0 if drop else 1, "before": True}
    if variant == "qv2_static":
        p.update(qm=0, scale=np.array([0.5], np.float32), offset=np.array([1.0], np.float32))
    elif variant in ("qv2_dyn_eh", "qv2_drop_dyn"):
        p.update(qm=1, scale=np.arange(3 * H, dtype=np.float32).reshape(3, H) + 1, offset=None,
                 layouts={"scale": "colmajor"})
    run_and_check(lib, fam, p, rng)


MANY_ROWS = ["v2_dropless", "v2_drop", "qv2_dyn_drop", "qv2_static", "v3_dyn", "v3_copy", "cet"]


@pytest.mark.parametrize("variant", MANY_ROWS)
def test_many_rows(lib, fam, seed, variant):
    """Large N*K (multi-threaded sort / scatter paths), stability across chunks."""
    rng = np.random.default_rng([seed, KIND_CODE["big"], MANY_ROWS.index(variant)])
    N = int(rng.integers(15000, 30000))
    K = int(rng.integers(1, 9))
    H = int(rng.choice([0, 1, 3]))
    dtype = pick(rng, list(FLOAT_DTYPES))
    E = int(pick(rng, [1, 4, 64, 256]))
    e = gen_ids_in_range(rng, (N, K), 0, E)[0]
    if variant == "cet":
        v = np.sort(rng.integers(0, E, N * K)).astype(np.int32)
        run_and_check(lib, fam, {"op": "cet", "E": E, "sorted": v}, rng)
        return
    if variant.startswith("v3"):
        s = int(rng.integers(0, E))
        r = [s, int(rng.integers(s + 1, E + 1))]
        qm = 1 if variant == "v3_dyn" else -1
        x = gen_x_dynamic(rng, dtype, (N, H))[0]
        p = {"op": "v3", "dtype": dtype, "x": x, "expert": e, "offset": None, "active": -1, "C": -1, "E": E,
             "drop": 0, "ntype": pick(rng, [1, 2]), "nflag": True, "qm": qm, "range": r,
             "rit": pick(rng, [0, 1]),
             "scale": (gen_smooth(rng, r[1] - r[0], H)[0] if qm == 1 else rng.standard_normal(N).astype(np.float32))}
        run_and_check(lib, fam, p, rng)
        return
    drop = int("drop" in variant)
    C = int(rng.integers(1, max(2, N * K // max(E, 1))))
    p = {"op": "v2" if variant.startswith("v2") else "qv2", "dtype": dtype, "expert": e, "E": E,
         "C": min(C, N) if drop else 0, "drop": drop, "flag": 0 if drop else pick(rng, [0, 1, 2]), "before": True,
         "active": 0 if drop else int(rng.integers(0, N * K + 2))}
    if p["op"] == "v2":
        p["x"] = gen_x_copy(rng, dtype, (N, H))
    elif variant == "qv2_static":
        p.update(qm=0, scale=np.array([0.7], np.float32), offset=np.array([-1.25], np.float32),
                 x=to_carrier(rng.standard_normal((N, H)) * 80, dtype))
    else:
        p.update(qm=1, scale=gen_smooth(rng, E, H)[0], offset=None, x=gen_x_dynamic(rng, dtype, (N, H))[0])
    run_and_check(lib, fam, p, rng)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("smooth", [None, "1H", "EH"])
def test_quant_v2_dynamic_large_hidden(lib, fam, seed, dtype, smooth):
    rng = np.random.default_rng([seed, 97, FLOAT_DTYPES.index(dtype), [None, "1H", "EH"].index(smooth)])
    N, K, H, E = 6, 4, 7168, 8
    x = gen_x_dynamic(rng, dtype, (N, H))[0]
    e = rng.integers(0, E, (N, K)).astype(np.int32)
    sc = None if smooth is None else gen_smooth(rng, 1 if smooth == "1H" else E, H)[0]
    for drop in (0, 1):
        p = {"op": "qv2", "dtype": dtype, "x": x, "expert": e, "E": E, "C": 3 if drop else 0, "drop": drop,
             "flag": 2, "before": True, "active": 0 if drop else 17, "qm": 1, "scale": sc, "offset": None}
        run_and_check(lib, fam, p, rng)


def test_quant_v2_static_dynamic_scale_output_untouched(lib, fam):
    """Static mode does not produce dynamicQuantScaleOut: a buffer passed anyway stays untouched."""
    rng = np.random.default_rng(7)
    x = to_carrier(rng.standard_normal((5, 6)) * 50, "f16")
    e = rng.integers(0, 4, (5, 3)).astype(np.int32)
    p = _v2p(op="qv2", dtype="f16", x=x, expert=e, E=4, qm=0, scale=np.array([0.8], np.float32),
             offset=np.array([0.25], np.float32), pass_dyn=True, active=7)
    run_and_check(lib, fam, p, rng)


def test_v3_device_limit_edges_accepted(lib, fam):
    """end = 10240 (count) and 5120 (key-value) are inside the device limits."""
    rng = np.random.default_rng(3)
    for ntype, E in ((1, 10240), (2, 5120)):
        e = rng.integers(E - 20, E, (7, 3)).astype(np.int32)
        p = {"op": "v3", "dtype": "f32", "x": rng.standard_normal((7, 5)).astype(np.float32), "expert": e,
             "scale": None, "offset": None, "active": 21, "C": -1, "E": E, "drop": 0, "ntype": ntype, "nflag": True,
             "qm": -1, "range": [0, E], "rit": 0}
        run_and_check(lib, fam, p, rng)


def test_compute_expert_tokens_longest(lib, fam):
    """L = 2^24 - 1 (the longest list the device takes), as a stride-0 view of one value."""
    L = 2 ** 24 - 1
    for value, E in ((0, 3), (2, 3)):
        call = cet_call({"E": E, "sorted": np.zeros(1, np.int32)})
        a = call.args["sorted_experts"]
        a.array = np.array([value], np.int32)
        a.dims, a.strides, a.offset, a.storage_dims = (L,), (0,), 0, (1,)
        run_ok(lib, fam, call, np.random.default_rng(0))
        want = [0 if e < value else L for e in range(E)]
        assert call.args["out"].guarded_array().tolist() == want


@pytest.mark.parametrize("E,values", [(2048, []), (2048, [2047]), (1, [0, 0, 0]), (2048, [0, 5, 5, 2047]),
                                      (5, [4, 4])], ids=["E2048-empty", "E2048-last", "E1", "E2048", "E5-top"])
def test_compute_expert_tokens_edges(lib, fam, E, values):
    run_and_check(lib, fam, {"op": "cet", "E": E, "sorted": np.array(values, np.int32)}, np.random.default_rng(0))


def test_device_limits_lifted(lib, fam, request):
    """MOEROUTE_DEVICE_LIMITS=0 lifts V3's end <= 10240 / 5120 and MoeComputeExpertTokens' 2048 experts and
    length < 2^24 (run in a child process when the variable is not set here)."""
    if os.environ.get("MOEROUTE_DEVICE_LIMITS") != "0":
        import subprocess
        import sys
        env = dict(os.environ, MOEROUTE_DEVICE_LIMITS="0")
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "%s::test_device_limits_lifted" % os.path.abspath(__file__)],
                           env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        return
    rng = np.random.default_rng(4)
    for ntype, E in ((1, 10241), (2, 5121), (2, 12000)):
        e = rng.integers(E - 30, E, (7, 3)).astype(np.int32)
        p = {"op": "v3", "dtype": "f32", "x": rng.standard_normal((7, 5)).astype(np.float32), "expert": e,
             "scale": None, "offset": None, "active": -1, "C": -1, "E": E, "drop": 0, "ntype": ntype, "nflag": True,
             "qm": -1, "range": [0, E], "rit": 1}
        run_and_check(lib, fam, p, rng)
    for E in (2049, 4096):
        v = np.sort(rng.integers(0, E, 500)).astype(np.int32)
        run_and_check(lib, fam, {"op": "cet", "E": E, "sorted": v}, rng)
    L = 2 ** 24
    call = cet_call({"E": 3, "sorted": np.zeros(1, np.int32)})
    a = call.args["sorted_experts"]
    a.array = np.array([1], np.int32)
    a.dims, a.strides, a.offset, a.storage_dims = (L,), (0,), 0, (1,)
    run_ok(lib, fam, call, rng)
    assert call.args["out"].guarded_array().tolist() == [0, L, L]


# ---------------------------------------------------------------------------------------------------------
# (4) the special DeepSeek-V3 decode recipe (round-to-odd fp16, then ties-to-even int8)
# ---------------------------------------------------------------------------------------------------------

def _deepseek_inputs(rng, dtype="bf16", N=1, H=rg.DEEPSEEK_H, K=rg.DEEPSEEK_K, R=rg.DEEPSEEK_E, start=0):
    """x rows whose max is 127 * 2^p with many k + 0.5 values, smooth rows that are powers of two: v / scale
    lands exactly on int8 ties."""
    k = rng.integers(-127, 127, (N, H)) + 0.5
    k = np.where(rng.random((N, H)) < 0.2, np.rint(k - 0.5), k)
    k[:, 0] = 127.0
    k[:, 1] = -126.5
    k[:, 2] = 2.5
    k[:, 3] = -0.5
    x = to_carrier(k * 0.25, dtype)
    smooth = np.broadcast_to(2.0 ** rng.integers(-2, 3, (R, 1)), (R, H)).astype(np.float32)
    e = (start + rng.permutation(R)[:N * K].reshape(N, K)).astype(np.int32) if N * K <= R else \
        (start + rng.integers(0, R, (N, K))).astype(np.int32)
    return x, np.ascontiguousarray(smooth), e


def _deepseek_p(x, dtype, e, smooth, E=256, r=(0, 256), ntype=2, rit=0, active=-1):
    return {"op": "v3", "dtype": dtype, "x": x, "expert": e, "scale": smooth, "offset": None, "active": active,
            "C": -1, "E": E, "drop": 0, "ntype": ntype, "nflag": True, "qm": 1,
            "range": None if r is None else list(r), "rit": rit}


def _both_recipes(p):
    """Golden results with the special recipe on and off (the routing parts are identical)."""
    gold = v3_golden(p)
    x, e = p["x"], p["expert"]
    K = e.shape[1]
    start = 0 if not p["range"] else p["range"][0]
    perm = rg.stable_perm(e.reshape(-1))
    v = rg.to_f32(x, p["dtype"])[perm // K]
    if p["scale"] is not None:
        v = rg.smooth_rows(v, p["scale"], e.reshape(-1)[perm].astype(np.int64) - start)
    q_odd, _ = rg.dynamic_quant_rows_round_to_odd(v)
    q_gen, _ = rg.dynamic_quant_rows(v)
    return gold, q_odd, q_gen


@pytest.mark.parametrize("rit,active,E", [(0, -1, 256), (1, 8, 256), (0, 8, 300)],
                         ids=["gather_E256", "scatter_active8", "gather_E300"])
def test_deepseek_special_recipe(lib, fam, seed, rit, active, E):
    """Exactly x [1, 7168] BF16, K = 8, smooth [256, 7168], range [0, 256), key-value counts, quantMode 1."""
    rng = np.random.default_rng([seed, KIND_CODE["special"], rit, E])
    x, smooth, e = _deepseek_inputs(rng)
    p = _deepseek_p(x, "bf16", e, smooth, E=E, rit=rit, active=active)
    gold, q_odd, q_gen = _both_recipes(p)
    assert gold["special"]
    n_tie = int((q_odd != q_gen).sum())
    assert n_tie > 100, "the inputs must hit int8 ties"
    call = v3_call(p)
    run_ok(lib, fam, call, rng)
    got = call.args["expanded_x"].guarded_array()
    if np.array_equal(got, q_gen):
        raise AssertionError("moeroute used the general recipe (ties away) on the special DeepSeek decode shape")
    assert np.array_equal(got, q_odd), "expandedX follows neither recipe (%d elements differ from round-to-odd)" % (
        int((got != q_odd).sum()))
    check_outputs(call, gold)


NEAR_MISSES = {
    "f16": dict(dtype="f16"),
    "f32": dict(dtype="f32"),
    "N2": dict(N=2),
    "H7167": dict(H=7167),
    "H7169": dict(H=7169),
    "K7": dict(K=7),
    "K9": dict(K=9),
    "no_smooth": dict(smooth=None),
    "count_type": dict(ntype=1),
    "range_0_255": dict(R=255, r=(0, 255)),
    "range_1_256": dict(R=255, r=(1, 256), start=1),
    "range_0_128_E256": dict(R=128, r=(0, 128)),
}


@pytest.mark.parametrize("miss", list(NEAR_MISSES))
def test_deepseek_near_miss_uses_general_recipe(lib, fam, seed, miss):
    kw = dict(NEAR_MISSES[miss])
    rng = np.random.default_rng([seed, KIND_CODE["special"], 100 + list(NEAR_MISSES).index(miss)])
    dtype = kw.pop("dtype", "bf16")
    ntype = kw.pop("ntype", 2)
    r = kw.pop("r", (0, 256))
    no_smooth = "smooth" in kw
    kw.pop("smooth", None)
    x, smooth, e = _deepseek_inputs(rng, dtype=dtype, **kw)
    p = _deepseek_p(x, dtype, e, None if no_smooth else smooth, r=r, ntype=ntype)
    gold, q_odd, q_gen = _both_recipes(p)
    assert not gold["special"]
    V = gold["V"]
    assert int((q_odd[:V] != q_gen[:V]).sum()) > 0, "the inputs must hit int8 ties"
    call = v3_call(p)
    run_ok(lib, fam, call, rng)
    got = call.args["expanded_x"].guarded_array()[:V]
    if np.array_equal(got, q_odd[:V]):
        raise AssertionError("moeroute used the special round-to-odd recipe for the near miss %r" % miss)
    check_outputs(call, gold)


def test_deepseek_null_range_full_experts(lib, fam, seed):
    """NULL activeExpertRange with expertNum 256 is the range [0, 256) too (decisions: NULL -> [0, expertNum)).
    Whether the special recipe keys on the effective range or on an explicit attribute is not settled by the
    decisions: accept either recipe, but nothing else."""
    rng = np.random.default_rng([seed, KIND_CODE["special"], 999])
    x, smooth, e = _deepseek_inputs(rng)
    p = _deepseek_p(x, "bf16", e, smooth, r=None)
    gold, q_odd, q_gen = _both_recipes(p)
    call = v3_call(p)
    run_ok(lib, fam, call, rng)
    got = call.args["expanded_x"].guarded_array()
    assert np.array_equal(got, q_odd) or np.array_equal(got, q_gen), "expandedX follows neither recipe"
    if not np.array_equal(got, q_odd):
        gold["expanded_x"] = rg.Out.full(q_gen)
    check_outputs(call, gold)


# ---------------------------------------------------------------------------------------------------------
# (3) refusals: status, message, outputs untouched
# ---------------------------------------------------------------------------------------------------------

RN, RK, RH, RE, RC = 5, 3, 4, 4, 2
RL = RN * RK


def _base_v2(op="v2", drop=0, flag=1, before=False, qm=0, smooth=None, **kw):
    rng = np.random.default_rng(11)
    p = {"op": op, "dtype": "f16", "x": to_carrier(rng.standard_normal((RN, RH)) * 20, "f16"),
         "expert": rng.integers(0, RE, (RN, RK)).astype(np.int32), "active": RL if not drop else 0,
         "C": RC if drop else 0, "E": RE, "drop": drop, "flag": 0 if drop else flag, "before": before}
    if op == "qv2":
        p["qm"] = qm
        if qm == 0:
            p["scale"], p["offset"] = np.array([0.8], np.float32), np.array([0.25], np.float32)
        else:
            p["scale"] = None if smooth is None else np.ones((1 if smooth == "1H" else RE, RH), np.float32)
            p["offset"] = None
    p.update(kw)
    return p


def _base_v3(qm=-1, ntype=1, scale=True, **kw):
    rng = np.random.default_rng(12)
    p = {"op": "v3", "dtype": "f16", "x": to_carrier(rng.standard_normal((RN, RH)) * 20, "f16"),
         "expert": rng.integers(0, RE, (RN, RK)).astype(np.int32), "offset": None, "active": -1, "C": -1, "E": RE,
         "drop": 0, "ntype": ntype, "nflag": True, "qm": qm, "range": [1, 3], "rit": 0}
    if scale:
        p["scale"] = np.ones(RN, np.float32) if qm == -1 else np.ones((2, RH), np.float32)
    else:
        p["scale"] = None
    p.update(kw)
    return p


def _base_cet(**kw):
    p = {"op": "cet", "E": 6, "sorted": np.array([0, 1, 1, 3, 5, 5], np.int32)}
    p.update(kw)
    return p


def _build(p):
    return {"v2": v2_call, "qv2": v2_call, "v3": v3_call, "cet": cet_call}[p["op"]](p)


def _set(name, **fields):
    """Call mutator: spoil tensor argument `name`."""
    def f(call):
        a = call.args[name]
        for k, v in fields.items():
            setattr(a, k, v)
    return f


def _null(name):
    def f(call):
        call.args[name] = None
    return f


def _attr(**kw):
    def f(call):
        call.attrs.update(kw)
    return f


def _new_out(name, shape, dtype):
    def f(call):
        call.args[name] = rf.Arg.out(shape, dtype)
    return f


def _new_in(name, array, dtype):
    def f(call):
        call.args[name] = rf.Arg.inp(np.asarray(array), dtype)
    return f


def _alias(name, other):
    def f(call):
        call.args[name].address_of = call.args[other]
    return f


P1, EX, ANY = "phase1", "execute", "either phase"
NULLPTR, INVALID, TILING = mr.ACLNN_ERR_PARAM_NULLPTR, mr.ACLNN_ERR_PARAM_INVALID, mr.ACLNN_ERR_INNER_TILING_ERROR
A_RL = RL            # expanded rows of the dropless base (activeNum = L)

# (id, base params, call mutator, expected status, phase)
REFUSALS = []


def _r(rid, base, mut, status, phase=P1):
    REFUSALS.append(pytest.param(base, mut, status, phase, id=rid))


for _op in ("v2", "qv2"):
    _b = lambda _op=_op, **kw: _base_v2(op=_op, **kw)                                    # noqa: E731
    _ex_dt = "i8" if _op == "qv2" else "f16"
    # NULL required tensors
    for _n in ("x", "expert_idx", "expanded_x", "expanded_row_idx"):
        _r("%s-null-%s" % (_op, _n), _b(), _null(_n), NULLPTR)
    _r("%s-null-needed-count" % _op, _b(flag=1), _null("expert_tokens_count_or_cumsum"), TILING)
    _r("%s-null-needed-before" % _op, _b(drop=1, before=True), _null("expert_tokens_before_capacity"), TILING)
    # dtype / format
    _r("%s-x-int32" % _op, _b(), _set("x", acl_dtype=mr.ACL_INT32), INVALID)
    _r("%s-x-int8" % _op, _b(), _set("x", acl_dtype=mr.ACL_INT8), INVALID)
    _r("%s-expert-int64" % _op, _b(), _set("expert_idx", acl_dtype=rf.ACL_INT64, dtype="i64",
                                           array=np.zeros((RN, RK), np.int64), dims=(RN, RK)), INVALID)
    _r("%s-expert-f32" % _op, _b(), _set("expert_idx", acl_dtype=mr.ACL_FLOAT), INVALID)
    _r("%s-expanded-x-dtype" % _op, _b(), _new_out("expanded_x", (A_RL, RH), "f16" if _op == "qv2" else "f32"),
       INVALID)
    _r("%s-row-idx-int64" % _op, _b(), _new_out("expanded_row_idx", (RL,), "i64"), INVALID)
    _r("%s-count-int64" % _op, _b(flag=2), _new_out("expert_tokens_count_or_cumsum", (RE,), "i64"), INVALID)
    _r("%s-before-int64" % _op, _b(drop=1, before=True), _new_out("expert_tokens_before_capacity", (RE,), "i64"),
       INVALID)
    _r("%s-x-format-nchw" % _op, _b(), _set("x", fmt=mr.ACL_FORMAT_NCHW), INVALID)
    _r("%s-out-format-nchw" % _op, _b(), _set("expanded_row_idx", fmt=mr.ACL_FORMAT_NCHW), INVALID)
    # views
    _r("%s-x-view-outside-storage" % _op, _b(), _set("x", dims=(RN, RH), storage_dims=(RN * RH - 1,)), INVALID)
    _r("%s-output-not-contiguous" % _op, _b(), _set("expanded_x", strides=(2 * RH, 1)), INVALID)
    _r("%s-row-idx-output-strided" % _op, _b(), _set("expanded_row_idx", strides=(2,)), INVALID)
    # overlapping outputs may be seen at phase 1 or, since addresses can change, only at execute
    _r("%s-outputs-overlap" % _op, _b(flag=1), _alias("expert_tokens_count_or_cumsum", "expanded_row_idx"), INVALID,
       ANY)
    # shapes and attributes
    _r("%s-x-3d" % _op, _b(), _set("x", dims=(RN, RH, 1)), TILING)
    _r("%s-x-1d" % _op, _b(), _set("x", dims=(RN * RH,)), TILING)
    _r("%s-expert-1d" % _op, _b(), _set("expert_idx", dims=(RL,)), TILING)
    _r("%s-expert-3d" % _op, _b(), _set("expert_idx", dims=(RN, RK, 1)), TILING)
    _r("%s-rows-differ" % _op, _b(), _set("expert_idx", dims=(RN - 1, RK)), TILING)
    _r("%s-active-negative" % _op, _b(), _attr(active_num=-1), TILING)
    _r("%s-drop-active-negative" % _op, _b(drop=1), _attr(active_num=-1), TILING)
    _r("%s-capacity-negative" % _op, _b(), _attr(expert_capacity=-1), TILING)
    _r("%s-expert-num-negative" % _op, _b(flag=0), _attr(expert_num=-1), TILING)
    _r("%s-drop-mode-2" % _op, _b(), _attr(drop_pad_mode=2), TILING)
    _r("%s-drop-mode-neg" % _op, _b(), _attr(drop_pad_mode=-1), TILING)
    _r("%s-flag-3" % _op, _b(), _attr(count_flag=3), TILING)
    _r("%s-flag-neg" % _op, _b(), _attr(count_flag=-1), TILING)
    _r("%s-drop-capacity-0" % _op, _b(drop=1, C=0), None, TILING)
    _r("%s-drop-experts-0" % _op, _b(drop=1, E=0), None, TILING)
    _r("%s-drop-capacity-gt-N" % _op, _b(drop=1, C=RN + 1), None, TILING)
    _r("%s-count-experts-0" % _op, _b(flag=2, E=0), None, TILING)
    _r("%s-expanded-x-rows" % _op, _b(), _new_out("expanded_x", (A_RL + 1, RH), _ex_dt), TILING)
    _r("%s-expanded-x-cols" % _op, _b(), _new_out("expanded_x", (A_RL, RH + 1), _ex_dt), TILING)
    _r("%s-expanded-x-3d-dropless" % _op, _b(), _new_out("expanded_x", (1, A_RL, RH), _ex_dt), TILING)
    _r("%s-expanded-x-active-rows" % _op, _b(active=4), _new_out("expanded_x", (RN * RK, RH), _ex_dt), TILING)
    _r("%s-expanded-x-2d-drop" % _op, _b(drop=1), _new_out("expanded_x", (RE * RC, RH), _ex_dt), TILING)
    _r("%s-expanded-x-drop-capacity" % _op, _b(drop=1), _new_out("expanded_x", (RE, RC + 1, RH), _ex_dt), TILING)
    _r("%s-row-idx-length" % _op, _b(), _new_out("expanded_row_idx", (RL + 1,), "i32"), TILING)
    _r("%s-row-idx-2d" % _op, _b(), _new_out("expanded_row_idx", (RN, RK), "i32"), TILING)
    _r("%s-count-length" % _op, _b(flag=1), _new_out("expert_tokens_count_or_cumsum", (RE + 1,), "i32"), TILING)
    _r("%s-count-2d" % _op, _b(flag=1), _new_out("expert_tokens_count_or_cumsum", (RE, 1), "i32"), TILING)
    _r("%s-before-length" % _op, _b(drop=1, before=True), _new_out("expert_tokens_before_capacity", (RE - 1,), "i32"),
       TILING)
    # data-dependent: expert ids outside [0, E) where E is used
    _bad = np.random.default_rng(11).integers(0, RE, (RN, RK)).astype(np.int32)
    _bad.reshape(-1)[7] = 1234
    _bad.reshape(-1)[11] = 999
    _neg = _bad.copy()
    _neg.reshape(-1)[7] = -1
    _r("%s-drop-id-out-of-range" % _op, _b(drop=1, expert=_bad), None, INVALID, EX)
    _r("%s-drop-id-negative" % _op, _b(drop=1, expert=_neg), None, INVALID, EX)
    _r("%s-count-id-out-of-range" % _op, _b(flag=2, expert=_bad), None, INVALID, EX)
    _r("%s-cumsum-id-negative" % _op, _b(flag=1, expert=_neg), None, INVALID, EX)
    _e_eq = _bad.copy()
    _e_eq.reshape(-1)[7] = RE                                      # exactly E
    _r("%s-count-id-equals-E" % _op, _b(flag=2, expert=_e_eq), None, INVALID, EX)

# QuantV2 only
_q = lambda **kw: _base_v2(op="qv2", **kw)                                              # noqa: E731
_r("qv2-quant-mode-2", _q(), _attr(quant_mode=2), TILING)
_r("qv2-quant-mode-neg", _q(), _attr(quant_mode=-1), TILING)
_r("qv2-static-scale-null", _q(qm=0), _null("scale"), TILING)
_r("qv2-static-offset-null", _q(qm=0), _null("offset"), TILING)
_r("qv2-static-scale-f16", _q(qm=0), _new_in("scale", np.array([1.0], np.float16), "f16"), TILING)
_r("qv2-static-offset-f16", _q(qm=0), _new_in("offset", np.array([1.0], np.float16), "f16"), TILING)
_r("qv2-static-scale-2d", _q(qm=0), _new_in("scale", np.ones((1, 1), np.float32), "f32"), TILING)
_r("qv2-static-offset-2d", _q(qm=0), _new_in("offset", np.ones((1, 1), np.float32), "f32"), TILING)
_r("qv2-static-scale-len2", _q(qm=0), _new_in("scale", np.ones(2, np.float32), "f32"), TILING)
_r("qv2-static-offset-len0", _q(qm=0), _new_in("offset", np.ones(0, np.float32), "f32"), TILING)
_r("qv2-dyn-smooth-f16", _q(qm=1), _new_in("scale", np.ones((RE, RH), np.float16), "f16"), TILING)
_r("qv2-dyn-smooth-1d", _q(qm=1), _new_in("scale", np.ones(RH, np.float32), "f32"), TILING)
_r("qv2-dyn-smooth-rows", _q(qm=1), _new_in("scale", np.ones((2, RH), np.float32), "f32"), TILING)
_r("qv2-dyn-smooth-rows-E+1", _q(qm=1), _new_in("scale", np.ones((RE + 1, RH), np.float32), "f32"), TILING)
_r("qv2-dyn-smooth-cols", _q(qm=1), _new_in("scale", np.ones((RE, RH + 1), np.float32), "f32"), TILING)
_r("qv2-dyn-smooth-3d", _q(qm=1), _new_in("scale", np.ones((1, RE, RH), np.float32), "f32"), TILING)
_r("qv2-dyn-scale-out-null", _q(qm=1), _null("dynamic_quant_scale"), TILING)
_r("qv2-dyn-scale-out-f16", _q(qm=1), _new_out("dynamic_quant_scale", (A_RL,), "f16"), TILING)
_r("qv2-dyn-scale-out-2d", _q(qm=1), _new_out("dynamic_quant_scale", (A_RL, 1), "f32"), TILING)
_r("qv2-dyn-scale-out-length", _q(qm=1), _new_out("dynamic_quant_scale", (A_RL + 1,), "f32"), TILING)
_r("qv2-dyn-drop-scale-out-length", _q(qm=1, drop=1), _new_out("dynamic_quant_scale", (RE * RC - 1,), "f32"), TILING)
_r("qv2-dyn-eh-id-out-of-range", _q(qm=1, smooth="EH", flag=0, expert=_bad), None, INVALID, EX)

# V3
_v = _base_v3
for _n in ("x", "expert_idx"):
    _r("v3-null-%s" % _n, _v(), _null(_n), NULLPTR)
for _n in ("expanded_x", "expanded_row_idx", "expert_tokens_count_or_cumsum", "expanded_scale"):
    _r("v3-null-%s" % _n, _v(), _null(_n), NULLPTR)
    _r("v3-dyn-null-%s" % _n, _v(qm=1), _null(_n), NULLPTR)
_r("v3-x-int32", _v(), _set("x", acl_dtype=mr.ACL_INT32), INVALID)
_r("v3-x-int8-dynamic", _v(qm=1, dtype="i8", x=np.ones((RN, RH), np.int8)), None, INVALID)
_r("v3-expert-int64", _v(), _set("expert_idx", acl_dtype=rf.ACL_INT64, dtype="i64",
                                 array=np.zeros((RN, RK), np.int64), dims=(RN, RK)), INVALID)
_r("v3-expanded-x-dtype-copy", _v(), _new_out("expanded_x", (RL, RH), "f32"), INVALID)
_r("v3-expanded-x-dtype-dyn", _v(qm=1), _new_out("expanded_x", (RL, RH), "f16"), INVALID)
_r("v3-row-idx-int64", _v(), _new_out("expanded_row_idx", (RL,), "i64"), INVALID)
_r("v3-count-int32", _v(), _new_out("expert_tokens_count_or_cumsum", (2,), "i32"), INVALID)
_r("v3-kv-int32", _v(ntype=2), _new_out("expert_tokens_count_or_cumsum", (RE, 2), "i32"), INVALID)
_r("v3-expanded-scale-f16", _v(), _new_out("expanded_scale", (RL,), "f16"), INVALID)
_r("v3-scale-f16", _v(), _new_in("scale", np.ones(RN, np.float16), "f16"), INVALID)
_r("v3-x-format-nchw", _v(), _set("x", fmt=mr.ACL_FORMAT_NCHW), INVALID)
_r("v3-x-view-outside-storage", _v(), _set("x", dims=(RN, RH), storage_dims=(RN * RH - 1,)), INVALID)
_r("v3-output-not-contiguous", _v(), _set("expanded_x", strides=(2 * RH, 1)), INVALID)
_r("v3-x-3d", _v(), _set("x", dims=(RN, RH, 1)), TILING)
_r("v3-expert-1d", _v(), _set("expert_idx", dims=(RL,)), TILING)
_r("v3-rows-differ", _v(), _set("expert_idx", dims=(RN - 1, RK)), TILING)
_r("v3-range-len1", _v(), _attr(active_range=[1]), TILING)
_r("v3-range-len3", _v(), _attr(active_range=[0, 2, 3]), TILING)
_r("v3-range-start-neg", _v(range=[-1, 3], scale=False), None, TILING)
_r("v3-range-empty-interval", _v(), _attr(active_range=[2, 2]), TILING)
_r("v3-range-reversed", _v(), _attr(active_range=[3, 1]), TILING)
_r("v3-range-end-gt-E", _v(range=[0, RE + 1], scale=False), None, TILING)
_r("v3-expert-num-0", _v(E=0, range=None), None, TILING)
_r("v3-expert-num-neg", _v(range=[0, 2]), _attr(expert_num=-1), TILING)
_r("v3-drop-mode-1", _v(), _attr(drop_pad_mode=1), TILING)
_r("v3-tokens-flag-false", _v(), _attr(tokens_num_flag=False), TILING)
_r("v3-tokens-type-0", _v(), _attr(tokens_num_type=0), TILING)
_r("v3-tokens-type-3", _v(), _attr(tokens_num_type=3), TILING)
_r("v3-quant-mode-0", _v(), _attr(quant_mode=0), TILING)
_r("v3-quant-mode-2", _v(), _attr(quant_mode=2), TILING)
_r("v3-quant-mode-neg2", _v(), _attr(quant_mode=-2), TILING)
_r("v3-row-idx-type-2", _v(), _attr(row_idx_type=2), TILING)
_r("v3-row-idx-type-neg", _v(), _attr(row_idx_type=-1), TILING)
_r("v3-active-0", _v(), _attr(active_num=0), TILING)
_r("v3-active-L-1", _v(), _attr(active_num=RL - 1), TILING)
_r("v3-active-L+1", _v(), _attr(active_num=RL + 1), TILING)
_r("v3-active-neg2", _v(), _attr(active_num=-2), TILING)
_r("v3-limit-count-10241", _v(E=10241, range=[0, 10241], scale=False), None, TILING)
_r("v3-limit-kv-5121", _v(E=5121, range=[0, 5121], ntype=2, scale=False), None, TILING)
_r("v3-expanded-x-rows", _v(), _new_out("expanded_x", (RL + 1, RH), "f16"), TILING)
_r("v3-expanded-x-cols", _v(), _new_out("expanded_x", (RL, RH + 1), "f16"), TILING)
_r("v3-row-idx-length", _v(), _new_out("expanded_row_idx", (RL - 1,), "i32"), TILING)
_r("v3-count-length", _v(), _new_out("expert_tokens_count_or_cumsum", (3,), "i64"), TILING)
_r("v3-count-full-E", _v(), _new_out("expert_tokens_count_or_cumsum", (RE,), "i64"), TILING)
_r("v3-kv-cols", _v(ntype=2), _new_out("expert_tokens_count_or_cumsum", (RE, 3), "i64"), TILING)
_r("v3-kv-rows", _v(ntype=2), _new_out("expert_tokens_count_or_cumsum", (RE + 1, 2), "i64"), TILING)
_r("v3-kv-range-rows", _v(ntype=2), _new_out("expert_tokens_count_or_cumsum", (2, 2), "i64"), TILING)
_r("v3-expanded-scale-length", _v(), _new_out("expanded_scale", (RL + 1,), "f32"), TILING)
_r("v3-scale-length", _v(), _new_in("scale", np.ones(RN + 1, np.float32), "f32"), TILING)
_r("v3-scale-2d-copy", _v(), _new_in("scale", np.ones((RN, 1), np.float32), "f32"), TILING)
_r("v3-smooth-rows", _v(qm=1), _new_in("scale", np.ones((3, RH), np.float32), "f32"), TILING)
_r("v3-smooth-rows-E", _v(qm=1), _new_in("scale", np.ones((RE, RH), np.float32), "f32"), TILING)
_r("v3-smooth-cols", _v(qm=1), _new_in("scale", np.ones((2, RH + 1), np.float32), "f32"), TILING)
_r("v3-smooth-1d", _v(qm=1), _new_in("scale", np.ones(RH, np.float32), "f32"), TILING)

# MoeComputeExpertTokens
_c = _base_cet
_r("cet-null-sorted", _c(), _null("sorted_experts"), NULLPTR)
_r("cet-null-out", _c(), _null("out"), NULLPTR)
_r("cet-sorted-int64", _c(), _set("sorted_experts", acl_dtype=rf.ACL_INT64, dtype="i64",
                                  array=np.array([0, 1, 1, 3, 5, 5], np.int64), dims=(6,)), INVALID)
_r("cet-sorted-f32", _c(), _set("sorted_experts", acl_dtype=mr.ACL_FLOAT), INVALID)
_r("cet-out-int64", _c(), _new_out("out", (6,), "i64"), INVALID)
_r("cet-sorted-format-nchw", _c(), _set("sorted_experts", fmt=mr.ACL_FORMAT_NCHW), INVALID)
_r("cet-sorted-view-outside-storage", _c(), _set("sorted_experts", dims=(6,), storage_dims=(5,)), INVALID)
_r("cet-out-strided", _c(), _set("out", strides=(2,)), INVALID)
_r("cet-sorted-2d", _c(), _set("sorted_experts", dims=(2, 3)), TILING)
_r("cet-out-2d", _c(), _new_out("out", (6, 1), "i32"), TILING)
_r("cet-out-length", _c(), _new_out("out", (7,), "i32"), TILING)
_r("cet-num-experts-0", _c(E=0), None, TILING)
_r("cet-num-experts-neg", _c(), _attr(num_experts=-1), TILING)
_r("cet-num-experts-2049", _c(E=2049), None, TILING)
_r("cet-length-2^24", _c(), _set("sorted_experts", dims=(2 ** 24,), strides=(0,), storage_dims=(1,)), TILING)
_r("cet-value-negative", _c(sorted=np.array([-1, 1, 1, 3, 5, 5], np.int32)), None, INVALID, EX)
_r("cet-value-E", _c(sorted=np.array([0, 1, 1, 3, 5, 6], np.int32)), None, INVALID, EX)
_r("cet-value-huge", _c(sorted=np.array([0, 1, 1, 3, 5, INT32_MAX], np.int32)), None, INVALID, EX)
_r("cet-descending", _c(sorted=np.array([0, 1, 3, 2, 5, 5], np.int32)), None, INVALID, EX)


def _contains_number(msg, n):
    return re.search(r"(?<![0-9])%s(?![0-9])" % re.escape(str(n)), msg) is not None


@pytest.mark.parametrize("base,mut,status,phase", REFUSALS)
def test_refusal(lib, fam, base, mut, status, phase, request):
    rid = request.node.callspec.id
    if "limit" in rid and os.environ.get("MOEROUTE_DEVICE_LIMITS") == "0":
        pytest.skip("device limits lifted by MOEROUTE_DEVICE_LIMITS=0")
    call = _build(base)
    if mut is not None:
        mut(call)
    got_phase, st = run_call(lib, fam, call, np.random.default_rng(1))
    msg = lib.recent_err_msg()
    if phase == ANY:
        phase = got_phase
    assert (got_phase, st) == (phase, status), "expected %s in %s, got %d in %s (%r)\n  %s" % (
        status, phase, st, got_phase, msg, call.describe())
    assert msg, "no aclGetRecentErrMsg message for a refused call"
    assert call.outputs_untouched(), "a refused call wrote an output\n  " + call.describe()
    assert not lib.recent_err_msg(), "reading the message must clear it"
    if phase == EX and base["op"] != "cet" and "-id-" in rid:
        # the first offending copy is flat position 7 (row 2, slot 1)
        value = int(np.asarray(base["expert"]).reshape(-1)[7])
        assert _contains_number(msg, value), msg
        assert _contains_number(msg, 7) or (_contains_number(msg, 2) and _contains_number(msg, 1)), msg


def test_refusal_too_many_copies(lib, fam):
    """N*K > INT32_MAX -> 561002 at phase 1 (stride-0 views; no output is ever written)."""
    N, K = 2 ** 16, 2 ** 15 + 1
    L = N * K
    for op in ("v2", "qv2", "v3"):
        if op == "v3":
            p = _base_v3(active=-1, scale=False)
        else:
            p = _base_v2(op=op, flag=0, active=1, **({"qm": 1} if op == "qv2" else {}))
        call = _build(p)
        x = call.args["x"]
        x.dims, x.strides, x.storage_dims = (N, 1), (0, 0), (1,)
        e = call.args["expert_idx"]
        e.dims, e.strides, e.storage_dims = (N, K), (0, 0), (1,)
        rows = L if op == "v3" else 1
        call.args["expanded_x"] = rf.Arg.out((rows, 1), "i8" if op == "qv2" else "f16")
        call.args["expanded_row_idx"] = rf.Arg.out((L,), "i32")
        for name in ("expanded_x", "expanded_row_idx"):
            call.args[name].buffer_shape = (16,)
        for name in ("dynamic_quant_scale", "expanded_scale"):
            if call.args.get(name) is not None:
                call.args[name] = rf.Arg.out((rows,), "f32")
                call.args[name].buffer_shape = (16,)
        lib.recent_err_msg()
        vals = call.build(lib, fam, np.random.default_rng(0), FILLS)
        try:
            st, _, _ = fam.phase1(op, vals)
        finally:
            call.destroy(lib, fam)
        assert st == TILING, (op, st, lib.recent_err_msg())
        assert lib.recent_err_msg()
        assert call.outputs_untouched()


# ---- workspace, executors, pointers ----------------------------------------------------------------------

def _exec_bases():
    rng = np.random.default_rng(5)
    N, K, H = 300, 8, 16
    x = to_carrier(rng.standard_normal((N, H)) * 20, "bf16")
    e = rng.integers(0, 16, (N, K)).astype(np.int32)
    return {
        "v2": {"op": "v2", "dtype": "bf16", "x": x, "expert": e, "active": 0, "C": 0, "E": 16, "drop": 0,
               "flag": 1, "before": False},
        "v2_drop": {"op": "v2", "dtype": "bf16", "x": x, "expert": e, "active": 0, "C": 50, "E": 16, "drop": 1,
                    "flag": 0, "before": True},
        "qv2": {"op": "qv2", "dtype": "bf16", "x": x, "expert": e, "active": 100, "C": 0, "E": 16, "drop": 0,
                "flag": 2, "before": False, "qm": 1, "scale": np.ones((16, H), np.float32), "offset": None},
        "v3": {"op": "v3", "dtype": "bf16", "x": x, "expert": e, "scale": None, "offset": None, "active": -1,
               "C": -1, "E": 16, "drop": 0, "ntype": 2, "nflag": True, "qm": 1, "range": [2, 9], "rit": 1},
        "cet": {"op": "cet", "E": 16, "sorted": np.sort(e.reshape(-1))},
    }


def _golden_of(p):
    if p["op"] in ("v2", "qv2"):
        return v2_golden(p)
    if p["op"] == "v3":
        return v3_golden(p)
    return rg.compute_expert_tokens(p["sorted"], p["E"])


@pytest.mark.parametrize("which", ["v2", "v2_drop", "qv2", "v3", "cet"])
def test_workspace_too_small(lib, fam, which):
    p = _exec_bases()[which]
    call = _build(p)
    lib.recent_err_msg()
    vals = call.build(lib, fam, np.random.default_rng(0), FILLS)
    try:
        st, ws, exe = fam.phase1(call.op, vals)
        assert st == 0, lib.recent_err_msg()
        if ws == 0:
            assert fam.execute(call.op, None, 0, exe) == 0
            check_outputs(call, _golden_of(p))
            pytest.skip("no workspace asked for")
        buf = np.zeros(ws, np.uint8)
        st = fam.execute(call.op, buf, ws - 1, exe)
        assert st == INVALID
        assert lib.recent_err_msg()
        assert call.outputs_untouched()
    finally:
        call.destroy(lib, fam)


@pytest.mark.parametrize("which", ["v2", "qv2", "v3", "cet"])
def test_executor_one_shot_and_repeatable(lib, fam, which):
    p = _exec_bases()[which]
    gold = _golden_of(p)
    call = _build(p)
    vals = call.build(lib, fam, np.random.default_rng(0), FILLS)
    try:
        st, ws, exe = fam.phase1(call.op, vals)
        assert st == 0, lib.recent_err_msg()
        buf = np.zeros(ws, np.uint8) if ws else None
        assert fam.execute(call.op, buf, ws, exe) == 0
        check_outputs(call, gold)
        call.reset_outputs()
        lib.recent_err_msg()
        assert fam.execute(call.op, buf, ws, exe) != 0, "a released one-shot executor ran again"
        assert lib.recent_err_msg()
        assert call.outputs_untouched()
        # repeatable
        st, ws, exe = fam.phase1(call.op, vals)
        assert st == 0
        assert lib.aclSetAclOpExecutorRepeatable(exe) == 0
        buf = np.zeros(ws, np.uint8) if ws else None
        for _ in range(2):
            call.reset_outputs()
            assert fam.execute(call.op, buf, ws, exe) == 0
            check_outputs(call, gold)
        assert lib.aclDestroyAclOpExecutor(exe) == 0
    finally:
        call.destroy(lib, fam)


@pytest.mark.parametrize("op", ["v2", "qv2", "v3", "cet"])
def test_null_executor_and_out_pointers(lib, fam, op):
    lib.recent_err_msg()
    assert fam.execute(op, None, 0, None) == mr.ACLNN_ERR_INNER_NULLPTR
    assert lib.recent_err_msg()
    p = _exec_bases()[op]
    call = _build(p)
    vals = call.build(lib, fam, np.random.default_rng(0), FILLS)
    try:
        exe = rf.ctypes.c_void_p(None)
        ws = rf.ctypes.c_uint64(0)
        st, _, _ = fam.phase1(op, vals, ws_ptr=None, exe_ptr=rf.ctypes.byref(exe))
        assert st == NULLPTR
        assert lib.recent_err_msg()
        st, _, _ = fam.phase1(op, vals, ws_ptr=rf.ctypes.byref(ws), exe_ptr=None)
        assert st == NULLPTR
        assert lib.recent_err_msg()
        assert call.outputs_untouched()
    finally:
        call.destroy(lib, fam)


def test_int_array_container(fam):
    a = fam.create_int_array([3, -1, 2 ** 40])
    assert fam.aclDestroyIntArray(a) == 0
    a = fam.create_int_array([])
    assert fam.aclDestroyIntArray(a) == 0
    assert fam.aclDestroyIntArray(None) == 0
