/* Tests of the fork-join pool (src/threadpool). Correctness only, never timing: these must pass on a loaded
 * 2-core CI machine and under TSan/ASan. Run by hand with TSan as well:
 *   gcc -std=c11 -g -O1 -fsanitize=thread -Isrc src/common/alloc.c src/threadpool/threadpool.c tests/c/test_threadpool.c -lpthread
 */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threadpool/threadpool.h"

static int g_failed_checks;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            g_failed_checks++;                                                        \
        }                                                                             \
    } while (0)

/* ---- per-task bookkeeping ------------------------------------------------------------------------------ */

typedef struct {
    size_t ntasks;
    size_t threads;
    atomic_int *runs;   /* how many times each task ran */
    size_t *worker;     /* plain stores: the caller reading them checks that completion publishes effects */
    pthread_t *thread;  /* which thread ran each task */
    atomic_int bad_worker;
} record_ctx;

static void record_task(void *p, size_t task, size_t worker)
{
    record_ctx *c = p;
    if (task >= c->ntasks) {
        atomic_fetch_add(&c->bad_worker, 1000); /* out-of-range task: counted as a failure below */
        return;
    }
    if (worker >= c->threads) atomic_fetch_add(&c->bad_worker, 1);
    atomic_fetch_add(&c->runs[task], 1);
    c->worker[task] = worker;
    c->thread[task] = pthread_self();
}

/* Runs one job of `ntasks` on `pool` and checks: every task exactly once, worker in range, worker 0 is the
 * caller, and one worker index maps to one thread (and distinct indices to distinct threads). */
static void check_job(mr_pool *pool, size_t ntasks)
{
    size_t threads = mr_pool_threads(pool);
    size_t n = ntasks ? ntasks : 1;
    record_ctx c = {.ntasks = ntasks, .threads = threads};
    c.runs = calloc(n, sizeof *c.runs);
    c.worker = calloc(n, sizeof *c.worker);
    c.thread = calloc(n, sizeof *c.thread);
    atomic_init(&c.bad_worker, 0);
    if (!c.runs || !c.worker || !c.thread) {
        CHECK(!"out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) atomic_init(&c.runs[i], 0);

    mr_pool_parallelize(pool, record_task, &c, ntasks);

    CHECK(atomic_load(&c.bad_worker) == 0);
    pthread_t self = pthread_self();
    pthread_t seen[8 + 1];
    int have[8 + 1] = {0};
    for (size_t t = 0; t < ntasks; t++) {
        CHECK(atomic_load(&c.runs[t]) == 1);
        size_t w = c.worker[t];
        if (w >= threads) continue;
        if (w == 0) CHECK(pthread_equal(c.thread[t], self));
        if (w < 9) {
            if (have[w]) CHECK(pthread_equal(seen[w], c.thread[t]));
            seen[w] = c.thread[t];
            have[w] = 1;
        }
    }
    for (size_t a = 0; a < 9; a++)
        for (size_t b = a + 1; b < 9; b++)
            if (have[a] && have[b]) CHECK(!pthread_equal(seen[a], seen[b]));
out:
    free(c.runs);
    free(c.worker);
    free(c.thread);
}

/* ---- tests --------------------------------------------------------------------------------------------- */

static void test_every_task_once(void)
{
    for (size_t threads = 1; threads <= 8; threads++) {
        mr_pool *pool = mr_pool_create(threads);
        CHECK(pool != NULL);
        if (!pool) continue;
        CHECK(mr_pool_threads(pool) == threads);
        const size_t counts[] = {0, 1, 2, threads, threads + 1, 1000};
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) check_job(pool, counts[i]);
        mr_pool_destroy(pool);
    }
}

typedef struct {
    size_t next;     /* tasks must arrive in order on the serial paths */
    int in_order;
    int worker_nonzero;
    pthread_t caller;
    int other_thread;
} serial_ctx;

static void serial_task(void *p, size_t task, size_t worker)
{
    serial_ctx *c = p;
    if (task != c->next) c->in_order = 0;
    c->next = task + 1;
    if (worker != 0) c->worker_nonzero = 1;
    if (!pthread_equal(pthread_self(), c->caller)) c->other_thread = 1;
}

static void check_serial(mr_pool *pool, size_t ntasks)
{
    serial_ctx c = {.next = 0, .in_order = 1, .caller = pthread_self()};
    mr_pool_parallelize(pool, serial_task, &c, ntasks);
    CHECK(c.next == ntasks);
    CHECK(c.in_order);
    CHECK(!c.worker_nonzero);
    CHECK(!c.other_thread);
}

static void test_serial_paths(void)
{
    CHECK(mr_pool_threads(NULL) == 1);
    check_serial(NULL, 0);
    check_serial(NULL, 1);
    check_serial(NULL, 1000);
    mr_pool *one = mr_pool_create(1);
    CHECK(one != NULL);
    CHECK(mr_pool_threads(one) == 1);
    check_serial(one, 1000);
    mr_pool_destroy(one);
    mr_pool *four = mr_pool_create(4);
    CHECK(four != NULL);
    check_serial(four, 1); /* a single task never leaves the caller */
    check_serial(four, 0);
    mr_pool_destroy(four);
    mr_pool_destroy(NULL); /* no-op */
}

static void test_create_zero(void) { CHECK(mr_pool_create(0) == NULL); }

typedef struct {
    atomic_size_t sum;
} sum_ctx;

static void sum_task(void *p, size_t task, size_t worker)
{
    (void)worker;
    atomic_fetch_add_explicit(&((sum_ctx *)p)->sum, task + 1, memory_order_relaxed);
}

/* Many tiny back-to-back jobs: the window where workers go back to sleep while the next job is posted. */
static void test_many_small_jobs(void)
{
    const size_t threads[] = {2, 3, 4};
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        mr_pool *pool = mr_pool_create(threads[i]);
        CHECK(pool != NULL);
        if (!pool) continue;
        int bad = 0;
        for (size_t job = 0; job < 10000; job++) {
            size_t ntasks = 2 + job % 7;
            sum_ctx c;
            atomic_init(&c.sum, 0);
            mr_pool_parallelize(pool, sum_task, &c, ntasks);
            if (atomic_load(&c.sum) != ntasks * (ntasks + 1) / 2) bad++;
        }
        CHECK(bad == 0);
        mr_pool_destroy(pool);
    }
}

