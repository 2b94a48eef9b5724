/* Element-wise MLP kernels, AArch64 Advanced SIMD variant: the shared loops of mlp_loops.h, with the int8
 * quantization in 8-lane blocks: fcvtns rounds ties to even whatever FPCR.RMode says, turns NaN into 0 and
 * saturates, and the saturating narrowings then clamp to [-128, 127] (mr_i8_rne's results: 127.5 -> 128 -> 127). */
#include <arm_neon.h>
#include <stdint.h>

static inline int16x4_t mr_mlp_quant4(const float *v, float32x4_t vf, int div)
{
    const float32x4_t x = div ? vdivq_f32(vld1q_f32(v), vf) : vmulq_f32(vld1q_f32(v), vf);
    return vqmovn_s32(vcvtnq_s32_f32(x));
}

static inline void mr_mlp_quant8(const float *v, float f, int div, int8_t *y)
{
    const float32x4_t vf = vdupq_n_f32(f);
    vst1_s8(y, vqmovn_s16(vcombine_s16(mr_mlp_quant4(v, vf, div), mr_mlp_quant4(v + 4, vf, div))));
}
#define MR_MLP_QUANT_WIDTH 8
#define MR_MLP_QUANT_BLOCK(v, f, div, y) mr_mlp_quant8(v, f, div, y)

#define MR_MLP_ISA neon
#include "kernels/mlp/mlp_loops.h"
