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

#include <stdbool.h>
#include <stddef.h>
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

/*
 * Argument containers (docs/framework.md "Containers"). Values of int/float/bool arrays and scalars are
 * copied at creation, so the caller's buffer may be freed afterwards; size 0 gives an empty container
 * (value may then be NULL). A tensor list takes ownership of its tensors: aclDestroyTensorList destroys
 * them too, and they must not be destroyed again. Entries of a tensor list may be NULL (operators refuse
 * them). Creation returns NULL, with a message, for a NULL value with size > 0 or when memory runs out.
 * Destroying NULL is a no-op returning ACLNN_SUCCESS.
 */
ACL_FUNC_VISIBILITY aclTensorList *aclCreateTensorList(const aclTensor *const *value, uint64_t size);
ACL_FUNC_VISIBILITY aclnnStatus aclDestroyTensorList(const aclTensorList *array);
ACL_FUNC_VISIBILITY aclScalarList *aclCreateScalarList(const aclScalar *const *value, uint64_t size);
ACL_FUNC_VISIBILITY aclnnStatus aclDestroyScalarList(const aclScalarList *array);
ACL_FUNC_VISIBILITY aclIntArray *aclCreateIntArray(const int64_t *value, uint64_t size);
ACL_FUNC_VISIBILITY aclnnStatus aclDestroyIntArray(const aclIntArray *array);
ACL_FUNC_VISIBILITY aclFloatArray *aclCreateFloatArray(const float *value, uint64_t size);
ACL_FUNC_VISIBILITY aclnnStatus aclDestroyFloatArray(const aclFloatArray *array);
ACL_FUNC_VISIBILITY aclBoolArray *aclCreateBoolArray(const bool *value, uint64_t size);
ACL_FUNC_VISIBILITY aclnnStatus aclDestroyBoolArray(const aclBoolArray *array);
/* A scalar copies aclDataTypeSize(dataType) bytes from value (FLOAT, FLOAT16, BF16, DOUBLE, the integer
 * types and BOOL). */
ACL_FUNC_VISIBILITY aclScalar *aclCreateScalar(void *value, aclDataType dataType);
ACL_FUNC_VISIBILITY aclnnStatus aclDestroyScalar(const aclScalar *scalar);
ACL_FUNC_VISIBILITY aclnnStatus aclGetTensorListSize(const aclTensorList *tensorList, uint64_t *size);
ACL_FUNC_VISIBILITY aclnnStatus aclGetScalarListSize(const aclScalarList *scalarList, uint64_t *size);
ACL_FUNC_VISIBILITY aclnnStatus aclGetIntArraySize(const aclIntArray *array, uint64_t *size);
ACL_FUNC_VISIBILITY aclnnStatus aclGetFloatArraySize(const aclFloatArray *array, uint64_t *size);
ACL_FUNC_VISIBILITY aclnnStatus aclGetBoolArraySize(const aclBoolArray *array, uint64_t *size);
/* Re-describe an existing tensor in place (same rules as aclCreateTensor). */
ACL_FUNC_VISIBILITY aclnnStatus aclInitTensor(aclTensor *tensor, const int64_t *viewDims, uint64_t viewDimsNum,
                                              aclDataType dataType, const int64_t *stride, int64_t offset,
                                              aclFormat format, const int64_t *storageDims, uint64_t storageDimsNum,
                                              void *tensorDataAddr);
/* Re-point tensor `relativeIndex` of the tensor-list argument `irIndex` of a repeatable executor. */
ACL_FUNC_VISIBILITY aclnnStatus aclSetDynamicInputTensorAddr(aclOpExecutor *executor, size_t irIndex,
                                                             const size_t relativeIndex, aclTensorList *tensors,
                                                             void *addr);
ACL_FUNC_VISIBILITY aclnnStatus aclSetDynamicOutputTensorAddr(aclOpExecutor *executor, size_t irIndex,
                                                              const size_t relativeIndex, aclTensorList *tensors,
                                                              void *addr);
/* Capitalised aliases exported by CANN 8.1.RC1. */
ACL_FUNC_VISIBILITY aclnnStatus AclSetInputTensorAddr(aclOpExecutor *executor, const size_t index, aclTensor *tensor,
                                                      void *addr);
ACL_FUNC_VISIBILITY aclnnStatus AclSetOutputTensorAddr(aclOpExecutor *executor, const size_t index,
                                                       aclTensor *tensor, void *addr);
ACL_FUNC_VISIBILITY aclnnStatus AclSetDynamicInputTensorAddr(aclOpExecutor *executor, size_t irIndex,
                                                             const size_t relativeIndex, aclTensorList *tensors,
                                                             void *addr);
ACL_FUNC_VISIBILITY aclnnStatus AclSetDynamicOutputTensorAddr(aclOpExecutor *executor, size_t irIndex,
                                                              const size_t relativeIndex, aclTensorList *tensors,
                                                              void *addr);

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
