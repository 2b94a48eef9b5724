/*
 * cli_common.h -- what the moeroute CLI's command files share: exit codes, option parsing, the input and
 * output helpers (defined in moeroute_cli.c), the command plumbing (cli_ops.c: required options, state,
 * context, output files), and the command tables of the command files.
 *
 * Every helper that reports a problem prints one message on stderr, prefixed "moeroute CMD: ", and returns
 * the exit status that goes with it (see cli/README.md, EXIT STATUS); 0 means success.
 */
#ifndef MOEROUTE_CLI_COMMON_H
#define MOEROUTE_CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "moeroute.h"
#include "npy.h"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_IO = 3 };

/* The "exit status:" paragraph that ends every command's --help. */
extern const char CLI_EXIT_HELP[];

/* ---- option parsing ------------------------------------------------------------------------------------ */

/* One --name option of a command: a value option stores its argument (const char *) at `field` of the
 * command's options struct, a flag stores 1 in the int at `field`. */
typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    size_t field;     /* offsetof the const char * or int in the options struct */
    int is_flag;
} cli_opt;

#define CLI_VALUE_OPT(name, type, member) {name, offsetof(type, member), 0}
#define CLI_FLAG_OPT(name, type, member) {name, offsetof(type, member), 1}

/* Parse argv against table into opts (which the caller zeroes first). -h/--help sets *help and stops;
 * -v/--verbose sets *verbose. Values come as the next argument or after '='. Returns 0 or EXIT_USAGE with
 * the message printed: unknown option, option given twice, missing value, a value given to a flag, a stray
 * argument. */
int cli_parse_opts(const char *cmd, int argc, char **argv, const cli_opt *table, size_t n, void *opts, int *help,
                   int *verbose);

/* "moeroute CMD: <fmt with arg>\n(see 'moeroute CMD --help')" on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, const char *arg);

/* Whole-string decimal integer / floating-point number; 0 on success, -1 otherwise. */
int cli_parse_i64(const char *s, int64_t *out);
int cli_parse_double(const char *s, double *out);

/* --threads and --isa (either may be NULL: the default) into *out; 0 or EXIT_USAGE. */
int cli_exec_options(const char *cmd, const char *threads_s, const char *isa_s, moeroute_options *out);

/* The library's status name and message after a refused call (the caller returns EXIT_REFUSED). */
void cli_print_library_error(const char *cmd, moeroute_status st);
/* The same line from a status name and the messages (newest first, one per line; NULL: none): for refusals
 * read on another thread, or HCCL's. */
void cli_print_refusal(const char *cmd, const char *status_name, const char *msg);

/* A zeroed output buffer of `bytes` (at least 1) into *out, for the caller to free; 0 or EXIT_IO. */
int cli_alloc_output(const char *cmd, size_t bytes, void **out);

/* A native entry point with a common signature (a wrapper around moeroute_<op>); cli_run_native is in cli_ops.c. */
typedef moeroute_status (*cli_native_fn)(moeroute_context *ctx, const void *args);
/* --threads / --isa (NULL: the default) into a new context *ctx (the caller destroys it), then call(*ctx, args):
 * 0, EXIT_USAGE for a bad option, or EXIT_REFUSED with the library's message. */
int cli_run_native(const char *cmd, const char *threads, const char *isa, moeroute_context **ctx, cli_native_fn call,
                   const void *args);

/* ---- command plumbing (cli_ops.c) --------------------------------------------------------------------------- */

/* A required option of a command: the const char * at `field` of its options struct, named `what` ("--x FILE")
 * in "missing ..."; if_empty (when not NULL) is the usage message for an empty value. The table ends with a
 * NULL what. */
typedef struct cli_required {
    size_t field;
    const char *what;
    const char *if_empty;
} cli_required;
#define CLI_REQUIRED(type, member, what, if_empty) {offsetof(type, member), what, if_empty}

/* The required options checked in table order: 0 or EXIT_USAGE ("missing --x FILE", or if_empty). */
int cli_check_required(const char *cmd, const void *opts, const cli_required *req);

