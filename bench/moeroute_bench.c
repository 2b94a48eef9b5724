/*
 * moeroute_bench: throughput of every data-movement operator of the native API (the table in bench_ops.c) on
 * the routing shapes of current MoE models, compared with this machine's copy limit -- the faster of a
 * parallel glibc memcpy and a parallel non-temporal streaming copy -- measured in the same process with the
 * same thread count and page policy, right before each case.
 * Run with --help for the options; the header it prints states how every number is computed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "bench_ops.h"
#include "bench_report.h"

static const bench_preset PRESETS[] = {
    {"deepseek-v3", 7168, 256, 8},     {"qwen3-235b-a22b", 4096, 128, 8}, {"qwen3-30b-a3b", 2048, 128, 8},
    {"mixtral-8x7b", 4096, 8, 2},      {"gpt-oss-120b", 2880, 128, 4},    {"llama-4-maverick", 5120, 128, 1},
};
#define NPRESETS (sizeof PRESETS / sizeof PRESETS[0])
#define MAXLIST 32

typedef struct {
    size_t presets[NPRESETS];
    size_t npresets;
    int64_t ns[MAXLIST];
    size_t nns;
    moeroute_dtype dtypes[3];
    size_t ndtypes;
    bench_routing routings[2];
    size_t nroutings;
    size_t ops[64]; /* indices into bench_ops (bench_nops of them at most) */
    size_t nops;
    int threads; /* 0 = library default */
    moeroute_isa isa;
    int reps;
    double min_sample_ms;
    double active_frac;
    int explicit_row_idx;
    size_t copy_mib;
    int ref_once; /* 1: one copy reference for the whole run; 0 (default): re-measured before each case */
    const char *stream; /* streaming copy of the reference: auto, avx512, avx2, sse2, off */
    const char *json;
} bench_config;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: moeroute_bench [options]\n"
            "  --op LIST|all     operators (default all):\n");
    for (size_t i = 0; i < bench_nops; i++) fprintf(f, "                      %s\n", bench_ops[i].name);
    fprintf(f,
            "                    (copy = init-routing, quant = init-routing-quant)\n"
            "  --preset NAME[,NAME..]|all  deepseek-v3 qwen3-235b-a22b qwen3-30b-a3b mixtral-8x7b gpt-oss-120b\n"
            "                              llama-4-maverick (default all)\n"
            "  --n LIST          tokens per call (default 512,4096,8192,1,16,64: prefill then decode)\n"
            "  --dtype LIST      f16,bf16,f32 (default all)\n"
            "  --routing LIST    uniform,skewed (default both)\n"
            "  --threads T       threads for the operator and the copy reference (default: library default)\n"
            "  --isa auto|scalar|avx2|avx512|neon   (default auto)\n"
            "  --reps R          timed samples per case, median reported (default 7)\n"
            "  --min-sample-ms M a sample repeats the call until it lasts >= M ms (default 2)\n"
            "  --active-frac F   V1 active_num = round(F*N) tokens, V2 the same rows; V3 always all (default 1)\n"
            "  --row-idx null|explicit  V1: pass row_idx NULL (canonical) or as an explicit array (default null)\n"
            "  --copy-mib M      copy reference buffer (default 256)\n"
            "  --ref per-case|once  copy reference re-measured right before each case (default: the copy\n"
            "                    limit drifts on shared machines) or measured once at the start\n"
            "  --stream auto|avx512|avx2|sse2|off  streaming copy of the reference (default auto: the widest\n"
            "                    the CPU has; off: glibc memcpy alone)\n"
            "  --pages normal|huge  large buffers on ordinary pages (default) or transparent huge pages,\n"
            "                    for the operator and the copy reference alike\n"
            "  --json FILE       also write every field as JSON\n"
            "  --smoke           a few tiny cases, few reps: a seconds-long check that everything runs\n");
}

static int split(char *s, char **items, size_t max, size_t *n)
{
    *n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (*n == max) return -1;
        items[(*n)++] = tok;
    }
    return *n ? 0 : -1;
}

