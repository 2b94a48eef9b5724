/* DynamicQuant and DynamicQuantV2 (docs/operators/dynamic_quant.md, layer spec 5): per-row symmetric int8 (or
 * int4, packed two per byte or eight per int32) quantization with optional smooth factors (per group of rows with V2's group index). Shared by
 * aclnnDynamicQuant, aclnnDynamicQuantV2 and moeroute_dynamic_quant. Exact: every step is one IEEE fp32
 * operation whose order is the device kernel's. */
#ifndef MR_OPERATORS_DYNAMIC_QUANT_H
#define MR_OPERATORS_DYNAMIC_QUANT_H

#include <stdint.h>

#include "backend/cpu_backend.h"
#include "common/view.h"
#include "kernels/kernels.h"
#include "operators/dynamic_quant_rows.h"

/* View slots of the run. x: any rank >= 1, rows = product of the leading dims, any strides; smooth [H] or
 * [G, H] (x's dtype, any strides); group index [G] int32/int64 ascending end offsets; y contiguous, rows of
 * mr_dyq_row_bytes() bytes (int8 [rows, H], or the int4 packings below) and scale [rows] fp32, contiguous.
 * Absent smooth / group index: zero views. */
enum { MR_DYQ_X, MR_DYQ_SMOOTH, MR_DYQ_GROUP, MR_DYQ_Y, MR_DYQ_SCALE, MR_DYQ_COUNT };

/* The two scale formulas (spec 5.3): A = f32(1 / f), B = f32(a * f32(1/127)), f = f32(127 / a). */
typedef enum mr_dyq_template { MR_DYQ_AUTO = 0, MR_DYQ_A = 1, MR_DYQ_B = 2 } mr_dyq_template;

/* Output forms of y (spec 5.2; docs/operators/dynamic_quant.md "INT4 outputs"): int8 [rows, H]; int4 two per
 * byte (element 2j in the low nibble of byte j, 2j + 1 in the high nibble; H even); int4 eight per int32
 * (element 8j + t in bits 4t..4t+3 of int32 j, two's complement nibbles; H % 8 == 0). int4 values are
 * sat_[-8, 7](rint(v * f32(7 / a))). */
typedef enum mr_dyq_out { MR_DYQ_OUT_INT8 = 0, MR_DYQ_OUT_INT4 = 1, MR_DYQ_OUT_INT4_INT32 = 2 } mr_dyq_out;

/* Bytes of one row of y: H (int8) or H / 2 (either int4 packing). */
static inline int64_t mr_dyq_row_bytes(mr_dyq_out out, int64_t h) { return out == MR_DYQ_OUT_INT8 ? h : h / 2; }

typedef struct mr_dynamic_quant_plan {
    int64_t rows, h;
    int64_t groups;      /* entries of the group index; 0 without one                                      */
    mr_xtype xtype;
    int has_smooth;
    mr_dyq_template tmpl; /* resolved: A or B                                                            */
    mr_dyq_out out;
    mr_backend backend;
    mr_mlp_ws ws;
} mr_dynamic_quant_plan;

/* The Atlas A2/A3 tiling's choice of scale formula (spec 5.3, UB = 192 KiB): A with a group index; else B for
 * int8 output with H in {4096, 5120, 10240} and 4 <= rows <= 384, or for 128 <= H <= Hmax with H % 8 == 0
 * (Hmax 12800 with smooth factors, 16320 without); A otherwise. */
mr_dyq_template mr_dynamic_quant_device_template(int64_t rows, int64_t h, int has_smooth, int has_group,
                                                 mr_dyq_out out);

/* Phase 1. Shapes already validated (rows, h >= 0, groups >= 0; h even for int4, h % 8 == 0 for the int32
 * packing); tmpl AUTO takes the device rule. Errors: MOEROUTE_ERR_TOO_LARGE. */
moeroute_status mr_dynamic_quant_plan_init(mr_dynamic_quant_plan *p, int64_t rows, int64_t h, int64_t groups,
                                           mr_xtype xtype, int has_smooth, mr_dyq_template tmpl, mr_dyq_out out,
                                           moeroute_isa isa, size_t threads, const char *api);

/* Phase 2 (the adapter's run signature). Errors before any output byte is written: MOEROUTE_ERR_NULL_POINTER,
 * MOEROUTE_ERR_WORKSPACE, MOEROUTE_ERR_ALIASING, MOEROUTE_ERR_INVALID_VALUE (a group index that is negative,
 * decreases, or does not end at the row count; spec 5.5). */
moeroute_status mr_dynamic_quant_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                     mr_pool *pool, const char *api);

#endif /* MR_OPERATORS_DYNAMIC_QUANT_H */
