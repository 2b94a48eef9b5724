/* Sort family: stable ordering of int32 expert ids (docs/operators/shared_steps.md "route-sort"). Pure
 * functions on caller-provided scratch.
 *
 * The counting sort is split in two kernels so the route-sort step can run it in parallel: each of C chunks of
 * the flat positions histograms its ids, the step turns the C histograms into per-chunk starting offsets
 * (bucket-major, chunk-minor: stability across chunks), then each chunk places its positions. Keys outside
 * the bucket range [lo, lo + range) are skipped by both kernels: that is how an expert-range filter works. */
#ifndef MR_KERNELS_SORT_H
#define MR_KERNELS_SORT_H

#include <stddef.h>
#include <stdint.h>

/* Buckets of the radix fallback's histogram (one byte of the key per pass). */
#define MR_SORT_MIN_HIST 256u

/* n >= 1. */
typedef void (*mr_minmax_fn)(const int32_t *keys, size_t n, int32_t *min, int32_t *max);
/* hist[0 .. range) = counts of keys[f] - lo for f in [0, n) with keys[f] in [lo, lo + range). */
typedef void (*mr_histogram_fn)(const int32_t *keys, size_t n, int32_t lo, size_t range, uint32_t *hist);
/* For f in [begin, end) in order, keys[f] in [lo, lo + range): perm[offsets[keys[f] - lo]++] = f. */
typedef void (*mr_rank_fn)(const int32_t *keys, size_t begin, size_t end, int32_t lo, size_t range,
                           uint32_t *offsets, uint32_t *perm);
/* perm[i] = the i-th of the n positions pos[0..n) (NULL: 0..n-1) in stable ascending key order (byte-wise LSD
 * radix sort, for id ranges too wide for a histogram). n <= UINT32_MAX; scratch tmp[n], hist[MR_SORT_MIN_HIST]. */
typedef void (*mr_radix_fn)(const int32_t *keys, const uint32_t *pos, size_t n, uint32_t *perm, uint32_t *tmp,
                            uint32_t *hist);

void mr_i32_minmax__scalar(const int32_t *keys, size_t n, int32_t *min, int32_t *max);
void mr_i32_histogram__scalar(const int32_t *keys, size_t n, int32_t lo, size_t range, uint32_t *hist);
void mr_i32_rank_perm__scalar(const int32_t *keys, size_t begin, size_t end, int32_t lo, size_t range,
                              uint32_t *offsets, uint32_t *perm);
void mr_i32_radix_argsort__scalar(const int32_t *keys, const uint32_t *pos, size_t n, uint32_t *perm, uint32_t *tmp,
                                  uint32_t *hist);

#endif /* MR_KERNELS_SORT_H */
