/* aclnnMoeInitRoutingV3 (docs/operators/init_routing_v3.md): argument table and the supported-subset checks of
 * spec 5.2, over the shared adapter layer and the routing plan. */
#include "aclnnop/aclnn_moe_init_routing_v3.h"
#include "operators/routing_aclnn.h"

enum { A_X, A_EXPERT, A_SCALE, A_OFFSET, A_OUT_X, A_OUT_ROW, A_OUT_COUNT, A_OUT_SCALE };

static const mr_arg_spec mr_v3_args[] = {
    {"x", 0, 0, 0, MR_RV_X, MR_DT_FLOATS | MR_DT(ACL_INT8), -1},
    {"expertIdx", 0, 0, 0, MR_RV_EXPERT, MR_DT(ACL_INT32), -1},
    {"scaleOptional", 0, 1, 0, MR_RV_SCALE, MR_DT(ACL_FLOAT), -1},
    {"offsetOptional", 0, 1, 0, MR_RV_OFFSET, 0, -1}, /* not used by the supported modes */
    {"expandedXOut", 1, 0, 0, MR_RV_OUT_X, MR_DT_FLOATS | MR_DT(ACL_INT8), -1},
    {"expandedRowIdxOut", 1, 0, 0, MR_RV_OUT_ROW_IDX, MR_DT(ACL_INT32), -1},
    {"expertTokensCountOrCumsumOut", 1, 0, 0, MR_RV_OUT_COUNT, MR_DT(ACL_INT64), -1},
    {"expandedScaleOut", 1, 0, 0, MR_RV_OUT_SCALE, MR_DT(ACL_FLOAT), -1},
};
static const mr_aclnn_op mr_v3_op = MR_ACLNN_OP("aclnnMoeInitRoutingV3", "aclnnMoeInitRoutingV3GetWorkspaceSize",
                                                mr_v3_args, MR_RV_COUNT, mr_route_run_aclnn);

/* Device limits on the range end (spec 5.2), lifted by MOEROUTE_DEVICE_LIMITS=0. */
#define MR_V3_MAX_END_COUNT 10240
#define MR_V3_MAX_END_KV 5120

