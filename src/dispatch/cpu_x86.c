/* CPU feature detection. x86 needs cpuid for the instruction sets and xgetbv for the operating system's
 * promise to save the wider registers on a context switch: a CPU with AVX-512 under an OS that does not
 * enable ZMM state faults on the first AVX-512 instruction. */
#if defined(__linux__)
#define _DEFAULT_SOURCE /* syscall() */
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <stdatomic.h>
#include <stdint.h>

#include "dispatch/cpu.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

/* CPUID.(EAX=1):ECX */
#define MR_CPUID1_ECX_OSXSAVE (1u << 27)
#define MR_CPUID1_ECX_AVX (1u << 28)
#define MR_CPUID1_ECX_F16C (1u << 29)
/* CPUID.(EAX=7,ECX=0):EBX */
#define MR_CPUID7_EBX_AVX2 (1u << 5)
#define MR_CPUID7_EBX_AVX512F (1u << 16)
#define MR_CPUID7_EBX_AVX512BW (1u << 30)
#define MR_CPUID7_EBX_AVX512VL (1u << 31)
/* XCR0: SSE (bit 1) and AVX (bit 2) state for YMM; opmask, ZMM_Hi256 and Hi16_ZMM (bits 5-7) for AVX-512. */
#define MR_XCR0_YMM 0x06u
#define MR_XCR0_ZMM 0xE6u

static uint64_t mr_xgetbv0(void)
{
    /* Inline asm rather than _xgetbv(): the intrinsic needs -mxsave, and this file is built without ISA
     * flags so that it runs on every x86 CPU. */
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0u));
    return ((uint64_t)hi << 32) | lo;
}

static moeroute_isa mr_cpu_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return MOEROUTE_ISA_SCALAR;
    const unsigned need1 = MR_CPUID1_ECX_OSXSAVE | MR_CPUID1_ECX_AVX | MR_CPUID1_ECX_F16C;
    /* xgetbv itself faults unless OSXSAVE is set, so test that before executing it. */
    if ((c & need1) != need1) return MOEROUTE_ISA_SCALAR;
    const uint64_t xcr0 = mr_xgetbv0();
    if ((xcr0 & MR_XCR0_YMM) != MR_XCR0_YMM) return MOEROUTE_ISA_SCALAR;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return MOEROUTE_ISA_SCALAR;
    if (!(b & MR_CPUID7_EBX_AVX2)) return MOEROUTE_ISA_SCALAR;
    /* The AVX-512 files are compiled with flags that imply AVX2, so that level also requires AVX2. */
    const unsigned need7 = MR_CPUID7_EBX_AVX512F | MR_CPUID7_EBX_AVX512BW | MR_CPUID7_EBX_AVX512VL;
    if ((b & need7) == need7 && (xcr0 & MR_XCR0_ZMM) == MR_XCR0_ZMM) return MOEROUTE_ISA_AVX512;
    return MOEROUTE_ISA_AVX2;
}

#elif defined(__aarch64__) || defined(_M_ARM64)

/* AArch64: Advanced SIMD as the kernel reports it (cpu_arm.c). */
static moeroute_isa mr_cpu_probe(void) { return mr_cpu_arm_level(); }

#else

static moeroute_isa mr_cpu_probe(void) { return MOEROUTE_ISA_SCALAR; }

#endif

moeroute_isa mr_cpu_isa(void)
{
    /* 0 (MOEROUTE_ISA_AUTO, never a probe result) means "not probed yet". Threads racing on the first call
     * all compute the same value, so a relaxed atomic is enough and no lock is needed. */
    static atomic_int cached;
    int isa = atomic_load_explicit(&cached, memory_order_relaxed);
    if (isa == MOEROUTE_ISA_AUTO) {
        isa = (int)mr_cpu_probe();
        atomic_store_explicit(&cached, isa, memory_order_relaxed);
    }
    return (moeroute_isa)isa;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define MR_CPUID1_ECX_FMA (1u << 12)
#define MR_CPUID7_ECX_AVX512VNNI (1u << 11)

/* Bit 0: FMA, bit 1: AVX512-VNNI; computed once (racing threads store the same value). */
static int mr_cpu_features(void)
{
    static atomic_int cached = -1;
    int f = atomic_load_explicit(&cached, memory_order_relaxed);
    if (f < 0) {
        unsigned a, b, c, d;
        f = 0;
        if (mr_cpu_isa() != MOEROUTE_ISA_SCALAR && __get_cpuid_count(1, 0, &a, &b, &c, &d) && (c & MR_CPUID1_ECX_FMA))
            f |= 1;
        if (mr_cpu_isa() == MOEROUTE_ISA_AVX512 && __get_cpuid_count(7, 0, &a, &b, &c, &d) &&
            (c & MR_CPUID7_ECX_AVX512VNNI))
            f |= 2;
        atomic_store_explicit(&cached, f, memory_order_relaxed);
    }
    return f;
}
int mr_cpu_has_fma(void) { return mr_cpu_features() & 1; }
int mr_cpu_has_avx512_vnni(void) { return (mr_cpu_features() >> 1) & 1; }

/* AMX: CPUID.(7,0):EDX bits 24 (AMX-TILE) and 25 (AMX-INT8), XCR0 bits 17-18 (XTILECFG, XTILEDATA), and on
 * Linux (5.16 on) the process's permission for the tile data, asked for with arch_prctl(ARCH_REQ_XCOMP_PERM):
 * without it the first tile instruction faults. */
#define MR_CPUID7_EDX_AMX (3u << 24)
#define MR_XCR0_AMX 0x60000u
#define MR_ARCH_GET_XCOMP_PERM 0x1022
#define MR_ARCH_REQ_XCOMP_PERM 0x1023
#define MR_XFEATURE_XTILEDATA 18

static int mr_cpu_probe_amx(void)
{
#if defined(__linux__) && defined(__x86_64__) && defined(SYS_arch_prctl)
    unsigned a, b, c, d;
    if (mr_cpu_isa() != MOEROUTE_ISA_AVX512 || !__get_cpuid_count(7, 0, &a, &b, &c, &d) ||
        (d & MR_CPUID7_EDX_AMX) != MR_CPUID7_EDX_AMX || (mr_xgetbv0() & MR_XCR0_AMX) != MR_XCR0_AMX)
        return 0;
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, MR_ARCH_GET_XCOMP_PERM, &perm) == 0 && (perm >> MR_XFEATURE_XTILEDATA & 1u))
        return 1;
    return syscall(SYS_arch_prctl, MR_ARCH_REQ_XCOMP_PERM, MR_XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

int mr_cpu_has_amx_int8(void)
{
    static atomic_int cached = -1; /* racing threads ask twice at worst; the kernel grants idempotently */
    int f = atomic_load_explicit(&cached, memory_order_relaxed);
    if (f < 0) {
        f = mr_cpu_probe_amx();
        atomic_store_explicit(&cached, f, memory_order_relaxed);
    }
    return f;
}
#else
int mr_cpu_has_fma(void) { return 0; }
int mr_cpu_has_avx512_vnni(void) { return 0; }
int mr_cpu_has_amx_int8(void) { return 0; }
#endif
