/* Several application threads at once: each runs its own aclnn executors (sharing the library's default
 * pool) and its own native context with a pool, on inputs big enough to use the threaded paths. Every result
 * must equal the one computed alone first, and error messages stay with the thread that caused them.
 * Meant to run under ThreadSanitizer too (tools/tsan.sh). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "moeroute.h"
#include "routing_fixture.h"

enum { THREADS = 4, ROUNDS = 3, N = 1024, K = 6, H = 96 };

typedef struct job {
    uint16_t *x;
    int32_t *expert, *rows;
    int8_t *ref_ex;
    int32_t *ref_erow, *ref_eexp;
    int failures;
} job;

static void make_job(job *j, uint64_t *seed)
{
    j->x = malloc((size_t)N * H * 2);
    j->expert = malloc((size_t)N * K * 4);
    j->rows = malloc((size_t)N * K * 4);
    j->ref_ex = malloc((size_t)N * K * H);
    j->ref_erow = malloc((size_t)N * K * 4);
    j->ref_eexp = malloc((size_t)N * K * 4);
    for (size_t i = 0; i < (size_t)N * H; i++) j->x[i] = (uint16_t)mr_test_rand(seed);
    for (int32_t f = 0; f < N * K; f++) {
        j->expert[f] = (int32_t)(mr_test_rand(seed) % 64);
        j->rows[f] = f;
    }
    j->failures = 0;
}

static void free_job(job *j)
{
    free(j->x), free(j->expert), free(j->rows), free(j->ref_ex), free(j->ref_erow), free(j->ref_eexp);
}

static void *worker(void *arg)
{
    job *j = arg;
    int8_t *ex = malloc((size_t)N * K * H);
    int32_t *erow = malloc((size_t)N * K * 4), *eexp = malloc((size_t)N * K * 4);
    moeroute_options opt = {2, MOEROUTE_ISA_AUTO};
    moeroute_context *ctx = NULL;
    if (moeroute_context_create(&opt, &ctx) != MOEROUTE_OK) j->failures++;
    for (int round = 0; round < ROUNDS; round++) {
        memset(ex, 0, (size_t)N * K * H);
        aclnnStatus st = fx_run(1, ACL_FLOAT16, j->x, j->rows, j->expert, N, K, H, N, 0.5, 1.0, ex, erow, eexp);
        j->failures += st != ACLNN_SUCCESS || memcmp(ex, j->ref_ex, (size_t)N * K * H) ||
                       memcmp(erow, j->ref_erow, (size_t)N * K * 4) || memcmp(eexp, j->ref_eexp, (size_t)N * K * 4);
        memset(ex, 0, (size_t)N * K * H);
        moeroute_init_routing_args a = {sizeof(moeroute_init_routing_args), N, K, H, N, MOEROUTE_DTYPE_FLOAT16, j->x, H, 1, j->expert, K, 1, j->rows, K,
                                        1, MOEROUTE_DTYPE_INT8, 0.5, 1.0, ex, erow, eexp};
        j->failures += moeroute_init_routing(ctx, &a) != MOEROUTE_OK || memcmp(ex, j->ref_ex, (size_t)N * K * H);
        /* a refusal on this thread leaves a message here, and nowhere else */
        a.num_rows = -1;
        j->failures += moeroute_init_routing(ctx, &a) != MOEROUTE_ERR_INVALID_SHAPE;
        const char *msg = moeroute_error_message();
        j->failures += msg == NULL || strstr(msg, "must be >= 0") == NULL || moeroute_error_message() != NULL;
    }
    moeroute_context_destroy(ctx);
    free(ex), free(erow), free(eexp);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t seed = mr_test_seed(argc, argv);
    job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        make_job(&jobs[t], &seed);
        aclnnStatus st = fx_run(1, ACL_FLOAT16, jobs[t].x, jobs[t].rows, jobs[t].expert, N, K, H, N, 0.5, 1.0,
                                jobs[t].ref_ex, jobs[t].ref_erow, jobs[t].ref_eexp);
        CHECK(st == ACLNN_SUCCESS, "reference %d: %d", t, st);
    }
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++) CHECK(pthread_create(&tid[t], NULL, worker, &jobs[t]) == 0, "thread %d", t);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(tid[t], NULL);
        CHECK(jobs[t].failures == 0, "thread %d: %d mismatches or wrong statuses", t, jobs[t].failures);
        free_job(&jobs[t]);
    }
    CHECK(aclGetRecentErrMsg() == NULL, "the main thread got another thread's message");
    return mr_test_finish();
}
