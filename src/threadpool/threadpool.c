/* Fork-join thread pool; see threadpool.h for the contract.
 *
 * Protocol (one job at a time; callers are serialized by call_lock):
 *   caller : fills fn/ctx/ntasks, resets next_task and pending, then bumps `generation` under `lock` and
 *            broadcasts `work_cv`; runs tasks itself; then waits until `pending` reaches 0.
 *   worker : sees a new generation, claims tasks with fetch_add(next_task) until they run out, then
 *            decrements `pending` (release). The worker that brings it to 0 signals `done_cv` under `lock`.
 * A worker reads the job fields only between seeing the generation and its decrement of `pending`, and the
 * caller returns only after seeing pending == 0 (acquire), so no worker touches a job once its caller has
 * returned and the next caller may overwrite the fields freely. The last worker's signal happens after the
 * decrement; that is harmless because it touches only pool-lifetime objects (lock, done_cv), which
 * mr_pool_destroy frees only after joining every worker.
 *
 * Every worker checks in for every job, even when there are fewer tasks than threads: letting a worker
 * skip a job would need it to read job fields to learn that, racing with the next job's setup.
 *
 * fork(): the child has the pool's memory but none of its workers (only the forking thread is copied), and a
 * lock may have been copied held. A pthread_atfork child handler bumps a process-wide fork generation; a pool
 * made before the fork (its generation differs) then runs every job serially on the caller without touching
 * its locks, and destroying it frees its memory without waking or joining anyone. The default pool is made
 * anew in the child (default_pool.c). Python's multiprocessing forks by default on Linux, so this is common.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT_S */

#include "common/alloc.h"
#include "common/fpenv.h"
#include "moeroute.h"
#include "threadpool/threadpool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MR_CACHE_LINE 64

/* Spin budget before blocking, in polls. Short: a job here lasts microseconds to milliseconds, so a brief
 * spin hides the futex wake-up latency of back-to-back jobs, while an idle pool goes to sleep within tens
 * of microseconds instead of burning cores other processes need. */
#define MR_SPIN_POLLS 1024
/* Every this many polls the spinner yields the CPU. Without it an oversubscribed machine (more pool threads
 * than cores, e.g. one context per application thread) stalls: a spinning caller or worker holds the core
 * that the thread it waits for needs, for a whole time slice. Measured on 2 cores, 8-task jobs: yielding
 * cut the job latency with 4 threads from ~200 us to ~6 us and changed little with 2. */
#define MR_YIELD_EVERY 16

struct mr_pool {
    /* Read-mostly; fixed after creation. */
    size_t threads;
    unsigned fork_gen; /* mr_pool_fork_generation() when made: another value means "a forked child's copy" */
    size_t started; /* workers actually started (== threads - 1 after a successful create) */
    pthread_t *workers;
    pthread_mutex_t call_lock; /* serializes mr_pool_parallelize callers */
    pthread_mutex_t lock;      /* guards the sleeping/waking of workers and caller */
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    bool stop; /* under lock */

    /* The current job: written by the caller before it publishes the generation (release), read by
     * workers after they acquire it. */
    mr_pool_task_fn fn;
    void *ctx;
    size_t ntasks;

    /* Each shared counter on its own line: next_task is hammered by every thread during a job, pending
     * by workers at its end, generation is polled by spinning idle workers. */
    alignas(MR_CACHE_LINE) atomic_size_t generation; /* stores under lock, loads anywhere */
    alignas(MR_CACHE_LINE) atomic_size_t next_task;
    alignas(MR_CACHE_LINE) atomic_size_t pending; /* workers yet to finish the current job */
};

typedef struct {
    mr_pool *pool;
    size_t index; /* 1 .. threads-1; the caller is 0 */
} mr_worker_arg;

/* Bumped in the child of every fork (the child handler runs in the child's only thread, before it returns). */
static atomic_uint mr_fork_gen;
static pthread_once_t mr_atfork_once = PTHREAD_ONCE_INIT;
static void mr_pool_forked_child(void) { atomic_fetch_add_explicit(&mr_fork_gen, 1, memory_order_relaxed); }
static void mr_pool_register_atfork(void) { (void)pthread_atfork(NULL, NULL, mr_pool_forked_child); }

