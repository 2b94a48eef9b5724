/* Every refusal path: the status code of spec decision 6, a non-empty message for aclGetRecentErrMsg, and
 * outputs left exactly as they were. Also executor misuse, the runtime subset and the native API. */
#include <stdlib.h>
#include <string.h>

#include "moeroute.h"
#include "routing_fixture.h"
#include "harness.h"

enum { N = 3, K = 2, H = 4, L = N * K, A = L };
#define SENTINEL 0x5A

/* One well-formed problem (the documented example); each case breaks one thing. */
typedef struct problem {
    float x[N * H];
    int32_t rows[L], expert[L];
    int8_t ex[A * H * sizeof(float)]; /* room for the copy operator's float rows */
    int32_t erow[L], eexp[L];
} problem;

static void problem_init(problem *p)
{
    static const int32_t expert[L] = {1, 2, 0, 1, 0, 2}, rows[L] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < N * H; i++) p->x[i] = 0.1f * (float)(i / H + 1);
    memcpy(p->expert, expert, sizeof expert);
    memcpy(p->rows, rows, sizeof rows);
    memset(p->ex, SENTINEL, sizeof p->ex);
    memset(p->erow, SENTINEL, sizeof p->erow);
    memset(p->eexp, SENTINEL, sizeof p->eexp);
}

static int untouched(const void *buf, size_t n) { return mr_test_bytes_are(buf, n, SENTINEL); }

static int outputs_untouched(const problem *p)
{
    return untouched(p->ex, sizeof p->ex) && untouched(p->erow, sizeof p->erow) && untouched(p->eexp, sizeof p->eexp);
}

/* The status must match, a message must be waiting, and reading it must clear it. */
static void expect_refusal(const char *what, int status, int want, const problem *p)
{
    const char *msg = aclGetRecentErrMsg();
    CHECK(status == want, "%s: status %d, want %d", what, status, want);
    CHECK(msg && *msg, "%s: no message", what);
    CHECK(aclGetRecentErrMsg() == NULL, "%s: message not cleared on read", what);
    if (p) CHECK(outputs_untouched(p), "%s: outputs were written", what);
}

/* Tensor descriptions that a case may alter before the call. */
typedef struct tdesc {
    aclDataType dt;
    aclFormat fmt;
    int64_t dims[3];
    uint64_t rank;
    int64_t strides[3]; /* 0 in strides[0]: contiguous */
    int64_t offset;
    int64_t storage;    /* elements; -1: same as the view */
    void *data;
} tdesc;

typedef struct call {
    int quant;
    tdesc t[6]; /* x, rowIdx, expertIdx, expandedX, expandedRowIdx, expandedExpertIdx */
    int null_tensor; /* index of a tensor to pass as NULL, or -1 */
    int64_t active;
} call;

static void call_init(call *c, problem *p, int quant)
{
    tdesc x = {ACL_FLOAT, ACL_FORMAT_ND, {N, H}, 2, {0}, 0, -1, p->x};
    tdesc r = {ACL_INT32, ACL_FORMAT_ND, {N, K}, 2, {0}, 0, -1, p->rows};
    tdesc e = {ACL_INT32, ACL_FORMAT_ND, {N, K}, 2, {0}, 0, -1, p->expert};
    tdesc ex = {quant ? ACL_INT8 : ACL_FLOAT, ACL_FORMAT_ND, {A, H}, 2, {0}, 0, -1, p->ex};
    tdesc er = {ACL_INT32, ACL_FORMAT_ND, {L}, 1, {0}, 0, -1, p->erow};
    tdesc ee = {ACL_INT32, ACL_FORMAT_ND, {L}, 1, {0}, 0, -1, p->eexp};
    c->quant = quant;
    c->t[0] = x, c->t[1] = r, c->t[2] = e, c->t[3] = ex, c->t[4] = er, c->t[5] = ee;
    c->null_tensor = -1;
    c->active = N;
}

static aclTensor *make(const tdesc *d)
{
    int64_t strides[3], acc = 1;
    for (uint64_t i = d->rank; i-- > 0;) {
        strides[i] = d->strides[0] ? d->strides[i] : acc;
        acc *= d->dims[i];
    }
    int64_t storage[1] = {d->storage >= 0 ? d->storage : acc + d->offset};
    return aclCreateTensor(d->dims, d->rank, d->dt, strides, d->offset, d->fmt, storage, 1, d->data);
}

