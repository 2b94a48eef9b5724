/* aclnnMoeDistributeDispatchV2 and aclnnMoeDistributeCombineV2 (docs/operators/distribute.md, layer spec 11):
 * argument tables, the attribute and shape rules of spec 11.2 / 11.6 (Atlas A3 rule set, layer decision 20)
 * over the shared adapter layer; the runs are the distribute plans (operators/distribute.h). */
#include <stdio.h>
#include <string.h>

#include "aclnn/adapter.h"
#include "aclnnop/aclnn_moe_distribute_combine_v2.h"
#include "aclnnop/aclnn_moe_distribute_dispatch_v2.h"
#include "operators/distribute.h"

#define MR_DIST_X_TYPES (MR_DT(ACL_FLOAT16) | MR_DT(ACL_BF16))

static const mr_arg_spec mr_dsp_args[] = {
    {"x", 0, 0, 0, MR_DSP_X, MR_DIST_X_TYPES, -1},
    {"expertIds", 0, 0, 0, MR_DSP_IDS, MR_DT(ACL_INT32), -1},
    {"scalesOptional", 0, 1, 0, MR_DSP_SCALES, MR_DT(ACL_FLOAT), -1},
    {"xActiveMaskOptional", 0, 1, 0, MR_DSP_MASK, MR_DT(ACL_BOOL), -1},
    {"expertScalesOptional", 0, 1, 0, MR_DSP_ESCALES, MR_DT(ACL_FLOAT), -1},
    {"expandXOut", 1, 0, 0, MR_DSP_EXPX, MR_DIST_X_TYPES | MR_DT(ACL_INT8), -1},
    {"dynamicScalesOut", 1, 1, 0, MR_DSP_DYNS, MR_DT(ACL_FLOAT), -1},
    {"assistInfoForCombineOut", 1, 0, 0, MR_DSP_ASSIST, MR_DT(ACL_INT32), -1},
    {"expertTokenNumsOut", 1, 0, 0, MR_DSP_TOKNUMS, MR_DT(ACL_INT64), -1},
    {"epRecvCountsOut", 1, 0, 0, MR_DSP_RECV, MR_DT(ACL_INT32), -1},
    {"tpRecvCountsOut", 1, 1, 0, MR_DSP_TPRECV, MR_DT(ACL_INT32), -1},
    {"expandScalesOut", 1, 1, 0, MR_DSP_EXPS, MR_DT(ACL_FLOAT), -1},
};
/* Arguments that take no run slot (refused when given, or accepted and not read) point past the run's slots. */
static const mr_arg_spec mr_cmb_args[] = {
    {"expandX", 0, 0, 0, MR_CMB_EXPX, MR_DIST_X_TYPES, -1},
    {"expertIds", 0, 0, 0, MR_CMB_IDS, MR_DT(ACL_INT32), -1},
    {"assistInfoForCombine", 0, 0, 0, MR_CMB_ASSIST, MR_DT(ACL_INT32), -1},
    {"epSendCounts", 0, 0, 0, MR_CMB_SEND, MR_DT(ACL_INT32), -1},
    {"expertScales", 0, 0, 0, MR_CMB_ESCALES, MR_DT(ACL_FLOAT), -1},
    {"tpSendCountsOptional", 0, 1, 0, MR_CMB_COUNT, MR_DT(ACL_INT32), -1},
    {"xActiveMaskOptional", 0, 1, 0, MR_CMB_MASK, MR_DT(ACL_BOOL), -1},
    {"activationScaleOptional", 0, 1, 0, MR_CMB_COUNT, 0, -1},
    {"weightScaleOptional", 0, 1, 0, MR_CMB_COUNT, 0, -1},
    {"groupListOptional", 0, 1, 0, MR_CMB_COUNT, 0, -1},
    {"expandScalesOptional", 0, 1, 0, MR_CMB_COUNT, MR_DT(ACL_FLOAT), -1},
    {"sharedExpertXOptional", 0, 1, 0, MR_CMB_SHARED, 0, 0},
    {"xOut", 1, 0, 0, MR_CMB_OUT, 0, 0},
};
enum { MR_CMB_ARG_TPSEND = 5, MR_CMB_ARG_ACT = 7, MR_CMB_ARG_WEIGHT, MR_CMB_ARG_GROUP, MR_CMB_ARG_EXPS };

