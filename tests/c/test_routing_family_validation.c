/* Every refusal rule of /work/notes/decisions.md for aclnnMoeInitRoutingV2, aclnnMoeInitRoutingQuantV2,
 * aclnnMoeInitRoutingV3 and aclnnMoeComputeExpertTokens, one CHECK group per rule: the exact status, the phase
 * that refuses (GetWorkspaceSize for shapes/attributes/dtypes, the execute call for data-dependent errors), a
 * non-empty aclGetRecentErrMsg() that is cleared on read, and every buffer (outputs filled with 0x5A, inputs
 * with their data) left exactly as it was. Then executor misuse per operator: NULL executor (561103),
 * workspace too small / NULL (161002), outputs overlapping inputs or each other (161002), a foreign or
 * released executor (161002). A few positive controls pin down what the rules must NOT refuse. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_moe_compute_expert_tokens.h"
#include "aclnnop/aclnn_moe_init_routing_quant_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v3.h"
#include "harness.h"

enum { OP_V2, OP_QV2, OP_V3, OP_CET };
static const char *const op_names[] = {"V2", "QuantV2", "V3", "ComputeExpertTokens"};

/* Tensor positions in each operator's argument order. */
enum { V2_X, V2_E, V2_EX, V2_ER, V2_CNT, V2_BC, V2_NT };
enum { Q_X, Q_E, Q_SC, Q_OF, Q_EX, Q_ER, Q_CNT, Q_BC, Q_DYN, Q_NT };
enum { V3_X, V3_E, V3_SC, V3_OF, V3_EX, V3_ER, V3_CNT, V3_ESC, V3_NT };
enum { C_S, C_OUT, C_NT };
#define MAXT 9

/* One buffer per tensor position; large enough for the device-limit cases ([5121, 2] / [10241] INT64). */
#define SLOT (82 * 1024)
static _Alignas(64) unsigned char g_slot[MAXT][SLOT];
static _Alignas(64) unsigned char g_saved[MAXT][SLOT];

typedef struct tdesc {
    int present;
    aclDataType dt;
    aclFormat fmt;
    uint64_t rank;
    int64_t dims[4];
    int custom;         /* strides[] given */
    int64_t strides[4];
    int64_t offset;
    int64_t storage;    /* elements; -1: the view's contiguous extent + offset */
    void *data;
} tdesc;

typedef struct opcall {
    int op, nt;
    tdesc t[MAXT];
    int64_t active, cap, num, drop, flag, qmode, type, rowtype;
    bool bflag;                /* V2/QuantV2: expertTokensBeforeCapacityFlag; V3: expertTokensNumFlag */
    int range_given;           /* V3: 0 = NULL, 1 = aclIntArray of range_n values */
    int64_t range[3];
    uint64_t range_n;
    int null_ws, null_exe;     /* pass NULL for the workspaceSize / executor out-pointers */
} opcall;

static void td(tdesc *d, aclDataType dt, uint64_t rank, int64_t d0, int64_t d1, int64_t d2, int slot)
{
    memset(d, 0, sizeof *d);
    d->present = 1;
    d->dt = dt;
    d->fmt = ACL_FORMAT_ND;
    d->rank = rank;
    d->dims[0] = d0, d->dims[1] = d1, d->dims[2] = d2;
    d->storage = -1;
    d->data = g_slot[slot];
}

static aclTensor *make(const tdesc *d)
{
    int64_t strides[4], acc = 1;
    for (uint64_t i = d->rank; i-- > 0;) {
        strides[i] = d->custom ? d->strides[i] : acc;
        acc *= d->dims[i];
    }
    int64_t storage[1] = {d->storage >= 0 ? d->storage : acc + d->offset};
    return aclCreateTensor(d->dims, d->rank, d->dt, strides, d->offset, d->fmt, storage, 1, d->data);
}

static const float XA[12] = {.1f, .1f, .1f, .1f, .2f, .2f, .2f, .2f, .3f, .3f, .3f, .3f};
static const int32_t EA[6] = {1, 2, 0, 1, 0, 2};

static int32_t *ids(int slot) { return (int32_t *)(void *)g_slot[slot]; }
static float *f32s(int slot) { return (float *)(void *)g_slot[slot]; }

static void slots_reset(void)
{
    memset(g_slot, SENT, sizeof g_slot);
}

static void common_inputs(int x, int e)
{
    memcpy(g_slot[x], XA, sizeof XA);
    memcpy(g_slot[e], EA, sizeof EA);
}

/* V2 baseline. drop 0: dropless, activeNum 0, counts (flag 2, E = 3). drop 1: E = 3, C = 2, beforeCapacity. */
static void setup_v2(opcall *c, int drop)
{
    memset(c, 0, sizeof *c);
    slots_reset();
    common_inputs(V2_X, V2_E);
    c->op = OP_V2, c->nt = V2_NT;
    c->num = 3;
    td(&c->t[V2_X], ACL_FLOAT, 2, 3, 4, 0, V2_X);
    td(&c->t[V2_E], ACL_INT32, 2, 3, 2, 0, V2_E);
    td(&c->t[V2_ER], ACL_INT32, 1, 6, 0, 0, V2_ER);
    if (!drop) {
        c->flag = 2;
        td(&c->t[V2_EX], ACL_FLOAT, 2, 6, 4, 0, V2_EX);
        td(&c->t[V2_CNT], ACL_INT32, 1, 3, 0, 0, V2_CNT);
    } else {
        c->drop = 1, c->cap = 2, c->bflag = true;
        td(&c->t[V2_EX], ACL_FLOAT, 3, 3, 2, 4, V2_EX);
        td(&c->t[V2_BC], ACL_INT32, 1, 3, 0, 0, V2_BC);
    }
}

/* QuantV2 baselines. mode 0: static dropless with counts; 1: dynamic dropless with counts, no smooth;
 * 2: static drop (E 3, C 2, beforeCapacity); 3: dynamic drop (E 3, C 1). */
static void setup_qv2(opcall *c, int mode)
{
    memset(c, 0, sizeof *c);
    slots_reset();
    common_inputs(Q_X, Q_E);
    c->op = OP_QV2, c->nt = Q_NT;
    c->num = 3;
    c->qmode = mode & 1;
    td(&c->t[Q_X], ACL_FLOAT, 2, 3, 4, 0, Q_X);
    td(&c->t[Q_E], ACL_INT32, 2, 3, 2, 0, Q_E);
    td(&c->t[Q_ER], ACL_INT32, 1, 6, 0, 0, Q_ER);
    if (c->qmode == 0) {
        f32s(Q_SC)[0] = 1.0f, f32s(Q_OF)[0] = 0.0f;
        td(&c->t[Q_SC], ACL_FLOAT, 1, 1, 0, 0, Q_SC);
        td(&c->t[Q_OF], ACL_FLOAT, 1, 1, 0, 0, Q_OF);
    }
    if (mode < 2) {
        c->flag = 2;
        td(&c->t[Q_EX], ACL_INT8, 2, 6, 4, 0, Q_EX);
        td(&c->t[Q_CNT], ACL_INT32, 1, 3, 0, 0, Q_CNT);
        if (c->qmode) td(&c->t[Q_DYN], ACL_FLOAT, 1, 6, 0, 0, Q_DYN);
    } else {
        c->drop = 1, c->cap = mode == 2 ? 2 : 1, c->bflag = true;
        td(&c->t[Q_EX], ACL_INT8, 3, 3, c->cap, 4, Q_EX);
        td(&c->t[Q_BC], ACL_INT32, 1, 3, 0, 0, Q_BC);
        if (c->qmode) td(&c->t[Q_DYN], ACL_FLOAT, 1, 3 * c->cap, 0, 0, Q_DYN);
    }
}

