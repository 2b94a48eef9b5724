/* Stable sort of expert ids (spec 0.3 STABLE_SORT_BY_EXPERT, decision 3: exact int32 order). */
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

void mr_i32_histogram__scalar(const int32_t *keys, size_t n, int32_t lo, size_t range, uint32_t *hist)
{
    memset(hist, 0, range * sizeof *hist);
    for (size_t f = 0; f < n; f++) {
        uint32_t b = (uint32_t)keys[f] - (uint32_t)lo;
        if (b < range) hist[b]++;
    }
}

void mr_i32_rank_perm__scalar(const int32_t *keys, size_t begin, size_t end, int32_t lo, size_t range,
                              uint32_t *offsets, uint32_t *perm)
{
    for (size_t f = begin; f < end; f++) {
        uint32_t b = (uint32_t)keys[f] - (uint32_t)lo;
        if (b < range) perm[offsets[b]++] = (uint32_t)f;
    }
}

void mr_i32_radix_argsort__scalar(const int32_t *keys, const uint32_t *pos, size_t n, uint32_t *perm, uint32_t *tmp,
                                  uint32_t *hist)
{
    const uint32_t *src = pos;
    uint32_t *dst = perm;
    int moved = 0;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        memset(hist, 0, 256 * sizeof *hist);
        /* the sign flip makes unsigned byte order equal signed order */
        for (size_t i = 0; i < n; i++) {
            uint32_t f = src ? src[i] : (uint32_t)i;
            hist[(((uint32_t)keys[f] ^ 0x80000000u) >> shift) & 0xFFu]++;
        }
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
        moved = 1;
    }
    if (!moved) {
        for (size_t i = 0; i < n; i++) perm[i] = pos ? pos[i] : (uint32_t)i;
    } else if (src != perm) {
        memcpy(perm, src, n * sizeof *perm);
    }
}