/* Phase 1 only; on success the executor is destroyed after making it repeatable. */
static int plan_only(const call *c)
{
    aclTensor *t[6];
    for (int i = 0; i < 6; i++) t[i] = c->null_tensor == i ? NULL : make(&c->t[i]);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    int st = c->quant ? aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], c->active, 1.0, 0.0, t[3], t[4],
                                                                 t[5], &ws, &exe)
                      : aclnnMoeInitRoutingGetWorkspaceSize(t[0], t[1], t[2], c->active, t[3], t[4], t[5], &ws, &exe);
    if (st == ACLNN_SUCCESS) aclDestroyAclOpExecutor(exe);
    for (int i = 0; i < 6; i++) aclDestroyTensor(t[i]);
    return st;
}

static int run_call(const call *c)
{
    aclTensor *t[6];
    for (int i = 0; i < 6; i++) t[i] = c->null_tensor == i ? NULL : make(&c->t[i]);
    int st = fx_run_tensors(c->quant, t[0], t[1], t[2], c->active, 1.0, 0.0, t[3], t[4], t[5]);
    for (int i = 0; i < 6; i++) aclDestroyTensor(t[i]);
    return st;
}

static void test_phase1_rules(void)
{
    problem p;
    call c;
    char what[96];
    for (int quant = 0; quant <= 1; quant++) {
        /* 161001: each tensor NULL */
        for (int i = 0; i < 6; i++) {
            problem_init(&p), call_init(&c, &p, quant);
            c.null_tensor = i;
            snprintf(what, sizeof what, "quant=%d tensor %d NULL", quant, i);
            expect_refusal(what, plan_only(&c), ACLNN_ERR_PARAM_NULLPTR, &p);
        }
        /* 161002: dtypes and formats */
        struct { int idx; aclDataType dt; } bad_dt[] = {
            {0, ACL_INT32}, {0, ACL_INT8}, {0, ACL_DOUBLE}, {1, ACL_INT64}, {1, ACL_FLOAT}, {2, ACL_INT64},
            {2, ACL_FLOAT16}, {3, quant ? ACL_FLOAT16 : ACL_INT8}, {3, ACL_BF16}, {4, ACL_INT64}, {5, ACL_FLOAT}};
        for (size_t i = 0; i < sizeof bad_dt / sizeof bad_dt[0]; i++) {
            problem_init(&p), call_init(&c, &p, quant);
            c.t[bad_dt[i].idx].dt = bad_dt[i].dt;
            snprintf(what, sizeof what, "quant=%d tensor %d dtype %d", quant, bad_dt[i].idx, (int)bad_dt[i].dt);
            expect_refusal(what, plan_only(&c), ACLNN_ERR_PARAM_INVALID, &p);
        }
        for (int i = 0; i < 6; i++) {
            problem_init(&p), call_init(&c, &p, quant);
            c.t[i].fmt = ACL_FORMAT_NCHW;
            snprintf(what, sizeof what, "quant=%d tensor %d format NCHW", quant, i);
            expect_refusal(what, plan_only(&c), ACLNN_ERR_PARAM_INVALID, &p);
        }
        /* 561002: shapes and attributes */
        for (int rule = 0; rule < 12; rule++) {
            problem_init(&p), call_init(&c, &p, quant);
            switch (rule) {
            case 0: c.t[0].rank = 3, c.t[0].dims[2] = 1; break;        /* x 3-D */
            case 1: c.t[0].rank = 1, c.t[0].dims[0] = N * H; break;    /* x 1-D */
            case 2: c.t[1].rank = 1, c.t[1].dims[0] = L; break;        /* rowIdx 1-D */
            case 3: c.t[1].dims[1] = 1; break;                         /* rowIdx shape != expertIdx */
            case 4: c.t[0].dims[0] = N - 1; break;                     /* x rows != N */
            case 5: c.active = -1; break;                              /* activeNum < 0 */
            case 6: c.t[3].dims[0] = A - 1; break;                     /* expandedX rows */
            case 7: c.t[3].dims[1] = H + 1; break;                     /* expandedX cols */
            case 8: c.t[3].rank = 1, c.t[3].dims[0] = A * H; break;    /* expandedX 1-D */
            case 9: c.t[4].rank = 2, c.t[4].dims[0] = N, c.t[4].dims[1] = K; break; /* expandedRowIdx 2-D */
            case 10: c.t[5].dims[0] = L - 1; break;                    /* index outputs differ */
            case 11: c.t[4].dims[0] = c.t[5].dims[0] = L + 1; break;   /* length != N*K */
            }
            snprintf(what, sizeof what, "quant=%d shape rule %d", quant, rule);
            expect_refusal(what, plan_only(&c), ACLNN_ERR_INNER_TILING_ERROR, &p);
        }
        /* 161002: views outside storage, non-contiguous outputs */
        for (int rule = 0; rule < 6; rule++) {
            problem_init(&p), call_init(&c, &p, quant);
            switch (rule) {
            case 0: c.t[0].storage = N * H - 1; break;                  /* storage too small */
            case 1: c.t[1].offset = 1, c.t[1].storage = L; break;       /* offset pushes past the end */
            case 2: /* negative stride reaching before the storage start */
                c.t[2].strides[0] = -K, c.t[2].strides[1] = 1, c.t[2].offset = 0;
                break;
            case 3: c.t[3].strides[0] = 1, c.t[3].strides[1] = A; break; /* column-major output */
            case 4: c.t[4].strides[0] = 2, c.t[4].storage = 2 * L; break; /* strided output */
            case 5: c.t[0].offset = INT64_MAX / 2; break; /* inside its storage, beyond any address */
            }
            snprintf(what, sizeof what, "quant=%d view rule %d", quant, rule);
            expect_refusal(what, plan_only(&c), ACLNN_ERR_PARAM_INVALID, &p);
        }
    }
    /* N*K beyond INT32_MAX: shapes alone, no data needed */
    problem_init(&p), call_init(&c, &p, 1);
    int64_t big = 65536;
    c.t[0].dims[0] = big, c.t[0].data = NULL;
    c.t[1].dims[0] = c.t[2].dims[0] = big, c.t[1].dims[1] = c.t[2].dims[1] = big;
    c.t[1].data = c.t[2].data = NULL;
    c.t[3].dims[0] = 0;
    c.t[4].dims[0] = c.t[5].dims[0] = big * big;
    c.active = 0;
    expect_refusal("N*K > INT32_MAX", plan_only(&c), ACLNN_ERR_INNER_TILING_ERROR, &p);

    /* NULL out-pointers */
    problem_init(&p), call_init(&c, &p, 1);
    aclTensor *t[6];
    for (int i = 0; i < 6; i++) t[i] = make(&c.t[i]);
    aclOpExecutor *exe;
    uint64_t ws;
    expect_refusal("workspaceSize NULL",
                   aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], N, 1, 0, t[3], t[4], t[5], NULL, &exe),
                   ACLNN_ERR_PARAM_NULLPTR, &p);
    expect_refusal("executor NULL",
                   aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], N, 1, 0, t[3], t[4], t[5], &ws, NULL),
                   ACLNN_ERR_PARAM_NULLPTR, &p);
    for (int i = 0; i < 6; i++) aclDestroyTensor(t[i]);
}

