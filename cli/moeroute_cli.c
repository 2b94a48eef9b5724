/*
 * moeroute -- command-line front end of the moeroute library.
 *
 *   moeroute init-routing-quant --x X.npy --expert-idx E.npy [--row-idx R.npy] [--active-num N]
 *                               --scale S --offset O --out DIR
 *   moeroute init-routing       --x X.npy --expert-idx E.npy [--row-idx R.npy] [--active-num N] --out DIR
 *   moeroute init-routing-v2 | init-routing-quant-v2 | init-routing-v3 | compute-expert-tokens ...
 *            (routing_family_cmds.c)
 *   moeroute bench [moeroute_bench options]
 *   moeroute info
 *
 * Exit status is a contract for scripts (also in --help and cli/README.md):
 *   0 ok, 1 the library refused the input, 2 usage error, 3 file / I/O / format error.
 * The routing commands read every input and run the operator before creating any output, so a refused
 * input leaves the output directory as it was.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_common.h"
#include "moeroute.h"
#include "npy.h"

/* Where the build put moeroute_bench; the last place `moeroute bench` looks (see find_bench). */
#ifndef MOEROUTE_BENCH_PATH
#define MOEROUTE_BENCH_PATH ""
#endif

#define STR_(x) #x
#define STR(x) STR_(x)
#define CLI_VERSION STR(MOEROUTE_VERSION_MAJOR) "." STR(MOEROUTE_VERSION_MINOR) "." STR(MOEROUTE_VERSION_PATCH)

const char CLI_EXIT_HELP[] =
    "exit status:\n"
    "  0  success\n"
    "  1  the library refused the input (its message is printed): row_idx not a permutation, negative\n"
    "     --active-num, an attribute outside its set of values, an expert id outside [0, expert-num)\n"
    "     where it indexes, sorted experts out of order, array shapes that do not fit together, sizes\n"
    "     beyond the library's limits\n"
    "  2  usage error: unknown command or option, missing or malformed option value\n"
    "  3  file, I/O or format error: missing or unreadable file, malformed or truncated .npy, unsupported\n"
    "     dtype, big-endian data, wrong number of dimensions, output not writable, out of memory,\n"
    "     moeroute_bench not found\n";

static void usage_top(FILE *f)
{
    fprintf(f,
            "usage: moeroute <command> [options]\n"
            "       moeroute --version | --help\n"
            "\n"
            "MoE token routing on the CPU, bit for bit what CANN's aclnnMoeInitRoutingQuant,\n"
            "aclnnMoeInitRouting, their V2/V3 successors and aclnnMoeComputeExpertTokens compute on Ascend\n"
            "NPUs. Arrays are NumPy .npy files.\n"
            "\n"
            "commands:\n"
            "  %-21s  route tokens, write the expanded rows quantized to int8\n"
            "  %-21s  route tokens, write the expanded rows in x's dtype (bit copy)\n",
            "init-routing-quant", "init-routing");
    for (const cli_command *c = CLI_FAMILY_COMMANDS; c->name; c++) fprintf(f, "  %-21s  %s\n", c->name, c->summary);
    for (const cli_command *c = CLI_COMBINE_COMMANDS; c->name; c++) fprintf(f, "  %-21s  %s\n", c->name, c->summary);
    for (const cli_command *c = CLI_MLP_COMMANDS; c->name; c++) fprintf(f, "  %-21s  %s\n", c->name, c->summary);
    for (const cli_command *c = CLI_GMM_COMMANDS; c->name; c++) fprintf(f, "  %-21s  %s\n", c->name, c->summary);
    for (const cli_command *c = CLI_DISTRIBUTE_COMMANDS; c->name; c++) fprintf(f, "  %-21s  %s\n", c->name, c->summary);
    fprintf(f,
            "  %-21s  run the benchmark presets (moeroute_bench)\n"
            "  %-21s  versions, CPU instruction set, threads, environment overrides\n"
            "  %-21s  this text, or a command's\n"
            "\n"
            "'moeroute COMMAND --help' describes each command.\n"
            "\n"
            "environment:\n"
            "  MOEROUTE_NUM_THREADS  default thread count (default: the CPUs this process may run on)\n"
            "  MOEROUTE_ISA          caps the automatic instruction-set choice: scalar, avx2, avx512, neon\n"
            "  MOEROUTE_BENCH        path of the moeroute_bench program used by 'moeroute bench'\n"
            "\n"
            "%s",
            "bench", "info", "help [COMMAND]", CLI_EXIT_HELP);
}

