/* aclnnop/aclnn_moe_finalize_routing_v2.h -- aclnnMoeFinalizeRoutingV2 (docs/operators/finalize_routing.md), CPU.
 *
 * MoeFinalizeRouting with every input but expandedX and expandedRowIdx optional, two index layouts and drop &
 * pad. K = scalesOptional.dim1 (1 without scales: every scale 1), N = length of expandedRowIdx / K.
 *   dropPadMode 0: expandedX [M, H], r = expandedRowIdx[i + k*N] (MoeInitRouting layout), r in [0, M)
 *               1: expandedX [E, C, H] read as [E*C, H], same layout, r in [0, E*C) or -1 (dropped)
 *               2: as 0 with r = expandedRowIdx[i*K + k] (MoeInitRoutingV2 layout)
 *               3: as 1 with the layout of 2
 *   acc = x1 + x2 | x1 + 0 | x2 + 0 | (neither) slot 0 sets acc
 *   for k: r == -1 in modes 1/3 skips the whole term (no bias either; acc = +0 if slot 0 is dropped);
 *          t = expandedX[r] + biasOptional[expertIdxOptional[i][k]] (without bias: + 0); acc += t * scale
 *   out[i] = acc
 * Arithmetic: fp16 every step for FLOAT16, fp32 for FLOAT and BFLOAT16, BFLOAT16 stored ties-to-even. All
 * tensors share expandedX's float dtype, except scalesOptional may be FLOAT with BFLOAT16 expandedX.
 * biasOptional [E, H] needs expertIdxOptional [N, K] INT32 (ids in [0, E), E >= K; in modes 1/3 E is
 * expandedX.dim0); x1Optional, x2Optional, out [N, H].
 * Statuses: 161001 NULL expandedX/expandedRowIdx/out or pointer; 161002 dtype/format, a view outside its
 * storage, a non-contiguous output, at run time overlapping buffers, a row index out of range or an expert
 * id outside [0, E) in a slot that is read (the message names the position); 561002 dropPadMode not 0..3,
 * ranks and shapes, K = 0, bias without expertIdx, E = 0 or E < K; 561103 NULL executor. Outputs are untouched
 * on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_MOE_FINALIZE_ROUTING_V2_H
#define MOEROUTE_ACLNNOP_ACLNN_MOE_FINALIZE_ROUTING_V2_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeFinalizeRoutingV2GetWorkspaceSize(
    const aclTensor *expandedX, const aclTensor *expandedRowIdx, const aclTensor *x1Optional,
    const aclTensor *x2Optional, const aclTensor *biasOptional, const aclTensor *scalesOptional,
    const aclTensor *expertIdxOptional, int64_t dropPadMode, const aclTensor *out, uint64_t *workspaceSize,
    aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnMoeFinalizeRoutingV2(void *workspace, uint64_t workspaceSize,
                                                          aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_MOE_FINALIZE_ROUTING_V2_H */
