#include <stdlib.h>

#include "routing_fixture.h"

aclTensor *fx_tensor(aclDataType dt, int64_t d0, int64_t d1, void *data)
{
    int64_t dims[2] = {d0, d1};
    int64_t strides[2] = {d1 < 0 ? 1 : d1, 1};
    uint64_t rank = d1 < 0 ? 1 : 2;
    if (rank == 1) strides[0] = 1;
    return aclCreateTensor(dims, rank, dt, strides, 0, ACL_FORMAT_ND, dims, rank, data);
}

aclnnStatus fx_run_tensors(int quant, const aclTensor *x, const aclTensor *row_idx, const aclTensor *expert_idx,
                           int64_t active_num, double scale, double offset, const aclTensor *ex,
                           const aclTensor *erow, const aclTensor *eexp)
{
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = quant ? aclnnMoeInitRoutingQuantGetWorkspaceSize(x, row_idx, expert_idx, active_num, scale,
                                                                      offset, ex, erow, eexp, &ws_size, &exe)
                           : aclnnMoeInitRoutingGetWorkspaceSize(x, row_idx, expert_idx, active_num, ex, erow, eexp,
                                                                 &ws_size, &exe);
    if (st != ACLNN_SUCCESS) return st;
    void *ws = ws_size ? malloc(ws_size) : NULL;
    if (ws_size && !ws) return -1;
    st = quant ? aclnnMoeInitRoutingQuant(ws, ws_size, exe, NULL) : aclnnMoeInitRouting(ws, ws_size, exe, NULL);
    free(ws);
    return st;
}

aclnnStatus fx_run(int quant, aclDataType xdt, const void *x, const int32_t *row_idx, const int32_t *expert_idx,
                   int64_t n, int64_t k, int64_t h, int64_t active_num, double scale, double offset, void *ex,
                   int32_t *erow, int32_t *eexp)
{
    int64_t a = (active_num < n ? active_num : n) * k;
    aclTensor *tx = fx_tensor(xdt, n, h, (void *)x);
    aclTensor *tr = fx_tensor(ACL_INT32, n, k, (void *)row_idx);
    aclTensor *te = fx_tensor(ACL_INT32, n, k, (void *)expert_idx);
    aclTensor *tex = fx_tensor(quant ? ACL_INT8 : xdt, a, h, ex);
    aclTensor *ter = fx_tensor(ACL_INT32, n * k, -1, erow);
    aclTensor *tee = fx_tensor(ACL_INT32, n * k, -1, eexp);
    aclnnStatus st = fx_run_tensors(quant, tx, tr, te, active_num, scale, offset, tex, ter, tee);
    aclDestroyTensor(tx);
    aclDestroyTensor(tr);
    aclDestroyTensor(te);
    aclDestroyTensor(tex);
    aclDestroyTensor(ter);
    aclDestroyTensor(tee);
    return st;
}
