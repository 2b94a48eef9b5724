/* The shared aclnn adapter layer (docs/framework.md "aclnn adapters"). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aclnn/adapter.h"
#include "common/alloc.h"
#include "threadpool/default_pool.h"

/* What an executor keeps of one tensor: the caller may destroy the aclTensor after phase 1. */
typedef struct mr_tref {
    const void *id; /* the aclTensor, for identity checks only: never dereferenced after phase 1 */
    char *data;     /* storage base (re-pointable) */
    int64_t offset; /* view offset in elements */
    mr_view view;   /* dims, strides, esize; data rebuilt per run */
} mr_tref;

typedef struct mr_aclnn_state {
    const mr_aclnn_op *op;
    size_t nrefs;
    mr_tref *refs;                       /* nslots entries, absent arguments zero */
    const void *list_id[MR_ACLNN_MAX_ARGS]; /* the aclTensorList of list arguments */
    size_t list_len[MR_ACLNN_MAX_ARGS];
    size_t slot[MR_ACLNN_MAX_ARGS];         /* first view slot of each argument (MR_ACLNN_SLOT_APPEND resolved) */
    void *plan;
} mr_aclnn_state;

static const char *mr_dtype_name(aclDataType t)
{
    switch (t) {
    case ACL_FLOAT: return "FLOAT";
    case ACL_FLOAT16: return "FLOAT16";
    case ACL_BF16: return "BFLOAT16";
    case ACL_INT8: return "INT8";
    case ACL_INT16: return "INT16";
    case ACL_INT32: return "INT32";
    case ACL_INT64: return "INT64";
    case ACL_UINT8: return "UINT8";
    case ACL_BOOL: return "BOOL";
    case ACL_DOUBLE: return "DOUBLE";
    default: return "another dtype";
    }
}

static void mr_dtype_set_str(uint64_t set, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = 0;
    for (unsigned t = 0; t < 64 && at < size; t++)
        if (set & (1ull << t)) {
            int n = snprintf(buf + at, size - at, "%s%s", at ? ", " : "", mr_dtype_name((aclDataType)t));
            if (n < 0) break;
            at += (size_t)n;
        }
}

static aclnnStatus mr_check_tensor_type(const mr_aclnn_call *c, size_t i, const aclTensor *t, const char *name)
{
    const mr_arg_spec *a = &c->op->args[i];
    char want[128];
    if (a->dtypes && ((int)t->dtype < 0 || (int)t->dtype >= 64 || !(a->dtypes & MR_DT(t->dtype)))) {
        mr_dtype_set_str(a->dtypes, want, sizeof want);
        mr_error_push("%s: %s must be %s, got %s (%d)", c->op->prepare_name, name, want, mr_dtype_name(t->dtype),
                      (int)t->dtype);
        return ACLNN_ERR_PARAM_INVALID;
    }
    if (a->same_as >= 0 && c->args[a->same_as] && !c->op->args[a->same_as].list) {
        const aclTensor *ref = c->args[a->same_as];
        if (ref->dtype != t->dtype) {
            mr_error_push("%s: %s must have the dtype of %s (%s), got %s (%d)", c->op->prepare_name, name,
                          c->op->args[a->same_as].name, mr_dtype_name(ref->dtype), mr_dtype_name(t->dtype),
                          (int)t->dtype);
            return ACLNN_ERR_PARAM_INVALID;
        }
    }
    const unsigned formats = c->op->formats ? c->op->formats[i] : 0u;
    const int nz_ok = (formats & MR_FMT_NZ) && t->format == ACL_FORMAT_FRACTAL_NZ;
    if (t->format != ACL_FORMAT_ND && !nz_ok) {
        mr_error_push("%s: %s must have format ND (%d)%s, got %d", c->op->prepare_name, name, (int)ACL_FORMAT_ND,
                      formats & MR_FMT_NZ ? " or FRACTAL_NZ (29)" : "", (int)t->format);
        return ACLNN_ERR_PARAM_INVALID;
    }
    return ACLNN_SUCCESS;
}