/* V3 baseline: x FLOAT [3,4], quantMode -1, range [0,3) as an aclIntArray, counts type 1 [3], rowIdxType 0. */
static void setup_v3(opcall *c)
{
    memset(c, 0, sizeof *c);
    slots_reset();
    common_inputs(V3_X, V3_E);
    c->op = OP_V3, c->nt = V3_NT;
    c->active = -1, c->num = 3, c->type = 1, c->bflag = true, c->qmode = -1;
    c->range_given = 1, c->range[0] = 0, c->range[1] = 3, c->range_n = 2;
    td(&c->t[V3_X], ACL_FLOAT, 2, 3, 4, 0, V3_X);
    td(&c->t[V3_E], ACL_INT32, 2, 3, 2, 0, V3_E);
    td(&c->t[V3_EX], ACL_FLOAT, 2, 6, 4, 0, V3_EX);
    td(&c->t[V3_ER], ACL_INT32, 1, 6, 0, 0, V3_ER);
    td(&c->t[V3_CNT], ACL_INT64, 1, 3, 0, 0, V3_CNT);
    td(&c->t[V3_ESC], ACL_FLOAT, 1, 6, 0, 0, V3_ESC);
}

/* V3 with dynamic quant: expandedX INT8. */
static void setup_v3_dynamic(opcall *c)
{
    setup_v3(c);
    c->qmode = 1;
    c->t[V3_EX].dt = ACL_INT8;
}

/* ComputeExpertTokens baseline: sortedExperts [0,0,1,1,2,2], numExperts 3, out [3]. */
static void setup_cet(opcall *c)
{
    static const int32_t s[6] = {0, 0, 1, 1, 2, 2};
    memset(c, 0, sizeof *c);
    slots_reset();
    memcpy(g_slot[C_S], s, sizeof s);
    c->op = OP_CET, c->nt = C_NT;
    c->num = 3;
    td(&c->t[C_S], ACL_INT32, 1, 6, 0, 0, C_S);
    td(&c->t[C_OUT], ACL_INT32, 1, 3, 0, 0, C_OUT);
}

/* Phase 1 for any operator over tensors t (NULL where absent). */
static aclnnStatus plan(const opcall *c, aclTensor *const *t, const aclIntArray *range, uint64_t *ws,
                        aclOpExecutor **exe)
{
    uint64_t *w = c->null_ws ? NULL : ws;
    aclOpExecutor **e = c->null_exe ? NULL : exe;
    switch (c->op) {
    case OP_V2:
        return aclnnMoeInitRoutingV2GetWorkspaceSize(t[V2_X], t[V2_E], c->active, c->cap, c->num, c->drop, c->flag,
                                                     c->bflag, t[V2_EX], t[V2_ER], t[V2_CNT], t[V2_BC], w, e);
    case OP_QV2:
        return aclnnMoeInitRoutingQuantV2GetWorkspaceSize(t[Q_X], t[Q_E], t[Q_SC], t[Q_OF], c->active, c->cap,
                                                          c->num, c->drop, c->flag, c->bflag, c->qmode, t[Q_EX],
                                                          t[Q_ER], t[Q_CNT], t[Q_BC], t[Q_DYN], w, e);
    case OP_V3:
        return aclnnMoeInitRoutingV3GetWorkspaceSize(t[V3_X], t[V3_E], t[V3_SC], t[V3_OF], c->active, c->cap,
                                                     c->num, c->drop, c->type, c->bflag, c->qmode, range,
                                                     c->rowtype, t[V3_EX], t[V3_ER], t[V3_CNT], t[V3_ESC], w, e);
    default:
        return aclnnMoeComputeExpertTokensGetWorkspaceSize(t[C_S], c->num, t[C_OUT], w, e);
    }
}

static aclnnStatus execute(int op, void *ws, uint64_t size, aclOpExecutor *exe)
{
    switch (op) {
    case OP_V2: return aclnnMoeInitRoutingV2(ws, size, exe, g_stream);
    case OP_QV2: return aclnnMoeInitRoutingQuantV2(ws, size, exe, g_stream);
    case OP_V3: return aclnnMoeInitRoutingV3(ws, size, exe, g_stream);
    default: return aclnnMoeComputeExpertTokens(ws, size, exe, g_stream);
    }
}

typedef struct made {
    aclTensor *t[MAXT];
    aclIntArray *range;
} made;

static void make_all(const opcall *c, made *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < c->nt; i++) m->t[i] = c->t[i].present ? make(&c->t[i]) : NULL;
    if (c->range_given) m->range = aclCreateIntArray(c->range_n ? c->range : NULL, c->range_n);
}

static void destroy_made(made *m)
{
    for (int i = 0; i < MAXT; i++) aclDestroyTensor(m->t[i]);
    aclDestroyIntArray(m->range);
}

