/* Run-time kernel selection, one config per kernel family (docs/framework.md "Dispatch"). CPU features are
 * detected once per process; a plan resolves its ISA level once and asks each family for the best config at
 * or below that level. Operators never name an ISA. */
#ifndef MR_DISPATCH_H
#define MR_DISPATCH_H

#include "kernels/accumulate/accumulate.h"
#include "kernels/act/act.h"
#include "kernels/select/select.h"
#include "kernels/gemm/gemm.h"
#include "kernels/kernels.h"
#include "kernels/mlp/mlp.h"
#include "kernels/sort/expert_sort.h"
#include "moeroute.h"

/* Best level the CPU and OS support (ignores MOEROUTE_ISA). Thread-safe, detects once. */
moeroute_isa mr_dispatch_detected_isa(void);

/* The level used for `requested`: MOEROUTE_ISA_AUTO means the detected level capped by the MOEROUTE_ISA
 * environment variable; any other level is lowered to what the machine has and this build compiled. Returns
 * MOEROUTE_ISA_SCALAR at worst. Values outside moeroute_isa are the caller's job to refuse. */
moeroute_isa mr_dispatch_resolve_isa(moeroute_isa requested);

typedef struct mr_sort_config {
    int isa;
    mr_minmax_fn minmax;
    mr_histogram_fn histogram;
    mr_rank_fn rank;
    mr_radix_fn radix;
} mr_sort_config;

/* The config of each family for a resolved level (result of mr_dispatch_resolve_isa): the best variant at or
 * below it. Never NULL; unknown levels get the scalar config. */
const mr_quant_config *mr_dispatch_quant(moeroute_isa resolved);
const mr_copy_config *mr_dispatch_copy(moeroute_isa resolved);
const mr_dquant_config *mr_dispatch_dquant(moeroute_isa resolved);
const mr_sort_config *mr_dispatch_sort(moeroute_isa resolved);
const mr_act_config *mr_dispatch_act(moeroute_isa resolved);
const mr_select_config *mr_dispatch_select(moeroute_isa resolved);
const mr_mlp_config *mr_dispatch_mlp(moeroute_isa resolved);
const mr_acc_config *mr_dispatch_acc(moeroute_isa resolved);

/* GEMM family (kernels/gemm/gemm.h): besides the level, the AVX2 entry needs FMA, the int8 VNNI entry
 * AVX512-VNNI, the AMX entry AMX-INT8 granted by the OS (and MOEROUTE_AMX not 0) and the AArch64 sdot entry the
 * dot product (mr_cpu_has_fma / mr_cpu_has_avx512_vnni / mr_cpu_has_amx_int8 / mr_cpu_has_asimd_dotprod).
 * int8 = 0 (a float plan): the AMX entry, which differs from the next one only in its int8 kernel, is passed
 * over, so a float-only process never asks the OS for the tiles. */
const mr_gemm_config *mr_dispatch_gemm(moeroute_isa resolved, int int8);
/* Every GEMM config this build compiled and this CPU runs, best first (for kernel tests and benchmarks). */
size_t mr_dispatch_gemm_usable(const mr_gemm_config **out, size_t max);

#endif /* MR_DISPATCH_H */
