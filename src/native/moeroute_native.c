/* The native C API (moeroute.h): argument checks, then the operator shared with the aclnn API. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "dispatch/dispatch.h"
#include "moeroute.h"
#include "operators/routing.h"
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
    if (opt.num_threads < 0)
        return mr_fail(MOEROUTE_ERR_INVALID_OPTION, "%s: num_threads must be >= 0, got %d", api, (int)opt.num_threads);
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

moeroute_status moeroute_init_routing(moeroute_context *ctx, const moeroute_init_routing_args *args)
{
    if (!args) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: args is NULL", mr_api);
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
