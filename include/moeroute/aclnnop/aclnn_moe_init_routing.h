/* aclnnop/aclnn_moe_init_routing.h -- aclnnMoeInitRouting (spec section 2): the routing of
 * aclnnMoeInitRoutingQuant with expandedXOut a bit copy of x's rows in x's dtype (f16, bf16 or f32).
 * Validation, status codes and messages are those listed in aclnn_moe_init_routing_quant.h, with
 * expandedXOut's dtype required to equal x's. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingGetWorkspaceSize(
    const aclTensor *x, const aclTensor *rowIdx, const aclTensor *expertIdx, int64_t activeNum,
    const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut, const aclTensor *expandedExpertIdxOut,
    uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRouting(void *workspace, uint64_t workspaceSize,
                                                    aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_H */
