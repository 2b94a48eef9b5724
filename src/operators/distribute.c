/* MoeDistributeDispatchV2 / MoeDistributeCombineV2 over the in-process communicator (distribute.h;
 * docs/operators/distribute.md; layer spec 11.3, 11.4), and the steps the network path shares
 * (distribute_internal.h; distribute_net.c). One rendezvous round per call, two waits:
 *
 *   begin   post this rank's views and attributes and wait for every rank; refusals of its own inputs (negative
 *           expert ids, a batch above globalBs / W, missing data, overlapping outputs) travel with the post, so
 *           every rank fails
 *   check   every rank checks every rank from the posts (Bs; the rows each receives within its A; each rank's
 *           tokens against its owners' bookkeeping): the same verdict and message on every rank with no vote
 *   write   only when no rank failed: outputs stay untouched on every refusal
 *   end     wait until every rank has finished reading its peers
 *
 * Arithmetic: dispatch quantMode 2 is the per-token recipe of spec 11.3 (DynamicQuant template A with the
 * destination expert's fp32 smooth row; the same kernels as src/operators/dynamic_quant.c); combine is the fp32
 * chain of spec 11.4 through the accumulate family (acc = +0, then acc + f32(row * scale) per slot). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/fp16.h"
#include "common/prefetch.h"
#include "hccl/hccl_internal.h"
#include "kernels/accumulate/accumulate.h"
#include "operators/distribute_internal.h"
#include "operators/dynamic_quant_rows.h" /* mr_view_row */

static _Thread_local int mr_dist_comm_flag;

int mr_dist_comm_failed(void) { return mr_dist_comm_flag; }

static const char *const mr_dsp_names[MR_DSP_COUNT] = {
    "x", "expertIds", "scalesOptional", "xActiveMaskOptional", "expertScalesOptional", "expandXOut",
    "dynamicScalesOut", "assistInfoForCombineOut", "expertTokenNumsOut", "epRecvCountsOut", "tpRecvCountsOut",
    "expandScalesOut"};
static const char *const mr_cmb_names[MR_CMB_COUNT] = {"expandX",      "expertIds", "assistInfoForCombine",
                                                       "epSendCounts", "expertScales", "xActiveMaskOptional",
                                                       "sharedExpertXOptional", "xOut"};

mr_dist_layout mr_dist_layout_of(const mr_dist_attrs *a)
{
    mr_dist_layout l;
    l.W = a->world, l.E = a->moe_experts, l.S = a->shared_num, l.R = a->shared_ranks;
    l.P = l.R > 0 && l.S > 0 ? l.R / l.S : 1;
    l.L = l.W > l.R ? l.E / (l.W - l.R) : 0;
    return l;
}

moeroute_status mr_dist_plan_init(mr_dist_plan *p, const char *group, const mr_dist_attrs *a, int64_t rank,
                                  int64_t bs, int64_t rows, int mask_2d, int combine, const char *api)
{
    memset(p, 0, sizeof *p);
    snprintf(p->group, sizeof p->group, "%s", group);
    p->a = *a;
    p->rank = rank, p->bs = bs, p->rows = rows, p->mask_2d = mask_2d;
    const mr_dist_layout l = mr_dist_layout_of(a);
    p->moe_local = l.L;
    p->local_experts = rank < l.R ? 1 : l.L;
    mr_backend_init(&p->backend, MOEROUTE_ISA_AUTO, 1);
    /* workspace: int64 cursors and counts (combine: then a token's term list, mr_cmb_sum), then two fp32 rows,
       64-byte aligned */
    const int64_t ints = combine ? l.E + l.S + 1 + (a->k + l.S + 1) * (int64_t)((sizeof(mr_cmb_src) + 7) / 8)
                                 : 2 * p->local_experts * l.W;
    int64_t bytes;
    if (mr_mul_i64(ints, 8, &bytes) || mr_add_i64(bytes, 8 * a->h + 128, &bytes) || (uint64_t)bytes > SIZE_MAX)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the workspace does not fit in memory", api);
    p->ws_size = (size_t)bytes;
    return MOEROUTE_OK;
}

/* ---- attributes (spec 11.2), shared by the aclnn and native entry points ------------------------------- */

static moeroute_status mr_dist_shape(const char *api, const char *fmt, ...) MR_PRINTF(2, 3);
static moeroute_status mr_dist_shape(const char *api, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: %s", api, msg);
}

