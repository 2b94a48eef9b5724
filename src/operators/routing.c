/* Routing operators as plans over shared steps (docs/operators/shared_steps.md; V1 docs/operators/init_routing.md,
 * V2/QuantV2 docs/operators/init_routing_v2.md, V3 docs/operators/init_routing_v3.md). */
#include <string.h>

#include "common/error.h"
#include "operators/routing.h"
#include "operators/steps/route_sort.h"
#include "operators/steps/row_step.h"

#define MR_WS_ALIGN 64u

const char *const mr_route_slot_names[MR_RV_COUNT] = {
    "x", "expertIdx", "rowIdx", "scale", "offset", "expandedX", "expandedRowIdx", "expandedExpertIdx",
    "expertTokensCountOrCumsum", "expertTokensBeforeCapacity", "expandedScale"};

static size_t mr_align_up(size_t v) { return (v + (MR_WS_ALIGN - 1)) & ~(size_t)(MR_WS_ALIGN - 1); }

/* The one place that decides the workspace layout (plan reports it, run carves it). Arrays are sized for
 * L = N*K <= INT32_MAX; the smooth copy (used only for a smooth view whose rows are not contiguous) is
 * checked for overflow by the caller. */
static void mr_route_layout(mr_route_ws *ws, const mr_route_plan *p, size_t smooth_bytes)
{
    const size_t L = (size_t)p->L;
    size_t at = 0;
    memset(ws, 0, sizeof *ws);
    if (L == 0) return;
    ws->keys = at;   at += mr_align_up(L * sizeof(int32_t));
    ws->rows = at;   at += p->d.variant == MR_ROUTE_V1 ? mr_align_up(L * sizeof(int32_t)) : 0;
    ws->perm = at;   at += mr_align_up(L * sizeof(uint32_t));
    ws->tmp = at;    at += mr_align_up(L * sizeof(uint32_t));
    ws->dst = at;    at += mr_align_up(L * sizeof(int32_t));
    ws->bitmap = at; at += p->d.variant == MR_ROUTE_V1 ? mr_align_up((L + 63) / 64 * sizeof(uint64_t)) : 0;
    ws->hist_entries = mr_route_sort_hist_entries(p->backend.threads);
    ws->hist = at;   at += mr_align_up(ws->hist_entries * sizeof(uint32_t));
    ws->cnt_len = p->d.variant == MR_ROUTE_V3 ? (size_t)(p->d.range_hi - p->d.range_lo)
                  : p->d.variant == MR_ROUTE_V2 ? (size_t)p->d.experts : 0;
    ws->cnt = at;    at += mr_align_up(ws->cnt_len * sizeof(uint32_t));
    ws->smooth = at; at += mr_align_up(smooth_bytes);
    ws->rowbuf = at; at += p->backend.threads * MR_ROWBUF_BYTES;
    ws->size = at + MR_WS_ALIGN; /* slack so any caller alignment can be rounded up */
}

