/* aclnnop/aclnn_moe_compute_expert_tokens.h -- aclnnMoeComputeExpertTokens (docs/operators/compute_expert_tokens.md).
 *
 * out[e] = number of i with sortedExperts[i] <= e, for e in [0, numExperts). sortedExperts: 1-D INT32,
 * ascending, values in [0, numExperts); out: 1-D INT32 [numExperts]. Statuses: 161001 NULL; 161002
 * dtype/format/view, at run time a value outside [0, numExperts) or a descending pair; 561002 ranks,
 * numExperts <= 0 or > 2048, length >= 2^24. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_COMPUTE_EXPERT_TOKENS_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_COMPUTE_EXPERT_TOKENS_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeComputeExpertTokensGetWorkspaceSize(const aclTensor *sortedExperts,
                                                                           int64_t numExperts, const aclTensor *out,
                                                                           uint64_t *workspaceSize,
                                                                           aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeComputeExpertTokens(void *workspace, uint64_t workspaceSize,
                                                            aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_COMPUTE_EXPERT_TOKENS_H */
