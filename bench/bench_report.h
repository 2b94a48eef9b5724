/* What moeroute_bench measured, and its output as a table and as JSON (bench_report.c). */
#ifndef MOEROUTE_BENCH_REPORT_H
#define MOEROUTE_BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "bench.h"
#include "moeroute.h"

typedef struct {
    const char *name;
    int64_t hidden, experts, k;
} bench_preset;

typedef struct {
    const char *op, *preset, *dtype, *routing;
    int64_t hidden, experts, k, n;
    int64_t rows_out; /* expanded rows written (A for V1/V2, L for V3, 0 for compute-expert-tokens) */
    int64_t distinct; /* x rows read: distinct source tokens among the rows written */
    long inner;       /* calls averaged per sample */
    double median_s, min_s, bytes_read, bytes_written, gbs;
    bench_copy_ref ref; /* the copy reference this case's ratio uses */
    double ratio;       /* gbs / ref.limit_gbs */
    double others;      /* share of the machine's CPU time other processes took during the case, -1 unknown */
} bench_result;

typedef struct {
    int threads;
    moeroute_isa isa_requested, isa_effective;
    int reps;
    double min_sample_ms, active_frac;
    int explicit_row_idx;
    int ref_per_case; /* copy reference re-measured right before each case */
    char cpu_model[256];
    size_t llc_bytes, copy_bytes;
    const char *stream_name; /* the streaming copy kernel of the reference, "none" if none */
    bench_copy_ref ref;      /* measured at the start */
    const size_t *ops;       /* indices into bench_ops of the operators run */
    size_t nops;
    double load_start, load_end; /* 1-minute load average before and after the cases */
    bench_result *results;
    size_t nresults;
} bench_run;

void bench_print_header(FILE *f, const bench_run *run);
void bench_print_row(FILE *f, const bench_result *r, int first);
/* Returns 0, or -1 with errno set. */
int bench_write_json(const char *path, const bench_run *run);

#endif /* MOEROUTE_BENCH_REPORT_H */
