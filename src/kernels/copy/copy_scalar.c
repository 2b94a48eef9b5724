#include <string.h>

#include "kernels/kernels.h"

void mr_copy__scalar(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }
