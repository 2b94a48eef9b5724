/* aclnnGroupedMatmul (V1), V2, V3 and V4 (docs/operators/grouped_matmul.md, layer spec 7): argument tables and
 * the checks of spec 7.4 for the MoE subset of 7.2 over the shared adapter layer; the run is the grouped-matmul
 * plan. Every entry point is a hand-written wrapper on the device, so every refusal is 161001 / 161002.
 * The weight, bias and scale lists take appended view slots (MR_ACLNN_SLOT_APPEND): one [E, K, N] weight with
 * [E, N] bias / scale (V3/V4), or E per-expert [K, N] weights with E [N] biases / scales (V1/V2, and V3/V4
 * accept them too). V1/V2 carry their host aclIntArray group list in the plan and check it here. */
#include <stdlib.h>
#include <string.h>

#include "aclnn/adapter.h"
#include "aclnnop/aclnn_grouped_matmul.h"
#include "aclnnop/aclnn_grouped_matmul_v2.h"
#include "aclnnop/aclnn_grouped_matmul_v3.h"
#include "aclnnop/aclnn_grouped_matmul_v4.h"
#include "common/alloc.h"
#include "operators/grouped_matmul.h"
#include "threadpool/default_pool.h"

#define MR_GMM_UNUSED_SLOT MR_GMM_COUNT /* arguments outside the subset: refused before any view is kept */
#define MR_GMM_DT_X (MR_DT_FLOATS | MR_DT(ACL_INT8))
#define MR_GMM_APPEND MR_ACLNN_SLOT_APPEND

/* The first seven parameters, the same in every version. */
#define MR_GMM_LEADING_ARGS                                                                                  \
    {"x", 0, 0, 1, MR_GMM_X, MR_GMM_DT_X, -1},                                                               \
    {"weight", 0, 0, 1, MR_GMM_APPEND, MR_GMM_DT_X, -1},                                                     \
    {"biasOptional", 0, 1, 1, MR_GMM_APPEND, MR_DT(ACL_FLOAT16) | MR_DT(ACL_FLOAT) | MR_DT(ACL_INT32), -1},  \
    {"scaleOptional", 0, 1, 1, MR_GMM_APPEND, MR_DT(ACL_BF16) | MR_DT(ACL_FLOAT), -1},                       \
    {"offsetOptional", 0, 1, 1, MR_GMM_UNUSED_SLOT, 0, -1},                                                  \
    {"antiquantScaleOptional", 0, 1, 1, MR_GMM_UNUSED_SLOT, 0, -1},                                          \
    {"antiquantOffsetOptional", 0, 1, 1, MR_GMM_UNUSED_SLOT, 0, -1}

static const mr_arg_spec mr_gmm4_args[] = {
    MR_GMM_LEADING_ARGS,
    {"perTokenScaleOptional", 0, 1, 1, MR_GMM_PTS, MR_DT(ACL_FLOAT), -1},
    {"groupListOptional", 0, 1, 0, MR_GMM_GROUPS, MR_DT(ACL_INT64), -1},
    {"activationInputOptional", 0, 1, 1, MR_GMM_UNUSED_SLOT, 0, -1},
    {"activationQuantScaleOptional", 0, 1, 1, MR_GMM_UNUSED_SLOT, 0, -1},
    {"activationQuantOffsetOptional", 0, 1, 1, MR_GMM_UNUSED_SLOT, 0, -1},
    {"out", 1, 0, 1, MR_GMM_OUT, MR_DT_FLOATS | MR_DT(ACL_INT32), -1},
    {"activationFeatureOutOptional", 1, 1, 1, MR_GMM_UNUSED_SLOT, 0, -1},
    {"dynQuantScaleOutOptional", 1, 1, 1, MR_GMM_UNUSED_SLOT, 0, -1},
};
/* The weight (position 1 in every table) may be an int8 FRACTAL_NZ tensor (spec 8.2). */
static const uint8_t mr_gmm4_formats[sizeof mr_gmm4_args / sizeof mr_gmm4_args[0]] = {0, MR_FMT_NZ};
static const mr_aclnn_op mr_gmm4_op = MR_ACLNN_OP_FMT("aclnnGroupedMatmulV4", "aclnnGroupedMatmulV4GetWorkspaceSize",
                                                      mr_gmm4_args, MR_GMM_COUNT, mr_gmm_run, mr_gmm4_formats);

