#include "operators/silu_table.h"

#include <pthread.h>
#include <stdint.h>

#include "common/fp16.h"
#include "kernels/math/mr_math.h"

static pthread_once_t mr_silu_once = PTHREAD_ONCE_INIT;
static float mr_silu_f16[65536], mr_silu_bf16[65536];

static void mr_silu_init(void)
{
    for (uint32_t u = 0; u < 65536u; u++) {
        mr_silu_f16[u] = mr_siluf(mr_f16_to_f32((uint16_t)u));
        mr_silu_bf16[u] = mr_siluf(mr_bf16_to_f32((uint16_t)u));
    }
}

const float *mr_silu_table(mr_xtype t)
{
    if (t == MR_X_F32) return NULL;
    pthread_once(&mr_silu_once, mr_silu_init);
    return t == MR_X_F16 ? mr_silu_f16 : mr_silu_bf16;
}
