/* The non-temporal streaming copy of the benchmark's copy reference (bench_stream*.c). The library's own
 * streaming kernels are hidden symbols of libmoeroute, so the benchmark carries its own: SSE2 (every x86-64
 * CPU), AVX2 and AVX-512 (each in its own file, the only bench files built with ISA flags), chosen by cpuid
 * at run time. */
#ifndef MOEROUTE_BENCH_STREAM_H
#define MOEROUTE_BENCH_STREAM_H

#include <stddef.h>

/* Copies `bytes` from src to dst with non-temporal (cache-bypassing) stores for the 64-byte-aligned body of
 * dst and ends with a store fence, so the data is globally visible when it returns. src may be unaligned.
 * The body goes in blocks of four 4 KiB slabs copied in step (256 bytes of each in turn), as glibc's own
 * large-copy loop does: the hardware prefetchers stop at 4 KiB page boundaries, so four slabs keep four
 * read streams going. On the 2-vCPU VM of docs/performance.md this took the copy from 37 to 48 GB/s
 * (read + write; glibc memcpy there: 27). */
#define BENCH_STREAM_SLAB 4096u
#define BENCH_STREAM_BLOCK (4u * BENCH_STREAM_SLAB)
typedef void (*bench_stream_fn)(void *dst, const void *src, size_t bytes);

/* Which kernel: "auto" (the widest the CPU and OS support), "avx512", "avx2", "sse2", or "off".
 * Returns the kernel and its name through *name, or NULL (name "none") when the request cannot be met
 * (not x86, the CPU lacks it, the compiler could not build it, or "off"). */
bench_stream_fn bench_stream_select(const char *request, const char **name);

/* Checks a kernel on awkward sizes and alignments (nothing missed, nothing written outside): a wrong copy
 * would make a fast, false copy limit. Returns 0 when right. */
int bench_stream_selftest(bench_stream_fn fn);

#if defined(__x86_64__) || defined(__i386__)
void bench_stream_copy_sse2(void *dst, const void *src, size_t bytes);
#endif
#ifdef BENCH_HAVE_AVX2
void bench_stream_copy_avx2(void *dst, const void *src, size_t bytes);
#endif
#ifdef BENCH_HAVE_AVX512
void bench_stream_copy_avx512(void *dst, const void *src, size_t bytes);
#endif

#endif /* MOEROUTE_BENCH_STREAM_H */
