/* The single-process model of MoeDistributeDispatchV2 -> expert -> MoeDistributeCombineV2 and one rank's run of
 * the two operators (docs/operators/distribute.md), shared by tests/c/test_distribute.c (ranks as threads) and
 * tests/mpi/test_mpi_distribute.c (ranks as MPI processes): every process generates the whole world's inputs
 * from one seed, runs its own ranks, and checks them against the model bit for bit. */
#ifndef MR_TEST_DISTRIBUTE_MODEL_H
#define MR_TEST_DISTRIBUTE_MODEL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_distribute_combine_v2.h"
#include "aclnnop/aclnn_moe_distribute_dispatch_v2.h"
#include "common/fp16.h"
#include "harness.h"
#include "hccl/hccl.h"
#include "moeroute.h"
#include "thread_check.h"

#define MAXW 8
#define MAXH 2304 /* the in-process cases reach 2056: rows of several of the combine sum's chunks */
#define SENT 0xA5

enum { FAULT_NONE, FAULT_NEG_ID, FAULT_ATTR, FAULT_ABSENT, FAULT_BOOKKEEPING };

typedef struct cfg {
    int W, E, S, R, K, H, qm, tok_type, mask_kind, global_bs, shared_x, skip_ids;
    int bs[MAXW];
    aclDataType xt;
    int fault;
} cfg;

typedef struct rank_data {
    uint16_t *x, *sharedx, *cexpx, *xout;
    int32_t *ids, *assist, *recv, tprecv[2];
    uint8_t *mask;
    float *escales, *smooth, *dyn;
    void *expx;
    int64_t *toknums;
    int64_t A, L;
    aclnnStatus st_dispatch, st_combine, st_prep;
} rank_data;

typedef struct world {
    cfg c;
    char name[COMM_NAME_MAX_LENGTH];
    HcclComm comms[MAXW];
    rank_data rd[MAXW];
} world;

static uint64_t g_rng;

static float x_to_f32(uint16_t v, aclDataType t) { return t == ACL_FLOAT16 ? mr_f16_to_f32(v) : mr_bf16_to_f32(v); }
static uint16_t f32_to_x(float v, aclDataType t) { return t == ACL_FLOAT16 ? mr_f32_to_f16(v) : mr_f32_to_bf16(v); }

static aclTensor *tn(void *data, aclDataType dt, int n, int64_t d0, int64_t d1)
{
    const int64_t dims[2] = {d0, d1}, strides[2] = {n == 2 ? d1 : 1, 1};
    return aclCreateTensor(dims, (uint64_t)n, dt, strides, 0, ACL_FORMAT_ND, dims, (uint64_t)n, data);
}

static int rank_local_experts(const cfg *c, int r) { return r < c->R ? 1 : c->E / (c->W - c->R); }

static int64_t rank_rows(const cfg *c, int r)
{
    int maxbs = 0;
    for (int s = 0; s < c->W; s++) maxbs = c->bs[s] > maxbs ? c->bs[s] : maxbs;
    if (r < c->R) return (int64_t)maxbs * c->W; /* generous */
    const int L = rank_local_experts(c, r);
    return (int64_t)maxbs * c->W * (L < c->K ? L : c->K);
}

/* ---- the model ------------------------------------------------------------------------------------------ */

static int slot_active(const cfg *c, const rank_data *d, int t, int j)
{
    if (c->mask_kind == 0) return 1;
    return c->mask_kind == 1 ? d->mask[t] != 0 : d->mask[t * c->K + j] != 0;
}

static int token_active(const cfg *c, const rank_data *d, int t)
{
    for (int j = 0; j < c->K; j++)
        if (slot_active(c, d, t, j)) return 1;
    return 0;
}

/* Expected row list of rank r: triples (s, t, j), in order; returns the count. Fills per-local-expert counts
 * and the (le, s) block counts. */
