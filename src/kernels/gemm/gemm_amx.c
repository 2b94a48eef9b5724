/* AMX-INT8 GEMM micro-kernel (src/kernels/gemm/gemm.h; docs/operators/grouped_matmul.md "Kernels"): a 32 x 32
 * tile of C held in four 16 x 16 int32 tiles (tmm0-3), two A tiles of 16 rows x 64 k (tmm4-5) and two B tiles
 * of 16 groups of 4 k x 16 columns (tmm6-7) per step, tdpbssd (signed x signed bytes, int32 sums that wrap and
 * never saturate). The sums are exact, so the bytes equal every other ISA's.
 *
 * Panels: A [kcp/64][32 rows][64 k] (group 64), B [kcp/4][32 columns][4 k] (group 4, the VNNI layout); one step
 * reads A rows at a stride of 64 bytes and B groups at a stride of 128 bytes (32 columns x 4 k).
 *
 * The tile registers are per-thread state: mr_gemm_amx_enter loads the one configuration every call uses
 * (eight tiles of 16 rows x 64 bytes), mr_gemm_amx_leave releases the tiles so the thread's context switches
 * stay cheap. The operating system's permission to use them is asked for once per process by the dispatcher
 * (src/dispatch/cpu_x86.c) before this file's code can be chosen. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/gemm/gemm.h"

typedef struct mr_amx_tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} mr_amx_tilecfg;

/* A constant in read-only memory: gcc 12 does not see that ldtilecfg reads its operand and drops stores that
 * fill a configuration on the stack (the tiles then stay unconfigured and the first tile instruction faults). */
static const mr_amx_tilecfg mr_amx_cfg = {1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

void mr_gemm_amx_enter(void) { _tile_loadconfig(&mr_amx_cfg); }

void mr_gemm_amx_leave(void) { _tile_release(); }

void mr_gemm_i8_32x32__amx(size_t kgroups, const void *av, const void *bv, int32_t *c, size_t ldc, int load_c)
{
    const char *a = av, *b = bv;
    const size_t ld = ldc * 4;
    if (load_c) {
        _tile_loadd(0, c, ld);
        _tile_loadd(1, c + 16, ld);
        _tile_loadd(2, c + 16 * ldc, ld);
        _tile_loadd(3, c + 16 * ldc + 16, ld);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (size_t s = 0; s < kgroups / 16; s++, a += 32 * 64, b += 16 * 128) {
        _tile_loadd(4, a, 64);
        _tile_loadd(5, a + 16 * 64, 64);
        _tile_loadd(6, b, 128);
        _tile_loadd(7, b + 64, 128);
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(1, 4, 7);
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
    }
    _tile_stored(0, c, ld);
    _tile_stored(1, c + 16, ld);
    _tile_stored(2, c + 16 * ldc, ld);
    _tile_stored(3, c + 16 * ldc + 16, ld);
}