static const mr_arg_spec mr_gmm3_args[] = {
    MR_GMM_LEADING_ARGS,
    {"groupListOptional", 0, 1, 0, MR_GMM_GROUPS, MR_DT(ACL_INT64), -1},
    {"y", 1, 0, 1, MR_GMM_OUT, MR_DT_FLOATS | MR_DT(ACL_INT32), -1},
};
static const uint8_t mr_gmm3_formats[sizeof mr_gmm3_args / sizeof mr_gmm3_args[0]] = {0, MR_FMT_NZ};
static const mr_aclnn_op mr_gmm3_op = MR_ACLNN_OP_FMT("aclnnGroupedMatmulV3", "aclnnGroupedMatmulV3GetWorkspaceSize",
                                                      mr_gmm3_args, MR_GMM_COUNT, mr_gmm_run, mr_gmm3_formats);

/* V1 and V2: the group list is a host aclIntArray, outside the tensor table (the plan carries it). */
static const mr_arg_spec mr_gmm1_args[] = {
    MR_GMM_LEADING_ARGS,
    {"y", 1, 0, 1, MR_GMM_OUT, MR_DT_FLOATS | MR_DT(ACL_INT32), -1},
};
static const uint8_t mr_gmm1_formats[sizeof mr_gmm1_args / sizeof mr_gmm1_args[0]] = {0, MR_FMT_NZ};
static const mr_aclnn_op mr_gmm1_op = MR_ACLNN_OP_FMT("aclnnGroupedMatmul", "aclnnGroupedMatmulGetWorkspaceSize",
                                                      mr_gmm1_args, MR_GMM_COUNT, mr_gmm_run, mr_gmm1_formats);
static const mr_aclnn_op mr_gmm2_op = MR_ACLNN_OP_FMT("aclnnGroupedMatmulV2", "aclnnGroupedMatmulV2GetWorkspaceSize",
                                                      mr_gmm1_args, MR_GMM_COUNT, mr_gmm_run, mr_gmm1_formats);

/* Where each role sits in a version's table; -1: the version has no such argument. host: the group list is
 * the host aclIntArray (V1/V2), the weights a list of E 2-D tensors. */
typedef struct mr_gmm_roles {
    int x, w, bias, scale, pts, groups, out, host;
} mr_gmm_roles;
static const mr_gmm_roles mr_gmm4_roles = {0, 1, 2, 3, 7, 8, 12, 0};
static const mr_gmm_roles mr_gmm3_roles = {0, 1, 2, 3, -1, 7, 8, 0};
static const mr_gmm_roles mr_gmm1_roles = {0, 1, 2, 3, -1, -1, 7, 1};

/* Atlas A2/A3 limits (layer spec 7.2, 7.4), lifted by MOEROUTE_DEVICE_LIMITS=0 (decision 20). */
#define MR_GMM_MAX_INNER 65535
#define MR_GMM_MAX_GROUPS 1024
/* Semantic: int32 sums of int8 products stay exact (|sum| <= 65535 * 16384 < 2^31). */
#define MR_GMM_MAX_K_I8 65535

/* The single tensor of a list argument at table position i; NULL when absent or empty. */
static const aclTensor *mr_gmm_one(const mr_aclnn_call *c, int i)
{
    const aclTensorList *l = i >= 0 ? c->args[i] : NULL;
    return l && l->size ? l->tensors[0] : NULL;
}

