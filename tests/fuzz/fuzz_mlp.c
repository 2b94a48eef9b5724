/* libFuzzer harness for the expert-MLP operators: aclnnGroupedMatmulV4 (float and int8 rows, tensor lists, group
 * lists of types 0/1/2, ND and FRACTAL_NZ weights), aclnnGroupedMatmulSwigluQuant / ...WeightNZ,
 * aclnnDynamicQuant / V2, aclnnSwiGlu and aclnnDequantSwigluQuant, with fuzzed shapes (M, K, N up to ~40, E up
 * to 4), attributes, dtypes, strided input views and raw data (NaN, inf, subnormals), group lists mostly valid.
 * Properties: a refused call leaves every buffer untouched and leaves a message; an accepted aclnn call equals
 * the native API run serially on scalar kernels byte for byte, output sentinels included: rows past the last
 * group stay unwritten in both (decision 13; MOEROUTE_POISON_UNWRITTEN must stay unset), and for the grouped
 * matmul the harness also checks those rows against the sentinel directly. */
#include <stdbool.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_dequant_swiglu_quant.h"
#include "aclnnop/aclnn_dynamic_quant.h"
#include "aclnnop/aclnn_dynamic_quant_v2.h"
#include "aclnnop/aclnn_grouped_matmul_swiglu_quant.h"
#include "aclnnop/aclnn_grouped_matmul_swiglu_quant_weight_nz.h"
#include "aclnnop/aclnn_grouped_matmul_v4.h"
#include "aclnnop/aclnn_swi_glu.h"
#include "fuzz_common.h"
#include "moeroute.h"

#define SENT 0xA7

static const aclDataType g_floats[] = {ACL_FLOAT16, ACL_BF16, ACL_FLOAT};

static int64_t stride_of(const fz_case *c, int i, int d) { return c->b[i].st[d]; }

/* Element pointer of optional buffer i's view; NULL when absent (i < 0). */
static void *opt_at(const fz_case *c, int i) { return i >= 0 ? fz_at(c, i) : NULL; }

/* Buffer i's view is row-major contiguous over dims (size-1 dims any stride): what the native API takes for
 * every argument but the main input's (and the grouped matmul's weight's) strided views. i < 0: absent. */
static int is_contig(const fz_case *c, int i, int rank, const int64_t *dims)
{
    if (i < 0) return 1;
    int64_t acc = 1;
    for (int d = rank; d-- > 0;) {
        if (dims[d] == 0) return 1;
        if (dims[d] != 1 && c->b[i].st[d] != acc) return 0;
        acc *= dims[d];
    }
    return 1;
}

/* Element j of the 1-D int64 view i (or, for a [G, 2] view, element (j / 2, j % 2)). */
static int64_t *i64_at(const fz_case *c, int i, int rank, int64_t j)
{
    int64_t *base = fz_at(c, i);
    return rank == 1 ? base + j * c->b[i].st[0] : base + (j / 2) * c->b[i].st[0] + (j % 2) * c->b[i].st[1];
}

/* An int8 FRACTAL_NZ weight: view [E, K, N], storage [E, ceil(N/32), ceil(K/16), 16, 32] filled with fuzzed bytes
 * (tagged ND for the WeightNZ entry point when nd_tag). */
static aclTensor *nz_weight(fz_reader *r, fz_case *c, int64_t E, int64_t K, int64_t N, int nd_tag)
{
    fz_buf *b = &c->b[c->nb++];
    const int64_t sd[5] = {E, (N + 31) / 32, (K + 15) / 16, 16, 32}, vd[3] = {E, K, N};
    b->bytes = (size_t)(sd[0] * sd[1] * sd[2] * 512) + 1;
    b->p = malloc(b->bytes);
    for (size_t i = 0; i < b->bytes; i++) b->p[i] = (uint8_t)fz_bits(r, 1);
    b->off = 0;
    b->t = aclCreateTensor(vd, 3, ACL_INT8, NULL, 0, nd_tag ? ACL_FORMAT_ND : ACL_FORMAT_FRACTAL_NZ, sd, 5, b->p);
    return b->t;
}

