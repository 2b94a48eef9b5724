/* MoeDistributeDispatchV2 / CombineV2 over a network transport (ranks in other processes: MPI; hccl_internal.h;
 * docs/operators/distribute.md, "How it runs"). The same verdicts, row orders and arithmetic as in process
 * (distribute.c), in two exchanges per call (three when the routing is large):
 *
 *   1. head     a bounded allgather of a fixed-size record per rank: attributes, Bs, A, its own refusal and
 *               message (out of memory included: every buffer of the call is taken before), how its x rows
 *               travel, and its routing (expert ids, active-slot flags; dispatch also expert scales) when that
 *               fits in MR_NET_INLINE bytes (decode batches). Every rank reaches the same verdict from the same
 *               records: a refusal anywhere, attributes that differ, Bs that differ with globalBs 0.
 *   1b. routing only when some rank's routing did not fit: an allgather of every rank's routing, sized from the
 *               heads (every rank knows the sizes by then, so they agree).
 *   2. rows     one exchange of matched contiguous segments (hccl_internal.h), no agreement of its own. From
 *               the gathered routing every rank derives every rank's block counts, hence the last verdict every
 *               rank can reach alone (every receiver's rows within its A) before any output is written, and both
 *               ends of every message. A rank's rows to itself never travel (made in place, or read in place).
 *               Dispatch, quantMode 0: a source sends each receiver every token it routes there once, from x
 *               itself where x's rows are contiguous; it lands in the first of the token's rows in the
 *               receiver's expandX, which copies it to the others.
 *               quantMode 2: each row is quantized by its source for its expert and sent per (receiver, local
 *               expert) block straight into its place in expandX, then the scales into dynamicScales.
 *               Combine: each owner sends its blocks of expandX back to each source and, with them, its verdict
 *               on its own bookkeeping (only it can check its assistInfo and epSendCounts against the gathered
 *               routing); the rows land in a staging buffer, so a source writes xOut only when no owner refused,
 *               summing in the in-process order. Every rank reads every owner's verdict: one outcome everywhere.
 *
 * Waits: exchanges 1 and 1b are bounded by the communicator's timeout (a missing rank: 561000, the communicator
 * broken); exchange 2 runs only when every rank is known present and has agreed. Buffers whose size follows the
 * batch (rows to send, staging) are the communicator's (the transport's buffer op), reused from call to call. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "operators/distribute_internal.h"
#include "operators/dynamic_quant_rows.h" /* mr_view_row */

#define MR_NET_INLINE 8192 /* routing bytes a head carries: 910 slots of dispatch (Bs 113 at K 8) */

typedef struct mr_net_head {
    mr_dist_attrs a;
    int64_t kind, refused, bs, rows;
    char message[256];
    unsigned char routing[MR_NET_INLINE];
} mr_net_head;

/* An owner's verdict on its own bookkeeping (combine), sent to every source with the rows. */
typedef struct mr_net_verdict {
    int64_t failed;
    char message[256];
} mr_net_verdict;

typedef struct mr_net_call {
    mr_hccl_group *g;
    void *net;
    int64_t W, K;
    size_t per_slot;          /* routing bytes per slot: ids, flags (and dispatch's expert scales) */
    mr_net_head *heads;       /* [W] */
    char *recs;               /* [W * rec]: exchange 1b (NULL: the routing came inline) */
    size_t rec;
    mr_view *views;           /* [W * MR_DSP_COUNT]: views of the gathered routing, dispatch's slots */
    mr_dist_desc *desc;       /* [W] */
    mr_hccl_post *post;       /* [W] */
    const mr_hccl_post **ptr; /* [W] */
    mr_dist_round rd;         /* a round whose peers are the gathered copies */
    mr_dsp_ctx c;
    /* exchange 2 */
    mr_net_seg *ss, *rs;      /* send and receive segments */
    size_t *sfirst, *rfirst;  /* [W + 1] each */
    void *scratch;
} mr_net_call;

static moeroute_status mr_net_comm_fail(void)
{
    mr_dist_set_comm_failed(1);
    return MOEROUTE_ERR_INVALID_VALUE;
}

