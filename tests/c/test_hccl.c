/* Logical devices (layer decision 16) and the HCCL subset over threads (docs/hccl.md; layer spec 12, decision
 * 17): communicators of 2, 4 and 8 ranks from HcclCommInitAll, root info and a rank table; every collective
 * against hand-computed results (the reduction order and the per-step rounding included); refusals that return
 * on every rank without a hang (bounded waits shortened to 300 ms here). */
#define _DEFAULT_SOURCE /* setenv, mkstemp */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl/acl.h"
#include "common/fp16.h"
#include "harness.h"
#include "hccl/hccl.h"
#include "hccl/hccl_internal.h"
#include "hccl_cases.h"




typedef struct rank_ctx {
    int rank, n;
    HcclComm comm;
    void *shared; /* test-specific */
} rank_ctx;

typedef void (*rank_fn)(rank_ctx *c);

typedef struct thread_arg {
    rank_ctx *c;
    rank_fn fn;
} thread_arg;

static void *rank_main(void *p)
{
    thread_arg *a = p;
    a->fn(a->c);
    return NULL;
}

/* Run fn once per rank, each on its own thread, and join them. */
static void run_ranks(int n, HcclComm *comms, rank_fn fn, void *shared)
{
    pthread_t t[MAXR];
    rank_ctx c[MAXR];
    thread_arg a[MAXR];
    for (int r = 0; r < n; r++) {
        c[r] = (rank_ctx){r, n, comms ? comms[r] : NULL, shared};
        a[r] = (thread_arg){&c[r], fn};
        TCHECK(pthread_create(&t[r], NULL, rank_main, &a[r]) == 0, "pthread_create");
    }
    for (int r = 0; r < n; r++) pthread_join(t[r], NULL);
}

/* ---- devices ------------------------------------------------------------------------------------------- */

static void *device_thread(void *p)
{
    int32_t want = *(int32_t *)p, got = -1;
    aclrtContext ctx = NULL;
    TCHECK(aclrtSetDevice(want) == ACL_SUCCESS && aclrtGetDevice(&got) == ACL_SUCCESS && got == want,
          "thread device %d: got %d", want, got);
    usleep(1000);
    TCHECK(aclrtGetDevice(&got) == ACL_SUCCESS && got == want, "the device stays per thread (%d, got %d)", want, got);
    TCHECK(aclrtCreateContext(&ctx, want) == ACL_SUCCESS, "context on device %d", want);
    TCHECK(aclrtDestroyContext(ctx) == ACL_SUCCESS && aclrtResetDevice(want) == ACL_SUCCESS, "release");
    return NULL;
}

static void *context_thread(void *p)
{
    aclrtContext ctx = p, cur = NULL;
    int32_t dev = -1;
    TCHECK(aclrtGetDevice(&dev) == ACL_ERROR_RT_CONTEXT_NULL, "a new thread has no device");
    TCHECK(aclrtSetCurrentContext(ctx) == ACL_SUCCESS && aclrtGetCurrentContext(&cur) == ACL_SUCCESS && cur == ctx,
          "set current context");
    TCHECK(aclrtGetDevice(&dev) == ACL_SUCCESS && dev == 7, "the context's device (7) becomes the thread's: %d", dev);
    return NULL;
}