static void usage_routing(FILE *f, int quant)
{
    const char *cmd = quant ? "init-routing-quant" : "init-routing";
    fprintf(f,
            "usage: moeroute %s --x X.npy --expert-idx E.npy [--row-idx R.npy] [--active-num N]\n"
            "%*s%s--out DIR [--x-bf16] [--threads T] [--isa NAME] [-v]\n"
            "\n",
            cmd, (int)strlen(cmd) + 17, "", quant ? "--scale S --offset O " : "");
    if (quant)
        fprintf(f, "The %s operation (aclnnMoeInitRoutingQuant): sort the N*K (token, slot) pairs of\n"
                   "expert_idx by expert id, stably; build the index maps; write the first min(N, active-num)*K\n"
                   "expanded rows of x quantized to int8, to_i8_rne(f16(f16(f16(x) * s) + o)).\n\n",
                cmd);
    else
        fprintf(f, "The %s operation (aclnnMoeInitRouting): sort the N*K (token, slot) pairs of\n"
                   "expert_idx by expert id, stably; build the index maps; copy the first min(N, active-num)*K\n"
                   "expanded rows of x bit for bit, in x's dtype.\n\n",
                cmd);
    fprintf(f,
            "inputs (.npy format 1.0, 2.0 or 3.0; little-endian; C or Fortran order):\n"
            "  --x FILE           x [N, H]: '<f2' float16, '<f4' float32, or with --x-bf16 '<u2' uint16\n"
            "  --x-bf16           x is bfloat16, stored as its raw 16-bit patterns in a uint16 array\n"
            "                     (numpy has no bfloat16: from torch, t.view(torch.int16).numpy().view('<u2'))\n"
            "  --expert-idx FILE  expert ids [N, K], '<i4' int32 (any values; the sort key)\n"
            "  --row-idx FILE     [N, K] '<i4', a permutation of 0..N*K-1; default: the canonical layout\n"
            "                     row_idx[i][j] = j*N + i that gating produces\n"
            "attributes:\n"
            "  --active-num N     tokens whose K copies are written (default N; larger values mean N)\n");
    if (quant)
        fprintf(f, "  --scale S          quantization scale (required; double -> float -> fp16 as on the device)\n"
                   "  --offset O         quantization offset (required; same conversion)\n");
    fprintf(f,
            "output:\n"
            "  --out DIR          directory, created if missing (its parent must exist), receiving\n"
            "                       expanded_x.npy           [min(N, active-num)*K, H] %s\n"
            "                       expanded_row_idx.npy     [N*K] int32 ('<i4')\n"
            "                       expanded_expert_idx.npy  [N*K] int32 ('<i4')\n"
            "                     files of those names are replaced; a refused input writes nothing\n"
            "execution:\n"
            "  --threads T        worker threads, 0 = default (MOEROUTE_NUM_THREADS, else all CPUs)\n"
            "  --isa NAME         auto, scalar, avx2, avx512 or neon: highest instruction set to use\n"
            "                     (results are identical for every choice)\n"
            "  -v, --verbose      print the files written\n"
            "  -h, --help         this text\n"
            "\n"
            "Options take their value as the next argument or after '=' (--active-num=4).\n"
            "\n"
            "%s",
            quant ? "int8 ('|i1')" : "dtype of x ('<u2' bits for bf16)", CLI_EXIT_HELP);
}

static void usage_routing_plain(FILE *f) { usage_routing(f, 0); }
static void usage_routing_quant(FILE *f) { usage_routing(f, 1); }

static void usage_info(FILE *f)
{
    fprintf(f,
            "usage: moeroute info\n"
            "\n"
            "Prints, one 'key: value' per line: the CLI and library versions, the instruction set the CPU\n"
            "supports, the instruction set and thread count a default context resolves to, the environment\n"
            "overrides in effect and the moeroute_bench program 'moeroute bench' would run.\n"
            "\n"
            "%s",
            CLI_EXIT_HELP);
}

static void usage_bench(FILE *f)
{
    fprintf(f,
            "usage: moeroute bench [moeroute_bench options]\n"
            "\n"
            "Runs the benchmark program moeroute_bench with the options given (for example --smoke, or\n"
            "--preset deepseek-v3 --n 4096 --dtype bf16). It is looked up as: $MOEROUTE_BENCH; then\n"
            "moeroute_bench next to this program; then the build tree's moeroute_bench. The exit status is\n"
            "moeroute_bench's (0 ok, 1 a case failed, 2 usage), or 3 when it cannot be found or started.\n");
}

/* ---- small helpers ------------------------------------------------------------------------------------ */

int cli_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s) return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = (int64_t)v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    if (!s || !*s) return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    /* ERANGE on underflow still gives the nearest representable value, which is what a user means */
    if (*end || (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))) return -1;
    *out = v;
    return 0;
}

static const char *isa_name(moeroute_isa isa)
{
    const char *n = moeroute_isa_name(isa);
    return n ? n : "unknown";
}

void cli_print_library_error(const char *cmd, moeroute_status st)
{
    cli_print_refusal(cmd, moeroute_status_string(st), moeroute_error_message());
}

void cli_print_refusal(const char *cmd, const char *status_name, const char *msg)
{
    /* one line: the library's messages (newest first, one per line) joined with "; " */
    fprintf(stderr, "moeroute %s: the library refused the input: %s", cmd, status_name);
    for (const char *p = msg; p && *p;) {
        const size_t n = strcspn(p, "\n");
        fprintf(stderr, "%s%.*s", p == msg ? ": " : "; ", (int)n, p);
        p += n + (p[n] == '\n');
    }
    fputc('\n', stderr);
}

