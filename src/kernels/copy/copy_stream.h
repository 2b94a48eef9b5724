/* The body of the streaming copies (kernels.h's copy_stream), shared by the ISA files: each defines
 *   MR_STREAM_MIN      bytes below which a plain memcpy is cheaper than the alignment head and the tail
 *   MR_STREAM_VEC      bytes of one non-temporal store (the destination alignment it needs)
 *   MR_STREAM_UNIT     bytes of mr_stream_unit(d, s): four vectors loaded, then stored non-temporally
 *   mr_stream_unit, mr_stream_vec(d, s)   (one vector)
 * and then defines its function with MR_STREAM_COPY(name). The body: memcpy up to a 64-byte aligned destination
 * (the source is read unaligned; with 32-byte stores, units of 128 bytes would otherwise split lines between
 * slabs, and write-combining would flush the halves apart: AVX2 re-routing 0.76 -> 0.53 before this); then four slabs of a block in step, a unit of each in turn: four read streams,
 * since the hardware prefetchers stop at every 4 KiB page and one linear pass leaves the core waiting at each
 * (docs/performance.md, "The copy limit on this machine": 36.6 -> 47.9 GB/s in the bench's reference); slabs
 * of up to 4 KiB, at least 1 KiB; then units, vectors and a memcpy tail. No fence: a fence per row would make
 * the core wait for every row's stores to drain before it quantizes the next one; the caller fences once after
 * its last streaming copy (kernels.h). */
#ifndef MR_KERNELS_COPY_STREAM_H
#define MR_KERNELS_COPY_STREAM_H

#include <stdint.h>
#include <string.h>

#define MR_STREAM_COPY(name)                                                                                  \
    void name(void *dst, const void *src, size_t bytes)                                                       \
    {                                                                                                         \
        unsigned char *d = (unsigned char *)dst;                                                              \
        const unsigned char *s = (const unsigned char *)src;                                                  \
        if (bytes < MR_STREAM_MIN) {                                                                          \
            memcpy(d, s, bytes);                                                                              \
            return;                                                                                           \
        }                                                                                                     \
        const size_t head = (size_t)(-(uintptr_t)d & 63u); /* whole lines: a slab never splits one */          \
        memcpy(d, s, head);                                                                                   \
        d += head, s += head, bytes -= head;                                                                  \
        size_t slab = bytes / 4 & ~(size_t)(MR_STREAM_UNIT - 1u);                                             \
        if (slab > 4096) slab = 4096;                                                                         \
        for (; slab >= 1024 && bytes >= 4 * slab; d += 4 * slab, s += 4 * slab, bytes -= 4 * slab)            \
            for (size_t o = 0; o < slab; o += MR_STREAM_UNIT)                                                 \
                for (size_t q = 0; q < 4 * slab; q += slab) mr_stream_unit(d + q + o, s + q + o);             \
        for (; bytes >= MR_STREAM_UNIT; d += MR_STREAM_UNIT, s += MR_STREAM_UNIT, bytes -= MR_STREAM_UNIT)    \
            mr_stream_unit(d, s);                                                                             \
        for (; bytes >= MR_STREAM_VEC; d += MR_STREAM_VEC, s += MR_STREAM_VEC, bytes -= MR_STREAM_VEC)        \
            mr_stream_vec(d, s);                                                                              \
        memcpy(d, s, bytes);                                                                                  \
    }

#endif /* MR_KERNELS_COPY_STREAM_H */
