/* Init-routing: stable sort by expert, inverse index map, and the expanded rows (spec 1.4 and 2.2). */
#include <stdatomic.h>
#include <string.h>

#include "common/error.h"
#include "dispatch/cpu.h"
#include "dispatch/dispatch.h"
#include "kernels/sort/expert_sort.h"
#include "operators/init_routing.h"

#define MR_WS_ALIGN 64u
/* Histogram entries in the workspace: at least this many, so id ranges up to 65536 values (any real expert
 * count) use the counting sort; more with more threads, so each chunk of a parallel sort has its own. */
#define MR_HIST_MIN_ENTRIES 65536u
#define MR_HIST_PER_THREAD 4096u
/* Flat positions per chunk below which splitting the sort across threads does not pay. */
#define MR_SORT_MIN_CHUNK 16384u
/* Keeps the per-thread histograms of the workspace bounded on very wide machines. */
#define MR_MAX_PLAN_THREADS 256u
/* Columns handled per step of a row: an L1-sized chunk so the quantized bytes are written K times from cache. */
#define MR_ROW_CHUNK 8192
/* Scratch per worker: a chunk of a strided row gathered in x's dtype (<= 4 bytes) and its quantized bytes.
 * It lives in the workspace rather than on the stack: callers' threads may have small stacks. */
#define MR_ROWBUF_BYTES (MR_ROW_CHUNK * 4 + MR_ROW_CHUNK)
/* Below this much work threads cost more than they give (decode batches). Work counts output bytes, and
 * for the quantizing operator also 4 per element: its arithmetic, not memory, bounds small calls. */
#define MR_PARALLEL_MIN_WORK (256u * 1024u)
#define MR_QUANT_WORK_PER_ELEMENT 4u

size_t mr_xtype_size(mr_xtype t) { return t == MR_X_F32 ? 4 : 2; }

static size_t mr_align_up(size_t v) { return (v + (MR_WS_ALIGN - 1)) & ~(size_t)(MR_WS_ALIGN - 1); }

/* The one place that decides the workspace layout: plan (size reported to the caller) and run (carving)
 * both read it from the plan. Every array is sized for L = n*k <= INT32_MAX, so no product overflows. */
static void mr_workspace_layout(mr_routing_workspace *ws, size_t L, size_t threads)
{
    size_t at = 0;
    if (L == 0) {
        memset(ws, 0, sizeof *ws);
        return;
    }
    ws->keys = at;   at += mr_align_up(L * sizeof(int32_t));
    ws->rows = at;   at += mr_align_up(L * sizeof(int32_t));
    ws->perm = at;   at += mr_align_up(L * sizeof(uint32_t));
    ws->tmp = at;    at += mr_align_up(L * sizeof(uint32_t));
    ws->bitmap = at; at += mr_align_up((L + 63) / 64 * sizeof(uint64_t));
    ws->hist_cap = threads * MR_HIST_PER_THREAD > MR_HIST_MIN_ENTRIES ? threads * MR_HIST_PER_THREAD
                                                                      : MR_HIST_MIN_ENTRIES;
    ws->hist = at;   at += mr_align_up(ws->hist_cap * sizeof(uint32_t));
    ws->rowbuf = at; at += threads * MR_ROWBUF_BYTES; /* per worker: a gathered chunk and its quantized bytes */
    ws->size = at + MR_WS_ALIGN; /* slack so any caller alignment can be rounded up */
}

