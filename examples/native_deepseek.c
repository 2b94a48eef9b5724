/*
 * The native API on a DeepSeek-V3-sized prefill batch: N tokens (default 4096) of hidden size 7168 in
 * bfloat16, top-8 of 256 experts, int8 static quantization. Prints the routing summary, one routed row and
 * the time, and checks its own result: the index maps must describe a stable ascending order of the expert
 * ids, and every output byte must equal a second run on another path (one thread, scalar kernels).
 * Exits 1 when a check fails. Usage: native_deepseek [N] [threads]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moeroute.h"

enum { H = 7168, E = 256, K = 8 };

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* Roughly normal activations (sum of uniforms), stored as bfloat16 by truncation: any bits will do here. */
static uint16_t random_bf16(void)
{
    float v = 0.0f;
    for (int i = 0; i < 4; i++) v += (float)next_u32() / 4294967296.0f - 0.5f;
    v *= 3.0f;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (uint16_t)(u >> 16);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int64_t N = argc > 1 ? atoll(argv[1]) : 4096;
    int threads = argc > 2 ? atoi(argv[2]) : 0;
    if (N <= 0) {
        fprintf(stderr, "usage: %s [N > 0] [threads]\n", argv[0]);
        return 2;
    }
    size_t L = (size_t)N * K;
    uint16_t *x = malloc((size_t)N * H * sizeof *x);
    int32_t *expert = malloc(L * sizeof *expert);
    int8_t *out = malloc(L * H);
    int32_t *row_out = malloc(L * sizeof *row_out);
    int32_t *expert_out = malloc(L * sizeof *expert_out);
    if (!x || !expert || !out || !row_out || !expert_out) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)N * H; i++) x[i] = random_bf16();
    for (int64_t t = 0; t < N; t++) { /* top-8 distinct experts; a few hot experts as in real gating */
        for (int j = 0; j < K; j++) {
            int32_t e, dup;
            do {
                e = (int32_t)(next_u32() % 4 == 0 ? next_u32() % 16 : next_u32() % E);
                dup = 0;
                for (int p = 0; p < j; p++) dup |= expert[t * K + p] == e;
            } while (dup);
            expert[t * K + j] = e;
        }
    }

    moeroute_options opt = {threads, MOEROUTE_ISA_AUTO};
    moeroute_context *ctx;
    if (moeroute_context_create(&opt, &ctx) != MOEROUTE_OK) {
        fprintf(stderr, "moeroute_context_create: %s\n", moeroute_error_message());
        return 1;
    }
    moeroute_init_routing_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = N;
    a.k = K;
    a.hidden = H;
    a.active_num = N;
    a.x_dtype = MOEROUTE_DTYPE_BFLOAT16;
    a.x = x;
    a.x_row_stride = H;
    a.x_col_stride = 1;
    a.expert_idx = expert;
    a.expert_row_stride = K;
    a.expert_col_stride = 1;
    a.row_idx = NULL; /* canonical layout from gating: rowIdx[t][j] = j*N + t */
    a.expanded_x_dtype = MOEROUTE_DTYPE_INT8;
    a.scale = 20.0;
    a.offset = 0.0;
    a.expanded_x = out;
    a.expanded_row_idx = row_out;
    a.expanded_expert_idx = expert_out;

    enum { REPS = 5 };
    double ms[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = now_ms();
        moeroute_status st = moeroute_init_routing(ctx, &a);
        ms[r] = now_ms() - t0;
        if (st != MOEROUTE_OK) {
            fprintf(stderr, "moeroute_init_routing: %s: %s\n", moeroute_status_string(st), moeroute_error_message());
            return 1;
        }
    }
    qsort(ms, REPS, sizeof ms[0], cmp_double);

    /* check 1: the index maps describe the stable ascending order of the ids (ties: smaller token first) */
    int ok_order = 1;
    for (size_t v = 0; v < L && ok_order; v++) {
        int32_t i = row_out[v]; /* rowIdx value v = j*N + t is copy (t, j) */
        size_t t = v % (size_t)N, j = v / (size_t)N;
        ok_order = i >= 0 && (size_t)i < L && expert_out[i] == expert[t * K + j];
    }
    for (size_t i = 1; i < L && ok_order; i++) ok_order = expert_out[i - 1] <= expert_out[i];
    /* check 2: a second path (one thread, scalar kernels) gives the same bytes */
    int8_t *out2 = malloc(L * H);
    int32_t *row2 = malloc(L * sizeof *row2), *exp2 = malloc(L * sizeof *exp2);
    moeroute_options opt2 = {1, MOEROUTE_ISA_SCALAR};
    moeroute_context *ctx2 = NULL;
    int ok_same = out2 && row2 && exp2 && moeroute_context_create(&opt2, &ctx2) == MOEROUTE_OK;
    if (ok_same) {
        moeroute_init_routing_args b = a;
        b.expanded_x = out2, b.expanded_row_idx = row2, b.expanded_expert_idx = exp2;
        ok_same = moeroute_init_routing(ctx2, &b) == MOEROUTE_OK && !memcmp(out, out2, L * H) &&
                  !memcmp(row_out, row2, L * sizeof *row2) && !memcmp(expert_out, exp2, L * sizeof *exp2);
    }
    moeroute_context_destroy(ctx2);
    free(out2), free(row2), free(exp2);

    int64_t count[E] = {0};
    for (size_t i = 0; i < L; i++) count[expert_out[i]]++;
    int64_t cmin = INT64_MAX, cmax = 0;
    for (int e = 0; e < E; e++) {
        cmin = count[e] < cmin ? count[e] : cmin;
        cmax = count[e] > cmax ? count[e] : cmax;
    }
    uint64_t checksum = 1469598103934665603ull;
    for (size_t i = 0; i < L * H; i++) checksum = (checksum ^ (uint8_t)out[i]) * 1099511628211ull;

    double bytes = (double)N * H * 2 + (double)L * H + (double)L * 4 * 3;
    printf("moeroute %s, ISA %s, DeepSeek-V3 routing: N=%lld tokens, H=%d (bf16), top-%d of %d experts\n",
           moeroute_version_string(), moeroute_isa_name(moeroute_detected_isa()), (long long)N, H, K, E);
    printf("expanded rows: %zu x %d int8 (%.1f MiB); tokens per expert: min %lld, max %lld, mean %.1f\n", L, H,
           (double)L * H / 1048576.0, (long long)cmin, (long long)cmax, (double)L / E);
    size_t v0 = 0; /* the rowIdx value sorted first: expandedRowIdx maps it to position 0 */
    while (row_out[v0] != 0) v0++;
    printf("sorted position 0: expert %d, token %lld (its slot %lld); last position: expert %d\n", expert_out[0],
           (long long)(v0 % (size_t)N), (long long)(v0 / (size_t)N), expert_out[L - 1]);
    printf("expandedX[0][0..7]:");
    for (int h = 0; h < 8; h++) printf(" %d", out[h]);
    printf("\nchecksum (FNV-1a of expandedX): %016llx\n", (unsigned long long)checksum);
    printf("time: median %.2f ms of %d runs (min %.2f), %.2f GB/s moved (%d threads, ISA %s)\n", ms[REPS / 2], REPS,
           ms[0], bytes / (ms[REPS / 2] * 1e6), (int)moeroute_context_threads(ctx),
           moeroute_isa_name(moeroute_context_isa(ctx)));
    printf("check: index maps %s a stable ascending order of the expert ids\n", ok_order ? "describe" : "DO NOT describe");
    printf("check: %s\n", ok_same ? "every output byte equals a second run on one thread with scalar kernels (verified)"
                                  : "the single-thread scalar run DIFFERS (FAILED)");

    moeroute_context_destroy(ctx);
    free(x);
    free(expert);
    free(out);
    free(row_out);
    free(expert_out);
    return ok_order && ok_same ? 0 : 1;
}
