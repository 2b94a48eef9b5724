/*
 * distribute_cmds.c -- the moeroute CLI commands of expert parallelism (docs/operators/distribute.md):
 *
 *   moeroute distribute-dispatch   MoeDistributeDispatchV2   (native moeroute_distribute_dispatch)
 *   moeroute distribute-combine    MoeDistributeCombineV2    (moeroute_distribute_combine)
 *
 * One invocation runs the whole expert-parallel group: HcclCommInitAll over the logical devices 0..W-1
 * (docs/hccl.md), one thread per rank, each calling the native API on its own handle. Every per-rank array is
 * stacked rank-major in one .npy file ([W, ...]); the outputs are stacked the same way, every rank with the
 * same A (the largest bound of the ranks, so the files stack), padded with zeros where a rank writes less.
 *
 * Same contract as the other operator commands (cli/README.md): options named after the operator's arguments,
 * exit status 0 ok / 1 refused / 2 usage / 3 file, every input read and every rank run before anything is
 * written; outputs are staged and committed as a set by main. A refusal reaches every rank (the library's
 * agreement); the first refusing rank's message is printed, once.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "hccl/hccl.h"

typedef struct {
    const char *ranks, *experts, *shared_num, *shared_ranks, *global_bs, *quant_mode, *nums_type;
    const char *x, *ids, *scales, *mask, *escales, *expand_x, *assist, *send_counts, *shared_x;
    const char *out, *threads, *isa;
    int bf16, verbose, help;
} dist_opts;

#define V(name, member) CLI_VALUE_OPT(name, dist_opts, member)
#define COMMON_OPTS                                                                                               \
    V("ranks", ranks), V("experts", experts), V("shared-experts", shared_num), V("shared-ranks", shared_ranks),  \
        V("global-bs", global_bs), V("expert-ids", ids), V("active-mask", mask), V("expert-scales", escales),    \
        V("out", out), V("threads", threads), V("isa", isa), CLI_FLAG_OPT("bf16", dist_opts, bf16)
static const cli_opt DISPATCH_OPTS[] = {V("x", x), V("scales", scales), V("quant-mode", quant_mode),
                                        V("token-nums-type", nums_type), COMMON_OPTS};
static const cli_opt COMBINE_OPTS[] = {V("expand-x", expand_x), V("assist-info", assist),
                                       V("ep-send-counts", send_counts), V("shared-x", shared_x), COMMON_OPTS};
#undef V
#undef COMMON_OPTS

#define REQ(member, what) CLI_REQUIRED(dist_opts, member, what, NULL)
#define REQ_COMMON                                                                                                \
    REQ(ranks, "--ranks W"), REQ(ids, "--expert-ids FILE"), REQ(experts, "--experts E"),                         \
        CLI_REQUIRED(dist_opts, out, "--out DIR", "--out is empty"), {0, NULL, NULL}
#define DT(d) (1u << (unsigned)(d))

/* the inputs of a call in cli_state.in */
enum { IN_X, IN_IDS, IN_MASK, IN_ESCALES, IN_SCALES, IN_ASSIST, IN_SEND, IN_SHARED };

/* The attributes both commands take, and the sizes of the stacked arrays. */
typedef struct {
    int64_t W, E, S, R, gbs;
    int64_t bs, H, K; /* from the files */
    int64_t L;        /* local experts of a MoE rank: the columns of expert_token_nums (at least 1) */
    int64_t A;        /* rows of every rank: the largest bound of docs/operators/distribute.md */
} dist_dims;

static int read_attrs(const char *cmd, const dist_opts *o, dist_dims *d)
{
    int rc;
    memset(d, 0, sizeof *d);
    if ((rc = cli_int_opt(cmd, "ranks", o->ranks, 0, &d->W)) ||
        (rc = cli_int_opt(cmd, "experts", o->experts, 0, &d->E)) ||
        (rc = cli_int_opt(cmd, "shared-experts", o->shared_num, 0, &d->S)) ||
        (rc = cli_int_opt(cmd, "shared-ranks", o->shared_ranks, 0, &d->R)) ||
        (rc = cli_int_opt(cmd, "global-bs", o->global_bs, 0, &d->gbs)))
        return rc;
    if (d->W < 1) return cli_usage_error(cmd, "--ranks must be at least 1, got '%s'", o->ranks);
    /* HcclCommInitAll judges W against MOEROUTE_DEVICE_COUNT; its largest value bounds the arrays before that */
    if (d->W > 65536)
        return cli_refused(cmd, "--ranks %lld exceeds the logical devices (MOEROUTE_DEVICE_COUNT, at most 65536)",
                           (long long)d->W);
    return 0;
}

