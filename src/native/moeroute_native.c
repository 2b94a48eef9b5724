/* The native C API (moeroute.h): argument checks, then the operator shared with the aclnn API. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/fpenv.h"
#include "dispatch/dispatch.h"
#include "moeroute.h"
#include "operators/expert_tokens.h"
#include "operators/finalize.h"
#include "operators/gating.h"
#include "operators/op_run.h"
#include "operators/grouped_matmul.h"
#include "operators/grouped_matmul_swiglu_quant.h"
#include "operators/re_routing.h"
#include "operators/routing.h"
#include "operators/unpermute.h"
#include "operators/dequant_swiglu_quant.h"
#include "operators/dynamic_quant.h"
#include "operators/swiglu.h"
#include "threadpool/default_pool.h"

struct moeroute_context {
    moeroute_isa isa; /* resolved level */
    mr_pool *pool;    /* NULL: serial */
    void *scratch;    /* grows to the largest workspace asked for */
    size_t scratch_size;
};

static const char mr_api[] = "moeroute_init_routing";

moeroute_status moeroute_context_create(const moeroute_options *options, moeroute_context **out)
{
    static const char api[] = "moeroute_context_create";
    if (!out) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: out is NULL", api);
    moeroute_options opt = {0, MOEROUTE_ISA_AUTO};
    if (options) opt = *options;
    if (opt.num_threads < 0 || opt.num_threads > MOEROUTE_MAX_THREADS)
        return mr_fail(MOEROUTE_ERR_INVALID_OPTION, "%s: num_threads must be in [0, %d] (0 = default), got %d", api,
                       MOEROUTE_MAX_THREADS, (int)opt.num_threads);
    if (opt.isa < MOEROUTE_ISA_AUTO || opt.isa > MOEROUTE_ISA_NEON)
        return mr_fail(MOEROUTE_ERR_INVALID_OPTION, "%s: isa %d is not a moeroute_isa value", api, (int)opt.isa);
    moeroute_context *ctx = mr_calloc(1, sizeof *ctx);
    if (!ctx) return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory", api);
    size_t threads = opt.num_threads > 0 ? (size_t)opt.num_threads : mr_default_thread_count();
    if (threads > 1 && !(ctx->pool = mr_pool_create(threads))) {
        mr_free(ctx);
        return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: cannot start %zu threads", api, threads);
    }
    ctx->isa = mr_dispatch_resolve_isa((moeroute_isa)opt.isa);
    *out = ctx;
    return MOEROUTE_OK;
}

void moeroute_context_destroy(moeroute_context *ctx)
{
    if (!ctx) return;
    mr_pool_destroy(ctx->pool);
    mr_free(ctx->scratch);
    mr_free(ctx);
}

moeroute_isa moeroute_context_isa(const moeroute_context *ctx)
{
    return ctx ? ctx->isa : mr_dispatch_resolve_isa(MOEROUTE_ISA_AUTO);
}

int32_t moeroute_context_threads(const moeroute_context *ctx)
{
    return (int32_t)mr_pool_threads(ctx ? ctx->pool : mr_default_pool());
}

/* Scratch for a plan: the context's (grown as needed) or, without a context, a fresh block the caller frees. */
static moeroute_status mr_native_scratch(moeroute_context *ctx, const char *api, size_t size, void **ws)
{
    *ws = NULL;
    if (size == 0) return MOEROUTE_OK;
    if (ctx && ctx->scratch_size >= size) {
        *ws = ctx->scratch;
        return MOEROUTE_OK;
    }
    void *p = mr_malloc(size);
    if (!p) return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of scratch", api, size);
    if (ctx) {
        mr_free(ctx->scratch);
        ctx->scratch = p;
        ctx->scratch_size = size;
    }
    *ws = p;
    return MOEROUTE_OK;
}

/* Plan and run a routing desc on views, in the context's pool and ISA. */
static moeroute_status mr_native_route(moeroute_context *ctx, const char *api, const mr_route_desc *d, const mr_view *v)
{
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    mr_route_plan plan;
    moeroute_status st = mr_route_plan_init(&plan, d, ctx ? ctx->isa : MOEROUTE_ISA_AUTO, mr_pool_threads(pool), api);
    void *ws = NULL;
    if (st == MOEROUTE_OK) st = mr_native_scratch(ctx, api, plan.ws.size, &ws);
    if (st == MOEROUTE_OK) {
        const mr_fpenv fe = mr_fpenv_enter();
        st = mr_route_run(&plan, v, ws, plan.ws.size, pool, api);
        mr_fpenv_leave(fe);
    }
    if (!ctx) mr_free(ws);
    return st;
}

static moeroute_status mr_native_xtype(const char *api, moeroute_dtype dt, mr_xtype *out)
{
    switch (dt) {
    case MOEROUTE_DTYPE_FLOAT16: *out = MR_X_F16; return MOEROUTE_OK;
    case MOEROUTE_DTYPE_BFLOAT16: *out = MR_X_BF16; return MOEROUTE_OK;
    case MOEROUTE_DTYPE_FLOAT32: *out = MR_X_F32; return MOEROUTE_OK;
    default:
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: x_dtype must be FLOAT16, BFLOAT16 or FLOAT32, got %d", api,
                       (int)dt);
    }
}

static size_t mr_native_esize(moeroute_dtype dt) { return dt == MOEROUTE_DTYPE_FLOAT32 || dt == MOEROUTE_DTYPE_INT32 ? 4 : dt == MOEROUTE_DTYPE_INT8 ? 1 : 2; }

/* struct_size of a versioned args struct: at least the first published layout (all of it today). */
#define MR_CHECK_ARGS(api, args, type)                                                                        \
    do {                                                                                                      \
        if (!(args)) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: args is NULL", api);                     \
        if ((args)->struct_size < sizeof(type))                                                               \
            return mr_fail(MOEROUTE_ERR_INVALID_ARGS_SIZE,                                                    \
                           "%s: args->struct_size is %zu; set it to sizeof(" #type ") = %zu", api,          \
                           (args)->struct_size, sizeof(type));                                               \
    } while (0)

moeroute_status moeroute_init_routing(moeroute_context *ctx, const moeroute_init_routing_args *args)
{
    MR_CHECK_ARGS(mr_api, args, moeroute_init_routing_args);
    const moeroute_init_routing_args *a = args;
    mr_route_desc d = {.variant = MR_ROUTE_V1, .n = a->num_rows, .k = a->k, .h = a->hidden, .active = a->active_num,
                       .scale = a->scale, .offset = a->offset};
    moeroute_status st = mr_native_xtype(mr_api, a->x_dtype, &d.xtype);
    if (st != MOEROUTE_OK) return st;
    int quant = a->expanded_x_dtype == MOEROUTE_DTYPE_INT8;
    if (!quant && a->expanded_x_dtype != a->x_dtype)
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: expanded_x_dtype must be INT8 or equal to x_dtype, got %d",
                       mr_api, (int)a->expanded_x_dtype);
    d.transform = quant ? MR_ROW_STATIC : MR_ROW_COPY;
    if (d.n < 0 || d.k < 0 || d.h < 0)
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: dimensions must be >= 0 (N=%lld, K=%lld, H=%lld)", mr_api,
                       (long long)d.n, (long long)d.k, (long long)d.h);
    if (d.active < 0)
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: activeNum must be >= 0, got %lld", mr_api, (long long)d.active);
    int64_t L;
    if (mr_mul_i64(d.n, d.k, &L) || L > INT32_MAX)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: N*K = %lld*%lld exceeds INT32_MAX; indices are int32", mr_api,
                       (long long)d.n, (long long)d.k);
    const int64_t A = (d.active < d.n ? d.active : d.n) * d.k;
    mr_view v[MR_RV_COUNT];
    memset(v, 0, sizeof v);
    v[MR_RV_X] = mr_view_2d(a->x, mr_native_esize(a->x_dtype), A > 0 ? d.n : 0, d.h, a->x_row_stride, a->x_col_stride);
    v[MR_RV_EXPERT] = mr_view_2d(a->expert_idx, 4, d.n, d.k, a->expert_row_stride, a->expert_col_stride);
    if (a->row_idx) v[MR_RV_ROW_IDX] = mr_view_2d(a->row_idx, 4, d.n, d.k, a->row_idx_row_stride, a->row_idx_col_stride);
    v[MR_RV_OUT_X] = mr_view_contiguous(a->expanded_x, quant ? 1 : mr_native_esize(a->x_dtype), 2, (const int64_t[]){A, d.h});
    v[MR_RV_OUT_ROW_IDX] = mr_view_contiguous(a->expanded_row_idx, 4, 1, &L);
    v[MR_RV_OUT_EXPERT] = mr_view_contiguous(a->expanded_expert_idx, 4, 1, &L);
    return mr_native_route(ctx, mr_api, &d, v);
}