static moeroute_status mr_net_oom(moeroute_status local, const char *api)
{
    return local != MOEROUTE_OK ? local : mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory", api);
}

/* This thread's newest message, kept for the peers and put back for this thread. */
static void mr_net_keep_message(char *dst, size_t size)
{
    const char *m = mr_error_take();
    snprintf(dst, size, "%s", m ? m : "refused");
    mr_error_push("%s", dst);
}

/* Allocations every call makes, before exchange 1 (a failure is this rank's refusal). */
static int mr_net_alloc(mr_net_call *nc, const mr_dist_plan *p, mr_hccl_group *g, size_t per_slot, size_t send_segs,
                        size_t recv_segs)
{
    memset(nc, 0, sizeof *nc);
    nc->g = g, nc->net = mr_hccl_group_net(g), nc->W = p->a.world, nc->K = p->a.k, nc->per_slot = per_slot;
    mr_dist_set_comm_failed(0);
    const size_t W = (size_t)nc->W;
    nc->heads = mr_calloc(W, sizeof *nc->heads);
    nc->views = mr_calloc(W * MR_DSP_COUNT, sizeof *nc->views);
    nc->desc = mr_calloc(W, sizeof *nc->desc);
    nc->post = mr_calloc(W, sizeof *nc->post);
    nc->ptr = mr_calloc(W, sizeof *nc->ptr);
    nc->ss = mr_malloc((send_segs + 1) * sizeof *nc->ss);
    nc->rs = mr_malloc((recv_segs + 1) * sizeof *nc->rs);
    nc->sfirst = mr_calloc(2 * (W + 1), sizeof *nc->sfirst);
    nc->scratch = mr_malloc(mr_hccl_net->exchange_scratch((uint32_t)W, send_segs + recv_segs));
    nc->rfirst = nc->sfirst ? nc->sfirst + W + 1 : NULL;
    return nc->heads && nc->views && nc->desc && nc->post && nc->ptr && nc->ss && nc->rs && nc->sfirst && nc->scratch;
}

static void mr_net_free(mr_net_call *nc)
{
    mr_free(nc->heads);
    mr_free(nc->recs);
    mr_free(nc->views);
    mr_free(nc->desc);
    mr_free(nc->post);
    mr_free((void *)nc->ptr);
    mr_free(nc->ss);
    mr_free(nc->rs);
    mr_free(nc->sfirst);
    mr_free(nc->scratch);
    mr_hccl_group_release(nc->g);
}

static mr_view mr_net_view(char *data, uint32_t ndim, uint32_t esize, int64_t d0, int64_t d1)
{
    mr_view w;
    memset(&w, 0, sizeof w);
    w.data = data, w.ndim = ndim, w.esize = esize;
    w.dims[0] = d0, w.dims[1] = d1, w.strides[0] = ndim == 2 ? d1 : 1, w.strides[1] = 1;
    return w;
}

/* A rank's routing record: ids [slots] int32, active flags [slots], expert scales [slots] fp32 (dispatch). */
static void mr_net_pack_routing(const mr_net_call *nc, const mr_dist_plan *p, const mr_view *ids,
                                const mr_view *mask, const mr_view *escales, unsigned char *rec)
{
    const size_t slots = (size_t)(p->bs * nc->K);
    for (int64_t t = 0; t < p->bs; t++)
        for (int64_t j = 0; j < nc->K; j++) {
            const size_t at = (size_t)(t * nc->K + j);
            const int32_t id = mr_i32_at(ids, t, j);
            memcpy(rec + at * 4, &id, 4);
            rec[slots * 4 + at] = (unsigned char)mr_slot_active(mask, t, j);
            if (escales) {
                const float es = escales->data ? mr_f32_at(escales, t, j) : 1.0f;
                memcpy(rec + slots * 5 + at * 4, &es, 4);
            }
        }
}

static int mr_net_inline(const mr_net_call *nc, int64_t bs)
{
    return (size_t)(bs * nc->K) * nc->per_slot <= MR_NET_INLINE;
}