aclnnStatus aclnnMoeInitRoutingV3GetWorkspaceSize(
    const aclTensor *x, const aclTensor *expertIdx, const aclTensor *scaleOptional, const aclTensor *offsetOptional,
    int64_t activeNum, int64_t expertCapacity, int64_t expertNum, int64_t dropPadMode, int64_t expertTokensNumType,
    bool expertTokensNumFlag, int64_t quantMode, const aclIntArray *activeExpertRangeOptional, int64_t rowIdxType,
    const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut, const aclTensor *expertTokensCountOrCumsumOut,
    const aclTensor *expandedScaleOut, uint64_t *workspaceSize, aclOpExecutor **executor)
{
    (void)expertCapacity; /* unused by the supported subset (dropless only) */
    const void *args[] = {x, expertIdx, scaleOptional, offsetOptional, expandedXOut, expandedRowIdxOut,
                          expertTokensCountOrCumsumOut, expandedScaleOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_v3_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    const int quant = quantMode == 1;
    if (x->dtype == ACL_INT8 && quantMode != -1)
        return mr_aclnn_invalid(&c, "x may be INT8 only with quantMode -1 (got %lld)", (long long)quantMode);
    const aclDataType want_out = quant ? ACL_INT8 : x->dtype;
    if (expandedXOut->dtype != want_out)
        return mr_aclnn_invalid(&c, "expandedXOut must be %s (dtype %d), got dtype %d",
                                quant ? "INT8 with quantMode 1" : "x's dtype", (int)want_out, (int)expandedXOut->dtype);
    /* supported subset (spec 5.2) */
    if (x->ndim != 2) return mr_aclnn_tiling(&c, "x must be 2-D [N, H]");
    if (expertIdx->ndim != 2) return mr_aclnn_tiling(&c, "expertIdx must be 2-D [N, K]");
    if (x->dims[0] != expertIdx->dims[0]) return mr_aclnn_tiling(&c, "x.dim0 must equal expertIdx.dim0 (N)");
    const int64_t N = x->dims[0], H = x->dims[1], K = expertIdx->dims[1];
    int64_t L;
    if (mr_mul_i64(N, K, &L) || L > INT32_MAX)
        return mr_aclnn_tiling(&c, "N*K = %lld*%lld exceeds INT32_MAX; indices are int32", (long long)N, (long long)K);
    if (dropPadMode != 0) return mr_aclnn_tiling(&c, "dropPadMode must be 0 (only dropless is supported), got %lld", (long long)dropPadMode);
    if (!expertTokensNumFlag) return mr_aclnn_tiling(&c, "expertTokensNumFlag must be true");
    if (expertTokensNumType != 1 && expertTokensNumType != 2)
        return mr_aclnn_tiling(&c, "expertTokensNumType must be 1 (count) or 2 (key-value), got %lld",
                               (long long)expertTokensNumType);
    if (quantMode != -1 && quantMode != 1)
        return mr_aclnn_tiling(&c, "quantMode must be -1 (none) or 1 (dynamic), got %lld", (long long)quantMode);
    if (rowIdxType != 0 && rowIdxType != 1)
        return mr_aclnn_tiling(&c, "rowIdxType must be 0 (gather) or 1 (scatter), got %lld", (long long)rowIdxType);
    if (activeNum != -1 && activeNum != L)
        return mr_aclnn_tiling(&c, "activeNum must be -1 or N*K = %lld, got %lld", (long long)L, (long long)activeNum);
    if (expertNum <= 0 || expertNum > INT32_MAX)
        return mr_aclnn_tiling(&c, "expertNum must be in [1, INT32_MAX], got %lld", (long long)expertNum);
    int64_t lo = 0, hi = expertNum;
    if (activeExpertRangeOptional && activeExpertRangeOptional->size > 0) {
        if (activeExpertRangeOptional->size != 2)
            return mr_aclnn_tiling(&c, "activeExpertRange must hold 2 values [start, end), got %llu",
                                   (unsigned long long)activeExpertRangeOptional->size);
        lo = activeExpertRangeOptional->values[0];
        hi = activeExpertRangeOptional->values[1];
        if (lo < 0 || lo >= hi || hi > expertNum)
            return mr_aclnn_tiling(&c, "activeExpertRange [%lld, %lld) must satisfy 0 <= start < end <= expertNum (%lld)",
                                   (long long)lo, (long long)hi, (long long)expertNum);
    }
    const int64_t max_end = expertTokensNumType == 1 ? MR_V3_MAX_END_COUNT : MR_V3_MAX_END_KV;
    if (hi > max_end && mr_aclnn_device_limits())
        return mr_aclnn_tiling(&c, "activeExpertRange end %lld exceeds the Atlas A2/A3 limit of %lld for "
                                   "expertTokensNumType %lld (MOEROUTE_DEVICE_LIMITS=0 lifts it)",
                               (long long)hi, (long long)max_end, (long long)expertTokensNumType);
    const aclTensor *scale = scaleOptional;
    if (scale) {
        const int64_t sdims[2] = {hi - lo, H};
        if (quant ? !mr_aclnn_shape_is(scale, 2, sdims) : !mr_aclnn_shape_is(scale, 1, &N))
            return quant ? mr_aclnn_tiling(&c, "scaleOptional (smooth) must be [end - start, H] = [%lld, %lld]",
                                           (long long)sdims[0], (long long)H)
                         : mr_aclnn_tiling(&c, "scaleOptional must be 1-D [N] = [%lld]", (long long)N);
    }
    char buf[96];
    if (!mr_aclnn_shape_is(expandedXOut, 2, (const int64_t[]){L, H}))
        return mr_aclnn_tiling(&c, "expandedXOut must be [N*K, H] = [%lld, %lld], got %s", (long long)L, (long long)H,
                               mr_aclnn_shape_str(expandedXOut, buf, sizeof buf));
    if (!mr_aclnn_shape_is(expandedRowIdxOut, 1, &L))
        return mr_aclnn_tiling(&c, "expandedRowIdxOut must be 1-D [N*K] = [%lld]", (long long)L);
    const int64_t span = hi - lo;
    if (expertTokensNumType == 1 ? !mr_aclnn_shape_is(expertTokensCountOrCumsumOut, 1, &span)
                                 : !mr_aclnn_shape_is(expertTokensCountOrCumsumOut, 2, (const int64_t[]){expertNum, 2}))
        return expertTokensNumType == 1
                   ? mr_aclnn_tiling(&c, "expertTokensCountOrCumsumOut must be 1-D [end - start] = [%lld]", (long long)span)
                   : mr_aclnn_tiling(&c, "expertTokensCountOrCumsumOut must be [expertNum, 2] = [%lld, 2]",
                                     (long long)expertNum);
    if (!mr_aclnn_shape_is(expandedScaleOut, 1, &L))
        return mr_aclnn_tiling(&c, "expandedScaleOut must be 1-D [N*K] = [%lld]", (long long)L);
    mr_aclnn_unused(&c, A_OFFSET);
    if (!quant && !scale) mr_aclnn_unused(&c, A_OUT_SCALE); /* not written */
    mr_route_desc d = {.variant = MR_ROUTE_V3, .n = N, .k = K, .h = H, .experts = expertNum,
                       .count_kind = expertTokensNumType == 1 ? MR_COUNT_I64 : MR_COUNT_KV_I64,
                       .range_lo = (int32_t)lo, .range_hi = (int32_t)hi, .scatter_row_idx = rowIdxType == 1,
                       .x_int8 = x->dtype == ACL_INT8,
                       .xtype = x->dtype == ACL_INT8 ? MR_X_F16 : mr_aclnn_xtype(x->dtype),
                       .transform = quant ? MR_ROW_DYNAMIC : MR_ROW_COPY,
                       .smooth_rows = quant && scale ? hi - lo : 0, .scale_carry = !quant && scale};
    return mr_route_finish_aclnn(&c, &d);
}

aclnnStatus aclnnMoeInitRoutingV3(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_v3_op, workspace, workspaceSize, executor, stream);
}