static moeroute_status mr_native_dims(const char *api, int64_t n, int64_t k, int64_t h, int64_t *L)
{
    if (n < 0 || k < 0 || h < 0)
        return mr_fail(MOEROUTE_ERR_INVALID_SHAPE, "%s: dimensions must be >= 0 (N=%lld, K=%lld, H=%lld)", api,
                       (long long)n, (long long)k, (long long)h);
    if (mr_mul_i64(n, k, L) || *L > INT32_MAX)
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: N*K = %lld*%lld exceeds INT32_MAX; indices are int32", api,
                       (long long)n, (long long)k);
    return MOEROUTE_OK;
}

#define MR_SHAPE_FAIL(...) mr_fail(MOEROUTE_ERR_INVALID_SHAPE, __VA_ARGS__)

moeroute_status moeroute_init_routing_v2(moeroute_context *ctx, const moeroute_init_routing_v2_args *args)
{
    static const char api[] = "moeroute_init_routing_v2";
    MR_CHECK_ARGS(api, args, moeroute_init_routing_v2_args);
    const moeroute_init_routing_v2_args *a = args;
    int64_t L;
    moeroute_status st = mr_native_dims(api, a->num_rows, a->k, a->hidden, &L);
    mr_route_desc d = {.variant = MR_ROUTE_V2, .n = a->num_rows, .k = a->k, .h = a->hidden, .active = a->active_num,
                       .drop = a->drop_pad_mode == 1, .capacity = a->expert_capacity, .experts = a->expert_num};
    if (st == MOEROUTE_OK) st = mr_native_xtype(api, a->x_dtype, &d.xtype);
    if (st != MOEROUTE_OK) return st;
    const int64_t N = d.n, H = d.h, E = d.experts, C = d.capacity;
    if (a->active_num < 0 || C < 0 || E < 0)
        return MR_SHAPE_FAIL("%s: active_num, expert_capacity and expert_num must be >= 0", api);
    if (a->drop_pad_mode != 0 && a->drop_pad_mode != 1)
        return MR_SHAPE_FAIL("%s: drop_pad_mode must be 0 or 1, got %d", api, (int)a->drop_pad_mode);
    if (a->count_flag < 0 || a->count_flag > 2)
        return MR_SHAPE_FAIL("%s: count_flag must be 0, 1 or 2, got %d", api, (int)a->count_flag);
    if (a->quant_mode < -1 || a->quant_mode > 1)
        return MR_SHAPE_FAIL("%s: quant_mode must be -1, 0 or 1, got %d", api, (int)a->quant_mode);
    if (d.drop && (C < 1 || E < 1 || C > N))
        return MR_SHAPE_FAIL("%s: drop & pad needs 1 <= expert_capacity <= N and expert_num >= 1", api);
    const int flag = d.drop ? 0 : a->count_flag;
    d.before_capacity = d.drop && a->before_capacity_flag;
    if (flag && E < 1) return MR_SHAPE_FAIL("%s: count_flag %d needs expert_num >= 1", api, flag);
    d.count_kind = flag == 1 ? MR_COUNT_CUMSUM_I32 : flag == 2 ? MR_COUNT_I32 : MR_COUNT_NONE;
    d.transform = a->quant_mode < 0 ? MR_ROW_COPY : a->quant_mode == 0 ? MR_ROW_STATIC : MR_ROW_DYNAMIC;
    d.static_from_views = a->quant_mode == 0;
    if (a->quant_mode == 1 && a->scale) {
        if (a->scale_rows != 1 && a->scale_rows != E)
            return MR_SHAPE_FAIL("%s: scale_rows must be 1 or expert_num (%lld), got %lld", api, (long long)E,
                                 (long long)a->scale_rows);
        d.smooth_rows = a->scale_rows;
    }
    /* E indexes the slots, the counts or the per-expert smooth rows: ids must lie in [0, E) */
    d.check_ids = d.drop || flag || (a->quant_mode == 1 && a->scale && a->scale_rows == E && E != 1);
    if (a->quant_mode == 0 && (!a->scale || !a->offset))
        return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: static quantization needs scale and offset", api);
    const int64_t rows = d.drop ? E * C : (a->active_num == 0 || a->active_num > L ? L : a->active_num);
    const int64_t one = 1;
    mr_view v[MR_RV_COUNT];
    memset(v, 0, sizeof v);
    v[MR_RV_X] = mr_view_2d(a->x, mr_native_esize(a->x_dtype), N, H, a->x_row_stride, a->x_col_stride);
    v[MR_RV_EXPERT] = mr_view_2d(a->expert_idx, 4, N, d.k, a->expert_row_stride, a->expert_col_stride);
    if (a->quant_mode == 0) {
        v[MR_RV_SCALE] = mr_view_contiguous(a->scale, 4, 1, &one);
        v[MR_RV_OFFSET] = mr_view_contiguous(a->offset, 4, 1, &one);
    } else if (d.smooth_rows) {
        v[MR_RV_SCALE] = mr_view_contiguous(a->scale, 4, 2, (const int64_t[]){d.smooth_rows, H});
    }
    v[MR_RV_OUT_X] = mr_view_contiguous(a->expanded_x, a->quant_mode >= 0 ? 1 : mr_native_esize(a->x_dtype), 2,
                                        (const int64_t[]){rows, H});
    v[MR_RV_OUT_ROW_IDX] = mr_view_contiguous(a->expanded_row_idx, 4, 1, &L);
    if (flag) v[MR_RV_OUT_COUNT] = mr_view_contiguous(a->expert_tokens, 4, 1, &E);
    if (d.before_capacity) v[MR_RV_OUT_BEFORE] = mr_view_contiguous(a->expert_tokens_before_capacity, 4, 1, &E);
    if (a->quant_mode == 1) v[MR_RV_OUT_SCALE] = mr_view_contiguous(a->dynamic_quant_scale, 4, 1, &rows);
    return mr_native_route(ctx, api, &d, v);
}

moeroute_status moeroute_init_routing_v3(moeroute_context *ctx, const moeroute_init_routing_v3_args *args)
{
    static const char api[] = "moeroute_init_routing_v3";
    MR_CHECK_ARGS(api, args, moeroute_init_routing_v3_args);
    const moeroute_init_routing_v3_args *a = args;
    int64_t L;
    moeroute_status st = mr_native_dims(api, a->num_rows, a->k, a->hidden, &L);
    if (st != MOEROUTE_OK) return st;
    mr_route_desc d = {.variant = MR_ROUTE_V3, .n = a->num_rows, .k = a->k, .h = a->hidden, .experts = a->expert_num,
                       .scatter_row_idx = a->row_idx_type == 1, .x_int8 = a->x_dtype == MOEROUTE_DTYPE_INT8};
    if (d.x_int8) {
        if (a->quant_mode != -1)
            return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: x_dtype INT8 needs quant_mode -1", api);
        d.xtype = MR_X_F16;
    } else if ((st = mr_native_xtype(api, a->x_dtype, &d.xtype)) != MOEROUTE_OK) {
        return st;
    }
    const int64_t E = a->expert_num, N = d.n, H = d.h;
    if (E < 1 || E > INT32_MAX) return MR_SHAPE_FAIL("%s: expert_num must be in [1, INT32_MAX], got %lld", api, (long long)E);
    int64_t lo = a->range_start, hi = a->range_end;
    if (lo == 0 && hi == 0) hi = E;
    if (lo < 0 || lo >= hi || hi > E)
        return MR_SHAPE_FAIL("%s: the range [%lld, %lld) must satisfy 0 <= start < end <= expert_num (%lld)", api,
                             (long long)lo, (long long)hi, (long long)E);
    if (a->tokens_num_type != 1 && a->tokens_num_type != 2)
        return MR_SHAPE_FAIL("%s: tokens_num_type must be 1 or 2, got %d", api, (int)a->tokens_num_type);
    if (a->quant_mode != -1 && a->quant_mode != 1)
        return MR_SHAPE_FAIL("%s: quant_mode must be -1 or 1, got %d", api, (int)a->quant_mode);
    if (a->row_idx_type != 0 && a->row_idx_type != 1)
        return MR_SHAPE_FAIL("%s: row_idx_type must be 0 or 1, got %d", api, (int)a->row_idx_type);
    const int quant = a->quant_mode == 1;
    d.range_lo = (int32_t)lo;
    d.range_hi = (int32_t)hi;
    d.count_kind = a->tokens_num_type == 1 ? MR_COUNT_I64 : MR_COUNT_KV_I64;
    d.transform = quant ? MR_ROW_DYNAMIC : MR_ROW_COPY;
    d.smooth_rows = quant && a->scale ? hi - lo : 0;
    d.scale_carry = !quant && a->scale;
    const int64_t span = hi - lo;
    mr_view v[MR_RV_COUNT];
    memset(v, 0, sizeof v);
    v[MR_RV_X] = mr_view_2d(a->x, mr_native_esize(a->x_dtype), N, H, a->x_row_stride, a->x_col_stride);
    v[MR_RV_EXPERT] = mr_view_2d(a->expert_idx, 4, N, d.k, a->expert_row_stride, a->expert_col_stride);
    if (a->scale)
        v[MR_RV_SCALE] = quant ? mr_view_contiguous(a->scale, 4, 2, (const int64_t[]){span, H})
                               : mr_view_contiguous(a->scale, 4, 1, &N);
    v[MR_RV_OUT_X] = mr_view_contiguous(a->expanded_x, quant ? 1 : mr_native_esize(a->x_dtype), 2, (const int64_t[]){L, H});
    v[MR_RV_OUT_ROW_IDX] = mr_view_contiguous(a->expanded_row_idx, 4, 1, &L);
    v[MR_RV_OUT_COUNT] = a->tokens_num_type == 1 ? mr_view_contiguous(a->expert_tokens, 8, 1, &span)
                                                 : mr_view_contiguous(a->expert_tokens, 8, 2, (const int64_t[]){E, 2});
    if (quant || a->scale) v[MR_RV_OUT_SCALE] = mr_view_contiguous(a->expanded_scale, 4, 1, &L);
    return mr_native_route(ctx, api, &d, v);
}