int cli_alloc_output(const char *cmd, size_t bytes, void **out)
{
    *out = calloc(bytes ? bytes : 1, 1);
    if (*out) return 0;
    fprintf(stderr, "moeroute %s: out of memory allocating the outputs (%zu bytes)\n", cmd, bytes);
    return EXIT_IO;
}

/* ---- option parsing ------------------------------------------------------------------------------------ */

int cli_usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "moeroute %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'moeroute %s --help')\n", cmd);
    return EXIT_USAGE;
}

int cli_parse_opts(const char *cmd, int argc, char **argv, const cli_opt *table, size_t n, void *opts, int *help,
                   int *verbose)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *help = 1;
            return 0;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            *verbose = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') return cli_usage_error(cmd, "unexpected argument '%s'", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        const size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        if (eq && nlen == strlen("verbose") && !strncmp(name, "verbose", nlen))
            return cli_usage_error(cmd, "option '%s' takes no value", a);
        const cli_opt *spec = NULL;
        for (size_t k = 0; k < n; k++)
            if (strlen(table[k].name) == nlen && !strncmp(table[k].name, name, nlen)) spec = &table[k];
        if (!spec) return cli_usage_error(cmd, "unknown option '%s'", a);
        if (spec->is_flag) {
            if (eq) return cli_usage_error(cmd, "option '%s' takes no value", a);
            *(int *)(void *)((char *)opts + spec->field) = 1;
            continue;
        }
        const char **slot = (const char **)(void *)((char *)opts + spec->field);
        if (*slot) return cli_usage_error(cmd, "option '--%s' given twice", spec->name);
        if (eq) {
            *slot = eq + 1;
        } else {
            if (i + 1 >= argc) return cli_usage_error(cmd, "option '%s' needs a value", a);
            *slot = argv[++i];
        }
    }
    return 0;
}

int cli_exec_options(const char *cmd, const char *threads_s, const char *isa_s, moeroute_options *out)
{
    moeroute_options mopt = {0, MOEROUTE_ISA_AUTO};
    if (threads_s) {
        int64_t t;
        if (cli_parse_i64(threads_s, &t) || t < 0 || t > INT32_MAX)
            return cli_usage_error(cmd, "--threads: '%s' is not a thread count (0 or more)", threads_s);
        mopt.num_threads = (int32_t)t;
    }
    if (isa_s) {
        static const struct {
            const char *name;
            moeroute_isa isa;
        } isas[] = {{"auto", MOEROUTE_ISA_AUTO},
                    {"scalar", MOEROUTE_ISA_SCALAR},
                    {"avx2", MOEROUTE_ISA_AVX2},
                    {"avx512", MOEROUTE_ISA_AVX512},
                    {"neon", MOEROUTE_ISA_NEON}};
        int found = 0;
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++)
            if (!strcmp(isa_s, isas[i].name)) {
                mopt.isa = (int32_t)isas[i].isa;
                found = 1;
            }
        if (!found) return cli_usage_error(cmd, "--isa: '%s' is not one of auto, scalar, avx2, avx512, neon", isa_s);
    }
    *out = mopt;
    return 0;
}

/* options of init-routing and init-routing-quant */
typedef struct {
    const char *x, *expert_idx, *row_idx, *out;
    const char *active_num_s, *scale_s, *offset_s, *threads_s, *isa_s;
    int x_bf16, verbose, help;
} routing_opts;

static const cli_opt ROUTING_OPTS[] = {
    CLI_VALUE_OPT("x", routing_opts, x),
    CLI_VALUE_OPT("expert-idx", routing_opts, expert_idx),
    CLI_VALUE_OPT("row-idx", routing_opts, row_idx),
    CLI_VALUE_OPT("out", routing_opts, out),
    CLI_VALUE_OPT("active-num", routing_opts, active_num_s),
    CLI_VALUE_OPT("scale", routing_opts, scale_s),
    CLI_VALUE_OPT("offset", routing_opts, offset_s),
    CLI_VALUE_OPT("threads", routing_opts, threads_s),
    CLI_VALUE_OPT("isa", routing_opts, isa_s),
    CLI_FLAG_OPT("x-bf16", routing_opts, x_bf16),
};

/* ---- the routing commands -------------------------------------------------------------------------------- */

/* the inputs and outputs of a routing call in cli_state */
enum { R_X, R_EXPERT, R_ROW };
enum { R_EXPANDED_X, R_EXPANDED_ROW_IDX, R_EXPANDED_EXPERT_IDX };

/* element strides of a 2-D array as stored (C or Fortran order) */
void cli_strides_2d(const npy_array *a, int64_t *row_stride, int64_t *col_stride)
{
    if (a->fortran_order) {
        *row_stride = 1;
        *col_stride = a->shape[0];
    } else {
        *row_stride = a->shape[1];
        *col_stride = 1;
    }
}

