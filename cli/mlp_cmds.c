/*
 * mlp_cmds.c -- the moeroute CLI commands of the element-wise expert-MLP operators (docs/operators/):
 *
 *   moeroute dynamic-quant          DynamicQuantV2        (native moeroute_dynamic_quant)
 *   moeroute swiglu                 SwiGlu                (moeroute_swiglu), split along the last dim
 *   moeroute dequant-swiglu-quant   DequantSwigluQuant    (moeroute_dequant_swiglu_quant)
 *
 * Same contract as the other operator commands (cli/README.md): options named after the operator's arguments,
 * exit status 0 ok / 1 refused / 2 usage / 3 file, every input read and the operator run before anything is
 * written; outputs are staged and committed as a set by main. x is 2-D (C or Fortran order, read through its
 * strides); the small side inputs (scales, bias, group index) are 1-D or 2-D in C order. '<u2' arrays hold raw
 * bfloat16 bits and are read as such only with --bf16. Element counts that must agree are checked here, before
 * the call (the native API takes the arrays' sizes from its arguments): a mismatch is refused with exit 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

typedef struct {
    const char *x, *smooth, *group, *wscale, *ascale, *bias, *qscale, *qoffset, *mode, *out, *threads, *isa, *dst;
    int bf16, left, verbose, help;
} mlp_opts;

#define V(name, member) CLI_VALUE_OPT(name, mlp_opts, member)
#define EXEC_OPTS V("x", x), V("out", out), V("threads", threads), V("isa", isa), CLI_FLAG_OPT("bf16", mlp_opts, bf16)
static const cli_opt DQ_OPTS[] = {V("smooth-scales", smooth), V("group-index", group), V("dst-type", dst), EXEC_OPTS};
static const cli_opt SWG_OPTS[] = {EXEC_OPTS};
static const cli_opt DSQ_OPTS[] = {
    V("weight-scale", wscale), V("activation-scale", ascale), V("bias", bias), V("quant-scale", qscale),
    V("quant-offset", qoffset), V("group-index", group), V("quant-mode", mode),
    CLI_FLAG_OPT("activate-left", mlp_opts, left), EXEC_OPTS};
#undef V
#undef EXEC_OPTS

/* the inputs of a call in cli_state.in */
enum { IN_X, IN_A, IN_B, IN_C, IN_D, IN_E, IN_G };

/* --x and --out are required ("missing --out DIR" also for an empty --out) */
static const cli_required MLP_REQ[] = {CLI_REQUIRED(mlp_opts, x, "--x FILE", NULL),
                                       CLI_REQUIRED(mlp_opts, out, "--out DIR", "missing --out DIR"),
                                       {0, NULL, NULL}};

/* x: 2-D, float16 / float32 / bf16 bits (with --bf16), or int32 when allow_i32. */
static int read_x(const char *cmd, const mlp_opts *o, cli_state *s, int allow_i32, moeroute_dtype *dt)
{
    int rc = cli_read_input(cmd, o->x, &s->in[IN_X], "--x must be float16 ('<f2'), float32 ('<f4') or '<u2'");
    if (rc) return rc;
    if (allow_i32 && s->in[IN_X].dtype == NPY_DT_I4 && s->in[IN_X].ndim == 2) {
        *dt = MOEROUTE_DTYPE_INT32;
        return 0;
    }
    return cli_x_dtype(cmd, o->x, &s->in[IN_X], o->bf16, 0, dt);
}

/* An optional side input (NULL path: not given): C order, 1-D or 2-D, dtype `want` (or int64 when want is int32
 * and allow_i64), `count` elements (-1: any; then *count_out gets it). 0, EXIT_IO or EXIT_REFUSED. */
