/* Regression tests of issue 13, through the public API only (acl/acl.h, aclnnop/ headers, moeroute.h):
 *
 *  1. Views of tensors created without storage dims (storageDims NULL, count 0): their storage is the view's
 *     own extent from element 0, so a non-zero view offset (or a negative stride reaching below element 0)
 *     is refused with 161002 by GetWorkspaceSize, for every operator (the check lives in the shared aclnn
 *     tensor layer). Every buffer sits in guard pages (PROT_NONE on both sides, the data flush against one
 *     of them), so an accepted call that read or wrote one element outside its buffer would crash here
 *     instead of passing silently. Storage-less offset-0 views still work and give the same bytes.
 *  2. A one-shot executor refused at execute (dead stream, executor made by another operator) is released:
 *     the next execute of the same handle is refused as "not live", and nothing leaks (ASan build).
 *     A repeatable executor survives such refusals.
 *  3. Two threads executing the same one-shot executor (or one executing while the other destroys it):
 *     exactly one succeeds, the other gets 161002, and nothing is used after it is freed (ASan / TSan).
 *  4. moeroute_context_create refuses num_threads above MOEROUTE_MAX_THREADS at once with
 *     MOEROUTE_ERR_INVALID_OPTION and a message; MOEROUTE_NUM_THREADS above it is capped.
 *  5. An argument whose address is no multiple of its element size (the kernels load elements of their type,
 *     which C requires aligned) is refused with MOEROUTE_ERR_INVALID_VALUE / 161002 and a message, outputs
 *     untouched, through the native API (input and output) and aclnn; the same call aligned works.
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, pthread_barrier_t, setenv */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_moe_compute_expert_tokens.h"
#include "aclnnop/aclnn_moe_init_routing.h"
#include "aclnnop/aclnn_moe_init_routing_quant.h"
#include "aclnnop/aclnn_moe_init_routing_quant_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v3.h"
#include "aclnnop/aclnn_swi_glu.h"
#include "harness.h"
#include "moeroute.h"

enum { N = 3, K = 2, H = 40, L = N * K, E = 4 };

static aclIntArray *g_range; /* V3 activeExpertRange [0, E) */

static const char *take_msg(char *buf, size_t size)
{
    const char *m = aclGetRecentErrMsg();
    snprintf(buf, size, "%s", m ? m : "");
    return buf;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Guard-page buffers: [PROT_NONE page][data pages][PROT_NONE page], the n bytes flush against the trailing
 * guard (at_start = 0) or the leading one (at_start = 1). */

typedef struct gbuf {
    unsigned char *map, *p;
    size_t map_len, n;
} gbuf;

static void gbuf_alloc(gbuf *g, size_t n, int at_start)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), data = (n + pg - 1) / pg * pg;
    if (data == 0) data = pg;
    g->map_len = data + 2 * pg;
    void *m = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m, pg, PROT_NONE) != 0 ||
        mprotect((unsigned char *)m + pg + data, pg, PROT_NONE) != 0) {
        perror("guard buffer");
        abort();
    }
    g->map = m;
    g->p = at_start ? g->map + pg : g->map + pg + data - n;
    g->n = n;
}

static void gbuf_free(gbuf *g)
{
    if (g->map) munmap(g->map, g->map_len);
    memset(g, 0, sizeof *g);
}

/* The guards must really trap, or the tests below prove nothing: a child process touching one byte past
 * the end (and one before the start) must die. Run first, before any thread exists. */
static void test_guard_pages_trap(void)
{
    for (int before = 0; before <= 1; before++) {
        gbuf g;
        gbuf_alloc(&g, 12, before);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) dup2(fd, 2), dup2(fd, 1); /* the sanitizer's crash report is expected noise */
            volatile unsigned char *q = g.p;
            unsigned char v = before ? q[-1] : q[g.n];
            _exit(v == 0x77 ? 3 : 0);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
        CHECK(!(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3)),
              "a read %s the guarded buffer did not trap (status %#x)", before ? "before" : "past", status);
        g.p[0] = 1, g.p[g.n - 1] = 2; /* the data itself is usable */
        gbuf_free(&g);
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* The operators, as tables of tensors plus a plan call with fixed attributes. */

enum fill { F_X, F_ROWIDX, F_EXPERT, F_SORTED, F_OUT };

typedef struct tdef {
    const char *name;
    aclDataType dt;
    uint64_t rank;
    int64_t dims[2];
    enum fill fill;
} tdef;

typedef aclnnStatus (*plan_fn)(aclTensor *const *t, uint64_t *ws, aclOpExecutor **exe);

