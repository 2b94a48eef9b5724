/* Dynamic per-row int8 quantization with AArch64 Advanced SIMD; equals dquant_scalar.c byte for byte: the loads
 * widen exactly (fcvtl for fp16, a 16-bit shift for bf16), the smooth multiply and the divide are the same single
 * IEEE fp32 operations, the max keeps a lane only where |v| > max (a compare and select, so NaN is skipped like the
 * scalar compare; fmaxnm would not skip a signalling NaN), and fcvtas is mr_i8_rha's rounding by definition: ties
 * away from zero, NaN -> 0, saturating, whatever FPCR.RMode says; the saturating narrowings clamp to int8.
 * The round-to-odd recipe (one decode shape) stays scalar. */
#include <arm_neon.h>

#include "kernels/dquant/dquant_common.h"

/* x[i .. i+3] widened exactly to fp32 */
static inline float32x4_t mr_load4(const void *x, size_t i, mr_xtype t)
{
    switch (t) {
    case MR_X_F16: return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)x + i)));
    case MR_X_BF16: return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)x + i), 16));
    default: return vld1q_f32((const float *)x + i);
    }
}

/* x[i .. i+3], times smooth[i .. i+3] when given */
static inline float32x4_t mr_value4(const void *x, const float *smooth, size_t i, mr_xtype t)
{
    const float32x4_t v = mr_load4(x, i, t);
    return smooth ? vmulq_f32(v, vld1q_f32(smooth + i)) : v;
}

static inline float mr_absmax(const void *x, const float *smooth, size_t n, mr_xtype t)
{
    float32x4_t m0 = vdupq_n_f32(0.0f), m1 = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t a0 = vabsq_f32(mr_value4(x, smooth, i, t)), a1 = vabsq_f32(mr_value4(x, smooth, i + 4, t));
        m0 = vbslq_f32(vcgtq_f32(a0, m0), a0, m0);
        m1 = vbslq_f32(vcgtq_f32(a1, m1), a1, m1);
    }
    /* lanes are maxima of values >= +0 without NaN: any order of reduction gives the same value */
    return mr_dq_absmax_tail(x, smooth, i, n, t, vmaxvq_f32(vmaxq_f32(m0, m1)));
}

static inline void mr_quant(const void *x, const float *smooth, size_t n, float sc, int8_t *y, mr_xtype t)
{
    const float32x4_t vs = vdupq_n_f32(sc);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const int32x4_t q0 = vcvtaq_s32_f32(vdivq_f32(mr_value4(x, smooth, i, t), vs));
        const int32x4_t q1 = vcvtaq_s32_f32(vdivq_f32(mr_value4(x, smooth, i + 4, t), vs));
        vst1_s8(y + i, vqmovn_s16(vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1))));
    }
    mr_dq_quant_tail(x, smooth, i, n, sc, y, t);
}

#define MR_DQ_NEON(T, XT)                                                                                     \
    float mr_##T##_absmax__neon(const void *x, const float *smooth, size_t n) { return mr_absmax(x, smooth, n, XT); } \
    void mr_##T##_dquant_i8__neon(const void *x, const float *smooth, size_t n, float sc, int8_t *y)         \
    {                                                                                                         \
        mr_quant(x, smooth, n, sc, y, XT);                                                                    \
    }

MR_DQ_NEON(f16, MR_X_F16)
MR_DQ_NEON(bf16, MR_X_BF16)
MR_DQ_NEON(f32, MR_X_F32)
