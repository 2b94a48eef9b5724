"""The HCCL subset of libmoeroute (docs/hccl.md) for Python: communicators whose ranks are threads of this
process (as HcclCommInitAll makes them) or the processes of an ``mpirun`` job (mpi4py).

    comms = moeroute.hccl.comm_init_all(4)        # one Comm per rank, all with the same name
    name = comms[0].name                            # what npu_moe_distribute_dispatch_v2 takes as group_ep
    # each rank calls the distribute operators on its own Python thread (ctypes releases the GIL in the call)
    for c in comms: c.destroy()

Ranks as MPI processes (docs/hccl.md "Python"; the MPI transport is libmoeroute_mpi, which _lib loads when mpi4py
runs more than one process, or when MOEROUTE_TRANSPORT=mpi):

    from mpi4py import MPI                          # first: it initialises MPI
    comm = moeroute.hccl.comm_init_mpi(MPI.COMM_WORLD)   # rank 0's root info, bcast, init on every process
    # this process is rank comm.rank: dispatch/combine with (comm.name, comm.size, comm.rank)
    comm.destroy()                                  # before MPI_Finalize (mpi4py's, at exit)

A communicator created here is registered under its name, so the torch_npu-style functions resolve
``group_ep`` + ``ep_rank_id`` to this rank's handle (``lookup``); over MPI this process holds one rank of it.
"""

import ctypes
import threading

from . import _lib

COMM_NAME_MAX_LENGTH = 128  # hccl/hccl_types.h
ROOT_INFO_BYTES = 4108  # HCCL_ROOT_INFO_BYTES, hccl/hccl_types.h
HCCL_SUCCESS = 0
_MPI_TOKEN_MAGIC = b"moeroute-hccl-mpi\0"  # how src/hccl/hccl_mpi.c's root info begins

_bind_lock = threading.Lock()
_registry_lock = threading.Lock()
_registry = {}  # name -> list of Comm (index = rank)


class HcclError(RuntimeError):
    """An HCCL call returned a code other than HCCL_SUCCESS (``code``)."""

    def __init__(self, code, what, detail=""):
        self.code = int(code)
        super().__init__("%s returned HcclResult %d (%s)%s" % (what, self.code, _error_string(self.code),
                                                              ": " + detail if detail else ""))


def _library(mpi=False):
    """The loaded library with the HCCL entry points bound (once); mpi: it must have the MPI transport."""
    lib = _lib.get(mpi)
    if not hasattr(lib, "hccl_comm_init_all"):
        with _bind_lock:
            if not hasattr(lib, "hccl_comm_init_all"):
                vp, u32 = ctypes.c_void_p, ctypes.c_uint32

                def fn(name, restype, argtypes):
                    f = getattr(lib.dll, name)
                    f.restype, f.argtypes = restype, argtypes
                    return f

                lib.hccl_get_comm_name = fn("HcclGetCommName", ctypes.c_int, [vp, ctypes.c_char_p])
                lib.hccl_get_rank_size = fn("HcclGetRankSize", ctypes.c_int, [vp, ctypes.POINTER(u32)])
                lib.hccl_get_rank_id = fn("HcclGetRankId", ctypes.c_int, [vp, ctypes.POINTER(u32)])
                lib.hccl_comm_destroy = fn("HcclCommDestroy", ctypes.c_int, [vp])
                lib.hccl_error_string = fn("HcclGetErrorString", ctypes.c_char_p, [ctypes.c_int])
                lib.hccl_comm_init_all = fn("HcclCommInitAll", ctypes.c_int,
                                            [u32, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(vp)])
                lib.hccl_get_root_info = fn("HcclGetRootInfo", ctypes.c_int, [ctypes.c_char_p])
                lib.hccl_comm_init_root_info = fn("HcclCommInitRootInfo", ctypes.c_int,
                                                  [u32, ctypes.c_char_p, u32, ctypes.POINTER(vp)])
    return lib


def _error_string(code):
    s = _library().hccl_error_string(int(code))
    return s.decode("utf-8", "replace") if s else "?"


