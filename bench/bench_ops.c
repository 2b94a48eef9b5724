/* The operator table of moeroute_bench: argument building, ideal byte counts and result checks for every
 * data-movement operator of the native API (moeroute.h): the routing family, and the combine side
 * (MoeTokenUnpermute, MoeFinalizeRoutingV2, MoeReRouting), gating (MoeGatingTopK, MoeGatingTopKSoftmax) and the
 * element-wise expert-MLP steps (DynamicQuant, SwiGlu). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_ops.h"

/* Fixed quantization parameters: static scale 20, offset 1 (V1 doubles, V2 float tensors); dynamic modes
 * without smooth scales (scale NULL), so each source row is quantized once for all its K copies. */
#define STATIC_SCALE 20.0
#define STATIC_OFFSET 1.0

static size_t xsize(const bench_case *c) { return bench_dtype_size(c->dt); }
static size_t out_esize(const bench_call *call) { return call->op->quant_mode >= 0 ? 1 : xsize(call->c); }
static size_t count_or_one(int64_t n) { return (size_t)(n > 0 ? n : 1); }

/* ---- checks -------------------------------------------------------------------------------------------- */

/* 65 expanded rows spread evenly (first and last included) of a copy op: row i is x[perm[i] / K]. */
static const char *check_copy_rows(const bench_call *call, int64_t rows)
{
    const bench_case *c = call->c;
    if (call->op->quant_mode >= 0 || rows <= 0) return NULL;
    const size_t rb = (size_t)c->h * xsize(c);
    for (int64_t j = 0; j <= 64; j++) {
        int64_t i = j * (rows - 1) / 64;
        const unsigned char *src = (const unsigned char *)c->x + (size_t)(c->perm[i] / c->k) * rb;
        if (memcmp((const unsigned char *)call->out_x + (size_t)i * rb, src, rb)) return "expanded_x";
    }
    return NULL;
}

/* The same spread of rows of a dynamic op: scale = max|x row| / 127 in fp32 (no smooth scales). The int8
 * values themselves are the test suite's business. */
static const char *check_dynamic_scales(const bench_call *call, int64_t rows)
{
    const bench_case *c = call->c;
    if (call->op->quant_mode != 1 || rows <= 0) return NULL;
    for (int64_t j = 0; j <= 64; j++) {
        int64_t i = j * (rows - 1) / 64;
        size_t base = (size_t)(c->perm[i] / c->k) * (size_t)c->h;
        float m = 0.0f;
        for (int64_t h = 0; h < c->h; h++) {
            float v = bench_x_value(c->x, base + (size_t)h, c->dt);
            v = v < 0 ? -v : v;
            if (v > m) m = v;
        }
        if (call->out_scale[i] != m / 127.0f) return "dynamic quant scale";
    }
    return NULL;
}

/* expanded_row_idx indexed by flat position (V2 dropless, V3 row_idx_type 0 over the full range; token
 * permute's sorted_indices). */
static const char *check_row_idx_by_position(const bench_call *call)
{
    const bench_case *c = call->c;
    for (int64_t i = 0; i < c->l; i++)
        if (call->out_row[c->perm[i]] != i) return "expanded_row_idx";
    return NULL;
}

/* ---- V1: moeroute_init_routing ------------------------------------------------------------------------- */

static int prepare_v1(bench_call *call)
{
    const bench_case *c = call->c;
    const int quant = call->op->quant_mode == 0;
    moeroute_init_routing_args *a = &call->args.v1;
    call->rows_out = c->a;
    call->distinct = c->distinct_a;
    call->out_x = bench_alloc((size_t)c->a * (size_t)c->h * out_esize(call));
    call->out_row = malloc(count_or_one(c->l) * sizeof(int32_t));
    call->out_aux = malloc(count_or_one(c->l) * sizeof(int32_t));
    if (!call->out_x || !call->out_row || !call->out_aux) return -1;
    a->struct_size = sizeof *a;
    a->num_rows = c->n;
    a->k = c->k;
    a->hidden = c->h;
    a->active_num = c->active;
    a->x_dtype = c->dt;
    a->x = c->x;
    a->x_row_stride = c->h;
    a->x_col_stride = 1;
    a->expert_idx = c->expert;
    a->expert_row_stride = c->k;
    a->expert_col_stride = 1;
    a->row_idx = c->row_idx;
    a->row_idx_row_stride = c->k;
    a->row_idx_col_stride = 1;
    a->expanded_x_dtype = quant ? MOEROUTE_DTYPE_INT8 : c->dt;
    a->scale = STATIC_SCALE;
    a->offset = STATIC_OFFSET;
    a->expanded_x = call->out_x;
    a->expanded_row_idx = call->out_row;
    a->expanded_expert_idx = call->out_aux;
    const double l4 = 4.0 * (double)c->l;
    call->bytes_read = (double)c->distinct_a * (double)c->h * (double)xsize(c) + l4 + (c->row_idx ? l4 : 0.0);
    call->bytes_written = (double)c->a * (double)c->h * (double)out_esize(call) + 2.0 * l4;
    return 0;
}

