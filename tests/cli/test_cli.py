"""The moeroute CLI (cli/) on .npy files written by numpy, against the golden model (tests/python/moe_golden.py).

MOEROUTE_CLI is the built binary (CTest sets it); by hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli
Checks: results byte for byte, every documented exit status with a message on stderr, --help of every
command, info, bench, and the examples of cli/README.md run as written.
"""

import io
import os
import re
import struct
import subprocess

import numpy as np
import pytest

# cli_common first: it puts tests/python (the golden models) on sys.path
from cli_common import (CLI, IO, OK, REFUSED, ROOT, USAGE, cli_env, needs_cli, readme_blocks, run,
                        run_readme_blocks)
import moe_golden as golden  # noqa: E402


pytestmark = needs_cli


def save(path, a, version=None):
    if version is None:
        np.save(path, a)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, a, version=version)
    return path


def make_case(seed, n=21, k=3, h=10, dtype="f16", experts=5):
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore", invalid="ignore"):
        v = rng.standard_normal((n, h)) * 40.0
        v.reshape(-1)[::7] = np.array([np.inf, -np.nan, 0.5, -2.5, 1e-6, 70000.0])[
            np.arange(len(v.reshape(-1)[::7])) % 6]
        x = {"f16": lambda: v.astype(np.float16), "f32": lambda: v.astype(np.float32),
             "bf16": lambda: golden.f32_to_bf16_bits_rne(v.astype(np.float32))}[dtype]()
    e = rng.integers(-1, experts, size=(n, k)).astype(np.int32)
    r = rng.permutation(n * k).astype(np.int32).reshape(n, k)
    return x, r, e


def outputs(d):
    return tuple(np.load(os.path.join(d, name + ".npy"))
                 for name in ("expanded_x", "expanded_row_idx", "expanded_expert_idx"))


def assert_same(got, want):
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype.itemsize == w.dtype.itemsize
        assert g.tobytes() == np.ascontiguousarray(w).tobytes()


# ---- results ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["f16", "f32", "bf16"])
@pytest.mark.parametrize("quant", [True, False], ids=["quant", "copy"])
@pytest.mark.parametrize("explicit_row", [True, False], ids=["row_idx", "row_none"])
def test_matches_golden(tmp_path, dtype, quant, explicit_row):
    x, r, e = make_case(100, dtype=dtype)
    n, k = e.shape
    args = ["init-routing-quant" if quant else "init-routing", "--x", save(tmp_path / "x.npy", x),
            "--expert-idx", save(tmp_path / "e.npy", e), "--active-num", 15, "--out", tmp_path / "out"]
    if explicit_row:
        args += ["--row-idx", save(tmp_path / "r.npy", r)]
    if dtype == "bf16":
        args += ["--x-bf16"]
    if quant:
        args += ["--scale", "0.37", "--offset", "-1.5"]
    res = run(*args)
    assert res.returncode == OK, res.stderr
    assert res.stdout == "" and res.stderr == ""
    rr = r if explicit_row else golden.canonical_row_idx(n, k)
    want = (golden.init_routing_quant(x, rr, e, 15, 0.37, -1.5, dtype) if quant
            else golden.init_routing(x, rr, e, 15))
    got = outputs(tmp_path / "out")
    assert got[0].dtype == (np.int8 if quant else x.dtype)
    assert_same(got, want)
    # the files are what np.save writes (format 1.0, same header and padding)
    for name, a in zip(("expanded_x", "expanded_row_idx", "expanded_expert_idx"), got):
        buf = io.BytesIO()
        np.save(buf, a)
        assert (tmp_path / "out" / (name + ".npy")).read_bytes() == buf.getvalue()