moeroute_status mr_dist_check_attrs(const mr_dist_args *x, int limits, mr_dist_attrs *a, int64_t *min_rows,
                                    const char *api)
{
    static const char lim[] = "(Atlas A3 limit; MOEROUTE_DEVICE_LIMITS=0 lifts it)";
    if (!x->group_ep || !x->group_ep[0] || strlen(x->group_ep) >= COMM_NAME_MAX_LENGTH)
        return mr_dist_shape(api, "groupEp must be a communicator name of 1 to 127 bytes (HcclGetCommName)");
    if ((x->group_tp && strlen(x->group_tp) >= COMM_NAME_MAX_LENGTH) ||
        (x->comm_alg && strlen(x->comm_alg) >= COMM_NAME_MAX_LENGTH))
        return mr_dist_shape(api, "groupTp and commAlg must be shorter than 128 bytes");
    mr_hccl_group *g = mr_hccl_group_find(x->group_ep);
    if (!g) return mr_dist_shape(api, "groupEp \"%s\" names no live HCCL communicator of this process", x->group_ep);
    const int64_t size = mr_hccl_group_size(g);
    mr_hccl_group_release(g);
    if (x->world != size)
        return mr_dist_shape(api, "epWorldSize = %lld but communicator %s has %lld ranks", (long long)x->world,
                               x->group_ep, (long long)size);
    if (x->rank < 0 || x->rank >= x->world)
        return mr_dist_shape(api, "epRankId = %lld is not in [0, epWorldSize = %lld)", (long long)x->rank,
                               (long long)x->world);
    if (x->tp_world == 2)
        return mr_dist_shape(api, "tpWorldSize 2 (tensor parallelism) is not implemented by moeroute; use 0 or 1");
    if (x->tp_world < 0 || x->tp_world > 1 || x->tp_rank != 0)
        return mr_dist_shape(api, "tpWorldSize must be 0 or 1 and tpRankId 0, got %lld and %lld",
                               (long long)x->tp_world, (long long)x->tp_rank);
    if (x->shard_type != 0) return mr_dist_shape(api, "expertShardType must be 0, got %lld", (long long)x->shard_type);
    if (x->shared_ranks < 0 || x->shared_ranks >= x->world || x->shared_num < 0 ||
        (x->shared_ranks > 0 && (x->shared_num == 0 || x->shared_ranks % x->shared_num != 0)))
        return mr_dist_shape(api, "sharedExpertRankNum = %lld must be in [0, epWorldSize) and, when positive, a multiple "
                               "of sharedExpertNum = %lld (>= 1)",
                               (long long)x->shared_ranks, (long long)x->shared_num);
    const int64_t moe_ranks = x->world - x->shared_ranks;
    if (x->experts < 1 || x->experts % moe_ranks != 0)
        return mr_dist_shape(api, "moeExpertNum = %lld must be a positive multiple of the %lld MoE ranks",
                               (long long)x->experts, (long long)moe_ranks);
    if (x->k < 1 || x->k > x->experts)
        return mr_dist_shape(api, "K = %lld must be in [1, moeExpertNum = %lld]", (long long)x->k, (long long)x->experts);
    if (x->global_bs != 0 && (x->global_bs % x->world != 0 || x->global_bs / x->world < x->bs))
        return mr_dist_shape(api, "globalBs = %lld must be 0 or maxBs * epWorldSize with maxBs >= Bs = %lld",
                               (long long)x->global_bs, (long long)x->bs);
    if (limits) {
        if (x->bs > 512) return mr_dist_shape(api, "Bs = %lld exceeds 512 %s", (long long)x->bs, lim);
        if (x->h < 1024 || x->h > 8192)
            return mr_dist_shape(api, "H = %lld is outside [1024, 8192] %s", (long long)x->h, lim);
        if (x->k > 16) return mr_dist_shape(api, "K = %lld exceeds 16 %s", (long long)x->k, lim);
        if (x->experts > 1024) return mr_dist_shape(api, "moeExpertNum = %lld exceeds 1024 %s", (long long)x->experts, lim);
        if (x->world < 2 || x->world > 768)
            return mr_dist_shape(api, "epWorldSize = %lld is outside [2, 768] %s", (long long)x->world, lim);
        if (x->shared_num > 4) return mr_dist_shape(api, "sharedExpertNum = %lld exceeds 4 %s", (long long)x->shared_num, lim);
    }
    memset(a, 0, sizeof *a);
    a->world = x->world, a->moe_experts = x->experts, a->shared_num = x->shared_num;
    a->shared_ranks = x->shared_ranks, a->global_bs = x->global_bs, a->h = x->h, a->k = x->k;
    /* A >= rows this rank can receive (spec 11.2) */
    const int64_t max_bs = x->global_bs ? x->global_bs / x->world : x->bs, L = x->experts / moe_ranks;
    int64_t bound;
    if (x->rank < x->shared_ranks) {
        const int64_t P = x->shared_ranks / x->shared_num, q = x->rank % P;
        bound = max_bs * ((x->world - q + P - 1) / P); /* sources s with s % P == q */
    } else {
        bound = max_bs * x->world * (L < x->k ? L : x->k);
    }
    *min_rows = bound;
    return MOEROUTE_OK;
}


