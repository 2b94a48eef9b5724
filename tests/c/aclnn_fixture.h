/* Calling aclnn operators from the tests as a CANN program calls them: tensor arguments described by a tspec
 * over host arrays, the execute phase with an aclrtMalloc'd workspace on one stream, where the last call
 * stopped (g_phase), and the expected shape of a refusal. Shared by the aclnn tests in tests/c. */
#ifndef MR_TEST_ACLNN_FIXTURE_H
#define MR_TEST_ACLNN_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "acl/acl.h"
#include "aclnn/acl_meta.h"

/* The byte every output buffer is filled with before a call, to see that a refused call left it alone. */
#define SENT 0x5A

#define TSPEC_MAX_RANK 8

/* A tensor argument: rank 0 means a NULL tensor. Strides all 0: contiguous (row-major over d). storage 0:
 * storage dims = view dims (CANN sample style); storage > 0: a 1-D storage of that many elements, with the
 * view at element offset `offset`. */
typedef struct tspec {
    aclDataType dt;
    uint64_t rank;
    int64_t d[TSPEC_MAX_RANK];
    void *data;
    aclFormat fmt;
    int64_t s[TSPEC_MAX_RANK];
    int64_t offset, storage;
} tspec;
#define T1(dt, a, p) ((tspec){dt, 1, {a}, (void *)(p), ACL_FORMAT_ND, {0}, 0, 0})
#define T2(dt, a, b, p) ((tspec){dt, 2, {a, b}, (void *)(p), ACL_FORMAT_ND, {0}, 0, 0})
#define T3(dt, a, b, c, p) ((tspec){dt, 3, {a, b, c}, (void *)(p), ACL_FORMAT_ND, {0}, 0, 0})
#define T4(dt, a, b, c, e, p) ((tspec){dt, 4, {a, b, c, e}, (void *)(p), ACL_FORMAT_ND, {0}, 0, 0})
#define TNULL ((tspec){ACL_FLOAT, 0, {0}, NULL, ACL_FORMAT_ND, {0}, 0, 0})

/* The stream every call runs on (made by acl_setup) and the phase the last finish() stopped in:
 * 1 GetWorkspaceSize, 2 execute. */
extern aclrtStream g_stream;
extern int g_phase;

/* aclGetRecentErrMsg, or "(no message)". */
const char *errmsg(void);

/* Row-major strides of dims[0..rank) (a dim <= 0 counts as 1). */
void contiguous_strides(const int64_t *dims, uint64_t rank, int64_t *strides);

/* The aclTensor s describes (NULL for rank 0); the caller destroys it. */
aclTensor *mk(tspec s);
/* aclDestroyTensor on each of t[0..n) (NULL ones included). */
void destroy_all(aclTensor **t, size_t n);

typedef aclnnStatus (*exec_fn)(void *, uint64_t, aclOpExecutor *, aclrtStream);

/* The execute phase after a GetWorkspaceSize call that returned st: run fn with a workspace of exactly ws_size
 * bytes on g_stream and synchronize. Sets g_phase; returns st when phase 1 refused, -1 when the workspace could
 * not be allocated, -2 when the synchronize failed. */
aclnnStatus finish(aclnnStatus st, exec_fn fn, uint64_t ws_size, aclOpExecutor *exe);

/* A refusal: status want from phase `phase`, a message for aclGetRecentErrMsg, and the n bytes at out (and the
 * n2 at out2) still SENT. Three CHECKs. */
void expect_refused(const char *what, aclnnStatus st, aclnnStatus want, int phase, const void *out, size_t n);
void expect_refused2(const char *what, aclnnStatus st, aclnnStatus want, int phase, const void *out, size_t n,
                     const void *out2, size_t n2);

/* aclInit, device 0 and g_stream (three CHECKs); acl_teardown undoes them (two CHECKs). */
void acl_setup(void);
void acl_teardown(void);

#endif /* MR_TEST_ACLNN_FIXTURE_H */
