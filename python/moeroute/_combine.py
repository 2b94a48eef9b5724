"""The combine operators over the native API, under torch_npu's names, argument names, order and defaults:

    npu_moe_token_unpermute    aclnnMoeTokenUnpermute      (moeroute_token_unpermute)
    npu_moe_finalize_routing   aclnnMoeFinalizeRoutingV2   (moeroute_finalize_routing, version 2), as torch_npu
                               maps it (op-plugin calls MoeFinalizeRoutingV2 whenever the operator exists)

The expert rows (permuted_tokens, expanded_permuted_rows) and probs are passed by address with their element
strides (read in place, as in _routing.py); a 3-D expanded_permuted_rows [E, C, H] (drop modes) is read as
[E*C, H] in place when its strides allow, else copied. The native API takes the other arrays contiguous: they
are passed in place when they are contiguous and copied otherwise.

Checks: the library judges every attribute and value its native API carries and refuses with its own status and
message. The wrapper judges only what the native API cannot see (ranks, shapes that must agree, dtypes that must
match, padded_mode / restore_shape, the rank of expanded_permuted_rows per drop_pad_mode, the bias rows against
expanded_permuted_rows' E in the drop modes) and raises MoerouteError with the status the library uses for that
kind of error.
"""

import operator

import numpy as np

from . import _lib
from ._lib import MoerouteError
from ._outputs import Outputs, _shape_error
from ._outputs import address as _addr
from ._routing import _Call, _dtype_error, _is_tensor, _operand, _run, _torch
from ._routing_family import _EMPTY_ADDR, _i32, _side_input

_FLOAT_WANT = ("float16, float32 or bfloat16 (numpy: float16, float32, or uint16 raw bfloat16 bits with "
               "bf16=True; torch: torch.float16, torch.bfloat16, torch.float32)")
_DTYPE_NAMES = {_lib.DTYPE_FLOAT16: "float16", _lib.DTYPE_BFLOAT16: "bfloat16", _lib.DTYPE_FLOAT32: "float32"}


def _ndim(a):
    return a.dim() if _is_tensor(a) else np.ndim(a)


def _is_bits(a):
    """A 16-bit integer array or tensor: raw bfloat16 bits (with bf16=True)."""
    if _is_tensor(a):
        t = _torch()
        return a.dtype in (t.int16, getattr(t, "uint16", t.int16))
    dt = a.dtype if isinstance(a, np.ndarray) else np.asarray(a).dtype
    return dt.kind in "ui" and dt.itemsize == 2


def _float_operand(api, name, a, bf16, what):
    """A 2-D float16 / bfloat16 / float32 operand, read in place through its strides (_routing._operand). With
    bf16=True a 16-bit integer array holds bfloat16 bits; float arrays keep their own type."""
    if not _is_tensor(a) and not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if _ndim(a) != 2:
        raise _shape_error(api, "%s must be 2-D %s, got %d dimension%s", name, what, _ndim(a),
                           "" if _ndim(a) == 1 else "s")
    try:
        return _operand(name, a, "x", bf16 and _is_bits(a))
    except MoerouteError as e:
        if e.status == _lib.MOEROUTE_ERR_INVALID_DTYPE and not _is_bits(a):  # bits without bf16=True: as it is
            raise _dtype_error(name, a.dtype, "%s must be %s" % (name, _FLOAT_WANT)) from None
        raise


def _contiguous(o):
    """The operand laid out row-major without gaps: itself when it is, else a copy (a new operand)."""
    d0, d1 = o.shape
    s0, s1 = o.strides
    if (d1 <= 1 or s1 == 1) and (d0 <= 1 or s0 == d1):
        return o
    if o.is_torch:
        c = o.obj.contiguous()
        addr = c.data_ptr() if c.numel() else None
    else:
        c = np.ascontiguousarray(o.obj)
        addr = c.ctypes.data if c.size else None
    return type(o)(c, o.shape, addr, (d1, 1), o.dtype_code, o.is_torch, np_dtype=o.np_dtype,
                   torch_dtype=o.torch_dtype)


def _side_float(api, name, a, bf16, shape, what, dtypes):
    """An optional float input the native API takes contiguous: (operand, address), (None, None) for None.
    shape: the expected [d0, d1] (None leaves a dim free); dtypes: the allowed native dtype codes."""
    if a is None:
        return None, None
    o = _float_operand(api, name, a, bf16, what)
    if o.dtype_code not in dtypes:
        raise _dtype_error(name, _DTYPE_NAMES.get(o.dtype_code, o.dtype_code),
                           "%s must be %s" % (name, " or ".join(_DTYPE_NAMES[d] for d in dtypes)))
    if any(w is not None and g != w for g, w in zip(o.shape, shape)):
        raise _shape_error(api, "%s must be %s = %s, got shape %s", name, what,
                           "[%s]" % ", ".join("any" if w is None else str(w) for w in shape), list(o.shape))
    o = _contiguous(o)
    # a given but empty array still needs an address: the native API reads NULL as "not given"
    return o, (o.address if o.address is not None else _EMPTY_ADDR)


