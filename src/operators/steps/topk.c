/* Top-k selection step (topk.h). A candidate is one 64-bit number, key << 32 | (UINT32_MAX - i), so "larger
 * number first" is exactly the selection order and no two candidates compare equal. Small k (gating runs
 * k = 1..32 over a few hundred experts) insert into a sorted buffer -- for k <= 16 only the few keys a lower
 * bound of the k-th largest leaves; larger k sort every candidate. */
#include <stdlib.h>

#include "operators/steps/topk.h"

#define MR_TOPK_INSERT_MAX 32

static int mr_topk_desc(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Insert candidate i into the sorted buffer buf[0..*cnt) of capacity k. */
static inline void mr_topk_insert(uint64_t *buf, int64_t *cnt, int64_t k, uint32_t key, int64_t i)
{
    const uint64_t c = (uint64_t)key << 32 | (uint32_t)(UINT32_MAX - (uint32_t)i);
    int64_t pos;
    if (*cnt == k) {
        if (c < buf[k - 1]) return;
        pos = k - 1;
    } else {
        pos = (*cnt)++;
    }
    for (; pos > 0 && buf[pos - 1] < c; pos--) buf[pos] = buf[pos - 1];
    buf[pos] = c;
}

/* k <= 16 <= n. Only keys at or above the kernels' lower bound of the k-th largest key can be selected:
 * typically k and a few more, found by one vectorized scan and inserted in index order. */
static void mr_topk_small(const mr_select_config *sel, const uint32_t *key, int64_t n, int64_t k, uint64_t *buf,
                          uint32_t *cand)
{
    int64_t cnt = 0;
    const size_t c = sel->scan(key, (size_t)n, sel->bound(key, (size_t)n, (size_t)k), cand);
    for (size_t j = 0; j < c; j++) mr_topk_insert(buf, &cnt, k, key[cand[j]], cand[j]);
}

void mr_topk_select(const mr_select_config *sel, const uint32_t *key, int64_t n, int64_t k, int32_t *idx,
                    uint64_t *buf, uint32_t *cand)
{
    if (k <= 0) return;
    if (k <= 16 && n >= 32) {
        mr_topk_small(sel, key, n, k, buf, cand);
    } else if (k <= MR_TOPK_INSERT_MAX) {
        int64_t cnt = 0;
        for (int64_t i = 0; i < n; i++) mr_topk_insert(buf, &cnt, k, key[i], i);
    } else {
        for (int64_t i = 0; i < n; i++) buf[i] = (uint64_t)key[i] << 32 | (uint32_t)(UINT32_MAX - (uint32_t)i);
        qsort(buf, (size_t)n, sizeof *buf, mr_topk_desc);
    }
    for (int64_t j = 0; j < k; j++) idx[j] = (int32_t)(UINT32_MAX - (uint32_t)buf[j]);
}