static int parse_list(const char *opt, char *arg, bench_config *c)
{
    char *items[MAXLIST];
    size_t n;
    if (split(arg, items, MAXLIST, &n) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        const char *it = items[i];
        if (!strcmp(opt, "--preset")) {
            if (!strcmp(it, "all")) {
                for (size_t p = 0; p < NPRESETS; p++) c->presets[p] = p;
                c->npresets = NPRESETS;
                continue;
            }
            size_t p = 0;
            while (p < NPRESETS && strcmp(PRESETS[p].name, it)) p++;
            if (p == NPRESETS || c->npresets == NPRESETS) return -1;
            c->presets[c->npresets++] = p;
        } else if (!strcmp(opt, "--n")) {
            char *end;
            errno = 0;
            long long v = strtoll(it, &end, 10);
            if (errno || *end || v < 0 || c->nns == MAXLIST) return -1;
            c->ns[c->nns++] = v;
        } else if (!strcmp(opt, "--dtype")) {
            if (c->ndtypes == 3) return -1;
            if (!strcmp(it, "f16")) c->dtypes[c->ndtypes++] = MOEROUTE_DTYPE_FLOAT16;
            else if (!strcmp(it, "bf16")) c->dtypes[c->ndtypes++] = MOEROUTE_DTYPE_BFLOAT16;
            else if (!strcmp(it, "f32")) c->dtypes[c->ndtypes++] = MOEROUTE_DTYPE_FLOAT32;
            else return -1;
        } else if (!strcmp(opt, "--routing")) {
            if (c->nroutings == 2) return -1;
            if (!strcmp(it, "uniform")) c->routings[c->nroutings++] = ROUTING_UNIFORM;
            else if (!strcmp(it, "skewed")) c->routings[c->nroutings++] = ROUTING_SKEWED;
            else return -1;
        } else if (!strcmp(opt, "--op")) {
            if (!strcmp(it, "all")) {
                for (size_t o = 0; o < bench_nops; o++) c->ops[o] = o;
                c->nops = bench_nops;
                continue;
            }
            int o = bench_op_find(it);
            if (o < 0 || c->nops == bench_nops) return -1;
            c->ops[c->nops++] = (size_t)o;
        }
    }
    return 0;
}

