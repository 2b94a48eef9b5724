"""Self-tests of the golden model (moe_golden.py) on hand-worked values. No library needed."""

import math
import struct
from fractions import Fraction

import numpy as np
import pytest

import moe_golden as g


def f16(v):
    return np.float16(v)


def f16_bits(*vals):
    return np.array(vals, dtype=np.uint16).view(np.float16)


# ---------------------------------------------------------------------------------------------------------
# an independent, slow, pure-Python reference of one fp16 rounding (exact rational arithmetic)
# ---------------------------------------------------------------------------------------------------------

def ref_round_f16(q):
    """Round a Fraction (or +-inf/nan float) to binary16 RNE; returns a Python float."""
    if isinstance(q, float) and (math.isnan(q) or math.isinf(q)):
        return q
    if q == 0:
        return 0.0
    sign = -1 if q < 0 else 1
    a = abs(q)
    e = math.floor(math.log2(a))                     # approximate; corrected exactly below
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    e = max(e, -14)                                 # subnormals share the exponent of the min normal
    ulp = Fraction(2) ** (e - 10)
    n = a / ulp
    fl = math.floor(n)
    rem = n - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        fl += 1
    r = fl * ulp
    if r > 65504:
        return sign * math.inf
    return sign * float(r)


def ref_f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def ref_qs(a, s, o):
    """a, s, o: Python floats that are fp16 values; returns int8 as Python int."""
    def mul(x, y):
        if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
            return ref_round_f16(float(np.float64(x) * np.float64(y)))
        return ref_round_f16(Fraction(x) * Fraction(y))

    def add(x, y):
        if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
            return ref_round_f16(float(np.float64(x) + np.float64(y)))
        return ref_round_f16(Fraction(x) + Fraction(y))

    with np.errstate(invalid="ignore"):
        c = add(mul(a, s), o)
    if math.isnan(c):
        return 0
    if math.isinf(c):
        return 127 if c > 0 else -128
    r = round(c)                                    # Python round(): ties to even
    return max(-128, min(127, r))


# ---------------------------------------------------------------------------------------------------------

def test_numpy_double_to_half_is_correctly_rounded():
    rng = np.random.default_rng(12345)
    v = rng.standard_normal(20000) * 10.0 ** rng.integers(-9, 6, 20000)
    # add exact fp16 midpoints and near-midpoints
    h = rng.integers(0, 0x7BFF, 2000).astype(np.uint16).view(np.float16).astype(np.float64)
    h2 = (rng.integers(0, 0x7BFF, 2000).astype(np.uint16) + 1).view(np.float16).astype(np.float64)
    mids = (h + h2) / 2
    v = np.concatenate([v, mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf)])
    got = g.f16_of_double(v)
    for x, y in zip(v[::7], got[::7]):
        try:
            ref = np.frombuffer(struct.pack("<e", float(x)), np.float16)[0]
        except OverflowError:
            ref = np.float16(np.inf if x > 0 else -np.inf)
        assert ref.view(np.uint16) == y.view(np.uint16), (x, ref, y)
    for x, y in zip(v[::13], got[::13]):
        assert ref_round_f16(Fraction(float(x))) == float(y) or (math.isinf(float(y)))


def test_worked_example_1_5():
    x = np.array([[0.1] * 4, [0.2] * 4, [0.3] * 4], dtype=np.float32)
    expert = np.array([[1, 2], [0, 1], [0, 2]], dtype=np.int32)
    row = np.array([[0, 3], [1, 4], [2, 5]], dtype=np.int32)
    ex, er, ee = g.init_routing_quant(x, row, expert, 3, 1.0, 1.0, "f32")
    assert er.tolist() == [2, 0, 1, 4, 3, 5]
    assert ee.tolist() == [0, 0, 1, 1, 2, 2]
    assert ex.dtype == np.int8 and ex.shape == (6, 4)
    assert (ex == 1).all()
    # the copy op gathers source rows [1,2,0,1,0,2]
    cx, cr, ce = g.init_routing(x, row, expert, 3)
    assert cr.tolist() == [2, 0, 1, 4, 3, 5] and ce.tolist() == [0, 0, 1, 1, 2, 2]
    assert np.array_equal(cx, x[[1, 2, 0, 1, 0, 2]])
    # activeNum 2 -> 4 rows; 0 -> none; huge -> clamped
    assert g.init_routing_quant(x, row, expert, 2, 1.0, 1.0, "f32")[0].shape == (4, 4)
    assert g.init_routing_quant(x, row, expert, 0, 1.0, 1.0, "f32")[0].shape == (0, 4)
    assert g.init_routing(x, row, expert, 2 ** 62)[0].shape == (6, 4)