static int read_side(const char *cmd, const char *opt, const char *path, npy_array *a, npy_dtype want, int allow_i64,
                     int64_t count, const char *what)
{
    if (!path) return 0;
    char hint[128];
    snprintf(hint, sizeof hint, "--%s must be %s", opt, what);
    int rc = cli_read_input(cmd, path, a, hint);
    if (rc) return rc;
    const int dt_ok = a->dtype == want || (allow_i64 && a->dtype == NPY_DT_I8);
    if (!dt_ok || a->ndim < 1 || a->ndim > 2 || (a->fortran_order && a->ndim == 2 && a->shape[0] > 1 && a->shape[1] > 1)) {
        fprintf(stderr, "moeroute %s: %s: --%s must be %s, 1-D or 2-D in C order; the file holds '%s' with %d "
                        "dimension%s\n", cmd, path, opt, what, a->descr, a->ndim, a->ndim == 1 ? "" : "s");
        return EXIT_IO;
    }
    if (count >= 0 && (int64_t)a->count != count) {
        fprintf(stderr, "moeroute %s: input refused: --%s has %zu elements, the call needs %lld\n", cmd, opt, a->count,
                (long long)count);
        return EXIT_REFUSED;
    }
    return 0;
}

/* y [rows, cols] int8 and scale [rows] float32 (the quantizing commands' outputs) */
static int write_quant(const char *cmd, const mlp_opts *o, const cli_state *s, int64_t rows, int64_t cols)
{
    const cli_out_file files[] = {{"y.npy", NPY_DT_I1, 2, {rows, cols}, s->out[0]},
                                  {"scale.npy", NPY_DT_F4, 1, {rows}, s->out[1]}};
    return cli_write_outputs(cmd, o->out, files, 2, o->verbose);
}

/* the native entry points with a common signature for cli_run_native */
static moeroute_status call_dq(moeroute_context *c, const void *a) { return moeroute_dynamic_quant(c, a); }
static moeroute_status call_swg(moeroute_context *c, const void *a) { return moeroute_swiglu(c, a); }
static moeroute_status call_dsq(moeroute_context *c, const void *a) { return moeroute_dequant_swiglu_quant(c, a); }

/* ---- dynamic-quant -------------------------------------------------------------------------------------------- */

static void usage_dq(FILE *f)
{
    fprintf(f, "usage: moeroute dynamic-quant --x X.npy [--smooth-scales S.npy [--group-index G.npy]] --out DIR\n"
               "                              [--dst-type int8|int4|int32] [--bf16] [--threads T] [--isa NAME] [-v]\n"
               "\n"
               "Per-row symmetric int8 quantization (aclnnDynamicQuantV2, torch_npu npu_dynamic_quant; exact):\n"
               "v = x * smooth, y = rint(v * 127 / max|v|), scale = the per-row dequantization scale.\n"
               "\n"
               "inputs:\n"
               "  --x X.npy          [rows, H] float16 ('<f2'), float32 ('<f4') or raw bfloat16 bits ('<u2', --bf16)\n"
               "  --smooth-scales S  [H] (or [G, H] with --group-index), x's dtype\n"
               "  --group-index G    [G] int32 ('<i4'): ascending end offsets of row groups, the last = rows\n"
               "  --dst-type T       int8 (default); int4: values rint(v * 7 / max|v|) in [-8, 7], two per byte\n"
               "                     (H even); int32: int4 values eight per int32 (H %% 8 == 0); element 0 in the\n"
               "                     low nibble\n"
               "outputs (in DIR):\n"
               "  y.npy              [rows, H] int8; int4: [rows, H/2] int8 ('|i1') packed bytes; int32: [rows, H/8]\n"
               "                     int32 ('<i4')\n"
               "  scale.npy          [rows] float32\n"
               CLI_EXEC_HELP "%s", CLI_EXIT_HELP);
}