int cli_check_index_array(const char *cmd, const char *opt, const char *path, const npy_array *a)
{
    if (a->ndim != 2) {
        fprintf(stderr, "moeroute %s: %s: --%s must be 2-D [N, K], the file holds %d dimension%s\n", cmd, path, opt,
                a->ndim, a->ndim == 1 ? "" : "s");
        return EXIT_IO;
    }
    if (a->dtype != NPY_DT_I4) {
        fprintf(stderr, "moeroute %s: %s: --%s must be int32 ('<i4'), the file holds '%s' (convert with "
                        "a.astype(np.int32))\n",
                cmd, path, opt, a->descr);
        return EXIT_IO;
    }
    return 0;
}

int cli_x_dtype(const char *cmd, const char *path, const npy_array *x, int x_bf16, int allow_int8,
                moeroute_dtype *dtype)
{
    if (x->ndim != 2) {
        fprintf(stderr, "moeroute %s: %s: --x must be 2-D [N, H], the file holds %d dimension%s\n", cmd, path, x->ndim,
                x->ndim == 1 ? "" : "s");
        return EXIT_IO;
    }
    if (x_bf16) {
        if (x->dtype != NPY_DT_U2) {
            fprintf(stderr, "moeroute %s: %s: --x-bf16 expects a uint16 array ('<u2') of raw bfloat16 bits, the "
                            "file holds '%s'\n",
                    cmd, path, x->descr);
            return EXIT_IO;
        }
        *dtype = MOEROUTE_DTYPE_BFLOAT16;
    } else if (x->dtype == NPY_DT_F2) {
        *dtype = MOEROUTE_DTYPE_FLOAT16;
    } else if (x->dtype == NPY_DT_F4) {
        *dtype = MOEROUTE_DTYPE_FLOAT32;
    } else if (allow_int8 && x->dtype == NPY_DT_I1) {
        *dtype = MOEROUTE_DTYPE_INT8;
    } else {
        const char *extra =
            x->dtype == NPY_DT_U2 ? " (for raw bfloat16 bits in '<u2' pass --x-bf16)" : ", or '<u2' with --x-bf16";
        fprintf(stderr, "moeroute %s: %s: --x must be float16 ('<f2')%s float32 ('<f4')%s%s, the file holds '%s'\n",
                cmd, path, allow_int8 ? "," : " or", allow_int8 ? " or int8 ('|i1')" : "", extra, x->descr);
        return EXIT_IO;
    }
    return 0;
}

int cli_check_routing_shapes(const char *cmd, const npy_array *x, const npy_array *expert, const npy_array *row)
{
    /* the native API takes one N and one K, so the check is made here with the words the aclnn API would use */
    const int64_t N = x->shape[0], K = expert->shape[1];
    if (expert->shape[0] != N) {
        fprintf(stderr, "moeroute %s: input refused: x has %lld rows but expert_idx has %lld "
                        "(both must be N)\n",
                cmd, (long long)N, (long long)expert->shape[0]);
        return EXIT_REFUSED;
    }
    if (row && (row->shape[0] != N || row->shape[1] != K)) {
        fprintf(stderr, "moeroute %s: input refused: row_idx has shape [%lld, %lld], expert_idx "
                        "[%lld, %lld] (they must be equal)\n",
                cmd, (long long)row->shape[0], (long long)row->shape[1], (long long)N, (long long)K);
        return EXIT_REFUSED;
    }
    /* N*K fits in size_t because expert_idx holds that many elements in memory */
    if (expert->count > (size_t)INT32_MAX) {
        fprintf(stderr, "moeroute %s: input refused: N*K = %zu exceeds INT32_MAX (indices are "
                        "int32)\n",
                cmd, expert->count);
        return EXIT_REFUSED;
    }
    return 0;
}

int cli_make_out_dir(const char *cmd, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        fprintf(stderr, "moeroute %s: %s: --out exists and is not a directory\n", cmd, dir);
        return EXIT_IO;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "moeroute %s: %s: cannot create the output directory: %s\n", cmd, dir, strerror(errno));
        return EXIT_IO;
    }
    return 0;
}

char *cli_out_path(const char *dir, const char *name)
{
    const size_t dl = strlen(dir), n = dl + strlen(name) + 2;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
    return path;
}

/* ---- the output set -------------------------------------------------------------------------------------
 * A command's output files are written as a set: each under a temporary name next to its final one
 * (cli_write_output), all renamed into place only once the command has succeeded (cli_commit_outputs, which
 * main calls after every command). A failed write, a failed command or a final name that cannot be replaced
 * removes the temporary files and leaves every existing file as it was. */

typedef struct staged_output {
    char *final; /* DIR/name */
    char *tmp;   /* DIR/name.tmpPID.SEQ, or NULL: remove `final` at the commit (cli_remove_output) */
    char *note;  /* the -v line printed at the commit, or NULL */
} staged_output;

