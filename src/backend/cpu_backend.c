#include "backend/cpu_backend.h"
#include "dispatch/cpu.h"

void mr_backend_init(mr_backend *b, moeroute_isa isa, size_t threads)
{
    b->isa = mr_dispatch_resolve_isa(isa);
    b->threads = threads < 1 ? 1 : threads > MR_BACKEND_MAX_THREADS ? MR_BACKEND_MAX_THREADS : threads;
    b->quant = mr_dispatch_quant(b->isa);
    b->copy = mr_dispatch_copy(b->isa);
    b->dquant = mr_dispatch_dquant(b->isa);
    b->sort = mr_dispatch_sort(b->isa);
}

int mr_backend_stream_output(size_t bytes) { return bytes > mr_cpu_llc_bytes() / 2; }
