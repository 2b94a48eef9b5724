/* What the two transports of MoeDistributeDispatchV2 / CombineV2 share (distribute.h): the in-process runs
 * (distribute.c) and the network path (distribute_net.c). The walks read every rank's routing through a round's
 * posts: in process the peers' own views, over a network views of the gathered copies. */
#ifndef MR_OPERATORS_DISTRIBUTE_INTERNAL_H
#define MR_OPERATORS_DISTRIBUTE_INTERNAL_H

#include <string.h>

#include "hccl/hccl_internal.h"
#include "operators/distribute.h"

typedef struct mr_dist_desc {
    const mr_view *v; /* the rank's views (its run's slots) */
    int64_t bs, rows;
} mr_dist_desc;

typedef struct mr_dist_round {
    mr_hccl_group *g;
    uint32_t rank;
    mr_hccl_post post; /* read by the peers until the round ends */
    const mr_hccl_post *const *all;
    char message[320];
} mr_dist_round;

typedef struct mr_dsp_ctx {
    const mr_dist_plan *p;
    mr_dist_layout l;
    const mr_dist_round *rd;
} mr_dsp_ctx;

/* ---- element access ---------------------------------------------------------------------------------------- */

static inline int32_t mr_i32_at(const mr_view *v, int64_t t, int64_t j)
{
    const char *at = v->data + (t * v->strides[0] + (v->ndim > 1 ? j * v->strides[1] : 0)) * (int64_t)v->esize;
    int32_t x;
    memcpy(&x, at, 4);
    return x;
}

static inline float mr_f32_at(const mr_view *v, int64_t t, int64_t j)
{
    const char *at = v->data + (t * v->strides[0] + j * v->strides[1]) * 4;
    float x;
    memcpy(&x, at, 4);
    return x;
}

/* Slot (t, j) is active: no mask, the token's entry of a [Bs] mask, or the slot's of a [Bs, K] mask. */
static inline int mr_slot_active(const mr_view *mask, int64_t t, int64_t j)
{
    if (!mask->data) return 1;
    const char *at = mask->data + (t * mask->strides[0] + (mask->ndim > 1 ? j * mask->strides[1] : 0));
    return *at != 0;
}

/* Token t is active: it has an active slot (every slot of a 1-D mask follows the token). */
static inline int mr_token_active(const mr_view *mask, int64_t t, int64_t k)
{
    if (!mask->data) return 1;
    if (mask->ndim == 1) return mr_slot_active(mask, t, 0);
    for (int64_t j = 0; j < k; j++)
        if (mr_slot_active(mask, t, j)) return 1;
    return 0;
}

/* The expert slot (t, j) of a rank sends to (-1: none). */
static inline int64_t mr_slot_expert(const mr_view *ids, const mr_view *mask, int64_t t, int64_t j, int64_t E)
{
    if (!mr_slot_active(mask, t, j)) return -1;
    const int32_t e = mr_i32_at(ids, t, j);
    return e >= 0 && e < E ? e : -1;
}

static inline const mr_dist_desc *mr_peer(const mr_dist_round *rd, int64_t s) { return rd->all[s]->desc; }

/* ---- shared steps (distribute.c) ----------------------------------------------------------------------------- */

mr_dist_layout mr_dist_layout_of(const mr_dist_attrs *a);
void mr_dist_set_comm_failed(int failed); /* mr_dist_comm_failed() of this thread */
char *mr_dist_ws_base(void *workspace);

/* Rows one rank sends with routing (ids, mask) of Bs tokens: its slots' MoE rows plus S rows per active token. */
int64_t mr_dist_rows_sent(const mr_dist_layout *l, const mr_view *ids, const mr_view *mask, int64_t bs, int64_t k);
/* Rows every rank receives (tot[W]) from the routing of c->rd's posts (ids and mask at view slots ids, mask). */
void mr_dist_totals(const mr_dsp_ctx *c, size_t ids, size_t mask, int64_t *tot);
/* With globalBs = 0 every rank must have the same Bs (the posts' bs; the same verdict on every rank). */
moeroute_status mr_dist_check_uniform_bs(const mr_dist_round *rd, const mr_dist_plan *p, const char *api);

