/* Static-quant chain (spec 1.4) with AVX2 + F16C; equals quant_scalar.c byte for byte.
 *
 * Two paths give the same bytes:
 *  - the exact path makes every narrowing to fp16 a real vcvtps2ph with the rounding in the immediate, so it
 *    is round-to-nearest-even whatever MXCSR says; the only MXCSR-rounded step is the fp32 add of b + offset,
 *    which the scalar code does with the same fp32 add (the multiply is exact, the int8 step rounds by
 *    immediate). It takes every input, parameter and MXCSR state.
 *  - the fast path (1.6x to 2.2x the exact path's speed on Zen 4) rounds b and c to 11 significant bits with
 *    an add and a subtract (mr_round11) that ignore the fp16 exponent range, converts to int32 with
 *    vcvtps2dq, and takes bf16 as it is where it is an fp16 value already. The add, subtract and conversion
 *    need MXCSR to round to nearest, which is checked once per call (with the directed modes everything takes
 *    the exact path); flush-to-zero and denormals-are-zero change nothing, as no kept result passes through an
 *    fp32 subnormal. For which parameters the shortcut is exact on every finite input: mr_fast_params in
 *    quant_avx512.c, whose argument holds here word for word (same bound, same chain). Vectors with a NaN or
 *    infinite element, or for bf16 one that is not an fp16 value, are redone by the exact chain; what is left
 *    after the fast blocks (under 64 elements) takes the exact path. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

/* A macro, not a const int: the conversion intrinsics need an integer constant expression at -O0 too. */
#define MR_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* The dtype must be a constant where the kernels are instantiated (GCC 12 otherwise shares one copy between
 * the dtypes and switches on the dtype for every vector). */
#define MR_INLINE static inline __attribute__((always_inline))

/* Elements per block of the exact path: four 8-lane vectors make one 32-byte store. */
#define MR_BLOCK 32

/* Blocks of the exact path per block of the fast path: eight independent chains (about 4% faster than four
 * on Zen 4). */
#define MR_FAST_BLOCKS 2

/* Round floats to fp16 values (held as floats). */
static inline __m256 mr_to_f16val(__m256 v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, MR_RNE)); }

/* Eight x elements from p, as fp16 values: a in the chain. Both paths need a exactly (a*s is exact only for
 * fp16 a), so f32 and bf16 take a real conversion to fp16. */
MR_INLINE __m256 mr_load8(const void *p, mr_xtype t)
{
    switch (t) {
    case MR_X_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case MR_X_BF16: {
        /* bf16 widens to fp32 exactly by moving its bits to the top half of the word. */
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
        return mr_to_f16val(_mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    default: return mr_to_f16val(_mm256_loadu_ps((const float *)p));
    }
}

/* Four int32 vectors of 8 consecutive elements each -> 32 int8 in element order, saturating. The packs work
 * per 128-bit lane, leaving 4-byte groups in the order v0lo v1lo v2lo v3lo v0hi v1hi v2hi v3hi; the permute
 * restores element order. */
static inline __m256i mr_pack32(const __m256i *v)
{
    __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    return _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* 16 bf16 elements at p widened to fp32 without a conversion to fp16: the even-numbered elements into *even
 * and the odd-numbered ones into *odd (bf16 is the top half of an fp32 word: the low halves of the 32-bit
 * words move up, the high halves stay). Returns zero iff all 16 are fp16 values, so that a = x: see
 * mr_load32_bf16_split in quant_avx512.c for that range, bf16 exponents [-17, 15] and zero. */
static inline __m256i mr_load16_bf16_split(const void *p, __m256 *even, __m256 *odd)
{
    const __m256i w = _mm256_loadu_si256((const __m256i *)p);
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    *odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int)0xFFFF0000u)));
    /* Shifted left by one the sign drops out and the exponent fills the top byte: [-17, 15] is e in
     * [0x6E00, 0x8EFF]. d is zero exactly there, and the min with e also lets zero through. */
    const __m256i e = _mm256_add_epi16(w, w);
    const __m256i d = _mm256_subs_epu16(_mm256_sub_epi16(e, _mm256_set1_epi16(0x6E00)), _mm256_set1_epi16(0x20FF));
    return _mm256_min_epu16(d, e);
}

/* mr_pack32 for v0/v1 = even/odd elements 0..15 and v2/v3 = even/odd elements 16..31 (mr_load16_bf16_split).
 * 128-bit lane L of the packed bytes holds elements 8L + {0,2,4,6,1,3,5,7} and 16 + 8L + {the same}; the byte
 * shuffle puts each group of eight in order, and the permute the eight-byte groups. */
