/* Packing for the GEMM family (src/kernels/gemm/gemm.h): exact (widening or re-indexing only), so every ISA's
 * kernels see the same operands; ISA-independent (SSE2 is part of x86-64), except for the row interleave a config
 * may pass in (bf16_pairs), which gives the same bytes. */
#include "kernels/gemm/gemm.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#include "common/fp16.h"
#include "common/prefetch.h"

static inline const char *mr_gemm_at(const mr_gemm_mat *s, int64_t r, int64_t k, size_t esize)
{
    return s->data + (r * s->rs + k * s->cs) * (int64_t)esize;
}

/* Weight rows of an ND block lie a page or more apart, where the hardware prefetchers stop: ask for the row
 * MR_GEMM_PREFETCH_ROWS ahead (a hint only; never dereferenced, so past-the-end addresses are skipped). */
#define MR_GEMM_PREFETCH_ROWS 8
static inline void mr_gemm_prefetch_row(const char *p, size_t bytes, int inside)
{
    if (inside) mr_prefetch_bytes(p, 0, bytes);
}

/* One source row r (elements k0 .. k0+kc-1, `step` bytes apart) widened to fp32 at dst[k * ld]. */
static void mr_gemm_row_f32(const char *p, int64_t step, size_t kc, mr_gemm_src_type t, float *dst, size_t ld)
{
    uint16_t h;
    if (ld == 1 && step == (t == MR_GEMM_SRC_F32 ? 4 : 2)) { /* contiguous both ways: loops that vectorize */
        switch (t) {
        case MR_GEMM_SRC_F16: /* the branch-free widening (same bits): vectorizes */
            for (size_t k = 0; k < kc; k++) memcpy(&h, p + 2 * k, 2), dst[k] = mr_f16_to_f32_flat(h);
            return;
        case MR_GEMM_SRC_BF16:
            for (size_t k = 0; k < kc; k++) {
                memcpy(&h, p + 2 * k, 2);
                const uint32_t u = (uint32_t)h << 16;
                memcpy(&dst[k], &u, 4);
            }
            return;
        default: memcpy(dst, p, kc * 4); return;
        }
    }
    switch (t) {
    case MR_GEMM_SRC_F16:
        for (size_t k = 0; k < kc; k++, p += step) memcpy(&h, p, 2), dst[k * ld] = mr_f16_to_f32(h);
        break;
    case MR_GEMM_SRC_BF16:
        for (size_t k = 0; k < kc; k++, p += step) memcpy(&h, p, 2), dst[k * ld] = mr_bf16_to_f32(h);
        break;
    default:
        for (size_t k = 0; k < kc; k++, p += step) memcpy(&dst[k * ld], p, 4);
        break;
    }
}

#if defined(__SSE2__)
/* Four fp16 (the low 64 bits of h) widened exactly, common/fp16.h's mr_f16_to_f32_flat four at a time: the
 * magnitude bits moved into place and scaled by 2^112 (exact, subnormals included: the call runs in the default
 * floating-point environment, common/fpenv.h), inf / NaN given the all-ones exponent, then the sign. */
static inline __m128 mr_f16x4_to_f32(__m128i h)
{
    const __m128i w = _mm_unpacklo_epi16(h, _mm_setzero_si128());
    const __m128i em = _mm_slli_epi32(_mm_and_si128(w, _mm_set1_epi32(0x7FFF)), 13);
    const __m128i f = _mm_castps_si128(_mm_mul_ps(_mm_castsi128_ps(em), _mm_set1_ps(0x1p112f)));
    const __m128i special = _mm_cmpeq_epi32(_mm_and_si128(w, _mm_set1_epi32(0x7C00)), _mm_set1_epi32(0x7C00));
    const __m128i r = _mm_or_si128(_mm_andnot_si128(special, f),
                                   _mm_and_si128(special, _mm_or_si128(em, _mm_set1_epi32(0x7F800000))));
    return _mm_castsi128_ps(_mm_or_si128(r, _mm_slli_epi32(_mm_and_si128(w, _mm_set1_epi32(0x8000)), 16)));
}

/* Four rows p[0..3], contiguous along k, for k < kc4 (a multiple of 4) into dst[k * ld + i]: four k of four rows
 * widened (bf16: the bits as the high half of a zero word; fp16: mr_f16x4_to_f32) and transposed in registers,
 * where the scalar loop would store one element at a time at a stride of ld. */
static void mr_gemm_rows4_f32(const char *const p[4], mr_gemm_src_type t, size_t kc4, float *dst, size_t ld)
{
    for (size_t k = 0; k < kc4; k += 4) {
        __m128 v[4];
        for (int i = 0; i < 4; i++) {
            if (t == MR_GEMM_SRC_F32) {
                v[i] = _mm_loadu_ps((const float *)(const void *)(p[i] + 4 * k));
                continue;
            }
            const __m128i h = _mm_loadl_epi64((const __m128i *)(const void *)(p[i] + 2 * k));
            v[i] = t == MR_GEMM_SRC_BF16 ? _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h))
                                         : mr_f16x4_to_f32(h);
        }
        _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]);
        for (int j = 0; j < 4; j++) _mm_storeu_ps(dst + (k + (size_t)j) * ld, v[j]);
    }
}

/* Whether rows r .. r + 3 of a pack of `rows` rows (source rows r0 + r ..) are all real and lie in one panel, so
 * that they can go through a 4 x 4 transpose together; if so, their addresses at k0 (elements of es bytes) in p4. */
static int mr_gemm_four_rows(const mr_gemm_mat *src, int64_t r0, size_t r, size_t rows, size_t panel, int64_t k0,
                             size_t es, const char *p4[4])
{
    const size_t i = r % panel;
    if (i % 4 != 0 || i + 4 > panel || r + 4 > rows) return 0;
    for (int q = 0; q < 4; q++) p4[q] = mr_gemm_at(src, r0 + (int64_t)r + q, k0, es);
    return 1;
}
#endif

void mr_gemm_pack_f32(const mr_gemm_mat *src, int64_t r0, size_t rows, size_t panel, int64_t k0, size_t kc,
                      float *dst)
{
    const size_t es = src->type == MR_GEMM_SRC_F32 ? 4u : 2u, np = (rows + panel - 1) / panel;
    const size_t pstride = panel * kc; /* floats per panel */
    if (rows < np * panel) memset(dst + (np - 1) * pstride, 0, pstride * sizeof(float));
    if (src->cs == 1 || rows == 1) { /* rows contiguous along k (x, a transposed weight): one row at a time */
        for (size_t r = 0; r < rows;) {
            float *d = dst + r / panel * pstride + r % panel;
            const char *p = mr_gemm_at(src, r0 + (int64_t)r, k0, es);
#if defined(__SSE2__)
            const char *p4[4]; /* four rows of one panel at once */
            if (src->cs == 1 && mr_gemm_four_rows(src, r0, r, rows, panel, k0, es, p4)) {
                const size_t kc4 = kc & ~(size_t)3;
                mr_gemm_rows4_f32(p4, src->type, kc4, d, panel);
                for (size_t q = 0; q < 4 && kc4 < kc; q++)
                    mr_gemm_row_f32(p4[q] + kc4 * es, (int64_t)es, kc - kc4, src->type, d + kc4 * panel + q, panel);
                r += 4;
                continue;
            }
#endif
            mr_gemm_row_f32(p, src->cs * (int64_t)es, kc, src->type, d, panel);
            r++;
        }
        return;
    }
    /* columns contiguous along r (an ND weight: rs = 1): one k at a time, across every panel */
    for (size_t k = 0; k < kc; k++) {
        mr_gemm_prefetch_row(mr_gemm_at(src, r0, k0 + (int64_t)(k + MR_GEMM_PREFETCH_ROWS), es), rows * es,
                             k + MR_GEMM_PREFETCH_ROWS < kc);
        for (size_t p = 0; p < np; p++)
            mr_gemm_row_f32(mr_gemm_at(src, r0 + (int64_t)(p * panel), k0 + (int64_t)k, es), src->rs * (int64_t)es,
                            rows - p * panel < panel ? rows - p * panel : panel, src->type, dst + p * pstride + k * panel,
                            1);
    }
}

/* d[2j] = p0[j], d[2j + 1] = p1[j] (0 when p1 is NULL) for j < n: two bf16 rows side by side, a 32-bit word per
 * column. SSE2's word unpacks do exactly this, eight columns at a time. */
