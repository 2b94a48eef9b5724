/* Dynamic per-row int8 quantization with AVX2 + F16C; equals dquant_scalar.c byte for byte: the loads widen
 * exactly, the smooth multiply and the divide are the same single IEEE fp32 operations, the max skips NaN
 * like the scalar compare (vmaxps returns its second operand when either is NaN), and the rounding is done
 * on exact quantities (trunc, y - trunc(y)). The round-to-odd recipe (one decode shape) stays scalar. */
#include <immintrin.h>

#include "kernels/dquant/dquant_common.h"

#define MR_INLINE static inline __attribute__((always_inline))

MR_INLINE __m256 mr_load8(const void *x, size_t i, mr_xtype t)
{
    switch (t) {
    case MR_X_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)x + i)));
    case MR_X_BF16: {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)x + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    }
    default: return _mm256_loadu_ps((const float *)x + i);
    }
}

MR_INLINE float mr_absmax(const void *x, const float *smooth, size_t n, mr_xtype t)
{
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
    const size_t es = mr_xtype_size(t);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        mr_dq_prefetch(x, i * es, 16 * es);
        __m256 v0 = mr_load8(x, i, t), v1 = mr_load8(x, i + 8, t);
        if (smooth) v0 = _mm256_mul_ps(v0, _mm256_loadu_ps(smooth + i)), v1 = _mm256_mul_ps(v1, _mm256_loadu_ps(smooth + i + 8));
        m0 = _mm256_max_ps(_mm256_and_ps(v0, abs_mask), m0);
        m1 = _mm256_max_ps(_mm256_and_ps(v1, abs_mask), m1);
    }
    /* every lane is a maximum of values >= +0 without NaN, so any order of reduction gives the same value (as in
       dquant_avx512.c) */
    __m256 m8 = _mm256_max_ps(m0, m1);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    return mr_dq_absmax_tail(x, smooth, i, n, t, _mm_cvtss_f32(m4));
}

/* round half away from zero of exact quantities, saturated; NaN -> 0 (as mr_i8_rha in dquant_scalar.c) */
MR_INLINE __m256i mr_rha8(__m256 y)
{
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), mhalf = _mm256_set1_ps(-0.5f);
    __m256 t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_sub_ps(y, t);
    t = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ), one));
    t = _mm256_sub_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, mhalf, _CMP_LE_OQ), one));
    t = _mm256_and_ps(t, _mm256_cmp_ps(y, y, _CMP_ORD_Q));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvttps_epi32(t);
}

MR_INLINE void mr_store8(int8_t *y, __m256i q)
{
    __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64((__m128i *)y, _mm_packs_epi16(p16, p16));
}

MR_INLINE void mr_quant(const void *x, const float *smooth, size_t n, float sc, int8_t *y, mr_xtype t)
{
    const __m256 vs = _mm256_set1_ps(sc);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = mr_load8(x, i, t);
        if (smooth) v = _mm256_mul_ps(v, _mm256_loadu_ps(smooth + i));
        mr_store8(y + i, mr_rha8(_mm256_div_ps(v, vs)));
    }
    mr_dq_quant_tail(x, smooth, i, n, sc, y, t);
}

#define MR_DQ_AVX2(T, XT)                                                                                     \
    float mr_##T##_absmax__avx2(const void *x, const float *smooth, size_t n) { return mr_absmax(x, smooth, n, XT); } \
    void mr_##T##_dquant_i8__avx2(const void *x, const float *smooth, size_t n, float sc, int8_t *y)         \
    {                                                                                                         \
        mr_quant(x, smooth, n, sc, y, XT);                                                                    \
    }

MR_DQ_AVX2(f16, MR_X_F16)
MR_DQ_AVX2(bf16, MR_X_BF16)
MR_DQ_AVX2(f32, MR_X_F32)
