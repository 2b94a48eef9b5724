/* The loops of the activation family, compiled once per ISA file with MR_ACT_ISA set to its suffix. The
 * files get -ftree-vectorize -fno-trapping-math (src/CMakeLists.txt): the first lets the compiler vectorize,
 * the second lets it if-convert the NaN-keeping clamps; neither changes a result (IEEE operations element by
 * element, -ffp-contract=off everywhere). */
#include "kernels/act/act.h"
#include "kernels/math/mr_math.h"

#define MR_ACT_CAT2(a, b) a##__##b
#define MR_ACT_CAT(a, b) MR_ACT_CAT2(a, b)

void MR_ACT_CAT(mr_f32_exp_shift, MR_ACT_ISA)(const float *restrict v, float m, float *restrict d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = mr_expf(v[i] - m);
}

void MR_ACT_CAT(mr_f32_sigmoid, MR_ACT_ISA)(const float *v, float *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = mr_sigmoidf(v[i]);
}

void MR_ACT_CAT(mr_f32_silu, MR_ACT_ISA)(const float *v, float *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = mr_siluf(v[i]);
}
