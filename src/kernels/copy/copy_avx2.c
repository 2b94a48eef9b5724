/* Streaming copy with AVX: non-temporal 32-byte stores for the aligned body, for outputs larger than the
 * last-level cache where write-allocate would read every destination line first and evict useful data. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* Below this the alignment head and the tail cost more than the cache traffic they save. */
#define MR_STREAM_MIN 256

static inline void mr_copy128(unsigned char *d, const unsigned char *s)
{
    const __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
    const __m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
    const __m256i v2 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 64));
    const __m256i v3 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 96));
    _mm256_stream_si256((__m256i *)(void *)d, v0);
    _mm256_stream_si256((__m256i *)(void *)(d + 32), v1);
    _mm256_stream_si256((__m256i *)(void *)(d + 64), v2);
    _mm256_stream_si256((__m256i *)(void *)(d + 96), v3);
}

void mr_copy_stream__avx2(void *dst, const void *src, size_t bytes)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (bytes < MR_STREAM_MIN) {
        memcpy(d, s, bytes);
        return;
    }
    /* vmovntdq needs an aligned destination; the source is read unaligned. */
    const size_t head = (size_t)(-(uintptr_t)d & 31u);
    memcpy(d, s, head);
    d += head;
    s += head;
    bytes -= head;
    /* four slabs of a block in step (copy_avx512.c says why) */
    size_t slab = bytes / 4 & ~(size_t)127;
    if (slab > 4096) slab = 4096;
    for (; slab >= 1024 && bytes >= 4 * slab; d += 4 * slab, s += 4 * slab, bytes -= 4 * slab)
        for (size_t o = 0; o < slab; o += 128)
            for (size_t q = 0; q < 4 * slab; q += slab) mr_copy128(d + q + o, s + q + o);
    for (; bytes >= 128; d += 128, s += 128, bytes -= 128) mr_copy128(d, s);
    for (; bytes >= 32; d += 32, s += 32, bytes -= 32)
        _mm256_stream_si256((__m256i *)d, _mm256_loadu_si256((const __m256i *)s));
    memcpy(d, s, bytes);
    /* No fence here: a fence per row would make the core wait for every row's stores to drain before it
     * quantizes the next one. The caller fences once after its last streaming copy (kernels.h). */
}
