/* HCCL collectives over the in-process rendezvous (docs/hccl.md; layer spec 12.3, decision 17). Each rank
 * reads its peers' send buffers and writes only its own receive buffer, so a collective moves every byte once;
 * a receive buffer that overlaps memory some rank reads (in-place AllReduce, AllGather into the send buffer)
 * is computed into a scratch copy and written after the round. Reductions run in ascending rank order, each
 * partial result rounded to the element type. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu_backend.h"
#include "common/alloc.h"
#include "common/error.h"
#include "common/fp16.h"
#include "common/fpenv.h"
#include "hccl/hccl_internal.h"
#include "runtime/acl_internal.h"


static void mr_coll_refuse(mr_coll *c, HcclResult code, const char *fmt, ...) MR_PRINTF(3, 4);
static void mr_coll_refuse(mr_coll *c, HcclResult code, const char *fmt, ...)
{
    if (c->refused != HCCL_SUCCESS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    c->refused = code;
    mr_error_push("%s: %s (%s)", c->api, c->message, HcclGetErrorString(code));
}

size_t mr_hccl_dtype_size(HcclDataType t)
{
    switch (t) {
    case HCCL_DATA_TYPE_INT8: case HCCL_DATA_TYPE_UINT8: return 1;
    case HCCL_DATA_TYPE_INT16: case HCCL_DATA_TYPE_UINT16: case HCCL_DATA_TYPE_FP16: case HCCL_DATA_TYPE_BFP16:
        return 2;
    case HCCL_DATA_TYPE_INT32: case HCCL_DATA_TYPE_UINT32: case HCCL_DATA_TYPE_FP32: return 4;
    case HCCL_DATA_TYPE_INT64: case HCCL_DATA_TYPE_UINT64: case HCCL_DATA_TYPE_FP64: return 8;
    default: return 0; /* INT128 and unknown values: not supported */
    }
}

/* Common argument checks; sets c->esize. */
static void mr_coll_check(mr_coll *c, HcclDataType dt, aclrtStream stream)
{
    c->esize = mr_hccl_dtype_size(dt);
    if (!c->esize) mr_coll_refuse(c, HCCL_E_NOT_SUPPORT, "data type %d is not supported", (int)dt);
    if (!mr_stream_is_valid(stream)) mr_coll_refuse(c, HCCL_E_PARA, "stream %p is not a live stream", stream);
}

static int mr_bytes(mr_coll *c, uint64_t count, size_t *bytes)
{
    if (count > SIZE_MAX || mr_mul_size((size_t)count, c->esize, bytes)) {
        mr_coll_refuse(c, HCCL_E_PARA, "%llu elements do not fit in memory", (unsigned long long)count);
        return 1;
    }
    return 0;
}

typedef void (*mr_coll_fn)(const mr_coll *c, const mr_coll_desc *const *peer, uint32_t n, uint32_t rank, char *dst);
/* Cross-rank agreement beyond the signature, the same verdict on every rank (NULL: none). */
typedef HcclResult (*mr_coll_agree_fn)(const mr_coll *c, const mr_coll_desc *const *peer, uint32_t n);

