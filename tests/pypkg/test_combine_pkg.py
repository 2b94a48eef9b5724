"""The combine operators of the Python package (npu_moe_token_unpermute, npu_moe_finalize_routing) against the
independent numpy models of tests/python/combine_golden.py, byte for byte (NaN compared as a class), and their
refusals (MoerouteError status and message, the matching Python exception).

Run as tests/pypkg/test_package.py is:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg
Randomized cases use fixed seeds (the case index), so a failure replays as it is. torch cases are skipped when
torch cannot be imported.
"""

import inspect

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
from pkgtest import torch, needs_torch, SHAPE, DTYPE, VALUE, NULLP, strided_view
import moeroute  # noqa: E402

import combine_golden as cg  # noqa: E402


# ---- values, views, comparison -----------------------------------------------------------------------------------

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, -65504.0, 2.0 ** -24, 1e30, 0.5, 1.5, 2048.0,
                     1.0 + 2.0 ** -8], np.float64)


def to_carrier(v, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(v, np.float64)
        if dtype == "f16":
            return v.astype(np.float16)
        if dtype == "f32":
            return v.astype(np.float32)
        return cg.f32_to_bf16(v.astype(np.float32), False)


def values(rng, dtype, shape):
    """Mixed magnitudes, small integers and halves (sums land on ties), now and then a special value."""
    kind = int(rng.integers(3))
    if kind == 0:
        v = rng.standard_normal(shape) * float(rng.choice([0.1, 1.0, 30.0]))
    elif kind == 1:
        v = rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 4, shape)
    else:
        v = rng.integers(-64, 65, shape) / float(rng.choice([1.0, 2.0, 4.0])) + float(rng.choice([0.0, 1024.0]))
    if v.size and rng.random() < 0.3:
        m = rng.random(shape) < 0.05
        v = np.where(m, SPECIALS[rng.integers(0, len(SPECIALS), shape)], v)
    return to_carrier(v, dtype)


def view3(rng, a):
    """A 3-D array contiguous (read in place as [E*C, H]) or with its outer dims swapped in storage (copied)."""
    if rng.random() < 0.5:
        return np.ascontiguousarray(a.transpose(1, 0, 2)).transpose(1, 0, 2)
    return a


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view({2: np.uint16, 4: np.uint32}[a.dtype.itemsize])


def assert_same(got, want, dtype, what):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype.itemsize == want.dtype.itemsize, (what, got.shape, want.shape)
    nan = cg.nan_mask(got, dtype) & cg.nan_mask(want, dtype)
    bad = np.nonzero(((bits(got) != bits(want)) & ~nan).reshape(-1))[0]
    assert bad.size == 0, "%s: %d elements differ, first at flat %d: got %04x want %04x" % (
        what, bad.size, bad[0], int(bits(got).reshape(-1)[bad[0]]), int(bits(want).reshape(-1)[bad[0]]))


def refused(status, fragment, fn, *args, **kw):
    with pytest.raises(moeroute.MoerouteError) as ei:
        fn(*args, **kw)
    e = ei.value
    assert e.status == status, (e.status_name, e.message)
    assert fragment in e.message, e.message
    return e


# ---- npu_moe_token_unpermute ---------------------------------------------------------------------------------------

