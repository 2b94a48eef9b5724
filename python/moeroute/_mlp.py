"""The element-wise expert-MLP operators over the native API, under torch_npu's names, argument names, order
and defaults:

    npu_dynamic_quant          aclnnDynamicQuantV2        (moeroute_dynamic_quant)
    npu_swiglu                 aclnnSwiGlu                (moeroute_swiglu)
    npu_dequant_swiglu_quant   aclnnDequantSwigluQuant    (moeroute_dequant_swiglu_quant)

x is passed by address with its element strides where it is 2-D after flattening its leading dims (read in
place when numpy / torch can reshape it without a copy); npu_swiglu with a dim other than the last moves that
dim last (a copy where needed) and moves it back in the result. The small side inputs are passed contiguous
(copied when they are not). The library judges what its native API carries; the wrapper judges ranks and
shapes the native API cannot see and raises MoerouteError with the status the library uses for that kind of
error. See docs/operators/dynamic_quant.md, swiglu.md and dequant_swiglu_quant.md.
"""

import ctypes
import operator
import threading

import numpy as np

from . import _lib
from ._combine import _float_operand, _ndim, _side_float
from ._layout import struct_type
from ._lib import MoerouteError
from ._outputs import Outputs, _shape_error
from ._outputs import address as _addr
from ._routing import _Call, _dtype_error, _is_tensor, _operand, _run, _torch
from ._routing_family import _EMPTY_ADDR, _i32, _side_input

_ENTRY_POINTS = {"dynamic_quant": "DynamicQuantArgs", "swiglu": "SwigluArgs",
                 "dequant_swiglu_quant": "DequantSwigluQuantArgs"}
_bind_lock = threading.Lock()


def _library():
    """The loaded library with these operators' entry points and structs bound (once) next to the others."""
    lib = _lib.get()
    if not hasattr(lib, "dequant_swiglu_quant"):
        with _bind_lock:
            for fn, struct in _ENTRY_POINTS.items():
                if hasattr(lib, fn):
                    continue
                t = struct_type(lib.dll, "moeroute_%s_args" % fn)
                f = getattr(lib.dll, "moeroute_" + fn)
                f.restype = ctypes.c_int
                f.argtypes = [ctypes.c_void_p, ctypes.POINTER(t)]
                setattr(lib, struct, t)
                setattr(lib, fn, f)
    return lib


def _prod(dims):
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _array(a):
    return a if _is_tensor(a) or isinstance(a, np.ndarray) else np.asarray(a)


def _rows(api, name, a, min_rank):
    """a (rank >= min_rank) as 2-D [rows, last dim]: (2-D array or tensor, leading shape)."""
    a = _array(a)
    nd = _ndim(a)
    if nd < min_rank:
        raise _shape_error(api, "%s must have at least %d dimension%s, got %d", name, min_rank,
                           "" if min_rank == 1 else "s", nd)
    shape = tuple(int(v) for v in a.shape)
    return a.reshape(_prod(shape[:-1]), shape[-1]), shape[:-1]


def _is_int_kind(a, itemsizes):
    if _is_tensor(a):
        t = _torch()
        return a.dtype in {4: (t.int32,), 8: (t.int64,)}.get(itemsizes[0], ()) or (
            len(itemsizes) > 1 and a.dtype == t.int64)
    return a.dtype.kind == "i" and a.dtype.itemsize in itemsizes


def _group_index(api, a, allow_int64):
    """A 1-D int32 (or int64) group index, contiguous: (keep, G, address, is_int64)."""
    a = _array(a)
    if _ndim(a) != 1:
        raise _shape_error(api, "group_index must be 1-D [G], got %d dimensions", _ndim(a))
    wide = _is_int_kind(a, (8,))
    if wide and not allow_int64:
        raise _dtype_error("group_index", a.dtype, "group_index must be int32")
    if not wide:
        keep, shape, addr = _side_input("group_index", a, "i32")
        return keep, shape[0], addr, 0
    if _is_tensor(a):
        keep = a.contiguous()
        return keep, int(keep.shape[0]), (keep.data_ptr() if keep.numel() else _EMPTY_ADDR), 1
    keep = np.require(a, dtype=np.dtype(np.int64).newbyteorder("="), requirements="CA")
    return keep, int(keep.shape[0]), (keep.ctypes.data if keep.size else _EMPTY_ADDR), 1