static int model_rows(const world *w, int r, int32_t *trip, int64_t *per_le, int64_t *blocks)
{
    const cfg *c = &w->c;
    int n = 0;
    const int L = rank_local_experts(c, r);
    memset(per_le, 0, sizeof(int64_t) * (size_t)L);
    memset(blocks, 0, sizeof(int64_t) * (size_t)(L * c->W));
    if (r < c->R) {
        const int P = c->R / c->S;
        for (int s = 0; s < c->W; s++) {
            if (s % P != r % P) continue;
            for (int t = 0; t < c->bs[s]; t++)
                if (token_active(c, &w->rd[s], t)) {
                    trip[3 * n] = s, trip[3 * n + 1] = t, trip[3 * n + 2] = c->K + r / P, n++;
                    per_le[0]++, blocks[s]++;
                }
        }
        return n;
    }
    const int first = (r - c->R) * L;
    for (int le = 0; le < L; le++)
        for (int s = 0; s < c->W; s++)
            for (int t = 0; t < c->bs[s]; t++)
                for (int j = 0; j < c->K; j++)
                    if (slot_active(c, &w->rd[s], t, j) && w->rd[s].ids[t * c->K + j] == first + le) {
                        trip[3 * n] = s, trip[3 * n + 1] = t, trip[3 * n + 2] = j, n++;
                        per_le[le]++, blocks[le * c->W + s]++;
                    }
    return n;
}

/* Per-token int8 of spec 11.3, straight from the formula. */
static float model_quant(const cfg *c, const uint16_t *xrow, const float *smooth, int8_t *y)
{
    float v[MAXH], a = 0.0f;
    for (int h = 0; h < c->H; h++) {
        v[h] = x_to_f32(xrow[h], c->xt);
        if (smooth) v[h] = v[h] * smooth[h];
        if (fabsf(v[h]) > a) a = fabsf(v[h]);
    }
    const float f = 127.0f / a;
    for (int h = 0; h < c->H; h++) {
        const float q = v[h] * f;
        long r = q != q ? 0 : lrintf(q); /* nearest, ties to even (default rounding mode) */
        y[h] = (int8_t)(r > 127 ? 127 : r < -128 ? -128 : r);
    }
    return 1.0f / f;
}

/* The smooth row of expert e (shared expert i as e = -1 - i). */
static const float *model_smooth(const cfg *c, const rank_data *src, int e)
{
    if (!c->qm || !src->smooth) return NULL;
    const int row = e >= 0 ? (c->R > 0 ? c->S : 0) + e : -1 - e;
    return src->smooth + row * c->H;
}

/* What the expert returns for token t of rank s sent to expert e (shared i: e = -1 - i). */
static void model_expert(const world *w, int s, int t, int e, float *out)
{
    const cfg *c = &w->c;
    const uint16_t *xr = w->rd[s].x + t * c->H;
    if (!c->qm) {
        for (int h = 0; h < c->H; h++) out[h] = x_to_f32(xr[h], c->xt);
        return;
    }
    int8_t y[MAXH];
    const float sc = model_quant(c, xr, model_smooth(c, &w->rd[s], e), y);
    for (int h = 0; h < c->H; h++) out[h] = x_to_f32(f32_to_x((float)y[h] * sc, c->xt), c->xt);
}

/* ---- one rank ----------------------------------------------------------------------------------------------- */

typedef struct rank_arg {
    world *w;
    int r;
} rank_arg;

/* The expert between dispatch and combine: identity, or dequantization f16/bf16(int8 * scale); rows past the
 * total are poison (never read). FAULT_BOOKKEEPING corrupts rank 0's assistInfo here. */
