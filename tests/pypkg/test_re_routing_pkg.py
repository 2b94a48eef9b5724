"""moeroute.npu_moe_re_routing / moe_re_routing (torch_npu's name, argument names and order) against the numpy
model of tests/python/re_routing_golden.py (layer spec 4.2), byte for byte, and their refusals (MoerouteError
status and message). Randomized cases use fixed seeds (the case index); torch cases are skipped when torch
cannot be imported."""

import inspect

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
from pkgtest import torch, needs_torch
import moeroute  # noqa: E402
from moeroute import _lib  # noqa: E402

from re_routing_golden import model  # noqa: E402


def _same(got, want):
    got, want = np.asarray(got), np.asarray(want)
    return got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got.view(np.uint8),
                                                                                  want.view(np.uint8))


def test_worked_example():
    """Problem P of tests/c/test_re_routing.c: counts [[1, 0, 2], [2, 1, 1]] -> idx [0, 3, 4, 5, 1, 2, 6]."""
    tokens = np.arange(14, dtype=np.float16).reshape(7, 2)
    scales = np.arange(1, 8, dtype=np.float32) / 2
    counts = np.array([[1, 0, 2], [2, 1, 1]], np.int32)
    pt, ps, pi, num = moeroute.npu_moe_re_routing(tokens, counts, per_token_scales=scales)
    assert pi.tolist() == [0, 3, 4, 5, 1, 2, 6] and num.tolist() == [3, 1, 3] and num.dtype == np.int32
    assert np.array_equal(pt, tokens[pi]) and ps.tolist() == [.5, 2, 2.5, 3, 1, 1.5, 3.5]
    _, ps, _, num = moeroute.npu_moe_re_routing(tokens, counts.astype(np.int64))
    assert num.dtype == np.int64 and not ps.any()


@pytest.mark.parametrize("seed", range(40))
def test_random(seed):
    rng = np.random.default_rng([seed, 9])
    R, E = int(rng.integers(1, 5)), int(rng.integers(1, 8))
    counts = rng.integers(0, 6, size=(R, E)).astype([np.int32, np.int64][seed % 2])
    A, H = int(counts.sum()), int(rng.integers(1, 20))
    kind = seed % 3
    if kind == 2:
        tokens = rng.integers(-128, 128, size=(A, H)).astype(np.int8)
    else:
        tokens = rng.integers(0, 65536, size=(A, H)).astype(np.uint16)
        tokens = tokens.view(np.float16) if kind == 0 else tokens
    scales = rng.standard_normal(A).astype(np.float32) if seed % 4 else None
    if seed % 5 == 0 and A > 1:
        tokens = tokens[::-1][::-1]  # a view (same rows)
        tokens = np.ascontiguousarray(tokens.T).T  # column-major, read in place
    counts_arg = counts.T.copy().T if seed % 3 == 1 else counts
    f = moeroute.npu_moe_re_routing if seed % 2 else moeroute.moe_re_routing
    if f is moeroute.npu_moe_re_routing:
        got = f(tokens, counts_arg, per_token_scales=scales, bf16=kind == 1)
    else:
        got = f(tokens, counts_arg, scales, 1, 0, bf16=kind == 1)
    want = model(tokens, counts, scales)
    for g, w in zip(got, want):
        assert _same(g, w)


def test_refusals():
    tokens = np.zeros((3, 4), np.float16)
    counts = np.array([[1, 2]], np.int32)
    cases = [
        (dict(expert_token_num_type=0), _lib.MOEROUTE_ERR_INVALID_SHAPE, "expert_token_num_type"),
        (dict(idx_type=1), _lib.MOEROUTE_ERR_INVALID_SHAPE, "idx_type"),
        (dict(per_token_scales=np.zeros(2, np.float32)), _lib.MOEROUTE_ERR_INVALID_SHAPE, "per_token_scales"),
        (dict(tokens_dtype=1), _lib.MOEROUTE_ERR_INVALID_DTYPE, "tokens_dtype"),
    ]
    for kw, status, text in cases:
        with pytest.raises(moeroute.MoerouteError) as e:
            moeroute.npu_moe_re_routing(tokens, counts, **kw)
        assert e.value.status == status and text in str(e.value), (kw, e.value)
    for bad, text in ((np.array([[1, 1]], np.int32), "sum"), (np.array([[-1, 4]], np.int32), "negative")):
        with pytest.raises(moeroute.MoerouteError) as e:
            moeroute.npu_moe_re_routing(tokens, bad)
        assert e.value.status == _lib.MOEROUTE_ERR_INVALID_VALUE and text in str(e.value)
    with pytest.raises(moeroute.MoerouteError) as e:
        moeroute.npu_moe_re_routing(tokens, np.array([1, 2], np.int32))
    assert e.value.status == _lib.MOEROUTE_ERR_INVALID_SHAPE
    with pytest.raises(TypeError):
        moeroute.npu_moe_re_routing(tokens, counts.astype(np.float32))
    with pytest.raises(TypeError):
        moeroute.npu_moe_re_routing(tokens.astype(np.float32), counts)


def test_signature():
    from moeroute import torch_npu
    assert torch_npu.npu_moe_re_routing is moeroute.npu_moe_re_routing
    p = inspect.signature(torch_npu.npu_moe_re_routing).parameters
    assert list(p)[:2] == ["tokens", "expert_token_num_per_rank"]
    for name, default in (("per_token_scales", None), ("expert_token_num_type", 1), ("idx_type", 0),
                          ("tokens_dtype", None)):
        assert p[name].kind == inspect.Parameter.KEYWORD_ONLY and p[name].default == default


@needs_torch
def test_torch_tensors():
    tok = torch.randn(7, 16, dtype=torch.bfloat16)
    counts = torch.tensor([[1, 0, 2], [2, 1, 1]], dtype=torch.int64)
    sc = torch.arange(7, dtype=torch.float32)
    pt, ps, pi, num = moeroute.npu_moe_re_routing(tok, counts, per_token_scales=sc)
    assert all(isinstance(t, torch.Tensor) for t in (pt, ps, pi, num))
    assert pi.tolist() == [0, 3, 4, 5, 1, 2, 6] and num.dtype == torch.int64 and num.tolist() == [3, 1, 3]
    assert torch.equal(pt, tok[pi.long()]) and torch.equal(ps, sc[pi.long()])
