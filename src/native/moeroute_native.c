/* The native C API (moeroute.h): argument checks, then the operator shared with the aclnn API. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "dispatch/dispatch.h"
#include "moeroute.h"
#include "operators/expert_tokens.h"
#include "operators/finalize.h"
#include "operators/routing.h"
#include "operators/unpermute.h"
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
    if (st == MOEROUTE_OK) st = mr_route_run(&plan, v, ws, plan.ws.size, pool, api);
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
    if (a->k < 1) return MR_SHAPE_FAIL("%s: k must be >= 1, got %lld", api, (long long)a->k);
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
    return mr_expert_tokens_run(&plan, v, NULL, 0, ctx ? ctx->pool : NULL, api);
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
    mr_unpermute_plan plan = {a->num_tokens, a->k, a->hidden, a->permuted_rows, MR_X_F32, MR_X_F32, a->probs != NULL};
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
    return mr_unpermute_run(&plan, v, NULL, 0, ctx ? ctx->pool : mr_default_pool(), api);
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
    mr_finalize_plan plan = {.v2 = v2, .n = a->num_rows, .k = a->k, .h = a->hidden, .m = a->expanded_rows};
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
    return mr_finalize_run(&plan, v, NULL, 0, ctx ? ctx->pool : mr_default_pool(), api);
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
