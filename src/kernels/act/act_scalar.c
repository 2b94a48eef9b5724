/* Activation kernels, scalar variant: the shared loops of act_loops.h (baseline vector width only). */
#define MR_ACT_ISA scalar
#include "kernels/act/act_loops.h"