/* A group list over the int64 view i of n entries (pairs when kv), mostly valid for M rows and E experts. */
static void fill_groups(fz_reader *r, fz_case *c, int i, int type, int64_t n, int64_t M, int64_t E)
{
    const int bad = fz_below(r, 16) == 0;
    int64_t acc = 0;
    for (int64_t g = 0; g < n; g++) {
        const int64_t cnt = (int64_t)fz_below(r, (uint64_t)(M / (n ? n : 1) + 2)) - (bad && fz_below(r, 4) == 0);
        if (type == 0) *i64_at(c, i, 1, g) = acc = acc + cnt;
        else if (type == 1) *i64_at(c, i, 1, g) = cnt;
        else {
            *i64_at(c, i, 2, 2 * g) = (int64_t)fz_below(r, (uint64_t)E + bad) - (bad && fz_below(r, 4) == 0);
            *i64_at(c, i, 2, 2 * g + 1) = cnt;
        }
    }
    if (bad && n) /* one entry anywhere in [0, 3M + 3) */
        *i64_at(c, i, type == 2 ? 2 : 1, (int64_t)fz_below(r, (uint64_t)n)) = (int64_t)fz_below(r, 3 * (uint64_t)M + 3);
}

/* The rows the group list covers (valid lists only). */
static int64_t rows_covered(const fz_case *c, int i, int type, int64_t n, int64_t M)
{
    if (i < 0) return M;
    int64_t end = 0;
    for (int64_t g = 0; g < n; g++)
        end = type == 0 ? *i64_at(c, i, 1, g) : end + (type == 1 ? *i64_at(c, i, 1, g) : *i64_at(c, i, 2, 2 * g + 1));
    return end;
}


/* A one-tensor list of buffer i's tensor (the list owns it; the buffer forgets it before fz_free); NULL when
 * i < 0. */
static aclTensorList *one_list(const fz_case *c, int i)
{
    if (i < 0) return NULL;
    const aclTensor *t = c->b[i].t;
    return aclCreateTensorList(&t, 1);
}

/* The native call on weights packed beforehand (moeroute_grouped_matmul_pack_weights): the same bytes. */
static moeroute_status gmm_packed_call(const moeroute_grouped_matmul_args *a)
{
    moeroute_gmm_weights *w = NULL;
    moeroute_status st = moeroute_grouped_matmul_pack_weights(fz_serial(), a, &w);
    if (st == MOEROUTE_OK) st = moeroute_grouped_matmul_packed(fz_serial(), a, w);
    moeroute_gmm_weights_destroy(w);
    return st;
}

