/* aclnnMoeDistributeDispatch -> expert -> aclnnMoeDistributeCombine, the V1 pair (layer spec 11.5;
 * docs/operators/distribute.md "V1"), on 2 and 4 ranks (threads of this process, HcclCommInitAll). Every case
 * runs twice on the same inputs: through the V2 pair (checked against the single-process model of
 * distribute_model.h: rows, scales, counts, combined tokens) and through the V1 pair, whose outputs must be the
 * same bytes (expandX whole, dynamicScales, expertTokenNums, epRecvCounts, tpRecvCounts, xOut); expandIdx is
 * checked against its documented layout computed here from the expert ids and mask. Refusals: phase 1 (NULL
 * tensors 161001, dtypes 161002, shapes 561002), and at execute on every rank without a hang (HCCL timeout 300 ms,
 * so a wait would show as 561000): a corrupted expandIdx on one rank, expandIdxOut overlapping x on one rank, a
 * negative id, an attribute that differs, a rank that never calls (561000). Outputs untouched on every refusal.
 * Random inputs: seed from argv[1] or MOEROUTE_TEST_SEED, printed. */
#define _DEFAULT_SOURCE /* setenv */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "aclnn_fixture.h"
#undef SENT /* distribute_model.h fills its outputs with its own byte */
#include "distribute_v1_model.h"

/* Run w's ranks on threads: through the V1 pair when v is given, else the V2 pair (distribute_model.h). */
static void world_run(world *w, v1_world *v)
{
    int32_t devs[MAXW];
    for (int r = 0; r < w->c.W; r++) devs[r] = r;
    CHECK(HcclCommInitAll((uint32_t)w->c.W, devs, w->comms) == HCCL_SUCCESS, "HcclCommInitAll");
    CHECK(HcclGetCommName(w->comms[0], w->name) == HCCL_SUCCESS, "name");
    pthread_t th[MAXW];
    rank_arg ra[MAXW];
    v1_arg va[MAXW];
    for (int r = 0; r < w->c.W; r++) {
        ra[r] = (rank_arg){w, r}, va[r] = (v1_arg){v, r};
        pthread_create(&th[r], NULL, v ? rank_main_v1 : rank_main, v ? (void *)&va[r] : (void *)&ra[r]);
    }
    for (int r = 0; r < w->c.W; r++) pthread_join(th[r], NULL);
    for (int r = 0; r < w->c.W; r++) CHECK(HcclCommDestroy(w->comms[r]) == HCCL_SUCCESS, "destroy");
}

/* One case through V2 (checked against the model) and V1 on the same inputs; faults run V1 only. */
static void run_case(const cfg *c, const char *label)
{
    v1_world *v = calloc(1, sizeof *v);
    world *w2 = calloc(1, sizeof *w2);
    v->w.c = *c, w2->c = *c;
    const uint64_t seed_state = g_rng;
    v1_alloc(v);
    if (c->fault == FAULT_NONE) {
        g_rng = seed_state; /* the same inputs */
        world_alloc(w2);
        world_run(w2, NULL);
    }
    world_run(&v->w, v);
    for (int r = 0; r < c->W; r++) {
        if (c->fault != FAULT_NONE) {
            v1_check_refused(v, r, label);
            continue;
        }
        check_rank(w2, r, label);
        compare_v1_v2(v, w2, r, label);
    }
    if (c->fault == FAULT_NONE) world_free(w2);
    v1_free(v);
    free(w2);
    free(v);
}

/* ---- phase-1 refusals ---------------------------------------------------------------------------------------- */