static staged_output *g_staged;
static size_t g_nstaged, g_staged_cap, g_staged_seq;

static void free_staged(staged_output *o)
{
    free(o->final);
    free(o->tmp);
    free(o->note);
}

void cli_discard_outputs(void)
{
    for (size_t i = 0; i < g_nstaged; i++) {
        if (g_staged[i].tmp) unlink(g_staged[i].tmp);
        free_staged(&g_staged[i]);
    }
    free(g_staged);
    g_staged = NULL;
    g_nstaged = g_staged_cap = 0;
}

/* Takes ownership of the three strings (each may be NULL after an allocation failure: then nothing is
 * staged, the temporary file is removed and the whole set discarded). 0 or EXIT_IO. */
static int stage_output(const char *cmd, char *final, char *tmp, char *note, int need_note)
{
    static int at_exit;
    if (!at_exit) at_exit = atexit(cli_discard_outputs) == 0; /* temporary files never outlive an exit() */
    staged_output o = {final, tmp, note};
    if (g_nstaged == g_staged_cap) {
        const size_t cap = g_staged_cap ? 2 * g_staged_cap : 8;
        staged_output *grown = realloc(g_staged, cap * sizeof *grown);
        if (grown) {
            g_staged = grown;
            g_staged_cap = cap;
        }
    }
    if (!final || (need_note && !note) || g_nstaged == g_staged_cap) {
        fprintf(stderr, "moeroute %s: out of memory\n", cmd);
        if (tmp) unlink(tmp);
        free_staged(&o);
        cli_discard_outputs();
        return EXIT_IO;
    }
    g_staged[g_nstaged++] = o;
    return 0;
}

/* printf into a malloc'd string; NULL when out of memory */
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

int cli_write_output(const char *cmd, const char *dir, const char *name, npy_dtype dt, int ndim, const int64_t *shape,
                     const void *data, int verbose)
{
    char *path = cli_out_path(dir, name);
    char *tmp = NULL, *note = NULL;
    if (path) {
        tmp = str_printf("%s.tmp%ld.%zu", path, (long)getpid(), g_staged_seq++);
    }
    if (path && verbose) {
        char dims[8 * 24 + 4] = "";
        size_t dn = 0;
        for (int i = 0; i < ndim && i < 8; i++)
            dn += (size_t)snprintf(dims + dn, sizeof dims - dn, "%s%lld", i ? ", " : "", (long long)shape[i]);
        note = str_printf("wrote %s '%s' [%s]", path, npy_dtype_descr(dt), dims);
    }
    if (tmp) {
        char err[512];
        if (npy_write_new(tmp, dt, ndim, shape, data, err, sizeof err) != NPY_OK) {
            fprintf(stderr, "moeroute %s: %s: %s\n", cmd, path, err);
            free(path);
            free(tmp);
            free(note);
            cli_discard_outputs();
            return EXIT_IO;
        }
    }
    return stage_output(cmd, path, tmp, note, verbose);
}

int cli_remove_output(const char *cmd, const char *dir, const char *name, int verbose)
{
    char *path = cli_out_path(dir, name);
    char *note = path && verbose ? str_printf("removed %s (not an output of this call)", path) : NULL;
    return stage_output(cmd, path, NULL, note, verbose);
}

int cli_commit_outputs(const char *cmd, int rc)
{
    if (g_nstaged == 0) return rc;
    if (rc != 0) {
        cli_discard_outputs();
        return rc;
    }
    /* what would make a rename fail half-way, checked before the first one */
    for (size_t i = 0; i < g_nstaged; i++) {
        struct stat st;
        if (lstat(g_staged[i].final, &st) == 0 && S_ISDIR(st.st_mode)) {
            fprintf(stderr, "moeroute %s: %s: is a directory, cannot be replaced by an output file (no output "
                            "was written)\n",
                    cmd, g_staged[i].final);
            cli_discard_outputs();
            return EXIT_IO;
        }
    }
    for (size_t i = 0; i < g_nstaged; i++) {
        staged_output *o = &g_staged[i];
        const int gone = o->tmp ? rename(o->tmp, o->final) == 0 : unlink(o->final) == 0; /* done (or ENOENT) */
        const int failed = !gone && (o->tmp || errno != ENOENT);
        if (failed) {
            fprintf(stderr, "moeroute %s: %s: cannot %s: %s\n", cmd, o->final,
                    o->tmp ? "move the new file into place" : "remove this output of an earlier call", strerror(errno));
            rc = EXIT_IO;
            break;
        }
        if (o->tmp) {
            free(o->tmp);
            o->tmp = NULL; /* in place: not removed by the discard below */
        }
        if (o->note && gone) printf("%s\n", o->note); /* "removed": only for a file that was there */
    }
    cli_discard_outputs();
    return rc;
}