static void mr_bf16_pairs_run(const char *p0, const char *p1, size_t n, uint16_t *d)
{
    size_t j = 0;
#if defined(__SSE2__)
    for (; j + 8 <= n; j += 8) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p0 + 2 * j));
        const __m128i b = p1 ? _mm_loadu_si128((const __m128i *)(const void *)(p1 + 2 * j)) : _mm_setzero_si128();
        _mm_storeu_si128((__m128i *)(void *)(d + 2 * j), _mm_unpacklo_epi16(a, b));
        _mm_storeu_si128((__m128i *)(void *)(d + 2 * j + 8), _mm_unpackhi_epi16(a, b));
    }
#endif
    for (; j < n; j++) {
        memcpy(&d[2 * j], p0 + 2 * j, 2);
        if (p1) memcpy(&d[2 * j + 1], p1 + 2 * j, 2);
        else d[2 * j + 1] = 0;
    }
}

/* The portable mr_gemm_pairs_fn: panel after panel. */
static void mr_bf16_pairs(const char *p0, const char *p1, size_t n, uint16_t *d, size_t panel, size_t pstride)
{
    for (size_t j = 0, p = 0; j < n; j += panel, p++)
        mr_bf16_pairs_run(p0 + 2 * j, p1 ? p1 + 2 * j : NULL, n - j < panel ? n - j : panel, d + p * pstride);
}

/* Pairs [from, ceil(kc / 2)) of one row contiguous along k (p: its k = 0) into d[pair * panel * 2 + j]; an odd kc's
 * last pair holds one bf16 and a zero. */
static void mr_bf16_pair_row(const char *p, size_t from, size_t kc, uint16_t *d, size_t panel)
{
    size_t w = from;
    for (; 2 * w + 2 <= kc; w++) memcpy(&d[w * panel * 2u], p + 4 * w, 4);
    if (2 * w < kc) {
        memcpy(&d[w * panel * 2u], p + 4 * w, 2);
        d[w * panel * 2u + 1] = 0;
    }
}

void mr_gemm_pack_bf16x2(const mr_gemm_mat *src, int64_t r0, size_t rows, size_t panel, int64_t k0, size_t kc,
                         uint16_t *dst, mr_gemm_pairs_fn pairs)
{
    if (!pairs) pairs = mr_bf16_pairs;
    const size_t np = (rows + panel - 1) / panel, pelems = mr_gemm_bf16x2_panel_elems(panel, kc);
    if (rows < np * panel) memset(dst + (np - 1) * pelems, 0, pelems * 2u);
    if (src->rs == 1 && rows > 1) { /* an ND weight: columns contiguous for each k; two k rows at a time */
        for (size_t k = 0; k < kc; k += 2) {
            for (size_t q = 0; q < 2; q++)
                mr_gemm_prefetch_row(mr_gemm_at(src, r0, k0 + (int64_t)(k + q + MR_GEMM_PREFETCH_ROWS), 2), rows * 2u,
                                     k + q + MR_GEMM_PREFETCH_ROWS < kc);
            const char *p1 = k + 1 < kc ? mr_gemm_at(src, r0, k0 + (int64_t)k + 1, 2) : NULL;
            pairs(mr_gemm_at(src, r0, k0 + (int64_t)k, 2), p1, rows, dst + k * panel, panel, pelems);
        }
        return;
    }
    for (size_t r = 0; r < rows;) { /* other strides: one row along k */
        uint16_t *d = dst + r / panel * pelems + r % panel * 2u;
        const char *p = mr_gemm_at(src, r0 + (int64_t)r, k0, 2);
        if (src->cs != 1) { /* any strides: element by element */
            for (size_t k = 0; k < kc; k++) {
                const char *e = mr_gemm_at(src, r0 + (int64_t)r, k0 + (int64_t)k, 2);
                memcpy(&d[k / 2 * panel * 2u + (k & 1)], e, 2);
            }
            if (kc & 1) d[kc / 2 * panel * 2u + 1] = 0;
            r++;
            continue;
        }
        /* rows contiguous along k (a transposed weight, [E, N, K]): a pair is two adjacent bf16, one 32-bit word */
        size_t done = 0; /* pairs */
#if defined(__SSE2__)
        const char *p4[4];
        if (mr_gemm_four_rows(src, r0, r, rows, panel, k0, 2, p4)) { /* four rows at once: a 4 x 4 transpose of words */
            done = kc / 2 & ~(size_t)3;
            mr_gemm_rows4_f32(p4, MR_GEMM_SRC_F32, done, (float *)(void *)d, panel); /* words moved as they are */
            for (size_t q = 0; q < 4; q++) mr_bf16_pair_row(p4[q], done, kc, d + 2 * q, panel); /* the rest */
            r += 4;
            continue;
        }
#endif
        mr_bf16_pair_row(p, done, kc, d, panel);
        r++;
    }
}

