/* Static-quant chain (spec 1.4) with AArch64 Advanced SIMD; equals quant_scalar.c byte for byte.
 * AArch64 has no immediate-rounding form of the fp32 -> fp16 narrowing, so those steps follow FPCR.RMode
 * and this path assumes the default round-to-nearest-even (and FPCR.AHP = 0, IEEE half precision). The int8
 * step uses fcvtns, which rounds half to even, saturates and turns NaN into 0 by definition. */
#include <arm_neon.h>
#include <string.h>

#include "kernels/kernels.h"

/* Elements per block: four 4-lane vectors make one 16-byte store. */
#define MR_BLOCK 16

/* Round floats to fp16 values (held as floats). */
static inline float32x4_t mr_to_f16val(float32x4_t v) { return vcvt_f32_f16(vcvt_f16_f32(v)); }

/* Eight x elements from p as fp16 values (a in the chain), low four in lo, high four in hi. */
static inline void mr_load8(const void *p, mr_xtype t, float32x4_t *lo, float32x4_t *hi)
{
    switch (t) {
    case MR_X_F16: {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16((const uint16_t *)p));
        *lo = vcvt_f32_f16(vget_low_f16(h));
        *hi = vcvt_high_f32_f16(h);
        return;
    }
    case MR_X_BF16: {
        /* bf16 widens to fp32 exactly by moving its bits to the top half of the word. */
        uint16x8_t u = vld1q_u16((const uint16_t *)p);
        *lo = mr_to_f16val(vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(u), 16)));
        *hi = mr_to_f16val(vreinterpretq_f32_u32(vshll_high_n_u16(u, 16)));
        return;
    }
    default:
        *lo = mr_to_f16val(vld1q_f32((const float *)p));
        *hi = mr_to_f16val(vld1q_f32((const float *)p + 4));
        return;
    }
}

/* b = f16(a*s), c = f16(b+o), then int8 round-half-even as int32. */
static inline int32x4_t mr_chain4(float32x4_t a, float32x4_t scale, float32x4_t offset)
{
    float32x4_t b = mr_to_f16val(vmulq_f32(a, scale));
    float32x4_t c = mr_to_f16val(vaddq_f32(b, offset));
    return vcvtnq_s32_f32(c);
}

/* MR_BLOCK elements of x at p -> MR_BLOCK int8 in element order (saturating narrowings do the clamp). */
static inline int8x16_t mr_block(const void *p, mr_xtype t, size_t esize, float32x4_t scale,
                                 float32x4_t offset)
{
    float32x4_t a0, a1, a2, a3;
    mr_load8(p, t, &a0, &a1);
    mr_load8((const char *)p + 8 * esize, t, &a2, &a3);
    int16x4_t h0 = vqmovn_s32(mr_chain4(a0, scale, offset)), h1 = vqmovn_s32(mr_chain4(a1, scale, offset));
    int16x4_t h2 = vqmovn_s32(mr_chain4(a2, scale, offset)), h3 = vqmovn_s32(mr_chain4(a3, scale, offset));
    return vcombine_s8(vqmovn_s16(vcombine_s16(h0, h1)), vqmovn_s16(vcombine_s16(h2, h3)));
}

static inline void mr_quant(const void *x, int8_t *y, size_t n, const mr_quant_params *params, mr_xtype t,
                            size_t esize)
{
    const float32x4_t scale = vdupq_n_f32(params->scale);
    const float32x4_t offset = vdupq_n_f32(params->offset);
    const char *src = (const char *)x;
    size_t i = 0;
    for (; n - i >= MR_BLOCK; i += MR_BLOCK)
        vst1q_s8(y + i, mr_block(src + i * esize, t, esize, scale, offset));
    if (i < n) {
        /* The tail goes through zero-padded local copies so that no byte outside x[0..n) or y[0..n) is
         * touched (x may end right before an unmapped page). */
        const size_t rem = n - i;
        unsigned char in[MR_BLOCK * sizeof(float)] = {0};
        int8_t out[MR_BLOCK];
        memcpy(in, src + i * esize, rem * esize);
        vst1q_s8(out, mr_block(in, t, esize, scale, offset));
        memcpy(y + i, out, rem);
    }
}

void mr_f16_quant_i8__neon(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_F16, sizeof(uint16_t));
}

void mr_bf16_quant_i8__neon(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_BF16, sizeof(uint16_t));
}

void mr_f32_quant_i8__neon(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    mr_quant(x, y, n, params, MR_X_F32, sizeof(float));
}