/* ---- checks ---------------------------------------------------------------------------------------------- */

/* Negative ids of active slots are refused (an id >= moeExpertNum sends nothing: spec 11.3). */
static moeroute_status mr_check_ids(const mr_view *ids, const mr_view *mask, int64_t bs, int64_t k, const char *api,
                                    const char *name)
{
    for (int64_t t = 0; t < bs; t++)
        for (int64_t j = 0; j < k; j++)
            if (mr_slot_active(mask, t, j) && mr_i32_at(ids, t, j) < 0)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: %s[%lld][%lld] = %d is negative", api, name,
                               (long long)t, (long long)j, (int)mr_i32_at(ids, t, j));
    return MOEROUTE_OK;
}

/* ---- the round, shared by both operators ----------------------------------------------------------------- */

/* An HCCL outcome as a status: peers' refusals and disagreements are argument errors (161002); a wait that ran
 * out or a broken communicator is a communication failure (561000 at the aclnn API). */
static moeroute_status mr_dist_status(HcclResult h)
{
    if (h == HCCL_SUCCESS) return MOEROUTE_OK;
    if (h == HCCL_E_MEMORY) return MOEROUTE_ERR_OUT_OF_MEMORY;
    if (h == HCCL_E_TIMEOUT || h == HCCL_E_UNAVAIL || h == HCCL_E_NOT_FOUND) mr_dist_comm_flag = 1;
    return MOEROUTE_ERR_INVALID_VALUE;
}

/* Resolve the group, check the rank, post (with this rank's own verdict `local`) and wait for the peers. */
static moeroute_status mr_dist_begin(mr_dist_round *rd, const mr_dist_plan *p, uint32_t kind, const mr_dist_desc *d,
                                     moeroute_status local, const char *api)
{
    memset(rd, 0, sizeof *rd);
    mr_dist_comm_flag = 0;
    rd->g = mr_hccl_group_find(p->group);
    if (!rd->g) {
        mr_dist_comm_flag = 1;
        return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: communicator %s no longer exists (HcclCommDestroy)", api,
                       p->group);
    }
    rd->rank = (uint32_t)p->rank;
    if (local != MOEROUTE_OK) { /* keep the message for the peers, and for this thread */
        const char *m = mr_error_take();
        snprintf(rd->message, sizeof rd->message, "%s", m ? m : "refused");
        mr_error_push("%s", rd->message);
    }
    const mr_hccl_post mine = {kind, &p->a, sizeof p->a, d, NULL, NULL,
                               local == MOEROUTE_OK ? HCCL_SUCCESS : HCCL_E_PARA, rd->message};
    rd->post = mine;
    HcclResult h = mr_hccl_round_begin(rd->g, rd->rank, &rd->post, api, &rd->all);
    if (h != HCCL_SUCCESS) {
        if (h == HCCL_E_TIMEOUT) mr_dist_comm_flag = 1;
        mr_hccl_group_release(rd->g);
        rd->g = NULL;
        return local != MOEROUTE_OK ? local : mr_dist_status(h);
    }
    return MOEROUTE_OK;
}

/* End the round (wait until every rank has finished reading its peers); the call's outcome: `st` (a verdict every
 * rank reached from the posts), else the end's. */
static moeroute_status mr_dist_end(mr_dist_round *rd, moeroute_status st, const char *api)
{
    HcclResult h = mr_hccl_round_end(rd->g, rd->rank, api);
    mr_hccl_group_release(rd->g);
    return st != MOEROUTE_OK ? st : mr_dist_status(h);
}

void mr_dist_set_comm_failed(int failed) { mr_dist_comm_flag = failed; }

char *mr_dist_ws_base(void *workspace) { return (char *)workspace + ((64 - (uintptr_t)workspace % 64) % 64); }

/* This rank's own refusals, before the round: workspace, data addresses, overlaps, Bs against globalBs, negative
 * expert ids (ids and mask at view slots 1 and `mask` of both operators). */
static moeroute_status mr_dist_local_checks(const mr_dist_plan *p, const mr_view *v, const char *const *names,
                                            size_t n, size_t first_out, size_t mask, void *workspace,
                                            size_t workspace_size, const char *api)
{
    moeroute_status st;
    if (workspace_size < p->ws_size || !workspace)
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: workspace of %zu bytes at %p; %zu bytes are required", api,
                       workspace_size, workspace, p->ws_size);
    if ((st = mr_views_check_data(api, v, names, n)) != MOEROUTE_OK ||
        (st = mr_views_check_disjoint(api, v, names, n, first_out, workspace, p->ws_size)) != MOEROUTE_OK)
        return st;
    if (p->a.global_bs > 0 && p->bs > p->a.global_bs / p->a.world)
        return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: Bs = %lld exceeds globalBs / epWorldSize = %lld", api,
                       (long long)p->bs, (long long)(p->a.global_bs / p->a.world));
    _Static_assert(MR_DSP_IDS == 1 && MR_CMB_IDS == 1, "expertIds is view slot 1 of both operators");
    return mr_check_ids(&v[1], &v[mask], p->bs, p->a.k, api, "expertIds");
}