def _check(code, what):
    if code != HCCL_SUCCESS:
        raise HcclError(code, what, _lib.get().take_error_message())  # with the library's reason


class Comm:
    """One rank's handle of an in-process communicator: ``handle`` (the HcclComm address), ``name`` (str),
    ``rank``, ``size``."""

    def __init__(self, handle):
        lib = _library()
        self.handle = handle
        buf = ctypes.create_string_buffer(COMM_NAME_MAX_LENGTH)
        _check(lib.hccl_get_comm_name(handle, buf), "HcclGetCommName")
        self.name = buf.value.decode("utf-8")
        v = ctypes.c_uint32()
        _check(lib.hccl_get_rank_id(handle, ctypes.byref(v)), "HcclGetRankId")
        self.rank = v.value
        _check(lib.hccl_get_rank_size(handle, ctypes.byref(v)), "HcclGetRankSize")
        self.size = v.value

    def destroy(self):
        """HcclCommDestroy this rank's handle (once); the name is forgotten with the last rank's handle."""
        if self.handle is None:
            return
        with _registry_lock:
            ranks = _registry.get(self.name)
            if ranks is not None:
                ranks[self.rank] = None
                if all(c is None for c in ranks):
                    del _registry[self.name]
        h, self.handle = self.handle, None
        _check(_library().hccl_comm_destroy(h), "HcclCommDestroy")

    def __repr__(self):
        return "Comm(name=%r, rank=%d, size=%d)" % (self.name, self.rank, self.size)


def comm_init_all(n, devices=None):
    """HcclCommInitAll: one communicator of n ranks (threads of this process) on the logical devices
    ``devices`` (default 0..n-1). Returns the n per-rank Comm objects, rank order."""
    n = int(n)
    if n < 1:
        raise ValueError("comm_init_all needs at least one rank, got %d" % n)
    devs = list(range(n)) if devices is None else [int(d) for d in devices]
    if len(devs) != n:
        raise ValueError("comm_init_all(%d): %d devices given" % (n, len(devs)))
    lib = _library()
    handles = (ctypes.c_void_p * n)()
    _check(lib.hccl_comm_init_all(n, (ctypes.c_int32 * n)(*devs), handles), "HcclCommInitAll")
    comms = [Comm(handles[i]) for i in range(n)]
    for c in comms:
        _register(c)
    return comms


def _register(c):
    """Make ``lookup(c.name, c.rank)`` find c (the other ranks' slots stay None until they register)."""
    with _registry_lock:
        _registry.setdefault(c.name, [None] * c.size)[c.rank] = c
    return c


def transport():
    """Which library this process loaded (at its first moeroute call; loads it if needed): "mpi" for
    libmoeroute_mpi (ranks may be MPI processes), "inprocess" for libmoeroute (ranks are threads)."""
    return _lib.transport()


def get_root_info():
    """HcclGetRootInfo: the token (``ROOT_INFO_BYTES`` bytes) that every rank passes to comm_init_root_info.
    With libmoeroute_mpi loaded and MPI running with more than one process, an MPI token (ship it to the other
    processes, e.g. with mpi4py's bcast); otherwise an in-process token (ranks are threads of this process)."""
    buf = ctypes.create_string_buffer(ROOT_INFO_BYTES)
    _check(_library().hccl_get_root_info(buf), "HcclGetRootInfo")
    return buf.raw


def comm_init_root_info(n_ranks, root_info, rank):
    """HcclCommInitRootInfo: join the communicator of ``n_ranks`` ranks named by ``root_info`` (get_root_info's
    bytes) as ``rank``; every rank calls it (threads: each on its own thread; MPI: every process of
    MPI.COMM_WORLD, n_ranks = the world size). Waits (bounded, docs/hccl.md) for the others; returns this rank's
    Comm. An MPI token needs libmoeroute_mpi: it is loaded here if no library is yet, else a clear error."""
    root_info = bytes(root_info)
    if len(root_info) != ROOT_INFO_BYTES:
        raise ValueError("comm_init_root_info: root_info must be the %d bytes of get_root_info(), got %d"
                         % (ROOT_INFO_BYTES, len(root_info)))
    n_ranks, rank = int(n_ranks), int(rank)
    if not 0 <= rank < n_ranks:
        raise ValueError("comm_init_root_info: rank %d is not in [0, n_ranks = %d)" % (rank, n_ranks))
    lib = _library(mpi=root_info.startswith(_MPI_TOKEN_MAGIC))
    h = ctypes.c_void_p()
    _check(lib.hccl_comm_init_root_info(n_ranks, root_info, rank, ctypes.byref(h)), "HcclCommInitRootInfo")
    return _register(Comm(h.value))


