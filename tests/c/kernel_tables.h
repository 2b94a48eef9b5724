/* The kernel tests look at one ISA level's kernels together: this gathers the per-family dispatch configs of a
 * level into one table (the library itself keeps one config per family, src/dispatch/dispatch.h). */
#ifndef MR_TEST_KERNEL_TABLES_H
#define MR_TEST_KERNEL_TABLES_H

#include "dispatch/dispatch.h"

typedef struct mr_kernel_table {
    int isa;
    mr_quant_fn quant[MR_X_COUNT];
    mr_copy_fn copy, copy_stream;
    const mr_dquant_config *dquant;
} mr_kernel_table;

static inline const mr_kernel_table *mr_dispatch_kernels(moeroute_isa level)
{
    static mr_kernel_table tables[8];
    size_t slot = (unsigned)level < 8 ? (size_t)level : 0;
    const mr_quant_config *q = mr_dispatch_quant(level);
    const mr_copy_config *c = mr_dispatch_copy(level);
    mr_kernel_table *t = &tables[slot];
    t->isa = q->isa;
    for (int i = 0; i < MR_X_COUNT; i++) t->quant[i] = q->fn[i];
    t->copy = c->copy;
    t->copy_stream = c->copy_stream;
    t->dquant = mr_dispatch_dquant(level);
    return t;
}

#endif /* MR_TEST_KERNEL_TABLES_H */
