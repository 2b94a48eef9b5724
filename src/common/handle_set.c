#include <stdint.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/handle_set.h"

static size_t mr_hash_ptr(const void *p, size_t mask)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & mask;
}

static size_t mr_find_slot(const void **slots, size_t capacity, const void *p)
{
    size_t mask = capacity - 1, i = mr_hash_ptr(p, mask);
    while (slots[i] != NULL && slots[i] != p) i = (i + 1) & mask;
    return i;
}

static int mr_grow(mr_handle_set *set)
{
    size_t cap = set->capacity ? set->capacity * 2 : 64;
    const void **slots = mr_calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < set->capacity; i++)
        if (set->slots[i]) slots[mr_find_slot(slots, cap, set->slots[i])] = set->slots[i];
    mr_free((void *)set->slots);
    set->slots = slots;
    set->capacity = cap;
    return 0;
}

int mr_handle_set_add(mr_handle_set *set, const void *handle)
{
    int rc = 0;
    pthread_mutex_lock(&set->mutex);
    if ((set->count + 1) * 2 > set->capacity && mr_grow(set) != 0) {
        rc = -1;
    } else {
        size_t i = mr_find_slot(set->slots, set->capacity, handle);
        if (set->slots[i] == NULL) {
            set->slots[i] = handle;
            set->count++;
        }
    }
    pthread_mutex_unlock(&set->mutex);
    return rc;
}

/* Remove `handle` with the set locked; 1 if it was present. */
static int mr_remove_locked(mr_handle_set *set, const void *handle)
{
    if (!set->capacity || !handle) return 0;
    size_t mask = set->capacity - 1, i = mr_find_slot(set->slots, set->capacity, handle);
    if (set->slots[i] != handle) return 0;
    set->count--;
    /* backward-shift deletion keeps every probe chain unbroken without tombstones */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (set->slots[j] == NULL) break;
        size_t home = mr_hash_ptr(set->slots[j], mask);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            set->slots[i] = set->slots[j];
            i = j;
        }
    }
    set->slots[i] = NULL;
    return 1;
}

int mr_handle_set_remove(mr_handle_set *set, const void *handle)
{
    pthread_mutex_lock(&set->mutex);
    int found = mr_remove_locked(set, handle);
    pthread_mutex_unlock(&set->mutex);
    return found;
}

int mr_handle_set_visit(mr_handle_set *set, const void *handle, int (*fn)(const void *handle, void *ctx), void *ctx)
{
    int found = 0;
    pthread_mutex_lock(&set->mutex);
    if (set->capacity && handle && set->slots[mr_find_slot(set->slots, set->capacity, handle)] == handle) {
        found = 1;
        if (fn(handle, ctx)) mr_remove_locked(set, handle);
    }
    pthread_mutex_unlock(&set->mutex);
    return found;
}

int mr_handle_set_contains(mr_handle_set *set, const void *handle)
{
    int found = 0;
    pthread_mutex_lock(&set->mutex);
    if (set->capacity && handle) found = set->slots[mr_find_slot(set->slots, set->capacity, handle)] == handle;
    pthread_mutex_unlock(&set->mutex);
    return found;
}
