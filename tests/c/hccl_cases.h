/* The collectives of the HCCL subset checked on one rank against hand-computed results (docs/hccl.md): shared
 * by tests/c/test_hccl.c (ranks as threads) and tests/mpi/test_mpi_hccl.c (ranks as MPI processes), so both
 * transports are held to the same bytes. Every rank of a communicator of n ranks calls it with its rank. */
#ifndef MR_TEST_HCCL_CASES_H
#define MR_TEST_HCCL_CASES_H

#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "common/fp16.h"
#include "harness.h"
#include "hccl/hccl.h"
#include "thread_check.h"

#define MAXR 8

/* p[e] = (start + e) % 251 for e < len: one period by hand, the rest copied from the bytes 251 before. */
static void hccl_pattern_fill(unsigned char *p, size_t len, unsigned start)
{
    for (size_t e = 0; e < len && e < 251; e++) p[e] = (unsigned char)((start + e) % 251u);
    for (size_t done = 251; done < len; done *= 2) memcpy(p + done, p, len - done < done ? len - done : done);
}

/* Whether p holds hccl_pattern_fill's bytes: the first period, then every byte equal to the one 251 before. */
static int hccl_pattern_check(const unsigned char *p, size_t len, unsigned start)
{
    for (size_t e = 0; e < len && e < 251; e++)
        if (p[e] != (start + e) % 251u) return 0;
    return len <= 251 || memcmp(p + 251, p, len - 251) == 0;
}

