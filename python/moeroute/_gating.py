"""The gating operators over the native API (docs/operators/gating.md), under torch_npu's names, argument names,
order and defaults:

    npu_moe_gating_top_k             aclnnMoeGatingTopK            (moeroute_gating_top_k)
    npu_moe_gating_top_k_softmax     aclnnMoeGatingTopKSoftmax     (moeroute_gating_top_k_softmax, version 1)
    npu_moe_gating_top_k_softmax_v2  aclnnMoeGatingTopKSoftmaxV2   (version 2)

plus ``moe_gating_top_k``, the native name, which also takes renorm=1 (vllm-ascend's own copy of the operator
divides softmax weights by their sum + eps; CANN's refuses renorm != 0, and so does npu_moe_gating_top_k).

x is read in place through its strides (a 3-D x [B, S, E] of the softmax operators as [B*S, E], in place when
its strides allow, else copied); bias and finished are passed contiguous (copied when they are not). The
library judges every attribute; the wrappers judge ranks and shapes the native API cannot see.
"""

import operator

import numpy as np

from . import _lib
from ._combine import _float_operand, _ndim, _side_float
from ._lib import MoerouteError
from ._outputs import Outputs, _shape_error
from ._outputs import address as _addr
from ._routing import _Call, _dtype_error, _is_tensor, _run, _torch
from ._routing_family import _i32

_FLOATS = (_lib.DTYPE_FLOAT16, _lib.DTYPE_BFLOAT16, _lib.DTYPE_FLOAT32)


def _k(api, name, v):
    return _i32(api, name, operator.index(v))


# ---- MoeGatingTopK ------------------------------------------------------------------------------------------

def _prepare_top_k(api, x, k, bias, k_group, group_count, group_select_mode, renorm, norm_type, out_flag,
                   routed_scaling_factor, eps, bf16, out):
    xo = _float_operand(api, "x", x, bf16, "[N, E]")
    N, E = xo.shape
    bo, b_addr = _side_float(api, "bias", None if bias is None else _as_row(bias), bf16, (1, E), "[E]",
                             (xo.dtype_code,))
    outs = Outputs(xo, out, 3, api)
    K = _k(api, "k", k)
    y = outs.new((N, max(K, 0)), "x")
    idx = outs.new((N, max(K, 0)), "i32")
    scores = outs.new((N, E), "f32") if out_flag is not None else outs.absent()
    a = _lib.get().GatingTopKArgs()
    a.num_rows, a.num_experts, a.k = N, E, K
    a.k_group, a.group_count = _k(api, "k_group", k_group), _k(api, "group_count", group_count)
    a.group_select_mode = _k(api, "group_select_mode", group_select_mode)
    a.renorm, a.norm_type = _k(api, "renorm", renorm), _k(api, "norm_type", norm_type)
    a.routed_scaling_factor, a.eps = float(routed_scaling_factor), float(eps)
    a.x_dtype = xo.dtype_code
    a.x = xo.address
    a.x_row_stride, a.x_col_stride = xo.strides
    a.bias, a.bias_stride = b_addr, 1
    a.y, a.expert_idx, a.out = _addr(y), _addr(idx), _addr(scores)
    return _Call("gating_top_k", a, [xo, bo], (y, idx, scores))


def _as_row(a):
    """A 1-D [E] array or tensor as a [1, E] view (the shape _side_float checks)."""
    if _ndim(a) != 1:
        raise _shape_error("gating", "bias must be 1-D [E], got %d dimensions", _ndim(a))
    return a.reshape(1, -1) if (_is_tensor(a) or isinstance(a, np.ndarray)) else np.asarray(a).reshape(1, -1)


def npu_moe_gating_top_k(x, k, *, bias=None, input_ids=None, tid2eid=None, k_group=1, group_count=1,
                         group_select_mode=0, renorm=0, norm_type=0, out_flag=False, routed_scaling_factor=1.0,
                         eps=1e-20, bf16=False, ctx=None, out=None):
    """torch_npu.npu_moe_gating_top_k = aclnnMoeGatingTopK on the CPU (docs/operators/gating.md).

    x [N, E] float16 / bfloat16 / float32 logits; bias [E] in x's dtype (selection only). Per row: s =
    sigmoid(x) (norm_type 1) or softmax(x) (0); b = s + bias; with groups (group_count > 1, != E, k_group !=
    group_count) only the experts of the k_group best groups compete (group score: best b for
    group_select_mode 0, the sum of the two best for 1); expert_idx = the k best b (descending, ties to the lower
    index, NaN last); y = s[expert_idx] (sigmoid: divided by their sum + eps) * routed_scaling_factor, in x's
    dtype. Returns (y [N, k], expert_idx int32 [N, k], out float32 [N, E] = s). As in torch_npu the third
    output is always returned; moeroute fills it whatever out_flag says. renorm must be 0 (see
    moe_gating_top_k for renorm 1); the hash-routing inputs input_ids / tid2eid (aclnnMoeGatingTopKV2) are not
    supported. out=: a 3-tuple of arrays to write (_outputs.py)."""
    api = "npu_moe_gating_top_k"
    if input_ids is not None or tid2eid is not None:
        raise _shape_error(api, "input_ids / tid2eid (hash routing, aclnnMoeGatingTopKV2) are not supported")
    if operator.index(renorm) != 0:
        raise _shape_error(api, "renorm must be 0, got %d (moeroute.moe_gating_top_k offers vllm-ascend's renorm 1)",
                           operator.index(renorm))
    return _run(_prepare_top_k(api, x, k, bias, k_group, group_count, group_select_mode, renorm, norm_type,
                               bool(out_flag), routed_scaling_factor, eps, bf16, out), ctx)


