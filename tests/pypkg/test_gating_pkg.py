"""The gating operators of the Python package (npu_moe_gating_top_k, moe_gating_top_k,
npu_moe_gating_top_k_softmax, npu_moe_gating_top_k_softmax_v2) against the independent numpy model of
tests/python/gating_golden.py, byte for byte (NaN compared as a class; rows the model marks hard -- a score
within 2^-46 of an fp32 rounding midpoint, where decision 11 promises 1 ulp only -- are left out), plus out=
tuples, 3-D x, strided and torch inputs, and the refusals (MoerouteError status and message, as ValueError /
TypeError).

Run as tests/pypkg/test_package.py is:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg
Randomized cases use fixed seeds (the case index), so a failure replays as it is. torch cases are skipped when
torch cannot be imported.
"""

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
from pkgtest import torch, needs_torch, SHAPE, DTYPE, strided_view
import moeroute  # noqa: E402

import gating_golden as gg  # noqa: E402
from combine_golden import nan_mask  # noqa: E402


def carrier(v, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(v, np.float64)
        if dtype == "bf16":
            return gg.f32_to_bf16(v.astype(np.float32), False)
        return v.astype(np.float16 if dtype == "f16" else np.float32)


def logits(rng, dtype, shape):
    kind = int(rng.integers(4))
    if kind == 0:
        v = rng.standard_normal(shape) * float(rng.choice([0.5, 2.0, 8.0]))
    elif kind == 1:
        v = rng.integers(-2, 3, shape) * float(rng.choice([0.5, 30.0]))  # ties
    elif kind == 2:
        v = rng.standard_normal(shape) * 100.0  # exp underflow, sigmoid saturation
    else:
        v = rng.standard_normal(shape)
        v = np.where(rng.random(shape) < 0.1, np.array([np.nan, np.inf, -np.inf, -0.0])[rng.integers(0, 4, shape)], v)
    return carrier(v, dtype)


def assert_same(got, want, dtype, what, hard=None):
    got, want = np.ascontiguousarray(got), np.ascontiguousarray(want)
    assert got.shape == want.shape and got.dtype.itemsize == want.dtype.itemsize, (what, got.shape, want.shape)
    if hard is not None and hard.any():
        got, want = got.reshape(hard.size, -1)[~hard], want.reshape(hard.size, -1)[~hard]
    if not got.size:
        return
    gb, wb = got.view(np.uint8).reshape(got.size, -1), want.view(np.uint8).reshape(want.size, -1)
    bad = (gb != wb).any(axis=1)
    if dtype in ("f16", "bf16", "f32"):
        bad &= ~(nan_mask(got, dtype) & nan_mask(want, dtype)).reshape(-1)
    assert not bad.any(), "%s: %d elements differ, first at flat %d: got %r want %r" % (
        what, int(bad.sum()), int(np.nonzero(bad)[0][0]), got.reshape(-1)[bad][0], want.reshape(-1)[bad][0])


def refused(status, fragment, exc, fn, *args, **kw):
    with pytest.raises(moeroute.MoerouteError) as ei:
        fn(*args, **kw)
    e = ei.value
    assert e.status == status, (e.status_name, e.message)
    assert isinstance(e, exc), type(e)
    assert fragment in e.message, e.message


# ---- npu_moe_gating_top_k / moe_gating_top_k -----------------------------------------------------------------

def test_top_k_worked_examples():
    # softmax over zeros: s = 1/4; bias picks expert 2 then the lower index; y = s * 2 (no renormalisation)
    x = np.zeros((2, 4), np.float32)
    y, idx, s = moeroute.npu_moe_gating_top_k(x, 2, bias=np.array([0, 0, 1, 0], np.float32),
                                              routed_scaling_factor=2.0)
    assert idx.tolist() == [[2, 0], [2, 0]] and y.tolist() == [[.5, .5], [.5, .5]]
    assert s.dtype == np.float32 and s.tolist() == [[.25] * 4] * 2  # the third output is always filled
    # sigmoid: [NaN, 0, -inf, inf] -> [NaN, .5, 0, 1]; k 3: 3, 1, 2; weights / (1.5 + eps)
    y, idx, _ = moeroute.npu_moe_gating_top_k(np.array([[np.nan, 0, -np.inf, np.inf]], np.float32), 3, norm_type=1)
    assert idx.tolist() == [[3, 1, 2]]
    assert y.tolist() == [[float(np.float32(1) / np.float32(1.5)), float(np.float32(.5) / np.float32(1.5)), 0.0]]
    # groups: pairs, best two groups by the sum of their two best (mode 1)
    bias = np.array([0, .5, .25, .25, .375, 0, 0, 0], np.float32)
    _, idx, _ = moeroute.npu_moe_gating_top_k(np.zeros((1, 8), np.float32), 3, bias=bias, k_group=2, group_count=4,
                                              group_select_mode=1)
    assert idx.tolist() == [[1, 2, 3]]
    # renorm 1 (moe_gating_top_k only): .25 / (.5 + eps) = .5 each; scores None without out_flag
    y, idx, s = moeroute.moe_gating_top_k(x, 2, renorm=1)
    assert y.tolist() == [[.5, .5]] * 2 and s is None


def top_k_case(seed):
    rng = np.random.default_rng([seed, 91])
    dt = str(rng.choice(gg.DTYPES))
    E = int(rng.choice([1, 4, 8, 16, 32, 64, 72, 128, 256, 300]))
    N = 150 if seed % 10 == 9 else int(rng.integers(0, 30))
    G, kg, mode = 1, 1, 0
    if rng.random() < 0.5:
        divs = [g for g in range(1, E + 1) if E % g == 0 and g * (-(-(E // g) // 32) * 32) <= 2048]
        G = int(rng.choice(divs))
        kg = int(rng.integers(1, G + 1))
        mode = int(rng.integers(0, 2)) if E // G >= 2 else 0
    k = int(rng.integers(1, min(E, kg * (E // G), 8) + 1))
    bias = logits(rng, dt, (E,)) if rng.random() < 0.5 else None
    return dict(rng=rng, dt=dt, x=logits(rng, dt, (N, E)), k=k, bias=bias, k_group=kg, group_count=G,
                group_select_mode=mode, norm_type=int(rng.integers(0, 2)),
                routed_scaling_factor=float(rng.choice([1.0, 2.5, 0.1])), eps=float(rng.choice([1e-20, 0.1])))


def top_k_want(c, renorm=0):
    hard = []
    r = gg.gating_top_k(c["x"], c["dt"], c["k"], c["bias"], c["k_group"], c["group_count"], c["group_select_mode"],
                        renorm, c["norm_type"], c["routed_scaling_factor"], c["eps"], hard)
    return r, hard[0]


def top_k_kw(c):
    return {n: c[n] for n in ("bias", "k_group", "group_count", "group_select_mode", "norm_type",
                              "routed_scaling_factor", "eps")}


@pytest.mark.parametrize("seed", range(60))
def test_top_k_random(seed):
    c = top_k_case(seed)
    (wy, wi, ws), hard = top_k_want(c)
    rng = c["rng"]
    got = moeroute.npu_moe_gating_top_k(strided_view(rng, c["x"]), c["k"], bf16=c["dt"] == "bf16", out_flag=True,
                                        **top_k_kw(c))
    assert_same(got[1], wi, "i32", "expert_idx seed %d" % seed, hard)
    assert_same(got[0], wy, c["dt"], "y seed %d" % seed, hard)
    assert_same(got[2], ws, "f32", "scores seed %d" % seed, hard)
    if seed % 3 == 0:  # vllm-ascend's renorm 1 through the native name
        (ry, ri, _), rh = top_k_want(c, renorm=1)
        y, i, s = moeroute.moe_gating_top_k(c["x"], c["k"], renorm=1, bf16=c["dt"] == "bf16", **top_k_kw(c))
        assert s is None
        assert_same(i, ri, "i32", "renorm 1 idx", rh)
        assert_same(y, ry, c["dt"], "renorm 1 y", rh)


def test_top_k_out_and_contexts():
    c = top_k_case(9)
    (wy, wi, ws), hard = top_k_want(c)
    N, E = c["x"].shape
    outs = (np.empty((N, c["k"]), c["x"].dtype), np.empty((N, c["k"]), np.int32), np.empty((N, E), np.float32))
    for threads in (1, 2, 3):
        with moeroute.Context(num_threads=threads) as ctx:
            got = moeroute.npu_moe_gating_top_k(c["x"], c["k"], bf16=True, ctx=ctx, out=outs, **top_k_kw(c))
        assert all(g is o for g, o in zip(got, outs))
        assert_same(outs[1], wi, "i32", "threads %d" % threads, hard)
        assert_same(outs[0], wy, c["dt"], "threads %d" % threads, hard)
    # None in the tuple: that output is allocated
    got = moeroute.npu_moe_gating_top_k(c["x"], c["k"], bf16=True, out=(None, outs[1], None), **top_k_kw(c))
    assert got[1] is outs[1] and got[0] is not None


def test_top_k_refusals():
    x = np.zeros((2, 8), np.float32)
    f = moeroute.npu_moe_gating_top_k
    refused(SHAPE, "renorm", ValueError, f, x, 2, renorm=1)
    refused(SHAPE, "input_ids", ValueError, f, x, 2, input_ids=np.zeros(2, np.int32), tid2eid=np.zeros(2, np.int32))
    refused(SHAPE, "", ValueError, f, x, 0)
    refused(SHAPE, "", ValueError, f, x, 9)
    refused(SHAPE, "", ValueError, f, x, 2, group_count=3)
    refused(SHAPE, "", ValueError, f, x, 2, k_group=3, group_count=2)
    refused(SHAPE, "", ValueError, f, x, 2, norm_type=2)
    refused(SHAPE, "", ValueError, f, x, 2, group_select_mode=2)
    refused(SHAPE, "", ValueError, f, x, 2, group_count=8, k_group=4, group_select_mode=1)  # 1 expert per group
    refused(SHAPE, "", ValueError, f, np.zeros((2, 2, 8), np.float32), 2)
    refused(SHAPE, "bias", ValueError, f, x, 2, bias=np.zeros((1, 8), np.float32))
    refused(SHAPE, "", ValueError, f, x, 2, bias=np.zeros(7, np.float32))
    refused(DTYPE, "", TypeError, f, x.astype(np.int32), 2)
    refused(DTYPE, "", TypeError, f, x, 2, bias=np.zeros(8, np.float16))
    refused(DTYPE, "", TypeError, f, x.view(np.uint32)[:, :8].astype(np.uint16), 2)  # bf16 bits without bf16=True
    refused(SHAPE, "", ValueError, moeroute.moe_gating_top_k, x, 2, renorm=2)
    outs = (np.empty((2, 3), np.float32), np.empty((2, 2), np.int32), np.empty((2, 8), np.float32))
    with pytest.raises(ValueError):
        f(x, 2, out=outs)  # y of the wrong shape
    with pytest.raises(TypeError):
        f(x, 2, out=(np.empty((2, 2), np.float16), outs[1], outs[2]))  # y of the wrong dtype


# ---- npu_moe_gating_top_k_softmax (V1) / _v2 -------------------------------------------------------------------

def test_softmax_worked_examples():
    x = np.array([[0, 0, 0, 0], [-np.inf, 0, -np.inf, 0]], np.float32)
    y, idx, row = moeroute.npu_moe_gating_top_k_softmax(x, None, 3)
    assert y.tolist() == [[.25, .25, .25], [.5, .5, 0]] and idx.tolist() == [[0, 1, 2], [1, 3, 0]]
    assert row.tolist() == [[0, 2, 4], [1, 3, 5]]
    y, idx, row = moeroute.npu_moe_gating_top_k_softmax(x, np.array([False, True]), 3)
    assert idx.tolist() == [[0, 1, 2], [4, 4, 4]]
    # 3-D [B, S, E]: outputs [B, S, k]
    y, idx, row = moeroute.npu_moe_gating_top_k_softmax(x.reshape(2, 1, 4), k=2)
    assert idx.shape == (2, 1, 2) and idx[1, 0].tolist() == [1, 3] and row[1, 0].tolist() == [1, 3]
    # V2: softmax result with the flag, None without; renorm 1 = softmax over the k largest x
    y, idx, sm = moeroute.npu_moe_gating_top_k_softmax_v2(x, 2, output_softmax_result_flag=True)
    assert sm.tolist() == [[.25] * 4, [0, .5, 0, .5]]
    assert moeroute.npu_moe_gating_top_k_softmax_v2(x, 2)[2] is None
    y, idx, sm = moeroute.npu_moe_gating_top_k_softmax_v2(np.array([[1, 3, 2]], np.float32), 2, renorm=1)
    e1 = np.float32(np.exp(-1.0))
    s = np.float32(1) + e1
    assert idx.tolist() == [[1, 2]] and y.tolist() == [[float(np.float32(1) / s), float(e1 / s)]] and sm is None


def softmax_case(seed):
    rng = np.random.default_rng([seed, 92])
    dt = str(rng.choice(gg.DTYPES))
    E = int(rng.choice([1, 3, 8, 16, 64, 128, 256, 300]))
    lead = (150,) if seed % 10 == 9 else ((int(rng.integers(1, 30)),) if rng.random() < 0.7 else
                                          (int(rng.integers(1, 5)), int(rng.integers(1, 6))))
    k = int(rng.integers(1, min(E, 8) + 1))
    fin = rng.random(lead) < 0.3 if rng.random() < 0.5 else None
    return rng, dt, logits(rng, dt, lead + (E,)), k, fin


@pytest.mark.parametrize("seed", range(60))
def test_softmax_random(seed):
    rng, dt, x, k, fin = softmax_case(seed)
    hard = []
    wy, wi, wr = gg.gating_top_k_softmax(x, dt, k, fin, 1, 0, hard)
    xv = strided_view(rng, x) if x.ndim == 2 else x
    y, idx, row = moeroute.npu_moe_gating_top_k_softmax(xv, fin, k, bf16=dt == "bf16")
    assert_same(idx, wi, "i32", "V1 idx seed %d" % seed, hard[0])
    assert_same(y, wy, dt, "V1 y seed %d" % seed, hard[0])
    assert_same(row, wr, "i32", "V1 rowIdx seed %d" % seed)
    renorm = seed % 2
    hard = []
    wy, wi, ws = gg.gating_top_k_softmax(x, dt, k, fin, 2, renorm, hard)
    y, idx, sm = moeroute.npu_moe_gating_top_k_softmax_v2(xv, k, fin, renorm, renorm == 0, bf16=dt == "bf16")
    assert_same(idx, wi, "i32", "V2 idx seed %d" % seed, hard[0])
    assert_same(y, wy, dt, "V2 y seed %d" % seed, hard[0])
    if renorm == 0:
        assert_same(sm, ws, "f32", "V2 softmax seed %d" % seed, hard[0])
    else:
        assert sm is None


def test_softmax_out_tuple():
    rng, dt, x, k, fin = softmax_case(9)
    hard = []
    wy, wi, wr = gg.gating_top_k_softmax(x, dt, k, fin, 1, 0, hard)
    outs = (np.empty(wy.shape, x.dtype), np.empty(wi.shape, np.int32), np.empty(wr.shape, np.int32))
    got = moeroute.npu_moe_gating_top_k_softmax(x, fin, k, bf16=True, out=outs)
    assert all(g is o for g, o in zip(got, outs))
    assert_same(outs[1], wi, "i32", "out idx", hard[0])
    assert_same(outs[2], wr, "i32", "out rowIdx")


def test_softmax_refusals():
    x = np.zeros((2, 4), np.float32)
    f1, f2 = moeroute.npu_moe_gating_top_k_softmax, moeroute.npu_moe_gating_top_k_softmax_v2
    refused(SHAPE, "2-D", ValueError, f1, np.zeros(4, np.float32), None, 1)
    refused(SHAPE, "", ValueError, f1, np.zeros((1, 2, 2, 4), np.float32), None, 1)
    refused(SHAPE, "", ValueError, f1, x, None, 0)
    refused(SHAPE, "", ValueError, f1, x, None, 5)
    refused(SHAPE, "finished", ValueError, f1, x, np.zeros(3, bool), 1)
    refused(DTYPE, "finished", TypeError, f1, x, np.zeros(2, np.int8), 1)
    refused(DTYPE, "", TypeError, f1, x.astype(np.int32), None, 1)
    refused(SHAPE, "", ValueError, f2, x, 2, renorm=2)
    refused(SHAPE, "", ValueError, f2, x, 2, renorm=1, output_softmax_result_flag=True)


# ---- torch -------------------------------------------------------------------------------------------------------

@needs_torch
def test_torch_inputs():
    c = top_k_case(4)
    (wy, wi, ws), hard = top_k_want(c)
    xt = torch.from_numpy(gg.widen32(c["x"], c["dt"]))
    xt = xt.to(torch.bfloat16) if c["dt"] == "bf16" else xt.to({"f16": torch.float16, "f32": torch.float32}[c["dt"]])
    kw = top_k_kw(c)
    if kw["bias"] is not None:
        kw["bias"] = torch.from_numpy(gg.widen32(kw["bias"], c["dt"])).to(xt.dtype)
    y, idx, s = moeroute.npu_moe_gating_top_k(xt, c["k"], **kw)
    assert isinstance(y, torch.Tensor) and y.dtype == xt.dtype and idx.dtype == torch.int32
    assert_same(idx.numpy(), wi, "i32", "torch idx", hard)
    yb = y.view(torch.int16).numpy().view(np.uint16) if c["dt"] == "bf16" else y.numpy()
    assert_same(yb, wy, c["dt"], "torch y", hard)
    # softmax V1 with a bool tensor for finished and a 3-D x
    x3 = torch.zeros((2, 3, 4), dtype=torch.float32)
    y, idx, row = moeroute.npu_moe_gating_top_k_softmax(x3, torch.tensor([[True, False, False]] * 2), 2)
    assert idx.shape == (2, 3, 2) and idx[0, 0].tolist() == [4, 4] and idx[0, 1].tolist() == [0, 1]
    assert float(y[0, 1, 0]) == 0.25
