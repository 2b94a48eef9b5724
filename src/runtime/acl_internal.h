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
    int64_t storage_len; /* elements in the storage; -1: not given (the view's own extent from offset 0) */
    void *data;          /* storage base; the view starts at data + offset elements */
};

struct aclTensorList {
    uint64_t size;
    aclTensor **tensors; /* owned */
};

struct aclIntArray {
    uint64_t size;
    int64_t *values;
};

/* Operator behaviour behind the generic executor (src/aclnn/adapter.c). */
typedef struct mr_executor_ops {
    const char *op_name; /* e.g. "aclnnMoeInitRoutingQuant" */
    /* Re-point tensor `rel` of argument position `index` (inputs and outputs counted separately; rel is 0
     * for plain tensors); `list` says which setter was called. Nonzero status if out of range. */
    aclnnStatus (*set_addr)(void *state, int is_output, int list, size_t index, size_t rel, const void *arg,
                            void *addr);
    void (*destroy)(void *state);
} mr_executor_ops;

/* Wrap an operator's state; NULL (state destroyed, message set) when memory runs out. */
aclOpExecutor *mr_executor_create(const mr_executor_ops *ops, void *state);

/* Take the executor for one run by op `ops`, atomically: a one-shot executor leaves the live set here, so a
 * second (or concurrent) run is refused and never sees freed memory. A one-shot executor refused here for
 * belonging to another operator is released (docs/framework.md "Executors"). On success *state is set and
 * the caller must call mr_executor_release after the run, whatever its outcome. */
aclnnStatus mr_executor_acquire(aclOpExecutor *executor, const mr_executor_ops *ops, const char *api, void **state);
/* End a run: frees a one-shot executor. */
void mr_executor_release(aclOpExecutor *executor);

/* The number of logical devices (MOEROUTE_DEVICE_COUNT, default 16; layer decision 16). */
int32_t mr_device_count(void);

/* 1 if stream is NULL (default stream) or a live stream from aclrtCreateStream. */
int mr_stream_is_valid(aclrtStream stream);

/* Map a native status to the aclnn status of spec decision 6. */
aclnnStatus mr_status_to_aclnn(moeroute_status st);

#endif /* MR_RUNTIME_ACL_INTERNAL_H */
