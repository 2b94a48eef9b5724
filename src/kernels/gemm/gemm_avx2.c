/* AVX2 + FMA GEMM micro-kernels (src/kernels/gemm/gemm.h): 6 rows x 16 columns, twelve ymm accumulators,
 * vectorized across columns; every accumulator element follows the scalar kernel's fma chain in ascending k.
 * int8 runs as int16 pairs through vpmaddwd (exact: |a0*b0 + a1*b1| <= 2*128*128). */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm/gemm.h"

void mr_gemm_f32_6x16__avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c)
{
    __m256 c0[6], c1[6];
    for (int i = 0; i < 6; i++) {
        c0[i] = load_c ? _mm256_loadu_ps(c + (size_t)i * ldc) : _mm256_setzero_ps();
        c1[i] = load_c ? _mm256_loadu_ps(c + (size_t)i * ldc + 8) : _mm256_setzero_ps();
    }
    for (size_t k = 0; k < kc; k++, a += 6, b += 16) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int i = 0; i < 6; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
    }
    for (int i = 0; i < 6; i++) {
        _mm256_storeu_ps(c + (size_t)i * ldc, c0[i]);
        _mm256_storeu_ps(c + (size_t)i * ldc + 8, c1[i]);
    }
}

void mr_gemm_i16_6x16__avx2(size_t kgroups, const void *av, const void *bv, int32_t *c, size_t ldc, int load_c)
{
    const char *a = av, *b = bv;
    __m256i c0[6], c1[6];
    for (int i = 0; i < 6; i++) {
        c0[i] = load_c ? _mm256_loadu_si256((const __m256i *)(c + (size_t)i * ldc)) : _mm256_setzero_si256();
        c1[i] = load_c ? _mm256_loadu_si256((const __m256i *)(c + (size_t)i * ldc + 8)) : _mm256_setzero_si256();
    }
    for (size_t g = 0; g < kgroups; g++, a += 6 * 4, b += 16 * 4) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)b), b1 = _mm256_loadu_si256((const __m256i *)(b + 32));
        for (int i = 0; i < 6; i++) {
            int32_t pair;
            memcpy(&pair, a + i * 4, 4);
            const __m256i ai = _mm256_set1_epi32(pair);
            c0[i] = _mm256_add_epi32(c0[i], _mm256_madd_epi16(ai, b0));
            c1[i] = _mm256_add_epi32(c1[i], _mm256_madd_epi16(ai, b1));
        }
    }
    for (int i = 0; i < 6; i++) {
        _mm256_storeu_si256((__m256i *)(c + (size_t)i * ldc), c0[i]);
        _mm256_storeu_si256((__m256i *)(c + (size_t)i * ldc + 8), c1[i]);
    }
}
