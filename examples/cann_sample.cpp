/*
 * A CANN-style sample of aclnnMoeInitRoutingQuant, written as the Ascend examples are: it includes only the
 * CANN headers and uses only CANN calls, so it builds unchanged against CANN or against moeroute:
 *     c++ cann_sample.cpp $(pkg-config --cflags --libs moeroute)
 * Input: the documented example (spec 1.5): x = [[.1]*4, [.2]*4, [.3]*4], expertIdx = [[1,2],[0,1],[0,2]],
 * rowIdx = [[0,3],[1,4],[2,5]], activeNum = 3, scale = 1, offset = 1.
 */
#include <cstdint>
#include <cstdio>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_init_routing_quant.h"

#define CHECK_RET(cond, return_expr) \
    do {                             \
        if (!(cond)) {               \
            return_expr;             \
        }                            \
    } while (0)

#define LOG_PRINT(message, ...)         \
    do {                                \
        printf(message, ##__VA_ARGS__); \
    } while (0)

int64_t GetShapeSize(const std::vector<int64_t> &shape)
{
    int64_t shapeSize = 1;
    for (auto i : shape) shapeSize *= i;
    return shapeSize;
}

int Init(int32_t deviceId, aclrtStream *stream)
{
    auto ret = aclInit(nullptr);
    CHECK_RET(ret == ACL_SUCCESS, LOG_PRINT("aclInit failed. ERROR: %d\n", ret); return ret);
    ret = aclrtSetDevice(deviceId);
    CHECK_RET(ret == ACL_SUCCESS, LOG_PRINT("aclrtSetDevice failed. ERROR: %d\n", ret); return ret);
    ret = aclrtCreateStream(stream);
    CHECK_RET(ret == ACL_SUCCESS, LOG_PRINT("aclrtCreateStream failed. ERROR: %d\n", ret); return ret);
    return 0;
}

template <typename T>
int CreateAclTensor(const std::vector<T> &hostData, const std::vector<int64_t> &shape, void **deviceAddr,
                    aclDataType dataType, aclTensor **tensor)
{
    auto size = GetShapeSize(shape) * sizeof(T);
    auto ret = aclrtMalloc(deviceAddr, size, ACL_MEM_MALLOC_HUGE_FIRST);
    CHECK_RET(ret == ACL_SUCCESS, LOG_PRINT("aclrtMalloc failed. ERROR: %d\n", ret); return ret);
    ret = aclrtMemcpy(*deviceAddr, size, hostData.data(), size, ACL_MEMCPY_HOST_TO_DEVICE);
    CHECK_RET(ret == ACL_SUCCESS, LOG_PRINT("aclrtMemcpy failed. ERROR: %d\n", ret); return ret);

    std::vector<int64_t> strides(shape.size(), 1);
    for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; i--) strides[i] = shape[i + 1] * strides[i + 1];
    *tensor = aclCreateTensor(shape.data(), shape.size(), dataType, strides.data(), 0, aclFormat::ACL_FORMAT_ND,
                              shape.data(), shape.size(), *deviceAddr);
    return 0;
}