static const char *mr_dt_str(aclDataType t)
{
    switch (t) {
    case ACL_FLOAT16: return "FLOAT16";
    case ACL_BF16: return "BFLOAT16";
    case ACL_FLOAT: return "FLOAT";
    case ACL_INT8: return "INT8";
    case ACL_INT32: return "INT32";
    default: return "another dtype";
    }
}

static mr_gmm_etype mr_gmm_etype_of(const aclTensor *t)
{
    if (!t) return MR_GMM_E_NONE;
    switch (t->dtype) {
    case ACL_FLOAT16: return MR_GMM_E_F16;
    case ACL_BF16: return MR_GMM_E_BF16;
    case ACL_INT32: return MR_GMM_E_I32;
    default: return MR_GMM_E_F32;
    }
}

/* The dtype rows of spec 7.2: fills the types of d. */
static aclnnStatus mr_gmm_check_dtypes(const mr_aclnn_call *c, const aclTensor *x, const aclTensor *w,
                                       const aclTensor *bias, const aclTensor *scale, const aclTensor *pts,
                                       const aclTensor *out, mr_gmm_desc *d)
{
    const aclDataType xt = x->dtype;
    if (w->dtype != xt)
        return mr_aclnn_invalid(c, "weight must have the dtype of x (%s), got %s", mr_dt_str(xt), mr_dt_str(w->dtype));
    if (xt != ACL_INT8) {
        const aclDataType bt = xt == ACL_FLOAT16 ? ACL_FLOAT16 : ACL_FLOAT;
        if (scale || pts)
            return mr_aclnn_invalid(c, "scaleOptional and perTokenScaleOptional belong to the int8 rows; x is %s",
                                    mr_dt_str(xt));
        if (bias && bias->dtype != bt)
            return mr_aclnn_invalid(c, "with %s x the bias must be %s, got %s", mr_dt_str(xt), mr_dt_str(bt),
                                    mr_dt_str(bias->dtype));
        if (out->dtype != xt)
            return mr_aclnn_invalid(c, "with %s x out must be %s, got %s", mr_dt_str(xt), mr_dt_str(xt),
                                    mr_dt_str(out->dtype));
        d->xtype = xt == ACL_FLOAT16 ? MR_GEMM_SRC_F16 : xt == ACL_BF16 ? MR_GEMM_SRC_BF16 : MR_GEMM_SRC_F32;
        d->out = xt == ACL_FLOAT16 ? MR_GMM_OUT_F16 : xt == ACL_BF16 ? MR_GMM_OUT_BF16 : MR_GMM_OUT_F32;
        d->bias = mr_gmm_etype_of(bias);
        return ACLNN_SUCCESS;
    }
    if (bias && bias->dtype != ACL_INT32)
        return mr_aclnn_invalid(c, "with INT8 x the bias must be INT32, got %s", mr_dt_str(bias->dtype));
    const aclDataType ot = !scale ? ACL_INT32 : scale->dtype == ACL_BF16 ? ACL_BF16 : ACL_FLOAT16;
    if (!scale && pts)
        return mr_aclnn_invalid(c, "perTokenScaleOptional needs scaleOptional (the INT32 row takes no scales)");
    if (out->dtype != ot)
        return mr_aclnn_invalid(c, "with INT8 x and %s%s out must be %s, got %s", scale ? mr_dt_str(scale->dtype) : "no",
                                " scale", mr_dt_str(ot), mr_dt_str(out->dtype));
    d->xtype = MR_GEMM_SRC_I8;
    d->out = !scale ? MR_GMM_OUT_I32 : ot == ACL_BF16 ? MR_GMM_OUT_BF16 : MR_GMM_OUT_F16;
    d->bias = mr_gmm_etype_of(bias);
    d->scale = mr_gmm_etype_of(scale);
    d->per_token = pts != NULL;
    return ACLNN_SUCCESS;
}

/* The tensors of weight, bias and scale lists (spec 7.4 "bias length != weight length"): nw of them (one
 * [E, ...] tensor, or one per expert), each of x's / the first one's dtype and format, of the shape dims. */
