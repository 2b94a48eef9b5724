/* GroupedMatmul: the GEMM kernels of every ISA this machine runs against an independent fmaf / int64 reference
 * (byte for byte), hand-worked aclnnGroupedMatmulV4 / V3 cases called as a CANN program calls them, every
 * refusal of the MoE subset (status, phase, message, untouched output), the native API, and V1 / V2 (and V3)
 * with the weights as E separate tensors: equal to V4 byte for byte on every ISA, and their refusals.
 *
 * Hand-worked problem P (fp32), M = 3, K = 2, N = 2, E = 2:
 *   x = [[1, 2], [3, 4], [5, 6]],  W0 = [[1, 0], [0, 1]] (identity),  W1 = [[1, 1], [1, -1]]
 *   bias b0 = [.5, .5], b1 = [0, 1];  counts [2, 1]: rows 0-1 on W0, row 2 on W1
 *   row 0 = [1, 2] + b0 = [1.5, 2.5];  row 1 = [3.5, 4.5];  row 2 = [5 + 6, 5 - 6] + b1 = [11, 0]
 * Problem Q (int8), M = 2, K = 2, N = 2, E = 1, x = [[127, -128], [1, 2]], W0 = [[-128, 1], [-128, 2]]:
 *   row 0 = [127*-128 + -128*-128, 127*1 + -128*2] = [-16256 + 16384, 127 - 256] = [128, -129]
 *   row 1 = [-128 - 256, 1 + 4] = [-384, 5]
 *   W8A8: scale [[.5, 2]] (bf16), perTokenScale [.25, 1]: row 0 = [128*.5*.25, -129*2*.25] = [16, -64.5],
 *   row 1 = [-384*.5, 5*2] = [-192, 10]  (all exact in bf16)
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_grouped_matmul.h"
#include "aclnnop/aclnn_grouped_matmul_v2.h"
#include "aclnnop/aclnn_grouped_matmul_v3.h"
#include "aclnnop/aclnn_grouped_matmul_v4.h"
#include "common/fp16.h"
#include "dispatch/dispatch.h"
#include "harness.h"
#include "kernels/gemm/gemm.h"
#include "moeroute.h"

/* ---------------------------------------------------------------------------------------------------- */
/* kernels                                                                                              */

static size_t up(size_t v, size_t m) { return (v + m - 1) / m * m; }

/* C = A . B through one config's packing and kernels, k blocks of kc (exercising load_c). A [M][K] and
 * B [K][N] row-major in type t; C float or int32 [M][N]. */
/* C = A . B through config g's packing and kernels, k blocks of kc; B is [K][N], or [N][K] when bt (a transposed
 * weight: the packing's rows-along-k paths). */
static void gemm_via(const mr_gemm_config *g, mr_gemm_src_type t, const void *A, const void *B, int bt, size_t M,
                     size_t K, size_t N, size_t kc, void *C)
{
    const int i8 = t == MR_GEMM_SRC_I8, pairs = mr_gemm_uses_bf16x2(g, t); /* bf16: the config's pair kernel */
    const int halves = mr_gemm_uses_f16h(g, t);                              /* fp16: its halves kernel */
    const mr_gemm_bf16_fn half = mr_gemm_half_kernel(g, t);
    const size_t mr = i8 ? g->i8_mr : half ? g->half_mr : g->f32_mr;
    const size_t nr = i8 ? g->i8_nr : half ? g->half_nr : g->f32_nr;
    const size_t MP = up(M ? M : 1, mr), NP = up(N ? N : 1, nr), panels = NP / nr;
    const mr_gemm_mat am = {A, (int64_t)K, 1, t, 0}, bm = {B, bt ? (int64_t)K : 1, bt ? 1 : (int64_t)N, t, 0};
    const unsigned kga = mr_gemm_i8_a_kgroup(g);
    const size_t kcp = i8 ? mr_gemm_i8_kpad(g, kc) : kc;
    const size_t bpanel = i8 ? mr_gemm_i8_panel_bytes(nr, kcp, g->i8_kgroup, g->i8_b_fmt) : kc * nr * 4; /* >= pairs' */
    char *bp = calloc(panels, bpanel), *ap = calloc(1, i8 ? mr_gemm_i8_panel_bytes(mr, kcp, kga, g->i8_a_fmt)
                                                             : kc * mr * 4);
    int32_t *cb = calloc(MP * NP, 4), *colsum = calloc(NP, 4);
    const int off = i8 && g->i8_a_fmt == MR_GEMM_U8;
    if (i8 && g->i8_enter) g->i8_enter();
    for (size_t kb = 0; kb < K; kb += kc) {
        const size_t kk = K - kb < kc ? K - kb : kc, kkp = i8 ? mr_gemm_i8_kpad(g, kk) : kk;
        const size_t bp_now = i8 ? mr_gemm_i8_panel_bytes(nr, kkp, g->i8_kgroup, g->i8_b_fmt)
                                 : pairs ? mr_gemm_bf16x2_panel_elems(nr, kk) * 2 : kk * nr * (halves ? 2 : 4);
        if (i8) /* all of B's panels in one call (the operator's way), or panel by panel: the same bytes */
            mr_gemm_pack_i8(&bm, 0, N, nr, (int64_t)kb, kk, kkp, g->i8_kgroup, g->i8_b_fmt, bp, off ? colsum : NULL);
        else if (pairs) /* panel by panel here: the operator packs a whole block at once (same bytes) */
            for (size_t q = 0; q < panels; q++)
                mr_gemm_pack_bf16x2(&bm, (int64_t)(q * nr), N > q * nr ? (N - q * nr < nr ? N - q * nr : nr) : 0, nr,
                                    (int64_t)kb, kk, (uint16_t *)(void *)(bp + q * bp_now), g->bf16_pairs);
        else if (halves) /* all of B's panels in one call, as the operator packs them */
            mr_gemm_pack_f16h(&bm, 0, N, nr, (int64_t)kb, kk, (uint16_t *)(void *)bp);
        else
            for (size_t q = 0; q < panels; q++)
                mr_gemm_pack_f32(&bm, (int64_t)(q * nr), N > q * nr ? (N - q * nr < nr ? N - q * nr : nr) : 0, nr,
                                 (int64_t)kb, kk, (float *)(bp + q * bp_now));
        for (size_t r = 0; r < MP; r += mr) {
            const size_t rows = M > r ? (M - r < mr ? M - r : mr) : 0;
            if (i8)
                mr_gemm_pack_i8(&am, (int64_t)r, rows, mr, (int64_t)kb, kk, kkp, kga, g->i8_a_fmt, ap, NULL);
            else
                mr_gemm_pack_f32(&am, (int64_t)r, rows, mr, (int64_t)kb, kk, (float *)ap);
            for (size_t q = 0; q < panels; q++) {
                if (i8)
                    g->i8(kkp / g->i8_kgroup, ap, bp + q * bp_now, cb + r * NP + q * nr, NP, kb > 0);
                else if (half) /* the real rows, as the operator passes them */
                    half(kk, (float *)ap, (uint16_t *)(void *)(bp + q * bp_now), (float *)cb + r * NP + q * nr, NP,
                         kb > 0, rows ? rows : mr);
                else
                    g->f32(kk, (float *)ap, (float *)(bp + q * bp_now), (float *)cb + r * NP + q * nr, NP, kb > 0);
            }
        }
    }
    if (i8 && g->i8_leave) g->i8_leave();
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            int32_t v = cb[m * NP + n];
            if (off) v = (int32_t)((int64_t)v - 128 * (int64_t)colsum[n]);
            memcpy((char *)C + (m * N + n) * 4, &v, 4);
        }
    free(bp), free(ap), free(cb), free(colsum);
}

static float src_f32(mr_gemm_src_type t, const void *p, size_t i)
{
    uint16_t h;
    float f;
    switch (t) {
    case MR_GEMM_SRC_F16: memcpy(&h, (const char *)p + 2 * i, 2); return mr_f16_to_f32(h);
    case MR_GEMM_SRC_BF16: memcpy(&h, (const char *)p + 2 * i, 2); return mr_bf16_to_f32(h);
    default: memcpy(&f, (const char *)p + 4 * i, 4); return f;
    }
}

/* A finite random value of type t: mostly moderate, sometimes tiny (bf16/f32 products then round below the
 * normal range, where fused and unfused multiply-add differ) or huge. */
