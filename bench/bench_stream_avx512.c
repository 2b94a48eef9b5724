/* Streaming copy, AVX-512: 64-byte non-temporal stores, one whole cache line each, four 4 KiB slabs at a
 * time (bench_stream.h). Built with -mavx512f (bench/CMakeLists.txt, this file only); called only when cpuid
 * says the CPU and OS support AVX-512F (bench_stream_select). */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "bench_stream.h"

static inline void copy256(unsigned char *d, const unsigned char *s)
{
    __m512i v0 = _mm512_loadu_si512(s), v1 = _mm512_loadu_si512(s + 64);
    __m512i v2 = _mm512_loadu_si512(s + 128), v3 = _mm512_loadu_si512(s + 192);
    _mm512_stream_si512((void *)d, v0);
    _mm512_stream_si512((void *)(d + 64), v1);
    _mm512_stream_si512((void *)(d + 128), v2);
    _mm512_stream_si512((void *)(d + 192), v3);
}

void bench_stream_copy_avx512(void *dst, const void *src, size_t bytes)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    size_t head = (size_t)(-(uintptr_t)d & 63u);
    if (head > bytes) head = bytes;
    memcpy(d, s, head);
    d += head;
    s += head;
    bytes -= head;
    for (; bytes >= BENCH_STREAM_BLOCK; d += BENCH_STREAM_BLOCK, s += BENCH_STREAM_BLOCK, bytes -= BENCH_STREAM_BLOCK)
        for (size_t o = 0; o < BENCH_STREAM_SLAB; o += 256)
            for (size_t p = 0; p < BENCH_STREAM_BLOCK; p += BENCH_STREAM_SLAB) copy256(d + p + o, s + p + o);
    for (; bytes >= 256; d += 256, s += 256, bytes -= 256) copy256(d, s);
    for (; bytes >= 64; d += 64, s += 64, bytes -= 64) _mm512_stream_si512((void *)d, _mm512_loadu_si512(s));
    memcpy(d, s, bytes);
    _mm_sfence();
}
