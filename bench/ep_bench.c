/* moeroute_ep_bench: expert parallelism (docs/operators/distribute.md): moeroute_distribute_dispatch +
 * moeroute_distribute_combine (bf16, quantMode 0, identity expert) on DeepSeek-V3-like batches (H 7168, K 8,
 * 256 experts split over the ranks, uniform top-8 routing), against the time the transport's own all-to-all
 * takes to move the same bytes (every (token, slot) row to its expert's rank and back) in the same run:
 * HcclAlltoAllV of the in-process transport (ranks are threads of this process, HcclCommInitAll), or, in
 * moeroute_ep_bench_mpi under mpirun, MPI_Alltoallv (ranks are processes, HcclCommInitRootInfo).
 *
 *   moeroute_ep_bench [--ranks W] [--tokens BS] [--reps N] [--seed S] [--smoke]
 *   mpirun -np W moeroute_ep_bench_mpi [--tokens BS] [--reps N] [--seed S] [--smoke]
 *
 * Defaults: W in {2, 4} (in process), Bs per rank in {16, 64} (decode) and {512, 2048} (prefill), 7 reps.
 * Each rep: barrier, dispatch, barrier, combine, barrier, then all-to-all forward, barrier, all-to-all back,
 * barrier (the same number of barriers on both sides); rank 0's times, median over the reps. ratio =
 * all-to-all time / (dispatch + combine) time (target >= 0.8). Every rank checks its combined tokens bit for
 * bit against the fp32 chain of spec 11.4 (identity expert: sum_j x[t] * w[t][j]). --smoke: tiny shapes,
 * 2 reps, asserts the results and no timing. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "hccl/hccl.h"
#include "moeroute.h"
#ifdef EP_BENCH_MPI
#include <mpi.h>
#endif

#define EP_MAXW 16
#define EP_MAXREPS 64

typedef struct {
    int W, reps;
    int64_t bs, H, K, E;
    uint64_t seed;
} ep_case;

typedef struct {
    const ep_case *c;
    HcclComm comm;
    int rank;
    int failed;
    double t[EP_MAXREPS][3]; /* dispatch, combine, all-to-all there and back */
} ep_rank;

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Rank r's routing: K distinct experts per token, uniform; the same on every rank that regenerates it. */
static void gen_ids(const ep_case *c, int r, int32_t *ids)
{
    bench_rng g;
    bench_rng_seed(&g, c->seed * 7919u + (uint64_t)r + 1u);
    bench_fill_experts(ids, c->bs, c->K, c->E, ROUTING_UNIFORM, &g);
}

static int barrier(HcclComm comm)
{
    return HcclBarrier(comm, NULL) == HCCL_SUCCESS ? 0 : -1;
}

/* The reference all-to-all of `rows[d]` rows of H bf16 from this rank to rank d (recv[s] from rank s). */
static int ref_alltoall(const ep_rank *rk, const void *sbuf, const uint64_t *scnt, const uint64_t *sdsp, void *rbuf,
                        const uint64_t *rcnt, const uint64_t *rdsp)
{
#ifdef EP_BENCH_MPI
    int sc[EP_MAXW], sd[EP_MAXW], rc[EP_MAXW], rd[EP_MAXW];
    for (int d = 0; d < rk->c->W; d++)
        sc[d] = (int)scnt[d], sd[d] = (int)sdsp[d], rc[d] = (int)rcnt[d], rd[d] = (int)rdsp[d];
    MPI_Datatype row;
    MPI_Type_contiguous((int)(rk->c->H * 2), MPI_BYTE, &row);
    MPI_Type_commit(&row);
    int ok = MPI_Alltoallv(sbuf, sc, sd, row, rbuf, rc, rd, row, MPI_COMM_WORLD) == MPI_SUCCESS;
    MPI_Type_free(&row);
    return ok ? 0 : -1;
#else
    uint64_t H = (uint64_t)rk->c->H, a[4][EP_MAXW];
    for (int d = 0; d < rk->c->W; d++)
        a[0][d] = scnt[d] * H, a[1][d] = sdsp[d] * H, a[2][d] = rcnt[d] * H, a[3][d] = rdsp[d] * H;
    return HcclAlltoAllV(sbuf, a[0], a[1], HCCL_DATA_TYPE_BFP16, rbuf, a[2], a[3], HCCL_DATA_TYPE_BFP16, rk->comm,
                         NULL) == HCCL_SUCCESS
               ? 0
               : -1;
#endif
}

