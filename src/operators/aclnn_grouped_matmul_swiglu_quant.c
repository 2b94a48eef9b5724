/* aclnnGroupedMatmulSwigluQuant and aclnnGroupedMatmulSwigluQuantWeightNZ (docs/operators/grouped_matmul_swiglu_quant.md,
 * layer spec 9): argument tables and the checks of spec 9.4 over the shared adapter layer; the run is the plan of
 * operators/grouped_matmul_swiglu_quant.h. Hand-written wrappers on the device: every refusal is 161001 / 161002.
 * The two differ only in how the weight's layout is found (spec 8.2): the plain entry point takes an NZ-tagged
 * weight, the WeightNZ one reads any weight with a 5-D storage shape as NZ (mr_aclnn_as_storage). */
#include <string.h>

#include "aclnn/adapter.h"
#include "aclnnop/aclnn_grouped_matmul_swiglu_quant.h"
#include "aclnnop/aclnn_grouped_matmul_swiglu_quant_weight_nz.h"
#include "operators/grouped_matmul_swiglu_quant.h"
#include "threadpool/default_pool.h"

#define MR_GMMSQ_UNUSED MR_GMMSQ_COUNT /* bias, offset, outputOffset: refused when given */

static const mr_arg_spec mr_gmmsq_args[] = {
    {"x", 0, 0, 0, MR_GMMSQ_X, MR_DT(ACL_INT8), -1},
    {"weight", 0, 0, 0, MR_GMMSQ_W, MR_DT(ACL_INT8), -1},
    {"bias", 0, 1, 0, MR_GMMSQ_UNUSED, 0, -1},
    {"offset", 0, 1, 0, MR_GMMSQ_UNUSED, 0, -1},
    {"weightScale", 0, 0, 0, MR_GMMSQ_WSCALE, MR_DT_FLOATS, -1},
    {"xScale", 0, 0, 0, MR_GMMSQ_XSCALE, MR_DT(ACL_FLOAT), -1},
    {"groupList", 0, 0, 0, MR_GMMSQ_GROUPS, MR_DT(ACL_INT64), -1},
    {"output", 1, 0, 0, MR_GMMSQ_OUT, MR_DT(ACL_INT8), -1},
    {"outputScale", 1, 0, 0, MR_GMMSQ_OUT_SCALE, MR_DT(ACL_FLOAT), -1},
    {"outputOffset", 1, 1, 0, MR_GMMSQ_UNUSED, 0, -1},
};
enum { A_X, A_W, A_BIAS, A_OFFSET, A_WSCALE, A_XSCALE, A_GROUPS, A_OUT, A_OUT_SCALE, A_OUT_OFFSET };

/* "Empty output, groupList or outputScale: success, nothing written" (spec 9.4). */
static moeroute_status mr_gmmsq_run_or_skip(const void *plan, const mr_view *views, void *workspace,
                                            size_t workspace_size, mr_pool *pool, const char *api)
{
    const mr_gmmsq_plan *p = plan;
    if (!p->ws_size) return MOEROUTE_OK;
    return mr_gmmsq_run(plan, views, workspace, workspace_size, pool, api);
}

/* The weight may carry the FRACTAL_NZ tag (the plain entry point requires it). */
static const uint8_t mr_gmmsq_formats[sizeof mr_gmmsq_args / sizeof mr_gmmsq_args[0]] = {0, MR_FMT_NZ};
static const mr_aclnn_op mr_gmmsq_op =
    MR_ACLNN_OP_FMT("aclnnGroupedMatmulSwigluQuant", "aclnnGroupedMatmulSwigluQuantGetWorkspaceSize", mr_gmmsq_args,
                    MR_GMMSQ_COUNT, mr_gmmsq_run_or_skip, mr_gmmsq_formats);
static const mr_aclnn_op mr_gmmsq_nz_op =
    MR_ACLNN_OP_FMT("aclnnGroupedMatmulSwigluQuantWeightNZ", "aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize",
                    mr_gmmsq_args, MR_GMMSQ_COUNT, mr_gmmsq_run_or_skip, mr_gmmsq_formats);

