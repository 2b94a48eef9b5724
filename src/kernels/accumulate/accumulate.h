/* Accumulate family: the arithmetic of the combine operators (MoeFinalizeRouting, MoeFinalizeRoutingV2,
 * MoeTokenUnpermute; docs/operators/finalize_routing.md "The accumulate step"). Pure functions on short
 * contiguous float chunks: the step widens every operand to float first (exact for fp16, bf16 and fp32), so
 * one kernel serves every dtype and the two arithmetic modes below. accumulate_scalar.c is the reference; the
 * config below (mr_acc_config) adds SIMD variants of init, term and the ties-away bf16 narrowing, compiled per ISA
 * from accumulate_loops.h, which give its bytes (tests/c/test_combine.c compares every level).
 *
 * Arithmetic modes:
 *   MR_ACC_F32  plain binary32 with round-to-nearest-even after every + and x (no FMA: the library is built
 *               with -ffp-contract=off).
 *   MR_ACC_F16  every + and x rounded to binary16 (RNE) at each step. The operands are fp16 values held as
 *               floats. A product of two fp16 values has at most 22 significant bits and lies in
 *               [2^-48, 2^32], so the binary32 product is exact and one rounding to fp16 follows. A sum of two
 *               fp16 values is rounded twice (binary32, then binary16); binary32 has p' = 24 >= 2p + 2 bits for
 *               binary16's p = 11, which makes that double rounding innocuous for + (Figueroa, "When is double
 *               rounding innocuous?", 1995), and the sum of two multiples of 2^-24 never underflows binary32.
 *               So each step is the correctly rounded fp16 result; tests/c/test_combine.c checks it against an
 *               exact double-based rounding over every fp16 value. */
#ifndef MR_KERNELS_ACCUMULATE_H
#define MR_KERNELS_ACCUMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

typedef enum mr_acc_arith { MR_ACC_F32 = 0, MR_ACC_F16 = 1 } mr_acc_arith;

/* Final narrowing of a float result to bfloat16: ties to even, or ties away from zero (AscendC CAST_ROUND). */
typedef enum mr_acc_bf16_round { MR_ACC_BF16_RNE = 0, MR_ACC_BF16_RHA = 1 } mr_acc_bf16_round;

/* dst[i] = (float) src[i * stride] for i < n, src of type t (exact widening). */
void mr_acc_widen__scalar(float *dst, const void *src, int64_t stride, size_t n, mr_xtype t);

/* acc[i] = a[i] + b[i], or a[i] + (+0) when b is NULL (turns -0 into +0), in mode `arith`. acc may be a. */
void mr_acc_init__scalar(float *acc, const float *a, const float *b, size_t n, mr_acc_arith arith);

/* One term, in mode `arith`, every operation rounded on its own:
 *   t = row[i];  t = t + bias[i]  (bias not NULL)  or  t = t + (+0)  (bias NULL, plus_zero)
 *   t = t * scale                 (has_scale)
 *   acc[i] = first ? t : acc[i] + t */
void mr_acc_term__scalar(float *acc, const float *row, const float *bias, int plus_zero, int has_scale, float scale,
                         int first, size_t n, mr_acc_arith arith);

/* dst[i] = acc[i] as type t: fp32 as is; fp16 RNE; bf16 RNE or ties-away per `bf16_round`. NaN stays NaN. */
void mr_acc_store__scalar(void *dst, const float *acc, size_t n, mr_xtype t, mr_acc_bf16_round bf16_round);

/* fp32 -> bfloat16 with ties away from zero; NaN kept quiet, overflow to +-inf. */
uint16_t mr_f32_to_bf16_rha(float f);

/* SIMD variants: the same contracts as the scalar functions above (contiguous float arrays). */
typedef void (*mr_acc_init_fn)(float *acc, const float *a, const float *b, size_t n, mr_acc_arith arith);
typedef void (*mr_acc_term_fn)(float *acc, const float *row, const float *bias, int plus_zero, int has_scale,
                               float scale, int first, size_t n, mr_acc_arith arith);
/* d[i] = mr_f32_to_bf16_rha(acc[i]) */
typedef void (*mr_acc_bf16_rha_fn)(void *d, const float *acc, size_t n);
/* The fp32-mode term without a bias, reading a contiguous row of x's own type (widened exactly):
 *   t = f32(x[i]) (+ (+0) when plus_zero) (* scale when has_scale);  acc[i] = first ? t : acc[i] + t
 * -- widen then term's bytes, in one pass. */
typedef void (*mr_acc_term_x_fn)(float *acc, const void *x, int plus_zero, int has_scale, float scale, int first,
                                 size_t n);

typedef struct mr_acc_config {
    int isa;
    mr_acc_init_fn init;
    mr_acc_term_fn term;
    mr_acc_bf16_rha_fn bf16_rha;
    mr_acc_term_x_fn term_x[MR_X_COUNT]; /* indexed by mr_xtype */
} mr_acc_config;

#define MR_ACC_DECLARE(isa)                                                                                   \
    void mr_acc_init__##isa(float *acc, const float *a, const float *b, size_t n, mr_acc_arith arith);         \
    void mr_acc_term__##isa(float *acc, const float *row, const float *bias, int plus_zero, int has_scale,    \
                            float scale, int first, size_t n, mr_acc_arith arith);                            \
    void mr_acc_bf16_rha__##isa(void *d, const float *acc, size_t n);                                         \
    void mr_f16_acc_term_x__##isa(float *acc, const void *x, int plus_zero, int has_scale, float scale,        \
                                  int first, size_t n);                                                       \
    void mr_bf16_acc_term_x__##isa(float *acc, const void *x, int plus_zero, int has_scale, float scale,       \
                                   int first, size_t n);                                                      \
    void mr_f32_acc_term_x__##isa(float *acc, const void *x, int plus_zero, int has_scale, float scale,        \
                                  int first, size_t n);
MR_ACC_DECLARE(scalar)
MR_ACC_DECLARE(avx2)
MR_ACC_DECLARE(avx512)
MR_ACC_DECLARE(neon)
#undef MR_ACC_DECLARE

#endif /* MR_KERNELS_ACCUMULATE_H */