static int parse_args(int argc, char **argv, bench_config *c)
{
    memset(c, 0, sizeof *c);
    c->reps = 7;
    c->min_sample_ms = 2.0;
    c->active_frac = 1.0;
    c->copy_mib = 256;
    c->stream = "auto";
    int smoke = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(o, "--smoke")) {
            smoke = 1;
            continue;
        }
        if (i + 1 >= argc) goto bad;
        char *v = argv[++i];
        char *end = NULL;
        errno = 0;
        if (!strcmp(o, "--preset") || !strcmp(o, "--n") || !strcmp(o, "--dtype") || !strcmp(o, "--routing") ||
            !strcmp(o, "--op")) {
            char copy[1024]; /* strtok writes into its string; keep argv intact for the error message */
            if (strlen(v) >= sizeof copy) goto bad;
            strcpy(copy, v);
            if (parse_list(o, copy, c) != 0) goto bad;
        } else if (!strcmp(o, "--threads")) {
            long t = strtol(v, &end, 10);
            if (errno || *end || t < 1 || t > 4096) goto bad;
            c->threads = (int)t;
        } else if (!strcmp(o, "--isa")) {
            if (!strcmp(v, "auto")) c->isa = MOEROUTE_ISA_AUTO;
            else if (!strcmp(v, "scalar")) c->isa = MOEROUTE_ISA_SCALAR;
            else if (!strcmp(v, "avx2")) c->isa = MOEROUTE_ISA_AVX2;
            else if (!strcmp(v, "avx512")) c->isa = MOEROUTE_ISA_AVX512;
            else if (!strcmp(v, "neon")) c->isa = MOEROUTE_ISA_NEON;
            else goto bad;
        } else if (!strcmp(o, "--reps")) {
            long r = strtol(v, &end, 10);
            if (errno || *end || r < 1 || r > 100000) goto bad;
            c->reps = (int)r;
        } else if (!strcmp(o, "--min-sample-ms")) {
            c->min_sample_ms = strtod(v, &end);
            if (errno || *end || !(c->min_sample_ms >= 0.0 && c->min_sample_ms <= 10000.0)) goto bad;
        } else if (!strcmp(o, "--active-frac")) {
            c->active_frac = strtod(v, &end);
            if (errno || *end || !(c->active_frac >= 0.0 && c->active_frac <= 1.0)) goto bad;
        } else if (!strcmp(o, "--row-idx")) {
            if (!strcmp(v, "null")) c->explicit_row_idx = 0;
            else if (!strcmp(v, "explicit")) c->explicit_row_idx = 1;
            else goto bad;
        } else if (!strcmp(o, "--copy-mib")) {
            long m = strtol(v, &end, 10);
            if (errno || *end || m < 1 || m > 65536) goto bad;
            c->copy_mib = (size_t)m;
        } else if (!strcmp(o, "--ref")) {
            if (!strcmp(v, "per-case")) c->ref_once = 0;
            else if (!strcmp(v, "once")) c->ref_once = 1;
            else goto bad;
        } else if (!strcmp(o, "--stream")) {
            if (strcmp(v, "auto") && strcmp(v, "avx512") && strcmp(v, "avx2") && strcmp(v, "sse2") && strcmp(v, "off"))
                goto bad;
            c->stream = v;
        } else if (!strcmp(o, "--pages")) {
            if (!strcmp(v, "huge")) bench_huge_pages = 1;
            else if (!strcmp(v, "normal")) bench_huge_pages = 0;
            else goto bad;
        } else if (!strcmp(o, "--json")) {
            c->json = v;
        } else {
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "moeroute_bench: bad option or value: %s%s%s\n", o, i < argc && argv[i] != o ? " " : "",
                i < argc && argv[i] != o ? argv[i] : "");
        usage(stderr);
        return -1;
    }
    if (smoke) { /* explicit options given with --smoke still win where they were set */
        if (!c->npresets) c->presets[c->npresets++] = 2; /* qwen3-30b-a3b: the smallest hidden size */
        if (!c->nns) c->ns[c->nns++] = 64;
        if (!c->nroutings) c->routings[c->nroutings++] = ROUTING_UNIFORM;
        c->reps = 3;
        c->min_sample_ms = 0.2;
        c->copy_mib = 16;
    }
    if (!c->npresets)
        for (size_t p = 0; p < NPRESETS; p++) c->presets[c->npresets++] = p;
    if (!c->nns) {
        const int64_t def[] = {512, 4096, 8192, 1, 16, 64};
        for (size_t i = 0; i < 6; i++) c->ns[c->nns++] = def[i];
    }
    if (!c->ndtypes) {
        c->dtypes[c->ndtypes++] = MOEROUTE_DTYPE_FLOAT16;
        c->dtypes[c->ndtypes++] = MOEROUTE_DTYPE_BFLOAT16;
        c->dtypes[c->ndtypes++] = MOEROUTE_DTYPE_FLOAT32;
    }
    if (!c->nroutings) {
        c->routings[c->nroutings++] = ROUTING_UNIFORM;
        c->routings[c->nroutings++] = ROUTING_SKEWED;
    }
    if (!c->nops)
        for (size_t o = 0; o < bench_nops; o++) c->ops[c->nops++] = o;
    return 0;
}

/* The owned arrays behind a bench_case (x is owned by the dtype loop). */
typedef struct {
    int32_t *expert, *row_idx, *perm, *sorted_expert;
    int64_t *e_end;
} case_arrays;

static void free_arrays(case_arrays *ar)
{
    free(ar->expert);
    free(ar->row_idx);
    free(ar->perm);
    free(ar->sorted_expert);
    free(ar->e_end);
    memset(ar, 0, sizeof *ar);
}

