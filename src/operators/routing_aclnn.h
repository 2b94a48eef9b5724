/* Pieces the routing operators' aclnn adapters share (docs/framework.md). */
#ifndef MR_OPERATORS_ROUTING_ACLNN_H
#define MR_OPERATORS_ROUTING_ACLNN_H

#include "aclnn/adapter.h"
#include "operators/routing.h"
#include "threadpool/default_pool.h"

static inline mr_xtype mr_aclnn_xtype(aclDataType t)
{
    return t == ACL_FLOAT16 ? MR_X_F16 : t == ACL_BF16 ? MR_X_BF16 : MR_X_F32;
}

/* mr_route_run with the adapter's run signature. */
moeroute_status mr_route_run_aclnn(const void *plan, const mr_view *views, void *ws, size_t ws_size, mr_pool *pool,
                                   const char *api);

/* Plan for the default pool and finish phase 1. */
aclnnStatus mr_route_finish_aclnn(mr_aclnn_call *c, const mr_route_desc *d);

#endif /* MR_OPERATORS_ROUTING_ACLNN_H */
