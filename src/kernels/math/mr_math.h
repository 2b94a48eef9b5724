/* The project's one implementation of exp, sigmoid and SiLU for fp32 results (layer decision 11,
 * docs/numerics.md "Device functions"). Every operator and every ISA path calls these functions (or loops
 * over them compiled with -ffp-contract=off, which the build sets for every file), so a value is the same
 * bits on every CPU, ISA level and thread count.
 *
 * Method: the argument is taken to double; e^z = 2^n * e^r with n = nearest(z / ln 2), r = z - n ln 2 in two
 * Cody-Waite parts (exact for |n| < 2^11), e^r by its Taylor polynomial of degree 12 on |r| <= 0.3466 (the
 * truncation error is below 1.7e-16 relative, the Horner evaluation adds a few 2^-53), and 2^n is built from
 * its bits. The double result carries a relative error below 2^-49; one rounding to fp32 follows, so the
 * result is within 1 ulp of the correctly rounded fp32 value (almost always equal to it; the tests measure
 * both against double-precision libm over every fp32 input class). Sigmoid and SiLU compute 1 / (1 + e^-x)
 * and x / (1 + e^-x) in double before their single rounding. NaN in gives NaN out; no branches, no integer
 * conversion of a float (the exponent comes from the bits of the rounding constant), so loops over these
 * functions vectorize and stay bit-identical to the scalar code. */
#ifndef MR_KERNELS_MATH_H
#define MR_KERNELS_MATH_H

#include <stdint.h>
#include <string.h>

/* e^z for z in [-1000, 1000] (callers clamp; NaN passes through). Relative error < 2^-49. */
static inline double mr_exp_core(double z)
{
    const double round = 0x1.8p52, inv_ln2 = 0x1.71547652b82fep0;
    const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    double t = z * inv_ln2 + round; /* low mantissa bits of t hold n (+ 2^51) */
    double n = t - round;
    double r = (z - n * ln2_hi) - n * ln2_lo;
    double p = 1.0 / 479001600.0; /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    sb = (tb + 1023u) << 52; /* 2^n: (n + 1023) in the exponent field; the 2^51 offset shifts out */
    double s;
    memcpy(&s, &sb, sizeof s);
    return p * s;
}

/* Clamp keeping NaN (comparisons with NaN are false). */
static inline double mr_clamp_d(double v, double lo, double hi)
{
    double a = v < lo ? lo : v;
    return a > hi ? hi : a;
}

/* e^x rounded to fp32: 0 below -104 (e^-104 rounds to 0), +inf above 89 (overflow of the fp32 result). */
static inline float mr_expf(float x) { return (float)mr_exp_core(mr_clamp_d((double)x, -104.0, 89.0)); }

/* 1 / (1 + e^-x) rounded to fp32 (clamping -x to [-120, 120] changes nothing after the rounding). */
static inline float mr_sigmoidf(float x)
{
    return (float)(1.0 / (1.0 + mr_exp_core(mr_clamp_d(-(double)x, -120.0, 120.0))));
}

/* x * sigmoid(x) = x / (1 + e^-x) rounded to fp32; below -120 the result is -0 (|x e^x| < 2^-160), also for
 * x = -inf, the limit (where x * sigmoid(x) would be -inf * 0). */
static inline float mr_siluf(float x)
{
    double d = (double)x;
    double r = d / (1.0 + mr_exp_core(mr_clamp_d(-d, -120.0, 120.0)));
    return d < -120.0 ? -0.0f : (float)r;
}

#endif /* MR_KERNELS_MATH_H */