int main()
{
    int32_t deviceId = 0;
    aclrtStream stream;
    auto ret = Init(deviceId, &stream);
    CHECK_RET(ret == 0, LOG_PRINT("Init acl failed. ERROR: %d\n", ret); return ret);

    std::vector<int64_t> xShape = {3, 4};
    std::vector<int64_t> idxShape = {3, 2};
    std::vector<int64_t> expandedXShape = {6, 4};
    std::vector<int64_t> expandedIdxShape = {6};
    std::vector<float> xHostData = {0.1f, 0.1f, 0.1f, 0.1f, 0.2f, 0.2f, 0.2f, 0.2f, 0.3f, 0.3f, 0.3f, 0.3f};
    std::vector<int32_t> expertIdxHostData = {1, 2, 0, 1, 0, 2};
    std::vector<int32_t> rowIdxHostData = {0, 3, 1, 4, 2, 5};
    std::vector<int8_t> expandedXHostData(24, 0);
    std::vector<int32_t> expandedRowIdxHostData(6, 0);
    std::vector<int32_t> expandedExpertIdxHostData(6, 0);
    int64_t activeNum = 3;
    double scale = 1.0;
    double offset = 1.0;

    void *xDeviceAddr = nullptr, *rowIdxDeviceAddr = nullptr, *expertIdxDeviceAddr = nullptr;
    void *expandedXDeviceAddr = nullptr, *expandedRowIdxDeviceAddr = nullptr, *expandedExpertIdxDeviceAddr = nullptr;
    aclTensor *x = nullptr, *rowIdx = nullptr, *expertIdx = nullptr;
    aclTensor *expandedX = nullptr, *expandedRowIdx = nullptr, *expandedExpertIdx = nullptr;

    ret = CreateAclTensor(xHostData, xShape, &xDeviceAddr, aclDataType::ACL_FLOAT, &x);
    CHECK_RET(ret == ACL_SUCCESS, return ret);
    ret = CreateAclTensor(rowIdxHostData, idxShape, &rowIdxDeviceAddr, aclDataType::ACL_INT32, &rowIdx);
    CHECK_RET(ret == ACL_SUCCESS, return ret);
    ret = CreateAclTensor(expertIdxHostData, idxShape, &expertIdxDeviceAddr, aclDataType::ACL_INT32, &expertIdx);
    CHECK_RET(ret == ACL_SUCCESS, return ret);
    ret = CreateAclTensor(expandedXHostData, expandedXShape, &expandedXDeviceAddr, aclDataType::ACL_INT8, &expandedX);
    CHECK_RET(ret == ACL_SUCCESS, return ret);
    ret = CreateAclTensor(expandedRowIdxHostData, expandedIdxShape, &expandedRowIdxDeviceAddr,
                          aclDataType::ACL_INT32, &expandedRowIdx);
    CHECK_RET(ret == ACL_SUCCESS, return ret);
    ret = CreateAclTensor(expandedExpertIdxHostData, expandedIdxShape, &expandedExpertIdxDeviceAddr,
                          aclDataType::ACL_INT32, &expandedExpertIdx);
    CHECK_RET(ret == ACL_SUCCESS, return ret);

    uint64_t workspaceSize = 0;
    aclOpExecutor *executor;
    ret = aclnnMoeInitRoutingQuantGetWorkspaceSize(x, rowIdx, expertIdx, activeNum, scale, offset, expandedX,
                                                   expandedRowIdx, expandedExpertIdx, &workspaceSize, &executor);
    CHECK_RET(ret == ACL_SUCCESS,
              LOG_PRINT("aclnnMoeInitRoutingQuantGetWorkspaceSize failed. ERROR: %d (%s)\n", ret, aclGetRecentErrMsg());
              return ret);
    void *workspaceAddr = nullptr;
    if (workspaceSize > 0) {
        ret = aclrtMalloc(&workspaceAddr, workspaceSize, ACL_MEM_MALLOC_HUGE_FIRST);
        CHECK_RET(ret == ACL_SUCCESS, LOG_PRINT("allocate workspace failed. ERROR: %d\n", ret); return ret);
    }
    ret = aclnnMoeInitRoutingQuant(workspaceAddr, workspaceSize, executor, stream);
    CHECK_RET(ret == ACL_SUCCESS,
              LOG_PRINT("aclnnMoeInitRoutingQuant failed. ERROR: %d (%s)\n", ret, aclGetRecentErrMsg()); return ret);
    ret = aclrtSynchronizeStream(stream);
    CHECK_RET(ret == ACL_SUCCESS, LOG_PRINT("aclrtSynchronizeStream failed. ERROR: %d\n", ret); return ret);

    ret = aclrtMemcpy(expandedXHostData.data(), expandedXHostData.size(), expandedXDeviceAddr,
                      expandedXHostData.size(), ACL_MEMCPY_DEVICE_TO_HOST);
    CHECK_RET(ret == ACL_SUCCESS, return ret);
    ret = aclrtMemcpy(expandedRowIdxHostData.data(), expandedRowIdxHostData.size() * sizeof(int32_t),
                      expandedRowIdxDeviceAddr, expandedRowIdxHostData.size() * sizeof(int32_t),
                      ACL_MEMCPY_DEVICE_TO_HOST);
    CHECK_RET(ret == ACL_SUCCESS, return ret);
    ret = aclrtMemcpy(expandedExpertIdxHostData.data(), expandedExpertIdxHostData.size() * sizeof(int32_t),
                      expandedExpertIdxDeviceAddr, expandedExpertIdxHostData.size() * sizeof(int32_t),
                      ACL_MEMCPY_DEVICE_TO_HOST);
    CHECK_RET(ret == ACL_SUCCESS, return ret);

    LOG_PRINT("aclnnMoeInitRoutingQuant on the documented example (x fp32 [3,4], K = 2, activeNum 3, scale 1, offset 1)\n");
    LOG_PRINT("expandedExpertIdx: ");
    for (auto v : expandedExpertIdxHostData) LOG_PRINT("%d ", v);
    LOG_PRINT("\nexpandedRowIdx:    ");
    for (auto v : expandedRowIdxHostData) LOG_PRINT("%d ", v);
    LOG_PRINT("\nexpandedX (int8):\n");
    for (size_t r = 0; r < 6; r++) {
        LOG_PRINT("  row %zu:", r);
        for (size_t h = 0; h < 4; h++) LOG_PRINT(" %d", expandedXHostData[r * 4 + h]);
        LOG_PRINT("\n");
    }

    aclDestroyTensor(x);
    aclDestroyTensor(rowIdx);
    aclDestroyTensor(expertIdx);
    aclDestroyTensor(expandedX);
    aclDestroyTensor(expandedRowIdx);
    aclDestroyTensor(expandedExpertIdx);
    aclrtFree(xDeviceAddr);
    aclrtFree(rowIdxDeviceAddr);
    aclrtFree(expertIdxDeviceAddr);
    aclrtFree(expandedXDeviceAddr);
    aclrtFree(expandedRowIdxDeviceAddr);
    aclrtFree(expandedExpertIdxDeviceAddr);
    if (workspaceSize > 0) aclrtFree(workspaceAddr);
    aclrtDestroyStream(stream);
    aclrtResetDevice(deviceId);
    aclFinalize();
    return 0;
}
