/* moeroute_distribute_dispatch / moeroute_distribute_combine (moeroute.h; docs/operators/distribute.md): the
 * native entry points of the distribute plans. The communicator handle gives the group name, rank and rank
 * count; the attribute rules are the aclnn pair's semantic ones (mr_dist_check_attrs without device limits);
 * the arrays become contiguous views of the run's slots. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "hccl/hccl.h"
#include "moeroute.h"
#include "operators/distribute.h"
#include "operators/op_run.h"

/* What both calls share: the args struct size, the communicator (name, rank, size), x dtype, the attribute
 * rules, max_rows against the bound. Fills *a and *rank. */
typedef struct mr_dist_native {
    char name[COMM_NAME_MAX_LENGTH];
    mr_dist_attrs a;
    int64_t rank;
} mr_dist_native;

static moeroute_status mr_dist_native_begin(mr_dist_native *n, void *comm, moeroute_dtype dt, int64_t bs, int64_t h,
                                            int64_t k, int64_t experts, int64_t shared_num, int64_t shared_ranks,
                                            int64_t global_bs, int64_t max_rows, const char *api)
{
    uint32_t rank = 0, size = 0;
    if (HcclGetCommName(comm, n->name) != HCCL_SUCCESS || HcclGetRankId(comm, &rank) != HCCL_SUCCESS ||
        HcclGetRankSize(comm, &size) != HCCL_SUCCESS)
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: comm is not a live HCCL communicator handle", api);
    if (dt != MOEROUTE_DTYPE_FLOAT16 && dt != MOEROUTE_DTYPE_BFLOAT16)
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: x_dtype must be FLOAT16 or BFLOAT16, got %d", api, (int)dt);
    if (bs < 0 || h < 1)
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: need num_tokens >= 0 and hidden >= 1 (got %lld, %lld)", api,
                       (long long)bs, (long long)h);
    const mr_dist_args x = {n->name, NULL, NULL, size, rank, experts, 0, 0, 0, shared_num, shared_ranks, global_bs,
                            bs, h, k};
    int64_t min_rows = 0;
    moeroute_status st = mr_dist_check_attrs(&x, 0, &n->a, &min_rows, api);
    if (st != MOEROUTE_OK) return st;
    if (max_rows < min_rows)
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: max_rows = %lld is below the %lld rows rank %u can receive",
                       api, (long long)max_rows, (long long)min_rows, rank);
    n->a.xtype = dt == MOEROUTE_DTYPE_FLOAT16 ? MR_X_F16 : MR_X_BF16;
    n->rank = rank;
    return MOEROUTE_OK;
}

static int64_t mr_dist_native_local(const mr_dist_attrs *a, int64_t rank)
{
    return rank < a->shared_ranks ? 1 : a->moe_experts / (a->world - a->shared_ranks);
}

/* Plan, then run on a heap workspace. */
static moeroute_status mr_dist_native_run(const mr_dist_native *n, int64_t bs, int64_t rows, int mask_2d, int combine,
                                          const mr_view *v, const char *api)
{
    mr_dist_plan plan;
    moeroute_status st = mr_dist_plan_init(&plan, n->name, &n->a, n->rank, bs, rows, mask_2d, combine, api);
    if (st != MOEROUTE_OK) return st;
    void *ws = mr_malloc(plan.ws_size);
    if (!ws) return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of workspace", api, plan.ws_size);
    st = mr_op_run_default_fp(combine ? mr_combine_run : mr_dispatch_run, &plan, v, ws, plan.ws_size, NULL, api);
    mr_free(ws);
    return st;
}

static mr_view mr_dist_mask_view(const uint8_t *mask, int mask_2d, int64_t bs, int64_t k)
{
    mr_view v;
    memset(&v, 0, sizeof v);
    if (mask) v = mr_view_contiguous(mask, 1, mask_2d ? 2 : 1, (const int64_t[]){bs, k});
    return v;
}

