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
#define MOEROUTE_VERSION_MINOR 2
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
    MOEROUTE_ERR_INVALID_OPTION = 9, /* an option (thread count, ISA) has a value outside its range    */
    MOEROUTE_ERR_INVALID_ARGS_SIZE = 10 /* an args struct's struct_size is smaller than its first layout */
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

/* Most threads a context may use (num_threads above it is refused; MOEROUTE_NUM_THREADS above it is capped). */
#define MOEROUTE_MAX_THREADS 1024

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
 * Errors: MOEROUTE_ERR_NULL_POINTER (out NULL), MOEROUTE_ERR_INVALID_OPTION (num_threads < 0 or above
 *         MOEROUTE_MAX_THREADS, isa not a
 *         moeroute_isa value), MOEROUTE_ERR_OUT_OF_MEMORY.
 */
MOEROUTE_API moeroute_status moeroute_context_create(const moeroute_options *options, moeroute_context **out);

/* moeroute_context_destroy: release a context and its threads. NULL is a no-op. */
MOEROUTE_API void moeroute_context_destroy(moeroute_context *ctx);

/* What a context resolved its options to: the ISA level its kernels use (never MOEROUTE_ISA_AUTO) and its
 * thread count including the caller. NULL gives the values a call without a context uses. */
MOEROUTE_API moeroute_isa moeroute_context_isa(const moeroute_context *ctx);
MOEROUTE_API int32_t moeroute_context_threads(const moeroute_context *ctx);

/* Arguments of moeroute_init_routing. Strides count elements, not bytes, and may be zero or negative.
 * struct_size: sizeof(moeroute_init_routing_args), so the struct can grow (see the routing family below). */
