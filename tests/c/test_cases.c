/* Hand-worked cases: every expected value below was worked out by hand from the spec (section 1), not
 * computed by the library. Run once per ISA level (MOEROUTE_ISA). */
#include <stdlib.h>
#include <string.h>

#include "moeroute.h"
#include "routing_fixture.h"
#include "harness.h"

#define LEN(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

static int eq_i32(const int32_t *a, const int32_t *b, int64_t n) { return memcmp(a, b, (size_t)n * 4) == 0; }

/* Spec 1.5: the documented example. */
static void test_documented_example(void)
{
    const float x[12] = {.1f, .1f, .1f, .1f, .2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f};
    const int32_t expert[6] = {1, 2, 0, 1, 0, 2};
    const int32_t rows[6] = {0, 3, 1, 4, 2, 5};
    const int32_t want_eexp[6] = {0, 0, 1, 1, 2, 2};
    const int32_t want_erow[6] = {2, 0, 1, 4, 3, 5};
    int8_t ex[24];
    int32_t erow[6], eexp[6];
    memset(ex, 0x55, sizeof ex);
    aclnnStatus st = fx_run(1, ACL_FLOAT, x, rows, expert, 3, 2, 4, 3, 1.0, 1.0, ex, erow, eexp);
    CHECK(st == ACLNN_SUCCESS, "status %d: %s", st, aclGetRecentErrMsg());
    CHECK(eq_i32(eexp, want_eexp, 6), "expandedExpertIdx");
    CHECK(eq_i32(erow, want_erow, 6), "expandedRowIdx");
    int ones = 1;
    for (int i = 0; i < 24; i++) ones &= ex[i] == 1;
    CHECK(ones, "expandedX must be 24 ones");

    /* activeNum 1: A = 2 rows; the sources are sortedRowIdx[0..1] mod 3 = rows 1 and 2 -> still ones */
    int8_t ex2[8 + 4];
    memset(ex2, 0x55, sizeof ex2);
    st = fx_run(1, ACL_FLOAT, x, rows, expert, 3, 2, 4, 1, 1.0, 1.0, ex2, erow, eexp);
    CHECK(st == ACLNN_SUCCESS, "activeNum 1: status %d", st);
    CHECK(eq_i32(erow, want_erow, 6) && eq_i32(eexp, want_eexp, 6), "activeNum 1 keeps the full index outputs");
    int ok = 1;
    for (int i = 0; i < 8; i++) ok &= ex2[i] == 1;
    for (int i = 8; i < 12; i++) ok &= ex2[i] == 0x55;
    CHECK(ok, "activeNum 1 writes exactly 2 rows");

    /* activeNum 0: no rows, indices still computed; activeNum huge: clamped to N */
    memset(erow, 0, sizeof erow);
    st = fx_run(1, ACL_FLOAT, x, rows, expert, 3, 2, 4, 0, 1.0, 1.0, NULL, erow, eexp);
    CHECK(st == ACLNN_SUCCESS && eq_i32(erow, want_erow, 6), "activeNum 0: status %d", st);
    memset(ex, 0, sizeof ex);
    st = fx_run(1, ACL_FLOAT, x, rows, expert, 3, 2, 4, INT64_MAX, 1.0, 1.0, ex, erow, eexp);
    ok = st == ACLNN_SUCCESS;
    for (int i = 0; i < 24; i++) ok &= ex[i] == 1;
    CHECK(ok, "activeNum INT64_MAX is clamped to N: status %d", st);

    /* The copy operator: rows of x in sorted order, sources [1, 2, 0, 1, 0, 2], bit for bit */
    float fx_out[24];
    st = fx_run(0, ACL_FLOAT, x, rows, expert, 3, 2, 4, 3, 0, 0, fx_out, erow, eexp);
    CHECK(st == ACLNN_SUCCESS, "copy op status %d", st);
    const int src[6] = {1, 2, 0, 1, 0, 2};
    ok = 1;
    for (int i = 0; i < 6; i++) ok &= memcmp(&fx_out[i * 4], &x[src[i] * 4], 16) == 0;
    CHECK(ok && eq_i32(erow, want_erow, 6) && eq_i32(eexp, want_eexp, 6), "copy op rows");
}

