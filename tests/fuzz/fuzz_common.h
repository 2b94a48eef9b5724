/* Shared pieces of the fuzz harnesses: a byte reader over the fuzzer's input and the routing property
 * check (the index outputs describe a stable ascending order of the ids). */
#ifndef MR_FUZZ_COMMON_H
#define MR_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "aclnn/acl_meta.h"
#include "moeroute.h"

typedef struct fz_reader {
    const uint8_t *p;
    size_t n;
} fz_reader;

static inline uint64_t fz_bits(fz_reader *r, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v = v << 8 | (r->n ? *r->p : 0);
        if (r->n) r->p++, r->n--;
    }
    return v;
}

/* A value in [0, range) (range >= 1). */
static inline uint64_t fz_below(fz_reader *r, uint64_t range) { return fz_bits(r, 2) % range; }

/* A second stream of decisions, read backwards from the end of the input, for choices added after a harness's
 * seed corpus was made: they do not shift what the forward reader sees, and an exhausted tail reads 0, so
 * give 0 the meaning "as before". (Tail and forward reads may overlap; that only correlates choices.) */
static inline uint64_t fz_tail_bits(fz_reader *r, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v = v << 8 | (r->n ? r->p[r->n - 1] : 0);
        if (r->n) r->n--;
    }
    return v;
}

static inline uint64_t fz_tail_below(fz_reader *r, uint64_t range) { return fz_tail_bits(r, 1) % range; }

/* Element span [*lo, *hi] of a strided view relative to its offset (elements, not bytes). Returns 0 for a
 * view with no elements (it addresses nothing), else 1. Callers keep dims and strides small enough not to
 * overflow. */
static inline int fz_view_span(uint64_t rank, const int64_t *dims, const int64_t *strides, int64_t *lo, int64_t *hi)
{
    *lo = *hi = 0;
    for (uint64_t d = 0; d < rank; d++) {
        if (dims[d] == 0) return 0;
        int64_t span = (dims[d] - 1) * strides[d];
        if (span < 0) *lo += span;
        else *hi += span;
    }
    return 1;
}

/* Pick one of the listed values. */
#define FZ_PICK(r, ...)                                                                                      \
    ((const int64_t[]){__VA_ARGS__}[fz_below((r), sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))])

/* The same from the tail reader. */
#define FZ_TAIL_PICK(r, ...)                                                                                 \
    ((const int64_t[]){__VA_ARGS__}[fz_tail_below((r), sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))])

#define FZ_ASSERT(cond, ...)                                                                                  \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            fprintf(stderr, "property violated: %s: ", #cond);                                               \
            fprintf(stderr, __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                              \
            abort();                                                                                          \
        }                                                                                                     \
    } while (0)

/* keys and rows in flat (row-major) order. */
static inline int fz_is_stable_routing(const int32_t *keys, const int32_t *rows, const int32_t *erow,
                                       const int32_t *eexp, size_t L)
{
    int32_t *pos = malloc(L * sizeof *pos + 1);
    int ok = pos != NULL;
    for (size_t i = 0; ok && i < L; i++) pos[i] = -1;
    for (size_t f = 0; ok && f < L; f++) {
        int32_t i = erow[rows[f]];
        ok = i >= 0 && (size_t)i < L && pos[i] == -1 && eexp[i] == keys[f];
        if (ok) pos[i] = (int32_t)f;
    }
    for (size_t i = 1; ok && i < L; i++)
        ok = keys[pos[i - 1]] < keys[pos[i]] || (keys[pos[i - 1]] == keys[pos[i]] && pos[i - 1] < pos[i]);
    free(pos);
    return ok;
}

static inline int fz_all_equal(const void *p, size_t n, uint8_t v)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v) return 0;
    return 1;
}

/* Every byte of b[0, n) outside [from, to) equals v (from/to are clamped to [0, n]). */
static inline int fz_equal_outside(const uint8_t *b, size_t n, size_t from, size_t to, uint8_t v)
{
    if (from > n) from = n;
    if (to > n) to = n;
    if (to < from) to = from;
    return fz_all_equal(b, from, v) && fz_all_equal(b + to, n - to, v);
}