static void *rank_main(void *p)
{
    ep_rank *rk = p;
    const ep_case *c = rk->c;
    const int W = c->W, me = rk->rank;
    const int64_t L = c->E / W, bs = c->bs, H = c->H, K = c->K;
    const int64_t A = bs * W * (L < K ? L : K);
    int32_t *all_ids = malloc(sizeof(int32_t) * (size_t)(W * bs * K));
    uint16_t *x = malloc(sizeof(uint16_t) * (size_t)(bs * H)), *out = malloc(sizeof(uint16_t) * (size_t)(bs * H));
    float *w = malloc(sizeof(float) * (size_t)(bs * K));
    uint16_t *expand = malloc(sizeof(uint16_t) * (size_t)(A * H));
    int32_t *assist = malloc(sizeof(int32_t) * (size_t)(A * 3)), *recv_counts = malloc(sizeof(int32_t) * (size_t)(W * L));
    int64_t *tok = malloc(sizeof(int64_t) * (size_t)L);
    uint64_t scnt[EP_MAXW] = {0}, rcnt[EP_MAXW] = {0}, sdsp[EP_MAXW], rdsp[EP_MAXW], ns = 0, nr = 0;
    for (int r = 0; r < W; r++) gen_ids(c, r, all_ids + (size_t)(r * bs * K));
    const int32_t *ids = all_ids + (size_t)(me * bs * K);
    for (int r = 0; r < W; r++)
        for (int64_t i = 0; i < bs * K; i++) {
            int d = (int)(all_ids[(size_t)(r * bs * K + i)] / L);
            if (r == me) scnt[d]++;
            if (d == me) rcnt[r]++;
        }
    for (int d = 0; d < W; d++) sdsp[d] = ns, rdsp[d] = nr, ns += scnt[d], nr += rcnt[d];
    uint16_t *sbuf = malloc(sizeof(uint16_t) * (size_t)((int64_t)ns * H + 1));
    uint16_t *rbuf = malloc(sizeof(uint16_t) * (size_t)((int64_t)nr * H + 1));
    bench_rng g;
    bench_rng_seed(&g, c->seed + 1000003u * (uint64_t)(me + 1));
    bench_fill_x(x, (size_t)(bs * H), MOEROUTE_DTYPE_BFLOAT16, &g);
    for (int64_t i = 0; i < bs * K; i++) w[i] = (float)(bench_rng_u32(&g) % 1024u) / 1024.0f;
    memset(sbuf, 0x3c, sizeof(uint16_t) * (size_t)((int64_t)ns * H + 1));

    moeroute_distribute_dispatch_args da;
    memset(&da, 0, sizeof da);
    da.struct_size = sizeof da;
    da.comm = rk->comm, da.x_dtype = MOEROUTE_DTYPE_BFLOAT16, da.num_tokens = bs, da.hidden = H, da.top_k = K;
    da.num_experts = c->E, da.x = x, da.expert_ids = ids, da.max_rows = A, da.expand_x = expand;
    da.assist_info = assist, da.expert_token_nums = tok, da.ep_recv_counts = recv_counts;
    moeroute_distribute_combine_args ca;
    memset(&ca, 0, sizeof ca);
    ca.struct_size = sizeof ca;
    ca.comm = rk->comm, ca.x_dtype = MOEROUTE_DTYPE_BFLOAT16, ca.num_tokens = bs, ca.hidden = H, ca.top_k = K;
    ca.num_experts = c->E, ca.max_rows = A, ca.expand_x = expand, ca.expert_ids = ids, ca.assist_info = assist;
    ca.ep_send_counts = recv_counts, ca.expert_scales = w, ca.out = out;

    for (int i = 0; i < c->reps && !rk->failed; i++) {
        double t0, t1, t2, t3;
        int bad = barrier(rk->comm);
        t0 = bench_now_s();
        bad |= moeroute_distribute_dispatch(NULL, &da) != MOEROUTE_OK;
        bad |= barrier(rk->comm);
        t1 = bench_now_s();
        bad |= moeroute_distribute_combine(NULL, &ca) != MOEROUTE_OK;
        bad |= barrier(rk->comm);
        t2 = bench_now_s();
        bad |= ref_alltoall(rk, sbuf, scnt, sdsp, rbuf, rcnt, rdsp);
        bad |= barrier(rk->comm);
        bad |= ref_alltoall(rk, rbuf, rcnt, rdsp, sbuf, scnt, sdsp);
        bad |= barrier(rk->comm);
        t3 = bench_now_s();
        rk->t[i][0] = t1 - t0, rk->t[i][1] = t2 - t1, rk->t[i][2] = t3 - t2;
        if (bad) {
            fprintf(stderr, "rank %d: a call failed: %s\n", me, moeroute_error_message());
            rk->failed = 1;
        }
    }
    /* identity expert: out[t] = RNE(fp32 chain of x[t] * w[t][j] over the slots), spec 11.4 */
    for (int64_t t = 0; t < bs && !rk->failed; t++)
        for (int64_t h = 0; h < H; h++) {
            float acc = 0.0f, v = bench_x_value(x, (size_t)(t * H + h), MOEROUTE_DTYPE_BFLOAT16);
            for (int64_t j = 0; j < K; j++) {
                float prod = v * w[t * K + j];
                acc = acc + prod;
            }
            if (out[t * H + h] != to_bf16(acc)) {
                fprintf(stderr, "rank %d: combined token %lld column %lld differs\n", me, (long long)t, (long long)h);
                rk->failed = 1;
                break;
            }
        }
    free(all_ids), free(x), free(out), free(w), free(expand), free(assist), free(recv_counts), free(tok);
    free(sbuf), free(rbuf);
    return NULL;
}

