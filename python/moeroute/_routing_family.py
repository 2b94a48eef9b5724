"""The routing family over the native API, under torch_npu's names and argument orders:

    npu_moe_init_routing_v2        aclnnMoeInitRoutingV3        (moeroute_init_routing_v3)
    npu_moe_init_routing_quant     aclnnMoeInitRoutingQuantV2   (moeroute_init_routing_v2, quant_mode 0/1)
    moe_init_routing_v2            aclnnMoeInitRoutingV2        (moeroute_init_routing_v2, quant_mode -1);
                                   torch_npu has no function for this operator, so the name is moeroute's
    npu_moe_compute_expert_tokens  aclnnMoeComputeExpertTokens  (moeroute_compute_expert_tokens)

x and expert_idx are passed by address with their element strides (read in place, as in _routing.py). The
native API takes the small side inputs (scale, offset, sorted expert lists) as contiguous arrays: those are
passed in place when they are contiguous float32 / int32 and copied otherwise.

Checks: the library judges every attribute its native API carries and refuses with its own status and
message. The wrapper judges only what the native API cannot see (the rank, shape and dtype of the side inputs;
the MoeInitRoutingV3 attributes the native struct does not carry: drop_pad_mode, expert_tokens_num_flag,
active_num; quant_mode -1 given to npu_moe_init_routing_quant; an explicit active_expert_range [0, 0], which
the native API would read as "all experts"; Python ints that do not fit the native field) and raises
MoerouteError with the status the library uses for that kind of error.
"""

import operator

import numpy as np

from . import _lib
from ._outputs import Outputs, _shape_error
from ._outputs import address as _addr
from ._routing import _Call, _Operand, _dtype_error, _is_tensor, _operand, _rank_error, _run, _torch

_Outputs = Outputs  # the name earlier modules used

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def _int(api, name, value, lo, hi, what):
    """operator.index(value), refused when it does not fit the native field (int32 or int64)."""
    v = operator.index(value)
    if not lo <= v <= hi:
        raise _shape_error(api, "%s = %d does not fit the native API's %s field", name, v, what)
    return v


def _i64(api, name, value):
    return _int(api, name, value, _INT64_MIN, _INT64_MAX, "int64")


def _i32(api, name, value):
    return _int(api, name, value, _INT32_MIN, _INT32_MAX, "int32")


# ---- inputs -------------------------------------------------------------------------------------------------

def _x_operand(name, x, bf16, allow_int8):
    """x as _routing._operand reads it, plus int8 x (MoeInitRoutingV3 with quant_mode -1)."""
    if allow_int8 and not bf16:
        if _is_tensor(x):
            torch = _torch()
            if x.dtype == torch.int8 and x.device.type == "cpu" and x.layout == torch.strided:
                if x.dim() != 2:
                    raise _rank_error(name, x.dim(), "[N, H]")
                addr = x.data_ptr() if x.numel() else None
                return _Operand(x, tuple(int(v) for v in x.shape), addr, tuple(int(v) for v in x.stride()),
                                _lib.DTYPE_INT8, True, torch_dtype=torch.int8)
        else:
            a = x if isinstance(x, np.ndarray) else np.asarray(x)
            if a.dtype == np.int8:
                if a.ndim != 2:
                    raise _rank_error(name, a.ndim, "[N, H]")
                addr = a.ctypes.data if a.size else None  # int8 strides are always whole elements
                return _Operand(a, tuple(int(v) for v in a.shape), addr, tuple(int(s) for s in a.strides),
                                _lib.DTYPE_INT8, False, np_dtype=a.dtype)
    return _operand(name, x, "x", bf16)


# the address passed for a side input that is given but empty: the native API reads NULL as "not given"
_EMPTY = np.zeros(4, dtype=np.float32)
_EMPTY_ADDR = _EMPTY.ctypes.data