/* Exchanges 1 and 1b and the verdicts they allow: on success nc->rd and nc->c walk the gathered routing. */
static moeroute_status mr_net_agree(mr_net_call *nc, const mr_dist_plan *p, int64_t kind, moeroute_status local,
                                    const mr_view *ids, const mr_view *mask, const mr_view *escales, const char *api)
{
    const int64_t W = nc->W, K = nc->K;
    mr_net_head *mine = mr_calloc(1, sizeof *mine);
    if (!mine) return mr_net_oom(local, api); /* the peers' bounded wait ends their call */
    mine->a = p->a, mine->kind = kind, mine->refused = local != MOEROUTE_OK, mine->bs = p->bs, mine->rows = p->rows;
    if (local != MOEROUTE_OK) mr_net_keep_message(mine->message, sizeof mine->message);
    else if (mr_net_inline(nc, p->bs)) mr_net_pack_routing(nc, p, ids, mask, escales, mine->routing);
    HcclResult h = mr_hccl_net->allgather(nc->net, mine, nc->heads, sizeof *mine, api);
    mr_free(mine);
    if (h != HCCL_SUCCESS) return local != MOEROUTE_OK ? local : mr_net_comm_fail();
    if (local != MOEROUTE_OK) return local;
    for (int64_t r = 0; r < W; r++)
        if (nc->heads[r].refused)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: rank %lld refused its arguments: %s", api, (long long)r,
                           nc->heads[r].message);
    for (int64_t r = 0; r < W; r++)
        if (nc->heads[r].kind != kind || memcmp(&nc->heads[r].a, &p->a, sizeof p->a) != 0)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rank %lld made another call or passed other attributes than rank %lld", api,
                           (long long)r, (long long)p->rank);
    int all_inline = 1;
    int64_t maxbs = 0;
    for (int64_t r = 0; r < W; r++) {
        nc->desc[r] = (mr_dist_desc){nc->views + r * MR_DSP_COUNT, nc->heads[r].bs, nc->heads[r].rows};
        nc->post[r].desc = &nc->desc[r], nc->ptr[r] = &nc->post[r];
        all_inline &= mr_net_inline(nc, nc->heads[r].bs);
        maxbs = nc->heads[r].bs > maxbs ? nc->heads[r].bs : maxbs;
    }
    nc->rd.all = nc->ptr, nc->rd.rank = (uint32_t)p->rank;
    nc->c = (mr_dsp_ctx){p, mr_dist_layout_of(&p->a), &nc->rd};
    moeroute_status st = mr_dist_check_uniform_bs(&nc->rd, p, api);
    if (st != MOEROUTE_OK) return st;
    if (!all_inline) { /* 1b: every rank knows maxbs now */
        nc->rec = (size_t)(maxbs * K) * nc->per_slot + 1;
        unsigned char *own = mr_calloc(1, nc->rec);
        nc->recs = mr_malloc((size_t)W * nc->rec);
        if (!own || !nc->recs) { /* the peers' bounded wait ends their call */
            mr_free(own);
            return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory for the ranks' routing", api);
        }
        mr_net_pack_routing(nc, p, ids, mask, escales, own);
        h = mr_hccl_net->allgather(nc->net, own, nc->recs, nc->rec, api);
        mr_free(own);
        if (h != HCCL_SUCCESS) return mr_net_comm_fail();
    }
    for (int64_t r = 0; r < W; r++) {
        char *rec = nc->recs ? nc->recs + (size_t)r * nc->rec : (char *)nc->heads[r].routing;
        const int64_t bs = nc->heads[r].bs, slots = bs * K;
        mr_view *v = nc->views + r * MR_DSP_COUNT;
        v[MR_DSP_IDS] = mr_net_view(rec, 2, 4, bs, K);
        v[MR_DSP_MASK] = mr_net_view(rec + slots * 4, 2, 1, bs, K);
        if (escales) v[MR_DSP_ESCALES] = mr_net_view(rec + slots * 5, 2, 4, bs, K);
    }
    return MOEROUTE_OK;
}

/* Exchange 2 (after every verdict the ranks could derive). */
static moeroute_status mr_net_rows(mr_net_call *nc, const char *api)
{
    HcclResult h = mr_hccl_net->exchange(nc->net, nc->ss, nc->sfirst, nc->rs, nc->rfirst, nc->scratch, api);
    return h == HCCL_SUCCESS ? MOEROUTE_OK : mr_net_comm_fail();
}

