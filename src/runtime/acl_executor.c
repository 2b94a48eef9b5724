/* Executors: a live-handle registry so released or foreign handles are refused, one-shot vs repeatable runs
 * (spec decision 7, docs/framework.md "Executors"). */
#include <stdlib.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/handle_set.h"
#include "runtime/acl_internal.h"

struct aclOpExecutor {
    const mr_executor_ops *ops;
    void *state;
    int repeatable;
};

static mr_handle_set mr_live_executors = MR_HANDLE_SET_INIT;

aclOpExecutor *mr_executor_create(const mr_executor_ops *ops, void *state)
{
    aclOpExecutor *e = mr_malloc(sizeof *e);
    if (e) {
        e->ops = ops;
        e->state = state;
        e->repeatable = 0;
        if (mr_handle_set_add(&mr_live_executors, e) != 0) {
            mr_free(e);
            e = NULL;
        }
    }
    if (!e) {
        ops->destroy(state);
        mr_error_push("%s: out of memory creating the executor", ops->op_name);
    }
    return e;
}

static void mr_executor_free(aclOpExecutor *e)
{
    e->ops->destroy(e->state);
    mr_free(e);
}

typedef struct mr_take {
    const mr_executor_ops *want, *ops;
    int repeatable, taken;
} mr_take;

/* Runs with the registry locked: read what the caller needs, and take a one-shot executor out. */
static int mr_take_fn(const void *handle, void *ctx)
{
    const aclOpExecutor *e = handle;
    mr_take *t = ctx;
    t->ops = e->ops;
    t->repeatable = e->repeatable;
    t->taken = !e->repeatable;
    return t->taken;
}

