/* The combine operators through the native API (moeroute_token_unpermute, moeroute_finalize_routing):
 *   - hand-worked values (the worked examples of docs/operators/token_unpermute.md and finalize_routing.md,
 *     arithmetic spelled out next to each literal), through strided views where the API takes them;
 *   - refusals: status, a message, and an output left untouched;
 *   - the native API equal to the aclnn API on the same random inputs, for every mode (unpermute with and
 *     without probs, MoeFinalizeRouting with and without x2, MoeFinalizeRoutingV2 modes 0..3 with the optional
 *     arguments in several combinations);
 *   - identical bytes for contexts with 1..4 threads and every ISA level, and for a NULL context.
 * Random inputs; seed from argv[1] or MOEROUTE_TEST_SEED.
 *
 * Problem F (fp32), as in test_combine.c: N = K = H = E = 2, M = 4
 *   expandedX rows r0 = [1, 2], r1 = [3, 4], r2 = [5, 6], r3 = [7, 8]
 *   x1 = [[10, 20], [30, 40]], x2 = [[1, 1], [2, 2]], bias b0 = [.5, .5], b1 = [-1, 1]
 *   scales = [[.5, .25], [1, 2]], expertIdx = [[1, 0], [0, 1]]; k-major expandedRowIdx = [2, 0, 3, 1]
 *   i0: [11, 21] + ([5,6] + b1) * .5 = [13, 24.5];  + ([7,8] + b0) * .25 = [14.875, 26.625]
 *   i1: [32, 42] + ([1,2] + b0) * 1  = [33.5, 44.5]; + ([3,4] + b1) * 2  = [37.5, 54.5]
 *   without x2: [[13.875, 25.625], [35.5, 52.5]]
 */
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_finalize_routing.h"
#include "aclnnop/aclnn_moe_finalize_routing_v2.h"
#include "aclnnop/aclnn_moe_token_unpermute.h"
#include "common/fp16.h"
#include "harness.h"
#include "moeroute.h"

#define SENT 0x5A

static const char *msg(void)
{
    const char *m = moeroute_error_message();
    return m ? m : "(no message)";
}


static moeroute_token_unpermute_args up_args(void)
{
    moeroute_token_unpermute_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    return a;
}

static moeroute_finalize_routing_args fin_args(int version)
{
    moeroute_finalize_routing_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.version = version;
    return a;
}

/* ---------------------------------------------------------------------------------------------------- */
/* hand-worked values                                                                                   */