aclnnStatus mr_aclnn_begin(mr_aclnn_call *c, const mr_aclnn_op *op, const void *const *args, uint64_t *workspace_size,
                           aclOpExecutor **executor)
{
    memset(c, 0, sizeof *c);
    c->op = op;
    c->workspace_size = workspace_size;
    c->executor = executor;
    for (size_t i = 0; i < op->nargs; i++) c->args[i] = args[i];
    /* 1. NULL pointers */
    for (size_t i = 0; i < op->nargs; i++)
        if (!args[i] && !op->args[i].optional) {
            mr_error_push("%s: %s is NULL", op->prepare_name, op->args[i].name);
            return ACLNN_ERR_PARAM_NULLPTR;
        }
    if (!workspace_size || !executor) {
        mr_error_push("%s: workspaceSize or executor is NULL", op->prepare_name);
        return ACLNN_ERR_PARAM_NULLPTR;
    }
    /* 2. dtypes and formats, as the op definition lists them */
    for (size_t i = 0; i < op->nargs; i++) {
        if (!args[i]) continue;
        if (op->args[i].list) {
            const aclTensorList *l = args[i];
            for (uint64_t k = 0; k < l->size; k++) {
                char name[96];
                snprintf(name, sizeof name, "%s[%llu]", op->args[i].name, (unsigned long long)k);
                if (!l->tensors[k]) {
                    mr_error_push("%s: %s is NULL", op->prepare_name, name);
                    return ACLNN_ERR_PARAM_INVALID;
                }
                aclnnStatus st = mr_check_tensor_type(c, i, l->tensors[k], name);
                if (st != ACLNN_SUCCESS) return st;
            }
        } else {
            aclnnStatus st = mr_check_tensor_type(c, i, args[i], op->args[i].name);
            if (st != ACLNN_SUCCESS) return st;
        }
    }
    return ACLNN_SUCCESS;
}

static aclnnStatus mr_vfail(const mr_aclnn_call *c, aclnnStatus status, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    mr_error_push("%s: %s", c->op->prepare_name, msg);
    return status;
}

aclnnStatus mr_aclnn_tiling(const mr_aclnn_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    aclnnStatus st = mr_vfail(c, ACLNN_ERR_INNER_TILING_ERROR, fmt, ap);
    va_end(ap);
    return st;
}

aclnnStatus mr_aclnn_invalid(const mr_aclnn_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    aclnnStatus st = mr_vfail(c, ACLNN_ERR_PARAM_INVALID, fmt, ap);
    va_end(ap);
    return st;
}

static const char *mr_dims_str(const int64_t *dims, uint32_t rank, char *buf, size_t size)
{
    size_t at = 0;
    int n = snprintf(buf, size, "[");
    at = n > 0 ? (size_t)n : 0;
    for (uint32_t d = 0; d < rank && at < size; d++) {
        n = snprintf(buf + at, size - at, "%s%lld", d ? ", " : "", (long long)dims[d]);
        if (n < 0) break;
        at += (size_t)n;
    }
    if (at < size) snprintf(buf + at, size - at, "]");
    return buf;
}

static int mr_dims_are(const int64_t *have, uint32_t have_rank, uint32_t rank, const int64_t *dims)
{
    if (have_rank != rank) return 0;
    for (uint32_t d = 0; d < rank; d++)
        if (have[d] != dims[d]) return 0;
    return 1;
}

const char *mr_aclnn_shape_str(const aclTensor *t, char *buf, size_t size)
{
    return mr_dims_str(t ? t->dims : NULL, t ? t->ndim : 0, buf, size);
}

int mr_aclnn_shape_is(const aclTensor *t, uint32_t rank, const int64_t *dims)
{
    return t && mr_dims_are(t->dims, t->ndim, rank, dims);
}

const char *mr_aclnn_storage_str(const aclTensor *t, char *buf, size_t size)
{
    return mr_dims_str(t ? t->storage_dims : NULL, t ? t->storage_ndim : 0, buf, size);
}

