/* aclnnop/aclnn_moe_re_routing.h -- aclnnMoeReRouting (docs/operators/re_routing.md), CPU.
 *
 * After the expert-parallel all-to-all a rank holds the tokens it received rank-major: the blocks of source
 * rank 0 for its local experts 0..E-1, then those of rank 1, ... (block (r, e) has expertTokenNumPerRank[r][e]
 * rows). MoeReRouting reorders them expert-major (expert 0's blocks from ranks 0..R-1, then expert 1, ...),
 * keeping the row order inside every block: permuteTokensOut[dst] = tokens[src] (bit copy),
 * permutePerTokenScalesOut[dst] = perTokenScalesOptional[src], permuteTokenIdxOut[dst] = src (the gather
 * index), expertTokenNumOut[e] = sum over r of expertTokenNumPerRank[r][e].
 * tokens [A, H] FLOAT16/BFLOAT16/INT8; expertTokenNumPerRank [R, E] INT32/INT64 (its sum must be A);
 * perTokenScalesOptional [A] FLOAT; outputs [A, H] in the tokens' dtype, [A] FLOAT (0.0 everywhere when no
 * scales are given), [A] INT32, [E] in the counts' dtype. expertTokenNumType must be 1 (counts), idxType 0
 * (gather index). The name and parameter names follow CANN's generated-wrapper rule (no CANN header exists).
 * Statuses: 161001 NULL tensor/pointer; 161002 dtype/format, a view outside its storage, a non-contiguous
 * output, at run time a negative count, counts whose sum is not A, overlapping buffers; 561002 ranks and
 * shapes, H, R or E of 0, A above INT32_MAX, expertTokenNumType != 1, idxType != 0, H >= 16384 (torch_npu's
 * documented limit; MOEROUTE_DEVICE_LIMITS=0 lifts it); 561103 NULL executor. Outputs are untouched on
 * refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_RE_ROUTING_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_RE_ROUTING_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeReRoutingGetWorkspaceSize(const aclTensor *tokens,
                                                                  const aclTensor *expertTokenNumPerRank,
                                                                  const aclTensor *perTokenScalesOptional,
                                                                  int64_t expertTokenNumType, int64_t idxType,
                                                                  const aclTensor *permuteTokensOut,
                                                                  const aclTensor *permutePerTokenScalesOut,
                                                                  const aclTensor *permuteTokenIdxOut,
                                                                  const aclTensor *expertTokenNumOut,
                                                                  uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeReRouting(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                                  aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_RE_ROUTING_H */
