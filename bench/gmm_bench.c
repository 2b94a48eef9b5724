/* moeroute_gmm_bench: moeroute_grouped_matmul on MoE expert-FFN shapes against this machine's compute peak,
 * measured in the same run (docs/operators/grouped_matmul.md "Performance"), the fused
 * moeroute_grouped_matmul_swiglu_quant on the same int8 work ("int8-swq", ND and FRACTAL_NZ weights), every call
 * once more on weights packed once beforehand (moeroute_grouped_matmul_pack_weights), and OpenBLAS
 * sgemm called once per group on the bf16 work widened to fp32 (a peer: loaded at run time with dlopen when
 * libopenblas.so.0 is there, skipped otherwise; OPENBLAS_NUM_THREADS is set to the context's threads).
 *
 *   moeroute_gmm_bench [--preset deepseek|qwen3|all] [--rows R] [--experts E] [--threads T]
 *                      [--dtype bf16|int8|int8-swq|all] [--seconds S] [--reps N] [--no-peer] [--smoke]
 *
 * Presets (the up projection w13 of one MoE layer): DeepSeek-V3 K = 7168, N = 4096 (2 x 2048), 256 experts;
 * Qwen3-30B-A3B K = 2048, N = 1536 (2 x 768), 128 experts. The defaults scale the experts and routed rows down
 * so the weights fit in memory (DeepSeek-V3's full 256 experts need 15 GB of bf16 weights: --experts 256).
 * Rows are split over the experts with a skewed (Zipf 1.2) group list. The bf16 case runs once more with its weight
 * stored [E, N, K], and with its values rounded to fp16 ("fp16", both weight layouts). The peak is a tight loop of the
 * instruction the kernels use (vfmadd231ps for bf16, vpdpbusd or vpmaddwd for int8) on T threads at once; where
 * the CPU has AMX-INT8 (which the int8 kernel then uses, unless MOEROUTE_AMX=0), int8 rows also show their ratio
 * to a tdpbssd tile loop.
 * Each case runs --reps times (default: at least 3 and 2 seconds) and reports the fastest. Each result is
 * spot-checked (int8 exactly, bf16 within the documented bound). --smoke: tiny shapes, a
 * seconds-long run that checks the results and asserts no timing. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gmm_peak.h"
#include "moeroute.h"

typedef struct {
    const char *name;
    int64_t k, n, experts, rows;
} gmm_preset;

static const gmm_preset gmm_presets[] = {
    {"deepseek", 7168, 4096, 16, 4096},
    {"qwen3", 2048, 1536, 128, 8192},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* fp16 for the fp16 rows: finite values below 65504 (the cases' data), to nearest; and back, exactly */
static uint16_t to_f16(float f)
{
    const uint16_t s = f < 0 ? 0x8000u : 0;
    f = fabsf(f);
    if (f < 0x1p-14f) return (uint16_t)(s | (uint16_t)lrintf(f * 0x1p24f)); /* subnormal (or 0x400: the least normal) */
    int e;
    long q = lrintf(frexpf(f, &e) * 2048.0f); /* f = q * 2^(e - 11), q in [1024, 2048] */
    if (q == 2048) q = 1024, e++;
    return (uint16_t)(s | (uint16_t)((e + 14) << 10) | (uint16_t)(q - 1024));
}

static float from_f16(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 0x3FF;
    const float v = e ? ldexpf((float)(m | 0x400), e - 25) : ldexpf((float)m, -24);
    return h & 0x8000u ? -v : v;
}

/* ---- the peak: one loop per thread, all at once ----------------------------------------------------------- */
typedef struct {
    double (*fn)(long);
    double seconds, result;
} gmm_peak_job;

/* Operations per second of fn on this thread, run in slices until `seconds` have passed. */
static void *gmm_peak_thread(void *p)
{
    gmm_peak_job *j = p;
    double ops = 0, t0 = now(), t = t0;
    while (t - t0 < j->seconds) {
        ops += j->fn(1 << 14);
        t = now();
    }
    j->result = t > t0 ? ops / (t - t0) : 0.0; /* --seconds 0: no peak */
    return NULL;
}

