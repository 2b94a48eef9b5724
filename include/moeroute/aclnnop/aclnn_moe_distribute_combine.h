/* aclnnop/aclnn_moe_distribute_combine.h -- aclnnMoeDistributeCombine, the V1 of the MC2 combine
 * (docs/operators/distribute.md "V1"; layer spec 11.5), CPU, pure C11 (layer decision 19).
 *
 * aclnnMoeDistributeCombineV2 (aclnn_moe_distribute_combine_v2.h) without commAlg and sharedExpertXOptional,
 * taking expandIdx [Bs * K] INT32 (this rank's aclnnMoeDistributeDispatch output) in place of
 * assistInfoForCombine: the same sum (shared experts included), statuses and rules. expandIdx must be what
 * dispatch wrote for this rank's expertIds and mask: otherwise 161002 on every rank and nothing written. The
 * last attribute is spelled groupList_type in CANN 8.1.RC1 (same position and meaning). */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_COMBINE_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_COMBINE_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeDistributeCombineGetWorkspaceSize(
    const aclTensor *expandX, const aclTensor *expertIds, const aclTensor *expandIdx, const aclTensor *epSendCounts,
    const aclTensor *expertScales, const aclTensor *tpSendCountsOptional, const aclTensor *xActiveMaskOptional,
    const aclTensor *activationScaleOptional, const aclTensor *weightScaleOptional,
    const aclTensor *groupListOptional, const aclTensor *expandScalesOptional, const char *groupEp,
    int64_t epWorldSize, int64_t epRankId, int64_t moeExpertNum, const char *groupTp, int64_t tpWorldSize,
    int64_t tpRankId, int64_t expertShardType, int64_t sharedExpertNum, int64_t sharedExpertRankNum,
    int64_t globalBs, int64_t outDtype, int64_t commQuantMode, int64_t groupList_type, const aclTensor *xOut,
    uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeDistributeCombine(void *workspace, uint64_t workspaceSize,
                                                          aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_COMBINE_H */
