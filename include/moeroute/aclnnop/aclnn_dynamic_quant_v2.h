/* aclnnop/aclnn_dynamic_quant_v2.h -- aclnnDynamicQuantV2 (docs/operators/dynamic_quant.md), CPU.
 *
 * aclnnDynamicQuant with the MoE group index: groupIndexOptional [G] INT32 holds ascending end offsets of row
 * groups (the last equal to the row count), and row i uses smooth row g(i) = the smallest g with
 * i < groupIndex[g] of smoothScalesOptional [G, H]. With a group index the scale is always f32(1 / f).
 * dstType is ignored, as on Atlas A2/A3 (yOut's dtype decides). offsetOut must be NULL (symmetric
 * quantization; the asymmetric variant is not implemented).
 * Statuses as aclnnDynamicQuant, plus: 161002 group index not 1-D, offsetOut given; 561002 an INT64 group index
 * (rejected by the A2/A3 tiling), smooth rows != G or smooth columns != H; at execute 161002 a group index that
 * is negative, decreases or does not end at the row count (nothing written). */
#ifndef MOEROUTE_ACLNNOP_ACLNN_DYNAMIC_QUANT_V2_H
#define MOEROUTE_ACLNNOP_ACLNN_DYNAMIC_QUANT_V2_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnDynamicQuantV2GetWorkspaceSize(const aclTensor *x,
                                                                    const aclTensor *smoothScalesOptional,
                                                                    const aclTensor *groupIndexOptional,
                                                                    int64_t dstType, const aclTensor *yOut,
                                                                    const aclTensor *scaleOut,
                                                                    const aclTensor *offsetOut,
                                                                    uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnDynamicQuantV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                                    aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_DYNAMIC_QUANT_V2_H */
