/* The communicator behind hccl/hccl.h (docs/hccl.md; layer decision 17), as the MC2 operators see it.
 *
 * A group is one communicator: n ranks, a name in the process-wide registry, and a rendezvous. Every
 * collective, and every MC2 operator, is one round of the rendezvous:
 *
 *   mr_hccl_round_begin   the rank posts a description of its call (a kind, a signature that must be
 *                         byte-identical on every rank, the rank's own buffers, and whether it refused its own
 *                         arguments) and waits, bounded, until every rank has posted. Then every rank checks
 *                         the same posts and reaches the same verdict: a refusal anywhere, or calls that
 *                         disagree, fail the round on every rank.
 *   (the caller)          reads its peers' posted buffers (shared memory) and writes only its own outputs.
 *   mr_hccl_round_end     waits until every rank has finished reading; only then may a rank reuse or change
 *                         the buffers it posted.
 *
 * A wait that runs past the group's timeout breaks the group (HCCL_E_TIMEOUT on every waiting rank and on
 * every later call); so does destroying one rank's handle while others live (HCCL_E_REMOTE). */
#ifndef MR_HCCL_HCCL_INTERNAL_H
#define MR_HCCL_HCCL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h" /* MR_PRINTF */
#include "hccl/hccl.h"

typedef struct mr_hccl_group mr_hccl_group;

/* Record "<message> (<code name>)" for aclGetRecentErrMsg and return code. */
HcclResult mr_hccl_fail(HcclResult code, const char *fmt, ...) MR_PRINTF(2, 3);

/* What one rank posts for a round. Everything it points to stays valid until mr_hccl_round_end returns on
 * that rank. */
typedef struct mr_hccl_post {
    uint32_t kind;         /* the operation (mr_hccl_kind)                                                  */
    const void *sig;       /* attributes every rank must pass identically (compared bytewise)              */
    size_t sig_size;
    const void *desc;      /* the rank's own arguments (buffers, counts), read by its peers                 */
    const char *read_lo;   /* span of this rank's memory that peers read during the round ([lo, hi))       */
    const char *read_hi;
    HcclResult refused;    /* HCCL_SUCCESS, or the code this rank returns for its own arguments            */
    const char *message;   /* why it refused (peers quote it)                                               */
} mr_hccl_post;

enum mr_hccl_kind {
    MR_HCCL_ALLREDUCE = 1,
    MR_HCCL_BROADCAST,
    MR_HCCL_ALLGATHER,
    MR_HCCL_ALLTOALLV,
    MR_HCCL_BARRIER,
    MR_HCCL_MC2_DISPATCH,
    MR_HCCL_MC2_COMBINE
};

/* The group registered under `name` with one reference taken (NULL if none); release it. */
mr_hccl_group *mr_hccl_group_find(const char *name);
void mr_hccl_group_release(mr_hccl_group *g);
uint32_t mr_hccl_group_size(const mr_hccl_group *g);

/* Round start for `rank` of g (see above). On HCCL_SUCCESS *all holds the n posts, indexed by rank, and the
 * caller must call mr_hccl_round_end. On failure the round is already over on this rank (nothing to end) and a
 * message naming `api` is recorded. */
HcclResult mr_hccl_round_begin(mr_hccl_group *g, uint32_t rank, const mr_hccl_post *mine, const char *api,
                               const mr_hccl_post *const **all);
/* Inside a round (after mr_hccl_round_begin), for verdicts a rank reaches only after reading its peers: every
 * rank posts its own (mine, with a message that stays valid until the round ends), waits for all, and gets
 * the same outcome: its own failure, else HCCL_E_REMOTE quoting the first failing rank, else success. The
 * caller still calls mr_hccl_round_end, whatever the outcome. */
HcclResult mr_hccl_round_vote(mr_hccl_group *g, uint32_t rank, HcclResult mine, const char *message, const char *api);
HcclResult mr_hccl_round_end(mr_hccl_group *g, uint32_t rank, const char *api);

/* A handle's group and rank (HCCL_E_PTR / HCCL_E_PARA with a message for a NULL or dead handle). */
HcclResult mr_hccl_comm_group(HcclComm comm, const char *api, mr_hccl_group **g, uint32_t *rank);

/* ---- one collective call, as hccl_coll.c checks it and a transport runs it ------------------------------ */

/* Identical on every rank (compared bytewise): zero-filled before use so padding compares equal. */
typedef struct mr_coll_sig {
    uint32_t kind, dtype, op, root;
    uint64_t count;
} mr_coll_sig;

typedef struct mr_coll_desc {
    const char *send;
    char *recv;
    const uint64_t *scounts, *sdispls, *rcounts, *rdispls; /* AlltoAllV */
} mr_coll_desc;

typedef struct mr_coll {
    const char *api;
    mr_coll_sig sig;
    mr_coll_desc d;
    size_t esize;
    char *out;            /* this rank's output span [out, out + out_bytes) */
    size_t out_bytes;
    HcclResult refused;   /* this rank's own verdict on its arguments */
    char message[256];
} mr_coll;

size_t mr_hccl_dtype_size(HcclDataType t); /* 0: not supported */
/* dst[i] = dst[i] op src[i], rounded to the element type (INT8..INT64 wrap; FP16/BF16 through fp32). */
void mr_hccl_reduce_into(char *dst, const char *src, uint64_t count, HcclDataType dt, HcclReduceOp op);

