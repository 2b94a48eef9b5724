/* The machine side of the benchmark: clocks, thread counts, CPU facts, and the memory-copy bandwidth that
 * every routing number is compared with. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    if (n == 0) return 0.0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int bench_affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}

long bench_online_cpus(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

/* Mirrors the library's rule (moeroute.h, moeroute_options.num_threads) so that the copy bandwidth is
 * measured with the thread count the operator really uses. */
void bench_cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) && strncmp(line, "Hardware", 8)) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, size, "%s", colon);
        break;
    }
    fclose(f);
}

double bench_loadavg(void)
{
    double load = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return load;
    if (fscanf(f, "%lf", &load) != 1) load = -1.0;
    fclose(f);
    return load;
}

size_t bench_llc_bytes(void)
{
    size_t best = 0;
    int best_level = 0;
    for (int i = 0; i < 16; i++) {
        char path[128], text[64];
        int level = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f) break;
        if (fscanf(f, "%d", &level) != 1) level = 0;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        if (!f) continue;
        if (fgets(text, sizeof text, f)) {
            char *end;
            unsigned long long v = strtoull(text, &end, 10);
            if (*end == 'K') v <<= 10;
            else if (*end == 'M') v <<= 20;
            if (level > best_level) {
                best_level = level;
                best = (size_t)v;
            }
        }
        fclose(f);
    }
    return best;
}

/* ---- parallel memcpy ----------------------------------------------------------------------------------- */

typedef struct {
    unsigned char *src, *dst;
    size_t len;
    int touch; /* first touch instead of copy */
} copy_slice;

static void *copy_slice_run(void *p)
{
    copy_slice *s = p;
    if (s->touch) {
        memset(s->src, 0x5A, s->len);
        memset(s->dst, 0, s->len);
    } else {
        memcpy(s->dst, s->src, s->len);
    }
    return NULL;
}

/* Runs every slice, slice 0 on the calling thread. Returns the wall time, or -1 if a thread failed. */
static double run_slices(copy_slice *slices, pthread_t *tids, int threads)
{
    double t0 = bench_now_s();
    int started = 0, ok = 1;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, copy_slice_run, &slices[i]) != 0) {
            ok = 0;
            break;
        }
        started = i;
    }
    copy_slice_run(&slices[0]);
    for (int i = 1; i <= started; i++) pthread_join(tids[i], NULL);
    double t = bench_now_s() - t0;
    return ok ? t : -1.0;
}

int bench_huge_pages = 0;

void *bench_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (!bench_huge_pages || bytes < huge) return malloc(bytes ? bytes : 1);
    size_t rounded = (bytes + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, rounded);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only */
#endif
    return p;
}

/* The reference buffers stay allocated between measurements, so re-measuring before every case costs only
 * the copies themselves (bench_copy_release frees them). */
static unsigned char *copy_src, *copy_dst;
static size_t copy_len;

void bench_copy_release(void)
{
    free(copy_src);
    free(copy_dst);
    copy_src = copy_dst = NULL;
    copy_len = 0;
}

double bench_copy_bandwidth(size_t bytes, int threads, int reps, double *median_s)
{
    if (threads < 1) threads = 1;
    if (reps < 1) reps = 1;
    int fresh = copy_len != bytes || !copy_src || !copy_dst;
    if (fresh) {
        bench_copy_release();
        copy_src = bench_alloc(bytes);
        copy_dst = bench_alloc(bytes);
        copy_len = bytes;
    }
    copy_slice *slices = calloc((size_t)threads, sizeof *slices);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    double *times = calloc((size_t)reps, sizeof *times);
    double gbs = -1.0;
    if (!copy_src || !copy_dst || !slices || !tids || !times) goto out;

    /* Slices are whole cache lines so no two threads write one line. */
    size_t per = (bytes / (size_t)threads) & ~(size_t)63;
    for (int i = 0; i < threads; i++) {
        slices[i].src = copy_src + (size_t)i * per;
        slices[i].dst = copy_dst + (size_t)i * per;
        slices[i].len = i == threads - 1 ? bytes - (size_t)i * per : per;
        slices[i].touch = fresh;
    }
    if (fresh && run_slices(slices, tids, threads) < 0) goto out;
    for (int i = 0; i < threads; i++) slices[i].touch = 0;
    if (run_slices(slices, tids, threads) < 0) goto out; /* warm-up */
    for (int r = 0; r < reps; r++)
        if ((times[r] = run_slices(slices, tids, threads)) < 0) goto out;
    double med = bench_median(times, (size_t)reps);
    if (median_s) *median_s = med;
    gbs = 2.0 * (double)bytes / med / 1e9;
out:
    free(slices);
    free(tids);
    free(times);
    return gbs;
}
