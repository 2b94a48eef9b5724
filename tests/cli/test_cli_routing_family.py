"""The moeroute CLI's routing-family commands (cli/routing_family_cmds.c) on .npy files written by numpy:

    init-routing-v2, init-routing-quant-v2, init-routing-v3, compute-expert-tokens

against the independent numpy models of tests/python/routing_family_golden.py. By hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli/test_cli_routing_family.py
Checks: every output byte (parts the operator leaves untouched are zeros in the files), the set of files
written, the documented exit status with a message for each kind of bad input, --help, and the
routing-family examples of cli/README.md run as written, with their results checked.
"""

import os
import re

import numpy as np
import pytest

# cli_common first: it puts tests/python (the golden models) on sys.path
from cli_common import IO, OK, REFUSED, USAGE, needs_cli, readme_blocks, run, run_readme_blocks
import moe_golden as g  # noqa: E402
import routing_family_golden as rg  # noqa: E402

pytestmark = needs_cli

INT32_MIN, INT32_MAX = -2 ** 31, 2 ** 31 - 1
V2_FILES = ("expanded_x", "expanded_row_idx", "expert_tokens_count_or_cumsum", "expert_tokens_before_capacity")
QV2_FILES = V2_FILES + ("dynamic_quant_scale",)
V3_FILES = ("expanded_x", "expanded_row_idx", "expert_tokens_count_or_cumsum", "expanded_scale")


def run_ok(*args, **kw):
    r = run(*args, **kw)
    assert r.returncode == OK, (args, r.stderr)
    assert r.stderr == ""
    return r


def save(path, a):
    np.save(path, a)
    return path


def npy_files(d):
    return sorted(f[:-4] for f in os.listdir(d) if f.endswith(".npy"))


def load(d, name):
    return np.load(os.path.join(str(d), name + ".npy"))


def assert_bytes(got, want, name=""):
    want = np.ascontiguousarray(want)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
    if got.tobytes() != want.tobytes():
        bad = np.nonzero(got.view(np.uint8).reshape(-1) != want.view(np.uint8).reshape(-1))[0]
        raise AssertionError("%s: %d bytes differ, first at byte %d" % (name, bad.size, int(bad[0])))


def assert_out(got, out, name, dtype=None):
    """A golden Out against the file: written elements equal, the others are the CLI's zero fill."""
    want = np.where(out.written, out.value, np.zeros((), out.value.dtype))
    if dtype is not None:
        assert np.array_equal(want.astype(dtype), want), name   # the narrowing is lossless
        want = want.astype(dtype)
    assert_bytes(got, want.astype(want.dtype), name)


def make_x(rng, n, h, dtype, specials=True):
    with np.errstate(over="ignore", invalid="ignore"):
        v = rng.standard_normal((n, h)) * 30.0
        if specials and v.size:
            flat = v.reshape(-1)
            pick = np.array([np.inf, -np.nan, 0.5, -2.5, 1e-6, 70000.0, -np.inf])
            flat[::11] = pick[np.arange(len(flat[::11])) % len(pick)]
            if n > 2:
                v[1] = 0.0                                       # an all-zero row (dynamic: scale 0)
        if dtype == "f16":
            return v.astype(np.float16)
        if dtype == "f32":
            return v.astype(np.float32)
        if dtype == "bf16":
            return g.f32_to_bf16_bits_rne(v.astype(np.float32))
        if dtype == "i8":
            return rng.integers(-128, 128, size=(n, h)).astype(np.int8)
    raise ValueError(dtype)


def x_args(tmp_path, x, dtype, fortran=False):
    args = ["--x", save(tmp_path / "x.npy", np.asfortranarray(x) if fortran else x)]
    return args + (["--x-bf16"] if dtype == "bf16" else [])


def e_args(tmp_path, e, fortran=False):
    return ["--expert-idx", save(tmp_path / "e.npy", np.asfortranarray(e) if fortran else e)]


# ---- init-routing-v2 ---------------------------------------------------------------------------------------

V2_MODES = {
    # name: (active_num, capacity, expert_num, drop_pad_mode, count_flag, before_flag)
    "dropless": (0, 0, 0, 0, 0, False),
    "dropless_active7": (7, 0, 6, 0, 2, False),
    "dropless_active_big": (10 ** 6, 0, 6, 0, 1, True),      # before flag ignored in dropless
    "dropless_cumsum": (0, 0, 9, 0, 1, False),
    "drop_c2": (0, 2, 6, 1, 0, True),
    "drop_c1_flag_ignored": (3, 1, 6, 1, 2, False),          # count flag forced to 0, activeNum ignored
    "drop_cN": (0, 17, 6, 1, 0, True),
}


def v2_args(mode):
    active, cap, E, dpm, flag, before = V2_MODES[mode]
    a = ["--active-num", active, "--expert-capacity", cap, "--expert-num", E, "--drop-pad-mode", dpm,
         "--expert-tokens-count-or-cumsum-flag", flag]
    return a + (["--expert-tokens-before-capacity-flag"] if before else [])


def expected_files(res, names):
    return sorted(n for n in names if res[n].written.any() or (n in ("expanded_x", "expanded_row_idx")))


@pytest.mark.parametrize("dtype", ["f16", "bf16", "f32"])
@pytest.mark.parametrize("mode", sorted(V2_MODES))
def test_v2_matches_golden(tmp_path, dtype, mode):
    rng = np.random.default_rng(1000 + sorted(V2_MODES).index(mode) * 7 + len(dtype))
    n, k, h = 17, 3, 9
    active, cap, E, dpm, flag, before = V2_MODES[mode]
    x = make_x(rng, n, h, dtype)
    lo = 0 if (dpm == 1 or flag) else -3                      # ids outside [0, E) only where E does not index
    e = rng.integers(lo, 6, size=(n, k)).astype(np.int32)
    fortran = mode.endswith("c2")
    r = run_ok("init-routing-v2", *x_args(tmp_path, x, dtype, fortran), *e_args(tmp_path, e, fortran),
               *v2_args(mode), "--out", tmp_path / "o")
    assert r.stdout == ""
    want = rg.init_routing_v2(x, e, active, cap, E, dpm, flag, before)
    assert npy_files(tmp_path / "o") == expected_files(want, V2_FILES)
    for name in npy_files(tmp_path / "o"):
        assert_out(load(tmp_path / "o", name), want[name], name)


