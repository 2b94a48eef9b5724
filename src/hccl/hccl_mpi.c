/* The MPI transport of the HCCL subset (docs/hccl.md; layer decision 17): ranks are MPI processes (mpirun, on
 * one machine or many). Built only into the moeroute_mpi library (MOEROUTE_WITH_MPI); it registers itself in
 * mr_hccl_net when the library loads, so the core library stays free of MPI.
 *
 * Root info: HcclGetRootInfo (on the root, with MPI initialised and more than one process) makes a token with a
 * job-unique id; the application ships it (MPI_Bcast, as HCCL programs do); every process of MPI_COMM_WORLD
 * calls HcclCommInitRootInfo with its rank, and the ranks agree on the token, nRanks and distinct ranks before
 * MPI_Comm_split orders them by HCCL rank.
 *
 * Every collective starts with an agreement round (kind, attributes, each rank's refusal and message: the same
 * verdicts as the in-process transport) over a non-blocking MPI_Iallgather polled against the timeout, so a
 * missing rank gives HCCL_E_TIMEOUT instead of a hang; after it every rank is known to be present and the data
 * moves with blocking MPI calls. Reductions gather every rank's buffer and reduce in ascending rank order with
 * the in-process code (mr_hccl_reduce_into): both transports give the same bytes. */
#define _DEFAULT_SOURCE /* nanosleep, getpid */
#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/error.h"
#include "hccl/hccl_internal.h"

#define MR_MPI_MAGIC "moeroute-hccl-mpi"

typedef struct mr_mpi_token {
    char magic[20];
    uint32_t version;
    int32_t world_size;
    uint64_t id;
} mr_mpi_token;

typedef struct mr_mpi_net {
    MPI_Comm comm;
    long timeout_ms;
    size_t split;      /* the exchange's message split (mr_mpi_split_bytes), the same in every process */
    HcclResult broken; /* HCCL_SUCCESS while usable */
    void *cache[MR_NET_BUFFERS]; /* the buffer op's (hccl_internal.h) */
    size_t cache_cap[MR_NET_BUFFERS];
} mr_mpi_net;

static int mr_mpi_running(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

static double mr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* How long a bounded wait polls without sleeping: the partners of a call usually arrive within this, and a sleep
 * costs far more than its nominal length (the kernel's timer slack, 50 us by default): with a sleep between
 * every test, the head allgather of a decode batch took ~125 us instead of ~20. Between tests the rank yields the
 * CPU, so that ranks sharing CPUs (mpirun --oversubscribe) still make progress. */
#define MR_MPI_SPIN_MS 2.0

/* MPI_Iallgather of `bytes` per rank, waited for at most timeout_ms (the request is abandoned then). */
static HcclResult mr_mpi_allgather_bounded(const void *mine, void *all, int bytes, MPI_Comm comm, long timeout_ms,
                                           const char *api)
{
    MPI_Request req;
    if (MPI_Iallgather(mine, bytes, MPI_BYTE, all, bytes, MPI_BYTE, comm, &req) != MPI_SUCCESS)
        return mr_hccl_fail(HCCL_E_INTERNAL, "%s: MPI_Iallgather failed", api);
    const double start = mr_now_ms(), deadline = start + (double)timeout_ms;
    for (int done = 0;;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) return HCCL_SUCCESS;
        const double now = mr_now_ms();
        if (now > deadline)
            return mr_hccl_fail(HCCL_E_TIMEOUT, "%s: not every rank made the matching call within %ld ms", api,
                               timeout_ms);
        if (now - start < MR_MPI_SPIN_MS) {
            sched_yield();
            continue;
        }
        const struct timespec pause = {0, 20000};
        nanosleep(&pause, NULL);
    }
}

static HcclResult mr_mpi_root_info(HcclRootInfo *info)
{
    int size = 1;
    if (!mr_mpi_running()) return HCCL_E_NOT_SUPPORT;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) return HCCL_E_NOT_SUPPORT;
    static unsigned counter;
    mr_mpi_token t;
    memset(&t, 0, sizeof t);
    memcpy(t.magic, MR_MPI_MAGIC, sizeof MR_MPI_MAGIC);
    t.version = 1;
    t.world_size = size;
    t.id = (uint64_t)(uint32_t)getpid() << 32 | (uint64_t)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    memset(info, 0, sizeof *info);
    memcpy(info->internal, &t, sizeof t);
    return HCCL_SUCCESS;
}

