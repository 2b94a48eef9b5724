/* The element-wise expert-MLP kernel family (docs/operators/dynamic_quant.md, swiglu.md,
 * dequant_swiglu_quant.md): fp32 array loops for DynamicQuant, SwiGlu and DequantSwigluQuant. Every loop is
 * element-wise IEEE fp32 (one rounding per operation, no FMA: -ffp-contract=off) or integer, and SiLU is the
 * project's one mr_siluf (kernels/math/mr_math.h, layer decision 11), so each ISA file compiles the same loops
 * (mlp_loops.h) at its own vector width and gives the scalar file's bits. The row maximum comes from the
 * dynamic-quant family's absmax kernels (kernels.h), the dtype widening and narrowing from the accumulate
 * family's (kernels/accumulate/accumulate.h). */
#ifndef MR_KERNELS_MLP_H
#define MR_KERNELS_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* d[i] = a[i] * b[i]; d may equal a or b. */
typedef void (*mr_mlp_mul_fn)(const float *a, const float *b, float *d, size_t n);
/* d[i] = a[i] + b[i]; d may equal a or b. */
typedef void (*mr_mlp_add_fn)(const float *a, const float *b, float *d, size_t n);
/* v[i] = v[i] * s, then (when add) v[i] = v[i] + o: two roundings. */
typedef void (*mr_mlp_affine_fn)(float *v, float s, int add, float o, size_t n);
/* d[i] = silu(a[i]) * b[i]: mr_siluf, then one fp32 multiply; d may equal a or b. */
typedef void (*mr_mlp_swiglu_fn)(const float *a, const float *b, float *d, size_t n);
/* y[i] = to_i8_rne(v[i] * f): one fp32 multiply, ties to even, saturated to [-128, 127], NaN -> 0. */
typedef void (*mr_mlp_quant_mul_fn)(const float *v, float f, int8_t *y, size_t n);
/* y[i] = to_i8_rne(v[i] / s): one fp32 division, then as above. */
typedef void (*mr_mlp_quant_div_fn)(const float *v, float s, int8_t *y, size_t n);
/* d[i] = (float)x[i * stride]: int32 -> fp32, round to nearest even (exact for |x| <= 2^24). */
typedef void (*mr_mlp_widen_i32_fn)(const int32_t *x, int64_t stride, float *d, size_t n);

/* v[i] = the canonical quiet NaN 0x7FC00000 where v[i] is a NaN, else unchanged (common/fp16.h's
 * mr_f32_canonical_nan): sums store NaN as one NaN, since which of two NaN operands an add passes on differs
 * between scalar and vector code. */
typedef void (*mr_mlp_canon_fn)(float *v, size_t n);
/* d[i] = f32(x[i]) for contiguous x of one mr_xtype (exact widening). */
typedef void (*mr_mlp_widen_fn)(const void *x, float *d, size_t n);
/* d[i] = RNE(s[i] -> mr_xtype) for contiguous d (bf16 and fp16 ties to even, NaN kept quiet). */
typedef void (*mr_mlp_narrow_fn)(const float *s, void *d, size_t n);
/* Fused row passes over contiguous rows of one mr_xtype, each element read once (the operators' fast paths):
 * quant_x: y[i] = to_i8_rne(v * f) with v = f32(x[i]), times s[i] when s is not NULL (one fp32 multiply) --
 *   quant_mul's bits.
 * swiglu_x: d[i] = RNE(f32(mr_siluf(f32(a[i])) * f32(b[i])) -> mr_xtype) -- widen, swiglu, narrow's bits. For
 *   fp16 and bf16 the SiLU is read from silu[bits of a[i]] (operators/silu_table.h: mr_siluf of every bit
 *   pattern, the same values); fp32 evaluates it and ignores silu. With stream set, an ISA file may store d with
 *   non-temporal stores, which the caller fences (as for the copy family, kernels.h). */
typedef void (*mr_mlp_quant_x_fn)(const void *x, const float *s, float f, int8_t *y, size_t n);
/* acc[i] = acc[i] + f32(f32(x[i]) * s) (has_scale) or acc[i] + f32(x[i]): a term of the combine's sum (layer spec
 * 11.4), one rounding per operation -- widen, affine and add's bits in one pass. */
