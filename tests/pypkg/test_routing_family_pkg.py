"""The routing family of the Python package (npu_moe_init_routing_v2, npu_moe_init_routing_quant,
moe_init_routing_v2, npu_moe_compute_expert_tokens) against the independent numpy models of
tests/python/routing_family_golden.py, byte for byte, and every refusal (MoerouteError status and message).

Run as tests/pypkg/test_package.py is:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg
Randomized cases use fixed seeds (the case index), so a failure replays as it is. torch cases are skipped when
torch cannot be imported.

What the golden models mark as "not written" by the operator (MoeInitRoutingV3: expanded_x rows and
expanded_scale entries >= V, key-value rows after the terminator, expanded_scale without a scale in
quant_mode -1) the package returns as zeros: that is checked too.
"""

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
from pkgtest import torch, needs_torch, SHAPE, DTYPE, VALUE, NULLP, strided_view
import moeroute  # noqa: E402
from moeroute import _lib, _routing_family  # noqa: E402

import moe_golden as g  # noqa: E402
import routing_family_golden as rg  # noqa: E402


# ---- inputs and comparison -----------------------------------------------------------------------------------

SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, -65520.0, 6e-8, -3e-5, 0.5, 1.5, 2.5, -2.5,
                     127.5, -128.5, 1e30], dtype=np.float64)


def make_x(rng, n, h, dtype):
    """Logical x in the golden carrier: float16 / float32 / uint16 bf16 bits / int8."""
    if dtype == "i8":
        return rng.integers(-128, 128, size=(n, h)).astype(np.int8)
    with np.errstate(over="ignore", invalid="ignore"):
        v = rng.standard_normal((n, h)) * rng.choice([0.01, 1.0, 30.0, 300.0], size=(n, 1))
        if n * h:
            flat = v.reshape(-1)
            pick = rng.random(flat.size) < 0.08
            flat[pick] = rng.choice(SPECIALS, size=int(pick.sum()))
        if dtype == "f16":
            return v.astype(np.float16)
        if dtype == "f32":
            return v.astype(np.float32)
        return g.f32_to_bf16_bits_rne(v.astype(np.float32))


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def assert_out(name, got, want):
    """got: the package's array; want: a golden Out. Written elements equal bit for bit, the rest are zero."""
    got = as_numpy(got)
    assert got.shape == want.value.shape, (name, got.shape, want.value.shape)
    assert got.dtype.itemsize == want.value.dtype.itemsize, (name, got.dtype, want.value.dtype)
    gb, wb, w = bits(got), bits(want.value), want.written
    bad = np.nonzero(gb[w] != wb[w])[0]
    assert bad.size == 0, "%s: %d written elements differ, first at flat %d" % (name, bad.size,
                                                                               int(np.flatnonzero(w)[bad[0]]))
    assert not gb[~w].any(), "%s: an element the operator does not write is not zero" % name


def as_numpy(a):
    if torch is not None and isinstance(a, torch.Tensor):
        if a.dtype == torch.bfloat16:
            return a.view(torch.int16).numpy().view(np.uint16)
        return a.numpy()
    return np.asarray(a)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def refused(status, fragment, fn, *args, **kw):
    with pytest.raises(moeroute.MoerouteError) as ei:
        fn(*args, **kw)
    e = ei.value
    assert e.status == status, (e.status_name, e.message)
    assert e.status_name == _lib.STATUS_NAMES[status]
    assert fragment in e.message, e.message
    return e


V3_OK = dict(expert_tokens_num_flag=True, expert_tokens_num_type=1, quant_mode=-1)

# ---- npu_moe_init_routing_v2 (MoeInitRoutingV3) ---------------------------------------------------------------


def v3_case(seed):
    rng = np.random.default_rng(7300 + seed)
    dtype = ["f16", "bf16", "f32", "i8"][seed % 4]
    quant = -1 if dtype == "i8" else int(rng.choice([-1, 1]))
    n, k, h = int(rng.integers(0, 30)), int(rng.integers(0, 7)), int(rng.integers(0, 18))
    if seed % 11 == 0:
        n, k, h = 1, 8, 33
    E = int(rng.integers(1, 14))
    if rng.random() < 0.4:
        rng_arg, start, end = [], 0, E
    else:
        start = int(rng.integers(0, E))
        end = int(rng.integers(start + 1, E + 1))
        rng_arg = [start, end]
    x = make_x(rng, n, h, dtype)
    e = rng.integers(-2, E + 3, size=(n, k)).astype(np.int32)
    scale = None
    if rng.random() < 0.6:
        scale = (rng.standard_normal(n) if quant == -1 else rng.random((end - start, h)) * 2).astype(np.float32)
    kw = dict(expert_num=E, expert_tokens_num_type=int(rng.choice([1, 2])), expert_tokens_num_flag=True,
              quant_mode=quant, active_expert_range=rng_arg, row_idx_type=int(rng.choice([0, 1])),
              active_num=int(rng.choice([-1, n * k])), expert_capacity=int(rng.integers(-1, 5)))
    return rng, dtype, x, e, scale, kw