/* The tensors of one fuzzed aclnn call, each over its own exact allocation (+1 byte: never malloc(0)) so ASan
 * sees any access outside a view. off and st: the view's element offset and strides, where a harness keeps
 * them. */
#define FZ_MAXT 10
#define FZ_MAX_RANK 4
typedef struct fz_buf {
    uint8_t *p;
    size_t bytes;
    int64_t off;
    int64_t st[FZ_MAX_RANK];
    aclTensor *t;
} fz_buf;

typedef struct fz_case {
    fz_buf b[FZ_MAXT];
    int nb;
} fz_case;

/* An input view of `rank` dims with fuzzed strides (the last dim sometimes reversed or stepped, the other dims
 * sometimes padded or reversed, a size-1 dim any stride), filled with fuzzed bytes (bools 0/1); the storage is
 * exactly the span the view reaches (plus 1 byte), so ASan sees any access outside it. */
static inline aclTensor *fz_view_input(fz_reader *r, fz_case *c, aclDataType dt, int rank, const int64_t *dims)
{
    fz_buf *b = &c->b[c->nb++];
    const size_t es = aclDataTypeSize(dt);
    int64_t st[FZ_MAX_RANK] = {0}, acc = 1;
    for (int i = rank; i-- > 0;) {
        const int64_t pick = (int64_t)fz_below(r, 6);
        st[i] = pick == 0 ? -acc : pick == 1 ? acc + (int64_t)fz_below(r, 3) : pick == 2 && i == rank - 1 ? 2 : acc;
        if (pick == 3 && dims[i] == 1) st[i] = (int64_t)fz_below(r, 5); /* a size-1 dim: any stride */
        acc = (st[i] < 0 ? -st[i] : st[i]) * (dims[i] > 0 ? dims[i] : 1) + 1;
    }
    int64_t lo = 0, hi = 0;
    const int any = fz_view_span((uint64_t)rank, dims, st, &lo, &hi);
    b->off = any ? -lo + (int64_t)fz_below(r, 2) : 0;
    const int64_t slen = any ? b->off + hi + 1 : 0;
    b->bytes = (size_t)slen * es + 1;
    b->p = malloc(b->bytes);
    for (size_t i = 0; i < b->bytes; i++) b->p[i] = (uint8_t)fz_bits(r, 1);
    if (dt == ACL_BOOL)
        for (size_t i = 0; i < b->bytes; i++) b->p[i] &= 1;
    const int64_t sd = slen;
    memcpy(b->st, st, sizeof(int64_t) * (size_t)rank);
    b->t = aclCreateTensor(dims, (uint64_t)rank, dt, st, b->off, ACL_FORMAT_ND, &sd, 1, b->p);
    return b->t;
}

/* Every int32 / int64 element of buffer i (the whole storage) set to a value in [lo, lo + range) from the
 * reader: index inputs that mostly point somewhere. */
static inline void fz_fill_ids(fz_reader *r, fz_case *c, int i, aclDataType dt, int64_t lo, uint64_t range)
{
    fz_buf *b = &c->b[i];
    const size_t es = aclDataTypeSize(dt), n = (b->bytes - 1) / es;
    for (size_t j = 0; j < n; j++) {
        const int64_t v = lo + (int64_t)fz_below(r, range ? range : 1);
        if (es == 8) memcpy(b->p + j * 8, &v, 8);
        else {
            const int32_t w = (int32_t)v;
            memcpy(b->p + j * 4, &w, 4);
        }
    }
}

/* A contiguous output filled with `sent`. */
static inline aclTensor *fz_view_output(fz_case *c, aclDataType dt, int rank, const int64_t *dims, uint8_t sent)
{
    fz_buf *b = &c->b[c->nb++];
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i] > 0 ? dims[i] : 0;
    b->bytes = (size_t)n * aclDataTypeSize(dt) + 1;
    b->p = malloc(b->bytes);
    memset(b->p, sent, b->bytes);
    b->off = 0;
    b->t = aclCreateTensor(dims, (uint64_t)rank, dt, NULL, 0, ACL_FORMAT_ND, dims, (uint64_t)rank, b->p);
    return b->t;
}