/* Append a segment (none for 0 bytes: both ends skip the same empty blocks). */
static void mr_net_seg_add(mr_net_seg *seg, size_t *n, char *at, size_t bytes)
{
    if (bytes) seg[(*n)++] = (mr_net_seg){at, bytes};
}

/* ---- dispatch ------------------------------------------------------------------------------------------------ */

/* quantMode 0 sends every token once per receiver, whatever the number of its slots there: the source from x
 * itself where its rows are contiguous (else from a buffer it gathers them into), one segment per token (the
 * transport joins adjacent ones), into the first of the token's rows in the receiver's expandX; the receiver
 * copies it from there to the token's other rows. */
static int mr_net_x_contiguous(const mr_view *x, int64_t bs)
{
    int64_t cs = 1;
    if (bs > 0 && x->data) mr_view_row(x, 0, &cs);
    return cs == 1;
}

typedef struct mr_net_tok {
    int64_t *t, n, last;
} mr_net_tok;

static void mr_net_tok_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    (void)s, (void)j, (void)le, (void)e;
    mr_net_tok *c = ctx;
    if (t != c->last) c->t[c->n++] = t, c->last = t;
}

/* The tokens source s sends receiver r (ascending) into out; their number. */
static int64_t mr_net_tokens(const mr_dsp_ctx *c, int64_t r, int64_t s, int64_t *out)
{
    mr_net_tok k = {out, 0, -1};
    mr_dsp_walk(c, r, s, mr_net_tok_fn, &k);
    return k.n;
}

/* Where the tokens from one source land: the first row of each in expandX, in the walk's order (ascending t). */
typedef struct mr_net_first {
    int64_t *cursor, W, last; /* a copy of the block cursors, advanced as the bookkeeping will be */
    mr_net_seg *seg;
    size_t *n, row_bytes;
    char *expx;
} mr_net_first;

static void mr_net_first_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    (void)j, (void)e;
    mr_net_first *c = ctx;
    const int64_t row = c->cursor[le * c->W + s]++;
    if (t != c->last) c->last = t, mr_net_seg_add(c->seg, c->n, c->expx + (size_t)row * c->row_bytes, c->row_bytes);
}

/* After the exchange: a token's first row arrived; its other rows are copied from it. */
typedef struct mr_net_scatter {
    mr_dsp_write w;
    const char *first;
    size_t row_bytes;
    int64_t last;
} mr_net_scatter;

static void mr_net_scatter_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    mr_net_scatter *c = ctx;
    char *dst = c->w.out[MR_DSP_EXPX].data + (size_t)c->w.cursor[le * c->w.c->l.W + s] * c->row_bytes;
    if (t != c->last) c->last = t, c->first = dst;
    else c->w.copy(dst, c->first, c->row_bytes);
    mr_dsp_write_fn(&c->w, s, t, j, le, e); /* the bookkeeping */
}

typedef struct mr_net_place {
    const mr_dist_plan *p;
    const mr_view *own;
    int64_t *pos;  /* [W * Lmax]: next send row of (destination, local expert) */
    int64_t q, lmax;
    char *rows;    /* the rows to send, in (destination, local expert, token, slot) order */
    float *scales; /* their scales (quantMode 2) */
    float *v, *sm;
    size_t row_bytes;
    int count;     /* 1: only count into pos */
} mr_net_place;

static void mr_net_place_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    (void)s, (void)j;
    mr_net_place *c = ctx;
    int64_t *at = &c->pos[c->q * c->lmax + le];
    if (c->count) {
        ++*at;
        return;
    }
    const int64_t i = (*at)++;
    mr_dsp_make_row(c->p, c->own, t, e, c->rows + (size_t)i * c->row_bytes, &c->scales[i], c->v, c->sm,
                    c->p->backend.copy->copy);
}

/* quantMode 2: each row quantized by its source for its expert, sent per (receiver, local expert) block and
 * received straight into its block (le, s) of expandX, then the scales likewise. */