/* L and A once bs and K are known; the library checks the attributes (a value it refuses only needs a size
 * here that cannot overflow). EXIT_REFUSED when the outputs cannot be addressed. */
static int size_rows(const char *cmd, dist_dims *d)
{
    const int64_t moe_ranks = d->W - d->R;
    d->L = d->R >= 0 && moe_ranks > 0 && d->E / moe_ranks > 0 ? d->E / moe_ranks : 1;
    const int64_t max_bs = d->gbs > 0 && d->gbs % d->W == 0 && d->gbs / d->W >= d->bs ? d->gbs / d->W : d->bs;
    const int64_t per = d->L < d->K ? d->L : d->K; /* MoE ranks bound every rank's (a shared rank's <= max_bs * W) */
    if (per > 0 && max_bs > INT32_MAX / d->W / per)
        return cli_refused(cmd, "maxBs * W * min(L, K) = %lld * %lld * %lld rows per rank exceed INT32_MAX",
                           (long long)max_bs, (long long)d->W, (long long)per);
    d->A = max_bs * d->W * (per > 0 ? per : 0);
    return 0;
}

/* "[a, b, c]" of n dims into buf */
static const char *dims_text(char *buf, size_t cap, const int64_t *shape, int n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "[", (long long)shape[i]);
    if (at < cap) snprintf(buf + at, cap - at, n ? "]" : "[]");
    return buf;
}

/* --opt FILE (NULL: absent) into *a: a dtype of the DT() set dts, lo..hi dimensions (exit 3 otherwise), the
 * shape `want` (hi entries; -1 any) compared from the left, or from the right when `right` (an array without
 * the leading W), exit 1 when it differs; then in C order. */
static int read_arr(const char *cmd, const char *opt, const char *path, npy_array *a, unsigned dts, int lo, int hi,
                    const int64_t *want, int right, const char *what)
{
    if (!path) return 0;
    char hint[192];
    snprintf(hint, sizeof hint, "--%s must be %s", opt, what);
    int rc = cli_read_input(cmd, path, a, hint);
    if (rc) return rc;
    if (!(dts & DT(a->dtype)) || a->ndim < lo || a->ndim > hi) {
        fprintf(stderr, "moeroute %s: %s: --%s must be %s; the file holds '%s' with %d dimension%s%s\n", cmd, path,
                opt, what, a->descr, a->ndim, a->ndim == 1 ? "" : "s",
                a->dtype == NPY_DT_U2 && !(dts & DT(NPY_DT_U2)) ? " (raw bfloat16 bits need --bf16)" : "");
        return EXIT_IO;
    }
    const int skip = right ? hi - a->ndim : 0;
    for (int i = 0; i < a->ndim; i++)
        if (want[skip + i] >= 0 && a->shape[i] != want[skip + i]) {
            char got[96], need[96];
            return cli_refused(cmd, "--%s has shape %s, the call needs %s (-1: any)", opt,
                               dims_text(got, sizeof got, a->shape, a->ndim),
                               dims_text(need, sizeof need, want + skip, a->ndim));
        }
    return cli_to_c_order(cmd, a);
}

/* ids [W, Bs, K] int32 (fills bs, K), the mask [W, Bs] or [W, Bs, K] bool and the expert scales [W, Bs, K]
 * float32: the routing both commands read. */
static int read_routing(const char *cmd, const dist_opts *o, cli_state *s, dist_dims *d)
{
    const int64_t w3[3] = {d->W, d->bs < 0 ? -1 : d->bs, -1};
    int rc = read_arr(cmd, "expert-ids", o->ids, &s->in[IN_IDS], DT(NPY_DT_I4), 3, 3, w3, 0,
                      "[W, Bs, K] int32 ('<i4')");
    if (rc) return rc;
    d->bs = s->in[IN_IDS].shape[1], d->K = s->in[IN_IDS].shape[2];
    const int64_t bk[3] = {d->W, d->bs, d->K};
    if ((rc = read_arr(cmd, "active-mask", o->mask, &s->in[IN_MASK], DT(NPY_DT_B1), 2, 3, bk, 0,
                       "[W, Bs] or [W, Bs, K] bool ('|b1')")) ||
        (rc = read_arr(cmd, "expert-scales", o->escales, &s->in[IN_ESCALES], DT(NPY_DT_F4), 3, 3, bk, 0,
                       "[W, Bs, K] float32 ('<f4')")))
        return rc;
    return size_rows(cmd, d);
}