static moeroute_status run_v1(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_init_routing(ctx, &call->args.v1);
}

static const char *verify_v1(const bench_call *call)
{
    const bench_case *c = call->c;
    for (int64_t i = 0; i < c->l; i++) {
        int32_t f = c->perm[i];
        int32_t sorted_row = c->row_idx ? c->row_idx[f] : (int32_t)((f % c->k) * c->n + f / c->k);
        if (call->out_aux[i] != c->sorted_expert[i]) return "expanded_expert_idx";
        if (call->out_row[sorted_row] != i) return "expanded_row_idx";
    }
    return check_copy_rows(call, c->a);
}

/* ---- V2 / QuantV2, dropless: moeroute_init_routing_v2 ------------------------------------------------------ */

static int prepare_v2(bench_call *call)
{
    const bench_case *c = call->c;
    const int qm = call->op->quant_mode;
    moeroute_init_routing_v2_args *a = &call->args.v2;
    /* active_num counts rows here (0 = all): the row count V1 writes, so both move the same rows */
    call->rows_out = c->a > 0 ? c->a : c->l;
    call->distinct = c->a > 0 ? c->distinct_a : c->distinct_l;
    call->out_x = bench_alloc((size_t)call->rows_out * (size_t)c->h * out_esize(call));
    call->out_row = malloc(count_or_one(c->l) * sizeof(int32_t));
    call->out_aux = malloc(count_or_one(c->e) * sizeof(int32_t));
    call->out_scale = qm == 1 ? malloc(count_or_one(call->rows_out) * sizeof(float)) : NULL;
    if (!call->out_x || !call->out_row || !call->out_aux || (qm == 1 && !call->out_scale)) return -1;
    call->qscale = (float)STATIC_SCALE;
    call->qoffset = (float)STATIC_OFFSET;
    a->struct_size = sizeof *a;
    a->num_rows = c->n;
    a->k = c->k;
    a->hidden = c->h;
    a->active_num = c->a;
    a->expert_num = c->e;
    a->drop_pad_mode = 0;
    a->count_flag = 1; /* inclusive cumsum, [E] int32 */
    a->quant_mode = qm;
    a->x_dtype = c->dt;
    a->x = c->x;
    a->x_row_stride = c->h;
    a->x_col_stride = 1;
    a->expert_idx = c->expert;
    a->expert_row_stride = c->k;
    a->expert_col_stride = 1;
    a->scale = qm == 0 ? &call->qscale : NULL;
    a->offset = qm == 0 ? &call->qoffset : NULL;
    a->expanded_x = call->out_x;
    a->expanded_row_idx = call->out_row;
    a->expert_tokens = call->out_aux;
    a->dynamic_quant_scale = call->out_scale;
    call->bytes_read = (double)call->distinct * (double)c->h * (double)xsize(c) + 4.0 * (double)c->l;
    call->bytes_written = (double)call->rows_out * (double)c->h * (double)out_esize(call) + 4.0 * (double)c->l +
                          4.0 * (double)c->e + (qm == 1 ? 4.0 * (double)call->rows_out : 0.0);
    return 0;
}

static moeroute_status run_v2(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_init_routing_v2(ctx, &call->args.v2);
}

static const char *verify_v2(const bench_call *call)
{
    const bench_case *c = call->c;
    const char *bad = check_row_idx_by_position(call);
    if (bad) return bad;
    for (int64_t e = 0; e < c->e; e++)
        if (call->out_aux[e] != c->e_end[e]) return "expert_tokens (cumsum)";
    if ((bad = check_copy_rows(call, call->rows_out))) return bad;
    return check_dynamic_scales(call, call->rows_out);
}

/* ---- V3: moeroute_init_routing_v3, full expert range ------------------------------------------------------ */

static int prepare_v3(bench_call *call)
{
    const bench_case *c = call->c;
    const int qm = call->op->quant_mode;
    moeroute_init_routing_v3_args *a = &call->args.v3;
    call->rows_out = c->l; /* V3 routes every copy in range (activeNum must be L) */
    call->distinct = c->distinct_l;
    call->out_x = bench_alloc((size_t)c->l * (size_t)c->h * out_esize(call));
    call->out_row = malloc(count_or_one(c->l) * sizeof(int32_t));
    call->out_tokens = malloc(count_or_one(c->e) * sizeof(int64_t));
    call->out_scale = qm == 1 ? malloc(count_or_one(c->l) * sizeof(float)) : NULL;
    if (!call->out_x || !call->out_row || !call->out_tokens || (qm == 1 && !call->out_scale)) return -1;
    a->struct_size = sizeof *a;
    a->num_rows = c->n;
    a->k = c->k;
    a->hidden = c->h;
    a->expert_num = c->e;
    a->range_start = 0;
    a->range_end = c->e;
    a->tokens_num_type = 1; /* per-expert counts, [E] int64 */
    a->quant_mode = qm;
    a->row_idx_type = 0;    /* gather: indexed by flat position */
    a->x_dtype = c->dt;
    a->x = c->x;
    a->x_row_stride = c->h;
    a->x_col_stride = 1;
    a->expert_idx = c->expert;
    a->expert_row_stride = c->k;
    a->expert_col_stride = 1;
    a->scale = NULL;
    a->expanded_x = call->out_x;
    a->expanded_row_idx = call->out_row;
    a->expert_tokens = call->out_tokens;
    a->expanded_scale = call->out_scale;
    call->bytes_read = (double)c->distinct_l * (double)c->h * (double)xsize(c) + 4.0 * (double)c->l;
    call->bytes_written = (double)c->l * (double)c->h * (double)out_esize(call) + 4.0 * (double)c->l +
                          8.0 * (double)c->e + (qm == 1 ? 4.0 * (double)c->l : 0.0);
    return 0;
}

