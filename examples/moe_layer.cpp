// One DeepSeek-V3-shaped MoE layer as vllm-ascend runs it on one device (layer spec 14.1 bf16, 14.2 W8A8), written
// as a CANN program: ACL runtime and aclnn calls only, CANN headers, the two-phase GetWorkspaceSize + execute.
//
//   router   x (widened to fp32) @ W_gate -> logits fp32 [N, E]     aclnnGroupedMatmulV4, one fp32 group (a plain
//                                                                   matmul; on Ascend an aclnnMatmul)
//   gating   aclnnMoeGatingTopK      sigmoid, 8 groups, top-4 groups (sum of two best), bias, routed scaling 2.5
//   routing  aclnnMoeInitRoutingV3   bf16: quantMode -1; W8A8: quantMode 1 (dynamic int8, per-row scale)
//   gmm1     aclnnGroupedMatmulV4    bf16 [N*K, 2I]; W8A8 (b): int32; W8A8 (a): bf16 with the w13 scale;
//                                    W8A8 fused: aclnnGroupedMatmulSwigluQuantWeightNZ (gmm1 + act, int8 out)
//   act      aclnnSwiGlu             W8A8 (b): aclnnDequantSwigluQuant; (a): aclnnSwiGlu + aclnnDynamicQuantV2
//   gmm2     aclnnGroupedMatmulV4    bf16 [N*K, H] (W8A8: w2 scale and per-token scale)
//   combine  aclnnMoeTokenUnpermute  the routing-weighted sum -> y bf16 [N, H]
//
// W8A8 runs 14.2's default, the fused GroupedMatmulSwigluQuant (--mode w8a8, w13 in FRACTAL_NZ), or the spec's
// fallbacks (b) (--mode w8a8-b) and (a) (--mode w8a8-a); --ep runs bf16, fused and (b). Weights are
// generated deterministically (the generator of python/moeroute/layer.py, so both languages compute the same
// layer). The program prints the time of each stage and the layer output's error against a float64 reference
// (float64 selection with the same tie rule; the library's ids where the two differ by a near tie), checks it
// against the error bound of docs/layer.md, and exits 1 when the bound is broken.
//
//   moe_layer [--preset small|mid|deepseek-v3] [--tokens N] [--experts E] [--mode bf16|w8a8|w8a8-b|w8a8-a|all]
//             [--reps R] [--ref-tokens T] [--seed S] [--ep W]
//
// --ep W also runs the layer expert-parallel over W ranks (layer spec 14.3: MoeDistributeDispatchV2 / CombineV2 over
// an in-process HCCL communicator, one thread per rank) and checks it against the single-device result.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <string>
#include <vector>

#include <unistd.h>

#include "acl/acl.h"
#include "hccl/hccl.h"
#include "aclnnop/aclnn_dequant_swiglu_quant.h"
#include "aclnnop/aclnn_dynamic_quant_v2.h"
#include "aclnnop/aclnn_grouped_matmul_swiglu_quant_weight_nz.h"
#include "aclnnop/aclnn_grouped_matmul_v4.h"
#include "aclnnop/aclnn_moe_distribute_combine_v2.h"
#include "aclnnop/aclnn_moe_distribute_dispatch_v2.h"
#include "aclnnop/aclnn_moe_gating_top_k.h"
#include "aclnnop/aclnn_moe_init_routing_v3.h"
#include "aclnnop/aclnn_moe_token_unpermute.h"
#include "aclnnop/aclnn_swi_glu.h"

#define CHECK_RET(cond, what)                                                                                 \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            std::printf("%s failed: %s\n", what, aclGetRecentErrMsg());                                       \
            return 1;                                                                                         \
        }                                                                                                     \
    } while (0)

// ---- deterministic data (python/moeroute/layer.py: uniform, bf16_bits, make_weights) -----------------------------

enum { S_X = 1, S_GATE = 2, S_BIAS = 3, S_W13 = 4, S_W2 = 5 };

static double mr_uniform(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint64_t z = (((seed & 0xFF) << 56) | ((stream & 0xFF) << 48)) + i + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)((int64_t)(z >> 40) - (1 << 23)) * std::ldexp(1.0, -23);
}

