/* AArch64 Advanced SIMD GEMM micro-kernels (src/kernels/gemm/gemm.h): 6 rows x 16 columns, twenty-four 4-lane
 * accumulators, vectorized across columns. The float kernel's fmla (by element) is a fused multiply-add with one
 * rounding, so every accumulator element follows the scalar kernel's fma chain in ascending k and gives its bits.
 * int8 runs on pairs of k (format MR_GEMM_I8, kgroup 2): smull/smull2 form the int16 products (exact:
 * |a*b| <= 128*128) and sadalp adds each pair into the int32 accumulators with a widening add, so the sum is
 * exact. gemm_neon_dot.c has the sdot variant for CPUs with the dot-product extension. */
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_neon_acc.h"

void mr_gemm_f32_6x16__neon(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c)
{
    float32x4_t acc[6][4];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = load_c ? vld1q_f32(c + (size_t)i * ldc + 4 * j) : vdupq_n_f32(0.0f);
    for (size_t k = 0; k < kc; k++, a += 6, b += 16) {
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
        const float32x4_t a03 = vld1q_f32(a);    /* rows 0-3 */
        const float32x2_t a45 = vld1_f32(a + 4); /* rows 4-5 */
        MR_NEON_ROWS6(acc, vfmaq_laneq_f32, vfmaq_lane_f32);
    }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) vst1q_f32(c + (size_t)i * ldc + 4 * j, acc[i][j]);
}

void mr_gemm_i8x2_6x16__neon(size_t kgroups, const void *av, const void *bv, int32_t *c, size_t ldc, int load_c)
{
    const int8_t *a = av, *b = bv;
    int32x4_t acc[6][4];
    mr_acc_neon_load(acc, c, ldc, load_c);
    for (size_t g = 0; g < kgroups; g++, a += 6 * 2, b += 16 * 2) {
        const int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16); /* columns 0-7 and 8-15, two k each */
        for (int i = 0; i < 6; i++) {
            int16_t pair;
            memcpy(&pair, a + 2 * i, 2);
            const int8x16_t ai = vreinterpretq_s8_s16(vdupq_n_s16(pair)); /* a[i][k0], a[i][k1], repeated */
            acc[i][0] = vpadalq_s16(acc[i][0], vmull_s8(vget_low_s8(ai), vget_low_s8(b0)));
            acc[i][1] = vpadalq_s16(acc[i][1], vmull_high_s8(ai, b0));
            acc[i][2] = vpadalq_s16(acc[i][2], vmull_s8(vget_low_s8(ai), vget_low_s8(b1)));
            acc[i][3] = vpadalq_s16(acc[i][3], vmull_high_s8(ai, b1));
        }
    }
    mr_acc_neon_store(acc, c, ldc);
}