static void run_expert(world *w, int r)
{
    const cfg *c = &w->c;
    rank_data *d = &w->rd[r];
    const int64_t A = d->A, H = c->H, total = d->recv[c->W * d->L - 1];
    for (int64_t i = 0; i < A * H; i++) d->cexpx[i] = 0x7E00;
    for (int64_t i = 0; i < total; i++)
        for (int64_t h = 0; h < H; h++)
            d->cexpx[i * H + h] = c->qm ? f32_to_x((float)((int8_t *)d->expx)[i * H + h] * d->dyn[i], c->xt)
                                        : ((uint16_t *)d->expx)[i * H + h];
    if (c->fault == FAULT_BOOKKEEPING && r == 0) memset(d->assist, 0, (size_t)(A * 128) * 4);
}

/* 1: rank_main runs the native API (moeroute.h) instead of the aclnn pair, on w->comms[r]. */
static int g_native;

static aclnnStatus native_status(moeroute_status st)
{
    return st == MOEROUTE_OK ? ACLNN_SUCCESS : st == MOEROUTE_ERR_INVALID_VALUE ? ACLNN_ERR_PARAM_INVALID : (aclnnStatus)-1;
}

/* One rank through moeroute_distribute_dispatch / moeroute_distribute_combine. */
static void rank_native(world *w, int r)
{
    const cfg *c = &w->c;
    rank_data *d = &w->rd[r];
    const moeroute_dtype dt = c->xt == ACL_FLOAT16 ? MOEROUTE_DTYPE_FLOAT16 : MOEROUTE_DTYPE_BFLOAT16;
    const uint8_t *mask = c->mask_kind ? d->mask : NULL;
    moeroute_distribute_dispatch_args da = {sizeof da, w->comms[r], dt, c->qm, c->bs[r], c->H, c->K, c->E, c->S, c->R,
                                            c->global_bs, c->tok_type, c->mask_kind == 2, d->x, d->ids,
                                            c->qm ? d->smooth : NULL, mask, NULL, d->A, d->expx,
                                            c->qm ? d->dyn : NULL, d->assist, d->toknums, d->recv, NULL};
    if (c->fault == FAULT_ATTR && r == 1) da.token_nums_type = 1 - c->tok_type;
    moeroute_status st = moeroute_distribute_dispatch(NULL, &da);
    d->st_dispatch = native_status(st);
    const char *msg = moeroute_error_message();
    TCHECK(c->fault != FAULT_NONE || st == MOEROUTE_OK, "native dispatch on rank %d: %d %s", r, (int)st,
           msg ? msg : "");
    d->tprecv[0] = st == MOEROUTE_OK ? d->recv[c->W * d->L - 1] : d->tprecv[0]; /* no tpRecvCounts natively */
    if (st != MOEROUTE_OK || (c->fault != FAULT_NONE && c->fault != FAULT_BOOKKEEPING)) return;
    run_expert(w, r);
    const moeroute_distribute_combine_args ca = {
        sizeof ca, w->comms[r], dt, c->mask_kind == 2, c->bs[r], c->H, c->K, c->E, c->S, c->R, c->global_bs, d->A,
        d->cexpx, d->ids, d->assist, d->recv, d->escales, mask, c->shared_x ? d->sharedx : NULL, d->xout};
    st = moeroute_distribute_combine(NULL, &ca);
    d->st_combine = native_status(st);
    msg = moeroute_error_message();
    TCHECK(c->fault != FAULT_NONE || st == MOEROUTE_OK, "native combine on rank %d: %d %s", r, (int)st, msg ? msg : "");
}

