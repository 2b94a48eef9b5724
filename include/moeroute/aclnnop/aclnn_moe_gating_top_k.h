/* aclnnop/aclnn_moe_gating_top_k.h -- aclnnMoeGatingTopK (docs/operators/gating.md), CPU.
 *
 * Expert selection of an MoE layer: per row of x [N, E], scores s = sigmoid(x) (normType 1) or softmax(x)
 * (normType 0, as exp(x - max) times the reciprocal of their sum); selection scores b = s + bias (bias only
 * picks, it never weighs); with groups (groupCount > 1, groupCount != E, kGroup != groupCount) only the
 * experts of the kGroup best groups compete, a group scoring its best b (groupSelectMode 0) or the sum of its
 * two best (1); expertIdxOut = the k best b in descending order (ties to the lower expert index, NaN last);
 * yOut = s of those experts, divided by (their sum + eps) for sigmoid, times routedScalingFactor, rounded
 * to the dtype of x (RNE); outOut [N, E] FLOAT = s when outFlag. Approximate versus Ascend only through exp
 * and sigmoid (within 1 ulp of the correctly rounded fp32 value here; the device's functions are not
 * published); the same bits on every CPU, ISA level and thread count.
 * x FLOAT16/BFLOAT16/FLOAT [N, E]; biasOptional [E] of x's dtype; yOut [N, k] of x's dtype; expertIdxOut
 * INT32 [N, k]; outOut FLOAT (required even when outFlag is false; [N, E] when it is true).
 * Statuses: 161001 NULL tensor/pointer; 161002 dtype/format, a view outside its storage, a non-contiguous
 * output, overlapping buffers at run time; 561002 shapes and attributes: x not 2-D, bias not [E], k not in
 * [1, E] or above kGroup*E/groupCount, kGroup not in [1, groupCount], groupCount <= 0 or not dividing E,
 * groupSelectMode or normType not 0/1, mode 1 with fewer than 2 experts per group, renorm != 0, output shapes,
 * and the Atlas A2/A3 limits E <= 2048 and groupCount * align32(E/groupCount) <= 2048 when grouped
 * (MOEROUTE_DEVICE_LIMITS=0 lifts those two); 561103 NULL executor. Outputs are untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeGatingTopKGetWorkspaceSize(
    const aclTensor *x, const aclTensor *biasOptional, int64_t k, int64_t kGroup, int64_t groupCount,
    int64_t groupSelectMode, int64_t renorm, int64_t normType, bool outFlag, double routedScalingFactor, double eps,
    const aclTensor *yOut, const aclTensor *expertIdxOut, const aclTensor *outOut, uint64_t *workspaceSize,
    aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeGatingTopK(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                                   aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_H */
