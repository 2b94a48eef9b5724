/* The loops of the element-wise MLP family (mlp.h), compiled once per ISA file with MR_MLP_ISA set to its
 * suffix. Like kernels/act/act_loops.h the files get -ftree-vectorize -fno-trapping-math (src/CMakeLists.txt):
 * the compiler vectorizes and if-converts, and no result changes (IEEE operations element by element,
 * -ffp-contract=off everywhere). The int8 rounding is kernels/int8_round.h's mr_i8_rne, which GCC 12 does not
 * vectorize, so the AVX2 / AVX-512 files supply an intrinsics block for it (below); the fp16 widening and the
 * bf16 narrowing are branch-free forms of common/fp16.h's conversions with the same results, so that they
 * vectorize, and the fp16 narrowing takes the ISA's conversion instruction where the file supplies one
 * (MR_MLP_NARROW_F16_BLOCK); tests/c/test_mlp_elementwise.c checks them against those over every fp16 value and
 * many fp32 ones. */
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

/* silu(a) * b in fp32, a NaN result stored as the one canonical quiet NaN: with NaN in both a and b, which NaN a
 * multiply passes on depends on the operand order the compiler chose (scalar and vector code differ), so the
 * same bits on every path need one NaN (docs/operators/swiglu.md). */
static inline float mr_mlp_swiglu1(float a, float b)
{
    const float r = mr_siluf(a) * b;
    return r != r ? mr_f32_from_bits(0x7FC00000u) : r;
}

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
    for (size_t i = 0; i < n; i++) d[i] = mr_mlp_swiglu1(a[i], b[i]);
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
    size_t i = 0;
#ifdef MR_MLP_NARROW_F16_WIDTH /* the ISA's conversion instruction, ties to even by its immediate */
    for (; i + MR_MLP_NARROW_F16_WIDTH <= n; i += MR_MLP_NARROW_F16_WIDTH) MR_MLP_NARROW_F16_BLOCK(s + i, h + i);
#endif
    for (; i < n; i++) h[i] = mr_f32_to_f16(s[i]);
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

/* ---- fused row passes (mlp.h's quant_x and swiglu_x): each element of x read once -------------------------- */

/* Blocks of MR_MLP_ROW_BLOCK elements widened (and smooth-multiplied) into a stack buffer, then quantized: the
 * row is read once and the buffer stays in L1. */
#ifndef MR_MLP_ROW_BLOCK
#define MR_MLP_ROW_BLOCK 512
#endif
#define MR_MLP_QUANT_X(name, T, WIDEN)                                                                        \
    void MR_MLP_CAT(name, MR_MLP_ISA)(const void *x, const float *s, float f, int8_t *y, size_t n)            \
    {                                                                                                         \
        const T *restrict p = x;                                                                              \
        float buf[MR_MLP_ROW_BLOCK];                                                                          \
        for (size_t i = 0; i < n; i += MR_MLP_ROW_BLOCK) {                                                    \
            const size_t m = n - i < MR_MLP_ROW_BLOCK ? n - i : MR_MLP_ROW_BLOCK;                             \
            for (size_t j = 0; j < m; j++) buf[j] = WIDEN(p[i + j]);                                          \
            if (s)                                                                                            \
                for (size_t j = 0; j < m; j++) buf[j] = buf[j] * s[i + j];                                    \
            MR_MLP_CAT(mr_f32_quant_mul_i8, MR_MLP_ISA)(buf, f, y + i, m);                                    \
        }                                                                                                     \
    }
#define MR_MLP_WIDEN_BF16(u) mr_f32_from_bits((uint32_t)(u) << 16)
MR_MLP_QUANT_X(mr_f16_quant_x_i8, uint16_t, mr_mlp_f16_to_f32)
MR_MLP_QUANT_X(mr_bf16_quant_x_i8, uint16_t, MR_MLP_WIDEN_BF16)

void MR_MLP_CAT(mr_f32_quant_x_i8, MR_MLP_ISA)(const void *x, const float *s, float f, int8_t *y, size_t n)
{
    const float *v = x;
    float buf[MR_MLP_ROW_BLOCK];
    for (size_t i = 0; i < n; i += MR_MLP_ROW_BLOCK) {
        const size_t m = n - i < MR_MLP_ROW_BLOCK ? n - i : MR_MLP_ROW_BLOCK;
        if (s) MR_MLP_CAT(mr_f32_mul, MR_MLP_ISA)(v + i, s + i, buf, m);
        MR_MLP_CAT(mr_f32_quant_mul_i8, MR_MLP_ISA)(s ? buf : v + i, f, y + i, m);
    }
}

/* One loop per dtype: widen both halves, SiLU, multiply, narrow (the compiler vectorizes it whole; fp16 below). */
#define MR_MLP_SWIGLU_X(name, T, WIDEN, NARROW)                                                               \
    void MR_MLP_CAT(name, MR_MLP_ISA)(const void *a, const void *b, void *d, size_t n)                        \
    {                                                                                                         \
        const T *restrict pa = a, *restrict pb = b;                                                           \
        T *restrict pd = d;                                                                                   \
        for (size_t i = 0; i < n; i++) pd[i] = NARROW(mr_mlp_swiglu1(WIDEN(pa[i]), WIDEN(pb[i])));            \
    }
#define MR_MLP_SAME(v) (v)
MR_MLP_SWIGLU_X(mr_bf16_swiglu_x, uint16_t, MR_MLP_WIDEN_BF16, mr_mlp_f32_to_bf16)
MR_MLP_SWIGLU_X(mr_f32_swiglu_x, float, MR_MLP_SAME, MR_MLP_SAME)
#undef MR_MLP_QUANT_X
#undef MR_MLP_SWIGLU_X

/* fp16: the fp32 results of a block into a stack buffer, then the narrowing (whose rounding has branches) */
void MR_MLP_CAT(mr_f16_swiglu_x, MR_MLP_ISA)(const void *a, const void *b, void *d, size_t n)
{
    const uint16_t *restrict pa = a, *restrict pb = b;
    float buf[MR_MLP_ROW_BLOCK];
    for (size_t i = 0; i < n; i += MR_MLP_ROW_BLOCK) {
        const size_t m = n - i < MR_MLP_ROW_BLOCK ? n - i : MR_MLP_ROW_BLOCK;
        for (size_t j = 0; j < m; j++)
            buf[j] = mr_mlp_swiglu1(mr_mlp_f16_to_f32(pa[i + j]), mr_mlp_f16_to_f32(pb[i + j]));
        MR_MLP_CAT(mr_f32_narrow_f16, MR_MLP_ISA)(buf, (uint16_t *)d + i, m);
    }
}