static double gmm_peak(double (*fn)(long), int threads, double seconds)
{
    gmm_peak_job jobs[256];
    pthread_t tid[256];
    if (threads > 256) threads = 256;
    for (int i = 0; i < threads; i++) {
        jobs[i].fn = fn, jobs[i].seconds = seconds;
        if (i && pthread_create(&tid[i], NULL, gmm_peak_thread, &jobs[i]) != 0) return 0;
    }
    gmm_peak_thread(&jobs[0]);
    double sum = jobs[0].result;
    for (int i = 1; i < threads; i++) {
        pthread_join(tid[i], NULL);
        sum += jobs[i].result;
    }
    return sum;
}

typedef struct {
    double (*fma)(long), (*i8)(long), (*amx)(long);
    const char *fma_name, *i8_name;
} gmm_peaks;

static gmm_peaks gmm_pick_peaks(void)
{
    gmm_peaks p = {NULL, NULL, NULL, "none", "none"};
#if defined(__x86_64__) && defined(GMM_HAVE_AMX)
    if (gmm_amx_usable()) p.amx = gmm_peak_amx;
#endif
#if defined(__x86_64__) && defined(GMM_HAVE_AVX512)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        p.fma = gmm_peak_fma_avx512, p.fma_name = "vfmadd231ps zmm";
        if (__builtin_cpu_supports("avx512vnni")) p.i8 = gmm_peak_vnni_avx512, p.i8_name = "vpdpbusd zmm";
    }
#endif
#if defined(__x86_64__) && defined(GMM_HAVE_AVX2)
    __builtin_cpu_init();
    if (!p.fma && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        p.fma = gmm_peak_fma_avx2, p.fma_name = "vfmadd231ps ymm";
    if (!p.i8 && __builtin_cpu_supports("avx2")) p.i8 = gmm_peak_madd_avx2, p.i8_name = "vpmaddwd+vpaddd ymm";
#endif
    return p;
}

/* ---- one measured case --------------------------------------------------------------------------------------- */
typedef struct {
    int int8;
    int64_t rows, k, n, e;
    void *x, *w, *out;
    int64_t *counts;
    /* int8-swq: weight scales [E, N], token scales [M], cumsum group list, the NZ copy of w, row scales */
    float *wscale, *xscale, *oscale;
    int64_t *ends;
    int8_t *wnz;
    int wt;  /* w is stored [E, N, K] (a transposed weight, as torch.nn.Linear keeps it), not [E, K, N] */
    int f16; /* the float case's x, w and out are fp16, not bf16 */
} gmm_case;

static int gmm_make(gmm_case *c, uint64_t *rng)
{
    const size_t es = c->int8 ? 1 : 2;
    c->x = malloc((size_t)(c->rows * c->k) * es);
    c->w = malloc((size_t)(c->e * c->k * c->n) * es);
    c->out = malloc((size_t)(c->rows * c->n) * (c->int8 ? 4 : 2));
    c->counts = calloc((size_t)c->e, sizeof(int64_t));
    if (!c->x || !c->w || !c->out || !c->counts) return -1;
    for (int64_t i = 0; i < c->rows * c->k; i++) {
        const uint64_t r = rng_next(rng);
        if (c->int8) ((int8_t *)c->x)[i] = (int8_t)(r >> 56);
        else ((uint16_t *)c->x)[i] = to_bf16((float)((double)(r >> 11) / 9007199254740992.0 - 0.5));
    }
    for (int64_t i = 0; i < c->e * c->k * c->n; i++) {
        const uint64_t r = rng_next(rng);
        if (c->int8) ((int8_t *)c->w)[i] = (int8_t)(r >> 56);
        else ((uint16_t *)c->w)[i] = to_bf16((float)((double)(r >> 11) / 9007199254740992.0 - 0.5) * 0.05f);
    }
    /* skewed groups: expert j gets a share proportional to 1 / (rank + 1)^1.2, ranks shuffled */
    double *share = malloc(sizeof(double) * (size_t)c->e), total = 0;
    if (!share) return -1;
    for (int64_t j = 0; j < c->e; j++) total += share[j] = 1.0 / pow((double)(j + 1), 1.2);
    int64_t given = 0;
    for (int64_t j = 0; j < c->e; j++) given += c->counts[j] = (int64_t)floor(share[j] / total * (double)c->rows);
    c->counts[0] += c->rows - given;
    for (int64_t j = c->e - 1; j > 0; j--) { /* shuffle */
        const int64_t o = (int64_t)(rng_next(rng) % (uint64_t)(j + 1)), t = c->counts[j];
        c->counts[j] = c->counts[o], c->counts[o] = t;
    }
    free(share);
    return 0;
}