static void mr_net_quant_segs(mr_net_call *nc, const mr_dist_plan *p, mr_view *v, int64_t *pos, char *rows,
                              float *scales, const int64_t *counts, const int64_t *cursor, float *fv, float *fs)
{
    const int64_t W = nc->W, L = p->local_experts, me = p->rank, lmax = p->moe_local > 1 ? p->moe_local : 1;
    const size_t row_bytes = mr_dsp_row_bytes(p);
    mr_net_place pl = {p, v, pos, 0, lmax, rows, scales, fv, fs, row_bytes, 1};
    for (pl.q = 0; pl.q < W; pl.q++)
        if (pl.q != me) mr_dsp_walk(&nc->c, pl.q, me, mr_net_place_fn, &pl);
    int64_t run = 0;
    for (int64_t b = 0; b < W * lmax; b++) {
        const int64_t n = pos[b];
        pos[b] = run, run += n;
    }
    size_t ns = 0, nr = 0;
    for (int64_t q = 0; q < W; q++) { /* to q: its blocks (le, me) one by one, then their scales */
        nc->sfirst[q] = ns;
        for (int64_t pass = 0; pass < 2; pass++)
            for (int64_t le = 0; le < lmax; le++) {
                const int64_t b = q * lmax + le, n = (b + 1 < W * lmax ? pos[b + 1] : run) - pos[b];
                if (pass) mr_net_seg_add(nc->ss, &ns, (char *)&scales[pos[b]], (size_t)n * sizeof(float));
                else mr_net_seg_add(nc->ss, &ns, rows + (size_t)pos[b] * row_bytes, (size_t)n * row_bytes);
            }
    }
    nc->sfirst[W] = ns;
    pl.count = 0;
    for (pl.q = 0; pl.q < W; pl.q++)
        if (pl.q != me) mr_dsp_walk(&nc->c, pl.q, me, mr_net_place_fn, &pl);
    for (int64_t s = 0; s < W; s++) { /* from s: straight into its blocks (le, s), then their scales */
        nc->rfirst[s] = nr;
        for (int64_t pass = 0; pass < 2 && s != me; pass++)
            for (int64_t le = 0; le < L; le++) {
                const int64_t b = le * W + s;
                if (pass)
                    mr_net_seg_add(nc->rs, &nr, v[MR_DSP_DYNS].data + (size_t)cursor[b] * 4, (size_t)counts[b] * 4);
                else
                    mr_net_seg_add(nc->rs, &nr, v[MR_DSP_EXPX].data + (size_t)cursor[b] * row_bytes,
                                   (size_t)counts[b] * row_bytes);
            }
    }
    nc->rfirst[W] = nr;
}

