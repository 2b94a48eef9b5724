/* Hand-worked cases and every refusal of the element-wise expert-MLP operators: aclnnDynamicQuant(V2),
 * aclnnSwiGlu, aclnnDequantSwigluQuant (called as a CANN program calls them) and their native functions.
 * Expected values are worked out from layer spec 5, 6 and 10 and written as literals; the arithmetic is spelled
 * out next to them. SiLU values are the correctly rounded ones (the library is within 1 ulp and equal here).
 *
 * DynamicQuant, FLOAT16 x [[1, -2, 0.5, 127], [3, -1.5, 0.25, -3]]:
 *   row 0: a = 127, f = 127/127 = 1: y = [1, -2, rint(0.5) = 0 (tie to even), 127], scale 1/1 = 1
 *   row 1: a = 3, f = f32(127/3) = 42.33333206 (0x42295555): 3f = 127 (rounded), -1.5f = -63.5 exactly -> -64
 *          (tie to even), 0.25f = 10.5833 -> 11, -3f -> -127; scale 1/f = 0.023622047 (0x3cc18306)
 * The two scale formulas differ for a = 9: f = f32(127/9); 1/f = 0x3d912245, 9 * f32(1/127) = 0x3d912244.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn_fixture.h"
#include "aclnnop/aclnn_dequant_swiglu_quant.h"
#include "aclnnop/aclnn_dynamic_quant.h"
#include "aclnnop/aclnn_dynamic_quant_v2.h"
#include "aclnnop/aclnn_swi_glu.h"
#include "common/fp16.h"
#include "dispatch/dispatch.h"
#include "kernels/int8_round.h"
#include "kernels/math/mr_math.h"
#include "harness.h"
#include "moeroute.h"
#include "operators/dynamic_quant.h"
#include "operators/silu_table.h"

static aclnnStatus call_dq(tspec x, tspec smooth, tspec y, tspec scale)
{
    aclTensor *t[4] = {mk(x), mk(smooth), mk(y), mk(scale)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnDynamicQuantGetWorkspaceSize(t[0], t[1], t[2], t[3], &ws, &exe);
    st = finish(st, aclnnDynamicQuant, ws, exe);
    destroy_all(t, 4);
    return st;
}

static aclnnStatus call_dq2(tspec x, tspec smooth, tspec group, tspec y, tspec scale, tspec offset)
{
    aclTensor *t[6] = {mk(x), mk(smooth), mk(group), mk(y), mk(scale), mk(offset)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnDynamicQuantV2GetWorkspaceSize(t[0], t[1], t[2], ACL_INT8, t[3], t[4], t[5], &ws, &exe);
    st = finish(st, aclnnDynamicQuantV2, ws, exe);
    destroy_all(t, 6);
    return st;
}

static aclnnStatus call_swg(tspec x, int64_t dim, tspec out)
{
    aclTensor *t[2] = {mk(x), mk(out)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = aclnnSwiGluGetWorkspaceSize(t[0], dim, t[1], &ws, &exe);
    st = finish(st, aclnnSwiGlu, ws, exe);
    destroy_all(t, 2);
    return st;
}

typedef struct dsq_call {
    tspec x, ws, as, bias, qs, qo, gi;
    bool left;
    const char *mode;
    tspec y, scale;
} dsq_call;

static aclnnStatus call_dsq(dsq_call c)
{
    aclTensor *t[9] = {mk(c.x), mk(c.ws), mk(c.as), mk(c.bias), mk(c.qs), mk(c.qo), mk(c.gi), mk(c.y), mk(c.scale)};
    uint64_t ws = 0;
    aclOpExecutor *exe = NULL;
    char mode[16];
    if (c.mode) snprintf(mode, sizeof mode, "%s", c.mode);
    aclnnStatus st = aclnnDequantSwigluQuantGetWorkspaceSize(t[0], t[1], t[2], t[3], t[4], t[5], t[6], c.left,
                                                             c.mode ? mode : NULL, t[7], t[8], &ws, &exe);
    st = finish(st, aclnnDequantSwigluQuant, ws, exe);
    destroy_all(t, 9);
    return st;
}

static void fill_f16(uint16_t *d, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = mr_f32_to_f16(v[i]);
}

static int little_endian(void)
{
    const uint32_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ---------------------------------------------------------------------------------------------------- */

