/* Accumulate step (src/operators/steps/accumulate.h; docs/operators/finalize_routing.md
 * "The accumulate step"). */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/fp16.h"
#include "common/prefetch.h"
#include "operators/steps/accumulate.h"

/* Columns per step: the accumulator and two widened operands stay in L1 while the K terms are added. */
#define MR_ACC_CHUNK 256
/* Below this much work (multiply-adds) threads cost more than they give. */
#define MR_ACC_PARALLEL_MIN_WORK (128 * 1024)

mr_acc_src mr_acc_src_2d(const mr_view *v, mr_xtype type)
{
    mr_acc_src s;
    memset(&s, 0, sizeof s);
    s.type = type;
    s.split = 1;
    if (!mr_view_present(v)) return s;
    s.data = v->data;
    s.s_outer = v->ndim > 0 ? v->strides[0] : 0;
    s.s_col = v->ndim > 1 ? v->strides[1] : 0;
    return s;
}

mr_acc_src mr_acc_src_3d(const mr_view *v, mr_xtype type)
{
    mr_acc_src s;
    memset(&s, 0, sizeof s);
    s.type = type;
    s.split = 1;
    if (!mr_view_present(v)) return s;
    s.data = v->data;
    s.split = v->dims[1] > 0 ? v->dims[1] : 1;
    s.s_outer = v->strides[0];
    s.s_inner = v->strides[1];
    s.s_col = v->strides[2];
    return s;
}

/* Address of element (r, c) of an operand. */
static inline const char *mr_src_at(const mr_acc_src *s, int64_t r, int64_t c)
{
    int64_t off = s->split == 1 ? r * s->s_outer : (r / s->split) * s->s_outer + (r % s->split) * s->s_inner;
    return s->data + (off + c * s->s_col) * (int64_t)mr_xtype_size(s->type);
}

static inline float mr_src_scalar(const mr_acc_src *s, int64_t r, int64_t c)
{
    float v;
    mr_acc_widen__scalar(&v, mr_src_at(s, r, c), 1, 1, s->type);
    return v;
}

static inline int32_t mr_index_at(const mr_acc_index *x, int64_t i, int64_t j) { return x->data[i * x->a + j * x->b]; }

/* Slot (i, j): 1 when its term counts; *r and *scale (1 without scales) are filled either way. */
static inline int mr_slot_kept(const mr_accumulate *s, int64_t i, int64_t j, int32_t *r, float *scale)
{
    *r = mr_index_at(&s->row_idx, i, j);
    *scale = s->scales.data ? mr_src_scalar(&s->scales, i, j) : 1.0f;
    if ((s->skip & MR_ACC_SKIP_NEG1) && *r == -1) return 0;
    if ((s->skip & MR_ACC_SKIP_BEYOND) && *r >= s->m) return 0;
    if ((s->skip & MR_ACC_SKIP_ZERO_SCALE) && s->scales.data && *scale == 0.0f) return 0;
    return 1;
}

static const char *mr_index_pos(const mr_acc_index *x, int64_t i, int64_t j, char *buf, size_t size)
{
    if (x->pa == 0 && x->pb == 0) snprintf(buf, size, "%s[%lld][%lld]", x->name, (long long)i, (long long)j);
    else snprintf(buf, size, "%s[%lld]", x->name, (long long)(i * x->pa + j * x->pb));
    return buf;
}

moeroute_status mr_accumulate_check(const mr_accumulate *s, const char *api)
{
    char where[96];
    for (int64_t i = 0; i < s->n; i++)
        for (int64_t j = 0; j < s->k; j++) {
            int32_t r;
            float scale;
            if (!mr_slot_kept(s, i, j, &r, &scale)) continue;
            if (r < 0 || r >= s->m) {
                mr_index_pos(&s->row_idx, i, j, where, sizeof where);
                if ((s->skip & MR_ACC_SKIP_BEYOND) && r < 0)
                    return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                                   "%s: %s = %d is negative in a kept slot (token %lld, slot %lld: %s); it would be "
                                   "read outside the %lld rows",
                                   api, where, (int)r, (long long)i, (long long)j,
                                   s->scales.data ? "its probability is not 0" : "without probs every slot is kept",
                                   (long long)s->m);
                if (s->skip & MR_ACC_SKIP_NEG1)
                    return mr_fail(MOEROUTE_ERR_INVALID_VALUE,
                                   "%s: %s = %d is neither -1 (a dropped copy) nor a row in [0, %lld) (token %lld, "
                                   "slot %lld)", api, where, (int)r, (long long)s->m, (long long)i, (long long)j);
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: %s = %d is outside [0, %lld) (token %lld, slot %lld)",
                               api, where, (int)r, (long long)s->m, (long long)i, (long long)j);
            }
            if (s->expert_idx.data) {
                int32_t e = mr_index_at(&s->expert_idx, i, j);
                if (e < 0 || e >= s->experts)
                    return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: %s = %d is outside [0, %lld) (the bias rows)",
                                   api, mr_index_pos(&s->expert_idx, i, j, where, sizeof where), (int)e,
                                   (long long)s->experts);
            }
        }
    return MOEROUTE_OK;
}

typedef struct mr_acc_job {
    const mr_accumulate *s;
    int64_t rows_per_task;
} mr_acc_job;

