/* libFuzzer harness for the gating operators: aclnnMoeGatingTopK, aclnnMoeGatingTopKSoftmax, ...SoftmaxV2 and
 * the native moeroute_gating_top_k / moeroute_gating_top_k_softmax, with fuzzed shapes, attributes, strides
 * (zero and negative too), offsets, storage dims and data (raw bytes: NaN, inf, subnormals). Properties: a
 * refused call leaves every buffer untouched and leaves a message; an accepted aclnn call equals the native API
 * run serially on scalar kernels byte for byte; every row's expert indices are distinct and in [0, E) (E for
 * every slot of a finished row); the native API never crashes on fuzzed arguments. Buffers are allocated to
 * their exact extent so ASan sees any access outside a view. */
#include <stdbool.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_gating_top_k.h"
#include "aclnnop/aclnn_moe_gating_top_k_softmax.h"
#include "aclnnop/aclnn_moe_gating_top_k_softmax_v2.h"
#include "fuzz_common.h"
#include "moeroute.h"

#define SENT 0xA7

/* The strides of an input view. */
static int64_t stride_of(const fz_case *c, int i, int d) { return c->b[i].st[d]; }

/* Each row of idx [rows, k]: values in [0, E) and distinct, or all E for a finished row. */
static void fz_check_indices(const int32_t *idx, int64_t rows, int64_t k, int64_t E, const uint8_t *fin_row0,
                             int64_t fin_stride)
{
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *row = idx + r * k;
        const int finished = fin_row0 && fin_row0[r * fin_stride];
        for (int64_t j = 0; j < k; j++) {
            if (finished) {
                FZ_ASSERT(row[j] == E, "finished row %lld slot %lld: %d, want E = %lld", (long long)r, (long long)j,
                          row[j], (long long)E);
                continue;
            }
            FZ_ASSERT(row[j] >= 0 && row[j] < E, "row %lld slot %lld: index %d outside [0, %lld)", (long long)r,
                      (long long)j, row[j], (long long)E);
            for (int64_t i = 0; i < j; i++) FZ_ASSERT(row[i] != row[j], "row %lld: index %d twice", (long long)r, row[j]);
        }
    }
}

static const aclDataType g_floats[] = {ACL_FLOAT16, ACL_BF16, ACL_FLOAT};