moeroute_status mr_dist_check_uniform_bs(const mr_dist_round *rd, const mr_dist_plan *p, const char *api)
{
    for (int64_t s = 1; s < p->a.world && p->a.global_bs == 0; s++)
        if (mr_peer(rd, s)->bs != mr_peer(rd, 0)->bs)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rank %lld has Bs = %lld but rank 0 has %lld; with globalBs = 0 every rank must have "
                           "the same Bs",
                           api, (long long)s, (long long)mr_peer(rd, s)->bs, (long long)mr_peer(rd, 0)->bs);
    return MOEROUTE_OK;
}

int64_t mr_dist_rows_sent(const mr_dist_layout *l, const mr_view *ids, const mr_view *mask, int64_t bs, int64_t k)
{
    int64_t n = 0;
    for (int64_t t = 0; t < bs; t++) {
        for (int64_t j = 0; j < k; j++) n += mr_slot_expert(ids, mask, t, j, l->E) >= 0;
        if (l->R > 0 && mr_token_active(mask, t, k)) n += l->S;
    }
    return n;
}

void mr_dist_totals(const mr_dsp_ctx *c, size_t ids, size_t mask, int64_t *tot)
{
    const mr_dist_layout *l = &c->l;
    const int64_t K = c->p->a.k;
    memset(tot, 0, (size_t)l->W * sizeof *tot);
    for (int64_t s = 0; s < l->W; s++) {
        const mr_dist_desc *d = mr_peer(c->rd, s);
        for (int64_t t = 0; t < d->bs; t++) {
            for (int64_t j = 0; j < K; j++) {
                const int64_t e = mr_slot_expert(&d->v[ids], &d->v[mask], t, j, l->E);
                if (e >= 0) tot[l->R + e / l->L]++;
            }
            if (l->R > 0 && mr_token_active(&d->v[mask], t, K))
                for (int64_t i = 0; i < l->S; i++) tot[i * l->P + s % l->P]++;
        }
    }
}

/* The group of p if it spans processes (a network transport), with a reference taken; NULL otherwise. */
static mr_hccl_group *mr_dist_net_group(const mr_dist_plan *p, const char *api)
{
    (void)api;
    mr_hccl_group *g = mr_hccl_group_find(p->group);
    if (g && mr_hccl_group_net(g)) return g;
    if (g) mr_hccl_group_release(g);
    return NULL;
}

/* ---- dispatch --------------------------------------------------------------------------------------------- */

/* The rows source s sends to receiver r, in r's order within the (le, s) blocks: fn(s, t, j, le, e) for each
 * (t, j) of s whose expert e is a local expert le of r; on a shared-expert rank r (shared expert r / P, copy
 * r % P, serving the sources with s % P == r % P) every active token, le = 0, j = K + r / P, e = -1 - r / P. */
void mr_dsp_walk(const mr_dsp_ctx *c, int64_t r, int64_t s, mr_dsp_visit fn, void *ctx)
{
    const mr_dist_layout *l = &c->l;
    const mr_dist_desc *d = mr_peer(c->rd, s);
    const mr_view *ids = &d->v[MR_DSP_IDS], *mask = &d->v[MR_DSP_MASK];
    const int64_t K = c->p->a.k;
    if (r < l->R) {
        if (s % l->P != r % l->P) return;
        for (int64_t t = 0; t < d->bs; t++)
            if (mr_token_active(mask, t, K)) fn(ctx, s, t, K + r / l->P, 0, -1 - r / l->P);
        return;
    }
    const int64_t first = (r - l->R) * l->L;
    for (int64_t t = 0; t < d->bs; t++)
        for (int64_t j = 0; j < K; j++) {
            const int64_t e = mr_slot_expert(ids, mask, t, j, l->E);
            if (e >= first && e < first + l->L) fn(ctx, s, t, j, e - first, e);
        }
}

typedef struct mr_dsp_count {
    int64_t *counts; /* [L * W] */
    int64_t W;
} mr_dsp_count;

static void mr_dsp_count_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    (void)t, (void)j, (void)e;
    mr_dsp_count *c = ctx;
    c->counts[le * c->W + s]++;
}