def test_documented_example(tmp_path):
    x = np.array([[.1] * 4, [.2] * 4, [.3] * 4], dtype=np.float32)
    e = np.array([[1, 2], [0, 1], [0, 2]], dtype=np.int32)
    r = np.array([[0, 3], [1, 4], [2, 5]], dtype=np.int32)
    res = run("init-routing-quant", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e),
              "--row-idx", save(tmp_path / "r.npy", r), "--active-num=3", "--scale=1", "--offset=1",
              "--out", tmp_path / "o", "-v")
    assert res.returncode == OK, res.stderr
    assert res.stdout.count("wrote ") == 3
    ex, er, ee = outputs(tmp_path / "o")
    assert ex.tolist() == [[1] * 4] * 6 and er.tolist() == [2, 0, 1, 4, 3, 5] and ee.tolist() == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("layout", ["fortran", "v2", "v3", "mixed"])
def test_input_layouts_and_versions(tmp_path, layout):
    x, r, e = make_case(200, dtype="f32")
    want = golden.init_routing_quant(x, r, e, 21, 3.0, 0.25, "f32")
    if layout == "fortran":
        xs, rs, es = np.asfortranarray(x), np.asfortranarray(r), np.asfortranarray(e)
        version = None
    elif layout == "mixed":
        xs, rs, es, version = np.asfortranarray(x), r, np.asfortranarray(e), (1, 0)
    else:
        xs, rs, es = x, r, e
        version = (2, 0) if layout == "v2" else (3, 0)
    res = run("init-routing-quant", "--x", save(tmp_path / "x.npy", xs, version),
              "--expert-idx", save(tmp_path / "e.npy", es, version), "--row-idx", save(tmp_path / "r.npy", rs, version),
              "--scale", 3, "--offset", 0.25, "--out", tmp_path / "o")
    assert res.returncode == OK, res.stderr
    if layout == "fortran":
        assert b"'fortran_order': True" in (tmp_path / "x.npy").read_bytes()[:128]
    assert_same(outputs(tmp_path / "o"), want)


@pytest.mark.parametrize("opts", [["--threads", "1", "--isa", "scalar"], ["--threads", "2"], ["--isa", "auto"]])
def test_threads_and_isa_give_same_bytes(tmp_path, opts):
    x, r, e = make_case(300, n=300, k=8, h=70, dtype="bf16", experts=32)
    want = golden.init_routing_quant(x, golden.canonical_row_idx(300, 8), e, 300, 25.0, 0.0, "bf16")
    res = run("init-routing-quant", "--x", save(tmp_path / "x.npy", x), "--x-bf16", "--expert-idx",
              save(tmp_path / "e.npy", e), "--scale", 25, "--offset", 0, "--out", tmp_path / "o", *opts)
    assert res.returncode == OK, res.stderr
    assert_same(outputs(tmp_path / "o"), want)


@pytest.mark.parametrize("shape", [(0, 3, 4), (4, 0, 4), (4, 2, 0)])
def test_empty_arrays(tmp_path, shape):
    n, k, h = shape
    x, e = np.zeros((n, h), np.float16), np.zeros((n, k), np.int32)
    res = run("init-routing", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e),
              "--out", tmp_path / "o")
    assert res.returncode == OK, res.stderr
    ex, er, ee = outputs(tmp_path / "o")
    assert ex.shape == (n * k, h) and er.shape == (n * k,) and ee.shape == (n * k,)


def test_output_files_replaced_and_dir_reused(tmp_path):
    x, r, e = make_case(400)
    save(tmp_path / "x.npy", x)
    save(tmp_path / "e.npy", e)
    for active in (21, 2):
        res = run("init-routing", "--x", tmp_path / "x.npy", "--expert-idx", tmp_path / "e.npy",
                  "--active-num", active, "--out", str(tmp_path / "o") + "/")
        assert res.returncode == OK, res.stderr
    assert outputs(tmp_path / "o")[0].shape == (6, 10)
    assert sorted(os.listdir(tmp_path / "o")) == ["expanded_expert_idx.npy", "expanded_row_idx.npy", "expanded_x.npy"]


# ---- errors: exit status and message --------------------------------------------------------------------