def test_v2_example_values_quant():
    # spec 4.2 worked example numbers (same fp16 chain): every element -> 2
    x = np.array([[0.1] * 4, [0.2] * 4, [0.3] * 4], dtype=np.float32)
    assert (g.quantize(x, "f32", 0.3452, 1.8369) == 2).all()
    assert float(g.scale_to_f16(0.3452)) == 0.34521484375
    assert float(g.scale_to_f16(1.8369)) == 1.8369140625


def test_rint_ties_and_saturation():
    vals = [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 126.5, 127.5, 128.0, -127.5, -128.5, -129.0,
            1000.0, -1000.0, np.inf, -np.inf, np.nan, 0.0, -0.0, 0.49975586, 0.75]
    exp = [0, 2, 2, 4, 0, -2, -2, 126, 127, 127, -128, -128, -128, 127, -128, 127, -128, 0, 0, 0, 0, 1]
    x = np.array([vals], dtype=np.float16)
    assert g.quantize(x, "f16", 1.0, 0.0)[0].tolist() == exp
    # same through the f32 and bf16 input paths (all values exactly representable in each)
    assert g.quantize(x.astype(np.float32), "f32", 1.0, 0.0)[0].tolist() == exp
    bvals = [v for v in vals if v not in (0.49975586, 126.5, 127.5, -127.5, -128.5)]
    bexp = [e for v, e in zip(vals, exp) if v not in (0.49975586, 126.5, 127.5, -127.5, -128.5)]
    bits = g.f32_to_bf16_bits_rne(np.array([bvals], dtype=np.float32))
    assert np.array_equal(g.bf16_bits_to_f32(bits)[0][~np.isnan(bvals)], np.array(bvals, np.float32)[~np.isnan(bvals)])
    assert g.quantize(bits, "bf16", 1.0, 0.0)[0].tolist() == bexp


def test_fp16_add_rounds_before_rint():
    # 100 + 0.53125 = 100.53125, exactly halfway between fp16 100.5 (even) and 100.5625 -> 100.5 -> rint 100
    x = np.array([[100.0, 101.0, -100.0]], dtype=np.float16)
    assert g.quantize(x, "f16", 1.0, 0.53125)[0].tolist() == [100, 102, -100]
    # 101.53125: tie between 101.5 (1624/16, even) and 101.5625 -> 101.5 -> rint 102 (ties to even);
    # -99.46875: tie between -99.4375 (1591/16, odd) and -99.5 (1592/16, even) -> -99.5 -> rint -100
    # (exact arithmetic would give -99)


def test_fp16_mul_rounds():
    # x = 0.84765625 (0x3AC8); s = f16(0.58984375) = 0x38B8: exact product 0.49998474... rounds to 0.5 in
    # fp16 (ulp 2^-12 below 0.5), and rint(0.5) = 0. With the exact product it would still be 0; the
    # interesting part is the next test (scale double rounding).
    x = f16_bits(0x3AC8).reshape(1, 1)
    assert float(g.f16_of_double(0.84765625 * 0.58984375)) == 0.5
    assert g.quantize(x, "f16", 0.58984375, 0.0)[0, 0] == 0
    # 2049 * 1 + 0 -> fp16 2048 (tie to even), saturates anyway; check the fp16 value itself
    assert float(g.f16_of_double(2049.0)) == 2048.0
    assert float(g.f16_of_double(2051.0)) == 2052.0


