/* aclnnMoeDistributeDispatchV2 and aclnnMoeDistributeCombineV2 (docs/operators/distribute.md, layer spec 11):
 * argument tables, the attribute and shape rules of spec 11.2 / 11.6 (Atlas A3 rule set, layer decision 20)
 * over the shared adapter layer; the runs are the distribute plans (operators/distribute.h).
 * The V1 pair aclnnMoeDistributeDispatch / aclnnMoeDistributeCombine (spec 11.5; docs/operators/distribute.md
 * "V1") is the same phase 1 with expandIdx [Bs * K] in the bookkeeping position, and thin runs around the V2
 * ones (at the end of this file). */
#include <stdio.h>
#include <string.h>

#include "aclnn/adapter.h"
#include "aclnnop/aclnn_moe_distribute_combine.h"
#include "aclnnop/aclnn_moe_distribute_combine_v2.h"
#include "aclnnop/aclnn_moe_distribute_dispatch.h"
#include "aclnnop/aclnn_moe_distribute_dispatch_v2.h"
#include "common/alloc.h"
#include "hccl/hccl_internal.h"
#include "operators/distribute.h"

#define MR_DIST_X_TYPES (MR_DT(ACL_FLOAT16) | MR_DT(ACL_BF16))

/* The argument tables of V2 and V1 (spec 11.5): the same but for the name of the bookkeeping argument (`book`), and
 * combine V1's missing sharedExpertXOptional. */
#define MR_DSP_ARGS(book)                                                                                         \
    {"x", 0, 0, 0, MR_DSP_X, MR_DIST_X_TYPES, -1}, {"expertIds", 0, 0, 0, MR_DSP_IDS, MR_DT(ACL_INT32), -1},     \
        {"scalesOptional", 0, 1, 0, MR_DSP_SCALES, MR_DT(ACL_FLOAT), -1},                                        \
        {"xActiveMaskOptional", 0, 1, 0, MR_DSP_MASK, MR_DT(ACL_BOOL), -1},                                      \
        {"expertScalesOptional", 0, 1, 0, MR_DSP_ESCALES, MR_DT(ACL_FLOAT), -1},                                 \
        {"expandXOut", 1, 0, 0, MR_DSP_EXPX, MR_DIST_X_TYPES | MR_DT(ACL_INT8), -1},                             \
        {"dynamicScalesOut", 1, 1, 0, MR_DSP_DYNS, MR_DT(ACL_FLOAT), -1},                                        \
        {book, 1, 0, 0, MR_DSP_ASSIST, MR_DT(ACL_INT32), -1},                                                    \
        {"expertTokenNumsOut", 1, 0, 0, MR_DSP_TOKNUMS, MR_DT(ACL_INT64), -1},                                   \
        {"epRecvCountsOut", 1, 0, 0, MR_DSP_RECV, MR_DT(ACL_INT32), -1},                                         \
        {"tpRecvCountsOut", 1, 1, 0, MR_DSP_TPRECV, MR_DT(ACL_INT32), -1},                                       \
        {"expandScalesOut", 1, 1, 0, MR_DSP_EXPS, MR_DT(ACL_FLOAT), -1}
/* Combine arguments that take no run slot (refused when given, or accepted and not read) point past the run's
 * slots. */
#define MR_CMB_ARGS(book)                                                                                         \
    {"expandX", 0, 0, 0, MR_CMB_EXPX, MR_DIST_X_TYPES, -1},                                                      \
        {"expertIds", 0, 0, 0, MR_CMB_IDS, MR_DT(ACL_INT32), -1},                                                \
        {book, 0, 0, 0, MR_CMB_ASSIST, MR_DT(ACL_INT32), -1},                                                    \
        {"epSendCounts", 0, 0, 0, MR_CMB_SEND, MR_DT(ACL_INT32), -1},                                            \
        {"expertScales", 0, 0, 0, MR_CMB_ESCALES, MR_DT(ACL_FLOAT), -1},                                         \
        {"tpSendCountsOptional", 0, 1, 0, MR_CMB_COUNT, MR_DT(ACL_INT32), -1},                                   \
        {"xActiveMaskOptional", 0, 1, 0, MR_CMB_MASK, MR_DT(ACL_BOOL), -1},                                      \
        {"activationScaleOptional", 0, 1, 0, MR_CMB_COUNT, 0, -1},                                               \
        {"weightScaleOptional", 0, 1, 0, MR_CMB_COUNT, 0, -1},                                                   \
        {"groupListOptional", 0, 1, 0, MR_CMB_COUNT, 0, -1},                                                     \
        {"expandScalesOptional", 0, 1, 0, MR_CMB_COUNT, MR_DT(ACL_FLOAT), -1}