def good_inputs(tmp_path):
    x, r, e = make_case(500, dtype="f16")
    return save(tmp_path / "x.npy", x), save(tmp_path / "e.npy", e), save(tmp_path / "r.npy", r)


def route(tmp_path, x, e, *extra):
    return run("init-routing-quant", "--x", x, "--expert-idx", e, "--scale", 1, "--offset", 0,
               "--out", tmp_path / "out", *extra)


def raw_npy(header, data=b"", version=(1, 0), magic=b"\x93NUMPY", pad=True):
    h = header.encode("latin1")
    if pad:
        lenbytes = 2 if version[0] == 1 else 4
        total = len(magic) + 2 + lenbytes + len(h) + 1
        h += b" " * ((64 - total % 64) % 64) + b"\n"
    lenfield = struct.pack("<H", len(h)) if version[0] == 1 else struct.pack("<I", len(h))
    return magic + bytes(version) + lenfield + h + data


MALFORMED = {
    "bad_magic": (b"NUMPY\x01\x00" + b"\x00" * 60, "not a .npy file"),
    "empty_file": (b"", "not a .npy file"),
    "version_4": (raw_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }", b"\0" * 8, version=(4, 0)),
                  "version 4.0"),
    "header_len_past_eof": (b"\x93NUMPY\x01\x00\xff\xff{'descr'", "truncated"),
    "not_a_dict": (raw_npy("['descr', '<f2']"), "malformed .npy header"),
    "unterminated": (raw_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), "), "malformed .npy header"),
    "missing_shape": (raw_npy("{'descr': '<f2', 'fortran_order': False, }"), "missing key 'shape'"),
    "unknown_key": (raw_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), 'x': 1, }"),
                    "unexpected key"),
    "duplicate_key": (raw_npy("{'descr': '<f2', 'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }"),
                      "duplicate key"),
    "negative_dim": (raw_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (-2, 2), }"), "negative dimension"),
    "shape_not_tuple": (raw_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (4), }"), "not a tuple"),
    "huge_dim": (raw_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (99999999999999999999, 2), }"),
                 "64 bits"),
    "overflowing_shape": (raw_npy("{'descr': '<f2', 'fortran_order': False, "
                                  "'shape': (4294967296, 4294967296, 4294967296), }"), "more elements"),
    "bad_bool": (raw_npy("{'descr': '<f2', 'fortran_order': Maybe, 'shape': (2, 2), }"), "True or False"),
    "trailing_garbage": (raw_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), } x"),
                         "after the header dict"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_header(tmp_path, case):
    x, e, _ = good_inputs(tmp_path)
    content, needle = MALFORMED[case]
    bad = tmp_path / "bad.npy"
    bad.write_bytes(content)
    res = route(tmp_path, bad, e)
    assert res.returncode == IO, res.stderr
    assert str(bad) in res.stderr and needle in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cut", ["data", "header", "one_byte"])
def test_truncated(tmp_path, cut):
    x, e, _ = good_inputs(tmp_path)
    b = open(x, "rb").read()
    keep = {"data": len(b) - 3, "header": 40, "one_byte": 1}[cut]
    bad = tmp_path / "cut.npy"
    bad.write_bytes(b[:keep])
    res = route(tmp_path, bad, e)
    assert res.returncode == IO
    assert str(bad) in res.stderr
    assert ("truncated" in res.stderr) if cut != "one_byte" else ("not a .npy file" in res.stderr), res.stderr


def test_trailing_bytes(tmp_path):
    x, e, _ = good_inputs(tmp_path)
    bad = tmp_path / "long.npy"
    bad.write_bytes(open(e, "rb").read() + b"\0\0\0\0")
    res = route(tmp_path, x, bad)
    assert res.returncode == IO and "4 unexpected bytes" in res.stderr, res.stderr