/* Rows per (local expert, source) block of this rank and the first row of each, in (le, s) order; the total. */
int64_t mr_dsp_blocks(const mr_dsp_ctx *c, int64_t *counts, int64_t *cursor)
{
    const int64_t W = c->l.W, L = c->p->local_experts;
    memset(counts, 0, (size_t)(L * W) * sizeof *counts);
    mr_dsp_count cnt = {counts, W};
    for (int64_t s = 0; s < W; s++) mr_dsp_walk(c, c->p->rank, s, mr_dsp_count_fn, &cnt);
    int64_t total = 0;
    for (int64_t le = 0; le < L; le++)
        for (int64_t s = 0; s < W; s++) cursor[le * W + s] = total, total += counts[le * W + s];
    return total;
}

moeroute_status mr_dsp_check_total(int64_t r, int64_t total, int64_t rows, const char *api)
{
    if (total <= rows) return MOEROUTE_OK;
    return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                   "%s: rank %lld receives %lld rows but expandXOut has A = %lld (expert ids repeated in a row?)", api,
                   (long long)r, (long long)total, (long long)rows);
}

/* Row t of the source's x as the receiver stores it for expert e (shared expert i: e = -1 - i): a bit copy
 * (quantMode 0), or the per-token int8 of spec 11.3 and its scale 1 / f (quantMode 2). v, sm: H floats. */
void mr_dsp_make_row(const mr_dist_plan *p, const mr_view *src, int64_t t, int64_t e, char *dst, float *scale,
                     float *v, float *sm, mr_copy_fn copy)
{
    const int64_t H = p->a.h;
    int64_t cs;
    const char *xr = mr_view_row(&src[MR_DSP_X], t, &cs);
    if (p->a.quant_mode == 0) {
        const size_t es = mr_xtype_size((mr_xtype)p->a.xtype);
        if (cs == 1) copy(dst, xr, (size_t)H * es);
        else
            for (int64_t h = 0; h < H; h++) memcpy(dst + h * (int64_t)es, xr + h * cs * (int64_t)es, es);
        return;
    }
    const mr_mlp_config *k = p->backend.mlp; /* v = f32(x) (* smooth), f = 127 / max|v|, y = rint(v * f) */
    mr_acc_widen__scalar(v, xr, cs, (size_t)H, (mr_xtype)p->a.xtype);
    if (src[MR_DSP_SCALES].data) {
        const int64_t srow = e >= 0 ? (p->a.shared_ranks > 0 ? p->a.shared_num : 0) + e : -1 - e;
        int64_t ss;
        const char *sr = mr_view_row(&src[MR_DSP_SCALES], srow, &ss);
        mr_acc_widen__scalar(sm, sr, ss, (size_t)H, MR_X_F32);
        k->mul(v, sm, v, (size_t)H);
    }
    const float a = p->backend.dquant->absmax[MR_X_F32](v, NULL, (size_t)H);
    const float f = 127.0f / a;
    k->quant_mul(v, f, (int8_t *)(void *)dst, (size_t)H);
    *scale = 1.0f / f;
}

size_t mr_dsp_row_bytes(const mr_dist_plan *p)
{
    return (size_t)p->a.h * (p->a.quant_mode ? 1u : mr_xtype_size((mr_xtype)p->a.xtype));
}

mr_copy_fn mr_dsp_row_copy(const mr_dist_plan *p, int64_t rows)
{
    return mr_backend_output_copy(p->backend.copy, (size_t)rows * mr_dsp_row_bytes(p));
}

void mr_dsp_write_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    mr_dsp_write *w = ctx;
    const mr_dist_plan *p = w->c->p;
    const mr_view *src = mr_peer(w->c->rd, s)->v, *out = w->out;
    const int64_t row = w->cursor[le * w->c->l.W + s]++;
    if (w->rows) {
        float scale = 0.0f;
        mr_dsp_make_row(p, src, t, e, out[MR_DSP_EXPX].data + row * (int64_t)mr_dsp_row_bytes(p), &scale, w->v, w->sm,
                        w->copy);
        if (p->a.quant_mode) memcpy(out[MR_DSP_DYNS].data + row * 4, &scale, 4);
    }
    const int32_t info[3] = {(int32_t)s, (int32_t)t, (int32_t)j};
    memcpy(out[MR_DSP_ASSIST].data + row * 12, info, sizeof info);
    if (out[MR_DSP_EXPS].data) {
        const float es = e >= 0 && src[MR_DSP_ESCALES].data ? mr_f32_at(&src[MR_DSP_ESCALES], t, j) : 1.0f;
        memcpy(out[MR_DSP_EXPS].data + row * 4, &es, 4);
    }
}