moeroute_status mr_dispatch_net(const mr_dist_plan *p, mr_view *v, mr_hccl_group *g, moeroute_status local,
                                void *workspace, const char *api)
{
    const mr_dist_layout l = mr_dist_layout_of(&p->a);
    const int64_t W = l.W, L = p->local_experts, me = p->rank, lmax = p->moe_local > 1 ? p->moe_local : 1;
    const size_t row_bytes = mr_dsp_row_bytes(p);
    const int quant = p->a.quant_mode != 0;
    /* tokens per source: at most maxbs (a Bs above it fails the agreement before any row moves) */
    const int64_t maxbs = p->a.global_bs ? p->a.global_bs / W : p->bs;
    const int64_t sent =
        local == MOEROUTE_OK ? mr_dist_rows_sent(&l, &v[MR_DSP_IDS], &v[MR_DSP_MASK], p->bs, p->a.k) : 0;
    /* every buffer of the call, before exchange 1 */
    mr_net_call nc;
    const size_t segs_out = quant ? (size_t)(2 * lmax * W) : (size_t)((W - 1) * p->bs),
                 segs_in = quant ? (size_t)(2 * L * W) : (size_t)((W - 1) * maxbs);
    int ok = mr_net_alloc(&nc, p, g, 9, segs_out, segs_in);
    const int pack = quant || !mr_net_x_contiguous(&v[MR_DSP_X], p->bs);
    int64_t *ints = mr_calloc((size_t)(W * lmax + (W - 1) * p->bs + L * W), sizeof *ints);
    int64_t *pos = ints, *tok = ints ? pos + W * lmax : NULL, *first = ints ? tok + (W - 1) * p->bs : NULL;
    char *rows = ok && pack ? mr_hccl_net->buffer(nc.net, 0, (size_t)(quant ? sent : (W - 1) * p->bs) * row_bytes)
                            : NULL;
    float *scales = ok && quant ? mr_hccl_net->buffer(nc.net, 1, (size_t)sent * sizeof(float)) : NULL;
    if (!ok || !ints || (pack && !rows) || (quant && !scales)) local = mr_net_oom(local, api);
    moeroute_status st = mr_net_agree(&nc, p, MR_HCCL_MC2_DISPATCH, local, &v[MR_DSP_IDS], &v[MR_DSP_MASK],
                                      &v[MR_DSP_ESCALES], api);
    int64_t *counts = (int64_t *)(void *)mr_dist_ws_base(workspace), *cursor = counts + L * W;
    float *fv = (float *)(void *)(cursor + L * W), *fs = fv + p->a.h;
    if (st == MOEROUTE_OK) { /* the rows this rank sends itself are made from its own x and smooth scales */
        nc.views[me * MR_DSP_COUNT + MR_DSP_X] = v[MR_DSP_X];
        nc.views[me * MR_DSP_COUNT + MR_DSP_SCALES] = v[MR_DSP_SCALES];
    }
    /* the receivers' totals within their A (cursor holds W totals) */
    if (st == MOEROUTE_OK) mr_dist_totals(&nc.c, MR_DSP_IDS, MR_DSP_MASK, cursor);
    for (int64_t r = 0; r < W && st == MOEROUTE_OK; r++) st = mr_dsp_check_total(r, cursor[r], nc.heads[r].rows, api);
    if (st != MOEROUTE_OK) {
        mr_free(ints);
        mr_net_free(&nc);
        return st;
    }
    const int64_t total = mr_dsp_blocks(&nc.c, counts, cursor);
    const mr_copy_fn copy = mr_dsp_row_copy(p, total);
    if (quant) {
        mr_net_quant_segs(&nc, p, v, pos, rows, scales, counts, cursor, fv, fs);
    } else {
        size_t ns = 0, nr = 0;
        int64_t at = 0; /* to q: the tokens it gets, once each */
        for (int64_t q = 0; q < W; q++) {
            nc.sfirst[q] = ns;
            if (q == me) continue;
            const int64_t n = mr_net_tokens(&nc.c, q, me, tok + at);
            for (int64_t i = 0; i < n; i++) {
                char *row = rows + (size_t)(at + i) * row_bytes;
                float no_scale; /* quantMode 0: a bit copy */
                if (pack) mr_dsp_make_row(p, v, tok[at + i], 0, row, &no_scale, fv, fs, p->backend.copy->copy);
                int64_t cs;
                mr_net_seg_add(nc.ss, &ns, pack ? row : (char *)(uintptr_t)mr_view_row(&v[MR_DSP_X], tok[at + i], &cs),
                               row_bytes);
            }
            at += n;
        }
        nc.sfirst[W] = ns;
        memcpy(first, cursor, (size_t)(L * W) * sizeof *first);
        mr_net_first f = {first, W, -1, nc.rs, &nr, row_bytes, v[MR_DSP_EXPX].data};
        for (int64_t s = 0; s < W; s++) { /* from s: each token into its first row */
            nc.rfirst[s] = nr, f.last = -1;
            if (s != me) mr_dsp_walk(&nc.c, me, s, mr_net_first_fn, &f);
        }
        nc.rfirst[W] = nr;
    }
    st = mr_net_rows(&nc, api);
    if (st == MOEROUTE_OK) { /* rows to itself made in place, rows from peers copied on; the bookkeeping */
        mr_net_scatter sc = {{&nc.c, cursor, v, fv, fs, 0, copy}, NULL, row_bytes, -1};
        for (int64_t s = 0; s < W; s++) {
            sc.w.rows = s == me, sc.last = -1;
            mr_dsp_walk(&nc.c, me, s, quant || s == me ? mr_dsp_write_fn : mr_net_scatter_fn,
                        quant || s == me ? (void *)&sc.w : (void *)&sc);
        }
        if (copy != p->backend.copy->copy) atomic_thread_fence(memory_order_seq_cst); /* the streaming stores */
        mr_dsp_counts_out(p, v, counts, total);
    }
    mr_free(ints);
    mr_net_free(&nc);
    return st;
}