@pytest.mark.parametrize("what,needle", [
    ("x_f64", "'<f8' is not supported"),
    ("x_i32", "--x must be float16"),
    ("x_u16_no_flag", "pass --x-bf16"),
    ("bf16_flag_on_f16", "--x-bf16 expects a uint16 array"),
    ("expert_i64", "must be int32"),
    ("row_f32", "must be int32"),
    ("big_endian", "big-endian"),
    ("object", "object array"),
    ("structured", "structured dtype"),
    ("bool", "--x must be float16"),  # a .npy bool array is read (finished masks), then refused as x
])
def test_wrong_dtype(tmp_path, what, needle):
    xa, r, e = make_case(600, dtype="f16")
    extra = []
    if what == "x_f64":
        xa = xa.astype(np.float64)
    elif what == "x_i32":
        xa = np.zeros(xa.shape, np.int32)
    elif what == "x_u16_no_flag":
        xa = xa.view(np.uint16)
    elif what == "bf16_flag_on_f16":
        extra = ["--x-bf16"]
    elif what == "expert_i64":
        e = e.astype(np.int64)
    elif what == "row_f32":
        r = r.astype(np.float32)
    elif what == "big_endian":
        xa = xa.astype(">f2")
    elif what == "object":
        xa = np.array([[1, "a"], [None, 2.0]], dtype=object)
    elif what == "structured":
        xa = np.zeros((3, 2), dtype=[("a", "<f4"), ("b", "<i4")])
    elif what == "bool":
        xa = np.zeros((3, 2), dtype=bool)
    xp = tmp_path / "x.npy"
    if what == "object":
        np.save(xp, xa, allow_pickle=True)
    else:
        save(xp, xa)
    res = route(tmp_path, xp, save(tmp_path / "e.npy", e), "--row-idx", save(tmp_path / "r.npy", r), *extra)
    assert res.returncode == IO, res.stderr
    assert needle in res.stderr, res.stderr


@pytest.mark.parametrize("which", ["x_1d", "x_3d", "expert_1d", "row_0d"])
def test_wrong_rank(tmp_path, which):
    x, r, e = make_case(700)
    if which == "x_1d":
        x = x.reshape(-1)
    elif which == "x_3d":
        x = x.reshape(3, 7, 10)
    elif which == "expert_1d":
        e = e.reshape(-1)
    else:
        r = np.array(5, dtype=np.int32)
    res = route(tmp_path, save(tmp_path / "x.npy", x), save(tmp_path / "e.npy", e), "--row-idx",
                save(tmp_path / "r.npy", r))
    assert res.returncode == IO, res.stderr
    assert "must be 2-D" in res.stderr


def test_missing_file_and_directory(tmp_path):
    x, e, _ = good_inputs(tmp_path)
    res = route(tmp_path, tmp_path / "nope.npy", e)
    assert res.returncode == IO and "nope.npy: cannot open: No such file or directory" in res.stderr, res.stderr
    res = route(tmp_path, tmp_path, e)
    assert res.returncode == IO and "is a directory" in res.stderr


def test_unwritable_output(tmp_path):
    x, e, _ = good_inputs(tmp_path)
    (tmp_path / "file").write_text("not a dir")
    res = run("init-routing", "--x", x, "--expert-idx", e, "--out", tmp_path / "file")
    assert res.returncode == IO and "not a directory" in res.stderr
    res = run("init-routing", "--x", x, "--expert-idx", e, "--out", tmp_path / "no" / "such" / "dir")
    assert res.returncode == IO and "cannot create the output directory" in res.stderr