/* epRecvCountsOut, expertTokenNumsOut, tpRecvCountsOut from the block counts. */
void mr_dsp_counts_out(const mr_dist_plan *p, const mr_view *v, const int64_t *counts, int64_t total)
{
    const int64_t W = p->a.world, L = p->local_experts;
    int64_t sum = 0;
    for (int64_t le = 0; le < L; le++) {
        int64_t n = 0;
        for (int64_t s = 0; s < W; s++) {
            n += counts[le * W + s];
            const int32_t cum = (int32_t)(sum + n);
            memcpy(v[MR_DSP_RECV].data + (le * W + s) * 4, &cum, 4);
        }
        sum += n;
        const int64_t tok = p->a.token_nums_type == 0 ? sum : n;
        memcpy(v[MR_DSP_TOKNUMS].data + le * 8, &tok, 8);
    }
    if (v[MR_DSP_TPRECV].data && v[MR_DSP_TPRECV].dims[0] > 0) {
        const int32_t all = (int32_t)total;
        memcpy(v[MR_DSP_TPRECV].data, &all, 4);
    }
}

moeroute_status mr_dispatch_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                mr_pool *pool, const char *api)
{
    (void)pool; /* each rank's call runs on its own thread */
    const mr_dist_plan *p = plan;
    mr_view v[MR_DSP_COUNT];
    memcpy(v, views, sizeof v);
    if (p->a.quant_mode == 0) memset(&v[MR_DSP_SCALES], 0, sizeof v[0]);
    const moeroute_status local = mr_dist_local_checks(p, v, mr_dsp_names, MR_DSP_COUNT, MR_DSP_EXPX, MR_DSP_MASK,
                                                       workspace, workspace_size, api);
    mr_hccl_group *net = mr_dist_net_group(p, api);
    if (net) return mr_dispatch_net(p, v, net, local, workspace, api);
    const mr_dist_desc d = {v, p->bs, p->rows};
    mr_dist_round rd;
    moeroute_status st = mr_dist_begin(&rd, p, MR_HCCL_MC2_DISPATCH, &d, local, api);
    if (st != MOEROUTE_OK) return st;

    const mr_dsp_ctx c = {p, mr_dist_layout_of(&p->a), &rd};
    const int64_t blocks = p->local_experts * c.l.W;
    int64_t *counts = (int64_t *)(void *)mr_dist_ws_base(workspace), *cursor = counts + blocks;
    float *fv = (float *)(void *)(cursor + blocks), *fs = fv + p->a.h;
    /* the verdict, from the posts alone: every rank checks every rank (the rows each receives, in cursor) */
    st = mr_dist_check_uniform_bs(&rd, p, api);
    if (st == MOEROUTE_OK) mr_dist_totals(&c, MR_DSP_IDS, MR_DSP_MASK, cursor);
    for (int64_t r = 0; r < c.l.W && st == MOEROUTE_OK; r++)
        st = mr_dsp_check_total(r, cursor[r], mr_peer(&rd, r)->rows, api);
    if (st != MOEROUTE_OK) return mr_dist_end(&rd, st, api);

    const int64_t total = mr_dsp_blocks(&c, counts, cursor);
    mr_dsp_write w = {&c, cursor, v, fv, fs, 1, mr_dsp_row_copy(p, total)};
    for (int64_t s = 0; s < c.l.W; s++) mr_dsp_walk(&c, p->rank, s, mr_dsp_write_fn, &w);
    if (w.copy != p->backend.copy->copy) atomic_thread_fence(memory_order_seq_cst); /* orders the streaming stores */
    mr_dsp_counts_out(p, v, counts, total);
    return mr_dist_end(&rd, MOEROUTE_OK, api);
}

/* ---- combine ------------------------------------------------------------------------------------------------ */

/* Where (t, j) of rank me (or its shared copy) lives: owner rank, row; -1 row when the bookkeeping does not
 * describe it (the owner's assistInfo is checked when it is at hand: in process). */
static int64_t mr_cmb_row(const mr_dist_round *rd, const mr_dist_layout *l, int64_t me, int64_t t, int64_t j,
                          int64_t owner, int64_t le, int64_t index)
{
    const mr_dist_desc *o = mr_peer(rd, owner);
    const mr_view *send = &o->v[MR_CMB_SEND], *assist = &o->v[MR_CMB_ASSIST];
    const int64_t b = le * l->W + me;
    const int64_t base = b > 0 ? mr_i32_at(send, b - 1, 0) : 0, end = mr_i32_at(send, b, 0);
    const int64_t row = base + index;
    if (base < 0 || row >= end || row >= o->rows) return -1;
    if (!assist->data) return row;
    if (3 * row + 2 >= assist->dims[0] || mr_i32_at(assist, 3 * row, 0) != me || mr_i32_at(assist, 3 * row + 1, 0) != t ||
        mr_i32_at(assist, 3 * row + 2, 0) != j)
        return -1;
    return row;
}

