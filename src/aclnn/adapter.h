/* The aclnn adapter layer (docs/framework.md "aclnn adapters"): everything an operator's CANN entry points
 * share. An operator's adapter is a table of its tensor arguments plus its attribute and shape checks:
 *
 *   phase 1: mr_aclnn_begin      NULL tensors (161001), dtypes and formats against the table (161002)
 *            (operator)          shapes and attributes (561002), via mr_aclnn_tiling()
 *            mr_aclnn_finish     every view inside its storage, outputs contiguous (161002); an executor that
 *                                keeps a copy of each view and of the operator's plan
 *   phase 2: mr_aclnn_execute    live executor, live stream, then the operator's run on views rebuilt from
 *                                the (possibly re-pointed) addresses; one-shot executors released whatever
 *                                the outcome.
 * Tensor-list arguments expand to consecutive view slots. */
#ifndef MR_ACLNN_ADAPTER_H
#define MR_ACLNN_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/view.h"
#include "operators/op_run.h"
#include "runtime/acl_internal.h"
#include "threadpool/threadpool.h"

#define MR_ACLNN_MAX_ARGS 16

/* dtype sets */
#define MR_DT(t) (1ull << (unsigned)(t))
#define MR_DT_FLOATS (MR_DT(ACL_FLOAT16) | MR_DT(ACL_BF16) | MR_DT(ACL_FLOAT))

typedef struct mr_arg_spec {
    const char *name;
    uint8_t output;   /* 0 input, 1 output                                                                  */
    uint8_t optional; /* may be NULL                                                                         */
    uint8_t list;     /* an aclTensorList                                                                    */
    uint8_t slot;     /* view slot of the operator's run (first slot of a list)                             */
    uint64_t dtypes;  /* MR_DT() set allowed; 0: checked by the operator                                    */
    int8_t same_as;   /* -1, or the argument whose dtype this one must equal                               */
} mr_arg_spec;

/* Format sets: mr_aclnn_op.formats[i] for the argument at table position i, MR_FMT_* formats allowed besides
 * ND; an op without a formats array (MR_ACLNN_OP) takes ND only everywhere. (Kept beside the argument table
 * rather than in mr_arg_spec so that the positional tables of every operator stay complete initializers under
 * -Wextra.) A tensor tagged ACL_FORMAT_FRACTAL_NZ is kept as its storage, not its view
 * (layer spec 8.2): its view dims are the logical [..., K, N] matrix and its strides mean nothing, so the
 * operator reads the storage dims (e.g. [E, N/32, K/16, 16, 32] for int8) through the NZ index map (spec 8.1).
 * The run gets a contiguous view over the storage dims from the view offset; mr_aclnn_finish checks that it
 * lies inside the storage. */
#define MR_FMT_NZ 1u /* ACL_FORMAT_FRACTAL_NZ (29) */

/* mr_arg_spec.slot of a list argument whose length varies with the call (GroupedMatmul's list of E per-expert
 * weights): the given APPEND arguments take consecutive slots from nslots on, in table order, each as many
 * slots as its list has tensors. A table with APPEND arguments keeps its fixed-slot lists within nslots. */
#define MR_ACLNN_SLOT_APPEND 0xFFu

typedef struct mr_aclnn_op {
    mr_executor_ops exec;     /* exec.op_name is the phase-2 entry point name; set_addr/destroy are generic */
    const char *prepare_name; /* the GetWorkspaceSize entry point name                                      */
    const mr_arg_spec *args;
    size_t nargs;
    size_t nslots;
    mr_op_run_fn run;
    const uint8_t *formats;   /* NULL, or one MR_FMT_* set per argument (table order)                      */
} mr_aclnn_op;

/* Generic executor behaviour for mr_aclnn_op.exec: MR_ACLNN_OP(...) fills it. */
aclnnStatus mr_aclnn_set_addr(void *state, int is_output, int list, size_t index, size_t rel, const void *arg,
                              void *addr);
void mr_aclnn_destroy(void *state);
#define MR_ACLNN_OP(exec_name, prepare, args, nslots, run)                                                    \
    {{exec_name, mr_aclnn_set_addr, mr_aclnn_destroy}, prepare, args, sizeof args / sizeof args[0], nslots, run, NULL}
