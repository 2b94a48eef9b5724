/* Streaming copy with AVX: non-temporal 32-byte stores for the aligned body, for outputs larger than the
 * last-level cache where write-allocate would read every destination line first and evict useful data. The body
 * is copy_stream.h's. */
#include <immintrin.h>

#include "kernels/copy/copy_stream.h"
#include "kernels/kernels.h"

#define MR_STREAM_MIN 256
#define MR_STREAM_VEC 32u
#define MR_STREAM_UNIT 128u

static inline void mr_stream_vec(unsigned char *d, const unsigned char *s)
{
    _mm256_stream_si256((__m256i *)(void *)d, _mm256_loadu_si256((const __m256i *)(const void *)s));
}

static inline void mr_stream_unit(unsigned char *d, const unsigned char *s)
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

MR_STREAM_COPY(mr_copy_stream__avx2)