static void gmm_free(gmm_case *c)
{
    free(c->x), free(c->w), free(c->out), free(c->counts);
    free(c->wscale), free(c->xscale), free(c->oscale), free(c->ends), free(c->wnz);
}

/* The inputs of the fused operator: scales, the cumsum of the counts, w packed in FRACTAL_NZ (layer spec 8.1). */
static int swq_make(gmm_case *c, uint64_t *rng)
{
    const int64_t n1 = (c->n + 31) / 32, k1 = (c->k + 15) / 16;
    c->wscale = malloc(sizeof(float) * (size_t)(c->e * c->n));
    c->xscale = malloc(sizeof(float) * (size_t)c->rows);
    c->oscale = malloc(sizeof(float) * (size_t)c->rows);
    c->ends = malloc(sizeof(int64_t) * (size_t)c->e);
    c->wnz = calloc((size_t)(c->e * n1 * k1 * 512), 1);
    if (!c->wscale || !c->xscale || !c->oscale || !c->ends || !c->wnz) return -1;
    for (int64_t i = 0; i < c->e * c->n; i++) c->wscale[i] = (float)(rng_next(rng) >> 40) * 0x1p-24f * 1e-3f + 1e-5f;
    for (int64_t i = 0; i < c->rows; i++) c->xscale[i] = (float)(rng_next(rng) >> 40) * 0x1p-24f * 0.05f + 1e-4f;
    for (int64_t j = 0, at = 0; j < c->e; j++) c->ends[j] = at += c->counts[j];
    const int8_t *w = c->w;
    for (int64_t e = 0; e < c->e; e++)
        for (int64_t k = 0; k < c->k; k++)
            for (int64_t n = 0; n < c->n; n++)
                c->wnz[(((e * n1 + n / 32) * k1 + k / 16) * 16 + k % 16) * 32 + n % 32] = w[(e * c->k + k) * c->n + n];
    return 0;
}

static moeroute_status swq_run(moeroute_context *ctx, const gmm_case *c, int nz, const moeroute_gmm_weights *packed)
{
    moeroute_grouped_matmul_swiglu_quant_args a = {
        .struct_size = sizeof a, .num_rows = c->rows, .k = c->k, .n = c->n, .num_experts = c->e, .x = c->x,
        .x_row_stride = c->k, .x_col_stride = 1, .weight = nz ? c->wnz : c->w, .weight_expert_stride = c->k * c->n,
        .weight_k_stride = c->n, .weight_n_stride = 1, .weight_format = nz ? 29 : 0,
        .weight_scale_dtype = MOEROUTE_DTYPE_FLOAT32, .weight_scale = c->wscale, .x_scale = c->xscale,
        .num_groups = c->e, .group_list = c->ends, .output = c->out, .output_scale = c->oscale};
    return packed ? moeroute_grouped_matmul_swiglu_quant_packed(ctx, &a, packed)
                  : moeroute_grouped_matmul_swiglu_quant(ctx, &a);
}

/* 8 random rows of the fused result against a float64 model of layer spec 9.3 (the SiLU in double): int8
 * values within 1, scales within 1e-5 relative (the library's fp32 SiLU may differ by an ulp). NULL when right. */
