/*
 * moeroute.h -- native C API of moeroute, the CPU implementation of CANN's Mixture-of-Experts operators:
 * gating, routing, the expert MLP (grouped matmul, SwiGLU, quantization), the combine and, with
 * "hccl/hccl.h", expert parallelism (dispatch / combine over communicators).
 *
 * This header is the manual of the native API. The CANN-compatible API lives in "acl/acl.h" and
 * "aclnnop/aclnn_*.h"; both APIs share one validation path and the same kernels, and give the same bytes.
 *
 * The init-routing operators (moeroute_init_routing below; spec section 1.4), for N tokens, K experts per
 * token and hidden size H:
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
 *
 * Addresses: every array must start at a multiple of its element size (fp32 / int32 at 4 bytes, fp16 / bf16 at
 * 2, int64 at 8); a call given one that does not is refused with MOEROUTE_ERR_INVALID_VALUE and a message.
 *
 * fork(): the child of a process that has used the library may go on using it (Python's multiprocessing forks
 * by default on Linux). The parent's worker threads do not exist in the child, so a context created before the
 * fork runs its calls serially there (create a new context in the child for threads), destroying it is safe,
 * and the process-wide pool of the aclnn API and of NULL contexts is made anew in the child on first use.
 *
 * Floating-point environment: every call computes in the default one (round to nearest even, subnormals kept,
 * exceptions masked), whatever the calling thread has set (flush-to-zero / denormals-are-zero from -ffast-math
 * or torch.set_flush_denormal, fesetround, feenableexcept): the thread's MXCSR (x86) or FPCR (AArch64) is
 * switched for the call and restored before it returns, so results are the documented bytes and no call
 * traps. The library's worker threads always run in the default environment (docs/numerics.md).
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
    int64_t k;                   /* copies per token >= 0 (0: nothing to route)                          */
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

/* MoeReRouting (aclnnMoeReRouting, torch_npu npu_moe_re_routing; docs/operators/re_routing.md): the rows an
 * expert-parallel all-to-all delivered rank-major -- for source rank r = 0..R-1, its blocks for local experts
 * e = 0..E-1, block (r, e) holding counts[r][e] rows -- reordered expert-major (expert e's blocks from ranks
 * 0..R-1, then expert e+1), keeping the row order inside each block:
 *   permuted_tokens[d] = tokens[s] (bit copy), permuted_scales[d] = scales[s] (0.0f when scales is NULL),
 *   permuted_idx[d] = s (the source row of output row d), expert_tokens[e] = sum over r of counts[r][e].
 * The counts must be >= 0 and sum to num_rows; otherwise MOEROUTE_ERR_INVALID_VALUE (names the position) and
 * nothing is written. Other errors as for the combine operators above (MOEROUTE_ERR_TOO_LARGE also for
 * num_rows above INT32_MAX). Bit-identical for every thread count and ISA level. */
typedef struct moeroute_re_routing_args {
    size_t struct_size;
    int64_t num_rows;            /* A >= 0: rows of tokens, sum of the counts                            */
    int64_t hidden;              /* H >= 0                                                               */
    int64_t num_ranks;           /* R >= 1: source ranks (rows of counts)                                */
    int64_t num_experts;         /* E >= 1: local experts (columns of counts)                            */
    moeroute_dtype tokens_dtype; /* FLOAT16, BFLOAT16 or INT8 (bit copies)                               */
    const void *tokens;          /* element (a, h) at tokens[a * tokens_row_stride + h * tokens_col_stride] */
    int64_t tokens_row_stride;
    int64_t tokens_col_stride;
    int32_t counts_int64;        /* 0: counts and expert_tokens are int32; 1: int64                      */
    const void *counts;          /* element (r, e) at counts[r * counts_row_stride + e * counts_col_stride] */
    int64_t counts_row_stride;
    int64_t counts_col_stride;
    const float *scales;         /* NULL, or element a at scales[a * scales_stride]                      */
    int64_t scales_stride;
    void *permuted_tokens;       /* [A, H] contiguous, tokens_dtype                                      */
    float *permuted_scales;      /* [A]                                                                  */
    int32_t *permuted_idx;       /* [A]                                                                  */
    void *expert_tokens;         /* [E], int32 or int64 as the counts                                    */
} moeroute_re_routing_args;

MOEROUTE_API moeroute_status moeroute_re_routing(moeroute_context *ctx, const moeroute_re_routing_args *args);