def test_library_refusals(tmp_path):
    x, r, e = make_case(800)
    xp, ep = save(tmp_path / "x.npy", x), save(tmp_path / "e.npy", e)
    bad = r.copy()
    bad[4, 2] = bad[1, 1]
    res = route(tmp_path, xp, ep, "--row-idx", save(tmp_path / "bad.npy", bad))
    assert res.returncode == REFUSED
    assert "MOEROUTE_ERR_INVALID_VALUE" in res.stderr and "permutation" in res.stderr and "rowIdx[4][2]" in res.stderr
    res = route(tmp_path, xp, ep, "--active-num", "-1")
    assert res.returncode == REFUSED and "activeNum must be >= 0" in res.stderr, res.stderr
    res = route(tmp_path, xp, save(tmp_path / "e2.npy", e[:-1]))
    assert res.returncode == REFUSED and "x has 21 rows but expert_idx has 20" in res.stderr
    res = route(tmp_path, xp, ep, "--row-idx", save(tmp_path / "r2.npy", r[:, :2]))
    assert res.returncode == REFUSED and "row_idx has shape" in res.stderr
    assert not (tmp_path / "out").exists()  # nothing written for a refused input


@pytest.mark.parametrize("args,needle", [
    ([], "usage: moeroute"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["init-routing", "--bogus", "1"], "unknown option '--bogus'"),
    (["init-routing", "--x"], "option '--x' needs a value"),
    (["init-routing", "--expert-idx", "e.npy", "--out", "o"], "missing --x FILE"),
    (["init-routing", "--x", "x.npy", "--out", "o"], "missing --expert-idx"),
    (["init-routing", "--x", "x.npy", "--expert-idx", "e.npy"], "missing --out"),
    (["init-routing", "--x", "a", "--x", "b"], "given twice"),
    (["init-routing", "stray"], "unexpected argument 'stray'"),
    (["init-routing", "--x", "x", "--expert-idx", "e", "--out", "o", "--active-num", "12abc"], "not an integer"),
    (["init-routing", "--x", "x", "--expert-idx", "e", "--out", "o", "--scale", "2"], "belong to init-routing-quant"),
    (["init-routing-quant", "--x", "x", "--expert-idx", "e", "--out", "o", "--offset", "0"], "missing --scale"),
    (["init-routing-quant", "--x", "x", "--expert-idx", "e", "--out", "o", "--scale", "abc", "--offset", "0"],
     "'abc' is not a number"),
    (["init-routing", "--x", "x", "--expert-idx", "e", "--out", "o", "--threads", "-1"], "not a thread count"),
    (["init-routing", "--x", "x", "--expert-idx", "e", "--out", "o", "--isa", "sse9"], "not one of"),
    (["init-routing", "--x-bf16=1"], "takes no value"),
    (["info", "extra"], "unexpected argument"),
    (["help", "nothing"], "unknown command 'nothing'"),
])
def test_usage_errors(tmp_path, args, needle):
    res = run(*args, cwd=tmp_path)
    assert res.returncode == USAGE, (res.returncode, res.stderr)
    assert needle in res.stderr, res.stderr
    assert not (tmp_path / "o").exists()


# ---- help, version, info, bench ----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], ["help", "init-routing-quant"], ["help", "info"],
                                  ["init-routing-quant", "--help"], ["init-routing", "-h"], ["info", "--help"],
                                  ["bench", "--help"]])
def test_help(args):
    res = run(*args)
    assert res.returncode == OK, res.stderr
    cmd = args[1] if args[0] == "help" and len(args) > 1 else (args[0] if args[0] not in ("-h", "--help", "help")
                                                               else "<command>")
    assert ("usage: moeroute %s" % cmd) in res.stdout
    if cmd != "bench":
        assert "exit status" in res.stdout and "  3  file" in res.stdout


def header_version():
    with open(os.path.join(ROOT, "include", "moeroute", "moeroute.h")) as f:
        h = f.read()
    return ".".join(re.search(r"#define MOEROUTE_VERSION_%s +(\d+)" % p, h).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))


def test_version():
    res = run("--version")
    assert res.returncode == OK and res.stdout == "moeroute %s\n" % header_version()