/* hint: what the option wants, added when the file holds a dtype the reader does not take at all */
int cli_read_input(const char *cmd, const char *path, npy_array *a, const char *hint)
{
    char err[512];
    const npy_result r = npy_read(path, a, err, sizeof err);
    if (r != NPY_OK) {
        if (r == NPY_ERR_DTYPE) fprintf(stderr, "moeroute %s: %s; %s\n", cmd, err, hint);
        else fprintf(stderr, "moeroute %s: %s\n", cmd, err);
        return EXIT_IO;
    }
    return 0;
}

static int cmd_routing(int quant, int argc, char **argv)
{
    const char *cmd = quant ? "init-routing-quant" : "init-routing";
    routing_opts o;
    static const cli_required req[] = {CLI_REQUIRED(routing_opts, x, "--x FILE", NULL),
                                       CLI_REQUIRED(routing_opts, expert_idx, "--expert-idx FILE", NULL),
                                       CLI_REQUIRED(routing_opts, out, "--out DIR", "--out is empty"),
                                       {0, NULL, NULL}};
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, ROUTING_OPTS, o, quant ? usage_routing_quant : usage_routing_plain,
                               req);
    if (rc) return rc < 0 ? 0 : rc;

    double scale = 0.0, offset = 0.0;
    if (quant) {
        if (!o.scale_s) return cli_usage_error(cmd, "missing %s", "--scale S");
        if (!o.offset_s) return cli_usage_error(cmd, "missing %s", "--offset O");
        if (cli_parse_double(o.scale_s, &scale))
            return cli_usage_error(cmd, "--scale: '%s' is not a number", o.scale_s);
        if (cli_parse_double(o.offset_s, &offset))
            return cli_usage_error(cmd, "--offset: '%s' is not a number", o.offset_s);
    } else if (o.scale_s || o.offset_s) {
        return cli_usage_error(cmd, "%s: --scale and --offset belong to init-routing-quant",
                               "init-routing copies rows");
    }
    int64_t active_num = -1;
    const int have_active = o.active_num_s != NULL;
    if (have_active && cli_parse_i64(o.active_num_s, &active_num))
        return cli_usage_error(cmd, "--active-num: '%s' is not an integer", o.active_num_s);
    moeroute_options mopt;
    rc = cli_exec_options(cmd, o.threads_s, o.isa_s, &mopt);
    if (rc) return rc;

    cli_state s;
    memset(&s, 0, sizeof s);
    rc = cli_read_input(cmd, o.x, &s.in[R_X],
                        "--x must be float16 ('<f2'), float32 ('<f4') or, with --x-bf16, raw bfloat16 bits ('<u2')");
    if (!rc)
        rc = cli_read_input(cmd, o.expert_idx, &s.in[R_EXPERT],
                            "--expert-idx must be int32 ('<i4'): convert with a.astype(np.int32)");
    if (!rc && o.row_idx)
        rc = cli_read_input(cmd, o.row_idx, &s.in[R_ROW],
                            "--row-idx must be int32 ('<i4'): convert with a.astype(np.int32)");
    if (rc) goto done;

    /* dtypes and ranks: properties of the files (exit 3) */
    moeroute_dtype x_dtype;
    rc = cli_x_dtype(cmd, o.x, &s.in[R_X], o.x_bf16, 0, &x_dtype);
    if (rc) goto done;
    rc = cli_check_index_array(cmd, "expert-idx", o.expert_idx, &s.in[R_EXPERT]);
    if (!rc && o.row_idx) rc = cli_check_index_array(cmd, "row-idx", o.row_idx, &s.in[R_ROW]);
    if (rc) goto done;

    /* shapes that do not fit together: the operator refuses them (exit 1) */
    rc = cli_check_routing_shapes(cmd, &s.in[R_X], &s.in[R_EXPERT], o.row_idx ? &s.in[R_ROW] : NULL);
    if (rc) goto done;
    const int64_t N = s.in[R_X].shape[0], H = s.in[R_X].shape[1], K = s.in[R_EXPERT].shape[1];
    const size_t L = s.in[R_EXPERT].count;
    if (!have_active) active_num = N;
    /* a negative active_num is the library's to refuse; no rows are allocated for it */
    const int64_t active_rows = active_num < 0 ? 0 : (active_num < N ? active_num : N);
    const size_t xitem = quant ? 1 : s.in[R_X].itemsize;
    const size_t A = (size_t)active_rows * (size_t)K; /* <= N*K = L */
    /* H can exceed SIZE_MAX only when N = 0 (x then holds no element), and then A = 0 */
    if (A && (uint64_t)H > SIZE_MAX / xitem / A) {
        fprintf(stderr, "moeroute %s: input refused: expanded_x [%zu, %lld] is larger than this "
                        "machine can address\n",
                cmd, A, (long long)H);
        rc = EXIT_REFUSED;
        goto done;
    }
    const size_t xbytes = A * (size_t)H * xitem;
    s.out[R_EXPANDED_X] = malloc(xbytes ? xbytes : 1);
    s.out[R_EXPANDED_ROW_IDX] = malloc(L ? L * sizeof(int32_t) : 1);
    s.out[R_EXPANDED_EXPERT_IDX] = malloc(L ? L * sizeof(int32_t) : 1);
    if (!s.out[R_EXPANDED_X] || !s.out[R_EXPANDED_ROW_IDX] || !s.out[R_EXPANDED_EXPERT_IDX]) {
        fprintf(stderr, "moeroute %s: out of memory allocating the outputs (%zu + 2 x %zu bytes)\n", cmd, xbytes,
                L * sizeof(int32_t));
        rc = EXIT_IO;
        goto done;
    }

    if ((rc = cli_library_result(cmd, moeroute_context_create(&mopt, &s.ctx)))) goto done;
    moeroute_init_routing_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = N;
    a.k = K;
    a.hidden = H;
    a.active_num = active_num;
    a.x_dtype = x_dtype;
    a.x = s.in[R_X].data;
    cli_strides_2d(&s.in[R_X], &a.x_row_stride, &a.x_col_stride);
    a.expert_idx = (const int32_t *)s.in[R_EXPERT].data;
    cli_strides_2d(&s.in[R_EXPERT], &a.expert_row_stride, &a.expert_col_stride);
    if (o.row_idx) {
        a.row_idx = (const int32_t *)s.in[R_ROW].data;
        cli_strides_2d(&s.in[R_ROW], &a.row_idx_row_stride, &a.row_idx_col_stride);
    }
    a.expanded_x_dtype = quant ? MOEROUTE_DTYPE_INT8 : x_dtype;
    a.scale = scale;
    a.offset = offset;
    a.expanded_x = s.out[R_EXPANDED_X];
    a.expanded_row_idx = s.out[R_EXPANDED_ROW_IDX];
    a.expanded_expert_idx = s.out[R_EXPANDED_EXPERT_IDX];
    if ((rc = cli_library_result(cmd, moeroute_init_routing(s.ctx, &a)))) goto done;

    const cli_out_file files[] = {
        {"expanded_x.npy", quant ? NPY_DT_I1 : s.in[R_X].dtype, 2, {(int64_t)A, H}, s.out[R_EXPANDED_X]},
        {"expanded_row_idx.npy", NPY_DT_I4, 1, {(int64_t)L}, s.out[R_EXPANDED_ROW_IDX]},
        {"expanded_expert_idx.npy", NPY_DT_I4, 1, {(int64_t)L}, s.out[R_EXPANDED_EXPERT_IDX]}};
    rc = cli_write_outputs(cmd, o.out, files, 3, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- bench ------------------------------------------------------------------------------------------------ */

/* Directory of this executable: /proc/self/exe where there is one, else argv[0] when it names a path. */
static int self_dir(const char *argv0, char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n > 0 && (size_t)n < cap - 1) {
        buf[n] = '\0';
    } else {
        if (!argv0 || !strchr(argv0, '/') || strlen(argv0) >= cap) return -1;
        strcpy(buf, argv0);
    }
    char *slash = strrchr(buf, '/');
    if (!slash) return -1;
    if (slash == buf) slash[1] = '\0';
    else slash[0] = '\0';
    return 0;
}

