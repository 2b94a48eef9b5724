/*
 * gmm_cmds.c -- the moeroute CLI commands of the grouped matmuls (docs/operators/grouped_matmul.md,
 * grouped_matmul_swiglu_quant.md):
 *
 *   moeroute grouped-matmul                GroupedMatmulV4            (native moeroute_grouped_matmul)
 *   moeroute grouped-matmul-swiglu-quant   GroupedMatmulSwigluQuant   (moeroute_grouped_matmul_swiglu_quant)
 *
 * Same contract as the other operator commands (cli/README.md): options named after the operator's arguments,
 * exit status 0 ok / 1 refused / 2 usage / 3 file, every input read and the operator run before anything is
 * written; outputs are staged and committed as a set by main. x is 2-D (C or Fortran order, read through its
 * strides); the weight is [E, K, N] in C order, or with --weight-nz the 5-D FRACTAL_NZ storage
 * [E, ceil(N/32), ceil(K/16), 16, 32] int8; the side inputs are C order. Shapes the native API cannot see (it
 * takes sizes from its arguments) are checked here first and refused with exit 1. Rows past the last group
 * are not written by the operator: they are zero in the output files.
 */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

typedef struct {
    const char *x, *weight, *group_list, *list_type, *bias, *scale, *pts, *wscale, *xscale, *out, *threads, *isa;
    int nz, bf16, verbose, help;
} gmm_opts;

#define V(name, member) CLI_VALUE_OPT(name, gmm_opts, member)
#define COMMON_OPTS                                                                                          \
    V("x", x), V("weight", weight), V("group-list", group_list), V("out", out), V("threads", threads),      \
        V("isa", isa), CLI_FLAG_OPT("weight-nz", gmm_opts, nz), CLI_FLAG_OPT("bf16", gmm_opts, bf16)
static const cli_opt GMM_OPTS[] = {V("group-list-type", list_type), V("bias", bias), V("scale", scale),
                                   V("per-token-scale", pts), COMMON_OPTS};
static const cli_opt GSQ_OPTS[] = {V("weight-scale", wscale), V("x-scale", xscale), COMMON_OPTS};
#undef V
#undef COMMON_OPTS
#define DT(d) (1u << (unsigned)(d))

/* the inputs of a call in cli_state.in */
enum { IN_X, IN_W, IN_G, IN_BIAS, IN_SCALE, IN_PTS };

/* --x, --weight and --out are required ("missing --out DIR" also for an empty --out) */
static const cli_required GMM_REQ[] = {CLI_REQUIRED(gmm_opts, x, "--x FILE", NULL),
                                       CLI_REQUIRED(gmm_opts, weight, "--weight FILE", NULL),
                                       CLI_REQUIRED(gmm_opts, out, "--out DIR", "missing --out DIR"),
                                       {0, NULL, NULL}};

/* An input (NULL path: absent, 0) in C order with a dtype of the DT() set `dtypes` and the shape `shape`
 * (entries < 0: any; ndim < 0: rank not checked). 0, EXIT_IO (file, dtype, order) or EXIT_REFUSED (shape). */
static int read_in(const char *cmd, const char *opt, const char *path, npy_array *a, unsigned dtypes, int ndim,
                   const int64_t *shape, const char *what)
{
    if (!path) return 0;
    char hint[128];
    snprintf(hint, sizeof hint, "--%s must be %s", opt, what);
    int rc = cli_read_input(cmd, path, a, hint);
    if (rc) return rc;
    int multi = 0;
    for (int d = 0; d < a->ndim; d++) multi += a->shape[d] > 1;
    if (!(dtypes & DT(a->dtype)) || (a->fortran_order && multi > 1)) {
        fprintf(stderr, "moeroute %s: %s: --%s must be %s in C order; the file holds '%s'%s\n", cmd, path, opt, what,
                a->descr, a->fortran_order ? " in Fortran order" : "");
        return EXIT_IO;
    }
    int ok = ndim < 0 || a->ndim == ndim;
    for (int d = 0; ok && ndim > 0 && d < ndim; d++) ok = shape[d] < 0 || a->shape[d] == shape[d];
    if (ok) return 0;
    char want[160] = "", got[160] = "";
    for (int d = 0, at = 0, bt = 0; d < (ndim > 0 ? ndim : 0) || d < a->ndim; d++) {
        if (d < ndim && at < (int)sizeof want)
            at += snprintf(want + at, sizeof want - (size_t)at, d ? ", %lld" : "%lld", (long long)shape[d]);
        if (d < a->ndim && bt < (int)sizeof got)
            bt += snprintf(got + bt, sizeof got - (size_t)bt, d ? ", %lld" : "%lld", (long long)a->shape[d]);
    }
    return cli_refused(cmd, "--%s has shape [%s], the call needs [%s] (-1: any)", opt, got, want);
}

