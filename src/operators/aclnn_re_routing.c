/* aclnnMoeReRouting (docs/operators/re_routing.md, layer spec 4): argument table and the checks of spec 4.3 over
 * the shared adapter layer; the run is the re-routing plan over the row step. The data checks (counts >= 0,
 * sum == A) run at execute (decision 13). */
#include "aclnn/adapter.h"
#include "aclnnop/aclnn_moe_re_routing.h"
#include "operators/re_routing.h"
#include "threadpool/default_pool.h"

enum { A_TOKENS, A_COUNTS, A_SCALES, A_OUT_TOKENS, A_OUT_SCALES, A_OUT_IDX, A_OUT_COUNT };

static const mr_arg_spec mr_rr_args[] = {
    {"tokens", 0, 0, 0, MR_RR_TOKENS, MR_DT(ACL_FLOAT16) | MR_DT(ACL_BF16) | MR_DT(ACL_INT8), -1},
    {"expertTokenNumPerRank", 0, 0, 0, MR_RR_COUNTS, MR_DT(ACL_INT32) | MR_DT(ACL_INT64), -1},
    {"perTokenScalesOptional", 0, 1, 0, MR_RR_SCALES, MR_DT(ACL_FLOAT), -1},
    {"permuteTokensOut", 1, 0, 0, MR_RR_OUT_TOKENS, 0, A_TOKENS},
    {"permutePerTokenScalesOut", 1, 0, 0, MR_RR_OUT_SCALES, MR_DT(ACL_FLOAT), -1},
    {"permuteTokenIdxOut", 1, 0, 0, MR_RR_OUT_IDX, MR_DT(ACL_INT32), -1},
    {"expertTokenNumOut", 1, 0, 0, MR_RR_OUT_COUNT, 0, A_COUNTS},
};
static const mr_aclnn_op mr_rr_op = MR_ACLNN_OP("aclnnMoeReRouting", "aclnnMoeReRoutingGetWorkspaceSize", mr_rr_args,
                                                MR_RR_COUNT, mr_re_routing_run);

/* torch_npu documents 0 < H < 16384 (layer spec 4.1); lifted by MOEROUTE_DEVICE_LIMITS=0 (decision 20). */
#define MR_RR_MAX_H 16384

aclnnStatus aclnnMoeReRoutingGetWorkspaceSize(const aclTensor *tokens, const aclTensor *expertTokenNumPerRank,
                                              const aclTensor *perTokenScalesOptional, int64_t expertTokenNumType,
                                              int64_t idxType, const aclTensor *permuteTokensOut,
                                              const aclTensor *permutePerTokenScalesOut,
                                              const aclTensor *permuteTokenIdxOut, const aclTensor *expertTokenNumOut,
                                              uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {tokens, expertTokenNumPerRank, perTokenScalesOptional, permuteTokensOut,
                          permutePerTokenScalesOut, permuteTokenIdxOut, expertTokenNumOut};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_rr_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    /* attributes and shapes (spec 4.3, 561002) */
    char sh[96];
    if (expertTokenNumType != 1)
        return mr_aclnn_tiling(&c, "expertTokenNumType must be 1 (counts), got %lld", (long long)expertTokenNumType);
    if (idxType != 0)
        return mr_aclnn_tiling(&c, "idxType must be 0 (gather index), got %lld", (long long)idxType);
    if (tokens->ndim != 2)
        return mr_aclnn_tiling(&c, "tokens must be 2-D [A, H], got %s", mr_aclnn_shape_str(tokens, sh, sizeof sh));
    if (expertTokenNumPerRank->ndim != 2)
        return mr_aclnn_tiling(&c, "expertTokenNumPerRank must be 2-D [R, E], got %s",
                               mr_aclnn_shape_str(expertTokenNumPerRank, sh, sizeof sh));
    const int64_t A = tokens->dims[0], H = tokens->dims[1];
    const int64_t R = expertTokenNumPerRank->dims[0], E = expertTokenNumPerRank->dims[1];
    if (H <= 0 || R <= 0 || E <= 0)
        return mr_aclnn_tiling(&c, "H (%lld), R (%lld) and E (%lld) must be > 0", (long long)H, (long long)R,
                               (long long)E);
    if (mr_aclnn_device_limits() && H >= MR_RR_MAX_H)
        return mr_aclnn_tiling(&c, "H = %lld must be below %d, torch_npu's documented limit (MOEROUTE_DEVICE_LIMITS=0 "
                                   "lifts it)", (long long)H, MR_RR_MAX_H);
    if (perTokenScalesOptional && !mr_aclnn_shape_is(perTokenScalesOptional, 1, &A))
        return mr_aclnn_tiling(&c, "perTokenScalesOptional must be 1-D [A] = [%lld], got %s", (long long)A,
                               mr_aclnn_shape_str(perTokenScalesOptional, sh, sizeof sh));
    if (!mr_aclnn_shape_is(permuteTokensOut, 2, (const int64_t[]){A, H}))
        return mr_aclnn_tiling(&c, "permuteTokensOut must be [A, H] = [%lld, %lld], got %s", (long long)A, (long long)H,
                               mr_aclnn_shape_str(permuteTokensOut, sh, sizeof sh));
    if (!mr_aclnn_shape_is(permutePerTokenScalesOut, 1, &A))
        return mr_aclnn_tiling(&c, "permutePerTokenScalesOut must be 1-D [A] = [%lld], got %s", (long long)A,
                               mr_aclnn_shape_str(permutePerTokenScalesOut, sh, sizeof sh));
    if (!mr_aclnn_shape_is(permuteTokenIdxOut, 1, &A))
        return mr_aclnn_tiling(&c, "permuteTokenIdxOut must be 1-D [A] = [%lld], got %s", (long long)A,
                               mr_aclnn_shape_str(permuteTokenIdxOut, sh, sizeof sh));
    if (!mr_aclnn_shape_is(expertTokenNumOut, 1, &E))
        return mr_aclnn_tiling(&c, "expertTokenNumOut must be 1-D [E] = [%lld], got %s", (long long)E,
                               mr_aclnn_shape_str(expertTokenNumOut, sh, sizeof sh));
    mr_re_routing_plan plan;
    moeroute_status ms = mr_re_routing_plan_init(&plan, A, H, R, E, tokens->dtype == ACL_INT8 ? 1 : 2,
                                                 expertTokenNumPerRank->dtype == ACL_INT64,
                                                 perTokenScalesOptional != NULL, MOEROUTE_ISA_AUTO,
                                                 mr_pool_threads(mr_default_pool()), c.op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws_size);
}

aclnnStatus aclnnMoeReRouting(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_rr_op, workspace, workspaceSize, executor, stream);
}
