"""npu_moe_distribute_dispatch_v2 -> expert -> npu_moe_distribute_combine_v2 from Python with ranks as MPI processes
(moeroute.hccl.comm_init_mpi over mpi4py; the MPI transport of libmoeroute_mpi, docs/hccl.md "Python").

    mpirun -np 2 python3 -m mpi4py tests/pypkg/mpi_distribute_pkg.py [SEED]      # also -np 4 --oversubscribe

Every process builds all ranks' inputs from the seed (rank 0's, broadcast and printed), runs its own rank and
checks its outputs against the single-process numpy model of the global routing (distribute_model.py): received
rows, quantMode 2's int8 rows and scales, expert token counts, ep_recv_counts and the combined tokens after a
deterministic expert, fp16 / bf16, bit for bit. Rank 0 then runs the same ranks as threads of an in-process
communicator (comm_init_all: libmoeroute_mpi holds that transport too) and compares every output byte with what
the processes computed. Refusals: one rank's negative expert id reaches every rank as an error (no hang, the
communicator still works afterwards); a communicator other than MPI.COMM_WORLD is refused on every process.
A failure on any rank is reported by every rank (exit 1); nothing waits for ever (MOEROUTE_HCCL_TIMEOUT_MS).

Two more modes, each run by CTest:
    mpirun -np 2 python3 -m mpi4py mpi_distribute_pkg.py --wrong-order   # moeroute loaded before mpi4py: every
                                                      # process gets MoerouteLibraryError from comm_init_mpi
    MOEROUTE_TRANSPORT=mpi python3 mpi_distribute_pkg.py --local [SEED]  # no MPI: libmoeroute_mpi's in-process
                                                      # transport, ranks as threads over get_root_info
"""

import os
import sys
import threading
import time

import numpy as np

os.environ.setdefault("MOEROUTE_HCCL_TIMEOUT_MS", "20000")  # a failing rank must not stall the others for long

import distribute_model as dm  # noqa: E402  (this script's directory is on sys.path)

H, K = 32, 3
# bs, bf16, per-token mask, quant_mode, expert_token_nums_type, smooth scales
CASES = [(5, True, False, 0, 1, False), (7, False, True, 0, 0, False), (6, True, True, 2, 1, True),
         (4, False, False, 2, 0, True), (3, True, False, 2, 1, False)]


def case_inputs(W, case, seed):
    bs, bf16, masked, qm, _, smooth = case
    E = 3 * W
    xs, ids, ws, masks = dm.make(W, bs, H, K, E, bf16, masked, seed)
    sm = dm.make_smooth(E, H, seed + 1) if smooth else None
    return E, xs, ids, ws, masks, sm


def run_rank(moeroute, comm, case, inputs):
    """This rank's dispatch -> expert -> combine; every output, in a fixed order."""
    _, bf16, _, qm, nums_type, _ = case
    E, xs, ids, ws, masks, sm = inputs
    me, W = comm.rank, comm.size
    ex, dyn, assist, tok, recv, tp, _ = moeroute.npu_moe_distribute_dispatch_v2(
        xs[me], ids[me], comm.name, W, me, E, scales=sm, x_active_mask=masks[me], quant_mode=qm,
        expert_token_nums_type=nums_type, bf16=bf16)
    counts = tok if nums_type == 1 else np.diff(np.concatenate([[0], tok]))
    y = np.zeros(ex.shape, xs[0].dtype)
    L, at = E // W, 0
    for le in range(L):
        n = int(counts[le])
        y[at:at + n] = dm.apply_expert(ex[at:at + n], dyn[at:at + n], me * L + le, bf16, qm == 2)
        at += n
    out = moeroute.npu_moe_distribute_combine_v2(y, ids[me], assist, recv, ws[me], comm.name, W, me, E,
                                                 x_active_mask=masks[me], bf16=bf16)
    return ex, dyn, assist, tok, recv, tp, y, out


