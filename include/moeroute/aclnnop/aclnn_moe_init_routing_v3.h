/* aclnnop/aclnn_moe_init_routing_v3.h -- aclnnMoeInitRoutingV3 (docs/operators/init_routing_v3.md), CPU.
 *
 * Only experts in activeExpertRange [start, end) are routed (stable sort by id); V = their copies.
 * rowIdxType 0: expandedRowIdxOut[f] = expanded row of copy f, -1 for filtered copies; rowIdxType 1:
 * expandedRowIdxOut[i] = f for i < V, -1 after. expandedXOut rows i < V are x[f / K] (quantMode -1, x
 * FLOAT16/BFLOAT16/FLOAT/INT8) or its dynamic int8 quantization (quantMode 1, optional smooth scales
 * [end - start, H]); rows >= V are not written. expandedScaleOut [N*K]: the per-row dynamic scale, or
 * scale[token] when quantMode is -1 and scaleOptional [N] is given. expertTokensCountOrCumsumOut INT64:
 * type 1 counts [end - start]; type 2 (expert id, count) pairs [expertNum, 2].
 * Statuses: 161001 NULL required tensor; 161002 dtype/format/view; 561002 shapes and attributes. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_V3_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_V3_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingV3GetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIdx, const aclTensor *scaleOptional, const aclTensor *offsetOptional,
    int64_t activeNum, int64_t expertCapacity, int64_t expertNum, int64_t dropPadMode, int64_t expertTokensNumType,
    bool expertTokensNumFlag, int64_t quantMode, const aclIntArray *activeExpertRangeOptional, int64_t rowIdxType,
    const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut, const aclTensor *expertTokensCountOrCumsumOut,
    const aclTensor *expandedScaleOut, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingV3(void *workspace, uint64_t workspaceSize,
                                                      aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_V3_H */