def test_unpermute_worked_examples():
    tok = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], np.float32)
    probs = np.array([[.5, .25], [1, -1]], np.float32)
    out = moeroute.npu_moe_token_unpermute(tok, np.array([2, 0, 3, 1], np.int32), probs)
    assert out.dtype == np.float32 and out.tolist() == [[2.75, 3.5], [4, 4]]
    # the transposed views are read in place through their strides
    out = moeroute.npu_moe_token_unpermute(np.asfortranarray(tok), np.array([2, 0, 3, 1], np.int32), probs.T.copy().T)
    assert out.tolist() == [[2.75, 3.5], [4, 4]]
    # skipped slots: index >= M, probability +-0 (also with index -1); slot 0 keeps -0, later slots add to +0
    tok = np.array([[9, 9], [-0.0, 2], [1.5, -3]], np.float32)
    out = moeroute.npu_moe_token_unpermute(tok, np.array([5, 1, -1, 2, 0, 1, 1, 4], np.int32),
                                           np.array([[.5, 1], [0, 2], [-0.0, -1], [1, .75]], np.float32))
    assert bits(out).tolist() == bits(np.array([[0.0, 2], [3, -6], [0.0, -2], [-0.0, 2]], np.float32)).tolist()
    # without probs: k = 1
    out = moeroute.npu_moe_token_unpermute(tok, np.array([2, 7, 0], np.int32))
    assert out.tolist() == [[1.5, -3], [0, 0], [9, 9]]
    # fp16 summed in fp32, rounded once: 2048 + 1 + 1 = 2050
    out = moeroute.npu_moe_token_unpermute(np.array([[2048], [1], [1]], np.float16), np.array([0, 1, 2], np.int32),
                                           np.ones((1, 3), np.float16))
    assert out.dtype == np.float16 and float(out[0, 0]) == 2050.0
    # bf16 bits (bf16=True) with float32 probs: 1 + 2^-8 is a tie, stored to even (0x3F80)
    out = moeroute.npu_moe_token_unpermute(np.array([[0x3F80]], np.uint16), np.array([0, 0], np.int32),
                                           np.array([[1.00390625], [1.0 + 2 ** -8 + 2 ** -20]], np.float32), bf16=True)
    assert out.dtype == np.uint16 and out.tolist() == [[0x3F80], [0x3F81]]


def unpermute_case(seed):
    rng = np.random.default_rng([seed, 31])
    tdt, pdt = str(rng.choice(cg.DTYPES)), str(rng.choice(cg.DTYPES))
    has_probs = rng.random() < 0.8
    T = int(rng.integers(0, 40))
    k = (0 if rng.random() < 0.05 else int(rng.integers(1, 7))) if has_probs else 1
    H = int(rng.choice([0, 1, 3, 8, 33, 300]))
    if seed % 10 == 9:
        T, k, H = 200, 4, 256  # big enough for the thread pool
    L = T * k
    M = [L, int(rng.integers(0, L + 1)), L + 3][int(rng.integers(3))]
    idx = rng.permutation(L) if rng.random() < 0.6 else rng.integers(-2, M + 3, L)
    probs = None
    if has_probs:
        probs = values(rng, pdt, (T, k))
        zero = (idx.reshape(T, k) < 0) | (rng.random((T, k)) < 0.15)
        probs = np.where(zero, to_carrier(np.where(rng.random((T, k)) < 0.5, 0.0, -0.0), pdt), probs)
        probs = probs.astype(cg.NP_DTYPE[pdt])
    else:
        idx = np.where(idx < 0, M, idx)
    return rng, tdt, pdt, values(rng, tdt, (M, H)), idx.astype(np.int32), probs


@pytest.mark.parametrize("seed", range(60))
def test_unpermute_random(seed):
    rng, tdt, pdt, tokens, idx, probs = unpermute_case(seed)
    want = cg.token_unpermute(tokens, tdt, idx, probs, pdt)
    tv = strided_view(rng, tokens)
    pv = None if probs is None else strided_view(rng, probs)
    iv = idx if rng.random() < 0.7 else np.repeat(idx, 2)[::2]  # a strided index array is copied
    got = moeroute.npu_moe_token_unpermute(tv, iv, pv, bf16="bf16" in (tdt, pdt))
    assert_same(got, want, tdt, "seed %d" % seed)


def test_unpermute_contexts():
    rng, tdt, pdt, tokens, idx, probs = unpermute_case(9)
    want = cg.token_unpermute(tokens, tdt, idx, probs, pdt)
    for threads in (1, 2, 3):
        for isa in ("scalar", "auto"):
            with moeroute.Context(num_threads=threads, isa=isa) as ctx:
                got = moeroute.npu_moe_token_unpermute(tokens, idx, probs, bf16=True, ctx=ctx)
            assert_same(got, want, tdt, "threads %d isa %s" % (threads, isa))