def _f32_input(api, name, a, shape, what):
    """A float32 side input reshaped to `shape` (same element count), contiguous: (keep, address)."""
    keep, got, addr = _side_input(name, a, "f32")
    if _prod(got) != _prod(shape) or (len(got) == 2 and len(shape) == 2 and got != tuple(shape)):
        raise _shape_error(api, "%s must be %s, got shape %s", name, what, list(got))
    return keep, addr


# ---- DynamicQuant: npu_dynamic_quant ---------------------------------------------------------------------------

def _is_int8_dst(dst_type):
    t = _torch()
    return dst_type is None or (t is not None and dst_type == t.int8) or dst_type in (np.int8, "int8") or \
        (isinstance(dst_type, np.dtype) and dst_type == np.int8)


def _dynamic_quant_packing(dst_type):
    """moeroute_dynamic_quant_args.y_packing for npu_dynamic_quant's dst_type: 0 int8; 2 for torch.quint4x2 (or
    "quint4x2" / "int4" without torch), int4 values eight per int32 as torch_npu returns them."""
    if _is_int8_dst(dst_type):
        return 0
    t = _torch()
    if (t is not None and dst_type == getattr(t, "quint4x2", None)) or dst_type in ("quint4x2", "int4"):
        return 2
    raise _dtype_error("dst_type", dst_type, "dst_type must be None, int8 or torch.quint4x2 (int4 values, eight per "
                       "int32; without torch: the string 'quint4x2')")