static void test_unpermute_values(void)
{
    /* rows p0..p3 = [1,2], [3,4], [5,6], [7,8], stored column-major (row stride 1, column stride 4) to read
     * through strides; probs [[.5, .25], [1, -1]] stored transposed too.
     * t0 = .5*p2 + .25*p0 = [2.5, 3] + [.25, .5] = [2.75, 3.5];  t1 = 1*p3 + (-1)*p1 = [7, 8] + [-3, -4] = [4, 4] */
    static const float tok_cm[8] = {1, 3, 5, 7, 2, 4, 6, 8};
    static const float probs_t[4] = {.5f, 1, .25f, -1};
    static const int32_t idx[4] = {2, 0, 3, 1};
    static const float want[4] = {2.75f, 3.5f, 4, 4};
    float out[4];
    memset(out, SENT, sizeof out);
    moeroute_token_unpermute_args a = up_args();
    a.num_tokens = 2, a.k = 2, a.hidden = 2, a.permuted_rows = 4;
    a.tokens_dtype = MOEROUTE_DTYPE_FLOAT32, a.permuted_tokens = tok_cm, a.permuted_row_stride = 1;
    a.permuted_col_stride = 4;
    a.sorted_indices = idx;
    a.probs_dtype = MOEROUTE_DTYPE_FLOAT32, a.probs = probs_t, a.probs_row_stride = 1, a.probs_col_stride = 2;
    a.out = out;
    moeroute_status st = moeroute_token_unpermute(NULL, &a);
    CHECK(st == MOEROUTE_OK, "unpermute worked example: %s", msg());
    CHECK_F32(out, want, 4, "unpermute worked example through strided views");

    /* without probs: k = 1, out[t] = p[idx[t]]; index 4 >= M = 4 is skipped: a +0 row */
    static const int32_t idx1[3] = {3, 4, 0};
    static const float want1[6] = {7, 8, 0, 0, 1, 2};
    float out1[6];
    memset(out1, SENT, sizeof out1);
    a.num_tokens = 3, a.k = 1, a.probs = NULL, a.sorted_indices = idx1, a.out = out1;
    st = moeroute_token_unpermute(NULL, &a);
    CHECK(st == MOEROUTE_OK, "unpermute without probs: %s", msg());
    CHECK_F32(out1, want1, 6, "unpermute without probs (index >= M: a +0 row)");

    /* skipped slots: M = 3 rows r0 = [9, 9], r1 = [-0, 2], r2 = [1.5, -3]; T = 4, k = 2
     *   t0: 5 >= M skipped;  +0 + 1*r1 = [+0, 2]          t1: -1 with prob 0 skipped;  +0 + 2*r2 = [3, -6]
     *   t2: prob -0 skipped; +0 + (-1)*r1 = [+0, -2]      t3: 1*r1 sets acc = [-0, 2];  4 >= M skipped */
    static const float tok[6] = {9, 9, -0.0f, 2, 1.5f, -3};
    static const int32_t idx2[8] = {5, 1, -1, 2, 0, 1, 1, 4};
    static const float probs2[8] = {.5f, 1, 0, 2, -0.0f, -1, 1, .75f};
    static const float want2[8] = {0.0f, 2, 3, -6, 0.0f, -2, -0.0f, 2};
    float out2[8];
    memset(out2, SENT, sizeof out2);
    a = up_args();
    a.num_tokens = 4, a.k = 2, a.hidden = 2, a.permuted_rows = 3;
    a.tokens_dtype = MOEROUTE_DTYPE_FLOAT32, a.permuted_tokens = tok, a.permuted_row_stride = 2;
    a.permuted_col_stride = 1;
    a.sorted_indices = idx2;
    a.probs_dtype = MOEROUTE_DTYPE_FLOAT32, a.probs = probs2, a.probs_row_stride = 2, a.probs_col_stride = 1;
    a.out = out2;
    st = moeroute_token_unpermute(NULL, &a);
    CHECK(st == MOEROUTE_OK, "unpermute skips: %s", msg());
    CHECK_F32(out2, want2, 8, "unpermute skips, +0 start, slot 0 keeps -0");

    /* k = 0 with probs [2, 0] (given: a non-NULL pointer): every token is +0 */
    static const float want0[4] = {0, 0, 0, 0};
    float out0[4];
    memset(out0, SENT, sizeof out0);
    a.num_tokens = 2, a.k = 0, a.sorted_indices = NULL, a.probs = probs2, a.out = out0;
    st = moeroute_token_unpermute(NULL, &a);
    CHECK(st == MOEROUTE_OK, "unpermute k = 0: %s", msg());
    CHECK_F32(out0, want0, 4, "unpermute k = 0 gives +0 rows");

    /* fp16 rows [2048], [1], [1] with fp16 probs 1.0: fp32 2048 + 1 + 1 = 2050 -> 0x6801, rounded once */
    static const uint16_t th[3] = {0x6800, 0x3C00, 0x3C00}, ph[3] = {0x3C00, 0x3C00, 0x3C00};
    static const int32_t ih[3] = {0, 1, 2};
    static const uint16_t wanth[1] = {0x6801};
    uint16_t outh[1];
    memset(outh, SENT, sizeof outh);
    a = up_args();
    a.num_tokens = 1, a.k = 3, a.hidden = 1, a.permuted_rows = 3;
    a.tokens_dtype = MOEROUTE_DTYPE_FLOAT16, a.permuted_tokens = th, a.permuted_row_stride = 1;
    a.sorted_indices = ih;
    a.probs_dtype = MOEROUTE_DTYPE_FLOAT16, a.probs = ph, a.probs_row_stride = 3, a.probs_col_stride = 1;
    a.out = outh;
    st = moeroute_token_unpermute(NULL, &a);
    CHECK(st == MOEROUTE_OK, "unpermute fp16: %s", msg());
    CHECK_U16(outh, wanth, 1, "unpermute fp16 accumulates in fp32 (2050, not 2048)");

    /* bf16 row 1.0 with fp32 probs: 1 + 2^-8 is the tie 0x3F80 / 0x3F81 -> 0x3F80 (even);
     * 1 + 2^-8 + 2^-20 lies above it -> 0x3F81 (probs are used as fp32, never rounded to bf16) */
    static const uint16_t tb[1] = {0x3F80};
    static const float pb[2] = {1.00390625f, 1.0f + 0x1p-8f + 0x1p-20f};
    static const int32_t ib[2] = {0, 0};
    static const uint16_t wantb[2] = {0x3F80, 0x3F81};
    uint16_t outb[2];
    memset(outb, SENT, sizeof outb);
    a = up_args();
    a.num_tokens = 2, a.k = 1, a.hidden = 1, a.permuted_rows = 1;
    a.tokens_dtype = MOEROUTE_DTYPE_BFLOAT16, a.permuted_tokens = tb, a.permuted_row_stride = 1;
    a.sorted_indices = ib;
    a.probs_dtype = MOEROUTE_DTYPE_FLOAT32, a.probs = pb, a.probs_row_stride = 1, a.probs_col_stride = 1;
    a.out = outb;
    st = moeroute_token_unpermute(NULL, &a);
    CHECK(st == MOEROUTE_OK, "unpermute bf16: %s", msg());
    CHECK_U16(outb, wantb, 2, "unpermute bf16 store ties to even; fp32 probs");
}