/* A malloc'd copy of every buffer of c (fz_free frees them). */
static inline void fz_snapshot(const fz_case *c, uint8_t **copies)
{
    for (int i = 0; i < c->nb; i++) {
        copies[i] = malloc(c->b[i].bytes);
        memcpy(copies[i], c->b[i].p, c->b[i].bytes);
    }
}

/* Buffers from..nb-1 still equal their copies. */
static inline int fz_unchanged(const fz_case *c, uint8_t *const *copies, int from)
{
    for (int i = from; i < c->nb; i++)
        if (memcmp(copies[i], c->b[i].p, c->b[i].bytes)) return 0;
    return 1;
}

/* Keeps the bytes of every buffer in `kept` (the aclnn run's results) and puts the bytes `before` the call back
 * into buffers from..nb-1 (the outputs) for the reference run. */
static inline void fz_keep_and_reset(const fz_case *c, uint8_t **kept, uint8_t *const *before, int from)
{
    fz_snapshot(c, kept);
    for (int i = from; i < c->nb; i++) memcpy(c->b[i].p, before[i], c->b[i].bytes);
}

static inline void fz_free_copies(const fz_case *c, uint8_t **copies)
{
    for (int i = 0; i < c->nb; i++) free(copies[i]);
}

/* Destroys the tensors and frees the buffers (and the copies, when given). */
static inline void fz_free(fz_case *c, uint8_t **copies)
{
    for (int i = 0; i < c->nb; i++) {
        aclDestroyTensor(c->b[i].t);
        free(c->b[i].p);
        if (copies) free(copies[i]);
    }
}

/* The execute phase after a GetWorkspaceSize call that returned st, with a malloc'd workspace. */
static inline aclnnStatus fz_execute(aclnnStatus st, uint64_t ws, aclOpExecutor *exe,
                                     aclnnStatus (*run)(void *, uint64_t, aclOpExecutor *, aclrtStream))
{
    if (st != ACLNN_SUCCESS) return st;
    void *w = malloc(ws ? ws : 1);
    st = run(w, ws, exe, NULL);
    free(w);
    return st;
}

/* A refused call: a message, and every buffer as it was. */
static inline void fz_refused(const fz_case *c, uint8_t *const *copies, aclnnStatus st, const char *what)
{
    const char *m = aclGetRecentErrMsg();
    FZ_ASSERT(m && m[0], "refused %s call (status %d) left no message", what, (int)st);
    FZ_ASSERT(fz_unchanged(c, copies, 0), "refused %s call (status %d) changed a buffer", what, (int)st);
}

/* In a harness function with locals c (fz_case), copies (the buffers before the call) and first_out (the first
 * output buffer): the native run on the same inputs must reproduce the aclnn run's outputs byte for byte. */
#define FZ_COMPARE_NATIVE(call, what)                                                                         \
    do {                                                                                                      \
        uint8_t *mine_[FZ_MAXT];                                                                              \
        fz_keep_and_reset(&c, mine_, copies, first_out);                                                      \
        const moeroute_status ns_ = (call);                                                                   \
        FZ_ASSERT(ns_ == MOEROUTE_OK, "%s: native refused what aclnn accepted: %s", what,                    \
                  moeroute_error_message());                                                                  \
        FZ_ASSERT(fz_unchanged(&c, mine_, 0), "%s: aclnn differs from the serial scalar native run", what);   \
        fz_free_copies(&c, mine_);                                                                            \
    } while (0)

/* One native context that runs serially on scalar kernels: the reference for the aclnn calls. */
static inline moeroute_context *fz_serial(void)
{
    static moeroute_context *ctx;
    if (!ctx) {
        moeroute_options o = {1, MOEROUTE_ISA_SCALAR};
        moeroute_context_create(&o, &ctx);
    }
    return ctx;
}

/* Element pointer of tensor i's view (data + its view offset). */
static inline void *fz_at(const fz_case *c, int i)
{
    int64_t off = 0;
    aclGetViewOffset(c->b[i].t, &off);
    aclDataType dt;
    aclGetDataType(c->b[i].t, &dt);
    return c->b[i].p + off * (int64_t)aclDataTypeSize(dt);
}

#endif /* MR_FUZZ_COMMON_H */
