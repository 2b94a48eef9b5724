/* Gating (docs/operators/gating.md; layer spec 1.3, routing spec 8.2). Per row r, with v = f32(x[r]):
 *
 * MoeGatingTopK
 *   s = sigmoid(v)                                  (normType 1)
 *   s = d * f32(1 / S), d = exp(v - max v), S = sum d in ascending e   (normType 0)
 *   b = s + bias (selection only);  out[r] = s when requested
 *   grouped: group score max b (mode 0) or f32(b1 + b2) of its two best (mode 1); the kGroup best groups
 *   idx = the k best b among the allowed experts;  w = s[idx]
 *   sigmoid (or renorm 1): w = w / f32(sum w + eps);   w = w * rsf;   y = w rounded to the x dtype (RNE)
 * MoeGatingTopKSoftmax (V1, V2 renorm 0)
 *   p = d / S;  idx = the k best p;  y = p[idx] (bf16 ties away);  expertIdx = finished[r] ? E : idx
 *   V1: rowIdx[r][j] = j*N + r;  V2: softmax result out[r] = p when requested
 * MoeGatingTopKSoftmaxV2 renorm 1
 *   idx = the k best v;  y = softmax over v[idx] (max, exp, sum in j order, division)
 *
 * Selection order: steps/topk.h (descending, ties to the lower index, NaN last). */
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "kernels/accumulate/accumulate.h"
#include "operators/gating.h"
#include "operators/steps/topk.h"

#define MR_GATE_ALIGN 64

/* Rows a task computes together (their softmax sums run interleaved): 16, fewer for wide rows so that a
 * task's scores stay within 64 KiB. */
static int64_t mr_gate_rows_per_task(int64_t e)
{
    const int64_t r = e > 0 ? 16384 / e : 16;
    return r < 1 ? 1 : r > 16 ? 16 : r;
}

static const char *const mr_gt_names[MR_GT_COUNT] = {"x", "bias", "finished", "y", "expertIdx", "rowIdx", "out"};

static size_t mr_align_up(size_t v) { return (v + MR_GATE_ALIGN - 1) & ~(size_t)(MR_GATE_ALIGN - 1); }

/* One thread's scratch, carved from its slice of the workspace. */
typedef struct mr_gate_scratch {
    float *v, *s, *b, *w, *sums; /* v, s: rows_per_task rows of E */
    uint32_t *keys, *gkeys, *cand;
    uint64_t *codes;
    int32_t *sel, *gsel;
} mr_gate_scratch;

/* Lays out (or, with base NULL, measures) one worker's scratch; returns its size. The caller keeps E, k and
 * groupCount below SIZE_MAX / 64, so nothing overflows. */
static size_t mr_gate_layout(const mr_gating_desc *d, char *base, mr_gate_scratch *s)
{
    const size_t e = (size_t)d->e, k = (size_t)d->k, g = (size_t)(d->group_count > 0 ? d->group_count : 1);
    const size_t codes = e > g ? e : g;
    size_t at = 0;
#define MR_TAKE(field, type, count)                                                                           \
    do {                                                                                                      \
        if (base) s->field = (type *)(void *)(base + at);                                                     \
        at += mr_align_up((count) * sizeof(type));                                                            \
    } while (0)
    const size_t rows = (size_t)mr_gate_rows_per_task(d->e);
    MR_TAKE(v, float, rows * e);
    MR_TAKE(s, float, rows * e);
    MR_TAKE(sums, float, rows);
    MR_TAKE(b, float, e);
    MR_TAKE(w, float, k);
    MR_TAKE(keys, uint32_t, e);
    MR_TAKE(gkeys, uint32_t, g);
    MR_TAKE(codes, uint64_t, codes);
    MR_TAKE(cand, uint32_t, codes);
    MR_TAKE(sel, int32_t, k);
    MR_TAKE(gsel, int32_t, g);
#undef MR_TAKE
    return at;
}