static void rand_elem(mr_gemm_src_type t, void *p, size_t i, uint64_t *rng)
{
    const uint64_t r = mr_test_rand(rng);
    const int kind = (int)(r % 16);
    int exp = kind == 0 ? -60 - (int)((r >> 8) % 40) : kind == 1 ? 20 + (int)((r >> 8) % 30) : (int)((r >> 8) % 9) - 4;
    if (t == MR_GEMM_SRC_F16) exp = exp < -14 ? -14 - (int)((r >> 20) % 10) : exp > 12 ? 12 : exp;
    float f = ldexpf(1.0f + (float)((r >> 32) & 0xFFFFFF) / 16777216.0f, exp);
    if (r & (1ull << 30)) f = -f;
    uint16_t h;
    switch (t) {
    case MR_GEMM_SRC_F16: h = mr_f32_to_f16(f); memcpy((char *)p + 2 * i, &h, 2); break;
    case MR_GEMM_SRC_BF16: h = mr_f32_to_bf16(f); memcpy((char *)p + 2 * i, &h, 2); break;
    case MR_GEMM_SRC_F32: memcpy((char *)p + 4 * i, &f, 4); break;
    default: ((int8_t *)p)[i] = (int8_t)(kind < 3 ? (kind == 0 ? -128 : 127) : (int)((r >> 40) & 0xFF) - 128); break;
    }
}

static void test_kernels(uint64_t *rng)
{
    const mr_gemm_config *cfg[8];
    const size_t ncfg = mr_dispatch_gemm_usable(cfg, 8);
    CHECK(ncfg >= 1 && !strcmp(cfg[ncfg - 1]->name, "scalar"), "the usable GEMM configs end in scalar (%zu)", ncfg);
    static const size_t shapes[][3] = {{1, 1, 1}, {7, 13, 19}, {6, 32, 32}, {13, 40, 70}, {5, 3, 33}, {12, 0, 17},
                                        {37, 200, 45},  /* more than one AMX tile row, k step and column panel */
                                        {4, 9, 33}, {15, 21, 40}}; /* a last panel of 4 and of 3 real rows */
    const mr_gemm_src_type types[] = {MR_GEMM_SRC_F16, MR_GEMM_SRC_BF16, MR_GEMM_SRC_F32, MR_GEMM_SRC_I8};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t ti = 0; ti < 4; ti++) {
            const mr_gemm_src_type t = types[ti];
            const size_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            const size_t es = t == MR_GEMM_SRC_I8 ? 1 : t == MR_GEMM_SRC_F32 ? 4 : 2;
            char *A = calloc(M * K + 1, es), *B = calloc(K * N + 1, es);
            for (size_t i = 0; i < M * K; i++) rand_elem(t, A, i, rng);
            for (size_t i = 0; i < K * N; i++) rand_elem(t, B, i, rng);
            /* independent reference: fmaf chain / int64 sum, element by element */
            uint32_t *want = calloc(M * N + 1, 4), *got = calloc(M * N + 1, 4);
            for (size_t m = 0; m < M; m++)
                for (size_t n = 0; n < N; n++) {
                    if (t == MR_GEMM_SRC_I8) {
                        int64_t acc = 0;
                        for (size_t k = 0; k < K; k++)
                            acc += (int64_t)((int8_t *)A)[m * K + k] * ((int8_t *)B)[k * N + n];
                        const int32_t v = (int32_t)acc;
                        memcpy(&want[m * N + n], &v, 4);
                    } else {
                        float acc = 0.0f;
                        for (size_t k = 0; k < K; k++) acc = fmaf(src_f32(t, A, m * K + k), src_f32(t, B, k * N + n), acc);
                        memcpy(&want[m * N + n], &acc, 4);
                    }
                }
            char *Bt = calloc(K * N + 1, es); /* B transposed: [N][K] */
            for (size_t k = 0; k < K; k++)
                for (size_t n = 0; n < N; n++) memcpy(Bt + (n * K + k) * es, B + (k * N + n) * es, es);
            for (size_t c = 0; c < ncfg; c++)
                for (size_t kc = t == MR_GEMM_SRC_I8 ? 8 : 5; kc <= 512; kc *= 8)
                    for (int bt = 0; bt < 2; bt++) {
                        memset(got, 0xEE, M * N * 4);
                        gemm_via(cfg[c], t, A, bt ? Bt : B, bt, M, K, N, kc, got);
                        CHECK(memcmp(got, want, M * N * 4) == 0, "kernel %s type %d M=%zu K=%zu N=%zu kc=%zu%s equals "
                              "the reference byte for byte", cfg[c]->name, (int)t, M, K, N, kc,
                              bt ? " (B transposed)" : "");
                    }
            free(A), free(B), free(Bt), free(want), free(got);
        }
}

/* The float packing widens fp16 exactly: every fp16 bit pattern (both zeros, subnormals, inf, NaN payloads)
 * through rows contiguous along k (four rows at a time, and a single last row: 7 rows) and through an ND weight
 * (columns contiguous along r) against mr_f16_to_f32, bit for bit. */
static void test_pack_f16_all(void)
{
    enum { R = 8, KK = 65536 / R };
    uint16_t *h = malloc(65536 * sizeof *h);
    float *dst = malloc(65536 * sizeof *dst);
    for (uint32_t u = 0; u < 65536; u++) h[u] = (uint16_t)u;
    for (int layout = 0; layout < 2; layout++)
        for (size_t rows = R - 1; rows <= R; rows++) {
            /* layout 0: element (r, k) at h[r * KK + k]; layout 1 (ND): at h[k * R + r] */
            const mr_gemm_mat m = {(const char *)h, layout ? 1 : KK, layout ? R : 1, MR_GEMM_SRC_F16, 0};
            memset(dst, 0xEE, 65536 * sizeof *dst);
            mr_gemm_pack_f32(&m, 0, rows, R, 0, KK, dst);
            int bad = 0;
            for (size_t r = 0; r < R; r++)
                for (size_t k = 0; k < KK; k++) {
                    const float want = r < rows ? mr_f16_to_f32(h[layout ? k * R + r : r * KK + k]) : 0.0f;
                    bad += memcmp(&dst[k * R + r], &want, 4) != 0;
                }
            CHECK(bad == 0, "fp16 packing, layout %d, %zu rows: %d of 65536 values widened differently", layout, rows,
                  bad);
        }
    free(h), free(dst);
}

/* fp16-halves packing, every source layout the operator meets (ND weight: columns contiguous; x or a transposed
 * weight: rows contiguous along k, four at a time and one at a time; any strides: element by element), partial
 * last panels and odd kc: each packed value is the source's bits, padding rows zero. */
static void test_pack_f16h(uint64_t *rng)
{
    enum { N = 45, K = 11, NR = 32 };
    uint16_t w[2 * N * K];
    for (size_t i = 0; i < 2 * N * K; i++) w[i] = (uint16_t)mr_test_rand(rng);
    uint16_t *dst = malloc(2 * NR * K * 2);
    int bad = 0;
    for (int layout = 0; layout < 3; layout++)
        for (size_t rows = 1; rows <= N - 3; rows += 5)
            for (size_t kc = K - 4; kc <= K - 1; kc++) {
                /* (n, k): layout 0 ND at w[k * N + n]; 1 along k at w[n * K + k]; 2 strided at w[n * 2 + k * (N - 1)] */
                const int64_t rs = layout == 0 ? 1 : layout == 1 ? K : 2, cs = layout == 0 ? N : layout == 1 ? 1 : N - 1;
                const mr_gemm_mat m = {(const char *)w, rs, cs, MR_GEMM_SRC_F16, 0};
                const size_t r0 = 2, k0 = 1, np = (rows + NR - 1) / NR;
                memset(dst, 0xEE, 2 * NR * K * 2);
                mr_gemm_pack_f16h(&m, (int64_t)r0, rows, NR, (int64_t)k0, kc, dst);
                for (size_t p = 0; p < np; p++)
                    for (size_t k = 0; k < kc; k++)
                        for (size_t i = 0; i < NR; i++) {
                            const size_t r = p * NR + i;
                            const uint16_t want = r < rows ? w[(r0 + r) * (size_t)rs + (k0 + k) * (size_t)cs] : 0;
                            bad += dst[p * NR * kc + k * NR + i] != want;
                        }
            }
    CHECK(bad == 0, "fp16-halves packing: %d values differ from the source's bits", bad);
    free(dst);
}

/* The bf16-pair packing of an ND weight with each config's row interleave (bf16_pairs) against the portable one:
 * every column count from 1 to 70 (the last panel partial, the masked tail of the AVX-512 interleave), odd and
 * even kc (an odd kc's last pair half zero), a column offset; the same bytes, and nothing written past the
 * block (a guard of 0xEE words after it). */
