/* The selection loops every variant shares, compiled per ISA file with MR_SEL_ISA set to its suffix (the
 * files get -ftree-vectorize, src/CMakeLists.txt). The scan has an intrinsic version in the SIMD files. */
#include "kernels/select/select.h"

#define MR_SEL_CAT2(a, b) a##__##b
#define MR_SEL_CAT(a, b) MR_SEL_CAT2(a, b)

uint32_t MR_SEL_CAT(mr_f32_sel_keys, MR_SEL_ISA)(const float *restrict v, uint32_t *restrict key, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        key[i] = mr_topk_key(v[i]);
        m = key[i] > m ? key[i] : m;
    }
    return m;
}

uint32_t MR_SEL_CAT(mr_f32_sel_max, MR_SEL_ISA)(const float *v, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t k = mr_topk_key(v[i]);
        m = k > m ? k : m;
    }
    return m;
}

uint32_t MR_SEL_CAT(mr_u32_sel_bound, MR_SEL_ISA)(const uint32_t *key, size_t n, size_t k)
{
    uint32_t lane[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t l = 0; l < 16; l++) lane[l] = key[i + l] > lane[l] ? key[i + l] : lane[l];
    for (size_t l = 0; i + l < n; l++) lane[l] = key[i + l] > lane[l] ? key[i + l] : lane[l];
    /* the k-th largest of 16 values: the smallest value with fewer than k values above it */
    uint32_t thr = UINT32_MAX;
    for (size_t l = 0; l < 16; l++) {
        uint32_t above = 0;
        for (size_t m = 0; m < 16; m++) above += lane[m] > lane[l];
        thr = above < k && lane[l] < thr ? lane[l] : thr;
    }
    return thr;
}

#ifndef MR_SEL_HAVE_TOP2
uint32_t MR_SEL_CAT(mr_u32_sel_top2, MR_SEL_ISA)(const uint32_t *key, size_t n, uint32_t *second)
{
    uint32_t m1 = 0, m2 = 0, ties = 0;
    for (size_t i = 0; i < n; i++) m1 = key[i] > m1 ? key[i] : m1;
    for (size_t i = 0; i < n; i++) {
        ties += key[i] == m1;
        const uint32_t below = key[i] < m1 ? key[i] : 0u;
        m2 = below > m2 ? below : m2;
    }
    *second = ties > 1 ? m1 : m2;
    return m1;
}
#endif

#ifndef MR_SEL_HAVE_SCAN
size_t MR_SEL_CAT(mr_u32_sel_scan, MR_SEL_ISA)(const uint32_t *key, size_t n, uint32_t thr, uint32_t *idx)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        idx[c] = (uint32_t)i;
        c += key[i] >= thr;
    }
    return c;
}
#endif