def check_rank(res, m, me, case):
    """Differences between this rank's outputs and the model (an empty list when none)."""
    ex, dyn, _, tok, recv, tp, _, out = res
    nums_type, quant = case[4], case[3] == 2
    n, bad = len(m["rows"][me]), []
    if not np.array_equal(ex[:n].view(np.uint8), m["rows"][me].view(np.uint8)):
        bad.append("received rows")
    if quant and not np.array_equal(dyn[:n].view(np.uint32), m["scales"][me].view(np.uint32)):
        bad.append("dynamic scales")
    want_tok = m["counts"][me] if nums_type == 1 else np.cumsum(m["counts"][me])
    if not np.array_equal(tok, want_tok):
        bad.append("expert_token_nums %s, model %s" % (tok.tolist(), want_tok.tolist()))
    if not np.array_equal(recv, m["recv"][me]) or tp[0] != n:
        bad.append("ep_recv_counts %s, model %s" % (recv.tolist(), m["recv"][me].tolist()))
    if out.dtype != m["outs"][me].dtype or not np.array_equal(out.view(np.uint16), m["outs"][me].view(np.uint16)):
        bad.append("combined tokens")
    return bad


def mpi_main(seed_arg):
    from mpi4py import MPI  # before moeroute's first call: the MPI library is chosen then
    import moeroute
    from moeroute import hccl

    world = MPI.COMM_WORLD
    W, me = world.Get_size(), world.Get_rank()
    seed = world.bcast(int(seed_arg) if seed_arg is not None else int(time.time()) % 100000, root=0)
    if me == 0:
        print("mpi_distribute_pkg: %d processes, seed %d (rerun: mpirun -np %d %s -m mpi4py %s %d)"
              % (W, seed, W, sys.executable, __file__, seed), flush=True)
    failures = []

    def agree(label, bad):
        """Every rank's failures of one step, reported by every rank."""
        for r, lst in enumerate(world.allgather(bad)):
            for b in lst:
                failures.append("%s, rank %d: %s" % (label, r, b))

    # a communicator other than MPI.COMM_WORLD: refused on every process, before any collective
    if W > 1:
        try:
            hccl.comm_init_mpi(MPI.COMM_SELF)
            bad = ["comm_init_mpi(MPI.COMM_SELF) was accepted"]
        except ValueError as e:
            bad = [] if "only MPI.COMM_WORLD" in str(e) else ["unexpected message: %s" % e]
        agree("COMM_SELF refusal", bad)

    comm = hccl.comm_init_mpi(world)
    bad = []
    if hccl.transport() != "mpi" or not moeroute.library_path().split("/")[-1].startswith(
            "libmoeroute_mpi"):
        bad.append("loaded %s (%s), not libmoeroute_mpi" % (moeroute.library_path(), hccl.transport()))
    if (comm.rank, comm.size) != (me, W) or not comm.name.startswith("moeroute_hccl_mpi_"):
        bad.append("communicator %r" % comm)
    if hccl.lookup(comm.name, me) is not comm:
        bad.append("lookup(name, rank) does not find this rank's Comm")
    agree("communicator", bad)

    def one_case(i, case):
        label = "case %d %s (seed %d)" % (i, case, seed + i)
        inputs = case_inputs(W, case, seed + i)
        m = dm.model_layer(W, *inputs[1:5], inputs[0], case[1], quant=case[3] == 2, smooth=inputs[5], expert=True)
        try:
            res = run_rank(moeroute, comm, case, inputs)
            bad = check_rank(res, m, me, case)
        except Exception as e:  # noqa: BLE001 -- every rank reports it
            res, bad = None, ["%s: %s" % (type(e).__name__, e)]
        agree(label, bad)
        # the same ranks as threads of one process (rank 0), byte for byte
        blobs = world.gather(None if res is None else [a.tobytes() for a in res], root=0)
        bad = []
        if me == 0:
            try:
                ref = dm.run_ranks(W, lambda c: [a.tobytes() for a in run_rank(moeroute, c, case, inputs)])
                for r in range(W):
                    if blobs[r] != ref[r]:
                        bad.append("rank %d's outputs differ from the thread transport's" % r)
            except Exception as e:  # noqa: BLE001
                bad.append("thread transport: %s: %s" % (type(e).__name__, e))
        agree(label + " vs threads", bad)

    for i, case in enumerate(CASES[:2]):
        one_case(i, case)

    # refusal: rank W-1 routes its token 0 to expert -1; every rank gets an error, nobody hangs
    case = CASES[0]
    inputs = case_inputs(W, case, seed + 100)
    inputs[2][W - 1][0, 0] = -1
    try:
        run_rank(moeroute, comm, case, inputs)
        bad = ["a negative expert id on rank %d was accepted" % (W - 1)]
    except moeroute.MoerouteError as e:
        bad = [] if e.message else ["refused without a message"]
        if me == 0:
            print("refusal on rank 0: %s" % e, flush=True)
    agree("refusal", bad)

    for i, case in enumerate(CASES[2:], 2):  # the communicator still works after the refusal
        one_case(i, case)

    comm.destroy()
    if hccl.lookup(comm.name, me) is not None:
        failures.append("rank %d: lookup finds a destroyed communicator" % me)
    if me == 0:
        for f in failures:
            print("FAIL: " + f, flush=True)
        print("mpi_distribute_pkg: %d processes, %d cases + refusals: %s"
              % (W, len(CASES), "FAILED" if failures else "passed"), flush=True)
    return 1 if failures else 0


