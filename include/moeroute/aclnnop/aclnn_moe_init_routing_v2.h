/* aclnnop/aclnn_moe_init_routing_v2.h -- aclnnMoeInitRoutingV2 (docs/operators/init_routing_v2.md), CPU.
 *
 * Stable sort of the flat positions f = r*K + j of expertIdx by expert id; expandedRowIdxOut[f] = the
 * expanded row of that copy. dropPadMode 0 (dropless): expandedXOut [A, H], A = activeNum == 0 ? N*K :
 * min(N*K, activeNum), row i = x[perm[i] / K]; expertTokensCountOrCumsumFlag 1 = inclusive cumsum, 2 = count
 * per expert, into expertTokensCountOrCumsumOut [E] INT32. dropPadMode 1 (drop & pad): expandedXOut
 * [E, C, H]; the first C copies of each expert (in sorted order) keep a slot, the rest get index -1;
 * unfilled slots are zero rows; expertTokensBeforeCapacityFlag writes each expert's count before dropping.
 * Statuses: 161001 NULL required tensor/pointer; 161002 dtype/format, a view outside its storage, a
 * non-contiguous output, overlapping buffers, at run time an expert id outside [0, E) where E is used,
 * a small workspace; 561002 shapes and attributes; 561103 NULL executor. Outputs untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_V2_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_V2_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingV2GetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIdx, int64_t activeNum, int64_t expertCapacity, int64_t expertNum,
    int64_t dropPadMode, int64_t expertTokensCountOrCumsumFlag, bool expertTokensBeforeCapacityFlag,
    const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut, const aclTensor *expertTokensCountOrCumsumOut,
    const aclTensor *expertTokensBeforeCapacityOut, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeInitRoutingV2(void *workspace, uint64_t workspaceSize,
                                                      aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_INIT_ROUTING_V2_H */