static int mr_mpi_owns(const HcclRootInfo *info) { return memcmp(info->internal, MR_MPI_MAGIC, sizeof MR_MPI_MAGIC) == 0; }

/* The exchange (below) sends the segments between two ranks as one message when they total less than `split`
 * bytes, else one message per segment, and a segment of `split` bytes or more in units of split / 1024 bytes
 * (MPI counts are int). 1 GiB, or MOEROUTE_MPI_SPLIT_BYTES (1024 .. 1 GiB; other values are ignored): for MPI
 * libraries with a lower limit on a message, and for the tests, which run these paths with small data. Every
 * process of a communicator takes the smallest value any of them has, so both ends of a message cut alike. */
#define MR_MPI_SPLIT_MAX ((size_t)1 << 30)

static size_t mr_mpi_split_bytes(void)
{
    const char *v = getenv("MOEROUTE_MPI_SPLIT_BYTES");
    if (v && *v) {
        char *end = NULL;
        const long long b = strtoll(v, &end, 10);
        if (end && *end == 0 && b >= 1024 && (unsigned long long)b <= MR_MPI_SPLIT_MAX) return (size_t)b;
    }
    return MR_MPI_SPLIT_MAX;
}

typedef struct mr_mpi_join_msg {
    uint64_t id, split;
    uint32_t n, rank;
} mr_mpi_join_msg;

static HcclResult mr_mpi_join(const HcclRootInfo *info, uint32_t n, uint32_t rank, long timeout_ms, void **out,
                              char *name, const char *api)
{
    if (!mr_mpi_running())
        return mr_hccl_fail(HCCL_E_PARA, "%s: rootInfo is for MPI ranks, but MPI is not initialised (MPI_Init)", api);
    mr_mpi_token t;
    memcpy(&t, info->internal, sizeof t);
    int size = 0, me = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    mr_mpi_join_msg mine = {t.id, mr_mpi_split_bytes(), n, rank}, *all = mr_malloc(sizeof *all * (size_t)size);
    if (!all) return mr_hccl_fail(HCCL_E_MEMORY, "%s: out of memory", api);
    HcclResult st = mr_mpi_allgather_bounded(&mine, all, (int)sizeof mine, MPI_COMM_WORLD, timeout_ms, api);
    /* the same verdict in every process */
    uint64_t seen = 0, split = MR_MPI_SPLIT_MAX;
    for (int p = 0; p < size && st == HCCL_SUCCESS; p++) {
        split = all[p].split < split ? all[p].split : split;
        if (all[p].id != t.id || all[p].n != (uint32_t)size || all[p].rank >= (uint32_t)size)
            st = mr_hccl_fail(HCCL_E_PARA,
                             "%s: process %d of %d joins with nRanks %u, rank %u and %s token; every process of "
                             "MPI_COMM_WORLD must join the same communicator with nRanks = %d and its own rank",
                             api, p, size, all[p].n, all[p].rank, all[p].id == t.id ? "the same" : "another", size);
        else if (size <= 64 && (seen >> all[p].rank & 1))
            st = mr_hccl_fail(HCCL_E_PARA, "%s: rank %u is taken by two processes", api, all[p].rank);
        else if (size <= 64)
            seen |= 1ull << all[p].rank;
    }
    mr_free(all);
    if (st != HCCL_SUCCESS) return st;
    mr_mpi_net *net = mr_calloc(1, sizeof *net);
    if (!net) return mr_hccl_fail(HCCL_E_MEMORY, "%s: out of memory", api);
    if (MPI_Comm_split(MPI_COMM_WORLD, 0, (int)rank, &net->comm) != MPI_SUCCESS) {
        mr_free(net);
        return mr_hccl_fail(HCCL_E_INTERNAL, "%s: MPI_Comm_split failed", api);
    }
    net->timeout_ms = timeout_ms;
    net->split = (size_t)split;
    snprintf(name, COMM_NAME_MAX_LENGTH, "moeroute_hccl_mpi_%llu", (unsigned long long)t.id);
    *out = net;
    (void)me;
    return HCCL_SUCCESS;
}

static void mr_mpi_leave(void *p)
{
    mr_mpi_net *net = p;
    if (mr_mpi_running()) MPI_Comm_free(&net->comm);
    for (unsigned i = 0; i < MR_NET_BUFFERS; i++) mr_free(net->cache[i]);
    mr_free(net);
}

/* What every rank posts in the agreement round. */
typedef struct mr_mpi_agree {
    mr_coll_sig sig;
    int32_t refused;
    uint32_t pad;
    char message[256];
} mr_mpi_agree;