/* Quantization of single fp16 values with scale 1, offset 0 unless stated: ties to even, saturation,
 * inf and NaN. fp16 bit patterns are written out by hand. */
static void test_quant_values(void)
{
    struct { uint16_t x; double scale, offset; int8_t want; const char *what; } c[] = {
        {0x3800, 1, 0, 0, "0.5 -> 0 (tie to even)"},
        {0x3E00, 1, 0, 2, "1.5 -> 2"},
        {0x4100, 1, 0, 2, "2.5 -> 2"},
        {0x4300, 1, 0, 4, "3.5 -> 4"},
        {0xB800, 1, 0, 0, "-0.5 -> 0"},
        {0xBE00, 1, 0, -2, "-1.5 -> -2"},
        {0x57F8, 1, 0, 127, "127.5 -> 128 -> saturates to 127"},
        {0xD804, 1, 0, -128, "-128.5 -> -128"},
        {0x5CB0, 1, 0, 127, "300 -> 127"},
        {0xDCB0, 1, 0, -128, "-300 -> -128"},
        {0x7C00, 1, 0, 127, "+inf -> 127"},
        {0xFC00, 1, 0, -128, "-inf -> -128"},
        {0x7E00, 1, 0, 0, "NaN -> 0"},
        {0x7C00, 0, 0, 0, "inf * 0 = NaN -> 0"},
        {0x7B53, 2, 0, 127, "60000 * 2 overflows fp16 to inf -> 127"},
        {0x3C00, 1, -70000, -128, "offset -70000 becomes -inf in fp16 -> -128"},
        {0x3C00, 1, 1e300, 127, "offset 1e300 -> float inf -> fp16 inf -> 127"},
        {0x0001, 1, 0, 0, "smallest subnormal -> 0"},
        {0x4900, 1, 0.5, 10, "10 + 0.5 = 10.5 -> 10"},
        {0x4900, -1, 0.5, -10, "-10 + 0.5 = -9.5 -> -10"},
        /* scale 1 + 2^-11 + 2^-40: double -> fp16 directly gives 1 + 2^-10, but double -> float drops 2^-40
         * and float -> fp16 is then a tie that rounds to 1.0 (decision 1). 64 * 1 + 0.5 = 64.5 -> 64;
         * the one-rounding chain would give 64.0625 + 0.5 = 64.5625 -> 65. */
        {0x5400, 1.0 + 0x1p-11 + 0x1p-40, 0.5, 64, "double->float->fp16 scale (two roundings)"},
        /* 100 * 1.3 = 130 -> 127; scale 0.01: fp16(0.01) = 0.010002136, 100 * that = 1.0002 -> 1 */
        {0x5640, 1.3, 0, 127, "100 * 1.3 saturates"},
        {0x5640, 0.01, 0, 1, "100 * 0.01"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int32_t expert = 0, row = 0, erow, eexp;
        int8_t out = 0x33;
        aclnnStatus st = fx_run(1, ACL_FLOAT16, &c[i].x, &row, &expert, 1, 1, 1, 1, c[i].scale, c[i].offset, &out,
                                &erow, &eexp);
        CHECK(st == ACLNN_SUCCESS && out == c[i].want, "%s: got %d, status %d", c[i].what, out, st);
    }
}

/* f32 and bf16 inputs are first rounded to fp16: 3.4996f -> fp16 3.5 -> 4 (plain float math would say 3). */
static void test_input_conversion(void)
{
    const float xf[4] = {3.4996f, 2.4996f, 65520.0f, -1e-30f};
    const int8_t want_f[4] = {4, 2, 127, 0};
    /* bf16: 0x4060 = 3.5 -> 4, 0x4020 = 2.5 -> 2, 0x4780 = 65536 (fp16 inf) -> 127, 0xFFC0 = NaN -> 0 */
    const uint16_t xb[4] = {0x4060, 0x4020, 0x4780, 0xFFC0};
    const int8_t want_b[4] = {4, 2, 127, 0};
    int32_t expert = 7, row = 0, erow, eexp;
    int8_t out[4];
    aclnnStatus st = fx_run(1, ACL_FLOAT, xf, &row, &expert, 1, 1, 4, 1, 1.0, 0.0, out, &erow, &eexp);
    CHECK(st == ACLNN_SUCCESS && memcmp(out, want_f, 4) == 0, "f32 input: %d %d %d %d", out[0], out[1], out[2],
          out[3]);
    st = fx_run(1, ACL_BF16, xb, &row, &expert, 1, 1, 4, 1, 1.0, 0.0, out, &erow, &eexp);
    CHECK(st == ACLNN_SUCCESS && memcmp(out, want_b, 4) == 0, "bf16 input: %d %d %d %d", out[0], out[1], out[2],
          out[3]);
    CHECK(eexp == 7 && erow == 0, "single element indices");
}

/* Ties keep the smaller flat position first; negative and extreme ids sort by exact value. */
static void test_sort_order(void)
{
    /* all experts equal: the order is the flat order, so expandedRowIdx[rowIdx[f]] = f */
    const int32_t expert[6] = {4, 4, 4, 4, 4, 4};
    const int32_t rows[6] = {5, 0, 3, 1, 4, 2};
    const float x[3] = {1, 2, 3};
    int32_t erow[6], eexp[6];
    float out[6];
    aclnnStatus st = fx_run(0, ACL_FLOAT, x, rows, expert, 3, 2, 1, 3, 0, 0, out, erow, eexp);
    const int32_t want_erow[6] = {1, 3, 5, 2, 4, 0};
    /* sources: rows[f] mod 3 for f = 0..5 = 2, 0, 0, 1, 1, 2 */
    const float want_out[6] = {3, 1, 1, 2, 2, 3};
    CHECK(st == ACLNN_SUCCESS && eq_i32(erow, want_erow, 6) && memcmp(out, want_out, sizeof out) == 0,
          "ties keep flat order");

    /* ids INT32_MIN, -3, 5, INT32_MAX (range beyond the counting sort: the radix path), canonical rowIdx */
    const int32_t e2[4] = {5, -3, INT32_MAX, INT32_MIN};
    const int32_t r2[4] = {0, 2, 1, 3}; /* canonical: rowIdx[r][j] = j*N + r with N = 2 */
    const int32_t want_eexp[4] = {INT32_MIN, -3, 5, INT32_MAX};
    const int32_t want_erow2[4] = {2, 3, 1, 0};
    const uint16_t x2[2] = {0x3C00, 0x4000}; /* 1.0, 2.0 */
    uint16_t out2[4];
    int32_t erow2[4], eexp2[4];
    st = fx_run(0, ACL_FLOAT16, x2, r2, e2, 2, 2, 1, 2, 0, 0, out2, erow2, eexp2);
    const uint16_t want_out2[4] = {0x4000, 0x3C00, 0x3C00, 0x4000}; /* sources 1, 0, 0, 1 */
    CHECK(st == ACLNN_SUCCESS && eq_i32(eexp2, want_eexp, 4) && eq_i32(erow2, want_erow2, 4) &&
              memcmp(out2, want_out2, sizeof out2) == 0,
          "extreme ids");
}

/* Wide random ids (radix path) and narrow ones (counting path) against an insertion sort written here. */
static void test_sort_random(uint64_t *seed)
{
    for (int round = 0; round < 6; round++) {
        int64_t n = 1 + (int64_t)(mr_test_rand(seed) % 700), k = 1 + (int64_t)(mr_test_rand(seed) % 5);
        int64_t L = n * k;
        int32_t *e = malloc((size_t)L * 4), *r = malloc((size_t)L * 4), *erow = malloc((size_t)L * 4);
        int32_t *eexp = malloc((size_t)L * 4), *perm = malloc((size_t)L * 4);
        for (int64_t f = 0; f < L; f++) {
            uint64_t v = mr_test_rand(seed);
            e[f] = round % 2 ? (int32_t)(uint32_t)(v >> 32) % 50000 * (int32_t)(v % 3 == 0 ? 1 : 40000)
                             : (int32_t)(v % 9) - 4;
            r[f] = (int32_t)f;
            perm[f] = (int32_t)f;
        }
        for (int64_t i = 1; i < L; i++) { /* stable insertion sort of positions by id */
            int32_t p = perm[i];
            int64_t j = i - 1;
            while (j >= 0 && e[perm[j]] > e[p]) {
                perm[j + 1] = perm[j];
                j--;
            }
            perm[j + 1] = p;
        }
        aclnnStatus st = fx_run(1, ACL_FLOAT, NULL, r, e, n, k, 0, n, 1, 0, NULL, erow, eexp);
        int ok = st == ACLNN_SUCCESS;
        for (int64_t i = 0; ok && i < L; i++) ok = eexp[i] == e[perm[i]] && erow[perm[i]] == i;
        CHECK(ok, "random sort round %d (n=%lld k=%lld): status %d", round, (long long)n, (long long)k, st);
        free(e), free(r), free(erow), free(eexp), free(perm);
    }
}

/* Empty tensors succeed and do only what is defined. */
static void test_empty(void)
{
    int32_t dummy = 0;
    aclnnStatus st = fx_run(1, ACL_FLOAT16, NULL, NULL, NULL, 0, 8, 16, 4, 1, 0, NULL, NULL, NULL);
    CHECK(st == ACLNN_SUCCESS, "N = 0: %d %s", st, aclGetRecentErrMsg());
    st = fx_run(1, ACL_FLOAT16, &dummy, NULL, NULL, 2, 0, 1, 4, 1, 0, NULL, NULL, NULL);
    CHECK(st == ACLNN_SUCCESS, "K = 0: %d %s", st, aclGetRecentErrMsg());
    const int32_t e[4] = {3, 1, 2, 0}, r[4] = {0, 2, 1, 3};
    int32_t erow[4], eexp[4];
    st = fx_run(1, ACL_BF16, NULL, r, e, 2, 2, 0, 2, 1, 0, NULL, erow, eexp);
    const int32_t want_eexp[4] = {0, 1, 2, 3}, want_erow[4] = {3, 2, 1, 0};
    /* f sorted: 3 (id 0), 1 (id 1), 2 (id 2), 0 (id 3); erow[r[f]] = i: erow[3]=0, erow[2]=1, erow[1]=2, erow[0]=3 */
    CHECK(st == ACLNN_SUCCESS && eq_i32(eexp, want_eexp, 4) && eq_i32(erow, want_erow, 4), "H = 0: %d", st);
}

/* Strided input views give the same bytes as contiguous ones: x padded rows, x column-major, transposed
 * index storage, negative strides. */
static void test_views(void)
{
    const float x[12] = {.1f, .1f, .1f, .1f, .2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f};
    const int32_t expert[6] = {1, 2, 0, 1, 0, 2};
    const int32_t rows[6] = {0, 3, 1, 4, 2, 5};
    int8_t ref[24], out[24];
    int32_t ref_erow[6], ref_eexp[6], erow[6], eexp[6];
    aclnnStatus st = fx_run(1, ACL_FLOAT, x, rows, expert, 3, 2, 4, 3, 4.0, -0.25, ref, ref_erow, ref_eexp);
    CHECK(st == ACLNN_SUCCESS, "reference run");

    float padded[3 * 6], colmajor[12], reversed[12];
    int32_t expert_t[6], rows_rev[6];
    for (int r = 0; r < 3; r++)
        for (int h = 0; h < 4; h++) {
            padded[r * 6 + h] = x[r * 4 + h];
            colmajor[h * 3 + r] = x[r * 4 + h];
            reversed[(2 - r) * 4 + h] = x[r * 4 + h];
        }
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < 2; j++) {
            expert_t[j * 3 + r] = expert[r * 2 + j];
            rows_rev[(2 - r) * 2 + j] = rows[r * 2 + j];
        }
    struct { const char *name; float *xd; int64_t xs[2], xoff, xstore; int32_t *ed; int64_t es[2];
             int32_t *rd; int64_t rs[2], roff; } v[] = {
        {"padded rows", padded, {6, 1}, 0, 18, (int32_t *)expert, {2, 1}, (int32_t *)rows, {2, 1}, 0},
        {"column-major x, transposed expertIdx", colmajor, {1, 3}, 0, 12, expert_t, {1, 3}, (int32_t *)rows, {2, 1}, 0},
        {"negative row strides", reversed, {-4, 1}, 8, 12, (int32_t *)expert, {2, 1}, rows_rev, {-2, 1}, 4},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int64_t xdims[2] = {3, 4}, idims[2] = {3, 2}, xstore[1] = {v[i].xstore}, istore[1] = {6};
        aclTensor *tx = aclCreateTensor(xdims, 2, ACL_FLOAT, v[i].xs, v[i].xoff, ACL_FORMAT_ND, xstore, 1, v[i].xd);
        aclTensor *te = aclCreateTensor(idims, 2, ACL_INT32, v[i].es, 0, ACL_FORMAT_ND, istore, 1, v[i].ed);
        aclTensor *tr = aclCreateTensor(idims, 2, ACL_INT32, v[i].rs, v[i].roff, ACL_FORMAT_ND, istore, 1, v[i].rd);
        aclTensor *tex = fx_tensor(ACL_INT8, 6, 4, out);
        aclTensor *ter = fx_tensor(ACL_INT32, 6, -1, erow);
        aclTensor *tee = fx_tensor(ACL_INT32, 6, -1, eexp);
        st = fx_run_tensors(1, tx, tr, te, 3, 4.0, -0.25, tex, ter, tee);
        CHECK(st == ACLNN_SUCCESS && memcmp(out, ref, 24) == 0 && eq_i32(erow, ref_erow, 6) &&
                  eq_i32(eexp, ref_eexp, 6),
              "view %s: status %d %s", v[i].name, st, st ? aclGetRecentErrMsg() : "");
        aclDestroyTensor(tx), aclDestroyTensor(te), aclDestroyTensor(tr);
        aclDestroyTensor(tex), aclDestroyTensor(ter), aclDestroyTensor(tee);
    }
}