static moeroute_status run_v3(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_init_routing_v3(ctx, &call->args.v3);
}

static const char *verify_v3(const bench_call *call)
{
    const bench_case *c = call->c;
    const char *bad = check_row_idx_by_position(call);
    if (bad) return bad;
    for (int64_t e = 0; e < c->e; e++)
        if (call->out_tokens[e] != c->e_end[e] - (e ? c->e_end[e - 1] : 0)) return "expert_tokens (count)";
    if ((bad = check_copy_rows(call, c->l))) return bad;
    return check_dynamic_scales(call, c->l);
}

/* ---- moeroute_token_permute (MoeTokenPermute) ------------------------------------------------------------ */

static int prepare_tp(bench_call *call)
{
    const bench_case *c = call->c;
    moeroute_token_permute_args *a = &call->args.tp;
    /* num_out_tokens counts rows (0 = all), as V2's active_num: the row count V1 writes */
    call->rows_out = c->a > 0 ? c->a : c->l;
    call->distinct = c->a > 0 ? c->distinct_a : c->distinct_l;
    call->out_x = bench_alloc((size_t)call->rows_out * (size_t)c->h * xsize(c));
    call->out_row = malloc(count_or_one(c->l) * sizeof(int32_t));
    if (!call->out_x || !call->out_row) return -1;
    a->struct_size = sizeof *a;
    a->num_tokens = c->n;
    a->k = c->k;
    a->hidden = c->h;
    a->num_out_tokens = c->a;
    a->tokens_dtype = c->dt;
    a->tokens = c->x;
    a->tokens_row_stride = c->h;
    a->tokens_col_stride = 1;
    a->indices_int64 = 0;
    a->indices = c->expert;
    a->indices_row_stride = c->k;
    a->indices_col_stride = 1;
    a->permuted_tokens = call->out_x;
    a->sorted_indices = call->out_row;
    call->bytes_read = (double)call->distinct * (double)c->h * (double)xsize(c) + 4.0 * (double)c->l;
    call->bytes_written = (double)call->rows_out * (double)c->h * (double)xsize(c) + 4.0 * (double)c->l;
    return 0;
}

static moeroute_status run_tp(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_token_permute(ctx, &call->args.tp);
}

static const char *verify_tp(const bench_call *call)
{
    const char *bad = check_row_idx_by_position(call); /* sorted_indices[perm[i]] = i */
    return bad ? "sorted_indices" : check_copy_rows(call, call->rows_out);
}

/* ---- moeroute_compute_expert_tokens ----------------------------------------------------------------------- */

static int prepare_et(bench_call *call)
{
    const bench_case *c = call->c;
    moeroute_compute_expert_tokens_args *a = &call->args.et;
    call->rows_out = 0;
    call->distinct = 0;
    call->out_row = malloc(count_or_one(c->e) * sizeof(int32_t));
    if (!call->out_row) return -1;
    a->struct_size = sizeof *a;
    a->length = c->l;
    a->num_experts = c->e;
    a->sorted_experts = c->sorted_expert;
    a->out = call->out_row;
    call->bytes_read = 4.0 * (double)c->l;
    call->bytes_written = 4.0 * (double)c->e;
    return 0;
}

static moeroute_status run_et(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_compute_expert_tokens(ctx, &call->args.et);
}

static const char *verify_et(const bench_call *call)
{
    const bench_case *c = call->c;
    for (int64_t e = 0; e < c->e; e++)
        if (call->out_row[e] != c->e_end[e]) return "out (cumulative count)";
    return NULL;
}

/* ---- the combine side: expert rows as token-permute leaves them ------------------------------------------------ */

/* The L expert rows [L, H] in sorted order (row i = x[perm[i] / K], what token-permute writes) and, in `inv`
 * (when not NULL), the row of every flat position (sorted_indices). Returns 0 or -1. */
