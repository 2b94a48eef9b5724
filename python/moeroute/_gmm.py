"""GroupedMatmul over the native API (moeroute_grouped_matmul), under torch_npu's name, argument names, order and
defaults:

    npu_grouped_matmul                aclnnGroupedMatmulV4   (moeroute_grouped_matmul), the MoE subset
    npu_grouped_matmul_swiglu_quant   aclnnGroupedMatmulSwigluQuant(WeightNZ)
                                      (moeroute_grouped_matmul_swiglu_quant), A8W8

x and weight are passed by address with their element strides (read in place: a transposed view of a stored
[E, N, K] weight costs nothing); bias, scale, per_token_scale and group_list are passed contiguous (copied when
they are not). The library judges the dtype rows, the shapes it carries and the group list's values; the
wrapper judges what the native API cannot see (list lengths, ranks, split_item, group_type, act_type, the
arguments outside the MoE subset, output_dtype) and raises MoerouteError with the status the library uses for
that kind of error. Rows past the last group are left undefined, as on the NPU (new outputs are zeroed there).
"""

import ctypes
import threading

import numpy as np

from . import _lib
from ._layout import struct_type
from ._routing import _Call, _dtype_error, _is_tensor, _run, _torch
from ._routing_family import _EMPTY_ADDR, _i64, _shape_error

_bind_lock = threading.Lock()

# dtype code -> (numpy carrier, torch dtype name)
_CARRIER = {_lib.DTYPE_FLOAT16: (np.float16, "float16"), _lib.DTYPE_BFLOAT16: (np.uint16, "bfloat16"),
            _lib.DTYPE_FLOAT32: (np.float32, "float32"), _lib.DTYPE_INT8: (np.int8, "int8"),
            _lib.DTYPE_INT32: (np.int32, "int32")}
_NAMES = {_lib.DTYPE_FLOAT16: "float16", _lib.DTYPE_BFLOAT16: "bfloat16", _lib.DTYPE_FLOAT32: "float32",
          _lib.DTYPE_INT8: "int8", _lib.DTYPE_INT32: "int32"}


def _library(attr="grouped_matmul", struct_attr="GroupedMatmulArgs"):
    """The loaded library with the entry point moeroute_<attr> bound (once) as lib.<attr>, its argument struct
    as lib.<struct_attr>, next to the others."""
    lib = _lib.get()
    if not hasattr(lib, attr):
        with _bind_lock:
            if not hasattr(lib, attr):
                st = struct_type(lib.dll, "moeroute_%s_args" % attr)
                setattr(lib, struct_attr, st)
                f = getattr(lib.dll, "moeroute_" + attr)
                f.restype = ctypes.c_int
                f.argtypes = [ctypes.c_void_p, ctypes.POINTER(st)]
                setattr(lib, attr, f)
    return lib


def _packed_library():
    """The library with both argument structs (_library) and the packed-weight entry points bound (once):
    lib.grouped_matmul_packed and lib.grouped_matmul_swiglu_quant_packed (ctx, args, weights),
    lib.grouped_matmul_pack_weights (ctx, args, &weights), lib.gmm_weights_bytes, lib.gmm_weights_destroy."""
    _library()
    lib = _library("grouped_matmul_swiglu_quant", "GroupedMatmulSwigluQuantArgs")
    if not hasattr(lib, "gmm_weights_destroy"):
        with _bind_lock:
            if not hasattr(lib, "gmm_weights_destroy"):
                _bind_packed(lib)
    return lib


def _bind_packed(lib):
    st = ctypes.POINTER(lib.GroupedMatmulArgs)
    sq = ctypes.POINTER(lib.GroupedMatmulSwigluQuantArgs)
    for name, args, res in (("grouped_matmul_packed", [ctypes.c_void_p, st, ctypes.c_void_p], ctypes.c_int),
                            ("grouped_matmul_swiglu_quant_packed", [ctypes.c_void_p, sq, ctypes.c_void_p],
                             ctypes.c_int),
                            ("grouped_matmul_pack_weights", [ctypes.c_void_p, st, ctypes.c_void_p], ctypes.c_int),
                            ("gmm_weights_bytes", [ctypes.c_void_p], ctypes.c_size_t),
                            ("gmm_weights_destroy", [ctypes.c_void_p], None)):
        f = getattr(lib.dll, "moeroute_" + name)
        f.restype, f.argtypes = res, args
        setattr(lib, name, f)


