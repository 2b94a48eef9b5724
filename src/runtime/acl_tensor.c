#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "runtime/acl_internal.h"


static int mr_dtype_known(aclDataType t)
{
    switch (t) {
    case ACL_FLOAT: case ACL_FLOAT16: case ACL_INT8: case ACL_INT32: case ACL_UINT8: case ACL_INT16:
    case ACL_UINT16: case ACL_UINT32: case ACL_INT64: case ACL_UINT64: case ACL_DOUBLE: case ACL_BOOL:
    case ACL_STRING: case ACL_COMPLEX64: case ACL_COMPLEX128: case ACL_BF16: case ACL_INT4: case ACL_UINT1:
    case ACL_COMPLEX32:
        return 1;
    default:
        return 0;
    }
}

/* Validate a description and fill *t with it; nonzero (message pushed) when refused. */
static int mr_tensor_fill(const char *api, aclTensor *t, const int64_t *viewDims, uint64_t viewDimsNum,
                          aclDataType dataType, const int64_t *stride, int64_t offset, aclFormat format,
                          const int64_t *storageDims, uint64_t storageDimsNum, void *tensorData)
{
    if (viewDimsNum > MOEROUTE_MAX_TENSOR_DIMS || storageDimsNum > MOEROUTE_MAX_TENSOR_DIMS) {
        mr_error_push("%s: at most %d dims are supported (view %llu, storage %llu)", api, MOEROUTE_MAX_TENSOR_DIMS,
                      (unsigned long long)viewDimsNum, (unsigned long long)storageDimsNum);
        return -1;
    }
    if ((viewDimsNum > 0 && !viewDims) || (storageDimsNum > 0 && !storageDims)) {
        mr_error_push("%s: viewDims or storageDims is NULL with a non-zero count", api);
        return -1;
    }
    if (!mr_dtype_known(dataType)) {
        mr_error_push("%s: unknown dataType %d", api, (int)dataType);
        return -1;
    }
    if (offset < 0) {
        mr_error_push("%s: negative view offset %lld", api, (long long)offset);
        return -1;
    }
    int64_t storage_len = -1;
    if (storageDimsNum > 0) {
        storage_len = 1;
        for (uint64_t i = 0; i < storageDimsNum; i++) {
            if (storageDims[i] < 0 || mr_mul_i64(storage_len, storageDims[i], &storage_len)) {
                mr_error_push("%s: storage dim %llu (%lld) is negative or the storage size overflows", api,
                              (unsigned long long)i, (long long)storageDims[i]);
                return -1;
            }
        }
    }
    for (uint64_t i = 0; i < viewDimsNum; i++) {
        if (viewDims[i] < 0) {
            mr_error_push("%s: view dim %llu is negative (%lld)", api, (unsigned long long)i, (long long)viewDims[i]);
            return -1;
        }
    }
    memset(t, 0, sizeof *t);
    t->dtype = dataType;
    t->format = format;
    t->ndim = (uint32_t)viewDimsNum;
    t->storage_ndim = (uint32_t)storageDimsNum;
    t->offset = offset;
    t->storage_len = storage_len;
    t->data = tensorData;
    int64_t contiguous = 1;
    for (uint64_t k = viewDimsNum; k-- > 0;) {
        t->dims[k] = viewDims[k];
        t->strides[k] = stride ? stride[k] : contiguous;
        /* saturate: only used as a default stride, and an overflowing shape is refused by operators */
        if (mr_mul_i64(contiguous, viewDims[k] > 0 ? viewDims[k] : 1, &contiguous)) contiguous = INT64_MAX;
    }
    if (storageDimsNum > 0) memcpy(t->storage_dims, storageDims, storageDimsNum * sizeof *storageDims);
    return 0;
}

aclTensor *aclCreateTensor(const int64_t *viewDims, uint64_t viewDimsNum, aclDataType dataType,
                           const int64_t *stride, int64_t offset, aclFormat format, const int64_t *storageDims,
                           uint64_t storageDimsNum, void *tensorData)
{
    aclTensor tmp;
    if (mr_tensor_fill("aclCreateTensor", &tmp, viewDims, viewDimsNum, dataType, stride, offset, format, storageDims,
                       storageDimsNum, tensorData))
        return NULL;
    aclTensor *t = mr_malloc(sizeof *t);
    if (!t) {
        mr_error_push("aclCreateTensor: out of memory");
        return NULL;
    }
    *t = tmp;
    return t;
}

aclnnStatus aclInitTensor(aclTensor *tensor, const int64_t *viewDims, uint64_t viewDimsNum, aclDataType dataType,
                          const int64_t *stride, int64_t offset, aclFormat format, const int64_t *storageDims,
                          uint64_t storageDimsNum, void *tensorDataAddr)
{
    if (!tensor) {
        mr_error_push("aclInitTensor: tensor is NULL");
        return ACLNN_ERR_PARAM_NULLPTR;
    }
    aclTensor tmp;
    if (mr_tensor_fill("aclInitTensor", &tmp, viewDims, viewDimsNum, dataType, stride, offset, format, storageDims,
                       storageDimsNum, tensorDataAddr))
        return ACLNN_ERR_PARAM_INVALID;
    *tensor = tmp;
    return ACLNN_SUCCESS;
}