/* opts (opts_size bytes, zeroed first) from argv (cli_parse_opts), then -h/--help printed by usage (returns -1;
 * the command then exits 0), then cli_check_required. -1, 0 or EXIT_USAGE. CLI_PARSE_COMMAND passes an options
 * struct o (with int help, verbose) and its table. */
int cli_parse_command(const char *cmd, int argc, char **argv, const cli_opt *table, size_t n, void *opts,
                      size_t opts_size, int *help, int *verbose, void (*usage)(FILE *), const cli_required *req);
#define CLI_PARSE_COMMAND(cmd, argc, argv, table, o, usage, req)                                                  \
    cli_parse_command(cmd, argc, argv, table, sizeof(table) / sizeof((table)[0]), &(o), sizeof(o), &(o).help,    \
                      &(o).verbose, usage, req)

/* An integer / floating-point option: absent (s NULL) -> dflt; not an integer / a number -> EXIT_USAGE. */
int cli_int_opt(const char *cmd, const char *opt, const char *s, int64_t dflt, int64_t *out);
int cli_double_opt(const char *cmd, const char *opt, const char *s, double dflt, double *out);

/* "moeroute CMD: input refused: <fmt ...>" on stderr (arrays whose shapes do not fit together, sizes too
 * large); returns EXIT_REFUSED. */
