/* GroupedMatmul, MoE subset (layer spec 7.3, decisions 12 and 13; docs/operators/grouped_matmul.md).
 *
 *   groups from the list:  type 0 end_g = list[g];  type 1 end_g = start_g + list[g];
 *                          type 2 (id_g, c_g): end_g = start_g + c_g on weight id_g;  start_{g+1} = end_g
 *   float: acc = +0; for k ascending: acc = fma(f32(x[m][k]), f32(W[e][k][n]), acc)   (fp32)
 *          acc = acc + f32(bias[e][n]);  out = RNE(acc)
 *   int8:  a = sum_k x*W (exact int32) (+ int32 bias);  out = a, or
 *          d = f32(a) * scale[e][n] (* perTokenScale[m]);  out = RNE(d -> bf16 | fp16)
 *   rows past the last group are not written.
 *
 * Work: tasks are (row chunk of a group) x (column tile), claimed dynamically by the pool, so a skewed group
 * list (one expert with most rows) still splits evenly. Each task packs its B column panels and A row panels
 * into its worker's scratch, accumulates fp32 / int32 tiles over k blocks in ascending k, then runs the
 * epilogue. Every output element goes through the same sequence of operations whatever the tiling, thread
 * count or ISA, so the bytes never depend on them. */
#define _POSIX_C_SOURCE 200809L
#include "operators/grouped_matmul.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/fp16.h"
#include "common/prefetch.h"
#include "dispatch/dispatch.h"

#define MR_GMM_KC_F32 256u  /* k block of the float path: B block kc x nc fp32 = 2 MiB (bf16 pairs, fp16 halves
                               1 MiB), B panel 32 KiB (16 KiB) in L1                                          */
#define MR_GMM_KC_I8 1024u  /* k block of the int8 path (a multiple of every kgroup), unless the kernel asks */
#define MR_GMM_NC 2048u     /* column tile (a multiple of every nr): whole weight rows up to N = 2048, so the
                               packing streams them; one A panel serves all of it                            */
#define MR_GMM_MCH 480u     /* row chunk, rounded up to the kernel's mr: each packed B block serves 480 rows;
                               C tile 480 x 2048 x 4 bytes                                                    */
#define MR_GMM_CPAD 16u     /* C row stride = ncp + 16 elements: rows a power of two apart share L1 sets  */
#define MR_GMM_MAX_THREADS 1024u

static size_t mr_align64(size_t v) { return (v + 63u) & ~(size_t)63u; }
static size_t mr_ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

static const char *const mr_gmm_names[MR_GMM_COUNT] = {"x", "weight", "bias", "scale", "perTokenScale",
                                                       "groupList", "out"};

static int mr_gmm_is_int8(const mr_gmm_desc *d) { return d->xtype == MR_GEMM_SRC_I8; }

/* The kernel tile for x's dtype: the int8 kernel's, the bf16-pair kernel's (bf16 on a config that has one), or the
 * fp32 kernel's. */
static void mr_gmm_tile(const mr_gemm_config *g, mr_gemm_src_type t, size_t *mr, size_t *nr)
{
    if (t == MR_GEMM_SRC_I8) *mr = g->i8_mr, *nr = g->i8_nr;
    else if (mr_gemm_half_kernel(g, t)) *mr = g->half_mr, *nr = g->half_nr;
    else *mr = g->f32_mr, *nr = g->f32_nr;
}

/* Bytes of one packed float B panel of nr columns and kc k: bf16 pairs, fp16 halves or fp32. */
static size_t mr_gmm_fpanel_bytes(const mr_gmm_plan *p, size_t nr, size_t kc)
{
    if (mr_gemm_uses_bf16x2(p->gemm, p->d.xtype)) return mr_gemm_bf16x2_panel_elems(nr, kc) * 2u;
    return mr_gemm_uses_f16h(p->gemm, p->d.xtype) ? nr * kc * 2u : nr * kc * 4u;
}

/* Bytes of one packed B block (k block x ncp columns) and one packed A block (k block x mch rows). */
static size_t mr_gmm_bblock_bytes(const mr_gmm_plan *p)
{
    const mr_gemm_config *g = p->gemm;
    size_t mr, nr;
    mr_gmm_tile(g, p->d.xtype, &mr, &nr);
    if (!mr_gmm_is_int8(&p->d)) return mr_gmm_fpanel_bytes(p, nr, p->kc) * (p->ncp / nr);
    return mr_gemm_i8_panel_bytes(g->i8_nr, mr_gemm_i8_kpad(g, p->kc), g->i8_kgroup, g->i8_b_fmt) * (p->ncp / g->i8_nr);
}

