/* GroupedMatmul, MoE subset (layer spec 7.2/7.3, decisions 12 and 13; docs/operators/grouped_matmul.md):
 * out[m] = x[m] . W[e(g)] for the rows m of group g, then bias / dequant epilogue; rows past the last group are
 * not written. Shared by aclnnGroupedMatmul (V1), V2, V3, V4 and moeroute_grouped_matmul. */
#ifndef MR_OPERATORS_GROUPED_MATMUL_H
#define MR_OPERATORS_GROUPED_MATMUL_H

#include "common/view.h"
#include "kernels/gemm/gemm.h"
#include "kernels/mlp/mlp.h"
#include "threadpool/threadpool.h"

/* Output element types. */
typedef enum mr_gmm_out { MR_GMM_OUT_F16, MR_GMM_OUT_BF16, MR_GMM_OUT_F32, MR_GMM_OUT_I32 } mr_gmm_out;

/* Epilogue operand types (bias [E, N], scale [E, N]); NONE when absent. */
typedef enum mr_gmm_etype { MR_GMM_E_NONE, MR_GMM_E_F16, MR_GMM_E_BF16, MR_GMM_E_F32, MR_GMM_E_I32 } mr_gmm_etype;

/* Group list kinds (groupListType); NONE: no list, one group of all M rows on weight 0. */
enum { MR_GMM_LIST_CUMSUM = 0, MR_GMM_LIST_COUNT = 1, MR_GMM_LIST_KEY_VALUE = 2, MR_GMM_LIST_NONE = -1 };

/* The storage dims of an int8 FRACTAL_NZ weight of logical shape [e, k, n] (layer spec 8.1):
 * [e, ceil(n/32), ceil(k/16), 16, 32]. */
static inline void mr_gmm_nz_dims(int64_t e, int64_t k, int64_t n, int64_t dims[5])
{
    dims[0] = e, dims[1] = (n + 31) / 32, dims[2] = (k + 15) / 16, dims[3] = 16, dims[4] = 32;
}

/* What a front end validated. */
typedef struct mr_gmm_desc {
    int64_t m, k, n, e;     /* x [m, k], weight [e, k, n], out [m, n]                                        */
    int64_t groups;         /* entries of the group list (rows of a key-value list); 0 with LIST_NONE      */
    int list_type;          /* MR_GMM_LIST_*                                                               */
    mr_gemm_src_type xtype; /* x and weight (F16, BF16, F32 or I8)                                         */
    mr_gmm_out out;
    mr_gmm_etype bias;      /* float rows: F16 / F32; int8 rows: I32                                      */
    mr_gmm_etype scale;     /* int8 rows only: BF16 / F32 (then out is F16 / BF16)                         */
    int per_token;          /* int8 with scale: per-token scale [m] fp32 given                            */
    int w_nz;               /* int8 weight in FRACTAL_NZ: the weight view is [e, ceil(n/32), ceil(k/16), 16, 32]
                             * contiguous (layer spec 8.1); per expert [ceil(n/32), ceil(k/16), 16, 32]       */
    int appended;           /* weight, bias and scale sit after the fixed slots (mr_gmm_slot_*), not in
                             * MR_GMM_W / MR_GMM_BIAS / MR_GMM_SCALE (those stay empty)                       */
    int per_expert;         /* with appended: e weight views [k, n] (any strides, each its own address), e bias
                             * views [n] and e scale views [n] (aclnnGroupedMatmul V1/V2 lists; V3/V4 too)   */
    int host_list;          /* the group list (cumsum) is held in the plan, `groups` int64 after the struct
                             * (V1/V2's host aclIntArray; mr_gmm_plan_bytes); MR_GMM_GROUPS stays empty      */
} mr_gmm_desc;

typedef struct mr_gmm_packed mr_gmm_packed; /* below */

typedef struct mr_gmm_plan {
    mr_gmm_desc d;
    const mr_gemm_config *gemm; /* static config: stays valid in an executor's copy of the plan */
    const mr_mlp_config *mlp;   /* the float epilogue's narrowing to the output dtype (same level)  */
    size_t threads;             /* workers the workspace is sized for                             */
    size_t kc, nc, mch;         /* k block, column tile, row chunk                                */
    size_t ncp;                 /* nc rounded up to the kernel's nr                               */
    size_t thread_bytes;        /* per-thread scratch: packed B, packed A, C tile, column sums    */
    size_t ws_size;             /* threads * thread_bytes + the group table                       */
    const mr_gmm_packed *packed; /* NULL (mr_gmm_plan_init): runs pack the weight views; set by a native
                                  * packed call: runs read these B blocks instead, the weight views unread */
} mr_gmm_plan;

/* View slots of the run: x [m, k], weight [e, k, n] (any strides; NZ: see w_nz), bias / scale [e, n], per-token scale [m],
 * group list int64 [groups] or [groups, 2], out [m, n] contiguous. Absent arguments: zero views. */
