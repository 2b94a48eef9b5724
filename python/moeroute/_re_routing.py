"""MoeReRouting over the native API (moeroute_re_routing), under torch_npu's name, argument names, order and
defaults:

    npu_moe_re_routing   aclnnMoeReRouting   (moeroute_re_routing)
    moe_re_routing       the same, positional attributes as in the aclnn prototype

tokens and expert_token_num_per_rank are passed by address with their element strides (read in place, as in
_routing.py); per_token_scales is passed contiguous (copied when it is not). The library judges the counts
(>= 0, summing to the rows of tokens) and the dtypes it carries; the wrapper judges what the native API cannot
see (ranks, the length of per_token_scales, expert_token_num_type, idx_type, tokens_dtype) and raises
MoerouteError with the status the library uses for that kind of error.
"""

import ctypes
import threading

import numpy as np

from . import _lib
from ._layout import struct_type
from ._routing import _Call, _dtype_error, _is_tensor, _rank_error, _run
from ._routing_family import _Outputs, _addr, _i64, _indices_operand, _shape_error, _side_input, _x_operand

_bind_lock = threading.Lock()


def _library():
    """The loaded library with the re-routing entry point bound (once) next to the others."""
    lib = _lib.get()
    if not hasattr(lib, "re_routing"):
        with _bind_lock:
            if not hasattr(lib, "re_routing"):
                lib.ReRoutingArgs = struct_type(lib.dll, "moeroute_re_routing_args")
                f = lib.dll.moeroute_re_routing
                f.restype = ctypes.c_int
                f.argtypes = [ctypes.c_void_p, ctypes.POINTER(lib.ReRoutingArgs)]
                lib.re_routing = f
    return lib


def _ndim(a):
    return a.dim() if _is_tensor(a) else a.ndim


def _prepare_re_routing(api, tokens, expert_token_num_per_rank, per_token_scales, expert_token_num_type, idx_type,
                        tokens_dtype, bf16):
    if _i64(api, "expert_token_num_type", expert_token_num_type) != 1:
        raise _shape_error(api, "expert_token_num_type must be 1 (counts), got %d", expert_token_num_type)
    if _i64(api, "idx_type", idx_type) != 0:
        raise _shape_error(api, "idx_type must be 0 (gather index), got %d", idx_type)
    if tokens_dtype is not None:
        raise _dtype_error("tokens_dtype", tokens_dtype, "tokens_dtype must be None: the fp8 token types it selects "
                           "(Ascend 950) are not supported; tokens are float16, bfloat16 or int8")
    xo = _x_operand("tokens", tokens, bf16, allow_int8=True)
    A, H = xo.shape
    counts = expert_token_num_per_rank
    if not _is_tensor(counts) and not isinstance(counts, np.ndarray):
        counts = np.asarray(counts)
    nd = _ndim(counts)
    if nd != 2:
        raise _rank_error("expert_token_num_per_rank", nd, "[R, E]")
    ckeep, (R, E), caddr, cstrides, c64 = _indices_operand("expert_token_num_per_rank", counts)
    keep = [xo, ckeep]
    lib = _library()
    a = lib.ReRoutingArgs()
    if per_token_scales is not None:
        skeep, sshape, saddr = _side_input("per_token_scales", per_token_scales, "f32")
        if sshape != (A,):
            raise _shape_error(api, "per_token_scales must be 1-D [A] = [%d], got shape %s", A, list(sshape))
        keep.append(skeep)
        a.scales, a.scales_stride = saddr, 1
    out = _Outputs(xo)
    permuted = out.new((A, H), "x")
    scales_out = out.new((A,), "f32")
    idx_out = out.new((A,), "i32")
    num_out = out.new((E,), "i64" if c64 else "i32")
    a.num_rows, a.hidden, a.num_ranks, a.num_experts = A, H, R, E
    a.tokens_dtype = xo.dtype_code
    a.tokens = xo.address
    a.tokens_row_stride, a.tokens_col_stride = xo.strides
    a.counts_int64 = 1 if c64 else 0
    a.counts = caddr
    a.counts_row_stride, a.counts_col_stride = cstrides
    a.permuted_tokens, a.permuted_scales = _addr(permuted), _addr(scales_out)
    a.permuted_idx, a.expert_tokens = _addr(idx_out), _addr(num_out)
    return _Call("re_routing", a, keep, (permuted, scales_out, idx_out, num_out))


def npu_moe_re_routing(tokens, expert_token_num_per_rank, *, per_token_scales=None, expert_token_num_type=1,
                       idx_type=0, tokens_dtype=None, bf16=False, ctx=None):
    """torch_npu.npu_moe_re_routing = aclnnMoeReRouting on the CPU (docs/operators/re_routing.md).

    tokens [A, H] float16, bfloat16 or int8, as an all-to-all delivered them: rank-major, block (r, e) holding
    expert_token_num_per_rank[r][e] rows for local expert e from source rank r; expert_token_num_per_rank [R, E]
    int32 or int64 (its sum must be A); per_token_scales None or float32 [A]. The rows are reordered
    expert-major (expert e's blocks from ranks 0..R-1, then expert e+1), keeping the order inside each block.
    expert_token_num_type must be 1, idx_type 0 and tokens_dtype None (the only values CANN's CPU-visible
    kernels define). Returns (permute_tokens [A, H] in tokens' dtype, permute_per_token_scales float32 [A]
    (zeros without per_token_scales), permute_token_idx int32 [A] (the source row of every output row),
    expert_token_num [E] in the counts' dtype): torch tensors when tokens is one, else numpy."""
    return _run(_prepare_re_routing("npu_moe_re_routing", tokens, expert_token_num_per_rank, per_token_scales,
                                    expert_token_num_type, idx_type, tokens_dtype, bf16), ctx)


def moe_re_routing(tokens, expert_token_num_per_rank, per_token_scales=None, expert_token_num_type=1, idx_type=0, *,
                   bf16=False, ctx=None):
    """aclnnMoeReRouting with its arguments in the aclnn prototype's order (tokens, expertTokenNumPerRank,
    perTokenScalesOptional, expertTokenNumType, idxType); same results as npu_moe_re_routing."""
    return _run(_prepare_re_routing("moe_re_routing", tokens, expert_token_num_per_rank, per_token_scales,
                                    expert_token_num_type, idx_type, None, bf16), ctx)
