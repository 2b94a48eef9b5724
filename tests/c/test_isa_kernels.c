/* Every SIMD kernel against its scalar reference, byte for byte, on every ISA level this machine and build
 * can run: all fp16 and bf16 bit patterns, fp32 values around fp16 rounding boundaries, every short length at
 * every misalignment, with guard bytes around outputs and inaccessible pages right after (and before) the
 * buffers so that a read or write out of bounds crashes the test instead of passing unnoticed.
 * Usage: test_isa_kernels [seed]   (or MOEROUTE_TEST_SEED=seed). */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <fenv.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#define MR_TEST_MXCSR 1
#endif

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

#include "harness.h"

#include "common/fp16.h"
#include "dispatch/cpu.h"
#include "dispatch/dispatch.h"
#include "kernels/kernels.h"
#include "kernel_tables.h"

/* Seeded from the command line or MOEROUTE_TEST_SEED (see harness.h). */
static uint64_t g_rng;
static uint64_t rnd(void) { return mr_test_rand(&g_rng); }

/* ---- guarded memory: PROT_NONE pages on both sides of the usable pages --------------------------------- */
typedef struct guarded {
    unsigned char *map;   /* whole mapping                      */
    unsigned char *start; /* first usable byte (page aligned)    */
    unsigned char *end;   /* one past the last usable byte       */
    size_t map_len;
} guarded;

static size_t g_page;