typedef struct opdef {
    const char *name;
    int nt;
    tdef t[6];
    plan_fn plan;
    exec_fn exec;
} opdef;

static aclnnStatus plan_quant(aclTensor *const *t, uint64_t *ws, aclOpExecutor **exe)
{
    return aclnnMoeInitRoutingQuantGetWorkspaceSize(t[0], t[1], t[2], N, 0.5, 1.0, t[3], t[4], t[5], ws, exe);
}

static aclnnStatus plan_copy(aclTensor *const *t, uint64_t *ws, aclOpExecutor **exe)
{
    return aclnnMoeInitRoutingGetWorkspaceSize(t[0], t[1], t[2], N, t[3], t[4], t[5], ws, exe);
}

static aclnnStatus plan_v2(aclTensor *const *t, uint64_t *ws, aclOpExecutor **exe)
{
    /* dropless, all rows, counts per expert (flag 2) */
    return aclnnMoeInitRoutingV2GetWorkspaceSize(t[0], t[1], 0, 0, E, 0, 2, false, t[2], t[3], t[4], NULL, ws, exe);
}

static aclnnStatus plan_quant_v2(aclTensor *const *t, uint64_t *ws, aclOpExecutor **exe)
{
    /* dropless, dynamic quantization without smooth scales, cumsum per expert */
    return aclnnMoeInitRoutingQuantV2GetWorkspaceSize(t[0], t[1], NULL, NULL, 0, 0, E, 0, 1, false, 1, t[2], t[3],
                                                      t[4], NULL, t[5], ws, exe);
}

static aclnnStatus plan_v3(aclTensor *const *t, uint64_t *ws, aclOpExecutor **exe)
{
    /* range [0, E) through the container API, counts (type 1), no quantization, gather row index */
    return aclnnMoeInitRoutingV3GetWorkspaceSize(t[0], t[1], NULL, NULL, -1, 0, E, 0, 1, true, -1, g_range, 0, t[2],
                                                 t[3], t[4], t[5], ws, exe);
}

static aclnnStatus plan_cet(aclTensor *const *t, uint64_t *ws, aclOpExecutor **exe)
{
    return aclnnMoeComputeExpertTokensGetWorkspaceSize(t[0], E, t[1], ws, exe);
}

static const opdef g_ops[] = {
    {"aclnnMoeInitRoutingQuant", 6,
     {{"x", ACL_FLOAT16, 2, {N, H}, F_X}, {"rowIdx", ACL_INT32, 2, {N, K}, F_ROWIDX},
      {"expertIdx", ACL_INT32, 2, {N, K}, F_EXPERT}, {"expandedX", ACL_INT8, 2, {L, H}, F_OUT},
      {"expandedRowIdx", ACL_INT32, 1, {L, 0}, F_OUT}, {"expandedExpertIdx", ACL_INT32, 1, {L, 0}, F_OUT}},
     plan_quant, aclnnMoeInitRoutingQuant},
    {"aclnnMoeInitRouting", 6,
     {{"x", ACL_FLOAT16, 2, {N, H}, F_X}, {"rowIdx", ACL_INT32, 2, {N, K}, F_ROWIDX},
      {"expertIdx", ACL_INT32, 2, {N, K}, F_EXPERT}, {"expandedX", ACL_FLOAT16, 2, {L, H}, F_OUT},
      {"expandedRowIdx", ACL_INT32, 1, {L, 0}, F_OUT}, {"expandedExpertIdx", ACL_INT32, 1, {L, 0}, F_OUT}},
     plan_copy, aclnnMoeInitRouting},
    {"aclnnMoeInitRoutingV2", 5,
     {{"x", ACL_FLOAT16, 2, {N, H}, F_X}, {"expertIdx", ACL_INT32, 2, {N, K}, F_EXPERT},
      {"expandedXOut", ACL_FLOAT16, 2, {L, H}, F_OUT}, {"expandedRowIdxOut", ACL_INT32, 1, {L, 0}, F_OUT},
      {"expertTokensCountOrCumsumOut", ACL_INT32, 1, {E, 0}, F_OUT}},
     plan_v2, aclnnMoeInitRoutingV2},
    {"aclnnMoeInitRoutingQuantV2", 6,
     {{"x", ACL_FLOAT16, 2, {N, H}, F_X}, {"expertIdx", ACL_INT32, 2, {N, K}, F_EXPERT},
      {"expandedXOut", ACL_INT8, 2, {L, H}, F_OUT}, {"expandedRowIdxOut", ACL_INT32, 1, {L, 0}, F_OUT},
      {"expertTokensCountOrCumsumOut", ACL_INT32, 1, {E, 0}, F_OUT},
      {"dynamicQuantScaleOut", ACL_FLOAT, 1, {L, 0}, F_OUT}},
     plan_quant_v2, aclnnMoeInitRoutingQuantV2},
    {"aclnnMoeInitRoutingV3", 6,
     {{"x", ACL_FLOAT16, 2, {N, H}, F_X}, {"expertIdx", ACL_INT32, 2, {N, K}, F_EXPERT},
      {"expandedXOut", ACL_FLOAT16, 2, {L, H}, F_OUT}, {"expandedRowIdxOut", ACL_INT32, 1, {L, 0}, F_OUT},
      {"expertTokensCountOrCumsumOut", ACL_INT64, 1, {E, 0}, F_OUT},
      {"expandedScaleOut", ACL_FLOAT, 1, {L, 0}, F_OUT}},
     plan_v3, aclnnMoeInitRoutingV3},
    {"aclnnMoeComputeExpertTokens", 2,
     {{"sortedExperts", ACL_INT32, 1, {L, 0}, F_SORTED}, {"out", ACL_INT32, 1, {E, 0}, F_OUT}},
     plan_cet, aclnnMoeComputeExpertTokens},
};
enum { NOPS = (int)(sizeof g_ops / sizeof g_ops[0]) };

