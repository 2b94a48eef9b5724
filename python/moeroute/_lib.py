"""Locating and loading libmoeroute, the ctypes declarations of the native API, and the error types.

Nothing here runs at import time: the library is looked up at the first call that needs it, so
``import moeroute`` works on a machine without it and the error says where it looked.
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
_PREFIXES = ("/usr/local", "/opt/moeroute", "/usr")
_LIBDIRS = ("lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu")

_lock = threading.Lock()
_loaded = None


def _candidates():
    """(description, path-or-name) in search order, after MOEROUTE_LIB."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = [("bundled with the package", os.path.join(here, n)) for n in _NAMES]
    found = ctypes.util.find_library("moeroute")
    out.append(("ctypes.util.find_library('moeroute')", found))
    prefixes = []
    for p in (sys.prefix,) + _PREFIXES:
        if p not in prefixes:
            prefixes.append(p)
    for p in prefixes:
        for d in _LIBDIRS:
            for n in _NAMES:
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


def get():
    """The library, loaded on first use: $MOEROUTE_LIB, else the copy a wheel bundles in the package directory
    (libmoeroute.so.0, see pyproject.toml), else ctypes.util.find_library('moeroute'), else the lib
    directories of sys.prefix, /usr/local, /opt/moeroute and /usr. Raises MoerouteLibraryError naming every
    place tried."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        env = os.environ.get("MOEROUTE_LIB")
        if env:
            # an explicit choice is never silently replaced by another copy
            try:
                _loaded = _open(env)
            except OSError as e:
                raise MoerouteLibraryError("MOEROUTE_LIB=%s cannot be loaded: %s" % (env, e)) from None
            return _loaded
        tried = []  # places looked at, each once, for the message

        def note(place):
            if place not in tried:
                tried.append(place)

        for how, cand in _candidates():
            if cand is None:
                note("%s (nothing)" % how)
                continue
            if os.path.isabs(cand):
                if os.path.isdir(os.path.dirname(cand)):
                    note(os.path.dirname(cand))
                if not os.path.exists(cand):
                    continue
            try:
                _loaded = _open(cand)
                return _loaded
            except MoerouteLibraryError:
                raise
            except OSError as e:
                note("%s (%s)" % (cand, e))
        raise MoerouteLibraryError(
            "libmoeroute was not found: install the package with `pip install .` from the repository root (the "
            "wheel bundles the library), or set MOEROUTE_LIB=/path/to/libmoeroute.so (built by cmake under "
            "build/src/), or install the library (cmake --install build). Looked in: " + "; ".join(tried))