/* x (2-D; int8 only when int8_only) and the weight: [E, K, N] C order, or the 5-D NZ storage with --weight-nz
 * (N then comes from n_hint when >= 0, else 32 * N1). Fills *e, *k, *n. */
static int read_x_weight(const char *cmd, const gmm_opts *o, cli_state *s, int int8_only, moeroute_dtype *xdt,
                         int64_t n_hint, int64_t *e, int64_t *k, int64_t *n)
{
    int rc = cli_read_input(cmd, o->x, &s->in[IN_X], "--x must be int8 ('|i1'), float16, float32 or '<u2'");
    /* --bf16 names '<u2' files bfloat16; an int8 x next to a bfloat16 scale is still int8 */
    if (!rc) rc = cli_x_dtype(cmd, o->x, &s->in[IN_X], o->bf16 && s->in[IN_X].dtype != NPY_DT_I1, 1, xdt);
    if (rc) return rc;
    if (int8_only && *xdt != MOEROUTE_DTYPE_INT8) {
        fprintf(stderr, "moeroute %s: %s: --x must be int8 ('|i1'), the file holds '%s'\n", cmd, o->x,
                s->in[IN_X].descr);
        return EXIT_IO;
    }
    *k = s->in[IN_X].shape[1];
    const unsigned wdt = DT(s->in[IN_X].dtype);
    if (!o->nz) {
        const int64_t any3[3] = {-1, *k, -1};
        if ((rc = read_in(cmd, "weight", o->weight, &s->in[IN_W], wdt, 3, any3, "[E, K, N] with x's dtype")))
            return rc;
        *e = s->in[IN_W].shape[0], *n = s->in[IN_W].shape[2];
        return 0;
    }
    if (*xdt != MOEROUTE_DTYPE_INT8) {
        fprintf(stderr, "moeroute %s: --weight-nz takes int8 x and weights only\n", cmd);
        return EXIT_REFUSED;
    }
    const int64_t any5[5] = {-1, -1, (*k + 15) / 16, 16, 32};
    if ((rc = read_in(cmd, "weight", o->weight, &s->in[IN_W], wdt, 5, any5, "the int8 NZ storage [E, N1, K1, 16, 32]")))
        return rc;
    *e = s->in[IN_W].shape[0];
    *n = n_hint >= 0 ? n_hint : 32 * s->in[IN_W].shape[1];
    if ((*n + 31) / 32 != s->in[IN_W].shape[1])
        return cli_refused(cmd, "the NZ weight has N1 = %lld blocks of 32 columns, N = %lld needs %lld",
                           (long long)s->in[IN_W].shape[1], (long long)*n, (long long)((*n + 31) / 32));
    return 0;
}

/* N as the --scale / --bias / --weight-scale file says (the last dim of the first given), -1 when none is. */
static int64_t n_from_side(const char *cmd, const char *path, npy_array *a, int *rc)
{
    if (!path || *rc) return -1;
    *rc = cli_read_input(cmd, path, a, "a float or int32 array");
    return *rc || a->ndim < 1 ? -1 : a->shape[a->ndim - 1];
}

static moeroute_status call_gmm(moeroute_context *c, const void *a) { return moeroute_grouped_matmul(c, a); }
static moeroute_status call_gsq(moeroute_context *c, const void *a) { return moeroute_grouped_matmul_swiglu_quant(c, a); }

static void weight_strides(const gmm_opts *o, int64_t k, int64_t n, int64_t *se, int64_t *sk, int64_t *sn, int32_t *fmt)
{
    *se = o->nz ? 0 : k * n, *sk = o->nz ? 0 : n, *sn = o->nz ? 0 : 1, *fmt = o->nz ? 29 : 0;
}