moeroute_status moeroute_token_permute(moeroute_context *ctx, const moeroute_token_permute_args *args)
{
    static const char api[] = "moeroute_token_permute";
    MR_CHECK_ARGS(api, args, moeroute_token_permute_args);
    const moeroute_token_permute_args *a = args;
    int64_t L;
    moeroute_status st = mr_native_dims(api, a->num_tokens, a->k, a->hidden, &L);
    if (st != MOEROUTE_OK) return st;
    mr_route_desc d = {.variant = MR_ROUTE_V2, .n = a->num_tokens, .k = a->k, .h = a->hidden, .rows_exact = 1,
                       .x_int8 = a->tokens_dtype == MOEROUTE_DTYPE_INT8, .transform = MR_ROW_COPY};
    if (d.x_int8) d.xtype = MR_X_F16;
    else if ((st = mr_native_xtype(api, a->tokens_dtype, &d.xtype)) != MOEROUTE_OK) return st;
    int64_t n = a->num_out_tokens <= 0 ? (a->num_out_tokens < -L ? 0 : a->num_out_tokens + L) : a->num_out_tokens;
    d.active = n > L ? L : n;
    mr_view v[MR_RV_COUNT];
    memset(v, 0, sizeof v);
    v[MR_RV_X] = mr_view_2d(a->tokens, mr_native_esize(a->tokens_dtype), d.n, d.h, a->tokens_row_stride,
                            a->tokens_col_stride);
    v[MR_RV_EXPERT] = mr_view_2d(a->indices, a->indices_int64 ? 8 : 4, d.n, d.k, a->indices_row_stride,
                                 a->indices_col_stride);
    v[MR_RV_OUT_X] = mr_view_contiguous(a->permuted_tokens, mr_native_esize(a->tokens_dtype), 2,
                                        (const int64_t[]){d.active, d.h});
    v[MR_RV_OUT_ROW_IDX] = mr_view_contiguous(a->sorted_indices, 4, 1, &L);
    return mr_native_route(ctx, api, &d, v);
}

moeroute_status moeroute_compute_expert_tokens(moeroute_context *ctx, const moeroute_compute_expert_tokens_args *args)
{
    static const char api[] = "moeroute_compute_expert_tokens";
    MR_CHECK_ARGS(api, args, moeroute_compute_expert_tokens_args);
    if (args->length < 0 || args->num_experts < 1 || args->num_experts > INT32_MAX)
        return MR_SHAPE_FAIL("%s: length must be >= 0 and num_experts in [1, INT32_MAX] (got %lld, %lld)", api,
                             (long long)args->length, (long long)args->num_experts);
    mr_expert_tokens_plan plan = {args->length, args->num_experts};
    mr_view v[MR_ET_COUNT];
    v[MR_ET_SORTED] = mr_view_contiguous(args->sorted_experts, 4, 1, &args->length);
    v[MR_ET_OUT] = mr_view_contiguous(args->out, 4, 1, &args->num_experts);
    return mr_op_run_default_fp(mr_expert_tokens_run, &plan, v, NULL, 0, ctx ? ctx->pool : NULL, api);
}

/* ---- the combine operators: plans over the accumulate step, filled as their aclnn adapters fill them ---- */

/* A float dtype of a combine operator (FLOAT16, BFLOAT16, FLOAT32), named for the message. */
static moeroute_status mr_native_float(const char *api, const char *field, moeroute_dtype dt, mr_xtype *out)
{
    switch (dt) {
    case MOEROUTE_DTYPE_FLOAT16: *out = MR_X_F16; return MOEROUTE_OK;
    case MOEROUTE_DTYPE_BFLOAT16: *out = MR_X_BF16; return MOEROUTE_OK;
    case MOEROUTE_DTYPE_FLOAT32: *out = MR_X_F32; return MOEROUTE_OK;
    default:
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: %s must be FLOAT16, BFLOAT16 or FLOAT32, got %d", api, field,
                       (int)dt);
    }
}

moeroute_status moeroute_token_unpermute(moeroute_context *ctx, const moeroute_token_unpermute_args *args)
{
    static const char api[] = "moeroute_token_unpermute";
    MR_CHECK_ARGS(api, args, moeroute_token_unpermute_args);
    const moeroute_token_unpermute_args *a = args;
    mr_unpermute_plan plan = {a->num_tokens, a->k, a->hidden, a->permuted_rows, MR_X_F32, MR_X_F32, a->probs != NULL,
                              ctx ? ctx->isa : MOEROUTE_ISA_AUTO};
    moeroute_status st = mr_native_float(api, "tokens_dtype", a->tokens_dtype, &plan.tokens);
    if (st == MOEROUTE_OK && plan.has_probs) st = mr_native_float(api, "probs_dtype", a->probs_dtype, &plan.probs);
    if (st != MOEROUTE_OK) return st;
    const int64_t T = plan.t, k = plan.k, H = plan.h, M = plan.m;
    if (T < 0 || k < 0 || H < 0 || M < 0)
        return MR_SHAPE_FAIL("%s: dimensions must be >= 0 (T=%lld, k=%lld, H=%lld, permuted_rows=%lld)", api,
                             (long long)T, (long long)k, (long long)H, (long long)M);
    if (!plan.has_probs && k != 1)
        return MR_SHAPE_FAIL("%s: without probs every token has one slot: k must be 1, got %lld", api, (long long)k);
    int64_t L;
    if (mr_mul_i64(T, k, &L))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: T*k = %lld*%lld overflows", api, (long long)T, (long long)k);
    mr_view v[MR_UP_COUNT];
    memset(v, 0, sizeof v);
    v[MR_UP_TOKENS] = mr_view_2d(a->permuted_tokens, mr_native_esize(a->tokens_dtype), M, H, a->permuted_row_stride,
                                 a->permuted_col_stride);
    v[MR_UP_INDICES] = mr_view_contiguous(a->sorted_indices, 4, 1, &L);
    if (plan.has_probs)
        v[MR_UP_PROBS] = mr_view_2d(a->probs, mr_native_esize(a->probs_dtype), T, k, a->probs_row_stride,
                                    a->probs_col_stride);
    v[MR_UP_OUT] = mr_view_contiguous(a->out, mr_native_esize(a->tokens_dtype), 2, (const int64_t[]){T, H});
    return mr_op_run_default_fp(mr_unpermute_run, &plan, v, NULL, 0, ctx ? ctx->pool : mr_default_pool(), api);
}

