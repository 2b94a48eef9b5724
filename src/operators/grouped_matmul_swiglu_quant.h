/* GroupedMatmulSwigluQuant (layer spec 9, decisions 11, 13 and 15; docs/operators/grouped_matmul_swiglu_quant.md):
 * the int8 grouped matmul of operators/grouped_matmul.h into an int32 scratch in the workspace, then the
 * DequantSwigluQuant row epilogue of operators/dequant_swiglu_quant.h in its GroupedMatmulSwigluQuant variant
 * (per-token scale first, cumsum group list, fp16 double rounding). Shared by aclnnGroupedMatmulSwigluQuant(WeightNZ)
 * and moeroute_grouped_matmul_swiglu_quant. */
#ifndef MR_OPERATORS_GROUPED_MATMUL_SWIGLU_QUANT_H
#define MR_OPERATORS_GROUPED_MATMUL_SWIGLU_QUANT_H

#include "operators/dequant_swiglu_quant.h"
#include "operators/grouped_matmul.h"

/* What a front end validated: x int8 [m, k], weight int8 [e, k, n] (ND view of any strides, or FRACTAL_NZ
 * [e, ceil(n/32), ceil(k/16), 16, 32] contiguous when w_nz), weightScale [e, n] of wscale_type, xScale fp32 [m],
 * groupList int64 [groups] cumsum (groups <= e), output int8 [m, n/2], outputScale fp32 [m]. n even. */
typedef struct mr_gmmsq_desc {
    int64_t m, k, n, e, groups;
    int w_nz;
    mr_xtype wscale_type;
} mr_gmmsq_desc;

typedef struct mr_gmmsq_plan {
    mr_gmm_plan gmm;   /* x . W -> int32 [m, n] scratch (gmm.packed: weights packed beforehand) */
    mr_dsq_plan dsq;   /* scratch -> dequant -> SwiGLU -> int8 rows            */
    size_t acc_bytes;  /* the int32 scratch, 64-byte aligned size             */
    size_t ws_size;    /* 64 (alignment slack) + acc + gmm + dsq workspaces    */
} mr_gmmsq_plan;

/* View slots of the run; absent: none (every argument is required). */
enum { MR_GMMSQ_X, MR_GMMSQ_W, MR_GMMSQ_WSCALE, MR_GMMSQ_XSCALE, MR_GMMSQ_GROUPS, MR_GMMSQ_OUT, MR_GMMSQ_OUT_SCALE,
       MR_GMMSQ_COUNT };

/* MOEROUTE_ERR_TOO_LARGE when the sizes overflow. */
moeroute_status mr_gmmsq_plan_init(mr_gmmsq_plan *plan, const mr_gmmsq_desc *desc, moeroute_isa isa, size_t threads,
                                   const char *api);

/* Run (mr_op_run_fn). Refusals before any output is written: NULL data, aliasing, a short workspace, and
 * MOEROUTE_ERR_INVALID_VALUE for a decreasing cumsum or one above m (decision 13). Rows at and past the last
 * cumsum entry are not written (MOEROUTE_POISON_UNWRITTEN=1: output 0x7F, outputScale NaN). */
moeroute_status mr_gmmsq_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                             mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_GROUPED_MATMUL_SWIGLU_QUANT_H */