static HcclResult mr_mpi_agree_round(mr_mpi_net *net, uint32_t rank, uint32_t n, const mr_coll *c)
{
    if (net->broken != HCCL_SUCCESS)
        return mr_hccl_fail(net->broken, "%s: the communicator is unusable after an earlier failure", c->api);
    mr_mpi_agree mine, *all = mr_malloc(sizeof *all * n);
    if (!all) return mr_hccl_fail(HCCL_E_MEMORY, "%s: out of memory", c->api);
    memset(&mine, 0, sizeof mine);
    mine.sig = c->sig;
    mine.refused = (int32_t)c->refused;
    memcpy(mine.message, c->message, sizeof mine.message - 1); /* both NUL-terminated; cut to fit */
    HcclResult st = mr_mpi_allgather_bounded(&mine, all, (int)sizeof mine, net->comm, net->timeout_ms, c->api);
    if (st != HCCL_SUCCESS) {
        net->broken = st;
    } else if (c->refused != HCCL_SUCCESS) {
        st = c->refused; /* its own message is recorded */
    } else {
        for (uint32_t r = 0; r < n && st == HCCL_SUCCESS; r++)
            if (all[r].refused != HCCL_SUCCESS)
                st = mr_hccl_fail(HCCL_E_REMOTE, "%s: rank %u refused its arguments: %s", c->api, r, all[r].message);
        for (uint32_t r = 1; r < n && st == HCCL_SUCCESS; r++)
            if (all[r].sig.kind != all[0].sig.kind)
                st = mr_hccl_fail(HCCL_E_PARA, "%s: the ranks made different calls (rank 0 and rank %u differ)", c->api, r);
            else if (memcmp(&all[r].sig, &all[0].sig, sizeof all[0].sig) != 0)
                st = mr_hccl_fail(HCCL_E_PARA,
                                 "%s: the ranks passed different attributes (rank %u differs from rank 0: count, data "
                                 "type, operation or root)",
                                 c->api, r);
    }
    (void)rank;
    mr_free(all);
    return st;
}

static int mr_fits_int(size_t v) { return v <= (size_t)INT_MAX; }

