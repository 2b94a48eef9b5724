/* Software prefetch of a byte range, one hint per 64-byte line. The address is formed as an integer: a prefetch
 * never faults, so callers may ask for lines past their buffer (the next row, a stream's tail) without forming
 * an out-of-bounds pointer. */
#ifndef MR_COMMON_PREFETCH_H
#define MR_COMMON_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

/* Lines of [p + offset, p + offset + bytes), for reading, kept in every cache level. */
static inline void mr_prefetch_bytes(const void *p, size_t offset, size_t bytes)
{
    const uintptr_t a = (uintptr_t)p + offset;
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch((const void *)(a + b));
}

#endif /* MR_COMMON_PREFETCH_H */