/* The attributes of a call (all four entry points name their parameters alike; V1 has no commAlg). */
#define MR_DIST_ARGS(comm_alg)                                                                                    \
    {groupEp, groupTp, comm_alg, epWorldSize, epRankId, moeExpertNum, tpWorldSize, tpRankId, expertShardType,     \
     sharedExpertNum, sharedExpertRankNum, globalBs, 0, 0, 0}

static const mr_arg_spec mr_dsp_args[] = {MR_DSP_ARGS("assistInfoForCombineOut")};
static const mr_arg_spec mr_cmb_args[] = {
    MR_CMB_ARGS("assistInfoForCombine"),
    {"sharedExpertXOptional", 0, 1, 0, MR_CMB_SHARED, 0, 0},
    {"xOut", 1, 0, 0, MR_CMB_OUT, 0, 0},
};
/* Table positions of the combine arguments (both versions) that are not at their view slot. */
enum { MR_CMB_ARG_ESCALES = 4, MR_CMB_ARG_TPSEND, MR_CMB_ARG_MASK, MR_CMB_ARG_ACT, MR_CMB_ARG_WEIGHT, MR_CMB_ARG_GROUP,
       MR_CMB_ARG_EXPS };

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

/* Dispatch phase 1 of V2 and V1 on the call's tensors (table positions: the two tables differ only in the
 * bookkeeping output at position MR_DSP_ASSIST, assistInfoForCombineOut [A * 128] or expandIdxOut [Bs * K]):
 * shapes and attributes, then the plan. */
