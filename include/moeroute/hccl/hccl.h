/* hccl/hccl.h -- the HCCL subset of moeroute (docs/hccl.md; layer spec 12, decision 17), pure C11.
 *
 * Communicators, in process (libmoeroute): ranks are threads of this process sharing memory; HcclCommInitAll
 * gives one handle per logical device, each driven by its own thread; HcclGetRootInfo on one thread plus
 * HcclCommInitRootInfo on every rank thread, or HcclCommInitClusterInfo with a one-server rank table, build
 * the same kind of communicator. Over MPI (libmoeroute_mpi): ranks are the processes of an mpirun job;
 * HcclGetRootInfo on one process (MPI initialised), the token shipped by the program (MPI_Bcast), then
 * HcclCommInitRootInfo in every process of MPI_COMM_WORLD. Every collective blocks until all ranks of the communicator have made the
 * matching call; the wait is bounded (MOEROUTE_HCCL_TIMEOUT_MS, else HCCL_CONNECT_TIMEOUT seconds, default
 * 120 s) and ends with HCCL_E_TIMEOUT on every waiting rank; a communicator that timed out, or one of whose
 * ranks was destroyed, refuses further collectives (destroy it). Calls that disagree between ranks (another
 * collective, count, dtype, op or root) return HCCL_E_PARA on every rank; a rank that refuses its own
 * arguments tells the others, which return HCCL_E_REMOTE. Floating reductions run in ascending rank order,
 * each partial result rounded to the element type, so every rank gets the same bits.
 * Streams: work runs when called (as every moeroute stream), the stream is only checked. */
#ifndef MOEROUTE_HCCL_HCCL_H
#define MOEROUTE_HCCL_HCCL_H

#include "acl/acl_base.h"
#include "hccl/hccl_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Root side of root-info initialisation: a token naming a new communicator (magic, version, unique id). */
ACL_FUNC_VISIBILITY HcclResult HcclGetRootInfo(HcclRootInfo *rootInfo);
/* Join the communicator of rootInfo as `rank` (< nRanks); returns when all nRanks ranks have joined. */
ACL_FUNC_VISIBILITY HcclResult HcclCommInitRootInfo(uint32_t nRanks, const HcclRootInfo *rootInfo, uint32_t rank,
                                                    HcclComm *comm);
/* One communicator over ndev logical devices, rank i on devices[i] (distinct, < aclrtGetDeviceCount);
 * comms receives ndev handles. */
ACL_FUNC_VISIBILITY HcclResult HcclCommInitAll(uint32_t ndev, int32_t *devices, HcclComm *comms);
/* Rank table (JSON, version 1.0, one server): every rank thread calls this with the same file and its
 * rank_id; returns when all ranks of the table have joined. */
ACL_FUNC_VISIBILITY HcclResult HcclCommInitClusterInfo(const char *clusterInfo, uint32_t rank, HcclComm *comm);
/* The communicator's name (NUL-terminated, < COMM_NAME_MAX_LENGTH bytes; the same on every rank) into a
 * buffer of COMM_NAME_MAX_LENGTH bytes: what the MC2 operators take as groupEp / groupTp. */
ACL_FUNC_VISIBILITY HcclResult HcclGetCommName(HcclComm comm, char *commName);
ACL_FUNC_VISIBILITY HcclResult HcclGetRankSize(HcclComm comm, uint32_t *rankSize);
ACL_FUNC_VISIBILITY HcclResult HcclGetRankId(HcclComm comm, uint32_t *rank);
/* Release this rank's handle; the name is forgotten when the last rank's handle is destroyed. */
ACL_FUNC_VISIBILITY HcclResult HcclCommDestroy(HcclComm comm);
ACL_FUNC_VISIBILITY const char *HcclGetErrorString(HcclResult code);

/* count elements of dataType per rank; INT8, INT16, INT32, FP16, FP32, BFP16 (also INT64, UINT*, FP64);
 * recvBuf may equal sendBuf. */
ACL_FUNC_VISIBILITY HcclResult HcclAllReduce(void *sendBuf, void *recvBuf, uint64_t count, HcclDataType dataType,
                                             HcclReduceOp op, HcclComm comm, aclrtStream stream);
ACL_FUNC_VISIBILITY HcclResult HcclBroadcast(void *buf, uint64_t count, HcclDataType dataType, uint32_t root,
                                             HcclComm comm, aclrtStream stream);
/* recvBuf = the ranks' sendCount elements, rank-major. */
ACL_FUNC_VISIBILITY HcclResult HcclAllGather(void *sendBuf, void *recvBuf, uint64_t sendCount, HcclDataType dataType,
                                             HcclComm comm, aclrtStream stream);
/* Host arrays of rank-size uint64 values, in elements: rank i's block for rank j (sendBuf + sdispls[j],
 * sendCounts[j]) lands at recvBuf + rdispls[i] of rank j, whose recvCounts[i] must equal it. sendType must
 * equal recvType. */
ACL_FUNC_VISIBILITY HcclResult HcclAlltoAllV(const void *sendBuf, const void *sendCounts, const void *sdispls,
                                             HcclDataType sendType, const void *recvBuf, const void *recvCounts,
                                             const void *rdispls, HcclDataType recvType, HcclComm comm,
                                             aclrtStream stream);
ACL_FUNC_VISIBILITY HcclResult HcclBarrier(HcclComm comm, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_HCCL_HCCL_H */