static size_t mr_gmm_ablock_bytes(const mr_gmm_plan *p)
{
    const mr_gemm_config *g = p->gemm;
    if (!mr_gmm_is_int8(&p->d)) return p->kc * p->mch * sizeof(float);
    return mr_gemm_i8_panel_bytes(g->i8_mr, mr_gemm_i8_kpad(g, p->kc), mr_gemm_i8_a_kgroup(g), g->i8_a_fmt) *
           (p->mch / g->i8_mr);
}

moeroute_status mr_gmm_plan_init(mr_gmm_plan *plan, const mr_gmm_desc *desc, moeroute_isa isa, size_t threads,
                                 const char *api)
{
    memset(plan, 0, sizeof *plan);
    plan->d = *desc;
    const moeroute_isa level = mr_dispatch_resolve_isa(isa);
    const mr_gemm_config *g = mr_dispatch_gemm(level, mr_gmm_is_int8(desc));
    plan->gemm = g;
    plan->mlp = mr_dispatch_mlp(level);
    const int i8 = mr_gmm_is_int8(desc);
    size_t mr, nr;
    mr_gmm_tile(g, desc->xtype, &mr, &nr);
    plan->kc = i8 ? (g->i8_kc ? g->i8_kc : MR_GMM_KC_I8) : MR_GMM_KC_F32;
    /* small problems get tiles (and a workspace) no larger than they need; a k block that covers all of K is
     * the only one, so its size never matters to the results */
    if (desc->k < (int64_t)plan->kc) plan->kc = desc->k > 0 ? (size_t)desc->k : 1u;
    const size_t n_up = mr_ceil_div(desc->n > 0 ? (size_t)desc->n : 1u, nr) * nr;
    const size_t m_up = mr_ceil_div(desc->m > 0 ? (size_t)desc->m : 1u, mr) * mr;
    plan->nc = n_up < MR_GMM_NC ? n_up : MR_GMM_NC;
    plan->ncp = mr_ceil_div(plan->nc, nr) * nr;
    plan->mch = mr_ceil_div(MR_GMM_MCH, mr) * mr;
    if (m_up < plan->mch) plan->mch = m_up;
    plan->thread_bytes = mr_align64(mr_gmm_bblock_bytes(plan)) + mr_align64(mr_gmm_ablock_bytes(plan)) +
                         mr_align64(plan->mch * (plan->ncp + MR_GMM_CPAD) * 4u) + mr_align64(plan->ncp * 4u) +
                         (i8 ? 3u * mr_align64(plan->ncp * 4u) : 0u); /* int8: the epilogue's bias, scale, row */
    /* no more workers than tasks can exist: (row chunks + one partial chunk per group) x column tiles */
    const uint64_t groups = desc->list_type == MR_GMM_LIST_NONE ? 1u : (uint64_t)desc->groups;
    const uint64_t tiles = mr_ceil_div((size_t)desc->n, plan->nc);
    const uint64_t chunks = (uint64_t)desc->m / plan->mch + (groups < (uint64_t)desc->m ? groups : (uint64_t)desc->m);
    uint64_t tasks;
    if (__builtin_mul_overflow(chunks, tiles, &tasks)) tasks = UINT64_MAX;
    size_t t = threads < 1 ? 1 : threads > MR_GMM_MAX_THREADS ? MR_GMM_MAX_THREADS : threads;
    if (tasks < t) t = tasks ? (size_t)tasks : 1;
    plan->threads = t;
    size_t table, scratch;
    if (groups > SIZE_MAX / 64u || mr_mul_size(t, plan->thread_bytes, &scratch) ||
        mr_add_size(scratch, mr_align64((size_t)(4u * groups + 1u) * 8u), &table))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the workspace size overflows", api);
    plan->ws_size = table;
    return MOEROUTE_OK;
}

/* ---- group list (decision 13: every check before the first write) ------------------------------------------ */
typedef struct mr_gmm_groups {
    int64_t *start, *end, *expert, *chunk0; /* chunk0[g]: first row chunk of group g; chunk0[G]: total */
    size_t count;
} mr_gmm_groups;

static int64_t mr_gmm_list_at(const mr_view *v, int64_t g, int64_t j)
{
    int64_t x;
    memcpy(&x, v->data + (g * v->strides[0] + (v->ndim > 1 ? j * v->strides[1] : 0)) * 8, sizeof x);
    return x;
}