typedef void (*mr_dsp_visit)(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e);
/* The rows source s sends to receiver r, in r's order within the (le, s) blocks (distribute.c). */
void mr_dsp_walk(const mr_dsp_ctx *c, int64_t r, int64_t s, mr_dsp_visit fn, void *ctx);
/* Rows per (local expert, source) block of this rank and the first row of each, in (le, s) order; the total. */
int64_t mr_dsp_blocks(const mr_dsp_ctx *c, int64_t *counts, int64_t *cursor);
/* "rank r receives N rows but expandXOut has A" when total > rows. */
moeroute_status mr_dsp_check_total(int64_t r, int64_t total, int64_t rows, const char *api);
/* Row t of the source's x as the receiver stores it for expert e; quantMode 0 copies it with `copy`. */
void mr_dsp_make_row(const mr_dist_plan *p, const mr_view *src, int64_t t, int64_t e, char *dst, float *scale,
                     float *v, float *sm, mr_copy_fn copy);
size_t mr_dsp_row_bytes(const mr_dist_plan *p);
/* How dispatch writes its `rows` rows of expandX: streaming stores when they are a large output
 * (mr_backend_stream_output; the writer fences once after its last row), cached ones otherwise. */
mr_copy_fn mr_dsp_row_copy(const mr_dist_plan *p, int64_t rows);

typedef struct mr_dsp_write {
    const mr_dsp_ctx *c;
    int64_t *cursor; /* [L * W] next row per block */
    const mr_view *out;
    float *v, *sm;   /* fp32 scratch rows */
    int rows;        /* 0: the rows arrived already (network transport); bookkeeping only */
    mr_copy_fn copy; /* rows: how they are copied (mr_dsp_row_copy) */
} mr_dsp_write;
void mr_dsp_write_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e);
void mr_dsp_counts_out(const mr_dist_plan *p, const mr_view *v, const int64_t *counts, int64_t total);

/* Where the combine finds the row of (owner, local expert le, `index` within this rank's block): in the owner's
 * expandX (in process: staging NULL), or over a network in the staging rows that came from the owner, or in
 * this rank's own expandX when it is the owner. */
typedef struct mr_cmb_fetch {
    const char *staging;
    const int64_t *offset;    /* [Lmax * W]: first staging row of block (le, owner) */
    size_t row_bytes;
    int64_t self;             /* this rank (-1 in process) */
    const char *self_rows;    /* its expandX */
    const int64_t *self_start; /* [L * W]: first row of its block (le, s) */
} mr_cmb_fetch;
/* One term of a token's combine sum: a row (its element stride cs) and its expert scale. */
typedef struct mr_cmb_src {
    const char *row;
    int64_t cs;
    float scale;
    int has_scale;
} mr_cmb_src;
/* Accumulate and store this rank's tokens (rows located as f says; their bookkeeping already checked). cursor:
 * the start of the combine's workspace (mr_dist_plan_init: cursors, a token's terms, two fp32 rows). */
void mr_cmb_sum(const mr_dist_round *rd, const mr_dist_plan *p, const mr_view *v, int64_t *cursor,
                const mr_cmb_fetch *f);

/* The network path (distribute_net.c): g is the plan's group, with a reference the callee releases. */
moeroute_status mr_dispatch_net(const mr_dist_plan *p, mr_view *v, mr_hccl_group *g, moeroute_status local,
                                void *workspace, const char *api);
moeroute_status mr_combine_net(const mr_dist_plan *p, mr_view *v, mr_hccl_group *g, moeroute_status local,
                               void *workspace, const char *api);

#endif /* MR_OPERATORS_DISTRIBUTE_INTERNAL_H */
