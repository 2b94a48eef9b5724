/* aclnnop/aclnn_moe_distribute_dispatch_v2.h -- aclnnMoeDistributeDispatchV2 (docs/operators/distribute.md;
 * layer spec 11), CPU, expert-parallel subset, pure C11 (layer decision 19).
 *
 * Every rank of the HCCL communicator named groupEp (HcclGetCommName) calls it with the same attributes;
 * each active (token t, slot j) whose expert id e < moeExpertNum sends row t to the rank owning e (shared-
 * expert ranks first: e lives on rank sharedExpertRankNum + e / localExpertNum), and every active token to one
 * copy of each shared expert. A rank receives its rows grouped by local expert, then by source rank, then in
 * the source's (token, slot) order: quantMode 0 copies them bit for bit, quantMode 2 quantizes each row
 * (per-token symmetric int8, smooth scales of the destination expert, dynamicScalesOut = 1/f). x [Bs, H]
 * FLOAT16/BFLOAT16; expertIds [Bs, K] INT32; scalesOptional [moeExpertNum (+ sharedExpertNum with shared
 * ranks), H] FLOAT; xActiveMaskOptional [Bs] or [Bs, K] BOOL; expertScalesOptional [Bs, K] FLOAT;
 * expandXOut [A, H] x's dtype or INT8; dynamicScalesOut [A] FLOAT (required for quantMode 2);
 * assistInfoForCombineOut [A * 128] INT32; expertTokenNumsOut [localExpertNum] INT64 (type 0 cumsum, 1 count);
 * epRecvCountsOut [epWorldSize * localExpertNum] INT32; tpRecvCountsOut (optional) 1-D INT32;
 * expandScalesOut (optional) [A] FLOAT. assistInfo, epRecvCounts, tpRecvCounts and expandScales are opaque
 * bookkeeping for the matching combine (layer decision 18). Rows past the received total are not written.
 * Statuses: 161001 NULL; 161002 dtypes, views, and at run time a negative expert id, a row count above A,
 * attributes or batch sizes that differ between ranks, a peer's refusal; 561002 shapes and attributes (unknown
 * groupEp, epWorldSize not the communicator's size, tpWorldSize 2, expertShardType != 0, A below the bound,
 * and the Atlas A3 limits: Bs <= 512, H in [1024, 8192], K <= 16, moeExpertNum <= 1024, epWorldSize in
 * [2, 768], sharedExpertNum <= 4 -- MOEROUTE_DEVICE_LIMITS=0 lifts these); 561000 when the other ranks do not
 * come within the HCCL timeout (or the communicator is broken). Outputs are untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_DISPATCH_V2_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_DISPATCH_V2_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeDistributeDispatchV2GetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIds, const aclTensor *scalesOptional,
    const aclTensor *xActiveMaskOptional, const aclTensor *expertScalesOptional, const char *groupEp,
    int64_t epWorldSize, int64_t epRankId, int64_t moeExpertNum, const char *groupTp, int64_t tpWorldSize,
    int64_t tpRankId, int64_t expertShardType, int64_t sharedExpertNum, int64_t sharedExpertRankNum,
    int64_t quantMode, int64_t globalBs, int64_t expertTokenNumsType, const char *commAlg,
    const aclTensor *expandXOut, const aclTensor *dynamicScalesOut, const aclTensor *assistInfoForCombineOut,
    const aclTensor *expertTokenNumsOut, const aclTensor *epRecvCountsOut, const aclTensor *tpRecvCountsOut,
    const aclTensor *expandScalesOut, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeDistributeDispatchV2(void *workspace, uint64_t workspaceSize,
                                                             aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_DISTRIBUTE_DISPATCH_V2_H */