static int make_expert_rows(bench_call *call, int32_t **inv)
{
    const bench_case *c = call->c;
    const size_t rb = (size_t)c->h * xsize(c);
    call->in_rows = bench_alloc(count_or_one(c->l) * rb);
    if (inv) *inv = malloc(count_or_one(c->l) * sizeof(int32_t));
    if (!call->in_rows || (inv && !*inv)) return -1;
    for (int64_t i = 0; i < c->l; i++) {
        memcpy((unsigned char *)call->in_rows + (size_t)i * rb, (const unsigned char *)c->x + (size_t)(c->perm[i] / c->k) * rb, rb);
        if (inv) (*inv)[c->perm[i]] = (int32_t)i;
    }
    return 0;
}

/* 65 tokens spread evenly: out row t (N rows of x's dtype) against want(t, h). */
static const char *check_token_rows(const bench_call *call, double (*want)(const bench_call *, int64_t, int64_t),
                                    const char *what)
{
    const bench_case *c = call->c;
    for (int64_t j = 0; c->n > 0 && j <= 64; j++) {
        const int64_t t = j * (c->n - 1) / 64;
        for (int64_t h = 0; h < c->h; h++)
            if ((double)bench_x_value(call->out_x, (size_t)(t * c->h + h), c->dt) != want(call, t, h)) return what;
    }
    return NULL;
}

/* ---- moeroute_token_unpermute (MoeTokenUnpermute) ----------------------------------------------------------- */

/* Every prob is 1 (a zero one would skip its row), so token t's result is x[t] added K times in fp32: exact for
 * f16/bf16 rows (at most 14 significant bits), the fp32 sum the library must reproduce for f32 rows. */
static int prepare_up(bench_call *call)
{
    const bench_case *c = call->c;
    moeroute_token_unpermute_args *a = &call->args.up;
    call->rows_out = c->n;
    call->distinct = c->l;
    float *probs = malloc(count_or_one(c->l) * sizeof(float));
    call->in_weights = probs;
    call->out_x = bench_alloc(count_or_one(c->n) * (size_t)c->h * xsize(c));
    if (!probs || !call->out_x || make_expert_rows(call, &call->in_idx) != 0) return -1;
    for (int64_t i = 0; i < c->l; i++) probs[i] = 1.0f;
    a->struct_size = sizeof *a;
    a->num_tokens = c->n;
    a->k = c->k;
    a->hidden = c->h;
    a->permuted_rows = c->l;
    a->tokens_dtype = c->dt;
    a->permuted_tokens = call->in_rows;
    a->permuted_row_stride = c->h;
    a->permuted_col_stride = 1;
    a->sorted_indices = call->in_idx;
    a->probs_dtype = MOEROUTE_DTYPE_FLOAT32;
    a->probs = probs;
    a->probs_row_stride = c->k;
    a->probs_col_stride = 1;
    a->out = call->out_x;
    call->bytes_read = (double)c->l * (double)c->h * (double)xsize(c) + 8.0 * (double)c->l;
    call->bytes_written = (double)c->n * (double)c->h * (double)xsize(c);
    return 0;
}

static moeroute_status run_up(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_token_unpermute(ctx, &call->args.up);
}

static double want_up(const bench_call *call, int64_t t, int64_t h)
{
    const bench_case *c = call->c;
    const float v = bench_x_value(c->x, (size_t)(t * c->h + h), c->dt);
    float acc = v;
    for (int64_t j = 1; j < c->k; j++) acc += v;
    return (double)acc;
}

static const char *verify_up(const bench_call *call) { return check_token_rows(call, want_up, "out"); }

/* ---- moeroute_finalize_routing, version 2 (MoeFinalizeRoutingV2) --------------------------------------------- */

/* As vllm-ascend calls it after V1 routing: drop_pad_mode 0 (k-major expanded_row_idx[i + k*N]), scales [N, K] in
 * x's dtype, no skip tensors or bias. Scales are 1 for slot 0 and 0 for the others: every row is still read and
 * every term still computed, and each token's result is exactly its own x row. */
