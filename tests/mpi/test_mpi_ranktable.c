/* HcclCommInitClusterInfo over MPI (docs/hccl.md, "Rank tables over MPI"): run under mpirun -np 2 / -np 4. The
 * table's ranks are the job's processes; every process passes its own rank_id. Hand-computed outcomes:
 *   a valid table of two servers, the processes taking the rank_ids in reverse order: every process gets the rank
 *   it asked for, the communicator is ordered by rank_id (AllGather of 10 * rank gives 0, 10, 20, ...), every
 *   process reports one name (HcclGetCommName, what the MC2 operators take), and HcclAllReduce sums 1..n;
 *   a table with one rank more than the job has processes: HCCL_E_PARA on every process;
 *   one process asks for a rank that is not in the table: it gets HCCL_E_PARA, the others HCCL_E_REMOTE;
 *   two processes ask for the same rank, or read different tables: HCCL_E_PARA on every process;
 *   one process cannot open its table: it gets HCCL_E_OPEN_FILE_FAILURE, the others HCCL_E_REMOTE;
 * and a valid table works again after the refusals. Every refusal returns at once (the timeout is 60 s here and
 * CTest's 300 s; a hang fails the test). */
#define _DEFAULT_SOURCE /* mkstemp, setenv */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl/acl.h"
#include "harness.h"
#include "hccl/hccl.h"

static int g_me, g_size;

/* Process 0 writes a rank table of n ranks (rank_id 0..n-1) on `servers` servers (device_id = index on the
 * server + dev_base) to a new file; every process gets its path. */
static void make_table(char path[64], uint32_t n, uint32_t servers, int dev_base)
{
    if (g_me == 0) {
        snprintf(path, 64, "/tmp/moeroute_mpi_table_XXXXXX");
        int fd = mkstemp(path);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        CHECK(f != NULL, "temp file %s", path);
        if (f) {
            fprintf(f, "{\"status\": \"completed\", \"version\": \"1.0\", \"server_count\": \"%u\",\n", servers);
            fprintf(f, " \"server_list\": [");
            const uint32_t per = n / servers;
            for (uint32_t s = 0, r = 0; s < servers; s++) {
                fprintf(f, "%s\n  {\"server_id\": \"10.0.0.%u\", \"device\": [", s ? "," : "", s + 1);
                const uint32_t here = s + 1 == servers ? n - r : per;
                for (uint32_t d = 0; d < here; d++, r++)
                    fprintf(f, "%s\n    {\"device_id\": \"%d\", \"device_ip\": \"192.168.%u.%u\", \"rank_id\": \"%u\"}",
                            d ? "," : "", dev_base + (int)d, s, d, r);
                fprintf(f, "]}");
            }
            fprintf(f, "]}\n");
            fclose(f);
        }
    }
    MPI_Bcast(path, 64, MPI_CHAR, 0, MPI_COMM_WORLD);
}

/* Join with `rank`; on success check the communicator and destroy it. Returns the init status. */
static HcclResult join(const char *path, uint32_t rank, int check)
{
    HcclComm comm = NULL;
    const HcclResult st = HcclCommInitClusterInfo(path, rank, &comm);
    if (st != HCCL_SUCCESS) {
        CHECK(strlen(aclGetRecentErrMsg()) > 0, "a message for %s", HcclGetErrorString(st));
        return st;
    }
    uint32_t n = 0, id = 99;
    CHECK(HcclGetRankSize(comm, &n) == HCCL_SUCCESS && n == (uint32_t)g_size, "rank size %u", n);
    CHECK(HcclGetRankId(comm, &id) == HCCL_SUCCESS && id == rank, "rank id %u, asked for %u", id, rank);
    if (check) {
        char name[COMM_NAME_MAX_LENGTH], names[8 * COMM_NAME_MAX_LENGTH];
        CHECK(HcclGetCommName(comm, name) == HCCL_SUCCESS, "name");
        MPI_Allgather(name, COMM_NAME_MAX_LENGTH, MPI_CHAR, names, COMM_NAME_MAX_LENGTH, MPI_CHAR, MPI_COMM_WORLD);
        for (int p = 0; p < g_size; p++)
            CHECK(strcmp(names + p * COMM_NAME_MAX_LENGTH, name) == 0, "one name: %s", name);
        int32_t mine = 10 * (int32_t)rank, all[8] = {0}, one = (int32_t)rank + 1, sum = 0;
        CHECK(HcclAllGather(&mine, all, 1, HCCL_DATA_TYPE_INT32, comm, NULL) == HCCL_SUCCESS, "allgather");
        for (int r = 0; r < g_size; r++) CHECK(all[r] == 10 * r, "ordered by rank_id: block %d is %d", r, all[r]);
        CHECK(HcclAllReduce(&one, &sum, 1, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, NULL) == HCCL_SUCCESS &&
                  sum == g_size * (g_size + 1) / 2,
              "allreduce %d", sum);
    }
    CHECK(HcclCommDestroy(comm) == HCCL_SUCCESS, "destroy");
    return st;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_me);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    CHECK(g_size >= 2 && g_size <= 8, "run with 2 to 8 processes, got %d", g_size);
    setenv("MOEROUTE_HCCL_TIMEOUT_MS", "60000", 1);
    CHECK(aclInit(NULL) == ACL_SUCCESS && aclrtSetDevice(g_me % 2) == ACL_SUCCESS, "aclInit, device");
    const uint32_t n = (uint32_t)g_size, me = (uint32_t)g_me, reversed = n - 1 - me;

    char two_servers[64], one_more[64], other_devices[64];
    make_table(two_servers, n, 2, 0);
    make_table(one_more, n + 1, 1, 0);
    make_table(other_devices, n, 2, 2);

    HcclResult st = join(two_servers, reversed, 1);
    CHECK(st == HCCL_SUCCESS, "valid table of two servers, rank_ids reversed: %s", HcclGetErrorString(st));
    st = join(one_more, me, 0);
    CHECK(st == HCCL_E_PARA, "%u ranks for %d processes: %s", n + 1, g_size, HcclGetErrorString(st));
    st = join(two_servers, g_me == 1 ? n : me, 0);
    CHECK(st == (g_me == 1 ? HCCL_E_PARA : HCCL_E_REMOTE), "process 1 asks for rank %u: %s", n,
          HcclGetErrorString(st));
    st = join(two_servers, g_me == 1 ? 0 : me, 0);
    CHECK(st == HCCL_E_PARA, "processes 0 and 1 both ask for rank 0: %s", HcclGetErrorString(st));
    st = join(g_me == 0 ? other_devices : two_servers, me, 0);
    CHECK(st == HCCL_E_PARA, "process 0 reads another table: %s", HcclGetErrorString(st));
    st = join(me == n - 1 ? "/nonexistent/rank_table.json" : two_servers, me, 0);
    CHECK(st == (me == n - 1 ? HCCL_E_OPEN_FILE_FAILURE : HCCL_E_REMOTE), "the last process cannot open it: %s",
          HcclGetErrorString(st));
    st = join(two_servers, me, 1);
    CHECK(st == HCCL_SUCCESS, "valid table after the refusals: %s", HcclGetErrorString(st));

    MPI_Barrier(MPI_COMM_WORLD);
    if (g_me == 0) unlink(two_servers), unlink(one_more), unlink(other_devices);
    CHECK(aclFinalize() == ACL_SUCCESS, "aclFinalize");
    printf("process %d: ", g_me);
    const int rc = mr_test_finish();
    MPI_Finalize();
    return rc;
}
