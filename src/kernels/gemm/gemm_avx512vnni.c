/* AVX-512 VNNI int8 GEMM micro-kernel (src/kernels/gemm/gemm.h): 6 rows x 32 columns, vpdpbusd on groups of
 * four k. vpdpbusd multiplies unsigned by signed bytes, so A arrives as u = a + 128 (format MR_GEMM_U8) and the
 * caller subtracts 128 * (column sum of B): sum (a+128)*b - 128*sum b = sum a*b, exact in int32 since
 * |sum (a+128)*b| <= 255*128*65535 < 2^31 (and vpdpbusd's int32 adds wrap, never saturate). */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_avx512_acc.h"

void mr_gemm_u8i8_6x32__avx512vnni(size_t kgroups, const void *av, const void *bv, int32_t *c, size_t ldc,
                                   int load_c)
{
    const char *a = av, *b = bv;
    __m512i c0[6], c1[6];
    mr_acc512_load(c0, c1, c, ldc, load_c);
    for (size_t g = 0; g < kgroups; g++, a += 6 * 4, b += 32 * 4) {
        const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
        for (int i = 0; i < 6; i++) {
            int32_t quad;
            memcpy(&quad, a + i * 4, 4);
            const __m512i ai = _mm512_set1_epi32(quad);
            c0[i] = _mm512_dpbusd_epi32(c0[i], ai, b0);
            c1[i] = _mm512_dpbusd_epi32(c1[i], ai, b1);
        }
    }
    mr_acc512_store(c0, c1, c, ldc);
}
