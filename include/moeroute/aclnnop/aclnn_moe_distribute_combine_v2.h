/* aclnnop/aclnn_moe_distribute_combine_v2.h -- aclnnMoeDistributeCombineV2 (docs/operators/distribute.md;
 * layer spec 11.4), CPU, expert-parallel subset, pure C11 (layer decision 19).
 *
 * The way back of aclnnMoeDistributeDispatchV2 over the same communicator: for every active token t of this
 * rank, in fp32 from acc = +0, for j = 0..K-1 with expertIds[t][j] < moeExpertNum (and the slot active):
 * acc = acc + f32(row * expertScales[t][j]), the row being what the owning rank's expert produced for (t, j)
 * (expandX of that rank, found through its assistInfoForCombine / epSendCounts); then each shared expert's row
 * and sharedExpertXOptional[t], unweighted; xOut[t] = acc rounded (RNE) to x's dtype. Inactive tokens' rows are
 * not written. expandX [A, H] FLOAT16/BFLOAT16 (the rank's expert output, rows in dispatch order); expertIds,
 * expertScales [Bs, K] INT32 / FLOAT; assistInfoForCombine [A * 128] and epSendCounts [epWorldSize *
 * localExpertNum] INT32 exactly as dispatch wrote them; xActiveMaskOptional as given to dispatch;
 * sharedExpertXOptional and xOut [Bs, H] in expandX's dtype. tpSendCountsOptional and expandScalesOptional are
 * accepted and not read; activationScaleOptional, weightScaleOptional, groupListOptional must be NULL;
 * outDtype, commQuantMode (2: not implemented) and groupListType must be 0. Statuses as dispatch; at run time
 * also 161002 when the bookkeeping tensors do not match this rank's expert ids and mask. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_COMBINE_V2_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_COMBINE_V2_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeDistributeCombineV2GetWorkspaceSize(
    const aclTensor *expandX, const aclTensor *expertIds, const aclTensor *assistInfoForCombine,
    const aclTensor *epSendCounts, const aclTensor *expertScales, const aclTensor *tpSendCountsOptional,
    const aclTensor *xActiveMaskOptional, const aclTensor *activationScaleOptional,
    const aclTensor *weightScaleOptional, const aclTensor *groupListOptional, const aclTensor *expandScalesOptional,
    const aclTensor *sharedExpertXOptional, const char *groupEp, int64_t epWorldSize, int64_t epRankId,
    int64_t moeExpertNum, const char *groupTp, int64_t tpWorldSize, int64_t tpRankId, int64_t expertShardType,
    int64_t sharedExpertNum, int64_t sharedExpertRankNum, int64_t globalBs, int64_t outDtype, int64_t commQuantMode,
    int64_t groupListType, const char *commAlg, const aclTensor *xOut, uint64_t *workspaceSize,
    aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeDistributeCombineV2(void *workspace, uint64_t workspaceSize,
                                                            aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_COMBINE_V2_H */
