/* Kernel interfaces. Kernels are pure functions: no allocation, no threads, no status, no global state.
 * Each family has one folder; each ISA variant one file named <family>_<isa>.c, and the function names
 * encode dtype, op and ISA: mr_<src>_<op>_<dst>__<isa>. The dispatch layer (src/dispatch) keeps one config
 * per family, best ISA first and ending in the scalar variants that every build has (docs/framework.md). */
#ifndef MR_KERNELS_H
#define MR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Element types of x, used as an index into the per-dtype kernel arrays. */
typedef enum mr_xtype { MR_X_F16 = 0, MR_X_BF16 = 1, MR_X_F32 = 2, MR_X_COUNT = 3 } mr_xtype;

/* Bytes per element of an mr_xtype. */
static inline size_t mr_xtype_size(mr_xtype t) { return t == MR_X_F32 ? 4u : 2u; }

/* Static quantization constants, already rounded double -> float -> fp16 (spec 1.4) and held as the
 * float value of that fp16 number (exact). Kernels also get the fp16 bit patterns. */
typedef struct mr_quant_params {
    float scale;
    float offset;
    uint16_t scale_f16;
    uint16_t offset_f16;
} mr_quant_params;

/* y[i] = to_i8_rne(f16(f16(f16(x[i]) * s) + o)) for i < n; x and y contiguous, must not overlap.
 * Reads exactly n elements of x and writes exactly n bytes of y (tails are masked, never over-read). */
typedef void (*mr_quant_fn)(const void *x, int8_t *y, size_t n, const mr_quant_params *params);

/* Copy bytes; streaming variants bypass the cache (used when the output is larger than the last-level
 * cache). Non-overlapping buffers. Streaming stores are weakly ordered and a streaming variant does not
 * fence them: after its last streaming copy the caller issues one full fence
 * (atomic_thread_fence(memory_order_seq_cst)) before anyone may read the destination. */
typedef void (*mr_copy_fn)(void *dst, const void *src, size_t bytes);

/* Dynamic per-row int8 quantization (docs/operators/init_routing_v2.md "Dynamic quantization"), two passes
 * over a row of n elements of x (f16/bf16/f32 per mr_xtype) with optional fp32 smooth factors (NULL: none):
 *   absmax: m = max |v[h]|, v[h] = f32(x[h]) * smooth[h] in fp32; NaN is skipped by the max (m starts at 0).
 *   quant:  y[h] = round-half-away(v[h] / sc) in fp32, saturated to [-128, 127], NaN -> 0.
 *   quant_odd: y[h] = to_i8_rne(f16_round_to_odd(v[h] / sc)), the device's full-load path (spec 5.4). */
typedef float (*mr_dq_absmax_fn)(const void *x, const float *smooth, size_t n);
typedef void (*mr_dq_quant_fn)(const void *x, const float *smooth, size_t n, float sc, int8_t *y);

/* One config per kernel family, best ISA first; src/dispatch hands out the one for a resolved level. */
typedef struct mr_quant_config {
    int isa;                          /* the moeroute_isa these kernels belong to                */
    mr_quant_fn fn[MR_X_COUNT];       /* indexed by mr_xtype                                     */
} mr_quant_config;

typedef struct mr_copy_config {
    int isa;
    mr_copy_fn copy;                  /* cached stores                                           */
    mr_copy_fn copy_stream;           /* non-temporal stores                                     */
} mr_copy_config;

typedef struct mr_dquant_config {
    int isa;
    mr_dq_absmax_fn absmax[MR_X_COUNT];
    mr_dq_quant_fn quant[MR_X_COUNT];
    mr_dq_quant_fn quant_odd[MR_X_COUNT];
} mr_dquant_config;

/* dynamic quant family */
float mr_f16_absmax__scalar(const void *x, const float *smooth, size_t n);
float mr_bf16_absmax__scalar(const void *x, const float *smooth, size_t n);
float mr_f32_absmax__scalar(const void *x, const float *smooth, size_t n);
void mr_f16_dquant_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_bf16_dquant_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_f32_dquant_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_f16_dquant_odd_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_bf16_dquant_odd_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_f32_dquant_odd_i8__scalar(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
float mr_f16_absmax__avx2(const void *x, const float *smooth, size_t n);
float mr_bf16_absmax__avx2(const void *x, const float *smooth, size_t n);
float mr_f32_absmax__avx2(const void *x, const float *smooth, size_t n);
void mr_f16_dquant_i8__avx2(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_bf16_dquant_i8__avx2(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_f32_dquant_i8__avx2(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
float mr_f16_absmax__avx512(const void *x, const float *smooth, size_t n);
float mr_bf16_absmax__avx512(const void *x, const float *smooth, size_t n);
float mr_f32_absmax__avx512(const void *x, const float *smooth, size_t n);
void mr_f16_dquant_i8__avx512(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_bf16_dquant_i8__avx512(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_f32_dquant_i8__avx512(const void *x, const float *smooth, size_t n, float sc, int8_t *y);

/* quant family */
void mr_f16_quant_i8__scalar(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_bf16_quant_i8__scalar(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_f32_quant_i8__scalar(const void *x, int8_t *y, size_t n, const mr_quant_params *params);

/* copy family */
void mr_copy__scalar(void *dst, const void *src, size_t bytes);

/* One element through the quantization chain, fp16 input bits -> int8. The scalar kernels are built on it
 * and the operators use it to prepare constants; exposed for tests. */
int8_t mr_quant_f16_scalar_one(uint16_t a_f16, const mr_quant_params *params);

/* Round double -> float -> fp16 (two roundings, as the device kernel does) and fill params. */
void mr_quant_params_init(mr_quant_params *params, double scale, double offset);

/* ISA variants (compiled only where the compiler supports the flags; see src/CMakeLists.txt). The plain copy
 * has no SIMD variant: glibc's memcpy measured faster than 32- and 64-byte load/store loops on cached rows,
 * so only the streaming copy gains from its own kernel. */
void mr_f16_quant_i8__avx2(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_bf16_quant_i8__avx2(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_f32_quant_i8__avx2(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_copy_stream__avx2(void *dst, const void *src, size_t bytes);

void mr_f16_quant_i8__avx512(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_bf16_quant_i8__avx512(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_f32_quant_i8__avx512(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_copy_stream__avx512(void *dst, const void *src, size_t bytes);

void mr_f16_quant_i8__neon(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_bf16_quant_i8__neon(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
void mr_f32_quant_i8__neon(const void *x, int8_t *y, size_t n, const mr_quant_params *params);
float mr_f16_absmax__neon(const void *x, const float *smooth, size_t n);
float mr_bf16_absmax__neon(const void *x, const float *smooth, size_t n);
float mr_f32_absmax__neon(const void *x, const float *smooth, size_t n);
void mr_f16_dquant_i8__neon(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_bf16_dquant_i8__neon(const void *x, const float *smooth, size_t n, float sc, int8_t *y);
void mr_f32_dquant_i8__neon(const void *x, const float *smooth, size_t n, float sc, int8_t *y);

#endif /* MR_KERNELS_H */