static void fuzz_gmm(fz_reader *r)
{
    const int64_t M = (int64_t)fz_below(r, 41), K = FZ_PICK(r, 1, 2, 5, 16, 17, 33, 0, 40);
    const int64_t N = FZ_PICK(r, 1, 3, 8, 32, 33, 0, 40), E = 1 + (int64_t)fz_below(r, 4);
    const int i8 = fz_below(r, 3) == 0, nz = i8 && fz_below(r, 3) == 0;
    const aclDataType xdt = i8 ? ACL_INT8 : g_floats[fz_below(r, 3)];
    const int has_scale = i8 && fz_below(r, 2), has_pts = has_scale && fz_below(r, 2);
    const aclDataType sdt = fz_below(r, 2) ? ACL_BF16 : ACL_FLOAT;
    const aclDataType bdt = i8 ? ACL_INT32 : xdt == ACL_FLOAT16 ? ACL_FLOAT16 : ACL_FLOAT;
    aclDataType odt = i8 ? (!has_scale ? ACL_INT32 : sdt == ACL_BF16 ? ACL_BF16 : ACL_FLOAT16) : xdt;
    if (fz_below(r, 32) == 0) odt = g_floats[fz_below(r, 3)]; /* a dtype row outside the table, mostly */
    const int has_bias = fz_below(r, 2), type = (int)fz_below(r, 3);
    const int no_list = E == 1 && fz_below(r, 4) == 0;
    const int64_t gm = type == 2 ? 2 : 1, G = E + (fz_below(r, 32) == 0);
    fz_case c = {0};
    const int64_t xd[2] = {M, K}, wd[3] = {E, K, N}, en[2] = {E, N}, gd[2] = {G, 2}, od[2] = {M, N};
    fz_view_input(r, &c, xdt, 2, xd);
    if (nz) nz_weight(r, &c, E, K, N, 0);
    else fz_view_input(r, &c, xdt, 3, wd);
    const int ib = has_bias ? (fz_view_input(r, &c, bdt, 2, en), c.nb - 1) : -1;
    const int is = has_scale ? (fz_view_input(r, &c, sdt, 2, en), c.nb - 1) : -1;
    const int ip = has_pts ? (fz_view_input(r, &c, ACL_FLOAT, 1, &M), c.nb - 1) : -1;
    const int ig = no_list ? -1 : (fz_view_input(r, &c, ACL_INT64, (int)gm, gd), c.nb - 1);
    if (ig >= 0) fill_groups(r, &c, ig, type, G, M, E);
    const int first_out = c.nb;
    fz_view_output(&c, odt, 2, od, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    /* the lists own their tensors: the buffers keep pointers for fz_at until the lists go */
    aclTensorList *lx = one_list(&c, 0), *lw = one_list(&c, 1), *lb = one_list(&c, ib), *ls = one_list(&c, is);
    aclTensorList *lp = one_list(&c, ip), *lo = one_list(&c, first_out);
    aclTensorList *empty = fz_below(r, 4) == 0 ? aclCreateTensorList(NULL, 0) : NULL; /* an empty optional */
    const int64_t split = FZ_PICK(r, 3, 2, 3, 2, 0), gtype = fz_below(r, 32) == 0, act = fz_below(r, 32) == 0;
    const int64_t ltype = fz_below(r, 32) == 0 ? 3 : type;
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnGroupedMatmulV4GetWorkspaceSize(
        lx, lw, lb ? lb : empty, ls, NULL, empty, NULL, lp, ig >= 0 ? c.b[ig].t : NULL, NULL, NULL, NULL, split,
        gtype, ltype, act, lo, NULL, NULL, &ws, &exe);
    st = fz_execute(st, ws, exe, aclnnGroupedMatmulV4);
    if (st != ACLNN_SUCCESS) {
        fz_refused(&c, copies, st, "GroupedMatmulV4");
    } else {
        /* rows past the last group keep the sentinel (decision 13) */
        const int64_t end = rows_covered(&c, ig, type, G, M);
        const size_t row = (size_t)N * aclDataTypeSize(odt);
        FZ_ASSERT(end >= 0 && end <= M, "GroupedMatmulV4 accepted groups ending at row %lld of %lld", (long long)end,
                  (long long)M);
        FZ_ASSERT(fz_all_equal(c.b[first_out].p + (size_t)end * row, (size_t)(M - end) * row, SENT),
                  "GroupedMatmulV4 wrote rows past the last group (end %lld of %lld)", (long long)end, (long long)M);
        moeroute_grouped_matmul_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = M, a.k = K, a.n = N, a.num_experts = E, a.x_dtype = (moeroute_dtype)xdt;
        a.x = fz_at(&c, 0), a.x_row_stride = stride_of(&c, 0, 0), a.x_col_stride = stride_of(&c, 0, 1);
        a.weight = nz ? (const void *)c.b[1].p : fz_at(&c, 1);
        if (!nz)
            a.weight_expert_stride = stride_of(&c, 1, 0), a.weight_k_stride = stride_of(&c, 1, 1),
            a.weight_n_stride = stride_of(&c, 1, 2);
        a.weight_format = nz ? 29 : 0;
        a.group_list_type = ig >= 0 ? type : 0, a.num_groups = ig >= 0 ? G : 0;
        a.group_list = opt_at(&c, ig);
        a.bias = opt_at(&c, ib);
        a.scale_dtype = (moeroute_dtype)sdt, a.scale = opt_at(&c, is);
        a.per_token_scale = opt_at(&c, ip);
        a.out_dtype = (moeroute_dtype)odt, a.out = c.b[first_out].p;
        /* the native API takes bias, scale, per-token scale and group list contiguous: compare when they are */
        if (is_contig(&c, ib, 2, en) && is_contig(&c, is, 2, en) && is_contig(&c, ip, 1, &M) &&
            is_contig(&c, ig, (int)gm, gd))
        {
            FZ_COMPARE_NATIVE(moeroute_grouped_matmul(fz_serial(), &a), "GroupedMatmulV4");
            FZ_COMPARE_NATIVE(gmm_packed_call(&a), "GroupedMatmulV4 on packed weights");
        }
    }
    aclTensorList *lists[] = {lx, lw, lb, ls, lp, lo, empty};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) aclDestroyTensorList(lists[i]);
    const int owned[] = {0, 1, ib, is, ip, first_out};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (owned[i] >= 0) c.b[owned[i]].t = NULL;
    fz_free(&c, copies);
}

