/* GroupedMatmulSwigluQuant: a hand-worked problem through aclnnGroupedMatmulSwigluQuant (NZ-tagged weight),
 * aclnnGroupedMatmulSwigluQuantWeightNZ (NZ buffer tagged ND) and the native API (ND strided and NZ weights),
 * every refusal of layer spec 9.4 (status, phase, message, untouched outputs), the unwritten rows of decision 13
 * and the FRACTAL_NZ weight of aclnnGroupedMatmulV4 (spec 8.2).
 *
 * Problem S: M = 3, K = 2, N = 4 (halves of 2), E = 2, groupList cumsum [1, 2] (row 2 past the last group).
 *   x = [[127, 1], [3, -1], [5, 5]],  xScale = [.5, .25, 1]
 *   W0 = [[0, 0, 1, 51], [64, 64, 0, 18]],  W1 = [[-128, 100, 7, -3], [16, -20, 1, -1]]
 *   wScale = [[1, 1, 1, 1/64], [2, .5, 1, 1]]
 *   row 0 (W0): a = [64, 64, 127, 127*51 + 18 = 6495];  c = a * .5 * wScale[0] = [32, 32, 63.5, 50.7421875]
 *     s = [silu(32) * 63.5, silu(32) * 50.7421875] = [2032, 1623.75]  (silu(32) = 32 / (1 + e^-32) -> 32.0f)
 *     qs = 2032 / 127 = 16, inv = 1/16;  s * inv = [127, 101.484375];  fp16(101.484375) = 101.5 (spacing 1/16)
 *     -> int8 102 (tie to even) -- rounding 101.484375 directly would give 101: the double rounding of 9.3
 *   row 1 (W1): a = [-384 - 16, 300 + 20, 21 - 1, -9 + 1] = [-400, 320, 20, -8]
 *     c = a * .25 * wScale[1] = [-200, 40, 5, -2];  s = [silu(-200) * 5, silu(40) * -2] = [-0, -80]
 *     qs = f32(80 / 127) = 0x3F214285, inv = f32(1 / qs) = 1.5875f;  -80 * inv = -127  ->  [0, -127]
 *   row 2: not written.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_grouped_matmul_swiglu_quant.h"
#include "aclnnop/aclnn_grouped_matmul_swiglu_quant_weight_nz.h"
#include "aclnnop/aclnn_grouped_matmul_v4.h"
#include "harness.h"
#include "moeroute.h"

enum { M = 3, K = 2, N = 4, E = 2, H = N / 2, NZ_BYTES = E * 512 };

static const int8_t S_X[M * K] = {127, 1, 3, -1, 5, 5};
static const int8_t S_W[E * K * N] = {0, 0, 1, 51, 64, 64, 0, 18, -128, 100, 7, -3, 16, -20, 1, -1};
static const float S_WS[E * N] = {1, 1, 1, 1.0f / 64, 2, .5f, 1, 1};
static const float S_XS[M] = {.5f, .25f, 1};
static const int64_t S_GL[2] = {1, 2};
static const int8_t WANT_Y[2 * H] = {127, 102, 0, -127};
static const uint32_t WANT_SCALE[2] = {0x41800000u, 0x3F214285u}; /* 16, f32(80/127) */

/* The NZ bytes of an [e, k, n] int8 weight (layer spec 8.1), written from the index map, zero padding. */
static void nz_pack(const int8_t *w, int64_t e, int64_t k, int64_t n, int8_t *dst)
{
    const int64_t n1 = (n + 31) / 32, k1 = (k + 15) / 16;
    memset(dst, 0, (size_t)(e * n1 * k1 * 512));
    for (int64_t i = 0; i < e; i++)
        for (int64_t r = 0; r < k; r++)
            for (int64_t c = 0; c < n; c++)
                dst[(((i * n1 + c / 32) * k1 + r / 16) * 16 + r % 16) * 32 + c % 32] = w[(i * k + r) * n + c];
}