static HcclResult mr_mpi_coll(void *p, uint32_t rank, uint32_t n, const mr_coll *c)
{
    mr_mpi_net *net = p;
    HcclResult st = mr_mpi_agree_round(net, rank, n, c);
    if (st != HCCL_SUCCESS) return st;
    const size_t es = c->esize;
    switch (c->sig.kind) {
    case MR_HCCL_ALLREDUCE: {
        const size_t bytes = c->out_bytes;
        char *all = bytes ? mr_malloc(bytes * n) : NULL;
        int ok = !bytes || (all && mr_fits_int(bytes));
        int all_ok = 0;
        MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, net->comm);
        if (!all_ok) {
            mr_free(all);
            return mr_hccl_fail(HCCL_E_MEMORY, "%s: a rank cannot hold every rank's %zu bytes (or they exceed INT_MAX)",
                               c->api, bytes);
        }
        if (!bytes) return HCCL_SUCCESS;
        MPI_Allgather(c->d.send, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, net->comm);
        for (uint32_t r = 1; r < n; r++)
            mr_hccl_reduce_into(all, all + r * bytes, c->sig.count, (HcclDataType)c->sig.dtype,
                                (HcclReduceOp)c->sig.op);
        memcpy(c->out, all, bytes);
        mr_free(all);
        return HCCL_SUCCESS;
    }
    case MR_HCCL_BROADCAST: {
        const size_t bytes = (size_t)c->sig.count * es;
        for (size_t at = 0; at < bytes;) { /* in pieces of at most INT_MAX bytes */
            const size_t piece = bytes - at < (size_t)INT_MAX ? bytes - at : (size_t)INT_MAX;
            MPI_Bcast((char *)(uintptr_t)c->d.send + at, (int)piece, MPI_BYTE, (int)c->sig.root, net->comm);
            at += piece;
        }
        return HCCL_SUCCESS;
    }
    case MR_HCCL_ALLGATHER: {
        const size_t bytes = c->out_bytes / n;
        if (!bytes) return HCCL_SUCCESS;
        if (!mr_fits_int(bytes)) return mr_hccl_fail(HCCL_E_NOT_SUPPORT, "%s: more than INT_MAX bytes per rank", c->api);
        const int in_place = c->d.send == c->out + rank * bytes;
        MPI_Allgather(in_place ? MPI_IN_PLACE : c->d.send, (int)bytes, MPI_BYTE, c->out, (int)bytes, MPI_BYTE,
                      net->comm);
        return HCCL_SUCCESS;
    }
    case MR_HCCL_ALLTOALLV: {
        int *ints = mr_malloc(sizeof(int) * 4 * n);
        int ok = ints != NULL;
        /* every rank's recvCounts[j] must be rank j's sendCounts[me] (one verdict for all) */
        uint64_t *peer_send = mr_malloc(sizeof(uint64_t) * n);
        ok = ok && peer_send;
        if (peer_send) MPI_Alltoall(c->d.scounts, 1, MPI_UINT64_T, peer_send, 1, MPI_UINT64_T, net->comm);
        uint32_t bad = UINT32_MAX;
        for (uint32_t j = 0; ok && j < n; j++) {
            if (peer_send[j] != c->d.rcounts[j] && bad == UINT32_MAX) bad = j;
            const uint64_t v[4] = {c->d.scounts[j] * es, c->d.sdispls[j] * es, c->d.rcounts[j] * es,
                                   c->d.rdispls[j] * es};
            for (int k = 0; k < 4; k++) {
                if (v[k] > (uint64_t)INT_MAX) ok = 0;
                ints[4 * j + (uint32_t)k] = (int)v[k];
            }
        }
        int flags[2] = {ok, bad == UINT32_MAX}, all_flags[2] = {0, 0};
        MPI_Allreduce(flags, all_flags, 2, MPI_INT, MPI_MIN, net->comm);
        HcclResult res = HCCL_SUCCESS;
        if (!all_flags[0])
            res = mr_hccl_fail(HCCL_E_NOT_SUPPORT, "%s: a block or displacement above INT_MAX bytes, or out of memory",
                              c->api);
        else if (!all_flags[1])
            res = bad != UINT32_MAX
                      ? mr_hccl_fail(HCCL_E_PARA, "%s: rank %u expects %llu elements from rank %u, which sends it %llu",
                                    c->api, rank, (unsigned long long)c->d.rcounts[bad], bad,
                                    (unsigned long long)peer_send[bad])
                      : mr_hccl_fail(HCCL_E_PARA, "%s: the send and receive counts of two other ranks disagree", c->api);
        if (res == HCCL_SUCCESS) {
            int *sc = mr_malloc(sizeof(int) * 4 * n);
            if (sc) {
                for (uint32_t j = 0; j < n; j++)
                    sc[j] = ints[4 * j], sc[n + j] = ints[4 * j + 1], sc[2 * n + j] = ints[4 * j + 2],
                    sc[3 * n + j] = ints[4 * j + 3];
                MPI_Alltoallv(c->d.send, sc, sc + n, MPI_BYTE, c->d.recv, sc + 2 * n, sc + 3 * n, MPI_BYTE, net->comm);
                mr_free(sc);
            } else {
                res = mr_hccl_fail(HCCL_E_MEMORY, "%s: out of memory", c->api); /* after agreement: peers may hang */
                net->broken = res;
            }
        }
        mr_free(ints);
        mr_free(peer_send);
        return res;
    }
    default: return HCCL_SUCCESS; /* barrier: the agreement round is one */
    }
}

static HcclResult mr_mpi_allgather_op(void *p, const void *mine, void *all, size_t bytes, const char *api)
{
    mr_mpi_net *net = p;
    if (net->broken != HCCL_SUCCESS)
        return mr_hccl_fail(net->broken, "%s: the communicator is unusable after an earlier failure", api);
    if (!mr_fits_int(bytes)) return mr_hccl_fail(HCCL_E_NOT_SUPPORT, "%s: %zu bytes per rank exceed INT_MAX", api, bytes);
    HcclResult st = mr_mpi_allgather_bounded(mine, all, (int)bytes, net->comm, net->timeout_ms, api);
    if (st != HCCL_SUCCESS) net->broken = st;
    return st;
}