/* the activations: float16, or bfloat16 bits ('<u2') with --bf16 */
static unsigned act_dtypes(const dist_opts *o, moeroute_dtype *dt)
{
    *dt = o->bf16 ? MOEROUTE_DTYPE_BFLOAT16 : MOEROUTE_DTYPE_FLOAT16;
    return o->bf16 ? DT(NPY_DT_U2) : DT(NPY_DT_F2);
}
static const char ACT_TEXT_F16[] = "float16 ('<f2') or, with --bf16, raw bfloat16 bits ('<u2')";

/* A zeroed output of [a, b, c] elements of esize bytes into s->out[i]; EXIT_REFUSED when not addressable. */
static int alloc_n(const char *cmd, cli_state *s, int i, int64_t a, int64_t b, int64_t c, size_t esize)
{
    uint64_t n = esize;
    const int64_t f[3] = {a, b, c};
    for (int k = 0; k < 3; k++) {
        const uint64_t v = f[k] < 0 ? 0 : (uint64_t)f[k];
        if (v && n > SIZE_MAX / v)
            return cli_refused(cmd, "an output of [%lld, %lld, %lld] elements is larger than this machine can address",
                               (long long)a, (long long)b, (long long)c);
        n *= v;
    }
    return cli_alloc_output(cmd, (size_t)n, &s->out[i]);
}

/* ---- the ranks -------------------------------------------------------------------------------------------- */

typedef struct {
    cli_native_fn call;
    moeroute_context *ctx;
    const void *args;
    moeroute_status st;
    char *msg; /* this rank's message when refused (the library's messages are per thread) */
} rank_job;

static void *rank_main(void *p)
{
    rank_job *j = p;
    j->st = j->call(j->ctx, j->args);
    if (j->st != MOEROUTE_OK) {
        const char *m = moeroute_error_message();
        j->msg = m ? strdup(m) : NULL;
    }
    return NULL;
}

/* An in-process communicator over devices 0..W-1, then call(ctx, args[r]) on one thread per rank (args: W
 * structs of `size` bytes whose `void *comm` at comm_off gets the rank's handle). 0, or EXIT_REFUSED with the
 * first refusing rank's message (every rank refuses together), EXIT_IO when a thread cannot start. */
static int run_ranks(const char *cmd, int64_t W, moeroute_context *ctx, cli_native_fn call, void *args, size_t size,
                     size_t comm_off)
{
    HcclComm *comms = calloc((size_t)W, sizeof *comms);
    int32_t *devs = calloc((size_t)W, sizeof *devs);
    rank_job *jobs = calloc((size_t)W, sizeof *jobs);
    pthread_t *th = calloc((size_t)W, sizeof *th);
    int rc = 0;
    if (!comms || !devs || !jobs || !th) {
        fprintf(stderr, "moeroute %s: out of memory\n", cmd);
        rc = EXIT_IO;
        goto done;
    }
    for (int64_t r = 0; r < W; r++) devs[r] = (int32_t)r;
    const HcclResult hr = HcclCommInitAll((uint32_t)W, devs, comms);
    if (hr != HCCL_SUCCESS) {
        cli_print_refusal(cmd, HcclGetErrorString(hr), moeroute_error_message());
        rc = EXIT_REFUSED;
        goto done;
    }
    int64_t started = 0;
    for (; started < W; started++) {
        char *a = (char *)args + (size_t)started * size;
        memcpy(a + comm_off, &comms[started], sizeof(void *));
        jobs[started] = (rank_job){call, ctx, a, MOEROUTE_OK, NULL};
        if (pthread_create(&th[started], NULL, rank_main, &jobs[started]) != 0) break;
    }
    /* the handles of ranks that never started go first: the others' collectives then fail at once instead of
     * waiting out the HCCL timeout (HcclCommDestroy, docs/hccl.md) */
    for (int64_t r = started; r < W; r++) HcclCommDestroy(comms[r]);
    for (int64_t r = 0; r < started; r++) pthread_join(th[r], NULL);
    for (int64_t r = 0; r < started; r++) HcclCommDestroy(comms[r]);
    if (started < W) {
        fprintf(stderr, "moeroute %s: cannot start the thread of rank %lld\n", cmd, (long long)started);
        rc = EXIT_IO;
    }
    for (int64_t r = 0; !rc && r < W; r++)
        if (jobs[r].st != MOEROUTE_OK) {
            cli_print_refusal(cmd, moeroute_status_string(jobs[r].st), jobs[r].msg);
            rc = EXIT_REFUSED;
        }
done:
    for (int64_t r = 0; jobs && r < W; r++) free(jobs[r].msg);
    free(comms), free(devs), free(jobs), free(th);
    return rc;
}

