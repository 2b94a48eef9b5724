/* DequantSwigluQuant (layer spec 10, decisions 11 and 13; docs/operators/dequant_swiglu_quant.md):
 *
 *   v[c] = f32(x[r][c])                                   (int32 -> fp32 RNE, or exact fp16/bf16 widening)
 *        * weightScale[g][c] * activationScale[r] + f32(bias[g][c])     (each given one, each one rounding)
 *   act, oth = activateLeft ? (v[0:n], v[n:2n]) : (v[n:2n], v[0:n])
 *   s[j] = f32(silu(act[j]) * oth[j])                     (the project's SiLU, decision 11)
 *   dynamic: s[j] = f32(s[j] * quantScale[g][j]) (given);  sc = f32(max |s| / 127)
 *            y[r][j] = sat_i8(rint(f32(s[j] / sc)));  scale[r] = sc
 *   static:  y[r][j] = sat_i8(rint(f32(f32(s[j] * quantScale[g]) + quantOffset[g])))
 *   g = the group of row r (counts); rows past the last group are not written
 *
 * A row at a time in the running thread's fp32 scratch (2 x 2n floats). */
#include <math.h>
#include <string.h>

#include "common/error.h"
#include "operators/dequant_swiglu_quant.h"

static const char *const mr_dsq_names[MR_DSQ_COUNT] = {
    "x", "weightScaleOptional", "activationScaleOptional", "biasOptional", "quantScaleOptional",
    "quantOffsetOptional", "groupIndexOptional", "yOut", "scaleOut"};

moeroute_status mr_dsq_plan_init(mr_dsq_plan *p, moeroute_isa isa, size_t threads, const char *api)
{
    mr_backend_init(&p->backend, isa, threads);
    int64_t floats;
    if (mr_mul_i64(p->n, 4, &floats))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: x's %lld columns do not fit in memory", api, (long long)p->n);
    return mr_mlp_ws_init(&p->ws, p->backend.threads, floats, p->groups, api);
}

/* Row r of view v (element type t) as fp32: in place when it is a contiguous fp32 row, else widened into d. */
static const float *mr_dsq_row(const mr_dsq_plan *p, const mr_view *v, int64_t r, mr_dsq_type t, float *d, size_t n)
{
    if (t != MR_DSQ_I32) return mr_mlp_load_row(p->backend.mlp, v, r, (mr_xtype)t, d, n);
    int64_t cs;
    const char *src = mr_view_row(v, r, &cs);
    p->backend.mlp->widen_i32((const int32_t *)(const void *)src, cs, d, n);
    return d;
}

/* The row of a per-group parameter: group g's, or the only one */
static int64_t mr_dsq_prow(const mr_view *v, int64_t g) { return v->ndim > 1 && v->dims[0] > 1 ? g : 0; }

/* One fp32 parameter: element g of a view with one element per group (or one in all) */
static float mr_dsq_param(const mr_view *v, int64_t g)
{
    float f;
    memcpy(&f, mr_view_flat(v, mr_view_numel(v) == 1 ? 0 : g), sizeof f);
    return f;
}

/* Row r times its activation scale (when given): into x, which the row may already occupy. */
static const float *mr_dsq_ascale(const mr_dsq_plan *p, const mr_view *v, int64_t r, const float *xr, float *x)
{
    if (!p->has_ascale) return xr;
    float a;
    memcpy(&a, mr_view_flat(&v[MR_DSQ_ASCALE], r), sizeof a);
    if (xr != x) memcpy(x, xr, (size_t)p->n * 2u * sizeof(float));
    p->backend.mlp->affine(x, a, 0, 0.0f, (size_t)p->n * 2u);
    return x;
}

typedef struct mr_dsq_job {
    const mr_dsq_plan *p;
    const mr_view *v;
    const int64_t *ends;
} mr_dsq_job;