static guarded guarded_alloc(size_t usable)
{
    guarded g;
    size_t pages = (usable + g_page - 1) / g_page;
    g.map_len = (pages + 2) * g_page;
    void *m = mmap(NULL, g.map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    g.map = (unsigned char *)m;
    g.start = g.map + g_page;
    g.end = g.start + pages * g_page;
    if (mprotect(g.start, pages * g_page, PROT_READ | PROT_WRITE) != 0) {
        perror("mprotect");
        exit(2);
    }
    return g;
}

static void guarded_free(guarded *g) { munmap(g->map, g->map_len); }

/* What was running when a guard page was hit; printed by the SIGSEGV handler. */
static char g_case[256];

static void on_segv(int sig)
{
    static const char msg[] = "\nSIGSEGV: a kernel touched memory outside its buffers during: ";
    (void)sig;
    ssize_t r = write(2, msg, sizeof msg - 1);
    r = write(2, g_case, strlen(g_case));
    r = write(2, "\n", 1);
    (void)r;
    _exit(3);
}

/* ---- the levels under test ----------------------------------------------------------------------------- */
static const char *isa_name(moeroute_isa isa)
{
    switch (isa) {
    case MOEROUTE_ISA_SCALAR: return "scalar";
    case MOEROUTE_ISA_AVX2: return "avx2";
    case MOEROUTE_ISA_AVX512: return "avx512";
    case MOEROUTE_ISA_NEON: return "neon";
    default: return "auto";
    }
}

static const char *const g_xname[MR_X_COUNT] = {"f16", "bf16", "f32"};
static const size_t g_xsize[MR_X_COUNT] = {2, 2, 4};

static const mr_kernel_table *g_ref; /* the scalar table */

/* ---- quant --------------------------------------------------------------------------------------------- */
#define MAX_PARAMS 160
static mr_quant_params g_params[MAX_PARAMS];
static size_t g_nparams;

static void add_params(double scale, double offset)
{
    if (g_nparams < MAX_PARAMS) mr_quant_params_init(&g_params[g_nparams++], scale, offset);
}

static void build_params(void)
{
    /* The first 12 also run under every non-default floating-point environment, so they cover ties,
     * overflow, subnormals and NaN. */
    static const double fixed[][2] = {
        {1, 0}, {1, 0.5}, {0.5, 0}, {-3.7, 1.25},
        {1000, 0},                        /* |a| > 65.5 overflows the fp16 product to inf                 */
        {65504, -65504},                  /* and the sum overflows                                        */
        {1e-7, 0}, {6e-8, 0.5},           /* subnormal scale: subnormal and zero products                 */
        {1, 1e-5},                        /* subnormal offset                                             */
        {6.103515625e-05, 0.5},           /* 2^-14, smallest normal                                       */
        {NAN, 0}, {1, -INFINITY},
        {0.5, 0.5}, {-1, 0}, {1.0 / 127, 0}, {100, 0.25},
        {1e10, 0},                        /* scale itself rounds to inf                                   */
        {1, 65504}, {3, -127.5}, {1, -128.5}, {1, 127.5},
        {0, 0}, {0, -0.5}, {0, 2.5}, {-0.0, -0.0}, {0, -1.5},
        {1, NAN}, {-NAN, 1}, {INFINITY, 0}, {-INFINITY, INFINITY}, {0, INFINITY},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) add_params(fixed[i][0], fixed[i][1]);
    /* Powers of two move each binade of the input into the int8 range, where the output shows its bits. */
    for (int k = -24; k <= 15; k++) {
        add_params(ldexp(1.0, k), 0);
        add_params(-ldexp(1.0, k), 0.25);
    }
    /* Random finite fp16 scales with offsets in [-128, 128] on a grid of 1/8 (so .5 ties occur). */
    for (int i = 0; i < 24; i++) {
        uint16_t sbits;
        do sbits = (uint16_t)rnd(); while ((sbits & 0x7C00u) == 0x7C00u);
        add_params(mr_f16_to_f32(sbits), (double)((int)(rnd() % 2049) - 1024) / 8);
    }
}

static int8_t *g_want, *g_got;

/* The SIMD tables under test. */
static const mr_kernel_table *g_simd[MOEROUTE_ISA_NEON];
static size_t g_nsimd;

/* x[0..n) through the scalar kernel once, then through every SIMD table; first difference reported. */
static void cmp_quant(mr_xtype xt, const void *x, size_t n, const mr_quant_params *p, const char *what)
{
    g_ref->quant[xt](x, g_want, n, p);
    for (size_t k = 0; k < g_nsimd; k++) {
        const mr_kernel_table *t = g_simd[k];
        memset(g_got, 0x5A, n);
        t->quant[xt](x, g_got, n, p);
        size_t i = 0;
        while (i < n && g_want[i] == g_got[i]) i++;
        uint32_t bits = 0;
        if (i < n) memcpy(&bits, (const char *)x + i * g_xsize[xt], g_xsize[xt]);
        CHECK(i == n, "%s %s quant (%s), scale %a (0x%04x) offset %a (0x%04x): x[%zu] = 0x%0*" PRIx32
                      " -> want %d, got %d",
              isa_name((moeroute_isa)t->isa), g_xname[xt], what, (double)p->scale, p->scale_f16,
              (double)p->offset, p->offset_f16, i, (int)g_xsize[xt] * 2, bits, i < n ? g_want[i] : 0,
              i < n ? g_got[i] : 0);
    }
}

#define F32_MAX_VALUES (1u << 18)
static float *g_f32;
static size_t g_nf32;

static void push_bits(uint32_t u)
{
    if (g_nf32 < F32_MAX_VALUES) g_f32[g_nf32++] = mr_f32_from_bits(u);
}
static void push_f(float f) { push_bits(mr_f32_bits(f)); }

/* fp32 inputs: specials, integers and halves (ties after scaling), the fp16 rounding midpoints and their
 * neighbours for every subnormal and a random sample of normal fp16 values, then random bits and random
 * values in the range that is not saturated. */
static void build_f32(void)
{
    static const uint32_t special[] = {
        0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
        0xFF800001u, 0x7FBFFFFFu, 0x7FFFFFFFu, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x00800000u, 0x80800000u,
        0x00000001u, 0x80000001u, 0x007FFFFFu, 0x807FFFFFu,
        0x477FE000u, /* 65504, largest fp16                          */
        0x477FEFFFu, /* just below the tie to inf                     */
        0x477FF000u, /* 65520: tie between 65504 (odd) and inf -> inf */
        0x47800000u, /* 65536                                         */
        0x33800000u, /* 2^-24, smallest fp16 subnormal                */
        0x33000000u, /* 2^-25: tie between 0 and 2^-24 -> 0          */
        0x33000001u, 0x32FFFFFFu, 0x33400000u, 0x32800000u,
        0x38800000u, /* 2^-14, smallest normal fp16                   */
        0x387FC000u, 0x387FE000u, 0x387FF000u,
    };
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) push_bits(special[i]);
    for (int k = -300; k <= 300; k++) {
        push_f((float)k);
        push_f((float)k + 0.5f);
        push_f((float)k * 0.25f);
    }
    /* Midpoints between consecutive fp16 values and their fp32 neighbours, for every subnormal fp16 and for
     * random normal ones. */
    for (uint32_t h = 0; h < 0x7C00u; h += (h < 0x400u ? 1u : 1u + (uint32_t)(rnd() % 61))) {
        for (uint32_t sign = 0; sign <= 0x8000u; sign += 0x8000u) {
            float lo = mr_f16_to_f32((uint16_t)(h | sign)), hi = mr_f16_to_f32((uint16_t)((h + 1) | sign));
            float mid = (lo + hi) * 0.5f; /* exact: fp32 has 13 more bits */
            push_f(mid);
            push_f(nextafterf(mid, INFINITY));
            push_f(nextafterf(mid, -INFINITY));
            push_f(nextafterf(lo, INFINITY));
        }
    }
    while (g_nf32 < F32_MAX_VALUES - F32_MAX_VALUES / 4) push_bits((uint32_t)rnd());
    while (g_nf32 < F32_MAX_VALUES) push_f((float)((double)(rnd() >> 11) * 0x1p-53 * 600.0 - 300.0));
}

