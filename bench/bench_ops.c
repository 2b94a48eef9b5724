/* The operator table of moeroute_bench: argument building, ideal byte counts and result checks for every
 * data-movement operator of the native API (moeroute.h). */
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