/* One call: tensors described by tspecs; the weight is made here from its view / storage dims and format. */
typedef struct gsq_call {
    tspec x, wscale, xscale, gl, out, oscale, bias, offset, ooffset;
    const void *w;
    uint32_t w_rank, w_srank;
    int64_t w_dims[5], w_sdims[5];
    aclDataType w_dt;
    aclFormat w_fmt;
    int nz_api; /* 1: aclnnGroupedMatmulSwigluQuantWeightNZ */
} gsq_call;

static int8_t g_nz[NZ_BYTES];

static gsq_call problem_s(int8_t *y, float *scale, int nz_api)
{
    gsq_call c;
    memset(&c, 0, sizeof c);
    nz_pack(S_W, E, K, N, g_nz);
    c.x = T2(ACL_INT8, M, K, S_X);
    c.wscale = T2(ACL_FLOAT, E, N, S_WS);
    c.xscale = T1(ACL_FLOAT, M, S_XS);
    c.gl = T1(ACL_INT64, 2, S_GL);
    c.out = T2(ACL_INT8, M, H, y);
    c.oscale = T1(ACL_FLOAT, M, scale);
    c.bias = c.offset = c.ooffset = TNULL;
    c.w = g_nz;
    c.w_rank = 3, c.w_srank = 5;
    const int64_t d[3] = {E, K, N}, sd[5] = {E, 1, 1, 16, 32};
    memcpy(c.w_dims, d, sizeof d);
    memcpy(c.w_sdims, sd, sizeof sd);
    c.w_dt = ACL_INT8;
    c.w_fmt = nz_api ? ACL_FORMAT_ND : ACL_FORMAT_FRACTAL_NZ; /* WeightNZ reads NZ whatever the tag */
    c.nz_api = nz_api;
    return c;
}