static moeroute_status mr_gmm_read_groups(const mr_gmm_plan *p, const mr_view *list, mr_gmm_groups *gr,
                                          const char *api)
{
    const mr_gmm_desc *d = &p->d;
    int64_t at = 0;
    for (size_t g = 0; g < gr->count; g++) {
        int64_t count = d->m, expert = 0;
        const int64_t gi = (int64_t)g;
        if (d->list_type == MR_GMM_LIST_CUMSUM) {
            const int64_t end = mr_gmm_list_at(list, gi, 0);
            if (end < at)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: groupList[%lld] = %lld is below %s %lld (a cumsum "
                               "group list must not decrease)", api, (long long)gi, (long long)end,
                               g ? "the previous entry" : "zero:", (long long)at);
            count = end - at;
            expert = gi;
        } else if (d->list_type == MR_GMM_LIST_COUNT) {
            count = mr_gmm_list_at(list, gi, 0);
            expert = gi;
            if (count < 0)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: groupList[%lld] = %lld is a negative count", api,
                               (long long)gi, (long long)count);
        } else if (d->list_type == MR_GMM_LIST_KEY_VALUE) {
            expert = mr_gmm_list_at(list, gi, 0);
            count = mr_gmm_list_at(list, gi, 1);
            if (expert < 0 || expert >= d->e)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: groupList[%lld] names expert %lld, outside [0, %lld)",
                               api, (long long)gi, (long long)expert, (long long)d->e);
            if (count < 0)
                return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: groupList[%lld] has a negative count %lld", api,
                               (long long)gi, (long long)count);
        }
        if (count > d->m - at)
            return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: the groups up to groupList[%lld] cover %lld + %lld rows, "
                           "more than the %lld rows of x", api, (long long)gi, (long long)at, (long long)count,
                           (long long)d->m);
        gr->start[g] = at;
        gr->end[g] = at + count;
        gr->expert[g] = expert;
        gr->chunk0[g + 1] = gr->chunk0[g] + (int64_t)mr_ceil_div((size_t)count, p->mch);
        at += count;
    }
    return MOEROUTE_OK;
}

/* ---- one task: a row chunk of one group x one column tile -------------------------------------------------- */
typedef struct mr_gmm_ctx {
    const mr_gmm_plan *p;
    const mr_view *v;
    char *scratch;
    mr_gmm_groups gr;
    size_t tiles;
    const mr_view *w, *bias, *scale; /* the first weight / bias / scale view (fixed or appended slots) */
} mr_gmm_ctx;

/* Element (e, n) of a bias or scale: [e, n] in one view, or element n of expert e's own [n] view. */
static const char *mr_gmm_en(const mr_gmm_desc *d, const mr_view *v, int64_t e, int64_t n)
{
    return d->per_expert ? mr_view_at2(&v[e], n, 0) : mr_view_at2(v, e, n);
}

static size_t mr_gmm_find_group(const mr_gmm_groups *gr, int64_t chunk)
{
    size_t lo = 0, hi = gr->count; /* the group g with chunk0[g] <= chunk < chunk0[g + 1] */
    while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        if (gr->chunk0[mid] <= chunk) lo = mid;
        else hi = mid;
    }
    return lo;
}

static float mr_gmm_etype_f32(mr_gmm_etype t, const char *p)
{
    uint16_t h;
    float f;
    switch (t) {
    case MR_GMM_E_F16: memcpy(&h, p, 2); return mr_f16_to_f32(h);
    case MR_GMM_E_BF16: memcpy(&h, p, 2); return mr_bf16_to_f32(h);
    default: memcpy(&f, p, 4); return f;
    }
}

/* A float output dtype as the MLP family's element type (its narrowing kernels are indexed by it). */
static mr_xtype mr_gmm_out_xtype(mr_gmm_out t)
{
    return t == MR_GMM_OUT_F16 ? MR_X_F16 : t == MR_GMM_OUT_BF16 ? MR_X_BF16 : MR_X_F32;
}

static size_t mr_gmm_out_size(mr_gmm_out t) { return t == MR_GMM_OUT_F16 || t == MR_GMM_OUT_BF16 ? 2u : 4u; }

/* The float epilogue of rows [m0, m0 + rows) x columns [n0, n0 + cols), in place on the scratch tile c (row
 * stride ldc): acc + f32(bias) (one fp32 add), a NaN made the one canonical quiet NaN (which NaN operand an FMA
 * passes on differs between fmaf and the x86 FMA instructions, so the bytes are the same on every ISA), then
 * the MLP family's narrowing to the output dtype (ties to even). bvec: cols floats of scratch for the bias. */
static void mr_gmm_epilogue_float(const mr_gmm_ctx *x, int64_t e, int64_t m0, size_t rows, int64_t n0, size_t cols,
                                  float *c, size_t ldc, float *bvec)
{
    const mr_gmm_desc *d = &x->p->d;
    const mr_xtype ot = mr_gmm_out_xtype(d->out);
    const mr_mlp_narrow_fn narrow = x->p->mlp->narrow[ot];
    const int has_bias = d->bias != MR_GMM_E_NONE;
    for (size_t j = 0; has_bias && j < cols; j++)
        bvec[j] = mr_gmm_etype_f32(d->bias, mr_gmm_en(d, x->bias, e, n0 + (int64_t)j));
    for (size_t i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        if (has_bias)
            for (size_t j = 0; j < cols; j++) ci[j] = ci[j] + bvec[j];
        x->p->mlp->canon(ci, cols);
        narrow(ci, x->v[MR_GMM_OUT].data + ((size_t)(m0 + (int64_t)i) * (size_t)d->n + (size_t)n0) * mr_xtype_size(ot),
               cols);
    }
}