/* The same with a per-argument format set array (as many entries as args). */
#define MR_ACLNN_OP_FMT(exec_name, prepare, args, nslots, run, formats)                                       \
    {{exec_name, mr_aclnn_set_addr, mr_aclnn_destroy}, prepare, args, sizeof args / sizeof args[0], nslots, run,     \
     formats}

typedef struct mr_aclnn_call {
    const mr_aclnn_op *op;
    const void *args[MR_ACLNN_MAX_ARGS]; /* const aclTensor * or const aclTensorList *, in table order */
    uint64_t *workspace_size;
    aclOpExecutor **executor;
    uint32_t unused;                     /* arguments the mode does not use: checked, but not run on */
    uint32_t storage;                    /* arguments kept as their storage view (mr_aclnn_as_storage) */
} mr_aclnn_call;

/* Phase 1 start: record the arguments, check NULLs and dtypes/formats. */
aclnnStatus mr_aclnn_begin(mr_aclnn_call *c, const mr_aclnn_op *op, const void *const *args, uint64_t *workspace_size,
                           aclOpExecutor **executor);

/* The tensor at table position i (NULL if absent). */
static inline const aclTensor *mr_aclnn_tensor(const mr_aclnn_call *c, size_t i) { return (const aclTensor *)c->args[i]; }

/* Record "<prepare_name>: <message>" and return ACLNN_ERR_INNER_TILING_ERROR (shape/attribute errors). */
aclnnStatus mr_aclnn_tiling(const mr_aclnn_call *c, const char *fmt, ...) MR_PRINTF(2, 3);
/* Same with ACLNN_ERR_PARAM_INVALID. */
aclnnStatus mr_aclnn_invalid(const mr_aclnn_call *c, const char *fmt, ...) MR_PRINTF(2, 3);

/* A tensor's dims, strides and element size as a view (data NULL: the address is applied per run). */
mr_view mr_aclnn_view(const aclTensor *t);

/* A tensor's shape as "[a, b, c]" into buf (for messages). */
const char *mr_aclnn_shape_str(const aclTensor *t, char *buf, size_t size);
/* 1 when t has rank `rank` and dims equal to dims[0..rank). */
int mr_aclnn_shape_is(const aclTensor *t, uint32_t rank, const int64_t *dims);

/* The same two for a tensor's storage dims (FRACTAL_NZ weights, spec 8.2); "[]" / 0 without storage dims. */
const char *mr_aclnn_storage_str(const aclTensor *t, char *buf, size_t size);
int mr_aclnn_storage_is(const aclTensor *t, uint32_t rank, const int64_t *dims);

/* Argument i is given but the operator's mode neither reads nor writes it: its view is still checked in
 * mr_aclnn_finish, but it takes no part in the run (no aliasing check, never written). */
static inline void mr_aclnn_unused(mr_aclnn_call *c, size_t i) { c->unused |= 1u << i; }

/* Argument i (a single tensor) is laid out as its storage dims whatever its format tag says (e.g. a FRACTAL_NZ
 * weight tagged ND, spec 8.2): keep it as a contiguous view over its storage dims, as for an NZ-tagged tensor.
 * The operator checks the storage rank and dims (aclTensor.storage_ndim / storage_dims). */
static inline void mr_aclnn_as_storage(mr_aclnn_call *c, size_t i) { c->storage |= 1u << i; }

/* Phase 1 end: views inside storage and contiguous outputs, then an executor owning a copy of `plan`;
 * reports plan_workspace bytes. */
aclnnStatus mr_aclnn_finish(mr_aclnn_call *c, const void *plan, size_t plan_size, uint64_t plan_workspace);

/* Phase 2. */
aclnnStatus mr_aclnn_execute(const mr_aclnn_op *op, void *workspace, uint64_t workspace_size,
                             aclOpExecutor *executor, aclrtStream stream);

/* MOEROUTE_DEVICE_LIMITS=0 lifts the aclnn API's device capacity limits (layer spec decision 20). */
int mr_aclnn_device_limits(void);

#endif /* MR_ACLNN_ADAPTER_H */
