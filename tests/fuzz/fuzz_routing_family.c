/* libFuzzer harness for the routing family's aclnn entry points (MoeInitRoutingV2, QuantV2, V3,
 * ComputeExpertTokens). Properties: a refused call leaves every output byte untouched; an accepted call equals
 * the native API run serially on scalar kernels byte for byte; V2 dropless index maps describe the stable
 * ascending order of the ids. Tensors sometimes come without storage dims or with offsets; buffers are
 * allocated to their exact extent so ASan sees any access outside a view. */
#include <stdbool.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_compute_expert_tokens.h"
#include "aclnnop/aclnn_moe_init_routing_quant_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v2.h"
#include "aclnnop/aclnn_moe_init_routing_v3.h"
#include "fuzz_common.h"
#include "moeroute.h"

#define SENT 0xA7

static size_t esize(aclDataType dt) { return aclDataTypeSize(dt); }

/* A contiguous tensor of `rank` dims; inputs get random bytes (ids small), and sometimes an offset with or
 * without storage dims (without them a non-zero offset must be refused). */
static aclTensor *fz_tensor(fz_reader *r, fz_case *c, aclDataType dt, int rank, const int64_t *dims, int input,
                            int32_t id_range)
{
    fz_buf *b = &c->b[c->nb++];
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i] > 0 ? dims[i] : 0; /* a negative dim: aclCreateTensor refuses it */
    int64_t off = fz_below(r, 4) == 0 ? (int64_t)fz_below(r, 3) : 0;
    int storage = fz_below(r, 4) != 0;
    int64_t slen = n + (storage ? off : 0);
    b->bytes = (size_t)slen * esize(dt) + 1; /* +1: never malloc(0) */
    b->p = malloc(b->bytes);
    memset(b->p, SENT, b->bytes);
    if (input) {
        for (size_t i = 0; i < b->bytes; i++) b->p[i] = (uint8_t)fz_bits(r, 1);
        if (dt == ACL_INT32 && id_range > 0)
            for (int64_t i = 0; i < slen; i++) {
                int32_t v = (int32_t)fz_below(r, (uint64_t)id_range + 2) - 1; /* -1 .. id_range */
                memcpy(b->p + i * 4, &v, 4);
            }
        if (dt == ACL_FLOAT)
            for (int64_t i = 0; i < slen; i++) {
                float v = (float)((int)fz_below(r, 2001) - 1000) / 64.0f;
                memcpy(b->p + i * 4, &v, 4);
            }
    }
    int64_t sd = slen;
    b->t = aclCreateTensor(dims, (uint64_t)rank, dt, NULL, off, ACL_FORMAT_ND, storage ? &sd : NULL, storage ? 1 : 0,
                           b->p);
    return b->t;
}

