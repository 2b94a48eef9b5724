"""The outputs of every operator in this package: caller-provided arrays (``out=``) or new ones, the latter from
a pool of reusable page-aligned buffers.

An operator wrapper makes one ``Outputs(like, out, n, api)`` and asks it for its n outputs in the order it
returns them: ``new(shape, dtype)`` for each output the call produces, ``absent()`` for each it returns as
None. ``like`` is the operand the outputs follow (a torch tensor input gives torch outputs, numpy gives
numpy; dtype ``"x"`` is its own dtype), ``out`` what the caller passed:

- ``out=None``: every output is new.
- numpy style, ``out=`` a tuple of n entries (a single array when n == 1): an array is used as that output
  after its checks, None means "allocate this one". An out array must be of the kind the call would return
  (numpy array or torch tensor), have exactly the output's dtype (``MoerouteTypeError``, a TypeError) and
  shape, be C-contiguous, writeable and, for torch, on the CPU (``MoerouteValueError``, a ValueError). The
  call returns the given arrays themselves. A refused call writes nothing to them (the library checks every
  input before it writes); parts of an output the operator leaves undefined keep what the array held, as
  on the NPU (new outputs have them zeroed).

New numpy outputs of at least ``POOL_MIN_BYTES`` come from the pool: anonymous mmap buffers aligned to
2 MiB and advised MADV_HUGEPAGE, handed out as arrays over them and returned to the pool when the last array
(or view) over them dies (``weakref.finalize`` on the object at the end of the arrays' base chain). A
repeated call then writes into memory that is already mapped, instead of taking a page fault per 4 KiB of a
fresh allocation (docs/performance.md, "The Python path"). ``set_output_pool(False)`` or
``MOEROUTE_OUTPUT_POOL=0`` turns it off (numpy's allocator then); the pool keeps at most ``max_bytes`` of idle
buffers (``MOEROUTE_OUTPUT_POOL_MAX_BYTES``, default 1 GiB), dropping the least recently returned first.
"""

import collections
import mmap
import os
import sys
import threading
import weakref

import numpy as np

from . import _lib
from ._lib import MoerouteError

POOL_MIN_BYTES = 1 << 20  # smaller outputs: numpy's allocator (malloc's own free lists serve them well)
_ALIGN = 2 << 20          # the huge page size on x86-64 and 4 KiB-page AArch64

_NP_DTYPES = {"i8": np.dtype(np.int8), "i32": np.dtype(np.int32), "i64": np.dtype(np.int64),
              "f32": np.dtype(np.float32)}


def _torch():
    return sys.modules.get("torch")


def _is_tensor(a):
    t = _torch()
    return t is not None and isinstance(a, t.Tensor)


# ---- the pool ----------------------------------------------------------------------------------------------

