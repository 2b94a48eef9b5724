/* Hand-worked cases for the routing family: aclnnMoeInitRoutingV2, aclnnMoeInitRoutingQuantV2,
 * aclnnMoeInitRoutingV3 and aclnnMoeComputeExpertTokens, called as a CANN user would (acl/acl.h, the aclnnop
 * headers, aclInit + a stream + aclrtMalloc'd workspaces). Every expected value below was worked out by hand
 * from the routing spec (sections 3, 4, 5, 9) and /work/notes/decisions.md and is written as a literal; none
 * is computed by re-running the algorithm. The arithmetic of each quantized row is spelled out in a comment.
 *
 * Recurring problem A (spec 3.3): x = [[.1]*4, [.2]*4, [.3]*4], expertIdx = [[1,2],[0,1],[0,2]]
 *   flat ids f0..f5 = 1,2,0,1,0,2; stable sort: e0 {f2,f4}, e1 {f0,f3}, e2 {f1,f5}; perm = [2,4,0,3,1,5]
 *   (perm is its own inverse here, so problem B below is the one that tells perm from its inverse).
 * Recurring problem B: N=4, K=2, H=3, x[r] = [10r+1, 10r+2, 10r+3], expertIdx = [[3,1],[0,3],[1,3],[2,2]]
 *   flat ids f0..f7 = 3,1,0,3,1,3,2,2; e0 {f2}, e1 {f1,f4}, e2 {f6,f7}, e3 {f0,f3,f5}
 *   perm = [2,1,4,6,7,0,3,5]; inverse (expandedRowIdxOut) = [5,1,0,6,2,7,3,4]; tokens perm/2 = [1,0,2,3,3,0,1,2]
 * Recurring problem D (dynamic quant), N=3, K=1, H=4:
 *   x0 = [127, -63.5, 0.5, 0], x1 = [254, 127, -1, 3], x2 = [-508, 4, 6, 10]
 *   no smooth: x0: m=127 sc=1 -> [127, -64 (half away), 1 (half away), 0]
 *              x1: m=254 sc=2 -> [127, 63.5->64, -0.5->-1, 1.5->2]
 *              x2: m=508 sc=4 -> [-127, 1, 1.5->2, 2.5->3]
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_moe_compute_expert_tokens.h"
#include "aclnnop/aclnn_moe_init_routing_quant_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v3.h"
#include "harness.h"

#define SENT_I32 ((int32_t)0x5A5A5A5A)
#define SENT_I64 ((int64_t)0x5A5A5A5A5A5A5A5ALL)

static int eq_i32(const int32_t *a, const int32_t *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }
static int eq_i64(const int64_t *a, const int64_t *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }
static int eq_i8(const int8_t *a, const int8_t *b, size_t n) { return memcmp(a, b, n) == 0; }
static int eq_u16(const uint16_t *a, const uint16_t *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }
/* bit-exact float comparison */
static int eq_f32(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static void print_i32(const char *what, const int32_t *a, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)a[i]);
    fputc('\n', stderr);
}

static void print_i8(const char *what, const int8_t *a, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)a[i]);
    fputc('\n', stderr);
}

static void print_i64(const char *what, const int64_t *a, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %lld", (long long)a[i]);
    fputc('\n', stderr);
}

#define CHECK_I32(got, want, n, ...)                                                                         \
    do {                                                                                                     \
        int ok_ = eq_i32(got, want, n);                                                                      \
        CHECK(ok_, __VA_ARGS__);                                                                             \
        if (!ok_) print_i32("got ", got, n), print_i32("want", want, n);                                     \
    } while (0)
#define CHECK_I64(got, want, n, ...)                                                                         \
    do {                                                                                                     \
        int ok_ = eq_i64(got, want, n);                                                                      \
        CHECK(ok_, __VA_ARGS__);                                                                             \
        if (!ok_) print_i64("got ", got, n), print_i64("want", want, n);                                     \
    } while (0)
#define CHECK_I8(got, want, n, ...)                                                                          \
    do {                                                                                                     \
        int ok_ = eq_i8(got, want, n);                                                                       \
        CHECK(ok_, __VA_ARGS__);                                                                             \
        if (!ok_) print_i8("got ", got, n), print_i8("want", want, n);                                       \
    } while (0)

/* Contiguous ND tensor of rank 1..3 over data (CANN sample style: view dims = storage dims). */
static aclTensor *tnd(aclDataType dt, uint64_t rank, int64_t d0, int64_t d1, int64_t d2, void *data)
{
    return mk((tspec){dt, rank, {d0, d1, d2}, data, ACL_FORMAT_ND, {0}, 0, 0});
}

/* ---------------------------------------------------------------------------------------------------- */
/* V2 / QuantV2 runner                                                                                  */

typedef struct rcase {
    int quant; /* 0: aclnnMoeInitRoutingV2, 1: aclnnMoeInitRoutingQuantV2 */
    aclDataType xdt;
    const void *x;
    int64_t n, h, k;
    const int32_t *e;
    int64_t active, cap, num, drop, flag;
    bool bc;
    int64_t qmode;
    const float *scale; /* QuantV2 static [1] (scale_rank 1, d0 1) or smooth [d0, d1] (rank 2) */
    uint64_t scale_rank;
    int64_t scale_d0, scale_d1;
    const float *offset; /* [1] */
    void *ex;            /* expandedX: dropless [ex_rows, h], drop [num, cap, h] */
    int64_t ex_rows;
    int32_t *er;         /* [n*k] */
    int32_t *cnt;        /* [num] or NULL (no tensor) */
    int32_t *bcnt;       /* [num] or NULL */
    float *dyn;          /* [dyn_len] or NULL */
    int64_t dyn_len;
} rcase;

static aclnnStatus run_routing(const rcase *c)
{
    aclDataType exdt = c->quant ? ACL_INT8 : c->xdt;
    aclTensor *tx = tnd(c->xdt, 2, c->n, c->h, 0, (void *)c->x);
    aclTensor *te = tnd(ACL_INT32, 2, c->n, c->k, 0, (void *)c->e);
    aclTensor *tex = c->drop ? tnd(exdt, 3, c->num, c->cap, c->h, c->ex) : tnd(exdt, 2, c->ex_rows, c->h, 0, c->ex);
    aclTensor *ter = tnd(ACL_INT32, 1, c->n * c->k, 0, 0, c->er);
    aclTensor *tcnt = c->cnt ? tnd(ACL_INT32, 1, c->num, 0, 0, c->cnt) : NULL;
    aclTensor *tbc = c->bcnt ? tnd(ACL_INT32, 1, c->num, 0, 0, c->bcnt) : NULL;
    aclTensor *tsc = c->scale ? tnd(ACL_FLOAT, c->scale_rank, c->scale_d0, c->scale_d1, 0, (void *)c->scale) : NULL;
    aclTensor *tof = c->offset ? tnd(ACL_FLOAT, 1, 1, 0, 0, (void *)c->offset) : NULL;
    aclTensor *tdyn = c->dyn ? tnd(ACL_FLOAT, 1, c->dyn_len, 0, 0, c->dyn) : NULL;
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st;
    if (c->quant) {
        st = aclnnMoeInitRoutingQuantV2GetWorkspaceSize(tx, te, tsc, tof, c->active, c->cap, c->num, c->drop,
                                                        c->flag, c->bc, c->qmode, tex, ter, tcnt, tbc, tdyn, &ws,
                                                        &exe);
        st = finish(st, aclnnMoeInitRoutingQuantV2, ws, exe);
    } else {
        st = aclnnMoeInitRoutingV2GetWorkspaceSize(tx, te, c->active, c->cap, c->num, c->drop, c->flag, c->bc, tex,
                                                   ter, tcnt, tbc, &ws, &exe);
        st = finish(st, aclnnMoeInitRoutingV2, ws, exe);
    }
    aclDestroyTensor(tx);
    aclDestroyTensor(te);
    aclDestroyTensor(tex);
    aclDestroyTensor(ter);
    aclDestroyTensor(tcnt);
    aclDestroyTensor(tbc);
    aclDestroyTensor(tsc);
    aclDestroyTensor(tof);
    aclDestroyTensor(tdyn);
    return st;
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeInitRoutingV2                                                                                */

static const float XA[12] = {.1f, .1f, .1f, .1f, .2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f};
static const int32_t EA[6] = {1, 2, 0, 1, 0, 2};

static const float XB[12] = {1, 2, 3, 11, 12, 13, 21, 22, 23, 31, 32, 33};
static const int32_t EB[8] = {3, 1, 0, 3, 1, 3, 2, 2};

/* Spec 3.3 worked example: dropless, count and cumsum, activeNum 0 / truncating / larger than N*K. */
static void test_v2_worked_example(void)
{
    static const int32_t want_er[6] = {2, 4, 0, 3, 1, 5};
    /* rows x[1], x[2], x[0], x[1], x[0], x[2] */
    static const float want_ex[24] = {.2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f, .1f, .1f, .1f, .1f,
                                      .2f, .2f, .2f, .2f, .1f, .1f, .1f, .1f, .3f, .3f, .3f, .3f};
    static const int32_t want_count[3] = {2, 2, 2}, want_cumsum[3] = {2, 4, 6};
    float ex[24];
    int32_t er[6], cnt[3], bcnt[3];

    /* activeNum 0 = all 6 rows, flag 2 = count */
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
    rcase c = {.xdt = ACL_FLOAT, .x = XA, .n = 3, .h = 4, .k = 2, .e = EA, .active = 0, .num = 3, .flag = 2,
               .ex = ex, .ex_rows = 6, .er = er, .cnt = cnt};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 worked example: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 6, "V2 worked example: expandedRowIdx");
    CHECK_F32(ex, want_ex, 24, "V2 worked example: expandedX rows x1,x2,x0,x1,x0,x2");
    CHECK_I32(cnt, want_count, 3, "V2 worked example: count (flag 2)");

    /* flag 1 = inclusive cumsum; beforeCapacity flag ignored in dropless: its tensor stays untouched */
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
    memset(bcnt, SENT, sizeof bcnt);
    c.flag = 1, c.bc = true, c.bcnt = bcnt;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 cumsum: status %d: %s", st, errmsg());
    CHECK_I32(cnt, want_cumsum, 3, "V2 cumsum (flag 1)");
    CHECK_I32(er, want_er, 6, "V2 cumsum: expandedRowIdx");
    CHECK(mr_test_bytes_are(bcnt, sizeof bcnt, SENT), "V2 dropless: beforeCapacity output must not be written");
    /* ... and not required either */
    c.bcnt = NULL;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 dropless, beforeCapacityFlag true, output NULL: status %d: %s", st, errmsg());
    c.bc = false;

    /* activeNum 4 truncates to 4 expanded rows (counts expanded rows, not tokens); index output complete */
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
    c.active = 4, c.ex_rows = 4, c.flag = 2;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 activeNum 4: status %d: %s", st, errmsg());
    CHECK_F32(ex, want_ex, 16, "V2 activeNum 4: first 4 rows");
    CHECK(mr_test_bytes_are(ex + 16, 8 * sizeof(float), SENT), "V2 activeNum 4: rows 4, 5 not written");
    CHECK_I32(er, want_er, 6, "V2 activeNum 4: expandedRowIdx complete");
    CHECK_I32(cnt, want_count, 3, "V2 activeNum 4: counts cover all copies");

    /* activeNum 1: one row (x[1]) */
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er);
    c.active = 1, c.ex_rows = 1, c.flag = 0, c.cnt = NULL;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 activeNum 1: status %d: %s", st, errmsg());
    CHECK_F32(ex, want_ex, 4, "V2 activeNum 1: row x[1]");
    CHECK(mr_test_bytes_are(ex + 4, 20 * sizeof(float), SENT), "V2 activeNum 1: only one row written");
    CHECK_I32(er, want_er, 6, "V2 activeNum 1: expandedRowIdx");

    /* activeNum larger than N*K: min(L, activeNum) = 6; also larger than N (V1 would use rows of tokens) */
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er);
    c.active = 100, c.ex_rows = 6;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 activeNum 100: status %d: %s", st, errmsg());
    CHECK_F32(ex, want_ex, 24, "V2 activeNum 100: all 6 rows");

    /* flag 0 with expertNum 0 is fine in dropless */
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er);
    c.active = 0, c.num = 0;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 flag 0, expertNum 0: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 6, "V2 flag 0, expertNum 0: expandedRowIdx");
    CHECK_F32(ex, want_ex, 24, "V2 flag 0, expertNum 0: expandedX");
}