/* Atlas A2/A3 limit (spec 9.2), lifted by MOEROUTE_DEVICE_LIMITS=0 (decision 20). */
#define MR_GMMSQ_MAX_N 10240
/* Semantic: K < 65536 keeps the int32 sums exact (and is the device rule). */
#define MR_GMMSQ_MAX_K 65535

static aclnnStatus mr_gmmsq_prepare(const mr_aclnn_op *op, int weight_nz, const void *const *args,
                                    uint64_t *workspaceSize, aclOpExecutor **executor)
{
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    const aclTensor *x = args[A_X], *w = args[A_W], *ws = args[A_WSCALE], *xs = args[A_XSCALE];
    const aclTensor *gl = args[A_GROUPS], *out = args[A_OUT], *os = args[A_OUT_SCALE];
    const size_t unused[] = {A_BIAS, A_OFFSET, A_OUT_OFFSET};
    for (size_t i = 0; i < sizeof unused / sizeof unused[0]; i++)
        if (args[unused[i]])
            return mr_aclnn_invalid(&c, "%s must be NULL (the A8W8 case takes no %s)", op->args[unused[i]].name,
                                    op->args[unused[i]].name);
    char sh[96], st5[96];
    /* the weight's layout (spec 8.2) */
    if (weight_nz) mr_aclnn_as_storage(&c, A_W);
    else if (w->format != ACL_FORMAT_FRACTAL_NZ)
        return mr_aclnn_invalid(&c, "the INT8 weight must have format FRACTAL_NZ (29), got %d (use "
                                    "aclnnGroupedMatmulSwigluQuantWeightNZ for an NZ buffer tagged otherwise)",
                                (int)w->format);
    /* ranks */
    const struct { const aclTensor *t; uint32_t rank; const char *name; } ranks[] = {
        {x, 2, "x"}, {ws, 2, "weightScale"}, {xs, 1, "xScale"}, {gl, 1, "groupList"}, {out, 2, "output"},
        {os, 1, "outputScale"}};
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++)
        if (ranks[i].t->ndim != ranks[i].rank)
            return mr_aclnn_invalid(&c, "%s must be %u-D, got %s", ranks[i].name, ranks[i].rank,
                                    mr_aclnn_shape_str(ranks[i].t, sh, sizeof sh));
    mr_gmmsq_desc d = {.m = x->dims[0], .k = x->dims[1], .w_nz = 1, .groups = gl->dims[0]};
    int64_t wk;
    if (w->ndim == 3) { /* the logical view [E, K, N] */
        d.e = w->dims[0], wk = w->dims[1], d.n = w->dims[2];
    } else if (w->ndim == 5 && w->dims[3] == 16 && w->dims[4] == 32) { /* the storage shape itself */
        d.e = w->dims[0], d.n = w->dims[1] * 32, wk = w->dims[2] * 16;
    } else {
        return mr_aclnn_invalid(&c, "weight must be 3-D [E, K, N] or the 5-D NZ shape [E, N/32, K/16, 16, 32], got "
                                    "%s", mr_aclnn_shape_str(w, sh, sizeof sh));
    }
    if (wk != d.k)
        return mr_aclnn_invalid(&c, "weight %s has K = %lld, x has K = %lld", mr_aclnn_shape_str(w, sh, sizeof sh),
                                (long long)wk, (long long)d.k);
    if (d.e < 1) return mr_aclnn_invalid(&c, "weight must hold at least one expert (E = %lld)", (long long)d.e);
    int64_t nz[5];
    mr_gmm_nz_dims(d.e, d.k, d.n, nz);
    if (w->storage_ndim != 5 || !mr_aclnn_storage_is(w, 5, nz))
        return mr_aclnn_invalid(&c, "the NZ weight needs the 5-D storage shape [%lld, %lld, %lld, 16, 32] (E, N/32, "
                                    "K/16, 16, 32), got storage %s", (long long)nz[0], (long long)nz[1],
                                (long long)nz[2], mr_aclnn_storage_str(w, st5, sizeof st5));
    if (d.n % 2)
        return mr_aclnn_invalid(&c, "N = %lld must be even (SwiGLU splits it in halves)", (long long)d.n);
    if (d.k > MR_GMMSQ_MAX_K)
        return mr_aclnn_invalid(&c, "K = %lld must be below 65536 (int8 sums exact in int32)", (long long)d.k);
    if (mr_aclnn_device_limits() && d.n > MR_GMMSQ_MAX_N)
        return mr_aclnn_invalid(&c, "N = %lld is above %d (Atlas A2/A3 limit; MOEROUTE_DEVICE_LIMITS=0 lifts it)",
                                (long long)d.n, MR_GMMSQ_MAX_N);
    const int64_t en[2] = {d.e, d.n}, mh[2] = {d.m, d.n / 2};
    if (!mr_aclnn_shape_is(ws, 2, en))
        return mr_aclnn_invalid(&c, "weightScale must be [E, N] = [%lld, %lld], got %s", (long long)d.e,
                                (long long)d.n, mr_aclnn_shape_str(ws, sh, sizeof sh));
    if (!mr_aclnn_shape_is(xs, 1, &d.m))
        return mr_aclnn_invalid(&c, "xScale must be [M] = [%lld], got %s", (long long)d.m,
                                mr_aclnn_shape_str(xs, sh, sizeof sh));
    if (d.groups > d.e)
        return mr_aclnn_invalid(&c, "groupList has %lld entries, more than the E = %lld experts", (long long)d.groups,
                                (long long)d.e);
    if (!mr_aclnn_shape_is(out, 2, mh))
        return mr_aclnn_invalid(&c, "output must be [M, N/2] = [%lld, %lld], got %s", (long long)d.m,
                                (long long)(d.n / 2), mr_aclnn_shape_str(out, sh, sizeof sh));
    if (!mr_aclnn_shape_is(os, 1, &d.m))
        return mr_aclnn_invalid(&c, "outputScale must be [M] = [%lld], got %s", (long long)d.m,
                                mr_aclnn_shape_str(os, sh, sizeof sh));
    mr_gmmsq_plan plan;
    memset(&plan, 0, sizeof plan);
    if (d.m == 0 || d.n == 0 || d.groups == 0) /* nothing is written: workspace 0 (spec 9.4) */
        return mr_aclnn_finish(&c, &plan, sizeof plan, 0);
    d.wscale_type = ws->dtype == ACL_FLOAT16 ? MR_X_F16 : ws->dtype == ACL_BF16 ? MR_X_BF16 : MR_X_F32;
    moeroute_status ms = mr_gmmsq_plan_init(&plan, &d, MOEROUTE_ISA_AUTO, mr_pool_threads(mr_default_pool()),
                                            op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws_size);
}

