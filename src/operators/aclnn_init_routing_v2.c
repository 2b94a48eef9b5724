/* aclnnMoeInitRoutingV2 and aclnnMoeInitRoutingQuantV2 (docs/operators/init_routing_v2.md): argument tables
 * and the tiling checks of spec 3.4 and 4.3, over the shared adapter layer and the routing plan. */
#include "aclnnop/aclnn_moe_init_routing_quant_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v2.h"
#include "operators/routing_aclnn.h"

enum { A_X, A_EXPERT, A_SCALE, A_OFFSET, A_OUT_X, A_OUT_ROW, A_OUT_COUNT, A_OUT_BEFORE, A_OUT_DSCALE, A_COUNT };

/* Optional outputs and the quant tensors are checked by the operator (only when the mode uses them). */
static const mr_arg_spec mr_v2_args[] = {
    {"x", 0, 0, 0, MR_RV_X, MR_DT_FLOATS, -1},
    {"expertIdx", 0, 0, 0, MR_RV_EXPERT, MR_DT(ACL_INT32), -1},
    {"expandedXOut", 1, 0, 0, MR_RV_OUT_X, MR_DT_FLOATS, 0},
    {"expandedRowIdxOut", 1, 0, 0, MR_RV_OUT_ROW_IDX, MR_DT(ACL_INT32), -1},
    {"expertTokensCountOrCumsumOut", 1, 1, 0, MR_RV_OUT_COUNT, 0, -1},
    {"expertTokensBeforeCapacityOut", 1, 1, 0, MR_RV_OUT_BEFORE, 0, -1},
};
static const mr_arg_spec mr_quant_v2_args[] = {
    {"x", 0, 0, 0, MR_RV_X, MR_DT_FLOATS, -1},
    {"expertIdx", 0, 0, 0, MR_RV_EXPERT, MR_DT(ACL_INT32), -1},
    {"scaleOptional", 0, 1, 0, MR_RV_SCALE, 0, -1},
    {"offsetOptional", 0, 1, 0, MR_RV_OFFSET, 0, -1},
    {"expandedXOut", 1, 0, 0, MR_RV_OUT_X, MR_DT(ACL_INT8), -1},
    {"expandedRowIdxOut", 1, 0, 0, MR_RV_OUT_ROW_IDX, MR_DT(ACL_INT32), -1},
    {"expertTokensCountOrCumsumOutOptional", 1, 1, 0, MR_RV_OUT_COUNT, 0, -1},
    {"expertTokensBeforeCapacityOutOptional", 1, 1, 0, MR_RV_OUT_BEFORE, 0, -1},
    {"dynamicQuantScaleOutOptional", 1, 1, 0, MR_RV_OUT_SCALE, 0, -1},
};
static const mr_aclnn_op mr_v2_op = MR_ACLNN_OP("aclnnMoeInitRoutingV2", "aclnnMoeInitRoutingV2GetWorkspaceSize",
                                                mr_v2_args, MR_RV_COUNT, mr_route_run_aclnn);
static const mr_aclnn_op mr_quant_v2_op =
    MR_ACLNN_OP("aclnnMoeInitRoutingQuantV2", "aclnnMoeInitRoutingQuantV2GetWorkspaceSize", mr_quant_v2_args,
                MR_RV_COUNT, mr_route_run_aclnn);

typedef struct mr_v2_attrs {
    int64_t active, capacity, experts, drop_pad, count_flag;
    bool before_flag;
    int64_t quant_mode; /* -1: V2 (no quant) */
} mr_v2_attrs;

/* A count output the mode needs: present (561002), INT32 (161002), 1-D [E] (561002). */
static aclnnStatus mr_check_count_out(const mr_aclnn_call *c, const aclTensor *t, const char *name, int64_t E)
{
    if (!t) return mr_aclnn_tiling(c, "%s is required by the flags but is NULL", name);
    if (t->dtype != ACL_INT32) return mr_aclnn_invalid(c, "%s must be INT32, got dtype %d", name, (int)t->dtype);
    if (t->format != ACL_FORMAT_ND) return mr_aclnn_invalid(c, "%s must have format ND", name);
    if (!mr_aclnn_shape_is(t, 1, &E)) return mr_aclnn_tiling(c, "%s must be 1-D [expertNum] = [%lld]", name, (long long)E);
    return ACLNN_SUCCESS;
}

/* A FLOAT32 ND tensor of rank `rank`; everything about it is a tiling check here (spec 4.3). */
static aclnnStatus mr_check_f32(const mr_aclnn_call *c, const aclTensor *t, const char *name, uint32_t rank)
{
    if (!t) return mr_aclnn_tiling(c, "%s is required by quantMode but is NULL", name);
    if (t->dtype != ACL_FLOAT || t->format != ACL_FORMAT_ND)
        return mr_aclnn_tiling(c, "%s must be FLOAT ND, got dtype %d format %d", name, (int)t->dtype, (int)t->format);
    if (t->ndim != rank) return mr_aclnn_tiling(c, "%s must be %u-D", name, rank);
    return ACLNN_SUCCESS;
}

