/* The native C API (moeroute.h): argument checks, then the operator shared with the aclnn API. */
#include <stdlib.h>

#include "common/alloc.h"
#include "common/error.h"
#include "dispatch/dispatch.h"
#include "moeroute.h"
#include "operators/init_routing.h"
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

static moeroute_status mr_native_shape(const moeroute_init_routing_args *a, mr_routing_shape *shape)
{
    mr_xtype xtype;
    switch (a->x_dtype) {
    case MOEROUTE_DTYPE_FLOAT16: xtype = MR_X_F16; break;
    case MOEROUTE_DTYPE_BFLOAT16: xtype = MR_X_BF16; break;
    case MOEROUTE_DTYPE_FLOAT32: xtype = MR_X_F32; break;
    default:
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: x_dtype must be FLOAT16, BFLOAT16 or FLOAT32, got %d", mr_api,
                       (int)a->x_dtype);
    }
    int quant = a->expanded_x_dtype == MOEROUTE_DTYPE_INT8;
    if (!quant && a->expanded_x_dtype != a->x_dtype)
        return mr_fail(MOEROUTE_ERR_INVALID_DTYPE, "%s: expanded_x_dtype must be INT8 or equal to x_dtype, got %d",
                       mr_api, (int)a->expanded_x_dtype);
    mr_routing_shape s = {a->num_rows, a->k, a->hidden, a->active_num, xtype, quant, a->scale, a->offset};
    *shape = s;
    return MOEROUTE_OK;
}

moeroute_status moeroute_init_routing(moeroute_context *ctx, const moeroute_init_routing_args *args)
{
    if (!args) return mr_fail(MOEROUTE_ERR_NULL_POINTER, "%s: args is NULL", mr_api);
    mr_routing_shape shape;
    mr_routing_plan plan;
    moeroute_status st = mr_native_shape(args, &shape);
    mr_pool *pool = ctx ? ctx->pool : mr_default_pool();
    if (st == MOEROUTE_OK)
        st = mr_routing_plan_init(&plan, &shape, ctx ? ctx->isa : MOEROUTE_ISA_AUTO, mr_pool_threads(pool), mr_api);
    if (st != MOEROUTE_OK) return st;

    void *ws = NULL;
    if (plan.ws.size > 0) {
        if (ctx && ctx->scratch_size >= plan.ws.size) {
            ws = ctx->scratch;
        } else {
            ws = mr_malloc(plan.ws.size);
            if (!ws) return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of scratch", mr_api,
                                    plan.ws.size);
            if (ctx) {
                mr_free(ctx->scratch);
                ctx->scratch = ws;
                ctx->scratch_size = plan.ws.size;
            }
        }
    }
    mr_routing_io io = {
        args->x, args->x_row_stride, args->x_col_stride,
        args->expert_idx, args->expert_row_stride, args->expert_col_stride,
        args->row_idx, args->row_idx_row_stride, args->row_idx_col_stride,
        args->row_idx == NULL,
        args->expanded_x, args->expanded_row_idx, args->expanded_expert_idx,
    };
    st = mr_routing_run(&plan, &io, ws, plan.ws.size, pool, mr_api);
    if (!ctx) mr_free(ws);
    return st;
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
