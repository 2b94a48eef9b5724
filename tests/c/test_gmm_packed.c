/* Packed grouped-matmul weights (moeroute_grouped_matmul_pack_weights / _packed / moeroute_gmm_weights_*;
 * docs/operators/grouped_matmul.md "Packed weights"): for every dtype row of the MoE subset (float with and
 * without bias, int8 to int32, int8 with per-channel and per-token scales, int8 FRACTAL_NZ weights, an [E, N, K]
 * weight read transposed), the packed call gives moeroute_grouped_matmul's bytes with the original weights, on
 * 1 thread and on 3 without AMX, twice in a row (nothing in the packed form is consumed), and leaves the rows past the last
 * group alone. Refusals: NULL weights, packed for other E / K / N / dtype or other kernels (a scalar context,
 * MOEROUTE_AMX=0 after packing on AMX) -- each with its status, a message and the output untouched. And the AMX
 * tiles are asked of the OS by int8 plans only. Run once per forced ISA level by CTest. */
#define _DEFAULT_SOURCE /* setenv, syscall */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__) && defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "common/fp16.h"
#include "harness.h"
#include "moeroute.h"

enum { M = 300, N = 100, E = 3 };
static const int64_t counts[E] = {200, 0, 90}; /* rows 290.. are past the last group */

typedef struct row {
    moeroute_dtype x, out, scale; /* scale: its dtype when has_scale */
    int has_scale, bias, per_token, nz, transposed;
    int64_t k;
} row;

static size_t dsize(moeroute_dtype t)
{
    return t == MOEROUTE_DTYPE_INT8 ? 1u : t == MOEROUTE_DTYPE_FLOAT32 || t == MOEROUTE_DTYPE_INT32 ? 4u : 2u;
}

/* n random finite values of type t (int8: the whole range; floats: moderate, sign random). */
static void fill(moeroute_dtype t, void *p, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        const uint64_t r = mr_test_rand(rng);
        const float f = ((float)(r >> 40) / 16777216.0f - 0.5f) * 4.0f;
        uint16_t h;
        switch (t) {
        case MOEROUTE_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)(r >> 56); break;
        case MOEROUTE_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)(r >> 40) - (1 << 23); break;
        case MOEROUTE_DTYPE_FLOAT16: h = mr_f32_to_f16(f); memcpy((char *)p + 2 * i, &h, 2); break;
        case MOEROUTE_DTYPE_BFLOAT16: h = mr_f32_to_bf16(f); memcpy((char *)p + 2 * i, &h, 2); break;
        default: memcpy((char *)p + 4 * i, &f, 4); break;
        }
    }
}

typedef struct problem {
    row r;
    void *x, *w, *bias, *scale, *out_want, *out_got;
    float *pts;
    size_t out_bytes;
    moeroute_grouped_matmul_args a;
} problem;

static void problem_make(problem *p, const row *r, uint64_t *rng)
{
    memset(p, 0, sizeof *p);
    p->r = *r;
    const int64_t K = r->k, K1 = (K + 15) / 16, N1 = (N + 31) / 32;
    const size_t xs = dsize(r->x), wbytes = r->nz ? (size_t)(E * N1 * K1 * 512) : (size_t)(E * K * N) * xs;
    p->x = malloc((size_t)(M * K) * xs);
    p->w = calloc(1, wbytes);
    fill(r->x, p->x, (size_t)(M * K), rng);
    fill(r->x, p->w, wbytes / xs, rng); /* NZ: the padding gets values too, which no result may depend on */
    p->out_bytes = (size_t)(M * N) * dsize(r->out);
    p->out_want = malloc(p->out_bytes);
    p->out_got = malloc(p->out_bytes);
    const moeroute_dtype bt = r->x == MOEROUTE_DTYPE_INT8 ? MOEROUTE_DTYPE_INT32
                              : r->x == MOEROUTE_DTYPE_FLOAT16 ? MOEROUTE_DTYPE_FLOAT16 : MOEROUTE_DTYPE_FLOAT32;
    if (r->bias) p->bias = malloc((size_t)(E * N) * dsize(bt)), fill(bt, p->bias, (size_t)(E * N), rng);
    if (r->has_scale) p->scale = malloc((size_t)(E * N) * dsize(r->scale)), fill(r->scale, p->scale, (size_t)(E * N), rng);
    if (r->per_token) p->pts = malloc(sizeof(float) * M), fill(MOEROUTE_DTYPE_FLOAT32, p->pts, M, rng);
    moeroute_grouped_matmul_args a = {
        .struct_size = sizeof a, .num_rows = M, .k = K, .n = N, .num_experts = E, .x_dtype = r->x, .x = p->x,
        .x_row_stride = K, .x_col_stride = 1, .weight = p->w, .weight_expert_stride = K * N,
        .weight_k_stride = r->transposed ? 1 : N, .weight_n_stride = r->transposed ? K : 1, .group_list_type = 1,
        .num_groups = E, .group_list = counts, .bias = p->bias, .scale_dtype = r->scale, .scale = p->scale,
        .per_token_scale = p->pts, .out_dtype = r->out, .weight_format = r->nz ? 29 : 0,
    };
    p->a = a;
}