static aclnnStatus mr_prepare(const mr_aclnn_op *op, const void *const *targs, const mr_v2_attrs *a,
                              uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const int quant = op == &mr_quant_v2_op;
    /* Both tables in the QuantV2 index space A_*: pos[i] is argument i's position in op's table, -1 where V2 has
     * no such argument (scale, offset, dynamic scale). */
    static const int v2_pos[A_COUNT] = {0, 1, -1, -1, 2, 3, 4, 5, -1};
    static const int quant_pos[A_COUNT] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    const int *pos = quant ? quant_pos : v2_pos;
    const void *args[A_COUNT];
    for (int i = 0; i < A_COUNT; i++) args[i] = pos[i] < 0 ? NULL : targs[pos[i]];
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, op, targs, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    const aclTensor *x = args[A_X], *expertIdx = args[A_EXPERT], *scale = args[A_SCALE], *offset = args[A_OFFSET];
    const aclTensor *ex = args[A_OUT_X], *erow = args[A_OUT_ROW], *dscale = args[A_OUT_DSCALE];
    /* tiling checks (spec 3.4, 4.3) */
    if (x->ndim != 2) return mr_aclnn_tiling(&c, "x must be 2-D [N, H]");
    if (expertIdx->ndim != 2) return mr_aclnn_tiling(&c, "expertIdx must be 2-D [N, K]");
    if (x->dims[0] != expertIdx->dims[0]) return mr_aclnn_tiling(&c, "x.dim0 must equal expertIdx.dim0 (N)");
    if (a->active < 0 || a->capacity < 0 || a->experts < 0)
        return mr_aclnn_tiling(&c, "activeNum (%lld), expertCapacity (%lld) and expertNum (%lld) must be >= 0",
                               (long long)a->active, (long long)a->capacity, (long long)a->experts);
    if (a->drop_pad != 0 && a->drop_pad != 1)
        return mr_aclnn_tiling(&c, "dropPadMode must be 0 or 1, got %lld", (long long)a->drop_pad);
    if (a->count_flag < 0 || a->count_flag > 2)
        return mr_aclnn_tiling(&c, "expertTokensCountOrCumsumFlag must be 0, 1 or 2, got %lld", (long long)a->count_flag);
    const int64_t N = x->dims[0], H = x->dims[1], K = expertIdx->dims[1], E = a->experts, C = a->capacity;
    const int drop = a->drop_pad == 1;
    if (drop && (C < 1 || E < 1))
        return mr_aclnn_tiling(&c, "drop & pad mode needs expertCapacity >= 1 and expertNum >= 1 (got %lld, %lld)",
                               (long long)C, (long long)E);
    if (drop && C > N)
        return mr_aclnn_tiling(&c, "expertCapacity (%lld) must not exceed the token count N (%lld)", (long long)C,
                               (long long)N);
    const int64_t flag = drop ? 0 : a->count_flag; /* forced off in drop mode */
    const int before = drop && a->before_flag;     /* forced off in dropless mode */
    if (flag > 0 && E <= 0)
        return mr_aclnn_tiling(&c, "expertTokensCountOrCumsumFlag %lld needs expertNum > 0", (long long)flag);
    int64_t L;
    if (mr_mul_i64(N, K, &L) || L > INT32_MAX)
        return mr_aclnn_tiling(&c, "N*K = %lld*%lld exceeds INT32_MAX; indices are int32", (long long)N, (long long)K);
    int64_t smooth_rows = 0;
    int per_expert_smooth = 0; /* [E, H] smooth rows are indexed by the id: ids must be in [0, E) */
    if (quant) {
        if (a->quant_mode != 0 && a->quant_mode != 1)
            return mr_aclnn_tiling(&c, "quantMode must be 0 (static) or 1 (dynamic), got %lld", (long long)a->quant_mode);
        if (a->quant_mode == 0) {
            const int64_t one = 1;
            if ((st = mr_check_f32(&c, scale, "scaleOptional", 1)) || (st = mr_check_f32(&c, offset, "offsetOptional", 1)))
                return st;
            if (!mr_aclnn_shape_is(scale, 1, &one) || !mr_aclnn_shape_is(offset, 1, &one))
                return mr_aclnn_tiling(&c, "static quantization needs scaleOptional and offsetOptional of shape [1]");
        } else if (scale) {
            if ((st = mr_check_f32(&c, scale, "scaleOptional", 2))) return st;
            if ((scale->dims[0] != 1 && scale->dims[0] != E) || scale->dims[1] != H)
                return mr_aclnn_tiling(&c, "smooth scales must be [1, H] or [expertNum, H] = [%lld, %lld]", (long long)E,
                                       (long long)H);
            smooth_rows = scale->dims[0];
            per_expert_smooth = smooth_rows == E && E != 1;
        }
    }
    /* outputs */
    const int64_t rows = drop ? 0 : (a->active == 0 || a->active > L ? L : a->active);
    if (drop ? !mr_aclnn_shape_is(ex, 3, (const int64_t[]){E, C, H}) : !mr_aclnn_shape_is(ex, 2, (const int64_t[]){rows, H}))
        return drop ? mr_aclnn_tiling(&c, "expandedXOut must be [expertNum, expertCapacity, H] = [%lld, %lld, %lld]",
                                      (long long)E, (long long)C, (long long)H)
                    : mr_aclnn_tiling(&c, "expandedXOut must be [%lld, %lld] (activeNum rows of H)", (long long)rows,
                                      (long long)H);
    if (!mr_aclnn_shape_is(erow, 1, &L)) return mr_aclnn_tiling(&c, "expandedRowIdxOut must be 1-D [N*K] = [%lld]", (long long)L);
    if (flag && (st = mr_check_count_out(&c, args[A_OUT_COUNT], c.op->args[pos[A_OUT_COUNT]].name, E))) return st;
    if (before && (st = mr_check_count_out(&c, args[A_OUT_BEFORE], c.op->args[pos[A_OUT_BEFORE]].name, E))) return st;
    if (quant && a->quant_mode == 1) {
        const int64_t len = drop ? E * C : rows;
        if ((st = mr_check_f32(&c, dscale, "dynamicQuantScaleOutOptional", 1))) return st;
        if (!mr_aclnn_shape_is(dscale, 1, &len))
            return mr_aclnn_tiling(&c, "dynamicQuantScaleOutOptional must be 1-D [%lld]", (long long)len);
    }
    /* tensors the mode does not use take no part in the run */
    if (!flag) mr_aclnn_unused(&c, (size_t)pos[A_OUT_COUNT]);
    if (!before) mr_aclnn_unused(&c, (size_t)pos[A_OUT_BEFORE]);
    if (quant && a->quant_mode == 1) mr_aclnn_unused(&c, (size_t)pos[A_OFFSET]);
    if (quant && a->quant_mode == 0) mr_aclnn_unused(&c, (size_t)pos[A_OUT_DSCALE]);
    mr_route_desc d = {.variant = MR_ROUTE_V2, .n = N, .k = K, .h = H, .active = a->active, .drop = drop,
                       .capacity = C, .experts = E,
                       .count_kind = flag == 1 ? MR_COUNT_CUMSUM_I32 : flag == 2 ? MR_COUNT_I32 : MR_COUNT_NONE,
                       .before_capacity = before, .xtype = mr_aclnn_xtype(x->dtype),
                       .transform = !quant ? MR_ROW_COPY : a->quant_mode == 0 ? MR_ROW_STATIC : MR_ROW_DYNAMIC,
                       .static_from_views = quant && a->quant_mode == 0, .smooth_rows = smooth_rows,
                       .check_ids = drop || flag || per_expert_smooth};
    return mr_route_finish_aclnn(&c, &d);
}

