/* Kernel configs per family and the choice between them. A config only exists when this build compiled its
 * kernels (MR_HAVE_*_KERNELS, set by src/CMakeLists.txt), and is only handed out when the CPU has its level.
 * Levels form one chain per architecture: SCALAR < AVX2 < AVX512 on x86, SCALAR < NEON on AArch64. */
#include <stdlib.h>
#include <string.h>

#include "dispatch/cpu.h"
#include "dispatch/dispatch.h"

/* The arguments of one ISA level where this build compiled it (MR_HAVE_*_KERNELS), nothing otherwise. */
#ifdef MR_HAVE_AVX2_KERNELS
#define MR_AVX2(...) __VA_ARGS__
#else
#define MR_AVX2(...)
#endif
#ifdef MR_HAVE_AVX512_KERNELS
#define MR_AVX512(...) __VA_ARGS__
#else
#define MR_AVX512(...)
#endif
#ifdef MR_HAVE_NEON_KERNELS
#define MR_NEON(...) __VA_ARGS__
#else
#define MR_NEON(...)
#endif

/* A family with a config on every level, built by CFG(level, isa suffix): fam_scalar, fam_avx2, ... and
 * fam_configs, best first, ending in scalar. */
#define MR_FAMILY(T, fam, CFG)                                                                                \
    static const T fam##_scalar = CFG(MOEROUTE_ISA_SCALAR, scalar);                                           \
    MR_AVX2(static const T fam##_avx2 = CFG(MOEROUTE_ISA_AVX2, avx2);)                                        \
    MR_AVX512(static const T fam##_avx512 = CFG(MOEROUTE_ISA_AVX512, avx512);)                                \
    MR_NEON(static const T fam##_neon = CFG(MOEROUTE_ISA_NEON, neon);)                                        \
    static const T *const fam##_configs[] = {MR_AVX512(&fam##_avx512, ) MR_AVX2(&fam##_avx2, )                \
                                                 MR_NEON(&fam##_neon, ) &fam##_scalar}

/* ---- quant family (static int8, spec 1.4) ---------------------------------------------------------------- */
#define MR_QUANT_CONFIG(level, isa) {level, {mr_f16_quant_i8__##isa, mr_bf16_quant_i8__##isa, mr_f32_quant_i8__##isa}}
MR_FAMILY(mr_quant_config, mr_quant, MR_QUANT_CONFIG);

/* ---- copy family: the plain copy is glibc's memcpy on every level (measured faster than our loops on cached
 * rows); only the streaming copy has SIMD variants. ------------------------------------------------------------ */
static const mr_copy_config mr_copy_scalar = {MOEROUTE_ISA_SCALAR, mr_copy__scalar, mr_copy__scalar};
#ifdef MR_HAVE_AVX2_KERNELS
static const mr_copy_config mr_copy_avx2 = {MOEROUTE_ISA_AVX2, mr_copy__scalar, mr_copy_stream__avx2};
#endif
#ifdef MR_HAVE_AVX512_KERNELS
static const mr_copy_config mr_copy_avx512 = {MOEROUTE_ISA_AVX512, mr_copy__scalar, mr_copy_stream__avx512};
#endif
static const mr_copy_config *const mr_copy_configs[] = {
#ifdef MR_HAVE_AVX512_KERNELS
    &mr_copy_avx512,
#endif
#ifdef MR_HAVE_AVX2_KERNELS
    &mr_copy_avx2,
#endif
    &mr_copy_scalar,
};

/* ---- activation family (exp, sigmoid, SiLU; kernels/act/act.h): the same loops at each vector width ---------- */
#define MR_ACT_CONFIG(level, isa) {level, mr_f32_exp_shift__##isa, mr_f32_sigmoid__##isa, mr_f32_silu__##isa}
MR_FAMILY(mr_act_config, mr_act, MR_ACT_CONFIG);

/* ---- accumulate family (kernels/accumulate/accumulate.h): the same loops at each vector width --------------- */
#define MR_ACC_CONFIG(level, isa)                                                                             \
    {level, mr_acc_init__##isa, mr_acc_term__##isa, mr_acc_bf16_rha__##isa,                                   \
     {mr_f16_acc_term_x__##isa, mr_bf16_acc_term_x__##isa, mr_f32_acc_term_x__##isa}}
MR_FAMILY(mr_acc_config, mr_acc, MR_ACC_CONFIG);

/* ---- element-wise MLP family (kernels/mlp/mlp.h): the same loops at each vector width ------------------------ */
#define MR_MLP_CONFIG(level, isa)                                                                             \
    {level, mr_f32_mul__##isa, mr_f32_add__##isa, mr_f32_affine__##isa, mr_f32_swiglu__##isa,                 \
     mr_f32_quant_mul_i8__##isa, mr_f32_quant_div_i8__##isa, mr_i32_widen_f32__##isa, mr_f32_canon_nan__##isa, \
     {mr_f16_widen_f32__##isa, mr_bf16_widen_f32__##isa, mr_f32_widen_f32__##isa},                            \
     {mr_f32_narrow_f16__##isa, mr_f32_narrow_bf16__##isa, mr_f32_narrow_f32__##isa},                         \
     {mr_f16_quant_x_i8__##isa, mr_bf16_quant_x_i8__##isa, mr_f32_quant_x_i8__##isa},                         \
     {mr_f16_swiglu_x__##isa, mr_bf16_swiglu_x__##isa, mr_f32_swiglu_x__##isa},                               \
     {mr_f16_acc_x__##isa, mr_bf16_acc_x__##isa, mr_f32_acc_x__##isa}}
MR_FAMILY(mr_mlp_config, mr_mlp, MR_MLP_CONFIG);

/* ---- selection family (top-k keys, kernels/select/select.h): integer passes, exact on every level ---------- */
#define MR_SELECT_CONFIG(level, isa)                                                                          \
    {level, mr_f32_sel_keys__##isa, mr_f32_sel_max__##isa, mr_u32_sel_bound__##isa, mr_u32_sel_scan__##isa,   \
     mr_u32_sel_top2__##isa}
MR_FAMILY(mr_select_config, mr_select, MR_SELECT_CONFIG);

/* ---- dynamic quant family: the round-to-odd recipe (one decode shape, spec 5.4) stays scalar on every level -- */
#define MR_DQUANT_CONFIG(level, isa)                                                                          \
    {level,                                                                                                   \
     {mr_f16_absmax__##isa, mr_bf16_absmax__##isa, mr_f32_absmax__##isa},                                     \
     {mr_f16_dquant_i8__##isa, mr_bf16_dquant_i8__##isa, mr_f32_dquant_i8__##isa},                            \
     {mr_f16_dquant_odd_i8__scalar, mr_bf16_dquant_odd_i8__scalar, mr_f32_dquant_odd_i8__scalar}}
MR_FAMILY(mr_dquant_config, mr_dquant, MR_DQUANT_CONFIG);

/* ---- sort family -------------------------------------------------------------------------------------------- */
static const mr_sort_config mr_sort_scalar = {MOEROUTE_ISA_SCALAR, mr_i32_minmax__scalar, mr_i32_histogram__scalar,
                                              mr_i32_rank_perm__scalar, mr_i32_radix_argsort__scalar};
static const mr_sort_config *const mr_sort_configs[] = {&mr_sort_scalar};

/* ---- choice ------------------------------------------------------------------------------------------------- */
static int mr_isa_is_x86(moeroute_isa isa) { return isa == MOEROUTE_ISA_AVX2 || isa == MOEROUTE_ISA_AVX512; }

/* Whether `level` lies at or below `cap` on the same chain. Scalar is below everything; a level of another
 * architecture is not (MOEROUTE_ISA=neon on x86 therefore means scalar). */
static int mr_isa_within(moeroute_isa level, moeroute_isa cap)
{
    if (level == MOEROUTE_ISA_SCALAR) return 1;
    if (level == MOEROUTE_ISA_NEON || cap == MOEROUTE_ISA_NEON) return level == cap;
    return mr_isa_is_x86(cap) && level <= cap;
}

/* Levels this build compiled kernels for, best first (the quant family has a variant on every level). */
static moeroute_isa mr_best_within(moeroute_isa cap)
{
    const moeroute_isa cpu = mr_cpu_isa();
    for (size_t i = 0; i < sizeof mr_quant_configs / sizeof mr_quant_configs[0]; i++) {
        const moeroute_isa level = (moeroute_isa)mr_quant_configs[i]->isa;
        if (mr_isa_within(level, cpu) && mr_isa_within(level, cap)) return level;
    }
    return MOEROUTE_ISA_SCALAR;
}

moeroute_isa mr_dispatch_detected_isa(void) { return mr_cpu_isa(); }

/* MOEROUTE_ISA as a level; AUTO when unset or not one of the names (an unknown value must not disable the
 * SIMD kernels of a whole process). */
static moeroute_isa mr_env_isa_cap(void)
{
    const char *v = getenv("MOEROUTE_ISA");
    if (!v || !*v) return MOEROUTE_ISA_AUTO;
    if (!strcmp(v, "scalar")) return MOEROUTE_ISA_SCALAR;
    if (!strcmp(v, "avx2")) return MOEROUTE_ISA_AVX2;
    if (!strcmp(v, "avx512")) return MOEROUTE_ISA_AVX512;
    if (!strcmp(v, "neon")) return MOEROUTE_ISA_NEON;
    return MOEROUTE_ISA_AUTO;
}

moeroute_isa mr_dispatch_resolve_isa(moeroute_isa requested)
{
    const moeroute_isa cap = requested == MOEROUTE_ISA_AUTO ? mr_env_isa_cap() : requested;
    return mr_best_within(cap == MOEROUTE_ISA_AUTO ? mr_cpu_isa() : cap);
}

/* First config (best first) whose level lies within `resolved`; every list ends in scalar. */
#define MR_PICK(list, resolved)                                                                               \
    do {                                                                                                      \
        const size_t count_ = sizeof list / sizeof list[0];                                                   \
        for (size_t i_ = 0; i_ + 1 < count_; i_++)                                                            \
            if (mr_isa_within((moeroute_isa)list[i_]->isa, resolved) &&                                       \
                mr_isa_within((moeroute_isa)list[i_]->isa, mr_cpu_isa()))                                     \
                return list[i_];                                                                              \
        return list[count_ - 1];                                                                              \
    } while (0)

const mr_quant_config *mr_dispatch_quant(moeroute_isa resolved) { MR_PICK(mr_quant_configs, resolved); }
const mr_copy_config *mr_dispatch_copy(moeroute_isa resolved) { MR_PICK(mr_copy_configs, resolved); }
const mr_dquant_config *mr_dispatch_dquant(moeroute_isa resolved) { MR_PICK(mr_dquant_configs, resolved); }
const mr_sort_config *mr_dispatch_sort(moeroute_isa resolved) { MR_PICK(mr_sort_configs, resolved); }
const mr_act_config *mr_dispatch_act(moeroute_isa resolved) { MR_PICK(mr_act_configs, resolved); }
const mr_select_config *mr_dispatch_select(moeroute_isa resolved) { MR_PICK(mr_select_configs, resolved); }
const mr_mlp_config *mr_dispatch_mlp(moeroute_isa resolved) { MR_PICK(mr_mlp_configs, resolved); }
const mr_acc_config *mr_dispatch_acc(moeroute_isa resolved) { MR_PICK(mr_acc_configs, resolved); }

/* ---- GEMM family (kernels/gemm/gemm.h) ------------------------------------------------------------------------ */
static const mr_gemm_config mr_gemm_scalar = {MOEROUTE_ISA_SCALAR, "scalar", 4, 16, mr_gemm_f32_4x16__scalar,
                                              4, 16, 1, MR_GEMM_I8, MR_GEMM_I8, mr_gemm_i8_4x16__scalar, 0, NULL, NULL, 0,
                                              0, 0, NULL, NULL, NULL};
#ifdef MR_HAVE_AVX2_GEMM_KERNELS
static const mr_gemm_config mr_gemm_avx2 = {MOEROUTE_ISA_AVX2, "avx2", 6, 16, mr_gemm_f32_6x16__avx2,
                                            6, 16, 2, MR_GEMM_I16, MR_GEMM_I16, mr_gemm_i16_6x16__avx2, 0, NULL, NULL, 0,
                                            0, 0, NULL, NULL, NULL};
#endif
#ifdef MR_HAVE_AVX512_KERNELS
static const mr_gemm_config mr_gemm_avx512 = {MOEROUTE_ISA_AVX512, "avx512", 6, 32, mr_gemm_f32_6x32__avx512,
                                              6, 32, 2, MR_GEMM_I16, MR_GEMM_I16, mr_gemm_i16_6x32__avx512, 0, NULL, NULL, 0,
                                              12, 32, mr_gemm_bf16x2_12x32__avx512, mr_gemm_f16_12x32__avx512,
                                              mr_gemm_bf16_pairs__avx512};
#endif
#ifdef MR_HAVE_AVX512VNNI_KERNELS
static const mr_gemm_config mr_gemm_avx512vnni = {MOEROUTE_ISA_AVX512, "avx512-vnni", 6, 32,
                                                  mr_gemm_f32_6x32__avx512, 6, 32, 4, MR_GEMM_U8, MR_GEMM_I8,
                                                  mr_gemm_u8i8_6x32__avx512vnni, 0, NULL, NULL, 0,
                                                  12, 32, mr_gemm_bf16x2_12x32__avx512, mr_gemm_f16_12x32__avx512,
                                                  mr_gemm_bf16_pairs__avx512};
#endif
#ifdef MR_HAVE_AMX_KERNELS
/* AMX tiles for int8 (exact, so the bytes of every other config); floats stay on the AVX-512 kernel */
static const mr_gemm_config mr_gemm_avx512amx = {MOEROUTE_ISA_AVX512, "avx512-amx", 6, 32, mr_gemm_f32_6x32__avx512,
                                                 32, 32, 4, MR_GEMM_I8, MR_GEMM_I8, mr_gemm_i8_32x32__amx,
                                                 64, mr_gemm_amx_enter, mr_gemm_amx_leave, 4096,
                                                 12, 32, mr_gemm_bf16x2_12x32__avx512, mr_gemm_f16_12x32__avx512,
                                                 mr_gemm_bf16_pairs__avx512};
#endif
#ifdef MR_HAVE_NEON_DOTPROD_KERNELS
static const mr_gemm_config mr_gemm_neon_dot = {MOEROUTE_ISA_NEON, "neon-dotprod", 6, 16, mr_gemm_f32_6x16__neon,
                                                6, 16, 4, MR_GEMM_I8, MR_GEMM_I8, mr_gemm_i8x4_6x16__neon_dot, 0, NULL, NULL, 0,
                                                0, 0, NULL, NULL, NULL};
#endif
#ifdef MR_HAVE_NEON_KERNELS
static const mr_gemm_config mr_gemm_neon = {MOEROUTE_ISA_NEON, "neon", 6, 16, mr_gemm_f32_6x16__neon,
                                            6, 16, 2, MR_GEMM_I8, MR_GEMM_I8, mr_gemm_i8x2_6x16__neon, 0, NULL, NULL, 0,
                                            0, 0, NULL, NULL, NULL};
#endif
static const mr_gemm_config *const mr_gemm_configs[] = {
#ifdef MR_HAVE_AMX_KERNELS
    &mr_gemm_avx512amx,
#endif
#ifdef MR_HAVE_AVX512VNNI_KERNELS
    &mr_gemm_avx512vnni,
#endif
#ifdef MR_HAVE_AVX512_KERNELS
    &mr_gemm_avx512,
#endif
#ifdef MR_HAVE_AVX2_GEMM_KERNELS
    &mr_gemm_avx2,
#endif
#ifdef MR_HAVE_NEON_DOTPROD_KERNELS
    &mr_gemm_neon_dot,
#endif
#ifdef MR_HAVE_NEON_KERNELS
    &mr_gemm_neon,
#endif
    &mr_gemm_scalar,
};

#ifdef MR_HAVE_AMX_KERNELS
/* MOEROUTE_AMX=0: never use the AMX tiles (nor ask the OS for them); read at every plan, so a process can
 * switch (the tests compare both). */
static int mr_env_amx_allowed(void)
{
    const char *v = getenv("MOEROUTE_AMX");
    return !v || strcmp(v, "0") != 0;
}
#endif

/* Whether this CPU runs a GEMM config: its level, plus FMA for every x86 SIMD entry, VNNI where used, AMX-INT8
 * (allowed and granted) for the AMX entry and the AArch64 dot product for the sdot entry. */
static int mr_gemm_runs(const mr_gemm_config *c)
{
    if (c->isa == MOEROUTE_ISA_SCALAR) return 1;
    if (!mr_isa_within((moeroute_isa)c->isa, mr_cpu_isa())) return 0;
#ifdef MR_HAVE_AMX_KERNELS
    if (c == &mr_gemm_avx512amx) return mr_cpu_has_fma() && mr_env_amx_allowed() && mr_cpu_has_amx_int8();
#endif
#ifdef MR_HAVE_NEON_DOTPROD_KERNELS
    if (c == &mr_gemm_neon_dot) return mr_cpu_has_asimd_dotprod();
#endif
    if (mr_isa_is_x86((moeroute_isa)c->isa) && !mr_cpu_has_fma()) return 0;
    return c->i8_a_fmt != MR_GEMM_U8 || mr_cpu_has_avx512_vnni();
}

const mr_gemm_config *mr_dispatch_gemm(moeroute_isa resolved, int int8)
{
    for (size_t i = 0; i < sizeof mr_gemm_configs / sizeof mr_gemm_configs[0]; i++) {
#ifdef MR_HAVE_AMX_KERNELS
        if (!int8 && mr_gemm_configs[i] == &mr_gemm_avx512amx) continue; /* its float kernel is avx512's */
#else
        (void)int8;
#endif
        if (mr_isa_within((moeroute_isa)mr_gemm_configs[i]->isa, resolved) && mr_gemm_runs(mr_gemm_configs[i]))
            return mr_gemm_configs[i];
    }
    return &mr_gemm_scalar;
}

size_t mr_dispatch_gemm_usable(const mr_gemm_config **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof mr_gemm_configs / sizeof mr_gemm_configs[0]; i++)
        if (mr_gemm_runs(mr_gemm_configs[i]) && n < max) out[n++] = mr_gemm_configs[i];
    return n;
}