def v3_expected(dtype, x, e, scale, kw):
    return rg.init_routing_v3(x, dtype, e, scale, kw["expert_num"], kw["expert_tokens_num_type"], kw["quant_mode"],
                              kw.get("active_expert_range", []), kw.get("row_idx_type", 0))


def assert_v3(got, want):
    assert isinstance(got, tuple) and len(got) == 4
    for name, o in zip(("expanded_x", "expanded_row_idx", "expert_tokens_count_or_cumsum", "expanded_scale"), got):
        assert_out(name, o, want[name])


@pytest.mark.parametrize("seed", range(64))
def test_v3_matches_golden(seed):
    rng, dtype, x, e, scale, kw = v3_case(seed)
    want = v3_expected(dtype, x, e, scale, kw)
    got = moeroute.npu_moe_init_routing_v2(strided_view(rng, x), strided_view(rng, e), scale=scale,
                                           bf16=(dtype == "bf16"), **kw)
    assert all(isinstance(o, np.ndarray) for o in got)
    assert got[0].dtype == (np.int8 if kw["quant_mode"] == 1 else x.dtype)
    assert got[1].dtype == np.int32 and got[2].dtype == np.int64 and got[3].dtype == np.float32
    assert_v3(got, want)


def test_v3_worked_example():
    """docs/operators/init_routing_v3.md: range [1, 3), quant_mode -1, a carried scale."""
    x = f32([[.1] * 4, [.2] * 4, [.3] * 4])
    e = np.array([[1, 2], [0, 1], [0, 2]], np.int32)
    s = f32([0.5, 0.25, 0.125])
    ex, er, cnt, es = moeroute.npu_moe_init_routing_v2(x, e, scale=s, expert_num=4, active_expert_range=[1, 3],
                                                       **V3_OK)
    assert er.tolist() == [0, 2, -1, 1, -1, 3]
    assert ex.tobytes() == np.concatenate([x[[0, 1, 0, 2]], np.zeros((2, 4), np.float32)]).tobytes()
    assert es.tolist() == [0.5, 0.25, 0.5, 0.125, 0.0, 0.0]
    assert cnt.dtype == np.int64 and cnt.tolist() == [2, 2]
    _, er, cnt, es = moeroute.npu_moe_init_routing_v2(x, e, expert_num=4, active_expert_range=[1, 3], row_idx_type=1,
                                                      expert_tokens_num_flag=True, expert_tokens_num_type=2,
                                                      quant_mode=-1)
    assert er.tolist() == [0, 3, 1, 5, -1, -1]
    assert cnt.tolist() == [[1, 2], [2, 2], [0, 0], [0, 0]]
    assert not es.any()  # no scale in quant_mode -1: not written


def test_v3_torch_npu_documented_call():
    """The call of torch_npu's own example (bs 1, H 613, K 475, 226 experts, range [23, 35], a carried scale)."""
    rng = np.random.default_rng(475)
    x = rng.standard_normal((1, 613)).astype(np.float32)
    e = rng.integers(0, 226, size=(1, 475)).astype(np.int32)
    s = rng.standard_normal(1).astype(np.float32)
    kw = dict(active_num=475, expert_capacity=-1, expert_num=226, drop_pad_mode=0, expert_tokens_num_type=1,
              expert_tokens_num_flag=True, quant_mode=-1, active_expert_range=[23, 35], row_idx_type=0)
    got = moeroute.npu_moe_init_routing_v2(x, e, scale=s, offset=None, **kw)
    assert got[0].shape == (475, 613) and got[2].shape == (12,) and got[3].shape == (475,)
    assert_v3(got, v3_expected("f32", x, e, s, kw))


def test_v3_deepseek_decode_shape():
    """x [1, 7168] bf16, K 8, smooth [256, 7168], range [0, 256), key-value, dynamic: the round-to-odd recipe."""
    rng = np.random.default_rng(256)
    x = make_x(rng, 1, 7168, "bf16")
    x[0, :16] = g.f32_to_bf16_bits_rne(f32([127, 2.5, -2.5, 0.5, -0.5, 3.5, 126.5, -127] * 2))  # ties
    e = rng.choice(256, size=(1, 8), replace=False).astype(np.int32)
    smooth = np.ones((256, 7168), np.float32)
    kw = dict(expert_num=256, expert_tokens_num_type=2, expert_tokens_num_flag=True, quant_mode=1,
              active_expert_range=[0, 256], row_idx_type=0)
    want = v3_expected("bf16", x, e, smooth, kw)
    assert want["special"]
    assert_v3(moeroute.npu_moe_init_routing_v2(x, e, scale=smooth, bf16=True, **kw), want)