typedef struct moeroute_init_routing_args {
    size_t struct_size;
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
 * The routing family (docs/operators/). Every args struct below starts with struct_size: set it to
 * sizeof(the struct) so later versions can add fields at the end and still read what older callers pass.
 * A struct_size smaller than the first published layout is refused (MOEROUTE_ERR_INVALID_ARGS_SIZE).
 * The native API applies the operators' semantic rules only, not the NPU's capacity limits.
 * Strides count elements; x and expert_idx may be any strided 2-D view; the other arrays are contiguous.
 */

/* MoeInitRoutingV2 / MoeInitRoutingQuantV2 (docs/operators/init_routing_v2.md). */
typedef struct moeroute_init_routing_v2_args {
    size_t struct_size;
    int64_t num_rows;            /* N >= 0                                                               */
    int64_t k;                   /* K >= 0                                                               */
    int64_t hidden;              /* H >= 0                                                               */
    int64_t active_num;          /* dropless: rows written, 0 = all N*K                                  */
    int64_t expert_capacity;     /* C: drop mode 1 <= C <= N                                             */
    int64_t expert_num;          /* E                                                                    */
    int32_t drop_pad_mode;       /* 0 dropless, 1 drop & pad                                             */
    int32_t count_flag;          /* dropless: 0 none, 1 inclusive cumsum, 2 count -> expert_tokens       */
    int32_t before_capacity_flag;/* drop: 1 -> expert_tokens_before_capacity                            */
    int32_t quant_mode;          /* -1 none (V2), 0 static int8, 1 dynamic int8 (QuantV2)                */
    moeroute_dtype x_dtype;      /* FLOAT16, BFLOAT16, FLOAT32                                           */
    const void *x;
    int64_t x_row_stride;
    int64_t x_col_stride;
    const int32_t *expert_idx;
    int64_t expert_row_stride;
    int64_t expert_col_stride;
    const float *scale;          /* static: scale[0]; dynamic: NULL or smooth factors [scale_rows, H]    */
    int64_t scale_rows;          /* dynamic: 1 (shared) or E (per expert)                                */
    const float *offset;         /* static: offset[0]                                                    */
    void *expanded_x;            /* dropless [A, H]; drop [E, C, H]; int8 when quant_mode >= 0           */
    int32_t *expanded_row_idx;   /* [N*K]                                                                */
    int32_t *expert_tokens;      /* [E] when count_flag != 0 (dropless)                                  */
    int32_t *expert_tokens_before_capacity; /* [E] when before_capacity_flag (drop)                     */
    float *dynamic_quant_scale;  /* [A] or [E*C] when quant_mode == 1                                    */
} moeroute_init_routing_v2_args;

/* Errors as moeroute_init_routing, plus MOEROUTE_ERR_INVALID_SHAPE for attribute values outside their
 * documented sets and MOEROUTE_ERR_INVALID_VALUE for an expert id outside [0, E) where E indexes (drop mode,
 * counts, per-expert smooth factors). */
MOEROUTE_API moeroute_status moeroute_init_routing_v2(moeroute_context *ctx, const moeroute_init_routing_v2_args *args);

/* MoeInitRoutingV3 (docs/operators/init_routing_v3.md): dropless, expert range, int64 token numbers. */
typedef struct moeroute_init_routing_v3_args {
    size_t struct_size;
    int64_t num_rows;            /* N >= 0                                                               */
    int64_t k;                   /* K >= 0                                                               */
    int64_t hidden;              /* H >= 0                                                               */
    int64_t expert_num;          /* E >= 1                                                               */
    int64_t range_start;         /* experts in [range_start, range_end) are routed; 0, 0 = [0, E)        */
    int64_t range_end;
    int32_t tokens_num_type;     /* 1 count [end - start], 2 (id, count) pairs [E, 2]                    */
    int32_t quant_mode;          /* -1 none, 1 dynamic int8                                              */
    int32_t row_idx_type;        /* 0 gather (by flat position), 1 scatter (by expanded row)             */
    moeroute_dtype x_dtype;      /* FLOAT16, BFLOAT16, FLOAT32, or INT8 with quant_mode -1               */
    const void *x;
    int64_t x_row_stride;
    int64_t x_col_stride;
    const int32_t *expert_idx;
    int64_t expert_row_stride;
    int64_t expert_col_stride;
    const float *scale;          /* quant -1: NULL or [N] carried; quant 1: NULL or smooth [end-start, H] */
    void *expanded_x;            /* [N*K, H]; rows from the routed count on are not written              */
    int32_t *expanded_row_idx;   /* [N*K]                                                                */
    int64_t *expert_tokens;      /* type 1 [end - start], type 2 [E, 2]                                  */
    float *expanded_scale;       /* [N*K]; may be NULL when quant_mode -1 and scale NULL                 */
} moeroute_init_routing_v3_args;

MOEROUTE_API moeroute_status moeroute_init_routing_v3(moeroute_context *ctx, const moeroute_init_routing_v3_args *args);

/* MoeComputeExpertTokens (docs/operators/compute_expert_tokens.md): out[e] = #{i : sorted_experts[i] <= e}. */
typedef struct moeroute_compute_expert_tokens_args {
    size_t struct_size;
    int64_t length;              /* entries of sorted_experts (ascending, each in [0, num_experts))      */
    int64_t num_experts;         /* >= 1                                                                 */
    const int32_t *sorted_experts;
    int32_t *out;                /* [num_experts]                                                        */
} moeroute_compute_expert_tokens_args;

MOEROUTE_API moeroute_status moeroute_compute_expert_tokens(moeroute_context *ctx,
                                                            const moeroute_compute_expert_tokens_args *args);

/* MoeTokenPermute (docs/operators/token_permute.md): copies grouped by expert, num_out_tokens rows. */
typedef struct moeroute_token_permute_args {
    size_t struct_size;
    int64_t num_tokens;          /* T >= 0                                                               */
    int64_t k;                   /* copies per token >= 1                                                */
    int64_t hidden;              /* H >= 0: elements per token row                                       */
    int64_t num_out_tokens;      /* 0: all T*k rows; > 0: that many (at most T*k); < 0: T*k + value      */
    moeroute_dtype tokens_dtype; /* FLOAT16, BFLOAT16, FLOAT32 or INT8 (bit copies)                      */
    const void *tokens;          /* element (t, h) at tokens[t * tokens_row_stride + h * tokens_col_stride] */
    int64_t tokens_row_stride;
    int64_t tokens_col_stride;
    int32_t indices_int64;       /* 0: indices are int32; 1: int64 (each must fit int32)                 */
    const void *indices;         /* element (t, j) at indices[t * indices_row_stride + j * indices_col_stride] */
    int64_t indices_row_stride;
    int64_t indices_col_stride;
    void *permuted_tokens;       /* [n, H] contiguous, tokens_dtype                                      */
    int32_t *sorted_indices;     /* [T*k]                                                                */
} moeroute_token_permute_args;

MOEROUTE_API moeroute_status moeroute_token_permute(moeroute_context *ctx, const moeroute_token_permute_args *args);

/*
 * The combine operators (docs/operators/token_unpermute.md, finalize_routing.md): every output row is the sum of
 * its slots' expert rows, in strict slot order. Results are bit-identical for every thread count and ISA level.
 * Pointers for the optional arrays: NULL means "not given" (it changes what is computed), also for an array
 * with no elements, so pass any non-NULL pointer for a given but empty array. A required array may be NULL
 * only where it has no elements. Errors (nothing is written by a refused call):
 *   MOEROUTE_ERR_NULL_POINTER   args NULL, or a non-empty required array given as NULL
 *   MOEROUTE_ERR_INVALID_DTYPE  a dtype outside the sets below
 *   MOEROUTE_ERR_INVALID_SHAPE  a negative dimension, an attribute outside its set, dimensions that disagree
 *   MOEROUTE_ERR_TOO_LARGE      a size product or a view's extent overflows
 *   MOEROUTE_ERR_INVALID_VALUE  an index read by a kept slot is out of range (names the first position)
 *   MOEROUTE_ERR_ALIASING       out overlaps an input
 */

/* MoeTokenUnpermute (aclnnMoeTokenUnpermute, torch_npu npu_moe_token_unpermute):
 *   out[t] = sum over j = 0..k-1 of permuted_tokens[sorted_indices[t*k + j]] * probs[t][j], in fp32, rounded once.
 * A slot is skipped when its index is >= permuted_rows or its probability is +-0; a kept slot with a negative
 * index is refused (MOEROUTE_ERR_INVALID_VALUE). */
typedef struct moeroute_token_unpermute_args {
    size_t struct_size;
    int64_t num_tokens;          /* T >= 0: rows of out                                                  */
    int64_t k;                   /* slots per token >= 0; 1 without probs                                 */
    int64_t hidden;              /* H >= 0                                                               */
    int64_t permuted_rows;       /* M >= 0: rows of permuted_tokens (may differ from T*k)                 */
    moeroute_dtype tokens_dtype; /* FLOAT16, BFLOAT16 or FLOAT32; also the dtype of out                   */
    const void *permuted_tokens; /* element (r, h) at permuted_tokens[r * row_stride + h * col_stride]    */
    int64_t permuted_row_stride;
    int64_t permuted_col_stride;
    const int32_t *sorted_indices; /* [T*k] contiguous: the row of slot j of token t at t*k + j           */
    moeroute_dtype probs_dtype;  /* FLOAT16, BFLOAT16 or FLOAT32, any with any tokens_dtype (probs given)  */
    /* NULL: no weighting (k must be 1); else element (t, j) at probs[t * probs_row_stride + j * probs_col_stride] */
    const void *probs;
    int64_t probs_row_stride;
    int64_t probs_col_stride;
    void *out;                   /* [T, H] contiguous, tokens_dtype                                      */
} moeroute_token_unpermute_args;

MOEROUTE_API moeroute_status moeroute_token_unpermute(moeroute_context *ctx, const moeroute_token_unpermute_args *args);

/* MoeFinalizeRouting (version 1) and MoeFinalizeRoutingV2 (version 2; torch_npu npu_moe_finalize_routing):
 *   out[i] = x1[i] + x2[i] + sum over k of scales[i][k] * (expanded_x[r(i, k)] + bias[expert_idx[i][k]])
 * term by term in slot order, fp16 steps for FLOAT16 and fp32 otherwise; bf16 is stored ties-away (version 1)
 * or ties-to-even (version 2). r(i, k) = expanded_row_idx[i + k*N] (version 1, drop_pad_mode 0 and 1) or
 * [i*K + k] (drop_pad_mode 2 and 3); in drop_pad_mode 1 and 3 an index -1 skips the whole term.
 * Version 1 needs x1, bias, scales and expert_idx (only x2 is optional), drop_pad_mode 0, K >= 1,
 * num_experts >= 1 and expanded_rows >= N*K. Version 2: every array but expanded_x, expanded_row_idx and out is
 * optional; without scales K must be 1; a bias needs expert_idx and num_experts >= max(1, K) (drop_pad_mode 1
 * and 3: expanded_x is [E, C, H] with E = num_experts, so expanded_rows must be a multiple of it); expert_idx
 * without a bias is not read. */
typedef struct moeroute_finalize_routing_args {
    size_t struct_size;
    int32_t version;             /* 1: MoeFinalizeRouting, 2: MoeFinalizeRoutingV2                       */
    int32_t drop_pad_mode;       /* version 2: 0..3 (see above); version 1: 0                            */
    int64_t num_rows;            /* N >= 0: tokens, rows of out                                          */
    int64_t k;                   /* K: slots per token (>= 1)                                            */
    int64_t hidden;              /* H >= 0                                                               */
    int64_t expanded_rows;       /* M >= 0: rows of expanded_x (E*C of an [E, C, H] expanded_x in drop modes) */
    int64_t num_experts;         /* E: rows of bias (ignored without a bias)                             */
    moeroute_dtype x_dtype;      /* FLOAT16, BFLOAT16 or FLOAT32: expanded_x, x1, x2, bias and out       */
    moeroute_dtype scales_dtype; /* x_dtype, or FLOAT32 with BFLOAT16 x_dtype in version 2               */
    const void *expanded_x;      /* element (r, h) at expanded_x[r * row_stride + h * col_stride]        */
    int64_t expanded_x_row_stride;
    int64_t expanded_x_col_stride;
    const int32_t *expanded_row_idx; /* version 1: [M] (M >= N*K), version 2: [N*K]; contiguous           */
    const void *x1;              /* [N, H] contiguous, or NULL (version 2)                               */
    const void *x2;              /* [N, H] contiguous, or NULL                                           */
    const void *bias;            /* [E, H] contiguous, or NULL (version 2)                               */
    const void *scales;          /* [N, K] contiguous, or NULL (version 2: every scale is 1)             */
    const int32_t *expert_idx;   /* [N, K] contiguous: the expert of each slot, picks its bias row       */
    void *out;                   /* [N, H] contiguous, x_dtype                                           */
} moeroute_finalize_routing_args;

MOEROUTE_API moeroute_status moeroute_finalize_routing(moeroute_context *ctx,
                                                       const moeroute_finalize_routing_args *args);

/*
 * Struct descriptions for language bindings: moeroute_struct_layout("moeroute_init_routing_v2_args", &count,
 * &size) gives the fields of a public struct in order (name, byte offset, kind) and its size, so a binding
 * (ctypes, cffi) builds its mirror from the library it loaded instead of keeping a copy by hand. Names:
 * "moeroute_options", "moeroute_init_routing_args", "moeroute_init_routing_v2_args",
 * "moeroute_init_routing_v3_args", "moeroute_compute_expert_tokens_args", "moeroute_token_permute_args",
 * "moeroute_token_unpermute_args", "moeroute_finalize_routing_args". NULL for other names.
 */
typedef enum moeroute_field_kind {
    MOEROUTE_FIELD_INT32 = 1,   /* int32_t and the enums                                                */
    MOEROUTE_FIELD_INT64 = 2,
    MOEROUTE_FIELD_SIZE = 3,    /* size_t                                                               */
    MOEROUTE_FIELD_POINTER = 4,
    MOEROUTE_FIELD_DOUBLE = 5
} moeroute_field_kind;

typedef struct moeroute_field {
    const char *name;
    uint32_t offset;
    uint32_t kind; /* a moeroute_field_kind */
} moeroute_field;

MOEROUTE_API const moeroute_field *moeroute_struct_layout(const char *name, size_t *count, size_t *size);

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
