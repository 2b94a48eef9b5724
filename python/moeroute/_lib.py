"""Locating and loading libmoeroute, the ctypes declarations of the native API, and the error types.

Nothing here runs at import time: the library is looked up at the first call that needs it, so
``import moeroute`` works on a machine without it and the error says where it looked.

Two builds of the library exist (docs/hccl.md "Transports"); a process loads exactly one, chosen at that first
call (``transport()`` says which, docs/hccl.md "Python"):

- libmoeroute: the in-process transport only (ranks are threads);
- libmoeroute_mpi: the whole library plus the MPI transport (ranks are the processes of an ``mpirun`` job). It
  links the system libmpi, so it is loaded only when chosen: MOEROUTE_TRANSPORT=mpi, or (MOEROUTE_TRANSPORT unset
  or ``auto``) when mpi4py.MPI is already imported with MPI initialised and more than one process in
  MPI.COMM_WORLD, or when the first call is moeroute.hccl.comm_init_mpi. MOEROUTE_TRANSPORT=inprocess forces
  libmoeroute.
"""

import ctypes
import ctypes.util
import os
import sys
import threading

from ._layout import struct_type

from ._version import ABI_VERSION

# ---- constants of moeroute.h (the numbers are ABI) --------------------------------------------------------
MOEROUTE_OK = 0
MOEROUTE_ERR_NULL_POINTER = 1
MOEROUTE_ERR_INVALID_DTYPE = 2
MOEROUTE_ERR_INVALID_SHAPE = 3
MOEROUTE_ERR_INVALID_VALUE = 4
MOEROUTE_ERR_TOO_LARGE = 5
MOEROUTE_ERR_ALIASING = 6
MOEROUTE_ERR_WORKSPACE = 7
MOEROUTE_ERR_OUT_OF_MEMORY = 8
MOEROUTE_ERR_INVALID_OPTION = 9
MOEROUTE_ERR_INVALID_ARGS_SIZE = 10

STATUS_NAMES = {
    0: "MOEROUTE_OK",
    1: "MOEROUTE_ERR_NULL_POINTER",
    2: "MOEROUTE_ERR_INVALID_DTYPE",
    3: "MOEROUTE_ERR_INVALID_SHAPE",
    4: "MOEROUTE_ERR_INVALID_VALUE",
    5: "MOEROUTE_ERR_TOO_LARGE",
    6: "MOEROUTE_ERR_ALIASING",
    7: "MOEROUTE_ERR_WORKSPACE",
    8: "MOEROUTE_ERR_OUT_OF_MEMORY",
    9: "MOEROUTE_ERR_INVALID_OPTION",
    10: "MOEROUTE_ERR_INVALID_ARGS_SIZE",
}

DTYPE_FLOAT32 = 0
DTYPE_FLOAT16 = 1
DTYPE_INT8 = 2
DTYPE_INT32 = 3
DTYPE_BFLOAT16 = 27

ISA_NAMES = {0: "auto", 1: "scalar", 2: "avx2", 3: "avx512", 4: "neon"}
ISA_CODES = {v: k for k, v in ISA_NAMES.items()}


class MoerouteError(Exception):
    """A call refused by moeroute.

    ``status`` is the library's moeroute_status number (``status_name`` its name) and ``message`` the
    library's own message (moeroute_error_message()); arguments the wrapper can judge before calling the
    library (dtype, rank, shapes that disagree) raise it too, with the status the library would use."""

    def __new__(cls, status, message):
        # MoerouteError(status, message) gives the subclass that is also the matching Python exception
        if cls is MoerouteError:
            cls = _ERROR_CLASS.get(int(status), MoerouteError)
        return super().__new__(cls, status, message)

    def __init__(self, status, message):
        self.status = int(status)
        self.message = message
        super().__init__(self.status, message)

    @property
    def status_name(self):
        return STATUS_NAMES.get(self.status, "status %d" % self.status)

    def __str__(self):
        return "%s: %s" % (self.status_name, self.message)


class MoerouteTypeError(MoerouteError, TypeError):
    """A dtype (or tensor format) moeroute does not take: MOEROUTE_ERR_INVALID_DTYPE."""


class MoerouteValueError(MoerouteError, ValueError):
    """A shape, attribute or data value moeroute refuses (invalid shape or value, too large, aliasing,
    workspace, option, args size)."""


class MoerouteMemoryError(MoerouteError, MemoryError):
    """The library ran out of memory."""


