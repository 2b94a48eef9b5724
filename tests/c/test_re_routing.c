/* MoeReRouting, hand-worked, through the CANN API (aclnnMoeReRouting, called as a CANN program calls it) and the
 * native API (moeroute_re_routing), plus every refusal (status, phase, message, outputs untouched) and the same
 * bytes for every thread count. Expected values are worked out by hand from layer spec 4.2 and written as
 * literals. Random inputs (thread test); seed from argv[1] or MOEROUTE_TEST_SEED.
 *
 * Problem P: R = 2 source ranks, E = 3 local experts, A = 7 rows, H = 2
 *   counts = [[1, 0, 2],      rank-major source blocks: (0,0) row 0; (0,1) none; (0,2) rows 1, 2;
 *             [2, 1, 1]]                                 (1,0) rows 3, 4; (1,1) row 5; (1,2) row 6
 *   expert-major output: e0 = (0,0) row 0, (1,0) rows 3, 4  -> output rows 0, 1, 2
 *                        e1 = (0,1) none, (1,1) row 5        -> output row 3
 *                        e2 = (0,2) rows 1, 2, (1,2) row 6   -> output rows 4, 5, 6
 *   permuteTokenIdxOut = [0, 3, 4, 5, 1, 2, 6];  expertTokenNumOut = [3, 1, 3]
 *   token row a = [0x3C00 + 2a, 0x3C01 + 2a] (fp16 bits, copied as bits)
 *   scales = [.5, 1, 1.5, 2, 2.5, 3, 3.5] -> permuted [.5, 2, 2.5, 3, 1, 1.5, 3.5]
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_moe_re_routing.h"
#include "harness.h"
#include "moeroute.h"

/* problem P */
enum { PA = 7, PH = 2, PR = 2, PE = 3 };
static const int32_t P_COUNTS[PR * PE] = {1, 0, 2, 2, 1, 1};
static const int64_t P_COUNTS64[PR * PE] = {1, 0, 2, 2, 1, 1};
static const float P_SCALES[PA] = {.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f};
static const int32_t P_IDX[PA] = {0, 3, 4, 5, 1, 2, 6};
static const int32_t P_NUM[PE] = {3, 1, 3};
static const int64_t P_NUM64[PE] = {3, 1, 3};
static const float P_PSCALES[PA] = {.5f, 2, 2.5f, 3, 1, 1.5f, 3.5f};
static uint16_t g_tok[PA * PH], g_want_tok[PA * PH];

static void p_init(void)
{
    for (int a = 0; a < PA; a++) g_tok[a * PH] = (uint16_t)(0x3C00 + 2 * a), g_tok[a * PH + 1] = (uint16_t)(0x3C01 + 2 * a);
    for (int d = 0; d < PA; d++) memcpy(&g_want_tok[d * PH], &g_tok[P_IDX[d] * PH], PH * sizeof(uint16_t));
}

/* ---------------------------------------------------------------------------------------------------- */
/* calling the aclnn operator                                                                          */

typedef struct rr_call {
    tspec tok, counts, scales, out_tok, out_scales, out_idx, out_num;
    int64_t num_type, idx_type;
} rr_call;

static aclnnStatus run(const rr_call *c)
{
    aclTensor *t[7] = {mk(c->tok), mk(c->counts), mk(c->scales), mk(c->out_tok), mk(c->out_scales), mk(c->out_idx),
                       mk(c->out_num)};
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeReRoutingGetWorkspaceSize(t[0], t[1], t[2], c->num_type, c->idx_type, t[3], t[4], t[5],
                                                       t[6], &ws_size, &exe);
    st = finish(st, aclnnMoeReRouting, ws_size, exe);
    destroy_all(t, 7);
    return st;
}

/* output buffers of problem P, filled with SENT before every call */
static uint16_t o_tok[PA * PH];
static float o_sc[PA];
static int32_t o_idx[PA];
static int64_t o_num[PE]; /* room for int64 counts */

static void clear_outputs(void)
{
    memset(o_tok, SENT, sizeof o_tok), memset(o_sc, SENT, sizeof o_sc), memset(o_idx, SENT, sizeof o_idx);
    memset(o_num, SENT, sizeof o_num);
}

static int outputs_untouched(void)
{
    return mr_test_bytes_are(o_tok, sizeof o_tok, SENT) && mr_test_bytes_are(o_sc, sizeof o_sc, SENT) &&
           mr_test_bytes_are(o_idx, sizeof o_idx, SENT) && mr_test_bytes_are(o_num, sizeof o_num, SENT);
}

