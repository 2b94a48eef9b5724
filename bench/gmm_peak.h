/* Same-run compute peaks for the grouped-matmul benchmark (gmm_bench.c): tight loops of the instruction the
 * GEMM kernels are built on, twelve independent accumulators, `rounds` rounds of twelve instructions on the
 * calling thread. Each returns the operations done (a multiply-add counts 2); the caller times them and calls
 * only those this CPU has. */
#ifndef MOEROUTE_BENCH_GMM_PEAK_H
#define MOEROUTE_BENCH_GMM_PEAK_H

double gmm_peak_fma_avx512(long rounds);   /* vfmadd231ps zmm                         */
double gmm_peak_vnni_avx512(long rounds);  /* vpdpbusd zmm (AVX512-VNNI)              */
double gmm_peak_fma_avx2(long rounds);     /* vfmadd231ps ymm                         */
double gmm_peak_madd_avx2(long rounds);    /* vpmaddwd + vpaddd ymm (int8 as int16)   */
double gmm_peak_amx(long rounds);          /* tdpbssd, 2 x 2 tiles (AMX-INT8)         */
int gmm_amx_usable(void);                  /* AMX-INT8 there, and the OS lets us use it */

#endif
