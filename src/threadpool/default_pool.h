/* The process-wide pool used by the aclnn API and by native calls without a context. */
#ifndef MR_THREADPOOL_DEFAULT_POOL_H
#define MR_THREADPOOL_DEFAULT_POOL_H

#include "threadpool/threadpool.h"

/* Created on first use with mr_default_thread_count() threads; NULL (serial) if that count is 1 or the
 * creation failed. Jobs from several threads are serialized by the pool. In the child of a fork, a new one is
 * made on first use there. */
mr_pool *mr_default_pool(void);

#endif /* MR_THREADPOOL_DEFAULT_POOL_H */