/* The moeroute_bench to run and where it was found; returns 0 when a candidate exists. */
static int find_bench(const char *argv0, char *buf, size_t cap, const char **how)
{
    const char *env = getenv("MOEROUTE_BENCH");
    if (env && *env) {
        *how = "$MOEROUTE_BENCH";
        if (strlen(env) >= cap) return -1;
        strcpy(buf, env);
        return 0; /* used as given: a wrong value must be reported, not silently replaced */
    }
    char dir[4096];
    if (self_dir(argv0, dir, sizeof dir) == 0) {
        int n = snprintf(buf, cap, "%s/moeroute_bench", dir);
        if (n > 0 && (size_t)n < cap && access(buf, X_OK) == 0) {
            *how = "next to moeroute";
            return 0;
        }
    }
    if (MOEROUTE_BENCH_PATH[0] && strlen(MOEROUTE_BENCH_PATH) < cap && access(MOEROUTE_BENCH_PATH, X_OK) == 0) {
        strcpy(buf, MOEROUTE_BENCH_PATH);
        *how = "build tree";
        return 0;
    }
    *how = "not found";
    return -1;
}

static int cmd_bench(const char *argv0, int argc, char **argv)
{
    int help = 0;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) help = 1;
    char path[4096];
    const char *how = NULL;
    const int found = find_bench(argv0, path, sizeof path, &how) == 0;
    if (help) {
        usage_bench(stdout);
        if (!found) {
            printf("\nmoeroute_bench was not found; set MOEROUTE_BENCH to its path.\n");
            return 0;
        }
        printf("\nmoeroute_bench (%s: %s) takes these options:\n", how, path);
        fflush(stdout);
    }
    if (!found) {
        fprintf(stderr, "moeroute bench: moeroute_bench not found (looked at $MOEROUTE_BENCH, next to this program "
                        "and in the build tree); set MOEROUTE_BENCH to its path\n");
        return EXIT_IO;
    }
    /* exec keeps the terminal, the signals and the exit status moeroute_bench's own; it prints one line per
     * case as it goes, which is the progress report */
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) {
        fprintf(stderr, "moeroute bench: out of memory\n");
        return EXIT_IO;
    }
    args[0] = path;
    for (int i = 0; i < argc; i++) args[i + 1] = help ? NULL : argv[i];
    static char help_opt[] = "--help";
    if (help) args[1] = help_opt;
    fflush(stdout);
    fflush(stderr);
    execv(path, args);
    const int e = errno;
    fprintf(stderr, "moeroute bench: cannot run %s (%s): %s\n", path, how, strerror(e));
    free(args);
    return EXIT_IO;
}

