"""The element-wise expert-MLP functions of the Python package (npu_dynamic_quant, npu_swiglu,
npu_dequant_swiglu_quant) against the numpy models of tests/python/mlp_golden.py, byte for byte, their
torch_npu signatures, and their refusals (MoerouteError status and message).

Run as tests/pypkg/test_package.py is:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg
Randomized cases use fixed seeds (the case index). torch cases are skipped when torch cannot be imported.
"""

import inspect

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
from pkgtest import torch, needs_torch, SHAPE, DTYPE, VALUE, same_bytes
import moeroute  # noqa: E402
from moeroute import _lib, torch_npu  # noqa: E402

import mlp_golden as mg  # noqa: E402


def test_signatures():
    assert str(inspect.signature(torch_npu.npu_dynamic_quant)).startswith(
        "(x, *, smooth_scales=None, group_index=None, dst_type=None")
    assert str(inspect.signature(torch_npu.npu_swiglu)).startswith("(x, dim=-1")
    assert str(inspect.signature(torch_npu.npu_dequant_swiglu_quant)).startswith(
        "(x, *, weight_scale=None, activation_scale=None, bias=None, quant_scale=None, quant_offset=None, "
        "group_index=None, activate_left=False, quant_mode=0")
    for name in ("npu_dynamic_quant", "npu_swiglu", "npu_dequant_swiglu_quant"):
        assert getattr(moeroute, name) is getattr(torch_npu, name)


