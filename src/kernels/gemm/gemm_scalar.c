/* Scalar GEMM micro-kernels: the definition of the family's numerics (src/kernels/gemm/gemm.h). fmaf is the
 * correctly rounded fused multiply-add of C99 (7.12.13.1), so these give the bits of the SIMD kernels. */
#include <math.h>

#include "kernels/gemm/gemm.h"

#define MR_S_MR 4
#define MR_S_NR 16

void mr_gemm_f32_4x16__scalar(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c)
{
    float acc[MR_S_MR][MR_S_NR];
    for (int i = 0; i < MR_S_MR; i++)
        for (int j = 0; j < MR_S_NR; j++) acc[i][j] = load_c ? c[(size_t)i * ldc + (size_t)j] : 0.0f;
    for (size_t k = 0; k < kc; k++, a += MR_S_MR, b += MR_S_NR)
        for (int i = 0; i < MR_S_MR; i++)
            for (int j = 0; j < MR_S_NR; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    for (int i = 0; i < MR_S_MR; i++)
        for (int j = 0; j < MR_S_NR; j++) c[(size_t)i * ldc + (size_t)j] = acc[i][j];
}

void mr_gemm_i8_4x16__scalar(size_t kgroups, const void *av, const void *bv, int32_t *c, size_t ldc, int load_c)
{
    const int8_t *a = av, *b = bv;
    int32_t acc[MR_S_MR][MR_S_NR];
    for (int i = 0; i < MR_S_MR; i++)
        for (int j = 0; j < MR_S_NR; j++) acc[i][j] = load_c ? c[(size_t)i * ldc + (size_t)j] : 0;
    for (size_t k = 0; k < kgroups; k++, a += MR_S_MR, b += MR_S_NR)
        for (int i = 0; i < MR_S_MR; i++)
            for (int j = 0; j < MR_S_NR; j++) acc[i][j] += (int32_t)a[i] * (int32_t)b[j];
    for (int i = 0; i < MR_S_MR; i++)
        for (int j = 0; j < MR_S_NR; j++) c[(size_t)i * ldc + (size_t)j] = acc[i][j];
}
