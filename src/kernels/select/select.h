/* The selection kernel family (top-k of gating, docs/operators/gating.md "Selection order"): passes over the
 * 32-bit selection keys of operators/steps/topk.h. Integer operations only, so every variant gives the scalar
 * variant's result exactly. */
#ifndef MR_KERNELS_SELECT_H
#define MR_KERNELS_SELECT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The key of one score (branch-free, so loops over it vectorize). */
static inline uint32_t mr_topk_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint32_t is_nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    u = u == 0x80000000u ? 0u : u;                                     /* -0 ties +0 */
    const uint32_t k = u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u); /* negative: ~u; else u | 2^31 */
    return is_nan ? 1u : k + 1u;
}

/* The score of a key (NaN for key 1; +0 for the key of +-0); key must not be 0. */
static inline float mr_topk_value(uint32_t key)
{
    const uint32_t k = key - 1u;
    uint32_t u = (k & 0x80000000u) ? k ^ 0x80000000u : ~k;
    float f;
    if (key == 1u) u = 0x7FC00000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* key[i] = the selection key of v[i] (steps/topk.h mr_topk_key); returns the largest key (0 when n == 0). */
typedef uint32_t (*mr_sel_keys_fn)(const float *v, uint32_t *key, size_t n);
/* The largest key of v[0..n) without storing the keys (0 when n == 0). */
typedef uint32_t (*mr_sel_max_fn)(const float *v, size_t n);
/* A lower bound of the k-th largest key, 1 <= k <= 16 <= n: the keys are dealt round-robin into 16 lanes, and
 * the k-th largest lane maximum is returned (k lanes hold a key at least that large). */
typedef uint32_t (*mr_sel_bound_fn)(const uint32_t *key, size_t n, size_t k);
/* The largest key of key[0..n) (0 when n == 0); *second = the largest after one occurrence of it is taken
 * away (equal to it when it occurs twice; 0 when n < 2). */
typedef uint32_t (*mr_sel_top2_fn)(const uint32_t *key, size_t n, uint32_t *second);
/* The indices i < n with key[i] >= thr, ascending, into idx; returns how many. */
typedef size_t (*mr_sel_scan_fn)(const uint32_t *key, size_t n, uint32_t thr, uint32_t *idx);

typedef struct mr_select_config {
    int isa;
    mr_sel_keys_fn keys;
    mr_sel_max_fn max;
    mr_sel_bound_fn bound;
    mr_sel_scan_fn scan;
    mr_sel_top2_fn top2;
} mr_select_config;

#define MR_SELECT_DECLARE(isa)                                                                                \
    uint32_t mr_f32_sel_keys__##isa(const float *v, uint32_t *key, size_t n);                                 \
    uint32_t mr_f32_sel_max__##isa(const float *v, size_t n);                                                 \
    uint32_t mr_u32_sel_bound__##isa(const uint32_t *key, size_t n, size_t k);                               \
    size_t mr_u32_sel_scan__##isa(const uint32_t *key, size_t n, uint32_t thr, uint32_t *idx);               \
    uint32_t mr_u32_sel_top2__##isa(const uint32_t *key, size_t n, uint32_t *second);
MR_SELECT_DECLARE(scalar)
MR_SELECT_DECLARE(avx2)
MR_SELECT_DECLARE(avx512)
MR_SELECT_DECLARE(neon)
#undef MR_SELECT_DECLARE

#endif /* MR_KERNELS_SELECT_H */
