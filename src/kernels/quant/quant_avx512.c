/* Static-quant chain (spec 1.4) with AVX-512 F/BW/VL; equals quant_scalar.c byte for byte.
 *
 * Two paths give the same bytes:
 *  - the exact path does each fp16 rounding with a vcvtps2ph/vcvtph2ps round trip and takes every input and
 *    every parameter;
 *  - the fast path (1.7x to 2.3x the exact path's speed on Zen 4) rounds b and c with mr_round11, two FMAs
 *    that round to 11 significant bits but ignore the fp16 exponent range, and takes bf16 as it is where it
 *    is an fp16 value already. mr_fast_params says for which parameters that is exact for every finite
 *    input, and the vectors of the fast path with an input it may get wrong (NaN, infinity, and for bf16
 *    anything that is not an fp16 value) are redone by the exact chain.
 * Rounding is taken from immediates for every narrowing to fp16, in mr_round11 and for the int8 step; the only
 * MXCSR-rounded step is the fp32 add of b + offset, as in the scalar code (the multiply is exact). No result
 * that is kept passes through an fp32 subnormal, so FTZ and DAZ change nothing either. Tails use masked loads
 * and stores, which neither read nor write (nor fault on) the masked-off lanes. */
#include <immintrin.h>

#include "kernels/kernels.h"

/* A macro, not a const int: the conversion intrinsics need an integer constant expression at -O0 too. */
#define MR_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* The dtype and the vector count must be constants where the kernels are instantiated; left to itself, GCC 12
 * shares one out-of-line copy between the dtypes and switches on the dtype for every vector. */
#define MR_INLINE static inline __attribute__((always_inline))

/* Vectors of 16 elements per block of the fast path: eight independent chains keep the FMA and conversion
 * pipes busy (about 5% faster than four on Zen 4); a block ends in two 64-byte stores. Even, for bf16. */
#define MR_BLOCK_VECS 8

/* ---- input ------------------------------------------------------------------------------------------ */

/* Round floats to fp16 values (held as floats), with the fp16 range: subnormals, overflow to infinity. */
static inline __m512 mr_to_f16val(__m512 v) { return _mm512_cvtph_ps(_mm512_cvtps_ph(v, MR_RNE)); }

/* The elements of x at p selected by m (others read as zero), as fp16 values: a in the chain. */
MR_INLINE __m512 mr_load16(const void *p, __mmask16 m, mr_xtype t)
{
    switch (t) {
    case MR_X_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    case MR_X_BF16: {
        /* bf16 widens to fp32 exactly by moving its bits to the top half of the word. */
        __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
        return mr_to_f16val(_mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    default: return mr_to_f16val(_mm512_maskz_loadu_ps(m, p));
    }
}

/* 32 bf16 elements at p widened to fp32 without a conversion to fp16: the even-numbered elements into *even
 * and the odd-numbered ones into *odd (bf16 is the top half of an fp32 word: the low halves of the 32-bit
 * words move up, the high halves stay). Returns the lanes whose value is not an fp16 value, for which a would
 * differ from x. Every bf16 with exponent in [-17, 15], i.e. 2^-17 <= |x| <= 65280, is an fp16 value: 8
 * significant bits fit fp16's 11 in its normal range, and below 2^-14 a multiple of 2^-24 (fp16's subnormal
 * spacing) down to 2^-17. Zero is one too. The rest (smaller, larger, infinite, NaN) is reported. */
MR_INLINE __mmask32 mr_load32_bf16_split(const void *p, __m512 *even, __m512 *odd)
{
    const __m512i w = _mm512_loadu_si512(p);
    *even = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    *odd = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int)0xFFFF0000u)));
    /* Shifted left by one the sign drops out and the exponent fills the top byte: [-17, 15] is [0x6E, 0x8E]. */
    const __m512i e = _mm512_add_epi16(w, w);
    const __mmask32 nonzero = _mm512_test_epi16_mask(e, e);
    return _mm512_mask_cmpge_epu16_mask(nonzero, _mm512_sub_epi16(e, _mm512_set1_epi16(0x6E00)),
                                        _mm512_set1_epi16(0x2100));
}