static void *rank_main(void *p)
{
    rank_arg *ra = p;
    world *w = ra->w;
    const cfg *c = &w->c;
    const int r = ra->r, bs = c->bs[r];
    rank_data *d = &w->rd[r];
    TCHECK(aclrtSetDevice(r) == ACL_SUCCESS, "device %d", r);
    if (g_native) {
        rank_native(w, r);
        return NULL;
    }
    aclrtStream stream = NULL;
    TCHECK(aclrtCreateStream(&stream) == ACL_SUCCESS, "stream");
    const aclDataType xdt = c->xt, edt = c->qm ? ACL_INT8 : c->xt;
    const int64_t A = d->A, L = d->L, H = c->H, K = c->K;
    aclTensor *x = tn(d->x, xdt, 2, bs, H), *ids = tn(d->ids, ACL_INT32, 2, bs, K);
    aclTensor *smooth = c->qm && d->smooth ? tn(d->smooth, ACL_FLOAT, 2, c->E + (c->R ? c->S : 0), H) : NULL;
    aclTensor *mask = c->mask_kind == 1 ? tn(d->mask, ACL_BOOL, 1, bs, 0)
                      : c->mask_kind == 2 ? tn(d->mask, ACL_BOOL, 2, bs, K) : NULL;
    aclTensor *es = tn(d->escales, ACL_FLOAT, 2, bs, K), *expx = tn(d->expx, edt, 2, A, H);
    aclTensor *dyn = tn(d->dyn, ACL_FLOAT, 1, A, 0), *assist = tn(d->assist, ACL_INT32, 1, A * 128, 0);
    aclTensor *tok = tn(d->toknums, ACL_INT64, 1, L, 0), *recv = tn(d->recv, ACL_INT32, 1, c->W * L, 0);
    aclTensor *tp = tn(d->tprecv, ACL_INT32, 1, 1, 0);
    const int tok_type = c->fault == FAULT_ATTR && r == 1 ? 1 - c->tok_type : c->tok_type;
    uint64_t ws = 0;
    aclOpExecutor *ex = NULL;
    d->st_prep = aclnnMoeDistributeDispatchV2GetWorkspaceSize(
        x, ids, smooth, mask, NULL, w->name, c->W, r, c->E, NULL, 0, 0, 0, c->S, c->R, c->qm, c->global_bs, tok_type,
        NULL, expx, c->qm ? dyn : NULL, assist, tok, recv, tp, NULL, &ws, &ex);
    TCHECK(d->st_prep == ACLNN_SUCCESS, "dispatch phase 1 on rank %d: %d %s", r, d->st_prep, aclGetRecentErrMsg());
    void *wsp = ws ? malloc(ws) : NULL;
    if (c->fault == FAULT_ABSENT && r == 1) {
        d->st_dispatch = ACLNN_SUCCESS; /* never comes */
        TCHECK(aclDestroyAclOpExecutor(ex) == ACLNN_SUCCESS, "release the unused executor");
        aclDestroyTensor(x);
    } else {
        d->st_dispatch = aclnnMoeDistributeDispatchV2(wsp, ws, ex, stream);
    }
    const char *msg = aclGetRecentErrMsg();
    if (c->fault == FAULT_NONE || c->fault == FAULT_BOOKKEEPING)
        TCHECK(d->st_dispatch == ACLNN_SUCCESS, "dispatch on rank %d: %d %s", r, d->st_dispatch, msg ? msg : "");
    else if (d->st_dispatch != ACLNN_SUCCESS)
        TCHECK(msg && *msg, "rank %d has a message", r);
    free(wsp);
    if (!(c->fault == FAULT_ABSENT && r == 1)) aclDestroyTensor(x);
    aclDestroyTensor(ids), aclDestroyTensor(smooth), aclDestroyTensor(mask), aclDestroyTensor(expx);
    aclDestroyTensor(dyn), aclDestroyTensor(tok), aclDestroyTensor(recv), aclDestroyTensor(tp), aclDestroyTensor(assist);

    if (d->st_dispatch == ACLNN_SUCCESS && (c->fault == FAULT_NONE || c->fault == FAULT_BOOKKEEPING)) {
        run_expert(w, r);
        aclTensor *cx = tn(d->cexpx, xdt, 2, A, H), *cids = tn(d->ids, ACL_INT32, 2, bs, K);
        aclTensor *cmask = c->mask_kind == 1 ? tn(d->mask, ACL_BOOL, 1, bs, 0)
                           : c->mask_kind == 2 ? tn(d->mask, ACL_BOOL, 2, bs, K) : NULL;
        aclTensor *cas = tn(d->assist, ACL_INT32, 1, A * 128, 0), *csend = tn(d->recv, ACL_INT32, 1, c->W * L, 0);
        aclTensor *shx = c->shared_x ? tn(d->sharedx, xdt, 2, bs, H) : NULL, *out = tn(d->xout, xdt, 2, bs, H);
        aclTensor *ctp = tn(d->tprecv, ACL_INT32, 1, 1, 0);
        d->st_prep = aclnnMoeDistributeCombineV2GetWorkspaceSize(
            cx, cids, cas, csend, es, ctp, cmask, NULL, NULL, NULL, NULL, shx, w->name, c->W, r, c->E, NULL, 0, 0, 0,
            c->S, c->R, c->global_bs, 0, 0, 0, NULL, out, &ws, &ex);
        TCHECK(d->st_prep == ACLNN_SUCCESS, "combine phase 1 on rank %d: %d %s", r, d->st_prep, aclGetRecentErrMsg());
        wsp = ws ? malloc(ws) : NULL;
        d->st_combine = aclnnMoeDistributeCombineV2(wsp, ws, ex, stream);
        msg = aclGetRecentErrMsg();
        if (c->fault == FAULT_NONE)
            TCHECK(d->st_combine == ACLNN_SUCCESS, "combine on rank %d: %d %s", r, d->st_combine, msg ? msg : "");
        free(wsp);
        aclDestroyTensor(cx), aclDestroyTensor(cids), aclDestroyTensor(cmask), aclDestroyTensor(cas);
        aclDestroyTensor(csend), aclDestroyTensor(shx), aclDestroyTensor(out), aclDestroyTensor(ctp);
    }
    aclDestroyTensor(es);
    TCHECK(aclrtSynchronizeStreamWithTimeout(stream, 10000) == ACL_SUCCESS && aclrtDestroyStream(stream) == ACL_SUCCESS,
          "stream");
    return NULL;
}