moeroute_status mr_routing_plan_init(mr_routing_plan *plan, const mr_routing_shape *shape, moeroute_isa isa,
                                     size_t threads, const char *api)
{
    const mr_routing_shape *s = shape;
    if (s->n < 0 || s->k < 0 || s->h < 0)
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: dimensions must be >= 0 (N=%lld, K=%lld, H=%lld)", api,
                       (long long)s->n, (long long)s->k, (long long)s->h);
    if (s->active_num < 0)
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: activeNum must be >= 0, got %lld", api,
                       (long long)s->active_num);
    int64_t L;
    if (mr_mul_i64(s->n, s->k, &L) || L > INT32_MAX)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE,
                       "%s: N*K = %lld*%lld exceeds INT32_MAX; indices are int32 (spec decision 5)", api,
                       (long long)s->n, (long long)s->k);
    int64_t active_tokens = s->active_num < s->n ? s->active_num : s->n;
    int64_t A = active_tokens * s->k; /* <= L */
    size_t out_esize = s->quant ? 1 : mr_xtype_size(s->xtype);
    size_t out_bytes;
    if ((uint64_t)s->h > SIZE_MAX || mr_mul_size((size_t)A, (size_t)s->h, &out_bytes) ||
        mr_mul_size(out_bytes, out_esize, &out_bytes))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: expandedX of %lld x %lld elements does not fit in memory", api,
                       (long long)A, (long long)s->h);

    memset(plan, 0, sizeof *plan);
    plan->shape = *s;
    plan->rows_total = L;
    plan->rows_active = A;
    plan->x_esize = mr_xtype_size(s->xtype);
    plan->out_esize = out_esize;
    plan->out_bytes = out_bytes;
    /* Outputs that would take more than half the last-level cache bypass it: writing them through the cache
     * would first read every destination line and evict the inputs. */
    plan->stream_stores = out_bytes > mr_cpu_llc_bytes() / 2;
    if (s->quant) mr_quant_params_init(&plan->quant, s->scale, s->offset);
    plan->kernels = mr_dispatch_kernels(mr_dispatch_resolve_isa(isa));
    plan->threads = threads > 0 ? threads : 1;
    if (plan->threads > MR_MAX_PLAN_THREADS) plan->threads = MR_MAX_PLAN_THREADS;
    mr_workspace_layout(&plan->ws, (size_t)L, plan->threads);
    return MOEROUTE_OK;
}

/* ---- phase 2 --------------------------------------------------------------------------------------------- */

typedef struct mr_range {
    uintptr_t lo, hi; /* [lo, hi); empty when lo == hi */
} mr_range;

/* Byte range touched by a rows x cols view with element strides s0, s1 starting at base. */
static moeroute_status mr_view_range(const char *api, const char *name, const void *base, int64_t rows,
                                     int64_t cols, int64_t s0, int64_t s1, size_t esize, mr_range *out)
{
    out->lo = out->hi = (uintptr_t)base;
    if (rows == 0 || cols == 0) return MOEROUTE_OK;
    const int64_t dims[2] = {rows, cols}, strides[2] = {s0, s1};
    int64_t lo, hi;
    if (mr_view_span(dims, strides, 2, &lo, &hi))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the strides of %s overflow", api, name);
    int64_t lo_bytes, hi_bytes, end;
    if (mr_add_i64(hi, 1, &end) || mr_mul_i64(lo, (int64_t)esize, &lo_bytes) ||
        mr_mul_i64(end, (int64_t)esize, &hi_bytes))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the extent of %s overflows", api, name);
    uintptr_t below = (uintptr_t)0 - (uintptr_t)lo_bytes; /* lo_bytes <= 0; unsigned negation cannot overflow */
    if (below > (uintptr_t)base || (uintptr_t)hi_bytes > UINTPTR_MAX - (uintptr_t)base)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the extent of %s does not fit in the address space", api, name);
    out->lo = (uintptr_t)base - below;
    out->hi = (uintptr_t)base + (uintptr_t)hi_bytes;
    return MOEROUTE_OK;
}

static int mr_ranges_overlap(mr_range a, mr_range b) { return a.lo < a.hi && b.lo < b.hi && a.lo < b.hi && b.lo < a.hi; }

static moeroute_status mr_check_aliasing(const char *api, const mr_range *r, const char *const *names, size_t ninputs,
                                         size_t ntotal)
{
    /* Outputs (and the workspace) are the entries from ninputs on; each must be disjoint from all others. */
    for (size_t o = ninputs; o < ntotal; o++)
        for (size_t other = 0; other < ntotal; other++)
            if (other != o && mr_ranges_overlap(r[o], r[other]))
                return mr_fail(MOEROUTE_ERR_ALIASING, "%s: %s overlaps %s", api, names[o], names[other]);
    return MOEROUTE_OK;
}

/* Pack a strided [n, k] int32 view into a flat row-major array (f = r*k + j). */
static void mr_pack_i32(int32_t *dst, const int32_t *src, int64_t n, int64_t k, int64_t s0, int64_t s1)
{
    size_t f = 0;
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < k; j++) dst[f++] = src[r * s0 + j * s1];
}