static const mr_aclnn_op mr_dsp_op = MR_ACLNN_OP("aclnnMoeDistributeDispatchV2",
                                                 "aclnnMoeDistributeDispatchV2GetWorkspaceSize", mr_dsp_args,
                                                 MR_DSP_COUNT, mr_dispatch_run);
static const mr_aclnn_op mr_cmb_op = MR_ACLNN_OP("aclnnMoeDistributeCombineV2",
                                                 "aclnnMoeDistributeCombineV2GetWorkspaceSize", mr_cmb_args,
                                                 MR_CMB_COUNT + 1, mr_combine_run);

/* The shared attribute rules (distribute.c) as the aclnn API reports them: 561002, the A3 limits unless
 * MOEROUTE_DEVICE_LIMITS=0. */
static aclnnStatus mr_dist_attrs_aclnn(const mr_aclnn_call *c, const mr_dist_args *x, mr_dist_attrs *a,
                                       int64_t *min_rows)
{
    return mr_status_to_aclnn(mr_dist_check_attrs(x, mr_aclnn_device_limits(), a, min_rows, c->op->prepare_name));
}

static mr_xtype mr_dist_xtype(aclDataType t) { return t == ACL_FLOAT16 ? MR_X_F16 : MR_X_BF16; }

/* A 1-D tensor of n elements. */
static aclnnStatus mr_dist_need_1d(const mr_aclnn_call *c, const aclTensor *t, const char *name, int64_t n)
{
    char sh[96];
    if (!t || mr_aclnn_shape_is(t, 1, &n)) return ACLNN_SUCCESS;
    return mr_aclnn_tiling(c, "%s must be [%lld], got %s", name, (long long)n, mr_aclnn_shape_str(t, sh, sizeof sh));
}

/* The [Bs] or [Bs, K] mask; *mask_2d says which. */
static aclnnStatus mr_dist_check_mask(const mr_aclnn_call *c, const aclTensor *mask, int64_t bs, int64_t k,
                                      int *mask_2d)
{
    char sh[96];
    const int64_t d2[2] = {bs, k};
    *mask_2d = mask && mask->ndim == 2;
    if (!mask || mr_aclnn_shape_is(mask, 1, &bs) || mr_aclnn_shape_is(mask, 2, d2)) return ACLNN_SUCCESS;
    return mr_aclnn_tiling(c, "xActiveMaskOptional must be [Bs] or [Bs, K] = [%lld, %lld], got %s", (long long)bs,
                           (long long)k, mr_aclnn_shape_str(mask, sh, sizeof sh));
}

/* expertIds [Bs, K] gives Bs and K. */
static aclnnStatus mr_dist_ids(const mr_aclnn_call *c, const aclTensor *ids, int64_t *bs, int64_t *k)
{
    char sh[96];
    if (ids->ndim != 2) return mr_aclnn_tiling(c, "expertIds must be 2-D [Bs, K], got %s", mr_aclnn_shape_str(ids, sh, sizeof sh));
    *bs = ids->dims[0], *k = ids->dims[1];
    return ACLNN_SUCCESS;
}

