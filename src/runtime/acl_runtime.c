/* The ACL runtime subset, on host memory (spec decision 10). See acl/acl_rt.h for the semantics. */
#define _DEFAULT_SOURCE /* madvise */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/alloc.h"
#include "acl/acl.h"
#include "aclnn/aclnn_base.h"
#include "common/error.h"
#include "common/fp16.h"
#include "common/handle_set.h"
#include "runtime/acl_internal.h"

#define MR_DEVICE_ALIGN 64
#define MR_HUGE_PAGE (2u * 1024u * 1024u)

static atomic_int mr_acl_initialized;
static _Thread_local int32_t mr_thread_device = -1;
static _Thread_local aclrtContext mr_thread_context;

static mr_handle_set mr_streams = MR_HANDLE_SET_INIT;
static mr_handle_set mr_contexts = MR_HANDLE_SET_INIT;
static mr_handle_set mr_device_allocs = MR_HANDLE_SET_INIT;
static mr_handle_set mr_host_allocs = MR_HANDLE_SET_INIT;

/* Streams carry no state: work runs when enqueued. Streams and contexts are distinct heap objects so that
 * handles are unique and can be checked; a context remembers its logical device (layer decision 16). */
typedef struct mr_rt_object { int32_t device; } mr_rt_object;

static aclError mr_need_init(const char *api)
{
    if (atomic_load(&mr_acl_initialized)) return ACL_SUCCESS;
    mr_error_push("%s: aclInit has not been called (or aclFinalize was)", api);
    return ACL_ERROR_UNINITIALIZE;
}

static aclError mr_bad_param(const char *api, const char *what)
{
    mr_error_push("%s: %s", api, what);
    return ACL_ERROR_INVALID_PARAM;
}

aclError aclInit(const char *configPath)
{
    (void)configPath; /* moeroute has no configuration to read */
    int expected = 0;
    if (!atomic_compare_exchange_strong(&mr_acl_initialized, &expected, 1)) {
        mr_error_push("aclInit: already initialized");
        return ACL_ERROR_REPEAT_INITIALIZE;
    }
    return ACL_SUCCESS;
}

aclError aclFinalize(void)
{
    int expected = 1;
    if (!atomic_compare_exchange_strong(&mr_acl_initialized, &expected, 0)) {
        mr_error_push("aclFinalize: not initialized");
        return ACL_ERROR_REPEAT_FINALIZE;
    }
    return ACL_SUCCESS;
}

aclnnStatus aclnnInit(const char *configPath)
{
    (void)configPath;
    return ACLNN_SUCCESS;
}

aclnnStatus aclnnFinalize(void) { return ACLNN_SUCCESS; }

/* Logical devices 0..D-1, all on this host (layer decision 16): D from MOEROUTE_DEVICE_COUNT (1..65536),
 * default 16; read once, at the first call that needs it. */
#define MR_DEFAULT_DEVICE_COUNT 16
#define MR_MAX_DEVICE_COUNT 65536
static atomic_int mr_device_count_cache;

int32_t mr_device_count(void)
{
    int n = atomic_load(&mr_device_count_cache);
    if (n > 0) return n;
    n = MR_DEFAULT_DEVICE_COUNT;
    const char *env = getenv("MOEROUTE_DEVICE_COUNT");
    if (env && *env) {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (end && *end == 0 && v >= 1 && v <= MR_MAX_DEVICE_COUNT) n = (int)v;
    }
    atomic_store(&mr_device_count_cache, n);
    return n;
}

static aclError mr_check_device(const char *api, int32_t deviceId)
{
    aclError st = mr_need_init(api);
    if (st != ACL_SUCCESS) return st;
    if (deviceId < 0 || deviceId >= mr_device_count()) {
        mr_error_push("%s: device %d does not exist (moeroute has %d logical devices 0..%d on this CPU; "
                      "MOEROUTE_DEVICE_COUNT sets the count)",
                      api, (int)deviceId, (int)mr_device_count(), (int)mr_device_count() - 1);
        return ACL_ERROR_RT_INVALID_DEVICEID;
    }
    return ACL_SUCCESS;
}

aclError aclrtSetDevice(int32_t deviceId)
{
    aclError st = mr_check_device("aclrtSetDevice", deviceId);
    if (st == ACL_SUCCESS) mr_thread_device = deviceId;
    return st;
}