moeroute_status mr_gating_plan_init(mr_gating_plan *plan, const mr_gating_desc *d, moeroute_isa isa, size_t threads,
                                    uint64_t *workspace, const char *api)
{
    memset(plan, 0, sizeof *plan);
    plan->d = *d;
    plan->rsf = (float)d->rsf;
    plan->eps = (float)d->eps;
    plan->grouped = d->kind == MR_GATE_TOPK && d->group_count != 1 && d->group_count != d->e &&
                    d->k_group != d->group_count;
    mr_backend_init(&plan->backend, isa, threads);
    const int64_t lim = (int64_t)(SIZE_MAX / 64 < INT64_MAX ? SIZE_MAX / 64 : INT64_MAX);
    const int fits = d->e <= lim && d->k <= lim && d->group_count <= lim;
    plan->worker_bytes = fits && d->n > 0 && d->e > 0 ? mr_gate_layout(d, NULL, NULL) : 0;
    size_t total;
    if (!fits || mr_mul_size(plan->worker_bytes, plan->backend.threads, &total) ||
        total > SIZE_MAX / 2 - (size_t)d->e * sizeof(float) - 2 * MR_GATE_ALIGN)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the per-thread scratch for %lld experts does not fit in memory",
                       api, (long long)d->e);
    plan->bias_offset = total; /* the widened bias follows the workers' slices */
    if (total && d->has_bias) total += mr_align_up((size_t)d->e * sizeof(float));
    plan->ws_bytes = total ? total + MR_GATE_ALIGN : 0;
    *workspace = plan->ws_bytes;
    return MOEROUTE_OK;
}

/* d = exp(v - max v) over n >= 1 values (NaN skipped by the max, which is taken over selection keys: -0 and +0
 * give the same differences, and a row of NaN gives NaN). */
static void mr_gate_exp(const mr_backend *be, const float *v, float *d, size_t n)
{
    be->act->exp_shift(v, mr_topk_value(be->select->max(v, n)), d, n);
}

/* sum[r] = d[r][0] + d[r][1] + ... in ascending order, for `rows` rows of n; the rows' chains interleave. */
static void mr_gate_sums(const float *d, size_t rows, size_t n, float *sum)
{
    for (size_t r = 0; r < rows; r++) sum[r] = 0.0f;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < rows; r++) sum[r] += d[r * n + i];
}

/* The score key of one group of P >= 1 experts (keys, steps/topk.h): its best key (mode 0), or the key of the
 * fp32 sum of its two best scores (mode 1, P >= 2). Equal keys mean equal scores up to the sign of a zero,
 * which no sum or order here can tell apart, so keys are all the group score needs. */
static uint32_t mr_gate_group_key(const mr_select_config *sel, const uint32_t *key, size_t P, int mode)
{
    uint32_t m2;
    const uint32_t m1 = sel->top2(key, P, &m2);
    return mode == 0 ? m1 : mr_topk_key(mr_topk_value(m1) + mr_topk_value(m2));
}

/* MoeGatingTopK for one row: v its logits; sc holds exp(v - max) and sum their sum (softmax), or nothing
 * (sigmoid). s->sel gets the experts, s->w the weights before the output rounding. */
