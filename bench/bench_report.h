/* What moeroute_bench measured, and its output as a table and as JSON (bench_report.c). */
#ifndef MOEROUTE_BENCH_REPORT_H
#define MOEROUTE_BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "moeroute.h"

typedef struct {
    const char *name;
    int64_t hidden, experts, k;
} bench_preset;

typedef struct {
    const char *preset, *dtype, *routing, *op;
    int64_t hidden, experts, k, n, active;
    int64_t rows_out; /* A = min(N, active_num) * K */
    int64_t distinct; /* x rows read: distinct sources among the A active sorted positions */
    long inner;       /* calls averaged per sample */
    double median_s, min_s, bytes_read, bytes_written, gbs, ratio;
    double copy_gbs; /* the memcpy reference this case's ratio uses */
} bench_result;

typedef struct {
    int threads;
    moeroute_isa isa_requested, isa_effective;
    int reps;
    double min_sample_ms, active_frac;
    int explicit_row_idx;
    int ref_per_case; /* memcpy re-measured right before each case */
    char cpu_model[256];
    size_t llc_bytes, copy_bytes;
    double copy_gbs, copy_s;
    double load_start, load_end; /* 1-minute load average before and after the cases */
    bench_result *results;
    size_t nresults;
} bench_run;

void bench_print_header(FILE *f, const bench_run *run);
void bench_print_row(FILE *f, const bench_result *r, int first);
/* Returns 0, or -1 with errno set. */
int bench_write_json(const char *path, const bench_run *run);

#endif /* MOEROUTE_BENCH_REPORT_H */
