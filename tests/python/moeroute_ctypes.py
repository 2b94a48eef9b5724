"""ctypes bindings to libmoeroute (aclnn API + native API) and helpers to build strided views.

The library path comes from the environment variable MOEROUTE_LIB (CTest sets it to libmoeroute.so).
"""

import ctypes
import os

import numpy as np

# ---- constants (acl_base.h / op_errno.h / moeroute.h) ----------------------------------------------------
ACL_FLOAT = 0
ACL_FLOAT16 = 1
ACL_INT8 = 2
ACL_INT32 = 3
ACL_INT64 = 9
ACL_BF16 = 27
ACL_FORMAT_ND = 2
ACL_FORMAT_NCHW = 0

ACL_SUCCESS = 0
ACL_ERROR_REPEAT_INITIALIZE = 100002

ACLNN_SUCCESS = 0
ACLNN_ERR_PARAM_NULLPTR = 161001
ACLNN_ERR_PARAM_INVALID = 161002
ACLNN_ERR_INNER_TILING_ERROR = 561002
ACLNN_ERR_INNER_NULLPTR = 561103

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

MOEROUTE_ISA_AUTO = 0
MOEROUTE_ISA_SCALAR = 1
MOEROUTE_ISA_AVX2 = 2
MOEROUTE_ISA_AVX512 = 3
MOEROUTE_ISA_NEON = 4

# test dtype name -> (ACL enum, numpy carrier dtype)
ACL_DTYPE = {"f32": ACL_FLOAT, "f16": ACL_FLOAT16, "bf16": ACL_BF16, "i8": ACL_INT8, "i32": ACL_INT32}
NP_CARRIER = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16, "i8": np.int8, "i32": np.int32}

_c_int64_p = ctypes.POINTER(ctypes.c_int64)
_c_uint64_p = ctypes.POINTER(ctypes.c_uint64)
_vp = ctypes.c_void_p


# The native structs are built from the library's own description (python/moeroute/_layout.py loaded by path,
# so these tests stay independent of the package); load() fills these names in.
_layout = None
MoerouteOptions = None
MoerouteInitRoutingArgs = None


def _layout_module():
    global _layout
    if _layout is None:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "python", "moeroute", "_layout.py")
        import importlib.util
        spec = importlib.util.spec_from_file_location("moeroute_layout", path)
        _layout = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_layout)
    return _layout