moeroute_status mr_route_plan_init(mr_route_plan *plan, const mr_route_desc *desc, moeroute_isa isa, size_t threads,
                                   const char *api)
{
    const mr_route_desc *d = desc;
    int64_t L;
    if (mr_mul_i64(d->n, d->k, &L) || L > INT32_MAX)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE,
                       "%s: N*K = %lld*%lld exceeds INT32_MAX; indices are int32 (spec decision 5)", api,
                       (long long)d->n, (long long)d->k);
    memset(plan, 0, sizeof *plan);
    plan->d = *d;
    plan->L = L;
    plan->x_esize = d->x_int8 ? 1 : mr_xtype_size(d->xtype);
    plan->out_esize = d->transform == MR_ROW_COPY ? plan->x_esize : 1;
    int64_t out_rows;
    switch (d->variant) {
    case MR_ROUTE_V1:
        out_rows = (d->active < d->n ? d->active : d->n) * d->k;
        plan->rows_limit = out_rows;
        break;
    case MR_ROUTE_V2:
        if (d->drop) {
            if (mr_mul_i64(d->experts, d->capacity, &out_rows) || out_rows > INT32_MAX)
                return mr_fail(MOEROUTE_ERR_TOO_LARGE,
                               "%s: expertNum * expertCapacity = %lld * %lld exceeds INT32_MAX; slot indices are int32",
                               api, (long long)d->experts, (long long)d->capacity);
        } else {
            out_rows = d->rows_exact ? d->active : d->active == 0 || d->active > L ? L : d->active;
        }
        plan->rows_limit = out_rows;
        break;
    default:
        out_rows = L;
        plan->rows_limit = L;
        break;
    }
    plan->out_rows = out_rows;
    size_t out_bytes;
    if ((uint64_t)d->h > SIZE_MAX || (uint64_t)out_rows > SIZE_MAX ||
        mr_mul_size((size_t)out_rows, (size_t)d->h, &out_bytes) || mr_mul_size(out_bytes, plan->out_esize, &out_bytes))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: expandedX of %lld x %lld elements does not fit in memory", api,
                       (long long)out_rows, (long long)d->h);
    plan->out_bytes = out_bytes;
    size_t smooth_bytes = 0;
    if (d->transform == MR_ROW_DYNAMIC && d->smooth_rows > 0 &&
        (mr_mul_size((size_t)d->smooth_rows, (size_t)d->h, &smooth_bytes) ||
         mr_mul_size(smooth_bytes, sizeof(float), &smooth_bytes)))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the smooth scales do not fit in memory", api);
    mr_backend_init(&plan->backend, isa, threads);
    plan->stream_stores = mr_backend_stream_output(out_bytes);
    if (d->transform == MR_ROW_STATIC && !d->static_from_views) mr_quant_params_init(&plan->quant, d->scale, d->offset);
    /* spec 5.4: one shape (DeepSeek-V3 decode, batch 1) takes the device's full-load rounding */
    plan->dyn_odd = d->variant == MR_ROUTE_V3 && d->transform == MR_ROW_DYNAMIC && !d->x_int8 &&
                    d->xtype == MR_X_BF16 && d->n == 1 && d->h == 7168 && d->k == 8 && d->smooth_rows == 256 &&
                    d->range_lo == 0 && d->range_hi == 256 && d->count_kind == MR_COUNT_KV_I64;
    mr_route_layout(&plan->ws, plan, smooth_bytes);
    return MOEROUTE_OK;
}

/* ---- phase 2 --------------------------------------------------------------------------------------------- */

/* A strided [n, k] int32 view as a flat row-major array (f = r*k + j): in place when already so, else packed. */
static const int32_t *mr_flat_i32(int32_t *scratch, const mr_view *v, int64_t n, int64_t k)
{
    const int32_t *src = (const int32_t *)v->data;
    const int64_t s0 = v->strides[0], s1 = v->strides[1];
    if ((s1 == 1 || k <= 1) && (s0 == k || n <= 1)) return src;
    size_t f = 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < k; j++) scratch[f++] = src[r * s0 + j * s1];
    return scratch;
}

/* Expert ids as flat int32 keys: int32 views as above; int64 views (MoeTokenPermute's INT64 indices) are
 * narrowed into scratch, and an id outside int32 is refused (indices are int32 throughout, decision 5). */
static moeroute_status mr_flat_keys(const char *api, int32_t *scratch, const mr_view *v, int64_t n, int64_t k,
                                    const int32_t **keys)
{
    if (v->esize == 4) {
        *keys = mr_flat_i32(scratch, v, n, k);
        return MOEROUTE_OK;
    }
    const int64_t *src = (const int64_t *)(const void *)v->data;
    size_t f = 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < k; j++) {
            int64_t id = src[r * v->strides[0] + j * v->strides[1]];
            if (id < INT32_MIN || id > INT32_MAX)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: indices[%lld][%lld] = %lld is outside int32", api,
                               (long long)r, (long long)j, (long long)id);
            scratch[f++] = (int32_t)id;
        }
    *keys = scratch;
    return MOEROUTE_OK;
}

/* Spec decision 4: rowIdx must be a permutation of 0..L-1, checked before any output is written. */
static moeroute_status mr_check_permutation(const char *api, const int32_t *rows, int64_t k, size_t L, uint64_t *seen)
{
    memset(seen, 0, (L + 63) / 64 * sizeof *seen);
    for (size_t f = 0; f < L; f++) {
        int32_t v = rows[f];
        if (v < 0 || (size_t)v >= L)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rowIdx[%zu][%zu] = %d is outside [0, %zu): rowIdx must be a permutation of 0..N*K-1",
                           api, f / (size_t)k, f % (size_t)k, (int)v, L);
        uint64_t bit = 1ull << ((size_t)v & 63u);
        if (seen[(size_t)v >> 6] & bit)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rowIdx[%zu][%zu] = %d repeats an earlier value: rowIdx must be a permutation of 0..N*K-1",
                           api, f / (size_t)k, f % (size_t)k, (int)v);
        seen[(size_t)v >> 6] |= bit;
    }
    return MOEROUTE_OK;
}