def test_v2_documented_examples(tmp_path):
    x = np.array([[.1] * 4, [.2] * 4, [.3] * 4], dtype=np.float32)
    e = np.array([[1, 2], [0, 1], [0, 2]], dtype=np.int32)
    base = ["init-routing-v2", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e)]
    run_ok(*base, "--expert-num", 4, "--expert-tokens-count-or-cumsum-flag", 2, "--out", tmp_path / "a")
    assert load(tmp_path / "a", "expanded_row_idx").tolist() == [2, 4, 0, 3, 1, 5]
    assert np.array_equal(load(tmp_path / "a", "expanded_x"), x[[1, 2, 0, 1, 0, 2]])
    assert load(tmp_path / "a", "expert_tokens_count_or_cumsum").tolist() == [2, 2, 2, 0]
    run_ok(*base, "--active-num=4", "--expert-num=4", "--expert-tokens-count-or-cumsum-flag=1", "--out", tmp_path / "b")
    assert load(tmp_path / "b", "expanded_x").shape == (4, 4)
    assert load(tmp_path / "b", "expert_tokens_count_or_cumsum").tolist() == [2, 4, 6, 6]
    run_ok(*base, "--drop-pad-mode", 1, "--expert-capacity", 1, "--expert-num", 3,
           "--expert-tokens-before-capacity-flag", "--out", tmp_path / "c")
    assert load(tmp_path / "c", "expanded_row_idx").tolist() == [1, 2, 0, -1, -1, -1]
    assert np.array_equal(load(tmp_path / "c", "expanded_x"), x[[1, 0, 0]].reshape(3, 1, 4))
    assert load(tmp_path / "c", "expert_tokens_before_capacity").tolist() == [2, 2, 2]


# ---- init-routing-quant-v2 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["f16", "bf16", "f32"])
@pytest.mark.parametrize("mode", ["dropless", "dropless_active7", "drop_c2", "drop_c1_flag_ignored"])
def test_quant_v2_static_matches_golden(tmp_path, dtype, mode):
    rng = np.random.default_rng(2000 + len(mode) + len(dtype))
    n, k, h = 15, 2, 12
    active, cap, E, dpm, flag, before = V2_MODES[mode]
    x = make_x(rng, n, h, dtype)
    e = rng.integers(0, 6, size=(n, k)).astype(np.int32)
    scale, offset = "0.3452", "-1.8369"
    run_ok("init-routing-quant-v2", *x_args(tmp_path, x, dtype), *e_args(tmp_path, e), "--quant-mode", 0,
           "--scale", scale, "--offset", offset, *v2_args(mode), "--out", tmp_path / "o")
    want = rg.init_routing_quant_v2(x, dtype, e, np.float32(float(scale)), np.float32(float(offset)), active, cap, E,
                                    dpm, flag, before, 0)
    assert npy_files(tmp_path / "o") == expected_files(want, QV2_FILES)
    assert load(tmp_path / "o", "expanded_x").dtype == np.int8
    for name in npy_files(tmp_path / "o"):
        assert_out(load(tmp_path / "o", name), want[name], name)


def test_quant_v2_static_documented_example(tmp_path):
    """init_routing_v2.md: drop, C = 2, E = 3, scale 0.3452, offset 1.8369 -> every element 2; quant-mode 0 is
    the default."""
    x = np.array([[.1] * 4, [.2] * 4, [.3] * 4], dtype=np.float32)
    e = np.array([[1, 2], [0, 1], [0, 2]], dtype=np.int32)
    run_ok("init-routing-quant-v2", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e),
           "--scale", "0.3452", "--offset", "1.8369", "--drop-pad-mode", 1, "--expert-capacity", 2, "--expert-num", 3,
           "--expert-tokens-before-capacity-flag", "--out", tmp_path / "o")
    ex = load(tmp_path / "o", "expanded_x")
    assert ex.dtype == np.int8 and ex.shape == (3, 2, 4) and (ex == 2).all()
    assert load(tmp_path / "o", "expanded_row_idx").tolist() == [2, 4, 0, 3, 1, 5]
    assert npy_files(tmp_path / "o") == ["expanded_row_idx", "expanded_x", "expert_tokens_before_capacity"]


@pytest.mark.parametrize("dtype", ["f16", "bf16", "f32"])
@pytest.mark.parametrize("smooth", ["none", "shared", "per_expert", "per_expert_fortran"])
@pytest.mark.parametrize("mode", ["dropless_active7", "drop_c2"])
def test_quant_v2_dynamic_matches_golden(tmp_path, dtype, smooth, mode):
    rng = np.random.default_rng(3000 + len(smooth) * 3 + len(dtype) + len(mode))
    n, k, h = 13, 3, 16
    active, cap, E, dpm, flag, before = V2_MODES[mode]
    x = make_x(rng, n, h, dtype)
    e = rng.integers(0, E, size=(n, k)).astype(np.int32)
    args = []
    sm = None
    if smooth != "none":
        sm = (rng.random((1 if smooth == "shared" else E, h)) * 2).astype(np.float32)
        path = save(tmp_path / "smooth.npy", np.asfortranarray(sm) if smooth.endswith("fortran") else sm)
        args = ["--scale", path]
    run_ok("init-routing-quant-v2", *x_args(tmp_path, x, dtype), *e_args(tmp_path, e), "--quant-mode", 1, *args,
           *v2_args(mode), "--out", tmp_path / "o")
    want = rg.init_routing_quant_v2(x, dtype, e, sm, None, active, cap, E, dpm, flag, before, 1)
    assert npy_files(tmp_path / "o") == expected_files(want, QV2_FILES)
    assert "dynamic_quant_scale" in npy_files(tmp_path / "o")
    for name in npy_files(tmp_path / "o"):
        assert_out(load(tmp_path / "o", name), want[name], name)


def test_quant_v2_dynamic_documented_example(tmp_path):
    """init_routing_v2.md: row [0.1, -0.2, 0.3, 0.4] -> q [32, -64, 95, 127]; smooth [1, 1, 1, 0.5] ->
    [42, -85, 127, 85]."""
    x = np.array([[0.1, -0.2, 0.3, 0.4]], dtype=np.float32)
    e = np.array([[0]], dtype=np.int32)
    base = ["init-routing-quant-v2", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e),
            "--quant-mode=1"]
    run_ok(*base, "--out", tmp_path / "a")
    assert load(tmp_path / "a", "expanded_x").tolist() == [[32, -64, 95, 127]]
    assert load(tmp_path / "a", "dynamic_quant_scale").tolist() == [float(np.float32(0.4) / np.float32(127))]
    sm = save(tmp_path / "sm.npy", np.array([[1, 1, 1, 0.5]], dtype=np.float32))
    run_ok(*base, "--scale", sm, "--out", tmp_path / "b")
    assert load(tmp_path / "b", "expanded_x").tolist() == [[42, -85, 127, 85]]