/* The exchange of matched segments (hccl_internal.h): every receive posted, then every send. The segments between
 * two ranks travel as one message when there are several and they total less than the split (1 GiB unless set
 * lower, mr_mpi_split_bytes): an hindexed datatype over their addresses at each end, so a combine's dozens of
 * per-expert blocks pay one handshake instead of one each (2 ranks, 49 blocks of 18 KiB: 130-138 instead of
 * 145-180 us; 512 of 14 KiB: 1.24 instead of 1.8-1.9 ms; docs/performance.md "One message per peer"). Otherwise
 * one message per segment (a segment of the split or more as two: whole units of split / 1024 bytes, then the
 * rest). Both ends decide alike, since the i-th segment one sends is the i-th the other receives, of the same
 * size; and messages between two ranks do not overtake each other, so the i-th send meets the i-th receive.
 *
 * Then a round of empty "done" messages (tag 1) with every rank the exchange talks to, sent once this rank's own
 * requests are complete. A large message moves by the receiver reading the sender's memory, and the sender's
 * request completes when the receiver's acknowledgement arrives; Open MPI may leave the last acknowledgements
 * queued when the receiver's own requests are complete, to go out at its next MPI call. Without this round a
 * rank left the exchange with them queued and went on to the combine's sum, and the peer waited for its sends
 * for the length of that sum (2 ranks, 2048 tokens: 50 instead of 27 ms; docs/performance.md "The exchange's
 * last acknowledgements"). Waiting for every peer's "done" keeps this rank in MPI, flushing them. */

/* Scratch: the displacements and lengths of one peer's segments, then the requests. */
static size_t mr_mpi_exchange_scratch(uint32_t n, size_t segments)
{
    return segments * (sizeof(MPI_Aint) + sizeof(int)) + (2 * segments + 2 * (size_t)n + 1) * sizeof(MPI_Request) +
           sizeof(MPI_Request);
}

/* One segment: one message, or one of whole units (`unit`: split / 1024 bytes) and one of the rest. */
static int mr_mpi_post(const mr_mpi_net *net, const mr_net_seg *seg, int peer, int recv, MPI_Datatype unit,
                       MPI_Request *req, int *nreq)
{
    const size_t ub = net->split / 1024, whole = seg->bytes >= net->split ? seg->bytes / ub : 0,
                 rest = seg->bytes - whole * ub;
    if (!mr_fits_int(whole)) return 1; /* only with a small split and a segment of 2 GiB or more: the exchange fails */
    int bad = 0;
    if (whole)
        bad |= (recv ? MPI_Irecv(seg->at, (int)whole, unit, peer, 0, net->comm, &req[(*nreq)++])
                     : MPI_Isend(seg->at, (int)whole, unit, peer, 0, net->comm, &req[(*nreq)++])) != MPI_SUCCESS;
    if (rest || !whole)
        bad |= (recv ? MPI_Irecv(seg->at + whole * ub, (int)rest, MPI_BYTE, peer, 0, net->comm, &req[(*nreq)++])
                     : MPI_Isend(seg->at + whole * ub, (int)rest, MPI_BYTE, peer, 0, net->comm, &req[(*nreq)++])) !=
               MPI_SUCCESS;
    return bad;
}

/* The `count` segments to (recv 0) or from (recv 1) one peer: one message of an hindexed datatype when there are
 * several below net->split in all (segments that follow one another in memory joined into one block), else one
 * message per segment. disp, len: count entries of scratch. */
static int mr_mpi_post_peer(const mr_mpi_net *net, const mr_net_seg *seg, size_t count, int peer, int recv,
                            MPI_Datatype unit, MPI_Request *req, int *nreq, MPI_Aint *disp, int *len)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++) total += seg[i].bytes;
    int bad = 0;
    if (count < 2 || total >= net->split || !mr_fits_int(count)) {
        for (size_t i = 0; i < count && !bad; i++) bad |= mr_mpi_post(net, &seg[i], peer, recv, unit, req, nreq);
        return bad;
    }
    size_t blocks = 0;
    for (size_t i = 0; i < count && !bad; i++) {
        if (blocks && seg[i].at == seg[i - 1].at + seg[i - 1].bytes) {
            len[blocks - 1] += (int)seg[i].bytes; /* total < split <= 1 GiB: no overflow */
            continue;
        }
        len[blocks] = (int)seg[i].bytes;
        bad |= MPI_Get_address(seg[i].at, &disp[blocks++]) != MPI_SUCCESS;
    }
    MPI_Datatype t;
    if (bad || MPI_Type_create_hindexed((int)blocks, len, disp, MPI_BYTE, &t) != MPI_SUCCESS) return 1;
    bad = MPI_Type_commit(&t) != MPI_SUCCESS ||
          (recv ? MPI_Irecv(MPI_BOTTOM, 1, t, peer, 0, net->comm, &req[(*nreq)++])
                : MPI_Isend(MPI_BOTTOM, 1, t, peer, 0, net->comm, &req[(*nreq)++])) != MPI_SUCCESS;
    MPI_Type_free(&t); /* a pending message keeps what it needs of the type */
    return bad;
}

