/* AVX2 peak loops of gmm_peak.h (built with -mavx2 -mfma; called only when cpuid has them). */
#include <immintrin.h>

#include "gmm_peak.h"

static volatile float gmm_sink_f;
static volatile int gmm_sink_i;

double gmm_peak_fma_avx2(long rounds)
{
    __m256 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f + (float)i * 1e-7f);
    const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-8f);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    float s[8], tot = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(s, a[i]);
        for (int j = 0; j < 8; j++) tot += s[j];
    }
    gmm_sink_f = tot;
    return (double)rounds * 12.0 * 16.0;
}

double gmm_peak_madd_avx2(long rounds)
{
    __m256i a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_epi32(i);
    const __m256i v = _mm256_set1_epi16(-2);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < 12; i++) a[i] = _mm256_add_epi32(a[i], _mm256_madd_epi16(a[i], v));
    int s[8], tot = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_si256((__m256i *)s, a[i]);
        for (int j = 0; j < 8; j++) tot += s[j];
    }
    gmm_sink_i = tot;
    return (double)rounds * 12.0 * 32.0;
}