# ---- init-routing-v3 -----------------------------------------------------------------------------------------

V3_CASES = [
    # (dtype, quant_mode, tokens_num_type, row_idx_type, range, with_scale)
    ("f16", -1, 1, 0, None, False),
    ("f32", -1, 1, 1, (2, 7), True),
    ("bf16", -1, 2, 0, (0, 5), True),
    ("i8", -1, 2, 1, (3, 9), True),
    ("i8", -1, 1, 0, None, False),
    ("f16", 1, 1, 0, (1, 6), False),
    ("bf16", 1, 2, 1, (1, 6), True),
    ("f32", 1, 2, 0, None, True),
    ("f32", 1, 1, 1, (8, 9), True),             # a range of one expert: smooth [1, H]
    ("bf16", -1, 2, 1, (0, 9), False),
]


@pytest.mark.parametrize("case", range(len(V3_CASES)))
def test_v3_matches_golden(tmp_path, case):
    dtype, qmode, ntype, rit, rng_, with_scale = V3_CASES[case]
    rng = np.random.default_rng(4000 + case)
    n, k, h, E = 19, 4, 10, 9
    x = make_x(rng, n, h, dtype)
    e = rng.integers(-2, E + 2, size=(n, k)).astype(np.int32)   # ids outside the range are filtered
    lo, hi = rng_ if rng_ else (0, E)
    args = ["--expert-num", E, "--quant-mode", qmode, "--expert-tokens-num-type", ntype, "--row-idx-type", rit]
    if rng_:
        args += ["--active-expert-range", "%d,%d" % rng_]
    scale = None
    if with_scale:
        scale = (rng.random(n) if qmode == -1 else rng.random((hi - lo, h)) * 2).astype(np.float32)
        args += ["--scale", save(tmp_path / "s.npy", np.asfortranarray(scale) if case % 2 else scale)]
    if case == 0:
        args += ["--active-num", n * k]
    fortran = case % 3 == 1
    run_ok("init-routing-v3", *x_args(tmp_path, x, dtype, fortran), *e_args(tmp_path, e, fortran), *args,
           "--out", tmp_path / "o")
    want = rg.init_routing_v3(x, dtype, e, scale, E, ntype, qmode, rng_, rit)
    files = ["expanded_row_idx", "expanded_x", "expert_tokens_count_or_cumsum"]
    if qmode == 1 or with_scale:
        files.append("expanded_scale")
    assert npy_files(tmp_path / "o") == sorted(files)
    for name in files:
        assert_out(load(tmp_path / "o", name), want[name], name,
                   np.int64 if name == "expert_tokens_count_or_cumsum" else None)
    assert load(tmp_path / "o", "expanded_x").dtype == (np.int8 if qmode == 1 else x.dtype)


def test_v3_documented_example(tmp_path):
    x = np.array([[.1] * 4, [.2] * 4, [.3] * 4], dtype=np.float32)
    e = np.array([[1, 2], [0, 1], [0, 2]], dtype=np.int32)
    base = ["init-routing-v3", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e),
            "--expert-num", 4, "--active-expert-range", "1,3", "--scale",
            save(tmp_path / "s.npy", np.array([0.5, 0.25, 0.125], np.float32))]
    run_ok(*base, "--out", tmp_path / "a")
    assert load(tmp_path / "a", "expanded_row_idx").tolist() == [0, 2, -1, 1, -1, 3]
    assert np.array_equal(load(tmp_path / "a", "expanded_x")[:4], x[[0, 1, 0, 2]])
    assert not load(tmp_path / "a", "expanded_x")[4:].any()
    assert load(tmp_path / "a", "expanded_scale").tolist() == [0.5, 0.25, 0.5, 0.125, 0, 0]
    assert load(tmp_path / "a", "expert_tokens_count_or_cumsum").tolist() == [2, 2]
    run_ok(*base, "--row-idx-type", 1, "--expert-tokens-num-type", 2, "--out", tmp_path / "b")
    assert load(tmp_path / "b", "expanded_row_idx").tolist() == [0, 3, 1, 5, -1, -1]
    assert load(tmp_path / "b", "expert_tokens_count_or_cumsum").tolist() == [[1, 2], [2, 2], [0, 0], [0, 0]]


def test_v3_no_copy_in_range(tmp_path):
    x = make_x(np.random.default_rng(1), 4, 3, "f16")
    e = np.full((4, 2), 7, np.int32)
    run_ok("init-routing-v3", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e),
           "--expert-num", 8, "--active-expert-range", "0,4", "--expert-tokens-num-type", 2, "--quant-mode", 1,
           "--out", tmp_path / "o")
    assert (load(tmp_path / "o", "expanded_row_idx") == -1).all()
    assert not load(tmp_path / "o", "expanded_x").any() and not load(tmp_path / "o", "expanded_scale").any()
    assert not load(tmp_path / "o", "expert_tokens_count_or_cumsum").any()


