/* Row step: gather, transform, write to every destination (docs/operators/shared_steps.md). */
#include <stdatomic.h>
#include <string.h>

#include "operators/steps/row_step.h"

/* Below this much work threads cost more than they give (decode batches). */
#define MR_PARALLEL_MIN_WORK (256u * 1024u)

/* Gather up to n elements of a strided row into a contiguous buffer. */
static void mr_gather_strided(void *dst, const char *src, size_t n, int64_t stride, size_t esize)
{
    if (esize == 1) {
        char *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = src[(int64_t)i * stride];
    } else if (esize == 2) {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) memcpy(&d[i], src + (int64_t)i * stride * 2, 2);
    } else {
        uint32_t *d = dst;
        for (size_t i = 0; i < n; i++) memcpy(&d[i], src + (int64_t)i * stride * 4, 4);
    }
}

typedef struct mr_row_job {
    const mr_row_step *s;
    size_t rows_per_task;
} mr_row_job;

/* Chunk [c, c + len) of source row xrow, contiguous: in place, or gathered into buf. */
static const void *mr_chunk(const mr_row_step *s, const char *xrow, int64_t c, size_t len, void *buf)
{
    const char *src = xrow + c * s->x_s1 * (int64_t)s->x_esize;
    if (s->x_s1 == 1) return src;
    mr_gather_strided(buf, src, len, s->x_s1, s->x_esize);
    return buf;
}

static const float *mr_smooth_row(const mr_row_step *s, int64_t p)
{
    if (!s->smooth) return NULL;
    int64_t r = s->slot_expert ? (int64_t)s->slot_expert[p] - s->smooth_base : 0;
    return s->smooth + r * s->smooth_pitch;
}

/* Dynamic quantization of one source row for one smooth row: the scale of the whole row first (max over the
 * chunks is the max of the row: exact), then the quantized chunks, written to `ndest` destinations. */
static void mr_dynamic_row(const mr_row_step *s, const char *xrow, const float *smooth, const int32_t *dests,
                           int ndest, unsigned char *gathered, int8_t *quantized)
{
    const int64_t H = s->h;
    float m = 0.0f;
    for (int64_t c = 0; c < H; c += MR_ROW_CHUNK) {
        size_t len = (size_t)(H - c < MR_ROW_CHUNK ? H - c : MR_ROW_CHUNK);
        float cm = s->absmax(mr_chunk(s, xrow, c, len, gathered), smooth ? smooth + c : NULL, len);
        if (cm > m) m = cm;
    }
    const float sc = m / 127.0f;
    for (int64_t c = 0; c < H; c += MR_ROW_CHUNK) {
        size_t len = (size_t)(H - c < MR_ROW_CHUNK ? H - c : MR_ROW_CHUNK);
        const void *src = mr_chunk(s, xrow, c, len, gathered);
        if (ndest == 1 && !s->stream) {
            s->dquant(src, smooth ? smooth + c : NULL, len, sc, (int8_t *)s->out + (size_t)dests[0] * (size_t)H + (size_t)c);
            continue;
        }
        s->dquant(src, smooth ? smooth + c : NULL, len, sc, quantized);
        for (int i = 0; i < ndest; i++) s->copy(s->out + (size_t)dests[i] * (size_t)H + (size_t)c, quantized, len);
    }
    if (s->out_scale)
        for (int i = 0; i < ndest; i++) s->out_scale[dests[i]] = sc;
}