def _side_input(name, a, want):
    """A float32 (want "f32") or int32 (want "i32") array for a contiguous field of the native API:
    (object keeping the memory, logical shape, address). Copied only when not contiguous or not native order.
    An empty array gets a valid address too, so that it still counts as given."""
    if _is_tensor(a):
        torch = _torch()
        if a.device.type != "cpu":
            raise ValueError("%s: tensor is on device %s; moeroute runs on the CPU (use .cpu())" % (name, a.device))
        if a.layout != torch.strided:
            raise ValueError("%s: %s tensors are not supported, only strided (dense) ones" % (name, a.layout))
        dt = torch.float32 if want == "f32" else torch.int32
        if a.dtype != dt:
            raise _dtype_error(name, a.dtype, "%s must be %s" % (name, dt))
        shape = tuple(int(v) for v in a.shape)
        a = a.contiguous()
        return a, shape, (a.data_ptr() if a.numel() else _EMPTY_ADDR)
    a = a if isinstance(a, np.ndarray) else np.asarray(a)
    ok = a.dtype.kind == ("f" if want == "f32" else "i") and a.dtype.itemsize == 4
    if not ok:
        raise _dtype_error(name, a.dtype, "%s must be %s" % (name, "float32" if want == "f32" else "int32"))
    shape = tuple(int(v) for v in a.shape)
    a = np.require(a, dtype=a.dtype.newbyteorder("="), requirements="CA")  # a copy only when needed
    return a, shape, (a.ctypes.data if a.size else _EMPTY_ADDR)


def _common(api, x, expert_idx, bf16, allow_int8):
    xo = _x_operand("x", x, bf16, allow_int8)
    eo = _operand("expert_idx", expert_idx, "idx")
    N, H = xo.shape
    En, K = eo.shape
    if En != N:
        raise _shape_error(api, "x has %d rows but expert_idx has %d (both are N)", N, En)
    return xo, eo, N, H, K


def _fill_xe(a, xo, eo):
    a.x_dtype = xo.dtype_code
    a.x = xo.address
    a.x_row_stride, a.x_col_stride = xo.strides
    a.expert_idx = eo.address
    a.expert_row_stride, a.expert_col_stride = eo.strides


# ---- MoeInitRoutingV3: npu_moe_init_routing_v2 ----------------------------------------------------------------

def _prepare_v3(x, expert_idx, scale, offset, active_num, expert_capacity, expert_num, drop_pad_mode,
                expert_tokens_num_type, expert_tokens_num_flag, quant_mode, active_expert_range, row_idx_type, bf16,
                out=None):
    api = "npu_moe_init_routing_v2"
    xo, eo, N, H, K = _common(api, x, expert_idx, bf16, allow_int8=True)
    L = N * K
    # the MoeInitRoutingV3 attributes moeroute_init_routing_v3_args does not carry (the A2/A3 subset)
    drop_pad_mode = _i64(api, "drop_pad_mode", drop_pad_mode)
    if drop_pad_mode != 0:
        raise _shape_error(api, "drop_pad_mode must be 0 (dropless, the only MoeInitRoutingV3 mode), got %d",
                           drop_pad_mode)
    if not expert_tokens_num_flag:
        raise _shape_error(api, "expert_tokens_num_flag must be True (MoeInitRoutingV3 always writes the token "
                           "numbers), got %r", expert_tokens_num_flag)
    active_num = _i64(api, "active_num", active_num)
    if active_num != -1 and active_num != L:
        raise _shape_error(api, "active_num must be -1 or N*K = %d, got %d", L, active_num)
    _i64(api, "expert_capacity", expert_capacity)  # ignored by the operator; only its type is checked
    E = _i64(api, "expert_num", expert_num)
    tokens_type = _i32(api, "expert_tokens_num_type", expert_tokens_num_type)
    quant_mode = _i32(api, "quant_mode", quant_mode)
    row_idx_type = _i32(api, "row_idx_type", row_idx_type)
    rng = [operator.index(v) for v in active_expert_range]
    if len(rng) == 0:
        start, end, given = 0, E, False
    elif len(rng) == 2:
        start, end, given = rng[0], rng[1], True
        if start == 0 and end == 0:
            # the native API reads range (0, 0) as "no range given"; an explicit [0, 0] is an empty range
            raise _shape_error(api, "the range [0, 0) must satisfy 0 <= start < end <= expert_num (%d)", E)
        start = _i64(api, "active_expert_range[0]", start)
        end = _i64(api, "active_expert_range[1]", end)
    else:
        raise _shape_error(api, "active_expert_range must be empty or hold 2 values [start, end], got %d values",
                           len(rng))
    E_ok = 1 <= E <= _INT32_MAX
    range_ok = E_ok and 0 <= start < end <= E
    R = end - start if range_ok else 0

    keep = [xo, eo]
    sc_addr = None
    if scale is not None and range_ok and quant_mode in (-1, 1):
        sc, shape, sc_addr = _side_input("scale", scale, "f32")
        keep.append(sc)
        if quant_mode == -1 and shape != (N,):
            raise _shape_error(api, "scale (quant_mode -1: the per-token scale to carry) must be 1-D [N] = [%d], "
                               "got shape %s", N, list(shape))
        if quant_mode == 1 and shape != (R, H):
            raise _shape_error(api, "scale (quant_mode 1: smooth scales) must be 2-D [end - start, H] = [%d, %d], "
                               "got shape %s", R, H, list(shape))
    # offset: ignored by MoeInitRoutingV3 (torch_npu: "not given" in both supported modes)

    outs = Outputs(xo, out, 4, api)
    ex = outs.new((L, H), "i8" if quant_mode != -1 else "x", zero=True)     # rows >= V are not written
    er = outs.new((L,), "i32")
    if tokens_type == 2:
        cnt = outs.new((E if E_ok else 0, 2), "i64", zero=True)            # rows after the terminator: not written
    else:
        cnt = outs.new((R,), "i64", zero=True)
    es = outs.new((L,), "f32", zero=True)                                   # entries >= V are not written

    a = _lib.get().InitRoutingV3Args()
    a.num_rows, a.k, a.hidden, a.expert_num = N, K, H, E
    a.range_start, a.range_end = (start, end) if given else (0, 0)
    a.tokens_num_type, a.quant_mode, a.row_idx_type = tokens_type, quant_mode, row_idx_type
    _fill_xe(a, xo, eo)
    a.scale = sc_addr
    a.expanded_x, a.expanded_row_idx, a.expert_tokens, a.expanded_scale = _addr(ex), _addr(er), _addr(cnt), _addr(es)
    return _Call("init_routing_v3", a, keep, (ex, er, cnt, es))