class Lib:
    """The loaded shared library with typed entry points."""

    def __init__(self, path):
        self.path = path
        d = ctypes.CDLL(path)
        self.dll = d
        global MoerouteOptions, MoerouteInitRoutingArgs
        MoerouteOptions = _layout_module().struct_type(d, "moeroute_options")
        MoerouteInitRoutingArgs = _layout_module().struct_type(d, "moeroute_init_routing_args")

        def fn(name, restype, argtypes):
            f = getattr(d, name)
            f.restype = restype
            f.argtypes = argtypes
            return f

        i32 = ctypes.c_int32
        self.aclCreateTensor = fn("aclCreateTensor", _vp,
                                  [_c_int64_p, ctypes.c_uint64, ctypes.c_int, _c_int64_p, ctypes.c_int64,
                                   ctypes.c_int, _c_int64_p, ctypes.c_uint64, _vp])
        self.aclDestroyTensor = fn("aclDestroyTensor", i32, [_vp])
        self.aclnnMoeInitRoutingQuantGetWorkspaceSize = fn(
            "aclnnMoeInitRoutingQuantGetWorkspaceSize", i32,
            [_vp, _vp, _vp, ctypes.c_int64, ctypes.c_double, ctypes.c_double, _vp, _vp, _vp,
             _c_uint64_p, ctypes.POINTER(_vp)])
        self.aclnnMoeInitRoutingQuant = fn("aclnnMoeInitRoutingQuant", i32, [_vp, ctypes.c_uint64, _vp, _vp])
        self.aclnnMoeInitRoutingGetWorkspaceSize = fn(
            "aclnnMoeInitRoutingGetWorkspaceSize", i32,
            [_vp, _vp, _vp, ctypes.c_int64, _vp, _vp, _vp, _c_uint64_p, ctypes.POINTER(_vp)])
        self.aclnnMoeInitRouting = fn("aclnnMoeInitRouting", i32, [_vp, ctypes.c_uint64, _vp, _vp])
        self.aclGetRecentErrMsg = fn("aclGetRecentErrMsg", ctypes.c_char_p, [])
        self.aclSetAclOpExecutorRepeatable = fn("aclSetAclOpExecutorRepeatable", i32, [_vp])
        self.aclDestroyAclOpExecutor = fn("aclDestroyAclOpExecutor", i32, [_vp])

        self.moeroute_context_create = fn("moeroute_context_create", ctypes.c_int,
                                          [ctypes.POINTER(MoerouteOptions), ctypes.POINTER(_vp)])
        self.moeroute_context_destroy = fn("moeroute_context_destroy", None, [_vp])
        self.moeroute_init_routing = fn("moeroute_init_routing", ctypes.c_int,
                                        [_vp, ctypes.POINTER(MoerouteInitRoutingArgs)])
        self.moeroute_error_message = fn("moeroute_error_message", ctypes.c_char_p, [])
        self.moeroute_status_string = fn("moeroute_status_string", ctypes.c_char_p, [ctypes.c_int])

        # aclInit is not required by the aclnn entry points, but calling it is what a CANN user does.
        if hasattr(d, "aclInit"):
            init = fn("aclInit", ctypes.c_int, [ctypes.c_char_p])
            rc = init(None)
            if rc not in (ACL_SUCCESS, ACL_ERROR_REPEAT_INITIALIZE):
                raise RuntimeError("aclInit failed: %d" % rc)

    # ---- errors ------------------------------------------------------------------------------------------
    def recent_err_msg(self):
        m = self.aclGetRecentErrMsg()
        return m.decode("utf-8", "replace") if m is not None else None

    def native_err_msg(self):
        m = self.moeroute_error_message()
        return m.decode("utf-8", "replace") if m is not None else None

    # ---- tensors -----------------------------------------------------------------------------------------
    def create_tensor(self, dims, dtype, strides=None, offset=0, storage_dims=None, data=None,
                      fmt=ACL_FORMAT_ND):
        """dtype: ACL enum or test dtype name. data: int address, numpy array, or None."""
        if isinstance(dtype, str):
            dtype = ACL_DTYPE[dtype]
        dims = [int(v) for v in dims]
        dims_a = (ctypes.c_int64 * max(1, len(dims)))(*dims)
        st_a = None if strides is None else (ctypes.c_int64 * max(1, len(strides)))(*[int(v) for v in strides])
        if storage_dims is None:
            sd_a, sd_n = None, 0
        else:
            sd_a = (ctypes.c_int64 * max(1, len(storage_dims)))(*[int(v) for v in storage_dims])
            sd_n = len(storage_dims)
        if isinstance(data, np.ndarray):
            data = data.ctypes.data
        t = self.aclCreateTensor(dims_a, len(dims), dtype, st_a, int(offset), fmt, sd_a, sd_n, data)
        if not t:
            raise RuntimeError("aclCreateTensor failed: %r" % (self.recent_err_msg(),))
        return t

    def destroy_tensors(self, *ts):
        for t in ts:
            if t:
                self.aclDestroyTensor(t)

    # ---- aclnn two-phase calls ----------------------------------------------------------------------------
    def get_workspace(self, quant, x, row, expert, active_num, scale, offset, out_x, out_row, out_exp,
                      ws_ptr="default", exe_ptr="default"):
        """Phase 1. Returns (status, workspace_size, executor_handle)."""
        ws = ctypes.c_uint64(0xDEADBEEF)
        exe = _vp(None)
        wsp = ctypes.byref(ws) if ws_ptr == "default" else ws_ptr
        exp_ = ctypes.byref(exe) if exe_ptr == "default" else exe_ptr
        if quant:
            st = self.aclnnMoeInitRoutingQuantGetWorkspaceSize(x, row, expert, int(active_num), float(scale),
                                                               float(offset), out_x, out_row, out_exp, wsp, exp_)
        else:
            st = self.aclnnMoeInitRoutingGetWorkspaceSize(x, row, expert, int(active_num), out_x, out_row,
                                                          out_exp, wsp, exp_)
        return st, ws.value, exe.value

    def execute(self, quant, ws_buf, ws_size, exe, stream=None):
        """Phase 2. ws_buf: numpy uint8 array or None."""
        p = None if ws_buf is None else ws_buf.ctypes.data
        f = self.aclnnMoeInitRoutingQuant if quant else self.aclnnMoeInitRouting
        return f(p, int(ws_size), exe, stream)

    # ---- native ------------------------------------------------------------------------------------------
    def context_create(self, num_threads=0, isa=0, null_options=False):
        ctx = _vp(None)
        if null_options:
            st = self.moeroute_context_create(None, ctypes.byref(ctx))
        else:
            opt = MoerouteOptions(num_threads, isa)
            st = self.moeroute_context_create(ctypes.byref(opt), ctypes.byref(ctx))
        if st != MOEROUTE_OK:
            raise RuntimeError("moeroute_context_create failed: %d %r" % (st, self.native_err_msg()))
        return ctx.value

    def context_destroy(self, ctx):
        self.moeroute_context_destroy(ctx)

    def init_routing(self, ctx, args):
        return self.moeroute_init_routing(ctx, ctypes.byref(args))


_LIB = None


def load():
    """The library from MOEROUTE_LIB, loaded once; None when the variable is unset."""
    global _LIB
    if _LIB is None:
        path = os.environ.get("MOEROUTE_LIB")
        if not path:
            return None
        _LIB = Lib(path)
    return _LIB


# ---------------------------------------------------------------------------------------------------------
# strided views over a 1-D storage
# ---------------------------------------------------------------------------------------------------------