static aclnnStatus mr_gmm_check_list(const mr_aclnn_call *c, int pos, uint64_t nw, uint32_t rank, const int64_t *dims,
                                     const char *what)
{
    const aclTensorList *l = c->args[pos];
    const char *name = c->op->args[pos].name;
    char sh[96];
    if (!l || l->size == 0) return ACLNN_SUCCESS;
    if (l->size != nw)
        return mr_aclnn_invalid(c, "%s must hold %llu tensor%s (as many as the weight list), got %llu", name,
                                (unsigned long long)nw, nw == 1 ? "" : "s", (unsigned long long)l->size);
    for (uint64_t i = 0; i < l->size; i++) {
        const aclTensor *t = l->tensors[i], *t0 = l->tensors[0];
        if (t->dtype != t0->dtype)
            return mr_aclnn_invalid(c, "%s[%llu] is %s but %s[0] is %s: the list must have one dtype", name,
                                    (unsigned long long)i, mr_dt_str(t->dtype), name, mr_dt_str(t0->dtype));
        if (t->format != t0->format)
            return mr_aclnn_invalid(c, "%s[%llu] has format %d but %s[0] has %d: the list must have one format", name,
                                    (unsigned long long)i, (int)t->format, name, (int)t0->format);
        if (!mr_aclnn_shape_is(t, rank, dims))
            return mr_aclnn_invalid(c, "%s[%llu] must be %s, got %s", name, (unsigned long long)i, what,
                                    mr_aclnn_shape_str(t, sh, sizeof sh));
    }
    return ACLNN_SUCCESS;
}

/* V1/V2's host group list (spec 7.1): E inclusive cumsum entries, non-decreasing from 0, the last equal to M. */
static aclnnStatus mr_gmm_check_host_list(const mr_aclnn_call *c, const aclIntArray *gl, const mr_gmm_desc *d)
{
    if (gl->size != (uint64_t)d->e)
        return mr_aclnn_invalid(c, "groupListOptional must hold E = %lld entries (one per weight), got %llu",
                                (long long)d->e, (unsigned long long)gl->size);
    int64_t at = 0;
    for (uint64_t g = 0; g < gl->size; g++) {
        if (gl->values[g] < at)
            return mr_aclnn_invalid(c, "groupListOptional[%llu] = %lld is below %s %lld (the cumsum must not "
                                       "decrease)", (unsigned long long)g, (long long)gl->values[g],
                                    g ? "the previous entry" : "zero:", (long long)at);
        at = gl->values[g];
    }
    if (at != d->m)
        return mr_aclnn_invalid(c, "the last groupListOptional entry is %lld; it must equal M = %lld (the rows of x)",
                                (long long)at, (long long)d->m);
    return ACLNN_SUCCESS;
}

