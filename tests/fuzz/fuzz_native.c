/* libFuzzer harness of the native API: random shapes, strides (zero, negative, huge), dtypes, attributes,
 * ids and rowIdx. Properties: a refused call leaves every output byte untouched and leaves a message; an
 * accepted call is a stable routing and gives the same bytes with the scalar kernels on one thread as with
 * the best kernels on several threads. Buffers are sized exactly, so ASan catches any stray access. */
#include "fuzz_common.h"
#include "moeroute.h"

#define SENT 0xA5

static moeroute_context *ctx_fast, *ctx_ref;

static void init_once(void)
{
    if (ctx_fast) return;
    moeroute_options fast = {3, MOEROUTE_ISA_AUTO}, ref = {1, MOEROUTE_ISA_SCALAR};
    if (moeroute_context_create(&fast, &ctx_fast) != MOEROUTE_OK || moeroute_context_create(&ref, &ctx_ref) != MOEROUTE_OK)
        abort();
}

/* Elements a strided [rows, cols] view spans from its lowest to its highest address, and the index of its
 * (0, 0) element inside that span. */
static size_t view_span(int64_t rows, int64_t cols, int64_t s0, int64_t s1, size_t *origin)
{
    int64_t lo = 0, hi = 0;
    if (rows > 0 && cols > 0) {
        int64_t a = (rows - 1) * s0, b = (cols - 1) * s1;
        lo = (a < 0 ? a : 0) + (b < 0 ? b : 0);
        hi = (a > 0 ? a : 0) + (b > 0 ? b : 0);
    }
    *origin = (size_t)(-lo);
    return (size_t)(hi - lo + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    fz_reader r = {data, size};
    int64_t N = (int64_t)fz_below(&r, 24), K = (int64_t)fz_below(&r, 6), H = (int64_t)fz_below(&r, 70);
    int64_t active = FZ_PICK(&r, 0, 1, N / 2, N, N + 1, INT64_MAX, -1, (int64_t)fz_bits(&r, 8));
    moeroute_dtype xdt = (moeroute_dtype)FZ_PICK(&r, MOEROUTE_DTYPE_FLOAT16, MOEROUTE_DTYPE_BFLOAT16,
                                                 MOEROUTE_DTYPE_FLOAT32, MOEROUTE_DTYPE_INT32);
    int quant = (int)fz_below(&r, 2);
    moeroute_dtype odt = quant ? MOEROUTE_DTYPE_INT8 : (fz_below(&r, 8) ? xdt : MOEROUTE_DTYPE_BFLOAT16);
    uint64_t sbits = fz_bits(&r, 8), obits = fz_bits(&r, 8);
    double scale, offset;
    memcpy(&scale, &sbits, 8);
    memcpy(&offset, &obits, 8);
    if (fz_below(&r, 4)) scale = (double)(int64_t)(sbits % 2000) / 64.0, offset = (double)(int64_t)(obits % 64) - 32;
    int64_t strides[6];
    for (int i = 0; i < 6; i++) strides[i] = FZ_PICK(&r, 1, 0, -1, 2, -3, 1, 1, 7);
    /* usually the natural layout, sometimes transposed or odd */
    int64_t xs0 = fz_below(&r, 3) ? H : strides[0] * (H + 1), xs1 = fz_below(&r, 3) ? 1 : strides[1];
    int64_t es0 = fz_below(&r, 3) ? K : strides[2] * (K + 1), es1 = fz_below(&r, 3) ? 1 : strides[3];
    int64_t rs0 = fz_below(&r, 3) ? K : strides[4] * (K + 1), rs1 = fz_below(&r, 3) ? 1 : strides[5];
    if (N >= 2 && fz_below(&r, 64) == 0) xs0 = INT64_MAX / 3; /* extents that overflow must be refused */
    int canonical = fz_below(&r, 3) == 0;

    size_t xes = xdt == MOEROUTE_DTYPE_FLOAT32 || xdt == MOEROUTE_DTYPE_INT32 ? 4 : 2;
    size_t xo, eo, ro;
    size_t xspan = xs0 == INT64_MAX / 3 ? 1 : view_span(N, H, xs0, xs1, &xo);
    if (xs0 == INT64_MAX / 3) xo = 0;
    size_t espan = view_span(N, K, es0, es1, &eo), rspan = view_span(N, K, rs0, rs1, &ro);
    uint8_t *x = malloc(xspan * xes);
    int32_t *e = malloc(espan * 4), *ri = malloc(rspan * 4);
    int64_t L = N * K, A = (active < 0 ? 0 : (active < N ? active : N)) * K;
    size_t oes = quant ? 1 : (odt == MOEROUTE_DTYPE_FLOAT32 ? 4 : 2);
    size_t out_bytes = (size_t)(A * H) * oes;
    uint8_t *out1 = malloc(out_bytes + 1), *out2 = malloc(out_bytes + 1);
    int32_t *erow1 = malloc((size_t)L * 4 + 1), *eexp1 = malloc((size_t)L * 4 + 1);
    int32_t *erow2 = malloc((size_t)L * 4 + 1), *eexp2 = malloc((size_t)L * 4 + 1);
    for (size_t i = 0; i < xspan * xes; i++) x[i] = (uint8_t)fz_bits(&r, 1);
    uint64_t id_span = (uint64_t)FZ_PICK(&r, 1, 4, 300, 70000, 1ll << 32);
    for (size_t i = 0; i < espan; i++) e[i] = (int32_t)(uint32_t)(fz_bits(&r, 4) % id_span - (id_span > 8 ? 8 : 0));
    /* rowIdx: a permutation of 0..L-1 laid out through the view, then maybe broken */
    for (size_t i = 0; i < rspan; i++) ri[i] = -7;
    int64_t f = 0;
    for (int64_t t = 0; t < N; t++)
        for (int64_t j = 0; j < K; j++, f++) ri[(int64_t)ro + t * rs0 + j * rs1] = (int32_t)f;
    for (int64_t sw = 0; sw < L && fz_below(&r, 2); sw++) {
        int64_t a = (int64_t)fz_below(&r, (uint64_t)L), b = (int64_t)fz_below(&r, (uint64_t)L);
        int64_t pa = (int64_t)ro + a / K * rs0 + a % K * rs1, pb = (int64_t)ro + b / K * rs0 + b % K * rs1;
        int32_t tmp = ri[pa];
        ri[pa] = ri[pb];
        ri[pb] = tmp;
    }
    if (L > 0 && fz_below(&r, 8) == 0) { /* break it: duplicate or out of range (a zero stride breaks it too) */
        int64_t a = (int64_t)fz_below(&r, (uint64_t)L);
        ri[(int64_t)ro + a / K * rs0 + a % K * rs1] = (int32_t)FZ_PICK(&r, 0, -1, L, INT32_MAX, (int64_t)fz_bits(&r, 4));
    }

    moeroute_init_routing_args a = {sizeof(moeroute_init_routing_args), N, K, H, active, xdt, x + xo * xes, xs0, xs1, e + eo, es0, es1,
                                    canonical ? NULL : ri + ro, rs0, rs1, odt, scale, offset,
                                    out1, erow1, eexp1};
    memset(out1, SENT, out_bytes + 1), memset(erow1, SENT, (size_t)L * 4 + 1), memset(eexp1, SENT, (size_t)L * 4 + 1);
    moeroute_status st1 = moeroute_init_routing(ctx_fast, &a);
    const char *msg = moeroute_error_message();
    if (st1 != MOEROUTE_OK) {
        FZ_ASSERT(msg && *msg, "no message for status %d", (int)st1);
        FZ_ASSERT(fz_all_equal(out1, out_bytes + 1, SENT) && fz_all_equal((uint8_t *)erow1, (size_t)L * 4 + 1, SENT) &&
                      fz_all_equal((uint8_t *)eexp1, (size_t)L * 4 + 1, SENT),
                  "refused call (%s) wrote output", moeroute_status_string(st1));
    } else {
        FZ_ASSERT(msg == NULL, "message left by a successful call: %s", msg);
        FZ_ASSERT(out1[out_bytes] == SENT && ((uint8_t *)erow1)[L * 4] == SENT, "wrote past the end");
        a.expanded_x = out2, a.expanded_row_idx = erow2, a.expanded_expert_idx = eexp2;
        memset(out2, SENT, out_bytes + 1);
        moeroute_status st2 = moeroute_init_routing(ctx_ref, &a);
        FZ_ASSERT(st2 == MOEROUTE_OK, "scalar reference refused: %s", moeroute_error_message());
        FZ_ASSERT(memcmp(out1, out2, out_bytes) == 0 && memcmp(erow1, erow2, (size_t)L * 4) == 0 &&
                      memcmp(eexp1, eexp2, (size_t)L * 4) == 0,
                  "fast path differs from scalar single-thread path");
        int32_t *keys = malloc((size_t)L * 4 + 1), *rows = malloc((size_t)L * 4 + 1);
        f = 0;
        for (int64_t t = 0; t < N; t++)
            for (int64_t j = 0; j < K; j++, f++) {
                keys[f] = e[(int64_t)eo + t * es0 + j * es1];
                rows[f] = canonical ? (int32_t)(j * N + t) : ri[(int64_t)ro + t * rs0 + j * rs1];
            }
        FZ_ASSERT(fz_is_stable_routing(keys, rows, erow1, eexp1, (size_t)L), "not a stable routing");
        free(keys), free(rows);
    }
    free(x), free(e), free(ri), free(out1), free(out2), free(erow1), free(eexp1), free(erow2), free(eexp2);
    return 0;
}
