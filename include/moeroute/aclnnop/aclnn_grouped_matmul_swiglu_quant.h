/* aclnnop/aclnn_grouped_matmul_swiglu_quant.h -- aclnnGroupedMatmulSwigluQuant
 * (docs/operators/grouped_matmul_swiglu_quant.md), CPU.
 *
 * W8A8 grouped matmul of int8 x [M, K] with int8 FRACTAL_NZ weights (view [E, K, N], storage
 * [E, N/32, K/16, 16, 32]), dequantized by xScale [M] then weightScale [E, N], SwiGLU of the two column halves
 * and per-row dynamic int8 quantization: output INT8 [M, N/2], outputScale FLOAT [M]. groupList: INT64 cumsum,
 * at most E entries; rows at and past its last entry are not written. bias, offset and outputOffset must be
 * NULL. Statuses: 161001 (a required argument NULL), 161002 (shapes, dtypes, formats, a bad group list at
 * execute). */
#ifndef MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_SWIGLU_QUANT_H
#define MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_SWIGLU_QUANT_H

#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulSwigluQuantGetWorkspaceSize(
    const aclTensor *x, const aclTensor *weight, const aclTensor *bias, const aclTensor *offset,
    const aclTensor *weightScale, const aclTensor *xScale, const aclTensor *groupList, aclTensor *output,
    aclTensor *outputScale, aclTensor *outputOffset, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnGroupedMatmulSwigluQuant(void *workspace, uint64_t workspaceSize,
                                                              aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_GROUPED_MATMUL_SWIGLU_QUANT_H */
