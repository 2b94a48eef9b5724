/* The V1 pair with ranks as MPI processes (mpirun -np 2 / 4; docs/operators/distribute.md "V1"). Every process
 * generates the whole world's inputs from one seed (rank 0's, broadcast) and runs its rank through
 * the V2 pair (checked against the model of tests/c/distribute_model.h) and through the V1 pair on the same
 * inputs: the same bytes (dispatch outputs and the combined tokens), and expandIdx as documented
 * (tests/c/distribute_v1_model.h). Refusals of V1 dispatch reach every process through its agreement over the transport: expandIdxOut
 * overlapping x on one rank, an attribute that differs on one rank, a negative id; outputs untouched. */
#define _DEFAULT_SOURCE /* setenv */
#include <stdio.h>
#include <stdlib.h>

#include "distribute_v1_model.h"
#include "mpi_comm_fixture.h"

int main(int argc, char **argv)
{
    int rank = 0, size = 0;
    unsigned long long seed = 0;
    char name[COMM_NAME_MAX_LENGTH];
    HcclComm comm = mpi_comm_setup(&argc, &argv, &rank, &size, &seed, name);

    /* W, E, S, R, K, H, qm, tok_type, mask_kind, global_bs, shared_x (none in V1), skip_ids, bs[], xt, fault */
    const cfg cases[] = {
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {5, 5}, ACL_FLOAT16, FAULT_NONE},
        {2, 2, 0, 0, 2, 8, 2, 1, 2, 0, 0, 1, {3, 3}, ACL_BF16, FAULT_NONE},
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {5, 5}, ACL_FLOAT16, FAULT_OVERLAP},
        {2, 4, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {5, 5}, ACL_FLOAT16, FAULT_ATTR},
        {4, 12, 0, 0, 4, 32, 0, 1, 2, 36, 0, 1, {9, 4, 0, 6}, ACL_FLOAT16, FAULT_NONE},
        {4, 8, 2, 2, 3, 16, 2, 1, 2, 0, 0, 1, {5, 5, 5, 5}, ACL_FLOAT16, FAULT_NONE},
        {4, 8, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {3, 3, 3, 3}, ACL_FLOAT16, FAULT_OVERLAP},
        {4, 8, 0, 0, 2, 16, 0, 0, 0, 0, 0, 0, {3, 3, 3, 3}, ACL_FLOAT16, FAULT_NEG_ID},
    };
    char label[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].W != size) continue;
        const cfg *c = &cases[i];
        snprintf(label, sizeof label, "MPI V1 case %zu (%d ranks)", i, size);
        v1_world *v = calloc(1, sizeof *v);
        world *w2 = calloc(1, sizeof *w2);
        v->w.c = *c, w2->c = *c;
        memcpy(v->w.name, name, sizeof name), memcpy(w2->name, name, sizeof name);
        v->w.comms[rank] = w2->comms[rank] = comm;
        g_rng = (uint64_t)seed ^ (0x9E3779B97F4A7C15ull * (i + 1)); /* the same inputs in every process */
        v1_alloc(v);
        if (c->fault == FAULT_NONE) {
            g_rng = (uint64_t)seed ^ (0x9E3779B97F4A7C15ull * (i + 1));
            world_alloc(w2);
            rank_arg ra = {w2, rank};
            rank_main(&ra);
            check_rank(w2, rank, label);
        }
        v1_arg va = {v, rank};
        rank_main_v1(&va);
        if (c->fault == FAULT_NONE) {
            compare_v1_v2(v, w2, rank, label);
            world_free(w2);
        } else {
            v1_check_refused(v, rank, label);
        }
        v1_free(v);
        free(w2);
        free(v);
    }
    return mpi_comm_finish(comm, rank);
}