aclError aclrtResetDevice(int32_t deviceId)
{
    aclError st = mr_check_device("aclrtResetDevice", deviceId);
    if (st == ACL_SUCCESS && mr_thread_device == deviceId) mr_thread_device = -1;
    return st;
}

aclError aclrtGetDevice(int32_t *deviceId)
{
    aclError st = mr_need_init("aclrtGetDevice");
    if (st != ACL_SUCCESS) return st;
    if (!deviceId) return mr_bad_param("aclrtGetDevice", "deviceId is NULL");
    if (mr_thread_device < 0) {
        mr_error_push("aclrtGetDevice: no device set on this thread (call aclrtSetDevice)");
        return ACL_ERROR_RT_CONTEXT_NULL;
    }
    *deviceId = mr_thread_device;
    return ACL_SUCCESS;
}

aclError aclrtGetDeviceCount(uint32_t *count)
{
    aclError st = mr_need_init("aclrtGetDeviceCount");
    if (st != ACL_SUCCESS) return st;
    if (!count) return mr_bad_param("aclrtGetDeviceCount", "count is NULL");
    *count = (uint32_t)mr_device_count();
    return ACL_SUCCESS;
}

aclError aclrtGetRunMode(aclrtRunMode *runMode)
{
    aclError st = mr_need_init("aclrtGetRunMode");
    if (st != ACL_SUCCESS) return st;
    if (!runMode) return mr_bad_param("aclrtGetRunMode", "runMode is NULL");
    *runMode = ACL_HOST;
    return ACL_SUCCESS;
}

static aclError mr_object_create(const char *api, mr_handle_set *set, void **out, int32_t device)
{
    aclError st = mr_need_init(api);
    if (st != ACL_SUCCESS) return st;
    if (!out) return mr_bad_param(api, "output handle pointer is NULL");
    mr_rt_object *o = mr_malloc(sizeof *o);
    if (o) {
        o->device = device;
        if (mr_handle_set_add(set, o) != 0) {
            mr_free(o);
            o = NULL;
        }
    }
    if (!o) {
        mr_error_push("%s: out of memory", api);
        return ACL_ERROR_BAD_ALLOC;
    }
    *out = o;
    return ACL_SUCCESS;
}

static aclError mr_object_destroy(const char *api, mr_handle_set *set, void *handle)
{
    if (!handle) return mr_bad_param(api, "handle is NULL");
    if (!mr_handle_set_remove(set, handle)) {
        mr_error_push("%s: %p is not a live handle of this kind", api, handle);
        return ACL_ERROR_INVALID_RESOURCE_HANDLE;
    }
    mr_free(handle);
    return ACL_SUCCESS;
}

aclError aclrtCreateContext(aclrtContext *context, int32_t deviceId)
{
    aclError st = mr_check_device("aclrtCreateContext", deviceId);
    if (st != ACL_SUCCESS) return st;
    st = mr_object_create("aclrtCreateContext", &mr_contexts, context, deviceId);
    if (st == ACL_SUCCESS) {
        mr_thread_context = *context; /* the new context becomes this thread's, with its device */
        mr_thread_device = deviceId;
    }
    return st;
}

aclError aclrtDestroyContext(aclrtContext context)
{
    aclError st = mr_object_destroy("aclrtDestroyContext", &mr_contexts, context);
    if (st == ACL_SUCCESS && mr_thread_context == context) mr_thread_context = NULL;
    return st;
}

/* Read a live context's device with the set locked (mr_handle_set_visit), so it cannot be freed meanwhile. */
static int mr_context_device(const void *handle, void *ctx)
{
    *(int32_t *)ctx = ((const mr_rt_object *)handle)->device;
    return 0;
}

aclError aclrtSetCurrentContext(aclrtContext context)
{
    aclError st = mr_need_init("aclrtSetCurrentContext");
    if (st != ACL_SUCCESS) return st;
    int32_t device = -1;
    if (!mr_handle_set_visit(&mr_contexts, context, mr_context_device, &device)) {
        mr_error_push("aclrtSetCurrentContext: %p is not a live context", context);
        return ACL_ERROR_INVALID_RESOURCE_HANDLE;
    }
    mr_thread_context = context;
    mr_thread_device = device; /* the context's device becomes this thread's */
    return ACL_SUCCESS;
}