class _Pool:
    """Idle 2 MiB-aligned buffers by rounded size; buffers in use are owned by the arrays over them."""

    def __init__(self):
        self.enabled = os.environ.get("MOEROUTE_OUTPUT_POOL", "1").strip().lower() not in ("0", "off", "no", "false")
        try:
            self.max_bytes = int(os.environ.get("MOEROUTE_OUTPUT_POOL_MAX_BYTES", 1 << 30))
        except ValueError:
            self.max_bytes = 1 << 30
        self._lock = threading.RLock()  # a finalizer may run inside take() on the same thread (GC)
        self._idle = collections.OrderedDict()  # id(block) -> block, least recently returned first
        self._idle_bytes = 0

    def array(self, shape, dtype, count):
        """A new array over a pool buffer, or None when mmap fails. The buffer goes back to the pool when the
        object the array's memory belongs to dies: numpy keeps its own memoryview of the one it is given, at
        the end of the array's base chain (shared by every view), so that is the one watched."""
        block = self.take(count * dtype.itemsize)
        if block is None:
            return None
        mm, off, _ = block
        a = np.frombuffer(memoryview(mm)[off:off + count * dtype.itemsize], dtype=dtype, count=count)
        owner = a
        while isinstance(owner, np.ndarray):
            owner = owner.base
        if owner is mm:  # never seen; such a buffer would stay in use forever, so it is not the pool's
            return None
        weakref.finalize(owner, self._give_back, block)
        return a.reshape(shape)

    def take(self, nbytes):
        """An idle or new block (mmap, offset of the 2 MiB-aligned start, size) of at least nbytes (>= 1), or
        None when mmap fails."""
        size = -(-nbytes // _ALIGN) * _ALIGN
        block = None
        with self._lock:
            for key, b in reversed(self._idle.items()):  # the most recently returned: warmest in cache
                if b[2] == size:
                    block = self._idle.pop(key)
                    self._idle_bytes -= size
                    break
        return block if block is not None else self._map(size)

    @staticmethod
    def _map(size):
        try:
            mm = mmap.mmap(-1, size + _ALIGN, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        except (OSError, ValueError, AttributeError):
            return None
        off = (-np.frombuffer(mm, np.uint8, 1).ctypes.data) % _ALIGN
        if hasattr(mmap, "MADV_HUGEPAGE"):
            try:
                mm.madvise(mmap.MADV_HUGEPAGE, off, size)
            except (OSError, ValueError):
                pass  # transparent huge pages off or unsupported: 4 KiB pages, still reused
        return (mm, off, size)

    def _give_back(self, block):
        with self._lock:
            if not self.enabled or block[2] > self.max_bytes:
                return  # dropped: unmapped when its last reference goes
            self._idle[id(block)] = block
            self._idle_bytes += block[2]
            self.trim()

    def trim(self):
        """Drop the least recently returned idle buffers down to max_bytes (none when the pool is off)."""
        with self._lock:
            limit = self.max_bytes if self.enabled else 0
            while self._idle_bytes > limit:
                _, old = self._idle.popitem(last=False)
                self._idle_bytes -= old[2]


_POOL = _Pool()


def set_output_pool(enabled=True, max_bytes=None):
    """Turn the output pool on or off (off: numpy's allocator, and idle buffers are released); max_bytes caps
    the idle buffers it keeps. Returns the previous (enabled, max_bytes)."""
    with _POOL._lock:
        prev = (_POOL.enabled, _POOL.max_bytes)
        _POOL.enabled = bool(enabled)
        if max_bytes is not None:
            _POOL.max_bytes = max(0, int(max_bytes))
        _POOL.trim()
    return prev


def _new_numpy(shape, dtype, zero):
    count = 1
    for s in shape:
        count *= s
    nbytes = count * dtype.itemsize
    if _POOL.enabled and nbytes >= POOL_MIN_BYTES:
        a = _POOL.array(shape, dtype, count)
        if a is not None:
            if zero:
                a.fill(0)
            return a
    return (np.zeros if zero else np.empty)(shape, dtype=dtype)


# ---- one call's outputs ------------------------------------------------------------------------------------

def _shape_error(api, fmt, *args):
    """MOEROUTE_ERR_INVALID_SHAPE (a ValueError) with the message "api: fmt % args"."""
    return MoerouteError(_lib.MOEROUTE_ERR_INVALID_SHAPE, ("%s: " % api) + (fmt % args if args else fmt))


class Outputs:
    """The outputs of one call, in return order (see the module's description)."""

    def __init__(self, like, out=None, n=1, api=""):
        """like: an operand of _routing (its is_torch, np_dtype, torch_dtype give the kind and the "x" dtype) or a
        bare array / tensor (then "x" is not available); out: None, an n-tuple (or list), or an array when n == 1."""
        self.api = api
        if hasattr(like, "is_torch"):
            self.is_torch, self.np_x, self.torch_x = like.is_torch, like.np_dtype, like.torch_dtype
        else:
            self.is_torch, self.np_x, self.torch_x = _is_tensor(like), None, None
        if out is None:
            self.given = None
        elif isinstance(out, (tuple, list)):
            if len(out) != n:
                raise _shape_error(api, "out must hold %d entr%s (an array or None for each output), got %d",
                                   n, "y" if n == 1 else "ies", len(out))
            self.given = tuple(out)
        elif n == 1:
            self.given = (out,)
        else:
            raise TypeError("%s: out must be a tuple of %d entries (an array or None for each output), got %s"
                            % (api, n, type(out).__name__))
        self.n = n
        self.pos = 0

    def _next(self):
        i = self.pos
        self.pos += 1
        if self.given is None:
            return i, None
        if i >= self.n:
            raise AssertionError("%s: more outputs requested than declared" % self.api)  # a wrapper's bug
        return i, self.given[i]

    def absent(self):
        """The next output is not produced by this call (returned as None): out must not name an array."""
        i, g = self._next()
        if g is not None:
            raise _shape_error(self.api, "out[%d]: this call returns no such output (pass None there)", i)
        return None

    def new(self, shape, dtype, zero=False):
        """The next output: the caller's array after its checks, else a new one. dtype: "x" (like's own
        dtype), "i8", "i32", "i64" or "f32". zero: a new array starts as zeros (not done to a given one)."""
        i, g = self._next()
        shape = tuple(max(0, int(s)) for s in shape)
        if self.is_torch:
            t = _torch()
            dt = self.torch_x if dtype == "x" else {"i8": t.int8, "i32": t.int32, "i64": t.int64,
                                                    "f32": t.float32}[dtype]
            if g is None:
                return (t.zeros if zero else t.empty)(shape, dtype=dt)
            return self._check_tensor(i, g, shape, dt)
        dt = self.np_x if dtype == "x" else _NP_DTYPES[dtype]
        if g is None:
            return _new_numpy(shape, dt, zero)
        return self._check_numpy(i, g, shape, dt)

    def _check_numpy(self, i, a, shape, dt):
        name = "out[%d]" % i if self.n > 1 else "out"
        if not isinstance(a, np.ndarray):
            raise MoerouteError(_lib.MOEROUTE_ERR_INVALID_DTYPE, "%s: %s must be a numpy array (the outputs follow "
                                "the inputs), got %s" % (self.api, name, type(a).__name__))
        if a.dtype != dt:
            raise MoerouteError(_lib.MOEROUTE_ERR_INVALID_DTYPE, "%s: %s has dtype %s; this output is %s"
                                % (self.api, name, a.dtype, dt))
        self._check_layout(name, tuple(a.shape), shape, a.flags.c_contiguous, a.flags.writeable)
        return a

    def _check_tensor(self, i, a, shape, dt):
        name = "out[%d]" % i if self.n > 1 else "out"
        if not _is_tensor(a):
            raise MoerouteError(_lib.MOEROUTE_ERR_INVALID_DTYPE, "%s: %s must be a torch tensor (the outputs follow "
                                "the inputs), got %s" % (self.api, name, type(a).__name__))
        if a.dtype != dt:
            raise MoerouteError(_lib.MOEROUTE_ERR_INVALID_DTYPE, "%s: %s has dtype %s; this output is %s"
                                % (self.api, name, a.dtype, dt))
        if a.device.type != "cpu":
            raise _shape_error(self.api, "%s is on device %s; moeroute writes CPU tensors", name, a.device)
        self._check_layout(name, tuple(int(s) for s in a.shape), shape, a.is_contiguous(), True)
        return a

    def _check_layout(self, name, got, want, contiguous, writeable):
        if got != want:
            raise _shape_error(self.api, "%s has shape %s; this output is %s", name, list(got), list(want))
        if not contiguous:
            raise _shape_error(self.api, "%s must be C-contiguous (the library writes outputs densely)", name)
        if not writeable:
            raise _shape_error(self.api, "%s is read-only", name)


def address(a):
    """The data address the native API takes for an output (None for an absent or empty one)."""
    if a is None:
        return None
    if _is_tensor(a):
        return a.data_ptr() if a.numel() else None
    return a.ctypes.data if a.size else None
