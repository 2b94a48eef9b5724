/* Shared pieces of moeroute_bench: input generation and the reference routing (bench_data.c), the machine
 * side -- clocks, memory-copy bandwidth, CPU facts (bench_sys.c). */
#ifndef MOEROUTE_BENCH_H
#define MOEROUTE_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "moeroute.h"

/* ---- bench_data.c -------------------------------------------------------------------------------------- */

typedef enum { ROUTING_UNIFORM = 0, ROUTING_SKEWED = 1 } bench_routing;

/* Deterministic generator (xorshift64*): every run of the benchmark sees the same inputs. */
typedef struct {
    uint64_t s;
} bench_rng;
void bench_rng_seed(bench_rng *r, uint64_t seed);
uint32_t bench_rng_u32(bench_rng *r);

size_t bench_dtype_size(moeroute_dtype dt);
const char *bench_dtype_name(moeroute_dtype dt);

/* Fills n elements of x (f16/bf16 raw bits, or f32) with finite activations of magnitude ~2^-6..2^2. */
void bench_fill_x(void *x, size_t n, moeroute_dtype dt, bench_rng *r);

/* expert[N*K]: K distinct experts in [0, E) per token. Uniform, or Zipf(1.1) over a fixed random ranking of
 * the experts (a few hot experts, a long cold tail), as real gating tends to produce. */
void bench_fill_experts(int32_t *expert, int64_t n, int64_t k, int64_t e, bench_routing routing, bench_rng *r);

/* The canonical row_idx layout row_idx[r][j] = j*N + r, as an explicit [N, K] array. */
void bench_fill_row_idx(int32_t *row_idx, int64_t n, int64_t k);

/* Reference routing (stable counting sort by expert), used to count the rows the operator must read and to
 * check its index outputs. row_idx NULL = canonical. Writes sorted_row[N*K] (the rowIdx value at each
 * sorted position); needs e_count[E] scratch. Returns 0, or -1 if an expert id is outside [0, E). */
int bench_reference_sort(const int32_t *expert, const int32_t *row_idx, int64_t n, int64_t k, int64_t e,
                         int32_t *sorted_row, int64_t *e_count);

/* Distinct x rows among the first `a` sorted positions (row = sorted_row[i] % N); `mark` is N bytes. */
int64_t bench_distinct_rows(const int32_t *sorted_row, int64_t a, int64_t n, uint8_t *mark);

/* ---- bench_sys.c --------------------------------------------------------------------------------------- */

double bench_now_s(void);
int bench_cmp_double(const void *a, const void *b);
double bench_median(double *v, size_t n); /* sorts v */

int bench_affinity_cpus(void);
long bench_online_cpus(void);


/* CPU model string (/proc/cpuinfo), "unknown" if absent. */
void bench_cpu_model(char *buf, size_t size);
/* 1-minute load average (/proc/loadavg), negative if unknown: other work on the machine skews every number. */
double bench_loadavg(void);
/* Last-level cache size in bytes from sysfs, 0 if unknown. */
size_t bench_llc_bytes(void);

/* Large buffers (operator inputs and outputs, the memcpy reference): with bench_huge_pages set (--pages huge)
 * they are 2 MiB aligned and advised to use transparent huge pages, as an inference engine's arena or
 * aclrtMalloc(ACL_MEM_MALLOC_HUGE_FIRST) would be; ordinary pages by default, because whether the kernel
 * grants huge pages varies from run to run and so would the numbers. Release with free(). */
extern int bench_huge_pages;
void *bench_alloc(size_t bytes);

/* Parallel memcpy bandwidth: src -> dst of `bytes`, split into `threads` contiguous slices copied by as many
 * threads. Pages are first touched by the thread that later copies them. Returns the median over `reps`
 * (after one warm-up) in GB/s counting read + write bytes (2 * bytes), the routing's convention; also the
 * median seconds per copy via *median_s. Returns a negative value on allocation or thread failure. */
double bench_copy_bandwidth(size_t bytes, int threads, int reps, double *median_s);
/* Frees the reference buffers bench_copy_bandwidth keeps between calls. */
void bench_copy_release(void);

#endif /* MOEROUTE_BENCH_H */