static aclnnStatus mr_gmm_prepare(const mr_aclnn_op *op, const mr_gmm_roles *r, const void *const *args,
                                  const aclIntArray *host_list, int64_t splitItem, int64_t groupType,
                                  int64_t groupListType, int64_t actType, uint64_t *workspaceSize,
                                  aclOpExecutor **executor)
{
    mr_aclnn_call c;
    aclnnStatus st = mr_aclnn_begin(&c, op, args, workspaceSize, executor);
    if (st != ACLNN_SUCCESS) return st;
    /* arguments outside the MoE subset */
    for (size_t i = 0; i < op->nargs; i++) {
        const aclTensorList *l = c.args[i];
        if (op->args[i].slot == MR_GMM_UNUSED_SLOT && l && l->size)
            return mr_aclnn_invalid(&c, "%s is not supported (moeroute implements the MoE subset: it must be NULL "
                                        "or empty)", op->args[i].name);
    }
    if (splitItem != 2 && splitItem != 3)
        return mr_aclnn_invalid(&c, "splitItem must be 2 or 3 (one output tensor; moeroute implements the MoE "
                                    "subset), got %lld", (long long)splitItem);
    if (groupType != 0)
        return mr_aclnn_invalid(&c, "groupType must be 0 (split along M) with splitItem %lld, got %lld%s",
                                (long long)splitItem, (long long)groupType,
                                groupType == 1 ? " (the N split is outside the MoE subset)" : "");
    if (groupListType < 0 || groupListType > 2)
        return mr_aclnn_invalid(&c, "groupListType must be 0 (cumsum), 1 (counts) or 2 (key-value), got %lld",
                                (long long)groupListType);
    if (actType != GMM_ACT_TYPE_NONE)
        return mr_aclnn_invalid(&c, "actType must be 0 (no activation; moeroute implements the MoE subset), got %lld",
                                (long long)actType);
    /* list lengths of x, out (exactly one) and perTokenScale (at most one); the weight list is not empty */
    const int singles[] = {r->x, r->out, r->pts};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
        if (singles[i] < 0) continue;
        const aclTensorList *l = c.args[singles[i]];
        if (l && (l->size > 1 || (l->size == 0 && i < 2)))
            return mr_aclnn_invalid(&c, "%s must hold exactly one tensor%s, got %llu", op->args[singles[i]].name,
                                    i < 2 ? "" : " when given", (unsigned long long)l->size);
    }
    const aclTensorList *wl = c.args[r->w];
    if (wl->size == 0) return mr_aclnn_invalid(&c, "the weight list is empty");
    const aclTensor *x = mr_gmm_one(&c, r->x), *w = wl->tensors[0], *out = mr_gmm_one(&c, r->out);
    const aclTensor *bias = mr_gmm_one(&c, r->bias), *scale = mr_gmm_one(&c, r->scale), *pts = mr_gmm_one(&c, r->pts);
    const aclTensor *gl = r->groups >= 0 ? mr_aclnn_tensor(&c, (size_t)r->groups) : NULL;
    mr_gmm_desc d = {0};
    if ((st = mr_gmm_check_dtypes(&c, x, w, bias, scale, pts, out, &d)) != ACLNN_SUCCESS) return st;
    /* shapes */
    char sh[96];
    if (x->ndim != 2) return mr_aclnn_invalid(&c, "x must be 2-D [M, K], got %s", mr_aclnn_shape_str(x, sh, sizeof sh));
    d.m = x->dims[0];
    d.k = x->dims[1];
    d.appended = 1;
    d.per_expert = r->host || wl->size > 1 || w->ndim == 2;
    if (r->host && w->ndim != 2)
        return mr_aclnn_invalid(&c, "weight must be a list of E 2-D [K, N] tensors (one per expert; %s takes no "
                                    "single [E, K, N] weight), got weight[0] %s", op->exec.op_name,
                                mr_aclnn_shape_str(w, sh, sizeof sh));
    if (w->ndim != (d.per_expert ? 2u : 3u))
        return mr_aclnn_invalid(&c, "weight must be 3-D [E, K, N] (a single weight for all experts) or a list of E "
                                    "2-D [K, N] tensors, got %s%s", d.per_expert ? "weight[0] " : "",
                                mr_aclnn_shape_str(w, sh, sizeof sh));
    d.e = d.per_expert ? (int64_t)wl->size : w->dims[0];
    d.n = w->dims[w->ndim - 1];
    const uint64_t nw = d.per_expert ? (uint64_t)d.e : 1u;
    const int64_t kn[2] = {d.k, d.n}, ekn[3] = {d.e, d.k, d.n};
    if (w->dims[w->ndim - 2] != d.k)
        return mr_aclnn_invalid(&c, "weight%s is %s: its K must equal x's K = %lld", d.per_expert ? "[0]" : "",
                                mr_aclnn_shape_str(w, sh, sizeof sh), (long long)d.k);
    if ((st = mr_gmm_check_list(&c, r->w, nw, d.per_expert ? 2u : 3u, d.per_expert ? kn : ekn,
                                d.per_expert ? "2-D [K, N] like weight[0]" : "[E, K, N]")) != ACLNN_SUCCESS)
        return st;
    if (d.e < 1) return mr_aclnn_invalid(&c, "weight must hold at least one expert (E = %lld)", (long long)d.e);
    if (w->format == ACL_FORMAT_FRACTAL_NZ) { /* spec 8.2: view [(E,) K, N], storage [(E,) N/32, K/16, 16, 32] */
        int64_t nz[5];
        char sb[96];
        mr_gmm_nz_dims(d.e, d.k, d.n, nz);
        if (d.xtype != MR_GEMM_SRC_I8)
            return mr_aclnn_invalid(&c, "a FRACTAL_NZ weight must be INT8 (moeroute reads the int8 NZ layout only)");
        const uint32_t rank = d.per_expert ? 4u : 5u;
        const int64_t *want = d.per_expert ? nz + 1 : nz;
        for (uint64_t i = 0; i < wl->size; i++)
            if (!mr_aclnn_storage_is(wl->tensors[i], rank, want))
                return mr_aclnn_invalid(&c, "the FRACTAL_NZ weight of view %s needs storage dims [%s%lld, %lld, 16, "
                                            "32], got %s", mr_aclnn_shape_str(wl->tensors[i], sh, sizeof sh),
                                        d.per_expert ? "" : "E, ", (long long)nz[1], (long long)nz[2],
                                        mr_aclnn_storage_str(wl->tensors[i], sb, sizeof sb));
        d.w_nz = 1;
    }
    if (!mr_aclnn_shape_is(out, 2, (const int64_t[]){d.m, d.n}))
        return mr_aclnn_invalid(&c, "%s must be [M, N] = [%lld, %lld], got %s", op->args[r->out].name, (long long)d.m,
                                (long long)d.n, mr_aclnn_shape_str(out, sh, sizeof sh));
    const int64_t en[2] = {d.e, d.n};
    const int64_t *bdims = d.per_expert ? &d.n : en;
    const uint32_t brank = d.per_expert ? 1u : 2u;
    const char *bwhat = d.per_expert ? "1-D [N] (one per weight)" : "[E, N]";
    if ((st = mr_gmm_check_list(&c, r->bias, nw, brank, bdims, bwhat)) != ACLNN_SUCCESS ||
        (st = mr_gmm_check_list(&c, r->scale, nw, brank, bdims, bwhat)) != ACLNN_SUCCESS)
        return st;
    if (pts && !mr_aclnn_shape_is(pts, 1, &d.m))
        return mr_aclnn_invalid(&c, "perTokenScaleOptional must be 1-D [M] = [%lld], got %s", (long long)d.m,
                                mr_aclnn_shape_str(pts, sh, sizeof sh));
    d.list_type = (int)groupListType;
    const int has_list = r->host ? host_list != NULL : gl != NULL;
    if (!has_list) {
        if (d.e != 1 && r->host) {
            mr_error_push("%s: groupListOptional is NULL; it is required with E = %lld weights", op->prepare_name,
                          (long long)d.e);
            return ACLNN_ERR_PARAM_NULLPTR;
        }
        if (d.e != 1)
            return mr_aclnn_invalid(&c, "groupListOptional is required with E = %lld experts", (long long)d.e);
        d.list_type = MR_GMM_LIST_NONE;
    } else if (r->host) {
        if ((st = mr_gmm_check_host_list(&c, host_list, &d)) != ACLNN_SUCCESS) return st;
        d.groups = d.e;
        d.host_list = 1;
    } else {
        const int kv = groupListType == MR_GMM_LIST_KEY_VALUE;
        if (!(kv ? mr_aclnn_shape_is(gl, 2, (const int64_t[]){d.e, 2}) : mr_aclnn_shape_is(gl, 1, &d.e)))
            return mr_aclnn_invalid(&c, "groupListOptional must be %s = [%lld%s] for groupListType %lld, got %s",
                                    kv ? "[E, 2]" : "[E]", (long long)d.e, kv ? ", 2" : "", (long long)groupListType,
                                    mr_aclnn_shape_str(gl, sh, sizeof sh));
        d.groups = d.e;
    }
    if (d.xtype == MR_GEMM_SRC_I8 && d.k > MR_GMM_MAX_K_I8)
        return mr_aclnn_invalid(&c, "K = %lld: int8 sums are exact in int32 only up to K = %d", (long long)d.k,
                                MR_GMM_MAX_K_I8);
    if (mr_aclnn_device_limits()) {
        const char *lift = "(Atlas A2/A3 limit; MOEROUTE_DEVICE_LIMITS=0 lifts it)";
        if (d.k > MR_GMM_MAX_INNER || d.n > MR_GMM_MAX_INNER)
            return mr_aclnn_invalid(&c, "the inner dimensions K = %lld and N = %lld must be at most %d %s",
                                    (long long)d.k, (long long)d.n, MR_GMM_MAX_INNER, lift);
        if (has_list && d.e > MR_GMM_MAX_GROUPS)
            return mr_aclnn_invalid(&c, "the group list has %lld entries, more than %d %s", (long long)d.e,
                                    MR_GMM_MAX_GROUPS, lift);
        if (gl && groupListType == MR_GMM_LIST_KEY_VALUE && d.xtype != MR_GEMM_SRC_I8)
            return mr_aclnn_invalid(&c, "groupListType 2 (key-value) takes INT8 x and weight only %s", lift);
    }
    mr_gmm_plan plan;
    moeroute_status ms = mr_gmm_plan_init(&plan, &d, MOEROUTE_ISA_AUTO, mr_pool_threads(mr_default_pool()),
                                          op->prepare_name);
    if (ms != MOEROUTE_OK) return mr_status_to_aclnn(ms);
    if (!d.host_list) return mr_aclnn_finish(&c, &plan, sizeof plan, plan.ws_size);
    /* the executor keeps its own copy of the host group list, after the plan */
    const size_t bytes = mr_gmm_plan_bytes(&plan);
    char *held = mr_malloc(bytes);
    if (!held) {
        mr_error_push("%s: out of memory", op->prepare_name);
        return ACLNN_ERR_INNER;
    }
    memcpy(held, &plan, sizeof plan);
    memcpy(held + sizeof plan, host_list->values, (size_t)d.groups * sizeof(int64_t));
    st = mr_aclnn_finish(&c, held, bytes, plan.ws_size);
    mr_free(held);
    return st;
}