def test_unpermute_refusals():
    tok = np.zeros((4, 2), np.float32)
    idx = np.array([2, 0, 3, 1], np.int32)
    probs = np.ones((2, 2), np.float32)
    f = moeroute.npu_moe_token_unpermute
    refused(SHAPE, "padded_mode", f, tok, idx, probs, True)
    refused(SHAPE, "restore_shape", f, tok, idx, probs, False, [2, 2])
    refused(SHAPE, "permuted_tokens must be 2-D", f, tok.reshape(-1), idx, probs)
    refused(SHAPE, "sorted_indices must be 1-D", f, tok, idx.reshape(2, 2), probs)
    refused(SHAPE, "probs must be 2-D", f, tok, idx, probs.reshape(-1))
    refused(SHAPE, "T*k must equal", f, tok, idx, np.ones((3, 2), np.float32))
    e = refused(DTYPE, "sorted_indices", f, tok, idx.astype(np.int64), probs)
    assert isinstance(e, TypeError)
    refused(DTYPE, "permuted_tokens", f, tok.astype(np.float64), idx, probs)
    refused(DTYPE, "probs", f, tok, idx, probs.astype(np.int32))
    refused(DTYPE, "bf16=True", f, tok.view(np.uint16).reshape(4, 4)[:, :2], idx, probs)  # bits without bf16=True
    # a kept slot (prob != 0) with a negative index: refused by the library, naming the position t*k + j
    e = refused(VALUE, "sortedIndices[1]", f, tok, np.array([2, -1, 3, 1], np.int32), probs)
    assert isinstance(e, ValueError)
    # the same index with prob 0 is skipped
    out = f(tok, np.array([2, -1, 3, 1], np.int32), np.array([[1, 0], [1, 1]], np.float32))
    assert out.shape == (2, 2)


def test_unpermute_empty():
    # k = 0: probs [2, 0] (given, empty): every token is +0
    out = moeroute.npu_moe_token_unpermute(np.ones((3, 2), np.float32), np.zeros(0, np.int32),
                                           np.zeros((2, 0), np.float32))
    assert out.shape == (2, 2) and bits(out).tolist() == [[0, 0], [0, 0]]
    out = moeroute.npu_moe_token_unpermute(np.ones((0, 5), np.float16), np.zeros(0, np.int32))
    assert out.shape == (0, 5) and out.dtype == np.float16


# ---- npu_moe_finalize_routing ----------------------------------------------------------------------------------------

F = dict(x=np.arange(1, 9, dtype=np.float32).reshape(4, 2), x1=np.array([[10, 20], [30, 40]], np.float32),
         x2=np.array([[1, 1], [2, 2]], np.float32), bias=np.array([[.5, .5], [-1, 1]], np.float32),
         scales=np.array([[.5, .25], [1, 2]], np.float32), eidx=np.array([[1, 0], [0, 1]], np.int32))