static const char *swq_check(const gmm_case *c, uint64_t *rng)
{
    const int64_t h = c->n / 2;
    float *cv = malloc(sizeof(float) * (size_t)c->n), *sv = malloc(sizeof(float) * (size_t)(h ? h : 1));
    const char *bad = cv && sv ? NULL : "out of memory";
    for (int t = 0; t < 8 && !bad && c->rows && h; t++) {
        const int64_t m = (int64_t)(rng_next(rng) % (uint64_t)c->rows);
        int64_t e = 0;
        while (c->ends[e] <= m) e++;
        float amax = 0;
        for (int64_t n = 0; n < c->n; n++) {
            int64_t a = 0;
            for (int64_t k = 0; k < c->k; k++)
                a += (int64_t)((int8_t *)c->x)[m * c->k + k] * ((int8_t *)c->w)[(e * c->k + k) * c->n + n];
            cv[n] = (float)a * c->xscale[m] * c->wscale[e * c->n + n];
        }
        for (int64_t j = 0; j < h; j++) {
            sv[j] = (float)((double)cv[j] / (1.0 + exp(-(double)cv[j]))) * cv[j + h];
            amax = fabsf(sv[j]) > amax ? fabsf(sv[j]) : amax;
        }
        const float qs = amax / 127.0f, got_s = c->oscale[m];
        if (fabsf(got_s - qs) > 1e-5f * qs) bad = "a row scale differs from the model";
        for (int64_t j = 0; j < h && !bad; j++) {
            const double want = qs > 0 ? rint((double)sv[j] / qs) : 0;
            if (fabs((double)((int8_t *)c->out)[m * h + j] - want) > 1.0) bad = "an int8 result differs from the model";
        }
    }
    free(cv), free(sv);
    return bad;
}

/* ---- the OpenBLAS peer: cblas_sgemm per group on fp32 copies, loaded at run time ------------------------------ */
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);
static sgemm_fn blas_sgemm;

static int blas_load(int threads)
{
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) return 0;
    void *f = dlsym(h, "cblas_sgemm"), *set = dlsym(h, "openblas_set_num_threads");
    if (!f) return 0;
    memcpy(&blas_sgemm, &f, sizeof f); /* object pointer -> function pointer without a cast ISO C lacks */
    if (set) {
        void (*setter)(int);
        memcpy(&setter, &set, sizeof set);
        setter(threads);
    }
    return 1;
}

/* C[group rows] = A[group rows] . W[e] per group (101 = CblasRowMajor, 111 = CblasNoTrans). */
static void blas_run(const gmm_case *c, const float *a, const float *w, float *out)
{
    int64_t at = 0;
    for (int64_t e = 0; e < c->e; e++) {
        if (c->counts[e])
            blas_sgemm(101, 111, 111, (int)c->counts[e], (int)c->n, (int)c->k, 1.0f, a + at * c->k, (int)c->k,
                       w + e * c->k * c->n, (int)c->n, 0.0f, out + at * c->n, (int)c->n);
        at += c->counts[e];
    }
}

/* The call on the case's weights, or (packed not NULL) on those weights packed beforehand; pack != NULL: only
 * pack them into *pack. */
static moeroute_status gmm_run(moeroute_context *ctx, const gmm_case *c, const moeroute_gmm_weights *packed,
                               moeroute_gmm_weights **pack)
{
    moeroute_grouped_matmul_args a = {
        .struct_size = sizeof a, .num_rows = c->rows, .k = c->k, .n = c->n, .num_experts = c->e,
        .x_dtype = c->int8 ? MOEROUTE_DTYPE_INT8 : c->f16 ? MOEROUTE_DTYPE_FLOAT16 : MOEROUTE_DTYPE_BFLOAT16,
        .x = c->x, .x_row_stride = c->k,
        .x_col_stride = 1, .weight = c->w, .weight_expert_stride = c->k * c->n, .weight_k_stride = c->wt ? 1 : c->n,
        .weight_n_stride = c->wt ? c->k : 1, .group_list_type = 1, .num_groups = c->e, .group_list = c->counts,
        .out_dtype = c->int8 ? MOEROUTE_DTYPE_INT32 : c->f16 ? MOEROUTE_DTYPE_FLOAT16 : MOEROUTE_DTYPE_BFLOAT16,
        .out = c->out,
    };
    if (pack) return moeroute_grouped_matmul_pack_weights(ctx, &a, pack);
    return packed ? moeroute_grouped_matmul_packed(ctx, &a, packed) : moeroute_grouped_matmul(ctx, &a);
}

