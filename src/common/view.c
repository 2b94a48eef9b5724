/* Strided views: extents, contiguity, disjointness (docs/framework.md "Views"). */
#include <string.h>

#include "common/error.h"
#include "common/view.h"

int64_t mr_view_numel(const mr_view *v)
{
    if (!mr_view_present(v)) return 0;
    int64_t n = 1;
    for (uint32_t d = 0; d < v->ndim; d++) n *= v->dims[d];
    return n;
}

int mr_view_is_contiguous(const mr_view *v)
{
    int64_t expect = 1;
    for (uint32_t d = v->ndim; d-- > 0;)
        if (v->dims[d] == 0) return 1;
    for (uint32_t d = v->ndim; d-- > 0;) {
        if (v->dims[d] != 1 && v->strides[d] != expect) return 0;
        expect *= v->dims[d];
    }
    return 1;
}

int mr_view_dims_collapse(const mr_view *v, uint32_t first, uint32_t last, int64_t *stride)
{
    int64_t expect = 0, seen = 0; /* seen: a dim > 1 was met (walking from the innermost) */
    *stride = 0;
    for (uint32_t d = first; d < last; d++)
        if (v->dims[d] == 0) return 1;
    for (uint32_t d = last; d-- > first;) {
        if (v->dims[d] == 1) continue;
        if (!seen) {
            *stride = v->strides[d];
            seen = 1;
        } else if (v->strides[d] != expect) {
            return 0;
        }
        expect = v->strides[d] * v->dims[d];
    }
    return 1;
}

void mr_view_merge_dims(mr_view *v, uint32_t first, uint32_t last)
{
    if (last <= first + 1) return;
    int64_t n = 1, stride;
    for (uint32_t d = first; d < last; d++) n *= v->dims[d];
    mr_view_dims_collapse(v, first, last, &stride);
    v->dims[first] = n;
    v->strides[first] = stride;
    const uint32_t gone = last - first - 1;
    for (uint32_t d = last; d < v->ndim; d++) {
        v->dims[d - gone] = v->dims[d];
        v->strides[d - gone] = v->strides[d];
    }
    v->ndim -= gone;
}

mr_view mr_view_contiguous(const void *data, size_t esize, uint32_t ndim, const int64_t *dims)
{
    mr_view v;
    memset(&v, 0, sizeof v);
    v.data = (char *)(uintptr_t)data;
    v.esize = (uint32_t)esize;
    v.ndim = ndim;
    int64_t s = 1;
    for (uint32_t d = ndim; d-- > 0;) {
        v.dims[d] = dims[d];
        v.strides[d] = s;
        if (mr_mul_i64(s, dims[d] > 0 ? dims[d] : 1, &s)) s = INT64_MAX; /* refused later by the size checks */
    }
    return v;
}

mr_view mr_view_2d(const void *data, size_t esize, int64_t d0, int64_t d1, int64_t s0, int64_t s1)
{
    mr_view v;
    memset(&v, 0, sizeof v);
    v.data = (char *)(uintptr_t)data;
    v.esize = (uint32_t)esize;
    v.ndim = 2;
    v.dims[0] = d0;
    v.dims[1] = d1;
    v.strides[0] = s0;
    v.strides[1] = s1;
    return v;
}

moeroute_status mr_view_range(const char *api, const char *name, const mr_view *v, mr_range *out)
{
    out->lo = out->hi = (uintptr_t)v->data;
    if (mr_view_numel(v) == 0 || !v->data) return MOEROUTE_OK;
    int64_t lo, hi, lo_bytes, hi_bytes, end;
    if (mr_view_span(v->dims, v->strides, v->ndim, &lo, &hi))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the strides of %s overflow", api, name);
    if (mr_add_i64(hi, 1, &end) || mr_mul_i64(lo, (int64_t)v->esize, &lo_bytes) ||
        mr_mul_i64(end, (int64_t)v->esize, &hi_bytes))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the extent of %s overflows", api, name);
    uintptr_t base = (uintptr_t)v->data;
    uintptr_t below = (uintptr_t)0 - (uintptr_t)lo_bytes; /* lo_bytes <= 0 */
    if (below > base || (uintptr_t)hi_bytes > UINTPTR_MAX - base)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the extent of %s does not fit in the address space", api, name);
    out->lo = base - below;
    out->hi = base + (uintptr_t)hi_bytes;
    return MOEROUTE_OK;
}

static int mr_ranges_overlap(mr_range a, mr_range b) { return a.lo < a.hi && b.lo < b.hi && a.lo < b.hi && b.lo < a.hi; }

moeroute_status mr_views_check_disjoint(const char *api, const mr_view *views, const char *const *names, size_t n,
                                        size_t first_output, const void *workspace, size_t workspace_size)
{
    mr_range r[24];
    if (n + 1 > sizeof r / sizeof r[0])
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: too many arguments to check for overlap", api);
    moeroute_status st;
    for (size_t i = 0; i < n; i++)
        if ((st = mr_view_range(api, names[i], &views[i], &r[i])) != MOEROUTE_OK) return st;
    r[n] = (mr_range){(uintptr_t)workspace, (uintptr_t)workspace + (workspace ? workspace_size : 0)};
    for (size_t o = first_output; o <= n; o++)
        for (size_t other = 0; other <= n; other++)
            if (other != o && (other < first_output || other > o) && mr_ranges_overlap(r[o], r[other]))
                return mr_fail(MOEROUTE_ERR_ALIASING, "%s: %s overlaps %s", api, o < n ? names[o] : "the workspace",
                               other < n ? names[other] : "the workspace");
    return MOEROUTE_OK;
}

moeroute_status mr_views_check_data(const char *api, const mr_view *views, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (mr_view_numel(&views[i]) == 0) continue;
        if (!views[i].data)
            return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: %s has elements but a NULL data address", api, names[i]);
        /* the kernels load elements of their own type (C requires the alignment; x86 and AArch64 forgive it,
           but the compiler may assume it): an element at an address that is no multiple of its size is refused */
        if (views[i].esize > 1 && (uintptr_t)views[i].data % views[i].esize != 0)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: %s starts at address %p, which is not a multiple of its element size (%u bytes); "
                           "pass an address aligned to the element (copy the data to an aligned buffer)",
                           api, names[i], (const void *)views[i].data, (unsigned)views[i].esize);
    }
    return MOEROUTE_OK;
}