def test_finalize_worked_examples():
    f = moeroute.npu_moe_finalize_routing
    ri = np.array([2, 0, 3, 1], np.int32)
    out = f(F["x"], F["x1"], F["x2"], F["bias"], F["scales"], ri, F["eidx"])
    assert out.tolist() == [[14.875, 26.625], [37.5, 54.5]]
    out = f(F["x"], F["x1"], None, F["bias"], F["scales"], ri, F["eidx"], 0)
    assert out.tolist() == [[13.875, 25.625], [35.5, 52.5]]
    out = f(F["x"], F["x1"], F["x2"], F["bias"], F["scales"], np.array([2, 3, 0, 1], np.int32), F["eidx"],
            drop_pad_mode=2)
    assert out.tolist() == [[14.875, 26.625], [37.5, 54.5]]
    for mode in (1, 3):  # [E, C, H] = [2, 2, 2]; two dropped slots add nothing
        out = f(F["x"].reshape(2, 2, 2), F["x1"], F["x2"], F["bias"], F["scales"], np.array([2, -1, -1, 1], np.int32),
                F["eidx"], mode)
        assert out.tolist() == [[13, 24.5], [36, 52]]
    # nothing optional: out[i] = rows[r] + 0 (the +0 turns -0 into +0)
    out = f(np.array([[1, -0.0], [3, 4]], np.float32), None, None, None, None, np.array([1, 0], np.int32), None)
    assert bits(out).tolist() == bits(np.array([[3, 4], [1, 0.0]], np.float32)).tolist()
    # fp16 steps: 1024 + .5 + .5 -> 1024; 2048 + 1 -> 2048, + 2 -> 2050
    out = f(np.array([[.5, 2048], [.5, 1]], np.float16), np.array([[1024, .5]], np.float16), None,
            np.array([[0, 1], [0, 0]], np.float16), np.ones((1, 2), np.float16), np.array([0, 1], np.int32),
            np.zeros((1, 2), np.int32))
    assert out.tolist() == [[1024, 2050]]
    # bf16 (V2): ties to even; float32 scales with bf16 rows
    out = f(np.array([[0x3B80, 0x3B80, 0xBB80]], np.uint16), np.array([[0x3F80, 0x3F81, 0xBF80]], np.uint16), None,
            None, np.ones((1, 1), np.float32), np.array([0], np.int32), None, bf16=True)
    assert out.dtype == np.uint16 and out.tolist() == [[0x3F80, 0x3F82, 0xBF80]]


def finalize_case(seed):
    rng = np.random.default_rng([seed, 37])
    dt = str(rng.choice(cg.DTYPES))
    sdt = "f32" if dt == "bf16" and rng.random() < 0.5 else dt
    mode = seed % 4
    drop = mode in (1, 3)
    has_scales = rng.random() < 0.8
    N = int(rng.integers(0, 30))
    K = int(rng.integers(1, 6)) if has_scales else 1
    H = int(rng.choice([0, 1, 5, 16, 40, 257]))
    if seed % 10 == 9:
        N, K, H, has_scales = 160, 4, 256, True  # big enough for the thread pool
    E = int(rng.integers(max(K, 1), 10))
    if drop:
        C = int(rng.integers(0, N + 1))
        M = E * C
        ri = np.where(rng.random(N * K) < 0.2, -1, rng.integers(0, max(M, 1), N * K)) if M else np.full(N * K, -1)
        ex = values(rng, dt, (E, C, H))
    else:
        M = N * K + (int(rng.integers(1, 4)) if rng.random() < 0.2 else 0)
        ri = rng.permutation(M)[:N * K] if rng.random() < 0.6 else rng.integers(0, max(M, 1), N * K)
        ex = values(rng, dt, (M, H))
    has = lambda p: rng.random() < p  # noqa: E731
    c = dict(dt=dt, sdt=sdt, mode=mode, ex=ex, ri=ri.astype(np.int32),
             x1=values(rng, dt, (N, H)) if has(0.6) else None, x2=values(rng, dt, (N, H)) if has(0.5) else None,
             bias=values(rng, dt, (E, H)) if has(0.6) else None,
             scales=values(rng, sdt, (N, K)) if has_scales else None)
    c["eidx"] = rng.integers(0, E, (N, K)).astype(np.int32) if c["bias"] is not None or has(0.3) else None
    return rng, c