#if defined(__SSE2__)
/* Four rows p[0..3] of 16-bit values, contiguous along k, for k < kc4 (a multiple of 4) into dst[k * ld + i]: a
 * 4 x 4 transpose of 16-bit values in SSE2 registers (two rounds of unpacks), four 64-bit stores. */
static void mr_gemm_rows4_u16(const char *const p[4], size_t kc4, uint16_t *dst, size_t ld)
{
    for (size_t k = 0; k < kc4; k += 4) {
        __m128i v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm_loadl_epi64((const __m128i *)(const void *)(p[i] + 2 * k));
        const __m128i r01 = _mm_unpacklo_epi16(v[0], v[1]), r23 = _mm_unpacklo_epi16(v[2], v[3]);
        const __m128i lo = _mm_unpacklo_epi32(r01, r23), hi = _mm_unpackhi_epi32(r01, r23); /* k, k+1 | k+2, k+3 */
        _mm_storel_epi64((__m128i *)(void *)(dst + k * ld), lo);
        _mm_storel_epi64((__m128i *)(void *)(dst + (k + 1) * ld), _mm_unpackhi_epi64(lo, lo));
        _mm_storel_epi64((__m128i *)(void *)(dst + (k + 2) * ld), hi);
        _mm_storel_epi64((__m128i *)(void *)(dst + (k + 3) * ld), _mm_unpackhi_epi64(hi, hi));
    }
}
#endif

void mr_gemm_pack_f16h(const mr_gemm_mat *src, int64_t r0, size_t rows, size_t panel, int64_t k0, size_t kc,
                       uint16_t *dst)
{
    const size_t np = (rows + panel - 1) / panel, pelems = panel * kc;
    if (rows < np * panel) memset(dst + (np - 1) * pelems, 0, pelems * 2u);
    if (src->rs == 1 && rows > 1) { /* an ND weight: each k's columns are consecutive, copied panel by panel */
        for (size_t k = 0; k < kc; k++) {
            mr_gemm_prefetch_row(mr_gemm_at(src, r0, k0 + (int64_t)(k + MR_GEMM_PREFETCH_ROWS), 2), rows * 2u,
                                 k + MR_GEMM_PREFETCH_ROWS < kc);
            const char *row = mr_gemm_at(src, r0, k0 + (int64_t)k, 2);
            for (size_t p = 0; p < np; p++) {
                const size_t n = rows - p * panel < panel ? rows - p * panel : panel;
                memcpy(dst + p * pelems + k * panel, row + p * panel * 2u, n * 2u);
            }
        }
        return;
    }
    for (size_t r = 0; r < rows;) { /* one row along k: element by element, or four rows contiguous along k */
        uint16_t *d = dst + r / panel * pelems + r % panel;
        size_t done = 0;
#if defined(__SSE2__)
        const char *p4[4];
        if (src->cs == 1 && mr_gemm_four_rows(src, r0, r, rows, panel, k0, 2, p4)) {
            done = kc & ~(size_t)3;
            mr_gemm_rows4_u16(p4, done, d, panel);
            for (size_t q = 0; q < 4; q++)
                for (size_t k = done; k < kc; k++) memcpy(&d[k * panel + q], p4[q] + 2 * k, 2);
            r += 4;
            continue;
        }
#endif
        for (size_t k = done; k < kc; k++)
            memcpy(&d[k * panel], mr_gemm_at(src, r0 + (int64_t)r, k0 + (int64_t)k, 2), 2);
        r++;
    }
}

/* Element (r, k) of a packed int8 panel, as an index in elements of the format. */
static inline size_t mr_i8_at(size_t r, size_t k, size_t panel, unsigned shift)
{
    return (((k >> shift) * panel + r) << shift) + (k & ((1u << shift) - 1u));
}

static inline void mr_i8_put(void *dst, size_t at, mr_gemm_i8_fmt fmt, int8_t v)
{
    switch (fmt) {
    case MR_GEMM_I8: ((int8_t *)dst)[at] = v; break;
    case MR_GEMM_I16: ((int16_t *)dst)[at] = v; break;
    case MR_GEMM_U8: ((uint8_t *)dst)[at] = (uint8_t)(v + 128); break;
    }
}

