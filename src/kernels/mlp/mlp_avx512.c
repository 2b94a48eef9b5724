/* Element-wise MLP kernels, avx512 variant: the shared loops of mlp_loops.h at avx512's vector width, with the
 * int8 quantization in 16-lane blocks: values above 127 clamped to 127, then one conversion with embedded
 * ties-to-even rounding (whatever the MXCSR says) that zeroes the NaN lanes by mask; values below -128 convert to
 * at most -129 or to INT32_MIN (beyond 2^31, -inf), and the saturating narrowing gives -128: mr_i8_rne's results. */
#include <immintrin.h>
#include <stdint.h>

static inline __m128i mr_mlp_q16(const float *v, __m512 vf, int div)
{
    __m512 x = _mm512_loadu_ps(v);
    x = div ? _mm512_div_ps(x, vf) : _mm512_mul_ps(x, vf);
    const __mmask16 ord = _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q);
    /* above 127 -> 127; below -128 the conversion saturates (or gives INT32_MIN) and the narrowing clamps */
    x = _mm512_min_ps(x, _mm512_set1_ps(127.0f));
    const __m512i q = _mm512_maskz_cvt_roundps_epi32(ord, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_cvtsepi32_epi8(q);
}

static inline void mr_mlp_quant16(const float *v, float f, int div, int8_t *y)
{
    _mm_storeu_si128((__m128i *)(void *)y, mr_mlp_q16(v, _mm512_set1_ps(f), div));
}

#define MR_MLP_QUANT_WIDTH 16
#define MR_MLP_QUANT_BLOCK(v, f, div, y) mr_mlp_quant16(v, f, div, y)

/* fp32 -> fp16 by the F16C conversion with the rounding in its immediate (ties to even, overflow to inf, NaN
 * quieted with its payload's top bits: mr_f32_to_f16's results; tests/c/test_mlp_elementwise.c compares) */
#define MR_MLP_NARROW_F16_WIDTH 16
#define MR_MLP_NARROW_F16_BLOCK(s, h)                                                                         \
    _mm256_storeu_si256((__m256i *)(void *)(h),                                                               \
                        _mm512_cvtps_ph(_mm512_loadu_ps(s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))

#define MR_MLP_ISA avx512
#include "kernels/mlp/mlp_loops.h"
