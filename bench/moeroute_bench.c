/*
 * moeroute_bench: throughput of moeroute_init_routing on the routing shapes of current MoE models, compared
 * with this machine's memory-copy bandwidth measured in the same run with the same thread count.
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
    int ops[2]; /* 1 = quant, 0 = copy */
    size_t nops;
    int threads; /* 0 = library default */
    moeroute_isa isa;
    int reps;
    double min_sample_ms;
    double active_frac;
    int explicit_row_idx;
    size_t copy_mib;
    int ref_once; /* 1: one memcpy reference for the whole run; 0 (default): re-measured before each case */
    const char *json;
} bench_config;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: moeroute_bench [options]\n"
            "  --preset NAME[,NAME..]|all  deepseek-v3 qwen3-235b-a22b qwen3-30b-a3b mixtral-8x7b gpt-oss-120b\n"
            "                              llama-4-maverick (default all)\n"
            "  --n LIST          tokens per call (default 512,4096,8192,1,16,64: prefill then decode)\n"
            "  --dtype LIST      f16,bf16,f32 (default all)\n"
            "  --routing LIST    uniform,skewed (default both)\n"
            "  --op LIST         quant (int8 output, aclnnMoeInitRoutingQuant), copy (aclnnMoeInitRouting)\n"
            "                    (default quant)\n"
            "  --threads T       threads for the operator and the memcpy reference (default: library default)\n"
            "  --isa auto|scalar|avx2|avx512|neon   (default auto)\n"
            "  --reps R          timed samples per case, median reported (default 7)\n"
            "  --min-sample-ms M a sample repeats the call until it lasts >= M ms (default 2)\n"
            "  --active-frac F   active_num = round(F*N) (default 1)\n"
            "  --row-idx null|explicit  pass row_idx NULL (canonical) or as an explicit array (default null)\n"
            "  --copy-mib M      memcpy reference buffer (default 256, at least 8x the LLC)\n"
            "  --ref per-case|once  memcpy reference re-measured right before each case (default: the copy\n"
            "                    limit drifts on shared machines) or measured once at the start\n"
            "  --pages normal|huge  large buffers on ordinary pages (default) or transparent huge pages,\n"
            "                    for the operator and the memcpy reference alike\n"
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
            if (c->nops == 2) return -1;
            if (!strcmp(it, "quant")) c->ops[c->nops++] = 1;
            else if (!strcmp(it, "copy")) c->ops[c->nops++] = 0;
            else return -1;
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
        if (!c->nops) {
            c->ops[c->nops++] = 1;
            c->ops[c->nops++] = 0;
        }
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
    if (!c->nops) c->ops[c->nops++] = 1;
    return 0;
}

/* Inputs of one (preset, N, dtype, routing): generated once, shared by the ops. */
typedef struct {
    int64_t n, k, h, e, active, l, a, distinct;
    moeroute_dtype dt;
    void *x;
    int32_t *expert, *row_idx, *sorted_row;
    int64_t *e_end; /* e_end[e]: one past the last sorted position of expert e */
} case_inputs;

/* Checks the index outputs fully and a spread of expanded_x rows (copy op only: the quant numerics are the
 * test suite's business). A benchmark of wrong results is worthless, and this costs one pass. */
static int verify(const case_inputs *in, const moeroute_init_routing_args *a, int quant)
{
    int64_t pos = 0;
    for (int64_t e = 0; e < in->e; e++)
        for (; pos < in->e_end[e]; pos++)
            if (a->expanded_expert_idx[pos] != e) return -1;
    for (int64_t i = 0; i < in->l; i++)
        if (a->expanded_row_idx[in->sorted_row[i]] != i) return -2;
    if (!quant && in->a > 0) {
        size_t row_bytes = (size_t)in->h * bench_dtype_size(in->dt);
        for (int64_t j = 0; j <= 64; j++) { /* 65 rows spread evenly, first and last included */
            int64_t i = j * (in->a - 1) / 64;
            const unsigned char *src = (const unsigned char *)in->x + (size_t)(in->sorted_row[i] % in->n) * row_bytes;
            if (memcmp((const unsigned char *)a->expanded_x + (size_t)i * row_bytes, src, row_bytes)) return -3;
        }
    }
    return 0;
}