static aclnnStatus mr_dsp_prepare(mr_aclnn_call *c, mr_dist_args da, int64_t quantMode, int64_t expertTokenNumsType,
                                  int v1, mr_dist_plan *plan)
{
    const aclTensor *x = mr_aclnn_tensor(c, MR_DSP_X), *expertIds = mr_aclnn_tensor(c, MR_DSP_IDS);
    const aclTensor *scalesOptional = mr_aclnn_tensor(c, MR_DSP_SCALES);
    const aclTensor *expertScalesOptional = mr_aclnn_tensor(c, MR_DSP_ESCALES);
    const aclTensor *expandXOut = mr_aclnn_tensor(c, MR_DSP_EXPX), *dynamicScalesOut = mr_aclnn_tensor(c, MR_DSP_DYNS);
    const aclTensor *tpRecvCountsOut = mr_aclnn_tensor(c, MR_DSP_TPRECV);
    aclnnStatus st;
    char sh[96];
    int64_t bs = 0, k = 0, min_rows = 0;
    if ((st = mr_dist_ids(c, expertIds, &bs, &k)) != ACLNN_SUCCESS) return st;
    if (x->ndim != 2 || x->dims[0] != bs)
        return mr_aclnn_tiling(c, "x must be [Bs, H] with Bs = %lld (expertIds), got %s", (long long)bs,
                               mr_aclnn_shape_str(x, sh, sizeof sh));
    const int64_t H = x->dims[1];
    if (quantMode != 0 && quantMode != 2)
        return mr_aclnn_tiling(c, "quantMode must be 0 (none) or 2 (dynamic int8), got %lld", (long long)quantMode);
    if (expertTokenNumsType != 0 && expertTokenNumsType != 1)
        return mr_aclnn_tiling(c, "expertTokenNumsType must be 0 (cumsum) or 1 (count), got %lld",
                               (long long)expertTokenNumsType);
    da.bs = bs, da.h = H, da.k = k;
    const int64_t epWorldSize = da.world, epRankId = da.rank, moeExpertNum = da.experts;
    const int64_t sharedExpertNum = da.shared_num, sharedExpertRankNum = da.shared_ranks;
    mr_dist_attrs a;
    if ((st = mr_dist_attrs_aclnn(c, &da, &a, &min_rows)) != ACLNN_SUCCESS) return st;
    a.quant_mode = quantMode, a.token_nums_type = expertTokenNumsType, a.xtype = mr_dist_xtype(x->dtype);
    int mask_2d = 0;
    if ((st = mr_dist_check_mask(c, mr_aclnn_tensor(c, MR_DSP_MASK), bs, k, &mask_2d)) != ACLNN_SUCCESS) return st;
    const int64_t bk[2] = {bs, k};
    if (expertScalesOptional && !mr_aclnn_shape_is(expertScalesOptional, 2, bk))
        return mr_aclnn_tiling(c, "expertScalesOptional must be [Bs, K], got %s",
                               mr_aclnn_shape_str(expertScalesOptional, sh, sizeof sh));
    const int64_t srows[2] = {moeExpertNum + (sharedExpertRankNum > 0 ? sharedExpertNum : 0), H};
    if (scalesOptional && quantMode == 2 && !mr_aclnn_shape_is(scalesOptional, 2, srows))
        return mr_aclnn_tiling(c, "scalesOptional must be [%lld, H = %lld]%s, got %s", (long long)srows[0],
                               (long long)H, sharedExpertRankNum > 0 ? " (shared experts first)" : "",
                               mr_aclnn_shape_str(scalesOptional, sh, sizeof sh));
    if (scalesOptional && quantMode == 0) mr_aclnn_unused(c, MR_DSP_SCALES);
    const aclDataType want = quantMode == 2 ? ACL_INT8 : x->dtype;
    if (expandXOut->dtype != want)
        return mr_aclnn_invalid(c, "expandXOut must be %s with quantMode %lld", quantMode == 2 ? "INT8" : "x's dtype",
                                (long long)quantMode);
    if (expandXOut->ndim != 2 || expandXOut->dims[1] != H || expandXOut->dims[0] < min_rows)
        return mr_aclnn_tiling(c, "expandXOut must be [A, H = %lld] with A >= %lld for rank %lld, got %s", (long long)H,
                               (long long)min_rows, (long long)epRankId, mr_aclnn_shape_str(expandXOut, sh, sizeof sh));
    const int64_t A = expandXOut->dims[0];
    if (quantMode == 2 && !dynamicScalesOut)
        return mr_aclnn_invalid(c, "dynamicScalesOut is required with quantMode 2");
    if (dynamicScalesOut && quantMode == 0) mr_aclnn_unused(c, MR_DSP_DYNS);
    const int64_t L = epRankId < sharedExpertRankNum ? 1 : moeExpertNum / (epWorldSize - sharedExpertRankNum);
    if ((st = mr_dist_need_1d(c, dynamicScalesOut, "dynamicScalesOut", A)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(c, mr_aclnn_tensor(c, MR_DSP_ASSIST), v1 ? "expandIdxOut" : "assistInfoForCombineOut",
                              v1 ? bs * k : A * 128)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(c, mr_aclnn_tensor(c, MR_DSP_TOKNUMS), "expertTokenNumsOut", L)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(c, mr_aclnn_tensor(c, MR_DSP_RECV), "epRecvCountsOut", epWorldSize * L)) !=
            ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(c, mr_aclnn_tensor(c, MR_DSP_EXPS), "expandScalesOut", A)) != ACLNN_SUCCESS)
        return st;
    if (tpRecvCountsOut && tpRecvCountsOut->ndim != 1)
        return mr_aclnn_tiling(c, "tpRecvCountsOut must be 1-D, got %s", mr_aclnn_shape_str(tpRecvCountsOut, sh, sizeof sh));
    return mr_status_to_aclnn(
        mr_dist_plan_init(plan, da.group_ep, &a, epRankId, bs, A, mask_2d, 0, c->op->prepare_name));
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
    const mr_dist_args da = MR_DIST_ARGS(commAlg);
    mr_dist_plan plan;
    if ((st = mr_dsp_prepare(&c, da, quantMode, expertTokenNumsType, 0, &plan)) != ACLNN_SUCCESS) return st;
    return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws_size);
}

/* 1 when this thread's last V1 run failed because of the communicator (set by every V1 run). */
static _Thread_local int mr_v1_comm_flag;
static int mr_v1_comm_failed(void) { return mr_v1_comm_flag; }

/* Phase 2 of every version: communication failures (comm_failed) are ACLNN_ERR_INNER (the data is not at fault). */
static aclnnStatus mr_dist_execute(const mr_aclnn_op *op, void *workspace, uint64_t workspaceSize,
                                   aclOpExecutor *executor, aclrtStream stream, int (*comm_failed)(void))
{
    aclnnStatus st = mr_aclnn_execute(op, workspace, workspaceSize, executor, stream);
    return st != ACLNN_SUCCESS && comm_failed() ? ACLNN_ERR_INNER : st;
}

aclnnStatus aclnnMoeDistributeDispatchV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                         aclrtStream stream)
{
    return mr_dist_execute(&mr_dsp_op, workspace, workspaceSize, executor, stream, mr_dist_comm_failed);
}