/* problem F */
static const float F_X[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static const float F_X1[4] = {10, 20, 30, 40}, F_X2[4] = {1, 1, 2, 2};
static const float F_BIAS[4] = {.5f, .5f, -1, 1}, F_SCALES[4] = {.5f, .25f, 1, 2};
static const int32_t F_EIDX[4] = {1, 0, 0, 1}, F_RIDX[4] = {2, 0, 3, 1};
static const float F_WANT[4] = {14.875f, 26.625f, 37.5f, 54.5f};
static const float F_WANT_NO_X2[4] = {13.875f, 25.625f, 35.5f, 52.5f};

static moeroute_finalize_routing_args problem_f(int version, float *out)
{
    moeroute_finalize_routing_args a = fin_args(version);
    a.num_rows = 2, a.k = 2, a.hidden = 2, a.expanded_rows = 4, a.num_experts = 2;
    a.x_dtype = a.scales_dtype = MOEROUTE_DTYPE_FLOAT32;
    a.expanded_x = F_X, a.expanded_x_row_stride = 2, a.expanded_x_col_stride = 1;
    a.expanded_row_idx = F_RIDX, a.x1 = F_X1, a.x2 = F_X2, a.bias = F_BIAS, a.scales = F_SCALES;
    a.expert_idx = F_EIDX, a.out = out;
    return a;
}

static void test_finalize_values(void)
{
    float out[4];
    for (int version = 1; version <= 2; version++) {
        memset(out, SENT, sizeof out);
        moeroute_finalize_routing_args a = problem_f(version, out);
        moeroute_status st = moeroute_finalize_routing(NULL, &a);
        CHECK(st == MOEROUTE_OK, "version %d problem F: %s", version, msg());
        CHECK_F32(out, F_WANT, 4, "version %d problem F", version);
        memset(out, SENT, sizeof out);
        a.x2 = NULL;
        st = moeroute_finalize_routing(NULL, &a);
        CHECK(st == MOEROUTE_OK, "version %d problem F without x2: %s", version, msg());
        CHECK_F32(out, F_WANT_NO_X2, 4, "version %d problem F without x2", version);
    }

    /* expandedX read through strides: rows r0..r3 stored column-major (row stride 1, column stride 4) */
    static const float x_cm[8] = {1, 3, 5, 7, 2, 4, 6, 8};
    memset(out, SENT, sizeof out);
    moeroute_finalize_routing_args a = problem_f(1, out);
    a.expanded_x = x_cm, a.expanded_x_row_stride = 1, a.expanded_x_col_stride = 4;
    CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_OK, "strided expanded_x: %s", msg());
    CHECK_F32(out, F_WANT, 4, "version 1 problem F, column-major expanded_x");

    /* V2 mode 2: the row-major index (position i*K + k) [2, 3, 0, 1] names the same rows */
    static const int32_t ridx_rm[4] = {2, 3, 0, 1};
    memset(out, SENT, sizeof out);
    a = problem_f(2, out);
    a.drop_pad_mode = 2, a.expanded_row_idx = ridx_rm;
    CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_OK, "mode 2: %s", msg());
    CHECK_F32(out, F_WANT, 4, "V2 mode 2, row-major index");

    /* V2 modes 1 and 3: expandedX [2, 2, 2] read as 4 rows, index [2, -1, -1, 1]: slots (1,0) and (0,1) (mode 1,
     * k-major) or (0,1) and (1,0) (mode 3, row-major) are dropped: the same two, so
     * i0 = [11, 21] + ([5,6] + b1)*.5 = [13, 24.5];  i1 = [32, 42] + ([3,4] + b1)*2 = [32, 42] + [4, 10] = [36, 52] */
    static const int32_t ridx_drop[4] = {2, -1, -1, 1};
    static const float want_drop[4] = {13, 24.5f, 36, 52};
    for (int mode = 1; mode <= 3; mode += 2) {
        memset(out, SENT, sizeof out);
        a = problem_f(2, out);
        a.drop_pad_mode = mode, a.expanded_row_idx = ridx_drop;
        CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_OK, "mode %d: %s", mode, msg());
        CHECK_F32(out, want_drop, 4, "V2 mode %d: a dropped slot adds nothing", mode);
    }

    /* V2 without x1, x2, bias, scales (K = 1): out[i] = expandedX[r] + 0; rows [1, -0], [3, 4], index [1, 0]:
     * i0 = [3, 4]; i1 = [1, -0 + 0] = [1, +0] (the +0 of "no bias" turns -0 into +0) */
    static const float xs[4] = {1, -0.0f, 3, 4};
    static const int32_t rs[2] = {1, 0};
    static const float want_bare[4] = {3, 4, 1, 0.0f};
    memset(out, SENT, sizeof out);
    a = fin_args(2);
    a.num_rows = 2, a.k = 1, a.hidden = 2, a.expanded_rows = 2, a.x_dtype = MOEROUTE_DTYPE_FLOAT32;
    a.scales_dtype = (moeroute_dtype)77; /* not read without scales */
    a.expanded_x = xs, a.expanded_x_row_stride = 2, a.expanded_x_col_stride = 1, a.expanded_row_idx = rs;
    a.expert_idx = F_EIDX; /* without a bias: not read */
    a.out = out;
    CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_OK, "V2 bare: %s", msg());
    CHECK_F32(out, want_bare, 4, "V2 without optional arrays");

    /* fp16 steps (N = 1, K = 2, H = 2): x1 = [1024, .5], r0 = [.5, 2048], r1 = [.5, 1], bias [0, 1], scales [1, 1]
     *   col 0: 1024 + .5 -> 1024 (tie, even); again -> 1024                         -> 0x6400
     *   col 1: t = 2048 + 1 -> 2048 (tie); .5 + 2048 -> 2048; t = 1 + 1 = 2; 2050   -> 0x6801 */
    static const uint16_t hx[4] = {0x3800, 0x6800, 0x3800, 0x3C00}, hx1[2] = {0x6400, 0x3800};
    static const uint16_t hb[2] = {0x0000, 0x3C00}, hs[2] = {0x3C00, 0x3C00};
    static const int32_t hr[2] = {0, 1}, he[2] = {0, 0};
    static const uint16_t hwant[2] = {0x6400, 0x6801};
    uint16_t hout[2];
    for (int version = 1; version <= 2; version++) {
        memset(hout, SENT, sizeof hout);
        a = fin_args(version);
        a.num_rows = 1, a.k = 2, a.hidden = 2, a.expanded_rows = 2, a.num_experts = 1;
        a.x_dtype = a.scales_dtype = MOEROUTE_DTYPE_FLOAT16;
        a.expanded_x = hx, a.expanded_x_row_stride = 2, a.expanded_x_col_stride = 1, a.expanded_row_idx = hr;
        a.x1 = hx1, a.bias = hb, a.scales = hs, a.expert_idx = he, a.out = hout;
        if (version == 2) a.num_experts = 2; /* V2: E >= K; row 1 is never picked */
        static const uint16_t hb2[4] = {0x0000, 0x3C00, 0x7C00, 0x7C00};
        if (version == 2) a.bias = hb2;
        CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_OK, "fp16 steps version %d: %s", version, msg());
        CHECK_U16(hout, hwant, 2, "fp16 steps version %d (1024, 2050)", version);
    }

    /* bf16: x1 = [1, 1.0078125, -1], row [2^-8, 2^-8, -2^-8], bias 0, scale 1: the fp32 sums 1.00390625,
     * 1.01171875, -1.00390625 are bf16 ties. V1 stores ties away (3F81 3F82 BF81), V2 ties to even (3F80 3F82
     * BF80); V2 also with the scale as FLOAT32 */
    static const uint16_t bx1[3] = {0x3F80, 0x3F81, 0xBF80}, brow[3] = {0x3B80, 0x3B80, 0xBB80};
    static const uint16_t bbias[3] = {0, 0, 0}, bscale[1] = {0x3F80};
    static const float fscale[1] = {1.0f};
    static const int32_t br[1] = {0}, be[1] = {0};
    static const uint16_t want_v1[3] = {0x3F81, 0x3F82, 0xBF81}, want_v2[3] = {0x3F80, 0x3F82, 0xBF80};
    uint16_t bout[3];
    for (int c = 0; c < 3; c++) {
        memset(bout, SENT, sizeof bout);
        a = fin_args(c == 0 ? 1 : 2);
        a.num_rows = 1, a.k = 1, a.hidden = 3, a.expanded_rows = 1, a.num_experts = 1;
        a.x_dtype = a.scales_dtype = MOEROUTE_DTYPE_BFLOAT16;
        a.expanded_x = brow, a.expanded_x_row_stride = 3, a.expanded_x_col_stride = 1, a.expanded_row_idx = br;
        a.x1 = bx1, a.bias = bbias, a.scales = bscale, a.expert_idx = be, a.out = bout;
        if (c == 2) a.scales_dtype = MOEROUTE_DTYPE_FLOAT32, a.scales = fscale;
        CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_OK, "bf16 case %d: %s", c, msg());
        CHECK_U16(bout, c == 0 ? want_v1 : want_v2, 3, "bf16 store, case %d (V1 ties away, V2 ties to even)", c);
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* refusals                                                                                             */

