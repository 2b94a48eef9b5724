/* The gating operators (docs/operators/gating.md; layer spec 1, routing spec 8): MoeGatingTopK and
 * MoeGatingTopKSoftmax V1/V2, one plan over the per-row steps widen -> normalise (softmax or sigmoid, the
 * project's one exp, kernels/math/mr_math.h) -> bias -> group and expert selection (steps/topk.h) -> weights.
 * Rows are independent and each is computed by one thread in one fixed order, so the bytes never depend on
 * the thread count or the ISA level. */
#ifndef MR_OPERATORS_GATING_H
#define MR_OPERATORS_GATING_H

#include "backend/cpu_backend.h"
#include "common/view.h"
#include "kernels/kernels.h"

typedef enum mr_gate_kind {
    MR_GATE_TOPK = 0,       /* MoeGatingTopK                                  */
    MR_GATE_SOFTMAX_V1 = 1, /* MoeGatingTopKSoftmax: rowIdx output             */
    MR_GATE_SOFTMAX_V2 = 2  /* MoeGatingTopKSoftmaxV2: renorm, softmax output  */
} mr_gate_kind;

/* What a front end fills before mr_gating_plan_init (the front end has checked its own argument rules). */
typedef struct mr_gating_desc {
    mr_gate_kind kind;
    int64_t n, e, k;      /* rows, experts, selected experts per row                                        */
    mr_xtype xtype;       /* x, bias and y                                                                */
    int has_bias;         /* TOPK                                                                         */
    int has_finished;     /* SOFTMAX_*                                                                    */
    int has_out;          /* TOPK: normalised scores out [n, e]; SOFTMAX_V2: softmax result [n, e]        */
    int64_t k_group, group_count; /* TOPK groups (1, 1: none)                                             */
    int group_mode;       /* TOPK: 0 group score = max, 1 = sum of the two largest                         */
    int norm_type;        /* TOPK: 0 softmax, 1 sigmoid                                                   */
    int renorm;           /* TOPK: 1 = divide softmax weights by their sum + eps (vllm-ascend's copy, native
                             API only); SOFTMAX_V2: 1 = select on x first, softmax over the k selected      */
    double rsf, eps;      /* TOPK: routedScalingFactor and eps (rounded to fp32 here)                       */
} mr_gating_desc;

typedef struct mr_gating_plan {
    mr_gating_desc d;
    float rsf, eps;
    int grouped;          /* TOPK: group selection runs                                                   */
    size_t worker_bytes;  /* scratch per thread                                                           */
    size_t bias_offset;   /* the widened bias in the workspace (after every thread's scratch)               */
    size_t ws_bytes;      /* the workspace the run needs                                                   */
    mr_backend backend;
} mr_gating_plan;

/* View slots. x [n, e] (any strides), bias [e], finished [n] (1-byte bools, any non-zero is true), outputs
 * contiguous: y [n, k] (xtype), expertIdx [n, k] and rowIdx [n, k] (int32), out [n, e] (fp32). Absent
 * optional slots are zero views. */
enum { MR_GT_X, MR_GT_BIAS, MR_GT_FINISHED, MR_GT_Y, MR_GT_IDX, MR_GT_ROW_IDX, MR_GT_OUT, MR_GT_COUNT };

/* Plan for `threads` threads at ISA level `isa`; MOEROUTE_ERR_TOO_LARGE when the scratch does not fit.
 * *workspace gets the bytes mr_gating_run needs as its workspace. */
moeroute_status mr_gating_plan_init(mr_gating_plan *plan, const mr_gating_desc *d, moeroute_isa isa, size_t threads,
                                    uint64_t *workspace, const char *api);

/* The run (the adapter's run signature). Checks data pointers and aliasing before writing anything. */
moeroute_status mr_gating_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                              mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_GATING_H */
