/* Allocation failure inside the library: the n-th allocation is made to fail, for every n until the whole
 * CANN-style sequence and the native calls succeed. Each failing call must return its out-of-memory status
 * with a message and must not write outputs; LeakSanitizer (the ASan build) checks that nothing leaks. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "harness.h"
#include "moeroute.h"
#include "routing_fixture.h"

enum { N = 3, K = 2, H = 4, L = N * K };

static int has_message(void)
{
    const char *m = aclGetRecentErrMsg();
    return m && *m;
}

/* Runs the sequence with allocation number `budget` failing; returns 1 when every step succeeded. */
static int sequence(long budget)
{
    static const float x[N * H] = {.1f, .1f, .1f, .1f, .2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f};
    static const int32_t expert[L] = {1, 2, 0, 1, 0, 2}, rows[L] = {0, 3, 1, 4, 2, 5};
    int8_t ex[L * H];
    int32_t erow[L], eexp[L];
    memset(ex, 0x77, sizeof ex);
    int complete = 0;
    aclrtStream stream = NULL;
    void *dev = NULL;
    aclTensor *t[6] = {0};
    aclOpExecutor *exe = NULL;
    void *ws = NULL;
    moeroute_context *ctx = NULL;

    mr_alloc_fail_after(budget);
    if (aclInit(NULL) != ACL_SUCCESS) goto done;
    aclError e = aclrtCreateStream(&stream);
    if (e != ACL_SUCCESS) {
        CHECK(e == ACL_ERROR_BAD_ALLOC && has_message(), "stream: %d", e);
        goto done;
    }
    e = aclrtMalloc(&dev, 256, ACL_MEM_MALLOC_HUGE_FIRST);
    if (e != ACL_SUCCESS) {
        CHECK(e == ACL_ERROR_RT_MEMORY_ALLOCATION && has_message(), "aclrtMalloc: %d", e);
        goto done;
    }
    t[0] = fx_tensor(ACL_FLOAT, N, H, (void *)x);
    t[1] = fx_tensor(ACL_INT32, N, K, (void *)rows);
    t[2] = fx_tensor(ACL_INT32, N, K, (void *)expert);
    t[3] = fx_tensor(ACL_INT8, L, H, ex);
    t[4] = fx_tensor(ACL_INT32, L, -1, erow);
    t[5] = fx_tensor(ACL_INT32, L, -1, eexp);
    for (int i = 0; i < 6; i++)
        if (!t[i]) {
            CHECK(has_message(), "aclCreateTensor failed without a message");
            goto done;
        }
    uint64_t ws_size = 0;
    aclnnStatus st =
        aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], N, 1.0, 1.0, t[3], t[4], t[5], &ws_size, &exe);
    if (st != ACLNN_SUCCESS) {
        CHECK(st == ACLNN_ERR_INNER && has_message(), "GetWorkspaceSize: %d", st);
        goto done;
    }
    ws = malloc(ws_size); /* the caller's memory, not the library's */
    st = aclnnMoeInitRoutingQuant(ws, ws_size, exe, stream);
    CHECK(st == ACLNN_SUCCESS, "execute allocates nothing, so it cannot fail here: %d", st);
    CHECK(ex[0] == 1 && erow[0] == 2, "result");

    moeroute_options opt = {3, MOEROUTE_ISA_AUTO}; /* a pool: its allocations may fail too */
    moeroute_status ms = moeroute_context_create(&opt, &ctx);
    if (ms != MOEROUTE_OK) {
        CHECK(ms == MOEROUTE_ERR_OUT_OF_MEMORY && moeroute_error_message() && !ctx, "context: %d", ms);
        goto done;
    }
    moeroute_init_routing_args a = {sizeof(moeroute_init_routing_args), N, K, H, N, MOEROUTE_DTYPE_FLOAT32, x, H, 1, expert, K, 1, rows, K, 1,
                                    MOEROUTE_DTYPE_INT8, 1.0, 1.0, ex, erow, eexp};
    for (int with_ctx = 0; with_ctx <= 1; with_ctx++) {
        memset(ex, 0x77, sizeof ex);
        ms = moeroute_init_routing(with_ctx ? ctx : NULL, &a);
        if (ms != MOEROUTE_OK) {
            int untouched = 1;
            for (size_t i = 0; i < sizeof ex; i++) untouched &= ex[i] == 0x77;
            CHECK(ms == MOEROUTE_ERR_OUT_OF_MEMORY && moeroute_error_message() && untouched, "native: %d", ms);
            goto done;
        }
    }
    complete = 1;
done:
    mr_alloc_fail_after(-1);
    moeroute_context_destroy(ctx);
    free(ws);
    for (int i = 0; i < 6; i++) aclDestroyTensor(t[i]);
    if (dev) aclrtFree(dev);
    if (stream) aclrtDestroyStream(stream);
    aclFinalize();
    aclGetRecentErrMsg(); /* drop messages of the cleanup */
    return complete;
}

int main(void)
{
    long budget = 0;
    while (!sequence(budget) && budget < 1000) budget++;
    CHECK(budget < 1000, "the sequence never completed");
    printf("the full sequence needs %ld allocations; each one was made to fail once\n", budget);
    return mr_test_finish();
}