static inline __m256i mr_pack32_bf16(const __m256i *v)
{
    __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    const __m128i in8 = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
    p8 = _mm256_shuffle_epi8(p8, _mm256_broadcastsi128_si256(in8));
    return _mm256_permute4x64_epi64(p8, 0xD8); /* qwords 0 2 1 3 */
}

/* ---- exact path --------------------------------------------------------------------------------------- */

/* b = f16(a*s), c = f16(b+o), then int8 round-half-even as int32 (range [-128, 127]). */
static inline __m256i mr_chain8_exact(__m256 a, __m256 scale, __m256 offset)
{
    __m256 b = mr_to_f16val(_mm256_mul_ps(a, scale));
    const __m256 sum = _mm256_add_ps(b, offset);
    __m256 c = mr_to_f16val(sum);
    /* Zero NaNs first: min/max return their second operand when one is NaN, so a NaN would survive the
     * clamp as -128, and cvttps2dq turns NaN and infinities into INT32_MIN. c is NaN where the sum is;
     * testing c itself made clang 14 test each lane in scalar code (about 4x slower). */
    c = _mm256_and_ps(c, _mm256_cmp_ps(sum, sum, _CMP_ORD_Q));
    c = _mm256_min_ps(_mm256_max_ps(c, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    /* Rounded by immediate, so the truncating conversion after it is exact. */
    return _mm256_cvttps_epi32(_mm256_round_ps(c, MR_RNE));
}

/* MR_BLOCK elements of x at p -> MR_BLOCK int8 in element order. */
MR_INLINE __m256i mr_block_exact(const void *p, mr_xtype t, size_t esize, __m256 scale, __m256 offset)
{
    const char *c = (const char *)p;
    __m256i v[4];
    for (int k = 0; k < 4; k++) v[k] = mr_chain8_exact(mr_load8(c + 8 * k * esize, t), scale, offset);
    return mr_pack32(v);
}

/* ---- fast path ---------------------------------------------------------------------------------------- */

/* v rounded to 11 significant bits, ties to even, for finite v with |v| < 2^31, MXCSR rounding to nearest;
 * unlike fp16, no exponent range. With m = sign(v) * 2^(e+13), e the exponent of v (v's sign and exponent
 * bits, 13 added to the exponent), the exact sum v + m has magnitude in [2^(e+13), 2^(e+13) + 2^(e+1)],
 * inside one binade whose fp32 spacing is 2^(e-10), the spacing of 11 significant bits at v. So the add
 * rounds v to 11 bits, with ties to even because m is an even multiple of that spacing, and the subtract
 * takes m away again exactly. In this chain v is a product of fp16 values or a sum with one, so m is at
 * least 2^-35, never subnormal (2^-114 for a zero v, which comes back as zero, up to the sign of zero, which
 * never reaches the int8 result). Infinity and NaN pass unchanged (m is then a tiny finite number). */
static inline __m256 mr_round11(__m256 v)
{
    const __m256i e = _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32((int)0xFF800000u));
    const __m256 m = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_set1_epi32(13 << 23)));
    return _mm256_sub_ps(_mm256_add_ps(v, m), m);
}

/* See mr_fast_params in quant_avx512.c: |scale| and |offset| at most 2^15, and neither NaN nor infinite. */
static inline int mr_fast_params(const mr_quant_params *params)
{
    return params->scale >= -32768.0f && params->scale <= 32768.0f && params->offset >= -32768.0f &&
           params->offset <= 32768.0f;
}

/* nvec int32 vectors (a multiple of 4) of a fast block (see mr_fast_block) -> int8 at y, saturating. */
MR_INLINE void mr_store_fast(int8_t *y, const __m256i *q, int nvec, mr_xtype t)
{
    for (int k = 0; k < nvec; k += 4) {
        if (t == MR_X_BF16) _mm256_storeu_si256((__m256i *)(y + 8 * k), mr_pack32_bf16(q + k));
        else _mm256_storeu_si256((__m256i *)(y + 8 * k), mr_pack32(q + k));
    }
}

/* Redoes with the exact chain the vectors of a fast block (see mr_fast_block) that the fast chain may have
 * got wrong. Out of line: it runs only for blocks with NaN, infinite or (bf16) not-fp16 elements. */
static __attribute__((noinline)) void mr_fast_fixup(const char *p, int nvec, mr_xtype t, size_t esize,
                                                    __m256 scale, __m256 offset, __m256i *q)
{
    const int bf16 = t == MR_X_BF16;
    for (int k = 0; k < nvec; k += 1 + bf16) {
        const char *pk = p + 8 * k * esize;
        if (bf16) {
            __m256 even, odd;
            const __m256i not_f16 = mr_load16_bf16_split(pk, &even, &odd);
            if (_mm256_testz_si256(not_f16, not_f16)) continue;
            q[k] = mr_chain8_exact(mr_to_f16val(even), scale, offset);
            q[k + 1] = mr_chain8_exact(mr_to_f16val(odd), scale, offset);
        } else if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(q[k], _mm256_set1_epi32(INT32_MIN))) != 0) {
            q[k] = mr_chain8_exact(mr_load8(pk, t), scale, offset);
        }
    }
}