/* Problem B: a permutation that is not its own inverse, counts with an absent expert. */
static void test_v2_problem_b(void)
{
    static const int32_t want_er[8] = {5, 1, 0, 6, 2, 7, 3, 4};
    /* tokens [1,0,2,3,3,0,1,2] */
    static const float want_ex[24] = {11, 12, 13, 1, 2, 3, 21, 22, 23, 31, 32, 33,
                                      31, 32, 33, 1, 2, 3, 11, 12, 13, 21, 22, 23};
    static const int32_t want_count[5] = {1, 2, 2, 3, 0}, want_cumsum[5] = {1, 3, 5, 8, 8};
    float ex[24];
    int32_t er[8], cnt[5];
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
    rcase c = {.xdt = ACL_FLOAT, .x = XB, .n = 4, .h = 3, .k = 2, .e = EB, .num = 5, .flag = 2, .ex = ex,
               .ex_rows = 8, .er = er, .cnt = cnt};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 problem B: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 8, "V2 problem B: expandedRowIdxOut[perm[i]] = i (not perm itself)");
    CHECK_F32(ex, want_ex, 24, "V2 problem B: expandedX");
    CHECK_I32(cnt, want_count, 5, "V2 problem B: count, expert 4 absent");
    memset(cnt, SENT, sizeof cnt);
    c.flag = 1;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 problem B cumsum: status %d: %s", st, errmsg());
    CHECK_I32(cnt, want_cumsum, 5, "V2 problem B: cumsum");
}

/* Drop & pad: capacity smaller than an expert's load. */
static void test_v2_drop_pad(void)
{
    /* C = 2, E = 5: e0 {f2 -> slot 0}, e1 {f1 -> 2, f4 -> 3}, e2 {f6 -> 4, f7 -> 5},
     * e3 {f0 -> 6, f3 -> 7, f5 dropped}, e4 none. Slots 1, 8, 9 are pad rows. */
    static const int32_t want_er[8] = {6, 2, 0, 7, 3, -1, 4, 5};
    static const float want_ex[30] = {11, 12, 13, 0, 0, 0, 1, 2, 3, 21, 22, 23, 31, 32, 33,
                                      31, 32, 33, 1, 2, 3, 11, 12, 13, 0, 0, 0, 0, 0, 0};
    static const int32_t want_bc[5] = {1, 2, 2, 3, 0};
    float ex[30];
    int32_t er[8], bcnt[5], cnt[5];
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(bcnt, SENT, sizeof bcnt);
    memset(cnt, SENT, sizeof cnt);
    /* flag 2 is forced to 0 in drop mode: the count tensor is given but must stay untouched */
    rcase c = {.xdt = ACL_FLOAT, .x = XB, .n = 4, .h = 3, .k = 2, .e = EB, .cap = 2, .num = 5, .drop = 1,
               .flag = 2, .bc = true, .ex = ex, .er = er, .cnt = cnt, .bcnt = bcnt};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 drop C=2: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 8, "V2 drop C=2: expandedRowIdx (dropped copy -1)");
    CHECK_F32(ex, want_ex, 30, "V2 drop C=2: expandedX [5,2,3] with zero pad rows");
    CHECK_I32(bcnt, want_bc, 5, "V2 drop C=2: beforeCapacity counts");
    CHECK(mr_test_bytes_are(cnt, sizeof cnt, SENT), "V2 drop: count output must not be written (flag forced to 0)");

    /* activeNum is ignored in drop mode; count output may be NULL */
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(bcnt, SENT, sizeof bcnt);
    c.active = 3, c.cnt = NULL;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 drop activeNum 3: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 8, "V2 drop activeNum 3: expandedRowIdx");
    CHECK_F32(ex, want_ex, 30, "V2 drop activeNum 3: expandedX");
    CHECK_I32(bcnt, want_bc, 5, "V2 drop activeNum 3: beforeCapacity");

    /* C = 1: e0 {f2 -> 0}, e1 {f1 -> 1, f4 -}, e2 {f6 -> 2, f7 -}, e3 {f0 -> 3, f3 -, f5 -}, e4 pad */
    static const int32_t want_er1[8] = {3, 1, 0, -1, -1, -1, 2, -1};
    static const float want_ex1[15] = {11, 12, 13, 1, 2, 3, 31, 32, 33, 1, 2, 3, 0, 0, 0};
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(bcnt, SENT, sizeof bcnt);
    c.cap = 1, c.active = 0, c.flag = 0;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 drop C=1: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er1, 8, "V2 drop C=1: expandedRowIdx");
    CHECK_F32(ex, want_ex1, 15, "V2 drop C=1: expandedX [5,1,3]");
    CHECK(mr_test_bytes_are(ex + 15, 15 * sizeof(float), SENT), "V2 drop C=1: nothing beyond E*C rows");
    CHECK_I32(bcnt, want_bc, 5, "V2 drop C=1: beforeCapacity");

    /* beforeCapacity flag false: tensor may be NULL */
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er);
    c.bc = false, c.bcnt = NULL;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 drop, no beforeCapacity: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er1, 8, "V2 drop, no beforeCapacity: expandedRowIdx");
    CHECK_F32(ex, want_ex1, 15, "V2 drop, no beforeCapacity: expandedX");
}

/* Ids in dropless without counts: any int32, sorted by exact value (negative first, > 2^24 exact). */
static void test_v2_any_ids(void)
{
    static const float x[2] = {1.0f, 2.0f};
    /* flat 5,-2,7,-2: -2 {f1,f3}, 5 {f0}, 7 {f2} -> perm [1,3,0,2], inverse [2,0,3,1], tokens [0,1,0,1] */
    static const int32_t e1[4] = {5, -2, 7, -2};
    static const int32_t want_er1[4] = {2, 0, 3, 1};
    static const float want_ex1[4] = {1, 2, 1, 2};
    /* flat 16777217, 16777216, INT32_MIN, INT32_MAX: order f2, f1, f0, f3 (fp32 keys would tie f0 and f1) */
    static const int32_t e2[4] = {16777217, 16777216, INT32_MIN, INT32_MAX};
    static const int32_t want_er2[4] = {2, 1, 0, 3};
    static const float want_ex2[4] = {2, 1, 1, 2};
    float ex[4];
    int32_t er[4];
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er);
    rcase c = {.xdt = ACL_FLOAT, .x = x, .n = 2, .h = 1, .k = 2, .e = e1, .num = 0, .ex = ex, .ex_rows = 4,
               .er = er};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 negative ids: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er1, 4, "V2 negative ids: expandedRowIdx");
    CHECK_F32(ex, want_ex1, 4, "V2 negative ids: expandedX");
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er);
    c.e = e2, c.num = 4; /* expertNum is irrelevant without counts */
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 extreme ids: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er2, 4, "V2 extreme ids: exact int32 order");
    CHECK_F32(ex, want_ex2, 4, "V2 extreme ids: expandedX");
}