/* Element (n, k) of an int8 weight whose columns are consecutive bytes for a fixed k: an ND weight read as (n, k)
 * with rs = 1, or FRACTAL_NZ (layer spec 8.1), where that holds inside each block of 32 columns. */
static inline const uint8_t *mr_i8_col_at(const mr_gemm_mat *s, int64_t n, int64_t k)
{
    if (s->nz_k1 > 0)
        return (const uint8_t *)s->data + (((n >> 5) * s->nz_k1 + (k >> 4)) * 16 + (k & 15)) * 32 + (n & 31);
    return (const uint8_t *)s->data + n + k * s->cs;
}

/* d[j] = p0[j] | p1[j] << 8 | p2[j] << 16 | p3[j] << 24 for j < 16 (little-endian words: the bytes of four k
 * side by side). SSE2 is part of x86-64, so this is no ISA level: byte unpacks instead of the widen-shift-or
 * loop the compiler makes of the scalar form: the B packing went from 4.5 to 7.5 GB/s on one core. */
#if defined(__SSE2__)
static inline void mr_interleave4x16(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2, const uint8_t *p3,
                                     uint32_t *d)
{
    const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p0);
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)p1);
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p2);
    const __m128i y = _mm_loadu_si128((const __m128i *)(const void *)p3);
    const __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
    const __m128i xy0 = _mm_unpacklo_epi8(x, y), xy1 = _mm_unpackhi_epi8(x, y);
    _mm_storeu_si128((__m128i *)(void *)d, _mm_unpacklo_epi16(ab0, xy0));
    _mm_storeu_si128((__m128i *)(void *)(d + 4), _mm_unpackhi_epi16(ab0, xy0));
    _mm_storeu_si128((__m128i *)(void *)(d + 8), _mm_unpacklo_epi16(ab1, xy1));
    _mm_storeu_si128((__m128i *)(void *)(d + 12), _mm_unpackhi_epi16(ab1, xy1));
}
#endif

/* Rows [a, b) of a pack whose source columns r0 + a .. r0 + b - 1 are consecutive bytes for every k. Whole groups
 * of four k into the I8 format (the VNNI kernel's B): one 32-bit word per row, four weight rows at once. */
static void mr_pack_i8_cols(const mr_gemm_mat *src, int64_t r0, size_t a, size_t b, size_t panel, int64_t k0,
                            size_t kc, unsigned shift, mr_gemm_i8_fmt fmt, size_t pbytes, void *dst, int32_t *colsum)
{
    const size_t pelems = pbytes / (fmt == MR_GEMM_I16 ? 2u : 1u); /* elements per panel */
    const int nd = src->nz_k1 <= 0;
    size_t k = 0;
    if (shift == 2 && fmt == MR_GEMM_I8)
        for (; k + 4 <= kc; k += 4) {
            const int64_t n = r0 + (int64_t)a, kk = k0 + (int64_t)k;
            const uint8_t *p0 = mr_i8_col_at(src, n, kk), *p1 = mr_i8_col_at(src, n, kk + 1);
            const uint8_t *p2 = mr_i8_col_at(src, n, kk + 2), *p3 = mr_i8_col_at(src, n, kk + 3);
            for (int q = 0; nd && q < 4; q++) /* ND rows lie far apart; NZ fractals are 512 consecutive bytes */
                mr_gemm_prefetch_row((const char *)p0 + (MR_GEMM_PREFETCH_ROWS + q) * src->cs, b - a,
                                     k + MR_GEMM_PREFETCH_ROWS + (size_t)q < kc);
            for (size_t r = a; r < b;) {
                const size_t p = r / panel, stop = (p + 1) * panel < b ? (p + 1) * panel : b;
                uint32_t *d = (uint32_t *)((char *)dst + p * pbytes) + (k >> 2) * panel;
#if defined(__SSE2__)
                for (; r + 16 <= stop; r += 16)
                    mr_interleave4x16(p0 + (r - a), p1 + (r - a), p2 + (r - a), p3 + (r - a), d + (r - p * panel));
#endif
                for (; r < stop; r++)
                    d[r - p * panel] = (uint32_t)p0[r - a] | (uint32_t)p1[r - a] << 8 | (uint32_t)p2[r - a] << 16 |
                           (uint32_t)p3[r - a] << 24;
            }
            if (colsum)
                for (size_t r = a; r < b; r++)
                    colsum[r] += (int8_t)p0[r - a] + (int8_t)p1[r - a] + (int8_t)p2[r - a] + (int8_t)p3[r - a];
        }
    for (; k < kc; k++) { /* one k at a time, reading b - a consecutive bytes */
        const int8_t *pk = (const int8_t *)mr_i8_col_at(src, r0 + (int64_t)a, k0 + (int64_t)k);
        for (size_t r = a; r < b; r++) {
            const size_t at = r / panel * pelems + mr_i8_at(r % panel, k, panel, shift);
            mr_i8_put(dst, at, fmt, pk[r - a]);
            if (colsum) colsum[r] += pk[r - a];
        }
    }
}