static uint16_t *g_all16; /* all 65536 bit patterns */

static void test_quant_values(const char *what, size_t nparams)
{
    for (size_t p = 0; p < nparams; p++) {
        cmp_quant(MR_X_F16, g_all16, 65536, &g_params[p], what);
        cmp_quant(MR_X_BF16, g_all16, 65536, &g_params[p], what);
        cmp_quant(MR_X_F32, g_f32, g_nf32, &g_params[p], what);
    }
}

/* Random elements for short-length tests: a mix of values the params map into int8 and specials. */
static void fill_random(void *x, mr_xtype xt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (xt == MR_X_F32) {
            float f = g_f32[rnd() % g_nf32];
            memcpy((char *)x + 4 * i, &f, 4);
        } else {
            uint16_t h = (uint16_t)rnd();
            memcpy((char *)x + 2 * i, &h, 2);
        }
    }
}

#define MAX_LEN 130
#define GUARD 64

/* Lengths 0..MAX_LEN at every element misalignment 0..7 of x and byte misalignment 0..7 of y, guard bytes
 * around y; then x flush against the page after it and the page before it, and y flush against the page
 * after it, for every length. */
static void test_quant_lengths(const mr_kernel_table *t, guarded *gx, guarded *gy)
{
    static const int pick[] = {0, 1, 3, 4}; /* a few params: tails are about addressing, not numerics */
    unsigned char scratch[GUARD + MAX_LEN + 8 + GUARD];
    int8_t want[MAX_LEN];
    for (int xt = 0; xt < MR_X_COUNT; xt++) {
        const size_t es = g_xsize[xt];
        for (size_t n = 0; n <= MAX_LEN; n++) {
            const mr_quant_params *p = &g_params[pick[n % 4]];
            int bad = 0;
            for (size_t xm = 0; xm < 8 && !bad; xm++) {
                void *x = gx->start + xm * es;
                fill_random(x, (mr_xtype)xt, n);
                g_ref->quant[xt](x, want, n, p);
                for (size_t ym = 0; ym < 8 && !bad; ym++) {
                    const unsigned char fillb = (unsigned char)rnd();
                    memset(scratch, fillb, sizeof scratch);
                    int8_t *y = (int8_t *)(scratch + GUARD + ym);
                    t->quant[xt](x, y, n, p);
                    if (memcmp(y, want, n) != 0) bad = 1;
                    for (size_t b = 0; b < sizeof scratch; b++) {
                        const unsigned char *yb = (const unsigned char *)y;
                        if ((scratch + b < yb || scratch + b >= yb + n) && scratch[b] != fillb) bad = 2;
                    }
                    CHECK(!bad, "%s %s quant n=%zu x misaligned by %zu elements, y by %zu: %s",
                          isa_name((moeroute_isa)t->isa), g_xname[xt], n, xm, ym,
                          bad == 1 ? "wrong bytes" : "guard byte overwritten");
                }
            }

            /* x ends at the last byte before a PROT_NONE page, then starts right after one; y ends right
             * before one. */
            void *x_end = gx->end - n * es;
            int8_t *y_end = (int8_t *)(gy->end - n);
            fill_random(x_end, (mr_xtype)xt, n);
            g_ref->quant[xt](x_end, want, n, p);
            snprintf(g_case, sizeof g_case, "%s %s quant, n=%zu, x or y flush with a PROT_NONE page",
                     isa_name((moeroute_isa)t->isa), g_xname[xt], n);
            t->quant[xt](x_end, y_end, n, p);
            CHECK(memcmp(y_end, want, n) == 0, "%s %s quant n=%zu at page end: wrong bytes",
                  isa_name((moeroute_isa)t->isa), g_xname[xt], n);
            memmove(gx->start, x_end, n * es);
            t->quant[xt](gx->start, y_end, n, p);
            CHECK(memcmp(y_end, want, n) == 0, "%s %s quant n=%zu at page start: wrong bytes",
                  isa_name((moeroute_isa)t->isa), g_xname[xt], n);
            g_case[0] = '\0';
        }
    }
}

