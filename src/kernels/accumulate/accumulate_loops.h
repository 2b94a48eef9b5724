/* The SIMD variants of the accumulate family (accumulate.h), compiled once per ISA file with MR_ACC_ISA set to its
 * suffix, with -ftree-vectorize -fno-trapping-math (src/CMakeLists.txt) like the MLP family's loops: each step is
 * one IEEE fp32 operation per element in its own loop over a chunk (no FMA: -ffp-contract=off), so the compiler
 * vectorizes it and every element gets accumulate_scalar.c's operations in its order. The fp16 step arithmetic
 * (MR_ACC_F16) rounds each step's chunk to fp16 afterwards: by the ISA's conversion pair where the file supplies
 * MR_ACC_R16_BLOCK (F16C: to fp16 with ties to even, back exactly), by common/fp16.h's functions otherwise. */
#include <string.h>

#include "common/fp16.h"
#include "kernels/accumulate/accumulate.h"

#define MR_ACC_CAT2(a, b) a##__##b
#define MR_ACC_CAT(a, b) MR_ACC_CAT2(a, b)
#define MR_ACC_BLOCK 256 /* elements per pass: the term's chunk stays in L1 */

/* v[i] = f16(v[i]) as a float, ties to even */
static inline void MR_ACC_CAT(mr_acc_r16, MR_ACC_ISA)(float *v, size_t n)
{
    size_t i = 0;
#ifdef MR_ACC_R16_WIDTH
    for (; i + MR_ACC_R16_WIDTH <= n; i += MR_ACC_R16_WIDTH) MR_ACC_R16_BLOCK(v + i);
#endif
    for (; i < n; i++) v[i] = mr_f16_to_f32(mr_f32_to_f16(v[i]));
}

void MR_ACC_CAT(mr_acc_init, MR_ACC_ISA)(float *acc, const float *a, const float *b, size_t n, mr_acc_arith arith)
{
    if (b)
        for (size_t i = 0; i < n; i++) acc[i] = a[i] + b[i];
    else
        for (size_t i = 0; i < n; i++) acc[i] = a[i] + 0.0f; /* -0 becomes +0 */
    if (arith == MR_ACC_F16) MR_ACC_CAT(mr_acc_r16, MR_ACC_ISA)(acc, n);
}

void MR_ACC_CAT(mr_acc_term, MR_ACC_ISA)(float *acc, const float *row, const float *bias, int plus_zero,
                                         int has_scale, float scale, int first, size_t n, mr_acc_arith arith)
{
    const int f16 = arith == MR_ACC_F16;
    float t[MR_ACC_BLOCK];
    for (size_t o = 0; o < n; o += MR_ACC_BLOCK) {
        const size_t m = n - o < MR_ACC_BLOCK ? n - o : MR_ACC_BLOCK;
        const float *src = row + o;
        float *restrict d = acc + o;
        if (bias || plus_zero) {
            if (bias)
                for (size_t i = 0; i < m; i++) t[i] = src[i] + bias[o + i];
            else
                for (size_t i = 0; i < m; i++) t[i] = src[i] + 0.0f;
            if (f16) MR_ACC_CAT(mr_acc_r16, MR_ACC_ISA)(t, m);
            src = t;
        }
        if (has_scale) {
            for (size_t i = 0; i < m; i++) t[i] = src[i] * scale;
            if (f16) MR_ACC_CAT(mr_acc_r16, MR_ACC_ISA)(t, m);
            src = t;
        }
        if (first) {
            memmove(d, src, m * sizeof *d);
        } else {
            for (size_t i = 0; i < m; i++) d[i] = d[i] + src[i];
            if (f16) MR_ACC_CAT(mr_acc_r16, MR_ACC_ISA)(d, m);
        }
    }
}

/* The fp32-mode term read straight from x's type: v + (-0) is v for every v, so one loop serves plus_zero or
 * not; first and the scale pick the loop. */
#define MR_ACC_TERM_X(name, T, WIDEN)                                                                         \
    void MR_ACC_CAT(name, MR_ACC_ISA)(float *restrict acc, const void *x, int plus_zero, int has_scale,        \
                                      float scale, int first, size_t n)                                       \
    {                                                                                                         \
        const T *restrict p = x;                                                                              \
        const float z = plus_zero ? 0.0f : -0.0f;                                                             \
        if (has_scale && first)                                                                               \
            for (size_t i = 0; i < n; i++) acc[i] = (WIDEN(p[i]) + z) * scale;                                \
        else if (has_scale)                                                                                   \
            for (size_t i = 0; i < n; i++) acc[i] = acc[i] + (WIDEN(p[i]) + z) * scale;                       \
        else if (first)                                                                                       \
            for (size_t i = 0; i < n; i++) acc[i] = WIDEN(p[i]) + z;                                          \
        else                                                                                                  \
            for (size_t i = 0; i < n; i++) acc[i] = acc[i] + (WIDEN(p[i]) + z);                               \
    }
#define MR_ACC_WIDEN_BF16(u) mr_f32_from_bits((uint32_t)(u) << 16)
#define MR_ACC_SAME(v) (v)
MR_ACC_TERM_X(mr_f16_acc_term_x, uint16_t, mr_f16_to_f32_flat)
MR_ACC_TERM_X(mr_bf16_acc_term_x, uint16_t, MR_ACC_WIDEN_BF16)
MR_ACC_TERM_X(mr_f32_acc_term_x, float, MR_ACC_SAME)
#undef MR_ACC_TERM_X

/* mr_f32_to_bf16_rha without a branch: NaN kept quiet, else half an ulp added (ties away from zero) */
void MR_ACC_CAT(mr_acc_bf16_rha, MR_ACC_ISA)(void *d, const float *acc, size_t n)
{
    uint16_t *restrict h = d;
    for (size_t i = 0; i < n; i++) {
        const uint32_t u = mr_f32_bits(acc[i]);
        h[i] = (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x40u : (u + 0x8000u) >> 16);
    }
}
