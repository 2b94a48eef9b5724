/* MoeDistributeDispatchV2 / MoeDistributeCombineV2 over the in-process communicator (distribute.h;
 * docs/operators/distribute.md; layer spec 11.3, 11.4). One rendezvous round per call:
 *
 *   begin   post this rank's views and attributes; refusals of its own inputs (negative expert ids, a batch
 *           above globalBs / W, missing data, overlapping outputs) travel with the post, so every rank fails
 *   check   read the peers' expert ids (dispatch) or bookkeeping (combine), decide whether this rank can
 *           proceed (rows fit in A; the bookkeeping matches this rank's ids and mask), and vote
 *   write   only after a unanimous vote: outputs stay untouched on every refusal
 *   end     wait until every rank has finished reading its peers
 *
 * Arithmetic: dispatch quantMode 2 is the per-token recipe of spec 11.3 (DynamicQuant template A with the
 * destination expert's fp32 smooth row; the same kernels as src/operators/dynamic_quant.c); combine is the fp32
 * chain of spec 11.4 through the accumulate family (acc = +0, then acc + f32(row * scale) per slot). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "hccl/hccl_internal.h"
#include "kernels/accumulate/accumulate.h"
#include "operators/distribute.h"
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

static mr_dist_layout mr_layout(const mr_dist_attrs *a)
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
    const mr_dist_layout l = mr_layout(a);
    p->moe_local = l.L;
    p->local_experts = rank < l.R ? 1 : l.L;
    mr_backend_init(&p->backend, MOEROUTE_ISA_AUTO, 1);
    /* workspace: int64 cursors and counts, then two fp32 rows, 64-byte aligned */
    const int64_t ints = combine ? l.E + l.S + 1 : 2 * p->local_experts * l.W;
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


/* ---- element access ------------------------------------------------------------------------------------- */

static int32_t mr_i32_at(const mr_view *v, int64_t t, int64_t j)
{
    const char *at = v->data + (t * v->strides[0] + (v->ndim > 1 ? j * v->strides[1] : 0)) * (int64_t)v->esize;
    int32_t x;
    memcpy(&x, at, 4);
    return x;
}

static float mr_f32_at(const mr_view *v, int64_t t, int64_t j)
{
    const char *at = v->data + (t * v->strides[0] + j * v->strides[1]) * 4;
    float x;
    memcpy(&x, at, 4);
    return x;
}

/* Slot (t, j) is active: no mask, the token's entry of a [Bs] mask, or the slot's of a [Bs, K] mask. */
static int mr_slot_active(const mr_view *mask, int64_t t, int64_t j)
{
    if (!mask->data) return 1;
    const char *at = mask->data + (t * mask->strides[0] + (mask->ndim > 1 ? j * mask->strides[1] : 0));
    return *at != 0;
}

/* Token t is active: it has an active slot (every slot of a 1-D mask follows the token). */
static int mr_token_active(const mr_view *mask, int64_t t, int64_t k)
{
    if (!mask->data) return 1;
    if (mask->ndim == 1) return mr_slot_active(mask, t, 0);
    for (int64_t j = 0; j < k; j++)
        if (mr_slot_active(mask, t, j)) return 1;
    return 0;
}

/* The expert slot (t, j) of a rank sends to (-1: none). */
static int64_t mr_slot_expert(const mr_view *ids, const mr_view *mask, int64_t t, int64_t j, int64_t E)
{
    if (!mr_slot_active(mask, t, j)) return -1;
    const int32_t e = mr_i32_at(ids, t, j);
    return e >= 0 && e < E ? e : -1;
}

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

/* Vote on this rank's verdict, then end the round; returns the common outcome. */
static moeroute_status mr_dist_vote(mr_dist_round *rd, moeroute_status mine, const char *api)
{
    char msg[320] = "";
    if (mine != MOEROUTE_OK) {
        const char *m = mr_error_take();
        snprintf(msg, sizeof msg, "%s", m ? m : "refused");
        mr_error_push("%s", msg);
    }
    HcclResult h = mr_hccl_round_vote(rd->g, rd->rank, mine == MOEROUTE_OK ? HCCL_SUCCESS : HCCL_E_PARA, msg, api);
    if (h == HCCL_SUCCESS) return MOEROUTE_OK;
    moeroute_status st = mine != MOEROUTE_OK ? mine : mr_dist_status(h);
    if (h == HCCL_E_TIMEOUT) mr_dist_comm_flag = 1;
    mr_hccl_round_end(rd->g, rd->rank, api);
    mr_hccl_group_release(rd->g);
    return st;
}

static moeroute_status mr_dist_end(mr_dist_round *rd, const char *api)
{
    HcclResult h = mr_hccl_round_end(rd->g, rd->rank, api);
    mr_hccl_group_release(rd->g);
    return mr_dist_status(h);
}

