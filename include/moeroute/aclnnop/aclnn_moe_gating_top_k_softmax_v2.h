/* aclnnop/aclnn_moe_gating_top_k_softmax_v2.h -- aclnnMoeGatingTopKSoftmaxV2 (docs/operators/gating.md), CPU.
 *
 * MoeGatingTopKSoftmax without rowIdx, plus two modes: renorm 0 selects on the softmax p as V1 does, and
 * with outputSoftmaxResultFlag writes every p to softmaxResultOutOptional (FLOAT, x's shape); renorm 1 selects
 * the k largest x first and yOut is the softmax over those k values (max, exp, sum in slot order, division).
 * finishedOptional rows get expert index E; yOut rounding as V1 (fp16 RNE, bf16 ties away). Approximate
 * versus Ascend only through exp; the same bits on every CPU, ISA level and thread count.
 * Statuses as aclnnMoeGatingTopKSoftmax, plus 561002 for renorm not 0/1, for outputSoftmaxResultFlag with
 * renorm 1 (no softmax over all experts is computed then) and for a softmax result of the wrong shape, and
 * 161001 for outputSoftmaxResultFlag without softmaxResultOutOptional. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_SOFTMAX_V2_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_SOFTMAX_V2_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeGatingTopKSoftmaxV2GetWorkspaceSize(
    const aclTensor *x, const aclTensor *finishedOptional, int64_t k, int64_t renorm, bool outputSoftmaxResultFlag,
    const aclTensor *yOut, const aclTensor *expertIdxOut, const aclTensor *softmaxResultOutOptional,
    uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeGatingTopKSoftmaxV2(void *workspace, uint64_t workspaceSize,
                                                            aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_SOFTMAX_V2_H */
