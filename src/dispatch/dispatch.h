/* Run-time kernel selection. CPU features are detected once per process; each operator asks for the
 * table of the ISA level it may use and gets the best one available at or below it. */
#ifndef MR_DISPATCH_H
#define MR_DISPATCH_H

#include "kernels/kernels.h"
#include "moeroute.h"

/* Best level the CPU and OS support (ignores MOEROUTE_ISA). Thread-safe, detects once. */
moeroute_isa mr_dispatch_detected_isa(void);

/* The level used for `requested`: MOEROUTE_ISA_AUTO means the detected level capped by the MOEROUTE_ISA
 * environment variable; any other level is lowered to what the machine has. Returns MOEROUTE_ISA_SCALAR
 * at worst. Values outside moeroute_isa are the caller's job to refuse. */
moeroute_isa mr_dispatch_resolve_isa(moeroute_isa requested);

/* Kernel table for a resolved level (result of mr_dispatch_resolve_isa). Never NULL. */
const mr_kernel_table *mr_dispatch_kernels(moeroute_isa resolved);

#endif /* MR_DISPATCH_H */
