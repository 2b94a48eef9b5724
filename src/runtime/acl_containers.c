/* Argument containers of acl_meta.h: tensor lists, int/float/bool arrays, scalars and scalar lists
 * (docs/framework.md "Containers"). Values are copied at creation; tensor lists own their tensors. */
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "runtime/acl_internal.h"

struct aclFloatArray {
    uint64_t size;
    float *values;
};
struct aclBoolArray {
    uint64_t size;
    bool *values;
};
struct aclScalar {
    aclDataType dtype;
    unsigned char bytes[8];
};
struct aclScalarList {
    uint64_t size;
    aclScalar **scalars; /* owned */
};

/* A header plus a copied array of `size` elements of `esize` bytes, in one allocation. */
static void *mr_array_create(const char *api, const void *value, uint64_t size, size_t esize, size_t header,
                             void **values_out)
{
    if (size > 0 && !value) {
        mr_error_push("%s: value is NULL but size is %llu", api, (unsigned long long)size);
        return NULL;
    }
    size_t bytes;
    if (size > SIZE_MAX / esize || mr_add_size(header, (size_t)size * esize, &bytes)) {
        mr_error_push("%s: size %llu is too large", api, (unsigned long long)size);
        return NULL;
    }
    unsigned char *p = mr_calloc(1, bytes);
    if (!p) {
        mr_error_push("%s: out of memory", api);
        return NULL;
    }
    *values_out = p + header;
    if (size) memcpy(p + header, value, (size_t)size * esize);
    return p;
}

#define MR_HEADER(type) ((sizeof(type) + 15u) & ~(size_t)15u)

aclIntArray *aclCreateIntArray(const int64_t *value, uint64_t size)
{
    void *values;
    aclIntArray *a = mr_array_create("aclCreateIntArray", value, size, sizeof *value, MR_HEADER(aclIntArray), &values);
    if (a) a->size = size, a->values = values;
    return a;
}

aclFloatArray *aclCreateFloatArray(const float *value, uint64_t size)
{
    void *values;
    aclFloatArray *a =
        mr_array_create("aclCreateFloatArray", value, size, sizeof *value, MR_HEADER(aclFloatArray), &values);
    if (a) a->size = size, a->values = values;
    return a;
}

aclBoolArray *aclCreateBoolArray(const bool *value, uint64_t size)
{
    void *values;
    aclBoolArray *a = mr_array_create("aclCreateBoolArray", value, size, sizeof *value, MR_HEADER(aclBoolArray), &values);
    if (a) a->size = size, a->values = values;
    return a;
}

aclTensorList *aclCreateTensorList(const aclTensor *const *value, uint64_t size)
{
    void *values;
    aclTensorList *l =
        mr_array_create("aclCreateTensorList", value, size, sizeof *value, MR_HEADER(aclTensorList), &values);
    if (l) l->size = size, l->tensors = values;
    return l;
}

aclScalarList *aclCreateScalarList(const aclScalar *const *value, uint64_t size)
{
    void *values;
    aclScalarList *l =
        mr_array_create("aclCreateScalarList", value, size, sizeof *value, MR_HEADER(aclScalarList), &values);
    if (l) l->size = size, l->scalars = values;
    return l;
}

aclnnStatus aclDestroyIntArray(const aclIntArray *array) { mr_free((void *)(uintptr_t)array); return ACLNN_SUCCESS; }
aclnnStatus aclDestroyFloatArray(const aclFloatArray *array) { mr_free((void *)(uintptr_t)array); return ACLNN_SUCCESS; }
aclnnStatus aclDestroyBoolArray(const aclBoolArray *array) { mr_free((void *)(uintptr_t)array); return ACLNN_SUCCESS; }

aclnnStatus aclDestroyTensorList(const aclTensorList *array)
{
    if (!array) return ACLNN_SUCCESS;
    for (uint64_t i = 0; i < array->size; i++) aclDestroyTensor(array->tensors[i]);
    mr_free((void *)(uintptr_t)array);
    return ACLNN_SUCCESS;
}

aclnnStatus aclDestroyScalarList(const aclScalarList *array)
{
    if (!array) return ACLNN_SUCCESS;
    for (uint64_t i = 0; i < array->size; i++) aclDestroyScalar(array->scalars[i]);
    mr_free((void *)(uintptr_t)array);
    return ACLNN_SUCCESS;
}

aclScalar *aclCreateScalar(void *value, aclDataType dataType)
{
    size_t size = aclDataTypeSize(dataType);
    if (!value) {
        mr_error_push("aclCreateScalar: value is NULL");
        return NULL;
    }
    if (size == 0 || size > 8 || dataType == ACL_STRING || dataType == ACL_INT4 || dataType == ACL_UINT1) {
        mr_error_push("aclCreateScalar: dataType %d is not a scalar type", (int)dataType);
        return NULL;
    }
    aclScalar *s = mr_calloc(1, sizeof *s);
    if (!s) {
        mr_error_push("aclCreateScalar: out of memory");
        return NULL;
    }
    s->dtype = dataType;
    memcpy(s->bytes, value, size);
    return s;
}

aclnnStatus aclDestroyScalar(const aclScalar *scalar) { mr_free((void *)(uintptr_t)scalar); return ACLNN_SUCCESS; }

#define MR_SIZE_GETTER(name, type)                                                                            \
    aclnnStatus name(const type *array, uint64_t *size)                                                       \
    {                                                                                                         \
        if (!array || !size) {                                                                                \
            mr_error_push(#name ": NULL argument");                                                           \
            return ACLNN_ERR_PARAM_NULLPTR;                                                                   \
        }                                                                                                     \
        *size = array->size;                                                                                  \
        return ACLNN_SUCCESS;                                                                                 \
    }

MR_SIZE_GETTER(aclGetTensorListSize, aclTensorList)
MR_SIZE_GETTER(aclGetScalarListSize, aclScalarList)
MR_SIZE_GETTER(aclGetIntArraySize, aclIntArray)
MR_SIZE_GETTER(aclGetFloatArraySize, aclFloatArray)
MR_SIZE_GETTER(aclGetBoolArraySize, aclBoolArray)
