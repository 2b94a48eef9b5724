/* aclnnop/aclnn_grouped_matmul.h -- aclnnGroupedMatmul, the first version (docs/operators/grouped_matmul.md), CPU.
 *
 * The V4 operator of aclnn_grouped_matmul_v4.h in its oldest form: the weights are a list of E 2-D [K, N]
 * tensors (one per expert, each with its own address and strides; a transposed view of a stored [N, K] is
 * fine; INT8 weights may be FRACTAL_NZ with storage [ceil(N/32), ceil(K/16), 16, 32]), bias and scale lists of
 * E 1-D [N] tensors when given, and the group list is a host aclIntArray of E inclusive cumsum row offsets whose
 * last entry is M (NULL only when E = 1). Grouping along M is implied; splitItem 2 or 3. Same dtype rows
 * (the int8 rows with a scale dequantize per channel only), numerics and statuses as V3/V4, plus at
 * GetWorkspaceSize: 161001 for a NULL group list with E > 1; 161002 for a group list whose length is not E,
 * that decreases, or whose last entry is not M. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_H
#define MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_H

#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulGetWorkspaceSize(
    const aclTensorList *x, const aclTensorList *weight, const aclTensorList *biasOptional,
    const aclTensorList *scaleOptional, const aclTensorList *offsetOptional,
    const aclTensorList *antiquantScaleOptional, const aclTensorList *antiquantOffsetOptional,
    const aclIntArray *groupListOptional, int64_t splitItem, const aclTensorList *y, uint64_t *workspaceSize,
    aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmul(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                                   aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_H */