def test_scale_double_rounding():
    # 0.5900879 (double) -> float 0.590087890625 exactly (the midpoint of fp16 0x38B8 and 0x38B9)
    # -> half ties to even 0x38B8 = 0.58984375; a direct double -> half gives 0x38B9 = 0.59033203125.
    d = 0.5900879
    assert float(np.float32(d)) == 0.590087890625
    assert g.scale_to_f16(d).view(np.uint16) == 0x38B8
    assert np.float16(d).view(np.uint16) == 0x38B9
    x = f16_bits(0x3AC8).reshape(1, 1)               # 0.84765625
    # kernel chain: 0.84765625 * 0.58984375 = 0.49998 -> f16 0.5 -> rint 0
    assert g.quantize(x, "f16", d, 0.0)[0, 0] == 0
    # single-rounding golden would give 0.84765625 * 0.59033203125 = 0.50040 -> f16 0.50048828 -> 1
    assert float(g.f16_of_double(0.84765625 * 0.59033203125)) == 0.50048828125
    # offset takes the same route
    assert g.quantize(np.zeros((1, 1), np.float16), "f16", 1.0, d)[0, 0] == 1   # 0 + 0.58984 -> 1
    # a scale found by search where both chains agree is unaffected
    assert g.scale_to_f16(0.1).view(np.uint16) == np.float16(0.1).view(np.uint16)


def test_input_rounding_to_f16():
    # f32 2.5000002 -> fp16 2.5 -> rint 2 (exact arithmetic would give 3)
    x = np.array([[np.nextafter(np.float32(2.5), np.float32(3))]], dtype=np.float32)
    assert g.quantize(x, "f32", 1.0, 0.0)[0, 0] == 2
    # f32 beyond fp16 range -> inf; inf * 0 = NaN -> 0; inf * 1e-3 = inf -> 127
    big = np.array([[1e5, -1e5, 65519.0, 65520.0]], dtype=np.float32)
    assert g.quantize(big, "f32", 0.0, 0.0)[0].tolist() == [0, 0, 0, 0]
    assert g.quantize(big, "f32", 1e-3, 0.0)[0].tolist() == [127, -128, 66, 127]
    bbits = g.f32_to_bf16_bits_rne(np.array([[1e5, -1e5]], dtype=np.float32))
    assert g.quantize(bbits, "bf16", 1e-3, 0.0)[0].tolist() == [127, -128]
    # +inf + -inf = NaN -> 0
    assert g.quantize(np.array([[300.0]], np.float16), "f16", 300.0, -np.inf)[0, 0] == 0
    assert g.quantize(np.array([[300.0]], np.float16), "f16", 300.0, 0.0)[0, 0] == 127
    # NaN scale / offset -> 0 everywhere
    assert (g.quantize(np.array([[1.0, -5.0]], np.float16), "f16", np.nan, 0.0) == 0).all()
    assert (g.quantize(np.array([[1.0, -5.0]], np.float16), "f16", 1.0, np.nan) == 0).all()
    # scale 1e6 -> float 1e6 -> fp16 inf
    assert g.quantize(np.array([[1.0, -1.0, 0.0]], np.float16), "f16", 1e6, 0.0)[0].tolist() == [127, -128, 0]
    # scale 1e-8 -> fp16 0 (below half the smallest subnormal): everything becomes the offset
    assert float(g.scale_to_f16(1e-8)) == 0.0
    assert g.quantize(np.array([[60000.0]], np.float16), "f16", 1e-8, 3.0)[0, 0] == 3


def test_subnormals_kept():
    # largest fp16 subnormal 1023 * 2^-24 = 6.0976e-5; * 65504 = 3.9941 -> fp16 3.994 -> 4 (0 if flushed)
    x = f16_bits(0x03FF, 0x8200, 0x0001).reshape(1, 3)
    assert g.quantize(x, "f16", 65504.0, 0.0)[0].tolist() == [4, -2, 0]
    # f32 6.0e-5 -> fp16 subnormal 0x03EF (1006.6 * 2^-24 rounds to 1007) -> * 65504 -> 3.93 -> 4
    xf = np.array([[6.0e-5]], np.float32)
    assert np.float16(np.float32(6.0e-5)).view(np.uint16) == 0x03EF
    assert g.quantize(xf, "f32", 65504.0, 0.0)[0, 0] == 4
    # bf16 input carrying a value in fp16's subnormal range
    b = g.f32_to_bf16_bits_rne(np.array([[6.0e-5]], np.float32))
    assert g.quantize(b, "bf16", 65504.0, 0.0)[0, 0] == 4


