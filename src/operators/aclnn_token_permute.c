/* aclnnMoeTokenPermute (docs/operators/token_permute.md): dropless routing with the row count of
 * numOutTokens, on the routing plan (MoeInitRoutingV2 semantics, layer spec 2.3). Tokens of rank > 2 are
 * routed as [T, H] rows, H the product of the trailing dims. */
#include <string.h>

#include "aclnnop/aclnn_moe_token_permute.h"
#include "operators/routing_aclnn.h"

enum { A_TOKENS, A_INDICES, A_OUT, A_SORTED };

static moeroute_status mr_permute_run(const void *plan, const mr_view *views, void *ws, size_t ws_size, mr_pool *pool,
                                      const char *api);

static const mr_arg_spec mr_permute_args[] = {
    {"tokens", 0, 0, 0, MR_RV_X, MR_DT_FLOATS | MR_DT(ACL_INT8), -1},
    {"indices", 0, 0, 0, MR_RV_EXPERT, MR_DT(ACL_INT32) | MR_DT(ACL_INT64), -1},
    {"permuteTokensOut", 1, 0, 0, MR_RV_OUT_X, 0, 0},
    {"sortedIndicesOut", 1, 0, 0, MR_RV_OUT_ROW_IDX, MR_DT(ACL_INT32), -1},
};
static const mr_aclnn_op mr_permute_op = MR_ACLNN_OP("aclnnMoeTokenPermute", "aclnnMoeTokenPermuteGetWorkspaceSize",
                                                     mr_permute_args, MR_RV_COUNT, mr_permute_run);

/* Device limits of Atlas A2/A3 (layer spec 2.4), lifted by MOEROUTE_DEVICE_LIMITS=0. */
#define MR_PERMUTE_MAX_K 512
#define MR_PERMUTE_MAX_LEN 16777215

/* The routing run on [T, H] views: tokens and permuteTokensOut lose their trailing dims, 1-D indices gain k = 1. */
static moeroute_status mr_permute_run(const void *plan, const mr_view *views, void *ws, size_t ws_size, mr_pool *pool,
                                      const char *api)
{
    mr_view v[MR_RV_COUNT];
    memcpy(v, views, sizeof v);
    mr_view_merge_dims(&v[MR_RV_X], 1, v[MR_RV_X].ndim);
    mr_view_merge_dims(&v[MR_RV_OUT_X], 1, v[MR_RV_OUT_X].ndim);
    if (v[MR_RV_EXPERT].ndim == 1) {
        v[MR_RV_EXPERT].ndim = 2;
        v[MR_RV_EXPERT].dims[1] = 1;
        v[MR_RV_EXPERT].strides[1] = 1;
    }
    return mr_route_run(plan, v, ws, ws_size, pool, api);
}

aclnnStatus aclnnMoeTokenPermuteGetWorkspaceSize(const aclTensor *tokens, const aclTensor *indices,
                                                 int64_t numOutTokens, bool paddedMode,
                                                 const aclTensor *permuteTokensOut, const aclTensor *sortedIndicesOut,
                                                 uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {tokens, indices, permuteTokensOut, sortedIndicesOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_permute_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    if (paddedMode) return mr_aclnn_tiling(&c, "paddedMode must be false (padded mode is not supported)");
    if (tokens->ndim < 2) return mr_aclnn_tiling(&c, "tokens must have rank >= 2 [T, ...]");
    if (indices->ndim != 1 && indices->ndim != 2) return mr_aclnn_tiling(&c, "indices must be [T, k] or [T]");
    if (indices->dims[0] != tokens->dims[0]) return mr_aclnn_tiling(&c, "indices.dim0 must equal tokens.dim0 (T)");
    const int64_t T = tokens->dims[0], k = indices->ndim == 2 ? indices->dims[1] : 1;
    int64_t H = 1, L;
    for (uint32_t d = 1; d < tokens->ndim; d++)
        if (mr_mul_i64(H, tokens->dims[d], &H)) return mr_aclnn_tiling(&c, "the hidden size of tokens overflows");
    if (mr_mul_i64(T, k, &L) || L > INT32_MAX)
        return mr_aclnn_tiling(&c, "T*k = %lld*%lld exceeds INT32_MAX; indices are int32", (long long)T, (long long)k);
    if (mr_aclnn_device_limits() && (k > MR_PERMUTE_MAX_K || L >= MR_PERMUTE_MAX_LEN))
        return mr_aclnn_tiling(&c, "k = %lld (limit %d) or T*k = %lld (limit below %d) exceeds the Atlas A2/A3 "
                                   "limits (MOEROUTE_DEVICE_LIMITS=0 lifts them)",
                               (long long)k, MR_PERMUTE_MAX_K, (long long)L, MR_PERMUTE_MAX_LEN);
    int64_t n = numOutTokens <= 0 ? numOutTokens + L : numOutTokens;
    n = n < 0 ? 0 : n > L ? L : n;
    const aclTensor *out = permuteTokensOut;
    int same_trailing = out->ndim == tokens->ndim;
    for (uint32_t d = 1; same_trailing && d < out->ndim; d++) same_trailing = out->dims[d] == tokens->dims[d];
    if (out->ndim < 2 || !same_trailing || out->dims[0] != n)
        return mr_aclnn_tiling(&c, "permuteTokensOut must be [n = %lld, ...] with the trailing dims of tokens",
                               (long long)n);
    if (!mr_aclnn_shape_is(sortedIndicesOut, 1, &L))
        return mr_aclnn_tiling(&c, "sortedIndicesOut must be 1-D [T*k] = [%lld]", (long long)L);
    /* rows are gathered with one column stride: the trailing dims of tokens must collapse */
    const mr_view tv = mr_aclnn_view(tokens);
    int64_t row_stride;
    if (!mr_view_dims_collapse(&tv, 1, tv.ndim, &row_stride))
        return mr_aclnn_invalid(&c, "the trailing dims of tokens must form one strided row (make it contiguous)");
    mr_route_desc d = {.variant = MR_ROUTE_V2, .n = T, .k = k, .h = H, .active = n, .rows_exact = 1,
                       .x_int8 = tokens->dtype == ACL_INT8,
                       .xtype = tokens->dtype == ACL_INT8 ? MR_X_F16 : mr_aclnn_xtype(tokens->dtype),
                       .transform = MR_ROW_COPY};
    return mr_route_finish_aclnn(&c, &d);
}

aclnnStatus aclnnMoeTokenPermute(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_permute_op, workspace, workspaceSize, executor, stream);
}