aclnnStatus aclnnMoeDistributeDispatchV2GetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIds, const aclTensor *scalesOptional,
    const aclTensor *xActiveMaskOptional, const aclTensor *expertScalesOptional, const char *groupEp,
    int64_t epWorldSize, int64_t epRankId, int64_t moeExpertNum, const char *groupTp, int64_t tpWorldSize,
    int64_t tpRankId, int64_t expertShardType, int64_t sharedExpertNum, int64_t sharedExpertRankNum,
    int64_t quantMode, int64_t globalBs, int64_t expertTokenNumsType, const char *commAlg,
    const aclTensor *expandXOut, const aclTensor *dynamicScalesOut, const aclTensor *assistInfoForCombineOut,
    const aclTensor *expertTokenNumsOut, const aclTensor *epRecvCountsOut, const aclTensor *tpRecvCountsOut,
    const aclTensor *expandScalesOut, uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x,          expertIds,         scalesOptional,          xActiveMaskOptional,
                          expertScalesOptional, expandXOut, dynamicScalesOut, assistInfoForCombineOut,
                          expertTokenNumsOut, epRecvCountsOut, tpRecvCountsOut, expandScalesOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_dsp_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    char sh[96];
    int64_t bs = 0, k = 0, min_rows = 0;
    if ((st = mr_dist_ids(&c, expertIds, &bs, &k)) != ACLNN_SUCCESS) return st;
    if (x->ndim != 2 || x->dims[0] != bs)
        return mr_aclnn_tiling(&c, "x must be [Bs, H] with Bs = %lld (expertIds), got %s", (long long)bs,
                               mr_aclnn_shape_str(x, sh, sizeof sh));
    const int64_t H = x->dims[1];
    if (quantMode != 0 && quantMode != 2)
        return mr_aclnn_tiling(&c, "quantMode must be 0 (none) or 2 (dynamic int8), got %lld", (long long)quantMode);
    if (expertTokenNumsType != 0 && expertTokenNumsType != 1)
        return mr_aclnn_tiling(&c, "expertTokenNumsType must be 0 (cumsum) or 1 (count), got %lld",
                               (long long)expertTokenNumsType);
    const mr_dist_args da = {groupEp,         groupTp,         commAlg,  epWorldSize, epRankId,
                             moeExpertNum,    tpWorldSize,     tpRankId, expertShardType,
                             sharedExpertNum, sharedExpertRankNum, globalBs, bs, H, k};
    mr_dist_attrs a;
    if ((st = mr_dist_attrs_aclnn(&c, &da, &a, &min_rows)) != ACLNN_SUCCESS) return st;
    a.quant_mode = quantMode, a.token_nums_type = expertTokenNumsType, a.xtype = mr_dist_xtype(x->dtype);
    int mask_2d = 0;
    if ((st = mr_dist_check_mask(&c, xActiveMaskOptional, bs, k, &mask_2d)) != ACLNN_SUCCESS) return st;
    const int64_t bk[2] = {bs, k};
    if (expertScalesOptional && !mr_aclnn_shape_is(expertScalesOptional, 2, bk))
        return mr_aclnn_tiling(&c, "expertScalesOptional must be [Bs, K], got %s",
                               mr_aclnn_shape_str(expertScalesOptional, sh, sizeof sh));
    const int64_t srows[2] = {moeExpertNum + (sharedExpertRankNum > 0 ? sharedExpertNum : 0), H};
    if (scalesOptional && quantMode == 2 && !mr_aclnn_shape_is(scalesOptional, 2, srows))
        return mr_aclnn_tiling(&c, "scalesOptional must be [%lld, H = %lld]%s, got %s", (long long)srows[0],
                               (long long)H, sharedExpertRankNum > 0 ? " (shared experts first)" : "",
                               mr_aclnn_shape_str(scalesOptional, sh, sizeof sh));
    if (scalesOptional && quantMode == 0) mr_aclnn_unused(&c, 2);
    const aclDataType want = quantMode == 2 ? ACL_INT8 : x->dtype;
    if (expandXOut->dtype != want)
        return mr_aclnn_invalid(&c, "expandXOut must be %s with quantMode %lld", quantMode == 2 ? "INT8" : "x's dtype",
                                (long long)quantMode);
    if (expandXOut->ndim != 2 || expandXOut->dims[1] != H || expandXOut->dims[0] < min_rows)
        return mr_aclnn_tiling(&c, "expandXOut must be [A, H = %lld] with A >= %lld for rank %lld, got %s", (long long)H,
                               (long long)min_rows, (long long)epRankId, mr_aclnn_shape_str(expandXOut, sh, sizeof sh));
    const int64_t A = expandXOut->dims[0];
    if (quantMode == 2 && !dynamicScalesOut)
        return mr_aclnn_invalid(&c, "dynamicScalesOut is required with quantMode 2");
    if (dynamicScalesOut && quantMode == 0) mr_aclnn_unused(&c, 6);
    const int64_t L = epRankId < sharedExpertRankNum ? 1 : moeExpertNum / (epWorldSize - sharedExpertRankNum);
    if ((st = mr_dist_need_1d(&c, dynamicScalesOut, "dynamicScalesOut", A)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(&c, assistInfoForCombineOut, "assistInfoForCombineOut", A * 128)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(&c, expertTokenNumsOut, "expertTokenNumsOut", L)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(&c, epRecvCountsOut, "epRecvCountsOut", epWorldSize * L)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(&c, expandScalesOut, "expandScalesOut", A)) != ACLNN_SUCCESS)
        return st;
    if (tpRecvCountsOut && tpRecvCountsOut->ndim != 1)
        return mr_aclnn_tiling(&c, "tpRecvCountsOut must be 1-D, got %s", mr_aclnn_shape_str(tpRecvCountsOut, sh, sizeof sh));
    mr_dist_plan plan;
    moeroute_status ms = mr_dist_plan_init(&plan, groupEp, &a, epRankId, bs, A, mask_2d, 0, c.op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws_size);
}