static void expect_refused(const char *what, moeroute_status st, moeroute_status want, const void *out, size_t n,
                           const char *needle)
{
    const char *m = moeroute_error_message();
    CHECK(st == want, "%s: got %s, want %s (%s)", what, moeroute_status_string(st), moeroute_status_string(want),
          m ? m : "(no message)");
    CHECK(m && m[0], "%s: no message", what);
    if (needle && m) CHECK(strstr(m, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, m, needle);
    if (out) CHECK(mr_test_bytes_are(out, n, SENT), "%s: a refused call wrote its output", what);
}

static void test_unpermute_refusals(void)
{
    static const float tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, probs[4] = {.5f, .25f, 1, -1};
    static const int32_t idx[4] = {2, 0, 3, 1};
    float out[16];
    memset(out, SENT, sizeof out);
    moeroute_token_unpermute_args base = up_args(), a;
    base.num_tokens = 2, base.k = 2, base.hidden = 2, base.permuted_rows = 4;
    base.tokens_dtype = MOEROUTE_DTYPE_FLOAT32, base.permuted_tokens = tok, base.permuted_row_stride = 2;
    base.permuted_col_stride = 1, base.sorted_indices = idx;
    base.probs_dtype = MOEROUTE_DTYPE_FLOAT32, base.probs = probs, base.probs_row_stride = 2;
    base.probs_col_stride = 1, base.out = out;
    const size_t n = 4 * sizeof(float);

    expect_refused("args NULL", moeroute_token_unpermute(NULL, NULL), MOEROUTE_ERR_NULL_POINTER, NULL, 0, "args");
    a = base, a.struct_size = sizeof a - 8;
    expect_refused("struct_size", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_INVALID_ARGS_SIZE, out, n,
                   "struct_size");
    a = base, a.tokens_dtype = MOEROUTE_DTYPE_INT8;
    expect_refused("tokens int8", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_INVALID_DTYPE, out, n,
                   "tokens_dtype");
    a = base, a.probs_dtype = MOEROUTE_DTYPE_INT32;
    expect_refused("probs int32", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_INVALID_DTYPE, out, n,
                   "probs_dtype");
    a = base, a.hidden = -1;
    expect_refused("H < 0", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_INVALID_SHAPE, out, n, ">= 0");
    a = base, a.permuted_rows = -4;
    expect_refused("M < 0", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_INVALID_SHAPE, out, n, ">= 0");
    a = base, a.probs = NULL;
    expect_refused("k 2 without probs", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_INVALID_SHAPE, out, n,
                   "k must be 1");
    a = base, a.num_tokens = INT64_MAX / 2, a.k = 3;
    expect_refused("T*k overflows", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_TOO_LARGE, out, n, "T*k");
    a = base, a.permuted_tokens = NULL;
    expect_refused("tokens NULL", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_NULL_POINTER, out, n,
                   "permutedTokens");
    a = base, a.sorted_indices = NULL;
    expect_refused("indices NULL", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_NULL_POINTER, out, n,
                   "sortedIndices");
    a = base, a.out = NULL;
    expect_refused("out NULL", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_NULL_POINTER, NULL, 0, "out");
    /* a kept slot (prob .25 != 0) with a negative index: position t*k + j = 1 */
    static const int32_t bad[4] = {2, -1, 3, 1};
    a = base, a.sorted_indices = bad;
    expect_refused("negative kept index", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_INVALID_VALUE, out, n,
                   "sortedIndices[1]");
    /* out overlapping permuted_tokens */
    float buf[16];
    memcpy(buf, tok, sizeof tok);
    a = base, a.permuted_tokens = buf, a.out = buf + 6;
    CHECK(moeroute_token_unpermute(NULL, &a) == MOEROUTE_ERR_ALIASING, "aliasing: %s", msg());
    CHECK(!memcmp(buf, tok, sizeof tok), "aliasing: nothing written");
    /* a view whose extent overflows */
    a = base, a.permuted_row_stride = INT64_MAX / 2;
    expect_refused("stride overflow", moeroute_token_unpermute(NULL, &a), MOEROUTE_ERR_TOO_LARGE, out, n, NULL);
    /* no NPU capacity limit: k = 600 > 512 (the A2/A3 limit of the aclnn API) runs */
    enum { KB = 600 };
    static int32_t idx_big[KB];
    static float probs_big[KB];
    for (int j = 0; j < KB; j++) idx_big[j] = j % 4, probs_big[j] = 1.0f;
    float out_big[2];
    a = base, a.num_tokens = 1, a.k = KB, a.sorted_indices = idx_big, a.probs = probs_big;
    a.probs_row_stride = KB, a.probs_col_stride = 1, a.out = out_big;
    CHECK(moeroute_token_unpermute(NULL, &a) == MOEROUTE_OK, "k = 600: %s", msg());
    /* 150 * ([1,2] + [3,4] + [5,6] + [7,8]) = 150 * [16, 20] */
    static const float want_big[2] = {2400, 3000};
    CHECK_F32(out_big, want_big, 2, "k = 600 (no device limit in the native API)");
}

static void test_finalize_refusals(void)
{
    float out[4];
    memset(out, SENT, sizeof out);
    const size_t n = sizeof out;
    moeroute_finalize_routing_args a;
#define FIN(version, edit, want, needle, what)                                                               \
    do {                                                                                                     \
        a = problem_f(version, out);                                                                         \
        edit;                                                                                                \
        expect_refused(what, moeroute_finalize_routing(NULL, &a), want, out, n, needle);                     \
    } while (0)
    expect_refused("args NULL", moeroute_finalize_routing(NULL, NULL), MOEROUTE_ERR_NULL_POINTER, NULL, 0, "args");
    FIN(1, a.struct_size = 8, MOEROUTE_ERR_INVALID_ARGS_SIZE, "struct_size", "struct_size");
    FIN(1, a.version = 3, MOEROUTE_ERR_INVALID_SHAPE, "version", "version 3");
    FIN(1, a.version = 0, MOEROUTE_ERR_INVALID_SHAPE, "version", "version 0");
    FIN(1, a.x_dtype = MOEROUTE_DTYPE_INT32, MOEROUTE_ERR_INVALID_DTYPE, "x_dtype", "x int32");
    FIN(2, a.x_dtype = MOEROUTE_DTYPE_INT8, MOEROUTE_ERR_INVALID_DTYPE, "x_dtype", "V2 x int8");
    FIN(1, a.scales_dtype = MOEROUTE_DTYPE_FLOAT16, MOEROUTE_ERR_INVALID_DTYPE, "scales_dtype", "V1 scales fp16");
    FIN(2, a.scales_dtype = MOEROUTE_DTYPE_FLOAT16, MOEROUTE_ERR_INVALID_DTYPE, "scales_dtype", "V2 scales fp16");
    /* FLOAT32 scales with BFLOAT16 x: version 2 only */
    FIN(1, (a.x_dtype = MOEROUTE_DTYPE_BFLOAT16, a.scales_dtype = MOEROUTE_DTYPE_FLOAT32), MOEROUTE_ERR_INVALID_DTYPE,
        "scales_dtype", "V1 bf16 x with fp32 scales");
    FIN(1, a.num_rows = -1, MOEROUTE_ERR_INVALID_SHAPE, ">= 0", "N < 0");
    FIN(2, a.expanded_rows = -1, MOEROUTE_ERR_INVALID_SHAPE, ">= 0", "M < 0");
    FIN(1, a.drop_pad_mode = 1, MOEROUTE_ERR_INVALID_SHAPE, "drop_pad_mode", "V1 drop_pad_mode 1");
    FIN(2, a.drop_pad_mode = 4, MOEROUTE_ERR_INVALID_SHAPE, "drop_pad_mode", "V2 drop_pad_mode 4");
    FIN(2, a.drop_pad_mode = -1, MOEROUTE_ERR_INVALID_SHAPE, "drop_pad_mode", "V2 drop_pad_mode -1");
    FIN(1, (a.k = 0, a.num_rows = 2), MOEROUTE_ERR_INVALID_SHAPE, "K must be >= 1", "V1 K = 0");
    FIN(2, a.k = 0, MOEROUTE_ERR_INVALID_SHAPE, "K must be >= 1", "V2 K = 0 with scales");
    FIN(2, a.scales = NULL, MOEROUTE_ERR_INVALID_SHAPE, "K must be 1", "V2 K = 2 without scales");
    FIN(1, a.expanded_rows = 3, MOEROUTE_ERR_INVALID_SHAPE, "N*K", "V1 M < N*K");
    FIN(1, a.num_experts = 0, MOEROUTE_ERR_INVALID_SHAPE, "num_experts", "V1 E = 0");
    FIN(2, a.num_experts = 1, MOEROUTE_ERR_INVALID_SHAPE, "max(1, K)", "V2 E < K");
    FIN(2, (a.drop_pad_mode = 3, a.num_experts = 3), MOEROUTE_ERR_INVALID_SHAPE, "multiple", "drop: M % E != 0");
    FIN(2, a.expert_idx = NULL, MOEROUTE_ERR_NULL_POINTER, "expert_idx", "V2 bias without expert_idx");
    FIN(1, a.expert_idx = NULL, MOEROUTE_ERR_NULL_POINTER, "expandedExpertIdx", "V1 expert_idx NULL");
    FIN(1, a.x1 = NULL, MOEROUTE_ERR_NULL_POINTER, "x1", "V1 x1 NULL");
    FIN(1, a.bias = NULL, MOEROUTE_ERR_NULL_POINTER, "bias", "V1 bias NULL");
    FIN(1, a.scales = NULL, MOEROUTE_ERR_NULL_POINTER, "scales", "V1 scales NULL");
    FIN(2, a.expanded_x = NULL, MOEROUTE_ERR_NULL_POINTER, "expandedX", "expanded_x NULL");
    FIN(2, a.expanded_row_idx = NULL, MOEROUTE_ERR_NULL_POINTER, "expandedRowIdx", "row idx NULL");
    FIN(1, (a.num_rows = INT64_MAX / 2, a.k = 4), MOEROUTE_ERR_TOO_LARGE, "N*K", "N*K overflows");
    /* data: row index outside [0, M) (V1, position 2), -1 outside the drop modes, a value other than -1 below 0
     * in a drop mode, an expert id outside [0, E) in a kept slot */
    static const int32_t r_big[4] = {2, 0, 4, 1}, r_neg1[4] = {2, -1, 3, 1}, r_neg2[4] = {2, -2, 3, 1};
    static const int32_t e_bad[4] = {1, 0, 2, 1};
    FIN(1, a.expanded_row_idx = r_big, MOEROUTE_ERR_INVALID_VALUE, "expandedRowIdx[2]", "V1 row index 4 >= M");
    FIN(2, a.expanded_row_idx = r_neg1, MOEROUTE_ERR_INVALID_VALUE, "expandedRowIdx[1]", "V2 mode 0: -1");
    FIN(2, (a.drop_pad_mode = 1, a.expanded_row_idx = r_neg2), MOEROUTE_ERR_INVALID_VALUE, "expandedRowIdx[1]",
        "V2 mode 1: -2");
    FIN(1, a.expert_idx = e_bad, MOEROUTE_ERR_INVALID_VALUE, "expandedExpertIdx[1][0]", "V1 expert id 2 >= E");
    FIN(2, a.expert_idx = e_bad, MOEROUTE_ERR_INVALID_VALUE, "expertIdxOptional[1][0]", "V2 expert id 2 >= E");
#undef FIN
    /* an expert id in a dropped slot is not read: (1, 0) is dropped in mode 1 with index [2, -1, -1, 1] */
    static const int32_t r_drop[4] = {2, -1, -1, 1};
    static const int32_t e_dropped_bad[4] = {1, 0, 99, 1};
    a = problem_f(2, out), a.drop_pad_mode = 1, a.expanded_row_idx = r_drop, a.expert_idx = e_dropped_bad;
    CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_OK, "dropped slot's expert id is not read: %s", msg());
    /* out overlapping x1 */
    float buf[8];
    memcpy(buf, F_X1, sizeof F_X1);
    a = problem_f(1, buf + 2), a.x1 = buf;
    CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_ERR_ALIASING, "aliasing: %s", msg());
    CHECK(!memcmp(buf, F_X1, sizeof F_X1), "aliasing: nothing written");
    /* empty: N = 0 succeeds with NULL arrays; H = 0 still checks the indices */
    a = fin_args(1);
    a.k = 2, a.num_experts = 1, a.x_dtype = a.scales_dtype = MOEROUTE_DTYPE_FLOAT32;
    CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_OK, "N = 0: %s", msg());
    a = problem_f(1, NULL), a.hidden = 0, a.expanded_row_idx = r_big;
    CHECK(moeroute_finalize_routing(NULL, &a) == MOEROUTE_ERR_INVALID_VALUE, "H = 0 checks indices: %s", msg());
    (void)moeroute_error_message();
}

