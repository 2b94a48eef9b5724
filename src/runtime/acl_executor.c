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

aclnnStatus mr_executor_acquire(aclOpExecutor *executor, const mr_executor_ops *ops, void **state)
{
    if (!executor) {
        mr_error_push("%s: executor is NULL", ops->op_name);
        return ACLNN_ERR_INNER_NULLPTR;
    }
    /* Membership is checked before the handle is read, so a released or foreign pointer is never
     * dereferenced. A one-shot executor leaves the set right here: a concurrent second run fails. */
    if (!mr_handle_set_contains(&mr_live_executors, executor)) {
        mr_error_push("%s: executor %p is not live (already run once, destroyed, or never created)",
                      ops->op_name, (void *)executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    if (executor->ops != ops) {
        mr_error_push("%s: executor was created by %s", ops->op_name, executor->ops->op_name);
        return ACLNN_ERR_PARAM_INVALID;
    }
    if (!executor->repeatable && !mr_handle_set_remove(&mr_live_executors, executor)) {
        mr_error_push("%s: executor %p is already running or released", ops->op_name, (void *)executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    *state = executor->state;
    return ACLNN_SUCCESS;
}

void mr_executor_release(aclOpExecutor *executor)
{
    if (!executor->repeatable) mr_executor_free(executor);
}

aclnnStatus aclSetAclOpExecutorRepeatable(aclOpExecutor *executor)
{
    if (!executor) {
        mr_error_push("aclSetAclOpExecutorRepeatable: executor is NULL");
        return ACLNN_ERR_INNER_NULLPTR;
    }
    if (!mr_handle_set_contains(&mr_live_executors, executor)) {
        mr_error_push("aclSetAclOpExecutorRepeatable: executor %p is not live", (void *)executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    executor->repeatable = 1;
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

static aclnnStatus mr_set_addr(const char *api, aclOpExecutor *executor, int is_output, size_t index,
                               aclTensor *tensor, void *addr)
{
    if (!executor) {
        mr_error_push("%s: executor is NULL", api);
        return ACLNN_ERR_INNER_NULLPTR;
    }
    if (!mr_handle_set_contains(&mr_live_executors, executor)) {
        mr_error_push("%s: executor %p is not live", api, (void *)executor);
        return ACLNN_ERR_PARAM_INVALID;
    }
    return executor->ops->set_addr(executor->state, is_output, index, tensor, addr);
}

aclnnStatus aclSetInputTensorAddr(aclOpExecutor *executor, const size_t index, aclTensor *tensor, void *addr)
{
    return mr_set_addr("aclSetInputTensorAddr", executor, 0, index, tensor, addr);
}

aclnnStatus aclSetOutputTensorAddr(aclOpExecutor *executor, const size_t index, aclTensor *tensor, void *addr)
{
    return mr_set_addr("aclSetOutputTensorAddr", executor, 1, index, tensor, addr);
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
