/* Selection kernels, AArch64 Advanced SIMD variant: the shared loops of select_loops.h, vectorized for NEON. */
#define MR_SEL_ISA neon
#include "kernels/select/select_loops.h"
