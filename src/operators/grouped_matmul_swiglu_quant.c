/* GroupedMatmulSwigluQuant (layer spec 9.3, decisions 11, 13, 15; docs/operators/grouped_matmul_swiglu_quant.md):
 *
 *   a[m][n] = sum_k x[m][k] * W[g][k][n]                  exact int32 (the int8 grouped matmul, cumsum groups)
 *   c = f32(a) * xScale[m], then * f32(wScale[g][n])       (per token FIRST: the reverse of GroupedMatmul)
 *   s[j] = f32(silu(c[j]) * c[j + n/2])                    (the project's one SiLU, decision 11)
 *   qs = f32(max |s| / 127);  y[j] = to_i8_rne(f16(f32(s[j] * f32(1 / qs))))   (double rounding)
 *   rows at and past groupList[G-1]: output and outputScale not written
 *
 * Two phases over the workspace: the grouped matmul (operators/grouped_matmul.c, ND or FRACTAL_NZ weights read
 * in place, or packed beforehand: plan.gmm.packed) writes the int32 sums of the grouped rows into a scratch
 * [m, n]; then DequantSwigluQuant's row
 * epilogue (operators/dequant_swiglu_quant.c, flags ascale_first / group_ends / f16_recip) turns each row into
 * int8 and a scale. Both phases are bit-identical for every thread count and ISA, so the whole is. */
#include "operators/grouped_matmul_swiglu_quant.h"

#include <string.h>

#include "common/error.h"

static const char *const mr_gmmsq_names[MR_GMMSQ_COUNT] = {"x", "weight", "weightScale", "xScale", "groupList",
                                                           "output", "outputScale"};

static size_t mr_gmmsq_align(size_t v) { return (v + 63u) & ~(size_t)63u; }

moeroute_status mr_gmmsq_plan_init(mr_gmmsq_plan *plan, const mr_gmmsq_desc *d, moeroute_isa isa, size_t threads,
                                   const char *api)
{
    memset(plan, 0, sizeof *plan);
    mr_gmm_desc g = {.m = d->m, .k = d->k, .n = d->n, .e = d->e, .groups = d->groups,
                     .list_type = MR_GMM_LIST_CUMSUM, .xtype = MR_GEMM_SRC_I8, .out = MR_GMM_OUT_I32,
                     .w_nz = d->w_nz};
    moeroute_status st = mr_gmm_plan_init(&plan->gmm, &g, isa, threads, api);
    if (st != MOEROUTE_OK) return st;
    mr_dsq_plan *q = &plan->dsq;
    q->rows = d->m, q->n = d->n / 2, q->groups = d->groups;
    q->x_type = MR_DSQ_I32, q->bias_type = MR_DSQ_F32;
    q->has_wscale = 1, q->has_ascale = 1, q->activate_left = 1, q->dynamic = 1;
    q->group_ends = 1, q->ascale_first = 1, q->f16_recip = 1;
    q->wscale_x = d->wscale_type == MR_X_F32 ? 0 : 1 + (int)d->wscale_type;
    if ((st = mr_dsq_plan_init(q, isa, threads, api)) != MOEROUTE_OK) return st;
    size_t acc, total;
    if (mr_mul_size((size_t)d->m, (size_t)d->n, &acc) || mr_mul_size(acc, 4u, &acc) || acc > SIZE_MAX - 64u ||
        mr_add_size(mr_gmmsq_align(acc), mr_gmmsq_align(plan->gmm.ws_size), &total) ||
        mr_add_size(total, q->ws.size + 64u, &total))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the int32 scratch of %lld x %lld sums does not fit in memory", api,
                       (long long)d->m, (long long)d->n);
    plan->acc_bytes = mr_gmmsq_align(acc);
    plan->ws_size = total;
    return MOEROUTE_OK;
}

moeroute_status mr_gmmsq_run(const void *plan, const mr_view *v, void *workspace, size_t workspace_size, mr_pool *pool,
                             const char *api)
{
    const mr_gmmsq_plan *p = plan;
    const mr_gmm_desc *d = &p->gmm.d;
    moeroute_status st;
    if ((st = mr_views_check_data(api, v, mr_gmmsq_names, MR_GMMSQ_COUNT)) != MOEROUTE_OK ||
        (st = mr_views_check_disjoint(api, v, mr_gmmsq_names, MR_GMMSQ_COUNT, MR_GMMSQ_OUT, workspace,
                                      p->ws_size)) != MOEROUTE_OK)
        return st;
    if (workspace_size < p->ws_size || (p->ws_size && !workspace))
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: the workspace has %zu bytes, the call needs %zu", api,
                       workspace ? workspace_size : (size_t)0, p->ws_size);
    char *base = (char *)workspace + ((64u - (uintptr_t)workspace % 64u) % 64u);
    char *gws = base + p->acc_bytes, *dws = gws + mr_gmmsq_align(p->gmm.ws_size);
    const int64_t mn[2] = {d->m, d->n};
    const mr_view acc = mr_view_contiguous(base, 4, 2, mn);
    /* phase 1: int32 sums of the grouped rows (the group list is checked here, before any output is written) */
    mr_view g[MR_GMM_COUNT];
    memset(g, 0, sizeof g);
    g[MR_GMM_X] = v[MR_GMMSQ_X];
    g[MR_GMM_W] = v[MR_GMMSQ_W];
    g[MR_GMM_GROUPS] = v[MR_GMMSQ_GROUPS];
    g[MR_GMM_OUT] = acc;
    if ((st = mr_gmm_run(&p->gmm, g, gws, p->gmm.ws_size, pool, api)) != MOEROUTE_OK) return st;
    if (p->dsq.groups == 0) return MOEROUTE_OK; /* no group: no row is written (spec 9.4) */
    /* phase 2: dequant, SwiGLU and the int8 rows */
    mr_view q[MR_DSQ_COUNT];
    memset(q, 0, sizeof q);
    q[MR_DSQ_X] = acc;
    q[MR_DSQ_WSCALE] = v[MR_GMMSQ_WSCALE];
    q[MR_DSQ_ASCALE] = v[MR_GMMSQ_XSCALE];
    q[MR_DSQ_GROUP] = v[MR_GMMSQ_GROUPS];
    q[MR_DSQ_Y] = v[MR_GMMSQ_OUT];
    q[MR_DSQ_SCALE] = v[MR_GMMSQ_OUT_SCALE];
    return mr_dsq_run(&p->dsq, q, dws, p->dsq.ws.size, pool, api);
}