aclnnStatus aclnnGroupedMatmulSwigluQuantGetWorkspaceSize(const aclTensor *x, const aclTensor *weight,
                                                          const aclTensor *bias, const aclTensor *offset,
                                                          const aclTensor *weightScale, const aclTensor *xScale,
                                                          const aclTensor *groupList, aclTensor *output,
                                                          aclTensor *outputScale, aclTensor *outputOffset,
                                                          uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x, weight, bias, offset, weightScale, xScale, groupList, output, outputScale, outputOffset};
    return mr_gmmsq_prepare(&mr_gmmsq_op, 0, args, workspaceSize, executor);
}

aclnnStatus aclnnGroupedMatmulSwigluQuant(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                          aclrtStream stream)
{
    return mr_aclnn_execute(&mr_gmmsq_op, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize(const aclTensor *x, const aclTensor *weight,
                                                                  const aclTensor *bias, const aclTensor *offset,
                                                                  const aclTensor *weightScale,
                                                                  const aclTensor *xScale, const aclTensor *groupList,
                                                                  aclTensor *output, aclTensor *outputScale,
                                                                  aclTensor *outputOffset, uint64_t *workspaceSize,
                                                                  aclOpExecutor **executor)
{
    const void *args[] = {x, weight, bias, offset, weightScale, xScale, groupList, output, outputScale, outputOffset};
    return mr_gmmsq_prepare(&mr_gmmsq_nz_op, 1, args, workspaceSize, executor);
}

aclnnStatus aclnnGroupedMatmulSwigluQuantWeightNZ(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                                  aclrtStream stream)
{
    return mr_aclnn_execute(&mr_gmmsq_nz_op, workspace, workspaceSize, executor, stream);
}
