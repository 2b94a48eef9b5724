/* The GEMM kernel family (docs/operators/grouped_matmul.md "Kernels"): packed-panel micro-kernels, one file
 * per ISA, and the ISA-independent packing routines that feed them. Reused by every operator that multiplies
 * matrices (GroupedMatmul, and the fused SwiGLU/quant operators built on it).
 *
 * How a caller computes C[M][N] = A[M][K] . B[K][N] with these pieces:
 *   for each block of kc consecutive k (ascending), each block of columns, each group of `mr` rows:
 *       pack A rows into an mr-row panel, B columns into nr-column panels (mr_gemm_pack_*),
 *       call the micro-kernel on every (mr x nr) tile of an fp32 / int32 scratch C, with load_c = 0 for
 *       the first k block and 1 after it;
 *   then an epilogue reads the scratch C (bias, scales, rounding to the output type).
 * Kernels are pure: no allocation, threads, status or global state; the caller owns every buffer.
 *
 * Numerics, identical on every ISA (the scalar file is the definition):
 *   float: c = (load_c ? c : +0);  for k ascending: c = fma(a[k], b[k], c)  -- the exact product added to
 *          the fp32 accumulator with one fp32 round-to-nearest-even per step (a fused multiply-add). For
 *          fp16 and bf16 inputs the product is exact in fp32 (barring bf16 under/overflow), so this equals
 *          an fp32 multiply then an fp32 add. Vectorized across output columns only, never along k.
 *   int8:  c = (load_c ? c : 0) + sum_k a[k] * b[k], exact in int32 for K <= 65535 (any order gives the same
 *          sum, so the AMX tiles, whose order inside a tile step is the hardware's, give the same bytes). */
#ifndef MR_KERNELS_GEMM_H
#define MR_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Element types a packing routine reads. */
typedef enum mr_gemm_src_type { MR_GEMM_SRC_F16, MR_GEMM_SRC_BF16, MR_GEMM_SRC_F32, MR_GEMM_SRC_I8 } mr_gemm_src_type;

/* A strided source matrix: element (r, k) at data + (r*rs + k*cs) * element size; strides in elements, any
 * sign. A is (m, k); B is read as (n, k), i.e. rs steps along N and cs along K of the weight.
 * nz_k1 > 0 (int8 B only): the weight is one expert of a FRACTAL_NZ tensor (layer spec 8.1) with
 * K1 = ceil(K / 16) = nz_k1; element (n, k) is the byte at data + (((n/32)*K1 + k/16)*16 + k%16)*32 + n%32, and
 * rs, cs are not used. */
typedef struct mr_gemm_mat {
    const char *data;
    int64_t rs, cs;
    mr_gemm_src_type type;
    int64_t nz_k1;
} mr_gemm_mat;

/* Packed int8 formats. Panels hold groups of `kgroup` consecutive k per row: [ceil(kc/kgroup)][rows][kgroup].
 *   I8:  int8 values (kgroup 1, the scalar kernel; kgroup 2 and 4, the AArch64 smull/sadalp and sdot kernels;
 *        kgroup 4 for the B panels of avx512-vnni and AMX, 64 for AMX's A panels: one tile row of 64 k)
 *   I16: int16 values (kgroup 2: vpmaddwd pairs)
 *   U8:  uint8 = value + 128 (kgroup 4: vpdpbusd needs unsigned x signed; the caller subtracts
 *        128 * (column sum of B) afterwards, see mr_gemm_pack_i8's colsum) */
typedef enum mr_gemm_i8_fmt { MR_GEMM_I8, MR_GEMM_I16, MR_GEMM_U8 } mr_gemm_i8_fmt;

/* Panels: `rows` source rows packed as ceil(rows / panel) consecutive panels of `panel` rows each (rows past
 * `rows` zero); one call packs an A panel (rows <= mr) or a whole block of B panels (panel = nr), which reads an
 * ND weight's rows contiguously across all of its panels.
 * f32: panel p holds dst[p][k][i] = f32(src(r0 + p*panel + i, k0 + k)) for k < kc: exact widening. */
