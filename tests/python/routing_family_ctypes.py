"""ctypes bindings for the routing-family aclnn operators and helpers to describe their tensor arguments.

    aclnnMoeInitRoutingV2, aclnnMoeInitRoutingQuantV2, aclnnMoeInitRoutingV3, aclnnMoeComputeExpertTokens
    aclCreateIntArray / aclDestroyIntArray

The library itself is loaded by moeroute_ctypes.load() (MOEROUTE_LIB); bind(lib) adds the entry points
above. Tensor arguments are described by Arg objects (input: a logical array placed in a strided view;
output: a guarded contiguous buffer) that a test can spoil (NULL, other dims, dtype, format, strides) before
build() turns them into aclTensor handles.
"""

import ctypes

import numpy as np

import moeroute_ctypes as mr

ACL_INT64 = 9
ACL_FLOAT = mr.ACL_FLOAT

# test dtype name -> (ACL enum, numpy carrier)
ACL_DTYPE = dict(mr.ACL_DTYPE)
ACL_DTYPE["i64"] = ACL_INT64
NP_CARRIER = dict(mr.NP_CARRIER)
NP_CARRIER["i64"] = np.int64

_vp = ctypes.c_void_p
_i64 = ctypes.c_int64
_u64p = ctypes.POINTER(ctypes.c_uint64)
_vpp = ctypes.POINTER(ctypes.c_void_p)

REQUIRED_SYMBOLS = (
    "aclnnMoeInitRoutingV2GetWorkspaceSize", "aclnnMoeInitRoutingV2",
    "aclnnMoeInitRoutingQuantV2GetWorkspaceSize", "aclnnMoeInitRoutingQuantV2",
    "aclnnMoeInitRoutingV3GetWorkspaceSize", "aclnnMoeInitRoutingV3",
    "aclnnMoeComputeExpertTokensGetWorkspaceSize", "aclnnMoeComputeExpertTokens",
    "aclCreateIntArray", "aclDestroyIntArray",
)

# operator name -> (phase-1 argument types without the trailing workspaceSize / executor pointers)
_GWS_ARGS = {
    "v2": [_vp, _vp, _i64, _i64, _i64, _i64, _i64, ctypes.c_bool, _vp, _vp, _vp, _vp],
    "qv2": [_vp, _vp, _vp, _vp, _i64, _i64, _i64, _i64, _i64, ctypes.c_bool, _i64, _vp, _vp, _vp, _vp, _vp],
    "v3": [_vp, _vp, _vp, _vp, _i64, _i64, _i64, _i64, _i64, ctypes.c_bool, _i64, _vp, _i64, _vp, _vp, _vp, _vp],
    "cet": [_vp, _i64, _vp],
}
_NAMES = {"v2": "aclnnMoeInitRoutingV2", "qv2": "aclnnMoeInitRoutingQuantV2", "v3": "aclnnMoeInitRoutingV3",
          "cet": "aclnnMoeComputeExpertTokens"}


def missing_symbols(lib):
    return [s for s in REQUIRED_SYMBOLS if not hasattr(lib.dll, s)]


class Family:
    """Typed entry points of the four operators on a loaded moeroute_ctypes.Lib."""

    def __init__(self, lib):
        self.lib = lib
        d = lib.dll
        self.gws = {}
        self.exe = {}
        for op, args in _GWS_ARGS.items():
            f = getattr(d, _NAMES[op] + "GetWorkspaceSize")
            f.restype = ctypes.c_int32
            f.argtypes = args + [_u64p, _vpp]
            self.gws[op] = f
            e = getattr(d, _NAMES[op])
            e.restype = ctypes.c_int32
            e.argtypes = [_vp, ctypes.c_uint64, _vp, _vp]
            self.exe[op] = e
        self.aclCreateIntArray = d.aclCreateIntArray
        self.aclCreateIntArray.restype = _vp
        self.aclCreateIntArray.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.c_uint64]
        self.aclDestroyIntArray = d.aclDestroyIntArray
        self.aclDestroyIntArray.restype = ctypes.c_int32
        self.aclDestroyIntArray.argtypes = [_vp]

    def create_int_array(self, values):
        """aclIntArray of `values` (a list; [] gives an empty array)."""
        n = len(values)
        buf = (ctypes.c_int64 * max(1, n))(*[int(v) for v in values])
        a = self.aclCreateIntArray(buf, n)
        if not a:
            raise RuntimeError("aclCreateIntArray failed: %r" % (self.lib.recent_err_msg(),))
        return a

    def phase1(self, op, args, ws_ptr="default", exe_ptr="default"):
        """Returns (status, workspace size, executor)."""
        ws = ctypes.c_uint64(0xDEADBEEF)
        exe = _vp(None)
        wsp = ctypes.byref(ws) if ws_ptr == "default" else ws_ptr
        exp_ = ctypes.byref(exe) if exe_ptr == "default" else exe_ptr
        st = self.gws[op](*args, wsp, exp_)
        return st, ws.value, exe.value

    def execute(self, op, ws_buf, ws_size, exe, stream=None):
        p = None if ws_buf is None else ws_buf.ctypes.data
        return self.exe[op](p, int(ws_size), exe, stream)


