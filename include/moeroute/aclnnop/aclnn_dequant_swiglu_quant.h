/* aclnnop/aclnn_dequant_swiglu_quant.h -- aclnnDequantSwigluQuant (docs/operators/dequant_swiglu_quant.md), CPU.
 *
 * For every row r of x [..., 2n] (rows = the product of the leading dims):
 *   v = f32(x[r]) * weightScale[g] * activationScale[r] + bias[g]          (each given factor, fp32 steps)
 *   s = silu(act) * other, act = the first half of v when activateLeft, else the second half (fp32)
 *   quantMode "dynamic": s *= quantScale[g] (given), sc = max|s| / 127, yOut[r] = rint(s / sc) -> int8,
 *                        scaleOut[r] = sc
 *   quantMode "static" (or NULL): yOut[r] = rint(s * quantScale[g] + quantOffset[g]) -> int8 (scaleOut unused)
 * int8 saturating, ties to even. g = the group of row r when groupIndexOptional (INT32/INT64 [G], row counts
 * per group) is given; rows past the last group are not written. Approximate versus Ascend only through SiLU.
 * x INT32/FLOAT16/BFLOAT16 (INT32 needs weightScale and activationScale); weightScale FLOAT [2n] or [G, 2n];
 * activationScale FLOAT [..., 1] or [rows]; bias FLOAT/FLOAT16/BFLOAT16/INT32 like weightScale; quantScale
 * FLOAT: dynamic [n] or [G, n], static [1] or [G] (required); quantOffset FLOAT like the static quantScale
 * (static only); yOut INT8 [..., n]; scaleOut FLOAT [...].
 * Statuses: 161001 NULL x/yOut/scaleOut/workspaceSize/executor; 161002 dtypes, format, a view outside its
 * storage, a non-contiguous output, at execute overlapping buffers or a negative count / counts summing past
 * the rows; 561002 ranks, shapes, quantMode, missing required scales, the Atlas A2 buffer limit (lifted by
 * MOEROUTE_DEVICE_LIMITS=0); 561103 NULL executor. Outputs are untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_DEQUANT_SWIGLU_QUANT_H
#define MOEROUTE_ACLNNOP_ACLNN_DEQUANT_SWIGLU_QUANT_H

#include <stdbool.h>

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnDequantSwigluQuantGetWorkspaceSize(
    const aclTensor *x, const aclTensor *weightScaleOptional, const aclTensor *activationScaleOptional,
    const aclTensor *biasOptional, const aclTensor *quantScaleOptional, const aclTensor *quantOffsetOptional,
    const aclTensor *groupIndexOptional, bool activateLeft, char *quantModeOptional, const aclTensor *yOut,
    const aclTensor *scaleOut, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnDequantSwigluQuant(void *workspace, uint64_t workspaceSize,
                                                        aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_DEQUANT_SWIGLU_QUANT_H */
