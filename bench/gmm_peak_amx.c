/* The AMX-INT8 peak of gmm_peak.h (built with -mamx-tile -mamx-int8): four independent tdpbssd into four C tiles
 * from two A and two B tiles, the blocking of the library's AMX kernel (src/kernels/gemm/gemm_amx.c). */
#define _DEFAULT_SOURCE /* syscall() */
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gmm_peak.h"

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} gmm_tilecfg;

static const gmm_tilecfg gmm_cfg = {1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};
static volatile int gmm_sink_amx;

int gmm_amx_usable(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || (d & (3u << 24)) != (3u << 24)) return 0;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
}

double gmm_peak_amx(long rounds)
{
    static const int8_t ones[16 * 64] = {1};
    int32_t out[16 * 16];
    _tile_loadconfig(&gmm_cfg);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ones, 64);
    _tile_loadd(5, ones, 64);
    _tile_loadd(6, ones, 64);
    _tile_loadd(7, ones, 64);
    for (long r = 0; r < rounds; r++) {
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(1, 4, 7);
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
    }
    _tile_stored(0, out, 64);
    _tile_release();
    gmm_sink_amx = out[0];
    return (double)rounds * 4.0 * 16 * 16 * 64 * 2;
}
