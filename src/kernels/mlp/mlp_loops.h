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
static inline float mr_mlp_swiglu_s(float silu_a, float b) { return mr_f32_canonical_nan(silu_a * b); }
static inline float mr_mlp_swiglu1(float a, float b) { return mr_mlp_swiglu_s(mr_siluf(a), b); }

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
    for (size_t i = 0; i < n; i++) d[i] = mr_f16_to_f32_flat(h[i]);
}

void MR_MLP_CAT(mr_f32_canon_nan, MR_MLP_ISA)(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = mr_f32_canonical_nan(v[i]);
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
#define MR_MLP_SAME(v) (v)
MR_MLP_QUANT_X(mr_f16_quant_x_i8, uint16_t, mr_f16_to_f32_flat)
MR_MLP_QUANT_X(mr_bf16_quant_x_i8, uint16_t, MR_MLP_WIDEN_BF16)

/* the combine's term: the product rounded, then the sum (-ffp-contract=off keeps them two operations) */
#define MR_MLP_ACC_X(name, T, WIDEN)                                                                          \
    void MR_MLP_CAT(name, MR_MLP_ISA)(float *restrict acc, const void *x, float s, int has_scale, size_t n)   \
    {                                                                                                         \
        const T *restrict p = x;                                                                              \
        if (has_scale)                                                                                        \
            for (size_t i = 0; i < n; i++) acc[i] = acc[i] + WIDEN(p[i]) * s;                                 \
        else                                                                                                  \
            for (size_t i = 0; i < n; i++) acc[i] = acc[i] + WIDEN(p[i]);                                     \
    }
MR_MLP_ACC_X(mr_f16_acc_x, uint16_t, mr_f16_to_f32_flat)
MR_MLP_ACC_X(mr_bf16_acc_x, uint16_t, MR_MLP_WIDEN_BF16)
MR_MLP_ACC_X(mr_f32_acc_x, float, MR_MLP_SAME)
#undef MR_MLP_ACC_X

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

void MR_MLP_CAT(mr_f32_swiglu_x, MR_MLP_ISA)(const void *a, const void *b, const float *silu, void *d, size_t n,
                                            int stream)
{
    const float *restrict pa = a, *restrict pb = b;
    float *restrict pd = d;
    (void)silu, (void)stream;
    for (size_t i = 0; i < n; i++) pd[i] = mr_mlp_swiglu1(pa[i], pb[i]);
}

/* fp16 and bf16: SiLU looked up in silu[] by the bits of a (a load instead of the double evaluation), then one
 * multiply and the narrowing. Software prefetches run ahead of the two streams of a row, which the hardware
 * prefetcher alone left at ~10 GB/s per core: in the row pass b follows a, and the next row follows b, so each
 * step prefetches b MR_MLP_PREFETCH_BYTES ahead and the same place in the next row's a, (b - a) further on
 * (a sweep over fixed distances found no one distance good for both DeepSeek-V3's and Qwen3's rows; this rule
 * was within a few % of the best of each: docs/performance.md). fp16 prefetches into L2 only: its table lookups
 * spread over more of the table than L1 holds and evicted lines prefetched into L1 before their use (DeepSeek-V3
 * fp16 0.30 -> 0.52 of the copy limit). An ISA file may define
 * MR_MLP_SWIGLU_BLOCK(f16, silu, a, b, d, stream) for 32 elements (64 bytes of d, aligned when stream; then a
 * non-temporal store) with gathers and its conversions: the same bits as the element loop. */
#define MR_MLP_PREFETCH_BYTES 1024u
#define MR_MLP_SWIGLU_STEP 32
static inline void MR_MLP_CAT(mr_mlp_prefetch, MR_MLP_ISA)(const void *p, uintptr_t ahead, int l2)
{
    if (l2) /* a hint: never faults */
        __builtin_prefetch((const void *)((uintptr_t)p + ahead), 0, 2);
    else
        __builtin_prefetch((const void *)((uintptr_t)p + ahead), 0, 3);
}
#define MR_MLP_SWIGLU_LUT(name, f16, WIDEN, NARROW)                                                           \
    void MR_MLP_CAT(name, MR_MLP_ISA)(const void *a, const void *b, const float *silu, void *d, size_t n,     \
                                      int stream)                                                             \
    {                                                                                                         \
        const uint16_t *restrict pa = a, *restrict pb = b;                                                    \
        uint16_t *restrict pd = d;                                                                            \
        const uintptr_t next_a = (uintptr_t)pb - (uintptr_t)pa + MR_MLP_PREFETCH_BYTES;                       \
        size_t i = 0;                                                                                         \
        stream = MR_MLP_SWIGLU_STREAM && stream && ((uintptr_t)pd & 1u) == 0;                                 \
        for (; stream && i < n && ((uintptr_t)(pd + i) & 63u) != 0; i++)                                      \
            pd[i] = NARROW(mr_mlp_swiglu_s(silu[pa[i]], WIDEN(pb[i])));                                      \
        for (; i + MR_MLP_SWIGLU_STEP <= n; i += MR_MLP_SWIGLU_STEP) {                                        \
            MR_MLP_CAT(mr_mlp_prefetch, MR_MLP_ISA)(pb + i, MR_MLP_PREFETCH_BYTES, f16);                      \
            MR_MLP_CAT(mr_mlp_prefetch, MR_MLP_ISA)(pb + i, next_a, f16);                                     \
            MR_MLP_SWIGLU_BLOCK(f16, silu, pa + i, pb + i, pd + i, stream);                                   \
        }                                                                                                     \
        for (; i < n; i++) pd[i] = NARROW(mr_mlp_swiglu_s(silu[pa[i]], WIDEN(pb[i])));                        \
    }
#ifndef MR_MLP_SWIGLU_BLOCK
#define MR_MLP_SWIGLU_STREAM 0
#define MR_MLP_SWIGLU_BLOCK(f16, silu, a, b, d, stream)                                                       \
    for (size_t j = 0; j < MR_MLP_SWIGLU_STEP; j++)                                                           \
        (d)[j] = (f16) ? mr_f32_to_f16(mr_mlp_swiglu_s((silu)[(a)[j]], mr_f16_to_f32_flat((b)[j])))           \
                       : mr_mlp_f32_to_bf16(mr_mlp_swiglu_s((silu)[(a)[j]], MR_MLP_WIDEN_BF16((b)[j])))
#endif
MR_MLP_SWIGLU_LUT(mr_f16_swiglu_x, 1, mr_f16_to_f32_flat, mr_f32_to_f16)
MR_MLP_SWIGLU_LUT(mr_bf16_swiglu_x, 0, MR_MLP_WIDEN_BF16, mr_mlp_f32_to_bf16)
#undef MR_MLP_SWIGLU_LUT
#undef MR_MLP_QUANT_X
