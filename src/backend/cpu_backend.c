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
    b->act = mr_dispatch_act(b->isa);
    b->select = mr_dispatch_select(b->isa);
    b->mlp = mr_dispatch_mlp(b->isa);
}

/* Outputs beyond this bypass the cache whatever the reported last-level cache: in virtual machines that size
 * is often the host's (480 MiB seen) and a thread's real share is far smaller; cached stores then first read
 * every destination line (measured: DeepSeek-V3 quant at 4096 tokens 0.38 -> 0.63 of the copy limit). */
#define MR_STREAM_CAP_BYTES (8u * 1024u * 1024u)

int mr_backend_stream_output(size_t bytes)
{
    size_t half = mr_cpu_llc_bytes() / 2;
    return bytes > (half < MR_STREAM_CAP_BYTES ? half : MR_STREAM_CAP_BYTES);
}
