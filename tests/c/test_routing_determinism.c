/* The routing family through the native API: identical bytes for every thread count (1..4) and every ISA
 * level, on cases big enough to take the parallel sort and row paths; and the native API equal to the aclnn
 * API on the same inputs. Random inputs; seed from argv[1] or MOEROUTE_TEST_SEED. */
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnnop/aclnn_moe_init_routing_v3.h"
#include "harness.h"
#include "moeroute.h"

enum { N = 4096, K = 8, H = 96, E = 64, C = 600 };
#define L (N * K)

typedef struct outputs {
    int8_t *x;       /* largest: dropless copy of fp32 rows, or drop E*C*H */
    int32_t *row;
    int64_t *tokens; /* V3: up to E*2; V2: E int32 */
    int32_t *before;
    float *scale;
} outputs;

static uint16_t g_x[N * H];
static int32_t g_expert[L];
static float g_smooth[E * H];
static const size_t g_xcap = (size_t)L * H * 4;

static void outputs_init(outputs *o)
{
    o->x = calloc(1, g_xcap);
    o->row = calloc(L, 4);
    o->tokens = calloc(E * 2, 8);
    o->before = calloc(E, 4);
    o->scale = calloc((size_t)L > (size_t)E * C ? (size_t)L : (size_t)E * C, 4);
}

static void outputs_fill(outputs *o)
{
    memset(o->x, 0x5A, g_xcap), memset(o->row, 0x5A, L * 4), memset(o->tokens, 0x5A, E * 2 * 8);
    memset(o->before, 0x5A, E * 4), memset(o->scale, 0x5A, ((size_t)L > (size_t)E * C ? (size_t)L : (size_t)E * C) * 4);
}

static int outputs_equal(const outputs *a, const outputs *b)
{
    return !memcmp(a->x, b->x, g_xcap) && !memcmp(a->row, b->row, L * 4) && !memcmp(a->tokens, b->tokens, E * 2 * 8) &&
           !memcmp(a->before, b->before, E * 4) &&
           !memcmp(a->scale, b->scale, ((size_t)L > (size_t)E * C ? (size_t)L : (size_t)E * C) * 4);
}

static void outputs_free(outputs *o) { free(o->x), free(o->row), free(o->tokens), free(o->before), free(o->scale); }

/* case c on context ctx into o */
static moeroute_status run_case(int c, moeroute_context *ctx, outputs *o)
{
    outputs_fill(o);
    if (c < 4) {
        moeroute_init_routing_v2_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.num_rows = N, a.k = K, a.hidden = H, a.expert_num = E;
        a.x_dtype = MOEROUTE_DTYPE_FLOAT16, a.x = g_x, a.x_row_stride = H, a.x_col_stride = 1;
        a.expert_idx = g_expert, a.expert_row_stride = K, a.expert_col_stride = 1;
        a.expanded_x = o->x, a.expanded_row_idx = o->row, a.expert_tokens = (int32_t *)o->tokens;
        a.expert_tokens_before_capacity = o->before, a.dynamic_quant_scale = o->scale;
        static const float s1 = 0.75f, o1 = -3.0f;
        switch (c) {
        case 0: a.quant_mode = -1, a.count_flag = 1; break;                          /* V2 dropless, cumsum */
        case 1: a.quant_mode = 0, a.count_flag = 2, a.scale = &s1, a.offset = &o1; break; /* static */
        case 2: a.quant_mode = 1, a.scale = g_smooth, a.scale_rows = E, a.active_num = L / 3; break;
        default: a.quant_mode = 1, a.drop_pad_mode = 1, a.expert_capacity = C, a.before_capacity_flag = 1; break;
        }
        return moeroute_init_routing_v2(ctx, &a);
    }
    moeroute_init_routing_v3_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.num_rows = N, a.k = K, a.hidden = H, a.expert_num = E, a.range_start = 5, a.range_end = 50;
    a.x_dtype = MOEROUTE_DTYPE_FLOAT16, a.x = g_x, a.x_row_stride = H, a.x_col_stride = 1;
    a.expert_idx = g_expert, a.expert_row_stride = K, a.expert_col_stride = 1;
    a.expanded_x = o->x, a.expanded_row_idx = o->row, a.expert_tokens = o->tokens, a.expanded_scale = o->scale;
    a.tokens_num_type = c == 4 ? 1 : 2;
    a.quant_mode = c == 4 ? -1 : 1;
    a.row_idx_type = c == 4 ? 1 : 0;
    if (c == 5) a.scale = g_smooth; /* [end - start, H] rows of the same table */
    return moeroute_init_routing_v3(ctx, &a);
}

