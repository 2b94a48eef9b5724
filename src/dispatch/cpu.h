/* What the processor and operating system can run, independent of which kernels this build compiled. */
#ifndef MR_DISPATCH_CPU_H
#define MR_DISPATCH_CPU_H

#include <stddef.h>

#include "moeroute.h"

/* Best moeroute_isa level of this machine: on x86 SCALAR, AVX2 or AVX512; on AArch64 NEON; SCALAR
 * elsewhere. Probed on the first call, then cached; safe to call from any thread. */
moeroute_isa mr_cpu_isa(void);

/* Bytes of the largest (last-level) data cache of CPU 0; 32 MiB when it cannot be found. Read once. */
size_t mr_cpu_llc_bytes(void);

/* Single features beyond the level (x86; 0 elsewhere): FMA (CPUID.1:ECX.12) and AVX512-VNNI
 * (CPUID.(7,0):ECX.11, only meaningful when the level is AVX512). Probed once, thread-safe. */
int mr_cpu_has_fma(void);
int mr_cpu_has_avx512_vnni(void);
/* AMX-INT8 tiles the operating system lets this process use (x86-64 Linux; 0 elsewhere). The first call asks
 * the kernel for the permission (arch_prctl ARCH_REQ_XCOMP_PERM), a process-wide and lasting change: signal
 * frames grow by the 8 KiB of tile state, so alternate signal stacks must have room for it (glibc's
 * sysconf(_SC_SIGSTKSZ) accounts for it). Only asked when an int8 GEMM plan could use AMX (dispatch.c). */
int mr_cpu_has_amx_int8(void);

/* AArch64 (cpu_arm.c; 0 elsewhere): the dot-product instructions SDOT/UDOT (HWCAP_ASIMDDP), only when the level
 * is NEON. Thread-safe. */
int mr_cpu_has_asimd_dotprod(void);
/* AArch64 level from AT_HWCAP (NEON when FP and Advanced SIMD are there, else SCALAR; NEON off Linux, SCALAR on
 * other architectures); mr_cpu_isa calls it once. */
moeroute_isa mr_cpu_arm_level(void);

#endif /* MR_DISPATCH_CPU_H */
