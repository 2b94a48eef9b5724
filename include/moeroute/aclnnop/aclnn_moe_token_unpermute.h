/* aclnnop/aclnn_moe_token_unpermute.h -- aclnnMoeTokenUnpermute (docs/operators/token_unpermute.md), CPU.
 *
 * The weighted combine after the expert FFN: for every token t, out[t] = sum over j = 0..k-1, in that order,
 * of probs[t][j] * permutedTokens[d], d = sortedIndices[t*k + j], in fp32 (row and prob widened exactly,
 * product and sum rounded separately, slot 0 starts the sum), stored RNE to the token dtype. A slot is
 * skipped when d >= M (permutedTokens [M, H] may hold fewer rows than T*k) or its prob is +-0; a token with
 * every slot skipped gets +0. Without probs k = 1 and out[t] = permutedTokens[sortedIndices[t]].
 * permutedTokens FLOAT16/BFLOAT16/FLOAT [M, H]; sortedIndices INT32 [T*k]; probsOptional [T, k] of any of the
 * three float types; out [T, H] in permutedTokens' dtype. paddedMode must be false, restoreShapeOptional NULL.
 * Statuses: 161001 NULL tensor/pointer; 161002 dtype/format, paddedMode true, restoreShapeOptional given, a
 * view outside its storage, a non-contiguous output, at run time overlapping buffers or a slot with a
 * non-zero prob (or no probs) whose index is negative; 561002 ranks, T*k != length of sortedIndices, out not
 * [T, H], k > 512 (Atlas A2/A3 limit; MOEROUTE_DEVICE_LIMITS=0 lifts it); 561103 NULL executor. Outputs are
 * untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_TOKEN_UNPERMUTE_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_TOKEN_UNPERMUTE_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeTokenUnpermuteGetWorkspaceSize(const aclTensor *permutedTokens,
                                                                       const aclTensor *sortedIndices,
                                                                       const aclTensor *probsOptional, bool paddedMode,
                                                                       const aclIntArray *restoreShapeOptional,
                                                                       const aclTensor *out, uint64_t *workspaceSize,
                                                                       aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeTokenUnpermute(void *workspace, uint64_t workspaceSize,
                                                       aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_TOKEN_UNPERMUTE_H */