def comm_init_mpi(mpi_comm=None):
    """One communicator over the processes of an mpirun job; call it on every process. ``mpi_comm`` is mpi4py's
    MPI.COMM_WORLD (the default) or a duplicate of it: the transport joins every process of MPI_COMM_WORLD, so
    any other communicator is refused (ValueError). Rank 0 makes the root info, mpi4py broadcasts it, every
    process joins with its MPI rank; a failure on any process (no libmoeroute_mpi, the in-process library
    already loaded, ...) raises on every process. Returns this process's Comm (rank = its MPI rank)."""
    from mpi4py import MPI  # initialises MPI if the program has not (mpi4py's default)

    if not MPI.Is_initialized() or MPI.Is_finalized():
        raise _lib.MoerouteLibraryError("comm_init_mpi: MPI is %s (mpi4py initialises it at import unless "
                                        "mpi4py.rc.initialize is False; call it before MPI.Finalize)"
                                        % ("finalized" if MPI.Is_finalized() else "not initialised"))
    world = MPI.COMM_WORLD
    if mpi_comm is None:
        mpi_comm = world
    if not isinstance(mpi_comm, MPI.Intracomm) or mpi_comm == MPI.COMM_NULL:
        raise ValueError("comm_init_mpi: expected mpi4py's MPI.COMM_WORLD, got %r" % (mpi_comm,))
    if MPI.Comm.Compare(mpi_comm, world) not in (MPI.IDENT, MPI.CONGRUENT):
        raise ValueError("comm_init_mpi: only MPI.COMM_WORLD (or a duplicate of it) is supported: the MPI transport "
                         "joins every process of MPI_COMM_WORLD; this communicator has %d of its %d processes"
                         % (mpi_comm.Get_size(), world.Get_size()))
    size, me = mpi_comm.Get_size(), mpi_comm.Get_rank()

    def agree(err):
        """Every process's error (or None) -> raise the first one's on all of them."""
        errs = mpi_comm.allgather(None if err is None else "%s: %s" % (type(err).__name__, err))
        bad = [(r, e) for r, e in enumerate(errs) if e is not None]
        if bad:
            if err is not None:
                raise err
            raise _lib.MoerouteLibraryError("comm_init_mpi: process %d failed: %s" % bad[0])

    err = None
    try:
        _library(mpi=size > 1)
    except Exception as e:  # noqa: BLE001 -- reported on every process by agree()
        err = e
    agree(err)
    info = err = None
    if me == 0:
        try:
            info = get_root_info()
        except Exception as e:  # noqa: BLE001
            err = e
    agree(err)
    info = mpi_comm.bcast(info, root=0)
    if size > 1 and not info.startswith(_MPI_TOKEN_MAGIC):
        raise _lib.MoerouteLibraryError("comm_init_mpi: rank 0's root info is not an MPI token (is MPI running?)")
    return comm_init_root_info(size, info, me)


def lookup(group, rank):
    """The Comm of ``rank`` in the communicator named ``group`` (a str made by comm_init_all, or a Comm of it);
    None when this process has no such live communicator or rank."""
    if isinstance(group, Comm):
        group = group.name
    if isinstance(group, bytes):
        group = group.decode("utf-8")
    with _registry_lock:
        ranks = _registry.get(group)
        if ranks is None or not 0 <= int(rank) < len(ranks):
            return None
        return ranks[int(rank)]
