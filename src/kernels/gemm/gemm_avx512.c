/* AVX-512 GEMM micro-kernels (src/kernels/gemm/gemm.h): 6 rows x 32 columns, twelve zmm accumulators (12 x 32,
 * 24, for bf16 pairs), vectorized across columns; every accumulator element follows the scalar kernel's fma
 * chain in ascending k.
 * int8 without VNNI runs as int16 pairs through vpmaddwd (exact). */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_avx512_acc.h"

void mr_gemm_f32_6x32__avx512(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c)
{
    __m512 c0[6], c1[6];
    for (int i = 0; i < 6; i++) {
        c0[i] = load_c ? _mm512_loadu_ps(c + (size_t)i * ldc) : _mm512_setzero_ps();
        c1[i] = load_c ? _mm512_loadu_ps(c + (size_t)i * ldc + 16) : _mm512_setzero_ps();
    }
    for (size_t k = 0; k < kc; k++, a += 6, b += 32) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int i = 0; i < 6; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
    }
    for (int i = 0; i < 6; i++) {
        _mm512_storeu_ps(c + (size_t)i * ldc, c0[i]);
        _mm512_storeu_ps(c + (size_t)i * ldc + 16, c1[i]);
    }
}

/* R (4, 8 or 12) rows of A times one B word vector: c[i] += a[i] * b for the two 16-column halves (the loops
 * unrolled, so the accumulators stay in registers). */
#define MR_BF16_ROWS 12
#define MR_INLINE static inline __attribute__((always_inline))
MR_INLINE void mr_bf16x2_step(__m512 *c0, __m512 *c1, const float *a, __m512 b0, __m512 b1, const int R)
{
    _Pragma("GCC unroll 12") for (int i = 0; i < R; i++) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
        c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
}

/* The tile's accumulators for its first R rows, loaded from C or +0, and stored back. */
MR_INLINE void mr_tile12_load(__m512 *c0, __m512 *c1, const float *c, size_t ldc, int load_c, const int R)
{
    _Pragma("GCC unroll 12") for (int i = 0; i < R; i++) {
        c0[i] = load_c ? _mm512_loadu_ps(c + (size_t)i * ldc) : _mm512_setzero_ps();
        c1[i] = load_c ? _mm512_loadu_ps(c + (size_t)i * ldc + 16) : _mm512_setzero_ps();
    }
}

MR_INLINE void mr_tile12_store(const __m512 *c0, const __m512 *c1, float *c, size_t ldc, const int R)
{
    _Pragma("GCC unroll 12") for (int i = 0; i < R; i++) {
        _mm512_storeu_ps(c + (size_t)i * ldc, c0[i]);
        _mm512_storeu_ps(c + (size_t)i * ldc + 16, c1[i]);
    }
}

/* The first R rows of the tile (A panels keep their 12-row stride); rows R.. of C are neither read nor written. */
MR_INLINE void mr_bf16x2_rows(size_t kc, const float *a, const uint16_t *b, float *c, size_t ldc, int load_c,
                              const int R)
{
    __m512 c0[MR_BF16_ROWS], c1[MR_BF16_ROWS];
    mr_tile12_load(c0, c1, c, ldc, load_c, R);
    const __m512i odd = _mm512_set1_epi32((int)0xFFFF0000u);
    size_t k = 0;
    for (; k + 2 <= kc; k += 2, a += 2 * MR_BF16_ROWS, b += 64) {
        const __m512i w0 = _mm512_loadu_si512(b), w1 = _mm512_loadu_si512(b + 32);
        mr_bf16x2_step(c0, c1, a, _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)),
                       _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16)), R);
        mr_bf16x2_step(c0, c1, a + MR_BF16_ROWS, _mm512_castsi512_ps(_mm512_and_si512(w0, odd)),
                       _mm512_castsi512_ps(_mm512_and_si512(w1, odd)), R);
    }
    if (k < kc) /* odd kc: the last pair holds one k */
        mr_bf16x2_step(c0, c1, a, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(b), 16)),
                       _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(b + 32), 16)), R);
    mr_tile12_store(c0, c1, c, ldc, R);
}