def test_v3_int8_x_is_copied():
    x = np.arange(-12, 12, dtype=np.int8).reshape(4, 6)
    e = np.array([[2, 0], [1, 1], [0, 3], [2, 2]], np.int32)
    kw = dict(expert_num=4, active_expert_range=[0, 3], **V3_OK)
    got = moeroute.npu_moe_init_routing_v2(x.T.copy().T, e, **kw)
    assert got[0].dtype == np.int8
    assert_v3(got, v3_expected("i8", x, e, None, kw))


def test_v3_torch_npu_defaults_are_refused_one_by_one():
    """torch_npu's defaults (expert_num -1, expert_tokens_num_type 0, expert_tokens_num_flag False,
    quant_mode 0) are outside MoeInitRoutingV3's supported subset: each is refused, never replaced."""
    x = np.ones((3, 4), np.float16)
    e = np.array([[1, 2], [0, 1], [0, 2]], np.int32)
    f = moeroute.npu_moe_init_routing_v2
    refused(SHAPE, "expert_tokens_num_flag must be True", f, x, e)           # judged by the wrapper
    refused(SHAPE, "expert_num must be in [1, INT32_MAX], got -1", f, x, e, expert_tokens_num_flag=True)
    refused(SHAPE, "tokens_num_type must be 1 or 2, got 0", f, x, e, expert_tokens_num_flag=True, expert_num=3)
    refused(SHAPE, "quant_mode must be -1 or 1, got 0", f, x, e, expert_tokens_num_flag=True, expert_num=3,
            expert_tokens_num_type=1)
    out = f(x, e, expert_tokens_num_flag=True, expert_num=3, expert_tokens_num_type=1, quant_mode=-1)
    assert out[2].tolist() == [2, 2, 2]


def test_v3_refusals():
    x = np.ones((3, 4), np.float32)
    e = np.array([[1, 2], [0, 1], [0, 2]], np.int32)
    f = moeroute.npu_moe_init_routing_v2
    kw = dict(expert_num=4, **V3_OK)
    # the attributes the native struct does not carry: judged by the wrapper, with the library's status
    refused(SHAPE, "drop_pad_mode must be 0", f, x, e, drop_pad_mode=1, **kw)
    refused(SHAPE, "active_num must be -1 or N*K = 6, got 3", f, x, e, active_num=3, **kw)
    refused(SHAPE, "active_num must be -1 or N*K = 6, got 0", f, x, e, active_num=0, **kw)
    refused(SHAPE, "the range [0, 0) must satisfy", f, x, e, active_expert_range=[0, 0], **kw)
    refused(SHAPE, "2 values", f, x, e, active_expert_range=[1], **kw)
    refused(SHAPE, "2 values", f, x, e, active_expert_range=[0, 1, 2], **kw)
    for r in ((1, 3), np.array([1, 3]), [np.int64(1), 3]):  # any sequence of two ints
        assert f(x, e, active_expert_range=r, **kw)[2].tolist() == [2, 2]
    # the library's own checks and messages
    refused(SHAPE, "the range [2, 2) must satisfy 0 <= start < end <= expert_num (4)", f, x, e,
            active_expert_range=[2, 2], **kw)
    refused(SHAPE, "the range [1, 5)", f, x, e, active_expert_range=[1, 5], **kw)
    refused(SHAPE, "the range [-1, 2)", f, x, e, active_expert_range=[-1, 2], **kw)
    refused(SHAPE, "row_idx_type must be 0 or 1, got 2", f, x, e, row_idx_type=2, **kw)
    refused(SHAPE, "quant_mode must be -1 or 1, got 2", f, x, e, expert_num=4, expert_tokens_num_flag=True,
            expert_tokens_num_type=1, quant_mode=2)
    refused(SHAPE, "quant_mode must be -1 or 1, got 0", f, x, e, expert_num=4, expert_tokens_num_flag=True,
            expert_tokens_num_type=1, quant_mode=0)
    refused(DTYPE, "INT8 needs quant_mode -1", f, x.astype(np.int8), e, expert_num=4, expert_tokens_num_flag=True,
            expert_tokens_num_type=1, quant_mode=1)
    # scale: its shape and dtype are the wrapper's to judge (the native API takes a bare pointer)
    refused(SHAPE, "must be 1-D [N] = [3]", f, x, e, scale=np.ones(4, np.float32), **kw)
    refused(SHAPE, "must be 2-D [end - start, H] = [2, 4]", f, x, e, scale=np.ones((4, 4), np.float32),
            expert_num=4, active_expert_range=[1, 3], expert_tokens_num_flag=True, expert_tokens_num_type=1,
            quant_mode=1)
    refused(DTYPE, "float32", f, x, e, scale=np.ones(3, np.float64), **kw)
    # x and expert_idx
    refused(SHAPE, "x has 2 rows but expert_idx has 3", f, x[:2], e, **kw)
    refused(DTYPE, "int32", f, x, e.astype(np.int64), **kw)
    refused(DTYPE, "float64", f, x.astype(np.float64), e, **kw)
    refused(SHAPE, "2-D", f, x.reshape(-1), e, **kw)
    # Python ints beyond the native fields are refused, not wrapped around
    refused(SHAPE, "does not fit the native API's int32 field", f, x, e, quant_mode=2 ** 32 - 1, expert_num=4,
            expert_tokens_num_flag=True, expert_tokens_num_type=1)
    refused(SHAPE, "does not fit the native API's int64 field", f, x, e, expert_num=2 ** 64, **V3_OK)
    with pytest.raises(TypeError):
        f(x, e, expert_num=4.0, **V3_OK)