void mr_gemm_pack_f32(const mr_gemm_mat *src, int64_t r0, size_t rows, size_t panel, int64_t k0, size_t kc,
                      float *dst);

/* The interleave of two bf16 weight rows into pair panels: a config's (bf16_pairs below), or NULL for the
 * portable one. */
typedef void (*mr_gemm_pairs_fn)(const char *p0, const char *p1, size_t n, uint16_t *d, size_t panel, size_t pstride);

/* bf16 pairs (type MR_GEMM_SRC_BF16 only; the B panels of a config's bf16 kernel): panel p holds, for every pair
 * of k, the two bf16 bit patterns of each row side by side: dst[p][kk][i][j] = bits(src(r0 + p*panel + i,
 * k0 + 2*kk + j)) for j = 0, 1, i.e. one little-endian 32-bit word per row and pair whose high half is the odd k.
 * kc odd: the last pair's second half is 0 (the kernel never multiplies it); rows past `rows` are 0. A panel
 * holds mr_gemm_bf16x2_panel_elems(panel, kc) uint16 values. No rounding: the kernel widens exactly. */
void mr_gemm_pack_bf16x2(const mr_gemm_mat *src, int64_t r0, size_t rows, size_t panel, int64_t k0, size_t kc,
                         uint16_t *dst, mr_gemm_pairs_fn pairs);
static inline size_t mr_gemm_bf16x2_panel_elems(size_t panel, size_t kc) { return (kc + 1) / 2 * 2 * panel; }

/* fp16 halves (type MR_GEMM_SRC_F16 only; the B panels of a config's fp16 kernel): panel p holds the fp16 bit
 * patterns as they are, dst[p][k][i] = bits(src(r0 + p*panel + i, k0 + k)) for k < kc (rows past `rows` are 0):
 * the f32 panel's layout at half the bytes; the kernel widens exactly (F16C). */
void mr_gemm_pack_f16h(const mr_gemm_mat *src, int64_t r0, size_t rows, size_t panel, int64_t k0, size_t kc,
                       uint16_t *dst);

/* int8 (type MR_GEMM_SRC_I8) into `fmt` with groups of `kgroup` (a power of two) k, panels of
 * mr_gemm_i8_panel_bytes(panel, kcp, kgroup, fmt) bytes, where kcp >= kc is a multiple of kgroup (the kernel's
 * k padding, mr_gemm_i8_kpad): k positions in [kc, kcp) and rows past `rows` are zero bytes (in the U8 format
 * that stands for -128: harmless, since the B panel's padding positions are zero and padded rows of C are never
 * read). When colsum is not NULL, colsum[r] += sum over the kc real k of src(r0 + r, k0 + k) for r < rows. */
void mr_gemm_pack_i8(const mr_gemm_mat *src, int64_t r0, size_t rows, size_t panel, int64_t k0, size_t kc,
                     size_t kcp, unsigned kgroup, mr_gemm_i8_fmt fmt, void *dst, int32_t *colsum);

/* Bytes of one packed int8 panel of `panel` rows. */
static inline size_t mr_gemm_i8_panel_bytes(size_t panel, size_t kc, unsigned kgroup, mr_gemm_i8_fmt fmt)
{
    return (kc + kgroup - 1) / kgroup * kgroup * panel * (fmt == MR_GEMM_I16 ? 2u : 1u);
}

/* Micro-kernels on one mr x nr tile of C (row stride ldc elements), a = packed A panel [kc][mr] (f32) or
 * [kgroups][mr][kgroup], b = packed B panel [kc][nr] or [kgroups][nr][kgroup]. load_c = 0: the accumulator
 * starts at +0 (float) / 0 (int); 1: at the values in C. */