#ifdef MR_TEST_MXCSR
/* The kernels take their rounding from immediates except the fp32 add, which follows MXCSR exactly like the
 * scalar code's add; flush-to-zero and denormals-are-zero must change nothing. Run a subset under each. */
static void test_quant_fp_env(void)
{
    static const int modes[] = {FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
    static const char *const names[] = {"FE_DOWNWARD", "FE_UPWARD", "FE_TOWARDZERO"};
    const int saved_mode = fegetround();
    const unsigned saved_csr = _mm_getcsr();
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        if (fesetround(modes[m]) != 0) continue;
        test_quant_values(names[m], 12);
        fesetround(saved_mode);
    }
    _mm_setcsr(saved_csr | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    test_quant_values("FTZ+DAZ", 12);
    _mm_setcsr(saved_csr);
}
#endif

/* ---- copy ---------------------------------------------------------------------------------------------- */
/* Copy n bytes from src + sm to GUARD + dm bytes into dst (guard bytes on both sides, cap bytes in all). */
static void cmp_copy(const mr_kernel_table *t, int stream, unsigned char *dst, size_t cap, size_t dm,
                     const unsigned char *src, size_t sm, size_t n)
{
    const unsigned char fillb = (unsigned char)rnd();
    const size_t off = GUARD + dm;
    memset(dst, fillb, cap);
    (stream ? t->copy_stream : t->copy)(dst + off, src + sm, n);
    int bad = memcmp(dst + off, src + sm, n) != 0 ? 1 : 0;
    for (size_t b = 0; b < cap && !bad; b++)
        if ((b < off || b >= off + n) && dst[b] != fillb) bad = 2;
    CHECK(!bad, "%s %s n=%zu, src misaligned by %zu, dst by %zu: %s", isa_name((moeroute_isa)t->isa),
          stream ? "copy_stream" : "copy", n, sm, dm, bad == 1 ? "wrong bytes" : "guard overwritten");
}

static void test_copy(const mr_kernel_table *t, guarded *gs, guarded *gd)
{
    /* Large enough for the largest size below plus 64 bytes of misalignment and the guards. */
    const size_t big = ((size_t)1 << 20) + 256;
    unsigned char *src = malloc(big), *dst = malloc(big);
    if (!src || !dst) exit(2);
    for (size_t i = 0; i < big; i++) src[i] = (unsigned char)rnd();
    for (int stream = 0; stream <= 1; stream++) {
        for (size_t n = 0; n <= 300; n++)
            for (size_t sm = 0; sm < 8; sm++)
                for (size_t dm = 0; dm < 8; dm++)
                    cmp_copy(t, stream, dst, 300 + 8 + 2 * GUARD, dm, src, sm, n);
        /* the streaming copies go four slabs at a time from 4 KiB on (slabs of 1-4 KiB) */
        static const size_t sizes[] = {511, 512, 513, 1000, 4095, 4096, 4097, 6000, 14336, 16639, 20000, 65553,
                                       (1u << 20) + 3};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t dm = 0; dm < 64; dm += (sizes[s] > 5000 ? 7 : 1))
                cmp_copy(t, stream, dst, sizes[s] + 64 + 2 * GUARD, dm, src, dm * 5 % 64, sizes[s]);
        /* Source and destination flush with PROT_NONE pages. */
        for (size_t n = 0; n <= 20000; n += (n < 300 ? 1 : n < 1100 ? 37 : 1201)) {
            unsigned char *s_end = gs->end - n, *d_end = gd->end - n;
            memcpy(s_end, src, n);
            snprintf(g_case, sizeof g_case, "%s %s n=%zu flush with a PROT_NONE page",
                     isa_name((moeroute_isa)t->isa), stream ? "copy_stream" : "copy", n);
            (stream ? t->copy_stream : t->copy)(d_end, s_end, n);
            CHECK(memcmp(d_end, src, n) == 0, "%s copy n=%zu at page end", isa_name((moeroute_isa)t->isa),
                  n);
            (stream ? t->copy_stream : t->copy)(gd->start, s_end, n);
            CHECK(memcmp(gd->start, src, n) == 0, "%s copy n=%zu at page start",
                  isa_name((moeroute_isa)t->isa), n);
            g_case[0] = '\0';
        }
    }
    free(src);
    free(dst);
}

