/* aclnnDequantSwigluQuant (docs/operators/dequant_swiglu_quant.md, layer spec 10): argument table and shape
 * checks over the shared adapter layer; the run is the DequantSwigluQuant plan. A generated wrapper: shape and
 * attribute errors are tiling errors (561002, spec 0.4), dtypes 161002; counts are checked at execute. */
#include <string.h>

#include "aclnn/adapter.h"
#include "aclnnop/aclnn_dequant_swiglu_quant.h"
#include "operators/dequant_swiglu_quant.h"
#include "threadpool/default_pool.h"

enum { A_X, A_WS, A_AS, A_BIAS, A_QS, A_QO, A_GROUP, A_Y, A_SCALE };

static const mr_arg_spec mr_dsq_args[] = {
    {"x", 0, 0, 0, MR_DSQ_X, MR_DT(ACL_INT32) | MR_DT(ACL_FLOAT16) | MR_DT(ACL_BF16), -1},
    {"weightScaleOptional", 0, 1, 0, MR_DSQ_WSCALE, MR_DT(ACL_FLOAT), -1},
    {"activationScaleOptional", 0, 1, 0, MR_DSQ_ASCALE, MR_DT(ACL_FLOAT), -1},
    {"biasOptional", 0, 1, 0, MR_DSQ_BIAS, MR_DT_FLOATS | MR_DT(ACL_INT32), -1},
    {"quantScaleOptional", 0, 1, 0, MR_DSQ_QSCALE, MR_DT(ACL_FLOAT), -1},
    {"quantOffsetOptional", 0, 1, 0, MR_DSQ_QOFFSET, MR_DT(ACL_FLOAT), -1},
    {"groupIndexOptional", 0, 1, 0, MR_DSQ_GROUP, MR_DT(ACL_INT32) | MR_DT(ACL_INT64), -1},
    {"yOut", 1, 0, 0, MR_DSQ_Y, MR_DT(ACL_INT8), -1},
    {"scaleOut", 1, 0, 0, MR_DSQ_SCALE, MR_DT(ACL_FLOAT), -1},
};
static const mr_aclnn_op mr_dsq_op = MR_ACLNN_OP("aclnnDequantSwigluQuant", "aclnnDequantSwigluQuantGetWorkspaceSize",
                                                 mr_dsq_args, MR_DSQ_COUNT, mr_dsq_run);

/* Atlas A2 tiling limit (spec 10): the bytes below must stay under one 192 KiB unified buffer. */
#define MR_DSQ_UB_BYTES (192 * 1024)

static mr_dsq_type mr_dsq_type_of(aclDataType t)
{
    return t == ACL_INT32 ? MR_DSQ_I32 : t == ACL_FLOAT16 ? MR_DSQ_F16 : t == ACL_BF16 ? MR_DSQ_BF16 : MR_DSQ_F32;
}

static int64_t mr_dsq_bytes(const aclTensor *t)
{
    if (!t) return 0;
    int64_t n = 1;
    for (uint32_t d = 0; d < t->ndim; d++) n *= t->dims[d]; /* bounded: the tensor exists in memory */
    return n * (int64_t)aclDataTypeSize(t->dtype);
}

/* A per-group parameter of `cols` columns: [cols], or [G', cols] with G' = G (group index) or 1. */
static int mr_dsq_param_ok(const aclTensor *t, int64_t groups, int64_t cols)
{
    if (t->ndim == 1) return t->dims[0] == cols;
    return t->ndim == 2 && t->dims[1] == cols && (t->dims[0] == 1 || (groups > 0 && t->dims[0] == groups));
}

