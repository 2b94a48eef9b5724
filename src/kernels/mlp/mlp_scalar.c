/* Element-wise MLP kernels, scalar variant: the shared loops of mlp_loops.h at scalar's vector width. */
#define MR_MLP_ISA scalar
#include "kernels/mlp/mlp_loops.h"