/* The int8 epilogue of rows [m0, m0 + rows) x columns [n0, n0 + cols) from the scratch tile c (row stride ldc):
 * a = sum (- 128 * colsum in the U8 format) (+ int32 bias), modulo 2^32 (int32 arithmetic wraps when a bias
 * pushes the sum out of range); int32 out, or f32(a) * scale (per channel first) * perTokenScale (then per token),
 * narrowed by the MLP family's kernel. The bias and scale rows are read once per task into brow / srow; frow holds
 * a row's floats (cols elements each). */
static void mr_gmm_epilogue(const mr_gmm_ctx *x, int64_t e, int64_t m0, size_t rows, int64_t n0, size_t cols,
                            const int32_t *c, size_t ldc, const int32_t *colsum, int32_t *brow, float *srow,
                            float *frow)
{
    const mr_gmm_desc *d = &x->p->d;
    const mr_view *pts = &x->v[MR_GMM_PTS];
    const size_t os = mr_gmm_out_size(d->out);
    const int has_bias = d->bias == MR_GMM_E_I32, scaled = d->out != MR_GMM_OUT_I32;
    for (size_t j = 0; has_bias && j < cols; j++) memcpy(&brow[j], mr_gmm_en(d, x->bias, e, n0 + (int64_t)j), 4);
    for (size_t j = 0; scaled && j < cols; j++)
        srow[j] = mr_gmm_etype_f32(d->scale, mr_gmm_en(d, x->scale, e, n0 + (int64_t)j));
    const mr_mlp_narrow_fn narrow = x->p->mlp->narrow[mr_gmm_out_xtype(d->out)]; /* used when scaled */
    for (size_t i = 0; i < rows; i++) {
        const int64_t m = m0 + (int64_t)i;
        char *dst = x->v[MR_GMM_OUT].data + ((size_t)m * (size_t)d->n + (size_t)n0) * os;
        const int32_t *ci = c + i * ldc;
        if (!scaled && !colsum && !has_bias) { /* the sums as they are */
            memcpy(dst, ci, cols * 4u);
            continue;
        }
        float tok = 1.0f;
        if (d->per_token) memcpy(&tok, pts->data + m * pts->strides[0] * 4, 4);
        for (size_t j = 0; j < cols; j++) {
            uint32_t u = (uint32_t)ci[j]; /* the ring operations modulo 2^32 give the wrapped int32 sum */
            if (colsum) u -= 128u * (uint32_t)colsum[j];
            if (has_bias) u += (uint32_t)brow[j];
            const int32_t a32 = u > 0x7FFFFFFFu ? (int32_t)(u - 0x80000000u) - 0x7FFFFFFF - 1 : (int32_t)u;
            if (!scaled) {
                memcpy(dst + 4 * j, &a32, 4);
                continue;
            }
            float f = (float)a32 * srow[j]; /* per channel first */
            if (d->per_token) f = f * tok;  /* then per token   */
            frow[j] = f;
        }
        if (scaled) narrow(frow, dst, cols);
    }
}

static mr_gemm_mat mr_gmm_a(const mr_gmm_desc *d, const mr_view *x)
{
    mr_gemm_mat a = {x->data, x->strides[0], x->strides[1], d->xtype, 0};
    return a;
}

/* Weight e as the (n, k) matrix the B packing reads: expert e of one [e, k, n] view, or expert e's own [k, n]
 * view (per_expert); an NZ weight is read in place through the index map (nz_k1). */
static mr_gemm_mat mr_gmm_b(const mr_gmm_desc *d, const mr_view *w, int64_t e)
{
    const int64_t nz_k1 = d->w_nz ? (d->k + 15) / 16 : 0;
    if (d->per_expert) {
        mr_gemm_mat b = {w[e].data, w[e].strides[1], w[e].strides[0], d->xtype, nz_k1};
        return b;
    }
    mr_gemm_mat b = {w->data + e * w->strides[0] * (int64_t)w->esize, w->strides[2], w->strides[1], d->xtype, nz_k1};
    return b;
}

/* The scratch C tile (4-byte elements, row stride ldc) that the kernel call after tile (q, r) reads: its rows
 * lie ldc apart, where the hardware prefetchers do not look, so ask for them while this call computes. */