/* Slot j of token t of rank me (j >= K: shared expert j - K): its owner, local expert and index within me's
 * block (counted in cursor[E + S]); 0 when the slot sends nothing. */
static int mr_cmb_slot(const mr_dist_layout *l, const mr_view *ids, const mr_view *mask, int64_t me, int64_t t,
                       int64_t j, int64_t K, int64_t *cursor, int64_t *owner, int64_t *le, int64_t *index)
{
    if (j < K) {
        const int64_t e = mr_slot_expert(ids, mask, t, j, l->E);
        if (e < 0) return 0;
        *owner = l->R + e / l->L, *le = e % l->L, *index = cursor[e]++;
    } else { /* shared expert i = j - K, copy me % P */
        *owner = (j - K) * l->P + me % l->P, *le = 0, *index = cursor[l->E + (j - K)]++;
    }
    return 1;
}

/* Rank s's tokens against its owners' bookkeeping: every slot's row, and every block s sent consumed whole. */
static moeroute_status mr_cmb_check(const mr_dist_round *rd, const mr_dist_plan *p, int64_t s, int64_t *cursor,
                                    const char *api)
{
    const mr_dist_layout l = mr_dist_layout_of(&p->a);
    const int64_t K = p->a.k;
    const mr_dist_desc *d = mr_peer(rd, s);
    const mr_view *ids = &d->v[MR_CMB_IDS], *mask = &d->v[MR_CMB_MASK];
    memset(cursor, 0, (size_t)(l.E + l.S) * sizeof *cursor);
    for (int64_t t = 0; t < d->bs; t++) {
        if (!mr_token_active(mask, t, K)) continue;
        for (int64_t j = 0; j <= K + (l.R > 0 ? l.S : 0) - 1; j++) {
            int64_t owner, le, index;
            if (mr_cmb_slot(&l, ids, mask, s, t, j, K, cursor, &owner, &le, &index) &&
                mr_cmb_row(rd, &l, s, t, j, owner, le, index) < 0)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                               "%s: rank %lld's epSendCounts / assistInfoForCombine do not hold token %lld slot %lld "
                               "of rank %lld; pass dispatch's outputs and the same expertIds and mask",
                               api, (long long)owner, (long long)t, (long long)j, (long long)s);
        }
    }
    for (int64_t e = 0; e < l.E + (l.R > 0 ? l.S : 0); e++) {
        const int64_t owner = e < l.E ? l.R + e / l.L : (e - l.E) * l.P + s % l.P, le = e < l.E ? e % l.L : 0;
        const mr_view *send = &mr_peer(rd, owner)->v[MR_CMB_SEND];
        const int64_t b = le * l.W + s;
        const int64_t n = mr_i32_at(send, b, 0) - (b > 0 ? mr_i32_at(send, b - 1, 0) : 0);
        if (n != cursor[e])
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rank %lld received %lld rows from rank %lld for %s %lld, but this rank's expertIds and "
                           "mask send %lld",
                           api, (long long)owner, (long long)n, (long long)s, e < l.E ? "expert" : "shared expert",
                           (long long)(e < l.E ? e : e - l.E), (long long)cursor[e]);
    }
    return MOEROUTE_OK;
}

/* acc[0..n) = acc + f32(f32(row) * scale) (has_scale) or acc + f32(row), element by element (spec 11.4): the
 * backend's fused vector term for a contiguous row (the same IEEE fp32 operations, so the same bytes), the
 * accumulate family's scalar term otherwise. tmp: n floats. */
static void mr_cmb_term(const mr_dist_plan *p, float *acc, float *tmp, const mr_cmb_src *t, size_t c, size_t n)
{
    const mr_xtype xt = (mr_xtype)p->a.xtype;
    const char *row = t->row + (int64_t)c * t->cs * (int64_t)mr_xtype_size(xt);
    if (t->cs == 1) {
        p->backend.mlp->acc_x[xt](acc, row, t->scale, t->has_scale, n);
        return;
    }
    mr_acc_widen__scalar(tmp, row, t->cs, n, xt);
    mr_acc_term__scalar(acc, tmp, NULL, 0, t->has_scale, t->scale, 0, n, MR_ACC_F32);
}

/* Elements per chunk of a token's sum: acc and tmp chunks stay in L1, and while a row's chunk is summed its next
 * chunk is prefetched (the rows are short, scattered streams that the hardware prefetcher picks up late). 256 was
 * the best of 128 to 2048 in moeroute_ep_bench, both transports (docs/performance.md). */
#define MR_CMB_CHUNK 256u

