/* aclnn/acl_meta.h -- tensors and executors of moeroute's aclnn API (CANN names and values).
 *
 * Unlike CANN's C++-only header this one compiles as C11 and as C++.
 *
 * Tensors describe memory; they do not own it. aclCreateTensor copies the dims and strides it is given, so
 * the caller's arrays may be freed right after. A view is valid for an operator when every element it
 * addresses, (offset + sum_i idx_i * stride_i), lies inside the storage (the product of storageDims).
 *
 * Executors come from an operator's GetWorkspaceSize and run once in the matching execute call, which
 * releases them; after aclSetAclOpExecutorRepeatable they run any number of times until
 * aclDestroyAclOpExecutor. A released or unknown executor handle is refused with ACLNN_ERR_PARAM_INVALID
 * (no crash); NULL gives ACLNN_ERR_INNER_NULLPTR. An executor must not be run by two threads at once.
 * All other functions are thread-safe. */
#ifndef MOEROUTE_ACLNN_ACL_META_H
#define MOEROUTE_ACLNN_ACL_META_H

#include <stdint.h>

#include "acl/acl_base.h"
#include "aclnn/opdev/op_errno.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t aclnnStatus;

typedef struct aclTensor aclTensor;
typedef struct aclScalar aclScalar;
typedef struct aclIntArray aclIntArray;
typedef struct aclFloatArray aclFloatArray;
typedef struct aclBoolArray aclBoolArray;
typedef struct aclTensorList aclTensorList;
typedef struct aclScalarList aclScalarList;
typedef struct aclOpExecutor aclOpExecutor;

/* Most dimensions a tensor may have. */
#define MOEROUTE_MAX_TENSOR_DIMS 8

/*
 * aclCreateTensor: describe a tensor view over tensorData (which may be NULL and set later).
 *   viewDims/viewDimsNum   logical shape; viewDimsNum <= MOEROUTE_MAX_TENSOR_DIMS; every dim >= 0.
 *   stride                 element strides per view dim (any sign); NULL = contiguous row-major.
 *   offset                 view offset in elements from tensorData (>= 0).
 *   storageDims/Num        shape of the underlying storage; NULL/0 = the view's own contiguous extent.
 * Returns NULL (with a message for aclGetRecentErrMsg) on a bad argument or when memory runs out.
 */
ACL_FUNC_VISIBILITY aclTensor *aclCreateTensor(const int64_t *viewDims, uint64_t viewDimsNum, aclDataType dataType,
                                               const int64_t *stride, int64_t offset, aclFormat format,
                                               const int64_t *storageDims, uint64_t storageDimsNum,
                                               void *tensorData);
/* NULL is accepted (ACLNN_SUCCESS). */
ACL_FUNC_VISIBILITY aclnnStatus aclDestroyTensor(const aclTensor *tensor);

/* Copy one of a tensor's dimension vectors into dims[0..capacity): which = 0 view shape, 1 storage shape,
 * 2 view strides. *num receives the full count. Used by the C++ forms of aclGetViewShape & co. below. */
ACL_FUNC_VISIBILITY aclnnStatus moeroute_tensor_dims(const aclTensor *tensor, int which, int64_t *dims,
                                                     uint64_t capacity, uint64_t *num);

#ifndef __cplusplus
/* C: *viewDims (etc.) is allocated with malloc; release it with free(). */
ACL_FUNC_VISIBILITY aclnnStatus aclGetViewShape(const aclTensor *tensor, int64_t **viewDims, uint64_t *viewDimsNum);
ACL_FUNC_VISIBILITY aclnnStatus aclGetStorageShape(const aclTensor *tensor, int64_t **storageDims,
                                                   uint64_t *storageDimsNum);
ACL_FUNC_VISIBILITY aclnnStatus aclGetViewStrides(const aclTensor *tensor, int64_t **stridesValue,
                                                  uint64_t *stridesNum);
#endif
ACL_FUNC_VISIBILITY aclnnStatus aclGetViewOffset(const aclTensor *tensor, int64_t *offset);
ACL_FUNC_VISIBILITY aclnnStatus aclGetFormat(const aclTensor *tensor, aclFormat *format);
ACL_FUNC_VISIBILITY aclnnStatus aclGetDataType(const aclTensor *tensor, aclDataType *dataType);
ACL_FUNC_VISIBILITY aclnnStatus aclSetRawTensorAddr(aclTensor *tensor, void *addr);
ACL_FUNC_VISIBILITY aclnnStatus aclGetRawTensorAddr(const aclTensor *tensor, void **addr);

ACL_FUNC_VISIBILITY aclnnStatus aclSetAclOpExecutorRepeatable(aclOpExecutor *executor);
ACL_FUNC_VISIBILITY aclnnStatus aclDestroyAclOpExecutor(aclOpExecutor *executor);
/* Re-point input/output `index` (the operator's argument order) of a repeatable executor at addr; the
 * tensor argument must be the one given to GetWorkspaceSize at that position, or NULL. */
ACL_FUNC_VISIBILITY aclnnStatus aclSetInputTensorAddr(aclOpExecutor *executor, const size_t index, aclTensor *tensor,
                                                      void *addr);
ACL_FUNC_VISIBILITY aclnnStatus aclSetOutputTensorAddr(aclOpExecutor *executor, const size_t index,
                                                       aclTensor *tensor, void *addr);

#ifdef __cplusplus
}

/* C++ (as in CANN): the returned arrays come from new[]; release them with delete[]. */
static inline aclnnStatus moeroute_get_dims_new(const aclTensor *tensor, int which, int64_t **out, uint64_t *num)
{
    if (tensor == nullptr || out == nullptr || num == nullptr) return ACLNN_ERR_PARAM_NULLPTR;
    int64_t buf[MOEROUTE_MAX_TENSOR_DIMS];
    uint64_t n = 0;
    aclnnStatus st = moeroute_tensor_dims(tensor, which, buf, MOEROUTE_MAX_TENSOR_DIMS, &n);
    if (st != ACLNN_SUCCESS) return st;
    int64_t *arr = new int64_t[n > 0 ? n : 1];
    for (uint64_t i = 0; i < n; i++) arr[i] = buf[i];
    *out = arr;
    *num = n;
    return ACLNN_SUCCESS;
}
inline aclnnStatus aclGetViewShape(const aclTensor *tensor, int64_t **viewDims, uint64_t *viewDimsNum)
{
    return moeroute_get_dims_new(tensor, 0, viewDims, viewDimsNum);
}
inline aclnnStatus aclGetStorageShape(const aclTensor *tensor, int64_t **storageDims, uint64_t *storageDimsNum)
{
    return moeroute_get_dims_new(tensor, 1, storageDims, storageDimsNum);
}
inline aclnnStatus aclGetViewStrides(const aclTensor *tensor, int64_t **stridesValue, uint64_t *stridesNum)
{
    return moeroute_get_dims_new(tensor, 2, stridesValue, stridesNum);
}
#endif

#endif /* MOEROUTE_ACLNN_ACL_META_H */
