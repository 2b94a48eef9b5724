/* Element-wise MLP kernels, avx512 variant: the shared loops of mlp_loops.h at avx512's vector width, with the
 * int8 quantization in 16-lane blocks: _mm512_roundscale_ps(TO_NEAREST_INT) ties to even whatever the MXCSR says,
 * after NaN -> 0 and the clamp to [-128, 127] (clamping first gives mr_i8_rne's results). */
#include <immintrin.h>
#include <stdint.h>

static inline void mr_mlp_quant16(const float *v, float f, int div, int8_t *y)
{
    __m512 x = _mm512_loadu_ps(v), vf = _mm512_set1_ps(f);
    x = div ? _mm512_div_ps(x, vf) : _mm512_mul_ps(x, vf);
    x = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), x);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
    __m512i q = _mm512_cvtps_epi32(_mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm_storeu_si128((__m128i *)(void *)y, _mm512_cvtsepi32_epi8(q));
}
#define MR_MLP_QUANT_WIDTH 16
#define MR_MLP_QUANT_BLOCK(v, f, div, y) mr_mlp_quant16(v, f, div, y)

#define MR_MLP_ISA avx512
#include "kernels/mlp/mlp_loops.h"
