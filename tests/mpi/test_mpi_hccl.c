/* The HCCL subset over MPI (docs/hccl.md): run under mpirun -np 2 / -np 4. Rank 0 makes the root info, the
 * program ships it with MPI_Bcast (as HCCL programs do), every process joins with HcclCommInitRootInfo; then
 * the same hand-computed collective checks as the in-process test (tests/c/hccl_cases.h, so both transports
 * give the same bytes) and refusals that return on every rank: calls that disagree, a rank refusing its own
 * arguments, a wrong nRanks. Each process prints its own pass/fail count; mpirun fails if any process does. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "hccl_cases.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(size >= 2 && size <= MAXR, "run with 2 to %d processes, got %d", MAXR, size);
    CHECK(aclInit(NULL) == ACL_SUCCESS, "aclInit");

    HcclRootInfo info;
    memset(&info, 0, sizeof info);
    if (rank == 0) CHECK(HcclGetRootInfo(&info) == HCCL_SUCCESS, "HcclGetRootInfo");
    MPI_Bcast(&info, (int)sizeof info, MPI_BYTE, 0, MPI_COMM_WORLD);
    HcclComm comm = NULL;
    CHECK(HcclCommInitRootInfo((uint32_t)size, &info, (uint32_t)rank, &comm) == HCCL_SUCCESS,
          "HcclCommInitRootInfo: %s", aclGetRecentErrMsg());

    char name[COMM_NAME_MAX_LENGTH], names[MAXR * COMM_NAME_MAX_LENGTH];
    hccl_check_collectives(comm, rank, size, name);
    MPI_Allgather(name, COMM_NAME_MAX_LENGTH, MPI_CHAR, names, COMM_NAME_MAX_LENGTH, MPI_CHAR, MPI_COMM_WORLD);
    for (int r = 0; r < size; r++)
        CHECK(strcmp(names + r * COMM_NAME_MAX_LENGTH, name) == 0, "one name on every rank: %s", name);

    /* refusals, on every rank */
    int32_t a[8] = {0}, b[8];
    HcclResult st = HcclAllReduce(a, b, rank ? 8 : 4, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, NULL);
    CHECK(st == HCCL_E_PARA, "counts that differ: %s", HcclGetErrorString(st));
    st = rank ? HcclAllGather(a, b, 1, HCCL_DATA_TYPE_INT32, comm, NULL)
              : HcclAllReduce(a, b, 1, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, NULL);
    CHECK(st == HCCL_E_PARA, "different collectives: %s", HcclGetErrorString(st));
    st = HcclAllReduce(rank == 1 ? NULL : a, b, 4, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, NULL);
    CHECK(st == (rank == 1 ? HCCL_E_PTR : HCCL_E_REMOTE), "rank 1 passes NULL: %s", HcclGetErrorString(st));
    uint64_t cnt[MAXR], dsp[MAXR];
    for (int j = 0; j < size; j++) cnt[j] = 1, dsp[j] = (uint64_t)j;
    uint64_t rcnt[MAXR];
    memcpy(rcnt, cnt, sizeof cnt);
    if (rank == 0) rcnt[1] = 0; /* rank 0 does not expect what rank 1 sends it */
    int32_t sb[MAXR] = {0}, rb[MAXR];
    st = HcclAlltoAllV(sb, cnt, dsp, HCCL_DATA_TYPE_INT32, rb, rcnt, dsp, HCCL_DATA_TYPE_INT32, comm, NULL);
    CHECK(st == HCCL_E_PARA, "AlltoAllV counts that disagree: %s", HcclGetErrorString(st));
    /* the communicator still works after refusals */
    int32_t one = 1, sum = 0;
    CHECK(HcclAllReduce(&one, &sum, 1, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, NULL) == HCCL_SUCCESS &&
              sum == size,
          "allreduce after refusals: %d", sum);
    CHECK(HcclBarrier(comm, NULL) == HCCL_SUCCESS, "barrier");
    CHECK(HcclCommDestroy(comm) == HCCL_SUCCESS, "destroy");

    /* a second communicator from a new token, and a wrong nRanks refused on every rank */
    if (rank == 0) HcclGetRootInfo(&info);
    MPI_Bcast(&info, (int)sizeof info, MPI_BYTE, 0, MPI_COMM_WORLD);
    st = HcclCommInitRootInfo((uint32_t)size + (rank == 0), &info, (uint32_t)rank, &comm);
    CHECK(st == HCCL_E_PARA, "nRanks that differ: %s", HcclGetErrorString(st));
    (void)aclGetRecentErrMsg();

    CHECK(aclFinalize() == ACL_SUCCESS, "aclFinalize");
    printf("rank %d: ", rank);
    const int rc = mr_test_finish();
    MPI_Finalize();
    return rc;
}
