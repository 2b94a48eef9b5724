/* MoeFinalizeRouting / MoeFinalizeRoutingV2 (routing spec 6.3, 7.2; docs/operators/finalize_routing.md):
 *
 *   acc = x1 + x2 | x1 + 0 | x2 + 0 | (V2 without skip tensors) +0 with slot 0 setting acc
 *   for k in 0..K-1:  r = expandedRowIdx[i + k*N] (modes 0, 1 and V1) or [i*K + k] (modes 2, 3)
 *       drop modes: r == -1 skips the whole term
 *       t = expandedX[r] + bias[expertIdx[i][k]]  (V2 without bias: + 0);  t = t * scales[i][k];  acc = acc + t
 *   out[i] = acc
 *
 * fp16: every step rounded to fp16; fp32: fp32; bf16: fp32 steps, stored ties-away (V1) or ties-to-even (V2).
 * The accumulate step does the arithmetic; this file maps the arguments onto it. */
#include "operators/finalize.h"
#include "operators/steps/accumulate.h"

static const char *const mr_fin_names[2][MR_FIN_COUNT] = {
    {"expandedX", "expandedRowIdx", "x1", "x2Optional", "bias", "scales", "expandedExpertIdx", "out"},
    {"expandedX", "expandedRowIdx", "x1Optional", "x2Optional", "biasOptional", "scalesOptional",
     "expertIdxOptional", "out"},
};

moeroute_status mr_finalize_run(const void *plan, const mr_view *v, void *workspace, size_t workspace_size,
                                mr_pool *pool, const char *api)
{
    (void)workspace_size;
    const mr_finalize_plan *p = plan;
    const char *const *names = mr_fin_names[p->v2 ? 1 : 0];
    moeroute_status st;
    if ((st = mr_views_check_data(api, v, names, MR_FIN_COUNT)) != MOEROUTE_OK ||
        (st = mr_views_check_disjoint(api, v, names, MR_FIN_COUNT, MR_FIN_OUT, workspace, 0)) != MOEROUTE_OK)
        return st;
    const mr_view *ri = &v[MR_FIN_ROW_IDX], *ei = &v[MR_FIN_EXPERT_IDX];
    const int64_t rs = ri->ndim ? ri->strides[0] : 0;
    /* position of (i, k) in expandedRowIdx: i*pa + k*pb */
    const int64_t pa = p->row_major ? p->k : 1, pb = p->row_major ? 1 : p->n;
    mr_accumulate a = {
        .n = p->n, .k = p->k, .h = p->h,
        .init = p->has_x1 && p->has_x2 ? MR_ACC_INIT_SUM : p->has_x1 || p->has_x2 ? MR_ACC_INIT_PLUS_ZERO
                                                                                    : MR_ACC_INIT_FIRST,
        .x1 = mr_acc_src_2d(&v[p->has_x1 ? MR_FIN_X1 : MR_FIN_X2], p->xtype),
        .x2 = mr_acc_src_2d(&v[MR_FIN_X2], p->xtype),
        .rows = p->three_d ? mr_acc_src_3d(&v[MR_FIN_EXPANDED_X], p->xtype)
                           : mr_acc_src_2d(&v[MR_FIN_EXPANDED_X], p->xtype),
        .m = p->m,
        .row_idx = {(const int32_t *)ri->data, pa * rs, pb * rs, pa, pb, names[MR_FIN_ROW_IDX]},
        .bias = p->has_bias ? mr_acc_src_2d(&v[MR_FIN_BIAS], p->xtype) : mr_acc_src_2d(&(mr_view){0}, p->xtype),
        .experts = p->experts,
        .expert_idx = {p->has_bias ? (const int32_t *)ei->data : NULL, ei->ndim > 0 ? ei->strides[0] : 0,
                       ei->ndim > 1 ? ei->strides[1] : 0,
                       0, 0, names[MR_FIN_EXPERT_IDX]},
        .bias_plus_zero = p->v2 && !p->has_bias,
        .scales = p->has_scales ? mr_acc_src_2d(&v[MR_FIN_SCALES], p->stype) : mr_acc_src_2d(&(mr_view){0}, p->stype),
        .skip = p->drop ? MR_ACC_SKIP_NEG1 : 0u,
        .arith = p->xtype == MR_X_F16 ? MR_ACC_F16 : MR_ACC_F32,
        .out_type = p->xtype,
        .bf16_round = p->v2 ? MR_ACC_BF16_RNE : MR_ACC_BF16_RHA,
        .out = v[MR_FIN_OUT].data, .out_row = p->h,
    };
    mr_accumulate_kernels(&a, p->isa);
    if ((st = mr_accumulate_check(&a, api)) != MOEROUTE_OK) return st;
    mr_accumulate_run(&a, pool);
    return MOEROUTE_OK;
}
