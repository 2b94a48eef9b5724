/* aclnnMoeGatingTopK, aclnnMoeGatingTopKSoftmax, aclnnMoeGatingTopKSoftmaxV2 (docs/operators/gating.md;
 * layer spec 1.4, routing spec 8.3): argument tables and checks over the shared adapter layer; the run is the
 * gating plan (operators/gating.h). */
#include <string.h>

#include "aclnn/adapter.h"
#include "aclnnop/aclnn_moe_gating_top_k.h"
#include "aclnnop/aclnn_moe_gating_top_k_softmax.h"
#include "aclnnop/aclnn_moe_gating_top_k_softmax_v2.h"
#include "operators/gating.h"
#include "threadpool/default_pool.h"

/* Atlas A2/A3 limits (decision 20), lifted by MOEROUTE_DEVICE_LIMITS=0. */
#define MR_GATE_MAX_E 2048
#define MR_GATE_SOFTMAX_MAX_K 1024

static moeroute_status mr_softmax_run(const void *plan, const mr_view *views, void *ws, size_t ws_size,
                                      mr_pool *pool, const char *api);

static const mr_arg_spec mr_topk_args[] = {
    {"x", 0, 0, 0, MR_GT_X, MR_DT_FLOATS, -1},
    {"biasOptional", 0, 1, 0, MR_GT_BIAS, 0, 0},
    {"yOut", 1, 0, 0, MR_GT_Y, 0, 0},
    {"expertIdxOut", 1, 0, 0, MR_GT_IDX, MR_DT(ACL_INT32), -1},
    {"outOut", 1, 0, 0, MR_GT_OUT, MR_DT(ACL_FLOAT), -1},
};
static const mr_aclnn_op mr_topk_op = MR_ACLNN_OP("aclnnMoeGatingTopK", "aclnnMoeGatingTopKGetWorkspaceSize",
                                                  mr_topk_args, MR_GT_COUNT, mr_gating_run);

static const mr_arg_spec mr_softmax_args[] = {
    {"x", 0, 0, 0, MR_GT_X, MR_DT_FLOATS, -1},
    {"finishedOptional", 0, 1, 0, MR_GT_FINISHED, MR_DT(ACL_BOOL), -1},
    {"yOut", 1, 0, 0, MR_GT_Y, 0, 0},
    {"expertIdxOut", 1, 0, 0, MR_GT_IDX, MR_DT(ACL_INT32), -1},
    {"rowIdxOut", 1, 0, 0, MR_GT_ROW_IDX, MR_DT(ACL_INT32), -1},
};
static const mr_aclnn_op mr_softmax_op =
    MR_ACLNN_OP("aclnnMoeGatingTopKSoftmax", "aclnnMoeGatingTopKSoftmaxGetWorkspaceSize", mr_softmax_args,
                MR_GT_COUNT, mr_softmax_run);

static const mr_arg_spec mr_softmax_v2_args[] = {
    {"x", 0, 0, 0, MR_GT_X, MR_DT_FLOATS, -1},
    {"finishedOptional", 0, 1, 0, MR_GT_FINISHED, MR_DT(ACL_BOOL), -1},
    {"yOut", 1, 0, 0, MR_GT_Y, 0, 0},
    {"expertIdxOut", 1, 0, 0, MR_GT_IDX, MR_DT(ACL_INT32), -1},
    {"softmaxResultOutOptional", 1, 1, 0, MR_GT_OUT, MR_DT(ACL_FLOAT), -1},
};
static const mr_aclnn_op mr_softmax_v2_op =
    MR_ACLNN_OP("aclnnMoeGatingTopKSoftmaxV2", "aclnnMoeGatingTopKSoftmaxV2GetWorkspaceSize", mr_softmax_v2_args,
                MR_GT_COUNT, mr_softmax_run);

static mr_xtype mr_gate_xtype(aclDataType t)
{
    return t == ACL_FLOAT16 ? MR_X_F16 : t == ACL_BF16 ? MR_X_BF16 : MR_X_F32;
}

