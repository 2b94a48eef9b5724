/* Activation kernels, avx2 variant: the shared loops of act_loops.h at avx2's vector width. */
#define MR_ACT_ISA avx2
#include "kernels/act/act_loops.h"