aclnnStatus aclnnDequantSwigluQuantGetWorkspaceSize(const aclTensor *x, const aclTensor *weightScaleOptional,
                                                    const aclTensor *activationScaleOptional,
                                                    const aclTensor *biasOptional, const aclTensor *quantScaleOptional,
                                                    const aclTensor *quantOffsetOptional,
                                                    const aclTensor *groupIndexOptional, bool activateLeft,
                                                    char *quantModeOptional, const aclTensor *yOut,
                                                    const aclTensor *scaleOut, uint64_t *workspaceSize,
                                                    aclOpExecutor **executor)
{
    const void *args[] = {x, weightScaleOptional, activationScaleOptional, biasOptional, quantScaleOptional,
                          quantOffsetOptional, groupIndexOptional, yOut, scaleOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_dsq_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    const aclTensor *ws = weightScaleOptional, *as = activationScaleOptional, *bias = biasOptional;
    const aclTensor *qs = quantScaleOptional, *qo = quantOffsetOptional, *gi = groupIndexOptional;
    char sh[96];
    int dynamic;
    if (!quantModeOptional || !strcmp(quantModeOptional, "static")) dynamic = 0;
    else if (!strcmp(quantModeOptional, "dynamic")) dynamic = 1;
    else return mr_aclnn_tiling(&c, "quantModeOptional must be \"static\", \"dynamic\" or NULL, got \"%.32s\"",
                                quantModeOptional);
    if (x->ndim < 2 || x->ndim > 8)
        return mr_aclnn_tiling(&c, "x must have 2 to 8 dimensions, got %s", mr_aclnn_shape_str(x, sh, sizeof sh));
    const int64_t cols = x->dims[x->ndim - 1], n = cols / 2;
    if (cols % 2 != 0)
        return mr_aclnn_tiling(&c, "the last dim of x (%lld) must be even: it splits into two halves", (long long)cols);
    int64_t rows = 1;
    for (uint32_t d = 0; d + 1 < x->ndim; d++)
        if (mr_mul_i64(rows, x->dims[d], &rows))
            return mr_aclnn_tiling(&c, "x %s has more rows than int64 holds", mr_aclnn_shape_str(x, sh, sizeof sh));
    if (gi && gi->ndim != 1)
        return mr_aclnn_tiling(&c, "groupIndexOptional must be 1-D [G], got %s", mr_aclnn_shape_str(gi, sh, sizeof sh));
    const int64_t G = gi ? gi->dims[0] : 0;
    if (x->dtype == ACL_INT32 && (!ws || !as))
        return mr_aclnn_tiling(&c, "an INT32 x needs weightScaleOptional and activationScaleOptional (dequantization)");
    if (ws && !mr_dsq_param_ok(ws, G, cols))
        return mr_aclnn_tiling(&c, "weightScaleOptional must be [2n] = [%lld] or [%s, %lld], got %s", (long long)cols,
                               G ? "G or 1" : "1", (long long)cols, mr_aclnn_shape_str(ws, sh, sizeof sh));
    if (bias && !mr_dsq_param_ok(bias, G, cols))
        return mr_aclnn_tiling(&c, "biasOptional must be [2n] = [%lld] or [%s, %lld], got %s", (long long)cols,
                               G ? "G or 1" : "1", (long long)cols, mr_aclnn_shape_str(bias, sh, sizeof sh));
    if (as) {
        int64_t lead[8];
        memcpy(lead, x->dims, sizeof lead);
        lead[x->ndim - 1] = 1;
        if (!mr_aclnn_shape_is(as, x->ndim, lead) && !mr_aclnn_shape_is(as, 1, &rows))
            return mr_aclnn_tiling(&c, "activationScaleOptional must be x's shape with last dim 1, or [rows] = [%lld], "
                                       "got %s", (long long)rows, mr_aclnn_shape_str(as, sh, sizeof sh));
    }
    if (dynamic) {
        if (qo) return mr_aclnn_tiling(&c, "quantOffsetOptional must be NULL with quantMode \"dynamic\"");
        if (qs && !mr_dsq_param_ok(qs, G, n))
            return mr_aclnn_tiling(&c, "quantScaleOptional (dynamic) must be [n] = [%lld] or [%s, %lld], got %s",
                                   (long long)n, G ? "G or 1" : "1", (long long)n, mr_aclnn_shape_str(qs, sh, sizeof sh));
    } else {
        if (!qs) return mr_aclnn_tiling(&c, "quantMode \"static\" needs quantScaleOptional");
        const int64_t qn = mr_dsq_bytes(qs) / 4;
        if (qs->ndim > 2 || (qs->ndim == 2 && qs->dims[1] != 1) || (qn != 1 && qn != G))
            return mr_aclnn_tiling(&c, "quantScaleOptional (static) must be [1]%s, got %s", G ? ", [G] or [G, 1]" : "",
                                   mr_aclnn_shape_str(qs, sh, sizeof sh));
        if (qo && !mr_aclnn_shape_is(qo, qs->ndim, qs->dims))
            return mr_aclnn_tiling(&c, "quantOffsetOptional must have quantScaleOptional's shape, got %s",
                                   mr_aclnn_shape_str(qo, sh, sizeof sh));
    }
    int64_t want[8];
    memcpy(want, x->dims, sizeof want);
    want[x->ndim - 1] = n;
    if (!mr_aclnn_shape_is(yOut, x->ndim, want))
        return mr_aclnn_tiling(&c, "yOut must be x's shape with the last dim halved, got %s",
                               mr_aclnn_shape_str(yOut, sh, sizeof sh));
    if (!mr_aclnn_shape_is(scaleOut, x->ndim - 1, x->dims))
        return mr_aclnn_tiling(&c, "scaleOut must be x's shape without the last dim, got %s",
                               mr_aclnn_shape_str(scaleOut, sh, sizeof sh));
    const int64_t ub = mr_dsq_bytes(ws) + mr_dsq_bytes(bias) + mr_dsq_bytes(qs) + mr_dsq_bytes(qo) +
                       (mr_dsq_bytes(as) + mr_dsq_bytes(scaleOut)) / 40 + 10 * cols * (int64_t)aclDataTypeSize(x->dtype);
    if (mr_aclnn_device_limits() && ub >= MR_DSQ_UB_BYTES)
        return mr_aclnn_tiling(&c, "the parameters and a row of x need %lld bytes of the Atlas A2 unified buffer "
                                   "(limit %d; MOEROUTE_DEVICE_LIMITS=0 lifts it)", (long long)ub, MR_DSQ_UB_BYTES);
    if (!dynamic) mr_aclnn_unused(&c, A_SCALE); /* static: scaleOut is not written */
    mr_dsq_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.rows = rows, plan.n = n, plan.groups = G;
    plan.x_type = mr_dsq_type_of(x->dtype);
    plan.bias_type = bias ? mr_dsq_type_of(bias->dtype) : MR_DSQ_F32;
    plan.has_wscale = ws != NULL, plan.has_ascale = as != NULL, plan.has_bias = bias != NULL;
    plan.has_qscale = qs != NULL, plan.has_qoffset = qo != NULL;
    plan.activate_left = activateLeft, plan.dynamic = dynamic;
    moeroute_status ms = mr_dsq_plan_init(&plan, MOEROUTE_ISA_AUTO, mr_pool_threads(mr_default_pool()),
                                          c.op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws.size);
}

aclnnStatus aclnnDequantSwigluQuant(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_dsq_op, workspace, workspaceSize, executor, stream);
}