static void test_dq_hand(void)
{
    uint16_t x[8];
    fill_f16(x, (const float[]){1, -2, 0.5f, 127, 3, -1.5f, 0.25f, -3}, 8);
    int8_t y[8];
    float sc[2];
    memset(y, SENT, sizeof y);
    aclnnStatus st = call_dq(T2(ACL_FLOAT16, 2, 4, x), TNULL, T2(ACL_INT8, 2, 4, y), T1(ACL_FLOAT, 2, sc));
    CHECK(st == ACLNN_SUCCESS, "dq: %d %s", (int)st, aclGetRecentErrMsg());
    static const int8_t want[8] = {1, -2, 0, 127, 127, -64, 11, -127};
    CHECK(!memcmp(y, want, 8), "dq int8: %d %d %d %d / %d %d %d %d", y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]);
    CHECK(bits(sc[0]) == 0x3f800000u && bits(sc[1]) == 0x3cc18306u, "dq scales %08x %08x", bits(sc[0]), bits(sc[1]));
    /* the same rows as a 3-D x [2, 1, 4]: rows are the product of the leading dims, scaleOut is [2, 1] */
    memset(y, SENT, sizeof y);
    memset(sc, SENT, sizeof sc);
    st = call_dq(T3(ACL_FLOAT16, 2, 1, 4, x), TNULL, T3(ACL_INT8, 2, 1, 4, y), T2(ACL_FLOAT, 2, 1, sc));
    CHECK(st == ACLNN_SUCCESS && !memcmp(y, want, 8) && bits(sc[1]) == 0x3cc18306u, "dq 3-D: %d %s", (int)st,
          aclGetRecentErrMsg());

    /* smooth factors: x row [1, 2, 4, 8] * [2, 2, 2, 2] = [2, 4, 8, 16]: a = 16, f = 127/16 = 7.9375:
     * [15.875, 31.75, 63.5, 127] -> [16, 32, 64 (tie to even), 127]; scale 1/7.9375 = 0.12598425 */
    uint16_t x1[4], s1[4];
    fill_f16(x1, (const float[]){1, 2, 4, 8}, 4);
    fill_f16(s1, (const float[]){2, 2, 2, 2}, 4);
    st = call_dq(T2(ACL_FLOAT16, 1, 4, x1), T1(ACL_FLOAT16, 4, s1), T2(ACL_INT8, 1, 4, y), T1(ACL_FLOAT, 1, sc));
    CHECK(st == ACLNN_SUCCESS && y[0] == 16 && y[1] == 32 && y[2] == 64 && y[3] == 127 && bits(sc[0]) == 0x3e010204u,
          "dq smooth: %d [%d %d %d %d] %08x", (int)st, y[0], y[1], y[2], y[3], bits(sc[0]));

    /* V2 with a group index [1, 3]: row 0 uses smooth row 0 ([2,2,2,2]), rows 1-2 smooth row 1 ([.5,1,2,4]):
     *   row 1 [1,-1,1,-1] * [.5,1,2,4] = [.5,-1,2,-4]: a = 4, f = 31.75: [15.875, -31.75, 63.5, -127]
     *         -> [16, -32, 64, -127], scale 1/31.75 = 0.031496063 (0x3d010204)
     *   row 2 [6,3,0,-6] * [.5,1,2,4] = [3,3,0,-24]: a = 24, f = f32(127/24) = 5.2916665: [15.875, 15.875, 0,
     *         -127] -> [16, 16, 0, -127], scale 0x3e418306 */
    uint16_t x3[12], s3[8];
    fill_f16(x3, (const float[]){1, 2, 4, 8, 1, -1, 1, -1, 6, 3, 0, -6}, 12);
    fill_f16(s3, (const float[]){2, 2, 2, 2, 0.5f, 1, 2, 4}, 8);
    int32_t gi[2] = {1, 3};
    int8_t y3[12];
    float sc3[3];
    st = call_dq2(T2(ACL_FLOAT16, 3, 4, x3), T2(ACL_FLOAT16, 2, 4, s3), T1(ACL_INT32, 2, gi), T2(ACL_INT8, 3, 4, y3),
                  T1(ACL_FLOAT, 3, sc3), TNULL);
    static const int8_t want3[12] = {16, 32, 64, 127, 16, -32, 64, -127, 16, 16, 0, -127};
    CHECK(st == ACLNN_SUCCESS && !memcmp(y3, want3, 12), "dq v2 groups: %d %s", (int)st, aclGetRecentErrMsg());
    CHECK(bits(sc3[0]) == 0x3e010204u && bits(sc3[1]) == 0x3d010204u && bits(sc3[2]) == 0x3e418306u,
          "dq v2 scales %08x %08x %08x", bits(sc3[0]), bits(sc3[1]), bits(sc3[2]));

    /* the two scale formulas through the native API: a = 9 (row [9, -4.5, 1, 0]):
     * f = f32(127/9) = 14.111111: [127, -63.5 -> -64, 14.11 -> 14, 0] */
    uint16_t x9[4];
    fill_f16(x9, (const float[]){9, -4.5f, 1, 0}, 4);
    for (int tmpl = 1; tmpl <= 2; tmpl++) {
        moeroute_dynamic_quant_args a = {.struct_size = sizeof a, .num_rows = 1, .hidden = 4,
                                         .x_dtype = MOEROUTE_DTYPE_FLOAT16, .x = x9, .x_row_stride = 4,
                                         .x_col_stride = 1, .scale_template = tmpl, .y = y, .scale = sc};
        moeroute_status ms = moeroute_dynamic_quant(NULL, &a);
        CHECK(ms == MOEROUTE_OK && y[0] == 127 && y[1] == -64 && y[2] == 14 && y[3] == 0 &&
                  bits(sc[0]) == (tmpl == 1 ? 0x3d912245u : 0x3d912244u),
              "native template %d: %d %08x %s", tmpl, (int)ms, bits(sc[0]), moeroute_error_message());
    }
    /* the tiling's choice (spec 5.3) */
    CHECK(mr_dynamic_quant_device_template(4, 4096, 0, 0, MR_DYQ_OUT_INT8) == MR_DYQ_B, "4 x 4096");
    CHECK(mr_dynamic_quant_device_template(2, 4096, 0, 0, MR_DYQ_OUT_INT8) == MR_DYQ_B, "2 x 4096 (H %% 8 rule)");
    CHECK(mr_dynamic_quant_device_template(2, 12800, 1, 0, MR_DYQ_OUT_INT8) == MR_DYQ_B, "Hmax with smooth");
    CHECK(mr_dynamic_quant_device_template(2, 12808, 1, 0, MR_DYQ_OUT_INT8) == MR_DYQ_A, "above Hmax with smooth");
    CHECK(mr_dynamic_quant_device_template(2, 16328, 0, 0, MR_DYQ_OUT_INT8) == MR_DYQ_A, "above 16320");
    CHECK(mr_dynamic_quant_device_template(2, 120, 0, 0, MR_DYQ_OUT_INT8) == MR_DYQ_A, "H < 128");
    CHECK(mr_dynamic_quant_device_template(2, 4096, 1, 1, MR_DYQ_OUT_INT8) == MR_DYQ_A, "group index");
    /* int4: the fixed-H clause names int8 only, but those H also meet the H % 8 rule: B either way */
    CHECK(mr_dynamic_quant_device_template(4, 10240, 1, 0, MR_DYQ_OUT_INT4) == MR_DYQ_B, "int4 4 x 10240");
    CHECK(mr_dynamic_quant_device_template(4, 120, 0, 0, MR_DYQ_OUT_INT4_INT32) == MR_DYQ_A, "int4 H < 128");

    /* all-zero row: a = 0, f = inf, 0 * inf = NaN -> 0; scale 1/inf = 0 */
    uint16_t z[4] = {0, 0x8000, 0, 0};
    st = call_dq(T2(ACL_FLOAT16, 1, 4, z), TNULL, T2(ACL_INT8, 1, 4, y), T1(ACL_FLOAT, 1, sc));
    CHECK(st == ACLNN_SUCCESS && mr_test_bytes_are(y, 4, 0) && bits(sc[0]) == 0, "zero row: %08x", bits(sc[0]));
}

/* INT4 outputs (docs/operators/dynamic_quant.md "INT4 outputs"), FLOAT16 x [3, 8], no smooth (template A):
 *   row 0 [7, -3.5, 1.75, .5, -7, 2.5, 0, 6]: a = 7, f = f32(7/7) = 1: [7, -4 (tie to even), 2, 0 (tie), -7,
 *         2 (tie), 0, 6]; scale 1/1 = 1
 *   row 1 [1, 2, 3, 4, 5, 6, 7, 14]: a = 14, f = .5: [0 (tie), 1, 2 (tie), 2, 2 (tie), 3, 4 (tie), 7]; scale 2
 *   row 2 all zero: y = 0, scale +0
 * nibbles (two's complement): 7 -> 7, -4 -> C, -7 -> 9. Two per byte, element 2j in the low nibble:
 *   row 0 C7 02 29 60, row 1 10 22 32 74, row 2 00 00 00 00
 * eight per int32, element t in bits 4t..4t+3: 0x602902C7, 0x74322210, 0 (the same bytes, little-endian). */