/* One table row from rank 0's times. */
static void report(const ep_case *c, const ep_rank *r0, const char *transport)
{
    double d[EP_MAXREPS], m[EP_MAXREPS], a[EP_MAXREPS], dc[EP_MAXREPS];
    for (int i = 0; i < c->reps; i++)
        d[i] = r0->t[i][0], m[i] = r0->t[i][1], a[i] = r0->t[i][2], dc[i] = r0->t[i][0] + r0->t[i][1];
    double md = bench_median(d, (size_t)c->reps), mm = bench_median(m, (size_t)c->reps),
           ma = bench_median(a, (size_t)c->reps), mdc = bench_median(dc, (size_t)c->reps);
    double mb = 2.0 * (double)(c->W * c->bs * c->K * c->H * 2) / 1e6; /* rows moved there and back, all ranks */
    printf("| %-10s | %2d | %5lld | %9.1f | %9.3f | %9.3f | %9.3f | %9.3f | %5.2f |\n", transport, c->W,
           (long long)c->bs, mb, md * 1e3, mm * 1e3, mdc * 1e3, ma * 1e3, ma / mdc);
    fflush(stdout);
}

static void banner(int64_t H, int64_t K, int64_t E, unsigned long long seed, int reps)
{
    char cpu[128];
    bench_cpu_model(cpu, sizeof cpu);
    printf("moeroute_ep_bench: bf16, H %lld, K %lld, %lld experts, seed %llu, median of %d reps; %s, %ld CPUs, "
           "load %.1f\n",
           (long long)H, (long long)K, (long long)E, seed, reps, cpu, bench_online_cpus(), bench_loadavg());
}

