// A CANN-style expert-parallel program (acl, HCCL and aclnn calls only, CANN's header names): W ranks, each with
// its own tokens, run
//   aclnnMoeDistributeDispatchV2   every token goes to the ranks that hold its top-k experts
//   the experts                    each expert scales the rows it received by its own factor (bf16 out)
//   aclnnMoeDistributeCombineV2    the rows come back and are summed per token, weighted by the routing weights
// Every rank generates every rank's tokens, expert ids and weights from the seed, so it computes its expected
// output itself, by a loop over its tokens and their slots (below, independent of the library); it prints
// whether its output matches that reference bit for bit, and the program exits 1 when a rank's does not.
//
// Ranks as threads (the pattern of the MC2 examples, layer spec 12): aclInit; per device aclrtSetDevice,
// aclrtCreateContext and two streams; HcclCommInitAll; one thread per device: aclrtSetCurrentContext,
// HcclGetCommName, dispatch (two phases) on stream 1, aclrtSynchronizeStreamWithTimeout, the experts, combine on
// stream 2, sync, HcclCommDestroy; then streams, contexts, aclrtResetDevice, aclFinalize.
//
// Ranks as MPI processes: the same file compiled with -DCANN_DISTRIBUTE_MPI and linked with libmoeroute_mpi
// (one source, so both transports run the same rank code and reference). MPI_Init; rank 0 makes the root info,
// MPI_Bcast ships it, HcclCommInitRootInfo; or, with --rank-table FILE, HcclCommInitClusterInfo(FILE, rank) (a
// rank table whose rank_id values are the MPI ranks). Each process uses its node-local index as its device.
//
//   cann_distribute [--ranks W] [--tokens Bs] [--hidden H] [--experts E] [--topk K] [--quant 0|2]
//                   [--shared-experts S --shared-ranks R] [--seed N]
//   mpirun -np W cann_distribute_mpi [same options, --ranks = W or absent] [--rank-table FILE]
//
// quantMode 2: dispatch sends each row as int8 with a per-row scale (spec 11.3: a = max |x|, f = 127 / a,
// q = rint(x * f) saturated, scale = 1 / f, each step one fp32 rounding); the experts dequantize (q * scale).
// The reference recomputes that recipe exactly, so int8 is checked bit for bit too. With shared experts, the
// first R ranks hold S shared experts (R / S copies each); their rows are added unweighted.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_distribute_combine_v2.h"
#include "aclnnop/aclnn_moe_distribute_dispatch_v2.h"
#include "hccl/hccl.h"
#ifdef CANN_DISTRIBUTE_MPI
#include <mpi.h>
#endif

#define CHECK_RET(cond, rank, what)                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            std::printf("rank %d: %s failed: %s\n", (int)(rank), what, aclGetRecentErrMsg());                \
            return 1;                                                                                        \
        }                                                                                                    \
    } while (0)

struct Config {
    int64_t W = 0, Bs = 8, H = 1024, E = 0, K = 2, quant = 0, S = 0, R = 0;
    uint64_t seed = 2024;
    std::string rankTable;
    int64_t local() const { return E / (W - R); } // experts per MoE rank
};

// ---- numbers ---------------------------------------------------------------------------------------------------

static float f32(float v) // one rounding to fp32, never fused with a neighbouring add (volatile)
{
    volatile float r = v;
    return r;
}

