/* Accumulate kernels, avx2 variant: the shared loops of accumulate_loops.h, with the fp16 step rounding of 8 lanes
 * by F16C (as in accumulate_avx512.c). */
#include <immintrin.h>

#define MR_ACC_R16_WIDTH 8
#define MR_ACC_R16_BLOCK(v)                                                                                   \
    _mm256_storeu_ps((v), _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(v), _MM_FROUND_TO_NEAREST_INT)))

#define MR_ACC_ISA avx2
#include "kernels/accumulate/accumulate_loops.h"
