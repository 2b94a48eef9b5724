/* The quant kernels of every SIMD level against the scalar chain on all 65536 fp16 and bf16 bit patterns (and
 * fp32 values around them) under random scale/offset pairs drawn where the fast paths' shortcuts need their
 * exactness arguments (src/kernels/quant/quant_avx512.c: mr_fast_params): products in the fp16 subnormal and
 * overflow ranges, offsets next to 1/4, 1/2, half-integers and the fast-path bound 2^15, scales next to
 * 2^15; some pairs under directed rounding or FTZ+DAZ. Inputs run in element order (most blocks take a fast
 * path) and shuffled (NaN, infinity and odd bf16 values in most blocks), at odd lengths and misalignments.
 * Usage: test_quant_edges [seed]   (or MOEROUTE_TEST_SEED=seed). */
#include <fenv.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#define MR_TEST_MXCSR 1
#endif

#include "harness.h"

#include "common/fp16.h"
#include "dispatch/dispatch.h"
#include "kernels/kernels.h"
#include "kernel_tables.h"

#define NPAIRS 1500
#define N16 65536

static uint64_t g_rng;
static uint64_t rnd(void) { return mr_test_rand(&g_rng); }
static double pick(const double *v, size_t n) { return v[rnd() % n]; }
static double sign(void) { return rnd() & 1 ? -1.0 : 1.0; }

/* A random finite fp16 value (any exponent). */
static double rnd_f16(void)
{
    uint16_t h;
    do h = (uint16_t)rnd(); while ((h & 0x7C00u) == 0x7C00u);
    return mr_f16_to_f32(h);
}

/* The fp16 value k fp16 steps away from v (v an fp16 value, k small). */
static double f16_step(double v, int k)
{
    uint16_t h = mr_f32_to_f16((float)v);
    int mag = (int)(h & 0x7FFFu) + ((h & 0x8000u) ? -k : k);
    if (mag < 0) mag = 0;
    if (mag > 0x7BFF) mag = 0x7BFF;
    return mr_f16_to_f32((uint16_t)((h & 0x8000u) | (unsigned)mag));
}

static double draw_scale(void)
{
    static const double near_bound[] = {32768, 32752, 32800, 65504, 16384};
    switch (rnd() % 8) {
    case 0: return rnd_f16();
    case 1: return sign() * f16_step(ldexp(1.0, (int)(rnd() % 40) - 24), (int)(rnd() % 5) - 2);
    case 2: return sign() * pick(near_bound, sizeof near_bound / sizeof near_bound[0]);
    case 3: /* products of fp16 inputs reach 65520 (fp16 overflow) for inputs of some binade */
        return sign() * f16_step(65520.0 / ldexp(1.0, (int)(rnd() % 30) - 14), (int)(rnd() % 5) - 2);
    case 4: /* subnormal and tiny scales: products in the fp16 subnormal range */
        return sign() * mr_f16_to_f32((uint16_t)(rnd() % 0x1000u));
    case 5: /* moderate scales: typical quantization, many int8 values hit */
        return sign() * (double)(rnd() % 4096) / 64.0;
    case 6: {
        static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1.0, 1.0 / 127, 127.0};
        return pick(special, sizeof special / sizeof special[0]);
    }
    default: return sign() * ldexp(1.0 + (double)(rnd() % 1024) / 1024, (int)(rnd() % 16) - 8);
    }
}