/* Combine phase 1 of V2 and V1 (the tables agree up to expandScalesOptional; bookkeeping at MR_CMB_ASSIST:
 * assistInfoForCombine [A * 128] or expandIdx [Bs * K]; V1 has no sharedExpertXOptional). */
static aclnnStatus mr_cmb_prepare(mr_aclnn_call *c, mr_dist_args da, int64_t outDtype, int64_t commQuantMode,
                                  int64_t groupListType, const aclTensor *sharedExpertXOptional, const aclTensor *xOut,
                                  int v1, mr_dist_plan *plan)
{
    const aclTensor *expandX = mr_aclnn_tensor(c, MR_CMB_EXPX), *expertIds = mr_aclnn_tensor(c, MR_CMB_IDS);
    const aclTensor *expertScales = mr_aclnn_tensor(c, MR_CMB_ARG_ESCALES);
    if (mr_aclnn_tensor(c, MR_CMB_ARG_ACT) || mr_aclnn_tensor(c, MR_CMB_ARG_WEIGHT) ||
        mr_aclnn_tensor(c, MR_CMB_ARG_GROUP))
        return mr_aclnn_invalid(c, "activationScaleOptional, weightScaleOptional and groupListOptional must be NULL "
                                   "(not supported on Atlas A3)");
    if (outDtype != 0 || groupListType != 0)
        return mr_aclnn_tiling(c, "outDtype and %s must be 0, got %lld and %lld",
                               v1 ? "groupList_type" : "groupListType", (long long)outDtype, (long long)groupListType);
    if (commQuantMode == 2)
        return mr_aclnn_tiling(c, "commQuantMode 2 (int8 wire compression) is not implemented by moeroute; use 0");
    if (commQuantMode != 0) return mr_aclnn_tiling(c, "commQuantMode must be 0 or 2, got %lld", (long long)commQuantMode);
    aclnnStatus st;
    char sh[96];
    int64_t bs = 0, k = 0, min_rows = 0;
    if ((st = mr_dist_ids(c, expertIds, &bs, &k)) != ACLNN_SUCCESS) return st;
    if (expandX->ndim != 2)
        return mr_aclnn_tiling(c, "expandX must be [A, H], got %s", mr_aclnn_shape_str(expandX, sh, sizeof sh));
    const int64_t A = expandX->dims[0], H = expandX->dims[1];
    da.bs = bs, da.h = H, da.k = k;
    mr_dist_attrs a;
    if ((st = mr_dist_attrs_aclnn(c, &da, &a, &min_rows)) != ACLNN_SUCCESS) return st;
    a.xtype = mr_dist_xtype(expandX->dtype);
    if (A < min_rows)
        return mr_aclnn_tiling(c, "expandX must have A >= %lld rows for rank %lld, got %s", (long long)min_rows,
                               (long long)da.rank, mr_aclnn_shape_str(expandX, sh, sizeof sh));
    int mask_2d = 0;
    if ((st = mr_dist_check_mask(c, mr_aclnn_tensor(c, MR_CMB_ARG_MASK), bs, k, &mask_2d)) != ACLNN_SUCCESS) return st;
    const int64_t bk[2] = {bs, k}, bh[2] = {bs, H};
    const int64_t L = da.rank < da.shared_ranks ? 1 : da.experts / (da.world - da.shared_ranks);
    if (!mr_aclnn_shape_is(expertScales, 2, bk))
        return mr_aclnn_tiling(c, "expertScales must be [Bs, K], got %s", mr_aclnn_shape_str(expertScales, sh, sizeof sh));
    if (!mr_aclnn_shape_is(xOut, 2, bh) || (sharedExpertXOptional && !mr_aclnn_shape_is(sharedExpertXOptional, 2, bh)))
        return mr_aclnn_tiling(c, "xOut and sharedExpertXOptional must be [Bs, H] = [%lld, %lld]", (long long)bs,
                               (long long)H);
    if ((st = mr_dist_need_1d(c, mr_aclnn_tensor(c, MR_CMB_ASSIST), v1 ? "expandIdx" : "assistInfoForCombine",
                              v1 ? bs * k : A * 128)) != ACLNN_SUCCESS ||
        (st = mr_dist_need_1d(c, mr_aclnn_tensor(c, MR_CMB_SEND), "epSendCounts", da.world * L)) != ACLNN_SUCCESS)
        return st;
    if (mr_aclnn_tensor(c, MR_CMB_ARG_TPSEND)) mr_aclnn_unused(c, MR_CMB_ARG_TPSEND);
    if (mr_aclnn_tensor(c, MR_CMB_ARG_EXPS)) mr_aclnn_unused(c, MR_CMB_ARG_EXPS);
    return mr_status_to_aclnn(
        mr_dist_plan_init(plan, da.group_ep, &a, da.rank, bs, A, mask_2d, 1, c->op->prepare_name));
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
    const mr_dist_args da = MR_DIST_ARGS(commAlg);
    mr_dist_plan plan;
    if ((st = mr_cmb_prepare(&c, da, outDtype, commQuantMode, groupListType, sharedExpertXOptional, xOut, 0, &plan)) !=
        ACLNN_SUCCESS)
        return st;
    return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws_size);
}

