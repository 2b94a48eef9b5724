/*
 * moeroute.h -- native C API of moeroute, the CPU implementation of CANN's MoE init-routing operators.
 *
 * This header is the manual of the native API. The CANN-compatible API lives in "acl/acl.h" and
 * "aclnnop/aclnn_moe_init_routing*.h"; both APIs share one validation path and the same kernels, and give
 * the same bytes.
 *
 * What the operator does (spec section 1.4), for N tokens, K experts per token and hidden size H:
 *   1. sort the N*K flat positions f = r*K + j of expert_idx by expert id, stably (equal ids keep the smaller
 *      f first), ordering by the exact int32 value;
 *   2. expanded_expert_idx[i] = the i-th sorted expert id; sorted_row[i] = row_idx_flat[perm[i]];
 *   3. expanded_row_idx[sorted_row[i]] = i (the inverse map, indexed by the rowIdx VALUE);
 *   4. for the first A = min(N, active_num) * K sorted positions, expanded_x[i][:] = Q(x[sorted_row[i] % N][:])
 *      where Q is the static int8 quantization of spec 1.4 (expanded_x_dtype INT8) or a bit copy
 *      (expanded_x_dtype == x_dtype).
 *
 * Thread safety: every function is thread-safe except that one moeroute_context must not be used by two
 * calls at the same time (create one context per thread, or serialize). Error messages are kept per thread.
 */
#ifndef MOEROUTE_H
#define MOEROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "moeroute_export.h"

