/* aclnnMoeFinalizeRouting and aclnnMoeFinalizeRoutingV2 (docs/operators/finalize_routing.md, routing spec 6 and
 * 7): argument tables and the checks of spec 6.4 and 7.3 over the shared adapter layer; the run is the finalize
 * plan over the accumulate step. */
#include <stdio.h>

#include "aclnn/adapter.h"
#include "aclnnop/aclnn_moe_finalize_routing.h"
#include "aclnnop/aclnn_moe_finalize_routing_v2.h"
#include "operators/finalize.h"

static const mr_arg_spec mr_fin_v1_args[] = {
    {"expandedX", 0, 0, 0, MR_FIN_EXPANDED_X, MR_DT_FLOATS, -1},
    {"x1", 0, 0, 0, MR_FIN_X1, MR_DT_FLOATS, 0},
    {"x2Optional", 0, 1, 0, MR_FIN_X2, MR_DT_FLOATS, 0},
    {"bias", 0, 0, 0, MR_FIN_BIAS, MR_DT_FLOATS, 0},
    {"scales", 0, 0, 0, MR_FIN_SCALES, MR_DT_FLOATS, 0},
    {"expandedRowIdx", 0, 0, 0, MR_FIN_ROW_IDX, MR_DT(ACL_INT32), -1},
    {"expandedExpertIdx", 0, 0, 0, MR_FIN_EXPERT_IDX, MR_DT(ACL_INT32), -1},
    {"out", 1, 0, 0, MR_FIN_OUT, MR_DT_FLOATS, 0},
};
enum { V2_X, V2_ROW, V2_X1, V2_X2, V2_BIAS, V2_SCALES, V2_EXPERT, V2_OUT };
static const mr_arg_spec mr_fin_v2_args[] = {
    {"expandedX", 0, 0, 0, MR_FIN_EXPANDED_X, MR_DT_FLOATS, -1},
    {"expandedRowIdx", 0, 0, 0, MR_FIN_ROW_IDX, MR_DT(ACL_INT32), -1},
    {"x1Optional", 0, 1, 0, MR_FIN_X1, MR_DT_FLOATS, 0},
    {"x2Optional", 0, 1, 0, MR_FIN_X2, MR_DT_FLOATS, 0},
    {"biasOptional", 0, 1, 0, MR_FIN_BIAS, MR_DT_FLOATS, 0},
    {"scalesOptional", 0, 1, 0, MR_FIN_SCALES, MR_DT_FLOATS, -1}, /* expandedX's dtype, or FLOAT with BFLOAT16 */
    {"expertIdxOptional", 0, 1, 0, MR_FIN_EXPERT_IDX, MR_DT(ACL_INT32), -1},
    {"out", 1, 0, 0, MR_FIN_OUT, MR_DT_FLOATS, 0},
};
static const mr_aclnn_op mr_fin_v1_op = MR_ACLNN_OP("aclnnMoeFinalizeRouting", "aclnnMoeFinalizeRoutingGetWorkspaceSize",
                                                    mr_fin_v1_args, MR_FIN_COUNT, mr_finalize_run);
static const mr_aclnn_op mr_fin_v2_op = MR_ACLNN_OP("aclnnMoeFinalizeRoutingV2",
                                                    "aclnnMoeFinalizeRoutingV2GetWorkspaceSize", mr_fin_v2_args,
                                                    MR_FIN_COUNT, mr_finalize_run);

static mr_xtype mr_fin_xtype(aclDataType t) { return t == ACL_FLOAT16 ? MR_X_F16 : t == ACL_BF16 ? MR_X_BF16 : MR_X_F32; }

/* t is 2-D [d0, d1] (561002 otherwise); a negative d leaves that dim free. what names the dims, e.g. "[N, H]". */
static aclnnStatus mr_fin_2d(const mr_aclnn_call *c, const aclTensor *t, const char *name, int64_t d0, int64_t d1,
                             const char *what)
{
    char sh[96], want[64];
    if (t->ndim != 2)
        return mr_aclnn_tiling(c, "%s must be 2-D %s, got %s", name, what, mr_aclnn_shape_str(t, sh, sizeof sh));
    if ((d0 >= 0 && t->dims[0] != d0) || (d1 >= 0 && t->dims[1] != d1)) {
        if (d0 >= 0) snprintf(want, sizeof want, "[%lld, %lld]", (long long)d0, (long long)d1);
        else snprintf(want, sizeof want, "[any, %lld]", (long long)d1);
        return mr_aclnn_tiling(c, "%s must be %s = %s, got %s", name, what, want, mr_aclnn_shape_str(t, sh, sizeof sh));
    }
    return ACLNN_SUCCESS;
}