typedef void (*mr_gemm_f32_fn)(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c);
typedef void (*mr_gemm_i8_fn)(size_t kgroups, const void *a, const void *b, int32_t *c, size_t ldc, int load_c);
/* 16-bit B: a = packed fp32 A panel [kc][mr] (mr_gemm_pack_f32), b = a bf16-pair B panel (mr_gemm_pack_bf16x2;
 * the config's bf16 kernel) or an fp16-halves one (mr_gemm_pack_f16h; its f16 kernel). The same numbers as the f32
 * kernel on the widened operands (widening bf16 and fp16 is exact): only the B panel is half the bytes, so packing
 * writes half and packed weights take half the memory. rows (1..mr): the panel's real rows; the kernel may compute
 * only those (C rows from `rows` on are then neither read nor written). */
typedef void (*mr_gemm_bf16_fn)(size_t kc, const float *a, const uint16_t *b, float *c, size_t ldc, int load_c,
                                size_t rows);

typedef struct mr_gemm_config {
    int isa;                  /* the moeroute_isa level                                               */
    const char *name;         /* for messages and benchmarks: "scalar", "avx2", "avx512", "avx512-vnni",
                                 "avx512-amx", "neon", "neon-dotprod" */
    unsigned f32_mr, f32_nr;
    mr_gemm_f32_fn f32;
    unsigned i8_mr, i8_nr, i8_kgroup; /* i8_kgroup: the B panel's group of k (and A's unless i8_a_kgroup) */
    mr_gemm_i8_fmt i8_a_fmt, i8_b_fmt;
    mr_gemm_i8_fn i8;
    /* Optional (0 / NULL for the register kernels): A's own group of k (AMX: 64, a whole tile row), and
     * per-thread set-up / tear-down a caller runs around a series of i8 kernel calls on one thread (AMX: load
     * the tile configuration, release the tiles). Both panels are padded in k to the larger of the two
     * groups, and the kernel is called with kgroups = padded k / i8_kgroup. */
    unsigned i8_a_kgroup;
    void (*i8_enter)(void);
    void (*i8_leave)(void);
    /* Optional: the int8 k block this kernel prefers (0: the operator's default). AMX: 4096, since a tile step
     * is so short that re-reading the int32 C tile at every k block would cost as much as the products. */
    unsigned i8_kc;
    /* Optional (NULL: that type runs on the f32 kernel with fp32 panels): kernels on 16-bit B panels, bf16 x bf16
     * on bf16 pairs and fp16 x fp16 on fp16 halves, and the tile they share (0 when the config has neither). */
    unsigned half_mr, half_nr;
    mr_gemm_bf16_fn bf16, f16;
    /* Optional (NULL: the portable SSE2 / scalar loop): the bf16-pair packing's interleave of two weight rows into
     * panels of `panel` columns `pstride` elements apart: column j of p0 and p1 (0 when p1 is NULL) for j < n goes
     * to q[2i] and q[2i + 1], q = d + (j / panel) * pstride, i = j % panel (16-bit values; the same bytes either
     * way). One call per pair of rows. */
    mr_gemm_pairs_fn bf16_pairs;
} mr_gemm_config;

/* Whether config g multiplies operands of type t with its bf16-pair kernel. */
static inline int mr_gemm_uses_bf16x2(const mr_gemm_config *g, mr_gemm_src_type t)
{
    return t == MR_GEMM_SRC_BF16 && g->bf16 != NULL;
}

/* Whether config g multiplies fp16 operands with its fp16-halves kernel. */
static inline int mr_gemm_uses_f16h(const mr_gemm_config *g, mr_gemm_src_type t)
{
    return t == MR_GEMM_SRC_F16 && g->f16 != NULL;
}

/* The config's kernel on 16-bit B panels for operands of type t (bf16 pairs or fp16 halves), NULL when t runs on
 * the f32 kernel; its tile is half_mr x half_nr. */