/* ---- combine ------------------------------------------------------------------------------------------------- */

typedef struct mr_net_verify {
    int64_t *cursor, W, rows;
    const mr_view *assist;
    int bad;
} mr_net_verify;

static void mr_net_verify_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    (void)e;
    mr_net_verify *c = ctx;
    const int64_t row = c->cursor[le * c->W + s]++;
    if (row < 0 || row >= c->rows)
        c->bad = 1;
    else if (c->assist->data && (mr_i32_at(c->assist, 3 * row, 0) != s || mr_i32_at(c->assist, 3 * row + 1, 0) != t ||
                                 mr_i32_at(c->assist, 3 * row + 2, 0) != j))
        c->bad = 1; /* no assistInfo (V1): the counts alone */
}

static moeroute_status mr_net_owner_refusal(int64_t owner, const char *api)
{
    return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                   "%s: rank %lld's epSendCounts / assistInfoForCombine do not describe the rows the ranks' expertIds "
                   "and masks send it; pass dispatch's outputs and the same expertIds and mask",
                   api, (long long)owner);
}

/* The owner's side of the combine checks: its assistInfo and epSendCounts describe exactly the rows the
 * (gathered) routing sends it. cursor: [L * W] scratch. */
static moeroute_status mr_net_check_owner(const mr_dsp_ctx *c, const mr_view *v, int64_t *cursor, const char *api)
{
    const mr_dist_plan *p = c->p;
    const int64_t W = c->l.W, L = p->local_experts;
    const mr_view *send = &v[MR_CMB_SEND];
    int64_t prev = 0;
    int bad = 0;
    for (int64_t b = 0; b < L * W; b++) {
        cursor[b] = prev;
        const int64_t end = mr_i32_at(send, b, 0);
        bad |= end < prev || end > p->rows;
        prev = end;
    }
    mr_net_verify ver = {cursor, W, p->rows, &v[MR_CMB_ASSIST], bad};
    for (int64_t s = 0; s < W && !ver.bad; s++) mr_dsp_walk(c, p->rank, s, mr_net_verify_fn, &ver);
    for (int64_t b = 0; b < L * W && !ver.bad; b++) ver.bad |= cursor[b] != mr_i32_at(send, b, 0);
    return ver.bad ? mr_net_owner_refusal(p->rank, api) : MOEROUTE_OK;
}

