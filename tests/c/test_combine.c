/* Hand-worked cases for the combine operators: aclnnMoeTokenUnpermute, aclnnMoeFinalizeRouting and
 * aclnnMoeFinalizeRoutingV2, called as a CANN program calls them, plus the accumulate kernels and step.
 * Every expected value is worked out by hand from layer spec 3 and routing spec 6 and 7 (with their project
 * decisions) and written as a literal; the arithmetic is spelled out next to it.
 *
 * Recurring problem F (fp32): N = 2, K = 2, H = 2, E = 2, M = 4
 *   expandedX rows r0 = [1, 2], r1 = [3, 4], r2 = [5, 6], r3 = [7, 8]
 *   x1 = [[10, 20], [30, 40]], x2 = [[1, 1], [2, 2]], bias b0 = [.5, .5], b1 = [-1, 1]
 *   scales = [[.5, .25], [1, 2]], expertIdx = [[1, 0], [0, 1]]
 *   k-major expandedRowIdx (position i + k*N) = [2, 0, 3, 1]: (i0,k0) -> r2, (i1,k0) -> r0, (i0,k1) -> r3, (i1,k1) -> r1
 *   i0: [11, 21] + ([5,6] + b1) * .5 = [11, 21] + [2, 3.5]     = [13, 24.5]
 *                + ([7,8] + b0) * .25 = [13, 24.5] + [1.875, 2.125] = [14.875, 26.625]
 *   i1: [32, 42] + ([1,2] + b0) * 1  = [33.5, 44.5]
 *                + ([3,4] + b1) * 2  = [33.5, 44.5] + [4, 10]   = [37.5, 54.5]
 *   without x2: i0 = [13.875, 25.625], i1 = [35.5, 52.5]
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_moe_finalize_routing.h"
#include "aclnnop/aclnn_moe_finalize_routing_v2.h"
#include "aclnnop/aclnn_moe_token_unpermute.h"
#include "common/fp16.h"
#include "dispatch/dispatch.h"
#include "harness.h"
#include "kernels/accumulate/accumulate.h"
#include "operators/steps/accumulate.h"
#include "threadpool/threadpool.h"

/* ---------------------------------------------------------------------------------------------------- */
/* calling the operators                                                                                */

static aclnnStatus call_unpermute(tspec tok, tspec idx, tspec probs, bool padded, const aclIntArray *restore,
                                  tspec out)
{
    aclTensor *t[4] = {mk(tok), mk(idx), mk(probs), mk(out)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeTokenUnpermuteGetWorkspaceSize(t[0], t[1], t[2], padded, restore, t[3], &ws, &exe);
    st = finish(st, aclnnMoeTokenUnpermute, ws, exe);
    destroy_all(t, 4);
    return st;
}

static aclnnStatus call_v1(tspec ex, tspec x1, tspec x2, tspec bias, tspec sc, tspec ri, tspec ei, tspec out)
{
    aclTensor *t[8] = {mk(ex), mk(x1), mk(x2), mk(bias), mk(sc), mk(ri), mk(ei), mk(out)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeFinalizeRoutingGetWorkspaceSize(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], &ws, &exe);
    st = finish(st, aclnnMoeFinalizeRouting, ws, exe);
    destroy_all(t, 8);
    return st;
}

static aclnnStatus call_v2(tspec ex, tspec ri, tspec x1, tspec x2, tspec bias, tspec sc, tspec ei, int64_t mode,
                           tspec out)
{
    aclTensor *t[8] = {mk(ex), mk(ri), mk(x1), mk(x2), mk(bias), mk(sc), mk(ei), mk(out)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st =
        aclnnMoeFinalizeRoutingV2GetWorkspaceSize(t[0], t[1], t[2], t[3], t[4], t[5], t[6], mode, t[7], &ws, &exe);
    st = finish(st, aclnnMoeFinalizeRoutingV2, ws, exe);
    destroy_all(t, 8);
    return st;
}

/* ---------------------------------------------------------------------------------------------------- */
/* kernels: the fp16 step is the correctly rounded result                                              */

/* Independent double -> fp16 rounding (ties to even), written with frexp/rint: no bit tricks shared with the
 * library. Every sum and product of two fp16 values is exact in double. */
static uint16_t ref_f16(double x)
{
    if (isnan(x)) return 0x7E00;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double ax = fabs(x);
    if (ax >= 65520.0) return (uint16_t)(sign | 0x7C00);
    if (ax == 0) return sign;
    int e;
    frexp(ax, &e);
    int lead = e - 1 < -14 ? -14 : e - 1;       /* exponent of the leading bit (subnormals: -14) */
    double q = ldexp(1.0, lead - 10);           /* the fp16 quantum there */
    double r = rint(ax / q) * q;                /* ax / q is exact; rint rounds ties to even */
    if (r >= 65520.0) return (uint16_t)(sign | 0x7C00);
    if (r < ldexp(1.0, -14)) return (uint16_t)(sign | (uint16_t)(r / ldexp(1.0, -24)));
    frexp(r, &e);
    int ex = e - 1;
    uint16_t man = (uint16_t)((r / ldexp(1.0, ex) - 1.0) * 1024.0);
    return (uint16_t)(sign | (uint16_t)((ex + 15) << 10) | man);
}

static int same_f16(uint16_t a, uint16_t b)
{
    int an = (a & 0x7C00) == 0x7C00 && (a & 0x3FF), bn = (b & 0x7C00) == 0x7C00 && (b & 0x3FF);
    return an || bn ? an && bn : a == b;
}

static void test_f16_step_exact(uint64_t *rng)
{
    enum { NB = 48 };
    float bs[NB], a[1024], sum[1024], prod[1024];
    uint16_t bbits[NB] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x3C01, 0x7BFF, 0xFBFF,
                          0x7C00, 0xFC00, 0x7E00, 0x6800, 0x1400, 0x3800, 0xB800, 0x0200, 0x8200};
    for (int i = 20; i < NB; i++) bbits[i] = (uint16_t)mr_test_rand(rng);
    for (int i = 0; i < NB; i++) bs[i] = mr_f16_to_f32(bbits[i]);
    long bad_add = 0, bad_mul = 0;
    for (uint32_t base = 0; base < 65536; base += 1024) {
        for (uint32_t i = 0; i < 1024; i++) a[i] = mr_f16_to_f32((uint16_t)(base + i));
        for (int j = 0; j < NB; j++) {
            float bj[1024];
            for (int i = 0; i < 1024; i++) bj[i] = bs[j];
            mr_acc_init__scalar(sum, a, bj, 1024, MR_ACC_F16);                     /* f16(a + b) */
            mr_acc_term__scalar(prod, a, NULL, 0, 1, bs[j], 1, 1024, MR_ACC_F16);    /* f16(a * b) */
            for (uint32_t i = 0; i < 1024; i++) {
                double da = (double)a[i], db = (double)bs[j];
                if (!same_f16(mr_f32_to_f16(sum[i]), ref_f16(da + db))) {
                    if (bad_add++ < 5)
                        fprintf(stderr, "  f16 add %04x + %04x: got %04x want %04x\n", (unsigned)(base + i),
                                (unsigned)bbits[j], (unsigned)mr_f32_to_f16(sum[i]), (unsigned)ref_f16(da + db));
                }
                if (!same_f16(mr_f32_to_f16(prod[i]), ref_f16(da * db))) {
                    if (bad_mul++ < 5)
                        fprintf(stderr, "  f16 mul %04x * %04x: got %04x want %04x\n", (unsigned)(base + i),
                                (unsigned)bbits[j], (unsigned)mr_f32_to_f16(prod[i]), (unsigned)ref_f16(da * db));
                }
            }
        }
    }
    CHECK(bad_add == 0, "fp16 add through fp32 is correctly rounded for every fp16 a and %d b (%ld wrong)", NB, bad_add);
    CHECK(bad_mul == 0, "fp16 multiply through fp32 is correctly rounded (%ld wrong)", bad_mul);
}

/* The SIMD accumulate kernels of every ISA level (kernels/accumulate/accumulate_loops.h) against the scalar
 * reference, byte for byte but for NaN payloads (an add of two NaNs passes either; the step stores every NaN as
 * the canonical one): init and term in both arithmetic modes with every combination of bias, +0, scale and
 * first over every fp16 value (so fp16 subnormals, the overflow edge 65504 and inf / NaN), the one-pass fp32 term
 * from every fp16 / bf16 bit pattern and random fp32 bits, and the ties-away bf16 narrowing over random bit patterns and ties. The operators at each level go through the golden suites
 * (tests/python, MOEROUTE_ISA). */
static bool same_floats(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0 && !(isnan(a[i]) && isnan(b[i]))) return false;
    return true;
}

