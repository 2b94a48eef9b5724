"""npu_grouped_matmul_swiglu_quant of the Python package (python/moeroute/_gmm.py) against the numpy model of
tests/python/gmm_swiglu_quant_golden.py, byte for byte (the model uses the library's SiLU, read back through
npu_swiglu), with ND weights (strided views) and the same weights as 5-D FRACTAL_NZ arrays; its torch_npu
signature, torch tensors, and its refusals (MoerouteError status).

Run as tests/pypkg/test_package.py is:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg
Randomized cases use fixed seeds (the case index)."""

import inspect

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
from pkgtest import torch, needs_torch, SHAPE, DTYPE, VALUE, same_bytes, strided_view
import moeroute  # noqa: E402
from moeroute import torch_npu  # noqa: E402

from gmm_swiglu_quant_golden import model, nz_pack  # noqa: E402


def _silu(a):
    """The library's SiLU: npu_swiglu([a | 1]) (silu(a) * 1 is exact)."""
    a = np.asarray(a, np.float32).reshape(-1)
    if a.size == 0:
        return a.copy()
    return torch_npu.npu_swiglu(np.concatenate([a, np.ones_like(a)])[None, :]).reshape(-1)


def test_signature():
    assert str(inspect.signature(torch_npu.npu_grouped_matmul_swiglu_quant)).startswith(
        "(x, weight, group_list, weight_scale, x_scale, *, bias=None, offset=None")
    assert moeroute.npu_grouped_matmul_swiglu_quant is torch_npu.npu_grouped_matmul_swiglu_quant


def _case(i):
    rng = np.random.default_rng(i)
    e, m, k, n = 1 + i % 4, [0, 5, 33, 17][i % 4], [16, 7, 64, 130][i % 4], [8, 64, 2, 34][i % 4]
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    w = rng.integers(-128, 128, (e, k, n)).astype(np.int8)
    counts = rng.multinomial(int(rng.integers(0, m + 1)), np.ones(e) / e)
    ends = np.cumsum(counts).astype(np.int64)
    ws = (rng.random((e, n)) * 0.004).astype(np.float32)
    xs = (rng.random(m) * 0.05 + 1e-3).astype(np.float32)
    return rng, x, w, ends, ws, xs


@pytest.mark.parametrize("i", range(12))
def test_numpy(i):
    rng, x, w, ends, ws, xs = _case(i)
    want_y, want_s, written = model(x, w, ends, ws, xs, _silu)
    for weight in (np.ascontiguousarray(w.transpose(0, 2, 1)).transpose(0, 2, 1), nz_pack(w)):
        y, s, off = torch_npu.npu_grouped_matmul_swiglu_quant(strided_view(rng, x), weight, ends, ws, xs)
        assert y.dtype == np.int8 and y.shape == want_y.shape and s.dtype == np.float32 and off.shape == s.shape
        assert same_bytes(y[:written], want_y[:written]) and same_bytes(s[:written], want_s[:written])
        assert not y[written:].any() and not s[written:].any()  # new outputs: zero past the last group


@needs_torch
def test_torch_tensors():
    rng, x, w, ends, ws, xs = _case(2)
    want_y, want_s, written = model(x, w, ends, ws, xs, _silu)
    y, s, _ = torch_npu.npu_grouped_matmul_swiglu_quant(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(ends), torch.from_numpy(ws), torch.from_numpy(xs))
    assert y.dtype == torch.int8 and s.dtype == torch.float32
    assert same_bytes(y.numpy()[:written], want_y[:written]) and same_bytes(s.numpy()[:written], want_s[:written])


def test_refusals():
    _, x, w, ends, ws, xs = _case(1)
    call = torch_npu.npu_grouped_matmul_swiglu_quant
    cases = [
        (SHAPE, lambda: call(x, w, ends, ws, xs, bias=np.zeros((1, 64), np.int32))),
        (SHAPE, lambda: call(x, w, ends, ws, xs, offset=np.zeros((1, 64), np.float32))),
        (DTYPE, lambda: call(x.astype(np.int32), w, ends, ws, xs)),
        (DTYPE, lambda: call(x, w.astype(np.float32), ends, ws, xs)),
        (DTYPE, lambda: call(x, w, ends, ws.astype(np.int32), xs)),
        (SHAPE, lambda: call(x, w, ends, ws[:, :32], xs)),
        (SHAPE, lambda: call(x, w[:, :, :63], ends, ws[:, :63], xs)),   # N odd
        (SHAPE, lambda: call(x, w[:, :3], ends, ws, xs)),               # K differs
        (SHAPE, lambda: call(x, nz_pack(w)[:, :1], ends, ws, xs)),      # NZ shape wrong
        (VALUE, lambda: call(x, w, np.array([4, 2], np.int64)[:len(ends)] if len(ends) > 1 else
                             np.array([-1], np.int64), ws, xs)),
    ]
    for status, f in cases:
        with pytest.raises(moeroute.MoerouteError) as ei:
            f()
        assert ei.value.status == status, (status, ei.value)
