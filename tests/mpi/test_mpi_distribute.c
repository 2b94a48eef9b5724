/* MoeDistributeDispatchV2 -> expert -> MoeDistributeCombineV2 with ranks as MPI processes (mpirun -np 2 / 4;
 * docs/operators/distribute.md). Every process generates the whole world's inputs from one seed (rank 0's,
 * broadcast), runs its own rank over a communicator from HcclGetRootInfo / MPI_Bcast / HcclCommInitRootInfo and
 * checks its outputs against the single-process model of tests/c/distribute_model.h -- the model the in-process
 * test holds the thread transport to, so both transports give the same bytes; once through the aclnn pair, once
 * through the native API (moeroute_distribute_dispatch / _combine on the HcclComm handle). Refusals (a negative id on one
 * rank, an attribute that differs on one rank, corrupted bookkeeping) reach every process, outputs untouched. */
#define _DEFAULT_SOURCE /* setenv */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "distribute_model.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1); /* small H */
    CHECK(size == 2 || size == 4, "run with 2 or 4 processes, got %d", size);
    CHECK(aclInit(NULL) == ACL_SUCCESS, "aclInit");
    unsigned long long seed = 0;
    if (rank == 0) seed = mr_test_seed(argc, argv);
    MPI_Bcast(&seed, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);

    HcclRootInfo info;
    memset(&info, 0, sizeof info);
    if (rank == 0) CHECK(HcclGetRootInfo(&info) == HCCL_SUCCESS, "HcclGetRootInfo");
    MPI_Bcast(&info, (int)sizeof info, MPI_BYTE, 0, MPI_COMM_WORLD);
    HcclComm comm = NULL;
    char name[COMM_NAME_MAX_LENGTH] = "";
    CHECK(HcclCommInitRootInfo((uint32_t)size, &info, (uint32_t)rank, &comm) == HCCL_SUCCESS &&
              HcclGetCommName(comm, name) == HCCL_SUCCESS,
          "communicator: %s", aclGetRecentErrMsg());

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
    CHECK(HcclCommDestroy(comm) == HCCL_SUCCESS, "destroy");
    CHECK(aclFinalize() == ACL_SUCCESS, "aclFinalize");
    printf("rank %d: ", rank);
    const int rc = mr_test_finish();
    MPI_Finalize();
    return rc;
}