/*
 * Gating (docs/operators/gating.md): per row of logits x [N, E], the k experts a token goes to and their
 * weights. Scores use the library's one exp / sigmoid (within 1 ulp of the correctly rounded fp32 value; the
 * same bits on every CPU, ISA level and thread count); sums run in ascending order. Selection is in
 * descending score order, ties to the lower expert index, NaN below every number. Errors (nothing is written
 * by a refused call): MOEROUTE_ERR_NULL_POINTER (args, or a non-empty required array NULL),
 * MOEROUTE_ERR_INVALID_DTYPE, MOEROUTE_ERR_INVALID_SHAPE (negative sizes, attributes outside their sets,
 * k outside its range, groups not dividing E), MOEROUTE_ERR_TOO_LARGE (E or N*k above INT32_MAX, extents
 * that overflow), MOEROUTE_ERR_ALIASING (an output overlaps an input or another output),
 * MOEROUTE_ERR_OUT_OF_MEMORY.
 */

/* MoeGatingTopK (aclnnMoeGatingTopK, torch_npu npu_moe_gating_top_k):
 *   s = sigmoid(x) (norm_type 1) or softmax(x) = exp(x - max) * f32(1 / sum) (norm_type 0);  b = s + bias
 *   groups (group_count > 1, != E, k_group != group_count): only the experts of the k_group best groups
 *   compete, a group scoring its best b (group_select_mode 0) or f32(sum of its two best b) (mode 1)
 *   expert_idx = the k best b;  w = s[expert_idx];  sigmoid: w = w / f32(sum w + eps);  w = w * scaling
 *   y = w rounded to x_dtype (RNE);  out = s (when out is not NULL)
 * renorm 1 (not in CANN's operator: vllm-ascend's own copy, torch.ops._C_ascend.moe_gating_top_k) also
 * divides softmax weights by their sum + eps. */
typedef struct moeroute_gating_top_k_args {
    size_t struct_size;
    int64_t num_rows;            /* N >= 0                                                               */
    int64_t num_experts;         /* E in [1, INT32_MAX]                                                  */
    int64_t k;                   /* 1 <= k <= min(E, k_group * E / group_count)                          */
    int64_t k_group;             /* 1 <= k_group <= group_count (1 without groups)                       */
    int64_t group_count;         /* >= 1, divides E (1 without groups)                                   */
    int32_t group_select_mode;   /* 0: group score = best b; 1: sum of the two best (needs E/group_count >= 2) */
    int32_t renorm;              /* 0 (CANN), or 1 (vllm-ascend's copy, see above)                         */
    int32_t norm_type;           /* 0 softmax, 1 sigmoid                                                 */
    double routed_scaling_factor; /* rounded to fp32 (CANN default 1.0)                                   */
    double eps;                  /* rounded to fp32 (CANN default 1e-20)                                 */
    moeroute_dtype x_dtype;      /* FLOAT16, BFLOAT16 or FLOAT32: x, bias and y                          */
    const void *x;               /* element (n, e) at x[n * x_row_stride + e * x_col_stride]             */
    int64_t x_row_stride;
    int64_t x_col_stride;
    const void *bias;            /* NULL, or element e at bias[e * bias_stride] (selection only)         */
    int64_t bias_stride;
    void *y;                     /* [N, k] contiguous, x_dtype                                           */
    int32_t *expert_idx;         /* [N, k]                                                               */
    float *out;                  /* NULL, or [N, E]: the normalised scores s                              */
} moeroute_gating_top_k_args;

MOEROUTE_API moeroute_status moeroute_gating_top_k(moeroute_context *ctx, const moeroute_gating_top_k_args *args);

/* MoeGatingTopKSoftmax (version 1) and MoeGatingTopKSoftmaxV2 (version 2; torch_npu
 * npu_moe_gating_top_k_softmax):
 *   p = exp(x - max) / sum;  expert_idx = the k largest p (E for every slot of a finished row);  y = those p
 *   (FLOAT16 RNE, BFLOAT16 ties away from zero);  version 1: row_idx[n][j] = j*N + n;
 *   version 2: softmax_out = p (when not NULL); renorm 1 selects the k largest x and y = softmax over them. */