/* ---------------------------------------------------------------------------------------------------- */
/* native == aclnn on random inputs; identical bytes for 1..4 threads and every ISA level                */

enum { RN = 512, RK = 4, RH = 96, RE = 8, RC = 300, RPAD = 5 };
#define RL (RN * RK)
#define RROWS (RE * RC) /* rows of expanded_x: >= RL, and E*C in the drop modes */
#define RSTRIDE (RH + RPAD)

static uint16_t g_x16[RROWS * RSTRIDE], g_s16[RL], g_b16[RE * RH], g_x1_16[RN * RH], g_x2_16[RN * RH];
static float g_x32[RROWS * RSTRIDE], g_s32[RL], g_b32[RE * RH], g_x1_32[RN * RH], g_x2_32[RN * RH];
static int32_t g_ridx[RROWS], g_eidx[RL];

/* one random case of one operator */
typedef struct rcase {
    int op;          /* 0 unpermute, 1 V1, 2 V2 */
    moeroute_dtype xdt, sdt;
    int mode;        /* V2 drop_pad_mode */
    int has_x1, has_x2, has_bias, has_scales;
} rcase;

static const void *pick_x(moeroute_dtype dt) { return dt == MOEROUTE_DTYPE_FLOAT32 ? (const void *)g_x32 : g_x16; }
static const void *pick(moeroute_dtype dt, const float *f, const uint16_t *h)
{
    return dt == MOEROUTE_DTYPE_FLOAT32 ? (const void *)f : (const void *)h;
}
static size_t esz(moeroute_dtype dt) { return dt == MOEROUTE_DTYPE_FLOAT32 ? 4 : 2; }