/* ---- dispatch ------------------------------------------------------------------------------------------ */
static void test_dispatch(void)
{
    const moeroute_isa det = mr_dispatch_detected_isa();
    CHECK(det >= MOEROUTE_ISA_SCALAR && det <= MOEROUTE_ISA_NEON, "detected isa %d out of range", (int)det);
    CHECK(mr_dispatch_detected_isa() == det, "detection not stable");

    const mr_kernel_table *s = mr_dispatch_kernels(MOEROUTE_ISA_SCALAR);
    CHECK(s->isa == MOEROUTE_ISA_SCALAR && s->quant[MR_X_F16] == mr_f16_quant_i8__scalar &&
              s->quant[MR_X_BF16] == mr_bf16_quant_i8__scalar &&
              s->quant[MR_X_F32] == mr_f32_quant_i8__scalar && s->copy == mr_copy__scalar &&
              s->copy_stream == mr_copy__scalar,
          "scalar table does not hold the scalar kernels");
    CHECK(mr_dispatch_resolve_isa(MOEROUTE_ISA_SCALAR) == MOEROUTE_ISA_SCALAR,
          "scalar not resolved to scalar");

    for (int l = MOEROUTE_ISA_SCALAR; l <= MOEROUTE_ISA_NEON; l++) {
        const moeroute_isa r = mr_dispatch_resolve_isa((moeroute_isa)l);
        const mr_kernel_table *k = mr_dispatch_kernels(r);
        CHECK(k && k->isa == (int)r && k->quant[0] && k->quant[1] && k->quant[2] && k->copy && k->copy_stream,
              "table for %s (resolved from %s) incomplete", isa_name(r), isa_name((moeroute_isa)l));
        /* A request is never raised, and only lowered to a level of the same architecture or scalar. */
        CHECK((int)r == l || r == MOEROUTE_ISA_SCALAR || (l == MOEROUTE_ISA_AVX512 && r == MOEROUTE_ISA_AVX2),
              "%s resolved to %s", isa_name((moeroute_isa)l), isa_name(r));
    }
    CHECK(mr_dispatch_kernels((moeroute_isa)99)->isa == MOEROUTE_ISA_SCALAR, "unknown level not scalar");
#if defined(__aarch64__)
    /* An AArch64 CPU with Advanced SIMD gets the NEON config of every family that has one (src/dispatch/dispatch.c),
     * so the byte-for-byte comparisons of the kernel tests do cover them; the sdot GEMM entry only with the dot
     * product (QEMU's default CPU has it; tools/cross_aarch64.sh also runs the GEMM tests on one without). */
    if (det == MOEROUTE_ISA_NEON) {
        CHECK(mr_dispatch_quant(det)->isa == MOEROUTE_ISA_NEON && mr_dispatch_dquant(det)->isa == MOEROUTE_ISA_NEON &&
                  mr_dispatch_act(det)->isa == MOEROUTE_ISA_NEON && mr_dispatch_select(det)->isa == MOEROUTE_ISA_NEON &&
                  mr_dispatch_mlp(det)->isa == MOEROUTE_ISA_NEON,
              "a NEON CPU without the NEON config of a family");
        const mr_gemm_config *g[8];
        const size_t n = mr_dispatch_gemm_usable(g, 8);
        int plain = 0, dot = 0;
        for (size_t i = 0; i < n; i++) plain |= !strcmp(g[i]->name, "neon"), dot |= !strcmp(g[i]->name, "neon-dotprod");
        CHECK(plain && (!dot || mr_cpu_has_asimd_dotprod()), "GEMM configs on a NEON CPU: neon %d, neon-dotprod %d "
              "(dot product %d)", plain, dot, mr_cpu_has_asimd_dotprod());
        printf("GEMM configs: neon%s\n", dot ? " and neon-dotprod" : " (no dot product)");
    }
#endif

    /* MOEROUTE_ISA caps AUTO only. */
    const char *old = getenv("MOEROUTE_ISA");
    char *saved = old ? strdup(old) : NULL;
    unsetenv("MOEROUTE_ISA");
    const moeroute_isa best = mr_dispatch_resolve_isa(MOEROUTE_ISA_AUTO);
    CHECK(best == mr_dispatch_resolve_isa(det), "AUTO (%s) differs from the detected level (%s) resolved",
          isa_name(best), isa_name(det));
    static const char *const names[] = {"scalar", "avx2", "avx512", "neon"};
    for (int l = MOEROUTE_ISA_SCALAR; l <= MOEROUTE_ISA_NEON; l++) {
        setenv("MOEROUTE_ISA", names[l - 1], 1);
        const moeroute_isa capped = mr_dispatch_resolve_isa(MOEROUTE_ISA_AUTO);
        CHECK(capped == mr_dispatch_resolve_isa((moeroute_isa)l), "MOEROUTE_ISA=%s gives %s", names[l - 1],
              isa_name(capped));
        CHECK(mr_dispatch_resolve_isa(best) == best, "MOEROUTE_ISA=%s capped an explicit request",
              names[l - 1]);
    }
    setenv("MOEROUTE_ISA", "bogus", 1);
    CHECK(mr_dispatch_resolve_isa(MOEROUTE_ISA_AUTO) == best, "unknown MOEROUTE_ISA value not ignored");
    if (saved) setenv("MOEROUTE_ISA", saved, 1);
    else unsetenv("MOEROUTE_ISA");
    free(saved);
}