/* Routing inputs for one (preset, N, routing). Returns 0, or -1 (message printed). */
static int make_routing(const bench_config *c, bench_case *in, case_arrays *ar, bench_routing routing, bench_rng *rng)
{
    size_t l = (size_t)(in->l ? in->l : 1);
    ar->expert = malloc(l * sizeof *ar->expert);
    ar->row_idx = c->explicit_row_idx ? malloc(l * sizeof *ar->row_idx) : NULL;
    ar->perm = malloc(l * sizeof *ar->perm);
    ar->sorted_expert = malloc(l * sizeof *ar->sorted_expert);
    ar->e_end = malloc((size_t)in->e * sizeof *ar->e_end);
    uint8_t *mark = malloc((size_t)(in->n ? in->n : 1));
    int rc = -1;
    if (!ar->expert || (c->explicit_row_idx && !ar->row_idx) || !ar->perm || !ar->sorted_expert || !ar->e_end ||
        !mark) {
        fprintf(stderr, "out of memory preparing routing inputs\n");
        goto out;
    }
    bench_fill_experts(ar->expert, in->n, in->k, in->e, routing, rng);
    if (ar->row_idx) bench_fill_row_idx(ar->row_idx, in->n, in->k);
    if (bench_reference_sort(ar->expert, in->n, in->k, in->e, ar->perm, ar->e_end) != 0) {
        fprintf(stderr, "internal error: generated expert id out of range\n");
        goto out;
    }
    for (int64_t i = 0; i < in->l; i++) ar->sorted_expert[i] = ar->expert[ar->perm[i]];
    in->expert = ar->expert;
    in->row_idx = ar->row_idx;
    in->perm = ar->perm;
    in->sorted_expert = ar->sorted_expert;
    in->e_end = ar->e_end;
    in->distinct_a = bench_distinct_tokens(ar->perm, in->a, in->n, in->k, mark);
    in->distinct_l = bench_distinct_tokens(ar->perm, in->l, in->n, in->k, mark);
    rc = 0;
out:
    free(mark);
    return rc;
}

static int run_call(moeroute_context *ctx, const bench_call *call, const char *what)
{
    moeroute_status st = call->op->run(ctx, call);
    if (st == MOEROUTE_OK) return 0;
    const char *msg = moeroute_error_message();
    fprintf(stderr, "%s %s: call failed: %s: %s\n", call->op->name, what, moeroute_status_string(st),
            msg ? msg : "(no message)");
    return -1;
}

/* Times one prepared call; fills r (the copy reference too). Returns 0, or -1 on a failed call or a wrong
 * result. */
