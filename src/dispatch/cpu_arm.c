/* AArch64 CPU feature detection: the Linux kernel reports what user space may run in the auxiliary vector's
 * AT_HWCAP word (getauxval, glibc and musl), so no instruction has to be tried. Other targets reduce to
 * constants: Advanced SIMD is part of the AArch64 base architecture, so it is assumed where no HWCAP exists. */
#include "dispatch/cpu.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

/* AT_HWCAP bits of arch/arm64 (uapi asm/hwcap.h), spelled here for C libraries whose headers lack them. */
#ifndef HWCAP_FP
#define HWCAP_FP (1ul << 0)
#endif
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1ul << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif

moeroute_isa mr_cpu_arm_level(void)
{
    /* the NEON kernels convert fp16 with the FP unit's fcvt as well as Advanced SIMD */
    const unsigned long need = HWCAP_FP | HWCAP_ASIMD;
    return (getauxval(AT_HWCAP) & need) == need ? MOEROUTE_ISA_NEON : MOEROUTE_ISA_SCALAR;
}

int mr_cpu_has_asimd_dotprod(void)
{
    /* getauxval reads a copy the process keeps from its start: cheap, thread-safe, no caching needed */
    return mr_cpu_isa() == MOEROUTE_ISA_NEON && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
}

#elif defined(__aarch64__) || defined(_M_ARM64)

moeroute_isa mr_cpu_arm_level(void) { return MOEROUTE_ISA_NEON; }
int mr_cpu_has_asimd_dotprod(void) { return 0; }

#else

moeroute_isa mr_cpu_arm_level(void) { return MOEROUTE_ISA_SCALAR; }
int mr_cpu_has_asimd_dotprod(void) { return 0; }

#endif