static void problem_free(problem *p)
{
    free(p->x), free(p->w), free(p->bias), free(p->scale), free(p->pts), free(p->out_want), free(p->out_got);
}

static void test_rows(uint64_t *rng)
{
    const moeroute_dtype F16 = MOEROUTE_DTYPE_FLOAT16, BF16 = MOEROUTE_DTYPE_BFLOAT16, F32 = MOEROUTE_DTYPE_FLOAT32,
                         I8 = MOEROUTE_DTYPE_INT8, I32 = MOEROUTE_DTYPE_INT32;
    /* int8 K = 1100: one whole k block of 1024 and a tail (4096 with AMX: one partial block) */
    const row rows[] = {
        {BF16, BF16, F32, 0, 0, 0, 0, 0, 300}, {BF16, BF16, F32, 0, 1, 0, 0, 1, 300},
        {F16, F16, F32, 0, 1, 0, 0, 0, 77},    {F32, F32, F32, 0, 0, 0, 0, 0, 260},
        {I8, I32, F32, 0, 1, 0, 0, 0, 1100},   {I8, BF16, BF16, 1, 0, 1, 0, 0, 1100},
        {I8, F16, F32, 1, 0, 0, 1, 0, 200},    {I8, I32, F32, 0, 0, 0, 0, 1, 130},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        problem p;
        problem_make(&p, &rows[i], rng);
        for (int threads = 1; threads <= 3; threads += 2) {
            /* 3 threads without AMX tiles (MOEROUTE_AMX=0): on AMX machines the int8 rows then take the VNNI
             * kernel, whose packed form also holds the weights' column sums */
            if (threads == 3) setenv("MOEROUTE_AMX", "0", 1);
            const moeroute_options opt = {threads, MOEROUTE_ISA_AUTO};
            moeroute_context *ctx = NULL;
            CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context");
            memset(p.out_want, 0xA5, p.out_bytes);
            p.a.out = p.out_want;
            CHECK(moeroute_grouped_matmul(ctx, &p.a) == MOEROUTE_OK, "row %zu: unpacked call: %s", i,
                  moeroute_error_message());
            moeroute_gmm_weights *w = NULL;
            CHECK(moeroute_grouped_matmul_pack_weights(ctx, &p.a, &w) == MOEROUTE_OK && w, "row %zu: pack: %s", i,
                  moeroute_error_message());
            CHECK(moeroute_gmm_weights_bytes(w) >= (size_t)(E * rows[i].k * N), "row %zu: packed bytes %zu", i,
                  moeroute_gmm_weights_bytes(w));
            moeroute_grouped_matmul_args b = p.a;
            b.weight = NULL; /* not read */
            for (int rep = 0; rep < 2; rep++) {
                memset(p.out_got, 0xA5, p.out_bytes);
                b.out = p.out_got;
                CHECK(moeroute_grouped_matmul_packed(ctx, &b, w) == MOEROUTE_OK, "row %zu: packed call: %s", i,
                      moeroute_error_message());
                CHECK(!memcmp(p.out_got, p.out_want, p.out_bytes), "row %zu (x %d, out %d, nz %d, transposed %d), "
                      "%d threads, call %d: packed weights give the unpacked call's bytes", i, (int)rows[i].x,
                      (int)rows[i].out, rows[i].nz, rows[i].transposed, threads, rep + 1);
            }
            CHECK(mr_test_bytes_are((char *)p.out_got + 290 * N * dsize(rows[i].out), 10 * N * dsize(rows[i].out),
                                    0xA5), "row %zu: rows past the last group untouched", i);
            moeroute_gmm_weights_destroy(w);
            moeroute_context_destroy(ctx);
        }
        unsetenv("MOEROUTE_AMX");
        problem_free(&p);
    }
}

