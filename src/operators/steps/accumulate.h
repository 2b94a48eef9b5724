/* Accumulate step (docs/operators/finalize_routing.md "The accumulate step"): the combine side of an MoE
 * layer. Every output row i is an initial value followed by K terms added in strict slot order j = 0..K-1:
 *
 *   acc = init(i)                         x1 + x2  |  x1 + 0  |  +0 with slot 0 setting acc (FIRST)
 *   for j in 0..K-1:
 *       r = index(i, j);  skip the whole term when the caller's skip rules say so
 *       t = rows[r] (+ bias[expert(i, j)] | + 0) (* scale(i, j))
 *       acc = (FIRST and j == 0) ? t : acc + t
 *   out[i] = acc narrowed to the output type
 *
 * in one of the arithmetic modes of src/kernels/accumulate/accumulate.h. The operators differ only in these
 * choices (which init, which index layout, which skip rules, which mode and bf16 rounding). Parallel over
 * output rows; each row is computed by one thread in the same order, so the bytes never depend on the
 * thread count. Operands are read through their strides (any sign); the output rows are written once,
 * contiguous along H. No output is read back. */
#ifndef MR_OPERATORS_STEPS_ACCUMULATE_H
#define MR_OPERATORS_STEPS_ACCUMULATE_H

#include <stdint.h>

#include "common/view.h"
#include "dispatch/dispatch.h"
#include "kernels/accumulate/accumulate.h"
#include "threadpool/threadpool.h"

/* A float operand read as rows of columns: element (r, c) at
 *   data + ((r / split) * s_outer + (r % split) * s_inner + c * s_col) * esize(type)
 * split = 1 for a 2-D [R, C] view (s_outer = row stride, s_inner unused); split = d1 for a 3-D [d0, d1, C]
 * view read as [d0 * d1, C]. data NULL: the operand is absent. */
typedef struct mr_acc_src {
    const char *data;
    int64_t split, s_outer, s_inner, s_col;
    mr_xtype type;
} mr_acc_src;

/* A 2-D view as an operand (absent view: data NULL). A 3-D view [d0, d1, C] as an operand of d0 * d1 rows. */
mr_acc_src mr_acc_src_2d(const mr_view *v, mr_xtype type);
mr_acc_src mr_acc_src_3d(const mr_view *v, mr_xtype type);

/* An int32 index per (row i, slot j): element offset i * a + j * b from data. For messages, a 1-D tensor is
 * named by its position i * pa + j * pb; a 2-D tensor (pa = pb = 0) by [i][j]. */
typedef struct mr_acc_index {
    const int32_t *data;
    int64_t a, b;
    int64_t pa, pb;
    const char *name;
} mr_acc_index;

typedef enum mr_acc_init {
    MR_ACC_INIT_SUM,       /* acc = x1 + x2                                                   */
    MR_ACC_INIT_PLUS_ZERO, /* acc = x1 + 0 (the one given skip tensor is passed as x1)        */
    MR_ACC_INIT_FIRST      /* acc = +0; a kept slot 0 sets acc to its term instead of adding   */
} mr_acc_init;

/* Skip rules, combinable. A skipped slot contributes nothing (no row, no bias) and its indices are not read
 * further. Every kept slot must have 0 <= r < rows and, with a bias, 0 <= expert < experts (mr_accumulate_check). */
enum {
    MR_ACC_SKIP_NEG1 = 1u,       /* r == -1 (drop & pad: a dropped copy)                              */
    MR_ACC_SKIP_BEYOND = 2u,     /* r >= rows (MoeTokenUnpermute: a truncated permutation)            */
    MR_ACC_SKIP_ZERO_SCALE = 4u  /* scale(i, j) == +-0 (MoeTokenUnpermute: a zero probability)         */
};

typedef struct mr_accumulate {
    int64_t n, k, h;        /* output rows, slots per row, columns                                      */
    mr_acc_init init;
    mr_acc_src x1, x2;      /* [n, h] (init SUM: both; PLUS_ZERO: x1)                                   */
    mr_acc_src rows;        /* [m, h]: the expanded rows the index points at                            */
    int64_t m;
    mr_acc_index row_idx;
    mr_acc_src bias;        /* [experts, h] or absent                                                    */
    int64_t experts;
    mr_acc_index expert_idx; /* with a bias (data NULL otherwise): checked, and picks the bias row       */
    int bias_plus_zero;     /* without a bias, the term still adds +0 (MoeFinalizeRoutingV2)             */
    mr_acc_src scales;      /* [n, k] scalars, or absent (no multiply)                                  */
    unsigned skip;          /* MR_ACC_SKIP_* */
    mr_acc_arith arith;
    mr_xtype out_type;
    mr_acc_bf16_round bf16_round;
    char *out;              /* row i at out + i * out_row * esize, h contiguous elements                */
    int64_t out_row;
    const mr_acc_config *kern; /* init, term, ties-away bf16 (mr_accumulate_kernels; NULL: the scalar ones) */
    const mr_mlp_config *mlp;  /* contiguous widening and ties-to-even narrowing (set with kern)           */
} mr_accumulate;

/* The kernels of an ISA request (MOEROUTE_ISA_AUTO: the CPU's best within MOEROUTE_ISA): every level gives the
 * scalar functions' bytes. */
void mr_accumulate_kernels(mr_accumulate *s, moeroute_isa isa);

/* The data checks, in slot order (i, then j): every kept slot's row index in [0, m) and, when expert_idx is
 * given, its expert id in [0, experts). MOEROUTE_ERR_INVALID_VALUE with a message naming the first offending position
 * and value. Run it before anything is written. */
moeroute_status mr_accumulate_check(const mr_accumulate *s, const char *api);

/* Compute and write every output row (the checks above must have passed). */
void mr_accumulate_run(const mr_accumulate *s, mr_pool *pool);

#endif /* MR_OPERATORS_STEPS_ACCUMULATE_H */