/* Plain (non-atomic) writes, one slot per task; the caller reads them after the call. TSan reports a race
 * here if completion does not publish the workers' effects. */
typedef struct {
    unsigned *slots;
    unsigned stamp;
} stamp_ctx;

static void stamp_task(void *p, size_t task, size_t worker)
{
    (void)worker;
    stamp_ctx *c = p;
    c->slots[task] = c->stamp + (unsigned)task;
}

typedef struct {
    mr_pool *pool;
    unsigned id;
    int bad;
} caller_arg;

static void *concurrent_caller(void *p)
{
    caller_arg *a = p;
    enum { NTASKS = 64 };
    unsigned slots[NTASKS];
    for (unsigned job = 0; job < 500; job++) {
        stamp_ctx c = {.slots = slots, .stamp = a->id * 1000000u + job * 100u};
        memset(slots, 0, sizeof slots);
        mr_pool_parallelize(a->pool, stamp_task, &c, NTASKS);
        for (unsigned t = 0; t < NTASKS; t++)
            if (slots[t] != c.stamp + t) a->bad++;
    }
    return NULL;
}

static void test_concurrent_callers(void)
{
    mr_pool *pool = mr_pool_create(3);
    CHECK(pool != NULL);
    if (!pool) return;
    enum { CALLERS = 4 };
    pthread_t th[CALLERS];
    caller_arg args[CALLERS];
    int started[CALLERS] = {0};
    for (unsigned i = 0; i < CALLERS; i++) {
        args[i] = (caller_arg){.pool = pool, .id = i + 1, .bad = 0};
        started[i] = pthread_create(&th[i], NULL, concurrent_caller, &args[i]) == 0;
        CHECK(started[i]);
    }
    for (unsigned i = 0; i < CALLERS; i++) {
        if (!started[i]) continue;
        pthread_join(th[i], NULL);
        CHECK(args[i].bad == 0);
    }
    mr_pool_destroy(pool);
}

