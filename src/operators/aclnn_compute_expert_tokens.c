/* aclnnMoeComputeExpertTokens (docs/operators/compute_expert_tokens.md). */
#include "aclnn/adapter.h"
#include "aclnnop/aclnn_moe_compute_expert_tokens.h"
#include "operators/expert_tokens.h"

static const mr_arg_spec mr_et_args[] = {
    {"sortedExperts", 0, 0, 0, MR_ET_SORTED, MR_DT(ACL_INT32), -1},
    {"out", 1, 0, 0, MR_ET_OUT, MR_DT(ACL_INT32), -1},
};
static const mr_aclnn_op mr_et_op = MR_ACLNN_OP("aclnnMoeComputeExpertTokens",
                                                "aclnnMoeComputeExpertTokensGetWorkspaceSize", mr_et_args, MR_ET_COUNT,
                                                mr_expert_tokens_run);

/* Device limits (routing spec 9), lifted by MOEROUTE_DEVICE_LIMITS=0: ids are compared in fp32 on the device. */
#define MR_ET_MAX_EXPERTS 2048
#define MR_ET_MAX_LEN (1 << 24)

aclnnStatus aclnnMoeComputeExpertTokensGetWorkspaceSize(const aclTensor *sortedExperts, int64_t numExperts,
                                                        const aclTensor *out, uint64_t *workspaceSize,
                                                        aclOpExecutor **executor)
{
    const void *args[] = {sortedExperts, out};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_et_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    if (sortedExperts->ndim != 1) return mr_aclnn_tiling(&c, "sortedExperts must be 1-D");
    if (out->ndim != 1) return mr_aclnn_tiling(&c, "out must be 1-D");
    if (numExperts <= 0 || numExperts > INT32_MAX)
        return mr_aclnn_tiling(&c, "numExperts must be positive, got %lld", (long long)numExperts);
    const int limits = mr_aclnn_device_limits();
    if (limits && numExperts > MR_ET_MAX_EXPERTS)
        return mr_aclnn_tiling(&c, "numExperts %lld exceeds the Atlas A2/A3 limit of %d (MOEROUTE_DEVICE_LIMITS=0 lifts it)",
                               (long long)numExperts, MR_ET_MAX_EXPERTS);
    if (limits && sortedExperts->dims[0] >= MR_ET_MAX_LEN)
        return mr_aclnn_tiling(&c, "sortedExperts has %lld entries; the Atlas A2/A3 limit is below 2^24 "
                                   "(MOEROUTE_DEVICE_LIMITS=0 lifts it)", (long long)sortedExperts->dims[0]);
    if (out->dims[0] != numExperts)
        return mr_aclnn_tiling(&c, "out must be 1-D [numExperts] = [%lld]", (long long)numExperts);
    mr_expert_tokens_plan plan = {sortedExperts->dims[0], numExperts};
    return mr_aclnn_finish(&c, &plan, sizeof plan, 0);
}

aclnnStatus aclnnMoeComputeExpertTokens(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                        aclrtStream stream)
{
    return mr_aclnn_execute(&mr_et_op, workspace, workspaceSize, executor, stream);
}
