"""The Python package (python/moeroute) against the numpy golden model (tests/python/moe_golden.py).

Run by CTest with MOEROUTE_LIB=<libmoeroute.so> and PYTHONPATH=<repo>/python; by hand:
    MOEROUTE_LIB=build/src/libmoeroute.so PYTHONPATH=python python3 -m pytest -q tests/pypkg
Every comparison is byte for byte. torch cases are skipped when torch cannot be imported.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

# pkgtest first: it puts python/ (when moeroute is not installed) and tests/python on sys.path
from pkgtest import ROOT, torch, needs_torch
import moeroute  # noqa: E402
import moe_golden as golden  # noqa: E402

from moeroute import _lib, _routing  # noqa: E402


# ---- inputs -------------------------------------------------------------------------------------------------

SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, -65520.0, 6e-8, -3e-5, 0.5, 1.5, 2.5, -2.5,
                     127.5, -128.5, 1e30, 3.0e38], dtype=np.float64)


def make_x(rng, n, h, dtype):
    """Logical x as the golden model's carrier (float16 / float32 / uint16 bf16 bits)."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = (rng.standard_normal((n, h)) * rng.choice([0.01, 1.0, 30.0, 300.0], size=(n, 1))).astype(np.float64)
        if n * h:
            flat = v.reshape(-1)
            pick = rng.random(flat.size) < 0.1
            flat[pick] = rng.choice(SPECIALS, size=int(pick.sum()))
        if dtype == "f16":
            return v.astype(np.float16)
        if dtype == "f32":
            return v.astype(np.float32)
        return golden.f32_to_bf16_bits_rne(v.astype(np.float32))


def make_case(seed, n=37, k=4, h=19, experts=7, dtype="f16"):
    rng = np.random.default_rng(seed)
    x = make_x(rng, n, h, dtype)
    expert_idx = rng.integers(-2, experts, size=(n, k)).astype(np.int32)  # few ids: many ties
    row_idx = rng.permutation(n * k).astype(np.int32).reshape(n, k)
    return x, row_idx, expert_idx


def expected(quant, x, row_idx, expert_idx, active_num, scale, offset, dtype):
    n, k = expert_idx.shape
    r = golden.canonical_row_idx(n, k) if row_idx is None else row_idx
    if quant:
        return golden.init_routing_quant(x, r, expert_idx, active_num, scale, offset, dtype)
    return golden.init_routing(x, r, expert_idx, active_num)


def call(quant, x, row_idx, expert_idx, active_num, scale=0.0, offset=0.0, **kw):
    if quant:
        return moeroute.moe_init_routing_quant(x, row_idx, expert_idx, active_num, scale, offset, **kw)
    return moeroute.npu_moe_init_routing(x, row_idx, expert_idx, active_num, **kw)


def as_numpy(a):
    """numpy view of an output; bf16 tensors as their uint16 bits."""
    if torch is not None and isinstance(a, torch.Tensor):
        if a.dtype == torch.bfloat16:
            return a.view(torch.int16).numpy().view(np.uint16)
        return a.numpy()
    return np.asarray(a)


def assert_same(got, want):
    names = ("expanded_x", "expanded_row_idx", "expanded_expert_idx")
    for name, g, w in zip(names, got, want):
        g = as_numpy(g)
        assert g.shape == w.shape, (name, g.shape, w.shape)
        assert g.dtype.itemsize == w.dtype.itemsize, (name, g.dtype, w.dtype)
        assert np.ascontiguousarray(g).tobytes() == np.ascontiguousarray(w).tobytes(), name


# ---- numpy inputs against the golden model ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["f16", "f32", "bf16"])
@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
@pytest.mark.parametrize("explicit_row", [True, False], ids=["row_idx", "row_none"])
def test_numpy_matches_golden(dtype, quant, explicit_row):
    for i, (active, scale, offset) in enumerate([(37, 20.0, 0.0), (11, 0.37, -3.25), (0, 1.0, 1.0),
                                                 (100, 1 + 2 ** -11 + 2 ** -40, 0.5)]):
        x, row_idx, expert_idx = make_case(1000 + i, dtype=dtype)
        r = row_idx if explicit_row else None
        got = call(quant, x, r, expert_idx, active, scale, offset, bf16=(dtype == "bf16"))
        assert all(isinstance(o, np.ndarray) for o in got)
        assert got[0].dtype == (np.int8 if quant else x.dtype)
        assert_same(got, expected(quant, x, r, expert_idx, active, scale, offset, dtype))


