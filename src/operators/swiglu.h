/* SwiGlu (docs/operators/swiglu.md, layer spec 6): x split along one dim into halves A and B,
 * out = silu(A) * B in fp32 (the project's one SiLU, layer decision 11), rounded once to the dtype. Shared by
 * aclnnSwiGlu and moeroute_swiglu. */
#ifndef MR_OPERATORS_SWIGLU_H
#define MR_OPERATORS_SWIGLU_H

#include <stdint.h>

#include "backend/cpu_backend.h"
#include "common/view.h"
#include "kernels/kernels.h"
#include "operators/dynamic_quant_rows.h"

/* View slots: x (rank >= 1, any strides), out (x's shape with dim halved, contiguous). */
enum { MR_SWG_X, MR_SWG_OUT, MR_SWG_COUNT };

typedef struct mr_swiglu_plan {
    uint32_t dim;          /* the split dim of x's view (0 .. ndim-1)                                        */
    int64_t outer, half, inner; /* products of the dims before dim, half of dim, product of the dims after   */
    mr_xtype xtype;
    const float *silu;     /* mr_silu_table(xtype): NULL for fp32                                            */
    int stream;            /* bf16 rows bypass the cache (mr_backend_stream_output)                          */
    mr_backend backend;
    mr_mlp_ws ws;
} mr_swiglu_plan;

/* Phase 1 from x's rank and dims (validated: dim < ndim, dims[dim] even). Errors: MOEROUTE_ERR_TOO_LARGE. */
moeroute_status mr_swiglu_plan_init(mr_swiglu_plan *p, uint32_t ndim, const int64_t *dims, uint32_t dim,
                                    mr_xtype xtype, moeroute_isa isa, size_t threads, const char *api);

/* Phase 2. Errors before any output byte is written: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_WORKSPACE,
 * MOEROUTE_ERR_ALIASING. */
moeroute_status mr_swiglu_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                              mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_SWIGLU_H */