static uint16_t to_bf16(float v) // round to nearest even
{
    uint32_t u;
    std::memcpy(&u, &v, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float from_bf16(uint16_t b)
{
    const uint32_t u = (uint32_t)b << 16;
    float v;
    std::memcpy(&v, &u, 4);
    return v;
}

// ---- the world: every rank's tokens, expert ids and weights, from the seed ---------------------------------------

struct World {
    std::vector<uint16_t> x; // [W, Bs, H] bf16
    std::vector<int32_t> ids; // [W, Bs, K]
    std::vector<float> w;     // [W, Bs, K]
};

static uint64_t rng_next(uint64_t &s) // splitmix64
{
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t &s) { return (float)(rng_next(s) >> 40) / 16777216.0f; } // [0, 1)

static World make_world(const Config &c)
{
    World w;
    uint64_t s = c.seed;
    const int64_t T = c.W * c.Bs;
    w.x.resize(T * c.H);
    for (uint16_t &v : w.x) v = to_bf16(8.0f * uniform(s) - 4.0f);
    w.ids.resize(T * c.K);
    w.w.resize(T * c.K);
    std::vector<int32_t> pool(c.E);
    for (int64_t t = 0; t < T; t++) { // K distinct experts per token, in random order
        for (int64_t e = 0; e < c.E; e++) pool[e] = (int32_t)e;
        for (int64_t j = 0; j < c.K; j++) {
            const int64_t pick = j + (int64_t)(rng_next(s) % (uint64_t)(c.E - j));
            std::swap(pool[j], pool[pick]);
            w.ids[t * c.K + j] = pool[j];
            w.w[t * c.K + j] = 0.0625f + 0.9375f * uniform(s);
        }
    }
    return w;
}

// ---- the experts ---------------------------------------------------------------------------------------------------

static float moe_factor(int64_t e) { return 0.5f + 0.25f * (float)(e % 7); }
static float shared_factor(int64_t i) { return -0.75f - 0.5f * (float)i; }

// One expert on one row: out = bf16(in * factor).
static void expert_row(const float *in, float factor, uint16_t *out, int64_t H)
{
    for (int64_t h = 0; h < H; h++) out[h] = to_bf16(f32(in[h] * factor));
}

// What an expert receives of a bf16 row: the row itself, or with quantMode 2 the dequantized int8 row of the
// per-token recipe (spec 11.3), written out here.
static std::vector<float> received_row(const uint16_t *x, int64_t H, int64_t quant)
{
    std::vector<float> in(H);
    for (int64_t h = 0; h < H; h++) in[h] = from_bf16(x[h]);
    if (quant != 2) return in;
    float a = 0;
    for (float v : in) a = std::fabs(v) > a ? std::fabs(v) : a;
    const float f = a > 0 ? f32(127.0f / a) : 0.0f, scale = a > 0 ? f32(1.0f / f) : 0.0f;
    for (float &v : in) {
        float q = std::nearbyint(f32(v * f)); // ties to even
        q = q > 127.0f ? 127.0f : q < -128.0f ? -128.0f : q;
        v = f32(q * scale);
    }
    return in;
}

// The combined output of rank r's tokens: for each slot, the expert's row times the weight, summed in fp32 in slot
// order, then the shared experts' rows unweighted, rounded to bf16.
static std::vector<uint16_t> reference(const Config &c, const World &w, int64_t r)
{
    std::vector<uint16_t> y(c.Bs * c.H), row(c.H);
    std::vector<float> acc(c.H);
    for (int64_t t = 0; t < c.Bs; t++) {
        const int64_t g = r * c.Bs + t;
        const std::vector<float> in = received_row(&w.x[g * c.H], c.H, c.quant);
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = 0; j < c.K; j++) {
            expert_row(in.data(), moe_factor(w.ids[g * c.K + j]), row.data(), c.H);
            for (int64_t h = 0; h < c.H; h++) acc[h] = f32(acc[h] + f32(from_bf16(row[h]) * w.w[g * c.K + j]));
        }
        for (int64_t i = 0; i < c.S; i++) {
            expert_row(in.data(), shared_factor(i), row.data(), c.H);
            for (int64_t h = 0; h < c.H; h++) acc[h] = f32(acc[h] + from_bf16(row[h]));
        }
        for (int64_t h = 0; h < c.H; h++) y[t * c.H + h] = to_bf16(acc[h]);
    }
    return y;
}

// Rows each local expert of rank r receives (spec 11.3 placement: shared-expert ranks first, then E / (W - R)
// experts per MoE rank; a shared rank q serves the sources s with s % P == q % P, P = R / S).
static std::vector<int64_t> expected_counts(const Config &c, const World &w, int64_t r)
{
    if (r < c.R) {
        const int64_t P = c.R / c.S;
        int64_t n = 0;
        for (int64_t s = 0; s < c.W; s++) n += s % P == r % P ? c.Bs : 0;
        return {n};
    }
    std::vector<int64_t> n(c.local(), 0);
    for (int32_t e : w.ids)
        if (c.R + e / c.local() == r) n[e % c.local()]++;
    return n;
}

// ---- device buffers --------------------------------------------------------------------------------------------

struct Dev { // a device buffer and a contiguous ND tensor over it
    void *p = nullptr;
    aclTensor *t = nullptr;
    size_t bytes = 0;
    Dev(std::vector<int64_t> shape, aclDataType dt, size_t elem, const void *init = nullptr)
    {
        bytes = elem;
        for (int64_t d : shape) bytes *= (size_t)d;
        if (aclrtMalloc(&p, bytes ? bytes : 1, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return;
        if (init && aclrtMemcpy(p, bytes, init, bytes, ACL_MEMCPY_HOST_TO_DEVICE) != ACL_SUCCESS) return;
        std::vector<int64_t> strides(shape.size(), 1);
        for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
        t = aclCreateTensor(shape.data(), shape.size(), dt, strides.data(), 0, ACL_FORMAT_ND, shape.data(),
                            shape.size(), p);
    }
    ~Dev()
    {
        if (t) aclDestroyTensor(t);
        if (p) aclrtFree(p);
    }
    Dev(const Dev &) = delete;
    Dev &operator=(const Dev &) = delete;
    template <typename T> std::vector<T> get() const
    {
        std::vector<T> h(bytes / sizeof(T));
        aclrtMemcpy(h.data(), bytes, p, bytes, ACL_MEMCPY_DEVICE_TO_HOST);
        return h;
    }
};

// Phase 2 of an operator whose phase 1 has run: workspace, launch on `stream`, wait (bounded).
template <typename F>
static int launch(uint64_t wsSize, aclOpExecutor *exe, aclrtStream stream, F op)
{
    void *ws = nullptr;
    if (wsSize && aclrtMalloc(&ws, wsSize, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return 1;
    int rc = op(ws, wsSize, exe, stream);
    if (rc == 0) rc = aclrtSynchronizeStreamWithTimeout(stream, 10000);
    if (ws) aclrtFree(ws);
    return rc;
}

// ---- one rank ----------------------------------------------------------------------------------------------------

struct Rank {
    int64_t r;
    HcclComm comm;
    aclrtStream dispatchStream, combineStream;
};

static int run_rank(const Config &c, const Rank &rk)
{
    const int64_t r = rk.r, W = c.W, Bs = c.Bs, H = c.H, K = c.K;
    const int64_t L = r < c.R ? 1 : c.local(), A = Bs * W * (L < K ? L : K); // A: the rows it can receive
    char group[COMM_NAME_MAX_LENGTH] = {0};
    CHECK_RET(HcclGetCommName(rk.comm, group) == HCCL_SUCCESS, r, "HcclGetCommName");
    const World w = make_world(c);
    Dev x({Bs, H}, ACL_BF16, 2, &w.x[r * Bs * H]), ids({Bs, K}, ACL_INT32, 4, &w.ids[r * Bs * K]);
    Dev weights({Bs, K}, ACL_FLOAT, 4, &w.w[r * Bs * K]);
    Dev expandX({A, H}, c.quant == 2 ? ACL_INT8 : ACL_BF16, c.quant == 2 ? 1 : 2), scales({A}, ACL_FLOAT, 4);
    Dev assist({A * 128}, ACL_INT32, 4), tokenNums({L}, ACL_INT64, 8), epRecv({W * L}, ACL_INT32, 4);
    Dev tpRecv({1}, ACL_INT32, 4), expertOut({A, H}, ACL_BF16, 2), y({Bs, H}, ACL_BF16, 2);
    for (const Dev *d : {&x, &ids, &weights, &expandX, &scales, &assist, &tokenNums, &epRecv, &tpRecv, &expertOut, &y})
        CHECK_RET(d->t != nullptr, r, "aclrtMalloc / aclCreateTensor");

    uint64_t wsSize = 0;
    aclOpExecutor *exe = nullptr;
    CHECK_RET(aclnnMoeDistributeDispatchV2GetWorkspaceSize(
                  x.t, ids.t, nullptr, nullptr, nullptr, group, W, r, c.E, nullptr, /*tpWorldSize*/ 1, 0,
                  /*expertShardType*/ 0, c.S, c.R, c.quant, /*globalBs*/ 0, /*expertTokenNumsType: cumsum*/ 0,
                  nullptr, expandX.t, scales.t, assist.t, tokenNums.t, epRecv.t, tpRecv.t, nullptr, &wsSize,
                  &exe) == ACL_SUCCESS,
              r, "aclnnMoeDistributeDispatchV2GetWorkspaceSize");
    CHECK_RET(launch(wsSize, exe, rk.dispatchStream, aclnnMoeDistributeDispatchV2) == 0, r,
              "aclnnMoeDistributeDispatchV2");

    // the experts: rows [cumsum[le - 1], cumsum[le]) belong to local expert le
    const std::vector<int64_t> cumsum = tokenNums.get<int64_t>(), want = expected_counts(c, w, r);
    std::vector<uint16_t> out(A * H, 0);
    const std::vector<float> scale = scales.get<float>();
    const std::vector<uint16_t> rows16 = c.quant == 2 ? std::vector<uint16_t>() : expandX.get<uint16_t>();
    const std::vector<int8_t> rows8 = c.quant == 2 ? expandX.get<int8_t>() : std::vector<int8_t>();
    std::vector<float> in(H);
    int failures = 0;
    for (int64_t le = 0, begin = 0; le < L; begin = cumsum[le++]) {
        if (cumsum[le] - begin != want[le] || cumsum[le] > A) {
            std::printf("rank %lld: local expert %lld received %lld rows, want %lld\n", (long long)r, (long long)le,
                        (long long)(cumsum[le] - begin), (long long)want[le]);
            failures++;
            break;
        }
        const float factor = r < c.R ? shared_factor(r / (c.R / c.S)) : moe_factor((r - c.R) * L + le);
        for (int64_t i = begin; i < cumsum[le]; i++) {
            for (int64_t h = 0; h < H; h++)
                in[h] = c.quant == 2 ? f32((float)rows8[i * H + h] * scale[i]) : from_bf16(rows16[i * H + h]);
            expert_row(in.data(), factor, &out[i * H], H);
        }
    }
    CHECK_RET(aclrtMemcpy(expertOut.p, expertOut.bytes, out.data(), expertOut.bytes, ACL_MEMCPY_HOST_TO_DEVICE) ==
                  ACL_SUCCESS,
              r, "aclrtMemcpy (expert rows)");

    CHECK_RET(aclnnMoeDistributeCombineV2GetWorkspaceSize(
                  expertOut.t, ids.t, assist.t, epRecv.t, weights.t, tpRecv.t, nullptr, nullptr, nullptr, nullptr,
                  nullptr, nullptr, group, W, r, c.E, nullptr, /*tpWorldSize*/ 1, 0, /*expertShardType*/ 0, c.S, c.R,
                  /*globalBs*/ 0, /*outDtype*/ 0, /*commQuantMode*/ 0, /*groupListType*/ 0, nullptr, y.t, &wsSize,
                  &exe) == ACL_SUCCESS,
              r, "aclnnMoeDistributeCombineV2GetWorkspaceSize");
    CHECK_RET(launch(wsSize, exe, rk.combineStream, aclnnMoeDistributeCombineV2) == 0, r,
              "aclnnMoeDistributeCombineV2");

    const std::vector<uint16_t> got = y.get<uint16_t>(), ref = reference(c, w, r);
    int64_t differ = 0, first = -1;
    for (int64_t i = 0; i < Bs * H; i++)
        if (got[i] != ref[i]) differ++, first = first < 0 ? i : first;
    if (differ)
        std::printf("rank %lld: %lld of %lld values differ from the reference; first [%lld][%lld] = %g, want %g\n",
                    (long long)r, (long long)differ, (long long)(Bs * H), (long long)(first / H),
                    (long long)(first % H), from_bf16(got[first]), from_bf16(ref[first]));
    else
        std::printf("rank %lld: %lld tokens combined, equal to the reference bit for bit (token 0: %g %g ...)\n",
                    (long long)r, (long long)Bs, from_bf16(got[0]), from_bf16(got[1]));
    return failures || differ ? 1 : 0;
}

// ---- options -------------------------------------------------------------------------------------------------------

static int parse(int argc, char **argv, Config &c, int64_t world)
{
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
        int64_t *field = a == "--ranks" ? &c.W : a == "--tokens" ? &c.Bs : a == "--hidden" ? &c.H
                       : a == "--experts" ? &c.E : a == "--topk" ? &c.K : a == "--quant" ? &c.quant
                       : a == "--shared-experts" ? &c.S : a == "--shared-ranks" ? &c.R : nullptr;
        if (field && v) *field = std::atoll(v), i++;
        else if (a == "--seed" && v) c.seed = std::strtoull(v, nullptr, 10), i++;
        else if (a == "--rank-table" && v && world) c.rankTable = v, i++;
        else return 1;
    }
    if (world && c.W && c.W != world) return 1; // --ranks must match the MPI job
    c.W = world ? world : c.W ? c.W : 4;
    if (!c.E) c.E = 2 * (c.W - c.R);
    return c.W < 2 || c.W > (world ? 768 : 8) || c.Bs < 1 || c.H < 1 || c.K < 1 || c.K > c.E || c.R < 0 ||
           c.R >= c.W || c.E % (c.W - c.R) || (c.quant != 0 && c.quant != 2) || c.S < 0 || (c.R > 0) != (c.S > 0) ||
           (c.S > 0 && c.R % c.S);
}

static int verdict(int failed, int W)
{
    if (failed) std::printf("NOT verified: %d of %d ranks failed or differ from the reference\n", failed, W);
    else std::printf("verified: dispatch, experts and combine on %d ranks give the reference result\n", W);
    return failed ? 1 : 0;
}

static const char usage[] =
    "usage: %s [--ranks W (2..8)] [--tokens Bs] [--hidden H] [--experts E (multiple of W - R)] [--topk K]\n"
    "          [--quant 0|2] [--shared-experts S --shared-ranks R (R %% S == 0)] [--seed N]%s\n";

#ifndef CANN_DISTRIBUTE_MPI
// ---- ranks as threads ------------------------------------------------------------------------------------------

int main(int argc, char **argv)
{
    Config c;
    if (parse(argc, argv, c, 0)) {
        std::printf(usage, argv[0], "");
        return 2;
    }
    const int W = (int)c.W;
    if (aclInit(nullptr) != ACL_SUCCESS) return 1;
    std::vector<int32_t> devices(W);
    std::vector<aclrtContext> contexts(W);
    std::vector<aclrtStream> streams(2 * W);
    for (int i = 0; i < W; i++) {
        devices[i] = i;
        CHECK_RET(aclrtSetDevice(i) == ACL_SUCCESS && aclrtCreateContext(&contexts[i], i) == ACL_SUCCESS &&
                      aclrtCreateStream(&streams[2 * i]) == ACL_SUCCESS &&
                      aclrtCreateStream(&streams[2 * i + 1]) == ACL_SUCCESS,
                  i, "device, context and streams");
    }
    std::vector<HcclComm> comms(W);
    CHECK_RET(HcclCommInitAll((uint32_t)W, devices.data(), comms.data()) == HCCL_SUCCESS, 0, "HcclCommInitAll");
    std::printf("%d ranks as threads, %lld tokens each, H = %lld, %lld experts, top-%lld, quantMode %lld, %lld shared "
                "experts on %lld ranks, seed %llu\n",
                W, (long long)c.Bs, (long long)c.H, (long long)c.E, (long long)c.K, (long long)c.quant,
                (long long)c.S, (long long)c.R, (unsigned long long)c.seed);
    std::vector<int> rc(W, 1);
    std::vector<std::thread> threads;
    for (int i = 0; i < W; i++)
        threads.emplace_back([&, i] {
            if (aclrtSetCurrentContext(contexts[i]) != ACL_SUCCESS) return;
            rc[i] = run_rank(c, Rank{i, comms[i], streams[2 * i], streams[2 * i + 1]});
            if (HcclCommDestroy(comms[i]) != HCCL_SUCCESS) rc[i] = 1;
        });
    int failed = 0;
    for (int i = 0; i < W; i++) threads[i].join(), failed += rc[i];
    for (int i = 0; i < W; i++) {
        aclrtDestroyStream(streams[2 * i]);
        aclrtDestroyStream(streams[2 * i + 1]);
        aclrtDestroyContext(contexts[i]);
        aclrtResetDevice(i);
    }
    aclFinalize();
    return verdict(failed, W);
}
#else
// ---- ranks as MPI processes ----------------------------------------------------------------------------------

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 0, local = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm node; // the processes on this machine: the node-local index is this process's device
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    Config c;
    if (parse(argc, argv, c, size)) {
        if (rank == 0) std::printf(usage, argv[0], " [--rank-table FILE]; --ranks must be the number of processes");
        MPI_Finalize();
        return 2;
    }
    int rc = 1;
    aclrtContext context = nullptr;
    aclrtStream s1 = nullptr, s2 = nullptr;
    HcclComm comm = nullptr;
    if (aclInit(nullptr) == ACL_SUCCESS && aclrtSetDevice(local) == ACL_SUCCESS &&
        aclrtCreateContext(&context, local) == ACL_SUCCESS && aclrtCreateStream(&s1) == ACL_SUCCESS &&
        aclrtCreateStream(&s2) == ACL_SUCCESS) {
        HcclResult st;
        if (!c.rankTable.empty()) {
            st = HcclCommInitClusterInfo(c.rankTable.c_str(), (uint32_t)rank, &comm);
        } else {
            HcclRootInfo info;
            std::memset(&info, 0, sizeof info);
            if (rank == 0) HcclGetRootInfo(&info);
            MPI_Bcast(&info, (int)sizeof info, MPI_BYTE, 0, MPI_COMM_WORLD);
            st = HcclCommInitRootInfo((uint32_t)size, &info, (uint32_t)rank, &comm);
        }
        if (st != HCCL_SUCCESS) std::printf("rank %d: communicator: %s\n", rank, aclGetRecentErrMsg());
        if (rank == 0)
            std::printf("%d ranks as MPI processes (%s), %lld tokens each, H = %lld, %lld experts, top-%lld, "
                        "quantMode %lld, %lld shared experts on %lld ranks, seed %llu\n",
                        size, c.rankTable.empty() ? "root info" : "rank table", (long long)c.Bs, (long long)c.H,
                        (long long)c.E, (long long)c.K, (long long)c.quant, (long long)c.S, (long long)c.R,
                        (unsigned long long)c.seed);
        if (st == HCCL_SUCCESS) rc = run_rank(c, Rank{rank, comm, s1, s2});
        if (comm && HcclCommDestroy(comm) != HCCL_SUCCESS) rc = 1;
    } else {
        std::printf("rank %d: device %d: %s\n", rank, local, aclGetRecentErrMsg());
    }
    aclrtDestroyStream(s1);
    aclrtDestroyStream(s2);
    aclrtDestroyContext(context);
    aclrtResetDevice(local);
    aclFinalize();
    int failed = 0;
    MPI_Allreduce(&rc, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) verdict(failed, size);
    MPI_Finalize();
    return failed ? 1 : 0;
}
#endif
