/* aclnnop/aclnn_swi_glu.h -- aclnnSwiGlu (docs/operators/swiglu.md), CPU.
 *
 * x is split along `dim` into halves A (first) and B (second); out = silu(A) * B, in fp32: silu is the
 * project's one SiLU (within 1 ulp of the correctly rounded value, the same bits on every CPU), one fp32
 * multiply, then one round-to-nearest-even to out's dtype. Approximate versus Ascend only through SiLU.
 * x FLOAT16/BFLOAT16/FLOAT, rank >= 1, even size along dim; dim in [-rank, rank-1]; out in x's dtype and
 * shape with dim halved.
 * Statuses: 161001 NULL x/out/workspaceSize/executor; 161002 dtypes, format, a view outside its storage, a
 * non-contiguous out, overlapping buffers at execute; 561002 dim out of range, odd split, out's shape;
 * 561103 NULL executor. Outputs are untouched on refusal. */
#ifndef MOEROUTE_ACLNNOP_ACLNN_SWI_GLU_H
#define MOEROUTE_ACLNNOP_ACLNN_SWI_GLU_H

#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnSwiGluGetWorkspaceSize(const aclTensor *x, int64_t dim, const aclTensor *out,
                                                            uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnSwiGlu(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                            aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACLNNOP_ACLNN_SWI_GLU_H */
