/* Shared pieces of moeroute_bench: input generation and the reference routing (bench_data.c), the machine
 * side -- clocks, the copy reference, CPU facts (bench_sys.c). The operator table is bench_ops.h. */
#ifndef MOEROUTE_BENCH_H
#define MOEROUTE_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "bench_stream.h"
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

/* Reference routing: the stable counting sort by expert every operator shares. Writes perm[N*K], the flat
 * positions f = r*K + j in sorted order (token f / K), and e_end[E], one past the last sorted position of
 * each expert (the inclusive cumulative count). Returns 0, or -1 if an expert id is outside [0, E). */
int bench_reference_sort(const int32_t *expert, int64_t n, int64_t k, int64_t e, int32_t *perm, int64_t *e_end);

/* Distinct tokens (x rows) among the first `a` sorted positions; `mark` is N bytes. */
int64_t bench_distinct_tokens(const int32_t *perm, int64_t a, int64_t n, int64_t k, uint8_t *mark);

/* Element i of x as a float (exact for every dtype), for checking the dynamic quantization scales. */
float bench_x_value(const void *x, size_t i, moeroute_dtype dt);

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
/* CPU time of the whole machine and of this process (/proc/stat, /proc/self/stat, in clock ticks), to tell
 * how much of the machine other programs took while a case ran. */
typedef struct {
    unsigned long long total, busy, self;
    int ok;
} bench_cpu_snap;
void bench_cpu_snapshot(bench_cpu_snap *s);
/* Share of the machine's CPU time between a and b used by other processes (steal included), 0..1; negative
 * when unknown or when too little time passed to tell. */
double bench_cpu_others(const bench_cpu_snap *a, const bench_cpu_snap *b);

/* Last-level cache size in bytes from sysfs, 0 if unknown. */
size_t bench_llc_bytes(void);

/* Large buffers (operator inputs and outputs, the memcpy reference): with bench_huge_pages set (--pages huge)
 * they are 2 MiB aligned and advised to use transparent huge pages, as an inference engine's arena or
 * aclrtMalloc(ACL_MEM_MALLOC_HUGE_FIRST) would be; ordinary pages by default, because whether the kernel
 * grants huge pages varies from run to run and so would the numbers. Release with free(). */
extern int bench_huge_pages;
void *bench_alloc(size_t bytes);

/* The copy reference ("copy limit"): src -> dst of `bytes`, split into `threads` contiguous slices copied by
 * as many threads, once with glibc memcpy and once with the streaming copy set by bench_copy_set_stream
 * (non-temporal stores; none set: memcpy only). Pages are first touched by the thread that later copies them.
 * One warm-up of each, then `reps` rounds alternating the two; each kind's median time, its GB/s counting
 * read + write bytes (2 * bytes, the routing's convention), and the faster of the two. Returns 0, or -1 on
 * allocation or thread failure. */
typedef struct {
    double memcpy_gbs, memcpy_s;
    double stream_gbs, stream_s; /* negative when there is no streaming copy */
    double limit_gbs;            /* max(memcpy_gbs, stream_gbs) */
    const char *winner;          /* "memcpy" or "stream-<isa>" (static storage) */
} bench_copy_ref;
void bench_copy_set_stream(bench_stream_fn fn, const char *name);
int bench_copy_reference(size_t bytes, int threads, int reps, bench_copy_ref *out);
/* Frees the reference buffers bench_copy_reference keeps between calls. */
void bench_copy_release(void);

#endif /* MOEROUTE_BENCH_H */
