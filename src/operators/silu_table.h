/* SiLU of every 16-bit input: mr_siluf (kernels/math/mr_math.h, layer decision 11) evaluated once per process
 * for each fp16 and each bf16 bit pattern, so a row of a 16-bit dtype looks its SiLU up instead of evaluating it
 * (docs/operators/swiglu.md "How it runs"). A table entry is the function's own result for that input, so a
 * lookup gives the bits of the evaluation on every path. */
#ifndef MR_OPERATORS_SILU_TABLE_H
#define MR_OPERATORS_SILU_TABLE_H

#include "kernels/kernels.h"

/* 65536 fp32 values indexed by the input's bits (mr_siluf of the exact widening); NULL for MR_X_F32. Built on
 * the first call (thread-safe), then constant. */
const float *mr_silu_table(mr_xtype t);

#endif /* MR_OPERATORS_SILU_TABLE_H */
