/* libFuzzer harness of the aclnn API: random tensor descriptors (ranks, dims, strides including zero and
 * negative, view offsets, storage smaller than the view, and tensors without storage dims -- storageDims
 * NULL or a count of 0 -- whose storage is the view's own extent from element 0, with zero, small and huge
 * offsets), dtypes, formats, attributes, workspace sizes and data. Every buffer is exactly its storage, so
 * ASan reports any access outside it; outputs are followed by sentinel bytes as well (see FZ_SLACK).
 * Properties: a refused call returns a documented status with a message and leaves outputs untouched; an
 * accepted call had every non-empty view inside its storage, wrote no output byte outside the output views
 * and no input byte, and equals the native API on the scalar single-thread path for the same views. */
#include "acl/acl.h"
#include "aclnnop/aclnn_moe_init_routing.h"
#include "aclnnop/aclnn_moe_init_routing_quant.h"
#include "fuzz_common.h"
#include "moeroute.h"

#define SENT 0x3C
/* Sentinel bytes after each output's storage: ASan does not see the AVX-512 kernels' masked tail stores
 * (target intrinsics), so a write past an output's end is also looked for here. */
#define FZ_SLACK 64

static moeroute_context *ctx_ref;

typedef struct fz_tensor {
    aclDataType dt;
    aclFormat fmt;
    uint64_t rank;
    int64_t dims[3], strides[3], offset, storage; /* storage in elements */
    int storage_less;                             /* created with no storage dims */
    uint8_t *buf;                                 /* the storage (ASan sees any access outside), then the slack */
    size_t bytes;                                 /* of storage */
    size_t alloc;                                 /* bytes of buf: outputs have FZ_SLACK sentinel bytes more */
    aclTensor *t;
} fz_tensor;

static size_t dt_size(aclDataType dt)
{
    size_t s = aclDataTypeSize(dt);
    return s ? s : 1;
}

/* Mostly the well-formed descriptor `want`, sometimes perturbed. r: the forward reader (the original
 * choices); rt: the tail reader (storage-less views and huge offsets, added later). */
static void fz_make(fz_reader *r, fz_reader *rt, fz_tensor *t, aclDataType dt, uint64_t rank, const int64_t *dims,
                    int input)
{
    t->dt = fz_below(r, 24) ? dt : (aclDataType)FZ_PICK(r, ACL_FLOAT, ACL_FLOAT16, ACL_BF16, ACL_INT8, ACL_INT32, ACL_INT64);
    t->fmt = fz_below(r, 40) ? ACL_FORMAT_ND : (aclFormat)FZ_PICK(r, ACL_FORMAT_NCHW, ACL_FORMAT_NHWC, 99);
    t->rank = fz_below(r, 24) ? rank : fz_below(r, 4);
    int64_t contiguous = 1;
    for (int d = 2; d >= 0; d--) {
        t->dims[d] = d < (int)rank ? dims[d] : 1;
        if (fz_below(r, 30) == 0) t->dims[d] = (int64_t)fz_below(r, 9);
    }
    for (int d = (int)t->rank - 1; d >= 0; d--) {
        t->strides[d] = contiguous;
        contiguous *= t->dims[d];
    }
    int default_strides = 1;
    if (input && t->rank == 2 && fz_below(r, 2)) { /* transposed, padded, zero or negative strides */
        t->strides[0] = FZ_PICK(r, 1, 0, -1, 3, -(t->dims[1] + 1), t->dims[1] + 2);
        t->strides[1] = FZ_PICK(r, 1, 0, -2, t->dims[0], 2);
        default_strides = 0;
    } else if (!input && fz_below(r, 30) == 0) {
        t->strides[0] = FZ_PICK(r, 2, 0, -1);
        default_strides = 0;
    }
    int64_t lo = 0, hi = 0;
    int nonempty = fz_view_span(t->rank, t->dims, t->strides, &lo, &hi);
    t->offset = nonempty ? -lo : 0;
    t->storage = nonempty ? hi - lo + 1 : 0;
    if (fz_below(r, 20) == 0) t->offset += FZ_PICK(r, 1, -1, 3);
    if (fz_below(r, 20) == 0) t->storage -= 1;
    if (t->storage < 0) t->storage = 0;
    t->storage_less = fz_tail_below(rt, 5) == 1;
    if (t->storage_less) {
        /* no storage dims: the storage is [0, hi] of the view itself; the offset is mostly 0, else one that
         * moves the view out of it (small, or the one that would put a negative-stride view at element 0) */
        t->storage = nonempty ? hi + 1 : 0;
        t->offset = fz_tail_below(rt, 4) ? 0 : FZ_TAIL_PICK(rt, 1, 3, -lo, INT64_MAX / 4, INT64_MAX / 2);
    } else if (fz_tail_below(rt, 24) == 1) {
        t->offset = FZ_TAIL_PICK(rt, INT64_MAX / 4, INT64_MAX / 2, INT64_MAX); /* beyond any storage */
    }
    if (t->offset < 0) t->offset = 0; /* aclCreateTensor refuses negative offsets; keep the tensor */
    t->bytes = (size_t)t->storage * dt_size(t->dt);
    t->alloc = t->bytes + (input ? 0 : FZ_SLACK);
    t->buf = malloc(t->alloc ? t->alloc : 1);
    int64_t sdims[1] = {t->storage};
    if (t->storage_less) {
        /* CANN style: strides NULL when they are the default ones, storageDims NULL (or a count of 0) */
        const int64_t *strides = default_strides && contiguous > 0 && fz_tail_below(rt, 2) ? NULL : t->strides;
        t->t = aclCreateTensor(t->dims, t->rank, t->dt, strides, t->offset, t->fmt,
                               fz_tail_below(rt, 2) ? sdims : NULL, 0, t->buf);
    } else {
        t->t = aclCreateTensor(t->dims, t->rank, t->dt, t->strides, t->offset, t->fmt, sdims, 1, t->buf);
    }
}