static void fuzz_v2(fz_reader *r)
{
    const int quant = (int)fz_below(r, 2);
    const int64_t N = (int64_t)fz_below(r, 9), K = (int64_t)fz_below(r, 4), H = (int64_t)fz_below(r, 6);
    const int64_t E = FZ_PICK(r, 0, 1, 3, 5), C = FZ_PICK(r, 0, 1, 2, 3, -1), drop = FZ_PICK(r, 0, 0, 1, 2);
    const int64_t flag = FZ_PICK(r, 0, 1, 2, 3), qm = quant ? FZ_PICK(r, 0, 1, 1, 2) : -1;
    const int64_t active = FZ_PICK(r, 0, 1, 3, 100, -1);
    const bool before = fz_below(r, 2);
    const aclDataType xdt = (aclDataType)FZ_PICK(r, ACL_FLOAT16, ACL_BF16, ACL_FLOAT, ACL_INT32);
    const int64_t L = N * K, A = drop == 1 ? E * C : (active == 0 || active > L ? L : active < 0 ? 0 : active);
    const int64_t wrong = fz_below(r, 8) == 0; /* one output with a wrong first dim */
    fz_case c = {0};
    const int64_t xd[2] = {N, H}, ed[2] = {N, K}, one = 1, sm[2] = {FZ_PICK(r, 1, E), H};
    const int64_t exd3[3] = {E, C + wrong, H}, exd2[2] = {A + wrong, H}, ld = L, el = E, dl = drop == 1 ? E * C : A;
    aclTensor *x = fz_tensor(r, &c, xdt, 2, xd, 1, 0);
    aclTensor *e = fz_tensor(r, &c, ACL_INT32, 2, ed, 1, (int32_t)(E ? E : 4));
    aclTensor *s = NULL, *o = NULL;
    if (quant && qm == 0) s = fz_tensor(r, &c, ACL_FLOAT, 1, &one, 1, 0), o = fz_tensor(r, &c, ACL_FLOAT, 1, &one, 1, 0);
    if (quant && qm == 1 && fz_below(r, 2)) s = fz_tensor(r, &c, ACL_FLOAT, 2, sm, 1, 0);
    const aclDataType odt = quant ? ACL_INT8 : xdt;
    const int first_out = c.nb;
    aclTensor *ox = drop == 1 ? fz_tensor(r, &c, odt, 3, exd3, 0, 0) : fz_tensor(r, &c, odt, 2, exd2, 0, 0);
    aclTensor *orow = fz_tensor(r, &c, ACL_INT32, 1, &ld, 0, 0);
    aclTensor *ocnt = fz_below(r, 4) ? fz_tensor(r, &c, ACL_INT32, 1, &el, 0, 0) : NULL;
    aclTensor *obef = fz_below(r, 4) ? fz_tensor(r, &c, ACL_INT32, 1, &el, 0, 0) : NULL;
    aclTensor *odq = quant && fz_below(r, 4) ? fz_tensor(r, &c, ACL_FLOAT, 1, &dl, 0, 0) : NULL;
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st;
    if (quant) {
        st = aclnnMoeInitRoutingQuantV2GetWorkspaceSize(x, e, s, o, active, C, E, drop, flag, before, qm, ox, orow, ocnt,
                                                        obef, odq, &ws, &exe);
        st = fz_execute(st, ws, exe, aclnnMoeInitRoutingQuantV2);
    } else {
        st = aclnnMoeInitRoutingV2GetWorkspaceSize(x, e, active, C, E, drop, flag, before, ox, orow, ocnt, obef, &ws, &exe);
        st = fz_execute(st, ws, exe, aclnnMoeInitRoutingV2);
    }
    if (st != ACLNN_SUCCESS) {
        aclGetRecentErrMsg();
        FZ_ASSERT(fz_unchanged(&c, copies, 0), "refused V2 call (status %d) changed a buffer", (int)st);
    } else {
        /* the native API, serial and scalar, on copies of the outputs */
        uint8_t *mine[FZ_MAXT];
        fz_keep_and_reset(&c, mine, copies, first_out);
        moeroute_init_routing_v2_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = N, a.k = K, a.hidden = H, a.active_num = active, a.expert_capacity = C, a.expert_num = E;
        a.drop_pad_mode = (int32_t)drop, a.count_flag = (int32_t)flag, a.before_capacity_flag = before;
        a.quant_mode = (int32_t)qm;
        a.x_dtype = (moeroute_dtype)xdt, a.x = fz_at(&c, 0), a.x_row_stride = H, a.x_col_stride = 1;
        a.expert_idx = fz_at(&c, 1), a.expert_row_stride = K, a.expert_col_stride = 1;
        if (s) a.scale = fz_at(&c, 2), a.scale_rows = sm[0];
        if (o) a.offset = fz_at(&c, 3);
        a.expanded_x = fz_at(&c, first_out), a.expanded_row_idx = fz_at(&c, first_out + 1);
        int k = first_out + 2;
        if (ocnt) a.expert_tokens = fz_at(&c, k++);
        if (obef) a.expert_tokens_before_capacity = fz_at(&c, k++);
        if (odq) a.dynamic_quant_scale = fz_at(&c, k++);
        moeroute_status ns = moeroute_init_routing_v2(fz_serial(), &a);
        FZ_ASSERT(ns == MOEROUTE_OK, "native refused what aclnn accepted: %s", moeroute_error_message());
        FZ_ASSERT(fz_unchanged(&c, mine, 0), "aclnn V2 differs from the serial scalar native run");
        fz_free_copies(&c, mine);
        if (drop == 0 && L > 0) { /* the index map is a stable ascending order of the ids */
            const int32_t *keys = fz_at(&c, 1), *erow = fz_at(&c, first_out + 1);
            int32_t *rows = malloc((size_t)L * 4), *eexp = malloc((size_t)L * 4);
            for (int64_t f = 0; f < L; f++) rows[f] = (int32_t)f;
            for (int64_t f = 0; f < L; f++)
                if (erow[f] >= 0 && erow[f] < L) eexp[erow[f]] = keys[f];
            FZ_ASSERT(fz_is_stable_routing(keys, rows, erow, eexp, (size_t)L), "V2 index map is not a stable order");
            free(rows), free(eexp);
        }
    }
    fz_free(&c, copies);
}