static void test_simd_kernels(uint64_t *rng)
{
    enum { N = 65536 };
    static float row[N], bias[N], acc0[N], want[N], got[N], wide[N];
    static uint16_t hw[N], hg[N], hbits[N];
    for (uint32_t i = 0; i < N; i++) {
        hbits[i] = (uint16_t)i;
        row[i] = mr_f16_to_f32((uint16_t)i);
        bias[i] = mr_f16_to_f32((uint16_t)mr_test_rand(rng));
        acc0[i] = mr_f16_to_f32((uint16_t)mr_test_rand(rng));
        uint32_t u = (uint32_t)mr_test_rand(rng);
        if (i % 4 == 1) u = (u & 0xFFFF0000u) | 0x8000u; /* bf16 ties */
        memcpy(&wide[i], &u, 4);
    }
    const moeroute_isa levels[4] = {MOEROUTE_ISA_SCALAR, MOEROUTE_ISA_AVX2, MOEROUTE_ISA_AVX512, MOEROUTE_ISA_NEON};
    for (int l = 0; l < 4; l++) {
        const mr_acc_config *k = mr_dispatch_acc(levels[l]);
        long bad = 0;
        for (int arith = 0; arith < 2; arith++) {
            const mr_acc_arith ar = arith ? MR_ACC_F16 : MR_ACC_F32;
            for (int b = 0; b < 2; b++) {
                mr_acc_init__scalar(want, acc0, b ? bias : NULL, N, ar);
                k->init(got, acc0, b ? bias : NULL, N, ar);
                bad += !same_floats(want, got, N);
            }
            for (int m = 0; m < 16; m++) { /* bias, plus_zero, has_scale, first */
                const int has_bias = m & 1, plus_zero = (m >> 1) & 1, has_scale = (m >> 2) & 1, first = m >> 3;
                const float scale = arith ? 0.3332519531f : 1.7f; /* an fp16 value for the fp16 mode */
                memcpy(want, acc0, sizeof want);
                memcpy(got, acc0, sizeof got);
                mr_acc_term__scalar(want, row, has_bias ? bias : NULL, plus_zero, has_scale, scale, first, N, ar);
                k->term(got, row, has_bias ? bias : NULL, plus_zero, has_scale, scale, first, N, ar);
                if (!same_floats(want, got, N) && bad++ < 3)
                    fprintf(stderr, "  isa %d term mode %d flags %d differs\n", k->isa, arith, m);
            }
        }
        for (int xt = 0; xt < MR_X_COUNT; xt++) /* the one-pass fp32 term straight from each type */
            for (int m = 0; m < 8; m++) {
                const int plus_zero = m & 1, has_scale = (m >> 1) & 1, first = m >> 2;
                const void *x = xt == MR_X_F32 ? (const void *)wide : (const void *)hbits;
                mr_acc_widen__scalar(got, x, 1, N, (mr_xtype)xt); /* got: the widened row for the reference */
                memcpy(want, acc0, sizeof want);
                mr_acc_term__scalar(want, got, NULL, plus_zero, has_scale, 1.7f, first, N, MR_ACC_F32);
                memcpy(got, acc0, sizeof got);
                k->term_x[xt](got, x, plus_zero, has_scale, 1.7f, first, N);
                if (!same_floats(want, got, N) && bad++ < 3)
                    fprintf(stderr, "  isa %d term_x type %d flags %d differs\n", k->isa, xt, m);
            }
        for (uint32_t i = 0; i < N; i++) hw[i] = mr_f32_to_bf16_rha(wide[i]);
        k->bf16_rha(hg, wide, N);
        bad += memcmp(hw, hg, sizeof hw) != 0;
        CHECK(bad == 0, "isa %d: the accumulate kernels give the scalar bytes (%ld cases differ)", k->isa, bad);
    }
}

