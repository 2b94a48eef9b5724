/* aclnnop/aclnn_grouped_matmul_v3.h -- aclnnGroupedMatmulV3 (docs/operators/grouped_matmul.md), CPU.
 *
 * The V4 operator of aclnn_grouped_matmul_v4.h without perTokenScale, groupListType (always 0: an INT64 [E]
 * cumsum), actType and the activation arguments: the same MoE subset (weights as one [E, K, N] tensor or a
 * list of E [K, N] tensors), dtype rows (the int8 rows with a scale
 * dequantize per channel only), numerics and statuses. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V3_H
#define MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V3_H

#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulV3GetWorkspaceSize(
    const aclTensorList *x, const aclTensorList *weight, const aclTensorList *biasOptional,
    const aclTensorList *scaleOptional, const aclTensorList *offsetOptional,
    const aclTensorList *antiquantScaleOptional, const aclTensorList *antiquantOffsetOptional,
    const aclTensor *groupListOptional, int64_t splitItem, int64_t groupType, const aclTensorList *y,
    uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulV3(void *workspace, uint64_t workspaceSize,
                                                     aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V3_H */