/* Both phases with a workspace of the reported size. *phase: 1 or 2 where it stopped, 0 when it succeeded. */
static aclnnStatus run(const opcall *c, int *phase)
{
    made m;
    make_all(c, &m);
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = plan(c, m.t, m.range, &ws_size, &exe);
    *phase = 1;
    if (st == ACLNN_SUCCESS) {
        void *ws = NULL;
        if (ws_size > 0 && aclrtMalloc(&ws, (size_t)ws_size, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) {
            destroy_made(&m);
            return -1;
        }
        st = execute(c->op, ws, ws_size, exe);
        *phase = st == ACLNN_SUCCESS ? 0 : 2;
        if (st == ACLNN_SUCCESS) aclrtSynchronizeStream(g_stream);
        if (ws) aclrtFree(ws);
    }
    destroy_made(&m);
    return st;
}

static int slots_unchanged(void) { return memcmp(g_slot, g_saved, sizeof g_slot) == 0; }

/* want_phase: 1 = GetWorkspaceSize must refuse, 2 = GetWorkspaceSize accepts and the execute call refuses,
 * 0 = either. `needle`: a substring the message must contain, or NULL. */
static void refuse(const char *what, const opcall *c, aclnnStatus want, int want_phase, const char *needle)
{
    char label[200];
    snprintf(label, sizeof label, "%s: %s", op_names[c->op], what);
    memcpy(g_saved, g_slot, sizeof g_slot);
    int phase = 0;
    aclnnStatus st = run(c, &phase);
    const char *msg = aclGetRecentErrMsg();
    CHECK(st == want, "%s: status %d, want %d (%s)", label, (int)st, (int)want, msg ? msg : "no message");
    if (want_phase) CHECK(phase == want_phase, "%s: refused in phase %d, want phase %d", label, phase, want_phase);
    CHECK(msg && *msg, "%s: no message from aclGetRecentErrMsg", label);
    if (needle) CHECK(msg && strstr(msg, needle), "%s: message should mention '%s': %s", label, needle, msg ? msg : "");
    CHECK(aclGetRecentErrMsg() == NULL, "%s: message not cleared on read", label);
    CHECK(slots_unchanged(), "%s: a buffer was written", label);
}

/* Positive control: both phases succeed. */
static void accept(const char *what, const opcall *c)
{
    int phase = 0;
    aclnnStatus st = run(c, &phase);
    const char *msg = st != ACLNN_SUCCESS ? aclGetRecentErrMsg() : NULL;
    CHECK(st == ACLNN_SUCCESS, "%s: %s must be accepted: status %d in phase %d (%s)", op_names[c->op], what, (int)st,
          phase, msg ? msg : "no message");
}

static int device_limits_on(void)
{
    const char *v = getenv("MOEROUTE_DEVICE_LIMITS");
    return !(v && strcmp(v, "0") == 0);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Rules shared by V2 and QuantV2 (routing spec 3.4, decisions "MoeInitRoutingV2 / QuantV2")            */

typedef struct rmap {
    int x, e, ex, er, cnt, bc;
} rmap;

static void setup_routing(opcall *c, int quant, int drop)
{
    if (quant)
        setup_qv2(c, drop ? 2 : 0);
    else
        setup_v2(c, drop);
}

static void test_routing_shared(int quant)
{
    const rmap m = quant ? (rmap){Q_X, Q_E, Q_EX, Q_ER, Q_CNT, Q_BC} : (rmap){V2_X, V2_E, V2_EX, V2_ER, V2_CNT, V2_BC};
    opcall c;
    char what[128];

    /* 161001: NULL required tensors and out-pointers */
    const int required[4] = {m.x, m.e, m.ex, m.er};
    for (int i = 0; i < 4; i++) {
        setup_routing(&c, quant, 0);
        c.t[required[i]].present = 0;
        snprintf(what, sizeof what, "required tensor %d NULL", required[i]);
        refuse(what, &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);
    }
    setup_routing(&c, quant, 0), c.null_ws = 1;
    refuse("workspaceSize out-pointer NULL", &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);
    setup_routing(&c, quant, 0), c.null_exe = 1;
    refuse("executor out-pointer NULL", &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);

    /* 161002: dtypes and formats */
    const struct { int idx, drop; aclDataType dt; const char *what; } bad_dt[] = {
        {m.x, 0, ACL_INT32, "x INT32"},
        {m.x, 0, ACL_INT8, "x INT8"},
        {m.x, 0, ACL_DOUBLE, "x DOUBLE"},
        {m.e, 0, ACL_INT64, "expertIdx INT64"},
        {m.e, 0, ACL_FLOAT, "expertIdx FLOAT"},
        {m.ex, 0, quant ? ACL_FLOAT : ACL_FLOAT16, quant ? "expandedX FLOAT (must be INT8)" : "expandedX FLOAT16 != x"},
        {m.ex, 0, ACL_INT32, "expandedX INT32"},
        {m.ex, 1, quant ? ACL_FLOAT : ACL_INT8, "drop: expandedX dtype"},
        {m.er, 0, ACL_INT64, "expandedRowIdx INT64"},
        {m.cnt, 0, ACL_INT64, "count output INT64"},
        {m.cnt, 0, ACL_FLOAT, "count output FLOAT"},
        {m.bc, 1, ACL_INT64, "beforeCapacity output INT64"},
    };
    for (size_t i = 0; i < sizeof bad_dt / sizeof bad_dt[0]; i++) {
        setup_routing(&c, quant, bad_dt[i].drop);
        c.t[bad_dt[i].idx].dt = bad_dt[i].dt;
        refuse(bad_dt[i].what, &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    }
    const int fmt_idx[5] = {m.x, m.e, m.ex, m.er, m.cnt};
    for (int i = 0; i < 5; i++) {
        setup_routing(&c, quant, 0);
        c.t[fmt_idx[i]].fmt = ACL_FORMAT_NCHW;
        snprintf(what, sizeof what, "tensor %d format NCHW", fmt_idx[i]);
        refuse(what, &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    }

    /* 161002: views */
    setup_routing(&c, quant, 0), c.t[m.x].storage = 11;
    refuse("x view outside its storage", &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    setup_routing(&c, quant, 0), c.t[m.e].offset = 1, c.t[m.e].storage = 6;
    refuse("expertIdx offset pushes the view past its storage", &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    setup_routing(&c, quant, 0);
    c.t[m.ex].custom = 1, c.t[m.ex].strides[0] = 1, c.t[m.ex].strides[1] = 6, c.t[m.ex].storage = 24;
    refuse("expandedX non-contiguous (column-major)", &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    setup_routing(&c, quant, 0);
    c.t[m.er].custom = 1, c.t[m.er].strides[0] = 2, c.t[m.er].storage = 12;
    refuse("expandedRowIdx non-contiguous (stride 2)", &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    setup_routing(&c, quant, 0);
    c.t[m.cnt].custom = 1, c.t[m.cnt].strides[0] = 2, c.t[m.cnt].storage = 6;
    refuse("count output non-contiguous", &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    setup_routing(&c, quant, 1);
    /* [E 3, C 2, H 4] with expert pitch 12 instead of C*H = 8 */
    c.t[m.ex].custom = 1, c.t[m.ex].strides[0] = 12, c.t[m.ex].strides[1] = 4, c.t[m.ex].strides[2] = 1;
    c.t[m.ex].storage = 36;
    refuse("drop: expandedX non-contiguous (padded experts)", &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);

    /* 561002: shapes and attributes */
    for (int rule = 0; rule < 36; rule++) {
        const char *w = NULL;
        int drop = rule >= 20 && rule < 31;
        setup_routing(&c, quant, drop);
        switch (rule) {
        case 0: c.t[m.x].rank = 3, c.t[m.x].dims[2] = 1, w = "x 3-D"; break;
        case 1: c.t[m.x].rank = 1, c.t[m.x].dims[0] = 12, w = "x 1-D"; break;
        case 2: c.t[m.e].rank = 1, c.t[m.e].dims[0] = 6, w = "expertIdx 1-D"; break;
        case 3: c.t[m.e].rank = 3, c.t[m.e].dims[2] = 1, w = "expertIdx 3-D"; break;
        case 4: c.t[m.x].dims[0] = 2, w = "x.dim0 != expertIdx.dim0"; break;
        case 5: c.active = -1, w = "activeNum -1"; break;
        case 6: c.cap = -1, w = "expertCapacity -1 (dropless)"; break;
        case 7: c.num = -1, c.flag = 0, c.t[m.cnt].present = 0, w = "expertNum -1 (dropless, no counts)"; break;
        case 8: c.drop = 2, w = "dropPadMode 2"; break;
        case 9: c.drop = -1, w = "dropPadMode -1"; break;
        case 10: c.flag = 3, w = "expertTokensCountOrCumsumFlag 3"; break;
        case 11: c.flag = -1, w = "expertTokensCountOrCumsumFlag -1"; break;
        case 12: c.num = 0, c.t[m.cnt].dims[0] = 0, w = "flag 2 with expertNum 0"; break;
        case 13: c.num = 0, c.flag = 1, c.t[m.cnt].dims[0] = 0, w = "flag 1 with expertNum 0"; break;
        case 14: c.t[m.ex].dims[0] = 5, w = "expandedX rows != N*K (activeNum 0)"; break;
        case 15: c.t[m.ex].dims[1] = 5, w = "expandedX cols != H"; break;
        case 16: c.t[m.ex].rank = 3, c.t[m.ex].dims[2] = 1, w = "dropless expandedX 3-D"; break;
        case 17: c.active = 4, w = "activeNum 4 but expandedX has 6 rows"; break;
        case 18: c.t[m.cnt].dims[0] = 2, w = "count output length != E"; break;
        case 19: c.t[m.cnt].rank = 2, c.t[m.cnt].dims[1] = 1, w = "count output 2-D"; break;
        /* drop mode (E 3, C 2) */
        case 20: c.cap = 0, c.t[m.ex].dims[1] = 0, w = "drop with expertCapacity 0"; break;
        case 21: c.num = 0, c.t[m.ex].dims[0] = 0, c.t[m.bc].dims[0] = 0, w = "drop with expertNum 0"; break;
        case 22: c.cap = 4, c.t[m.ex].dims[1] = 4, w = "drop with expertCapacity > N"; break;
        case 23: c.t[m.ex].rank = 2, c.t[m.ex].dims[0] = 6, c.t[m.ex].dims[1] = 4, w = "drop: expandedX 2-D"; break;
        case 24: c.t[m.ex].dims[1] = 3, w = "drop: expandedX dim1 != C"; break;
        case 25: c.t[m.ex].dims[0] = 2, w = "drop: expandedX dim0 != E"; break;
        case 26: c.t[m.ex].dims[2] = 5, w = "drop: expandedX dim2 != H"; break;
        case 27: c.t[m.bc].present = 0, w = "drop: beforeCapacity flag set, output NULL"; break;
        case 28: c.t[m.bc].dims[0] = 2, w = "drop: beforeCapacity length != E"; break;
        case 29: c.active = -1, w = "drop: activeNum -1 (ignored but must be >= 0)"; break;
        case 30: c.cap = -1, c.t[m.ex].dims[1] = 0, w = "drop: expertCapacity -1"; break;
        /* dropless again */
        case 31: c.t[m.er].dims[0] = 5, w = "expandedRowIdx length != N*K"; break;
        case 32: c.t[m.er].rank = 2, c.t[m.er].dims[0] = 3, c.t[m.er].dims[1] = 2, w = "expandedRowIdx 2-D"; break;
        case 33: c.t[m.cnt].present = 0, w = "flag 2, count output NULL"; break;
        case 34: c.t[m.cnt].present = 0, c.flag = 1, w = "flag 1, count output NULL"; break;
        case 35: /* N*K = 2^32 > INT32_MAX: shapes only, no data */
            c.t[m.x].dims[0] = 65536, c.t[m.x].data = NULL;
            c.t[m.e].dims[0] = 65536, c.t[m.e].dims[1] = 65536, c.t[m.e].data = NULL;
            c.active = 1, c.t[m.ex].dims[0] = 1;
            c.t[m.er].dims[0] = (int64_t)65536 * 65536, c.t[m.er].data = NULL;
            c.flag = 0, c.t[m.cnt].present = 0;
            w = "N*K > INT32_MAX";
            break;
        }
        refuse(w, &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);
    }

    /* 161002 at execute: ids outside [0, E) where E is used; the message names the position */
    setup_routing(&c, quant, 1), ids(m.e)[4] = 3;
    refuse("drop: expertIdx value 3 with E = 3", &c, ACLNN_ERR_PARAM_INVALID, 2, "expertIdx");
    setup_routing(&c, quant, 1), ids(m.e)[0] = -1;
    refuse("drop: negative expertIdx value", &c, ACLNN_ERR_PARAM_INVALID, 2, "expertIdx");
    setup_routing(&c, quant, 0), ids(m.e)[5] = 3;
    refuse("count (flag 2): expertIdx value 3 with E = 3", &c, ACLNN_ERR_PARAM_INVALID, 2, "expertIdx");
    setup_routing(&c, quant, 0), c.flag = 1, ids(m.e)[2] = -1;
    refuse("cumsum (flag 1): negative expertIdx value", &c, ACLNN_ERR_PARAM_INVALID, 2, "expertIdx");
    setup_routing(&c, quant, 0), ids(m.e)[1] = INT32_MAX;
    refuse("count: expertIdx INT32_MAX", &c, ACLNN_ERR_PARAM_INVALID, 2, "expertIdx");

    /* positive controls */
    setup_routing(&c, quant, 0), c.flag = 0, c.t[m.cnt].present = 0, ids(m.e)[0] = -5, ids(m.e)[3] = 1000;
    accept("dropless without counts: any int32 id", &c);
    setup_routing(&c, quant, 1), c.flag = 2;
    accept("drop: flag 2 forced to 0, count output NULL", &c);
    setup_routing(&c, quant, 0), c.bflag = true;
    accept("dropless: beforeCapacity flag ignored, output NULL", &c);
    setup_routing(&c, quant, 1), c.active = 5;
    accept("drop: activeNum 5 ignored", &c);
    setup_routing(&c, quant, 1), c.cap = 3, c.t[m.ex].dims[1] = 3;
    accept("drop: expertCapacity == N", &c);
}

/* QuantV2-only rules (routing spec 4.3 and decisions). */
static void test_qv2_rules(void)
{
    opcall c;
    setup_qv2(&c, 0), c.qmode = 2;
    refuse("quantMode 2", &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);
    setup_qv2(&c, 0), c.qmode = -1;
    refuse("quantMode -1", &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);

    /* static: scale and offset FLOAT32 1-D [1], required */
    for (int rule = 0; rule < 10; rule++) {
        const char *w = NULL;
        setup_qv2(&c, rule < 5 ? 0 : 2);
        switch (rule) {
        case 0: c.t[Q_SC].present = 0, w = "static: scale NULL"; break;
        case 1: c.t[Q_OF].present = 0, w = "static: offset NULL"; break;
        case 2: c.t[Q_SC].dt = ACL_FLOAT16, w = "static: scale FLOAT16"; break;
        case 3: c.t[Q_OF].dt = ACL_DOUBLE, w = "static: offset DOUBLE"; break;
        case 4: c.t[Q_SC].rank = 2, c.t[Q_SC].dims[1] = 1, w = "static: scale 2-D [1,1]"; break;
        case 5: c.t[Q_OF].rank = 2, c.t[Q_OF].dims[1] = 1, w = "static drop: offset 2-D [1,1]"; break;
        case 6: c.t[Q_SC].dims[0] = 2, w = "static drop: scale [2]"; break;
        case 7: c.t[Q_OF].dims[0] = 2, w = "static drop: offset [2]"; break;
        case 8: c.t[Q_SC].dims[0] = 0, w = "static drop: scale [0]"; break;
        case 9: c.t[Q_SC].present = 0, c.t[Q_OF].present = 0, w = "static drop: scale and offset NULL"; break;
        }
        refuse(w, &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);
    }

    /* dynamic: smooth FLOAT32 [1,H] or [E,H]; dynamicQuantScaleOut FLOAT32 [A] / [E*C], required */
    for (int rule = 0; rule < 13; rule++) {
        const char *w = NULL;
        setup_qv2(&c, rule < 11 ? 1 : 3);
        td(&c.t[Q_SC], ACL_FLOAT, 2, 1, 4, 0, Q_SC);
        switch (rule) {
        case 0: c.t[Q_SC].dt = ACL_FLOAT16, w = "dynamic: smooth FLOAT16"; break;
        case 1: c.t[Q_SC].rank = 1, c.t[Q_SC].dims[0] = 4, w = "dynamic: smooth 1-D [H]"; break;
        case 2: c.t[Q_SC].dims[0] = 2, w = "dynamic: smooth [2, H] with E = 3"; break;
        case 3: c.t[Q_SC].dims[1] = 5, w = "dynamic: smooth [1, H+1]"; break;
        case 4: c.t[Q_SC].rank = 3, c.t[Q_SC].dims[1] = 1, c.t[Q_SC].dims[2] = 4, w = "dynamic: smooth 3-D"; break;
        case 5: c.t[Q_DYN].present = 0, w = "dynamic: dynamicQuantScaleOut NULL"; break;
        case 6: c.t[Q_DYN].dt = ACL_FLOAT16, w = "dynamic: dynamicQuantScaleOut FLOAT16"; break;
        case 7: c.t[Q_DYN].rank = 2, c.t[Q_DYN].dims[1] = 1, w = "dynamic: dynamicQuantScaleOut 2-D"; break;
        case 8: c.t[Q_DYN].dims[0] = 5, w = "dynamic: dynamicQuantScaleOut [5] != A"; break;
        case 9: c.t[Q_DYN].dims[0] = 7, w = "dynamic: dynamicQuantScaleOut [7] != A"; break;
        case 10: c.active = 4, c.t[Q_EX].dims[0] = 4, w = "dynamic: activeNum 4, dynamicQuantScaleOut [6]"; break;
        case 11: c.t[Q_DYN].dims[0] = 6, w = "dynamic drop: dynamicQuantScaleOut [6] != E*C = 3"; break;
        case 12: c.t[Q_SC].dims[0] = 2, w = "dynamic drop: smooth [2, H] with E = 3"; break;
        }
        refuse(w, &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);
    }

    /* 161002 at execute: [E,H] smooth needs every id in [0, E) even without counts */
    setup_qv2(&c, 1), c.flag = 0, c.t[Q_CNT].present = 0;
    td(&c.t[Q_SC], ACL_FLOAT, 2, 3, 4, 0, Q_SC);
    for (int i = 0; i < 12; i++) f32s(Q_SC)[i] = 1.0f;
    ids(Q_E)[3] = 3;
    refuse("dynamic EH smooth: expertIdx value 3 with E = 3", &c, ACLNN_ERR_PARAM_INVALID, 2, "expertIdx");
    setup_qv2(&c, 3), ids(Q_E)[5] = 7;
    refuse("dynamic drop: expertIdx value 7", &c, ACLNN_ERR_PARAM_INVALID, 2, "expertIdx");

    /* positive controls: [1,H] smooth accepts any id without counts; static with a dynamicQuantScaleOut
     * absent; dynamic without smooth; activeNum 4 with matching shapes */
    setup_qv2(&c, 1), c.flag = 0, c.t[Q_CNT].present = 0;
    td(&c.t[Q_SC], ACL_FLOAT, 2, 1, 4, 0, Q_SC);
    for (int i = 0; i < 4; i++) f32s(Q_SC)[i] = 1.0f;
    ids(Q_E)[3] = 7, ids(Q_E)[0] = -3;
    accept("dynamic 1H smooth: any int32 id without counts", &c);
    setup_qv2(&c, 1);
    td(&c.t[Q_SC], ACL_FLOAT, 2, 3, 4, 0, Q_SC);
    for (int i = 0; i < 12; i++) f32s(Q_SC)[i] = 1.0f;
    accept("dynamic EH smooth, ids in range", &c);
    setup_qv2(&c, 1), c.active = 4, c.t[Q_EX].dims[0] = 4, c.t[Q_DYN].dims[0] = 4;
    accept("dynamic activeNum 4", &c);
    setup_qv2(&c, 3);
    accept("dynamic drop baseline", &c);
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeInitRoutingV3 (routing spec 5.2, decisions "MoeInitRoutingV3")                               */

static void test_v3_rules(void)
{
    opcall c;
    char what[128];

    /* 161001: all four outputs and both inputs are required */
    const int required[6] = {V3_X, V3_E, V3_EX, V3_ER, V3_CNT, V3_ESC};
    for (int i = 0; i < 6; i++) {
        setup_v3(&c);
        c.t[required[i]].present = 0;
        snprintf(what, sizeof what, "required tensor %d NULL", required[i]);
        refuse(what, &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);
    }
    setup_v3(&c), c.null_ws = 1;
    refuse("workspaceSize out-pointer NULL", &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);
    setup_v3(&c), c.null_exe = 1;
    refuse("executor out-pointer NULL", &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);

    /* 161002: dtypes, formats, views */
    for (int rule = 0; rule < 18; rule++) {
        const char *w = NULL;
        setup_v3(&c);
        switch (rule) {
        case 0: c.t[V3_X].dt = ACL_INT32, c.t[V3_EX].dt = ACL_INT32, w = "x INT32"; break;
        case 1: setup_v3_dynamic(&c), c.t[V3_X].dt = ACL_INT8, w = "x INT8 with quantMode 1"; break;
        case 2: c.t[V3_X].dt = ACL_DOUBLE, c.t[V3_EX].dt = ACL_DOUBLE, w = "x DOUBLE"; break;
        case 3: c.t[V3_E].dt = ACL_INT64, w = "expertIdx INT64"; break;
        case 4: c.t[V3_EX].dt = ACL_FLOAT16, w = "expandedX FLOAT16 != x FLOAT (quantMode -1)"; break;
        case 5: c.t[V3_EX].dt = ACL_INT8, w = "expandedX INT8 with quantMode -1"; break;
        case 6: setup_v3_dynamic(&c), c.t[V3_EX].dt = ACL_FLOAT, w = "expandedX FLOAT with quantMode 1"; break;
        case 7: c.t[V3_ER].dt = ACL_INT64, w = "expandedRowIdx INT64"; break;
        case 8: c.t[V3_CNT].dt = ACL_INT32, w = "counts INT32 (must be INT64)"; break;
        case 9: c.t[V3_ESC].dt = ACL_FLOAT16, w = "expandedScaleOut FLOAT16"; break;
        case 10: c.t[V3_X].fmt = ACL_FORMAT_NCHW, w = "x format NCHW"; break;
        case 11: c.t[V3_CNT].fmt = ACL_FORMAT_NCHW, w = "counts format NCHW"; break;
        case 12: c.t[V3_X].storage = 11, w = "x view outside its storage"; break;
        case 13:
            c.t[V3_EX].custom = 1, c.t[V3_EX].strides[0] = 1, c.t[V3_EX].strides[1] = 6, c.t[V3_EX].storage = 24;
            w = "expandedX non-contiguous";
            break;
        case 14: /* a required output even when quantMode -1 without scale leaves it unwritten */
            c.t[V3_ESC].custom = 1, c.t[V3_ESC].strides[0] = 2, c.t[V3_ESC].storage = 12;
            w = "expandedScaleOut non-contiguous (quantMode -1, no scale)";
            break;
        case 17:
            td(&c.t[V3_SC], ACL_FLOAT, 1, 3, 0, 0, V3_SC);
            c.t[V3_ESC].custom = 1, c.t[V3_ESC].strides[0] = 2, c.t[V3_ESC].storage = 12;
            w = "expandedScaleOut non-contiguous (quantMode -1 with scale [N])";
            break;
        case 15:
            /* common rule (decisions: wrong dtype -> 161002 unless listed); scale of quantMode -1 is FLOAT32 */
            td(&c.t[V3_SC], ACL_FLOAT16, 1, 3, 0, 0, V3_SC);
            w = "quantMode -1: scale FLOAT16";
            break;
        case 16: c.t[V3_E].offset = 1, c.t[V3_E].storage = 6, w = "expertIdx view past its storage"; break;
        }
        refuse(w, &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    }

    /* 561002: attributes and shapes */
    for (int rule = 0; rule < 44; rule++) {
        const char *w = NULL;
        setup_v3(&c);
        switch (rule) {
        case 0: c.range_n = 1, w = "activeExpertRange with 1 value"; break;
        case 1: c.range_n = 3, c.range[2] = 3, w = "activeExpertRange with 3 values"; break;
        case 2: c.range[0] = -1, c.t[V3_CNT].dims[0] = 4, w = "range start -1"; break;
        case 3: c.range[0] = 1, c.range[1] = 1, c.t[V3_CNT].dims[0] = 0, w = "range start == end"; break;
        case 4: c.range[0] = 2, c.range[1] = 1, c.t[V3_CNT].dims[0] = 1, w = "range start > end"; break;
        case 5: c.range[1] = 4, c.t[V3_CNT].dims[0] = 4, w = "range end > expertNum"; break;
        case 6: c.num = 0, c.range_given = 0, c.t[V3_CNT].dims[0] = 0, w = "expertNum 0"; break;
        case 7: c.num = -1, c.range_given = 0, w = "expertNum -1"; break;
        case 8: c.drop = 1, w = "dropPadMode 1"; break;
        case 9: c.bflag = false, w = "expertTokensNumFlag false"; break;
        case 10: c.type = 0, w = "expertTokensNumType 0"; break;
        case 11: c.type = 3, w = "expertTokensNumType 3"; break;
        case 12: c.qmode = 0, w = "quantMode 0"; break;
        case 13: c.qmode = 2, w = "quantMode 2"; break;
        case 14: c.qmode = -2, w = "quantMode -2"; break;
        case 15: c.rowtype = 2, w = "rowIdxType 2"; break;
        case 16: c.rowtype = -1, w = "rowIdxType -1"; break;
        case 17: c.active = 0, w = "activeNum 0"; break;
        case 18: c.active = 5, w = "activeNum 5 (N*K - 1)"; break;
        case 19: c.active = 7, w = "activeNum 7 (N*K + 1)"; break;
        case 20: c.active = -2, w = "activeNum -2"; break;
        case 21: c.t[V3_X].rank = 3, c.t[V3_X].dims[2] = 1, w = "x 3-D"; break;
        case 22: c.t[V3_X].rank = 1, c.t[V3_X].dims[0] = 12, w = "x 1-D"; break;
        case 23: c.t[V3_E].rank = 1, c.t[V3_E].dims[0] = 6, w = "expertIdx 1-D"; break;
        case 24: c.t[V3_X].dims[0] = 2, w = "x.dim0 != expertIdx.dim0"; break;
        case 25: c.t[V3_EX].dims[0] = 5, w = "expandedX rows != N*K"; break;
        case 26: c.t[V3_EX].dims[1] = 5, w = "expandedX cols != H"; break;
        case 27: c.t[V3_EX].rank = 3, c.t[V3_EX].dims[2] = 1, w = "expandedX 3-D"; break;
        case 28: c.t[V3_ER].dims[0] = 5, w = "expandedRowIdx length != N*K"; break;
        case 29: c.t[V3_ER].rank = 2, c.t[V3_ER].dims[0] = 3, c.t[V3_ER].dims[1] = 2, w = "expandedRowIdx 2-D"; break;
        case 30: c.range[0] = 1, w = "counts type 1 [3] for range [1,3) (needs [2])"; break;
        case 31: c.t[V3_CNT].rank = 2, c.t[V3_CNT].dims[1] = 1, w = "counts type 1 2-D"; break;
        case 32: c.type = 2, w = "counts type 2 given as [3] (needs [E, 2])"; break;
        case 33: c.type = 2, c.t[V3_CNT].rank = 2, c.t[V3_CNT].dims[1] = 3, w = "counts type 2 [3, 3]"; break;
        case 34: c.type = 2, c.t[V3_CNT].rank = 2, c.t[V3_CNT].dims[0] = 2, c.t[V3_CNT].dims[1] = 2;
            w = "counts type 2 [2, 2] (E = 3)";
            break;
        case 35: c.type = 2, c.t[V3_CNT].rank = 2, c.t[V3_CNT].dims[0] = 4, c.t[V3_CNT].dims[1] = 2;
            w = "counts type 2 [4, 2] (E = 3)";
            break;
        case 36: c.t[V3_ESC].dims[0] = 5, w = "expandedScaleOut length != N*K"; break;
        case 37: c.t[V3_ESC].rank = 2, c.t[V3_ESC].dims[1] = 1, w = "expandedScaleOut 2-D"; break;
        case 38: td(&c.t[V3_SC], ACL_FLOAT, 1, 2, 0, 0, V3_SC), w = "quantMode -1: scale [2] != [N]"; break;
        case 39: td(&c.t[V3_SC], ACL_FLOAT, 2, 3, 1, 0, V3_SC), w = "quantMode -1: scale 2-D [N, 1]"; break;
        case 40:
            setup_v3_dynamic(&c), td(&c.t[V3_SC], ACL_FLOAT, 2, 4, 4, 0, V3_SC);
            w = "quantMode 1: smooth [end-start+1, H]";
            break;
        case 41:
            setup_v3_dynamic(&c), td(&c.t[V3_SC], ACL_FLOAT, 2, 3, 5, 0, V3_SC);
            w = "quantMode 1: smooth [end-start, H+1]";
            break;
        case 42:
            setup_v3_dynamic(&c), td(&c.t[V3_SC], ACL_FLOAT, 1, 4, 0, 0, V3_SC);
            w = "quantMode 1: smooth 1-D [H]";
            break;
        case 43: /* N*K = 2^32 > INT32_MAX: shapes only, no data */
            c.t[V3_X].dims[0] = 65536, c.t[V3_X].data = NULL;
            c.t[V3_E].dims[0] = 65536, c.t[V3_E].dims[1] = 65536, c.t[V3_E].data = NULL;
            c.t[V3_EX].dims[0] = (int64_t)65536 * 65536, c.t[V3_EX].data = NULL;
            c.t[V3_ER].dims[0] = (int64_t)65536 * 65536, c.t[V3_ER].data = NULL;
            c.t[V3_ESC].dims[0] = (int64_t)65536 * 65536, c.t[V3_ESC].data = NULL;
            w = "N*K > INT32_MAX";
            break;
        }
        refuse(w, &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);
    }

    /* device limits (aclnn only): end <= 10240 (count), <= 5120 (key-value) */
    if (device_limits_on()) {
        setup_v3(&c), c.num = 10241, c.range_given = 0, c.t[V3_CNT].dims[0] = 10241;
        refuse("count type 1 with end 10241 (device limit)", &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);
        setup_v3(&c), c.num = 5121, c.range_given = 0, c.type = 2;
        c.t[V3_CNT].rank = 2, c.t[V3_CNT].dims[0] = 5121, c.t[V3_CNT].dims[1] = 2;
        refuse("key-value with end 5121 (device limit)", &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);
        setup_v3(&c), c.num = 10241, c.range[1] = 10240, c.t[V3_CNT].dims[0] = 10240;
        accept("count type 1 with end 10240 of 10241 experts", &c);
        setup_v3(&c), c.num = 5121, c.range[1] = 5120, c.type = 2;
        c.t[V3_CNT].rank = 2, c.t[V3_CNT].dims[0] = 5121, c.t[V3_CNT].dims[1] = 2;
        accept("key-value with end 5120 of 5121 experts", &c);
    } else {
        printf("MOEROUTE_DEVICE_LIMITS=0: V3 device-limit rules skipped\n");
    }

    /* positive controls */
    setup_v3(&c), c.range_n = 0;
    accept("empty activeExpertRange = [0, E)", &c);
    setup_v3(&c), c.range_given = 0;
    accept("NULL activeExpertRange", &c);
    setup_v3(&c), c.active = 6;
    accept("activeNum == N*K", &c);
    setup_v3(&c), c.cap = 12345;
    accept("expertCapacity ignored", &c);
    setup_v3(&c), ids(V3_E)[0] = -7, ids(V3_E)[3] = 1000;
    accept("ids outside [0, E) are filtered, not refused", &c);
    setup_v3_dynamic(&c);
    accept("quantMode 1 without smooth", &c);
    setup_v3(&c), c.t[V3_X].dt = ACL_INT8, c.t[V3_EX].dt = ACL_INT8;
    accept("x INT8 with quantMode -1", &c);
}

/* ---------------------------------------------------------------------------------------------------- */
/* aclnnMoeComputeExpertTokens (routing spec 9, decisions "MoeComputeExpertTokens")                     */

static void test_cet_rules(void)
{
    opcall c;
    setup_cet(&c), c.t[C_S].present = 0;
    refuse("sortedExperts NULL", &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);
    setup_cet(&c), c.t[C_OUT].present = 0;
    refuse("out NULL", &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);
    setup_cet(&c), c.null_ws = 1;
    refuse("workspaceSize out-pointer NULL", &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);
    setup_cet(&c), c.null_exe = 1;
    refuse("executor out-pointer NULL", &c, ACLNN_ERR_PARAM_NULLPTR, 1, NULL);

    for (int rule = 0; rule < 8; rule++) {
        const char *w = NULL;
        setup_cet(&c);
        switch (rule) {
        case 0: c.t[C_S].dt = ACL_INT64, w = "sortedExperts INT64"; break;
        case 1: c.t[C_S].dt = ACL_FLOAT, w = "sortedExperts FLOAT"; break;
        case 2: c.t[C_OUT].dt = ACL_INT64, w = "out INT64"; break;
        case 3: c.t[C_S].fmt = ACL_FORMAT_NCHW, w = "sortedExperts format NCHW"; break;
        case 4: c.t[C_OUT].fmt = ACL_FORMAT_NCHW, w = "out format NCHW"; break;
        case 5: c.t[C_S].storage = 5, w = "sortedExperts view outside its storage"; break;
        case 6: c.t[C_OUT].custom = 1, c.t[C_OUT].strides[0] = 2, c.t[C_OUT].storage = 6;
            w = "out non-contiguous";
            break;
        case 7: c.t[C_S].custom = 1, c.t[C_S].strides[0] = -1, w = "sortedExperts negative stride before storage";
            break;
        }
        refuse(w, &c, ACLNN_ERR_PARAM_INVALID, 1, NULL);
    }

    for (int rule = 0; rule < 9; rule++) {
        const char *w = NULL;
        setup_cet(&c);
        switch (rule) {
        case 0: c.t[C_S].rank = 2, c.t[C_S].dims[0] = 2, c.t[C_S].dims[1] = 3, w = "sortedExperts 2-D"; break;
        case 1: c.t[C_S].rank = 0, w = "sortedExperts 0-D"; break;
        case 2: c.t[C_OUT].rank = 2, c.t[C_OUT].dims[1] = 1, w = "out 2-D"; break;
        case 3: c.t[C_OUT].dims[0] = 2, w = "out [2] with numExperts 3"; break;
        case 4: c.t[C_OUT].dims[0] = 4, w = "out [4] with numExperts 3"; break;
        case 5: c.num = 0, c.t[C_OUT].dims[0] = 0, w = "numExperts 0"; break;
        case 6: c.num = -1, w = "numExperts -1"; break;
        case 7: /* device limit */
            if (!device_limits_on()) continue;
            c.num = 2049, c.t[C_OUT].dims[0] = 2049, w = "numExperts 2049 (device limit)";
            break;
        case 8: /* device limit: length 2^24 as a stride-0 view over one element (no 64 MiB needed) */
            if (!device_limits_on()) continue;
            c.t[C_S].dims[0] = (int64_t)1 << 24, c.t[C_S].custom = 1, c.t[C_S].strides[0] = 0;
            c.t[C_S].storage = 1;
            w = "sortedExperts length 2^24 (device limit)";
            break;
        }
        refuse(w, &c, ACLNN_ERR_INNER_TILING_ERROR, 1, NULL);
    }

    /* 161002 at execute */
    setup_cet(&c), ids(C_S)[5] = 3;
    refuse("value == numExperts", &c, ACLNN_ERR_PARAM_INVALID, 2, "sortedExperts");
    setup_cet(&c), ids(C_S)[0] = -1;
    refuse("negative value", &c, ACLNN_ERR_PARAM_INVALID, 2, "sortedExperts");
    setup_cet(&c), ids(C_S)[2] = 2;
    refuse("descending pair (2 then 1)", &c, ACLNN_ERR_PARAM_INVALID, 2, "sortedExperts");
    setup_cet(&c), ids(C_S)[5] = 0;
    refuse("descending pair at the end (2 then 0)", &c, ACLNN_ERR_PARAM_INVALID, 2, "sortedExperts");

    /* positive controls */
    setup_cet(&c), c.num = 2048, c.t[C_OUT].dims[0] = 2048;
    accept("numExperts 2048", &c);
    setup_cet(&c), c.t[C_S].dims[0] = 0;
    accept("empty sortedExperts", &c);
    if (device_limits_on()) {
        setup_cet(&c), c.num = 1, c.t[C_OUT].dims[0] = 1, ids(C_S)[0] = 0;
        c.t[C_S].dims[0] = ((int64_t)1 << 24) - 1, c.t[C_S].custom = 1, c.t[C_S].strides[0] = 0;
        c.t[C_S].storage = 1;
        accept("sortedExperts length 2^24 - 1 (stride-0 view)", &c);
        CHECK(ids(C_OUT)[0] == (1 << 24) - 1, "CET stride-0 view: out[0] = %d, want 16777215", (int)ids(C_OUT)[0]);
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Executors: NULL, workspace too small / NULL, aliasing, foreign, released, one-shot reuse.            */

typedef struct exinfo {
    int in_e;     /* an input position whose slot holds at least 24 bytes of data */
    int out_a;    /* output position (argument order among outputs) and its tensor position */
    int out_a_t;
    int out_b_t;  /* another output's tensor position, or -1 */
} exinfo;

static void setup_op(opcall *c, int op)
{
    switch (op) {
    case OP_V2: setup_v2(c, 0); break;
    case OP_QV2: setup_qv2(c, 1); break;
    case OP_V3: setup_v3(c); break;
    default: setup_cet(c); break;
    }
}

static void expect_exec_refusal(const char *what, int op, aclnnStatus st, aclnnStatus want)
{
    const char *msg = aclGetRecentErrMsg();
    CHECK(st == want, "%s: %s: status %d, want %d (%s)", op_names[op], what, (int)st, (int)want,
          msg ? msg : "no message");
    CHECK(msg && *msg, "%s: %s: no message", op_names[op], what);
    CHECK(aclGetRecentErrMsg() == NULL, "%s: %s: message not cleared", op_names[op], what);
    CHECK(slots_unchanged(), "%s: %s: a buffer was written", op_names[op], what);
}

static void test_executor_rules(int op)
{
    /* expandedRowIdx (output 1) aliased to expertIdx; for CET out (output 0) aliased to sortedExperts */
    const exinfo info[4] = {
        {V2_E, 1, V2_ER, V2_EX},
        {Q_E, 1, Q_ER, Q_EX},
        {V3_E, 1, V3_ER, V3_EX},
        {C_S, 0, C_OUT, -1},
    };
    const exinfo *xi = &info[op];
    opcall c;
    made m;
    setup_op(&c, op);
    make_all(&c, &m);
    memcpy(g_saved, g_slot, sizeof g_slot);
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = plan(&c, m.t, m.range, &ws_size, &exe);
    CHECK(st == ACLNN_SUCCESS && exe, "%s executor rules: plan %d (%s)", op_names[op], (int)st, errmsg());
    if (st != ACLNN_SUCCESS) {
        destroy_made(&m);
        return;
    }
    CHECK(aclSetAclOpExecutorRepeatable(exe) == ACLNN_SUCCESS, "%s: repeatable", op_names[op]);
    void *ws = NULL;
    if (ws_size) aclrtMalloc(&ws, (size_t)ws_size, ACL_MEM_MALLOC_HUGE_FIRST);

    expect_exec_refusal("NULL executor", op, execute(op, ws, ws_size, NULL), ACLNN_ERR_INNER_NULLPTR);
    if (ws_size > 0) {
        expect_exec_refusal("workspace one byte too small", op, execute(op, ws, ws_size - 1, exe),
                            ACLNN_ERR_PARAM_INVALID);
        expect_exec_refusal("workspace size 0", op, execute(op, ws, 0, exe), ACLNN_ERR_PARAM_INVALID);
        expect_exec_refusal("workspace NULL", op, execute(op, NULL, ws_size, exe), ACLNN_ERR_PARAM_INVALID);
    } else {
        printf("%s: workspace size 0, the too-small workspace rule does not apply\n", op_names[op]);
    }
    expect_exec_refusal("executor of another operator", op, execute(op == OP_V2 ? OP_V3 : OP_V2, ws, ws_size, exe),
                        ACLNN_ERR_PARAM_INVALID);

    /* an output re-pointed at an input */
    CHECK(aclSetOutputTensorAddr(exe, (size_t)xi->out_a, m.t[xi->out_a_t], g_slot[xi->in_e]) == ACLNN_SUCCESS,
          "%s: set output addr", op_names[op]);
    expect_exec_refusal("output overlapping an input", op, execute(op, ws, ws_size, exe), ACLNN_ERR_PARAM_INVALID);
    /* two outputs overlapping */
    if (xi->out_b_t >= 0) {
        CHECK(aclSetOutputTensorAddr(exe, (size_t)xi->out_a, m.t[xi->out_a_t], g_slot[xi->out_b_t]) == ACLNN_SUCCESS,
              "%s: set output addr", op_names[op]);
        expect_exec_refusal("two outputs overlapping", op, execute(op, ws, ws_size, exe), ACLNN_ERR_PARAM_INVALID);
    }
    /* the workspace overlapping an output */
    if (ws_size > 0) {
        CHECK(aclSetOutputTensorAddr(exe, (size_t)xi->out_a, m.t[xi->out_a_t], g_slot[xi->out_a_t]) ==
                  ACLNN_SUCCESS, "%s: restore output addr", op_names[op]);
        if (ws_size <= SLOT)
            expect_exec_refusal("workspace overlapping an output", op,
                                execute(op, g_slot[xi->out_a_t], ws_size, exe), ACLNN_ERR_PARAM_INVALID);
    }
    /* restored: runs */
    CHECK(aclSetOutputTensorAddr(exe, (size_t)xi->out_a, m.t[xi->out_a_t], g_slot[xi->out_a_t]) == ACLNN_SUCCESS,
          "%s: restore output addr", op_names[op]);
    st = execute(op, ws, ws_size, exe);
    CHECK(st == ACLNN_SUCCESS, "%s: repeatable run after refusals: %d (%s)", op_names[op], (int)st,
          errmsg());
    st = execute(op, ws, ws_size, exe);
    CHECK(st == ACLNN_SUCCESS, "%s: repeatable run again: %d (%s)", op_names[op], (int)st, errmsg());
    CHECK(aclDestroyAclOpExecutor(exe) == ACLNN_SUCCESS, "%s: destroy", op_names[op]);
    memcpy(g_saved, g_slot, sizeof g_slot);
    expect_exec_refusal("run after aclDestroyAclOpExecutor", op, execute(op, ws, ws_size, exe),
                        ACLNN_ERR_PARAM_INVALID);

    /* one-shot executor: second run refused */
    exe = NULL;
    st = plan(&c, m.t, m.range, &ws_size, &exe);
    CHECK(st == ACLNN_SUCCESS, "%s: plan one-shot", op_names[op]);
    if (st == ACLNN_SUCCESS) {
        CHECK(execute(op, ws, ws_size, exe) == ACLNN_SUCCESS, "%s: one-shot run (%s)", op_names[op],
              errmsg());
        memcpy(g_saved, g_slot, sizeof g_slot);
        expect_exec_refusal("second run of a one-shot executor", op, execute(op, ws, ws_size, exe),
                            ACLNN_ERR_PARAM_INVALID);
    }
    if (ws) aclrtFree(ws);
    destroy_made(&m);

    /* aliasing given at phase 1 (output tensor over an input buffer): refused by one of the two phases */
    setup_op(&c, op);
    c.t[xi->out_a_t].data = g_slot[xi->in_e];
    refuse("output tensor over an input buffer", &c, ACLNN_ERR_PARAM_INVALID, 0, NULL);
}

int main(void)
{
    acl_setup();

    test_routing_shared(0);
    test_routing_shared(1);
    test_qv2_rules();
    test_v3_rules();
    test_cet_rules();
    for (int op = OP_V2; op <= OP_CET; op++) test_executor_rules(op);

    acl_teardown();
    return mr_test_finish();
}
