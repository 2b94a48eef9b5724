/* Route-sort: stable counting sort with a radix fallback (docs/operators/shared_steps.md "route-sort"). */
#include "operators/steps/route_sort.h"

/* At least this many entries so id ranges up to 65536 values (any real expert count) use the counting sort;
 * more with more threads, so each chunk of a parallel sort has its own histogram. */
#define MR_HIST_MIN_ENTRIES 65536u
#define MR_HIST_PER_THREAD 4096u
/* Flat positions per chunk below which splitting the sort across threads does not pay. */
#define MR_SORT_MIN_CHUNK 16384u

size_t mr_route_sort_hist_entries(size_t threads)
{
    return threads * MR_HIST_PER_THREAD > MR_HIST_MIN_ENTRIES ? threads * MR_HIST_PER_THREAD : MR_HIST_MIN_ENTRIES;
}

typedef struct mr_sort_job {
    const mr_sort_config *k;
    const mr_route_sort_args *a;
    int32_t lo;
    size_t range, chunk_len;
} mr_sort_job;

static void mr_chunk_bounds(const mr_sort_job *j, size_t chunk, size_t *begin, size_t *end)
{
    size_t b = chunk * j->chunk_len, n = j->a->L;
    *begin = b < n ? b : n;
    *end = n - *begin > j->chunk_len ? *begin + j->chunk_len : n;
}

static void mr_histogram_task(void *ctx, size_t chunk, size_t worker)
{
    (void)worker;
    const mr_sort_job *j = ctx;
    size_t begin, end;
    mr_chunk_bounds(j, chunk, &begin, &end);
    j->k->histogram(j->a->keys + begin, end - begin, j->lo, j->range, j->a->hist + chunk * j->range);
}

static void mr_rank_task(void *ctx, size_t chunk, size_t worker)
{
    (void)worker;
    const mr_sort_job *j = ctx;
    size_t begin, end;
    mr_chunk_bounds(j, chunk, &begin, &end);
    j->k->rank(j->a->keys, begin, end, j->lo, j->range, j->a->hist + chunk * j->range, j->a->perm);
}

size_t mr_route_sort(const mr_sort_config *k, const mr_route_sort_args *a, mr_pool *pool)
{
    const size_t L = a->L;
    if (L == 0) return 0;
    int32_t lo = a->lo, hi = a->hi;
    if (!a->filter) k->minmax(a->keys, L, &lo, &hi);
    if (lo > hi) return 0;
    uint64_t range = (uint64_t)((int64_t)hi - (int64_t)lo) + 1u;
    if (range <= a->hist_entries) {
        size_t chunks = a->threads < mr_pool_threads(pool) ? a->threads : mr_pool_threads(pool);
        if (chunks > L / MR_SORT_MIN_CHUNK) chunks = L / MR_SORT_MIN_CHUNK;
        if (chunks > a->hist_entries / range) chunks = a->hist_entries / (size_t)range;
        if (chunks < 1) chunks = 1;
        mr_sort_job j = {k, a, lo, (size_t)range, (L + chunks - 1) / chunks};
        mr_pool_parallelize(pool, mr_histogram_task, &j, chunks);
        uint32_t running = 0; /* bucket-major, chunk-minor: equal ids keep chunk order, hence flat order */
        for (size_t b = 0; b < j.range; b++)
            for (size_t c = 0; c < chunks; c++) {
                uint32_t *h = &a->hist[c * j.range + b], count = *h;
                *h = running;
                running += count;
            }
        mr_pool_parallelize(pool, mr_rank_task, &j, chunks);
        return running;
    }
    /* Wide ids: radix over the kept positions (compacted into tmp first when filtering; the radix kernel may
     * read its positions from its own tmp buffer). */
    const uint32_t *pos = NULL;
    size_t n = L;
    if (a->filter) {
        n = 0;
        for (size_t f = 0; f < L; f++)
            if (a->keys[f] >= lo && a->keys[f] <= hi) a->tmp[n++] = (uint32_t)f;
        pos = a->tmp;
    }
    k->radix(a->keys, pos, n, a->perm, a->tmp, a->hist);
    return n;
}