static void test_pack_bf16_pairs(uint64_t *rng)
{
    enum { N = 80, K = 9, NR = 32, GUARD = 64 };
    uint16_t w[K * N];
    for (size_t i = 0; i < K * N; i++) w[i] = (uint16_t)mr_test_rand(rng);
    const size_t words = mr_gemm_bf16x2_panel_elems(NR, K) * 3 + GUARD;
    uint16_t *want = malloc(words * 2), *got = malloc(words * 2);
    int bad = 0, checked = 0;
    const mr_gemm_config *cfg[8];
    const size_t ncfg = mr_dispatch_gemm_usable(cfg, 8);
    for (size_t c = 0; c < ncfg; c++) {
        const mr_gemm_config *g = cfg[c];
        if (!g->bf16_pairs) continue;
        for (size_t kc = K - 1; kc <= K; kc++)
            for (size_t cols = 1; cols <= 70; cols++) {
                const mr_gemm_mat m = {(const char *)w, 1, N, MR_GEMM_SRC_BF16, 0}; /* ND: (n, k) at w[k * N + n] */
                memset(want, 0xEE, words * 2), memset(got, 0xEE, words * 2);
                mr_gemm_pack_bf16x2(&m, 7, cols, NR, 0, kc, want, NULL);
                mr_gemm_pack_bf16x2(&m, 7, cols, NR, 0, kc, got, g->bf16_pairs);
                bad += memcmp(want, got, words * 2) != 0;
                checked++;
            }
    }
    CHECK(bad == 0, "bf16-pair packing with the configs' interleave: %d of %d blocks differ from the portable one",
          bad, checked);
    free(want), free(got);
}

/* ---------------------------------------------------------------------------------------------------- */
/* calling the operator                                                                                 */

/* A list of one tensor (NULL for TNULL). */
static aclTensorList *lst(tspec s)
{
    aclTensor *t = mk(s);
    return t ? aclCreateTensorList((const aclTensor *const *)&t, 1) : NULL;
}

typedef struct gmm_call {
    tspec x, w, bias, scale, pts, gl, out;
    int64_t split, gtype, ltype, act;
    int version;        /* 4 or 3 */
    int x_len;          /* tensors in the x list: 1 (default 0 means 1), 2, or -1 for an empty list */
    int offset_given;   /* pass a non-empty offsetOptional */
} gmm_call;

static gmm_call base_call(void)
{
    gmm_call c;
    memset(&c, 0, sizeof c);
    c.x = c.w = c.bias = c.scale = c.pts = c.gl = c.out = TNULL;
    c.split = 3;
    c.version = 4;
    return c;
}

static aclnnStatus run_gmm(const gmm_call *c)
{
    aclTensorList *x = NULL;
    if (c->x_len == 2) {
        aclTensor *t[2] = {mk(c->x), mk(c->x)};
        x = aclCreateTensorList((const aclTensor *const *)t, 2);
    } else if (c->x_len == -1) {
        x = aclCreateTensorList(NULL, 0);
    } else {
        x = lst(c->x);
    }
    aclTensorList *w = lst(c->w), *bias = lst(c->bias), *scale = lst(c->scale), *pts = lst(c->pts), *out = lst(c->out);
    aclTensorList *offset = c->offset_given ? lst(c->bias) : NULL;
    aclTensor *gl = mk(c->gl);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st;
    if (c->version == 3)
        st = aclnnGroupedMatmulV3GetWorkspaceSize(x, w, bias, scale, offset, NULL, NULL, gl, c->split, c->gtype, out,
                                                  &ws, &exe);
    else
        st = aclnnGroupedMatmulV4GetWorkspaceSize(x, w, bias, scale, offset, NULL, NULL, pts, gl, NULL, NULL, NULL,
                                                  c->split, c->gtype, c->ltype, c->act, out, NULL, NULL, &ws, &exe);
    st = finish(st, c->version == 3 ? aclnnGroupedMatmulV3 : aclnnGroupedMatmulV4, ws, exe);
    const aclTensorList *lists[] = {x, w, bias, scale, pts, out, offset};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (lists[i]) aclDestroyTensorList(lists[i]);
    aclDestroyTensor(gl);
    return st;
}

/* Problem P data */
static const float P_X[6] = {1, 2, 3, 4, 5, 6};
static const float P_W[8] = {1, 0, 0, 1, 1, 1, 1, -1};
static const float P_B[4] = {.5f, .5f, 0, 1};
static const int64_t P_COUNTS[2] = {2, 1};

static gmm_call problem_p(float *out)
{
    gmm_call c = base_call();
    c.x = T2(ACL_FLOAT, 3, 2, P_X);
    c.w = T3(ACL_FLOAT, 2, 2, 2, P_W);
    c.bias = T2(ACL_FLOAT, 2, 2, P_B);
    c.gl = T1(ACL_INT64, 2, P_COUNTS);
    c.ltype = 1;
    c.out = T2(ACL_FLOAT, 3, 2, out);
    return c;
}

static void test_hand_float(void)
{
    float out[6];
    gmm_call c = problem_p(out);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS, "problem P: %s", aclGetRecentErrMsg());
    const float want[6] = {1.5f, 2.5f, 3.5f, 4.5f, 11.0f, 0.0f};
    CHECK_F32(out, want, 6, "problem P, counts");
    /* the same groups as a cumsum [2, 3], V3 (cumsum only) and V4 type 0 */
    static const int64_t cum[2] = {2, 3};
    for (int v = 3; v <= 4; v++) {
        memset(out, SENT, sizeof out);
        c = problem_p(out);
        c.gl = T1(ACL_INT64, 2, cum);
        c.ltype = 0;
        c.version = v;
        CHECK(run_gmm(&c) == ACLNN_SUCCESS, "problem P cumsum V%d: %s", v, aclGetRecentErrMsg());
        CHECK_F32(out, want, 6, "problem P, cumsum, V%d", v);
    }
    /* key-value: (1, 2), (0, 1): rows 0-1 on W1, row 2 on W0, no bias: [3, -1], [7, -1], [5, 6] */
    static const int64_t kv[4] = {1, 2, 0, 1};
    memset(out, SENT, sizeof out);
    c = problem_p(out);
    c.bias = TNULL;
    c.gl = T2(ACL_INT64, 2, 2, kv);
    c.ltype = 2;
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1); /* the device takes key-value lists with int8 only */
    CHECK(run_gmm(&c) == ACLNN_SUCCESS, "problem P key-value: %s", aclGetRecentErrMsg());
    unsetenv("MOEROUTE_DEVICE_LIMITS");
    const float want_kv[6] = {3, -1, 7, -1, 5, 6};
    CHECK_F32(out, want_kv, 6, "problem P, key-value");
    /* rows past the last group: cumsum [1, 2] leaves row 2 unwritten; poisoned with NaN on request */
    static const int64_t short_cum[2] = {1, 2};
    memset(out, SENT, sizeof out);
    c = problem_p(out);
    c.gl = T1(ACL_INT64, 2, short_cum);
    c.ltype = 0;
    CHECK(run_gmm(&c) == ACLNN_SUCCESS, "short cumsum: %s", aclGetRecentErrMsg());
    const float w2[4] = {1.5f, 2.5f, 7.0f, 0.0f};
    CHECK_F32(out, w2, 4, "short cumsum: rows 0 and 1");
    CHECK(mr_test_bytes_are(out + 4, 8, SENT), "short cumsum: row 2 is not written");
    setenv("MOEROUTE_POISON_UNWRITTEN", "1", 1);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS, "short cumsum, poison: %s", aclGetRecentErrMsg());
    unsetenv("MOEROUTE_POISON_UNWRITTEN");
    CHECK(isnan(out[4]) && isnan(out[5]) && out[2] == 7.0f, "poison: row 2 is NaN, rows 0-1 as before");

    /* fp16 rounding: x = [1, 2^-11], W = [[1], [1]] -> 1 + 2^-11 is a tie between 1 and 1 + 2^-10: even -> 1;
     * bias 2^-11 on top (fp16 bias) -> 1 + 2^-10 exactly (0x3C01) */
    uint16_t hx[2] = {0x3C00, 0x1000}, hw[2] = {0x3C00, 0x3C00}, hb[1] = {0x1000}, hout[1];
    c = base_call();
    c.x = T2(ACL_FLOAT16, 1, 2, hx);
    c.w = T3(ACL_FLOAT16, 1, 2, 1, hw);
    c.out = T2(ACL_FLOAT16, 1, 1, hout);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS && hout[0] == 0x3C00, "fp16 tie rounds to even: %04x", (unsigned)hout[0]);
    c.bias = T2(ACL_FLOAT16, 1, 1, hb);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS && hout[0] == 0x3C01, "fp16 with bias: %04x", (unsigned)hout[0]);
    /* bf16 x, fp32 bias, bf16 out: [1, 1] . [[1], [2^-9]] = 1 + 2^-9 (fp32; below half a bf16 ulp: 1), + bias
     * 2^-8 -> 1 + 3 * 2^-9, above half an ulp -> 1 + 2^-7 (0x3F81) */
    uint16_t bx[2] = {0x3F80, 0x3F80}, bw[2] = {0x3F80, 0x3B00}, bout[1];
    const float fb[1] = {0.00390625f};
    c = base_call();
    c.x = T2(ACL_BF16, 1, 2, bx);
    c.w = T3(ACL_BF16, 1, 2, 1, bw);
    c.out = T2(ACL_BF16, 1, 1, bout);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS && bout[0] == 0x3F80, "bf16: 1 + 2^-9 rounds to 1: %04x", (unsigned)bout[0]);
    c.bias = T2(ACL_FLOAT, 1, 1, fb);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS && bout[0] == 0x3F81, "bf16 with fp32 bias: %04x", (unsigned)bout[0]);
}

