/* Sort family: stable ordering of int32 expert ids. Pure functions on caller-provided scratch.
 *
 * The counting sort is split in two kernels so the operator can run it in parallel: each of C chunks of the
 * flat positions histograms its ids, the operator turns the C histograms into per-chunk starting offsets
 * (bucket-major, chunk-minor: stability across chunks), then each chunk places its positions. Placing a
 * position f at sorted index i also writes both index outputs, so no permutation array is needed. */
#ifndef MR_KERNELS_SORT_H
#define MR_KERNELS_SORT_H

#include <stddef.h>
#include <stdint.h>

/* Buckets of the radix fallback's histogram (one byte of the key per pass). */
#define MR_SORT_MIN_HIST 256u

/* n >= 1. */
void mr_i32_minmax__scalar(const int32_t *keys, size_t n, int32_t *min, int32_t *max);

/* hist[0 .. range) = counts of keys[f] - lo for f in [0, n); every key in [lo, lo + range). */
void mr_i32_histogram__scalar(const int32_t *keys, size_t n, int32_t lo, size_t range, uint32_t *hist);

/* For f in [begin, end) in order: i = offsets[keys[f] - lo]++; expert_out[i] = keys[f]; row_out[rows[f]] = i. */
void mr_i32_rank_scatter__scalar(const int32_t *keys, const int32_t *rows, size_t begin, size_t end, int32_t lo,
                                 uint32_t *offsets, int32_t *expert_out, int32_t *row_out);

/* perm[i] = flat position of the i-th key in stable ascending order (byte-wise LSD radix sort, for id ranges
 * too wide for a histogram). n <= UINT32_MAX; scratch tmp[n], hist[MR_SORT_MIN_HIST]. */
void mr_i32_radix_argsort__scalar(const int32_t *keys, size_t n, uint32_t *perm, uint32_t *tmp, uint32_t *hist);

#endif /* MR_KERNELS_SORT_H */