/* Problem P, f16 tokens, int32 counts, with scales. */
static rr_call p_call(void)
{
    rr_call c = {T2(ACL_FLOAT16, PA, PH, g_tok), T2(ACL_INT32, PR, PE, P_COUNTS), T1(ACL_FLOAT, PA, P_SCALES),
                 T2(ACL_FLOAT16, PA, PH, o_tok), T1(ACL_FLOAT, PA, o_sc), T1(ACL_INT32, PA, o_idx),
                 T1(ACL_INT32, PE, o_num), 1, 0};
    return c;
}

static void check_p(const char *what, int scales, int counts64)
{
    static const float zeros[PA] = {0};
    CHECK_U16(o_tok, g_want_tok, PA * PH, "%s: permuteTokensOut", what);
    CHECK_F32(o_sc, scales ? P_PSCALES : zeros, PA, "%s: permutePerTokenScalesOut", what);
    CHECK(memcmp(o_idx, P_IDX, sizeof P_IDX) == 0, "%s: permuteTokenIdxOut", what);
    CHECK(counts64 ? memcmp(o_num, P_NUM64, sizeof P_NUM64) == 0 : memcmp(o_num, P_NUM, sizeof P_NUM) == 0,
          "%s: expertTokenNumOut", what);
}

/* ---------------------------------------------------------------------------------------------------- */
/* values                                                                                              */

static void test_problem_p(void)
{
    rr_call c = p_call();
    clear_outputs();
    aclnnStatus st = run(&c);
    CHECK(st == ACLNN_SUCCESS, "problem P: %d %s", (int)st, errmsg());
    check_p("problem P (f16, int32 counts, scales)", 1, 0);

    /* bf16 tokens, int64 counts, no scales: the scale output is 0.0 everywhere */
    c.tok.dt = c.out_tok.dt = ACL_BF16;
    c.counts = T2(ACL_INT64, PR, PE, P_COUNTS64);
    c.out_num.dt = ACL_INT64;
    c.scales = TNULL;
    clear_outputs();
    st = run(&c);
    CHECK(st == ACLNN_SUCCESS, "problem P bf16/int64: %d %s", (int)st, errmsg());
    check_p("problem P (bf16, int64 counts, no scales)", 0, 1);

    /* int8 tokens: the same permutation of bytes, [7, 4] int8 over the same storage */
    c = p_call();
    c.tok = T2(ACL_INT8, PA, 2 * PH, g_tok);
    c.out_tok = T2(ACL_INT8, PA, 2 * PH, o_tok);
    clear_outputs();
    st = run(&c);
    CHECK(st == ACLNN_SUCCESS, "problem P int8: %d %s", (int)st, errmsg());
    check_p("problem P (int8 tokens)", 1, 0);
}

/* Strided inputs: tokens column-major, counts transposed, scales every other element from the end. */
static void test_strided(void)
{
    uint16_t tok_cm[PA * PH];
    for (int a = 0; a < PA; a++)
        for (int h = 0; h < PH; h++) tok_cm[h * PA + a] = g_tok[a * PH + h];
    int32_t counts_t[PE * PR]; /* [E, R] storage read as [R, E] with strides (1, R) */
    for (int r = 0; r < PR; r++)
        for (int e = 0; e < PE; e++) counts_t[e * PR + r] = P_COUNTS[r * PE + e];
    float sc_rev[2 * PA]; /* element a at 2*(PA-1-a): stride -2 from offset 2*(PA-1) */
    memset(sc_rev, 0, sizeof sc_rev);
    for (int a = 0; a < PA; a++) sc_rev[2 * (PA - 1 - a)] = P_SCALES[a];
    rr_call c = p_call();
    c.tok = (tspec){ACL_FLOAT16, 2, {PA, PH, 0}, tok_cm, ACL_FORMAT_ND, {1, PA, 0}, 0, PA * PH};
    c.counts = (tspec){ACL_INT32, 2, {PR, PE, 0}, counts_t, ACL_FORMAT_ND, {1, PR, 0}, 0, PR * PE};
    c.scales = (tspec){ACL_FLOAT, 1, {PA, 0, 0}, sc_rev, ACL_FORMAT_ND, {-2, 0, 0}, 2 * (PA - 1), 2 * PA};
    clear_outputs();
    aclnnStatus st = run(&c);
    CHECK(st == ACLNN_SUCCESS, "strided views: %d %s", (int)st, errmsg());
    check_p("problem P through strided views", 1, 0);
}