/* ---- a world: inputs, run, checks -------------------------------------------------------------------------- */

static void world_alloc(world *w)
{
    const cfg *c = &w->c;
    for (int r = 0; r < c->W; r++) {
        rank_data *d = &w->rd[r];
        const int bs = c->bs[r], H = c->H, K = c->K;
        d->L = rank_local_experts(c, r);
        d->A = rank_rows(c, r);
        d->x = malloc(sizeof(uint16_t) * (size_t)(bs * H + 1));
        d->sharedx = malloc(sizeof(uint16_t) * (size_t)(bs * H + 1));
        d->xout = malloc(sizeof(uint16_t) * (size_t)(bs * H + 1));
        d->cexpx = malloc(sizeof(uint16_t) * (size_t)(d->A * H));
        d->ids = malloc(sizeof(int32_t) * (size_t)(bs * K + 1));
        d->mask = malloc((size_t)(bs * K + 1));
        d->escales = malloc(sizeof(float) * (size_t)(bs * K + 1));
        d->smooth = malloc(sizeof(float) * (size_t)((c->E + c->S) * H));
        d->expx = malloc((size_t)(d->A * H) * 2);
        d->dyn = malloc(sizeof(float) * (size_t)d->A);
        d->assist = malloc(sizeof(int32_t) * (size_t)(d->A * 128));
        d->toknums = malloc(sizeof(int64_t) * (size_t)d->L);
        d->recv = malloc(sizeof(int32_t) * (size_t)(c->W * d->L));
        memset(d->xout, SENT, sizeof(uint16_t) * (size_t)(bs * H + 1));
        memset(d->expx, SENT, (size_t)(d->A * H) * 2);
        memset(d->dyn, SENT, sizeof(float) * (size_t)d->A);
        memset(d->assist, SENT, sizeof(int32_t) * (size_t)(d->A * 128));
        memset(d->toknums, SENT, sizeof(int64_t) * (size_t)d->L);
        memset(d->recv, SENT, sizeof(int32_t) * (size_t)(c->W * d->L));
        memset(d->tprecv, SENT, sizeof d->tprecv);
        for (int i = 0; i < bs * H; i++) {
            d->x[i] = f32_to_x((float)((int)(mr_test_rand(&g_rng) % 2001) - 1000) / 256.0f, c->xt);
            d->sharedx[i] = f32_to_x((float)((int)(mr_test_rand(&g_rng) % 201) - 100) / 64.0f, c->xt);
        }
        for (int i = 0; i < (c->E + c->S) * H; i++)
            d->smooth[i] = 0.5f + (float)(mr_test_rand(&g_rng) % 1000) / 997.0f;
        for (int t = 0; t < bs; t++) {
            for (int j = 0; j < K; j++) { /* distinct experts per token */
                int e, dup;
                do {
                    e = (int)(mr_test_rand(&g_rng) % (uint64_t)c->E);
                    dup = 0;
                    for (int q = 0; q < j; q++) dup |= d->ids[t * K + q] == e;
                } while (dup);
                d->ids[t * K + j] = e;
                d->escales[t * K + j] = (float)(mr_test_rand(&g_rng) % 1000) / 1000.0f;
                d->mask[t * K + j] = (uint8_t)(mr_test_rand(&g_rng) % 4 != 0);
            }
            if (c->skip_ids && mr_test_rand(&g_rng) % 3 == 0) d->ids[t * K + K - 1] = c->E + (int)(t % 3);
        }
        if (c->mask_kind == 1) /* true entries first */
            for (int t = 0; t < bs; t++) d->mask[t] = (uint8_t)(t < bs - bs / 3);
        if (c->fault == FAULT_NEG_ID && r == 1) d->ids[0] = -3;
    }
}

