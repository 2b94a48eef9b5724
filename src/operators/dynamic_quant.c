/* DynamicQuant / DynamicQuantV2, symmetric int8 or int4 (layer spec 5.3; docs/operators/dynamic_quant.md):
 *
 *   v[h] = f32(x[i][h])  (* f32(smooth[g(i)][h]), one fp32 multiply)
 *   a = max |v[h]|  (NaN skipped)       f = f32(Q / a),  Q = 127 (int8) or 7 (int4)
 *   y[i][h] = sat(rint(f32(v[h] * f)))  (ties to even; NaN -> 0; int8 [-128, 127], int4 [-8, 7] then packed)
 *   scale[i] = template A: f32(1 / f)   template B: f32(a * f32(1/Q))
 *   g(i) = the smallest g with i < groupIndex[g]
 *
 * Per row: the maximum by the dynamic-quant family's absmax on x's own dtype (with the smooth multiply), then
 * the MLP family's fused quant_x (widen, smooth multiply, quantize in L1-sized blocks), so a contiguous row is
 * read from memory once and from cache once more (the next row's maximum taken in chunks between this row's, so
 * the read stream runs on during the quantization); a strided row is widened into the running thread's fp32
 * scratch first. */
#include <string.h>

#include "common/error.h"
#include "operators/dynamic_quant.h"

static const char *const mr_dyq_names[MR_DYQ_COUNT] = {"x", "smoothScalesOptional", "groupIndexOptional", "yOut",
                                                       "scaleOut"};

/* Unified-buffer bytes of an A2/A3 AI core (layer spec 16 OQ 3: assumed) and the tiling's per-element factors. */
#define MR_DYQ_UB 196608
#define MR_DYQ_UB_RESERVED 4416

/* Elements per chunk of the pipelined row pass (below; 256 to 2048 measured alike). */
#define MR_DYQ_CHUNK 512u

mr_dyq_template mr_dynamic_quant_device_template(int64_t rows, int64_t h, int has_smooth, int has_group,
                                                 mr_dyq_out out)
{
    if (has_group) return MR_DYQ_A;
    /* the fixed-H clause names int8 only (spec 5.3) */
    if (out == MR_DYQ_OUT_INT8 && (h == 4096 || h == 5120 || h == 10240) && rows >= 4 && rows <= 384) return MR_DYQ_B;
    int64_t hmax = (MR_DYQ_UB - MR_DYQ_UB_RESERVED) / (has_smooth ? 15 : 11) / 64 * 64;
    if (hmax > 16320) hmax = 16320;
    return h >= 128 && h <= hmax && h % 8 == 0 ? MR_DYQ_B : MR_DYQ_A;
}

moeroute_status mr_dynamic_quant_plan_init(mr_dynamic_quant_plan *p, int64_t rows, int64_t h, int64_t groups,
                                           mr_xtype xtype, int has_smooth, mr_dyq_template tmpl, mr_dyq_out out,
                                           moeroute_isa isa, size_t threads, const char *api)
{
    memset(p, 0, sizeof *p);
    p->rows = rows, p->h = h, p->groups = groups, p->xtype = xtype, p->has_smooth = has_smooth, p->out = out;
    p->tmpl = tmpl != MR_DYQ_AUTO ? tmpl : mr_dynamic_quant_device_template(rows, h, has_smooth, groups > 0, out);
    mr_backend_init(&p->backend, isa, threads);
    /* two fp32 rows (values, smooth factors), and for int4 one int8 row of H bytes before packing */
    int64_t floats;
    if (mr_mul_i64(h, 2, &floats) || (out != MR_DYQ_OUT_INT8 && mr_add_i64(floats, h / 4 + 1, &floats)))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: H = %lld does not fit in memory", api, (long long)h);
    return mr_mlp_ws_init(&p->ws, p->backend.threads, floats, groups, api);
}

typedef struct mr_dyq_job {
    const mr_dynamic_quant_plan *p;
    const mr_view *v;
    const int64_t *ends;
} mr_dyq_job;

/* The int8 values q[0..h) (already in [-7, 7]: |v * f32(7/a)| <= 7 * (1 + 2^-23) rounds to at most 7) saturated
 * to [-8, 7] and packed into the row at dst: two per byte, or eight per int32 word (native byte order, as the
 * INT32 tensor holds them); element 0 in the low nibble. */
static void mr_dyq_pack_int4(const int8_t *q, size_t h, mr_dyq_out out, char *dst)
{
    const size_t per = out == MR_DYQ_OUT_INT4 ? 2u : 8u;
    for (size_t j = 0; j < h / per; j++) {
        uint32_t word = 0;
        for (size_t t = 0; t < per; t++) {
            const int v = q[j * per + t] < -8 ? -8 : q[j * per + t] > 7 ? 7 : q[j * per + t];
            word |= (uint32_t)(v & 0xF) << (4u * t);
        }
        if (per == 2) dst[j] = (char)(uint8_t)word;
        else memcpy(dst + 4 * j, &word, 4);
    }
}