typedef struct moeroute_gating_top_k_softmax_args {
    size_t struct_size;
    int32_t version;             /* 1 or 2                                                               */
    int32_t renorm;              /* version 2: 0 or 1; version 1: 0                                      */
    int64_t num_rows;            /* N >= 0                                                               */
    int64_t num_experts;         /* E in [1, INT32_MAX - 1] (finished rows get index E)                   */
    int64_t k;                   /* 1 <= k <= E                                                          */
    moeroute_dtype x_dtype;      /* FLOAT16, BFLOAT16 or FLOAT32: x and y                                */
    const void *x;               /* element (n, e) at x[n * x_row_stride + e * x_col_stride]             */
    int64_t x_row_stride;
    int64_t x_col_stride;
    const uint8_t *finished;     /* NULL, or element n at finished[n * finished_stride] (non-zero: true) */
    int64_t finished_stride;
    void *y;                     /* [N, k] contiguous, x_dtype                                           */
    int32_t *expert_idx;         /* [N, k]                                                               */
    int32_t *row_idx;            /* version 1: [N, k]; version 2: must be NULL                           */
    float *softmax_out;          /* version 2 with renorm 0: NULL or [N, E]; otherwise must be NULL       */
} moeroute_gating_top_k_softmax_args;

MOEROUTE_API moeroute_status moeroute_gating_top_k_softmax(moeroute_context *ctx,
                                                           const moeroute_gating_top_k_softmax_args *args);

/* GroupedMatmul (aclnnGroupedMatmulV4 / V3, torch_npu npu_grouped_matmul; docs/operators/grouped_matmul.md),
 * the MoE subset: the rows of x [M, K] form consecutive groups and each group is multiplied by the weight
 * [K, N] of its expert:
 *   group_list_type 0: group g is rows [list[g-1], list[g]) on weight g (a cumsum; list[-1] = 0)
 *                   1: group g is the next list[g] rows on weight g (counts)
 *                   2: list [G, 2] of (expert, count) pairs: the next count rows on weight expert
 *   float x (FLOAT16, BFLOAT16, FLOAT32):  acc = +0;  for k ascending: acc = fma(x[m][k], w[k][n], acc) in fp32
 *       (the exact product added with one fp32 rounding);  acc = acc + bias[e][n];  out = RNE(acc -> x_dtype)
 *   INT8 x:  a = sum over k of x*w (exact int32) + bias[e][n] (int32, wrapping);  out = a (out_dtype INT32),
 *       or out = RNE(f32(a) * scale[e][n] * per_token_scale[m] -> BFLOAT16 / FLOAT16), multiplied in that order
 * Rows past the last group are not written (MOEROUTE_POISON_UNWRITTEN=1 fills them with NaN, or 0x7F bytes
 * for INT32). Bit-identical for every thread count and ISA level; INT8 is exact.
 * Errors (nothing is written by a refused call): MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_INVALID_DTYPE (a
 * dtype combination outside the rows above), MOEROUTE_ERR_INVALID_SHAPE (negative sizes, E < 1, INT8 with K
 * above 65535, group_list_type outside 0..2, more than E groups in types 0/1, no group list with E > 1),
 * MOEROUTE_ERR_INVALID_VALUE (a negative count, a decreasing cumsum, groups covering more than M rows, an
 * expert id outside [0, E)), MOEROUTE_ERR_TOO_LARGE, MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_OUT_OF_MEMORY. */