def test_documented_example():
    """Spec 1.5: x fp32, scale 1, offset 1 -> 24 ones."""
    x = np.array([[.1] * 4, [.2] * 4, [.3] * 4], dtype=np.float32)
    expert_idx = np.array([[1, 2], [0, 1], [0, 2]], dtype=np.int32)
    row_idx = np.array([[0, 3], [1, 4], [2, 5]], dtype=np.int32)
    ex, er, ee = moeroute.moe_init_routing_quant(x, row_idx, expert_idx, 3, 1.0, 1.0)
    assert ex.tolist() == [[1] * 4] * 6
    assert er.tolist() == [2, 0, 1, 4, 3, 5]
    assert ee.tolist() == [0, 0, 1, 1, 2, 2]


def test_row_idx_none_is_canonical_layout():
    x, _, expert_idx = make_case(7, dtype="f32")
    n, k = expert_idx.shape
    a = moeroute.moe_init_routing_quant(x, None, expert_idx, n, 3.0, 0.0)
    b = moeroute.moe_init_routing_quant(x, golden.canonical_row_idx(n, k), expert_idx, n, 3.0, 0.0)
    for u, v in zip(a, b):
        assert u.tobytes() == v.tobytes()


@pytest.mark.parametrize("active", [0, 1, 36, 37, 38, 2 ** 70])
def test_active_num_edges(active):
    x, row_idx, expert_idx = make_case(11, dtype="f16")
    got = moeroute.moe_init_routing_quant(x, row_idx, expert_idx, active, 5.0, 0.0)
    assert got[0].shape == (min(active, 37) * 4, 19)
    assert_same(got, expected(True, x, row_idx, expert_idx, min(active, 37), 5.0, 0.0, "f16"))


@pytest.mark.parametrize("shape", [(0, 4, 5), (5, 0, 3), (4, 3, 0)])
def test_empty(shape):
    n, k, h = shape
    x = np.zeros((n, h), np.float16)
    e = np.zeros((n, k), np.int32)
    got = moeroute.moe_init_routing_quant(x, None, e, n, 1.0, 0.0)
    assert got[0].shape == (n * k, h) and got[1].shape == (n * k,)
    assert_same(got, expected(True, x, None, e, n, 1.0, 0.0, "f16"))


# ---- strided and transposed numpy inputs -----------------------------------------------------------------

def _layouts(a):
    """Views of the logical 2-D array a with other memory layouts (value-equal to a)."""
    n, m = a.shape
    yield "fortran", np.asfortranarray(a)
    yield "transposed", np.ascontiguousarray(a.T).T
    big = np.zeros((2 * n + 1, 3 * m + 2), dtype=a.dtype)
    big[1::2, 2::3] = a
    yield "stepped", big[1::2, 2::3]
    rev = np.ascontiguousarray(a[::-1, ::-1])
    yield "negative", rev[::-1, ::-1]


@pytest.mark.parametrize("dtype", ["f16", "f32", "bf16"])
@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
def test_numpy_strided_inputs(dtype, quant):
    x, row_idx, expert_idx = make_case(21, n=23, k=3, h=17, dtype=dtype)
    want = expected(quant, x, row_idx, expert_idx, 23, 9.5, -1.0, dtype)
    for (lx, xv), (le, ev), (lr, rv) in zip(_layouts(x), _layouts(expert_idx), _layouts(row_idx)):
        assert not xv.flags.c_contiguous
        got = call(quant, xv, rv, ev, 23, 9.5, -1.0, bf16=(dtype == "bf16"))
        assert_same(got, want)


def test_numpy_broadcast_rows():
    """Zero strides: every token row is the same row of memory."""
    rng = np.random.default_rng(5)
    row = make_x(rng, 1, 13, "f32")
    x = np.broadcast_to(row, (9, 13))
    assert x.strides[0] == 0
    e = rng.integers(0, 3, size=(9, 2)).astype(np.int32)
    got = moeroute.moe_init_routing_quant(x, None, e, 9, 2.0, 0.0)
    assert_same(got, expected(True, np.ascontiguousarray(x), None, e, 9, 2.0, 0.0, "f32"))


def test_big_endian_input_is_converted():
    x, row_idx, expert_idx = make_case(31, dtype="f32")
    got = moeroute.moe_init_routing_quant(x.astype(">f4"), row_idx.astype(">i4"), expert_idx, 37, 4.0, 0.0)
    assert_same(got, expected(True, x, row_idx, expert_idx, 37, 4.0, 0.0, "f32"))