moeroute_status moeroute_finalize_routing(moeroute_context *ctx, const moeroute_finalize_routing_args *args)
{
    static const char api[] = "moeroute_finalize_routing";
    MR_CHECK_ARGS(api, args, moeroute_finalize_routing_args);
    const moeroute_finalize_routing_args *a = args;
    if (a->version != 1 && a->version != 2)
        return MR_SHAPE_FAIL("%s: version must be 1 (MoeFinalizeRouting) or 2 (MoeFinalizeRoutingV2), got %d", api,
                             (int)a->version);
    const int v2 = a->version == 2;
    mr_finalize_plan plan = {.v2 = v2, .n = a->num_rows, .k = a->k, .h = a->hidden, .m = a->expanded_rows,
                             .isa = ctx ? ctx->isa : MOEROUTE_ISA_AUTO};
    moeroute_status st = mr_native_float(api, "x_dtype", a->x_dtype, &plan.xtype);
    if (st != MOEROUTE_OK) return st;
    const int has_scales = !v2 || a->scales;
    plan.stype = plan.xtype;
    if (has_scales && a->scales_dtype != a->x_dtype) {
        if (!(v2 && a->x_dtype == MOEROUTE_DTYPE_BFLOAT16 && a->scales_dtype == MOEROUTE_DTYPE_FLOAT32))
            return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: scales_dtype must equal x_dtype (%d)%s; got %d", api,
                           (int)a->x_dtype, v2 ? ", or be FLOAT32 with BFLOAT16 x_dtype" : "", (int)a->scales_dtype);
        plan.stype = MR_X_F32;
    }
    const int64_t N = plan.n, K = plan.k, H = plan.h, M = plan.m, E = a->num_experts;
    if (N < 0 || K < 0 || H < 0 || M < 0)
        return MR_SHAPE_FAIL("%s: dimensions must be >= 0 (N=%lld, K=%lld, H=%lld, expanded_rows=%lld)", api,
                             (long long)N, (long long)K, (long long)H, (long long)M);
    if (a->drop_pad_mode < 0 || a->drop_pad_mode > (v2 ? 3 : 0))
        return MR_SHAPE_FAIL("%s: drop_pad_mode must be %s, got %d", api, v2 ? "0, 1, 2 or 3" : "0 in version 1",
                             (int)a->drop_pad_mode);
    if (has_scales && K == 0) return MR_SHAPE_FAIL("%s: K must be >= 1, got 0", api);
    if (!has_scales && K != 1)
        return MR_SHAPE_FAIL("%s: without scales every token has one slot: K must be 1, got %lld", api, (long long)K);
    int64_t NK;
    if (mr_mul_i64(N, K, &NK))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: N*K = %lld*%lld overflows", api, (long long)N, (long long)K);
    if (!v2 && M < NK)
        return MR_SHAPE_FAIL("%s: version 1 reads positions i + k*N of expanded_row_idx [expanded_rows]: "
                             "expanded_rows (%lld) must be >= N*K = %lld", api, (long long)M, (long long)NK);
    const int has_bias = !v2 || a->bias;
    const int drop = a->drop_pad_mode == 1 || a->drop_pad_mode == 3;
    if (has_bias) {
        const int64_t emin = v2 && K > 1 ? K : 1;
        if (E < emin)
            return MR_SHAPE_FAIL("%s: the bias needs num_experts >= %lld%s, got %lld", api, (long long)emin,
                                 v2 ? " (max(1, K))" : "", (long long)E);
        if (drop && M % E != 0)
            return MR_SHAPE_FAIL("%s: drop_pad_mode %d reads expanded_x as [E, C, H] with E = num_experts = %lld: "
                                 "expanded_rows (%lld) must be a multiple of it", api, (int)a->drop_pad_mode,
                                 (long long)E, (long long)M);
        if (v2 && !a->expert_idx && NK > 0)
            return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: a bias needs expert_idx (the expert of each slot)", api);
    }
    plan.drop = drop;
    plan.row_major = a->drop_pad_mode >= 2;
    plan.experts = has_bias ? E : 0;
    plan.has_x1 = !v2 || a->x1;
    plan.has_x2 = a->x2 != NULL;
    plan.has_bias = has_bias;
    plan.has_scales = has_scales;
    const size_t es = mr_native_esize(a->x_dtype);
    const int64_t NH[2] = {N, H}, NKd[2] = {N, K}, EH[2] = {E, H};
    mr_view v[MR_FIN_COUNT];
    memset(v, 0, sizeof v);
    v[MR_FIN_EXPANDED_X] = mr_view_2d(a->expanded_x, es, M, H, a->expanded_x_row_stride, a->expanded_x_col_stride);
    v[MR_FIN_ROW_IDX] = mr_view_contiguous(a->expanded_row_idx, 4, 1, v2 ? &NK : &M);
    if (plan.has_x1) v[MR_FIN_X1] = mr_view_contiguous(a->x1, es, 2, NH);
    if (plan.has_x2) v[MR_FIN_X2] = mr_view_contiguous(a->x2, es, 2, NH);
    if (has_bias) {
        v[MR_FIN_BIAS] = mr_view_contiguous(a->bias, es, 2, EH);
        v[MR_FIN_EXPERT_IDX] = mr_view_contiguous(a->expert_idx, 4, 2, NKd); /* without a bias: not read */
    }
    if (has_scales) v[MR_FIN_SCALES] = mr_view_contiguous(a->scales, plan.stype == MR_X_F32 ? 4 : 2, 2, NKd);
    v[MR_FIN_OUT] = mr_view_contiguous(a->out, es, 2, NH);
    return mr_op_run_default_fp(mr_finalize_run, &plan, v, NULL, 0, ctx ? ctx->pool : mr_default_pool(), api);
}

/* Run a planned operator in the context's scratch (defined with the expert-MLP operators below). */
static moeroute_status mr_native_run_ws(moeroute_context *ctx, const char *api,
                                        moeroute_status (*run)(const void *, const mr_view *, void *, size_t,
                                                               mr_pool *, const char *),
                                        const void *plan, const mr_view *v, size_t ws_size, mr_pool *pool);

/* MoeReRouting: the re-routing plan over the row step, planned for the context's pool and ISA. */
moeroute_status moeroute_re_routing(moeroute_context *ctx, const moeroute_re_routing_args *args)
{
    static const char api[] = "moeroute_re_routing";
    MR_CHECK_ARGS(api, args, moeroute_re_routing_args);
    const moeroute_re_routing_args *a = args;
    const moeroute_dtype dt = a->tokens_dtype;
    if (dt != MOEROUTE_DTYPE_FLOAT16 && dt != MOEROUTE_DTYPE_BFLOAT16 && dt != MOEROUTE_DTYPE_INT8)
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: tokens_dtype must be FLOAT16, BFLOAT16 or INT8, got %d", api,
                       (int)dt);
    if (a->counts_int64 != 0 && a->counts_int64 != 1)
        return MR_SHAPE_FAIL("%s: counts_int64 must be 0 or 1, got %d", api, (int)a->counts_int64);
    const int64_t A = a->num_rows, H = a->hidden, R = a->num_ranks, E = a->num_experts;
    if (A < 0 || H < 0 || R < 1 || E < 1)
        return MR_SHAPE_FAIL("%s: need num_rows >= 0, hidden >= 0, num_ranks >= 1 and num_experts >= 1 (got %lld, "
                             "%lld, %lld, %lld)", api, (long long)A, (long long)H, (long long)R, (long long)E);
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    mr_re_routing_plan plan;
    const size_t es = mr_native_esize(dt), cs = a->counts_int64 ? 8 : 4;
    moeroute_status st = mr_re_routing_plan_init(&plan, A, H, R, E, es, a->counts_int64, a->scales != NULL,
                                                 ctx ? ctx->isa : MOEROUTE_ISA_AUTO, mr_pool_threads(pool), api);
    if (st != MOEROUTE_OK) return st;
    mr_view v[MR_RR_COUNT];
    memset(v, 0, sizeof v);
    v[MR_RR_TOKENS] = mr_view_2d(a->tokens, es, A, H, a->tokens_row_stride, a->tokens_col_stride);
    v[MR_RR_COUNTS] = mr_view_2d(a->counts, cs, R, E, a->counts_row_stride, a->counts_col_stride);
    if (a->scales) {
        v[MR_RR_SCALES] = mr_view_2d(a->scales, 4, A, 1, a->scales_stride, 1);
        v[MR_RR_SCALES].ndim = 1;
    }
    v[MR_RR_OUT_TOKENS] = mr_view_contiguous(a->permuted_tokens, es, 2, (const int64_t[]){A, H});
    v[MR_RR_OUT_SCALES] = mr_view_contiguous(a->permuted_scales, 4, 1, &A);
    v[MR_RR_OUT_IDX] = mr_view_contiguous(a->permuted_idx, 4, 1, &A);
    v[MR_RR_OUT_COUNT] = mr_view_contiguous(a->expert_tokens, cs, 1, &E);
    return mr_native_run_ws(ctx, api, mr_re_routing_run, &plan, v, plan.ws_size, pool);
}

/* ---- gating: the plan of operators/gating.h, filled as its aclnn adapters fill it ---- */

/* Plan and run a gating desc on views, in the context's pool and ISA. */
static moeroute_status mr_native_gate(moeroute_context *ctx, const char *api, const mr_gating_desc *d, mr_view *v)
{
    /* expert ids are int32; a finished row's id is E itself, and V1's rowIdx j*N + r must fit too */
    const int64_t e_max = d->kind == MR_GATE_TOPK ? INT32_MAX : INT32_MAX - 1;
    if (d->n < 0 || d->e < 1 || d->k < 1 || d->k > d->e)
        return MR_SHAPE_FAIL("%s: need N >= 0, E >= 1 and k in [1, E] (N=%lld, E=%lld, k=%lld)", api, (long long)d->n,
                             (long long)d->e, (long long)d->k);
    int64_t nk, ne;
    if (d->e > e_max || mr_mul_i64(d->n, d->k, &nk) || mr_mul_i64(d->n, d->e, &ne) ||
        (d->kind == MR_GATE_SOFTMAX_V1 && nk > INT32_MAX))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: E = %lld (at most %lld), N*E = %lld*%lld or N*k (at most "
                       "INT32_MAX for version 1's row_idx) is too large", api, (long long)d->e, (long long)e_max,
                       (long long)d->n, (long long)d->e);
    const size_t ysz = mr_xtype_size(d->xtype);
    v[MR_GT_Y].dims[0] = v[MR_GT_IDX].dims[0] = v[MR_GT_ROW_IDX].dims[0] = d->n;
    for (int i = MR_GT_Y; i <= MR_GT_ROW_IDX; i++)
        if (v[i].data) v[i] = mr_view_contiguous(v[i].data, i == MR_GT_Y ? ysz : 4, 2, (const int64_t[]){d->n, d->k});
    if (v[MR_GT_OUT].data) v[MR_GT_OUT] = mr_view_contiguous(v[MR_GT_OUT].data, 4, 2, (const int64_t[]){d->n, d->e});
    if (!v[MR_GT_Y].data && nk) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: y is NULL", api);
    if (!v[MR_GT_IDX].data && nk) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: expert_idx is NULL", api);
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    mr_gating_plan plan;
    uint64_t wsz = 0;
    void *ws = NULL;
    moeroute_status st = mr_gating_plan_init(&plan, d, ctx ? ctx->isa : MOEROUTE_ISA_AUTO, mr_pool_threads(pool), &wsz, api);
    if (st == MOEROUTE_OK) st = mr_native_scratch(ctx, api, (size_t)wsz, &ws);
    if (st == MOEROUTE_OK) st = mr_op_run_default_fp(mr_gating_run, &plan, v, ws, (size_t)wsz, pool, api);
    if (!ctx) mr_free(ws);
    return st;
}