aclnnStatus aclnnGroupedMatmulV4GetWorkspaceSize(
    const aclTensorList *x, const aclTensorList *weight, const aclTensorList *biasOptional,
    const aclTensorList *scaleOptional, const aclTensorList *offsetOptional,
    const aclTensorList *antiquantScaleOptional, const aclTensorList *antiquantOffsetOptional,
    const aclTensorList *perTokenScaleOptional, const aclTensor *groupListOptional,
    const aclTensorList *activationInputOptional, const aclTensorList *activationQuantScaleOptional,
    const aclTensorList *activationQuantOffsetOptional, int64_t splitItem, int64_t groupType, int64_t groupListType,
    int64_t actType, aclTensorList *out, aclTensorList *activationFeatureOutOptional,
    aclTensorList *dynQuantScaleOutOptional, uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x, weight, biasOptional, scaleOptional, offsetOptional, antiquantScaleOptional,
                          antiquantOffsetOptional, perTokenScaleOptional, groupListOptional, activationInputOptional,
                          activationQuantScaleOptional, activationQuantOffsetOptional, out,
                          activationFeatureOutOptional, dynQuantScaleOutOptional};
    return mr_gmm_prepare(&mr_gmm4_op, &mr_gmm4_roles, args, NULL, splitItem, groupType, groupListType, actType,
                          workspaceSize, executor);
}