/* fp16 halves: each k's 32 columns widened by F16C (exact), then the bf16 kernel's step. */
MR_INLINE void mr_f16h_rows(size_t kc, const float *a, const uint16_t *b, float *c, size_t ldc, int load_c,
                            const int R)
{
    __m512 c0[MR_BF16_ROWS], c1[MR_BF16_ROWS];
    mr_tile12_load(c0, c1, c, ldc, load_c, R);
    for (size_t k = 0; k < kc; k++, a += MR_BF16_ROWS, b += 32)
        mr_bf16x2_step(c0, c1, a, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)b)),
                       _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(b + 16))), R);
    mr_tile12_store(c0, c1, c, ldc, R);
}

void mr_gemm_bf16x2_12x32__avx512(size_t kc, const float *a, const uint16_t *b, float *c, size_t ldc, int load_c,
                                  size_t rows)
{
    /* a group's last panel (and every panel of a decode batch's tiny groups) computes only the rows it has */
    if (rows <= 4) mr_bf16x2_rows(kc, a, b, c, ldc, load_c, 4);
    else if (rows <= 8) mr_bf16x2_rows(kc, a, b, c, ldc, load_c, 8);
    else mr_bf16x2_rows(kc, a, b, c, ldc, load_c, 12);
}

void mr_gemm_f16_12x32__avx512(size_t kc, const float *a, const uint16_t *b, float *c, size_t ldc, int load_c,
                               size_t rows)
{
    if (rows <= 4) mr_f16h_rows(kc, a, b, c, ldc, load_c, 4);
    else if (rows <= 8) mr_f16h_rows(kc, a, b, c, ldc, load_c, 8);
    else mr_f16h_rows(kc, a, b, c, ldc, load_c, 12);
}

void mr_gemm_i16_6x32__avx512(size_t kgroups, const void *av, const void *bv, int32_t *c, size_t ldc, int load_c)
{
    const char *a = av, *b = bv;
    __m512i c0[6], c1[6];
    mr_acc512_load(c0, c1, c, ldc, load_c);
    for (size_t g = 0; g < kgroups; g++, a += 6 * 4, b += 32 * 4) {
        const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
        for (int i = 0; i < 6; i++) {
            int32_t pair;
            memcpy(&pair, a + i * 4, 4);
            const __m512i ai = _mm512_set1_epi32(pair);
            c0[i] = _mm512_add_epi32(c0[i], _mm512_madd_epi16(ai, b0));
            c1[i] = _mm512_add_epi32(c1[i], _mm512_madd_epi16(ai, b1));
        }
    }
    mr_acc512_store(c0, c1, c, ldc);
}

static void mr_bf16_pairs_run512(const char *p0, const char *p1, size_t n, uint16_t *d)
{
    /* unpacklo / unpackhi interleave within each 128-bit lane: lo = pairs 0-3 | 8-11 | 16-19 | 24-27 of the 32
       columns, hi = 4-7 | 12-15 | 20-23 | 28-31; the permutes take the lanes in column order */
    const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    for (size_t j = 0; j < n; j += 32) {
        const size_t m = n - j < 32 ? n - j : 32;
        const __mmask32 in = (__mmask32)(m == 32 ? 0xFFFFFFFFu : (1u << m) - 1u);
        const __m512i a = _mm512_maskz_loadu_epi16(in, p0 + 2 * j);
        const __m512i b = p1 ? _mm512_maskz_loadu_epi16(in, p1 + 2 * j) : _mm512_setzero_si512();
        const __m512i lo = _mm512_unpacklo_epi16(a, b), hi = _mm512_unpackhi_epi16(a, b);
        const __m512i w0 = _mm512_permutex2var_epi64(lo, first, hi), w1 = _mm512_permutex2var_epi64(lo, second, hi);
        if (m == 32) {
            _mm512_storeu_si512((void *)(d + 2 * j), w0);
            _mm512_storeu_si512((void *)(d + 2 * j + 32), w1);
            continue;
        }
        const size_t words = 2 * m; /* 16-bit values to write: 2 to 62 */
        _mm512_mask_storeu_epi16(d + 2 * j, (__mmask32)(words >= 32 ? 0xFFFFFFFFu : (1u << words) - 1u), w0);
        if (words > 32) _mm512_mask_storeu_epi16(d + 2 * j + 32, (__mmask32)((1u << (words - 32)) - 1u), w1);
    }
}

void mr_gemm_bf16_pairs__avx512(const char *p0, const char *p1, size_t n, uint16_t *d, size_t panel, size_t pstride)
{
    for (size_t j = 0, p = 0; j < n; j += panel, p++)
        mr_bf16_pairs_run512(p0 + 2 * j, p1 ? p1 + 2 * j : NULL, n - j < panel ? n - j : panel, d + p * pstride);
}