/* ---- exact path --------------------------------------------------------------------------------------- */

/* b = f16(a*s), c = f16(b+o), then int8 round-half-even as int32 (range [-128, 127]). */
static inline __m512i mr_chain16_exact(__m512 a, __m512 scale, __m512 offset)
{
    __m512 b = mr_to_f16val(_mm512_mul_ps(a, scale));
    const __m512 sum = _mm512_add_ps(b, offset);
    __m512 c = mr_to_f16val(sum);
    /* The conversion gives INT32_MIN for NaN and infinities: clamp in float first, and zero the NaN lanes
     * through the mask (the clamp itself would turn a NaN into -128). c is NaN where the sum is; testing c
     * itself made clang 14 test each lane in scalar code (about 7x slower). */
    const __mmask16 ordered = _mm512_cmp_ps_mask(sum, sum, _CMP_ORD_Q);
    c = _mm512_min_ps(_mm512_max_ps(c, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
    return _mm512_maskz_cvt_roundps_epi32(ordered, c, MR_RNE);
}

/* ---- fast path ---------------------------------------------------------------------------------------- */

/* v rounded to 11 significant bits, ties to even, for finite v with |v| < 2^31; unlike fp16, no exponent
 * range (no subnormal spacing, no overflow). With m = sign(v) * 2^e, e the exponent of v, the exact sum
 * v + m*2^13 has magnitude in [2^(e+13), 2^(e+13) + 2^(e+1)], inside one binade whose fp32 spacing is
 * 2^(e-10), the spacing of 11 significant bits at v. So the first FMA (one rounding, to nearest even by
 * immediate) rounds v to 11 bits, with ties to even because m*2^13 is an even multiple of that spacing, and
 * the second FMA takes m*2^13 away again exactly. m is v's sign and exponent bits: a power of two >= 2^-48 in
 * this chain (products of fp16 values), or zero for a zero v, which passes unchanged up to the sign of zero,
 * and that sign never reaches the int8 result. Infinity and NaN come out as NaN (inf - inf in the second FMA).
 */
static inline __m512 mr_round11(__m512 v)
{
    const __m512i bits = _mm512_castps_si512(v);
    const __m512 m = _mm512_castsi512_ps(_mm512_and_si512(bits, _mm512_set1_epi32((int)0xFF800000u)));
    const __m512 t = _mm512_fmadd_round_ps(m, _mm512_set1_ps(8192.0f), v, MR_RNE);
    return _mm512_fnmadd_round_ps(m, _mm512_set1_ps(8192.0f), t, MR_RNE);
}

/* Whether the fast chain b' = round11(a*s), c' = round11(b' + o), int8 = rne(c') saturating gives the bytes
 * of the exact chain for every finite fp16 value a. round11 differs from the fp16 rounding only outside the
 * fp16 normal range:
 *  - overflow: where |a*s| >= 65520 the exact b is +-inf, and c = +-inf (o is finite): int8 127 / -128.
 *    b' is then >= 65536 in magnitude with the same sign, and with |o| <= 2^15 the sum b' + o is >= 2^15 in
 *    magnitude (in every MXCSR rounding mode: 2^15 is a float and rounding is monotonic), so c' saturates to
 *    the same byte. Likewise where b + o overflows fp16: c' >= 65536 saturates like the exact c = inf.
 *  - subnormals: where |a*s| < 2^-14, b and b' both lie in [-2^-14, 2^-14], with the sign of a*s or zero,
 *    and the byte does not depend on which of the two: for |o| >= 1/2 the fp16 neighbours of o are at least
 *    2^-12 away (2^-12 just below 1/2), so b + o rounds back to o either way (|b| <= 2^-14 is less than half
 *    of that, and an fp32 rounding of the sum moves it by at most 2^-24 |o|); for |o| < 1/2, |o| <= 1/2 - 2^-12
 *    and |b + o| stays below 1/2 - 2^-13, so c is below 1/2 and the byte 0 either way. (Also checked by brute
 *    force: the byte is monotonic in b, and b = -2^-14, 0, 2^-14 give the same byte for every finite fp16 o
 *    in all four rounding modes.) Where |b + o| < 2^-14 (fp16 subnormal sum) c and c' are both below 1/2 in
 *    magnitude and give 0.
 *  - the int8 step: |s| <= 2^15 keeps |a*s| <= 65504 * 2^15 = 2^31 - 2^20 and so |c'| < 2^31, where
 *    vcvtps2dq is exact: it returns INT32_MIN only for NaN and infinity, which is how the fast path detects
 *    non-finite input after the fact. Out-of-range int32 saturate in the packs like the exact path's clamp.
 * NaN or infinite scale or offset fail the test (comparisons with NaN are false) and take the exact path.
 * Tested over all fp16 inputs with scales and offsets aimed at these edges in tests/c/test_quant_edges.c. */
static inline int mr_fast_params(const mr_quant_params *params)
{
    return params->scale >= -32768.0f && params->scale <= 32768.0f && params->offset >= -32768.0f &&
           params->offset <= 32768.0f;
}

/* Redoes with the exact chain the vectors of a fast block (see mr_fast_vecs) that the fast chain may have got
 * wrong. Out of line: it runs only for blocks with NaN, infinite or (bf16) not-fp16 elements. */
static __attribute__((noinline)) void mr_fast_fixup(const char *p, int nvec, __mmask16 last, mr_xtype t,
                                                    size_t esize, int bf16_split, __m512 scale, __m512 offset,
                                                    __m512i *q)
{
    for (int k = 0; k < nvec; k += 1 + bf16_split) {
        const char *pk = p + 16 * k * esize;
        if (bf16_split) {
            __m512 even, odd;
            if (mr_load32_bf16_split(pk, &even, &odd) == 0) continue;
            q[k] = mr_chain16_exact(mr_to_f16val(even), scale, offset);
            q[k + 1] = mr_chain16_exact(mr_to_f16val(odd), scale, offset);
        } else if (_mm512_cmpeq_epi32_mask(q[k], _mm512_set1_epi32(INT32_MIN)) != 0) {
            q[k] = mr_chain16_exact(mr_load16(pk, k == nvec - 1 ? last : 0xFFFF, t), scale, offset);
        }
    }
}

/* nvec vectors of x at p through the fast chain into q (int32, to be saturated); the last vector reads only
 * the lanes in `last`. The steps run across all vectors in turn so that the independent chains interleave.
 * bf16 blocks (nvec even, all lanes) skip the conversion to fp16: q[k], q[k+1] for even k then hold the even-
 * and odd-numbered elements of the 32 at element 16*k (see mr_store64_bf16), and a pair with an element that
 * is not an fp16 value is redone by the exact chain. In other blocks a vector is redone if one of its results
 * is INT32_MIN, which only a NaN or infinite element gives (a NaN, or an infinity that mr_round11 turns into
 * NaN; finite elements stay below 2^31 by mr_fast_params). */
MR_INLINE void mr_fast_vecs(const char *p, int nvec, __mmask16 last, mr_xtype t, size_t esize, __m512 scale,
                            __m512 offset, __m512i *q)
{
    const int bf16_split = t == MR_X_BF16 && nvec % 2 == 0 && last == 0xFFFF;
    __m512 v[MR_BLOCK_VECS];
    __mmask32 not_f16 = 0;
    if (bf16_split) {
        for (int k = 0; k < nvec; k += 2) not_f16 |= mr_load32_bf16_split(p + 16 * k * esize, &v[k], &v[k + 1]);
    } else {
        for (int k = 0; k < nvec; k++) v[k] = mr_load16(p + 16 * k * esize, k == nvec - 1 ? last : 0xFFFF, t);
    }
    for (int k = 0; k < nvec; k++) v[k] = mr_round11(_mm512_mul_ps(v[k], scale));  /* b; exact product */
    for (int k = 0; k < nvec; k++) v[k] = mr_round11(_mm512_add_ps(v[k], offset)); /* c; MXCSR add    */
    for (int k = 0; k < nvec; k++) q[k] = _mm512_cvt_roundps_epi32(v[k], MR_RNE);
    int redo;
    if (bf16_split) {
        redo = not_f16 != 0;
    } else {
        __m512i lo = q[0];
        for (int k = 1; k < nvec; k++) lo = _mm512_min_epi32(lo, q[k]);
        redo = _mm512_cmpeq_epi32_mask(lo, _mm512_set1_epi32(INT32_MIN)) != 0;
    }
    if (redo) {
        /* On a copy: handing q itself to the out-of-line fix-up would keep it in memory on the common path. */
        __m512i fixed[MR_BLOCK_VECS];
        for (int k = 0; k < nvec; k++) fixed[k] = q[k];
        mr_fast_fixup(p, nvec, last, t, esize, bf16_split, scale, offset, fixed);
        for (int k = 0; k < nvec; k++) q[k] = fixed[k];
    }
}

/* Four int32 vectors of 16 consecutive elements each -> 64 int8 at y, saturating. The packs work per 128-bit
 * lane, leaving 4-byte groups in the order q0 q1 q2 q3 of lane 0, then of lane 1, ...; the permute restores
 * element order. */
static inline void mr_store64(int8_t *y, const __m512i *q)
{
    const __m512i p8 = _mm512_packs_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_storeu_si512(y, _mm512_permutexvar_epi32(order, p8));
}

/* The same for q0/q1 = even/odd elements 0..31 and q2/q3 = even/odd elements 32..63 (mr_load32_bf16_split).
 * 128-bit lane L of the packed bytes holds elements 8L + {0,2,4,6,1,3,5,7} and 32 + 8L + {the same}; the
 * byte shuffle puts each group of eight in order, and the permute the eight-byte groups. */
static inline void mr_store64_bf16(int8_t *y, const __m512i *q)
{
    __m512i p8 = _mm512_packs_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3]));
    const __m128i in8 = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
    p8 = _mm512_shuffle_epi8(p8, _mm512_broadcast_i32x4(in8));
    _mm512_storeu_si512(y, _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), p8));
}