/* Inputs as strided views: x rows padded to 8 floats, expertIdx stored column-major (k-major). */
static void test_v2_strided_inputs(void)
{
    static const float xs[24] = {.1f, .1f, .1f, .1f, 99, 99, 99, 99, .2f, .2f, .2f, .2f,
                                 99,  99,  99,  99,  .3f, .3f, .3f, .3f, 99, 99, 99, 99};
    /* storage [K][N]: column 0 = ids of slot 0 (1, 0, 0), column 1 = slot 1 (2, 1, 2) -> same as EA */
    static const int32_t ecm[6] = {1, 0, 0, 2, 1, 2};
    static const int32_t want_er[6] = {2, 4, 0, 3, 1, 5};
    static const float want_ex[24] = {.2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f, .1f, .1f, .1f, .1f,
                                      .2f, .2f, .2f, .2f, .1f, .1f, .1f, .1f, .3f, .3f, .3f, .3f};
    static const int32_t want_cnt[3] = {2, 2, 2};
    float ex[24];
    int32_t er[6], cnt[3];
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
    int64_t xd[2] = {3, 4}, xst[2] = {8, 1}, xstor[1] = {24};
    int64_t ed[2] = {3, 2}, est[2] = {1, 3}, estor[1] = {6};
    aclTensor *tx = aclCreateTensor(xd, 2, ACL_FLOAT, xst, 0, ACL_FORMAT_ND, xstor, 1, (void *)xs);
    aclTensor *te = aclCreateTensor(ed, 2, ACL_INT32, est, 0, ACL_FORMAT_ND, estor, 1, (void *)ecm);
    aclTensor *tex = tnd(ACL_FLOAT, 2, 6, 4, 0, ex);
    aclTensor *ter = tnd(ACL_INT32, 1, 6, 0, 0, er);
    aclTensor *tcnt = tnd(ACL_INT32, 1, 3, 0, 0, cnt);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st =
        aclnnMoeInitRoutingV2GetWorkspaceSize(tx, te, 0, 0, 3, 0, 2, false, tex, ter, tcnt, NULL, &ws, &exe);
    st = finish(st, aclnnMoeInitRoutingV2, ws, exe);
    CHECK(st == ACLNN_SUCCESS, "V2 strided inputs: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 6, "V2 strided inputs: expandedRowIdx");
    CHECK_F32(ex, want_ex, 24, "V2 strided inputs: expandedX");
    CHECK_I32(cnt, want_cnt, 3, "V2 strided inputs: count");
    aclDestroyTensor(tx), aclDestroyTensor(te), aclDestroyTensor(tex), aclDestroyTensor(ter);
    aclDestroyTensor(tcnt);
}

/* 16-bit x: bf16 rows copied bit for bit (NaN payload included); fp16 drop mode with a zero pad row. */
static void test_v2_half_types(void)
{
    /* bf16: row0 (1, -1), row1 (2, -2), row2 (3, NaN) */
    static const uint16_t xb[6] = {0x3F80, 0xBF80, 0x4000, 0xC000, 0x4040, 0x7FC1};
    static const uint16_t want_b[12] = {0x4000, 0xC000, 0x4040, 0x7FC1, 0x3F80, 0xBF80,
                                        0x4000, 0xC000, 0x3F80, 0xBF80, 0x4040, 0x7FC1};
    static const int32_t want_er[6] = {2, 4, 0, 3, 1, 5};
    uint16_t ex[12];
    int32_t er[6];
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er);
    rcase c = {.xdt = ACL_BF16, .x = xb, .n = 3, .h = 2, .k = 2, .e = EA, .num = 3, .ex = ex, .ex_rows = 6,
               .er = er};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "V2 bf16: status %d: %s", st, errmsg());
    CHECK(eq_u16(ex, want_b, 12), "V2 bf16: rows copied bit for bit");
    CHECK_I32(er, want_er, 6, "V2 bf16: expandedRowIdx");

    /* fp16 drop, E = 4, C = 1: e0 {f2 -> 0, f4 -}, e1 {f0 -> 1, f3 -}, e2 {f1 -> 2, f5 -}, e3 pad.
     * x: row0 (1, -2), row1 (3, 0.5), row2 (inf, -0) */
    static const uint16_t xh[6] = {0x3C00, 0xC000, 0x4200, 0x3800, 0x7C00, 0x8000};
    static const uint16_t want_h[8] = {0x4200, 0x3800, 0x3C00, 0xC000, 0x3C00, 0xC000, 0x0000, 0x0000};
    static const int32_t want_er_drop[6] = {1, 2, 0, -1, -1, -1};
    static const int32_t want_bc[4] = {2, 2, 2, 0};
    int32_t bcnt[4];
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(bcnt, SENT, sizeof bcnt);
    rcase d = {.xdt = ACL_FLOAT16, .x = xh, .n = 3, .h = 2, .k = 2, .e = EA, .cap = 1, .num = 4, .drop = 1,
               .bc = true, .ex = ex, .er = er, .bcnt = bcnt};
    st = run_routing(&d);
    CHECK(st == ACLNN_SUCCESS, "V2 fp16 drop: status %d: %s", st, errmsg());
    CHECK(eq_u16(ex, want_h, 8), "V2 fp16 drop: expandedX [4,1,2] with a zero pad row");
    CHECK(mr_test_bytes_are(ex + 8, 4 * sizeof(uint16_t), SENT), "V2 fp16 drop: nothing beyond E*C rows");
    CHECK_I32(er, want_er_drop, 6, "V2 fp16 drop: expandedRowIdx");
    CHECK_I32(bcnt, want_bc, 4, "V2 fp16 drop: beforeCapacity");
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeInitRoutingQuantV2                                                                           */

/* Spec 4.2: static quant, drop mode; f16(0.3452) = 0.34521484375, f16(1.8369) = 1.8369140625.
 * f16(.1)*s + o = 0.0999755859375*0.3452 + 1.8369 ~ 1.8714 -> 2; .2 -> ~1.906 -> 2; .3 -> ~1.940 -> 2. */
static void test_qv2_static_drop_example(void)
{
    static const float scale[1] = {0.3452f}, offset[1] = {1.8369f};
    static const int32_t want_er[6] = {2, 4, 0, 3, 1, 5};
    static const int32_t want_bc[3] = {2, 2, 2};
    int8_t ex[24], want_ex[24];
    int32_t er[6], bcnt[3];
    memset(want_ex, 2, sizeof want_ex);
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(bcnt, SENT, sizeof bcnt);
    rcase c = {.quant = 1, .xdt = ACL_FLOAT, .x = XA, .n = 3, .h = 4, .k = 2, .e = EA, .cap = 2, .num = 3,
               .drop = 1, .bc = true, .qmode = 0, .scale = scale, .scale_rank = 1, .scale_d0 = 1,
               .offset = offset, .ex = ex, .er = er, .bcnt = bcnt};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 4.2 example: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 6, "QuantV2 4.2 example: expandedRowIdx");
    CHECK_I8(ex, want_ex, 24, "QuantV2 4.2 example: every element quantizes to 2");
    CHECK_I32(bcnt, want_bc, 3, "QuantV2 4.2 example: beforeCapacity");
}

/* Static quant dropless: ties to even and saturation in the fp16 chain. */
static void test_qv2_static_rounding(void)
{
    static const int32_t e[1] = {0};
    static const float one[1] = {1.0f}, zero[1] = {0.0f};
    /* scale 1, offset 0: 0.5->0, 1.5->2, 2.5->2, -0.5->0, 127.5->128->127, -200->-128 */
    static const float x1[6] = {0.5f, 1.5f, 2.5f, -0.5f, 127.5f, -200.0f};
    static const int8_t want1[6] = {0, 2, 2, 0, 127, -128};
    int8_t ex[6];
    int32_t er[1], cnt[1];
    const int32_t want_cnt[1] = {1}, want_er[1] = {0};
    memset(ex, SENT, sizeof ex), memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
    rcase c = {.quant = 1, .xdt = ACL_FLOAT, .x = x1, .n = 1, .h = 6, .k = 1, .e = e, .num = 1, .flag = 2,
               .qmode = 0, .scale = one, .scale_rank = 1, .scale_d0 = 1, .offset = zero, .ex = ex, .ex_rows = 1,
               .er = er, .cnt = cnt};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 static rounding: status %d: %s", st, errmsg());
    CHECK_I8(ex, want1, 6, "QuantV2 static: ties to even, saturation");
    CHECK_I32(er, want_er, 1, "QuantV2 static: expandedRowIdx");
    CHECK_I32(cnt, want_cnt, 1, "QuantV2 static: count");

    /* scale 2, offset 0.25: 1*2+.25=2.25->2; .625*2+.25=1.5->2; 1.125*2+.25=2.5->2; -.875*2+.25=-1.5->-2 */
    static const float two[1] = {2.0f}, quarter[1] = {0.25f};
    static const float x2[4] = {1.0f, 0.625f, 1.125f, -0.875f};
    static const uint16_t x2h[4] = {0x3C00, 0x3900, 0x3C80, 0xBB00}; /* the same values in fp16 */
    static const int8_t want2[4] = {2, 2, 2, -2};
    memset(ex, SENT, sizeof ex);
    c.x = x2, c.h = 4, c.scale = two, c.offset = quarter;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 static scale 2 offset .25: status %d: %s", st, errmsg());
    CHECK_I8(ex, want2, 4, "QuantV2 static scale 2 offset .25 (fp32 x)");
    memset(ex, SENT, sizeof ex);
    c.xdt = ACL_FLOAT16, c.x = x2h;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 static fp16: status %d: %s", st, errmsg());
    CHECK_I8(ex, want2, 4, "QuantV2 static scale 2 offset .25 (fp16 x)");
}