aclnnStatus mr_executor_acquire(aclOpExecutor *executor, const mr_executor_ops *ops, const char *api, void **state)
{
    if (!executor) {
        mr_error_push("%s: executor is NULL", api);
        return ACLNN_ERR_INNER_NULLPTR;
    }
    mr_take t = {ops, NULL, 0, 0};
    if (!mr_handle_set_visit(&mr_live_executors, executor, mr_take_fn, &t)) {
        mr_error_push("%s: executor %p is not live (already run once, destroyed, or never created)", api,
                      (void *)executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    if (t.ops != ops) {
        mr_error_push("%s: executor was created by %s%s", api, t.ops->op_name,
                      t.taken ? "; it was one-shot and is now released" : "");
        if (t.taken) mr_executor_free(executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    *state = executor->state;
    return ACLNN_SUCCESS;
}

void mr_executor_release(aclOpExecutor *executor)
{
    if (!executor->repeatable) mr_executor_free(executor);
}

static int mr_set_repeatable_fn(const void *handle, void *ctx)
{
    (void)ctx;
    ((aclOpExecutor *)(uintptr_t)handle)->repeatable = 1;
    return 0;
}

aclnnStatus aclSetAclOpExecutorRepeatable(aclOpExecutor *executor)
{
    if (!executor) {
        mr_error_push("aclSetAclOpExecutorRepeatable: executor is NULL");
        return ACLNN_ERR_INNER_NULLPTR;
    }
    if (!mr_handle_set_visit(&mr_live_executors, executor, mr_set_repeatable_fn, NULL)) {
        mr_error_push("aclSetAclOpExecutorRepeatable: executor %p is not live", (void *)executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    return ACLNN_SUCCESS;
}

aclnnStatus aclDestroyAclOpExecutor(aclOpExecutor *executor)
{
    if (!executor) {
        mr_error_push("aclDestroyAclOpExecutor: executor is NULL");
        return ACLNN_ERR_INNER_NULLPTR;
    }
    if (!mr_handle_set_remove(&mr_live_executors, executor)) {
        mr_error_push("aclDestroyAclOpExecutor: executor %p is not live (already released?)", (void *)executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    mr_executor_free(executor);
    return ACLNN_SUCCESS;
}

typedef struct mr_addr_req {
    int is_output, list;
    size_t index, rel;
    const void *arg;
    void *addr;
    aclnnStatus status;
} mr_addr_req;

/* With the registry locked, so the executor cannot be released meanwhile. */
static int mr_set_addr_fn(const void *handle, void *ctx)
{
    const aclOpExecutor *e = handle;
    mr_addr_req *r = ctx;
    r->status = e->ops->set_addr(e->state, r->is_output, r->list, r->index, r->rel, r->arg, r->addr);
    return 0;
}

static aclnnStatus mr_set_addr(const char *api, aclOpExecutor *executor, int is_output, int list, size_t index,
                               size_t rel, const void *arg, void *addr)
{
    if (!executor) {
        mr_error_push("%s: executor is NULL", api);
        return ACLNN_ERR_INNER_NULLPTR;
    }
    mr_addr_req r = {is_output, list, index, rel, arg, addr, ACLNN_SUCCESS};
    if (!mr_handle_set_visit(&mr_live_executors, executor, mr_set_addr_fn, &r)) {
        mr_error_push("%s: executor %p is not live", api, (void *)executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    return r.status;
}

aclnnStatus aclSetInputTensorAddr(aclOpExecutor *executor, const size_t index, aclTensor *tensor, void *addr)
{
    return mr_set_addr("aclSetInputTensorAddr", executor, 0, 0, index, 0, tensor, addr);
}

aclnnStatus aclSetOutputTensorAddr(aclOpExecutor *executor, const size_t index, aclTensor *tensor, void *addr)
{
    return mr_set_addr("aclSetOutputTensorAddr", executor, 1, 0, index, 0, tensor, addr);
}

aclnnStatus aclSetDynamicInputTensorAddr(aclOpExecutor *executor, size_t irIndex, const size_t relativeIndex,
                                         aclTensorList *tensors, void *addr)
{
    return mr_set_addr("aclSetDynamicInputTensorAddr", executor, 0, 1, irIndex, relativeIndex, tensors, addr);
}

aclnnStatus aclSetDynamicOutputTensorAddr(aclOpExecutor *executor, size_t irIndex, const size_t relativeIndex,
                                          aclTensorList *tensors, void *addr)
{
    return mr_set_addr("aclSetDynamicOutputTensorAddr", executor, 1, 1, irIndex, relativeIndex, tensors, addr);
}

/* The capitalised names CANN 8.1.RC1 also exports. */
aclnnStatus AclSetInputTensorAddr(aclOpExecutor *executor, const size_t index, aclTensor *tensor, void *addr)
{
    return aclSetInputTensorAddr(executor, index, tensor, addr);
}
aclnnStatus AclSetOutputTensorAddr(aclOpExecutor *executor, const size_t index, aclTensor *tensor, void *addr)
{
    return aclSetOutputTensorAddr(executor, index, tensor, addr);
}
aclnnStatus AclSetDynamicInputTensorAddr(aclOpExecutor *executor, size_t irIndex, const size_t relativeIndex,
                                         aclTensorList *tensors, void *addr)
{
    return aclSetDynamicInputTensorAddr(executor, irIndex, relativeIndex, tensors, addr);
}
aclnnStatus AclSetDynamicOutputTensorAddr(aclOpExecutor *executor, size_t irIndex, const size_t relativeIndex,
                                          aclTensorList *tensors, void *addr)
{
    return aclSetDynamicOutputTensorAddr(executor, irIndex, relativeIndex, tensors, addr);
}

aclnnStatus mr_status_to_aclnn(moeroute_status st)
{
    switch (st) {
    case MOEROUTE_OK: return ACLNN_SUCCESS;
    case MOEROUTE_ERR_NULL_POINTER: return ACLNN_ERR_PARAM_NULLPTR;
    case MOEROUTE_ERR_INVALID_SHAPE:
    case MOEROUTE_ERR_TOO_LARGE: return ACLNN_ERR_INNER_TILING_ERROR;
    case MOEROUTE_ERR_OUT_OF_MEMORY: return ACLNN_ERR_INNER;
    case MOEROUTE_ERR_INVALID_DTYPE:
    case MOEROUTE_ERR_INVALID_VALUE:
    case MOEROUTE_ERR_ALIASING:
    case MOEROUTE_ERR_WORKSPACE:
    case MOEROUTE_ERR_INVALID_OPTION:
    default: return ACLNN_ERR_PARAM_INVALID;
    }
}
