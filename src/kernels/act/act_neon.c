/* Activation kernels, AArch64 Advanced SIMD variant: the shared loops of act_loops.h, vectorized for NEON. */
#define MR_ACT_ISA neon
#include "kernels/act/act_loops.h"
