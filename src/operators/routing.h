/* The routing operators as one plan over shared steps (docs/operators/shared_steps.md): MoeInitRouting and
 * MoeInitRoutingQuant (V1), MoeInitRoutingV2 and QuantV2, MoeInitRoutingV3. Front ends (aclnn adapters, the
 * native API) validate the arguments they own, fill an mr_route_desc, plan once (phase 1) and run with a view
 * per argument slot (phase 2). Phase 2 checks the data and writes no output byte before every check passed.
 *
 * Steps of a run: flatten the index inputs -> data checks -> route-sort (perm) -> destination map (dst) ->
 * index outputs -> count outputs -> row step (gather each source row once, transform, write to its
 * destinations) -> pad rows. Every step reads inputs or workspace, never an output. */
#ifndef MR_OPERATORS_ROUTING_H
#define MR_OPERATORS_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "backend/cpu_backend.h"
#include "common/view.h"
#include "kernels/kernels.h"
#include "moeroute.h"

typedef enum mr_route_variant {
    MR_ROUTE_V1, /* rowIdx given; expandedRowIdx indexed by rowIdx value; activeNum counts tokens           */
    MR_ROUTE_V2, /* V2 / QuantV2: flat positions; activeNum counts rows (0 = all); drop & pad               */
    MR_ROUTE_V3  /* expert range filter, gather/scatter row index, int64 token numbers                      */
} mr_route_variant;

typedef enum mr_row_transform { MR_ROW_COPY, MR_ROW_STATIC, MR_ROW_DYNAMIC } mr_row_transform;

typedef enum mr_count_kind {
    MR_COUNT_NONE,
    MR_COUNT_CUMSUM_I32, /* V2 flag 1 */
    MR_COUNT_I32,        /* V2 flag 2 */
    MR_COUNT_I64,        /* V3 type 1: [end - start] */
    MR_COUNT_KV_I64      /* V3 type 2: [E, 2] (id, count) pairs */
} mr_count_kind;

/* Argument slots of a run; absent arguments are zero views (mr_view_present() == 0). */
enum {
    MR_RV_X,          /* [N, H]                                                                           */
    MR_RV_EXPERT,     /* [N, K] int32 (int64 for MoeTokenPermute: narrowed, checked)                      */
    MR_RV_ROW_IDX,    /* V1: [N, K] int32 permutation; absent = canonical j*N + r                         */
    MR_RV_SCALE,      /* static [1] f32 (QuantV2) | smooth [R, H] f32 | V3 carried scale [N] f32          */
    MR_RV_OFFSET,     /* static [1] f32 (QuantV2)                                                         */
    MR_RV_OUT_X,      /* expanded rows                                                                    */
    MR_RV_OUT_ROW_IDX,
    MR_RV_OUT_EXPERT, /* V1 expandedExpertIdx [L]                                                         */
    MR_RV_OUT_COUNT,  /* token numbers                                                                    */
    MR_RV_OUT_BEFORE, /* V2 drop: counts before capacity [E]                                              */
    MR_RV_OUT_SCALE,  /* dynamic scales / V3 expandedScale                                                */
    MR_RV_COUNT
};
#define MR_RV_FIRST_OUTPUT MR_RV_OUT_X
extern const char *const mr_route_slot_names[MR_RV_COUNT];

typedef struct mr_route_desc {
    mr_route_variant variant;
    int64_t n, k, h;
    int64_t active;            /* V1: tokens (clamped to N); V2 dropless: rows, 0 = all; V3: unused        */
    int rows_exact;            /* V2 dropless: active is the exact row count in [0, N*K] (MoeTokenPermute)  */
    int drop;                  /* V2 drop & pad                                                             */
    int64_t capacity, experts; /* C and E                                                                   */
    mr_count_kind count_kind;
    int before_capacity;       /* V2 drop: write counts before dropping                                     */
    int32_t range_lo, range_hi; /* V3: experts in [range_lo, range_hi) are routed                           */
    int scatter_row_idx;       /* V3 rowIdxType 1                                                           */
    int x_int8;                /* V3: x is int8 (copy only); else xtype holds x's type                      */
    mr_xtype xtype;
    mr_row_transform transform;
    int static_from_views;     /* QuantV2: scale/offset come from the [1] tensors at run time               */
    double scale, offset;      /* V1 static attributes                                                      */
    int64_t smooth_rows;       /* dynamic: 0 none, 1 one row for all, else rows indexed by expert - lo      */
    int scale_carry;           /* V3 quantMode -1 with scale [N]                                            */
    int check_ids;             /* V2: every id must be in [0, E) (drop, counts, per-expert smooth scales)   */
} mr_route_desc;

typedef struct mr_route_ws {
    size_t keys, rows, perm, tmp, dst, bitmap, hist, cnt, smooth, rowbuf;
    size_t hist_entries, cnt_len, size;
} mr_route_ws;

typedef struct mr_route_plan {
    mr_route_desc d;
    mr_backend backend;
    int64_t L;                 /* N * K                                                                     */
    int64_t rows_limit;        /* V1/V2 dropless: A rows written; drop: E * C; V3: decided by the data      */
    int64_t out_rows;          /* rows of the expandedX view                                                */
    size_t x_esize, out_esize, out_bytes;
    int stream_stores;
    int dyn_odd;               /* the DeepSeek-V3 decode recipe of spec 5.4                                 */
    mr_quant_params quant;
    mr_route_ws ws;
} mr_route_plan;

/* Phase 1: derive sizes, choose kernels for `isa` and lay out the workspace for pools of `threads`.
 * The desc must already be validated by its front end; this checks only size arithmetic.
 * Errors: MOEROUTE_ERR_TOO_LARGE (N*K > INT32_MAX, a byte size overflow). `api` prefixes messages. */
moeroute_status mr_route_plan_init(mr_route_plan *plan, const mr_route_desc *desc, moeroute_isa isa, size_t threads,
                                   const char *api);

/* Phase 2. views[MR_RV_COUNT]; workspace of at least plan->ws.size bytes (any alignment); pool may be NULL.
 * Errors: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_WORKSPACE, MOEROUTE_ERR_TOO_LARGE,
 * MOEROUTE_ERR_INVALID_VALUE (rowIdx not a permutation, an expert id outside [0, E) where E indexes). */
moeroute_status mr_route_run(const mr_route_plan *plan, const mr_view *views, void *workspace, size_t workspace_size,
                             mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_ROUTING_H */
