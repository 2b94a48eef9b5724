/* Portable reference of the static-quant chain (spec 1.4). Every SIMD variant must equal it byte for byte. */
#include "kernels/kernels.h"
#include "common/fp16.h"
#include "kernels/int8_round.h"

void mr_quant_params_init(mr_quant_params *params, double scale, double offset)
{
    /* The device stores the double attribute as float, then casts to half: two roundings (decision 1). */
    params->scale_f16 = mr_f32_to_f16((float)scale);
    params->offset_f16 = mr_f32_to_f16((float)offset);
    params->scale = mr_f16_to_f32(params->scale_f16);
    params->offset = mr_f16_to_f32(params->offset_f16);
}

int8_t mr_quant_f16_scalar_one(uint16_t a_f16, const mr_quant_params *params)
{
    /* One fp16 multiply: the product of two fp16 values is exact in binary32, so one rounding to fp16
     * follows. One fp16 add: the binary32 sum is rounded twice (to float, then to half); with 24 >= 2*11+2
     * bits that double rounding is innocuous, so the result is the correctly rounded fp16 sum. */
    float a = mr_f16_to_f32(a_f16);
    float b = mr_f16_to_f32(mr_f32_to_f16(a * params->scale));
    float c = mr_f16_to_f32(mr_f32_to_f16(b + params->offset));
    return mr_i8_rne(c); /* c is an fp16 value */
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
