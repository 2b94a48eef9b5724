/* aclnnMoeDistributeDispatchV2 -> expert -> aclnnMoeDistributeCombineV2 on 2, 4 and 8 ranks (threads of this
 * process, HcclCommInitAll; docs/operators/distribute.md, layer spec 11). An independent single-process model
 * of the global routing gives every rank's expected rows (order, counts, cumsums, bookkeeping triples), the
 * quantized rows (quantMode 2: per-token int8 of spec 11.3, computed here from the formula) and the combined
 * tokens (fp32 chain of spec 11.4); all compared bit for bit. The expert is the identity (quantMode 0) or the
 * dequantization f16/bf16(int8 * scale) (quantMode 2). Refusals return on every rank without a hang (HCCL
 * timeout shortened to 300 ms) and leave the outputs untouched; a refusal every rank derives from the posts (too
 * many rows for one rank) gives every rank the same status and message. Random inputs: seed from argv[1] or
 * MOEROUTE_TEST_SEED, printed. */
#define _DEFAULT_SOURCE /* setenv */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "distribute_model.h"

static void world_run(world *w)
{
    int32_t devs[MAXW];
    for (int r = 0; r < w->c.W; r++) devs[r] = r;
    CHECK(HcclCommInitAll((uint32_t)w->c.W, devs, w->comms) == HCCL_SUCCESS, "HcclCommInitAll");
    CHECK(HcclGetCommName(w->comms[0], w->name) == HCCL_SUCCESS, "name");
    pthread_t th[MAXW];
    rank_arg ra[MAXW];
    for (int r = 0; r < w->c.W; r++) {
        ra[r] = (rank_arg){w, r};
        pthread_create(&th[r], NULL, rank_main, &ra[r]);
    }
    for (int r = 0; r < w->c.W; r++) pthread_join(th[r], NULL);
    for (int r = 0; r < w->c.W; r++) CHECK(HcclCommDestroy(w->comms[r]) == HCCL_SUCCESS, "destroy");
}

static void run_case(const cfg *c, const char *label)
{
    world *w = calloc(1, sizeof *w);
    w->c = *c;
    world_alloc(w);
    world_run(w);
    for (int r = 0; r < c->W; r++) check_outcome(w, r, label);
    world_free(w);
    free(w);
}

/* ---- phase-1 refusals ---------------------------------------------------------------------------------------- */

