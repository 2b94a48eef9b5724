/* Field tables of the public structs for language bindings (moeroute.h moeroute_struct_layout). */
#include <stddef.h>
#include <string.h>

#include "moeroute.h"

#define F(type, field, kind) {#field, (uint32_t)offsetof(type, field), MOEROUTE_FIELD_##kind}

static const moeroute_field mr_options_fields[] = {
    F(moeroute_options, num_threads, INT32),
    F(moeroute_options, isa, INT32),
};

#define T moeroute_init_routing_args
static const moeroute_field mr_v1_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, k, INT64), F(T, hidden, INT64), F(T, active_num, INT64),
    F(T, x_dtype, INT32), F(T, x, POINTER), F(T, x_row_stride, INT64), F(T, x_col_stride, INT64),
    F(T, expert_idx, POINTER), F(T, expert_row_stride, INT64), F(T, expert_col_stride, INT64),
    F(T, row_idx, POINTER), F(T, row_idx_row_stride, INT64), F(T, row_idx_col_stride, INT64),
    F(T, expanded_x_dtype, INT32), F(T, scale, DOUBLE), F(T, offset, DOUBLE), F(T, expanded_x, POINTER),
    F(T, expanded_row_idx, POINTER), F(T, expanded_expert_idx, POINTER),
};
#undef T

#define T moeroute_init_routing_v2_args
static const moeroute_field mr_v2_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, k, INT64), F(T, hidden, INT64), F(T, active_num, INT64),
    F(T, expert_capacity, INT64), F(T, expert_num, INT64), F(T, drop_pad_mode, INT32), F(T, count_flag, INT32),
    F(T, before_capacity_flag, INT32), F(T, quant_mode, INT32), F(T, x_dtype, INT32), F(T, x, POINTER),
    F(T, x_row_stride, INT64), F(T, x_col_stride, INT64), F(T, expert_idx, POINTER), F(T, expert_row_stride, INT64),
    F(T, expert_col_stride, INT64), F(T, scale, POINTER), F(T, scale_rows, INT64), F(T, offset, POINTER),
    F(T, expanded_x, POINTER), F(T, expanded_row_idx, POINTER), F(T, expert_tokens, POINTER),
    F(T, expert_tokens_before_capacity, POINTER), F(T, dynamic_quant_scale, POINTER),
};
#undef T

#define T moeroute_init_routing_v3_args
static const moeroute_field mr_v3_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, k, INT64), F(T, hidden, INT64), F(T, expert_num, INT64),
    F(T, range_start, INT64), F(T, range_end, INT64), F(T, tokens_num_type, INT32), F(T, quant_mode, INT32),
    F(T, row_idx_type, INT32), F(T, x_dtype, INT32), F(T, x, POINTER), F(T, x_row_stride, INT64),
    F(T, x_col_stride, INT64), F(T, expert_idx, POINTER), F(T, expert_row_stride, INT64),
    F(T, expert_col_stride, INT64), F(T, scale, POINTER), F(T, expanded_x, POINTER),
    F(T, expanded_row_idx, POINTER), F(T, expert_tokens, POINTER), F(T, expanded_scale, POINTER),
};
#undef T

#define T moeroute_compute_expert_tokens_args
static const moeroute_field mr_cet_fields[] = {
    F(T, struct_size, SIZE), F(T, length, INT64), F(T, num_experts, INT64), F(T, sorted_experts, POINTER),
    F(T, out, POINTER),
};
#undef T

#define T moeroute_token_permute_args
static const moeroute_field mr_permute_fields[] = {
    F(T, struct_size, SIZE), F(T, num_tokens, INT64), F(T, k, INT64), F(T, hidden, INT64),
    F(T, num_out_tokens, INT64), F(T, tokens_dtype, INT32), F(T, tokens, POINTER), F(T, tokens_row_stride, INT64),
    F(T, tokens_col_stride, INT64), F(T, indices_int64, INT32), F(T, indices, POINTER),
    F(T, indices_row_stride, INT64), F(T, indices_col_stride, INT64), F(T, permuted_tokens, POINTER),
    F(T, sorted_indices, POINTER),
};
#undef T

#define T moeroute_token_unpermute_args
static const moeroute_field mr_unpermute_fields[] = {
    F(T, struct_size, SIZE), F(T, num_tokens, INT64), F(T, k, INT64), F(T, hidden, INT64),
    F(T, permuted_rows, INT64), F(T, tokens_dtype, INT32), F(T, permuted_tokens, POINTER),
    F(T, permuted_row_stride, INT64), F(T, permuted_col_stride, INT64), F(T, sorted_indices, POINTER),
    F(T, probs_dtype, INT32), F(T, probs, POINTER), F(T, probs_row_stride, INT64), F(T, probs_col_stride, INT64),
    F(T, out, POINTER),
};
#undef T