/* Case 5 once more through aclnnMoeInitRoutingV3 on the default pool. */
static aclnnStatus run_aclnn_v3(outputs *o)
{
    outputs_fill(o);
    const int64_t xd[2] = {N, H}, ed[2] = {N, K}, sd[2] = {45, H}, od[2] = {L, H}, ld[1] = {L}, td[2] = {E, 2};
    aclTensor *x = aclCreateTensor(xd, 2, ACL_FLOAT16, NULL, 0, ACL_FORMAT_ND, xd, 2, g_x);
    aclTensor *e = aclCreateTensor(ed, 2, ACL_INT32, NULL, 0, ACL_FORMAT_ND, ed, 2, g_expert);
    aclTensor *s = aclCreateTensor(sd, 2, ACL_FLOAT, NULL, 0, ACL_FORMAT_ND, sd, 2, g_smooth);
    aclTensor *ox = aclCreateTensor(od, 2, ACL_INT8, NULL, 0, ACL_FORMAT_ND, od, 2, o->x);
    aclTensor *orow = aclCreateTensor(ld, 1, ACL_INT32, NULL, 0, ACL_FORMAT_ND, ld, 1, o->row);
    aclTensor *ot = aclCreateTensor(td, 2, ACL_INT64, NULL, 0, ACL_FORMAT_ND, td, 2, o->tokens);
    aclTensor *os = aclCreateTensor(ld, 1, ACL_FLOAT, NULL, 0, ACL_FORMAT_ND, ld, 1, o->scale);
    const int64_t range[2] = {5, 50};
    aclIntArray *r = aclCreateIntArray(range, 2);
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnMoeInitRoutingV3GetWorkspaceSize(x, e, s, NULL, L, -1, E, 0, 2, true, 1, r, 0, ox, orow, ot,
                                                           os, &ws, &exe);
    void *w = ws ? malloc(ws) : NULL;
    if (st == ACLNN_SUCCESS) st = aclnnMoeInitRoutingV3(w, ws, exe, NULL);
    free(w);
    aclDestroyIntArray(r);
    aclDestroyTensor(x), aclDestroyTensor(e), aclDestroyTensor(s), aclDestroyTensor(ox), aclDestroyTensor(orow);
    aclDestroyTensor(ot), aclDestroyTensor(os);
    return st;
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    for (size_t i = 0; i < N * H; i++) { /* finite fp16 values of both signs, some exact ties */
        uint16_t b = (uint16_t)(mr_test_rand(&rng) & 0xFFFFu);
        if ((b & 0x7C00u) == 0x7C00u) b &= 0xBFFFu;
        g_x[i] = (i % 7 == 0) ? (uint16_t)0x3C00u : b;
    }
    for (size_t i = 0; i < L; i++) g_expert[i] = (int32_t)(mr_test_rand(&rng) % E);
    for (size_t i = 0; i < E * H; i++) g_smooth[i] = 0.5f + (float)(mr_test_rand(&rng) % 1000) / 500.0f;

    static const char *const names[] = {"V2 cumsum", "QuantV2 static", "QuantV2 dynamic EH", "QuantV2 dynamic drop",
                                        "V3 copy scatter", "V3 dynamic kv"};
    static const int isas[] = {MOEROUTE_ISA_SCALAR, MOEROUTE_ISA_AVX2, MOEROUTE_ISA_AVX512, MOEROUTE_ISA_NEON};
    outputs ref, got;
    outputs_init(&ref), outputs_init(&got);
    for (int c = 0; c < 6; c++) {
        moeroute_context *ctx1 = NULL;
        moeroute_options o1 = {1, MOEROUTE_ISA_SCALAR};
        CHECK(moeroute_context_create(&o1, &ctx1) == MOEROUTE_OK, "context");
        moeroute_status st = run_case(c, ctx1, &ref);
        CHECK(st == MOEROUTE_OK, "%s reference: %s", names[c], moeroute_error_message());
        moeroute_context_destroy(ctx1);
        for (int t = 1; t <= 4; t++)
            for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
                moeroute_context *ctx = NULL;
                moeroute_options opt = {t, isas[i]};
                CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context");
                st = run_case(c, ctx, &got);
                CHECK(st == MOEROUTE_OK && outputs_equal(&ref, &got), "%s: threads %d, isa %s differs from 1 thread scalar",
                      names[c], t, moeroute_isa_name((moeroute_isa)isas[i]));
                moeroute_context_destroy(ctx);
            }
    }
    CHECK(run_aclnn_v3(&got) == ACLNN_SUCCESS, "aclnn V3: %s", aclGetRecentErrMsg());
    run_case(5, NULL, &ref);
    CHECK(outputs_equal(&ref, &got), "aclnnMoeInitRoutingV3 differs from moeroute_init_routing_v3");
    outputs_free(&ref), outputs_free(&got);
    return mr_test_finish();
}