static const mr_dist_desc *mr_peer(const mr_dist_round *rd, int64_t s) { return rd->all[s]->desc; }

static char *mr_ws_base(void *workspace) { return (char *)workspace + ((64 - (uintptr_t)workspace % 64) % 64); }

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

/* With globalBs = 0 every rank must have the same Bs (the same verdict on every rank). */
static moeroute_status mr_check_uniform_bs(const mr_dist_round *rd, const mr_dist_plan *p, const char *api)
{
    for (int64_t s = 1; s < p->a.world && p->a.global_bs == 0; s++)
        if (mr_peer(rd, s)->bs != mr_peer(rd, 0)->bs)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rank %lld has Bs = %lld but rank 0 has %lld; with globalBs = 0 every rank must have "
                           "the same Bs",
                           api, (long long)s, (long long)mr_peer(rd, s)->bs, (long long)mr_peer(rd, 0)->bs);
    return MOEROUTE_OK;
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

typedef struct mr_dsp_ctx {
    const mr_dist_plan *p;
    mr_dist_layout l;
    const mr_dist_round *rd;
} mr_dsp_ctx;

typedef void (*mr_dsp_visit)(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e);

/* The rows source s sends to receiver r, in r's order within the (le, s) blocks: fn(s, t, j, le, e) for each
 * (t, j) of s whose expert e is a local expert le of r; on a shared-expert rank r (shared expert r / P, copy
 * r % P, serving the sources with s % P == r % P) every active token, le = 0, j = K + r / P, e = -1 - r / P. */
static void mr_dsp_walk(const mr_dsp_ctx *c, int64_t r, int64_t s, mr_dsp_visit fn, void *ctx)
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
static int64_t mr_dsp_blocks(const mr_dsp_ctx *c, int64_t *counts, int64_t *cursor)
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

static moeroute_status mr_dsp_check_total(const mr_dist_plan *p, int64_t total, const char *api)
{
    if (total <= p->rows) return MOEROUTE_OK;
    return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                   "%s: rank %lld receives %lld rows but expandXOut has A = %lld (expert ids repeated in a row?)", api,
                   (long long)p->rank, (long long)total, (long long)p->rows);
}

/* Row t of the source's x as the receiver stores it for expert e (shared expert i: e = -1 - i): a bit copy
 * (quantMode 0), or the per-token int8 of spec 11.3 and its scale 1 / f (quantMode 2). v, sm: H floats. */