static uint16_t bf16_bits(double v) // to fp32 (RNE), then to bfloat16 (RNE); finite values
{
    float f = (float)v;
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static double bf16_value(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

struct Config {
    int64_t H, I, E, K, groups = 8, topkGroups = 4;
    double rsf = 2.5;
};

struct Weights {
    bool w8a8 = false;
    std::vector<float> gate, bias;          // [E, H], [E]
    std::vector<uint16_t> w13, w2;          // bf16 [E, 2I, H], [E, H, I]
    std::vector<int8_t> w13q, w2q;          // W8A8, same layouts
    std::vector<float> w13Scale;            // [E, 2I]
    std::vector<uint16_t> w2Scale, w13ScaleBf16; // bf16 [E, H], [E, 2I]
};

// symmetric per-row int8 of the bf16 row `w` (length n): scale f32(max / 127), optionally rounded to bf16
static void quant_row(const uint16_t *w, int64_t n, int8_t *q, float *scaleF32, uint16_t *scaleBf16)
{
    double amax = 0;
    for (int64_t i = 0; i < n; i++) amax = std::max(amax, std::fabs(bf16_value(w[i])));
    if (amax == 0) amax = 1;
    float s = (float)(amax / 127.0);
    double sv = s;
    if (scaleBf16) {
        *scaleBf16 = bf16_bits(s);
        sv = bf16_value(*scaleBf16);
    } else {
        *scaleF32 = s;
    }
    for (int64_t i = 0; i < n; i++)
        q[i] = (int8_t)std::min(127.0, std::max(-127.0, std::nearbyint(bf16_value(w[i]) / sv)));
}

static void make_weights(const Config &c, uint64_t seed, bool w8a8, Weights &w)
{
    const int64_t H = c.H, I = c.I, E = c.E;
    w.w8a8 = w8a8;
    w.gate.resize(E * H);
    for (int64_t i = 0; i < E * H; i++) w.gate[i] = (float)(mr_uniform(seed, S_GATE, i) * std::sqrt(3.0 / H));
    w.bias.resize(E);
    for (int64_t i = 0; i < E; i++) w.bias[i] = (float)(mr_uniform(seed, S_BIAS, i) * 0.05);
    std::vector<uint16_t> a(2 * I * H), b(H * I);
    if (w8a8) {
        w.w13q.resize(E * 2 * I * H), w.w2q.resize(E * H * I);
        w.w13Scale.resize(E * 2 * I), w.w13ScaleBf16.resize(E * 2 * I), w.w2Scale.resize(E * H);
    } else {
        w.w13.resize(E * 2 * I * H), w.w2.resize(E * H * I);
    }
    for (int64_t e = 0; e < E; e++) {
        uint16_t *pa = w8a8 ? a.data() : &w.w13[e * 2 * I * H], *pb = w8a8 ? b.data() : &w.w2[e * H * I];
        for (int64_t i = 0; i < 2 * I * H; i++)
            pa[i] = bf16_bits(mr_uniform(seed, S_W13, e * 2 * I * H + i) * std::sqrt(3.0 / H));
        for (int64_t i = 0; i < H * I; i++)
            pb[i] = bf16_bits(mr_uniform(seed, S_W2, e * H * I + i) * std::sqrt(3.0 / I));
        if (!w8a8) continue;
        for (int64_t n = 0; n < 2 * I; n++) {
            quant_row(&a[n * H], H, &w.w13q[(e * 2 * I + n) * H], &w.w13Scale[e * 2 * I + n], nullptr);
            w.w13ScaleBf16[e * 2 * I + n] = bf16_bits(w.w13Scale[e * 2 * I + n]);
        }
        for (int64_t h = 0; h < H; h++)
            quant_row(&b[h * I], I, &w.w2q[(e * H + h) * I], nullptr, &w.w2Scale[e * H + h]);
    }
}

// the int8 weights [E, Nn, Kk] (stored n-major) in FRACTAL_NZ storage [E, ceil(Nn/32), ceil(Kk/16), 16, 32]
// (docs/operators/grouped_matmul_swiglu_quant.md), zero padded
static std::vector<int8_t> nz_pack(const std::vector<int8_t> &w, int64_t E, int64_t Nn, int64_t Kk)
{
    const int64_t N1 = (Nn + 31) / 32, K1 = (Kk + 15) / 16;
    std::vector<int8_t> nz(E * N1 * K1 * 512, 0);
    for (int64_t e = 0; e < E; e++)
        for (int64_t n = 0; n < Nn; n++)
            for (int64_t k = 0; k < Kk; k++)
                nz[((e * N1 + n / 32) * K1 + k / 16) * 512 + (k % 16) * 32 + n % 32] = w[(e * Nn + n) * Kk + k];
    return nz;
}

// ---- device tensors --------------------------------------------------------------------------------------------

struct DevBuf {
    void *p = nullptr;
    size_t bytes = 0;
};

// per thread: the expert-parallel run drives one rank per thread (HCCL in process)
static thread_local std::vector<DevBuf> g_bufs;
static thread_local std::vector<aclTensor *> g_tensors;
static thread_local std::vector<aclTensorList *> g_lists;
static thread_local void *g_ws = nullptr; // the workspace: one buffer grown to the largest request
static thread_local uint64_t g_wsSize = 0;

// a device buffer holding `host` (or `count` zero elements when host is null)
template <typename T> static void *dev_alloc(const T *host, size_t count)
{
    DevBuf b;
    b.bytes = count * sizeof(T);
    if (aclrtMalloc(&b.p, b.bytes ? b.bytes : 1, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return nullptr;
    if (host && b.bytes &&
        aclrtMemcpy(b.p, b.bytes, host, b.bytes, ACL_MEMCPY_HOST_TO_DEVICE) != ACL_SUCCESS)
        return nullptr;
    if (!host && b.bytes) aclrtMemset(b.p, b.bytes, 0, b.bytes);
    g_bufs.push_back(b);
    return b.p;
}

// a view `shape` with `strides` (empty: contiguous) over `storage` elements at data
static aclTensor *tensor(void *data, std::vector<int64_t> shape, aclDataType dt, std::vector<int64_t> strides = {},
                         std::vector<int64_t> storage = {})
{
    if (strides.empty()) {
        strides.assign(shape.size(), 1);
        for (int64_t i = (int64_t)shape.size() - 2; i >= 0; i--) strides[i] = shape[i + 1] * strides[i + 1];
    }
    if (storage.empty()) storage = shape;
    aclTensor *t = aclCreateTensor(shape.data(), shape.size(), dt, strides.data(), 0, ACL_FORMAT_ND, storage.data(),
                                   storage.size(), data);
    if (t) g_tensors.push_back(t);
    return t;
}

// a one-tensor list of the tensor just made (CANN's lists own their tensors: the list destroys it)
static aclTensorList *list1(const aclTensor *t)
{
    if (!g_tensors.empty() && g_tensors.back() == t) g_tensors.pop_back();
    aclTensorList *l = aclCreateTensorList(&t, 1);
    if (l) g_lists.push_back(l);
    return l;
}

// destroy this thread's tensors and tensor lists
static void release_tensors()
{
    for (aclTensorList *l : g_lists) aclDestroyTensorList(l);
    g_lists.clear();
    for (aclTensor *t : g_tensors) aclDestroyTensor(t);
    g_tensors.clear();
}

// everything a thread allocated (tensors, buffers, workspace, its stream), released on every way out
struct ThreadScope {
    aclrtStream stream = nullptr;
    ~ThreadScope()
    {
        release_tensors();
        for (DevBuf &b : g_bufs) aclrtFree(b.p);
        g_bufs.clear();
        if (g_ws) aclrtFree(g_ws);
        g_ws = nullptr, g_wsSize = 0;
        if (stream) aclrtDestroyStream(stream);
    }
};

template <typename T> static std::vector<T> fetch(const void *dev, size_t n)
{
    std::vector<T> host(n);
    if (n) aclrtMemcpy(host.data(), n * sizeof(T), dev, n * sizeof(T), ACL_MEMCPY_DEVICE_TO_HOST);
    return host;
}

static int run_op(const char *name, uint64_t wsSize, aclOpExecutor *exe,
                  aclnnStatus (*fn)(void *, uint64_t, aclOpExecutor *, aclrtStream), aclrtStream stream)
{
    if (wsSize > g_wsSize) {
        if (g_ws) aclrtFree(g_ws);
        g_ws = nullptr;
        CHECK_RET(aclrtMalloc(&g_ws, wsSize, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "workspace");
        g_wsSize = wsSize;
    }
    CHECK_RET(fn(g_ws, wsSize, exe, stream) == ACL_SUCCESS, name);
    CHECK_RET(aclrtSynchronizeStream(stream) == ACL_SUCCESS, "aclrtSynchronizeStream");
    return 0;
}

// ---- the layer -------------------------------------------------------------------------------------------------

enum Mode { MODE_BF16, MODE_W8A8_B, MODE_W8A8_A, MODE_W8A8_FUSED };
static const char *kStages[] = {"router", "gating", "routing", "gmm1", "act", "gmm2", "combine"};
enum { ST_ROUTER, ST_GATING, ST_ROUTING, ST_GMM1, ST_ACT, ST_GMM2, ST_COMBINE, ST_COUNT };

struct Layer {
    Config c;
    int64_t N;
    Mode mode;
    // device buffers
    void *x, *xf, *gate, *bias, *logits, *topkW, *topkIds, *gateOut, *ex, *rowIdx, *counts, *exScale, *h1, *h2,
        *q, *qScale, *h3, *y, *w13, *w2, *w13Scale, *w2Scale, *cumsum;
};

using Clock = std::chrono::steady_clock;

// one pass of the layer; times[stage] receives seconds
static int forward(Layer &L, aclrtStream stream, double *times)
{
    const Config &c = L.c;
    const int64_t N = L.N, H = c.H, I = c.I, E = c.E, K = c.K, M = N * K;
    const bool q8 = L.mode != MODE_BF16;
    uint64_t ws = 0;
    aclOpExecutor *exe = nullptr;
    auto t0 = Clock::now();
    auto lap = [&](int stage) {
        auto t = Clock::now();
        times[stage] = std::chrono::duration<double>(t - t0).count();
        t0 = t;
    };
    // router: logits = xf @ gate^T, the fp32 GMM with one group: weight [1, H, E] viewing the stored [E, H]
    {
        aclTensorList *xl = list1(tensor(L.xf, {N, H}, ACL_FLOAT));
        aclTensorList *wl = list1(tensor(L.gate, {1, H, E}, ACL_FLOAT, {E * H, 1, H}, {E, H}));
        aclTensorList *ol = list1(tensor(L.logits, {N, E}, ACL_FLOAT));
        CHECK_RET(aclnnGroupedMatmulV4GetWorkspaceSize(xl, wl, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                       nullptr, nullptr, nullptr, nullptr, 2, 0, 1, 0, ol, nullptr,
                                                       nullptr, &ws, &exe) == ACL_SUCCESS,
                  "aclnnGroupedMatmulV4GetWorkspaceSize (router)");
        if (run_op("aclnnGroupedMatmulV4 (router)", ws, exe, aclnnGroupedMatmulV4, stream)) return 1;
    }
    lap(ST_ROUTER);
    {
        aclTensor *lt = tensor(L.logits, {N, E}, ACL_FLOAT), *bt = tensor(L.bias, {E}, ACL_FLOAT);
        aclTensor *yt = tensor(L.topkW, {N, K}, ACL_FLOAT), *it = tensor(L.topkIds, {N, K}, ACL_INT32);
        aclTensor *ot = tensor(L.gateOut, {N, E}, ACL_FLOAT);
        CHECK_RET(aclnnMoeGatingTopKGetWorkspaceSize(lt, bt, K, c.topkGroups, c.groups, /*groupSelectMode*/ 1,
                                                     /*renorm*/ 0, /*normType sigmoid*/ 1, /*outFlag*/ false, c.rsf,
                                                     1e-20, yt, it, ot, &ws, &exe) == ACL_SUCCESS,
                  "aclnnMoeGatingTopKGetWorkspaceSize");
        if (run_op("aclnnMoeGatingTopK", ws, exe, aclnnMoeGatingTopK, stream)) return 1;
    }
    lap(ST_GATING);
    {
        int64_t range[2] = {0, E};
        aclIntArray *ra = aclCreateIntArray(range, 2);
        aclTensor *xt = tensor(L.x, {N, H}, ACL_BF16), *it = tensor(L.topkIds, {N, K}, ACL_INT32);
        aclTensor *ext = tensor(L.ex, {M, H}, q8 ? ACL_INT8 : ACL_BF16), *rt = tensor(L.rowIdx, {M}, ACL_INT32);
        aclTensor *ct = tensor(L.counts, {E}, ACL_INT64), *st = tensor(L.exScale, {M}, ACL_FLOAT);
        CHECK_RET(aclnnMoeInitRoutingV3GetWorkspaceSize(xt, it, nullptr, nullptr, /*activeNum*/ M,
                                                        /*expertCapacity*/ -1, E, /*dropPadMode*/ 0,
                                                        /*expertTokensNumType count*/ 1, true, q8 ? 1 : -1, ra,
                                                        /*rowIdxType*/ 0, ext, rt, ct, st, &ws,
                                                        &exe) == ACL_SUCCESS,
                  "aclnnMoeInitRoutingV3GetWorkspaceSize");
        if (run_op("aclnnMoeInitRoutingV3", ws, exe, aclnnMoeInitRoutingV3, stream)) return 1;
        aclDestroyIntArray(ra);
    }
    lap(ST_ROUTING);
    // gmm1: weight [E, H, 2I] viewing the stored [E, 2I, H]; group list = the counts (groupListType 1)
    aclTensor *gl = tensor(L.counts, {E}, ACL_INT64);
    if (L.mode == MODE_W8A8_FUSED) { // gmm1 + act in one call: the NZ weight's storage [E, 2I/32, H/16, 16, 32]
        // its group list is the end offsets: the counts' cumsum (torch.cumsum in vllm-ascend; no aclnn op here)
        std::vector<int64_t> cs = fetch<int64_t>(L.counts, E);
        for (int64_t e = 1; e < E; e++) cs[e] += cs[e - 1];
        CHECK_RET(aclrtMemcpy(L.cumsum, E * 8, cs.data(), E * 8, ACL_MEMCPY_HOST_TO_DEVICE) == ACL_SUCCESS,
                  "aclrtMemcpy (cumsum)");
        aclTensor *xt = tensor(L.ex, {M, H}, ACL_INT8);
        aclTensor *wt = tensor(L.w13, {E, (2 * I + 31) / 32, (H + 15) / 16, 16, 32}, ACL_INT8);
        aclTensor *wst = tensor(L.w13Scale, {E, 2 * I}, ACL_FLOAT), *ast = tensor(L.exScale, {M}, ACL_FLOAT);
        aclTensor *yt = tensor(L.q, {M, I}, ACL_INT8), *st = tensor(L.qScale, {M}, ACL_FLOAT);
        CHECK_RET(aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize(xt, wt, nullptr, nullptr, wst, ast,
                                                                        tensor(L.cumsum, {E}, ACL_INT64), yt, st,
                                                                        nullptr, &ws, &exe) == ACL_SUCCESS,
                  "aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize");
        if (run_op("aclnnGroupedMatmulSwigluQuantWeightNZ", ws, exe, aclnnGroupedMatmulSwigluQuantWeightNZ, stream))
            return 1;
    } else {
        aclTensorList *xl = list1(tensor(L.ex, {M, H}, q8 ? ACL_INT8 : ACL_BF16));
        aclTensorList *wl = list1(tensor(L.w13, {E, H, 2 * I}, q8 ? ACL_INT8 : ACL_BF16, {2 * I * H, 1, H}));
        const bool i32 = L.mode == MODE_W8A8_B;
        aclTensorList *ol = list1(tensor(L.h1, {M, 2 * I}, i32 ? ACL_INT32 : ACL_BF16));
        aclTensorList *sl = nullptr, *pl = nullptr;
        if (L.mode == MODE_W8A8_A) {
            sl = list1(tensor(L.w13Scale, {E, 2 * I}, ACL_BF16));
            pl = list1(tensor(L.exScale, {M}, ACL_FLOAT));
        }
        CHECK_RET(aclnnGroupedMatmulV4GetWorkspaceSize(xl, wl, nullptr, sl, nullptr, nullptr, nullptr, pl, gl,
                                                       nullptr, nullptr, nullptr, i32 ? 3 : 2, 0, 1, 0, ol, nullptr,
                                                       nullptr, &ws, &exe) == ACL_SUCCESS,
                  "aclnnGroupedMatmulV4GetWorkspaceSize (gmm1)");
        if (run_op("aclnnGroupedMatmulV4 (gmm1)", ws, exe, aclnnGroupedMatmulV4, stream)) return 1;
    }
    lap(ST_GMM1);
    if (L.mode == MODE_W8A8_FUSED) {
        // done in gmm1
    } else if (L.mode == MODE_W8A8_B) {
        char quantMode[] = "dynamic";
        aclTensor *xt = tensor(L.h1, {M, 2 * I}, ACL_INT32), *wst = tensor(L.w13Scale, {E, 2 * I}, ACL_FLOAT);
        aclTensor *ast = tensor(L.exScale, {M}, ACL_FLOAT);
        aclTensor *yt = tensor(L.q, {M, I}, ACL_INT8), *st = tensor(L.qScale, {M}, ACL_FLOAT);
        CHECK_RET(aclnnDequantSwigluQuantGetWorkspaceSize(xt, wst, ast, nullptr, nullptr, nullptr, gl,
                                                          /*activateLeft*/ true, quantMode, yt, st, &ws,
                                                          &exe) == ACL_SUCCESS,
                  "aclnnDequantSwigluQuantGetWorkspaceSize");
        if (run_op("aclnnDequantSwigluQuant", ws, exe, aclnnDequantSwigluQuant, stream)) return 1;
    } else {
        aclTensor *xt = tensor(L.h1, {M, 2 * I}, ACL_BF16), *ot = tensor(L.h2, {M, I}, ACL_BF16);
        CHECK_RET(aclnnSwiGluGetWorkspaceSize(xt, -1, ot, &ws, &exe) == ACL_SUCCESS, "aclnnSwiGluGetWorkspaceSize");
        if (run_op("aclnnSwiGlu", ws, exe, aclnnSwiGlu, stream)) return 1;
        if (q8) {
            aclTensor *yt = tensor(L.q, {M, I}, ACL_INT8), *st = tensor(L.qScale, {M}, ACL_FLOAT);
            CHECK_RET(aclnnDynamicQuantV2GetWorkspaceSize(ot, nullptr, nullptr, /*dstType int8*/ 2, yt, st, nullptr,
                                                          &ws, &exe) == ACL_SUCCESS,
                      "aclnnDynamicQuantV2GetWorkspaceSize");
            if (run_op("aclnnDynamicQuantV2", ws, exe, aclnnDynamicQuantV2, stream)) return 1;
        }
    }
    lap(ST_ACT);
    {
        aclTensorList *xl = list1(tensor(q8 ? L.q : L.h2, {M, I}, q8 ? ACL_INT8 : ACL_BF16));
        aclTensorList *wl = list1(tensor(L.w2, {E, I, H}, q8 ? ACL_INT8 : ACL_BF16, {H * I, 1, I}));
        aclTensorList *ol = list1(tensor(L.h3, {M, H}, ACL_BF16));
        aclTensorList *sl = nullptr, *pl = nullptr;
        if (q8) {
            sl = list1(tensor(L.w2Scale, {E, H}, ACL_BF16));
            pl = list1(tensor(L.qScale, {M}, ACL_FLOAT));
        }
        CHECK_RET(aclnnGroupedMatmulV4GetWorkspaceSize(xl, wl, nullptr, sl, nullptr, nullptr, nullptr, pl, gl,
                                                       nullptr, nullptr, nullptr, 2, 0, 1, 0, ol, nullptr, nullptr,
                                                       &ws, &exe) == ACL_SUCCESS,
                  "aclnnGroupedMatmulV4GetWorkspaceSize (gmm2)");
        if (run_op("aclnnGroupedMatmulV4 (gmm2)", ws, exe, aclnnGroupedMatmulV4, stream)) return 1;
    }
    lap(ST_GMM2);
    {
        // vllm-ascend passes abs(expandedRowIdx) on A2/A3; every expert is local here, so no index is -1
        aclTensor *pt = tensor(L.h3, {M, H}, ACL_BF16), *rt = tensor(L.rowIdx, {M}, ACL_INT32);
        aclTensor *wt = tensor(L.topkW, {N, K}, ACL_FLOAT), *yt = tensor(L.y, {N, H}, ACL_BF16);
        CHECK_RET(aclnnMoeTokenUnpermuteGetWorkspaceSize(pt, rt, wt, false, nullptr, yt, &ws, &exe) == ACL_SUCCESS,
                  "aclnnMoeTokenUnpermuteGetWorkspaceSize");
        if (run_op("aclnnMoeTokenUnpermute", ws, exe, aclnnMoeTokenUnpermute, stream)) return 1;
    }
    lap(ST_COMBINE);
    release_tensors();
    return 0;
}

// ---- the float64 reference and the bound (docs/layer.md) -----------------------------------------------------

static const double U32 = std::ldexp(1.0, -24), U16 = std::ldexp(1.0, -8), ETA16 = std::ldexp(1.0, -134),
                    TIE_TOL = std::ldexp(1.0, -20), TWO_M20 = TIE_TOL, TWO_M17 = std::ldexp(1.0, -17),
                    TWO_M21 = std::ldexp(1.0, -21),
                    TINY = std::ldexp(1.0, -150), SILU_LIP = 1.1;

static double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
static double silu(double v) { return v < -700 ? -0.0 : v / (1.0 + std::exp(-v)); }
static double gmm_bound(double r, double S, int64_t K, double u, double eta, double ein)
{
    double g = 1.01 * (double)(K + 1) * U32;
    return ein + g * S + u * (std::fabs(r) + ein + g * S) + (double)(K + 1) * TINY + eta;
}

// float64 selection of one row (stable: larger first, ties to the lower index); b and gs receive the scores
static std::vector<int64_t> select_row(const Config &c, const double *logit, const float *bias, std::vector<double> &b,
                                       std::vector<double> &gs)
{
    const int64_t E = c.E, G = c.groups, P = E / G;
    b.resize(E), gs.resize(G);
    for (int64_t e = 0; e < E; e++) b[e] = sigmoid(logit[e]) + bias[e];
    for (int64_t g = 0; g < G; g++) {
        std::vector<double> v(b.begin() + g * P, b.begin() + (g + 1) * P);
        std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<double>());
        gs[g] = v[0] + v[1];
    }
    std::vector<int64_t> go(G), eo;
    for (int64_t g = 0; g < G; g++) go[g] = g;
    std::stable_sort(go.begin(), go.end(), [&](int64_t a, int64_t d) { return gs[a] > gs[d]; });
    std::sort(go.begin(), go.begin() + c.topkGroups);
    for (int64_t j = 0; j < c.topkGroups; j++)
        for (int64_t e = go[j] * P; e < (go[j] + 1) * P; e++) eo.push_back(e);
    std::stable_sort(eo.begin(), eo.end(), [&](int64_t a, int64_t d) { return b[a] > b[d]; });
    eo.resize(c.K);
    return eo;
}

// is the library's choice `li` a near tie of float64's (moe_layer_reference.py near_tie_rows)?
static bool near_tie(const Config &c, const int32_t *li, const std::vector<double> &b, const std::vector<double> &gs,
                     double t)
{
    const int64_t P = c.E / c.groups;
    std::vector<double> sg(gs);
    std::sort(sg.begin(), sg.end(), std::greater<double>());
    double kth = sg[c.topkGroups - 1], low = 1e300;
    std::vector<bool> chosen(c.E, false);
    for (int64_t j = 0; j < c.K; j++) {
        if (gs[li[j] / P] < kth - 2 * t) return false;
        if (j && b[li[j]] - b[li[j - 1]] > t) return false;
        chosen[li[j]] = true;
        low = std::min(low, b[li[j]]);
    }
    for (int64_t e = 0; e < c.E; e++)
        if (!chosen[e] && gs[e / P] > kth + 2 * t && b[e] > low + t) return false;
    return true;
}

struct Verdict {
    double maxErr = 0, maxUse = 0, errSq = 0, refSq = 0;
    int64_t differ = 0, bad = 0;
};

// dispatched: W8A8 rows quantized by dispatch (DynamicQuant's recipe: also rounds v * f and f32(1 / f), < 2^-15
// of a step more than half a step; docs/layer.md) instead of MoeInitRoutingV3
static Verdict check(const Layer &L, const Weights &w, const std::vector<uint16_t> &x, const std::vector<uint16_t> &y,
                     int64_t T, bool dispatched = false)
{
    const Config &c = L.c;
    const int64_t H = c.H, I = c.I, E = c.E, K = c.K, N = L.N;
    const bool q8 = L.mode != MODE_BF16;
    std::vector<int32_t> ids = fetch<int32_t>(L.topkIds, N * K);
    Verdict v;
    std::vector<double> xr(H), logit(E), elog(E), b, gs, h1(2 * I), e1(2 * I), h2(I), e2(I), acc(H), accB(H),
        terms(H);
    for (int64_t t = 0; t < T; t++) {
        for (int64_t k = 0; k < H; k++) xr[k] = bf16_value(x[t * H + k]);
        for (int64_t e = 0; e < E; e++) {
            double r = 0, S = 0;
            for (int64_t k = 0; k < H; k++) r += xr[k] * w.gate[e * H + k], S += std::fabs(xr[k] * w.gate[e * H + k]);
            logit[e] = r;
            elog[e] = gmm_bound(r, S, H, U32, TINY, 0);
        }
        std::vector<int64_t> ref = select_row(c, logit.data(), w.bias.data(), b, gs);
        bool same = true;
        for (int64_t j = 0; j < K; j++) same &= ref[j] == ids[t * K + j];
        if (!same) {
            v.differ++;
            double emax = *std::max_element(elog.begin(), elog.end());
            if (!near_tie(c, &ids[t * K], b, gs, TIE_TOL + 0.5 * emax)) v.bad++;
        }
        // routing weights of the library's ids, in float64, and their bound
        std::vector<double> s(K), ds(K), wr(K), ew(K);
        double tot = 0, dtot = 0;
        for (int64_t j = 0; j < K; j++) {
            s[j] = sigmoid(logit[ids[t * K + j]]), ds[j] = 0.25 * elog[ids[t * K + j]];
            tot += s[j], dtot += ds[j];
        }
        for (int64_t j = 0; j < K; j++) {
            wr[j] = s[j] / (tot + 1e-20) * c.rsf;
            ew[j] = 1.01 * c.rsf * (ds[j] / tot + s[j] * dtot / (tot * tot)) + (double)(K + 8) * U32 * wr[j];
        }
        std::fill(acc.begin(), acc.end(), 0.0), std::fill(accB.begin(), accB.end(), 0.0);
        std::fill(terms.begin(), terms.end(), 0.0);
        double ex = 0; // W8A8: half a step of the row's int8 grid
        if (q8) {
            for (int64_t k = 0; k < H; k++) ex = std::max(ex, std::fabs(xr[k]));
            ex = dispatched ? (0.5 + std::ldexp(1.0, -15)) * ex / 127.0 : 0.5 * ex / 127.0 * (1 + TWO_M20);
        }
        for (int64_t j = 0; j < K; j++) {
            const int64_t e = ids[t * K + j];
            for (int64_t n = 0; n < 2 * I; n++) { // gmm1
                double r = 0, S = 0, A = 0, sc = 1;
                if (q8) {
                    const int8_t *wq = &w.w13q[(e * 2 * I + n) * H];
                    sc = L.mode == MODE_W8A8_A ? bf16_value(w.w13ScaleBf16[e * 2 * I + n]) : w.w13Scale[e * 2 * I + n];
                    for (int64_t k = 0; k < H; k++) r += xr[k] * wq[k], A += std::fabs((double)wq[k]);
                    r *= sc, A *= sc;
                    double ec = ex * A;
                    e1[n] = L.mode == MODE_W8A8_A ? ec + (U16 + 4 * U32) * (std::fabs(r) + ec) + ETA16
                                                  : ec + 4 * U32 * (std::fabs(r) + ec);
                } else {
                    const uint16_t *wb = &w.w13[(e * 2 * I + n) * H];
                    for (int64_t k = 0; k < H; k++) {
                        double p = xr[k] * bf16_value(wb[k]);
                        r += p, S += std::fabs(p);
                    }
                    e1[n] = gmm_bound(r, S, H, U16, ETA16, 0);
                }
                h1[n] = r;
            }
            double amax = 0;
            // the int8 grid's half step in row scales (docs/layer.md): the fused quantization rounds to fp16 first
            const double half = L.mode == MODE_W8A8_FUSED ? 0.5 + std::ldexp(1.0, -5) + std::ldexp(1.0, -15)
                                                          : 0.5 + TWO_M17;
            for (int64_t i = 0; i < I; i++) { // act
                double a = h1[i], bb = h1[I + i], ea = e1[i], eb = e1[I + i], r = silu(a) * bb;
                double bnd = SILU_LIP * ea * (std::fabs(bb) + eb) + std::fabs(silu(a)) * eb +
                             TWO_M20 * (std::fabs(r) + std::fabs(a * bb));
                if (L.mode == MODE_BF16 || L.mode == MODE_W8A8_A) bnd += U16 * (std::fabs(r) + bnd) + ETA16;
                h2[i] = r, e2[i] = bnd;
                amax = std::max(amax, std::fabs(r) + bnd);
            }
            if (q8)
                for (int64_t i = 0; i < I; i++) e2[i] += half * amax / 127.0 * (1 + TWO_M20);
            const int64_t slot = j;
            for (int64_t h = 0; h < H; h++) { // gmm2 and this slot's share of the combine
                double r = 0, S = 0, ec = 0, e3;
                if (q8) {
                    const int8_t *wq = &w.w2q[(e * H + h) * I];
                    double sc = bf16_value(w.w2Scale[e * H + h]);
                    for (int64_t i = 0; i < I; i++) r += h2[i] * wq[i], ec += e2[i] * std::fabs((double)wq[i]);
                    r *= sc, ec *= sc;
                    e3 = ec + (U16 + TWO_M21) * (std::fabs(r) + ec) + ETA16;
                } else {
                    const uint16_t *wb = &w.w2[(e * H + h) * I];
                    for (int64_t i = 0; i < I; i++) {
                        double wv = bf16_value(wb[i]);
                        r += h2[i] * wv, S += std::fabs(h2[i] * wv), ec += e2[i] * std::fabs(wv);
                    }
                    e3 = gmm_bound(r, S, I, U16, ETA16, ec);
                }
                acc[h] += wr[slot] * r;
                terms[h] += std::fabs(wr[slot] * r);
                accB[h] += std::fabs(wr[slot]) * e3 + ew[slot] * (std::fabs(r) + e3);
            }
        }
        for (int64_t h = 0; h < H; h++) {
            double rnd = 1.01 * (double)(K + 1) * U32 * (terms[h] + accB[h]);
            double bound = accB[h] + rnd + U16 * (std::fabs(acc[h]) + accB[h] + rnd) + ETA16;
            double err = std::fabs(bf16_value(y[t * H + h]) - acc[h]);
            v.maxErr = std::max(v.maxErr, err);
            v.maxUse = std::max(v.maxUse, err / bound);
            v.errSq += err * err, v.refSq += acc[h] * acc[h];
        }
    }
    return v;
}

// ---- expert parallel (layer spec 14.3, the MC2 path): W ranks, one thread each, E / W experts per rank -----------
//
// Each rank takes N / W tokens with their routing (gating is per token: the rows of the single-device run's
// topk ids and weights), MoeDistributeDispatchV2 sends the rows to the ranks holding their experts, the rank runs
// its experts' MLP on what it received (group list = expertTokenNums), and MoeDistributeCombineV2 brings the rows
// back and sums them per token. bf16: the expert rows are the single-device rows bit for bit and the combine sums
// them in the same fp32 slot order, so y is the single-device y. W8A8: dispatch quantizes with DynamicQuant's
// recipe (spec 11.3), not MoeInitRoutingV3's, so y is checked against the float64 bound instead.

struct EpRun {
    const Layer *L;
    int W;
    HcclComm *comms;
    std::vector<uint16_t> y;
    std::vector<int> rc;
};

static int ep_rank(EpRun &run, int r)
{
    const Layer &L = *run.L;
    const Config &c = L.c;
    const bool q8 = L.mode != MODE_BF16;
    const int64_t W = run.W, H = c.H, I = c.I, E = c.E, K = c.K, Bs = L.N / W, Le = E / W;
    const int64_t A = Bs * W * std::min(Le, K), wsz = q8 ? 1 : 2;
    ThreadScope scope;
    CHECK_RET(aclrtSetDevice(r) == ACL_SUCCESS, "aclrtSetDevice (rank)");
    CHECK_RET(aclrtCreateStream(&scope.stream) == ACL_SUCCESS, "aclrtCreateStream (rank)");
    aclrtStream stream = scope.stream;
    char group[256] = {0};
    CHECK_RET(HcclGetCommName(run.comms[r], group) == HCCL_SUCCESS, "HcclGetCommName");
    // this rank's tokens and routing, and its experts' weights: views into the single-device buffers
    char *x = (char *)L.x + r * Bs * H * 2, *ids = (char *)L.topkIds + r * Bs * K * 4;
    char *tw = (char *)L.topkW + r * Bs * K * 4;
    const bool fused = L.mode == MODE_W8A8_FUSED; // w13 in NZ storage: [E, N1, K1, 16, 32] per expert
    const int64_t N1 = (2 * I + 31) / 32, K1 = (H + 15) / 16;
    char *w13 = (char *)L.w13 + r * Le * (fused ? N1 * K1 * 512 : 2 * I * H * wsz);
    char *w2 = (char *)L.w2 + r * Le * H * I * wsz;
    char *w13s = (char *)L.w13Scale + r * Le * 2 * I * 4, *w2s = (char *)L.w2Scale + r * Le * H * 2;
    void *ex = dev_alloc<uint16_t>(nullptr, A * H), *dyn = dev_alloc<float>(nullptr, A);
    void *assist = dev_alloc<int32_t>(nullptr, A * 128), *tok = dev_alloc<int64_t>(nullptr, Le);
    void *epRecv = dev_alloc<int32_t>(nullptr, W * Le), *tpRecv = dev_alloc<int32_t>(nullptr, 1);
    void *cumsum = dev_alloc<int64_t>(nullptr, Le);
    void *h1 = dev_alloc<int32_t>(nullptr, A * 2 * I), *h2 = dev_alloc<uint16_t>(nullptr, A * I);
    void *q = dev_alloc<int8_t>(nullptr, A * I), *qs = dev_alloc<float>(nullptr, A);
    void *h3 = dev_alloc<uint16_t>(nullptr, A * H), *y = dev_alloc<uint16_t>(nullptr, Bs * H);
    for (void *p : {ex, assist, h1, h3, y}) CHECK_RET(p != nullptr, "aclrtMalloc (rank)");
    uint64_t ws = 0;
    aclOpExecutor *exe = nullptr;
    // W8A8 needs the counts (DequantSwigluQuant's group index), bf16 takes the cumsum as 14.3 does
    const int64_t tokType = q8 ? 1 : 0;
    aclTensor *xt = tensor(x, {Bs, H}, ACL_BF16), *it = tensor(ids, {Bs, K}, ACL_INT32);
    aclTensor *wt = tensor(tw, {Bs, K}, ACL_FLOAT);
    aclTensor *ext = tensor(ex, {A, H}, q8 ? ACL_INT8 : ACL_BF16), *dt = tensor(dyn, {A}, ACL_FLOAT);
    aclTensor *at = tensor(assist, {A * 128}, ACL_INT32), *tt = tensor(tok, {Le}, ACL_INT64);
    aclTensor *et = tensor(epRecv, {W * Le}, ACL_INT32), *pt = tensor(tpRecv, {1}, ACL_INT32);
    CHECK_RET(aclnnMoeDistributeDispatchV2GetWorkspaceSize(
                  xt, it, nullptr, nullptr, nullptr, group, W, r, E, nullptr, /*tpWorldSize*/ 1, 0,
                  /*expertShardType*/ 0, 0, 0, /*quantMode*/ q8 ? 2 : 0, /*globalBs*/ 0, tokType, nullptr, ext, dt,
                  at, tt, et, pt, nullptr, &ws, &exe) == ACL_SUCCESS,
              "aclnnMoeDistributeDispatchV2GetWorkspaceSize");
    if (run_op("aclnnMoeDistributeDispatchV2", ws, exe, aclnnMoeDistributeDispatchV2, stream)) return 1;
    if (fused) { // gmm1 + act in one call; its group list is the counts' cumsum (as on the single device)
        std::vector<int64_t> cs = fetch<int64_t>(tok, Le);
        for (int64_t e = 1; e < Le; e++) cs[e] += cs[e - 1];
        CHECK_RET(aclrtMemcpy(cumsum, Le * 8, cs.data(), Le * 8, ACL_MEMCPY_HOST_TO_DEVICE) == ACL_SUCCESS,
                  "aclrtMemcpy (rank cumsum)");
        aclTensor *nzt = tensor(w13, {Le, N1, K1, 16, 32}, ACL_INT8), *wst = tensor(w13s, {Le, 2 * I}, ACL_FLOAT);
        CHECK_RET(aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize(
                      ext, nzt, nullptr, nullptr, wst, dt, tensor(cumsum, {Le}, ACL_INT64), tensor(q, {A, I}, ACL_INT8),
                      tensor(qs, {A}, ACL_FLOAT), nullptr, &ws, &exe) == ACL_SUCCESS,
                  "aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize (rank)");
        if (run_op("aclnnGroupedMatmulSwigluQuantWeightNZ (rank)", ws, exe, aclnnGroupedMatmulSwigluQuantWeightNZ,
                   stream))
            return 1;
    } else {   // gmm1 on this rank's experts
        aclTensorList *xl = list1(tensor(ex, {A, H}, q8 ? ACL_INT8 : ACL_BF16));
        aclTensorList *wl = list1(tensor(w13, {Le, H, 2 * I}, q8 ? ACL_INT8 : ACL_BF16, {2 * I * H, 1, H}));
        aclTensorList *ol = list1(tensor(h1, {A, 2 * I}, q8 ? ACL_INT32 : ACL_BF16));
        CHECK_RET(aclnnGroupedMatmulV4GetWorkspaceSize(xl, wl, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, tt,
                                                       nullptr, nullptr, nullptr, q8 ? 3 : 2, 0, tokType, 0, ol,
                                                       nullptr, nullptr, &ws, &exe) == ACL_SUCCESS,
                  "aclnnGroupedMatmulV4GetWorkspaceSize (rank gmm1)");
        if (run_op("aclnnGroupedMatmulV4 (rank gmm1)", ws, exe, aclnnGroupedMatmulV4, stream)) return 1;
    }
    if (fused) {
        // done with gmm1
    } else if (q8) {
        char quantMode[] = "dynamic";
        aclTensor *ht = tensor(h1, {A, 2 * I}, ACL_INT32), *wst = tensor(w13s, {Le, 2 * I}, ACL_FLOAT);
        aclTensor *yt = tensor(q, {A, I}, ACL_INT8), *st = tensor(qs, {A}, ACL_FLOAT);
        CHECK_RET(aclnnDequantSwigluQuantGetWorkspaceSize(ht, wst, dt, nullptr, nullptr, nullptr, tt, true, quantMode,
                                                          yt, st, &ws, &exe) == ACL_SUCCESS,
                  "aclnnDequantSwigluQuantGetWorkspaceSize (rank)");
        if (run_op("aclnnDequantSwigluQuant (rank)", ws, exe, aclnnDequantSwigluQuant, stream)) return 1;
    } else {
        aclTensor *ht = tensor(h1, {A, 2 * I}, ACL_BF16), *ot = tensor(h2, {A, I}, ACL_BF16);
        CHECK_RET(aclnnSwiGluGetWorkspaceSize(ht, -1, ot, &ws, &exe) == ACL_SUCCESS,
                  "aclnnSwiGluGetWorkspaceSize (rank)");
        if (run_op("aclnnSwiGlu (rank)", ws, exe, aclnnSwiGlu, stream)) return 1;
    }
    {   // gmm2
        aclTensorList *xl = list1(tensor(q8 ? q : h2, {A, I}, q8 ? ACL_INT8 : ACL_BF16));
        aclTensorList *wl = list1(tensor(w2, {Le, I, H}, q8 ? ACL_INT8 : ACL_BF16, {H * I, 1, I}));
        aclTensorList *ol = list1(tensor(h3, {A, H}, ACL_BF16));
        aclTensorList *sl = q8 ? list1(tensor(w2s, {Le, H}, ACL_BF16)) : nullptr;
        aclTensorList *pl = q8 ? list1(tensor(qs, {A}, ACL_FLOAT)) : nullptr;
        CHECK_RET(aclnnGroupedMatmulV4GetWorkspaceSize(xl, wl, nullptr, sl, nullptr, nullptr, nullptr, pl, tt, nullptr,
                                                       nullptr, nullptr, 2, 0, tokType, 0, ol, nullptr, nullptr, &ws,
                                                       &exe) == ACL_SUCCESS,
                  "aclnnGroupedMatmulV4GetWorkspaceSize (rank gmm2)");
        if (run_op("aclnnGroupedMatmulV4 (rank gmm2)", ws, exe, aclnnGroupedMatmulV4, stream)) return 1;
    }
    aclTensor *h3t = tensor(h3, {A, H}, ACL_BF16), *yt = tensor(y, {Bs, H}, ACL_BF16);
    CHECK_RET(aclnnMoeDistributeCombineV2GetWorkspaceSize(h3t, it, at, et, wt, pt, nullptr, nullptr, nullptr, nullptr,
                                                          nullptr, nullptr, group, W, r, E, nullptr, 1, 0, 0, 0, 0,
                                                          /*globalBs*/ 0, /*outDtype*/ 0, /*commQuantMode*/ 0,
                                                          /*groupListType*/ 0, nullptr, yt, &ws,
                                                          &exe) == ACL_SUCCESS,
              "aclnnMoeDistributeCombineV2GetWorkspaceSize");
    if (run_op("aclnnMoeDistributeCombineV2", ws, exe, aclnnMoeDistributeCombineV2, stream)) return 1;
    std::vector<uint16_t> yr = fetch<uint16_t>(y, Bs * H);
    std::copy(yr.begin(), yr.end(), run.y.begin() + r * Bs * H);
    return 0;
}

// the layer over W ranks; y receives the concatenated outputs, seconds the wall time
static int run_ep(const Layer &L, int W, std::vector<uint16_t> &y, double &seconds)
{
    std::vector<HcclComm> comms(W);
    std::vector<int32_t> devices(W);
    for (int r = 0; r < W; r++) devices[r] = r;
    CHECK_RET(HcclCommInitAll((uint32_t)W, devices.data(), comms.data()) == HCCL_SUCCESS, "HcclCommInitAll");
    EpRun run;
    run.L = &L, run.W = W, run.comms = comms.data();
    run.y.assign(L.N * L.c.H, 0);
    run.rc.assign(W, 0);
    auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int r = 0; r < W; r++) threads.emplace_back([&run, r] { run.rc[r] = ep_rank(run, r); });
    for (std::thread &t : threads) t.join();
    seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    for (int r = 0; r < W; r++) HcclCommDestroy(comms[r]);
    aclrtSetDevice(0);
    for (int rc : run.rc)
        if (rc) return 1;
    y.swap(run.y);
    return 0;
}

// ---- main --------------------------------------------------------------------------------------------------------

static int run_mode(const Config &c, int64_t N, Mode mode, int reps, int64_t refTokens, uint64_t seed, int ep,
                    aclrtStream stream, bool &ok)
{
    const int64_t H = c.H, I = c.I, E = c.E, K = c.K, M = N * K;
    const bool q8 = mode != MODE_BF16;
    ThreadScope scope; // the mode's buffers, on every way out
    Weights w;
    make_weights(c, seed, q8, w);
    std::vector<uint16_t> x(N * H);
    std::vector<float> xf(N * H);
    for (int64_t i = 0; i < N * H; i++) x[i] = bf16_bits(mr_uniform(seed, S_X, i)), xf[i] = (float)bf16_value(x[i]);
    Layer L;
    L.c = c, L.N = N, L.mode = mode;
    L.x = dev_alloc(x.data(), x.size()), L.xf = dev_alloc(xf.data(), xf.size());
    L.gate = dev_alloc(w.gate.data(), w.gate.size()), L.bias = dev_alloc(w.bias.data(), w.bias.size());
    L.logits = dev_alloc<float>(nullptr, N * E), L.gateOut = dev_alloc<float>(nullptr, N * E);
    L.topkW = dev_alloc<float>(nullptr, M), L.topkIds = dev_alloc<int32_t>(nullptr, M);
    L.ex = dev_alloc<uint16_t>(nullptr, M * H), L.rowIdx = dev_alloc<int32_t>(nullptr, M);
    L.counts = dev_alloc<int64_t>(nullptr, E), L.cumsum = dev_alloc<int64_t>(nullptr, E);
    L.exScale = dev_alloc<float>(nullptr, M);
    L.h1 = dev_alloc<int32_t>(nullptr, M * 2 * I), L.h2 = dev_alloc<uint16_t>(nullptr, M * I);
    L.q = dev_alloc<int8_t>(nullptr, M * I), L.qScale = dev_alloc<float>(nullptr, M);
    L.h3 = dev_alloc<uint16_t>(nullptr, M * H), L.y = dev_alloc<uint16_t>(nullptr, N * H);
    if (q8) {
        if (mode == MODE_W8A8_FUSED) { // the gate/up weight in FRACTAL_NZ, as npu_format_cast(w13, 29) holds it
            std::vector<int8_t> nz = nz_pack(w.w13q, E, 2 * I, H);
            L.w13 = dev_alloc(nz.data(), nz.size());
        } else {
            L.w13 = dev_alloc(w.w13q.data(), w.w13q.size());
        }
        L.w2 = dev_alloc(w.w2q.data(), w.w2q.size());
        L.w13Scale = mode == MODE_W8A8_A ? dev_alloc(w.w13ScaleBf16.data(), w.w13ScaleBf16.size())
                                         : dev_alloc(w.w13Scale.data(), w.w13Scale.size());
        L.w2Scale = dev_alloc(w.w2Scale.data(), w.w2Scale.size());
    } else {
        L.w13 = dev_alloc(w.w13.data(), w.w13.size()), L.w2 = dev_alloc(w.w2.data(), w.w2.size());
    }
    for (void *p : {L.x, L.xf, L.gate, L.bias, L.logits, L.h1, L.h3, L.y, L.w13, L.w2})
        CHECK_RET(p != nullptr, "aclrtMalloc / aclrtMemcpy");

    std::vector<std::vector<double>> t(ST_COUNT);
    double times[ST_COUNT];
    for (int r = 0; r <= reps; r++) { // one warm-up pass, then `reps` timed ones
        if (forward(L, stream, times)) return 1;
        if (r)
            for (int s = 0; s < ST_COUNT; s++) t[s].push_back(times[s]);
    }
    double med[ST_COUNT], total = 0;
    for (int s = 0; s < ST_COUNT; s++) {
        std::sort(t[s].begin(), t[s].end());
        med[s] = t[s][t[s].size() / 2];
        total += med[s];
    }
    static const char *names[] = {"bf16 (14.1)", "w8a8 (14.2 fallback b: int32 gmm1 + DequantSwigluQuant)",
                                  "w8a8 (14.2 fallback a: bf16 gmm1 + SwiGlu + DynamicQuant)",
                                  "w8a8 (14.2 default: fused GroupedMatmulSwigluQuant, NZ weight)"};
    std::printf("== %s, N=%lld tokens: %.3f ms per layer (median of %d), %.0f tokens/s\n  ", names[mode],
                (long long)N, total * 1e3, reps, (double)N / total);
    for (int s = 0; s < ST_COUNT; s++)
        std::printf(" %s %.3f ms (%.0f%%)", kStages[s], med[s] * 1e3, 100 * med[s] / total);
    std::printf("\n");

    std::vector<uint16_t> y = fetch<uint16_t>(L.y, N * H);
    uint64_t fnv = 0xcbf29ce484222325ull;
    for (uint16_t b : y)
        for (int k = 0; k < 2; k++) fnv = (fnv ^ ((b >> (8 * k)) & 0xFF)) * 0x100000001b3ull;
    const int64_t T = std::min(N, refTokens);
    Verdict v = check(L, w, x, y, T);
    bool good = v.bad == 0 && v.maxUse <= 1.0;
    std::printf("   float64 reference (first %lld tokens): expert selection differs in %lld row(s)%s;\n"
                "   layer output y: max |err| %.3g, relative ||err||/||y64|| %.3g, max err/bound %.3g: %s\n"
                "   y checksum (FNV-1a of the bf16 bytes): %016llx\n",
                (long long)T, (long long)v.differ,
                v.bad ? ", NOT near ties" : " (near ties: the library's ids are used)",
                v.maxErr, std::sqrt(v.errSq / std::max(v.refSq, 1e-300)), v.maxUse,
                good ? "within the bound" : "BOUND BROKEN", (unsigned long long)fnv);
    ok &= good;
    if (ep > 1 && mode != MODE_W8A8_A) {
        std::vector<uint16_t> yEp;
        double sec = 0;
        if (run_ep(L, ep, yEp, sec)) return 1;
        int64_t differ = 0;
        for (int64_t i = 0; i < N * H; i++) differ += bf16_value(yEp[i]) != bf16_value(y[i]);
        if (mode == MODE_BF16) {
            std::printf("   expert parallel over %d ranks (dispatch / MLP / combine, %.3f ms): %lld element(s) of y "
                        "differ from the single-device y: %s\n", ep, sec * 1e3, (long long)differ,
                        differ ? "FAILED" : "the same values");
            ok &= differ == 0;
        } else {
            Verdict ve = check(L, w, x, yEp, T, true);
            bool g = ve.bad == 0 && ve.maxUse <= 1.0;
            std::printf("   expert parallel over %d ranks (%.3f ms; dispatch quantizes with DynamicQuant's recipe): "
                        "%lld element(s) differ from the single-device y; max |err| %.3g, max err/bound %.3g: %s\n",
                        ep, sec * 1e3, (long long)differ, ve.maxErr, ve.maxUse,
                        g ? "within the bound" : "BOUND BROKEN");
            ok &= g;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    std::string preset = "small", mode = "all";
    int64_t tokens = -1, experts = -1, refTokens = 64;
    int reps = 3, ep = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : nullptr;
        if (a == "--preset" && val) preset = val, i++;
        else if (a == "--mode" && val) mode = val, i++;
        else if (a == "--tokens" && val) tokens = std::atoll(val), i++;
        else if (a == "--experts" && val) experts = std::atoll(val), i++;
        else if (a == "--reps" && val) reps = std::max(1, std::atoi(val)), i++;
        else if (a == "--ref-tokens" && val) refTokens = std::atoll(val), i++;
        else if (a == "--ep" && val) ep = std::atoi(val), i++;
        else if (a == "--seed" && val) seed = (uint64_t)std::atoll(val) & 0xFF, i++;
        else {
            std::printf("usage: %s [--preset small|mid|deepseek-v3] [--tokens N] [--experts E] "
                        "[--mode bf16|w8a8|w8a8-b|w8a8-a|all] [--reps R] [--ref-tokens T] [--seed S] [--ep W]\n",
                        argv[0]);
            return 2;
        }
    }
    Config c;
    int64_t N;
    if (preset == "small") c.H = 256, c.I = 128, c.E = 16, c.K = 4, N = 64;
    else if (preset == "mid") c.H = 1024, c.I = 512, c.E = 64, c.K = 8, N = 512;
    else if (preset == "deepseek-v3") c.H = 7168, c.I = 2048, c.E = 256, c.K = 8, N = 8;
    else {
        std::printf("unknown preset %s\n", preset.c_str());
        return 2;
    }
    if (experts > 0) c.E = experts;
    if (tokens > 0) N = tokens;
    if (c.E % c.groups || c.E / c.groups < 2 || c.K > c.topkGroups * (c.E / c.groups)) {
        std::printf("--experts must be a multiple of %lld with at least 2 per group and K <= %lld per group\n",
                    (long long)c.groups, (long long)c.topkGroups);
        return 2;
    }
    std::vector<Mode> modes;
    if (mode == "bf16" || mode == "all") modes.push_back(MODE_BF16);
    if (mode == "w8a8" || mode == "all") modes.push_back(MODE_W8A8_FUSED); // 14.2's default
    if (mode == "w8a8-b" || mode == "all") modes.push_back(MODE_W8A8_B);
    if (mode == "w8a8-a" || mode == "all") modes.push_back(MODE_W8A8_A);
    if (ep == 1 || ep < 0 || (ep > 1 && (c.E % ep || N % ep))) {
        std::printf("--ep W needs W >= 2 dividing the experts (%lld) and the tokens (%lld)\n", (long long)c.E,
                    (long long)N);
        return 2;
    }
    if (modes.empty()) {
        std::printf("unknown mode %s\n", mode.c_str());
        return 2;
    }
    // expert weights live twice (generated on the host, copied to the "device"): refuse what cannot fit
    double need = 0;
    for (Mode m : modes) need = std::max(need, 2.0 * (double)(3 * c.E * c.H * c.I) * (m == MODE_BF16 ? 2 : 1));
    double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (need > 0.85 * phys) {
        std::printf("the expert weights need %.1f GiB here (this machine has %.1f GiB): use --experts (e.g. %lld) "
                    "or --mode w8a8\n", need / 1073741824.0, phys / 1073741824.0,
                    (long long)std::max<int64_t>(16, (int64_t)(c.E * 0.85 * phys / need) / 8 * 8));
        return 2;
    }
    std::printf("MoE layer %s: H %lld, I %lld, E %lld, top-%lld, %lld groups (top-%lld), routed scaling %g; N %lld, "
                "seed %llu\n", preset.c_str(), (long long)c.H, (long long)c.I, (long long)c.E, (long long)c.K,
                (long long)c.groups, (long long)c.topkGroups, c.rsf, (long long)N, (unsigned long long)seed);

    int32_t deviceId = 0;
    aclrtStream stream;
    CHECK_RET(aclInit(nullptr) == ACL_SUCCESS, "aclInit");
    CHECK_RET(aclrtSetDevice(deviceId) == ACL_SUCCESS, "aclrtSetDevice");
    CHECK_RET(aclrtCreateStream(&stream) == ACL_SUCCESS, "aclrtCreateStream");
    bool ok = true;
    int rc = 0;
    for (Mode m : modes)
        if ((rc = run_mode(c, N, m, reps, refTokens, seed, ep, stream, ok)) != 0) break;
    aclrtDestroyStream(stream);
    aclrtResetDevice(deviceId);
    aclFinalize();
    if (rc) return rc;
    std::printf(ok ? "verified: the layer output is within its error bound of the float64 reference\n"
                   : "FAILED: the layer output breaks its error bound\n");
    return ok ? 0 : 1;
}
