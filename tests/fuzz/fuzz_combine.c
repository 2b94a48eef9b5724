/* libFuzzer harness for the operators around the expert FFN: aclnnMoeTokenPermute, aclnnMoeTokenUnpermute and
 * aclnnMoeFinalizeRoutingV2, with fuzzed shapes, attributes, strided input views (zero and negative strides,
 * offsets, storage = exactly the reachable span), dtypes and data: raw bytes for the rows (NaN, inf,
 * subnormals), indices mostly in range (negative and past-the-end ones too). Properties: a refused call
 * leaves every buffer untouched and leaves a message; an accepted aclnn call equals the native API run
 * serially on scalar kernels byte for byte; MoeTokenPermute's sorted indices are a permutation of the output
 * rows (for the rows it writes). */
#include <stdbool.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_finalize_routing_v2.h"
#include "aclnnop/aclnn_moe_token_permute.h"
#include "aclnnop/aclnn_moe_token_unpermute.h"
#include "fuzz_common.h"
#include "moeroute.h"

#define SENT 0xA7

static const aclDataType g_floats[] = {ACL_FLOAT16, ACL_BF16, ACL_FLOAT};

static int64_t stride_of(const fz_case *c, int i, int d) { return c->b[i].st[d]; }


static void fuzz_permute(fz_reader *r)
{
    const int64_t T = (int64_t)fz_below(r, 7), H = FZ_PICK(r, 1, 2, 3, 8, 0), k = FZ_PICK(r, 1, 2, 3, 4, 0);
    const int one_d = fz_below(r, 4) == 0;
    const aclDataType tdt = fz_below(r, 8) ? (fz_below(r, 4) ? g_floats[fz_below(r, 3)] : ACL_INT8) : ACL_INT32;
    const aclDataType idt = fz_below(r, 2) ? ACL_INT32 : ACL_INT64;
    const int64_t num_out = FZ_PICK(r, 0, 0, 1, 3, -1, -2, 100);
    const int64_t kk = one_d ? 1 : k, L = T * kk;
    int64_t n = num_out <= 0 ? num_out + L : num_out;
    n = n < 0 ? 0 : n > L ? L : n;
    if (fz_below(r, 16) == 0) n++; /* a wrong output row count */
    fz_case c = {0};
    const int64_t td[2] = {T, H}, id[2] = {T, kk}, od[2] = {n, H}, sd = L;
    aclTensor *tok = fz_view_input(r, &c, tdt, 2, td);
    aclTensor *idx = fz_view_input(r, &c, idt, one_d ? 1 : 2, id);
    fz_fill_ids(r, &c, 1, idt, -1, 9);
    const int first_out = c.nb;
    aclTensor *out = fz_view_output(&c, tdt, 2, od, SENT);
    aclTensor *sorted = fz_view_output(&c, ACL_INT32, 1, &sd, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeTokenPermuteGetWorkspaceSize(tok, idx, num_out, fz_below(r, 16) == 0, out, sorted, &ws,
                                                          &exe);
    st = fz_execute(st, ws, exe, aclnnMoeTokenPermute);
    if (st != ACLNN_SUCCESS) {
        fz_refused(&c, copies, st, "TokenPermute");
    } else {
        const int32_t *s = (const int32_t *)(const void *)c.b[first_out + 1].p;
        uint8_t seen[64] = {0};
        for (int64_t f = 0; f < L && L <= 64; f++) {
            FZ_ASSERT(s[f] >= 0 && s[f] < L && !seen[s[f]], "sorted index %lld = %d: not a permutation", (long long)f,
                      s[f]);
            seen[s[f]] = 1;
        }
        moeroute_token_permute_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_tokens = T, a.k = kk, a.hidden = H, a.num_out_tokens = num_out, a.tokens_dtype = (moeroute_dtype)tdt;
        a.tokens = fz_at(&c, 0), a.tokens_row_stride = stride_of(&c, 0, 0), a.tokens_col_stride = stride_of(&c, 0, 1);
        a.indices_int64 = idt == ACL_INT64, a.indices = fz_at(&c, 1);
        a.indices_row_stride = stride_of(&c, 1, 0), a.indices_col_stride = one_d ? 1 : stride_of(&c, 1, 1);
        a.permuted_tokens = c.b[first_out].p, a.sorted_indices = (int32_t *)(void *)c.b[first_out + 1].p;
        FZ_COMPARE_NATIVE(moeroute_token_permute(fz_serial(), &a), "TokenPermute");
    }
    fz_free(&c, copies);
}

static void fuzz_unpermute(fz_reader *r)
{
    const int64_t T = (int64_t)fz_below(r, 6), k = FZ_PICK(r, 1, 2, 3, 0), H = FZ_PICK(r, 1, 2, 5, 0);
    const int64_t M = FZ_PICK(r, 0, 1, 3, 6, 12);
    const int has_probs = fz_below(r, 4) != 0;
    const int64_t kk = has_probs ? k : 1, L = T * kk + (fz_below(r, 16) == 0);
    const aclDataType tdt = fz_below(r, 16) ? g_floats[fz_below(r, 3)] : ACL_INT8;
    const aclDataType pdt = g_floats[fz_below(r, 3)];
    fz_case c = {0};
    const int64_t md[2] = {M, H}, pd[2] = {T, kk}, od[2] = {T, H};
    aclTensor *rows = fz_view_input(r, &c, tdt, 2, md);
    aclTensor *idx = fz_view_input(r, &c, ACL_INT32, 1, &L);
    fz_fill_ids(r, &c, 1, ACL_INT32, fz_below(r, 8) == 0 ? -2 : 0, (uint64_t)M + 3);
    aclTensor *probs = has_probs ? fz_view_input(r, &c, pdt, 2, pd) : NULL;
    if (probs && fz_below(r, 2)) /* some probabilities exactly +-0: those slots are skipped */
        for (size_t j = 0; j + 1 < c.b[2].bytes; j += fz_below(r, 5) + 1) c.b[2].p[j] = 0;
    const int first_out = c.nb;
    aclTensor *out = fz_view_output(&c, tdt, 2, od, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeTokenUnpermuteGetWorkspaceSize(rows, idx, probs, fz_below(r, 32) == 0, NULL, out, &ws,
                                                            &exe);
    st = fz_execute(st, ws, exe, aclnnMoeTokenUnpermute);
    if (st != ACLNN_SUCCESS) {
        fz_refused(&c, copies, st, "TokenUnpermute");
    } else {
        moeroute_token_unpermute_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_tokens = T, a.k = kk, a.hidden = H, a.permuted_rows = M, a.tokens_dtype = (moeroute_dtype)tdt;
        a.permuted_tokens = fz_at(&c, 0), a.permuted_row_stride = stride_of(&c, 0, 0);
        a.permuted_col_stride = stride_of(&c, 0, 1);
        a.sorted_indices = (const int32_t *)fz_at(&c, 1);
        if (probs) {
            a.probs_dtype = (moeroute_dtype)pdt, a.probs = fz_at(&c, 2);
            a.probs_row_stride = stride_of(&c, 2, 0), a.probs_col_stride = stride_of(&c, 2, 1);
        }
        a.out = c.b[first_out].p;
        /* the native API takes sorted_indices contiguous: compare only when the fuzzed view is */
        if (stride_of(&c, 1, 0) == 1 || L <= 1)
            FZ_COMPARE_NATIVE(moeroute_token_unpermute(fz_serial(), &a), "TokenUnpermute");
    }
    fz_free(&c, copies);
}

static void fuzz_finalize(fz_reader *r)
{
    const int64_t N = (int64_t)fz_below(r, 5), K = FZ_PICK(r, 1, 2, 3), H = FZ_PICK(r, 1, 3, 4, 0);
    const int64_t E = FZ_PICK(r, 1, 2, 3), mode = FZ_PICK(r, 0, 0, 1, 2, 3, 4);
    const int drop = mode == 1 || mode == 3;
    const int64_t C = FZ_PICK(r, 1, 2, 4), M = drop ? E * C : N * K + (int64_t)fz_below(r, 3);
    const aclDataType xdt = fz_below(r, 16) ? g_floats[fz_below(r, 3)] : ACL_INT32;
    const aclDataType sdt = xdt == ACL_BF16 && fz_below(r, 2) ? ACL_FLOAT : xdt;
    const int has_x1 = (int)fz_below(r, 2), has_x2 = (int)fz_below(r, 2), has_bias = (int)fz_below(r, 2);
    const int has_scales = fz_below(r, 4) != 0;
    const int64_t KK = has_scales ? K : 1, NK = N * KK;
    fz_case c = {0};
    const int64_t xd3[3] = {E, C, H}, xd2[2] = {M, H}, nh[2] = {N, H}, eh[2] = {E, H}, nk[2] = {N, KK};
    aclTensor *ex = drop ? fz_view_input(r, &c, xdt, 3, xd3) : fz_view_input(r, &c, xdt, 2, xd2);
    aclTensor *ri = fz_view_input(r, &c, ACL_INT32, 1, &NK);
    fz_fill_ids(r, &c, 1, ACL_INT32, drop ? -1 : 0, (uint64_t)(drop ? E * C + 1 : M));
    aclTensor *x1 = has_x1 ? fz_view_input(r, &c, xdt, 2, nh) : NULL;
    const int i_x1 = c.nb - 1;
    aclTensor *x2 = has_x2 ? fz_view_input(r, &c, xdt, 2, nh) : NULL;
    const int i_x2 = c.nb - 1;
    aclTensor *bias = has_bias ? fz_view_input(r, &c, xdt, 2, eh) : NULL;
    const int i_b = c.nb - 1;
    aclTensor *sc = has_scales ? fz_view_input(r, &c, sdt, 2, nk) : NULL;
    const int i_s = c.nb - 1;
    aclTensor *eidx = has_bias || fz_below(r, 2) ? fz_view_input(r, &c, ACL_INT32, 2, nk) : NULL;
    const int i_e = c.nb - 1;
    if (eidx) fz_fill_ids(r, &c, i_e, ACL_INT32, 0, (uint64_t)E + (fz_below(r, 8) == 0));
    const int first_out = c.nb;
    aclTensor *out = fz_view_output(&c, xdt, 2, nh, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeFinalizeRoutingV2GetWorkspaceSize(ex, ri, x1, x2, bias, sc, eidx, mode, out, &ws, &exe);
    st = fz_execute(st, ws, exe, aclnnMoeFinalizeRoutingV2);
    if (st != ACLNN_SUCCESS) {
        fz_refused(&c, copies, st, "FinalizeRoutingV2");
        fz_free(&c, copies);
        return;
    }
    /* the native API takes everything but expanded_x contiguous: compare when the fuzzed views are */
    int contiguous = c.b[1].st[0] == 1 || NK <= 1;
    const struct {
        int i;
        const int64_t *d;
    } two_d[] = {{x1 ? i_x1 : -1, nh}, {x2 ? i_x2 : -1, nh}, {bias ? i_b : -1, eh}, {sc ? i_s : -1, nk},
                 {eidx ? i_e : -1, nk}};
    for (size_t t = 0; t < sizeof two_d / sizeof two_d[0]; t++) {
        if (two_d[t].i < 0) continue;
        const int64_t *vs = c.b[two_d[t].i].st, *d = two_d[t].d;
        contiguous &= (d[1] <= 1 || vs[1] == 1) && (d[0] <= 1 || vs[0] == d[1]);
    }
    if (contiguous) {
        moeroute_finalize_routing_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.version = 2, a.drop_pad_mode = (int32_t)mode, a.num_rows = N, a.k = KK, a.hidden = H, a.expanded_rows = M;
        a.num_experts = E, a.x_dtype = (moeroute_dtype)xdt, a.scales_dtype = (moeroute_dtype)sdt;
        /* [E, C, H] read as [E*C, H]: the row stride is that of the inner of E, C whose size is not 1 */
        a.expanded_x = fz_at(&c, 0), a.expanded_x_row_stride = stride_of(&c, 0, drop && C != 1 ? 1 : 0);
        a.expanded_x_col_stride = stride_of(&c, 0, drop ? 2 : 1);
        a.expanded_row_idx = (const int32_t *)fz_at(&c, 1);
        a.x1 = x1 ? fz_at(&c, i_x1) : NULL, a.x2 = x2 ? fz_at(&c, i_x2) : NULL;
        a.bias = bias ? fz_at(&c, i_b) : NULL, a.scales = sc ? fz_at(&c, i_s) : NULL;
        a.expert_idx = eidx ? (const int32_t *)fz_at(&c, i_e) : NULL;
        a.out = c.b[first_out].p;
        /* and one row stride exists only when the E and C strides chain */
        if (!drop || C <= 1 || E <= 1 || stride_of(&c, 0, 0) == stride_of(&c, 0, 1) * C)
            FZ_COMPARE_NATIVE(moeroute_finalize_routing(fz_serial(), &a), "FinalizeRoutingV2");
    }
    fz_free(&c, copies);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    switch (fz_below(&r, 3)) {
    case 0: fuzz_permute(&r); break;
    case 1: fuzz_unpermute(&r); break;
    default: fuzz_finalize(&r); break;
    }
    return 0;
}
