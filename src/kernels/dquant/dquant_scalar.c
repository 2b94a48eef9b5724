/* Dynamic per-row int8 quantization, portable reference (docs/operators/init_routing_v2.md). One
 * implementation for every ISA: the arithmetic is plain IEEE fp32 (multiply, divide), so SIMD variants can be
 * byte-equal, and this file is what they are tested against. */
#include "common/fp16.h"
#include "kernels/kernels.h"

static inline float mr_ld_f16(const void *x, size_t i) { return mr_f16_to_f32(((const uint16_t *)x)[i]); }
static inline float mr_ld_bf16(const void *x, size_t i) { return mr_bf16_to_f32(((const uint16_t *)x)[i]); }
static inline float mr_ld_f32(const void *x, size_t i) { return ((const float *)x)[i]; }

/* fp32 -> int8, round half away from zero, saturating, NaN -> 0; independent of the rounding mode. */
static inline int8_t mr_i8_rha(float y)
{
    if (y != y) return 0;
    if (y >= 127.0f) return 127;
    if (y <= -128.0f) return -128;
    int32_t t = (int32_t)y;  /* toward zero, exact: |y| < 128 */
    float frac = y - (float)t; /* exact */
    if (frac >= 0.5f) t++;
    else if (frac <= -0.5f) t--;
    return (int8_t)(t > 127 ? 127 : t < -128 ? -128 : t);
}

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

/* fp16 value -> int8, ties to even, saturating, NaN -> 0. */
static inline int8_t mr_i8_rne(float c)
{
    if (c != c) return 0;
    if (c >= 127.0f) return 127;
    if (c <= -128.0f) return -128;
    int32_t i = (int32_t)c;
    float frac = c - (float)i;
    if (frac > 0.5f || (frac == 0.5f && (i & 1))) i++;
    else if (frac < -0.5f || (frac == -0.5f && (i & 1))) i--;
    return (int8_t)i;
}

#define MR_DQ_KERNELS(T, LOAD)                                                                                \
    float mr_##T##_absmax__scalar(const void *x, const float *smooth, size_t n)                               \
    {                                                                                                         \
        float m = 0.0f;                                                                                       \
        for (size_t h = 0; h < n; h++) {                                                                      \
            float v = LOAD(x, h);                                                                             \
            if (smooth) v = v * smooth[h];                                                                    \
            float a = v < 0 ? -v : v;                                                                         \
            if (a > m) m = a;                                                                                 \
        }                                                                                                     \
        return m;                                                                                             \
    }                                                                                                         \
    void mr_##T##_dquant_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y)        \
    {                                                                                                         \
        for (size_t h = 0; h < n; h++) {                                                                      \
            float v = LOAD(x, h);                                                                             \
            if (smooth) v = v * smooth[h];                                                                    \
            y[h] = mr_i8_rha(v / sc);                                                                         \
        }                                                                                                     \
    }                                                                                                         \
    void mr_##T##_dquant_odd_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y)    \
    {                                                                                                         \
        for (size_t h = 0; h < n; h++) {                                                                      \
            float v = LOAD(x, h);                                                                             \
            if (smooth) v = v * smooth[h];                                                                    \
            y[h] = mr_i8_rne(mr_f16_round_odd(v / sc));                                                       \
        }                                                                                                     \
    }

MR_DQ_KERNELS(f16, mr_ld_f16)
MR_DQ_KERNELS(bf16, mr_ld_bf16)
MR_DQ_KERNELS(f32, mr_ld_f32)
