/* A CANN-style program in plain C: the documented MoeInitRoutingQuant example through the installed
 * headers, checked against the documented result. Exit code 0 when it matches. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_init_routing_quant.h"

static aclTensor *tensor(const int64_t *shape, uint64_t rank, aclDataType dt, void *dev)
{
    int64_t strides[2] = {rank == 2 ? shape[1] : 1, 1};
    return aclCreateTensor(shape, rank, dt, strides, 0, ACL_FORMAT_ND, shape, rank, dev);
}

int main(void)
{
    const float x[12] = {.1f, .1f, .1f, .1f, .2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f};
    const int32_t expert[6] = {1, 2, 0, 1, 0, 2}, rows[6] = {0, 3, 1, 4, 2, 5};
    const int32_t want_erow[6] = {2, 0, 1, 4, 3, 5}, want_eexp[6] = {0, 0, 1, 1, 2, 2};
    int8_t ex[24];
    int32_t erow[6], eexp[6];
    aclrtStream stream;
    void *dx, *dr, *de, *dex, *der, *dee, *ws = NULL;
    if (aclInit(NULL) || aclrtSetDevice(0) || aclrtCreateStream(&stream)) return 1;
    if (aclrtMalloc(&dx, sizeof x, ACL_MEM_MALLOC_HUGE_FIRST) || aclrtMalloc(&dr, 24, ACL_MEM_MALLOC_HUGE_FIRST) ||
        aclrtMalloc(&de, 24, ACL_MEM_MALLOC_HUGE_FIRST) || aclrtMalloc(&dex, 24, ACL_MEM_MALLOC_HUGE_FIRST) ||
        aclrtMalloc(&der, 24, ACL_MEM_MALLOC_HUGE_FIRST) || aclrtMalloc(&dee, 24, ACL_MEM_MALLOC_HUGE_FIRST))
        return 1;
    aclrtMemcpy(dx, sizeof x, x, sizeof x, ACL_MEMCPY_HOST_TO_DEVICE);
    aclrtMemcpy(dr, 24, rows, 24, ACL_MEMCPY_HOST_TO_DEVICE);
    aclrtMemcpy(de, 24, expert, 24, ACL_MEMCPY_HOST_TO_DEVICE);
    const int64_t xs[2] = {3, 4}, is[2] = {3, 2}, exs[2] = {6, 4}, os[1] = {6};
    aclTensor *tx = tensor(xs, 2, ACL_FLOAT, dx), *tr = tensor(is, 2, ACL_INT32, dr), *te = tensor(is, 2, ACL_INT32, de);
    aclTensor *tex = tensor(exs, 2, ACL_INT8, dex), *ter = tensor(os, 1, ACL_INT32, der), *tee = tensor(os, 1, ACL_INT32, dee);
    uint64_t ws_size = 0;
    aclOpExecutor *exe;
    aclnnStatus st = aclnnMoeInitRoutingQuantGetWorkspaceSize(tx, tr, te, 3, 1.0, 1.0, tex, ter, tee, &ws_size, &exe);
    if (st == ACLNN_SUCCESS && ws_size > 0 && aclrtMalloc(&ws, ws_size, ACL_MEM_MALLOC_HUGE_FIRST)) return 1;
    if (st == ACLNN_SUCCESS) st = aclnnMoeInitRoutingQuant(ws, ws_size, exe, stream);
    if (st != ACLNN_SUCCESS || aclrtSynchronizeStream(stream)) {
        printf("failed: %d %s\n", st, aclGetRecentErrMsg());
        return 1;
    }
    aclrtMemcpy(ex, sizeof ex, dex, sizeof ex, ACL_MEMCPY_DEVICE_TO_HOST);
    aclrtMemcpy(erow, 24, der, 24, ACL_MEMCPY_DEVICE_TO_HOST);
    aclrtMemcpy(eexp, 24, dee, 24, ACL_MEMCPY_DEVICE_TO_HOST);
    int ok = memcmp(erow, want_erow, 24) == 0 && memcmp(eexp, want_eexp, 24) == 0;
    for (int i = 0; i < 24; i++) ok &= ex[i] == 1;
    aclDestroyTensor(tx), aclDestroyTensor(tr), aclDestroyTensor(te);
    aclDestroyTensor(tex), aclDestroyTensor(ter), aclDestroyTensor(tee);
    aclrtFree(dx), aclrtFree(dr), aclrtFree(de), aclrtFree(dex), aclrtFree(der), aclrtFree(dee);
    if (ws) aclrtFree(ws);
    aclrtDestroyStream(stream);
    aclrtResetDevice(0);
    aclFinalize();
    printf("C consumer: %s\n", ok ? "documented result" : "WRONG RESULT");
    return ok ? 0 : 1;
}