static inline mr_gemm_bf16_fn mr_gemm_half_kernel(const mr_gemm_config *g, mr_gemm_src_type t)
{
    return mr_gemm_uses_bf16x2(g, t) ? g->bf16 : mr_gemm_uses_f16h(g, t) ? g->f16 : NULL;
}

/* A's group of k, and a k block of kc padded as both panels of config g need it. */
static inline unsigned mr_gemm_i8_a_kgroup(const mr_gemm_config *g) { return g->i8_a_kgroup ? g->i8_a_kgroup : g->i8_kgroup; }
static inline size_t mr_gemm_i8_kpad(const mr_gemm_config *g, size_t kc)
{
    const size_t a = mr_gemm_i8_a_kgroup(g), q = a > g->i8_kgroup ? a : g->i8_kgroup;
    return (kc + q - 1) / q * q;
}

void mr_gemm_f32_4x16__scalar(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c);
void mr_gemm_i8_4x16__scalar(size_t kgroups, const void *a, const void *b, int32_t *c, size_t ldc, int load_c);
void mr_gemm_f32_6x16__avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c);
void mr_gemm_i16_6x16__avx2(size_t kgroups, const void *a, const void *b, int32_t *c, size_t ldc, int load_c);
void mr_gemm_f32_6x32__avx512(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c);
/* 12 rows x 32 columns, 24 zmm accumulators: each 32-bit word of the B panel gives the even k's bf16 by a shift
 * and the odd k's by a mask, so the widening costs one ALU operation per 24 FMAs; a panel of at most 4 or 8 real
 * rows runs a 4- or 8-row loop. */
void mr_gemm_bf16x2_12x32__avx512(size_t kc, const float *a, const uint16_t *b, float *c, size_t ldc, int load_c,
                                  size_t rows);
/* 12 rows x 32 columns on fp16-halves B panels: two F16C conversions (vcvtph2ps) per k widen the 32 columns
 * before the same FMA chain; 4-, 8- or 12-row loops as for bf16. */
void mr_gemm_f16_12x32__avx512(size_t kc, const float *a, const uint16_t *b, float *c, size_t ldc, int load_c,
                               size_t rows);
/* mr_gemm_config.bf16_pairs at 32 columns per step (word unpacks of two zmm rows, then a 64-bit permute that puts
 * the 128-bit lanes in order; masked loads and stores for the last columns). */
void mr_gemm_bf16_pairs__avx512(const char *p0, const char *p1, size_t n, uint16_t *d, size_t panel, size_t pstride);
void mr_gemm_i16_6x32__avx512(size_t kgroups, const void *a, const void *b, int32_t *c, size_t ldc, int load_c);
/* AMX-INT8 (gemm_amx.c): a 32 x 32 tile of C as four 16 x 16 int32 tiles; A panels with groups of 64 k (one tile
 * row), B panels with groups of 4 k (the VNNI layout tiles need), kgroups a multiple of 16. Between
 * mr_gemm_amx_enter and mr_gemm_amx_leave on the calling thread only. */
void mr_gemm_i8_32x32__amx(size_t kgroups, const void *a, const void *b, int32_t *c, size_t ldc, int load_c);
void mr_gemm_amx_enter(void);
void mr_gemm_amx_leave(void);
void mr_gemm_u8i8_6x32__avx512vnni(size_t kgroups, const void *a, const void *b, int32_t *c, size_t ldc,
                                   int load_c);
void mr_gemm_f32_6x16__neon(size_t kc, const float *a, const float *b, float *c, size_t ldc, int load_c);
void mr_gemm_i8x2_6x16__neon(size_t kgroups, const void *a, const void *b, int32_t *c, size_t ldc, int load_c);
void mr_gemm_i8x4_6x16__neon_dot(size_t kgroups, const void *a, const void *b, int32_t *c, size_t ldc, int load_c);

#endif /* MR_KERNELS_GEMM_H */
