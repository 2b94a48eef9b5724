"""The moeroute CLI's grouped-matmul commands (grouped-matmul, grouped-matmul-swiglu-quant) against the numpy
models of tests/python/grouped_matmul_golden.py and gmm_swiglu_quant_golden.py, byte for byte: every dtype row
of grouped-matmul, cumsum / count / key-value group lists, Fortran-order x, FRACTAL_NZ weights (--weight-nz)
giving the ND bytes, and the refusals with the documented exit statuses (cli/README.md).

MOEROUTE_CLI is the built binary (CTest sets it); by hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli/test_cli_gmm.py
"""

import numpy as np
import pytest

# cli_common first: it puts tests/python (the golden models) on sys.path
from cli_common import CLI, IO, REFUSED, USAGE, needs_cli, run
import grouped_matmul_golden as gg  # noqa: E402
from gmm_swiglu_quant_golden import model, nz_pack  # noqa: E402

pytestmark = needs_cli


def _same(a, b):
    return np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


# (x kind, scale kind): float rows, int8 -> int32, int8 W8A8 with a float32 (-> fp16) or bf16 (-> bf16) scale
ROWS = [("f16", None), ("bf16", None), ("f32", None), ("i8", None), ("i8", "f32"), ("i8", "bf16")]


@pytest.mark.parametrize("i", range(len(ROWS) * 2))
def test_grouped_matmul(tmp_path, i):
    xk, sk = ROWS[i % len(ROWS)]
    rng = np.random.default_rng(300 + i)
    nz = xk == "i8" and i >= len(ROWS)
    m, k, n, e = 11, 20, 64 if nz and not sk else 40, 3  # an NZ weight without a scale gives N = 32 * N1
    ltype = i % 3
    counts = np.array([4, 0, 5])                       # 9 of 11 rows: the last 2 stay zero
    gl = np.cumsum(counts) if ltype == 0 else counts if ltype == 1 else np.stack([[2, 0, 1], counts], 1)
    grp = gg.groups(gl, ltype, m, e)
    if xk == "i8":
        x = rng.integers(-128, 128, (m, k)).astype(np.int8)
        w = rng.integers(-128, 128, (e, k, n)).astype(np.int8)
    else:
        x32 = (np.round(rng.normal(size=(m, k)) * 64) / 64).astype(np.float32)
        w32 = (np.round(rng.normal(size=(e, k, n)) * 64) / 64).astype(np.float32)
        x, w = gg.narrow(x32, xk), gg.narrow(w32, xk)
    args = ["grouped-matmul", "--x", tmp_path / "x.npy", "--weight", tmp_path / "w.npy", "--group-list",
            tmp_path / "g.npy", "--group-list-type", ltype, "--out", tmp_path / "o", "--threads", 1 + i % 3]
    np.save(tmp_path / "x.npy", np.asfortranarray(x) if i % 2 else x)
    np.save(tmp_path / "g.npy", np.asarray(gl, np.int64))
    np.save(tmp_path / "w.npy", nz_pack(w) if nz else w)
    if nz:
        args.append("--weight-nz")
    if xk == "bf16" or sk == "bf16":
        args.append("--bf16")
    scale = pts = None
    if sk:
        s32 = (rng.random((e, n)) * 0.01).astype(np.float32)
        scale = gg.bf16_to_f32(gg.f32_to_bf16(s32)) if sk == "bf16" else s32
        pts = (rng.random(m) + 0.5).astype(np.float32)
        np.save(tmp_path / "s.npy", gg.f32_to_bf16(s32) if sk == "bf16" else s32)
        np.save(tmp_path / "p.npy", pts)
        args += ["--scale", tmp_path / "s.npy", "--per-token-scale", tmp_path / "p.npy"]
    r = run(*args)
    assert r.returncode == 0, r.stderr
    got = np.load(tmp_path / "o" / "out.npy")
    if xk == "i8":
        odt = "i32" if not sk else "bf16" if sk == "bf16" else "f16"
        want = np.zeros((m, n), {"i32": np.int32, "bf16": np.uint16, "f16": np.float16}[odt])
        gg.int8_model(x, w, grp, None, scale, pts, odt, want)
    else:
        want = np.zeros((m, n), {"f16": np.float16, "bf16": np.uint16, "f32": np.float32}[xk])
        gg.float_model(gg.widen(x, xk), gg.widen(w, xk), grp, None, xk, want)
    assert got.shape == want.shape and _same(got, want)


def _cli_silu(tmp_path, a):
    """The library's SiLU via 'moeroute swiglu' on [a | 1] (silu(a) * 1 is exact)."""
    a = np.asarray(a, np.float32).reshape(-1)
    if a.size == 0:
        return a.copy()
    np.save(tmp_path / "sx.npy", np.concatenate([a, np.ones_like(a)])[None, :])
    r = run("swiglu", "--x", tmp_path / "sx.npy", "--out", tmp_path / "so")
    assert r.returncode == 0, r.stderr
    return np.load(tmp_path / "so" / "out.npy").reshape(-1)