typedef void (*mr_mlp_acc_x_fn)(float *acc, const void *x, float s, int has_scale, size_t n);
typedef void (*mr_mlp_swiglu_x_fn)(const void *a, const void *b, const float *silu, void *d, size_t n, int stream);

typedef struct mr_mlp_config {
    int isa;
    mr_mlp_mul_fn mul;
    mr_mlp_add_fn add;
    mr_mlp_affine_fn affine;
    mr_mlp_swiglu_fn swiglu;
    mr_mlp_quant_mul_fn quant_mul;
    mr_mlp_quant_div_fn quant_div;
    mr_mlp_widen_i32_fn widen_i32;
    mr_mlp_canon_fn canon;
    mr_mlp_widen_fn widen[MR_X_COUNT];
    mr_mlp_narrow_fn narrow[MR_X_COUNT];
    mr_mlp_quant_x_fn quant_x[MR_X_COUNT];
    mr_mlp_swiglu_x_fn swiglu_x[MR_X_COUNT];
    mr_mlp_acc_x_fn acc_x[MR_X_COUNT];
} mr_mlp_config;

#define MR_MLP_DECLARE(isa)                                                                                   \
    void mr_f32_mul__##isa(const float *a, const float *b, float *d, size_t n);                               \
    void mr_f32_add__##isa(const float *a, const float *b, float *d, size_t n);                               \
    void mr_f32_affine__##isa(float *v, float s, int add, float o, size_t n);                                 \
    void mr_f32_swiglu__##isa(const float *a, const float *b, float *d, size_t n);                            \
    void mr_f32_quant_mul_i8__##isa(const float *v, float f, int8_t *y, size_t n);                            \
    void mr_f32_quant_div_i8__##isa(const float *v, float s, int8_t *y, size_t n);                            \
    void mr_i32_widen_f32__##isa(const int32_t *x, int64_t stride, float *d, size_t n);                       \
    void mr_f32_canon_nan__##isa(float *v, size_t n);                                                         \
    void mr_f16_widen_f32__##isa(const void *x, float *d, size_t n);                                         \
    void mr_bf16_widen_f32__##isa(const void *x, float *d, size_t n);                                        \
    void mr_f32_widen_f32__##isa(const void *x, float *d, size_t n);                                         \
    void mr_f32_narrow_f16__##isa(const float *s, void *d, size_t n);                                        \
    void mr_f32_narrow_bf16__##isa(const float *s, void *d, size_t n);                                       \
    void mr_f32_narrow_f32__##isa(const float *s, void *d, size_t n);                                        \
    void mr_f16_quant_x_i8__##isa(const void *x, const float *s, float f, int8_t *y, size_t n);              \
    void mr_bf16_quant_x_i8__##isa(const void *x, const float *s, float f, int8_t *y, size_t n);             \
    void mr_f32_quant_x_i8__##isa(const void *x, const float *s, float f, int8_t *y, size_t n);              \
    void mr_f16_acc_x__##isa(float *acc, const void *x, float s, int has_scale, size_t n);                    \
    void mr_bf16_acc_x__##isa(float *acc, const void *x, float s, int has_scale, size_t n);                   \
    void mr_f32_acc_x__##isa(float *acc, const void *x, float s, int has_scale, size_t n);                    \
    void mr_f16_swiglu_x__##isa(const void *a, const void *b, const float *silu, void *d, size_t n,           \
                                int stream);                                                                  \
    void mr_bf16_swiglu_x__##isa(const void *a, const void *b, const float *silu, void *d, size_t n,          \
                                 int stream);                                                                 \
    void mr_f32_swiglu_x__##isa(const void *a, const void *b, const float *silu, void *d, size_t n,           \
                                int stream);
MR_MLP_DECLARE(scalar)
MR_MLP_DECLARE(avx2)
MR_MLP_DECLARE(avx512)
MR_MLP_DECLARE(neon)
#undef MR_MLP_DECLARE

#endif /* MR_KERNELS_MLP_H */