static aclnnStatus run_gsq(const gsq_call *c)
{
    int64_t st[5];
    contiguous_strides(c->w_dims, c->w_rank, st);
    aclTensor *w = c->w_rank ? aclCreateTensor(c->w_dims, c->w_rank, c->w_dt, st, 0, c->w_fmt, c->w_sdims,
                                               c->w_srank, (void *)(uintptr_t)c->w)
                             : NULL;
    aclTensor *t[9] = {mk(c->x), mk(c->wscale), mk(c->xscale), mk(c->gl), mk(c->out), mk(c->oscale), mk(c->bias),
                       mk(c->offset), mk(c->ooffset)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus s = (c->nz_api ? aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize
                               : aclnnGroupedMatmulSwigluQuantGetWorkspaceSize)(t[0], w, t[6], t[7], t[1], t[2], t[3],
                                                                               t[4], t[5], t[8], &ws, &exe);
    s = finish(s, c->nz_api ? aclnnGroupedMatmulSwigluQuantWeightNZ : aclnnGroupedMatmulSwigluQuant, ws, exe);
    aclDestroyTensor(w);
    destroy_all(t, 9);
    return s;
}

static void check_s(const int8_t *y, const float *scale, const char *what)
{
    CHECK(!memcmp(y, WANT_Y, sizeof WANT_Y), "%s: rows 0-1 = [%d %d] [%d %d], want [127 102] [0 -127]", what, y[0],
          y[1], y[2], y[3]);
    CHECK(!memcmp(scale, WANT_SCALE, sizeof WANT_SCALE), "%s: scales %a %a", what, (double)scale[0],
          (double)scale[1]);
    CHECK(mr_test_bytes_are(y + 2 * H, H, SENT) && mr_test_bytes_are(scale + 2, 4, SENT),
          "%s: row 2 (past the last group) not written", what);
}

static void test_hand(void)
{
    int8_t y[M * H];
    float scale[M];
    for (int nz_api = 0; nz_api < 2; nz_api++) {
        memset(y, SENT, sizeof y), memset(scale, SENT, sizeof scale);
        gsq_call c = problem_s(y, scale, nz_api);
        CHECK(run_gsq(&c) == ACLNN_SUCCESS, "problem S (%s): %s", nz_api ? "WeightNZ" : "plain", errmsg());
        check_s(y, scale, nz_api ? "WeightNZ, NZ buffer tagged ND" : "plain, NZ-tagged weight");
    }
    /* weightScale in BF16 and FLOAT16 (every value above is exact in both) */
    const uint16_t ws_bf[E * N] = {0x3F80, 0x3F80, 0x3F80, 0x3C80, 0x4000, 0x3F00, 0x3F80, 0x3F80};
    const uint16_t ws_h[E * N] = {0x3C00, 0x3C00, 0x3C00, 0x2400, 0x4000, 0x3800, 0x3C00, 0x3C00};
    for (int i = 0; i < 2; i++) {
        memset(y, SENT, sizeof y), memset(scale, SENT, sizeof scale);
        gsq_call c = problem_s(y, scale, 1);
        c.wscale = T2(i ? ACL_FLOAT16 : ACL_BF16, E, N, i ? ws_h : ws_bf);
        CHECK(run_gsq(&c) == ACLNN_SUCCESS, "problem S, %s weightScale: %s", i ? "FLOAT16" : "BF16", errmsg());
        check_s(y, scale, i ? "FLOAT16 weightScale" : "BF16 weightScale");
    }
    /* MOEROUTE_POISON_UNWRITTEN=1: row 2 gets 0x7F bytes and a NaN scale */
    setenv("MOEROUTE_POISON_UNWRITTEN", "1", 1);
    gsq_call c = problem_s(y, scale, 0);
    CHECK(run_gsq(&c) == ACLNN_SUCCESS, "poisoned run: %s", errmsg());
    CHECK(y[4] == 0x7F && y[5] == 0x7F && isnan(scale[2]) && !memcmp(y, WANT_Y, sizeof WANT_Y),
          "poison: row 2 = %d %d, scale %f", y[4], y[5], (double)scale[2]);
    unsetenv("MOEROUTE_POISON_UNWRITTEN");
    /* an empty group list: success, nothing written */
    memset(y, SENT, sizeof y), memset(scale, SENT, sizeof scale);
    c = problem_s(y, scale, 1);
    c.gl = T1(ACL_INT64, 0, S_GL);
    CHECK(run_gsq(&c) == ACLNN_SUCCESS && mr_test_bytes_are(y, sizeof y, SENT) &&
              mr_test_bytes_are(scale, sizeof scale, SENT),
          "empty group list: success, nothing written (%s)", errmsg());
}

/* ---------------------------------------------------------------------------------------------------- */

static void test_refusals(void)
{
    int8_t y[M * H];
    float scale[M];
    char what[128];
#define REFUSE(desc, want, phase, nz_api, mutate)                                                            \
    do {                                                                                                     \
        gsq_call c_ = problem_s(y, scale, nz_api);                                                           \
        mutate;                                                                                              \
        memset(y, SENT, sizeof y), memset(scale, SENT, sizeof scale);                                        \
        snprintf(what, sizeof what, "%s (%s)", desc, nz_api ? "WeightNZ" : "plain");                          \
        expect_refused2(what, run_gsq(&c_), want, phase, y, sizeof y, scale, sizeof scale);                  \
    } while (0)
    static const int64_t gl3[3] = {1, 2, 3}, dec[2] = {2, 1}, big[2] = {1, 4}, neg[2] = {-1, 2}, gl2d[2][1] = {{1}, {2}};
    static const int32_t gl32[2] = {1, 2};
    static const float f6[6] = {0}, f4[4] = {0};
    static const int8_t i8[16] = {0};
    static const uint16_t h3[3] = {0};
    for (int api = 0; api < 2; api++) {
        REFUSE("x NULL", ACLNN_ERR_PARAM_NULLPTR, 1, api, c_.x = TNULL);
        REFUSE("weight NULL", ACLNN_ERR_PARAM_NULLPTR, 1, api, c_.w_rank = 0);
        REFUSE("weightScale NULL", ACLNN_ERR_PARAM_NULLPTR, 1, api, c_.wscale = TNULL);
        REFUSE("xScale NULL", ACLNN_ERR_PARAM_NULLPTR, 1, api, c_.xscale = TNULL);
        REFUSE("groupList NULL", ACLNN_ERR_PARAM_NULLPTR, 1, api, c_.gl = TNULL);
        REFUSE("output NULL", ACLNN_ERR_PARAM_NULLPTR, 1, api, c_.out = TNULL);
        REFUSE("outputScale NULL", ACLNN_ERR_PARAM_NULLPTR, 1, api, c_.oscale = TNULL);
        REFUSE("bias given", ACLNN_ERR_PARAM_INVALID, 1, api, c_.bias = T2(ACL_FLOAT, E, N, S_WS));
        REFUSE("offset given", ACLNN_ERR_PARAM_INVALID, 1, api, c_.offset = T2(ACL_FLOAT, E, N, S_WS));
        REFUSE("outputOffset given", ACLNN_ERR_PARAM_INVALID, 1, api, c_.ooffset = T1(ACL_FLOAT, M, f6));
        REFUSE("x INT32", ACLNN_ERR_PARAM_INVALID, 1, api, c_.x.dt = ACL_INT32);
        REFUSE("weight FLOAT16", ACLNN_ERR_PARAM_INVALID, 1, api, c_.w_dt = ACL_FLOAT16);
        REFUSE("weightScale INT32", ACLNN_ERR_PARAM_INVALID, 1, api, c_.wscale.dt = ACL_INT32);
        REFUSE("xScale FLOAT16", ACLNN_ERR_PARAM_INVALID, 1, api, c_.xscale = T1(ACL_FLOAT16, M, h3));
        REFUSE("groupList INT32", ACLNN_ERR_PARAM_INVALID, 1, api, c_.gl = T1(ACL_INT32, 2, gl32));
        REFUSE("output INT32", ACLNN_ERR_PARAM_INVALID, 1, api, c_.out.dt = ACL_INT32);
        REFUSE("outputScale FLOAT16", ACLNN_ERR_PARAM_INVALID, 1, api, c_.oscale.dt = ACL_FLOAT16);
        REFUSE("x FRACTAL_NZ", ACLNN_ERR_PARAM_INVALID, 1, api, c_.x.fmt = ACL_FORMAT_FRACTAL_NZ);
        REFUSE("output FRACTAL_NZ", ACLNN_ERR_PARAM_INVALID, 1, api, c_.out.fmt = ACL_FORMAT_FRACTAL_NZ);
        REFUSE("x 3-D", ACLNN_ERR_PARAM_INVALID, 1, api, c_.x = T3(ACL_INT8, M, K, 1, S_X));
        REFUSE("weight 4-D view", ACLNN_ERR_PARAM_INVALID, 1, api,
               (c_.w_rank = 4, c_.w_dims[0] = 1, c_.w_dims[1] = E, c_.w_dims[2] = K, c_.w_dims[3] = N));
        REFUSE("weightScale 1-D", ACLNN_ERR_PARAM_INVALID, 1, api, c_.wscale = T1(ACL_FLOAT, E * N, S_WS));
        REFUSE("xScale 2-D", ACLNN_ERR_PARAM_INVALID, 1, api, c_.xscale = T2(ACL_FLOAT, M, 1, S_XS));
        REFUSE("groupList 2-D", ACLNN_ERR_PARAM_INVALID, 1, api, c_.gl = T2(ACL_INT64, 2, 1, gl2d));
        REFUSE("output 1-D", ACLNN_ERR_PARAM_INVALID, 1, api, c_.out = T1(ACL_INT8, M * H, y));
        REFUSE("outputScale 2-D", ACLNN_ERR_PARAM_INVALID, 1, api, c_.oscale = T2(ACL_FLOAT, M, 1, scale));
        REFUSE("weight K differs from x", ACLNN_ERR_PARAM_INVALID, 1, api, c_.w_dims[1] = 3);
        REFUSE("N odd", ACLNN_ERR_PARAM_INVALID, 1, api, c_.w_dims[2] = 3);
        REFUSE("weightScale [E, N/2]", ACLNN_ERR_PARAM_INVALID, 1, api, c_.wscale = T2(ACL_FLOAT, E, H, f4));
        REFUSE("xScale [M - 1]", ACLNN_ERR_PARAM_INVALID, 1, api, c_.xscale = T1(ACL_FLOAT, M - 1, S_XS));
        REFUSE("groupList longer than E", ACLNN_ERR_PARAM_INVALID, 1, api, c_.gl = T1(ACL_INT64, 3, gl3));
        REFUSE("output [M, N]", ACLNN_ERR_PARAM_INVALID, 1, api, c_.out = T2(ACL_INT8, M, N, i8));
        REFUSE("outputScale [M + 1]", ACLNN_ERR_PARAM_INVALID, 1, api, c_.oscale = T1(ACL_FLOAT, M + 1, f6));
        REFUSE("storage not the NZ shape", ACLNN_ERR_PARAM_INVALID, 1, api, c_.w_sdims[1] = 2);
        REFUSE("storage 3-D", ACLNN_ERR_PARAM_INVALID, 1, api,
               (c_.w_srank = 3, c_.w_sdims[0] = E, c_.w_sdims[1] = K, c_.w_sdims[2] = N));
        REFUSE("5-D view [E, 1, 1, 16, 32] (K = 16, not x's 2)", ACLNN_ERR_PARAM_INVALID, 1, api,
               (c_.w_rank = 5, memcpy(c_.w_dims, c_.w_sdims, sizeof c_.w_dims)));
        REFUSE("N above 10240", ACLNN_ERR_PARAM_INVALID, 1, api,
               (c_.w_dims[2] = 10242, c_.w_sdims[1] = 321, c_.wscale = T2(ACL_FLOAT, E, 10242, NULL),
                c_.out = T2(ACL_INT8, M, 5121, NULL)));
        REFUSE("K above 65535", ACLNN_ERR_PARAM_INVALID, 1, api,
               (c_.x = T2(ACL_INT8, M, 65536, NULL), c_.w_dims[1] = 65536, c_.w_sdims[2] = 4096));
        REFUSE("decreasing cumsum", ACLNN_ERR_PARAM_INVALID, 2, api, c_.gl = T1(ACL_INT64, 2, dec));
        REFUSE("cumsum above M", ACLNN_ERR_PARAM_INVALID, 2, api, c_.gl = T1(ACL_INT64, 2, big));
        REFUSE("negative first entry", ACLNN_ERR_PARAM_INVALID, 2, api, c_.gl = T1(ACL_INT64, 2, neg));
    }
    REFUSE("plain variant with an ND weight", ACLNN_ERR_PARAM_INVALID, 1, 0, c_.w_fmt = ACL_FORMAT_ND);
    /* MOEROUTE_DEVICE_LIMITS=0 lifts the N limit: the call then gets past the limit (to the missing data) */
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1);
    gsq_call c = problem_s(y, scale, 1);
    c.w_dims[2] = 10242, c.w_sdims[1] = 321;
    c.wscale = T2(ACL_FLOAT, E, 10242, NULL), c.out = T2(ACL_INT8, M, 5121, NULL);
    const aclnnStatus s = run_gsq(&c);
    CHECK(g_phase == 2 || !strstr(errmsg(), "10240"), "N above 10240 with MOEROUTE_DEVICE_LIMITS=0: %d %s", (int)s,
          errmsg());
    unsetenv("MOEROUTE_DEVICE_LIMITS");
#undef REFUSE
}