static moeroute_status call_dispatch(moeroute_context *c, const void *a) { return moeroute_distribute_dispatch(c, a); }
static moeroute_status call_combine(moeroute_context *c, const void *a) { return moeroute_distribute_combine(c, a); }

/* The lines both commands' --help share: the attributes, and how the group runs. */
#define DIST_ATTR_HELP                                                                                            \
    "  --ranks W          the expert-parallel group: W ranks, run as W threads of this process over logical\n"    \
    "                     devices 0..W-1 (1 <= W <= MOEROUTE_DEVICE_COUNT, default 16); every file below is\n"  \
    "                     stacked rank-major, [W, ...]\n"                                                         \
    "  --experts E        moeExpertNum, a multiple of the W - R MoE ranks (L = E / (W - R) local experts each)\n" \
    "  --shared-experts S  sharedExpertNum (default 0)\n"                                                         \
    "  --shared-ranks R   sharedExpertRankNum (default 0): ranks 0..R-1 hold the shared experts\n"                \
    "  --global-bs N      0 (default) or maxBs * W\n"

static const char ROWS_HELP[] =
    "Every rank has A = maxBs * W * min(L, K) rows (maxBs = global-bs / W, else Bs), the most a MoE rank\n"
    "can receive, so that the ranks' arrays stack; rows past a rank's own count are zeros, and so are the\n"
    "columns a shared-expert rank (one local expert) does not use. Each rank runs on one thread of its own.\n";

/* ---- distribute-dispatch ----------------------------------------------------------------------------------- */

static void usage_dispatch(FILE *f)
{
    fprintf(f, "usage: moeroute distribute-dispatch --ranks W --x X.npy --expert-ids I.npy --experts E [--scales S.npy]\n"
               "           [--active-mask M.npy] [--expert-scales P.npy] [--quant-mode 0|2] [--shared-experts S\n"
               "           --shared-ranks R] [--global-bs N] [--token-nums-type 0|1] --out DIR [--bf16] [-v]\n"
               "\n"
               "MoeDistributeDispatchV2 over a whole expert-parallel group (native moeroute_distribute_dispatch on\n"
               "W in-process ranks): every rank's tokens to the ranks of their experts, copied bit for bit or\n"
               "(--quant-mode 2) as per-token dynamic int8. Rows arrive by local expert, then source rank, then\n"
               "(token, slot).\n%s"
               "\n"
               "inputs (rank-major):\n"
               "  --x X.npy          [W, Bs, H] %s\n"
               "  --expert-ids I     [W, Bs, K] int32 ('<i4'); an id >= E sends nothing, a negative one is refused\n"
               "  --scales S         --quant-mode 2: smooth factors [E (+ S with shared ranks), H] float32, the same\n"
               "                     for every rank, or [W, E (+ S), H]\n"
               "  --active-mask M    [W, Bs] or [W, Bs, K] bool ('|b1'): inactive tokens / slots send nothing\n"
               "  --expert-scales P  [W, Bs, K] float32: copied to expand_scales.npy\n"
               "attributes:\n" DIST_ATTR_HELP
               "  --quant-mode Q     0 (default): rows copied; 2: per-token dynamic int8\n"
               "  --token-nums-type T  expert_token_nums: 0 (default) cumsum, 1 counts\n"
               "outputs (in DIR):\n"
               "  expand_x.npy            [W, A, H] x's dtype, int8 with --quant-mode 2\n"
               "  dynamic_scales.npy      [W, A] float32 (--quant-mode 2 only)\n"
               "  assist_info.npy         [W, A, 3] int32: (source rank, token, slot) of each row\n"
               "  expert_token_nums.npy   [W, L] int64\n"
               "  ep_recv_counts.npy      [W, W * L] int32\n"
               "  expand_scales.npy       [W, A] float32 (with --expert-scales)\n"
               CLI_EXEC_HELP "%s",
            ROWS_HELP, ACT_TEXT_F16, CLI_EXIT_HELP);
}

