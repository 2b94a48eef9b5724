/* The caller's floating-point environment changes no result (docs/numerics.md "The floating-point
 * environment"): the same calls under the default environment and under a hostile one (x86: MXCSR with
 * flush-to-zero, denormals-are-zero, rounding toward +inf and the invalid-operation exception unmasked; AArch64:
 * FPCR with flush-to-zero, default NaN and rounding toward +inf) give the same bytes, with 1 and 2 threads (the
 * pool's workers are created under the hostile environment, so they inherit it), and the caller's environment
 * is the same after each call. Inputs that reach fp32 subnormals (products of 1e-20 and 1e-20, fp16 subnormal
 * activations, sums of tiny terms), ties that the rounding direction decides, and inf * 0 (which raises the
 * invalid exception: unmasked, a call that ran under the caller's MXCSR would stop the test with SIGFPE). Native
 * calls and one aclnn call (the executor path). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_swi_glu.h"
#include "harness.h"
#include "moeroute.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
/* FTZ (bit 15), DAZ (bit 6), rounding toward +inf (bits 13-14 = 10), invalid unmasked (bit 7 clear) */
#define HOSTILE ((0x1F80u & ~0x0080u) | 0x8000u | 0x0040u | 0x4000u)
static uint64_t env_get(void) { return _mm_getcsr() & ~0x3Fu; } /* control bits, not the sticky flags */
static void env_set(uint64_t v) { _mm_setcsr((unsigned)v); }
static uint64_t env_default(void) { return 0x1F80u; }
#elif defined(__aarch64__)
/* FZ (bit 24), DN (bit 25), RMode = 01 toward +inf (bits 22-23) */
#define HOSTILE ((UINT64_C(1) << 24) | (UINT64_C(1) << 25) | (UINT64_C(1) << 22))
static uint64_t env_get(void)
{
    uint64_t v;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
    return v;
}
static void env_set(uint64_t v) { __asm__ __volatile__("msr fpcr, %0" : : "r"(v)); }
static uint64_t env_default(void) { return 0; }
#else
#define HOSTILE 0
static uint64_t env_get(void) { return 0; }
static void env_set(uint64_t v) { (void)v; }
static uint64_t env_default(void) { return 0; }
#endif

enum { M = 6, K = 24, N = 40, H = 64, T = 3, KS = 2 };

typedef struct outputs {
    float gmm32[M * N];
    uint16_t gmm16[M * N], swiglu16[M * H / 2];
    float swiglu32[M * H / 2], swiglu_acl[M * H / 2], unpermute[T * H];
    int8_t dq[M * H];
    float dq_scale[M];
} outputs;

typedef struct inputs {
    float x32[M * K], w32[K * N], sw32[M * H], perm[T * KS * H], probs[T * KS];
    uint16_t x16[M * K], w16[K * N], sw16[M * H], dq16[M * H];
    int32_t idx[T * KS];
} inputs;

static void fill(inputs *in, uint64_t *rng)
{
    for (int i = 0; i < M * K; i++) { /* tiny, ordinary and tie-prone values, one inf * 0 pair below */
        const uint64_t r = mr_test_rand(rng);
        in->x32[i] = i % 5 == 0 ? 1e-20f * (float)(1 + r % 7) : (float)((int64_t)(r >> 40) % 2001 - 1000) * 0x1p-9f;
        in->x16[i] = (uint16_t)(i % 3 == 0 ? r % 0x400u : 0x3C00u + r % 0x800u) | (uint16_t)(r & 0x8000u);
    }
    for (int i = 0; i < K * N; i++) {
        const uint64_t r = mr_test_rand(rng);
        in->w32[i] = i % 7 == 0 ? 1e-20f * (float)(1 + r % 5) : (float)((int64_t)(r >> 40) % 2001 - 1000) * 0x1p-11f;
        in->w16[i] = (uint16_t)(i % 4 == 0 ? r % 0x400u : 0x3800u + r % 0x800u) | (uint16_t)(r & 0x8000u);
    }
    in->x32[1] = INFINITY, in->w32[1 * N + 3] = 0.0f; /* row 0, column 3: inf * 0 = NaN (invalid) */
    for (int i = 0; i < M * H; i++) {
        const uint64_t r = mr_test_rand(rng);
        in->sw32[i] = i % 6 == 0 ? 3e-39f * (float)(1 + r % 9) : (float)((int64_t)(r >> 40) % 4001 - 2000) * 0x1p-8f;
        in->sw16[i] = (uint16_t)(i % 4 == 0 ? r % 0x400u : 0x3000u + r % 0x1800u) | (uint16_t)(r & 0x8000u);
        in->dq16[i] = (uint16_t)(i % 5 == 0 ? r % 0x400u : r % 0x7800u) | (uint16_t)(r & 0x8000u);
    }
    for (int i = 0; i < T * KS * H; i++) {
        const uint64_t r = mr_test_rand(rng);
        in->perm[i] = i % 4 == 0 ? 2e-38f * (float)(1 + r % 9) : 1.0f + (float)(r % 4096) * 0x1p-23f;
    }
    for (int i = 0; i < T * KS; i++) in->probs[i] = i % 2 ? 0.3f : 1e-3f, in->idx[i] = (i * 5) % (T * KS);
}

