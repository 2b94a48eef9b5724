// A CANN-style program for aclnnMoeInitRoutingV3 (what torch_npu's npu_moe_init_routing_v2 calls): the same
// ACL runtime sequence as on an Ascend device, written for moeroute's documentation. Routes three tokens to
// top-2 of three experts, once copying the rows (quantMode -1) and once quantizing them per row (quantMode 1),
// and prints the results (docs/operators/init_routing_v3.md has the arithmetic).
#include <cstdint>
#include <cstdio>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_init_routing_v3.h"

#define CHECK_RET(cond, what)                                                                                 \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            std::printf("%s failed: %s\n", what, aclGetRecentErrMsg());                                       \
            return 1;                                                                                         \
        }                                                                                                     \
    } while (0)

template <typename T>
static int make_tensor(const std::vector<T> &host, const std::vector<int64_t> &shape, aclDataType dt, void **dev,
                       aclTensor **t)
{
    size_t bytes = host.size() * sizeof(T);
    if (aclrtMalloc(dev, bytes > 0 ? bytes : 1, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return 1;
    if (bytes && aclrtMemcpy(*dev, bytes, host.data(), bytes, ACL_MEMCPY_HOST_TO_DEVICE) != ACL_SUCCESS) return 1;
    std::vector<int64_t> strides(shape.size(), 1);
    for (int64_t i = (int64_t)shape.size() - 2; i >= 0; i--) strides[i] = shape[i + 1] * strides[i + 1];
    *t = aclCreateTensor(shape.data(), shape.size(), dt, strides.data(), 0, ACL_FORMAT_ND, shape.data(), shape.size(),
                         *dev);
    return *t == nullptr;
}

template <typename T> static std::vector<T> fetch(void *dev, size_t n)
{
    std::vector<T> host(n);
    if (n) aclrtMemcpy(host.data(), n * sizeof(T), dev, n * sizeof(T), ACL_MEMCPY_DEVICE_TO_HOST);
    return host;
}

static int run(aclrtStream stream, int64_t quantMode)
{
    const int64_t N = 3, H = 4, K = 2, E = 3;
    std::vector<float> x = {0.1f, 0.1f, 0.1f, 0.1f, 0.2f, 0.2f, 0.2f, 0.2f, 0.3f, 0.3f, 0.3f, 0.3f};
    std::vector<int32_t> expertIdx = {1, 2, 0, 1, 0, 2};
    void *xDev, *eDev, *oxDev, *orDev, *ocDev, *osDev;
    aclTensor *xT, *eT, *oxT, *orT, *ocT, *osT;
    CHECK_RET(!make_tensor(x, {N, H}, ACL_FLOAT, &xDev, &xT), "x");
    CHECK_RET(!make_tensor(expertIdx, {N, K}, ACL_INT32, &eDev, &eT), "expertIdx");
    if (quantMode == 1) {
        CHECK_RET(!make_tensor(std::vector<int8_t>(N * K * H), {N * K, H}, ACL_INT8, &oxDev, &oxT), "expandedX");
    } else {
        CHECK_RET(!make_tensor(std::vector<float>(N * K * H), {N * K, H}, ACL_FLOAT, &oxDev, &oxT), "expandedX");
    }
    CHECK_RET(!make_tensor(std::vector<int32_t>(N * K), {N * K}, ACL_INT32, &orDev, &orT), "expandedRowIdx");
    CHECK_RET(!make_tensor(std::vector<int64_t>(E), {E}, ACL_INT64, &ocDev, &ocT), "expertTokens");
    CHECK_RET(!make_tensor(std::vector<float>(N * K), {N * K}, ACL_FLOAT, &osDev, &osT), "expandedScale");
    std::vector<int64_t> range = {0, E};
    aclIntArray *activeExpertRange = aclCreateIntArray(range.data(), range.size());

    uint64_t workspaceSize = 0;
    aclOpExecutor *executor = nullptr;
    aclnnStatus ret = aclnnMoeInitRoutingV3GetWorkspaceSize(
        xT, eT, nullptr, nullptr, /*activeNum*/ N * K, /*expertCapacity*/ -1, /*expertNum*/ E, /*dropPadMode*/ 0,
        /*expertTokensNumType*/ 1, /*expertTokensNumFlag*/ true, quantMode, activeExpertRange, /*rowIdxType*/ 0, oxT,
        orT, ocT, osT, &workspaceSize, &executor);
    CHECK_RET(ret == ACL_SUCCESS, "aclnnMoeInitRoutingV3GetWorkspaceSize");
    void *workspace = nullptr;
    if (workspaceSize > 0) CHECK_RET(aclrtMalloc(&workspace, workspaceSize, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "workspace");
    CHECK_RET(aclnnMoeInitRoutingV3(workspace, workspaceSize, executor, stream) == ACL_SUCCESS, "aclnnMoeInitRoutingV3");
    CHECK_RET(aclrtSynchronizeStream(stream) == ACL_SUCCESS, "aclrtSynchronizeStream");

    std::printf("quantMode %lld\n", (long long)quantMode);
    std::printf("expandedRowIdx:");
    for (int32_t v : fetch<int32_t>(orDev, N * K)) std::printf(" %d", v);
    std::printf("\nexpertTokens:");
    for (int64_t v : fetch<int64_t>(ocDev, E)) std::printf(" %lld", (long long)v);
    std::printf("\n");
    if (quantMode == 1) {
        std::vector<int8_t> q = fetch<int8_t>(oxDev, N * K * H);
        std::vector<float> s = fetch<float>(osDev, N * K);
        for (int64_t r = 0; r < N * K; r++)
            std::printf("row %lld: %d %d %d %d scale %.9g\n", (long long)r, q[r * H], q[r * H + 1], q[r * H + 2],
                        q[r * H + 3], s[r]);
    } else {
        std::vector<float> ex = fetch<float>(oxDev, N * K * H);
        for (int64_t r = 0; r < N * K; r++) std::printf("row %lld: %g\n", (long long)r, ex[r * H]);
    }
    aclDestroyIntArray(activeExpertRange);
    aclDestroyTensor(xT), aclDestroyTensor(eT), aclDestroyTensor(oxT), aclDestroyTensor(orT), aclDestroyTensor(ocT);
    aclDestroyTensor(osT);
    for (void *p : {xDev, eDev, oxDev, orDev, ocDev, osDev}) aclrtFree(p);
    if (workspace) aclrtFree(workspace);
    return 0;
}

int main()
{
    int32_t deviceId = 0;
    aclrtStream stream;
    CHECK_RET(aclInit(nullptr) == ACL_SUCCESS, "aclInit");
    CHECK_RET(aclrtSetDevice(deviceId) == ACL_SUCCESS, "aclrtSetDevice");
    CHECK_RET(aclrtCreateStream(&stream) == ACL_SUCCESS, "aclrtCreateStream");
    int rc = run(stream, -1) || run(stream, 1);
    aclrtDestroyStream(stream);
    aclrtResetDevice(deviceId);
    aclFinalize();
    return rc;
}