def test_v3_deepseek_decode_recipe(tmp_path):
    """x [1, 7168] bf16, K = 8, smooth [256, 7168], range [0, 256), type 2, quant 1: round-to-odd then
    ties-to-even. Ties are planted: max |v| = 127 gives sc = 1, so v = 2.5 etc. are exact ties."""
    H, E, K = rg.DEEPSEEK_H, rg.DEEPSEEK_E, rg.DEEPSEEK_K
    rng = np.random.default_rng(5000)
    v = (rng.standard_normal((1, H)) * 20).astype(np.float32)
    v[0, :8] = [127.0, 2.5, -2.5, 0.5, -0.5, 3.5, 126.5, -1.5]
    v = np.clip(v, -100, 100)
    v[0, 0] = 127.0
    x = g.f32_to_bf16_bits_rne(v)
    e = rng.choice(E, size=(1, K), replace=False).astype(np.int32)
    sm = np.ones((E, H), np.float32)
    sm[:, 100:] = (rng.random((E, H - 100)) + 0.5).astype(np.float32)
    want = rg.init_routing_v3(x, "bf16", e, sm, E, 2, 1, None, 0)
    assert want["special"]
    for rng_args in ([], ["--active-expert-range", "0,256"]):
        out = tmp_path / ("o%d" % len(rng_args))
        run_ok("init-routing-v3", "--x", save(tmp_path / "x.npy", x), "--x-bf16", "--expert-idx",
               save(tmp_path / "e.npy", e), "--scale", save(tmp_path / "sm.npy", sm), "--expert-num", E,
               "--expert-tokens-num-type", 2, "--quant-mode", 1, *rng_args, "--out", out)
        for name in V3_FILES:
            assert_out(load(out, name), want[name], name, np.int64 if name == "expert_tokens_count_or_cumsum" else None)
        # the planted ties went to even: this is not the general recipe
        assert load(out, "expanded_x")[0, 1:5].tolist() == [2, -2, 0, 0]


# ---- compute-expert-tokens ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["random", "empty", "all_equal", "one_expert", "wide"])
def test_compute_expert_tokens_matches_golden(tmp_path, case):
    rng = np.random.default_rng(6000 + len(case))
    E, s = {
        "random": lambda: (37, np.sort(rng.integers(0, 37, 500))),
        "empty": lambda: (5, np.zeros(0)),
        "all_equal": lambda: (9, np.full(40, 4)),
        "one_expert": lambda: (1, np.zeros(7)),
        "wide": lambda: (5000, np.sort(rng.integers(0, 5000, 3000))),   # beyond the NPU's 2048: not applied
    }[case]()
    s = s.astype(np.int32)
    r = run_ok("compute-expert-tokens", "--sorted-experts", save(tmp_path / "s.npy", s), "--num-experts", E,
               "--out", tmp_path / "o", "-v")
    assert r.stdout == "wrote %s '<i4' [%d]\n" % (tmp_path / "o" / "expert_tokens.npy", E)
    assert npy_files(tmp_path / "o") == ["expert_tokens"]
    assert_out(load(tmp_path / "o", "expert_tokens"), rg.compute_expert_tokens(s, E)["out"], "expert_tokens")


def test_compute_expert_tokens_documented_example(tmp_path):
    run_ok("compute-expert-tokens", "--sorted-experts", save(tmp_path / "s.npy", np.array([1, 1, 3], np.int32)),
           "--num-experts=5", "--out", tmp_path / "o")
    assert load(tmp_path / "o", "expert_tokens").tolist() == [0, 2, 2, 3, 3]


# ---- execution options, layouts, empty arrays, the output directory ------------------------------------------------

@pytest.mark.parametrize("opts", [["--threads", "1", "--isa", "scalar"], ["--threads", "3"], ["--isa", "auto"]])
def test_threads_and_isa_give_same_bytes(tmp_path, opts):
    rng = np.random.default_rng(7000)
    n, k, h, E = 300, 8, 70, 32
    x = make_x(rng, n, h, "bf16")
    e = rng.integers(0, E, size=(n, k)).astype(np.int32)
    sm = (rng.random((E, h)) + 0.5).astype(np.float32)
    common = x_args(tmp_path, x, "bf16") + e_args(tmp_path, e) + ["--expert-num", E]
    run_ok("init-routing-quant-v2", *common, "--quant-mode", 1, "--scale", save(tmp_path / "sm.npy", sm),
           "--expert-tokens-count-or-cumsum-flag", 1, *opts, "--out", tmp_path / "q")
    want = rg.init_routing_quant_v2(x, "bf16", e, sm, None, 0, 0, E, 0, 1, False, 1)
    for name in npy_files(tmp_path / "q"):
        assert_out(load(tmp_path / "q", name), want[name], name)
    run_ok("init-routing-v3", *common, "--quant-mode", 1, "--active-expert-range", "4,20", *opts,
           "--out", tmp_path / "v3")
    want = rg.init_routing_v3(x, "bf16", e, None, E, 1, 1, (4, 20), 0)
    for name in V3_FILES:
        assert_out(load(tmp_path / "v3", name), want[name], name,
                   np.int64 if name == "expert_tokens_count_or_cumsum" else None)


