/* aclnnMoeInitRoutingQuant and aclnnMoeInitRouting: tensor-level validation in the order of the
 * auto-generated CANN wrappers (spec 1.6: null pointers, then dtype/format, then tiling shape checks), then
 * moeroute's own view checks, then the shared operator in init_routing.c. */
#include <stdlib.h>

#include "common/alloc.h"
#include "aclnnop/aclnn_moe_init_routing.h"
#include "aclnnop/aclnn_moe_init_routing_quant.h"
#include "common/error.h"
#include "operators/init_routing.h"
#include "runtime/acl_internal.h"
#include "threadpool/default_pool.h"

enum { MR_IN_X, MR_IN_ROW_IDX, MR_IN_EXPERT_IDX, MR_NUM_IN };
enum { MR_OUT_X, MR_OUT_ROW_IDX, MR_OUT_EXPERT_IDX, MR_NUM_OUT };

/* What an executor keeps of a tensor: the caller may destroy the aclTensor after phase 1. */
typedef struct mr_tensor_ref {
    const aclTensor *tensor; /* identity only, never dereferenced after phase 1 */
    char *data;
    int64_t offset;
    int64_t s0, s1;
} mr_tensor_ref;

typedef struct mr_routing_state {
    mr_routing_plan plan;
    mr_tensor_ref in[MR_NUM_IN], out[MR_NUM_OUT];
} mr_routing_state;

static const char *const mr_in_names[MR_NUM_IN] = {"x", "rowIdx", "expertIdx"};
static const char *const mr_out_names[MR_NUM_OUT] = {"expandedXOut", "expandedRowIdxOut", "expandedExpertIdxOut"};

static const char *mr_dtype_name(aclDataType t)
{
    switch (t) {
    case ACL_FLOAT: return "FLOAT";
    case ACL_FLOAT16: return "FLOAT16";
    case ACL_BF16: return "BFLOAT16";
    case ACL_INT8: return "INT8";
    case ACL_INT32: return "INT32";
    case ACL_INT64: return "INT64";
    default: return "another dtype";
    }
}

/* Spec decision 8: every element of a view lies inside its storage. */
static aclnnStatus mr_check_view(const char *api, const char *name, const aclTensor *t)
{
    int64_t lo, hi, offset_bytes;
    if (mr_mul_i64(t->offset, (int64_t)aclDataTypeSize(t->dtype), &offset_bytes)) {
        mr_error_push("%s: the view offset of %s (%lld) is beyond any addressable memory", api, name,
                      (long long)t->offset);
        return ACLNN_ERR_PARAM_INVALID;
    }
    for (uint32_t d = 0; d < t->ndim; d++)
        if (t->dims[d] == 0) return ACLNN_SUCCESS; /* empty view: addresses nothing */
    if (mr_view_span(t->dims, t->strides, t->ndim, &lo, &hi) || mr_add_i64(lo, t->offset, &lo) ||
        mr_add_i64(hi, t->offset, &hi)) {
        mr_error_push("%s: the strides of %s overflow int64", api, name);
        return ACLNN_ERR_PARAM_INVALID;
    }
    int64_t end_bytes;
    if (mr_add_i64(hi, 1, &end_bytes) || mr_mul_i64(end_bytes, (int64_t)aclDataTypeSize(t->dtype), &end_bytes)) {
        mr_error_push("%s: %s reaches beyond any addressable memory (offset %lld)", api, name, (long long)t->offset);
        return ACLNN_ERR_PARAM_INVALID;
    }
    if (lo < 0 || (t->storage_len >= 0 && hi >= t->storage_len)) {
        mr_error_push("%s: %s addresses elements [%lld, %lld] outside its storage of %lld elements", api, name,
                      (long long)lo, (long long)hi, (long long)(t->storage_len >= 0 ? t->storage_len : hi + 1));
        return ACLNN_ERR_PARAM_INVALID;
    }
    return ACLNN_SUCCESS;
}

static int mr_is_contiguous(const aclTensor *t)
{
    int64_t expect = 1;
    for (uint32_t d = t->ndim; d-- > 0;) {
        if (t->dims[d] == 0) return 1;
        if (t->dims[d] != 1 && t->strides[d] != expect) return 0;
        expect *= t->dims[d]; /* cannot overflow: the view was checked to fit in int64 */
    }
    return 1;
}

