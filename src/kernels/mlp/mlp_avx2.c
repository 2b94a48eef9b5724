/* Element-wise MLP kernels, avx2 variant: the shared loops of mlp_loops.h at avx2's vector width, with the int8
 * quantization in 8-lane blocks: _mm256_round_ps(TO_NEAREST_INT) ties to even whatever the MXCSR says, after
 * NaN -> 0 and the clamp to [-128, 127] (clamping first gives mr_i8_rne's results: 127.3 and 127 both give 127). */
#include <immintrin.h>
#include <stdint.h>

static inline void mr_mlp_quant8(const float *v, float f, int div, int8_t *y)
{
    __m256 x = _mm256_loadu_ps(v), vf = _mm256_set1_ps(f);
    x = div ? _mm256_div_ps(x, vf) : _mm256_mul_ps(x, vf);
    x = _mm256_and_ps(x, _mm256_cmp_ps(x, x, _CMP_ORD_Q));
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    __m256i q = _mm256_cvtps_epi32(_mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64((__m128i *)(void *)y, _mm_packs_epi16(p16, p16));
}
#define MR_MLP_QUANT_WIDTH 8
#define MR_MLP_QUANT_BLOCK(v, f, div, y) mr_mlp_quant8(v, f, div, y)

/* fp32 -> fp16 by the F16C conversion with the rounding in its immediate (ties to even, overflow to inf, NaN
 * quieted with its payload's top bits: mr_f32_to_f16's results; tests/c/test_mlp_elementwise.c compares) */
#define MR_MLP_NARROW_F16_WIDTH 8
#define MR_MLP_NARROW_F16_BLOCK(s, h)                                                                         \
    _mm_storeu_si128((__m128i *)(void *)(h), _mm256_cvtps_ph(_mm256_loadu_ps(s), _MM_FROUND_TO_NEAREST_INT))

#define MR_MLP_ISA avx2
#include "kernels/mlp/mlp_loops.h"