/* One collective on this rank: post, rendezvous, compute into the output (or a scratch copy), end. */
static HcclResult mr_coll_run(HcclComm comm, mr_coll *c, const char *read_lo, const char *read_hi, mr_coll_fn fn,
                              mr_coll_agree_fn agree)
{
    mr_hccl_group *g;
    uint32_t rank;
    HcclResult st = mr_hccl_comm_group(comm, c->api, &g, &rank);
    if (st != HCCL_SUCCESS) return st;
    const uint32_t n = mr_hccl_group_size(g);
    void *net = mr_hccl_group_net(g);
    if (net) return mr_hccl_net->coll(net, rank, n, c); /* ranks in other processes (hccl_internal.h) */
    mr_hccl_post mine = {c->sig.kind, &c->sig, sizeof c->sig, &c->d, read_lo, read_hi, c->refused, c->message};
    const mr_hccl_post *const *all;
    st = mr_hccl_round_begin(g, rank, &mine, c->api, &all);
    if (st != HCCL_SUCCESS) return st;
    const mr_coll_desc *peer[256];
    const mr_coll_desc **peers = n <= 256 ? peer : mr_malloc(n * sizeof *peers);
    char *scratch = NULL;
    if (peers && c->out_bytes && mr_hccl_overlaps_reads(all, n, c->out, c->out + c->out_bytes))
        scratch = mr_malloc(c->out_bytes);
    if (!peers || (c->out_bytes && mr_hccl_overlaps_reads(all, n, c->out, c->out + c->out_bytes) && !scratch)) {
        mr_error_push("%s: out of memory", c->api);
        st = HCCL_E_MEMORY;
    } else {
        for (uint32_t r = 0; r < n; r++) peers[r] = all[r]->desc;
        if (agree) st = agree(c, peers, n);
        if (fn && st == HCCL_SUCCESS) fn(c, peers, n, rank, scratch ? scratch : c->out);
        atomic_thread_fence(memory_order_seq_cst); /* orders mr_coll_copy's streaming stores */
    }
    HcclResult end = mr_hccl_round_end(g, rank, c->api);
    if (st == HCCL_SUCCESS) st = end;
    if (scratch && st == HCCL_SUCCESS) memcpy(c->out, scratch, c->out_bytes);
    mr_free(scratch);
    if (peers != peer) mr_free(peers);
    return st;
}

/* ---- AllReduce ----------------------------------------------------------------------------------------- */

#define MR_RED_INT(T, U)                                                                                       \
    for (uint64_t i = 0; i < count; i++) {                                                                     \
        T a, b;                                                                                                \
        memcpy(&a, dst + i * sizeof a, sizeof a);                                                              \
        memcpy(&b, src + i * sizeof b, sizeof b);                                                              \
        switch (op) {                                                                                          \
        case HCCL_REDUCE_SUM: a = (T)(U)((U)a + (U)b); break;                                                  \
        case HCCL_REDUCE_PROD: a = (T)(U)((U)a * (U)b); break;                                                 \
        case HCCL_REDUCE_MAX: a = b > a ? b : a; break;                                                        \
        default: a = b < a ? b : a; break;                                                                     \
        }                                                                                                      \
        memcpy(dst + i * sizeof a, &a, sizeof a);                                                              \
    }

static float mr_red_f(float a, float b, HcclReduceOp op)
{
    switch (op) {
    case HCCL_REDUCE_SUM: return a + b;
    case HCCL_REDUCE_PROD: return a * b;
    case HCCL_REDUCE_MAX: return b > a ? b : a;
    default: return b < a ? b : a;
    }
}

/* dst[i] = dst[i] op src[i], rounded to the element type. fp16/bf16 go through fp32, which rounds the exact
 * result correctly: a sum of two such values is exact in fp32 or so far from a rounding midpoint that the fp32
 * rounding cannot move it across one, and their products are exact in fp32. */
void mr_hccl_reduce_into(char *dst, const char *src, uint64_t count, HcclDataType dt, HcclReduceOp op)
{
    const mr_fpenv fe = mr_fpenv_enter(); /* the float steps in the default environment (common/fpenv.h) */
    switch (dt) {
    case HCCL_DATA_TYPE_INT8: MR_RED_INT(int8_t, uint8_t) break;
    case HCCL_DATA_TYPE_INT16: MR_RED_INT(int16_t, uint16_t) break;
    case HCCL_DATA_TYPE_INT32: MR_RED_INT(int32_t, uint32_t) break;
    case HCCL_DATA_TYPE_INT64: MR_RED_INT(int64_t, uint64_t) break;
    case HCCL_DATA_TYPE_FP32:
        for (uint64_t i = 0; i < count; i++) {
            float a, b;
            memcpy(&a, dst + 4 * i, 4);
            memcpy(&b, src + 4 * i, 4);
            a = mr_red_f(a, b, op);
            memcpy(dst + 4 * i, &a, 4);
        }
        break;
    case HCCL_DATA_TYPE_FP64:
        for (uint64_t i = 0; i < count; i++) {
            double a, b;
            memcpy(&a, dst + 8 * i, 8);
            memcpy(&b, src + 8 * i, 8);
            switch (op) {
            case HCCL_REDUCE_SUM: a = a + b; break;
            case HCCL_REDUCE_PROD: a = a * b; break;
            case HCCL_REDUCE_MAX: a = b > a ? b : a; break;
            default: a = b < a ? b : a; break;
            }
            memcpy(dst + 8 * i, &a, 8);
        }
        break;
    case HCCL_DATA_TYPE_FP16:
    case HCCL_DATA_TYPE_BFP16:
        for (uint64_t i = 0; i < count; i++) {
            uint16_t a, b;
            memcpy(&a, dst + 2 * i, 2);
            memcpy(&b, src + 2 * i, 2);
            if (dt == HCCL_DATA_TYPE_FP16) a = mr_f32_to_f16(mr_red_f(mr_f16_to_f32(a), mr_f16_to_f32(b), op));
            else a = mr_f32_to_bf16(mr_red_f(mr_bf16_to_f32(a), mr_bf16_to_f32(b), op));
            memcpy(dst + 2 * i, &a, 2);
        }
        break;
    default: break;
    }
    mr_fpenv_leave(fe);
}

