#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "threadpool/default_pool.h"

/* The pool of this process: made on first use, and made anew in the child of a fork, where the parent's has no
 * workers (threadpool.c). The parent's copy is left as it is (one small block): freeing it could pull memory
 * from under a caller in the child that still holds it. made_gen is the fork generation the pool was made in;
 * it is stored after the pool (release), so a reader that sees the current generation sees its pool. */
static pthread_mutex_t mr_default_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(mr_pool *) mr_default;
static atomic_uint mr_default_gen = UINT_MAX; /* no pool made yet */
static pthread_once_t mr_default_once = PTHREAD_ONCE_INIT;

/* The child of a fork: the lock may have been copied held by a thread that does not exist there. */
static void mr_default_forked_child(void) { pthread_mutex_init(&mr_default_lock, NULL); }
static void mr_default_register(void) { (void)pthread_atfork(NULL, NULL, mr_default_forked_child); }

mr_pool *mr_default_pool(void)
{
    const unsigned gen = mr_pool_fork_generation();
    if (atomic_load_explicit(&mr_default_gen, memory_order_acquire) == gen)
        return atomic_load_explicit(&mr_default, memory_order_relaxed);
    pthread_once(&mr_default_once, mr_default_register);
    pthread_mutex_lock(&mr_default_lock);
    if (atomic_load_explicit(&mr_default_gen, memory_order_relaxed) != gen) {
        const size_t threads = mr_default_thread_count();
        atomic_store_explicit(&mr_default, threads > 1 ? mr_pool_create(threads) : NULL, memory_order_relaxed);
        atomic_store_explicit(&mr_default_gen, gen, memory_order_release);
    }
    pthread_mutex_unlock(&mr_default_lock);
    return atomic_load_explicit(&mr_default, memory_order_relaxed);
}