static mr_tensor_ref mr_ref(const aclTensor *t)
{
    mr_tensor_ref r = {t, t->data, t->offset, 0, 0};
    if (t->ndim >= 1) r.s0 = t->strides[0];
    if (t->ndim >= 2) r.s1 = t->strides[1];
    return r;
}

static void mr_state_destroy(void *state) { mr_free(state); }

static aclnnStatus mr_state_set_addr(void *state, int is_output, size_t index, const aclTensor *tensor, void *addr)
{
    mr_routing_state *s = state;
    mr_tensor_ref *ref = is_output ? s->out : s->in;
    size_t count = is_output ? MR_NUM_OUT : MR_NUM_IN;
    if (index >= count) {
        mr_error_push("aclSet%sTensorAddr: index %zu is out of range (the operator has %zu)",
                      is_output ? "Output" : "Input", index, count);
        return ACLNN_ERR_PARAM_INVALID;
    }
    if (tensor && tensor != ref[index].tensor) {
        mr_error_push("aclSet%sTensorAddr: tensor is not the one given at position %zu",
                      is_output ? "Output" : "Input", index);
        return ACLNN_ERR_PARAM_INVALID;
    }
    ref[index].data = addr;
    return ACLNN_SUCCESS;
}

static const mr_executor_ops mr_quant_ops = {"aclnnMoeInitRoutingQuant", mr_state_set_addr, mr_state_destroy};
static const mr_executor_ops mr_copy_ops = {"aclnnMoeInitRouting", mr_state_set_addr, mr_state_destroy};

static aclnnStatus mr_shape_error(const char *api, const char *what)
{
    mr_error_push("%s: %s", api, what);
    return ACLNN_ERR_INNER_TILING_ERROR;
}

