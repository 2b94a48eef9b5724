/* AVX-512 peak loops of gmm_peak.h (built with -mavx512f -mavx512vnni; called only when cpuid has them). */
#include <immintrin.h>

#include "gmm_peak.h"

static volatile float gmm_sink_f;
static volatile int gmm_sink_i;

double gmm_peak_fma_avx512(long rounds)
{
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + (float)i * 1e-7f);
    const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-8f);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    gmm_sink_f = s;
    return (double)rounds * 12.0 * 32.0;
}

double gmm_peak_vnni_avx512(long rounds)
{
    __m512i a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_epi32(i);
    const __m512i u = _mm512_set1_epi8(3), v = _mm512_set1_epi8(-2);
    for (long r = 0; r < rounds; r++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbusd_epi32(a[i], u, v);
    int s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_epi32(a[i]);
    gmm_sink_i = s;
    return (double)rounds * 12.0 * 128.0;
}