enum { MR_GMM_X, MR_GMM_W, MR_GMM_BIAS, MR_GMM_SCALE, MR_GMM_PTS, MR_GMM_GROUPS, MR_GMM_OUT, MR_GMM_COUNT };

/* With desc.appended the weight, bias and scale views follow the fixed slots (the order in which the aclnn
 * adapter appends MR_ACLNN_SLOT_APPEND lists): nw = (per_expert ? e : 1) weight views from MR_GMM_COUNT, then nw
 * bias views when there is a bias, then nw scale views when there is a scale. */
static inline size_t mr_gmm_slot_w(const mr_gmm_desc *d) { return d->appended ? MR_GMM_COUNT : MR_GMM_W; }
static inline size_t mr_gmm_nw(const mr_gmm_desc *d) { return d->per_expert ? (size_t)d->e : 1u; }
static inline size_t mr_gmm_slot_bias(const mr_gmm_desc *d)
{
    return d->appended ? MR_GMM_COUNT + mr_gmm_nw(d) : MR_GMM_BIAS;
}
static inline size_t mr_gmm_slot_scale(const mr_gmm_desc *d)
{
    return d->appended ? mr_gmm_slot_bias(d) + (d->bias != MR_GMM_E_NONE ? mr_gmm_nw(d) : 0u) : MR_GMM_SCALE;
}
/* Views the run reads: the fixed slots plus the appended ones. */
static inline size_t mr_gmm_view_count(const mr_gmm_desc *d)
{
    return d->appended ? mr_gmm_slot_scale(d) + (d->scale != MR_GMM_E_NONE ? mr_gmm_nw(d) : 0u) : MR_GMM_COUNT;
}

/* Kernel choice, blocking and workspace for `isa` (AUTO honours MOEROUTE_ISA) and `threads` workers.
 * MOEROUTE_ERR_TOO_LARGE when the sizes overflow. */
moeroute_status mr_gmm_plan_init(mr_gmm_plan *plan, const mr_gmm_desc *desc, moeroute_isa isa, size_t threads,
                                 const char *api);

/* Bytes of a plan with its host group list (desc.host_list): the struct, then d.groups int64 entries. */
static inline size_t mr_gmm_plan_bytes(const mr_gmm_plan *p)
{
    return sizeof *p + (p->d.host_list ? (size_t)p->d.groups * sizeof(int64_t) : 0u);
}

/* Run (mr_op_run_fn). Errors before anything is written: plan.packed made for another plan
 * (MOEROUTE_ERR_INVALID_VALUE), NULL data, aliasing, workspace too small,
 * MOEROUTE_ERR_INVALID_VALUE for a bad group list (negative count, decreasing cumsum, total above m, expert id
 * outside [0, e)) -- layer decision 13. MOEROUTE_POISON_UNWRITTEN=1 fills the rows past the last group with NaN
 * (float outputs) or 0x7F bytes (int32). */
moeroute_status mr_gmm_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                           mr_pool *pool, const char *api);

/* Weights packed once for a plan's kernels (moeroute_grouped_matmul_pack_weights; docs/operators/grouped_matmul.md
 * "Packed weights"): the B block of every (expert, column tile, k block) exactly as a run would pack it, and for
 * the U8 int8 format each (expert, tile)'s column sums over all of K. Valid for plans with the same kernel
 * config, k block, column tile, E, K, N and dtype (mr_gmm_run checks); a run reads them through plan.packed,
 * with the same bytes as packing itself. */
struct mr_gmm_packed {
    const mr_gemm_config *gemm;
    mr_gemm_src_type xtype;
    int64_t k, n, e;
    size_t kc, nc, ncp;                  /* the plan's blocking                                              */
    size_t tiles, kblocks, block_bytes;  /* column tiles, k blocks, bytes per block (64-byte multiple)       */
    char *blocks;                        /* [e][tiles][kblocks] blocks; NULL when there is nothing to pack  */
    int32_t *colsum;                     /* [e][tiles][ncp] (U8 format) inside the same allocation, or NULL  */
    size_t bytes;                        /* the allocation's size                                           */
};

/* Pack the weight views of `views` (the slots mr_gmm_run reads) for plan p, the (expert, tile) units spread over
 * the pool. Errors: MOEROUTE_ERR_NULL_POINTER, MOEROUTE_ERR_TOO_LARGE, MOEROUTE_ERR_OUT_OF_MEMORY. */
moeroute_status mr_gmm_pack_weights(const mr_gmm_plan *p, const mr_view *views, mr_pool *pool, mr_gmm_packed *out,
                                    const char *api);
void mr_gmm_packed_free(mr_gmm_packed *pk);

#endif /* MR_OPERATORS_GROUPED_MATMUL_H */