static void mr_dsp_make_row(const mr_dist_plan *p, const mr_view *src, int64_t t, int64_t e, char *dst, float *scale,
                            float *v, float *sm)
{
    const int64_t H = p->a.h;
    int64_t cs;
    const char *xr = mr_view_row(&src[MR_DSP_X], t, &cs);
    if (p->a.quant_mode == 0) {
        const size_t es = mr_xtype_size((mr_xtype)p->a.xtype);
        if (cs == 1) memcpy(dst, xr, (size_t)H * es);
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

static size_t mr_dsp_row_bytes(const mr_dist_plan *p)
{
    return (size_t)p->a.h * (p->a.quant_mode ? 1u : mr_xtype_size((mr_xtype)p->a.xtype));
}

typedef struct mr_dsp_write {
    const mr_dsp_ctx *c;
    int64_t *cursor; /* [L * W] next row per block */
    const mr_view *out;
    float *v, *sm;   /* fp32 scratch rows */
    int rows;        /* 0: the rows arrived already (network transport); bookkeeping only */
} mr_dsp_write;

static void mr_dsp_write_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    mr_dsp_write *w = ctx;
    const mr_dist_plan *p = w->c->p;
    const mr_view *src = mr_peer(w->c->rd, s)->v, *out = w->out;
    const int64_t row = w->cursor[le * w->c->l.W + s]++;
    if (w->rows) {
        float scale = 0.0f;
        mr_dsp_make_row(p, src, t, e, out[MR_DSP_EXPX].data + row * (int64_t)mr_dsp_row_bytes(p), &scale, w->v, w->sm);
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
static void mr_dsp_counts_out(const mr_dist_plan *p, const mr_view *v, const int64_t *counts, int64_t total)
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

static moeroute_status mr_dispatch_net(const mr_dist_plan *p, mr_view *v, mr_hccl_group *g, moeroute_status local,
                                       void *workspace, const char *api);

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

    const mr_dsp_ctx c = {p, mr_layout(&p->a), &rd};
    const int64_t blocks = p->local_experts * c.l.W;
    int64_t *counts = (int64_t *)(void *)mr_ws_base(workspace), *cursor = counts + blocks;
    float *fv = (float *)(void *)(cursor + blocks), *fs = fv + p->a.h;
    st = mr_check_uniform_bs(&rd, p, api);
    const int64_t total = st == MOEROUTE_OK ? mr_dsp_blocks(&c, counts, cursor) : 0;
    if (st == MOEROUTE_OK) st = mr_dsp_check_total(p, total, api);
    if ((st = mr_dist_vote(&rd, st, api)) != MOEROUTE_OK) return st;

    mr_dsp_write w = {&c, cursor, v, fv, fs, 1};
    for (int64_t s = 0; s < c.l.W; s++) mr_dsp_walk(&c, p->rank, s, mr_dsp_write_fn, &w);
    mr_dsp_counts_out(p, v, counts, total);
    return mr_dist_end(&rd, api);
}

/* ---- combine ------------------------------------------------------------------------------------------------ */

/* Where the combine finds the row of (owner, local expert le, row index `row`, `index` within this rank's
 * block): in the owner's expandX (in process) or in the staging rows that came over the network. */
typedef struct mr_cmb_fetch {
    const char *staging; /* NULL: in process */
    const int64_t *offset; /* [Lmax * W]: first staging row of block (le, owner) */
    size_t row_bytes;
} mr_cmb_fetch;

/* Where (t, j) of this rank (or its shared copy) lives: owner rank, row; -1 row when the bookkeeping does not
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

/* Walk this rank's tokens: check (write = 0) or accumulate and store (write = 1). */
static moeroute_status mr_cmb_walk(const mr_dist_round *rd, const mr_dist_plan *p, const mr_view *v, int64_t *cursor,
                                   float *acc, float *tmp, int write, const mr_cmb_fetch *f, const char *api)
{
    const mr_dist_layout l = mr_layout(&p->a);
    const int64_t me = p->rank, K = p->a.k, H = p->a.h;
    const mr_view *ids = &v[MR_CMB_IDS], *mask = &v[MR_CMB_MASK];
    memset(cursor, 0, (size_t)(l.E + l.S) * sizeof *cursor);
    for (int64_t t = 0; t < p->bs; t++) {
        if (!mr_token_active(mask, t, K)) continue;
        if (write) memset(acc, 0, (size_t)H * sizeof *acc); /* acc = +0 */
        for (int64_t j = 0; j <= K + (l.R > 0 ? l.S : 0) - 1; j++) {
            int64_t owner, le, index;
            float scale = 1.0f;
            if (j < K) {
                const int64_t e = mr_slot_expert(ids, mask, t, j, l.E);
                if (e < 0) continue;
                owner = l.R + e / l.L, le = e % l.L, index = cursor[e]++;
                scale = mr_f32_at(&v[MR_CMB_ESCALES], t, j);
            } else { /* shared expert i = j - K, copy me % P */
                owner = (j - K) * l.P + me % l.P, le = 0, index = cursor[l.E + (j - K)]++;
            }
            const int64_t row = mr_cmb_row(rd, &l, me, t, j, owner, le, index);
            if (row < 0)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                               "%s: rank %lld's epSendCounts / assistInfoForCombine do not hold token %lld slot %lld "
                               "of rank %lld; pass dispatch's outputs and the same expertIds and mask",
                               api, (long long)owner, (long long)t, (long long)j, (long long)me);
            if (!write) continue;
            int64_t cs = 1;
            const char *src = f->staging ? f->staging + (size_t)(f->offset[le * l.W + owner] + index) * f->row_bytes
                                         : mr_view_row(&mr_peer(rd, owner)->v[MR_CMB_EXPX], row, &cs);
            mr_acc_widen__scalar(tmp, src, cs, (size_t)H, (mr_xtype)p->a.xtype);
            mr_acc_term__scalar(acc, tmp, NULL, 0, j < K, scale, 0, (size_t)H, MR_ACC_F32);
        }
        if (!write) continue;
        if (v[MR_CMB_SHARED].data) {
            int64_t cs;
            const char *sx = mr_view_row(&v[MR_CMB_SHARED], t, &cs);
            mr_acc_widen__scalar(tmp, sx, cs, (size_t)H, (mr_xtype)p->a.xtype);
            mr_acc_term__scalar(acc, tmp, NULL, 0, 0, 1.0f, 0, (size_t)H, MR_ACC_F32);
        }
        const size_t es = mr_xtype_size((mr_xtype)p->a.xtype);
        mr_acc_store__scalar(v[MR_CMB_OUT].data + t * H * (int64_t)es, acc, (size_t)H, (mr_xtype)p->a.xtype,
                             MR_ACC_BF16_RNE);
    }
    /* every block this rank sent must be consumed whole */
    for (int64_t e = 0; e < l.E + (l.R > 0 ? l.S : 0) && !write; e++) {
        const int64_t owner = e < l.E ? l.R + e / l.L : (e - l.E) * l.P + me % l.P, le = e < l.E ? e % l.L : 0;
        const mr_view *send = &mr_peer(rd, owner)->v[MR_CMB_SEND];
        const int64_t b = le * l.W + me;
        const int64_t n = mr_i32_at(send, b, 0) - (b > 0 ? mr_i32_at(send, b - 1, 0) : 0);
        if (n != cursor[e])
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rank %lld received %lld rows from rank %lld for %s %lld, but this rank's expertIds and "
                           "mask send %lld",
                           api, (long long)owner, (long long)n, (long long)me, e < l.E ? "expert" : "shared expert",
                           (long long)(e < l.E ? e : e - l.E), (long long)cursor[e]);
    }
    return MOEROUTE_OK;
}