aclnnStatus aclDestroyTensor(const aclTensor *tensor)
{
    if (tensor) mr_free((void *)tensor);
    return ACLNN_SUCCESS;
}

aclnnStatus moeroute_tensor_dims(const aclTensor *tensor, int which, int64_t *dims, uint64_t capacity, uint64_t *num)
{
    if (!tensor || !num || (capacity > 0 && !dims)) {
        mr_error_push("moeroute_tensor_dims: NULL argument");
        return ACLNN_ERR_PARAM_NULLPTR;
    }
    const int64_t *src;
    uint64_t n;
    switch (which) {
    case 0: src = tensor->dims; n = tensor->ndim; break;
    case 1: src = tensor->storage_dims; n = tensor->storage_ndim; break;
    case 2: src = tensor->strides; n = tensor->ndim; break;
    default:
        mr_error_push("moeroute_tensor_dims: `which` must be 0, 1 or 2 (got %d)", which);
        return ACLNN_ERR_PARAM_INVALID;
    }
    for (uint64_t i = 0; i < n && i < capacity; i++) dims[i] = src[i];
    *num = n;
    return ACLNN_SUCCESS;
}

static aclnnStatus mr_dims_malloc(const char *api, const aclTensor *tensor, int which, int64_t **out, uint64_t *num)
{
    if (!tensor || !out || !num) {
        mr_error_push("%s: NULL argument", api);
        return ACLNN_ERR_PARAM_NULLPTR;
    }
    int64_t buf[MOEROUTE_MAX_TENSOR_DIMS];
    uint64_t n = 0;
    aclnnStatus st = moeroute_tensor_dims(tensor, which, buf, MOEROUTE_MAX_TENSOR_DIMS, &n);
    if (st != ACLNN_SUCCESS) return st;
    int64_t *arr = mr_malloc((n > 0 ? n : 1) * sizeof *arr);
    if (!arr) {
        mr_error_push("%s: out of memory", api);
        return ACLNN_ERR_INNER;
    }
    memcpy(arr, buf, n * sizeof *arr);
    *out = arr;
    *num = n;
    return ACLNN_SUCCESS;
}

/* The C forms; the header hides them from C++, which gets new[]-allocating inline forms instead. */
aclnnStatus aclGetViewShape(const aclTensor *tensor, int64_t **viewDims, uint64_t *viewDimsNum);
aclnnStatus aclGetStorageShape(const aclTensor *tensor, int64_t **storageDims, uint64_t *storageDimsNum);
aclnnStatus aclGetViewStrides(const aclTensor *tensor, int64_t **stridesValue, uint64_t *stridesNum);

aclnnStatus aclGetViewShape(const aclTensor *tensor, int64_t **viewDims, uint64_t *viewDimsNum)
{
    return mr_dims_malloc("aclGetViewShape", tensor, 0, viewDims, viewDimsNum);
}

aclnnStatus aclGetStorageShape(const aclTensor *tensor, int64_t **storageDims, uint64_t *storageDimsNum)
{
    return mr_dims_malloc("aclGetStorageShape", tensor, 1, storageDims, storageDimsNum);
}

aclnnStatus aclGetViewStrides(const aclTensor *tensor, int64_t **stridesValue, uint64_t *stridesNum)
{
    return mr_dims_malloc("aclGetViewStrides", tensor, 2, stridesValue, stridesNum);
}

#define MR_GETTER(name, type, expr)                                                                           \
    aclnnStatus name(const aclTensor *tensor, type *out)                                                      \
    {                                                                                                         \
        if (!tensor || !out) {                                                                                \
            mr_error_push(#name ": NULL argument");                                                           \
            return ACLNN_ERR_PARAM_NULLPTR;                                                                   \
        }                                                                                                     \
        *out = (expr);                                                                                        \
        return ACLNN_SUCCESS;                                                                                 \
    }

MR_GETTER(aclGetViewOffset, int64_t, tensor->offset)
MR_GETTER(aclGetFormat, aclFormat, tensor->format)
MR_GETTER(aclGetDataType, aclDataType, tensor->dtype)
MR_GETTER(aclGetRawTensorAddr, void *, tensor->data)

aclnnStatus aclSetRawTensorAddr(aclTensor *tensor, void *addr)
{
    if (!tensor) {
        mr_error_push("aclSetRawTensorAddr: tensor is NULL");
        return ACLNN_ERR_PARAM_NULLPTR;
    }
    tensor->data = addr;
    return ACLNN_SUCCESS;
}