def npu_moe_init_routing_v2(x, expert_idx, *, scale=None, offset=None, active_num=-1, expert_capacity=-1,
                            expert_num=-1, drop_pad_mode=0, expert_tokens_num_type=0, expert_tokens_num_flag=False,
                            quant_mode=0, active_expert_range=[], row_idx_type=0, bf16=False, ctx=None, out=None):
    """torch_npu.npu_moe_init_routing_v2 = aclnnMoeInitRoutingV3 on the CPU (docs/operators/init_routing_v3.md).

    x [N, H] float16, bfloat16, float32, or int8 (quant_mode -1 only); expert_idx [N, K] int32. The arguments keep
    torch_npu's defaults; the operator (the A2/A3 subset) needs expert_num >= 1, expert_tokens_num_type 1 (count)
    or 2 (key-value), expert_tokens_num_flag True and quant_mode -1 (no quantization) or 1 (dynamic int8), so
    a call relying on those defaults is refused with MoerouteError. active_num must be -1 or N*K,
    drop_pad_mode 0; expert_capacity and offset are ignored. active_expert_range: [] = all experts, or
    [start, end] with 0 <= start < end <= expert_num. row_idx_type 0 gather, 1 scatter. scale: quant_mode -1:
    None or float32 [N] (carried into expanded_scale); quant_mode 1: None or smooth scales float32
    [end - start, H].

    Returns (expanded_x [N*K, H] (int8 with quant_mode 1, else x's dtype), expanded_row_idx [N*K] int32,
    expert_tokens_count_or_cumsum int64 ([end - start], or [expert_num, 2] for key-value), expanded_scale
    [N*K] float32). Only the first V rows of expanded_x and entries of expanded_scale (V = the copies whose
    expert is in range) and the key-value rows up to the terminator are the operator's; the rest is zero (with
    out=, a 4-tuple of arrays or None entries, the rest keeps what the given arrays held; _outputs.py)."""
    return _run(_prepare_v3(x, expert_idx, scale, offset, active_num, expert_capacity, expert_num, drop_pad_mode,
                            expert_tokens_num_type, expert_tokens_num_flag, quant_mode, active_expert_range,
                            row_idx_type, bf16, out), ctx)


# ---- MoeInitRoutingV2 / QuantV2 ---------------------------------------------------------------------------------

