/* The project's one implementation of exp, sigmoid and SiLU for fp32 results (layer decision 11,
 * docs/numerics.md "Device functions"). Every operator and every ISA path calls these functions (or loops
 * over them compiled with -ffp-contract=off, which the build sets for every file), so a value is the same
 * bits on every CPU, ISA level and thread count.
 *
 * Method: the argument is taken to double; e^z = 2^n * e^r with n = nearest(z / ln 2), r = z - n ln 2 in two
 * Cody-Waite parts (exact for |n| < 2^11), e^r by its [6/6] Pade approximant Q(r) / Q(-r) on |r| <= 0.3466
 * (relative error below 2^-62; Q(+-r) = E(r^2) +- r O(r^2) from two short Horner chains), and 2^n is built
 * from its bits. So e^z = s * qp / qm (s = 2^n, qp = Q(r), qm = Q(-r), both in [0.7, 1.5]), and each function
 * needs one double division: exp s * qp / qm, sigmoid qm / (qm + s * qp), SiLU x * qm / (qm + s * qp). The
 * double result carries a relative error below 2^-49 (the approximant's 2^-62 and about ten roundings of
 * 2^-53, no cancellation: every sum adds terms of one sign); one rounding to fp32 follows, so the result is
 * within 1 ulp of the correctly rounded fp32 value (almost always equal to it; the tests measure both against
 * double-precision libm over every fp32 input class). NaN in gives NaN out; no branches, no integer
 * conversion of a float (the exponent comes from the bits of the rounding constant), so loops over these
 * functions vectorize and stay bit-identical to the scalar code. */
#ifndef MR_KERNELS_MATH_H
#define MR_KERNELS_MATH_H

#include <stdint.h>
#include <string.h>

/* e^z = s * qp / qm for z in [-1000, 1000] (callers clamp; NaN passes through): s = 2^n exactly. */
typedef struct mr_exp_parts {
    double s, qp, qm;
} mr_exp_parts;

static inline mr_exp_parts mr_exp_core(double z)
{
    const double round = 0x1.8p52, inv_ln2 = 0x1.71547652b82fep0;
    const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    double t = z * inv_ln2 + round; /* low mantissa bits of t hold n (+ 2^51) */
    double n = t - round;
    double r = (z - n * ln2_hi) - n * ln2_lo;
    /* Q(r) = 1 + r/2 + 5r^2/44 + r^3/66 + r^4/792 + r^5/15840 + r^6/665280 = E + r O */
    double r2 = r * r;
    double e = ((r2 * (1.0 / 665280.0) + 1.0 / 792.0) * r2 + 5.0 / 44.0) * r2 + 1.0;
    double o = ((r2 * (1.0 / 15840.0) + 1.0 / 66.0) * r2 + 0.5) * r;
    uint64_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    sb = (tb + 1023u) << 52; /* 2^n: (n + 1023) in the exponent field; the 2^51 offset shifts out */
    mr_exp_parts p;
    memcpy(&p.s, &sb, sizeof p.s);
    p.qp = e + o;
    p.qm = e - o;
    return p;
}

/* Clamp keeping NaN (comparisons with NaN are false). */
static inline double mr_clamp_d(double v, double lo, double hi)
{
    double a = v < lo ? lo : v;
    return a > hi ? hi : a;
}

/* e^x rounded to fp32: 0 below -104 (e^-104 rounds to 0), +inf above 89 (overflow of the fp32 result). */
static inline float mr_expf(float x)
{
    const mr_exp_parts p = mr_exp_core(mr_clamp_d((double)x, -104.0, 89.0));
    return (float)(p.s * p.qp / p.qm);
}

/* 1 / (1 + e^-x) = qm / (qm + s qp) rounded to fp32 (clamping -x to [-120, 120] changes nothing after the
 * rounding). */
static inline float mr_sigmoidf(float x)
{
    const mr_exp_parts p = mr_exp_core(mr_clamp_d(-(double)x, -120.0, 120.0));
    return (float)(p.qm / (p.qm + p.s * p.qp));
}

/* x * sigmoid(x) = x qm / (qm + s qp) rounded to fp32; below -120 the result is -0 (|x e^x| < 2^-160), also for
 * x = -inf, the limit (where x * sigmoid(x) would be -inf * 0). A NaN x is returned as it is: in d * qm both
 * operands would be NaNs of opposite signs, and which one a multiply passes on depends on the operand order the
 * compiler chose, which differs between scalar and vector code. */
static inline float mr_siluf(float x)
{
    double d = (double)x;
    const mr_exp_parts p = mr_exp_core(mr_clamp_d(-d, -120.0, 120.0));
    double r = d * p.qm / (p.qm + p.s * p.qp);
    return d != d ? x : d < -120.0 ? -0.0f : (float)r;
}

#endif /* MR_KERNELS_MATH_H */