typedef struct moeroute_grouped_matmul_args {
    size_t struct_size;
    int64_t num_rows;            /* M >= 0: rows of x and out                                            */
    int64_t k;                   /* K >= 0 (INT8: at most 65535)                                         */
    int64_t n;                   /* N >= 0: columns of the weights and out                               */
    int64_t num_experts;         /* E >= 1: weights                                                      */
    moeroute_dtype x_dtype;      /* FLOAT16, BFLOAT16, FLOAT32 or INT8: x and weight                     */
    const void *x;               /* element (m, k) at x[m * x_row_stride + k * x_col_stride]             */
    int64_t x_row_stride;
    int64_t x_col_stride;
    /* element (e, k, n) at weight[e * weight_expert_stride + k * weight_k_stride + n * weight_n_stride]: a
     * contiguous [E, K, N] has strides (K*N, N, 1), a contiguous [E, N, K] read transposed (K*N, 1, K) */
    const void *weight;
    int64_t weight_expert_stride;
    int64_t weight_k_stride;
    int64_t weight_n_stride;
    int32_t group_list_type;     /* 0 cumsum, 1 counts, 2 (expert, count) pairs                           */
    int64_t num_groups;          /* G >= 0 entries (type 2: pairs); types 0 and 1: G <= E                 */
    const int64_t *group_list;   /* [G] (types 0, 1) or [G, 2] (type 2), contiguous; NULL: one group of all
                                  * M rows on weight 0 (E must be 1)                                       */
    const void *bias;            /* NULL or [E, N] contiguous: FLOAT16 for FLOAT16 x, FLOAT32 for BFLOAT16 and
                                  * FLOAT32 x, INT32 for INT8 x                                            */
    moeroute_dtype scale_dtype;  /* INT8 with a scale: BFLOAT16 or FLOAT32                                 */
    const void *scale;           /* NULL or [E, N] contiguous (INT8 x only; needed for a float out_dtype)  */
    const float *per_token_scale; /* NULL or [M] (INT8 x with a scale only)                                */
    moeroute_dtype out_dtype;    /* float x: x_dtype; INT8: INT32 without scale, BFLOAT16 or FLOAT16 with  */
    void *out;                   /* [M, N] contiguous                                                    */
    /* 0: the weight strides above; 29 (ACL_FORMAT_FRACTAL_NZ, INT8 only): the weight is a contiguous
     * [E, ceil(N/32), ceil(K/16), 16, 32] NZ tensor (weight (e, k, n) at byte
     * ((e*N1 + n/32)*K1 + k/16)*512 + (k%16)*32 + n%32), read as stored; the weight strides are ignored */
    int32_t weight_format;
} moeroute_grouped_matmul_args;

MOEROUTE_API moeroute_status moeroute_grouped_matmul(moeroute_context *ctx, const moeroute_grouped_matmul_args *args);

/* Packed weights (docs/operators/grouped_matmul.md "Packed weights"): every call of moeroute_grouped_matmul
 * reads each expert's weight and packs it into the layout its kernels read, which for small groups costs more
 * than the multiply. An engine whose weights do not change packs them once:
 *
 *   moeroute_gmm_weights *w;
 *   moeroute_grouped_matmul_pack_weights(ctx, &args, &w);      once: reads weight, num_experts, k, n, x_dtype,
 *                                                              the weight strides and weight_format
 *   moeroute_grouped_matmul_packed(ctx, &args, w);             each call: args->weight is not read
 *   moeroute_gmm_weights_destroy(w);
 *
 * The results are the bytes moeroute_grouped_matmul gives with the original weights. The packed form belongs to
 * the kernels of the context it was made with (and to MOEROUTE_AMX as it was then), and holds about K * N
 * bytes per expert for INT8, 2 * K * N for BF16 and FP16 on AVX-512 (bf16 pairs, fp16 halves) and 4 * K * N for
 * the other float cases (fp32 panels); moeroute_gmm_weights_bytes tells. A later change of the original weights
 * is not seen. Calls only read it, so several threads may use one at once (with contexts of the same kernels); destroy(NULL) does nothing.
 * Errors: as moeroute_grouped_matmul for the fields read; MOEROUTE_ERR_OUT_OF_MEMORY. The packed call adds
 * MOEROUTE_ERR_NULL_POINTER (weights NULL) and MOEROUTE_ERR_INVALID_VALUE (packed for other E, K, N, dtype or
 * kernels than this call and context would use). */
typedef struct moeroute_gmm_weights moeroute_gmm_weights;
MOEROUTE_API moeroute_status moeroute_grouped_matmul_pack_weights(moeroute_context *ctx,
                                                                   const moeroute_grouped_matmul_args *args,
                                                                   moeroute_gmm_weights **weights);
MOEROUTE_API moeroute_status moeroute_grouped_matmul_packed(moeroute_context *ctx,
                                                            const moeroute_grouped_matmul_args *args,
                                                            const moeroute_gmm_weights *weights);
MOEROUTE_API size_t moeroute_gmm_weights_bytes(const moeroute_gmm_weights *weights);
MOEROUTE_API void moeroute_gmm_weights_destroy(moeroute_gmm_weights *weights);

