/* The int32 accumulator tile (6 rows x 16 columns, twenty-four 4-lane registers) and the per-row update shared by
 * the AArch64 GEMM kernels of gemm_neon.c and gemm_neon_dot.c; included only by AArch64 files. */
#ifndef MR_KERNELS_GEMM_NEON_ACC_H
#define MR_KERNELS_GEMM_NEON_ACC_H

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

static inline void mr_acc_neon_load(int32x4_t acc[6][4], const int32_t *c, size_t ldc, int load_c)
{
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = load_c ? vld1q_s32(c + (size_t)i * ldc + 4 * j) : vdupq_n_s32(0);
}

static inline void mr_acc_neon_store(int32x4_t acc[6][4], int32_t *c, size_t ldc)
{
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) vst1q_s32(c + (size_t)i * ldc + 4 * j, acc[i][j]);
}

/* Row i of the tile: acc[i][j] = lanefn(acc[i][j], b_j, ar, l) for the four column registers b0..b3 in scope,
 * with lane l of the A register ar (a by-element multiply-add: fmla or sdot). */
#define MR_NEON_ROW(acc, i, lanefn, ar, l)                                                                    \
    ((acc)[i][0] = lanefn((acc)[i][0], b0, ar, l), (acc)[i][1] = lanefn((acc)[i][1], b1, ar, l),             \
     (acc)[i][2] = lanefn((acc)[i][2], b2, ar, l), (acc)[i][3] = lanefn((acc)[i][3], b3, ar, l))

/* All six rows: rows 0-3 from the lanes of a 128-bit register a03 (laneq form), rows 4-5 from a 64-bit a45. */
#define MR_NEON_ROWS6(acc, laneqfn, lanefn)                                                                   \
    (MR_NEON_ROW(acc, 0, laneqfn, a03, 0), MR_NEON_ROW(acc, 1, laneqfn, a03, 1),                             \
     MR_NEON_ROW(acc, 2, laneqfn, a03, 2), MR_NEON_ROW(acc, 3, laneqfn, a03, 3),                             \
     MR_NEON_ROW(acc, 4, lanefn, a45, 0), MR_NEON_ROW(acc, 5, lanefn, a45, 1))

#endif /* MR_KERNELS_GEMM_NEON_ACC_H */