/* A = 0: every count 0; only expertTokenNumOut (zeros) is written. */
static void test_empty(void)
{
    static const int32_t zc[PR * PE] = {0};
    rr_call c = p_call();
    c.tok = T2(ACL_FLOAT16, 0, PH, NULL);
    c.counts = T2(ACL_INT32, PR, PE, zc);
    c.scales = T1(ACL_FLOAT, 0, NULL);
    c.out_tok = T2(ACL_FLOAT16, 0, PH, NULL);
    c.out_scales = T1(ACL_FLOAT, 0, NULL);
    c.out_idx = T1(ACL_INT32, 0, NULL);
    clear_outputs();
    aclnnStatus st = run(&c);
    CHECK(st == ACLNN_SUCCESS, "A = 0: %d %s", (int)st, errmsg());
    CHECK(o_num[0] == 0 && ((int32_t *)o_num)[2] == 0, "A = 0: expertTokenNumOut is zero");
}

/* A repeatable executor re-pointed at other counts with aclSetInputTensorAddr (input index 1). */
static void test_repeatable(void)
{
    /* counts [[3, 1, 3], [0, 0, 0]]: rank 0 holds everything, already expert-major: identity */
    static const int32_t c2[PR * PE] = {3, 1, 3, 0, 0, 0};
    rr_call c = p_call();
    aclTensor *t[7] = {mk(c.tok), mk(c.counts), mk(c.scales), mk(c.out_tok), mk(c.out_scales), mk(c.out_idx),
                       mk(c.out_num)};
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeReRoutingGetWorkspaceSize(t[0], t[1], t[2], 1, 0, t[3], t[4], t[5], t[6], &ws_size, &exe);
    CHECK(st == ACLNN_SUCCESS && aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "repeatable: %s", errmsg());
    void *ws = NULL;
    CHECK(ws_size > 0 && aclrtMalloc(&ws, (size_t)ws_size, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "workspace");
    clear_outputs();
    st = aclnnMoeReRouting(ws, ws_size, exe, g_stream);
    CHECK(st == ACLNN_SUCCESS, "repeatable run 1: %d %s", (int)st, errmsg());
    check_p("repeatable run 1", 1, 0);
    CHECK(aclSetInputTensorAddr(exe, 1, t[1], (void *)c2) == ACLNN_SUCCESS, "aclSetInputTensorAddr: %s", errmsg());
    clear_outputs();
    st = aclnnMoeReRouting(ws, ws_size, exe, g_stream);
    CHECK(st == ACLNN_SUCCESS, "repeatable run 2: %d %s", (int)st, errmsg());
    static const int32_t ident[PA] = {0, 1, 2, 3, 4, 5, 6};
    CHECK(memcmp(o_idx, ident, sizeof ident) == 0 && memcmp(o_tok, g_tok, sizeof g_tok) == 0 &&
              memcmp(o_sc, P_SCALES, sizeof P_SCALES) == 0,
          "repeatable run 2: identity order");
    CHECK(memcmp(o_num, P_NUM, sizeof P_NUM) == 0, "repeatable run 2: counts");
    /* too small a workspace is refused at execute, and writes nothing */
    clear_outputs();
    st = aclnnMoeReRouting(ws, 8, exe, g_stream);
    CHECK(st == ACLNN_ERR_PARAM_INVALID && outputs_untouched(), "workspace too small: %d", (int)st);
    st = aclnnMoeReRouting(NULL, ws_size, exe, g_stream);
    CHECK(st == ACLNN_ERR_PARAM_INVALID && outputs_untouched(), "workspace NULL: %d", (int)st);
    CHECK(aclDestroyAclOpExecutor(exe) == ACLNN_SUCCESS, "destroy executor");
    aclrtFree(ws);
    for (int i = 0; i < 7; i++) aclDestroyTensor(t[i]);
}

/* ---------------------------------------------------------------------------------------------------- */
/* refusals                                                                                            */

static void refused(const char *what, const rr_call *c, aclnnStatus want, int phase)
{
    clear_outputs();
    aclnnStatus st = run(c);
    const char *m = aclGetRecentErrMsg();
    CHECK(st == want && g_phase == phase, "%s: got %d in phase %d, want %d in phase %d (%s)", what, (int)st, g_phase,
          (int)want, phase, m ? m : "(no message)");
    CHECK(m && m[0], "%s: no message for aclGetRecentErrMsg", what);
    CHECK(outputs_untouched(), "%s: a refused call wrote an output", what);
}

static void test_refusals(void)
{
    rr_call c;
#define WITH(field, value, what, want, phase) (c = p_call(), c.field = (value), refused(what, &c, want, phase))
    const aclnnStatus NUL = ACLNN_ERR_PARAM_NULLPTR, INV = ACLNN_ERR_PARAM_INVALID, TIL = ACLNN_ERR_INNER_TILING_ERROR;

    /* NULL tensors (161001); the scales are optional */
    WITH(tok, TNULL, "NULL tokens", NUL, 1);
    WITH(counts, TNULL, "NULL expertTokenNumPerRank", NUL, 1);
    WITH(out_tok, TNULL, "NULL permuteTokensOut", NUL, 1);
    WITH(out_scales, TNULL, "NULL permutePerTokenScalesOut", NUL, 1);
    WITH(out_idx, TNULL, "NULL permuteTokenIdxOut", NUL, 1);
    WITH(out_num, TNULL, "NULL expertTokenNumOut", NUL, 1);
    {
        c = p_call();
        aclTensor *t[7] = {mk(c.tok), mk(c.counts), mk(c.scales), mk(c.out_tok), mk(c.out_scales), mk(c.out_idx),
                           mk(c.out_num)};
        aclOpExecutor *exe = NULL;
        uint64_t ws = 0;
        clear_outputs();
        aclnnStatus st = aclnnMoeReRoutingGetWorkspaceSize(t[0], t[1], t[2], 1, 0, t[3], t[4], t[5], t[6], NULL, &exe);
        CHECK(st == NUL && outputs_untouched() && aclGetRecentErrMsg(), "NULL workspaceSize: %d", (int)st);
        st = aclnnMoeReRoutingGetWorkspaceSize(t[0], t[1], t[2], 1, 0, t[3], t[4], t[5], t[6], &ws, NULL);
        CHECK(st == NUL && outputs_untouched() && aclGetRecentErrMsg(), "NULL executor out-pointer: %d", (int)st);
        for (int i = 0; i < 7; i++) aclDestroyTensor(t[i]);
    }

    /* dtypes and formats (161002) */
    float f32buf[PA * PH];
    WITH(tok, T2(ACL_FLOAT, PA, PH, f32buf), "FLOAT tokens", INV, 1);
    WITH(out_tok, T2(ACL_BF16, PA, PH, o_tok), "permuteTokensOut dtype differs from tokens", INV, 1);
    WITH(counts, T2(ACL_INT16, PR, PE, P_COUNTS), "INT16 counts", INV, 1);
    WITH(counts, T2(ACL_FLOAT, PR, PE, P_COUNTS), "FLOAT counts", INV, 1);
    WITH(out_num, T1(ACL_INT64, PE, o_num), "expertTokenNumOut INT64 with INT32 counts", INV, 1);
    WITH(scales, T1(ACL_FLOAT16, PA, P_SCALES), "FLOAT16 scales", INV, 1);
    WITH(out_scales, T1(ACL_FLOAT16, PA, o_sc), "FLOAT16 permutePerTokenScalesOut", INV, 1);
    WITH(out_idx, T1(ACL_INT64, PA, o_num), "INT64 permuteTokenIdxOut", INV, 1);
    c = p_call(), c.tok.fmt = ACL_FORMAT_NCHW, refused("NCHW tokens", &c, INV, 1);
    c = p_call(), c.out_idx.fmt = ACL_FORMAT_NC1HWC0, refused("NC1HWC0 permuteTokenIdxOut", &c, INV, 1);

    /* attributes (561002) */
    WITH(num_type, 0, "expertTokenNumType 0", TIL, 1);
    WITH(num_type, 2, "expertTokenNumType 2", TIL, 1);
    WITH(idx_type, 1, "idxType 1 (scatter)", TIL, 1);
    WITH(idx_type, -1, "idxType -1", TIL, 1);

    /* shapes (561002) */
    WITH(tok, T1(ACL_FLOAT16, PA * PH, g_tok), "1-D tokens", TIL, 1);
    WITH(tok, T3(ACL_FLOAT16, PA, 1, PH, g_tok), "3-D tokens", TIL, 1);
    WITH(counts, T1(ACL_INT32, PR * PE, P_COUNTS), "1-D counts", TIL, 1);
    c = p_call(), c.tok.d[1] = c.out_tok.d[1] = 0, refused("H = 0", &c, TIL, 1);
    c = p_call(), c.counts.d[0] = 0, refused("R = 0", &c, TIL, 1);
    c = p_call(), c.counts.d[1] = 0, c.out_num.d[0] = 0, refused("E = 0", &c, TIL, 1);
    WITH(out_tok, T2(ACL_FLOAT16, PA - 1, PH, o_tok), "permuteTokensOut [A-1, H]", TIL, 1);
    WITH(out_tok, T2(ACL_FLOAT16, PH, PA, o_tok), "permuteTokensOut [H, A]", TIL, 1);
    WITH(out_tok, T1(ACL_FLOAT16, PA * PH, o_tok), "1-D permuteTokensOut", TIL, 1);
    WITH(out_scales, T1(ACL_FLOAT, PA - 1, o_sc), "permutePerTokenScalesOut [A-1]", TIL, 1);
    WITH(out_scales, T2(ACL_FLOAT, PA, 1, o_sc), "2-D permutePerTokenScalesOut", TIL, 1);
    WITH(out_idx, T1(ACL_INT32, PA + 1, o_idx), "permuteTokenIdxOut [A+1]", TIL, 1);
    WITH(out_num, T1(ACL_INT32, PE - 1, o_num), "expertTokenNumOut [E-1]", TIL, 1);
    WITH(out_num, T2(ACL_INT32, 1, PE, o_num), "2-D expertTokenNumOut", TIL, 1);
    WITH(scales, T1(ACL_FLOAT, PA - 1, P_SCALES), "scales [A-1]", TIL, 1);
    WITH(scales, T2(ACL_FLOAT, PA, 1, P_SCALES), "2-D scales", TIL, 1);

    /* H >= 16384: torch_npu's limit, lifted by MOEROUTE_DEVICE_LIMITS=0 */
    {
        enum { BH = 16384 };
        uint16_t *bt = calloc(2 * BH, 2), *bo = malloc(2 * BH * 2);
        static const int32_t bc[1] = {2};
        int32_t bidx[2], bnum[1];
        float bsc[2];
        rr_call b = {T2(ACL_FLOAT16, 2, BH, bt), T2(ACL_INT32, 1, 1, bc), TNULL, T2(ACL_FLOAT16, 2, BH, bo),
                     T1(ACL_FLOAT, 2, bsc), T1(ACL_INT32, 2, bidx), T1(ACL_INT32, 1, bnum), 1, 0};
        for (int i = 0; i < 2 * BH; i++) bt[i] = (uint16_t)i;
        memset(bo, SENT, 2 * BH * 2);
        aclnnStatus st = run(&b);
        CHECK(st == TIL && g_phase == 1 && mr_test_bytes_are(bo, 2 * BH * 2, SENT), "H = 16384 refused: %d", (int)st);
        setenv("MOEROUTE_DEVICE_LIMITS", "0", 1);
        st = run(&b);
        unsetenv("MOEROUTE_DEVICE_LIMITS");
        CHECK(st == ACLNN_SUCCESS && memcmp(bo, bt, 2 * BH * 2) == 0 && bidx[0] == 0 && bidx[1] == 1 && bnum[0] == 2,
              "H = 16384 with MOEROUTE_DEVICE_LIMITS=0: %d %s", (int)st, errmsg());
        free(bt), free(bo);
    }

    /* views: outside the storage, non-contiguous output (161002) */
    c = p_call(), c.tok.storage = PA * PH - 1, refused("tokens view beyond its storage", &c, INV, 1);
    c = p_call(), c.out_tok.s[0] = 1, c.out_tok.s[1] = PA, refused("column-major permuteTokensOut", &c, INV, 1);

    /* data (161002 at execute, decision 13) */
    static const int32_t negc[PR * PE] = {1, -1, 3, 2, 1, 1};
    static const int32_t small[PR * PE] = {1, 0, 2, 2, 1, 0};
    static const int32_t big[PR * PE] = {1, 0, 2, 2, 1, 2};
    static const int64_t huge[PR * PE] = {1, 0, 2, 2, INT64_MAX, INT64_MAX};
    static const int64_t neg64[PR * PE] = {INT64_MIN, 0, 2, 2, 1, 1};
    WITH(counts, T2(ACL_INT32, PR, PE, negc), "a negative count (sum still 7)", INV, 2);
    WITH(counts, T2(ACL_INT32, PR, PE, small), "counts summing to 6 < A", INV, 2);
    WITH(counts, T2(ACL_INT32, PR, PE, big), "counts summing to 8 > A", INV, 2);
    c = p_call(), c.counts = T2(ACL_INT64, PR, PE, huge), c.out_num.dt = ACL_INT64;
    refused("int64 counts near INT64_MAX (sum overflows)", &c, INV, 2);
    c = p_call(), c.counts = T2(ACL_INT64, PR, PE, neg64), c.out_num.dt = ACL_INT64;
    refused("int64 count INT64_MIN", &c, INV, 2);

    /* aliasing (161002 at execute): permuteTokensOut over tokens, idx over counts */
    {
        uint16_t buf[2 * PA * PH];
        memcpy(buf, g_tok, sizeof g_tok);
        memset(buf + PA * PH, SENT, sizeof g_tok);
        c = p_call();
        c.tok = T2(ACL_FLOAT16, PA, PH, buf);
        c.out_tok = T2(ACL_FLOAT16, PA, PH, buf + PA * PH - 1);
        clear_outputs();
        aclnnStatus st = run(&c);
        CHECK(st == INV && g_phase == 2 && aclGetRecentErrMsg(), "permuteTokensOut overlapping tokens: %d", (int)st);
        CHECK(memcmp(buf, g_tok, sizeof g_tok) == 0 && mr_test_bytes_are(o_sc, sizeof o_sc, SENT) &&
                  mr_test_bytes_are(o_idx, sizeof o_idx, SENT),
              "overlapping call wrote");
    }
    {
        int32_t cbuf[PR * PE + PA];
        memcpy(cbuf, P_COUNTS, sizeof P_COUNTS);
        c = p_call();
        c.counts = T2(ACL_INT32, PR, PE, cbuf);
        c.out_idx = T1(ACL_INT32, PA, cbuf + PR * PE - 1);
        clear_outputs();
        aclnnStatus st = run(&c);
        CHECK(st == INV && g_phase == 2 && memcmp(cbuf, P_COUNTS, sizeof P_COUNTS) == 0 &&
                  mr_test_bytes_are(o_tok, sizeof o_tok, SENT),
              "permuteTokenIdxOut overlapping the counts: %d", (int)st);
    }

    /* NULL data of a non-empty tensor at execute (161001) */
    c = p_call(), c.scales.data = NULL, refused("scales with NULL data", &c, NUL, 2);

    /* executor misuse */
    aclnnStatus st = aclnnMoeReRouting(NULL, 0, NULL, g_stream);
    CHECK(st == ACLNN_ERR_INNER_NULLPTR && aclGetRecentErrMsg(), "NULL executor gives 561103, got %d", (int)st);
#undef WITH
}

/* ---------------------------------------------------------------------------------------------------- */
/* native API                                                                                          */

static moeroute_re_routing_args p_native(void)
{
    moeroute_re_routing_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = PA, a.hidden = PH, a.num_ranks = PR, a.num_experts = PE;
    a.tokens_dtype = MOEROUTE_DTYPE_FLOAT16, a.tokens = g_tok, a.tokens_row_stride = PH, a.tokens_col_stride = 1;
    a.counts = P_COUNTS, a.counts_row_stride = PE, a.counts_col_stride = 1;
    a.scales = P_SCALES, a.scales_stride = 1;
    a.permuted_tokens = o_tok, a.permuted_scales = o_sc, a.permuted_idx = o_idx, a.expert_tokens = o_num;
    return a;
}

static const char *nmsg(void)
{
    const char *m = moeroute_error_message();
    return m ? m : "(no message)";
}

static void native_refused(const char *what, const moeroute_re_routing_args *a, moeroute_status want)
{
    clear_outputs();
    moeroute_status st = moeroute_re_routing(NULL, a);
    const char *m = moeroute_error_message();
    CHECK(st == want, "native %s: got %s, want %s (%s)", what, moeroute_status_string(st), moeroute_status_string(want),
          m ? m : "(no message)");
    CHECK(m && m[0], "native %s: no message", what);
    CHECK(outputs_untouched(), "native %s: a refused call wrote an output", what);
}

static void test_native(void)
{
    moeroute_re_routing_args a = p_native();
    clear_outputs();
    moeroute_status st = moeroute_re_routing(NULL, &a);
    CHECK(st == MOEROUTE_OK, "native problem P: %s", nmsg());
    check_p("native problem P", 1, 0);

    /* int64 counts, strided (transposed), no scales, tokens column-major */
    uint16_t tok_cm[PA * PH];
    for (int r = 0; r < PA; r++)
        for (int h = 0; h < PH; h++) tok_cm[h * PA + r] = g_tok[r * PH + h];
    int64_t ct[PE * PR];
    for (int r = 0; r < PR; r++)
        for (int e = 0; e < PE; e++) ct[e * PR + r] = P_COUNTS64[r * PE + e];
    a.tokens = tok_cm, a.tokens_row_stride = 1, a.tokens_col_stride = PA;
    a.counts_int64 = 1, a.counts = ct, a.counts_row_stride = 1, a.counts_col_stride = PR;
    a.scales = NULL;
    clear_outputs();
    st = moeroute_re_routing(NULL, &a);
    CHECK(st == MOEROUTE_OK, "native strided int64: %s", nmsg());
    check_p("native strided, int64 counts, no scales", 0, 1);

    /* H = 0 is legal here (semantic rules only): indices, counts and scales still written */
    a = p_native();
    a.hidden = 0, a.tokens = NULL;
    clear_outputs();
    st = moeroute_re_routing(NULL, &a);
    CHECK(st == MOEROUTE_OK && memcmp(o_idx, P_IDX, sizeof P_IDX) == 0 && memcmp(o_sc, P_PSCALES, sizeof o_sc) == 0,
          "native H = 0: %s", nmsg());

    /* refusals */
    CHECK(moeroute_re_routing(NULL, NULL) == MOEROUTE_ERR_NULL_POINTER && moeroute_error_message(), "native NULL args");
    a = p_native(), a.struct_size = 8;
    native_refused("struct_size 8", &a, MOEROUTE_ERR_INVALID_ARGS_SIZE);
    a = p_native(), a.tokens_dtype = MOEROUTE_DTYPE_FLOAT32;
    native_refused("FLOAT32 tokens", &a, MOEROUTE_ERR_INVALID_DTYPE);
    a = p_native(), a.tokens_dtype = MOEROUTE_DTYPE_INT32;
    native_refused("INT32 tokens", &a, MOEROUTE_ERR_INVALID_DTYPE);
    a = p_native(), a.counts_int64 = 2;
    native_refused("counts_int64 2", &a, MOEROUTE_ERR_INVALID_SHAPE);
    a = p_native(), a.num_rows = -1;
    native_refused("num_rows -1", &a, MOEROUTE_ERR_INVALID_SHAPE);
    a = p_native(), a.hidden = -1;
    native_refused("hidden -1", &a, MOEROUTE_ERR_INVALID_SHAPE);
    a = p_native(), a.num_ranks = 0;
    native_refused("num_ranks 0", &a, MOEROUTE_ERR_INVALID_SHAPE);
    a = p_native(), a.num_experts = 0;
    native_refused("num_experts 0", &a, MOEROUTE_ERR_INVALID_SHAPE);
    a = p_native(), a.num_rows = (int64_t)INT32_MAX + 1;
    native_refused("num_rows above INT32_MAX", &a, MOEROUTE_ERR_TOO_LARGE);
    a = p_native(), a.tokens = NULL;
    native_refused("NULL tokens", &a, MOEROUTE_ERR_NULL_POINTER);
    a = p_native(), a.counts = NULL;
    native_refused("NULL counts", &a, MOEROUTE_ERR_NULL_POINTER);
    a = p_native(), a.permuted_idx = NULL;
    native_refused("NULL permuted_idx", &a, MOEROUTE_ERR_NULL_POINTER);
    static const int32_t small[PR * PE] = {1, 0, 2, 2, 1, 0};
    a = p_native(), a.counts = small;
    native_refused("counts summing to 6", &a, MOEROUTE_ERR_INVALID_VALUE);
    static const int32_t negc[PR * PE] = {1, -1, 3, 2, 1, 1};
    a = p_native(), a.counts = negc;
    native_refused("a negative count", &a, MOEROUTE_ERR_INVALID_VALUE);
    a = p_native(), a.permuted_scales = (float *)(uintptr_t)P_SCALES;
    clear_outputs();
    st = moeroute_re_routing(NULL, &a);
    CHECK(st == MOEROUTE_ERR_ALIASING && moeroute_error_message() && mr_test_bytes_are(o_tok, sizeof o_tok, SENT),
          "native: permuted_scales over scales: %s", moeroute_status_string(st));
}

/* ---------------------------------------------------------------------------------------------------- */
/* every thread count and ISA: the bytes of a plain reference                                          */

static void test_threads(uint64_t *rng)
{
    enum { R = 5, E = 9, H = 1000 };
    int64_t counts[R * E], A = 0;
    for (int i = 0; i < R * E; i++) A += counts[i] = (int64_t)(mr_test_rand(rng) % 40) * (mr_test_rand(rng) % 4 != 0);
    uint16_t *tok = malloc((size_t)A * H * 2 + 2), *want = malloc((size_t)A * H * 2 + 2), *got = malloc((size_t)A * H * 2 + 2);
    float *sc = malloc((size_t)A * 4 + 4), *want_sc = malloc((size_t)A * 4 + 4), *got_sc = malloc((size_t)A * 4 + 4);
    int32_t *want_idx = malloc((size_t)A * 4 + 4), *got_idx = malloc((size_t)A * 4 + 4);
    int64_t want_num[E], got_num[E];
    for (int64_t i = 0; i < A * H; i++) tok[i] = (uint16_t)mr_test_rand(rng);
    for (int64_t i = 0; i < A; i++) sc[i] = (float)(mr_test_rand(rng) % 1000) / 8.0f;
    /* reference: walk experts, then ranks, finding each block's source start by summing the blocks before it */
    int64_t d = 0;
    for (int e = 0; e < E; e++) {
        want_num[e] = 0;
        for (int r = 0; r < R; r++) {
            int64_t s = 0;
            for (int q = 0; q < r * E + e; q++) s += counts[q];
            for (int64_t t = 0; t < counts[r * E + e]; t++, d++) {
                memcpy(&want[d * H], &tok[(s + t) * H], H * 2);
                want_sc[d] = sc[s + t];
                want_idx[d] = (int32_t)(s + t);
            }
            want_num[e] += counts[r * E + e];
        }
    }
    static const int32_t threads[] = {1, 2, 3, 4, 7};
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
        moeroute_options opt = {threads[ti], MOEROUTE_ISA_AUTO};
        moeroute_context *ctx = NULL;
        CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context %d threads", threads[ti]);
        moeroute_re_routing_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = A, a.hidden = H, a.num_ranks = R, a.num_experts = E;
        a.tokens_dtype = MOEROUTE_DTYPE_BFLOAT16, a.tokens = tok, a.tokens_row_stride = H, a.tokens_col_stride = 1;
        a.counts_int64 = 1, a.counts = counts, a.counts_row_stride = E, a.counts_col_stride = 1;
        a.scales = sc, a.scales_stride = 1;
        a.permuted_tokens = got, a.permuted_scales = got_sc, a.permuted_idx = got_idx, a.expert_tokens = got_num;
        memset(got, SENT, (size_t)A * H * 2), memset(got_sc, SENT, (size_t)A * 4), memset(got_idx, SENT, (size_t)A * 4);
        moeroute_status st = moeroute_re_routing(ctx, &a);
        CHECK(st == MOEROUTE_OK, "threads %d: %s", threads[ti], nmsg());
        CHECK(memcmp(got, want, (size_t)A * H * 2) == 0 && memcmp(got_sc, want_sc, (size_t)A * 4) == 0 &&
                  memcmp(got_idx, want_idx, (size_t)A * 4) == 0 && memcmp(got_num, want_num, sizeof want_num) == 0,
              "%d threads (A = %lld) equal the reference", threads[ti], (long long)A);
        moeroute_context_destroy(ctx);
    }
    free(tok), free(want), free(got), free(sc), free(want_sc), free(got_sc), free(want_idx), free(got_idx);
}

int main(int argc, char **argv)
{
    uint64_t seed = mr_test_seed(argc, argv), rng = seed;
    acl_setup();
    p_init();

    test_problem_p();
    test_strided();
    test_empty();
    test_repeatable();
    test_refusals();
    test_native();
    test_threads(&rng);

    acl_teardown();
    return mr_test_finish();
}
