/* Streaming copy, AVX2: 32-byte non-temporal stores, four 4 KiB slabs at a time (bench_stream.h). Built
 * with -mavx2 (bench/CMakeLists.txt, this file only); called only when cpuid says the CPU and OS support
 * AVX2 (bench_stream_select). */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "bench_stream.h"

static inline void copy256(unsigned char *d, const unsigned char *s)
{
    __m256i v0 = _mm256_loadu_si256((const __m256i *)s), v1 = _mm256_loadu_si256((const __m256i *)(s + 32));
    __m256i v2 = _mm256_loadu_si256((const __m256i *)(s + 64)), v3 = _mm256_loadu_si256((const __m256i *)(s + 96));
    __m256i v4 = _mm256_loadu_si256((const __m256i *)(s + 128)), v5 = _mm256_loadu_si256((const __m256i *)(s + 160));
    __m256i v6 = _mm256_loadu_si256((const __m256i *)(s + 192)), v7 = _mm256_loadu_si256((const __m256i *)(s + 224));
    _mm256_stream_si256((__m256i *)d, v0);
    _mm256_stream_si256((__m256i *)(d + 32), v1);
    _mm256_stream_si256((__m256i *)(d + 64), v2);
    _mm256_stream_si256((__m256i *)(d + 96), v3);
    _mm256_stream_si256((__m256i *)(d + 128), v4);
    _mm256_stream_si256((__m256i *)(d + 160), v5);
    _mm256_stream_si256((__m256i *)(d + 192), v6);
    _mm256_stream_si256((__m256i *)(d + 224), v7);
}

void bench_stream_copy_avx2(void *dst, const void *src, size_t bytes)
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
    for (; bytes >= 32; d += 32, s += 32, bytes -= 32)
        _mm256_stream_si256((__m256i *)d, _mm256_loadu_si256((const __m256i *)s));
    memcpy(d, s, bytes);
    _mm_sfence();
}
