#include "aclnn_fixture.h"

#include <string.h>

#include "harness.h"

aclrtStream g_stream;
int g_phase;

const char *errmsg(void)
{
    const char *m = aclGetRecentErrMsg();
    return m ? m : "(no message)";
}

void contiguous_strides(const int64_t *dims, uint64_t rank, int64_t *strides)
{
    int64_t acc = 1;
    for (uint64_t i = rank; i-- > 0;) {
        strides[i] = acc;
        acc *= dims[i] > 0 ? dims[i] : 1;
    }
}

aclTensor *mk(tspec s)
{
    if (s.rank == 0 || s.rank > TSPEC_MAX_RANK) return NULL;
    int64_t strides[TSPEC_MAX_RANK];
    int given = 0;
    for (uint64_t i = 0; i < s.rank; i++) given |= s.s[i] != 0;
    if (given) memcpy(strides, s.s, sizeof strides);
    else contiguous_strides(s.d, s.rank, strides);
    if (s.storage > 0) return aclCreateTensor(s.d, s.rank, s.dt, strides, s.offset, s.fmt, &s.storage, 1, s.data);
    return aclCreateTensor(s.d, s.rank, s.dt, strides, s.offset, s.fmt, s.d, s.rank, s.data);
}

void destroy_all(aclTensor **t, size_t n)
{
    for (size_t i = 0; i < n; i++) aclDestroyTensor(t[i]);
}

aclnnStatus finish(aclnnStatus st, exec_fn fn, uint64_t ws_size, aclOpExecutor *exe)
{
    g_phase = 1;
    if (st != ACLNN_SUCCESS) return st;
    g_phase = 2;
    void *ws = NULL;
    if (ws_size > 0 && aclrtMalloc(&ws, (size_t)ws_size, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return -1;
    st = fn(ws, ws_size, exe, g_stream);
    if (st == ACLNN_SUCCESS && aclrtSynchronizeStream(g_stream) != ACL_SUCCESS) st = -2;
    if (ws) aclrtFree(ws);
    return st;
}

void expect_refused2(const char *what, aclnnStatus st, aclnnStatus want, int phase, const void *out, size_t n,
                     const void *out2, size_t n2)
{
    const char *m = aclGetRecentErrMsg();
    CHECK(st == want && g_phase == phase, "%s: got %d in phase %d, want %d in phase %d (%s)", what, (int)st, g_phase,
          (int)want, phase, m ? m : "(no message)");
    CHECK(m && m[0], "%s: no message for aclGetRecentErrMsg", what);
    CHECK(mr_test_bytes_are(out, n, SENT) && mr_test_bytes_are(out2, n2, SENT), "%s: a refused call wrote an output",
          what);
}

void expect_refused(const char *what, aclnnStatus st, aclnnStatus want, int phase, const void *out, size_t n)
{
    expect_refused2(what, st, want, phase, out, n, NULL, 0);
}

void acl_setup(void)
{
    CHECK(aclInit(NULL) == ACL_SUCCESS, "aclInit: %s", errmsg());
    CHECK(aclrtSetDevice(0) == ACL_SUCCESS, "aclrtSetDevice: %s", errmsg());
    CHECK(aclrtCreateStream(&g_stream) == ACL_SUCCESS, "aclrtCreateStream: %s", errmsg());
}

void acl_teardown(void)
{
    CHECK(aclrtDestroyStream(g_stream) == ACL_SUCCESS, "aclrtDestroyStream");
    CHECK(aclrtResetDevice(0) == ACL_SUCCESS && aclFinalize() == ACL_SUCCESS, "reset + finalize");
}