static void test_effects_visible(void)
{
    mr_pool *pool = mr_pool_create(4);
    CHECK(pool != NULL);
    enum { NTASKS = 4096 };
    unsigned *slots = calloc(NTASKS, sizeof *slots);
    CHECK(slots != NULL);
    if (pool && slots) {
        for (unsigned job = 0; job < 20; job++) {
            stamp_ctx c = {.slots = slots, .stamp = job * 7u};
            mr_pool_parallelize(pool, stamp_task, &c, NTASKS);
            int bad = 0;
            for (unsigned t = 0; t < NTASKS; t++) bad += slots[t] != c.stamp + t;
            CHECK(bad == 0);
        }
    }
    free(slots);
    mr_pool_destroy(pool);
}

/* Create/destroy churn, with and without a job in between: workers that have not yet reached their wait,
 * and workers asleep, must both see the stop. */
static void test_create_destroy_loop(void)
{
    for (unsigned i = 0; i < 200; i++) {
        size_t threads = 1 + i % 8;
        mr_pool *pool = mr_pool_create(threads);
        CHECK(pool != NULL);
        if (!pool) continue;
        if (i % 3 != 0) {
            sum_ctx c;
            atomic_init(&c.sum, 0);
            mr_pool_parallelize(pool, sum_task, &c, 10);
            CHECK(atomic_load(&c.sum) == 55);
        }
        mr_pool_destroy(pool);
    }
}

/* Must run while this process has a single thread: setenv is not thread-safe. */
static void test_default_thread_count(void)
{
    const char *saved = getenv("MOEROUTE_NUM_THREADS");
    char *saved_copy = saved ? strdup(saved) : NULL;

    unsetenv("MOEROUTE_NUM_THREADS");
    size_t fallback = mr_default_thread_count();
    CHECK(fallback >= 1);

    setenv("MOEROUTE_NUM_THREADS", "3", 1);
    CHECK(mr_default_thread_count() == 3);
    setenv("MOEROUTE_NUM_THREADS", "1", 1);
    CHECK(mr_default_thread_count() == 1);
    const char *invalid[] = {"0", "-2", "", "abc", "4x", " 4", "+4", "99999999999999999999"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        setenv("MOEROUTE_NUM_THREADS", invalid[i], 1);
        CHECK(mr_default_thread_count() == fallback);
    }

    if (saved_copy)
        setenv("MOEROUTE_NUM_THREADS", saved_copy, 1);
    else
        unsetenv("MOEROUTE_NUM_THREADS");
    free(saved_copy);
}

/* Uneven task costs, so claiming order differs from task order and several workers contend. */
typedef struct {
    atomic_int *runs;
} uneven_ctx;

static void uneven_task(void *p, size_t task, size_t worker)
{
    (void)worker;
    uneven_ctx *c = p;
    unsigned acc = 0;
    for (size_t i = 0; i < (task % 13) * 200; i++) acc += (unsigned)i * 2654435761u;
    (void)acc;
    atomic_fetch_add(&c->runs[task], 1);
}

static void test_uneven_tasks(void)
{
    mr_pool *pool = mr_pool_create(4);
    CHECK(pool != NULL);
    enum { NTASKS = 777 };
    atomic_int runs[NTASKS];
    for (int i = 0; i < NTASKS; i++) atomic_init(&runs[i], 0);
    uneven_ctx c = {.runs = runs};
    for (int rep = 0; rep < 5; rep++) mr_pool_parallelize(pool, uneven_task, &c, NTASKS);
    int bad = 0;
    for (int i = 0; i < NTASKS; i++) bad += atomic_load(&runs[i]) != 5;
    CHECK(bad == 0);
    mr_pool_destroy(pool);
}

/* ---- driver -------------------------------------------------------------------------------------------- */

static int g_passed, g_failed;

static void run(const char *name, void (*fn)(void))
{
    int before = g_failed_checks;
    fn();
    if (g_failed_checks == before) {
        g_passed++;
        printf("ok   %s\n", name);
    } else {
        g_failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}

int main(void)
{
    run("default_thread_count", test_default_thread_count); /* first: before any thread exists */
    run("create_zero", test_create_zero);
    run("serial_paths", test_serial_paths);
    run("every_task_once", test_every_task_once);
    run("effects_visible", test_effects_visible);
    run("uneven_tasks", test_uneven_tasks);
    run("many_small_jobs", test_many_small_jobs);
    run("concurrent_callers", test_concurrent_callers);
    run("create_destroy_loop", test_create_destroy_loop);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