def _index_1d(api, name, a):
    """A 1-D int32 index array, contiguous (copied when not): (object keeping the memory, length, address)."""
    keep, shape, addr = _side_input(name, a, "i32")
    if len(shape) != 1:
        raise _shape_error(api, "%s must be 1-D, got %d dimensions", name, len(shape))
    return keep, shape[0], addr


# ---- MoeTokenUnpermute: npu_moe_token_unpermute ---------------------------------------------------------------

def _prepare_unpermute(permuted_tokens, sorted_indices, probs, padded_mode, restore_shape, bf16, out=None):
    api = "npu_moe_token_unpermute"
    if padded_mode:
        raise _shape_error(api, "padded_mode must be False (padded mode is not supported)")
    if restore_shape is not None:
        raise _shape_error(api, "restore_shape must be None (it is only meaningful with padded_mode)")
    xo = _float_operand(api, "permuted_tokens", permuted_tokens, bf16, "[M, H]")
    M, H = xo.shape
    ikeep, L, iaddr = _index_1d(api, "sorted_indices", sorted_indices)
    keep = [xo, ikeep]
    a = _lib.get().TokenUnpermuteArgs()
    if probs is None:
        T, k = L, 1
    else:
        po = _float_operand(api, "probs", probs, bf16, "[T, k]")
        T, k = po.shape
        if T * k != L:
            raise _shape_error(api, "sorted_indices has %d entries but probs is [%d, %d]: T*k must equal the length "
                               "of sorted_indices", L, T, k)
        keep.append(po)
        a.probs_dtype = po.dtype_code
        a.probs = po.address if po.address is not None else _EMPTY_ADDR  # given, even when empty
        a.probs_row_stride, a.probs_col_stride = po.strides
    res = Outputs(xo, out, 1, api).new((T, H), "x")
    a.num_tokens, a.k, a.hidden, a.permuted_rows = T, k, H, M
    a.tokens_dtype = xo.dtype_code
    a.permuted_tokens = xo.address
    a.permuted_row_stride, a.permuted_col_stride = xo.strides
    a.sorted_indices = iaddr
    a.out = _addr(res)
    return _Call("token_unpermute", a, keep, res)


def npu_moe_token_unpermute(permuted_tokens, sorted_indices, probs=None, padded_mode=False, restore_shape=None, *,
                            bf16=False, ctx=None, out=None):
    """torch_npu.npu_moe_token_unpermute = aclnnMoeTokenUnpermute on the CPU (docs/operators/token_unpermute.md).

    permuted_tokens [M, H] float16, bfloat16 or float32 (the expert rows); sorted_indices int32 [T*k] (the row of
    slot j of token t at t*k + j, as npu_moe_token_permute returns it); probs None (k = 1, no weighting) or
    [T, k] float16 / bfloat16 / float32 (any with any token dtype). out[t] = sum over j of
    permuted_tokens[sorted_indices[t*k + j]] * probs[t][j] in fp32, in slot order, rounded once to the token
    dtype. A slot whose index is >= M or whose probability is +-0 is skipped; a kept slot with a negative index
    is refused (MoerouteError, MOEROUTE_ERR_INVALID_VALUE). padded_mode must be False and restore_shape None.
    Returns out [T, H] in permuted_tokens' dtype: a torch tensor when permuted_tokens is one, else numpy; out=
    an array of that kind, dtype and shape (C-contiguous) to write and return instead (_outputs.py)."""
    return _run(_prepare_unpermute(permuted_tokens, sorted_indices, probs, padded_mode, restore_shape, bf16, out),
                ctx)


# ---- MoeFinalizeRoutingV2: npu_moe_finalize_routing -----------------------------------------------------------

def _expanded_rows(api, x, mode, bf16):
    """expanded_permuted_rows as a 2-D operand [M, H]: 2-D in modes 0/2, [E, C, H] read as [E*C, H] in modes 1/3.
    Returns (operand, E or None)."""
    drop = mode in (1, 3)
    if not _is_tensor(x) and not isinstance(x, np.ndarray):
        x = np.asarray(x)
    nd = _ndim(x)
    if nd != (3 if drop else 2):
        raise _shape_error(api, "expanded_permuted_rows must be %s in drop_pad_mode %d, got %d dimension%s",
                           "3-D [E, C, H]" if drop else "2-D [N*K, H]", mode, nd, "" if nd == 1 else "s")
    if not drop:
        return _float_operand(api, "expanded_permuted_rows", x, bf16, "[N*K, H]"), None
    E, C, H = (int(v) for v in x.shape)
    # a view when the strides allow it (stride(E) == C * stride(C), or a dim of 1), else a copy
    return _float_operand(api, "expanded_permuted_rows", x.reshape(E * C, H), bf16, "[E*C, H]"), E


