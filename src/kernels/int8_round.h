/* fp32 -> int8 roundings shared by the quantizing kernels (one copy, so every path rounds alike). Written
 * without rint() so the result does not depend on the caller's floating-point rounding mode. */
#ifndef MR_KERNELS_INT8_ROUND_H
#define MR_KERNELS_INT8_ROUND_H

#include <stdint.h>

/* Ties to even, saturating to [-128, 127], NaN -> 0. */
static inline int8_t mr_i8_rne(float c)
{
    if (c != c) return 0;
    if (c >= 127.0f) return 127;
    if (c <= -128.0f) return -128;
    int32_t i = (int32_t)c;    /* toward zero, exact: |c| < 128 */
    float frac = c - (float)i; /* exact */
    if (frac > 0.5f || (frac == 0.5f && (i & 1))) i++;
    else if (frac < -0.5f || (frac == -0.5f && (i & 1))) i--;
    return (int8_t)i;
}

/* Ties away from zero, saturating to [-128, 127], NaN -> 0. */
static inline int8_t mr_i8_rha(float y)
{
    if (y != y) return 0;
    if (y >= 127.0f) return 127;
    if (y <= -128.0f) return -128;
    int32_t t = (int32_t)y;
    float frac = y - (float)t;
    if (frac >= 0.5f) t++;
    else if (frac <= -0.5f) t--;
    return (int8_t)t;
}

#endif /* MR_KERNELS_INT8_ROUND_H */
