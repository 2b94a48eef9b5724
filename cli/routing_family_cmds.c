/*
 * routing_family_cmds.c -- the moeroute CLI commands of the routing family (docs/operators/):
 *
 *   moeroute init-routing-v2        MoeInitRoutingV2        (native moeroute_init_routing_v2, quant_mode -1)
 *   moeroute init-routing-quant-v2  MoeInitRoutingQuantV2   (moeroute_init_routing_v2, quant_mode 0 or 1)
 *   moeroute init-routing-v3        MoeInitRoutingV3        (moeroute_init_routing_v3)
 *   moeroute compute-expert-tokens  MoeComputeExpertTokens  (moeroute_compute_expert_tokens)
 *
 * Same contract as init-routing (moeroute_cli.c, cli/README.md): options named after the operator's
 * attributes, exit status 0 ok / 1 refused / 2 usage / 3 file, every input read and the operator run before
 * anything is written. Outputs are allocated zero-filled, so the parts an operator leaves untouched (V3's
 * rows from the routed count on, the key-value rows after the terminator) are written as zeros. An output
 * the call does not produce (a count the flags do not ask for, the dynamic scales in static mode) is not
 * written, and a file of its name left in DIR by an earlier call is removed, so DIR never mixes two calls
 * of a command (init-routing-v2 and init-routing-quant-v2 share their names).
 */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

/* ---- options ------------------------------------------------------------------------------------------- */

/* One struct for the four commands; each command's table says which of these it takes. */
typedef struct {
    const char *x, *expert_idx, *scale, *offset, *out, *threads, *isa;
    const char *active_num, *expert_capacity, *expert_num, *drop_pad_mode, *count_flag, *quant_mode;
    const char *active_expert_range, *tokens_num_type, *row_idx_type;
    const char *sorted_experts, *num_experts;
    int x_bf16, before_capacity_flag, verbose, help;
} family_opts;

#define V(name, member) CLI_VALUE_OPT(name, family_opts, member)
#define F(name, member) CLI_FLAG_OPT(name, family_opts, member)

static const cli_opt V2_OPTS[] = {
    V("x", x),
    F("x-bf16", x_bf16),
    V("expert-idx", expert_idx),
    V("active-num", active_num),
    V("expert-capacity", expert_capacity),
    V("expert-num", expert_num),
    V("drop-pad-mode", drop_pad_mode),
    V("expert-tokens-count-or-cumsum-flag", count_flag),
    F("expert-tokens-before-capacity-flag", before_capacity_flag),
    V("scale", scale),   /* refused with a pointer to init-routing-quant-v2 */
    V("offset", offset), /* same */
    V("out", out),
    V("threads", threads),
    V("isa", isa),
};

static const cli_opt QUANT_V2_OPTS[] = {
    V("x", x),
    F("x-bf16", x_bf16),
    V("expert-idx", expert_idx),
    V("scale", scale),
    V("offset", offset),
    V("active-num", active_num),
    V("expert-capacity", expert_capacity),
    V("expert-num", expert_num),
    V("drop-pad-mode", drop_pad_mode),
    V("expert-tokens-count-or-cumsum-flag", count_flag),
    F("expert-tokens-before-capacity-flag", before_capacity_flag),
    V("quant-mode", quant_mode),
    V("out", out),
    V("threads", threads),
    V("isa", isa),
};

static const cli_opt V3_OPTS[] = {
    V("x", x),
    F("x-bf16", x_bf16),
    V("expert-idx", expert_idx),
    V("scale", scale),
    V("active-num", active_num),
    V("expert-num", expert_num),
    V("expert-tokens-num-type", tokens_num_type),
    V("quant-mode", quant_mode),
    V("active-expert-range", active_expert_range),
    V("row-idx-type", row_idx_type),
    V("out", out),
    V("threads", threads),
    V("isa", isa),
};

static const cli_opt CET_OPTS[] = {
    V("sorted-experts", sorted_experts),
    V("num-experts", num_experts),
    V("out", out),
    V("threads", threads),
    V("isa", isa),
};

#undef V
#undef F

/* The required options of a command (REQ ...), ended by REQ_OUT: --out must be given and not empty. */
#define REQ(member, what) CLI_REQUIRED(family_opts, member, what, NULL)
#define REQ_OUT CLI_REQUIRED(family_opts, out, "--out DIR", "--out is empty"), {0, NULL, NULL}

/* The native API holds these attributes in int32 fields: a value outside int32 would wrap into a valid one,
 * so it is refused here, in the words of the library's own refusal. */
static int attr_i32(const char *cmd, const char *opt, int64_t v, const char *allowed, int32_t *out)
{
    *out = v < INT32_MIN || v > INT32_MAX ? 0 : (int32_t)v; /* 0: not used, the caller stops */
    return *out == v ? 0 : cli_refused(cmd, "--%s must be %s, got %lld", opt, allowed, (long long)v);
}

/* a double as the FLOAT32 [1] tensor would hold it: round to nearest even, overflow to +-inf */
static float double_to_float(double d)
{
    if (isnan(d) || fabs(d) <= FLT_MAX) return (float)d;
    /* above FLT_MAX but below FLT_MAX + half an ulp (2^103) still rounds to FLT_MAX */
    return fabs(d) < (double)FLT_MAX + ldexp(1.0, 103) ? (float)copysign(FLT_MAX, d) : (float)copysign(INFINITY, d);
}