static const int32_t *mr_flat_i32(int32_t *scratch, const int32_t *src, int64_t n, int64_t k, int64_t s0, int64_t s1)
{
    if ((s1 == 1 || k <= 1) && (s0 == k || n <= 1)) return src; /* already row-major contiguous */
    mr_pack_i32(scratch, src, n, k, s0, s1);
    return scratch;
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

typedef struct mr_scatter_job {
    const mr_routing_plan *plan;
    const mr_routing_io *io;
    size_t rows_per_task;
    unsigned char *rowbuf; /* MR_ROWBUF_BYTES per worker, 64-byte aligned */
} mr_scatter_job;

/* Gather up to n elements of a strided row into a contiguous buffer. */
static void mr_gather_strided(void *dst, const char *src, size_t n, int64_t stride, size_t esize)
{
    if (esize == 2) {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) memcpy(&d[i], src + (int64_t)i * stride * 2, 2);
    } else {
        uint32_t *d = dst;
        for (size_t i = 0; i < n; i++) memcpy(&d[i], src + (int64_t)i * stride * 4, 4);
    }
}

/* Source row s goes to the expanded rows i = expanded_row_idx[s + j*N] (j < K) that are < A: every rowIdx
 * value v with v mod N == s is one of those, so each source row is read (and quantized) once and written
 * to its K destinations. */
static void mr_scatter_rows(void *ctx, size_t task, size_t worker)
{
    const mr_scatter_job *job = ctx;
    const mr_routing_plan *p = job->plan;
    const mr_routing_io *io = job->io;
    const int64_t N = p->shape.n, K = p->shape.k, H = p->shape.h, A = p->rows_active;
    const size_t xes = p->x_esize, oes = p->out_esize;
    const int32_t *inv = io->expanded_row_idx;
    char *out = io->expanded_x;
    const mr_copy_fn copy = p->stream_stores ? p->kernels->copy_stream : p->kernels->copy;
    const mr_quant_fn quant = p->shape.quant ? p->kernels->quant[p->shape.xtype] : NULL;
    unsigned char *gathered = job->rowbuf + worker * MR_ROWBUF_BYTES;
    int8_t *quantized = (int8_t *)(gathered + MR_ROW_CHUNK * 4);

    size_t s_begin = task * job->rows_per_task;
    size_t s_end = s_begin + job->rows_per_task < (size_t)N ? s_begin + job->rows_per_task : (size_t)N;
    for (size_t s = s_begin; s < s_end; s++) {
        int64_t ndest = 0, first = -1;
        for (int64_t j = 0; j < K; j++) {
            int32_t i = inv[(int64_t)s + j * N];
            if (i < A) {
                ndest++;
                if (first < 0) first = i;
            }
        }
        if (ndest == 0) continue;
        const char *xrow = (const char *)io->x + (int64_t)s * io->x_s0 * (int64_t)xes;
        for (int64_t c = 0; c < H; c += MR_ROW_CHUNK) {
            size_t len = (size_t)(H - c < MR_ROW_CHUNK ? H - c : MR_ROW_CHUNK);
            const void *src = xrow + c * io->x_s1 * (int64_t)xes;
            if (io->x_s1 != 1) {
                mr_gather_strided(gathered, src, len, io->x_s1, xes);
                src = gathered;
            }
            size_t bytes = len * oes;
            if (quant) {
                if (ndest == 1 && !p->stream_stores) { /* one copy: quantize straight into place */
                    quant(src, (int8_t *)out + first * H + c, len, &p->quant);
                    continue;
                }
                quant(src, quantized, len, &p->quant);
                src = quantized;
            }
            for (int64_t j = 0; j < K; j++) {
                int32_t i = inv[(int64_t)s + j * N];
                if (i < A) copy(out + ((size_t)i * (size_t)H + (size_t)c) * oes, src, bytes);
            }
        }
    }
    if (p->stream_stores) atomic_thread_fence(memory_order_seq_cst); /* orders this task's streaming stores */
}

/* A NULL pool or a single task runs on the caller with no synchronization. */
static void mr_run_tasks(mr_pool *pool, mr_pool_task_fn fn, void *ctx, size_t tasks)
{
    if (tasks == 1 || mr_pool_threads(pool) <= 1) {
        for (size_t t = 0; t < tasks; t++) fn(ctx, t, 0);
    } else {
        mr_pool_parallelize(pool, fn, ctx, tasks);
    }
}

