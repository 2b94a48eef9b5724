/* TCHECK: CHECK (harness.h) from several threads at once. */
#ifndef MR_TEST_THREAD_CHECK_H
#define MR_TEST_THREAD_CHECK_H

#include <pthread.h>

#include "harness.h"

/* CHECK from several threads at once: the harness counters are plain ints, so rank threads count under a lock
 * (the condition is evaluated outside it: it may block in a collective). */
static pthread_mutex_t g_check_mu = PTHREAD_MUTEX_INITIALIZER;
#define TCHECK(cond, ...)                                                                                      \
    do {                                                                                                       \
        const int tok_ = (cond) ? 1 : 0;                                                                       \
        pthread_mutex_lock(&g_check_mu);                                                                       \
        CHECK(tok_, __VA_ARGS__);                                                                              \
        pthread_mutex_unlock(&g_check_mu);                                                                     \
    } while (0)

#endif /* MR_TEST_THREAD_CHECK_H */