static void test_phase1_refusals(void)
{
    int32_t devs[2] = {0, 1};
    HcclComm comms[2];
    char name[COMM_NAME_MAX_LENGTH];
    CHECK(HcclCommInitAll(2, devs, comms) == HCCL_SUCCESS && HcclGetCommName(comms[0], name) == HCCL_SUCCESS, "comm");
    enum { BS = 2, H = 32, K = 2, E = 4, A = BS * 2 * 2 };
    static uint16_t x[BS * H], expx[A * H];
    static int32_t ids[BS * K] = {0, 1, 2, 3}, idx[BS * K], recv[4];
    static int64_t tok[2], idx64[BS * K];
    static float w[BS * K];
    memset(expx, 0x5A, sizeof expx), memset(idx, 0x5A, sizeof idx);
    const tspec tx = T2(ACL_FLOAT16, BS, H, x), tids = T2(ACL_INT32, BS, K, ids), tex = T2(ACL_FLOAT16, A, H, expx);
    const tspec tidx = T1(ACL_INT32, BS * K, idx), ttok = T1(ACL_INT64, 2, tok), trecv = T1(ACL_INT32, 4, recv);
    const tspec tw = T2(ACL_FLOAT, BS, K, w), tout = T2(ACL_FLOAT16, BS, H, x);
    struct {
        const char *what;
        tspec x, idx;
        aclnnStatus want;
    } dsp[] = {
        {"V1 dispatch: NULL x", TNULL, tidx, ACLNN_ERR_PARAM_NULLPTR},
        {"V1 dispatch: NULL expandIdxOut", tx, TNULL, ACLNN_ERR_PARAM_NULLPTR},
        {"V1 dispatch: expandIdxOut INT64", tx, T1(ACL_INT64, BS * K, idx64), ACLNN_ERR_PARAM_INVALID},
        {"V1 dispatch: x FLOAT", T2(ACL_FLOAT, BS, H, x), tidx, ACLNN_ERR_PARAM_INVALID},
        {"V1 dispatch: expandIdxOut [A * 128]", tx, T1(ACL_INT32, BS * K - 1, idx), ACLNN_ERR_INNER_TILING_ERROR},
    };
    uint64_t ws = 0;
    aclOpExecutor *ex = NULL;
    for (size_t i = 0; i < sizeof dsp / sizeof dsp[0]; i++) {
        aclTensor *t[7] = {mk(dsp[i].x), mk(tids), mk(tex), mk(dsp[i].idx), mk(ttok), mk(trecv), NULL};
        const aclnnStatus st = finish(aclnnMoeDistributeDispatchGetWorkspaceSize(
            t[0], t[1], NULL, NULL, NULL, name, 2, 0, E, NULL, 0, 0, 0, 0, 0, 0, 0, 0, t[2], NULL, t[3], t[4], t[5],
            NULL, NULL, &ws, &ex), aclnnMoeDistributeDispatch, ws, ex);
        expect_refused2(dsp[i].what, st, dsp[i].want, 1, expx, sizeof expx, idx, sizeof idx);
        destroy_all(t, 7);
    }
    struct {
        const char *what;
        tspec idx, w;
        int64_t group_list_type;
        aclnnStatus want;
    } cmb[] = {
        {"V1 combine: NULL expandIdx", TNULL, tw, 0, ACLNN_ERR_PARAM_NULLPTR},
        {"V1 combine: NULL expertScales", tidx, TNULL, 0, ACLNN_ERR_PARAM_NULLPTR},
        {"V1 combine: expandIdx FLOAT", T1(ACL_FLOAT, BS * K, idx), tw, 0, ACLNN_ERR_PARAM_INVALID},
        {"V1 combine: expandIdx [A * 128]", T1(ACL_INT32, A * 128, expx), tw, 0, ACLNN_ERR_INNER_TILING_ERROR},
        {"V1 combine: groupList_type 1", tidx, tw, 1, ACLNN_ERR_INNER_TILING_ERROR},
    };
    static uint16_t out[BS * H];
    for (size_t i = 0; i < sizeof cmb / sizeof cmb[0]; i++) {
        memset(out, 0x5A, sizeof out);
        aclTensor *t[6] = {mk(tex), mk(tids), mk(cmb[i].idx), mk(trecv), mk(cmb[i].w), mk(T2(ACL_FLOAT16, BS, H, out))};
        const aclnnStatus st = finish(aclnnMoeDistributeCombineGetWorkspaceSize(
            t[0], t[1], t[2], t[3], t[4], NULL, NULL, NULL, NULL, NULL, NULL, name, 2, 0, E, NULL, 0, 0, 0, 0, 0, 0, 0,
            0, cmb[i].group_list_type, t[5], &ws, &ex), aclnnMoeDistributeCombine, ws, ex);
        expect_refused(cmb[i].what, st, cmb[i].want, 1, out, sizeof out);
        destroy_all(t, 6);
    }
    /* a valid phase 1 of each */
    aclTensor *t[8] = {mk(tx), mk(tids), mk(tex), mk(tidx), mk(ttok), mk(trecv), mk(tw), mk(tout)};
    CHECK(aclnnMoeDistributeDispatchGetWorkspaceSize(t[0], t[1], NULL, NULL, NULL, name, 2, 0, E, NULL, 0, 0, 0, 0, 0,
                                                     0, 0, 0, t[2], NULL, t[3], t[4], t[5], NULL, NULL, &ws,
                                                     &ex) == ACLNN_SUCCESS && ws > 0,
          "V1 dispatch phase 1: %s", errmsg());
    CHECK(aclDestroyAclOpExecutor(ex) == ACLNN_SUCCESS, "release");
    CHECK(aclnnMoeDistributeCombineGetWorkspaceSize(t[2], t[1], t[3], t[5], t[6], NULL, NULL, NULL, NULL, NULL, NULL,
                                                    name, 2, 0, E, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, t[7], &ws,
                                                    &ex) == ACLNN_SUCCESS && ws > 0,
          "V1 combine phase 1: %s", errmsg());
    CHECK(aclDestroyAclOpExecutor(ex) == ACLNN_SUCCESS, "release");
    destroy_all(t, 8);
    CHECK(HcclCommDestroy(comms[0]) == HCCL_SUCCESS && HcclCommDestroy(comms[1]) == HCCL_SUCCESS, "destroy");
    (void)aclGetRecentErrMsg();
}