typedef struct mr_sort_job {
    const int32_t *keys, *rows;
    const mr_routing_io *io;
    uint32_t *hist; /* chunks x range */
    int32_t lo, hi;
    size_t n, range, chunks, chunk_len;
} mr_sort_job;

static void mr_sort_bounds(const mr_sort_job *j, size_t chunk, size_t *begin, size_t *end)
{
    size_t b = chunk * j->chunk_len;
    *begin = b < j->n ? b : j->n;
    *end = j->n - *begin > j->chunk_len ? *begin + j->chunk_len : j->n;
}

static void mr_sort_histogram_task(void *ctx, size_t chunk, size_t worker)
{
    (void)worker;
    const mr_sort_job *j = ctx;
    size_t begin, end;
    mr_sort_bounds(j, chunk, &begin, &end);
    mr_i32_histogram__scalar(j->keys + begin, end - begin, j->lo, j->range, j->hist + chunk * j->range);
}

static void mr_sort_scatter_task(void *ctx, size_t chunk, size_t worker)
{
    (void)worker;
    const mr_sort_job *j = ctx;
    size_t begin, end;
    mr_sort_bounds(j, chunk, &begin, &end);
    mr_i32_rank_scatter__scalar(j->keys, j->rows, begin, end, j->lo, j->hist + chunk * j->range,
                                j->io->expanded_expert_idx, j->io->expanded_row_idx);
}