static void test_phase2_rules(void)
{
    problem p;
    call c;
    /* rowIdx not a permutation: duplicate, out of range, negative */
    const struct { int pos; int32_t value; const char *what; } bad[] = {
        {3, 0, "duplicate value"}, {5, L, "value == N*K"}, {0, -1, "negative value"}, {2, INT32_MAX, "INT32_MAX"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int quant = 0; quant <= 1; quant++) {
            problem_init(&p), call_init(&c, &p, quant);
            p.rows[bad[i].pos] = bad[i].value;
            int st = run_call(&c);
            const char *msg = aclGetRecentErrMsg();
            CHECK(st == ACLNN_ERR_PARAM_INVALID, "rowIdx %s: status %d", bad[i].what, st);
            CHECK(msg && strstr(msg, "rowIdx["), "rowIdx %s: message names the position: %s", bad[i].what,
                  msg ? msg : "(none)");
            CHECK(outputs_untouched(&p), "rowIdx %s: outputs written", bad[i].what);
        }
    }

    /* workspace: too small, NULL; executor NULL; second run of a one-shot executor; foreign op */
    problem_init(&p), call_init(&c, &p, 1);
    aclTensor *t[6];
    for (int i = 0; i < 6; i++) t[i] = make(&c.t[i]);
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    int st = aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], N, 1, 0, t[3], t[4], t[5], &ws_size, &exe);
    CHECK(st == ACLNN_SUCCESS && ws_size > 0, "plan: %d, workspace %llu", st, (unsigned long long)ws_size);
    void *ws = malloc(ws_size);
    CHECK(aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "repeatable");
    expect_refusal("workspace too small", aclnnMoeInitRoutingQuant(ws, ws_size - 1, exe, NULL),
                   ACLNN_ERR_PARAM_INVALID, &p);
    expect_refusal("workspace NULL", aclnnMoeInitRoutingQuant(NULL, ws_size, exe, NULL), ACLNN_ERR_PARAM_INVALID, &p);
    expect_refusal("executor NULL", aclnnMoeInitRoutingQuant(ws, ws_size, NULL, NULL), ACLNN_ERR_INNER_NULLPTR, &p);
    expect_refusal("executor of another operator", aclnnMoeInitRouting(ws, ws_size, exe, NULL),
                   ACLNN_ERR_PARAM_INVALID, &p);
    expect_refusal("stream that is not live", aclnnMoeInitRoutingQuant(ws, ws_size, exe, (aclrtStream)&p),
                   ACLNN_ERR_PARAM_INVALID, &p);
    /* aliasing: point expandedRowIdx at the rowIdx input */
    CHECK(aclSetOutputTensorAddr(exe, 1, t[4], p.rows) == ACLNN_SUCCESS, "set output addr");
    expect_refusal("output overlapping an input", aclnnMoeInitRoutingQuant(ws, ws_size, exe, NULL),
                   ACLNN_ERR_PARAM_INVALID, &p);
    CHECK(aclSetOutputTensorAddr(exe, 1, t[4], p.eexp) == ACLNN_SUCCESS, "set output addr");
    expect_refusal("two outputs overlapping", aclnnMoeInitRoutingQuant(ws, ws_size, exe, NULL),
                   ACLNN_ERR_PARAM_INVALID, &p);
    expect_refusal("workspace overlapping an output", aclnnMoeInitRoutingQuant(p.ex, ws_size, exe, NULL),
                   ACLNN_ERR_PARAM_INVALID, &p);
    CHECK(aclSetOutputTensorAddr(exe, 1, NULL, NULL) == ACLNN_SUCCESS, "set output addr NULL");
    expect_refusal("non-empty output with NULL data", aclnnMoeInitRoutingQuant(ws, ws_size, exe, NULL),
                   ACLNN_ERR_PARAM_NULLPTR, &p);
    expect_refusal("set addr index out of range", aclSetInputTensorAddr(exe, 3, NULL, p.x), ACLNN_ERR_PARAM_INVALID,
                   NULL);
    expect_refusal("set addr with another tensor", aclSetInputTensorAddr(exe, 0, t[1], p.x), ACLNN_ERR_PARAM_INVALID,
                   NULL);
    CHECK(aclSetOutputTensorAddr(exe, 1, t[4], p.erow) == ACLNN_SUCCESS, "restore output addr");

    /* repeatable: three runs give the documented result each time */
    for (int run = 0; run < 3; run++) {
        memset(p.ex, SENTINEL, sizeof p.ex);
        st = aclnnMoeInitRoutingQuant(ws, ws_size, exe, NULL);
        CHECK(st == ACLNN_SUCCESS && p.erow[0] == 2 && p.eexp[5] == 2 && p.ex[0] == 0, "repeatable run %d: %d", run,
              st);
    }
    CHECK(aclDestroyAclOpExecutor(exe) == ACLNN_SUCCESS, "destroy repeatable executor");
    expect_refusal("destroy twice", aclDestroyAclOpExecutor(exe), ACLNN_ERR_PARAM_INVALID, NULL);
    expect_refusal("run after destroy", aclnnMoeInitRoutingQuant(ws, ws_size, exe, NULL), ACLNN_ERR_PARAM_INVALID,
                   NULL);
    expect_refusal("destroy NULL", aclDestroyAclOpExecutor(NULL), ACLNN_ERR_INNER_NULLPTR, NULL);
    expect_refusal("repeatable NULL", aclSetAclOpExecutorRepeatable(NULL), ACLNN_ERR_INNER_NULLPTR, NULL);

    /* one-shot: runs once, then is gone */
    st = aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], N, 1, 0, t[3], t[4], t[5], &ws_size, &exe);
    CHECK(st == ACLNN_SUCCESS, "plan one-shot");
    CHECK(aclnnMoeInitRoutingQuant(ws, ws_size, exe, NULL) == ACLNN_SUCCESS, "one-shot run");
    problem_init(&p);
    expect_refusal("second run of a one-shot executor", aclnnMoeInitRoutingQuant(ws, ws_size, exe, NULL),
                   ACLNN_ERR_PARAM_INVALID, &p);
    expect_refusal("repeatable after release", aclSetAclOpExecutorRepeatable(exe), ACLNN_ERR_PARAM_INVALID, NULL);
    free(ws);
    for (int i = 0; i < 6; i++) aclDestroyTensor(t[i]);
}