static const int8_t Q_X[4] = {127, -128, 1, 2};
static const int8_t Q_W[4] = {-128, 1, -128, 2};

static void test_hand_int8(void)
{
    int32_t out[4];
    gmm_call c = base_call();
    static const int64_t one[1] = {2};
    c.x = T2(ACL_INT8, 2, 2, Q_X);
    c.w = T3(ACL_INT8, 1, 2, 2, Q_W);
    c.gl = T1(ACL_INT64, 1, one);
    c.out = T2(ACL_INT32, 2, 2, out);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS, "problem Q: %s", aclGetRecentErrMsg());
    CHECK(out[0] == 128 && out[1] == -129 && out[2] == -384 && out[3] == 5, "problem Q int32: %d %d %d %d", out[0],
          out[1], out[2], out[3]);
    /* int32 bias [[1000, -1]] */
    const int32_t ib[2] = {1000, -1};
    c.bias = T2(ACL_INT32, 1, 2, ib);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS && out[0] == 1128 && out[1] == -130 && out[2] == 616 && out[3] == 4,
          "problem Q int32 + bias: %d %d %d %d", out[0], out[1], out[2], out[3]);
    /* W8A8 bf16 */
    uint16_t sc[2] = {0x3F00, 0x4000}, ob[4]; /* .5, 2 */
    const float pts[2] = {.25f, 1.0f};
    c.bias = TNULL;
    c.scale = T2(ACL_BF16, 1, 2, sc);
    c.pts = T1(ACL_FLOAT, 2, pts);
    c.out = T2(ACL_BF16, 2, 2, ob);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS, "problem Q W8A8: %s", aclGetRecentErrMsg());
    const uint16_t want_b[4] = {0x4180, 0xC281, 0xC340, 0x4120}; /* 16, -64.5, -192, 10 */
    CHECK_U16(ob, want_b, 4, "problem Q W8A8 bf16");
    /* fp32 scale -> fp16 out */
    const float scf[2] = {.5f, 2.0f};
    uint16_t oh[4];
    c.scale = T2(ACL_FLOAT, 1, 2, scf);
    c.out = T2(ACL_FLOAT16, 2, 2, oh);
    CHECK(run_gmm(&c) == ACLNN_SUCCESS, "problem Q W8A8 fp16: %s", aclGetRecentErrMsg());
    const uint16_t want_h[4] = {0x4C00, 0xD408, 0xDA00, 0x4900};
    CHECK_U16(oh, want_h, 4, "problem Q W8A8 fp16");
}

/* A repeatable executor re-pointed with aclSetDynamicInputTensorAddr / aclSetDynamicOutputTensorAddr (x is
 * input 0, out is output 0 of V4): problem P, then x rows scaled by 2 into a second output. */