int cli_refused(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Every input array, output buffer and the context of one call, released together by cli_state_free. */
#define CLI_MAX_IN 8
#define CLI_MAX_OUT 6
typedef struct cli_state {
    npy_array in[CLI_MAX_IN];
    void *out[CLI_MAX_OUT];
    moeroute_context *ctx;
} cli_state;
void cli_state_free(cli_state *s);

/* A Fortran-order array's elements rewritten in C order, in place (the native API reads rows); a C-order one is
 * left as it is. 0 or EXIT_IO (out of memory). */
int cli_to_c_order(const char *cmd, npy_array *a);

/* 0 for MOEROUTE_OK, else the library's status name and message and EXIT_REFUSED. */
int cli_library_result(const char *cmd, moeroute_status st);

/* --threads / --isa (NULL: the default) into a new context *ctx (the caller destroys it): 0, EXIT_USAGE for a
 * bad option, or EXIT_REFUSED with the library's message. */
int cli_open_context(const char *cmd, const char *threads, const char *isa, moeroute_context **ctx);

/* One output file of a call: DIR/name written from data, or removed (an output of an earlier call) when data
 * is NULL. */
typedef struct cli_out_file {
    const char *name;
    npy_dtype dt;
    int ndim;
    int64_t shape[3];
    const void *data;
} cli_out_file;

/* --out DIR made (cli_make_out_dir), then the files written or removed in order (staged; see
 * cli_write_output). 0 or EXIT_IO. */
int cli_write_outputs(const char *cmd, const char *dir, const cli_out_file *files, int n, int verbose);

/* The .npy dtype of a moeroute dtype (bfloat16: '<u2') and its element size in bytes. */
npy_dtype cli_npy_of(moeroute_dtype dt);
size_t cli_esize_of(moeroute_dtype dt);

/* ---- inputs ------------------------------------------------------------------------------------------------ */

/* npy_read with the messages of the CLI; hint is printed when the file's dtype is one the reader does not
 * take at all. 0 or EXIT_IO. */
int cli_read_input(const char *cmd, const char *path, npy_array *a, const char *hint);

/* x must be 2-D; its dtype gives *dtype: '<f2', '<f4', '<u2' with --x-bf16 (x_bf16), '|i1' when allow_int8.
 * 0 or EXIT_IO. */
int cli_x_dtype(const char *cmd, const char *path, const npy_array *x, int x_bf16, int allow_int8,
                moeroute_dtype *dtype);

/* an index array (--expert-idx, --row-idx): 2-D int32. 0 or EXIT_IO. */
int cli_check_index_array(const char *cmd, const char *opt, const char *path, const npy_array *a);

/* x [N, H] and expert_idx [N, K] (and row_idx, when not NULL, [N, K]) fit together and N*K <= INT32_MAX;
 * 0 or EXIT_REFUSED. */
int cli_check_routing_shapes(const char *cmd, const npy_array *x, const npy_array *expert, const npy_array *row);

/* element strides of a 2-D array as stored (C or Fortran order) */
void cli_strides_2d(const npy_array *a, int64_t *row_stride, int64_t *col_stride);

/* ---- outputs ----------------------------------------------------------------------------------------------- */

/* --out DIR: created if missing (its parent must exist). 0 or EXIT_IO. */
int cli_make_out_dir(const char *cmd, const char *dir);

/* "DIR/name" (one '/' between them), malloc'd; NULL when out of memory. */
char *cli_out_path(const char *dir, const char *name);

/* Outputs are written as a set: cli_write_output writes DIR/name as a C-order .npy under a temporary name
 * next to it; main renames every such file into place (cli_commit_outputs) only when the command returns 0.
 * A failed write (which discards the files written so far) or a failed command leaves every existing file
 * as it was. -v prints "wrote ..." at the commit. 0 or EXIT_IO. */
int cli_write_output(const char *cmd, const char *dir, const char *name, npy_dtype dt, int ndim, const int64_t *shape,
                     const void *data, int verbose);

/* DIR/name is removed at the commit (an output of an earlier call this call does not produce); -v says so.
 * 0 or EXIT_IO. */
int cli_remove_output(const char *cmd, const char *dir, const char *name, int verbose);

/* rc == 0: every staged file renamed into place (and staged removals done), after checking that no final
 * name is a directory; returns 0, or EXIT_IO when that fails. rc != 0: the staged files removed; returns rc.
 * Called by main after every command. */
int cli_commit_outputs(const char *cmd, int rc);

/* Removes the staged temporary files (also at exit, when nothing committed them). */
void cli_discard_outputs(void);

/* ---- the routing-family commands (routing_family_cmds.c) ----------------------------------------------------- */

typedef struct cli_command {
    const char *name;
    const char *summary;             /* one line for 'moeroute --help' */
    int (*run)(int argc, char **argv); /* argv: the arguments after the command name */
    void (*usage)(FILE *f);
} cli_command;

/* init-routing-v2, init-routing-quant-v2, init-routing-v3, compute-expert-tokens; NULL-name terminated. */
extern const cli_command CLI_FAMILY_COMMANDS[];

/* token-permute, token-unpermute, finalize-routing, re-routing, gating-top-k, gating-top-k-softmax
 * (combine_cmds.c); NULL-name terminated. */
extern const cli_command CLI_COMBINE_COMMANDS[];

/* The lines an operator command's --help ends its option list with (--bf16 and the execution options). */
#define CLI_EXEC_HELP                                                                                         \
    "  --bf16             '<u2' inputs hold raw bfloat16 bits (the outputs of that dtype are '<u2' too)\n"   \
    "execution:\n"                                                                                            \
    "  --threads T        worker threads, 0 = default (MOEROUTE_NUM_THREADS, else all CPUs)\n"                \
    "  --isa NAME         auto, scalar, avx2, avx512 or neon (results are identical for every choice)\n"      \
    "  -v, --verbose      print the files written\n"                                                          \
    "  -h, --help         this text\n"                                                                        \
    "\n"

/* dynamic-quant, swiglu, dequant-swiglu-quant (mlp_cmds.c); NULL-name terminated. */
extern const cli_command CLI_MLP_COMMANDS[];

/* grouped-matmul, grouped-matmul-swiglu-quant (gmm_cmds.c); NULL-name terminated. */
extern const cli_command CLI_GMM_COMMANDS[];

/* distribute-dispatch, distribute-combine (distribute_cmds.c); NULL-name terminated. */
extern const cli_command CLI_DISTRIBUTE_COMMANDS[];

#endif /* MOEROUTE_CLI_COMMON_H */