aclnnStatus aclnnMoeDistributeCombineV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                        aclrtStream stream)
{
    return mr_dist_execute(&mr_cmb_op, workspace, workspaceSize, executor, stream, mr_dist_comm_failed);
}

/* ---- V1: aclnnMoeDistributeDispatch / aclnnMoeDistributeCombine (spec 11.5; docs/operators/distribute.md "V1")
 * The V2 runs do the work. The V2 combine finds every row from the gathered expert ids and epSendCounts; its
 * assistInfo is only a cross-check, skipped when the view is absent. So V1 dispatch is the V2 dispatch with its
 * assistInfo in the workspace, then writes expandIdx (below) from this rank's own ids and mask; V1 combine checks
 * expandIdx against the same recomputation and runs the V2 combine without assistInfo and sharedExpertX. The V1
 * runs' own refusals (workspace, expandIdx's address and overlaps, a corrupted expandIdx) must reach every rank:
 * one agreement (mr_v1_agree) precedes the V2 run's round. */

static const mr_arg_spec mr_dsp1_args[] = {MR_DSP_ARGS("expandIdxOut")};
static const mr_arg_spec mr_cmb1_args[] = {MR_CMB_ARGS("expandIdx"), {"xOut", 1, 0, 0, MR_CMB_OUT, 0, 0}};

/* The V2 plan and where the V1 run keeps its own data in the workspace, behind the V2 run's part. */
typedef struct mr_v1_plan {
    mr_dist_plan p;
    size_t assist_at; /* dispatch: the V2 run's assistInfo, 3 * A int32 (64-byte aligned from here) */
    size_t cursor_at; /* moeExpertNum int64 cursors (64-byte aligned from here)                         */
    size_t ws_size;
} mr_v1_plan;

static char *mr_v1_region(void *workspace, size_t at)
{
    char *p = (char *)workspace + at;
    return p + ((64 - (uintptr_t)p % 64) % 64);
}

static aclnnStatus mr_v1_finish(mr_aclnn_call *c, const mr_dist_plan *p, int combine)
{
    mr_v1_plan q;
    memset(&q, 0, sizeof q);
    q.p = *p;
    const uint64_t assist = combine ? 0 : (uint64_t)p->rows * 12u + 64u, cursor = (uint64_t)p->a.moe_experts * 8u + 64u;
    if ((uint64_t)p->rows > UINT64_MAX / 32u || (uint64_t)p->a.moe_experts > UINT64_MAX / 16u ||
        p->ws_size + assist + cursor > SIZE_MAX)
        return mr_aclnn_tiling(c, "the workspace does not fit in memory");
    q.assist_at = p->ws_size, q.cursor_at = p->ws_size + (size_t)assist, q.ws_size = q.cursor_at + (size_t)cursor;
    return mr_aclnn_finish(c, &q, sizeof q, q.ws_size);
}

/* moeroute's expandIdx (docs/operators/distribute.md "V1"): expandIdx[t * K + j] = the position of slot (t, j)
 * among this rank's active slots sent to the same expert, in (token, slot) order -- the slot's row within its
 * (expert, source) block on the owner, as the V2 combine recomputes it -- or -1 when the slot sends nothing. With
 * write, stores it; else returns the first index where idx differs (-1: none). cursor: moeExpertNum entries. */