/* a*b*c bytes as size_t; -1 when the product is not representable */
static int size_product(uint64_t a, uint64_t b, uint64_t c, size_t *out)
{
    uint64_t p = a;
    if (b && p > UINT64_MAX / b) return -1;
    p *= b;
    if (c && p > UINT64_MAX / c) return -1;
    p *= c;
    if (p > SIZE_MAX) return -1;
    *out = (size_t)p;
    return 0;
}

/* ---- state, inputs and outputs ------------------------------------------------------------------------------ */

/* the inputs of a call in cli_state.in */
enum { IN_X, IN_EXPERT, IN_SCALE, IN_SORTED };

/* The float32 data of a scale file in C order (the library reads the smooth scales contiguously). */
static const float *scale_data(const char *cmd, cli_state *s, int *rc)
{
    *rc = cli_to_c_order(cmd, &s->in[IN_SCALE]);
    return *rc ? NULL : (const float *)s->in[IN_SCALE].data;
}

/* --scale FILE: float32 with `ndim` dimensions (exit 3 otherwise) */
static int read_scale(const char *cmd, const char *path, cli_state *s, int ndim, const char *what)
{
    npy_array *sc = &s->in[IN_SCALE];
    int rc = cli_read_input(cmd, path, sc, "--scale must be float32 ('<f4'): convert with a.astype(np.float32)");
    if (rc) return rc;
    if (sc->dtype != NPY_DT_F4) {
        fprintf(stderr, "moeroute %s: %s: --scale must be float32 ('<f4'), the file holds '%s' (convert with "
                        "a.astype(np.float32))\n",
                cmd, path, sc->descr);
        return EXIT_IO;
    }
    if (sc->ndim != ndim) {
        fprintf(stderr, "moeroute %s: %s: --scale must be %d-D %s, the file holds %d dimension%s\n", cmd, path, ndim,
                what, sc->ndim, sc->ndim == 1 ? "" : "s");
        return EXIT_IO;
    }
    return 0;
}

/* x and expert_idx: read, dtypes and ranks (exit 3), shapes that fit (exit 1) */
static int read_routing_inputs(const char *cmd, const family_opts *o, cli_state *s, int allow_int8,
                               moeroute_dtype *x_dtype)
{
    int rc = cli_read_input(cmd, o->x, &s->in[IN_X],
                            allow_int8 ? "--x must be float16 ('<f2'), float32 ('<f4'), int8 ('|i1') or, with "
                                         "--x-bf16, raw bfloat16 bits ('<u2')"
                                       : "--x must be float16 ('<f2'), float32 ('<f4') or, with --x-bf16, raw "
                                         "bfloat16 bits ('<u2')");
    if (!rc)
        rc = cli_read_input(cmd, o->expert_idx, &s->in[IN_EXPERT],
                            "--expert-idx must be int32 ('<i4'): convert with a.astype(np.int32)");
    if (!rc) rc = cli_x_dtype(cmd, o->x, &s->in[IN_X], o->x_bf16, allow_int8, x_dtype);
    if (!rc) rc = cli_check_index_array(cmd, "expert-idx", o->expert_idx, &s->in[IN_EXPERT]);
    return rc;
}

/* ---- init-routing-v2 / init-routing-quant-v2 ------------------------------------------------------------------ */

enum { V2_X, V2_ROW_IDX, V2_COUNT, V2_BEFORE, V2_DYN_SCALE };