_ERROR_CLASS = {MOEROUTE_ERR_INVALID_DTYPE: MoerouteTypeError, MOEROUTE_ERR_OUT_OF_MEMORY: MoerouteMemoryError}
for _st in (MOEROUTE_ERR_INVALID_SHAPE, MOEROUTE_ERR_INVALID_VALUE, MOEROUTE_ERR_TOO_LARGE, MOEROUTE_ERR_ALIASING,
            MOEROUTE_ERR_WORKSPACE, MOEROUTE_ERR_INVALID_OPTION, MOEROUTE_ERR_INVALID_ARGS_SIZE):
    _ERROR_CLASS[_st] = MoerouteValueError


class MoerouteLibraryError(OSError):
    """libmoeroute could not be found, loaded, or is of an incompatible version."""


# ---- ctypes declarations ---------------------------------------------------------------------------------

class Library:
    """The loaded shared library with typed entry points."""

    def __init__(self, dll, path):
        self.dll = dll
        self.path = path
        # libmoeroute_mpi depends on libmpi, whose symbols dlsym finds through this handle; libmoeroute does not
        self.transport = "mpi" if hasattr(dll, "MPI_Initialized") else "inprocess"

        def fn(name, restype, argtypes):
            f = getattr(dll, name)
            f.restype = restype
            f.argtypes = argtypes
            return f

        vp = ctypes.c_void_p
        # the structs come from the library's own description (moeroute_struct_layout), checked field by field
        self.Options = struct_type(dll, "moeroute_options")
        self.InitRoutingArgs = struct_type(dll, "moeroute_init_routing_args")
        self.InitRoutingV2Args = struct_type(dll, "moeroute_init_routing_v2_args")
        self.InitRoutingV3Args = struct_type(dll, "moeroute_init_routing_v3_args")
        self.ComputeExpertTokensArgs = struct_type(dll, "moeroute_compute_expert_tokens_args")
        self.TokenPermuteArgs = struct_type(dll, "moeroute_token_permute_args")
        self.TokenUnpermuteArgs = struct_type(dll, "moeroute_token_unpermute_args")
        self.FinalizeRoutingArgs = struct_type(dll, "moeroute_finalize_routing_args")
        self.GatingTopKArgs = struct_type(dll, "moeroute_gating_top_k_args")
        self.GatingTopKSoftmaxArgs = struct_type(dll, "moeroute_gating_top_k_softmax_args")
        self.version_string = fn("moeroute_version_string", ctypes.c_char_p, [])
        self.context_create = fn("moeroute_context_create", ctypes.c_int,
                                 [ctypes.POINTER(self.Options), ctypes.POINTER(vp)])
        self.context_destroy = fn("moeroute_context_destroy", None, [vp])
        self.context_isa = fn("moeroute_context_isa", ctypes.c_int, [vp])
        self.context_threads = fn("moeroute_context_threads", ctypes.c_int32, [vp])
        self.detected_isa = fn("moeroute_detected_isa", ctypes.c_int, [])
        self.init_routing = fn("moeroute_init_routing", ctypes.c_int, [vp, ctypes.POINTER(self.InitRoutingArgs)])
        self.init_routing_v2 = fn("moeroute_init_routing_v2", ctypes.c_int,
                                  [vp, ctypes.POINTER(self.InitRoutingV2Args)])
        self.init_routing_v3 = fn("moeroute_init_routing_v3", ctypes.c_int,
                                  [vp, ctypes.POINTER(self.InitRoutingV3Args)])
        self.token_permute = fn("moeroute_token_permute", ctypes.c_int, [vp, ctypes.POINTER(self.TokenPermuteArgs)])
        self.token_unpermute = fn("moeroute_token_unpermute", ctypes.c_int,
                                  [vp, ctypes.POINTER(self.TokenUnpermuteArgs)])
        self.finalize_routing = fn("moeroute_finalize_routing", ctypes.c_int,
                                   [vp, ctypes.POINTER(self.FinalizeRoutingArgs)])
        self.gating_top_k = fn("moeroute_gating_top_k", ctypes.c_int, [vp, ctypes.POINTER(self.GatingTopKArgs)])
        self.gating_top_k_softmax = fn("moeroute_gating_top_k_softmax", ctypes.c_int,
                                       [vp, ctypes.POINTER(self.GatingTopKSoftmaxArgs)])
        self.compute_expert_tokens = fn("moeroute_compute_expert_tokens", ctypes.c_int,
                                        [vp, ctypes.POINTER(self.ComputeExpertTokensArgs)])
        self.error_message = fn("moeroute_error_message", ctypes.c_char_p, [])
        self.status_string = fn("moeroute_status_string", ctypes.c_char_p, [ctypes.c_int])

    def version(self):
        return self.version_string().decode("ascii", "replace")

    def take_error_message(self):
        """This thread's pending messages (newest first), cleared by reading them."""
        m = self.error_message()
        return m.decode("utf-8", "replace") if m is not None else ""

    def check(self, status):
        if status != MOEROUTE_OK:
            msg = self.take_error_message() or "(the library left no message)"
            raise MoerouteError(status, msg)