unsigned mr_pool_fork_generation(void)
{
    pthread_once(&mr_atfork_once, mr_pool_register_atfork);
    return atomic_load_explicit(&mr_fork_gen, memory_order_relaxed);
}

/* A pool made in this process (not a copy that a fork left without workers). */
static bool mr_pool_alive(const mr_pool *pool) { return pool->fork_gen == mr_pool_fork_generation(); }

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline void spin_pause(int poll)
{
    if (poll % MR_YIELD_EVERY == MR_YIELD_EVERY - 1)
        sched_yield();
    else
        cpu_relax();
}

static void run_tasks(mr_pool *pool, mr_pool_task_fn fn, void *ctx, size_t ntasks, size_t worker)
{
    for (;;) {
        /* relaxed: the job fields were acquired through generation, and completion is published
         * through pending; the counter itself orders nothing. */
        size_t task = atomic_fetch_add_explicit(&pool->next_task, 1, memory_order_relaxed);
        if (task >= ntasks) break;
        fn(ctx, task, worker);
    }
}

/* Waits until the generation differs from `seen` (a job was posted; *seen is updated) or the pool stops
 * (returns false). */
static bool wait_for_job(mr_pool *pool, size_t *seen)
{
    for (int i = 0; i < MR_SPIN_POLLS; i++) {
        size_t gen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (gen != *seen) {
            /* Only jobs bump the generation (stop does not, and destroy never overlaps a job), so the
             * lock-free path needs no look at `stop`. */
            *seen = gen;
            return true;
        }
        spin_pause(i);
    }
    pthread_mutex_lock(&pool->lock);
    while (!pool->stop && atomic_load_explicit(&pool->generation, memory_order_acquire) == *seen)
        pthread_cond_wait(&pool->work_cv, &pool->lock);
    bool stop = pool->stop;
    *seen = atomic_load_explicit(&pool->generation, memory_order_acquire);
    pthread_mutex_unlock(&pool->lock);
    return !stop;
}

static void *worker_main(void *p)
{
    mr_worker_arg arg = *(mr_worker_arg *)p;
    mr_free(p);
    mr_pool *pool = arg.pool;
    (void)mr_fpenv_enter(); /* a library thread: the default environment for its whole life (common/fpenv.h) */
    /* Starting from 0 is right even if the first job was posted before this thread got here: that job
     * cannot finish without this worker's check-in, so the generation is at most 1 when we first look. */
    size_t seen = 0;
    while (wait_for_job(pool, &seen)) {
        run_tasks(pool, pool->fn, pool->ctx, pool->ntasks, arg.index);
        /* After this decrement the job fields belong to the next caller; read nothing more of them. */
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done_cv);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return NULL;
}

/* Stops and joins the `started` workers. Used by destroy and by a failed create. */
static void stop_workers(mr_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stop = true;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->started; i++) pthread_join(pool->workers[i], NULL);
    pool->started = 0;
}

static void free_pool(mr_pool *pool, int inited)
{
    /* inited counts the sync objects initialized, in the order of mr_pool_create. */
    if (inited > 3) pthread_cond_destroy(&pool->done_cv);
    if (inited > 2) pthread_cond_destroy(&pool->work_cv);
    if (inited > 1) pthread_mutex_destroy(&pool->lock);
    if (inited > 0) pthread_mutex_destroy(&pool->call_lock);
    mr_free(pool->workers);
    mr_free(pool);
}

