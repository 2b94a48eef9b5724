/* The init-routing operator shared by aclnnMoeInitRoutingQuant, aclnnMoeInitRouting and the native API.
 * Phase 1 (mr_routing_plan_init) validates what shapes and attributes decide and fixes the workspace
 * layout; phase 2 (mr_routing_run) checks the data and runs. Nothing is written to any output before every
 * check of phase 2 has passed. */
#ifndef MR_OPERATORS_INIT_ROUTING_H
#define MR_OPERATORS_INIT_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "moeroute.h"
#include "threadpool/threadpool.h"

typedef struct mr_routing_shape {
    int64_t n, k, h;    /* tokens, experts per token, hidden size */
    int64_t active_num; /* tokens whose copies are written (clamped to n) */
    mr_xtype xtype;
    int quant;          /* 1: int8 static quant; 0: bit copy in x's dtype */
    double scale, offset;
} mr_routing_shape;

/* Buffers of one run. Strides are in elements; data pointers point at element (0, 0). */
typedef struct mr_routing_io {
    const void *x;
    int64_t x_s0, x_s1;
    const int32_t *expert;
    int64_t expert_s0, expert_s1;
    const int32_t *row_idx; /* ignored when canonical_rows */
    int64_t row_s0, row_s1;
    int canonical_rows;     /* 1: row_idx[r][j] = j*n + r, no array */
    void *expanded_x;
    int32_t *expanded_row_idx;
    int32_t *expanded_expert_idx;
} mr_routing_io;

/* Byte offsets of the scratch arrays inside the workspace (computed once, used by both phases). */
typedef struct mr_routing_workspace {
    size_t keys, rows, perm, tmp, bitmap, hist, rowbuf; /* offsets from the 64-byte aligned base */
    size_t hist_cap;                            /* counting-sort id range the histogram holds */
    size_t size;                                /* bytes to ask the caller for (includes alignment slack) */
} mr_routing_workspace;

typedef struct mr_routing_plan {
    mr_routing_shape shape;
    int64_t rows_total;  /* L = n * k              */
    int64_t rows_active; /* A = min(n, active) * k */
    size_t threads;      /* most threads a run may use; sizes the per-thread sort histograms */
    size_t x_esize, out_esize;
    size_t out_bytes;    /* A * h * out_esize      */
    int stream_stores;   /* output larger than the last-level cache: bypass it */
    mr_quant_params quant;
    const mr_kernel_table *kernels;
    mr_routing_workspace ws;
} mr_routing_plan;

/* Validate shape-level facts, choose kernels for `isa` and lay out the workspace for runs on pools of at
 * most `threads` threads.
 * Errors: MOEROUTE_ERR_INVALID_SHAPE (negative dims or active_num), MOEROUTE_ERR_TOO_LARGE (n*k > INT32_MAX,
 * a byte size overflow). `api` prefixes messages. */
moeroute_status mr_routing_plan_init(mr_routing_plan *plan, const mr_routing_shape *shape, moeroute_isa isa,
                                     size_t threads, const char *api);

/* Run a plan. workspace must hold plan->ws.size bytes (any alignment). pool may be NULL (serial).
 * Errors: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_TOO_LARGE (a view's extent overflows),
 * MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_WORKSPACE, MOEROUTE_ERR_INVALID_VALUE (row_idx not a permutation). */
moeroute_status mr_routing_run(const mr_routing_plan *plan, const mr_routing_io *io, void *workspace,
                               size_t workspace_size, mr_pool *pool, const char *api);

/* x element size for an xtype. */
size_t mr_xtype_size(mr_xtype t);

#endif /* MR_OPERATORS_INIT_ROUTING_H */
