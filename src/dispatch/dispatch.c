/* Kernel tables per ISA level and the choice between them. A table only exists when this build compiled its
 * kernels (MR_HAVE_*_KERNELS, set by src/CMakeLists.txt), and is only handed out when the CPU has its
 * level. Levels form one chain per architecture: SCALAR < AVX2 < AVX512 on x86, SCALAR < NEON on AArch64. */
#include <stdlib.h>
#include <string.h>

#include "dispatch/cpu.h"
#include "dispatch/dispatch.h"

static const mr_kernel_table mr_table_scalar = {
    MOEROUTE_ISA_SCALAR,
    {mr_f16_quant_i8__scalar, mr_bf16_quant_i8__scalar, mr_f32_quant_i8__scalar},
    mr_copy__scalar,
    mr_copy__scalar,
};

#ifdef MR_HAVE_AVX2_KERNELS
static const mr_kernel_table mr_table_avx2 = {
    MOEROUTE_ISA_AVX2,
    {mr_f16_quant_i8__avx2, mr_bf16_quant_i8__avx2, mr_f32_quant_i8__avx2},
    mr_copy__scalar,
    mr_copy_stream__avx2,
};
#endif

#ifdef MR_HAVE_AVX512_KERNELS
static const mr_kernel_table mr_table_avx512 = {
    MOEROUTE_ISA_AVX512,
    {mr_f16_quant_i8__avx512, mr_bf16_quant_i8__avx512, mr_f32_quant_i8__avx512},
    mr_copy__scalar,
    mr_copy_stream__avx512,
};
#endif

#ifdef MR_HAVE_NEON_KERNELS
static const mr_kernel_table mr_table_neon = {
    MOEROUTE_ISA_NEON,
    {mr_f16_quant_i8__neon, mr_bf16_quant_i8__neon, mr_f32_quant_i8__neon},
    mr_copy__scalar,
    mr_copy__scalar,
};
#endif

/* Compiled tables, best first; the scalar one ends every list. */
static const mr_kernel_table *const mr_tables[] = {
#ifdef MR_HAVE_AVX512_KERNELS
    &mr_table_avx512,
#endif
#ifdef MR_HAVE_AVX2_KERNELS
    &mr_table_avx2,
#endif
#ifdef MR_HAVE_NEON_KERNELS
    &mr_table_neon,
#endif
    &mr_table_scalar,
};
#define MR_TABLE_COUNT (sizeof mr_tables / sizeof mr_tables[0])

static int mr_isa_is_x86(moeroute_isa isa) { return isa == MOEROUTE_ISA_AVX2 || isa == MOEROUTE_ISA_AVX512; }

/* Whether `level` lies at or below `cap` on the same chain. Scalar is below everything; a level of another
 * architecture is not (MOEROUTE_ISA=neon on x86 therefore means scalar). */
static int mr_isa_within(moeroute_isa level, moeroute_isa cap)
{
    if (level == MOEROUTE_ISA_SCALAR) return 1;
    if (level == MOEROUTE_ISA_NEON || cap == MOEROUTE_ISA_NEON) return level == cap;
    return mr_isa_is_x86(cap) && level <= cap;
}

/* Best compiled level within `cap` that the CPU can run. */
static moeroute_isa mr_best_within(moeroute_isa cap)
{
    const moeroute_isa cpu = mr_cpu_isa();
    for (size_t i = 0; i < MR_TABLE_COUNT; i++) {
        const moeroute_isa level = (moeroute_isa)mr_tables[i]->isa;
        if (mr_isa_within(level, cpu) && mr_isa_within(level, cap)) return level;
    }
    return MOEROUTE_ISA_SCALAR;
}

/* The machine's level, even where this build lacks its kernels: resolve says what actually runs. */
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

const mr_kernel_table *mr_dispatch_kernels(moeroute_isa resolved)
{
    for (size_t i = 0; i < MR_TABLE_COUNT; i++)
        if (mr_tables[i]->isa == (int)resolved) return mr_tables[i];
    return &mr_table_scalar;
}
