/* aclnnop/aclnn_moe_distribute_dispatch.h -- aclnnMoeDistributeDispatch, the V1 of the MC2 dispatch
 * (docs/operators/distribute.md "V1"; layer spec 11.5), CPU, pure C11 (layer decision 19).
 *
 * aclnnMoeDistributeDispatchV2 (aclnn_moe_distribute_dispatch_v2.h) without commAlg, and with expandIdxOut
 * [Bs * K] INT32 in place of assistInfoForCombineOut: the same rows, scales, counts and statuses. expandIdxOut
 * is opaque bookkeeping for the matching aclnnMoeDistributeCombine (layer decision 18); moeroute's layout:
 * expandIdxOut[t * K + j] = the position of slot (t, j) among this rank's active slots sent to the same expert
 * (in (token, slot) order), -1 for a slot that sends nothing (masked, or an id >= moeExpertNum). */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_DISPATCH_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_DISPATCH_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeDistributeDispatchGetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIds, const aclTensor *scalesOptional,
    const aclTensor *xActiveMaskOptional, const aclTensor *expertScalesOptional, const char *groupEp,
    int64_t epWorldSize, int64_t epRankId, int64_t moeExpertNum, const char *groupTp, int64_t tpWorldSize,
    int64_t tpRankId, int64_t expertShardType, int64_t sharedExpertNum, int64_t sharedExpertRankNum,
    int64_t quantMode, int64_t globalBs, int64_t expertTokenNumsType, const aclTensor *expandXOut,
    const aclTensor *dynamicScalesOut, const aclTensor *expandIdxOut, const aclTensor *expertTokenNumsOut,
    const aclTensor *epRecvCountsOut, const aclTensor *tpRecvCountsOut, const aclTensor *expandScalesOut,
    uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeDistributeDispatch(void *workspace, uint64_t workspaceSize,
                                                           aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_DISPATCH_H */