/* ---------------------------------------------------------------------------------------------------- */

static void test_native(void)
{
    moeroute_context *ctx = NULL;
    moeroute_options opt = {0};
    CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context");
    int8_t y[M * H], wt[E * N * K];
    float scale[M];
    /* the ND weight read transposed from a stored [E, N, K] */
    for (int e = 0; e < E; e++)
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) wt[(e * N + n) * K + k] = S_W[(e * K + k) * N + n];
    moeroute_grouped_matmul_swiglu_quant_args a = {
        .struct_size = sizeof a, .num_rows = M, .k = K, .n = N, .num_experts = E, .x = S_X, .x_row_stride = K,
        .x_col_stride = 1, .weight = wt, .weight_expert_stride = N * K, .weight_k_stride = 1, .weight_n_stride = K,
        .weight_scale_dtype = MOEROUTE_DTYPE_FLOAT32, .weight_scale = S_WS, .x_scale = S_XS, .num_groups = 2,
        .group_list = S_GL, .output = y, .output_scale = scale};
    memset(y, SENT, sizeof y), memset(scale, SENT, sizeof scale);
    CHECK(moeroute_grouped_matmul_swiglu_quant(ctx, &a) == MOEROUTE_OK, "native ND: %s", moeroute_error_message());
    check_s(y, scale, "native, transposed ND weight");
    moeroute_grouped_matmul_swiglu_quant_args b = a;
    nz_pack(S_W, E, K, N, g_nz);
    b.weight = g_nz, b.weight_format = 29;
    memset(y, SENT, sizeof y), memset(scale, SENT, sizeof scale);
    CHECK(moeroute_grouped_matmul_swiglu_quant(NULL, &b) == MOEROUTE_OK, "native NZ: %s", moeroute_error_message());
    check_s(y, scale, "native, NZ weight, no context");
    memset(y, SENT, sizeof y), memset(scale, SENT, sizeof scale);
    static const int64_t dec[2] = {2, 1};
    const struct { moeroute_status want; const char *what; } cases[] = {
        {MOEROUTE_ERR_INVALID_SHAPE, "n odd"}, {MOEROUTE_ERR_INVALID_SHAPE, "more groups than experts"},
        {MOEROUTE_ERR_INVALID_DTYPE, "weight_scale_dtype INT8"}, {MOEROUTE_ERR_INVALID_VALUE, "decreasing cumsum"},
        {MOEROUTE_ERR_INVALID_SHAPE, "weight_format 2"}, {MOEROUTE_ERR_INVALID_ARGS_SIZE, "struct_size 8"},
        {MOEROUTE_ERR_NULL_POINTER, "x_scale NULL"}, {MOEROUTE_ERR_ALIASING, "output over x_scale"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b = a;
        switch (i) {
        case 0: b.n = 3; break;
        case 1: b.num_groups = 3; break;
        case 2: b.weight_scale_dtype = MOEROUTE_DTYPE_INT8; break;
        case 3: b.group_list = dec; break;
        case 4: b.weight_format = 2; break;
        case 5: b.struct_size = 8; break;
        case 6: b.x_scale = NULL; break;
        default: b.output_scale = (float *)(uintptr_t)S_XS; break;
        }
        const moeroute_status st = moeroute_grouped_matmul_swiglu_quant(ctx, &b);
        CHECK(st == cases[i].want, "native %s: %s, want %s (%s)", cases[i].what, moeroute_status_string(st),
              moeroute_status_string(cases[i].want), moeroute_error_message());
    }
    CHECK(mr_test_bytes_are(y, sizeof y, SENT) && mr_test_bytes_are(scale, sizeof scale, SENT),
          "native refusals wrote nothing");
    size_t count = 0, size = 0;
    CHECK(moeroute_struct_layout("moeroute_grouped_matmul_swiglu_quant_args", &count, &size) && count == 20 &&
              size == sizeof a,
          "struct layout (%zu fields, %zu bytes)", count, size);
    moeroute_context_destroy(ctx);
}

