/* Every heap allocation of the library goes through here, so tests can make the n-th one fail and check
 * that each caller reports a status, writes nothing and leaks nothing. */
#ifndef MR_COMMON_ALLOC_H
#define MR_COMMON_ALLOC_H

#include <stddef.h>

void *mr_malloc(size_t size);
void *mr_calloc(size_t count, size_t size);
void *mr_aligned_alloc(size_t alignment, size_t size); /* size a multiple of alignment */
void mr_free(void *p);

/* Test hook: let `successes` more allocations succeed, then fail every one; a negative value turns failure
 * injection off (the default). Thread-safe. */
void mr_alloc_fail_after(long successes);

#endif /* MR_COMMON_ALLOC_H */