moeroute_status moeroute_gating_top_k(moeroute_context *ctx, const moeroute_gating_top_k_args *args)
{
    static const char api[] = "moeroute_gating_top_k";
    MR_CHECK_ARGS(api, args, moeroute_gating_top_k_args);
    const moeroute_gating_top_k_args *a = args;
    mr_gating_desc d = {.kind = MR_GATE_TOPK, .n = a->num_rows, .e = a->num_experts, .k = a->k,
                        .has_bias = a->bias != NULL, .has_out = a->out != NULL, .k_group = a->k_group,
                        .group_count = a->group_count, .group_mode = a->group_select_mode, .norm_type = a->norm_type,
                        .renorm = a->renorm, .rsf = a->routed_scaling_factor, .eps = a->eps};
    moeroute_status st = mr_native_float(api, "x_dtype", a->x_dtype, &d.xtype);
    if (st != MOEROUTE_OK) return st;
    if ((a->norm_type != 0 && a->norm_type != 1) || (a->renorm != 0 && a->renorm != 1) ||
        (a->group_select_mode != 0 && a->group_select_mode != 1))
        return MR_SHAPE_FAIL("%s: norm_type, renorm and group_select_mode must be 0 or 1 (got %d, %d, %d)", api,
                             (int)a->norm_type, (int)a->renorm, (int)a->group_select_mode);
    const int64_t E = a->num_experts, G = a->group_count;
    if (G < 1 || E < 1 || E % G != 0 || a->k_group < 1 || a->k_group > G)
        return MR_SHAPE_FAIL("%s: group_count must divide E and k_group be in [1, group_count] (E=%lld, group_count=%lld, "
                             "k_group=%lld)", api, (long long)E, (long long)G, (long long)a->k_group);
    if (a->group_select_mode == 1 && E / G < 2)
        return MR_SHAPE_FAIL("%s: group_select_mode 1 needs at least 2 experts per group (E/group_count = %lld)", api,
                             (long long)(E / G));
    if (a->k > a->k_group * (E / G))
        return MR_SHAPE_FAIL("%s: k = %lld exceeds k_group*E/group_count = %lld", api, (long long)a->k,
                             (long long)(a->k_group * (E / G)));
    mr_view v[MR_GT_COUNT];
    memset(v, 0, sizeof v);
    v[MR_GT_X] = mr_view_2d(a->x, mr_xtype_size(d.xtype), a->num_rows, E, a->x_row_stride, a->x_col_stride);
    if (a->bias) v[MR_GT_BIAS] = mr_view_2d(a->bias, mr_xtype_size(d.xtype), E, 1, a->bias_stride, 1);
    v[MR_GT_Y].data = a->y;
    v[MR_GT_IDX].data = (char *)a->expert_idx;
    v[MR_GT_OUT].data = (char *)a->out;
    return mr_native_gate(ctx, api, &d, v);
}

moeroute_status moeroute_gating_top_k_softmax(moeroute_context *ctx, const moeroute_gating_top_k_softmax_args *args)
{
    static const char api[] = "moeroute_gating_top_k_softmax";
    MR_CHECK_ARGS(api, args, moeroute_gating_top_k_softmax_args);
    const moeroute_gating_top_k_softmax_args *a = args;
    if (a->version != 1 && a->version != 2)
        return MR_SHAPE_FAIL("%s: version must be 1 or 2, got %d", api, (int)a->version);
    const int v2 = a->version == 2;
    mr_gating_desc d = {.kind = v2 ? MR_GATE_SOFTMAX_V2 : MR_GATE_SOFTMAX_V1, .n = a->num_rows,
                        .e = a->num_experts, .k = a->k, .has_finished = a->finished != NULL,
                        .has_out = a->softmax_out != NULL, .renorm = a->renorm};
    moeroute_status st = mr_native_float(api, "x_dtype", a->x_dtype, &d.xtype);
    if (st != MOEROUTE_OK) return st;
    if (a->renorm != 0 && !(v2 && a->renorm == 1))
        return MR_SHAPE_FAIL("%s: renorm must be 0%s, got %d", api, v2 ? " or 1" : " in version 1", (int)a->renorm);
    if (v2 ? a->row_idx != NULL : a->softmax_out != NULL)
        return MR_SHAPE_FAIL("%s: %s is not an output of version %d: pass NULL", api, v2 ? "row_idx" : "softmax_out",
                             (int)a->version);
    if (a->softmax_out && a->renorm == 1)
        return MR_SHAPE_FAIL("%s: softmax_out needs renorm 0 (renorm 1 computes no softmax over all experts)", api);
    int64_t nk;
    if (!v2 && !a->row_idx && !mr_mul_i64(a->num_rows, a->k, &nk) && nk > 0)
        return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: row_idx is NULL", api);
    mr_view v[MR_GT_COUNT];
    memset(v, 0, sizeof v);
    v[MR_GT_X] = mr_view_2d(a->x, mr_xtype_size(d.xtype), a->num_rows, a->num_experts, a->x_row_stride,
                            a->x_col_stride);
    if (a->finished) v[MR_GT_FINISHED] = mr_view_2d(a->finished, 1, a->num_rows, 1, a->finished_stride, 1);
    v[MR_GT_Y].data = a->y;
    v[MR_GT_IDX].data = (char *)a->expert_idx;
    v[MR_GT_ROW_IDX].data = (char *)a->row_idx;
    v[MR_GT_OUT].data = (char *)a->softmax_out;
    return mr_native_gate(ctx, api, &d, v);
}

/* GroupedMatmul: the semantic rules of the MoE subset, then the plan of operators/grouped_matmul.h. x_dtype gives
 * d->xtype; unless weights_only (packing, which reads no other field), the other dtypes give the epilogue's. */
static moeroute_status mr_native_gmm_types(const char *api, const moeroute_grouped_matmul_args *a, mr_gmm_desc *d,
                                           int weights_only)
{
    const moeroute_dtype xt = a->x_dtype, ot = a->out_dtype;
    if (xt == MOEROUTE_DTYPE_INT8) {
        d->xtype = MR_GEMM_SRC_I8;
        if (weights_only) return MOEROUTE_OK;
        d->bias = a->bias ? MR_GMM_E_I32 : MR_GMM_E_NONE;
        if (a->scale) {
            if (a->scale_dtype != MOEROUTE_DTYPE_BFLOAT16 && a->scale_dtype != MOEROUTE_DTYPE_FLOAT32)
                return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: scale_dtype must be BFLOAT16 or FLOAT32, got %d", api,
                               (int)a->scale_dtype);
            if (ot != MOEROUTE_DTYPE_BFLOAT16 && ot != MOEROUTE_DTYPE_FLOAT16)
                return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: with a scale out_dtype must be BFLOAT16 or FLOAT16, "
                               "got %d", api, (int)ot);
            d->scale = a->scale_dtype == MOEROUTE_DTYPE_BFLOAT16 ? MR_GMM_E_BF16 : MR_GMM_E_F32;
            d->out = ot == MOEROUTE_DTYPE_BFLOAT16 ? MR_GMM_OUT_BF16 : MR_GMM_OUT_F16;
            d->per_token = a->per_token_scale != NULL;
            return MOEROUTE_OK;
        }
        if (a->per_token_scale)
            return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: per_token_scale needs a scale", api);
        if (ot != MOEROUTE_DTYPE_INT32)
            return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: INT8 x without a scale gives INT32 out, out_dtype is %d",
                           api, (int)ot);
        d->out = MR_GMM_OUT_I32;
        return MOEROUTE_OK;
    }
    mr_xtype x = MR_X_F32;
    moeroute_status st = mr_native_xtype(api, xt, &x);
    if (st != MOEROUTE_OK) return st;
    d->xtype = x == MR_X_F16 ? MR_GEMM_SRC_F16 : x == MR_X_BF16 ? MR_GEMM_SRC_BF16 : MR_GEMM_SRC_F32;
    if (weights_only) return MOEROUTE_OK;
    if (a->scale || a->per_token_scale)
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: scale and per_token_scale belong to INT8 x", api);
    if (ot != xt)
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: out_dtype must equal x_dtype (%d) for float x, got %d", api,
                       (int)xt, (int)ot);
    d->out = x == MR_X_F16 ? MR_GMM_OUT_F16 : x == MR_X_BF16 ? MR_GMM_OUT_BF16 : MR_GMM_OUT_F32;
    d->bias = !a->bias ? MR_GMM_E_NONE : x == MR_X_F16 ? MR_GMM_E_F16 : MR_GMM_E_F32;
    return MOEROUTE_OK;
}