static int run_dq(int argc, char **argv)
{
    static const char cmd[] = "dynamic-quant";
    mlp_opts o;
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, DQ_OPTS, o, usage_dq, MLP_REQ);
    if (rc) return rc < 0 ? 0 : rc;
    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype dt;
    if ((rc = read_x(cmd, &o, &s, 0, &dt))) goto done;
    const int64_t rows = s.in[IN_X].shape[0], H = s.in[IN_X].shape[1];
    if (o.group && !o.smooth) {
        rc = cli_refused(cmd, "--group-index needs --smooth-scales (a row of smooth factors per group)");
        goto done;
    }
    if ((rc = read_side(cmd, "group-index", o.group, &s.in[IN_G], NPY_DT_I4, 0, -1, "int32 ('<i4')"))) goto done;
    const int64_t G = o.group ? (int64_t)s.in[IN_G].count : 0;
    if ((rc = read_side(cmd, "smooth-scales", o.smooth, &s.in[IN_A], cli_npy_of(dt), 0, (G ? G : 1) * H,
                        "x's dtype")))
        goto done;
    /* --dst-type: the y packing of moeroute_dynamic_quant_args (docs/operators/dynamic_quant.md "INT4 outputs") */
    int32_t packing = 0;
    if (o.dst && strcmp(o.dst, "int8") != 0) {
        if (!strcmp(o.dst, "int4")) packing = 1;
        else if (!strcmp(o.dst, "int32")) packing = 2;
        else {
            rc = cli_usage_error(cmd, "--dst-type must be int8, int4 or int32, got '%s'", o.dst);
            goto done;
        }
    }
    const int64_t ycols = packing == 2 ? H / 8 : packing == 1 ? H / 2 : H;
    if ((rc = cli_alloc_output(cmd, (size_t)(rows * H), &s.out[0])) ||
        (rc = cli_alloc_output(cmd, (size_t)rows * 4, &s.out[1])))
        goto done;
    moeroute_dynamic_quant_args a = {.struct_size = sizeof a, .num_rows = rows, .hidden = H, .x_dtype = dt,
                                     .x = s.in[IN_X].data, .num_groups = G,
                                     .smooth_scales = o.smooth ? s.in[IN_A].data : NULL,
                                     .group_index = o.group ? s.in[IN_G].data : NULL, .y = s.out[0],
                                     .scale = s.out[1], .y_packing = packing};
    cli_strides_2d(&s.in[IN_X], &a.x_row_stride, &a.x_col_stride);
    if ((rc = cli_run_native(cmd, o.threads, o.isa, &s.ctx, call_dq, &a))) goto done;
    const cli_out_file files[] = {{"y.npy", packing == 2 ? NPY_DT_I4 : NPY_DT_I1, 2, {rows, ycols}, s.out[0]},
                                  {"scale.npy", NPY_DT_F4, 1, {rows}, s.out[1]}};
    rc = cli_write_outputs(cmd, o.out, files, 2, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- swiglu --------------------------------------------------------------------------------------------------- */

static void usage_swg(FILE *f)
{
    fprintf(f, "usage: moeroute swiglu --x X.npy --out DIR [--bf16] [--threads T] [--isa NAME] [-v]\n"
               "\n"
               "SwiGLU along the last dim (aclnnSwiGlu with dim -1, torch_npu npu_swiglu): out = silu(A) * B, A and B\n"
               "the first and second half of each row, in fp32 (SiLU within 1 ulp, the same bits on every CPU), rounded\n"
               "once to x's dtype.\n"
               "\n"
               "inputs:\n"
               "  --x X.npy          [rows, 2n] float16 ('<f2'), float32 ('<f4') or raw bfloat16 bits ('<u2', --bf16)\n"
               "outputs (in DIR):\n"
               "  out.npy            [rows, n] in x's dtype\n"
               CLI_EXEC_HELP "%s", CLI_EXIT_HELP);
}

static int run_swg(int argc, char **argv)
{
    static const char cmd[] = "swiglu";
    mlp_opts o;
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, SWG_OPTS, o, usage_swg, MLP_REQ);
    if (rc) return rc < 0 ? 0 : rc;
    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype dt;
    if ((rc = read_x(cmd, &o, &s, 0, &dt))) goto done;
    const int64_t rows = s.in[IN_X].shape[0], cols = s.in[IN_X].shape[1];
    const size_t es = cli_esize_of(dt);
    if (cols % 2) {
        rc = cli_refused(cmd, "the last dim of x must be even (it splits into two halves)");
        goto done;
    }
    if ((rc = cli_alloc_output(cmd, (size_t)(rows * (cols / 2)) * es, &s.out[0]))) goto done;
    moeroute_swiglu_args a = {.struct_size = sizeof a, .num_rows = rows, .cols = cols, .x_dtype = dt,
                              .x = s.in[IN_X].data, .out = s.out[0]};
    cli_strides_2d(&s.in[IN_X], &a.x_row_stride, &a.x_col_stride);
    if ((rc = cli_run_native(cmd, o.threads, o.isa, &s.ctx, call_swg, &a))) goto done;
    const cli_out_file file = {"out.npy", cli_npy_of(dt), 2, {rows, cols / 2}, s.out[0]};
    rc = cli_write_outputs(cmd, o.out, &file, 1, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- dequant-swiglu-quant ------------------------------------------------------------------------------------- */

static void usage_dsq(FILE *f)
{
    fprintf(f, "usage: moeroute dequant-swiglu-quant --x X.npy [--weight-scale W.npy] [--activation-scale A.npy]\n"
               "           [--bias B.npy] [--quant-scale Q.npy] [--quant-offset O.npy] [--group-index G.npy]\n"
               "           [--activate-left] [--quant-mode static|dynamic] --out DIR [--bf16] [--threads T] [--isa NAME]\n"
               "\n"
               "Dequantization, SwiGLU and int8 quantization (aclnnDequantSwigluQuant, torch_npu\n"
               "npu_dequant_swiglu_quant): v = x * W[g] * A[r] + B[g]; s = silu(act) * other (act = the first half with\n"
               "--activate-left, else the second); dynamic: s *= Q[g], scale = max|s| / 127, y = rint(s / scale);\n"
               "static (the default): y = rint(s * Q[g] + O[g]). Rows past the last group are not written (zeros).\n"
               "\n"
               "inputs:\n"
               "  --x X.npy          [rows, 2n] int32 ('<i4'), float16 ('<f2') or bfloat16 bits ('<u2', --bf16)\n"
               "  --weight-scale W   [2n] or [P, 2n] float32 ('<f4')      P = 1 or G (the groups)\n"
               "  --activation-scale A  [rows] float32\n"
               "  --bias B           [2n] or [P, 2n] float32\n"
               "  --quant-scale Q    dynamic: [n] or [P, n]; static: [P] (required) float32\n"
               "  --quant-offset O   static only: [P] float32\n"
               "  --group-index G    [G] int32 or int64 ('<i8'): rows per group\n"
               "outputs (in DIR):\n"
               "  y.npy              [rows, n] int8\n"
               "  scale.npy          [rows] float32 (dynamic; zeros when static)\n"
               CLI_EXEC_HELP "%s", CLI_EXIT_HELP);
}

static int run_dsq(int argc, char **argv)
{
    static const char cmd[] = "dequant-swiglu-quant";
    mlp_opts o;
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, DSQ_OPTS, o, usage_dsq, MLP_REQ);
    if (rc) return rc < 0 ? 0 : rc;
    int dynamic = 0;
    if (o.mode && !strcmp(o.mode, "dynamic")) dynamic = 1;
    else if (o.mode && strcmp(o.mode, "static")) return cli_usage_error(cmd, "--quant-mode must be static or dynamic, got '%s'", o.mode);
    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype dt;
    if ((rc = read_x(cmd, &o, &s, 1, &dt))) goto done;
    const int64_t rows = s.in[IN_X].shape[0], cols = s.in[IN_X].shape[1], n = cols / 2;
    if (cols % 2) {
        rc = cli_refused(cmd, "the last dim of x must be even (it splits into two halves)");
        goto done;
    }
    if ((rc = read_side(cmd, "group-index", o.group, &s.in[IN_G], NPY_DT_I4, 1, -1, "int32 ('<i4') or int64 ('<i8')")))
        goto done;
    const int64_t G = o.group ? (int64_t)s.in[IN_G].count : 0;
    /* P: the rows of the per-group parameters, from the weight scale, the bias or the quantization scale */
    if ((rc = read_side(cmd, "weight-scale", o.wscale, &s.in[IN_A], NPY_DT_F4, 0, -1, "float32 ('<f4')")) ||
        (rc = read_side(cmd, "bias", o.bias, &s.in[IN_C], NPY_DT_F4, 0, -1, "float32 ('<f4')")) ||
        (rc = read_side(cmd, "quant-scale", o.qscale, &s.in[IN_D], NPY_DT_F4, 0, -1, "float32 ('<f4')")))
        goto done;
    int64_t P = 1;
    if (o.wscale && cols) P = (int64_t)s.in[IN_A].count / cols;
    else if (o.bias && cols) P = (int64_t)s.in[IN_C].count / cols;
    else if (o.qscale) P = dynamic ? (n ? (int64_t)s.in[IN_D].count / n : 1) : (int64_t)s.in[IN_D].count;
    if ((o.wscale && (int64_t)s.in[IN_A].count != P * cols) || (o.bias && (int64_t)s.in[IN_C].count != P * cols) ||
        (o.qscale && (int64_t)s.in[IN_D].count != P * (dynamic ? n : 1)) || (P != 1 && P != G)) {
        rc = cli_refused(cmd, "the scales and bias must have 1 row, or one row per group (--group-index), of 2n "
                         "(weight scale, bias), n (dynamic quant scale) or 1 (static quant scale) values");
        goto done;
    }
    if ((rc = read_side(cmd, "activation-scale", o.ascale, &s.in[IN_B], NPY_DT_F4, 0, rows, "float32 ('<f4')")) ||
        (rc = read_side(cmd, "quant-offset", o.qoffset, &s.in[IN_E], NPY_DT_F4, 0, P, "float32 ('<f4')")))
        goto done;
    if ((rc = cli_alloc_output(cmd, (size_t)(rows * n), &s.out[0])) ||
        (rc = cli_alloc_output(cmd, (size_t)rows * 4, &s.out[1])))
        goto done;
    moeroute_dequant_swiglu_quant_args a = {
        .struct_size = sizeof a, .num_rows = rows, .cols = cols, .x_dtype = dt, .x = s.in[IN_X].data,
        .num_groups = G, .group_index_int64 = o.group && s.in[IN_G].dtype == NPY_DT_I8,
        .group_index = o.group ? s.in[IN_G].data : NULL, .param_rows = P,
        .weight_scale = o.wscale ? s.in[IN_A].data : NULL, .activation_scale = o.ascale ? s.in[IN_B].data : NULL,
        .bias_dtype = MOEROUTE_DTYPE_FLOAT32, .bias = o.bias ? s.in[IN_C].data : NULL,
        .quant_scale = o.qscale ? s.in[IN_D].data : NULL, .quant_offset = o.qoffset ? s.in[IN_E].data : NULL,
        .activate_left = o.left, .quant_mode = dynamic, .y = s.out[0], .scale = s.out[1]};
    cli_strides_2d(&s.in[IN_X], &a.x_row_stride, &a.x_col_stride);
    if ((rc = cli_run_native(cmd, o.threads, o.isa, &s.ctx, call_dsq, &a))) goto done;
    rc = write_quant(cmd, &o, &s, rows, n);
done:
    cli_state_free(&s);
    return rc;
}

const cli_command CLI_MLP_COMMANDS[] = {
    {"dynamic-quant", "DynamicQuantV2: per-row symmetric int8 with smooth factors", run_dq, usage_dq},
    {"swiglu", "SwiGlu: silu(first half) * second half of each row", run_swg, usage_swg},
    {"dequant-swiglu-quant", "DequantSwigluQuant: int32 dequant, SwiGLU, static or dynamic int8", run_dsq, usage_dsq},
    {NULL, NULL, NULL, NULL},
};