static void mr_gmm_prefetch_next_c(const void *c, size_t ldc, size_t rows, size_t panels, size_t mr, size_t nr,
                                   size_t q, size_t r)
{
    if (r + mr < rows) r += mr;
    else if (q + 1 < panels) q++, r = 0;
    else return;
    const char *t = (const char *)c + (r * ldc + q * nr) * 4u;
    for (size_t i = 0; i < mr && r + i < rows; i++)
        for (size_t b = 0; b < nr * 4u; b += 64) __builtin_prefetch(t + i * ldc * 4u + b, 1, 3);
}

/* The next B panel (q + 1) of a block, whose panels are `bytes` long: the r-th of this panel's `calls` kernel calls
 * asks for its share of the lines, so the panel is in cache when its first call starts (packed weights come from
 * DRAM, and each panel's first call would otherwise wait for all of it). */
static void mr_gmm_prefetch_next_b(const char *block, size_t bytes, size_t q, size_t panels, size_t call, size_t calls)
{
    const size_t share = (bytes / calls + 63u) & ~(size_t)63u, at = call * share;
    if (q + 1 < panels && at < bytes)
        mr_prefetch_bytes(block, (q + 1) * bytes + at, share < bytes - at ? share : bytes - at);
}

/* The B block of columns [n0, n0 + cols) and k block [kb, kb + kc) of one weight, as the kernels read it; int8
 * in the U8 format also adds the block's column sums to colsum. */
static void mr_gmm_pack_b(const mr_gmm_plan *p, const mr_gemm_mat *B, int64_t n0, size_t cols, int64_t kb, size_t kc,
                          void *dst, int32_t *colsum)
{
    const mr_gemm_config *g = p->gemm;
    if (mr_gemm_uses_bf16x2(g, p->d.xtype)) mr_gemm_pack_bf16x2(B, n0, cols, g->half_nr, kb, kc, dst, g->bf16_pairs);
    else if (mr_gemm_uses_f16h(g, p->d.xtype)) mr_gemm_pack_f16h(B, n0, cols, g->half_nr, kb, kc, dst);
    else if (!mr_gmm_is_int8(&p->d)) mr_gemm_pack_f32(B, n0, cols, g->f32_nr, kb, kc, dst);
    else mr_gemm_pack_i8(B, n0, cols, g->i8_nr, kb, kc, mr_gemm_i8_kpad(g, kc), g->i8_kgroup, g->i8_b_fmt, dst, colsum);
}

static const char *mr_gmm_packed_block(const mr_gmm_packed *pk, int64_t e, size_t tile, size_t kblock)
{
    return pk->blocks + (((size_t)e * pk->tiles + tile) * pk->kblocks + kblock) * pk->block_bytes;
}

static const int32_t *mr_gmm_packed_colsum(const mr_gmm_packed *pk, int64_t e, size_t tile)
{
    return pk->colsum + ((size_t)e * pk->tiles + tile) * pk->ncp;
}

