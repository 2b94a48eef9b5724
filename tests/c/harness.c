#include <stdlib.h>
#include <time.h>

#include "harness.h"

int mr_test_passed, mr_test_failed;

int mr_test_finish(void)
{
    printf("%d passed, %d failed\n", mr_test_passed, mr_test_failed);
    return mr_test_failed == 0 && mr_test_passed > 0 ? 0 : 1;
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