int main(int argc, char **argv)
{
    g_rng = mr_test_seed(argc, argv);

    g_page = (size_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    g_ref = mr_dispatch_kernels(MOEROUTE_ISA_SCALAR);
    test_dispatch();

    g_all16 = malloc(65536 * sizeof *g_all16);
    g_f32 = malloc(F32_MAX_VALUES * sizeof *g_f32);
    g_want = malloc(F32_MAX_VALUES);
    g_got = malloc(F32_MAX_VALUES);
    if (!g_all16 || !g_f32 || !g_want || !g_got) return 2;
    for (uint32_t i = 0; i < 65536; i++) g_all16[i] = (uint16_t)i;
    build_params();
    build_f32();

    guarded gx = guarded_alloc(MAX_LEN * 4 + 64), gy = guarded_alloc(MAX_LEN);
    guarded gs = guarded_alloc(20000), gd = guarded_alloc(20000);

    printf("detected %s\n", isa_name(mr_dispatch_detected_isa()));
    for (int l = MOEROUTE_ISA_AVX2; l <= MOEROUTE_ISA_NEON; l++) {
        if (mr_dispatch_resolve_isa((moeroute_isa)l) != (moeroute_isa)l) continue;
        g_simd[g_nsimd++] = mr_dispatch_kernels((moeroute_isa)l);
        printf("testing %s\n", isa_name((moeroute_isa)l));
    }
    if (!g_nsimd) printf("no SIMD level available on this machine and build: only dispatch checked\n");
    test_quant_values("default fp env", g_nparams);
#ifdef MR_TEST_MXCSR
    test_quant_fp_env();
#endif
    for (size_t k = 0; k < g_nsimd; k++) {
        test_quant_lengths(g_simd[k], &gx, &gy);
        test_copy(g_simd[k], &gs, &gd);
    }

    guarded_free(&gx);
    guarded_free(&gy);
    guarded_free(&gs);
    guarded_free(&gd);
    free(g_all16);
    free(g_f32);
    free(g_want);
    free(g_got);
    return mr_test_finish();
}