static int64_t numel(const tdef *d)
{
    int64_t n = 1;
    for (uint64_t i = 0; i < d->rank; i++) n *= d->dims[i];
    return n;
}

static size_t nbytes(const tdef *d) { return (size_t)numel(d) * aclDataTypeSize(d->dt); }

/* How one tensor of an instance is described to aclCreateTensor. */
typedef struct tmod {
    int storage_less; /* storageDims NULL, count 0 */
    int null_strides; /* strides NULL (contiguous) */
    int neg_stride;   /* rank 2: dim 0 walks backwards from element 0 (data flush against the leading guard) */
    int64_t offset;
} tmod;

typedef struct inst {
    const opdef *op;
    gbuf g[6];
    aclTensor *t[6];
} inst;

static void fill(const tdef *d, unsigned char *p)
{
    int64_t n = numel(d);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = d->rank == 2 ? i / d->dims[1] : i, j = d->rank == 2 ? i % d->dims[1] : 0;
        int32_t v32;
        switch (d->fill) {
        case F_X: {
            uint16_t h = (uint16_t)(0x3C00 + (i * 37) % 700 + (i % 3 ? 0 : 0x8000)); /* +-[1, 2) */
            memcpy(p + 2 * i, &h, 2);
            continue;
        }
        case F_ROWIDX: v32 = (int32_t)(j * N + r); break;       /* the canonical permutation */
        case F_EXPERT: v32 = (int32_t)((i * 3) % E); break;     /* 0,3,2,1,0,3 */
        case F_SORTED: v32 = (int32_t)(i * E / (d->dims[0])); break; /* ascending in [0, E) */
        default: memset(p, SENT, nbytes(d)); return;
        }
        memcpy(p + 4 * i, &v32, 4);
    }
}

/* Make every tensor of op over a guard buffer of exactly its element count; mods may be NULL. */
static void inst_make(inst *in, const opdef *op, const tmod *mods)
{
    memset(in, 0, sizeof *in);
    in->op = op;
    for (int i = 0; i < op->nt; i++) {
        const tdef *d = &op->t[i];
        tmod m = {0, 0, 0, 0};
        if (mods) m = mods[i];
        gbuf_alloc(&in->g[i], nbytes(d), m.neg_stride);
        fill(d, in->g[i].p);
        int64_t strides[2], acc = 1;
        for (uint64_t k = d->rank; k-- > 0;) {
            strides[k] = acc;
            acc *= d->dims[k];
        }
        if (m.neg_stride) strides[0] = -strides[0];
        in->t[i] = aclCreateTensor(d->dims, d->rank, d->dt, m.null_strides ? NULL : strides, m.offset, ACL_FORMAT_ND,
                                   m.storage_less ? NULL : d->dims, m.storage_less ? 0 : d->rank, in->g[i].p);
        CHECK(in->t[i] != NULL, "%s: aclCreateTensor(%s) refused", op->name, d->name);
    }
}

static void inst_free(inst *in)
{
    for (int i = 0; i < in->op->nt; i++) {
        aclDestroyTensor(in->t[i]);
        gbuf_free(&in->g[i]);
    }
}

static int outputs_untouched(const inst *in)
{
    for (int i = 0; i < in->op->nt; i++)
        if (in->op->t[i].fill == F_OUT && !mr_test_bytes_are(in->g[i].p, in->g[i].n, SENT)) return 0;
    return 1;
}