aclnnStatus aclnnGroupedMatmulV4(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_gmm4_op, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnGroupedMatmulV3GetWorkspaceSize(const aclTensorList *x, const aclTensorList *weight,
                                                 const aclTensorList *biasOptional, const aclTensorList *scaleOptional,
                                                 const aclTensorList *offsetOptional,
                                                 const aclTensorList *antiquantScaleOptional,
                                                 const aclTensorList *antiquantOffsetOptional,
                                                 const aclTensor *groupListOptional, int64_t splitItem,
                                                 int64_t groupType, const aclTensorList *y, uint64_t *workspaceSize,
                                                 aclOpExecutor **executor)
{
    const void *args[] = {x, weight, biasOptional, scaleOptional, offsetOptional, antiquantScaleOptional,
                          antiquantOffsetOptional, groupListOptional, y};
    return mr_gmm_prepare(&mr_gmm3_op, &mr_gmm3_roles, args, NULL, splitItem, groupType, MR_GMM_LIST_CUMSUM,
                          GMM_ACT_TYPE_NONE, workspaceSize, executor);
}

aclnnStatus aclnnGroupedMatmulV3(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_gmm3_op, workspace, workspaceSize, executor, stream);
}

/* V1 and V2: the same tensor table; the host group list goes to the plan. */
static aclnnStatus mr_gmm_host_prepare(const mr_aclnn_op *op, const aclTensorList *x, const aclTensorList *weight,
                                       const aclTensorList *bias, const aclTensorList *scale,
                                       const aclTensorList *offset, const aclTensorList *antiquantScale,
                                       const aclTensorList *antiquantOffset, const aclIntArray *groupList,
                                       int64_t splitItem, int64_t groupType, const aclTensorList *y,
                                       uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const void *args[] = {x, weight, bias, scale, offset, antiquantScale, antiquantOffset, y};
    return mr_gmm_prepare(op, &mr_gmm1_roles, args, groupList, splitItem, groupType, MR_GMM_LIST_CUMSUM,
                          GMM_ACT_TYPE_NONE, workspaceSize, executor);
}

