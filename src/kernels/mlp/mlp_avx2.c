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

/* SwiGlu of 8 fp16 / bf16 elements: avx512's steps (mlp_avx512.c) at 8 lanes; the bf16 results (at most 0xFFFF)
 * narrowed by an unsigned saturating pack, exact. */
static inline __m128i mr_mlp_swiglu8(int f16, const float *silu, const uint16_t *a, const uint16_t *b)
{
    const __m256i ia = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)a));
    const __m256 s = _mm256_i32gather_ps(silu, ia, 4);
    const __m128i hb = _mm_loadu_si128((const __m128i *)(const void *)b);
    const __m256 vb = f16 ? _mm256_cvtph_ps(hb) : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(hb), 16));
    __m256 r = _mm256_mul_ps(s, vb);
    r = _mm256_blendv_ps(r, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000)), _mm256_cmp_ps(r, r, _CMP_UNORD_Q));
    if (f16) return _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT);
    const __m256i u = _mm256_castps_si256(r);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i h = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF))), 16);
    return _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

static inline void mr_mlp_swiglu32(int f16, const float *silu, const uint16_t *a, const uint16_t *b, uint16_t *d,
                                   int stream)
{
    for (int h = 0; h < 32; h += 16) {
        const __m256i v = _mm256_set_m128i(mr_mlp_swiglu8(f16, silu, a + h + 8, b + h + 8),
                                           mr_mlp_swiglu8(f16, silu, a + h, b + h));
        if (stream)
            _mm256_stream_si256((__m256i *)(void *)(d + h), v);
        else
            _mm256_storeu_si256((__m256i *)(void *)(d + h), v);
    }
}
#define MR_MLP_SWIGLU_STREAM 1
#define MR_MLP_SWIGLU_BLOCK(f16, silu, a, b, d, stream) mr_mlp_swiglu32(f16, silu, a, b, d, stream)

#define MR_MLP_ISA avx2
#include "kernels/mlp/mlp_loops.h"