static int prepare_fin(bench_call *call)
{
    const bench_case *c = call->c;
    moeroute_finalize_routing_args *a = &call->args.fin;
    const size_t sx = xsize(c);
    call->rows_out = c->n;
    call->distinct = c->l;
    int32_t *inv = NULL;
    call->in_idx = malloc(count_or_one(c->l) * sizeof(int32_t));
    call->in_weights = malloc(count_or_one(c->l) * sx);
    call->out_x = bench_alloc(count_or_one(c->n) * (size_t)c->h * sx);
    int rc = !call->in_idx || !call->in_weights || !call->out_x || make_expert_rows(call, &inv) != 0 ? -1 : 0;
    if (rc == 0) {
        const uint16_t one16 = c->dt == MOEROUTE_DTYPE_BFLOAT16 ? 0x3F80 : 0x3C00, zero16 = 0;
        const float one32 = 1.0f, zero32 = 0.0f;
        for (int64_t i = 0; i < c->n; i++)
            for (int64_t k = 0; k < c->k; k++) {
                call->in_idx[i + k * c->n] = inv[i * c->k + k];
                const void *v = sx == 4 ? (const void *)(k ? &zero32 : &one32) : (const void *)(k ? &zero16 : &one16);
                memcpy((unsigned char *)call->in_weights + (size_t)(i * c->k + k) * sx, v, sx);
            }
    }
    free(inv);
    if (rc) return rc;
    a->struct_size = sizeof *a;
    a->version = 2;
    a->drop_pad_mode = 0;
    a->num_rows = c->n;
    a->k = c->k;
    a->hidden = c->h;
    a->expanded_rows = c->l;
    a->x_dtype = c->dt;
    a->scales_dtype = c->dt;
    a->expanded_x = call->in_rows;
    a->expanded_x_row_stride = c->h;
    a->expanded_x_col_stride = 1;
    a->expanded_row_idx = call->in_idx;
    a->scales = call->in_weights;
    a->out = call->out_x;
    call->bytes_read = (double)c->l * (double)c->h * (double)sx + 4.0 * (double)c->l + (double)c->l * (double)sx;
    call->bytes_written = (double)c->n * (double)c->h * (double)sx;
    return 0;
}

static moeroute_status run_fin(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_finalize_routing(ctx, &call->args.fin);
}

static double want_fin(const bench_call *call, int64_t t, int64_t h)
{
    return (double)bench_x_value(call->c->x, (size_t)(t * call->c->h + h), call->c->dt);
}

static const char *verify_fin(const bench_call *call) { return check_token_rows(call, want_fin, "out"); }

/* ---- moeroute_re_routing (MoeReRouting) -------------------------------------------------------------------- */

/* The L copies as one rank receives them from RR_RANKS source ranks that hold equal slices of the N tokens and
 * route to all E experts, which this rank holds: rank-major (source rank, then expert, then token). The
 * expert-major result is then the sorted order: output row d = x[perm[d] / K]. float32 rows are moved as
 * bfloat16 rows of 2H elements (the operator has no FLOAT32 type; the bytes are the same). */
#define RR_RANKS 8

static int prepare_rr(bench_call *call)
{
    const bench_case *c = call->c;
    moeroute_re_routing_args *a = &call->args.rr;
    const size_t rb = (size_t)c->h * xsize(c);
    const int64_t R = RR_RANKS, E = c->e, A = c->l;
    call->rows_out = A;
    call->distinct = A;
    int32_t *counts = calloc((size_t)(R * E), sizeof(int32_t));
    call->in_weights = counts;
    call->in_idx = malloc(count_or_one(A) * sizeof(int32_t)); /* the source row of each sorted position */
    call->in_rows = bench_alloc(count_or_one(A) * rb);
    call->out_x = bench_alloc(count_or_one(A) * rb);
    call->out_scale = malloc(count_or_one(A) * sizeof(float));
    call->out_row = malloc(count_or_one(A) * sizeof(int32_t));
    call->out_aux = malloc((size_t)E * sizeof(int32_t));
    if (!counts || !call->in_idx || !call->in_rows || !call->out_x || !call->out_scale || !call->out_row ||
        !call->out_aux)
        return -1;
    int64_t src = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t e = 0; e < E; e++)
            for (int64_t i = e ? c->e_end[e - 1] : 0; i < c->e_end[e]; i++) {
                const int64_t t = c->perm[i] / c->k;
                if (t * R / (c->n ? c->n : 1) != r) continue;
                memcpy((unsigned char *)call->in_rows + (size_t)src * rb, (const unsigned char *)c->x + (size_t)t * rb,
                       rb);
                call->in_idx[i] = (int32_t)src++;
                counts[r * E + e]++;
            }
    const int wide = c->dt == MOEROUTE_DTYPE_FLOAT32;
    a->struct_size = sizeof *a;
    a->num_rows = A;
    a->hidden = wide ? 2 * c->h : c->h;
    a->num_ranks = R;
    a->num_experts = E;
    a->tokens_dtype = wide ? MOEROUTE_DTYPE_BFLOAT16 : c->dt;
    a->tokens = call->in_rows;
    a->tokens_row_stride = a->hidden;
    a->tokens_col_stride = 1;
    a->counts_int64 = 0;
    a->counts = counts;
    a->counts_row_stride = E;
    a->counts_col_stride = 1;
    a->permuted_tokens = call->out_x;
    a->permuted_scales = call->out_scale;
    a->permuted_idx = call->out_row;
    a->expert_tokens = call->out_aux;
    call->bytes_read = (double)A * (double)rb + 4.0 * (double)(R * E);
    call->bytes_written = (double)A * (double)rb + 8.0 * (double)A + 4.0 * (double)E;
    return 0;
}

static moeroute_status run_rr(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_re_routing(ctx, &call->args.rr);
}