/* Version: MAJOR.MINOR.PATCH. CMake parses these three lines; keep their form. */
#define MOEROUTE_VERSION_MAJOR 0
#define MOEROUTE_VERSION_MINOR 1
#define MOEROUTE_VERSION_PATCH 0
#define MOEROUTE_VERSION_NUMBER \
    (MOEROUTE_VERSION_MAJOR * 10000 + MOEROUTE_VERSION_MINOR * 100 + MOEROUTE_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. The numbers are part of the ABI and never change. */
typedef enum moeroute_status {
    MOEROUTE_OK = 0,
    MOEROUTE_ERR_NULL_POINTER = 1,   /* a required pointer is NULL                                     */
    MOEROUTE_ERR_INVALID_DTYPE = 2,  /* dtype (or tensor format) not supported for that argument       */
    MOEROUTE_ERR_INVALID_SHAPE = 3,  /* a dimension, stride or attribute is out of range               */
    MOEROUTE_ERR_INVALID_VALUE = 4,  /* data-dependent: row_idx is not a permutation of 0..N*K-1       */
    MOEROUTE_ERR_TOO_LARGE = 5,      /* N*K beyond INT32_MAX, or a size product overflows              */
    MOEROUTE_ERR_ALIASING = 6,       /* an output overlaps an input or another output                  */
    MOEROUTE_ERR_WORKSPACE = 7,      /* the workspace given is smaller than the size asked for         */
    MOEROUTE_ERR_OUT_OF_MEMORY = 8,  /* the library could not allocate memory                         */
    MOEROUTE_ERR_INVALID_OPTION = 9  /* an option (thread count, ISA) has a value outside its range    */
} moeroute_status;

/* Element types. The numbers equal CANN's aclDataType values for the same type. */
typedef enum moeroute_dtype {
    MOEROUTE_DTYPE_FLOAT32 = 0,
    MOEROUTE_DTYPE_FLOAT16 = 1,
    MOEROUTE_DTYPE_INT8 = 2,
    MOEROUTE_DTYPE_INT32 = 3,
    MOEROUTE_DTYPE_BFLOAT16 = 27
} moeroute_dtype;

/* Instruction-set levels, best last. MOEROUTE_ISA_AUTO picks the best one the CPU and OS support. */
typedef enum moeroute_isa {
    MOEROUTE_ISA_AUTO = 0,
    MOEROUTE_ISA_SCALAR = 1, /* portable C, every machine                                  */
    MOEROUTE_ISA_AVX2 = 2,   /* x86-64 AVX2 + F16C                                         */
    MOEROUTE_ISA_AVX512 = 3, /* x86-64 AVX-512 F/BW/VL (+ F16C)                            */
    MOEROUTE_ISA_NEON = 4    /* AArch64 Advanced SIMD                                      */
} moeroute_isa;

/* Execution options. Zero-initialize, then set what you need: {0} means "defaults". */
typedef struct moeroute_options {
    /* Worker threads, including the caller. 0 = the environment variable MOEROUTE_NUM_THREADS if set,
     * else the number of cores available to the process. 1 = run on the calling thread only. */
    int32_t num_threads;
    /* Highest ISA level to use (a moeroute_isa). 0 = MOEROUTE_ISA_AUTO: the best level the CPU and OS
     * support, capped by the environment variable MOEROUTE_ISA (scalar, avx2, avx512, neon) when set.
     * Asking for a level the CPU lacks falls back to the best level below it. */
    int32_t isa;
} moeroute_options;

/* Opaque execution context: holds the options, the chosen kernels, the thread pool and a scratch
 * workspace that grows as needed, so repeated calls allocate nothing. Not safe for concurrent use. */
typedef struct moeroute_context moeroute_context;

/*
 * moeroute_context_create: make a context.
 *   options  NULL for defaults (all threads, best ISA); otherwise copied.
 *   out      receives the context; unchanged on error.
 * Errors: MOEROUTE_ERR_NULL_POINTER (out NULL), MOEROUTE_ERR_INVALID_OPTION (num_threads < 0, isa not a
 *         moeroute_isa value), MOEROUTE_ERR_OUT_OF_MEMORY.
 */
MOEROUTE_API moeroute_status moeroute_context_create(const moeroute_options *options, moeroute_context **out);

/* moeroute_context_destroy: release a context and its threads. NULL is a no-op. */
MOEROUTE_API void moeroute_context_destroy(moeroute_context *ctx);

/* What a context resolved its options to: the ISA level its kernels use (never MOEROUTE_ISA_AUTO) and its
 * thread count including the caller. NULL gives the values a call without a context uses. */
MOEROUTE_API moeroute_isa moeroute_context_isa(const moeroute_context *ctx);
MOEROUTE_API int32_t moeroute_context_threads(const moeroute_context *ctx);

/* Arguments of moeroute_init_routing. Strides count elements, not bytes, and may be zero or negative. */
typedef struct moeroute_init_routing_args {
    int64_t num_rows;   /* N >= 0: tokens                                                          */
    int64_t k;          /* K >= 0: experts per token                                               */
    int64_t hidden;     /* H >= 0: elements per token row                                          */
    int64_t active_num; /* >= 0: tokens whose K copies are written; clamped to N                   */

    moeroute_dtype x_dtype;       /* FLOAT16, BFLOAT16 or FLOAT32                                  */
    const void *x;                /* element (r, h) at x[r * x_row_stride + h * x_col_stride]      */
    int64_t x_row_stride;
    int64_t x_col_stride;

    const int32_t *expert_idx;    /* element (r, j) at expert_idx[r * expert_row_stride + j * expert_col_stride] */
    int64_t expert_row_stride;
    int64_t expert_col_stride;

    /* element (r, j) at row_idx[r * row_idx_row_stride + j * row_idx_col_stride]; must hold a permutation of
     * 0..N*K-1. NULL means the canonical layout row_idx[r][j] = j*N + r (what gating produces). */
    const int32_t *row_idx;
    int64_t row_idx_row_stride;
    int64_t row_idx_col_stride;

    /* INT8: static quantization with scale and offset (aclnnMoeInitRoutingQuant);
     * equal to x_dtype: bit copy (aclnnMoeInitRouting). */
    moeroute_dtype expanded_x_dtype;
    double scale;                 /* used for INT8 only; converted double -> float -> fp16 (spec 1.4) */
    double offset;

    void *expanded_x;             /* [min(N, active_num) * K, H], contiguous rows                  */
    int32_t *expanded_row_idx;    /* [N * K]                                                       */
    int32_t *expanded_expert_idx; /* [N * K]                                                       */
} moeroute_init_routing_args;

/*
 * moeroute_init_routing: route, and write the expanded (quantized or copied) rows.
 *   ctx   a context, or NULL for a one-shot call with default options (allocates its scratch per call).
 *   args  the arguments above.
 * Pointers may be NULL only where the array they stand for has no elements.
 * Aliasing: the three outputs must not overlap each other or any input (MOEROUTE_ERR_ALIASING).
 * Errors (the outputs are untouched by every refused call; a message is kept, see moeroute_error_message):
 *   MOEROUTE_ERR_NULL_POINTER   args NULL, or a non-empty array given as NULL
 *   MOEROUTE_ERR_INVALID_DTYPE  x_dtype not FLOAT16/BFLOAT16/FLOAT32, expanded_x_dtype neither INT8 nor x_dtype
 *   MOEROUTE_ERR_INVALID_SHAPE  a negative dimension or active_num
 *   MOEROUTE_ERR_TOO_LARGE      N*K > INT32_MAX or a byte size not representable in size_t
 *   MOEROUTE_ERR_INVALID_VALUE  row_idx is not a permutation of 0..N*K-1 (names the first bad position)
 *   MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_OUT_OF_MEMORY
 * Results are bit-identical for every thread count and ISA level.
 */
MOEROUTE_API moeroute_status moeroute_init_routing(moeroute_context *ctx, const moeroute_init_routing_args *args);

/*
 * moeroute_error_message: the messages of this thread's failed calls (native or CANN API), newest first,
 * and clears them. The pointer stays valid until this thread calls it (or aclGetRecentErrMsg) again.
 * Returns NULL when there is no message.
 */
MOEROUTE_API const char *moeroute_error_message(void);

/* moeroute_status_string: a constant English name for a status ("MOEROUTE_ERR_NULL_POINTER", ...). */
MOEROUTE_API const char *moeroute_status_string(moeroute_status status);

/* moeroute_version_string: "MAJOR.MINOR.PATCH" of the library actually linked. */
MOEROUTE_API const char *moeroute_version_string(void);

/* moeroute_isa_name: "scalar", "avx2", "avx512", "neon" or "auto"; NULL for other values. */
MOEROUTE_API const char *moeroute_isa_name(moeroute_isa isa);

/* moeroute_detected_isa: the best ISA level this CPU and OS support, before any MOEROUTE_ISA cap. */
MOEROUTE_API moeroute_isa moeroute_detected_isa(void);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_H */