/* name_out (COMM_NAME_MAX_LENGTH bytes) receives the communicator's name. n <= MAXR. */
static void hccl_check_collectives(HcclComm comm, int r, int n, char *name_out)
{
    aclrtStream stream = NULL;
    TCHECK(aclrtSetDevice(r % 16) == ACL_SUCCESS && aclrtCreateStream(&stream) == ACL_SUCCESS, "rank %d device", r);
    uint32_t size = 0, id = 99;
    char name[COMM_NAME_MAX_LENGTH];
    TCHECK(HcclGetRankSize(comm, &size) == HCCL_SUCCESS && size == (uint32_t)n, "rank size %u", size);
    TCHECK(HcclGetRankId(comm, &id) == HCCL_SUCCESS && id == (uint32_t)r, "rank id %u", id);
    TCHECK(HcclGetCommName(comm, name) == HCCL_SUCCESS && strlen(name) > 0, "name");
    memcpy(name_out, name, COMM_NAME_MAX_LENGTH);

    /* int32 sum, max, min, prod: element i of rank q is (q + 1) * (i + 1) * (odd i ? -1 : 1) */
    int32_t si[4], ri[4];
    for (int i = 0; i < 4; i++) si[i] = (r + 1) * (i + 1) * (i % 2 ? -1 : 1);
    const int32_t tri = n * (n + 1) / 2;
    int32_t fact = 1;
    for (int q = 1; q <= n; q++) fact *= q;
    TCHECK(HcclAllReduce(si, ri, 4, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, stream) == HCCL_SUCCESS, "sum");
    TCHECK(ri[0] == tri && ri[1] == -2 * tri && ri[2] == 3 * tri && ri[3] == -4 * tri, "int32 sum %d %d", ri[0], ri[1]);
    TCHECK(HcclAllReduce(si, ri, 4, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_MAX, comm, stream) == HCCL_SUCCESS &&
              ri[0] == n && ri[1] == -2 && ri[2] == 3 * n && ri[3] == -4,
          "int32 max");
    TCHECK(HcclAllReduce(si, ri, 4, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_MIN, comm, stream) == HCCL_SUCCESS &&
              ri[0] == 1 && ri[1] == -2 * n && ri[2] == 3 && ri[3] == -4 * n,
          "int32 min");
    TCHECK(HcclAllReduce(si, ri, 1, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_PROD, comm, stream) == HCCL_SUCCESS &&
              ri[0] == fact,
          "int32 prod %d", ri[0]);

    /* fp32 in ascending rank order: 1e8, +1, -1e8, then zeros: (1e8 + 1) rounds to 1e8, so the sum is 0 (any
     * other order that adds -1e8 before the 1 gives 1). Two ranks: 1e8 + 1 = 1e8. */
    float sf = r == 0 ? 1e8f : r == 1 ? 1.0f : r == 2 ? -1e8f : 0.0f, rf = -1;
    TCHECK(HcclAllReduce(&sf, &rf, 1, HCCL_DATA_TYPE_FP32, HCCL_REDUCE_SUM, comm, stream) == HCCL_SUCCESS &&
              rf == (n == 2 ? 1e8f : 0.0f),
          "fp32 sum in rank order: %g", rf);
    /* fp16, each partial rounded: 2048 + 1 = 2049 -> 2048 (ties to even), + 1 -> 2048 again; exact 2050 is an
     * fp16 value. More ranks add 0. */
    uint16_t sh = mr_f32_to_f16(r == 0 ? 2048.0f : r <= 2 ? 1.0f : 0.0f), rh = 0;
    TCHECK(HcclAllReduce(&sh, &rh, 1, HCCL_DATA_TYPE_FP16, HCCL_REDUCE_SUM, comm, stream) == HCCL_SUCCESS &&
              mr_f16_to_f32(rh) == 2048.0f,
          "fp16 partial sums rounded: %g", mr_f16_to_f32(rh));
    /* bf16: 256 + 1 -> 256 (8-bit significand), likewise */
    uint16_t sb = mr_f32_to_bf16(r == 0 ? 256.0f : r <= 2 ? 1.0f : 0.0f), rb = 0;
    TCHECK(HcclAllReduce(&sb, &rb, 1, HCCL_DATA_TYPE_BFP16, HCCL_REDUCE_SUM, comm, stream) == HCCL_SUCCESS &&
              mr_bf16_to_f32(rb) == 256.0f,
          "bf16 partial sums rounded: %g", mr_bf16_to_f32(rb));
    /* int8 wraps: 100 per rank */
    int8_t s8 = 100, r8 = 0;
    TCHECK(HcclAllReduce(&s8, &r8, 1, HCCL_DATA_TYPE_INT8, HCCL_REDUCE_SUM, comm, stream) == HCCL_SUCCESS &&
              r8 == (int8_t)(uint8_t)(100 * n),
          "int8 sum wraps: %d", r8);
    /* in place */
    int32_t inplace[3] = {r, 2 * r, 3 * r};
    const int32_t tri0 = n * (n - 1) / 2;
    TCHECK(HcclAllReduce(inplace, inplace, 3, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, stream) == HCCL_SUCCESS &&
              inplace[0] == tri0 && inplace[1] == 2 * tri0 && inplace[2] == 3 * tri0,
          "in-place allreduce");

    /* AllGather: rank-major */
    int16_t g2[2] = {(int16_t)(10 * r), (int16_t)(10 * r + 1)}, gall[2 * MAXR];
    TCHECK(HcclAllGather(g2, gall, 2, HCCL_DATA_TYPE_INT16, comm, stream) == HCCL_SUCCESS, "allgather");
    int ok = 1;
    for (int q = 0; q < n; q++) ok &= gall[2 * q] == 10 * q && gall[2 * q + 1] == 10 * q + 1;
    TCHECK(ok, "allgather rank-major");
    /* in place: each rank's block already sits at its offset */
    int64_t gin[MAXR];
    for (int q = 0; q < n; q++) gin[q] = q == r ? 1000 + r : -1;
    TCHECK(HcclAllGather(&gin[r], gin, 1, HCCL_DATA_TYPE_INT64, comm, stream) == HCCL_SUCCESS, "in-place allgather");
    ok = 1;
    for (int q = 0; q < n; q++) ok &= gin[q] == 1000 + q;
    TCHECK(ok, "in-place allgather result");

    /* Broadcast from the last rank */
    double bc[2] = {r == n - 1 ? 3.25 : 0, r == n - 1 ? -7.5 : 0};
    TCHECK(HcclBroadcast(bc, 2, HCCL_DATA_TYPE_FP64, (uint32_t)(n - 1), comm, stream) == HCCL_SUCCESS &&
              bc[0] == 3.25 && bc[1] == -7.5,
          "broadcast");

    /* AlltoAllV: rank i sends j + 1 elements to rank j, values 100 * i + j; rank j receives from i at
     * displacement sum_{q < i} (j + 1), in reverse displacement order to exercise rdispls. */
    uint64_t sc[MAXR], sd[MAXR], rc[MAXR], rd[MAXR], at = 0;
    int32_t sbuf[64], rbuf[80];
    for (int j = 0; j < n; j++) {
        sc[j] = (uint64_t)(j + 1), sd[j] = at;
        for (int e = 0; e <= j; e++) sbuf[at + (uint64_t)e] = 100 * r + j;
        at += (uint64_t)(j + 1);
    }
    for (int i = 0; i < n; i++) rc[i] = (uint64_t)(r + 1), rd[i] = (uint64_t)((n - 1 - i) * (r + 1));
    for (int i = 0; i < 80; i++) rbuf[i] = -9;
    TCHECK(HcclAlltoAllV(sbuf, sc, sd, HCCL_DATA_TYPE_INT32, rbuf, rc, rd, HCCL_DATA_TYPE_INT32, comm, stream) ==
              HCCL_SUCCESS,
          "alltoallv");
    ok = 1;
    for (int i = 0; i < n; i++)
        for (int e = 0; e <= r; e++) ok &= rbuf[(n - 1 - i) * (r + 1) + e] == 100 * i + r;
    ok &= rbuf[n * (r + 1)] == -9;
    TCHECK(ok, "alltoallv blocks at their displacements (rank %d)", r);

    /* Large outputs (about 9 MiB per rank, written with streaming stores in process): AllGather and AlltoAllV of
     * int8 blocks of odd sizes at odd displacements, byte (31 i + 7 j + e) % 251 from rank i to rank j. Filled
     * and checked a period (251 bytes) at a time with memcpy / memcmp, so the ranks reach each collective within
     * the tests' shortened timeout under TSan too. */
    const size_t blk = ((size_t)9 << 20) / (size_t)n + 13; /* AlltoAllV: rank i sends each rank blk + i bytes */
    unsigned char *big_s = malloc(n * (blk + MAXR)), *big_r = malloc(n * (blk + MAXR) + 1);
    TCHECK(big_s && big_r, "out of memory");
    if (big_s && big_r) {
        memset(big_r, 0xFF, n * (blk + MAXR) + 1); /* 255: never a pattern byte */
        hccl_pattern_fill(big_s, blk, 31u * (unsigned)r);
        TCHECK(HcclAllGather(big_s, big_r + 1, blk, HCCL_DATA_TYPE_INT8, comm, stream) == HCCL_SUCCESS,
               "large allgather");
        ok = 1;
        for (int i = 0; i < n; i++) ok &= hccl_pattern_check(big_r + 1 + (size_t)i * blk, blk, 31u * (unsigned)i);
        TCHECK(ok, "large allgather blocks (rank %d)", r);
        at = 0;
        for (int j = 0; j < n; j++) { /* to rank j: blk + r bytes, after one byte of padding */
            sc[j] = blk + (uint64_t)r, sd[j] = at + 1;
            hccl_pattern_fill(big_s + at + 1, sc[j], 31u * (unsigned)r + 7u * (unsigned)j);
            at += sc[j] + 1;
        }
        at = 0;
        for (int i = 0; i < n; i++) rc[i] = blk + (uint64_t)i, rd[i] = at + 1, at += rc[i];
        big_r[0] = 0x5A;
        TCHECK(HcclAlltoAllV(big_s, sc, sd, HCCL_DATA_TYPE_INT8, big_r, rc, rd, HCCL_DATA_TYPE_INT8, comm, stream) ==
                   HCCL_SUCCESS,
               "large alltoallv");
        ok = big_r[0] == 0x5A;
        for (int i = 0; i < n; i++)
            ok &= hccl_pattern_check(big_r + rd[i], rc[i], 31u * (unsigned)i + 7u * (unsigned)r);
        TCHECK(ok, "large alltoallv blocks (rank %d)", r);
    }
    free(big_s);
    free(big_r);
    TCHECK(HcclBarrier(comm, stream) == HCCL_SUCCESS, "barrier");
    TCHECK(aclrtDestroyStream(stream) == ACL_SUCCESS, "stream");
}

#endif /* MR_TEST_HCCL_CASES_H */
