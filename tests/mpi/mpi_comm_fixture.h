/* The start of an MPI test of the MC2 operators (tests/mpi): MPI, ACL with small shapes allowed
 * (MOEROUTE_DEVICE_LIMITS=0), rank 0's seed broadcast to every process, and one communicator over all processes
 * (HcclGetRootInfo on rank 0, MPI_Bcast, HcclCommInitRootInfo) with its name (four CHECKs); and its end. The test
 * defines _DEFAULT_SOURCE (setenv) before its first include. */
#ifndef MR_TEST_MPI_COMM_FIXTURE_H
#define MR_TEST_MPI_COMM_FIXTURE_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "harness.h"
#include "hccl/hccl.h"

static HcclComm mpi_comm_setup(int *argc, char ***argv, int *rank, int *size, unsigned long long *seed,
                               char name[COMM_NAME_MAX_LENGTH])
{
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1); /* small H */
    CHECK(*size == 2 || *size == 4, "run with 2 or 4 processes, got %d", *size);
    CHECK(aclInit(NULL) == ACL_SUCCESS, "aclInit");
    *seed = *rank == 0 ? mr_test_seed(*argc, *argv) : 0;
    MPI_Bcast(seed, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    HcclRootInfo info;
    memset(&info, 0, sizeof info);
    if (*rank == 0) CHECK(HcclGetRootInfo(&info) == HCCL_SUCCESS, "HcclGetRootInfo");
    MPI_Bcast(&info, (int)sizeof info, MPI_BYTE, 0, MPI_COMM_WORLD);
    HcclComm comm = NULL;
    name[0] = 0;
    CHECK(HcclCommInitRootInfo((uint32_t)*size, &info, (uint32_t)*rank, &comm) == HCCL_SUCCESS &&
              HcclGetCommName(comm, name) == HCCL_SUCCESS,
          "communicator: %s", aclGetRecentErrMsg());
    return comm;
}

/* Destroy the communicator, finalize ACL (two CHECKs), print this rank's tally, finalize MPI: the exit status. */
static int mpi_comm_finish(HcclComm comm, int rank)
{
    CHECK(HcclCommDestroy(comm) == HCCL_SUCCESS, "destroy");
    CHECK(aclFinalize() == ACL_SUCCESS, "aclFinalize");
    printf("rank %d: ", rank);
    const int rc = mr_test_finish();
    MPI_Finalize();
    return rc;
}

#endif /* MR_TEST_MPI_COMM_FIXTURE_H */