static void mr_allreduce_fn(const mr_coll *c, const mr_coll_desc *const *peer, uint32_t n, uint32_t rank, char *dst)
{
    (void)rank;
    memcpy(dst, peer[0]->send, c->out_bytes);
    for (uint32_t r = 1; r < n; r++)
        mr_hccl_reduce_into(dst, peer[r]->send, c->sig.count, (HcclDataType)c->sig.dtype, (HcclReduceOp)c->sig.op);
}

HcclResult HcclAllReduce(void *sendBuf, void *recvBuf, uint64_t count, HcclDataType dataType, HcclReduceOp op,
                         HcclComm comm, aclrtStream stream)
{
    mr_coll c;
    memset(&c, 0, sizeof c);
    c.api = "HcclAllReduce";
    c.sig.kind = MR_HCCL_ALLREDUCE, c.sig.dtype = (uint32_t)dataType, c.sig.op = (uint32_t)op, c.sig.count = count;
    mr_coll_check(&c, dataType, stream);
    switch (dataType) {
    case HCCL_DATA_TYPE_INT8: case HCCL_DATA_TYPE_INT16: case HCCL_DATA_TYPE_INT32: case HCCL_DATA_TYPE_INT64:
    case HCCL_DATA_TYPE_FP16: case HCCL_DATA_TYPE_FP32: case HCCL_DATA_TYPE_BFP16: case HCCL_DATA_TYPE_FP64: break;
    default: mr_coll_refuse(&c, HCCL_E_NOT_SUPPORT, "AllReduce does not support data type %d", (int)dataType);
    }
    if ((unsigned)op > HCCL_REDUCE_MIN) mr_coll_refuse(&c, HCCL_E_PARA, "unknown reduce op %d", (int)op);
    size_t bytes = 0;
    if (c.refused == HCCL_SUCCESS && !mr_bytes(&c, count, &bytes) && bytes && (!sendBuf || !recvBuf))
        mr_coll_refuse(&c, HCCL_E_PTR, "sendBuf or recvBuf is NULL");
    if (c.refused != HCCL_SUCCESS) bytes = 0;
    c.d.send = sendBuf, c.d.recv = recvBuf, c.out = recvBuf, c.out_bytes = bytes;
    return mr_coll_run(comm, &c, c.d.send, c.d.send + bytes, mr_allreduce_fn, NULL);
}

/* ---- Broadcast, AllGather ------------------------------------------------------------------------------- */

/* How the copying collectives write this rank's output: with streaming stores when it is large (the backend's
 * rule for outputs, docs/framework.md "Backend"; 2 ranks exchanging 940 MB there and back took 42 instead of
 * 74 ms), the same bytes either way; mr_coll_run fences after the copies. */
static mr_copy_fn mr_coll_copy(const mr_coll *c)
{
    return mr_backend_output_copy(mr_dispatch_copy(mr_dispatch_resolve_isa(MOEROUTE_ISA_AUTO)), c->out_bytes);
}

static void mr_broadcast_fn(const mr_coll *c, const mr_coll_desc *const *peer, uint32_t n, uint32_t rank, char *dst)
{
    (void)n;
    if (rank != c->sig.root && c->out_bytes) mr_coll_copy(c)(dst, peer[c->sig.root]->send, c->out_bytes);
}

