/* MoeTokenUnpermute (layer spec 3.3, decision 14; docs/operators/token_unpermute.md):
 *
 *   acc = +0 (fp32);  for j in 0..k-1:  d = sortedIndices[t*k + j]
 *       skip when d >= M or probs[t][j] == +-0;  a kept slot with d < 0 is refused (161002)
 *       term = f32(permutedTokens[d]) (* f32(probs[t][j]));  acc = j == 0 ? term : acc + term
 *   out[t] = RNE(acc -> dtype)
 *
 * The accumulate step with init FIRST, skip rules BEYOND + ZERO_SCALE, fp32 arithmetic. */
#include "operators/unpermute.h"
#include "operators/steps/accumulate.h"

static const char *const mr_up_names[MR_UP_COUNT] = {"permutedTokens", "sortedIndices", "probsOptional", "out"};

moeroute_status mr_unpermute_run(const void *plan, const mr_view *v, void *workspace, size_t workspace_size,
                                 mr_pool *pool, const char *api)
{
    (void)workspace_size;
    const mr_unpermute_plan *p = plan;
    moeroute_status st;
    if ((st = mr_views_check_data(api, v, mr_up_names, MR_UP_COUNT)) != MOEROUTE_OK ||
        (st = mr_views_check_disjoint(api, v, mr_up_names, MR_UP_COUNT, MR_UP_OUT, workspace, 0)) != MOEROUTE_OK)
        return st;
    const mr_view *idx = &v[MR_UP_INDICES];
    const int64_t is = idx->ndim ? idx->strides[0] : 0;
    mr_accumulate a = {
        .n = p->t, .k = p->k, .h = p->h,
        .init = MR_ACC_INIT_FIRST,
        .rows = mr_acc_src_2d(&v[MR_UP_TOKENS], p->tokens), .m = p->m,
        .row_idx = {(const int32_t *)idx->data, p->k * is, is, p->k, 1, "sortedIndices"},
        .scales = mr_acc_src_2d(&v[MR_UP_PROBS], p->probs), /* absent: no multiply */
        .skip = MR_ACC_SKIP_BEYOND | MR_ACC_SKIP_ZERO_SCALE,
        .arith = MR_ACC_F32,
        .out_type = p->tokens, .bf16_round = MR_ACC_BF16_RNE,
        .out = v[MR_UP_OUT].data, .out_row = p->h,
    };
    mr_accumulate_kernels(&a, p->isa);
    if ((st = mr_accumulate_check(&a, api)) != MOEROUTE_OK) return st;
    mr_accumulate_run(&a, pool);
    return MOEROUTE_OK;
}
