/* libFuzzer harness for MoeReRouting through both APIs (aclnnMoeReRouting, moeroute_re_routing). Inputs choose
 * ranks, experts, counts (sometimes negative or not summing to the rows), dtypes (sometimes outside the allowed
 * sets), attributes, output shapes, and strided input views (negative, zero and padded strides, offsets, a
 * storage one element short). Properties: a refused call leaves every buffer untouched; an accepted call equals
 * a plain reference of layer spec 4.2 byte for byte, and so does the native API run serially on scalar
 * kernels; the native API accepts exactly the counts the aclnn API accepts at execute. Buffers are allocated to
 * their exact extent so ASan sees any access outside a view. */
#include <stdbool.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_re_routing.h"
#include "fuzz_common.h"
#include "moeroute.h"

#define SENT 0xA7
#define NT 7

typedef struct rr_buf {
    uint8_t *p; /* exact allocation */
    size_t bytes;
    aclTensor *t;
    int64_t off; /* element offset of element 0 */
    int64_t s[2];
    int short_; /* the storage is one element short of the view */
} rr_buf;

/* A tensor over a fresh storage. Inputs get random bytes and, for rank 2, strides chosen by the input; outputs
 * are contiguous. short_by: the storage is that many elements shorter than the view needs (refused). */
static aclTensor *rr_tensor(fz_reader *r, rr_buf *b, aclDataType dt, int rank, const int64_t *dims, int input)
{
    const size_t es = aclDataTypeSize(dt);
    int64_t s[2] = {rank == 2 ? dims[1] : 1, 1};
    if (input && rank == 2) {
        s[0] = FZ_PICK(r, dims[1], dims[1], dims[1] + 2, -dims[1], 0, 1);
        s[1] = FZ_PICK(r, 1, 1, 2, -1, dims[0], 0);
    } else if (input && rank == 1) {
        s[0] = FZ_PICK(r, 1, 1, 3, -2, 0);
    }
    int64_t lo, hi;
    int any = fz_view_span((uint64_t)rank, dims, s, &lo, &hi);
    int64_t off = any ? -lo + (int64_t)fz_below(r, 3) : 0;
    int64_t len = any ? off + hi + 1 : 0;
    b->short_ = any && fz_below(r, 40) == 0;
    if (b->short_) len--; /* one element short: the view is outside its storage */
    b->off = off, b->s[0] = s[0], b->s[1] = s[1];
    b->bytes = (size_t)len * es + 1; /* +1: never malloc(0) */
    b->p = malloc(b->bytes);
    memset(b->p, SENT, b->bytes);
    if (input)
        for (size_t i = 0; i < b->bytes; i++) b->p[i] = (uint8_t)fz_bits(r, 1);
    b->t = aclCreateTensor(dims, (uint64_t)rank, dt, s, off, ACL_FORMAT_ND, &len, 1, b->p);
    return b->t;
}

