/* aclnnop/aclnn_grouped_matmul_v4.h -- aclnnGroupedMatmulV4 (docs/operators/grouped_matmul.md), CPU.
 *
 * The expert FFN matmul of an MoE layer: the rows of x [M, K] are split into consecutive groups by the group
 * list, and group g is multiplied by the weight of its expert, out[m] = x[m] . weight[e] (+ bias[e]).
 * moeroute implements the MoE subset (layer spec 7.2): lists of one tensor for x, weight, out (and bias,
 * scale, perTokenScale when given); weight [E, K, N], ND, any strides (a transposed view of a stored [E, N, K]
 * is fine), or a list of E 2-D [K, N] weights (one per expert, as aclnnGroupedMatmul V1/V2 take them; bias
 * and scale then lists of E [N]); splitItem 2 or 3; groupType 0; groupListType 0 (INT64 [E] cumsum), 1 (INT64 [E] counts) or
 * 2 (INT64 [E, 2] rows of expert id, count); groupListOptional may be NULL only when E = 1 (one group of all
 * rows); actType 0; every other optional list NULL or empty.
 * Dtype rows (x, weight, bias, scale, perTokenScale -> out): FLOAT16 x2, FLOAT16 -> FLOAT16; BFLOAT16 x2,
 * FLOAT -> BFLOAT16; FLOAT x2, FLOAT -> FLOAT; INT8 x2, INT32 bias -> INT32 (no scale); INT8 x2, INT32 bias,
 * BFLOAT16 scale [E, N], FLOAT perTokenScale [M] -> BFLOAT16; same with FLOAT scale -> FLOAT16.
 * Numerics: float rows accumulate fma(x, w, acc) in fp32 in ascending k, add the bias in fp32, round once
 * (RNE); deterministic and approximate versus Ascend (bound in the docs). int8 rows are exact: int32 sums,
 * then f32(sum) * scale[e][n] * perTokenScale[m] in that order, rounded once.
 * Rows past the last group are not written (MOEROUTE_POISON_UNWRITTEN=1 fills them with NaN / 0x7F).
 * Statuses: 161001 NULL x/weight/out list or pointer; 161002 every other refusal of the subset (dtypes,
 * formats, shapes, list lengths, attributes, K or N > 65535 unless MOEROUTE_DEVICE_LIMITS=0, a view outside
 * its storage, a non-contiguous out), and at run time a bad group list (negative count, decreasing cumsum,
 * more rows than M, expert id outside [0, E)) or overlapping buffers; out is untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V4_H
#define MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V4_H

#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GMM_ACT_TYPE_NONE = 0,
    GMM_ACT_TYPE_RELU = 1,
    GMM_ACT_TYPE_GELU_TANH = 2,
    GMM_ACT_TYPE_GELU_ERR_FUNC = 3,
    GMM_ACT_TYPE_FAST_GELU = 4,
    GMM_ACT_TYPE_SILU = 5
} GMMActType;

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulV4GetWorkspaceSize(
    const aclTensorList *x, const aclTensorList *weight, const aclTensorList *biasOptional,
    const aclTensorList *scaleOptional, const aclTensorList *offsetOptional,
    const aclTensorList *antiquantScaleOptional, const aclTensorList *antiquantOffsetOptional,
    const aclTensorList *perTokenScaleOptional, const aclTensor *groupListOptional,
    const aclTensorList *activationInputOptional, const aclTensorList *activationQuantScaleOptional,
    const aclTensorList *activationQuantOffsetOptional, int64_t splitItem, int64_t groupType, int64_t groupListType,
    int64_t actType, aclTensorList *out, aclTensorList *activationFeatureOutOptional,
    aclTensorList *dynQuantScaleOutOptional, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulV4(void *workspace, uint64_t workspaceSize,
                                                     aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_V4_H */