static int64_t mr_v1_expand_idx(const mr_dist_plan *p, const mr_view *ids, const mr_view *mask, const mr_view *idx,
                                int64_t *cursor, int write, int32_t *want_at_diff)
{
    const int64_t K = p->a.k, E = p->a.moe_experts;
    memset(cursor, 0, (size_t)E * sizeof *cursor);
    for (int64_t t = 0; t < p->bs; t++)
        for (int64_t j = 0; j < K; j++) {
            const int active = !mask->data || *mr_view_at2(mask, t, j) != 0;
            const int64_t e = active ? mr_view_int_at(mr_view_at2(ids, t, j), 4) : -1;
            const int32_t want = e >= 0 && e < E ? (int32_t)cursor[e]++ : -1;
            char *at = mr_view_at2(idx, t * K + j, 0);
            if (write) {
                memcpy(at, &want, 4);
            } else if (mr_view_int_at(at, 4) != want) {
                *want_at_diff = want;
                return t * K + j;
            }
        }
    return -1;
}

/* This rank's own V1 refusals: the workspace, data addresses and overlaps of the V1 views (expandIdx at the
 * bookkeeping slot); combine also expandIdx against the recomputation. */
static moeroute_status mr_v1_local(const mr_v1_plan *q, const mr_view *v, const mr_arg_spec *args, size_t nargs,
                                   size_t n, size_t first_out, int combine, void *workspace, size_t workspace_size,
                                   const char *api)
{
    const char *names[MR_ACLNN_MAX_ARGS]; /* view slot -> argument name, from the table */
    for (size_t i = 0; i < n; i++) names[i] = "(none)";
    for (size_t i = 0; i < nargs; i++)
        if (args[i].slot < n) names[args[i].slot] = args[i].name;
    moeroute_status st;
    if (workspace_size < q->ws_size || !workspace)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace of %zu bytes at %p; %zu bytes are required", api,
                       workspace_size, workspace, q->ws_size);
    if ((st = mr_views_check_data(api, v, names, n)) != MOEROUTE_OK ||
        (st = mr_views_check_disjoint(api, v, names, n, first_out, workspace, q->ws_size)) != MOEROUTE_OK || !combine)
        return st;
    int32_t want = 0;
    const int64_t bad = mr_v1_expand_idx(&q->p, &v[MR_CMB_IDS], &v[MR_CMB_MASK], &v[MR_CMB_ASSIST],
                                         (int64_t *)(void *)mr_v1_region(workspace, q->cursor_at), 0, &want);
    if (bad < 0) return MOEROUTE_OK;
    return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                   "%s: expandIdx[%lld] = %lld but rank %lld's dispatch gives token %lld slot %lld the value %d; pass "
                   "dispatch's expandIdx with the same expertIds and mask",
                   api, (long long)bad, (long long)mr_view_int_at(mr_view_at2(&v[MR_CMB_ASSIST], bad, 0), 4),
                   (long long)q->p.rank, (long long)(bad / q->p.a.k), (long long)(bad % q->p.a.k), (int)want);
}

/* One agreement among the ranks on each one's own V1 verdict `local`, on either transport: a refusal anywhere, a
 * missing rank, or calls or attributes that differ fail it on every rank (161002; 561000 at the aclnn API for the
 * communicator's failures). Kinds of this round are not those of the V2 runs or collectives, so a rank making
 * another call fails instead of pairing with it. */
enum { MR_V1_AGREE_DISPATCH = 0x100 + MR_HCCL_MC2_DISPATCH, MR_V1_AGREE_COMBINE = 0x100 + MR_HCCL_MC2_COMBINE };

typedef struct mr_v1_head {
    int64_t kind, refused;
    mr_dist_attrs a;
    char message[256];
} mr_v1_head;

static moeroute_status mr_v1_hccl(HcclResult h, moeroute_status local)
{
    if (h == HCCL_SUCCESS) return MOEROUTE_OK;
    if (local != MOEROUTE_OK) return local;
    if (h == HCCL_E_MEMORY) return MOEROUTE_ERR_OUT_OF_MEMORY;
    if (h == HCCL_E_TIMEOUT || h == HCCL_E_UNAVAIL || h == HCCL_E_NOT_FOUND || h == HCCL_E_INTERNAL)
        mr_v1_comm_flag = 1;
    return MOEROUTE_ERR_INVALID_VALUE;
}

