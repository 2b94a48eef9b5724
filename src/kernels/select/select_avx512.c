/* Selection kernels, AVX-512 variant: the shared loops, and a scan that compresses the indices of 16 keys per
 * compare. */
#include <immintrin.h>

#define MR_SEL_ISA avx512
#define MR_SEL_HAVE_SCAN
#define MR_SEL_HAVE_TOP2
#include "kernels/select/select_loops.h"

size_t mr_u32_sel_scan__avx512(const uint32_t *key, size_t n, uint32_t thr, uint32_t *idx)
{
    size_t c = 0, i = 0;
    const __m512i t = _mm512_set1_epi32((int)thr), step = _mm512_set1_epi32(16);
    __m512i ix = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; i + 16 <= n; i += 16) {
        const __mmask16 m = _mm512_cmpge_epu32_mask(_mm512_loadu_si512((const void *)(key + i)), t);
        _mm512_mask_compressstoreu_epi32((void *)(idx + c), m, ix);
        c += (size_t)__builtin_popcount((unsigned)m);
        ix = _mm512_add_epi32(ix, step);
    }
    for (; i < n; i++)
        if (key[i] >= thr) idx[c++] = (uint32_t)i;
    return c;
}

uint32_t mr_u32_sel_top2__avx512(const uint32_t *key, size_t n, uint32_t *second)
{
    /* whole vectors, then a masked tail: lanes past n read as 0, the smallest key, which never changes the max;
     * the tail mask keeps them out of the tie count and the runner-up */
    __m512i m1v = _mm512_setzero_si512();
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 live = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        m1v = _mm512_max_epu32(m1v, _mm512_maskz_loadu_epi32(live, (const void *)(key + i)));
    }
    const uint32_t m1 = (uint32_t)_mm512_reduce_max_epu32(m1v);
    const __m512i m1b = _mm512_set1_epi32((int)m1);
    __m512i m2v = _mm512_setzero_si512();
    unsigned ties = 0;
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 live = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512i k = _mm512_maskz_loadu_epi32(live, (const void *)(key + i));
        ties += (unsigned)__builtin_popcount((unsigned)_mm512_mask_cmpeq_epu32_mask(live, k, m1b));
        m2v = _mm512_max_epu32(m2v, _mm512_maskz_mov_epi32(_mm512_cmplt_epu32_mask(k, m1b), k));
    }
    const uint32_t m2 = (uint32_t)_mm512_reduce_max_epu32(m2v);
    *second = ties > 1 ? m1 : m2;
    return m1;
}