aclError aclrtGetCurrentContext(aclrtContext *context)
{
    aclError st = mr_need_init("aclrtGetCurrentContext");
    if (st != ACL_SUCCESS) return st;
    if (!context) return mr_bad_param("aclrtGetCurrentContext", "context is NULL");
    if (!mr_thread_context) {
        mr_error_push("aclrtGetCurrentContext: no context on this thread");
        return ACL_ERROR_RT_CONTEXT_NULL;
    }
    *context = mr_thread_context;
    return ACL_SUCCESS;
}

aclError aclrtCreateStream(aclrtStream *stream)
{
    return mr_object_create("aclrtCreateStream", &mr_streams, stream, mr_thread_device);
}

aclError aclrtDestroyStream(aclrtStream stream)
{
    return mr_object_destroy("aclrtDestroyStream", &mr_streams, stream);
}

int mr_stream_is_valid(aclrtStream stream) { return stream == NULL || mr_handle_set_contains(&mr_streams, stream); }

static aclError mr_check_stream(const char *api, aclrtStream stream)
{
    if (mr_stream_is_valid(stream)) return ACL_SUCCESS;
    mr_error_push("%s: %p is not a live stream", api, stream);
    return ACL_ERROR_INVALID_RESOURCE_HANDLE;
}

aclError aclrtSynchronizeStream(aclrtStream stream)
{
    aclError st = mr_need_init("aclrtSynchronizeStream");
    if (st != ACL_SUCCESS) return st;
    /* Work ran when it was enqueued, so a live stream is always idle. */
    return mr_check_stream("aclrtSynchronizeStream", stream);
}

aclError aclrtSynchronizeStreamWithTimeout(aclrtStream stream, int32_t timeout)
{
    aclError st = mr_need_init("aclrtSynchronizeStreamWithTimeout");
    if (st != ACL_SUCCESS) return st;
    if (timeout < -1) return mr_bad_param("aclrtSynchronizeStreamWithTimeout", "timeout must be -1 (forever) or >= 0");
    /* Work ran when it was enqueued: nothing to wait for, whatever the timeout. */
    return mr_check_stream("aclrtSynchronizeStreamWithTimeout", stream);
}

aclError aclrtSynchronizeDevice(void) { return mr_need_init("aclrtSynchronizeDevice"); }

/* huge = 1: a large buffer is placed on 2 MiB boundaries and the kernel asked for transparent huge pages,
 * as CANN's ACL_MEM_MALLOC_HUGE_* policies ask: outputs written row by row at scattered places cost one
 * TLB miss per 4 KiB page otherwise (measured 10-25% on routing calls with H = 2048-4096). */