/* The weight view of a grouped matmul: [E, K, N] with the caller's strides, or (nz) the contiguous
 * [E, N1, K1, 16, 32] bytes of an int8 FRACTAL_NZ buffer (layer spec 8.1). */
static mr_view mr_native_gmm_weight(const void *w, size_t es, int64_t E, int64_t K, int64_t N, int64_t se, int64_t sk,
                                    int64_t sn, int nz)
{
    if (nz) {
        int64_t dims[5];
        mr_gmm_nz_dims(E, K, N, dims);
        return mr_view_contiguous(w, 1, 5, dims);
    }
    mr_view v = mr_view_2d(w, es, E, K, se, sk);
    v.ndim = 3;
    v.dims[2] = N;
    v.strides[2] = sn;
    return v;
}

/* moeroute_grouped_matmul and its packed-weight pair (moeroute.h "Packed weights"): one validation and plan.
 * pack_out: read only the weight fields (x_dtype, k, n, num_experts, the weight and its layout) and pack them
 * into *pack_out; packed: run with those blocks instead of args->weight; neither: the plain call. */
static moeroute_status mr_native_gmm(moeroute_context *ctx, const char *api, const moeroute_grouped_matmul_args *a,
                                     const mr_gmm_packed *packed, mr_gmm_packed *pack_out)
{
    const int pack = pack_out != NULL;
    mr_gmm_desc d = {.m = pack ? 0 : a->num_rows, .k = a->k, .n = a->n, .e = a->num_experts,
                     .groups = pack ? 0 : a->num_groups, .list_type = a->group_list_type};
    moeroute_status st = mr_native_gmm_types(api, a, &d, pack);
    if (st != MOEROUTE_OK) return st;
    const int64_t M = d.m, K = d.k, N = d.n, E = d.e, G = d.groups;
    if (M < 0 || K < 0 || N < 0 || E < 1 || G < 0)
        return MR_SHAPE_FAIL("%s: need num_rows, k, n, num_groups >= 0 and num_experts >= 1 (got %lld, %lld, %lld, "
                             "%lld, %lld)", api, (long long)M, (long long)K, (long long)N, (long long)G, (long long)E);
    if (d.xtype == MR_GEMM_SRC_I8 && K > 65535)
        return MR_SHAPE_FAIL("%s: k = %lld: int8 sums are exact in int32 only up to k = 65535", api, (long long)K);
    if (pack) {
        d.list_type = MR_GMM_LIST_NONE;
    } else if (a->group_list_type < 0 || a->group_list_type > 2) {
        return MR_SHAPE_FAIL("%s: group_list_type must be 0, 1 or 2, got %d", api, (int)a->group_list_type);
    } else if (!a->group_list) {
        if (E != 1) return MR_SHAPE_FAIL("%s: group_list is NULL but there are %lld experts", api, (long long)E);
        d.list_type = MR_GMM_LIST_NONE;
        d.groups = 0;
    } else if (a->group_list_type != 2 && G > E) {
        return MR_SHAPE_FAIL("%s: %lld groups but only %lld weights (group g uses weight g)", api, (long long)G,
                             (long long)E);
    }
    const size_t xs = d.xtype == MR_GEMM_SRC_I8 ? 1u : d.xtype == MR_GEMM_SRC_F32 ? 4u : 2u;
    const size_t os = d.out == MR_GMM_OUT_F32 || d.out == MR_GMM_OUT_I32 ? 4u : 2u;
    const int64_t en[2] = {E, N}, mn[2] = {M, N}, g2[2] = {d.groups, 2}, none = 0;
    mr_view v[MR_GMM_COUNT];
    memset(v, 0, sizeof v);
    if (a->weight_format != 0 && !(a->weight_format == 29 && d.xtype == MR_GEMM_SRC_I8))
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: weight_format must be 0 (strided) or 29 (FRACTAL_NZ, INT8 "
                       "x only), got %d", api, (int)a->weight_format);
    d.w_nz = a->weight_format == 29;
    if (packed) /* not read: an empty view, so no check of its address */
        v[MR_GMM_W] = mr_view_contiguous(NULL, xs, 1, &none);
    else
        v[MR_GMM_W] = mr_native_gmm_weight(a->weight, xs, E, K, N, a->weight_expert_stride, a->weight_k_stride,
                                           a->weight_n_stride, d.w_nz);
    if (!pack) {
        v[MR_GMM_X] = mr_view_2d(a->x, xs, M, K, a->x_row_stride, a->x_col_stride);
        if (a->bias) v[MR_GMM_BIAS] = mr_view_contiguous(a->bias, d.bias == MR_GMM_E_F16 ? 2u : 4u, 2, en);
        if (a->scale) v[MR_GMM_SCALE] = mr_view_contiguous(a->scale, d.scale == MR_GMM_E_BF16 ? 2u : 4u, 2, en);
        if (a->per_token_scale) v[MR_GMM_PTS] = mr_view_contiguous(a->per_token_scale, 4, 1, &M);
        if (a->group_list) v[MR_GMM_GROUPS] = mr_view_contiguous(a->group_list, 8, d.list_type == 2 ? 2u : 1u, g2);
        v[MR_GMM_OUT] = mr_view_contiguous(a->out, os, 2, mn);
    }
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    mr_gmm_plan plan;
    st = mr_gmm_plan_init(&plan, &d, ctx ? ctx->isa : MOEROUTE_ISA_AUTO, mr_pool_threads(pool), api);
    if (st != MOEROUTE_OK) return st;
    if (pack) { /* the packing's fp16 widening multiplies by 2^112 (subnormals): default environment too */
        const mr_fpenv fe = mr_fpenv_enter();
        st = mr_gmm_pack_weights(&plan, v, pool, pack_out, api);
        mr_fpenv_leave(fe);
        return st;
    }
    plan.packed = packed;
    return mr_native_run_ws(ctx, api, mr_gmm_run, &plan, v, plan.ws_size, pool);
}

moeroute_status moeroute_grouped_matmul(moeroute_context *ctx, const moeroute_grouped_matmul_args *args)
{
    static const char api[] = "moeroute_grouped_matmul";
    MR_CHECK_ARGS(api, args, moeroute_grouped_matmul_args);
    return mr_native_gmm(ctx, api, args, NULL, NULL);
}

struct moeroute_gmm_weights {
    mr_gmm_packed p;
};

moeroute_status moeroute_grouped_matmul_pack_weights(moeroute_context *ctx, const moeroute_grouped_matmul_args *args,
                                                     moeroute_gmm_weights **weights)
{
    static const char api[] = "moeroute_grouped_matmul_pack_weights";
    MR_CHECK_ARGS(api, args, moeroute_grouped_matmul_args);
    if (!weights) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: weights is NULL", api);
    moeroute_gmm_weights *w = mr_calloc(1, sizeof *w);
    if (!w) return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory", api);
    const moeroute_status st = mr_native_gmm(ctx, api, args, NULL, &w->p);
    if (st != MOEROUTE_OK) {
        mr_gmm_packed_free(&w->p);
        mr_free(w);
        return st;
    }
    *weights = w;
    return MOEROUTE_OK;
}

moeroute_status moeroute_grouped_matmul_packed(moeroute_context *ctx, const moeroute_grouped_matmul_args *args,
                                               const moeroute_gmm_weights *weights)
{
    static const char api[] = "moeroute_grouped_matmul_packed";
    MR_CHECK_ARGS(api, args, moeroute_grouped_matmul_args);
    if (!weights) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: weights is NULL", api);
    return mr_native_gmm(ctx, api, args, &weights->p, NULL);
}

size_t moeroute_gmm_weights_bytes(const moeroute_gmm_weights *weights) { return weights ? weights->p.bytes : 0u; }

void moeroute_gmm_weights_destroy(moeroute_gmm_weights *weights)
{
    if (!weights) return;
    mr_gmm_packed_free(&weights->p);
    mr_free(weights);
}

/* ---- the element-wise expert-MLP operators (docs/operators/dynamic_quant.md, swiglu.md,
 * dequant_swiglu_quant.md): planned for the context's pool and ISA, run in its scratch ---- */