static moeroute_status mr_check_ids(const char *api, const int32_t *keys, int64_t k, size_t L, int64_t E)
{
    for (size_t f = 0; f < L; f++)
        if (keys[f] < 0 || keys[f] >= E)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: expertIdx[%zu][%zu] = %d is outside [0, expertNum = %lld), which this mode requires",
                           api, f / (size_t)k, f % (size_t)k, (int)keys[f], (long long)E);
    return MOEROUTE_OK;
}

static float mr_view_f32(const mr_view *v, int64_t i)
{
    float f;
    memcpy(&f, v->data + i * v->strides[0] * 4, 4);
    return f;
}

/* Count outputs from the per-expert counts (docs/operators/shared_steps.md "count outputs"). */
static void mr_write_counts(const mr_route_plan *p, const uint32_t *counts, const mr_view *out)
{
#define CNT(j) (counts ? counts[j] : 0u) /* no counts array when N*K = 0 */
    const mr_route_desc *d = &p->d;
    switch (d->count_kind) {
    case MR_COUNT_CUMSUM_I32:
    case MR_COUNT_I32: {
        int32_t *o = (int32_t *)out->data;
        int64_t run = 0;
        for (int64_t e = 0; e < d->experts; e++) {
            run += CNT(e);
            o[e] = (int32_t)(d->count_kind == MR_COUNT_I32 ? CNT(e) : run);
        }
        break;
    }
    case MR_COUNT_I64: {
        int64_t *o = (int64_t *)out->data;
        for (int32_t j = 0; j < d->range_hi - d->range_lo; j++) o[j] = CNT(j);
        break;
    }
    case MR_COUNT_KV_I64: {
        int64_t *o = (int64_t *)out->data, row = 0;
        int64_t span = d->range_hi - d->range_lo;
        for (int32_t j = 0; j < span; j++)
            if (CNT(j)) {
                o[2 * row] = d->range_lo + j;
                o[2 * row + 1] = CNT(j);
                row++;
            }
        int64_t zero_end = span + 1 < d->experts ? span + 1 : d->experts;
        for (; row < zero_end; row++) o[2 * row] = o[2 * row + 1] = 0;
        break;
    }
    case MR_COUNT_NONE:
        break;
    }
#undef CNT
}

/* Zero the unfilled slots of every expert in drop & pad mode (cnt NULL: no tokens). */
static void mr_pad_rows(const mr_route_plan *p, const mr_view *v, const uint32_t *cnt)
{
    const mr_route_desc *d = &p->d;
    if (d->variant != MR_ROUTE_V2 || !d->drop) return;
    const size_t row_bytes = (size_t)d->h * p->out_esize;
    for (int64_t e = 0; e < d->experts; e++) {
        int64_t filled = cnt ? (cnt[e] < (uint64_t)d->capacity ? (int64_t)cnt[e] : d->capacity) : 0;
        mr_rows_zero(v[MR_RV_OUT_X].data, row_bytes, e * d->capacity + filled, d->capacity - filled,
                     d->transform == MR_ROW_DYNAMIC ? (float *)v[MR_RV_OUT_SCALE].data : NULL);
    }
}