aclnnStatus aclnnMoeFinalizeRoutingGetWorkspaceSize(const aclTensor *expandedX, const aclTensor *x1,
                                                    const aclTensor *x2Optional, const aclTensor *bias,
                                                    const aclTensor *scales, const aclTensor *expandedRowIdx,
                                                    const aclTensor *expandedExpertIdx, const aclTensor *out,
                                                    uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {expandedX, x1, x2Optional, bias, scales, expandedRowIdx, expandedExpertIdx, out};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_fin_v1_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    /* shapes (spec 6.4, 561002) */
    char sh[96];
    if (expandedX->ndim != 2)
        return mr_aclnn_tiling(&c, "expandedX must be 2-D [M, H], got %s", mr_aclnn_shape_str(expandedX, sh, sizeof sh));
    if (expandedRowIdx->ndim != 1)
        return mr_aclnn_tiling(&c, "expandedRowIdx must be 1-D [M], got %s",
                               mr_aclnn_shape_str(expandedRowIdx, sh, sizeof sh));
    if (x1->ndim != 2) return mr_aclnn_tiling(&c, "x1 must be 2-D [N, H], got %s", mr_aclnn_shape_str(x1, sh, sizeof sh));
    if (scales->ndim != 2)
        return mr_aclnn_tiling(&c, "scales must be 2-D [N, K], got %s", mr_aclnn_shape_str(scales, sh, sizeof sh));
    const int64_t M = expandedX->dims[0], H = expandedX->dims[1], N = x1->dims[0], K = scales->dims[1];
    if ((st = mr_fin_2d(&c, x1, "x1", N, H, "[N, H]")) || (st = mr_fin_2d(&c, scales, "scales", N, K, "[N, K]")) ||
        (x2Optional && (st = mr_fin_2d(&c, x2Optional, "x2Optional", N, H, "[N, H]"))) ||
        (st = mr_fin_2d(&c, expandedExpertIdx, "expandedExpertIdx", N, K, "[N, K]")) ||
        (st = mr_fin_2d(&c, bias, "bias", -1, H, "[E, H]")) || (st = mr_fin_2d(&c, out, "out", N, H, "[N, H]")))
        return st;
    if (expandedRowIdx->dims[0] != M)
        return mr_aclnn_tiling(&c, "expandedRowIdx must have expandedX.dim0 = %lld entries, got %lld", (long long)M,
                               (long long)expandedRowIdx->dims[0]);
    if (K == 0) return mr_aclnn_tiling(&c, "K (scales.dim1) must not be 0");
    if (bias->dims[0] == 0) return mr_aclnn_tiling(&c, "bias must have at least one expert row (E = bias.dim0 = 0)");
    int64_t NK;
    if (mr_mul_i64(N, K, &NK) || NK > M)
        return mr_aclnn_tiling(&c, "expandedRowIdx has M = %lld entries but N*K = %lld*%lld positions i + k*N are "
                                   "read from it (M >= N*K is needed)", (long long)M, (long long)N, (long long)K);
    mr_finalize_plan plan = {.v2 = 0, .n = N, .k = K, .h = H, .m = M, .experts = bias->dims[0],
                             .xtype = mr_fin_xtype(expandedX->dtype), .stype = mr_fin_xtype(expandedX->dtype),
                             .has_x1 = 1, .has_x2 = x2Optional != NULL, .has_bias = 1, .has_scales = 1};
    return mr_aclnn_finish(&c, &plan, sizeof plan, 0);
}