static void mr_dyq_rows(const void *ctx, int64_t begin, int64_t end, float *buf)
{
    const mr_dyq_job *j = ctx;
    const mr_dynamic_quant_plan *p = j->p;
    const mr_mlp_config *k = p->backend.mlp;
    const size_t h = (size_t)p->h;
    float *v = buf, *s = buf + h;
    int8_t *q = (int8_t *)(void *)(buf + 2 * h); /* int4: the int8 values before packing */
    char *y = j->v[MR_DYQ_Y].data;
    const size_t row_bytes = (size_t)mr_dyq_row_bytes(p->out, p->h);
    float *scale = (float *)(void *)j->v[MR_DYQ_SCALE].data;
    const int int4 = p->out != MR_DYQ_OUT_INT8;
    /* f32(1/Q): one correctly rounded division */
    const float qmax = int4 ? 7.0f : 127.0f, inv_q = int4 ? 1.0f / 7.0f : 1.0f / 127.0f;
    for (int64_t r = begin; r < end && h == 0; r++) scale[r] = 0.0f; /* a = 0: both formulas give +0 */
    int64_t last_g = -1; /* the smooth row in sm (rows of a task mostly share their group) */
    const float *sm = NULL;
    const mr_dq_absmax_fn absmax = p->backend.dquant->absmax[p->xtype];
    float next_a = 0.0f;
    int have_next = 0; /* next_a is row r's maximum, taken while row r - 1 was quantized */
    for (int64_t r = begin; r < end && h > 0; r++) {
        /* a contiguous row is read in its own dtype: from memory by the maximum, from cache by the quantization;
           any other is widened into v first */
        int64_t cs;
        const void *x = mr_view_row(&j->v[MR_DYQ_X], r, &cs);
        mr_xtype t = p->xtype;
        if (cs != 1) x = mr_mlp_load_row(k, &j->v[MR_DYQ_X], r, t, v, h), t = MR_X_F32;
        if (p->has_smooth) {
            const int64_t g = p->groups ? mr_mlp_group_of(j->ends, p->groups, r) : 0;
            if (g != last_g) sm = mr_mlp_load_row(k, &j->v[MR_DYQ_SMOOTH], g, p->xtype, s, h);
            last_g = g;
        }
        const float a = have_next ? next_a : p->backend.dquant->absmax[t](x, sm, h);
        const float f = qmax / a;
        char *yr = y + (size_t)r * row_bytes;
        int8_t *dst = int4 ? q : (int8_t *)(void *)yr;
        /* The next row's maximum in step with this row's quantization when both are contiguous fp16 / bf16 rows
           and share the smooth row: the maximum reads memory while the quantization works from L1, so the read
           stream does not wait for it. The maximum of the chunks' maxima is the row's (all >= 0, NaN skipped in
           each). fp32 rows go one after the other: interleaved they measured slower (0.46-0.50 of the copy limit
           against 0.55-0.58; docs/performance.md). */
        const void *xn = NULL;
        if (t == p->xtype && t != MR_X_F32 && r + 1 < end &&
            (!p->has_smooth || !p->groups || mr_mlp_group_of(j->ends, p->groups, r + 1) == last_g)) {
            int64_t csn;
            xn = mr_view_row(&j->v[MR_DYQ_X], r + 1, &csn);
            if (csn != 1) xn = NULL;
        }
        have_next = xn != NULL;
        if (!xn) k->quant_x[t](x, sm, f, dst, h);
        for (size_t c = 0, es = mr_xtype_size(t); xn && c < h; c += MR_DYQ_CHUNK) {
            const size_t len = h - c < MR_DYQ_CHUNK ? h - c : MR_DYQ_CHUNK;
            const float m = absmax((const char *)xn + c * es, sm ? sm + c : NULL, len);
            next_a = c == 0 || m > next_a ? m : next_a;
            k->quant_x[t]((const char *)x + c * es, sm ? sm + c : NULL, f, dst + c, len);
        }
        if (int4) mr_dyq_pack_int4(q, h, p->out, yr);
        scale[r] = p->tmpl == MR_DYQ_B ? a * inv_q : 1.0f / f;
    }
}

moeroute_status mr_dynamic_quant_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                     mr_pool *pool, const char *api)
{
    const mr_dynamic_quant_plan *p = plan;
    mr_view v[MR_DYQ_COUNT];
    memcpy(v, views, sizeof v);
    /* y as rows of bytes: an INT4 tensor has no whole-byte element size, and both int4 packings are H / 2 bytes */
    v[MR_DYQ_Y] = mr_view_contiguous(views[MR_DYQ_Y].data, 1, 2,
                                     (const int64_t[]){p->rows, mr_dyq_row_bytes(p->out, p->h)});
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
