/* Sort family: stable argsort of int32 expert ids. Pure functions on caller-provided scratch. */
#ifndef MR_KERNELS_SORT_H
#define MR_KERNELS_SORT_H

#include <stddef.h>
#include <stdint.h>

/* Smallest histogram a caller must provide (the radix fallback uses 256 buckets). */
#define MR_SORT_MIN_HIST 256u

/* n >= 1. */
void mr_i32_minmax__scalar(const int32_t *keys, size_t n, int32_t *min, int32_t *max);

/* perm[i] = flat position of the i-th key in stable ascending order, for n <= UINT32_MAX.
 * Scratch: tmp[n], hist[max(hist_cap, MR_SORT_MIN_HIST)]. Counting sort is used when
 * max - min + 1 <= hist_cap, the byte-wise LSD radix sort otherwise. */
void mr_i32_stable_argsort__scalar(const int32_t *keys, size_t n, uint32_t *perm, uint32_t *tmp, uint32_t *hist,
                                   size_t hist_cap);

#endif /* MR_KERNELS_SORT_H */