static void test_repoint(void)
{
    float out1[6], out2[6], x2[6];
    for (int i = 0; i < 6; i++) x2[i] = 2 * P_X[i];
    aclTensorList *x = lst(T2(ACL_FLOAT, 3, 2, P_X)), *w = lst(T3(ACL_FLOAT, 2, 2, 2, P_W));
    aclTensorList *out = lst(T2(ACL_FLOAT, 3, 2, out1));
    aclTensor *gl = mk(T1(ACL_INT64, 2, P_COUNTS));
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnGroupedMatmulV4GetWorkspaceSize(x, w, NULL, NULL, NULL, NULL, NULL, NULL, gl, NULL, NULL,
                                                          NULL, 2, 0, 1, 0, out, NULL, NULL, &ws, &exe);
    CHECK(st == ACLNN_SUCCESS && aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "repeatable: %s",
          aclGetRecentErrMsg());
    void *buf = NULL;
    CHECK(aclrtMalloc(&buf, (size_t)ws, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "workspace");
    CHECK(aclnnGroupedMatmulV4(buf, ws, exe, g_stream) == ACLNN_SUCCESS, "first run: %s", aclGetRecentErrMsg());
    CHECK(aclSetDynamicInputTensorAddr(exe, 0, 0, x, x2) == ACLNN_SUCCESS, "re-point x: %s", aclGetRecentErrMsg());
    CHECK(aclSetDynamicOutputTensorAddr(exe, 0, 0, out, out2) == ACLNN_SUCCESS, "re-point out: %s",
          aclGetRecentErrMsg());
    CHECK(aclnnGroupedMatmulV4(buf, ws, exe, g_stream) == ACLNN_SUCCESS, "second run: %s", aclGetRecentErrMsg());
    const float want1[6] = {1, 2, 3, 4, 11, -1}, want2[6] = {2, 4, 6, 8, 22, -2};
    CHECK_F32(out1, want1, 6, "repeatable executor, first run (no bias)");
    CHECK_F32(out2, want2, 6, "repeatable executor, re-pointed x and out");
    /* the weight (input 1, an appended view slot) re-pointed to 2 W */
    float w2[8];
    for (int i = 0; i < 8; i++) w2[i] = 2 * P_W[i];
    CHECK(aclSetDynamicInputTensorAddr(exe, 1, 0, w, w2) == ACLNN_SUCCESS, "re-point weight: %s", aclGetRecentErrMsg());
    CHECK(aclnnGroupedMatmulV4(buf, ws, exe, g_stream) == ACLNN_SUCCESS, "third run: %s", aclGetRecentErrMsg());
    const float want3[6] = {4, 8, 12, 16, 44, -4};
    CHECK_F32(out2, want3, 6, "repeatable executor, re-pointed weight");
    CHECK(aclSetDynamicInputTensorAddr(exe, 1, 1, w, w2) != ACLNN_SUCCESS, "weight relativeIndex 1 of a list of one");
    aclDestroyAclOpExecutor(exe);
    aclrtFree(buf);
    aclDestroyTensorList(x), aclDestroyTensorList(w), aclDestroyTensorList(out), aclDestroyTensor(gl);
}

/* ---------------------------------------------------------------------------------------------------- */
/* refusals                                                                                             */

static void test_refusals(void)
{
    float out[6];
    char what[128];
    memset(out, SENT, sizeof out);
#define REFUSE(desc, want, phase, mutate)                                                                    \
    do {                                                                                                     \
        gmm_call c_ = problem_p(out);                                                                        \
        mutate;                                                                                              \
        memset(out, SENT, sizeof out);                                                                       \
        snprintf(what, sizeof what, "%s", desc);                                                             \
        expect_refused(what, run_gmm(&c_), want, phase, out, sizeof out);                                    \
    } while (0)
    static const int64_t cum_dec[2] = {2, 1}, cum_neg[2] = {-1, 3}, cum_big[2] = {2, 4}, cnt_neg[2] = {4, -1};
    static const int64_t cnt_big[2] = {3, 1}, kv_bad[4] = {2, 1, 0, 1}, kv_neg[4] = {0, -1, 1, 1}, three[3] = {1, 1, 1};
    static const int32_t gl32[2] = {2, 1};
    static const float x3[12] = {0}, w_wrong[12] = {0};
    uint16_t hb[4] = {0};
    REFUSE("x NULL", ACLNN_ERR_PARAM_NULLPTR, 1, c_.x = TNULL);
    REFUSE("out NULL", ACLNN_ERR_PARAM_NULLPTR, 1, c_.out = TNULL);
    REFUSE("weight NULL", ACLNN_ERR_PARAM_NULLPTR, 1, c_.w = TNULL);
    REFUSE("x list empty", ACLNN_ERR_PARAM_INVALID, 1, c_.x_len = -1);
    REFUSE("x list of two", ACLNN_ERR_PARAM_INVALID, 1, c_.x_len = 2);
    REFUSE("offset given", ACLNN_ERR_PARAM_INVALID, 1, c_.offset_given = 1);
    REFUSE("splitItem 0", ACLNN_ERR_PARAM_INVALID, 1, c_.split = 0);
    REFUSE("groupType 1", ACLNN_ERR_PARAM_INVALID, 1, c_.gtype = 1);
    REFUSE("groupType -1", ACLNN_ERR_PARAM_INVALID, 1, c_.gtype = -1);
    REFUSE("groupListType 3", ACLNN_ERR_PARAM_INVALID, 1, c_.ltype = 3);
    REFUSE("actType 1", ACLNN_ERR_PARAM_INVALID, 1, c_.act = 1);
    REFUSE("weight dtype differs", ACLNN_ERR_PARAM_INVALID, 1, c_.w.dt = ACL_FLOAT16);
    REFUSE("x INT32", ACLNN_ERR_PARAM_INVALID, 1, c_.x.dt = ACL_INT32);
    REFUSE("bias FLOAT16 with FLOAT x", ACLNN_ERR_PARAM_INVALID, 1, c_.bias = T2(ACL_FLOAT16, 2, 2, hb));
    REFUSE("out BF16 with FLOAT x", ACLNN_ERR_PARAM_INVALID, 1, c_.out.dt = ACL_BF16);
    REFUSE("scale with FLOAT x", ACLNN_ERR_PARAM_INVALID, 1, c_.scale = T2(ACL_FLOAT, 2, 2, P_B));
    REFUSE("x 3-D", ACLNN_ERR_PARAM_INVALID, 1, c_.x = T3(ACL_FLOAT, 3, 2, 1, x3));
    REFUSE("weight 2-D", ACLNN_ERR_PARAM_INVALID, 1, c_.w = T2(ACL_FLOAT, 2, 4, P_W));
    REFUSE("weight K differs", ACLNN_ERR_PARAM_INVALID, 1, c_.w = T3(ACL_FLOAT, 2, 3, 2, w_wrong));
    REFUSE("out wrong shape", ACLNN_ERR_PARAM_INVALID, 1, c_.out = T2(ACL_FLOAT, 2, 3, out));
    REFUSE("bias wrong shape", ACLNN_ERR_PARAM_INVALID, 1, c_.bias = T2(ACL_FLOAT, 1, 4, P_B));
    REFUSE("group list missing, E = 2", ACLNN_ERR_PARAM_INVALID, 1, c_.gl = TNULL);
    REFUSE("group list length 3", ACLNN_ERR_PARAM_INVALID, 1, c_.gl = T1(ACL_INT64, 3, three));
    REFUSE("group list INT32", ACLNN_ERR_PARAM_INVALID, 1, c_.gl = T1(ACL_INT32, 2, gl32));
    REFUSE("key-value list 1-D", ACLNN_ERR_PARAM_INVALID, 1, c_.ltype = 2);
    REFUSE("key-value list with float x", ACLNN_ERR_PARAM_INVALID, 1,
           (c_.ltype = 2, c_.gl = T2(ACL_INT64, 2, 2, kv_bad)));
    REFUSE("weight FRACTAL_NZ", ACLNN_ERR_PARAM_INVALID, 1, c_.w.fmt = ACL_FORMAT_FRACTAL_NZ);
    REFUSE("K above 65535", ACLNN_ERR_PARAM_INVALID, 1,
           (c_.x = T2(ACL_FLOAT, 0, 70000, NULL), c_.w = T3(ACL_FLOAT, 2, 70000, 2, NULL),
            c_.out = T2(ACL_FLOAT, 0, 2, out)));
    REFUSE("V3 splitItem 1", ACLNN_ERR_PARAM_INVALID, 1, (c_.version = 3, c_.split = 1));
    /* data errors at execute (decision 13) */
    REFUSE("decreasing cumsum", ACLNN_ERR_PARAM_INVALID, 2, (c_.ltype = 0, c_.gl = T1(ACL_INT64, 2, cum_dec)));
    REFUSE("negative cumsum", ACLNN_ERR_PARAM_INVALID, 2, (c_.ltype = 0, c_.gl = T1(ACL_INT64, 2, cum_neg)));
    REFUSE("cumsum above M", ACLNN_ERR_PARAM_INVALID, 2, (c_.ltype = 0, c_.gl = T1(ACL_INT64, 2, cum_big)));
    REFUSE("negative count", ACLNN_ERR_PARAM_INVALID, 2, c_.gl = T1(ACL_INT64, 2, cnt_neg));
    REFUSE("counts above M", ACLNN_ERR_PARAM_INVALID, 2, c_.gl = T1(ACL_INT64, 2, cnt_big));
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1);
    REFUSE("key-value expert 2 of 2", ACLNN_ERR_PARAM_INVALID, 2, (c_.ltype = 2, c_.gl = T2(ACL_INT64, 2, 2, kv_bad)));
    REFUSE("key-value negative count", ACLNN_ERR_PARAM_INVALID, 2, (c_.ltype = 2, c_.gl = T2(ACL_INT64, 2, 2, kv_neg)));
    unsetenv("MOEROUTE_DEVICE_LIMITS");
    /* out overlapping x at execute */
    {
        float buf[12];
        memcpy(buf, P_X, sizeof P_X);
        gmm_call c_ = problem_p(out);
        c_.x = T2(ACL_FLOAT, 3, 2, buf);
        c_.out = T2(ACL_FLOAT, 3, 2, buf + 3);
        aclnnStatus st = run_gmm(&c_);
        CHECK(st == ACLNN_ERR_PARAM_INVALID && g_phase == 2, "out overlapping x: %d", (int)st);
        CHECK(!memcmp(buf, P_X, sizeof P_X), "out overlapping x: nothing written");
    }
    /* int8 rows */
    int32_t oi[4];
    const int8_t qx[4] = {0};
    const float pts[2] = {1, 1};
#define REFUSE8(desc, mutate)                                                                                \
    do {                                                                                                     \
        gmm_call c_ = base_call();                                                                           \
        c_.x = T2(ACL_INT8, 2, 2, qx);                                                                       \
        c_.w = T3(ACL_INT8, 1, 2, 2, Q_W);                                                                   \
        c_.out = T2(ACL_INT32, 2, 2, oi);                                                                    \
        mutate;                                                                                              \
        memset(oi, SENT, sizeof oi);                                                                         \
        expect_refused(desc, run_gmm(&c_), ACLNN_ERR_PARAM_INVALID, 1, oi, sizeof oi);                       \
    } while (0)
    REFUSE8("int8 with FLOAT bias", c_.bias = T2(ACL_FLOAT, 1, 2, P_B));
    REFUSE8("int8 perTokenScale without scale", c_.pts = T1(ACL_FLOAT, 2, pts));
    REFUSE8("int8 with BF16 scale but INT32 out", c_.scale = T2(ACL_BF16, 1, 2, hb));
    REFUSE8("int8 with FLOAT scale but BF16 out", (c_.scale = T2(ACL_FLOAT, 1, 2, P_B), c_.out.dt = ACL_BF16));
    REFUSE8("int8 perTokenScale wrong length", (c_.scale = T2(ACL_BF16, 1, 2, hb), c_.out.dt = ACL_BF16,
                                                c_.pts = T1(ACL_FLOAT, 1, pts)));
    REFUSE8("int8 scale wrong shape", (c_.scale = T2(ACL_BF16, 2, 1, hb), c_.out.dt = ACL_BF16));
#undef REFUSE
#undef REFUSE8
}

/* ---------------------------------------------------------------------------------------------------- */
/* native API                                                                                           */

