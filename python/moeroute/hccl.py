"""The in-process HCCL subset of libmoeroute (docs/hccl.md) for Python: communicators whose ranks are threads of
this process, as HcclCommInitAll makes them.

    comms = moeroute.hccl.comm_init_all(4)        # one Comm per rank, all with the same name
    name = comms[0].name                            # what npu_moe_distribute_dispatch_v2 takes as group_ep
    # each rank calls the distribute operators on its own Python thread (ctypes releases the GIL in the call)
    for c in comms: c.destroy()

A communicator created here is registered under its name, so the torch_npu-style functions resolve
``group_ep`` + ``ep_rank_id`` to this rank's handle (``lookup``). The MPI transport (libmoeroute_mpi, ranks as
processes) is not wrapped here.
"""

import ctypes
import threading

from . import _lib

COMM_NAME_MAX_LENGTH = 128  # hccl/hccl_types.h
HCCL_SUCCESS = 0

_bind_lock = threading.Lock()
_registry_lock = threading.Lock()
_registry = {}  # name -> list of Comm (index = rank)


class HcclError(RuntimeError):
    """An HCCL call returned a code other than HCCL_SUCCESS (``code``)."""

    def __init__(self, code, what):
        self.code = int(code)
        super().__init__("%s returned HcclResult %d (%s)" % (what, self.code, _error_string(self.code)))


def _library():
    """The loaded library with the HCCL entry points bound (once)."""
    lib = _lib.get()
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
    return lib


def _error_string(code):
    s = _library().hccl_error_string(int(code))
    return s.decode("utf-8", "replace") if s else "?"


def _check(code, what):
    if code != HCCL_SUCCESS:
        raise HcclError(code, what)


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
    with _registry_lock:
        _registry[comms[0].name] = list(comms)
    return comms


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
