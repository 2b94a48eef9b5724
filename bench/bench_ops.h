/* The operator table of moeroute_bench (bench_ops.c): every data-movement operator of the native API, how its
 * arguments are built for one case, the bytes its ideal kernel moves, and how its result is checked. */
#ifndef MOEROUTE_BENCH_OPS_H
#define MOEROUTE_BENCH_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "moeroute.h"

/* The inputs of one (preset, N, dtype, routing), shared by every operator measured on it. */
typedef struct {
    int64_t n, k, h, e;
    int64_t active;     /* V1 active_num (tokens) = round(active_frac * N) */
    int64_t l;          /* N*K */
    int64_t a;          /* rows V1 writes, min(N, active) * K; V2 is given the same row count */
    int64_t distinct_a; /* distinct x rows among the first a sorted positions */
    int64_t distinct_l; /* distinct x rows among all L (V3 routes every copy) */
    moeroute_dtype dt;
    const void *x;               /* [N, H], contiguous */
    const int32_t *expert;       /* [N, K], ids in [0, E) */
    const int32_t *row_idx;      /* V1: the canonical layout as an explicit [N, K] array, or NULL */
    const int32_t *perm;         /* [L] flat positions f = r*K + j, stable by expert (token f / K) */
    const int32_t *sorted_expert; /* [L] expert of each sorted position */
    const int64_t *e_end;        /* [E] one past each expert's last sorted position (inclusive cumsum) */
} bench_case;

typedef struct bench_op bench_op;

/* One prepared call: its arguments, its outputs, and what it moves. */
typedef struct {
    const bench_op *op;
    const bench_case *c;
    union {
        moeroute_init_routing_args v1;
        moeroute_init_routing_v2_args v2;
        moeroute_init_routing_v3_args v3;
        moeroute_compute_expert_tokens_args et;
        moeroute_token_permute_args tp;
        moeroute_token_unpermute_args up;
        moeroute_finalize_routing_args fin;
        moeroute_re_routing_args rr;
        moeroute_gating_top_k_args gt;
        moeroute_gating_top_k_softmax_args gs;
        moeroute_dynamic_quant_args dq;
        moeroute_swiglu_args sw;
    } args;
    void *out_x;                 /* expanded_x */
    int32_t *out_row;            /* expanded_row_idx, token-permute's sorted_indices, compute-expert-tokens' out */
    int32_t *out_aux;            /* V1 expanded_expert_idx, V2 expert_tokens */
    int64_t *out_tokens;         /* V3 expert_tokens */
    float *out_scale;            /* dynamic scales; re-routing's permuted scales */
    /* inputs an operator needs beyond the case (made once in prepare, not timed): the combine operators' expert
     * rows, re-routing's received rows (bench_alloc); their index maps, weights or counts (malloc) */
    void *in_rows;
    int32_t *in_idx;             /* unpermute sorted_indices, finalize expanded_row_idx, re-routing source rows */
    void *in_weights;            /* unpermute probs (f32), finalize scales (x dtype), re-routing counts (int32) */
    float qscale, qoffset;       /* V2 static scale and offset (float tensors) */
    int64_t rows_out, distinct;  /* expanded rows written, distinct x rows read */
    double bytes_read, bytes_written; /* by the ideal kernel: every input byte it needs once, every output once */
} bench_call;

struct bench_op {
    const char *name;
    const char *what;  /* the API call and its settings, for the header */
    const char *bytes; /* the byte-count formula, for the header */
    int dtype_free;    /* reads no x: measured once per (preset, N, routing), with the first dtype */
    int quant_mode;    /* -1 copy, 0 static int8, 1 dynamic int8 */
    int (*prepare)(bench_call *call);
    moeroute_status (*run)(moeroute_context *ctx, const bench_call *call);
    const char *(*verify)(const bench_call *call); /* NULL when right, else what is wrong */
};

extern const bench_op bench_ops[];
extern const size_t bench_nops;

/* Index of the op called `name` (or an alias: copy = init-routing, quant = init-routing-quant), -1 if none. */
int bench_op_find(const char *name);

/* Builds the call's arguments and allocates its outputs (large ones with bench_alloc, so --pages applies).
 * Returns 0, or -1 out of memory (call released). */
int bench_op_prepare(const bench_op *op, const bench_case *c, bench_call *call);
void bench_op_release(bench_call *call);

#endif /* MOEROUTE_BENCH_OPS_H */
