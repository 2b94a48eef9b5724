/*
 * combine_cmds.c -- the moeroute CLI commands around the expert FFN (docs/operators/):
 *
 *   moeroute token-permute     MoeTokenPermute                      (native moeroute_token_permute)
 *   moeroute token-unpermute   MoeTokenUnpermute                    (moeroute_token_unpermute)
 *   moeroute finalize-routing  MoeFinalizeRoutingV2, or V1 with --version 1  (moeroute_finalize_routing)
 *   moeroute re-routing        MoeReRouting                         (moeroute_re_routing)
 *   moeroute gating-top-k      MoeGatingTopK                        (moeroute_gating_top_k)
 *   moeroute gating-top-k-softmax  MoeGatingTopKSoftmax V1, or V2 with --version 2  (moeroute_gating_top_k_softmax)
 *
 * Same contract as the other operator commands (cli/README.md): options named after the operator's
 * arguments, exit status 0 ok / 1 refused / 2 usage / 3 file, every input read and the operator run before
 * anything is written; outputs are staged and committed as a set by main. Inputs may be C or Fortran order
 * (Fortran-order files are reordered once on reading). '<u2' arrays hold raw bfloat16 bits and are read as
 * such only with --bf16. Shapes that must agree are checked here, before the call (the native API takes the
 * arrays' sizes from its arguments): a mismatch is refused with exit 1, like the library's own refusals.
 */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

/* ---- options ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *tokens, *indices, *num_out_tokens;                      /* token-permute, re-routing   */
    const char *permuted_tokens, *sorted_indices, *probs;               /* token-unpermute             */
    const char *expanded_x, *expanded_row_idx, *x1, *x2, *bias, *scales, *expert_idx, *drop_pad_mode, *version;
    const char *counts, *per_token_scales;                              /* re-routing                  */
    const char *x, *finished, *k, *k_group, *group_count, *group_select_mode, *renorm, *norm_type; /* gating */
    const char *routed_scaling_factor, *eps;
    const char *out, *threads, *isa;
    int bf16, out_flag, softmax_result, verbose, help;
} combine_opts;

#define V(name, member) CLI_VALUE_OPT(name, combine_opts, member)
#define EXEC_OPTS V("out", out), V("threads", threads), V("isa", isa), CLI_FLAG_OPT("bf16", combine_opts, bf16)

static const cli_opt PERMUTE_OPTS[] = {V("tokens", tokens), V("indices", indices),
                                       V("num-out-tokens", num_out_tokens), EXEC_OPTS};
static const cli_opt UNPERMUTE_OPTS[] = {V("permuted-tokens", permuted_tokens), V("sorted-indices", sorted_indices),
                                         V("probs", probs), EXEC_OPTS};
static const cli_opt FINALIZE_OPTS[] = {
    V("expanded-x", expanded_x), V("expanded-row-idx", expanded_row_idx), V("x1", x1), V("x2", x2), V("bias", bias),
    V("scales", scales), V("expert-idx", expert_idx), V("drop-pad-mode", drop_pad_mode), V("version", version),
    EXEC_OPTS};
static const cli_opt RE_ROUTING_OPTS[] = {V("tokens", tokens), V("expert-token-num-per-rank", counts),
                                          V("per-token-scales", per_token_scales), EXEC_OPTS};
static const cli_opt GATING_OPTS[] = {
    V("x", x), V("bias", bias), V("k", k), V("k-group", k_group), V("group-count", group_count),
    V("group-select-mode", group_select_mode), V("renorm", renorm), V("norm-type", norm_type),
    CLI_FLAG_OPT("out-flag", combine_opts, out_flag), V("routed-scaling-factor", routed_scaling_factor), V("eps", eps),
    EXEC_OPTS};
static const cli_opt GATING_SOFTMAX_OPTS[] = {V("x", x), V("finished", finished), V("k", k), V("version", version),
                                              V("renorm", renorm),
                                              CLI_FLAG_OPT("softmax-result", combine_opts, softmax_result), EXEC_OPTS};
#undef V
#undef EXEC_OPTS

/* The required options of a command (REQ ...), ended by REQ_OUT: --out must be given and not empty. */
#define REQ(member, what) CLI_REQUIRED(combine_opts, member, what, NULL)
#define REQ_OUT CLI_REQUIRED(combine_opts, out, "--out DIR", "--out is empty"), {0, NULL, NULL}

/* dtype sets of an input */
enum { K_FLOAT = 1, K_INT8 = 2, K_INDEX32 = 4, K_INDEX64 = 8, K_F32 = 16, K_HALF = 32 /* f16 or bf16 */, K_BOOL = 64 };

static const char *kind_text(unsigned kinds)
{
    if (kinds == K_INDEX32) return "int32 ('<i4')";
    if (kinds == (K_INDEX32 | K_INDEX64)) return "int32 ('<i4') or int64 ('<i8')";
    if (kinds == K_F32) return "float32 ('<f4')";
    if (kinds == K_BOOL) return "bool ('|b1')";
    if (kinds == (K_FLOAT | K_INT8)) return "float16 ('<f2'), float32 ('<f4'), int8 ('|i1') or, with --bf16, '<u2'";
    if (kinds == (K_HALF | K_INT8)) return "float16 ('<f2'), int8 ('|i1') or, with --bf16, raw bfloat16 bits ('<u2')";
    return "float16 ('<f2'), float32 ('<f4') or, with --bf16, raw bfloat16 bits ('<u2')";
}

