/* Per-thread error messages, shared by the native API (moeroute_error_message) and the CANN API
 * (aclGetRecentErrMsg): newest first, cleared when read. Also checked size arithmetic. */
#ifndef MR_COMMON_ERROR_H
#define MR_COMMON_ERROR_H

#include <stddef.h>
#include <stdint.h>

#include "moeroute.h"

#if defined(__GNUC__) || defined(__clang__)
#define MR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MR_PRINTF(f, a)
#endif

/* Record a message for this thread and return `status` (so callers can `return mr_fail(...)`). */
moeroute_status mr_fail(moeroute_status status, const char *fmt, ...) MR_PRINTF(2, 3);
/* Record a message without a status (runtime calls with their own codes). */
void mr_error_push(const char *fmt, ...) MR_PRINTF(1, 2);
/* Take this thread's messages: NULL if none; valid until the next call on this thread. */
const char *mr_error_take(void);

/* Checked arithmetic: return 0 on success, 1 on overflow (result unspecified then). */
static inline int mr_mul_i64(int64_t a, int64_t b, int64_t *r) { return __builtin_mul_overflow(a, b, r); }
static inline int mr_add_i64(int64_t a, int64_t b, int64_t *r) { return __builtin_add_overflow(a, b, r); }
static inline int mr_mul_size(size_t a, size_t b, size_t *r) { return __builtin_mul_overflow(a, b, r); }
static inline int mr_add_size(size_t a, size_t b, size_t *r) { return __builtin_add_overflow(a, b, r); }

/* Lowest and highest element offset (relative to element 0) addressed by a non-empty strided view with the
 * given dims (each >= 1) and strides: lo <= 0 <= hi. 0 on success, 1 when a product or sum overflows. */
static inline int mr_view_span(const int64_t *dims, const int64_t *strides, size_t ndim, int64_t *lo, int64_t *hi)
{
    int64_t l = 0, h = 0, span;
    for (size_t d = 0; d < ndim; d++) {
        if (mr_mul_i64(dims[d] - 1, strides[d], &span) || mr_add_i64(span < 0 ? l : h, span, span < 0 ? &l : &h))
            return 1;
    }
    *lo = l;
    *hi = h;
    return 0;
}

#endif /* MR_COMMON_ERROR_H */