static int time_case(moeroute_context *ctx, const bench_config *c, const bench_run *run, const bench_call *call,
                     bench_result *r)
{
    double *samples = malloc((size_t)c->reps * sizeof *samples);
    if (!samples) {
        fprintf(stderr, "%s: out of memory\n", r->preset);
        return -1;
    }
    int rc = -1;
    /* Warm-up 1 faults the output pages in and grows the context's scratch; it is also the call verified. */
    if (run_call(ctx, call, r->preset) != 0) goto out;
    const char *bad = call->op->verify(call);
    if (bad) {
        fprintf(stderr, "%s %s N=%lld %s: WRONG RESULT (%s)\n", call->op->name, r->preset, (long long)r->n, r->dtype,
                bad);
        goto out;
    }
    /* The copy limit, right before the timed calls: it drifts on shared machines. */
    bench_cpu_snap cpu0, cpu1;
    bench_cpu_snapshot(&cpu0);
    r->ref = run->ref;
    if (run->ref_per_case) {
        bench_copy_ref g;
        if (bench_copy_reference(run->copy_bytes, run->threads, 3, &g) == 0) r->ref = g;
    }
    /* Warm-up 2 (brings the inputs back into cache after the reference) sizes the samples: short calls are
     * repeated so that timer resolution and call jitter stay small against the sample. */
    double t0 = bench_now_s();
    if (run_call(ctx, call, r->preset) != 0) goto out;
    double once = bench_now_s() - t0;
    long inner = 1;
    double want = c->min_sample_ms * 1e-3;
    if (once < want) inner = once > 0 ? (long)ceil(want / once) : 1000;
    if (inner > 1000000) inner = 1000000;
    for (int rep = 0; rep < c->reps; rep++) {
        t0 = bench_now_s();
        for (long it = 0; it < inner; it++)
            if (run_call(ctx, call, r->preset) != 0) goto out;
        samples[rep] = (bench_now_s() - t0) / (double)inner;
    }
    bench_cpu_snapshot(&cpu1);
    r->others = bench_cpu_others(&cpu0, &cpu1);
    double minimum = samples[0];
    for (int rep = 1; rep < c->reps; rep++) minimum = samples[rep] < minimum ? samples[rep] : minimum;
    r->median_s = bench_median(samples, (size_t)c->reps);
    r->min_s = minimum;
    r->inner = inner;
    r->bytes_read = call->bytes_read;
    r->bytes_written = call->bytes_written;
    r->gbs = r->median_s > 0 ? (r->bytes_read + r->bytes_written) / r->median_s / 1e9 : 0.0;
    r->ratio = r->ref.limit_gbs > 0 ? r->gbs / r->ref.limit_gbs : 0.0;
    rc = 0;
out:
    free(samples);
    return rc;
}