int mr_aclnn_storage_is(const aclTensor *t, uint32_t rank, const int64_t *dims)
{
    return t && mr_dims_are(t->storage_dims, t->storage_ndim, rank, dims);
}

/* Spec decision 8: every element of a view lies inside its storage. Without storage dims the storage is the
 * view's own extent from element 0 (acl_meta.h), so the offset must be 0 and no stride may reach below it. */
static aclnnStatus mr_check_view(const char *api, const char *name, const aclTensor *t)
{
    int64_t lo, hi, offset_bytes, end_bytes;
    if (mr_mul_i64(t->offset, (int64_t)aclDataTypeSize(t->dtype), &offset_bytes)) {
        mr_error_push("%s: the view offset of %s (%lld) is beyond any addressable memory", api, name,
                      (long long)t->offset);
        return ACLNN_ERR_PARAM_INVALID;
    }
    for (uint32_t d = 0; d < t->ndim; d++)
        if (t->dims[d] == 0) return ACLNN_SUCCESS; /* empty view: addresses nothing */
    if (mr_view_span(t->dims, t->strides, t->ndim, &lo, &hi)) {
        mr_error_push("%s: the strides of %s overflow int64", api, name);
        return ACLNN_ERR_PARAM_INVALID;
    }
    const int64_t own_extent = hi + 1; /* the storage when no storage dims were given */
    if (mr_add_i64(lo, t->offset, &lo) || mr_add_i64(hi, t->offset, &hi) || mr_add_i64(hi, 1, &end_bytes) ||
        mr_mul_i64(end_bytes, (int64_t)aclDataTypeSize(t->dtype), &end_bytes)) {
        mr_error_push("%s: %s reaches beyond any addressable memory (offset %lld)", api, name, (long long)t->offset);
        return ACLNN_ERR_PARAM_INVALID;
    }
    const int64_t storage = t->storage_len >= 0 ? t->storage_len : own_extent;
    if (lo < 0 || hi >= storage) {
        mr_error_push("%s: %s addresses elements [%lld, %lld] outside its storage of %lld elements%s", api, name,
                      (long long)lo, (long long)hi, (long long)storage,
                      t->storage_len >= 0 ? "" : " (no storage dims: the storage is the view's extent from element 0)");
        return ACLNN_ERR_PARAM_INVALID;
    }
    return ACLNN_SUCCESS;
}

mr_view mr_aclnn_view(const aclTensor *t)
{
    mr_view v;
    memset(&v, 0, sizeof v);
    v.ndim = t->ndim;
    v.esize = (uint32_t)aclDataTypeSize(t->dtype);
    memcpy(v.dims, t->dims, sizeof v.dims);
    memcpy(v.strides, t->strides, sizeof v.strides);
    return v;
}

/* The contiguous view over a tensor's storage dims (FRACTAL_NZ and mr_aclnn_as_storage tensors). */
static mr_view mr_storage_view(const aclTensor *t)
{
    return mr_view_contiguous(NULL, aclDataTypeSize(t->dtype), t->storage_ndim, t->storage_dims);
}

/* Whether argument i's tensor t is kept as its storage. */
static int mr_as_storage(const mr_aclnn_call *c, size_t i, const aclTensor *t)
{
    return t->format == ACL_FORMAT_FRACTAL_NZ || (c->storage & (1u << i));
}

/* A storage-kept tensor: storage dims given, and [offset, offset + their product) inside the storage. */
static aclnnStatus mr_check_storage(const char *api, const char *name, const aclTensor *t)
{
    if (t->storage_ndim == 0 || t->storage_len < 0) {
        mr_error_push("%s: %s is laid out as its storage (format %d) but has no storage dims", api, name,
                      (int)t->format);
        return ACLNN_ERR_PARAM_INVALID;
    }
    if (t->offset != 0) { /* the storage shape is the whole buffer: nothing may precede it */
        mr_error_push("%s: %s is laid out as its storage (format %d): its view offset must be 0, got %lld", api, name,
                      (int)t->format, (long long)t->offset);
        return ACLNN_ERR_PARAM_INVALID;
    }
    return ACLNN_SUCCESS;
}

