/* Portable accumulate kernels (src/kernels/accumulate/accumulate.h): the reference every other variant of
 * this family must equal byte for byte. */
#include <string.h>

#include "common/fp16.h"
#include "kernels/accumulate/accumulate.h"

/* x rounded to the nearest fp16 value (ties to even), as a float. */
static inline float mr_round_f16(float x) { return mr_f16_to_f32(mr_f32_to_f16(x)); }

uint16_t mr_f32_to_bf16_rha(float f)
{
    uint32_t u = mr_f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    /* adding half an ulp of bf16 carries exactly when the dropped half is >= 0x8000: ties go away from zero
     * because the sign is a separate bit; the largest finite values round up to infinity */
    return (uint16_t)((u + 0x8000u) >> 16);
}

void mr_acc_widen__scalar(float *dst, const void *src, int64_t stride, size_t n, mr_xtype t)
{
    const char *p = (const char *)src;
    if (t == MR_X_F32) {
        if (stride == 1) {
            memcpy(dst, p, n * sizeof(float));
            return;
        }
        for (size_t i = 0; i < n; i++) memcpy(&dst[i], p + (int64_t)i * stride * 4, 4);
        return;
    }
    if (stride == 1 && t == MR_X_BF16) { /* the common case, in a loop the compiler vectorizes */
        const uint16_t *h = (const uint16_t *)(const void *)p;
        for (size_t i = 0; i < n; i++) dst[i] = mr_bf16_to_f32(h[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + (int64_t)i * stride * 2, 2);
        dst[i] = t == MR_X_F16 ? mr_f16_to_f32(h) : mr_bf16_to_f32(h);
    }
}

void mr_acc_init__scalar(float *acc, const float *a, const float *b, size_t n, mr_acc_arith arith)
{
    for (size_t i = 0; i < n; i++) {
        float v = a[i] + (b ? b[i] : 0.0f);
        acc[i] = arith == MR_ACC_F16 ? mr_round_f16(v) : v;
    }
}

void mr_acc_term__scalar(float *acc, const float *row, const float *bias, int plus_zero, int has_scale, float scale,
                         int first, size_t n, mr_acc_arith arith)
{
    if (arith == MR_ACC_F16) {
        for (size_t i = 0; i < n; i++) {
            float t = row[i];
            if (bias) t = mr_round_f16(t + bias[i]);
            else if (plus_zero) t = mr_round_f16(t + 0.0f);
            if (has_scale) t = mr_round_f16(t * scale);
            acc[i] = first ? t : mr_round_f16(acc[i] + t);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float t = row[i];
        if (bias) t = t + bias[i];
        else if (plus_zero) t = t + 0.0f;
        if (has_scale) t = t * scale;
        acc[i] = first ? t : acc[i] + t;
    }
}

/* widen, then the term: the reference composition, a chunk at a time */
static void mr_acc_term_x(float *acc, const void *x, mr_xtype t, int plus_zero, int has_scale, float scale, int first,
                          size_t n)
{
    float row[256];
    const size_t es = t == MR_X_F32 ? 4u : 2u;
    for (size_t o = 0; o < n; o += 256) {
        const size_t m = n - o < 256 ? n - o : 256;
        mr_acc_widen__scalar(row, (const char *)x + o * es, 1, m, t);
        mr_acc_term__scalar(acc + o, row, NULL, plus_zero, has_scale, scale, first, m, MR_ACC_F32);
    }
}
#define MR_ACC_TERM_X_SCALAR(T, XT)                                                                           \
    void mr_##T##_acc_term_x__scalar(float *acc, const void *x, int plus_zero, int has_scale, float scale,     \
                                     int first, size_t n)                                                     \
    {                                                                                                         \
        mr_acc_term_x(acc, x, XT, plus_zero, has_scale, scale, first, n);                                     \
    }
MR_ACC_TERM_X_SCALAR(f16, MR_X_F16)
MR_ACC_TERM_X_SCALAR(bf16, MR_X_BF16)
MR_ACC_TERM_X_SCALAR(f32, MR_X_F32)

void mr_acc_bf16_rha__scalar(void *d, const float *acc, size_t n)
{
    uint16_t *h = (uint16_t *)d;
    for (size_t i = 0; i < n; i++) h[i] = mr_f32_to_bf16_rha(acc[i]);
}

void mr_acc_store__scalar(void *dst, const float *acc, size_t n, mr_xtype t, mr_acc_bf16_round bf16_round)
{
    if (t == MR_X_F32) {
        memcpy(dst, acc, n * sizeof(float));
        return;
    }
    uint16_t *d = (uint16_t *)dst;
    if (t == MR_X_F16) {
        for (size_t i = 0; i < n; i++) d[i] = mr_f32_to_f16(acc[i]);
    } else if (bf16_round == MR_ACC_BF16_RHA) {
        for (size_t i = 0; i < n; i++) d[i] = mr_f32_to_bf16_rha(acc[i]);
    } else {
        for (size_t i = 0; i < n; i++) d[i] = mr_f32_to_bf16(acc[i]);
    }
}