/* Run a planned operator with `ws_size` bytes of scratch (the context's, or a block freed here). */
static moeroute_status mr_native_run_ws(moeroute_context *ctx, const char *api, mr_op_run_fn run,
                                        const void *plan, const mr_view *v, size_t ws_size, mr_pool *pool)
{
    void *ws = NULL;
    moeroute_status st = mr_native_scratch(ctx, api, ws_size, &ws);
    if (st == MOEROUTE_OK) st = mr_op_run_default_fp(run, plan, v, ws, ws_size, pool, api);
    if (!ctx) mr_free(ws);
    return st;
}

moeroute_status moeroute_dynamic_quant(moeroute_context *ctx, const moeroute_dynamic_quant_args *args)
{
    static const char api[] = "moeroute_dynamic_quant";
    MR_CHECK_ARGS(api, args, moeroute_dynamic_quant_args);
    const moeroute_dynamic_quant_args *a = args;
    mr_xtype xt = MR_X_F32;
    moeroute_status st = mr_native_float(api, "x_dtype", a->x_dtype, &xt);
    if (st != MOEROUTE_OK) return st;
    const int64_t rows = a->num_rows, H = a->hidden, G = a->num_groups;
    if (rows < 0 || H < 0 || G < 0)
        return MR_SHAPE_FAIL("%s: num_rows, hidden and num_groups must be >= 0 (got %lld, %lld, %lld)", api,
                             (long long)rows, (long long)H, (long long)G);
    if (a->group_index_int64 != 0 && a->group_index_int64 != 1)
        return MR_SHAPE_FAIL("%s: group_index_int64 must be 0 or 1, got %d", api, (int)a->group_index_int64);
    if (a->scale_template < MR_DYQ_AUTO || a->scale_template > MR_DYQ_B)
        return MR_SHAPE_FAIL("%s: scale_template must be 0, 1 or 2, got %d", api, (int)a->scale_template);
    if (a->y_packing < MR_DYQ_OUT_INT8 || a->y_packing > MR_DYQ_OUT_INT4_INT32)
        return MR_SHAPE_FAIL("%s: y_packing must be 0 (int8), 1 (int4, two per byte) or 2 (int4, eight per int32), "
                             "got %d", api, (int)a->y_packing);
    if (H % (a->y_packing == MR_DYQ_OUT_INT4_INT32 ? 8 : a->y_packing == MR_DYQ_OUT_INT4 ? 2 : 1) != 0)
        return MR_SHAPE_FAIL("%s: y_packing %d needs H %s, got H = %lld", api, (int)a->y_packing,
                             a->y_packing == MR_DYQ_OUT_INT4 ? "even" : "a multiple of 8", (long long)H);
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    mr_dynamic_quant_plan plan;
    st = mr_dynamic_quant_plan_init(&plan, rows, H, G, xt, a->smooth_scales != NULL,
                                    (mr_dyq_template)a->scale_template, (mr_dyq_out)a->y_packing,
                                    ctx ? ctx->isa : MOEROUTE_ISA_AUTO,
                                    mr_pool_threads(pool), api);
    if (st != MOEROUTE_OK) return st;
    mr_view v[MR_DYQ_COUNT];
    memset(v, 0, sizeof v);
    v[MR_DYQ_X] = mr_view_2d(a->x, mr_native_esize(a->x_dtype), rows, H, a->x_row_stride, a->x_col_stride);
    if (a->smooth_scales)
        v[MR_DYQ_SMOOTH] = mr_view_contiguous(a->smooth_scales, mr_native_esize(a->x_dtype), 2,
                                              (const int64_t[]){G > 0 ? G : 1, H});
    if (G > 0) v[MR_DYQ_GROUP] = mr_view_contiguous(a->group_index, a->group_index_int64 ? 8 : 4, 1, &G);
    v[MR_DYQ_Y] = mr_view_contiguous(a->y, 1, 2, (const int64_t[]){rows, mr_dyq_row_bytes(plan.out, H)});
    v[MR_DYQ_SCALE] = mr_view_contiguous(a->scale, 4, 1, &rows);
    return mr_native_run_ws(ctx, api, mr_dynamic_quant_run, &plan, v, plan.ws.size, pool);
}

moeroute_status moeroute_swiglu(moeroute_context *ctx, const moeroute_swiglu_args *args)
{
    static const char api[] = "moeroute_swiglu";
    MR_CHECK_ARGS(api, args, moeroute_swiglu_args);
    const moeroute_swiglu_args *a = args;
    mr_xtype xt = MR_X_F32;
    moeroute_status st = mr_native_float(api, "x_dtype", a->x_dtype, &xt);
    if (st != MOEROUTE_OK) return st;
    const int64_t dims[2] = {a->num_rows, a->cols};
    if (dims[0] < 0 || dims[1] < 0 || dims[1] % 2 != 0)
        return MR_SHAPE_FAIL("%s: num_rows must be >= 0 and cols >= 0 and even (got %lld, %lld)", api,
                             (long long)dims[0], (long long)dims[1]);
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    mr_swiglu_plan plan;
    st = mr_swiglu_plan_init(&plan, 2, dims, 1, xt, ctx ? ctx->isa : MOEROUTE_ISA_AUTO, mr_pool_threads(pool), api);
    if (st != MOEROUTE_OK) return st;
    const size_t es = mr_native_esize(a->x_dtype);
    mr_view v[MR_SWG_COUNT];
    v[MR_SWG_X] = mr_view_2d(a->x, es, dims[0], dims[1], a->x_row_stride, a->x_col_stride);
    v[MR_SWG_OUT] = mr_view_contiguous(a->out, es, 2, (const int64_t[]){dims[0], dims[1] / 2});
    return mr_native_run_ws(ctx, api, mr_swiglu_run, &plan, v, plan.ws.size, pool);
}

/* INT32 / FLOAT16 / BFLOAT16 / FLOAT32 as the DequantSwigluQuant element type; -1 otherwise. */
static int mr_native_dsq_type(moeroute_dtype dt)
{
    switch (dt) {
    case MOEROUTE_DTYPE_INT32: return MR_DSQ_I32;
    case MOEROUTE_DTYPE_FLOAT16: return MR_DSQ_F16;
    case MOEROUTE_DTYPE_BFLOAT16: return MR_DSQ_BF16;
    case MOEROUTE_DTYPE_FLOAT32: return MR_DSQ_F32;
    default: return -1;
    }
}

moeroute_status moeroute_dequant_swiglu_quant(moeroute_context *ctx, const moeroute_dequant_swiglu_quant_args *args)
{
    static const char api[] = "moeroute_dequant_swiglu_quant";
    MR_CHECK_ARGS(api, args, moeroute_dequant_swiglu_quant_args);
    const moeroute_dequant_swiglu_quant_args *a = args;
    const int xt = mr_native_dsq_type(a->x_dtype), bt = a->bias ? mr_native_dsq_type(a->bias_dtype) : MR_DSQ_F32;
    if (xt < 0)
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: x_dtype must be INT32, FLOAT16, BFLOAT16 or FLOAT32, got %d",
                       api, (int)a->x_dtype);
    if (bt < 0)
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: bias_dtype must be FLOAT32, FLOAT16, BFLOAT16 or INT32, got %d",
                       api, (int)a->bias_dtype);
    const int64_t rows = a->num_rows, cols = a->cols, n = cols / 2, G = a->num_groups, P = a->param_rows;
    if (rows < 0 || cols < 0 || cols % 2 != 0 || G < 0)
        return MR_SHAPE_FAIL("%s: num_rows >= 0, cols >= 0 and even, num_groups >= 0 (got %lld, %lld, %lld)", api,
                             (long long)rows, (long long)cols, (long long)G);
    if (P != 1 && !(G > 0 && P == G))
        return MR_SHAPE_FAIL("%s: param_rows must be 1%s, got %lld", api, G > 0 ? " or num_groups" : "",
                             (long long)P);
    if (a->group_index_int64 != 0 && a->group_index_int64 != 1)
        return MR_SHAPE_FAIL("%s: group_index_int64 must be 0 or 1, got %d", api, (int)a->group_index_int64);
    if (a->activate_left != 0 && a->activate_left != 1)
        return MR_SHAPE_FAIL("%s: activate_left must be 0 or 1, got %d", api, (int)a->activate_left);
    if (a->quant_mode != 0 && a->quant_mode != 1)
        return MR_SHAPE_FAIL("%s: quant_mode must be 0 (static) or 1 (dynamic), got %d", api, (int)a->quant_mode);
    const int dynamic = a->quant_mode == 1;
    if (!dynamic && !a->quant_scale)
        return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: quant_mode 0 (static) needs quant_scale", api);
    if (dynamic && a->quant_offset)
        return MR_SHAPE_FAIL("%s: quant_offset is for quant_mode 0 (static) only", api);
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    mr_dsq_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.rows = rows, plan.n = n, plan.groups = G;
    plan.x_type = (mr_dsq_type)xt, plan.bias_type = (mr_dsq_type)bt;
    plan.has_wscale = a->weight_scale != NULL, plan.has_ascale = a->activation_scale != NULL;
    plan.has_bias = a->bias != NULL, plan.has_qscale = a->quant_scale != NULL;
    plan.has_qoffset = a->quant_offset != NULL;
    plan.activate_left = a->activate_left, plan.dynamic = dynamic;
    moeroute_status st = mr_dsq_plan_init(&plan, ctx ? ctx->isa : MOEROUTE_ISA_AUTO, mr_pool_threads(pool), api);
    if (st != MOEROUTE_OK) return st;
    const size_t xes = a->x_dtype == MOEROUTE_DTYPE_INT32 ? 4 : mr_native_esize(a->x_dtype);
    const int64_t pc[2] = {P, cols}, pn[2] = {P, n};
    mr_view v[MR_DSQ_COUNT];
    memset(v, 0, sizeof v);
    v[MR_DSQ_X] = mr_view_2d(a->x, xes, rows, cols, a->x_row_stride, a->x_col_stride);
    if (a->weight_scale) v[MR_DSQ_WSCALE] = mr_view_contiguous(a->weight_scale, 4, 2, pc);
    if (a->activation_scale) v[MR_DSQ_ASCALE] = mr_view_contiguous(a->activation_scale, 4, 1, &rows);
    if (a->bias) v[MR_DSQ_BIAS] = mr_view_contiguous(a->bias, mr_native_esize(a->bias_dtype), 2, pc);
    if (a->quant_scale)
        v[MR_DSQ_QSCALE] = dynamic ? mr_view_contiguous(a->quant_scale, 4, 2, pn) : mr_view_contiguous(a->quant_scale, 4, 1, &P);
    if (a->quant_offset) v[MR_DSQ_QOFFSET] = mr_view_contiguous(a->quant_offset, 4, 1, &P);
    if (G > 0) v[MR_DSQ_GROUP] = mr_view_contiguous(a->group_index, a->group_index_int64 ? 8 : 4, 1, &G);
    v[MR_DSQ_Y] = mr_view_contiguous(a->y, 1, 2, (const int64_t[]){rows, n});
    if (dynamic) v[MR_DSQ_SCALE] = mr_view_contiguous(a->scale, 4, 1, &rows);
    return mr_native_run_ws(ctx, api, mr_dsq_run, &plan, v, plan.ws.size, pool);
}

