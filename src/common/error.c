#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

/* Fixed per-thread buffers: recording an error must not allocate (it also reports allocation failures).
 * When full, the oldest text is cut, since the newest message comes first. */
#define MR_ERR_CAP 4096

static _Thread_local char mr_err_pending[MR_ERR_CAP];
static _Thread_local size_t mr_err_len;
static _Thread_local char mr_err_returned[MR_ERR_CAP];

static void mr_error_vpush(const char *fmt, va_list ap)
{
    char msg[1024];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0) return;
    size_t m = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    /* new text + '\n' separator before the older messages */
    size_t keep_old = mr_err_len;
    if (m + 1 + keep_old > MR_ERR_CAP - 1) keep_old = MR_ERR_CAP - 1 > m + 1 ? MR_ERR_CAP - 1 - (m + 1) : 0;
    if (keep_old > 0) memmove(mr_err_pending + m + 1, mr_err_pending, keep_old);
    memcpy(mr_err_pending, msg, m);
    if (keep_old > 0) {
        mr_err_pending[m] = '\n';
        mr_err_len = m + 1 + keep_old;
    } else {
        mr_err_len = m;
    }
    mr_err_pending[mr_err_len] = '\0';
}

moeroute_status mr_fail(moeroute_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mr_error_vpush(fmt, ap);
    va_end(ap);
    return status;
}

void mr_error_push(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mr_error_vpush(fmt, ap);
    va_end(ap);
}

const char *mr_error_take(void)
{
    if (mr_err_len == 0) return NULL;
    memcpy(mr_err_returned, mr_err_pending, mr_err_len + 1);
    mr_err_len = 0;
    mr_err_pending[0] = '\0';
    return mr_err_returned;
}