static void usage_v2_common(FILE *f, int quant)
{
    fprintf(f,
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --x FILE           x [N, H]: '<f2' float16, '<f4' float32, or with --x-bf16 '<u2' uint16\n"
            "  --x-bf16           x is bfloat16, stored as its raw 16-bit patterns in a uint16 array\n"
            "  --expert-idx FILE  expert ids [N, K], '<i4' int32; any values unless expert-num is used (drop\n"
            "                     mode, token counts%s), then each must be in [0, expert-num)\n",
            quant ? ", [E, H] smooth scales" : "");
    if (quant)
        fprintf(f,
                "  --scale S | FILE   quant-mode 0: the scale, a number (double -> float32 [1] -> fp16);\n"
                "                     quant-mode 1: optional smooth scales, '<f4' [1, H] or [expert-num, H]\n"
                "  --offset O         quant-mode 0: the offset, a number (same conversion); not taken by mode 1\n");
    fprintf(f,
            "attributes (the operator's, same names):\n"
            "  --active-num N     dropless: expanded rows written, 0 (default) = all N*K, larger = N*K\n"
            "  --expert-capacity C  drop mode: slots per expert, 1 <= C <= N (default 0)\n"
            "  --expert-num E     number of experts (default 0; drop mode and token counts need E >= 1)\n"
            "  --drop-pad-mode M  0 dropless (default), 1 drop and pad to [E, C, H]\n"
            "  --expert-tokens-count-or-cumsum-flag F\n"
            "                     dropless: 0 none (default), 1 inclusive cumsum, 2 count per expert\n"
            "  --expert-tokens-before-capacity-flag\n"
            "                     drop mode: write the count per expert before dropping\n");
    if (quant)
        fprintf(f, "  --quant-mode Q     0 static (default), 1 dynamic (per-row scale)\n");
    fprintf(f,
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       expanded_x.npy           dropless [A, H], drop [E, C, H]; %s\n"
            "                                                (A = N*K, or active-num when 0 < it < N*K)\n"
            "                       expanded_row_idx.npy     [N*K] int32, by flat position r*K + j (-1: dropped)\n"
            "                       expert_tokens_count_or_cumsum.npy  [E] int32 (dropless, flag 1 or 2)\n"
            "                       expert_tokens_before_capacity.npy  [E] int32 (drop, the flag given)\n",
            quant ? "int8 ('|i1')" : "x's dtype");
    fprintf(f, "                       dynamic_quant_scale.npy  %s\n",
            quant ? "[A] or [E*C] float32 (quant-mode 1)" : "never (init-routing-quant-v2's output)");
    fprintf(f,
            "                     files of those names are replaced; one this call does not produce is removed;\n"
            "                     a refused input writes nothing\n"
            "execution:\n"
            "  --threads T        worker threads, 0 = default (MOEROUTE_NUM_THREADS, else all CPUs)\n"
            "  --isa NAME         auto, scalar, avx2, avx512 or neon: highest instruction set to use\n"
            "                     (results are identical for every choice)\n"
            "  -v, --verbose      print the files written and removed\n"
            "  -h, --help         this text\n"
            "\n"
            "Options take their value as the next argument or after '=' (--expert-num=8).\n"
            "\n"
            "%s",
            CLI_EXIT_HELP);
}

static void usage_v2(FILE *f)
{
    fprintf(f,
            "usage: moeroute init-routing-v2 --x X.npy --expert-idx E.npy [--active-num N] [--expert-capacity C]\n"
            "                                [--expert-num E] [--drop-pad-mode M]\n"
            "                                [--expert-tokens-count-or-cumsum-flag F]\n"
            "                                [--expert-tokens-before-capacity-flag] --out DIR [--x-bf16]\n"
            "                                [--threads T] [--isa NAME] [-v]\n"
            "\n"
            "The MoeInitRoutingV2 operation (aclnnMoeInitRoutingV2): sort the N*K copies f = r*K + j of\n"
            "expert_idx by expert id, stably; dropless: copy the first A expanded rows of x bit for bit;\n"
            "drop and pad: give each expert C slots (the earliest copies keep theirs), zero rows for the\n"
            "empty ones; optionally count the tokens per expert.\n"
            "\n");
    usage_v2_common(f, 0);
}

static void usage_quant_v2(FILE *f)
{
    fprintf(f,
            "usage: moeroute init-routing-quant-v2 --x X.npy --expert-idx E.npy [--quant-mode Q]\n"
            "                                      [--scale S|FILE] [--offset O] [--active-num N]\n"
            "                                      [--expert-capacity C] [--expert-num E] [--drop-pad-mode M]\n"
            "                                      [--expert-tokens-count-or-cumsum-flag F]\n"
            "                                      [--expert-tokens-before-capacity-flag] --out DIR [--x-bf16]\n"
            "                                      [--threads T] [--isa NAME] [-v]\n"
            "\n"
            "The MoeInitRoutingQuantV2 operation (aclnnMoeInitRoutingQuantV2): init-routing-v2's routing,\n"
            "with the expanded rows quantized to int8: quant-mode 0 static, to_i8_rne(f16(f16(f16(x) * s) + o))\n"
            "with s, o the scale and offset rounded to fp16; quant-mode 1 dynamic, per row sc = max|v| / 127\n"
            "and q = round-half-away(v / sc), v = x (times the smooth scales when given).\n"
            "\n");
    usage_v2_common(f, 1);
}

