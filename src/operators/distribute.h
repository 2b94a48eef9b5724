/* MoeDistributeDispatchV2 / MoeDistributeCombineV2 (docs/operators/distribute.md, layer spec 11): the
 * expert-parallel all-to-all of a MoE layer over an HCCL communicator (src/hccl, layer decision 17). In process
 * each rank runs its own call on its own thread; one rendezvous round per call (hccl_internal.h) lets every rank
 * read its peers' inputs in shared memory and write only its own outputs, so each row moves once. Over a network
 * transport (MPI) the same walks run on gathered copies of the routing and the rows move in one exchange per
 * call (distribute_net.c); the bytes are the same.
 *
 * Placement (expertShardType 0): ranks 0..R-1 hold shared experts (R = sharedExpertRankNum, P = R / S copies
 * of each of the S shared experts: rank q holds shared expert q / P), ranks R..W-1 hold L = E / (W - R) MoE
 * experts each: expert e on rank R + e / L, local index e % L. Source rank s sends each active token to shared
 * copy s % P of every shared expert (rank i * P + s % P).
 * Received rows (dispatch outputs, combine inputs): grouped by local expert, then source rank, then the
 * source's (token, slot) order. Bookkeeping (layer decision 18): assistInfo[3i..3i+2] = (source rank, token,
 * slot; K + i for shared expert i) of row i; epRecvCounts[le * W + s] = inclusive cumsum of the rows in that
 * order. Combine finds the row of its (t, j) on the owning rank as epSendCounts[le * W + s - 1] (0 for the
 * first block) plus the number of its earlier (t', j') sent to the same expert, and checks it against the
 * owner's assistInfo. */
#ifndef MR_OPERATORS_DISTRIBUTE_H
#define MR_OPERATORS_DISTRIBUTE_H

#include <stdint.h>

#include "backend/cpu_backend.h"
#include "common/view.h"
#include "hccl/hccl_types.h"
#include "kernels/kernels.h"

/* View slots of the dispatch run (the argument order of aclnnMoeDistributeDispatchV2). */
enum {
    MR_DSP_X, MR_DSP_IDS, MR_DSP_SCALES, MR_DSP_MASK, MR_DSP_ESCALES,
    MR_DSP_EXPX, MR_DSP_DYNS, MR_DSP_ASSIST, MR_DSP_TOKNUMS, MR_DSP_RECV, MR_DSP_TPRECV, MR_DSP_EXPS,
    MR_DSP_COUNT
};
/* View slots of the combine run (aclnnMoeDistributeCombineV2's order; the three inputs that must be NULL and
 * the two that are not read take no slot). */
enum {
    MR_CMB_EXPX, MR_CMB_IDS, MR_CMB_ASSIST, MR_CMB_SEND, MR_CMB_ESCALES, MR_CMB_MASK, MR_CMB_SHARED, MR_CMB_OUT,
    MR_CMB_COUNT
};

/* Attributes every rank must pass identically (compared bytewise at the rendezvous). */
typedef struct mr_dist_attrs {
    int64_t world, moe_experts, shared_num, shared_ranks, global_bs, h, k;
    int64_t quant_mode, token_nums_type;   /* dispatch only (0 in combine)          */
    int64_t xtype;                         /* mr_xtype of x / expandX               */
} mr_dist_attrs;

typedef struct mr_dist_plan {
    char group[COMM_NAME_MAX_LENGTH];
    mr_dist_attrs a;
    int64_t rank, bs;
    int64_t rows;          /* A: rows of this rank's expandX                                        */
    int64_t local_experts; /* L of this rank (1 on a shared-expert rank)                            */
    int64_t moe_local;     /* L of the MoE ranks                                                    */
    int mask_2d;           /* the mask is [Bs, K]                                                   */
    mr_backend backend;
    size_t ws_size;
} mr_dist_plan;

/* The placement derived from the attributes. */
typedef struct mr_dist_layout {
    int64_t W, E, S, R, P, L; /* ranks, MoE experts, shared experts, shared ranks, copies per shared expert, L */
} mr_dist_layout;

/* Attributes of a call (the aclnn names; bs, h, k from the tensors), checked by mr_dist_check_attrs. */
typedef struct mr_dist_args {
    const char *group_ep, *group_tp, *comm_alg;
    int64_t world, rank, experts, tp_world, tp_rank, shard_type, shared_num, shared_ranks, global_bs;
    int64_t bs, h, k;
} mr_dist_args;

/* The attribute rules of spec 11.2 against the communicator named group_ep (this process's registry): semantic
 * rules always, the Atlas A3 limits when `limits` (layer decision 20). Fills *a (quant_mode, token_nums_type and
 * xtype left 0 for the caller) and the least A this rank needs in *min_rows. MOEROUTE_ERR_INVALID_SHAPE with a
 * message naming `api` otherwise. */
moeroute_status mr_dist_check_attrs(const mr_dist_args *x, int limits, mr_dist_attrs *a, int64_t *min_rows,
                                    const char *api);

/* Phase 1: everything but the shapes, which the adapter checks. MOEROUTE_ERR_TOO_LARGE on overflow. */
moeroute_status mr_dist_plan_init(mr_dist_plan *p, const char *group, const mr_dist_attrs *a, int64_t rank,
                                  int64_t bs, int64_t rows, int mask_2d, int combine, const char *api);

/* Phase 2 (the adapter's run signature). Data errors (MOEROUTE_ERR_INVALID_VALUE) and communication failures
 * reach every rank; the latter also set mr_dist_comm_failed() on this thread. */
moeroute_status mr_dispatch_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                                mr_pool *pool, const char *api);
moeroute_status mr_combine_run(const void *plan, const mr_view *views, void *workspace, size_t workspace_size,
                               mr_pool *pool, const char *api);

/* 1 when this thread's last run failed because of the communicator (timeout, a peer gone, no such group):
 * the aclnn adapters report ACLNN_ERR_INNER then. Cleared by every run. */
int mr_dist_comm_failed(void);

#endif /* MR_OPERATORS_DISTRIBUTE_H */