def _code_of(name, a, bf16):
    """The dtype code of an array / tensor (16-bit integers are bfloat16 bits only with bf16=True)."""
    if _is_tensor(a):
        t = _torch()
        codes = {t.float16: _lib.DTYPE_FLOAT16, t.bfloat16: _lib.DTYPE_BFLOAT16, t.float32: _lib.DTYPE_FLOAT32,
                 t.int8: _lib.DTYPE_INT8, t.int32: _lib.DTYPE_INT32}
        if bf16:
            codes[t.int16] = _lib.DTYPE_BFLOAT16
        if a.dtype not in codes:
            raise _dtype_error(name, a.dtype, "%s must be float16, bfloat16, float32, int8 or int32" % name)
        return codes[a.dtype]
    dt = a.dtype
    if dt.name == "bfloat16" or (bf16 and dt.kind in "ui" and dt.itemsize == 2):
        return _lib.DTYPE_BFLOAT16
    for code, (carrier, _) in _CARRIER.items():
        if code != _lib.DTYPE_BFLOAT16 and dt == np.dtype(carrier):
            return code
    raise _dtype_error(name, dt, "%s must be float16, float32, int8, int32 or (bf16=True) uint16 bfloat16 bits"
                       % name)


def _strided(name, a, ndim, bf16):
    """(object keeping the memory, shape, address of element 0, element strides, dtype code), read in place."""
    if _is_tensor(a):
        t = _torch()
        if a.device.type != "cpu" or a.layout != t.strided:
            raise ValueError("%s: only dense CPU tensors are supported (use .cpu())" % name)
        obj, shape, strides = a, tuple(int(v) for v in a.shape), tuple(int(v) for v in a.stride())
        addr = a.data_ptr() if a.numel() else None
    else:
        obj = a if isinstance(a, np.ndarray) else np.asarray(a)
        if not obj.dtype.isnative or any(s % obj.itemsize for s in obj.strides) or not obj.flags.aligned:
            obj = np.require(obj, dtype=obj.dtype.newbyteorder("="), requirements="CA")
        shape, strides = tuple(int(v) for v in obj.shape), tuple(s // obj.itemsize for s in obj.strides)
        addr = obj.ctypes.data if obj.size else None
    if len(shape) != ndim:
        raise _shape_error("npu_grouped_matmul", "%s must be %d-D, got %d dimensions", name, ndim, len(shape))
    return obj, shape, addr, strides, _code_of(name, obj, bf16)


def _dense(name, a, shape, codes, bf16):
    """A contiguous operand of one of the dtype codes with the given shape: (keep, address, code)."""
    if _is_tensor(a):
        a = a.contiguous()
    elif not isinstance(a, np.ndarray) or not a.flags.c_contiguous or not a.flags.aligned or not a.dtype.isnative:
        a = np.asarray(a)
        a = np.require(a, dtype=a.dtype.newbyteorder("="), requirements="CA")
    code = _code_of(name, a, bf16)
    if code not in codes:
        raise _dtype_error(name, _NAMES[code], "%s must be %s here" % (name, " or ".join(_NAMES[c] for c in codes)))
    got = tuple(int(v) for v in a.shape)
    if got != tuple(shape):
        raise _shape_error("npu_grouped_matmul", "%s must have shape %s, got %s", name, list(shape), list(got))
    if _is_tensor(a):
        return a, (a.data_ptr() if a.numel() else _EMPTY_ADDR), code
    return a, (a.ctypes.data if a.size else _EMPTY_ADDR), code


def _one(name, v, required):
    """The single tensor of a list argument (None when absent or empty)."""
    if v is None:
        if required:
            raise _shape_error("npu_grouped_matmul", "%s is required", name)
        return None
    if not isinstance(v, (list, tuple)):
        v = [v]
    if len(v) == 0 and not required:
        return None
    if len(v) != 1:
        raise _shape_error("npu_grouped_matmul", "%s must hold one tensor (the MoE subset: one x, one [E, K, N] "
                           "weight, one output), got %d", name, len(v))
    return v[0]


def _per_expert(name, v, rank):
    """A list of E > 1 per-expert tensors of rank `rank` (torch_npu's multi-weight form: E [K, N] weights, E [N]
    biases or scales, as aclnnGroupedMatmul V1/V2 take them) stacked into the one tensor of the MoE subset (a
    copy); anything else unchanged."""
    if not isinstance(v, (list, tuple)) or len(v) < 2 or any(getattr(t, "ndim", None) != rank for t in v):
        return v
    if all(_is_tensor(t) for t in v):
        return [_torch().stack([t.detach().cpu() for t in v])]
    return [np.stack([np.asarray(t) for t in v])]


def _dtype_name(v):
    """"bfloat16", "float16", ... for a torch dtype, a numpy dtype (or type) or a name."""
    if isinstance(v, str):
        return v.replace("torch.", "")
    if type(v).__module__.startswith("torch"):
        return str(v).replace("torch.", "")
    try:
        return np.dtype(v).name
    except TypeError:
        return str(v)


def _new_output(like_torch, shape, code):
    carrier, tname = _CARRIER[code]
    if like_torch:
        t = _torch()
        return t.zeros(shape, dtype=getattr(t, tname))
    return np.zeros(shape, carrier)


def _prepare(x, weight, bias, scale, offset, antiquant_scale, antiquant_offset, per_token_scale, group_list,
             activation_input, activation_quant_scale, activation_quant_offset, split_item, group_type,
             group_list_type, act_type, output_dtype, bf16):
    api = "npu_grouped_matmul"
    for name, v in (("offset", offset), ("antiquant_scale", antiquant_scale), ("antiquant_offset", antiquant_offset),
                    ("activation_input", activation_input), ("activation_quant_scale", activation_quant_scale),
                    ("activation_quant_offset", activation_quant_offset)):
        if _one(name, v, False) is not None:
            raise _shape_error(api, "%s is not supported (moeroute implements the MoE subset)", name)
    if _i64(api, "split_item", split_item) not in (2, 3):
        raise _shape_error(api, "split_item must be 2 or 3 (one output tensor), got %d", split_item)
    if _i64(api, "group_type", group_type) != 0:
        raise _shape_error(api, "group_type must be 0 (split along M), got %d", group_type)
    if _i64(api, "act_type", act_type) != 0:
        raise _shape_error(api, "act_type must be 0, got %d", act_type)
    ltype = _i64(api, "group_list_type", group_list_type)
    if isinstance(weight, (list, tuple)) and len(weight) == 1 and isinstance(weight[0], GroupedMatmulWeights):
        weight = weight[0]
    packed = weight if isinstance(weight, GroupedMatmulWeights) else None
    if packed is None:
        weight = _per_expert("weight", weight, 2)
    bias, scale = _per_expert("bias", bias, 1), _per_expert("scale", scale, 1)
    xkeep, (M, K), xaddr, xstr, xcode = _strided("x", _one("x", x, True), 2, bf16)
    if xcode == _lib.DTYPE_INT32:
        raise _dtype_error("x", "int32", "x must be float16, bfloat16, float32 or int8")
    if packed is not None:
        wkeep, wshape, waddr, wstr, wcode = packed, packed.shape, None, (0, 0, 0), packed._code
        packed._require()
    else:
        wkeep, wshape, waddr, wstr, wcode = _strided("weight", _one("weight", weight, True), 3, bf16)
    E, Kw, N = wshape
    if Kw != K:
        raise _shape_error(api, "weight is %s: its K must equal x's K = %d", list(wshape), K)
    if wcode != xcode:
        raise _dtype_error("weight", _NAMES[wcode], "weight must have x's dtype (%s)" % _NAMES[xcode])
    lib = _library()
    a = lib.GroupedMatmulArgs()
    keep = [xkeep, wkeep]
    int8 = xcode == _lib.DTYPE_INT8
    b = _one("bias", bias, False)
    if b is not None:
        want = (_lib.DTYPE_INT32,) if int8 else \
            (_lib.DTYPE_FLOAT16,) if xcode == _lib.DTYPE_FLOAT16 else (_lib.DTYPE_FLOAT32,)
        bk, a.bias, _ = _dense("bias", b, (E, N), want, False)
        keep.append(bk)
    s = _one("scale", scale, False)
    out_code = xcode
    if int8:
        out_code = _lib.DTYPE_INT32
        if s is not None:
            sk, a.scale, a.scale_dtype = _dense("scale", s, (E, N), (_lib.DTYPE_BFLOAT16, _lib.DTYPE_FLOAT32), bf16)
            keep.append(sk)
            out_code = _lib.DTYPE_BFLOAT16 if a.scale_dtype == _lib.DTYPE_BFLOAT16 else _lib.DTYPE_FLOAT16
        p = _one("per_token_scale", per_token_scale, False)
        if p is not None:
            pk, a.per_token_scale, _ = _dense("per_token_scale", p, (M,), (_lib.DTYPE_FLOAT32,), False)
            keep.append(pk)
    elif s is not None:
        raise _dtype_error("scale", "given", "scale belongs to int8 x")
    if output_dtype is not None and _dtype_name(output_dtype) != _NAMES[out_code]:
        raise _dtype_error("output_dtype", output_dtype, "output_dtype must be None or %s for these inputs"
                           % _NAMES[out_code])
    if group_list is not None:
        gl = group_list
        if not _is_tensor(gl) and not isinstance(gl, np.ndarray):
            gl = np.asarray(gl, np.int64)
        gshape = tuple(int(v) for v in gl.shape)
        if len(gshape) != (2 if ltype == 2 else 1):
            raise _shape_error(api, "group_list must be %s for group_list_type %d, got shape %s",
                               "[G, 2]" if ltype == 2 else "[G]", ltype, list(gshape))
        if _is_tensor(gl):
            gl = gl.contiguous()
            if gl.dtype != _torch().int64:
                raise _dtype_error("group_list", gl.dtype, "group_list must be int64")
            a.group_list = gl.data_ptr() if gl.numel() else _EMPTY_ADDR
        else:
            if gl.dtype.kind not in "iu":
                raise _dtype_error("group_list", gl.dtype, "group_list must hold integers (int64)")
            gl = np.require(gl, dtype=np.int64, requirements="CA")
            a.group_list = gl.ctypes.data if gl.size else _EMPTY_ADDR
        keep.append(gl)
        a.num_groups = gshape[0]
    a.group_list_type = ltype
    is_torch = _is_tensor(xkeep)
    out = _new_output(is_torch, (M, N), out_code)
    a.num_rows, a.k, a.n, a.num_experts = M, K, N, E
    a.x_dtype = xcode
    a.x = xaddr
    a.x_row_stride, a.x_col_stride = xstr
    a.weight = waddr
    a.weight_expert_stride, a.weight_k_stride, a.weight_n_stride = wstr
    a.out_dtype = out_code
    a.out = (out.data_ptr() if out.numel() else None) if is_torch else (out.ctypes.data if out.size else None)
    if packed is not None:
        _packed_library()
        call = _Call("grouped_matmul_packed", a, keep, [out])
        call.extra = (packed._handle,)
        return call
    return _Call("grouped_matmul", a, keep, [out])


class GroupedMatmulWeights:
    """The weights of npu_grouped_matmul packed once for many calls (moeroute_grouped_matmul_pack_weights;
    docs/operators/grouped_matmul.md "Packed weights"), a moeroute extension: torch_npu has no such object.

    weight: one [E, K, N] array / tensor (any strides, e.g. the transposed view of a stored [E, N, K]) or a list
    of E [K, N], float16, bfloat16 (bf16=True for uint16 bits), float32 or int8. Pass the object as
    npu_grouped_matmul's weight: the result is the bytes the call gives with the original weights, without the
    per-call packing. The packed form is a copy (later writes to the weight are not seen) made for the kernels
    of `ctx` (a Context, or None for the default one): use it with that same ctx, else the call raises
    MoerouteError (MOEROUTE_ERR_INVALID_VALUE). nbytes: its size (about K*N per expert for int8, 4*K*N for the
    float dtypes). close() frees it now (also on garbage collection)."""

    def __init__(self, weight, *, bf16=False, ctx=None):
        weight = _per_expert("weight", weight, 2)
        keep, shape, addr, strides, code = _strided("weight", _one("weight", weight, True), 3, bf16)
        if code == _lib.DTYPE_INT32:
            raise _dtype_error("weight", "int32", "weight must be float16, bfloat16, float32 or int8")
        lib = _packed_library()
        a = lib.GroupedMatmulArgs()
        a.num_experts, a.k, a.n = shape
        a.x_dtype = code
        a.weight = addr
        a.weight_expert_stride, a.weight_k_stride, a.weight_n_stride = strides
        self.shape, self._code, self._lib, self._handle = shape, code, lib, None
        handle = ctypes.c_void_p()
        _run(_Call("grouped_matmul_pack_weights", a, [keep], (None,)), ctx, extra=(ctypes.byref(handle),))
        self._handle = handle

    @property
    def nbytes(self):
        return int(self._lib.gmm_weights_bytes(self._require()))

    def _require(self):
        if self._handle is None or not self._handle.value:
            raise ValueError("these GroupedMatmulWeights were closed")
        return self._handle

    def close(self):
        if self._handle is not None and self._handle.value:
            self._lib.gmm_weights_destroy(self._handle)
        self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self):
        return "GroupedMatmulWeights(E=%d, K=%d, N=%d, %s)" % (self.shape + (_NAMES[self._code],))