@pytest.mark.parametrize("shape", [(0, 3, 4), (4, 0, 4), (4, 2, 0)])
def test_empty_arrays(tmp_path, shape):
    n, k, h = shape
    x, e = np.zeros((n, h), np.float16), np.zeros((n, k), np.int32)
    common = ["--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e)]
    run_ok("init-routing-v2", *common, "--expert-num", 3, "--expert-tokens-count-or-cumsum-flag", 2,
           "--out", tmp_path / "a")
    assert load(tmp_path / "a", "expanded_x").shape == (n * k, h)
    assert load(tmp_path / "a", "expert_tokens_count_or_cumsum").tolist() == [n * k, 0, 0]   # all ids 0
    run_ok("init-routing-quant-v2", *common, "--quant-mode", 1, "--out", tmp_path / "b")
    assert load(tmp_path / "b", "dynamic_quant_scale").shape == (n * k,)
    run_ok("init-routing-v3", *common, "--expert-num", 3, "--expert-tokens-num-type", 2, "--out", tmp_path / "c")
    assert load(tmp_path / "c", "expanded_x").shape == (n * k, h)
    want = rg.init_routing_v3(x, "f16", e, None, 3, 2, -1, None, 0)["expert_tokens_count_or_cumsum"]
    assert_out(load(tmp_path / "c", "expert_tokens_count_or_cumsum"), want, "counts", np.int64)
    if n:
        # K = 0 or H = 0 in drop mode: every slot a pad row
        run_ok("init-routing-v2", *common, "--drop-pad-mode", 1, "--expert-capacity", 1, "--expert-num", 2,
               "--out", tmp_path / "d")
        assert load(tmp_path / "d", "expanded_x").shape == (2, 1, h)


def test_outputs_not_produced_are_removed(tmp_path):
    x = make_x(np.random.default_rng(8), 6, 4, "f32")
    e = np.random.default_rng(9).integers(0, 3, size=(6, 2)).astype(np.int32)
    common = ["--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e), "--expert-num", 3,
              "--out", str(tmp_path / "o") + "/"]
    run_ok("init-routing-quant-v2", *common, "--quant-mode", 1, "--expert-tokens-count-or-cumsum-flag", 2)
    assert npy_files(tmp_path / "o") == ["dynamic_quant_scale", "expanded_row_idx", "expanded_x",
                                         "expert_tokens_count_or_cumsum"]
    (tmp_path / "o" / "unrelated.txt").write_text("kept")
    r = run_ok("init-routing-quant-v2", *common, "--scale", 2, "--offset", 0, "-v")
    assert npy_files(tmp_path / "o") == ["expanded_row_idx", "expanded_x"]
    assert r.stdout.count("wrote ") == 2 and r.stdout.count("removed ") == 2, r.stdout
    assert "removed %s (not an output of this call)" % (tmp_path / "o" / "dynamic_quant_scale.npy") in r.stdout
    assert (tmp_path / "o" / "unrelated.txt").read_text() == "kept"
    # init-routing-v2 shares the names of init-routing-quant-v2: its dynamic scales go too
    run_ok("init-routing-quant-v2", *common, "--quant-mode", 1)
    run_ok("init-routing-v2", *common)
    assert npy_files(tmp_path / "o") == ["expanded_row_idx", "expanded_x"]
    assert load(tmp_path / "o", "expanded_x").dtype == np.float32
    # init-routing-v3: expanded_scale.npy only when written
    run_ok("init-routing-v3", *common, "--quant-mode", 1)
    assert "expanded_scale" in npy_files(tmp_path / "o")
    run_ok("init-routing-v3", *common)
    assert "expanded_scale" not in npy_files(tmp_path / "o")


# ---- errors: exit status and message ---------------------------------------------------------------------------

@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(9000)
    x = make_x(rng, 5, 4, "f16")
    e = rng.integers(0, 3, size=(5, 2)).astype(np.int32)
    save(tmp_path / "x.npy", x)
    save(tmp_path / "e.npy", e)
    save(tmp_path / "x32.npy", x.astype(np.float32))
    save(tmp_path / "x_i8.npy", np.ones((5, 4), np.int8))
    save(tmp_path / "e_short.npy", e[:4])
    save(tmp_path / "e_bad.npy", np.where(np.arange(10).reshape(5, 2) == 7, 3, e).astype(np.int32))
    save(tmp_path / "tok.npy", np.ones(5, np.float32))
    save(tmp_path / "tok4.npy", np.ones(4, np.float32))
    save(tmp_path / "sm.npy", np.ones((3, 4), np.float32))
    save(tmp_path / "sm_h5.npy", np.ones((3, 5), np.float32))
    save(tmp_path / "sm_1d.npy", np.ones(4, np.float32))
    save(tmp_path / "sm_f64.npy", np.ones((3, 4)))
    save(tmp_path / "sorted.npy", np.array([0, 1, 1, 2], np.int32))
    save(tmp_path / "unsorted.npy", np.array([0, 2, 1, 2], np.int32))
    save(tmp_path / "sorted_2d.npy", np.zeros((2, 2), np.int32))
    save(tmp_path / "sorted_i64.npy", np.zeros(3, np.int64))
    return tmp_path


V2 = ["init-routing-v2", "--x", "x.npy", "--expert-idx", "e.npy"]
QV2 = ["init-routing-quant-v2", "--x", "x.npy", "--expert-idx", "e.npy"]
V3 = ["init-routing-v3", "--x", "x.npy", "--expert-idx", "e.npy", "--expert-num", "3"]
CET = ["compute-expert-tokens", "--num-experts", "3"]

REFUSALS = [
    # (args, needle) -- the library's refusals (status name and message) and the CLI's own, exit 1
    (V2[:3] + ["--expert-idx", "e_short.npy"], "x has 5 rows but expert_idx has 4"),
    (V2 + ["--drop-pad-mode", "1", "--expert-capacity", "6", "--expert-num", "3"],
     "drop & pad needs 1 <= expert_capacity <= N"),
    (V2 + ["--drop-pad-mode", "1", "--expert-capacity", "0", "--expert-num", "3"], "MOEROUTE_ERR_INVALID_SHAPE"),
    (["init-routing-v2", "--x", "x.npy", "--expert-idx", "e_bad.npy", "--drop-pad-mode", "1", "--expert-capacity", "2",
      "--expert-num", "3"], "expertIdx[3][1] = 3 is outside [0, expertNum = 3)"),
    (["init-routing-v2", "--x", "x.npy", "--expert-idx", "e_bad.npy", "--expert-num", "3",
      "--expert-tokens-count-or-cumsum-flag", "2"], "MOEROUTE_ERR_INVALID_VALUE"),
    (V2 + ["--drop-pad-mode", "2"], "drop_pad_mode must be 0 or 1, got 2"),
    (V2 + ["--drop-pad-mode", "4294967296"], "--drop-pad-mode must be 0 or 1, got 4294967296"),
    (V2 + ["--expert-tokens-count-or-cumsum-flag", "3"], "count_flag must be 0, 1 or 2"),
    (V2 + ["--expert-tokens-count-or-cumsum-flag", "1"], "needs expert_num >= 1"),
    (V2 + ["--active-num", "-1"], "must be >= 0"),
    (V2 + ["--expert-num", "-2"], "must be >= 0"),
    (QV2 + ["--quant-mode", "-1"], "--quant-mode must be 0 (static) or 1 (dynamic), got -1"),
    (QV2 + ["--quant-mode", "2"], "--quant-mode must be 0 (static) or 1 (dynamic), got 2"),
    (QV2 + ["--quant-mode", "1", "--expert-num", "3", "--scale", "sm_h5.npy"], "the smooth scales must be [1, H]"),
    (QV2 + ["--quant-mode", "1", "--expert-num", "4", "--scale", "sm.npy"], "scale has shape [3, 4]"),
    (["init-routing-quant-v2", "--x", "x.npy", "--expert-idx", "e_bad.npy", "--quant-mode", "1", "--expert-num", "3",
      "--scale", "sm.npy"], "expertIdx[3][1] = 3 is outside"),
    (V3 + ["--active-expert-range", "0,0"], "--active-expert-range [0, 0) is empty"),
    (V3 + ["--active-expert-range", "2,1"], "is empty"),
    (V3 + ["--active-expert-range", "1,4"], "the range [1, 4) must satisfy 0 <= start < end <= expert_num (3)"),
    (V3 + ["--active-expert-range", "-1,2"], "the range [-1, 2)"),
    (V3 + ["--active-num", "9"], "--active-num must be -1 or N*K = 10, got 9"),
    (V3 + ["--quant-mode", "0"], "quant_mode must be -1 or 1, got 0"),
    (V3 + ["--quant-mode", "0", "--scale", "sm.npy"], "quant_mode must be -1 or 1"),
    (V3 + ["--expert-tokens-num-type", "0"], "tokens_num_type must be 1 or 2"),
    (V3 + ["--row-idx-type", "2"], "row_idx_type must be 0 or 1"),
    (V3 + ["--row-idx-type", "-9999999999"], "--row-idx-type must be 0 or 1, got -9999999999"),
    (["init-routing-v3", "--x", "x.npy", "--expert-idx", "e.npy", "--expert-num", "0"], "expert_num must be in [1"),
    (["init-routing-v3", "--x", "x_i8.npy", "--expert-idx", "e.npy", "--expert-num", "3", "--quant-mode", "1"],
     "MOEROUTE_ERR_INVALID_DTYPE"),
    (V3 + ["--scale", "tok4.npy"], "scale has 4 entries; with --quant-mode -1 it holds one per token, [N] = [5]"),
    (V3 + ["--quant-mode", "1", "--active-expert-range", "1,3", "--scale", "sm.npy"],
     "the smooth scales must be [END - START, H] = [2, 4]"),
    (CET + ["--sorted-experts", "unsorted.npy"], "sortedExperts is not ascending: [2] = 1 follows 2"),
    (["compute-expert-tokens", "--num-experts", "2", "--sorted-experts", "sorted.npy"],
     "sortedExperts[3] = 2 is outside [0, numExperts = 2)"),
    (["compute-expert-tokens", "--num-experts", "0", "--sorted-experts", "sorted.npy"], "num_experts in [1"),
    (["compute-expert-tokens", "--num-experts", "99999999999", "--sorted-experts", "sorted.npy"], "num_experts in [1"),
    (V2 + ["--threads", "5000"], "MOEROUTE_ERR_INVALID_OPTION"),
]


@pytest.mark.parametrize("i", range(len(REFUSALS)))
def test_refused(inputs, i):
    args, needle = REFUSALS[i]
    res = run(*args, "--out", "o", cwd=inputs)
    assert res.returncode == REFUSED, (args, res.returncode, res.stderr)
    assert needle in res.stderr, res.stderr
    assert res.stderr.startswith("moeroute %s: " % args[0]), res.stderr
    assert not (inputs / "o").exists()          # nothing written for a refused input


FILE_ERRORS = [
    (["init-routing-v2", "--x", "nope.npy", "--expert-idx", "e.npy"], "nope.npy: cannot open"),
    (["init-routing-v2", "--x", "x_i8.npy", "--expert-idx", "e.npy"], "--x must be float16 ('<f2') or float32"),
    (["init-routing-v2", "--x", "x.npy", "--x-bf16", "--expert-idx", "e.npy"], "--x-bf16 expects a uint16 array"),
    (["init-routing-v2", "--x", "sm_f64.npy", "--expert-idx", "e.npy"], "'<f8' is not supported"),
    (["init-routing-v2", "--x", "tok.npy", "--expert-idx", "e.npy"], "--x must be 2-D [N, H]"),
    (["init-routing-v2", "--x", "x.npy", "--expert-idx", "sorted.npy"], "--expert-idx must be 2-D"),
    (["init-routing-v2", "--x", "x.npy", "--expert-idx", "x32.npy"], "--expert-idx must be int32"),
    (QV2 + ["--quant-mode", "1", "--scale", "sm_1d.npy"], "--scale must be 2-D [1, H] or [expert-num, H]"),
    (QV2 + ["--quant-mode", "1", "--scale", "sm_f64.npy"], "'<f8' is not supported"),
    (QV2 + ["--quant-mode", "1", "--scale", "sorted.npy"], "--scale must be float32 ('<f4'), the file holds '<i4'"),
    (QV2 + ["--quant-mode", "1", "--scale", "missing.npy"], "missing.npy: cannot open"),
    (V3 + ["--scale", "sm.npy"], "--scale must be 1-D [N] with --quant-mode -1"),
    (V3 + ["--quant-mode", "1", "--scale", "tok.npy"], "--scale must be 2-D [END - START, H] with --quant-mode 1"),
    (["init-routing-v3", "--x", "e.npy", "--expert-idx", "e.npy", "--expert-num", "3"],
     "--x must be float16 ('<f2'), float32 ('<f4') or int8 ('|i1')"),
    (CET + ["--sorted-experts", "sorted_2d.npy"], "--sorted-experts must be 1-D [L], the file holds 2 dimensions"),
    (CET + ["--sorted-experts", "sorted_i64.npy"], "must be int32"),
    (CET + ["--sorted-experts", "x.npy"], "must be 1-D"),
]


@pytest.mark.parametrize("i", range(len(FILE_ERRORS)))
def test_file_errors(inputs, i):
    args, needle = FILE_ERRORS[i]
    res = run(*args, "--out", "o", cwd=inputs)
    assert res.returncode == IO, (args, res.returncode, res.stderr)
    assert needle in res.stderr, res.stderr
    assert not (inputs / "o").exists()


def test_unwritable_output(inputs):
    (inputs / "file").write_text("not a dir")
    res = run(*V3, "--out", "file", cwd=inputs)
    assert res.returncode == IO and "not a directory" in res.stderr
    res = run(*CET, "--sorted-experts", "sorted.npy", "--out", "no/such/dir", cwd=inputs)
    assert res.returncode == IO and "cannot create the output directory" in res.stderr
    # an earlier output that cannot be removed (a directory of that name) is an I/O error, found before any
    # file of the set is moved into place (the outputs are committed as a set)
    (inputs / "d" / "expert_tokens_count_or_cumsum.npy").mkdir(parents=True)
    res = run(*V2, "--out", "d", cwd=inputs)
    assert res.returncode == IO and "is a directory" in res.stderr, res.stderr
    assert sorted(os.listdir(inputs / "d")) == ["expert_tokens_count_or_cumsum.npy"]


USAGE_ERRORS = [
    (["init-routing-v2", "--expert-idx", "e", "--out", "o"], "missing --x FILE"),
    (["init-routing-v2", "--x", "x", "--out", "o"], "missing --expert-idx FILE"),
    (["init-routing-v2", "--x", "x", "--expert-idx", "e"], "missing --out DIR"),
    (["init-routing-v2", "--x", "x", "--expert-idx", "e", "--out", ""], "--out is empty"),
    (["init-routing-v2", "--x", "x", "--expert-idx", "e", "--out", "o", "--expert-num", "8x"],
     "--expert-num: '8x' is not an integer"),
    (["init-routing-v2", "--x", "x", "--expert-idx", "e", "--out", "o", "--scale", "1"],
     "belong to init-routing-quant-v2"),
    (["init-routing-v2", "--quant-mode", "1"], "unknown option '--quant-mode'"),
    (["init-routing-v2", "--expert-tokens-before-capacity-flag=1"], "takes no value"),
    (["init-routing-v2", "--expert-num", "1", "--expert-num", "2"], "given twice"),
    (["init-routing-v2", "stray"], "unexpected argument 'stray'"),
    (["init-routing-quant-v2", "--x", "x", "--expert-idx", "e", "--out", "o"], "missing --scale S (quant-mode 0)"),
    (["init-routing-quant-v2", "--x", "x", "--expert-idx", "e", "--out", "o", "--scale", "1"],
     "missing --offset O (quant-mode 0)"),
    (["init-routing-quant-v2", "--x", "x", "--expert-idx", "e", "--out", "o", "--scale", "s.npy", "--offset", "0"],
     "'s.npy' is not a number"),
    (["init-routing-quant-v2", "--x", "x", "--expert-idx", "e", "--out", "o", "--scale", "1", "--offset", "1e999"],
     "--offset: '1e999' is not a number"),
    (["init-routing-quant-v2", "--x", "x", "--expert-idx", "e", "--out", "o", "--quant-mode", "1", "--offset", "0"],
     "has no offset"),
    (["init-routing-quant-v2", "--x", "x", "--expert-idx", "e", "--out", "o", "--quant-mode", "one"],
     "--quant-mode: 'one' is not an integer"),
    (["init-routing-v3", "--x", "x", "--expert-idx", "e", "--out", "o"], "missing --expert-num E"),
    (["init-routing-v3", "--x", "x", "--expert-idx", "e", "--out", "o", "--expert-num", "4",
      "--active-expert-range", "3"], "'3' is not START,END"),
    (["init-routing-v3", "--x", "x", "--expert-idx", "e", "--out", "o", "--expert-num", "4",
      "--active-expert-range", "1,2,3"], "is not START,END"),
    (["init-routing-v3", "--x", "x", "--expert-idx", "e", "--out", "o", "--expert-num", "4",
      "--active-expert-range", "a,b"], "is not START,END"),
    (["init-routing-v3", "--offset", "0"], "unknown option '--offset'"),
    (["init-routing-v3", "--drop-pad-mode", "0"], "unknown option '--drop-pad-mode'"),
    (["init-routing-v3", "--x", "x", "--expert-idx", "e", "--out", "o", "--expert-num", "4", "--threads", "-1"],
     "not a thread count"),
    (["init-routing-v3", "--x", "x", "--expert-idx", "e", "--out", "o", "--expert-num", "4", "--isa", "sse9"],
     "not one of"),
    (["compute-expert-tokens", "--num-experts", "3", "--out", "o"], "missing --sorted-experts FILE"),
    (["compute-expert-tokens", "--sorted-experts", "s", "--out", "o"], "missing --num-experts E"),
    (["compute-expert-tokens", "--sorted-experts", "s", "--num-experts", "2.5", "--out", "o"], "is not an integer"),
    (["compute-expert-tokens", "--x", "x"], "unknown option '--x'"),
    (["help", "init-routing-v4"], "unknown command 'init-routing-v4'"),
]


@pytest.mark.parametrize("i", range(len(USAGE_ERRORS)))
def test_usage_errors(tmp_path, i):
    args, needle = USAGE_ERRORS[i]
    res = run(*args, cwd=tmp_path)
    assert res.returncode == USAGE, (args, res.returncode, res.stderr)
    assert needle in res.stderr, res.stderr
    if args[0] != "help":
        assert "(see 'moeroute %s --help')" % args[0] in res.stderr
    assert not (tmp_path / "o").exists()


def test_drop_capacity_overflow_refused(tmp_path):
    """expert-num * expert-capacity beyond int64: refused before anything is allocated."""
    x, e = np.zeros((4, 2), np.float16), np.zeros((4, 1), np.int32)
    res = run("init-routing-v2", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e),
              "--drop-pad-mode", 1, "--expert-capacity", 4, "--expert-num", 2 ** 62, "--out", tmp_path / "o")
    assert res.returncode == REFUSED and "larger than this machine can address" in res.stderr, res.stderr