#define T moeroute_finalize_routing_args
static const moeroute_field mr_finalize_fields[] = {
    F(T, struct_size, SIZE), F(T, version, INT32), F(T, drop_pad_mode, INT32), F(T, num_rows, INT64),
    F(T, k, INT64), F(T, hidden, INT64), F(T, expanded_rows, INT64), F(T, num_experts, INT64),
    F(T, x_dtype, INT32), F(T, scales_dtype, INT32), F(T, expanded_x, POINTER), F(T, expanded_x_row_stride, INT64),
    F(T, expanded_x_col_stride, INT64), F(T, expanded_row_idx, POINTER), F(T, x1, POINTER), F(T, x2, POINTER),
    F(T, bias, POINTER), F(T, scales, POINTER), F(T, expert_idx, POINTER), F(T, out, POINTER),
};
#undef T

#define T moeroute_re_routing_args
static const moeroute_field mr_re_routing_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, hidden, INT64), F(T, num_ranks, INT64),
    F(T, num_experts, INT64), F(T, tokens_dtype, INT32), F(T, tokens, POINTER), F(T, tokens_row_stride, INT64),
    F(T, tokens_col_stride, INT64), F(T, counts_int64, INT32), F(T, counts, POINTER),
    F(T, counts_row_stride, INT64), F(T, counts_col_stride, INT64), F(T, scales, POINTER),
    F(T, scales_stride, INT64), F(T, permuted_tokens, POINTER), F(T, permuted_scales, POINTER),
    F(T, permuted_idx, POINTER), F(T, expert_tokens, POINTER),
};
#undef T

#define T moeroute_gating_top_k_args
static const moeroute_field mr_gating_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, num_experts, INT64), F(T, k, INT64), F(T, k_group, INT64),
    F(T, group_count, INT64), F(T, group_select_mode, INT32), F(T, renorm, INT32), F(T, norm_type, INT32),
    F(T, routed_scaling_factor, DOUBLE), F(T, eps, DOUBLE), F(T, x_dtype, INT32), F(T, x, POINTER),
    F(T, x_row_stride, INT64), F(T, x_col_stride, INT64), F(T, bias, POINTER), F(T, bias_stride, INT64),
    F(T, y, POINTER), F(T, expert_idx, POINTER), F(T, out, POINTER),
};
#undef T

#define T moeroute_gating_top_k_softmax_args
static const moeroute_field mr_gating_softmax_fields[] = {
    F(T, struct_size, SIZE), F(T, version, INT32), F(T, renorm, INT32), F(T, num_rows, INT64),
    F(T, num_experts, INT64), F(T, k, INT64), F(T, x_dtype, INT32), F(T, x, POINTER), F(T, x_row_stride, INT64),
    F(T, x_col_stride, INT64), F(T, finished, POINTER), F(T, finished_stride, INT64), F(T, y, POINTER),
    F(T, expert_idx, POINTER), F(T, row_idx, POINTER), F(T, softmax_out, POINTER),
};
#undef T

#define T moeroute_grouped_matmul_args
static const moeroute_field mr_gmm_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, k, INT64), F(T, n, INT64), F(T, num_experts, INT64),
    F(T, x_dtype, INT32), F(T, x, POINTER), F(T, x_row_stride, INT64), F(T, x_col_stride, INT64),
    F(T, weight, POINTER), F(T, weight_expert_stride, INT64), F(T, weight_k_stride, INT64),
    F(T, weight_n_stride, INT64), F(T, group_list_type, INT32), F(T, num_groups, INT64), F(T, group_list, POINTER),
    F(T, bias, POINTER), F(T, scale_dtype, INT32), F(T, scale, POINTER), F(T, per_token_scale, POINTER),
    F(T, out_dtype, INT32), F(T, out, POINTER), F(T, weight_format, INT32),
};
#undef T

#define T moeroute_dynamic_quant_args
static const moeroute_field mr_dynamic_quant_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, hidden, INT64), F(T, x_dtype, INT32), F(T, x, POINTER),
    F(T, x_row_stride, INT64), F(T, x_col_stride, INT64), F(T, smooth_scales, POINTER), F(T, num_groups, INT64),
    F(T, group_index_int64, INT32), F(T, group_index, POINTER), F(T, scale_template, INT32), F(T, y, POINTER),
    F(T, scale, POINTER), F(T, y_packing, INT32),
};
#undef T

#define T moeroute_swiglu_args
static const moeroute_field mr_swiglu_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, cols, INT64), F(T, x_dtype, INT32), F(T, x, POINTER),
    F(T, x_row_stride, INT64), F(T, x_col_stride, INT64), F(T, out, POINTER),
};
#undef T

#define T moeroute_dequant_swiglu_quant_args
static const moeroute_field mr_dsq_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, cols, INT64), F(T, x_dtype, INT32), F(T, x, POINTER),
    F(T, x_row_stride, INT64), F(T, x_col_stride, INT64), F(T, num_groups, INT64), F(T, group_index_int64, INT32),
    F(T, group_index, POINTER), F(T, param_rows, INT64), F(T, weight_scale, POINTER),
    F(T, activation_scale, POINTER), F(T, bias_dtype, INT32), F(T, bias, POINTER), F(T, quant_scale, POINTER),
    F(T, quant_offset, POINTER), F(T, activate_left, INT32), F(T, quant_mode, INT32), F(T, y, POINTER),
    F(T, scale, POINTER),
};
#undef T

