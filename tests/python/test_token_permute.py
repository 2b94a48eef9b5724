"""aclnnMoeTokenPermute against an independent numpy model of layer spec 2.3 (stable sort of the flat
positions by index, inverse permutation, bit copies of the first n rows), over dtypes, ranks, 1-D and 2-D,
INT32 and INT64 indices, numOutTokens 0 / positive / negative, strided views; and its refusals."""
import ctypes

import numpy as np
import pytest

import moeroute_ctypes as mr
from moe_testenv import case_scale

_vp = ctypes.c_void_p


def _bind(lib):
    if not hasattr(lib, "permute_ws"):
        f = lib.dll.aclnnMoeTokenPermuteGetWorkspaceSize
        f.restype = ctypes.c_int32
        f.argtypes = [_vp, _vp, ctypes.c_int64, ctypes.c_bool, _vp, _vp, ctypes.POINTER(ctypes.c_uint64),
                      ctypes.POINTER(_vp)]
        g = lib.dll.aclnnMoeTokenPermute
        g.restype = ctypes.c_int32
        g.argtypes = [_vp, ctypes.c_uint64, _vp, _vp]
        lib.permute_ws, lib.permute_run = f, g
    return lib


def model(tokens, indices, num_out):
    """(permuted rows [n, ...], sorted_indices [L]) of layer spec 2.3."""
    T = tokens.shape[0]
    flat = indices.reshape(-1)
    L = flat.size
    n = num_out + L if num_out <= 0 else num_out
    n = min(max(n, 0), L)
    perm = np.argsort(flat, kind="stable")
    k = indices.shape[1] if indices.ndim == 2 else 1
    sorted_idx = np.empty(L, np.int32)
    sorted_idx[perm] = np.arange(L, dtype=np.int32)
    return tokens[perm[:n] // k], sorted_idx


def run(lib, tokens_np, indices_np, num_out, padded=False, out_shape=None, strided=False):
    """Run the operator on copies; returns (status, permuted, sorted, outputs) with guarded outputs."""
    lib = _bind(lib)
    T = tokens_np.shape[0]
    L = indices_np.size
    n_model = model(tokens_np, indices_np, num_out)[0].shape[0] if T else 0
    if strided:  # tokens as a transposed-storage view: storage [H..., T] read through strides
        store = np.ascontiguousarray(np.moveaxis(tokens_np, 0, -1))
        strides = [1] + [int(s // tokens_np.itemsize) for s in store.strides[:-1]]
        t = lib.create_tensor(tokens_np.shape, DT[tokens_np.dtype.str], strides=strides, storage_dims=[store.size],
                              data=store)
    else:
        store = np.ascontiguousarray(tokens_np)
        t = lib.create_tensor(tokens_np.shape, DT[tokens_np.dtype.str], storage_dims=[max(store.size, 0)], data=store)
    idx = np.ascontiguousarray(indices_np)
    i = lib.create_tensor(idx.shape, DT[idx.dtype.str], data=idx)
    oshape = out_shape if out_shape is not None else (n_model,) + tokens_np.shape[1:]
    out = mr.GuardedOutput(oshape, tokens_np.dtype)
    srt = mr.GuardedOutput((L,), np.int32)
    o = lib.create_tensor(oshape, DT[tokens_np.dtype.str], data=out.address)
    s = lib.create_tensor((L,), mr.ACL_INT32, data=srt.address)
    ws, exe = ctypes.c_uint64(0), _vp(None)
    st = lib.permute_ws(t, i, int(num_out), padded, o, s, ctypes.byref(ws), ctypes.byref(exe))
    if st == 0:
        buf = np.zeros(max(ws.value, 1), np.uint8)
        st = lib.permute_run(buf.ctypes.data, ws.value, exe, None)
    lib.destroy_tensors(t, i, o, s)
    return st, out, srt


DT = {"<f2": mr.ACL_FLOAT16, "<f4": mr.ACL_FLOAT, "|i1": mr.ACL_INT8, "<i4": mr.ACL_INT32, "<i8": mr.ACL_INT64,
      "<u2": mr.ACL_BF16}


def test_documented_example(lib):
    tokens = np.array([[0.1] * 4, [0.2] * 4, [0.3] * 4], np.float32)
    indices = np.array([[1, 2], [0, 1], [0, 2]], np.int32)
    st, out, srt = run(lib, tokens, indices, 0)
    assert st == 0, lib.recent_err_msg()
    assert srt.array().tolist() == [2, 4, 0, 3, 1, 5]
    assert np.array_equal(out.array(), tokens[[1, 2, 0, 1, 0, 2]])
    st, out, srt = run(lib, tokens, indices, -2)  # 6 - 2 = 4 rows
    assert st == 0 and out.array().shape == (4, 4) and np.array_equal(out.array(), tokens[[1, 2, 0, 1]])


@pytest.mark.parametrize("index", range(max(1, int(round(120 * case_scale())))))
def test_random(lib, seed, index):
    rng = np.random.default_rng([seed, 77, index])
    T, k = int(rng.integers(0, 40)), int(rng.integers(1, 6))
    trailing = [int(v) for v in rng.integers(1, 6, size=int(rng.integers(1, 3)))]
    dtype = rng.choice(["<f2", "<f4", "|i1", "<u2"])
    tokens = rng.integers(0, 2 ** 15, size=[T] + trailing).astype(np.dtype(dtype))
    one_d = k == 1 and rng.random() < 0.5
    itype = np.int64 if rng.random() < 0.4 else np.int32
    indices = rng.integers(-3, 9, size=(T,) if one_d else (T, k)).astype(itype)
    L = indices.size
    num_out = int(rng.choice([0, int(rng.integers(1, L + 3)) if L else 1, -int(rng.integers(0, L + 3))]))
    st, out, srt = run(lib, tokens, indices, num_out, strided=bool(rng.random() < 0.3))
    assert st == 0, lib.recent_err_msg()
    want_rows, want_sorted = model(tokens, indices, num_out)
    assert np.array_equal(srt.array(), want_sorted)
    assert out.array().tobytes() == want_rows.tobytes()
    assert out.guards_intact() and srt.guards_intact()


@pytest.mark.parametrize("case,status", [
    ("padded", 561002), ("rank1_tokens", 561002), ("rows_differ", 561002), ("out_rows", 561002),
    ("out_trailing", 561002), ("sorted_len", 561002), ("int64_out_of_int32", 161002),
])
def test_refusals(lib, case, status):
    tokens = np.arange(24, dtype=np.float32).reshape(6, 4)
    indices = np.array([[1, 0], [2, 1], [0, 0], [1, 1], [2, 2], [0, 1]], np.int32)
    kw = {}
    if case == "padded":
        kw["padded"] = True
    elif case == "rank1_tokens":
        tokens = tokens.reshape(-1)[:6].copy()
        indices = indices[:, 0].copy()
        kw["out_shape"] = (6,)
    elif case == "rows_differ":
        indices = indices[:5].copy()
    elif case == "out_rows":
        kw["out_shape"] = (11, 4)
    elif case == "out_trailing":
        kw["out_shape"] = (12, 3)
    elif case == "sorted_len":
        pass
    elif case == "int64_out_of_int32":
        indices = indices.astype(np.int64)
        indices[3, 1] = 2 ** 40
    if case == "sorted_len":
        lib = _bind(lib)
        t = lib.create_tensor(tokens.shape, mr.ACL_FLOAT, data=tokens)
        i = lib.create_tensor(indices.shape, mr.ACL_INT32, data=indices)
        out = mr.GuardedOutput((12, 4), np.float32)
        srt = mr.GuardedOutput((11,), np.int32)
        o = lib.create_tensor((12, 4), mr.ACL_FLOAT, data=out.address)
        s = lib.create_tensor((11,), mr.ACL_INT32, data=srt.address)
        ws, exe = ctypes.c_uint64(0), _vp(None)
        st = lib.permute_ws(t, i, 0, False, o, s, ctypes.byref(ws), ctypes.byref(exe))
        lib.destroy_tensors(t, i, o, s)
    else:
        st, out, srt = run(lib, tokens, indices, 0, **kw)
    assert st == status
    msg = lib.recent_err_msg()
    assert msg, "no message"
    assert out.untouched() and srt.untouched()