/* rows of expanded_x / permuted_tokens: unpermute M = T*k + T*k/8; V1 and the drop modes E*C; dropless N*K */
static int64_t rows_of(const rcase *c)
{
    return c->op == 0 ? RL + RL / 8 : c->op == 1 ? RROWS : (c->mode % 2 ? RROWS : RL);
}

static moeroute_status run_native(const rcase *c, moeroute_context *ctx, void *out)
{
    memset(out, SENT, (size_t)RN * RH * 4);
    if (c->op == 0) {
        moeroute_token_unpermute_args a = up_args();
        a.num_tokens = RN, a.k = c->has_scales ? RK : 1, a.hidden = RH, a.permuted_rows = rows_of(c);
        a.tokens_dtype = c->xdt, a.permuted_tokens = pick_x(c->xdt), a.permuted_row_stride = RSTRIDE;
        a.permuted_col_stride = 1, a.sorted_indices = g_ridx;
        if (c->has_scales) {
            a.probs_dtype = c->sdt, a.probs = pick(c->sdt, g_s32, g_s16), a.probs_row_stride = RK;
            a.probs_col_stride = 1;
        }
        a.out = out;
        return moeroute_token_unpermute(ctx, &a);
    }
    moeroute_finalize_routing_args a = fin_args(c->op);
    a.drop_pad_mode = c->mode, a.num_rows = RN, a.k = c->has_scales ? RK : 1, a.hidden = RH;
    a.expanded_rows = rows_of(c), a.num_experts = RE, a.x_dtype = c->xdt, a.scales_dtype = c->sdt;
    a.expanded_x = pick_x(c->xdt), a.expanded_x_row_stride = RSTRIDE, a.expanded_x_col_stride = 1;
    a.expanded_row_idx = g_ridx;
    if (c->has_x1) a.x1 = pick(c->xdt, g_x1_32, g_x1_16);
    if (c->has_x2) a.x2 = pick(c->xdt, g_x2_32, g_x2_16);
    if (c->has_bias) a.bias = pick(c->xdt, g_b32, g_b16), a.expert_idx = g_eidx;
    if (c->has_scales) a.scales = pick(c->sdt, g_s32, g_s16);
    a.out = out;
    return moeroute_finalize_routing(ctx, &a);
}

static aclTensor *tensor2(moeroute_dtype dt, int64_t d0, int64_t d1, int64_t s0, const void *data)
{
    const int64_t dims[2] = {d0, d1}, strides[2] = {s0, 1};
    const int64_t storage = d0 > 0 ? (d0 - 1) * s0 + d1 : 0;
    return aclCreateTensor(dims, 2, (aclDataType)dt, strides, 0, ACL_FORMAT_ND, &storage, 1, (void *)(uintptr_t)data);
}

