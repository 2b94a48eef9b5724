/* Hand-worked cases for the gating operators: aclnnMoeGatingTopK, aclnnMoeGatingTopKSoftmax and
 * aclnnMoeGatingTopKSoftmaxV2, called as a CANN program calls them, plus every refusal of the three entry
 * points (status, phase, message, outputs untouched), MOEROUTE_DEVICE_LIMITS=0, and the native API's refusals.
 *
 * The logits are chosen so that every exp is exact: e^0 = 1 and e^-inf = 0, so a row of zeros (and -inf)
 * gives d = 1 (or 0), S = the count of zeros, and softmax scores that are exact binary fractions (1/4, 1/8);
 * sigmoid(0) = 1/2 and sigmoid(+-inf) = 1, 0. Where a case needs a non-trivial exp (V2 renorm 1) the
 * expected value is written with libm's double exp rounded to float, which tests/c/test_math.c shows equal to
 * the library's exp on every input it checks. Selection, groups, bias, scaling, eps and the output roundings
 * are then pure fp32 arithmetic worked out next to each case.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_moe_gating_top_k.h"
#include "aclnnop/aclnn_moe_gating_top_k_softmax.h"
#include "aclnnop/aclnn_moe_gating_top_k_softmax_v2.h"
#include "harness.h"
#include "moeroute.h"

typedef struct topk_attrs {
    int64_t k, k_group, group_count, mode, renorm, norm;
    bool out_flag;
    double rsf, eps;
} topk_attrs;
#define TOPK_DEFAULT(kk) ((topk_attrs){kk, 1, 1, 0, 0, 0, false, 1.0, 1e-20})

static aclnnStatus call_topk(tspec x, tspec bias, topk_attrs a, tspec y, tspec idx, tspec out)
{
    aclTensor *t[5] = {mk(x), mk(bias), mk(y), mk(idx), mk(out)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeGatingTopKGetWorkspaceSize(t[0], t[1], a.k, a.k_group, a.group_count, a.mode, a.renorm,
                                                        a.norm, a.out_flag, a.rsf, a.eps, t[2], t[3], t[4], &ws, &exe);
    st = finish(st, aclnnMoeGatingTopK, ws, exe);
    destroy_all(t, 5);
    return st;
}

static aclnnStatus call_v1(tspec x, tspec fin, int64_t k, tspec y, tspec idx, tspec row)
{
    aclTensor *t[5] = {mk(x), mk(fin), mk(y), mk(idx), mk(row)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(t[0], t[1], k, t[2], t[3], t[4], &ws, &exe);
    st = finish(st, aclnnMoeGatingTopKSoftmax, ws, exe);
    destroy_all(t, 5);
    return st;
}

static aclnnStatus call_v2(tspec x, tspec fin, int64_t k, int64_t renorm, bool flag, tspec y, tspec idx, tspec sm)
{
    aclTensor *t[5] = {mk(x), mk(fin), mk(y), mk(idx), mk(sm)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st =
        aclnnMoeGatingTopKSoftmaxV2GetWorkspaceSize(t[0], t[1], k, renorm, flag, t[2], t[3], t[4], &ws, &exe);
    st = finish(st, aclnnMoeGatingTopKSoftmaxV2, ws, exe);
    destroy_all(t, 5);
    return st;
}

static void expect_ok(const char *what, aclnnStatus st)
{
    CHECK(st == ACLNN_SUCCESS, "%s: status %d in phase %d (%s)", what, (int)st, g_phase, errmsg());
}

/* ---------------------------------------------------------------------------------------------------- */
/* MoeGatingTopK, worked by hand                                                                        */

/* Softmax over a row of zeros: d = 1, S = E, inv = 1/E, s = 1/E (exact for E a power of two). */
static void test_topk_softmax_bias_scaling(void)
{
    /* E = 4, x = 0: s = 1/4 each. bias [0, 0, 1, 0] makes b = [.25, .25, 1.25, .25]: expert 2 first, then the
     * tie among 0, 1, 3 goes to the lower index: idx = [2, 0]. Weights come from s, not b: .25 each, times
     * rsf 2 = .5; softmax weights are not renormalised (CANN's operator). out = s. */
    float x[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}}, bias[4] = {0, 0, 1, 0}, y[2][2], out[2][4];
    int32_t idx[2][2];
    topk_attrs a = TOPK_DEFAULT(2);
    a.out_flag = true;
    a.rsf = 2.0;
    memset(y, SENT, sizeof y), memset(idx, SENT, sizeof idx), memset(out, SENT, sizeof out);
    expect_ok("topk softmax+bias",
              call_topk(T2(ACL_FLOAT, 2, 4, x), T1(ACL_FLOAT, 4, bias), a, T2(ACL_FLOAT, 2, 2, y),
                        T2(ACL_INT32, 2, 2, idx), T2(ACL_FLOAT, 2, 4, out)));
    const float wy[2][2] = {{.5f, .5f}, {.5f, .5f}}, wout[2][4] = {{.25f, .25f, .25f, .25f}, {.25f, .25f, .25f, .25f}};
    CHECK_F32(&y[0][0], &wy[0][0], 4, "topk softmax+bias: y");
    CHECK_F32(&out[0][0], &wout[0][0], 8, "topk softmax+bias: out = s");
    CHECK(idx[0][0] == 2 && idx[0][1] == 0 && idx[1][0] == 2 && idx[1][1] == 0, "idx = [2, 0]: %d %d", idx[0][0],
          idx[0][1]);

    /* outFlag false: outOut (any 2-D shape) is not written */
    float small[1][1];
    memset(small, SENT, sizeof small);
    a.out_flag = false;
    expect_ok("topk outFlag false", call_topk(T2(ACL_FLOAT, 2, 4, x), TNULL, a, T2(ACL_FLOAT, 2, 2, y),
                                              T2(ACL_INT32, 2, 2, idx), T2(ACL_FLOAT, 1, 1, small)));
    CHECK(mr_test_bytes_are(small, sizeof small, SENT), "outOut written with outFlag false");
    CHECK(idx[0][0] == 0 && idx[0][1] == 1, "no bias: ties to the lower index: %d %d", idx[0][0], idx[0][1]);

    /* y rounding of MoeGatingTopK is RNE for bf16: s = 1/4, rsf = 1 + 2^-8 gives w = 2^-2 + 2^-10 exactly, a tie
     * between the bf16 neighbours 0x3E80 (1/4) and 0x3E81 (1/4 + 2^-9): even -> 0x3E80. fp16 holds it exactly
     * (ulp 2^-12 at 1/4: 0x3400 + 4 = 0x3404). x zeros = 0x0000 in both. */
    uint16_t xb[4] = {0, 0, 0, 0}, yb[1];
    int32_t ib[1];
    a = TOPK_DEFAULT(1);
    a.rsf = 1.0 + 0x1p-8;
    expect_ok("topk bf16 tie", call_topk(T2(ACL_BF16, 1, 4, xb), TNULL, a, T2(ACL_BF16, 1, 1, yb),
                                         T2(ACL_INT32, 1, 1, ib), T2(ACL_FLOAT, 1, 1, small)));
    CHECK(yb[0] == 0x3E80, "bf16 y of a tie rounds to even: %04x", yb[0]);
    expect_ok("topk f16", call_topk(T2(ACL_FLOAT16, 1, 4, xb), TNULL, a, T2(ACL_FLOAT16, 1, 1, yb),
                                    T2(ACL_INT32, 1, 1, ib), T2(ACL_FLOAT, 1, 1, small)));
    CHECK(yb[0] == 0x3404, "f16 y = 2^-2 + 2^-10 = 0x3404 (ulp 2^-12 at 1/4): %04x", yb[0]);
}

