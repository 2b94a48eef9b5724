/* SwiGlu (layer spec 6.2, decision 11; docs/operators/swiglu.md):
 *
 *   for every line of x along dim (outer x inner lines of 2n elements):
 *       a[j] = f32(x[.., j, ..]), b[j] = f32(x[.., n + j, ..])      (exact widening)
 *       r[j] = f32(mr_siluf(a[j]) * b[j])                           (SiLU within 1 ulp, one multiply)
 *       out[.., j, ..] = RNE(r[j] -> dtype)
 *
 * With dim the last dim (and x's rows contiguous) a line is a row, done in one fused pass (mlp.h's swiglu_x:
 * widen, SiLU, multiply, narrow per element; for fp16 / bf16 the SiLU comes from operators/silu_table.h, and
 * outputs beyond the cache are stored non-temporally); any other line goes through the running thread's fp32
 * scratch. */
#include <stdatomic.h>
#include <string.h>

#include "common/error.h"
#include "kernels/accumulate/accumulate.h"
#include "operators/silu_table.h"
#include "operators/swiglu.h"

static const char *const mr_swg_names[MR_SWG_COUNT] = {"x", "out"};

moeroute_status mr_swiglu_plan_init(mr_swiglu_plan *p, uint32_t ndim, const int64_t *dims, uint32_t dim,
                                    mr_xtype xtype, moeroute_isa isa, size_t threads, const char *api)
{
    memset(p, 0, sizeof *p);
    p->dim = dim, p->xtype = xtype, p->outer = 1, p->inner = 1, p->half = dims[dim] / 2;
    for (uint32_t d = 0; d < ndim; d++) {
        if (d == dim) continue;
        if (mr_mul_i64(d < dim ? p->outer : p->inner, dims[d], d < dim ? &p->outer : &p->inner))
            return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: x has more elements than int64 holds", api);
    }
    mr_backend_init(&p->backend, isa, threads);
    p->silu = mr_silu_table(xtype);
    /* half of x's bytes (size_t arithmetic: only a policy, so a wrap in an absurd shape would cost no more). bf16
       only: fp16's table lookups miss L1 and compete with non-temporal stores for the line fill buffers
       (measured: fp16 0.45 -> 0.52 of the copy limit with cached stores, bf16 0.59 -> 0.65 with streaming ones),
       and the fp32 row pass has no streaming stores (so no fence is owed) */
    const size_t out_bytes = (size_t)p->outer * (size_t)p->half * (size_t)p->inner * mr_xtype_size(xtype);
    p->stream = xtype == MR_X_BF16 && mr_backend_stream_output(out_bytes);
    return mr_mlp_ws_init(&p->ws, p->backend.threads, 2 * p->half, 0, api);
}

typedef struct mr_swg_job {
    const mr_swiglu_plan *p;
    const mr_view *v;
} mr_swg_job;

static void mr_swg_lines(const void *ctx, int64_t begin, int64_t end, float *buf)
{
    const mr_swg_job *j = ctx;
    const mr_swiglu_plan *p = j->p;
    const mr_view *x = &j->v[MR_SWG_X];
    const uint32_t d = p->dim;
    const int64_t n = p->half, sd = x->strides[d], es = (int64_t)mr_xtype_size(p->xtype);
    char *out = j->v[MR_SWG_OUT].data;
    float *a = buf, *b = buf + n;
    for (int64_t line = begin; line < end; line++) {
        const int64_t o = line / p->inner, i = line % p->inner;
        const int64_t off = mr_nd_offset(x->dims, x->strides, d, o) +
                            mr_nd_offset(x->dims + d + 1, x->strides + d + 1, x->ndim - d - 1, i);
        const char *xa = x->data + off * es;
        const mr_mlp_config *k = p->backend.mlp;
        char *dst = out + (o * n * p->inner + i) * es;
        if (sd == 1 && p->inner == 1) { /* a row: one fused pass, each element read once */
            k->swiglu_x[p->xtype](xa, xa + n * es, p->silu, dst, (size_t)n, p->stream);
            continue;
        }
        if (sd == 1) {
            k->widen[p->xtype](xa, a, (size_t)n);
            k->widen[p->xtype](xa + n * es, b, (size_t)n);
        } else {
            mr_acc_widen__scalar(a, xa, sd, (size_t)n, p->xtype);
            mr_acc_widen__scalar(b, xa + n * sd * es, sd, (size_t)n, p->xtype);
        }
        k->swiglu(a, b, a, (size_t)n);
        if (p->inner == 1) {
            k->narrow[p->xtype](a, dst, (size_t)n);
        } else {
            for (int64_t e = 0; e < n; e++)
                mr_acc_store__scalar(dst + e * p->inner * es, a + e, 1, p->xtype, MR_ACC_BF16_RNE);
        }
    }
    if (p->stream) atomic_thread_fence(memory_order_seq_cst); /* orders this task's streaming stores */
}

moeroute_status mr_swiglu_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                              mr_pool *pool, const char *api)
{
    const mr_swiglu_plan *p = plan;
    moeroute_status st;
    char *base = NULL;
    if ((st = mr_mlp_run_begin(&p->ws, views, mr_swg_names, MR_SWG_COUNT, MR_SWG_OUT, workspace, workspace_size,
                               &base, api)) != MOEROUTE_OK)
        return st;
    if (p->half == 0 || p->outer == 0 || p->inner == 0) return MOEROUTE_OK; /* no element */
    mr_swg_job job = {p, views};
    mr_mlp_rows_run(mr_backend_pool(&p->backend, pool), p->outer * p->inner, p->half * 16, &p->ws, base,
                    mr_swg_lines, &job);
    return MOEROUTE_OK;
}
