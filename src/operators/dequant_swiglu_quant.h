/* DequantSwigluQuant (docs/operators/dequant_swiglu_quant.md, layer spec 10): int32 matmul results (or
 * fp16/bf16 rows) dequantized by per-column weight and per-row activation scales, optional bias, SwiGLU of the
 * two halves, then static or dynamic per-row int8 quantization; per-group parameters with a count group index.
 * Shared by aclnnDequantSwigluQuant and moeroute_dequant_swiglu_quant. */
#ifndef MR_OPERATORS_DEQUANT_SWIGLU_QUANT_H
#define MR_OPERATORS_DEQUANT_SWIGLU_QUANT_H

#include <stdint.h>

#include "backend/cpu_backend.h"
#include "common/view.h"
#include "kernels/kernels.h"
#include "operators/dynamic_quant_rows.h"

/* View slots. x [rows, 2n] (any rank >= 2, rows = product of the leading dims, any strides);
 * weightScale [2n] or [G', 2n] FLOAT; activationScale with `rows` elements FLOAT; bias like weightScale;
 * quantScale: dynamic [n] or [G', n], static one element per group (G' elements); quantOffset like the static
 * quantScale; groupIndex [G] int32/int64 counts; y [rows, n] int8; scale [rows] FLOAT. G' = max(G, 1).
 * Absent arguments: zero views. Parameter rows are read through their last dim (mr_view_row). */
enum {
    MR_DSQ_X,
    MR_DSQ_WSCALE,
    MR_DSQ_ASCALE,
    MR_DSQ_BIAS,
    MR_DSQ_QSCALE,
    MR_DSQ_QOFFSET,
    MR_DSQ_GROUP,
    MR_DSQ_Y,
    MR_DSQ_SCALE,
    MR_DSQ_COUNT
};

/* Element types of x and bias beyond mr_xtype. */
typedef enum mr_dsq_type { MR_DSQ_F16 = MR_X_F16, MR_DSQ_BF16 = MR_X_BF16, MR_DSQ_F32 = MR_X_F32, MR_DSQ_I32 = 3 } mr_dsq_type;

typedef struct mr_dsq_plan {
    int64_t rows, n;      /* x has 2n columns, y n                                                         */
    int64_t groups;       /* entries of the group index (counts); 0 without one                             */
    mr_dsq_type x_type, bias_type;
    int has_wscale, has_ascale, has_bias, has_qscale, has_qoffset;
    int activate_left;    /* 1: SiLU on the first half, times the second; 0: the reverse                   */
    int dynamic;          /* 1: per-row dynamic scale; 0: static quantScale (+ quantOffset)                 */
    /* GroupedMatmulSwigluQuant's epilogue (layer spec 9.3; operators/grouped_matmul_swiglu_quant.h); all zero
     * for DequantSwigluQuant: */
    int group_ends;       /* the group index holds ascending end offsets (cumsum), not counts              */
    int ascale_first;     /* activationScale before weightScale (the reverse of DequantSwigluQuant)         */
    int wscale_x;         /* 0: FLOAT weightScale; 1 + mr_xtype: FLOAT16 / BFLOAT16                         */
    int f16_recip;        /* dynamic: sc = f32(max|s| / 127); y = to_i8_rne(f16(f32(s * f32(1 / sc))))       */
    mr_backend backend;
    mr_mlp_ws ws;
} mr_dsq_plan;

/* Phase 1: p already holds rows..dynamic (validated); fills backend and workspace. MOEROUTE_ERR_TOO_LARGE. */
moeroute_status mr_dsq_plan_init(mr_dsq_plan *p, moeroute_isa isa, size_t threads, const char *api);

/* Phase 2. Errors before any output byte is written: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_WORKSPACE,
 * MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_INVALID_VALUE (a negative count, or counts summing past the rows).
 * Rows past the last group are not written (layer decision 13; MOEROUTE_POISON_UNWRITTEN=1 fills them with
 * 0x7F and their scales with NaN). */
moeroute_status mr_dsq_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                           mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_DEQUANT_SWIGLU_QUANT_H */