static int run_all(moeroute_context *ctx, const inputs *in, outputs *o)
{
    int bad = 0;
    uint64_t before = env_get();
    moeroute_grouped_matmul_args g = {.struct_size = sizeof g, .num_rows = M, .k = K, .n = N, .num_experts = 1,
                                      .x_dtype = MOEROUTE_DTYPE_FLOAT32, .x = in->x32, .x_row_stride = K,
                                      .x_col_stride = 1, .weight = in->w32, .weight_expert_stride = K * N,
                                      .weight_k_stride = N, .weight_n_stride = 1, .out_dtype = MOEROUTE_DTYPE_FLOAT32,
                                      .out = o->gmm32};
    bad += moeroute_grouped_matmul(ctx, &g) != MOEROUTE_OK;
    bad += env_get() != before;
    g.x_dtype = g.out_dtype = MOEROUTE_DTYPE_FLOAT16, g.x = in->x16, g.weight = in->w16, g.out = o->gmm16;
    bad += moeroute_grouped_matmul(ctx, &g) != MOEROUTE_OK;
    bad += env_get() != before;
    moeroute_swiglu_args s = {.struct_size = sizeof s, .num_rows = M, .cols = H, .x_dtype = MOEROUTE_DTYPE_FLOAT32,
                              .x = in->sw32, .x_row_stride = H, .x_col_stride = 1, .out = o->swiglu32};
    bad += moeroute_swiglu(ctx, &s) != MOEROUTE_OK;
    s.x_dtype = MOEROUTE_DTYPE_FLOAT16, s.x = in->sw16, s.out = o->swiglu16;
    bad += moeroute_swiglu(ctx, &s) != MOEROUTE_OK;
    bad += env_get() != before;
    moeroute_token_unpermute_args u = {
        .struct_size = sizeof u, .num_tokens = T, .k = KS, .hidden = H, .permuted_rows = T * KS,
        .tokens_dtype = MOEROUTE_DTYPE_FLOAT32, .permuted_tokens = in->perm, .permuted_row_stride = H,
        .permuted_col_stride = 1, .sorted_indices = in->idx, .probs_dtype = MOEROUTE_DTYPE_FLOAT32,
        .probs = in->probs, .probs_row_stride = KS, .probs_col_stride = 1, .out = o->unpermute};
    bad += moeroute_token_unpermute(ctx, &u) != MOEROUTE_OK;
    bad += env_get() != before;
    moeroute_dynamic_quant_args d = {.struct_size = sizeof d, .num_rows = M, .hidden = H,
                                     .x_dtype = MOEROUTE_DTYPE_FLOAT16, .x = in->dq16, .x_row_stride = H,
                                     .x_col_stride = 1, .y = o->dq, .scale = o->dq_scale};
    bad += moeroute_dynamic_quant(ctx, &d) != MOEROUTE_OK;
    bad += env_get() != before;
    /* the aclnn path (the adapter's executor), on the default pool */
    aclTensor *t[2] = {mk(T2(ACL_FLOAT, M, H, in->sw32)), mk(T2(ACL_FLOAT, M, H / 2, o->swiglu_acl))};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnSwiGluGetWorkspaceSize(t[0], -1, t[1], &ws, &exe);
    st = finish(st, aclnnSwiGlu, ws, exe);
    bad += st != ACLNN_SUCCESS;
    destroy_all(t, 2);
    bad += env_get() != before;
    return bad;
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    static inputs in;
    static outputs want, got;
    fill(&in, &rng);
    env_set(env_default());
    acl_setup();
    moeroute_context *ctx = NULL;
    moeroute_options opt = {1, 0};
    CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context");
    CHECK(run_all(ctx, &in, &want) == 0, "the calls under the default environment");
    moeroute_context_destroy(ctx);
    CHECK(isnan(want.gmm32[3]), "inf * 0 gives NaN");
    for (int threads = 1; threads <= 2; threads++) {
        env_set(HOSTILE);
        moeroute_options o2 = {threads, 0};
        moeroute_context *c2 = NULL;
        int ok = moeroute_context_create(&o2, &c2) == MOEROUTE_OK; /* workers inherit the hostile environment */
        memset(&got, 0x5A, sizeof got);
        const int bad = ok ? run_all(c2, &in, &got) : -1;
        const uint64_t after = env_get();
        moeroute_context_destroy(c2);
        env_set(env_default());
        CHECK(ok && bad == 0, "%d threads: %d calls failed or left the caller's environment changed", threads, bad);
        CHECK(after == HOSTILE, "%d threads: environment after the calls", threads);
        CHECK(memcmp(got.gmm32, want.gmm32, sizeof got.gmm32) == 0, "%d threads: fp32 grouped matmul", threads);
        CHECK(memcmp(got.gmm16, want.gmm16, sizeof got.gmm16) == 0, "%d threads: fp16 grouped matmul", threads);
        CHECK(memcmp(got.swiglu32, want.swiglu32, sizeof got.swiglu32) == 0, "%d threads: fp32 SwiGlu", threads);
        CHECK(memcmp(got.swiglu_acl, want.swiglu32, sizeof got.swiglu_acl) == 0, "%d threads: aclnnSwiGlu", threads);
        CHECK(memcmp(got.swiglu16, want.swiglu16, sizeof got.swiglu16) == 0, "%d threads: fp16 SwiGlu", threads);
        CHECK(memcmp(got.unpermute, want.unpermute, sizeof got.unpermute) == 0, "%d threads: unpermute", threads);
        CHECK(memcmp(got.dq, want.dq, sizeof got.dq) == 0 && memcmp(got.dq_scale, want.dq_scale, sizeof got.dq_scale) == 0,
              "%d threads: fp16 dynamic quant", threads);
    }
    acl_teardown();
    return mr_test_finish();
}
