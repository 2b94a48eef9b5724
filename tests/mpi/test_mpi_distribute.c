/* MoeDistributeDispatchV2 -> expert -> MoeDistributeCombineV2 with ranks as MPI processes (mpirun -np 2 / 4;
 * docs/operators/distribute.md). Every process generates the whole world's inputs from one seed (rank 0's,
 * broadcast), runs its own rank over a communicator from HcclGetRootInfo / MPI_Bcast / HcclCommInitRootInfo and
 * checks its outputs against the single-process model of tests/c/distribute_model.h -- the model the in-process
 * test holds the thread transport to, so both transports give the same bytes; once through the aclnn pair, once
 * through the native API (moeroute_distribute_dispatch / _combine on the HcclComm handle). Refusals (a negative id on one
 * rank, an attribute that differs on one rank, corrupted bookkeeping) reach every process, outputs untouched. */
#define _DEFAULT_SOURCE /* setenv */
#include <stdio.h>
#include <stdlib.h>

#include "distribute_model.h"
#include "mpi_comm_fixture.h"

/* x as a strided view (col_stride > 1: rows gathered by the source; pad > 0: rows apart in memory; else one block
 * of rows, adjacent segments the transport joins), or every slot sent to expert 0 (crowd: rank 0 receives more
 * rows than A), over the MPI transport through the aclnn pair. Checked independently: x[t][h] = (100 r + 10 t + h)
 * / 8 (exact in fp16), so a received row names its source; the rows must be those of the (local expert, source,
 * token, slot) order the routing gives. crowd: every rank refuses with the same message, expandX untouched. */
static void x_layout_case(const char *name, int rank, int W, int bs, int K, int col_stride, int pad, int crowd)
{
    const int E = 2 * W, L = 2, H = 8;
    const int64_t A = (int64_t)bs * W * (L < K ? L : K), ld = (int64_t)H * col_stride + pad;
    uint16_t *xb = calloc((size_t)(bs * ld + 1), 2), *expx = malloc((size_t)(A * H) * 2);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(W * bs * K)), *assist = malloc(sizeof(int32_t) * (size_t)(A * 128));
    int32_t *recv = malloc(sizeof(int32_t) * (size_t)(W * L)), tp = 0;
    int64_t tokn[2] = {0, 0};
    for (int r = 0; r < W; r++) /* every rank's routing: K consecutive experts from a per-token start */
        for (int t = 0; t < bs; t++)
            for (int j = 0; j < K; j++) ids[(r * bs + t) * K + j] = crowd ? 0 : (r * 3 + t * 5 + j) % E;
    for (int t = 0; t < bs; t++)
        for (int h = 0; h < H; h++) xb[t * ld + h * col_stride] = mr_f32_to_f16((float)(100 * rank + 10 * t + h) / 8);
    memset(expx, 0xA5, (size_t)(A * H) * 2);
    const int64_t xd[2] = {bs, H}, xs[2] = {ld, col_stride}, xst = bs * ld + 1;
    aclTensor *x = aclCreateTensor(xd, 2, ACL_FLOAT16, xs, 0, ACL_FORMAT_ND, &xst, 1, xb);
    aclTensor *ti = tn(ids + rank * bs * K, ACL_INT32, 2, bs, K), *te = tn(expx, ACL_FLOAT16, 2, A, H);
    aclTensor *ta = tn(assist, ACL_INT32, 1, A * 128, 0), *tt = tn(tokn, ACL_INT64, 1, L, 0);
    aclTensor *tr = tn(recv, ACL_INT32, 1, W * L, 0), *ttp = tn(&tp, ACL_INT32, 1, 1, 0);
    uint64_t ws = 0;
    aclOpExecutor *ex = NULL;
    aclrtStream stream = NULL;
    CHECK(aclrtCreateStream(&stream) == ACL_SUCCESS, "stream");
    aclnnStatus st = aclnnMoeDistributeDispatchV2GetWorkspaceSize(x, ti, NULL, NULL, NULL, name, W, rank, E, NULL, 0,
                                                                  0, 0, 0, 0, 0, 0, 0, NULL, te, NULL, ta, tt, tr, ttp,
                                                                  NULL, &ws, &ex);
    CHECK(st == ACLNN_SUCCESS, "x layout: phase 1: %d %s", st, aclGetRecentErrMsg());
    void *wsp = malloc(ws ? ws : 1);
    st = aclnnMoeDistributeDispatchV2(wsp, ws, ex, stream);
    char msg[256] = "", *all = malloc((size_t)W * sizeof msg);
    snprintf(msg, sizeof msg, "%s", st == ACLNN_SUCCESS ? "" : aclGetRecentErrMsg());
    MPI_Allgather(msg, (int)sizeof msg, MPI_CHAR, all, (int)sizeof msg, MPI_CHAR, MPI_COMM_WORLD);
    if (crowd) {
        CHECK(st == ACLNN_ERR_PARAM_INVALID, "crowd: rank %d refused: %d", rank, st);
        CHECK(strstr(msg, "rank 0 receives") != NULL, "crowd: rank %d names rank 0: %s", rank, msg);
        for (int r = 0; r < W; r++)
            CHECK(strcmp(all + r * sizeof msg, msg) == 0, "crowd: rank %d and rank %d give one message", rank, r);
        CHECK(mr_test_bytes_are(expx, (size_t)(A * H) * 2, 0xA5), "crowd: rank %d expandX untouched", rank);
    } else {
        CHECK(st == ACLNN_SUCCESS, "x layout (stride %d, pad %d, Bs %d): rank %d: %d %s", col_stride, pad, bs, rank,
              st, msg);
        int64_t row = 0, bad = 0;
        for (int le = 0; le < L; le++)
            for (int s = 0; s < W; s++) {
                for (int t = 0; t < bs; t++)
                    for (int j = 0; j < K; j++) {
                        if (ids[(s * bs + t) * K + j] != rank * L + le) continue;
                        bad |= row >= A || assist[3 * row] != s || assist[3 * row + 1] != t || assist[3 * row + 2] != j;
                        for (int h = 0; h < H && row < A; h++)
                            bad |= expx[row * H + h] != mr_f32_to_f16((float)(100 * s + 10 * t + h) / 8);
                        row++;
                    }
                bad |= recv[le * W + s] != row;
            }
        CHECK(!bad && tp == row, "x layout (stride %d, pad %d, Bs %d): rank %d receives its %lld rows in order",
              col_stride, pad, bs, rank, (long long)row);
    }
    aclDestroyTensor(x), aclDestroyTensor(ti), aclDestroyTensor(te), aclDestroyTensor(ta), aclDestroyTensor(tt);
    aclDestroyTensor(tr), aclDestroyTensor(ttp);
    aclrtDestroyStream(stream);
    free(xb), free(expx), free(ids), free(assist), free(recv), free(wsp), free(all);
}