moeroute_status moeroute_distribute_dispatch(moeroute_context *ctx, const moeroute_distribute_dispatch_args *args)
{
    static const char api[] = "moeroute_distribute_dispatch";
    (void)ctx; /* each rank's call runs on its own thread or process */
    if (!args) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: args is NULL", api);
    if (args->struct_size < sizeof *args)
        return mr_fail(MOEROUTE_ERR_INVALID_ARGS_SIZE, "%s: args->struct_size is %zu; set it to %zu", api,
                       args->struct_size, sizeof *args);
    const moeroute_distribute_dispatch_args *a = args;
    if ((a->quant_mode != 0 && a->quant_mode != 2) || (a->token_nums_type != 0 && a->token_nums_type != 1) ||
        (a->mask_2d != 0 && a->mask_2d != 1))
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: quant_mode must be 0 or 2, token_nums_type and mask_2d 0 or 1",
                       api);
    mr_dist_native n;
    moeroute_status st = mr_dist_native_begin(&n, a->comm, a->x_dtype, a->num_tokens, a->hidden, a->top_k,
                                              a->num_experts, a->shared_expert_num, a->shared_expert_rank_num,
                                              a->global_bs, a->max_rows, api);
    if (st != MOEROUTE_OK) return st;
    n.a.quant_mode = a->quant_mode, n.a.token_nums_type = a->token_nums_type;
    const int64_t bs = a->num_tokens, H = a->hidden, K = a->top_k, A = a->max_rows, W = n.a.world;
    const int64_t L = mr_dist_native_local(&n.a, n.rank), srows = n.a.moe_experts + (n.a.shared_ranks ? n.a.shared_num : 0);
    const size_t es = 2, oes = a->quant_mode ? 1 : 2;
    mr_view v[MR_DSP_COUNT];
    memset(v, 0, sizeof v);
    v[MR_DSP_X] = mr_view_contiguous(a->x, es, 2, (const int64_t[]){bs, H});
    v[MR_DSP_IDS] = mr_view_contiguous(a->expert_ids, 4, 2, (const int64_t[]){bs, K});
    if (a->quant_mode && a->smooth_scales)
        v[MR_DSP_SCALES] = mr_view_contiguous(a->smooth_scales, 4, 2, (const int64_t[]){srows, H});
    v[MR_DSP_MASK] = mr_dist_mask_view(a->active_mask, a->mask_2d, bs, K);
    if (a->expert_scales) v[MR_DSP_ESCALES] = mr_view_contiguous(a->expert_scales, 4, 2, (const int64_t[]){bs, K});
    v[MR_DSP_EXPX] = mr_view_contiguous(a->expand_x, oes, 2, (const int64_t[]){A, H});
    if (a->quant_mode) v[MR_DSP_DYNS] = mr_view_contiguous(a->dynamic_scales, 4, 1, &A);
    v[MR_DSP_ASSIST] = mr_view_contiguous(a->assist_info, 4, 1, (const int64_t[]){3 * A});
    v[MR_DSP_TOKNUMS] = mr_view_contiguous(a->expert_token_nums, 8, 1, &L);
    v[MR_DSP_RECV] = mr_view_contiguous(a->ep_recv_counts, 4, 1, (const int64_t[]){W * L});
    if (a->expand_scales) v[MR_DSP_EXPS] = mr_view_contiguous(a->expand_scales, 4, 1, &A);
    return mr_dist_native_run(&n, bs, A, a->mask_2d, 0, v, api);
}

moeroute_status moeroute_distribute_combine(moeroute_context *ctx, const moeroute_distribute_combine_args *args)
{
    static const char api[] = "moeroute_distribute_combine";
    (void)ctx;
    if (!args) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: args is NULL", api);
    if (args->struct_size < sizeof *args)
        return mr_fail(MOEROUTE_ERR_INVALID_ARGS_SIZE, "%s: args->struct_size is %zu; set it to %zu", api,
                       args->struct_size, sizeof *args);
    const moeroute_distribute_combine_args *a = args;
    if (a->mask_2d != 0 && a->mask_2d != 1) return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: mask_2d must be 0 or 1", api);
    mr_dist_native n;
    moeroute_status st = mr_dist_native_begin(&n, a->comm, a->x_dtype, a->num_tokens, a->hidden, a->top_k,
                                              a->num_experts, a->shared_expert_num, a->shared_expert_rank_num,
                                              a->global_bs, a->max_rows, api);
    if (st != MOEROUTE_OK) return st;
    const int64_t bs = a->num_tokens, H = a->hidden, K = a->top_k, A = a->max_rows, W = n.a.world;
    const int64_t L = mr_dist_native_local(&n.a, n.rank);
    mr_view v[MR_CMB_COUNT];
    memset(v, 0, sizeof v);
    v[MR_CMB_EXPX] = mr_view_contiguous(a->expand_x, 2, 2, (const int64_t[]){A, H});
    v[MR_CMB_IDS] = mr_view_contiguous(a->expert_ids, 4, 2, (const int64_t[]){bs, K});
    if (a->assist_info) /* NULL: rows found from the routing alone (docs/operators/distribute.md "V1") */
        v[MR_CMB_ASSIST] = mr_view_contiguous(a->assist_info, 4, 1, (const int64_t[]){3 * A});
    v[MR_CMB_SEND] = mr_view_contiguous(a->ep_send_counts, 4, 1, (const int64_t[]){W * L});
    v[MR_CMB_ESCALES] = mr_view_contiguous(a->expert_scales, 4, 2, (const int64_t[]){bs, K});
    v[MR_CMB_MASK] = mr_dist_mask_view(a->active_mask, a->mask_2d, bs, K);
    if (a->shared_x) v[MR_CMB_SHARED] = mr_view_contiguous(a->shared_x, 2, 2, (const int64_t[]){bs, H});
    v[MR_CMB_OUT] = mr_view_contiguous(a->out, 2, 2, (const int64_t[]){bs, H});
    return mr_dist_native_run(&n, bs, A, a->mask_2d, 1, v, api);
}