moeroute_status mr_route_run(const mr_route_plan *plan, const mr_view *views, void *workspace, size_t workspace_size,
                             mr_pool *pool, const char *api)
{
    const mr_route_desc *d = &plan->d;
    const int64_t N = d->n, K = d->k, H = d->h;
    const size_t L = (size_t)plan->L;
    pool = mr_backend_pool(&plan->backend, pool);
    moeroute_status st;
    /* Only the arrays this run touches take part in the checks: with N*K = 0 only the count outputs (and the
     * pad rows of drop & pad) are written, and x is read only when rows with columns are written. */
    mr_view v[MR_RV_COUNT];
    memcpy(v, views, sizeof v);
    if (L == 0) {
        static const int untouched[] = {MR_RV_X, MR_RV_EXPERT, MR_RV_ROW_IDX, MR_RV_SCALE, MR_RV_OFFSET,
                                        MR_RV_OUT_ROW_IDX, MR_RV_OUT_EXPERT};
        for (size_t i = 0; i < sizeof untouched / sizeof untouched[0]; i++) memset(&v[untouched[i]], 0, sizeof v[0]);
        if (!d->drop) memset(&v[MR_RV_OUT_SCALE], 0, sizeof v[0]), memset(&v[MR_RV_OUT_X], 0, sizeof v[0]);
    }
    if (H == 0 || plan->rows_limit == 0) memset(&v[MR_RV_X], 0, sizeof v[0]);

    /* 1. pointers, workspace, aliasing: nothing is written before every check has passed */
    if ((st = mr_views_check_data(api, v, mr_route_slot_names, MR_RV_COUNT)) != MOEROUTE_OK) return st;
    if (L && workspace_size < plan->ws.size)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace of %zu bytes is smaller than the %zu bytes required",
                       api, workspace_size, plan->ws.size);
    if (L && !workspace)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace is NULL but %zu bytes are required", api, plan->ws.size);
    if ((st = mr_views_check_disjoint(api, v, mr_route_slot_names, MR_RV_COUNT, MR_RV_FIRST_OUTPUT, workspace,
                                      L ? plan->ws.size : 0)) != MOEROUTE_OK)
        return st;
    if (L == 0) { /* N = 0 or K = 0: only the count outputs (zero) and the pad rows of drop & pad exist */
        if (d->count_kind != MR_COUNT_NONE) mr_write_counts(plan, NULL, &v[MR_RV_OUT_COUNT]);
        if (d->before_capacity) memset(v[MR_RV_OUT_BEFORE].data, 0, (size_t)d->experts * sizeof(int32_t));
        mr_pad_rows(plan, v, NULL);
        return MOEROUTE_OK;
    }
    char *ws = (char *)workspace + ((MR_WS_ALIGN - (uintptr_t)workspace % MR_WS_ALIGN) % MR_WS_ALIGN);

    /* 2. flatten the index inputs and check the data */
    const int32_t *keys = NULL;
    if ((st = mr_flat_keys(api, (int32_t *)(ws + plan->ws.keys), &v[MR_RV_EXPERT], N, K, &keys)) != MOEROUTE_OK)
        return st;
    const int32_t *rows = NULL;
    if (d->variant == MR_ROUTE_V1) {
        if (mr_view_present(&v[MR_RV_ROW_IDX])) {
            rows = mr_flat_i32((int32_t *)(ws + plan->ws.rows), &v[MR_RV_ROW_IDX], N, K);
            if ((st = mr_check_permutation(api, rows, K, L, (uint64_t *)(ws + plan->ws.bitmap))) != MOEROUTE_OK)
                return st;
        } else { /* canonical layout row_idx[r][j] = j*N + r */
            int32_t *canon = (int32_t *)(ws + plan->ws.rows);
            size_t f = 0;
            for (int64_t t = 0; t < N; t++)
                for (int64_t j = 0; j < K; j++) canon[f++] = (int32_t)(j * N + t);
            rows = canon;
        }
    }
    if (d->check_ids && (st = mr_check_ids(api, keys, K, L, d->experts)) != MOEROUTE_OK) return st;
    mr_quant_params qp = plan->quant;
    if (d->transform == MR_ROW_STATIC && d->static_from_views)
        mr_quant_params_init(&qp, (double)mr_view_f32(&v[MR_RV_SCALE], 0), (double)mr_view_f32(&v[MR_RV_OFFSET], 0));

    /* 3. route-sort */
    uint32_t *perm = (uint32_t *)(ws + plan->ws.perm);
    mr_route_sort_args sa = {keys, L, d->variant == MR_ROUTE_V3, d->range_lo, d->range_hi - 1, perm,
                             (uint32_t *)(ws + plan->ws.tmp), (uint32_t *)(ws + plan->ws.hist), plan->ws.hist_entries,
                             plan->backend.threads};
    const size_t V = mr_route_sort(plan->backend.sort, &sa, pool);

    /* 4. per-expert counts (V2: [0, E); V3: [lo, hi)) */
    uint32_t *cnt = (uint32_t *)(ws + plan->ws.cnt);
    if (plan->ws.cnt_len) {
        memset(cnt, 0, plan->ws.cnt_len * sizeof *cnt);
        const int32_t base = d->variant == MR_ROUTE_V3 ? d->range_lo : 0;
        for (size_t i = 0; i < V; i++) {
            uint32_t b = (uint32_t)keys[perm[i]] - (uint32_t)base;
            if (b < plan->ws.cnt_len) cnt[b]++;
        }
    }

    /* 5. destination map */
    int32_t *dst = (int32_t *)(ws + plan->ws.dst);
    if (d->variant == MR_ROUTE_V1) {
        for (size_t i = 0; i < L; i++) dst[rows[perm[i]]] = (int32_t)i;
    } else if (d->variant == MR_ROUTE_V2 && d->drop) {
        int64_t first = 0, e_prev = -1;
        for (size_t i = 0; i < L; i++) {
            int32_t e = keys[perm[i]];
            if (e != e_prev) first = (int64_t)i, e_prev = e;
            int64_t rank = (int64_t)i - first;
            dst[perm[i]] = rank < d->capacity ? (int32_t)(e * d->capacity + rank) : -1;
        }
    } else {
        if (V < L)
            for (size_t f = 0; f < L; f++) dst[f] = -1;
        for (size_t i = 0; i < V; i++) dst[perm[i]] = (int32_t)i;
    }

    /* 6. index outputs */
    int32_t *out_row = (int32_t *)v[MR_RV_OUT_ROW_IDX].data;
    if (d->variant == MR_ROUTE_V3 && d->scatter_row_idx) {
        for (size_t i = 0; i < V; i++) out_row[i] = (int32_t)perm[i];
        for (size_t i = V; i < L; i++) out_row[i] = -1;
    } else {
        memcpy(out_row, dst, L * sizeof *dst);
    }
    if (d->variant == MR_ROUTE_V1) {
        int32_t *out_exp = (int32_t *)v[MR_RV_OUT_EXPERT].data;
        for (size_t i = 0; i < L; i++) out_exp[i] = keys[perm[i]];
    }

    /* 7. count outputs */
    if (d->count_kind != MR_COUNT_NONE) mr_write_counts(plan, cnt, &v[MR_RV_OUT_COUNT]);
    if (d->before_capacity) {
        int32_t *o = (int32_t *)v[MR_RV_OUT_BEFORE].data;
        for (int64_t e = 0; e < d->experts; e++) o[e] = (int32_t)cnt[e];
    }

    /* 8. row step */
    const mr_view *sv = &v[MR_RV_SCALE];
    const float *smooth = NULL;
    int64_t pitch = H;
    if (d->transform == MR_ROW_DYNAMIC && d->smooth_rows > 0 && H > 0) {
        if (sv->strides[1] == 1 || H == 1) {
            smooth = (const float *)sv->data;
            pitch = d->smooth_rows > 1 ? sv->strides[0] : 0;
        } else {
            float *packed = (float *)(ws + plan->ws.smooth);
            for (int64_t r = 0; r < d->smooth_rows; r++)
                for (int64_t c = 0; c < H; c++) memcpy(&packed[r * H + c], mr_view_at2(sv, r, c), 4);
            smooth = packed;
        }
    }
    const int64_t limit = d->variant == MR_ROUTE_V3 ? (int64_t)V : plan->rows_limit;
    const mr_view *xv = &v[MR_RV_X];
    const mr_xtype xt = d->xtype;
    mr_row_step rs = {
        .x = xv->data, .n_src = N, .h = H, .x_s0 = xv->strides[0], .x_s1 = xv->strides[1], .x_esize = plan->x_esize,
        .dst = dst, .k = K, .slot_a = d->variant == MR_ROUTE_V1 ? 1 : K, .slot_b = d->variant == MR_ROUTE_V1 ? N : 1,
        .limit = limit, .out = v[MR_RV_OUT_X].data, .out_esize = plan->out_esize,
        .kind = d->transform == MR_ROW_COPY ? MR_ROWS_COPY : d->transform == MR_ROW_STATIC ? MR_ROWS_STATIC : MR_ROWS_DYNAMIC,
        .quant = d->transform == MR_ROW_STATIC ? plan->backend.quant->fn[xt] : NULL, .qp = &qp,
        .absmax = plan->backend.dquant->absmax[xt],
        .dquant = plan->dyn_odd ? plan->backend.dquant->quant_odd[xt] : plan->backend.dquant->quant[xt],
        .smooth = smooth, .smooth_pitch = pitch,
        .slot_expert = d->smooth_rows > 1 ? keys : NULL,
        .smooth_base = d->variant == MR_ROUTE_V3 ? d->range_lo : 0,
        .out_scale = (float *)v[MR_RV_OUT_SCALE].data,
        .carry = d->scale_carry ? sv->data : NULL, .carry_s0 = d->scale_carry ? sv->strides[0] : 0,
        .copy = plan->stream_stores ? plan->backend.copy->copy_stream : plan->backend.copy->copy,
        .stream = plan->stream_stores,
        .rowbuf = (unsigned char *)ws + plan->ws.rowbuf,
        .work = plan->out_bytes + (d->transform != MR_ROW_COPY ? plan->out_bytes * 4 : 0),
    };
    /* rows with columns, carried scales, or dynamic scales (written even when H = 0) */
    if (plan->out_bytes || rs.carry || d->transform == MR_ROW_DYNAMIC) mr_row_step_run(&rs, pool);

    /* 9. pad rows of drop & pad */
    mr_pad_rows(plan, v, cnt);
    return MOEROUTE_OK;
}
