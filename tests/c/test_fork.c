/* fork() after the library made threads (src/threadpool/threadpool.c "fork()"): the child has none of the
 * parent's workers, so a job on a parent's pool must run serially there instead of waiting forever, destroying
 * such a pool must not try to join them, and the default pool (the aclnn API's and that of native calls without
 * a context) is made anew in the child. The child checks its results against the parent's and exits with its
 * failure count; an alarm turns a hang into a failure. Python's multiprocessing forks this way by default. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_swi_glu.h"
#include "harness.h"
#include "moeroute.h"
#include "threadpool/default_pool.h"
#include "threadpool/threadpool.h"

enum { ROWS = 256, COLS = 512, TASKS = 64 };

static float x[ROWS * COLS];

static void mark(void *ctx, size_t task, size_t worker)
{
    (void)worker;
    ((unsigned char *)ctx)[task] += 1;
}

/* SwiGlu of x through the native API (ctx, or the default pool with NULL) and through aclnn. */
static int swiglu_native(moeroute_context *ctx, float *out)
{
    moeroute_swiglu_args s = {.struct_size = sizeof s, .num_rows = ROWS, .cols = COLS,
                              .x_dtype = MOEROUTE_DTYPE_FLOAT32, .x = x, .x_row_stride = COLS, .x_col_stride = 1,
                              .out = out};
    return moeroute_swiglu(ctx, &s) == MOEROUTE_OK;
}

static int swiglu_aclnn(float *out)
{
    aclTensor *t[2] = {mk(T2(ACL_FLOAT, ROWS, COLS, x)), mk(T2(ACL_FLOAT, ROWS, COLS / 2, out))};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnSwiGluGetWorkspaceSize(t[0], -1, t[1], &ws, &exe);
    st = finish(st, aclnnSwiGlu, ws, exe);
    destroy_all(t, 2);
    return st == ACLNN_SUCCESS;
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    setenv("MOEROUTE_NUM_THREADS", "2", 1); /* the default pool has a worker to lose */
    for (size_t i = 0; i < ROWS * COLS; i++) x[i] = (float)((int64_t)(mr_test_rand(&rng) >> 40) % 2001 - 1000) * 0x1p-7f;
    acl_setup();
    static float want[ROWS * COLS / 2], want_acl[ROWS * COLS / 2], got[ROWS * COLS / 2];
    moeroute_options opt = {2, 0};
    moeroute_context *ctx = NULL;
    CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context");
    CHECK(swiglu_native(ctx, want) && swiglu_aclnn(want_acl), "the parent's calls (its pools now have workers)");
    mr_pool *pool = mr_pool_create(2);
    unsigned char hits[TASKS];
    memset(hits, 0, sizeof hits);
    mr_pool_parallelize(pool, mark, hits, TASKS);
    mr_pool *parent_default = mr_default_pool();
    CHECK(pool && parent_default, "pools with workers in the parent");

    const pid_t pid = fork();
    if (pid == 0) { /* the child: failures counted here, reported through the exit status */
        alarm(60);
        int bad = 0;
        memset(hits, 0, sizeof hits);
        mr_pool_parallelize(pool, mark, hits, TASKS); /* the parent's pool: serially, every task once */
        for (int t = 0; t < TASKS; t++) bad += hits[t] != 1;
        mr_pool_destroy(pool); /* frees only */
        mr_pool *mine = mr_default_pool();
        bad += mine == NULL || mine == parent_default; /* a new default pool, with a worker of this process */
        memset(hits, 0, sizeof hits);
        mr_pool_parallelize(mine, mark, hits, TASKS);
        for (int t = 0; t < TASKS; t++) bad += hits[t] != 1;
        memset(got, 0, sizeof got);
        bad += !swiglu_native(ctx, got) || memcmp(got, want, sizeof got) != 0; /* a context made before the fork */
        memset(got, 0, sizeof got);
        bad += !swiglu_native(NULL, got) || memcmp(got, want, sizeof got) != 0; /* the default pool */
        memset(got, 0, sizeof got);
        bad += !swiglu_aclnn(got) || memcmp(got, want_acl, sizeof got) != 0; /* aclnn: the default pool */
        moeroute_context_destroy(ctx); /* its pool's workers are the parent's: must not be joined */
        _exit(bad > 100 ? 100 : bad);
    }
    CHECK(pid > 0, "fork");
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the child: %s %d (an exit code counts its failures; SIGALRM (%d) means it hung)",
          WIFEXITED(status) ? "exit code" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
          SIGALRM);
    /* the parent's pools are untouched by the child */
    memset(hits, 0, sizeof hits);
    mr_pool_parallelize(pool, mark, hits, TASKS);
    int bad = 0;
    for (int t = 0; t < TASKS; t++) bad += hits[t] != 1;
    CHECK(bad == 0 && mr_default_pool() == parent_default, "the parent's pools after the fork");
    memset(got, 0, sizeof got);
    CHECK(swiglu_native(ctx, got) && memcmp(got, want, sizeof got) == 0, "the parent's context after the fork");
    mr_pool_destroy(pool);
    moeroute_context_destroy(ctx);
    acl_teardown();
    return mr_test_finish();
}