def test_bf16_conversion():
    bits = np.array([0x3F80, 0xC020, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x4780], np.uint16)
    f = g.bf16_bits_to_f32(bits)
    assert f[0] == 1.0 and f[1] == -2.5 and np.isposinf(f[2]) and np.isneginf(f[3]) and np.isnan(f[4])
    assert f[6] == 65536.0
    assert g.quantize(bits.reshape(1, -1), "bf16", 1.0, 0.0)[0].tolist() == [1, -2, 127, -128, 0, 0, 127]
    # RNE helper used for inputs
    assert g.f32_to_bf16_bits_rne(np.float32(1.0 + 2 ** -8)).item() == 0x3F80      # tie -> even
    assert g.f32_to_bf16_bits_rne(np.float32(1.0 + 3 * 2 ** -8)).item() == 0x3F82  # tie -> even (up)


def test_model_matches_exact_reference_random():
    rng = np.random.default_rng(2024)
    n = 3000
    a = rng.integers(0, 0x10000, n).astype(np.uint16).view(np.float16)
    # scales/offsets: a mix of random doubles and specials
    specials = [0.0, -0.0, 1.0, -1.0, 0.5900879, 1e-8, 65504.0, 1e6, -3.25, np.nan, np.inf, -np.inf]
    for i in range(n):
        if i % 10 == 0:
            s = specials[(i // 10) % len(specials)]
            o = specials[(i // 7) % len(specials)] if i % 3 == 0 else float(rng.standard_normal() * 4)
        else:
            s = float(rng.standard_normal() * 10.0 ** rng.integers(-3, 3))
            o = float(rng.standard_normal() * 3)
        got = g.quantize(a[i:i + 1].reshape(1, 1), "f16", s, o)[0, 0]
        with np.errstate(over="ignore", invalid="ignore"):
            sh = float(np.float16(ref_f32(s) if math.isfinite(s) else s))
            oh = float(np.float16(ref_f32(o) if math.isfinite(o) else o))
        exp = ref_qs(float(a[i]), sh, oh)
        assert got == exp, (a[i], s, o, got, exp)


def test_sort_stability_and_exact_keys():
    # ids differing beyond fp32 precision keep their exact order (decision 3)
    big = 2 ** 24
    expert = np.array([[big + 1, big], [big + 2, -5], [np.iinfo(np.int32).max, np.iinfo(np.int32).min]],
                      dtype=np.int32)
    N, K = expert.shape
    row = g.canonical_row_idx(N, K)
    _, er, ee = g.init_routing(np.zeros((N, 0), np.float16), row, expert, N)
    assert ee.tolist() == [-2 ** 31, -5, big, big + 1, big + 2, 2 ** 31 - 1]
    # perm = flat positions [5,3,1,0,2,4]; rowIdx values (canonical j*N+r): f->(r,j): 5->(2,1)=5, 3->(1,1)=4,
    # 1->(0,1)=3, 0->(0,0)=0, 2->(1,0)=1, 4->(2,0)=2  => sortedRow [5,4,3,0,1,2], inverse:
    assert er.tolist() == [3, 4, 5, 2, 1, 0]
    # all equal ids: identity order by flat position
    expert = np.full((4, 3), 7, np.int32)
    row = g.canonical_row_idx(4, 3)
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    ex, er, ee = g.init_routing(x, row, expert, 4)
    assert ee.tolist() == [7] * 12
    # i-th sorted = flat i = (r=i//3, j=i%3); rowIdx value j*4+r
    sorted_row = [(i % 3) * 4 + i // 3 for i in range(12)]
    inv = [0] * 12
    for i, v in enumerate(sorted_row):
        inv[v] = i
    assert er.tolist() == inv
    assert np.array_equal(ex, x[[v % 4 for v in sorted_row]])


def test_non_permutation_rejected_by_model():
    with pytest.raises(ValueError):
        g.route(np.array([[0, 0]], np.int32), np.array([[1, 2]], np.int32), 1)
    with pytest.raises(ValueError):
        g.route(np.array([[0, 2]], np.int32), np.array([[1, 2]], np.int32), 1)


def test_empty():
    for N, K, H in [(0, 3, 5), (4, 0, 5), (4, 3, 0), (0, 0, 0)]:
        x = np.zeros((N, H), np.float16)
        row = g.canonical_row_idx(N, K)
        expert = np.zeros((N, K), np.int32)
        ex, er, ee = g.init_routing_quant(x, row, expert, N, 1.0, 0.0, "f16")
        assert ex.shape == (N * K if N else 0, H) and ex.dtype == np.int8
        assert er.shape == (N * K,) and ee.shape == (N * K,)