def test_info():
    res = run("info", env={"MOEROUTE_ISA": "scalar", "MOEROUTE_NUM_THREADS": "3"})
    assert res.returncode == OK, res.stderr
    info = dict(line.split(": ", 1) for line in res.stdout.splitlines())
    assert info["version"] == header_version() == info["cli-built-against"]
    assert info["detected-isa"] in ("scalar", "avx2", "avx512", "neon")
    assert info["context-isa"] == "scalar"
    assert info["context-threads"] == "3"
    assert info["MOEROUTE_ISA"] == "scalar" and info["MOEROUTE_NUM_THREADS"] == "3"
    res = run("info", env={"MOEROUTE_ISA": "sse9", "MOEROUTE_NUM_THREADS": "many"})
    info = dict(line.split(": ", 1) for line in res.stdout.splitlines())
    assert "ignored" in info["MOEROUTE_ISA"] and "ignored" in info["MOEROUTE_NUM_THREADS"]
    env = {"MOEROUTE_ISA": "", "MOEROUTE_NUM_THREADS": ""}
    res = subprocess.run([CLI, "info"], capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in cli_env().items() if k not in env})
    assert "MOEROUTE_ISA: (unset)" in res.stdout and "MOEROUTE_NUM_THREADS: (unset)" in res.stdout


def bench_found():
    res = run("info")
    return "bench: (not found)" not in res.stdout


def test_bench_smoke():
    if not bench_found():
        pytest.skip("moeroute_bench is not built")
    res = run("bench", "--smoke")
    assert res.returncode == OK, res.stderr
    assert "cases measured, 0 failed" in res.stdout
    res = run("bench", "--no-such-option")
    assert res.returncode == USAGE  # moeroute_bench's own status, passed through


def test_bench_not_found():
    res = run("bench", "--smoke", env={"MOEROUTE_BENCH": "/nonexistent/moeroute_bench"})
    assert res.returncode == IO and "/nonexistent/moeroute_bench" in res.stderr


# ---- the examples of cli/README.md, as written ---------------------------------------------------------------

def test_readme_examples(tmp_path):
    blocks = readme_blocks()
    assert len(blocks) >= 4
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    blocks = [b for b in blocks if have_torch or "torch" not in b]
    if not bench_found():
        blocks = [b.replace("moeroute bench --smoke", "") if "moeroute bench" in b else b for b in blocks]
    work = run_readme_blocks(tmp_path, blocks)
    assert np.load(work / "out" / "expanded_x.npy").shape == (16, 16)
    assert np.load(work / "out3" / "expanded_x.npy").shape == (6, 16)


def test_mutated_files_never_crash(tmp_path):
    """Random byte flips and cuts of valid files: a documented status and a message, never a crash or a
    sanitizer report (run() checks stderr for one)."""
    x, r, e = make_case(900, n=6, k=2, h=5, dtype="f32")
    ep = save(tmp_path / "e.npy", e)
    good = {"x": save(tmp_path / "x.npy", x).read_bytes(), "r": save(tmp_path / "r.npy", r).read_bytes()}
    rng = np.random.default_rng(901)
    bad = tmp_path / "bad.npy"
    seen = set()
    for i in range(120):
        which = "x" if i % 2 else "r"
        b = bytearray(good[which])
        if i % 5 == 0:
            b = b[:int(rng.integers(0, len(b)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(0, min(len(b), 80)))] = int(rng.integers(0, 256))
        bad.write_bytes(bytes(b))
        args = (["--x", bad, "--row-idx", tmp_path / "r.npy"] if which == "x"
                else ["--x", tmp_path / "x.npy", "--row-idx", bad])
        res = run("init-routing-quant", "--expert-idx", ep, "--scale", 2, "--offset", 0, "--out", tmp_path / "o",
                  *args)
        assert res.returncode in (OK, REFUSED, IO), (bytes(b)[:80], res.returncode, res.stderr)
        if res.returncode != OK:
            assert res.stderr.startswith("moeroute init-routing-quant: "), res.stderr
        seen.add(res.returncode)
    assert IO in seen
