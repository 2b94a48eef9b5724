"""npu_moe_init_routing / moe_init_routing_quant over the native API (moeroute_init_routing).

Inputs are passed to the library by address with their element strides, so contiguous and strided
(transposed, sliced, broadcast) numpy arrays and CPU torch tensors are read in place, never copied. The
only copies made are of inputs numpy cannot describe by element strides (non-native byte order, strides
that are not multiples of the item size) and of array-likes that are not arrays at all (lists).
"""

import operator
import threading

import numpy as np

from . import _lib
from ._lib import MoerouteError
# torch is never imported by this package: if the caller has not imported it, no argument can be a tensor
from ._outputs import Outputs, _is_tensor, _torch
from ._outputs import address as _addr

_INT64_MIN = -(2 ** 63)


class _Operand:
    """One 2-D input as the native API sees it: address of element (0, 0), element strides, dtype code."""

    __slots__ = ("obj", "shape", "address", "strides", "dtype_code", "is_torch", "np_dtype", "torch_dtype")

    def __init__(self, obj, shape, address, strides, dtype_code, is_torch, np_dtype=None, torch_dtype=None):
        self.obj = obj  # keeps the memory alive for the duration of the call
        self.shape = shape
        self.address = address
        self.strides = strides
        self.dtype_code = dtype_code
        self.is_torch = is_torch
        self.np_dtype = np_dtype
        self.torch_dtype = torch_dtype


def _dtype_error(name, got, want):
    return MoerouteError(_lib.MOEROUTE_ERR_INVALID_DTYPE, "%s: dtype %s is not supported; %s" % (name, got, want))


def _rank_error(name, ndim, what):
    return MoerouteError(_lib.MOEROUTE_ERR_INVALID_SHAPE,
                         "%s must be 2-D %s, got %d dimension%s" % (name, what, ndim, "" if ndim == 1 else "s"))


_X_WANT = ("x must be float16, float32 or bfloat16 (numpy: float16, float32, or uint16 raw bfloat16 bits with "
           "bf16=True; torch: torch.float16, torch.bfloat16, torch.float32)")
_IDX_WANT = "index arrays must be int32 (numpy: a.astype(np.int32), torch: t.int())"


def _from_tensor(name, t, role, bf16):
    torch = _torch()
    if t.device.type != "cpu":
        raise ValueError("%s: tensor is on device %s; moeroute runs on the CPU (use .cpu())" % (name, t.device))
    if t.layout != torch.strided:
        raise ValueError("%s: %s tensors are not supported, only strided (dense) ones" % (name, t.layout))
    if t.dim() != 2:
        raise _rank_error(name, t.dim(), "[N, H]" if role == "x" else "[N, K]")
    dt = t.dtype
    if role == "x":
        if bf16:
            # bf16=True: a bfloat16 tensor, or its raw bits in a 16-bit integer tensor
            codes = {torch.bfloat16: _lib.DTYPE_BFLOAT16, torch.int16: _lib.DTYPE_BFLOAT16}
            if hasattr(torch, "uint16"):
                codes[torch.uint16] = _lib.DTYPE_BFLOAT16
        else:
            codes = {torch.float16: _lib.DTYPE_FLOAT16, torch.bfloat16: _lib.DTYPE_BFLOAT16,
                     torch.float32: _lib.DTYPE_FLOAT32}
        if dt not in codes:
            raise _dtype_error(name, dt, _X_WANT if not bf16 else
                               "with bf16=True x must be torch.bfloat16 (or its bits as int16/uint16)")
        code = codes[dt]
    else:
        if dt != torch.int32:
            raise _dtype_error(name, dt, _IDX_WANT)
        code = _lib.DTYPE_INT32
    # data_ptr() is the address of element (0, 0) (storage offset included); strides are in elements
    addr = t.data_ptr() if t.numel() else None
    return _Operand(t, tuple(int(v) for v in t.shape), addr, tuple(int(v) for v in t.stride()), code, True,
                    torch_dtype=dt)