static void test_phase1_refusals(void)
{
    int32_t devs[2] = {0, 1};
    HcclComm comms[2];
    char name[COMM_NAME_MAX_LENGTH];
    CHECK(HcclCommInitAll(2, devs, comms) == HCCL_SUCCESS && HcclGetCommName(comms[0], name) == HCCL_SUCCESS, "comm");
    enum { BS = 2, H = 32, K = 2, E = 4, A = BS * 2 * 2 };
    uint16_t x[BS * H] = {0};
    int32_t ids[BS * K] = {0, 1, 2, 3}, assist[A * 128], recv[4];
    int64_t tok[2];
    uint16_t expx[A * H];
    int8_t expq[A * H];
    float dyn[A];
    aclTensor *tx = tn(x, ACL_FLOAT16, 2, BS, H), *tids = tn(ids, ACL_INT32, 2, BS, K);
    aclTensor *te = tn(expx, ACL_FLOAT16, 2, A, H), *tq = tn(expq, ACL_INT8, 2, A, H), *td = tn(dyn, ACL_FLOAT, 1, A, 0);
    aclTensor *tsmall = tn(expx, ACL_FLOAT16, 2, A - 1, H), *tbf = tn(expx, ACL_BF16, 2, A, H);
    aclTensor *ta = tn(assist, ACL_INT32, 1, A * 128, 0), *tt = tn(tok, ACL_INT64, 1, 2, 0), *tr = tn(recv, ACL_INT32, 1, 4, 0);
    uint64_t ws;
    aclOpExecutor *ex;
#define DSP(xx, grp, world, rank, tpw, qm, ex_out, dyn_out)                                                          \
    aclnnMoeDistributeDispatchV2GetWorkspaceSize(xx, tids, NULL, NULL, NULL, grp, world, rank, E, NULL, tpw, 0, 0, 0, 0, \
                                                 qm, 0, 0, NULL, ex_out, dyn_out, ta, tt, tr, NULL, NULL, &ws, &ex)
#define EXPECT(what, call, want)                                                                                \
    do {                                                                                                        \
        const aclnnStatus got_ = (call);                                                                        \
        const char *msg_ = aclGetRecentErrMsg();                                                                \
        CHECK(got_ == (want) && msg_ && *msg_, "%s: %d (want %d) %s", what, got_, want, msg_ ? msg_ : "(none)"); \
    } while (0)
    EXPECT("unknown groupEp", DSP(tx, "no-such-group", 2, 0, 0, 0, te, NULL), ACLNN_ERR_INNER_TILING_ERROR);
    EXPECT("epWorldSize not the communicator's", DSP(tx, name, 4, 0, 0, 0, te, NULL), ACLNN_ERR_INNER_TILING_ERROR);
    EXPECT("epRankId out of range", DSP(tx, name, 2, 2, 0, 0, te, NULL), ACLNN_ERR_INNER_TILING_ERROR);
    EXPECT("tpWorldSize 2", DSP(tx, name, 2, 0, 2, 0, te, NULL), ACLNN_ERR_INNER_TILING_ERROR);
    EXPECT("quantMode 1", DSP(tx, name, 2, 0, 0, 1, te, NULL), ACLNN_ERR_INNER_TILING_ERROR);
    EXPECT("A below the bound", DSP(tx, name, 2, 0, 0, 0, tsmall, NULL), ACLNN_ERR_INNER_TILING_ERROR);
    EXPECT("expandXOut dtype", DSP(tx, name, 2, 0, 0, 0, tbf, NULL), ACLNN_ERR_PARAM_INVALID);
    EXPECT("quantMode 2 without dynamicScalesOut", DSP(tx, name, 2, 0, 0, 2, tq, NULL), ACLNN_ERR_PARAM_INVALID);
    EXPECT("NULL x", DSP(NULL, name, 2, 0, 0, 0, te, NULL), ACLNN_ERR_PARAM_NULLPTR);
#undef EXPECT
    /* the device limits (H in [1024, 8192] on Atlas A3) unless MOEROUTE_DEVICE_LIMITS=0 */
    setenv("MOEROUTE_DEVICE_LIMITS", "1", 1);
    CHECK(DSP(tx, name, 2, 0, 0, 0, te, NULL) == ACLNN_ERR_INNER_TILING_ERROR, "H = 32 refused by the A3 limits");
    const char *msg = aclGetRecentErrMsg();
    CHECK(msg && strstr(msg, "MOEROUTE_DEVICE_LIMITS"), "the message names the switch: %s", msg ? msg : "");
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1);
    CHECK(DSP(tx, name, 2, 0, 0, 2, tq, td) == ACLNN_SUCCESS, "a valid phase 1: %s", aclGetRecentErrMsg());
    CHECK(aclDestroyAclOpExecutor(ex) == ACLNN_SUCCESS, "release the unused executor");
#undef DSP
    aclDestroyTensor(tx), aclDestroyTensor(tids), aclDestroyTensor(te), aclDestroyTensor(tq), aclDestroyTensor(td);
    aclDestroyTensor(tsmall), aclDestroyTensor(tbf), aclDestroyTensor(ta), aclDestroyTensor(tt), aclDestroyTensor(tr);
    CHECK(HcclCommDestroy(comms[0]) == HCCL_SUCCESS && HcclCommDestroy(comms[1]) == HCCL_SUCCESS, "destroy");
    (void)aclGetRecentErrMsg();
}

/* ---- a refusal every rank derives from the posts: one status and one message everywhere ---------------------- */

enum { CROWD_W = 4, CROWD_BS = 3, CROWD_K = 4, CROWD_H = 16, CROWD_E = 8 };

typedef struct crowd_rank {
    HcclComm comm;
    moeroute_status st;
    char msg[256];
    uint16_t expx[CROWD_BS * CROWD_W * 2 * CROWD_H];
} crowd_rank;

