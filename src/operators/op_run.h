/* The run phase every operator exposes (docs/framework.md): its plan from phase 1, the argument views, the
 * workspace and the pool; and running one in the library's floating-point environment (common/fpenv.h), as the
 * aclnn executors, the native API and the distribute entry points do. */
#ifndef MR_OPERATORS_OP_RUN_H
#define MR_OPERATORS_OP_RUN_H

#include <stddef.h>

#include "common/fpenv.h"
#include "common/view.h"
#include "threadpool/threadpool.h"

typedef moeroute_status (*mr_op_run_fn)(const void *plan, const mr_view *views, void *workspace,
                                        size_t workspace_size, mr_pool *pool, const char *api);

/* run(...) with the calling thread switched to the default floating-point environment and back. */
static inline moeroute_status mr_op_run_default_fp(mr_op_run_fn run, const void *plan, const mr_view *views,
                                                   void *workspace, size_t workspace_size, mr_pool *pool,
                                                   const char *api)
{
    const mr_fpenv fe = mr_fpenv_enter();
    const moeroute_status st = run(plan, views, workspace, workspace_size, pool, api);
    mr_fpenv_leave(fe);
    return st;
}

#endif /* MR_OPERATORS_OP_RUN_H */