static void mr_gate_topk_row(const mr_gating_plan *p, const float *bias, const float *v, float *sc, float sum,
                             float *out_row, mr_gate_scratch *s)
{
    const mr_gating_desc *d = &p->d;
    const size_t E = (size_t)d->e, K = (size_t)d->k;
    if (d->norm_type == 1) {
        p->backend.act->sigmoid(v, sc, E);
    } else {
        const float inv = 1.0f / sum;
        for (size_t e = 0; e < E; e++) sc[e] = sc[e] * inv;
    }
    if (out_row) memcpy(out_row, sc, E * sizeof(float));
    const float *b = sc;
    if (bias) {
        for (size_t e = 0; e < E; e++) s->b[e] = sc[e] + bias[e];
        b = s->b;
    }
    p->backend.select->keys(b, s->keys, E);
    if (p->grouped) { /* experts of the groups not chosen get key 0: below every score, never selected */
        const size_t G = (size_t)d->group_count, P = E / G;
        for (size_t g = 0; g < G; g++)
            s->gkeys[g] = mr_gate_group_key(p->backend.select, s->keys + g * P, P, d->group_mode);
        mr_topk_select(p->backend.select, s->gkeys, (int64_t)G, d->k_group, s->gsel, s->codes, s->cand);
        memset(s->gkeys, 0, G * sizeof *s->gkeys); /* now: 1 for a chosen group */
        for (int64_t j = 0; j < d->k_group; j++) s->gkeys[s->gsel[j]] = 1;
        for (size_t g = 0; g < G; g++)
            if (!s->gkeys[g]) memset(s->keys + g * P, 0, P * sizeof *s->keys);
    }
    mr_topk_select(p->backend.select, s->keys, (int64_t)E, (int64_t)K, s->sel, s->codes, s->cand);
    for (size_t j = 0; j < K; j++) s->w[j] = sc[s->sel[j]];
    if (d->norm_type == 1 || d->renorm == 1) {
        float t = 0.0f;
        for (size_t j = 0; j < K; j++) t += s->w[j];
        t = t + p->eps;
        for (size_t j = 0; j < K; j++) s->w[j] = s->w[j] / t;
    }
    for (size_t j = 0; j < K; j++) s->w[j] = s->w[j] * p->rsf;
}

/* MoeGatingTopKSoftmax V1/V2 for one row (arguments as mr_gate_topk_row; sc and sum unset for V2 renorm 1). */
static void mr_gate_softmax_row(const mr_gating_plan *p, const float *v, float *sc, float sum, float *out_row,
                                mr_gate_scratch *s)
{
    const mr_gating_desc *d = &p->d;
    const size_t E = (size_t)d->e, K = (size_t)d->k;
    if (d->kind == MR_GATE_SOFTMAX_V2 && d->renorm == 1) {
        p->backend.select->keys(v, s->keys, E);
        mr_topk_select(p->backend.select, s->keys, (int64_t)E, (int64_t)K, s->sel, s->codes, s->cand);
        for (size_t j = 0; j < K; j++) s->b[j] = v[s->sel[j]];
        mr_gate_exp(&p->backend, s->b, s->w, K);
        float t;
        mr_gate_sums(s->w, 1, K, &t);
        for (size_t j = 0; j < K; j++) s->w[j] = s->w[j] / t;
        return;
    }
    for (size_t e = 0; e < E; e++) sc[e] = sc[e] / sum;
    if (out_row) memcpy(out_row, sc, E * sizeof(float));
    p->backend.select->keys(sc, s->keys, E);
    mr_topk_select(p->backend.select, s->keys, (int64_t)E, (int64_t)K, s->sel, s->codes, s->cand);
    for (size_t j = 0; j < K; j++) s->w[j] = sc[s->sel[j]];
}

typedef struct mr_gate_job {
    const mr_gating_plan *p;
    const mr_view *v;
    char *scratch;
    const float *bias; /* widened once, before the rows */
} mr_gate_job;

