/* aclnnop/aclnn_moe_init_routing_quant.h -- aclnnMoeInitRoutingQuant (spec section 1), CPU implementation.
 *
 * Phase 1 validates every argument that does not depend on data and plans the work; phase 2 checks the
 * data (rowIdx must be a permutation of 0..N*K-1) and runs. Status codes (spec decision 6):
 *   ACLNN_ERR_PARAM_NULLPTR 161001     a tensor, workspaceSize or executor pointer is NULL; at run time a
 *                                      non-empty tensor whose data address is NULL
 *   ACLNN_ERR_PARAM_INVALID 161002     dtype/format not allowed (x f16/bf16/f32, rowIdx/expertIdx int32,
 *                                      expandedX int8, index outputs int32, all ND); a view reaching outside
 *                                      its storage; a non-contiguous output; overlapping outputs/inputs;
 *                                      at run time: rowIdx not a permutation, workspace too small, released
 *                                      or unknown executor
 *   ACLNN_ERR_INNER_TILING_ERROR 561002 shapes: x not 2-D; rowIdx not 2-D or shape != expertIdx shape;
 *                                      x.dim0 != expertIdx.dim0; activeNum < 0; expandedXOut not
 *                                      [min(N,activeNum)*K, H]; index outputs not 1-D [N*K]; N*K > INT32_MAX
 *                                      or a byte size that overflows
 *   ACLNN_ERR_INNER_NULLPTR 561103     phase 2 with a NULL executor
 * Every non-zero status leaves a message for aclGetRecentErrMsg, and no output byte is written.
 * scale and offset are converted double -> float -> fp16; they are never validated (NaN, inf, 0 allowed).
 * The stream argument may be NULL; the work runs synchronously inside the phase-2 call. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_QUANT_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_QUANT_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingQuantGetWorkspaceSize(
    const aclTensor *x, const aclTensor *rowIdx, const aclTensor *expertIdx, int64_t activeNum, double scale,
    double offset, const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut,
    const aclTensor *expandedExpertIdxOut, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingQuant(void *workspace, uint64_t workspaceSize,
                                                         aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_QUANT_H */
