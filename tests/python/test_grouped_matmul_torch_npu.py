"""moeroute.torch_npu.npu_grouped_matmul (python/moeroute/_gmm.py) against the numpy model of
grouped_matmul_golden.py, byte for byte, on randomized numpy cases of every dtype row (the package is imported
from python/ next to this tree; MOEROUTE_LIB names the library), plus the wrapper's own refusals.

Replay with MOEROUTE_TEST_SEED=<seed>; MOEROUTE_TEST_SCALE multiplies the number of cases.
"""

import os
import sys

import numpy as np
import pytest

import grouped_matmul_golden as gg
from moe_testenv import SEED, case_scale

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

N_CASES = max(1, int(round(40 * case_scale())))


@pytest.fixture(scope="module")
def tnpu(lib):
    from moeroute import torch_npu
    return torch_npu


def _case(rng):
    kind = ["f16", "bf16", "f32", "i8", "i8bf16", "i8f16"][int(rng.integers(0, 6))]
    e, m, k, n = int(rng.integers(1, 5)), int(rng.integers(0, 40)), int(rng.integers(0, 50)), int(rng.integers(0, 40))
    counts = rng.multinomial(int(rng.integers(0, m + 1)), np.ones(e) / e).astype(np.int64)
    ltype = int(rng.integers(0, 2))
    gl = np.cumsum(counts) if ltype == 0 else counts
    grp = gg.groups(gl, ltype, m, e)
    if kind.startswith("i8"):
        x = rng.integers(-128, 128, (m, k)).astype(np.int8)
        w = rng.integers(-128, 128, (e, k, n)).astype(np.int8)
    else:
        x = (np.round(rng.normal(size=(m, k)) * 64) / 64).astype(np.float32)
        w = (np.round(rng.normal(size=(e, k, n)) * 64) / 64).astype(np.float32)
        if kind == "f16":
            x, w = x.astype(np.float16), w.astype(np.float16)
        elif kind == "bf16":
            x, w = gg.f32_to_bf16(x), gg.f32_to_bf16(w)
    return kind, x, w, gl, ltype, grp


@pytest.mark.parametrize("i", range(N_CASES))
def test_random(tnpu, i):
    rng = np.random.default_rng([SEED, 51, i])
    kind, x, w, gl, ltype, grp = _case(rng)
    m, n, e = x.shape[0], w.shape[2], w.shape[0]
    wt = np.ascontiguousarray(np.transpose(w, (0, 2, 1))).transpose(0, 2, 1)  # a transposed view, read in place
    kw = dict(group_list=gl, group_list_type=ltype, split_item=3, group_type=0)
    if kind.startswith("i8"):
        bias = rng.integers(-1000, 1000, (e, n)).astype(np.int32)
        scale = pts = None
        want = np.zeros((m, n), np.int32)
        if kind != "i8":
            s32 = (rng.random((e, n)) * 0.01).astype(np.float32)
            scale = gg.f32_to_bf16(s32) if kind == "i8bf16" else s32
            pts = (rng.random(m) * 0.1).astype(np.float32)
            want = np.zeros((m, n), np.uint16 if kind == "i8bf16" else np.float16)
            gg.int8_model(x, w, grp, bias, gg.bf16_to_f32(scale) if kind == "i8bf16" else scale, pts,
                          "bf16" if kind == "i8bf16" else "f16", want)
        else:
            gg.int8_model(x, w, grp, bias, None, None, "i32", want)
        got, = tnpu.npu_grouped_matmul([x], [wt], bias=[bias], scale=None if scale is None else [scale],
                                       per_token_scale=None if pts is None else [pts], bf16=kind == "i8bf16", **kw)
    else:
        bias = None
        if rng.random() < 0.5:
            bias = (np.round(rng.normal(size=(e, n)) * 16) / 16).astype(np.float16 if kind == "f16" else np.float32)
        want = np.zeros((m, n), x.dtype)
        gg.float_model(gg.widen(x, kind), gg.widen(w, kind), grp, None if bias is None else bias.astype(np.float32),
                       kind, want)
        got, = tnpu.npu_grouped_matmul(x, wt, bias=None if bias is None else [bias], bf16=kind == "bf16", **kw)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8)), (kind, x.shape, w.shape, gl.tolist())


def test_refusals(tnpu):
    import moeroute
    x = np.ones((4, 3), np.float32)
    w = np.ones((2, 3, 5), np.float32)
    gl = np.array([2, 2], np.int64)
    ok = dict(group_list=gl, group_list_type=1, split_item=2, group_type=0)
    assert tnpu.npu_grouped_matmul(x, w, **ok)[0].tolist() == [[3.0] * 5] * 4
    for bad in (dict(ok, split_item=0), dict(ok, group_type=-1), dict(ok, act_type=1), dict(ok, offset=[x]),
                dict(ok, group_list=np.array([2, 3], np.int64)), dict(ok, output_dtype=np.float16)):
        with pytest.raises(moeroute.MoerouteError):
            tnpu.npu_grouped_matmul(x, w, **bad)
    with pytest.raises(moeroute.MoerouteError):
        tnpu.npu_grouped_matmul([x, x], w, **ok)
    with pytest.raises(moeroute.MoerouteError):
        tnpu.npu_grouped_matmul(x, np.ones((2, 4, 5), np.float32), **ok)