/* ---- grouped-matmul ------------------------------------------------------------------------------------------ */

static void usage_gmm(FILE *f)
{
    fprintf(f, "usage: moeroute grouped-matmul --x X.npy --weight W.npy [--group-list G.npy] [--group-list-type 0|1|2]\n"
               "           [--bias B.npy] [--scale S.npy [--per-token-scale P.npy]] [--weight-nz] --out DIR\n"
               "           [--bf16] [--threads T] [--isa NAME] [-v]\n"
               "\n"
               "Grouped matmul, MoE subset (aclnnGroupedMatmulV4, torch_npu npu_grouped_matmul): the rows of group g\n"
               "times their expert's weight. float: fp32 fma in ascending k (+ bias), rounded once to x's dtype; int8:\n"
               "exact int32 sums (+ int32 bias), or with --scale f32(sum) * scale[e][n] (* per-token scale[m]) rounded\n"
               "to bfloat16 (bfloat16 scale) or float16 (float32 scale). Rows past the last group are zeros.\n"
               "\n"
               "inputs:\n"
               "  --x X.npy          [M, K] float16, float32, bfloat16 bits ('<u2', --bf16) or int8 ('|i1')\n"
               "  --weight W.npy     [E, K, N] in x's dtype; with --weight-nz the int8 FRACTAL_NZ storage\n"
               "                     [E, ceil(N/32), ceil(K/16), 16, 32] (N from --scale / --bias, else 32 * N1)\n"
               "  --group-list G     int64 ('<i8'): [E] cumsum (type 0, the default) or counts (1), [G, 2] (expert,\n"
               "                     count) pairs (2); may be omitted when E = 1\n"
               "  --bias B           [E, N]: float16 for float16 x, float32 for bfloat16 / float32 x, int32 for int8 x\n"
               "  --scale S          int8 x: [E, N] float32 or bfloat16 bits ('<u2', --bf16)\n"
               "  --per-token-scale P  [M] float32 (with --scale)\n"
               "outputs (in DIR):\n"
               "  out.npy            [M, N]: x's dtype; int8 x: int32, float16 (float32 scale) or bfloat16 bits\n"
               CLI_EXEC_HELP "%s", CLI_EXIT_HELP);
}