static void mr_gate_task(void *ctx, size_t task, size_t worker)
{
    const mr_gate_job *job = ctx;
    const mr_gating_plan *p = job->p;
    const mr_gating_desc *d = &p->d;
    const mr_view *v = job->v;
    mr_gate_scratch s = {0};
    mr_gate_layout(d, job->scratch + worker * p->worker_bytes, &s);
    const int64_t rpt = mr_gate_rows_per_task(d->e), r0 = (int64_t)task * rpt;
    const int64_t r1 = r0 + rpt < d->n ? r0 + rpt : d->n;
    const size_t E = (size_t)d->e, K = (size_t)d->k, ysz = mr_xtype_size(d->xtype), rows = (size_t)(r1 - r0);
    const mr_acc_bf16_round yround = d->kind == MR_GATE_TOPK ? MR_ACC_BF16_RNE : MR_ACC_BF16_RHA;
    float *out = v[MR_GT_OUT].data ? (float *)(void *)v[MR_GT_OUT].data : NULL;
    for (size_t i = 0; i < rows; i++)
        mr_acc_widen__scalar(s.v + i * E, mr_view_at2(&v[MR_GT_X], r0 + (int64_t)i, 0), v[MR_GT_X].strides[1], E,
                             d->xtype);
    const int softmax_all = d->kind == MR_GATE_TOPK ? d->norm_type == 0 : !(d->kind == MR_GATE_SOFTMAX_V2 && d->renorm);
    if (softmax_all) {
        for (size_t i = 0; i < rows; i++) mr_gate_exp(&p->backend, s.v + i * E, s.s + i * E, E);
        mr_gate_sums(s.s, rows, E, s.sums);
    }
    for (int64_t r = r0; r < r1; r++) {
        const size_t i = (size_t)(r - r0);
        float *out_row = out ? out + (size_t)r * E : NULL;
        if (d->kind == MR_GATE_TOPK)
            mr_gate_topk_row(p, job->bias, s.v + i * E, s.s + i * E, s.sums[i], out_row, &s);
        else
            mr_gate_softmax_row(p, s.v + i * E, s.s + i * E, s.sums[i], out_row, &s);
        mr_acc_store__scalar(v[MR_GT_Y].data + (size_t)r * K * ysz, s.w, K, d->xtype, yround);
        int32_t *idx = (int32_t *)(void *)v[MR_GT_IDX].data + (size_t)r * K;
        const int finished = d->has_finished && *mr_view_at2(&v[MR_GT_FINISHED], r, 0) != 0;
        for (size_t j = 0; j < K; j++) idx[j] = finished ? (int32_t)d->e : s.sel[j];
        if (d->kind == MR_GATE_SOFTMAX_V1) {
            int32_t *row_idx = (int32_t *)(void *)v[MR_GT_ROW_IDX].data + (size_t)r * K;
            for (size_t j = 0; j < K; j++) row_idx[j] = (int32_t)((int64_t)j * d->n + r);
        }
    }
}

moeroute_status mr_gating_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                              mr_pool *pool, const char *api)
{
    const mr_gating_plan *p = plan;
    const mr_gating_desc *d = &p->d;
    moeroute_status st;
    if ((st = mr_views_check_data(api, views, mr_gt_names, MR_GT_COUNT)) != MOEROUTE_OK ||
        (st = mr_views_check_disjoint(api, views, mr_gt_names, MR_GT_COUNT, MR_GT_Y, workspace, workspace_size)) !=
            MOEROUTE_OK)
        return st;
    if (p->ws_bytes && (!workspace || workspace_size < p->ws_bytes))
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: the workspace (%zu bytes at %p) is smaller than the %zu bytes "
                       "GetWorkspaceSize asked for", api, workspace_size, workspace, p->ws_bytes);
    if (d->n == 0 || d->e == 0) return MOEROUTE_OK;
    /* the scratch starts at the first 64-byte boundary of the workspace; bias (fp32) after the workers' slices */
    char *base = (char *)(((uintptr_t)workspace + MR_GATE_ALIGN - 1) & ~(uintptr_t)(MR_GATE_ALIGN - 1));
    mr_gate_job job = {p, views, base, NULL};
    if (d->has_bias) {
        float *bias = (float *)(void *)(base + p->bias_offset);
        mr_acc_widen__scalar(bias, views[MR_GT_BIAS].data, views[MR_GT_BIAS].strides[0], (size_t)d->e, d->xtype);
        job.bias = bias;
    }
    pool = mr_backend_pool(&p->backend, pool);
    const int64_t rpt = mr_gate_rows_per_task(d->e);
    mr_pool_parallelize(pool, mr_gate_task, &job, (size_t)((d->n + rpt - 1) / rpt));
    return MOEROUTE_OK;
}