#define T moeroute_grouped_matmul_swiglu_quant_args
static const moeroute_field mr_gmmsq_fields[] = {
    F(T, struct_size, SIZE), F(T, num_rows, INT64), F(T, k, INT64), F(T, n, INT64), F(T, num_experts, INT64),
    F(T, x, POINTER), F(T, x_row_stride, INT64), F(T, x_col_stride, INT64), F(T, weight, POINTER),
    F(T, weight_expert_stride, INT64), F(T, weight_k_stride, INT64), F(T, weight_n_stride, INT64),
    F(T, weight_format, INT32), F(T, weight_scale_dtype, INT32), F(T, weight_scale, POINTER),
    F(T, x_scale, POINTER), F(T, num_groups, INT64), F(T, group_list, POINTER), F(T, output, POINTER),
    F(T, output_scale, POINTER),
};
#undef T

#define T moeroute_distribute_dispatch_args
static const moeroute_field mr_dispatch_fields[] = {
    F(T, struct_size, SIZE), F(T, comm, POINTER), F(T, x_dtype, INT32), F(T, quant_mode, INT32),
    F(T, num_tokens, INT64), F(T, hidden, INT64), F(T, top_k, INT64), F(T, num_experts, INT64),
    F(T, shared_expert_num, INT64), F(T, shared_expert_rank_num, INT64), F(T, global_bs, INT64),
    F(T, token_nums_type, INT32), F(T, mask_2d, INT32), F(T, x, POINTER), F(T, expert_ids, POINTER),
    F(T, smooth_scales, POINTER), F(T, active_mask, POINTER), F(T, expert_scales, POINTER), F(T, max_rows, INT64),
    F(T, expand_x, POINTER), F(T, dynamic_scales, POINTER), F(T, assist_info, POINTER),
    F(T, expert_token_nums, POINTER), F(T, ep_recv_counts, POINTER), F(T, expand_scales, POINTER),
};
#undef T

#define T moeroute_distribute_combine_args
static const moeroute_field mr_combine_fields[] = {
    F(T, struct_size, SIZE), F(T, comm, POINTER), F(T, x_dtype, INT32), F(T, mask_2d, INT32),
    F(T, num_tokens, INT64), F(T, hidden, INT64), F(T, top_k, INT64), F(T, num_experts, INT64),
    F(T, shared_expert_num, INT64), F(T, shared_expert_rank_num, INT64), F(T, global_bs, INT64),
    F(T, max_rows, INT64), F(T, expand_x, POINTER), F(T, expert_ids, POINTER), F(T, assist_info, POINTER),
    F(T, ep_send_counts, POINTER), F(T, expert_scales, POINTER), F(T, active_mask, POINTER), F(T, shared_x, POINTER),
    F(T, out, POINTER),
};
#undef T

#define ENTRY(name, fields) {#name, fields, sizeof fields / sizeof fields[0], sizeof(name)}
static const struct {
    const char *name;
    const moeroute_field *fields;
    size_t count, size;
} mr_layouts[] = {
    ENTRY(moeroute_options, mr_options_fields),
    ENTRY(moeroute_init_routing_args, mr_v1_fields),
    ENTRY(moeroute_init_routing_v2_args, mr_v2_fields),
    ENTRY(moeroute_init_routing_v3_args, mr_v3_fields),
    ENTRY(moeroute_compute_expert_tokens_args, mr_cet_fields),
    ENTRY(moeroute_token_permute_args, mr_permute_fields),
    ENTRY(moeroute_token_unpermute_args, mr_unpermute_fields),
    ENTRY(moeroute_finalize_routing_args, mr_finalize_fields),
    ENTRY(moeroute_re_routing_args, mr_re_routing_fields),
    ENTRY(moeroute_gating_top_k_args, mr_gating_fields),
    ENTRY(moeroute_gating_top_k_softmax_args, mr_gating_softmax_fields),
    ENTRY(moeroute_grouped_matmul_args, mr_gmm_fields),
    ENTRY(moeroute_dynamic_quant_args, mr_dynamic_quant_fields),
    ENTRY(moeroute_swiglu_args, mr_swiglu_fields),
    ENTRY(moeroute_dequant_swiglu_quant_args, mr_dsq_fields),
    ENTRY(moeroute_grouped_matmul_swiglu_quant_args, mr_gmmsq_fields),
    ENTRY(moeroute_distribute_dispatch_args, mr_dispatch_fields),
    ENTRY(moeroute_distribute_combine_args, mr_combine_fields),
};

const moeroute_field *moeroute_struct_layout(const char *name, size_t *count, size_t *size)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof mr_layouts / sizeof mr_layouts[0]; i++)
        if (!strcmp(mr_layouts[i].name, name)) {
            if (count) *count = mr_layouts[i].count;
            if (size) *size = mr_layouts[i].size;
            return mr_layouts[i].fields;
        }
    return NULL;
}
