/* aclnnDynamicQuant and aclnnDynamicQuantV2 (docs/operators/dynamic_quant.md, layer spec 5): argument tables
 * and the checks of spec 5.4 over the shared adapter layer; the run is the dynamic-quant plan. The group
 * index is checked at execute (spec 5.5). */
#include <string.h>

#include "aclnn/adapter.h"
#include "aclnnop/aclnn_dynamic_quant.h"
#include "aclnnop/aclnn_dynamic_quant_v2.h"
#include "operators/dynamic_quant.h"
#include "threadpool/default_pool.h"

#define MR_DYQ_X_TYPES (MR_DT(ACL_FLOAT16) | MR_DT(ACL_BF16))
#define MR_DYQ_Y_TYPES (MR_DT(ACL_INT8) | MR_DT(ACL_INT4) | MR_DT(ACL_INT32))

static const mr_arg_spec mr_dyq_v1_args[] = {
    {"x", 0, 0, 0, MR_DYQ_X, MR_DYQ_X_TYPES, -1},
    {"smoothScalesOptional", 0, 1, 0, MR_DYQ_SMOOTH, 0, 0},
    {"yOut", 1, 0, 0, MR_DYQ_Y, MR_DYQ_Y_TYPES, -1},
    {"scaleOut", 1, 0, 0, MR_DYQ_SCALE, MR_DT(ACL_FLOAT), -1},
};
static const mr_arg_spec mr_dyq_v2_args[] = {
    {"x", 0, 0, 0, MR_DYQ_X, MR_DYQ_X_TYPES, -1},
    {"smoothScalesOptional", 0, 1, 0, MR_DYQ_SMOOTH, 0, 0},
    {"groupIndexOptional", 0, 1, 0, MR_DYQ_GROUP, MR_DT(ACL_INT32) | MR_DT(ACL_INT64), -1},
    {"yOut", 1, 0, 0, MR_DYQ_Y, MR_DYQ_Y_TYPES, -1},
    {"scaleOut", 1, 0, 0, MR_DYQ_SCALE, MR_DT(ACL_FLOAT), -1},
    {"offsetOut", 1, 1, 0, MR_DYQ_COUNT, MR_DT(ACL_FLOAT), -1}, /* refused below: never a run slot */
};
static const mr_aclnn_op mr_dyq_v1_op = MR_ACLNN_OP("aclnnDynamicQuant", "aclnnDynamicQuantGetWorkspaceSize",
                                                    mr_dyq_v1_args, MR_DYQ_COUNT, mr_dynamic_quant_run);
static const mr_aclnn_op mr_dyq_v2_op = MR_ACLNN_OP("aclnnDynamicQuantV2", "aclnnDynamicQuantV2GetWorkspaceSize",
                                                    mr_dyq_v2_args, MR_DYQ_COUNT, mr_dynamic_quant_run);

/* Shapes and modes of spec 5.4 (161002, the hand-written wrapper; 561002 where the tiling checks), then the
 * plan. group may be NULL (V1, or V2 without it). */
