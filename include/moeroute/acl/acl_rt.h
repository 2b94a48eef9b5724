/* acl/acl_rt.h -- the ACL runtime subset, acting on host memory: device 0 is this machine's CPU.
 *
 * Semantics on moeroute (spec decision 10):
 *  - aclInit must come first; aclrt* calls made before it, or after aclFinalize, return
 *    ACL_ERROR_UNINITIALIZE, except the release calls (aclrtFree, aclrtFreeHost, aclrtDestroyStream,
 *    aclrtDestroyContext), which stay valid so that nothing has to leak. A second aclInit returns
 *    ACL_ERROR_REPEAT_INITIALIZE; aclFinalize without a live aclInit returns ACL_ERROR_REPEAT_FINALIZE.
 *    After aclFinalize, aclInit may be called again. The aclnn operators and tensor calls need no aclInit.
 *  - Logical devices 0..D-1 exist, all in host memory (layer decision 16); D comes from the environment
 *    variable MOEROUTE_DEVICE_COUNT (1..65536, read once), default 16. Other ids give
 *    ACL_ERROR_RT_INVALID_DEVICEID. Each thread has its own current device and context, as in ACL:
 *    aclrtSetDevice sets the thread's device; aclrtCreateContext makes the new context (bound to its
 *    device) current on the calling thread; aclrtSetCurrentContext also makes the context's device the
 *    thread's device; aclrtResetDevice(d) unsets the thread's device when it is d.
 *  - Streams are ordered queues whose work runs on the enqueuing thread when it is enqueued; so
 *    aclrtSynchronizeStream only checks the handle, and data-dependent operator errors are returned by
 *    the enqueuing call itself. A NULL stream is the default stream.
 *  - aclrtMalloc returns host memory aligned to 64 bytes. With a HUGE_* policy (the default HUGE_FIRST
 *    included), blocks of 2 MiB or more are 2 MiB aligned and advised to use transparent huge pages (best
 *    effort: HUGE_ONLY does not fail where the system has none); NORMAL_ONLY uses ordinary pages.
 *    aclrtFree/aclrtFreeHost refuse pointers that did not come from the matching allocator
 *    (ACL_ERROR_INVALID_PARAM), never crash on them.
 *  - aclrtMemcpy/aclrtMemset refuse count > destMax (ACL_ERROR_INVALID_PARAM) and write nothing then.
 * All functions are thread-safe. */
#ifndef MOEROUTE_ACL_ACL_RT_H
#define MOEROUTE_ACL_ACL_RT_H

#include "acl/acl_base.h"
#include "acl/error_codes/rt_error_codes.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum aclrtRunMode { ACL_DEVICE = 0, ACL_HOST = 1 } aclrtRunMode;

typedef enum aclrtMemcpyKind {
    ACL_MEMCPY_HOST_TO_HOST = 0,
    ACL_MEMCPY_HOST_TO_DEVICE = 1,
    ACL_MEMCPY_DEVICE_TO_HOST = 2,
    ACL_MEMCPY_DEVICE_TO_DEVICE = 3,
    ACL_MEMCPY_DEFAULT = 4,
    ACL_MEMCPY_HOST_TO_BUF_TO_DEVICE = 5,
    ACL_MEMCPY_INNER_DEVICE_TO_DEVICE = 6,
    ACL_MEMCPY_INTER_DEVICE_TO_DEVICE = 7
} aclrtMemcpyKind;

typedef enum aclrtMemMallocPolicy {
    ACL_MEM_MALLOC_HUGE_FIRST = 0,
    ACL_MEM_MALLOC_HUGE_ONLY = 1,
    ACL_MEM_MALLOC_NORMAL_ONLY = 2,
    ACL_MEM_MALLOC_HUGE_FIRST_P2P = 3,
    ACL_MEM_MALLOC_HUGE_ONLY_P2P = 4,
    ACL_MEM_MALLOC_NORMAL_ONLY_P2P = 5,
    ACL_MEM_MALLOC_HUGE1G_ONLY = 6,
    ACL_MEM_MALLOC_HUGE1G_ONLY_P2P = 7,
    ACL_MEM_TYPE_LOW_BAND_WIDTH = 0x0100,
    ACL_MEM_TYPE_HIGH_BAND_WIDTH = 0x1000,
    ACL_MEM_ACCESS_USER_SPACE_READONLY = 0x100000
} aclrtMemMallocPolicy;