/*
 * The element-wise expert-MLP operators (docs/operators/dynamic_quant.md, swiglu.md, dequant_swiglu_quant.md):
 * row by row in fp32, bit-identical for every thread count and ISA level. SiLU is the library's one
 * implementation (within 1 ulp of the correctly rounded value). Pointers: NULL means "not given" for the
 * optional arrays (pass any non-NULL pointer for a given but empty one); a required array may be NULL only
 * where it has no elements. Errors (nothing is written by a refused call): MOEROUTE_ERR_NULL_POINTER,
 * MOEROUTE_ERR_INVALID_DTYPE, MOEROUTE_ERR_INVALID_SHAPE (negative sizes, attributes outside their sets),
 * MOEROUTE_ERR_INVALID_VALUE (a bad group index; names the position), MOEROUTE_ERR_TOO_LARGE,
 * MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_OUT_OF_MEMORY.
 */

/* DynamicQuant / DynamicQuantV2 (aclnnDynamicQuant(V2), torch_npu npu_dynamic_quant), symmetric int8, exact:
 *   v = f32(x[i][h]) (* f32(smooth_scales[g(i)][h]));  a = max |v|;  f = f32(127 / a)
 *   y[i][h] = rint(f32(v * f)) saturated to int8 (ties to even, NaN -> 0)
 *   scale[i] = f32(1 / f) (template 1, "A") or f32(a * f32(1/127)) (template 2, "B")
 * g(i) = the smallest g with i < group_index[g]; group_index holds ascending end offsets whose last entry is
 * num_rows (else MOEROUTE_ERR_INVALID_VALUE). scale_template 0 picks the formula as the Atlas A2/A3 tiling does
 * (docs/operators/dynamic_quant.md); the int8 values never depend on it.
 * y_packing 1 or 2 gives int4 values instead: f = f32(7 / a), y = rint(f32(v * f)) saturated to [-8, 7], template
 * B's scale f32(a * f32(1/7)); packed two per byte (y_packing 1, [rows, H/2] bytes, H even: element 2j in the low
 * nibble of byte j) or eight per int32 (y_packing 2, [rows, H/8] int32, H % 8 == 0: element 8j + t in bits
 * 4t..4t+3), else MOEROUTE_ERR_INVALID_SHAPE. */
typedef struct moeroute_dynamic_quant_args {
    size_t struct_size;
    int64_t num_rows;            /* rows >= 0                                                            */
    int64_t hidden;              /* H >= 0                                                               */
    moeroute_dtype x_dtype;      /* FLOAT16, BFLOAT16 or FLOAT32; also the dtype of smooth_scales        */
    const void *x;               /* element (i, h) at x[i * x_row_stride + h * x_col_stride]             */
    int64_t x_row_stride;
    int64_t x_col_stride;
    const void *smooth_scales;   /* NULL, or [max(G, 1), H] contiguous                                   */
    int64_t num_groups;          /* G >= 0: entries of group_index; 0 = no group index                   */
    int32_t group_index_int64;   /* 0: group_index is int32; 1: int64                                    */
    const void *group_index;     /* [G] contiguous ascending end offsets (G > 0)                         */
    int32_t scale_template;      /* 0 as the device chooses, 1 f32(1 / f), 2 f32(a * f32(1/127))         */
    int8_t *y;                   /* [rows, H] contiguous (y_packing 0); the packed int4 rows otherwise     */
    float *scale;                /* [rows]                                                               */
    int32_t y_packing;           /* 0 int8; 1 int4 two per byte; 2 int4 eight per int32                  */
} moeroute_dynamic_quant_args;

MOEROUTE_API moeroute_status moeroute_dynamic_quant(moeroute_context *ctx, const moeroute_dynamic_quant_args *args);

/* SwiGlu (aclnnSwiGlu, torch_npu npu_swiglu) along the columns of a 2-D x [rows, 2n]:
 *   out[i][j] = RNE(f32(silu(f32(x[i][j])) * f32(x[i][n + j])) -> x_dtype)
 * (split another dim by passing strides that make it the columns). */
typedef struct moeroute_swiglu_args {
    size_t struct_size;
    int64_t num_rows;            /* rows >= 0                                                            */
    int64_t cols;                /* 2n >= 0, even                                                        */
    moeroute_dtype x_dtype;      /* FLOAT16, BFLOAT16 or FLOAT32; also out's dtype                       */
    const void *x;               /* element (i, c) at x[i * x_row_stride + c * x_col_stride]             */
    int64_t x_row_stride;
    int64_t x_col_stride;
    void *out;                   /* [rows, n] contiguous                                                 */
} moeroute_swiglu_args;

MOEROUTE_API moeroute_status moeroute_swiglu(moeroute_context *ctx, const moeroute_swiglu_args *args);