static void mr_gmm_task(void *ctxp, size_t task, size_t worker)
{
    const mr_gmm_ctx *x = ctxp;
    const mr_gmm_plan *p = x->p;
    const mr_gmm_desc *d = &p->d;
    const mr_gemm_config *gc = p->gemm;
    const int64_t chunk = (int64_t)(task / x->tiles);
    const size_t tile = task % x->tiles;
    const size_t g = mr_gmm_find_group(&x->gr, chunk);
    const int64_t m0 = x->gr.start[g] + (chunk - x->gr.chunk0[g]) * (int64_t)p->mch;
    const size_t rows = (size_t)(x->gr.end[g] - m0 < (int64_t)p->mch ? x->gr.end[g] - m0 : (int64_t)p->mch);
    const int64_t e = x->gr.expert[g], n0 = (int64_t)(tile * p->nc);
    const size_t cols = (size_t)(d->n - n0) < p->nc ? (size_t)(d->n - n0) : p->nc;
    const int i8 = mr_gmm_is_int8(d);
    const mr_gemm_bf16_fn half = mr_gemm_half_kernel(gc, d->xtype); /* 16-bit B panels, or NULL */
    size_t mr, nr;
    mr_gmm_tile(gc, d->xtype, &mr, &nr);
    const size_t panels = mr_ceil_div(cols, nr), ldc = p->ncp + MR_GMM_CPAD;
    char *s = x->scratch + worker * p->thread_bytes;
    void *bp = s, *ap = s + mr_align64(mr_gmm_bblock_bytes(p));
    void *cbuf = (char *)ap + mr_align64(mr_gmm_ablock_bytes(p));
    int32_t *colsum = (int32_t *)((char *)cbuf + mr_align64(p->mch * ldc * 4u));
    const int offset_a = i8 && gc->i8_a_fmt == MR_GEMM_U8;
    const mr_gmm_packed *pk = p->packed; /* B blocks packed before the call, or NULL: pack them here */
    const mr_gemm_mat A = mr_gmm_a(d, &x->v[MR_GMM_X]), B = pk ? A : mr_gmm_b(d, x->w, e); /* B: unused if pk */
    if (d->k == 0) memset(cbuf, 0, rows * ldc * 4u); /* an empty sum: +0.0f and int 0 are both zero bytes */
    if (offset_a && !pk) memset(colsum, 0, p->ncp * 4u);
    if (i8 && gc->i8_enter) gc->i8_enter(); /* AMX: this thread's tile configuration, for this task only */
    for (int64_t kb = 0; kb < d->k; kb += (int64_t)p->kc) {
        const size_t kc = (size_t)(d->k - kb) < p->kc ? (size_t)(d->k - kb) : p->kc;
        const int load_c = kb > 0;
        /* every B panel of the tile (unless packed before the call) and every A panel of the chunk in one pass
         * each; then each B panel stays in L1 while it meets every A panel (the A block in L2) */
        const char *bk = pk ? mr_gmm_packed_block(pk, e, tile, (size_t)kb / p->kc) : bp;
        if (!pk) mr_gmm_pack_b(p, &B, n0, cols, kb, kc, bp, offset_a ? colsum : NULL);
        if (!i8) {
            float *af = ap;
            mr_gemm_pack_f32(&A, m0, rows, mr, kb, kc, af);
            const size_t bpanel = mr_gmm_fpanel_bytes(p, nr, kc), calls = mr_ceil_div(rows, mr);
            for (size_t q = 0; q < panels; q++)
                for (size_t r = 0; r < rows; r += mr) {
                    mr_gmm_prefetch_next_c(cbuf, ldc, rows, panels, mr, nr, q, r);
                    mr_gmm_prefetch_next_b(bk, bpanel, q, panels, r / mr, calls);
                    float *ct = (float *)cbuf + r * ldc + q * nr;
                    const void *bq = bk + q * bpanel;
                    if (half) half(kc, af + r * kc, bq, ct, ldc, load_c, rows - r < mr ? rows - r : mr);
                    else gc->f32(kc, af + r * kc, bq, ct, ldc, load_c);
                }
        } else {
            const size_t kcp = mr_gemm_i8_kpad(gc, kc), kg = gc->i8_kgroup, kga = mr_gemm_i8_a_kgroup(gc);
            const size_t bpanel = mr_gemm_i8_panel_bytes(nr, kcp, kg, gc->i8_b_fmt);
            const size_t apanel = mr_gemm_i8_panel_bytes(mr, kcp, (unsigned)kga, gc->i8_a_fmt);
            mr_gemm_pack_i8(&A, m0, rows, mr, kb, kc, kcp, (unsigned)kga, gc->i8_a_fmt, ap, NULL);
            for (size_t q = 0; q < panels; q++)
                for (size_t r = 0; r < rows; r += mr) {
                    mr_gmm_prefetch_next_c(cbuf, ldc, rows, panels, mr, nr, q, r);
                    gc->i8(kcp / kg, (char *)ap + r / mr * apanel, bk + q * bpanel, (int32_t *)cbuf + r * ldc + q * nr,
                           ldc, load_c);
                }
        }
    }
    if (i8 && gc->i8_leave) gc->i8_leave();
    if (!i8) { /* the float path leaves the column-sum scratch unused: it holds the bias row */
        mr_gmm_epilogue_float(x, e, m0, rows, n0, cols, cbuf, ldc, (float *)(void *)colsum);
        return;
    }
    const int32_t *cs = !offset_a ? NULL : pk ? mr_gmm_packed_colsum(pk, e, tile) : colsum;
    char *erow = (char *)colsum + mr_align64(p->ncp * 4u); /* the epilogue's three rows */
    const size_t rb = mr_align64(p->ncp * 4u);
    mr_gmm_epilogue(x, e, m0, rows, n0, cols, cbuf, ldc, cs, (int32_t *)(void *)erow, (float *)(void *)(erow + rb),
                    (float *)(void *)(erow + 2 * rb));
}

