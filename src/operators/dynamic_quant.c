/* DynamicQuant / DynamicQuantV2, symmetric int8 (layer spec 5.3; docs/operators/dynamic_quant.md):
 *
 *   v[h] = f32(x[i][h])  (* f32(smooth[g(i)][h]), one fp32 multiply)
 *   a = max |v[h]|  (NaN skipped)       f = f32(127 / a)
 *   y[i][h] = sat_i8(rint(f32(v[h] * f)))  (ties to even; NaN -> 0)
 *   scale[i] = template A: f32(1 / f)   template B: f32(a * f32(1/127))
 *   g(i) = the smallest g with i < groupIndex[g]
 *
 * Per row in the running thread's fp32 scratch: widen (accumulate family), smooth multiply and quantize (MLP
 * family), maximum (dynamic-quant family's absmax). */
#include <string.h>

#include "common/error.h"
#include "operators/dynamic_quant.h"

static const char *const mr_dyq_names[MR_DYQ_COUNT] = {"x", "smoothScalesOptional", "groupIndexOptional", "yOut",
                                                       "scaleOut"};

/* Unified-buffer bytes of an A2/A3 AI core (layer spec 16 OQ 3: assumed) and the tiling's per-element factors. */
#define MR_DYQ_UB 196608
#define MR_DYQ_UB_RESERVED 4416

mr_dyq_template mr_dynamic_quant_device_template(int64_t rows, int64_t h, int has_smooth, int has_group)
{
    if (has_group) return MR_DYQ_A;
    if ((h == 4096 || h == 5120 || h == 10240) && rows >= 4 && rows <= 384) return MR_DYQ_B;
    int64_t hmax = (MR_DYQ_UB - MR_DYQ_UB_RESERVED) / (has_smooth ? 15 : 11) / 64 * 64;
    if (hmax > 16320) hmax = 16320;
    return h >= 128 && h <= hmax && h % 8 == 0 ? MR_DYQ_B : MR_DYQ_A;
}

moeroute_status mr_dynamic_quant_plan_init(mr_dynamic_quant_plan *p, int64_t rows, int64_t h, int64_t groups,
                                           mr_xtype xtype, int has_smooth, mr_dyq_template tmpl, moeroute_isa isa,
                                           size_t threads, const char *api)
{
    memset(p, 0, sizeof *p);
    p->rows = rows, p->h = h, p->groups = groups, p->xtype = xtype, p->has_smooth = has_smooth;
    p->tmpl = tmpl != MR_DYQ_AUTO ? tmpl : mr_dynamic_quant_device_template(rows, h, has_smooth, groups > 0);
    mr_backend_init(&p->backend, isa, threads);
    int64_t floats;
    if (mr_mul_i64(h, 2, &floats))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: H = %lld does not fit in memory", api, (long long)h);
    return mr_mlp_ws_init(&p->ws, p->backend.threads, floats, groups, api);
}

typedef struct mr_dyq_job {
    const mr_dynamic_quant_plan *p;
    const mr_view *v;
    const int64_t *ends;
} mr_dyq_job;

static void mr_dyq_rows(const void *ctx, int64_t begin, int64_t end, float *buf)
{
    const mr_dyq_job *j = ctx;
    const mr_dynamic_quant_plan *p = j->p;
    const mr_mlp_config *k = p->backend.mlp;
    const mr_dq_absmax_fn absmax = p->backend.dquant->absmax[MR_X_F32];
    const size_t h = (size_t)p->h;
    float *v = buf, *s = buf + h;
    int8_t *y = (int8_t *)(void *)j->v[MR_DYQ_Y].data;
    float *scale = (float *)(void *)j->v[MR_DYQ_SCALE].data;
    static const float inv127 = 1.0f / 127.0f; /* f32(1/127): one correctly rounded division */
    for (int64_t r = begin; r < end && h == 0; r++) scale[r] = 0.0f; /* a = 0: both formulas give +0 */
    int64_t last_g = -1; /* the smooth row in sm (rows of a task mostly share their group) */
    const float *sm = s;
    for (int64_t r = begin; r < end && h > 0; r++) {
        const float *x = mr_mlp_load_row(k, &j->v[MR_DYQ_X], r, p->xtype, v, h);
        if (p->has_smooth) {
            const int64_t g = p->groups ? mr_mlp_group_of(j->ends, p->groups, r) : 0;
            if (g != last_g) sm = mr_mlp_load_row(k, &j->v[MR_DYQ_SMOOTH], g, p->xtype, s, h);
            last_g = g;
            k->mul(x, sm, v, h);
            x = v;
        }
        const float a = absmax(x, NULL, h);
        const float f = 127.0f / a;
        k->quant_mul(x, f, y + (size_t)r * h, h);
        scale[r] = p->tmpl == MR_DYQ_B ? a * inv127 : 1.0f / f;
    }
}

moeroute_status mr_dynamic_quant_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                     mr_pool *pool, const char *api)
{
    const mr_dynamic_quant_plan *p = plan;
    mr_view v[MR_DYQ_COUNT];
    memcpy(v, views, sizeof v);
    if (p->h == 0) memset(&v[MR_DYQ_SMOOTH], 0, sizeof v[0]); /* nothing of the smooth factors is read */
    moeroute_status st;
    char *base = NULL;
    if ((st = mr_mlp_run_begin(&p->ws, v, mr_dyq_names, MR_DYQ_COUNT, MR_DYQ_Y, workspace, workspace_size, &base,
                               api)) != MOEROUTE_OK)
        return st;
    int64_t *ends = (int64_t *)(void *)(base + p->ws.ends_at);
    if (p->groups &&
        (st = mr_mlp_group_ends(&v[MR_DYQ_GROUP], p->groups, 0, p->rows, 1, ends, "groupIndexOptional", api)) !=
            MOEROUTE_OK)
        return st;
    mr_dyq_job job = {p, v, ends};
    mr_mlp_rows_run(mr_backend_pool(&p->backend, pool), p->rows, p->h * 3, &p->ws, base, mr_dyq_rows, &job);
    return MOEROUTE_OK;
}