def npu_grouped_matmul(x, weight, *, bias=None, scale=None, offset=None, antiquant_scale=None,
                       antiquant_offset=None, per_token_scale=None, group_list=None, activation_input=None,
                       activation_quant_scale=None, activation_quant_offset=None, split_item=0, group_type=-1,
                       group_list_type=0, act_type=0, output_dtype=None, bf16=False, ctx=None):
    """torch_npu.npu_grouped_matmul = aclnnGroupedMatmulV4 on the CPU, MoE subset (docs/operators/grouped_matmul.md).

    x [x2d] one [M, K] array (float16, bfloat16, float32 or int8; a list of one is fine too); weight one
    [E, K, N] of x's dtype (any strides), or a list of E [K, N] weights (stacked into one, a copy; bias and scale
    may then be lists of E [N] likewise); group_list int64 [E] (group_list_type 0 cumsum, 1 counts) or [G, 2]
    (2: expert id, count pairs); bias [E, N] (float16 for float16 x, float32 for bfloat16 / float32 x, int32 for
    int8 x); int8 x only: scale [E, N] bfloat16 (bfloat16 out) or float32 (float16 out), per_token_scale
    float32 [M]; without scale int8 x gives int32. split_item must be 2 or 3 and group_type 0 (torch_npu's
    defaults 0 and -1 describe one output per weight, outside the MoE subset), act_type 0; the other lists
    None or empty. Returns [out [M, N]], rows past the last group zero."""
    return _run(_prepare(x, weight, bias, scale, offset, antiquant_scale, antiquant_offset, per_token_scale,
                         group_list, activation_input, activation_quant_scale, activation_quant_offset, split_item,
                         group_type, group_list_type, act_type, output_dtype, bf16), ctx)