static moeroute_status mr_combine_net(const mr_dist_plan *p, mr_view *v, mr_hccl_group *g, moeroute_status local,
                                      void *workspace, const char *api);

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
    const mr_dist_layout l = mr_layout(&p->a);
    int64_t *cursor = (int64_t *)(void *)mr_ws_base(workspace);
    float *acc = (float *)(void *)(cursor + l.E + l.S + 1), *tmp = acc + p->a.h;
    const mr_cmb_fetch in_process = {NULL, NULL, 0};
    st = mr_check_uniform_bs(&rd, p, api);
    if (st == MOEROUTE_OK) st = mr_cmb_walk(&rd, p, v, cursor, acc, tmp, 0, &in_process, api);
    if ((st = mr_dist_vote(&rd, st, api)) != MOEROUTE_OK) return st;
    mr_cmb_walk(&rd, p, v, cursor, acc, tmp, 1, &in_process, api);
    return mr_dist_end(&rd, api);
}

/* ---- over a network transport (ranks in other processes: MPI; hccl_internal.h) --------------------------------
 * The same verdicts, row orders and arithmetic as in process, over the transport's two building blocks:
 *   1. a bounded allgather of every rank's head (attributes, Bs, A, its own refusal): the agreement
 *   2. an allgather of every rank's routing (expert ids, active-slot flags, expert scales; combine: epSendCounts),
 *      from which the in-process walks above run unchanged on views of the gathered copies
 *   3. checks, then an allgather vote
 *   4. the rows, one local-expert index k at a time with one all-to-all each: dispatch sends each source's rows
 *      (copied or quantized by the source, as in process) straight to their final place in the receiver's
 *      expandX; combine sends each owner's rows of block (k, s) back to s, which then sums them as in process. */

typedef struct mr_net_head {
    mr_dist_attrs a;
    int64_t kind, refused, bs, rows;
    char message[256];
} mr_net_head;

typedef struct mr_net_call {
    mr_hccl_group *g;
    void *net;
    int64_t W, maxbs, lmax;
    mr_net_head *heads;            /* [W] */
    char *recs;                    /* [W * rec] the gathered routing */
    size_t rec, ids_at, act_at, es_at, send_at;
    mr_view *dviews, *cviews;      /* [W * MR_DSP_COUNT], [W * MR_CMB_COUNT]: views of the gathered copies */
    mr_dist_desc *ddesc, *cdesc;   /* [W] */
    mr_hccl_post *dpost, *cpost;   /* [W] */
    const mr_hccl_post **dptr, **cptr;
    mr_dist_round drd, crd;        /* rounds whose peers are the gathered copies */
} mr_net_call;

static moeroute_status mr_net_comm_fail(HcclResult h)
{
    mr_dist_comm_flag = 1;
    (void)h;
    return MOEROUTE_ERR_INVALID_VALUE;
}

static void mr_net_free(mr_net_call *nc)
{
    mr_free(nc->heads);
    mr_free(nc->recs);
    mr_free(nc->dviews);
    mr_free(nc->cviews);
    mr_free(nc->ddesc);
    mr_free(nc->cdesc);
    mr_free(nc->dpost);
    mr_free(nc->cpost);
    mr_free((void *)nc->dptr);
    mr_free((void *)nc->cptr);
    mr_hccl_group_release(nc->g);
}

/* This thread's newest message, kept for the peers and put back for this thread. */
static void mr_net_keep_message(char *dst, size_t size)
{
    const char *m = mr_error_take();
    snprintf(dst, size, "%s", m ? m : "refused");
    mr_error_push("%s", dst);
}

