// Every public header compiles as C++ and the C++ forms of the getters hand out new[] memory (as CANN's do).
#include <cstdio>

#include "acl/acl.h"
#include "aclnn/aclnn_base.h"
#include "aclnnop/aclnn_moe_init_routing.h"
#include "aclnnop/aclnn_moe_compute_expert_tokens.h"
#include "aclnnop/aclnn_moe_finalize_routing.h"
#include "aclnnop/aclnn_moe_finalize_routing_v2.h"
#include "aclnnop/aclnn_moe_init_routing_quant.h"
#include "aclnnop/aclnn_moe_init_routing_quant_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v3.h"
#include "aclnnop/aclnn_moe_token_permute.h"
#include "aclnnop/aclnn_moe_token_unpermute.h"
#include "moeroute.h"

int main()
{
    int failed = 0;
    int64_t dims[2] = {3, 4};
    int64_t strides[2] = {1, 3};
    aclTensor *t = aclCreateTensor(dims, 2, aclDataType::ACL_FLOAT16, strides, 0, aclFormat::ACL_FORMAT_ND, dims, 2,
                                   nullptr);
    if (!t) return 1;
    int64_t *view = nullptr, *str = nullptr;
    uint64_t nview = 0, nstr = 0;
    failed += aclGetViewShape(t, &view, &nview) != ACLNN_SUCCESS || nview != 2 || view[0] != 3 || view[1] != 4;
    failed += aclGetViewStrides(t, &str, &nstr) != ACLNN_SUCCESS || nstr != 2 || str[0] != 1 || str[1] != 3;
    delete[] view;
    delete[] str;
    aclDataType dt = aclDataType::ACL_DT_UNDEFINED;
    failed += aclGetDataType(t, &dt) != ACLNN_SUCCESS || dt != ACL_FLOAT16;
    aclDestroyTensor(t);
    failed += MOEROUTE_VERSION_NUMBER <= 0;
    std::printf("%d passed, %d failed\n", 5 - failed, failed);
    return failed != 0;
}