static double draw_offset(void)
{
    static const double special[] = {
        0.25, 0.5, 1.5, 2.5, 127.5, 126.5, 128.5, 0.5 - 0x1p-12, 0.5 - 0x1p-11, 0.5 + 0x1p-11, 0.25 - 0x1p-13,
        0x1p-14, 0x1p-13, 0x1p-24, 0x1p-15, 1.0, 0.75, 127.0, 128.0, 1024.5, 0.0,
    };
    static const double near_bound[] = {32768, 32736, 32800, 65504, 65280, 16384, 65536 - 127.5};
    switch (rnd() % 8) {
    case 0:
    case 1: return sign() * f16_step(pick(special, sizeof special / sizeof special[0]), (int)(rnd() % 5) - 2);
    case 2: return sign() * f16_step((double)(rnd() % 261) + 0.5, (int)(rnd() % 5) - 2); /* near k + 1/2 */
    case 3: /* the fast paths' bound 2^15 and fp16 overflow */
        return sign() * f16_step(pick(near_bound, sizeof near_bound / sizeof near_bound[0]), (int)(rnd() % 3) - 1);
    case 4: return rnd_f16();
    case 5: return sign() * mr_f16_to_f32((uint16_t)(rnd() % 0x400u)); /* subnormal */
    case 6: {
        static const double nonfinite[] = {-0.0, INFINITY, -INFINITY, NAN, 0.0};
        return pick(nonfinite, sizeof nonfinite / sizeof nonfinite[0]);
    }
    default: return (double)((int)(rnd() % 2049) - 1024) / 8;
    }
}

static const char *isa_name(int isa)
{
    switch (isa) {
    case MOEROUTE_ISA_AVX2: return "avx2";
    case MOEROUTE_ISA_AVX512: return "avx512";
    case MOEROUTE_ISA_NEON: return "neon";
    default: return "scalar";
    }
}

static const char *const g_xname[MR_X_COUNT] = {"f16", "bf16", "f32"};
static const size_t g_xsize[MR_X_COUNT] = {2, 2, 4};

static const mr_kernel_table *g_simd[4];
static size_t g_nsimd;

static uint16_t g_x16[N16];   /* the input bit patterns, in order or shuffled     */
static float g_x32[N16];      /* fp32 inputs, one near each fp16 pattern          */
static uint16_t g_h32[N16];   /* f32_to_f16 of g_x32                              */
static uint16_t g_hbf[N16];   /* f32_to_f16 of bf16 pattern i                      */
static int8_t g_table[N16];   /* scalar chain of fp16 pattern h                    */
static int8_t g_want[N16], g_got[N16];

/* Inputs in element order, or shuffled; fp32 inputs are fp16 values nudged by a few fp32 ulps either way,
 * and some random fp32 bits. */
static void build_inputs(int shuffled)
{
    for (uint32_t i = 0; i < N16; i++) g_x16[i] = (uint16_t)i;
    if (shuffled)
        for (uint32_t i = N16 - 1; i > 0; i--) {
            uint32_t j = (uint32_t)(rnd() % (i + 1));
            uint16_t t = g_x16[i];
            g_x16[i] = g_x16[j];
            g_x16[j] = t;
        }
    for (uint32_t i = 0; i < N16; i++) {
        uint32_t u = mr_f32_bits(mr_f16_to_f32(g_x16[i]));
        if (rnd() % 16 == 0) u = (uint32_t)rnd();
        else if ((u & 0x7F800000u) != 0x7F800000u) u += (uint32_t)((int)(rnd() % 9) - 4) * (rnd() % 2 ? 1u : 0x1000u);
        g_x32[i] = mr_f32_from_bits(u);
        g_h32[i] = mr_f32_to_f16(g_x32[i]);
    }
}

/* Compare every SIMD level on x[skip .. skip+n) of dtype xt with the reference g_want (same range). */
static void compare(mr_xtype xt, const void *x, size_t skip, size_t n, const mr_quant_params *p, const char *env)
{
    const char *xs = (const char *)x + skip * g_xsize[xt];
    for (size_t k = 0; k < g_nsimd; k++) {
        memset(g_got, 0x5A, n);
        g_simd[k]->quant[xt](xs, g_got, n, p);
        size_t i = 0;
        while (i < n && g_got[i] == g_want[skip + i]) i++;
        uint32_t bits = 0;
        if (i < n) memcpy(&bits, xs + i * g_xsize[xt], g_xsize[xt]);
        CHECK(i == n, "%s %s quant (%s), scale %a (0x%04x) offset %a (0x%04x), n=%zu: x[%zu] = 0x%0*" PRIx32
                      " -> want %d, got %d",
              isa_name(g_simd[k]->isa), g_xname[xt], env, (double)p->scale, p->scale_f16, (double)p->offset,
              p->offset_f16, n, i, (int)g_xsize[xt] * 2, bits, i < n ? g_want[skip + i] : 0, i < n ? g_got[i] : 0);
    }
}