/* A refused packed call: its status, a message naming the API, the output untouched. */
static void expect_refused(moeroute_context *ctx, const moeroute_grouped_matmul_args *a, const moeroute_gmm_weights *w,
                           moeroute_status want, const char *what)
{
    memset(a->out, 0x5A, (size_t)(M * N) * dsize(a->out_dtype));
    const moeroute_status st = moeroute_grouped_matmul_packed(ctx, a, w);
    CHECK(st == want, "%s: status %d, want %d (%s)", what, (int)st, (int)want, moeroute_error_message());
    CHECK(strstr(moeroute_error_message(), "moeroute_grouped_matmul_packed") != NULL, "%s: message names the API: %s",
          what, moeroute_error_message());
    CHECK(mr_test_bytes_are(a->out, (size_t)(M * N) * dsize(a->out_dtype), 0x5A), "%s: output untouched", what);
}

static void test_refusals(uint64_t *rng)
{
    const row r = {MOEROUTE_DTYPE_INT8, MOEROUTE_DTYPE_INT32, MOEROUTE_DTYPE_FLOAT32, 0, 0, 0, 0, 0, 64};
    problem p;
    problem_make(&p, &r, rng);
    p.a.out = p.out_got;
    moeroute_context *ctx = NULL;
    CHECK(moeroute_context_create(NULL, &ctx) == MOEROUTE_OK, "context");
    moeroute_gmm_weights *w = NULL;
    CHECK(moeroute_grouped_matmul_pack_weights(ctx, &p.a, &w) == MOEROUTE_OK, "pack: %s", moeroute_error_message());
    expect_refused(ctx, &p.a, NULL, MOEROUTE_ERR_NULL_POINTER, "weights NULL");
    CHECK(moeroute_grouped_matmul_pack_weights(ctx, &p.a, NULL) == MOEROUTE_ERR_NULL_POINTER, "pack into NULL");
    moeroute_grouped_matmul_args b = p.a;
    b.num_experts = E - 1, b.num_groups = E - 1;
    expect_refused(ctx, &b, w, MOEROUTE_ERR_INVALID_VALUE, "other E");
    b = p.a, b.k = 63, b.x_row_stride = 63;
    expect_refused(ctx, &b, w, MOEROUTE_ERR_INVALID_VALUE, "other K");
    b = p.a, b.n = N - 1;
    expect_refused(ctx, &b, w, MOEROUTE_ERR_INVALID_VALUE, "other N");
    b = p.a, b.x_dtype = MOEROUTE_DTYPE_FLOAT16, b.out_dtype = MOEROUTE_DTYPE_FLOAT16;
    expect_refused(ctx, &b, w, MOEROUTE_ERR_INVALID_VALUE, "other dtype");
    /* other kernels: a scalar context (unless this machine's best is scalar too), AMX switched off after packing */
    const moeroute_options scalar = {1, MOEROUTE_ISA_SCALAR};
    moeroute_context *sctx = NULL;
    CHECK(moeroute_context_create(&scalar, &sctx) == MOEROUTE_OK, "scalar context");
    if (moeroute_context_isa(ctx) != MOEROUTE_ISA_SCALAR)
        expect_refused(sctx, &p.a, w, MOEROUTE_ERR_INVALID_VALUE, "packed for SIMD kernels, run on scalar ones");
    setenv("MOEROUTE_AMX", "0", 1);
    moeroute_gmm_weights *w2 = NULL;
    CHECK(moeroute_grouped_matmul_pack_weights(ctx, &p.a, &w2) == MOEROUTE_OK, "pack without AMX");
    unsetenv("MOEROUTE_AMX");
    /* the same kernels unless this machine has AMX: then the call refuses; either way no wrong bytes */
    memset(p.out_want, 0x5A, p.out_bytes);
    p.a.out = p.out_want;
    const moeroute_status st = moeroute_grouped_matmul_packed(ctx, &p.a, w2);
    CHECK(st == MOEROUTE_OK || (st == MOEROUTE_ERR_INVALID_VALUE && mr_test_bytes_are(p.out_want, p.out_bytes, 0x5A)),
          "packed without AMX, run with it allowed: %d (%s)", (int)st, moeroute_error_message());
    if (st == MOEROUTE_OK) { /* no AMX here: both packings are the same kernels' and give the same bytes */
        memset(p.out_got, 0x5A, p.out_bytes);
        p.a.out = p.out_got;
        CHECK(moeroute_grouped_matmul_packed(ctx, &p.a, w) == MOEROUTE_OK, "packed call");
        CHECK(!memcmp(p.out_want, p.out_got, p.out_bytes), "both packings give the same bytes");
    }
    moeroute_gmm_weights_destroy(w2);
    moeroute_gmm_weights_destroy(w);
    moeroute_gmm_weights_destroy(NULL);
    CHECK(moeroute_gmm_weights_bytes(NULL) == 0, "bytes of NULL");
    moeroute_context_destroy(sctx);
    moeroute_context_destroy(ctx);
    problem_free(&p);
}