@pytest.mark.parametrize("nz", [False, True])
def test_grouped_matmul_swiglu_quant(tmp_path, nz):
    rng = np.random.default_rng(7)
    m, k, n, e = 6, 24, 36, 2
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    w = rng.integers(-128, 128, (e, k, n)).astype(np.int8)
    ends = np.array([2, 5], np.int64)                  # row 5 stays zero
    ws = (rng.random((e, n)) * 0.002).astype(np.float32)
    xs = (rng.random(m) * 0.05).astype(np.float32)
    for name, a in (("x", x), ("w", nz_pack(w) if nz else w), ("g", ends), ("s", ws), ("a", xs)):
        np.save(tmp_path / (name + ".npy"), a)
    args = ["grouped-matmul-swiglu-quant", "--x", tmp_path / "x.npy", "--weight", tmp_path / "w.npy",
            "--group-list", tmp_path / "g.npy", "--weight-scale", tmp_path / "s.npy", "--x-scale",
            tmp_path / "a.npy", "--out", tmp_path / "o"]
    r = run(*(args + (["--weight-nz"] if nz else [])))
    assert r.returncode == 0, r.stderr
    want_y, want_s, written = model(x, w, ends, ws, xs, lambda a: _cli_silu(tmp_path, a))
    y, s = np.load(tmp_path / "o" / "y.npy"), np.load(tmp_path / "o" / "scale.npy")
    assert y.shape == (m, n // 2) and s.shape == (m,)
    assert _same(y, want_y) and _same(s, want_s) and written == 5


def test_refusals(tmp_path):
    x = np.zeros((4, 8), np.int8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", np.zeros((2, 8, 6), np.int8))
    np.save(tmp_path / "w5.npy", np.zeros((2, 8, 5), np.int8))
    np.save(tmp_path / "wk.npy", np.zeros((2, 7, 6), np.int8))
    np.save(tmp_path / "g.npy", np.array([1, 3], np.int64))
    np.save(tmp_path / "gbad.npy", np.array([3, 1], np.int64))
    np.save(tmp_path / "g32.npy", np.array([1, 3], np.int32))
    np.save(tmp_path / "s.npy", np.ones((2, 6), np.float32))
    np.save(tmp_path / "a.npy", np.ones(4, np.float32))
    np.save(tmp_path / "f.npy", np.zeros((4, 8), np.float32))
    o = tmp_path / "o"
    gsq = ["grouped-matmul-swiglu-quant", "--x", tmp_path / "x.npy", "--weight-scale", tmp_path / "s.npy",
           "--x-scale", tmp_path / "a.npy", "--out", o]
    gl = ["--group-list", tmp_path / "g.npy"]
    gmm = ["grouped-matmul", "--x", tmp_path / "x.npy", "--weight", tmp_path / "w.npy", "--out", o]
    cases = [
        (USAGE, gmm[:-2]),                                                          # no --out
        (USAGE, gmm + ["--group-list-type", "5"]),
        (USAGE, gsq + gl),                                                          # no --weight
        (REFUSED, gmm),                                                             # E = 2 and no group list
        (REFUSED, gmm + ["--group-list", tmp_path / "gbad.npy"]),                   # decreasing cumsum
        (REFUSED, ["grouped-matmul", "--x", tmp_path / "x.npy", "--weight", tmp_path / "wk.npy", "--out", o]),
        (IO, gmm + ["--group-list", tmp_path / "g32.npy"]),                         # int32 list
        (IO, ["grouped-matmul", "--x", tmp_path / "f.npy", "--weight", tmp_path / "w.npy", "--out", o]),
        (REFUSED, gmm + ["--weight-nz", "--group-list", tmp_path / "g.npy"]),      # not the NZ shape
        (REFUSED, gsq + gl + ["--weight", tmp_path / "w5.npy"]),                    # N differs from weight-scale
        (REFUSED, gsq + ["--weight", tmp_path / "w.npy", "--group-list", tmp_path / "gbad.npy"]),
        (IO, gsq[:1] + ["--x", tmp_path / "f.npy"] + gsq[3:] + gl + ["--weight", tmp_path / "w.npy"]),
        (REFUSED, gsq + gl + ["--weight", tmp_path / "w.npy", "--x-scale", tmp_path / "s.npy"][:2]
         + ["--weight-nz"]),                                                        # not the NZ shape
    ]
    for want, args in cases:
        r = run(*args)
        assert r.returncode == want, (args, r.returncode, r.stderr)
        assert not o.exists(), "a refused call wrote its output directory"
