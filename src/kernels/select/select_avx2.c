/* Selection kernels, AVX2 variant: the shared loops, and a scan that tests 8 keys per compare. */
#include <immintrin.h>

#define MR_SEL_ISA avx2
#define MR_SEL_HAVE_SCAN
#include "kernels/select/select_loops.h"

size_t mr_u32_sel_scan__avx2(const uint32_t *key, size_t n, uint32_t thr, uint32_t *idx)
{
    /* unsigned key >= thr  <=>  signed (key ^ 2^31) > (thr ^ 2^31) - 1, and thr >= 1 here or every key passes */
    size_t c = 0, i = 0;
    if (thr == 0) {
        for (; i < n; i++) idx[c++] = (uint32_t)i;
        return c;
    }
    const __m256i flip = _mm256_set1_epi32((int)0x80000000u);
    const __m256i t = _mm256_set1_epi32((int)((thr - 1u) ^ 0x80000000u));
    for (; i + 8 <= n; i += 8) {
        const __m256i k = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(key + i)), flip);
        unsigned m = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(k, t)));
        while (m) {
            idx[c++] = (uint32_t)(i + (size_t)__builtin_ctz(m));
            m &= m - 1;
        }
    }
    for (; i < n; i++)
        if (key[i] >= thr) idx[c++] = (uint32_t)i;
    return c;
}