/* The native API gives the same bytes as the aclnn API, for any thread count (decision 9). */
static void test_native_threads(uint64_t *seed)
{
    const int64_t n = 301, k = 6, h = 517, L = n * k, active = 250;
    uint16_t *x = malloc((size_t)(n * h) * 2);
    int32_t *e = malloc((size_t)L * 4), *r = malloc((size_t)L * 4);
    int8_t *ref = malloc((size_t)(active * k * h)), *out = malloc((size_t)(active * k * h));
    int32_t *ref_erow = malloc((size_t)L * 4), *ref_eexp = malloc((size_t)L * 4);
    int32_t *erow = malloc((size_t)L * 4), *eexp = malloc((size_t)L * 4);
    for (int64_t i = 0; i < n * h; i++) x[i] = (uint16_t)mr_test_rand(seed);
    for (int64_t f = 0; f < L; f++) {
        e[f] = (int32_t)(mr_test_rand(seed) % 40);
        r[f] = (int32_t)f;
    }
    for (int64_t f = L - 1; f > 0; f--) { /* random permutation */
        int64_t g = (int64_t)(mr_test_rand(seed) % (uint64_t)(f + 1));
        int32_t t = r[f];
        r[f] = r[g];
        r[g] = t;
    }
    aclnnStatus st = fx_run(1, ACL_FLOAT16, x, r, e, n, k, h, active, 0.37, -3.0, ref, ref_erow, ref_eexp);
    CHECK(st == ACLNN_SUCCESS, "aclnn reference: %d", st);
    for (int threads = 1; threads <= 4; threads++) {
        moeroute_options opt = {threads, MOEROUTE_ISA_AUTO};
        moeroute_context *ctx = NULL;
        CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context");
        moeroute_init_routing_args a = {sizeof(moeroute_init_routing_args), n, k, h, active, MOEROUTE_DTYPE_FLOAT16, x, h, 1, e, k, 1, r, k, 1,
                                        MOEROUTE_DTYPE_INT8, 0.37, -3.0, out, erow, eexp};
        memset(out, 0, (size_t)(active * k * h));
        moeroute_status ms = moeroute_init_routing(ctx, &a);
        CHECK(ms == MOEROUTE_OK && memcmp(out, ref, (size_t)(active * k * h)) == 0 &&
                  eq_i32(erow, ref_erow, L) && eq_i32(eexp, ref_eexp, L),
              "native with %d threads: %s", threads, moeroute_status_string(ms));
        moeroute_context_destroy(ctx);
    }
    free(x), free(e), free(r), free(ref), free(out), free(ref_erow), free(ref_eexp), free(erow), free(eexp);
}