/* The fused operator on its NZ weight packed beforehand (moeroute_grouped_matmul_pack_weights): the same bytes. */
static moeroute_status swq_packed_call(const moeroute_grouped_matmul_swiglu_quant_args *a)
{
    moeroute_grouped_matmul_args g;
    memset(&g, 0, sizeof g);
    g.struct_size = sizeof g;
    g.k = a->k, g.n = a->n, g.num_experts = a->num_experts, g.x_dtype = MOEROUTE_DTYPE_INT8;
    g.weight = a->weight, g.weight_format = a->weight_format;
    moeroute_gmm_weights *w = NULL;
    moeroute_status st = moeroute_grouped_matmul_pack_weights(fz_serial(), &g, &w);
    if (st == MOEROUTE_OK) st = moeroute_grouped_matmul_swiglu_quant_packed(fz_serial(), a, w);
    moeroute_gmm_weights_destroy(w);
    return st;
}

static void fuzz_gmm_swiglu_quant(fz_reader *r)
{
    const int64_t M = (int64_t)fz_below(r, 41), K = FZ_PICK(r, 1, 2, 16, 17, 33, 0, 40);
    const int64_t N = FZ_PICK(r, 2, 4, 32, 34, 64, 0, 3), E = 1 + (int64_t)fz_below(r, 4);
    const int64_t G = (int64_t)fz_below(r, (uint64_t)E + 1) + (fz_below(r, 32) == 0);
    const int weight_nz_entry = fz_below(r, 2), nd_tag = weight_nz_entry && fz_below(r, 2);
    const aclDataType wsdt = g_floats[fz_below(r, 3)];
    fz_case c = {0};
    const int64_t xd[2] = {M, K}, en[2] = {E, N}, od[2] = {M, N / 2};
    aclTensor *x = fz_view_input(r, &c, ACL_INT8, 2, xd);
    aclTensor *w = nz_weight(r, &c, E, K, N, nd_tag);
    aclTensor *wsc = fz_view_input(r, &c, wsdt, 2, en);
    aclTensor *xs = fz_view_input(r, &c, ACL_FLOAT, 1, &M);
    aclTensor *gl = fz_view_input(r, &c, ACL_INT64, 1, &G);
    fill_groups(r, &c, 4, 0, G, M, E);
    const int first_out = c.nb;
    aclTensor *out = fz_view_output(&c, ACL_INT8, 2, od, SENT);
    aclTensor *os = fz_view_output(&c, ACL_FLOAT, 1, &M, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st;
    if (weight_nz_entry) {
        st = aclnnGroupedMatmulSwigluQuantWeightNZGetWorkspaceSize(x, w, NULL, NULL, wsc, xs, gl, out, os, NULL, &ws,
                                                                   &exe);
        st = fz_execute(st, ws, exe, aclnnGroupedMatmulSwigluQuantWeightNZ);
    } else {
        st = aclnnGroupedMatmulSwigluQuantGetWorkspaceSize(x, w, NULL, NULL, wsc, xs, gl, out, os, NULL, &ws, &exe);
        st = fz_execute(st, ws, exe, aclnnGroupedMatmulSwigluQuant);
    }
    if (st != ACLNN_SUCCESS) {
        fz_refused(&c, copies, st, "GroupedMatmulSwigluQuant");
    } else if (M == 0 || N == 0 || G == 0) {
        /* an empty output or group list: success, nothing written, the group list not read (spec 9.4; docs
         * "Empty output, groupList or outputScale"), so the native run, which checks the list, is not compared */
        FZ_ASSERT(fz_unchanged(&c, copies, 0), "GroupedMatmulSwigluQuant with M %lld N %lld G %lld wrote something",
                  (long long)M, (long long)N, (long long)G);
    } else {
        const int64_t end = *i64_at(&c, 4, 1, G - 1);
        FZ_ASSERT(end >= 0 && end <= M, "GroupedMatmulSwigluQuant accepted groups ending at row %lld of %lld",
                  (long long)end, (long long)M);
        FZ_ASSERT(fz_all_equal(c.b[first_out].p + end * (N / 2), (size_t)((M - end) * (N / 2)), SENT) &&
                      fz_all_equal(c.b[first_out + 1].p + end * 4, (size_t)(M - end) * 4, SENT),
                  "GroupedMatmulSwigluQuant wrote rows past the last group (end %lld of %lld)", (long long)end,
                  (long long)M);
        moeroute_grouped_matmul_swiglu_quant_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = M, a.k = K, a.n = N, a.num_experts = E;
        a.x = fz_at(&c, 0), a.x_row_stride = stride_of(&c, 0, 0), a.x_col_stride = stride_of(&c, 0, 1);
        a.weight = (const int8_t *)c.b[1].p, a.weight_format = 29;
        a.weight_scale_dtype = (moeroute_dtype)wsdt, a.weight_scale = fz_at(&c, 2);
        a.x_scale = fz_at(&c, 3), a.num_groups = G, a.group_list = fz_at(&c, 4);
        a.output = (int8_t *)c.b[first_out].p, a.output_scale = (float *)(void *)c.b[first_out + 1].p;
        /* the native API takes weightScale, xScale and groupList contiguous: compare when they are */
        if (is_contig(&c, 2, 2, en) && is_contig(&c, 3, 1, &M) && is_contig(&c, 4, 1, &G)) {
            FZ_COMPARE_NATIVE(moeroute_grouped_matmul_swiglu_quant(fz_serial(), &a),
                              "GroupedMatmulSwigluQuant");
            FZ_COMPARE_NATIVE(swq_packed_call(&a), "GroupedMatmulSwigluQuant on packed weights");
        }
    }
    fz_free(&c, copies);
}

static void fuzz_dynamic_quant(fz_reader *r)
{
    const int64_t rows = (int64_t)fz_below(r, 20), H = FZ_PICK(r, 1, 2, 7, 16, 40, 0);
    const int v2 = fz_below(r, 2), has_group = v2 && fz_below(r, 2), has_smooth = fz_below(r, 2);
    const int64_t G = has_group ? 1 + (int64_t)fz_below(r, 4) : 0;
    const aclDataType xdt = fz_below(r, 16) ? g_floats[fz_below(r, 2)] : ACL_FLOAT;
    fz_case c = {0};
    const int64_t xd[2] = {rows, H}, sd[2] = {G, H};
    aclTensor *x = fz_view_input(r, &c, xdt, 2, xd);
    aclTensor *sm = !has_smooth ? NULL : fz_view_input(r, &c, xdt, has_group ? 2 : 1, has_group ? sd : &H);
    const int is = has_smooth ? c.nb - 1 : -1;
    aclTensor *gi = has_group ? fz_view_input(r, &c, ACL_INT32, 1, &G) : NULL;
    const int ig = has_group ? c.nb - 1 : -1;
    if (gi) { /* ascending end offsets whose last is rows, mostly */
        int32_t *g0 = fz_at(&c, ig), acc = 0;
        for (int64_t g = 0; g < G; g++) {
            acc += (int32_t)fz_below(r, (uint64_t)rows / (uint64_t)G + 2);
            g0[g * stride_of(&c, ig, 0)] = g + 1 == G && fz_below(r, 8) ? (int32_t)rows : acc;
        }
    }
    const int first_out = c.nb;
    aclTensor *y = fz_view_output(&c, fz_below(r, 32) ? ACL_INT8 : ACL_INT32, 2, xd, SENT);
    aclTensor *sc = fz_view_output(&c, ACL_FLOAT, 1, &rows, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st;
    if (v2) {
        st = aclnnDynamicQuantV2GetWorkspaceSize(x, sm, gi, 2, y, sc, NULL, &ws, &exe);
        st = fz_execute(st, ws, exe, aclnnDynamicQuantV2);
    } else {
        st = aclnnDynamicQuantGetWorkspaceSize(x, sm, y, sc, &ws, &exe);
        st = fz_execute(st, ws, exe, aclnnDynamicQuant);
    }
    if (st != ACLNN_SUCCESS) {
        fz_refused(&c, copies, st, "DynamicQuant");
    } else {
        moeroute_dynamic_quant_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = rows, a.hidden = H, a.x_dtype = (moeroute_dtype)xdt;
        a.x = fz_at(&c, 0), a.x_row_stride = stride_of(&c, 0, 0), a.x_col_stride = stride_of(&c, 0, 1);
        a.smooth_scales = opt_at(&c, is);
        a.num_groups = G, a.group_index = opt_at(&c, ig);
        a.y = (int8_t *)c.b[first_out].p, a.scale = (float *)(void *)c.b[first_out + 1].p;
        /* the native API takes smooth scales and group index contiguous: compare when they are */
        if (is_contig(&c, is, has_group ? 2 : 1, has_group ? sd : &H) && is_contig(&c, ig, 1, &G))
            FZ_COMPARE_NATIVE(moeroute_dynamic_quant(fz_serial(), &a), "DynamicQuant");
    }
    fz_free(&c, copies);
}

static void fuzz_swiglu(fz_reader *r)
{
    const int64_t rows = (int64_t)fz_below(r, 20), n = FZ_PICK(r, 1, 2, 7, 20, 0);
    const int64_t cols = 2 * n + (fz_below(r, 16) == 0); /* sometimes odd: refused */
    const int last = fz_below(r, 4) != 0; /* split the last dim (dim -1 or 1), else the first (dim 0 or -2) */
    const int64_t dim = last ? FZ_PICK(r, -1, 1, 2, -3) : FZ_PICK(r, 0, -2);
    const aclDataType xdt = g_floats[fz_below(r, 3)];
    fz_case c = {0};
    /* x [rows, cols] split along cols, or [cols, rows] split along its first dim */
    const int64_t xd[2] = {last ? rows : cols, last ? cols : rows};
    const int64_t od[2] = {last ? rows : cols / 2, last ? cols / 2 : rows};
    aclTensor *x = fz_view_input(r, &c, xdt, 2, xd);
    const int first_out = c.nb;
    aclTensor *out = fz_view_output(&c, fz_below(r, 32) ? xdt : ACL_INT8, 2, od, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnSwiGluGetWorkspaceSize(x, dim, out, &ws, &exe);
    st = fz_execute(st, ws, exe, aclnnSwiGlu);
    if (st != ACLNN_SUCCESS) {
        fz_refused(&c, copies, st, "SwiGlu");
    } else {
        moeroute_swiglu_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = rows, a.cols = cols, a.x_dtype = (moeroute_dtype)xdt, a.x = fz_at(&c, 0);
        a.x_row_stride = stride_of(&c, 0, last ? 0 : 1), a.x_col_stride = stride_of(&c, 0, last ? 1 : 0);
        a.out = c.b[first_out].p;
        /* the native out is [rows, n] contiguous: the first-dim split's out [n, rows] is its transpose, so
         * compare that case only when it has one row or one column */
        if (last || rows <= 1 || cols <= 2) FZ_COMPARE_NATIVE(moeroute_swiglu(fz_serial(), &a), "SwiGlu");
    }
    fz_free(&c, copies);
}

static void fuzz_dequant_swiglu_quant(fz_reader *r)
{
    const int64_t rows = (int64_t)fz_below(r, 20), n = FZ_PICK(r, 1, 2, 7, 16, 0), n2 = 2 * n;
    const aclDataType xdt = FZ_PICK(r, ACL_INT32, ACL_INT32, ACL_FLOAT16, ACL_BF16);
    const int dynamic = fz_below(r, 2), has_group = fz_below(r, 2);
    const int64_t G = has_group ? 1 + (int64_t)fz_below(r, 4) : 0, P = has_group && fz_below(r, 2) ? G : 1;
    const int has_ws = xdt == ACL_INT32 || fz_below(r, 4) == 0, has_as = xdt == ACL_INT32 || fz_below(r, 4) == 0;
    const int has_bias = fz_below(r, 2), has_qs = !dynamic || fz_below(r, 2), has_qo = !dynamic && fz_below(r, 2);
    const aclDataType bdt = FZ_PICK(r, ACL_FLOAT, ACL_FLOAT16, ACL_BF16, ACL_INT32);
    const aclDataType gdt = fz_below(r, 2) ? ACL_INT32 : ACL_INT64;
    fz_case c = {0};
    const int64_t xd[2] = {rows, n2}, pd[2] = {P, n2}, qd[2] = {P, n}, yd[2] = {rows, n};
    aclTensor *x = fz_view_input(r, &c, xdt, 2, xd);
    aclTensor *wsc = has_ws ? fz_view_input(r, &c, ACL_FLOAT, 2, pd) : NULL;
    const int iw = has_ws ? c.nb - 1 : -1;
    aclTensor *as = has_as ? fz_view_input(r, &c, ACL_FLOAT, 1, &rows) : NULL;
    const int ia = has_as ? c.nb - 1 : -1;
    aclTensor *bias = has_bias ? fz_view_input(r, &c, bdt, 2, pd) : NULL;
    const int ib = has_bias ? c.nb - 1 : -1;
    aclTensor *qs = has_qs ? (dynamic ? fz_view_input(r, &c, ACL_FLOAT, 2, qd) : fz_view_input(r, &c, ACL_FLOAT, 1, &P))
                           : NULL;
    const int iq = has_qs ? c.nb - 1 : -1;
    aclTensor *qo = has_qo ? fz_view_input(r, &c, ACL_FLOAT, 1, &P) : NULL;
    const int io = has_qo ? c.nb - 1 : -1;
    aclTensor *gi = has_group ? fz_view_input(r, &c, gdt, 1, &G) : NULL;
    const int ig = has_group ? c.nb - 1 : -1;
    if (gi) fz_fill_ids(r, &c, ig, gdt, fz_below(r, 16) == 0 ? -1 : 0, (uint64_t)rows / (uint64_t)G + 2);
    const int first_out = c.nb;
    aclTensor *y = fz_view_output(&c, ACL_INT8, 2, yd, SENT);
    aclTensor *sc = fz_view_output(&c, ACL_FLOAT, 1, &rows, SENT);
    uint8_t *copies[FZ_MAXT];
    fz_snapshot(&c, copies);
    char mode[16];
    strcpy(mode, dynamic ? "dynamic" : "static");
    const int mode_pick = (int)fz_below(r, 16);
    if (mode_pick == 0) strcpy(mode, "bogus");
    const int activate_left = (int)fz_below(r, 2);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnDequantSwigluQuantGetWorkspaceSize(x, wsc, as, bias, qs, qo, gi, activate_left,
                                                             !dynamic && mode_pick == 1 ? NULL : mode, y, sc, &ws,
                                                             &exe);
    st = fz_execute(st, ws, exe, aclnnDequantSwigluQuant);
    if (st != ACLNN_SUCCESS) {
        fz_refused(&c, copies, st, "DequantSwigluQuant");
    } else {
        moeroute_dequant_swiglu_quant_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = rows, a.cols = n2, a.x_dtype = (moeroute_dtype)xdt;
        a.x = fz_at(&c, 0), a.x_row_stride = stride_of(&c, 0, 0), a.x_col_stride = stride_of(&c, 0, 1);
        a.num_groups = G, a.group_index_int64 = gdt == ACL_INT64, a.group_index = opt_at(&c, ig);
        a.param_rows = P;
        a.weight_scale = opt_at(&c, iw), a.activation_scale = opt_at(&c, ia);
        a.bias_dtype = (moeroute_dtype)bdt, a.bias = opt_at(&c, ib);
        a.quant_scale = opt_at(&c, iq), a.quant_offset = opt_at(&c, io);
        a.activate_left = activate_left, a.quant_mode = dynamic;
        a.y = (int8_t *)c.b[first_out].p, a.scale = (float *)(void *)c.b[first_out + 1].p;
        /* the native API takes every parameter but x contiguous: compare when they are */
        if (is_contig(&c, iw, 2, pd) && is_contig(&c, ia, 1, &rows) && is_contig(&c, ib, 2, pd) &&
            is_contig(&c, iq, dynamic ? 2 : 1, dynamic ? qd : &P) && is_contig(&c, io, 1, &P) &&
            is_contig(&c, ig, 1, &G))
            FZ_COMPARE_NATIVE(moeroute_dequant_swiglu_quant(fz_serial(), &a), "DequantSwigluQuant");
    }
    fz_free(&c, copies);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    switch (fz_below(&r, 5)) {
    case 0: fuzz_gmm(&r); break;
    case 1: fuzz_gmm_swiglu_quant(&r); break;
    case 2: fuzz_dynamic_quant(&r); break;
    case 3: fuzz_swiglu(&r); break;
    default: fuzz_dequant_swiglu_quant(&r); break;
    }
    return 0;
}