static HcclResult mr_mpi_exchange_op(void *p, const mr_net_seg *send, const size_t *sfirst, const mr_net_seg *recv,
                                     const size_t *rfirst, void *scratch, const char *api)
{
    mr_mpi_net *net = p;
    if (net->broken != HCCL_SUCCESS)
        return mr_hccl_fail(net->broken, "%s: the communicator is unusable after an earlier failure", api);
    int n = 0, me = 0, nreq = 0, bad = 0;
    MPI_Comm_size(net->comm, &n);
    MPI_Comm_rank(net->comm, &me);
    size_t most = 0; /* the most segments between this rank and one peer */
    for (int j = 0; j < n; j++) {
        most = rfirst[j + 1] - rfirst[j] > most ? rfirst[j + 1] - rfirst[j] : most;
        most = sfirst[j + 1] - sfirst[j] > most ? sfirst[j + 1] - sfirst[j] : most;
    }
    MPI_Aint *disp = scratch;
    int *len = (int *)(void *)(disp + most);
    const size_t lists = most * (sizeof *disp + sizeof *len), rs = sizeof(MPI_Request);
    MPI_Request *req = (MPI_Request *)(void *)((char *)scratch + (lists + rs - 1) / rs * rs);
    MPI_Datatype unit;
    bad |= MPI_Type_contiguous((int)(net->split / 1024), MPI_BYTE, &unit) != MPI_SUCCESS ||
           MPI_Type_commit(&unit) != MPI_SUCCESS;
    for (int j = 0; j < n && !bad; j++)
        bad |= mr_mpi_post_peer(net, &recv[rfirst[j]], rfirst[j + 1] - rfirst[j], j, 1, unit, req, &nreq, disp, len);
    for (int j = 0; j < n && !bad; j++)
        bad |= mr_mpi_post_peer(net, &send[sfirst[j]], sfirst[j + 1] - sfirst[j], j, 0, unit, req, &nreq, disp, len);
    if (!bad) bad = MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE) != MPI_SUCCESS;
    nreq = 0;
    for (int j = 0; j < n && !bad; j++) /* the "done" round, with every rank that sent or received a segment */
        if (j != me && (rfirst[j + 1] > rfirst[j] || sfirst[j + 1] > sfirst[j]))
            bad |= MPI_Irecv(NULL, 0, MPI_BYTE, j, 1, net->comm, &req[nreq++]) != MPI_SUCCESS ||
                   MPI_Isend(NULL, 0, MPI_BYTE, j, 1, net->comm, &req[nreq++]) != MPI_SUCCESS;
    if (!bad) bad = MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE) != MPI_SUCCESS;
    if (!bad) MPI_Type_free(&unit);
    if (!bad) return HCCL_SUCCESS;
    /* an MPI failure after the agreement: the communicator breaks (requests left pending are abandoned) */
    net->broken = HCCL_E_INTERNAL;
    return mr_hccl_fail(HCCL_E_INTERNAL, "%s: an MPI send or receive of the exchange failed", api);
}

static void *mr_mpi_buffer(void *p, unsigned slot, size_t bytes)
{
    mr_mpi_net *net = p;
    if (slot >= MR_NET_BUFFERS) return NULL;
    if (net->cache_cap[slot] < bytes || !net->cache[slot]) {
        mr_free(net->cache[slot]);
        net->cache[slot] = mr_malloc(bytes ? bytes : 1);
        net->cache_cap[slot] = net->cache[slot] ? bytes : 0;
    }
    return net->cache[slot];
}

static const mr_hccl_net_ops mr_mpi_ops = {"MPI",       mr_mpi_root_info, mr_mpi_owns,         mr_mpi_join,
                                           mr_mpi_leave, mr_mpi_coll,      mr_mpi_allgather_op, mr_mpi_exchange_op,
                                           mr_mpi_exchange_scratch, mr_mpi_buffer};

__attribute__((constructor)) static void mr_hccl_mpi_register(void) { mr_hccl_net = &mr_mpi_ops; }

HcclResult mr_mpi_world_allgather(const void *mine, void *all, size_t bytes, long timeout_ms, const char *api)
{
    if (!mr_fits_int(bytes))
        return mr_hccl_fail(HCCL_E_NOT_SUPPORT, "%s: %zu bytes per process exceed INT_MAX", api, bytes);
    return mr_mpi_allgather_bounded(mine, all, (int)bytes, MPI_COMM_WORLD, timeout_ms, api);
}
