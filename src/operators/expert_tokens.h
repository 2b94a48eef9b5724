/* MoeComputeExpertTokens (docs/operators/compute_expert_tokens.md): out[e] = #{i : sorted[i] <= e}. */
#ifndef MR_OPERATORS_EXPERT_TOKENS_H
#define MR_OPERATORS_EXPERT_TOKENS_H

#include "common/view.h"
#include "threadpool/threadpool.h"

typedef struct mr_expert_tokens_plan {
    int64_t len;     /* L, entries of sortedExperts */
    int64_t experts; /* E */
} mr_expert_tokens_plan;

enum { MR_ET_SORTED, MR_ET_OUT, MR_ET_COUNT };

/* Errors: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_INVALID_VALUE (a value outside
 * [0, E) or a descending pair), before anything is written. */
moeroute_status mr_expert_tokens_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                     mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_EXPERT_TOKENS_H */