def _prepare_v2(api, quant_mode, x, expert_idx, scale, offset, active_num, expert_capacity, expert_num,
                drop_pad_mode, count_flag, before_capacity_flag, bf16, out=None):
    xo, eo, N, H, K = _common(api, x, expert_idx, bf16, allow_int8=False)
    L = N * K
    active_num = operator.index(active_num)
    if active_num > L:
        active_num = L  # clamped by the operator; keeps a huge Python int inside int64_t
    active_num = _i64(api, "active_num", active_num)
    C = _i64(api, "expert_capacity", expert_capacity)
    E = _i64(api, "expert_num", expert_num)
    drop_pad_mode = _i32(api, "drop_pad_mode", drop_pad_mode)
    count_flag = _i32(api, "expert_tokens_num_mode" if quant_mode >= 0 else "expert_tokens_count_or_cumsum_flag",
                      count_flag)
    before = bool(before_capacity_flag)
    drop = drop_pad_mode == 1
    if drop:
        rows = E * C if E >= 1 and 1 <= C <= N else 0
    elif drop_pad_mode == 0 and active_num >= 0:
        rows = L if active_num == 0 else active_num
    else:
        rows = 0  # refused by the library
    keep = [xo, eo]
    a = _lib.get().InitRoutingV2Args()
    if quant_mode == 0:
        for name, v in (("scale", scale), ("offset", offset)):
            if v is None:
                continue  # NULL: the library refuses static quantization without scale and offset
            arr, shape, addr = _side_input(name, v, "f32")
            if shape != (1,):
                raise _shape_error(api, "%s must be 1-D [1] for static quantization (quant_mode 0), got shape %s",
                                   name, list(shape))
            keep.append(arr)
            setattr(a, name, addr)
    elif quant_mode == 1 and scale is not None:
        arr, shape, addr = _side_input("scale", scale, "f32")
        if len(shape) != 2 or shape[1] != H:
            raise _shape_error(api, "scale (quant_mode 1: smooth scales) must be 2-D [1, H] or [expert_num, H] "
                               "with H = %d, got shape %s", H, list(shape))
        keep.append(arr)
        a.scale, a.scale_rows = addr, shape[0]  # the library checks scale_rows in {1, expert_num}
        # offset: ignored in dynamic mode

    outs = Outputs(xo, out, 5 if quant_mode >= 0 else 4, api)
    ex = outs.new((E, C, H) if drop and rows else (rows, H), "x" if quant_mode < 0 else "i8")
    er = outs.new((L,), "i32")
    cnt = outs.new((E,), "i32") if drop_pad_mode == 0 and count_flag in (1, 2) else outs.absent()
    bef = outs.new((E,), "i32") if drop and before else outs.absent()
    if quant_mode >= 0:
        dq = outs.new((rows,), "f32") if quant_mode == 1 else outs.absent()
    else:
        dq = None

    a.num_rows, a.k, a.hidden, a.active_num = N, K, H, active_num
    a.expert_capacity, a.expert_num = C, E
    a.drop_pad_mode, a.count_flag, a.before_capacity_flag, a.quant_mode = drop_pad_mode, count_flag, before, quant_mode
    _fill_xe(a, xo, eo)
    a.expanded_x, a.expanded_row_idx = _addr(ex), _addr(er)
    a.expert_tokens, a.expert_tokens_before_capacity, a.dynamic_quant_scale = _addr(cnt), _addr(bef), _addr(dq)
    outputs = (ex, er, cnt, bef, dq) if quant_mode >= 0 else (ex, er, cnt, bef)
    return _Call("init_routing_v2", a, keep, outputs)


