/* Table and JSON output of moeroute_bench. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "bench.h"
#include "bench_report.h"

static const char *isa_name(moeroute_isa isa)
{
    const char *s = moeroute_isa_name(isa);
    return s ? s : "?";
}

void bench_print_header(FILE *f, const bench_run *run)
{
    const char *env_isa = getenv("MOEROUTE_ISA");
    fprintf(f, "# moeroute_bench: moeroute %s (header %d.%d.%d)\n", moeroute_version_string(), MOEROUTE_VERSION_MAJOR,
            MOEROUTE_VERSION_MINOR, MOEROUTE_VERSION_PATCH);
    fprintf(f, "# CPU: %s; %ld online CPUs, %d in affinity mask; LLC %.1f MiB\n", run->cpu_model,
            bench_online_cpus(), bench_affinity_cpus(), (double)run->llc_bytes / 1048576.0);
    fprintf(f, "# load average (1 min) at start: %.2f%s\n", run->load_start,
            run->load_start > 0.5 ? " (the machine was busy within the last minute: numbers may be noisy)" : "");
    fprintf(f, "# threads: %d (operator and memcpy); ISA: detected %s, requested %s%s%s, effective %s\n",
            run->threads, isa_name(moeroute_detected_isa()), isa_name(run->isa_requested),
            env_isa ? ", MOEROUTE_ISA=" : "", env_isa ? env_isa : "", isa_name(run->isa_effective));
    fprintf(f, "# memcpy reference: %zu MiB src -> dst in %d slices on %d threads, median: %.2f ms = %.2f GB/s"
               " (read + write bytes)\n# pages: %s for the large buffers of the operator and of the memcpy reference\n",
            run->copy_bytes >> 20, run->threads, run->threads, run->copy_s * 1e3, run->copy_gbs,
            bench_huge_pages ? "transparent huge pages (2 MiB, --pages huge)" : "ordinary (--pages normal)");
    fprintf(f, "# bytes per call = read + write, with L = N*K, A = min(N, active_num)*K (active_num = %.3g*N):\n"
               "#   read  = D*H*sizeof(x) + 4*L (expert_idx)%s\n"
               "#           D = distinct x rows among the A active sorted positions (N when active_num = N)\n"
               "#   write = A*H*sizeof(expanded_x) + 4*L (expanded_row_idx) + 4*L (expanded_expert_idx)\n"
               "#           sizeof(expanded_x) = 1 for op quant (int8), sizeof(x) for op copy\n",
            run->active_frac, run->explicit_row_idx ? " + 4*L (row_idx, explicit)" : " (row_idx NULL: canonical)");
    fprintf(f, "# time: median of %d samples after 2 warm-up calls (the first one verified); a sample repeats the\n"
               "#   call until it lasts >= %.3g ms. GB/s = bytes / median; xcopy = GB/s / memcpy GB/s (above 1 when\n"
               "#   the case fits in cache, e.g. decode); memcpy GB/s (ref_GB/s) %s\n",
            run->reps, run->min_sample_ms,
            run->ref_per_case ? "re-measured (median of 3) right before each case (--ref per-case)"
                              : "is the one measured at the start (--ref once)");
}

void bench_print_row(FILE *f, const bench_result *r, int first)
{
    if (first) {
        fprintf(f, "%-16s %6s %5s %-8s %-5s %8s %6s %10s %10s %8s %8s %6s\n", "preset", "N", "dtype", "routing",
                "op", "A", "D", "median_ms", "min_ms", "GB/s", "ref_GB/s", "xcopy");
    }
    fprintf(f, "%-16s %6lld %5s %-8s %-5s %8lld %6lld %10.4f %10.4f %8.2f %8.2f %6.3f\n", r->preset,
            (long long)r->n, r->dtype, r->routing, r->op, (long long)r->rows_out, (long long)r->distinct,
            r->median_s * 1e3, r->min_s * 1e3, r->gbs, r->copy_gbs, r->ratio);
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
    fprintf(f, "  \"memcpy\": {\"bytes\": %zu, \"threads\": %d, \"median_s\": %.9g, \"gbs\": %.6g,"
               " \"counted\": \"read + write = 2 * bytes\", \"per_case\": %s},\n",
            run->copy_bytes, run->threads, run->copy_s, run->copy_gbs, run->ref_per_case ? "true" : "false");
    fprintf(f, "  \"bytes_formula\": \"read = D*H*sizeof(x) + 4*N*K (expert_idx) [+ 4*N*K row_idx if explicit]; "
               "write = A*H*sizeof(expanded_x) + 2*4*N*K; A = min(N, active_num)*K; D = distinct x rows among "
               "the A active sorted positions\",\n");
    fprintf(f, "  \"cases\": [\n");
    for (size_t i = 0; i < run->nresults; i++) {
        const bench_result *r = &run->results[i];
        fprintf(f,
                "    {\"preset\": \"%s\", \"hidden\": %lld, \"experts\": %lld, \"k\": %lld, \"n\": %lld, "
                "\"active_num\": %lld, \"dtype\": \"%s\", \"routing\": \"%s\", \"op\": \"%s\", "
                "\"rows_out\": %lld, \"distinct_rows\": %lld, \"calls_per_sample\": %ld, \"median_s\": %.9g, "
                "\"min_s\": %.9g, \"bytes_read\": %.0f, \"bytes_written\": %.0f, \"gbs\": %.6g, "
                "\"memcpy_gbs\": %.6g, \"ratio_to_memcpy\": %.6g}%s\n",
                r->preset, (long long)r->hidden, (long long)r->experts, (long long)r->k, (long long)r->n,
                (long long)r->active, r->dtype, r->routing, r->op, (long long)r->rows_out, (long long)r->distinct,
                r->inner, r->median_s, r->min_s, r->bytes_read, r->bytes_written, r->gbs, r->copy_gbs, r->ratio,
                i + 1 < run->nresults ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    int err = ferror(f);
    if (fclose(f) != 0 || err) {
        if (!errno) errno = EIO;
        return -1;
    }
    return 0;
}
