/* MoeFinalizeRouting and MoeFinalizeRoutingV2 (docs/operators/finalize_routing.md, routing spec 6 and 7): the
 * combine after the expert FFN. out[i] = skip tensors + sum over k of scale[i][k] * (expandedX[r] + bias[e]),
 * term by term in slot order, in the arithmetic of the dtype. One plan over the accumulate step for both. */
#ifndef MR_OPERATORS_FINALIZE_H
#define MR_OPERATORS_FINALIZE_H

#include "common/view.h"
#include "kernels/kernels.h"
#include "threadpool/threadpool.h"

typedef struct mr_finalize_plan {
    int v2;            /* 0: V1 (bf16 stored ties-away); 1: V2 (bf16 stored RNE; no bias: the term adds +0) */
    int64_t n, k, h;   /* tokens, slots per token, hidden size                                    */
    int64_t m;         /* rows of expandedX (E * C in the drop modes)                              */
    int three_d;       /* expandedX is [E, C, H] (V2 drop modes), read as [E * C, H]               */
    int drop;          /* an index -1 skips the whole term (V2 modes 1 and 3)                       */
    int row_major;     /* index position i*K + j (V2 modes 2 and 3), else i + j*N                   */
    int64_t experts;   /* bias rows                                                                */
    mr_xtype xtype;    /* expandedX, x1, x2, bias, out                                             */
    mr_xtype stype;    /* scales (FLOAT with BFLOAT16 expandedX in V2, else xtype)                 */
    int has_x1, has_x2, has_bias, has_scales;
    moeroute_isa isa;  /* requested kernels (AUTO: the CPU's best within MOEROUTE_ISA)                    */
} mr_finalize_plan;

/* View slots of the run (absent optional arguments: zero views). */
enum {
    MR_FIN_EXPANDED_X, MR_FIN_ROW_IDX, MR_FIN_X1, MR_FIN_X2, MR_FIN_BIAS, MR_FIN_SCALES, MR_FIN_EXPERT_IDX,
    MR_FIN_OUT, MR_FIN_COUNT
};

/* Errors, before anything is written: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_INVALID_VALUE
 * (a row index outside [0, M) -- or, in the drop modes, other than -1 -- or an expert id outside the bias rows,
 * in a slot that is read; the message names the position). */
moeroute_status mr_finalize_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_FINALIZE_H */