static const char *verify_rr(const bench_call *call)
{
    const bench_case *c = call->c;
    for (int64_t d = 0; d < c->l; d++) {
        if (call->out_row[d] != call->in_idx[d]) return "permute_token_idx";
        if (call->out_scale[d] != 0.0f) return "permute_per_token_scales (no scales: 0)";
    }
    for (int64_t e = 0; e < c->e; e++)
        if (call->out_aux[e] != c->e_end[e] - (e ? c->e_end[e - 1] : 0)) return "expert_token_num";
    return check_copy_rows(call, c->l);
}

/* ---- gating: logits [N, E] in x's dtype (docs/operators/gating.md) --------------------------------------------- */

/* Logits [N, E] and a bias [E] (the benchmark's activations: magnitude 2^-6..2^2, either sign). */
static int make_logits(bench_call *call)
{
    const bench_case *c = call->c;
    const size_t n = (size_t)(c->n * c->e), sx = xsize(c);
    char *p = bench_alloc(count_or_one((int64_t)n) * sx + sx * (size_t)c->e);
    if (!p) return -1;
    bench_rng r;
    bench_rng_seed(&r, 0x6a7e);
    bench_fill_x(p, n + (size_t)c->e, c->dt, &r);
    call->in_rows = p;
    call->out_x = bench_alloc(count_or_one(c->n * c->k) * sx);
    call->out_row = malloc(count_or_one(c->n * c->k) * sizeof(int32_t));
    call->out_aux = malloc(count_or_one(c->n * c->k) * sizeof(int32_t));
    call->bytes_read = (double)(n + (size_t)c->e) * (double)sx;
    call->bytes_written = (double)(c->n * c->k) * (double)(sx + 4);
    return call->out_x && call->out_row && call->out_aux ? 0 : -1;
}

/* DeepSeek-V3's gating where the preset allows it (E divisible by 8 with k <= 4 groups' experts): sigmoid, bias,
 * 8 groups, the sum of each group's two best, 4 groups kept, renormalised, scaled by 2.5; else softmax. */
static int prepare_gt(bench_call *call)
{
    const bench_case *c = call->c;
    if (make_logits(call)) return -1;
    moeroute_gating_top_k_args *a = &call->args.gt;
    const int ds = c->e % 8 == 0 && c->e / 8 >= 2 && c->k <= 4 * (c->e / 8);
    a->struct_size = sizeof *a;
    a->num_rows = c->n, a->num_experts = c->e, a->k = c->k;
    a->k_group = ds ? 4 : 1, a->group_count = ds ? 8 : 1, a->group_select_mode = ds, a->norm_type = ds;
    a->routed_scaling_factor = ds ? 2.5 : 1.0, a->eps = 1e-20;
    a->x_dtype = c->dt, a->x = call->in_rows, a->x_row_stride = c->e, a->x_col_stride = 1;
    a->bias = ds ? (const char *)call->in_rows + (size_t)(c->n * c->e) * xsize(c) : NULL, a->bias_stride = 1;
    a->y = call->out_x, a->expert_idx = call->out_row;
    return 0;
}

static moeroute_status run_gt(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_gating_top_k(ctx, &call->args.gt);
}

static int prepare_gs(bench_call *call)
{
    const bench_case *c = call->c;
    if (make_logits(call)) return -1;
    call->bytes_read -= (double)c->e * (double)xsize(c); /* no bias */
    call->bytes_written += 4.0 * (double)(c->n * c->k);  /* rowIdx */
    moeroute_gating_top_k_softmax_args *a = &call->args.gs;
    a->struct_size = sizeof *a;
    a->version = 1;
    a->num_rows = c->n, a->num_experts = c->e, a->k = c->k;
    a->x_dtype = c->dt, a->x = call->in_rows, a->x_row_stride = c->e, a->x_col_stride = 1;
    a->y = call->out_x, a->expert_idx = call->out_row, a->row_idx = call->out_aux;
    return 0;
}

static moeroute_status run_gs(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_gating_top_k_softmax(ctx, &call->args.gs);
}

/* Every row's experts distinct and in range (the tests check the values against a model). */
static const char *verify_gating(const bench_call *call)
{
    const bench_case *c = call->c;
    for (int64_t r = 0; r < c->n; r++)
        for (int64_t j = 0; j < c->k; j++) {
            const int32_t e = call->out_row[r * c->k + j];
            if (e < 0 || e >= c->e) return "expert_idx (out of range)";
            for (int64_t i = 0; i < j; i++)
                if (call->out_row[r * c->k + i] == e) return "expert_idx (an expert twice)";
        }
    if (call->op->run == run_gs)
        for (int64_t r = 0; r < c->n; r++)
            for (int64_t j = 0; j < c->k; j++)
                if (call->out_aux[r * c->k + j] != (int32_t)(j * c->n + r)) return "row_idx";
    return NULL;
}

/* ---- the expert MLP's element-wise steps on the L expanded rows (as the routing leaves them) ------------------- */

