/* MoeReRouting (docs/operators/re_routing.md, layer spec 4): the rows an expert-parallel all-to-all delivered
 * rank-major (source rank, then local expert) reordered expert-major (local expert, then source rank), with
 * their per-token scales, the gather index of every output row and the rows per expert. Every (rank, expert)
 * block is contiguous on both sides: row-contiguous tokens move as block copies with the copy kernels
 * (src/dispatch), other layouts through the row step (docs/operators/shared_steps.md "row step"). Front ends (the aclnn adapter, the native API) validate shapes and attributes and plan once;
 * the run checks the counts and writes no output byte before every check passed. */
#ifndef MR_OPERATORS_RE_ROUTING_H
#define MR_OPERATORS_RE_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "backend/cpu_backend.h"
#include "common/view.h"

/* View slots of the run (absent scales: zero view). */
enum {
    MR_RR_TOKENS,     /* [A, H], any strides                                                             */
    MR_RR_COUNTS,     /* [R, E] int32 or int64, any strides                                              */
    MR_RR_SCALES,     /* [A] fp32, any stride, optional                                                  */
    MR_RR_OUT_TOKENS, /* [A, H] contiguous                                                               */
    MR_RR_OUT_SCALES, /* [A] fp32: the permuted scales, or 0.0f without input scales                     */
    MR_RR_OUT_IDX,    /* [A] int32: the source row of every output row                                   */
    MR_RR_OUT_COUNT,  /* [E] in the counts' dtype                                                        */
    MR_RR_COUNT
};

typedef struct mr_re_routing_plan {
    int64_t a, h, r, e;   /* rows, hidden size, source ranks, local experts                           */
    size_t esize;         /* bytes per token element (2 for FLOAT16/BFLOAT16, 1 for INT8)               */
    int counts_i64;       /* counts (and expertTokenNumOut) are int64                                 */
    int has_scales;
    mr_backend backend;
    int stream_stores;    /* output rows bypass the cache (mr_backend_stream_output)                  */
    size_t out_bytes;
    size_t ws_dst, ws_blocks, ws_rowbuf, ws_size; /* workspace layout; ws_size includes alignment slack */
} mr_re_routing_plan;

/* Phase 1: sizes and workspace for pools of `threads`. Shapes must already be validated (a, h >= 0,
 * r, e >= 1, esize 1 or 2). Errors: MOEROUTE_ERR_TOO_LARGE (A above INT32_MAX, a byte size overflow). */
moeroute_status mr_re_routing_plan_init(mr_re_routing_plan *plan, int64_t a, int64_t h, int64_t r, int64_t e,
                                        size_t esize, int counts_i64, int has_scales, moeroute_isa isa,
                                        size_t threads, const char *api);

/* Phase 2 (the adapter's run signature). Errors, before anything is written: MOEROUTE_ERR_NULL_POINTER,
 * MOEROUTE_ERR_WORKSPACE, MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_INVALID_VALUE (a negative count, or counts whose
 * sum is not A; the message names the first offending position). */
moeroute_status mr_re_routing_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                  mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_RE_ROUTING_H */