/* aclnnGroupedMatmulV4 with an NZ-tagged int8 weight (storage [E, N/32, K/16, 16, 32]) equals the ND call, and
 * a FRACTAL_NZ weight with the wrong storage dims is refused. Problem S's x and W, INT32 out. */
static void test_gmm_v4_nz(void)
{
    int32_t nd[M * N], nz[M * N];
    for (int variant = 0; variant < 3; variant++) {
        const int64_t xd[2] = {M, K}, wd[3] = {E, K, N}, od[2] = {M, N}, gd[1] = {2};
        const int64_t sd[5] = {E, 1, 1, 16, variant == 2 ? 16 : 32};
        int64_t xs[2], ws[3], os[2], gs[1] = {1};
        contiguous_strides(xd, 2, xs), contiguous_strides(wd, 3, ws), contiguous_strides(od, 2, os);
        int32_t *out = variant ? nz : nd;
        memset(out, SENT, sizeof nd);
        aclTensor *x = aclCreateTensor(xd, 2, ACL_INT8, xs, 0, ACL_FORMAT_ND, xd, 2, (void *)(uintptr_t)S_X);
        aclTensor *w = variant ? aclCreateTensor(wd, 3, ACL_INT8, ws, 0, ACL_FORMAT_FRACTAL_NZ, sd, 5, g_nz)
                               : aclCreateTensor(wd, 3, ACL_INT8, ws, 0, ACL_FORMAT_ND, wd, 3, (void *)(uintptr_t)S_W);
        aclTensor *o = aclCreateTensor(od, 2, ACL_INT32, os, 0, ACL_FORMAT_ND, od, 2, out);
        aclTensor *gl = aclCreateTensor(gd, 1, ACL_INT64, gs, 0, ACL_FORMAT_ND, gd, 1, (void *)(uintptr_t)S_GL);
        aclTensorList *xl = aclCreateTensorList((const aclTensor *const *)&x, 1);
        aclTensorList *wl = aclCreateTensorList((const aclTensor *const *)&w, 1);
        aclTensorList *ol = aclCreateTensorList((const aclTensor *const *)&o, 1);
        uint64_t wsz = 0;
        aclOpExecutor *exe = NULL;
        nz_pack(S_W, E, K, N, g_nz);
        aclnnStatus st = aclnnGroupedMatmulV4GetWorkspaceSize(xl, wl, NULL, NULL, NULL, NULL, NULL, NULL, gl, NULL,
                                                              NULL, NULL, 3, 0, 0, 0, ol, NULL, NULL, &wsz, &exe);
        st = finish(st, aclnnGroupedMatmulV4, wsz, exe);
        if (variant < 2)
            CHECK(st == ACLNN_SUCCESS, "GroupedMatmulV4 %s weight: %s", variant ? "NZ" : "ND", errmsg());
        else
            expect_refused("GroupedMatmulV4 NZ weight with storage [E, 1, 1, 16, 16]", st, ACLNN_ERR_PARAM_INVALID, 1,
                           nz, sizeof nz);
        aclDestroyTensorList(xl), aclDestroyTensorList(wl), aclDestroyTensorList(ol), aclDestroyTensor(gl);
        if (variant == 1) {
            CHECK(!memcmp(nd, nz, 2 * N * 4), "GroupedMatmulV4: NZ weight gives the ND bytes");
            CHECK(nd[0] == 64 && nd[3] == 6495 && nd[4] == -400 && nd[7] == -8, "GroupedMatmulV4 ND sums %d %d %d %d",
                  nd[0], nd[3], nd[4], nd[7]);
            CHECK(mr_test_bytes_are(nz + 2 * N, N * 4, SENT), "GroupedMatmulV4 NZ: row 2 not written");
            memset(nz, SENT, sizeof nz);
        }
    }
}