def bind(lib):
    return Family(lib)


# ---------------------------------------------------------------------------------------------------------
# 1-D strided views
# ---------------------------------------------------------------------------------------------------------

VIEW1D_LAYOUTS = ("contig", "offset", "stride", "neg", "bcast")


class View1D:
    def __init__(self, storage, n, stride, offset, storage_dims, layout):
        self.storage = storage
        self.dims = (int(n),)
        self.strides = (int(stride),)
        self.offset = int(offset)
        self.storage_dims = tuple(int(v) for v in storage_dims)
        self.layout = layout

    def base_address(self):
        return self.storage.ctypes.data

    def read(self):
        n = self.dims[0]
        return self.storage[self.offset + np.arange(n) * self.strides[0]] if n else self.storage[:0]

    def describe(self):
        return "%s dims=%s strides=%s offset=%d storage=%s" % (self.layout, self.dims, self.strides, self.offset,
                                                               self.storage_dims)


def make_view_1d(a, layout, rng, fill):
    """Place the 1-D array `a` in a fresh storage with the given layout ("bcast" needs all values equal)."""
    a = np.asarray(a).reshape(-1)
    n = a.size
    if layout == "contig":
        st, off = 1, 0
    elif layout == "offset":
        st, off = 1, int(rng.integers(1, 20))
    elif layout == "stride":
        st, off = int(rng.integers(2, 4)), int(rng.integers(0, 3))
    elif layout == "neg":
        st = -int(rng.integers(1, 3))
        off = (n - 1) * -st if n else 0
        off += int(rng.integers(0, 3))
    elif layout == "bcast":
        b = np.ascontiguousarray(a).view(np.uint8).reshape(n, -1) if n else None
        assert n == 0 or (b == b[:1]).all(), "bcast layout needs equal values"
        st, off = 0, int(rng.integers(0, 3))
    else:
        raise ValueError(layout)
    hi = off - 1 if n == 0 else max(off, off + (n - 1) * st)
    size = hi + 1 + int(rng.integers(0, 3))
    storage = np.empty(size, dtype=a.dtype)
    storage[...] = fill
    if n:
        storage[off + np.arange(n) * st] = a
    storage_dims = (n,) if (layout == "contig" and size == n) else (size,)
    v = View1D(storage, n, st, off, storage_dims, layout)
    assert np.array_equal(v.read().view(np.uint8), np.ascontiguousarray(a).view(np.uint8)), layout
    return v


# ---------------------------------------------------------------------------------------------------------
# tensor argument descriptions
# ---------------------------------------------------------------------------------------------------------

def _prod(dims):
    p = 1
    for d in dims:
        p *= int(d)
    return p


class Arg:
    """One tensor argument.

    Input:  Arg.inp(array, dtype, layout)  -- the logical array placed in a strided view.
    Output: Arg.out(shape, dtype)          -- a contiguous guarded buffer (sentinel 0xA5).
    Spoilers (set before build): null, dims, strides, offset, storage_dims, acl_dtype, fmt, data_null,
    address_of (share another output's buffer)."""

    def __init__(self, kind, dtype, array=None, shape=None, layout="contig"):
        self.kind = kind
        self.dtype = dtype
        self.array = array
        self.shape = None if shape is None else tuple(int(v) for v in shape)
        self.layout = layout
        self.null = False
        self.dims = None
        self.strides = None
        self.offset = None
        self.storage_dims = None
        self.acl_dtype = None
        self.fmt = mr.ACL_FORMAT_ND
        self.data_null = False
        self.address_of = None
        self.buffer_shape = None            # output: allocate this many elements instead of the dims
        # filled by build
        self.view = None
        self.guard = None
        self.handle = None
        self.storage = None

    @classmethod
    def inp(cls, array, dtype, layout="contig"):
        return cls("in", dtype, array=np.asarray(array), layout=layout)

    @classmethod
    def out(cls, shape, dtype):
        return cls("out", dtype, shape=shape)

    def describe(self):
        if self.null:
            return "NULL"
        if self.view is not None:
            return self.view.describe()
        return "dims=%s strides=%s" % (self.dims or self.shape, self.strides)

    def build(self, lib, rng, fill):
        if self.null:
            self.handle = None
            return None
        acl = self.acl_dtype if self.acl_dtype is not None else ACL_DTYPE[self.dtype]
        if self.kind == "in":
            plain = self.dims is None and self.strides is None and self.offset is None and self.storage_dims is None
            if plain and self.array.ndim not in (1, 2):
                self.dims = self.array.shape                # other ranks: contiguous, no view games
                plain = False
            if plain:
                a = self.array
                if a.ndim == 2:
                    self.view = mr.make_view(a, self.layout, rng, fill)
                elif a.ndim == 1:
                    self.view = make_view_1d(a, self.layout, rng, fill)
                else:
                    raise ValueError("inputs are 1-D or 2-D")
                dims, strides, offset = self.view.dims, self.view.strides, self.view.offset
                storage_dims, addr = self.view.storage_dims, self.view.base_address()
                empty = _prod(dims) == 0
            else:
                dims = self.dims if self.dims is not None else self.array.shape
                strides, offset, storage_dims = self.strides, self.offset or 0, self.storage_dims
                n = _prod(storage_dims) if storage_dims is not None else _prod(dims)
                self.storage = np.zeros(max(n, 1) + 64, dtype=NP_CARRIER.get(self.dtype, np.uint8))
                if self.array is not None and self.array.size and self.array.size <= self.storage.size:
                    self.storage[:self.array.size] = self.array.reshape(-1).astype(self.storage.dtype)
                addr = self.storage.ctypes.data
                empty = False
            if self.data_null and empty:
                addr = None
        else:
            shape = self.dims if self.dims is not None else self.shape
            dims = shape
            strides, offset, storage_dims = self.strides, self.offset or 0, self.storage_dims
            if strides is not None:
                span = 1 + sum((int(d) - 1) * abs(int(s)) for d, s in zip(dims, strides)) if _prod(dims) else 0
                n = max(span + offset, _prod(shape))
                if storage_dims is None:
                    storage_dims = (n,)
            else:
                n = _prod(shape) + offset
            if self.buffer_shape is not None:
                n = _prod(self.buffer_shape)
            carrier = NP_CARRIER.get(self.dtype, np.uint8)
            self.guard = mr.GuardedOutput((n,), carrier)
            addr = self.guard.address
            if self.address_of is not None:
                addr = self.address_of.guard.address
        self.handle = lib.create_tensor(dims, acl, strides, offset, storage_dims, addr, fmt=self.fmt)
        return self.handle

    def guarded_array(self):
        """The output buffer viewed with its logical shape (only for unspoilt outputs)."""
        return self.guard.array().reshape(self.shape)