void mr_accumulate_kernels(mr_accumulate *s, moeroute_isa isa)
{
    const moeroute_isa resolved = mr_dispatch_resolve_isa(isa);
    s->kern = mr_dispatch_acc(resolved);
    s->mlp = mr_dispatch_mlp(resolved);
}

/* len elements of operand src from (r, c) as floats: the MLP family's vector widening for a contiguous row */
static void mr_acc_load(const mr_accumulate *s, float *dst, const mr_acc_src *src, int64_t r, int64_t c, size_t len)
{
    const char *p = mr_src_at(src, r, c);
    if (src->s_col == 1) s->mlp->widen[src->type](p, dst, len);
    else mr_acc_widen__scalar(dst, p, src->s_col, len, src->type);
}

static void mr_acc_row(const mr_accumulate *s, int64_t i)
{
    float acc[MR_ACC_CHUNK], a[MR_ACC_CHUNK], b[MR_ACC_CHUNK];
    const size_t out_es = mr_xtype_size(s->out_type);
    for (int64_t c = 0; c < s->h; c += MR_ACC_CHUNK) {
        const size_t len = (size_t)(s->h - c < MR_ACC_CHUNK ? s->h - c : MR_ACC_CHUNK);
        switch (s->init) {
        case MR_ACC_INIT_SUM:
            mr_acc_load(s, acc, &s->x1, i, c, len);
            mr_acc_load(s, a, &s->x2, i, c, len);
            s->kern->init(acc, acc, a, len, s->arith);
            break;
        case MR_ACC_INIT_PLUS_ZERO:
            mr_acc_load(s, acc, &s->x1, i, c, len);
            s->kern->init(acc, acc, NULL, len, s->arith);
            break;
        default:
            for (size_t e = 0; e < len; e++) acc[e] = 0.0f;
            break;
        }
        for (int64_t j = 0; j < s->k; j++) {
            int32_t r;
            float scale;
            if (!mr_slot_kept(s, i, j, &r, &scale)) continue;
            const int64_t next = c + MR_ACC_CHUNK; /* the row's next chunk, while this one is added */
            if (s->rows.s_col == 1 && next < s->h)
                mr_prefetch_bytes(mr_src_at(&s->rows, r, next), 0,
                                  (size_t)(s->h - next < MR_ACC_CHUNK ? s->h - next : MR_ACC_CHUNK) *
                                      mr_xtype_size(s->rows.type));
            const int first = s->init == MR_ACC_INIT_FIRST && j == 0;
            if (s->arith == MR_ACC_F32 && !s->bias.data && s->rows.s_col == 1) { /* one pass */
                s->kern->term_x[s->rows.type](acc, mr_src_at(&s->rows, r, c), s->bias_plus_zero,
                                              s->scales.data != NULL, scale, first, len);
                continue;
            }
            mr_acc_load(s, a, &s->rows, r, c, len);
            const float *bias = NULL;
            if (s->bias.data) {
                int32_t e = mr_index_at(&s->expert_idx, i, j);
                mr_acc_load(s, b, &s->bias, e, c, len);
                bias = b;
            }
            s->kern->term(acc, a, bias, s->bias_plus_zero, s->scales.data != NULL, scale, first, len, s->arith);
        }
        /* a NaN is stored as the canonical quiet NaN: with NaNs in both operands of an add, which one passes on
           depends on the operand order the compiler picked, which differs between scalar and vector code */
        s->mlp->canon(acc, len);
        char *dst = s->out + (i * s->out_row + c) * (int64_t)out_es;
        if (s->out_type == MR_X_BF16 && s->bf16_round == MR_ACC_BF16_RHA) s->kern->bf16_rha(dst, acc, len);
        else s->mlp->narrow[s->out_type](acc, dst, len); /* ties to even */
    }
}

static void mr_acc_task(void *ctx, size_t task, size_t worker)
{
    (void)worker;
    const mr_acc_job *job = ctx;
    const int64_t begin = (int64_t)task * job->rows_per_task;
    const int64_t end = begin + job->rows_per_task < job->s->n ? begin + job->rows_per_task : job->s->n;
    for (int64_t i = begin; i < end; i++) mr_acc_row(job->s, i);
}

void mr_accumulate_run(const mr_accumulate *s, mr_pool *pool)
{
    if (s->n <= 0 || s->h <= 0) return;
    mr_accumulate scalar;
    if (!s->kern) { /* no kernels chosen: the scalar ones, so a row has one code path */
        scalar = *s;
        mr_accumulate_kernels(&scalar, MOEROUTE_ISA_SCALAR);
        s = &scalar;
    }
    /* work ~ multiply-adds; saturating so absurd shapes cannot overflow the estimate */
    int64_t work = s->n, per_row;
    if (mr_mul_i64(s->k + 1, s->h, &per_row) || mr_mul_i64(work, per_row, &work)) work = INT64_MAX;
    size_t tasks = work < MR_ACC_PARALLEL_MIN_WORK ? 1 : mr_pool_threads(pool) * 4;
    if (tasks > (size_t)s->n) tasks = (size_t)s->n;
    mr_acc_job job = {s, (s->n + (int64_t)tasks - 1) / (int64_t)tasks};
    size_t ntasks = (size_t)((s->n + job.rows_per_task - 1) / job.rows_per_task);
    mr_pool_parallelize(ntasks == 1 ? NULL : pool, mr_acc_task, &job, ntasks);
}
