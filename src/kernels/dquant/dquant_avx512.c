/* Dynamic per-row int8 quantization with AVX-512 F (+ F16C); equals dquant_scalar.c byte for byte: the loads widen
 * exactly, the smooth multiply and the divide are the same single IEEE fp32 operations, the max skips NaN
 * like the scalar compare (vmaxps returns its second operand when either is NaN), and the rounding is done
 * on exact quantities (trunc, y - trunc(y)). The round-to-odd recipe (one decode shape) stays scalar. */
#include <immintrin.h>

#include "kernels/dquant/dquant_common.h"

#define MR_INLINE static inline __attribute__((always_inline))

MR_INLINE __m512 mr_load16(const void *x, size_t i, mr_xtype t)
{
    switch (t) {
    case MR_X_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)x + i)));
    case MR_X_BF16: {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)x + i)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    }
    default: return _mm512_loadu_ps((const float *)x + i);
    }
}

MR_INLINE float mr_absmax(const void *x, const float *smooth, size_t n, mr_xtype t)
{
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
    size_t i = 0;
    const size_t es = mr_xtype_size(t);
    for (; i + 32 <= n; i += 32) {
        mr_dq_prefetch(x, i * es, 32 * es);
        __m512 v0 = mr_load16(x, i, t), v1 = mr_load16(x, i + 16, t);
        if (smooth) v0 = _mm512_mul_ps(v0, _mm512_loadu_ps(smooth + i)), v1 = _mm512_mul_ps(v1, _mm512_loadu_ps(smooth + i + 16));
        /* vmaxps keeps the second operand when the first is NaN, like the scalar compare */
        m0 = _mm512_max_ps(_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v0), _mm512_castps_si512(abs_mask))), m0);
        m1 = _mm512_max_ps(_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v1), _mm512_castps_si512(abs_mask))), m1);
    }
    /* every lane is a maximum of values >= +0 without NaN, so any order of reduction gives the same value; a tree
       of vector maxima instead of a chain of 32 scalar ones after a store (which cost as much as 512 elements) */
    return mr_dq_absmax_tail(x, smooth, i, n, t, _mm512_reduce_max_ps(_mm512_max_ps(m0, m1)));
}

/* round half away from zero of exact quantities, saturated; NaN -> 0 (as mr_i8_rha in dquant_scalar.c) */
MR_INLINE __m128i mr_rha16(__m512 y)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 t = _mm512_roundscale_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_sub_ps(y, t);
    t = _mm512_mask_add_ps(t, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ), t, one);
    t = _mm512_mask_sub_ps(t, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(-0.5f), _CMP_LE_OQ), t, one);
    t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, y, _CMP_ORD_Q), t);
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
    return _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(t));
}

MR_INLINE void mr_quant(const void *x, const float *smooth, size_t n, float sc, int8_t *y, mr_xtype t)
{
    const __m512 vs = _mm512_set1_ps(sc);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = mr_load16(x, i, t);
        if (smooth) v = _mm512_mul_ps(v, _mm512_loadu_ps(smooth + i));
        _mm_storeu_si128((__m128i *)(y + i), mr_rha16(_mm512_div_ps(v, vs)));
    }
    mr_dq_quant_tail(x, smooth, i, n, sc, y, t);
}

#define MR_DQ_AVX512(T, XT)                                                                                     \
    float mr_##T##_absmax__avx512(const void *x, const float *smooth, size_t n) { return mr_absmax(x, smooth, n, XT); } \
    void mr_##T##_dquant_i8__avx512(const void *x, const float *smooth, size_t n, float sc, int8_t *y)         \
    {                                                                                                         \
        mr_quant(x, smooth, n, sc, y, XT);                                                                    \
    }

MR_DQ_AVX512(f16, MR_X_F16)
MR_DQ_AVX512(bf16, MR_X_BF16)
MR_DQ_AVX512(f32, MR_X_F32)