static void reset_outputs(inst *in)
{
    for (int i = 0; i < in->op->nt; i++)
        if (in->op->t[i].fill == F_OUT) memset(in->g[i].p, SENT, in->g[i].n);
}

/* Reference outputs of each operator, computed once on ordinary tensors (storage dims given). */
typedef struct ref_out {
    unsigned char *b[6];
} ref_out;
static ref_out g_ref[NOPS];

static int outputs_equal_ref(const inst *in, int opi)
{
    for (int i = 0; i < in->op->nt; i++)
        if (in->op->t[i].fill == F_OUT && memcmp(in->g[i].p, g_ref[opi].b[i], in->g[i].n) != 0) return 0;
    return 1;
}

/* Both phases, workspace of exactly the size asked for; *planned tells whether phase 1 succeeded. */
static aclnnStatus run_inst(inst *in, aclrtStream stream, int *planned)
{
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = in->op->plan(in->t, &ws_size, &exe);
    if (planned) *planned = st == ACLNN_SUCCESS;
    if (st != ACLNN_SUCCESS) return st;
    void *ws = ws_size ? malloc((size_t)ws_size) : NULL;
    st = in->op->exec(ws, ws_size, exe, stream);
    free(ws);
    return st;
}

static void make_references(void)
{
    char msg[512];
    for (int o = 0; o < NOPS; o++) {
        inst in;
        inst_make(&in, &g_ops[o], NULL);
        aclnnStatus st = run_inst(&in, g_stream, NULL);
        CHECK(st == ACLNN_SUCCESS, "%s reference run: %d %s", g_ops[o].name, st, take_msg(msg, sizeof msg));
        CHECK(!outputs_untouched(&in), "%s reference run wrote nothing", g_ops[o].name);
        for (int i = 0; i < g_ops[o].nt; i++) {
            g_ref[o].b[i] = malloc(in.g[i].n + 1);
            memcpy(g_ref[o].b[i], in.g[i].p, in.g[i].n);
        }
        inst_free(&in);
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* 1. storage-less views */

static void expect_view_refused(int opi, const char *what, const tmod *mods)
{
    const opdef *op = &g_ops[opi];
    char msg[512];
    inst in;
    inst_make(&in, op, mods);
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = op->plan(in.t, &ws_size, &exe);
    take_msg(msg, sizeof msg);
    CHECK(st == ACLNN_ERR_PARAM_INVALID, "%s, %s: GetWorkspaceSize gave %d, want 161002 (%s)", op->name, what, st, msg);
    if (st == ACLNN_SUCCESS) {
        /* Accepted (the bug): run it anyway, so the guard pages show what it touches. */
        fprintf(stderr, "  %s, %s: accepted; executing it (a crash here is the out-of-bounds access)\n", op->name,
                what);
        void *ws = ws_size ? malloc((size_t)ws_size) : NULL;
        op->exec(ws, ws_size, exe, g_stream);
        free(ws);
        take_msg(msg, sizeof msg);
    } else {
        CHECK(exe == NULL, "%s, %s: executor set on refusal", op->name, what);
        CHECK(strstr(msg, "storage") || strstr(msg, "addressable"), "%s, %s: message does not explain: '%s'",
              op->name, what, msg);
    }
    CHECK(outputs_untouched(&in), "%s, %s: outputs written", op->name, what);
    inst_free(&in);
}

static void test_storage_less_views(void)
{
    char what[160], msg[512];
    for (int o = 0; o < NOPS; o++) {
        const opdef *op = &g_ops[o];
        /* every tensor storage-less at offset 0 (strides NULL for half of them): accepted, same bytes, and the
         * trailing guards show nothing past any buffer was touched */
        tmod mods[6];
        for (int i = 0; i < op->nt; i++) mods[i] = (tmod){1, i % 2, 0, 0};
        inst in;
        inst_make(&in, op, mods);
        int planned = 0;
        aclnnStatus st = run_inst(&in, g_stream, &planned);
        CHECK(st == ACLNN_SUCCESS, "%s: storage-less offset-0 views refused: %d (%s)", op->name, st,
              take_msg(msg, sizeof msg));
        CHECK(outputs_equal_ref(&in, o), "%s: storage-less offset-0 views give other bytes", op->name);
        inst_free(&in);

        /* one storage-less tensor with a non-zero offset: offsets 1 and 3 push the view one or three elements
         * past its buffer; INT64_MAX/4 is far beyond any address */
        const int64_t offsets[] = {1, 3, INT64_MAX / 4};
        for (int i = 0; i < op->nt; i++)
            for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
                for (int j = 0; j < op->nt; j++) mods[j] = (tmod){0, 0, 0, 0};
                mods[i] = (tmod){1, 1, 0, offsets[k]};
                snprintf(what, sizeof what, "%s storage-less with offset %lld", op->t[i].name, (long long)offsets[k]);
                expect_view_refused(o, what, mods);
                mods[i].null_strides = 0; /* the same with explicit contiguous strides */
                snprintf(what, sizeof what, "%s storage-less, strides given, offset %lld", op->t[i].name,
                         (long long)offsets[k]);
                expect_view_refused(o, what, mods);
            }
        /* a negative stride reaching below element 0 (the data flush against the leading guard) */
        for (int i = 0; i < op->nt; i++) {
            if (op->t[i].rank != 2) continue;
            for (int j = 0; j < op->nt; j++) mods[j] = (tmod){0, 0, 0, 0};
            mods[i] = (tmod){1, 0, 1, 0};
            snprintf(what, sizeof what, "%s storage-less with a negative stride", op->t[i].name);
            expect_view_refused(o, what, mods);
        }
    }

    /* The reproducer, literally: a 1-D INT32 output with strides NULL, offset 3, storage NULL. */
    inst in;
    inst_make(&in, &g_ops[0], NULL);
    int64_t dims[1] = {L};
    aclDestroyTensor(in.t[4]);
    in.t[4] = aclCreateTensor(dims, 1, ACL_INT32, NULL, 3, ACL_FORMAT_ND, NULL, 0, in.g[4].p);
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = g_ops[0].plan(in.t, &ws_size, &exe);
    CHECK(st == ACLNN_ERR_PARAM_INVALID && exe == NULL, "issue reproducer: GetWorkspaceSize gave %d (%s)", st,
          take_msg(msg, sizeof msg));
    if (st == ACLNN_SUCCESS) aclDestroyAclOpExecutor(exe);
    CHECK(outputs_untouched(&in), "issue reproducer: outputs written");
    inst_free(&in);
}

/* ---------------------------------------------------------------------------------------------------- */
/* 2. refused one-shot executors are released */

static aclOpExecutor *plan_ok(inst *in, uint64_t *ws_size)
{
    aclOpExecutor *exe = NULL;
    char msg[512];
    aclnnStatus st = in->op->plan(in->t, ws_size, &exe);
    CHECK(st == ACLNN_SUCCESS && exe, "%s: plan %d (%s)", in->op->name, st, take_msg(msg, sizeof msg));
    return st == ACLNN_SUCCESS ? exe : NULL;
}

static void expect_exec(const char *what, aclnnStatus st, aclnnStatus want, const char *needle)
{
    char msg[512];
    take_msg(msg, sizeof msg);
    CHECK(st == want, "%s: status %d, want %d (%s)", what, st, want, msg);
    if (needle) CHECK(strstr(msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, msg, needle);
    else CHECK(msg[0] == 0, "%s: message after success: '%s'", what, msg);
}

static void test_refused_executors(void)
{
    aclrtStream dead = NULL;
    CHECK(aclrtCreateStream(&dead) == ACL_SUCCESS && aclrtDestroyStream(dead) == ACL_SUCCESS, "dead stream");
    char what[160];
    for (int o = 0; o < NOPS; o++) {
        const opdef *op = &g_ops[o], *other = &g_ops[(o + 1) % NOPS];
        inst in;
        inst_make(&in, op, NULL);
        uint64_t ws_size = 0;
        aclOpExecutor *exe = plan_ok(&in, &ws_size);
        void *ws = malloc(ws_size + 1);
        if (exe) {
            /* one-shot, dead stream: refused and released */
            snprintf(what, sizeof what, "%s one-shot on a destroyed stream", op->name);
            expect_exec(what, op->exec(ws, ws_size, exe, dead), ACLNN_ERR_PARAM_INVALID, "stream");
            snprintf(what, sizeof what, "%s one-shot executed again after the dead-stream refusal", op->name);
            expect_exec(what, op->exec(ws, ws_size, exe, g_stream), ACLNN_ERR_PARAM_INVALID, "not live");
            snprintf(what, sizeof what, "%s destroy after the dead-stream refusal", op->name);
            expect_exec(what, aclDestroyAclOpExecutor(exe), ACLNN_ERR_PARAM_INVALID, "not live");
            CHECK(outputs_untouched(&in), "%s: a refused executor wrote outputs", op->name);
        }
        exe = plan_ok(&in, &ws_size);
        if (exe) {
            /* one-shot, executed by another operator: refused and released */
            snprintf(what, sizeof what, "%s executor given to %s", op->name, other->name);
            expect_exec(what, other->exec(ws, ws_size, exe, g_stream), ACLNN_ERR_PARAM_INVALID, "created by");
            snprintf(what, sizeof what, "%s one-shot executed by its own operator after the cross refusal", op->name);
            expect_exec(what, op->exec(ws, ws_size, exe, g_stream), ACLNN_ERR_PARAM_INVALID, "not live");
            CHECK(outputs_untouched(&in), "%s: a refused executor wrote outputs", op->name);
        }
        /* refused, then dropped without another call, as a caller that got an error would: the handle was
         * released by the refusal (LeakSanitizer in the ASan build reports it otherwise) */
        exe = plan_ok(&in, &ws_size);
        if (exe) {
            snprintf(what, sizeof what, "%s one-shot on a destroyed stream, then dropped", op->name);
            expect_exec(what, op->exec(ws, ws_size, exe, dead), ACLNN_ERR_PARAM_INVALID, "stream");
        }
        exe = plan_ok(&in, &ws_size);
        if (exe) {
            snprintf(what, sizeof what, "%s executor given to %s, then dropped", op->name, other->name);
            expect_exec(what, other->exec(ws, ws_size, exe, g_stream), ACLNN_ERR_PARAM_INVALID, "created by");
        }
        CHECK(outputs_untouched(&in), "%s: a refused executor wrote outputs", op->name);
        exe = plan_ok(&in, &ws_size);
        if (exe) {
            /* repeatable: survives both refusals, runs, and is destroyed by its owner */
            CHECK(aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "%s: repeatable", op->name);
            snprintf(what, sizeof what, "%s repeatable on a destroyed stream", op->name);
            expect_exec(what, op->exec(ws, ws_size, exe, dead), ACLNN_ERR_PARAM_INVALID, "stream");
            snprintf(what, sizeof what, "%s repeatable given to %s", op->name, other->name);
            expect_exec(what, other->exec(ws, ws_size, exe, g_stream), ACLNN_ERR_PARAM_INVALID, "created by");
            CHECK(outputs_untouched(&in), "%s: a refused executor wrote outputs", op->name);
            for (int run = 0; run < 2; run++) {
                reset_outputs(&in);
                snprintf(what, sizeof what, "%s repeatable run %d after refusals", op->name, run);
                expect_exec(what, op->exec(ws, ws_size, exe, g_stream), ACLNN_SUCCESS, NULL);
                CHECK(outputs_equal_ref(&in, o), "%s: wrong result", what);
            }
            CHECK(aclDestroyAclOpExecutor(exe) == ACLNN_SUCCESS, "%s: destroy repeatable", op->name);
            snprintf(what, sizeof what, "%s repeatable executed after destroy", op->name);
            expect_exec(what, op->exec(ws, ws_size, exe, g_stream), ACLNN_ERR_PARAM_INVALID, "not live");
        }
        free(ws);
        inst_free(&in);
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* 3. two threads, one one-shot executor */

/* Rounds per race mode; MOEROUTE_HARDENING_RACE_ROUNDS overrides (e.g. many more for a soak run). */
static int race_rounds(void)
{
    const char *v = getenv("MOEROUTE_HARDENING_RACE_ROUNDS");
    int n = v ? atoi(v) : 0;
    return n > 0 ? n : 2000;
}

static struct race {
    pthread_barrier_t start, done;
    atomic_int arrived;
    int stop;
    int destroy_mode; /* 0: both execute; 1: thread 0 executes, thread 1 destroys */
    const opdef *op;
    aclOpExecutor *exe;
    void *ws;
    uint64_t ws_size;
    aclnnStatus st[2];
    char msg[2][256];
} g_race;

static void *racer(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (;;) {
        pthread_barrier_wait(&g_race.start);
        if (g_race.stop) break;
        /* line both threads up tighter than the barrier's wake-ups do */
        atomic_fetch_add(&g_race.arrived, 1);
        for (int spin = 0; atomic_load(&g_race.arrived) < 2; spin++)
            if (spin > 20000) sched_yield(); /* the other thread is not running: let it */
        if (g_race.destroy_mode && me == 1)
            g_race.st[me] = aclDestroyAclOpExecutor(g_race.exe);
        else
            g_race.st[me] = g_race.op->exec(g_race.ws, g_race.ws_size, g_race.exe, g_stream);
        take_msg(g_race.msg[me], sizeof g_race.msg[me]);
        pthread_barrier_wait(&g_race.done);
    }
    return NULL;
}

static void test_racing_executors(void)
{
    pthread_t tid[2];
    pthread_barrier_init(&g_race.start, NULL, 3);
    pthread_barrier_init(&g_race.done, NULL, 3);
    for (int i = 0; i < 2; i++)
        if (pthread_create(&tid[i], NULL, racer, (void *)(intptr_t)i) != 0) {
            CHECK(0, "pthread_create");
            return;
        }
    inst ins[NOPS];
    for (int o = 0; o < NOPS; o++) inst_make(&ins[o], &g_ops[o], NULL);
    const int rounds = race_rounds();
    int bad[2] = {0, 0}, exec_wins[2] = {0, 0};
    for (int mode = 0; mode <= 1; mode++)
        for (int round = 0; round < rounds; round++) {
            int o = round % NOPS;
            inst *in = &ins[o];
            reset_outputs(in);
            uint64_t ws_size = 0;
            aclOpExecutor *exe = plan_ok(in, &ws_size);
            if (!exe) {
                bad[mode]++;
                continue;
            }
            g_race.destroy_mode = mode, g_race.op = in->op, g_race.exe = exe;
            g_race.ws_size = ws_size, g_race.ws = malloc(ws_size + 1);
            atomic_store(&g_race.arrived, 0);
            pthread_barrier_wait(&g_race.start);
            pthread_barrier_wait(&g_race.done);
            int ok0 = g_race.st[0] == ACLNN_SUCCESS, ok1 = g_race.st[1] == ACLNN_SUCCESS;
            int loser = ok0 ? 1 : 0;
            int good = ok0 + ok1 == 1 && g_race.st[loser] == ACLNN_ERR_PARAM_INVALID &&
                       strstr(g_race.msg[loser], "not live") != NULL && g_race.msg[!loser][0] == 0;
            /* whoever executed wrote the full result; a destroy that won leaves the outputs untouched */
            int executed = mode == 0 || ok0;
            good = good && (executed ? outputs_equal_ref(in, o) : outputs_untouched(in));
            if (!good) {
                if (bad[mode]++ < 5)
                    fprintf(stderr, "  race mode %d round %d (%s): statuses %d / %d, messages '%s' / '%s'\n", mode,
                            round, in->op->name, g_race.st[0], g_race.st[1], g_race.msg[0], g_race.msg[1]);
            }
            exec_wins[mode] += ok0;
            free(g_race.ws);
        }
    CHECK(bad[0] == 0, "two executes of one one-shot executor: %d of %d rounds not exactly one success", bad[0],
          rounds);
    CHECK(bad[1] == 0, "execute racing destroy: %d of %d rounds not exactly one success", bad[1], rounds);
    printf("race: two executes, thread 0 won %d of %d rounds; execute vs destroy, execute won %d of %d\n",
           exec_wins[0], rounds, exec_wins[1], rounds);
    g_race.stop = 1;
    pthread_barrier_wait(&g_race.start);
    for (int i = 0; i < 2; i++) pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&g_race.start);
    pthread_barrier_destroy(&g_race.done);
    for (int o = 0; o < NOPS; o++) inst_free(&ins[o]);
}

/* ---------------------------------------------------------------------------------------------------- */
/* 4. thread-count limit */

static void test_thread_limit(void)
{
    CHECK(MOEROUTE_MAX_THREADS == 1024, "MOEROUTE_MAX_THREADS is %d", MOEROUTE_MAX_THREADS);
    static int marker;
    const int32_t too_many[] = {MOEROUTE_MAX_THREADS + 1, 100000, INT32_MAX};
    for (size_t i = 0; i < sizeof too_many / sizeof too_many[0]; i++) {
        moeroute_options opt = {too_many[i], MOEROUTE_ISA_AUTO};
        moeroute_context *ctx = (moeroute_context *)(void *)&marker;
        moeroute_status st = moeroute_context_create(&opt, &ctx);
        const char *m = moeroute_error_message();
        CHECK(st == MOEROUTE_ERR_INVALID_OPTION, "num_threads %d: %s", (int)too_many[i], moeroute_status_string(st));
        CHECK(m && strstr(m, "num_threads"), "num_threads %d: message '%s'", (int)too_many[i], m ? m : "(none)");
        CHECK(ctx == (moeroute_context *)(void *)&marker, "num_threads %d: out changed on refusal", (int)too_many[i]);
        if (st == MOEROUTE_OK && ctx != (moeroute_context *)(void *)&marker) moeroute_context_destroy(ctx);
    }
    /* 2 threads is fine, and the context reports it */
    moeroute_options two = {2, MOEROUTE_ISA_AUTO};
    moeroute_context *ctx = NULL;
    CHECK(moeroute_context_create(&two, &ctx) == MOEROUTE_OK && moeroute_context_threads(ctx) == 2, "2 threads");
    moeroute_context_destroy(ctx);

    /* MOEROUTE_NUM_THREADS above the limit is capped at it: the context starts 1024 threads (or, where the
     * system cannot, says it cannot start 1024 -- not 100000). */
    const char *old = getenv("MOEROUTE_NUM_THREADS");
    char *saved = old ? strdup(old) : NULL;
    setenv("MOEROUTE_NUM_THREADS", "100000", 1);
    moeroute_options dflt = {0, MOEROUTE_ISA_AUTO};
    ctx = NULL;
    moeroute_status st = moeroute_context_create(&dflt, &ctx);
    const char *m = moeroute_error_message();
    if (st == MOEROUTE_OK) {
        CHECK(moeroute_context_threads(ctx) == MOEROUTE_MAX_THREADS, "MOEROUTE_NUM_THREADS=100000 gave %d threads",
              (int)moeroute_context_threads(ctx));
        moeroute_context_destroy(ctx);
    } else {
        CHECK(st == MOEROUTE_ERR_OUT_OF_MEMORY && m && strstr(m, "1024 threads"),
              "MOEROUTE_NUM_THREADS=100000: %s, message '%s'", moeroute_status_string(st), m ? m : "(none)");
    }
    if (saved) setenv("MOEROUTE_NUM_THREADS", saved, 1);
    else unsetenv("MOEROUTE_NUM_THREADS");
    free(saved);
}

static void test_misaligned(void)
{
    enum { R = 4, C = 16 };
    static _Alignas(64) unsigned char in[R * C * 4 + 64], out[R * C * 2 + 64];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (unsigned char)(i * 37u);
    for (int io = 0; io < 2; io++)
        for (int off = 1; off < 4; off++) { /* x (io 0) or out (io 1) off the 4-byte grid by off bytes */
            memset(out, SENT, sizeof out);
            moeroute_swiglu_args s = {.struct_size = sizeof s, .num_rows = R, .cols = C,
                                      .x_dtype = MOEROUTE_DTYPE_FLOAT32, .x = in + (io ? 0 : off), .x_row_stride = C,
                                      .x_col_stride = 1, .out = out + (io ? off : 0)};
            const moeroute_status st = moeroute_swiglu(NULL, &s);
            const char *m = moeroute_error_message();
            CHECK(st == MOEROUTE_ERR_INVALID_VALUE && m && strstr(m, io ? "out" : "x") &&
                      strstr(m, "not a multiple of its element size (4 bytes)"),
                  "misaligned %s by %d: status %d, message %s", io ? "out" : "x", off, (int)st, m ? m : "(none)");
            CHECK(mr_test_bytes_are(out, sizeof out, SENT), "misaligned %s by %d: out untouched", io ? "out" : "x",
                  off);
        }
    moeroute_swiglu_args ok = {.struct_size = sizeof ok, .num_rows = R, .cols = C, .x_dtype = MOEROUTE_DTYPE_FLOAT16,
                               .x = in + 2, .x_row_stride = C, .x_col_stride = 1, .out = out + 2};
    CHECK(moeroute_swiglu(NULL, &ok) == MOEROUTE_OK, "fp16 at 2-byte-aligned addresses: %s", moeroute_error_message());
    /* aclnn: the same refusal at execute */
    memset(out, SENT, sizeof out);
    aclTensor *t[2] = {mk(T2(ACL_FLOAT, R, C, in + 1)), mk(T2(ACL_FLOAT, R, C / 2, out))};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnSwiGluGetWorkspaceSize(t[0], -1, t[1], &ws, &exe);
    st = finish(st, aclnnSwiGlu, ws, exe);
    destroy_all(t, 2);
    expect_refused("aclnnSwiGlu, x off the grid", st, 161002, 2, out, sizeof out);
}

int main(void)
{
    test_guard_pages_trap();
    acl_setup();
    const int64_t range[2] = {0, E};
    g_range = aclCreateIntArray(range, 2);
    CHECK(g_range != NULL, "aclCreateIntArray");
    make_references();
    test_storage_less_views();
    test_refused_executors();
    test_racing_executors();
    test_thread_limit();
    test_misaligned();
    for (int o = 0; o < NOPS; o++)
        for (int i = 0; i < 6; i++) free(g_ref[o].b[i]);
    aclDestroyIntArray(g_range);
    acl_teardown();
    CHECK(aclGetRecentErrMsg() == NULL, "a message left over");
    return mr_test_finish();
}