class StridedView:
    """A 2-D view [R, C] with element strides and an element offset into a 1-D numpy storage."""

    def __init__(self, storage, dims, strides, offset, storage_dims, layout):
        self.storage = storage
        self.dims = tuple(int(v) for v in dims)
        self.strides = tuple(int(v) for v in strides)
        self.offset = int(offset)
        self.storage_dims = tuple(int(v) for v in storage_dims)
        self.layout = layout
        assert int(np.prod(self.storage_dims)) == storage.size

    @property
    def itemsize(self):
        return self.storage.itemsize

    def base_address(self):
        """Address of the storage start (what aclCreateTensor gets)."""
        return self.storage.ctypes.data

    def element0_address(self):
        """Address of element (0, 0) (what the native API gets)."""
        return self.storage.ctypes.data + self.offset * self.itemsize

    def read(self):
        """The logical array as the view addresses it (for self-checks)."""
        R, C = self.dims
        r = np.arange(R)[:, None]
        c = np.arange(C)[None, :]
        idx = self.offset + r * self.strides[0] + c * self.strides[1]
        return self.storage[idx] if idx.size else np.zeros((R, C), self.storage.dtype)

    def describe(self):
        return "%s dims=%s strides=%s offset=%d storage=%s" % (self.layout, self.dims, self.strides,
                                                               self.offset, self.storage_dims)


VIEW_LAYOUTS = ("contig", "padded", "colmajor", "offset", "negrow", "negcol", "colstep", "rowbcast", "colbcast")
# layouts that need repeated values (stride 0): every row equal (rowbcast) or every column equal (colbcast)
BROADCAST_LAYOUTS = ("rowbcast", "colbcast")


def make_view(a, layout, rng, fill):
    """Place the logical 2-D array `a` in a fresh storage with the given layout.

    fill: value used for storage cells the view does not address (garbage the library must not read).
    For "rowbcast" (row stride 0) every row of `a` must be equal, for "colbcast" (column stride 0) every
    column; the caller arranges that.
    Returns a StridedView whose read() equals `a`."""
    a = np.asarray(a)
    R, C = a.shape
    dtype = a.dtype
    storage_dims = None
    if layout == "contig":
        rs, cs, off = C, 1, 0
    elif layout == "padded":
        rs, cs, off = C + int(rng.integers(1, 6)), 1, int(rng.integers(0, 4))
    elif layout == "colmajor":
        rs, cs, off = 1, R, 0
    elif layout == "offset":
        rs, cs, off = C, 1, int(rng.integers(1, 50))
    elif layout == "negrow":
        pad = int(rng.integers(0, 3))
        rs, cs = -(C + pad), 1
        off = (R - 1) * (C + pad) if R > 0 else 0
        off += int(rng.integers(0, 3))
    elif layout == "negcol":
        rs, cs = C, -1
        off = (C - 1) if C > 0 else 0
        off += int(rng.integers(0, 3))
    elif layout == "colstep":
        rs, cs, off = 2 * C + 1, 2, int(rng.integers(0, 3))
    elif layout == "rowbcast":
        rs, cs, off = 0, 1, int(rng.integers(0, 3))
    elif layout == "colbcast":
        rs, cs, off = 1, 0, int(rng.integers(0, 3))
    else:
        raise ValueError(layout)
    if R == 0 or C == 0:
        hi = off - 1
    else:
        corners = [off + r * rs + c * cs for r in (0, R - 1) for c in (0, C - 1)]
        assert min(corners) >= 0
        hi = max(corners)
    tail = int(rng.integers(0, 4))
    size = hi + 1 + tail
    storage = np.empty(size, dtype=dtype)
    storage[...] = fill
    if R and C:
        r = np.arange(R)[:, None]
        c = np.arange(C)[None, :]
        storage[off + r * rs + c * cs] = a
    if layout == "contig" and tail == 0 and off == 0:
        storage_dims = (R, C)
    elif layout == "colmajor" and tail == 0 and off == 0:
        storage_dims = (C, R)
    else:
        storage_dims = (size,)
    v = StridedView(storage, (R, C), (rs, cs), off, storage_dims, layout)
    got = v.read()
    assert got.shape == a.shape and np.array_equal(got.view(np.uint8), np.ascontiguousarray(a).view(np.uint8)), layout
    return v


class GuardedOutput:
    """A contiguous output array with guard bytes on both sides, pre-filled with a sentinel byte."""

    GUARD = 64

    def __init__(self, shape, dtype, sentinel=0xA5):
        self.shape = tuple(int(v) for v in shape)
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.sentinel = sentinel
        self.buf = np.full(self.nbytes + 2 * self.GUARD, sentinel, dtype=np.uint8)

    @property
    def address(self):
        return self.buf.ctypes.data + self.GUARD

    def array(self):
        return self.buf[self.GUARD:self.GUARD + self.nbytes].view(self.dtype).reshape(self.shape)

    def guards_intact(self):
        g = self.GUARD
        return bool((self.buf[:g] == self.sentinel).all() and (self.buf[g + self.nbytes:] == self.sentinel).all())

    def untouched(self):
        return bool((self.buf == self.sentinel).all())

    def reset(self):
        self.buf[...] = self.sentinel