static void test_topk_sigmoid(void)
{
    /* sigmoid: x = [NaN, 0, -inf, +inf] -> s = [NaN, .5, 0, 1]. Selection: 1 (3), .5 (1), 0 (2), NaN last (0).
     * k = 3: w = [1, .5, 0], T = f32(1.5 + eps 1e-20) = 1.5, y = w / 1.5 = [1/1.5, .5/1.5, 0] in fp32. */
    float x[4] = {NAN, 0.0f, -INFINITY, INFINITY}, y[4], out[4];
    int32_t idx[4];
    topk_attrs a = TOPK_DEFAULT(3);
    a.norm = 1;
    a.out_flag = true;
    expect_ok("topk sigmoid", call_topk(T2(ACL_FLOAT, 1, 4, x), TNULL, a, T2(ACL_FLOAT, 1, 3, y),
                                        T2(ACL_INT32, 1, 3, idx), T2(ACL_FLOAT, 1, 4, out)));
    volatile float one = 1.0f, half = 0.5f, t = 1.5f;
    const float wy[3] = {one / t, half / t, 0.0f};
    CHECK(idx[0] == 3 && idx[1] == 1 && idx[2] == 2, "sigmoid order 3 1 2: %d %d %d", idx[0], idx[1], idx[2]);
    CHECK_F32(y, wy, 3, "sigmoid weights w / (sum + eps)");
    CHECK(isnan(out[0]) && out[1] == .5f && out[2] == 0.0f && out[3] == 1.0f, "sigmoid scores");
    /* k = 4 takes the NaN score: the sum is NaN, so every weight is NaN (the NaN expert comes last) */
    a.k = 4;
    expect_ok("topk sigmoid k=4", call_topk(T2(ACL_FLOAT, 1, 4, x), TNULL, a, T2(ACL_FLOAT, 1, 4, y),
                                            T2(ACL_INT32, 1, 4, idx), T2(ACL_FLOAT, 1, 4, out)));
    CHECK(idx[3] == 0 && isnan(y[0]) && isnan(y[3]), "NaN last, NaN weights: idx %d y0 %g", idx[3], (double)y[0]);
    /* eps = 1 and rsf = 3: x = 0 -> s = .5; T = .5 + .5 + 1 = 2; y = .25 * 3 = .75 */
    float z[4] = {0, 0, 0, 0};
    a = TOPK_DEFAULT(2);
    a.norm = 1, a.eps = 1.0, a.rsf = 3.0;
    expect_ok("topk sigmoid eps", call_topk(T2(ACL_FLOAT, 1, 4, z), TNULL, a, T2(ACL_FLOAT, 1, 2, y),
                                            T2(ACL_INT32, 1, 2, idx), T2(ACL_FLOAT, 1, 1, out)));
    CHECK(y[0] == .75f && y[1] == .75f && idx[0] == 0 && idx[1] == 1, "eps 1, rsf 3: %g %g", (double)y[0],
          (double)y[1]);
    /* -0 ties +0 (sigmoid of +-0 is .5 both) and -inf ranks above NaN: x = [-inf, NaN, -0, 0], k 4 ->
     * s = [0, NaN, .5, .5]: idx = [2, 3, 0, 1] */
    float w4[4] = {-INFINITY, NAN, -0.0f, 0.0f};
    a = TOPK_DEFAULT(4);
    a.norm = 1;
    expect_ok("topk -0/NaN", call_topk(T2(ACL_FLOAT, 1, 4, w4), TNULL, a, T2(ACL_FLOAT, 1, 4, y),
                                       T2(ACL_INT32, 1, 4, idx), T2(ACL_FLOAT, 1, 1, out)));
    CHECK(idx[0] == 2 && idx[1] == 3 && idx[2] == 0 && idx[3] == 1, "order 2 3 0 1: %d %d %d %d", idx[0], idx[1],
          idx[2], idx[3]);
}

static void test_topk_groups(void)
{
    /* E = 8, x = 0: s = 1/8 each. bias = [0, .5, .25, .25, .375, 0, 0, 0] -> b = [.125, .625, .375, .375, .5,
     * .125, .125, .125]. groupCount 4 (pairs), kGroup 2, k 3.
     * mode 1 (sum of two best): g0 .75, g1 .75, g2 .625, g3 .25 -> g0, g1 (tie: lower group). Candidates 0..3:
     *   b order 1 (.625), 2 (.375), 3 (.375): idx [1, 2, 3].
     * mode 0 (best): g0 .625, g1 .375, g2 .5, g3 .125 -> g0, g2. Candidates 0, 1, 4, 5: 1 (.625), 4 (.5),
     *   then 0 and 5 tie at .125 -> 0: idx [1, 4, 0]. Weights: s = .125 each. */
    float x[8] = {0}, bias[8] = {0, .5f, .25f, .25f, .375f, 0, 0, 0}, y[3], out[1];
    int32_t idx[3];
    topk_attrs a = TOPK_DEFAULT(3);
    a.k_group = 2, a.group_count = 4, a.mode = 1;
    expect_ok("groups mode 1", call_topk(T2(ACL_FLOAT, 1, 8, x), T1(ACL_FLOAT, 8, bias), a, T2(ACL_FLOAT, 1, 3, y),
                                         T2(ACL_INT32, 1, 3, idx), T2(ACL_FLOAT, 1, 1, out)));
    CHECK(idx[0] == 1 && idx[1] == 2 && idx[2] == 3, "mode 1: %d %d %d", idx[0], idx[1], idx[2]);
    CHECK(y[0] == .125f && y[1] == .125f && y[2] == .125f, "weights from s");
    a.mode = 0;
    expect_ok("groups mode 0", call_topk(T2(ACL_FLOAT, 1, 8, x), T1(ACL_FLOAT, 8, bias), a, T2(ACL_FLOAT, 1, 3, y),
                                         T2(ACL_INT32, 1, 3, idx), T2(ACL_FLOAT, 1, 1, out)));
    CHECK(idx[0] == 1 && idx[1] == 4 && idx[2] == 0, "mode 0: %d %d %d", idx[0], idx[1], idx[2]);
    /* kGroup = groupCount: no group step (every expert competes): 1, 4, then 2 (.375, lower than 3) */
    a.k_group = 4;
    expect_ok("groups all", call_topk(T2(ACL_FLOAT, 1, 8, x), T1(ACL_FLOAT, 8, bias), a, T2(ACL_FLOAT, 1, 3, y),
                                      T2(ACL_INT32, 1, 3, idx), T2(ACL_FLOAT, 1, 1, out)));
    CHECK(idx[0] == 1 && idx[1] == 4 && idx[2] == 2, "kGroup = groupCount: %d %d %d", idx[0], idx[1], idx[2]);
    /* k = kGroup * E / groupCount = 4 with mode 1, kGroup 2: exactly the four experts of g0, g1 */
    a.k_group = 2, a.mode = 1, a.k = 4;
    float y4[4];
    int32_t i4[4];
    expect_ok("groups k max", call_topk(T2(ACL_FLOAT, 1, 8, x), T1(ACL_FLOAT, 8, bias), a, T2(ACL_FLOAT, 1, 4, y4),
                                        T2(ACL_INT32, 1, 4, i4), T2(ACL_FLOAT, 1, 1, out)));
    CHECK(i4[0] == 1 && i4[1] == 2 && i4[2] == 3 && i4[3] == 0, "k = 4: %d %d %d %d", i4[0], i4[1], i4[2], i4[3]);
}