/* Two application threads, each with its own 2-thread context, run calls on one packed form at once (TSan runs
 * this file): both get the single-threaded bytes. */
typedef struct shared_call {
    moeroute_grouped_matmul_args a;
    const moeroute_gmm_weights *w;
    moeroute_status st;
} shared_call;

static void *shared_main(void *p)
{
    shared_call *c = p;
    const moeroute_options opt = {2, MOEROUTE_ISA_AUTO};
    moeroute_context *ctx = NULL;
    c->st = moeroute_context_create(&opt, &ctx);
    for (int i = 0; i < 3 && c->st == MOEROUTE_OK; i++) c->st = moeroute_grouped_matmul_packed(ctx, &c->a, c->w);
    moeroute_context_destroy(ctx);
    return NULL;
}

static void test_shared(uint64_t *rng)
{
    const row r = {MOEROUTE_DTYPE_INT8, MOEROUTE_DTYPE_INT32, MOEROUTE_DTYPE_FLOAT32, 0, 1, 0, 0, 0, 300};
    problem p;
    problem_make(&p, &r, rng);
    memset(p.out_want, 0x33, p.out_bytes);
    p.a.out = p.out_want;
    CHECK(moeroute_grouped_matmul(NULL, &p.a) == MOEROUTE_OK, "reference: %s", moeroute_error_message());
    moeroute_gmm_weights *w = NULL;
    CHECK(moeroute_grouped_matmul_pack_weights(NULL, &p.a, &w) == MOEROUTE_OK, "pack");
    char *other = malloc(p.out_bytes);
    shared_call calls[2] = {{p.a, w, MOEROUTE_OK}, {p.a, w, MOEROUTE_OK}};
    calls[0].a.out = p.out_got, calls[1].a.out = other;
    memset(p.out_got, 0x33, p.out_bytes), memset(other, 0x33, p.out_bytes);
    pthread_t t;
    const int started = pthread_create(&t, NULL, shared_main, &calls[1]) == 0;
    shared_main(&calls[0]);
    if (started) pthread_join(t, NULL);
    CHECK(started && calls[0].st == MOEROUTE_OK && calls[1].st == MOEROUTE_OK, "both threads ran (%d, %d)",
          (int)calls[0].st, (int)calls[1].st);
    CHECK(!memcmp(p.out_got, p.out_want, p.out_bytes) && !memcmp(other, p.out_want, p.out_bytes),
          "one packed form used by two threads at once gives the reference bytes to both");
    free(other);
    moeroute_gmm_weights_destroy(w);
    problem_free(&p);
}

/* moeroute_grouped_matmul_swiglu_quant_packed: weights packed by moeroute_grouped_matmul_pack_weights (from ND and
 * from FRACTAL_NZ storage) give the unpacked call's output and output scales byte for byte, with and without AMX;
 * packed for another K it refuses with the outputs untouched. */
