/* The int32 accumulator tile (6 rows x 32 columns, twelve zmm) shared by the AVX-512 int8 kernels of
 * gemm_avx512.c and gemm_avx512vnni.c; included only by files built with AVX-512 flags. */
#ifndef MR_KERNELS_GEMM_AVX512_ACC_H
#define MR_KERNELS_GEMM_AVX512_ACC_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

static inline void mr_acc512_load(__m512i *c0, __m512i *c1, const int32_t *c, size_t ldc, int load_c)
{
    for (int i = 0; i < 6; i++) {
        c0[i] = load_c ? _mm512_loadu_si512(c + (size_t)i * ldc) : _mm512_setzero_si512();
        c1[i] = load_c ? _mm512_loadu_si512(c + (size_t)i * ldc + 16) : _mm512_setzero_si512();
    }
}

static inline void mr_acc512_store(const __m512i *c0, const __m512i *c1, int32_t *c, size_t ldc)
{
    for (int i = 0; i < 6; i++) {
        _mm512_storeu_si512(c + (size_t)i * ldc, c0[i]);
        _mm512_storeu_si512(c + (size_t)i * ldc + 16, c1[i]);
    }
}

#endif /* MR_KERNELS_GEMM_AVX512_ACC_H */
