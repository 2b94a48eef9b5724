/* Internal shapes of the CANN runtime objects emulated on the host. */
#ifndef MR_RUNTIME_ACL_INTERNAL_H
#define MR_RUNTIME_ACL_INTERNAL_H

#include <stdint.h>

#include "aclnn/acl_meta.h"
#include "acl/acl_rt.h"

struct aclTensor {
    aclDataType dtype;
    aclFormat format;
    uint32_t ndim;
    uint32_t storage_ndim;
    int64_t dims[MOEROUTE_MAX_TENSOR_DIMS];
    int64_t strides[MOEROUTE_MAX_TENSOR_DIMS];
    int64_t storage_dims[MOEROUTE_MAX_TENSOR_DIMS];
    int64_t offset;      /* view offset, elements */
    int64_t storage_len; /* elements in the storage; -1: not given (the view's own extent) */
    void *data;          /* storage base; the view starts at data + offset elements */
};

/* Operator behaviour behind the generic executor. */
typedef struct mr_executor_ops {
    const char *op_name; /* e.g. "aclnnMoeInitRoutingQuant" */
    /* Re-point argument `index` (input or output) at addr; nonzero status if index is out of range. */
    aclnnStatus (*set_addr)(void *state, int is_output, size_t index, const aclTensor *tensor, void *addr);
    void (*destroy)(void *state);
} mr_executor_ops;

/* Wrap an operator's state; NULL (state destroyed, message set) when memory runs out. */
aclOpExecutor *mr_executor_create(const mr_executor_ops *ops, void *state);

/* Take the executor for one run by op `ops`. On success *state is set and the caller must call
 * mr_executor_release afterwards. A one-shot executor is unregistered here, so a second run is refused. */
aclnnStatus mr_executor_acquire(aclOpExecutor *executor, const mr_executor_ops *ops, void **state);
/* End a run: frees a one-shot executor. */
void mr_executor_release(aclOpExecutor *executor);

/* 1 if stream is NULL (default stream) or a live stream from aclrtCreateStream. */
int mr_stream_is_valid(aclrtStream stream);

/* Map a native status to the aclnn status of spec decision 6. */
aclnnStatus mr_status_to_aclnn(moeroute_status st);

#endif /* MR_RUNTIME_ACL_INTERNAL_H */