static aclnnStatus mr_prepare(const mr_executor_ops *ops, int quant, const aclTensor *x, const aclTensor *rowIdx,
                              const aclTensor *expertIdx, int64_t activeNum, double scale, double offset,
                              const aclTensor *expandedX, const aclTensor *expandedRowIdx,
                              const aclTensor *expandedExpertIdx, uint64_t *workspaceSize, aclOpExecutor **executor)
{
    const char *api = quant ? "aclnnMoeInitRoutingQuantGetWorkspaceSize" : "aclnnMoeInitRoutingGetWorkspaceSize";
    const aclTensor *in[MR_NUM_IN] = {x, rowIdx, expertIdx};
    const aclTensor *out[MR_NUM_OUT] = {expandedX, expandedRowIdx, expandedExpertIdx};

    /* 1. null pointers */
    for (int i = 0; i < MR_NUM_IN; i++)
        if (!in[i]) return mr_error_push("%s: %s is NULL", api, mr_in_names[i]), ACLNN_ERR_PARAM_NULLPTR;
    for (int i = 0; i < MR_NUM_OUT; i++)
        if (!out[i]) return mr_error_push("%s: %s is NULL", api, mr_out_names[i]), ACLNN_ERR_PARAM_NULLPTR;
    if (!workspaceSize || !executor)
        return mr_error_push("%s: workspaceSize or executor is NULL", api), ACLNN_ERR_PARAM_NULLPTR;

    /* 2. dtype and format, as the op definition lists them */
    mr_xtype xtype;
    switch (x->dtype) {
    case ACL_FLOAT16: xtype = MR_X_F16; break;
    case ACL_BF16: xtype = MR_X_BF16; break;
    case ACL_FLOAT: xtype = MR_X_F32; break;
    default:
        mr_error_push("%s: x must be FLOAT16, BFLOAT16 or FLOAT, got %s (%d)", api, mr_dtype_name(x->dtype),
                      (int)x->dtype);
        return ACLNN_ERR_PARAM_INVALID;
    }
    const aclDataType want_out[MR_NUM_OUT] = {quant ? ACL_INT8 : x->dtype, ACL_INT32, ACL_INT32};
    for (int i = 1; i < MR_NUM_IN; i++)
        if (in[i]->dtype != ACL_INT32) {
            mr_error_push("%s: %s must be INT32, got %s (%d)", api, mr_in_names[i], mr_dtype_name(in[i]->dtype),
                          (int)in[i]->dtype);
            return ACLNN_ERR_PARAM_INVALID;
        }
    for (int i = 0; i < MR_NUM_OUT; i++)
        if (out[i]->dtype != want_out[i]) {
            mr_error_push("%s: %s must be %s, got %s (%d)", api, mr_out_names[i], mr_dtype_name(want_out[i]),
                          mr_dtype_name(out[i]->dtype), (int)out[i]->dtype);
            return ACLNN_ERR_PARAM_INVALID;
        }
    for (int i = 0; i < MR_NUM_IN + MR_NUM_OUT; i++) {
        const aclTensor *t = i < MR_NUM_IN ? in[i] : out[i - MR_NUM_IN];
        if (t->format != ACL_FORMAT_ND) {
            mr_error_push("%s: %s must have format ND (%d), got %d", api,
                          i < MR_NUM_IN ? mr_in_names[i] : mr_out_names[i - MR_NUM_IN], (int)ACL_FORMAT_ND,
                          (int)t->format);
            return ACLNN_ERR_PARAM_INVALID;
        }
    }

    /* 3. shapes and attributes, in the order of the tiling checks */
    if (x->ndim != 2) return mr_shape_error(api, "x must be 2-D [N, H]");
    if (rowIdx->ndim != 2) return mr_shape_error(api, "rowIdx must be 2-D [N, K]");
    if (expertIdx->ndim != 2 || rowIdx->dims[0] != expertIdx->dims[0] || rowIdx->dims[1] != expertIdx->dims[1])
        return mr_shape_error(api, "rowIdx and expertIdx must have the same 2-D shape [N, K]");
    if (x->dims[0] != expertIdx->dims[0]) return mr_shape_error(api, "x.dim0 must equal expertIdx.dim0 (N)");
    if (activeNum < 0) {
        mr_error_push("%s: activeNum must be >= 0, got %lld", api, (long long)activeNum);
        return ACLNN_ERR_INNER_TILING_ERROR;
    }
    const int64_t N = x->dims[0], H = x->dims[1], K = expertIdx->dims[1];
    int64_t L;
    if (mr_mul_i64(N, K, &L) || L > INT32_MAX) {
        mr_error_push("%s: N*K = %lld*%lld exceeds INT32_MAX; indices are int32", api, (long long)N, (long long)K);
        return ACLNN_ERR_INNER_TILING_ERROR;
    }
    const int64_t A = (activeNum < N ? activeNum : N) * K;
    if (expandedX->ndim != 2 || expandedX->dims[0] != A || expandedX->dims[1] != H) {
        mr_error_push("%s: expandedXOut must be [min(N, activeNum)*K, H] = [%lld, %lld]", api, (long long)A,
                      (long long)H);
        return ACLNN_ERR_INNER_TILING_ERROR;
    }
    if (expandedRowIdx->ndim != 1 || expandedExpertIdx->ndim != 1 ||
        expandedRowIdx->dims[0] != expandedExpertIdx->dims[0] || expandedRowIdx->dims[0] != L) {
        mr_error_push("%s: expandedRowIdxOut and expandedExpertIdxOut must both be 1-D [N*K] = [%lld]", api,
                      (long long)L);
        return ACLNN_ERR_INNER_TILING_ERROR;
    }

    /* 4. views inside their storage, contiguous outputs (spec decision 8) */
    for (int i = 0; i < MR_NUM_IN + MR_NUM_OUT; i++) {
        const aclTensor *t = i < MR_NUM_IN ? in[i] : out[i - MR_NUM_IN];
        const char *name = i < MR_NUM_IN ? mr_in_names[i] : mr_out_names[i - MR_NUM_IN];
        aclnnStatus st = mr_check_view(api, name, t);
        if (st != ACLNN_SUCCESS) return st;
        if (i >= MR_NUM_IN && !mr_is_contiguous(t)) {
            mr_error_push("%s: %s must be contiguous", api, name);
            return ACLNN_ERR_PARAM_INVALID;
        }
    }

    mr_routing_state *state = mr_calloc(1, sizeof *state);
    if (!state) return mr_error_push("%s: out of memory", api), ACLNN_ERR_INNER;
    mr_routing_shape shape = {N, K, H, activeNum, xtype, quant, scale, offset};
    moeroute_status st =
        mr_routing_plan_init(&state->plan, &shape, MOEROUTE_ISA_AUTO, mr_pool_threads(mr_default_pool()), api);
    if (st != MOEROUTE_OK) {
        mr_free(state);
        return mr_status_to_aclnn(st);
    }
    for (int i = 0; i < MR_NUM_IN; i++) state->in[i] = mr_ref(in[i]);
    for (int i = 0; i < MR_NUM_OUT; i++) state->out[i] = mr_ref(out[i]);
    aclOpExecutor *e = mr_executor_create(ops, state);
    if (!e) return ACLNN_ERR_INNER;
    *workspaceSize = state->plan.ws.size;
    *executor = e;
    return ACLNN_SUCCESS;
}

