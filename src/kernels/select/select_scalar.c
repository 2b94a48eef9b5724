/* Selection kernels, scalar variant (baseline vector width for the loops the compiler vectorizes). */
#define MR_SEL_ISA scalar
#include "kernels/select/select_loops.h"