static void test_devices(void)
{
    uint32_t count = 0;
    CHECK(aclrtGetDeviceCount(&count) == ACL_SUCCESS && count == 16, "16 logical devices by default: %u", count);
    CHECK(aclrtSetDevice(15) == ACL_SUCCESS, "device 15");
    CHECK(aclrtSetDevice(16) == ACL_ERROR_RT_INVALID_DEVICEID, "device 16 refused");
    const char *msg = aclGetRecentErrMsg();
    CHECK(msg && strstr(msg, "MOEROUTE_DEVICE_COUNT"), "the message names the variable: %s", msg ? msg : "(none)");
    int32_t ids[4] = {1, 5, 9, 14};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, device_thread, &ids[i]);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    int32_t dev = -1;
    CHECK(aclrtGetDevice(&dev) == ACL_SUCCESS && dev == 15, "this thread's device is untouched: %d", dev);
    aclrtContext ctx = NULL;
    CHECK(aclrtCreateContext(&ctx, 7) == ACL_SUCCESS && aclrtGetDevice(&dev) == ACL_SUCCESS && dev == 7,
          "creating a context on device 7 makes it current: %d", dev);
    pthread_create(&t[0], NULL, context_thread, ctx);
    pthread_join(t[0], NULL);
    CHECK(aclrtCreateContext(&ctx, 16) == ACL_ERROR_RT_INVALID_DEVICEID, "context on device 16 refused");
    aclrtStream s = NULL;
    CHECK(aclrtCreateStream(&s) == ACL_SUCCESS && aclrtSynchronizeStreamWithTimeout(s, 10000) == ACL_SUCCESS &&
              aclrtSynchronizeStreamWithTimeout(s, -2) == ACL_ERROR_INVALID_PARAM && aclrtDestroyStream(s) == ACL_SUCCESS,
          "aclrtSynchronizeStreamWithTimeout");
    CHECK(aclrtResetDevice(7) == ACL_SUCCESS && aclrtGetDevice(&dev) == ACL_ERROR_RT_CONTEXT_NULL,
          "resetting the thread's device unsets it");
    (void)aclGetRecentErrMsg();
}

/* ---- collectives, hand-computed --------------------------------------------------------------------------- */

static void collectives_rank(rank_ctx *c)
{
    hccl_check_collectives(c->comm, c->rank, c->n, (char *)c->shared + c->rank * COMM_NAME_MAX_LENGTH);
}

static void test_collectives(int n)
{
    int32_t devices[MAXR];
    HcclComm comms[MAXR];
    for (int i = 0; i < n; i++) devices[i] = 8 - n + i; /* any distinct logical devices */
    CHECK(HcclCommInitAll((uint32_t)n, devices, comms) == HCCL_SUCCESS, "HcclCommInitAll(%d)", n);
    char names[MAXR * COMM_NAME_MAX_LENGTH];
    memset(names, 0, sizeof names);
    run_ranks(n, comms, collectives_rank, names);
    for (int r = 1; r < n; r++) CHECK(strcmp(names, names + r * COMM_NAME_MAX_LENGTH) == 0, "one name on every rank");
    mr_hccl_group *g = mr_hccl_group_find(names);
    CHECK(g && mr_hccl_group_size(g) == (uint32_t)n, "the name resolves to the communicator");
    if (g) mr_hccl_group_release(g);
    for (int r = 0; r < n; r++) CHECK(HcclCommDestroy(comms[r]) == HCCL_SUCCESS, "destroy %d", r);
    CHECK(mr_hccl_group_find(names) == NULL, "the name is forgotten with the last handle");
    uint32_t size;
    CHECK(HcclGetRankSize(comms[0], &size) == HCCL_E_PARA, "a destroyed handle is refused");
    (void)aclGetRecentErrMsg();
}

/* ---- refusals ------------------------------------------------------------------------------------------------ */

typedef struct verdicts {
    HcclResult st[MAXR];
    int mode;
} verdicts;

/* mode 0: counts differ; 1: different collectives; 2: rank 1 passes NULL; 3: rank 1 never calls (timeout), then
 * both call again (refused at once); 4: a bad root on every rank; 5: rank 1 destroys its handle, rank 0 calls */
static void refusal_rank(rank_ctx *c)
{
    verdicts *v = c->shared;
    int32_t a[8] = {0}, b[8];
    HcclResult st = HCCL_SUCCESS;
    switch (v->mode) {
    case 0: st = HcclAllReduce(a, b, c->rank ? 8 : 4, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, c->comm, NULL); break;
    case 1:
        st = c->rank ? HcclAllGather(a, b, 1, HCCL_DATA_TYPE_INT32, c->comm, NULL)
                     : HcclAllReduce(a, b, 1, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, c->comm, NULL);
        break;
    case 2: st = HcclAllReduce(c->rank ? NULL : a, b, 4, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, c->comm, NULL); break;
    case 3:
        if (c->rank == 0) st = HcclBarrier(c->comm, NULL);
        break;
    case 4: st = HcclBroadcast(a, 2, HCCL_DATA_TYPE_INT32, 5, c->comm, NULL); break;
    case 5:
        if (c->rank == 1) st = HcclCommDestroy(c->comm);
        else {
            usleep(20000);
            st = HcclBarrier(c->comm, NULL);
        }
        break;
    default: break;
    }
    v->st[c->rank] = st;
    const char *msg = aclGetRecentErrMsg();
    if (st != HCCL_SUCCESS) TCHECK(msg && *msg, "rank %d has a message for %s", c->rank, HcclGetErrorString(st));
}