class Call:
    """One operator call: the ordered tensor arguments (dict name -> Arg or None) and the scalar attributes,
    plus the argument order of the phase-1 function."""

    def __init__(self, op, order, args, attrs):
        self.op = op
        self.order = order                  # list of ("t", name) / ("a", name) / ("range", name)
        self.args = args                    # name -> Arg or None
        self.attrs = attrs                  # name -> value
        self.int_array = None

    def describe(self):
        parts = ["op=%s" % self.op]
        parts += ["%s=%r" % (k, v) for k, v in self.attrs.items()]
        for k, a in self.args.items():
            parts.append("%s: %s" % (k, "NULL" if a is None else a.describe()))
        return "\n  ".join(parts)

    def outputs(self):
        return [a for a in self.args.values() if a is not None and a.kind == "out" and a.guard is not None]

    def outputs_untouched(self):
        return all(a.guard.untouched() for a in self.outputs())

    def reset_outputs(self):
        for a in self.outputs():
            a.guard.reset()

    def build(self, lib, fam, rng, fills):
        vals = []
        for kind, name in self.order:
            if kind == "t":
                a = self.args.get(name)
                vals.append(None if a is None else a.build(lib, rng, fills.get(a.dtype, 0)))
            elif kind == "range":
                r = self.attrs[name]
                if r is None:
                    vals.append(None)
                else:
                    self.int_array = fam.create_int_array(list(r))
                    vals.append(self.int_array)
            else:
                vals.append(self.attrs[name])
        return vals

    def destroy(self, lib, fam):
        for a in self.args.values():
            if a is not None and a.handle:
                lib.aclDestroyTensor(a.handle)
                a.handle = None
        if self.int_array:
            fam.aclDestroyIntArray(self.int_array)
            self.int_array = None


ORDER = {
    "v2": [("t", "x"), ("t", "expert_idx"), ("a", "active_num"), ("a", "expert_capacity"), ("a", "expert_num"),
           ("a", "drop_pad_mode"), ("a", "count_flag"), ("a", "before_capacity_flag"), ("t", "expanded_x"),
           ("t", "expanded_row_idx"), ("t", "expert_tokens_count_or_cumsum"),
           ("t", "expert_tokens_before_capacity")],
    "qv2": [("t", "x"), ("t", "expert_idx"), ("t", "scale"), ("t", "offset"), ("a", "active_num"),
            ("a", "expert_capacity"), ("a", "expert_num"), ("a", "drop_pad_mode"), ("a", "count_flag"),
            ("a", "before_capacity_flag"), ("a", "quant_mode"), ("t", "expanded_x"), ("t", "expanded_row_idx"),
            ("t", "expert_tokens_count_or_cumsum"), ("t", "expert_tokens_before_capacity"),
            ("t", "dynamic_quant_scale")],
    "v3": [("t", "x"), ("t", "expert_idx"), ("t", "scale"), ("t", "offset"), ("a", "active_num"),
           ("a", "expert_capacity"), ("a", "expert_num"), ("a", "drop_pad_mode"), ("a", "tokens_num_type"),
           ("a", "tokens_num_flag"), ("a", "quant_mode"), ("range", "active_range"), ("a", "row_idx_type"),
           ("t", "expanded_x"), ("t", "expanded_row_idx"), ("t", "expert_tokens_count_or_cumsum"),
           ("t", "expanded_scale")],
    "cet": [("t", "sorted_experts"), ("a", "num_experts"), ("t", "out")],
}
