/* A thread-safe set of live handles (executors, streams, allocations), so that the API can refuse a
 * released or foreign handle with a status instead of dereferencing it. */
#ifndef MR_COMMON_HANDLE_SET_H
#define MR_COMMON_HANDLE_SET_H

#include <pthread.h>
#include <stddef.h>

typedef struct mr_handle_set {
    pthread_mutex_t mutex;
    const void **slots; /* open addressing, linear probing, NULL = empty */
    size_t capacity;    /* power of two, or 0 */
    size_t count;
} mr_handle_set;

#define MR_HANDLE_SET_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0}

/* 0 on success, -1 when memory runs out. */
int mr_handle_set_add(mr_handle_set *set, const void *handle);
/* 1 if it was present (and is now removed), 0 otherwise. */
int mr_handle_set_remove(mr_handle_set *set, const void *handle);
int mr_handle_set_contains(mr_handle_set *set, const void *handle);
/* If handle is present, call fn(handle, ctx) with the set locked (so no other thread can remove and free it
 * meanwhile); fn returns 1 to remove the handle. Returns 1 if it was present, 0 otherwise. */
int mr_handle_set_visit(mr_handle_set *set, const void *handle, int (*fn)(const void *handle, void *ctx), void *ctx);

#endif /* MR_COMMON_HANDLE_SET_H */