static void test_dq_int4(void)
{
    uint16_t x[24];
    fill_f16(x, (const float[]){7, -3.5f, 1.75f, 0.5f, -7, 2.5f, 0, 6, 1, 2, 3, 4, 5, 6, 7, 14, 0, 0, 0, 0, 0, 0, 0, 0},
             24);
    static const uint8_t want4[12] = {0xC7, 0x02, 0x29, 0x60, 0x10, 0x22, 0x32, 0x74, 0, 0, 0, 0};
    static const uint32_t want32[3] = {0x602902C7u, 0x74322210u, 0};
    uint8_t y4[12];
    uint32_t y32[3];
    float sc[3];
    memset(y4, SENT, sizeof y4);
    aclnnStatus st = call_dq(T2(ACL_FLOAT16, 3, 8, x), TNULL, T2(ACL_INT4, 3, 8, y4), T1(ACL_FLOAT, 3, sc));
    CHECK(st == ACLNN_SUCCESS && !memcmp(y4, want4, sizeof y4), "dq INT4: %d %s | %02x %02x %02x %02x %02x %02x",
          (int)st, aclGetRecentErrMsg(), y4[0], y4[1], y4[2], y4[3], y4[4], y4[5]);
    CHECK(bits(sc[0]) == 0x3f800000u && bits(sc[1]) == 0x40000000u && bits(sc[2]) == 0, "dq INT4 scales %08x %08x %08x",
          bits(sc[0]), bits(sc[1]), bits(sc[2]));
    memset(y32, SENT, sizeof y32);
    st = call_dq2(T2(ACL_FLOAT16, 3, 8, x), TNULL, TNULL, T2(ACL_INT32, 3, 1, y32), T1(ACL_FLOAT, 3, sc), TNULL);
    CHECK(st == ACLNN_SUCCESS && !memcmp(y32, want32, sizeof y32), "dq V2 INT32 (int4 x 8): %d %s | %08x %08x %08x",
          (int)st, aclGetRecentErrMsg(), y32[0], y32[1], y32[2]);
    /* native, both packings and both scale formulas: template B is f32(a * f32(1/7)) */
    for (int32_t packing = 1; packing <= 2; packing++)
        for (int tmpl = 1; tmpl <= 2; tmpl++) {
            uint8_t y[12];
            memset(y, SENT, sizeof y);
            moeroute_dynamic_quant_args a = {.struct_size = sizeof a, .num_rows = 3, .hidden = 8,
                                             .x_dtype = MOEROUTE_DTYPE_FLOAT16, .x = x, .x_row_stride = 8,
                                             .x_col_stride = 1, .scale_template = tmpl, .y = (int8_t *)y,
                                             .scale = sc, .y_packing = packing};
            const moeroute_status ms = moeroute_dynamic_quant(NULL, &a);
            const float inv7 = 1.0f / 7.0f, b1 = (float)(14.0 * (double)inv7); /* one rounding of the exact product */
            CHECK(ms == MOEROUTE_OK && !memcmp(y, want4, sizeof y), "native packing %d template %d: %s", packing, tmpl,
                  moeroute_error_message());
            CHECK(tmpl == 1 ? bits(sc[1]) == 0x40000000u : bits(sc[1]) == bits(b1), "native template %d scale %08x",
                  tmpl, bits(sc[1]));
        }
    /* refusals: odd H for INT4, H % 8 != 0 for INT32, INT32 last dim not H / 8; native packing rules */
    uint16_t x6[6] = {0};
    memset(y4, SENT, sizeof y4);
    expect_refused("INT4 with odd H", call_dq(T2(ACL_FLOAT16, 2, 3, x6), TNULL, T2(ACL_INT4, 2, 3, y4),
                                               T1(ACL_FLOAT, 2, sc)), ACLNN_ERR_PARAM_INVALID, 1, y4, sizeof y4);
    expect_refused("INT32 with H = 4", call_dq(T2(ACL_FLOAT16, 1, 4, x), TNULL, T2(ACL_INT32, 1, 1, y4),
                                                T1(ACL_FLOAT, 1, sc)), ACLNN_ERR_PARAM_INVALID, 1, y4, sizeof y4);
    expect_refused("INT32 of x's shape", call_dq(T2(ACL_FLOAT16, 1, 8, x), TNULL, T2(ACL_INT32, 1, 2, y4),
                                                  T1(ACL_FLOAT, 1, sc)), ACLNN_ERR_PARAM_INVALID, 1, y4, sizeof y4);
    expect_refused("INT4 of the wrong shape", call_dq(T2(ACL_FLOAT16, 1, 8, x), TNULL, T2(ACL_INT4, 1, 4, y4),
                                                       T1(ACL_FLOAT, 1, sc)), ACLNN_ERR_PARAM_INVALID, 1, y4, sizeof y4);
    moeroute_dynamic_quant_args a = {.struct_size = sizeof a, .num_rows = 2, .hidden = 3,
                                     .x_dtype = MOEROUTE_DTYPE_FLOAT16, .x = x6, .x_row_stride = 3, .x_col_stride = 1,
                                     .y = (int8_t *)y4, .scale = sc, .y_packing = 1};
    CHECK(moeroute_dynamic_quant(NULL, &a) == MOEROUTE_ERR_INVALID_SHAPE, "native int4, odd H");
    a.hidden = 4, a.num_rows = 1, a.x = x, a.y_packing = 2;
    CHECK(moeroute_dynamic_quant(NULL, &a) == MOEROUTE_ERR_INVALID_SHAPE, "native int4 x 8, H = 4");
    a.y_packing = 3;
    CHECK(moeroute_dynamic_quant(NULL, &a) == MOEROUTE_ERR_INVALID_SHAPE, "native y_packing 3");
    CHECK(mr_test_bytes_are(y4, sizeof y4, SENT), "int4 refusals wrote nothing");
}

/* The int4 model of spec 5.3 for bf16 rows with grouped smooth factors (template A), independent of the
 * operator's kernels: v = f32(x * s), a = max |v|, f = f32(7 / a), q = rint(f32(v * f)) in [-8, 7], packed two
 * per byte (element 2j low). */
static void dq_int4_model(const uint16_t *x, const uint16_t *sm, const int32_t *gi, size_t rows, size_t h,
                          uint8_t *y, float *scale)
{
    for (size_t r = 0; r < rows; r++) {
        const size_t g = (int32_t)r < gi[0] ? 0 : 1;
        float a = 0.0f;
        for (size_t j = 0; j < h; j++) {
            const float v = mr_bf16_to_f32(x[r * h + j]) * mr_bf16_to_f32(sm[g * h + j]);
            a = fabsf(v) > a ? fabsf(v) : a;
        }
        const float f = 7.0f / a;
        for (size_t j = 0; j < h; j += 2) {
            int q[2];
            for (int t = 0; t < 2; t++) {
                const float v = mr_bf16_to_f32(x[r * h + j + t]) * mr_bf16_to_f32(sm[g * h + j + t]);
                const float p = nearbyintf(v * f);
                q[t] = p != p ? 0 : p < -8 ? -8 : p > 7 ? 7 : (int)p;
            }
            y[r * h / 2 + j / 2] = (uint8_t)((q[0] & 0xF) | (q[1] & 0xF) << 4);
        }
        scale[r] = 1.0f / f;
    }
}