static void test_native(void)
{
    moeroute_context *ctx = NULL;
    moeroute_options opt = {0};
    CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context");
    float out[6];
    /* problem P with the weight passed as a transposed view of a stored [E, N, K] */
    const float wt[8] = {1, 0, 0, 1, 1, 1, 1, -1}; /* W0^T = W0, W1^T = W1 (both symmetric) */
    moeroute_grouped_matmul_args a = {
        .struct_size = sizeof a, .num_rows = 3, .k = 2, .n = 2, .num_experts = 2,
        .x_dtype = MOEROUTE_DTYPE_FLOAT32, .x = P_X, .x_row_stride = 2, .x_col_stride = 1,
        .weight = wt, .weight_expert_stride = 4, .weight_k_stride = 1, .weight_n_stride = 2,
        .group_list_type = 1, .num_groups = 2, .group_list = P_COUNTS, .bias = P_B,
        .out_dtype = MOEROUTE_DTYPE_FLOAT32, .out = out,
    };
    CHECK(moeroute_grouped_matmul(ctx, &a) == MOEROUTE_OK, "native problem P: %s", moeroute_error_message());
    const float want[6] = {1.5f, 2.5f, 3.5f, 4.5f, 11.0f, 0.0f};
    CHECK_F32(out, want, 6, "native problem P");
    moeroute_grouped_matmul_args b = a;
    b.group_list = NULL;
    memset(out, SENT, sizeof out);
    CHECK(moeroute_grouped_matmul(ctx, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native: no group list with E = 2");
    b = a;
    b.out_dtype = MOEROUTE_DTYPE_BFLOAT16;
    CHECK(moeroute_grouped_matmul(ctx, &b) == MOEROUTE_ERR_INVALID_DTYPE, "native: out dtype");
    static const int64_t bad[2] = {2, 2};
    b = a;
    b.group_list = bad;
    CHECK(moeroute_grouped_matmul(ctx, &b) == MOEROUTE_ERR_INVALID_VALUE, "native: counts above M");
    b = a;
    b.weight_format = 29; /* FRACTAL_NZ takes INT8 weights only */
    CHECK(moeroute_grouped_matmul(ctx, &b) == MOEROUTE_ERR_INVALID_DTYPE, "native: NZ with float x");
    b = a;
    b.struct_size = 8;
    CHECK(moeroute_grouped_matmul(ctx, &b) == MOEROUTE_ERR_INVALID_ARGS_SIZE, "native: struct_size");
    CHECK(mr_test_bytes_are(out, sizeof out, SENT), "native refusals wrote nothing");
    (void)moeroute_error_message();
    /* struct layout */
    size_t count = 0, size = 0;
    CHECK(moeroute_struct_layout("moeroute_grouped_matmul_args", &count, &size) && count == 23 && size == sizeof a,
          "struct layout (%zu fields, %zu bytes)", count, size);
    moeroute_context_destroy(ctx);
}

/* A problem with many tasks (row chunks x column tiles; a skewed group list) on 1 and 4 threads and with the AMX
 * tiles switched off (MOEROUTE_AMX=0): same bytes, and equal to the scalar ISA (also the TSan case for the
 * operator's threading). bf16: N spans two 2048-column tiles. int8: K = 1100 is one whole k block of 1024 and a
 * tail of 76 (padded to 128 for the AMX tiles). */
static void test_threads_case(uint64_t *rng, int int8)
{
    enum { M = 1100, E = 3 };
    const size_t K = int8 ? 1100 : 40, N = int8 ? 100 : 2100, es = int8 ? 1 : 2, os = int8 ? 4 : 2;
    const mr_gemm_src_type t = int8 ? MR_GEMM_SRC_I8 : MR_GEMM_SRC_BF16;
    char *x = malloc(es * M * K), *w = malloc(es * E * K * N), *o1 = malloc(os * M * N), *o2 = malloc(os * M * N);
    for (size_t i = 0; i < (size_t)M * K; i++) rand_elem(t, x, i, rng);
    for (size_t i = 0; i < (size_t)E * K * N; i++) rand_elem(t, w, i, rng);
    static const int64_t counts[E] = {1000, 0, 90};
    moeroute_grouped_matmul_args a = {
        .struct_size = sizeof a, .num_rows = M, .k = (int64_t)K, .n = (int64_t)N, .num_experts = E,
        .x_dtype = int8 ? MOEROUTE_DTYPE_INT8 : MOEROUTE_DTYPE_BFLOAT16, .x = x, .x_row_stride = (int64_t)K,
        .x_col_stride = 1, .weight = w, .weight_expert_stride = (int64_t)(K * N), .weight_k_stride = (int64_t)N,
        .weight_n_stride = 1, .group_list_type = 1, .num_groups = E, .group_list = counts,
        .out_dtype = int8 ? MOEROUTE_DTYPE_INT32 : MOEROUTE_DTYPE_BFLOAT16,
    };
    const moeroute_options opts[3] = {{1, MOEROUTE_ISA_SCALAR}, {4, MOEROUTE_ISA_AUTO}, {3, MOEROUTE_ISA_AUTO}};
    for (int i = 0; i < 3; i++) {
        if (i == 2) setenv("MOEROUTE_AMX", "0", 1); /* read when the call plans */
        moeroute_context *ctx = NULL;
        CHECK(moeroute_context_create(&opts[i], &ctx) == MOEROUTE_OK, "context %d", i);
        memset(i ? o2 : o1, SENT, os * M * N);
        a.out = i ? o2 : o1;
        CHECK(moeroute_grouped_matmul(ctx, &a) == MOEROUTE_OK, "%s, threads %d%s: %s", int8 ? "int8" : "bf16",
              (int)opts[i].num_threads, i == 2 ? ", AMX off" : "", moeroute_error_message());
        if (i)
            CHECK(!memcmp(o1, o2, os * M * N), "%s: %d threads%s equal 1 thread scalar", int8 ? "int8" : "bf16",
                  opts[i].num_threads, i == 2 ? " without AMX" : "");
        CHECK(mr_test_bytes_are(o1 + 1090 * N * os, 10 * N * os, SENT), "rows past the last group untouched");
        moeroute_context_destroy(ctx);
    }
    unsetenv("MOEROUTE_AMX");
    free(x), free(w), free(o1), free(o2);
}

static void test_threads(uint64_t *rng)
{
    test_threads_case(rng, 0);
    test_threads_case(rng, 1);
}

/* ---------------------------------------------------------------------------------------------------- */
/* V1 / V2 (and V3) with per-expert weight lists                                                         */

/* Weights as E separate tensors: contiguous [K, N], a transposed view of a stored [N, K], or (int8)
 * FRACTAL_NZ with storage [ceil(N/32), ceil(K/16), 16, 32]. */
typedef enum wlayout { W_ND, W_T, W_NZ } wlayout;

/* One expert's [K][N] int8 matrix in the NZ index map of layer spec 8.1 (padding zero). */
static void nz_pack(const int8_t *w, size_t K, size_t N, int8_t *dst)
{
    const size_t k1 = (K + 15) / 16;
    for (size_t k = 0; k < K; k++)
        for (size_t n = 0; n < N; n++) dst[((n / 32 * k1 + k / 16) * 16 + k % 16) * 32 + n % 32] = w[k * N + n];
}

typedef struct lrow {
    aclDataType x, bias, scale, out; /* ACL_DT_UNDEFINED: no bias / scale */
} lrow;

enum { LM = 37, LK = 40, LN = 70, LE = 3 };

typedef struct ldata {
    lrow row;
    char *x, *w, *wt, *nz, *bias, *scale;
    size_t nzb; /* bytes of one NZ expert */
} ldata;

static mr_gemm_src_type src_of(aclDataType t)
{
    return t == ACL_FLOAT16 ? MR_GEMM_SRC_F16 : t == ACL_BF16 ? MR_GEMM_SRC_BF16 : t == ACL_INT8 ? MR_GEMM_SRC_I8
                                                                                                   : MR_GEMM_SRC_F32;
}

static void fill(aclDataType t, char *p, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        if (t == ACL_INT32) {
            const int32_t v = (int32_t)(mr_test_rand(rng) % 200001) - 100000;
            memcpy(p + 4 * i, &v, 4);
        } else {
            rand_elem(src_of(t), p, i, rng);
        }
    }
}

static ldata ldata_make(lrow row, uint64_t *rng)
{
    ldata d;
    memset(&d, 0, sizeof d);
    d.row = row;
    const size_t xs = aclDataTypeSize(row.x);
    d.x = calloc(LM * LK, xs);
    d.w = calloc(LE * LK * LN, xs);
    d.wt = calloc(LE * LK * LN, xs);
    fill(row.x, d.x, LM * LK, rng);
    fill(row.x, d.w, LE * LK * LN, rng);
    for (size_t e = 0; e < LE; e++) /* wt[e][n][k] = w[e][k][n] */
        for (size_t k = 0; k < LK; k++)
            for (size_t n = 0; n < LN; n++)
                memcpy(d.wt + ((e * LN + n) * LK + k) * xs, d.w + ((e * LK + k) * LN + n) * xs, xs);
    d.nzb = (LN + 31) / 32 * 32 * ((LK + 15) / 16 * 16);
    if (row.x == ACL_INT8) {
        d.nz = calloc(LE, d.nzb);
        for (size_t e = 0; e < LE; e++) nz_pack((int8_t *)d.w + e * LK * LN, LK, LN, (int8_t *)d.nz + e * d.nzb);
    }
    if (row.bias != ACL_DT_UNDEFINED) fill(row.bias, d.bias = calloc(LE * LN, 4), LE * LN, rng);
    if (row.scale != ACL_DT_UNDEFINED) fill(row.scale, d.scale = calloc(LE * LN, 4), LE * LN, rng);
    return d;
}

static void ldata_free(ldata *d) { free(d->x), free(d->w), free(d->wt), free(d->nz), free(d->bias), free(d->scale); }

/* V4 on one [E, K, N] weight with [E, N] bias / scale and a device cumsum. */
static aclnnStatus run_v4_ref(const ldata *d, const int64_t *cum, void *out)
{
    gmm_call c = base_call();
    c.x = T2(d->row.x, LM, LK, d->x);
    c.w = T3(d->row.x, LE, LK, LN, d->w);
    if (d->bias) c.bias = T2(d->row.bias, LE, LN, d->bias);
    if (d->scale) c.scale = T2(d->row.scale, LE, LN, d->scale);
    c.gl = T1(ACL_INT64, LE, cum);
    c.out = T2(d->row.out, LM, LN, out);
    return run_gmm(&c);
}

/* Version 1, 2 (host group list) or 3 (device group list) on E per-expert tensors laid out as `lay`. */
static aclnnStatus run_listed(int version, const ldata *d, wlayout lay, const int64_t *cum, void *out)
{
    const size_t xs = aclDataTypeSize(d->row.x);
    aclTensor *w[LE], *b[LE], *sc[LE];
    for (size_t e = 0; e < LE; e++) {
        const int64_t kn[2] = {LK, LN}, nz[4] = {(LN + 31) / 32, (LK + 15) / 16, 16, 32};
        if (lay == W_NZ) {
            const int64_t st[2] = {LN, 1};
            w[e] = aclCreateTensor(kn, 2, ACL_INT8, st, 0, ACL_FORMAT_FRACTAL_NZ, nz, 4, d->nz + e * d->nzb);
        } else if (lay == W_T) {
            tspec t = T2(d->row.x, LK, LN, d->wt + e * LK * LN * xs);
            t.s[0] = 1, t.s[1] = LK;
            w[e] = mk(t);
        } else {
            w[e] = mk(T2(d->row.x, LK, LN, d->w + e * LK * LN * xs));
        }
        b[e] = d->bias ? mk(T1(d->row.bias, LN, d->bias + e * LN * aclDataTypeSize(d->row.bias))) : NULL;
        sc[e] = d->scale ? mk(T1(d->row.scale, LN, d->scale + e * LN * aclDataTypeSize(d->row.scale))) : NULL;
    }
    aclTensorList *xl = lst(T2(d->row.x, LM, LK, d->x)), *yl = lst(T2(d->row.out, LM, LN, out));
    aclTensorList *wl = aclCreateTensorList((const aclTensor *const *)w, LE);
    aclTensorList *bl = d->bias ? aclCreateTensorList((const aclTensor *const *)b, LE) : NULL;
    aclTensorList *sl = d->scale ? aclCreateTensorList((const aclTensor *const *)sc, LE) : NULL;
    aclIntArray *gl = aclCreateIntArray(cum, LE);
    aclTensor *glt = mk(T1(ACL_INT64, LE, cum));
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st;
    exec_fn fn;
    if (version == 1) {
        st = aclnnGroupedMatmulGetWorkspaceSize(xl, wl, bl, sl, NULL, NULL, NULL, gl, 3, yl, &ws, &exe);
        fn = aclnnGroupedMatmul;
    } else if (version == 2) {
        st = aclnnGroupedMatmulV2GetWorkspaceSize(xl, wl, bl, sl, NULL, NULL, NULL, gl, 2, 0, yl, &ws, &exe);
        fn = aclnnGroupedMatmulV2;
    } else {
        st = aclnnGroupedMatmulV3GetWorkspaceSize(xl, wl, bl, sl, NULL, NULL, NULL, glt, 3, 0, yl, &ws, &exe);
        fn = aclnnGroupedMatmulV3;
    }
    aclDestroyIntArray(gl); /* the executor holds its own copy */
    st = finish(st, fn, ws, exe);
    const aclTensorList *lists[] = {xl, yl, wl, bl, sl};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (lists[i]) aclDestroyTensorList(lists[i]);
    aclDestroyTensor(glt);
    return st;
}

static void test_listed(uint64_t *rng)
{
    const aclDataType none = ACL_DT_UNDEFINED;
    const lrow rows[] = {
        {ACL_FLOAT, ACL_FLOAT, none, ACL_FLOAT},   {ACL_FLOAT16, ACL_FLOAT16, none, ACL_FLOAT16},
        {ACL_BF16, ACL_FLOAT, none, ACL_BF16},     {ACL_BF16, none, none, ACL_BF16},
        {ACL_INT8, ACL_INT32, none, ACL_INT32},    {ACL_INT8, ACL_INT32, ACL_BF16, ACL_BF16},
        {ACL_INT8, none, ACL_FLOAT, ACL_FLOAT16},
    };
    static const int64_t cum[LE] = {20, 20, LM}; /* an empty middle group */
    static const char *const isas[] = {"scalar", "avx2", "avx512", NULL};
    const char *env = getenv("MOEROUTE_ISA"); /* CTest's *_isa_* runs set it: restored below */
    char saved[32] = "";
    if (env) snprintf(saved, sizeof saved, "%s", env);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        ldata d = ldata_make(rows[r], rng);
        const size_t bytes = (size_t)LM * LN * aclDataTypeSize(rows[r].out);
        char *want = malloc(bytes), *got = malloc(bytes);
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
            if (isas[i]) setenv("MOEROUTE_ISA", isas[i], 1);
            else unsetenv("MOEROUTE_ISA");
            const char *isa = isas[i] ? isas[i] : "auto";
            memset(want, SENT, bytes);
            CHECK(run_v4_ref(&d, cum, want) == ACLNN_SUCCESS, "row %zu ISA %s: V4 reference: %s", r, isa, errmsg());
            for (int lay = W_ND; lay <= W_NZ; lay++) {
                if (lay == W_NZ && rows[r].x != ACL_INT8) continue;
                for (int v = 1; v <= 3; v++) {
                    memset(got, SENT, bytes);
                    const aclnnStatus st = run_listed(v, &d, (wlayout)lay, cum, got);
                    CHECK(st == ACLNN_SUCCESS && !memcmp(got, want, bytes),
                          "row %zu (x %d, out %d) ISA %s layout %d: V%d on %d separate weights equals V4 byte for "
                          "byte (%d: %s)", r, (int)rows[r].x, (int)rows[r].out, isa, lay, v, LE, (int)st,
                          st ? errmsg() : "");
                }
            }
        }
        free(want), free(got);
        ldata_free(&d);
    }
    if (env) setenv("MOEROUTE_ISA", saved, 1);
    else unsetenv("MOEROUTE_ISA");
}