static int64_t rr_count(const rr_buf *b, size_t es, int64_t r, int64_t e)
{
    const uint8_t *p = b->p + (b->off + r * b->s[0] + e * b->s[1]) * (int64_t)es;
    if (es == 8) {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void rr_snapshot(const rr_buf *b, int n, uint8_t **copies)
{
    for (int i = 0; i < n; i++) {
        copies[i] = malloc(b[i].bytes + 1);
        if (b[i].bytes) memcpy(copies[i], b[i].p, b[i].bytes);
    }
}

static int rr_unchanged(const rr_buf *b, int n, uint8_t *const *copies)
{
    for (int i = 0; i < n; i++)
        if (b[i].bytes && memcmp(copies[i], b[i].p, b[i].bytes)) return 0;
    return 1;
}

enum { B_TOK, B_CNT, B_SC, B_OTOK, B_OSC, B_OIDX, B_ONUM };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader rd = {data, size}, *r = &rd;
    const int64_t R = (int64_t)fz_below(r, 4) + 1, E = (int64_t)fz_below(r, 5) + 1, H = FZ_PICK(r, 1, 2, 3, 5, 0);
    const aclDataType tdt = (aclDataType)FZ_PICK(r, ACL_FLOAT16, ACL_BF16, ACL_INT8, ACL_FLOAT16, ACL_FLOAT);
    const aclDataType cdt = (aclDataType)FZ_PICK(r, ACL_INT32, ACL_INT64, ACL_INT32, ACL_INT16);
    const int64_t num_type = FZ_PICK(r, 1, 1, 1, 1, 0), idx_type = FZ_PICK(r, 0, 0, 0, 0, 1);
    const int scales = (int)fz_below(r, 2), wrong = fz_below(r, 12) == 0;
    /* counts: small, sometimes one negative or one off; the rows A follow the intended sum */
    int64_t cnt[20], A = 0;
    for (int64_t i = 0; i < R * E; i++) A += cnt[i] = (int64_t)fz_below(r, 4) * (fz_below(r, 3) != 0);
    const int64_t bad = FZ_PICK(r, 0, 0, 0, 0, 0, 1, 2); /* 1: one count -1, 2: one count +1 */
    if (bad) cnt[fz_below(r, (uint64_t)(R * E))] += bad == 1 ? -1 : 1;

    rr_buf b[NT];
    memset(b, 0, sizeof b);
    const int64_t td[2] = {A, H}, cd[2] = {R, E}, od[2] = {A + wrong, H};
    rr_tensor(r, &b[B_TOK], tdt, 2, td, 1);
    rr_tensor(r, &b[B_CNT], cdt, 2, cd, 1);
    const size_t ces = aclDataTypeSize(cdt);
    if ((cdt == ACL_INT32 || cdt == ACL_INT64) && !b[B_CNT].short_) {
        /* the chosen counts, through the view; then what the view reads (a zero stride repeats one element) */
        for (int64_t i = 0; i < R * E; i++) {
            uint8_t *p = b[B_CNT].p + (b[B_CNT].off + (i / E) * b[B_CNT].s[0] + (i % E) * b[B_CNT].s[1]) * (int64_t)ces;
            int32_t v = (int32_t)cnt[i];
            memcpy(p, ces == 8 ? (const void *)&cnt[i] : (const void *)&v, ces);
        }
        for (int64_t i = 0; i < R * E; i++) cnt[i] = rr_count(&b[B_CNT], ces, i / E, i % E);
    }
    if (scales) rr_tensor(r, &b[B_SC], ACL_FLOAT, 1, &A, 1);
    rr_tensor(r, &b[B_OTOK], tdt, 2, od, 0);
    rr_tensor(r, &b[B_OSC], ACL_FLOAT, 1, &A, 0);
    rr_tensor(r, &b[B_OIDX], ACL_INT32, 1, &A, 0);
    rr_tensor(r, &b[B_ONUM], cdt, 1, &E, 0);
    uint8_t *copies[NT];
    rr_snapshot(b, NT, copies);

    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeReRoutingGetWorkspaceSize(b[B_TOK].t, b[B_CNT].t, b[B_SC].t, num_type, idx_type,
                                                       b[B_OTOK].t, b[B_OSC].t, b[B_OIDX].t, b[B_ONUM].t, &ws, &exe);
    int phase2 = st == ACLNN_SUCCESS;
    if (phase2) {
        void *w = malloc(ws ? ws : 1);
        st = aclnnMoeReRouting(w, ws, exe, NULL);
        free(w);
    }
    /* does the input satisfy every documented rule? (then the call must succeed) */
    int64_t sum = 0;
    int counts_ok = 1;
    for (int64_t i = 0; i < R * E; i++) counts_ok &= cnt[i] >= 0, sum += cnt[i];
    counts_ok &= sum == A;
    int legal = H > 0 && tdt != ACL_FLOAT && cdt != ACL_INT16 && num_type == 1 && idx_type == 0 && !wrong;
    for (int i = 0; i < NT; i++) legal &= !b[i].short_;
    if (st != ACLNN_SUCCESS) {
        aclGetRecentErrMsg();
        FZ_ASSERT(rr_unchanged(b, NT, copies), "refused call (status %d) changed a buffer", (int)st);
        FZ_ASSERT(!(legal && counts_ok && phase2), "valid counts refused at execute: %d", (int)st);
        FZ_ASSERT(!(phase2 && legal && !counts_ok) || st == ACLNN_ERR_PARAM_INVALID, "bad counts gave %d", (int)st);
    } else {
        FZ_ASSERT(legal && counts_ok, "accepted an input outside the rules (H %lld, counts ok %d)", (long long)H,
                  counts_ok);
        const size_t es = aclDataTypeSize(tdt);
        /* reference: walk experts, then ranks; the source start of block (r, e) sums the blocks before it */
        const uint8_t *tok = b[B_TOK].p;
        const int32_t *idx = (const int32_t *)(void *)(b[B_OIDX].p + b[B_OIDX].off * 4);
        const float *osc = (const float *)(void *)(b[B_OSC].p + b[B_OSC].off * 4);
        const uint8_t *otok = b[B_OTOK].p + b[B_OTOK].off * (int64_t)es;
        int64_t d = 0;
        for (int64_t e = 0; e < E; e++) {
            int64_t total = 0;
            for (int64_t rr = 0; rr < R; rr++) {
                int64_t s0 = 0;
                for (int64_t q = 0; q < rr * E + e; q++) s0 += cnt[q];
                for (int64_t t = 0; t < cnt[rr * E + e]; t++, d++) {
                    const int64_t s = s0 + t;
                    FZ_ASSERT(idx[d] == s, "permuteTokenIdxOut[%lld] = %d, want %lld", (long long)d, idx[d], (long long)s);
                    for (int64_t h = 0; h < H; h++)
                        FZ_ASSERT(!memcmp(otok + (d * H + h) * (int64_t)es,
                                          tok + (b[B_TOK].off + s * b[B_TOK].s[0] + h * b[B_TOK].s[1]) * (int64_t)es, es),
                                  "permuteTokensOut[%lld][%lld] differs", (long long)d, (long long)h);
                    float want = 0.0f;
                    if (scales) memcpy(&want, b[B_SC].p + (b[B_SC].off + s * b[B_SC].s[0]) * 4, 4);
                    FZ_ASSERT(!memcmp(&osc[d], &want, 4), "permutePerTokenScalesOut[%lld] differs", (long long)d);
                }
                total += cnt[rr * E + e];
            }
            FZ_ASSERT(rr_count(&b[B_ONUM], ces, 0, e) == total, "expertTokenNumOut[%lld] differs", (long long)e);
        }
        /* the native API, serial and scalar, on copies of the outputs */
        uint8_t *mine[NT];
        rr_snapshot(b, NT, mine);
        for (int i = B_OTOK; i < NT; i++) memcpy(b[i].p, copies[i], b[i].bytes);
        moeroute_re_routing_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = A, a.hidden = H, a.num_ranks = R, a.num_experts = E;
        a.tokens_dtype = (moeroute_dtype)tdt;
        a.tokens = b[B_TOK].p + b[B_TOK].off * (int64_t)es, a.tokens_row_stride = b[B_TOK].s[0];
        a.tokens_col_stride = b[B_TOK].s[1];
        a.counts_int64 = cdt == ACL_INT64;
        a.counts = b[B_CNT].p + b[B_CNT].off * (int64_t)ces;
        a.counts_row_stride = b[B_CNT].s[0], a.counts_col_stride = b[B_CNT].s[1];
        if (scales) a.scales = (const float *)(void *)(b[B_SC].p + b[B_SC].off * 4), a.scales_stride = b[B_SC].s[0];
        a.permuted_tokens = b[B_OTOK].p + b[B_OTOK].off * (int64_t)es;
        a.permuted_scales = (float *)(void *)(b[B_OSC].p + b[B_OSC].off * 4);
        a.permuted_idx = (int32_t *)(void *)(b[B_OIDX].p + b[B_OIDX].off * 4);
        a.expert_tokens = b[B_ONUM].p + b[B_ONUM].off * (int64_t)ces;
        moeroute_status ns = moeroute_re_routing(fz_serial(), &a);
        FZ_ASSERT(ns == MOEROUTE_OK, "native refused what aclnn accepted: %s", moeroute_error_message());
        FZ_ASSERT(rr_unchanged(b, NT, mine), "aclnn differs from the serial scalar native run");
        for (int i = 0; i < NT; i++) free(mine[i]);
    }
    for (int i = 0; i < NT; i++) {
        aclDestroyTensor(b[i].t);
        free(b[i].p);
        free(copies[i]);
    }
    return 0;
}