static void fuzz_topk(fz_reader *r)
{
    const int64_t N = (int64_t)fz_below(r, 7), E = FZ_PICK(r, 1, 2, 3, 4, 6, 8, 12, 16, 33, 64);
    const int64_t k = FZ_PICK(r, 0, 1, 1, 2, 3, 4, 8, E, E + 1), G = FZ_PICK(r, 1, 1, 2, 3, 4, 8, E, 0);
    const int64_t kg = FZ_PICK(r, 1, 1, 2, 3, 4, 0), mode = FZ_PICK(r, 0, 1, 2), norm = FZ_PICK(r, 0, 1, 1, 2);
    const int64_t renorm = FZ_PICK(r, 0, 0, 0, 1);
    const bool out_flag = fz_below(r, 2);
    const double rsf = (double)FZ_PICK(r, 1, 2, 0, -1, 3) / 2.0, eps = fz_below(r, 2) ? 1e-20 : 0.5;
    const aclDataType xdt = fz_below(r, 16) ? g_floats[fz_below(r, 3)] : ACL_INT32;
    const aclDataType bdt = fz_below(r, 16) ? xdt : ACL_FLOAT;
    const int has_bias = (int)fz_below(r, 2);
    fz_case c = {0};
    const int64_t xd[2] = {N, E}, bd = E + (fz_below(r, 16) == 0), yd[2] = {N, k}, od[2] = {N, out_flag ? E : 1};
    aclTensor *x = fz_view_input(r, &c, xdt, 2, xd);
    aclTensor *b = has_bias ? fz_view_input(r, &c, bdt, 1, &bd) : NULL;
    const int first_out = c.nb;
    aclTensor *y = fz_view_output(&c, xdt, 2, yd, SENT);
    aclTensor *ix = fz_view_output(&c, ACL_INT32, 2, yd, SENT);
    aclTensor *o = fz_view_output(&c, ACL_FLOAT, 2, od, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeGatingTopKGetWorkspaceSize(x, b, k, kg, G, mode, renorm, norm, out_flag, rsf, eps, y, ix,
                                                        o, &ws, &exe);
    st = fz_execute(st, ws, exe, aclnnMoeGatingTopK);
    if (st != ACLNN_SUCCESS) {
        const char *m = aclGetRecentErrMsg();
        FZ_ASSERT(m && m[0], "refused TopK call (status %d) left no message", (int)st);
        FZ_ASSERT(fz_unchanged(&c, copies, 0), "refused TopK call (status %d) changed a buffer", (int)st);
    } else {
        FZ_ASSERT(fz_unchanged(&c, copies, 0) || N > 0, "N = 0 wrote something");
        if (!out_flag) FZ_ASSERT(fz_unchanged(&c, copies, first_out + 2), "outOut written with outFlag false");
        fz_check_indices((const int32_t *)(const void *)c.b[first_out + 1].p, N, k, E, NULL, 0);
        uint8_t *mine[FZ_MAXT];
        fz_keep_and_reset(&c, mine, copies, first_out);
        moeroute_gating_top_k_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = N, a.num_experts = E, a.k = k, a.k_group = kg, a.group_count = G;
        a.group_select_mode = (int32_t)mode, a.renorm = (int32_t)renorm, a.norm_type = (int32_t)norm;
        a.routed_scaling_factor = rsf, a.eps = eps, a.x_dtype = (moeroute_dtype)xdt;
        a.x = fz_at(&c, 0), a.x_row_stride = stride_of(&c, 0, 0), a.x_col_stride = stride_of(&c, 0, 1);
        if (b) a.bias = fz_at(&c, 1), a.bias_stride = stride_of(&c, 1, 0);
        a.y = c.b[first_out].p, a.expert_idx = (int32_t *)(void *)c.b[first_out + 1].p;
        a.out = out_flag ? (float *)(void *)c.b[first_out + 2].p : NULL;
        moeroute_status ns = moeroute_gating_top_k(fz_serial(), &a);
        FZ_ASSERT(ns == MOEROUTE_OK, "native refused what aclnn accepted: %s", moeroute_error_message());
        FZ_ASSERT(fz_unchanged(&c, mine, 0), "aclnn TopK differs from the serial scalar native run");
        fz_free_copies(&c, mine);
    }
    fz_free(&c, copies);
}

static void fuzz_softmax(fz_reader *r)
{
    const int v2 = (int)fz_below(r, 2);
    const int rank = fz_below(r, 4) ? 2 : fz_below(r, 8) ? 3 : (int)FZ_PICK(r, 1, 4);
    const int64_t E = FZ_PICK(r, 1, 2, 3, 5, 8, 16, 40, 0);
    int64_t dims[4] = {(int64_t)fz_below(r, 6), FZ_PICK(r, 1, 2, 3), E, E};
    if (rank == 2) dims[1] = E;
    const int64_t k = FZ_PICK(r, 1, 1, 2, 3, 5, E, E + 1, 0), renorm = v2 ? FZ_PICK(r, 0, 1, 2) : 0;
    const bool flag = v2 && fz_below(r, 2);
    const aclDataType xdt = fz_below(r, 16) ? g_floats[fz_below(r, 3)] : ACL_INT8;
    const int has_fin = (int)fz_below(r, 2);
    fz_case c = {0};
    int64_t yd[4], rows = 1;
    for (int i = 0; i < rank; i++) yd[i] = dims[i];
    yd[rank - 1] = k + (fz_below(r, 16) == 0);
    for (int i = 0; i + 1 < rank; i++) rows *= dims[i] > 0 ? dims[i] : 0;
    aclTensor *x = fz_view_input(r, &c, xdt, rank, dims);
    aclTensor *f = has_fin && rank > 1 ? fz_view_input(r, &c, fz_below(r, 16) ? ACL_BOOL : ACL_INT8, rank - 1, dims) : NULL;
    const int first_out = c.nb;
    aclTensor *y = fz_view_output(&c, xdt, rank, yd, SENT);
    aclTensor *ix = fz_view_output(&c, ACL_INT32, rank, yd, SENT);
    aclTensor *third = !v2 ? fz_view_output(&c, ACL_INT32, rank, yd, SENT)
                           : (flag || fz_below(r, 4) == 0) ? fz_view_output(&c, ACL_FLOAT, rank, dims, SENT) : NULL;
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st;
    if (v2) {
        st = aclnnMoeGatingTopKSoftmaxV2GetWorkspaceSize(x, f, k, renorm, flag, y, ix, third, &ws, &exe);
        st = fz_execute(st, ws, exe, aclnnMoeGatingTopKSoftmaxV2);
    } else {
        st = aclnnMoeGatingTopKSoftmaxGetWorkspaceSize(x, f, k, y, ix, third, &ws, &exe);
        st = fz_execute(st, ws, exe, aclnnMoeGatingTopKSoftmax);
    }
    if (st != ACLNN_SUCCESS) {
        const char *m = aclGetRecentErrMsg();
        FZ_ASSERT(m && m[0], "refused softmax call (status %d) left no message", (int)st);
        FZ_ASSERT(fz_unchanged(&c, copies, 0), "refused softmax call (status %d) changed a buffer", (int)st);
    } else {
        FZ_ASSERT(fz_unchanged(&c, copies, 0) || rows > 0, "no rows, something written");
        /* the row index: the collapsed leading dims step by the stride of dim rank-2 (or of dim 0 when that
         * dim has size 1 and dim 0 does not) */
        int64_t rs = stride_of(&c, 0, rank - 2), fs = f ? stride_of(&c, 1, rank - 2) : 0;
        if (rank == 3 && dims[1] == 1) rs = stride_of(&c, 0, 0), fs = f ? stride_of(&c, 1, 0) : 0;
        const uint8_t *fin = f ? (const uint8_t *)fz_at(&c, 1) : NULL;
        fz_check_indices((const int32_t *)(const void *)c.b[first_out + 1].p, rows, k, E, fin, fs);
        uint8_t *mine[FZ_MAXT];
        fz_keep_and_reset(&c, mine, copies, first_out);
        moeroute_gating_top_k_softmax_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.version = v2 ? 2 : 1, a.renorm = (int32_t)renorm, a.num_rows = rows, a.num_experts = E, a.k = k;
        a.x_dtype = (moeroute_dtype)xdt, a.x = fz_at(&c, 0), a.x_row_stride = rs, a.x_col_stride = stride_of(&c, 0, rank - 1);
        if (f) a.finished = fin, a.finished_stride = fs;
        a.y = c.b[first_out].p, a.expert_idx = (int32_t *)(void *)c.b[first_out + 1].p;
        if (!v2) a.row_idx = (int32_t *)(void *)c.b[first_out + 2].p;
        else if (flag) a.softmax_out = (float *)(void *)c.b[first_out + 2].p;
        moeroute_status ns = moeroute_gating_top_k_softmax(fz_serial(), &a);
        if (ns != MOEROUTE_OK || !fz_unchanged(&c, mine, 0))
            fprintf(stderr, "softmax V%d renorm %lld flag %d rank %d dims %lld %lld %lld k %lld dtype %d finished %d "
                            "x strides %lld %lld %lld (native rows %lld stride %lld, %lld)\n",
                    v2 + 1, (long long)renorm, (int)flag, rank, (long long)dims[0], (long long)dims[1],
                    (long long)dims[2], (long long)k, (int)xdt, f != NULL, (long long)c.b[0].st[0],
                    (long long)c.b[0].st[1], (long long)c.b[0].st[2], (long long)rows, (long long)rs,
                    (long long)a.x_col_stride);
        FZ_ASSERT(ns == MOEROUTE_OK, "native refused what aclnn accepted: %s", moeroute_error_message());
        FZ_ASSERT(fz_unchanged(&c, mine, 0), "aclnn softmax V%d differs from the serial scalar native run", v2 + 1);
        fz_free_copies(&c, mine);
    }
    fz_free(&c, copies);
}

/* The native API on fuzzed arguments directly (sizes, strides, NULLs, attributes): never a crash; a refusal
 * leaves the outputs untouched. Buffers hold exactly what a contiguous call of the fuzzed sizes needs, and the
 * fuzzed strides stay inside x. */
static void fuzz_native(fz_reader *r)
{
    const int softmax = (int)fz_below(r, 2);
    const int64_t N = FZ_PICK(r, 0, 1, 3, 5, -1), E = FZ_PICK(r, 1, 2, 4, 7, 8, 0, -3);
    const int64_t k = FZ_PICK(r, 1, 2, 3, 4, 0, 9);
    const int64_t NE = N > 0 && E > 0 ? N * E : 0, NK = N > 0 && k > 0 ? N * k : 0;
    float *x = malloc(sizeof(float) * (size_t)(NE + 1)), *y = malloc(sizeof(float) * (size_t)(NK + 1));
    float *out = malloc(sizeof(float) * (size_t)(NE + 1));
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(NK + 1)), *row = malloc(sizeof(int32_t) * (size_t)(NK + 1));
    uint8_t fin[8];
    for (int64_t i = 0; i < NE + 1; i++) x[i] = (float)((int)fz_below(r, 64) - 32) / 4.0f;
    for (int i = 0; i < 8; i++) fin[i] = (uint8_t)fz_below(r, 2);
    memset(y, SENT, sizeof(float) * (size_t)(NK + 1)), memset(idx, SENT, sizeof(int32_t) * (size_t)(NK + 1));
    memset(row, SENT, sizeof(int32_t) * (size_t)(NK + 1)), memset(out, SENT, sizeof(float) * (size_t)(NE + 1));
    const int reversed = (int)fz_below(r, 2) && NE > 0;
    const float *x0 = reversed ? x + NE - 1 : x;
    const int64_t rs = reversed ? -E : E, cs = reversed ? -1 : 1;
    const moeroute_dtype dt = (moeroute_dtype)FZ_PICK(r, MOEROUTE_DTYPE_FLOAT32, MOEROUTE_DTYPE_FLOAT32, 2, 3);
    moeroute_status st;
    if (softmax) {
        moeroute_gating_top_k_softmax_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = fz_below(r, 16) ? sizeof a : (size_t)FZ_PICK(r, 0, 8, 1000);
        a.version = (int32_t)FZ_PICK(r, 1, 2, 2, 0), a.renorm = (int32_t)FZ_PICK(r, 0, 0, 1, 2);
        a.num_rows = N, a.num_experts = E, a.k = k, a.x_dtype = dt;
        a.x = fz_below(r, 16) ? x0 : NULL, a.x_row_stride = rs, a.x_col_stride = cs;
        if (fz_below(r, 2) && N <= 8) a.finished = fin, a.finished_stride = 1;
        a.y = fz_below(r, 16) ? y : NULL, a.expert_idx = fz_below(r, 16) ? idx : NULL;
        if (a.version == 1 ? fz_below(r, 8) != 0 : fz_below(r, 8) == 0) a.row_idx = row;
        if (a.version == 2 ? fz_below(r, 2) != 0 : fz_below(r, 8) == 0) a.softmax_out = out;
        st = moeroute_gating_top_k_softmax(fz_below(r, 2) ? fz_serial() : NULL, &a);
        if (st == MOEROUTE_OK && a.version == 1 && a.y && a.expert_idx)
            fz_check_indices(idx, N, k, E, a.finished, 1);
    } else {
        moeroute_gating_top_k_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = fz_below(r, 16) ? sizeof a : (size_t)FZ_PICK(r, 0, 8, 1000);
        a.num_rows = N, a.num_experts = E, a.k = k, a.k_group = FZ_PICK(r, 1, 2, 0), a.group_count = FZ_PICK(r, 1, 2, 4, 7);
        a.group_select_mode = (int32_t)FZ_PICK(r, 0, 1, 3), a.renorm = (int32_t)FZ_PICK(r, 0, 1, 5);
        a.norm_type = (int32_t)FZ_PICK(r, 0, 1, -1), a.routed_scaling_factor = 1.5, a.eps = 1e-20, a.x_dtype = dt;
        a.x = fz_below(r, 16) ? x0 : NULL, a.x_row_stride = rs, a.x_col_stride = cs;
        if (fz_below(r, 2) && E > 0) a.bias = x, a.bias_stride = 1;
        a.y = fz_below(r, 16) ? y : NULL, a.expert_idx = fz_below(r, 16) ? idx : NULL;
        a.out = fz_below(r, 2) ? out : NULL;
        st = moeroute_gating_top_k(fz_below(r, 2) ? fz_serial() : NULL, &a);
        if (st == MOEROUTE_OK && a.y && a.expert_idx) fz_check_indices(idx, N, k, E, NULL, 0);
    }
    if (st != MOEROUTE_OK) {
        const char *m = moeroute_error_message();
        FZ_ASSERT(m && m[0], "native refusal %d without a message", (int)st);
        FZ_ASSERT(fz_all_equal(y, sizeof(float) * (size_t)(NK + 1), SENT) &&
                      fz_all_equal(idx, sizeof(int32_t) * (size_t)(NK + 1), SENT) &&
                      fz_all_equal(row, sizeof(int32_t) * (size_t)(NK + 1), SENT) &&
                      fz_all_equal(out, sizeof(float) * (size_t)(NE + 1), SENT),
                  "native refusal %d wrote an output", (int)st);
    }
    free(x), free(y), free(out), free(idx), free(row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    switch (fz_below(&r, 3)) {
    case 0: fuzz_topk(&r); break;
    case 1: fuzz_softmax(&r); break;
    default: fuzz_native(&r); break;
    }
    return 0;
}