static int run_dispatch(int argc, char **argv)
{
    static const char cmd[] = "distribute-dispatch";
    static const cli_required req[] = {REQ(x, "--x FILE"), REQ_COMMON};
    dist_opts o;
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, DISPATCH_OPTS, o, usage_dispatch, req);
    if (rc) return rc < 0 ? 0 : rc;
    dist_dims d;
    int64_t qm, nt;
    if ((rc = read_attrs(cmd, &o, &d)) || (rc = cli_int_opt(cmd, "quant-mode", o.quant_mode, 0, &qm)) ||
        (rc = cli_int_opt(cmd, "token-nums-type", o.nums_type, 0, &nt)))
        return rc;
    if (qm != 0 && qm != 2) return cli_usage_error(cmd, "--quant-mode must be 0 or 2, got '%s'", o.quant_mode);
    if (nt != 0 && nt != 1) return cli_usage_error(cmd, "--token-nums-type must be 0 or 1, got '%s'", o.nums_type);
    if (o.scales && qm != 2) return cli_usage_error(cmd, "%s: --scales belongs to --quant-mode 2", "rows are copied");
    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype dt;
    const unsigned xdts = act_dtypes(&o, &dt);
    const int64_t wx[3] = {d.W, -1, -1};
    if ((rc = read_arr(cmd, "x", o.x, &s.in[IN_X], xdts, 3, 3, wx, 0, ACT_TEXT_F16))) goto done;
    d.bs = s.in[IN_X].shape[1], d.H = s.in[IN_X].shape[2];
    if ((rc = read_routing(cmd, &o, &s, &d))) goto done;
    const int64_t srows = d.E + (d.R > 0 ? d.S : 0), sc[3] = {d.W, srows, d.H};
    if ((rc = read_arr(cmd, "scales", o.scales, &s.in[IN_SCALES], DT(NPY_DT_F4), 2, 3, sc, 1,
                       "[E (+ S), H] or [W, E (+ S), H] float32 ('<f4')")))
        goto done;
    const int64_t W = d.W, A = d.A, H = d.H, L = d.L;
    enum { O_X, O_DYN, O_ASSIST, O_NUMS, O_RECV, O_EXPS };
    void *mem = NULL;
    if ((rc = alloc_n(cmd, &s, O_X, W, A, H, qm ? 1 : 2)) || (qm && (rc = alloc_n(cmd, &s, O_DYN, W, A, 1, 4))) ||
        (rc = alloc_n(cmd, &s, O_ASSIST, W, A, 3, 4)) || (rc = alloc_n(cmd, &s, O_NUMS, W, L, 1, 8)) ||
        (rc = alloc_n(cmd, &s, O_RECV, W, W, L, 4)) || (o.escales && (rc = alloc_n(cmd, &s, O_EXPS, W, A, 1, 4))) ||
        (rc = cli_alloc_output(cmd, (size_t)W * sizeof(moeroute_distribute_dispatch_args), &mem)) ||
        (rc = cli_open_context(cmd, o.threads, o.isa, &s.ctx))) {
        free(mem);
        goto done;
    }
    moeroute_distribute_dispatch_args *args = mem;
    const int64_t bk = d.bs * d.K, mk = s.in[IN_MASK].ndim == 3 ? bk : d.bs;
    const int per_rank_scales = o.scales && s.in[IN_SCALES].ndim == 3;
    for (int64_t r = 0; r < W; r++)
        args[r] = (moeroute_distribute_dispatch_args){
            .struct_size = sizeof *args, .x_dtype = dt, .quant_mode = (int32_t)qm, .num_tokens = d.bs, .hidden = H,
            .top_k = d.K, .num_experts = d.E, .shared_expert_num = d.S, .shared_expert_rank_num = d.R,
            .global_bs = d.gbs, .token_nums_type = (int32_t)nt, .mask_2d = s.in[IN_MASK].ndim == 3,
            .x = (const char *)s.in[IN_X].data + (size_t)(r * d.bs * H) * 2,
            .expert_ids = (const int32_t *)s.in[IN_IDS].data + r * bk,
            .smooth_scales =
                o.scales ? (const float *)s.in[IN_SCALES].data + (per_rank_scales ? r * srows * H : 0) : NULL,
            .active_mask = o.mask ? (const uint8_t *)s.in[IN_MASK].data + r * mk : NULL,
            .expert_scales = o.escales ? (const float *)s.in[IN_ESCALES].data + r * bk : NULL, .max_rows = A,
            .expand_x = (char *)s.out[O_X] + (size_t)(r * A * H) * (qm ? 1 : 2),
            .dynamic_scales = qm ? (float *)s.out[O_DYN] + r * A : NULL,
            .assist_info = (int32_t *)s.out[O_ASSIST] + r * A * 3,
            .expert_token_nums = (int64_t *)s.out[O_NUMS] + r * L,
            .ep_recv_counts = (int32_t *)s.out[O_RECV] + r * W * L,
            .expand_scales = o.escales ? (float *)s.out[O_EXPS] + r * A : NULL};
    rc = run_ranks(cmd, W, s.ctx, call_dispatch, args, sizeof *args, offsetof(moeroute_distribute_dispatch_args, comm));
    free(args);
    if (rc) goto done;
    const cli_out_file files[] = {
        {"expand_x.npy", qm ? NPY_DT_I1 : cli_npy_of(dt), 3, {W, A, H}, s.out[O_X]},
        {"dynamic_scales.npy", NPY_DT_F4, 2, {W, A, 0}, s.out[O_DYN]},
        {"assist_info.npy", NPY_DT_I4, 3, {W, A, 3}, s.out[O_ASSIST]},
        {"expert_token_nums.npy", NPY_DT_I8, 2, {W, L, 0}, s.out[O_NUMS]},
        {"ep_recv_counts.npy", NPY_DT_I4, 2, {W, W * L, 0}, s.out[O_RECV]},
        {"expand_scales.npy", NPY_DT_F4, 2, {W, A, 0}, s.out[O_EXPS]}};
    rc = cli_write_outputs(cmd, o.out, files, (int)(sizeof files / sizeof files[0]), o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

/* ---- distribute-combine ------------------------------------------------------------------------------------ */

static void usage_combine(FILE *f)
{
    fprintf(f, "usage: moeroute distribute-combine --ranks W --expand-x Y.npy --expert-ids I.npy --ep-send-counts C.npy\n"
               "           --expert-scales P.npy --experts E [--assist-info B.npy] [--active-mask M.npy]\n"
               "           [--shared-x X.npy] [--shared-experts S --shared-ranks R] [--global-bs N] --out DIR\n"
               "           [--bf16] [-v]\n"
               "\n"
               "MoeDistributeCombineV2 over a whole expert-parallel group (native moeroute_distribute_combine on W\n"
               "in-process ranks): every rank's expert outputs back to the tokens' ranks, summed per token in fp32 in\n"
               "slot order, each row times its expert scale (shared-expert rows and --shared-x unweighted), rounded\n"
               "once. The routing and bookkeeping inputs are what distribute-dispatch read and wrote.\n%s"
               "\n"
               "inputs (rank-major):\n"
               "  --expand-x Y.npy   [W, A, H] %s: the experts' outputs, rows in dispatch order\n"
               "  --expert-ids I     [W, Bs, K] int32, as given to dispatch\n"
               "  --ep-send-counts C [W, W * L] int32: dispatch's ep_recv_counts.npy\n"
               "  --expert-scales P  [W, Bs, K] float32: the routing weights\n"
               "  --assist-info B    [W, A, 3] int32: dispatch's assist_info.npy, checked against the routing\n"
               "                     (without it the rows are found from the routing alone)\n"
               "  --active-mask M    [W, Bs] or [W, Bs, K] bool, as given to dispatch\n"
               "  --shared-x X       [W, Bs, H] expand-x's dtype, added unweighted\n"
               "attributes:\n" DIST_ATTR_HELP
               "outputs (in DIR):\n"
               "  x.npy              [W, Bs, H] expand-x's dtype (rows of inactive tokens are zeros)\n"
               CLI_EXEC_HELP "%s",
            ROWS_HELP, ACT_TEXT_F16, CLI_EXIT_HELP);
}

static int run_combine(int argc, char **argv)
{
    static const char cmd[] = "distribute-combine";
    static const cli_required req[] = {REQ(expand_x, "--expand-x FILE"), REQ(send_counts, "--ep-send-counts FILE"),
                                       REQ(escales, "--expert-scales FILE"), REQ_COMMON};
    dist_opts o;
    int rc = CLI_PARSE_COMMAND(cmd, argc, argv, COMBINE_OPTS, o, usage_combine, req);
    if (rc) return rc < 0 ? 0 : rc;
    dist_dims d;
    if ((rc = read_attrs(cmd, &o, &d))) return rc;
    cli_state s;
    memset(&s, 0, sizeof s);
    moeroute_dtype dt;
    const unsigned xdts = act_dtypes(&o, &dt);
    const int64_t wx[3] = {d.W, -1, -1};
    if ((rc = read_arr(cmd, "expand-x", o.expand_x, &s.in[IN_X], xdts, 3, 3, wx, 0, ACT_TEXT_F16))) goto done;
    d.bs = -1, d.H = s.in[IN_X].shape[2];
    if ((rc = read_routing(cmd, &o, &s, &d))) goto done;
    const int64_t W = d.W, A = s.in[IN_X].shape[1], H = d.H, L = d.L; /* A: the library checks it */
    const int64_t as[3] = {W, A, 3}, sc[2] = {W, W * L}, sx[3] = {W, d.bs, H};
    if ((rc = read_arr(cmd, "assist-info", o.assist, &s.in[IN_ASSIST], DT(NPY_DT_I4), 3, 3, as, 0,
                       "[W, A, 3] int32 ('<i4')")) ||
        (rc = read_arr(cmd, "ep-send-counts", o.send_counts, &s.in[IN_SEND], DT(NPY_DT_I4), 2, 2, sc, 0,
                       "[W, W * L] int32 ('<i4')")) ||
        (rc = read_arr(cmd, "shared-x", o.shared_x, &s.in[IN_SHARED], xdts, 3, 3, sx, 0, ACT_TEXT_F16)) ||
        (rc = alloc_n(cmd, &s, 0, W, d.bs, H, 2)) || (rc = cli_open_context(cmd, o.threads, o.isa, &s.ctx)))
        goto done;
    void *mem = NULL;
    if ((rc = cli_alloc_output(cmd, (size_t)W * sizeof(moeroute_distribute_combine_args), &mem))) goto done;
    moeroute_distribute_combine_args *args = mem;
    const int64_t bk = d.bs * d.K, mk = s.in[IN_MASK].ndim == 3 ? bk : d.bs;
    for (int64_t r = 0; r < W; r++)
        args[r] = (moeroute_distribute_combine_args){
            .struct_size = sizeof *args, .x_dtype = dt, .mask_2d = s.in[IN_MASK].ndim == 3, .num_tokens = d.bs,
            .hidden = H, .top_k = d.K, .num_experts = d.E, .shared_expert_num = d.S, .shared_expert_rank_num = d.R,
            .global_bs = d.gbs, .max_rows = A, .expand_x = (const char *)s.in[IN_X].data + (size_t)(r * A * H) * 2,
            .expert_ids = (const int32_t *)s.in[IN_IDS].data + r * bk,
            .assist_info = o.assist ? (const int32_t *)s.in[IN_ASSIST].data + r * A * 3 : NULL,
            .ep_send_counts = (const int32_t *)s.in[IN_SEND].data + r * W * L,
            .expert_scales = (const float *)s.in[IN_ESCALES].data + r * bk,
            .active_mask = o.mask ? (const uint8_t *)s.in[IN_MASK].data + r * mk : NULL,
            .shared_x = o.shared_x ? (const char *)s.in[IN_SHARED].data + (size_t)(r * d.bs * H) * 2 : NULL,
            .out = (char *)s.out[0] + (size_t)(r * d.bs * H) * 2};
    rc = run_ranks(cmd, W, s.ctx, call_combine, args, sizeof *args, offsetof(moeroute_distribute_combine_args, comm));
    free(args);
    if (rc) goto done;
    const cli_out_file file = {"x.npy", cli_npy_of(dt), 3, {W, d.bs, H}, s.out[0]};
    rc = cli_write_outputs(cmd, o.out, &file, 1, o.verbose);
done:
    cli_state_free(&s);
    return rc;
}

const cli_command CLI_DISTRIBUTE_COMMANDS[] = {
    {"distribute-dispatch", "MoeDistributeDispatchV2: tokens to their experts' ranks, all W ranks in one run",
     run_dispatch, usage_dispatch},
    {"distribute-combine", "MoeDistributeCombineV2: expert outputs back, weighted sum per token, all W ranks",
     run_combine, usage_combine},
    {NULL, NULL, NULL, NULL},
};