static void *mr_ref_ptr(const mr_tensor_ref *r, size_t esize)
{
    return r->data ? r->data + r->offset * (int64_t)esize : NULL;
}

static aclnnStatus mr_execute(const mr_executor_ops *ops, void *workspace, uint64_t workspaceSize,
                              aclOpExecutor *executor, aclrtStream stream)
{
    const char *api = ops->op_name;
    if (!executor) {
        mr_error_push("%s: executor is NULL", api);
        return ACLNN_ERR_INNER_NULLPTR;
    }
    if (!mr_stream_is_valid(stream)) {
        mr_error_push("%s: stream %p is not a live stream", api, stream);
        return ACLNN_ERR_PARAM_INVALID;
    }
    void *raw;
    aclnnStatus ast = mr_executor_acquire(executor, ops, &raw);
    if (ast != ACLNN_SUCCESS) return ast;
    mr_routing_state *s = raw;
    const mr_routing_plan *p = &s->plan;
    mr_routing_io io = {
        mr_ref_ptr(&s->in[MR_IN_X], p->x_esize), s->in[MR_IN_X].s0, s->in[MR_IN_X].s1,
        mr_ref_ptr(&s->in[MR_IN_EXPERT_IDX], 4), s->in[MR_IN_EXPERT_IDX].s0, s->in[MR_IN_EXPERT_IDX].s1,
        mr_ref_ptr(&s->in[MR_IN_ROW_IDX], 4), s->in[MR_IN_ROW_IDX].s0, s->in[MR_IN_ROW_IDX].s1,
        0,
        mr_ref_ptr(&s->out[MR_OUT_X], p->out_esize),
        mr_ref_ptr(&s->out[MR_OUT_ROW_IDX], 4),
        mr_ref_ptr(&s->out[MR_OUT_EXPERT_IDX], 4),
    };
    size_t ws_size = workspaceSize > SIZE_MAX ? SIZE_MAX : (size_t)workspaceSize;
    moeroute_status st = mr_routing_run(p, &io, workspace, ws_size, mr_default_pool(), api);
    mr_executor_release(executor);
    return mr_status_to_aclnn(st);
}

aclnnStatus aclnnMoeInitRoutingQuantGetWorkspaceSize(const aclTensor *x, const aclTensor *rowIdx,
                                                     const aclTensor *expertIdx, int64_t activeNum, double scale,
                                                     double offset, const aclTensor *expandedXOut,
                                                     const aclTensor *expandedRowIdxOut,
                                                     const aclTensor *expandedExpertIdxOut, uint64_t *workspaceSize,
                                                     aclOpExecutor **executor)
{
    return mr_prepare(&mr_quant_ops, 1, x, rowIdx, expertIdx, activeNum, scale, offset, expandedXOut,
                      expandedRowIdxOut, expandedExpertIdxOut, workspaceSize, executor);
}

aclnnStatus aclnnMoeInitRoutingQuant(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor,
                                     aclrtStream stream)
{
    return mr_execute(&mr_quant_ops, workspace, workspaceSize, executor, stream);
}

aclnnStatus aclnnMoeInitRoutingGetWorkspaceSize(const aclTensor *x, const aclTensor *rowIdx,
                                                const aclTensor *expertIdx, int64_t activeNum,
                                                const aclTensor *expandedXOut, const aclTensor *expandedRowIdxOut,
                                                const aclTensor *expandedExpertIdxOut, uint64_t *workspaceSize,
                                                aclOpExecutor **executor)
{
    return mr_prepare(&mr_copy_ops, 0, x, rowIdx, expertIdx, activeNum, 0.0, 0.0, expandedXOut, expandedRowIdxOut,
                      expandedExpertIdxOut, workspaceSize, executor);
}

aclnnStatus aclnnMoeInitRouting(void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, aclrtStream stream)
{
    return mr_execute(&mr_copy_ops, workspace, workspaceSize, executor, stream);
}