/* Read --opt FILE into *a: rank in [lo, hi], dtype in `kinds`, C order. *dt gets the moeroute dtype (when dt
 * is not NULL). 0 or EXIT_IO. */
static int read_input(const char *cmd, const char *opt, const char *path, npy_array *a, int lo, int hi,
                      unsigned kinds, int bf16, moeroute_dtype *dt)
{
    char hint[160];
    snprintf(hint, sizeof hint, "--%s must be %s", opt, kind_text(kinds));
    int rc = cli_read_input(cmd, path, a, hint);
    if (rc) return rc;
    if (a->ndim < lo || a->ndim > hi) {
        if (lo == hi)
            fprintf(stderr, "moeroute %s: %s: --%s must be %d-D, the file holds %d dimension%s\n", cmd, path, opt, lo,
                    a->ndim, a->ndim == 1 ? "" : "s");
        else
            fprintf(stderr, "moeroute %s: %s: --%s must be %d-D or %d-D, the file holds %d dimension%s\n", cmd, path,
                    opt, lo, hi, a->ndim, a->ndim == 1 ? "" : "s");
        return EXIT_IO;
    }
    moeroute_dtype d = MOEROUTE_DTYPE_FLOAT32;
    int ok;
    switch (a->dtype) {
    case NPY_DT_F2: ok = kinds & (K_FLOAT | K_HALF), d = MOEROUTE_DTYPE_FLOAT16; break;
    case NPY_DT_F4: ok = kinds & (K_FLOAT | K_F32), d = MOEROUTE_DTYPE_FLOAT32; break;
    case NPY_DT_U2: ok = (kinds & (K_FLOAT | K_HALF)) && bf16, d = MOEROUTE_DTYPE_BFLOAT16; break;
    case NPY_DT_I1: ok = kinds & K_INT8, d = MOEROUTE_DTYPE_INT8; break;
    case NPY_DT_I4: ok = kinds & K_INDEX32, d = MOEROUTE_DTYPE_INT32; break;
    case NPY_DT_I8: ok = kinds & K_INDEX64; break;
    case NPY_DT_B1: ok = kinds & K_BOOL; break;
    default: ok = 0; break;
    }
    if (!ok) {
        fprintf(stderr, "moeroute %s: %s: --%s must be %s, the file holds '%s'%s\n", cmd, path, opt, kind_text(kinds),
                a->descr, a->dtype == NPY_DT_U2 && (kinds & (K_FLOAT | K_HALF)) ? " (raw bfloat16 bits need --bf16)" : "");
        return EXIT_IO;
    }
    if (dt) *dt = d;
    return cli_to_c_order(cmd, a);
}

/* A zero-filled output buffer of rows * cols * esize bytes; EXIT_REFUSED when that is not addressable. */
static int alloc_output(const char *cmd, cli_state *s, int i, int64_t rows, int64_t cols, size_t esize,
                        const char *name)
{
    const uint64_t r = rows < 0 ? 0 : (uint64_t)rows, c = cols < 0 ? 0 : (uint64_t)cols;
    if ((c && r > SIZE_MAX / c) || (r * c != 0 && esize > SIZE_MAX / (r * c)))
        return cli_refused(cmd, "%s [%lld, %lld] is larger than this machine can address", name, (long long)rows,
                           (long long)cols);
    return cli_alloc_output(cmd, (size_t)(r * c) * esize, &s->out[i]);
}

/* ---- token-permute ------------------------------------------------------------------------------------------ */

static void usage_permute(FILE *f)
{
    fprintf(f,
            "usage: moeroute token-permute --tokens T.npy --indices I.npy [--num-out-tokens N] --out DIR [--bf16]\n"
            "                              [--threads T] [--isa NAME] [-v]\n"
            "\n"
            "The MoeTokenPermute operation (aclnnMoeTokenPermute, torch_npu npu_moe_token_permute): the k\n"
            "copies of every token grouped by expert, a stable sort of the flat positions t*k + j by index.\n"
            "\n"
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --tokens FILE      [T, H] '<f2', '<f4', '|i1', or '<u2' with --bf16 (rows copied bit for bit)\n"
            "  --indices FILE     [T, k] or [T] '<i4' or '<i8' (an int64 index must fit int32)\n"
            "attributes:\n"
            "  --num-out-tokens N 0 (default): all T*k rows; > 0: that many (at most T*k); < 0: T*k + N\n"
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       permuted_tokens.npy  [n, H] in tokens' dtype\n"
            "                       sorted_indices.npy   [T*k] int32: the output row of each copy\n"
            "                     files of those names are replaced; a refused input writes nothing\n" CLI_EXEC_HELP
            "%s",
            CLI_EXIT_HELP);
}