/* Over a network transport: gather every rank's head, then every rank reaches the same verdict. */
static moeroute_status mr_v1_agree_net(void *net, const mr_dist_plan *p, const mr_v1_head *mine, moeroute_status local,
                                       const char *api)
{
    mr_v1_head *all = mr_calloc((size_t)p->a.world, sizeof *all);
    if (!all) return local != MOEROUTE_OK ? local : mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory", api);
    moeroute_status st = mr_v1_hccl(mr_hccl_net->allgather(net, mine, all, sizeof *mine, api), local);
    for (int64_t r = 0; r < p->a.world && st == MOEROUTE_OK && local == MOEROUTE_OK; r++) {
        if (all[r].refused)
            st = mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: rank %lld refused its arguments: %s", api, (long long)r,
                         all[r].message);
        else if (all[r].kind != mine->kind || memcmp(&all[r].a, &mine->a, sizeof mine->a) != 0)
            st = mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: rank %lld made another call or passed other attributes", api,
                         (long long)r);
    }
    mr_free(all);
    return local != MOEROUTE_OK ? local : st;
}

static moeroute_status mr_v1_agree(const mr_dist_plan *p, int64_t kind, moeroute_status local, const char *api)
{
    mr_v1_head mine;
    memset(&mine, 0, sizeof mine);
    mine.kind = kind, mine.refused = local != MOEROUTE_OK, mine.a = p->a;
    if (local != MOEROUTE_OK) { /* keep the message for the peers, and for this thread */
        const char *m = mr_error_take();
        snprintf(mine.message, sizeof mine.message, "%s", m ? m : "refused");
        mr_error_push("%s", mine.message);
    }
    mr_v1_comm_flag = 0;
    mr_hccl_group *g = mr_hccl_group_find(p->group);
    if (!g) {
        mr_v1_comm_flag = 1;
        return local != MOEROUTE_OK ? local
                                    : mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                                              "%s: communicator %s no longer exists (HcclCommDestroy)", api, p->group);
    }
    moeroute_status st;
    void *net = mr_hccl_group_net(g);
    if (net) {
        st = mr_v1_agree_net(net, p, &mine, local, api);
    } else {
        const mr_hccl_post post = {(uint32_t)kind, &p->a, sizeof p->a, NULL, NULL, NULL,
                                   local == MOEROUTE_OK ? HCCL_SUCCESS : HCCL_E_PARA, mine.message};
        const mr_hccl_post *const *all;
        HcclResult h = mr_hccl_round_begin(g, (uint32_t)p->rank, &post, api, &all);
        if (h == HCCL_SUCCESS) h = mr_hccl_round_end(g, (uint32_t)p->rank, api);
        st = mr_v1_hccl(h, local);
    }
    mr_hccl_group_release(g);
    return st;
}

static moeroute_status mr_dispatch_v1_run(const void *plan, const mr_view *views, void *workspace,
                                          size_t workspace_size, mr_pool *pool, const char *api)
{
    const mr_v1_plan *q = plan;
    mr_view v[MR_DSP_COUNT];
    memcpy(v, views, sizeof v);
    if (q->p.a.quant_mode == 0) memset(&v[MR_DSP_SCALES], 0, sizeof v[0]); /* not read (as the V2 run) */
    moeroute_status st = mr_v1_local(q, v, mr_dsp1_args, MR_DSP_COUNT, MR_DSP_COUNT, MR_DSP_EXPX, 0, workspace,
                                     workspace_size, api);
    if ((st = mr_v1_agree(&q->p, MR_V1_AGREE_DISPATCH, st, api)) != MOEROUTE_OK) return st;
    const mr_view idx = v[MR_DSP_ASSIST];
    const int64_t assist_len = 3 * q->p.rows;
    v[MR_DSP_ASSIST] = mr_view_contiguous(mr_v1_region(workspace, q->assist_at), 4, 1, &assist_len);
    st = mr_dispatch_run(&q->p, v, workspace, workspace_size, pool, api);
    mr_v1_comm_flag = mr_dist_comm_failed();
    if (st == MOEROUTE_OK)
        mr_v1_expand_idx(&q->p, &v[MR_DSP_IDS], &v[MR_DSP_MASK], &idx,
                         (int64_t *)(void *)mr_v1_region(workspace, q->cursor_at), 1, NULL);
    return st;
}

static moeroute_status mr_combine_v1_run(const void *plan, const mr_view *views, void *workspace,
                                         size_t workspace_size, mr_pool *pool, const char *api)
{
    const mr_v1_plan *q = plan;
    mr_view v[MR_CMB_COUNT];
    memcpy(v, views, sizeof v);
    moeroute_status st = mr_v1_local(q, v, mr_cmb1_args, sizeof mr_cmb1_args / sizeof mr_cmb1_args[0], MR_CMB_COUNT,
                                     MR_CMB_OUT, 1, workspace, workspace_size, api);
    if ((st = mr_v1_agree(&q->p, MR_V1_AGREE_COMBINE, st, api)) != MOEROUTE_OK) return st;
    memset(&v[MR_CMB_ASSIST], 0, sizeof v[0]); /* the V2 combine recomputes every row; no cross-check */
    st = mr_combine_run(&q->p, v, workspace, workspace_size, pool, api);
    mr_v1_comm_flag = mr_dist_comm_failed();
    return st;
}

