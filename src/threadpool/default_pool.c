#include <pthread.h>

#include "threadpool/default_pool.h"

static pthread_once_t mr_default_once = PTHREAD_ONCE_INIT;
static mr_pool *mr_default;

static void mr_default_pool_init(void)
{
    size_t threads = mr_default_thread_count();
    mr_default = threads > 1 ? mr_pool_create(threads) : NULL;
}

mr_pool *mr_default_pool(void)
{
    pthread_once(&mr_default_once, mr_default_pool_init);
    return mr_default;
}
