/* Accumulate kernels, avx512 variant: the shared loops of accumulate_loops.h, with the fp16 step rounding of 16
 * lanes by F16C (ties to even by the immediate, whatever the MXCSR says; the way back is exact): mr_f32_to_f16
 * then mr_f16_to_f32's results (tests/c/test_combine.c compares every level). */
#include <immintrin.h>

#define MR_ACC_R16_WIDTH 16
#define MR_ACC_R16_BLOCK(v)                                                                                   \
    _mm512_storeu_ps((v), _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(v), _MM_FROUND_TO_NEAREST_INT |     \
                                                                                  _MM_FROUND_NO_EXC)))

#define MR_ACC_ISA avx512
#include "kernels/accumulate/accumulate_loops.h"