static void *crowd_main(void *arg)
{
    crowd_rank *c = arg;
    uint16_t x[CROWD_BS * CROWD_H] = {0};
    int32_t ids[CROWD_BS * CROWD_K] = {0}, assist[CROWD_BS * CROWD_W * 2 * 3], recv[CROWD_W * 2];
    int64_t tok[2];
    moeroute_distribute_dispatch_args da;
    memset(&da, 0, sizeof da);
    da.struct_size = sizeof da;
    da.comm = c->comm, da.x_dtype = MOEROUTE_DTYPE_FLOAT16, da.num_tokens = CROWD_BS, da.hidden = CROWD_H;
    da.top_k = CROWD_K, da.num_experts = CROWD_E, da.x = x, da.expert_ids = ids;
    da.max_rows = CROWD_BS * CROWD_W * 2; /* the bound: L = 2 < K */
    da.expand_x = c->expx, da.assist_info = assist, da.expert_token_nums = tok, da.ep_recv_counts = recv;
    c->st = moeroute_distribute_dispatch(NULL, &da); /* every slot of every rank to expert 0: 12 rows per rank */
    const char *m = moeroute_error_message();
    snprintf(c->msg, sizeof c->msg, "%s", m ? m : "");
    return NULL;
}

static void test_crowd_refusal(void)
{
    int32_t devs[CROWD_W] = {0, 1, 2, 3};
    HcclComm comms[CROWD_W];
    CHECK(HcclCommInitAll(CROWD_W, devs, comms) == HCCL_SUCCESS, "comm");
    crowd_rank *rk = calloc(CROWD_W, sizeof *rk);
    pthread_t th[CROWD_W];
    for (int r = 0; r < CROWD_W; r++) {
        rk[r].comm = comms[r];
        memset(rk[r].expx, 0xA5, sizeof rk[r].expx);
        pthread_create(&th[r], NULL, crowd_main, &rk[r]);
    }
    for (int r = 0; r < CROWD_W; r++) pthread_join(th[r], NULL);
    for (int r = 0; r < CROWD_W; r++) {
        CHECK(rk[r].st == MOEROUTE_ERR_INVALID_VALUE, "crowd: rank %d refused: %d", r, (int)rk[r].st);
        CHECK(strstr(rk[r].msg, "rank 0 receives 48 rows") != NULL, "crowd: rank %d names rank 0: %s", r, rk[r].msg);
        CHECK(!strcmp(rk[r].msg, rk[0].msg), "crowd: rank %d gives rank 0's message", r);
        CHECK(mr_test_bytes_are(rk[r].expx, sizeof rk[r].expx, 0xA5), "crowd: rank %d expandX untouched", r);
    }
    for (int r = 0; r < CROWD_W; r++) CHECK(HcclCommDestroy(comms[r]) == HCCL_SUCCESS, "destroy");
    free(rk);
}