def _prepare_finalize(expanded_permuted_rows, skip1, skip2, bias, scales, expanded_src_to_dst_row,
                      export_for_source_row, drop_pad_mode, bf16, out=None):
    api = "npu_moe_finalize_routing"
    mode = 0 if drop_pad_mode is None else _i32(api, "drop_pad_mode", operator.index(drop_pad_mode))
    if mode not in (0, 1, 2, 3):
        raise _shape_error(api, "drop_pad_mode must be 0, 1, 2 or 3, got %d", mode)
    xo, E_x = _expanded_rows(api, expanded_permuted_rows, mode, bf16)
    M, H = xo.shape
    xdt = xo.dtype_code
    rkeep, L, raddr = _index_1d(api, "expanded_src_to_dst_row", expanded_src_to_dst_row)
    keep = [xo, rkeep]
    sdts = (xdt, _lib.DTYPE_FLOAT32) if xdt == _lib.DTYPE_BFLOAT16 else (xdt,)
    so, s_addr = _side_float(api, "scales", scales, bf16, (None, None), "[N, K]", sdts)
    if so is not None:
        N, K = so.shape
        if K == 0:
            raise _shape_error(api, "K (scales.shape[1]) must not be 0")
        if N * K != L:
            raise _shape_error(api, "expanded_src_to_dst_row has %d entries; it must have N*K = %d*%d (scales is "
                               "[N, K])", L, N, K)
    else:
        N, K = L, 1
    x1o, x1_addr = _side_float(api, "skip1", skip1, bf16, (N, H), "[N, H]", (xdt,))
    x2o, x2_addr = _side_float(api, "skip2", skip2, bf16, (N, H), "[N, H]", (xdt,))
    bo, b_addr = _side_float(api, "bias", bias, bf16, (E_x, H), "[E, H]", (xdt,))
    keep += [so, x1o, x2o, bo]
    e_addr = None
    if export_for_source_row is not None:
        ekeep, eshape, e_addr = _side_input("export_for_source_row", export_for_source_row, "i32")
        if eshape != (N, K):
            raise _shape_error(api, "export_for_source_row must be 2-D [N, K] = [%d, %d], got shape %s", N, K,
                               list(eshape))
        keep.append(ekeep)
    elif bo is not None and N * K > 0:
        raise MoerouteError(_lib.MOEROUTE_ERR_NULL_POINTER,
                            "%s: bias needs export_for_source_row (the expert of each slot)" % api)
    res = Outputs(xo, out, 1, api).new((N, H), "x")
    a = _lib.get().FinalizeRoutingArgs()
    a.version, a.drop_pad_mode = 2, mode
    a.num_rows, a.k, a.hidden, a.expanded_rows = N, K, H, M
    a.num_experts = bo.shape[0] if bo is not None else 0
    a.x_dtype = xdt
    a.scales_dtype = so.dtype_code if so is not None else xdt
    a.expanded_x = xo.address
    a.expanded_x_row_stride, a.expanded_x_col_stride = xo.strides
    a.expanded_row_idx = raddr
    a.x1, a.x2, a.bias, a.scales, a.expert_idx = x1_addr, x2_addr, b_addr, s_addr, e_addr
    a.out = _addr(res)
    return _Call("finalize_routing", a, keep, res)


def npu_moe_finalize_routing(expanded_permuted_rows, skip1, skip2, bias, scales, expanded_src_to_dst_row,
                             export_for_source_row, drop_pad_mode=0, *, bf16=False, ctx=None, out=None):
    """torch_npu.npu_moe_finalize_routing = aclnnMoeFinalizeRoutingV2 on the CPU
    (docs/operators/finalize_routing.md). As in torch_npu every argument but drop_pad_mode is positional and
    skip1, skip2, bias, scales and export_for_source_row may be None.

    expanded_permuted_rows: the expert outputs, float16 / bfloat16 / float32, [M, H] (drop_pad_mode 0 and 2) or
    [E, C, H] (1 and 3); expanded_src_to_dst_row int32 [N*K]: the row of slot (i, k) at i + k*N (modes 0, 1)
    or i*K + k (modes 2, 3), -1 = a dropped copy in modes 1 and 3. skip1, skip2 [N, H] and bias [E, H] (E =
    expanded_permuted_rows.shape[0] in modes 1/3) in its dtype; scales [N, K] in its dtype, or float32 with
    bfloat16 rows (None: K = 1, every scale 1); export_for_source_row int32 [N, K], the expert of each slot
    (needed with a bias, read only then).

    out[i] = skip1[i] + skip2[i] + sum over k of scales[i][k] * (rows[r(i, k)] + bias[export[i][k]]), term by
    term in slot order in the dtype's arithmetic (fp16 steps for float16, bf16 stored ties-to-even). Returns
    out [N, H] in the rows' dtype: a torch tensor when expanded_permuted_rows is one, else numpy; out= an array to
    write and return instead, as for npu_moe_token_unpermute."""
    return _run(_prepare_finalize(expanded_permuted_rows, skip1, skip2, bias, scales, expanded_src_to_dst_row,
                                  export_for_source_row, drop_pad_mode, bf16, out), ctx)