static const mr_aclnn_op mr_dsp1_op = MR_ACLNN_OP("aclnnMoeDistributeDispatch",
                                                  "aclnnMoeDistributeDispatchGetWorkspaceSize", mr_dsp1_args,
                                                  MR_DSP_COUNT, mr_dispatch_v1_run);
static const mr_aclnn_op mr_cmb1_op = MR_ACLNN_OP("aclnnMoeDistributeCombine",
                                                  "aclnnMoeDistributeCombineGetWorkspaceSize", mr_cmb1_args,
                                                  MR_CMB_COUNT + 1, mr_combine_v1_run);

aclnnStatus aclnnMoeDistributeDispatchGetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIds, const aclTensor *scalesOptional,
    const aclTensor *xActiveMaskOptional, const aclTensor *expertScalesOptional, const char *groupEp,
    int64_t epWorldSize, int64_t epRankId, int64_t moeExpertNum, const char *groupTp, int64_t tpWorldSize,
    int64_t tpRankId, int64_t expertShardType, int64_t sharedExpertNum, int64_t sharedExpertRankNum,
    int64_t quantMode, int64_t globalBs, int64_t expertTokenNumsType, const aclTensor *expandXOut,
    const aclTensor *dynamicScalesOut, const aclTensor *expandIdxOut, const aclTensor *expertTokenNumsOut,
    const aclTensor *epRecvCountsOut, const aclTensor *tpRecvCountsOut, const aclTensor *expandScalesOut,
    uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x,          expertIds,        scalesOptional, xActiveMaskOptional, expertScalesOptional,
                          expandXOut, dynamicScalesOut, expandIdxOut,   expertTokenNumsOut,  epRecvCountsOut,
                          tpRecvCountsOut, expandScalesOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_dsp1_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    const mr_dist_args da = MR_DIST_ARGS(NULL);
    mr_dist_plan plan;
    if ((st = mr_dsp_prepare(&c, da, quantMode, expertTokenNumsType, 1, &plan)) != ACLNN_SUCCESS) return st;
    return mr_v1_finish(&c, &plan, 0);
}

aclnnStatus aclnnMoeDistributeDispatch(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                       aclrtStream stream)
{
    return mr_dist_execute(&mr_dsp1_op, workspace, workspaceSize, executor, stream, mr_v1_comm_failed);
}

aclnnStatus aclnnMoeDistributeCombineGetWorkspaceSize(
    const aclTensor *expandX, const aclTensor *expertIds, const aclTensor *expandIdx, const aclTensor *epSendCounts,
    const aclTensor *expertScales, const aclTensor *tpSendCountsOptional, const aclTensor *xActiveMaskOptional,
    const aclTensor *activationScaleOptional, const aclTensor *weightScaleOptional,
    const aclTensor *groupListOptional, const aclTensor *expandScalesOptional, const char *groupEp,
    int64_t epWorldSize, int64_t epRankId, int64_t moeExpertNum, const char *groupTp, int64_t tpWorldSize,
    int64_t tpRankId, int64_t expertShardType, int64_t sharedExpertNum, int64_t sharedExpertRankNum,
    int64_t globalBs, int64_t outDtype, int64_t commQuantMode, int64_t groupList_type, const aclTensor *xOut,
    uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {expandX,
                          expertIds,
                          expandIdx,
                          epSendCounts,
                          expertScales,
                          tpSendCountsOptional,
                          xActiveMaskOptional,
                          activationScaleOptional,
                          weightScaleOptional,
                          groupListOptional,
                          expandScalesOptional,
                          xOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_cmb1_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    const mr_dist_args da = MR_DIST_ARGS(NULL);
    mr_dist_plan plan;
    if ((st = mr_cmb_prepare(&c, da, outDtype, commQuantMode, groupList_type, NULL, xOut, 1, &plan)) != ACLNN_SUCCESS)
        return st;
    return mr_v1_finish(&c, &plan, 1);
}

aclnnStatus aclnnMoeDistributeCombine(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                      aclrtStream stream)
{
    return mr_dist_execute(&mr_cmb1_op, workspace, workspaceSize, executor, stream, mr_v1_comm_failed);
}