/* MR_FAST_BLOCKS * MR_BLOCK elements of x at p through the fast chain into y. The steps run across all vectors
 * in turn so that the independent chains interleave.
 * bf16 skips the conversion to fp16: v[k], v[k+1] for even k then hold the even- and odd-numbered elements of
 * the 16 at element 8*k, and a pair with an element that is not an fp16 value is redone by the exact chain.
 * For the other types a vector is redone if one of its results is INT32_MIN, which only a NaN or infinite
 * element gives (vcvtps2dq's answer for those; finite elements stay below 2^31 by mr_fast_params). */
MR_INLINE void mr_fast_block(const char *p, int8_t *y, mr_xtype t, size_t esize, __m256 scale, __m256 offset)
{
    enum { NV = 4 * MR_FAST_BLOCKS };
    __m256 v[NV];
    __m256i q[NV];
    __m256i not_f16 = _mm256_setzero_si256();
    if (t == MR_X_BF16) {
        for (int k = 0; k < NV; k += 2)
            not_f16 = _mm256_or_si256(not_f16, mr_load16_bf16_split(p + 8 * k * esize, &v[k], &v[k + 1]));
    } else {
        for (int k = 0; k < NV; k++) v[k] = mr_load8(p + 8 * k * esize, t);
    }
    for (int k = 0; k < NV; k++) v[k] = mr_round11(_mm256_mul_ps(v[k], scale));  /* b; exact product */
    for (int k = 0; k < NV; k++) v[k] = mr_round11(_mm256_add_ps(v[k], offset)); /* c               */
    for (int k = 0; k < NV; k++) q[k] = _mm256_cvtps_epi32(v[k]);                /* MXCSR: nearest  */
    int redo;
    if (t == MR_X_BF16) {
        redo = !_mm256_testz_si256(not_f16, not_f16);
    } else {
        __m256i lo = q[0];
        for (int k = 1; k < NV; k++) lo = _mm256_min_epi32(lo, q[k]);
        redo = _mm256_movemask_epi8(_mm256_cmpeq_epi32(lo, _mm256_set1_epi32(INT32_MIN))) != 0;
    }
    if (redo) {
        /* On a copy: handing q itself to the out-of-line fix-up would keep it in memory on the common path. */
        __m256i fixed[NV];
        for (int k = 0; k < NV; k++) fixed[k] = q[k];
        mr_fast_fixup(p, NV, t, esize, scale, offset, fixed);
        mr_store_fast(y, fixed, NV, t);
    } else {
        mr_store_fast(y, q, NV, t);
    }
}

MR_INLINE void mr_quant(const void *x, int8_t *y, size_t n, const mr_quant_params *params, mr_xtype t,
                        size_t esize)
{
    const __m256 scale = _mm256_set1_ps(params->scale);
    const __m256 offset = _mm256_set1_ps(params->offset);
    const char *src = (const char *)x;
    size_t i = 0;
    /* MXCSR bits 13-14: rounding control, 0 for round to nearest. */
    if (mr_fast_params(params) && (_mm_getcsr() & 0x6000u) == 0) {
        for (; n - i >= MR_FAST_BLOCKS * MR_BLOCK; i += MR_FAST_BLOCKS * MR_BLOCK)
            mr_fast_block(src + i * esize, y + i, t, esize, scale, offset);
    }
    for (; n - i >= MR_BLOCK; i += MR_BLOCK)
        _mm256_storeu_si256((__m256i *)(y + i), mr_block_exact(src + i * esize, t, esize, scale, offset));
    if (i < n) {
        /* The tail goes through zero-padded local copies so that no byte outside x[0..n) or y[0..n) is
         * touched (x may end right before an unmapped page). */
        const size_t rem = n - i;
        unsigned char in[MR_BLOCK * sizeof(float)] = {0};
        int8_t out[MR_BLOCK];
        memcpy(in, src + i * esize, rem * esize);
        _mm256_storeu_si256((__m256i *)out, mr_block_exact(in, t, esize, scale, offset));
        memcpy(y + i, out, rem);
    }
}

void mr_f16_quant_i8__avx2(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_F16, sizeof(uint16_t));
}

void mr_bf16_quant_i8__avx2(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_BF16, sizeof(uint16_t));
}

void mr_f32_quant_i8__avx2(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_F32, sizeof(float));
}