static aclnnStatus mr_dyq_prepare(mr_aclnn_call *c, const aclTensor *x, const aclTensor *smooth,
                                  const aclTensor *group, const aclTensor *y, const aclTensor *scale)
{
    char sh[96];
    if (x->ndim < 2 || x->ndim > 8)
        return mr_aclnn_invalid(c, "x must have 2 to 8 dimensions, got %s", mr_aclnn_shape_str(x, sh, sizeof sh));
    const int64_t H = x->dims[x->ndim - 1];
    int64_t rows = 1;
    for (uint32_t d = 0; d + 1 < x->ndim; d++)
        if (mr_mul_i64(rows, x->dims[d], &rows))
            return mr_aclnn_invalid(c, "x %s has more rows than int64 holds", mr_aclnn_shape_str(x, sh, sizeof sh));
    if (group) {
        if (group->dtype == ACL_INT64)
            return mr_aclnn_tiling(c, "groupIndexOptional must be INT32 (the Atlas A2/A3 tiling rejects INT64)");
        if (group->ndim != 1)
            return mr_aclnn_invalid(c, "groupIndexOptional must be 1-D [G], got %s",
                                    mr_aclnn_shape_str(group, sh, sizeof sh));
    }
    const int64_t G = group ? group->dims[0] : 0;
    if (smooth && !group && !mr_aclnn_shape_is(smooth, 1, &H))
        return mr_aclnn_invalid(c, "smoothScalesOptional must be 1-D [H] = [%lld], got %s", (long long)H,
                                mr_aclnn_shape_str(smooth, sh, sizeof sh));
    if (smooth && group) {
        if (smooth->ndim != 2)
            return mr_aclnn_invalid(c, "with a group index smoothScalesOptional must be 2-D [G, H], got %s",
                                    mr_aclnn_shape_str(smooth, sh, sizeof sh));
        if (smooth->dims[0] != G || smooth->dims[1] != H)
            return mr_aclnn_tiling(c, "smoothScalesOptional must be [G, H] = [%lld, %lld], got %s", (long long)G,
                                   (long long)H, mr_aclnn_shape_str(smooth, sh, sizeof sh));
    }
    /* yOut: INT8 or INT4 of x's shape (INT4: H even, two values per byte), or INT32 with last dim H / 8 (eight
     * int4 values per int32); docs/operators/dynamic_quant.md "INT4 outputs" */
    const mr_dyq_out out = y->dtype == ACL_INT8 ? MR_DYQ_OUT_INT8 : y->dtype == ACL_INT4 ? MR_DYQ_OUT_INT4
                                                                                         : MR_DYQ_OUT_INT4_INT32;
    if (out == MR_DYQ_OUT_INT4 && H % 2 != 0)
        return mr_aclnn_invalid(c, "yOut INT4 packs two values per byte: H = %lld must be even", (long long)H);
    if (out == MR_DYQ_OUT_INT4_INT32 && H % 8 != 0)
        return mr_aclnn_invalid(c, "yOut INT32 packs eight int4 values per element: H = %lld must be a multiple of 8",
                                (long long)H);
    if (out == MR_DYQ_OUT_INT4 && y->offset != 0) /* a sub-byte element offset has no byte address */
        return mr_aclnn_invalid(c, "yOut INT4 must have view offset 0, got %lld", (long long)y->offset);
    int64_t ydims[8];
    memcpy(ydims, x->dims, sizeof ydims);
    if (out == MR_DYQ_OUT_INT4_INT32) ydims[x->ndim - 1] = H / 8;
    if (!mr_aclnn_shape_is(y, x->ndim, ydims))
        return mr_aclnn_invalid(c, "yOut %s must have x's shape%s, got %s",
                                out == MR_DYQ_OUT_INT4_INT32 ? "INT32" : out == MR_DYQ_OUT_INT4 ? "INT4" : "INT8",
                                out == MR_DYQ_OUT_INT4_INT32 ? " with the last dim H / 8" : "",
                                mr_aclnn_shape_str(y, sh, sizeof sh));
    if (!mr_aclnn_shape_is(scale, x->ndim - 1, x->dims))
        return mr_aclnn_invalid(c, "scaleOut must have x's shape without the last dim, got %s",
                                mr_aclnn_shape_str(scale, sh, sizeof sh));
    mr_dynamic_quant_plan plan;
    moeroute_status ms =
        mr_dynamic_quant_plan_init(&plan, rows, H, G, x->dtype == ACL_FLOAT16 ? MR_X_F16 : MR_X_BF16, smooth != NULL,
                                   MR_DYQ_AUTO, out, MOEROUTE_ISA_AUTO, mr_pool_threads(mr_default_pool()),
                                   c->op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    return mr_aclnn_finish(c, &plan, sizeof plan, plan.ws.size);
}

aclnnStatus aclnnDynamicQuantGetWorkspaceSize(const aclTensor *x, const aclTensor *smoothScalesOptional,
                                              const aclTensor *yOut, const aclTensor *scaleOut,
                                              uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x, smoothScalesOptional, yOut, scaleOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_dyq_v1_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    return mr_dyq_prepare(&c, x, smoothScalesOptional, NULL, yOut, scaleOut);
}

aclnnStatus aclnnDynamicQuant(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_dyq_v1_op, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnDynamicQuantV2GetWorkspaceSize(const aclTensor *x, const aclTensor *smoothScalesOptional,
                                                const aclTensor *groupIndexOptional, int64_t dstType,
                                                const aclTensor *yOut, const aclTensor *scaleOut,
                                                const aclTensor *offsetOut, uint64_t *workspaceSize,
                                                aclOpExecutor **executor)
{
    (void)dstType; /* ignored on Atlas A2/A3: yOut's dtype decides (spec 5.2) */
    const void *args[] = {x, smoothScalesOptional, groupIndexOptional, yOut, scaleOut, offsetOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_dyq_v2_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    if (offsetOut)
        return mr_aclnn_invalid(&c, "offsetOut must be NULL: asymmetric quantization is not implemented by moeroute");
    return mr_dyq_prepare(&c, x, smoothScalesOptional, groupIndexOptional, yOut, scaleOut);
}

aclnnStatus aclnnDynamicQuantV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_dyq_v2_op, workspace, workspaceSize, executor, stream);
}
