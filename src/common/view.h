/* Strided N-d views: the one description of an operator argument that both front ends (the aclnn adapter and
 * the native API) hand to operators (docs/framework.md "Views"). data points at element (0, ..., 0); strides
 * count elements and may be zero or negative. A view with a zero dim addresses nothing. */
#ifndef MR_COMMON_VIEW_H
#define MR_COMMON_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "moeroute.h"

#define MR_MAX_DIMS 8

typedef struct mr_view {
    char *data;
    uint32_t ndim;
    uint32_t esize; /* bytes per element */
    int64_t dims[MR_MAX_DIMS];
    int64_t strides[MR_MAX_DIMS];
} mr_view;

/* An absent (optional, not given) argument: no data, rank 0, no elements. */
static inline int mr_view_present(const mr_view *v) { return v->data != NULL || v->ndim > 0; }

/* Element count, 0 for absent views; the product was checked not to overflow when the view was accepted. */
int64_t mr_view_numel(const mr_view *v);

/* 1 when the elements are laid out row-major without gaps (dims of 1 and empty views count as contiguous). */
int mr_view_is_contiguous(const mr_view *v);

/* Pointer to element (i0, i1) of a view of rank >= 2 (or i0 of rank 1). */
static inline char *mr_view_at2(const mr_view *v, int64_t i0, int64_t i1)
{
    return v->data + (i0 * v->strides[0] + (v->ndim > 1 ? i1 * v->strides[1] : 0)) * (int64_t)v->esize;
}

/* Whether dims [first, last) of v address their elements as one dimension of dims[first] * ... * dims[last - 1]
 * elements with a single stride, which *stride receives (0 when every one of those dims is 1). Dims of 1 are
 * ignored, whatever their stride; a view with a zero dim collapses. */
int mr_view_dims_collapse(const mr_view *v, uint32_t first, uint32_t last, int64_t *stride);

/* Dims [first, last) of v merged into one (mr_view_dims_collapse must hold): v's rank drops by last - first - 1. */
void mr_view_merge_dims(mr_view *v, uint32_t first, uint32_t last);

/* The integer at p (an int32 or, for esize 8, an int64 element of an index or count view), as int64. */
static inline int64_t mr_view_int_at(const char *p, uint32_t esize)
{
    if (esize == 8) {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A contiguous view over data. */
mr_view mr_view_contiguous(const void *data, size_t esize, uint32_t ndim, const int64_t *dims);
/* A rank-2 view with explicit strides (the native API's raw pointers). */
mr_view mr_view_2d(const void *data, size_t esize, int64_t d0, int64_t d1, int64_t s0, int64_t s1);

/* Byte range [lo, hi) a view touches; empty (lo == hi) when it has no elements.
 * MOEROUTE_ERR_TOO_LARGE (message) when the extent overflows the address space. */
typedef struct mr_range {
    uintptr_t lo, hi;
} mr_range;
moeroute_status mr_view_range(const char *api, const char *name, const mr_view *v, mr_range *out);

/* Spec decision "outputs do not alias": every view from index `first_output` on, and the workspace, must be
 * disjoint from every other view. names[i] names view i. MOEROUTE_ERR_ALIASING with a message otherwise. */
moeroute_status mr_views_check_disjoint(const char *api, const mr_view *views, const char *const *names, size_t n,
                                        size_t first_output, const void *workspace, size_t workspace_size);

/* Every view with elements has a data address (else MOEROUTE_ERR_NULL_POINTER) aligned to its element size (else
 * MOEROUTE_ERR_INVALID_VALUE), naming the first that fails. */
moeroute_status mr_views_check_data(const char *api, const mr_view *views, const char *const *names, size_t n);

#endif /* MR_COMMON_VIEW_H */