typedef enum aclrtFloatOverflowMode {
    ACL_RT_OVERFLOW_MODE_SATURATION = 0,
    ACL_RT_OVERFLOW_MODE_INFNAN = 1,
    ACL_RT_OVERFLOW_MODE_UNDEF = 2
} aclrtFloatOverflowMode;

/* Initialize the runtime. configPath may be NULL or a path (it is not read). */
ACL_FUNC_VISIBILITY aclError aclInit(const char *configPath);
/* Finalize: releases nothing the user still owns; streams and allocations stay valid to free. */
ACL_FUNC_VISIBILITY aclError aclFinalize(void);

ACL_FUNC_VISIBILITY aclError aclrtSetDevice(int32_t deviceId);
ACL_FUNC_VISIBILITY aclError aclrtResetDevice(int32_t deviceId);
/* Device set on this thread; ACL_ERROR_RT_CONTEXT_NULL if none was set. */
ACL_FUNC_VISIBILITY aclError aclrtGetDevice(int32_t *deviceId);
ACL_FUNC_VISIBILITY aclError aclrtGetDeviceCount(uint32_t *count);
ACL_FUNC_VISIBILITY aclError aclrtGetRunMode(aclrtRunMode *runMode);

ACL_FUNC_VISIBILITY aclError aclrtCreateContext(aclrtContext *context, int32_t deviceId);
ACL_FUNC_VISIBILITY aclError aclrtDestroyContext(aclrtContext context);
ACL_FUNC_VISIBILITY aclError aclrtSetCurrentContext(aclrtContext context);
ACL_FUNC_VISIBILITY aclError aclrtGetCurrentContext(aclrtContext *context);

ACL_FUNC_VISIBILITY aclError aclrtCreateStream(aclrtStream *stream);
ACL_FUNC_VISIBILITY aclError aclrtDestroyStream(aclrtStream stream);
ACL_FUNC_VISIBILITY aclError aclrtSynchronizeStream(aclrtStream stream);
/* timeout in milliseconds, -1 = forever; work ran when enqueued, so this only checks the handle. */
ACL_FUNC_VISIBILITY aclError aclrtSynchronizeStreamWithTimeout(aclrtStream stream, int32_t timeout);
ACL_FUNC_VISIBILITY aclError aclrtSynchronizeDevice(void);

ACL_FUNC_VISIBILITY aclError aclrtMalloc(void **devPtr, size_t size, aclrtMemMallocPolicy policy);
ACL_FUNC_VISIBILITY aclError aclrtFree(void *devPtr);
ACL_FUNC_VISIBILITY aclError aclrtMallocHost(void **hostPtr, size_t size);
ACL_FUNC_VISIBILITY aclError aclrtFreeHost(void *hostPtr);
ACL_FUNC_VISIBILITY aclError aclrtMemcpy(void *dst, size_t destMax, const void *src, size_t count,
                                         aclrtMemcpyKind kind);
ACL_FUNC_VISIBILITY aclError aclrtMemcpyAsync(void *dst, size_t destMax, const void *src, size_t count,
                                              aclrtMemcpyKind kind, aclrtStream stream);
ACL_FUNC_VISIBILITY aclError aclrtMemset(void *devPtr, size_t maxCount, int32_t value, size_t count);
ACL_FUNC_VISIBILITY aclError aclrtMemsetAsync(void *devPtr, size_t maxCount, int32_t value, size_t count,
                                              aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MOEROUTE_ACL_ACL_RT_H */
