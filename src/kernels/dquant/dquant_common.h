/* One-element pieces of the dynamic quantization shared by every ISA file (the SIMD files use them for
 * their tails), so every path rounds with the same code. */
#ifndef MR_KERNELS_DQUANT_COMMON_H
#define MR_KERNELS_DQUANT_COMMON_H

#include "common/fp16.h"
#include "common/prefetch.h"
#include "kernels/int8_round.h"
#include "kernels/kernels.h"

/* A software prefetch MR_DQ_PREFETCH_BYTES ahead of the absmax pass's read of bytes [at, at + bytes) of a row,
 * running past the row's end: the next row usually follows (DynamicQuant), or another token's row that a later
 * destination reads (the routing family). The hardware prefetcher alone left the pass well below the copy
 * limit: +10-20 % (docs/performance.md). A hint: it never faults, so the address may lie anywhere. */
#define MR_DQ_PREFETCH_BYTES 2048u
static inline void mr_dq_prefetch(const void *x, size_t at, size_t bytes)
{
    mr_prefetch_bytes(x, at + MR_DQ_PREFETCH_BYTES, bytes);
}

/* x[i] widened exactly to fp32 */
static inline float mr_dq_load1(const void *x, size_t i, mr_xtype t)
{
    switch (t) {
    case MR_X_F16: return mr_f16_to_f32(((const uint16_t *)x)[i]);
    case MR_X_BF16: return mr_bf16_to_f32(((const uint16_t *)x)[i]);
    default: return ((const float *)x)[i];
    }
}

/* The scalar tail of a row: max |v| over [i, n) continuing from m. */
static inline float mr_dq_absmax_tail(const void *x, const float *smooth, size_t i, size_t n, mr_xtype t, float m)
{
    for (; i < n; i++) {
        float v = mr_dq_load1(x, i, t);
        if (smooth) v = v * smooth[i];
        float a = v < 0 ? -v : v;
        if (a > m) m = a;
    }
    return m;
}

/* The scalar tail of a row: quantize [i, n). */
static inline void mr_dq_quant_tail(const void *x, const float *smooth, size_t i, size_t n, float sc, int8_t *y,
                                    mr_xtype t)
{
    for (; i < n; i++) {
        float v = mr_dq_load1(x, i, t);
        if (smooth) v = v * smooth[i];
        y[i] = mr_i8_rha(v / sc);
    }
}

#endif /* MR_KERNELS_DQUANT_COMMON_H */