def npu_grouped_matmul_swiglu_quant(x, weight, group_list, weight_scale, x_scale, *, bias=None, offset=None,
                                    bf16=False, ctx=None):
    """torch_npu.npu_grouped_matmul_swiglu_quant = aclnnGroupedMatmulSwigluQuant(WeightNZ) on the CPU, A8W8
    (docs/operators/grouped_matmul_swiglu_quant.md).

    x int8 [M, K] (any strides); weight int8 [E, K, N] (any strides: an ND weight), or the 5-D FRACTAL_NZ storage
    [E, ceil(N/32), ceil(K/16), 16, 32] (contiguous; what npu_format_cast(w, 29) holds on the NPU; N is then
    taken from weight_scale, as torch_npu does), or an int8 moeroute.GroupedMatmulWeights (packed once, same ctx); group_list int64 [G] cumsum, G <= E; weight_scale [E, N]
    float32, float16 or bfloat16 (bf16=True: uint16 bfloat16 bits); x_scale float32 [M]; bias and offset must
    be None. Returns (output int8 [M, N/2], output_scale float32 [M], output_offset float32 [M] zeros (the A8W8
    case has none)); rows at and past group_list[-1] zero."""
    api = "npu_grouped_matmul_swiglu_quant"
    for name, v in (("bias", bias), ("offset", offset)):
        if v is not None:
            raise _shape_error(api, "%s must be None (the A8W8 case takes none)", name)
    xkeep, (M, K), xaddr, xstr, xcode = _strided("x", x, 2, False)
    wt = weight
    packed = wt if isinstance(wt, GroupedMatmulWeights) else None
    nd = len(wt.shape)
    if packed is not None:
        packed._require()
    elif nd not in (3, 5):
        raise _shape_error(api, "weight must be 3-D [E, K, N] or the 5-D NZ storage [E, N/32, K/16, 16, 32], got "
                           "%d dimensions", nd)
    if nd == 5:
        wt = wt.contiguous() if _is_tensor(wt) else np.require(wt, requirements="CA")
    if packed is not None:
        wkeep, wshape, waddr, wstr, wcode = packed, packed.shape, None, (0, 0, 0), packed._code
    else:
        wkeep, wshape, waddr, wstr, wcode = _strided("weight", wt, nd, False)
    for name, code in (("x", xcode), ("weight", wcode)):
        if code != _lib.DTYPE_INT8:
            raise _dtype_error(name, _NAMES[code], "%s must be int8" % name)
    E = wshape[0]
    N = int(weight_scale.shape[-1]) if nd == 5 and len(weight_scale.shape) else wshape[-1]
    if nd == 5:
        want = (E, (N + 31) // 32, (K + 15) // 16, 16, 32)
        if tuple(wshape) != want:
            raise _shape_error(api, "the NZ weight must be %s for K = %d and N = %d (from weight_scale), got %s",
                               list(want), K, N, list(wshape))
        wstr = (0, 0, 0)
    elif wshape[1] != K:
        raise _shape_error(api, "weight is %s: its K must equal x's K = %d", list(wshape), K)
    lib = _packed_library() if packed is not None else \
        _library("grouped_matmul_swiglu_quant", "GroupedMatmulSwigluQuantArgs")
    a = lib.GroupedMatmulSwigluQuantArgs()
    wsk, a.weight_scale, a.weight_scale_dtype = _dense(
        "weight_scale", weight_scale, (E, N), (_lib.DTYPE_FLOAT32, _lib.DTYPE_FLOAT16, _lib.DTYPE_BFLOAT16), bf16)
    xsk, a.x_scale, _ = _dense("x_scale", x_scale, (M,), (_lib.DTYPE_FLOAT32,), False)
    gl = group_list
    if _is_tensor(gl):
        if gl.dtype != _torch().int64:
            raise _dtype_error("group_list", gl.dtype, "group_list must be int64")
        gl = gl.contiguous()
    else:
        gl = np.asarray(gl)
        if gl.dtype.kind not in "iu":
            raise _dtype_error("group_list", gl.dtype, "group_list must hold integers (int64)")
        gl = np.require(gl, dtype=np.int64, requirements="CA")
    if len(gl.shape) != 1:
        raise _shape_error(api, "group_list must be 1-D [G], got shape %s", list(gl.shape))
    a.num_groups = int(gl.shape[0])
    a.group_list = (gl.data_ptr() if gl.numel() else _EMPTY_ADDR) if _is_tensor(gl) else \
        (gl.ctypes.data if gl.size else _EMPTY_ADDR)
    is_torch = _is_tensor(xkeep)
    out = _new_output(is_torch, (M, N // 2), _lib.DTYPE_INT8)
    scale = _new_output(is_torch, (M,), _lib.DTYPE_FLOAT32)
    offs = _new_output(is_torch, (M,), _lib.DTYPE_FLOAT32)

    def addr(t):
        return (t.data_ptr() if t.numel() else None) if is_torch else (t.ctypes.data if t.size else None)

    a.num_rows, a.k, a.n, a.num_experts = M, K, N, E
    a.x = xaddr
    a.x_row_stride, a.x_col_stride = xstr
    a.weight = waddr
    a.weight_expert_stride, a.weight_k_stride, a.weight_n_stride = wstr
    a.weight_format = 29 if nd == 5 else 0
    a.output, a.output_scale = addr(out), addr(scale)
    call = _Call("grouped_matmul_swiglu_quant", a, [xkeep, wkeep, wsk, xsk, gl], [out, scale])
    if packed is not None:
        call.fn, call.extra = "grouped_matmul_swiglu_quant_packed", (packed._handle,)
    _run(call, ctx)
    return out, scale, offs