def test_v3_empty():
    for n, k, h in [(0, 3, 4), (3, 0, 4), (3, 2, 0)]:
        x = np.ones((n, h), np.float16)
        e = np.zeros((n, k), np.int32)
        for ttype in (1, 2):
            kw = dict(expert_num=3, expert_tokens_num_flag=True, expert_tokens_num_type=ttype, quant_mode=1)
            assert_v3(moeroute.npu_moe_init_routing_v2(x, e, **kw), v3_expected("f16", x, e, None,
                                                                                 dict(kw, active_expert_range=[],
                                                                                      row_idx_type=0)))


# ---- npu_moe_init_routing_quant (MoeInitRoutingQuantV2) and moe_init_routing_v2 (MoeInitRoutingV2) ------------

def v2_case(seed, quant):
    rng = np.random.default_rng(4200 + seed + (1000 if quant else 0))
    dtype = ["f16", "bf16", "f32"][seed % 3]
    n, k, h = int(rng.integers(1, 30)), int(rng.integers(0, 6)), int(rng.integers(0, 17))
    E = int(rng.integers(1, 9))
    drop = int(rng.random() < 0.4)
    count_flag = int(rng.integers(0, 3))
    before = bool(rng.random() < 0.5)
    quant_mode = int(rng.integers(0, 2)) if quant else -1
    smooth = None
    if quant_mode == 1 and rng.random() < 0.7:
        smooth = (rng.random((int(rng.choice([1, E])), h)) * 2).astype(np.float32)
    needs_range = drop or (count_flag > 0) or (smooth is not None and smooth.shape[0] != 1)
    lo, hi = (0, E) if needs_range else (-3, E + 3)
    e = rng.integers(lo, hi, size=(n, k)).astype(np.int32)
    x = make_x(rng, n, h, dtype)
    active = int(rng.choice([0, 1, n * k // 2, n * k, n * k + 5, 2 ** 70]))
    cap = int(rng.integers(1, n + 1))
    return rng, dtype, x, e, smooth, dict(active_num=active, expert_capacity=cap, expert_num=E, drop_pad_mode=drop,
                                         count_flag=count_flag, before=before, quant_mode=quant_mode)


def assert_optional(name, got, want, present):
    """An output torch_npu returns only in some modes: None when absent."""
    if present:
        assert got is not None, name
        assert_out(name, got, want)
    else:
        assert got is None, name
        assert not want.written.any(), name


@pytest.mark.parametrize("seed", range(60))
def test_quant_v2_matches_golden(seed):
    rng, dtype, x, e, smooth, c = v2_case(seed, True)
    if c["quant_mode"] == 0:
        scale, offset = f32([rng.choice([0.3452, 20.0, 1.0 / 3, -7.5])]), f32([rng.choice([1.8369, 0.0, -2.25])])
    else:
        scale, offset = smooth, f32([123.0])  # offset: ignored in dynamic mode
    want = rg.init_routing_quant_v2(x, dtype, e, scale, offset, c["active_num"], c["expert_capacity"],
                                    c["expert_num"], c["drop_pad_mode"], c["count_flag"], c["before"], c["quant_mode"])
    got = moeroute.npu_moe_init_routing_quant(
        strided_view(rng, x), strided_view(rng, e), scale=scale, offset=offset, active_num=c["active_num"],
        expert_capacity=c["expert_capacity"], expert_num=c["expert_num"], drop_pad_mode=c["drop_pad_mode"],
        expert_tokens_num_mode=c["count_flag"], expert_tokens_before_capacity_flag=c["before"],
        quant_mode=c["quant_mode"], bf16=(dtype == "bf16"))
    assert isinstance(got, tuple) and len(got) == 5
    assert got[0].dtype == np.int8
    assert_out("expanded_x", got[0], want["expanded_x"])
    assert_out("expanded_row_idx", got[1], want["expanded_row_idx"])
    drop = c["drop_pad_mode"] == 1
    assert_optional("expert_token_cumsum_or_count", got[2], want["expert_tokens_count_or_cumsum"],
                    not drop and c["count_flag"] > 0)
    assert_optional("expert_tokens_before_capacity", got[3], want["expert_tokens_before_capacity"],
                    drop and c["before"])
    assert_optional("expanded_scale", got[4], want["dynamic_quant_scale"], c["quant_mode"] == 1)


@pytest.mark.parametrize("seed", range(45))
def test_v2_matches_golden(seed):
    rng, dtype, x, e, _, c = v2_case(seed, False)
    want = rg.init_routing_v2(x, e, c["active_num"], c["expert_capacity"], c["expert_num"], c["drop_pad_mode"],
                              c["count_flag"], c["before"])
    got = moeroute.moe_init_routing_v2(
        strided_view(rng, x), strided_view(rng, e), active_num=c["active_num"], expert_capacity=c["expert_capacity"],
        expert_num=c["expert_num"], drop_pad_mode=c["drop_pad_mode"],
        expert_tokens_count_or_cumsum_flag=c["count_flag"], expert_tokens_before_capacity_flag=c["before"],
        bf16=(dtype == "bf16"))
    assert isinstance(got, tuple) and len(got) == 4
    assert got[0].dtype == x.dtype
    assert_out("expanded_x", got[0], want["expanded_x"])
    assert_out("expanded_row_idx", got[1], want["expanded_row_idx"])
    drop = c["drop_pad_mode"] == 1
    assert_optional("expert_tokens_count_or_cumsum", got[2], want["expert_tokens_count_or_cumsum"],
                    not drop and c["count_flag"] > 0)
    assert_optional("expert_tokens_before_capacity", got[3], want["expert_tokens_before_capacity"],
                    drop and c["before"])


def test_v2_worked_examples():
    """docs/operators/init_routing_v2.md."""
    x = f32([[.1] * 4, [.2] * 4, [.3] * 4])
    e = np.array([[1, 2], [0, 1], [0, 2]], np.int32)
    ex, er, cnt, bef = moeroute.moe_init_routing_v2(x, e, expert_num=4, expert_tokens_count_or_cumsum_flag=2)
    assert er.tolist() == [2, 4, 0, 3, 1, 5] and cnt.tolist() == [2, 2, 2, 0] and bef is None
    assert ex.tobytes() == x[[1, 2, 0, 1, 0, 2]].tobytes()
    assert moeroute.moe_init_routing_v2(x, e, expert_num=4, expert_tokens_count_or_cumsum_flag=1)[2].tolist() == \
        [2, 4, 6, 6]
    assert moeroute.moe_init_routing_v2(x, e, active_num=4)[0].shape == (4, 4)  # activeNum counts rows
    ex, er, cnt, bef = moeroute.moe_init_routing_v2(x, e, expert_capacity=1, expert_num=3, drop_pad_mode=1,
                                                    expert_tokens_count_or_cumsum_flag=2,
                                                    expert_tokens_before_capacity_flag=True)
    assert er.tolist() == [1, 2, 0, -1, -1, -1] and cnt is None and bef.tolist() == [2, 2, 2]
    assert ex.shape == (3, 1, 4) and ex.tobytes() == x[[1, 0, 0]].tobytes()
    # QuantV2 static, drop, C = 2, E = 3: every element quantizes to 2
    ex, er, cnt, bef, sc = moeroute.npu_moe_init_routing_quant(
        x, e, scale=f32([0.3452]), offset=f32([1.8369]), expert_capacity=2, expert_num=3, drop_pad_mode=1,
        expert_tokens_before_capacity_flag=True, quant_mode=0)
    assert ex.shape == (3, 2, 4) and (ex == 2).all() and er.tolist() == [2, 4, 0, 3, 1, 5]
    assert cnt is None and bef.tolist() == [2, 2, 2] and sc is None
    # dynamic, one row
    ex, _, _, _, sc = moeroute.npu_moe_init_routing_quant(f32([[0.1, -0.2, 0.3, 0.4]]), np.array([[0]], np.int32))
    assert ex.tolist() == [[32, -64, 95, 127]] and sc.tolist() == [np.float32(0.4) / np.float32(127)]
    ex, _, _, _, _ = moeroute.npu_moe_init_routing_quant(f32([[0.1, -0.2, 0.3, 0.4]]), np.array([[0]], np.int32),
                                                         scale=f32([[1, 1, 1, 0.5]]))
    assert ex.tolist() == [[42, -85, 127, 85]]


def test_quant_torch_npu_documented_call_and_defaults():
    """torch_npu's example (bs 1, H 613, K 475, active_num 475, 226 experts, mode 2, before flag in dropless,
    dynamic), and its defaults (active_num 1024, expert_num 256, dynamic, dropless, no counts)."""
    rng = np.random.default_rng(613)
    x = rng.standard_normal((1, 613)).astype(np.float32)
    e = rng.integers(0, 226, size=(1, 475)).astype(np.int32)
    got = moeroute.npu_moe_init_routing_quant(x, e, active_num=475, expert_capacity=0, expert_num=226,
                                              drop_pad_mode=0, expert_tokens_num_mode=2,
                                              expert_tokens_before_capacity_flag=True, quant_mode=1)
    want = rg.init_routing_quant_v2(x, "f32", e, None, None, 475, 0, 226, 0, 2, True, 1)
    assert got[0].shape == (475, 613) and got[2].shape == (226,) and got[3] is None and got[4].shape == (475,)
    assert_out("expanded_x", got[0], want["expanded_x"])
    assert_out("count", got[2], want["expert_tokens_count_or_cumsum"])
    assert_out("scale", got[4], want["dynamic_quant_scale"])
    x = rng.standard_normal((300, 8)).astype(np.float16)
    e = rng.integers(-5, 300, size=(300, 4)).astype(np.int32)  # no counts: any id is a sort key
    got = moeroute.npu_moe_init_routing_quant(x, e)
    want = rg.init_routing_quant_v2(x, "f16", e, None, None, 1024, 0, 256, 0, 0, False, 1)
    assert got[0].shape == (1024, 8) and got[2] is None and got[3] is None
    assert_out("expanded_x", got[0], want["expanded_x"])
    assert_out("expanded_row_idx", got[1], want["expanded_row_idx"])
    assert_out("scale", got[4], want["dynamic_quant_scale"])


def test_v2_family_refusals():
    x = np.ones((3, 4), np.float32)
    e = np.array([[1, 2], [0, 1], [0, 2]], np.int32)
    q, p = moeroute.npu_moe_init_routing_quant, moeroute.moe_init_routing_v2
    one = f32([1.0])
    refused(SHAPE, "quant_mode must be 0 (static) or 1 (dynamic), got -1", q, x, e, quant_mode=-1)
    refused(SHAPE, "quant_mode must be 0 (static) or 1 (dynamic), got 2", q, x, e, quant_mode=2)
    refused(NULLP, "static quantization needs scale and offset", q, x, e, quant_mode=0)
    refused(NULLP, "static quantization needs scale and offset", q, x, e, scale=one, quant_mode=0)
    refused(SHAPE, "scale must be 1-D [1] for static", q, x, e, scale=f32([1, 2]), offset=one, quant_mode=0)
    refused(SHAPE, "offset must be 1-D [1] for static", q, x, e, scale=one, offset=f32([[1]]), quant_mode=0)
    refused(DTYPE, "float32", q, x, e, scale=np.ones(1), offset=one, quant_mode=0)
    refused(SHAPE, "scale_rows must be 1 or expert_num (256), got 3", q, x, e, scale=np.ones((3, 4), np.float32))
    refused(SHAPE, "[1, H] or [expert_num, H] with H = 4", q, x, e, scale=np.ones((1, 5), np.float32))
    refused(SHAPE, "[1, H] or [expert_num, H] with H = 4", q, x, e, scale=np.ones(4, np.float32))
    # data-dependent: ids outside [0, E) where E is used, named by position (the library's message)
    err = refused(VALUE, "outside", p, x, e, expert_num=2, expert_tokens_count_or_cumsum_flag=1)
    assert "2" in err.message
    refused(VALUE, "outside", q, x, e, expert_num=2, expert_capacity=1, drop_pad_mode=1)
    refused(VALUE, "outside", q, x, e, expert_num=2, scale=np.ones((2, 4), np.float32))
    # an empty smooth scale (H = 0) is still a given [expert_num, H] scale, so the ids are still checked
    refused(VALUE, "outside", q, x[:, :0], e, expert_num=2, scale=np.ones((2, 0), np.float32))
    assert q(x[:, :0], e, expert_num=2, scale=np.ones((1, 0), np.float32))[0].shape == (6, 0)
    # the library's attribute checks
    refused(SHAPE, "drop & pad needs 1 <= expert_capacity <= N", p, x, e, expert_num=3, expert_capacity=4,
            drop_pad_mode=1)
    refused(SHAPE, "drop & pad needs", p, x, e, expert_num=3, expert_capacity=0, drop_pad_mode=1)
    refused(SHAPE, "drop_pad_mode must be 0 or 1, got 2", p, x, e, drop_pad_mode=2)
    refused(SHAPE, "count_flag must be 0, 1 or 2, got 3", p, x, e, expert_num=3, expert_tokens_count_or_cumsum_flag=3)
    refused(SHAPE, "count_flag 1 needs expert_num >= 1", p, x, e, expert_tokens_count_or_cumsum_flag=1)
    refused(SHAPE, "must be >= 0", p, x, e, active_num=-1)
    refused(SHAPE, "must be >= 0", q, x, e, expert_num=-1)
    refused(DTYPE, "int32", p, x, e.astype(np.uint32))
    refused(DTYPE, "int8", p, x.astype(np.int8), e)  # only MoeInitRoutingV3 takes an int8 x
    refused(SHAPE, "x has 3 rows but expert_idx has 2", q, x, e[:2])
    refused(SHAPE, "does not fit the native API's int64 field", p, x, e, expert_num=-(2 ** 63) - 1)


# ---- npu_moe_compute_expert_tokens ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(30))
def test_compute_expert_tokens_matches_golden(seed):
    rng = np.random.default_rng(9000 + seed)
    E = int(rng.integers(1, 40))
    s = np.sort(rng.integers(0, E, size=int(rng.integers(0, 200)))).astype(np.int32)
    want = rg.compute_expert_tokens(s, E)["out"]
    view = s if seed % 2 else np.repeat(s, 2)[::2]  # a strided input is copied to contiguous
    got = moeroute.npu_moe_compute_expert_tokens(view, E)
    assert isinstance(got, np.ndarray) and got.dtype == np.int32
    assert_out("out", got, want)


def test_compute_expert_tokens_examples_and_refusals():
    f = moeroute.npu_moe_compute_expert_tokens
    assert f(np.array([1, 1, 3], np.int32), 5).tolist() == [0, 2, 2, 3, 3]
    assert f(np.array([0, 0, 1, 1, 2, 2], np.int32), 3).tolist() == [2, 4, 6]
    assert f(np.zeros(0, np.int32), 4).tolist() == [0, 0, 0, 0]
    assert f(np.array([2] * 5, np.int32), 4000).tolist() == [0, 0] + [5] * 3998  # no device limit of 2048
    # torch_npu's own example: values 5, 6, 7 lie outside [0, num_expert = 5): refused, not undefined
    refused(VALUE, "sortedExperts", f, np.array([3, 3, 4, 5, 6, 7], np.int32), 5)
    refused(VALUE, "sortedExperts", f, np.array([0, 2, 1], np.int32), 3)
    refused(VALUE, "sortedExperts", f, np.array([-1, 0], np.int32), 3)
    refused(SHAPE, "num_experts in [1, INT32_MAX]", f, np.array([0], np.int32), 0)
    refused(SHAPE, "1-D", f, np.zeros((2, 2), np.int32), 3)
    refused(DTYPE, "int32", f, np.zeros(3, np.int64), 3)
    refused(SHAPE, "does not fit", f, np.zeros(3, np.int32), 2 ** 63)


# ---- in place, contexts ------------------------------------------------------------------------------------------

def test_inputs_are_passed_in_place():
    rng = np.random.default_rng(1)
    x = make_x(rng, 9, 6, "f32")
    xt = np.asfortranarray(x)
    rev = x[::-1]
    e = rng.integers(0, 4, size=(9, 2)).astype(np.int32)
    c = _routing_family._prepare_v3(xt, e.T.copy().T, None, None, -1, -1, 4, 0, 1, True, -1, [], 0, False)
    assert c.args.x == xt.ctypes.data and (c.args.x_row_stride, c.args.x_col_stride) == (1, 9)
    assert (c.args.expert_row_stride, c.args.expert_col_stride) == (1, 9)
    assert (c.args.range_start, c.args.range_end) == (0, 0)  # [] = all experts
    assert c.args.expanded_x == c.outputs[0].ctypes.data and c.args.expanded_scale == c.outputs[3].ctypes.data
    assert _routing_family._run(c, None) is c.outputs
    c = _routing_family._prepare_v2("t", 1, rev, e, None, None, 0, 0, 0, 0, 0, False, False)
    assert c.args.x == rev.ctypes.data and c.args.x_row_stride == -6 and not c.args.scale
    s = np.arange(4, dtype=np.int32)
    c = _routing_family._prepare_cet(s, 4)
    assert c.args.sorted_experts == s.ctypes.data and c.args.out == c.outputs.ctypes.data


def test_context_results_identical():
    rng = np.random.default_rng(5)
    x = make_x(rng, 300, 40, "bf16")
    e = rng.integers(0, 16, size=(300, 8)).astype(np.int32)
    v3 = dict(expert_num=16, active_expert_range=[2, 14], expert_tokens_num_flag=True, expert_tokens_num_type=2,
              quant_mode=1, row_idx_type=1, bf16=True)
    qv2 = dict(expert_num=16, expert_tokens_num_mode=2, quant_mode=1, active_num=1000, bf16=True)
    want_v3 = [a.tobytes() for a in moeroute.npu_moe_init_routing_v2(x, e, **v3)]
    want_q = [a.tobytes() for a in moeroute.npu_moe_init_routing_quant(x, e, **qv2) if a is not None]
    for threads, isa in [(1, "scalar"), (2, "auto")]:
        with moeroute.Context(num_threads=threads, isa=isa) as ctx:
            for _ in range(2):
                assert [a.tobytes() for a in moeroute.npu_moe_init_routing_v2(x, e, ctx=ctx, **v3)] == want_v3
                got = moeroute.npu_moe_init_routing_quant(x, e, ctx=ctx, **qv2)
                assert [a.tobytes() for a in got if a is not None] == want_q
                assert moeroute.npu_moe_compute_expert_tokens(np.sort(e.reshape(-1)), 16, ctx=ctx).tolist() == \
                    rg.compute_expert_tokens(np.sort(e.reshape(-1)), 16)["out"].value.tolist()
    ctx = moeroute.Context()
    ctx.close()
    with pytest.raises(ValueError, match="closed"):
        moeroute.npu_moe_compute_expert_tokens(np.zeros(1, np.int32), 1, ctx=ctx)
    with pytest.raises(TypeError):
        moeroute.moe_init_routing_v2(x, e, bf16=True, ctx="ctx")


def test_exported_names_and_signatures():
    import inspect
    for name in ("npu_moe_init_routing_v2", "npu_moe_init_routing_quant", "moe_init_routing_v2",
                 "npu_moe_compute_expert_tokens"):
        assert name in moeroute.__all__
    sig = inspect.signature(moeroute.npu_moe_init_routing_v2)
    assert list(sig.parameters)[:2] == ["x", "expert_idx"]
    assert {k: v.default for k, v in sig.parameters.items() if v.kind == v.KEYWORD_ONLY} == dict(
        scale=None, offset=None, active_num=-1, expert_capacity=-1, expert_num=-1, drop_pad_mode=0,
        expert_tokens_num_type=0, expert_tokens_num_flag=False, quant_mode=0, active_expert_range=[], row_idx_type=0,
        bf16=False, ctx=None, out=None)
    sig = inspect.signature(moeroute.npu_moe_init_routing_quant)
    assert {k: v.default for k, v in sig.parameters.items() if v.kind == v.KEYWORD_ONLY} == dict(
        scale=None, offset=None, active_num=1024, expert_capacity=0, expert_num=256, drop_pad_mode=0,
        expert_tokens_num_mode=0, expert_tokens_before_capacity_flag=False, quant_mode=1, bf16=False, ctx=None, out=None)
    assert list(inspect.signature(moeroute.npu_moe_compute_expert_tokens).parameters) == [
        "sorted_expert_for_source_row", "num_expert", "ctx", "out"]


# ---- torch -----------------------------------------------------------------------------------------------------

def to_torch(a, dtype):
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.view(torch.bfloat16) if dtype == "bf16" else t


@needs_torch
@pytest.mark.parametrize("seed", range(12))
def test_torch_v3_matches_golden(seed):
    rng, dtype, x, e, scale, kw = v3_case(seed)
    tx = to_torch(x, dtype)
    if seed % 2:
        tx = tx.t().contiguous().t()  # a strided view
    got = moeroute.npu_moe_init_routing_v2(tx, torch.from_numpy(e), scale=None if scale is None else
                                           torch.from_numpy(scale), **kw)
    assert all(isinstance(o, torch.Tensor) for o in got)
    want_dt = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "i8": torch.int8}[dtype]
    assert got[0].dtype == (torch.int8 if kw["quant_mode"] == 1 else want_dt)
    assert got[2].dtype == torch.int64 and got[3].dtype == torch.float32
    assert_v3(got, v3_expected(dtype, x, e, scale, kw))


@needs_torch
def test_torch_quant_v2_and_compute_expert_tokens():
    rng = np.random.default_rng(11)
    x = make_x(rng, 20, 12, "bf16")
    e = rng.integers(0, 5, size=(20, 3)).astype(np.int32)
    tx, te = to_torch(x, "bf16"), torch.from_numpy(e)
    got = moeroute.npu_moe_init_routing_quant(tx, te, scale=torch.tensor([0.75]), offset=torch.tensor([-1.5]),
                                              expert_num=5, expert_capacity=4, drop_pad_mode=1,
                                              expert_tokens_before_capacity_flag=True, quant_mode=0)
    want = rg.init_routing_quant_v2(x, "bf16", e, [0.75], [-1.5], 1024, 4, 5, 1, 0, True, 0)
    assert got[0].dtype == torch.int8 and got[0].shape == (5, 4, 12) and got[2] is None and got[4] is None
    assert_out("expanded_x", got[0], want["expanded_x"])
    assert_out("before", got[3], want["expert_tokens_before_capacity"])
    ex, er, cnt, bef = moeroute.moe_init_routing_v2(tx[::2], te[::2], expert_num=5,
                                                   expert_tokens_count_or_cumsum_flag=1)
    want = rg.init_routing_v2(x[::2], e[::2], 0, 0, 5, 0, 1, False)
    assert ex.dtype == torch.bfloat16 and bef is None
    assert_out("expanded_x", ex, want["expanded_x"])
    assert_out("cumsum", cnt, want["expert_tokens_count_or_cumsum"])
    s = torch.sort(te.reshape(-1)).values
    out = moeroute.npu_moe_compute_expert_tokens(s, 5)
    assert out.dtype == torch.int32 and out.tolist() == rg.compute_expert_tokens(s.numpy(), 5)["out"].value.tolist()
    with pytest.raises(moeroute.MoerouteError, match="int32"):
        moeroute.npu_moe_compute_expert_tokens(s.long(), 5)
    with pytest.raises(moeroute.MoerouteError, match="float32"):
        moeroute.npu_moe_init_routing_quant(tx, te, scale=torch.tensor([[1.0] * 12], dtype=torch.float64))
