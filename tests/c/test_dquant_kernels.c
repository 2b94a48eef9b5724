/* Dynamic-quant kernels: every SIMD level equals the scalar kernels byte for byte (absmax bit for bit),
 * over every fp16 and bf16 bit pattern (NaN, inf, subnormals included), random fp32 rows with specials,
 * exact int8 ties, smooth factors or none, scales 0 / inf / NaN / tiny, and every length 0..80 at every
 * alignment (tails). Also hand-worked values of the recipe. Seed: argv[1] or MOEROUTE_TEST_SEED. */
#include <math.h>
#include <string.h>

#include "dispatch/dispatch.h"
#include "harness.h"
#include "kernel_tables.h"

#define ROW 65536

static uint16_t g_h[ROW + 64];
static float g_f[ROW + 64], g_s[ROW + 64];
static int8_t g_a[ROW + 64], g_b[ROW + 64];

static const void *row_of(int t, size_t off) { return t == MR_X_F32 ? (const void *)(g_f + off) : (const void *)(g_h + off); }

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void compare(const mr_dquant_config *ref, const mr_dquant_config *k, int t, size_t off, size_t n,
                    const float *smooth, float sc, const char *what)
{
    const void *x = row_of(t, off);
    float ma = ref->absmax[t](x, smooth, n), mb = k->absmax[t](x, smooth, n);
    CHECK(fbits(ma) == fbits(mb), "%s: absmax differs (isa %d, dtype %d, n %zu): %a vs %a", what, k->isa, t, n,
          (double)ma, (double)mb);
    memset(g_a, 0x11, n + 1), memset(g_b, 0x22, n + 1);
    ref->quant[t](x, smooth, n, sc, g_a);
    k->quant[t](x, smooth, n, sc, g_b);
    CHECK(!memcmp(g_a, g_b, n) && g_b[n] == 0x22, "%s: quant differs (isa %d, dtype %d, n %zu, sc %a)", what, k->isa,
          t, n, (double)sc);
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    const mr_dquant_config *ref = mr_dispatch_dquant(MOEROUTE_ISA_SCALAR);
    CHECK(ref->quant[MR_X_F32] == mr_f32_dquant_i8__scalar, "scalar config");

    /* hand-worked: row [127, -63.5, 0.5, 0, -0.25] -> m 127, sc 1, q [127, -64, 1, 0, 0] (ties away) */
    const float row[5] = {127.0f, -63.5f, 0.5f, 0.0f, -0.25f};
    float m = ref->absmax[MR_X_F32](row, NULL, 5);
    int8_t q[5];
    ref->quant[MR_X_F32](row, NULL, 5, m / 127.0f, q);
    CHECK(m == 127.0f && q[0] == 127 && q[1] == -64 && q[2] == 1 && q[3] == 0 && q[4] == 0, "hand-worked row");
    const float nanrow[3] = {NAN, -2.0f, 1.0f};
    CHECK(ref->absmax[MR_X_F32](nanrow, NULL, 3) == 2.0f, "NaN is skipped by the max");
    ref->quant[MR_X_F32](nanrow, NULL, 3, 2.0f / 127.0f, q);
    CHECK(q[0] == 0 && q[1] == -127 && q[2] == 64, "NaN -> 0, -2/(2/127) = -127, 1/(2/127) = 63.5 -> 64");
    ref->quant_odd[MR_X_F32](nanrow, NULL, 3, 2.0f / 127.0f, q);
    CHECK(q[2] == 63 || q[2] == 64, "odd recipe sanity");

    for (int lvl = MOEROUTE_ISA_AVX2; lvl <= MOEROUTE_ISA_NEON; lvl++) {
        if (mr_dispatch_resolve_isa((moeroute_isa)lvl) != (moeroute_isa)lvl) continue;
        const mr_dquant_config *k = mr_dispatch_dquant((moeroute_isa)lvl);
        if (k == ref) continue;
        printf("checking dynamic-quant kernels of isa %d\n", lvl);
        /* every fp16 / bf16 pattern in one row, no smooth and random smooth, several scales */
        for (size_t i = 0; i < ROW; i++) g_h[i] = (uint16_t)i;
        for (size_t i = 0; i < ROW; i++) g_s[i] = (float)(mr_test_rand(&rng) % 4000) / 1000.0f - 2.0f;
        const float scales[] = {1.0f, 0.5f, 3.0f / 127.0f, 65504.0f / 127.0f, 0.0f, INFINITY, NAN, 1e-30f, 1e-45f};
        for (int t = MR_X_F16; t <= MR_X_BF16; t++)
            for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
                compare(ref, k, t, 0, ROW, NULL, scales[si], "all patterns");
                compare(ref, k, t, 0, ROW, g_s, scales[si], "all patterns, smooth");
            }
        /* fp32 rows: random, exact ties, specials */
        for (size_t i = 0; i < ROW; i++) {
            uint64_t r = mr_test_rand(&rng);
            switch (r % 8) {
            case 0: g_f[i] = (float)((int)(r >> 8) % 257 - 128) + 0.5f; break; /* a tie at sc = 1 */
            case 1: { uint32_t u = (uint32_t)(r >> 16); memcpy(&g_f[i], &u, 4); break; } /* any bits */
            case 2: g_f[i] = (r >> 9) & 1 ? INFINITY : -INFINITY; break;
            default: g_f[i] = (float)((int64_t)(r >> 20) % 200000) / 777.0f; break;
            }
        }
        for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
            compare(ref, k, MR_X_F32, 0, ROW, NULL, scales[si], "fp32");
            compare(ref, k, MR_X_F32, 0, ROW, g_s, scales[si], "fp32, smooth");
        }
        /* every length and alignment (tails) */
        for (int t = MR_X_F16; t <= MR_X_F32; t++)
            for (size_t off = 0; off < 16; off++)
                for (size_t n = 0; n <= 80; n++) {
                    compare(ref, k, t, off, n, NULL, 1.0f, "tails");
                    compare(ref, k, t, off, n, g_s + off, 0.75f, "tails, smooth");
                }
    }
    return mr_test_finish();
}