static void test_swiglu_quant(uint64_t *rng)
{
    enum { SM = 120, SK = 1100, SN = 64, SE = 3 };
    static const int64_t ends[SE] = {50, 50, 110}; /* rows 110.. are not written */
    int8_t *x = malloc(SM * SK), *w = malloc(SE * SK * SN);
    float *ws = malloc(sizeof(float) * SE * SN), *xs = malloc(sizeof(float) * SM);
    int8_t *y1 = malloc(SM * SN / 2), *y2 = malloc(SM * SN / 2);
    float *s1 = malloc(sizeof(float) * SM), *s2 = malloc(sizeof(float) * SM);
    fill(MOEROUTE_DTYPE_INT8, x, SM * SK, rng);
    fill(MOEROUTE_DTYPE_INT8, w, SE * SK * SN, rng);
    for (int i = 0; i < SE * SN; i++) ws[i] = 1e-4f * (float)(1 + i % 7);
    for (int i = 0; i < SM; i++) xs[i] = 1e-3f * (float)(1 + i % 5);
    moeroute_grouped_matmul_swiglu_quant_args a = {
        .struct_size = sizeof a, .num_rows = SM, .k = SK, .n = SN, .num_experts = SE, .x = x, .x_row_stride = SK,
        .x_col_stride = 1, .weight = w, .weight_expert_stride = SK * SN, .weight_k_stride = SN, .weight_n_stride = 1,
        .weight_scale_dtype = MOEROUTE_DTYPE_FLOAT32, .weight_scale = ws, .x_scale = xs, .num_groups = SE,
        .group_list = ends, .output = y1, .output_scale = s1};
    moeroute_grouped_matmul_args g = {.struct_size = sizeof g, .k = SK, .n = SN, .num_experts = SE,
                                      .x_dtype = MOEROUTE_DTYPE_INT8, .weight = w, .weight_expert_stride = SK * SN,
                                      .weight_k_stride = SN, .weight_n_stride = 1};
    for (int amx = 1; amx >= 0; amx--) {
        if (!amx) setenv("MOEROUTE_AMX", "0", 1);
        memset(y1, 0x11, SM * SN / 2), memset(s1, 0x22, sizeof(float) * SM);
        a.output = y1, a.output_scale = s1, a.weight = w;
        CHECK(moeroute_grouped_matmul_swiglu_quant(NULL, &a) == MOEROUTE_OK, "unpacked: %s", moeroute_error_message());
        moeroute_gmm_weights *pw = NULL;
        CHECK(moeroute_grouped_matmul_pack_weights(NULL, &g, &pw) == MOEROUTE_OK, "pack: %s", moeroute_error_message());
        memset(y2, 0x11, SM * SN / 2), memset(s2, 0x22, sizeof(float) * SM);
        a.output = y2, a.output_scale = s2, a.weight = NULL;
        CHECK(moeroute_grouped_matmul_swiglu_quant_packed(NULL, &a, pw) == MOEROUTE_OK, "packed: %s",
              moeroute_error_message());
        CHECK(!memcmp(y1, y2, SM * SN / 2) && !memcmp(s1, s2, sizeof(float) * SM),
              "swiglu-quant on packed weights (AMX %s) gives the unpacked bytes", amx ? "allowed" : "off");
        moeroute_gmm_weights_destroy(pw);
        /* packed from the FRACTAL_NZ storage of the same weights */
        const size_t k1 = (SK + 15) / 16, n1 = (SN + 31) / 32;
        int8_t *nz = calloc(SE * n1 * k1 * 512, 1);
        for (size_t e = 0; e < SE; e++)
            for (size_t k = 0; k < SK; k++)
                for (size_t n = 0; n < SN; n++)
                    nz[(((e * n1 + n / 32) * k1 + k / 16) * 16 + k % 16) * 32 + n % 32] = w[(e * SK + k) * SN + n];
        moeroute_grouped_matmul_args gz = g;
        gz.weight = nz, gz.weight_format = 29;
        CHECK(moeroute_grouped_matmul_pack_weights(NULL, &gz, &pw) == MOEROUTE_OK, "pack NZ: %s",
              moeroute_error_message());
        memset(y2, 0x11, SM * SN / 2), memset(s2, 0x22, sizeof(float) * SM);
        CHECK(moeroute_grouped_matmul_swiglu_quant_packed(NULL, &a, pw) == MOEROUTE_OK, "packed NZ: %s",
              moeroute_error_message());
        CHECK(!memcmp(y1, y2, SM * SN / 2) && !memcmp(s1, s2, sizeof(float) * SM),
              "swiglu-quant on weights packed from NZ storage (AMX %s) gives the unpacked bytes", amx ? "on" : "off");
        moeroute_gmm_weights_destroy(pw);
        free(nz);
    }
    unsetenv("MOEROUTE_AMX");
    moeroute_grouped_matmul_args gk = g;
    gk.k = SK - 1;
    moeroute_gmm_weights *pk = NULL;
    CHECK(moeroute_grouped_matmul_pack_weights(NULL, &gk, &pk) == MOEROUTE_OK, "pack K-1");
    memset(y2, 0x11, SM * SN / 2), memset(s2, 0x22, sizeof(float) * SM);
    CHECK(moeroute_grouped_matmul_swiglu_quant_packed(NULL, &a, pk) == MOEROUTE_ERR_INVALID_VALUE &&
              mr_test_bytes_are(y2, SM * SN / 2, 0x11) && mr_test_bytes_are(s2, sizeof(float) * SM, 0x22),
          "swiglu-quant refuses weights packed for another K, outputs untouched (%s)", moeroute_error_message());
    CHECK(moeroute_grouped_matmul_swiglu_quant_packed(NULL, &a, NULL) == MOEROUTE_ERR_NULL_POINTER, "NULL weights");
    moeroute_gmm_weights_destroy(pk);
    free(x), free(w), free(ws), free(xs), free(y1), free(y2), free(s1), free(s2);
}