moeroute_status mr_routing_run(const mr_routing_plan *plan, const mr_routing_io *io, void *workspace,
                               size_t workspace_size, mr_pool *pool, const char *api)
{
    const int64_t N = plan->shape.n, K = plan->shape.k, H = plan->shape.h;
    const size_t L = (size_t)plan->rows_total;
    const int64_t A = plan->rows_active;
    /* The workspace holds scratch for plan->threads workers; a larger pool (never given by this library's
     * callers, which plan with the pool they run on) would index past it, so it runs serially instead. */
    if (mr_pool_threads(pool) > plan->threads) pool = NULL;

    /* 1. pointers: an array may be NULL only when it has no elements */
    int need_x = A > 0 && H > 0;
    if ((need_x && !io->x) || (L && !io->expert) || (L && !io->canonical_rows && !io->row_idx) ||
        (plan->out_bytes && !io->expanded_x) || (L && (!io->expanded_row_idx || !io->expanded_expert_idx)))
        return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: a non-empty tensor has a NULL data address", api);
    if (L && workspace_size < plan->ws.size)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace of %zu bytes is smaller than the %zu bytes required",
                       api, workspace_size, plan->ws.size);
    if (L && !workspace)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace is NULL but %zu bytes are required", api,
                       plan->ws.size);

    /* 2. aliasing: outputs and workspace must be disjoint from everything else */
    static const char *const names[] = {"x", "expertIdx", "rowIdx", "expandedX", "expandedRowIdx",
                                        "expandedExpertIdx", "workspace"};
    mr_range r[7];
    moeroute_status st;
    /* x is read only when rows are written; the index inputs only when L > 0 */
    if ((st = mr_view_range(api, "x", io->x, need_x ? N : 0, H, io->x_s0, io->x_s1, plan->x_esize, &r[0])) !=
            MOEROUTE_OK ||
        (st = mr_view_range(api, "expertIdx", io->expert, N, K, io->expert_s0, io->expert_s1, 4, &r[1])) !=
            MOEROUTE_OK ||
        (st = mr_view_range(api, "rowIdx", io->canonical_rows ? NULL : io->row_idx, io->canonical_rows ? 0 : N, K,
                            io->row_s0, io->row_s1, 4, &r[2])) != MOEROUTE_OK)
        return st;
    r[3] = (mr_range){(uintptr_t)io->expanded_x, (uintptr_t)io->expanded_x + plan->out_bytes};
    r[4] = (mr_range){(uintptr_t)io->expanded_row_idx, (uintptr_t)io->expanded_row_idx + L * 4};
    r[5] = (mr_range){(uintptr_t)io->expanded_expert_idx, (uintptr_t)io->expanded_expert_idx + L * 4};
    r[6] = (mr_range){(uintptr_t)workspace, (uintptr_t)workspace + (L ? plan->ws.size : 0)};
    if ((st = mr_check_aliasing(api, r, names, 3, 7)) != MOEROUTE_OK) return st;
    if (L == 0) return MOEROUTE_OK; /* N = 0 or K = 0: every output is empty */

    /* 3. flatten the index inputs and validate rowIdx, still without touching any output */
    char *ws = (char *)workspace + ((MR_WS_ALIGN - (uintptr_t)workspace % MR_WS_ALIGN) % MR_WS_ALIGN);
    const int32_t *keys = mr_flat_i32((int32_t *)(ws + plan->ws.keys), io->expert, N, K, io->expert_s0,
                                      io->expert_s1);
    const int32_t *rows;
    if (io->canonical_rows) {
        int32_t *canon = (int32_t *)(ws + plan->ws.rows);
        size_t f = 0;
        for (int64_t t = 0; t < N; t++)
            for (int64_t j = 0; j < K; j++) canon[f++] = (int32_t)(j * N + t);
        rows = canon;
    } else {
        rows = mr_flat_i32((int32_t *)(ws + plan->ws.rows), io->row_idx, N, K, io->row_s0, io->row_s1);
        if ((st = mr_check_permutation(api, rows, K, L, (uint64_t *)(ws + plan->ws.bitmap))) != MOEROUTE_OK)
            return st;
    }

    /* 4. stable sort by expert, writing both index outputs as positions are placed */
    mr_sort_job sj = {keys, rows, io, (uint32_t *)(ws + plan->ws.hist), 0, 0, L, 0, 0, 0};
    mr_i32_minmax__scalar(keys, L, &sj.lo, &sj.hi);
    uint64_t range = (uint64_t)((int64_t)sj.hi - (int64_t)sj.lo) + 1u;
    if (range <= plan->ws.hist_cap) {
        size_t chunks = plan->threads < mr_pool_threads(pool) ? plan->threads : mr_pool_threads(pool);
        if (chunks > L / MR_SORT_MIN_CHUNK) chunks = L / MR_SORT_MIN_CHUNK;
        if (chunks > plan->ws.hist_cap / range) chunks = plan->ws.hist_cap / (size_t)range;
        if (chunks < 1) chunks = 1;
        sj.range = (size_t)range;
        sj.chunks = chunks;
        sj.chunk_len = (L + chunks - 1) / chunks;
        mr_run_tasks(pool, mr_sort_histogram_task, &sj, chunks);
        uint32_t running = 0; /* bucket-major, chunk-minor: equal ids keep chunk order, hence flat order */
        for (size_t b = 0; b < sj.range; b++)
            for (size_t c = 0; c < chunks; c++) {
                uint32_t *h = &sj.hist[c * sj.range + b], count = *h;
                *h = running;
                running += count;
            }
        mr_run_tasks(pool, mr_sort_scatter_task, &sj, chunks);
    } else {
        uint32_t *perm = (uint32_t *)(ws + plan->ws.perm);
        mr_i32_radix_argsort__scalar(keys, L, perm, (uint32_t *)(ws + plan->ws.tmp), sj.hist);
        for (size_t i = 0; i < L; i++) {
            uint32_t f = perm[i];
            io->expanded_expert_idx[i] = keys[f];
            io->expanded_row_idx[rows[f]] = (int32_t)i;
        }
    }

    /* 5. expanded rows */
    if (plan->out_bytes == 0) return MOEROUTE_OK;
    size_t work = plan->out_bytes + (plan->shape.quant ? plan->out_bytes * MR_QUANT_WORK_PER_ELEMENT : 0);
    size_t tasks = work < MR_PARALLEL_MIN_WORK ? 1 : mr_pool_threads(pool) * 8;
    if (tasks > (size_t)N) tasks = (size_t)N;
    mr_scatter_job job = {plan, io, ((size_t)N + tasks - 1) / tasks, (unsigned char *)ws + plan->ws.rowbuf};
    mr_run_tasks(pool, mr_scatter_rows, &job, ((size_t)N + job.rows_per_task - 1) / job.rows_per_task);
    return MOEROUTE_OK;
}