static void fuzz_v3(fz_reader *r)
{
    const int64_t N = (int64_t)fz_below(r, 9), K = (int64_t)fz_below(r, 4), H = (int64_t)fz_below(r, 6);
    const int64_t E = FZ_PICK(r, 0, 1, 4, 6), qm = FZ_PICK(r, -1, 1, 1, 0), ntype = FZ_PICK(r, 1, 2, 2, 0);
    const int64_t rit = FZ_PICK(r, 0, 1, 1, 2), L = N * K, active = FZ_PICK(r, -1, L, L + 1);
    const int64_t lo = (int64_t)fz_below(r, 3), hi = lo + 1 + (int64_t)fz_below(r, 4);
    const int range_kind = (int)fz_below(r, 3); /* NULL, empty, [lo, hi) */
    const aclDataType xdt = (aclDataType)FZ_PICK(r, ACL_FLOAT16, ACL_BF16, ACL_FLOAT, ACL_INT8);
    const int64_t span = range_kind == 2 ? hi - lo : E, rlo = range_kind == 2 ? lo : 0;
    fz_case c = {0};
    const int64_t xd[2] = {N, H}, ed[2] = {N, K}, od[2] = {L, H}, sd2[2] = {span, H}, cd1 = span, cd2[2] = {E, 2};
    aclTensor *x = fz_tensor(r, &c, xdt, 2, xd, 1, 0);
    aclTensor *e = fz_tensor(r, &c, ACL_INT32, 2, ed, 1, (int32_t)(E + 2));
    const int with_scale = (int)fz_below(r, 2);
    aclTensor *s = !with_scale ? NULL : qm == 1 ? fz_tensor(r, &c, ACL_FLOAT, 2, sd2, 1, 0) : fz_tensor(r, &c, ACL_FLOAT, 1, &N, 1, 0);
    const int first_out = c.nb;
    aclTensor *ox = fz_tensor(r, &c, qm == 1 ? ACL_INT8 : xdt, 2, od, 0, 0);
    aclTensor *orow = fz_tensor(r, &c, ACL_INT32, 1, &L, 0, 0);
    aclTensor *ocnt = ntype == 1 ? fz_tensor(r, &c, ACL_INT64, 1, &cd1, 0, 0) : fz_tensor(r, &c, ACL_INT64, 2, cd2, 0, 0);
    aclTensor *osc = fz_tensor(r, &c, ACL_FLOAT, 1, &L, 0, 0);
    const int64_t range[2] = {lo, hi};
    aclIntArray *ra = range_kind == 0 ? NULL : aclCreateIntArray(range, range_kind == 2 ? 2 : 0);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeInitRoutingV3GetWorkspaceSize(x, e, s, NULL, active, -1, E, 0, ntype, true, qm, ra, rit, ox,
                                                           orow, ocnt, osc, &ws, &exe);
    st = fz_execute(st, ws, exe, aclnnMoeInitRoutingV3);
    if (st != ACLNN_SUCCESS) {
        aclGetRecentErrMsg();
        FZ_ASSERT(fz_unchanged(&c, copies, 0), "refused V3 call (status %d) changed a buffer", (int)st);
    } else {
        uint8_t *mine[FZ_MAXT];
        fz_keep_and_reset(&c, mine, copies, first_out);
        moeroute_init_routing_v3_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = N, a.k = K, a.hidden = H, a.expert_num = E, a.range_start = rlo, a.range_end = rlo + span;
        a.tokens_num_type = (int32_t)ntype, a.quant_mode = (int32_t)qm, a.row_idx_type = (int32_t)rit;
        a.x_dtype = (moeroute_dtype)xdt, a.x = fz_at(&c, 0), a.x_row_stride = H, a.x_col_stride = 1;
        a.expert_idx = fz_at(&c, 1), a.expert_row_stride = K, a.expert_col_stride = 1;
        if (s) a.scale = fz_at(&c, 2);
        a.expanded_x = fz_at(&c, first_out), a.expanded_row_idx = fz_at(&c, first_out + 1);
        a.expert_tokens = fz_at(&c, first_out + 2), a.expanded_scale = fz_at(&c, first_out + 3);
        moeroute_status ns = moeroute_init_routing_v3(fz_serial(), &a);
        FZ_ASSERT(ns == MOEROUTE_OK, "native refused what aclnn accepted: %s", moeroute_error_message());
        FZ_ASSERT(fz_unchanged(&c, mine, 0), "aclnn V3 differs from the serial scalar native run");
        fz_free_copies(&c, mine);
    }
    aclDestroyIntArray(ra);
    fz_free(&c, copies);
}

