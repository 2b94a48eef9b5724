/* aclnnop/aclnn_dynamic_quant.h -- aclnnDynamicQuant (docs/operators/dynamic_quant.md), CPU.
 *
 * Per-row symmetric int8 quantization: for every row i of x (rows = the product of the leading dims, H = the
 * last dim), v = f32(x[i]) (* f32(smoothScalesOptional), one fp32 multiply), a = max |v|, f = f32(127 / a),
 * yOut[i] = rint(v * f) saturated to int8 (ties to even), scaleOut[i] = f32(1 / f) or f32(a * f32(1/127)) as the
 * Atlas A2/A3 tiling chooses. Exact (IEEE fp32 division assumed on the device).
 * x FLOAT16/BFLOAT16, rank 2..8; smoothScalesOptional [H] in x's dtype; yOut INT8 in x's shape; scaleOut FLOAT
 * in x's shape without the last dim. INT4 and INT32 (packed int4) outputs are refused (not implemented).
 * Statuses: 161001 NULL x/yOut/scaleOut/workspaceSize/executor; 161002 dtypes, format, ranks and shapes, a
 * view outside its storage, a non-contiguous output, overlapping buffers at execute; 561103 NULL executor.
 * Outputs are untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_DYNAMIC_QUANT_H
#define MOEROUTE_ACLNNOP_ACLNN_DYNAMIC_QUANT_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnDynamicQuantGetWorkspaceSize(const aclTensor *x,
                                                                  const aclTensor *smoothScalesOptional,
                                                                  const aclTensor *yOut, const aclTensor *scaleOut,
                                                                  uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnDynamicQuant(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                                  aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_DYNAMIC_QUANT_H */