/* DequantSwigluQuant (aclnnDequantSwigluQuant, torch_npu npu_dequant_swiglu_quant), row r of x [rows, 2n]:
 *   v = f32(x[r]) * weight_scale[g] * activation_scale[r] + f32(bias[g])   (each given factor; fp32 steps)
 *   s = f32(silu(act) * other): act = v[0:n] and other = v[n:2n] when activate_left, else the reverse
 *   quant_mode 1 (dynamic): s = s * quant_scale[g] (given); sc = f32(max|s| / 127);
 *                           y[r] = rint(f32(s / sc)) -> int8; scale[r] = sc
 *   quant_mode 0 (static):  y[r] = rint(f32(f32(s * quant_scale[g]) + quant_offset[g])) -> int8 (scale unused)
 * int8 saturating, ties to even, NaN -> 0. g = the group of row r: group_index holds row counts per group; rows
 * past the last group are not written (MOEROUTE_POISON_UNWRITTEN=1 fills them with 0x7F and NaN scales). A
 * parameter given with one row (param_rows 1) serves every group. */
typedef struct moeroute_dequant_swiglu_quant_args {
    size_t struct_size;
    int64_t num_rows;            /* rows >= 0                                                            */
    int64_t cols;                /* 2n >= 0, even                                                        */
    moeroute_dtype x_dtype;      /* INT32, FLOAT16 or BFLOAT16                                           */
    const void *x;               /* element (r, c) at x[r * x_row_stride + c * x_col_stride]             */
    int64_t x_row_stride;
    int64_t x_col_stride;
    int64_t num_groups;          /* G >= 0: entries of group_index; 0 = no group index                   */
    int32_t group_index_int64;   /* 0: int32, 1: int64                                                   */
    const void *group_index;     /* [G] contiguous row counts                                            */
    int64_t param_rows;          /* rows of the per-group parameters below: 1, or G (with a group index) */
    const float *weight_scale;   /* NULL or [param_rows, 2n]; needed for INT32 x                        */
    const float *activation_scale; /* NULL or [rows]; needed for INT32 x                                 */
    moeroute_dtype bias_dtype;   /* FLOAT32, FLOAT16, BFLOAT16 or INT32                                  */
    const void *bias;            /* NULL or [param_rows, 2n]                                             */
    const float *quant_scale;    /* dynamic: NULL or [param_rows, n]; static: [param_rows] (required)    */
    const float *quant_offset;   /* static only: NULL or [param_rows]                                    */
    int32_t activate_left;       /* 1: SiLU of the first half; 0: of the second half                      */
    int32_t quant_mode;          /* 0 static, 1 dynamic                                                  */
    int8_t *y;                   /* [rows, n] contiguous                                                 */
    float *scale;                /* [rows] (dynamic; not read or written when static)                    */
} moeroute_dequant_swiglu_quant_args;

MOEROUTE_API moeroute_status moeroute_dequant_swiglu_quant(moeroute_context *ctx,
                                                           const moeroute_dequant_swiglu_quant_args *args);

/* GroupedMatmulSwigluQuant (aclnnGroupedMatmulSwigluQuant(WeightNZ), torch_npu npu_grouped_matmul_swiglu_quant;
 * docs/operators/grouped_matmul_swiglu_quant.md), for the rows m of group g (group_list cumsum, weight g):
 *   a = sum_k x[m][k] * W[g][k][n]   (exact int32);   c = f32(f32(a) * x_scale[m]) * f32(weight_scale[g][n])
 *   s[j] = f32(silu(c[j]) * c[j + N/2]);  qs = f32(max|s| / 127);  inv = f32(1 / qs)
 *   output[m][j] = to_int8_rne(f16(f32(s[j] * inv)))  (fp32 -> fp16 -> int8: double rounding);  output_scale[m] = qs
 * Rows at and past group_list[G-1] are not written (MOEROUTE_POISON_UNWRITTEN=1: 0x7F and NaN scales).
 * Errors as moeroute_grouped_matmul (N odd: MOEROUTE_ERR_INVALID_SHAPE). The workspace holds an int32 [M, N]
 * scratch (the context's scratch, or a block allocated per call). */