def npu_moe_init_routing_quant(x, expert_idx, *, scale=None, offset=None, active_num=1024, expert_capacity=0,
                               expert_num=256, drop_pad_mode=0, expert_tokens_num_mode=0,
                               expert_tokens_before_capacity_flag=False, quant_mode=1, bf16=False, ctx=None,
                               out=None):
    """torch_npu.npu_moe_init_routing_quant = aclnnMoeInitRoutingQuantV2 on the CPU
    (docs/operators/init_routing_v2.md). expanded_x is int8.

    x [N, H] float16, bfloat16 or float32; expert_idx [N, K] int32. quant_mode 0 static: scale and offset
    float32 [1] (required); quant_mode 1 dynamic: scale None or smooth scales float32 [1, H] or
    [expert_num, H], offset ignored. drop_pad_mode 0 dropless (active_num 0: all N*K rows, > 0: the first
    min(N*K, active_num)), 1 drop and pad (1 <= expert_capacity <= N, expert_num >= 1; active_num ignored).
    expert_tokens_num_mode (dropless): 0 none, 1 inclusive cumsum, 2 count. expert_tokens_before_capacity_flag
    (drop): per-expert counts before dropping. Expert ids must lie in [0, expert_num) where expert_num is
    used (drop mode, counts, [expert_num, H] smooth scales).

    Returns (expanded_x int8 [rows, H] or [expert_num, expert_capacity, H], expanded_row_idx [N*K] int32,
    expert_token_cumsum_or_count [expert_num] int32 or None, expert_tokens_before_capacity [expert_num] int32
    or None, expanded_scale [rows] float32 (dynamic) or None), None where torch_npu returns no tensor. out: a
    5-tuple of arrays to write instead (None entries: new; None where the call has no such output)."""
    api = "npu_moe_init_routing_quant"
    qm = _i64(api, "quant_mode", quant_mode)
    if qm not in (0, 1):
        raise _shape_error(api, "quant_mode must be 0 (static) or 1 (dynamic), got %d", qm)
    return _run(_prepare_v2(api, qm, x, expert_idx, scale, offset, active_num, expert_capacity, expert_num,
                            drop_pad_mode, expert_tokens_num_mode, expert_tokens_before_capacity_flag, bf16, out),
                ctx)


def moe_init_routing_v2(x, expert_idx, *, active_num=0, expert_capacity=0, expert_num=0, drop_pad_mode=0,
                        expert_tokens_count_or_cumsum_flag=0, expert_tokens_before_capacity_flag=False, bf16=False,
                        ctx=None, out=None):
    """aclnnMoeInitRoutingV2 on the CPU (docs/operators/init_routing_v2.md); torch_npu has no function for it,
    so the name and the argument names are aclnn's (snake case), the defaults the operator's (all 0 / False).

    As npu_moe_init_routing_quant without quantization: expanded_x is a copy in x's dtype (bf16 numpy: uint16
    bits with bf16=True). Returns (expanded_x [rows, H] or [expert_num, expert_capacity, H],
    expanded_row_idx [N*K] int32, expert_tokens_count_or_cumsum [expert_num] int32 or None,
    expert_tokens_before_capacity [expert_num] int32 or None); out: a 4-tuple to write instead, as above."""
    return _run(_prepare_v2("moe_init_routing_v2", -1, x, expert_idx, None, None, active_num, expert_capacity,
                            expert_num, drop_pad_mode, expert_tokens_count_or_cumsum_flag,
                            expert_tokens_before_capacity_flag, bf16, out), ctx)


# ---- MoeComputeExpertTokens ---------------------------------------------------------------------------------

def _prepare_cet(sorted_expert_for_source_row, num_expert, out=None):
    api = "npu_moe_compute_expert_tokens"
    s, shape, addr = _side_input("sorted_expert_for_source_row", sorted_expert_for_source_row, "i32")
    if len(shape) != 1:
        raise _shape_error(api, "sorted_expert_for_source_row must be 1-D, got %d dimension%s", len(shape),
                           "" if len(shape) == 1 else "s")
    E = _i64(api, "num_expert", num_expert)
    n = E if 1 <= E <= _INT32_MAX else 0  # refused by the library otherwise
    res = Outputs(sorted_expert_for_source_row, out, 1, api).new((n,), "i32")
    a = _lib.get().ComputeExpertTokensArgs()
    a.length, a.num_experts, a.sorted_experts, a.out = shape[0], E, addr, _addr(res)
    return _Call("compute_expert_tokens", a, [s], res)


def npu_moe_compute_expert_tokens(sorted_expert_for_source_row, num_expert, *, ctx=None, out=None):
    """torch_npu.npu_moe_compute_expert_tokens = aclnnMoeComputeExpertTokens on the CPU
    (docs/operators/compute_expert_tokens.md): out[e] = #{i : sorted[i] <= e} for e in [0, num_expert).

    sorted_expert_for_source_row: 1-D int32, ascending, every value in [0, num_expert) (checked: anything else
    is refused, where the NPU's result is undefined); num_expert >= 1. Returns int32 [num_expert], a torch
    tensor when the input is one, else a numpy array (out: an array to write instead)."""
    return _run(_prepare_cet(sorted_expert_for_source_row, num_expert, out), ctx)


# ---- MoeTokenPermute: npu_moe_token_permute ---------------------------------------------------------------------

