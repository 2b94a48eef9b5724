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

/* SwiGlu of 16 fp16 / bf16 elements: SiLU gathered from the table by a's bits, b widened exactly (F16C; bf16
 * by a shift), one multiply, a NaN made the canonical quiet NaN, then the narrowing: F16C with ties to even, or
 * bf16's ties-to-even integer rounding (the canonical NaN gives 0x7FC0 by it too): the element loop's bits. */
static inline __m256i mr_mlp_swiglu16(int f16, const float *silu, const uint16_t *a, const uint16_t *b)
{
    const __m512i ia = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)a));
    const __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)b);
    const __m512 vb = f16 ? _mm512_cvtph_ps(hb) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(hb), 16));
    const __m512 qnan = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000));
    __m512 r = _mm512_mul_ps(_mm512_i32gather_ps(ia, silu, 4), vb);
    r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(r, r, _CMP_UNORD_Q), qnan);
    if (f16) return _mm512_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i u = _mm512_castps_si512(r);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rne = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(rne, 16));
}

static inline void mr_mlp_swiglu32(int f16, const float *silu, const uint16_t *a, const uint16_t *b, uint16_t *d,
                                   int stream)
{
    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(mr_mlp_swiglu16(f16, silu, a, b)),
                                         mr_mlp_swiglu16(f16, silu, a + 16, b + 16), 1);
    if (stream)
        _mm512_stream_si512((void *)d, v);
    else
        _mm512_storeu_si512((void *)d, v);
}
#define MR_MLP_SWIGLU_STREAM 1
#define MR_MLP_SWIGLU_BLOCK(f16, silu, a, b, d, stream) mr_mlp_swiglu32(f16, silu, a, b, d, stream)

#define MR_MLP_ISA avx512
#include "kernels/mlp/mlp_loops.h"