# ---- torch inputs -------------------------------------------------------------------------------------------

def to_torch(a, dtype):
    if dtype == "bf16":
        return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(a.copy())


@needs_torch
@pytest.mark.parametrize("dtype", ["f16", "f32", "bf16"])
@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
@pytest.mark.parametrize("explicit_row", [True, False], ids=["row_idx", "row_none"])
def test_torch_matches_golden(dtype, quant, explicit_row):
    x, row_idx, expert_idx = make_case(2000, dtype=dtype)
    tx = to_torch(x, dtype)
    assert tx.dtype == {"f16": torch.float16, "f32": torch.float32, "bf16": torch.bfloat16}[dtype]
    tr = torch.from_numpy(row_idx) if explicit_row else None
    got = call(quant, tx, tr, torch.from_numpy(expert_idx), 30, 7.25, 0.5)
    assert all(isinstance(o, torch.Tensor) for o in got)
    assert got[0].dtype == (torch.int8 if quant else tx.dtype)
    assert got[1].dtype == torch.int32 and got[2].dtype == torch.int32
    assert_same(got, expected(quant, x, row_idx if explicit_row else None, expert_idx, 30, 7.25, 0.5, dtype))


@needs_torch
@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_torch_strided_inputs(dtype):
    x, row_idx, expert_idx = make_case(2100, n=29, k=5, h=11, dtype=dtype)
    want = expected(True, x, row_idx, expert_idx, 29, 3.0, 0.0, dtype)
    tx = to_torch(np.ascontiguousarray(x.T), dtype).t()  # transposed view
    wide = torch.zeros((29, 11 * 3), dtype=tx.dtype)
    wide[:, ::3] = to_torch(x, dtype)
    sx = wide[:, ::3]
    te = torch.from_numpy(np.ascontiguousarray(expert_idx.T)).t()
    tr = torch.from_numpy(np.ascontiguousarray(row_idx.T)).t()
    for xv in (tx, sx):
        assert not xv.is_contiguous()
        assert_same(moeroute.moe_init_routing_quant(xv, tr, te, 29, 3.0, 0.0), want)


@needs_torch
def test_torch_expanded_rows():
    """expand(): stride 0 over the token dimension."""
    row = to_torch(make_x(np.random.default_rng(3), 1, 8, "bf16"), "bf16")
    tx = row.expand(6, 8)
    assert tx.stride(0) == 0
    e = torch.tensor([[2, 1], [0, 0], [1, 2], [2, 2], [0, 1], [1, 0]], dtype=torch.int32)
    want = expected(False, np.repeat(as_numpy(row), 6, axis=0), None, e.numpy(), 6, 0, 0, "bf16")
    assert_same(moeroute.npu_moe_init_routing(tx, None, e, 6), want)


# ---- zero copy ---------------------------------------------------------------------------------------------

def test_contiguous_numpy_is_passed_in_place():
    x, row_idx, expert_idx = make_case(41, dtype="f16")
    c = _routing._prepare(True, x, row_idx, expert_idx, 37, 1.0, 0.0, False)
    assert c.args.x == x.ctypes.data
    assert (c.args.x_row_stride, c.args.x_col_stride) == (19, 1)
    assert c.args.expert_idx == expert_idx.ctypes.data
    assert c.args.row_idx == row_idx.ctypes.data
    # the outputs the call writes are the arrays it returns
    assert c.args.expanded_x == c.outputs[0].ctypes.data
    assert c.args.expanded_row_idx == c.outputs[1].ctypes.data
    assert c.args.expanded_expert_idx == c.outputs[2].ctypes.data
    assert _routing._run(c, None) is c.outputs


def test_strided_numpy_is_passed_in_place():
    x, row_idx, expert_idx = make_case(42, dtype="f32")
    xt = np.asfortranarray(x)
    c = _routing._prepare(False, xt, None, expert_idx, 37, 0, 0, False)
    assert c.args.x == xt.ctypes.data
    assert (c.args.x_row_stride, c.args.x_col_stride) == (1, 37)
    assert not c.args.row_idx  # None -> NULL: the canonical layout
    rev = x[::-1]
    c = _routing._prepare(False, rev, None, expert_idx, 37, 0, 0, False)
    assert c.args.x == rev.ctypes.data and c.args.x_row_stride == -19