aclnnStatus aclnnMoeInitRoutingV2GetWorkspaceSize(const aclTensor *x, const aclTensor *expertIdx, int64_t activeNum,
                                                  int64_t expertCapacity, int64_t expertNum, int64_t dropPadMode,
                                                  int64_t expertTokensCountOrCumsumFlag,
                                                  bool expertTokensBeforeCapacityFlag, const aclTensor *expandedXOut,
                                                  const aclTensor *expandedRowIdxOut,
                                                  const aclTensor *expertTokensCountOrCumsumOut,
                                                  const aclTensor *expertTokensBeforeCapacityOut,
                                                  uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x, expertIdx, expandedXOut, expandedRowIdxOut, expertTokensCountOrCumsumOut,
                          expertTokensBeforeCapacityOut};
    mr_v2_attrs a = {activeNum, expertCapacity, expertNum, dropPadMode, expertTokensCountOrCumsumFlag,
                     expertTokensBeforeCapacityFlag, -1};
    return mr_prepare(&mr_v2_op, args, &a, workspaceSize, executor);
}

aclnnStatus aclnnMoeInitRoutingV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_v2_op, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnMoeInitRoutingQuantV2GetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIdx, const aclTensor *scaleOptional, const aclTensor *offsetOptional,
    int64_t activeNum, int64_t expertCapacity, int64_t expertNum, int64_t dropPadMode,
    int64_t expertTokensCountOrCumsumFlag, bool expertTokensBeforeCapacityFlag, int64_t quantMode,
    const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut,
    const aclTensor *expertTokensCountOrCumsumOutOptional, const aclTensor *expertTokensBeforeCapacityOutOptional,
    const aclTensor *dynamicQuantScaleOutOptional, uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x, expertIdx, scaleOptional, offsetOptional, expandedXOut, expandedRowIdxOut,
                          expertTokensCountOrCumsumOutOptional, expertTokensBeforeCapacityOutOptional,
                          dynamicQuantScaleOutOptional};
    mr_v2_attrs a = {activeNum, expertCapacity, expertNum, dropPadMode, expertTokensCountOrCumsumFlag,
                     expertTokensBeforeCapacityFlag, quantMode};
    return mr_prepare(&mr_quant_v2_op, args, &a, workspaceSize, executor);
}

aclnnStatus aclnnMoeInitRoutingQuantV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                       aclrtStream stream)
{
    return mr_aclnn_execute(&mr_quant_v2_op, workspace, workspaceSize, executor, stream);
}