static void test_dq_refusals(void)
{
    uint16_t x[8] = {0}, s[8] = {0};
    int8_t y[8];
    float sc[2];
    int32_t gi[2] = {1, 2};
    int64_t gi64[2] = {1, 2};
#define DQ_REF(what, call, want, phase)                                                                        \
    do {                                                                                                      \
        memset(y, SENT, sizeof y);                                                                            \
        memset(sc, SENT, sizeof sc);                                                                          \
        aclnnStatus st_ = call;                                                                               \
        expect_refused(what, st_, want, phase, y, sizeof y);                                                  \
        CHECK(mr_test_bytes_are(sc, sizeof sc, SENT), "%s: scale written", what);                             \
    } while (0)
    const tspec X = T2(ACL_FLOAT16, 2, 4, x), Y = T2(ACL_INT8, 2, 4, y), S = T1(ACL_FLOAT, 2, sc);
    DQ_REF("NULL x", call_dq(TNULL, TNULL, Y, S), ACLNN_ERR_PARAM_NULLPTR, 1);
    DQ_REF("NULL yOut", call_dq(X, TNULL, TNULL, S), ACLNN_ERR_PARAM_NULLPTR, 1);
    DQ_REF("NULL scaleOut", call_dq(X, TNULL, Y, TNULL), ACLNN_ERR_PARAM_NULLPTR, 1);
    DQ_REF("FLOAT x", call_dq(T2(ACL_FLOAT, 2, 2, x), TNULL, T2(ACL_INT8, 2, 2, y), S), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("smooth dtype", call_dq(X, T1(ACL_BF16, 4, s), Y, S), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("INT16 y", call_dq(X, TNULL, T2(ACL_INT16, 2, 4, y), S), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("INT32 y", call_dq(X, TNULL, T2(ACL_INT32, 2, 1, y), S), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("FLOAT16 scale", call_dq(X, TNULL, Y, T1(ACL_FLOAT16, 2, sc)), ACLNN_ERR_PARAM_INVALID, 1);
    tspec nchw = X;
    nchw.fmt = ACL_FORMAT_NCHW;
    DQ_REF("format", call_dq(nchw, TNULL, Y, S), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("x rank 1", call_dq(T1(ACL_FLOAT16, 8, x), TNULL, T1(ACL_INT8, 8, y), T1(ACL_FLOAT, 1, sc)),
           ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("smooth length", call_dq(X, T1(ACL_FLOAT16, 3, s), Y, S), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("smooth 2-D without group", call_dq(X, T2(ACL_FLOAT16, 1, 4, s), Y, S), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("y shape", call_dq(X, TNULL, T2(ACL_INT8, 4, 2, y), S), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("scale shape", call_dq(X, TNULL, Y, T1(ACL_FLOAT, 1, sc)), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("offsetOut", call_dq2(X, TNULL, TNULL, Y, S, T1(ACL_FLOAT, 2, sc)), ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("INT64 group", call_dq2(X, T2(ACL_FLOAT16, 2, 4, s), T1(ACL_INT64, 2, gi64), Y, S, TNULL),
           ACLNN_ERR_INNER_TILING_ERROR, 1);
    DQ_REF("group 2-D", call_dq2(X, T2(ACL_FLOAT16, 2, 4, s), T2(ACL_INT32, 1, 2, gi), Y, S, TNULL),
           ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("smooth 1-D with group", call_dq2(X, T1(ACL_FLOAT16, 4, s), T1(ACL_INT32, 2, gi), Y, S, TNULL),
           ACLNN_ERR_PARAM_INVALID, 1);
    DQ_REF("smooth rows != G", call_dq2(X, T2(ACL_FLOAT16, 1, 4, s), T1(ACL_INT32, 2, gi), Y, S, TNULL),
           ACLNN_ERR_INNER_TILING_ERROR, 1);
    DQ_REF("smooth cols != H", call_dq2(X, T2(ACL_FLOAT16, 2, 3, s), T1(ACL_INT32, 2, gi), Y, S, TNULL),
           ACLNN_ERR_INNER_TILING_ERROR, 1);
    int32_t bad[3][2] = {{2, 1}, {1, 3}, {1, 1}};
    for (int i = 0; i < 3; i++)
        DQ_REF("group data", call_dq2(X, T2(ACL_FLOAT16, 2, 4, s), T1(ACL_INT32, 2, bad[i]), Y, S, TNULL),
               ACLNN_ERR_PARAM_INVALID, 2);
    /* native */
    moeroute_dynamic_quant_args a = {.struct_size = sizeof a, .num_rows = 2, .hidden = 4,
                                     .x_dtype = MOEROUTE_DTYPE_FLOAT16, .x = x, .x_row_stride = 4, .x_col_stride = 1,
                                     .y = y, .scale = sc};
    CHECK(moeroute_dynamic_quant(NULL, NULL) == MOEROUTE_ERR_NULL_POINTER, "native NULL args");
    moeroute_dynamic_quant_args b = a;
    b.struct_size = 8;
    CHECK(moeroute_dynamic_quant(NULL, &b) == MOEROUTE_ERR_INVALID_ARGS_SIZE, "struct_size");
    b = a, b.x_dtype = MOEROUTE_DTYPE_INT8;
    CHECK(moeroute_dynamic_quant(NULL, &b) == MOEROUTE_ERR_INVALID_DTYPE, "native dtype");
    b = a, b.hidden = -1;
    CHECK(moeroute_dynamic_quant(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native negative H");
    b = a, b.scale_template = 3;
    CHECK(moeroute_dynamic_quant(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native template");
    b = a, b.group_index_int64 = 2;
    CHECK(moeroute_dynamic_quant(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native group_index_int64");
    b = a, b.y = NULL;
    CHECK(moeroute_dynamic_quant(NULL, &b) == MOEROUTE_ERR_NULL_POINTER, "native NULL y");
    b = a, b.num_groups = 2, b.group_index = bad[2];
    memset(y, SENT, sizeof y);
    CHECK(moeroute_dynamic_quant(NULL, &b) == MOEROUTE_ERR_INVALID_VALUE && mr_test_bytes_are(y, 8, SENT),
          "native group data");
    b = a, b.y = (int8_t *)(void *)x;
    CHECK(moeroute_dynamic_quant(NULL, &b) == MOEROUTE_ERR_ALIASING, "native aliasing");
    CHECK(moeroute_error_message() != NULL, "native message");
#undef DQ_REF
}

/* SwiGlu, FLOAT x [0, 1, 2, 3] (dim -1): A = [0, 1], B = [2, 3]: silu(0) * 2 = 0,
 * silu(1) = 1 / (1 + e^-1) = 0.73105858 -> * 3 = 2.1931758 (0x400c5cfe).
 * BFLOAT16 x [-1, 0.5, 2, -4]: silu(-1) * 2 = -0.26894142 * 2 = -0.53788284 -> bf16 RNE 0xbf0a (-0.5390625);
 * silu(0.5) * -4 = 0.31122968 * -4 = -1.2449187 -> 0xbf9f (-1.2421875).
 * FLOAT16 x [[1, 2], [3, 4]] along dim 0: A = [1, 2], B = [3, 4]: silu(1) * 3 = 2.1931758 -> 0x4063 (2.1933594),
 * silu(2) * 4 = 1.7615942 * 4 = 7.0463767 -> 0x470c (7.046875). */
static void test_swiglu_hand(void)
{
    float x[4] = {0, 1, 2, 3}, out[2];
    aclnnStatus st = call_swg(T1(ACL_FLOAT, 4, x), -1, T1(ACL_FLOAT, 2, out));
    CHECK(st == ACLNN_SUCCESS && bits(out[0]) == 0 && bits(out[1]) == 0x400c5cfeu, "swiglu f32: %d %08x %08x", (int)st,
          bits(out[0]), bits(out[1]));
    uint16_t xb[4] = {mr_f32_to_bf16(-1), mr_f32_to_bf16(0.5f), mr_f32_to_bf16(2), mr_f32_to_bf16(-4)}, ob[2];
    st = call_swg(T2(ACL_BF16, 1, 4, xb), 1, T2(ACL_BF16, 1, 2, ob));
    CHECK(st == ACLNN_SUCCESS && ob[0] == 0xbf0a && ob[1] == 0xbf9f, "swiglu bf16: %04x %04x", ob[0], ob[1]);
    uint16_t xh[4], oh[2];
    fill_f16(xh, (const float[]){1, 2, 3, 4}, 4);
    st = call_swg(T2(ACL_FLOAT16, 2, 2, xh), 0, T2(ACL_FLOAT16, 1, 2, oh));
    CHECK(st == ACLNN_SUCCESS && oh[0] == 0x4063 && oh[1] == 0x470c, "swiglu f16 dim 0: %04x %04x", oh[0], oh[1]);
    /* native: the same FLOAT case */
    moeroute_swiglu_args a = {.struct_size = sizeof a, .num_rows = 1, .cols = 4, .x_dtype = MOEROUTE_DTYPE_FLOAT32,
                              .x = x, .x_row_stride = 4, .x_col_stride = 1, .out = out};
    memset(out, 0, sizeof out);
    CHECK(moeroute_swiglu(NULL, &a) == MOEROUTE_OK && bits(out[1]) == 0x400c5cfeu, "native swiglu");

    /* refusals */
    float o[4];
#define SWG_REF(what, call, want)                                                                              \
    do {                                                                                                      \
        memset(o, SENT, sizeof o);                                                                            \
        expect_refused(what, call, want, 1, o, sizeof o);                                                     \
    } while (0)
    SWG_REF("NULL x", call_swg(TNULL, -1, T1(ACL_FLOAT, 2, o)), ACLNN_ERR_PARAM_NULLPTR);
    SWG_REF("NULL out", call_swg(T1(ACL_FLOAT, 4, x), -1, TNULL), ACLNN_ERR_PARAM_NULLPTR);
    SWG_REF("INT8 x", call_swg(T1(ACL_INT8, 4, x), -1, T1(ACL_INT8, 2, o)), ACLNN_ERR_PARAM_INVALID);
    SWG_REF("out dtype", call_swg(T1(ACL_FLOAT, 4, x), -1, T1(ACL_FLOAT16, 2, o)), ACLNN_ERR_PARAM_INVALID);
    SWG_REF("dim too large", call_swg(T1(ACL_FLOAT, 4, x), 1, T1(ACL_FLOAT, 2, o)), ACLNN_ERR_INNER_TILING_ERROR);
    SWG_REF("dim too small", call_swg(T1(ACL_FLOAT, 4, x), -2, T1(ACL_FLOAT, 2, o)), ACLNN_ERR_INNER_TILING_ERROR);
    SWG_REF("odd split", call_swg(T1(ACL_FLOAT, 3, x), 0, T1(ACL_FLOAT, 1, o)), ACLNN_ERR_INNER_TILING_ERROR);
    SWG_REF("out shape", call_swg(T1(ACL_FLOAT, 4, x), 0, T1(ACL_FLOAT, 4, o)), ACLNN_ERR_INNER_TILING_ERROR);
    moeroute_swiglu_args b = a;
    b.cols = 3;
    CHECK(moeroute_swiglu(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native odd cols");
    b = a, b.x_dtype = MOEROUTE_DTYPE_INT32;
    CHECK(moeroute_swiglu(NULL, &b) == MOEROUTE_ERR_INVALID_DTYPE, "native dtype");
    b = a, b.out = x;
    CHECK(moeroute_swiglu(NULL, &b) == MOEROUTE_ERR_ALIASING, "native aliasing");
    b = a, b.struct_size = 4;
    CHECK(moeroute_swiglu(NULL, &b) == MOEROUTE_ERR_INVALID_ARGS_SIZE, "native struct_size");
#undef SWG_REF
}

/* DequantSwigluQuant, INT32 x [[10, -20, 30, 40], [4, 2, -8, 6]], weightScale [.5, .5, .25, .25],
 * activationScale [[2], [.5]]: v = x * ws * as = [[10, -20, 15, 20], [1, .5, -1, .75]].
 *   dynamic, activateLeft: s = silu([10, -20]) * [15, 20] = [9.9995461 * 15, -4.1223071e-8 * 20]
 *       = [149.99319, -8.2446e-7]; sc = 149.99319 / 127 = 1.1810488 (0x3f972c9b); y = [127, -0 -> 0]
 *     row 1: silu([1, .5]) * [-1, .75] = [-0.73105860, 0.23342226]; sc = 0.7310586 / 127 (0x3bbc9fe8);
 *       y = [-127, rint(40.55) = 41]
 *   dynamic, activate right: s = silu([15, 20]) * [10, -20] = [149.99995, -400]: sc = 400 / 127 = 3.1496062
 *       (0x40499326): [rint(47.62) = 48, -127]; row 1 silu([-1, .75]) * [1, .5] = [-0.26894142, 0.25469157]:
 *       sc = 0.26894142 / 127 (0x3b0ac842): [-127, rint(120.27) = 120]
 *   static, quantScale [.25], quantOffset [.5], activateLeft: y = rint(s * .25 + .5):
 *       row 0 [37.998 + .5 -> 38, 0.49999979 -> 0]; row 1 [-0.18276465 + .5 = 0.31723535 -> 0, 0.55835557 -> 1] */
static void test_dsq_hand(void)
{
    int32_t x[8] = {10, -20, 30, 40, 4, 2, -8, 6};
    float ws[4] = {0.5f, 0.5f, 0.25f, 0.25f}, as[2] = {2, 0.5f}, sc[2], qs = 0.25f, qo = 0.5f;
    int8_t y[4];
    const tspec X = T2(ACL_INT32, 2, 4, x), WS = T1(ACL_FLOAT, 4, ws), AS = T2(ACL_FLOAT, 2, 1, as);
    const tspec Y = T2(ACL_INT8, 2, 2, y), S = T1(ACL_FLOAT, 2, sc);
    aclnnStatus st = call_dsq((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, TNULL, true, "dynamic", Y, S});
    CHECK(st == ACLNN_SUCCESS && y[0] == 127 && y[1] == 0 && y[2] == -127 && y[3] == 41, "dsq left: %d [%d %d %d %d] %s",
          (int)st, y[0], y[1], y[2], y[3], aclGetRecentErrMsg());
    CHECK(bits(sc[0]) == 0x3f972c9bu && bits(sc[1]) == 0x3bbc9fe8u, "dsq left scales %08x %08x", bits(sc[0]),
          bits(sc[1]));
    st = call_dsq((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, TNULL, false, "dynamic", Y, S});
    CHECK(st == ACLNN_SUCCESS && y[0] == 48 && y[1] == -127 && y[2] == -127 && y[3] == 120 &&
              bits(sc[0]) == 0x40499326u && bits(sc[1]) == 0x3b0ac842u,
          "dsq right: [%d %d %d %d] %08x %08x", y[0], y[1], y[2], y[3], bits(sc[0]), bits(sc[1]));
    memset(sc, SENT, sizeof sc);
    st = call_dsq((dsq_call){X, WS, AS, TNULL, T1(ACL_FLOAT, 1, &qs), T1(ACL_FLOAT, 1, &qo), TNULL, true, NULL, Y, S});
    CHECK(st == ACLNN_SUCCESS && y[0] == 38 && y[1] == 0 && y[2] == 0 && y[3] == 1, "dsq static: [%d %d %d %d]",
          y[0], y[1], y[2], y[3]);
    CHECK(mr_test_bytes_are(sc, sizeof sc, SENT), "dsq static wrote scaleOut");

    /* a group index of counts [1] covers row 0 only: row 1 is not written; with MOEROUTE_POISON_UNWRITTEN=1 it
     * becomes 0x7F bytes and a NaN scale */
    int32_t cnt = 1;
    memset(y, SENT, sizeof y);
    memset(sc, SENT, sizeof sc);
    st = call_dsq((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, T1(ACL_INT32, 1, &cnt), true, "dynamic", Y, S});
    CHECK(st == ACLNN_SUCCESS && y[0] == 127 && y[1] == 0 && mr_test_bytes_are(y + 2, 2, SENT) &&
              mr_test_bytes_are(sc + 1, 4, SENT),
          "dsq unwritten rows");
    setenv("MOEROUTE_POISON_UNWRITTEN", "1", 1);
    st = call_dsq((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, T1(ACL_INT32, 1, &cnt), true, "dynamic", Y, S});
    unsetenv("MOEROUTE_POISON_UNWRITTEN");
    CHECK(st == ACLNN_SUCCESS && mr_test_bytes_are(y + 2, 2, 0x7F) && isnan(sc[1]), "dsq poison");

    /* refusals (outputs checked untouched) */
    int8_t yo[4];
    float f[16] = {0};
    int32_t two[2] = {1, 1};
#define DSQ_REF(what, c, want, phase)                                                                          \
    do {                                                                                                      \
        memset(yo, SENT, sizeof yo);                                                                          \
        expect_refused(what, call_dsq(c), want, phase, yo, sizeof yo);                                        \
    } while (0)
    const tspec YO = T2(ACL_INT8, 2, 2, yo), SO = T1(ACL_FLOAT, 2, f + 12);
    DSQ_REF("NULL x", ((dsq_call){TNULL, WS, AS, TNULL, TNULL, TNULL, TNULL, true, "dynamic", YO, SO}),
            ACLNN_ERR_PARAM_NULLPTR, 1);
    DSQ_REF("NULL yOut", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, TNULL, true, "dynamic", TNULL, SO}),
            ACLNN_ERR_PARAM_NULLPTR, 1);
    DSQ_REF("FLOAT x", ((dsq_call){T2(ACL_FLOAT, 2, 4, f), TNULL, TNULL, TNULL, TNULL, TNULL, TNULL, true, "dynamic",
                                   YO, SO}),
            ACLNN_ERR_PARAM_INVALID, 1);
    DSQ_REF("FLOAT16 weightScale", ((dsq_call){X, T1(ACL_FLOAT16, 4, f), AS, TNULL, TNULL, TNULL, TNULL, true,
                                               "dynamic", YO, SO}),
            ACLNN_ERR_PARAM_INVALID, 1);
    DSQ_REF("FLOAT16 yOut", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, TNULL, true, "dynamic",
                                        T2(ACL_FLOAT16, 2, 2, yo), SO}),
            ACLNN_ERR_PARAM_INVALID, 1);
    DSQ_REF("quantMode", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, TNULL, true, "pertoken", YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("x rank 1", ((dsq_call){T1(ACL_INT32, 4, x), WS, T1(ACL_FLOAT, 1, as), TNULL, TNULL, TNULL, TNULL, true,
                                    "dynamic", T1(ACL_INT8, 2, yo), T1(ACL_FLOAT, 1, f)}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("odd columns", ((dsq_call){T2(ACL_INT32, 2, 3, x), T1(ACL_FLOAT, 3, ws), AS, TNULL, TNULL, TNULL, TNULL,
                                       true, "dynamic", T2(ACL_INT8, 2, 1, yo), SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("INT32 x without weightScale", ((dsq_call){X, TNULL, AS, TNULL, TNULL, TNULL, TNULL, true, "dynamic", YO,
                                                       SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("weightScale shape", ((dsq_call){X, T1(ACL_FLOAT, 2, ws), AS, TNULL, TNULL, TNULL, TNULL, true, "dynamic",
                                             YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("activationScale shape", ((dsq_call){X, WS, T2(ACL_FLOAT, 1, 2, as), TNULL, TNULL, TNULL, TNULL, true,
                                                 "dynamic", YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("bias shape", ((dsq_call){X, WS, AS, T1(ACL_FLOAT, 3, f), TNULL, TNULL, TNULL, true, "dynamic", YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("dynamic quantScale shape", ((dsq_call){X, WS, AS, TNULL, T1(ACL_FLOAT, 3, f), TNULL, TNULL, true,
                                                    "dynamic", YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("dynamic with quantOffset", ((dsq_call){X, WS, AS, TNULL, TNULL, T1(ACL_FLOAT, 1, &qo), TNULL, true,
                                                    "dynamic", YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("static without quantScale", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, TNULL, true, "static", YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("static quantScale shape", ((dsq_call){X, WS, AS, TNULL, T1(ACL_FLOAT, 2, f), TNULL, TNULL, true,
                                                   "static", YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("quantOffset shape", ((dsq_call){X, WS, AS, TNULL, T1(ACL_FLOAT, 1, &qs), T2(ACL_FLOAT, 1, 1, &qo), TNULL,
                                             true, "static", YO, SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("group 2-D", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, T2(ACL_INT32, 1, 2, two), true, "dynamic", YO,
                                     SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("yOut shape", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, TNULL, true, "dynamic", T2(ACL_INT8, 2, 4, f),
                                      SO}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    DSQ_REF("scaleOut shape", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, TNULL, true, "dynamic", YO,
                                          T1(ACL_FLOAT, 3, f)}),
            ACLNN_ERR_INNER_TILING_ERROR, 1);
    int32_t over[2] = {1, 2}, neg[2] = {-1, 1};
    DSQ_REF("counts past the rows", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, T1(ACL_INT32, 2, over), true,
                                                "dynamic", YO, SO}),
            ACLNN_ERR_PARAM_INVALID, 2);
    DSQ_REF("negative count", ((dsq_call){X, WS, AS, TNULL, TNULL, TNULL, T1(ACL_INT32, 2, neg), true, "dynamic", YO,
                                          SO}),
            ACLNN_ERR_PARAM_INVALID, 2);
    /* the Atlas A2 buffer limit: 10 rows' worth of an INT32 x row of 2n = 6000 columns is 240000 bytes */
    enum { BIGC = 6000 };
    static int32_t bx[BIGC];
    static float bws[BIGC], bas[1], bsc[1];
    static int8_t by[BIGC / 2];
    const dsq_call big = {T2(ACL_INT32, 1, BIGC, bx), T1(ACL_FLOAT, BIGC, bws), T2(ACL_FLOAT, 1, 1, bas), TNULL, TNULL,
                          TNULL, TNULL, true, "dynamic", T2(ACL_INT8, 1, BIGC / 2, by), T1(ACL_FLOAT, 1, bsc)};
    memset(by, SENT, sizeof by);
    expect_refused("A2 buffer limit", call_dsq(big), ACLNN_ERR_INNER_TILING_ERROR, 1, by, sizeof by);
    setenv("MOEROUTE_DEVICE_LIMITS", "0", 1);
    CHECK(call_dsq(big) == ACLNN_SUCCESS, "MOEROUTE_DEVICE_LIMITS=0 lifts the buffer limit: %s", aclGetRecentErrMsg());
    unsetenv("MOEROUTE_DEVICE_LIMITS");

    /* native */
    moeroute_dequant_swiglu_quant_args a = {
        .struct_size = sizeof a, .num_rows = 2, .cols = 4, .x_dtype = MOEROUTE_DTYPE_INT32, .x = x,
        .x_row_stride = 4, .x_col_stride = 1, .param_rows = 1, .weight_scale = ws, .activation_scale = as,
        .bias_dtype = MOEROUTE_DTYPE_FLOAT32, .activate_left = 1, .quant_mode = 1, .y = y, .scale = sc};
    memset(y, 0, sizeof y);
    CHECK(moeroute_dequant_swiglu_quant(NULL, &a) == MOEROUTE_OK && y[0] == 127 && y[3] == 41 &&
              bits(sc[1]) == 0x3bbc9fe8u,
          "native dsq: %s", moeroute_error_message());
    moeroute_dequant_swiglu_quant_args b = a;
    b.x_dtype = MOEROUTE_DTYPE_INT8;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_INVALID_DTYPE, "native x dtype");
    b = a, b.bias = f, b.bias_dtype = MOEROUTE_DTYPE_INT8;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_INVALID_DTYPE, "native bias dtype");
    b = a, b.cols = 3;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native odd cols");
    b = a, b.param_rows = 2;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native param_rows");
    b = a, b.quant_mode = 2;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native quant_mode");
    b = a, b.activate_left = 5;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native activate_left");
    b = a, b.quant_mode = 0;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_NULL_POINTER, "native static without quant_scale");
    b = a, b.quant_offset = &qo;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_INVALID_SHAPE, "native dynamic offset");
    b = a, b.num_groups = 2, b.group_index = over;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_INVALID_VALUE, "native counts");
    b = a, b.scale = ws;
    CHECK(moeroute_dequant_swiglu_quant(NULL, &b) == MOEROUTE_ERR_ALIASING, "native aliasing");
    CHECK(moeroute_dequant_swiglu_quant(NULL, NULL) == MOEROUTE_ERR_NULL_POINTER, "native NULL args");
#undef DSQ_REF
}

/* The MLP kernel family at every ISA level against the scalar references it replaces with branch-free loops:
 * every fp16 value widened as mr_f16_to_f32; fp32 values (random bit patterns, ties, edges) rounded to int8 as
 * mr_i8_rne and narrowed as mr_f32_to_bf16 / mr_f32_to_f16; SwiGLU equal to mr_siluf(a) * b. */
static void test_kernels(uint64_t *rng)
{
    enum { N = 1 << 16 };
    static uint16_t h[N], nb[N], nh[N];
    static float w[N], v[N], a[N], r[N];
    static int8_t q[N];
    for (uint32_t i = 0; i < N; i++) h[i] = (uint16_t)i;
    for (uint32_t i = 0; i < N; i++) {
        const uint64_t u = mr_test_rand(rng);
        uint32_t bitsv = (uint32_t)u;
        float f;
        memcpy(&f, &bitsv, 4);
        if (i % 4 == 1) f = (float)((int32_t)(u >> 40) % 600) * 0.5f; /* ties and saturation */
        if (i % 4 == 2) f = (float)((int32_t)(u >> 36) % 20000) * 0.01f - 100.0f;
        v[i] = f;
        a[i] = (float)((int32_t)(u >> 33) % 4000) * 0.01f - 20.0f;
    }
    const float edges[] = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, -1.5f, 126.5f, 127.5f, -127.5f, -128.5f, 127.49999f,
                           INFINITY, -INFINITY, NAN, 1e30f, -1e30f, 65520.0f, 65519.99f, 1e-45f, 3.0e-39f};
    memcpy(v, edges, sizeof edges);
    const moeroute_isa levels[4] = {MOEROUTE_ISA_SCALAR, MOEROUTE_ISA_AVX2, MOEROUTE_ISA_AVX512, MOEROUTE_ISA_NEON};
    for (int l = 0; l < 4; l++) {
        const mr_mlp_config *k = mr_dispatch_mlp(levels[l]);
        k->widen[MR_X_F16](h, w, N);
        int bad = 0;
        for (uint32_t i = 0; i < N; i++) bad += bits(w[i]) != bits(mr_f16_to_f32(h[i]));
        CHECK(bad == 0, "isa %d: %d fp16 values widened differently", k->isa, bad);
        k->quant_mul(v, 1.0f, q, N);
        k->narrow[MR_X_BF16](v, nb, N);
        k->narrow[MR_X_F16](v, nh, N);
        int bq = 0, bb = 0, bh = 0;
        for (uint32_t i = 0; i < N; i++) {
            bq += q[i] != mr_i8_rne(v[i]);
            bb += nb[i] != mr_f32_to_bf16(v[i]);
            bh += nh[i] != mr_f32_to_f16(v[i]);
        }
        CHECK(bq == 0 && bb == 0 && bh == 0, "isa %d: int8 %d, bf16 %d, fp16 %d differences", k->isa, bq, bb, bh);
        k->swiglu(a, v, r, N);
        int bs = 0;
        for (uint32_t i = 0; i < N; i++) {
            const float want = mr_siluf(a[i]) * v[i];
            bs += bits(r[i]) != bits(want) && !(isnan(r[i]) && isnan(want));
        }
        CHECK(bs == 0, "isa %d: %d SwiGLU values differ from mr_siluf(a) * b", k->isa, bs);
        /* the combine's fused term against widen, multiply and add, every dtype, with and without the scale */
        int bt = 0;
        for (int xt = 0; xt < MR_X_COUNT; xt++)
            for (int sc = 0; sc < 2; sc++) {
                const void *x = xt == MR_X_F32 ? (const void *)v : (const void *)h;
                const float s = 0.37f + (float)xt;
                memcpy(r, a, sizeof r);
                k->acc_x[xt](r, x, s, sc, N);
                for (uint32_t i = 0; i < N; i++) {
                    const float wv = xt == MR_X_F32 ? v[i] : xt == MR_X_F16 ? mr_f16_to_f32(h[i]) : mr_bf16_to_f32(h[i]);
                    const float want = a[i] + (sc ? wv * s : wv);
                    bt += bits(r[i]) != bits(want) && !(isnan(r[i]) && isnan(want));
                }
            }
        CHECK(bt == 0, "isa %d: %d combine terms differ from widen, multiply and add", k->isa, bt);
        /* canon: every NaN (both signs, quiet and signalling payloads among the random bit patterns) becomes
           0x7FC00000, everything else keeps its bits; an odd length and an unaligned start reach the tails */
        int bc = 0, nans = 0;
        memcpy(r, v, sizeof r);
        k->canon(r + 3, N - 8);
        for (uint32_t i = 0; i < N; i++) {
            const int in = i >= 3 && i < N - 5;
            nans += in && isnan(v[i]);
            bc += bits(r[i]) != (in && isnan(v[i]) ? 0x7FC00000u : bits(v[i]));
        }
        CHECK(bc == 0 && nans > 20, "isa %d: %d values canonicalized wrongly (%d NaNs in)", k->isa, bc, nans);
    }
}

/* The fp16 / bf16 row pass of SwiGlu (mlp.h's swiglu_x: SiLU from the table, gathers and non-temporal stores
 * on x86) at every ISA level against the formula evaluated here: every a bit pattern with random b bits (NaN and
 * inf included), cached and streaming stores, rows starting off the 64-byte grid, nothing written past the row.
 * The tables themselves: mr_siluf of every bit pattern. */
static void test_swiglu_rows(uint64_t *rng)
{
    enum { N = 1 << 16, PAD = 64 };
    static uint16_t a[N], b[N], d[N + PAD];
    for (uint32_t i = 0; i < N; i++) a[i] = (uint16_t)i, b[i] = (uint16_t)mr_test_rand(rng);
    for (int f16 = 0; f16 < 2; f16++) {
        const float *t = mr_silu_table(f16 ? MR_X_F16 : MR_X_BF16);
        int bad = 0;
        for (uint32_t u = 0; u < N; u++)
            bad += bits(t[u]) != bits(mr_siluf(f16 ? mr_f16_to_f32((uint16_t)u) : mr_bf16_to_f32((uint16_t)u)));
        CHECK(bad == 0 && mr_silu_table(MR_X_F32) == NULL, "%s SiLU table: %d entries differ", f16 ? "fp16" : "bf16",
              bad);
        const moeroute_isa levels[4] = {MOEROUTE_ISA_SCALAR, MOEROUTE_ISA_AVX2, MOEROUTE_ISA_AVX512,
                                        MOEROUTE_ISA_NEON};
        for (int l = 0; l < 4; l++) {
            const mr_mlp_config *k = mr_dispatch_mlp(levels[l]);
            for (int v = 0; v < 6; v++) {
                const size_t off = (size_t)(v / 2) * 5, n = N - off - 2 * (size_t)(v / 2); /* rows 0, 5, 10 in */
                memset(d, SENT, sizeof d);
                k->swiglu_x[f16 ? MR_X_F16 : MR_X_BF16](a + off, b + off, t, d + off, n, v % 2);
                int wrong = 0, outside = 0;
                for (size_t i = 0; i < N + PAD; i++) {
                    if (i < off || i >= off + n) {
                        outside += d[i] != (uint16_t)(SENT * 0x101);
                        continue;
                    }
                    float r = f16 ? mr_siluf(mr_f16_to_f32(a[i])) * mr_f16_to_f32(b[i])
                                  : mr_siluf(mr_bf16_to_f32(a[i])) * mr_bf16_to_f32(b[i]);
                    if (isnan(r)) r = mr_f32_from_bits(0x7FC00000u);
                    wrong += d[i] != (f16 ? mr_f32_to_f16(r) : mr_f32_to_bf16(r));
                }
                CHECK(wrong == 0 && outside == 0, "isa %d %s swiglu_x (offset %zu, stream %d): %d wrong, %d outside",
                      k->isa, f16 ? "fp16" : "bf16", off, v % 2, wrong, outside);
            }
        }
    }
}

/* The same bytes for 1 and 4 threads and every ISA level, on inputs large enough to be split into tasks (also
 * the ThreadSanitizer case of this file). */
static void test_threads_and_isas(uint64_t *rng)
{
    enum { R = 96, H = 1024 };
    static uint16_t x[R * H], sm[2 * H];
    static int32_t xi[R * H];
    static float wsc[H], asc[R];
    for (size_t i = 0; i < R * H; i++) {
        const uint64_t u = mr_test_rand(rng);
        x[i] = mr_f32_to_bf16((float)((int64_t)(u % 20001) - 10000) * 0.01f);
        xi[i] = (int32_t)(u >> 40) - (1 << 23);
    }
    for (size_t i = 0; i < 2 * H; i++) sm[i] = mr_f32_to_bf16(0.5f + (float)(mr_test_rand(rng) % 100) * 0.01f);
    for (size_t i = 0; i < H; i++) wsc[i] = (float)(mr_test_rand(rng) % 1000) * 1e-6f;
    for (size_t i = 0; i < R; i++) asc[i] = 0.5f + (float)(mr_test_rand(rng) % 100) * 0.01f;
    const int32_t gi[2] = {40, R}, counts[2] = {50, 30};
    static int8_t y[2][R * H], yd[2][R * H / 2];
    static float sc[2][R], sd[2][R];
    static uint16_t o[2][R * H / 2];
    const moeroute_isa isas[4] = {MOEROUTE_ISA_SCALAR, MOEROUTE_ISA_AVX2, MOEROUTE_ISA_AVX512, MOEROUTE_ISA_NEON};
    static uint8_t y4[R * H / 2], y4_want[R * H / 2];
    static uint32_t y32[R * H / 8];
    static float sc4[R], sc4_want[R];
    dq_int4_model(x, sm, gi, R, H, y4_want, sc4_want);
    for (int v = 0; v < 8; v++) {
        moeroute_options opt = {v % 2 ? 4 : 1, isas[v / 2]};
        moeroute_context *ctx = NULL;
        CHECK(moeroute_context_create(&opt, &ctx) == MOEROUTE_OK, "context");
        const int k = v == 0 ? 0 : 1;
        moeroute_dynamic_quant_args dq = {.struct_size = sizeof dq, .num_rows = R, .hidden = H,
                                          .x_dtype = MOEROUTE_DTYPE_BFLOAT16, .x = x, .x_row_stride = H,
                                          .x_col_stride = 1, .smooth_scales = sm, .num_groups = 2, .group_index = gi,
                                          .y = y[k], .scale = sc[k]};
        CHECK(moeroute_dynamic_quant(ctx, &dq) == MOEROUTE_OK, "dq threads: %s", moeroute_error_message());
        if (k) CHECK(!memcmp(y[0], y[1], sizeof y[0]) && !memcmp(sc[0], sc[1], sizeof sc[0]), "dq variant %d", v);
        dq.y_packing = 1, dq.y = (int8_t *)y4, dq.scale = sc4; /* int4, two per byte, against the model */
        memset(y4, SENT, sizeof y4);
        CHECK(moeroute_dynamic_quant(ctx, &dq) == MOEROUTE_OK && !memcmp(y4, y4_want, sizeof y4) &&
                  !memcmp(sc4, sc4_want, sizeof sc4), "dq int4 variant %d equals the model", v);
        dq.y_packing = 2, dq.y = (int8_t *)y32; /* eight per int32: the same bytes on a little-endian host */
        CHECK(moeroute_dynamic_quant(ctx, &dq) == MOEROUTE_OK && (!little_endian() ||
              !memcmp(y32, y4_want, sizeof y32)), "dq int4 x 8 variant %d", v);
        moeroute_swiglu_args sw = {.struct_size = sizeof sw, .num_rows = R, .cols = H,
                                   .x_dtype = MOEROUTE_DTYPE_BFLOAT16, .x = x, .x_row_stride = H, .x_col_stride = 1,
                                   .out = o[k]};
        CHECK(moeroute_swiglu(ctx, &sw) == MOEROUTE_OK, "swiglu threads");
        if (k) CHECK(!memcmp(o[0], o[1], sizeof o[0]), "swiglu variant %d", v);
        moeroute_dequant_swiglu_quant_args dsq = {
            .struct_size = sizeof dsq, .num_rows = R, .cols = H, .x_dtype = MOEROUTE_DTYPE_INT32, .x = xi,
            .x_row_stride = H, .x_col_stride = 1, .num_groups = 2, .group_index = counts, .param_rows = 1,
            .weight_scale = wsc, .activation_scale = asc, .bias_dtype = MOEROUTE_DTYPE_FLOAT32, .activate_left = 1,
            .quant_mode = 1, .y = yd[k], .scale = sd[k]};
        CHECK(moeroute_dequant_swiglu_quant(ctx, &dsq) == MOEROUTE_OK, "dsq threads");
        if (k) CHECK(!memcmp(yd[0], yd[1], 80 * H / 2) && !memcmp(sd[0], sd[1], 80 * sizeof(float)), "dsq variant %d", v);
        moeroute_context_destroy(ctx);
    }
}

int main(int argc, char **argv)
{
    uint64_t rng = mr_test_seed(argc, argv);
    acl_setup();
    test_dq_hand();
    test_dq_refusals();
    test_dq_int4();
    test_swiglu_hand();
    test_dsq_hand();
    test_threads_and_isas(&rng);
    test_kernels(&rng);
    test_swiglu_rows(&rng);
    acl_teardown();
    return mr_test_finish();
}