static const float XD[12] = {127, -63.5f, 0.5f, 0, 254, 127, -1, 3, -508, 4, 6, 10};
static const int32_t ED[3] = {1, 0, 1}; /* perm [1, 0, 2]: rows x1, x0, x2 */

/* Dynamic quant, dropless, no smooth / 1H smooth / EH smooth, and a truncating activeNum. */
static void test_qv2_dynamic(void)
{
    static const int8_t want_q[12] = {127, 64, -1, 2, 127, -64, 1, 0, -127, 1, 2, 3};
    static const float want_s[3] = {2, 1, 4};
    static const int32_t want_er[3] = {1, 0, 2};
    static const int32_t want_cnt[2] = {1, 2};
    int8_t ex[12];
    float dyn[3];
    int32_t er[3], cnt[2];
    memset(ex, SENT, sizeof ex), memset(dyn, SENT, sizeof dyn), memset(er, SENT, sizeof er);
    memset(cnt, SENT, sizeof cnt);
    rcase c = {.quant = 1, .xdt = ACL_FLOAT, .x = XD, .n = 3, .h = 4, .k = 1, .e = ED, .num = 2, .flag = 2,
               .qmode = 1, .ex = ex, .ex_rows = 3, .er = er, .cnt = cnt, .dyn = dyn, .dyn_len = 3};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 dynamic: status %d: %s", st, errmsg());
    CHECK_I8(ex, want_q, 12, "QuantV2 dynamic: q (half away from zero)");
    CHECK_F32(dyn, want_s, 3, "QuantV2 dynamic: scales");
    CHECK_I32(er, want_er, 3, "QuantV2 dynamic: expandedRowIdx");
    CHECK_I32(cnt, want_cnt, 2, "QuantV2 dynamic: count");

    /* 1H smooth [0.5, 2, 1, -1]:
     *   x1*s = [127, 254, -1, -3]    m=254 sc=2 -> [63.5->64, 127, -0.5->-1, -1.5->-2]
     *   x0*s = [63.5, -127, 0.5, -0] m=127 sc=1 -> [64, -127, 1, 0]
     *   x2*s = [-254, 8, 6, -10]     m=254 sc=2 -> [-127, 4, 3, -5] */
    static const float s1h[4] = {0.5f, 2, 1, -1};
    static const int8_t want_1h[12] = {64, 127, -1, -2, 64, -127, 1, 0, -127, 4, 3, -5};
    static const float want_s1h[3] = {2, 1, 2};
    memset(ex, SENT, sizeof ex), memset(dyn, SENT, sizeof dyn);
    c.scale = s1h, c.scale_rank = 2, c.scale_d0 = 1, c.scale_d1 = 4;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 dynamic 1H: status %d: %s", st, errmsg());
    CHECK_I8(ex, want_1h, 12, "QuantV2 dynamic 1H smooth: q");
    CHECK_F32(dyn, want_s1h, 3, "QuantV2 dynamic 1H smooth: scales");

    /* EH smooth, row = the sorted expert of the output row: e0 [1,1,1,1], e1 [2, .5, 4, 1]
     *   row 0: x1 (e0) = [254, 127, -1, 3]        sc=2 -> [127, 64, -1, 2]
     *   row 1: x0 (e1) = [254, -31.75, 2, 0]      sc=2 -> [127, -15.875->-16, 1, 0]
     *   row 2: x2 (e1) = [-1016, 2, 24, 10]       sc=8 -> [-127, 0.25->0, 3, 1.25->1] */
    static const float seh[8] = {1, 1, 1, 1, 2, 0.5f, 4, 1};
    static const int8_t want_eh[12] = {127, 64, -1, 2, 127, -16, 1, 0, -127, 0, 3, 1};
    static const float want_seh[3] = {2, 2, 8};
    memset(ex, SENT, sizeof ex), memset(dyn, SENT, sizeof dyn);
    c.scale = seh, c.scale_d0 = 2;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 dynamic EH: status %d: %s", st, errmsg());
    CHECK_I8(ex, want_eh, 12, "QuantV2 dynamic EH smooth: q");
    CHECK_F32(dyn, want_seh, 3, "QuantV2 dynamic EH smooth: scales");

    /* activeNum 2: two rows, dynamicQuantScaleOut [2] */
    memset(ex, SENT, sizeof ex), memset(dyn, SENT, sizeof dyn);
    c.scale = NULL, c.active = 2, c.ex_rows = 2, c.dyn_len = 2;
    st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 dynamic activeNum 2: status %d: %s", st, errmsg());
    CHECK_I8(ex, want_q, 8, "QuantV2 dynamic activeNum 2: q rows 0, 1");
    CHECK_F32(dyn, want_s, 2, "QuantV2 dynamic activeNum 2: scales");
    CHECK(mr_test_bytes_are(ex + 8, 4, SENT) && mr_test_bytes_are(dyn + 2, sizeof(float), SENT),
          "QuantV2 dynamic activeNum 2: row 2 not written");
}