/* The AMX tiles are asked of the OS by the first int8 plan that could use them, never by a float one (the
 * request changes the whole process: docs/operators/grouped_matmul.md "AMX"). Runs first, in a fresh process. */
static void test_amx_permission(void)
{
#if defined(__linux__) && defined(__x86_64__) && defined(SYS_arch_prctl)
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, 0x1022 /* ARCH_GET_XCOMP_PERM */, &perm) != 0) return; /* a kernel before 5.16 */
    if (perm >> 18 & 1u) return; /* granted before this test ran: nothing to observe */
    unsigned a, b, c, d;
    const int amx = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 24 & 3u) == 3u;
    int8_t x8[4] = {1, 2, 3, 4}, w8[4] = {1, 1, 1, 1};
    int32_t o8[2];
    float xf[2] = {1, 2}, wf[2] = {3, 4}, of[1];
    moeroute_grouped_matmul_args fa = {.struct_size = sizeof fa, .num_rows = 1, .k = 2, .n = 1, .num_experts = 1,
                                       .x_dtype = MOEROUTE_DTYPE_FLOAT32, .x = xf, .x_row_stride = 2,
                                       .x_col_stride = 1, .weight = wf, .weight_expert_stride = 2,
                                       .weight_k_stride = 1, .weight_n_stride = 1,
                                       .out_dtype = MOEROUTE_DTYPE_FLOAT32, .out = of};
    CHECK(moeroute_grouped_matmul(NULL, &fa) == MOEROUTE_OK && of[0] == 11.0f, "float call: %s",
          moeroute_error_message());
    CHECK(syscall(SYS_arch_prctl, 0x1022, &perm) == 0 && !(perm >> 18 & 1u),
          "a float grouped matmul did not ask for the AMX tiles");
    moeroute_grouped_matmul_args ia = fa;
    ia.x_dtype = MOEROUTE_DTYPE_INT8, ia.x = x8, ia.weight = w8, ia.out_dtype = MOEROUTE_DTYPE_INT32, ia.out = o8;
    ia.k = 4, ia.x_row_stride = 4, ia.weight_expert_stride = 4;
    CHECK(moeroute_grouped_matmul(NULL, &ia) == MOEROUTE_OK && o8[0] == 10, "int8 call: %s", moeroute_error_message());
    const char *off = getenv("MOEROUTE_AMX"), *isa = getenv("MOEROUTE_ISA");
    const int capped = isa && (!strcmp(isa, "scalar") || !strcmp(isa, "avx2") || !strcmp(isa, "neon"));
    const int wanted = amx && !(off && !strcmp(off, "0")) && !capped && moeroute_detected_isa() == MOEROUTE_ISA_AVX512;
    CHECK(syscall(SYS_arch_prctl, 0x1022, &perm) == 0 && (int)(perm >> 18 & 1u) == wanted,
          "after an int8 grouped matmul the AMX tiles are %s (CPU has them: %d)", wanted ? "granted" : "not asked for",
          amx);
#endif
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    test_amx_permission();
    test_rows(&rng);
    test_refusals(&rng);
    test_swiglu_quant(&rng);
    test_shared(&rng);
    return mr_test_finish();
}
