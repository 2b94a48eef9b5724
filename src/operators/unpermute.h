/* MoeTokenUnpermute (docs/operators/token_unpermute.md, layer spec 3): every token's k expert rows, weighted by
 * their probabilities and summed in fp32 in slot order, narrowed once (RNE) to the token dtype. A plan over the
 * accumulate step (docs/operators/finalize_routing.md "The accumulate step"). */
#ifndef MR_OPERATORS_UNPERMUTE_H
#define MR_OPERATORS_UNPERMUTE_H

#include "common/view.h"
#include "kernels/kernels.h"
#include "threadpool/threadpool.h"

typedef struct mr_unpermute_plan {
    int64_t t;         /* tokens (rows of out)                                    */
    int64_t k;         /* slots per token: probs.dim1, or 1 without probs          */
    int64_t h;         /* hidden size                                              */
    int64_t m;         /* rows of permutedTokens: indices >= m are skipped          */
    mr_xtype tokens;   /* dtype of permutedTokens and out                          */
    mr_xtype probs;    /* dtype of probs (any float type)                          */
    int has_probs;
    moeroute_isa isa;  /* requested kernels (AUTO: the CPU's best within MOEROUTE_ISA)                  */
} mr_unpermute_plan;

/* View slots of the run. sortedIndices is 1-D [t*k], probs 2-D [t, k] (absent: zero view), out [t, h]. */
enum { MR_UP_TOKENS, MR_UP_INDICES, MR_UP_PROBS, MR_UP_OUT, MR_UP_COUNT };

/* Errors, before anything is written: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_INVALID_VALUE
 * (a kept slot -- probability != +-0, or no probs -- whose index is negative; layer decision 14). */
moeroute_status mr_unpermute_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                 mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_UNPERMUTE_H */
