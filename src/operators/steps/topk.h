/* Top-k selection step (docs/operators/gating.md "Selection order"): the k best of a set of fp32 scores in
 * descending order, ties to the lower index -- the order of a stable descending sort, which is what the
 * device's Sort32/MrgSort-based top-k gives (routing spec 0.3). NaN ranks below every number (also below
 * -inf) and -0 ties with +0, so the order is total and never depends on how the scores were computed.
 *
 * Scores are first turned into keys (mr_topk_key, kernels/select/select.h) whose unsigned order is that
 * order: 1 for NaN, -inf just above, +inf highest; 0 is left free for candidates a caller wants to rank below
 * everything (experts of groups not chosen). */
#ifndef MR_OPERATORS_STEPS_TOPK_H
#define MR_OPERATORS_STEPS_TOPK_H

#include <stdint.h>

#include "kernels/select/select.h"

/* idx[0..k) = the indices of the k largest keys of key[0..n), in descending key order, equal keys in
 * ascending index, using the selection kernels of `sel`. 0 <= k <= n <= UINT32_MAX; buf holds n entries,
 * cand n entries. */
void mr_topk_select(const mr_select_config *sel, const uint32_t *key, int64_t n, int64_t k, int32_t *idx,
                    uint64_t *buf, uint32_t *cand);

#endif /* MR_OPERATORS_STEPS_TOPK_H */