# ---- locating the library ---------------------------------------------------------------------------------

_NAMES = ("libmoeroute.so", "libmoeroute.so.%d" % ABI_VERSION[0], "libmoeroute.dylib")
_MPI_NAMES = ("libmoeroute_mpi.so", "libmoeroute_mpi.so.%d" % ABI_VERSION[0], "libmoeroute_mpi.dylib")
_PREFIXES = ("/usr/local", "/opt/moeroute", "/usr")
_LIBDIRS = ("lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu")
TRANSPORTS = ("auto", "inprocess", "mpi")

_lock = threading.Lock()
_loaded = None
_mpi_unavailable = None  # why the auto choice fell back to libmoeroute (for a later comm_init_mpi's message)


def _candidates(names, libname):
    """(description, path-or-name) in search order, after the environment variables."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = [("bundled with the package", os.path.join(here, n)) for n in names]
    out.append(("ctypes.util.find_library(%r)" % libname, ctypes.util.find_library(libname)))
    prefixes = []
    for p in (sys.prefix,) + _PREFIXES:
        if p not in prefixes:
            prefixes.append(p)
    for p in prefixes:
        for d in _LIBDIRS:
            for n in names:
                out.append(("install prefix %s" % p, os.path.join(p, d, n)))
    return out


def _open(path):
    lib = Library(ctypes.CDLL(path), path)
    ver = lib.version()
    try:
        major, minor = (int(v) for v in ver.split(".")[:2])
    except ValueError:
        raise MoerouteLibraryError("%s reports the version %r, not MAJOR.MINOR.PATCH" % (path, ver))
    if (major, minor) != tuple(ABI_VERSION):
        raise MoerouteLibraryError("%s is libmoeroute %s; this package needs %d.%d.x (the argument struct may "
                                   "differ between minor versions)" % (path, ver, ABI_VERSION[0], ABI_VERSION[1]))
    return lib


def _open_explicit(var, path):
    """An explicit choice is never silently replaced by another copy."""
    try:
        return _open(path)
    except OSError as e:
        raise MoerouteLibraryError("%s=%s cannot be loaded: %s" % (var, path, e)) from None


def _search(names, libname, hint):
    tried = []  # places looked at, each once, for the message

    def note(place):
        if place not in tried:
            tried.append(place)

    for how, cand in _candidates(names, libname):
        if cand is None:
            note("%s (nothing)" % how)
            continue
        if os.path.isabs(cand):
            if os.path.isdir(os.path.dirname(cand)):
                note(os.path.dirname(cand))
            if not os.path.exists(cand):
                continue
        try:
            return _open(cand)
        except MoerouteLibraryError:
            raise
        except OSError as e:
            note("%s (%s)" % (cand, e))
    raise MoerouteLibraryError("lib%s was not found: %s Looked in: %s" % (libname, hint, "; ".join(tried)))


def _find_core():
    env = os.environ.get("MOEROUTE_LIB")
    if env:
        return _open_explicit("MOEROUTE_LIB", env)
    return _search(_NAMES, "moeroute",
                   "install the package with `pip install .` from the repository root (the wheel bundles the "
                   "library), or set MOEROUTE_LIB=/path/to/libmoeroute.so (built by cmake under build/src/), or "
                   "install the library (cmake --install build).")


def _find_mpi():
    """libmoeroute_mpi: $MOEROUTE_MPI_LIB, else the one next to $MOEROUTE_LIB, else the core library's places."""
    env = os.environ.get("MOEROUTE_MPI_LIB")
    if env:
        lib = _open_explicit("MOEROUTE_MPI_LIB", env)
    else:
        core = os.environ.get("MOEROUTE_LIB")
        near = [os.path.join(os.path.dirname(core), n) for n in _MPI_NAMES] if core else []
        near = [p for p in near if os.path.exists(p)]
        if near:
            lib = _open_explicit("the library next to MOEROUTE_LIB", near[0])
        else:
            lib = _search(_MPI_NAMES, "moeroute_mpi",
                          "it is built (and bundled in the wheel) only where CMake finds MPI (Debian: apt-get install "
                          "openmpi-bin libopenmpi-dev, then rebuild), or set MOEROUTE_MPI_LIB=/path/to/"
                          "libmoeroute_mpi.so. An existing copy that cannot load usually lacks its MPI library "
                          "(libmpi.so.40: apt-get install openmpi-bin).")
    if lib.transport != "mpi":
        raise MoerouteLibraryError("%s has no MPI transport (it does not link libmpi): it is not libmoeroute_mpi"
                                   % lib.path)
    return lib


