/* aclnnMoeTokenUnpermute (docs/operators/token_unpermute.md, layer spec 3): argument table and the checks of
 * spec 3.4 over the shared adapter layer; the run is the unpermute plan over the accumulate step. */
#include "aclnn/adapter.h"
#include "aclnnop/aclnn_moe_token_unpermute.h"
#include "operators/unpermute.h"

static const mr_arg_spec mr_up_args[] = {
    {"permutedTokens", 0, 0, 0, MR_UP_TOKENS, MR_DT_FLOATS, -1},
    {"sortedIndices", 0, 0, 0, MR_UP_INDICES, MR_DT(ACL_INT32), -1},
    {"probsOptional", 0, 1, 0, MR_UP_PROBS, MR_DT_FLOATS, -1}, /* any float type with any token type */
    {"out", 1, 0, 0, MR_UP_OUT, MR_DT_FLOATS, 0},
};
static const mr_aclnn_op mr_up_op = MR_ACLNN_OP("aclnnMoeTokenUnpermute", "aclnnMoeTokenUnpermuteGetWorkspaceSize",
                                                mr_up_args, MR_UP_COUNT, mr_unpermute_run);

/* Atlas A2/A3 tiling limit (layer spec 3.4), lifted by MOEROUTE_DEVICE_LIMITS=0 (decision 20). */
#define MR_UP_MAX_K 512

static mr_xtype mr_up_xtype(aclDataType t) { return t == ACL_FLOAT16 ? MR_X_F16 : t == ACL_BF16 ? MR_X_BF16 : MR_X_F32; }

aclnnStatus aclnnMoeTokenUnpermuteGetWorkspaceSize(const aclTensor *permutedTokens, const aclTensor *sortedIndices,
                                                   const aclTensor *probsOptional, bool paddedMode,
                                                   const aclIntArray *restoreShapeOptional, const aclTensor *out,
                                                   uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {permutedTokens, sortedIndices, probsOptional, out};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_up_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    /* unsupported modes: refused as invalid parameters on every target (spec 3.2, 3.4) */
    if (paddedMode) return mr_aclnn_invalid(&c, "paddedMode must be false (padded mode is not supported)");
    if (restoreShapeOptional)
        return mr_aclnn_invalid(&c, "restoreShapeOptional must be NULL (it is only meaningful with paddedMode)");
    /* shapes (561002) */
    const aclTensor *probs = probsOptional;
    char sh[96];
    if (permutedTokens->ndim != 2)
        return mr_aclnn_tiling(&c, "permutedTokens must be 2-D [M, H], got %s",
                               mr_aclnn_shape_str(permutedTokens, sh, sizeof sh));
    if (sortedIndices->ndim != 1)
        return mr_aclnn_tiling(&c, "sortedIndices must be 1-D [T*k], got %s",
                               mr_aclnn_shape_str(sortedIndices, sh, sizeof sh));
    if (probs && probs->ndim != 2)
        return mr_aclnn_tiling(&c, "probsOptional must be 2-D [T, k], got %s",
                               mr_aclnn_shape_str(probs, sh, sizeof sh));
    const int64_t len = sortedIndices->dims[0], M = permutedTokens->dims[0], H = permutedTokens->dims[1];
    const int64_t k = probs ? probs->dims[1] : 1, T = probs ? probs->dims[0] : len;
    int64_t tk;
    if (mr_mul_i64(T, k, &tk) || tk != len)
        return mr_aclnn_tiling(&c, "sortedIndices has %lld entries but probsOptional is [%lld, %lld]: T*k must equal "
                                   "the length of sortedIndices", (long long)len, (long long)T, (long long)k);
    if (mr_aclnn_device_limits() && k > MR_UP_MAX_K)
        return mr_aclnn_tiling(&c, "k = %lld exceeds the Atlas A2/A3 limit of %d (MOEROUTE_DEVICE_LIMITS=0 lifts it)",
                               (long long)k, MR_UP_MAX_K);
    if (!mr_aclnn_shape_is(out, 2, (const int64_t[]){T, H}))
        return mr_aclnn_tiling(&c, "out must be [T, H] = [%lld, %lld], got %s", (long long)T, (long long)H,
                               mr_aclnn_shape_str(out, sh, sizeof sh));
    mr_unpermute_plan plan = {T, k, H, M, mr_up_xtype(permutedTokens->dtype),
                              probs ? mr_up_xtype(probs->dtype) : MR_X_F32, probs != NULL, MOEROUTE_ISA_AUTO};
    return mr_aclnn_finish(&c, &plan, sizeof plan, 0);
}

aclnnStatus aclnnMoeTokenUnpermute(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_up_op, workspace, workspaceSize, executor, stream);
}