@pytest.mark.parametrize("seed", range(80))
def test_finalize_random(seed):
    rng, c = finalize_case(seed)
    want = cg.finalize_routing_v2(c["ex"], c["ri"], c["x1"], c["x2"], c["bias"], c["scales"], c["eidx"], c["mode"],
                                  c["dt"], c["sdt"])
    ex = view3(rng, c["ex"]) if c["ex"].ndim == 3 else strided_view(rng, c["ex"])
    opt = {k: (None if c[k] is None else strided_view(rng, c[k])) for k in ("x1", "x2", "bias", "scales", "eidx")}
    got = moeroute.npu_moe_finalize_routing(ex, opt["x1"], opt["x2"], opt["bias"], opt["scales"], c["ri"],
                                            opt["eidx"], c["mode"], bf16=True)
    assert_same(got, want, c["dt"], "seed %d mode %d" % (seed, c["mode"]))


def test_finalize_contexts():
    rng, c = finalize_case(9)
    want = cg.finalize_routing_v2(c["ex"], c["ri"], c["x1"], c["x2"], c["bias"], c["scales"], c["eidx"], c["mode"],
                                  c["dt"], c["sdt"])
    for threads in (1, 2, 4):
        with moeroute.Context(num_threads=threads, isa="scalar" if threads == 1 else "auto") as ctx:
            got = moeroute.npu_moe_finalize_routing(c["ex"], c["x1"], c["x2"], c["bias"], c["scales"], c["ri"],
                                                    c["eidx"], c["mode"], bf16=True, ctx=ctx)
        assert_same(got, want, c["dt"], "threads %d" % threads)


def test_finalize_refusals():
    f = moeroute.npu_moe_finalize_routing
    x, x1, x2, b, s, e = F["x"], F["x1"], F["x2"], F["bias"], F["scales"], F["eidx"]
    ri = np.array([2, 0, 3, 1], np.int32)
    refused(SHAPE, "drop_pad_mode must be 0, 1, 2 or 3", f, x, x1, x2, b, s, ri, e, 4)
    refused(SHAPE, "3-D [E, C, H]", f, x, x1, x2, b, s, ri, e, 1)
    refused(SHAPE, "2-D [N*K, H]", f, x.reshape(2, 2, 2), x1, x2, b, s, ri, e, 0)
    refused(SHAPE, "N*K", f, x, x1, x2, b, s, ri[:3], e)
    refused(SHAPE, "K (scales.shape[1]) must not be 0", f, x, x1, x2, b, np.zeros((4, 0), np.float32), ri, e)
    refused(SHAPE, "skip1 must be [N, H]", f, x, x1[:1], x2, b, s, ri, e)
    refused(SHAPE, "skip2 must be [N, H]", f, x, x1, x2[:, :1], b, s, ri, e)
    refused(SHAPE, "bias must be [E, H]", f, x, x1, x2, b[:, :1], s, ri, e)
    refused(SHAPE, "bias must be [E, H] = [2, 2]", f, x.reshape(2, 2, 2), x1, x2, np.ones((3, 2), np.float32), s,
            np.array([2, -1, -1, 1], np.int32), e, 1)  # drop modes: E = expanded_permuted_rows.shape[0]
    refused(SHAPE, "export_for_source_row must be 2-D [N, K]", f, x, x1, x2, b, s, ri, e[:1])
    refused(SHAPE, "max(1, K)", f, x, x1, x2, b[:1], s, ri, e)  # the library: E >= K
    refused(NULLP, "bias needs export_for_source_row", f, x, x1, x2, b, s, ri, None)
    refused(DTYPE, "skip1", f, x, x1.astype(np.float16), x2, b, s, ri, e)
    refused(DTYPE, "scales", f, x, x1, x2, b, s.astype(np.float16), ri, e)
    refused(DTYPE, "expanded_src_to_dst_row", f, x, x1, x2, b, s, ri.astype(np.int64), e)
    refused(DTYPE, "export_for_source_row", f, x, x1, x2, b, s, ri, e.astype(np.float32))
    # float32 scales are taken with bf16 rows only
    refused(DTYPE, "scales", f, x.astype(np.float16), None, None, None, s, ri, None)
    # data: a row index outside [0, M), -1 outside the drop modes, an expert id outside [0, E)
    e1 = refused(VALUE, "expandedRowIdx[2]", f, x, x1, x2, b, s, np.array([2, 0, 4, 1], np.int32), e)
    assert isinstance(e1, ValueError)
    refused(VALUE, "expandedRowIdx[1]", f, x, x1, x2, b, s, np.array([2, -1, 3, 1], np.int32), e)
    refused(VALUE, "expertIdxOptional[1][0]", f, x, x1, x2, b, s, ri, np.array([[1, 0], [2, 1]], np.int32))
    # an expert id is read only with a bias; a dropped slot's expert id is not read either
    f(x, x1, x2, None, s, ri, np.array([[9, 9], [9, 9]], np.int32))
    f(x.reshape(2, 2, 2), x1, x2, b, s, np.array([2, -1, -1, 1], np.int32), np.array([[1, 9], [9, 1]], np.int32), 1)