/* One (scale, offset) pair on all inputs, in the current floating-point environment. The reference comes
 * from the scalar chain of each fp16 pattern, computed in the same environment (its add follows MXCSR). */
static void run_pair(const mr_quant_params *p, const char *env, size_t skip)
{
    for (uint32_t h = 0; h < N16; h++) g_table[h] = mr_quant_f16_scalar_one((uint16_t)h, p);
    const size_t n = N16 - skip - (skip ? 7 : 0);

    for (uint32_t i = 0; i < N16; i++) g_want[i] = g_table[g_x16[i]];
    compare(MR_X_F16, g_x16, skip, n, p, env);
    for (uint32_t i = 0; i < N16; i++) g_want[i] = g_table[g_hbf[g_x16[i]]];
    compare(MR_X_BF16, g_x16, skip, n, p, env);
    for (uint32_t i = 0; i < N16; i++) g_want[i] = g_table[g_h32[i]];
    compare(MR_X_F32, g_x32, skip, n, p, env);
}

int main(int argc, char **argv)
{
    g_rng = mr_test_seed(argc, argv);
    for (int l = MOEROUTE_ISA_AVX2; l <= MOEROUTE_ISA_NEON; l++) {
        if (mr_dispatch_resolve_isa((moeroute_isa)l) != (moeroute_isa)l) continue;
        g_simd[g_nsimd++] = mr_dispatch_kernels((moeroute_isa)l);
        printf("testing %s\n", isa_name(l));
    }
    if (!g_nsimd) {
        printf("no SIMD level available on this machine and build: nothing to compare\n");
        CHECK(1, "%s", "nothing compared");
        return mr_test_finish();
    }
    for (uint32_t b = 0; b < N16; b++) g_hbf[b] = mr_f32_to_f16(mr_bf16_to_f32((uint16_t)b));

    /* The scalar kernels are the chain applied per element; check that once, so that the table reference
     * above stands for them. */
    {
        mr_quant_params p;
        mr_quant_params_init(&p, 0.37, -1.5);
        build_inputs(1);
        const mr_kernel_table *s = mr_dispatch_kernels(MOEROUTE_ISA_SCALAR);
        s->quant[MR_X_BF16](g_x16, g_got, N16, &p);
        int same = 1;
        for (uint32_t i = 0; i < N16; i++) same &= g_got[i] == mr_quant_f16_scalar_one(g_hbf[g_x16[i]], &p);
        s->quant[MR_X_F32](g_x32, g_got, N16, &p);
        for (uint32_t i = 0; i < N16; i++) same &= g_got[i] == mr_quant_f16_scalar_one(g_h32[i], &p);
        CHECK(same, "scalar kernels differ from the per-element chain");
    }

    for (int pair = 0; pair < NPAIRS; pair++) {
        if (pair % 100 == 0) build_inputs(pair % 200 == 100);
        mr_quant_params p;
        mr_quant_params_init(&p, draw_scale(), draw_offset());
        /* Every third pair starts at an odd element and leaves 7 off the end: tails and misalignment. */
        const size_t skip = pair % 3 == 0 ? 1 + (size_t)(rnd() % 200) : 0;
#ifdef MR_TEST_MXCSR
        if (pair % 5 == 4) {
            static const int modes[] = {FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
            static const char *const names[] = {"FE_DOWNWARD", "FE_UPWARD", "FE_TOWARDZERO"};
            const unsigned saved_csr = _mm_getcsr();
            const int m = (int)(rnd() % 4);
            if (m < 3) {
                if (fesetround(modes[m]) != 0) continue;
                run_pair(&p, names[m], skip);
                fesetround(FE_TONEAREST);
            } else {
                _mm_setcsr(saved_csr | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
                run_pair(&p, "FTZ+DAZ", skip);
            }
            _mm_setcsr(saved_csr);
            continue;
        }
#endif
        run_pair(&p, "default fp env", skip);
    }
    return mr_test_finish();
}