int main(int argc, char **argv)
{
    int rank = 0, size = 0;
    unsigned long long seed = 0;
    char name[COMM_NAME_MAX_LENGTH];
    HcclComm comm = mpi_comm_setup(&argc, &argv, &rank, &size, &seed, name);

    /* W, E, S, R, K, H, qm, tok_type, mask_kind, global_bs, shared_x, skip_ids, bs[], xt, fault */
    const cfg cases[] = {
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {5, 5}, ACL_FLOAT16, FAULT_NONE},
        {2, 2, 0, 0, 2, 8, 2, 1, 2, 0, 1, 1, {3, 3}, ACL_BF16, FAULT_NONE},
        {2, 6, 0, 0, 3, 24, 2, 0, 1, 12, 0, 0, {6, 2}, ACL_FLOAT16, FAULT_NONE},
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {5, 5}, ACL_FLOAT16, FAULT_NEG_ID},
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {5, 5}, ACL_FLOAT16, FAULT_ATTR},
        {2, 4, 0, 0, 2, 16, 2, 0, 1, 0, 1, 0, {4, 4}, ACL_BF16, FAULT_BOOKKEEPING},
        {4, 8, 0, 0, 3, 24, 2, 0, 1, 0, 1, 1, {7, 7, 7, 7}, ACL_BF16, FAULT_NONE},
        {4, 12, 0, 0, 4, 32, 0, 1, 2, 36, 0, 1, {9, 4, 0, 6}, ACL_FLOAT16, FAULT_NONE},
        {4, 6, 1, 1, 2, 16, 2, 0, 0, 0, 1, 0, {5, 5, 5, 5}, ACL_BF16, FAULT_NONE},
        {4, 8, 2, 2, 3, 40, 0, 1, 2, 24, 0, 1, {6, 1, 3, 6}, ACL_FLOAT16, FAULT_NONE},
        {4, 8, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {3, 3, 3, 3}, ACL_FLOAT16, FAULT_NEG_ID},
        /* routing past the head's inline bytes (exchange 1b): both operators, one rank only, a refusal after it */
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {900, 900}, ACL_FLOAT16, FAULT_NONE},
        {2, 4, 0, 0, 2, 16, 2, 0, 1, 1800, 1, 0, {900, 20}, ACL_BF16, FAULT_NONE},
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {900, 900}, ACL_FLOAT16, FAULT_BOOKKEEPING},
        {4, 8, 2, 2, 2, 16, 0, 1, 2, 3600, 0, 1, {900, 30, 600, 900}, ACL_FLOAT16, FAULT_NONE},
        /* rows of 4 KiB, uneven directions: rank 1 sends rank 0 ~1300 rows back (5.3 MB in its expert blocks),
         * rank 0 sends rank 1 ~20 */
        {2, 4, 0, 0, 2, 2048, 0, 0, 0, 2600, 0, 0, {1300, 20}, ACL_BF16, FAULT_NONE},
    };
    char label[64];
    for (g_native = 0; g_native < 2; g_native++) /* the aclnn pair, then the native API */
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            if (cases[i].W != size) continue;
            g_rng = (uint64_t)seed ^ (0x9E3779B97F4A7C15ull * (i + 1)); /* the same inputs in every process */
            snprintf(label, sizeof label, "MPI %s case %zu (%d ranks)", g_native ? "native" : "aclnn", i, size);
            world *w = calloc(1, sizeof *w);
            w->c = cases[i];
            memcpy(w->name, name, sizeof name);
            w->comms[rank] = comm;
            world_alloc(w);
            rank_arg ra = {w, rank};
            rank_main(&ra);
            check_outcome(w, rank, label);
            world_free(w);
            free(w);
        }
    x_layout_case(name, rank, size, 5, 2, 2, 0, 0);   /* strided columns: gathered by the source */
    x_layout_case(name, rank, size, 5, 2, 1, 3, 0);   /* padded rows: one segment per row */
    x_layout_case(name, rank, size, 700, 2, 1, 0, 0); /* one block of rows; routing past the head's inline bytes */
    x_layout_case(name, rank, size, 4, 4, 1, 0, 1);   /* too many rows for rank 0: one verdict, one message */
    return mpi_comm_finish(comm, rank);
}