/* Step 1: the agreement. Every rank reaches the same verdict. */
static moeroute_status mr_net_begin(mr_net_call *nc, const mr_dist_plan *p, int64_t kind, moeroute_status local,
                                    const char *api)
{
    const int64_t W = p->a.world;
    mr_net_head mine;
    memset(&mine, 0, sizeof mine);
    mine.a = p->a, mine.kind = kind, mine.refused = local != MOEROUTE_OK, mine.bs = p->bs, mine.rows = p->rows;
    if (local != MOEROUTE_OK) mr_net_keep_message(mine.message, sizeof mine.message);
    nc->heads = mr_calloc((size_t)W, sizeof *nc->heads);
    if (!nc->heads) return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory", api);
    HcclResult h = mr_hccl_net->allgather(nc->net, &mine, nc->heads, sizeof mine, api);
    if (h != HCCL_SUCCESS) return local != MOEROUTE_OK ? local : mr_net_comm_fail(h);
    if (local != MOEROUTE_OK) return local;
    for (int64_t r = 0; r < W; r++)
        if (nc->heads[r].refused)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: rank %lld refused its arguments: %s", api, (long long)r,
                           nc->heads[r].message);
    for (int64_t r = 0; r < W; r++) {
        if (nc->heads[r].kind != kind || memcmp(&nc->heads[r].a, &p->a, sizeof p->a) != 0)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rank %lld made another call or passed other attributes than rank %lld", api,
                           (long long)r, (long long)p->rank);
        if (p->a.global_bs == 0 && nc->heads[r].bs != nc->heads[0].bs)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: rank %lld has Bs = %lld but rank 0 has %lld; with globalBs = 0 every rank must have the "
                           "same Bs",
                           api, (long long)r, (long long)nc->heads[r].bs, (long long)nc->heads[0].bs);
    }
    return MOEROUTE_OK;
}

static size_t mr_align8(size_t v) { return (v + 7u) & ~(size_t)7u; }

static mr_view mr_net_view(char *data, uint32_t ndim, uint32_t esize, int64_t d0, int64_t d1)
{
    mr_view w;
    memset(&w, 0, sizeof w);
    w.data = data, w.ndim = ndim, w.esize = esize;
    w.dims[0] = d0, w.dims[1] = d1, w.strides[0] = ndim == 2 ? d1 : 1, w.strides[1] = 1;
    return w;
}

/* Step 2: gather every rank's routing and build the rounds over the copies. ids/mask/escales: this rank's
 * views (escales may be absent: 1.0); send: its epSendCounts (combine) or NULL. */
static moeroute_status mr_net_exchange(mr_net_call *nc, const mr_dist_plan *p, const mr_view *ids, const mr_view *mask,
                                       const mr_view *escales, const mr_view *send, const char *api)
{
    const int64_t W = p->a.world, K = p->a.k;
    nc->maxbs = 0;
    for (int64_t r = 0; r < W; r++) nc->maxbs = nc->heads[r].bs > nc->maxbs ? nc->heads[r].bs : nc->maxbs;
    nc->lmax = p->moe_local > 1 ? p->moe_local : 1;
    const size_t slots = (size_t)(nc->maxbs * K);
    nc->ids_at = 0, nc->act_at = mr_align8(slots * 4), nc->es_at = nc->act_at + mr_align8(slots);
    nc->send_at = nc->es_at + mr_align8(slots * 4);
    nc->rec = nc->send_at + (send ? mr_align8((size_t)(W * nc->lmax) * 4) : 0) + 8;
    char *mine = mr_calloc(1, nc->rec);
    nc->recs = mr_calloc((size_t)W, nc->rec);
    nc->dviews = mr_calloc((size_t)W * MR_DSP_COUNT, sizeof(mr_view));
    nc->cviews = mr_calloc((size_t)W * MR_CMB_COUNT, sizeof(mr_view));
    nc->ddesc = mr_calloc((size_t)W, sizeof(mr_dist_desc));
    nc->cdesc = mr_calloc((size_t)W, sizeof(mr_dist_desc));
    nc->dpost = mr_calloc((size_t)W, sizeof(mr_hccl_post));
    nc->cpost = mr_calloc((size_t)W, sizeof(mr_hccl_post));
    nc->dptr = mr_calloc((size_t)W, sizeof(*nc->dptr));
    nc->cptr = mr_calloc((size_t)W, sizeof(*nc->cptr));
    int ok = mine && nc->recs && nc->dviews && nc->cviews && nc->ddesc && nc->cdesc && nc->dpost && nc->cpost &&
             nc->dptr && nc->cptr;
    if (ok) {
        for (int64_t t = 0; t < p->bs; t++)
            for (int64_t j = 0; j < K; j++) {
                const size_t at = (size_t)(t * K + j);
                const int32_t id = mr_i32_at(ids, t, j);
                const float es = escales && escales->data ? mr_f32_at(escales, t, j) : 1.0f;
                memcpy(mine + nc->ids_at + at * 4, &id, 4);
                mine[nc->act_at + at] = (char)mr_slot_active(mask, t, j);
                memcpy(mine + nc->es_at + at * 4, &es, 4);
            }
        for (int64_t b = 0; send && b < send->dims[0]; b++) {
            const int32_t c = mr_i32_at(send, b, 0);
            memcpy(mine + nc->send_at + (size_t)b * 4, &c, 4);
        }
    }
    if (!ok) { /* the peers' bounded wait ends their call */
        mr_free(mine);
        return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory", api);
    }
    HcclResult h = mr_hccl_net->allgather(nc->net, mine, nc->recs, nc->rec, api);
    mr_free(mine);
    if (h != HCCL_SUCCESS) return mr_net_comm_fail(h);
    const mr_dist_layout l = mr_layout(&p->a);
    for (int64_t r = 0; r < W; r++) {
        char *rec = nc->recs + (size_t)r * nc->rec;
        const int64_t bs = nc->heads[r].bs, L = r < l.R ? 1 : l.L;
        mr_view *dv = nc->dviews + r * MR_DSP_COUNT, *cv = nc->cviews + r * MR_CMB_COUNT;
        dv[MR_DSP_IDS] = cv[MR_CMB_IDS] = mr_net_view(rec + nc->ids_at, 2, 4, bs, K);
        dv[MR_DSP_MASK] = cv[MR_CMB_MASK] = mr_net_view(rec + nc->act_at, 2, 1, bs, K);
        dv[MR_DSP_ESCALES] = mr_net_view(rec + nc->es_at, 2, 4, bs, K);
        if (send) cv[MR_CMB_SEND] = mr_net_view(rec + nc->send_at, 1, 4, W * L, 0);
        nc->ddesc[r] = (mr_dist_desc){dv, bs, nc->heads[r].rows};
        nc->cdesc[r] = (mr_dist_desc){cv, bs, nc->heads[r].rows};
        nc->dpost[r].desc = &nc->ddesc[r], nc->cpost[r].desc = &nc->cdesc[r];
        nc->dptr[r] = &nc->dpost[r], nc->cptr[r] = &nc->cpost[r];
    }
    nc->drd.all = nc->dptr, nc->crd.all = nc->cptr;
    nc->drd.rank = nc->crd.rank = (uint32_t)p->rank;
    return MOEROUTE_OK;
}

