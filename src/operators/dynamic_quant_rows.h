/* Row plumbing shared by the element-wise expert-MLP operators (DynamicQuant, SwiGlu, DequantSwigluQuant;
 * docs/operators/dynamic_quant.md, swiglu.md, dequant_swiglu_quant.md): per-thread fp32 scratch in the
 * workspace, flat-index addressing of N-d views, a row-parallel driver, and group indices (end offsets or
 * counts, int32 or int64) checked once per run and looked up per row. Every operator works a row at a time
 * in fp32 scratch, so the result of a row never depends on the thread that ran it. */
#ifndef MR_OPERATORS_DYNAMIC_QUANT_ROWS_H
#define MR_OPERATORS_DYNAMIC_QUANT_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "common/view.h"
#include "kernels/mlp/mlp.h"
#include "threadpool/threadpool.h"

#define MR_MLP_ALIGN 64u

/* Workspace layout: `threads` blocks of `floats` fp32 each, then `groups` int64 group ends; 64-byte aligned
 * (size includes the slack to align any workspace address). */
typedef struct mr_mlp_ws {
    size_t threads;
    size_t block_bytes; /* per thread, a multiple of MR_MLP_ALIGN */
    size_t ends_at;     /* offset of the group ends */
    size_t size;        /* bytes to ask for */
} mr_mlp_ws;

/* MOEROUTE_ERR_TOO_LARGE (message) when the sizes overflow. */
moeroute_status mr_mlp_ws_init(mr_mlp_ws *w, size_t threads, int64_t floats, int64_t groups, const char *api);

/* The checks every run makes before it writes: each view with elements has data, the workspace is there and
 * large enough (its aligned base in *base), and every view from first_output on (and the workspace) overlaps
 * nothing else. names[i] names view i in messages. */
moeroute_status mr_mlp_run_begin(const mr_mlp_ws *w, const mr_view *views, const char *const *names, size_t n,
                                 size_t first_output, void *workspace, size_t workspace_size, char **base,
                                 const char *api);

/* Element offset of flat (row-major) index `flat` of dims[0..n) with the given strides. */
int64_t mr_nd_offset(const int64_t *dims, const int64_t *strides, uint32_t n, int64_t flat);

/* Row r of a view taken as [rows, cols] (its last dim the columns, the others flattened row-major): pointer
 * to the row's first element; *col_stride the element stride along the row. A rank-1 view is one row. */
const char *mr_view_row(const mr_view *v, int64_t r, int64_t *col_stride);
/* Element `flat` of a view in row-major order (any rank). */
const char *mr_view_flat(const mr_view *v, int64_t flat);

/* Row r of v (mr_view_row) widened to fp32 in d[0..n): the MLP family's contiguous loops, else the strided
 * widening of the accumulate family. A contiguous fp32 row is returned in place (d untouched). */
const float *mr_mlp_load_row(const mr_mlp_config *k, const mr_view *v, int64_t r, mr_xtype t, float *d, size_t n);

/* for each row r in [0, rows): fn(ctx, r, scratch of the running thread), in tasks of contiguous rows
 * (serial when rows * work_per_row is small). */
typedef void (*mr_mlp_row_fn)(const void *ctx, int64_t begin, int64_t end, float *scratch);
void mr_mlp_rows_run(mr_pool *pool, int64_t rows, int64_t work_per_row, const mr_mlp_ws *w, char *base,
                     mr_mlp_row_fn fn, const void *ctx);

/* Group indices (layer decision 13). The [groups] int32 or int64 view `gi` read as ascending end offsets
 * (counts = 0) or as per-group row counts (counts = 1), turned into end offsets ends[0..groups). Refused with
 * MOEROUTE_ERR_INVALID_VALUE, naming the position: a negative entry, a decreasing end offset, an end beyond
 * `rows`, and with exact_total an end offset list whose last entry is not `rows`. */
moeroute_status mr_mlp_group_ends(const mr_view *gi, int64_t groups, int counts, int64_t rows, int exact_total,
                                  int64_t *ends, const char *name, const char *api);
/* The group of row r: the smallest g with r < ends[g] (groups when none). */
int64_t mr_mlp_group_of(const int64_t *ends, int64_t groups, int64_t r);

/* MOEROUTE_POISON_UNWRITTEN=1 (layer decision 13): whether rows left unwritten are to be filled. */
int mr_mlp_poison_unwritten(void);

#endif /* MR_OPERATORS_DYNAMIC_QUANT_ROWS_H */