def test_finalize_strided_3d_is_read_in_place():
    """A contiguous [E, C, H] is read as [E*C, H] in place; swapped outer dims are copied; both give the same."""
    rng = np.random.default_rng(5)
    ex = values(rng, "f32", (3, 4, 8))
    ri = np.array([0, 5, -1, 11, 7, -1], np.int32)
    a = moeroute.npu_moe_finalize_routing(ex, None, None, None, None, ri, None, 3)
    b = moeroute.npu_moe_finalize_routing(np.ascontiguousarray(ex.transpose(1, 0, 2)).transpose(1, 0, 2), None, None,
                                          None, None, ri, None, 3)
    want = cg.finalize_routing_v2(ex, ri, None, None, None, None, None, 3, "f32")
    assert_same(a, want, "f32", "contiguous")
    assert_same(b, want, "f32", "swapped")


# ---- names, signatures, torch ----------------------------------------------------------------------------------------

def test_torch_npu_signatures():
    from moeroute import torch_npu
    assert torch_npu.npu_moe_token_unpermute is moeroute.npu_moe_token_unpermute
    assert torch_npu.npu_moe_finalize_routing is moeroute.npu_moe_finalize_routing
    p = inspect.signature(moeroute.npu_moe_token_unpermute).parameters
    assert list(p)[:5] == ["permuted_tokens", "sorted_indices", "probs", "padded_mode", "restore_shape"]
    assert [p[n].default for n in list(p)[2:5]] == [None, False, None]
    p = inspect.signature(moeroute.npu_moe_finalize_routing).parameters
    assert list(p)[:8] == ["expanded_permuted_rows", "skip1", "skip2", "bias", "scales", "expanded_src_to_dst_row",
                           "export_for_source_row", "drop_pad_mode"]
    assert p["drop_pad_mode"].default == 0
    assert all(p[n].default is inspect.Parameter.empty for n in list(p)[:7])  # positional, None allowed


@needs_torch
def test_torch_tensors():
    tok = torch.arange(1, 9, dtype=torch.float32).reshape(4, 2)
    out = moeroute.npu_moe_token_unpermute(tok.t().contiguous().t(), torch.tensor([2, 0, 3, 1], dtype=torch.int32),
                                           torch.tensor([[.5, .25], [1, -1]]))
    assert isinstance(out, torch.Tensor) and out.tolist() == [[2.75, 3.5], [4, 4]]
    xb = torch.randn(6, 16, dtype=torch.bfloat16)
    ri = torch.tensor([0, 3, 1, 4, 2, 5], dtype=torch.int32)
    out = moeroute.npu_moe_finalize_routing(xb, None, None, None, torch.ones(3, 2), ri, None)
    assert out.dtype == torch.bfloat16 and out.shape == (3, 16)
    want = cg.finalize_routing_v2(xb.view(torch.int16).numpy().view(np.uint16), ri.numpy(), None, None, None,
                                  np.ones((3, 2), np.float32), None, 0, "bf16", "f32")
    assert_same(out.view(torch.int16).numpy().view(np.uint16), want, "bf16", "torch bf16")