static void test_refusals(void)
{
    int32_t devs[4] = {0, 1, 2, 3}, dup[2] = {3, 3}, far[2] = {0, 16};
    HcclComm comms[4];
    CHECK(HcclCommInitAll(0, devs, comms) == HCCL_E_PARA, "ndev 0");
    CHECK(HcclCommInitAll(2, dup, comms) == HCCL_E_PARA, "duplicate device");
    CHECK(HcclCommInitAll(2, far, comms) == HCCL_E_PARA, "device beyond the count");
    CHECK(HcclCommInitAll(2, devs, NULL) == HCCL_E_PTR, "comms NULL");
    CHECK(HcclCommDestroy(NULL) == HCCL_E_PTR && HcclCommDestroy(devs) == HCCL_E_PARA, "destroy of a non-handle");
    static const HcclResult want[6][2] = {{HCCL_E_PARA, HCCL_E_PARA},   {HCCL_E_PARA, HCCL_E_PARA},
                                          {HCCL_E_REMOTE, HCCL_E_PTR},  {HCCL_E_TIMEOUT, HCCL_SUCCESS},
                                          {HCCL_E_PARA, HCCL_E_PARA},   {HCCL_E_REMOTE, HCCL_SUCCESS}};
    for (int mode = 0; mode < 6; mode++) {
        CHECK(HcclCommInitAll(2, devs, comms) == HCCL_SUCCESS, "comm for mode %d", mode);
        verdicts v;
        memset(&v, 0, sizeof v);
        v.mode = mode;
        run_ranks(2, comms, refusal_rank, &v);
        CHECK(v.st[0] == want[mode][0] && v.st[1] == want[mode][1], "mode %d: got %s / %s", mode,
              HcclGetErrorString(v.st[0]), HcclGetErrorString(v.st[1]));
        if (mode == 3) { /* the timed-out communicator refuses at once, on every rank */
            v.mode = 0;
            run_ranks(2, comms, refusal_rank, &v);
            CHECK(v.st[0] == HCCL_E_TIMEOUT && v.st[1] == HCCL_E_TIMEOUT, "after a timeout: %s / %s",
                  HcclGetErrorString(v.st[0]), HcclGetErrorString(v.st[1]));
        }
        if (mode != 0 && mode != 1 && mode != 2 && mode != 3 && mode != 4) { /* mode 5 destroyed rank 1 */
            CHECK(HcclCommDestroy(comms[0]) == HCCL_SUCCESS, "destroy rank 0");
        } else {
            CHECK(HcclCommDestroy(comms[0]) == HCCL_SUCCESS && HcclCommDestroy(comms[1]) == HCCL_SUCCESS, "destroy");
        }
        (void)aclGetRecentErrMsg();
    }
}

/* ---- root info and rank table ------------------------------------------------------------------------------- */

typedef struct join_ctx {
    HcclRootInfo root;
    uint32_t nranks;        /* passed to init */
    const char *table;      /* rank table path, or NULL for root info */
    HcclResult st[MAXR];
    int32_t sum[MAXR];
} join_ctx;