static float gmm_elem(const gmm_case *c, const void *p, size_t i)
{
    return c->f16 ? from_f16(((const uint16_t *)p)[i]) : from_bf16(((const uint16_t *)p)[i]);
}

/* 64 random elements against a direct sum (int8: exact; bf16 / fp16: the documented bound). NULL when right. */
static const char *gmm_check(const gmm_case *c, uint64_t *rng)
{
    for (int t = 0; t < 64 && c->rows && c->n; t++) {
        const int64_t m = (int64_t)(rng_next(rng) % (uint64_t)c->rows), n = (int64_t)(rng_next(rng) % (uint64_t)c->n);
        int64_t e = 0, at = 0;
        while (at + c->counts[e] <= m) at += c->counts[e++];
        double r = 0, s = 0;
        int64_t ri = 0;
        for (int64_t k = 0; k < c->k; k++) {
            const size_t xi = (size_t)(m * c->k + k);
            const size_t wi = (size_t)(c->wt ? (e * c->n + n) * c->k + k : (e * c->k + k) * c->n + n);
            if (c->int8) {
                ri += (int64_t)((int8_t *)c->x)[xi] * ((int8_t *)c->w)[wi];
            } else {
                const double p = (double)gmm_elem(c, c->x, xi) * gmm_elem(c, c->w, wi);
                r += p, s += fabs(p);
            }
        }
        if (c->int8) {
            if (((int32_t *)c->out)[m * c->n + n] != (int32_t)ri) return "an int8 result differs from the exact sum";
        } else {
            const double got = gmm_elem(c, c->out, (size_t)(m * c->n + n));
            const double g = 1.01 * (double)(c->k + 1) * ldexp(1, -24) * s;
            if (fabs(got - r) > g + ldexp(1, c->f16 ? -11 : -8) * (fabs(r) + g) + ldexp(1, c->f16 ? -24 : -120))
                return "a bf16 / fp16 result is outside the bound";
        }
    }
    return NULL;
}

/* One timed operation on a case; 0 when it ran. */
typedef struct {
    moeroute_context *ctx;
    const float *a32, *w32; /* the OpenBLAS peer's fp32 operands */
    float *o32;
    const moeroute_gmm_weights *packed; /* op_gmm with arg 1 */
} gmm_env;
typedef int (*gmm_op)(const gmm_env *env, const gmm_case *c, int arg);

static int op_gmm(const gmm_env *env, const gmm_case *c, int packed)
{
    return gmm_run(env->ctx, c, packed ? env->packed : NULL, NULL) != MOEROUTE_OK;
}
/* arg 0: ND weight, 1: NZ weight, 2: env->packed */
static int op_swq(const gmm_env *env, const gmm_case *c, int arg)
{
    return swq_run(env->ctx, c, arg == 1, arg == 2 ? env->packed : NULL) != MOEROUTE_OK;
}
static int op_blas(const gmm_env *env, const gmm_case *c, int arg)
{
    (void)arg;
    blas_run(c, env->a32, env->w32, env->o32);
    return 0;
}

/* The fastest of --reps runs (default: at least 3 and 2 seconds, at most 20); a negative time when op failed. */
static double gmm_time(gmm_op op, const gmm_env *env, const gmm_case *c, int arg, int reps, int smoke)
{
    double best = 1e30, spent = 0;
    for (int rep = 0; reps > 0 ? rep < reps : rep < 20 && (rep < 3 || spent < 2.0); rep++) {
        const double t0 = now();
        if (op(env, c, arg)) return -1;
        const double dt = now() - t0;
        spent += dt;
        if (dt < best) best = dt;
        if (smoke) break;
    }
    return best;
}