def _mpi4py_world_size():
    """MPI.COMM_WORLD's size when this program has imported mpi4py.MPI and MPI is running; else 0. Never imports
    mpi4py (importing it initialises MPI)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None:
        return 0
    try:
        if not mpi.Is_initialized() or mpi.Is_finalized():
            return 0
        return int(mpi.COMM_WORLD.Get_size())
    except Exception:  # noqa: BLE001 -- a half-imported or foreign module: no MPI as far as we are concerned
        return 0


def requested_transport():
    """MOEROUTE_TRANSPORT: 'auto' (unset or empty), 'inprocess' or 'mpi'."""
    v = os.environ.get("MOEROUTE_TRANSPORT", "").strip().lower() or "auto"
    if v not in TRANSPORTS:
        raise MoerouteLibraryError("MOEROUTE_TRANSPORT=%s: expected one of %s"
                                   % (os.environ.get("MOEROUTE_TRANSPORT"), ", ".join(TRANSPORTS)))
    return v


def _order_error(lib, why):
    if _mpi_unavailable:  # the automatic choice wanted MPI and could not have it
        return MoerouteLibraryError("%s, but this process runs %s (the in-process transport only) because %s"
                                    % (why, lib.path, _mpi_unavailable))
    return MoerouteLibraryError(
        "%s, but this process already loaded %s (the in-process transport only; a process loads one of "
        "libmoeroute / libmoeroute_mpi, at its first moeroute call). Import mpi4py (from mpi4py import MPI) before "
        "the first moeroute call, or set MOEROUTE_TRANSPORT=mpi, or call moeroute.hccl.comm_init_mpi first"
        % (why, lib.path))


def get(mpi=False):
    """The library, loaded on first use (the module docstring says which of the two). libmoeroute:
    $MOEROUTE_LIB, else the copy a wheel bundles in the package directory (libmoeroute.so.0, see pyproject.toml),
    else ctypes.util.find_library('moeroute'), else the lib directories of sys.prefix, /usr/local, /opt/moeroute
    and /usr. libmoeroute_mpi: $MOEROUTE_MPI_LIB, else libmoeroute_mpi.so next to $MOEROUTE_LIB, else the same
    places. ``mpi=True``: the caller needs the MPI transport (loads libmoeroute_mpi, or raises when libmoeroute
    is already loaded). Raises MoerouteLibraryError naming every place tried."""
    global _loaded, _mpi_unavailable
    lib = _loaded
    if lib is None:
        with _lock:
            if _loaded is None:
                want = requested_transport()
                if want == "inprocess" and mpi:
                    raise MoerouteLibraryError("MOEROUTE_TRANSPORT=inprocess, but an MPI communicator was asked "
                                               "for: unset it or set MOEROUTE_TRANSPORT=mpi")
                if want == "mpi" or mpi:
                    _loaded = _find_mpi()
                elif want == "auto" and _mpi4py_world_size() > 1:
                    try:
                        _loaded = _find_mpi()
                    except MoerouteLibraryError as e:  # ranks as threads still work; comm_init_mpi says why not
                        _mpi_unavailable = "with mpi4py's %d processes the MPI library was wanted, but: %s" % (
                            _mpi4py_world_size(), e)
                if _loaded is None:
                    _loaded = _find_core()
            lib = _loaded
    if mpi and lib.transport != "mpi":
        raise _order_error(lib, "an MPI communicator was asked for")
    return lib


def transport():
    """'mpi' when the loaded library is libmoeroute_mpi, else 'inprocess' (loads the library if needed)."""
    return get().transport