def test_drop_slot_index_beyond_int32_refused(tmp_path):
    """expandedRowIdxOut is int32: a slot e*C + rank above INT32_MAX cannot be represented and must be refused
    (H = 0 keeps the run small)."""
    n = 32769
    e = np.zeros((n, 1), np.int32)
    e[0, 0] = 65535                                       # slot 65535 * 32769 = 2147516415 > INT32_MAX
    res = run("init-routing-v2", "--x", save(tmp_path / "x.npy", np.zeros((n, 0), np.float16)), "--expert-idx",
              save(tmp_path / "e.npy", e), "--drop-pad-mode", 1, "--expert-capacity", n, "--expert-num", 65536,
              "--out", tmp_path / "o")
    if res.returncode == OK:
        assert load(tmp_path / "o", "expanded_row_idx")[0] >= 0, "slot index wrapped"
    assert res.returncode == REFUSED, res.stderr


def test_empty_per_expert_smooth_scales_refused(tmp_path):
    x = make_x(np.random.default_rng(3), 3, 4, "f32")
    e = np.array([[1, 2], [0, 1], [0, 2]], np.int32)
    with pytest.raises(rg.Refused):
        rg.init_routing_quant_v2(x, "f32", e, np.zeros((0, 4), np.float32), None, 0, 0, 0, 0, 0, False, 1)
    res = run("init-routing-quant-v2", "--x", save(tmp_path / "x.npy", x), "--expert-idx", save(tmp_path / "e.npy", e),
              "--quant-mode", 1, "--scale", save(tmp_path / "s.npy", np.zeros((0, 4), np.float32)),
              "--out", tmp_path / "o")
    assert res.returncode == REFUSED, res.stderr