def wrong_order_main():
    """moeroute's first call before mpi4py is imported loads libmoeroute: comm_init_mpi must then refuse on
    every process with MoerouteLibraryError (not crash, not hang)."""
    import moeroute
    first = moeroute.library_path()  # loads the in-process library: mpi4py is not imported yet
    from mpi4py import MPI
    from moeroute import hccl
    world = MPI.COMM_WORLD
    try:
        hccl.comm_init_mpi(world)
        bad = "comm_init_mpi accepted a process that loaded %s" % first
    except moeroute.MoerouteLibraryError as e:
        bad = None if "already loaded" in str(e) else "unexpected message: %s" % e
        if world.Get_rank() == 0:
            print("wrong order refused: %s" % e, flush=True)
    errs = [b for b in world.allgather(bad) if b]
    if world.Get_rank() == 0:
        for b in errs:
            print("FAIL: " + b, flush=True)
        print("mpi_distribute_pkg --wrong-order: %s" % ("FAILED" if errs else "passed"), flush=True)
    return 1 if errs else 0


def local_main(seed_arg):
    """Without MPI: libmoeroute_mpi (MOEROUTE_TRANSPORT=mpi) still has the in-process transport; ranks are
    threads joined through get_root_info / comm_init_root_info."""
    import moeroute
    from moeroute import hccl
    seed = int(seed_arg) if seed_arg is not None else int(time.time()) % 100000
    print("mpi_distribute_pkg --local: seed %d (rerun: %s %s --local %d)" % (seed, sys.executable, __file__, seed))
    assert hccl.transport() == "mpi", (moeroute.library_path(), "set MOEROUTE_TRANSPORT=mpi")
    for W in (2, 4):
        info = hccl.get_root_info()
        assert info.startswith(b"moeroute-hccl-root\0"), info[:24]  # MPI is not running: an in-process token
        comms = [None] * W

        def join(r):
            comms[r] = hccl.comm_init_root_info(W, info, r)

        th = [threading.Thread(target=join, args=(r,)) for r in range(W)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        assert [c.rank for c in comms] == list(range(W)) and len({c.name for c in comms}) == 1, comms
        for c in comms:
            c.destroy()
        for i, case in enumerate(CASES):
            inputs = case_inputs(W, case, seed + i)
            m = dm.model_layer(W, *inputs[1:5], inputs[0], case[1], quant=case[3] == 2, smooth=inputs[5],
                               expert=True)
            res = dm.run_ranks(W, lambda c: run_rank(moeroute, c, case, inputs))
            for r in range(W):
                bad = check_rank(res[r], m, r, case)
                assert not bad, "W %d case %d %s rank %d: %s" % (W, i, case, r, bad)
    print("mpi_distribute_pkg --local: passed")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--wrong-order" in args:
        sys.exit(wrong_order_main())
    if "--local" in args:
        args.remove("--local")
        sys.exit(local_main(args[0] if args else None))
    sys.exit(mpi_main(args[0] if args else None))