/* The view lies inside its storage (or addresses nothing). */
static int fz_view_inside(const fz_tensor *t)
{
    int64_t lo, hi;
    if (!fz_view_span(t->rank, t->dims, t->strides, &lo, &hi)) return 1;
    return lo + t->offset >= 0 && t->offset <= INT64_MAX - hi && hi + t->offset < t->storage;
}

/* An output's bytes outside its view's element range are untouched. */
static int fz_outside_view_untouched(const fz_tensor *t)
{
    int64_t lo, hi;
    if (!fz_view_span(t->rank, t->dims, t->strides, &lo, &hi)) return fz_all_equal(t->buf, t->alloc, SENT);
    size_t es = dt_size(t->dt);
    return fz_equal_outside(t->buf, t->alloc, (size_t)(lo + t->offset) * es, (size_t)(hi + t->offset + 1) * es,
                            SENT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx_ref) {
        moeroute_options ref = {1, MOEROUTE_ISA_SCALAR};
        if (moeroute_context_create(&ref, &ctx_ref) != MOEROUTE_OK) abort();
    }
    fz_reader r = {data, size}, rt = {data, size};
    int quant = (int)fz_below(&r, 2);
    int64_t N = (int64_t)fz_below(&r, 20), K = (int64_t)fz_below(&r, 5), H = (int64_t)fz_below(&r, 40);
    int64_t active = FZ_PICK(&r, 0, 1, N, N + 3, INT64_MAX, -1, N / 2);
    aclDataType xdt = (aclDataType)FZ_PICK(&r, ACL_FLOAT16, ACL_BF16, ACL_FLOAT);
    uint64_t sbits = fz_bits(&r, 8), obits = fz_bits(&r, 8);
    double scale = (double)(sbits % 4000) / 100.0, offset = (double)(obits % 200) / 10.0 - 10.0;
    if (fz_below(&r, 8) == 0) memcpy(&scale, &sbits, 8);
    int64_t A = (active < 0 ? 0 : active < N ? active : N) * K, L = N * K;
    int64_t xd[2] = {N, H}, id[2] = {N, K}, exd[2] = {A, H}, od[1] = {L};
    fz_tensor t[6];
    fz_make(&r, &rt, &t[0], xdt, 2, xd, 1);
    fz_make(&r, &rt, &t[1], ACL_INT32, 2, id, 1);
    fz_make(&r, &rt, &t[2], ACL_INT32, 2, id, 1);
    fz_make(&r, &rt, &t[3], quant ? ACL_INT8 : xdt, 2, exd, 0);
    fz_make(&r, &rt, &t[4], ACL_INT32, 1, od, 0);
    fz_make(&r, &rt, &t[5], ACL_INT32, 1, od, 0);
    for (size_t i = 0; i < t[0].bytes; i++) t[0].buf[i] = (uint8_t)fz_bits(&r, 1);
    uint64_t id_span = (uint64_t)FZ_PICK(&r, 1, 3, 64, 100000, 1ll << 32);
    memset(t[2].buf, 0, t[2].bytes);
    for (int64_t i = 0; t[2].dt == ACL_INT32 && i < t[2].storage; i++) {
        int32_t v = (int32_t)(uint32_t)(fz_bits(&r, 4) % id_span);
        memcpy(t[2].buf + i * 4, &v, 4);
    }
    /* rowIdx: a permutation written through the view (a broken view or zero stride may break it) */
    memset(t[1].buf, 0, t[1].bytes);
    int64_t f = 0;
    if (t[1].rank == 2 && t[1].dims[0] == N && t[1].dims[1] == K && t[1].dt == ACL_INT32 &&
        t[1].offset <= t[1].storage) /* a huge offset: nothing to write, and no overflow computing where */
        for (int64_t a = 0; a < N; a++)
            for (int64_t j = 0; j < K; j++, f++) {
                int64_t at = t[1].offset + a * t[1].strides[0] + j * t[1].strides[1];
                int32_t v = (int32_t)((f * 7 + (int64_t)fz_below(&r, 2)) % (L ? L : 1));
                if (fz_below(&r, 3)) v = (int32_t)(j * N + a);
                if (at >= 0 && at < t[1].storage) memcpy(t[1].buf + at * 4, &v, 4);
            }
    for (int i = 3; i < 6; i++) memset(t[i].buf, SENT, t[i].alloc);
    uint8_t *in_copy[3];
    for (int i = 0; i < 3; i++) {
        in_copy[i] = malloc(t[i].bytes ? t[i].bytes : 1);
        memcpy(in_copy[i], t[i].buf, t[i].bytes);
    }

    int null_at = fz_below(&r, 30) == 0 ? (int)fz_below(&r, 6) : -1;
    const aclTensor *tt[6];
    for (int i = 0; i < 6; i++) tt[i] = i == null_at ? NULL : t[i].t;
    uint64_t ws_size = 0;
    aclOpExecutor *exe = NULL;
    aclnnStatus st = quant ? aclnnMoeInitRoutingQuantGetWorkspaceSize(tt[0], tt[1], tt[2], active, scale, offset,
                                                                      tt[3], tt[4], tt[5], &ws_size, &exe)
                           : aclnnMoeInitRoutingGetWorkspaceSize(tt[0], tt[1], tt[2], active, tt[3], tt[4], tt[5],
                                                                 &ws_size, &exe);
    uint8_t *ws = NULL;
    if (st == ACLNN_SUCCESS) {
        uint64_t give = fz_below(&r, 16) == 0 && ws_size ? ws_size - 1 : ws_size;
        ws = malloc(give + 1);
        st = quant ? aclnnMoeInitRoutingQuant(give ? ws : NULL, give, exe, NULL)
                   : aclnnMoeInitRouting(give ? ws : NULL, give, exe, NULL);
    }
    const char *msg = aclGetRecentErrMsg();
    int untouched = 1;
    for (int i = 3; i < 6; i++) untouched &= fz_all_equal(t[i].buf, t[i].alloc, SENT);
    for (int i = 0; i < 3; i++) FZ_ASSERT(memcmp(in_copy[i], t[i].buf, t[i].bytes) == 0, "input %d was written", i);
    if (st != ACLNN_SUCCESS) {
        FZ_ASSERT(st == ACLNN_ERR_PARAM_NULLPTR || st == ACLNN_ERR_PARAM_INVALID || st == ACLNN_ERR_INNER_TILING_ERROR,
                  "undocumented status %d", st);
        FZ_ASSERT(msg && *msg, "no message for status %d", st);
        FZ_ASSERT(untouched, "refused call (%d: %s) wrote output", st, msg);
    } else {
        FZ_ASSERT(msg == NULL, "message after success: %s", msg);
        for (int i = 0; i < 6; i++) {
            FZ_ASSERT(fz_view_inside(&t[i]), "tensor %d accepted with its view outside its storage (%s, offset %lld, "
                      "storage %lld)", i, t[i].storage_less ? "no storage dims" : "storage dims",
                      (long long)t[i].offset, (long long)t[i].storage);
            if (i >= 3) FZ_ASSERT(fz_outside_view_untouched(&t[i]), "output %d written outside its view", i);
        }
        /* the same views through the native API, scalar kernels, one thread */
        /* what the call accepted: the descriptors may have been perturbed into another valid problem */
        aclDataType adt = t[0].dt;
        N = t[0].dims[0], H = t[0].dims[1], K = t[2].dims[1], A = t[3].dims[0], L = N * K;
        size_t xes = dt_size(adt), oes = quant ? 1 : xes;
        uint8_t *ex = malloc((size_t)(A * H) * oes + 1);
        int32_t *erow = malloc((size_t)L * 4 + 1), *eexp = malloc((size_t)L * 4 + 1);
        moeroute_init_routing_args a = {
            sizeof(moeroute_init_routing_args), N, K, H, active, (moeroute_dtype)adt, t[0].buf + t[0].offset * (int64_t)xes, t[0].strides[0],
            t[0].strides[1], (int32_t *)(void *)t[2].buf + t[2].offset, t[2].strides[0], t[2].strides[1],
            (int32_t *)(void *)t[1].buf + t[1].offset, t[1].strides[0], t[1].strides[1],
            quant ? MOEROUTE_DTYPE_INT8 : (moeroute_dtype)adt, scale, offset, ex, erow, eexp};
        moeroute_status ns = moeroute_init_routing(ctx_ref, &a);
        FZ_ASSERT(ns == MOEROUTE_OK, "native refused what aclnn accepted: %s", moeroute_error_message());
        FZ_ASSERT(memcmp(ex, t[3].buf, (size_t)(A * H) * oes) == 0 && memcmp(erow, t[4].buf, (size_t)L * 4) == 0 &&
                      memcmp(eexp, t[5].buf, (size_t)L * 4) == 0,
                  "aclnn result differs from the native scalar path");
        free(ex), free(erow), free(eexp);
    }
    free(ws);
    for (int i = 0; i < 3; i++) free(in_copy[i]);
    for (int i = 0; i < 6; i++) {
        aclDestroyTensor(t[i].t);
        free(t[i].buf);
    }
    return 0;
}