/* A problem with many tasks (row chunks x column tiles over skewed groups, and many epilogue rows) on 1 thread
 * scalar, 4 threads and 3 threads, ND and NZ weights: the same bytes everywhere (also the TSan case). */
static void test_threads(uint64_t *rng)
{
    enum { TM = 700, TK = 100, TN = 1100, TE = 3 };
    int8_t *x = malloc((size_t)TM * TK), *w = malloc((size_t)TE * TK * TN), *nz = malloc((size_t)TE * 35 * 7 * 512);
    int8_t *y0 = malloc((size_t)TM * TN / 2), *y = malloc((size_t)TM * TN / 2);
    float *ws = malloc(sizeof(float) * TE * TN), *xs = malloc(sizeof(float) * TM), *s0 = malloc(4 * TM), *s = malloc(4 * TM);
    for (size_t i = 0; i < (size_t)TM * TK; i++) x[i] = (int8_t)(mr_test_rand(rng) >> 56);
    for (size_t i = 0; i < (size_t)TE * TK * TN; i++) w[i] = (int8_t)(mr_test_rand(rng) >> 56);
    for (size_t i = 0; i < (size_t)TE * TN; i++) ws[i] = (float)(mr_test_rand(rng) >> 40) * 0x1p-24f * 1e-3f;
    for (size_t i = 0; i < TM; i++) xs[i] = (float)(mr_test_rand(rng) >> 40) * 0x1p-24f * 0.05f;
    nz_pack(w, TE, TK, TN, nz);
    static const int64_t ends[TE] = {600, 600, 690};
    moeroute_grouped_matmul_swiglu_quant_args a = {
        .struct_size = sizeof a, .num_rows = TM, .k = TK, .n = TN, .num_experts = TE, .x = x, .x_row_stride = TK,
        .x_col_stride = 1, .weight_expert_stride = TK * TN, .weight_k_stride = TN, .weight_n_stride = 1,
        .weight_scale_dtype = MOEROUTE_DTYPE_FLOAT32, .weight_scale = ws, .x_scale = xs, .num_groups = TE,
        .group_list = ends};
    const moeroute_options opts[3] = {{1, MOEROUTE_ISA_SCALAR}, {4, MOEROUTE_ISA_AUTO}, {3, MOEROUTE_ISA_AUTO}};
    for (int i = 0; i < 6; i++) {
        moeroute_context *ctx = NULL;
        CHECK(moeroute_context_create(&opts[i / 2], &ctx) == MOEROUTE_OK, "context %d", i);
        a.weight = i % 2 ? nz : w, a.weight_format = i % 2 ? 29 : 0;
        a.output = i ? y : y0, a.output_scale = i ? s : s0;
        memset(a.output, SENT, (size_t)TM * TN / 2), memset(a.output_scale, SENT, 4 * TM);
        CHECK(moeroute_grouped_matmul_swiglu_quant(ctx, &a) == MOEROUTE_OK, "run %d: %s", i, moeroute_error_message());
        if (i)
            CHECK(!memcmp(y0, y, (size_t)TM * TN / 2) && !memcmp(s0, s, 4 * TM),
                  "%d threads, %s weight: the bytes of 1 thread scalar ND", (int)opts[i / 2].num_threads,
                  i % 2 ? "NZ" : "ND");
        CHECK(mr_test_bytes_are(y0 + 690 * TN / 2, 10 * TN / 2, SENT) && mr_test_bytes_are(s0 + 690, 40, SENT),
              "rows past the last group untouched");
        moeroute_context_destroy(ctx);
    }
    free(x), free(w), free(nz), free(y0), free(y), free(ws), free(xs), free(s0), free(s);
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    acl_setup();
    test_hand();
    test_refusals();
    test_native();
    test_gmm_v4_nz();
    test_threads(&rng);
    acl_teardown();
    return mr_test_finish();
}
