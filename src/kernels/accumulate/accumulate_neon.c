/* Accumulate kernels, AArch64 Advanced SIMD variant: the shared loops of accumulate_loops.h at NEON's width, with
 * the fp16 step rounding by fcvtn / fcvtl (ties to even under the default FPCR.RMode, exact back; subnormals kept
 * under the default FPCR.FZ16 = 0): mr_f32_to_f16 then mr_f16_to_f32's results. */
#include <arm_neon.h>

#define MR_ACC_R16_WIDTH 4
#define MR_ACC_R16_BLOCK(v) vst1q_f32((v), vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(v))))

#define MR_ACC_ISA neon
#include "kernels/accumulate/accumulate_loops.h"