static void test_bf16_store(void)
{
    /* 1 + 2^-8 is the tie between 0x3F80 and 0x3F81; 1 + 3*2^-8 between 0x3F81 and 0x3F82; NaN stays NaN;
     * the largest float rounds up to inf (RHA) and RNE (its dropped half 0xFFFF is above the tie) */
    const float v[6] = {1.00390625f, 1.01171875f, -1.00390625f, 1.0f + 0x1p-9f, 3.4028234663852886e38f, NAN};
    const uint16_t rha[6] = {0x3F81, 0x3F82, 0xBF81, 0x3F80, 0x7F80, 0x7FC0};
    const uint16_t rne[6] = {0x3F80, 0x3F82, 0xBF80, 0x3F80, 0x7F80, 0x7FC0};
    uint16_t got[6];
    mr_acc_store__scalar(got, v, 6, MR_X_BF16, MR_ACC_BF16_RHA);
    CHECK_U16(got, rha, 6, "bf16 store, ties away from zero");
    mr_acc_store__scalar(got, v, 6, MR_X_BF16, MR_ACC_BF16_RNE);
    CHECK_U16(got, rne, 6, "bf16 store, ties to even");
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeTokenUnpermute                                                                               */

static void test_unpermute_basic(void)
{
    /* rows p0..p3 = [1,2], [3,4], [5,6], [7,8]; t0 takes p2 (.5) and p0 (.25), t1 takes p3 (1) and p1 (-1):
     * t0 = .5*[5,6] + .25*[1,2] = [2.5,3] + [.25,.5] = [2.75, 3.5]; t1 = [7,8] + [-3,-4] = [4, 4] */
    static const float tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, probs[4] = {.5f, .25f, 1, -1};
    static const int32_t idx[4] = {2, 0, 3, 1};
    static const float want[4] = {2.75f, 3.5f, 4, 4};
    float out[4];
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_unpermute(T2(ACL_FLOAT, 4, 2, tok), T1(ACL_INT32, 4, idx), T2(ACL_FLOAT, 2, 2, probs), false,
                                    NULL, T2(ACL_FLOAT, 2, 2, out));
    CHECK(st == ACLNN_SUCCESS, "unpermute basic: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "unpermute basic");

    /* without probs: k = 1, out[t] = permutedTokens[sortedIndices[t]]; index 4 >= M = 4 skips: +0 row */
    static const int32_t idx1[3] = {3, 4, 0};
    static const float want1[6] = {7, 8, 0, 0, 1, 2};
    float out1[6];
    memset(out1, SENT, sizeof out1);
    st = call_unpermute(T2(ACL_FLOAT, 4, 2, tok), T1(ACL_INT32, 3, idx1), TNULL, false, NULL, T2(ACL_FLOAT, 3, 2, out1));
    CHECK(st == ACLNN_SUCCESS, "unpermute without probs: %d %s", (int)st, errmsg());
    CHECK_F32(out1, want1, 6, "unpermute without probs (index >= M gives a +0 row)");
}

static void test_unpermute_skips_and_zeros(void)
{
    /* M = 3 rows: r0 = [9, 9], r1 = [-0, 2], r2 = [1.5, -3]; T = 4, k = 2
     *   t0: d = 5 >= M skipped (prob .5);   d = 1, p = 1: acc = +0 + [-0, 2] = [+0, 2]      (slot 1 adds to +0)
     *   t1: d = -1 with p = 0 skipped silently (decision 14);  d = 2, p = 2: +0 + [3, -6] = [3, -6]
     *   t2: p = -0 skips d = 0;             d = 1, p = -1: +0 + [+0, -2] = [+0, -2]          (-0 * -1 = +0)
     *   t3: d = 1, p = 1 at slot 0 sets acc = [-0, 2] (sign kept);  d = 4 >= M skipped -> [-0, 2] */
    static const float tok[6] = {9, 9, -0.0f, 2, 1.5f, -3};
    static const int32_t idx[8] = {5, 1, -1, 2, 0, 1, 1, 4};
    static const float probs[8] = {.5f, 1, 0, 2, -0.0f, -1, 1, .75f};
    static const float want[8] = {0.0f, 2, 3, -6, 0.0f, -2, -0.0f, 2};
    float out[8];
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_unpermute(T2(ACL_FLOAT, 3, 2, tok), T1(ACL_INT32, 8, idx), T2(ACL_FLOAT, 4, 2, probs), false,
                                    NULL, T2(ACL_FLOAT, 4, 2, out));
    CHECK(st == ACLNN_SUCCESS, "unpermute skips: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 8, "unpermute skips, +0 start, slot 0 keeps -0");

    /* k = 0: probs [2, 0], no indices: every token is +0 */
    static const float want0[4] = {0, 0, 0, 0};
    float out0[4];
    memset(out0, SENT, sizeof out0);
    st = call_unpermute(T2(ACL_FLOAT, 3, 2, tok), T1(ACL_INT32, 0, NULL), T2(ACL_FLOAT, 2, 0, NULL), false, NULL,
                        T2(ACL_FLOAT, 2, 2, out0));
    CHECK(st == ACLNN_SUCCESS, "unpermute k = 0: %d %s", (int)st, errmsg());
    CHECK_F32(out0, want0, 4, "unpermute k = 0 gives +0 rows");
}

static void test_unpermute_precision(void)
{
    /* fp16 tokens are summed in fp32 and rounded once: rows [2048], [1], [1], probs fp16 1.0 (0x3C00):
     * fp32 2048 + 1 + 1 = 2050 -> fp16 0x6801 (fp16 steps would give 2048 + 1 = 2048 (tie to even), again 2048) */
    static const uint16_t tok[3] = {0x6800, 0x3C00, 0x3C00}, probs[3] = {0x3C00, 0x3C00, 0x3C00};
    static const int32_t idx[3] = {0, 1, 2};
    static const uint16_t want[1] = {0x6801};
    uint16_t out[1];
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_unpermute(T2(ACL_FLOAT16, 3, 1, tok), T1(ACL_INT32, 3, idx), T2(ACL_FLOAT16, 1, 3, probs),
                                    false, NULL, T2(ACL_FLOAT16, 1, 1, out));
    CHECK(st == ACLNN_SUCCESS, "unpermute fp16: %d %s", (int)st, errmsg());
    CHECK_U16(out, want, 1, "unpermute fp16 accumulates in fp32 (2050, not 2048)");

    /* bf16 tokens with fp32 probs, final RNE: 1.0 * 1.00390625 = 1 + 2^-8, the tie between 0x3F80 and 0x3F81
     * -> 0x3F80 (even); 1.0 * (1 + 2^-8 + 2^-20) is just above the tie -> 0x3F81 (probs are used as fp32) */
    static const uint16_t tb[1] = {0x3F80};
    static const float pb[2] = {1.00390625f, 1.0f + 0x1p-8f + 0x1p-20f};
    static const int32_t ib[2] = {0, 0};
    static const uint16_t wantb[2] = {0x3F80, 0x3F81};
    uint16_t outb[2];
    memset(outb, SENT, sizeof outb);
    st = call_unpermute(T2(ACL_BF16, 1, 1, tb), T1(ACL_INT32, 2, ib), T2(ACL_FLOAT, 2, 1, pb), false, NULL,
                        T2(ACL_BF16, 2, 1, outb));
    CHECK(st == ACLNN_SUCCESS, "unpermute bf16: %d %s", (int)st, errmsg());
    CHECK_U16(outb, wantb, 2, "unpermute bf16: RNE final rounding, fp32 probs");
}

static void test_unpermute_refusals(void)
{
    static const float tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, probs[4] = {.5f, .25f, 1, -1};
    static const int32_t idx[4] = {2, 0, 3, 1};
    static const int64_t idx64[4] = {2, 0, 3, 1};
    float out[4];
    aclnnStatus st;
    const size_t ob = sizeof out;
#define UP(tk, ix, pr, pad, rs, o) (memset(out, SENT, ob), call_unpermute(tk, ix, pr, pad, rs, o))
    const tspec TOK = T2(ACL_FLOAT, 4, 2, tok), IDX = T1(ACL_INT32, 4, idx), PR = T2(ACL_FLOAT, 2, 2, probs),
                OUT = T2(ACL_FLOAT, 2, 2, out);

    /* decision 14: a kept slot with a negative index (data, at execute) */
    static const int32_t neg[4] = {2, 0, -3, 1};
    st = UP(TOK, T1(ACL_INT32, 4, neg), PR, false, NULL, OUT);
    expect_refused("unpermute: negative index with prob 1", st, ACLNN_ERR_PARAM_INVALID, 2, out, ob);
    static const float pz[4] = {.5f, .25f, -0.0f, -1};
    st = UP(TOK, T1(ACL_INT32, 4, neg), T2(ACL_FLOAT, 2, 2, pz), false, NULL, OUT);
    CHECK(st == ACLNN_SUCCESS, "unpermute: negative index with prob -0 is skipped: %d %s", (int)st, errmsg());
    static const int32_t neg1[2] = {1, -1};
    st = UP(TOK, T1(ACL_INT32, 2, neg1), TNULL, false, NULL, OUT);
    expect_refused("unpermute: negative index without probs", st, ACLNN_ERR_PARAM_INVALID, 2, out, ob);

    /* attributes refused as invalid parameters */
    st = UP(TOK, IDX, PR, true, NULL, OUT);
    expect_refused("unpermute: paddedMode true", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    const int64_t shape[2] = {2, 2};
    aclIntArray *rs = aclCreateIntArray(shape, 2);
    st = UP(TOK, IDX, PR, false, rs, OUT);
    expect_refused("unpermute: restoreShape given", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    aclDestroyIntArray(rs);

    /* NULL */
    st = UP(TNULL, IDX, PR, false, NULL, OUT);
    expect_refused("unpermute: NULL permutedTokens", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = UP(TOK, TNULL, PR, false, NULL, OUT);
    expect_refused("unpermute: NULL sortedIndices", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = UP(TOK, IDX, PR, false, NULL, TNULL);
    expect_refused("unpermute: NULL out", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    {
        aclTensor *t[4] = {mk(TOK), mk(IDX), mk(PR), mk(OUT)};
        aclOpExecutor *exe = NULL;
        memset(out, SENT, ob);
        st = aclnnMoeTokenUnpermuteGetWorkspaceSize(t[0], t[1], t[2], false, NULL, t[3], NULL, &exe);
        g_phase = 1;
        expect_refused("unpermute: NULL workspaceSize", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
        destroy_all(t, 4);
    }

    /* dtypes and formats */
    st = UP(TOK, T1(ACL_INT64, 4, idx64), PR, false, NULL, OUT);
    expect_refused("unpermute: INT64 sortedIndices", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    st = UP(T2(ACL_INT8, 4, 2, tok), IDX, PR, false, NULL, T2(ACL_INT8, 2, 2, out));
    expect_refused("unpermute: INT8 tokens", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    st = UP(TOK, IDX, PR, false, NULL, T2(ACL_FLOAT16, 2, 2, out));
    expect_refused("unpermute: out dtype differs from the tokens", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    st = UP(TOK, IDX, T2(ACL_INT32, 2, 2, probs), false, NULL, OUT);
    expect_refused("unpermute: INT32 probs", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    tspec nchw = TOK;
    nchw.fmt = ACL_FORMAT_NCHW;
    st = UP(nchw, IDX, PR, false, NULL, OUT);
    expect_refused("unpermute: NCHW tokens", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);

    /* shapes */
    st = UP(T1(ACL_FLOAT, 8, tok), IDX, PR, false, NULL, OUT);
    expect_refused("unpermute: 1-D tokens", st, ACLNN_ERR_INNER_TILING_ERROR, 1, out, ob);
    st = UP(TOK, T2(ACL_INT32, 2, 2, idx), PR, false, NULL, OUT);
    expect_refused("unpermute: 2-D sortedIndices", st, ACLNN_ERR_INNER_TILING_ERROR, 1, out, ob);
    st = UP(TOK, IDX, T1(ACL_FLOAT, 4, probs), false, NULL, OUT);
    expect_refused("unpermute: 1-D probs", st, ACLNN_ERR_INNER_TILING_ERROR, 1, out, ob);
    st = UP(TOK, T1(ACL_INT32, 3, idx), PR, false, NULL, OUT);
    expect_refused("unpermute: T*k != length of sortedIndices", st, ACLNN_ERR_INNER_TILING_ERROR, 1, out, ob);
    st = UP(TOK, IDX, PR, false, NULL, T2(ACL_FLOAT, 2, 1, out));
    expect_refused("unpermute: out not [T, H]", st, ACLNN_ERR_INNER_TILING_ERROR, 1, out, ob);
    st = UP(TOK, IDX, PR, false, NULL, T2(ACL_FLOAT, 1, 4, out));
    expect_refused("unpermute: out [1, 4]", st, ACLNN_ERR_INNER_TILING_ERROR, 1, out, ob);

    /* k > 512: the Atlas limit, lifted by MOEROUTE_DEVICE_LIMITS=0 */
    {
        enum { KB = 513 };
        static float pbig[KB];
        static int32_t ibig[KB];
        for (int j = 0; j < KB; j++) pbig[j] = 1.0f, ibig[j] = j % 4;
        float o1[2];
        memset(o1, SENT, sizeof o1);
        st = call_unpermute(TOK, T1(ACL_INT32, KB, ibig), T2(ACL_FLOAT, 1, KB, pbig), false, NULL, T2(ACL_FLOAT, 1, 2, o1));
        expect_refused("unpermute: k = 513 > 512", st, ACLNN_ERR_INNER_TILING_ERROR, 1, o1, sizeof o1);
        setenv("MOEROUTE_DEVICE_LIMITS", "0", 1);
        st = call_unpermute(TOK, T1(ACL_INT32, KB, ibig), T2(ACL_FLOAT, 1, KB, pbig), false, NULL, T2(ACL_FLOAT, 1, 2, o1));
        unsetenv("MOEROUTE_DEVICE_LIMITS");
        /* 129 copies of each row 0..3 except row 0 gets 129, rows 1..3 get 128: 129*1 + 128*(3+5+7) = 2049 and
         * 129*2 + 128*(4+6+8) = 2562, all exact in fp32 */
        const float w1[2] = {2049, 2562};
        CHECK(st == ACLNN_SUCCESS, "unpermute: k = 513 with MOEROUTE_DEVICE_LIMITS=0: %d %s", (int)st, errmsg());
        CHECK_F32(o1, w1, 2, "unpermute k = 513");
    }

    /* aliasing: out over permutedTokens (at execute) */
    {
        float buf[8];
        memcpy(buf, tok, sizeof buf);
        st = call_unpermute(T2(ACL_FLOAT, 4, 2, buf), IDX, PR, false, NULL, T2(ACL_FLOAT, 2, 2, buf + 4));
        CHECK(st == ACLNN_ERR_PARAM_INVALID && g_phase == 2, "unpermute: out overlapping permutedTokens: %d", (int)st);
        CHECK(memcmp(buf, tok, sizeof buf) == 0, "unpermute: overlapping call wrote");
        const char *m = aclGetRecentErrMsg();
        CHECK(m && m[0], "unpermute aliasing: message");
    }

    /* NULL executor */
    st = aclnnMoeTokenUnpermute(NULL, 0, NULL, g_stream);
    CHECK(st == ACLNN_ERR_INNER_NULLPTR, "unpermute: NULL executor gives 561103, got %d", (int)st);
    CHECK(aclGetRecentErrMsg() != NULL, "unpermute NULL executor: message");
#undef UP
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeFinalizeRouting (V1)                                                                         */

static const float FEX[8] = {1, 2, 3, 4, 5, 6, 7, 8}, FX1[4] = {10, 20, 30, 40}, FX2[4] = {1, 1, 2, 2},
                   FBIAS[4] = {.5f, .5f, -1, 1}, FSC[4] = {.5f, .25f, 1, 2};
static const int32_t FRI[4] = {2, 0, 3, 1}, FEI[4] = {1, 0, 0, 1};

static void test_v1_problem_f(void)
{
    static const float want[4] = {14.875f, 26.625f, 37.5f, 54.5f}, want_nox2[4] = {13.875f, 25.625f, 35.5f, 52.5f};
    float out[4];
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_v1(T2(ACL_FLOAT, 4, 2, FEX), T2(ACL_FLOAT, 2, 2, FX1), T2(ACL_FLOAT, 2, 2, FX2),
                             T2(ACL_FLOAT, 2, 2, FBIAS), T2(ACL_FLOAT, 2, 2, FSC), T1(ACL_INT32, 4, FRI),
                             T2(ACL_INT32, 2, 2, FEI), T2(ACL_FLOAT, 2, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V1 problem F: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "V1 problem F");
    memset(out, SENT, sizeof out);
    st = call_v1(T2(ACL_FLOAT, 4, 2, FEX), T2(ACL_FLOAT, 2, 2, FX1), TNULL, T2(ACL_FLOAT, 2, 2, FBIAS),
                 T2(ACL_FLOAT, 2, 2, FSC), T1(ACL_INT32, 4, FRI), T2(ACL_INT32, 2, 2, FEI), T2(ACL_FLOAT, 2, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V1 problem F without x2: %d %s", (int)st, errmsg());
    CHECK_F32(out, want_nox2, 4, "V1 problem F without x2");

    /* M > N*K: extra expanded rows are fine (indices still in [0, M)): M = 5 with row 4 unused */
    static const float ex5[10] = {1, 2, 3, 4, 5, 6, 7, 8, 99, 99};
    static const int32_t ri5[5] = {2, 0, 3, 1, 4};
    memset(out, SENT, sizeof out);
    st = call_v1(T2(ACL_FLOAT, 5, 2, ex5), T2(ACL_FLOAT, 2, 2, FX1), T2(ACL_FLOAT, 2, 2, FX2), T2(ACL_FLOAT, 2, 2, FBIAS),
                 T2(ACL_FLOAT, 2, 2, FSC), T1(ACL_INT32, 5, ri5), T2(ACL_INT32, 2, 2, FEI), T2(ACL_FLOAT, 2, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V1 with M = 5 > N*K: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "V1 with M > N*K");
}

static void test_v1_signed_zero(void)
{
    /* N = K = H = E = 1: x1 = -0, row 1 + bias -1 = +0, * scale -1 = -0.
     * x1 only: acc = -0 + 0 = +0; +0 + -0 = +0.   x1 = x2 = -0: acc = -0 + -0 = -0; -0 + -0 = -0. */
    static const float x1[1] = {-0.0f}, x2[1] = {-0.0f}, ex[1] = {1}, bias[1] = {-1}, sc[1] = {-1};
    static const int32_t ri[1] = {0}, ei[1] = {0};
    static const float want_plus[1] = {0.0f}, want_minus[1] = {-0.0f};
    float out[1];
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_v1(T2(ACL_FLOAT, 1, 1, ex), T2(ACL_FLOAT, 1, 1, x1), TNULL, T2(ACL_FLOAT, 1, 1, bias),
                             T2(ACL_FLOAT, 1, 1, sc), T1(ACL_INT32, 1, ri), T2(ACL_INT32, 1, 1, ei), T2(ACL_FLOAT, 1, 1, out));
    CHECK(st == ACLNN_SUCCESS, "V1 signed zero: %d %s", (int)st, errmsg());
    CHECK_F32(out, want_plus, 1, "V1: x1 + 0 turns -0 into +0");
    memset(out, SENT, sizeof out);
    st = call_v1(T2(ACL_FLOAT, 1, 1, ex), T2(ACL_FLOAT, 1, 1, x1), T2(ACL_FLOAT, 1, 1, x2), T2(ACL_FLOAT, 1, 1, bias),
                 T2(ACL_FLOAT, 1, 1, sc), T1(ACL_INT32, 1, ri), T2(ACL_INT32, 1, 1, ei), T2(ACL_FLOAT, 1, 1, out));
    CHECK(st == ACLNN_SUCCESS, "V1 signed zero with x2: %d %s", (int)st, errmsg());
    CHECK_F32(out, want_minus, 1, "V1: -0 + -0 + (-0) stays -0");
}

static void test_v1_fp16_steps(void)
{
    /* fp16, N = 1, K = 2, H = 2, E = 1, M = 2; x1 = [1024, .5], no x2; rows r0 = [.5, 2048], r1 = [.5, 1];
     * bias b0 = [0, 1]; scales [1, 1]; expandedRowIdx [0, 1] (i0k0 -> p0 = 0, i0k1 -> p1 = 1); experts [0, 0]
     *   col 0: acc = 1024;  t = (.5 + 0) * 1 = .5;  1024.5 is a tie -> 1024 (even);  again -> 1024   (0x6400)
     *          (fp32 then one rounding: 1025 -> 0x6401)
     *   col 1: acc = .5;  t = 2048 + 1 = 2049 -> 2048 (tie, even);  .5 + 2048 -> 2048;
     *          t = 1 + 1 = 2;  2048 + 2 = 2050                                                        (0x6801)
     *          (fp32 then one rounding: .5 + 2049 + 2 = 2051.5 -> 2052, 0x6802) */
    static const uint16_t x1[2] = {0x6400, 0x3800}, ex[4] = {0x3800, 0x6800, 0x3800, 0x3C00}, bias[2] = {0x0000, 0x3C00},
                          sc[2] = {0x3C00, 0x3C00};
    static const int32_t ri[2] = {0, 1}, ei[2] = {0, 0};
    static const uint16_t want[2] = {0x6400, 0x6801};
    uint16_t out[2];
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_v1(T2(ACL_FLOAT16, 2, 2, ex), T2(ACL_FLOAT16, 1, 2, x1), TNULL, T2(ACL_FLOAT16, 1, 2, bias),
                             T2(ACL_FLOAT16, 1, 2, sc), T1(ACL_INT32, 2, ri), T2(ACL_INT32, 1, 2, ei),
                             T2(ACL_FLOAT16, 1, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V1 fp16: %d %s", (int)st, errmsg());
    CHECK_U16(out, want, 2, "V1 fp16 rounds every step");
    /* the same through V2 mode 0 (x1 only, bias + expertIdx, scales); V2 wants E >= K: two equal bias rows */
    static const uint16_t bias2[4] = {0x0000, 0x3C00, 0x0000, 0x3C00};
    static const int32_t ei2[2] = {0, 1};
    memset(out, SENT, sizeof out);
    st = call_v2(T2(ACL_FLOAT16, 2, 2, ex), T1(ACL_INT32, 2, ri), T2(ACL_FLOAT16, 1, 2, x1), TNULL,
                 T2(ACL_FLOAT16, 2, 2, bias2), T2(ACL_FLOAT16, 1, 2, sc), T2(ACL_INT32, 1, 2, ei2), 0,
                 T2(ACL_FLOAT16, 1, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V2 fp16: %d %s", (int)st, errmsg());
    CHECK_U16(out, want, 2, "V2 fp16 rounds every step");
}

static void test_bf16_final_rounding(void)
{
    /* N = K = E = 1, H = 3: x1 = [1, 1.0078125, -1] (0x3F80, 0x3F81, 0xBF80), row [2^-8, 2^-8, -2^-8]
     * (0x3B80, 0x3B80, 0xBB80), bias 0, scale 1: fp32 sums 1.00390625 (tie 0x3F80/0x3F81), 1.01171875 (tie
     * 0x3F81/0x3F82), -1.00390625 (tie). V1 ties away: 3F81 3F82 BF81; V2 ties to even: 3F80 3F82 BF80. */
    static const uint16_t x1[3] = {0x3F80, 0x3F81, 0xBF80}, ex[3] = {0x3B80, 0x3B80, 0xBB80}, bias[3] = {0, 0, 0},
                          sc[1] = {0x3F80};
    static const int32_t ri[1] = {0}, ei[1] = {0};
    static const uint16_t want_v1[3] = {0x3F81, 0x3F82, 0xBF81}, want_v2[3] = {0x3F80, 0x3F82, 0xBF80};
    uint16_t out[3];
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_v1(T2(ACL_BF16, 1, 3, ex), T2(ACL_BF16, 1, 3, x1), TNULL, T2(ACL_BF16, 1, 3, bias),
                             T2(ACL_BF16, 1, 1, sc), T1(ACL_INT32, 1, ri), T2(ACL_INT32, 1, 1, ei), T2(ACL_BF16, 1, 3, out));
    CHECK(st == ACLNN_SUCCESS, "V1 bf16: %d %s", (int)st, errmsg());
    CHECK_U16(out, want_v1, 3, "V1 bf16 stores ties away from zero");
    memset(out, SENT, sizeof out);
    st = call_v2(T2(ACL_BF16, 1, 3, ex), T1(ACL_INT32, 1, ri), T2(ACL_BF16, 1, 3, x1), TNULL, T2(ACL_BF16, 1, 3, bias),
                 T2(ACL_BF16, 1, 1, sc), T2(ACL_INT32, 1, 1, ei), 0, T2(ACL_BF16, 1, 3, out));
    CHECK(st == ACLNN_SUCCESS, "V2 bf16: %d %s", (int)st, errmsg());
    CHECK_U16(out, want_v2, 3, "V2 bf16 stores ties to even");

    /* V2 bf16 with FLOAT scales, used as fp32: 1.0 * (1 + 2^-8 + 2^-20) is above the tie -> 0x3F81
     * (a scale rounded to bf16 first would be 1.00390625 -> tie -> 0x3F80) */
    static const uint16_t one[1] = {0x3F80};
    static const float scf[1] = {1.0f + 0x1p-8f + 0x1p-20f};
    static const uint16_t want_mixed[1] = {0x3F81};
    uint16_t o1[1];
    memset(o1, SENT, sizeof o1);
    st = call_v2(T2(ACL_BF16, 1, 1, one), T1(ACL_INT32, 1, ri), TNULL, TNULL, TNULL, T2(ACL_FLOAT, 1, 1, scf), TNULL, 0,
                 T2(ACL_BF16, 1, 1, o1));
    CHECK(st == ACLNN_SUCCESS, "V2 bf16 with FLOAT scales: %d %s", (int)st, errmsg());
    CHECK_U16(o1, want_mixed, 1, "V2 bf16 with FLOAT scales");
}

static void test_v1_refusals(void)
{
    float out[4];
    const size_t ob = sizeof out;
    aclnnStatus st;
    const tspec EX = T2(ACL_FLOAT, 4, 2, FEX), X1 = T2(ACL_FLOAT, 2, 2, FX1), X2 = T2(ACL_FLOAT, 2, 2, FX2),
                BI = T2(ACL_FLOAT, 2, 2, FBIAS), SC = T2(ACL_FLOAT, 2, 2, FSC), RI = T1(ACL_INT32, 4, FRI),
                EI = T2(ACL_INT32, 2, 2, FEI), OUT = T2(ACL_FLOAT, 2, 2, out);
#define V1(a, b, c, d, e, f, g, h) (memset(out, SENT, ob), call_v1(a, b, c, d, e, f, g, h))
    /* data (execute): row index outside [0, M), expert id outside [0, E) */
    static const int32_t ri_hi[4] = {2, 0, 4, 1}, ri_neg[4] = {2, -1, 3, 1}, ei_hi[4] = {1, 0, 2, 1},
                         ei_neg[4] = {1, -1, 0, 1};
    st = V1(EX, X1, X2, BI, SC, T1(ACL_INT32, 4, ri_hi), EI, OUT);
    expect_refused("V1: expandedRowIdx[2] = 4 = M", st, ACLNN_ERR_PARAM_INVALID, 2, out, ob);
    st = V1(EX, X1, X2, BI, SC, T1(ACL_INT32, 4, ri_neg), EI, OUT);
    expect_refused("V1: expandedRowIdx[1] = -1", st, ACLNN_ERR_PARAM_INVALID, 2, out, ob);
    st = V1(EX, X1, X2, BI, SC, RI, T2(ACL_INT32, 2, 2, ei_hi), OUT);
    expect_refused("V1: expandedExpertIdx[1][0] = 2 = E", st, ACLNN_ERR_PARAM_INVALID, 2, out, ob);
    st = V1(EX, X1, X2, BI, SC, RI, T2(ACL_INT32, 2, 2, ei_neg), OUT);
    expect_refused("V1: expandedExpertIdx[0][1] = -1", st, ACLNN_ERR_PARAM_INVALID, 2, out, ob);
    {   /* the message names the position */
        memset(out, SENT, ob);
        st = call_v1(EX, X1, X2, BI, SC, T1(ACL_INT32, 4, ri_hi), EI, OUT);
        const char *m = aclGetRecentErrMsg();
        CHECK(m && strstr(m, "expandedRowIdx[2]") && strstr(m, "= 4"), "V1 message names expandedRowIdx[2] = 4: %s",
              m ? m : "(none)");
    }
    /* NULL */
    st = V1(TNULL, X1, X2, BI, SC, RI, EI, OUT);
    expect_refused("V1: NULL expandedX", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = V1(EX, TNULL, X2, BI, SC, RI, EI, OUT);
    expect_refused("V1: NULL x1", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = V1(EX, X1, X2, TNULL, SC, RI, EI, OUT);
    expect_refused("V1: NULL bias", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = V1(EX, X1, X2, BI, TNULL, RI, EI, OUT);
    expect_refused("V1: NULL scales", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, TNULL, EI, OUT);
    expect_refused("V1: NULL expandedRowIdx", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, RI, TNULL, OUT);
    expect_refused("V1: NULL expandedExpertIdx", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, RI, EI, TNULL);
    expect_refused("V1: NULL out", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    /* dtypes / format */
    st = V1(EX, T2(ACL_FLOAT16, 2, 2, FX1), X2, BI, SC, RI, EI, OUT);
    expect_refused("V1: x1 FLOAT16 with FLOAT expandedX", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    st = V1(EX, X1, X2, BI, T2(ACL_BF16, 2, 2, FSC), RI, EI, OUT);
    expect_refused("V1: scales BF16 with FLOAT expandedX", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, T1(ACL_INT64, 2, FRI), EI, OUT);
    expect_refused("V1: INT64 expandedRowIdx", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, RI, EI, T2(ACL_FLOAT16, 2, 2, out));
    expect_refused("V1: out FLOAT16", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    st = V1(T2(ACL_INT32, 4, 2, FEX), T2(ACL_INT32, 2, 2, FX1), TNULL, T2(ACL_INT32, 2, 2, FBIAS),
            T2(ACL_INT32, 2, 2, FSC), RI, EI, T2(ACL_INT32, 2, 2, out));
    expect_refused("V1: INT32 data", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    tspec nchw = BI;
    nchw.fmt = ACL_FORMAT_NCHW;
    st = V1(EX, X1, X2, nchw, SC, RI, EI, OUT);
    expect_refused("V1: NCHW bias", st, ACLNN_ERR_PARAM_INVALID, 1, out, ob);
    /* shapes */
    const int T = ACLNN_ERR_INNER_TILING_ERROR;
    st = V1(T1(ACL_FLOAT, 8, FEX), X1, X2, BI, SC, RI, EI, OUT);
    expect_refused("V1: 1-D expandedX", st, T, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, T2(ACL_INT32, 2, 2, FRI), EI, OUT);
    expect_refused("V1: 2-D expandedRowIdx", st, T, 1, out, ob);
    st = V1(EX, T2(ACL_FLOAT, 1, 2, FX1), X2, BI, SC, RI, EI, OUT);
    expect_refused("V1: x1 [1, 2] (N from x1 disagrees)", st, T, 1, out, ob);
    st = V1(EX, X1, T2(ACL_FLOAT, 2, 1, FX2), BI, SC, RI, EI, OUT);
    expect_refused("V1: x2 [2, 1]", st, T, 1, out, ob);
    st = V1(EX, X1, X2, T2(ACL_FLOAT, 4, 1, FBIAS), SC, RI, EI, OUT);
    expect_refused("V1: bias [4, 1] (dim1 != H)", st, T, 1, out, ob);
    st = V1(EX, X1, X2, T1(ACL_FLOAT, 4, FBIAS), SC, RI, EI, OUT);
    expect_refused("V1: 1-D bias", st, T, 1, out, ob);
    st = V1(EX, X1, X2, BI, T2(ACL_FLOAT, 1, 4, FSC), RI, EI, OUT);
    expect_refused("V1: scales [1, 4]", st, T, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, RI, T2(ACL_INT32, 2, 1, FEI), OUT);
    expect_refused("V1: expandedExpertIdx [2, 1] (K differs from scales)", st, T, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, RI, EI, T2(ACL_FLOAT, 1, 4, out));
    expect_refused("V1: out [1, 4]", st, T, 1, out, ob);
    st = V1(EX, X1, X2, BI, SC, T1(ACL_INT32, 3, FRI), EI, OUT);
    expect_refused("V1: expandedRowIdx length 3 != M", st, T, 1, out, ob);
    st = V1(EX, X1, X2, BI, T2(ACL_FLOAT, 2, 0, FSC), RI, T2(ACL_INT32, 2, 0, FEI), OUT);
    expect_refused("V1: K = 0", st, T, 1, out, ob);
    st = V1(EX, X1, X2, T2(ACL_FLOAT, 0, 2, FBIAS), SC, RI, EI, OUT);
    expect_refused("V1: E = 0", st, T, 1, out, ob);
    st = V1(T2(ACL_FLOAT, 3, 2, FEX), X1, X2, BI, SC, T1(ACL_INT32, 3, FRI), EI, OUT);
    expect_refused("V1: M = 3 < N*K = 4", st, T, 1, out, ob);
    /* aliasing (execute) */
    {
        float buf[4];
        memcpy(buf, FX1, sizeof buf);
        st = call_v1(EX, T2(ACL_FLOAT, 2, 2, buf), X2, BI, SC, RI, EI, T2(ACL_FLOAT, 2, 2, buf));
        CHECK(st == ACLNN_ERR_PARAM_INVALID && g_phase == 2, "V1: out aliasing x1: %d", (int)st);
        CHECK(memcmp(buf, FX1, sizeof buf) == 0, "V1: aliasing call wrote");
        CHECK(aclGetRecentErrMsg() != NULL, "V1 aliasing: message");
    }
    st = aclnnMoeFinalizeRouting(NULL, 0, NULL, g_stream);
    CHECK(st == ACLNN_ERR_INNER_NULLPTR, "V1: NULL executor: %d", (int)st);
    CHECK(aclGetRecentErrMsg() != NULL, "V1 NULL executor: message");
#undef V1
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeFinalizeRoutingV2                                                                            */

static void test_v2_layouts(void)
{
    static const float want[4] = {14.875f, 26.625f, 37.5f, 54.5f};
    float out[4];
    /* mode 0: problem F unchanged */
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_v2(T2(ACL_FLOAT, 4, 2, FEX), T1(ACL_INT32, 4, FRI), T2(ACL_FLOAT, 2, 2, FX1),
                             T2(ACL_FLOAT, 2, 2, FX2), T2(ACL_FLOAT, 2, 2, FBIAS), T2(ACL_FLOAT, 2, 2, FSC),
                             T2(ACL_INT32, 2, 2, FEI), 0, T2(ACL_FLOAT, 2, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V2 mode 0: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "V2 mode 0 = V1 on problem F");
    /* mode 2: row-major positions i*K + k: (0,0) -> r2, (0,1) -> r3, (1,0) -> r0, (1,1) -> r1 */
    static const int32_t rm[4] = {2, 3, 0, 1};
    memset(out, SENT, sizeof out);
    st = call_v2(T2(ACL_FLOAT, 4, 2, FEX), T1(ACL_INT32, 4, rm), T2(ACL_FLOAT, 2, 2, FX1), T2(ACL_FLOAT, 2, 2, FX2),
                 T2(ACL_FLOAT, 2, 2, FBIAS), T2(ACL_FLOAT, 2, 2, FSC), T2(ACL_INT32, 2, 2, FEI), 2, T2(ACL_FLOAT, 2, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V2 mode 2: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "V2 mode 2 (row-major index layout)");
}

static void test_v2_drop(void)
{
    /* mode 1: expandedX [E = 2, C = 2, H = 2] = rows r0..r3 of problem F; k-major [2, -1, -1, 1]:
     *   i0: [11, 21] + ([5,6] + b1) * .5 = [13, 24.5];  (i0,k1) dropped: nothing, no bias
     *   i1: [32, 42]; (i1,k0) dropped; + ([3,4] + b1) * 2 = [36, 52]
     * expertIdx[1][0] = 99 sits in a dropped slot: never read, so not refused */
    static const int32_t ri[4] = {2, -1, -1, 1}, ei[4] = {1, 0, 99, 1};
    static const float want[4] = {13, 24.5f, 36, 52};
    float out[4];
    memset(out, SENT, sizeof out);
    aclnnStatus st = call_v2(T3(ACL_FLOAT, 2, 2, 2, FEX), T1(ACL_INT32, 4, ri), T2(ACL_FLOAT, 2, 2, FX1),
                             T2(ACL_FLOAT, 2, 2, FX2), T2(ACL_FLOAT, 2, 2, FBIAS), T2(ACL_FLOAT, 2, 2, FSC),
                             T2(ACL_INT32, 2, 2, ei), 1, T2(ACL_FLOAT, 2, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V2 mode 1: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "V2 mode 1: -1 skips the whole term (no scale * bias)");
    /* mode 3 (row-major): (0,0) -> 2, (0,1) -> -1, (1,0) -> -1, (1,1) -> 1 */
    static const int32_t rm[4] = {2, -1, -1, 1}, eim[4] = {1, 99, 0, 1};
    memset(out, SENT, sizeof out);
    st = call_v2(T3(ACL_FLOAT, 2, 2, 2, FEX), T1(ACL_INT32, 4, rm), T2(ACL_FLOAT, 2, 2, FX1), T2(ACL_FLOAT, 2, 2, FX2),
                 T2(ACL_FLOAT, 2, 2, FBIAS), T2(ACL_FLOAT, 2, 2, FSC), T2(ACL_INT32, 2, 2, eim), 3, T2(ACL_FLOAT, 2, 2, out));
    CHECK(st == ACLNN_SUCCESS, "V2 mode 3: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "V2 mode 3");

    /* mode 3, nothing optional: K = 1, N = 5, expandedX [2, 2, 1] = rows [1], [-0], [3], [4]; index
     * [-1, 1, 3, -1, 0]: dropped slot 0 leaves +0; row -0 + 0 (no bias) = +0; 4; +0; 1 */
    static const float ex[4] = {1, -0.0f, 3, 4};
    static const int32_t r5[5] = {-1, 1, 3, -1, 0};
    static const float want5[5] = {0.0f, 0.0f, 4, 0.0f, 1};
    float o5[5];
    memset(o5, SENT, sizeof o5);
    st = call_v2(T3(ACL_FLOAT, 2, 2, 1, ex), T1(ACL_INT32, 5, r5), TNULL, TNULL, TNULL, TNULL, TNULL, 3,
                 T2(ACL_FLOAT, 5, 1, o5));
    CHECK(st == ACLNN_SUCCESS, "V2 mode 3 bare: %d %s", (int)st, errmsg());
    CHECK_F32(o5, want5, 5, "V2 bare: dropped slot 0 gives +0, the missing bias adds +0");

    /* no skip tensors, K = 2 (mode 1): slot 0 dropped -> acc = +0, then + (1 + -1) * -1 = +0 + -0 = +0;
     * slot 0 kept with a -0 term -> acc = -0 (unset accumulator takes the term), slot 1 dropped -> -0 */
    static const float ex2[2] = {1, 2}, b2[2] = {-1, -2}, s2[2] = {-1, -1};
    static const int32_t ra[2] = {-1, 0}, rb[2] = {1, -1}, e2a[2] = {1, 0}, e2b[2] = {1, 0};
    static const float wa[1] = {0.0f}, wb[1] = {-0.0f};
    float o[1];
    memset(o, SENT, sizeof o);
    st = call_v2(T3(ACL_FLOAT, 2, 1, 1, ex2), T1(ACL_INT32, 2, ra), TNULL, TNULL, T2(ACL_FLOAT, 2, 1, b2),
                 T2(ACL_FLOAT, 1, 2, s2), T2(ACL_INT32, 1, 2, e2a), 1, T2(ACL_FLOAT, 1, 1, o));
    CHECK(st == ACLNN_SUCCESS, "V2 unset accumulator a: %d %s", (int)st, errmsg());
    CHECK_F32(o, wa, 1, "V2: dropped slot 0 starts the sum at +0");
    memset(o, SENT, sizeof o);
    st = call_v2(T3(ACL_FLOAT, 2, 1, 1, ex2), T1(ACL_INT32, 2, rb), TNULL, TNULL, T2(ACL_FLOAT, 2, 1, b2),
                 T2(ACL_FLOAT, 1, 2, s2), T2(ACL_INT32, 1, 2, e2b), 1, T2(ACL_FLOAT, 1, 1, o));
    CHECK(st == ACLNN_SUCCESS, "V2 unset accumulator b: %d %s", (int)st, errmsg());
    CHECK_F32(o, wb, 1, "V2: kept slot 0 sets the sum (-0 kept)");

    /* fp16, mode 0, no skip tensors, K = 2: t0 = (1 + -1) * -1 = -0 sets acc; t1 = (2 + -2) * -3 = -0;
     * -0 + -0 = -0 (0x8000) */
    static const uint16_t hx[2] = {0x3C00, 0x4000}, hb[2] = {0xBC00, 0xC000}, hs[2] = {0xBC00, 0xC200};
    static const int32_t hr[2] = {0, 1}, he[2] = {0, 1};
    static const uint16_t hw[1] = {0x8000};
    uint16_t ho[1];
    memset(ho, SENT, sizeof ho);
    st = call_v2(T2(ACL_FLOAT16, 2, 1, hx), T1(ACL_INT32, 2, hr), TNULL, TNULL, T2(ACL_FLOAT16, 2, 1, hb),
                 T2(ACL_FLOAT16, 1, 2, hs), T2(ACL_INT32, 1, 2, he), 0, T2(ACL_FLOAT16, 1, 1, ho));
    CHECK(st == ACLNN_SUCCESS, "V2 fp16 -0: %d %s", (int)st, errmsg());
    CHECK_U16(ho, hw, 1, "V2 fp16 unset accumulator keeps -0");

    /* x2 only: acc = x2 + 0 */
    static const float x2n[2] = {-0.0f, 5}, exn[2] = {-0.0f, 1};
    static const int32_t rn[1] = {0};
    static const float wn[2] = {0.0f, 6};
    float on[2];
    memset(on, SENT, sizeof on);
    st = call_v2(T2(ACL_FLOAT, 1, 2, exn), T1(ACL_INT32, 1, rn), TNULL, T2(ACL_FLOAT, 1, 2, x2n), TNULL, TNULL, TNULL, 0,
                 T2(ACL_FLOAT, 1, 2, on));
    CHECK(st == ACLNN_SUCCESS, "V2 x2 only: %d %s", (int)st, errmsg());
    CHECK_F32(on, wn, 2, "V2 x2 only: x2 + 0, then + (row + 0)");
}

static void test_v2_refusals(void)
{
    float out[4];
    const size_t ob = sizeof out;
    aclnnStatus st;
    const int T = ACLNN_ERR_INNER_TILING_ERROR, P = ACLNN_ERR_PARAM_INVALID;
    const tspec EX = T2(ACL_FLOAT, 4, 2, FEX), EX3 = T3(ACL_FLOAT, 2, 2, 2, FEX), X1 = T2(ACL_FLOAT, 2, 2, FX1),
                X2 = T2(ACL_FLOAT, 2, 2, FX2), BI = T2(ACL_FLOAT, 2, 2, FBIAS), SC = T2(ACL_FLOAT, 2, 2, FSC),
                RI = T1(ACL_INT32, 4, FRI), EI = T2(ACL_INT32, 2, 2, FEI), OUT = T2(ACL_FLOAT, 2, 2, out);
#define V2(a, b, c, d, e, f, g, m, h) (memset(out, SENT, ob), call_v2(a, b, c, d, e, f, g, m, h))
    /* data (execute) */
    static const int32_t ri_m1[4] = {2, -1, 3, 1}, ri_hi[4] = {2, 0, 3, 4}, ri_m2[4] = {2, -2, 3, 1},
                         ei_hi[4] = {1, 0, 0, 2};
    st = V2(EX, T1(ACL_INT32, 4, ri_m1), X1, X2, BI, SC, EI, 0, OUT);
    expect_refused("V2 mode 0: -1 is out of range when dropless", st, P, 2, out, ob);
    st = V2(EX, T1(ACL_INT32, 4, ri_m1), X1, X2, BI, SC, EI, 2, OUT);
    expect_refused("V2 mode 2: -1 is out of range", st, P, 2, out, ob);
    st = V2(EX3, T1(ACL_INT32, 4, ri_hi), X1, X2, BI, SC, EI, 1, OUT);
    expect_refused("V2 mode 1: index E*C", st, P, 2, out, ob);
    st = V2(EX3, T1(ACL_INT32, 4, ri_m2), X1, X2, BI, SC, EI, 3, OUT);
    expect_refused("V2 mode 3: index -2", st, P, 2, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, T2(ACL_INT32, 2, 2, ei_hi), 0, OUT);
    expect_refused("V2: expert id E in a kept slot", st, P, 2, out, ob);
    /* but an expert id is not read (nor checked) without a bias */
    st = V2(EX, RI, X1, X2, TNULL, SC, T2(ACL_INT32, 2, 2, ei_hi), 0, OUT);
    CHECK(st == ACLNN_SUCCESS, "V2: expertIdx without bias is not read: %d %s", (int)st, errmsg());
    /* NULL */
    st = V2(TNULL, RI, X1, X2, BI, SC, EI, 0, OUT);
    expect_refused("V2: NULL expandedX", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = V2(EX, TNULL, X1, X2, BI, SC, EI, 0, OUT);
    expect_refused("V2: NULL expandedRowIdx", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, EI, 0, TNULL);
    expect_refused("V2: NULL out", st, ACLNN_ERR_PARAM_NULLPTR, 1, out, ob);
    /* dtypes */
    st = V2(EX, RI, X1, X2, BI, T2(ACL_FLOAT16, 2, 2, FSC), EI, 0, OUT);
    expect_refused("V2: FLOAT16 scales with FLOAT expandedX", st, P, 1, out, ob);
    {
        static const uint16_t h[8] = {0}, hx1[4] = {0};
        float hs[4] = {1, 1, 1, 1};
        uint16_t ho[4];
        memset(ho, SENT, sizeof ho);
        st = call_v2(T2(ACL_FLOAT16, 4, 2, h), RI, T2(ACL_FLOAT16, 2, 2, hx1), TNULL, TNULL, T2(ACL_FLOAT, 2, 2, hs),
                     TNULL, 0, T2(ACL_FLOAT16, 2, 2, ho));
        expect_refused("V2: FLOAT scales with FLOAT16 expandedX", st, P, 1, ho, sizeof ho);
    }
    st = V2(EX, RI, T2(ACL_BF16, 2, 2, FX1), X2, BI, SC, EI, 0, OUT);
    expect_refused("V2: x1 BF16 with FLOAT expandedX", st, P, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, EI, 0, T2(ACL_BF16, 2, 2, out));
    expect_refused("V2: out BF16 with FLOAT expandedX", st, P, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, T2(ACL_INT64, 2, 1, FEI), 0, OUT);
    expect_refused("V2: INT64 expertIdx", st, P, 1, out, ob);
    /* attributes and shapes */
    st = V2(EX, RI, X1, X2, BI, SC, EI, 4, OUT);
    expect_refused("V2: dropPadMode 4", st, T, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, EI, -1, OUT);
    expect_refused("V2: dropPadMode -1", st, T, 1, out, ob);
    st = V2(EX3, RI, X1, X2, BI, SC, EI, 0, OUT);
    expect_refused("V2: 3-D expandedX in mode 0", st, T, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, EI, 1, OUT);
    expect_refused("V2: 2-D expandedX in mode 1", st, T, 1, out, ob);
    st = V2(EX, T2(ACL_INT32, 2, 2, FRI), X1, X2, BI, SC, EI, 0, OUT);
    expect_refused("V2: 2-D expandedRowIdx", st, T, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, T1(ACL_FLOAT, 4, FSC), EI, 0, OUT);
    expect_refused("V2: 1-D scales", st, T, 1, out, ob);
    st = V2(EX, T1(ACL_INT32, 0, FRI), X1, X2, TNULL, T2(ACL_FLOAT, 2, 0, FSC), TNULL, 0, OUT);
    expect_refused("V2: K = 0", st, T, 1, out, ob);
    st = V2(EX, T1(ACL_INT32, 3, FRI), X1, X2, BI, SC, EI, 0, OUT);
    expect_refused("V2: expandedRowIdx length 3 != N*K", st, T, 1, out, ob);
    st = V2(EX, RI, T2(ACL_FLOAT, 2, 1, FX1), X2, BI, SC, EI, 0, OUT);
    expect_refused("V2: x1 [2, 1]", st, T, 1, out, ob);
    st = V2(EX, RI, X1, T1(ACL_FLOAT, 4, FX2), BI, SC, EI, 0, OUT);
    expect_refused("V2: 1-D x2", st, T, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, TNULL, 0, OUT);
    expect_refused("V2: bias without expertIdx", st, T, 1, out, ob);
    st = V2(EX, RI, X1, X2, T2(ACL_FLOAT, 1, 2, FBIAS), SC, EI, 0, OUT);
    expect_refused("V2: bias E = 1 < K = 2", st, T, 1, out, ob);
    st = V2(EX, RI, TNULL, TNULL, T2(ACL_FLOAT, 0, 2, FBIAS), T2(ACL_FLOAT, 4, 1, FSC), T2(ACL_INT32, 4, 1, FEI), 0,
            T2(ACL_FLOAT, 4, 2, out));
    expect_refused("V2: bias E = 0", st, T, 1, out, ob);
    st = V2(EX, RI, X1, X2, T2(ACL_FLOAT, 2, 1, FBIAS), SC, EI, 0, OUT);
    expect_refused("V2: bias dim1 != H", st, T, 1, out, ob);
    {
        static const float b3[6] = {0};
        st = V2(EX3, RI, X1, X2, T2(ACL_FLOAT, 3, 2, b3), SC, EI, 1, OUT);
        expect_refused("V2 mode 1: bias dim0 3 != E = 2", st, T, 1, out, ob);
    }
    st = V2(EX, RI, X1, X2, BI, SC, T2(ACL_INT32, 1, 4, FEI), 0, OUT);
    expect_refused("V2: expertIdx [1, 4]", st, T, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, EI, 0, T2(ACL_FLOAT, 4, 1, out));
    expect_refused("V2: out [4, 1]", st, T, 1, out, ob);
    st = V2(EX, RI, X1, X2, BI, SC, EI, 0, T1(ACL_FLOAT, 4, out));
    expect_refused("V2: 1-D out", st, T, 1, out, ob);
    /* aliasing and NULL executor */
    {
        float buf[8];
        memcpy(buf, FEX, sizeof buf);
        st = call_v2(T2(ACL_FLOAT, 4, 2, buf), RI, X1, X2, BI, SC, EI, 0, T2(ACL_FLOAT, 2, 2, buf + 2));
        CHECK(st == ACLNN_ERR_PARAM_INVALID && g_phase == 2, "V2: out over expandedX: %d", (int)st);
        CHECK(memcmp(buf, FEX, sizeof buf) == 0, "V2: aliasing call wrote");
        CHECK(aclGetRecentErrMsg() != NULL, "V2 aliasing: message");
    }
    st = aclnnMoeFinalizeRoutingV2(NULL, 0, NULL, g_stream);
    CHECK(st == ACLNN_ERR_INNER_NULLPTR, "V2: NULL executor: %d", (int)st);
    CHECK(aclGetRecentErrMsg() != NULL, "V2 NULL executor: message");
#undef V2
}

/* Strided inputs through aclCreateTensor views: problem F with expandedX read column-major and x1 through a
 * negative row stride. */
static void test_strided_views(void)
{
    /* expandedX [4, 2] column-major: storage [c0 of rows 0..3, c1 of rows 0..3] */
    static const float exs[8] = {1, 3, 5, 7, 2, 4, 6, 8};
    /* x1 [2, 2] with row stride -2 from offset 2: storage [30, 40, 10, 20] */
    static const float x1s[4] = {30, 40, 10, 20};
    static const float want[4] = {14.875f, 26.625f, 37.5f, 54.5f};
    const int64_t d42[2] = {4, 2}, s42[2] = {1, 4}, st8[1] = {8}, d22[2] = {2, 2}, s22[2] = {-2, 1}, st4[1] = {4};
    aclTensor *ex = aclCreateTensor(d42, 2, ACL_FLOAT, s42, 0, ACL_FORMAT_ND, st8, 1, (void *)exs);
    aclTensor *x1 = aclCreateTensor(d22, 2, ACL_FLOAT, s22, 2, ACL_FORMAT_ND, st4, 1, (void *)x1s);
    float out[4];
    memset(out, SENT, sizeof out);
    aclTensor *t[6] = {mk(T2(ACL_FLOAT, 2, 2, FX2)), mk(T2(ACL_FLOAT, 2, 2, FBIAS)), mk(T2(ACL_FLOAT, 2, 2, FSC)),
                       mk(T1(ACL_INT32, 4, FRI)), mk(T2(ACL_INT32, 2, 2, FEI)), mk(T2(ACL_FLOAT, 2, 2, out))};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeFinalizeRoutingGetWorkspaceSize(ex, x1, t[0], t[1], t[2], t[3], t[4], t[5], &ws, &exe);
    st = finish(st, aclnnMoeFinalizeRouting, ws, exe);
    CHECK(st == ACLNN_SUCCESS, "V1 strided: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "V1 with strided expandedX and x1");
    aclDestroyTensor(ex);
    aclDestroyTensor(x1);
    destroy_all(t, 6);
}

/* A repeatable executor re-pointed with aclSetInputTensorAddr: run problem F, then swap x2 (input index 2). */
static void test_repeatable(void)
{
    static const float x2b[4] = {0, 0, 0, 0};
    static const float want[4] = {14.875f, 26.625f, 37.5f, 54.5f}, want_b[4] = {13.875f, 25.625f, 35.5f, 52.5f};
    float out[4];
    aclTensor *t[8] = {mk(T2(ACL_FLOAT, 4, 2, FEX)), mk(T2(ACL_FLOAT, 2, 2, FX1)), mk(T2(ACL_FLOAT, 2, 2, FX2)),
                       mk(T2(ACL_FLOAT, 2, 2, FBIAS)), mk(T2(ACL_FLOAT, 2, 2, FSC)), mk(T1(ACL_INT32, 4, FRI)),
                       mk(T2(ACL_INT32, 2, 2, FEI)), mk(T2(ACL_FLOAT, 2, 2, out))};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeFinalizeRoutingGetWorkspaceSize(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], &ws, &exe);
    CHECK(st == ACLNN_SUCCESS && aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "repeatable: %s", errmsg());
    memset(out, SENT, sizeof out);
    st = aclnnMoeFinalizeRouting(NULL, 0, exe, g_stream);
    CHECK(st == ACLNN_SUCCESS, "repeatable run 1: %d %s", (int)st, errmsg());
    CHECK_F32(out, want, 4, "repeatable run 1");
    CHECK(aclSetInputTensorAddr(exe, 2, t[2], (void *)x2b) == ACLNN_SUCCESS, "aclSetInputTensorAddr x2: %s", errmsg());
    memset(out, SENT, sizeof out);
    st = aclnnMoeFinalizeRouting(NULL, 0, exe, g_stream);
    CHECK(st == ACLNN_SUCCESS, "repeatable run 2: %d %s", (int)st, errmsg());
    CHECK_F32(out, want_b, 4, "repeatable run 2 with x2 = 0");
    CHECK(aclDestroyAclOpExecutor(exe) == ACLNN_SUCCESS, "destroy executor");
    destroy_all(t, 8);
}

/* ---------------------------------------------------------------------------------------------------- */
/* the step: same bytes for every thread count, equal to a plain reference                              */

static void test_thread_independence(uint64_t *rng)
{
    enum { N = 257, K = 5, H = 300, M = N * K, E = 7 };
    uint16_t *ex = malloc(sizeof(uint16_t) * M * H), *x1 = malloc(sizeof(uint16_t) * N * H);
    uint16_t *bias = malloc(sizeof(uint16_t) * E * H), *sc = malloc(sizeof(uint16_t) * N * K);
    int32_t *ri = malloc(sizeof(int32_t) * M), *ei = malloc(sizeof(int32_t) * N * K);
    uint16_t *ref = malloc(sizeof(uint16_t) * N * H), *got = malloc(sizeof(uint16_t) * N * H);
    /* fp16 values in a moderate range, so sums round but rarely overflow */
    for (int i = 0; i < M * H; i++) ex[i] = (uint16_t)(0x3000 + mr_test_rand(rng) % 0x1800) | (uint16_t)(mr_test_rand(rng) & 0x8000);
    for (int i = 0; i < N * H; i++) x1[i] = (uint16_t)(0x3800 + mr_test_rand(rng) % 0x1800);
    for (int i = 0; i < E * H; i++) bias[i] = (uint16_t)(0x2000 + mr_test_rand(rng) % 0x1800);
    for (int i = 0; i < N * K; i++) sc[i] = (uint16_t)(0x3400 + mr_test_rand(rng) % 0x1000);
    for (int i = 0; i < M; i++) ri[i] = (int32_t)(mr_test_rand(rng) % M);
    for (int i = 0; i < N * K; i++) ei[i] = (int32_t)(mr_test_rand(rng) % E);
    /* reference: V1 fp16 chain with the test's own double-based rounding */
    for (int i = 0; i < N; i++)
        for (int c = 0; c < H; c++) {
            uint16_t acc = ref_f16((double)mr_f16_to_f32(x1[i * H + c]) + 0.0);
            for (int k = 0; k < K; k++) {
                int r = ri[i + k * N], e = ei[i * K + k];
                uint16_t t = ref_f16((double)mr_f16_to_f32(ex[r * H + c]) + (double)mr_f16_to_f32(bias[e * H + c]));
                t = ref_f16((double)mr_f16_to_f32(t) * (double)mr_f16_to_f32(sc[i * K + k]));
                acc = ref_f16((double)mr_f16_to_f32(acc) + (double)mr_f16_to_f32(t));
            }
            ref[i * H + c] = acc;
        }
    mr_view vex = mr_view_contiguous(ex, 2, 2, (const int64_t[]){M, H});
    mr_view vx1 = mr_view_contiguous(x1, 2, 2, (const int64_t[]){N, H});
    mr_view vb = mr_view_contiguous(bias, 2, 2, (const int64_t[]){E, H});
    mr_view vs = mr_view_contiguous(sc, 2, 2, (const int64_t[]){N, K});
    mr_accumulate a = {.n = N, .k = K, .h = H, .init = MR_ACC_INIT_PLUS_ZERO, .x1 = mr_acc_src_2d(&vx1, MR_X_F16),
                       .rows = mr_acc_src_2d(&vex, MR_X_F16), .m = M, .row_idx = {ri, 1, N, 1, N, "expandedRowIdx"},
                       .bias = mr_acc_src_2d(&vb, MR_X_F16), .experts = E, .expert_idx = {ei, K, 1, 0, 0, "expertIdx"},
                       .scales = mr_acc_src_2d(&vs, MR_X_F16), .arith = MR_ACC_F16, .out_type = MR_X_F16,
                       .bf16_round = MR_ACC_BF16_RHA, .out = (char *)got, .out_row = H};
    CHECK(mr_accumulate_check(&a, "test") == MOEROUTE_OK, "step check on valid data");
    const size_t threads[6] = {0, 1, 2, 3, 4, 7};
    for (int t = 0; t < 6; t++) {
        mr_pool *pool = threads[t] ? mr_pool_create(threads[t]) : NULL;
        memset(got, SENT, sizeof(uint16_t) * N * H);
        mr_accumulate_run(&a, pool);
        int same = memcmp(got, ref, sizeof(uint16_t) * N * H) == 0;
        CHECK(same, "accumulate step with %zu threads equals the reference", threads[t]);
        if (!same)
            for (int i = 0; i < N * H; i++)
                if (got[i] != ref[i]) {
                    fprintf(stderr, "  first difference at %d: got %04x want %04x\n", i, got[i], ref[i]);
                    break;
                }
        mr_pool_destroy(pool);
    }
    free(ex), free(x1), free(bias), free(sc), free(ri), free(ei), free(ref), free(got);
}

int main(int argc, char **argv)
{
    uint64_t seed = mr_test_seed(argc, argv), rng = seed;
    acl_setup();

    test_f16_step_exact(&rng);
    test_simd_kernels(&rng);
    test_bf16_store();
    test_unpermute_basic();
    test_unpermute_skips_and_zeros();
    test_unpermute_precision();
    test_unpermute_refusals();
    test_v1_problem_f();
    test_v1_signed_zero();
    test_v1_fp16_steps();
    test_bf16_final_rounding();
    test_v1_refusals();
    test_v2_layouts();
    test_v2_drop();
    test_v2_refusals();
    test_strided_views();
    test_repeatable();
    test_thread_independence(&rng);

    acl_teardown();
    return mr_test_finish();
}
