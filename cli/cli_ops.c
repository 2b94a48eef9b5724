/*
 * cli_ops.c -- the plumbing the operator commands of the moeroute CLI share (declared in cli_common.h):
 * parsing a command's options with its required ones, integer and number options, "input refused"
 * messages, the per-call state (input arrays, output buffers, context), the context and the library's
 * verdict, the output files of a call, and the dtype of an output file.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

int cli_check_required(const char *cmd, const void *opts, const cli_required *req)
{
    for (; req && req->what; req++) {
        const char *v = *(const char *const *)(const void *)((const char *)opts + req->field);
        if (!v) return cli_usage_error(cmd, "missing %s", req->what);
        if (req->if_empty && !*v) return cli_usage_error(cmd, "%s", req->if_empty);
    }
    return 0;
}

int cli_parse_command(const char *cmd, int argc, char **argv, const cli_opt *table, size_t n, void *opts,
                      size_t opts_size, int *help, int *verbose, void (*usage)(FILE *), const cli_required *req)
{
    memset(opts, 0, opts_size);
    int rc = cli_parse_opts(cmd, argc, argv, table, n, opts, help, verbose);
    if (rc) return rc;
    if (*help) {
        usage(stdout);
        return -1;
    }
    return cli_check_required(cmd, opts, req);
}

int cli_int_opt(const char *cmd, const char *opt, const char *s, int64_t dflt, int64_t *out)
{
    *out = dflt;
    if (!s || cli_parse_i64(s, out) == 0) return 0;
    char fmt[96];
    snprintf(fmt, sizeof fmt, "--%s: '%%s' is not an integer", opt);
    return cli_usage_error(cmd, fmt, s);
}

int cli_double_opt(const char *cmd, const char *opt, const char *s, double dflt, double *out)
{
    *out = dflt;
    if (!s || cli_parse_double(s, out) == 0) return 0;
    char fmt[96];
    snprintf(fmt, sizeof fmt, "--%s: '%%s' is not a number", opt);
    return cli_usage_error(cmd, fmt, s);
}

int cli_refused(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "moeroute %s: input refused: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_REFUSED;
}

void cli_state_free(cli_state *s)
{
    for (int i = 0; i < CLI_MAX_IN; i++) npy_free(&s->in[i]);
    for (int i = 0; i < CLI_MAX_OUT; i++) free(s->out[i]);
    moeroute_context_destroy(s->ctx);
}

int cli_to_c_order(const char *cmd, npy_array *a)
{
    if (!a->fortran_order || a->ndim < 2 || a->count == 0) {
        a->fortran_order = 0;
        return 0;
    }
    char *c = malloc(a->nbytes);
    if (!c) {
        fprintf(stderr, "moeroute %s: out of memory\n", cmd);
        return EXIT_IO;
    }
    int64_t idx[NPY_MAX_NDIM] = {0};
    for (size_t i = 0; i < a->count; i++) {
        int64_t off = 0; /* element (i0, i1, ...) of a Fortran array: i0 + shape0 * (i1 + shape1 * (...)) */
        for (int d = a->ndim - 1; d >= 0; d--) off = off * a->shape[d] + idx[d];
        memcpy(c + i * a->itemsize, (const char *)a->data + (size_t)off * a->itemsize, a->itemsize);
        for (int d = a->ndim - 1; d >= 0 && ++idx[d] == a->shape[d]; d--) idx[d] = 0;
    }
    free(a->data);
    a->data = c;
    a->fortran_order = 0;
    return 0;
}

int cli_library_result(const char *cmd, moeroute_status st)
{
    if (st == MOEROUTE_OK) return 0;
    cli_print_library_error(cmd, st);
    return EXIT_REFUSED;
}

int cli_open_context(const char *cmd, const char *threads, const char *isa, moeroute_context **ctx)
{
    moeroute_options mopt;
    int rc = cli_exec_options(cmd, threads, isa, &mopt);
    return rc ? rc : cli_library_result(cmd, moeroute_context_create(&mopt, ctx));
}

int cli_run_native(const char *cmd, const char *threads, const char *isa, moeroute_context **ctx, cli_native_fn call,
                   const void *args)
{
    int rc = cli_open_context(cmd, threads, isa, ctx);
    return rc ? rc : cli_library_result(cmd, call(*ctx, args));
}

int cli_write_outputs(const char *cmd, const char *dir, const cli_out_file *files, int n, int verbose)
{
    int rc = cli_make_out_dir(cmd, dir);
    for (int i = 0; !rc && i < n; i++)
        rc = files[i].data ? cli_write_output(cmd, dir, files[i].name, files[i].dt, files[i].ndim, files[i].shape,
                                              files[i].data, verbose)
                           : cli_remove_output(cmd, dir, files[i].name, verbose);
    return rc;
}

npy_dtype cli_npy_of(moeroute_dtype dt)
{
    switch (dt) {
    case MOEROUTE_DTYPE_FLOAT16: return NPY_DT_F2;
    case MOEROUTE_DTYPE_BFLOAT16: return NPY_DT_U2;
    case MOEROUTE_DTYPE_INT8: return NPY_DT_I1;
    case MOEROUTE_DTYPE_INT32: return NPY_DT_I4;
    default: return NPY_DT_F4;
    }
}

size_t cli_esize_of(moeroute_dtype dt)
{
    return dt == MOEROUTE_DTYPE_FLOAT32 || dt == MOEROUTE_DTYPE_INT32 ? 4 : dt == MOEROUTE_DTYPE_INT8 ? 1 : 2;
}