static mr_tref mr_ref(const aclTensor *t, int storage)
{
    mr_tref r = {t, t->data, t->offset, storage ? mr_storage_view(t) : mr_aclnn_view(t)};
    return r;
}

void mr_aclnn_destroy(void *state) { mr_free(state); }

#define MR_ALIGN16(v) (((v) + 15u) & ~(size_t)15u)

aclnnStatus mr_aclnn_finish(mr_aclnn_call *c, const void *plan, size_t plan_size, uint64_t plan_workspace)
{
    const mr_aclnn_op *op = c->op;
    const char *api = op->prepare_name;
    /* views inside their storage, contiguous outputs (spec decision 8) */
    size_t nrefs = op->nslots, append = op->nslots, slot[MR_ACLNN_MAX_ARGS] = {0};
    for (size_t i = 0; i < op->nargs; i++) {
        if (!c->args[i]) continue;
        const aclTensorList *l = op->args[i].list ? c->args[i] : NULL;
        uint64_t count = l ? l->size : 1;
        slot[i] = op->args[i].slot == MR_ACLNN_SLOT_APPEND ? append : op->args[i].slot;
        if (op->args[i].slot == MR_ACLNN_SLOT_APPEND) append += (size_t)count;
        if (slot[i] + count > nrefs) nrefs = slot[i] + (size_t)count;
        for (uint64_t k = 0; k < count; k++) {
            const aclTensor *t = l ? l->tensors[k] : c->args[i];
            aclnnStatus st = mr_as_storage(c, i, t) ? mr_check_storage(api, op->args[i].name, t)
                                                    : mr_check_view(api, op->args[i].name, t);
            if (st != ACLNN_SUCCESS) return st;
            const mr_view v = mr_as_storage(c, i, t) ? mr_storage_view(t) : mr_aclnn_view(t);
            if (op->args[i].output && !mr_view_is_contiguous(&v))
                return mr_aclnn_invalid(c, "%s must be contiguous", op->args[i].name);
        }
    }
    size_t refs_at = MR_ALIGN16(sizeof(mr_aclnn_state)), plan_at = MR_ALIGN16(refs_at + nrefs * sizeof(mr_tref));
    mr_aclnn_state *s = mr_calloc(1, plan_at + plan_size);
    if (!s) {
        mr_error_push("%s: out of memory", api);
        return ACLNN_ERR_INNER;
    }
    s->op = op;
    s->nrefs = nrefs;
    s->refs = (mr_tref *)((char *)s + refs_at);
    s->plan = (char *)s + plan_at;
    memcpy(s->plan, plan, plan_size);
    memcpy(s->slot, slot, sizeof s->slot);
    for (size_t i = 0; i < op->nargs; i++) {
        if (!c->args[i] || (c->unused & (1u << i))) continue;
        if (op->args[i].list) {
            const aclTensorList *l = c->args[i];
            s->list_id[i] = l;
            s->list_len[i] = (size_t)l->size;
            for (uint64_t k = 0; k < l->size; k++)
                s->refs[slot[i] + k] = mr_ref(l->tensors[k], mr_as_storage(c, i, l->tensors[k]));
        } else {
            s->refs[slot[i]] = mr_ref(c->args[i], mr_as_storage(c, i, c->args[i]));
        }
    }
    aclOpExecutor *e = mr_executor_create(&op->exec, s);
    if (!e) return ACLNN_ERR_INNER;
    *c->workspace_size = plan_workspace;
    *c->executor = e;
    return ACLNN_SUCCESS;
}

/* Table position of the index-th input (or output) argument. */
static const mr_arg_spec *mr_nth_arg(const mr_aclnn_op *op, int is_output, size_t index, size_t *pos)
{
    size_t seen = 0;
    for (size_t i = 0; i < op->nargs; i++)
        if (op->args[i].output == (uint8_t)is_output && seen++ == index) {
            *pos = i;
            return &op->args[i];
        }
    return NULL;
}