static void fuzz_cet(fz_reader *r)
{
    const int64_t len = (int64_t)fz_below(r, 12), E = FZ_PICK(r, 0, 1, 3, 5, 2049), oute = FZ_PICK(r, E, E, E, 2);
    fz_case c = {0};
    aclTensor *in = fz_tensor(r, &c, ACL_INT32, 1, &len, 1, (int32_t)(E > 0 && E < 8 ? E : 4));
    if (fz_below(r, 2)) { /* often ascending: sort the whole storage (the view may start at an offset) */
        int32_t *v = (int32_t *)(void *)c.b[0].p;
        const int64_t n = (int64_t)(c.b[0].bytes / 4);
        for (int64_t i = 1; i < n; i++)
            for (int64_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
                int32_t t = v[j];
                v[j] = v[j - 1], v[j - 1] = t;
            }
    }
    aclTensor *out = fz_tensor(r, &c, ACL_INT32, 1, &oute, 0, 0);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeComputeExpertTokensGetWorkspaceSize(in, E, out, &ws, &exe);
    st = fz_execute(st, ws, exe, aclnnMoeComputeExpertTokens);
    if (st != ACLNN_SUCCESS) {
        aclGetRecentErrMsg();
        FZ_ASSERT(fz_unchanged(&c, copies, 0), "refused ComputeExpertTokens (status %d) changed a buffer", (int)st);
    } else {
        const int32_t *v = fz_at(&c, 0), *o = fz_at(&c, 1);
        for (int64_t e = 0; e < E; e++) {
            int32_t want = 0;
            for (int64_t i = 0; i < len; i++) want += v[i] <= e;
            FZ_ASSERT(o[e] == want, "out[%lld] = %d, want %d", (long long)e, o[e], want);
        }
    }
    fz_free(&c, copies);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    switch (fz_below(&r, 3)) {
    case 0: fuzz_v2(&r); break;
    case 1: fuzz_v3(&r); break;
    default: fuzz_cet(&r); break;
    }
    return 0;
}