static void world_free(world *w)
{
    for (int r = 0; r < w->c.W; r++) {
        rank_data *d = &w->rd[r];
        free(d->x), free(d->sharedx), free(d->xout), free(d->cexpx), free(d->ids), free(d->mask), free(d->escales);
        free(d->smooth), free(d->expx), free(d->dyn), free(d->assist), free(d->toknums), free(d->recv);
    }
}


static void check_rank(const world *w, int r, const char *label)
{
    const cfg *c = &w->c;
    const int H = c->H, K = c->K;
    {
        const rank_data *d = &w->rd[r];
        int32_t *trip = malloc(sizeof(int32_t) * 3 * (size_t)d->A + 12);
        int64_t per_le[64], blocks[64 * MAXW];
        const int n = model_rows(w, r, trip, per_le, blocks);
        int64_t cum = 0, sum = 0;
        int ok = 1;
        for (int le = 0; le < d->L; le++) {
            cum += per_le[le];
            ok &= d->toknums[le] == (c->tok_type == 0 ? cum : per_le[le]);
            for (int s = 0; s < c->W; s++) sum += blocks[le * c->W + s], ok &= d->recv[le * c->W + s] == sum;
        }
        CHECK(ok, "%s: rank %d token counts and epRecvCounts against the global routing", label, r);
        CHECK(d->tprecv[0] == n, "%s: rank %d tpRecvCounts %d, want %d", label, r, d->tprecv[0], n);
        CHECK(memcmp(d->assist, trip, sizeof(int32_t) * 3 * (size_t)n) == 0, "%s: rank %d row order (s, t, j)", label,
              r);
        ok = 1;
        for (int i = 0; i < n && ok; i++) {
            const int s = trip[3 * i], t = trip[3 * i + 1], j = trip[3 * i + 2];
            const uint16_t *xr = w->rd[s].x + t * H;
            if (!c->qm) {
                ok &= memcmp((const uint16_t *)d->expx + i * H, xr, sizeof(uint16_t) * (size_t)H) == 0;
            } else {
                int8_t y[MAXH];
                const int e = j < K ? w->rd[s].ids[t * K + j] : -1 - (j - K);
                const float sc = model_quant(c, xr, model_smooth(c, &w->rd[s], e), y);
                ok &= memcmp((const int8_t *)d->expx + i * H, y, (size_t)H) == 0 && memcmp(&d->dyn[i], &sc, 4) == 0;
            }
        }
        CHECK(ok, "%s: rank %d expandX rows%s", label, r, c->qm ? " and dynamic scales" : "");
        const size_t esz = c->qm ? 1 : 2;
        CHECK(mr_test_bytes_are((const char *)d->expx + (size_t)n * (size_t)H * esz, (size_t)(d->A - n) * (size_t)H * esz,
                                SENT),
              "%s: rank %d rows past the total untouched", label, r);
        free(trip);
        /* combine */
        ok = 1;
        for (int t = 0; t < c->bs[r]; t++) {
            const uint16_t *got = d->xout + t * H;
            if (!token_active(c, d, t)) {
                ok &= mr_test_bytes_are(got, sizeof(uint16_t) * (size_t)H, SENT);
                continue;
            }
            float acc[MAXH], row[MAXH];
            for (int h = 0; h < H; h++) acc[h] = 0.0f;
            for (int j = 0; j < K; j++) {
                const int e = d->ids[t * K + j];
                if (!slot_active(c, d, t, j) || e < 0 || e >= c->E) continue;
                model_expert(w, r, t, e, row);
                const float sc = d->escales[t * K + j];
                for (int h = 0; h < H; h++) acc[h] = acc[h] + row[h] * sc;
            }
            for (int i = 0; c->R > 0 && i < c->S; i++) {
                model_expert(w, r, t, -1 - i, row);
                for (int h = 0; h < H; h++) acc[h] = acc[h] + row[h];
            }
            for (int h = 0; h < H && c->shared_x; h++) acc[h] = acc[h] + x_to_f32(d->sharedx[t * H + h], c->xt);
            for (int h = 0; h < H; h++) {
                if (ok && got[h] != f32_to_x(acc[h], c->xt))
                    fprintf(stderr, "rank %d token %d h %d: got %g want %g\n", r, t, h, x_to_f32(got[h], c->xt),
                            acc[h]);
                ok &= got[h] == f32_to_x(acc[h], c->xt);
            }
        }
        CHECK(ok, "%s: rank %d combined tokens equal the single-process reference", label, r);
    }
}


