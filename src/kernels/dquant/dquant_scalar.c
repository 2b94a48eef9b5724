/* Dynamic per-row int8 quantization, portable reference (docs/operators/init_routing_v2.md). One
 * implementation for every ISA: the arithmetic is plain IEEE fp32 (multiply, divide), so SIMD variants can be
 * byte-equal, and this file is what they are tested against. */
#include "kernels/dquant/dquant_common.h"

/* fp32 -> fp16 rounded to odd (truncate toward zero; set the last bit when inexact), as a float value. Only
 * finite |y| < 65520 matter here (|v / sc| <= 127 + rounding); larger or non-finite inputs keep their
 * sign and saturate later. */
static inline float mr_f16_round_odd(float y)
{
    if (y != y) return y;
    float a = y < 0 ? -y : y;
    if (a >= 65504.0f) return y; /* saturates in the int8 conversion either way */
    uint16_t h = mr_f32_to_f16(a); /* nearest; step back if it rounded up */
    float hv = mr_f16_to_f32(h);
    if (hv > a) hv = mr_f16_to_f32(--h);
    if (hv != a) hv = mr_f16_to_f32((uint16_t)(h | 1u));
    return y < 0 ? -hv : hv;
}

#define MR_DQ_KERNELS(T, XT)                                                                                  \
    float mr_##T##_absmax__scalar(const void *x, const float *smooth, size_t n)                               \
    {                                                                                                         \
        return mr_dq_absmax_tail(x, smooth, 0, n, XT, 0.0f);                                                  \
    }                                                                                                         \
    void mr_##T##_dquant_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y)        \
    {                                                                                                         \
        mr_dq_quant_tail(x, smooth, 0, n, sc, y, XT);                                                         \
    }                                                                                                         \
    void mr_##T##_dquant_odd_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y)    \
    {                                                                                                         \
        for (size_t h = 0; h < n; h++) {                                                                      \
            float v = mr_dq_load1(x, h, XT);                                                                  \
            if (smooth) v = v * smooth[h];                                                                    \
            y[h] = mr_i8_rne(mr_f16_round_odd(v / sc));                                                       \
        }                                                                                                     \
    }

MR_DQ_KERNELS(f16, MR_X_F16)
MR_DQ_KERNELS(bf16, MR_X_BF16)
MR_DQ_KERNELS(f32, MR_X_F32)