MR_INLINE void mr_quant(const void *x, int8_t *y, size_t n, const mr_quant_params *params, mr_xtype t,
                        size_t esize)
{
    const __m512 scale = _mm512_set1_ps(params->scale);
    const __m512 offset = _mm512_set1_ps(params->offset);
    const char *src = (const char *)x;
    size_t i = 0;
    if (mr_fast_params(params)) {
        __m512i q[MR_BLOCK_VECS];
        for (; n - i >= 16 * MR_BLOCK_VECS; i += 16 * MR_BLOCK_VECS) {
            mr_fast_vecs(src + i * esize, MR_BLOCK_VECS, 0xFFFF, t, esize, scale, offset, q);
            for (int k = 0; k < MR_BLOCK_VECS; k += 4) {
                if (t == MR_X_BF16) mr_store64_bf16(y + i + 16 * k, q + k);
                else mr_store64(y + i + 16 * k, q + k);
            }
        }
        for (; i < n; i += 16) {
            const size_t rem = n - i;
            const __mmask16 m = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1u);
            mr_fast_vecs(src + i * esize, 1, m, t, esize, scale, offset, q);
            _mm512_mask_cvtsepi32_storeu_epi8(y + i, m, q[0]);
        }
        return;
    }
    /* Exact path, four vectors per iteration (about 10% faster than one). */
    for (; n - i >= 64; i += 64) {
        for (int k = 0; k < 4; k++) {
            const __m512 a = mr_load16(src + (i + 16 * k) * esize, 0xFFFF, t);
            _mm_storeu_si128((__m128i *)(y + i + 16 * k), _mm512_cvtepi32_epi8(mr_chain16_exact(a, scale, offset)));
        }
    }
    for (; i < n; i += 16) {
        const size_t rem = n - i;
        const __mmask16 m = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1u);
        _mm512_mask_cvtepi32_storeu_epi8(y + i, m, mr_chain16_exact(mr_load16(src + i * esize, m, t), scale, offset));
    }
}

void mr_f16_quant_i8__avx512(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_F16, sizeof(uint16_t));
}

void mr_bf16_quant_i8__avx512(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_BF16, sizeof(uint16_t));
}

void mr_f32_quant_i8__avx512(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_F32, sizeof(float));
}
