/* Minimal test harness: CHECK counts outcomes; mr_test_finish prints "N passed, N failed" and gives the
 * exit code. Random tests take their seed from argv[1] or MOEROUTE_TEST_SEED and print it. */
#ifndef MR_TEST_HARNESS_H
#define MR_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>

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
uint64_t mr_test_seed(int argc, char **argv);
/* xorshift64* */
uint64_t mr_test_rand(uint64_t *state);

#endif /* MR_TEST_HARNESS_H */