static aclError mr_rt_alloc(const char *api, mr_handle_set *set, void **ptr, size_t size, int huge)
{
    aclError st = mr_need_init(api);
    if (st != ACL_SUCCESS) return st;
    if (!ptr) return mr_bad_param(api, "the output pointer is NULL");
    if (size == 0) return mr_bad_param(api, "size is 0");
    size_t align = huge && size >= MR_HUGE_PAGE ? MR_HUGE_PAGE : MR_DEVICE_ALIGN, rounded;
    if (mr_add_size(size, align - 1, &rounded)) return mr_bad_param(api, "size too large");
    rounded &= ~(size_t)(align - 1);
    void *p = mr_aligned_alloc(align, rounded);
#ifdef MADV_HUGEPAGE
    if (p && align == MR_HUGE_PAGE) (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: may be refused */
#endif
    if (p && mr_handle_set_add(set, p) != 0) {
        mr_free(p);
        p = NULL;
    }
    if (!p) {
        mr_error_push("%s: cannot allocate %zu bytes", api, size);
        return ACL_ERROR_RT_MEMORY_ALLOCATION;
    }
    *ptr = p;
    return ACL_SUCCESS;
}

static aclError mr_rt_free(const char *api, mr_handle_set *set, void *ptr)
{
    if (!ptr) return mr_bad_param(api, "pointer is NULL");
    if (!mr_handle_set_remove(set, ptr)) {
        mr_error_push("%s: %p was not returned by the matching allocation call (or was freed already)", api, ptr);
        return ACL_ERROR_INVALID_PARAM;
    }
    mr_free(ptr);
    return ACL_SUCCESS;
}

aclError aclrtMalloc(void **devPtr, size_t size, aclrtMemMallocPolicy policy)
{
    /* The low byte is the page policy; the bandwidth and access flags above it mean nothing on the host. */
    int page = (int)policy & 0xFF;
    int huge = page != ACL_MEM_MALLOC_NORMAL_ONLY && page != ACL_MEM_MALLOC_NORMAL_ONLY_P2P;
    return mr_rt_alloc("aclrtMalloc", &mr_device_allocs, devPtr, size, huge);
}

aclError aclrtFree(void *devPtr) { return mr_rt_free("aclrtFree", &mr_device_allocs, devPtr); }

aclError aclrtMallocHost(void **hostPtr, size_t size)
{
    return mr_rt_alloc("aclrtMallocHost", &mr_host_allocs, hostPtr, size, 0);
}

aclError aclrtFreeHost(void *hostPtr) { return mr_rt_free("aclrtFreeHost", &mr_host_allocs, hostPtr); }

aclError aclrtMemcpy(void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind)
{
    static const char api[] = "aclrtMemcpy";
    aclError st = mr_need_init(api);
    if (st != ACL_SUCCESS) return st;
    if ((int)kind < ACL_MEMCPY_HOST_TO_HOST || (int)kind > ACL_MEMCPY_INTER_DEVICE_TO_DEVICE)
        return mr_bad_param(api, "unknown aclrtMemcpyKind");
    if (count > destMax) {
        mr_error_push("%s: count %zu exceeds destMax %zu", api, count, destMax);
        return ACL_ERROR_INVALID_PARAM;
    }
    if (count == 0) return ACL_SUCCESS;
    if (!dst || !src) return mr_bad_param(api, "dst or src is NULL");
    memmove(dst, src, count);
    return ACL_SUCCESS;
}

aclError aclrtMemcpyAsync(void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind,
                          aclrtStream stream)
{
    aclError st = mr_need_init("aclrtMemcpyAsync");
    if (st != ACL_SUCCESS) return st;
    st = mr_check_stream("aclrtMemcpyAsync", stream);
    return st != ACL_SUCCESS ? st : aclrtMemcpy(dst, destMax, src, count, kind);
}

aclError aclrtMemset(void *devPtr, size_t maxCount, int32_t value, size_t count)
{
    static const char api[] = "aclrtMemset";
    aclError st = mr_need_init(api);
    if (st != ACL_SUCCESS) return st;
    if (count > maxCount) {
        mr_error_push("%s: count %zu exceeds maxCount %zu", api, count, maxCount);
        return ACL_ERROR_INVALID_PARAM;
    }
    if (count == 0) return ACL_SUCCESS;
    if (!devPtr) return mr_bad_param(api, "devPtr is NULL");
    memset(devPtr, (unsigned char)value, count);
    return ACL_SUCCESS;
}

aclError aclrtMemsetAsync(void *devPtr, size_t maxCount, int32_t value, size_t count, aclrtStream stream)
{
    aclError st = mr_need_init("aclrtMemsetAsync");
    if (st != ACL_SUCCESS) return st;
    st = mr_check_stream("aclrtMemsetAsync", stream);
    return st != ACL_SUCCESS ? st : aclrtMemset(devPtr, maxCount, value, count);
}

const char *aclGetRecentErrMsg(void) { return mr_error_take(); }

size_t aclDataTypeSize(aclDataType dataType)
{
    switch (dataType) {
    case ACL_INT8: case ACL_UINT8: case ACL_BOOL: return 1;
    case ACL_FLOAT16: case ACL_BF16: case ACL_INT16: case ACL_UINT16: return 2;
    case ACL_FLOAT: case ACL_INT32: case ACL_UINT32: case ACL_COMPLEX32: return 4;
    case ACL_INT64: case ACL_UINT64: case ACL_DOUBLE: case ACL_COMPLEX64: return 8;
    case ACL_COMPLEX128: return 16;
    default: return 0;
    }
}

float aclFloat16ToFloat(aclFloat16 value) { return mr_f16_to_f32(value); }

aclFloat16 aclFloatToFloat16(float value) { return mr_f32_to_f16(value); }
