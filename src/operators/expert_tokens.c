/* MoeComputeExpertTokens: the end offset of every expert in an ascending expert list (routing spec 9,
 * docs/operators/compute_expert_tokens.md). One pass over the list, one over the experts. */
#include "common/error.h"
#include "operators/expert_tokens.h"

static const char *const mr_et_names[MR_ET_COUNT] = {"sortedExperts", "out"};

moeroute_status mr_expert_tokens_run(const void *plan, const mr_view *v, void *workspace, size_t workspace_size,
                                     mr_pool *pool, const char *api)
{
    (void)pool;
    const mr_expert_tokens_plan *p = plan;
    moeroute_status st;
    if ((st = mr_views_check_data(api, v, mr_et_names, MR_ET_COUNT)) != MOEROUTE_OK ||
        (st = mr_views_check_disjoint(api, v, mr_et_names, MR_ET_COUNT, MR_ET_OUT, workspace, 0)) != MOEROUTE_OK)
        return st;
    (void)workspace_size;
    const mr_view *s = &v[MR_ET_SORTED];
    const int32_t *sorted = (const int32_t *)s->data;
    const int64_t stride = p->len ? s->strides[0] : 0;
    int32_t prev = 0;
    for (int64_t i = 0; i < p->len; i++) {
        int32_t e = sorted[i * stride];
        if (e < 0 || e >= p->experts)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: sortedExperts[%lld] = %d is outside [0, numExperts = %lld)",
                           api, (long long)i, (int)e, (long long)p->experts);
        if (i > 0 && e < prev)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                           "%s: sortedExperts is not ascending: [%lld] = %d follows %d", api, (long long)i, (int)e,
                           (int)prev);
        prev = e;
    }
    /* out[e] = position after the last entry <= e: walk both in step */
    int32_t *out = (int32_t *)v[MR_ET_OUT].data;
    int64_t i = 0;
    for (int64_t e = 0; e < p->experts; e++) {
        while (i < p->len && sorted[i * stride] <= e) i++;
        out[e] = (int32_t)i;
    }
    return MOEROUTE_OK;
}