HcclResult HcclBroadcast(void *buf, uint64_t count, HcclDataType dataType, uint32_t root, HcclComm comm,
                         aclrtStream stream)
{
    mr_coll c;
    memset(&c, 0, sizeof c);
    c.api = "HcclBroadcast";
    c.sig.kind = MR_HCCL_BROADCAST, c.sig.dtype = (uint32_t)dataType, c.sig.root = root, c.sig.count = count;
    mr_coll_check(&c, dataType, stream);
    mr_hccl_group *g;
    uint32_t rank;
    HcclResult st = mr_hccl_comm_group(comm, c.api, &g, &rank);
    if (st != HCCL_SUCCESS) return st;
    if (root >= mr_hccl_group_size(g))
        mr_coll_refuse(&c, HCCL_E_PARA, "root %u is not a rank (rank size %u)", root, mr_hccl_group_size(g));
    size_t bytes = 0;
    if (c.refused == HCCL_SUCCESS && !mr_bytes(&c, count, &bytes) && bytes && !buf)
        mr_coll_refuse(&c, HCCL_E_PTR, "buf is NULL");
    if (c.refused != HCCL_SUCCESS) bytes = 0;
    const int is_root = rank == root;
    c.d.send = buf, c.out = buf, c.out_bytes = is_root ? 0 : bytes;
    return mr_coll_run(comm, &c, is_root ? c.d.send : NULL, is_root ? c.d.send + bytes : NULL, mr_broadcast_fn, NULL);
}

static void mr_allgather_fn(const mr_coll *c, const mr_coll_desc *const *peer, uint32_t n, uint32_t rank, char *dst)
{
    (void)rank;
    const size_t bytes = c->out_bytes / n;
    const mr_copy_fn copy = mr_coll_copy(c);
    for (uint32_t r = 0; r < n && bytes; r++) copy(dst + r * bytes, peer[r]->send, bytes);
}

HcclResult HcclAllGather(void *sendBuf, void *recvBuf, uint64_t sendCount, HcclDataType dataType, HcclComm comm,
                         aclrtStream stream)
{
    mr_coll c;
    memset(&c, 0, sizeof c);
    c.api = "HcclAllGather";
    c.sig.kind = MR_HCCL_ALLGATHER, c.sig.dtype = (uint32_t)dataType, c.sig.count = sendCount;
    mr_coll_check(&c, dataType, stream);
    mr_hccl_group *g;
    uint32_t rank;
    HcclResult st = mr_hccl_comm_group(comm, c.api, &g, &rank);
    if (st != HCCL_SUCCESS) return st;
    size_t bytes = 0, total = 0;
    if (c.refused == HCCL_SUCCESS && !mr_bytes(&c, sendCount, &bytes) &&
        mr_mul_size(bytes, mr_hccl_group_size(g), &total))
        mr_coll_refuse(&c, HCCL_E_PARA, "sendCount x rank size does not fit in memory");
    if (c.refused == HCCL_SUCCESS && bytes && (!sendBuf || !recvBuf))
        mr_coll_refuse(&c, HCCL_E_PTR, "sendBuf or recvBuf is NULL");
    if (c.refused != HCCL_SUCCESS) bytes = total = 0;
    c.d.send = sendBuf, c.out = recvBuf, c.out_bytes = total;
    return mr_coll_run(comm, &c, c.d.send, c.d.send + bytes, mr_allgather_fn, NULL);
}

/* ---- AlltoAllV ------------------------------------------------------------------------------------------ */

static void mr_alltoallv_fn(const mr_coll *c, const mr_coll_desc *const *peer, uint32_t n, uint32_t rank, char *dst)
{
    const mr_coll_desc *me = peer[rank];
    const size_t es = c->esize;
    const mr_copy_fn copy = mr_coll_copy(c);
    for (uint32_t j = 0; j < n; j++) {
        const size_t bytes = (size_t)peer[j]->scounts[rank] * es;
        if (bytes)
            copy(dst + (size_t)(me->rdispls[j] * es) - (size_t)(c->out - me->recv),
                   peer[j]->send + (size_t)peer[j]->sdispls[rank] * es, bytes);
    }
}