static int run_v2_family(int quant, int argc, char **argv)
{
    const char *cmd = quant ? "init-routing-quant-v2" : "init-routing-v2";
    family_opts o;
    static const cli_required req[] = {REQ(x, "--x FILE"), REQ(expert_idx, "--expert-idx FILE"), REQ_OUT};
    int rc = quant ? CLI_PARSE_COMMAND(cmd, argc, argv, QUANT_V2_OPTS, o, usage_quant_v2, req)
                   : CLI_PARSE_COMMAND(cmd, argc, argv, V2_OPTS, o, usage_v2, req);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t active, capacity, E, dpm, flag, qmode;
    if ((rc = cli_int_opt(cmd, "active-num", o.active_num, 0, &active)) ||
        (rc = cli_int_opt(cmd, "expert-capacity", o.expert_capacity, 0, &capacity)) ||
        (rc = cli_int_opt(cmd, "expert-num", o.expert_num, 0, &E)) ||
        (rc = cli_int_opt(cmd, "drop-pad-mode", o.drop_pad_mode, 0, &dpm)) ||
        (rc = cli_int_opt(cmd, "expert-tokens-count-or-cumsum-flag", o.count_flag, 0, &flag)) ||
        (rc = cli_int_opt(cmd, "quant-mode", o.quant_mode, quant ? 0 : -1, &qmode)))
        return rc;
    float scale_v = 0.0f, offset_v = 0.0f;
    if (!quant) {
        if (o.scale || o.offset)
            return cli_usage_error(cmd, "%s: --scale and --offset belong to init-routing-quant-v2",
                                   "init-routing-v2 copies rows");
    } else if (qmode == 0) {
        static const cli_required req0[] = {REQ(scale, "--scale S (quant-mode 0)"),
                                            REQ(offset, "--offset O (quant-mode 0)"), {0, NULL, NULL}};
        double d;
        if ((rc = cli_check_required(cmd, &o, req0))) return rc;
        if (cli_parse_double(o.scale, &d))
            return cli_usage_error(cmd, "--scale: '%s' is not a number (quant-mode 0 takes the scale value; a smooth "
                                        "scale file goes with --quant-mode 1)",
                                   o.scale);
        scale_v = double_to_float(d);
        if (cli_parse_double(o.offset, &d)) return cli_usage_error(cmd, "--offset: '%s' is not a number", o.offset);
        offset_v = double_to_float(d);
    } else if (qmode == 1 && o.offset) {
        return cli_usage_error(cmd, "%s: dynamic quantization (--quant-mode 1) has no offset", "--offset");
    }
    moeroute_options mopt;
    if ((rc = cli_exec_options(cmd, o.threads, o.isa, &mopt))) return rc;

    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype x_dtype;
    const int smooth = quant && qmode == 1 && o.scale;
    rc = read_routing_inputs(cmd, &o, &s, 0, &x_dtype);
    if (!rc && smooth) rc = read_scale(cmd, o.scale, &s, 2, "[1, H] or [expert-num, H]");
    if (rc) goto done;

    /* refusals (exit 1) */
    int32_t dpm32, flag32;
    if ((rc = cli_check_routing_shapes(cmd, &s.in[IN_X], &s.in[IN_EXPERT], NULL))) goto done;
    if (quant && qmode != 0 && qmode != 1) {
        fprintf(stderr, "moeroute %s: input refused: --quant-mode must be 0 (static) or 1 (dynamic), got %lld\n", cmd,
                (long long)qmode);
        rc = EXIT_REFUSED;
        goto done;
    }
    if ((rc = attr_i32(cmd, "drop-pad-mode", dpm, "0 or 1", &dpm32)) ||
        (rc = attr_i32(cmd, "expert-tokens-count-or-cumsum-flag", flag, "0, 1 or 2", &flag32)))
        goto done;
    const int64_t N = s.in[IN_X].shape[0], H = s.in[IN_X].shape[1], K = s.in[IN_EXPERT].shape[1];
    const int64_t L = (int64_t)s.in[IN_EXPERT].count;
    const int64_t *ss = s.in[IN_SCALE].shape; /* smooth scales */
    if (smooth && (ss[1] != H || (ss[0] != 1 && ss[0] != E))) {
        fprintf(stderr, "moeroute %s: input refused: scale has shape [%lld, %lld]; the smooth scales must be [1, H] "
                        "or [expert-num, H] = [1 or %lld, %lld]\n",
                cmd, (long long)ss[0], (long long)ss[1], (long long)E, (long long)H);
        rc = EXIT_REFUSED;
        goto done;
    }

    /* output sizes, as the library computes them for valid attributes; for invalid ones nothing is allocated
     * and the library refuses */
    const int drop = dpm == 1;
    int64_t rows = 0;
    if (drop) {
        if (capacity >= 1 && capacity <= N && E >= 1) {
            if (E > INT64_MAX / capacity) {
                rc = cli_refused(cmd, "%s is larger than this machine can address",
                                 "expanded_x [expert-num, expert-capacity, H]");
                goto done;
            }
            rows = E * capacity;
        }
    } else if (active >= 0) {
        rows = active == 0 || active > L ? L : active;
    }
    const int need_count = !drop && (flag == 1 || flag == 2) && E >= 1;
    const int need_before = drop && o.before_capacity_flag && rows > 0;
    const int need_dyn = quant && qmode == 1;
    size_t xbytes, ebytes = 0, dbytes = 0;
    if (size_product((uint64_t)rows, (uint64_t)H, quant ? 1 : s.in[IN_X].itemsize, &xbytes)) {
        rc = cli_refused(cmd, "expanded_x is larger than this machine can address");
        goto done;
    }
    if ((need_count || need_before) && size_product((uint64_t)E, sizeof(int32_t), 1, &ebytes)) {
        rc = cli_refused(cmd, "an expert-tokens output [expert-num] is larger than this machine can address");
        goto done;
    }
    if (need_dyn && size_product((uint64_t)rows, sizeof(float), 1, &dbytes)) {
        rc = cli_refused(cmd, "dynamic_quant_scale is larger than this machine can address");
        goto done;
    }
    const float *scale_p = NULL;
    if (smooth && !(scale_p = scale_data(cmd, &s, &rc))) goto done;
    if ((rc = cli_alloc_output(cmd, xbytes, &s.out[V2_X])) ||
        (rc = cli_alloc_output(cmd, (size_t)L * sizeof(int32_t), &s.out[V2_ROW_IDX])) ||
        (need_count && (rc = cli_alloc_output(cmd, ebytes, &s.out[V2_COUNT]))) ||
        (need_before && (rc = cli_alloc_output(cmd, ebytes, &s.out[V2_BEFORE]))) ||
        (need_dyn && (rc = cli_alloc_output(cmd, dbytes, &s.out[V2_DYN_SCALE]))))
        goto done;
    if ((rc = cli_library_result(cmd, moeroute_context_create(&mopt, &s.ctx)))) goto done;

    moeroute_init_routing_v2_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = N;
    a.k = K;
    a.hidden = H;
    a.active_num = active;
    a.expert_capacity = capacity;
    a.expert_num = E;
    a.drop_pad_mode = dpm32;
    a.count_flag = flag32;
    a.before_capacity_flag = o.before_capacity_flag;
    a.quant_mode = quant ? (int32_t)qmode : -1;
    a.x_dtype = x_dtype;
    a.x = s.in[IN_X].data;
    cli_strides_2d(&s.in[IN_X], &a.x_row_stride, &a.x_col_stride);
    a.expert_idx = (const int32_t *)s.in[IN_EXPERT].data;
    cli_strides_2d(&s.in[IN_EXPERT], &a.expert_row_stride, &a.expert_col_stride);
    if (quant && qmode == 0) {
        a.scale = &scale_v;
        a.offset = &offset_v;
    } else if (smooth) {
        a.scale = scale_p;
        a.scale_rows = s.in[IN_SCALE].shape[0];
    }
    a.expanded_x = s.out[V2_X];
    a.expanded_row_idx = (int32_t *)s.out[V2_ROW_IDX];
    a.expert_tokens = (int32_t *)s.out[V2_COUNT];
    a.expert_tokens_before_capacity = (int32_t *)s.out[V2_BEFORE];
    a.dynamic_quant_scale = (float *)s.out[V2_DYN_SCALE];
    moeroute_status st = moeroute_init_routing_v2(s.ctx, &a);
    if (st != MOEROUTE_OK) {
        cli_print_library_error(cmd, st);
        rc = EXIT_REFUSED;
        goto done;
    }

    const npy_dtype xdt = quant ? NPY_DT_I1 : cli_npy_of(x_dtype);
    cli_out_file files[] = {
        {"expanded_x.npy", xdt, drop ? 3 : 2, {drop ? E : rows, drop ? capacity : H, H}, s.out[V2_X]},
        {"expanded_row_idx.npy", NPY_DT_I4, 1, {L, 0, 0}, s.out[V2_ROW_IDX]},
        {"expert_tokens_count_or_cumsum.npy", NPY_DT_I4, 1, {E, 0, 0}, s.out[V2_COUNT]},
        {"expert_tokens_before_capacity.npy", NPY_DT_I4, 1, {E, 0, 0}, s.out[V2_BEFORE]},
        {"dynamic_quant_scale.npy", NPY_DT_F4, 1, {rows, 0, 0}, s.out[V2_DYN_SCALE]},
    };
    /* the two commands share one set of names: init-routing-v2 removes a dynamic_quant_scale.npy too */
    rc = cli_write_outputs(cmd, o.out, files, 5, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

static int run_v2(int argc, char **argv) { return run_v2_family(0, argc, argv); }
static int run_quant_v2(int argc, char **argv) { return run_v2_family(1, argc, argv); }

/* ---- init-routing-v3 ------------------------------------------------------------------------------------------ */

enum { V3_X, V3_ROW_IDX, V3_TOKENS, V3_SCALE };

static void usage_v3(FILE *f)
{
    fprintf(f,
            "usage: moeroute init-routing-v3 --x X.npy --expert-idx E.npy --expert-num E [--scale FILE]\n"
            "                                [--active-expert-range START,END] [--expert-tokens-num-type T]\n"
            "                                [--quant-mode Q] [--row-idx-type R] [--active-num N] --out DIR\n"
            "                                [--x-bf16] [--threads T] [--isa NAME] [-v]\n"
            "\n"
            "The MoeInitRoutingV3 operation (aclnnMoeInitRoutingV3; torch_npu's npu_moe_init_routing_v2):\n"
            "route only the copies whose expert is in [START, END), stably sorted by expert id; copy their\n"
            "rows (carrying a per-token scale) or quantize them dynamically to int8; count the tokens per\n"
            "expert. The A2/A3 subset: dropless, counts always on (dropPadMode 0, expertTokensNumFlag true).\n"
            "\n"
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --x FILE           x [N, H]: '<f2' float16, '<f4' float32, '|i1' int8 (quant-mode -1 only),\n"
            "                     or with --x-bf16 '<u2' uint16 holding raw bfloat16 bits\n"
            "  --x-bf16           x is bfloat16, stored as its raw 16-bit patterns in a uint16 array\n"
            "  --expert-idx FILE  expert ids [N, K], '<i4' int32, any values (ids outside the range are filtered)\n"
            "  --scale FILE       optional '<f4': quant-mode -1, a scale per token [N], carried to\n"
            "                     expanded_scale; quant-mode 1, smooth scales [END - START, H] (row e - START)\n"
            "attributes (the operator's, same names):\n"
            "  --expert-num E     number of experts, >= 1 (required)\n"
            "  --active-expert-range START,END\n"
            "                     experts routed, 0 <= START < END <= E; omitted or empty: [0, E)\n"
            "  --expert-tokens-num-type T  1 count per expert in the range (default), 2 (expert, count) pairs\n"
            "  --quant-mode Q     -1 copy rows (default), 1 dynamic int8\n"
            "  --row-idx-type R   0 expanded_row_idx by flat position (default), 1 by expanded row\n"
            "  --active-num N     -1 (default) or N*K; any other value is refused\n"
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       expanded_x.npy           [N*K, H], dtype of x or int8 (quant-mode 1);\n"
            "                                                rows from V (the routed copies) on are zeros\n"
            "                       expanded_row_idx.npy     [N*K] int32 (-1: not routed)\n"
            "                       expert_tokens_count_or_cumsum.npy  type 1 [END - START], type 2 [E, 2]:\n"
            "                                                int64 ('<i8'); rows past the (0, 0) end are zeros\n"
            "                       expanded_scale.npy       [N*K] float32, when written: quant-mode 1, or -1\n"
            "                                                with --scale; entries from V on are zeros\n"
            "                     files of those names are replaced; one this call does not produce is removed;\n"
            "                     a refused input writes nothing\n"
            "execution:\n"
            "  --threads T        worker threads, 0 = default (MOEROUTE_NUM_THREADS, else all CPUs)\n"
            "  --isa NAME         auto, scalar, avx2, avx512 or neon: highest instruction set to use\n"
            "                     (results are identical for every choice)\n"
            "  -v, --verbose      print the files written and removed\n"
            "  -h, --help         this text\n"
            "\n"
            "Options take their value as the next argument or after '=' (--active-expert-range=0,64).\n"
            "The NPU's capacity limits on END are not applied (as in the native API).\n"
            "\n"
            "%s",
            CLI_EXIT_HELP);
}

/* "START,END" -> 2 values; "" -> 0 values (the empty aclIntArray); -1 when malformed */
static int parse_range(const char *s, int64_t *start, int64_t *end)
{
    if (!*s) return 0;
    const char *comma = strchr(s, ',');
    if (!comma || comma == s || strchr(comma + 1, ',')) return -1;
    char first[32];
    const size_t n = (size_t)(comma - s);
    if (n >= sizeof first) return -1;
    memcpy(first, s, n);
    first[n] = '\0';
    if (cli_parse_i64(first, start) || cli_parse_i64(comma + 1, end)) return -1;
    return 2;
}

static int run_v3(int argc, char **argv)
{
    const char *cmd = "init-routing-v3";
    family_opts o;
    static const cli_required req[] = {REQ(x, "--x FILE"), REQ(expert_idx, "--expert-idx FILE"),
                                       REQ(expert_num, "--expert-num E"), REQ_OUT};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, V3_OPTS, o, usage_v3, req);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t E, type, qmode, rit, active, start = 0, end = 0;
    if ((rc = cli_int_opt(cmd, "expert-num", o.expert_num, 0, &E)) ||
        (rc = cli_int_opt(cmd, "expert-tokens-num-type", o.tokens_num_type, 1, &type)) ||
        (rc = cli_int_opt(cmd, "quant-mode", o.quant_mode, -1, &qmode)) ||
        (rc = cli_int_opt(cmd, "row-idx-type", o.row_idx_type, 0, &rit)) ||
        (rc = cli_int_opt(cmd, "active-num", o.active_num, -1, &active)))
        return rc;
    const int nrange = o.active_expert_range ? parse_range(o.active_expert_range, &start, &end) : 0;
    if (nrange < 0)
        return cli_usage_error(cmd, "--active-expert-range: '%s' is not START,END (two integers; empty for "
                                    "[0, expert-num))",
                               o.active_expert_range);
    moeroute_options mopt;
    if ((rc = cli_exec_options(cmd, o.threads, o.isa, &mopt))) return rc;

    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype x_dtype;
    /* with a quant-mode outside {-1, 1} the scale is not read: the library refuses the mode */
    const int have_scale = o.scale && (qmode == -1 || qmode == 1);
    rc = read_routing_inputs(cmd, &o, &s, 1, &x_dtype);
    if (!rc && have_scale)
        rc = read_scale(cmd, o.scale, &s, qmode == 1 ? 2 : 1,
                        qmode == 1 ? "[END - START, H] with --quant-mode 1" : "[N] with --quant-mode -1");
    if (rc) goto done;

    /* refusals (exit 1) */
    if ((rc = cli_check_routing_shapes(cmd, &s.in[IN_X], &s.in[IN_EXPERT], NULL))) goto done;
    const int64_t N = s.in[IN_X].shape[0], H = s.in[IN_X].shape[1], K = s.in[IN_EXPERT].shape[1];
    const int64_t L = (int64_t)s.in[IN_EXPERT].count;
    if (active != -1 && active != L) {
        fprintf(stderr, "moeroute %s: input refused: --active-num must be -1 or N*K = %lld, got %lld\n", cmd,
                (long long)L, (long long)active);
        rc = EXIT_REFUSED;
        goto done;
    }
    if (nrange == 2 && start >= end) {
        /* checked here: the native API reads [0, 0) as "no range given" */
        fprintf(stderr, "moeroute %s: input refused: --active-expert-range [%lld, %lld) is empty; it must satisfy "
                        "0 <= START < END <= expert-num (omit it for [0, expert-num))\n",
                cmd, (long long)start, (long long)end);
        rc = EXIT_REFUSED;
        goto done;
    }
    int32_t type32, qmode32, rit32;
    if ((rc = attr_i32(cmd, "expert-tokens-num-type", type, "1 or 2", &type32)) ||
        (rc = attr_i32(cmd, "quant-mode", qmode, "-1 or 1", &qmode32)) ||
        (rc = attr_i32(cmd, "row-idx-type", rit, "0 or 1", &rit32)))
        goto done;
    const int64_t lo = nrange ? start : 0, hi = nrange ? end : E;
    const int range_ok = E >= 1 && E <= INT32_MAX && lo >= 0 && lo < hi && hi <= E;
    if (have_scale && range_ok) {
        const int64_t *ss = s.in[IN_SCALE].shape;
        const int bad = qmode == -1 ? ss[0] != N : (ss[0] != hi - lo || ss[1] != H);
        if (bad) {
            if (qmode == -1)
                fprintf(stderr, "moeroute %s: input refused: scale has %lld entries; with --quant-mode -1 it holds one "
                                "per token, [N] = [%lld]\n",
                        cmd, (long long)ss[0], (long long)N);
            else
                fprintf(stderr, "moeroute %s: input refused: scale has shape [%lld, %lld]; the smooth scales must be "
                                "[END - START, H] = [%lld, %lld]\n",
                        cmd, (long long)ss[0], (long long)ss[1], (long long)(hi - lo), (long long)H);
            rc = EXIT_REFUSED;
            goto done;
        }
    }

    /* output sizes; for invalid attributes nothing is allocated and the library refuses */
    const int quant = qmode == 1;
    const int64_t ntok = !range_ok ? 0 : type == 1 ? hi - lo : type == 2 ? 2 * E : 0;
    const int need_scale = quant || have_scale;
    size_t xbytes;
    if (size_product((uint64_t)L, (uint64_t)H, quant ? 1 : s.in[IN_X].itemsize, &xbytes)) {
        rc = cli_refused(cmd, "expanded_x is larger than this machine can address");
        goto done;
    }
    const float *scale_p = NULL;
    if (have_scale && !(scale_p = scale_data(cmd, &s, &rc))) goto done;
    /* ntok <= 2 * INT32_MAX: these products fit */
    if ((rc = cli_alloc_output(cmd, xbytes, &s.out[V3_X])) ||
        (rc = cli_alloc_output(cmd, (size_t)L * sizeof(int32_t), &s.out[V3_ROW_IDX])) ||
        (rc = cli_alloc_output(cmd, (size_t)ntok * sizeof(int64_t), &s.out[V3_TOKENS])) ||
        (need_scale && (rc = cli_alloc_output(cmd, (size_t)L * sizeof(float), &s.out[V3_SCALE]))))
        goto done;
    if ((rc = cli_library_result(cmd, moeroute_context_create(&mopt, &s.ctx)))) goto done;

    moeroute_init_routing_v3_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = N;
    a.k = K;
    a.hidden = H;
    a.expert_num = E;
    a.range_start = lo;
    a.range_end = nrange ? hi : 0;
    a.tokens_num_type = type32;
    a.quant_mode = qmode32;
    a.row_idx_type = rit32;
    a.x_dtype = x_dtype;
    a.x = s.in[IN_X].data;
    cli_strides_2d(&s.in[IN_X], &a.x_row_stride, &a.x_col_stride);
    a.expert_idx = (const int32_t *)s.in[IN_EXPERT].data;
    cli_strides_2d(&s.in[IN_EXPERT], &a.expert_row_stride, &a.expert_col_stride);
    a.scale = scale_p;
    a.expanded_x = s.out[V3_X];
    a.expanded_row_idx = (int32_t *)s.out[V3_ROW_IDX];
    a.expert_tokens = (int64_t *)s.out[V3_TOKENS];
    a.expanded_scale = (float *)s.out[V3_SCALE];
    moeroute_status st = moeroute_init_routing_v3(s.ctx, &a);
    if (st != MOEROUTE_OK) {
        cli_print_library_error(cmd, st);
        rc = EXIT_REFUSED;
        goto done;
    }

    unsigned char *tok = (unsigned char *)s.out[V3_TOKENS];
    cli_out_file files[] = {
        {"expanded_x.npy", quant ? NPY_DT_I1 : cli_npy_of(x_dtype), 2, {L, H, 0}, s.out[V3_X]},
        {"expanded_row_idx.npy", NPY_DT_I4, 1, {L, 0, 0}, s.out[V3_ROW_IDX]},
        {"expert_tokens_count_or_cumsum.npy", NPY_DT_I8, type == 1 ? 1 : 2, {type == 1 ? hi - lo : E, 2, 0}, tok},
        {"expanded_scale.npy", NPY_DT_F4, 1, {L, 0, 0}, s.out[V3_SCALE]},
    };
    rc = cli_write_outputs(cmd, o.out, files, 4, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- compute-expert-tokens ----------------------------------------------------------------------------------- */

static void usage_cet(FILE *f)
{
    fprintf(f,
            "usage: moeroute compute-expert-tokens --sorted-experts S.npy --num-experts E --out DIR\n"
            "                                      [--threads T] [--isa NAME] [-v]\n"
            "\n"
            "The MoeComputeExpertTokens operation (aclnnMoeComputeExpertTokens): for each expert e, the end\n"
            "of its group in an ascending list of expert ids, out[e] = #{i : sorted_experts[i] <= e}.\n"
            "\n"
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian):\n"
            "  --sorted-experts FILE  [L] '<i4' int32, ascending, each in [0, num-experts) (checked: an\n"
            "                     unsorted or out-of-range list is refused); L = 0 allowed\n"
            "attributes:\n"
            "  --num-experts E    number of experts, >= 1 (the NPU's 2048 and L < 2^24 limits are not applied)\n"
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       expert_tokens.npy        [E] int32 (the operator's out)\n"
            "                     a file of that name is replaced; a refused input writes nothing\n"
            "execution:\n"
            "  --threads T        worker threads, 0 = default (MOEROUTE_NUM_THREADS, else all CPUs)\n"
            "  --isa NAME         auto, scalar, avx2, avx512 or neon (results are identical for every choice)\n"
            "  -v, --verbose      print the file written\n"
            "  -h, --help         this text\n"
            "\n"
            "%s",
            CLI_EXIT_HELP);
}

static int run_cet(int argc, char **argv)
{
    const char *cmd = "compute-expert-tokens";
    family_opts o;
    static const cli_required req[] = {REQ(sorted_experts, "--sorted-experts FILE"),
                                       REQ(num_experts, "--num-experts E"), REQ_OUT};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, CET_OPTS, o, usage_cet, req);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t E;
    if ((rc = cli_int_opt(cmd, "num-experts", o.num_experts, 0, &E))) return rc;
    moeroute_options mopt;
    if ((rc = cli_exec_options(cmd, o.threads, o.isa, &mopt))) return rc;

    cli_state s;
    memset(&s, 0, sizeof s);
    rc = cli_read_input(cmd, o.sorted_experts, &s.in[IN_SORTED],
                        "--sorted-experts must be int32 ('<i4'): convert with a.astype(np.int32)");
    if (rc) goto done;
    if (s.in[IN_SORTED].ndim != 1) {
        fprintf(stderr, "moeroute %s: %s: --sorted-experts must be 1-D [L], the file holds %d dimension%s\n", cmd,
                o.sorted_experts, s.in[IN_SORTED].ndim, s.in[IN_SORTED].ndim == 1 ? "" : "s");
        rc = EXIT_IO;
        goto done;
    }
    if (s.in[IN_SORTED].dtype != NPY_DT_I4) {
        fprintf(stderr, "moeroute %s: %s: --sorted-experts must be int32 ('<i4'), the file holds '%s' (convert with "
                        "a.astype(np.int32))\n",
                cmd, o.sorted_experts, s.in[IN_SORTED].descr);
        rc = EXIT_IO;
        goto done;
    }
    /* an out-of-range num-experts is the library's to refuse; nothing is allocated for it */
    const int valid = E >= 1 && E <= INT32_MAX;
    if ((rc = cli_alloc_output(cmd, valid ? (size_t)E * sizeof(int32_t) : 0, &s.out[0]))) goto done;
    if ((rc = cli_library_result(cmd, moeroute_context_create(&mopt, &s.ctx)))) goto done;
    moeroute_compute_expert_tokens_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.length = (int64_t)s.in[IN_SORTED].count;
    a.num_experts = E;
    a.sorted_experts = (const int32_t *)s.in[IN_SORTED].data;
    a.out = (int32_t *)s.out[0];
    moeroute_status st = moeroute_compute_expert_tokens(s.ctx, &a);
    if (st != MOEROUTE_OK) {
        cli_print_library_error(cmd, st);
        rc = EXIT_REFUSED;
        goto done;
    }
    const cli_out_file file = {"expert_tokens.npy", NPY_DT_I4, 1, {E, 0, 0}, s.out[0]};
    rc = cli_write_outputs(cmd, o.out, &file, 1, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- the table moeroute_cli.c dispatches on -------------------------------------------------------------------- */

const cli_command CLI_FAMILY_COMMANDS[] = {
    {"init-routing-v2", "MoeInitRoutingV2: dropless or drop-and-pad routing, rows in x's dtype", run_v2, usage_v2},
    {"init-routing-quant-v2", "MoeInitRoutingQuantV2: the same, rows quantized to int8 (static or dynamic)",
     run_quant_v2, usage_quant_v2},
    {"init-routing-v3", "MoeInitRoutingV3: expert-range routing, copy or dynamic int8, token counts", run_v3, usage_v3},
    {"compute-expert-tokens", "MoeComputeExpertTokens: group end offsets from sorted expert ids", run_cet, usage_cet},
    {NULL, NULL, NULL, NULL},
};