void mr_gemm_pack_i8(const mr_gemm_mat *src, int64_t r0, size_t rows, size_t panel, int64_t k0, size_t kc,
                     size_t kcp, unsigned kgroup, mr_gemm_i8_fmt fmt, void *dst, int32_t *colsum)
{
    const unsigned shift = (unsigned)__builtin_ctz(kgroup);
    const size_t np = (rows + panel - 1) / panel, pbytes = mr_gemm_i8_panel_bytes(panel, kcp, kgroup, fmt);
    const size_t pelems = pbytes / (fmt == MR_GEMM_I16 ? 2u : 1u); /* elements per panel */
    /* the loops below write every real (row, k); zero only the padding: the last panel's rows past `rows`
     * (the whole panel, simpler) and, in every panel, the groups of k from the one holding k = kc on */
    if (rows < np * panel) memset((char *)dst + (np - 1) * pbytes, 0, pbytes);
    if (kc < kcp) {
        const size_t gbytes = pbytes / (kcp >> shift); /* bytes of one group of k */
        const size_t tail = (kc >> shift) * gbytes;    /* the groups before the one holding k = kc */
        for (size_t p = 0; p < np; p++) memset((char *)dst + p * pbytes + tail, 0, pbytes - tail);
    }
    if (src->nz_k1 > 0 || (src->rs == 1 && rows > 1)) {
        /* columns consecutive for each k: an ND weight as a whole, FRACTAL_NZ one 32-column block at a time */
        for (size_t a = 0; a < rows;) {
            size_t b = rows;
            if (src->nz_k1 > 0 && a + 32 - (size_t)((r0 + (int64_t)a) & 31) < rows)
                b = a + 32 - (size_t)((r0 + (int64_t)a) & 31);
            mr_pack_i8_cols(src, r0, a, b, panel, k0, kc, shift, fmt, pbytes, dst, colsum);
            a = b;
        }
        return;
    }
    /* otherwise one row at a time along k (x, a transposed weight: cs = 1) */
    for (size_t r = 0; r < rows; r++) {
        const int8_t *p = (const int8_t *)mr_gemm_at(src, r0 + (int64_t)r, k0, 1);
        const int64_t cs = src->cs;
        const size_t pbase = r / panel * pelems, rr = r % panel;
        int32_t sum = 0;
        size_t k = 0;
        if (cs == 1 && fmt == MR_GEMM_I8 && kgroup >= 4) /* whole groups of bytes as they are (AMX: 64) */
            for (; k + kgroup <= kc; k += kgroup) {
                for (size_t i = 0; colsum && i < kgroup; i++) sum += p[k + i];
                memcpy((int8_t *)dst + pbase + mr_i8_at(rr, k, panel, shift), p + k, kgroup);
            }
        if (cs == 1 && fmt == MR_GEMM_U8 && kgroup == 4) /* whole groups: four bytes, sign bit flipped (+128) */
            for (; k + 4 <= kc; k += 4) {
                uint32_t w;
                memcpy(&w, p + k, 4);
                sum += p[k] + p[k + 1] + p[k + 2] + p[k + 3];
                w ^= 0x80808080u;
                memcpy((uint8_t *)dst + pbase + mr_i8_at(rr, k, panel, shift), &w, 4);
            }
        for (; k < kc; k++) {
            const int8_t v = p[(int64_t)k * cs];
            sum += v;
            mr_i8_put(dst, pbase + mr_i8_at(rr, k, panel, shift), fmt, v);
        }
        if (colsum) colsum[r] += sum;
    }
}
