/* Streaming copy with AVX-512: non-temporal 64-byte stores (one full cache line each) for the aligned body,
 * for outputs larger than the last-level cache where write-allocate would read every destination line first
 * and evict useful data. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* Below this the alignment head and the tail cost more than the cache traffic they save. */
#define MR_STREAM_MIN 512

void mr_copy_stream__avx512(void *dst, const void *src, size_t bytes)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (bytes < MR_STREAM_MIN) {
        memcpy(d, s, bytes);
        return;
    }
    /* vmovntdq needs an aligned destination; the source is read unaligned. */
    const size_t head = (size_t)(-(uintptr_t)d & 63u);
    memcpy(d, s, head);
    d += head;
    s += head;
    bytes -= head;
    for (; bytes >= 256; d += 256, s += 256, bytes -= 256) {
        __m512i v0 = _mm512_loadu_si512(s);
        __m512i v1 = _mm512_loadu_si512(s + 64);
        __m512i v2 = _mm512_loadu_si512(s + 128);
        __m512i v3 = _mm512_loadu_si512(s + 192);
        _mm512_stream_si512((void *)d, v0);
        _mm512_stream_si512((void *)(d + 64), v1);
        _mm512_stream_si512((void *)(d + 128), v2);
        _mm512_stream_si512((void *)(d + 192), v3);
    }
    for (; bytes >= 64; d += 64, s += 64, bytes -= 64)
        _mm512_stream_si512((void *)d, _mm512_loadu_si512(s));
    memcpy(d, s, bytes);
    /* No fence here: a fence per row would make the core wait for every row's stores to drain before it
     * quantizes the next one. The caller fences once after its last streaming copy (kernels.h). */
}