/* ---- network transports: ranks in other processes ------------------------------------------------------
 * The core library has none (mr_hccl_net is NULL); the moeroute_mpi library adds the MPI transport
 * (hccl_mpi.c), which registers itself when the library is loaded. A group built on one has a `net` state;
 * its collectives go to the transport. */
/* Buffers a communicator keeps between calls (the buffer op below): slot 0 the rows a dispatch sends (packed or
 * quantized) or a combine's staging, slot 1 a dispatch's scales. */
#define MR_NET_BUFFERS 2
/* A run of bytes of this process's memory (the exchange below reads or writes it). */
typedef struct mr_net_seg {
    char *at;
    size_t bytes;
} mr_net_seg;

typedef struct mr_hccl_net_ops {
    const char *name;
    /* A token for a communicator over processes; HCCL_E_NOT_SUPPORT when this process is not part of a
     * multi-process job (an in-process token is made then). */
    HcclResult (*root_info)(HcclRootInfo *info);
    int (*owns)(const HcclRootInfo *info); /* 1 when the token is this transport's */
    /* Join as `rank` of n (bounded by timeout_ms); on success *net is the state and name (COMM_NAME_MAX_LENGTH
     * bytes) the communicator's name, the same in every process. */
    HcclResult (*join)(const HcclRootInfo *info, uint32_t n, uint32_t rank, long timeout_ms, void **net, char *name,
                       const char *api);
    void (*leave)(void *net);
    HcclResult (*coll)(void *net, uint32_t rank, uint32_t n, const mr_coll *c);
    /* Building blocks of operators over the transport (the MC2 operators, distribute_net.c):
     * allgather  `bytes` per rank, bounded by the timeout (the first exchange of a call: HCCL_E_TIMEOUT, and
     *            the communicator broken, when a rank does not come);
     * exchange   matched contiguous segments: to rank j go send[sfirst[j] .. sfirst[j + 1]), from rank j come
     *            recv[rfirst[j] .. rfirst[j + 1]); the i-th segment rank j sends this rank lands in the i-th
     *            segment this rank receives from j, of the same size (the caller derives both sides from data
     *            every rank shares). The transport moves them where they lie (MPI: the segments between two ranks as
     *            one message of an hindexed datatype, adjacent ones joined, or one message per segment when they
     *            total 1 GiB or more).
     *            It runs no agreement of its own and allocates nothing: `scratch` holds exchange_scratch(n,
     *            segments) bytes (segments: send and receive together), allocated by the caller before its
     *            agreement;
     * buffer     a buffer the communicator keeps between calls (slot < MR_NET_BUFFERS), at least `bytes`
     *            long (contents not kept when it grows), NULL when out of memory; valid until the next buffer
     *            call for the slot or the communicator's end. Reusing it spares a call the page faults of
     *            fresh memory.
     * allgather and exchange are collective: every rank calls them in the same order. */
    HcclResult (*allgather)(void *net, const void *mine, void *all, size_t bytes, const char *api);
    HcclResult (*exchange)(void *net, const struct mr_net_seg *send, const size_t *sfirst,
                           const struct mr_net_seg *recv, const size_t *rfirst, void *scratch, const char *api);
    size_t (*exchange_scratch)(uint32_t n, size_t segments);
    void *(*buffer)(void *net, unsigned slot, size_t bytes);
} mr_hccl_net_ops;
extern const mr_hccl_net_ops *mr_hccl_net;
void *mr_hccl_group_net(const mr_hccl_group *g); /* NULL for in-process groups */

/* 1 when [lo, hi) of the caller's outputs overlaps what any rank posted as read ([read_lo, read_hi)). */
int mr_hccl_overlaps_reads(const mr_hccl_post *const *all, uint32_t n, const void *lo, const void *hi);

/* ---- rank tables over a network transport (HcclCommInitClusterInfo in a job of several processes) ------------
 * Every process reads the table itself and states its claim; the transport's agree (hccl_mpi_ranktable.c,
 * registered when moeroute_mpi loads) exchanges the claims, bounded by the timeout, and every process reaches one
 * verdict; on success *info is a token of mr_hccl_net that every process then joins with. */
typedef struct mr_hccl_table_claim {
    uint64_t digest;   /* the table's server count and (rank_id, device_id) entries: one table everywhere */
    uint32_t n, rank;  /* the table's rank count; the rank this process asks for */
    int32_t refused;   /* HCCL_SUCCESS, or this process's own refusal (NULL argument, unreadable or bad table) */
    uint32_t pad;
    char message[256]; /* why it refused */
} mr_hccl_table_claim;

typedef struct mr_hccl_table_ops {
    int (*active)(void); /* 1 when this process is one of several in a job: the table's ranks are processes */
    HcclResult (*agree)(const mr_hccl_table_claim *mine, long timeout_ms, HcclRootInfo *info, const char *api);
} mr_hccl_table_ops;
extern const mr_hccl_table_ops *mr_hccl_table_net; /* NULL in the core library */

/* moeroute_mpi only (hccl_mpi.c): an allgather of `bytes` per process over every process of the job, before any
 * communicator exists; HCCL_E_TIMEOUT when a process does not come within timeout_ms. */
HcclResult mr_mpi_world_allgather(const void *mine, void *all, size_t bytes, long timeout_ms, const char *api);

#endif /* MR_HCCL_HCCL_INTERNAL_H */
