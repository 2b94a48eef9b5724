/* aclnnop/aclnn_moe_gating_top_k_softmax.h -- aclnnMoeGatingTopKSoftmax (docs/operators/gating.md), CPU.
 *
 * Softmax gating: per row of x ([N, E] or [B, S, E]), p = exp(x - max) / sum (fp32, the sum in ascending
 * expert order); expertIdxOut = the k largest p in descending order (ties to the lower expert index, NaN
 * last), or E for every slot of a row whose finishedOptional entry is true; yOut = those p in x's dtype (fp16
 * RNE, bf16 ties away from zero as the device's CAST_ROUND); rowIdxOut[r][j] = j*N + r (the k-major row
 * index MoeInitRouting takes). Approximate versus Ascend only through exp (within 1 ulp of the correctly
 * rounded fp32 value here); the same bits on every CPU, ISA level and thread count.
 * x FLOAT16/BFLOAT16/FLOAT; finishedOptional BOOL with x's leading dims; yOut [.., k] of x's dtype;
 * expertIdxOut and rowIdxOut INT32 [.., k].
 * Statuses: 161001 NULL tensor/pointer; 161002 dtype/format, a view outside its storage, a non-contiguous
 * output, leading dims of x that do not form one strided row index, overlapping buffers at run time;
 * 561002 x not 2-D/3-D or with a zero dim, finished or output shapes, k not in [1, min(E, 1024)];
 * 561103 NULL executor. Outputs are untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_SOFTMAX_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_SOFTMAX_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(const aclTensor *x,
                                                                          const aclTensor *finishedOptional, int64_t k,
                                                                          const aclTensor *yOut,
                                                                          const aclTensor *expertIdxOut,
                                                                          const aclTensor *rowIdxOut,
                                                                          uint64_t *workspaceSize,
                                                                          aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeGatingTopKSoftmax(void *workspace, uint64_t workspaceSize,
                                                          aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_GATING_TOP_K_SOFTMAX_H */