@needs_torch
def test_torch_is_passed_in_place():
    x, row_idx, expert_idx = make_case(43, dtype="bf16")
    tx = to_torch(x, "bf16")
    te = torch.from_numpy(expert_idx)
    c = _routing._prepare(True, tx, None, te, 37, 1.0, 0.0, False)
    assert c.args.x == tx.data_ptr() and c.args.expert_idx == te.data_ptr()
    sub = tx[3:, 2:]  # storage offset: element (0, 0) is not the storage start
    c = _routing._prepare(True, sub, None, te[3:], 34, 1.0, 0.0, False)
    assert c.args.x == sub.data_ptr() == tx.data_ptr() + (3 * 19 + 2) * 2
    assert (c.args.x_row_stride, c.args.x_col_stride) == (19, 1)


# ---- errors ----------------------------------------------------------------------------------------------

def test_non_permutation_row_idx():
    x, row_idx, expert_idx = make_case(51, dtype="f16")
    bad = row_idx.copy()
    bad[2, 1] = bad[0, 0]
    with pytest.raises(moeroute.MoerouteError) as ei:
        moeroute.moe_init_routing_quant(x, bad, expert_idx, 37, 1.0, 0.0)
    assert ei.value.status == _lib.MOEROUTE_ERR_INVALID_VALUE
    assert ei.value.status_name == "MOEROUTE_ERR_INVALID_VALUE"
    assert "permutation" in ei.value.message and "rowIdx[2][1]" in ei.value.message
    bad = row_idx.copy()
    bad[0, 0] = 37 * 4
    with pytest.raises(moeroute.MoerouteError, match="permutation"):
        moeroute.npu_moe_init_routing(x, bad, expert_idx, 37)


def test_negative_active_num_gives_library_message():
    x, row_idx, expert_idx = make_case(52, dtype="f32")
    with pytest.raises(moeroute.MoerouteError) as ei:
        moeroute.npu_moe_init_routing(x, row_idx, expert_idx, -1)
    assert ei.value.status == _lib.MOEROUTE_ERR_INVALID_SHAPE
    assert "activeNum" in ei.value.message and "-1" in ei.value.message


@pytest.mark.parametrize("what", ["x_f64", "x_i32", "x_u16_without_flag", "f16_with_bf16_flag", "expert_i64",
                                  "row_u32"])
def test_wrong_dtype(what):
    x, row_idx, expert_idx = make_case(53, dtype="f16")
    kw = {}
    if what == "x_f64":
        x = x.astype(np.float64)
    elif what == "x_i32":
        x = np.zeros(x.shape, np.int32)
    elif what == "x_u16_without_flag":
        x = x.view(np.uint16)
    elif what == "f16_with_bf16_flag":
        kw["bf16"] = True
    elif what == "expert_i64":
        expert_idx = expert_idx.astype(np.int64)
    elif what == "row_u32":
        row_idx = row_idx.astype(np.uint32)
    with pytest.raises(moeroute.MoerouteError) as ei:
        moeroute.moe_init_routing_quant(x, row_idx, expert_idx, 37, 1.0, 0.0, **kw)
    assert ei.value.status == _lib.MOEROUTE_ERR_INVALID_DTYPE
    assert "dtype" in ei.value.message


@needs_torch
def test_wrong_torch_dtype_and_device():
    x, _, expert_idx = make_case(54, dtype="f32")
    with pytest.raises(moeroute.MoerouteError, match="int32"):
        moeroute.npu_moe_init_routing(torch.from_numpy(x), None, torch.from_numpy(expert_idx).long(), 37)
    with pytest.raises(moeroute.MoerouteError, match="float64"):
        moeroute.npu_moe_init_routing(torch.from_numpy(x).double(), None, torch.from_numpy(expert_idx), 37)
    with pytest.raises(ValueError, match="CPU"):
        moeroute.npu_moe_init_routing(torch.empty((2, 2), device="meta"), None,
                                      torch.zeros((2, 1), dtype=torch.int32), 2)


def test_shapes():
    x, row_idx, expert_idx = make_case(55, dtype="f16")
    with pytest.raises(moeroute.MoerouteError) as ei:
        moeroute.npu_moe_init_routing(x[:-1], row_idx, expert_idx, 37)
    assert ei.value.status == _lib.MOEROUTE_ERR_INVALID_SHAPE and "rows" in ei.value.message
    with pytest.raises(moeroute.MoerouteError, match="row_idx has shape"):
        moeroute.npu_moe_init_routing(x, row_idx[:, :2], expert_idx, 37)
    with pytest.raises(moeroute.MoerouteError, match="2-D"):
        moeroute.npu_moe_init_routing(x.reshape(-1), None, expert_idx, 37)
    with pytest.raises(TypeError):
        moeroute.npu_moe_init_routing(x, None, expert_idx, 3.5)