/* DynamicQuant of the L rows [L, H] (vllm-ascend's W8A8 path quantizes the routed rows): int8 rows and a scale
 * per row. The rows are x's rows in sorted order, read in place from a copy made in prepare. */
static int prepare_dq(bench_call *call)
{
    const bench_case *c = call->c;
    if (make_expert_rows(call, NULL)) return -1;
    moeroute_dynamic_quant_args *a = &call->args.dq;
    call->out_x = bench_alloc(count_or_one(c->l * c->h));
    call->out_scale = malloc(count_or_one(c->l) * sizeof(float));
    if (!call->out_x || !call->out_scale) return -1;
    a->struct_size = sizeof *a;
    a->num_rows = c->l, a->hidden = c->h, a->x_dtype = c->dt;
    a->x = call->in_rows, a->x_row_stride = c->h, a->x_col_stride = 1;
    a->y = call->out_x, a->scale = call->out_scale;
    call->rows_out = c->l;
    call->bytes_read = (double)(c->l * c->h) * (double)xsize(c);
    call->bytes_written = (double)(c->l * c->h) + 4.0 * (double)c->l;
    return 0;
}

static moeroute_status run_dq(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_dynamic_quant(ctx, &call->args.dq);
}

/* Every scale positive and finite, and each row's largest |y| is 127 (the row's absmax maps there). */
static const char *verify_dq(const bench_call *call)
{
    const bench_case *c = call->c;
    const int8_t *y = call->out_x;
    for (int64_t r = 0; r < c->l; r += 1 + c->l / 64) {
        if (!(call->out_scale[r] > 0.0f && call->out_scale[r] < 1e30f)) return "scale";
        int m = 0;
        for (int64_t h = 0; h < c->h; h++) m = abs(y[r * c->h + h]) > m ? abs(y[r * c->h + h]) : m;
        if (m != 127 && c->h > 0) return "y (row maximum is not 127)";
    }
    return NULL;
}

/* SwiGlu of the L rows read as [L, H] = [L, 2n] (the up projection's output width is H here). */
static int prepare_sw(bench_call *call)
{
    const bench_case *c = call->c;
    if (make_expert_rows(call, NULL)) return -1;
    const int64_t n = c->h / 2;
    moeroute_swiglu_args *a = &call->args.sw;
    call->out_x = bench_alloc(count_or_one(c->l * n) * xsize(c));
    if (!call->out_x) return -1;
    a->struct_size = sizeof *a;
    a->num_rows = c->l, a->cols = 2 * n, a->x_dtype = c->dt;
    a->x = call->in_rows, a->x_row_stride = c->h, a->x_col_stride = 1;
    a->out = call->out_x;
    call->rows_out = c->l;
    call->bytes_read = (double)(c->l * 2 * n) * (double)xsize(c);
    call->bytes_written = (double)(c->l * n) * (double)xsize(c);
    return 0;
}

static moeroute_status run_sw(moeroute_context *ctx, const bench_call *call)
{
    return moeroute_swiglu(ctx, &call->args.sw);
}

/* 65 rows against silu(a) * b evaluated in double: within the output dtype's rounding (a loose bound; the
 * exact values are checked by tests/python/test_mlp_elementwise.py). */
static const char *verify_sw(const bench_call *call)
{
    const bench_case *c = call->c;
    const int64_t n = c->h / 2;
    const double tol = c->dt == MOEROUTE_DTYPE_FLOAT32 ? 1e-6 : c->dt == MOEROUTE_DTYPE_FLOAT16 ? 2e-3 : 1.6e-2;
    for (int64_t j = 0; c->l > 0 && j <= 64; j++) {
        const int64_t r = j * (c->l - 1) / 64;
        for (int64_t i = 0; i < n; i++) {
            const double a = bench_x_value(call->in_rows, (size_t)(r * c->h + i), c->dt);
            const double b = bench_x_value(call->in_rows, (size_t)(r * c->h + n + i), c->dt);
            const double want = a / (1.0 + exp(-a)) * b;
            const double got = bench_x_value(call->out_x, (size_t)(r * n + i), c->dt);
            if (fabs(got - want) > tol * fabs(want) + 1e-30) return "out (silu(a) * b)";
        }
    }
    return NULL;
}

/* ---- the table ---------------------------------------------------------------------------------------------- */

#define V1_BYTES "read D*H*sx + 4L [+ 4L row_idx]; write A*H*so + 8L"
#define V2_BYTES "read D*H*sx + 4L; write A*H*so + 4L + 4E [+ 4A scales]"
#define V3_BYTES "read D*H*sx + 4L; write L*H*so + 4L + 8E [+ 4L scales]"