moeroute_status mr_combine_net(const mr_dist_plan *p, mr_view *v, mr_hccl_group *g, moeroute_status local,
                               void *workspace, const char *api)
{
    if (local == MOEROUTE_OK && !mr_view_is_contiguous(&v[MR_CMB_EXPX]))
        local = mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: expandX must be contiguous on a communicator over processes",
                        api);
    const mr_dist_layout l = mr_dist_layout_of(&p->a);
    const int64_t W = l.W, me = p->rank, L = p->local_experts, lmax = p->moe_local > 1 ? p->moe_local : 1;
    const size_t row_bytes = (size_t)p->a.h * mr_xtype_size((mr_xtype)p->a.xtype);
    const int64_t back =
        local == MOEROUTE_OK ? mr_dist_rows_sent(&l, &v[MR_CMB_IDS], &v[MR_CMB_MASK], p->bs, p->a.k) : 0;
    /* every buffer of the call, before exchange 1 */
    mr_net_call nc;
    int ok = mr_net_alloc(&nc, p, g, 5, (size_t)((L + 1) * W), (size_t)((lmax + 1) * W));
    int64_t *ints = mr_calloc((size_t)(3 * L * W + lmax * W + W), sizeof *ints);
    int64_t *counts = ints, *cursor = ints ? counts + L * W : NULL, *check = ints ? cursor + L * W : NULL;
    int64_t *offset = ints ? check + L * W : NULL, *tot = ints ? offset + lmax * W : NULL;
    mr_net_verdict *verdicts = mr_calloc((size_t)W + 1, sizeof *verdicts), *mine = verdicts ? verdicts + W : NULL;
    char *staging = ok ? mr_hccl_net->buffer(nc.net, 0, (size_t)back * row_bytes) : NULL;
    if (!ok || !ints || !verdicts || !staging) local = mr_net_oom(local, api);
    moeroute_status st =
        mr_net_agree(&nc, p, MR_HCCL_MC2_COMBINE, local, &v[MR_CMB_IDS], &v[MR_CMB_MASK], NULL, api);
    /* every owner's rows within its A: then its blocks, from the routing, lie inside its expandX */
    if (st == MOEROUTE_OK) mr_dist_totals(&nc.c, MR_DSP_IDS, MR_DSP_MASK, tot);
    for (int64_t r = 0; r < W && st == MOEROUTE_OK; r++)
        if (tot[r] > nc.heads[r].rows) st = mr_net_owner_refusal(r, api);
    if (st == MOEROUTE_OK) {
        mr_dsp_blocks(&nc.c, counts, cursor);
        if (mr_net_check_owner(&nc.c, v, check, api) != MOEROUTE_OK) { /* this rank as an owner */
            mine->failed = 1;
            mr_net_keep_message(mine->message, sizeof mine->message);
        }
        /* where the rows of block (k, owner) for this rank land: owner after owner, k after k */
        for (int64_t b = 0; b < lmax * W; b++) offset[b] = 0;
        const mr_view *ids = &v[MR_CMB_IDS], *mask = &v[MR_CMB_MASK];
        for (int64_t t = 0; t < p->bs; t++) {
            for (int64_t j = 0; j < p->a.k; j++) {
                const int64_t e = mr_slot_expert(ids, mask, t, j, l.E);
                if (e >= 0) offset[e % l.L * W + l.R + e / l.L]++;
            }
            if (l.R > 0 && mr_token_active(mask, t, p->a.k))
                for (int64_t i = 0; i < l.S; i++) offset[i * l.P + me % l.P]++;
        }
        size_t ns = 0, nr = 0;
        int64_t run = 0;
        for (int64_t o = 0; o < W; o++) {
            nc.rfirst[o] = nr; /* from owner o: block (k, me) into staging, k after k, then its verdict */
            for (int64_t k = 0; k < lmax && o != me; k++) { /* its own rows it reads in place */
                const int64_t n = offset[k * W + o];
                offset[k * W + o] = run, run += n;
                mr_net_seg_add(nc.rs, &nr, staging + (size_t)offset[k * W + o] * row_bytes, (size_t)n * row_bytes);
            }
            nc.rs[nr++] = (mr_net_seg){(char *)&verdicts[o], sizeof *verdicts};
            nc.sfirst[o] = ns; /* as owner: blocks (k, o) of expandX back to o, then this rank's verdict */
            for (int64_t k = 0; k < L && o != me; k++)
                mr_net_seg_add(nc.ss, &ns, v[MR_CMB_EXPX].data + (size_t)cursor[k * W + o] * row_bytes,
                               (size_t)counts[k * W + o] * row_bytes);
            nc.ss[ns++] = (mr_net_seg){(char *)mine, sizeof *mine};
        }
        nc.sfirst[W] = ns, nc.rfirst[W] = nr;
        st = mr_net_rows(&nc, api);
        for (int64_t o = 0; o < W && st == MOEROUTE_OK; o++) /* every owner's verdict: the same on every rank */
            if (verdicts[o].failed)
                st = o == me ? mr_net_owner_refusal(me, api)
                             : mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: rank %lld failed: %s", api, (long long)o,
                                       verdicts[o].message);
    }
    if (st == MOEROUTE_OK) {
        int64_t *cur = (int64_t *)(void *)mr_dist_ws_base(workspace);
        const mr_cmb_fetch f = {staging, offset, row_bytes, me, v[MR_CMB_EXPX].data, cursor};
        mr_cmb_sum(&nc.rd, p, v, cur, &f);
    }
    mr_free(ints);
    mr_free(verdicts);
    mr_net_free(&nc);
    return st;
}