/* peak2: the AMX tile peak for int8 rows where the CPU has one (0: none, "-") */
static void gmm_row(const char *preset, const char *what, const gmm_case *c, double best, double peak, double peak2)
{
    const double ops = 2.0 * (double)c->rows * (double)c->k * (double)c->n / best;
    char amx[32] = "-";
    if (peak2 > 0) snprintf(amx, sizeof amx, "%.2f", ops / peak2);
    printf("| %s | %s | %lld | %lld | %lld | %lld | %.1f | %.1f | %.1f | %.2f | %s |\n", preset, what,
           (long long)c->rows, (long long)c->k, (long long)c->n, (long long)c->e, best * 1e3, ops * 1e-9, peak * 1e-9,
           peak > 0 ? ops / peak : 0.0, amx);
}

/* The OpenBLAS peer on the bf16 case: fp32 copies (exact widening), then sgemm per group. */
static int blas_case(const char *preset, const gmm_env *env0, const gmm_case *c, int reps, int smoke, double peak)
{
    gmm_env env = *env0;
    float *a = malloc(sizeof(float) * (size_t)(c->rows * c->k)), *w = malloc(sizeof(float) * (size_t)(c->e * c->k * c->n));
    float *o = malloc(sizeof(float) * (size_t)(c->rows * c->n));
    int rc = a && w && o ? 0 : -1;
    for (int64_t i = 0; !rc && i < c->rows * c->k; i++) a[i] = from_bf16(((uint16_t *)c->x)[i]);
    for (int64_t i = 0; !rc && i < c->e * c->k * c->n; i++) w[i] = from_bf16(((uint16_t *)c->w)[i]);
    env.a32 = a, env.w32 = w, env.o32 = o;
    if (!rc) gmm_row(preset, "f32 OpenBLAS sgemm/group", c, gmm_time(op_blas, &env, c, 0, reps, smoke), peak, 0);
    free(a), free(w), free(o);
    return rc;
}

/* The float case again with the weight stored [E, N, K] (a transposed copy, read through the strides): the
 * packing's rows-along-k path. */
static int gmm_transposed_row(const char *preset, const gmm_env *env, gmm_case *c, int reps, int smoke, double peak,
                              uint64_t *rng)
{
    uint16_t *wt = malloc(sizeof(uint16_t) * (size_t)(c->e * c->k * c->n)), *w = c->w;
    if (!wt) return -1;
    for (int64_t e = 0; e < c->e; e++)
        for (int64_t k = 0; k < c->k; k++)
            for (int64_t n = 0; n < c->n; n++) wt[(e * c->n + n) * c->k + k] = w[(e * c->k + k) * c->n + n];
    c->w = wt, c->wt = 1;
    const double best = gmm_time(op_gmm, env, c, 0, reps, smoke);
    const char *bad = best < 0 ? moeroute_error_message() : gmm_check(c, rng);
    const char *what = c->f16 ? "fp16, weight [E, N, K]" : "bf16, weight [E, N, K]";
    if (!bad) gmm_row(preset, what, c, best, peak, 0);
    else fprintf(stderr, "%s %s: %s\n", preset, what, bad);
    c->w = w, c->wt = 0;
    free(wt);
    return bad ? -1 : 0;
}

/* The bf16 case's values as fp16 (x and w rounded to nearest, then the same calls): rows "fp16" and "fp16,
 * weight [E, N, K]" (fp16 x and weights are widened four at a time by the packing). */