/* Dynamic quant: NaN ignored by the max, inf rows, all-zero rows; 16-bit inputs. */
static void test_qv2_dynamic_special(void)
{
    static const int32_t e[3] = {0, 0, 0};
    /* x0 = [NaN, -254, 127, 1]: m=254 sc=2 -> [0, -127, 63.5->64, 0.5->1]
     * x1 = [inf, 5, -inf, 0]:   m=inf sc=inf -> [NaN->0, 0, NaN->0, 0]
     * x2 = [0, -0, 0, 0]:       m=0 sc=0 -> all 0 */
    const float x[12] = {NAN, -254, 127, 1, INFINITY, 5, -INFINITY, 0, 0, -0.0f, 0, 0};
    static const int8_t want_q[12] = {0, -127, 64, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    int8_t ex[12];
    float dyn[3];
    int32_t er[3];
    static const int32_t want_er[3] = {0, 1, 2};
    memset(ex, SENT, sizeof ex), memset(dyn, SENT, sizeof dyn), memset(er, SENT, sizeof er);
    rcase c = {.quant = 1, .xdt = ACL_FLOAT, .x = x, .n = 3, .h = 4, .k = 1, .e = e, .num = 1, .qmode = 1,
               .ex = ex, .ex_rows = 3, .er = er, .dyn = dyn, .dyn_len = 3};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 dynamic special: status %d: %s", st, errmsg());
    CHECK_I8(ex, want_q, 12, "QuantV2 dynamic special rows: NaN, inf, zero");
    CHECK(dyn[0] == 2.0f && isinf(dyn[1]) && dyn[1] > 0 && dyn[2] == 0.0f,
          "QuantV2 dynamic special scales: got %g %g %g, want 2 inf 0", (double)dyn[0], (double)dyn[1],
          (double)dyn[2]);
    CHECK_I32(er, want_er, 3, "QuantV2 dynamic special: expandedRowIdx");

    /* 16-bit x: [127, -63.5, 0.5, 0] -> sc 1, q [127, -64, 1, 0] */
    static const int32_t e1[1] = {0};
    static const uint16_t xbf[4] = {0x42FE, 0xC27E, 0x3F00, 0x0000};
    static const uint16_t xhf[4] = {0x57F0, 0xD3F0, 0x3800, 0x0000};
    static const int8_t want1[4] = {127, -64, 1, 0};
    static const float want_s1[1] = {1.0f};
    memset(ex, SENT, sizeof ex), memset(dyn, SENT, sizeof dyn);
    rcase b = {.quant = 1, .xdt = ACL_BF16, .x = xbf, .n = 1, .h = 4, .k = 1, .e = e1, .num = 1, .qmode = 1,
               .ex = ex, .ex_rows = 1, .er = er, .dyn = dyn, .dyn_len = 1};
    st = run_routing(&b);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 dynamic bf16: status %d: %s", st, errmsg());
    CHECK_I8(ex, want1, 4, "QuantV2 dynamic bf16: q");
    CHECK_F32(dyn, want_s1, 1, "QuantV2 dynamic bf16: scale");
    memset(ex, SENT, sizeof ex), memset(dyn, SENT, sizeof dyn);
    b.xdt = ACL_FLOAT16, b.x = xhf;
    st = run_routing(&b);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 dynamic fp16: status %d: %s", st, errmsg());
    CHECK_I8(ex, want1, 4, "QuantV2 dynamic fp16: q");
    CHECK_F32(dyn, want_s1, 1, "QuantV2 dynamic fp16: scale");
}

/* Dynamic quant in drop mode: E = 3, C = 1; e0 {f1 -> slot 0}, e1 {f0 -> slot 1, f2 dropped}, e2 pad. */
static void test_qv2_dynamic_drop(void)
{
    static const int32_t want_er[3] = {1, 0, -1};
    static const int8_t want_q[12] = {127, 64, -1, 2, 127, -64, 1, 0, 0, 0, 0, 0};
    static const float want_s[3] = {2, 1, 0};
    static const int32_t want_bc[3] = {1, 2, 0};
    int8_t ex[12];
    float dyn[3];
    int32_t er[3], bcnt[3];
    memset(ex, SENT, sizeof ex), memset(dyn, SENT, sizeof dyn), memset(er, SENT, sizeof er);
    memset(bcnt, SENT, sizeof bcnt);
    rcase c = {.quant = 1, .xdt = ACL_FLOAT, .x = XD, .n = 3, .h = 4, .k = 1, .e = ED, .cap = 1, .num = 3,
               .drop = 1, .bc = true, .qmode = 1, .ex = ex, .er = er, .bcnt = bcnt, .dyn = dyn, .dyn_len = 3};
    aclnnStatus st = run_routing(&c);
    CHECK(st == ACLNN_SUCCESS, "QuantV2 dynamic drop: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 3, "QuantV2 dynamic drop: expandedRowIdx");
    CHECK_I8(ex, want_q, 12, "QuantV2 dynamic drop: q with int8 zero pad row");
    CHECK_F32(dyn, want_s, 3, "QuantV2 dynamic drop: scales, pad row 0.0");
    CHECK_I32(bcnt, want_bc, 3, "QuantV2 dynamic drop: beforeCapacity");
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeInitRoutingV3                                                                                */

typedef struct v3case {
    aclDataType xdt;
    const void *x;
    int64_t n, h, k;
    const int32_t *e;
    const float *scale; /* quantMode -1: [n] (rank 1); quantMode 1: smooth [scale_d0, h] */
    int64_t scale_d0;
    int64_t active, num, type, qmode, rowtype;
    int range_given; /* 0: NULL; 1: aclIntArray of range_n values */
    int64_t range[2];
    uint64_t range_n;
    void *ex;
    int32_t *er;
    int64_t *cnt;
    float *esc;
} v3case;

static aclnnStatus run_v3(const v3case *c)
{
    int64_t start = 0, end = c->num;
    if (c->range_given && c->range_n == 2) start = c->range[0], end = c->range[1];
    const int64_t L = c->n * c->k;
    aclTensor *tx = tnd(c->xdt, 2, c->n, c->h, 0, (void *)c->x);
    aclTensor *te = tnd(ACL_INT32, 2, c->n, c->k, 0, (void *)c->e);
    aclTensor *tsc = NULL;
    if (c->scale)
        tsc = c->qmode == 1 ? tnd(ACL_FLOAT, 2, c->scale_d0, c->h, 0, (void *)c->scale)
                            : tnd(ACL_FLOAT, 1, c->n, 0, 0, (void *)c->scale);
    aclTensor *tex = tnd(c->qmode == 1 ? ACL_INT8 : c->xdt, 2, L, c->h, 0, c->ex);
    aclTensor *ter = tnd(ACL_INT32, 1, L, 0, 0, c->er);
    aclTensor *tcnt = c->type == 1 ? tnd(ACL_INT64, 1, end - start, 0, 0, c->cnt)
                                   : tnd(ACL_INT64, 2, c->num, 2, 0, c->cnt);
    aclTensor *tesc = tnd(ACL_FLOAT, 1, L, 0, 0, c->esc);
    aclIntArray *range = c->range_given ? aclCreateIntArray(c->range_n ? c->range : NULL, c->range_n) : NULL;
    if (c->range_given)
        CHECK(range != NULL, "aclCreateIntArray(size %llu): %s", (unsigned long long)c->range_n, errmsg());
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeInitRoutingV3GetWorkspaceSize(tx, te, tsc, NULL, c->active, 0, c->num, 0, c->type, true,
                                                           c->qmode, range, c->rowtype, tex, ter, tcnt, tesc, &ws,
                                                           &exe);
    st = finish(st, aclnnMoeInitRoutingV3, ws, exe);
    aclDestroyIntArray(range);
    aclDestroyTensor(tx), aclDestroyTensor(te), aclDestroyTensor(tsc), aclDestroyTensor(tex);
    aclDestroyTensor(ter), aclDestroyTensor(tcnt), aclDestroyTensor(tesc);
    return st;
}

/* Problem C: problem B with f7 = 5 and E = 6: flat ids 3,1,0,3,1,3,2,5. */
static const int32_t EC[8] = {3, 1, 0, 3, 1, 3, 2, 5};
static const float SC_N[4] = {0.5f, 1.5f, 2.5f, 3.5f}; /* per-token scale [N] for quantMode -1 */

/* Range [1, 4): in range e1 {f1, f4}, e2 {f6}, e3 {f0, f3, f5}; filtered f2 (e0) and f7 (e5). V = 6,
 * perm[0..5] = [1, 4, 6, 0, 3, 5], tokens [0, 2, 3, 0, 1, 2]. */
static void test_v3_range(void)
{
    static const int32_t want_er0[8] = {3, 0, -1, 4, 1, 5, 2, -1};
    static const int32_t want_er1[8] = {1, 4, 6, 0, 3, 5, -1, -1};
    static const float want_ex[18] = {1, 2, 3, 21, 22, 23, 31, 32, 33, 1, 2, 3, 11, 12, 13, 21, 22, 23};
    static const int64_t want_cnt1[3] = {2, 1, 3};
    /* key-value: (1,2), (2,1), (3,3), then row 3 = (0,0) (rows nz .. min(end-start+1, E)-1 = 3..3);
     * rows 4, 5 untouched */
    static const int64_t want_kv[8] = {1, 2, 2, 1, 3, 3, 0, 0};
    static const float want_esc[6] = {0.5f, 2.5f, 3.5f, 0.5f, 1.5f, 2.5f};
    float ex[24], esc[8];
    int32_t er[8];
    int64_t cnt[12];

    for (int rowtype = 0; rowtype <= 1; rowtype++) {
        memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
        memset(cnt, SENT, sizeof cnt);
        v3case c = {.xdt = ACL_FLOAT, .x = XB, .n = 4, .h = 3, .k = 2, .e = EC, .active = -1, .num = 6, .type = 1,
                    .qmode = -1, .rowtype = rowtype, .range_given = 1, .range = {1, 4}, .range_n = 2, .ex = ex,
                    .er = er, .cnt = cnt, .esc = esc};
        aclnnStatus st = run_v3(&c);
        CHECK(st == ACLNN_SUCCESS, "V3 range [1,4) rowIdxType %d: status %d: %s", rowtype, st, errmsg());
        CHECK_I32(er, rowtype ? want_er1 : want_er0, 8, "V3 range [1,4): expandedRowIdx, rowIdxType %d", rowtype);
        CHECK_F32(ex, want_ex, 18, "V3 range [1,4): expandedX rows 0..5 (rowIdxType %d)", rowtype);
        CHECK(mr_test_bytes_are(ex + 18, 6 * sizeof(float), SENT), "V3 range [1,4): rows >= V not written");
        CHECK_I64(cnt, want_cnt1, 3, "V3 range [1,4): counts type 1");
        CHECK(mr_test_bytes_are(cnt + 3, 9 * sizeof(int64_t), SENT), "V3 counts type 1: nothing beyond end-start");
        CHECK(mr_test_bytes_are(esc, sizeof esc, SENT), "V3 quantMode -1 without scale: expandedScaleOut not written");
    }

    /* key-value counts, activeNum = N*K, per-token scale */
    memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
    memset(cnt, SENT, sizeof cnt);
    v3case c = {.xdt = ACL_FLOAT, .x = XB, .n = 4, .h = 3, .k = 2, .e = EC, .scale = SC_N, .active = 8, .num = 6,
                .type = 2, .qmode = -1, .rowtype = 0, .range_given = 1, .range = {1, 4}, .range_n = 2, .ex = ex,
                .er = er, .cnt = cnt, .esc = esc};
    aclnnStatus st = run_v3(&c);
    CHECK(st == ACLNN_SUCCESS, "V3 key-value: status %d: %s", st, errmsg());
    CHECK_I64(cnt, want_kv, 8, "V3 key-value: pairs then one (0,0) row");
    CHECK(mr_test_bytes_are(cnt + 8, 4 * sizeof(int64_t), SENT), "V3 key-value: rows >= min(end-start+1, E) not written");
    CHECK_I32(er, want_er0, 8, "V3 key-value: expandedRowIdx");
    CHECK_F32(ex, want_ex, 18, "V3 key-value: expandedX");
    CHECK_F32(esc, want_esc, 6, "V3 quantMode -1: expandedScaleOut[i] = scale[token]");
    CHECK(mr_test_bytes_are(esc + 6, 2 * sizeof(float), SENT), "V3 quantMode -1: expandedScaleOut entries >= V untouched");
    CHECK(mr_test_bytes_are(ex + 18, 6 * sizeof(float), SENT), "V3 key-value: expandedX rows >= V untouched");
}

/* Full range (NULL and empty array), empty range (V = 0), range with one expert. */
static void test_v3_full_and_empty_ranges(void)
{
    /* [0, 6): e0 {f2}, e1 {f1,f4}, e2 {f6}, e3 {f0,f3,f5}, e4 {}, e5 {f7}; perm [2,1,4,6,0,3,5,7]
     * tokens [1,0,2,3,0,1,2,3] */
    static const int32_t want_er0[8] = {4, 1, 0, 5, 2, 6, 3, 7};
    static const int32_t want_er1[8] = {2, 1, 4, 6, 0, 3, 5, 7};
    static const float want_ex[24] = {11, 12, 13, 1, 2, 3, 21, 22, 23, 31, 32, 33,
                                      1, 2, 3, 11, 12, 13, 21, 22, 23, 31, 32, 33};
    static const int64_t want_cnt[6] = {1, 2, 1, 3, 0, 1};
    /* nz = 5 pairs, then rows 5 .. min(7, 6)-1 = 5 -> one (0,0) row; all 6 rows written */
    static const int64_t want_kv[12] = {0, 1, 1, 2, 2, 1, 3, 3, 5, 1, 0, 0};
    float ex[24], esc[8];
    int32_t er[8];
    int64_t cnt[12];

    for (int variant = 0; variant < 2; variant++) { /* 0: NULL range, 1: empty aclIntArray */
        memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
        memset(cnt, SENT, sizeof cnt);
        v3case c = {.xdt = ACL_FLOAT, .x = XB, .n = 4, .h = 3, .k = 2, .e = EC, .active = -1, .num = 6, .type = 1,
                    .qmode = -1, .rowtype = 0, .range_given = variant, .range_n = 0, .ex = ex, .er = er,
                    .cnt = cnt, .esc = esc};
        aclnnStatus st = run_v3(&c);
        const char *what = variant ? "empty range array" : "NULL range";
        CHECK(st == ACLNN_SUCCESS, "V3 %s: status %d: %s", what, st, errmsg());
        CHECK_I32(er, want_er0, 8, "V3 %s: expandedRowIdx type 0", what);
        CHECK_F32(ex, want_ex, 24, "V3 %s: expandedX", what);
        CHECK_I64(cnt, want_cnt, 6, "V3 %s: counts", what);
        memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
        c.rowtype = 1, c.type = 2;
        st = run_v3(&c);
        CHECK(st == ACLNN_SUCCESS, "V3 %s type 2: status %d: %s", what, st, errmsg());
        CHECK_I32(er, want_er1, 8, "V3 %s: expandedRowIdx type 1", what);
        CHECK_I64(cnt, want_kv, 12, "V3 %s: key-value with an absent expert", what);
    }

    /* [4, 5): expert 4 has no copies: V = 0 */
    static const int32_t none[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    static const int64_t zero1[1] = {0}, zero_kv[4] = {0, 0, 0, 0};
    memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
    memset(cnt, SENT, sizeof cnt);
    v3case c = {.xdt = ACL_FLOAT, .x = XB, .n = 4, .h = 3, .k = 2, .e = EC, .scale = SC_N, .active = -1, .num = 6,
                .type = 1, .qmode = -1, .rowtype = 0, .range_given = 1, .range = {4, 5}, .range_n = 2, .ex = ex,
                .er = er, .cnt = cnt, .esc = esc};
    aclnnStatus st = run_v3(&c);
    CHECK(st == ACLNN_SUCCESS, "V3 range [4,5): status %d: %s", st, errmsg());
    CHECK_I32(er, none, 8, "V3 range [4,5) type 0: all -1");
    CHECK(mr_test_bytes_are(ex, sizeof ex, SENT) && mr_test_bytes_are(esc, sizeof esc, SENT), "V3 V = 0: no row written");
    CHECK_I64(cnt, zero1, 1, "V3 range [4,5): count [0]");
    memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
    c.rowtype = 1, c.type = 2;
    st = run_v3(&c);
    CHECK(st == ACLNN_SUCCESS, "V3 range [4,5) kv: status %d: %s", st, errmsg());
    CHECK_I32(er, none, 8, "V3 range [4,5) type 1: all -1");
    /* nz = 0; rows 0 .. min(2, 6)-1 = 1 are (0,0); rows 2..5 untouched */
    CHECK_I64(cnt, zero_kv, 4, "V3 range [4,5) key-value: two (0,0) rows");
    CHECK(mr_test_bytes_are(cnt + 4, 8 * sizeof(int64_t), SENT), "V3 range [4,5) key-value: rows 2..5 untouched");

    /* [0, 1): only f2 (token 1); key-value (0,1), then one (0,0) row */
    static const int32_t want_er_e0[8] = {2, -1, -1, -1, -1, -1, -1, -1};
    static const float want_ex_e0[3] = {11, 12, 13};
    static const int64_t want_kv_e0[4] = {0, 1, 0, 0};
    static const float want_esc_e0[1] = {1.5f};
    memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
    memset(cnt, SENT, sizeof cnt);
    c.range[0] = 0, c.range[1] = 1;
    st = run_v3(&c);
    CHECK(st == ACLNN_SUCCESS, "V3 range [0,1): status %d: %s", st, errmsg());
    CHECK_I32(er, want_er_e0, 8, "V3 range [0,1) type 1");
    CHECK_F32(ex, want_ex_e0, 3, "V3 range [0,1): one row");
    CHECK(mr_test_bytes_are(ex + 3, 21 * sizeof(float), SENT), "V3 range [0,1): rows >= 1 untouched");
    CHECK_F32(esc, want_esc_e0, 1, "V3 range [0,1): scale of token 1");
    CHECK(mr_test_bytes_are(esc + 1, 7 * sizeof(float), SENT), "V3 range [0,1): scales >= 1 untouched");
    CHECK_I64(cnt, want_kv_e0, 4, "V3 range [0,1) key-value");
    CHECK(mr_test_bytes_are(cnt + 4, 8 * sizeof(int64_t), SENT), "V3 range [0,1) key-value: rows 2..5 untouched");
}

/* Ids outside [0, E) are filtered (no refusal in V3); INT8 x copied for quantMode -1. */
static void test_v3_filter_and_int8(void)
{
    /* flat -1, 2, 1000, INT32_MIN, 0, 2; E = 3: in range e0 {f4}, e2 {f1, f5}; perm [4, 1, 5], tokens [2, 0, 2] */
    static const int32_t e[6] = {-1, 2, 1000, INT32_MIN, 0, 2};
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    static const int32_t want_er[6] = {-1, 1, -1, -1, 0, 2};
    static const float want_ex[6] = {5, 6, 1, 2, 5, 6};
    static const int64_t want_cnt[3] = {1, 0, 2};
    float ex[12], esc[6];
    int32_t er[6];
    int64_t cnt[3];
    memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
    memset(cnt, SENT, sizeof cnt);
    v3case c = {.xdt = ACL_FLOAT, .x = x, .n = 3, .h = 2, .k = 2, .e = e, .active = -1, .num = 3, .type = 1,
                .qmode = -1, .rowtype = 0, .ex = ex, .er = er, .cnt = cnt, .esc = esc};
    aclnnStatus st = run_v3(&c);
    CHECK(st == ACLNN_SUCCESS, "V3 out-of-range ids: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 6, "V3 out-of-range ids filtered: expandedRowIdx");
    CHECK_F32(ex, want_ex, 6, "V3 out-of-range ids: expandedX");
    CHECK(mr_test_bytes_are(ex + 6, 6 * sizeof(float), SENT), "V3 out-of-range ids: rows >= 3 untouched");
    CHECK_I64(cnt, want_cnt, 3, "V3 out-of-range ids: counts");

    /* INT8 x, problem A ids, rowIdxType 1 (= perm [2,4,0,3,1,5]), tokens [1,2,0,1,0,2], scale [N] */
    static const int8_t x8[6] = {1, -2, 3, -4, 127, -128};
    static const int8_t want_x8[12] = {3, -4, 127, -128, 1, -2, 3, -4, 1, -2, 127, -128};
    static const int32_t want_er8[6] = {2, 4, 0, 3, 1, 5};
    static const float sc[3] = {0.25f, 0.5f, 0.75f};
    static const float want_esc[6] = {0.5f, 0.75f, 0.25f, 0.5f, 0.25f, 0.75f};
    static const int64_t want_c8[3] = {2, 2, 2};
    int8_t ex8[12];
    memset(ex8, SENT, sizeof ex8), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
    memset(cnt, SENT, sizeof cnt);
    v3case d = {.xdt = ACL_INT8, .x = x8, .n = 3, .h = 2, .k = 2, .e = EA, .scale = sc, .active = 6, .num = 3,
                .type = 1, .qmode = -1, .rowtype = 1, .range_given = 1, .range = {0, 3}, .range_n = 2, .ex = ex8,
                .er = er, .cnt = cnt, .esc = esc};
    st = run_v3(&d);
    CHECK(st == ACLNN_SUCCESS, "V3 INT8 x: status %d: %s", st, errmsg());
    CHECK_I8(ex8, want_x8, 12, "V3 INT8 x: rows copied");
    CHECK_I32(er, want_er8, 6, "V3 INT8 x: rowIdxType 1");
    CHECK_F32(esc, want_esc, 6, "V3 INT8 x: expandedScaleOut");
    CHECK_I64(cnt, want_c8, 3, "V3 INT8 x: counts");
}

/* Dynamic quant (quantMode 1) with and without smooth scales [end-start, H]. Problem D, ids [2, 1, 2]. */
static void test_v3_dynamic(void)
{
    static const int32_t e[3] = {2, 1, 2}; /* range [1,3): perm [1, 0, 2], rows x1 (e1), x0 (e2), x2 (e2) */
    static const int32_t want_er[3] = {1, 0, 2};
    static const int64_t want_cnt[2] = {1, 2};
    static const int8_t want_plain[12] = {127, 64, -1, 2, 127, -64, 1, 0, -127, 1, 2, 3};
    static const float want_s_plain[3] = {2, 1, 4};
    /* smooth row e - start: e1 -> [1,1,1,1], e2 -> [2, .5, 4, 1]; worked as in the QuantV2 EH case */
    static const float smooth[8] = {1, 1, 1, 1, 2, 0.5f, 4, 1};
    static const int8_t want_sm[12] = {127, 64, -1, 2, 127, -16, 1, 0, -127, 0, 3, 1};
    static const float want_s_sm[3] = {2, 2, 8};
    int8_t ex[12];
    float esc[3];
    int32_t er[3];
    int64_t cnt[6];
    memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
    memset(cnt, SENT, sizeof cnt);
    v3case c = {.xdt = ACL_FLOAT, .x = XD, .n = 3, .h = 4, .k = 1, .e = e, .active = -1, .num = 3, .type = 1,
                .qmode = 1, .rowtype = 0, .range_given = 1, .range = {1, 3}, .range_n = 2, .ex = ex, .er = er,
                .cnt = cnt, .esc = esc};
    aclnnStatus st = run_v3(&c);
    CHECK(st == ACLNN_SUCCESS, "V3 dynamic: status %d: %s", st, errmsg());
    CHECK_I8(ex, want_plain, 12, "V3 dynamic: q");
    CHECK_F32(esc, want_s_plain, 3, "V3 dynamic: expandedScaleOut");
    CHECK_I32(er, want_er, 3, "V3 dynamic: expandedRowIdx");
    CHECK_I64(cnt, want_cnt, 2, "V3 dynamic: counts");

    memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc);
    c.scale = smooth, c.scale_d0 = 2;
    st = run_v3(&c);
    CHECK(st == ACLNN_SUCCESS, "V3 dynamic smooth: status %d: %s", st, errmsg());
    CHECK_I8(ex, want_sm, 12, "V3 dynamic smooth [end-start, H]: q");
    CHECK_F32(esc, want_s_sm, 3, "V3 dynamic smooth: expandedScaleOut");

    /* range [2,3), smooth [1, H] = [2, .5, 4, 1]: V = 2 (f0, f2), row 2 and scale 2 untouched;
     * key-value (2,2), then rows 1 .. min(2,3)-1 = 1 -> (0,0); row 2 untouched */
    static const int8_t want_r[8] = {127, -16, 1, 0, -127, 0, 3, 1};
    static const float want_s_r[2] = {2, 8};
    static const int32_t want_er_r[3] = {0, 2, -1};
    static const int64_t want_kv[4] = {2, 2, 0, 0};
    memset(ex, SENT, sizeof ex), memset(esc, SENT, sizeof esc), memset(er, SENT, sizeof er);
    memset(cnt, SENT, sizeof cnt);
    c.scale = smooth + 4, c.scale_d0 = 1, c.range[0] = 2, c.range[1] = 3, c.rowtype = 1, c.type = 2;
    st = run_v3(&c);
    CHECK(st == ACLNN_SUCCESS, "V3 dynamic range [2,3): status %d: %s", st, errmsg());
    CHECK_I8(ex, want_r, 8, "V3 dynamic range [2,3): q rows 0, 1");
    CHECK(mr_test_bytes_are(ex + 8, 4, SENT), "V3 dynamic range [2,3): row 2 untouched");
    CHECK_F32(esc, want_s_r, 2, "V3 dynamic range [2,3): scales");
    CHECK(mr_test_bytes_are(esc + 2, sizeof(float), SENT), "V3 dynamic range [2,3): scale 2 untouched");
    CHECK_I32(er, want_er_r, 3, "V3 dynamic range [2,3): rowIdxType 1");
    CHECK_I64(cnt, want_kv, 4, "V3 dynamic range [2,3): key-value");
    CHECK(mr_test_bytes_are(cnt + 4, 2 * sizeof(int64_t), SENT), "V3 dynamic range [2,3): key-value row 2 untouched");
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeComputeExpertTokens                                                                          */

static aclnnStatus run_cet(const int32_t *sorted, int64_t len, int64_t num, int32_t *out)
{
    aclTensor *ts = tnd(ACL_INT32, 1, len, 0, 0, (void *)sorted);
    aclTensor *to = tnd(ACL_INT32, 1, num, 0, 0, out);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeComputeExpertTokensGetWorkspaceSize(ts, num, to, &ws, &exe);
    st = finish(st, aclnnMoeComputeExpertTokens, ws, exe);
    aclDestroyTensor(ts), aclDestroyTensor(to);
    return st;
}

static void test_compute_expert_tokens(void)
{
    int32_t out[8];
    static const int32_t s1[6] = {0, 0, 1, 3, 3, 3};
    static const int32_t w1[5] = {2, 3, 3, 6, 6};
    memset(out, SENT, sizeof out);
    aclnnStatus st = run_cet(s1, 6, 5, out);
    CHECK(st == ACLNN_SUCCESS, "CET basic: status %d: %s", st, errmsg());
    CHECK_I32(out, w1, 5, "CET basic: out[e] = #{x <= e}");
    CHECK(mr_test_bytes_are(out + 5, 3 * sizeof(int32_t), SENT), "CET basic: nothing beyond numExperts");

    static const int32_t s2[3] = {2, 2, 4};
    static const int32_t w2[6] = {0, 0, 2, 2, 3, 3};
    memset(out, SENT, sizeof out);
    st = run_cet(s2, 3, 6, out);
    CHECK(st == ACLNN_SUCCESS, "CET absent experts: status %d: %s", st, errmsg());
    CHECK_I32(out, w2, 6, "CET: experts below the minimum get 0, absent ones repeat");

    static const int32_t s3[4] = {1, 1, 1, 1};
    static const int32_t w3[3] = {0, 4, 4};
    memset(out, SENT, sizeof out);
    st = run_cet(s3, 4, 3, out);
    CHECK(st == ACLNN_SUCCESS, "CET one expert: status %d: %s", st, errmsg());
    CHECK_I32(out, w3, 3, "CET: all tokens in expert 1");

    static const int32_t w4[3] = {0, 0, 0};
    memset(out, SENT, sizeof out);
    st = run_cet(NULL, 0, 3, out);
    CHECK(st == ACLNN_SUCCESS, "CET empty input: status %d: %s", st, errmsg());
    CHECK_I32(out, w4, 3, "CET empty input: all zeros");

    static const int32_t s5[2] = {0, 0};
    static const int32_t w5[1] = {2};
    memset(out, SENT, sizeof out);
    st = run_cet(s5, 2, 1, out);
    CHECK(st == ACLNN_SUCCESS, "CET one expert total: status %d: %s", st, errmsg());
    CHECK_I32(out, w5, 1, "CET numExperts 1");

    static const int32_t s6[3] = {4, 4, 4};
    static const int32_t w6[5] = {0, 0, 0, 0, 3};
    memset(out, SENT, sizeof out);
    st = run_cet(s6, 3, 5, out);
    CHECK(st == ACLNN_SUCCESS, "CET last expert: status %d: %s", st, errmsg());
    CHECK_I32(out, w6, 5, "CET: all in the last expert");
}

/* ---------------------------------------------------------------------------------------------------- */
/* Repeatable executor: re-point buffers and run again (V2, then ComputeExpertTokens).                 */

static void test_repeatable_executor(void)
{
    /* run 1: problem A. run 2: x -> xb (rows 1, 2, 3 in every column), expertIdx -> [[2,1],[1,0],[2,0]]
     * (flat 2,1,1,0,2,0: e0 {f3,f5}, e1 {f1,f2}, e2 {f0,f4}; perm [3,5,1,2,0,4]; inverse [4,2,3,0,5,1];
     * tokens [1,2,0,1,0,2]), expandedX -> ex_b, count -> cnt_b. */
    static const float xb[12] = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
    static const int32_t eb[6] = {2, 1, 1, 0, 2, 0};
    static const int32_t want_er_a[6] = {2, 4, 0, 3, 1, 5}, want_er_b[6] = {4, 2, 3, 0, 5, 1};
    static const float want_ex_a[24] = {.2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f, .1f, .1f, .1f, .1f,
                                        .2f, .2f, .2f, .2f, .1f, .1f, .1f, .1f, .3f, .3f, .3f, .3f};
    static const float want_ex_b[24] = {2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 3, 3, 3, 3};
    static const int32_t want_cnt[3] = {2, 4, 6};
    float ex_a[24], ex_b[24];
    int32_t er[6], cnt_a[3], cnt_b[3];
    memset(ex_a, SENT, sizeof ex_a), memset(ex_b, SENT, sizeof ex_b), memset(er, SENT, sizeof er);
    memset(cnt_a, SENT, sizeof cnt_a), memset(cnt_b, SENT, sizeof cnt_b);
    aclTensor *tx = tnd(ACL_FLOAT, 2, 3, 4, 0, (void *)XA);
    aclTensor *te = tnd(ACL_INT32, 2, 3, 2, 0, (void *)EA);
    aclTensor *tex = tnd(ACL_FLOAT, 2, 6, 4, 0, ex_a);
    aclTensor *ter = tnd(ACL_INT32, 1, 6, 0, 0, er);
    aclTensor *tcnt = tnd(ACL_INT32, 1, 3, 0, 0, cnt_a);
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st =
        aclnnMoeInitRoutingV2GetWorkspaceSize(tx, te, 0, 0, 3, 0, 1, false, tex, ter, tcnt, NULL, &ws_size, &exe);
    CHECK(st == ACLNN_SUCCESS && exe, "repeatable V2: plan status %d: %s", st, errmsg());
    if (st == ACLNN_SUCCESS) {
        CHECK(aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "aclSetAclOpExecutorRepeatable: %s", errmsg());
        void *ws = NULL;
        if (ws_size) CHECK(aclrtMalloc(&ws, (size_t)ws_size, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "ws malloc");
        st = aclnnMoeInitRoutingV2(ws, ws_size, exe, g_stream);
        CHECK(st == ACLNN_SUCCESS && aclrtSynchronizeStream(g_stream) == ACL_SUCCESS, "repeatable run 1: %d: %s", st,
              errmsg());
        CHECK_F32(ex_a, want_ex_a, 24, "repeatable run 1: expandedX");
        CHECK_I32(er, want_er_a, 6, "repeatable run 1: expandedRowIdx");
        CHECK_I32(cnt_a, want_cnt, 3, "repeatable run 1: cumsum");

        /* re-point: inputs 0 (x), 1 (expertIdx); outputs 0 (expandedX), 2 (count) */
        CHECK(aclSetInputTensorAddr(exe, 0, tx, (void *)xb) == ACLNN_SUCCESS, "set input 0: %s", errmsg());
        CHECK(aclSetInputTensorAddr(exe, 1, te, (void *)eb) == ACLNN_SUCCESS, "set input 1: %s", errmsg());
        CHECK(aclSetOutputTensorAddr(exe, 0, tex, ex_b) == ACLNN_SUCCESS, "set output 0: %s", errmsg());
        CHECK(aclSetOutputTensorAddr(exe, 2, tcnt, cnt_b) == ACLNN_SUCCESS, "set output 2: %s", errmsg());
        memset(er, SENT, sizeof er);
        float ex_a_before[24];
        memcpy(ex_a_before, ex_a, sizeof ex_a);
        st = aclnnMoeInitRoutingV2(ws, ws_size, exe, g_stream);
        CHECK(st == ACLNN_SUCCESS && aclrtSynchronizeStream(g_stream) == ACL_SUCCESS, "repeatable run 2: %d: %s", st,
              errmsg());
        CHECK_F32(ex_b, want_ex_b, 24, "repeatable run 2: expandedX in the new buffer from the new x and ids");
        CHECK_I32(er, want_er_b, 6, "repeatable run 2: expandedRowIdx from the new ids");
        CHECK_I32(cnt_b, want_cnt, 3, "repeatable run 2: cumsum in the new buffer");
        CHECK(eq_f32(ex_a, ex_a_before, 24), "repeatable run 2: the old expandedX buffer is not written");
        CHECK_I32(cnt_a, want_cnt, 3, "repeatable run 2: old count buffer unchanged");
        CHECK(aclDestroyAclOpExecutor(exe) == ACLNN_SUCCESS, "aclDestroyAclOpExecutor: %s", errmsg());
        if (ws) aclrtFree(ws);
    }
    aclDestroyTensor(tx), aclDestroyTensor(te), aclDestroyTensor(tex), aclDestroyTensor(ter);
    aclDestroyTensor(tcnt);

    /* ComputeExpertTokens: same executor on two inputs */
    static const int32_t s1[4] = {0, 1, 1, 2}, s2[4] = {2, 2, 2, 2};
    static const int32_t w1[3] = {1, 3, 4}, w2[3] = {0, 0, 4};
    int32_t o1[3], o2[3];
    memset(o1, SENT, sizeof o1), memset(o2, SENT, sizeof o2);
    aclTensor *ts = tnd(ACL_INT32, 1, 4, 0, 0, (void *)s1);
    aclTensor *to = tnd(ACL_INT32, 1, 3, 0, 0, o1);
    st = aclnnMoeComputeExpertTokensGetWorkspaceSize(ts, 3, to, &ws_size, &exe);
    CHECK(st == ACLNN_SUCCESS, "repeatable CET plan: %d: %s", st, errmsg());
    if (st == ACLNN_SUCCESS) {
        CHECK(aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "CET repeatable: %s", errmsg());
        void *w = NULL;
        if (ws_size) CHECK(aclrtMalloc(&w, (size_t)ws_size, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "ws");
        st = aclnnMoeComputeExpertTokens(w, ws_size, exe, g_stream);
        CHECK(st == ACLNN_SUCCESS, "CET repeatable run 1: %d: %s", st, errmsg());
        CHECK_I32(o1, w1, 3, "CET repeatable run 1");
        CHECK(aclSetInputTensorAddr(exe, 0, NULL, (void *)s2) == ACLNN_SUCCESS, "CET set input: %s", errmsg());
        CHECK(aclSetOutputTensorAddr(exe, 0, to, o2) == ACLNN_SUCCESS, "CET set output: %s", errmsg());
        st = aclnnMoeComputeExpertTokens(w, ws_size, exe, g_stream);
        CHECK(st == ACLNN_SUCCESS, "CET repeatable run 2: %d: %s", st, errmsg());
        CHECK_I32(o2, w2, 3, "CET repeatable run 2");
        CHECK_I32(o1, w1, 3, "CET repeatable run 2: old output unchanged");
        CHECK(aclDestroyAclOpExecutor(exe) == ACLNN_SUCCESS, "CET destroy: %s", errmsg());
        if (w) aclrtFree(w);
    }
    aclDestroyTensor(ts), aclDestroyTensor(to);
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclIntArray                                                                                          */

static void test_int_array(void)
{
    int64_t v[3] = {1, 3, 7};
    uint64_t size = 99;
    aclIntArray *a = aclCreateIntArray(v, 3);
    CHECK(a != NULL, "aclCreateIntArray(3): %s", errmsg());
    CHECK(a && aclGetIntArraySize(a, &size) == ACLNN_SUCCESS && size == 3, "aclGetIntArraySize = 3, got %llu",
          (unsigned long long)size);
    CHECK(aclDestroyIntArray(a) == ACLNN_SUCCESS, "aclDestroyIntArray");

    size = 99;
    a = aclCreateIntArray(NULL, 0);
    CHECK(a != NULL, "aclCreateIntArray(NULL, 0) gives an empty array: %s", errmsg());
    CHECK(a && aclGetIntArraySize(a, &size) == ACLNN_SUCCESS && size == 0, "empty array size 0, got %llu",
          (unsigned long long)size);
    CHECK(aclDestroyIntArray(a) == ACLNN_SUCCESS, "destroy empty array");

    size = 99;
    a = aclCreateIntArray(v, 0);
    CHECK(a != NULL && aclGetIntArraySize(a, &size) == ACLNN_SUCCESS && size == 0,
          "aclCreateIntArray(v, 0): empty, size %llu", (unsigned long long)size);
    aclDestroyIntArray(a);

    a = aclCreateIntArray(NULL, 2);
    const char *msg = aclGetRecentErrMsg();
    CHECK(a == NULL, "aclCreateIntArray(NULL, 2) must return NULL");
    CHECK(msg && *msg, "aclCreateIntArray(NULL, 2) leaves a message");
    CHECK(aclGetRecentErrMsg() == NULL, "message cleared on read");
    CHECK(aclDestroyIntArray(NULL) == ACLNN_SUCCESS, "aclDestroyIntArray(NULL) is a no-op");

    /* values are copied at creation: change the caller's buffer before the call, V3 still uses [1, 4) */
    int64_t r[2] = {1, 4};
    aclIntArray *range = aclCreateIntArray(r, 2);
    r[0] = 0, r[1] = 6;
    static const int32_t want_er[8] = {3, 0, -1, 4, 1, 5, 2, -1};
    static const int64_t want_cnt[3] = {2, 1, 3};
    float ex[24], esc[8];
    int32_t er[8];
    int64_t cnt[3];
    memset(er, SENT, sizeof er), memset(cnt, SENT, sizeof cnt);
    aclTensor *tx = tnd(ACL_FLOAT, 2, 4, 3, 0, (void *)XB);
    aclTensor *te = tnd(ACL_INT32, 2, 4, 2, 0, (void *)EC);
    aclTensor *tex = tnd(ACL_FLOAT, 2, 8, 3, 0, ex);
    aclTensor *ter = tnd(ACL_INT32, 1, 8, 0, 0, er);
    aclTensor *tcnt = tnd(ACL_INT64, 1, 3, 0, 0, cnt);
    aclTensor *tesc = tnd(ACL_FLOAT, 1, 8, 0, 0, esc);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeInitRoutingV3GetWorkspaceSize(tx, te, NULL, NULL, -1, 0, 6, 0, 1, true, -1, range, 0,
                                                           tex, ter, tcnt, tesc, &ws, &exe);
    aclDestroyIntArray(range); /* the executor must not need it any more */
    st = finish(st, aclnnMoeInitRoutingV3, ws, exe);
    CHECK(st == ACLNN_SUCCESS, "V3 with a copied range: status %d: %s", st, errmsg());
    CHECK_I32(er, want_er, 8, "aclIntArray values copied at creation: range [1,4) used");
    CHECK_I64(cnt, want_cnt, 3, "aclIntArray copied: counts of [1,4)");
    aclDestroyTensor(tx), aclDestroyTensor(te), aclDestroyTensor(tex), aclDestroyTensor(ter);
    aclDestroyTensor(tcnt), aclDestroyTensor(tesc);
}

int main(void)
{
    acl_setup();

    test_v2_worked_example();
    test_v2_problem_b();
    test_v2_drop_pad();
    test_v2_any_ids();
    test_v2_strided_inputs();
    test_v2_half_types();
    test_qv2_static_drop_example();
    test_qv2_static_rounding();
    test_qv2_dynamic();
    test_qv2_dynamic_special();
    test_qv2_dynamic_drop();
    test_v3_range();
    test_v3_full_and_empty_ranges();
    test_v3_filter_and_int8();
    test_v3_dynamic();
    test_compute_expert_tokens();
    test_repeatable_executor();
    test_int_array();

    acl_teardown();
    return mr_test_finish();
}