/* ---------------------------------------------------------------------------------------------------- */
/* MoeGatingTopKSoftmax V1 / V2                                                                         */

static void test_softmax_v1(void)
{
    /* N = 2, E = 4. Row 0 zeros: p = 1/4 each; top 3 = [0, 1, 2] (ties: lower index).
     * Row 1 [-inf, 0, -inf, 0]: d = [0, 1, 0, 1], S = 2, p = [0, .5, 0, .5]: top 3 = [1, 3, 0].
     * rowIdx[r][j] = j*N + r = [[0, 2, 4], [1, 3, 5]]. finished [0, 1]: row 1's indices become E = 4. */
    float x[2][4] = {{0, 0, 0, 0}, {-INFINITY, 0, -INFINITY, 0}}, y[2][3];
    int32_t idx[2][3], row[2][3];
    bool fin[2] = {false, true};
    expect_ok("v1", call_v1(T2(ACL_FLOAT, 2, 4, x), TNULL, 3, T2(ACL_FLOAT, 2, 3, y), T2(ACL_INT32, 2, 3, idx),
                            T2(ACL_INT32, 2, 3, row)));
    const float wy[2][3] = {{.25f, .25f, .25f}, {.5f, .5f, 0.0f}};
    const int32_t widx[2][3] = {{0, 1, 2}, {1, 3, 0}}, wrow[2][3] = {{0, 2, 4}, {1, 3, 5}};
    CHECK_F32(&y[0][0], &wy[0][0], 6, "v1 y");
    CHECK(memcmp(idx, widx, sizeof idx) == 0 && memcmp(row, wrow, sizeof row) == 0, "v1 idx and rowIdx");
    expect_ok("v1 finished", call_v1(T2(ACL_FLOAT, 2, 4, x), T1(ACL_BOOL, 2, fin), 3, T2(ACL_FLOAT, 2, 3, y),
                                     T2(ACL_INT32, 2, 3, idx), T2(ACL_INT32, 2, 3, row)));
    CHECK(idx[0][0] == 0 && idx[1][0] == 4 && idx[1][1] == 4 && idx[1][2] == 4, "finished row -> E");
    CHECK_F32(&y[0][0], &wy[0][0], 6, "v1 y of a finished row are still the values");

    /* 3-D x [2, 1, 4] (B = 2, S = 1): rows as [2, 4]; rowIdx j*2 + r */
    float y3[2][1][2];
    int32_t i3[2][1][2], r3[2][1][2];
    expect_ok("v1 3-D", call_v1(T3(ACL_FLOAT, 2, 1, 4, x), TNULL, 2, T3(ACL_FLOAT, 2, 1, 2, y3),
                                T3(ACL_INT32, 2, 1, 2, i3), T3(ACL_INT32, 2, 1, 2, r3)));
    CHECK(i3[1][0][0] == 1 && i3[1][0][1] == 3 && r3[0][0][1] == 2 && r3[1][0][1] == 3, "3-D indices");

    /* NaN logit: the max skips it (m = 1), but d(NaN) = NaN makes S NaN, so every p is NaN; NaN ranks last and
     * equal keys keep index order: idx = [0, 1]. */
    float xn[4] = {NAN, 1.0f, 1.0f, -INFINITY}, yn[2];
    int32_t in_[2], rn[2];
    expect_ok("v1 NaN", call_v1(T2(ACL_FLOAT, 1, 4, xn), TNULL, 2, T2(ACL_FLOAT, 1, 2, yn), T2(ACL_INT32, 1, 2, in_),
                                T2(ACL_INT32, 1, 2, rn)));
    CHECK(isnan(yn[0]) && isnan(yn[1]) && in_[0] == 0 && in_[1] == 1, "NaN row: %g %d %d", (double)yn[0], in_[0],
          in_[1]);
    /* +inf logit: m = inf, inf - inf = NaN for that expert, e^-inf = 0 for the rest: S = NaN, p all NaN */
    float xi[4] = {0.0f, INFINITY, 0.0f, 0.0f};
    expect_ok("v1 inf", call_v1(T2(ACL_FLOAT, 1, 4, xi), TNULL, 2, T2(ACL_FLOAT, 1, 2, yn), T2(ACL_INT32, 1, 2, in_),
                                T2(ACL_INT32, 1, 2, rn)));
    CHECK(isnan(yn[0]) && in_[0] == 0, "inf row: %g %d", (double)yn[0], in_[0]);
}

static void test_softmax_v2(void)
{
    /* renorm 0 with the softmax result: row [-inf, 0, -inf, 0] -> p = [0, .5, 0, .5] */
    float x[4] = {-INFINITY, 0, -INFINITY, 0}, y[2], sm[4];
    int32_t idx[2];
    expect_ok("v2 renorm 0", call_v2(T2(ACL_FLOAT, 1, 4, x), TNULL, 2, 0, true, T2(ACL_FLOAT, 1, 2, y),
                                     T2(ACL_INT32, 1, 2, idx), T2(ACL_FLOAT, 1, 4, sm)));
    const float wsm[4] = {0, .5f, 0, .5f};
    CHECK_F32(sm, wsm, 4, "v2 softmax result");
    CHECK(idx[0] == 1 && idx[1] == 3 && y[0] == .5f && y[1] == .5f, "v2 renorm 0 selection");
    /* without the flag a given softmaxResultOut is not written */
    memset(sm, SENT, sizeof sm);
    expect_ok("v2 no flag", call_v2(T2(ACL_FLOAT, 1, 4, x), TNULL, 2, 0, false, T2(ACL_FLOAT, 1, 2, y),
                                    T2(ACL_INT32, 1, 2, idx), T2(ACL_FLOAT, 1, 4, sm)));
    CHECK(mr_test_bytes_are(sm, sizeof sm, SENT), "softmax result written without the flag");

    /* renorm 1: x = [1, 3, 2], k = 2 selects on x: [1, 2] with values [3, 2]; m = 3, d = [1, e^-1],
     * S = f32(1 + e^-1), y = [1 / S, e^-1 / S]. */
    float x3[3] = {1, 3, 2};
    expect_ok("v2 renorm 1", call_v2(T2(ACL_FLOAT, 1, 3, x3), TNULL, 2, 1, false, T2(ACL_FLOAT, 1, 2, y),
                                     T2(ACL_INT32, 1, 2, idx), TNULL));
    volatile float e1 = (float)exp(-1.0), one = 1.0f;
    volatile float s = one + e1;
    const float wy[2] = {one / s, e1 / s};
    CHECK(idx[0] == 1 && idx[1] == 2, "renorm 1 selects on x: %d %d", idx[0], idx[1]);
    CHECK_F32(y, wy, 2, "renorm 1 weights");
    /* finished with renorm 1: E */
    bool fin[1] = {true};
    expect_ok("v2 renorm 1 finished", call_v2(T2(ACL_FLOAT, 1, 3, x3), T1(ACL_BOOL, 1, fin), 2, 1, false,
                                              T2(ACL_FLOAT, 1, 2, y), T2(ACL_INT32, 1, 2, idx), TNULL));
    CHECK(idx[0] == 3 && idx[1] == 3, "finished: E = 3");
    CHECK_F32(y, wy, 2, "finished rows keep their values");
}

/* ---------------------------------------------------------------------------------------------------- */
/* refusals                                                                                             */