/* Every rank's recvCounts[j] must equal rank j's sendCounts[me] (checked on every rank: one verdict). */
static HcclResult mr_alltoallv_agree(const mr_coll *c, const mr_coll_desc *const *peer, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++)
            if (peer[i]->rcounts[j] != peer[j]->scounts[i]) {
                mr_error_push("%s: rank %u expects %llu elements from rank %u, which sends it %llu (HCCL_E_PARA)",
                              c->api, i, (unsigned long long)peer[i]->rcounts[j], j,
                              (unsigned long long)peer[j]->scounts[i]);
                return HCCL_E_PARA;
            }
    return HCCL_SUCCESS;
}

/* The span [lo, hi) in elements of the blocks (displ[i], count[i]); 1 if an end overflows. */
static int mr_blocks_span(const uint64_t *count, const uint64_t *displ, uint32_t n, size_t es, size_t *lo,
                          size_t *hi)
{
    uint64_t l = UINT64_MAX, h = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!count[i]) continue;
        uint64_t end;
        if (__builtin_add_overflow(displ[i], count[i], &end)) return 1;
        if (displ[i] < l) l = displ[i];
        if (end > h) h = end;
    }
    if (h == 0) l = 0;
    if (h > SIZE_MAX / es) return 1;
    *lo = (size_t)l * es, *hi = (size_t)h * es;
    return 0;
}

HcclResult HcclAlltoAllV(const void *sendBuf, const void *sendCounts, const void *sdispls, HcclDataType sendType,
                         const void *recvBuf, const void *recvCounts, const void *rdispls, HcclDataType recvType,
                         HcclComm comm, aclrtStream stream)
{
    mr_coll c;
    memset(&c, 0, sizeof c);
    c.api = "HcclAlltoAllV";
    c.sig.kind = MR_HCCL_ALLTOALLV, c.sig.dtype = (uint32_t)sendType;
    mr_coll_check(&c, sendType, stream);
    if (recvType != sendType)
        mr_coll_refuse(&c, HCCL_E_NOT_SUPPORT, "recvType %d differs from sendType %d", (int)recvType, (int)sendType);
    mr_hccl_group *g;
    uint32_t rank;
    HcclResult st = mr_hccl_comm_group(comm, c.api, &g, &rank);
    if (st != HCCL_SUCCESS) return st;
    const uint32_t n = mr_hccl_group_size(g);
    if (!sendCounts || !sdispls || !recvCounts || !rdispls)
        mr_coll_refuse(&c, HCCL_E_PTR, "a count or displacement array is NULL");
    size_t slo = 0, shi = 0, rlo = 0, rhi = 0;
    if (c.refused == HCCL_SUCCESS && (mr_blocks_span(sendCounts, sdispls, n, c.esize, &slo, &shi) ||
                                      mr_blocks_span(recvCounts, rdispls, n, c.esize, &rlo, &rhi)))
        mr_coll_refuse(&c, HCCL_E_PARA, "a block end (displacement + count) does not fit in memory");
    if (c.refused == HCCL_SUCCESS && ((shi && !sendBuf) || (rhi && !recvBuf)))
        mr_coll_refuse(&c, HCCL_E_PTR, "sendBuf or recvBuf is NULL");
    if (c.refused != HCCL_SUCCESS) slo = shi = rlo = rhi = 0;
    c.d.send = sendBuf, c.d.recv = (char *)(uintptr_t)recvBuf;
    c.d.scounts = sendCounts, c.d.sdispls = sdispls, c.d.rcounts = recvCounts, c.d.rdispls = rdispls;
    c.out = c.d.recv ? c.d.recv + rlo : NULL, c.out_bytes = rhi - rlo;
    return mr_coll_run(comm, &c, c.d.send ? c.d.send + slo : NULL, c.d.send ? c.d.send + shi : NULL,
                       mr_alltoallv_fn, mr_alltoallv_agree);
}

HcclResult HcclBarrier(HcclComm comm, aclrtStream stream)
{
    mr_coll c;
    memset(&c, 0, sizeof c);
    c.api = "HcclBarrier";
    c.sig.kind = MR_HCCL_BARRIER;
    if (!mr_stream_is_valid(stream)) mr_coll_refuse(&c, HCCL_E_PARA, "stream %p is not a live stream", stream);
    return mr_coll_run(comm, &c, NULL, NULL, NULL, NULL);
}
