/* MoeReRouting (layer spec 4.2, decision 13; docs/operators/re_routing.md):
 *
 *   c = expertTokenNumPerRank [R, E];  every c[r][e] >= 0 and their sum == A, else refused (161002)
 *   src(r, e) = rows of the blocks before (r, e) in rank-major order
 *   dst(r, e) = rows of the blocks before (r, e) in expert-major order
 *   for t < c[r][e]:  permuteTokensOut[dst + t] = tokens[src + t]          (bit copy)
 *                     permutePerTokenScalesOut[dst + t] = scales[src + t]  (0.0f without scales)
 *                     permuteTokenIdxOut[dst + t] = src + t
 *   expertTokenNumOut[e] = sum over r of c[r][e]
 *
 * Steps: check the counts -> the blocks in expert-major order (source start, destination start, rows) and the
 * count output -> the rows. Every block is contiguous in the input and in the output, so with row-contiguous
 * tokens the rows move as one copy-kernel call per block (piece), split over the pool by output rows, with the
 * index and scale outputs of those rows; tokens of any other layout go through the row step (one destination
 * per source row, scales carried). */
#include <string.h>

#include <stdatomic.h>

#include "common/error.h"
#include "operators/re_routing.h"
#include "operators/steps/row_step.h"

#define MR_RR_ALIGN 64u
/* Below this many output bytes one thread copies everything (as the row step decides). */
#define MR_RR_PARALLEL_MIN (256u * 1024u)

/* One (source rank, expert) block: rows [src, src + n) of tokens go to rows [dst, dst + n) of the output. */
typedef struct mr_rr_block {
    int64_t dst, src, n;
} mr_rr_block;

static const char *const mr_rr_names[MR_RR_COUNT] = {
    "tokens", "expertTokenNumPerRank", "perTokenScalesOptional", "permuteTokensOut", "permutePerTokenScalesOut",
    "permuteTokenIdxOut", "expertTokenNumOut"};

static size_t mr_rr_align(size_t v) { return (v + (MR_RR_ALIGN - 1)) & ~(size_t)(MR_RR_ALIGN - 1); }

moeroute_status mr_re_routing_plan_init(mr_re_routing_plan *p, int64_t a, int64_t h, int64_t r, int64_t e,
                                        size_t esize, int counts_i64, int has_scales, moeroute_isa isa,
                                        size_t threads, const char *api)
{
    if (a > INT32_MAX)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: A = %lld rows exceeds INT32_MAX; permuteTokenIdxOut is int32",
                       api, (long long)a);
    memset(p, 0, sizeof *p);
    p->a = a, p->h = h, p->r = r, p->e = e, p->esize = esize, p->counts_i64 = counts_i64, p->has_scales = has_scales;
    size_t out_bytes, block_bytes;
    if ((uint64_t)h > SIZE_MAX || mr_mul_size((size_t)a, (size_t)h, &out_bytes) ||
        mr_mul_size(out_bytes, esize, &out_bytes) || (uint64_t)r > SIZE_MAX || (uint64_t)e > SIZE_MAX ||
        mr_mul_size((size_t)r, (size_t)e, &block_bytes) || mr_mul_size(block_bytes, sizeof(mr_rr_block), &block_bytes) ||
        block_bytes > SIZE_MAX / 2)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: permuteTokensOut of %lld x %lld elements does not fit in memory",
                       api, (long long)a, (long long)h);
    p->out_bytes = out_bytes;
    mr_backend_init(&p->backend, isa, threads);
    p->stream_stores = mr_backend_stream_output(out_bytes);
    size_t at = 0;
    p->ws_dst = at;    at += mr_rr_align((size_t)a * sizeof(int32_t));
    p->ws_blocks = at; at += mr_rr_align(block_bytes);
    p->ws_rowbuf = at; at += p->backend.threads * MR_ROWBUF_BYTES;
    p->ws_size = at + MR_RR_ALIGN; /* slack so any caller alignment can be rounded up */
    return MOEROUTE_OK;
}

static int64_t mr_rr_count(const mr_view *c, int64_t r, int64_t e)
{
    return mr_view_int_at(mr_view_at2(c, r, e), c->esize);
}

