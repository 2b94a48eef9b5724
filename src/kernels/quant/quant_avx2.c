/* Static-quant chain (spec 1.4) with AVX2 + F16C; equals quant_scalar.c byte for byte.
 * Every narrowing to fp16 is a real vcvtps2ph with the rounding in the immediate, so it is round-to-nearest-
 * even whatever MXCSR says. The only MXCSR-rounded step is the fp32 add of b + offset, which the scalar code
 * does with the same fp32 add; the multiply is exact in fp32 and the int8 step rounds by immediate. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels.h"

/* A macro, not a const int: the conversion intrinsics need an integer constant expression at -O0 too. */
#define MR_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* Elements per block: four 8-lane vectors make one 32-byte store. */
#define MR_BLOCK 32

/* Round floats to fp16 values (held as floats). */
static inline __m256 mr_to_f16val(__m256 v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, MR_RNE)); }

/* Eight x elements from p, as fp16 values: a in the chain. */
static inline __m256 mr_load8(const void *p, mr_xtype t)
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

/* b = f16(a*s), c = f16(b+o), then int8 round-half-even as int32 (range [-128, 127]). */
static inline __m256i mr_chain8(__m256 a, __m256 scale, __m256 offset)
{
    __m256 b = mr_to_f16val(_mm256_mul_ps(a, scale));
    __m256 c = mr_to_f16val(_mm256_add_ps(b, offset));
    /* Zero NaNs first: min/max return their second operand when one is NaN, so a NaN would survive the
     * clamp as -128, and cvttps2dq turns NaN and infinities into INT32_MIN. */
    c = _mm256_and_ps(c, _mm256_cmp_ps(c, c, _CMP_ORD_Q));
    c = _mm256_min_ps(_mm256_max_ps(c, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    /* Rounded by immediate, so the truncating conversion after it is exact. */
    return _mm256_cvttps_epi32(_mm256_round_ps(c, MR_RNE));
}

/* MR_BLOCK elements of x at p -> MR_BLOCK int8 in element order. */
static inline __m256i mr_block(const void *p, mr_xtype t, size_t esize, __m256 scale, __m256 offset)
{
    const char *c = (const char *)p;
    __m256i v0 = mr_chain8(mr_load8(c, t), scale, offset);
    __m256i v1 = mr_chain8(mr_load8(c + 8 * esize, t), scale, offset);
    __m256i v2 = mr_chain8(mr_load8(c + 16 * esize, t), scale, offset);
    __m256i v3 = mr_chain8(mr_load8(c + 24 * esize, t), scale, offset);
    /* The packs work per 128-bit lane, leaving 4-byte groups in the order v0lo v1lo v2lo v3lo v0hi v1hi
     * v2hi v3hi; the permute restores element order. Values are in range, so saturation never acts. */
    __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));
    return _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline void mr_quant(const void *x, int8_t *y, size_t n, const mr_quant_params *params, mr_xtype t,
                            size_t esize)
{
    const __m256 scale = _mm256_set1_ps(params->scale);
    const __m256 offset = _mm256_set1_ps(params->offset);
    const char *src = (const char *)x;
    size_t i = 0;
    for (; n - i >= MR_BLOCK; i += MR_BLOCK)
        _mm256_storeu_si256((__m256i *)(y + i), mr_block(src + i * esize, t, esize, scale, offset));
    if (i < n) {
        /* The tail goes through zero-padded local copies so that no byte outside x[0..n) or y[0..n) is
         * touched (x may end right before an unmapped page). */
        const size_t rem = n - i;
        unsigned char in[MR_BLOCK * sizeof(float)] = {0};
        int8_t out[MR_BLOCK];
        memcpy(in, src + i * esize, rem * esize);
        _mm256_storeu_si256((__m256i *)out, mr_block(in, t, esize, scale, offset));
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