int main(int argc, char **argv)
{
    g_rng = mr_test_seed(argc, argv);
    setenv("MOEROUTE_HCCL_TIMEOUT_MS", "300", 1);
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1); /* small H */
    acl_setup();
    /* W, E, S, R, K, H, qm, tok_type, mask_kind, global_bs, shared_x (none in V1), skip_ids, bs[], xt, fault */
    const cfg cases[] = {
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {5, 5}, ACL_FLOAT16, FAULT_NONE},
        {2, 2, 0, 0, 2, 8, 2, 1, 2, 0, 0, 1, {3, 3}, ACL_BF16, FAULT_NONE},
        {4, 8, 0, 0, 3, 24, 2, 0, 1, 0, 0, 1, {7, 7, 7, 7}, ACL_BF16, FAULT_NONE},
        {4, 12, 0, 0, 4, 32, 0, 1, 2, 36, 0, 1, {9, 4, 0, 6}, ACL_FLOAT16, FAULT_NONE},
        {4, 6, 1, 2, 2, 16, 0, 0, 0, 0, 0, 0, {4, 4, 4, 4}, ACL_BF16, FAULT_NONE},
        {4, 8, 2, 2, 3, 16, 2, 1, 2, 0, 0, 1, {5, 5, 5, 5}, ACL_FLOAT16, FAULT_NONE},
    };
    char label[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(label, sizeof label, "V1 case %zu (%d ranks)", i, cases[i].W);
        run_case(&cases[i], label);
    }
    static const struct {
        size_t base;
        int fault;
        const char *label;
    } faults[] = {
        {0, FAULT_BOOKKEEPING, "V1: rank 1's expandIdx corrupted"},
        {3, FAULT_BOOKKEEPING, "V1: rank 1's expandIdx corrupted (4 ranks)"},
        {0, FAULT_OVERLAP, "V1: rank 1's expandIdxOut overlaps x"},
        {2, FAULT_NEG_ID, "V1: negative id on rank 1"},
        {0, FAULT_ATTR, "V1: expertTokenNumsType differs on rank 1"},
        {0, FAULT_ABSENT, "V1: rank 1 never calls"},
    };
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        cfg f = cases[faults[i].base];
        f.fault = faults[i].fault;
        run_case(&f, faults[i].label);
    }
    test_phase1_refusals();
    acl_teardown();
    return mr_test_finish();
}