/* Step 3: the vote (every rank's verdict and message). */
static moeroute_status mr_net_vote(mr_net_call *nc, moeroute_status st, const char *api)
{
    struct {
        int64_t failed;
        char message[256];
    } mine, *all = mr_calloc((size_t)nc->W, sizeof mine);
    if (!all) /* the peers' bounded wait ends their call */
        return st != MOEROUTE_OK ? st : mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory", api);
    memset(&mine, 0, sizeof mine);
    mine.failed = st != MOEROUTE_OK;
    if (st != MOEROUTE_OK) mr_net_keep_message(mine.message, sizeof mine.message);
    HcclResult h = mr_hccl_net->allgather(nc->net, &mine, all, sizeof mine, api);
    if (h != HCCL_SUCCESS) {
        mr_free(all);
        return st != MOEROUTE_OK ? st : mr_net_comm_fail(h);
    }
    moeroute_status out = st;
    for (int64_t r = 0; r < nc->W && out == MOEROUTE_OK; r++)
        if (all[r].failed)
            out = mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: rank %lld failed: %s", api, (long long)r, all[r].message);
    mr_free(all);
    return out;
}

static void mr_net_setup(mr_net_call *nc, const mr_dist_plan *p, mr_hccl_group *g)
{
    memset(nc, 0, sizeof *nc);
    nc->g = g, nc->net = mr_hccl_group_net(g), nc->W = p->a.world;
    mr_dist_comm_flag = 0;
}

/* One all-to-all of rows: io holds, per rank, the counts and first rows (in rows) of what goes out, then of what
 * comes in ([4][W]). */
static moeroute_status mr_net_rows(mr_net_call *nc, const char *send, const size_t *io, char *recv, size_t row_bytes,
                                   const char *api)
{
    const int64_t W = nc->W;
    size_t *b = mr_malloc(sizeof *b * 4 * (size_t)W);
    if (!b) return mr_net_comm_fail(HCCL_E_MEMORY); /* after the vote: the peers' transport calls fail or wait */
    for (int64_t r = 0; r < 4 * W; r++) b[r] = io[r] * row_bytes;
    HcclResult h = mr_hccl_net->alltoallv(nc->net, send, b, b + W, recv, b + 2 * W, b + 3 * W, api);
    mr_free(b);
    return h == HCCL_SUCCESS ? MOEROUTE_OK : mr_net_comm_fail(h);
}

typedef struct mr_net_sends {
    int64_t *n; /* [Lmax * W]: rows to (k, destination) */
    int64_t W, q;
} mr_net_sends;

static void mr_net_sends_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    (void)s, (void)t, (void)j, (void)e;
    mr_net_sends *c = ctx;
    c->n[le * c->W + c->q]++;
}

typedef struct mr_net_pack {
    const mr_dist_plan *p;
    const mr_view *own;
    int64_t k, at;
    char *rows;
    float *scales, *v, *sm;
    size_t row_bytes;
} mr_net_pack;