const bench_op bench_ops[] = {
    {"init-routing", "moeroute_init_routing, expanded_x_dtype = x_dtype (aclnnMoeInitRouting, bit copy)", V1_BYTES,
     0, -1, prepare_v1, run_v1, verify_v1},
    {"init-routing-quant", "moeroute_init_routing, INT8, scale 20 offset 1 (aclnnMoeInitRoutingQuant)", V1_BYTES, 0,
     0, prepare_v1, run_v1, verify_v1},
    {"init-routing-v2", "moeroute_init_routing_v2, dropless, quant_mode -1, count_flag 1 (aclnnMoeInitRoutingV2)",
     V2_BYTES, 0, -1, prepare_v2, run_v2, verify_v2},
    {"init-routing-quant-v2-static", "moeroute_init_routing_v2, dropless, quant_mode 0, scale 20 offset 1, count_flag 1",
     V2_BYTES, 0, 0, prepare_v2, run_v2, verify_v2},
    {"init-routing-quant-v2-dynamic", "moeroute_init_routing_v2, dropless, quant_mode 1, no smooth scale, count_flag 1",
     V2_BYTES, 0, 1, prepare_v2, run_v2, verify_v2},
    {"init-routing-v3", "moeroute_init_routing_v3, quant_mode -1, full range, tokens_num_type 1, row_idx_type 0",
     V3_BYTES, 0, -1, prepare_v3, run_v3, verify_v3},
    {"init-routing-v3-dynamic", "moeroute_init_routing_v3, quant_mode 1, no smooth scale, full range, type 1, gather",
     V3_BYTES, 0, 1, prepare_v3, run_v3, verify_v3},
    {"token-permute", "moeroute_token_permute, int32 indices, num_out_tokens = A (aclnnMoeTokenPermute)",
     "read D*H*sx + 4L; write A*H*sx + 4L", 0, -1, prepare_tp, run_tp, verify_tp},
    {"compute-expert-tokens", "moeroute_compute_expert_tokens over the sorted expert ids (no x)",
     "read 4L; write 4E", 1, -1, prepare_et, run_et, verify_et},
    {"token-unpermute", "moeroute_token_unpermute of the L sorted rows, fp32 probs [N, K] (aclnnMoeTokenUnpermute)",
     "read L*H*sx + 4L + 4L; write N*H*sx", 0, -1, prepare_up, run_up, verify_up},
    {"finalize-routing-v2", "moeroute_finalize_routing v2, mode 0, scales only (aclnnMoeFinalizeRoutingV2)",
     "read L*H*sx + 4L + L*sx; write N*H*sx", 0, -1, prepare_fin, run_fin, verify_fin},
    {"re-routing", "moeroute_re_routing of the L rows from 8 source ranks, no scales (aclnnMoeReRouting)",
     "read L*H*sx + 32E; write L*H*sx + 8L + 4E", 0, -1, prepare_rr, run_rr, verify_rr},
    {"gating-top-k", "moeroute_gating_top_k: DeepSeek-V3's sigmoid, bias, 8 groups (top-2 sum), 4 kept (softmax "
     "where E does not allow it)", "read N*E*sx + E*sx; write N*K*(sx + 4)", 0, -1, prepare_gt, run_gt, verify_gating},
    {"gating-top-k-softmax", "moeroute_gating_top_k_softmax v1: softmax over E, top-K, rowIdx (aclnnMoeGatingTopKSoftmax)",
     "read N*E*sx; write N*K*(sx + 8)", 0, -1, prepare_gs, run_gs, verify_gating},
    {"dynamic-quant", "moeroute_dynamic_quant of the L expanded rows, no smooth scales (aclnnDynamicQuant)",
     "read L*H*sx; write L*H + 4L", 0, 1, prepare_dq, run_dq, verify_dq},
    {"swiglu", "moeroute_swiglu of the L expanded rows read as [L, 2n], n = H/2 (aclnnSwiGlu)",
     "read L*H*sx; write L*H/2*sx", 0, -1, prepare_sw, run_sw, verify_sw},
};
const size_t bench_nops = sizeof bench_ops / sizeof bench_ops[0];

int bench_op_find(const char *name)
{
    if (!strcmp(name, "copy")) name = "init-routing";
    else if (!strcmp(name, "quant")) name = "init-routing-quant";
    for (size_t i = 0; i < bench_nops; i++)
        if (!strcmp(bench_ops[i].name, name)) return (int)i;
    return -1;
}

int bench_op_prepare(const bench_op *op, const bench_case *c, bench_call *call)
{
    memset(call, 0, sizeof *call);
    call->op = op;
    call->c = c;
    if (op->prepare(call) == 0) return 0;
    bench_op_release(call);
    return -1;
}

void bench_op_release(bench_call *call)
{
    free(call->in_rows);
    free(call->in_idx);
    free(call->in_weights);
    call->in_rows = call->in_weights = NULL;
    call->in_idx = NULL;
    free(call->out_x);
    free(call->out_row);
    free(call->out_aux);
    free(call->out_tokens);
    free(call->out_scale);
    call->out_x = NULL;
    call->out_row = call->out_aux = NULL;
    call->out_tokens = NULL;
    call->out_scale = NULL;
}