static int gmm_f16_rows(const char *preset, const gmm_env *env, gmm_case *c, int reps, int smoke, double peak,
                        uint64_t *rng)
{
    const size_t nx = (size_t)(c->rows * c->k), nw = (size_t)(c->e * c->k * c->n);
    uint16_t *x = c->x, *w = c->w, *hx = malloc(sizeof(uint16_t) * nx), *hw = malloc(sizeof(uint16_t) * nw);
    int rc = -1;
    if (hx && hw) {
        for (size_t i = 0; i < nx; i++) hx[i] = to_f16(from_bf16(x[i]));
        for (size_t i = 0; i < nw; i++) hw[i] = to_f16(from_bf16(w[i]));
        c->x = hx, c->w = hw, c->f16 = 1;
        const double best = gmm_time(op_gmm, env, c, 0, reps, smoke);
        const char *bad = best < 0 ? moeroute_error_message() : gmm_check(c, rng);
        if (!bad) gmm_row(preset, "fp16", c, best, peak, 0);
        else fprintf(stderr, "%s fp16: %s\n", preset, bad);
        rc = bad ? -1 : gmm_transposed_row(preset, env, c, reps, smoke, peak, rng);
        c->x = x, c->w = w, c->f16 = 0;
    }
    free(hx), free(hw);
    return rc;
}