typedef struct moeroute_grouped_matmul_swiglu_quant_args {
    size_t struct_size;
    int64_t num_rows;            /* M >= 0: rows of x, output and output_scale                           */
    int64_t k;                   /* K in [0, 65535]                                                       */
    int64_t n;                   /* N >= 0, even: columns of the weights; output has N/2                  */
    int64_t num_experts;         /* E >= 1                                                               */
    const int8_t *x;             /* element (m, k) at x[m * x_row_stride + k * x_col_stride]             */
    int64_t x_row_stride;
    int64_t x_col_stride;
    /* weight_format 0: element (e, k, n) at weight[e * weight_expert_stride + k * weight_k_stride +
     * n * weight_n_stride]; 29 (FRACTAL_NZ): a contiguous [E, ceil(N/32), ceil(K/16), 16, 32] NZ buffer, read in
     * place (the strides are ignored; layout as in moeroute_grouped_matmul_args) */
    const int8_t *weight;
    int64_t weight_expert_stride;
    int64_t weight_k_stride;
    int64_t weight_n_stride;
    int32_t weight_format;
    moeroute_dtype weight_scale_dtype; /* FLOAT32, FLOAT16 or BFLOAT16                                    */
    const void *weight_scale;    /* [E, N] contiguous                                                    */
    const float *x_scale;        /* [M] per-token scales                                                 */
    int64_t num_groups;          /* G in [0, E]                                                          */
    const int64_t *group_list;   /* [G] ascending cumsum (end offsets), contiguous                       */
    int8_t *output;              /* [M, N/2] contiguous                                                  */
    float *output_scale;         /* [M]                                                                  */
} moeroute_grouped_matmul_swiglu_quant_args;

MOEROUTE_API moeroute_status moeroute_grouped_matmul_swiglu_quant(
    moeroute_context *ctx, const moeroute_grouped_matmul_swiglu_quant_args *args);

/* The same on weights packed beforehand by moeroute_grouped_matmul_pack_weights (moeroute_grouped_matmul_args
 * with x_dtype INT8 and this call's k, n, num_experts and weight; "Packed weights" above): args->weight and
 * weight_format are not read, the bytes are those of the unpacked call. Errors: as the unpacked call, plus
 * MOEROUTE_ERR_NULL_POINTER (weights NULL) and MOEROUTE_ERR_INVALID_VALUE (packed for other E, K, N, dtype or
 * kernels). */
MOEROUTE_API moeroute_status moeroute_grouped_matmul_swiglu_quant_packed(
    moeroute_context *ctx, const moeroute_grouped_matmul_swiglu_quant_args *args, const moeroute_gmm_weights *weights);

/*
 * Expert parallelism (docs/operators/distribute.md): MoeDistributeDispatchV2 / MoeDistributeCombineV2, the
 * all-to-all of a MoE layer over an HCCL communicator handle (hccl/hccl.h: in process, ranks as threads; or over
 * MPI with libmoeroute_mpi). Every rank of `comm` calls them with the same attributes, each on its own thread or
 * process; the rank and the rank count come from the communicator. Semantics, row order and arithmetic as the
 * aclnn pair; only its semantic rules apply, not the Atlas limits (layer decision 20). Arrays are contiguous
 * and row-major. E = num_experts, S/R = shared experts / shared-expert ranks, L = E / (ranks - R) local experts
 * (1 on a shared-expert rank), A = max_rows (at least the bound of docs/operators/distribute.md).
 * Errors: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_INVALID_ARGS_SIZE, MOEROUTE_ERR_INVALID_DTYPE (x_dtype not
 * FLOAT16/BFLOAT16), MOEROUTE_ERR_INVALID_SHAPE (attributes, max_rows below the bound, a bad comm handle),
 * MOEROUTE_ERR_INVALID_VALUE (on every rank: a negative expert id, rows above A, attributes that differ between
 * ranks, mismatched bookkeeping, a peer that refused or did not come within the HCCL timeout),
 * MOEROUTE_ERR_OUT_OF_MEMORY. Outputs are untouched on refusal.
 */