/* Property check of a routing result: eexp and erow describe a stable ascending order of the ids. */
static int is_stable_routing(const int32_t *keys, const int32_t *rows, const int32_t *erow, const int32_t *eexp,
                             int64_t L)
{
    int32_t *pos = malloc((size_t)L * 4);
    int ok = pos != NULL;
    for (int64_t i = 0; ok && i < L; i++) pos[i] = -1;
    for (int64_t f = 0; ok && f < L; f++) {
        int32_t i = erow[rows[f]];
        ok = i >= 0 && i < L && pos[i] == -1 && eexp[i] == keys[f];
        if (ok) pos[i] = (int32_t)f;
    }
    for (int64_t i = 1; ok && i < L; i++)
        ok = keys[pos[i - 1]] < keys[pos[i]] || (keys[pos[i - 1]] == keys[pos[i]] && pos[i - 1] < pos[i]);
    free(pos);
    return ok;
}

/* Large L so the counting sort runs in parallel chunks: narrow ids (parallel counting), ids spanning 65536
 * values (one chunk), full int32 range (radix). Every thread count gives the same stable order. */
static void test_sort_parallel(uint64_t *seed)
{
    const int64_t n = 8192, k = 8, L = n * k;
    int32_t *keys = malloc((size_t)L * 4), *rows = malloc((size_t)L * 4);
    int32_t *erow = malloc((size_t)L * 4), *eexp = malloc((size_t)L * 4);
    int32_t *ref_erow = malloc((size_t)L * 4), *ref_eexp = malloc((size_t)L * 4);
    const uint32_t spans[3] = {256, 65536, 0};
    for (int v = 0; v < 3; v++) {
        for (int64_t f = 0; f < L; f++) {
            uint64_t r = mr_test_rand(seed);
            keys[f] = spans[v] ? (int32_t)(r % spans[v]) - 100 : (int32_t)(uint32_t)(r >> 32);
            rows[f] = (int32_t)f;
        }
        for (int threads = 1; threads <= 4; threads++) {
            moeroute_options opt = {threads, MOEROUTE_ISA_AUTO};
            moeroute_context *ctx = NULL;
            moeroute_status st = moeroute_context_create(&opt, &ctx);
            moeroute_init_routing_args a = {sizeof(moeroute_init_routing_args), n, k, 0, n, MOEROUTE_DTYPE_FLOAT32, NULL, 0, 1, keys, k, 1, rows, k, 1,
                                            MOEROUTE_DTYPE_INT8, 1, 0, NULL, erow, eexp};
            if (st == MOEROUTE_OK) st = moeroute_init_routing(ctx, &a);
            moeroute_context_destroy(ctx);
            if (threads == 1) {
                CHECK(st == MOEROUTE_OK && is_stable_routing(keys, rows, erow, eexp, L), "span %u: stable order",
                      spans[v]);
                memcpy(ref_erow, erow, (size_t)L * 4);
                memcpy(ref_eexp, eexp, (size_t)L * 4);
            } else {
                CHECK(st == MOEROUTE_OK && eq_i32(erow, ref_erow, L) && eq_i32(eexp, ref_eexp, L),
                      "span %u: %d threads equal 1 thread", spans[v], threads);
            }
        }
    }
    free(keys), free(rows), free(erow), free(eexp), free(ref_erow), free(ref_eexp);
}

int main(int argc, char **argv)
{
    uint64_t seed = mr_test_seed(argc, argv);
    test_documented_example();
    test_quant_values();
    test_input_conversion();
    test_sort_order();
    test_sort_random(&seed);
    test_empty();
    test_views();
    test_native_threads(&seed);
    test_sort_parallel(&seed);
    return mr_test_finish();
}