def _from_numpy(name, a, role, bf16):
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.ndim != 2:
        raise _rank_error(name, a.ndim, "[N, H]" if role == "x" else "[N, K]")
    dt = a.dtype
    if role == "x":
        if dt.kind == "f" and dt.itemsize == 2:
            code = _lib.DTYPE_FLOAT16
        elif dt.kind == "f" and dt.itemsize == 4:
            code = _lib.DTYPE_FLOAT32
        elif dt.name == "bfloat16" and dt.itemsize == 2:
            code = _lib.DTYPE_BFLOAT16  # ml_dtypes.bfloat16 (what JAX uses) is bf16 already
        elif dt.kind in "ui" and dt.itemsize == 2:
            if not bf16:
                raise _dtype_error(name, dt, "%s is read as raw bfloat16 bits only with bf16=True" % dt)
            code = _lib.DTYPE_BFLOAT16
        else:
            raise _dtype_error(name, dt, _X_WANT)
        if bf16 and code != _lib.DTYPE_BFLOAT16:
            raise _dtype_error(name, dt, "bf16=True expects a uint16 array holding raw bfloat16 bits")
    else:
        if not (dt.kind == "i" and dt.itemsize == 4):
            raise _dtype_error(name, dt, _IDX_WANT)
        code = _lib.DTYPE_INT32
    if not dt.isnative:
        a = a.astype(dt.newbyteorder("="))  # the library reads native order; a copy is unavoidable
    item = a.itemsize
    if any(s % item for s in a.strides) or not a.flags.aligned:
        # byte strides the native API cannot express in elements, or an address off the element grid (the
        # library refuses those): a copy
        a = np.require(a, requirements="CA")
    # a.ctypes.data is the address of element (0, 0), also for negative strides
    addr = a.ctypes.data if a.size else None
    strides = tuple(s // item for s in a.strides)
    return _Operand(a, tuple(int(v) for v in a.shape), addr, strides, code, False, np_dtype=a.dtype)


def _operand(name, a, role, bf16=False):
    if _is_tensor(a):
        return _from_tensor(name, a, role, bf16)
    return _from_numpy(name, a, role, bf16)


class Context:
    """Execution options and reusable scratch memory for repeated calls.

    ``Context(num_threads=0, isa="auto")``: num_threads 0 means MOEROUTE_NUM_THREADS or all available CPUs;
    isa is "auto", "scalar", "avx2", "avx512" or "neon" (results are identical for every choice). A context
    keeps its thread pool and a scratch buffer, so calls that pass ``ctx=`` allocate nothing in the library.
    Calls sharing one context from several Python threads are serialized by a lock. Release it with
    close() or a ``with`` block (garbage collection also does)."""

    def __init__(self, num_threads=0, isa="auto"):
        self._handle = None
        self._lock = threading.Lock()
        lib = _lib.get()
        if isa not in _lib.ISA_CODES:
            raise ValueError("isa must be one of %s" % ", ".join(sorted(_lib.ISA_CODES)))
        opt = lib.Options(operator.index(num_threads), _lib.ISA_CODES[isa])
        h = _lib.ctypes.c_void_p(None)
        lib.check(lib.context_create(_lib.ctypes.byref(opt), _lib.ctypes.byref(h)))
        self._lib = lib
        self._handle = h.value

    @property
    def isa(self):
        """The instruction set the context's kernels use ("scalar", "avx2", ...)."""
        return _lib.ISA_NAMES.get(self._lib.context_isa(self._require()), "unknown")

    @property
    def num_threads(self):
        return int(self._lib.context_threads(self._require()))

    def _require(self):
        if self._handle is None:
            raise ValueError("the moeroute Context is closed")
        return self._handle

    def close(self):
        with self._lock:
            if self._handle is not None:
                self._lib.context_destroy(self._handle)
                self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class _Call:
    """A prepared native call: the entry point's name (an attribute of _lib.Library), the argument struct, the
    objects that own its memory and the outputs (a tuple, None where the operator has no such output)."""

    def __init__(self, fn, args, keep, outputs):
        self.fn = fn
        self.args = args
        self.keep = keep
        self.outputs = outputs


def _prepare(quant, x, row_idx, expert_idx, active_num, scale, offset, bf16, out=None, api=""):
    """Validate what the wrapper can, take or allocate the outputs (out=, _outputs.py) and fill
    moeroute_init_routing_args."""
    xo = _operand("x", x, "x", bf16)
    eo = _operand("expert_idx", expert_idx, "idx")
    ro = None if row_idx is None else _operand("row_idx", row_idx, "idx")
    N, H = xo.shape
    En, K = eo.shape
    if En != N:
        raise MoerouteError(_lib.MOEROUTE_ERR_INVALID_SHAPE,
                            "x has %d rows but expert_idx has %d (both are N)" % (N, En))
    if ro is not None and ro.shape != eo.shape:
        raise MoerouteError(_lib.MOEROUTE_ERR_INVALID_SHAPE, "row_idx has shape %s, expert_idx %s (they must be equal)"
                            % (list(ro.shape), list(eo.shape)))
    active_num = operator.index(active_num)
    if active_num < _INT64_MIN:
        raise MoerouteError(_lib.MOEROUTE_ERR_INVALID_SHAPE, "active_num must be >= 0, got %d" % active_num)
    # the library clamps active_num to N; clamping here keeps a huge Python int inside int64_t, and a
    # negative value goes through for the library to refuse with its own message
    c_active = min(active_num, N)
    A = max(0, min(active_num, N)) * K
    L = N * K

    outs = Outputs(xo, out, 3, api)
    ex = outs.new((A, H), "i8" if quant else "x")
    er = outs.new((L,), "i32")
    ee = outs.new((L,), "i32")

    a = _lib.get().InitRoutingArgs()
    a.num_rows, a.k, a.hidden, a.active_num = N, K, H, c_active
    a.x_dtype = xo.dtype_code
    a.x = xo.address
    a.x_row_stride, a.x_col_stride = xo.strides
    a.expert_idx = eo.address
    a.expert_row_stride, a.expert_col_stride = eo.strides
    if ro is not None:
        a.row_idx = ro.address
        a.row_idx_row_stride, a.row_idx_col_stride = ro.strides
    a.expanded_x_dtype = _lib.DTYPE_INT8 if quant else xo.dtype_code
    a.scale = float(scale) if quant else 0.0
    a.offset = float(offset) if quant else 0.0
    a.expanded_x = _addr(ex)
    a.expanded_row_idx = _addr(er)
    a.expanded_expert_idx = _addr(ee)
    return _Call("init_routing", a, (xo, eo, ro), (ex, er, ee))


def _run(call, ctx, extra=None):
    """Call the entry point with (context, &args, *extra); extra defaults to call.extra (arguments after the
    struct: the packed weights of a grouped matmul)."""
    lib = _lib.get()
    fn = getattr(lib, call.fn)
    more = extra if extra is not None else getattr(call, "extra", ())
    if ctx is None:
        lib.take_error_message()  # drop stale messages so the exception carries this call's only
        lib.check(fn(None, _lib.ctypes.byref(call.args), *more))
    else:
        if not isinstance(ctx, Context):
            raise TypeError("ctx must be a moeroute.Context or None")
        with ctx._lock:
            h = ctx._require()
            lib.take_error_message()
            lib.check(fn(h, _lib.ctypes.byref(call.args), *more))
    return call.outputs


def npu_moe_init_routing(x, row_idx, expert_idx, active_num, *, bf16=False, ctx=None, out=None):
    """aclnnMoeInitRouting / torch_npu.npu_moe_init_routing on the CPU.

    x [N, H] float16, float32 or bfloat16; row_idx [N, K] int32 permutation of 0..N*K-1, or None for the
    canonical layout row_idx[i][j] = j*N + i; expert_idx [N, K] int32; active_num: tokens whose K copies are
    written (clamped to N). Returns (expanded_x [min(N, active_num)*K, H] in x's dtype, expanded_row_idx
    [N*K] int32, expanded_expert_idx [N*K] int32): torch tensors when x is a torch tensor, numpy arrays
    otherwise. bf16=True: a numpy x of dtype uint16 holds raw bfloat16 bits (expanded_x is returned the
    same way). out: None, or a 3-tuple of arrays (None entries: new) the call writes and returns instead of new
    ones (checked: kind, dtype, shape, C-contiguous; see _outputs.py). Raises MoerouteError."""
    return _run(_prepare(False, x, row_idx, expert_idx, active_num, 0.0, 0.0, bf16, out, "npu_moe_init_routing"),
                ctx)


def moe_init_routing_quant(x, row_idx, expert_idx, active_num, scale, offset, *, bf16=False, ctx=None, out=None):
    """aclnnMoeInitRoutingQuant on the CPU: as npu_moe_init_routing, with expanded_x int8 =
    to_i8_rne(f16(f16(f16(x) * s) + o)), s and o the double scale and offset rounded to float, then fp16."""
    return _run(_prepare(True, x, row_idx, expert_idx, active_num, scale, offset, bf16, out,
                         "moe_init_routing_quant"), ctx)