/* The plan for the front end's description, then the executor. */
static aclnnStatus mr_gate_finish(mr_aclnn_call *c, const mr_gating_desc *d)
{
    mr_gating_plan plan;
    uint64_t ws = 0;
    moeroute_status st =
        mr_gating_plan_init(&plan, d, MOEROUTE_ISA_AUTO, mr_pool_threads(mr_default_pool()), &ws, c->op->prepare_name);
    if (st != MOEROUTE_OK) return mr_status_to_aclnn(st);
    return mr_aclnn_finish(c, &plan, sizeof plan, ws);
}

/* Whether the leading dims [0, last) of a tensor step as one row index (mr_view_dims_collapse). */
static int mr_gate_rows_collapse(const aclTensor *t, uint32_t last)
{
    const mr_view v = mr_aclnn_view(t);
    int64_t stride;
    return mr_view_dims_collapse(&v, 0, last, &stride);
}

static moeroute_status mr_softmax_run(const void *plan, const mr_view *views, void *ws, size_t ws_size,
                                      mr_pool *pool, const char *api)
{
    mr_view v[MR_GT_COUNT];
    memcpy(v, views, sizeof v);
    for (int i = 0; i < MR_GT_COUNT; i++) /* rows: every dim but the last; finished: every dim */
        if (mr_view_present(&v[i])) mr_view_merge_dims(&v[i], 0, i == MR_GT_FINISHED ? v[i].ndim : v[i].ndim - 1);
    return mr_gating_run(plan, v, ws, ws_size, pool, api);
}

aclnnStatus aclnnMoeGatingTopKGetWorkspaceSize(const aclTensor *x, const aclTensor *biasOptional, int64_t k,
                                               int64_t kGroup, int64_t groupCount, int64_t groupSelectMode,
                                               int64_t renorm, int64_t normType, bool outFlag,
                                               double routedScalingFactor, double eps, const aclTensor *yOut,
                                               const aclTensor *expertIdxOut, const aclTensor *outOut,
                                               uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x, biasOptional, yOut, expertIdxOut, outOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_topk_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    char sh[96];
    if (x->ndim != 2) return mr_aclnn_tiling(&c, "x must be 2-D [N, E], got %s", mr_aclnn_shape_str(x, sh, sizeof sh));
    const int64_t N = x->dims[0], E = x->dims[1];
    if (biasOptional && !mr_aclnn_shape_is(biasOptional, 1, &E))
        return mr_aclnn_tiling(&c, "biasOptional must be 1-D [E] = [%lld], got %s", (long long)E,
                               mr_aclnn_shape_str(biasOptional, sh, sizeof sh));
    if (normType != 0 && normType != 1)
        return mr_aclnn_tiling(&c, "normType must be 0 (softmax) or 1 (sigmoid), got %lld", (long long)normType);
    if (groupSelectMode != 0 && groupSelectMode != 1)
        return mr_aclnn_tiling(&c, "groupSelectMode must be 0 (max) or 1 (sum of the top two), got %lld",
                               (long long)groupSelectMode);
    if (renorm != 0)
        return mr_aclnn_tiling(&c, "renorm must be 0, got %lld (the native API offers vllm-ascend's renorm 1)",
                               (long long)renorm);
    if (groupCount <= 0 || E % groupCount != 0)
        return mr_aclnn_tiling(&c, "groupCount must be positive and divide E = %lld, got %lld", (long long)E,
                               (long long)groupCount);
    if (kGroup < 1 || kGroup > groupCount)
        return mr_aclnn_tiling(&c, "kGroup must be in [1, groupCount = %lld], got %lld", (long long)groupCount,
                               (long long)kGroup);
    const int64_t P = E / groupCount;
    if (groupSelectMode == 1 && P < 2)
        return mr_aclnn_tiling(&c, "groupSelectMode 1 needs at least 2 experts per group, got E/groupCount = %lld",
                               (long long)P);
    if (k < 1 || k > E || k > kGroup * P)
        return mr_aclnn_tiling(&c, "k must be in [1, min(E, kGroup*E/groupCount) = %lld], got %lld",
                               (long long)(E < kGroup * P ? E : kGroup * P), (long long)k);
    const int grouped = groupCount != 1 && groupCount != E && kGroup != groupCount;
    /* groups padded to 32 lanes on the device (computed when E is in range: no overflow) */
    const int64_t padded = E <= MR_GATE_MAX_E ? groupCount * ((P + 31) / 32 * 32) : 0;
    if (mr_aclnn_device_limits() && (E > MR_GATE_MAX_E || (grouped && padded > MR_GATE_MAX_E)))
        return mr_aclnn_tiling(&c, "E = %lld (limit %d) or groupCount*align32(E/groupCount) = %lld (limit %d) exceeds "
                                   "the Atlas A2/A3 limits (MOEROUTE_DEVICE_LIMITS=0 lifts them)",
                               (long long)E, MR_GATE_MAX_E, (long long)padded, MR_GATE_MAX_E);
    const int64_t nk[2] = {N, k}, ne[2] = {N, E};
    if (!mr_aclnn_shape_is(yOut, 2, nk) || !mr_aclnn_shape_is(expertIdxOut, 2, nk))
        return mr_aclnn_tiling(&c, "yOut and expertIdxOut must be [N, k] = [%lld, %lld]", (long long)N, (long long)k);
    if (outOut->ndim != 2 || (outFlag && !mr_aclnn_shape_is(outOut, 2, ne)))
        return mr_aclnn_tiling(&c, "outOut must be 2-D%s, got %s", outFlag ? " [N, E] (outFlag is true)" : "",
                               mr_aclnn_shape_str(outOut, sh, sizeof sh));
    if (!outFlag) mr_aclnn_unused(&c, 4);
    mr_gating_desc d = {.kind = MR_GATE_TOPK, .n = N, .e = E, .k = k, .xtype = mr_gate_xtype(x->dtype),
                        .has_bias = biasOptional != NULL, .has_out = outFlag, .k_group = kGroup,
                        .group_count = groupCount, .group_mode = (int)groupSelectMode, .norm_type = (int)normType,
                        .rsf = routedScalingFactor, .eps = eps};
    return mr_gate_finish(&c, &d);
}