aclnnStatus aclnnMoeFinalizeRouting(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_fin_v1_op, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnMoeFinalizeRoutingV2GetWorkspaceSize(const aclTensor *expandedX, const aclTensor *expandedRowIdx,
                                                      const aclTensor *x1Optional, const aclTensor *x2Optional,
                                                      const aclTensor *biasOptional, const aclTensor *scalesOptional,
                                                      const aclTensor *expertIdxOptional, int64_t dropPadMode,
                                                      const aclTensor *out, uint64_t *workspaceSize,
                                                      aclOpExecutor **executor)
{
    const void *args[] = {expandedX, expandedRowIdx, x1Optional, x2Optional, biasOptional, scalesOptional,
                          expertIdxOptional, out};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_fin_v2_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    const aclTensor *scales = scalesOptional, *bias = biasOptional, *eidx = expertIdxOptional;
    /* scales: expandedX's dtype, or FLOAT with BFLOAT16 expandedX (spec 7.2; a dtype error, 161002) */
    if (scales && scales->dtype != expandedX->dtype && !(expandedX->dtype == ACL_BF16 && scales->dtype == ACL_FLOAT))
        return mr_aclnn_invalid(&c, "scalesOptional must have the dtype of expandedX (%d), or FLOAT with BFLOAT16 "
                                    "expandedX; got %d", (int)expandedX->dtype, (int)scales->dtype);
    /* shapes and attributes (spec 7.3, 561002) */
    char sh[96];
    if (dropPadMode < 0 || dropPadMode > 3)
        return mr_aclnn_tiling(&c, "dropPadMode must be 0, 1, 2 or 3, got %lld", (long long)dropPadMode);
    const int drop = dropPadMode == 1 || dropPadMode == 3;
    if (expandedRowIdx->ndim != 1)
        return mr_aclnn_tiling(&c, "expandedRowIdx must be 1-D [N*K], got %s",
                               mr_aclnn_shape_str(expandedRowIdx, sh, sizeof sh));
    if (scales && scales->ndim != 2)
        return mr_aclnn_tiling(&c, "scalesOptional must be 2-D [N, K], got %s", mr_aclnn_shape_str(scales, sh, sizeof sh));
    if (scales && scales->dims[1] == 0) return mr_aclnn_tiling(&c, "K (scalesOptional.dim1) must not be 0");
    if (expandedX->ndim != (drop ? 3u : 2u))
        return mr_aclnn_tiling(&c, "expandedX must be %s in dropPadMode %lld, got %s",
                               drop ? "3-D [E, C, H]" : "2-D [N*K, H]", (long long)dropPadMode,
                               mr_aclnn_shape_str(expandedX, sh, sizeof sh));
    const int64_t len = expandedRowIdx->dims[0], K = scales ? scales->dims[1] : 1;
    const int64_t N = scales ? scales->dims[0] : len, H = expandedX->dims[drop ? 2 : 1];
    int64_t NK, M = expandedX->dims[0];
    if (mr_mul_i64(N, K, &NK) || NK != len)
        return mr_aclnn_tiling(&c, "expandedRowIdx has %lld entries; it must have N*K = %lld*%lld (scalesOptional is "
                                   "[N, K])", (long long)len, (long long)N, (long long)K);
    if (drop && mr_mul_i64(expandedX->dims[0], expandedX->dims[1], &M))
        return mr_aclnn_tiling(&c, "expandedX has more than INT64_MAX rows");
    if ((x1Optional && (st = mr_fin_2d(&c, x1Optional, "x1Optional", N, H, "[N, H]"))) ||
        (x2Optional && (st = mr_fin_2d(&c, x2Optional, "x2Optional", N, H, "[N, H]"))))
        return st;
    if (bias && !eidx) return mr_aclnn_tiling(&c, "biasOptional needs expertIdxOptional (the expert of each slot)");
    if (bias) {
        /* drop modes: one bias row per expert of expandedX [E, C, H] */
        if ((st = mr_fin_2d(&c, bias, "biasOptional", drop ? expandedX->dims[0] : -1, H, "[E, H]"))) return st;
        const int64_t E = bias->dims[0];
        if (E == 0 || E < K)
            return mr_aclnn_tiling(&c, "biasOptional must have E >= max(1, K) = %lld expert rows, got %lld",
                                   (long long)(K > 1 ? K : 1), (long long)E);
    }
    if (eidx && (st = mr_fin_2d(&c, eidx, "expertIdxOptional", N, K, "[N, K]"))) return st;
    if ((st = mr_fin_2d(&c, out, "out", N, H, "[N, H]"))) return st;
    if (eidx && !bias) mr_aclnn_unused(&c, V2_EXPERT); /* read only to pick bias rows */
    mr_finalize_plan plan = {.v2 = 1, .n = N, .k = K, .h = H, .m = M, .three_d = drop, .drop = drop,
                             .row_major = dropPadMode >= 2, .experts = bias ? bias->dims[0] : 0,
                             .xtype = mr_fin_xtype(expandedX->dtype),
                             .stype = scales ? mr_fin_xtype(scales->dtype) : mr_fin_xtype(expandedX->dtype),
                             .has_x1 = x1Optional != NULL, .has_x2 = x2Optional != NULL, .has_bias = bias != NULL,
                             .has_scales = scales != NULL};
    return mr_aclnn_finish(&c, &plan, sizeof plan, 0);
}

aclnnStatus aclnnMoeFinalizeRoutingV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                      aclrtStream stream)
{
    return mr_aclnn_execute(&mr_fin_v2_op, workspace, workspaceSize, executor, stream);
}