/* Rank r's outcome: the model's results, or the refusal its fault asks for (outputs untouched). */
static void check_outcome(const world *w, int r, const char *label)
{
    const cfg *c = &w->c;
    if (c->fault == FAULT_NONE) {
        check_rank(w, r, label);
        return;
    }
    const rank_data *d = &w->rd[r];
    const int absent = c->fault == FAULT_ABSENT && r == 1;
    if (c->fault == FAULT_BOOKKEEPING) {
        CHECK(d->st_combine == ACLNN_ERR_PARAM_INVALID, "%s: rank %d combine refused: %d", label, r, d->st_combine);
        CHECK(mr_test_bytes_are(d->xout, sizeof(uint16_t) * (size_t)(c->bs[r] * c->H), SENT),
              "%s: rank %d xOut untouched", label, r);
        return;
    }
    const aclnnStatus want = c->fault == FAULT_ABSENT ? ACLNN_ERR_INNER : ACLNN_ERR_PARAM_INVALID;
    if (!absent) CHECK(d->st_dispatch == want, "%s: rank %d status %d, want %d", label, r, d->st_dispatch, want);
    CHECK(mr_test_bytes_are(d->expx, (size_t)(d->A * c->H) * (c->qm ? 1 : 2), SENT) &&
              mr_test_bytes_are(d->recv, sizeof(int32_t) * (size_t)(c->W * d->L), SENT) &&
              mr_test_bytes_are(d->toknums, sizeof(int64_t) * (size_t)d->L, SENT),
          "%s: rank %d outputs untouched", label, r);
}

#endif /* MR_TEST_DISTRIBUTE_MODEL_H */
