/* Size of the last-level cache, read once. sysfs first: inside virtual machines glibc's
 * sysconf(_SC_LEVEL3_CACHE_SIZE) can report the host's whole L3 (seen: 320 MiB where the guest has 32 MiB),
 * which would keep large outputs from bypassing the cache. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "dispatch/cpu.h"

#define MR_DEFAULT_LLC_BYTES (32u * 1024u * 1024u)

static pthread_once_t mr_llc_once = PTHREAD_ONCE_INIT;
static size_t mr_llc;

static size_t mr_llc_from_sysfs(void)
{
    size_t best = 0;
    for (int index = 0; index < 8; index++) {
        char path[96], unit = 0;
        unsigned long long v = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int n = fscanf(f, "%llu%c", &v, &unit);
        fclose(f);
        if (n < 1) continue;
        if (unit == 'K') v <<= 10;
        else if (unit == 'M') v <<= 20;
        if (v > best) best = (size_t)v;
    }
    return best;
}

static void mr_llc_init(void)
{
    mr_llc = mr_llc_from_sysfs();
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (mr_llc == 0) {
        long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
        if (v > 0) mr_llc = (size_t)v;
    }
#endif
    if (mr_llc == 0) mr_llc = MR_DEFAULT_LLC_BYTES;
}

size_t mr_cpu_llc_bytes(void)
{
    pthread_once(&mr_llc_once, mr_llc_init);
    return mr_llc;
}