static void test_runtime(void)
{
    void *p = NULL;
    int32_t dev = -1;
    uint32_t count = 0;
    aclrtStream s = NULL;
    expect_refusal("aclrtMalloc before aclInit", aclrtMalloc(&p, 64, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_UNINITIALIZE,
                   NULL);
    expect_refusal("aclFinalize before aclInit", aclFinalize(), ACL_ERROR_REPEAT_FINALIZE, NULL);
    CHECK(aclInit(NULL) == ACL_SUCCESS, "aclInit");
    expect_refusal("aclInit twice", aclInit(NULL), ACL_ERROR_REPEAT_INITIALIZE, NULL);
    expect_refusal("aclrtGetDevice before set", aclrtGetDevice(&dev), ACL_ERROR_RT_CONTEXT_NULL, NULL);
    /* 16 logical devices unless MOEROUTE_DEVICE_COUNT says otherwise (layer decision 16; test_hccl covers it) */
    CHECK(aclrtGetDeviceCount(&count) == ACL_SUCCESS && count >= 1, "device count");
    expect_refusal("aclrtSetDevice(count)", aclrtSetDevice((int32_t)count), ACL_ERROR_RT_INVALID_DEVICEID, NULL);
    expect_refusal("aclrtSetDevice(-1)", aclrtSetDevice(-1), ACL_ERROR_RT_INVALID_DEVICEID, NULL);
    CHECK(aclrtSetDevice(0) == ACL_SUCCESS && aclrtGetDevice(&dev) == ACL_SUCCESS && dev == 0, "device 0");
    CHECK(aclrtCreateStream(&s) == ACL_SUCCESS && aclrtSynchronizeStream(s) == ACL_SUCCESS, "stream");
    CHECK(aclrtMalloc(&p, 100, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS && ((uintptr_t)p % 64) == 0,
          "aclrtMalloc aligned to 64");
    expect_refusal("aclrtMalloc size 0", aclrtMalloc(&p, 0, ACL_MEM_MALLOC_HUGE_FIRST), ACL_ERROR_INVALID_PARAM, NULL);
    void *big = NULL;
    CHECK(aclrtMalloc(&big, 3u << 20, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS && ((uintptr_t)big % (2u << 20)) == 0,
          "a HUGE_FIRST block of 3 MiB is 2 MiB aligned (for transparent huge pages)");
    memset(big, 1, 3u << 20);
    CHECK(aclrtFree(big) == ACL_SUCCESS, "free the big block");
    CHECK(aclrtMalloc(&big, 3u << 20, (aclrtMemMallocPolicy)(ACL_MEM_MALLOC_NORMAL_ONLY | ACL_MEM_TYPE_HIGH_BAND_WIDTH)) ==
                  ACL_SUCCESS && ((uintptr_t)big % 64) == 0 && aclrtFree(big) == ACL_SUCCESS,
          "NORMAL_ONLY with a bandwidth flag");
    char src[16] = "abcdefghijklmno", dst[16];
    memset(dst, SENTINEL, sizeof dst);
    expect_refusal("aclrtMemcpy count > destMax", aclrtMemcpy(dst, 8, src, 16, ACL_MEMCPY_HOST_TO_DEVICE),
                   ACL_ERROR_INVALID_PARAM, NULL);
    CHECK(untouched(dst, sizeof dst), "refused memcpy wrote nothing");
    expect_refusal("aclrtMemcpy bad kind", aclrtMemcpy(dst, 16, src, 16, (aclrtMemcpyKind)99), ACL_ERROR_INVALID_PARAM,
                   NULL);
    for (int kind = 0; kind <= 7; kind++) {
        memset(dst, 0, sizeof dst);
        CHECK(aclrtMemcpy(dst, 16, src, 16, (aclrtMemcpyKind)kind) == ACL_SUCCESS && memcmp(dst, src, 16) == 0,
              "memcpy kind %d", kind);
    }
    expect_refusal("aclrtMemset count > maxCount", aclrtMemset(dst, 4, 0, 8), ACL_ERROR_INVALID_PARAM, NULL);
    CHECK(aclrtMemset(p, 100, 7, 100) == ACL_SUCCESS && ((unsigned char *)p)[99] == 7, "memset");
    expect_refusal("aclrtFree of a foreign pointer", aclrtFree(dst), ACL_ERROR_INVALID_PARAM, NULL);
    expect_refusal("aclrtFreeHost of a device pointer", aclrtFreeHost(p), ACL_ERROR_INVALID_PARAM, NULL);
    CHECK(aclrtFree(p) == ACL_SUCCESS, "aclrtFree");
    expect_refusal("aclrtFree twice", aclrtFree(p), ACL_ERROR_INVALID_PARAM, NULL);
    CHECK(aclrtMallocHost(&p, 10) == ACL_SUCCESS && aclrtFreeHost(p) == ACL_SUCCESS, "host memory");
    CHECK(aclrtDestroyStream(s) == ACL_SUCCESS, "destroy stream");
    expect_refusal("destroy stream twice", aclrtDestroyStream(s), ACL_ERROR_INVALID_RESOURCE_HANDLE, NULL);
    expect_refusal("synchronize a destroyed stream", aclrtSynchronizeStream(s), ACL_ERROR_INVALID_RESOURCE_HANDLE,
                   NULL);
    CHECK(aclrtResetDevice(0) == ACL_SUCCESS && aclFinalize() == ACL_SUCCESS, "reset + finalize");
    expect_refusal("aclrtSetDevice after aclFinalize", aclrtSetDevice(0), ACL_ERROR_UNINITIALIZE, NULL);
    void *kept = NULL;
    aclrtStream kept_stream = NULL;
    CHECK(aclInit(NULL) == ACL_SUCCESS && aclrtMalloc(&kept, 64, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS &&
              aclrtCreateStream(&kept_stream) == ACL_SUCCESS && aclFinalize() == ACL_SUCCESS,
          "init again after finalize");
    CHECK(aclrtFree(kept) == ACL_SUCCESS && aclrtDestroyStream(kept_stream) == ACL_SUCCESS,
          "release calls stay valid after aclFinalize");

    /* messages: newest first, cleared on read; bad tensors are refused with NULL */
    int64_t dims[2] = {2, -1};
    CHECK(aclCreateTensor(dims, 2, ACL_FLOAT, NULL, 0, ACL_FORMAT_ND, NULL, 0, NULL) == NULL, "negative dim refused");
    CHECK(aclCreateTensor(dims, 9, ACL_FLOAT, NULL, 0, ACL_FORMAT_ND, NULL, 0, NULL) == NULL, "9 dims refused");
    const char *msg = aclGetRecentErrMsg();
    CHECK(msg && strstr(msg, "at most") && strstr(msg, "negative") && strstr(msg, "at most") < strstr(msg, "negative"),
          "newest message first: %s", msg ? msg : "(none)");
    CHECK(aclGetRecentErrMsg() == NULL, "cleared");
}

static void test_native(void)
{
    const uint16_t x[4] = {0x3C00, 0x4000, 0x4200, 0x4400};
    int32_t expert[4] = {1, 0, 1, 0}, rows[4] = {0, 2, 1, 3}, erow[4], eexp[4];
    int8_t ex[8];
    moeroute_init_routing_args a = {sizeof(moeroute_init_routing_args), 2, 2, 2, 2, MOEROUTE_DTYPE_FLOAT16, x, 2, 1, expert, 2, 1, rows, 2, 1,
                                    MOEROUTE_DTYPE_INT8, 1.0, 0.0, ex, erow, eexp};
    CHECK(moeroute_init_routing(NULL, &a) == MOEROUTE_OK, "native ok: %s", moeroute_error_message());
    moeroute_init_routing_args b;
#define NATIVE_CASE(what, stmt, want)                                                                          \
    do {                                                                                                      \
        b = a;                                                                                                \
        stmt;                                                                                                 \
        memset(ex, SENTINEL, sizeof ex), memset(erow, SENTINEL, sizeof erow), memset(eexp, SENTINEL, sizeof eexp); \
        moeroute_status st_ = moeroute_init_routing(NULL, &b);                                                \
        const char *m_ = moeroute_error_message();                                                            \
        CHECK(st_ == (want), "%s: got %s", what, moeroute_status_string(st_));                               \
        CHECK(m_ && *m_, "%s: no message", what);                                                             \
        CHECK(untouched(ex, sizeof ex) && untouched(erow, sizeof erow) && untouched(eexp, sizeof eexp),       \
              "%s: outputs written", what);                                                                   \
    } while (0)
    NATIVE_CASE("x_dtype INT32", b.x_dtype = MOEROUTE_DTYPE_INT32, MOEROUTE_ERR_INVALID_DTYPE);
    NATIVE_CASE("expanded_x_dtype FLOAT32 for f16 x", b.expanded_x_dtype = MOEROUTE_DTYPE_FLOAT32,
                MOEROUTE_ERR_INVALID_DTYPE);
    NATIVE_CASE("negative N", b.num_rows = -1, MOEROUTE_ERR_INVALID_SHAPE);
    NATIVE_CASE("negative H", b.hidden = -5, MOEROUTE_ERR_INVALID_SHAPE);
    NATIVE_CASE("negative active_num", b.active_num = -1, MOEROUTE_ERR_INVALID_SHAPE);
    NATIVE_CASE("N*K too large", (b.num_rows = 1 << 20, b.k = 1 << 12), MOEROUTE_ERR_TOO_LARGE);
    NATIVE_CASE("x NULL", b.x = NULL, MOEROUTE_ERR_NULL_POINTER);
    NATIVE_CASE("expert NULL", b.expert_idx = NULL, MOEROUTE_ERR_NULL_POINTER);
    NATIVE_CASE("output NULL", b.expanded_row_idx = NULL, MOEROUTE_ERR_NULL_POINTER);
    NATIVE_CASE("rowIdx duplicate", (rows[3] = 0, b.row_idx = rows), MOEROUTE_ERR_INVALID_VALUE);
    rows[3] = 3;
    NATIVE_CASE("output aliases input", b.expanded_expert_idx = expert, MOEROUTE_ERR_ALIASING);
    NATIVE_CASE("outputs alias each other", b.expanded_expert_idx = erow, MOEROUTE_ERR_ALIASING);
    NATIVE_CASE("huge stride overflows", b.x_row_stride = INT64_MAX / 2, MOEROUTE_ERR_TOO_LARGE);
    CHECK(moeroute_init_routing(NULL, NULL) == MOEROUTE_ERR_NULL_POINTER && moeroute_error_message(), "args NULL");

    moeroute_context *ctx = NULL;
    moeroute_options bad = {-1, MOEROUTE_ISA_AUTO};
    CHECK(moeroute_context_create(&bad, &ctx) == MOEROUTE_ERR_INVALID_OPTION && !ctx && moeroute_error_message(),
          "negative threads");
    bad.num_threads = 1, bad.isa = 42;
    CHECK(moeroute_context_create(&bad, &ctx) == MOEROUTE_ERR_INVALID_OPTION && !ctx && moeroute_error_message(),
          "bad isa");
    CHECK(moeroute_context_create(NULL, NULL) == MOEROUTE_ERR_NULL_POINTER && moeroute_error_message(), "out NULL");
    moeroute_context_destroy(NULL);
    CHECK(!strcmp(moeroute_status_string(MOEROUTE_ERR_ALIASING), "MOEROUTE_ERR_ALIASING"), "status string");
    CHECK(moeroute_isa_name((moeroute_isa)99) == NULL && !strcmp(moeroute_isa_name(MOEROUTE_ISA_AVX2), "avx2"),
          "isa names");
}

int main(void)
{
    test_phase1_rules();
    test_phase2_rules();
    test_runtime();
    test_native();
    return mr_test_finish();
}
