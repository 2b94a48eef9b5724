/* Rank tables over the MPI transport (docs/hccl.md; layer spec 12.2, decision 17): HcclCommInitClusterInfo in a
 * job of several MPI processes (mpirun, one machine or many). Built only into moeroute_mpi, next to hccl_mpi.c;
 * registers itself in mr_hccl_table_net when the library loads.
 *
 * The table's ranks are the job's processes, one rank each: every process of MPI_COMM_WORLD reads the table
 * (hccl_comm.c), passes its own rank_id, and states its claim (the table's digest and rank count, its rank, or
 * its own refusal) in one bounded allgather; then every process reaches the same verdict:
 *   a process refused (unreadable or malformed table, rank not in it, a NULL argument, a table whose rank count
 *   is not the job's size)      that process its own code, the others HCCL_E_REMOTE quoting it;
 *   processes read different tables, or two claim one rank    HCCL_E_PARA everywhere;
 *   a process does not come within the timeout                HCCL_E_TIMEOUT.
 * On success the process of world rank 0 makes a root-info token of the MPI transport and broadcasts it (every
 * process is known to be present), and every process joins with it as for HcclCommInitRootInfo, ordered by its
 * rank_id. device_id, device_ip and server_id are not used: each process runs on the device it set. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "hccl/hccl_internal.h"

static int mr_table_active(void)
{
    int init = 0, fin = 0, size = 1;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Comm_size(MPI_COMM_WORLD, &size);
    return init && !fin && size > 1;
}

/* The verdict on every process's claim, the same in every process (all[] is the same everywhere). */
static HcclResult mr_table_verdict(const mr_hccl_table_claim *mine, const mr_hccl_table_claim *all, int size,
                                   const char *api)
{
    if (mine->refused != HCCL_SUCCESS) return mr_hccl_fail((HcclResult)mine->refused, "%s", mine->message);
    for (int p = 0; p < size; p++)
        if (all[p].refused != HCCL_SUCCESS)
            return mr_hccl_fail(HCCL_E_REMOTE, "%s: process %d of the job refused the rank table: %s", api, p,
                                all[p].message);
    uint64_t taken = 0; /* n = size <= 64 here */
    for (int p = 0; p < size; p++) {
        if (all[p].digest != all[0].digest || all[p].n != all[0].n)
            return mr_hccl_fail(HCCL_E_PARA,
                                "%s: processes 0 and %d read different rank tables (%u and %u ranks, or other "
                                "rank_id / device_id entries)",
                                api, p, all[0].n, all[p].n);
        if (taken >> all[p].rank & 1)
            return mr_hccl_fail(HCCL_E_PARA, "%s: rank %u is claimed by two processes (process %d is one)", api,
                                all[p].rank, p);
        taken |= 1ull << all[p].rank;
    }
    return HCCL_SUCCESS;
}

static HcclResult mr_table_agree(const mr_hccl_table_claim *claim, long timeout_ms, HcclRootInfo *info,
                                 const char *api)
{
    int size = 0, me = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    mr_hccl_table_claim mine = *claim;
    if (mine.refused == HCCL_SUCCESS && mine.n != (uint32_t)size) {
        mine.refused = HCCL_E_PARA;
        snprintf(mine.message, sizeof mine.message,
                 "%s: the rank table lists %u ranks, but the MPI job has %d processes (one rank per process)", api,
                 mine.n, size);
    }
    mr_hccl_table_claim *all = mr_malloc(sizeof *all * (size_t)size);
    if (!all) return mr_hccl_fail(HCCL_E_MEMORY, "%s: out of memory", api);
    HcclResult st = mr_mpi_world_allgather(&mine, all, sizeof mine, timeout_ms, api);
    if (st == HCCL_SUCCESS) st = mr_table_verdict(&mine, all, size, api);
    mr_free(all);
    if (st != HCCL_SUCCESS) return st;
    /* every process is here: the token of world rank 0 for all (its status with it) */
    struct {
        HcclRootInfo info;
        int32_t st;
    } token;
    memset(&token, 0, sizeof token);
    if (me == 0) token.st = (int32_t)mr_hccl_net->root_info(&token.info);
    MPI_Bcast(&token, (int)sizeof token, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (token.st != HCCL_SUCCESS)
        return mr_hccl_fail(HCCL_E_INTERNAL, "%s: process 0 could not make the MPI transport's token", api);
    memcpy(info, &token.info, sizeof *info);
    return HCCL_SUCCESS;
}

static const mr_hccl_table_ops mr_mpi_table_ops = {mr_table_active, mr_table_agree};

__attribute__((constructor)) static void mr_hccl_mpi_table_register(void) { mr_hccl_table_net = &mr_mpi_table_ops; }
