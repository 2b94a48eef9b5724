/* aclnnop/aclnn_grouped_matmul_v2.h -- aclnnGroupedMatmulV2 (docs/operators/grouped_matmul.md), CPU.
 *
 * aclnnGroupedMatmul (aclnn_grouped_matmul.h) with an explicit groupType, which must be 0 (split along M):
 * weights as a list of E 2-D [K, N] tensors, a host aclIntArray cumsum group list checked at
 * GetWorkspaceSize (length E, non-decreasing, last entry M), the same dtype rows, numerics and statuses. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V2_H
#define MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V2_H

#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulV2GetWorkspaceSize(
    const aclTensorList *x, const aclTensorList *weight, const aclTensorList *biasOptional,
    const aclTensorList *scaleOptional, const aclTensorList *offsetOptional,
    const aclTensorList *antiquantScaleOptional, const aclTensorList *antiquantOffsetOptional,
    const aclIntArray *groupListOptional, int64_t splitItem, int64_t groupType, const aclTensorList *y,
    uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulV2(void *workspace, uint64_t workspaceSize,
                                                     aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V2_H */