static void mr_net_pack_fn(void *ctx, int64_t s, int64_t t, int64_t j, int64_t le, int64_t e)
{
    (void)s, (void)j;
    mr_net_pack *c = ctx;
    if (le != c->k) return;
    mr_dsp_make_row(c->p, c->own, t, e, c->rows + (size_t)c->at * c->row_bytes, &c->scales[c->at], c->v, c->sm);
    c->at++;
}

static moeroute_status mr_dispatch_net(const mr_dist_plan *p, mr_view *v, mr_hccl_group *g, moeroute_status local,
                                       void *workspace, const char *api)
{
    mr_net_call nc;
    mr_net_setup(&nc, p, g);
    moeroute_status st = mr_net_begin(&nc, p, MR_HCCL_MC2_DISPATCH, local, api);
    if (st == MOEROUTE_OK) st = mr_net_exchange(&nc, p, &v[MR_DSP_IDS], &v[MR_DSP_MASK], &v[MR_DSP_ESCALES], NULL, api);
    if (st != MOEROUTE_OK) {
        mr_net_free(&nc);
        return st;
    }
    const mr_dsp_ctx c = {p, mr_layout(&p->a), &nc.drd};
    const int64_t W = c.l.W, L = p->local_experts, me = p->rank, blocks = L * W;
    int64_t *counts = (int64_t *)(void *)mr_ws_base(workspace), *cursor = counts + blocks;
    float *fv = (float *)(void *)(cursor + blocks), *fs = fv + p->a.h;
    const int64_t total = mr_dsp_blocks(&c, counts, cursor);
    st = mr_dsp_check_total(p, total, api);
    /* what this rank sends, per (k, destination) */
    int64_t *sends = mr_calloc((size_t)(nc.lmax * W), sizeof *sends), sent = 0;
    size_t *io = mr_calloc((size_t)(4 * W), sizeof *io);
    for (int64_t q = 0; sends && q < W; q++) {
        mr_net_sends cnt = {sends, W, q};
        mr_dsp_walk(&c, q, me, mr_net_sends_fn, &cnt);
    }
    for (int64_t b = 0; sends && b < nc.lmax * W; b++) sent += sends[b];
    const size_t row_bytes = mr_dsp_row_bytes(p);
    char *rows = mr_malloc((size_t)sent * row_bytes + 1);
    float *scales = mr_malloc((size_t)sent * sizeof(float) + 4);
    if (st == MOEROUTE_OK && (!sends || !io || !rows || !scales))
        st = mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld rows to send", api, (long long)sent);
    st = mr_net_vote(&nc, st, api);
    for (int64_t k = 0; k < nc.lmax && st == MOEROUTE_OK; k++) {
        size_t *sc = io, *sd = io + W, *rc = io + 2 * W, *rd = io + 3 * W;
        mr_net_pack pk = {p, v, k, 0, rows, scales, fv, fs, row_bytes};
        for (int64_t q = 0; q < W; q++) {
            sd[q] = (size_t)pk.at;
            mr_dsp_walk(&c, q, me, mr_net_pack_fn, &pk);
            sc[q] = (size_t)(pk.at - (int64_t)sd[q]);
        }
        for (int64_t s = 0; s < W; s++) {
            rc[s] = k < L ? (size_t)counts[k * W + s] : 0;
            rd[s] = k < L ? (size_t)cursor[k * W + s] : 0;
        }
        st = mr_net_rows(&nc, rows, io, v[MR_DSP_EXPX].data, row_bytes, api);
        if (st == MOEROUTE_OK && p->a.quant_mode)
            st = mr_net_rows(&nc, (const char *)scales, io, v[MR_DSP_DYNS].data, sizeof(float), api);
    }
    if (st == MOEROUTE_OK) { /* the bookkeeping, from the gathered routing */
        mr_dsp_write w = {&c, cursor, v, fv, fs, 0};
        for (int64_t s = 0; s < W; s++) mr_dsp_walk(&c, me, s, mr_dsp_write_fn, &w);
        mr_dsp_counts_out(p, v, counts, total);
    }
    mr_free(sends);
    mr_free(io);
    mr_free(rows);
    mr_free(scales);
    mr_net_free(&nc);
    return st;
}

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
    if (row < 0 || row >= c->rows || mr_i32_at(c->assist, 3 * row, 0) != s || mr_i32_at(c->assist, 3 * row + 1, 0) != t ||
        mr_i32_at(c->assist, 3 * row + 2, 0) != j)
        c->bad = 1;
}

/* The owner's side of the combine checks: its assistInfo and epSendCounts describe exactly the rows the
 * (gathered) routing sends it. */