static void header(void)
{
    printf("| transport  |  W | Bs/rank |  MB moved | dispatch ms | combine ms | disp+comb ms | all-to-all ms | "
           "ratio |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

static int usage(void)
{
    fprintf(stderr, "usage: moeroute_ep_bench [--ranks W] [--tokens BS] [--reps N] [--seed S] [--smoke]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int ranks = 0, reps = 7, smoke = 0;
    long long tokens = 0;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--smoke")) smoke = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--ranks")) ranks = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--tokens")) tokens = atoll(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--seed")) seed = strtoull(argv[++i], NULL, 10);
        else return usage();
    }
    if (smoke) reps = 2;
    if (reps < 1 || reps > EP_MAXREPS || ranks < 0 || ranks > 8 || tokens < 0) return usage();
    const int64_t H = smoke ? 256 : 7168, E = smoke ? 16 : 256, K = smoke ? 4 : 8;
    const long long bs_all[] = {16, 64, 512, 2048}, bs_smoke[] = {3, 17};
    const long long *bs_list = smoke ? bs_smoke : bs_all;
    int nbs = smoke ? 2 : 4;
    if (tokens) bs_list = &tokens, nbs = 1;
    int failed = 0;
#ifdef EP_BENCH_MPI
    MPI_Init(&argc, &argv);
    int me, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > EP_MAXW || E % size) {
        if (me == 0) fprintf(stderr, "moeroute_ep_bench_mpi: %d processes do not split %lld experts\n", size, (long long)E);
        MPI_Finalize();
        return 2;
    }
    HcclRootInfo info;
    if (me == 0 && HcclGetRootInfo(&info) != HCCL_SUCCESS) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Bcast(&info, (int)sizeof info, MPI_BYTE, 0, MPI_COMM_WORLD);
    HcclComm comm;
    if (HcclCommInitRootInfo((uint32_t)size, &info, (uint32_t)me, &comm) != HCCL_SUCCESS) MPI_Abort(MPI_COMM_WORLD, 1);
    if (me == 0) banner(H, K, E, seed, reps), header();
    for (int b = 0; b < nbs; b++) {
        ep_case c = {size, reps, bs_list[b], H, K, E, seed};
        static ep_rank rk;
        memset(&rk, 0, sizeof rk);
        rk.c = &c, rk.comm = comm, rk.rank = me;
        rank_main(&rk);
        int any = rk.failed;
        MPI_Allreduce(&rk.failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        failed |= any;
        if (!any && me == 0) report(&c, &rk, "MPI");
    }
    HcclCommDestroy(comm);
    MPI_Finalize();
#else
    const int w_all[] = {2, 4};
    for (int wi = 0; wi < 2; wi++) {
        int W = ranks ? ranks : w_all[wi];
        if (wi == 0) banner(H, K, E, seed, reps), header();
        int32_t devs[EP_MAXW];
        HcclComm comms[EP_MAXW];
        for (int r = 0; r < W; r++) devs[r] = r;
        if (HcclCommInitAll((uint32_t)W, devs, comms) != HCCL_SUCCESS) {
            fprintf(stderr, "HcclCommInitAll(%d) failed\n", W);
            return 1;
        }
        for (int b = 0; b < nbs; b++) {
            ep_case c = {W, reps, bs_list[b], H, K, E, seed};
            ep_rank *rk = calloc((size_t)W, sizeof *rk);
            pthread_t th[EP_MAXW];
            for (int r = 0; r < W; r++) {
                rk[r].c = &c, rk[r].comm = comms[r], rk[r].rank = r;
                pthread_create(&th[r], NULL, rank_main, &rk[r]);
            }
            int any = 0;
            for (int r = 0; r < W; r++) pthread_join(th[r], NULL), any |= rk[r].failed;
            failed |= any;
            if (!any) report(&c, &rk[0], "in-process");
            free(rk);
        }
        for (int r = 0; r < W; r++) HcclCommDestroy(comms[r]);
        if (ranks) break;
    }
#endif
    if (failed) fprintf(stderr, "moeroute_ep_bench: FAILED\n");
    return failed ? 1 : 0;
}