typedef struct moeroute_distribute_dispatch_args {
    size_t struct_size;             /* sizeof(moeroute_distribute_dispatch_args)                            */
    void *comm;                     /* this rank's HcclComm                                                  */
    moeroute_dtype x_dtype;         /* FLOAT16 or BFLOAT16                                                   */
    int32_t quant_mode;             /* 0: rows copied; 2: per-token dynamic int8                             */
    int64_t num_tokens;             /* Bs of this rank                                                       */
    int64_t hidden;                 /* H                                                                     */
    int64_t top_k;                  /* K                                                                     */
    int64_t num_experts;            /* E, the MoE experts over all ranks                                     */
    int64_t shared_expert_num;      /* S                                                                     */
    int64_t shared_expert_rank_num; /* R                                                                     */
    int64_t global_bs;              /* 0 (same Bs everywhere) or maxBs * ranks                               */
    int32_t token_nums_type;        /* expert_token_nums: 0 cumsum, 1 count                                  */
    int32_t mask_2d;                /* active_mask is [Bs, K] (1) or [Bs] (0)                                */
    const void *x;                  /* [Bs, H] x_dtype                                                       */
    const int32_t *expert_ids;      /* [Bs, K]                                                               */
    const float *smooth_scales;     /* NULL, or [E (+ S when R > 0, shared first), H] for quant_mode 2       */
    const uint8_t *active_mask;     /* NULL (all active), or bytes 0/1                                       */
    const float *expert_scales;     /* NULL, or [Bs, K] copied into expand_scales                            */
    int64_t max_rows;               /* A                                                                     */
    void *expand_x;                 /* [A, H]: x_dtype, or int8 for quant_mode 2                             */
    float *dynamic_scales;          /* [A] for quant_mode 2, else NULL                                       */
    int32_t *assist_info;           /* [A * 3] bookkeeping for the combine                                   */
    int64_t *expert_token_nums;     /* [L]                                                                   */
    int32_t *ep_recv_counts;        /* [ranks * L] bookkeeping for the combine                               */
    float *expand_scales;           /* NULL, or [A]                                                          */
} moeroute_distribute_dispatch_args;

MOEROUTE_API moeroute_status moeroute_distribute_dispatch(moeroute_context *ctx,
                                                          const moeroute_distribute_dispatch_args *args);

typedef struct moeroute_distribute_combine_args {
    size_t struct_size;             /* sizeof(moeroute_distribute_combine_args)                             */
    void *comm;                     /* this rank's HcclComm                                                  */
    moeroute_dtype x_dtype;         /* FLOAT16 or BFLOAT16: expand_x, shared_x, out                          */
    int32_t mask_2d;                /* as dispatch                                                           */
    int64_t num_tokens, hidden, top_k, num_experts, shared_expert_num, shared_expert_rank_num, global_bs;
    int64_t max_rows;               /* A                                                                     */
    const void *expand_x;           /* [A, H] this rank's expert output, rows in dispatch order             */
    const int32_t *expert_ids;      /* [Bs, K] as given to dispatch                                          */
    const int32_t *assist_info;     /* [A * 3] dispatch's, or NULL: rows found from the routing, no check    */
    const int32_t *ep_send_counts;  /* [ranks * L] dispatch's ep_recv_counts                                 */
    const float *expert_scales;     /* [Bs, K] routing weights                                               */
    const uint8_t *active_mask;     /* NULL or as given to dispatch                                          */
    const void *shared_x;           /* NULL, or [Bs, H] added unweighted                                     */
    void *out;                      /* [Bs, H]; rows of inactive tokens are not written                      */
} moeroute_distribute_combine_args;

MOEROUTE_API moeroute_status moeroute_distribute_combine(moeroute_context *ctx,
                                                         const moeroute_distribute_combine_args *args);

/*
 * Struct descriptions for language bindings: moeroute_struct_layout("moeroute_init_routing_v2_args", &count,
 * &size) gives the fields of a public struct in order (name, byte offset, kind) and its size, so a binding
 * (ctypes, cffi) builds its mirror from the library it loaded instead of keeping a copy by hand. Names:
 * "moeroute_options", "moeroute_init_routing_args", "moeroute_init_routing_v2_args",
 * "moeroute_init_routing_v3_args", "moeroute_compute_expert_tokens_args", "moeroute_token_permute_args",
 * "moeroute_token_unpermute_args", "moeroute_finalize_routing_args", "moeroute_re_routing_args",
 * "moeroute_gating_top_k_args", "moeroute_gating_top_k_softmax_args", "moeroute_grouped_matmul_args",
 * "moeroute_dynamic_quant_args", "moeroute_swiglu_args", "moeroute_dequant_swiglu_quant_args",
 * "moeroute_grouped_matmul_swiglu_quant_args", "moeroute_distribute_dispatch_args",
 * "moeroute_distribute_combine_args". NULL for
 * other names.
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