/* moeroute_grouped_matmul_swiglu_quant, on args->weight or (packed) on weights packed beforehand. */
static moeroute_status mr_native_gmmsq(moeroute_context *ctx, const char *api,
                                       const moeroute_grouped_matmul_swiglu_quant_args *a, const mr_gmm_packed *packed)
{
    mr_gmmsq_desc d = {.m = a->num_rows, .k = a->k, .n = a->n, .e = a->num_experts, .groups = a->num_groups,
                       .w_nz = a->weight_format == 29};
    moeroute_status st = mr_native_float(api, "weight_scale_dtype", a->weight_scale_dtype, &d.wscale_type);
    if (st != MOEROUTE_OK) return st;
    const int64_t M = d.m, K = d.k, N = d.n, E = d.e, G = d.groups;
    if (M < 0 || K < 0 || N < 0 || E < 1 || G < 0)
        return MR_SHAPE_FAIL("%s: need num_rows, k, n, num_groups >= 0 and num_experts >= 1 (got %lld, %lld, %lld, "
                             "%lld, %lld)", api, (long long)M, (long long)K, (long long)N, (long long)G, (long long)E);
    if (K > 65535)
        return MR_SHAPE_FAIL("%s: k = %lld: int8 sums are exact in int32 only up to k = 65535", api, (long long)K);
    if (N % 2) return MR_SHAPE_FAIL("%s: n = %lld must be even (SwiGLU splits it in halves)", api, (long long)N);
    if (G > E)
        return MR_SHAPE_FAIL("%s: %lld groups but only %lld weights (group g uses weight g)", api, (long long)G,
                             (long long)E);
    if (a->weight_format != 0 && a->weight_format != 29)
        return MR_SHAPE_FAIL("%s: weight_format must be 0 (strided) or 29 (FRACTAL_NZ), got %d", api,
                             (int)a->weight_format);
    const int64_t en[2] = {E, N}, mh[2] = {M, N / 2};
    mr_view v[MR_GMMSQ_COUNT];
    memset(v, 0, sizeof v);
    v[MR_GMMSQ_X] = mr_view_2d(a->x, 1, M, K, a->x_row_stride, a->x_col_stride);
    const int64_t none = 0;
    v[MR_GMMSQ_W] = packed ? mr_view_contiguous(NULL, 1, 1, &none) /* not read */
                           : mr_native_gmm_weight(a->weight, 1, E, K, N, a->weight_expert_stride,
                                                  a->weight_k_stride, a->weight_n_stride, d.w_nz);
    v[MR_GMMSQ_WSCALE] = mr_view_contiguous(a->weight_scale, mr_xtype_size(d.wscale_type), 2, en);
    v[MR_GMMSQ_XSCALE] = mr_view_contiguous(a->x_scale, 4, 1, &M);
    v[MR_GMMSQ_GROUPS] = mr_view_contiguous(a->group_list, 8, 1, &G);
    v[MR_GMMSQ_OUT] = mr_view_contiguous(a->output, 1, 2, mh);
    v[MR_GMMSQ_OUT_SCALE] = mr_view_contiguous(a->output_scale, 4, 1, &M);
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    mr_gmmsq_plan plan;
    st = mr_gmmsq_plan_init(&plan, &d, ctx ? ctx->isa : MOEROUTE_ISA_AUTO, mr_pool_threads(pool), api);
    if (st != MOEROUTE_OK) return st;
    plan.gmm.packed = packed;
    return mr_native_run_ws(ctx, api, mr_gmmsq_run, &plan, v, plan.ws_size, pool);
}

moeroute_status moeroute_grouped_matmul_swiglu_quant(moeroute_context *ctx,
                                                     const moeroute_grouped_matmul_swiglu_quant_args *args)
{
    static const char api[] = "moeroute_grouped_matmul_swiglu_quant";
    MR_CHECK_ARGS(api, args, moeroute_grouped_matmul_swiglu_quant_args);
    return mr_native_gmmsq(ctx, api, args, NULL);
}

moeroute_status moeroute_grouped_matmul_swiglu_quant_packed(moeroute_context *ctx,
                                                            const moeroute_grouped_matmul_swiglu_quant_args *args,
                                                            const moeroute_gmm_weights *weights)
{
    static const char api[] = "moeroute_grouped_matmul_swiglu_quant_packed";
    MR_CHECK_ARGS(api, args, moeroute_grouped_matmul_swiglu_quant_args);
    if (!weights) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: weights is NULL", api);
    return mr_native_gmmsq(ctx, api, args, &weights->p);
}

const char *moeroute_error_message(void) { return mr_error_take(); }

const char *moeroute_status_string(moeroute_status status)
{
    switch (status) {
    case MOEROUTE_OK: return "MOEROUTE_OK";
    case MOEROUTE_ERR_NULL_POINTER: return "MOEROUTE_ERR_NULL_POINTER";
    case MOEROUTE_ERR_INVALID_DTYPE: return "MOEROUTE_ERR_INVALID_DTYPE";
    case MOEROUTE_ERR_INVALID_SHAPE: return "MOEROUTE_ERR_INVALID_SHAPE";
    case MOEROUTE_ERR_INVALID_VALUE: return "MOEROUTE_ERR_INVALID_VALUE";
    case MOEROUTE_ERR_TOO_LARGE: return "MOEROUTE_ERR_TOO_LARGE";
    case MOEROUTE_ERR_ALIASING: return "MOEROUTE_ERR_ALIASING";
    case MOEROUTE_ERR_WORKSPACE: return "MOEROUTE_ERR_WORKSPACE";
    case MOEROUTE_ERR_OUT_OF_MEMORY: return "MOEROUTE_ERR_OUT_OF_MEMORY";
    case MOEROUTE_ERR_INVALID_OPTION: return "MOEROUTE_ERR_INVALID_OPTION";
    case MOEROUTE_ERR_INVALID_ARGS_SIZE: return "MOEROUTE_ERR_INVALID_ARGS_SIZE";
    }
    return "unknown moeroute_status";
}

#define MR_STR2(x) #x
#define MR_STR(x) MR_STR2(x)

const char *moeroute_version_string(void)
{
    return MR_STR(MOEROUTE_VERSION_MAJOR) "." MR_STR(MOEROUTE_VERSION_MINOR) "." MR_STR(MOEROUTE_VERSION_PATCH);
}

const char *moeroute_isa_name(moeroute_isa isa)
{
    switch (isa) {
    case MOEROUTE_ISA_AUTO: return "auto";
    case MOEROUTE_ISA_SCALAR: return "scalar";
    case MOEROUTE_ISA_AVX2: return "avx2";
    case MOEROUTE_ISA_AVX512: return "avx512";
    case MOEROUTE_ISA_NEON: return "neon";
    }
    return NULL;
}

moeroute_isa moeroute_detected_isa(void) { return mr_dispatch_detected_isa(); }