void mr_cmb_sum(const mr_dist_round *rd, const mr_dist_plan *p, const mr_view *v, int64_t *cursor,
                const mr_cmb_fetch *f)
{
    const mr_dist_layout l = mr_dist_layout_of(&p->a);
    const int64_t me = p->rank, K = p->a.k, H = p->a.h;
    const size_t es = mr_xtype_size((mr_xtype)p->a.xtype);
    mr_cmb_src *list = (mr_cmb_src *)(void *)(cursor + l.E + l.S + 1); /* workspace: mr_dist_plan_init */
    float *acc = (float *)(void *)(list + K + l.S + 1), *tmp = acc + H;
    const mr_view *ids = &v[MR_CMB_IDS], *mask = &v[MR_CMB_MASK];
    memset(cursor, 0, (size_t)(l.E + l.S) * sizeof *cursor);
    for (int64_t t = 0; t < p->bs; t++) {
        if (!mr_token_active(mask, t, K)) continue;
        size_t n = 0; /* the token's terms in the order of spec 11.4 */
        for (int64_t j = 0; j <= K + (l.R > 0 ? l.S : 0) - 1; j++) {
            int64_t owner, le, index, cs = 1;
            if (!mr_cmb_slot(&l, ids, mask, me, t, j, K, cursor, &owner, &le, &index)) continue;
            const char *src;
            if (!f->staging)
                src = mr_view_row(&mr_peer(rd, owner)->v[MR_CMB_EXPX], mr_cmb_row(rd, &l, me, t, j, owner, le, index),
                                  &cs);
            else if (owner == f->self)
                src = f->self_rows + (size_t)(f->self_start[le * l.W + me] + index) * f->row_bytes;
            else
                src = f->staging + (size_t)(f->offset[le * l.W + owner] + index) * f->row_bytes;
            list[n++] = (mr_cmb_src){src, cs, j < K ? mr_f32_at(&v[MR_CMB_ESCALES], t, j) : 1.0f, j < K};
        }
        if (v[MR_CMB_SHARED].data) {
            int64_t cs;
            const char *sx = mr_view_row(&v[MR_CMB_SHARED], t, &cs);
            list[n++] = (mr_cmb_src){sx, cs, 1.0f, 0};
        }
        memset(acc, 0, (size_t)H * sizeof *acc); /* acc = +0 */
        for (size_t c = 0; c < (size_t)H; c += MR_CMB_CHUNK) { /* each element's terms in order, chunk by chunk */
            const size_t len = (size_t)H - c < MR_CMB_CHUNK ? (size_t)H - c : MR_CMB_CHUNK;
            const size_t next = c + len, next_len = (size_t)H - next < MR_CMB_CHUNK ? (size_t)H - next : MR_CMB_CHUNK;
            for (size_t i = 0; i < n; i++) {
                if (list[i].cs == 1) mr_prefetch_bytes(list[i].row, next * es, next_len * es);
                mr_cmb_term(p, acc + c, tmp, &list[i], c, len);
            }
        }
        /* a NaN as the canonical quiet NaN: which of two NaNs an add passes on differs between scalar and vector
           code (as in the accumulate step) */
        p->backend.mlp->canon(acc, (size_t)H);
        p->backend.mlp->narrow[p->a.xtype](acc, v[MR_CMB_OUT].data + t * H * (int64_t)es, (size_t)H); /* RNE */
    }
}

moeroute_status mr_combine_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                               mr_pool *pool, const char *api)
{
    (void)pool;
    const mr_dist_plan *p = plan;
    mr_view v[MR_CMB_COUNT];
    memcpy(v, views, sizeof v);
    const moeroute_status local = mr_dist_local_checks(p, v, mr_cmb_names, MR_CMB_COUNT, MR_CMB_OUT, MR_CMB_MASK,
                                                       workspace, workspace_size, api);
    mr_hccl_group *net = mr_dist_net_group(p, api);
    if (net) return mr_combine_net(p, v, net, local, workspace, api);
    const mr_dist_desc d = {v, p->bs, p->rows};
    mr_dist_round rd;
    moeroute_status st = mr_dist_begin(&rd, p, MR_HCCL_MC2_COMBINE, &d, local, api);
    if (st != MOEROUTE_OK) return st;
    const mr_dist_layout l = mr_dist_layout_of(&p->a);
    int64_t *cursor = (int64_t *)(void *)mr_dist_ws_base(workspace);
    const mr_cmb_fetch in_process = {NULL, NULL, 0, -1, NULL, NULL};
    /* the verdict, from the posts alone: every rank checks every rank's tokens against the bookkeeping */
    st = mr_dist_check_uniform_bs(&rd, p, api);
    for (int64_t s = 0; s < l.W && st == MOEROUTE_OK; s++) st = mr_cmb_check(&rd, p, s, cursor, api);
    if (st == MOEROUTE_OK) mr_cmb_sum(&rd, p, v, cursor, &in_process);
    return mr_dist_end(&rd, st, api);
}
