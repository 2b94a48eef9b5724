/* Streaming copy with AVX-512: non-temporal 64-byte stores (one full cache line each) for the aligned body,
 * for outputs larger than the last-level cache where write-allocate would read every destination line first
 * and evict useful data. The body is copy_stream.h's. */
#include <immintrin.h>

#include "kernels/copy/copy_stream.h"
#include "kernels/kernels.h"

#define MR_STREAM_MIN 512
#define MR_STREAM_VEC 64u
#define MR_STREAM_UNIT 256u

static inline void mr_stream_vec(unsigned char *d, const unsigned char *s)
{
    _mm512_stream_si512((void *)d, _mm512_loadu_si512(s));
}

static inline void mr_stream_unit(unsigned char *d, const unsigned char *s)
{
    const __m512i v0 = _mm512_loadu_si512(s), v1 = _mm512_loadu_si512(s + 64);
    const __m512i v2 = _mm512_loadu_si512(s + 128), v3 = _mm512_loadu_si512(s + 192);
    _mm512_stream_si512((void *)d, v0);
    _mm512_stream_si512((void *)(d + 64), v1);
    _mm512_stream_si512((void *)(d + 128), v2);
    _mm512_stream_si512((void *)(d + 192), v3);
}

MR_STREAM_COPY(mr_copy_stream__avx512)
