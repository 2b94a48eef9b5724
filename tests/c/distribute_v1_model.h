/* The V1 pair aclnnMoeDistributeDispatch -> expert -> aclnnMoeDistributeCombine for one rank, on the world of
 * distribute_model.h (docs/operators/distribute.md "V1"), shared by tests/c/test_distribute_v1.c (ranks as threads)
 * and tests/mpi/test_mpi_distribute_v1.c (ranks as MPI processes): the run, expandIdx's documented layout computed
 * independently, and the comparison of a V1 rank with the V2 rank on the same inputs (the same bytes). */
#ifndef MR_TEST_DISTRIBUTE_V1_MODEL_H
#define MR_TEST_DISTRIBUTE_V1_MODEL_H

#include "aclnnop/aclnn_moe_distribute_combine.h"
#include "aclnnop/aclnn_moe_distribute_dispatch.h"
#include "distribute_model.h"

enum { FAULT_OVERLAP = 100 }; /* rank 1's expandIdxOut overlaps its x */

/* A V1 world: the model's world plus every rank's expandIdx [Bs * K]. */
typedef struct v1_world {
    world w;
    int32_t *idx[MAXW];
} v1_world;

typedef struct v1_arg {
    v1_world *v;
    int r;
} v1_arg;

/* The documented expandIdx of rank r: per slot in (token, slot) order, its position among the rank's active
 * slots with the same expert, -1 for a slot that sends nothing. */
static void model_expand_idx(const world *w, int r, int32_t *out)
{
    const cfg *c = &w->c;
    const rank_data *d = &w->rd[r];
    int next[256] = {0};
    for (int t = 0; t < c->bs[r]; t++)
        for (int j = 0; j < c->K; j++) {
            const int e = d->ids[t * c->K + j];
            out[t * c->K + j] = slot_active(c, d, t, j) && e >= 0 && e < c->E ? next[e]++ : -1;
        }
}

