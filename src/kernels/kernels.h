/* Kernel interfaces. Kernels are pure functions: no allocation, no threads, no status, no global state.
 * Each family has one folder; each ISA variant one file named <family>_<isa>.c, and the function names
 * encode dtype, op and ISA: mr_<src>_<op>_<dst>__<isa>. The dispatch layer (src/dispatch) fills an
 * mr_kernel_table best-first, ending in the scalar variants that every build has. */
#ifndef MR_KERNELS_H
#define MR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Element types of x, used as an index into the per-dtype kernel arrays. */
typedef enum mr_xtype { MR_X_F16 = 0, MR_X_BF16 = 1, MR_X_F32 = 2, MR_X_COUNT = 3 } mr_xtype;

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

typedef struct mr_kernel_table {
    int isa;                          /* the moeroute_isa these kernels belong to                */
    mr_quant_fn quant[MR_X_COUNT];    /* indexed by mr_xtype                                     */
    mr_copy_fn copy;                  /* cached stores                                           */
    mr_copy_fn copy_stream;           /* non-temporal stores                                     */
} mr_kernel_table;

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

#endif /* MR_KERNELS_H */