@pytest.mark.parametrize("i", range(max(1, N_CASES // 4)))
def test_per_expert_lists(tnpu, i):
    """torch_npu's multi-weight form: E [K, N] weights (transposed views here), E [N] biases and scales, give the
    bytes of the one [E, K, N] weight."""
    rng = np.random.default_rng([SEED, 52, i])
    kind, x, w, gl, ltype, grp = _case(rng)
    e, n = w.shape[0], w.shape[2]
    kw = dict(group_list=gl, group_list_type=ltype, split_item=2, group_type=0, bf16=kind in ("bf16", "i8bf16"))
    if kind.startswith("i8"):
        kw["bias"] = rng.integers(-1000, 1000, (e, n)).astype(np.int32)
        if kind != "i8":
            s32 = (rng.random((e, n)) * 0.01).astype(np.float32)
            kw["scale"] = gg.f32_to_bf16(s32) if kind == "i8bf16" else s32
            kw["per_token_scale"] = [(rng.random(x.shape[0]) * 0.1).astype(np.float32)]
    elif kind != "f16":
        kw["bias"] = (np.round(rng.normal(size=(e, n)) * 16) / 16).astype(np.float32)
    want, = tnpu.npu_grouped_matmul(x, w, **{k: [v] if k in ("bias", "scale") else v for k, v in kw.items()})
    if e < 2:
        return
    per = {k: list(v) if k in ("bias", "scale") else v for k, v in kw.items()}
    got, = tnpu.npu_grouped_matmul([x], [np.ascontiguousarray(w[j].T).T for j in range(e)], **per)
    assert got.dtype == want.dtype and np.array_equal(got.view(np.uint8), want.view(np.uint8)), (kind, x.shape, e)


@pytest.mark.parametrize("i", range(max(1, N_CASES // 4)))
def test_packed_weights(tnpu, i):
    """moeroute.GroupedMatmulWeights: the weight packed once (a transposed view here, and the per-expert list
    form), then passed as npu_grouped_matmul's weight, twice: the bytes of the unpacked call."""
    import moeroute
    rng = np.random.default_rng([SEED, 53, i])
    kind, x, w, gl, ltype, grp = _case(rng)
    e, n = w.shape[0], w.shape[2]
    bf16 = kind in ("bf16", "i8bf16")
    kw = dict(group_list=gl, group_list_type=ltype, split_item=2, group_type=0, bf16=bf16)
    if kind in ("i8bf16", "i8f16"):
        s32 = (rng.random((e, n)) * 0.01).astype(np.float32)
        kw["scale"] = [gg.f32_to_bf16(s32) if kind == "i8bf16" else s32]
        kw["per_token_scale"] = [(rng.random(x.shape[0]) * 0.1).astype(np.float32)]
    wt = np.ascontiguousarray(np.transpose(w, (0, 2, 1))).transpose(0, 2, 1)
    want, = tnpu.npu_grouped_matmul([x], [wt], **kw)
    forms = [wt] + ([[np.ascontiguousarray(w[j]) for j in range(e)]] if e > 1 else [])
    for form in forms:
        packed = moeroute.GroupedMatmulWeights(form, bf16=bf16)
        assert packed.shape == tuple(w.shape) and packed.nbytes >= 0
        for _ in range(2):
            got, = tnpu.npu_grouped_matmul([x], [packed], **kw)
            assert got.dtype == want.dtype and np.array_equal(got.view(np.uint8), want.view(np.uint8)), (kind, e)
        packed.close()
        with pytest.raises(ValueError):
            tnpu.npu_grouped_matmul([x], packed, **kw)


def test_packed_weights_refusals(tnpu):
    """Packed for other kernels (a scalar Context) or another K: MoerouteError, nothing returned."""
    import moeroute
    x = np.ones((4, 3), np.float32)
    w = np.ones((2, 3, 5), np.float32)
    ok = dict(group_list=np.array([2, 2], np.int64), group_list_type=1, split_item=2, group_type=0)
    packed = moeroute.GroupedMatmulWeights(w)
    assert tnpu.npu_grouped_matmul(x, packed, **ok)[0].tolist() == [[3.0] * 5] * 4
    with pytest.raises(moeroute.MoerouteError):
        tnpu.npu_grouped_matmul(np.ones((4, 4), np.float32), packed, **ok)  # K 4, packed for K 3
    scalar = moeroute.Context(num_threads=1, isa="scalar")
    if moeroute.Context(num_threads=1).isa != "scalar":  # the default context's kernels are not the scalar ones
        with pytest.raises(moeroute.MoerouteError) as err:
            tnpu.npu_grouped_matmul(x, packed, ctx=scalar, **ok)
        assert err.value.status == 4  # MOEROUTE_ERR_INVALID_VALUE
    mine = moeroute.GroupedMatmulWeights(w, ctx=scalar)
    assert tnpu.npu_grouped_matmul(x, mine, ctx=scalar, **ok)[0].tolist() == [[3.0] * 5] * 4
    with pytest.raises(moeroute.MoerouteError):
        moeroute.GroupedMatmulWeights(np.ones((2, 3, 5), np.int32))


def test_packed_weights_swiglu_quant(tnpu):
    """npu_grouped_matmul_swiglu_quant on int8 GroupedMatmulWeights: the unpacked call's three outputs, bytes."""
    import moeroute
    rng = np.random.default_rng([SEED, 54])
    m, k, n, e = 37, 70, 48, 3
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    w = rng.integers(-128, 128, (e, k, n)).astype(np.int8)
    ws = (rng.random((e, n)) * 1e-3).astype(np.float32)
    xs = (rng.random(m) * 1e-2).astype(np.float32)
    gl = np.array([10, 10, 30], np.int64)
    want = tnpu.npu_grouped_matmul_swiglu_quant(x, w, gl, ws, xs)
    packed = moeroute.GroupedMatmulWeights(w)
    got = tnpu.npu_grouped_matmul_swiglu_quant(x, packed, gl, ws, xs)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))
    with pytest.raises(moeroute.MoerouteError):
        tnpu.npu_grouped_matmul_swiglu_quant(x[:, :60], packed, gl, ws, xs)  # K 60, packed for K 70
