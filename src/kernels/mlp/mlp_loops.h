/* The loops of the element-wise MLP family (mlp.h), compiled once per ISA file with MR_MLP_ISA set to its
 * suffix. Like kernels/act/act_loops.h the files get -ftree-vectorize -fno-trapping-math (src/CMakeLists.txt):
 * the compiler vectorizes and if-converts, and no result changes (IEEE operations element by element,
 * -ffp-contract=off everywhere). The int8 rounding is kernels/int8_round.h's mr_i8_rne, which GCC 12 does not
 * vectorize, so the AVX2 / AVX-512 files supply an intrinsics block for it (below); the fp16 widening and the bf16 narrowing are branch-free forms
 * of common/fp16.h's conversions with the same results, so that they vectorize; tests/c/test_mlp_elementwise.c
 * checks them against those over every fp16 value and many fp32 ones. */
#include <string.h>

#include "common/fp16.h"
#include "kernels/int8_round.h"
#include "kernels/math/mr_math.h"
#include "kernels/mlp/mlp.h"

#ifndef MR_MLP_LOOPS_ONCE
#define MR_MLP_LOOPS_ONCE
/* binary16 bits -> binary32: the exponent and mantissa moved into place and scaled by 2^112 (exact, subnormals
 * included); inf / NaN get the all-ones exponent */
static inline float mr_mlp_f16_to_f32(uint16_t h)
{
    const uint32_t em = (uint32_t)(h & 0x7FFFu) << 13;
    float f = mr_f32_from_bits(em) * 0x1p112f;
    uint32_t r = mr_f32_bits(f);
    r = (h & 0x7C00u) == 0x7C00u ? (em | 0x7F800000u) : r;
    return mr_f32_from_bits(r | ((uint32_t)(h & 0x8000u) << 16));
}

/* binary32 -> bfloat16, ties to even, NaN kept quiet (mr_f32_to_bf16) */
static inline uint16_t mr_mlp_f32_to_bf16(float f)
{
    const uint32_t u = mr_f32_bits(f);
    const uint32_t rne = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16, qnan = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? qnan : rne);
}
#endif

#define MR_MLP_CAT2(a, b) a##__##b
#define MR_MLP_CAT(a, b) MR_MLP_CAT2(a, b)

void MR_MLP_CAT(mr_f32_mul, MR_MLP_ISA)(const float *a, const float *b, float *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = a[i] * b[i];
}

void MR_MLP_CAT(mr_f32_add, MR_MLP_ISA)(const float *a, const float *b, float *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = a[i] + b[i];
}

void MR_MLP_CAT(mr_f32_affine, MR_MLP_ISA)(float *v, float s, int add, float o, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = v[i] * s;
    if (add)
        for (size_t i = 0; i < n; i++) v[i] = v[i] + o;
}

void MR_MLP_CAT(mr_f32_swiglu, MR_MLP_ISA)(const float *a, const float *b, float *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = mr_siluf(a[i]) * b[i];
}

/* An ISA file may define MR_MLP_QUANT_BLOCK(v, f, div, y) converting MR_MLP_QUANT_WIDTH elements with its
 * intrinsics (one fp32 multiply or division, then ties-to-even by an explicit rounding instruction, saturation,
 * NaN -> 0: mr_i8_rne's results); the rest goes through mr_i8_rne. */
#ifndef MR_MLP_QUANT_WIDTH
#define MR_MLP_QUANT_WIDTH 1
#define MR_MLP_QUANT_BLOCK(v, f, div, y) (*(y) = mr_i8_rne((div) ? *(v) / (f) : *(v) * (f)))
#endif

void MR_MLP_CAT(mr_f32_quant_mul_i8, MR_MLP_ISA)(const float *restrict v, float f, int8_t *restrict y, size_t n)
{
    size_t i = 0;
    for (; i + MR_MLP_QUANT_WIDTH <= n; i += MR_MLP_QUANT_WIDTH) MR_MLP_QUANT_BLOCK(v + i, f, 0, y + i);
    for (; i < n; i++) y[i] = mr_i8_rne(v[i] * f);
}

void MR_MLP_CAT(mr_f32_quant_div_i8, MR_MLP_ISA)(const float *restrict v, float s, int8_t *restrict y, size_t n)
{
    size_t i = 0;
    for (; i + MR_MLP_QUANT_WIDTH <= n; i += MR_MLP_QUANT_WIDTH) MR_MLP_QUANT_BLOCK(v + i, s, 1, y + i);
    for (; i < n; i++) y[i] = mr_i8_rne(v[i] / s);
}

void MR_MLP_CAT(mr_i32_widen_f32, MR_MLP_ISA)(const int32_t *restrict x, int64_t stride, float *restrict d, size_t n)
{
    if (stride == 1)
        for (size_t i = 0; i < n; i++) d[i] = (float)x[i];
    else
        for (size_t i = 0; i < n; i++) d[i] = (float)x[(int64_t)i * stride];
}

void MR_MLP_CAT(mr_f16_widen_f32, MR_MLP_ISA)(const void *restrict x, float *restrict d, size_t n)
{
    const uint16_t *h = x;
    for (size_t i = 0; i < n; i++) d[i] = mr_mlp_f16_to_f32(h[i]);
}

void MR_MLP_CAT(mr_bf16_widen_f32, MR_MLP_ISA)(const void *restrict x, float *restrict d, size_t n)
{
    const uint16_t *b = x;
    for (size_t i = 0; i < n; i++) d[i] = mr_f32_from_bits((uint32_t)b[i] << 16);
}

void MR_MLP_CAT(mr_f32_widen_f32, MR_MLP_ISA)(const void *restrict x, float *restrict d, size_t n)
{
    memcpy(d, x, n * sizeof(float));
}

void MR_MLP_CAT(mr_f32_narrow_f16, MR_MLP_ISA)(const float *restrict s, void *restrict d, size_t n)
{
    uint16_t *h = d;
    for (size_t i = 0; i < n; i++) h[i] = mr_f32_to_f16(s[i]);
}

void MR_MLP_CAT(mr_f32_narrow_bf16, MR_MLP_ISA)(const float *restrict s, void *restrict d, size_t n)
{
    uint16_t *b = d;
    for (size_t i = 0; i < n; i++) b[i] = mr_mlp_f32_to_bf16(s[i]);
}

void MR_MLP_CAT(mr_f32_narrow_f32, MR_MLP_ISA)(const float *restrict s, void *restrict d, size_t n)
{
    memcpy(d, s, n * sizeof(float));
}