static int run_call(moeroute_context *ctx, const moeroute_init_routing_args *a, const char *what)
{
    moeroute_status st = moeroute_init_routing(ctx, a);
    if (st == MOEROUTE_OK) return 0;
    const char *msg = moeroute_error_message();
    fprintf(stderr, "%s: moeroute_init_routing failed: %s: %s\n", what, moeroute_status_string(st),
            msg ? msg : "(no message)");
    return -1;
}

/* Times one op on prepared inputs; fills r. Returns 0, or -1 on a failed call or a wrong result. */
static int time_case(moeroute_context *ctx, const bench_config *c, const case_inputs *in, int quant,
                     bench_result *r)
{
    moeroute_dtype out_dt = quant ? MOEROUTE_DTYPE_INT8 : in->dt;
    size_t out_bytes = (size_t)in->a * (size_t)in->h * bench_dtype_size(out_dt);
    moeroute_init_routing_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = in->n;
    a.k = in->k;
    a.hidden = in->h;
    a.active_num = in->active;
    a.x_dtype = in->dt;
    a.x = in->x;
    a.x_row_stride = in->h;
    a.x_col_stride = 1;
    a.expert_idx = in->expert;
    a.expert_row_stride = in->k;
    a.expert_col_stride = 1;
    a.row_idx = in->row_idx;
    a.row_idx_row_stride = in->k;
    a.row_idx_col_stride = 1;
    a.expanded_x_dtype = out_dt;
    a.scale = 20.0;
    a.offset = 1.0;
    a.expanded_x = bench_alloc(out_bytes);
    a.expanded_row_idx = malloc((size_t)(in->l ? in->l : 1) * sizeof(int32_t));
    a.expanded_expert_idx = malloc((size_t)(in->l ? in->l : 1) * sizeof(int32_t));
    double *samples = malloc((size_t)c->reps * sizeof *samples);
    int rc = -1;
    if (!a.expanded_x || !a.expanded_row_idx || !a.expanded_expert_idx || !samples) {
        fprintf(stderr, "%s: out of memory\n", r->preset);
        goto out;
    }
    /* Warm-up 1 faults the output pages in and grows the context's scratch; it is also the call verified. */
    if (run_call(ctx, &a, r->preset) != 0) goto out;
    int bad = verify(in, &a, quant);
    if (bad) {
        fprintf(stderr, "%s N=%lld %s: WRONG RESULT (%s)\n", r->preset, (long long)in->n, bench_dtype_name(in->dt),
                bad == -1 ? "expanded_expert_idx" : bad == -2 ? "expanded_row_idx" : "expanded_x");
        goto out;
    }
    /* Warm-up 2 sizes the samples: short calls are repeated so that timer resolution and call jitter stay
     * small against the sample. */
    double t0 = bench_now_s();
    if (run_call(ctx, &a, r->preset) != 0) goto out;
    double once = bench_now_s() - t0;
    long inner = 1;
    double want = c->min_sample_ms * 1e-3;
    if (once < want) inner = once > 0 ? (long)ceil(want / once) : 1000;
    if (inner > 1000000) inner = 1000000;
    for (int rep = 0; rep < c->reps; rep++) {
        t0 = bench_now_s();
        for (long it = 0; it < inner; it++)
            if (run_call(ctx, &a, r->preset) != 0) goto out;
        samples[rep] = (bench_now_s() - t0) / (double)inner;
    }
    double minimum = samples[0];
    for (int rep = 1; rep < c->reps; rep++) minimum = samples[rep] < minimum ? samples[rep] : minimum;
    r->median_s = bench_median(samples, (size_t)c->reps);
    r->min_s = minimum;
    r->inner = inner;
    r->bytes_read = (double)in->distinct * (double)in->h * (double)bench_dtype_size(in->dt) +
                    (double)in->l * 4.0 * (in->row_idx ? 2.0 : 1.0);
    r->bytes_written = (double)out_bytes + 2.0 * (double)in->l * 4.0;
    r->gbs = r->median_s > 0 ? (r->bytes_read + r->bytes_written) / r->median_s / 1e9 : 0.0;
    rc = 0;
out:
    free(a.expanded_x);
    free(a.expanded_row_idx);
    free(a.expanded_expert_idx);
    free(samples);
    return rc;
}