int main(int argc, char **argv)
{
    g_rng = mr_test_seed(argc, argv);
    setenv("MOEROUTE_HCCL_TIMEOUT_MS", "300", 1);
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1); /* small H */
    CHECK(aclInit(NULL) == ACL_SUCCESS, "aclInit");
    /* W, E, S, R, K, H, qm, tok_type, mask_kind, global_bs, shared_x, skip_ids, bs[], xt, fault */
    const cfg cases[] = {
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {5, 5}, ACL_FLOAT16, FAULT_NONE},
        {2, 2, 0, 0, 2, 8, 2, 1, 0, 0, 0, 0, {3, 3}, ACL_BF16, FAULT_NONE},
        {4, 8, 0, 0, 3, 24, 2, 0, 1, 0, 1, 1, {7, 7, 7, 7}, ACL_BF16, FAULT_NONE},
        {4, 12, 0, 0, 4, 32, 0, 1, 2, 36, 0, 1, {9, 4, 0, 6}, ACL_FLOAT16, FAULT_NONE},
        {8, 12, 1, 2, 2, 16, 0, 0, 0, 0, 1, 0, {4, 4, 4, 4, 4, 4, 4, 4}, ACL_BF16, FAULT_NONE},
        {8, 16, 2, 4, 3, 40, 2, 1, 2, 48, 0, 1, {6, 1, 3, 6, 0, 2, 5, 4}, ACL_FLOAT16, FAULT_NONE},
        {8, 64, 0, 0, 8, 64, 2, 0, 1, 0, 1, 0, {12, 12, 12, 12, 12, 12, 12, 12}, ACL_BF16, FAULT_NONE},
        /* rows of several of the combine sum's chunks (256 elements) and a tail */
        {4, 8, 0, 0, 3, 2056, 0, 0, 0, 0, 1, 0, {3, 3, 3, 3}, ACL_BF16, FAULT_NONE},
        {8, 12, 1, 2, 2, 1100, 2, 1, 1, 16, 1, 1, {2, 1, 2, 0, 2, 1, 2, 2}, ACL_FLOAT16, FAULT_NONE},
    };
    char label[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(label, sizeof label, "case %zu (%d ranks)", i, cases[i].W);
        run_case(&cases[i], label);
    }
    cfg f = cases[0];
    f.fault = FAULT_NEG_ID;
    run_case(&f, "negative id on rank 1");
    f.fault = FAULT_ATTR;
    run_case(&f, "expertTokenNumsType differs on rank 1");
    f.fault = FAULT_ABSENT;
    run_case(&f, "rank 1 never calls");
    f = cases[2];
    f.fault = FAULT_BOOKKEEPING;
    run_case(&f, "rank 0's bookkeeping corrupted");
    /* the native API on the same cases, and its own refusals */
    g_native = 1;
    const size_t native_cases[] = {0, 2, 3, 4, 5};
    for (size_t i = 0; i < sizeof native_cases / sizeof native_cases[0]; i++) {
        snprintf(label, sizeof label, "native case %zu (%d ranks)", native_cases[i], cases[native_cases[i]].W);
        run_case(&cases[native_cases[i]], label);
    }
    f = cases[0];
    f.fault = FAULT_NEG_ID;
    run_case(&f, "native: negative id on rank 1");
    f = cases[2];
    f.fault = FAULT_BOOKKEEPING;
    run_case(&f, "native: rank 0's bookkeeping corrupted");
    g_native = 0;
    moeroute_distribute_dispatch_args da;
    memset(&da, 0, sizeof da);
    CHECK(moeroute_distribute_dispatch(NULL, NULL) == MOEROUTE_ERR_NULL_POINTER, "native: NULL args");
    da.struct_size = sizeof da - 8;
    CHECK(moeroute_distribute_dispatch(NULL, &da) == MOEROUTE_ERR_INVALID_ARGS_SIZE, "native: short struct_size");
    da.struct_size = sizeof da;
    da.comm = &da;
    CHECK(moeroute_distribute_dispatch(NULL, &da) == MOEROUTE_ERR_INVALID_SHAPE, "native: not a communicator");
    moeroute_distribute_combine_args ca;
    memset(&ca, 0, sizeof ca);
    ca.struct_size = sizeof ca;
    CHECK(moeroute_distribute_combine(NULL, &ca) == MOEROUTE_ERR_INVALID_SHAPE, "native combine: no communicator");
    (void)moeroute_error_message();
    size_t count = 0, size = 0; /* the layouts bindings read */
    const moeroute_field *fl = moeroute_struct_layout("moeroute_distribute_dispatch_args", &count, &size);
    CHECK(fl && count == 25 && size == sizeof da && !strcmp(fl[count - 1].name, "expand_scales") &&
              fl[count - 1].offset == offsetof(moeroute_distribute_dispatch_args, expand_scales),
          "dispatch args layout (%zu fields)", count);
    fl = moeroute_struct_layout("moeroute_distribute_combine_args", &count, &size);
    CHECK(fl && count == 20 && size == sizeof ca && !strcmp(fl[count - 1].name, "out") &&
              fl[count - 1].offset == offsetof(moeroute_distribute_combine_args, out),
          "combine args layout (%zu fields)", count);
    test_phase1_refusals();
    test_crowd_refusal();
    CHECK(aclFinalize() == ACL_SUCCESS, "aclFinalize");
    return mr_test_finish();
}