/* Problem P through V1 / V2: hand-worked result, then every refusal of the host group list and the lists. */
static aclnnStatus run_p_listed(int version, const tspec *w, size_t nw, const tspec *b, size_t nb, const int64_t *cum,
                                size_t ncum, int64_t gtype, float *out)
{
    aclTensor *wt[4] = {0}, *bt[4] = {0};
    for (size_t i = 0; i < nw; i++) wt[i] = mk(w[i]);
    for (size_t i = 0; i < nb; i++) bt[i] = mk(b[i]);
    aclTensorList *xl = lst(T2(ACL_FLOAT, 3, 2, P_X)), *yl = lst(T2(ACL_FLOAT, 3, 2, out));
    aclTensorList *wl = aclCreateTensorList((const aclTensor *const *)wt, nw);
    aclTensorList *bl = nb ? aclCreateTensorList((const aclTensor *const *)bt, nb) : NULL;
    aclIntArray *gl = cum ? aclCreateIntArray(cum, ncum) : NULL;
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = version == 1
                         ? aclnnGroupedMatmulGetWorkspaceSize(xl, wl, bl, NULL, NULL, NULL, NULL, gl, 3, yl, &ws, &exe)
                         : aclnnGroupedMatmulV2GetWorkspaceSize(xl, wl, bl, NULL, NULL, NULL, NULL, gl, 3, gtype, yl,
                                                                &ws, &exe);
    st = finish(st, version == 1 ? aclnnGroupedMatmul : aclnnGroupedMatmulV2, ws, exe);
    if (gl) aclDestroyIntArray(gl);
    aclDestroyTensorList(xl), aclDestroyTensorList(yl), aclDestroyTensorList(wl);
    if (bl) aclDestroyTensorList(bl);
    return st;
}