def _prepare_dynamic_quant(x, smooth_scales, group_index, dst_type, bf16):
    api = "npu_dynamic_quant"
    packing = _dynamic_quant_packing(dst_type)
    x2, lead = _rows(api, "x", x, 2)
    xo = _float_operand(api, "x", x2, bf16, "[rows, H]")
    rows, H = xo.shape
    if packing and H % 8:
        raise _shape_error(api, "dst_type quint4x2 packs eight int4 values per int32: the last dim H = %d must be a "
                           "multiple of 8", H)
    keep = [xo]
    G, g_addr, wide = 0, None, 0
    if group_index is not None:
        gk, G, g_addr, wide = _group_index(api, group_index, allow_int64=False)
        keep.append(gk)
    s_addr = None
    if smooth_scales is not None:
        s = _array(smooth_scales)
        want = 2 if G else 1
        if _ndim(s) != want:
            raise _shape_error(api, "smooth_scales must be %s, got %d dimension%s", "2-D [G, H]" if G else "1-D [H]",
                               _ndim(s), "" if _ndim(s) == 1 else "s")
        so, s_addr = _side_float(api, "smooth_scales", s if G else s.reshape(1, -1 if s.shape[0] else 0), bf16,
                                 (max(G, 1), H), "[G, H]" if G else "[H]", (xo.dtype_code,))
        keep.append(so)
    outs = Outputs(xo, None, 2, api)
    y = outs.new((rows, H // 8), "i32") if packing else outs.new((rows, H), "i8")
    scale = outs.new((rows,), "f32")
    a = _library().DynamicQuantArgs()
    a.num_rows, a.hidden, a.x_dtype = rows, H, xo.dtype_code
    a.x = xo.address
    a.x_row_stride, a.x_col_stride = xo.strides
    a.smooth_scales, a.num_groups, a.group_index_int64, a.group_index = s_addr, G, wide, g_addr
    a.scale_template, a.y_packing = 0, packing
    a.y, a.scale = _addr(y), _addr(scale)
    return _Call("dynamic_quant", a, keep, (y, scale)), lead, (H // 8 if packing else H)


def npu_dynamic_quant(x, *, smooth_scales=None, group_index=None, dst_type=None, bf16=False, ctx=None):
    """torch_npu.npu_dynamic_quant = aclnnDynamicQuantV2 on the CPU (docs/operators/dynamic_quant.md).

    Per-row symmetric int8 quantization of x (float16 / bfloat16, also float32; rank >= 2, rows = the product of
    the leading dims): v = x (* smooth_scales), a = max |v|, y = rint(v * f32(127 / a)) saturated to int8, scale
    the per-row dequantization scale (1 / f or a / 127 in fp32, as the Atlas A2/A3 tiling picks). smooth_scales
    [H] in x's dtype, or [G, H] with group_index int32 [G] (ascending end offsets, the last equal to the row
    count). dst_type None or int8; or torch.quint4x2 (without torch: "quint4x2"): int4 values rint(v * f32(7 / a))
    in [-8, 7], y int32 with the last dim H / 8 holding eight of them each (element 8j + t in bits 4t..4t+3; H % 8
    == 0), as torch_npu returns them. Exact. Returns (y int8 in x's shape, or the packed int32, scale float32 in x's
    shape without the last dim): torch tensors when x is one, else numpy."""
    call, lead, H = _prepare_dynamic_quant(x, smooth_scales, group_index, dst_type, bf16)
    y, scale = _run(call, ctx)
    return y.reshape(lead + (H,)), scale.reshape(lead)


# ---- SwiGlu: npu_swiglu ------------------------------------------------------------------------------------

def npu_swiglu(x, dim=-1, *, bf16=False, ctx=None):
    """torch_npu.npu_swiglu = aclnnSwiGlu on the CPU (docs/operators/swiglu.md).

    x (float16 / bfloat16 / float32, rank >= 1) split along dim into halves A and B (the size along dim must be
    even): out = silu(A) * B in fp32, rounded once to x's dtype; SiLU within 1 ulp of the correctly rounded
    value, the same bits on every CPU. Returns out in x's dtype and shape with dim halved."""
    api = "npu_swiglu"
    x = _array(x)
    nd = _ndim(x)
    if nd < 1:
        raise _shape_error(api, "x must have at least 1 dimension, got 0")
    d = operator.index(dim)
    if not -nd <= d < nd:
        raise _shape_error(api, "dim = %d is outside [%d, %d]", d, -nd, nd - 1)
    d %= nd
    if int(x.shape[d]) % 2:
        raise _shape_error(api, "x has the odd size %d along dim %d; it must split into two halves", int(x.shape[d]),
                           d)
    moved = x if d == nd - 1 else (x.movedim(d, -1) if _is_tensor(x) else np.moveaxis(x, d, -1))
    x2, lead = _rows(api, "x", moved, 1)
    xo = _float_operand(api, "x", x2, bf16, "[rows, 2n]")
    rows, cols = xo.shape
    out = Outputs(xo, None, 1, api).new((rows, cols // 2), "x")
    a = _library().SwigluArgs()
    a.num_rows, a.cols, a.x_dtype = rows, cols, xo.dtype_code
    a.x = xo.address
    a.x_row_stride, a.x_col_stride = xo.strides
    a.out = _addr(out)
    (out,) = _run(_Call("swiglu", a, [xo], (out,)), ctx)
    out = out.reshape(lead + (cols // 2,))
    if d == nd - 1:
        return out
    if _is_tensor(out):
        return out.movedim(-1, d).contiguous()
    return np.ascontiguousarray(np.moveaxis(out, -1, d))


# ---- DequantSwigluQuant: npu_dequant_swiglu_quant -----------------------------------------------------------

def _x_any(api, x2, bf16):
    """x as int32 or float16 / bfloat16 2-D operand."""
    if _is_int_kind(x2, (4,)):
        return _operand("x", x2, "idx")
    return _float_operand(api, "x", x2, bf16, "[rows, 2n]")


def _prepare_dsq(x, weight_scale, activation_scale, bias, quant_scale, quant_offset, group_index, activate_left,
                 quant_mode, bf16):
    api = "npu_dequant_swiglu_quant"
    mode = _i32(api, "quant_mode", quant_mode)
    if mode not in (0, 1):
        raise _shape_error(api, "quant_mode must be 0 (static) or 1 (dynamic), got %d", mode)
    x2, lead = _rows(api, "x", x, 2)
    xo = _x_any(api, x2, bf16)
    rows, cols = xo.shape
    if cols % 2:
        raise _shape_error(api, "the last dim of x (%d) must be even: it splits into two halves", cols)
    n = cols // 2
    keep = [xo]
    G, g_addr, wide = 0, None, 0
    if group_index is not None:
        gk, G, g_addr, wide = _group_index(api, group_index, allow_int64=True)
        keep.append(gk)
    # the per-group parameters: one row for every group, or G rows (with a group index)
    lead_rows = [int(_array(p).shape[0]) for p in (weight_scale, bias) if p is not None and _ndim(_array(p)) == 2]
    if quant_scale is not None and mode == 1 and _ndim(_array(quant_scale)) == 2:
        lead_rows.append(int(_array(quant_scale).shape[0]))
    P = lead_rows[0] if lead_rows else 1
    if P != 1 and P != G:
        raise _shape_error(api, "the parameters have %d rows; they must have 1 row or one per group (G = %d)", P, G)
    pc, pn, pw = ("[2n] or [%d, 2n]" % P), ("[n] or [%d, n]" % P), "[%d]" % P
    a = _library().DequantSwigluQuantArgs()
    if weight_scale is not None:
        k, a.weight_scale = _f32_input(api, "weight_scale", weight_scale, (P, cols), pc)
        keep.append(k)
    if activation_scale is not None:
        k, a.activation_scale = _f32_input(api, "activation_scale", activation_scale, (rows,), "[rows] = [%d]" % rows)
        keep.append(k)
    a.bias_dtype = _lib.DTYPE_FLOAT32
    if bias is not None:
        b = _array(bias)
        b2 = b if _ndim(b) == 2 else b.reshape(1, -1 if b.shape[0] else 0)
        if _is_int_kind(b2, (4,)):
            k, shape, a.bias = _side_input("bias", b2, "i32")
            if shape != (P, cols):
                raise _shape_error(api, "bias must be %s, got shape %s", pc, list(_array(bias).shape))
            a.bias_dtype = _lib.DTYPE_INT32
        else:
            k, a.bias = _side_float(api, "bias", b2, bf16, (P, cols), pc,
                                    (_lib.DTYPE_FLOAT32, _lib.DTYPE_FLOAT16, _lib.DTYPE_BFLOAT16))
            a.bias_dtype = k.dtype_code
        keep.append(k)
    if quant_scale is not None:
        k, a.quant_scale = _f32_input(api, "quant_scale", quant_scale, (P, n) if mode else (P,), pn if mode else pw)
        keep.append(k)
    elif mode == 0:
        raise MoerouteError(_lib.MOEROUTE_ERR_NULL_POINTER, "%s: quant_mode 0 (static) needs quant_scale" % api)
    if quant_offset is not None:
        k, a.quant_offset = _f32_input(api, "quant_offset", quant_offset, (P,), pw)
        keep.append(k)
    outs = Outputs(xo, None, 2, api)
    y, scale = outs.new((rows, n), "i8", zero=True), outs.new((rows,), "f32", zero=True)
    a.num_rows, a.cols, a.x_dtype = rows, cols, xo.dtype_code
    a.x = xo.address
    a.x_row_stride, a.x_col_stride = xo.strides
    a.num_groups, a.group_index_int64, a.group_index, a.param_rows = G, wide, g_addr, P
    a.activate_left, a.quant_mode = int(bool(activate_left)), mode
    a.y, a.scale = _addr(y), _addr(scale)
    return _Call("dequant_swiglu_quant", a, keep, (y, scale)), lead, n


def npu_dequant_swiglu_quant(x, *, weight_scale=None, activation_scale=None, bias=None, quant_scale=None,
                             quant_offset=None, group_index=None, activate_left=False, quant_mode=0, bf16=False,
                             ctx=None):
    """torch_npu.npu_dequant_swiglu_quant = aclnnDequantSwigluQuant on the CPU
    (docs/operators/dequant_swiglu_quant.md).

    x [..., 2n] int32 (matmul results; weight_scale and activation_scale dequantize them) or float16 / bfloat16.
    Row r: v = x * weight_scale[g] * activation_scale[r] + bias[g]; s = silu(act) * other (act = the first half
    when activate_left, else the second); quant_mode 1 (dynamic): s *= quant_scale[g], scale = max|s| / 127,
    y = rint(s / scale); quant_mode 0 (static): y = rint(s * quant_scale[g] + quant_offset[g]); int8 saturating.
    weight_scale / bias [2n] or [G, 2n], quant_scale [n] / [G, n] (dynamic) or [1] / [G] (static), float32 (bias
    also float16 / bfloat16 / int32); group_index int32 / int64 [G] row counts per group: rows past the last group
    are not written (returned as 0). Returns (y int8 [..., n], scale float32 [...]; 0 in static mode)."""
    call, lead, n = _prepare_dsq(x, weight_scale, activation_scale, bias, quant_scale, quant_offset, group_index,
                                 activate_left, quant_mode, bf16)
    y, scale = _run(call, ctx)
    return y.reshape(lead + (n,)), scale.reshape(lead)