/* MOEROUTE_POISON_UNWRITTEN=1: rows [from, m) get NaN (float outputs) or 0x7F bytes (int32). */
static void mr_gmm_poison(const mr_gmm_desc *d, char *out, int64_t from)
{
    const char *env = getenv("MOEROUTE_POISON_UNWRITTEN");
    if (!env || strcmp(env, "1") != 0 || from >= d->m) return;
    const size_t os = mr_gmm_out_size(d->out), n = (size_t)(d->m - from) * (size_t)d->n;
    char *dst = out + (size_t)from * (size_t)d->n * os;
    if (d->out == MR_GMM_OUT_I32) {
        memset(dst, 0x7F, n * os);
        return;
    }
    const uint16_t h = d->out == MR_GMM_OUT_F16 ? 0x7E00u : 0x7FC0u;
    const uint32_t f = 0x7FC00000u;
    for (size_t i = 0; i < n; i++) memcpy(dst + i * os, os == 2 ? (const void *)&h : (const void *)&f, os);
}

/* The appended weight / bias / scale views (desc.appended): each has data when it has elements and overlaps
 * neither out nor the workspace (inputs may share memory with each other). */
static moeroute_status mr_gmm_check_appended(const mr_gmm_desc *d, const mr_view *v, void *workspace, size_t ws_size,
                                             const char *api)
{
    const size_t nw = mr_gmm_nw(d), n = mr_gmm_view_count(d);
    for (size_t i = MR_GMM_COUNT; i < n; i++) {
        const size_t role = (i - MR_GMM_COUNT) / nw; /* 0 weight, then bias and/or scale */
        const int is_scale = i >= mr_gmm_slot_scale(d);
        char name[48];
        snprintf(name, sizeof name, "%s[%zu]", role == 0 ? "weight" : is_scale ? "scale" : "bias",
                 (i - MR_GMM_COUNT) % nw);
        const mr_view pair[2] = {v[i], v[MR_GMM_OUT]};
        const char *const names[2] = {name, "out"};
        moeroute_status st;
        if ((st = mr_views_check_data(api, pair, names, 1)) != MOEROUTE_OK ||
            (st = mr_views_check_disjoint(api, pair, names, 2, 1, workspace, ws_size)) != MOEROUTE_OK)
            return st;
    }
    return MOEROUTE_OK;
}

moeroute_status mr_gmm_run(const void *plan, const mr_view *v, void *workspace, size_t workspace_size, mr_pool *pool,
                           const char *api)
{
    const mr_gmm_plan *p = plan;
    const mr_gmm_desc *d = &p->d;
    const mr_gmm_packed *packed = p->packed;
    moeroute_status st;
    if (packed && (packed->gemm != p->gemm || packed->kc != p->kc || packed->nc != p->nc || packed->k != d->k ||
                   packed->n != d->n || packed->e != d->e || packed->xtype != d->xtype))
        return mr_fail(MOEROUTE_ERR_INVALID_VALUE, "%s: the packed weights were made for other weights or kernels "
                       "(packed: E %lld, K %lld, N %lld, dtype %d, kernel %s; this call: E %lld, K %lld, N %lld, dtype "
                       "%d, kernel %s); pack them again with this context", api, (long long)packed->e,
                       (long long)packed->k, (long long)packed->n, (int)packed->xtype, packed->gemm->name,
                       (long long)d->e, (long long)d->k, (long long)d->n, (int)d->xtype, p->gemm->name);
    if ((st = mr_views_check_data(api, v, mr_gmm_names, MR_GMM_COUNT)) != MOEROUTE_OK ||
        (st = mr_views_check_disjoint(api, v, mr_gmm_names, MR_GMM_COUNT, MR_GMM_OUT, workspace, p->ws_size)) !=
            MOEROUTE_OK ||
        (d->appended && (st = mr_gmm_check_appended(d, v, workspace, p->ws_size, api)) != MOEROUTE_OK))
        return st;
    if (workspace_size < p->ws_size || (p->ws_size && !workspace))
        return mr_fail(MOEROUTE_ERR_WORKSPACE, "%s: the workspace has %zu bytes, the call needs %zu", api,
                       workspace ? workspace_size : (size_t)0, p->ws_size);
    mr_gmm_ctx x = {p, v, workspace, {0}, mr_ceil_div((size_t)d->n, p->nc), &v[mr_gmm_slot_w(d)],
                    &v[mr_gmm_slot_bias(d)], &v[mr_gmm_slot_scale(d)]};
    /* V1/V2: the host group list the plan carries after its struct */
    const mr_view hl = mr_view_contiguous(d->host_list ? (const char *)p + sizeof *p : NULL, 8, 1, &d->groups);
    const mr_view *list = d->host_list ? &hl : &v[MR_GMM_GROUPS];
    x.gr.count = d->list_type == MR_GMM_LIST_NONE ? 1u : (size_t)d->groups;
    int64_t *table = (int64_t *)((char *)workspace + p->threads * p->thread_bytes);
    x.gr.start = table;
    x.gr.end = table + x.gr.count;
    x.gr.expert = table + 2 * x.gr.count;
    x.gr.chunk0 = table + 3 * x.gr.count;
    x.gr.chunk0[0] = 0;
    if ((st = mr_gmm_read_groups(p, list, &x.gr, api)) != MOEROUTE_OK) return st;
    mr_gmm_poison(d, v[MR_GMM_OUT].data, x.gr.count ? x.gr.end[x.gr.count - 1] : 0);
    const size_t tasks = (size_t)x.gr.chunk0[x.gr.count] * x.tiles;
    if (tasks) mr_pool_parallelize(mr_pool_threads(pool) > p->threads ? NULL : pool, mr_gmm_task, &x, tasks);
    return MOEROUTE_OK;
}

