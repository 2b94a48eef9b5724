/* Stable sort of expert ids (spec 0.3 STABLE_SORT_BY_EXPERT, decision 3: exact int32 order).
 * Counting sort when the id range is small (the usual case: ids are expert numbers), LSD radix by bytes
 * otherwise. Both are stable, so ties keep the smaller flat position first. */
#include <string.h>

#include "kernels/sort/expert_sort.h"

void mr_i32_minmax__scalar(const int32_t *keys, size_t n, int32_t *min, int32_t *max)
{
    int32_t lo = keys[0], hi = keys[0];
    for (size_t i = 1; i < n; i++) {
        lo = keys[i] < lo ? keys[i] : lo;
        hi = keys[i] > hi ? keys[i] : hi;
    }
    *min = lo;
    *max = hi;
}

static void mr_radix_sort(const int32_t *keys, size_t n, uint32_t *perm, uint32_t *tmp, uint32_t *hist)
{
    uint32_t *src = NULL, *dst = perm;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        memset(hist, 0, 256 * sizeof *hist);
        for (size_t f = 0; f < n; f++) hist[(((uint32_t)keys[f] ^ 0x80000000u) >> shift) & 0xFFu]++;
        int trivial = 0;
        for (unsigned b = 0; b < 256; b++) trivial |= hist[b] == n;
        if (trivial) continue; /* every key has the same byte here: this pass would not move anything */
        uint32_t sum = 0;
        for (unsigned b = 0; b < 256; b++) {
            uint32_t c = hist[b];
            hist[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t f = src ? src[i] : (uint32_t)i;
            dst[hist[(((uint32_t)keys[f] ^ 0x80000000u) >> shift) & 0xFFu]++] = f;
        }
        src = dst;
        dst = dst == perm ? tmp : perm;
    }
    if (!src) {
        for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    } else if (src != perm) {
        memcpy(perm, src, n * sizeof *perm);
    }
}

void mr_i32_stable_argsort__scalar(const int32_t *keys, size_t n, uint32_t *perm, uint32_t *tmp, uint32_t *hist,
                                   size_t hist_cap)
{
    if (n == 0) return;
    int32_t lo, hi;
    mr_i32_minmax__scalar(keys, n, &lo, &hi);
    uint64_t range = (uint64_t)((int64_t)hi - (int64_t)lo) + 1u;
    if (range > hist_cap) {
        mr_radix_sort(keys, n, perm, tmp, hist);
        return;
    }
    memset(hist, 0, (size_t)range * sizeof *hist);
    for (size_t f = 0; f < n; f++) hist[(uint32_t)(keys[f] - lo)]++;
    uint32_t sum = 0;
    for (size_t b = 0; b < range; b++) {
        uint32_t c = hist[b];
        hist[b] = sum;
        sum += c;
    }
    for (size_t f = 0; f < n; f++) perm[hist[(uint32_t)(keys[f] - lo)]++] = (uint32_t)f;
}