static aclTensor *tensor1(int64_t d0, const int32_t *data)
{
    return aclCreateTensor(&d0, 1, ACL_INT32, NULL, 0, ACL_FORMAT_ND, &d0, 1, (void *)(uintptr_t)data);
}

static aclnnStatus run_aclnn(const rcase *c, void *out)
{
    memset(out, SENT, (size_t)RN * RH * 4);
    const int64_t K = c->has_scales ? RK : 1, M = rows_of(c);
    aclTensor *t[8] = {NULL};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st;
    aclTensor *ex = tensor2(c->xdt, M, RH, RSTRIDE, pick_x(c->xdt));
    aclTensor *o = tensor2(c->xdt, RN, RH, RH, out);
    if (c->op == 0) {
        t[0] = tensor1(RN * K, g_ridx);
        t[1] = c->has_scales ? tensor2(c->sdt, RN, RK, RK, pick(c->sdt, g_s32, g_s16)) : NULL;
        st = aclnnMoeTokenUnpermuteGetWorkspaceSize(ex, t[0], t[1], false, NULL, o, &ws, &exe);
        if (st == ACLNN_SUCCESS) st = aclnnMoeTokenUnpermute(NULL, ws, exe, NULL);
    } else {
        t[0] = tensor1(c->op == 1 ? M : RN * K, g_ridx);
        t[1] = c->has_x1 ? tensor2(c->xdt, RN, RH, RH, pick(c->xdt, g_x1_32, g_x1_16)) : NULL;
        t[2] = c->has_x2 ? tensor2(c->xdt, RN, RH, RH, pick(c->xdt, g_x2_32, g_x2_16)) : NULL;
        t[3] = c->has_bias ? tensor2(c->xdt, RE, RH, RH, pick(c->xdt, g_b32, g_b16)) : NULL;
        t[4] = c->has_scales ? tensor2(c->sdt, RN, RK, RK, pick(c->sdt, g_s32, g_s16)) : NULL;
        t[5] = c->has_bias ? tensor2(MOEROUTE_DTYPE_INT32, RN, K, K, g_eidx) : NULL;
        if (c->op == 1) {
            st = aclnnMoeFinalizeRoutingGetWorkspaceSize(ex, t[1], t[2], t[3], t[4], t[0], t[5], o, &ws, &exe);
            if (st == ACLNN_SUCCESS) st = aclnnMoeFinalizeRouting(NULL, ws, exe, NULL);
        } else {
            if (c->mode % 2) { /* drop modes: expandedX [E, C, H] */
                aclDestroyTensor(ex);
                const int64_t dims[3] = {RE, RC, RH}, strides[3] = {(int64_t)RC * RSTRIDE, RSTRIDE, 1};
                const int64_t storage = (int64_t)(RROWS - 1) * RSTRIDE + RH;
                ex = aclCreateTensor(dims, 3, (aclDataType)c->xdt, strides, 0, ACL_FORMAT_ND, &storage, 1,
                                     (void *)(uintptr_t)pick_x(c->xdt));
            }
            st = aclnnMoeFinalizeRoutingV2GetWorkspaceSize(ex, t[0], t[1], t[2], t[3], t[4], t[5], c->mode, o, &ws,
                                                           &exe);
            if (st == ACLNN_SUCCESS) st = aclnnMoeFinalizeRoutingV2(NULL, ws, exe, NULL);
        }
    }
    for (int i = 0; i < 8; i++) aclDestroyTensor(t[i]);
    aclDestroyTensor(ex), aclDestroyTensor(o);
    return st;
}

/* finite random values of the dtype (fp16 / bf16 bits with the exponent kept away from inf and NaN) */
static uint16_t rand_half(uint64_t *rng, int bf16)
{
    uint16_t b = (uint16_t)mr_test_rand(rng);
    if (bf16) return (uint16_t)((b & 0x807Fu) | (uint16_t)((0x70u + (b >> 7) % 24u) << 7)); /* |x| in [2^-15, 2^9) */
    return (uint16_t)((b & 0x83FFu) | (uint16_t)((4u + (b >> 10) % 20u) << 10));            /* |x| in [2^-11, 2^9) */
}

static void fill(uint64_t *rng, moeroute_dtype xdt, moeroute_dtype sdt, int op, int mode, int has_scales)
{
    const int bf = xdt == MOEROUTE_DTYPE_BFLOAT16, sbf = sdt == MOEROUTE_DTYPE_BFLOAT16;
    for (size_t i = 0; i < (size_t)RROWS * RSTRIDE; i++) {
        g_x16[i] = rand_half(rng, bf);
        g_x32[i] = (float)((int64_t)(mr_test_rand(rng) % 20001) - 10000) / 64.0f;
    }
    for (size_t i = 0; i < (size_t)RN * RH; i++) {
        g_x1_16[i] = rand_half(rng, bf), g_x2_16[i] = rand_half(rng, bf);
        g_x1_32[i] = (float)((int64_t)(mr_test_rand(rng) % 2001) - 1000) / 8.0f;
        g_x2_32[i] = (float)((int64_t)(mr_test_rand(rng) % 2001) - 1000) / 16.0f;
    }
    for (size_t i = 0; i < (size_t)RE * RH; i++) {
        g_b16[i] = rand_half(rng, bf);
        g_b32[i] = (float)((int64_t)(mr_test_rand(rng) % 201) - 100) / 32.0f;
    }
    const int64_t K = has_scales ? RK : 1;
    for (size_t i = 0; i < (size_t)RL; i++) {
        uint64_t r = mr_test_rand(rng);
        g_s16[i] = r % 9 == 0 ? (uint16_t)(r % 2 ? 0x8000u : 0) : rand_half(rng, sbf); /* some +-0 probs */
        g_s32[i] = r % 9 == 0 ? (r % 2 ? -0.0f : 0.0f) : (float)((int64_t)(r % 4001) - 2000) / 1024.0f;
        g_eidx[i] = (int32_t)(mr_test_rand(rng) % RE);
    }
    const int64_t slots = op == 2 || op == 0 ? RN * K : RROWS;
    for (int64_t p = 0; p < slots; p++) {
        uint64_t r = mr_test_rand(rng);
        if (op == 0) {
            /* indices up to M + M/8: some skipped (>= M); -1 only where the prob is +-0 (skipped too) */
            const int64_t M = RL + RL / 8;
            g_ridx[p] = (int32_t)(r % (uint64_t)(M + M / 8));
            const int zero = sdt == MOEROUTE_DTYPE_FLOAT32 ? g_s32[p] == 0.0f : (g_s16[p] & 0x7FFFu) == 0;
            if (has_scales && zero && r % 3 == 0) g_ridx[p] = -1;
        } else if (op == 2 && mode % 2) {
            g_ridx[p] = r % 5 == 0 ? -1 : (int32_t)(r % RROWS);
        } else {
            g_ridx[p] = (int32_t)(r % (uint64_t)(op == 1 ? RROWS : RL));
        }
    }
}

