/* The CPU backend: every fact about the machine that operator plans use, in one place (docs/framework.md
 * "Backend"): the resolved ISA and its kernel configs per family, the thread count a plan sizes its scratch
 * for, and the cache policy for large outputs. A second backend would provide the same struct. */
#ifndef MR_BACKEND_CPU_BACKEND_H
#define MR_BACKEND_CPU_BACKEND_H

#include <stddef.h>

#include "dispatch/dispatch.h"
#include "threadpool/threadpool.h"

/* Most threads a plan sizes per-thread scratch for; larger pools run such a plan with fewer threads. */
#define MR_BACKEND_MAX_THREADS 256u

typedef struct mr_backend {
    moeroute_isa isa;                /* resolved level, never AUTO */
    size_t threads;                  /* threads the plan may use (1 .. MR_BACKEND_MAX_THREADS) */
    const mr_quant_config *quant;
    const mr_copy_config *copy;
    const mr_dquant_config *dquant;
    const mr_sort_config *sort;
    const mr_act_config *act;
    const mr_select_config *select;
    const mr_mlp_config *mlp;
} mr_backend;

/* Resolve `isa` (AUTO honours MOEROUTE_ISA) and pick every family's config; threads as the pool has. */
void mr_backend_init(mr_backend *b, moeroute_isa isa, size_t threads);

/* Whether an output of `bytes` should bypass the cache: writing it through the cache would first read every
 * destination line and evict the inputs (more than half the last-level cache, and at most 8 MiB). */
int mr_backend_stream_output(size_t bytes);

/* The copy an output of `bytes` is written with: k's streaming copy when mr_backend_stream_output says so (the
 * writer then fences once after its last copy, kernels.h), else its cached copy. */
static inline mr_copy_fn mr_backend_output_copy(const mr_copy_config *k, size_t bytes)
{
    return mr_backend_stream_output(bytes) ? k->copy_stream : k->copy;
}

/* The pool a run may use: pools wider than the plan's thread count (never given by this library's callers)
 * run serially, since per-thread scratch was sized for the plan. */
static inline mr_pool *mr_backend_pool(const mr_backend *b, mr_pool *pool)
{
    return mr_pool_threads(pool) > b->threads ? NULL : pool;
}

#endif /* MR_BACKEND_CPU_BACKEND_H */
