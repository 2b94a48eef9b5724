/* Bit-exact IEEE binary16 / bfloat16 conversions used by the scalar kernels and the runtime.
 * Why bit manipulation: the spec (section 11) requires round-to-nearest-even at every narrowing with no
 * excess precision, which _Float16 support cannot guarantee across compilers. */
#ifndef MR_COMMON_FP16_H
#define MR_COMMON_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t mr_f32_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static inline float mr_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }

/* binary16 -> binary32, exact (subnormals, infinities and NaN payloads kept). */
static inline float mr_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    if (exp == 0x1Fu) /* inf / NaN */
        return mr_f32_from_bits(sign | 0x7F800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return mr_f32_from_bits(sign);
        /* subnormal: value = man * 2^-24, exact in binary32 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return mr_f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

/* mr_f16_to_f32 without a branch, for loops the compiler vectorizes: the exponent and mantissa moved into place
 * and scaled by 2^112 (exact, subnormals included); inf / NaN get the all-ones exponent. The same results
 * (tests/c/test_mlp_elementwise.c compares every fp16 value). */
static inline float mr_f16_to_f32_flat(uint16_t h)
{
    const uint32_t em = (uint32_t)(h & 0x7FFFu) << 13;
    float f = mr_f32_from_bits(em) * 0x1p112f;
    uint32_t r = mr_f32_bits(f);
    r = (h & 0x7C00u) == 0x7C00u ? (em | 0x7F800000u) : r;
    return mr_f32_from_bits(r | ((uint32_t)(h & 0x8000u) << 16));
}

/* v, or the one canonical quiet NaN (0x7FC00000) when v is a NaN: which of two NaN operands an operation passes
 * on depends on the operand order the compiler chose, which differs between scalar and vector code, so results
 * that must have the same bytes on every path store this NaN (docs/numerics.md). */
static inline float mr_f32_canonical_nan(float v) { return v != v ? mr_f32_from_bits(0x7FC00000u) : v; }

/* binary32 -> binary16, round to nearest, ties to even; overflow gives +-inf, NaN stays NaN (quiet). */
static inline uint16_t mr_f32_to_f16(float f)
{
    uint32_t u = mr_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xFFu;
    uint32_t man = u & 0x7FFFFFu;
    if (exp == 0xFFu) /* inf / NaN */
        return (uint16_t)(sign | 0x7C00u | (man ? (0x200u | (man >> 13)) : 0u));
    int32_t e = (int32_t)exp - 127; /* unbiased */
    if (e > 15) return (uint16_t)(sign | 0x7C00u);
    if (e >= -14) { /* normal binary16 range */
        uint32_t half = ((uint32_t)(e + 15) << 10) | (man >> 13);
        uint32_t rest = man & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++; /* carries into exp: ok, up to inf */
        return (uint16_t)(sign | half);
    }
    if (e < -25) return sign; /* below half of the smallest subnormal: rounds to zero */
    /* subnormal binary16: shift the full 24-bit significand */
    uint32_t sig = man | 0x800000u;
    uint32_t shift = (uint32_t)(-e - 14 + 13); /* 14..24 */
    uint32_t half = sig >> shift;
    uint32_t rest = sig & ((1u << shift) - 1u);
    uint32_t mid = 1u << (shift - 1u);
    if (rest > mid || (rest == mid && (half & 1u))) half++;
    return (uint16_t)(sign | half);
}

/* bfloat16 -> binary32: exact widening. */
static inline float mr_bf16_to_f32(uint16_t b) { return mr_f32_from_bits((uint32_t)b << 16); }

/* binary32 -> bfloat16, ties to even, NaN kept quiet. */
static inline uint16_t mr_f32_to_bf16(float f)
{
    uint32_t u = mr_f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#endif /* MR_COMMON_FP16_H */