static void test_listed_hand(void)
{
    float out[6];
    char what[96];
    const tspec w[2] = {T2(ACL_FLOAT, 2, 2, P_W), T2(ACL_FLOAT, 2, 2, P_W + 4)};
    const tspec b[2] = {T1(ACL_FLOAT, 2, P_B), T1(ACL_FLOAT, 2, P_B + 2)};
    static const int64_t cum[2] = {2, 3}, dec[2] = {2, 1}, below[2] = {1, 2}, three[3] = {1, 2, 3};
    static const float w32[6] = {0};
    static const uint16_t w16[4] = {0};
    const tspec w_shape[2] = {w[0], T2(ACL_FLOAT, 3, 2, w32)}, w_dt[2] = {w[0], T2(ACL_FLOAT16, 2, 2, w16)};
    const tspec w_all16[2] = {T2(ACL_FLOAT16, 2, 2, w16), T2(ACL_FLOAT16, 2, 2, w16)};
    const tspec w3[1] = {T3(ACL_FLOAT, 2, 2, 2, P_W)}, b_shape[2] = {b[0], T1(ACL_FLOAT, 3, w32)};
    const tspec w1d[2] = {T1(ACL_FLOAT, 4, P_W), T1(ACL_FLOAT, 4, P_W + 4)};
    const float want[6] = {1.5f, 2.5f, 3.5f, 4.5f, 11.0f, 0.0f};
    for (int v = 1; v <= 2; v++) {
        memset(out, SENT, sizeof out);
        CHECK(run_p_listed(v, w, 2, b, 2, cum, 2, 0, out) == ACLNN_SUCCESS, "problem P V%d: %s", v, errmsg());
        CHECK_F32(out, want, 6, "problem P through V%d (two weights, two biases, host cumsum)", v);
#define REFUSE_L(desc, want_st, ...)                                                                          \
    do {                                                                                                      \
        memset(out, SENT, sizeof out);                                                                        \
        snprintf(what, sizeof what, "V%d: %s", v, desc);                                                      \
        expect_refused(what, run_p_listed(v, __VA_ARGS__, out), want_st, 1, out, sizeof out);                 \
    } while (0)
        REFUSE_L("group list NULL with E = 2", ACLNN_ERR_PARAM_NULLPTR, w, 2, b, 2, NULL, 0, 0);
        REFUSE_L("decreasing cumsum", ACLNN_ERR_PARAM_INVALID, w, 2, b, 2, dec, 2, 0);
        REFUSE_L("cumsum ending below M", ACLNN_ERR_PARAM_INVALID, w, 2, b, 2, below, 2, 0);
        REFUSE_L("group list of 3 for 2 weights", ACLNN_ERR_PARAM_INVALID, w, 2, b, 2, three, 3, 0);
        REFUSE_L("one weight for a group list of 2", ACLNN_ERR_PARAM_INVALID, w, 1, b, 1, cum, 2, 0);
        REFUSE_L("bias list of 1 for 2 weights", ACLNN_ERR_PARAM_INVALID, w, 2, b, 1, cum, 2, 0);
        REFUSE_L("weight[1] of the wrong shape", ACLNN_ERR_PARAM_INVALID, w_shape, 2, b, 2, cum, 2, 0);
        REFUSE_L("weight[1] FLOAT16 (mixed dtypes)", ACLNN_ERR_PARAM_INVALID, w_dt, 2, b, 2, cum, 2, 0);
        REFUSE_L("FLOAT16 weights with FLOAT x", ACLNN_ERR_PARAM_INVALID, w_all16, 2, NULL, 0, cum, 2, 0);
        REFUSE_L("a single 3-D weight", ACLNN_ERR_PARAM_INVALID, w3, 1, NULL, 0, cum, 2, 0);
        REFUSE_L("bias[1] of the wrong shape", ACLNN_ERR_PARAM_INVALID, w, 2, b_shape, 2, cum, 2, 0);
        REFUSE_L("empty weight list", ACLNN_ERR_PARAM_INVALID, w, 0, NULL, 0, cum, 2, 0);
        REFUSE_L("1-D weights", ACLNN_ERR_PARAM_INVALID, w1d, 2, NULL, 0, cum, 2, 0);
        if (v == 2) REFUSE_L("groupType 1", ACLNN_ERR_PARAM_INVALID, w, 2, b, 2, cum, 2, 1);
#undef REFUSE_L
    }
    /* V4 with a list of two 1-D or two 3-D weights: per-expert weights must be 2-D */
    for (int rank = 1; rank <= 3; rank += 2) {
        const tspec one = rank == 1 ? T1(ACL_FLOAT, 4, P_W) : T3(ACL_FLOAT, 1, 2, 2, P_W);
        aclTensor *t[2] = {mk(one), mk(one)};
        aclTensorList *wl = aclCreateTensorList((const aclTensor *const *)t, 2);
        aclTensorList *xl = lst(T2(ACL_FLOAT, 3, 2, P_X)), *yl = lst(T2(ACL_FLOAT, 3, 2, out));
        aclTensor *gl = mk(T1(ACL_INT64, 2, cum));
        uint64_t ws = 0;
        aclOpExecutor *exe = NULL;
        memset(out, SENT, sizeof out);
        aclnnStatus st = aclnnGroupedMatmulV4GetWorkspaceSize(xl, wl, NULL, NULL, NULL, NULL, NULL, NULL, gl, NULL, NULL,
                                                              NULL, 3, 0, 0, 0, yl, NULL, NULL, &ws, &exe);
        snprintf(what, sizeof what, "V4: a list of two %d-D weights", rank);
        expect_refused(what, finish(st, aclnnGroupedMatmulV4, ws, exe), ACLNN_ERR_PARAM_INVALID, 1, out, sizeof out);
        aclDestroyTensorList(wl), aclDestroyTensorList(xl), aclDestroyTensorList(yl), aclDestroyTensor(gl);
    }
    /* a repeatable V1 executor: the host group list destroyed after phase 1, weight[1] re-pointed to 2 W1 */
    {
        aclTensor *t[2] = {mk(w[0]), mk(w[1])};
        aclTensorList *wl = aclCreateTensorList((const aclTensor *const *)t, 2);
        aclTensorList *xl = lst(T2(ACL_FLOAT, 3, 2, P_X)), *yl = lst(T2(ACL_FLOAT, 3, 2, out));
        aclIntArray *gl = aclCreateIntArray(cum, 2);
        uint64_t ws = 0;
        aclOpExecutor *exe = NULL;
        CHECK(aclnnGroupedMatmulGetWorkspaceSize(xl, wl, NULL, NULL, NULL, NULL, NULL, gl, 3, yl, &ws, &exe) ==
                  ACLNN_SUCCESS && aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS,
              "V1 repeatable: %s", errmsg());
        aclDestroyIntArray(gl);
        void *buf = NULL;
        if (ws) CHECK(aclrtMalloc(&buf, (size_t)ws, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "workspace");
        float w1x2[4];
        for (int i = 0; i < 4; i++) w1x2[i] = 2 * P_W[4 + i];
        CHECK(aclnnGroupedMatmul(buf, ws, exe, g_stream) == ACLNN_SUCCESS, "V1 first run: %s", errmsg());
        const float want_a[6] = {1, 2, 3, 4, 11, -1}, want_b[6] = {1, 2, 3, 4, 22, -2};
        CHECK_F32(out, want_a, 6, "V1 repeatable, first run");
        CHECK(aclSetDynamicInputTensorAddr(exe, 1, 1, wl, w1x2) == ACLNN_SUCCESS, "re-point weight[1]: %s", errmsg());
        CHECK(aclnnGroupedMatmul(buf, ws, exe, g_stream) == ACLNN_SUCCESS, "V1 second run: %s", errmsg());
        CHECK_F32(out, want_b, 6, "V1 repeatable, weight[1] re-pointed");
        aclDestroyAclOpExecutor(exe);
        aclrtFree(buf);
        aclDestroyTensorList(wl), aclDestroyTensorList(xl), aclDestroyTensorList(yl);
    }
    /* E = 1: the group list may be NULL (one group of all rows) */
    memset(out, SENT, sizeof out);
    CHECK(run_p_listed(1, w, 1, b, 1, NULL, 0, 0, out) == ACLNN_SUCCESS, "V1, E = 1, no group list: %s", errmsg());
    const float want1[6] = {1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f};
    CHECK_F32(out, want1, 6, "V1, E = 1, no group list");
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    acl_setup();
    test_kernels(&rng);
    test_pack_f16_all();
    test_pack_bf16_pairs(&rng);
    test_pack_f16h(&rng);
    test_hand_float();
    test_hand_int8();
    test_refusals();
    test_repoint();
    test_native();
    test_threads(&rng);
    test_listed(&rng);
    test_listed_hand();
    acl_teardown();
    return mr_test_finish();
}