/* ---- weights packed once (moeroute_grouped_matmul_pack_weights) --------------------------------------------- */
typedef struct mr_gmm_pack_ctx {
    const mr_gmm_plan *p;
    const mr_view *w;
    mr_gmm_packed *pk;
} mr_gmm_pack_ctx;

/* Task (expert e, column tile t): every k block of it, as mr_gmm_task would pack them. */
static void mr_gmm_pack_task(void *ctxp, size_t task, size_t worker)
{
    (void)worker;
    const mr_gmm_pack_ctx *x = ctxp;
    const mr_gmm_plan *p = x->p;
    mr_gmm_packed *pk = x->pk;
    const size_t tile = task % pk->tiles;
    const int64_t e = (int64_t)(task / pk->tiles), n0 = (int64_t)(tile * p->nc);
    const size_t cols = (size_t)(p->d.n - n0) < p->nc ? (size_t)(p->d.n - n0) : p->nc;
    const mr_gemm_mat B = mr_gmm_b(&p->d, x->w, e);
    int32_t *colsum = pk->colsum ? (int32_t *)mr_gmm_packed_colsum(pk, e, tile) : NULL;
    for (int64_t kb = 0; kb < p->d.k; kb += (int64_t)p->kc) {
        const size_t kc = (size_t)(p->d.k - kb) < p->kc ? (size_t)(p->d.k - kb) : p->kc;
        mr_gmm_pack_b(p, &B, n0, cols, kb, kc, (char *)mr_gmm_packed_block(pk, e, tile, (size_t)kb / p->kc), colsum);
    }
}

moeroute_status mr_gmm_pack_weights(const mr_gmm_plan *p, const mr_view *v, mr_pool *pool, mr_gmm_packed *pk,
                                    const char *api)
{
    const mr_gmm_desc *d = &p->d;
    memset(pk, 0, sizeof *pk);
    const size_t ws = mr_gmm_slot_w(d), nw = mr_gmm_nw(d);
    moeroute_status st;
    for (size_t i = 0; i < nw; i++)
        if ((st = mr_views_check_data(api, &v[ws + i], &mr_gmm_names[MR_GMM_W], 1)) != MOEROUTE_OK) return st;
    *pk = (mr_gmm_packed){.gemm = p->gemm, .xtype = d->xtype, .k = d->k, .n = d->n, .e = d->e, .kc = p->kc,
                          .nc = p->nc, .ncp = p->ncp, .tiles = mr_ceil_div((size_t)d->n, p->nc),
                          .kblocks = mr_ceil_div((size_t)d->k, p->kc), .block_bytes = mr_align64(mr_gmm_bblock_bytes(p))};
    const int sums = mr_gmm_is_int8(d) && p->gemm->i8_a_fmt == MR_GEMM_U8;
    size_t units, bytes, sbytes = 0;
    if (mr_mul_size((size_t)d->e, pk->tiles, &units) || mr_mul_size(units, pk->kblocks, &bytes) ||
        mr_mul_size(bytes, pk->block_bytes, &bytes) || (sums && mr_mul_size(units, pk->ncp * 4u, &sbytes)) ||
        mr_add_size(bytes, mr_align64(sbytes), &pk->bytes))
        return mr_fail(MOEROUTE_ERR_TOO_LARGE, "%s: the packed weights would need more than SIZE_MAX bytes", api);
    if (pk->bytes == 0) return MOEROUTE_OK; /* K or N is 0: nothing to pack */
    pk->blocks = mr_aligned_alloc(64, mr_align64(pk->bytes));
    if (!pk->blocks)
        return mr_fail(MOEROUTE_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes of packed weights", api, pk->bytes);
    if (sums) {
        pk->colsum = (int32_t *)(pk->blocks + bytes);
        memset(pk->colsum, 0, sbytes);
    }
    mr_gmm_pack_ctx x = {p, &v[ws], pk};
    mr_pool_parallelize(pool, mr_gmm_pack_task, &x, units);
    return MOEROUTE_OK;
}

void mr_gmm_packed_free(mr_gmm_packed *pk)
{
    if (!pk) return;
    mr_free(pk->blocks);
    memset(pk, 0, sizeof *pk);
}
