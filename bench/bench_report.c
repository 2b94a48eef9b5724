/* Table and JSON output of moeroute_bench. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "bench.h"
#include "bench_ops.h"
#include "bench_report.h"

static const char *isa_name(moeroute_isa isa)
{
    const char *s = moeroute_isa_name(isa);
    return s ? s : "?";
}

static void print_ref(FILE *f, const bench_copy_ref *g)
{
    fprintf(f, "memcpy %.2f GB/s (%.2f ms), stream ", g->memcpy_gbs, g->memcpy_s * 1e3);
    if (g->stream_gbs > 0) fprintf(f, "%.2f GB/s (%.2f ms)", g->stream_gbs, g->stream_s * 1e3);
    else fprintf(f, "n/a");
    fprintf(f, " -> copy limit %.2f GB/s (%s)", g->limit_gbs, g->winner);
}

void bench_print_header(FILE *f, const bench_run *run)
{
    const char *env_isa = getenv("MOEROUTE_ISA");
    fprintf(f, "# moeroute_bench: moeroute %s (header %d.%d.%d)\n", moeroute_version_string(), MOEROUTE_VERSION_MAJOR,
            MOEROUTE_VERSION_MINOR, MOEROUTE_VERSION_PATCH);
    fprintf(f, "# CPU: %s; %ld online CPUs, %d in affinity mask; LLC %.1f MiB (sysfs)\n", run->cpu_model,
            bench_online_cpus(), bench_affinity_cpus(), (double)run->llc_bytes / 1048576.0);
    fprintf(f, "# load average (1 min) at start: %.2f%s\n", run->load_start,
            run->load_start > 0.5 ? " (the machine was busy within the last minute: numbers may be noisy)" : "");
    fprintf(f, "# threads: %d (operator and copy reference); ISA: detected %s, requested %s%s%s, effective %s\n",
            run->threads, isa_name(moeroute_detected_isa()), isa_name(run->isa_requested),
            env_isa ? ", MOEROUTE_ISA=" : "", env_isa ? env_isa : "", isa_name(run->isa_effective));
    fprintf(f, "# copy reference: %zu MiB src -> dst in %d slices on %d threads, each of glibc memcpy and the %s\n"
               "#   streaming copy (non-temporal stores); GB/s counts read + write bytes. At the start: ",
            run->copy_bytes >> 20, run->threads, run->threads, run->stream_name);
    print_ref(f, &run->ref);
    fprintf(f, "\n#   copy limit (limit) = the faster of the two; %s\n",
            run->ref_per_case ? "re-measured (median of 3 each, alternating) right before each case's timed calls"
                              : "the one measured at the start (--ref once)");
    fprintf(f, "# pages: %s for the large buffers of the operators and of the copy reference\n",
            bench_huge_pages ? "transparent huge pages (2 MiB, --pages huge)" : "ordinary (--pages normal)");
    fprintf(f, "# operators and bytes per call (read + written by the ideal kernel), L = N*K, E experts,\n"
               "#   A = min(N, active_num)*K rows (active_num = %.3g*N; V2 gets active_num = A rows; V3 writes L),\n"
               "#   D = distinct x rows among the rows written, sx = sizeof(x), so = sizeof(expanded_x)%s:\n",
            run->active_frac, run->explicit_row_idx ? ", row_idx explicit" : ", row_idx NULL (canonical)");
    for (size_t i = 0; i < run->nops; i++) {
        const bench_op *op = &bench_ops[run->ops[i]];
        fprintf(f, "#   %-29s %s\n#   %-29s   %s\n", op->name, op->what, "", op->bytes);
    }
    fprintf(f, "# time: median of %d samples after 2 warm-up calls (the first one verified); a sample repeats the\n"
               "#   call until it lasts >= %.3g ms. GB/s = bytes / median; ratio = GB/s / limit (above 1 when the\n"
               "#   case fits in cache, e.g. decode); others = share of the machine's CPU time that other processes\n"
               "#   (and the hypervisor's steal) took from the reference to the last sample: above ~5%% the case is noisy\n",
            run->reps, run->min_sample_ms);
}

void bench_print_row(FILE *f, const bench_result *r, int first)
{
    if (first) {
        fprintf(f, "%-29s %-16s %6s %5s %-7s %8s %6s %10s %8s %7s %7s %7s %-13s %6s %6s\n", "op", "preset", "N",
                "dtype", "routing", "A", "D", "median_ms", "GB/s", "memcpy", "stream", "limit", "ref", "ratio", "others");
    }
    char others[16] = "?";
    if (r->others >= 0) snprintf(others, sizeof others, "%.0f%%", r->others * 100.0);
    fprintf(f, "%-29s %-16s %6lld %5s %-7s %8lld %6lld %10.4f %8.2f %7.2f %7.2f %7.2f %-13s %6.3f %6s\n", r->op,
            r->preset, (long long)r->n, r->dtype, r->routing, (long long)r->rows_out, (long long)r->distinct,
            r->median_s * 1e3, r->gbs, r->ref.memcpy_gbs, r->ref.stream_gbs > 0 ? r->ref.stream_gbs : 0.0,
            r->ref.limit_gbs, r->ref.winner, r->ratio, others);
    fflush(f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void json_ref(FILE *f, const bench_copy_ref *g)
{
    fprintf(f, "{\"memcpy_gbs\": %.6g, \"memcpy_s\": %.9g, ", g->memcpy_gbs, g->memcpy_s);
    if (g->stream_gbs > 0) fprintf(f, "\"stream_gbs\": %.6g, \"stream_s\": %.9g, ", g->stream_gbs, g->stream_s);
    else fprintf(f, "\"stream_gbs\": null, \"stream_s\": null, ");
    fprintf(f, "\"copy_limit_gbs\": %.6g, \"winner\": ", g->limit_gbs);
    json_string(f, g->winner ? g->winner : "?");
    fputc('}', f);
}

int bench_write_json(const char *path, const bench_run *run)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    char when[64] = "unknown";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct utsname u;
    int have_uname = uname(&u) == 0;
    const char *env_isa = getenv("MOEROUTE_ISA");

    fprintf(f, "{\n  \"benchmark\": \"moeroute_bench\",\n  \"time_utc\": \"%s\",\n", when);
    fprintf(f, "  \"library_version\": ");
    json_string(f, moeroute_version_string());
    fprintf(f, ",\n  \"machine\": {\n    \"cpu_model\": ");
    json_string(f, run->cpu_model);
    fprintf(f, ",\n    \"kernel\": ");
    json_string(f, have_uname ? u.release : "unknown");
    fprintf(f, ",\n    \"arch\": ");
    json_string(f, have_uname ? u.machine : "unknown");
    fprintf(f, ",\n    \"online_cpus\": %ld,\n    \"affinity_cpus\": %d,\n    \"llc_bytes\": %zu\n  },\n",
            bench_online_cpus(), bench_affinity_cpus(), run->llc_bytes);
    fprintf(f, "  \"config\": {\n    \"threads\": %d,\n    \"isa_detected\": \"%s\",\n    \"isa_requested\": \"%s\",\n"
               "    \"isa_env\": ",
            run->threads, isa_name(moeroute_detected_isa()), isa_name(run->isa_requested));
    if (env_isa) json_string(f, env_isa);
    else fputs("null", f);
    fprintf(f, ",\n    \"isa_effective\": \"%s\",\n    \"reps\": %d,\n    \"min_sample_ms\": %g,\n"
               "    \"active_frac\": %g,\n    \"row_idx\": \"%s\",\n    \"quant_scale\": 20.0,\n"
               "    \"quant_offset\": 1.0,\n    \"pages\": \"%s\"\n  },\n",
            isa_name(run->isa_effective), run->reps, run->min_sample_ms, run->active_frac,
            run->explicit_row_idx ? "explicit" : "null", bench_huge_pages ? "huge" : "normal");
    fprintf(f, "  \"loadavg_1min\": {\"start\": %.2f, \"end\": %.2f},\n", run->load_start, run->load_end);
    fprintf(f, "  \"copy_reference\": {\"bytes\": %zu, \"threads\": %d, \"stream_kernel\": \"%s\", "
               "\"counted\": \"read + write = 2 * bytes\", \"per_case\": %s, \"at_start\": ",
            run->copy_bytes, run->threads, run->stream_name, run->ref_per_case ? "true" : "false");
    json_ref(f, &run->ref);
    fprintf(f, "},\n  \"operators\": [\n");
    for (size_t i = 0; i < run->nops; i++) {
        const bench_op *op = &bench_ops[run->ops[i]];
        fprintf(f, "    {\"name\": ");
        json_string(f, op->name);
        fprintf(f, ", \"call\": ");
        json_string(f, op->what);
        fprintf(f, ", \"bytes\": ");
        json_string(f, op->bytes);
        fprintf(f, "}%s\n", i + 1 < run->nops ? "," : "");
    }
    fprintf(f, "  ],\n  \"bytes_legend\": \"L = N*K; E experts; A = rows written (min(N, active_num)*K); D = distinct x "
               "rows among the rows written; sx = sizeof(x); so = sizeof(expanded_x)\",\n");
    fprintf(f, "  \"cases\": [\n");
    for (size_t i = 0; i < run->nresults; i++) {
        const bench_result *r = &run->results[i];
        fprintf(f,
                "    {\"op\": \"%s\", \"preset\": \"%s\", \"hidden\": %lld, \"experts\": %lld, \"k\": %lld, "
                "\"n\": %lld, \"dtype\": \"%s\", \"routing\": \"%s\", \"rows_out\": %lld, \"distinct_rows\": %lld, "
                "\"calls_per_sample\": %ld, \"median_s\": %.9g, \"min_s\": %.9g, \"bytes_read\": %.0f, "
                "\"bytes_written\": %.0f, \"gbs\": %.6g, \"reference\": ",
                r->op, r->preset, (long long)r->hidden, (long long)r->experts, (long long)r->k, (long long)r->n,
                r->dtype, r->routing, (long long)r->rows_out, (long long)r->distinct, r->inner, r->median_s, r->min_s,
                r->bytes_read, r->bytes_written, r->gbs);
        json_ref(f, &r->ref);
        fprintf(f, ", \"ratio_to_copy_limit\": %.6g, \"others_cpu\": ", r->ratio);
        if (r->others >= 0) fprintf(f, "%.4f", r->others);
        else fputs("null", f);
        fprintf(f, "}%s\n", i + 1 < run->nresults ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    int err = ferror(f);
    if (fclose(f) != 0 || err) {
        if (!errno) errno = EIO;
        return -1;
    }
    return 0;
}
