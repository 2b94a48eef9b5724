/* Route-sort step (docs/operators/shared_steps.md): the stable ascending order of the flat positions of an
 * int32 key array, optionally keeping only keys in [lo, hi]. Counting sort, parallel over chunks when the key
 * range fits the histogram, LSD radix otherwise. Writes only the caller's workspace arrays. */
#ifndef MR_OPERATORS_STEPS_ROUTE_SORT_H
#define MR_OPERATORS_STEPS_ROUTE_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "dispatch/dispatch.h"
#include "threadpool/threadpool.h"

/* Histogram entries the workspace holds for `threads` threads. */
size_t mr_route_sort_hist_entries(size_t threads);

typedef struct mr_route_sort_args {
    const int32_t *keys; /* [L] */
    size_t L;
    int filter;          /* 1: keep only keys in [lo, hi]; 0: every key */
    int32_t lo, hi;
    uint32_t *perm;      /* [L] out: perm[0 .. V) */
    uint32_t *tmp;       /* [L] scratch */
    uint32_t *hist;      /* [hist_entries] scratch */
    size_t hist_entries;
    size_t threads;      /* chunks at most */
} mr_route_sort_args;

/* Returns V, the number of positions kept. */
size_t mr_route_sort(const mr_sort_config *k, const mr_route_sort_args *a, mr_pool *pool);

#endif /* MR_OPERATORS_STEPS_ROUTE_SORT_H */
