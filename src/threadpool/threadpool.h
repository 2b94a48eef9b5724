/* A small fork-join thread pool (pthreadpool-style). The caller thread takes part in every job, so a pool of
 * T threads starts T-1 workers. A NULL pool means "serial on the caller". */
#ifndef MR_THREADPOOL_H
#define MR_THREADPOOL_H

#include <stddef.h>

typedef struct mr_pool mr_pool;

/* Create a pool of `threads` threads including the caller (threads >= 1). threads == 1 creates no worker.
 * Returns NULL when memory or thread creation fails (nothing leaks then). */
mr_pool *mr_pool_create(size_t threads);

/* Stop and join the workers. NULL is a no-op. Must not be called while a job runs. In the child of a fork the
 * parent's pools have no workers: they run jobs serially on the caller, and destroying one only frees it. */
void mr_pool_destroy(mr_pool *pool);

/* How many forks this process descends from since the library was loaded (0 in the original process): a pool
 * remembers it, so a child can tell the parent's pools from its own. */
unsigned mr_pool_fork_generation(void);

/* Number of threads including the caller; 1 for NULL. */
size_t mr_pool_threads(const mr_pool *pool);

/* Stands for:  for (size_t task = 0; task < ntasks; task++) fn(ctx, task, worker);
 * Tasks are claimed dynamically by the pool's threads; `worker` (0 .. mr_pool_threads()-1) names the thread
 * running the task, for per-thread scratch. Returns when every task has finished; all their memory
 * effects are visible to the caller then. Calls from several threads on one pool are serialized.
 * fn must not call back into the same pool. */
typedef void (*mr_pool_task_fn)(void *ctx, size_t task, size_t worker);
void mr_pool_parallelize(mr_pool *pool, mr_pool_task_fn fn, void *ctx, size_t ntasks);

/* Default thread count: MOEROUTE_NUM_THREADS if set to a positive integer, else the CPUs this process may
 * run on (sched_getaffinity), at least 1 and at most MOEROUTE_MAX_THREADS (moeroute.h). */
size_t mr_default_thread_count(void);

#endif /* MR_THREADPOOL_H */
