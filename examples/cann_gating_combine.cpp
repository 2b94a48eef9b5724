// A CANN-style program (acl + aclnn calls only, CANN's header names) around the expert FFN of an MoE layer:
//   aclnnMoeGatingTopK      DeepSeek-style gating: sigmoid scores, 4 groups of 2 experts, the 2 best groups kept
//                           (scored by their two best experts), top-2 experts, renormalised, scaled by 2.5
//   aclnnMoeTokenPermute    the tokens' copies grouped by expert
//   aclnnMoeTokenUnpermute  the (here: unchanged) expert rows weighted by the gating weights and summed
// Each result is checked against values computed in this program (double precision for the gating weights,
// exact arithmetic for the rest); prints "verified" and exits 0 when everything matches.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_gating_top_k.h"
#include "aclnnop/aclnn_moe_token_permute.h"
#include "aclnnop/aclnn_moe_token_unpermute.h"

#define CHECK_ACL(expr)                                                                                      \
    do {                                                                                                     \
        auto rc_ = (expr);                                                                                   \
        if (rc_ != 0) {                                                                                      \
            std::printf("%s failed: %d (%s)\n", #expr, (int)rc_, aclGetRecentErrMsg());                      \
            return 1;                                                                                        \
        }                                                                                                    \
    } while (0)

// A device buffer holding `host`, and a contiguous ND tensor over it.
struct Buf {
    void *dev = nullptr;
    aclTensor *t = nullptr;
    size_t bytes = 0;
};

template <typename T>
static int make(Buf &b, const std::vector<T> &host, std::vector<int64_t> shape, aclDataType dt)
{
    b.bytes = host.size() * sizeof(T);
    if (aclrtMalloc(&b.dev, b.bytes ? b.bytes : 1, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return 1;
    if (b.bytes && aclrtMemcpy(b.dev, b.bytes, host.data(), b.bytes, ACL_MEMCPY_HOST_TO_DEVICE) != ACL_SUCCESS)
        return 1;
    std::vector<int64_t> strides(shape.size(), 1);
    for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
    b.t = aclCreateTensor(shape.data(), shape.size(), dt, strides.data(), 0, ACL_FORMAT_ND, shape.data(),
                          shape.size(), b.dev);
    return b.t ? 0 : 1;
}

template <typename T>
static std::vector<T> fetch(const Buf &b)
{
    std::vector<T> host(b.bytes / sizeof(T));
    aclrtMemcpy(host.data(), b.bytes, b.dev, b.bytes, ACL_MEMCPY_DEVICE_TO_HOST);
    return host;
}

// GetWorkspaceSize has run; allocate the workspace, execute, wait.
template <typename F>
static int run(uint64_t ws_size, aclOpExecutor *exe, aclrtStream stream, F execute)
{
    void *ws = nullptr;
    if (ws_size && aclrtMalloc(&ws, ws_size, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return 1;
    int rc = execute(ws, ws_size, exe, stream);
    if (rc == 0) rc = aclrtSynchronizeStream(stream);
    if (ws) aclrtFree(ws);
    return rc;
}

int main()
{
    const int64_t N = 3, E = 8, K = 2, H = 4, G = 4, KG = 2;
    const double rsf = 2.5;
    CHECK_ACL(aclInit(nullptr));
    CHECK_ACL(aclrtSetDevice(0));
    aclrtStream stream = nullptr;
    CHECK_ACL(aclrtCreateStream(&stream));

    // ---- gating ----
    const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f,  1.5f, 1.0f, -2.0f, 0.25f,   // token 0
                                       -0.5f, 3.0f, 0.0f, 0.75f, -1.0f, -1.5f, 1.25f, 1.0f,  // token 1
                                       1.0f, 1.0f, 1.0f, 1.0f,  1.0f, 1.0f, 1.0f, 1.0f};     // token 2: all tied
    const std::vector<float> bias = {0, 0, 0, 0, 0, 0, 0.5f, 0};
    Buf x, b, y, idx, out;
    if (make(x, logits, {N, E}, ACL_FLOAT) || make(b, bias, {E}, ACL_FLOAT) ||
        make(y, std::vector<float>(N * K), {N, K}, ACL_FLOAT) ||
        make(idx, std::vector<int32_t>(N * K), {N, K}, ACL_INT32) ||
        make(out, std::vector<float>(N * E), {N, E}, ACL_FLOAT))
        return 1;
    uint64_t ws = 0;
    aclOpExecutor *exe = nullptr;
    CHECK_ACL(aclnnMoeGatingTopKGetWorkspaceSize(x.t, b.t, K, KG, G, 1, 0, 1, false, rsf, 1e-20, y.t, idx.t, out.t,
                                                 &ws, &exe));
    CHECK_ACL(run(ws, exe, stream, aclnnMoeGatingTopK));
    const std::vector<float> w = fetch<float>(y);
    const std::vector<int32_t> experts = fetch<int32_t>(idx);

    // the reference: sigmoid in double, groups scored by their two best biased scores, stable top-k
    int failures = 0;
    for (int64_t r = 0; r < N; r++) {
        double s[8], sb[8], gs[4];
        for (int64_t e = 0; e < E; e++) {
            s[e] = 1.0 / (1.0 + std::exp(-(double)logits[r * E + e]));
            sb[e] = s[e] + bias[e];
        }
        for (int64_t g = 0; g < G; g++) gs[g] = sb[2 * g] + sb[2 * g + 1];
        bool keep[4] = {false, false, false, false};
        for (int64_t j = 0; j < KG; j++) {
            int64_t best = -1;
            for (int64_t g = 0; g < G; g++)
                if (!keep[g] && (best < 0 || gs[g] > gs[best])) best = g;
            keep[best] = true;
        }
        int64_t sel[2] = {-1, -1};
        bool used[8] = {false};
        for (int64_t j = 0; j < K; j++) {
            for (int64_t e = 0; e < E; e++)
                if (keep[e / 2] && !used[e] && (sel[j] < 0 || sb[e] > sb[sel[j]])) sel[j] = e;
            used[sel[j]] = true;
        }
        const double sum = s[sel[0]] + s[sel[1]];
        for (int64_t j = 0; j < K; j++) {
            const double want = s[sel[j]] / sum * rsf, got = w[r * K + j];
            if (experts[r * K + j] != sel[j] || std::fabs(got - want) > 1e-6 * want) {
                std::printf("gating row %lld slot %lld: expert %d weight %.8f, want expert %lld weight %.8f\n",
                            (long long)r, (long long)j, experts[r * K + j], got, (long long)sel[j], want);
                failures++;
            }
        }
        std::printf("token %lld -> experts %d, %d  weights %.6f, %.6f\n", (long long)r, experts[r * K],
                    experts[r * K + 1], w[r * K], w[r * K + 1]);
    }

    // ---- permute: every token's K copies, grouped by expert (stable) ----
    std::vector<float> tok(N * H);
    for (int64_t i = 0; i < N * H; i++) tok[i] = (float)(i / H + 1) + 0.125f * (float)(i % H);
    Buf t, perm, sidx;
    if (make(t, tok, {N, H}, ACL_FLOAT) || make(perm, std::vector<float>(N * K * H), {N * K, H}, ACL_FLOAT) ||
        make(sidx, std::vector<int32_t>(N * K), {N * K}, ACL_INT32))
        return 1;
    CHECK_ACL(aclnnMoeTokenPermuteGetWorkspaceSize(t.t, idx.t, N * K, false, perm.t, sidx.t, &ws, &exe));
    CHECK_ACL(run(ws, exe, stream, aclnnMoeTokenPermute));
    const std::vector<float> rows = fetch<float>(perm);
    const std::vector<int32_t> sorted = fetch<int32_t>(sidx);
    for (int64_t f = 0; f < N * K; f++) { // copy f = (token f / K, slot f % K) sits at row sorted[f]
        const int32_t d = sorted[f];
        if (d < 0 || d >= N * K || std::memcmp(&rows[d * H], &tok[(f / K) * H], H * sizeof(float)) != 0) {
            std::printf("permute: copy %lld is not at row %d\n", (long long)f, d);
            failures++;
        }
        for (int64_t g = 0; g < N * K; g++) // stable by expert: a lower expert, or the same one earlier, comes first
            if (experts[g] < experts[f] || (experts[g] == experts[f] && g < f)) failures += sorted[g] > d;
    }

    // ---- unpermute: the expert rows (here the copies themselves) weighted by the gating weights ----
    Buf o;
    if (make(o, std::vector<float>(N * H), {N, H}, ACL_FLOAT)) return 1;
    CHECK_ACL(aclnnMoeTokenUnpermuteGetWorkspaceSize(perm.t, sidx.t, y.t, false, nullptr, o.t, &ws, &exe));
    CHECK_ACL(run(ws, exe, stream, aclnnMoeTokenUnpermute));
    const std::vector<float> combined = fetch<float>(o);
    for (int64_t r = 0; r < N; r++)
        for (int64_t h = 0; h < H; h++) { // fp32, slot order: token * w0, then + token * w1
            const float want = tok[r * H + h] * w[r * K] + tok[r * H + h] * w[r * K + 1];
            if (combined[r * H + h] != want) {
                std::printf("unpermute [%lld][%lld] = %.8f, want %.8f\n", (long long)r, (long long)h,
                            combined[r * H + h], want);
                failures++;
            }
        }
    std::printf("combined token 0: %.6f %.6f %.6f %.6f (token 0 times %.6f)\n", combined[0], combined[1],
                combined[2], combined[3], w[0] + w[1]);

    for (Buf *p : {&x, &b, &y, &idx, &out, &t, &perm, &sidx, &o}) {
        aclDestroyTensor(p->t);
        aclrtFree(p->dev);
    }
    aclrtDestroyStream(stream);
    aclrtResetDevice(0);
    aclFinalize();
    std::printf(failures ? "NOT verified: %d mismatches\n" : "verified: gating, permute and unpermute match the "
                                                              "reference computed here\n",
                failures);
    return failures ? 1 : 0;
}
