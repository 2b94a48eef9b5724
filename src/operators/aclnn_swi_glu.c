/* aclnnSwiGlu (docs/operators/swiglu.md, layer spec 6): argument table and the checks of spec 6.3 over the
 * shared adapter layer; the run is the SwiGlu plan. dim and the split size are tiling checks (561002, the
 * generated wrapper's status for them; spec 16 OQ 8). */
#include "aclnn/adapter.h"
#include "aclnnop/aclnn_swi_glu.h"
#include "operators/swiglu.h"
#include "threadpool/default_pool.h"

static const mr_arg_spec mr_swg_args[] = {
    {"x", 0, 0, 0, MR_SWG_X, MR_DT_FLOATS, -1},
    {"out", 1, 0, 0, MR_SWG_OUT, MR_DT_FLOATS, 0},
};
static const mr_aclnn_op mr_swg_op =
    MR_ACLNN_OP("aclnnSwiGlu", "aclnnSwiGluGetWorkspaceSize", mr_swg_args, MR_SWG_COUNT, mr_swiglu_run);

aclnnStatus aclnnSwiGluGetWorkspaceSize(const aclTensor *x, int64_t dim, const aclTensor *out, uint64_t *workspaceSize,
                                        aclOpExecutor **executor)
{
    const void *args[] = {x, out};
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, &mr_swg_op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    char sh[96];
    const int64_t rank = x->ndim;
    if (rank < 1) return mr_aclnn_tiling(&c, "x must have at least 1 dimension, got a scalar");
    if (dim < -rank || dim >= rank)
        return mr_aclnn_tiling(&c, "dim = %lld is outside [%lld, %lld] for x %s", (long long)dim, (long long)-rank,
                               (long long)(rank - 1), mr_aclnn_shape_str(x, sh, sizeof sh));
    const uint32_t d = (uint32_t)(dim < 0 ? dim + rank : dim);
    if (x->dims[d] % 2 != 0)
        return mr_aclnn_tiling(&c, "x %s has the odd size %lld along dim %u; it must split into two halves",
                               mr_aclnn_shape_str(x, sh, sizeof sh), (long long)x->dims[d], d);
    int64_t want[8];
    for (uint32_t i = 0; i < x->ndim; i++) want[i] = i == d ? x->dims[i] / 2 : x->dims[i];
    if (!mr_aclnn_shape_is(out, x->ndim, want))
        return mr_aclnn_tiling(&c, "out must be x's shape with dim %u halved, got %s", d,
                               mr_aclnn_shape_str(out, sh, sizeof sh));
    mr_swiglu_plan plan;
    const mr_xtype xt = x->dtype == ACL_FLOAT16 ? MR_X_F16 : x->dtype == ACL_BF16 ? MR_X_BF16 : MR_X_F32;
    moeroute_status ms = mr_swiglu_plan_init(&plan, x->ndim, x->dims, d, xt, MOEROUTE_ISA_AUTO,
                                             mr_pool_threads(mr_default_pool()), c.op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws.size);
}

aclnnStatus aclnnSwiGlu(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_swg_op, workspace, workspaceSize, executor, stream);
}
