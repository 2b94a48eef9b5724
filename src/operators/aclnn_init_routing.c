/* aclnnMoeInitRoutingQuant and aclnnMoeInitRouting (docs/operators/init_routing.md): argument tables and the
 * tiling checks of spec 1.6, over the shared adapter layer and the routing plan. */
#include "aclnnop/aclnn_moe_init_routing.h"
#include "aclnnop/aclnn_moe_init_routing_quant.h"
#include "operators/routing_aclnn.h"

moeroute_status mr_route_run_aclnn(const void *plan, const mr_view *views, void *ws, size_t ws_size, mr_pool *pool,
                                   const char *api)
{
    return mr_route_run(plan, views, ws, ws_size, pool, api);
}

aclnnStatus mr_route_finish_aclnn(mr_aclnn_call *c, const mr_route_desc *d)
{
    mr_route_plan plan;
    moeroute_status ms = mr_route_plan_init(&plan, d, MOEROUTE_ISA_AUTO, mr_pool_threads(mr_default_pool()),
                                            c->op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    return mr_aclnn_finish(c, &plan, sizeof plan, plan.ws.size);
}

#define MR_V1_ARGS(xout_dtypes, xout_same)                                                                    \
    {"x", 0, 0, 0, MR_RV_X, MR_DT_FLOATS, -1},                                                                \
    {"rowIdx", 0, 0, 0, MR_RV_ROW_IDX, MR_DT(ACL_INT32), -1},                                                 \
    {"expertIdx", 0, 0, 0, MR_RV_EXPERT, MR_DT(ACL_INT32), -1},                                               \
    {"expandedXOut", 1, 0, 0, MR_RV_OUT_X, xout_dtypes, xout_same},                                           \
    {"expandedRowIdxOut", 1, 0, 0, MR_RV_OUT_ROW_IDX, MR_DT(ACL_INT32), -1},                                  \
    {"expandedExpertIdxOut", 1, 0, 0, MR_RV_OUT_EXPERT, MR_DT(ACL_INT32), -1}

static const mr_arg_spec mr_quant_args[] = {MR_V1_ARGS(MR_DT(ACL_INT8), -1)};
static const mr_arg_spec mr_copy_args[] = {MR_V1_ARGS(MR_DT_FLOATS, 0)};
static const mr_aclnn_op mr_quant_op = MR_ACLNN_OP("aclnnMoeInitRoutingQuant", "aclnnMoeInitRoutingQuantGetWorkspaceSize",
                                                   mr_quant_args, MR_RV_COUNT, mr_route_run_aclnn);
static const mr_aclnn_op mr_copy_op = MR_ACLNN_OP("aclnnMoeInitRouting", "aclnnMoeInitRoutingGetWorkspaceSize",
                                                  mr_copy_args, MR_RV_COUNT, mr_route_run_aclnn);

static aclnnStatus mr_prepare(const mr_aclnn_op *op, int quant, const void *const *args, int64_t activeNum, double scale,
                              double offset, uint64_t *workspaceSize, aclOpExecutor **executor)
{
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    const aclTensor *x = args[0], *rowIdx = args[1], *expertIdx = args[2], *ex = args[3], *erow = args[4],
                    *eexp = args[5];
    /* tiling checks, in the device's order (spec 1.6) */
    if (x->ndim != 2) return mr_aclnn_tiling(&c, "x must be 2-D [N, H]");
    if (rowIdx->ndim != 2) return mr_aclnn_tiling(&c, "rowIdx must be 2-D [N, K]");
    if (expertIdx->ndim != 2 || rowIdx->dims[0] != expertIdx->dims[0] || rowIdx->dims[1] != expertIdx->dims[1])
        return mr_aclnn_tiling(&c, "rowIdx and expertIdx must have the same 2-D shape [N, K]");
    if (x->dims[0] != expertIdx->dims[0]) return mr_aclnn_tiling(&c, "x.dim0 must equal expertIdx.dim0 (N)");
    if (activeNum < 0) return mr_aclnn_tiling(&c, "activeNum must be >= 0, got %lld", (long long)activeNum);
    const int64_t N = x->dims[0], H = x->dims[1], K = expertIdx->dims[1];
    int64_t L;
    if (mr_mul_i64(N, K, &L) || L > INT32_MAX)
        return mr_aclnn_tiling(&c, "N*K = %lld*%lld exceeds INT32_MAX; indices are int32", (long long)N, (long long)K);
    const int64_t A = (activeNum < N ? activeNum : N) * K;
    if (!mr_aclnn_shape_is(ex, 2, (const int64_t[]){A, H}))
        return mr_aclnn_tiling(&c, "expandedXOut must be [min(N, activeNum)*K, H] = [%lld, %lld]", (long long)A,
                               (long long)H);
    if (!mr_aclnn_shape_is(erow, 1, &L) || !mr_aclnn_shape_is(eexp, 1, &L))
        return mr_aclnn_tiling(&c, "expandedRowIdxOut and expandedExpertIdxOut must both be 1-D [N*K] = [%lld]",
                               (long long)L);
    mr_route_desc d = {.variant = MR_ROUTE_V1, .n = N, .k = K, .h = H, .active = activeNum,
                       .xtype = mr_aclnn_xtype(x->dtype), .transform = quant ? MR_ROW_STATIC : MR_ROW_COPY,
                       .scale = scale, .offset = offset};
    return mr_route_finish_aclnn(&c, &d);
}

aclnnStatus aclnnMoeInitRoutingQuantGetWorkspaceSize(const aclTensor *x, const aclTensor *rowIdx,
                                                     const aclTensor *expertIdx, int64_t activeNum, double scale,
                                                     double offset, const aclTensor *expandedXOut,
                                                     const aclTensor *expandedRowIdxOut,
                                                     const aclTensor *expandedExpertIdxOut, uint64_t *workspaceSize,
                                                     aclOpExecutor **executor)
{
    const void *args[] = {x, rowIdx, expertIdx, expandedXOut, expandedRowIdxOut, expandedExpertIdxOut};
    return mr_prepare(&mr_quant_op, 1, args, activeNum, scale, offset, workspaceSize, executor);
}

aclnnStatus aclnnMoeInitRoutingQuant(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                     aclrtStream stream)
{
    return mr_aclnn_execute(&mr_quant_op, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnMoeInitRoutingGetWorkspaceSize(const aclTensor *x, const aclTensor *rowIdx,
                                                const aclTensor *expertIdx, int64_t activeNum,
                                                const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut,
                                                const aclTensor *expandedExpertIdxOut, uint64_t *workspaceSize,
                                                aclOpExecutor **executor)
{
    const void *args[] = {x, rowIdx, expertIdx, expandedXOut, expandedRowIdxOut, expandedExpertIdxOut};
    return mr_prepare(&mr_copy_op, 0, args, activeNum, 0.0, 0.0, workspaceSize, executor);
}

aclnnStatus aclnnMoeInitRouting(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_copy_op, workspace, workspaceSize, executor, stream);
}