static int run_gmm(int argc, char **argv)
{
    static const char cmd[] = "grouped-matmul";
    gmm_opts o;
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, GMM_OPTS, o, usage_gmm, GMM_REQ);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t ltype = 0;
    if (o.list_type && (cli_parse_i64(o.list_type, &ltype) || ltype < 0 || ltype > 2))
        return cli_usage_error(cmd, "--group-list-type must be 0, 1 or 2, got '%s'", o.list_type);
    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype xdt;
    int64_t E, K, N;
    int64_t n_hint = n_from_side(cmd, o.scale, &s.in[IN_SCALE], &rc);
    if (n_hint < 0) n_hint = n_from_side(cmd, o.bias, &s.in[IN_BIAS], &rc);
    npy_free(&s.in[IN_SCALE]), npy_free(&s.in[IN_BIAS]);
    if (rc || (rc = read_x_weight(cmd, &o, &s, 0, &xdt, n_hint, &E, &K, &N))) goto done;
    const int64_t M = s.in[IN_X].shape[0], en[2] = {E, N}, gl2[2] = {-1, 2}, any1 = -1;
    const int i8 = xdt == MOEROUTE_DTYPE_INT8;
    const unsigned bdt = i8 ? DT(NPY_DT_I4) : xdt == MOEROUTE_DTYPE_FLOAT16 ? DT(NPY_DT_F2) : DT(NPY_DT_F4);
    const unsigned sdt = DT(NPY_DT_F4) | (o.bf16 ? DT(NPY_DT_U2) : 0u);
    if ((rc = read_in(cmd, "group-list", o.group_list, &s.in[IN_G], DT(NPY_DT_I8), ltype == 2 ? 2 : 1,
                      ltype == 2 ? gl2 : &any1, "int64 ('<i8')")) ||
        (rc = read_in(cmd, "bias", o.bias, &s.in[IN_BIAS], bdt, 2, en, "[E, N] of the bias dtype of x")) ||
        (rc = read_in(cmd, "scale", o.scale, &s.in[IN_SCALE], sdt, 2, en, "[E, N] float32 or bfloat16 bits")) ||
        (rc = read_in(cmd, "per-token-scale", o.pts, &s.in[IN_PTS], DT(NPY_DT_F4), 1, &M, "[M] float32")))
        goto done;
    const moeroute_dtype sc_dt = o.scale && s.in[IN_SCALE].dtype == NPY_DT_U2 ? MOEROUTE_DTYPE_BFLOAT16
                                                                                : MOEROUTE_DTYPE_FLOAT32;
    const moeroute_dtype odt = !i8 ? xdt : !o.scale ? MOEROUTE_DTYPE_INT32
                                   : sc_dt == MOEROUTE_DTYPE_BFLOAT16 ? MOEROUTE_DTYPE_BFLOAT16 : MOEROUTE_DTYPE_FLOAT16;
    const size_t os = cli_esize_of(odt);
    if ((rc = cli_alloc_output(cmd, (size_t)(M * N) * os, &s.out[0]))) goto done;
    moeroute_grouped_matmul_args a = {
        .struct_size = sizeof a, .num_rows = M, .k = K, .n = N, .num_experts = E, .x_dtype = xdt,
        .x = s.in[IN_X].data, .weight = s.in[IN_W].data, .group_list_type = (int32_t)ltype,
        .num_groups = o.group_list ? s.in[IN_G].shape[0] : 0,
        .group_list = o.group_list ? s.in[IN_G].data : NULL, .bias = o.bias ? s.in[IN_BIAS].data : NULL,
        .scale_dtype = sc_dt, .scale = o.scale ? s.in[IN_SCALE].data : NULL,
        .per_token_scale = o.pts ? s.in[IN_PTS].data : NULL, .out_dtype = odt, .out = s.out[0]};
    cli_strides_2d(&s.in[IN_X], &a.x_row_stride, &a.x_col_stride);
    weight_strides(&o, K, N, &a.weight_expert_stride, &a.weight_k_stride, &a.weight_n_stride, &a.weight_format);
    if ((rc = cli_run_native(cmd, o.threads, o.isa, &s.ctx, call_gmm, &a))) goto done;
    const cli_out_file file = {"out.npy", cli_npy_of(odt), 2, {M, N}, s.out[0]};
    rc = cli_write_outputs(cmd, o.out, &file, 1, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- grouped-matmul-swiglu-quant ------------------------------------------------------------------------------ */

static void usage_gsq(FILE *f)
{
    fprintf(f, "usage: moeroute grouped-matmul-swiglu-quant --x X.npy --weight W.npy --group-list G.npy\n"
               "           --weight-scale S.npy --x-scale A.npy [--weight-nz] --out DIR [--bf16] [--threads T]\n"
               "           [--isa NAME] [-v]\n"
               "\n"
               "W8A8 grouped matmul fused with dequant, SwiGLU and per-row int8 quantization\n"
               "(aclnnGroupedMatmulSwigluQuant, torch_npu npu_grouped_matmul_swiglu_quant): for the rows of group g,\n"
               "c = f32(x . W[g]) * A[m] * S[g]; s = silu(c[:N/2]) * c[N/2:]; scale = max|s| / 127;\n"
               "y = int8(fp16(s * (1 / scale))). Rows past the last group are zeros.\n"
               "\n"
               "inputs:\n"
               "  --x X.npy          [M, K] int8 ('|i1')\n"
               "  --weight W.npy     [E, K, N] int8; with --weight-nz the FRACTAL_NZ storage [E, ceil(N/32),\n"
               "                     ceil(K/16), 16, 32] (N from --weight-scale)\n"
               "  --group-list G     [G] int64 ('<i8') cumsum, G <= E (group g uses weight g)\n"
               "  --weight-scale S   [E, N] float32, float16 or bfloat16 bits ('<u2', --bf16)\n"
               "  --x-scale A        [M] float32\n"
               "outputs (in DIR):\n"
               "  y.npy              [M, N/2] int8\n"
               "  scale.npy          [M] float32\n"
               CLI_EXEC_HELP "%s", CLI_EXIT_HELP);
}

static int run_gsq(int argc, char **argv)
{
    static const char cmd[] = "grouped-matmul-swiglu-quant";
    gmm_opts o;
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, GSQ_OPTS, o, usage_gsq, GMM_REQ);
    if (rc) return rc < 0 ? 0 : rc;
    static const cli_required req[] = {CLI_REQUIRED(gmm_opts, group_list, "--group-list FILE", NULL),
                                       CLI_REQUIRED(gmm_opts, wscale, "--weight-scale FILE", NULL),
                                       CLI_REQUIRED(gmm_opts, xscale, "--x-scale FILE", NULL), {0, NULL, NULL}};
    if ((rc = cli_check_required(cmd, &o, req))) return rc;
    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype xdt;
    int64_t E, K, N;
    const int64_t n_hint = n_from_side(cmd, o.wscale, &s.in[IN_SCALE], &rc);
    npy_free(&s.in[IN_SCALE]);
    if (rc || (rc = read_x_weight(cmd, &o, &s, 1, &xdt, n_hint, &E, &K, &N))) goto done;
    const int64_t M = s.in[IN_X].shape[0], en[2] = {E, N}, any1 = -1;
    const unsigned sdt = DT(NPY_DT_F4) | DT(NPY_DT_F2) | (o.bf16 ? DT(NPY_DT_U2) : 0u);
    if ((rc = read_in(cmd, "group-list", o.group_list, &s.in[IN_G], DT(NPY_DT_I8), 1, &any1, "[G] int64 ('<i8')")) ||
        (rc = read_in(cmd, "weight-scale", o.wscale, &s.in[IN_SCALE], sdt, 2, en,
                      "[E, N] float32, float16 or bfloat16 bits")) ||
        (rc = read_in(cmd, "x-scale", o.xscale, &s.in[IN_PTS], DT(NPY_DT_F4), 1, &M, "[M] float32")))
        goto done;
    if (N % 2) {
        rc = cli_refused(cmd, "N = %lld must be even (SwiGLU splits it in halves)", (long long)N);
        goto done;
    }
    if ((rc = cli_alloc_output(cmd, (size_t)(M * (N / 2)), &s.out[0])) ||
        (rc = cli_alloc_output(cmd, (size_t)M * 4, &s.out[1]))) goto done;
    const npy_dtype st = s.in[IN_SCALE].dtype;
    moeroute_grouped_matmul_swiglu_quant_args a = {
        .struct_size = sizeof a, .num_rows = M, .k = K, .n = N, .num_experts = E, .x = s.in[IN_X].data,
        .weight = s.in[IN_W].data,
        .weight_scale_dtype = st == NPY_DT_F2 ? MOEROUTE_DTYPE_FLOAT16 : st == NPY_DT_U2 ? MOEROUTE_DTYPE_BFLOAT16
                                                                                       : MOEROUTE_DTYPE_FLOAT32,
        .weight_scale = s.in[IN_SCALE].data, .x_scale = s.in[IN_PTS].data, .num_groups = s.in[IN_G].shape[0],
        .group_list = s.in[IN_G].data, .output = s.out[0], .output_scale = s.out[1]};
    cli_strides_2d(&s.in[IN_X], &a.x_row_stride, &a.x_col_stride);
    weight_strides(&o, K, N, &a.weight_expert_stride, &a.weight_k_stride, &a.weight_n_stride, &a.weight_format);
    if ((rc = cli_run_native(cmd, o.threads, o.isa, &s.ctx, call_gsq, &a))) goto done;
    const cli_out_file files[] = {{"y.npy", NPY_DT_I1, 2, {M, N / 2}, s.out[0]},
                                  {"scale.npy", NPY_DT_F4, 1, {M}, s.out[1]}};
    rc = cli_write_outputs(cmd, o.out, files, 2, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

const cli_command CLI_GMM_COMMANDS[] = {
    {"grouped-matmul", "GroupedMatmulV4: rows of each group times their expert's weight", run_gmm, usage_gmm},
    {"grouped-matmul-swiglu-quant", "GroupedMatmulSwigluQuant: W8A8 matmul, SwiGLU, per-row int8", run_gsq,
     usage_gsq},
    {NULL, NULL, NULL, NULL},
};
