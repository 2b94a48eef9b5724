/* Building blocks for tests that call the aclnn API on host arrays: tensors over caller memory,
 * one-call runners for both operators. */
#ifndef MR_TEST_ROUTING_FIXTURE_H
#define MR_TEST_ROUTING_FIXTURE_H

#include <stdint.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_init_routing.h"
#include "aclnnop/aclnn_moe_init_routing_quant.h"

/* Contiguous tensor of rank 1 or 2 over data (d1 < 0: rank 1). */
aclTensor *fx_tensor(aclDataType dt, int64_t d0, int64_t d1, void *data);

/* Run aclnnMoeInitRoutingQuant (quant = 1) or aclnnMoeInitRouting (quant = 0) on contiguous host arrays,
 * allocating the workspace. Returns the first non-zero status of the two phases. */
aclnnStatus fx_run(int quant, aclDataType xdt, const void *x, const int32_t *row_idx, const int32_t *expert_idx,
                   int64_t n, int64_t k, int64_t h, int64_t active_num, double scale, double offset, void *ex,
                   int32_t *erow, int32_t *eexp);

/* Same with caller-made tensors (views). */
aclnnStatus fx_run_tensors(int quant, const aclTensor *x, const aclTensor *row_idx, const aclTensor *expert_idx,
                           int64_t active_num, double scale, double offset, const aclTensor *ex,
                           const aclTensor *erow, const aclTensor *eexp);

#endif /* MR_TEST_ROUTING_FIXTURE_H */
