/* aclnnop/aclnn_moe_init_routing_quant_v2.h -- aclnnMoeInitRoutingQuantV2 (docs/operators/init_routing_v2.md).
 *
 * Routing exactly as aclnnMoeInitRoutingV2; expandedXOut is INT8. quantMode 0 (static): scaleOptional and
 * offsetOptional FLOAT32 [1], the fp16 chain of MoeInitRoutingQuant. quantMode 1 (dynamic, per row):
 * optional smooth scales FLOAT32 [1, H] or [E, H], scale = max|v| / 127 in fp32, q = round-half-away(v /
 * scale) saturated, dynamicQuantScaleOutOptional FLOAT32 [A] (dropless) or [E*C] (drop; pad rows get 0).
 * Statuses as aclnnMoeInitRoutingV2. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_QUANT_V2_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_QUANT_V2_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingQuantV2GetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIdx, const aclTensor *scaleOptional, const aclTensor *offsetOptional,
    int64_t activeNum, int64_t expertCapacity, int64_t expertNum, int64_t dropPadMode,
    int64_t expertTokensCountOrCumsumFlag, bool expertTokensBeforeCapacityFlag, int64_t quantMode,
    const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut,
    const aclTensor *expertTokensCountOrCumsumOutOptional, const aclTensor *expertTokensBeforeCapacityOutOptional,
    const aclTensor *dynamicQuantScaleOutOptional, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingQuantV2(void *workspace, uint64_t workspaceSize,
                                                           aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_QUANT_V2_H */
