/* The activation kernel family: exp, sigmoid and SiLU over fp32 arrays, all built on the one implementation in
 * kernels/math/mr_math.h (layer decision 11, docs/numerics.md). Every ISA file compiles the same loops
 * (act_loops.h) with its own vector width, so each variant gives the scalar variant's bits. */
#ifndef MR_KERNELS_ACT_H
#define MR_KERNELS_ACT_H

#include <stddef.h>

/* d[i] = expf(v[i] - m) (the difference rounded to fp32 first), i < n. */
typedef void (*mr_act_exp_shift_fn)(const float *v, float m, float *d, size_t n);
/* d[i] = f(v[i]), i < n; d may equal v. */
typedef void (*mr_act_map_fn)(const float *v, float *d, size_t n);

typedef struct mr_act_config {
    int isa;
    mr_act_exp_shift_fn exp_shift;
    mr_act_map_fn sigmoid;
    mr_act_map_fn silu;
} mr_act_config;

#define MR_ACT_DECLARE(isa)                                                                                   \
    void mr_f32_exp_shift__##isa(const float *v, float m, float *d, size_t n);                                \
    void mr_f32_sigmoid__##isa(const float *v, float *d, size_t n);                                           \
    void mr_f32_silu__##isa(const float *v, float *d, size_t n);
MR_ACT_DECLARE(scalar)
MR_ACT_DECLARE(avx2)
MR_ACT_DECLARE(avx512)
MR_ACT_DECLARE(neon)
#undef MR_ACT_DECLARE

#endif /* MR_KERNELS_ACT_H */
