/* Streaming copy with AVX-512: non-temporal 64-byte stores (one full cache line each) for the aligned body,
 * for outputs larger than the last-level cache where write-allocate would read every destination line first
 * and evict useful data. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* Below this the alignment head and the tail cost more than the cache traffic they save. */
#define MR_STREAM_MIN 512

static inline void mr_copy256(unsigned char *d, const unsigned char *s)
{
    const __m512i v0 = _mm512_loadu_si512(s), v1 = _mm512_loadu_si512(s + 64);
    const __m512i v2 = _mm512_loadu_si512(s + 128), v3 = _mm512_loadu_si512(s + 192);
    _mm512_stream_si512((void *)d, v0);
    _mm512_stream_si512((void *)(d + 64), v1);
    _mm512_stream_si512((void *)(d + 128), v2);
    _mm512_stream_si512((void *)(d + 192), v3);
}

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
    /* Four slabs of a block in step, 256 bytes of each in turn: four read streams, since the hardware prefetchers
     * stop at every 4 KiB page and one linear pass leaves the core waiting at each (docs/performance.md, "The copy
     * limit on this machine": 36.6 -> 47.9 GB/s in the bench's reference). Slabs of up to 4 KiB, at least 1 KiB. */
    size_t slab = bytes / 4 & ~(size_t)255;
    if (slab > 4096) slab = 4096;
    for (; slab >= 1024 && bytes >= 4 * slab; d += 4 * slab, s += 4 * slab, bytes -= 4 * slab)
        for (size_t o = 0; o < slab; o += 256)
            for (size_t q = 0; q < 4 * slab; q += slab) mr_copy256(d + q + o, s + q + o);
    for (; bytes >= 256; d += 256, s += 256, bytes -= 256) mr_copy256(d, s);
    for (; bytes >= 64; d += 64, s += 64, bytes -= 64)
        _mm512_stream_si512((void *)d, _mm512_loadu_si512(s));
    memcpy(d, s, bytes);
    /* No fence here: a fence per row would make the core wait for every row's stores to drain before it
     * quantizes the next one. The caller fences once after its last streaming copy (kernels.h). */
}
