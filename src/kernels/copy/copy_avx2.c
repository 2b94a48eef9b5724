/* Streaming copy with AVX: non-temporal 32-byte stores for the aligned body, for outputs larger than the
 * last-level cache where write-allocate would read every destination line first and evict useful data. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* Below this the alignment head and the tail cost more than the cache traffic they save. */
#define MR_STREAM_MIN 256

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
    for (; bytes >= 128; d += 128, s += 128, bytes -= 128) {
        __m256i v0 = _mm256_loadu_si256((const __m256i *)s);
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(s + 32));
        __m256i v2 = _mm256_loadu_si256((const __m256i *)(s + 64));
        __m256i v3 = _mm256_loadu_si256((const __m256i *)(s + 96));
        _mm256_stream_si256((__m256i *)d, v0);
        _mm256_stream_si256((__m256i *)(d + 32), v1);
        _mm256_stream_si256((__m256i *)(d + 64), v2);
        _mm256_stream_si256((__m256i *)(d + 96), v3);
    }
    for (; bytes >= 32; d += 32, s += 32, bytes -= 32)
        _mm256_stream_si256((__m256i *)d, _mm256_loadu_si256((const __m256i *)s));
    memcpy(d, s, bytes);
    /* No fence here: a fence per row would make the core wait for every row's stores to drain before it
     * quantizes the next one. The caller fences once after its last streaming copy (kernels.h). */
}