aclnnStatus mr_aclnn_set_addr(void *state, int is_output, int list, size_t index, size_t rel, const void *arg,
                              void *addr)
{
    mr_aclnn_state *s = state;
    const char *api = list ? (is_output ? "aclSetDynamicOutputTensorAddr" : "aclSetDynamicInputTensorAddr")
                           : (is_output ? "aclSetOutputTensorAddr" : "aclSetInputTensorAddr");
    size_t pos = 0;
    const mr_arg_spec *a = mr_nth_arg(s->op, is_output, index, &pos);
    if (!a) {
        mr_error_push("%s: %s has no %s at index %zu", api, s->op->exec.op_name, is_output ? "output" : "input", index);
        return ACLNN_ERR_PARAM_INVALID;
    }
    if (a->list != (uint8_t)list) {
        mr_error_push("%s: %s argument %s is %s; use %s", api, s->op->exec.op_name, a->name,
                      a->list ? "a tensor list" : "a single tensor",
                      a->list ? "aclSetDynamic*TensorAddr" : "aclSetInputTensorAddr/aclSetOutputTensorAddr");
        return ACLNN_ERR_PARAM_INVALID;
    }
    mr_tref *ref;
    if (list) {
        if (rel >= s->list_len[pos]) {
            mr_error_push("%s: %s has %zu tensors; relativeIndex %zu is out of range", api, a->name, s->list_len[pos],
                          rel);
            return ACLNN_ERR_PARAM_INVALID;
        }
        if (arg && arg != s->list_id[pos]) {
            mr_error_push("%s: the tensor list is not the one given as %s", api, a->name);
            return ACLNN_ERR_PARAM_INVALID;
        }
        ref = &s->refs[s->slot[pos] + rel];
    } else {
        ref = &s->refs[s->slot[pos]];
        if (!ref->id) {
            mr_error_push("%s: optional argument %s was not given", api, a->name);
            return ACLNN_ERR_PARAM_INVALID;
        }
        if (arg && arg != ref->id) {
            mr_error_push("%s: tensor is not the one given as %s", api, a->name);
            return ACLNN_ERR_PARAM_INVALID;
        }
    }
    ref->data = addr;
    return ACLNN_SUCCESS;
}

aclnnStatus mr_aclnn_execute(const mr_aclnn_op *op, void *workspace, uint64_t workspace_size,
                             aclOpExecutor *executor, aclrtStream stream)
{
    const char *api = op->exec.op_name;
    void *raw;
    aclnnStatus ast = mr_executor_acquire(executor, &op->exec, api, &raw);
    if (ast != ACLNN_SUCCESS) return ast;
    mr_aclnn_state *s = raw;
    moeroute_status st;
    if (!mr_stream_is_valid(stream)) {
        st = mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: stream %p is not a live stream", api, stream);
    } else {
        mr_view small[24]; /* more views (long tensor lists) on the heap */
        mr_view *views = s->nrefs <= sizeof small / sizeof small[0] ? small : mr_malloc(s->nrefs * sizeof *views);
        if (!views) {
            st = mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu tensor views", api, s->nrefs);
        } else {
            for (size_t i = 0; i < s->nrefs; i++) {
                const mr_tref *r = &s->refs[i];
                views[i] = r->view;
                views[i].data = r->data ? r->data + r->offset * (int64_t)r->view.esize : NULL;
            }
            size_t ws = workspace_size > SIZE_MAX ? SIZE_MAX : (size_t)workspace_size;
            st = mr_op_run_default_fp(op->run, s->plan, views, workspace, ws, mr_default_pool(), api);
            if (views != small) mr_free(views);
        }
    }
    mr_executor_release(executor);
    return mr_status_to_aclnn(st);
}

int mr_aclnn_device_limits(void)
{
    const char *v = getenv("MOEROUTE_DEVICE_LIMITS");
    return !(v && v[0] == '0' && v[1] == 0);
}