static void mr_row_task(void *ctx, size_t task, size_t worker)
{
    const mr_row_job *job = ctx;
    const mr_row_step *s = job->s;
    const int64_t H = s->h, K = s->k;
    unsigned char *gathered = s->rowbuf + worker * MR_ROWBUF_BYTES;
    int8_t *quantized = (int8_t *)(gathered + MR_ROW_CHUNK * 4);
    int32_t dests[64];

    size_t s_begin = task * job->rows_per_task;
    size_t s_end = s_begin + job->rows_per_task < (size_t)s->n_src ? s_begin + job->rows_per_task : (size_t)s->n_src;
    for (size_t src_row = s_begin; src_row < s_end; src_row++) {
        /* x is NULL when no column of it is read (H = 0) */
        const char *xrow = s->x ? s->x + (int64_t)src_row * s->x_s0 * (int64_t)s->x_esize : NULL;
        /* destinations in slot order, in groups of up to 64 (K beyond 64 takes several rounds) */
        for (int64_t j0 = 0; j0 < K; j0 += 64) {
            int64_t jn = K - j0 < 64 ? K - j0 : 64;
            int ndest = 0;
            int64_t slots[64];
            for (int64_t j = j0; j < j0 + jn; j++) {
                int64_t p = (int64_t)src_row * s->slot_a + j * s->slot_b;
                int32_t d = s->dst[p];
                if (d >= 0 && d < s->limit) {
                    slots[ndest] = p;
                    dests[ndest++] = d;
                }
            }
            if (ndest == 0) continue;
            if (s->carry) {
                float v;
                memcpy(&v, s->carry + (int64_t)src_row * s->carry_s0 * 4, 4);
                for (int i = 0; i < ndest; i++) s->out_scale[dests[i]] = v;
            }
            if (s->kind == MR_ROWS_DYNAMIC) { /* also for H = 0: the scale (0) is still written */
                if (s->smooth && s->slot_expert) { /* a smooth row per expert: each destination its own scale */
                    for (int i = 0; i < ndest; i++)
                        mr_dynamic_row(s, xrow, mr_smooth_row(s, slots[i]), &dests[i], 1, gathered, quantized);
                } else {
                    mr_dynamic_row(s, xrow, mr_smooth_row(s, slots[0]), dests, ndest, gathered, quantized);
                }
                continue;
            }
            for (int64_t c = 0; c < H; c += MR_ROW_CHUNK) {
                size_t len = (size_t)(H - c < MR_ROW_CHUNK ? H - c : MR_ROW_CHUNK);
                const void *src = mr_chunk(s, xrow, c, len, gathered);
                if (s->kind == MR_ROWS_STATIC) {
                    if (ndest == 1 && !s->stream) { /* one copy: quantize straight into place */
                        s->quant(src, (int8_t *)s->out + (size_t)dests[0] * (size_t)H + (size_t)c, len, s->qp);
                        continue;
                    }
                    s->quant(src, quantized, len, s->qp);
                    src = quantized;
                }
                size_t bytes = len * s->out_esize;
                for (int i = 0; i < ndest; i++)
                    s->copy(s->out + ((size_t)dests[i] * (size_t)H + (size_t)c) * s->out_esize, src, bytes);
            }
        }
    }
    if (s->stream) atomic_thread_fence(memory_order_seq_cst); /* orders this task's streaming stores */
}

void mr_row_step_run(const mr_row_step *s, mr_pool *pool)
{
    if (s->n_src == 0 || s->k == 0) return;
    size_t tasks = s->work < MR_PARALLEL_MIN_WORK ? 1 : mr_pool_threads(pool) * 8;
    if (tasks > (size_t)s->n_src) tasks = (size_t)s->n_src;
    mr_row_job job = {s, ((size_t)s->n_src + tasks - 1) / tasks};
    mr_pool_parallelize(tasks == 1 ? NULL : pool, mr_row_task, &job, ((size_t)s->n_src + job.rows_per_task - 1) / job.rows_per_task);
}

void mr_rows_zero(char *out, size_t row_bytes, int64_t first, int64_t count, float *out_scale)
{
    if (count <= 0) return;
    if (row_bytes) memset(out + (size_t)first * row_bytes, 0, (size_t)count * row_bytes);
    if (out_scale)
        for (int64_t r = first; r < first + count; r++) out_scale[r] = 0.0f;
}