static void free_inputs(case_inputs *in)
{
    free(in->expert);
    free(in->row_idx);
    free(in->sorted_row);
    free(in->e_end);
    in->expert = in->row_idx = in->sorted_row = NULL;
    in->e_end = NULL;
}

/* Routing inputs for one (preset, N, routing); x is already set. Returns 0, or -1 (message printed). */
static int make_routing(const bench_config *c, case_inputs *in, bench_routing routing, bench_rng *rng)
{
    size_t l = (size_t)(in->l ? in->l : 1);
    in->expert = malloc(l * sizeof *in->expert);
    in->row_idx = c->explicit_row_idx ? malloc(l * sizeof *in->row_idx) : NULL;
    in->sorted_row = malloc(l * sizeof *in->sorted_row);
    in->e_end = malloc((size_t)in->e * sizeof *in->e_end);
    uint8_t *mark = malloc((size_t)(in->n ? in->n : 1));
    int rc = -1;
    if (!in->expert || (c->explicit_row_idx && !in->row_idx) || !in->sorted_row || !in->e_end || !mark) {
        fprintf(stderr, "out of memory preparing routing inputs\n");
        goto out;
    }
    bench_fill_experts(in->expert, in->n, in->k, in->e, routing, rng);
    if (in->row_idx) bench_fill_row_idx(in->row_idx, in->n, in->k);
    if (bench_reference_sort(in->expert, in->row_idx, in->n, in->k, in->e, in->sorted_row, in->e_end) != 0) {
        fprintf(stderr, "internal error: generated expert id out of range\n");
        goto out;
    }
    in->distinct = bench_distinct_rows(in->sorted_row, in->a, in->n, mark);
    rc = 0;
out:
    free(mark);
    return rc;
}

int main(int argc, char **argv)
{
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
    if (run.llc_bytes && run.copy_bytes < 8 * run.llc_bytes && c.copy_mib == 256) run.copy_bytes = 8 * run.llc_bytes;

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
    run.copy_gbs = bench_copy_bandwidth(run.copy_bytes, run.threads, c.reps < 5 ? 5 : c.reps, &run.copy_s);
    if (run.copy_gbs <= 0) {
        fprintf(stderr, "memcpy reference failed (allocation of 2 x %zu MiB or thread creation)\n",
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
            case_inputs in;
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
                in.x = bench_alloc(xbytes);
                if (!in.x) {
                    fprintf(stderr, "out of memory for x (%zu MiB)\n", xbytes >> 20);
                    failures++;
                    continue;
                }
                bench_rng rng;
                bench_rng_seed(&rng, 0x5EED0000u + (uint64_t)in.n * 131u + (uint64_t)in.h);
                bench_fill_x(in.x, (size_t)in.n * (size_t)in.h, in.dt, &rng);
                for (size_t ri = 0; ri < c.nroutings; ri++) {
                    if (make_routing(&c, &in, c.routings[ri], &rng) != 0) {
                        failures++;
                        free_inputs(&in);
                        continue;
                    }
                    for (size_t oi = 0; oi < c.nops; oi++) {
                        bench_result *r = &run.results[run.nresults];
                        r->preset = p->name;
                        r->hidden = in.h;
                        r->experts = in.e;
                        r->k = in.k;
                        r->n = in.n;
                        r->active = in.active;
                        r->rows_out = in.a;
                        r->distinct = in.distinct;
                        r->dtype = bench_dtype_name(in.dt);
                        r->routing = c.routings[ri] == ROUTING_SKEWED ? "skewed" : "uniform";
                        r->op = c.ops[oi] ? "quant" : "copy";
                        if (time_case(ctx, &c, &in, c.ops[oi], r) != 0) {
                            failures++;
                            continue;
                        }
                        r->copy_gbs = run.copy_gbs;
                        if (run.ref_per_case) { /* the copy limit drifts on shared machines: re-measure */
                            double g = bench_copy_bandwidth(run.copy_bytes, run.threads, 3, NULL);
                            if (g > 0) r->copy_gbs = g;
                        }
                        r->ratio = r->gbs / r->copy_gbs;
                        bench_print_row(stdout, r, run.nresults == 0);
                        run.nresults++;
                    }
                    free_inputs(&in);
                }
                free(in.x);
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