/* ---- info ------------------------------------------------------------------------------------------------- */

static int cmd_info(const char *argv0, int argc, char **argv)
{
    if (argc > 0) {
        if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
            usage_info(stdout);
            return EXIT_OK;
        }
        return cli_usage_error("info", "unexpected argument '%s'", argv[0]);
    }
    moeroute_context *ctx = NULL;
    moeroute_status st = moeroute_context_create(NULL, &ctx);
    if (st != MOEROUTE_OK) {
        cli_print_library_error("info", st);
        return EXIT_REFUSED;
    }
    printf("version: %s\n", moeroute_version_string());
    printf("cli-built-against: %s\n", CLI_VERSION);
    printf("detected-isa: %s\n", isa_name(moeroute_detected_isa()));
    printf("context-isa: %s\n", isa_name(moeroute_context_isa(ctx)));
    printf("context-threads: %d\n", (int)moeroute_context_threads(ctx));
    moeroute_context_destroy(ctx);

    const char *isa_env = getenv("MOEROUTE_ISA");
    if (!isa_env) printf("MOEROUTE_ISA: (unset)\n");
    else {
        const int known = !strcmp(isa_env, "scalar") || !strcmp(isa_env, "avx2") || !strcmp(isa_env, "avx512") ||
                          !strcmp(isa_env, "neon");
        printf("MOEROUTE_ISA: %s%s\n", isa_env, known ? "" : " (not a known level: ignored)");
    }
    const char *thr_env = getenv("MOEROUTE_NUM_THREADS");
    if (!thr_env) printf("MOEROUTE_NUM_THREADS: (unset)\n");
    else {
        int64_t v;
        const int ok =
            thr_env[0] >= '0' && thr_env[0] <= '9' && cli_parse_i64(thr_env, &v) == 0 && v > 0 && v <= INT_MAX;
        printf("MOEROUTE_NUM_THREADS: %s%s\n", thr_env, ok ? "" : " (not a positive integer: ignored)");
    }
    char path[4096];
    const char *how = NULL;
    if (find_bench(argv0, path, sizeof path, &how) == 0) printf("bench: %s (%s)\n", path, how);
    else printf("bench: (not found)\n");
    return 0;
}

static const cli_command *find_family_command(const char *name)
{
    for (const cli_command *c = CLI_FAMILY_COMMANDS; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    for (const cli_command *c = CLI_COMBINE_COMMANDS; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    for (const cli_command *c = CLI_MLP_COMMANDS; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    for (const cli_command *c = CLI_GMM_COMMANDS; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    for (const cli_command *c = CLI_DISTRIBUTE_COMMANDS; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

/* ---- main --------------------------------------------------------------------------------------------------- */

static int run_command(int argc, char **argv)
{
    if (argc < 2) {
        usage_top(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage_top(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("moeroute %s\n", moeroute_version_string());
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            usage_top(stdout);
            return 0;
        }
        const char *c = argv[2];
        const cli_command *fc = find_family_command(c);
        if (!strcmp(c, "init-routing-quant")) usage_routing(stdout, 1);
        else if (!strcmp(c, "init-routing")) usage_routing(stdout, 0);
        else if (fc) fc->usage(stdout);
        else if (!strcmp(c, "bench")) usage_bench(stdout);
        else if (!strcmp(c, "info")) usage_info(stdout);
        else {
            fprintf(stderr, "moeroute help: unknown command '%s' (see 'moeroute --help')\n", c);
            return EXIT_USAGE;
        }
        return 0;
    }
    if (!strcmp(cmd, "init-routing-quant")) return cmd_routing(1, argc - 2, argv + 2);
    if (!strcmp(cmd, "init-routing")) return cmd_routing(0, argc - 2, argv + 2);
    const cli_command *fc = find_family_command(cmd);
    if (fc) return fc->run(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argv[0], argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) return cmd_info(argv[0], argc - 2, argv + 2);
    fprintf(stderr, "moeroute: unknown command '%s' (see 'moeroute --help')\n", cmd);
    return EXIT_USAGE;
}

/* every command's output files are renamed into place here, as a set, when it succeeded */
int main(int argc, char **argv)
{
    const int rc = run_command(argc, argv);
    return cli_commit_outputs(argc > 1 ? argv[1] : "", rc);
}
