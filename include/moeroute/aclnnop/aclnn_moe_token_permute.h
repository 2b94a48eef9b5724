/* aclnnop/aclnn_moe_token_permute.h -- aclnnMoeTokenPermute (docs/operators/token_permute.md), CPU.
 *
 * Groups the k copies of every token by expert: a stable sort of the flat positions f = t*k + j of indices
 * ([T, k] or [T], INT32 or INT64) by index value; sortedIndicesOut[f] = the output row of copy f (INT32
 * [T*k]); permuteTokensOut row i = tokens[perm[i] / k] for the first n = numOutTokens rows (numOutTokens 0:
 * all T*k; negative: T*k + numOutTokens, clamped at 0). tokens [T, ...] (rank >= 2, FLOAT16/BFLOAT16/FLOAT/
 * INT8) are copied bit for bit; permuteTokensOut is [n, ...] with the same trailing dims.
 * Statuses: 161001 NULL tensor; 161002 dtype/format, a view outside its storage, a non-contiguous output, at
 * run time an INT64 index outside int32, overlapping buffers; 561002 shapes, paddedMode true, the Atlas A2/A3
 * limits k <= 512 and T*k < 16777215 (MOEROUTE_DEVICE_LIMITS=0 lifts the limits); 561103 NULL executor. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_TOKEN_PERMUTE_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_TOKEN_PERMUTE_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeTokenPermuteGetWorkspaceSize(const aclTensor *tokens, const aclTensor *indices,
                                                                     int64_t numOutTokens, bool paddedMode,
                                                                     const aclTensor *permuteTokensOut,
                                                                     const aclTensor *sortedIndicesOut,
                                                                     uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeTokenPermute(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                                     aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_TOKEN_PERMUTE_H */