@pytest.mark.parametrize("i", range(12))
def test_dynamic_quant(i):
    rng = np.random.default_rng(i)
    dtype = ["f16", "bf16"][i % 2]
    shape = [(3, 5, 64), (7, 136), (4, 4096), (1, 0, 8)][i % 4]
    x = mg.from_f32(rng.standard_normal(shape).astype(np.float32) * 10, dtype)
    rows, H = int(np.prod(shape[:-1])), shape[-1]
    groups = smooth = None
    if i % 3 == 1:
        smooth = mg.from_f32(rng.random(H).astype(np.float32) + 0.5, dtype)
    elif i % 3 == 2 and rows:
        groups = np.array([rows // 2, rows], np.int32)
        smooth = mg.from_f32(rng.random((2, H)).astype(np.float32) + 0.5, dtype)
    y, s = torch_npu.npu_dynamic_quant(x, smooth_scales=smooth, group_index=groups, bf16=dtype == "bf16")
    yr, sr = mg.dynamic_quant(x.reshape(rows, H), dtype, smooth, groups)
    assert y.shape == tuple(shape) and s.shape == tuple(shape[:-1])
    assert same_bytes(y.reshape(rows, H), yr) and same_bytes(s.reshape(rows), sr)


def _int4_model(x, dtype, smooth=None, groups=None):
    """Spec 5.3 with int4 outputs (docs/operators/dynamic_quant.md "INT4 outputs"): f = f32(7 / a),
    q = sat_[-8, 7](rint(f32(v * f))) (NaN -> 0), scale template A f32(1 / f) or B f32(a * f32(1/7)); q packed eight
    per int32 (element 8j + t in bits 4t..4t+3). x [rows, H] carrier. Returns (y int32 [rows, H/8], scale)."""
    rows, h = x.shape
    tmpl = mg.device_template(rows, h, smooth is not None, groups is not None)
    v = mg.to_f32(x, dtype)
    if smooth is not None:
        s = mg.to_f32(smooth if smooth.ndim == 2 else smooth[None, :], dtype)
        if groups is not None:
            s = s[np.array([mg.group_of_ends(groups, r) for r in range(rows)], np.int64)]
        v = v * s
    with np.errstate(invalid="ignore"):
        a = np.where(np.isnan(v), np.float32(0), np.abs(v)).max(axis=1, initial=np.float32(0)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f = (np.float32(7) / a).astype(np.float32)
        p = (v * f[:, None]).astype(np.float32)
        q = np.where(np.isnan(p), 0, np.clip(np.rint(p), -8, 7)).astype(np.int64)
        scale = ((np.float32(1) / f) if tmpl == "A" else (a * (np.float32(1) / np.float32(7)))).astype(np.float32)
    nib = (q & 0xF).reshape(rows, h // 8, 8)
    words = (nib << (4 * np.arange(8, dtype=np.int64))).sum(axis=2)
    return words.astype(np.uint32).view(np.int32), scale


@pytest.mark.parametrize("i", range(6))
def test_dynamic_quant_int4(i):
    rng = np.random.default_rng(100 + i)
    dtype = ["f16", "bf16"][i % 2]
    shape = [(3, 5, 64), (7, 136), (4, 4096)][i % 3]
    x = mg.from_f32(rng.standard_normal(shape).astype(np.float32) * 10, dtype)
    rows, H = int(np.prod(shape[:-1])), shape[-1]
    groups = smooth = None
    if i >= 3:
        groups = np.array([rows // 2, rows], np.int32)
        smooth = mg.from_f32(rng.random((2, H)).astype(np.float32) + 0.5, dtype)
    y, s = torch_npu.npu_dynamic_quant(x, smooth_scales=smooth, group_index=groups, dst_type="quint4x2",
                                       bf16=dtype == "bf16")
    yr, sr = _int4_model(x.reshape(rows, H), dtype, smooth, groups)
    assert y.dtype == np.int32 and y.shape == tuple(shape[:-1]) + (H // 8,) and s.shape == tuple(shape[:-1])
    assert same_bytes(y.reshape(rows, H // 8), yr) and same_bytes(s.reshape(rows), sr)


def test_dynamic_quant_int4_hand():
    # row [7, -3.5, 1.75, .5, -7, 2.5, 0, 6]: a = 7, f = 1: [7, -4, 2, 0, -7, 2, 0, 6] (ties to even) -> nibbles
    # 7 C 2 0 9 2 0 6 from bit 0 up = 0x602902C7; an all-zero row gives 0 and scale +0
    x = np.array([[7, -3.5, 1.75, .5, -7, 2.5, 0, 6], [0] * 8], np.float16)
    y, s = torch_npu.npu_dynamic_quant(x, dst_type="quint4x2")
    assert y.view(np.uint32).tolist() == [[0x602902C7], [0]] and s.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_swiglu(dim):
    rng = np.random.default_rng(7 + dim)
    x = rng.standard_normal((4, 6, 10)).astype(np.float32)
    out = torch_npu.npu_swiglu(x, dim)
    cands = mg.swiglu_candidates(x, "f32", dim)
    ok = np.zeros(out.shape, bool)
    for c in cands:
        ok |= out == c
    assert ok.all() and out.flags.c_contiguous


def test_dequant_swiglu_quant():
    rng = np.random.default_rng(3)
    x = rng.integers(-1000, 1000, (6, 16)).astype(np.int32)
    ws = (rng.random((2, 16)) * 0.01).astype(np.float32)
    act = (rng.random(6) + 0.5).astype(np.float32)
    counts = np.array([2, 3], np.int64)
    qs = (rng.random((2, 8)) + 0.5).astype(np.float32)
    y, s = torch_npu.npu_dequant_swiglu_quant(x, weight_scale=ws, activation_scale=act, quant_scale=qs,
                                              group_index=counts, activate_left=True, quant_mode=1)
    # the model with the reference SiLU: the int8 values may move by one where the SiLU's last bit matters
    yr, sr, written = mg.dequant_swiglu_quant(x, "i32", ws, act, None, "f32", qs, None, counts, True, True)
    assert written == 5
    assert np.abs(y[:5].astype(int) - yr[:5]).max() <= 1
    assert np.allclose(s[:5], sr[:5], rtol=1e-6, atol=0)
    assert (y[5] == 0).all() and s[5] == 0  # rows past the groups: not written, returned as 0


def test_refusals():
    x = np.zeros((2, 8), np.float16)
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_dynamic_quant(np.zeros(8, np.float16))
    assert e.value.status == SHAPE
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_dynamic_quant(x, smooth_scales=np.ones(7, np.float16))
    assert e.value.status == SHAPE
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_dynamic_quant(x, smooth_scales=np.ones((2, 8), np.float16), group_index=np.array([1, 1], np.int32))
    assert e.value.status == VALUE and "ends at row 1" in str(e.value)
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_dynamic_quant(x, dst_type="int16")
    assert e.value.status == DTYPE
    with pytest.raises(moeroute.MoerouteError) as e:  # eight int4 values per int32: H % 8 == 0
        torch_npu.npu_dynamic_quant(np.zeros((2, 4), np.float16), dst_type="quint4x2")
    assert e.value.status == SHAPE
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_swiglu(np.zeros((2, 3), np.float32))
    assert e.value.status == SHAPE
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_swiglu(np.zeros((2, 4), np.float32), dim=2)
    assert e.value.status == SHAPE
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_dequant_swiglu_quant(np.zeros((2, 4), np.int32), quant_mode=2)
    assert e.value.status == SHAPE
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_dequant_swiglu_quant(np.zeros((2, 4), np.int32), quant_mode=0)
    assert e.value.status == _lib.MOEROUTE_ERR_NULL_POINTER
    with pytest.raises(moeroute.MoerouteError) as e:
        torch_npu.npu_dequant_swiglu_quant(np.zeros((2, 4), np.int32), quant_mode=1,
                                           group_index=np.array([3], np.int32))
    assert e.value.status == VALUE


@needs_torch
def test_torch_tensors():
    x = torch.randn(3, 32, dtype=torch.bfloat16)
    y, s = torch_npu.npu_dynamic_quant(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.int8 and s.dtype == torch.float32
    bits = x.view(torch.int16).numpy().view(np.uint16)
    yr, sr = mg.dynamic_quant(bits, "bf16")
    assert same_bytes(y.numpy(), yr) and same_bytes(s.numpy(), sr)
    y4, s4 = torch_npu.npu_dynamic_quant(x, dst_type=torch.quint4x2)  # int4, eight per int32, as torch_npu
    y4r, s4r = _int4_model(bits, "bf16")
    assert y4.dtype == torch.int32 and tuple(y4.shape) == (3, 4)
    assert same_bytes(y4.numpy(), y4r) and same_bytes(s4.numpy(), s4r)
    o = torch_npu.npu_swiglu(x, dim=-1)
    assert o.dtype == torch.bfloat16 and tuple(o.shape) == (3, 16)


def test_misaligned_numpy_inputs_are_copied():
    """An array whose address is off its element grid (np.frombuffer at an odd offset, a field of a packed
    record): the library refuses such addresses, so the package passes an aligned copy; same bytes."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 32)).astype(np.float32)
    m = np.frombuffer(bytearray(x.nbytes + 1), dtype=np.float32, offset=1, count=x.size).reshape(x.shape)
    m[...] = x
    assert not m.flags.aligned
    assert same_bytes(torch_npu.npu_swiglu(m), torch_npu.npu_swiglu(x))
    y, s = torch_npu.npu_dynamic_quant(m)
    y0, s0 = torch_npu.npu_dynamic_quant(x)
    assert same_bytes(y, y0) and same_bytes(s, s0)
