/* Row plumbing of the element-wise expert-MLP operators (dynamic_quant_rows.h). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "kernels/accumulate/accumulate.h"
#include "operators/dynamic_quant_rows.h"

/* Below this many element operations a call runs on the calling thread. */
#define MR_MLP_PARALLEL_MIN_WORK (64 * 1024)

static size_t mr_mlp_align(size_t v) { return (v + (MR_MLP_ALIGN - 1)) & ~(size_t)(MR_MLP_ALIGN - 1); }

moeroute_status mr_mlp_ws_init(mr_mlp_ws *w, size_t threads, int64_t floats, int64_t groups, const char *api)
{
    memset(w, 0, sizeof *w);
    w->threads = threads < 1 ? 1 : threads;
    size_t block, blocks, ends;
    if (floats < 0 || groups < 0 || (uint64_t)floats > SIZE_MAX / 8 || (uint64_t)groups > SIZE_MAX / 16 ||
        mr_mul_size((size_t)floats, sizeof(float), &block) || (block = mr_mlp_align(block)) < (size_t)floats ||
        mr_mul_size(block, w->threads, &blocks) || mr_mul_size((size_t)groups, sizeof(int64_t), &ends) ||
        mr_add_size(blocks, mr_mlp_align(ends), &w->size) || mr_add_size(w->size, MR_MLP_ALIGN, &w->size))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the scratch of %lld floats per thread does not fit in memory", api,
                       (long long)floats);
    w->block_bytes = block;
    w->ends_at = blocks;
    return MOEROUTE_OK;
}

/* MOEROUTE_ERR_WORKSPACE (message) when the workspace is missing or short; else the aligned base in *base. */
static moeroute_status mr_mlp_ws_take(const mr_mlp_ws *w, void *workspace, size_t workspace_size, char **base,
                                      const char *api)
{
    if (workspace_size < w->size)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace of %zu bytes is smaller than the %zu bytes required", api,
                       workspace_size, w->size);
    if (!workspace)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace is NULL but %zu bytes are required", api, w->size);
    *base = (char *)workspace + ((MR_MLP_ALIGN - (uintptr_t)workspace % MR_MLP_ALIGN) % MR_MLP_ALIGN);
    return MOEROUTE_OK;
}

moeroute_status mr_mlp_run_begin(const mr_mlp_ws *w, const mr_view *views, const char *const *names, size_t n,
                                 size_t first_output, void *workspace, size_t workspace_size, char **base,
                                 const char *api)
{
    moeroute_status st;
    if ((st = mr_views_check_data(api, views, names, n)) != MOEROUTE_OK ||
        (st = mr_mlp_ws_take(w, workspace, workspace_size, base, api)) != MOEROUTE_OK)
        return st;
    return mr_views_check_disjoint(api, views, names, n, first_output, workspace, w->size);
}

int64_t mr_nd_offset(const int64_t *dims, const int64_t *strides, uint32_t n, int64_t flat)
{
    int64_t off = 0;
    for (uint32_t d = n; d-- > 0;) {
        if (dims[d] <= 0) return off;
        off += (flat % dims[d]) * strides[d];
        flat /= dims[d];
    }
    return off;
}

const char *mr_view_row(const mr_view *v, int64_t r, int64_t *col_stride)
{
    if (v->ndim == 0 || !v->data) { /* absent or empty: nothing is read through it */
        *col_stride = 1;
        return v->data;
    }
    *col_stride = v->strides[v->ndim - 1];
    return v->data + mr_nd_offset(v->dims, v->strides, v->ndim - 1, r) * (int64_t)v->esize;
}

const char *mr_view_flat(const mr_view *v, int64_t flat)
{
    if (!v->data) return NULL;
    return v->data + mr_nd_offset(v->dims, v->strides, v->ndim, flat) * (int64_t)v->esize;
}

const float *mr_mlp_load_row(const mr_mlp_config *k, const mr_view *v, int64_t r, mr_xtype t, float *d, size_t n)
{
    int64_t cs;
    const char *src = mr_view_row(v, r, &cs);
    if (cs == 1 && t == MR_X_F32) return (const float *)(const void *)src;
    if (cs == 1) k->widen[t](src, d, n);
    else mr_acc_widen__scalar(d, src, cs, n, t);
    return d;
}

typedef struct mr_mlp_job {
    mr_mlp_row_fn fn;
    const void *ctx;
    const mr_mlp_ws *w;
    char *base;
    int64_t rows, per_task;
} mr_mlp_job;

static void mr_mlp_task(void *ctx, size_t task, size_t worker)
{
    const mr_mlp_job *j = ctx;
    const int64_t begin = (int64_t)task * j->per_task;
    const int64_t end = begin + j->per_task < j->rows ? begin + j->per_task : j->rows;
    j->fn(j->ctx, begin, end, (float *)(void *)(j->base + worker * j->w->block_bytes));
}

void mr_mlp_rows_run(mr_pool *pool, int64_t rows, int64_t work_per_row, const mr_mlp_ws *w, char *base,
                     mr_mlp_row_fn fn, const void *ctx)
{
    if (rows <= 0) return;
    int64_t work;
    if (mr_mul_i64(rows, work_per_row < 1 ? 1 : work_per_row, &work)) work = INT64_MAX;
    size_t threads = mr_pool_threads(pool);
    if (threads > w->threads) pool = NULL, threads = 1; /* scratch was sized for w->threads */
    size_t tasks = work < MR_MLP_PARALLEL_MIN_WORK ? 1 : threads * 4;
    if (tasks > (size_t)rows) tasks = (size_t)rows;
    mr_mlp_job j = {fn, ctx, w, base, rows, (rows + (int64_t)tasks - 1) / (int64_t)tasks};
    const size_t ntasks = (size_t)((rows + j.per_task - 1) / j.per_task);
    mr_pool_parallelize(ntasks == 1 ? NULL : pool, mr_mlp_task, &j, ntasks);
}

moeroute_status mr_mlp_group_ends(const mr_view *gi, int64_t groups, int counts, int64_t rows, int exact_total,
                                  int64_t *ends, const char *name, const char *api)
{
    int64_t prev = 0;
    for (int64_t g = 0; g < groups; g++) {
        const int64_t v = mr_view_int_at(gi->data + g * gi->strides[0] * (int64_t)gi->esize, gi->esize);
        if (v < 0)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: %s[%lld] = %lld is negative", api, name, (long long)g,
                           (long long)v);
        if (!counts && v < prev)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: %s[%lld] = %lld is below %s[%lld] = %lld; the end offsets must not decrease", api,
                           name, (long long)g, (long long)v, name, (long long)(g - 1), (long long)prev);
        const int64_t end = counts ? prev + v : v;
        if (v > rows || end > rows)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: %s reaches row %lld at position %lld, beyond the %lld rows",
                           api, name, (long long)end, (long long)g, (long long)rows);
        ends[g] = prev = end;
    }
    if (exact_total && prev != rows)
        return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                       "%s: %s ends at row %lld but x has %lld rows; the last end offset must equal the row count",
                       api, name, (long long)prev, (long long)rows);
    return MOEROUTE_OK;
}

int64_t mr_mlp_group_of(const int64_t *ends, int64_t groups, int64_t r)
{
    int64_t lo = 0, hi = groups;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (r < ends[mid]) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

int mr_mlp_poison_unwritten(void)
{
    const char *env = getenv("MOEROUTE_POISON_UNWRITTEN");
    return env && env[0] == '1' && env[1] == 0;
}