mr_pool *mr_pool_create(size_t threads)
{
    if (threads == 0) return NULL;
    /* sizeof is a multiple of the struct's alignment (64), as aligned_alloc requires. */
    mr_pool *pool = mr_aligned_alloc(alignof(mr_pool), sizeof(mr_pool));
    if (!pool) return NULL;
    memset(pool, 0, sizeof *pool);
    pool->threads = threads;
    pool->fork_gen = mr_pool_fork_generation();
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->next_task, 0);
    atomic_init(&pool->pending, 0);

    int inited = 0;
    if (pthread_mutex_init(&pool->call_lock, NULL) != 0) goto fail;
    inited++;
    if (pthread_mutex_init(&pool->lock, NULL) != 0) goto fail;
    inited++;
    if (pthread_cond_init(&pool->work_cv, NULL) != 0) goto fail;
    inited++;
    if (pthread_cond_init(&pool->done_cv, NULL) != 0) goto fail;
    inited++;

    if (threads > 1) {
        pool->workers = mr_calloc(threads - 1, sizeof *pool->workers);
        if (!pool->workers) goto fail;
        for (size_t i = 0; i < threads - 1; i++) {
            mr_worker_arg *arg = mr_malloc(sizeof *arg);
            if (!arg) goto fail_threads;
            arg->pool = pool;
            arg->index = i + 1;
            if (pthread_create(&pool->workers[i], NULL, worker_main, arg) != 0) {
                mr_free(arg);
                goto fail_threads;
            }
            pool->started++;
        }
    }
    return pool;

fail_threads:
    stop_workers(pool);
fail:
    free_pool(pool, inited);
    return NULL;
}

void mr_pool_destroy(mr_pool *pool)
{
    if (!pool) return;
    if (!mr_pool_alive(pool)) { /* a forked child's copy: no workers to stop, locks perhaps copied held */
        mr_free(pool->workers);
        mr_free(pool);
        return;
    }
    stop_workers(pool);
    free_pool(pool, 4);
}

size_t mr_pool_threads(const mr_pool *pool) { return pool ? pool->threads : 1; }

void mr_pool_parallelize(mr_pool *pool, mr_pool_task_fn fn, void *ctx, size_t ntasks)
{
    if (!pool || pool->threads <= 1 || ntasks <= 1 || !mr_pool_alive(pool)) {
        for (size_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }

    pthread_mutex_lock(&pool->call_lock);
    /* No worker is inside a job now (the previous caller saw pending == 0), so plain stores are safe;
     * publishing the generation below releases them. */
    pool->fn = fn;
    pool->ctx = ctx;
    pool->ntasks = ntasks;
    atomic_store_explicit(&pool->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->pending, pool->threads - 1, memory_order_relaxed);

    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->lock);

    run_tasks(pool, fn, ctx, ntasks, 0);

    /* acquire pairs with the workers' acq_rel decrements: their task effects become visible here. */
    bool done = false;
    for (int i = 0; i < MR_SPIN_POLLS; i++) {
        if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0) {
            done = true;
            break;
        }
        spin_pause(i);
    }
    if (!done) {
        pthread_mutex_lock(&pool->lock);
        while (atomic_load_explicit(&pool->pending, memory_order_acquire) != 0)
            pthread_cond_wait(&pool->done_cv, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->call_lock);
}

/* Parses a positive decimal integer that fits in int; anything else (empty, sign, junk, 0) is rejected. */
static size_t parse_thread_env(const char *s)
{
    if (!s || *s < '0' || *s > '9') return 0;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX) return 0;
    return (size_t)v;
}

/* CPUs in this process's affinity mask; 0 when unknown. Grows the mask for machines with more CPUs than
 * the fixed cpu_set_t holds (sched_getaffinity fails with EINVAL when the mask is too small). */
static size_t affinity_cpu_count(void)
{
    for (int ncpus = 1024; ncpus <= (1 << 20); ncpus *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpus);
        if (!set) return 0;
        size_t bytes = CPU_ALLOC_SIZE(ncpus);
        CPU_ZERO_S(bytes, set);
        if (sched_getaffinity(0, bytes, set) == 0) {
            int count = CPU_COUNT_S(bytes, set);
            CPU_FREE(set);
            return count > 0 ? (size_t)count : 0;
        }
        int err = errno;
        CPU_FREE(set);
        if (err != EINVAL) return 0;
    }
    return 0;
}

static size_t mr_cap_threads(size_t n) { return n > MOEROUTE_MAX_THREADS ? MOEROUTE_MAX_THREADS : n; }

size_t mr_default_thread_count(void)
{
    size_t n = parse_thread_env(getenv("MOEROUTE_NUM_THREADS"));
    if (n) return mr_cap_threads(n);
    n = affinity_cpu_count();
    if (n) return mr_cap_threads(n);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? mr_cap_threads((size_t)online) : 1;
}