static void test_random(uint64_t *rng)
{
    static const moeroute_dtype fl[3] = {MOEROUTE_DTYPE_FLOAT16, MOEROUTE_DTYPE_BFLOAT16, MOEROUTE_DTYPE_FLOAT32};
    static const int isas[] = {MOEROUTE_ISA_SCALAR, MOEROUTE_ISA_AVX2, MOEROUTE_ISA_AVX512, MOEROUTE_ISA_NEON};
    rcase cases[64];
    int nc = 0;
    for (int d = 0; d < 3; d++) {
        /* unpermute: probs of each float type, and without probs */
        for (int p = 0; p < 3; p++) cases[nc++] = (rcase){0, fl[d], fl[(d + p) % 3], 0, 0, 0, 0, 1};
        cases[nc++] = (rcase){0, fl[d], fl[d], 0, 0, 0, 0, 0};
        /* V1 with and without x2 */
        cases[nc++] = (rcase){1, fl[d], fl[d], 0, 1, 1, 1, 1};
        cases[nc++] = (rcase){1, fl[d], fl[d], 0, 1, 0, 1, 1};
        /* V2: every mode, optional arguments in several combinations */
        for (int mode = 0; mode < 4; mode++) {
            cases[nc++] = (rcase){2, fl[d], fl[d], mode, 1, 1, 1, 1};
            cases[nc++] = (rcase){2, fl[d], fl[d], mode, mode % 2, !(mode % 2), 0, 1};
            cases[nc++] = (rcase){2, fl[d], fl[d], mode, 0, 0, mode >= 2, 0};
        }
    }
    cases[nc++] = (rcase){2, MOEROUTE_DTYPE_BFLOAT16, MOEROUTE_DTYPE_FLOAT32, 0, 1, 0, 1, 1};
    cases[nc++] = (rcase){2, MOEROUTE_DTYPE_BFLOAT16, MOEROUTE_DTYPE_FLOAT32, 3, 0, 1, 1, 1};

    void *ref = malloc((size_t)RN * RH * 4), *got = malloc((size_t)RN * RH * 4);
    moeroute_context *ctxs[4 * 4] = {NULL};
    int nctx = 0;
    for (int t = 1; t <= 4; t++)
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
            moeroute_options opt = {t, isas[i]};
            CHECK(moeroute_context_create(&opt, &ctxs[nctx]) == MOEROUTE_OK, "context %d threads", t);
            nctx++;
        }
    for (int ci = 0; ci < nc; ci++) {
        const rcase *c = &cases[ci];
        fill(rng, c->xdt, c->sdt, c->op, c->mode, c->has_scales);
        const size_t bytes = (size_t)RN * RH * esz(c->xdt);
        aclnnStatus ast = run_aclnn(c, ref);
        CHECK(ast == ACLNN_SUCCESS, "case %d (op %d mode %d dtype %d): aclnn %d: %s", ci, c->op, c->mode, (int)c->xdt,
              (int)ast, aclGetRecentErrMsg());
        moeroute_status st = run_native(c, NULL, got);
        CHECK(st == MOEROUTE_OK && !memcmp(ref, got, bytes), "case %d (op %d mode %d dtype %d scales %d): native "
              "(NULL context) differs from aclnn (%s)", ci, c->op, c->mode, (int)c->xdt, (int)c->sdt,
              st == MOEROUTE_OK ? "same status" : msg());
        for (int i = 0; i < nctx; i++) {
            st = run_native(c, ctxs[i], got);
            CHECK(st == MOEROUTE_OK && !memcmp(ref, got, bytes), "case %d (op %d mode %d): context %d threads, isa "
                  "%s differs", ci, c->op, c->mode, (int)moeroute_context_threads(ctxs[i]),
                  moeroute_isa_name(moeroute_context_isa(ctxs[i])));
        }
    }
    for (int i = 0; i < nctx; i++) moeroute_context_destroy(ctxs[i]);
    free(ref), free(got);
}

static void test_layouts(void)
{
    size_t count = 0, size = 0;
    const moeroute_field *f = moeroute_struct_layout("moeroute_token_unpermute_args", &count, &size);
    CHECK(f && count == 15 && size == sizeof(moeroute_token_unpermute_args), "unpermute layout (%zu fields)", count);
    CHECK(f && !strcmp(f[count - 1].name, "out") && f[count - 1].offset == offsetof(moeroute_token_unpermute_args, out),
          "unpermute layout: out last");
    f = moeroute_struct_layout("moeroute_finalize_routing_args", &count, &size);
    CHECK(f && count == 20 && size == sizeof(moeroute_finalize_routing_args), "finalize layout (%zu fields)", count);
    CHECK(f && !strcmp(f[1].name, "version") && f[1].kind == MOEROUTE_FIELD_INT32, "finalize layout: version");
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    test_layouts();
    test_unpermute_values();
    test_finalize_values();
    test_unpermute_refusals();
    test_finalize_refusals();
    test_random(&rng);
    return mr_test_finish();
}