def test_mutated_files_never_crash(tmp_path):
    """Random byte flips and cuts of valid inputs of each command: a documented status and a message, never a
    crash or a sanitizer report."""
    rng = np.random.default_rng(9100)
    x = make_x(rng, 6, 5, "f32")
    e = rng.integers(0, 4, size=(6, 2)).astype(np.int32)
    good = {"x": save(tmp_path / "x.npy", x).read_bytes(), "e": save(tmp_path / "e.npy", e).read_bytes(),
            "sm": save(tmp_path / "sm.npy", np.ones((4, 5), np.float32)).read_bytes(),
            "s": save(tmp_path / "s.npy", np.sort(e.reshape(-1))).read_bytes()}
    bad = tmp_path / "bad.npy"
    commands = [
        ("x", lambda b: ["init-routing-v2", "--x", b, "--expert-idx", tmp_path / "e.npy", "--expert-num", 4,
                         "--drop-pad-mode", 1, "--expert-capacity", 2]),
        ("e", lambda b: ["init-routing-quant-v2", "--x", tmp_path / "x.npy", "--expert-idx", b, "--quant-mode", 1,
                         "--expert-num", 4, "--scale", tmp_path / "sm.npy"]),
        ("sm", lambda b: ["init-routing-quant-v2", "--x", tmp_path / "x.npy", "--expert-idx", tmp_path / "e.npy",
                          "--quant-mode", 1, "--expert-num", 4, "--scale", b]),
        ("e", lambda b: ["init-routing-v3", "--x", tmp_path / "x.npy", "--expert-idx", b, "--expert-num", 4,
                         "--expert-tokens-num-type", 2]),
        ("s", lambda b: ["compute-expert-tokens", "--sorted-experts", b, "--num-experts", 4]),
    ]
    seen = set()
    for i in range(100):
        which, cmd = commands[i % len(commands)]
        b = bytearray(good[which])
        if i % 7 == 0:
            b = b[:int(rng.integers(0, len(b)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(0, min(len(b), 90)))] = int(rng.integers(0, 256))
        bad.write_bytes(bytes(b))
        args = cmd(bad)
        res = run(*args, "--out", tmp_path / "o")
        assert res.returncode in (OK, REFUSED, IO), (bytes(b)[:90], args, res.returncode, res.stderr)
        if res.returncode != OK:
            assert res.stderr.startswith("moeroute %s: " % args[0]), res.stderr
        seen.add(res.returncode)
    assert IO in seen


# ---- help -------------------------------------------------------------------------------------------------------

FAMILY = ["init-routing-v2", "init-routing-quant-v2", "init-routing-v3", "compute-expert-tokens"]


@pytest.mark.parametrize("cmd", FAMILY)
def test_help(cmd):
    for args in ([cmd, "--help"], [cmd, "-h"], ["help", cmd], [cmd, "--out", "o", "-h"]):
        res = run(*args)
        assert res.returncode == OK and res.stderr == "", res.stderr
        assert res.stdout.startswith("usage: moeroute %s " % cmd)
        assert "exit status" in res.stdout and "  3  file" in res.stdout
    top = run("--help").stdout
    assert re.search(r"^  %s +\S" % re.escape(cmd), top, re.M), top


def test_help_names_every_option():
    """Every option a command takes appears in its --help (the tables and the text stay in step)."""
    options = {
        "init-routing-v2": ["--x", "--x-bf16", "--expert-idx", "--active-num", "--expert-capacity", "--expert-num",
                            "--drop-pad-mode", "--expert-tokens-count-or-cumsum-flag",
                            "--expert-tokens-before-capacity-flag", "--out", "--threads", "--isa"],
        "init-routing-v3": ["--x", "--x-bf16", "--expert-idx", "--scale", "--active-num", "--expert-num",
                            "--expert-tokens-num-type", "--quant-mode", "--active-expert-range", "--row-idx-type",
                            "--out", "--threads", "--isa"],
        "compute-expert-tokens": ["--sorted-experts", "--num-experts", "--out", "--threads", "--isa"],
    }
    options["init-routing-quant-v2"] = options["init-routing-v2"] + ["--scale", "--offset", "--quant-mode"]
    for cmd, opts in options.items():
        text = run(cmd, "--help").stdout
        for o in opts:
            assert re.search(r"(^|[\s\[])%s([\s=\]]|$)" % re.escape(o), text, re.M), (cmd, o)


# ---- the routing-family examples of cli/README.md, as written -----------------------------------------------------

def test_readme_examples(tmp_path):
    blocks = readme_blocks("The routing family")
    assert len(blocks) >= 4
    text = "".join(blocks)
    for cmd in FAMILY:
        assert "moeroute %s " % cmd in text, cmd
    work = run_readme_blocks(tmp_path, blocks)
    # the results the README states, and the golden model on the files the blocks wrote
    x, e = np.load(work / "x_doc.npy"), np.load(work / "e_doc.npy")
    assert load(work / "out_v2", "expert_tokens_count_or_cumsum").tolist() == [2, 2, 2, 0]
    want = rg.init_routing_v2(x, e, 0, 0, 4, 0, 2, False)
    for name in ("expanded_x", "expanded_row_idx", "expert_tokens_count_or_cumsum"):
        assert_out(load(work / "out_v2", name), want[name], name)
    assert load(work / "out_v2_drop", "expanded_row_idx").tolist() == [1, 2, 0, -1, -1, -1]
    assert (load(work / "out_qv2_static", "expanded_x") == 2).all()
    sm = np.load(work / "smooth.npy")
    want = rg.init_routing_quant_v2(x, "f32", e, sm, None, 0, 0, 0, 0, 0, False, 1)
    for name in ("expanded_x", "dynamic_quant_scale"):
        assert_out(load(work / "out_qv2_dyn", name), want[name], name)
    want = rg.init_routing_v3(x, "f32", e, np.load(work / "tok_scale.npy"), 4, 2, -1, (1, 3), 0)
    for name in V3_FILES:
        assert_out(load(work / "out_v3", name), want[name], name,
                   np.int64 if name == "expert_tokens_count_or_cumsum" else None)
    assert load(work / "out_v3", "expert_tokens_count_or_cumsum").tolist() == [[1, 2], [2, 2], [0, 0], [0, 0]]
    assert load(work / "out_cet", "expert_tokens").tolist() == [2, 4, 6]