/* Decision 13: every count >= 0 and their sum == A, before any output is written. */
static moeroute_status mr_rr_check_counts(const mr_re_routing_plan *p, const mr_view *c, const char *api)
{
    int64_t sum = 0;
    for (int64_t r = 0; r < p->r; r++)
        for (int64_t e = 0; e < p->e; e++) {
            const int64_t n = mr_rr_count(c, r, e);
            if (n < 0)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: expertTokenNumPerRank[%lld][%lld] = %lld is negative",
                               api, (long long)r, (long long)e, (long long)n);
            if (n > p->a - sum)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                               "%s: expertTokenNumPerRank sums past the %lld rows of tokens at [%lld][%lld]; the "
                               "counts must sum to A", api, (long long)p->a, (long long)r, (long long)e);
            sum += n;
        }
    if (sum != p->a)
        return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                       "%s: expertTokenNumPerRank sums to %lld but tokens has A = %lld rows; the counts must sum to A",
                       api, (long long)sum, (long long)p->a);
    return MOEROUTE_OK;
}

/* The rows of row-contiguous tokens, block by block: a task takes an equal range of output rows and copies the
 * part of every block inside it with one copy-kernel call, writing the index and scale outputs of its rows. */
typedef struct mr_rr_job {
    const mr_re_routing_plan *p;
    const mr_rr_block *blocks;
    const char *tokens;
    char *out;
    const char *scales; /* NULL: the scale output is 0.0f */
    int64_t scale_stride;
    float *out_scales;
    int32_t *out_idx;
    mr_copy_fn copy;
    size_t tasks;
} mr_rr_job;

static void mr_rr_task(void *ctx, size_t task, size_t worker)
{
    (void)worker;
    const mr_rr_job *j = ctx;
    const mr_re_routing_plan *p = j->p;
    const int64_t nb = p->r * p->e, first = p->a * (int64_t)task / (int64_t)j->tasks;
    const int64_t last = p->a * ((int64_t)task + 1) / (int64_t)j->tasks;
    const size_t rb = (size_t)p->h * p->esize;
    int64_t lo = 0, hi = nb; /* the first block that ends after `first` (blocks are in output order) */
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (j->blocks[mid].dst + j->blocks[mid].n <= first) lo = mid + 1;
        else hi = mid;
    }
    for (int64_t b = lo, d = first; b < nb && d < last; b++) {
        const mr_rr_block *k = &j->blocks[b];
        const int64_t end = k->dst + k->n < last ? k->dst + k->n : last, src = k->src + (d - k->dst);
        if (end <= d) continue;
        if (rb) j->copy(j->out + (size_t)d * rb, j->tokens + (size_t)src * rb, (size_t)(end - d) * rb);
        for (int64_t t = 0; t < end - d; t++) {
            j->out_idx[d + t] = (int32_t)(src + t);
            float f = 0.0f;
            if (j->scales) memcpy(&f, j->scales + (src + t) * j->scale_stride * 4, 4);
            j->out_scales[d + t] = f;
        }
        d = end;
    }
    if (p->stream_stores) atomic_thread_fence(memory_order_seq_cst); /* orders this task's streaming stores */
}

static void mr_rr_copy_blocks(const mr_re_routing_plan *p, const mr_view *v, const mr_rr_block *blocks, mr_pool *pool)
{
    if (p->a == 0) return;
    const mr_view *sv = &v[MR_RR_SCALES];
    mr_rr_job j = {p, blocks, v[MR_RR_TOKENS].data, v[MR_RR_OUT_TOKENS].data, p->has_scales ? sv->data : NULL,
                   p->has_scales ? sv->strides[0] : 0, (float *)(void *)v[MR_RR_OUT_SCALES].data,
                   (int32_t *)(void *)v[MR_RR_OUT_IDX].data,
                   p->stream_stores ? p->backend.copy->copy_stream : p->backend.copy->copy, 1};
    if (p->out_bytes >= MR_RR_PARALLEL_MIN) j.tasks = mr_pool_threads(pool) * 8;
    if (j.tasks > (size_t)p->a) j.tasks = (size_t)p->a;
    mr_pool_parallelize(j.tasks == 1 ? NULL : pool, mr_rr_task, &j, j.tasks);
}