static void *rank_main_v1(void *p)
{
    v1_arg *ra = p;
    world *w = &ra->v->w;
    const cfg *c = &w->c;
    const int r = ra->r, bs = c->bs[r];
    rank_data *d = &w->rd[r];
    int32_t *idx = ra->v->idx[r];
    TCHECK(aclrtSetDevice(r) == ACL_SUCCESS, "device %d", r);
    aclrtStream stream = NULL;
    TCHECK(aclrtCreateStream(&stream) == ACL_SUCCESS, "stream");
    const aclDataType xdt = c->xt, edt = c->qm ? ACL_INT8 : c->xt;
    const int64_t A = d->A, L = d->L, H = c->H, K = c->K;
    aclTensor *x = tn(d->x, xdt, 2, bs, H), *ids = tn(d->ids, ACL_INT32, 2, bs, K);
    aclTensor *smooth = c->qm ? tn(d->smooth, ACL_FLOAT, 2, c->E + (c->R ? c->S : 0), H) : NULL;
    aclTensor *mask = c->mask_kind == 1 ? tn(d->mask, ACL_BOOL, 1, bs, 0)
                      : c->mask_kind == 2 ? tn(d->mask, ACL_BOOL, 2, bs, K) : NULL;
    aclTensor *es = tn(d->escales, ACL_FLOAT, 2, bs, K), *expx = tn(d->expx, edt, 2, A, H);
    aclTensor *dyn = tn(d->dyn, ACL_FLOAT, 1, A, 0);
    aclTensor *tidx = tn(c->fault == FAULT_OVERLAP && r == 1 ? (void *)d->x : (void *)idx, ACL_INT32, 1, bs * K, 0);
    aclTensor *tok = tn(d->toknums, ACL_INT64, 1, L, 0), *recv = tn(d->recv, ACL_INT32, 1, c->W * L, 0);
    aclTensor *tp = tn(d->tprecv, ACL_INT32, 1, 1, 0);
    const int tok_type = c->fault == FAULT_ATTR && r == 1 ? 1 - c->tok_type : c->tok_type;
    uint64_t ws = 0;
    aclOpExecutor *ex = NULL;
    d->st_prep = aclnnMoeDistributeDispatchGetWorkspaceSize(x, ids, smooth, mask, NULL, w->name, c->W, r, c->E, NULL, 0,
                                                            0, 0, c->S, c->R, c->qm, c->global_bs, tok_type, expx,
                                                            c->qm ? dyn : NULL, tidx, tok, recv, tp, NULL, &ws, &ex);
    TCHECK(d->st_prep == ACLNN_SUCCESS, "V1 dispatch phase 1 on rank %d: %d %s", r, d->st_prep, aclGetRecentErrMsg());
    void *wsp = ws ? malloc(ws) : NULL;
    if (c->fault == FAULT_ABSENT && r == 1) {
        d->st_dispatch = ACLNN_SUCCESS; /* never comes */
        TCHECK(aclDestroyAclOpExecutor(ex) == ACLNN_SUCCESS, "release the unused executor");
    } else {
        d->st_dispatch = aclnnMoeDistributeDispatch(wsp, ws, ex, stream);
    }
    const char *msg = aclGetRecentErrMsg();
    const int ok_run = c->fault == FAULT_NONE || c->fault == FAULT_BOOKKEEPING;
    if (ok_run)
        TCHECK(d->st_dispatch == ACLNN_SUCCESS, "V1 dispatch on rank %d: %d %s", r, d->st_dispatch, msg ? msg : "");
    else if (d->st_dispatch != ACLNN_SUCCESS)
        TCHECK(msg && *msg, "rank %d has a message", r);
    free(wsp);
    aclDestroyTensor(x), aclDestroyTensor(ids), aclDestroyTensor(smooth), aclDestroyTensor(mask);
    aclDestroyTensor(expx), aclDestroyTensor(dyn), aclDestroyTensor(tidx), aclDestroyTensor(tok);
    aclDestroyTensor(recv), aclDestroyTensor(tp);

    if (d->st_dispatch == ACLNN_SUCCESS && ok_run) {
        run_expert(w, r);
        if (c->fault == FAULT_BOOKKEEPING && r == 1) { /* move one active slot to the next position */
            for (int i = 0; i < bs * K; i++)
                if (idx[i] >= 0) {
                    idx[i]++;
                    break;
                }
        }
        aclTensor *cx = tn(d->cexpx, xdt, 2, A, H), *cids = tn(d->ids, ACL_INT32, 2, bs, K);
        aclTensor *cmask = c->mask_kind == 1 ? tn(d->mask, ACL_BOOL, 1, bs, 0)
                           : c->mask_kind == 2 ? tn(d->mask, ACL_BOOL, 2, bs, K) : NULL;
        aclTensor *cidx = tn(idx, ACL_INT32, 1, bs * K, 0), *csend = tn(d->recv, ACL_INT32, 1, c->W * L, 0);
        aclTensor *out = tn(d->xout, xdt, 2, bs, H), *ctp = tn(d->tprecv, ACL_INT32, 1, 1, 0);
        d->st_prep = aclnnMoeDistributeCombineGetWorkspaceSize(cx, cids, cidx, csend, es, ctp, cmask, NULL, NULL, NULL,
                                                               NULL, w->name, c->W, r, c->E, NULL, 0, 0, 0, c->S, c->R,
                                                               c->global_bs, 0, 0, 0, out, &ws, &ex);
        TCHECK(d->st_prep == ACLNN_SUCCESS, "V1 combine phase 1 on rank %d: %d %s", r, d->st_prep,
               aclGetRecentErrMsg());
        wsp = ws ? malloc(ws) : NULL;
        d->st_combine = aclnnMoeDistributeCombine(wsp, ws, ex, stream);
        msg = aclGetRecentErrMsg();
        if (c->fault == FAULT_NONE)
            TCHECK(d->st_combine == ACLNN_SUCCESS, "V1 combine on rank %d: %d %s", r, d->st_combine, msg ? msg : "");
        else
            TCHECK(msg && *msg, "rank %d has a message", r);
        if (c->fault == FAULT_BOOKKEEPING && r == 1)
            TCHECK(msg && strstr(msg, "expandIdx"), "rank 1's message names expandIdx: %s", msg ? msg : "");
        free(wsp);
        aclDestroyTensor(cx), aclDestroyTensor(cids), aclDestroyTensor(cmask), aclDestroyTensor(cidx);
        aclDestroyTensor(csend), aclDestroyTensor(out), aclDestroyTensor(ctp);
    }
    aclDestroyTensor(es);
    TCHECK(aclrtSynchronizeStreamWithTimeout(stream, 10000) == ACL_SUCCESS && aclrtDestroyStream(stream) == ACL_SUCCESS,
           "stream");
    return NULL;
}

