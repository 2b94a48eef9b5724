#include <stdatomic.h>
#include <stdlib.h>

#include "common/alloc.h"

static atomic_long mr_alloc_budget = -1; /* allocations left before injected failures; < 0: unlimited */

static int mr_alloc_allowed(void)
{
    long left = atomic_load_explicit(&mr_alloc_budget, memory_order_relaxed);
    while (left >= 0) {
        if (left == 0) return 0;
        if (atomic_compare_exchange_weak(&mr_alloc_budget, &left, left - 1)) return 1;
    }
    return 1;
}

void *mr_malloc(size_t size) { return mr_alloc_allowed() ? malloc(size) : NULL; }

void *mr_calloc(size_t count, size_t size) { return mr_alloc_allowed() ? calloc(count, size) : NULL; }

void *mr_aligned_alloc(size_t alignment, size_t size) { return mr_alloc_allowed() ? aligned_alloc(alignment, size) : NULL; }

void mr_free(void *p) { free(p); }

void mr_alloc_fail_after(long successes) { atomic_store(&mr_alloc_budget, successes < 0 ? -1 : successes); }