static int run_permute(int argc, char **argv)
{
    const char *cmd = "token-permute";
    combine_opts o;
    static const cli_required req[] = {REQ(tokens, "--tokens FILE"), REQ(indices, "--indices FILE"), REQ_OUT};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, PERMUTE_OPTS, o, usage_permute, req);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t num_out;
    if ((rc = cli_int_opt(cmd, "num-out-tokens", o.num_out_tokens, 0, &num_out))) return rc;
    cli_state s;
    memset(&s, 0, sizeof s);
    npy_array *tok = &s.in[0], *idx = &s.in[1];
    moeroute_dtype tdt;
    if ((rc = read_input(cmd, "tokens", o.tokens, tok, 2, 2, K_FLOAT | K_INT8, o.bf16, &tdt)) ||
        (rc = read_input(cmd, "indices", o.indices, idx, 1, 2, K_INDEX32 | K_INDEX64, 0, NULL)))
        goto done;
    const int64_t T = tok->shape[0], H = tok->shape[1], k = idx->ndim == 2 ? idx->shape[1] : 1;
    if (idx->shape[0] != T) {
        rc = cli_refused(cmd, "tokens has %lld rows but indices has %lld (both are T)", (long long)T,
                         (long long)idx->shape[0]);
        goto done;
    }
    const int64_t L = (int64_t)idx->count; /* T*k, at most the file's size */
    int64_t n = num_out <= 0 ? (num_out < -L ? 0 : num_out + L) : num_out;
    n = n > L ? L : n;
    if ((rc = alloc_output(cmd, &s, 0, n, H, cli_esize_of(tdt), "permuted_tokens")) ||
        (rc = alloc_output(cmd, &s, 1, L, 1, 4, "sorted_indices")) ||
        (rc = cli_open_context(cmd, o.threads, o.isa, &s.ctx)))
        goto done;
    moeroute_token_permute_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_tokens = T, a.k = k, a.hidden = H, a.num_out_tokens = num_out;
    a.tokens_dtype = tdt, a.tokens = tok->data, a.tokens_row_stride = H, a.tokens_col_stride = 1;
    a.indices_int64 = idx->dtype == NPY_DT_I8;
    a.indices = idx->data, a.indices_row_stride = k, a.indices_col_stride = 1;
    a.permuted_tokens = s.out[0], a.sorted_indices = s.out[1];
    if ((rc = cli_library_result(cmd, moeroute_token_permute(s.ctx, &a)))) goto done;
    const cli_out_file files[] = {{"permuted_tokens.npy", cli_npy_of(tdt), 2, {n, H}, s.out[0]},
                              {"sorted_indices.npy", NPY_DT_I4, 1, {L, 0}, s.out[1]}};
    rc = cli_write_outputs(cmd, o.out, files, 2, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- token-unpermute ---------------------------------------------------------------------------------------- */

static void usage_unpermute(FILE *f)
{
    fprintf(f,
            "usage: moeroute token-unpermute --permuted-tokens P.npy --sorted-indices S.npy [--probs W.npy]\n"
            "                                --out DIR [--bf16] [--threads T] [--isa NAME] [-v]\n"
            "\n"
            "The MoeTokenUnpermute operation (aclnnMoeTokenUnpermute, torch_npu npu_moe_token_unpermute): for\n"
            "every token t, out[t] = sum over j of permuted_tokens[sorted_indices[t*k + j]] * probs[t][j] in\n"
            "fp32, in slot order, rounded once to the token dtype. A slot whose index is >= M or whose\n"
            "probability is +-0 is skipped; a kept slot with a negative index is refused.\n"
            "\n"
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --permuted-tokens FILE  [M, H] '<f2', '<f4', or '<u2' with --bf16 (the expert rows)\n"
            "  --sorted-indices FILE   [T*k] '<i4' (as token-permute writes it)\n"
            "  --probs FILE       [T, k] '<f2', '<f4' or '<u2' with --bf16 (any with any token dtype); without\n"
            "                     it k = 1 and every row is taken as it is\n"
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       out.npy  [T, H] in permuted_tokens' dtype\n"
            "                     a file of that name is replaced; a refused input writes nothing\n" CLI_EXEC_HELP
            "%s",
            CLI_EXIT_HELP);
}

static int run_unpermute(int argc, char **argv)
{
    const char *cmd = "token-unpermute";
    combine_opts o;
    static const cli_required req[] = {REQ(permuted_tokens, "--permuted-tokens FILE"),
                                       REQ(sorted_indices, "--sorted-indices FILE"), REQ_OUT};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, UNPERMUTE_OPTS, o, usage_unpermute, req);
    if (rc) return rc < 0 ? 0 : rc;
    cli_state s;
    memset(&s, 0, sizeof s);
    npy_array *tok = &s.in[0], *idx = &s.in[1], *pr = &s.in[2];
    moeroute_dtype tdt, pdt = MOEROUTE_DTYPE_FLOAT32;
    if ((rc = read_input(cmd, "permuted-tokens", o.permuted_tokens, tok, 2, 2, K_FLOAT, o.bf16, &tdt)) ||
        (rc = read_input(cmd, "sorted-indices", o.sorted_indices, idx, 1, 1, K_INDEX32, 0, NULL)) ||
        (o.probs && (rc = read_input(cmd, "probs", o.probs, pr, 2, 2, K_FLOAT, o.bf16, &pdt))))
        goto done;
    const int64_t M = tok->shape[0], H = tok->shape[1], L = idx->shape[0];
    const int64_t T = o.probs ? pr->shape[0] : L, k = o.probs ? pr->shape[1] : 1;
    if (o.probs && (int64_t)pr->count != L) {
        rc = cli_refused(cmd,
                         "sorted_indices has %lld entries but probs is [%lld, %lld]: T*k must equal its length",
                         (long long)L, (long long)T, (long long)k);
        goto done;
    }
    if ((rc = alloc_output(cmd, &s, 0, T, H, cli_esize_of(tdt), "out")) ||
        (rc = cli_open_context(cmd, o.threads, o.isa, &s.ctx)))
        goto done;
    moeroute_token_unpermute_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_tokens = T, a.k = k, a.hidden = H, a.permuted_rows = M;
    a.tokens_dtype = tdt, a.permuted_tokens = tok->data, a.permuted_row_stride = H, a.permuted_col_stride = 1;
    a.sorted_indices = (const int32_t *)idx->data;
    if (o.probs) a.probs_dtype = pdt, a.probs = pr->data, a.probs_row_stride = k, a.probs_col_stride = 1;
    a.out = s.out[0];
    if ((rc = cli_library_result(cmd, moeroute_token_unpermute(s.ctx, &a)))) goto done;
    const cli_out_file file = {"out.npy", cli_npy_of(tdt), 2, {T, H}, s.out[0]};
    rc = cli_write_outputs(cmd, o.out, &file, 1, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- finalize-routing --------------------------------------------------------------------------------------- */

static void usage_finalize(FILE *f)
{
    fprintf(f,
            "usage: moeroute finalize-routing --expanded-x X.npy --expanded-row-idx R.npy [--x1 A.npy]\n"
            "                                 [--x2 B.npy] [--bias BIAS.npy] [--scales S.npy] [--expert-idx E.npy]\n"
            "                                 [--drop-pad-mode M] [--version 1|2] --out DIR [--bf16]\n"
            "                                 [--threads T] [--isa NAME] [-v]\n"
            "\n"
            "The MoeFinalizeRouting operations: version 2 (default) is aclnnMoeFinalizeRoutingV2 (torch_npu\n"
            "npu_moe_finalize_routing), version 1 aclnnMoeFinalizeRouting. For every token i,\n"
            "out[i] = x1[i] + x2[i] + sum over k of scales[i][k] * (expanded_x[r(i, k)] + bias[expert_idx[i][k]])\n"
            "term by term in slot order, fp16 steps for float16 and fp32 otherwise (bf16 stored ties-away in\n"
            "version 1, ties-to-even in version 2). r(i, k) = expanded_row_idx[i + k*N] (drop-pad-mode 0, 1) or\n"
            "[i*K + k] (2, 3); in modes 1 and 3 an index -1 skips the term.\n"
            "\n"
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --expanded-x FILE  [M, H] '<f2', '<f4' or '<u2' with --bf16; [E, C, H] in drop-pad-mode 1 and 3\n"
            "  --expanded-row-idx FILE  '<i4': version 1 [M], version 2 [N*K]\n"
            "  --x1 FILE, --x2 FILE     [N, H] in expanded_x's dtype (version 1 needs --x1)\n"
            "  --bias FILE        [E, H] in expanded_x's dtype (needs --expert-idx; version 1 needs it)\n"
            "  --scales FILE      [N, K] in expanded_x's dtype, or '<f4' with bfloat16 rows in version 2\n"
            "                     (version 2 without it: K = 1, every scale 1; version 1 needs it)\n"
            "  --expert-idx FILE  [N, K] '<i4': the expert of each slot, picks its bias row\n"
            "attributes:\n"
            "  --drop-pad-mode M  version 2: 0 (default), 1, 2 or 3; version 1: 0\n"
            "  --version V        2 (default) or 1\n"
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       out.npy  [N, H] in expanded_x's dtype\n"
            "                     a file of that name is replaced; a refused input writes nothing\n" CLI_EXEC_HELP
            "%s",
            CLI_EXIT_HELP);
}

/* An optional [rows, cols] input of the finalize (rows or cols < 0: free); the array when given, else NULL. */
static int read_side(const char *cmd, const char *opt, const char *path, npy_array *a, unsigned kinds, int bf16,
                     moeroute_dtype *dt, int64_t rows, int64_t cols, int *given)
{
    *given = path != NULL;
    if (!path) return 0;
    int rc = read_input(cmd, opt, path, a, 2, 2, kinds, bf16, dt);
    if (rc) return rc;
    if ((rows >= 0 && a->shape[0] != rows) || (cols >= 0 && a->shape[1] != cols)) {
        char want[48];
        if (rows >= 0) snprintf(want, sizeof want, "[%lld, %lld]", (long long)rows, (long long)cols);
        else snprintf(want, sizeof want, "[any, %lld]", (long long)cols);
        return cli_refused(cmd, "--%s is [%lld, %lld], it must be %s", opt, (long long)a->shape[0],
                           (long long)a->shape[1], want);
    }
    return 0;
}

static int run_finalize(int argc, char **argv)
{
    const char *cmd = "finalize-routing";
    combine_opts o;
    static const cli_required req[] = {REQ(expanded_x, "--expanded-x FILE"),
                                       REQ(expanded_row_idx, "--expanded-row-idx FILE"), REQ_OUT};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, FINALIZE_OPTS, o, usage_finalize, req);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t version, mode;
    if ((rc = cli_int_opt(cmd, "version", o.version, 2, &version)) ||
        (rc = cli_int_opt(cmd, "drop-pad-mode", o.drop_pad_mode, 0, &mode)))
        return rc;
    if (version != 1 && version != 2) return cli_usage_error(cmd, "--version must be 1 or 2, got '%s'", o.version);
    if (version == 1) {
        static const cli_required v1[] = {REQ(x1, "--x1 FILE (version 1)"), REQ(bias, "--bias FILE (version 1)"),
                                          REQ(scales, "--scales FILE (version 1)"),
                                          REQ(expert_idx, "--expert-idx FILE (version 1)"), {0, NULL, NULL}};
        if ((rc = cli_check_required(cmd, &o, v1))) return rc;
    }
    if (mode < INT32_MIN || mode > INT32_MAX)
        return cli_refused(cmd, "--drop-pad-mode must be 0..3, got %lld", (long long)mode);
    cli_state s;
    memset(&s, 0, sizeof s);
    npy_array *ex = &s.in[0], *ri = &s.in[1], *x1 = &s.in[2], *x2 = &s.in[3], *bias = &s.in[4], *sc = &s.in[5],
              *ei = &s.in[6];
    moeroute_dtype xdt, sdt, dummy;
    const int three_d = version == 2 && (mode == 1 || mode == 3);
    int has_x1, has_x2, has_bias, has_scales, has_ei;
    if ((rc = read_input(cmd, "expanded-x", o.expanded_x, ex, three_d ? 3 : 2, three_d ? 3 : 2, K_FLOAT, o.bf16,
                         &xdt)) ||
        (rc = read_input(cmd, "expanded-row-idx", o.expanded_row_idx, ri, 1, 1, K_INDEX32, 0, NULL)))
        goto done;
    const int64_t M = three_d ? ex->shape[0] * ex->shape[1] : ex->shape[0], H = ex->shape[three_d ? 2 : 1];
    const int64_t L = ri->shape[0];
    sdt = xdt;
    if ((rc = read_side(cmd, "scales", o.scales, sc, K_FLOAT, o.bf16, &sdt, -1, -1, &has_scales))) goto done;
    const int64_t N = has_scales ? sc->shape[0] : L, K = has_scales ? sc->shape[1] : 1;
    if ((rc = read_side(cmd, "x1", o.x1, x1, K_FLOAT, o.bf16, &dummy, N, H, &has_x1)) ||
        (rc = read_side(cmd, "x2", o.x2, x2, K_FLOAT, o.bf16, &dummy, N, H, &has_x2)) ||
        (rc = read_side(cmd, "bias", o.bias, bias, K_FLOAT, o.bf16, &dummy, three_d ? ex->shape[0] : -1, H,
                        &has_bias)) ||
        (rc = read_side(cmd, "expert-idx", o.expert_idx, ei, K_INDEX32, 0, NULL, N, K, &has_ei)))
        goto done;
    /* the dtypes that must match expanded_x's (the library takes one x_dtype for all of them) */
    const npy_array *same[] = {x1, x2, bias};
    const int given[] = {has_x1, has_x2, has_bias};
    const char *names[] = {"x1", "x2", "bias"};
    for (int i = 0; i < 3; i++)
        if (given[i] && same[i]->dtype != ex->dtype) {
            rc = cli_refused(cmd, "--%s holds '%s', it must have expanded_x's dtype '%s'", names[i], same[i]->descr,
                             ex->descr);
            goto done;
        }
    int64_t NK = N * K; /* N, K come from a file's shape: the product fits */
    if (version == 1 ? L != M : L != NK) {
        rc = cli_refused(cmd, "expanded_row_idx has %lld entries; version %lld needs %s = %lld", (long long)L,
                         (long long)version, version == 1 ? "M (rows of expanded_x)" : "N*K",
                         (long long)(version == 1 ? M : NK));
        goto done;
    }
    if (has_bias && !has_ei && NK > 0) {
        rc = cli_refused(cmd, "--bias needs --expert-idx (the expert of each slot)");
        goto done;
    }
    if ((rc = alloc_output(cmd, &s, 0, N, H, cli_esize_of(xdt), "out")) ||
        (rc = cli_open_context(cmd, o.threads, o.isa, &s.ctx)))
        goto done;
    moeroute_finalize_routing_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.version = (int32_t)version, a.drop_pad_mode = (int32_t)mode;
    a.num_rows = N, a.k = K, a.hidden = H, a.expanded_rows = M, a.num_experts = has_bias ? bias->shape[0] : 0;
    a.x_dtype = xdt, a.scales_dtype = has_scales ? sdt : xdt;
    a.expanded_x = ex->data, a.expanded_x_row_stride = H, a.expanded_x_col_stride = 1;
    a.expanded_row_idx = (const int32_t *)ri->data;
    a.x1 = has_x1 ? x1->data : NULL, a.x2 = has_x2 ? x2->data : NULL, a.bias = has_bias ? bias->data : NULL;
    a.scales = has_scales ? sc->data : NULL, a.expert_idx = has_ei ? (const int32_t *)ei->data : NULL;
    a.out = s.out[0];
    if ((rc = cli_library_result(cmd, moeroute_finalize_routing(s.ctx, &a)))) goto done;
    const cli_out_file file = {"out.npy", cli_npy_of(xdt), 2, {N, H}, s.out[0]};
    rc = cli_write_outputs(cmd, o.out, &file, 1, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- re-routing --------------------------------------------------------------------------------------------- */

static void usage_re_routing(FILE *f)
{
    fprintf(f,
            "usage: moeroute re-routing --tokens T.npy --expert-token-num-per-rank C.npy\n"
            "                           [--per-token-scales S.npy] --out DIR [--bf16] [--threads T] [--isa NAME]\n"
            "                           [-v]\n"
            "\n"
            "The MoeReRouting operation (aclnnMoeReRouting, torch_npu npu_moe_re_routing): rows received from an\n"
            "all-to-all rank-major (source rank r, then local expert e; block (r, e) holds C[r][e] rows) reordered\n"
            "expert-major (expert e's blocks from ranks 0..R-1, then e+1), keeping the order inside each block.\n"
            "\n"
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --tokens FILE      [A, H] '<f2', '|i1', or '<u2' with --bf16 (rows copied bit for bit)\n"
            "  --expert-token-num-per-rank FILE  [R, E] '<i4' or '<i8': each >= 0, their sum A (checked)\n"
            "  --per-token-scales FILE  [A] '<f4', carried with their rows (optional)\n"
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       permute_tokens.npy            [A, H] in tokens' dtype\n"
            "                       permute_per_token_scales.npy  [A] float32 (zeros without --per-token-scales)\n"
            "                       permute_token_idx.npy         [A] int32: the source row of each output row\n"
            "                       expert_token_num.npy          [E] in the counts' dtype: rows per expert\n"
            "                     files of those names are replaced; a refused input writes nothing\n" CLI_EXEC_HELP
            "%s",
            CLI_EXIT_HELP);
}

static int run_re_routing(int argc, char **argv)
{
    const char *cmd = "re-routing";
    combine_opts o;
    static const cli_required req[] = {REQ(tokens, "--tokens FILE"),
                                       REQ(counts, "--expert-token-num-per-rank FILE"), REQ_OUT};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, RE_ROUTING_OPTS, o, usage_re_routing, req);
    if (rc) return rc < 0 ? 0 : rc;
    cli_state s;
    memset(&s, 0, sizeof s);
    npy_array *tok = &s.in[0], *cnt = &s.in[1], *sc = &s.in[2];
    moeroute_dtype tdt;
    if ((rc = read_input(cmd, "tokens", o.tokens, tok, 2, 2, K_HALF | K_INT8, o.bf16, &tdt)) ||
        (rc = read_input(cmd, "expert-token-num-per-rank", o.counts, cnt, 2, 2, K_INDEX32 | K_INDEX64, 0, NULL)) ||
        (o.per_token_scales && (rc = read_input(cmd, "per-token-scales", o.per_token_scales, sc, 1, 1, K_F32, 0, NULL))))
        goto done;
    const int64_t A = tok->shape[0], H = tok->shape[1], R = cnt->shape[0], E = cnt->shape[1];
    if (o.per_token_scales && sc->shape[0] != A) {
        rc = cli_refused(cmd, "--per-token-scales has %lld entries; tokens has A = %lld rows",
                         (long long)sc->shape[0], (long long)A);
        goto done;
    }
    const size_t cs = cnt->dtype == NPY_DT_I8 ? 8 : 4;
    if ((rc = alloc_output(cmd, &s, 0, A, H, cli_esize_of(tdt), "permute_tokens")) ||
        (rc = alloc_output(cmd, &s, 1, A, 1, 4, "permute_per_token_scales")) ||
        (rc = alloc_output(cmd, &s, 2, A, 1, 4, "permute_token_idx")) ||
        (rc = alloc_output(cmd, &s, 3, E, 1, cs, "expert_token_num")) ||
        (rc = cli_open_context(cmd, o.threads, o.isa, &s.ctx)))
        goto done;
    moeroute_re_routing_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = A, a.hidden = H, a.num_ranks = R, a.num_experts = E;
    a.tokens_dtype = tdt, a.tokens = tok->data, a.tokens_row_stride = H, a.tokens_col_stride = 1;
    a.counts_int64 = cs == 8, a.counts = cnt->data, a.counts_row_stride = E, a.counts_col_stride = 1;
    if (o.per_token_scales) a.scales = (const float *)sc->data, a.scales_stride = 1;
    a.permuted_tokens = s.out[0], a.permuted_scales = s.out[1], a.permuted_idx = s.out[2], a.expert_tokens = s.out[3];
    if ((rc = cli_library_result(cmd, moeroute_re_routing(s.ctx, &a)))) goto done;
    const cli_out_file files[] = {{"permute_tokens.npy", cli_npy_of(tdt), 2, {A, H}, s.out[0]},
                              {"permute_per_token_scales.npy", NPY_DT_F4, 1, {A, 0}, s.out[1]},
                              {"permute_token_idx.npy", NPY_DT_I4, 1, {A, 0}, s.out[2]},
                              {"expert_token_num.npy", cs == 8 ? NPY_DT_I8 : NPY_DT_I4, 1, {E, 0}, s.out[3]}};
    rc = cli_write_outputs(cmd, o.out, files, 4, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- the table moeroute_cli.c dispatches on -------------------------------------------------------------------- */

/* ---- gating-top-k, gating-top-k-softmax ---------------------------------------------------------------------- */

static void usage_gating(FILE *f)
{
    fprintf(f,
            "usage: moeroute gating-top-k --x X.npy --k K [--bias B.npy] [--k-group G] [--group-count C]\n"
            "                             [--group-select-mode 0|1] [--norm-type 0|1] [--renorm 0|1] [--out-flag]\n"
            "                             [--routed-scaling-factor F] [--eps EPS] --out DIR [--bf16]\n"
            "                             [--threads T] [--isa NAME] [-v]\n"
            "\n"
            "The MoeGatingTopK operation (aclnnMoeGatingTopK, torch_npu npu_moe_gating_top_k): per row of the\n"
            "logits, scores s = sigmoid(x) (norm-type 1) or softmax(x) (0), selection scores s + bias; with groups\n"
            "(group-count > 1, != E, k-group != group-count) only the experts of the k-group best groups compete\n"
            "(a group scores its best, or with group-select-mode 1 the sum of its two best); the k best experts,\n"
            "their s as weights (sigmoid, or renorm 1: divided by their sum + eps) times the scaling factor.\n"
            "renorm 1 is vllm-ascend's variant (CANN's operator refuses it). exp and sigmoid are within 1 ulp.\n"
            "\n"
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --x FILE           [N, E] '<f2', '<f4', or '<u2' with --bf16 (the router's logits)\n"
            "  --bias FILE        [E] in x's dtype (selection only)\n"
            "attributes (defaults as CANN's): --k-group 1, --group-count 1, --group-select-mode 0, --norm-type 0,\n"
            "  --renorm 0, --routed-scaling-factor 1.0, --eps 1e-20\n"
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       y.npy           [N, k] in x's dtype: the weights\n"
            "                       expert_idx.npy  [N, k] int32: the experts, best first\n"
            "                       scores.npy      [N, E] float32: s (with --out-flag)\n"
            "                     files of those names are replaced; a refused input writes nothing\n" CLI_EXEC_HELP
            "%s",
            CLI_EXIT_HELP);
}

static int run_gating(int argc, char **argv)
{
    const char *cmd = "gating-top-k";
    combine_opts o;
    static const cli_required req[] = {REQ(x, "--x FILE"), REQ(k, "--k K"), REQ_OUT};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, GATING_OPTS, o, usage_gating, req);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t k, kg, gc, mode, renorm, norm;
    double rsf, eps;
    if ((rc = cli_int_opt(cmd, "k", o.k, 0, &k)) || (rc = cli_int_opt(cmd, "k-group", o.k_group, 1, &kg)) ||
        (rc = cli_int_opt(cmd, "group-count", o.group_count, 1, &gc)) ||
        (rc = cli_int_opt(cmd, "group-select-mode", o.group_select_mode, 0, &mode)) ||
        (rc = cli_int_opt(cmd, "renorm", o.renorm, 0, &renorm)) ||
        (rc = cli_int_opt(cmd, "norm-type", o.norm_type, 0, &norm)) ||
        (rc = cli_double_opt(cmd, "routed-scaling-factor", o.routed_scaling_factor, 1.0, &rsf)) ||
        (rc = cli_double_opt(cmd, "eps", o.eps, 1e-20, &eps)))
        return rc;
    if (mode != (int32_t)mode || renorm != (int32_t)renorm || norm != (int32_t)norm)
        return cli_refused(cmd, "group-select-mode, renorm and norm-type must be 0 or 1");
    cli_state s;
    memset(&s, 0, sizeof s);
    npy_array *x = &s.in[0], *bias = &s.in[1];
    moeroute_dtype xdt, bdt = MOEROUTE_DTYPE_FLOAT32;
    if ((rc = read_input(cmd, "x", o.x, x, 2, 2, K_FLOAT, o.bf16, &xdt)) ||
        (o.bias && (rc = read_input(cmd, "bias", o.bias, bias, 1, 1, K_FLOAT, o.bf16, &bdt))))
        goto done;
    const int64_t N = x->shape[0], E = x->shape[1];
    if (o.bias && (bias->shape[0] != E || bdt != xdt)) {
        rc = cli_refused(cmd, "bias must be [E] = [%lld] in x's dtype", (long long)E);
        goto done;
    }
    const int64_t kk = k < 0 ? 0 : k;
    if ((rc = alloc_output(cmd, &s, 0, N, kk, cli_esize_of(xdt), "y")) ||
        (rc = alloc_output(cmd, &s, 1, N, kk, 4, "expert_idx")) ||
        (o.out_flag && (rc = alloc_output(cmd, &s, 2, N, E, 4, "scores"))) ||
        (rc = cli_open_context(cmd, o.threads, o.isa, &s.ctx)))
        goto done;
    moeroute_gating_top_k_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = N, a.num_experts = E, a.k = k, a.k_group = kg, a.group_count = gc;
    a.group_select_mode = (int32_t)mode, a.renorm = (int32_t)renorm, a.norm_type = (int32_t)norm;
    a.routed_scaling_factor = rsf, a.eps = eps;
    a.x_dtype = xdt, a.x = x->data, a.x_row_stride = E, a.x_col_stride = 1;
    if (o.bias) a.bias = bias->data, a.bias_stride = 1;
    a.y = s.out[0], a.expert_idx = (int32_t *)s.out[1], a.out = (float *)s.out[2];
    if ((rc = cli_library_result(cmd, moeroute_gating_top_k(s.ctx, &a)))) goto done;
    const cli_out_file files[] = {{"y.npy", cli_npy_of(xdt), 2, {N, k}, s.out[0]},
                              {"expert_idx.npy", NPY_DT_I4, 2, {N, k}, s.out[1]},
                              {"scores.npy", NPY_DT_F4, 2, {N, E}, s.out[2]}};
    rc = cli_write_outputs(cmd, o.out, files, o.out_flag ? 3 : 2, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

static void usage_gating_softmax(FILE *f)
{
    fprintf(f,
            "usage: moeroute gating-top-k-softmax --x X.npy --k K [--finished F.npy] [--version 1|2] [--renorm 0|1]\n"
            "                                     [--softmax-result] --out DIR [--bf16] [--threads T] [--isa NAME]\n"
            "                                     [-v]\n"
            "\n"
            "The MoeGatingTopKSoftmax operations: version 1 (default) is aclnnMoeGatingTopKSoftmax (torch_npu\n"
            "npu_moe_gating_top_k_softmax), version 2 aclnnMoeGatingTopKSoftmaxV2. Per row, p = softmax(x) in\n"
            "fp32; the k largest p and their experts (E for every slot of a finished row); version 1 also the\n"
            "k-major row index j*N + r. Version 2 with --renorm 1 selects the k largest logits first and\n"
            "returns the softmax over them. exp is within 1 ulp of the correctly rounded value.\n"
            "\n"
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --x FILE           [N, E] or [B, S, E] '<f2', '<f4', or '<u2' with --bf16\n"
            "  --finished FILE    '|b1' with x's leading dims\n"
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       y.npy               [.., k] in x's dtype\n"
            "                       expert_idx.npy      [.., k] int32\n"
            "                       row_idx.npy         [.., k] int32 (version 1)\n"
            "                       softmax_result.npy  x's shape, float32 (version 2 with --softmax-result)\n"
            "                     files of those names are replaced; a refused input writes nothing\n" CLI_EXEC_HELP
            "%s",
            CLI_EXIT_HELP);
}

static int run_gating_softmax(int argc, char **argv)
{
    const char *cmd = "gating-top-k-softmax";
    combine_opts o;
    static const cli_required req[] = {REQ(x, "--x FILE"), REQ(k, "--k K"), REQ_OUT};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, GATING_SOFTMAX_OPTS, o, usage_gating_softmax, req);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t k, version, renorm;
    if ((rc = cli_int_opt(cmd, "k", o.k, 0, &k)) || (rc = cli_int_opt(cmd, "version", o.version, 1, &version)) ||
        (rc = cli_int_opt(cmd, "renorm", o.renorm, 0, &renorm)))
        return rc;
    if ((version != 1 && version != 2) || renorm != (int32_t)renorm)
        return cli_refused(cmd, "--version must be 1 or 2 and --renorm 0 or 1");
    if (o.softmax_result && version != 2)
        return cli_refused(cmd, "--softmax-result is an output of version 2 only");
    cli_state s;
    memset(&s, 0, sizeof s);
    npy_array *x = &s.in[0], *fin = &s.in[1];
    moeroute_dtype xdt;
    if ((rc = read_input(cmd, "x", o.x, x, 2, 3, K_FLOAT, o.bf16, &xdt)) ||
        (o.finished && (rc = read_input(cmd, "finished", o.finished, fin, 1, 2, K_BOOL, 0, NULL))))
        goto done;
    const int nd = x->ndim;
    const int64_t E = x->shape[nd - 1], N = nd == 3 ? x->shape[0] * x->shape[1] : x->shape[0];
    if (o.finished && (fin->ndim != nd - 1 || memcmp(fin->shape, x->shape, (size_t)(nd - 1) * sizeof(int64_t)))) {
        rc = cli_refused(cmd, "finished must have x's leading dims");
        goto done;
    }
    const int64_t kk = k < 0 ? 0 : k;
    if ((rc = alloc_output(cmd, &s, 0, N, kk, cli_esize_of(xdt), "y")) ||
        (rc = alloc_output(cmd, &s, 1, N, kk, 4, "expert_idx")) ||
        (version == 1 && (rc = alloc_output(cmd, &s, 2, N, kk, 4, "row_idx"))) ||
        (o.softmax_result && (rc = alloc_output(cmd, &s, 2, N, E, 4, "softmax_result"))) ||
        (rc = cli_open_context(cmd, o.threads, o.isa, &s.ctx)))
        goto done;
    moeroute_gating_top_k_softmax_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.version = (int32_t)version, a.renorm = (int32_t)renorm;
    a.num_rows = N, a.num_experts = E, a.k = k;
    a.x_dtype = xdt, a.x = x->data, a.x_row_stride = E, a.x_col_stride = 1;
    if (o.finished) a.finished = (const uint8_t *)fin->data, a.finished_stride = 1;
    a.y = s.out[0], a.expert_idx = (int32_t *)s.out[1];
    if (version == 1) a.row_idx = (int32_t *)s.out[2];
    else a.softmax_out = (float *)s.out[2];
    if ((rc = cli_library_result(cmd, moeroute_gating_top_k_softmax(s.ctx, &a)))) goto done;
    /* outputs keep x's leading dims: [B, S, k] for a 3-D x; the softmax result has x's shape */
    cli_out_file files[3] = {{"y.npy", cli_npy_of(xdt), nd, {0, 0, 0}, s.out[0]},
                             {"expert_idx.npy", NPY_DT_I4, nd, {0, 0, 0}, s.out[1]},
                             {version == 1 ? "row_idx.npy" : "softmax_result.npy",
                              version == 1 ? NPY_DT_I4 : NPY_DT_F4, nd, {0, 0, 0}, s.out[2]}};
    for (int i = 0; i < 3; i++) {
        memcpy(files[i].shape, x->shape, (size_t)nd * sizeof(int64_t));
        if (i < 2 || version == 1) files[i].shape[nd - 1] = k;
    }
    rc = cli_write_outputs(cmd, o.out, files, version == 1 || o.softmax_result ? 3 : 2, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

const cli_command CLI_COMBINE_COMMANDS[] = {
    {"token-permute", "MoeTokenPermute: token copies grouped by expert, a row count", run_permute, usage_permute},
    {"token-unpermute", "MoeTokenUnpermute: each token's expert rows weighted by probs, summed in fp32",
     run_unpermute, usage_unpermute},
    {"finalize-routing", "MoeFinalizeRouting V2 (or V1): skip inputs + scaled expert rows and bias", run_finalize,
     usage_finalize},
    {"re-routing", "MoeReRouting: all-to-all rows reordered from rank-major to expert-major", run_re_routing,
     usage_re_routing},
    {"gating-top-k", "MoeGatingTopK: sigmoid or softmax gating with bias and expert groups, top-k", run_gating,
     usage_gating},
    {"gating-top-k-softmax", "MoeGatingTopKSoftmax (V1, or V2): softmax gating, top-k", run_gating_softmax,
     usage_gating_softmax},
    {NULL, NULL, NULL, NULL},
};