aclnnStatus aclnnGroupedMatmulV2GetWorkspaceSize(const aclTensorList *x, const aclTensorList *weight,
                                                 const aclTensorList *biasOptional, const aclTensorList *scaleOptional,
                                                 const aclTensorList *offsetOptional,
                                                 const aclTensorList *antiquantScaleOptional,
                                                 const aclTensorList *antiquantOffsetOptional,
                                                 const aclIntArray *groupListOptional, int64_t splitItem,
                                                 int64_t groupType, const aclTensorList *y, uint64_t *workspaceSize,
                                                 aclOpExecutor **executor)
{
    return mr_gmm_host_prepare(&mr_gmm2_op, x, weight, biasOptional, scaleOptional, offsetOptional,
                               antiquantScaleOptional, antiquantOffsetOptional, groupListOptional, splitItem,
                               groupType, y, workspaceSize, executor);
}

aclnnStatus aclnnGroupedMatmulV2(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_gmm2_op, workspace, workspaceSize, executor, stream);
}

/* V1: V2 with the M split implied (groupType 0). */
aclnnStatus aclnnGroupedMatmulGetWorkspaceSize(const aclTensorList *x, const aclTensorList *weight,
                                               const aclTensorList *biasOptional, const aclTensorList *scaleOptional,
                                               const aclTensorList *offsetOptional,
                                               const aclTensorList *antiquantScaleOptional,
                                               const aclTensorList *antiquantOffsetOptional,
                                               const aclIntArray *groupListOptional, int64_t splitItem,
                                               const aclTensorList *y, uint64_t *workspaceSize,
                                               aclOpExecutor **executor)
{
    return mr_gmm_host_prepare(&mr_gmm1_op, x, weight, biasOptional, scaleOptional, offsetOptional,
                               antiquantScaleOptional, antiquantOffsetOptional, groupListOptional, splitItem, 0, y,
                               workspaceSize, executor);
}

aclnnStatus aclnnGroupedMatmul(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_aclnn_execute(&mr_gmm1_op, workspace, workspaceSize, executor, stream);
}