# ---- contexts, versions, loading ---------------------------------------------------------------------------

def test_context_results_identical():
    x, row_idx, expert_idx = make_case(61, n=200, k=8, h=64, experts=16, dtype="bf16")
    want = expected(True, x, row_idx, expert_idx, 150, 11.0, 2.0, "bf16")
    for threads, isa in [(1, "scalar"), (2, "auto"), (0, "auto")]:
        with moeroute.Context(num_threads=threads, isa=isa) as ctx:
            assert ctx.num_threads >= 1 and ctx.isa in ("scalar", "avx2", "avx512", "neon")
            if isa == "scalar":
                assert ctx.isa == "scalar"
            for _ in range(2):  # the scratch is reused
                assert_same(moeroute.moe_init_routing_quant(x, row_idx, expert_idx, 150, 11.0, 2.0, bf16=True,
                                                           ctx=ctx), want)
    ctx = moeroute.Context()
    ctx.close()
    with pytest.raises(ValueError, match="closed"):
        moeroute.npu_moe_init_routing(x, None, expert_idx, 1, bf16=True, ctx=ctx)


def test_context_invalid_option():
    with pytest.raises(moeroute.MoerouteError) as ei:
        moeroute.Context(num_threads=-1)
    assert ei.value.status == _lib.MOEROUTE_ERR_INVALID_OPTION and "num_threads" in ei.value.message
    with pytest.raises(ValueError):
        moeroute.Context(isa="sse9")


def test_versions_agree():
    with open(os.path.join(ROOT, "include", "moeroute", "moeroute.h")) as f:
        h = f.read()
    ver = ".".join(re.search(r"#define MOEROUTE_VERSION_%s +(\d+)" % p, h).group(1)
                   for p in ("MAJOR", "MINOR", "PATCH"))
    assert moeroute.__version__ == ver
    assert moeroute.library_version() == ver
    assert moeroute.detected_isa() in ("scalar", "avx2", "avx512", "neon")


def _child_env(**kw):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python")
    env.update(kw)
    return env


def test_import_without_library_and_error_at_call():
    code = ("import moeroute, numpy as np\n"
            "try:\n"
            "    moeroute.npu_moe_init_routing(np.zeros((1, 1), np.float16), None, np.zeros((1, 1), np.int32), 1)\n"
            "except moeroute.MoerouteLibraryError as e:\n"
            "    print('ERR', e)\n")
    r = subprocess.run([sys.executable, "-c", code], env=_child_env(MOEROUTE_LIB="/nonexistent/libmoeroute.so"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ERR MOEROUTE_LIB=/nonexistent/libmoeroute.so cannot be loaded" in r.stdout


def test_readme_examples(tmp_path):
    """The ```python blocks of python/README.md, each run as written in a fresh interpreter."""
    with open(os.path.join(ROOT, "python", "README.md")) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) >= 4
    for block in blocks:
        if "import torch" in block and torch is None:
            continue
        r = subprocess.run([sys.executable, "-c", block], env=_child_env(), capture_output=True, text=True,
                           timeout=120, cwd=str(tmp_path))
        assert r.returncode == 0, "block:\n%s\nstderr:\n%s" % (block, r.stderr)


def test_python_m_moeroute_runs_the_cli_or_says_why_not(tmp_path):
    """python -m moeroute execs the bundled CLI (a wheel's moeroute/bin/moeroute) or $MOEROUTE_CLI; the source
    tree has no bundled one, so without MOEROUTE_CLI it exits 3 with one message (check_wheel.py runs a real one)."""
    env = _child_env()
    env.pop("MOEROUTE_CLI", None)
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([sys.executable, "-m", "moeroute", "--help"], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path))
    assert r.returncode == 3 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    assert len(r.stderr.splitlines()) == 1 and "no bundled command-line tool" in r.stderr, r.stderr
    env["MOEROUTE_CLI"] = "/bin/echo"  # exec'd with the arguments as given
    r = subprocess.run([sys.executable, "-m", "moeroute", "info", "--x=a b"], env=env, capture_output=True,
                       text=True, timeout=60, cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout == "info --x=a b\n", (r.returncode, r.stdout, r.stderr)
    env["MOEROUTE_CLI"] = str(tmp_path / "missing")
    r = subprocess.run([sys.executable, "-m", "moeroute"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and "cannot run" in r.stderr and "missing" in r.stderr, r.stderr