static moeroute_status mr_net_check_owner(const mr_dsp_ctx *c, const mr_view *v, const char *api)
{
    const mr_dist_plan *p = c->p;
    const int64_t W = c->l.W, L = p->local_experts;
    int64_t *cursor = mr_malloc((size_t)(L * W) * sizeof *cursor);
    if (!cursor) return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory", api);
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
    mr_free(cursor);
    if (!ver.bad) return MOEROUTE_OK;
    return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                   "%s: rank %lld's epSendCounts / assistInfoForCombine do not describe the rows the ranks' expertIds "
                   "and masks send it; pass dispatch's outputs and the same expertIds and mask",
                   api, (long long)p->rank);
}

static moeroute_status mr_combine_net(const mr_dist_plan *p, mr_view *v, mr_hccl_group *g, moeroute_status local,
                                      void *workspace, const char *api)
{
    if (local == MOEROUTE_OK && !mr_view_is_contiguous(&v[MR_CMB_EXPX]))
        local = mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: expandX must be contiguous on a communicator over processes",
                        api);
    mr_net_call nc;
    mr_net_setup(&nc, p, g);
    moeroute_status st = mr_net_begin(&nc, p, MR_HCCL_MC2_COMBINE, local, api);
    if (st == MOEROUTE_OK)
        st = mr_net_exchange(&nc, p, &v[MR_CMB_IDS], &v[MR_CMB_MASK], NULL, &v[MR_CMB_SEND], api);
    if (st != MOEROUTE_OK) {
        mr_net_free(&nc);
        return st;
    }
    const mr_dist_layout l = mr_layout(&p->a);
    const int64_t W = l.W, me = p->rank, L = p->local_experts;
    int64_t *cursor = (int64_t *)(void *)mr_ws_base(workspace);
    float *acc = (float *)(void *)(cursor + l.E + l.S + 1), *tmp = acc + p->a.h;
    const mr_cmb_fetch none = {NULL, NULL, 0};
    st = mr_cmb_walk(&nc.crd, p, v, cursor, acc, tmp, 0, &none, api); /* this rank as a source */
    const mr_dsp_ctx c = {p, l, &nc.drd};
    if (st == MOEROUTE_OK) st = mr_net_check_owner(&c, v, api); /* this rank as an owner */
    /* where the rows of block (k, owner) for this rank land */
    int64_t *offset = mr_calloc((size_t)(nc.lmax * W), sizeof *offset), back = 0;
    size_t *io = mr_calloc((size_t)(4 * W), sizeof *io);
    for (int64_t k = 0; offset && k < nc.lmax; k++)
        for (int64_t o = 0; o < W; o++) {
            offset[k * W + o] = back;
            const mr_view *send = &nc.cviews[o * MR_CMB_COUNT + MR_CMB_SEND];
            const int64_t b = k * W + me;
            if (k < (o < l.R ? 1 : l.L)) back += mr_i32_at(send, b, 0) - (b > 0 ? mr_i32_at(send, b - 1, 0) : 0);
        }
    const size_t row_bytes = (size_t)p->a.h * mr_xtype_size((mr_xtype)p->a.xtype);
    char *staging = mr_malloc((size_t)back * row_bytes + 1);
    if (st == MOEROUTE_OK && (!offset || !io || !staging))
        st = mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld rows", api, (long long)back);
    st = mr_net_vote(&nc, st, api);
    for (int64_t k = 0; k < nc.lmax && st == MOEROUTE_OK; k++) {
        size_t *sc = io, *sd = io + W, *rc = io + 2 * W, *rd = io + 3 * W;
        for (int64_t s = 0; s < W; s++) { /* as owner: block (k, s) of expandX back to s */
            const int64_t b = k * W + s;
            const int64_t start = k < L && b > 0 ? mr_i32_at(&v[MR_CMB_SEND], b - 1, 0) : 0;
            sc[s] = k < L ? (size_t)(mr_i32_at(&v[MR_CMB_SEND], b, 0) - start) : 0;
            sd[s] = (size_t)start;
        }
        for (int64_t o = 0; o < W; o++) { /* as source */
            const mr_view *send = &nc.cviews[o * MR_CMB_COUNT + MR_CMB_SEND];
            const int64_t b = k * W + me;
            rc[o] = k < (o < l.R ? 1 : l.L) ? (size_t)(mr_i32_at(send, b, 0) - (b > 0 ? mr_i32_at(send, b - 1, 0) : 0))
                                           : 0;
            rd[o] = (size_t)offset[k * W + o];
        }
        st = mr_net_rows(&nc, v[MR_CMB_EXPX].data, io, staging, row_bytes, api);
    }
    if (st == MOEROUTE_OK) {
        const mr_cmb_fetch f = {staging, offset, row_bytes};
        mr_cmb_walk(&nc.crd, p, v, cursor, acc, tmp, 1, &f, api);
    }
    mr_free(offset);
    mr_free(io);
    mr_free(staging);
    mr_net_free(&nc);
    return st;
}
