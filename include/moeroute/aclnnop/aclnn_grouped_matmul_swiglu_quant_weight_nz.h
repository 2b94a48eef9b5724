/* aclnnop/aclnn_grouped_matmul_swiglu_quant_weight_nz.h -- aclnnGroupedMatmulSwigluQuantWeightNZ
 * (docs/operators/grouped_matmul_swiglu_quant.md), CPU.
 *
 * aclnnGroupedMatmulSwigluQuant of aclnn_grouped_matmul_swiglu_quant.h, except for how the weight is read: its
 * storage must be the 5-D FRACTAL_NZ shape [E, N/32, K/16, 16, 32] and it is read as NZ whatever its format tag;
 * a 3-D view [E, K, N] gives the logical sizes, a 5-D view is the storage shape itself. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_SWIGLU_QUANT_WEIGHT_NZ_H
#define MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_SWIGLU_QUANT_WEIGHT_NZ_H

#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize(
    const aclTensor *x, const aclTensor *weight, const aclTensor *bias, const aclTensor *offset,
    const aclTensor *weightScale, const aclTensor *xScale, const aclTensor *groupList, aclTensor *output,
    aclTensor *outputScale, aclTensor *outputOffset, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulSwigluQuantWeightNZ(void *workspace, uint64_t workspaceSize,
                                                                      aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_SWIGLU_QUANT_WEIGHT_NZ_H */