def _indices_operand(name, a):
    """int32 or int64 indices [T, k] or [T] (read in place): (operand-like tuple of keep, shape, address, strides,
    is_int64)."""
    if _is_tensor(a):
        torch = _torch()
        if a.device.type != "cpu" or a.layout != torch.strided:
            raise ValueError("%s: only dense CPU tensors are supported" % name)
        if a.dtype not in (torch.int32, torch.int64):
            raise _dtype_error(name, a.dtype, "%s must be torch.int32 or torch.int64" % name)
        t2 = a if a.dim() == 2 else a.reshape(-1, 1)
        return (t2, tuple(int(v) for v in t2.shape), t2.data_ptr() if t2.numel() else None,
                tuple(int(v) for v in t2.stride()), a.dtype == torch.int64)
    a = a if isinstance(a, np.ndarray) else np.asarray(a)
    if not (a.dtype.kind == "i" and a.dtype.itemsize in (4, 8)):
        raise _dtype_error(name, a.dtype, "%s must be int32 or int64" % name)
    if a.ndim not in (1, 2):
        raise _rank_error(name, a.ndim, "[T, k] or [T]")
    a2 = a.reshape(-1, 1) if a.ndim == 1 else a
    if not a2.dtype.isnative or any(st % a2.itemsize for st in a2.strides) or not a2.flags.aligned:
        a2 = np.require(a2, dtype=a2.dtype.newbyteorder("="), requirements="CA")
    return (a2, tuple(int(v) for v in a2.shape), a2.ctypes.data if a2.size else None,
            tuple(int(st) // a2.itemsize for st in a2.strides), a2.itemsize == 8)


def _prepare_permute(tokens, indices, num_out_tokens, padded_mode, bf16, out=None):
    api = "npu_moe_token_permute"
    if padded_mode:
        raise _shape_error(api, "padded_mode must be False (padded mode is not supported)")
    trailing = None
    if (_is_tensor(tokens) and tokens.dim() > 2) or (not _is_tensor(tokens) and np.ndim(tokens) > 2):
        trailing = tuple(int(v) for v in tokens.shape[1:])
        tokens = tokens.reshape(tokens.shape[0], -1)  # a view when the trailing dims collapse, else a copy
    xo = _x_operand("tokens", tokens, bf16, allow_int8=True)
    keep_i, ishape, iaddr, istrides, i64 = _indices_operand("indices", indices)
    T, H = xo.shape
    if ishape[0] != T:
        raise _shape_error(api, "tokens has %d rows but indices has %d (both are T)", T, ishape[0])
    k = ishape[1]
    L = T * k
    n = 0 if num_out_tokens is None else _i64(api, "num_out_tokens", num_out_tokens)
    rows = min(max(n + L if n <= 0 else n, 0), L)
    outs = Outputs(xo, out, 2, api)
    permuted = outs.new((rows,) + trailing if trailing is not None else (rows, H), "x")  # C order: [rows, H] too
    sorted_idx = outs.new((L,), "i32")
    a = _lib.get().TokenPermuteArgs()
    a.num_tokens, a.k, a.hidden, a.num_out_tokens = T, k, H, n
    a.tokens_dtype = xo.dtype_code
    a.tokens = xo.address
    a.tokens_row_stride, a.tokens_col_stride = xo.strides
    a.indices_int64 = 1 if i64 else 0
    a.indices = iaddr
    a.indices_row_stride, a.indices_col_stride = istrides
    a.permuted_tokens, a.sorted_indices = _addr(permuted), _addr(sorted_idx)
    return _Call("token_permute", a, [xo, keep_i], (permuted, sorted_idx))


def npu_moe_token_permute(tokens, indices, num_out_tokens=None, padded_mode=False, *, bf16=False, ctx=None,
                          out=None):
    """torch_npu.npu_moe_token_permute = aclnnMoeTokenPermute on the CPU (docs/operators/token_permute.md).

    tokens [T, ...] float16, bfloat16, float32 or int8 (rows copied bit for bit); indices [T, k] or [T], int32 or
    int64; num_out_tokens None or 0: all T*k rows, > 0: that many, < 0: T*k + num_out_tokens. Returns
    (permuted_tokens [n, ...], sorted_indices int32 [T*k]): torch tensors when tokens is one, else numpy (out: a
    2-tuple to write instead)."""
    return _run(_prepare_permute(tokens, indices, num_out_tokens, padded_mode, bf16, out), ctx)