aclnnStatus aclnnMoeGatingTopK(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_topk_op, workspace, workspaceSize, executor, stream);
}

/* The checks both softmax versions share (routing spec 8.3); fills the row and expert counts of d. */
static aclnnStatus mr_softmax_common(mr_aclnn_call *c, const aclTensor *x, const aclTensor *finished, int64_t k,
                                     const aclTensor *yOut, const aclTensor *idxOut, mr_gating_desc *d)
{
    char sh[96];
    if (x->ndim != 2 && x->ndim != 3)
        return mr_aclnn_tiling(c, "x must be 2-D [N, E] or 3-D [B, S, E], got %s",
                               mr_aclnn_shape_str(x, sh, sizeof sh));
    const uint32_t r = x->ndim;
    int64_t rows = 1;
    for (uint32_t i = 0; i < r; i++) {
        if (x->dims[i] <= 0 || x->dims[i] > INT32_MAX)
            return mr_aclnn_tiling(c, "every dim of x must be in [1, INT32_MAX], got %s",
                                   mr_aclnn_shape_str(x, sh, sizeof sh));
        if (i + 1 < r && mr_mul_i64(rows, x->dims[i], &rows))
            return mr_aclnn_tiling(c, "the row count of x overflows");
    }
    const int64_t E = x->dims[r - 1];
    if (finished && (finished->ndim != r - 1 || memcmp(finished->dims, x->dims, (r - 1) * sizeof(int64_t))))
        return mr_aclnn_tiling(c, "finishedOptional must have the leading dims of x, got %s",
                               mr_aclnn_shape_str(finished, sh, sizeof sh));
    if (k < 1 || k > E) return mr_aclnn_tiling(c, "k must be in [1, E = %lld], got %lld", (long long)E, (long long)k);
    if (mr_aclnn_device_limits() && k > MR_GATE_SOFTMAX_MAX_K)
        return mr_aclnn_tiling(c, "k = %lld exceeds the Atlas A2/A3 limit of %d (MOEROUTE_DEVICE_LIMITS=0 lifts it)",
                               (long long)k, MR_GATE_SOFTMAX_MAX_K);
    int64_t dims[3];
    memcpy(dims, x->dims, (r - 1) * sizeof(int64_t));
    dims[r - 1] = k;
    if (!mr_aclnn_shape_is(yOut, r, dims) || !mr_aclnn_shape_is(idxOut, r, dims))
        return mr_aclnn_tiling(c, "yOut and expertIdxOut must have the leading dims of x and k = %lld columns",
                               (long long)k);
    if (!mr_gate_rows_collapse(x, r - 1) || (finished && !mr_gate_rows_collapse(finished, r - 1)))
        return mr_aclnn_invalid(c, "the leading dims of x and finishedOptional must form one strided row index "
                                   "(make them contiguous)");
    d->n = rows;
    d->e = E;
    d->k = k;
    d->xtype = mr_gate_xtype(x->dtype);
    d->has_finished = finished != NULL;
    return ACLNN_SUCCESS;
}