static void mr_dsq_rows(const void *ctx, int64_t begin, int64_t end, float *buf)
{
    const mr_dsq_job *j = ctx;
    const mr_dsq_plan *p = j->p;
    const mr_view *v = j->v;
    const mr_mlp_config *k = p->backend.mlp;
    const size_t n = (size_t)p->n, n2 = 2 * n;
    float *x = buf, *t = buf + n2;
    int8_t *y = (int8_t *)(void *)v[MR_DSQ_Y].data;
    float *scale = (float *)(void *)v[MR_DSQ_SCALE].data;
    for (int64_t r = begin; r < end; r++) {
        const int64_t g = p->groups ? mr_mlp_group_of(j->ends, p->groups, r) : 0;
        const float *xr = mr_dsq_row(p, &v[MR_DSQ_X], r, p->x_type, x, n2);
        if (p->ascale_first) xr = mr_dsq_ascale(p, v, r, xr, x);
        if (p->has_wscale) {
            const mr_dsq_type wt = p->wscale_x ? (mr_dsq_type)(p->wscale_x - 1) : MR_DSQ_F32;
            k->mul(xr, mr_dsq_row(p, &v[MR_DSQ_WSCALE], mr_dsq_prow(&v[MR_DSQ_WSCALE], g), wt, t, n2), x, n2);
            xr = x;
        }
        if (!p->ascale_first) xr = mr_dsq_ascale(p, v, r, xr, x);
        if (p->has_bias) {
            k->add(xr, mr_dsq_row(p, &v[MR_DSQ_BIAS], mr_dsq_prow(&v[MR_DSQ_BIAS], g), p->bias_type, t, n2), x, n2);
            xr = x;
        }
        const float *act = p->activate_left ? xr : xr + n, *oth = p->activate_left ? xr + n : xr;
        k->swiglu(act, oth, t, n);
        int8_t *yr = y + (size_t)r * n;
        if (p->dynamic) {
            if (p->has_qscale)
                k->mul(t, mr_dsq_row(p, &v[MR_DSQ_QSCALE], mr_dsq_prow(&v[MR_DSQ_QSCALE], g), MR_DSQ_F32, x, n), t, n);
            const float sc = p->backend.dquant->absmax[MR_X_F32](t, NULL, n) / 127.0f;
            if (p->f16_recip) { /* s * f32(1 / sc), rounded to fp16, then to int8: two roundings (spec 9.3) */
                uint16_t *h = (uint16_t *)(void *)x; /* x is free once the SwiGLU has read it */
                k->affine(t, 1.0f / sc, 0, 0.0f, n);
                k->narrow[MR_X_F16](t, h, n);
                k->widen[MR_X_F16](h, t, n);
                k->quant_mul(t, 1.0f, yr, n); /* exact values: only the int8 rounding remains */
            } else {
                k->quant_div(t, sc, yr, n);
            }
            scale[r] = sc;
        } else {
            k->affine(t, mr_dsq_param(&v[MR_DSQ_QSCALE], g), p->has_qoffset,
                      p->has_qoffset ? mr_dsq_param(&v[MR_DSQ_QOFFSET], g) : 0.0f, n);
            k->quant_mul(t, 1.0f, yr, n);
        }
    }
}

moeroute_status mr_dsq_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                           mr_pool *pool, const char *api)
{
    const mr_dsq_plan *p = plan;
    mr_view v[MR_DSQ_COUNT];
    memcpy(v, views, sizeof v);
    moeroute_status st;
    char *base = NULL;
    if ((st = mr_mlp_run_begin(&p->ws, v, mr_dsq_names, MR_DSQ_COUNT, MR_DSQ_Y, workspace, workspace_size, &base,
                               api)) != MOEROUTE_OK)
        return st;
    int64_t *ends = (int64_t *)(void *)(base + p->ws.ends_at);
    if (p->groups &&
        (st = mr_mlp_group_ends(&v[MR_DSQ_GROUP], p->groups, !p->group_ends, p->rows, 0, ends,
                                p->group_ends ? "groupList" : "groupIndexOptional", api)) !=
            MOEROUTE_OK)
        return st;
    const int64_t rows = p->groups ? ends[p->groups - 1] : p->rows;
    if (p->n > 0) {
        mr_dsq_job job = {p, v, ends};
        mr_mlp_rows_run(mr_backend_pool(&p->backend, pool), rows, p->n * 24, &p->ws, base, mr_dsq_rows, &job);
    } else if (p->dynamic) {
        for (int64_t r = 0; r < rows; r++) ((float *)(void *)v[MR_DSQ_SCALE].data)[r] = 0.0f; /* amax 0 / 127 */
    }
    if (rows < p->rows && mr_mlp_poison_unwritten()) {
        if (p->n > 0) memset(v[MR_DSQ_Y].data + rows * p->n, 0x7F, (size_t)(p->rows - rows) * (size_t)p->n);
        if (p->dynamic)
            for (int64_t r = rows; r < p->rows; r++) ((float *)(void *)v[MR_DSQ_SCALE].data)[r] = NAN;
    }
    return MOEROUTE_OK;
}