int main(int argc, char **argv)
{
    if (bench_nops > sizeof ((bench_config *)0)->ops / sizeof(size_t)) {
        fprintf(stderr, "internal error: more operators than bench_config.ops holds\n");
        return 1;
    }
    bench_config c;
    if (parse_args(argc, argv, &c) != 0) return 2;

    bench_run run;
    memset(&run, 0, sizeof run);
    run.isa_requested = c.isa;
    run.reps = c.reps;
    run.min_sample_ms = c.min_sample_ms;
    run.active_frac = c.active_frac;
    run.explicit_row_idx = c.explicit_row_idx;
    run.ref_per_case = !c.ref_once;
    bench_cpu_model(run.cpu_model, sizeof run.cpu_model);
    run.llc_bytes = bench_llc_bytes();
    run.copy_bytes = c.copy_mib << 20;
    bench_stream_fn stream = bench_stream_select(c.stream, &run.stream_name);
    if (!stream && strcmp(c.stream, "off") && strcmp(c.stream, "auto"))
        fprintf(stderr, "moeroute_bench: streaming copy %s not available here; the reference is memcpy alone\n",
                c.stream);
    if (stream && bench_stream_selftest(stream) != 0) {
        fprintf(stderr, "moeroute_bench: the %s streaming copy copies wrongly; not used\n", run.stream_name);
        return 1;
    }
    if (stream) bench_copy_set_stream(stream, run.stream_name);
    run.ops = c.ops;
    run.nops = c.nops;

    moeroute_options opt = {c.threads, (int32_t)c.isa};
    moeroute_context *ctx = NULL;
    moeroute_status st = moeroute_context_create(&opt, &ctx);
    if (st != MOEROUTE_OK) {
        const char *msg = moeroute_error_message();
        fprintf(stderr, "moeroute_context_create: %s: %s\n", moeroute_status_string(st), msg ? msg : "");
        return 1;
    }
    run.threads = moeroute_context_threads(ctx);
    run.isa_effective = moeroute_context_isa(ctx);

    run.load_start = bench_loadavg();
    if (bench_copy_reference(run.copy_bytes, run.threads, c.reps < 5 ? 5 : c.reps, &run.ref) != 0) {
        fprintf(stderr, "copy reference failed (allocation of 2 x %zu MiB or thread creation)\n",
                run.copy_bytes >> 20);
        bench_copy_release();
        moeroute_context_destroy(ctx);
        return 1;
    }
    bench_print_header(stdout, &run);

    size_t cap = c.npresets * c.nns * c.ndtypes * c.nroutings * c.nops;
    run.results = calloc(cap ? cap : 1, sizeof *run.results);
    if (!run.results) {
        fprintf(stderr, "out of memory\n");
        moeroute_context_destroy(ctx);
        return 1;
    }
    int failures = 0;
    for (size_t pi = 0; pi < c.npresets; pi++) {
        const bench_preset *p = &PRESETS[c.presets[pi]];
        for (size_t ni = 0; ni < c.nns; ni++) {
            bench_case in;
            memset(&in, 0, sizeof in);
            in.n = c.ns[ni];
            in.k = p->k;
            in.h = p->hidden;
            in.e = p->experts;
            in.l = in.n * in.k;
            in.active = (int64_t)llround(c.active_frac * (double)in.n);
            in.a = in.active * in.k;
            if (in.k > in.e || in.l > INT32_MAX) {
                fprintf(stderr, "skipping %s N=%lld: K > E or N*K > INT32_MAX\n", p->name, (long long)in.n);
                continue;
            }
            for (size_t di = 0; di < c.ndtypes; di++) {
                in.dt = c.dtypes[di];
                size_t xbytes = (size_t)in.n * (size_t)in.h * bench_dtype_size(in.dt);
                void *x = bench_alloc(xbytes);
                if (!x) {
                    fprintf(stderr, "out of memory for x (%zu MiB)\n", xbytes >> 20);
                    failures++;
                    continue;
                }
                bench_rng rng;
                bench_rng_seed(&rng, 0x5EED0000u + (uint64_t)in.n * 131u + (uint64_t)in.h);
                bench_fill_x(x, (size_t)in.n * (size_t)in.h, in.dt, &rng);
                in.x = x;
                for (size_t ri = 0; ri < c.nroutings; ri++) {
                    case_arrays ar;
                    memset(&ar, 0, sizeof ar);
                    if (make_routing(&c, &in, &ar, c.routings[ri], &rng) != 0) {
                        failures++;
                        free_arrays(&ar);
                        continue;
                    }
                    for (size_t oi = 0; oi < c.nops; oi++) {
                        const bench_op *op = &bench_ops[c.ops[oi]];
                        if (op->dtype_free && di > 0) continue; /* reads no x: once per routing */
                        bench_result *r = &run.results[run.nresults];
                        memset(r, 0, sizeof *r);
                        r->op = op->name;
                        r->preset = p->name;
                        r->hidden = in.h;
                        r->experts = in.e;
                        r->k = in.k;
                        r->n = in.n;
                        r->dtype = op->dtype_free ? "-" : bench_dtype_name(in.dt);
                        r->routing = c.routings[ri] == ROUTING_SKEWED ? "skewed" : "uniform";
                        bench_call call;
                        if (bench_op_prepare(op, &in, &call) != 0) {
                            fprintf(stderr, "%s %s N=%lld: out of memory for the outputs\n", op->name, p->name,
                                    (long long)in.n);
                            failures++;
                            continue;
                        }
                        r->rows_out = call.rows_out;
                        r->distinct = call.distinct;
                        int bad = time_case(ctx, &c, &run, &call, r);
                        bench_op_release(&call);
                        if (bad) {
                            failures++;
                            continue;
                        }
                        bench_print_row(stdout, r, run.nresults == 0);
                        run.nresults++;
                    }
                    free_arrays(&ar);
                }
                free(x);
                in.x = NULL;
            }
        }
    }
    moeroute_context_destroy(ctx);
    bench_copy_release();
    run.load_end = bench_loadavg();
    printf("# load average (1 min) at end: %.2f\n", run.load_end);

    if (c.json && bench_write_json(c.json, &run) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", c.json, strerror(errno));
        failures++;
    }
    printf("# %zu cases measured, %d failed\n", run.nresults, failures);
    free(run.results);
    return failures ? 1 : 0;
}
