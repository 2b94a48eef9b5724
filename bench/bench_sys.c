/* The machine side of the benchmark: clocks, thread counts, CPU facts, and the copy reference (the faster of
 * a parallel glibc memcpy and a parallel streaming copy) that every routing number is compared with. */
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

void bench_cpu_snapshot(bench_cpu_snap *s)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]);
    fclose(f);
    if (n < 4) return;
    for (int i = 0; i < 8; i++) s->total += v[i];
    s->busy = s->total - v[3] - v[4]; /* all but idle and iowait */
    f = fopen("/proc/self/stat", "r");
    if (!f) return;
    char buf[1024];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces; fields resume after its ')' */
    if (!p) return;
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return;
    s->self = ut + st;
    s->ok = 1;
}

double bench_cpu_others(const bench_cpu_snap *a, const bench_cpu_snap *b)
{
    if (!a->ok || !b->ok || b->total < a->total + 10) return -1.0; /* under 10 ticks: no telling */
    double total = (double)(b->total - a->total);
    double others = (double)(b->busy - a->busy) - (double)(b->self - a->self);
    if (others < 0) others = 0;
    return others / total;
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

/* ---- the copy reference: parallel memcpy and parallel streaming copy ------------------------------------- */

typedef void (*copy_fn)(void *dst, const void *src, size_t bytes);

static void copy_glibc(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

typedef struct {
    unsigned char *src, *dst;
    size_t len, at; /* at: offset of the slice in the buffer */
    copy_fn fn;     /* NULL: first touch instead of copy */
} copy_slice;

static void *copy_slice_run(void *p)
{
    copy_slice *s = p;
    if (!s->fn) { /* a pattern, not a constant, so that the check after the first copies sees misplaced bytes */
        for (size_t i = 0; i < s->len; i++) {
            size_t g = s->at + i;
            s->src[i] = (unsigned char)(g ^ (g >> 8) ^ (g >> 19));
        }
        memset(s->dst, 0, s->len);
    } else {
        s->fn(s->dst, s->src, s->len);
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
static bench_stream_fn stream_fn;
static char stream_label[32] = "stream";

void bench_copy_set_stream(bench_stream_fn fn, const char *name)
{
    stream_fn = fn;
    snprintf(stream_label, sizeof stream_label, "stream-%s", name ? name : "?");
}

void bench_copy_release(void)
{
    free(copy_src);
    free(copy_dst);
    copy_src = copy_dst = NULL;
    copy_len = 0;
}

static void set_fn(copy_slice *slices, int threads, copy_fn fn)
{
    for (int i = 0; i < threads; i++) slices[i].fn = fn;
}

int bench_copy_reference(size_t bytes, int threads, int reps, bench_copy_ref *out)
{
    memset(out, 0, sizeof *out);
    out->stream_gbs = out->stream_s = -1.0;
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
    double *tm = calloc((size_t)reps, sizeof *tm), *ts = calloc((size_t)reps, sizeof *ts);
    int rc = -1;
    if (!copy_src || !copy_dst || !slices || !tids || !tm || !ts) goto out;

    /* Slices are whole cache lines so no two threads write one line. */
    size_t per = (bytes / (size_t)threads) & ~(size_t)63;
    for (int i = 0; i < threads; i++) {
        slices[i].src = copy_src + (size_t)i * per;
        slices[i].dst = copy_dst + (size_t)i * per;
        slices[i].len = i == threads - 1 ? bytes - (size_t)i * per : per;
        slices[i].at = (size_t)i * per;
    }
    if (fresh && run_slices(slices, tids, threads) < 0) goto out; /* first touch, fn NULL */
    /* One warm-up each (on fresh buffers each checked: a copy limit from a wrong copy would be worthless),
     * then the two kinds alternate so that drift on a shared machine hits both alike. */
    set_fn(slices, threads, copy_glibc);
    if (run_slices(slices, tids, threads) < 0) goto out;
    if (fresh && memcmp(copy_dst, copy_src, bytes)) goto wrong;
    if (stream_fn) {
        if (fresh) memset(copy_dst, 0, bytes);
        set_fn(slices, threads, stream_fn);
        if (run_slices(slices, tids, threads) < 0) goto out;
        if (fresh && memcmp(copy_dst, copy_src, bytes)) goto wrong;
    }
    for (int r = 0; r < reps; r++) {
        set_fn(slices, threads, copy_glibc);
        if ((tm[r] = run_slices(slices, tids, threads)) < 0) goto out;
        if (stream_fn) {
            set_fn(slices, threads, stream_fn);
            if ((ts[r] = run_slices(slices, tids, threads)) < 0) goto out;
        }
    }
    out->memcpy_s = bench_median(tm, (size_t)reps);
    out->memcpy_gbs = 2.0 * (double)bytes / out->memcpy_s / 1e9;
    out->limit_gbs = out->memcpy_gbs;
    out->winner = "memcpy";
    if (stream_fn) {
        out->stream_s = bench_median(ts, (size_t)reps);
        out->stream_gbs = 2.0 * (double)bytes / out->stream_s / 1e9;
        if (out->stream_gbs > out->limit_gbs) {
            out->limit_gbs = out->stream_gbs;
            out->winner = stream_label;
        }
    }
    rc = 0;
    goto out;
wrong:
    fprintf(stderr, "copy reference: the copy is wrong\n");
out:
    free(slices);
    free(tids);
    free(tm);
    free(ts);
    return rc;
}