/* Phase 2 of both: communication failures are ACLNN_ERR_INNER (the data is not at fault). */
static aclnnStatus mr_dist_execute(const mr_aclnn_op *op, void *workspace, uint64_t workspaceSize,
                                   aclOpExecutor *executor, aclrtStream stream)
{
    aclnnStatus st = mr_aclnn_execute(op, workspace, workspaceSize, executor, stream);
    return st != ACLNN_SUCCESS && mr_dist_comm_failed() ? ACLNN_ERR_INNER : st;
}

aclnnStatus aclnnMoeDistributeDispatchV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                         aclrtStream stream)
{
    return mr_dist_execute(&mr_dsp_op, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnMoeDistributeCombineV2GetWorkspaceSize(
    const aclTensor *expandX, const aclTensor *expertIds, const aclTensor *assistInfoForCombine,
    const aclTensor *epSendCounts, const aclTensor *expertScales, const aclTensor *tpSendCountsOptional,
    const aclTensor *xActiveMaskOptional, const aclTensor *activationScaleOptional,
    const aclTensor *weightScaleOptional, const aclTensor *groupListOptional, const aclTensor *expandScalesOptional,
    const aclTensor *sharedExpertXOptional, const char *groupEp, int64_t epWorldSize, int64_t epRankId,
    int64_t moeExpertNum, const char *groupTp, int64_t tpWorldSize, int64_t tpRankId, int64_t expertShardType,
    int64_t sharedExpertNum, int64_t sharedExpertRankNum, int64_t globalBs, int64_t outDtype, int64_t commQuantMode,
    int64_t groupListType, const char *commAlg, const aclTensor *xOut, uint64_t *workspaceSize,
    aclOpExecutor **executor)
{
    const void *args[] = {expandX,
                          expertIds,
                          assistInfoForCombine,
                          epSendCounts,
                          expertScales,
                          tpSendCountsOptional,
                          xActiveMaskOptional,
                          activationScaleOptional,
                          weightScaleOptional,
                          groupListOptional,
                          expandScalesOptional,
                          sharedExpertXOptional,
                          xOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_cmb_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    if (activationScaleOptional || weightScaleOptional || groupListOptional)
        return mr_aclnn_invalid(&c, "activationScaleOptional, weightScaleOptional and groupListOptional must be NULL "
                                    "(not supported on Atlas A3)");
    if (outDtype != 0 || groupListType != 0)
        return mr_aclnn_tiling(&c, "outDtype and groupListType must be 0, got %lld and %lld", (long long)outDtype,
                               (long long)groupListType);
    if (commQuantMode == 2)
        return mr_aclnn_tiling(&c, "commQuantMode 2 (int8 wire compression) is not implemented by moeroute; use 0");
    if (commQuantMode != 0) return mr_aclnn_tiling(&c, "commQuantMode must be 0 or 2, got %lld", (long long)commQuantMode);
    char sh[96];
    int64_t bs = 0, k = 0, min_rows = 0;
    if ((st = mr_dist_ids(&c, expertIds, &bs, &k)) != ACLNN_SUCCESS) return st;
    if (expandX->ndim != 2)
        return mr_aclnn_tiling(&c, "expandX must be [A, H], got %s", mr_aclnn_shape_str(expandX, sh, sizeof sh));
    const int64_t A = expandX->dims[0], H = expandX->dims[1];
    const mr_dist_args da = {groupEp,         groupTp,         commAlg,  epWorldSize, epRankId,
                             moeExpertNum,    tpWorldSize,     tpRankId, expertShardType,
                             sharedExpertNum, sharedExpertRankNum, globalBs, bs, H, k};
    mr_dist_attrs a;
    if ((st = mr_dist_attrs_aclnn(&c, &da, &a, &min_rows)) != ACLNN_SUCCESS) return st;
    a.xtype = mr_dist_xtype(expandX->dtype);
    if (A < min_rows)
        return mr_aclnn_tiling(&c, "expandX must have A >= %lld rows for rank %lld, got %s", (long long)min_rows,
                               (long long)epRankId, mr_aclnn_shape_str(expandX, sh, sizeof sh));
    int mask_2d = 0;
    if ((st = mr_dist_check_mask(&c, xActiveMaskOptional, bs, k, &mask_2d)) != ACLNN_SUCCESS) return st;
    const int64_t bk[2] = {bs, k}, bh[2] = {bs, H};
    const int64_t L = epRankId < sharedExpertRankNum ? 1 : moeExpertNum / (epWorldSize - sharedExpertRankNum);
    if (!mr_aclnn_shape_is(expertScales, 2, bk))
        return mr_aclnn_tiling(&c, "expertScales must be [Bs, K], got %s", mr_aclnn_shape_str(expertScales, sh, sizeof sh));
    if (!mr_aclnn_shape_is(xOut, 2, bh) || (sharedExpertXOptional && !mr_aclnn_shape_is(sharedExpertXOptional, 2, bh)))
        return mr_aclnn_tiling(&c, "xOut and sharedExpertXOptional must be [Bs, H] = [%lld, %lld]", (long long)bs,
                               (long long)H);
    if ((st = mr_dist_need_1d(&c, assistInfoForCombine, "assistInfoForCombine", A * 128)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(&c, epSendCounts, "epSendCounts", epWorldSize * L)) != ACLNN_SUCCESS)
        return st;
    if (tpSendCountsOptional) mr_aclnn_unused(&c, MR_CMB_ARG_TPSEND);
    if (expandScalesOptional) mr_aclnn_unused(&c, MR_CMB_ARG_EXPS);
    mr_dist_plan plan;
    moeroute_status ms = mr_dist_plan_init(&plan, groupEp, &a, epRankId, bs, A, mask_2d, 1, c.op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws_size);
}

aclnnStatus aclnnMoeDistributeCombineV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                        aclrtStream stream)
{
    return mr_dist_execute(&mr_cmb_op, workspace, workspaceSize, executor, stream);
}