moeroute_status mr_re_routing_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                  mr_pool *pool, const char *api)
{
    const mr_re_routing_plan *p = plan;
    pool = mr_backend_pool(&p->backend, pool);
    mr_view v[MR_RR_COUNT];
    memcpy(v, views, sizeof v);
    if (p->a == 0 || p->h == 0) memset(&v[MR_RR_TOKENS], 0, sizeof v[0]); /* no element of tokens is read */
    moeroute_status st;
    if ((st = mr_views_check_data(api, v, mr_rr_names, MR_RR_COUNT)) != MOEROUTE_OK) return st;
    if (workspace_size < p->ws_size)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace of %zu bytes is smaller than the %zu bytes required",
                       api, workspace_size, p->ws_size);
    if (!workspace)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace is NULL but %zu bytes are required", api, p->ws_size);
    if ((st = mr_views_check_disjoint(api, v, mr_rr_names, MR_RR_COUNT, MR_RR_OUT_TOKENS, workspace, p->ws_size)) !=
            MOEROUTE_OK ||
        (st = mr_rr_check_counts(p, &v[MR_RR_COUNTS], api)) != MOEROUTE_OK)
        return st;
    char *ws = (char *)workspace + ((MR_RR_ALIGN - (uintptr_t)workspace % MR_RR_ALIGN) % MR_RR_ALIGN);
    mr_rr_block *blocks = (mr_rr_block *)(void *)(ws + p->ws_blocks); /* expert-major: block (r, e) at e*R + r */
    const mr_view *c = &v[MR_RR_COUNTS];
    int64_t at = 0;
    for (int64_t r = 0; r < p->r; r++) /* source starts: rank-major */
        for (int64_t e = 0; e < p->e; e++) {
            mr_rr_block *b = &blocks[e * p->r + r];
            b->src = at;
            b->n = mr_rr_count(c, r, e);
            at += b->n;
        }
    at = 0;
    for (int64_t e = 0; e < p->e; e++) { /* destination starts: expert-major; the count output */
        const int64_t first = at;
        for (int64_t r = 0; r < p->r; r++) blocks[e * p->r + r].dst = at, at += blocks[e * p->r + r].n;
        if (p->counts_i64) ((int64_t *)(void *)v[MR_RR_OUT_COUNT].data)[e] = at - first;
        else ((int32_t *)(void *)v[MR_RR_OUT_COUNT].data)[e] = (int32_t)(at - first);
    }
    const mr_view *tv = &v[MR_RR_TOKENS];
    const int64_t s0 = tv->ndim ? tv->strides[0] : 0, s1 = tv->ndim > 1 ? tv->strides[1] : 1;
    if (p->out_bytes == 0 || ((s1 == 1 || p->h == 1) && s0 == p->h)) {
        mr_rr_copy_blocks(p, v, blocks, pool);
        return MOEROUTE_OK;
    }
    /* tokens with another layout: the row step, with the destination of every source row */
    int32_t *dst = (int32_t *)(void *)(ws + p->ws_dst), *idx = (int32_t *)(void *)v[MR_RR_OUT_IDX].data;
    for (int64_t b = 0; b < p->r * p->e; b++)
        for (int64_t t = 0; t < blocks[b].n; t++) {
            dst[blocks[b].src + t] = (int32_t)(blocks[b].dst + t);
            idx[blocks[b].dst + t] = (int32_t)(blocks[b].src + t);
        }
    float *out_scales = (float *)(void *)v[MR_RR_OUT_SCALES].data;
    if (!p->has_scales) memset(out_scales, 0, (size_t)p->a * sizeof(float));
    const mr_view *sv = &v[MR_RR_SCALES];
    mr_row_step rs = {
        .x = tv->data, .n_src = p->a, .h = p->h, .x_s0 = s0, .x_s1 = s1, .x_esize = p->esize,
        .dst = dst, .k = 1, .slot_a = 1, .slot_b = 0, .limit = p->a,
        .out = v[MR_RR_OUT_TOKENS].data, .out_esize = p->esize, .kind = MR_ROWS_COPY,
        .out_scale = out_scales,
        .carry = p->has_scales ? sv->data : NULL, .carry_s0 = p->has_scales ? sv->strides[0] : 0,
        .copy = p->stream_stores ? p->backend.copy->copy_stream : p->backend.copy->copy,
        .stream = p->stream_stores,
        .rowbuf = (unsigned char *)ws + p->ws_rowbuf,
        .work = p->out_bytes,
    };
    mr_row_step_run(&rs, pool);
    return MOEROUTE_OK;
}
