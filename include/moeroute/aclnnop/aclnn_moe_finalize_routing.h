/* aclnnop/aclnn_moe_finalize_routing.h -- aclnnMoeFinalizeRouting (docs/operators/finalize_routing.md), CPU.
 *
 * The combine after the expert FFN, V1 index layout (k-major, as MoeInitRouting writes it):
 *   acc = x1[i] + x2Optional[i]  (or x1[i] + 0 without x2: -0 becomes +0)
 *   for k in 0..K-1: r = expandedRowIdx[i + k*N]; e = expandedExpertIdx[i][k]
 *                    acc = acc + scales[i][k] * (expandedX[r] + bias[e])
 *   out[i] = acc
 * every + and x rounded on its own, in this order: in fp16 for FLOAT16, in fp32 for FLOAT and BFLOAT16, and a
 * BFLOAT16 result is stored rounding ties away from zero. expandedX [M, H] (M >= N*K), x1, x2Optional, out
 * [N, H], bias [E, H], scales [N, K], all one float dtype (FLOAT16, BFLOAT16, FLOAT); expandedRowIdx INT32 [M],
 * values in [0, M); expandedExpertIdx INT32 [N, K], values in [0, E).
 * Statuses: 161001 NULL tensor/pointer; 161002 dtype/format, a view outside its storage, a non-contiguous
 * output, at run time overlapping buffers, a row index outside [0, M) or an expert id outside [0, E) (the
 * message names the position); 561002 ranks and shapes, K = 0, E = 0, M < N*K; 561103 NULL executor. Outputs
 * are untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_FINALIZE_ROUTING_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_FINALIZE_ROUTING_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeFinalizeRoutingGetWorkspaceSize(
    const aclTensor *expandedX, const aclTensor *x1, const aclTensor *x2Optional, const aclTensor *bias,
    const aclTensor *scales, const aclTensor *expandedRowIdx, const aclTensor *expandedExpertIdx, const aclTensor *out,
    uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeFinalizeRouting(void *workspace, uint64_t workspaceSize,
                                                        aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_FINALIZE_ROUTING_H */
