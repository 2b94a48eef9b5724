/* Benchmark inputs and the reference routing the benchmark checks the operator against. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void bench_rng_seed(bench_rng *r, uint64_t seed) { r->s = seed ? seed : 0x9E3779B97F4A7C15ull; }

uint32_t bench_rng_u32(bench_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 0x2545F4914F6CDD1Dull) >> 32);
}

size_t bench_dtype_size(moeroute_dtype dt)
{
    switch (dt) {
    case MOEROUTE_DTYPE_FLOAT32: return 4;
    case MOEROUTE_DTYPE_FLOAT16:
    case MOEROUTE_DTYPE_BFLOAT16: return 2;
    case MOEROUTE_DTYPE_INT8: return 1;
    case MOEROUTE_DTYPE_INT32: return 4;
    }
    return 0;
}

const char *bench_dtype_name(moeroute_dtype dt)
{
    switch (dt) {
    case MOEROUTE_DTYPE_FLOAT32: return "f32";
    case MOEROUTE_DTYPE_FLOAT16: return "f16";
    case MOEROUTE_DTYPE_BFLOAT16: return "bf16";
    case MOEROUTE_DTYPE_INT8: return "int8";
    case MOEROUTE_DTYPE_INT32: return "int32";
    }
    return "?";
}

/* Values are built from bit fields rather than converted from float: no conversion code to get right, and
 * exponents 2^-6..2^2 keep every element finite and normal, so no kernel takes a rare slow path (subnormals,
 * NaN) that real activations would not make it take. */
void bench_fill_x(void *x, size_t n, moeroute_dtype dt, bench_rng *r)
{
    if (dt == MOEROUTE_DTYPE_FLOAT32) {
        uint32_t *p = x;
        for (size_t i = 0; i < n; i++) {
            uint32_t u = bench_rng_u32(r);
            uint32_t exp = 121u + (u >> 24) % 9u; /* bias 127 */
            p[i] = (u & 0x80000000u) | (exp << 23) | (bench_rng_u32(r) & 0x7FFFFFu);
        }
        return;
    }
    uint16_t *p = x;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = bench_rng_u32(r);
        uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
        uint32_t pick = (u >> 8) % 9u;
        if (dt == MOEROUTE_DTYPE_FLOAT16) /* bias 15, 10 mantissa bits */
            p[i] = (uint16_t)(sign | ((9u + pick) << 10) | (u & 0x3FFu));
        else /* bfloat16: bias 127, 7 mantissa bits */
            p[i] = (uint16_t)(sign | ((121u + pick) << 7) | (u & 0x7Fu));
    }
}

static int seen_before(const int32_t *row, int64_t j, int32_t e)
{
    for (int64_t p = 0; p < j; p++)
        if (row[p] == e) return 1;
    return 0;
}

void bench_fill_experts(int32_t *expert, int64_t n, int64_t k, int64_t e, bench_routing routing, bench_rng *r)
{
    /* Zipf table over ranks, and a fixed random assignment of ranks to experts so the hot experts are
     * scattered over the id range rather than being 0, 1, 2. */
    double *cdf = NULL;
    int32_t *rank_to_expert = NULL;
    if (routing == ROUTING_SKEWED) {
        cdf = malloc((size_t)e * sizeof *cdf);
        rank_to_expert = malloc((size_t)e * sizeof *rank_to_expert);
        if (!cdf || !rank_to_expert) {
            free(cdf);
            free(rank_to_expert);
            cdf = NULL;
            routing = ROUTING_UNIFORM; /* degrade rather than fail: callers check nothing here */
        } else {
            double sum = 0.0;
            for (int64_t i = 0; i < e; i++) sum += cdf[i] = 1.0 / pow((double)(i + 1), 1.1);
            double acc = 0.0;
            for (int64_t i = 0; i < e; i++) cdf[i] = (acc += cdf[i]) / sum;
            for (int64_t i = 0; i < e; i++) rank_to_expert[i] = (int32_t)i;
            for (int64_t i = e - 1; i > 0; i--) { /* Fisher-Yates */
                int64_t j = (int64_t)(bench_rng_u32(r) % (uint32_t)(i + 1));
                int32_t t = rank_to_expert[i];
                rank_to_expert[i] = rank_to_expert[j];
                rank_to_expert[j] = t;
            }
        }
    }
    for (int64_t t = 0; t < n; t++) {
        int32_t *row = expert + t * k;
        for (int64_t j = 0; j < k; j++) {
            int32_t id;
            do { /* rejection keeps the K experts of a token distinct, as top-K gating does */
                if (routing == ROUTING_UNIFORM) {
                    id = (int32_t)(bench_rng_u32(r) % (uint32_t)e);
                } else {
                    double u = (double)bench_rng_u32(r) / 4294967296.0;
                    int64_t lo = 0, hi = e - 1; /* first rank with cdf > u */
                    while (lo < hi) {
                        int64_t mid = lo + (hi - lo) / 2;
                        if (cdf[mid] > u) hi = mid; else lo = mid + 1;
                    }
                    id = rank_to_expert[lo];
                }
            } while (seen_before(row, j, id));
            row[j] = id;
        }
    }
    free(cdf);
    free(rank_to_expert);
}

void bench_fill_row_idx(int32_t *row_idx, int64_t n, int64_t k)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < k; j++) row_idx[r * k + j] = (int32_t)(j * n + r);
}

int bench_reference_sort(const int32_t *expert, int64_t n, int64_t k, int64_t e, int32_t *perm, int64_t *e_end)
{
    const int64_t l = n * k;
    memset(e_end, 0, (size_t)e * sizeof *e_end);
    for (int64_t f = 0; f < l; f++) {
        if (expert[f] < 0 || expert[f] >= e) return -1;
        e_end[expert[f]]++;
    }
    int64_t start = 0; /* counts -> start offsets; visiting f in order keeps the sort stable */
    for (int64_t i = 0; i < e; i++) {
        int64_t c = e_end[i];
        e_end[i] = start;
        start += c;
    }
    for (int64_t f = 0; f < l; f++) perm[e_end[expert[f]]++] = (int32_t)f; /* e_end[i] ends one past bucket i */
    return 0;
}

int64_t bench_distinct_tokens(const int32_t *perm, int64_t a, int64_t n, int64_t k, uint8_t *mark)
{
    if (n <= 0 || k <= 0) return 0;
    memset(mark, 0, (size_t)n);
    int64_t distinct = 0;
    for (int64_t i = 0; i < a; i++) {
        int64_t t = perm[i] / k;
        distinct += !mark[t];
        mark[t] = 1;
    }
    return distinct;
}

float bench_x_value(const void *x, size_t i, moeroute_dtype dt)
{
    uint32_t bits;
    float f;
    if (dt == MOEROUTE_DTYPE_FLOAT32) {
        memcpy(&f, (const unsigned char *)x + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const unsigned char *)x + 2 * i, 2);
    if (dt == MOEROUTE_DTYPE_BFLOAT16) {
        bits = (uint32_t)h << 16;
    } else { /* binary16 -> binary32, exact */
        uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
        if (exp == 0x1Fu) {
            bits = sign | 0x7F800000u | (man << 13);
        } else if (exp == 0) {
            if (man == 0) {
                bits = sign;
            } else { /* subnormal: normalize */
                int sh = 0;
                while (!(man & 0x400u)) man <<= 1, sh++;
                bits = sign | ((uint32_t)(113 - sh) << 23) | ((man & 0x3FFu) << 13);
            }
        } else {
            bits = sign | ((exp + 112u) << 23) | (man << 13);
        }
    }
    memcpy(&f, &bits, 4);
    return f;
}
