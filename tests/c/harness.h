/* Minimal test harness: CHECK counts outcomes; mr_test_finish prints "N passed, N failed" and gives the
 * exit code. Random tests take their seed from argv[1] or MOEROUTE_TEST_SEED and print it. */
#ifndef MR_TEST_HARNESS_H
#define MR_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int mr_test_passed, mr_test_failed;

#define CHECK(cond, ...)                                                                                      \
    do {                                                                                                      \
        if (cond) {                                                                                           \
            mr_test_passed++;                                                                                 \
        } else {                                                                                              \
            mr_test_failed++;                                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                                                     \
            fputc('\n', stderr);                                                                              \
        }                                                                                                     \
    } while (0)

int mr_test_finish(void);
/* 1 when all n bytes at p equal v (outputs left untouched by a refused call, pads, sentinels). */
int mr_test_bytes_are(const void *p, size_t n, unsigned char v);
/* Print n floats (value and bits) or n 16-bit words to stderr after a label, for failed comparisons. */
void mr_test_print_f32(const char *what, const float *a, size_t n);
void mr_test_print_u16(const char *what, const uint16_t *a, size_t n);

/* Bit-exact comparisons (so -0 and +0 differ) that print both arrays when they fail. */
#define CHECK_F32(got, want, n, ...)                                                                         \
    do {                                                                                                     \
        int ok_ = memcmp(got, want, (n) * sizeof(float)) == 0;                                               \
        CHECK(ok_, __VA_ARGS__);                                                                             \
        if (!ok_) mr_test_print_f32("got ", got, n), mr_test_print_f32("want", want, n);                     \
    } while (0)
#define CHECK_U16(got, want, n, ...)                                                                         \
    do {                                                                                                     \
        int ok_ = memcmp(got, want, (n) * sizeof(uint16_t)) == 0;                                            \
        CHECK(ok_, __VA_ARGS__);                                                                             \
        if (!ok_) mr_test_print_u16("got ", got, n), mr_test_print_u16("want", want, n);                     \
    } while (0)
uint64_t mr_test_seed(int argc, char **argv);
/* xorshift64* */
uint64_t mr_test_rand(uint64_t *state);

#endif /* MR_TEST_HARNESS_H */