aclnnStatus aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(const aclTensor *x, const aclTensor *finishedOptional, int64_t k,
                                                      const aclTensor *yOut, const aclTensor *expertIdxOut,
                                                      const aclTensor *rowIdxOut, uint64_t *workspaceSize,
                                                      aclOpExecutor **executor)
{
    const void *args[] = {x, finishedOptional, yOut, expertIdxOut, rowIdxOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_softmax_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    mr_gating_desc d = {.kind = MR_GATE_SOFTMAX_V1};
    if ((st = mr_softmax_common(&c, x, finishedOptional, k, yOut, expertIdxOut, &d)) != ACLNN_SUCCESS) return st;
    if (!mr_aclnn_shape_is(rowIdxOut, yOut->ndim, yOut->dims))
        return mr_aclnn_tiling(&c, "rowIdxOut must have the shape of yOut");
    int64_t nk;
    if (mr_mul_i64(d.n, d.k, &nk) || nk > INT32_MAX)
        return mr_aclnn_tiling(&c, "rows*k = %lld*%lld exceeds INT32_MAX; rowIdxOut is int32", (long long)d.n,
                               (long long)d.k);
    return mr_gate_finish(&c, &d);
}

aclnnStatus aclnnMoeGatingTopKSoftmax(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                      aclrtStream stream)
{
    return mr_aclnn_execute(&mr_softmax_op, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnMoeGatingTopKSoftmaxV2GetWorkspaceSize(const aclTensor *x, const aclTensor *finishedOptional,
                                                        int64_t k, int64_t renorm, bool outputSoftmaxResultFlag,
                                                        const aclTensor *yOut, const aclTensor *expertIdxOut,
                                                        const aclTensor *softmaxResultOutOptional,
                                                        uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x, finishedOptional, yOut, expertIdxOut, softmaxResultOutOptional};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_softmax_v2_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    if (outputSoftmaxResultFlag && !softmaxResultOutOptional) {
        mr_error_push("%s: outputSoftmaxResultFlag is true but softmaxResultOutOptional is NULL", c.op->prepare_name);
        return ACLNN_ERR_PARAM_NULLPTR;
    }
    mr_gating_desc d = {.kind = MR_GATE_SOFTMAX_V2, .renorm = (int)renorm, .has_out = outputSoftmaxResultFlag};
    if ((st = mr_softmax_common(&c, x, finishedOptional, k, yOut, expertIdxOut, &d)) != ACLNN_SUCCESS) return st;
    if (renorm != 0 && renorm != 1)
        return mr_aclnn_tiling(&c, "renorm must be 0 (softmax, then top-k) or 1 (top-k, then softmax), got %lld",
                               (long long)renorm);
    if (outputSoftmaxResultFlag && renorm == 1)
        return mr_aclnn_tiling(&c, "outputSoftmaxResultFlag needs renorm 0 (renorm 1 computes no softmax over all "
                                   "experts)");
    if (outputSoftmaxResultFlag && !mr_aclnn_shape_is(softmaxResultOutOptional, x->ndim, x->dims))
        return mr_aclnn_tiling(&c, "softmaxResultOutOptional must have the shape of x");
    if (softmaxResultOutOptional && !outputSoftmaxResultFlag) mr_aclnn_unused(&c, 4);
    return mr_gate_finish(&c, &d);
}

aclnnStatus aclnnMoeGatingTopKSoftmaxV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                        aclrtStream stream)
{
    return mr_aclnn_execute(&mr_softmax_v2_op, workspace, workspaceSize, executor, stream);
}