static void test_topk_refusals(void)
{
    float x[2][8] = {{0}}, bias[8] = {0}, y[2][2], out[2][8], big[1];
    int32_t idx[2][2];
    uint16_t h[16] = {0};
    memset(y, SENT, sizeof y), memset(idx, SENT, sizeof idx), memset(out, SENT, sizeof out);
    const tspec X = T2(ACL_FLOAT, 2, 8, x), B = T1(ACL_FLOAT, 8, bias), Y = T2(ACL_FLOAT, 2, 2, y),
                I = T2(ACL_INT32, 2, 2, idx), O = T2(ACL_FLOAT, 2, 8, out);
    const topk_attrs D = TOPK_DEFAULT(2);
#define TOPK_REFUSED(what, want, phase, x_, b_, a_, y_, i_, o_)                                               \
    expect_refused2(what, call_topk(x_, b_, a_, y_, i_, o_), want, phase, y, sizeof y, idx, sizeof idx);       \
    CHECK(mr_test_bytes_are(out, sizeof out, SENT), "%s: outOut written", what)
    TOPK_REFUSED("NULL x", ACLNN_ERR_PARAM_NULLPTR, 1, TNULL, B, D, Y, I, O);
    TOPK_REFUSED("NULL yOut", ACLNN_ERR_PARAM_NULLPTR, 1, X, B, D, TNULL, I, O);
    TOPK_REFUSED("NULL expertIdxOut", ACLNN_ERR_PARAM_NULLPTR, 1, X, B, D, Y, TNULL, O);
    TOPK_REFUSED("NULL outOut", ACLNN_ERR_PARAM_NULLPTR, 1, X, B, D, Y, I, TNULL);
    TOPK_REFUSED("x int32", ACLNN_ERR_PARAM_INVALID, 1, T2(ACL_INT32, 2, 8, x), B, D, Y, I, O);
    TOPK_REFUSED("bias f16", ACLNN_ERR_PARAM_INVALID, 1, X, T1(ACL_FLOAT16, 8, h), D, Y, I, O);
    TOPK_REFUSED("yOut f16", ACLNN_ERR_PARAM_INVALID, 1, X, B, D, T2(ACL_FLOAT16, 2, 2, y), I, O);
    TOPK_REFUSED("expertIdx f32", ACLNN_ERR_PARAM_INVALID, 1, X, B, D, Y, T2(ACL_FLOAT, 2, 2, idx), O);
    TOPK_REFUSED("outOut f16", ACLNN_ERR_PARAM_INVALID, 1, X, B, D, Y, I, T2(ACL_FLOAT16, 2, 8, out));
    TOPK_REFUSED("x 3-D", ACLNN_ERR_INNER_TILING_ERROR, 1, T3(ACL_FLOAT, 1, 2, 8, x), B, D, Y, I, O);
    TOPK_REFUSED("bias [7]", ACLNN_ERR_INNER_TILING_ERROR, 1, X, T1(ACL_FLOAT, 7, bias), D, Y, I, O);
    TOPK_REFUSED("bias 2-D", ACLNN_ERR_INNER_TILING_ERROR, 1, X, T2(ACL_FLOAT, 1, 8, bias), D, Y, I, O);
    topk_attrs a;
    const struct {
        const char *what;
        topk_attrs a;
    } bad[] = {
        {"k 0", {0, 1, 1, 0, 0, 0, false, 1.0, 1e-20}},
        {"k > E", {9, 1, 1, 0, 0, 0, false, 1.0, 1e-20}},
        {"k negative", {-1, 1, 1, 0, 0, 0, false, 1.0, 1e-20}},
        {"kGroup 0", {2, 0, 1, 0, 0, 0, false, 1.0, 1e-20}},
        {"kGroup > groupCount", {2, 3, 2, 0, 0, 0, false, 1.0, 1e-20}},
        {"groupCount 0", {2, 1, 0, 0, 0, 0, false, 1.0, 1e-20}},
        {"groupCount -2", {2, 1, -2, 0, 0, 0, false, 1.0, 1e-20}},
        {"groupCount 3 does not divide 8", {2, 1, 3, 0, 0, 0, false, 1.0, 1e-20}},
        {"groupSelectMode 2", {2, 1, 1, 2, 0, 0, false, 1.0, 1e-20}},
        {"groupSelectMode -1", {2, 1, 1, -1, 0, 0, false, 1.0, 1e-20}},
        {"renorm 1", {2, 1, 1, 0, 1, 0, false, 1.0, 1e-20}},
        {"normType 2", {2, 1, 1, 0, 0, 2, false, 1.0, 1e-20}},
        {"mode 1 with one expert per group", {2, 4, 8, 1, 0, 0, false, 1.0, 1e-20}},
        {"k > kGroup * E / groupCount", {3, 1, 4, 0, 0, 0, false, 1.0, 1e-20}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TOPK_REFUSED(bad[i].what, ACLNN_ERR_INNER_TILING_ERROR, 1, X, B, bad[i].a, Y, I, O);
    }
    TOPK_REFUSED("yOut [2, 3]", ACLNN_ERR_INNER_TILING_ERROR, 1, X, B, D, T2(ACL_FLOAT, 2, 3, y), I, O);
    TOPK_REFUSED("expertIdx [1, 2]", ACLNN_ERR_INNER_TILING_ERROR, 1, X, B, D, Y, T2(ACL_INT32, 1, 2, idx), O);
    TOPK_REFUSED("yOut 1-D", ACLNN_ERR_INNER_TILING_ERROR, 1, X, B, D, T1(ACL_FLOAT, 4, y), I, O);
    TOPK_REFUSED("outOut 1-D", ACLNN_ERR_INNER_TILING_ERROR, 1, X, B, D, Y, I, T1(ACL_FLOAT, 16, out));
    a = D;
    a.out_flag = true;
    TOPK_REFUSED("outFlag with outOut [2, 7]", ACLNN_ERR_INNER_TILING_ERROR, 1, X, B, a, Y, I,
                 T2(ACL_FLOAT, 2, 7, out));
    /* NULL workspaceSize / executor pointers */
    aclTensor *t[4] = {mk(X), mk(Y), mk(I), mk(O)};
    uint64_t ws;
    aclOpExecutor *exe;
    aclnnStatus st = aclnnMoeGatingTopKGetWorkspaceSize(t[0], NULL, 2, 1, 1, 0, 0, 0, false, 1.0, 1e-20, t[1], t[2],
                                                        t[3], NULL, &exe);
    CHECK(st == ACLNN_ERR_PARAM_NULLPTR && aclGetRecentErrMsg(), "NULL workspaceSize: %d", (int)st);
    st = aclnnMoeGatingTopKGetWorkspaceSize(t[0], NULL, 2, 1, 1, 0, 0, 0, false, 1.0, 1e-20, t[1], t[2], t[3], &ws,
                                            NULL);
    CHECK(st == ACLNN_ERR_PARAM_NULLPTR && aclGetRecentErrMsg(), "NULL executor pointer: %d", (int)st);
    destroy_all(t, 4);
    CHECK(aclnnMoeGatingTopK(NULL, 0, NULL, g_stream) == ACLNN_ERR_INNER_NULLPTR && aclGetRecentErrMsg(),
          "NULL executor at execute");
    CHECK(mr_test_bytes_are(y, sizeof y, SENT) && mr_test_bytes_are(idx, sizeof idx, SENT), "untouched");
#undef TOPK_REFUSED

    /* The Atlas limits: E > 2048, and grouped groupCount * align32(E / groupCount) > 2048; both lifted by
     * MOEROUTE_DEVICE_LIMITS=0 (the semantic rules stay). E = 2049, k = 1; E = 1105 = 65 * 17 with 65 groups,
     * kGroup 1: 65 * 32 = 2080 > 2048. */
    float *xl = calloc(2049, sizeof(float));
    float yl[1];
    int32_t il[1];
    if (!xl) {
        CHECK(0, "out of memory");
        return;
    }
    topk_attrs g = TOPK_DEFAULT(1);
    topk_attrs gg = {1, 1, 65, 0, 0, 0, false, 1.0, 1e-20};
    for (int lifted = 0; lifted < 2; lifted++) {
        if (lifted) setenv("MOEROUTE_DEVICE_LIMITS", "0", 1);
        memset(yl, SENT, sizeof yl), memset(il, SENT, sizeof il);
        st = call_topk(T2(ACL_FLOAT, 1, 2049, xl), TNULL, g, T2(ACL_FLOAT, 1, 1, yl), T2(ACL_INT32, 1, 1, il),
                       T2(ACL_FLOAT, 1, 1, big));
        if (lifted) {
            expect_ok("E = 2049 with MOEROUTE_DEVICE_LIMITS=0", st);
            CHECK(il[0] == 0 && yl[0] == 1.0f / 2049.0f * 1.0f, "E = 2049: idx %d y %a", il[0], (double)yl[0]);
        } else {
            expect_refused2("E = 2049", st, ACLNN_ERR_INNER_TILING_ERROR, 1, yl, sizeof yl, il, sizeof il);
        }
        memset(yl, SENT, sizeof yl), memset(il, SENT, sizeof il);
        st = call_topk(T2(ACL_FLOAT, 1, 1105, xl), TNULL, gg, T2(ACL_FLOAT, 1, 1, yl), T2(ACL_INT32, 1, 1, il),
                       T2(ACL_FLOAT, 1, 1, big));
        if (lifted) {
            expect_ok("grouped 65 x align32(17) with MOEROUTE_DEVICE_LIMITS=0", st);
            CHECK(il[0] == 0, "grouped lifted: idx %d", il[0]);
        } else {
            expect_refused2("grouped 65 x align32(17) > 2048", st, ACLNN_ERR_INNER_TILING_ERROR, 1, yl, sizeof yl, il,
                           sizeof il);
        }
        /* a semantic rule stays: groups that do not divide E */
        memset(yl, SENT, sizeof yl), memset(il, SENT, sizeof il);
        gg.group_count = 64;
        st = call_topk(T2(ACL_FLOAT, 1, 1105, xl), TNULL, gg, T2(ACL_FLOAT, 1, 1, yl), T2(ACL_INT32, 1, 1, il),
                       T2(ACL_FLOAT, 1, 1, big));
        expect_refused2("groups not dividing E", st, ACLNN_ERR_INNER_TILING_ERROR, 1, yl, sizeof yl, il, sizeof il);
        gg.group_count = 65;
    }
    unsetenv("MOEROUTE_DEVICE_LIMITS");
    free(xl);
}

static void test_softmax_refusals(void)
{
    float x[2][4] = {{0}}, y[2][2], sm[2][4];
    int32_t idx[2][2], row[2][2];
    bool fin[2] = {false, false};
    uint16_t h[8] = {0};
    memset(y, SENT, sizeof y), memset(idx, SENT, sizeof idx), memset(row, SENT, sizeof row), memset(sm, SENT, sizeof sm);
    const tspec X = T2(ACL_FLOAT, 2, 4, x), F = T1(ACL_BOOL, 2, fin), Y = T2(ACL_FLOAT, 2, 2, y),
                I = T2(ACL_INT32, 2, 2, idx), R = T2(ACL_INT32, 2, 2, row), S = T2(ACL_FLOAT, 2, 4, sm);
#define V1_REFUSED(what, want, x_, f_, k_, y_, i_, r_)                                                        \
    expect_refused2(what, call_v1(x_, f_, k_, y_, i_, r_), want, 1, y, sizeof y, idx, sizeof idx);             \
    CHECK(mr_test_bytes_are(row, sizeof row, SENT), "%s: rowIdx written", what)
    V1_REFUSED("v1 NULL x", ACLNN_ERR_PARAM_NULLPTR, TNULL, F, 2, Y, I, R);
    V1_REFUSED("v1 NULL yOut", ACLNN_ERR_PARAM_NULLPTR, X, F, 2, TNULL, I, R);
    V1_REFUSED("v1 NULL expertIdxOut", ACLNN_ERR_PARAM_NULLPTR, X, F, 2, Y, TNULL, R);
    V1_REFUSED("v1 NULL rowIdxOut", ACLNN_ERR_PARAM_NULLPTR, X, F, 2, Y, I, TNULL);
    V1_REFUSED("v1 x int32", ACLNN_ERR_PARAM_INVALID, T2(ACL_INT32, 2, 4, x), F, 2, Y, I, R);
    V1_REFUSED("v1 finished int8", ACLNN_ERR_PARAM_INVALID, X, T1(ACL_INT8, 2, fin), 2, Y, I, R);
    V1_REFUSED("v1 yOut f16", ACLNN_ERR_PARAM_INVALID, X, F, 2, T2(ACL_FLOAT16, 2, 2, h), I, R);
    V1_REFUSED("v1 expertIdx f32", ACLNN_ERR_PARAM_INVALID, X, F, 2, Y, T2(ACL_FLOAT, 2, 2, idx), R);
    V1_REFUSED("v1 rowIdx f32", ACLNN_ERR_PARAM_INVALID, X, F, 2, Y, I, T2(ACL_FLOAT, 2, 2, row));
    V1_REFUSED("v1 x 1-D", ACLNN_ERR_INNER_TILING_ERROR, T1(ACL_FLOAT, 8, x), F, 2, Y, I, R);
    V1_REFUSED("v1 x 4-D", ACLNN_ERR_INNER_TILING_ERROR, T4(ACL_FLOAT, 1, 1, 2, 4, x), F, 2, Y, I, R);
    V1_REFUSED("v1 x [0, 4]", ACLNN_ERR_INNER_TILING_ERROR, T2(ACL_FLOAT, 0, 4, x), TNULL, 2,
               T2(ACL_FLOAT, 0, 2, y), T2(ACL_INT32, 0, 2, idx), T2(ACL_INT32, 0, 2, row));
    V1_REFUSED("v1 finished [3]", ACLNN_ERR_INNER_TILING_ERROR, X, T1(ACL_BOOL, 3, fin), 2, Y, I, R);
    V1_REFUSED("v1 finished 2-D", ACLNN_ERR_INNER_TILING_ERROR, X, T2(ACL_BOOL, 2, 1, fin), 2, Y, I, R);
    V1_REFUSED("v1 k 0", ACLNN_ERR_INNER_TILING_ERROR, X, F, 0, Y, I, R);
    V1_REFUSED("v1 k 5 > E", ACLNN_ERR_INNER_TILING_ERROR, X, F, 5, Y, I, R);
    V1_REFUSED("v1 yOut [2, 3]", ACLNN_ERR_INNER_TILING_ERROR, X, F, 2, T2(ACL_FLOAT, 2, 3, y), I, R);
    V1_REFUSED("v1 expertIdx [1, 2]", ACLNN_ERR_INNER_TILING_ERROR, X, F, 2, Y, T2(ACL_INT32, 1, 2, idx), R);
    V1_REFUSED("v1 rowIdx [2, 1]", ACLNN_ERR_INNER_TILING_ERROR, X, F, 2, Y, I, T2(ACL_INT32, 2, 1, row));
    CHECK(aclnnMoeGatingTopKSoftmax(NULL, 0, NULL, g_stream) == ACLNN_ERR_INNER_NULLPTR, "v1 NULL executor");
#undef V1_REFUSED
#define V2_REFUSED(what, want, x_, f_, k_, rn_, fl_, y_, i_, s_)                                              \
    expect_refused2(what, call_v2(x_, f_, k_, rn_, fl_, y_, i_, s_), want, 1, y, sizeof y, idx, sizeof idx);   \
    CHECK(mr_test_bytes_are(sm, sizeof sm, SENT), "%s: softmax result written", what)
    V2_REFUSED("v2 NULL x", ACLNN_ERR_PARAM_NULLPTR, TNULL, F, 2, 0, false, Y, I, S);
    V2_REFUSED("v2 flag without softmaxResultOut", ACLNN_ERR_PARAM_NULLPTR, X, F, 2, 0, true, Y, I, TNULL);
    V2_REFUSED("v2 softmaxResult f16", ACLNN_ERR_PARAM_INVALID, X, F, 2, 0, true, Y, I, T2(ACL_FLOAT16, 2, 4, sm));
    V2_REFUSED("v2 renorm 2", ACLNN_ERR_INNER_TILING_ERROR, X, F, 2, 2, false, Y, I, TNULL);
    V2_REFUSED("v2 renorm -1", ACLNN_ERR_INNER_TILING_ERROR, X, F, 2, -1, false, Y, I, TNULL);
    V2_REFUSED("v2 flag with renorm 1", ACLNN_ERR_INNER_TILING_ERROR, X, F, 2, 1, true, Y, I, S);
    V2_REFUSED("v2 softmaxResult [2, 3]", ACLNN_ERR_INNER_TILING_ERROR, X, F, 2, 0, true, Y, I,
               T2(ACL_FLOAT, 2, 3, sm));
    V2_REFUSED("v2 k 5", ACLNN_ERR_INNER_TILING_ERROR, X, F, 5, 0, false, Y, I, TNULL);
    CHECK(aclnnMoeGatingTopKSoftmaxV2(NULL, 0, NULL, g_stream) == ACLNN_ERR_INNER_NULLPTR, "v2 NULL executor");
#undef V2_REFUSED

    /* k > 1024 (Atlas limit), lifted by MOEROUTE_DEVICE_LIMITS=0: E = 1100 zeros, k = 1025 -> p = f32(1/1100),
     * indices 0..1024 in order */
    const int64_t E = 1100, K = 1025;
    float *xl = calloc((size_t)E, sizeof(float)), *yl = malloc(sizeof(float) * K);
    int32_t *il = malloc(sizeof(int32_t) * K), *rl = malloc(sizeof(int32_t) * K);
    if (!xl || !yl || !il || !rl) {
        CHECK(0, "out of memory");
    } else {
        for (int lifted = 0; lifted < 2; lifted++) {
            if (lifted) setenv("MOEROUTE_DEVICE_LIMITS", "0", 1);
            memset(yl, SENT, sizeof(float) * K), memset(il, SENT, sizeof(int32_t) * K);
            aclnnStatus st = call_v1(T2(ACL_FLOAT, 1, E, xl), TNULL, K, T2(ACL_FLOAT, 1, K, yl),
                                     T2(ACL_INT32, 1, K, il), T2(ACL_INT32, 1, K, rl));
            if (!lifted) {
                expect_refused2("k = 1025", st, ACLNN_ERR_INNER_TILING_ERROR, 1, yl, sizeof(float) * K, il,
                               sizeof(int32_t) * K);
                continue;
            }
            expect_ok("k = 1025 with MOEROUTE_DEVICE_LIMITS=0", st);
            volatile float one = 1.0f, e = (float)E;
            int ok = 1;
            for (int64_t j = 0; j < K; j++) ok &= il[j] == j && yl[j] == one / e && rl[j] == j;
            CHECK(ok, "k = 1025: indices in order, p = 1/1100");
        }
        unsetenv("MOEROUTE_DEVICE_LIMITS");
    }
    free(xl), free(yl), free(il), free(rl);
}

/* ---------------------------------------------------------------------------------------------------- */
/* views, aliasing, workspace, repeatable executors                                                     */

static void test_views_and_runtime(void)
{
    /* x as a strided view: the transpose of a [4, 2] storage ([2, 4] view, strides (1, 2)) and a reversed row
     * view; both rows are [0, 0, -inf... ] arrangements whose answers are worked above (softmax V1 row 1). */
    float st[8] = {-INFINITY, 0, 0, 0, -INFINITY, 0, 0, 0}; /* view[r][e] = st[e*2 + r]: row 0 = [-inf, 0, -inf, 0] */
    float y[2][2];
    int32_t idx[2][2], row[2][2];
    aclTensor *x = mk((tspec){ACL_FLOAT, 2, {2, 4}, st, ACL_FORMAT_ND, {1, 2}, 0, 8});
    aclTensor *t[3] = {mk(T2(ACL_FLOAT, 2, 2, y)), mk(T2(ACL_INT32, 2, 2, idx)), mk(T2(ACL_INT32, 2, 2, row))};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus s = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(x, NULL, 2, t[0], t[1], t[2], &ws, &exe);
    expect_ok("strided x", finish(s, aclnnMoeGatingTopKSoftmax, ws, exe));
    /* row 0 = [-inf, 0, -inf, 0] -> idx [1, 3]; row 1 = [0, 0, 0, 0] -> idx [0, 1] */
    CHECK(idx[0][0] == 1 && idx[0][1] == 3 && idx[1][0] == 0 && idx[1][1] == 1 && y[0][0] == .5f && y[1][0] == .25f,
          "transposed x view: %d %d %d %d", idx[0][0], idx[0][1], idx[1][0], idx[1][1]);

    /* repeatable executor: two runs give the same bytes, then aclDestroyAclOpExecutor */
    s = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(x, NULL, 2, t[0], t[1], t[2], &ws, &exe);
    CHECK(s == ACLNN_SUCCESS && aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "repeatable: %s", errmsg());
    void *w = NULL;
    if (ws) aclrtMalloc(&w, (size_t)ws, ACL_MEM_MALLOC_HUGE_FIRST);
    memset(idx, SENT, sizeof idx);
    CHECK(aclnnMoeGatingTopKSoftmax(w, ws, exe, g_stream) == ACLNN_SUCCESS && idx[0][1] == 3, "repeatable run 1");
    memset(idx, SENT, sizeof idx);
    CHECK(aclnnMoeGatingTopKSoftmax(w, ws, exe, g_stream) == ACLNN_SUCCESS && idx[0][1] == 3, "repeatable run 2");
    CHECK(aclDestroyAclOpExecutor(exe) == ACLNN_SUCCESS, "destroy executor");
    /* a workspace smaller than asked for: 161002 at execute, nothing written */
    if (ws > 0) {
        s = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(x, NULL, 2, t[0], t[1], t[2], &ws, &exe);
        memset(y, SENT, sizeof y), memset(idx, SENT, sizeof idx), memset(row, SENT, sizeof row);
        s = s == ACLNN_SUCCESS ? aclnnMoeGatingTopKSoftmax(w, ws - 1, exe, g_stream) : s;
        CHECK(s == ACLNN_ERR_PARAM_INVALID && aclGetRecentErrMsg(), "small workspace: %d", (int)s);
        CHECK(mr_test_bytes_are(y, sizeof y, SENT) && mr_test_bytes_are(idx, sizeof idx, SENT), "small workspace wrote");
    }
    if (w) aclrtFree(w);
    destroy_all(t, 3);
    aclDestroyTensor(x);

    /* a view reaching outside its storage (storage dims [7] for a view that needs 8 elements): 161002 */
    x = mk((tspec){ACL_FLOAT, 2, {2, 4}, st, ACL_FORMAT_ND, {1, 2}, 0, 7});
    aclTensor *u[3] = {mk(T2(ACL_FLOAT, 2, 2, y)), mk(T2(ACL_INT32, 2, 2, idx)), mk(T2(ACL_INT32, 2, 2, row))};
    memset(y, SENT, sizeof y), memset(idx, SENT, sizeof idx), memset(row, SENT, sizeof row);
    s = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(x, NULL, 2, u[0], u[1], u[2], &ws, &exe);
    s = finish(s, aclnnMoeGatingTopKSoftmax, ws, exe);
    expect_refused2("x outside its storage", s, ACLNN_ERR_PARAM_INVALID, 1, y, sizeof y, idx, sizeof idx);
    destroy_all(u, 3);
    aclDestroyTensor(x);

    /* a non-contiguous output (yOut transposed): 161002 */
    float xs[2][4] = {{0}};
    aclTensor *v[4] = {mk(T2(ACL_FLOAT, 2, 4, xs)), mk((tspec){ACL_FLOAT, 2, {2, 2}, y, ACL_FORMAT_ND, {1, 2}, 0, 4}),
                       mk(T2(ACL_INT32, 2, 2, idx)), mk(T2(ACL_INT32, 2, 2, row))};
    memset(y, SENT, sizeof y), memset(idx, SENT, sizeof idx);
    s = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(v[0], NULL, 2, v[1], v[2], v[3], &ws, &exe);
    s = finish(s, aclnnMoeGatingTopKSoftmax, ws, exe);
    expect_refused2("non-contiguous yOut", s, ACLNN_ERR_PARAM_INVALID, 1, y, sizeof y, idx, sizeof idx);
    destroy_all(v, 4);

    /* outputs overlapping the input (expertIdxOut on x's bytes) or each other: 161002 at execute */
    float xa[2][4] = {{0}};
    aclTensor *a[4] = {mk(T2(ACL_FLOAT, 2, 4, xa)), mk(T2(ACL_FLOAT, 2, 2, y)), mk(T2(ACL_INT32, 2, 2, xa)),
                       mk(T2(ACL_INT32, 2, 2, row))};
    memset(y, SENT, sizeof y), memset(row, SENT, sizeof row);
    s = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(a[0], NULL, 2, a[1], a[2], a[3], &ws, &exe);
    s = finish(s, aclnnMoeGatingTopKSoftmax, ws, exe);
    expect_refused2("expertIdxOut over x", s, ACLNN_ERR_PARAM_INVALID, 2, y, sizeof y, row, sizeof row);
    CHECK(mr_test_bytes_are(xa, sizeof xa, 0), "aliasing refusal changed x");
    destroy_all(a, 4);
    aclTensor *b[4] = {mk(T2(ACL_FLOAT, 2, 4, xa)), mk(T2(ACL_FLOAT, 2, 2, y)), mk(T2(ACL_INT32, 2, 2, row)),
                       mk(T2(ACL_INT32, 2, 2, row))};
    memset(y, SENT, sizeof y), memset(row, SENT, sizeof row);
    s = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(b[0], NULL, 2, b[1], b[2], b[3], &ws, &exe);
    s = finish(s, aclnnMoeGatingTopKSoftmax, ws, exe);
    expect_refused2("expertIdxOut = rowIdxOut", s, ACLNN_ERR_PARAM_INVALID, 2, y, sizeof y, row, sizeof row);
    destroy_all(b, 4);
}

/* ---------------------------------------------------------------------------------------------------- */
/* native API                                                                                           */

static void test_native(void)
{
    float x[2][4] = {{0, 0, 0, 0}, {-INFINITY, 0, -INFINITY, 0}}, y[2][2], out[2][4];
    int32_t idx[2][2], row[2][2];
    moeroute_context *ctx = NULL;
    CHECK(moeroute_context_create(NULL, &ctx) == MOEROUTE_OK, "context");
    moeroute_gating_top_k_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = 2, a.num_experts = 4, a.k = 2, a.k_group = 1, a.group_count = 1;
    a.routed_scaling_factor = 1.0, a.eps = 1e-20, a.x_dtype = MOEROUTE_DTYPE_FLOAT32;
    a.x = x, a.x_row_stride = 4, a.x_col_stride = 1;
    a.y = y, a.expert_idx = &idx[0][0], a.out = &out[0][0];
    CHECK(moeroute_gating_top_k(ctx, &a) == MOEROUTE_OK, "native topk: %s", moeroute_error_message());
    CHECK(idx[1][0] == 1 && idx[1][1] == 3 && y[1][0] == .5f, "native topk row 1");
    /* renorm 1 (vllm-ascend's copy): row 0 weights .25 / (.5 + eps) = .5 */
    a.renorm = 1;
    CHECK(moeroute_gating_top_k(ctx, &a) == MOEROUTE_OK && y[0][0] == .5f && y[0][1] == .5f,
          "native renorm 1: %g", (double)y[0][0]);
    a.renorm = 0;
    /* N = 0 with NULL outputs */
    moeroute_gating_top_k_args e0 = a;
    e0.num_rows = 0, e0.y = NULL, e0.expert_idx = NULL, e0.out = NULL;
    CHECK(moeroute_gating_top_k(ctx, &e0) == MOEROUTE_OK, "native N = 0: %s", moeroute_error_message());

    memset(y, SENT, sizeof y), memset(idx, SENT, sizeof idx), memset(out, SENT, sizeof out);
    const struct {
        const char *what;
        moeroute_status want;
        int field;
        int64_t value;
    } bad[] = {
        {"k 0", MOEROUTE_ERR_INVALID_SHAPE, 0, 0},          {"k 5", MOEROUTE_ERR_INVALID_SHAPE, 0, 5},
        {"num_rows -1", MOEROUTE_ERR_INVALID_SHAPE, 1, -1}, {"num_experts 0", MOEROUTE_ERR_INVALID_SHAPE, 2, 0},
        {"group_count 3", MOEROUTE_ERR_INVALID_SHAPE, 3, 3}, {"k_group 2 > group_count", MOEROUTE_ERR_INVALID_SHAPE, 4, 2},
        {"norm_type 2", MOEROUTE_ERR_INVALID_SHAPE, 5, 2},   {"renorm 2", MOEROUTE_ERR_INVALID_SHAPE, 6, 2},
        {"group_select_mode 2", MOEROUTE_ERR_INVALID_SHAPE, 7, 2}, {"x_dtype INT8", MOEROUTE_ERR_INVALID_DTYPE, 8, 2},
        {"y NULL", MOEROUTE_ERR_NULL_POINTER, 9, 0},          {"expert_idx NULL", MOEROUTE_ERR_NULL_POINTER, 10, 0},
        {"x NULL", MOEROUTE_ERR_NULL_POINTER, 11, 0},         {"y aliases x", MOEROUTE_ERR_ALIASING, 12, 0},
        {"num_experts above INT32_MAX", MOEROUTE_ERR_TOO_LARGE, 2, (int64_t)INT32_MAX + 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        moeroute_gating_top_k_args b = a;
        switch (bad[i].field) {
        case 0: b.k = bad[i].value; break;
        case 1: b.num_rows = bad[i].value; break;
        case 2: b.num_experts = bad[i].value; break;
        case 3: b.group_count = bad[i].value; break;
        case 4: b.k_group = bad[i].value; break;
        case 5: b.norm_type = (int32_t)bad[i].value; break;
        case 6: b.renorm = (int32_t)bad[i].value; break;
        case 7: b.group_select_mode = (int32_t)bad[i].value; break;
        case 8: b.x_dtype = (moeroute_dtype)bad[i].value; break;
        case 9: b.y = NULL; break;
        case 10: b.expert_idx = NULL; break;
        case 11: b.x = NULL; break;
        case 12: b.y = x; break;
        }
        moeroute_status st = moeroute_gating_top_k(ctx, &b);
        const char *m = moeroute_error_message();
        CHECK(st == bad[i].want, "native topk %s: got %d want %d (%s)", bad[i].what, (int)st, (int)bad[i].want,
              m ? m : "(none)");
        CHECK(m && m[0], "native topk %s: no message", bad[i].what);
        CHECK(mr_test_bytes_are(y, sizeof y, SENT) && mr_test_bytes_are(idx, sizeof idx, SENT) &&
                  mr_test_bytes_are(out, sizeof out, SENT),
              "native topk %s: an output was written", bad[i].what);
    }
    CHECK(moeroute_gating_top_k(ctx, NULL) == MOEROUTE_ERR_NULL_POINTER, "native topk NULL args");

    moeroute_gating_top_k_softmax_args s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.version = 1, s.num_rows = 2, s.num_experts = 4, s.k = 2, s.x_dtype = MOEROUTE_DTYPE_FLOAT32;
    s.x = x, s.x_row_stride = 4, s.x_col_stride = 1, s.y = y, s.expert_idx = &idx[0][0], s.row_idx = &row[0][0];
    CHECK(moeroute_gating_top_k_softmax(ctx, &s) == MOEROUTE_OK, "native softmax: %s", moeroute_error_message());
    CHECK(row[0][1] == 2 && row[1][0] == 1 && idx[1][0] == 1, "native v1 rowIdx and idx");
    memset(y, SENT, sizeof y), memset(idx, SENT, sizeof idx), memset(row, SENT, sizeof row);
    const struct {
        const char *what;
        moeroute_status want;
        int field;
    } sbad[] = {
        {"version 3", MOEROUTE_ERR_INVALID_SHAPE, 0}, {"version 1 renorm 1", MOEROUTE_ERR_INVALID_SHAPE, 1},
        {"k 0", MOEROUTE_ERR_INVALID_SHAPE, 2},       {"v1 without row_idx", MOEROUTE_ERR_NULL_POINTER, 3},
        {"v2 renorm 1 with softmax_out", MOEROUTE_ERR_INVALID_SHAPE, 4}, {"x_dtype INT32", MOEROUTE_ERR_INVALID_DTYPE, 5},
        {"num_experts INT32_MAX (finished rows need E + 1 values)", MOEROUTE_ERR_TOO_LARGE, 6},
    };
    for (size_t i = 0; i < sizeof sbad / sizeof sbad[0]; i++) {
        moeroute_gating_top_k_softmax_args b = s;
        switch (sbad[i].field) {
        case 0: b.version = 3; break;
        case 1: b.renorm = 1; break;
        case 2: b.k = 0; break;
        case 3: b.row_idx = NULL; break;
        case 4: b.version = 2, b.renorm = 1, b.row_idx = NULL, b.softmax_out = &out[0][0]; break;
        case 5: b.x_dtype = MOEROUTE_DTYPE_INT32; break;
        case 6: b.num_experts = INT32_MAX; break;
        }
        moeroute_status st = moeroute_gating_top_k_softmax(ctx, &b);
        const char *m = moeroute_error_message();
        CHECK(st == sbad[i].want, "native softmax %s: got %d want %d (%s)", sbad[i].what, (int)st, (int)sbad[i].want,
              m ? m : "(none)");
        CHECK(mr_test_bytes_are(y, sizeof y, SENT) && mr_test_bytes_are(idx, sizeof idx, SENT) &&
                  mr_test_bytes_are(row, sizeof row, SENT),
              "native softmax %s: an output was written", sbad[i].what);
    }
    moeroute_context_destroy(ctx);
}

/* The same bytes for every thread count (decision 9): 300 rows (19 tasks of 16 rows) of random fp16 logits
 * with ties, through both native functions with contexts of 1..4 threads. */
static void test_thread_independence(uint64_t *rng)
{
    enum { N = 300, E = 64, K = 6 };
    uint16_t *x = malloc(sizeof(uint16_t) * N * E), *y = malloc(sizeof(uint16_t) * N * K * 4);
    int32_t *idx = malloc(sizeof(int32_t) * N * K * 4);
    float *out = malloc(sizeof(float) * N * E * 4);
    uint8_t fin[N];
    if (!x || !y || !idx || !out) {
        CHECK(0, "out of memory");
        free(x), free(y), free(idx), free(out);
        return;
    }
    for (int i = 0; i < N * E; i++) x[i] = (uint16_t)(0x3C00 + (mr_test_rand(rng) % 9) * 0x100) ^ (uint16_t)(mr_test_rand(rng) & 0x8000);
    for (int i = 0; i < N; i++) fin[i] = (uint8_t)(mr_test_rand(rng) % 5 == 0);
    for (int op = 0; op < 2; op++) {
        for (int t = 1; t <= 4; t++) {
            moeroute_options o = {t, MOEROUTE_ISA_AUTO};
            moeroute_context *ctx = NULL;
            CHECK(moeroute_context_create(&o, &ctx) == MOEROUTE_OK, "context %d", t);
            uint16_t *yt = y + (size_t)(t - 1) * N * K;
            int32_t *it = idx + (size_t)(t - 1) * N * K;
            float *ot = out + (size_t)(t - 1) * N * E;
            moeroute_status st;
            if (op == 0) {
                moeroute_gating_top_k_args a;
                memset(&a, 0, sizeof a);
                a.struct_size = sizeof a;
                a.num_rows = N, a.num_experts = E, a.k = K, a.k_group = 4, a.group_count = 8, a.group_select_mode = 1;
                a.norm_type = 1, a.routed_scaling_factor = 2.5, a.eps = 1e-20, a.x_dtype = MOEROUTE_DTYPE_FLOAT16;
                a.x = x, a.x_row_stride = E, a.x_col_stride = 1, a.bias = x, a.bias_stride = 1;
                a.y = yt, a.expert_idx = it, a.out = ot;
                st = moeroute_gating_top_k(ctx, &a);
            } else {
                moeroute_gating_top_k_softmax_args a;
                memset(&a, 0, sizeof a);
                a.struct_size = sizeof a;
                a.version = 2, a.num_rows = N, a.num_experts = E, a.k = K, a.x_dtype = MOEROUTE_DTYPE_FLOAT16;
                a.x = x + (size_t)(N - 1) * E, a.x_row_stride = -E, a.x_col_stride = 1, a.finished = fin;
                a.finished_stride = 1, a.y = yt, a.expert_idx = it, a.softmax_out = ot;
                st = moeroute_gating_top_k_softmax(ctx, &a);
            }
            CHECK(st == MOEROUTE_OK, "op %d with %d threads: %s", op, t, moeroute_error_message());
            moeroute_context_destroy(ctx);
            if (t > 1)
                CHECK(memcmp(yt, y, sizeof(uint16_t) * N * K) == 0 && memcmp(it, idx, sizeof(int32_t) * N * K) == 0 &&
                          memcmp(ot, out, sizeof(float) * N * E) == 0,
                      "op %d: %d threads differ from 1 thread", op, t);
        }
    }
    free(x), free(y), free(idx), free(out);
}

int main(int argc, char **argv)
{
    uint64_t seed = mr_test_seed(argc, argv), rng = seed;
    acl_setup();

    test_topk_softmax_bias_scaling();
    test_topk_sigmoid();
    test_topk_groups();
    test_softmax_v1();
    test_softmax_v2();
    test_topk_refusals();
    test_softmax_refusals();
    test_views_and_runtime();
    test_native();
    test_thread_independence(&rng);

    acl_teardown();
    return mr_test_finish();
}