def moe_gating_top_k(x, k, *, bias=None, k_group=1, group_count=1, group_select_mode=0, renorm=0, norm_type=0,
                     out_flag=False, routed_scaling_factor=1.0, eps=1e-20, bf16=False, ctx=None, out=None):
    """moeroute_gating_top_k: npu_moe_gating_top_k plus renorm=1 (softmax weights divided by their sum + eps,
    as vllm-ascend's torch.ops._C_ascend.moe_gating_top_k does). Returns (y, expert_idx, scores), scores None
    unless out_flag."""
    api = "moe_gating_top_k"
    return _run(_prepare_top_k(api, x, k, bias, k_group, group_count, group_select_mode, renorm, norm_type,
                               True if out_flag else None, routed_scaling_factor, eps, bf16, out), ctx)


# ---- MoeGatingTopKSoftmax V1 / V2 ---------------------------------------------------------------------------

def _rows_2d(api, x, bf16):
    """x [N, E] or [B, S, E] as a 2-D operand [rows, E] and the leading shape."""
    if not _is_tensor(x) and not isinstance(x, np.ndarray):
        x = np.asarray(x)
    nd = _ndim(x)
    if nd not in (2, 3):
        raise _shape_error(api, "x must be 2-D [N, E] or 3-D [B, S, E], got %d dimension%s", nd,
                           "" if nd == 1 else "s")
    lead = tuple(int(v) for v in x.shape[:-1])
    if nd == 3:
        x = x.reshape(lead[0] * lead[1], int(x.shape[-1]))  # a view when the strides allow it, else a copy
    return _float_operand(api, "x", x, bf16, "[N, E]"), lead


def _finished(api, finished, lead):
    """finished: None, or a bool array / tensor with x's leading dims, as (keep, address) of contiguous bytes."""
    if finished is None:
        return None, None
    if _is_tensor(finished):
        t = _torch()
        if finished.dtype != t.bool:
            raise _dtype_error("finished", finished.dtype, "finished must be torch.bool")
        if tuple(int(v) for v in finished.shape) != lead:
            raise _shape_error(api, "finished must have x's leading dims %s, got %s", list(lead), list(finished.shape))
        c = finished.contiguous()
        return c, (c.data_ptr() if c.numel() else None)
    f = np.asarray(finished)
    if f.dtype != np.bool_:
        raise _dtype_error("finished", f.dtype, "finished must be bool")
    if f.shape != lead:
        raise _shape_error(api, "finished must have x's leading dims %s, got %s", list(lead), list(f.shape))
    f = np.ascontiguousarray(f)
    return f, (f.ctypes.data if f.size else None)


def _prepare_softmax(api, version, x, finished, k, renorm, softmax_flag, bf16, out):
    xo, lead = _rows_2d(api, x, bf16)
    N, E = xo.shape
    K = _k(api, "k", k)
    fkeep, f_addr = _finished(api, finished, lead)
    outs = Outputs(xo, out, 3, api)
    kk = max(K, 0)
    y = outs.new(lead + (kk,), "x")
    idx = outs.new(lead + (kk,), "i32")
    third = outs.new(lead + (kk,), "i32") if version == 1 else (
        outs.new(lead + (E,), "f32") if softmax_flag else outs.absent())
    a = _lib.get().GatingTopKSoftmaxArgs()
    a.version, a.renorm = version, _k(api, "renorm", renorm)
    a.num_rows, a.num_experts, a.k = N, E, K
    a.x_dtype = xo.dtype_code
    a.x = xo.address
    a.x_row_stride, a.x_col_stride = xo.strides
    a.finished, a.finished_stride = f_addr, 1
    a.y, a.expert_idx = _addr(y), _addr(idx)
    if version == 1:
        a.row_idx = _addr(third)
    else:
        a.softmax_out = _addr(third)
    return _Call("gating_top_k_softmax", a, [xo, fkeep], (y, idx, third))


def npu_moe_gating_top_k_softmax(x, finished=None, k=1, *, bf16=False, ctx=None, out=None):
    """torch_npu.npu_moe_gating_top_k_softmax = aclnnMoeGatingTopKSoftmax on the CPU (docs/operators/gating.md).

    x [N, E] or [B, S, E] float16 / bfloat16 / float32; finished None or bool with x's leading dims. p =
    softmax(x) in fp32; expert_idx = the k largest p (descending, ties to the lower index, NaN last), E for every
    slot of a finished row; y = those p in x's dtype (bf16 ties away from zero); row_idx[.., r, j] = j*rows + r.
    Returns (y, expert_idx int32, row_idx int32), each [.., k]."""
    return _run(_prepare_softmax("npu_moe_gating_top_k_softmax", 1, x, finished, k, 0, False, bf16, out), ctx)


def npu_moe_gating_top_k_softmax_v2(x, k, finished=None, renorm=0, output_softmax_result_flag=False, *, bf16=False,
                                    ctx=None, out=None):
    """torch_npu.npu_moe_gating_top_k_softmax_v2 = aclnnMoeGatingTopKSoftmaxV2 on the CPU.

    renorm 0: as npu_moe_gating_top_k_softmax without row_idx, the third output being the softmax of every
    expert (float32, x's shape) when output_softmax_result_flag, else None; renorm 1: the k largest x are
    selected first and y is the softmax over them (no third output). Returns (y, expert_idx, softmax_result)."""
    return _run(_prepare_softmax("npu_moe_gating_top_k_softmax_v2", 2, x, finished, k, renorm,
                                 bool(output_softmax_result_flag), bf16, out), ctx)


__all__ = ["npu_moe_gating_top_k", "moe_gating_top_k", "npu_moe_gating_top_k_softmax",
           "npu_moe_gating_top_k_softmax_v2", "MoerouteError"]
