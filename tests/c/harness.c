#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

int mr_test_passed, mr_test_failed;

int mr_test_finish(void)
{
    printf("%d passed, %d failed\n", mr_test_passed, mr_test_failed);
    return mr_test_failed == 0 && mr_test_passed > 0 ? 0 : 1;
}

int mr_test_bytes_are(const void *p, size_t n, unsigned char v)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v) return 0;
    return 1;
}

void mr_test_print_f32(const char *what, const float *a, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &a[i], sizeof u);
        fprintf(stderr, " %g(%08x)", (double)a[i], (unsigned)u);
    }
    fputc('\n', stderr);
}

void mr_test_print_u16(const char *what, const uint16_t *a, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %04x", (unsigned)a[i]);
    fputc('\n', stderr);
}

uint64_t mr_test_seed(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : getenv("MOEROUTE_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    if (seed == 0) seed = 1;
    printf("seed %llu (replay: pass it as the first argument or MOEROUTE_TEST_SEED)\n", (unsigned long long)seed);
    return seed;
}

uint64_t mr_test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