static void join_rank(rank_ctx *c)
{
    join_ctx *j = c->shared;
    HcclComm comm = NULL;
    HcclResult st = j->table ? HcclCommInitClusterInfo(j->table, (uint32_t)c->rank, &comm)
                             : HcclCommInitRootInfo(j->nranks, &j->root, (uint32_t)c->rank, &comm);
    j->st[c->rank] = st;
    if (st != HCCL_SUCCESS) {
        (void)aclGetRecentErrMsg();
        return;
    }
    int32_t one = c->rank + 1;
    j->st[c->rank] = HcclAllReduce(&one, &j->sum[c->rank], 1, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, NULL);
    TCHECK(HcclCommDestroy(comm) == HCCL_SUCCESS, "destroy");
}

static void test_root_info_and_table(void)
{
    join_ctx j;
    memset(&j, 0, sizeof j);
    CHECK(HcclGetRootInfo(&j.root) == HCCL_SUCCESS, "root info");
    j.nranks = 4;
    run_ranks(4, NULL, join_rank, &j);
    for (int r = 0; r < 4; r++) CHECK(j.st[r] == HCCL_SUCCESS && j.sum[r] == 10, "root info rank %d", r);
    /* nRanks 3 but 2 ranks come: bounded wait */
    memset(&j, 0, sizeof j);
    HcclGetRootInfo(&j.root);
    j.nranks = 3;
    run_ranks(2, NULL, join_rank, &j);
    CHECK(j.st[0] == HCCL_E_TIMEOUT && j.st[1] == HCCL_E_TIMEOUT, "missing rank: %s", HcclGetErrorString(j.st[0]));
    HcclRootInfo junk;
    memset(&junk, 0x5A, sizeof junk);
    HcclComm comm;
    CHECK(HcclCommInitRootInfo(2, &junk, 0, &comm) == HCCL_E_PARA, "a token not from HcclGetRootInfo");
    CHECK(HcclCommInitRootInfo(2, &j.root, 2, &comm) == HCCL_E_PARA, "rank >= nRanks");

    char path[] = "/tmp/moeroute_ranktable_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temp file");
    static const char table[] =
        "{\"status\": \"completed\", \"version\": \"1.0\", \"server_count\": \"1\", \"server_list\": [{\n"
        "  \"server_id\": \"127.0.0.1\", \"device\": [\n"
        "    {\"device_id\": \"4\", \"device_ip\": \"192.168.1.4\", \"rank_id\": \"1\"},\n"
        "    {\"device_id\": \"2\", \"device_ip\": \"192.168.1.2\", \"rank_id\": \"0\"}]}]}\n";
    CHECK(write(fd, table, sizeof table - 1) == (ssize_t)(sizeof table - 1), "write table");
    close(fd);
    memset(&j, 0, sizeof j);
    j.table = path;
    run_ranks(2, NULL, join_rank, &j);
    CHECK(j.st[0] == HCCL_SUCCESS && j.st[1] == HCCL_SUCCESS && j.sum[0] == 3 && j.sum[1] == 3, "rank table: %s %s",
          HcclGetErrorString(j.st[0]), HcclGetErrorString(j.st[1]));
    CHECK(HcclCommInitClusterInfo(path, 2, &comm) == HCCL_E_PARA, "rank not in the table");
    CHECK(HcclCommInitClusterInfo("/nonexistent/table.json", 0, &comm) == HCCL_E_OPEN_FILE_FAILURE, "missing file");
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, "{\"server_count\": \"1\", \"device_id\": \"x\"}", 39) == 39, "malformed table");
    close(fd);
    CHECK(HcclCommInitClusterInfo(path, 0, &comm) == HCCL_E_PARA, "malformed table refused");
    unlink(path);
    (void)aclGetRecentErrMsg();
}

int main(void)
{
    setenv("MOEROUTE_HCCL_TIMEOUT_MS", "300", 1);
    unsetenv("MOEROUTE_DEVICE_COUNT");
    CHECK(aclInit(NULL) == ACL_SUCCESS, "aclInit");
    test_devices();
    test_collectives(2);
    test_collectives(4);
    test_collectives(8);
    test_refusals();
    test_root_info_and_table();
    CHECK(strcmp(HcclGetErrorString(HCCL_E_TIMEOUT), "HCCL_E_TIMEOUT") == 0, "error string");
    CHECK(aclFinalize() == ACL_SUCCESS, "aclFinalize");
    return mr_test_finish();
}
