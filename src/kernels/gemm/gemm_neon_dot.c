/* AArch64 dot-product int8 GEMM micro-kernel (src/kernels/gemm/gemm.h): 6 rows x 16 columns, sdot on groups of
 * four k (format MR_GEMM_I8 for A and B, kgroup 4). sdot multiplies signed by signed bytes and adds the four
 * products to an int32 lane with wrapping adds, so no offset is needed and the sum is exact for K <= 65535.
 * The only file built with +dotprod; dispatch runs it only when the kernel reports HWCAP_ASIMDDP. */
#include <arm_neon.h>
#include <stdint.h>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_neon_acc.h"

void mr_gemm_i8x4_6x16__neon_dot(size_t kgroups, const void *av, const void *bv, int32_t *c, size_t ldc,
                                 int load_c)
{
    const int8_t *a = av, *b = bv;
    int32x4_t acc[6][4];
    mr_acc_neon_load(acc, c, ldc, load_c);
    for (size_t g = 0; g < kgroups; g++, a += 6 * 4, b += 16 * 4) {
        /* B: four columns of four k per register; A: rows 0-3 in a03, rows 4-5 in a45, four k each */
        const int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16), b2 = vld1q_s8(b + 32), b3 = vld1q_s8(b + 48);
        const int8x16_t a03 = vld1q_s8(a);
        const int8x8_t a45 = vld1_s8(a + 16);
        MR_NEON_ROWS6(acc, vdotq_laneq_s32, vdotq_lane_s32);
    }
    mr_acc_neon_store(acc, c, ldc);
}
