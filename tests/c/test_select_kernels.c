/* Selection kernels (src/kernels/select/) and the top-k step (src/operators/steps/topk.c): every SIMD level
 * equals the scalar kernels exactly, the keys order scores as docs/operators/gating.md "Selection order" says
 * (NaN lowest, -0 == +0, ties to the lower index), the bound really is a lower bound of the k-th largest key,
 * and mr_topk_select equals a brute-force stable selection, over random key sets with many ties, every length
 * 0..80 at every alignment, and special values. Seed: argv[1] or MOEROUTE_TEST_SEED. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/dispatch.h"
#include "harness.h"
#include "operators/steps/topk.h"

#define MAXN 600

static float g_v[MAXN + 32];
static uint32_t g_k[MAXN + 32], g_ka[MAXN + 32], g_kb[MAXN + 32], g_ca[MAXN + 32], g_cb[MAXN + 32];

static float random_score(uint64_t *rng)
{
    const uint64_t r = mr_test_rand(rng);
    switch (r % 10) {
    case 0: return NAN;
    case 1: return (r >> 8) & 1 ? INFINITY : -INFINITY;
    case 2: return (r >> 8) & 1 ? 0.0f : -0.0f;
    case 3: { uint32_t u = (uint32_t)(r >> 20); float f; memcpy(&f, &u, 4); return f; } /* any bits */
    default: return (float)((int)(r >> 24) % 9 - 4) * 0.25f;                          /* many ties */
    }
}

/* a before b in selection order (brute-force reference; doubles, NaN handled explicitly) */
static int ranks_before(float a, int ia, float b, int ib)
{
    if (isnan(a) != isnan(b)) return isnan(b);
    if (!isnan(a) && a != b) return a > b;
    return ia < ib;
}

static void reference_topk(const float *v, int n, int k, int32_t *idx)
{
    int used[MAXN] = {0};
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && (best < 0 || ranks_before(v[i], i, v[best], best))) best = i;
        used[best] = 1;
        idx[j] = best;
    }
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    const mr_select_config *ref = mr_dispatch_select(MOEROUTE_ISA_SCALAR);

    /* keys: the order of the scores */
    const float order[] = {NAN, -INFINITY, -3.0e38f, -1.0f, -1e-45f, 0.0f, 1e-45f, 1.0f, 3.0e38f, INFINITY};
    for (size_t i = 0; i + 1 < sizeof order / sizeof order[0]; i++)
        CHECK(mr_topk_key(order[i]) < mr_topk_key(order[i + 1]), "key order at %zu", i);
    CHECK(mr_topk_key(-0.0f) == mr_topk_key(0.0f), "-0 ties +0");
    CHECK(mr_topk_key(NAN) == 1 && mr_topk_key(-NAN) == 1, "NaN has key 1 (0 is left free)");
    for (size_t i = 1; i < sizeof order / sizeof order[0]; i++) {
        const float back = mr_topk_value(mr_topk_key(order[i]));
        CHECK(memcmp(&back, &order[i], 4) == 0, "value of key %zu", i);
    }
    CHECK(isnan(mr_topk_value(1)), "value of the NaN key");

    for (int lvl = MOEROUTE_ISA_SCALAR; lvl <= MOEROUTE_ISA_NEON; lvl++) {
        if (mr_dispatch_resolve_isa((moeroute_isa)lvl) != (moeroute_isa)lvl) continue;
        const mr_select_config *k = mr_dispatch_select((moeroute_isa)lvl);
        printf("checking selection kernels of isa %d\n", k->isa);
        for (int rep = 0; rep < 300; rep++) {
            const size_t n = rep < 81 ? (size_t)rep : 16 + (size_t)(mr_test_rand(&rng) % (MAXN - 16));
            const size_t off = (size_t)(mr_test_rand(&rng) % 16);
            for (size_t i = 0; i < n; i++) g_v[off + i] = random_score(&rng);
            const float *v = g_v + off;
            const uint32_t ma = ref->keys(v, g_ka, n), mb = k->keys(v, g_kb, n);
            CHECK(ma == mb && !memcmp(g_ka, g_kb, n * 4), "keys differ (isa %d, n %zu)", k->isa, n);
            CHECK(k->max(v, n) == ma, "max differs (isa %d, n %zu)", k->isa, n);
            for (size_t i = 0; i < n; i++) CHECK(g_ka[i] == mr_topk_key(v[i]), "key %zu", i);
            uint32_t sa = 0, sb = 0;
            CHECK(ref->top2(g_ka, n, &sa) == k->top2(g_ka, n, &sb) && sa == sb, "top2 differs (isa %d, n %zu)",
                  k->isa, n);
            const uint32_t thr = n ? g_ka[mr_test_rand(&rng) % n] : 0;
            const size_t ca = ref->scan(g_ka, n, thr, g_ca), cb = k->scan(g_ka, n, thr, g_cb);
            CHECK(ca == cb && !memcmp(g_ca, g_cb, ca * 4), "scan differs (isa %d, n %zu)", k->isa, n);
            size_t want = 0;
            for (size_t i = 0; i < n; i++) want += g_ka[i] >= thr;
            CHECK(ca == want, "scan count (n %zu)", n);
            if (n >= 16)
                for (size_t kk = 1; kk <= 16; kk++) {
                    const uint32_t b = k->bound(g_ka, n, kk);
                    CHECK(b == ref->bound(g_ka, n, kk), "bound differs (isa %d, n %zu, k %zu)", k->isa, n, kk);
                    size_t at_least = 0;
                    for (size_t i = 0; i < n; i++) at_least += g_ka[i] >= b;
                    CHECK(at_least >= kk, "bound %u is above the %zu-th largest key (n %zu)", b, kk, n);
                }
            /* the whole step: equal to the brute-force stable selection for k = 1, 8, 16, 17, 40, n */
            const int ks[] = {1, 8, 16, 17, 40, (int)n};
            for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
                const int kk = ks[t];
                if (kk < 1 || (size_t)kk > n) continue;
                static uint64_t buf[MAXN];
                int32_t got[MAXN], exp[MAXN];
                memcpy(g_k, g_ka, n * 4);
                mr_topk_select(k, g_k, (int64_t)n, kk, got, buf, g_ca);
                reference_topk(v, (int)n, kk, exp);
                CHECK(!memcmp(got, exp, (size_t)kk * 4), "topk (isa %d, n %zu, k %d): first %d vs %d", k->isa, n,
                      kk, got[0], exp[0]);
            }
        }
    }
    return mr_test_finish();
}