int main(int argc, char **argv)
{
    const char *preset = "all", *dtype = "all";
    int64_t rows = -1, experts = -1;
    int threads = 0, smoke = 0, reps = 0, no_peer = 0;
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--smoke")) smoke = 1;
        else if (!strcmp(argv[i], "--no-peer")) no_peer = 1;
        else if (!strcmp(argv[i], "--preset") && v) preset = v, i++;
        else if (!strcmp(argv[i], "--dtype") && v) dtype = v, i++;
        else if (!strcmp(argv[i], "--rows") && v) rows = atoll(v), i++;
        else if (!strcmp(argv[i], "--experts") && v) experts = atoll(v), i++;
        else if (!strcmp(argv[i], "--threads") && v) threads = atoi(v), i++;
        else if (!strcmp(argv[i], "--seconds") && v) seconds = atof(v), i++;
        else if (!strcmp(argv[i], "--reps") && v) reps = atoi(v), i++;
        else {
            fprintf(stderr, "usage: %s [--preset deepseek|qwen3|all] [--rows R] [--experts E] [--threads T] "
                            "[--dtype bf16|int8|int8-swq|all] [--seconds S] [--reps N] [--no-peer] [--smoke]\n",
                    argv[0]);
            return 2;
        }
    }
    moeroute_options opt = {threads, MOEROUTE_ISA_AUTO};
    moeroute_context *ctx;
    if (moeroute_context_create(&opt, &ctx) != MOEROUTE_OK) {
        fprintf(stderr, "context: %s\n", moeroute_error_message());
        return 1;
    }
    const int nthreads = moeroute_context_threads(ctx);
    const gmm_peaks pk = gmm_pick_peaks();
    const double peak_f = smoke || !pk.fma ? 0 : gmm_peak(pk.fma, nthreads, seconds);
    const double peak_i = smoke || !pk.i8 ? 0 : gmm_peak(pk.i8, nthreads, seconds);
    const double peak_a = smoke || !pk.amx ? 0 : gmm_peak(pk.amx, nthreads, seconds);
    const int peer = !no_peer && blas_load(nthreads);
    printf("moeroute_gmm_bench: %d threads, ISA %s; peak %.1f GFLOP/s (%s), %.1f GOP/s int8 (%s), %.1f GOP/s int8 AMX "
           "(tdpbssd%s); OpenBLAS peer: %s\n",
           nthreads, moeroute_isa_name(moeroute_context_isa(ctx)), peak_f * 1e-9, pk.fma_name, peak_i * 1e-9,
           pk.i8_name, peak_a * 1e-9, pk.amx ? "" : ": none", peer ? "libopenblas" : "not loaded");
    printf("| preset | dtype | rows | K | N | experts | ms | G(FL)OP/s | peak | ratio | ratio to AMX peak |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n");
    static const char *const kinds[3] = {"bf16", "int8", "int8-swq"};
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    int failed = 0;
    gmm_env env = {ctx, NULL, NULL, NULL, NULL};
    for (size_t p = 0; p < sizeof gmm_presets / sizeof gmm_presets[0]; p++) {
        const gmm_preset *ps = &gmm_presets[p];
        if (strcmp(preset, "all") && strcmp(preset, ps->name)) continue;
        for (int kind = 0; kind < 3; kind++) {
            if (strcmp(dtype, "all") && strcmp(dtype, kinds[kind])) continue;
            gmm_case c = {kind > 0, rows > 0 ? rows : ps->rows, ps->k, ps->n, experts > 0 ? experts : ps->experts,
                          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0};
            if (smoke) c.rows = 96, c.k = 136, c.n = 80, c.e = 4;
            if (gmm_make(&c, &rng) != 0 || (kind == 2 && swq_make(&c, &rng) != 0)) {
                fprintf(stderr, "%s: out of memory\n", ps->name);
                gmm_free(&c);
                return 1;
            }
            const double peak = kind ? peak_i : peak_f;
            for (int nz = 0; nz < (kind == 2 ? 2 : 1); nz++) {
                const double best = gmm_time(kind == 2 ? op_swq : op_gmm, &env, &c, nz, reps, smoke);
                if (best < 0) {
                    fprintf(stderr, "%s: %s\n", ps->name, moeroute_error_message());
                    return 1;
                }
                const char *bad = kind == 2 ? swq_check(&c, &rng) : gmm_check(&c, &rng);
                if (bad) fprintf(stderr, "%s %s: %s\n", ps->name, kinds[kind], bad), failed = 1;
                gmm_row(ps->name, kind < 2 ? kinds[kind] : nz ? "int8-swq NZ" : "int8-swq ND", &c, best, peak,
                        kind ? peak_a : 0);
            }
            { /* the same call on weights packed once beforehand (moeroute_gmm_weights) */
                moeroute_gmm_weights *pw = NULL;
                const double t0 = now();
                if (gmm_run(ctx, &c, NULL, &pw) != MOEROUTE_OK) {
                    fprintf(stderr, "%s: packing the weights: %s\n", ps->name, moeroute_error_message());
                    return 1;
                }
                const double pack_s = now() - t0;
                env.packed = pw;
                memset(c.out, 0, (size_t)(c.rows * c.n) * (kind ? 4 : 2));
                const double best = kind == 2 ? gmm_time(op_swq, &env, &c, 2, reps, smoke)
                                              : gmm_time(op_gmm, &env, &c, 1, reps, smoke);
                const char *bad = best < 0 ? moeroute_error_message()
                                           : kind == 2 ? swq_check(&c, &rng) : gmm_check(&c, &rng);
                if (bad) fprintf(stderr, "%s %s packed: %s\n", ps->name, kinds[kind], bad), failed = 1;
                char what[64];
                snprintf(what, sizeof what, "%s, packed weights (%.0f MB, packed in %.0f ms)", kinds[kind],
                         (double)moeroute_gmm_weights_bytes(pw) * 1e-6, pack_s * 1e3);
                if (best >= 0) gmm_row(ps->name, what, &c, best, peak, kind ? peak_a : 0);
                env.packed = NULL;
                moeroute_gmm_weights_destroy(pw);
            }
            if (kind == 0 && gmm_transposed_row(ps->name, &env, &c, reps, smoke, peak, &rng) != 0) {
                fprintf(stderr, "%s: bf16 with a transposed weight failed\n", ps->name);
                failed = 1;
            }
            if (kind == 0 && gmm_f16_rows(ps->name, &env, &c, reps, smoke, peak, &rng) != 0) {
                fprintf(stderr, "%s: fp16 failed\n", ps->name);
                failed = 1;
            }
            if (kind == 0 && peer && blas_case(ps->name, &env, &c, reps, smoke, peak) != 0)
                fprintf(stderr, "%s: out of memory for the OpenBLAS peer\n", ps->name);
            gmm_free(&c);
        }
    }
    moeroute_context_destroy(ctx);
    return failed;
}