/* Rank r of V1 against rank r of V2 (same inputs): the same bytes everywhere, and expandIdx as documented. */
static void compare_v1_v2(const v1_world *v, const world *w2, int r, const char *label)
{
    const cfg *c = &w2->c;
    const rank_data *a = &v->w.rd[r], *b = &w2->rd[r];
    const size_t esz = c->qm ? 1 : 2;
    CHECK(memcmp(a->expx, b->expx, (size_t)(a->A * c->H) * esz) == 0, "%s: rank %d expandX (all A rows) as V2", label,
          r);
    CHECK(!c->qm || memcmp(a->dyn, b->dyn, sizeof(float) * (size_t)a->A) == 0, "%s: rank %d dynamicScales as V2",
          label, r);
    CHECK(memcmp(a->toknums, b->toknums, sizeof(int64_t) * (size_t)a->L) == 0 &&
              memcmp(a->recv, b->recv, sizeof(int32_t) * (size_t)(c->W * a->L)) == 0 && a->tprecv[0] == b->tprecv[0],
          "%s: rank %d expertTokenNums, epRecvCounts, tpRecvCounts as V2", label, r);
    CHECK(memcmp(a->xout, b->xout, sizeof(uint16_t) * (size_t)(c->bs[r] * c->H)) == 0,
          "%s: rank %d xOut as V2", label, r);
    int32_t want[64 * 16];
    model_expand_idx(&v->w, r, want);
    CHECK(memcmp(v->idx[r], want, sizeof(int32_t) * (size_t)(c->bs[r] * c->K)) == 0, "%s: rank %d expandIdx layout",
          label, r);
}

static void v1_alloc(v1_world *v)
{
    world_alloc(&v->w);
    for (int r = 0; r < v->w.c.W; r++) {
        const size_t n = (size_t)(v->w.c.bs[r] * v->w.c.K) + 1;
        v->idx[r] = malloc(sizeof(int32_t) * n);
        memset(v->idx[r], SENT, sizeof(int32_t) * n);
    }
}

static void v1_free(v1_world *v)
{
    world_free(&v->w);
    for (int r = 0; r < v->w.c.W; r++) free(v->idx[r]);
}

/* Rank r of a V1 world whose fault made the calls refuse: check_outcome's checks (expandIdxOut overlapping x
 * refuses the dispatch, as a negative id does), and expandIdxOut untouched wherever the dispatch was refused. */
static void v1_check_refused(v1_world *v, int r, const char *label)
{
    const cfg *c = &v->w.c;
    const int fault = c->fault;
    if (fault == FAULT_OVERLAP) v->w.c.fault = FAULT_NEG_ID;
    check_outcome(&v->w, r, label);
    v->w.c.fault = fault;
    CHECK(fault == FAULT_BOOKKEEPING || (fault == FAULT_OVERLAP && r == 1) ||
              mr_test_bytes_are(v->idx[r], sizeof(int32_t) * (size_t)(c->bs[r] * c->K), SENT),
          "%s: rank %d expandIdxOut untouched", label, r);
}

#endif /* MR_TEST_DISTRIBUTE_V1_MODEL_H */
