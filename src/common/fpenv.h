/* The floating-point environment every computation of the library runs in (docs/numerics.md "The
 * floating-point environment"): round to nearest even, subnormals kept (no flush-to-zero, no
 * denormals-are-zero), NaN operands propagated, every exception masked -- x86 MXCSR 0x1F80, AArch64 FPCR 0.
 * The results the docs promise (the same bytes on every ISA path and thread count) hold in it only: a caller
 * built with -ffast-math (whose startup code sets FTZ and DAZ), one that called torch.set_flush_denormal(True),
 * fesetround() or feenableexcept() would otherwise change them, or stop the call with SIGFPE.
 *
 * The entry points switch the calling thread into it for the call and back after it: operator runs through
 * operators/op_run.h's mr_op_run_default_fp (the aclnn executors, the native API, the distribute entry points),
 * the native routing run and weight packing (native/moeroute_native.c) and the HCCL reductions (hccl/hccl_coll.c). The pool's workers enter it when they start and stay in it. Entering costs one
 * read of the control register when the environment is already the default (the usual case). */
#ifndef MR_COMMON_FPENV_H
#define MR_COMMON_FPENV_H

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

typedef struct mr_fpenv {
    uint64_t saved; /* the caller's control register */
    int changed;    /* 1 when it differed from the default and was switched */
} mr_fpenv;

#if defined(__x86_64__) || defined(__i386__)
#define MR_FPENV_DEFAULT 0x1F80u /* all six exceptions masked, round to nearest, no FTZ (bit 15), no DAZ (bit 6) */
#define MR_FPENV_FLAGS 0x3Fu     /* the sticky exception flags: not part of the environment compared */
static inline mr_fpenv mr_fpenv_enter(void)
{
    const unsigned csr = _mm_getcsr();
    mr_fpenv e = {csr, (csr & ~MR_FPENV_FLAGS) != MR_FPENV_DEFAULT};
    if (e.changed) _mm_setcsr(MR_FPENV_DEFAULT | (csr & MR_FPENV_FLAGS));
    return e;
}
static inline void mr_fpenv_leave(mr_fpenv e)
{
    if (e.changed) _mm_setcsr((unsigned)e.saved); /* the caller's register as it was, flags included */
}
#elif defined(__aarch64__)
static inline mr_fpenv mr_fpenv_enter(void)
{
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    mr_fpenv e = {fpcr, fpcr != 0}; /* 0: round to nearest, no FZ / FZ16, no default NaN, IEEE half, no traps */
    if (e.changed) __asm__ __volatile__("msr fpcr, %0" : : "r"((uint64_t)0));
    return e;
}
static inline void mr_fpenv_leave(mr_fpenv e)
{
    if (e.changed) __asm__ __volatile__("msr fpcr, %0" : : "r"(e.saved));
}
#else /* other targets: the environment is left as the caller set it */
static inline mr_fpenv mr_fpenv_enter(void)
{
    mr_fpenv e = {0, 0};
    return e;
}
static inline void mr_fpenv_leave(mr_fpenv e) { (void)e; }
#endif

#endif /* MR_COMMON_FPENV_H */
