/* Portable reference of the static-quant chain (spec 1.4). Every SIMD variant must equal it byte for byte. */
#include "kernels/kernels.h"
#include "common/fp16.h"

void mr_quant_params_init(mr_quant_params *params, double scale, double offset)
{
    /* The device stores the double attribute as float, then casts to half: two roundings (decision 1). */
    params->scale_f16 = mr_f32_to_f16((float)scale);
    params->offset_f16 = mr_f32_to_f16((float)offset);
    params->scale = mr_f16_to_f32(params->scale_f16);
    params->offset = mr_f16_to_f32(params->offset_f16);
}

/* fp16 value (held exactly in a float) -> int8, ties to even, saturating, NaN -> 0. Written without
 * rint() so the result does not depend on the caller's floating-point rounding mode. */
static inline int8_t mr_f16val_to_i8_rne(float c)
{
    if (c != c) return 0;
    if (c >= 127.0f) return 127;
    if (c <= -128.0f) return -128;
    int32_t i = (int32_t)c;          /* truncates toward zero; exact because |c| < 128 */
    float frac = c - (float)i;       /* exact */
    if (frac > 0.5f || (frac == 0.5f && (i & 1))) i++;
    else if (frac < -0.5f || (frac == -0.5f && (i & 1))) i--;
    return (int8_t)i;
}

int8_t mr_quant_f16_scalar_one(uint16_t a_f16, const mr_quant_params *params)
{
    /* One fp16 multiply: the product of two fp16 values is exact in binary32, so one rounding to fp16
     * follows. One fp16 add: the binary32 sum is rounded twice (to float, then to half); with 24 >= 2*11+2
     * bits that double rounding is innocuous, so the result is the correctly rounded fp16 sum. */
    float a = mr_f16_to_f32(a_f16);
    float b = mr_f16_to_f32(mr_f32_to_f16(a * params->scale));
    float c = mr_f16_to_f32(mr_f32_to_f16(b + params->offset));
    return mr_f16val_to_i8_rne(c);
}

void mr_f16_quant_i8__scalar(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    const uint16_t *src = (const uint16_t *)x;
    for (size_t i = 0; i < n; i++) y[i] = mr_quant_f16_scalar_one(src[i], params);
}

void mr_bf16_quant_i8__scalar(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    const uint16_t *src = (const uint16_t *)x;
    for (size_t i = 0; i < n; i++) y[i] = mr_quant_f16_scalar_one(mr_f32_to_f16(mr_bf16_to_f32(src[i])), params);
}

void mr_f32_quant_i8__scalar(const void *x, int8_t *y, size_t n, const mr_quant_params *params)
{
    const float *src = (const float *)x;
    for (size_t i = 0; i < n; i++) y[i] = mr_quant_f16_scalar_one(mr_f32_to_f16(src[i]), params);
}
