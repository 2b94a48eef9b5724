/* Streaming copy for the copy reference: SSE2 kernel (x86-64 baseline, no flags) and the run-time choice
 * among the kernels that were built. */
#include <stdlib.h>
#include <string.h>

#include "bench_stream.h"

#if defined(__x86_64__) || defined(__i386__)
#include <emmintrin.h>
#include <stdint.h>

static inline void copy128(unsigned char *d, const unsigned char *s)
{
    __m128i v0 = _mm_loadu_si128((const __m128i *)s), v1 = _mm_loadu_si128((const __m128i *)(s + 16));
    __m128i v2 = _mm_loadu_si128((const __m128i *)(s + 32)), v3 = _mm_loadu_si128((const __m128i *)(s + 48));
    __m128i v4 = _mm_loadu_si128((const __m128i *)(s + 64)), v5 = _mm_loadu_si128((const __m128i *)(s + 80));
    __m128i v6 = _mm_loadu_si128((const __m128i *)(s + 96)), v7 = _mm_loadu_si128((const __m128i *)(s + 112));
    _mm_stream_si128((__m128i *)d, v0);
    _mm_stream_si128((__m128i *)(d + 16), v1);
    _mm_stream_si128((__m128i *)(d + 32), v2);
    _mm_stream_si128((__m128i *)(d + 48), v3);
    _mm_stream_si128((__m128i *)(d + 64), v4);
    _mm_stream_si128((__m128i *)(d + 80), v5);
    _mm_stream_si128((__m128i *)(d + 96), v6);
    _mm_stream_si128((__m128i *)(d + 112), v7);
}

void bench_stream_copy_sse2(void *dst, const void *src, size_t bytes)
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
        for (size_t o = 0; o < BENCH_STREAM_SLAB; o += 128)
            for (size_t p = 0; p < BENCH_STREAM_BLOCK; p += BENCH_STREAM_SLAB) copy128(d + p + o, s + p + o);
    for (; bytes >= 128; d += 128, s += 128, bytes -= 128) copy128(d, s);
    memcpy(d, s, bytes);
    _mm_sfence();
}
#endif

bench_stream_fn bench_stream_select(const char *request, const char **name)
{
    *name = "none";
    if (!strcmp(request, "off")) return NULL;
#if defined(__x86_64__) || defined(__i386__)
    int any = !strcmp(request, "auto");
    __builtin_cpu_init(); /* cpuid, and xgetbv for the OS's support of the wider registers */
#ifdef BENCH_HAVE_AVX512
    if ((any || !strcmp(request, "avx512")) && __builtin_cpu_supports("avx512f")) {
        *name = "avx512";
        return bench_stream_copy_avx512;
    }
#endif
#ifdef BENCH_HAVE_AVX2
    if ((any || !strcmp(request, "avx2")) && __builtin_cpu_supports("avx2")) {
        *name = "avx2";
        return bench_stream_copy_avx2;
    }
#endif
    if (any || !strcmp(request, "sse2")) {
        *name = "sse2";
        return bench_stream_copy_sse2;
    }
#endif
    return NULL;
}

int bench_stream_selftest(bench_stream_fn fn)
{
    static const size_t sizes[] = {0, 1, 63, 64, 65, 127, 128, 255, 256, 257, 4095, 4096, 16383, 16384, 16385,
                                   3 * 16384 + 4096 + 200};
    static const size_t offs[] = {0, 1, 17, 63};
    const size_t cap = 3 * 16384 + 4096 + 200 + 64 + 64;
    unsigned char *src = malloc(cap), *dst = malloc(cap + 64);
    int rc = -1;
    if (!src || !dst) goto out;
    for (size_t i = 0; i < cap; i++) src[i] = (unsigned char)(i * 131u + (i >> 8));
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
        for (size_t b = 0; b < sizeof offs / sizeof offs[0]; b++)
            for (size_t c = 0; c < sizeof offs / sizeof offs[0]; c++) {
                size_t n = sizes[a], so = offs[b], dof = offs[c];
                memset(dst, 0xEE, cap + 64);
                fn(dst + dof, src + so, n);
                if (memcmp(dst + dof, src + so, n)) goto out;
                for (size_t i = 0; i < dof; i++) /* nothing written outside */
                    if (dst[i] != 0xEE) goto out;
                for (size_t i = dof + n; i < cap + 64; i++)
                    if (dst[i] != 0xEE) goto out;
            }
    rc = 0;
out:
    free(src);
    free(dst);
    return rc;
}
