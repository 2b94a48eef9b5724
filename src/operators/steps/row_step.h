/* Row step (docs/operators/shared_steps.md "row step"): every source row is read once, transformed (bit copy,
 * static int8, dynamic per-row int8 with optional smooth factors) and written to each of its destinations,
 * given by a destination map in the workspace. Parallel over source rows; identical bytes for every thread
 * count. Pad rows (drop & pad) are a separate pass. */
#ifndef MR_OPERATORS_STEPS_ROW_STEP_H
#define MR_OPERATORS_STEPS_ROW_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "threadpool/threadpool.h"

/* Columns handled per step of a row: an L1-sized chunk so the quantized bytes are written K times from cache. */
#define MR_ROW_CHUNK 8192
/* Scratch per worker: a chunk of a strided row gathered in x's dtype (<= 4 bytes) and its quantized bytes. */
#define MR_ROWBUF_BYTES (MR_ROW_CHUNK * 4 + MR_ROW_CHUNK)

typedef enum mr_row_kind { MR_ROWS_COPY, MR_ROWS_STATIC, MR_ROWS_DYNAMIC } mr_row_kind;

typedef struct mr_row_step {
    /* sources: n_src rows of h elements, element (s, c) at x + (s * x_s0 + c * x_s1) * x_esize */
    const char *x;
    int64_t n_src, h, x_s0, x_s1;
    size_t x_esize;
    /* destinations of source s: slots p = s * slot_a + j * slot_b for j < k; d = dst[p] is written when
     * 0 <= d < limit, at out + d * h * out_esize (contiguous rows) */
    const int32_t *dst;
    int64_t k, slot_a, slot_b, limit;
    char *out;
    size_t out_esize;
    mr_row_kind kind;
    mr_quant_fn quant;            /* static */
    const mr_quant_params *qp;
    mr_dq_absmax_fn absmax;       /* dynamic */
    mr_dq_quant_fn dquant;
    const float *smooth;          /* dynamic: NULL, or rows of h contiguous floats, row pitch smooth_pitch */
    int64_t smooth_pitch;
    const int32_t *slot_expert;   /* per-destination smooth row = slot_expert[p] - smooth_base; NULL: row 0 */
    int32_t smooth_base;
    float *out_scale;             /* dynamic: out_scale[d] = the row's scale; or the carried scale below */
    const char *carry;            /* out_scale[d] = carry[s * carry_s0] (fp32) when not NULL */
    int64_t carry_s0;
    mr_copy_fn copy;
    int stream;                   /* copy is a streaming copy: fence after */
    unsigned char *rowbuf;        /* MR_ROWBUF_BYTES per worker, 64-byte aligned */
    size_t work;                  /* bytes written plus arithmetic weight: decides the task count */
} mr_row_step;

void mr_row_step_run(const mr_row_step *s, mr_pool *pool);

/* Zero rows [first, first + count) of h elements at out (pad rows of drop & pad); out_scale (may be NULL)
 * gets 0.0f for those rows. */
void mr_rows_zero(char *out, size_t row_bytes, int64_t first, int64_t count, float *out_scale);

#endif /* MR_OPERATORS_STEPS_ROW_STEP_H */
