/* Activation kernels, avx512 variant: the shared loops of act_loops.h at avx512's vector width. */
#define MR_ACT_ISA avx512
#include "kernels/act/act_loops.h"
