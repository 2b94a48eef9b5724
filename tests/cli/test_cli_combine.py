"""The moeroute CLI's combine commands (cli/combine_cmds.c) on .npy files written by numpy:

    token-permute, token-unpermute, finalize-routing (versions 1 and 2), re-routing

against the independent numpy models (tests/python/combine_golden.py, re_routing_golden.py and a stable-sort
model of MoeTokenPermute here). By hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli/test_cli_combine.py
Checks: every output byte, the set of files written, C and Fortran order inputs, threads and ISA giving the same
bytes, the documented exit status with a message for refused inputs, file errors and usage errors (and no
file written then), --help, and the combine examples of cli/README.md run as written, with their results.
Random cases use fixed seeds (the parameter), so a failure replays as it is.
"""

import os
import re

import numpy as np
import pytest

# cli_common first: it puts tests/python (the golden models) on sys.path
from cli_common import IO, OK, REFUSED, USAGE, needs_cli, readme_blocks, run, run_readme_blocks
import combine_golden as cg  # noqa: E402
from re_routing_golden import model as re_routing_model  # noqa: E402

pytestmark = needs_cli

COMMANDS = ("token-permute", "token-unpermute", "finalize-routing", "re-routing")


def run_ok(*args, **kw):
    r = run(*args, **kw)
    assert r.returncode == OK, (args, r.stderr)
    assert r.stderr == ""
    return r


def save(d, name, a, fortran=False):
    p = os.path.join(str(d), name + ".npy")
    np.save(p, np.asfortranarray(a) if fortran else a)
    return p


def files(d):
    return sorted(f[:-4] for f in os.listdir(d) if f.endswith(".npy")) if os.path.isdir(d) else []


def load(d, name):
    return np.load(os.path.join(str(d), name + ".npy"))


def assert_bytes(got, want, name=""):
    want = np.ascontiguousarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (name, got.shape, got.dtype, want.shape, want.dtype)
    assert got.tobytes() == want.tobytes(), name


def floats(rng, shape, dtype):
    v = rng.standard_normal(shape) * 4
    if dtype == "bf16":
        return (v.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)  # truncation: any bits will do
    return v.astype(cg.NP_DTYPE[dtype])


def bf16_flag(*dtypes):
    return ["--bf16"] if "bf16" in dtypes else []


# ---- token-permute ---------------------------------------------------------------------------------------------

def permute_model(tokens, indices, num_out):
    flat = indices.reshape(-1)
    L = flat.size
    k = indices.shape[1] if indices.ndim == 2 else 1
    n = num_out + L if num_out <= 0 else num_out
    n = min(max(n, 0), L)
    perm = np.argsort(flat, kind="stable")
    inv = np.empty(L, np.int32)
    inv[perm] = np.arange(L, dtype=np.int32)
    return tokens[perm[:n] // k], inv


@pytest.mark.parametrize("seed", range(12))
def test_token_permute(tmp_path, seed):
    rng = np.random.default_rng([seed, 1])
    T, k, H = int(rng.integers(0, 20)), int(rng.integers(1, 5)), int(rng.integers(1, 9))
    dtype = ("f16", "bf16", "f32", "i8")[seed % 4]
    tokens = rng.integers(-100, 100, (T, H)).astype(np.int8) if dtype == "i8" else floats(rng, (T, H), dtype)
    idx = rng.integers(0, 6, (T, k) if seed % 3 else (T,)).astype((np.int32, np.int64)[seed % 2])
    num_out = int(rng.choice([0, -1, 3, 10 ** 6]))
    out = tmp_path / "out"
    run_ok("token-permute", "--tokens", save(tmp_path, "t", tokens, fortran=seed % 2 == 1), "--indices",
           save(tmp_path, "i", idx, fortran=seed % 5 == 0), "--num-out-tokens", num_out, "--out", out,
           *bf16_flag(dtype))
    wp, ws = permute_model(tokens, idx, num_out)
    assert files(out) == ["permuted_tokens", "sorted_indices"]
    assert_bytes(load(out, "permuted_tokens"), wp, "permuted_tokens")
    assert_bytes(load(out, "sorted_indices"), ws, "sorted_indices")


# ---- token-unpermute -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_token_unpermute(tmp_path, seed):
    rng = np.random.default_rng([seed, 2])
    T, k, H = int(rng.integers(0, 12)), int(rng.integers(1, 5)), int(rng.integers(1, 9))
    tdt, pdt = cg.DTYPES[seed % 3], cg.DTYPES[(seed // 3) % 3]
    with_probs = seed % 4 != 3
    if not with_probs:
        k = 1
    M = T * k + int(rng.integers(-2, 3)) if T * k > 2 else T * k
    tokens = floats(rng, (M, H), tdt)
    idx = rng.integers(0, max(M, 1) + 2, T * k).astype(np.int32)  # some >= M: skipped
    probs = floats(rng, (T, k), pdt) if with_probs else None
    if with_probs and probs.size:
        probs.reshape(-1)[::3] = 0  # zero probabilities: skipped
    args = ["--permuted-tokens", save(tmp_path, "p", tokens, fortran=seed % 2 == 1), "--sorted-indices",
            save(tmp_path, "s", idx)]
    if with_probs:
        args += ["--probs", save(tmp_path, "w", probs, fortran=seed % 3 == 0)]
    out = tmp_path / "out"
    run_ok("token-unpermute", *args, "--out", out, *bf16_flag(tdt, pdt if with_probs else "f32"))
    want = cg.token_unpermute(tokens, tdt, idx, probs, pdt if with_probs else None)
    assert files(out) == ["out"]
    assert_bytes(load(out, "out"), want, "out")


# ---- finalize-routing ------------------------------------------------------------------------------------------

def finalize_case(seed):
    rng = np.random.default_rng([seed, 3])
    N, K, H, E = int(rng.integers(0, 8)), int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(1, 5))
    dtype = cg.DTYPES[seed % 3]
    return rng, N, K, H, E, dtype


@pytest.mark.parametrize("seed", range(9))
def test_finalize_v1(tmp_path, seed):
    rng, N, K, H, E, dtype = finalize_case(seed)
    M = N * K
    ex, x1, x2 = floats(rng, (M, H), dtype), floats(rng, (N, H), dtype), floats(rng, (N, H), dtype)
    bias, sc = floats(rng, (E, H), dtype), floats(rng, (N, K), dtype)
    ri = rng.permutation(M).astype(np.int32)
    ei = rng.integers(0, E, (N, K)).astype(np.int32)
    use_x2 = seed % 2 == 0
    args = ["--version", 1, "--expanded-x", save(tmp_path, "ex", ex, fortran=seed % 3 == 1), "--expanded-row-idx",
            save(tmp_path, "ri", ri), "--x1", save(tmp_path, "x1", x1), "--bias", save(tmp_path, "b", bias),
            "--scales", save(tmp_path, "sc", sc), "--expert-idx", save(tmp_path, "ei", ei, fortran=True)]
    if use_x2:
        args += ["--x2", save(tmp_path, "x2", x2)]
    out = tmp_path / "out"
    run_ok("finalize-routing", *args, "--out", out, *bf16_flag(dtype))
    want = cg.finalize_routing(ex, x1, x2 if use_x2 else None, bias, sc, ri, ei, dtype)
    assert_bytes(load(out, "out"), want, "out")


@pytest.mark.parametrize("seed", range(16))
def test_finalize_v2(tmp_path, seed):
    rng, N, K, H, E, dtype = finalize_case(seed)
    mode = seed % 4
    drop = mode in (1, 3)
    C = int(rng.integers(1, 4))
    M = E * C if drop else N * K
    ex = floats(rng, (E, C, H) if drop else (M, H), dtype)
    ri = rng.integers(-1 if drop else 0, max(M, 1), N * K).astype(np.int32)
    opt = {name: bool(rng.integers(0, 2)) for name in ("x1", "x2", "bias", "scales")}
    if not opt["scales"]:
        K = 1
        ri = ri[:N]
    sdt = "f32" if dtype == "bf16" and seed % 2 else dtype
    arrays = {"x1": floats(rng, (N, H), dtype), "x2": floats(rng, (N, H), dtype), "bias": floats(rng, (E, H), dtype),
              "scales": floats(rng, (N, K), sdt)}
    ei = rng.integers(0, E, (N, K)).astype(np.int32)
    args = ["--expanded-x", save(tmp_path, "ex", ex, fortran=seed % 3 == 0), "--expanded-row-idx",
            save(tmp_path, "ri", ri), "--drop-pad-mode", mode]
    for name, given in opt.items():
        if given:
            args += ["--" + name, save(tmp_path, name, arrays[name])]
    if opt["bias"]:
        args += ["--expert-idx", save(tmp_path, "ei", ei)]
    out = tmp_path / "out"
    run_ok("finalize-routing", *args, "--out", out, *bf16_flag(dtype, sdt))
    g = {name: arrays[name] if opt[name] else None for name in opt}
    want = cg.finalize_routing_v2(ex, ri, g["x1"], g["x2"], g["bias"], g["scales"], ei if opt["bias"] else None, mode,
                                  dtype, scales_dtype=sdt)
    assert_bytes(load(out, "out"), want, "out")


# ---- re-routing ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_re_routing(tmp_path, seed):
    rng = np.random.default_rng([seed, 4])
    R, E, H = int(rng.integers(1, 5)), int(rng.integers(1, 7)), int(rng.integers(1, 9))
    counts = rng.integers(0, 5, (R, E)).astype((np.int32, np.int64)[seed % 2])
    A = int(counts.sum())
    dtype = ("f16", "bf16", "i8")[seed % 3]
    tokens = rng.integers(-100, 100, (A, H)).astype(np.int8) if dtype == "i8" else floats(rng, (A, H), dtype)
    scales = rng.standard_normal(A).astype(np.float32) if seed % 4 else None
    args = ["--tokens", save(tmp_path, "t", tokens, fortran=seed % 2 == 0), "--expert-token-num-per-rank",
            save(tmp_path, "c", counts, fortran=seed % 3 == 0)]
    if scales is not None:
        args += ["--per-token-scales", save(tmp_path, "s", scales)]
    out = tmp_path / "out"
    run_ok("re-routing", *args, "--out", out, *bf16_flag(dtype))
    want = re_routing_model(tokens, counts, scales)
    names = ("permute_tokens", "permute_per_token_scales", "permute_token_idx", "expert_token_num")
    assert files(out) == sorted(names)
    for name, w in zip(names, want):
        assert_bytes(load(out, name), w, name)


@pytest.mark.parametrize("opts", [["--threads", "1"], ["--threads", "3", "--isa", "scalar"], ["--isa", "avx2"]])
def test_threads_and_isa_give_same_bytes(tmp_path, opts):
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 200, (4, 8)).astype(np.int32)
    tokens = floats(rng, (int(counts.sum()), 300), "f16")
    args = ["re-routing", "--tokens", save(tmp_path, "t", tokens), "--expert-token-num-per-rank",
            save(tmp_path, "c", counts)]
    run_ok(*args, "--out", tmp_path / "ref")
    run_ok(*args, "--out", tmp_path / "alt", *opts)
    for name in files(tmp_path / "ref"):
        assert_bytes(load(tmp_path / "alt", name), load(tmp_path / "ref", name), name)


# ---- refusals, file and usage errors: status, a message, nothing written ------------------------------------------

@pytest.fixture
def inp(tmp_path):
    d = {}
    d["tok"] = save(tmp_path, "tok", np.arange(14, dtype=np.float16).reshape(7, 2))
    d["cnt"] = save(tmp_path, "cnt", np.array([[1, 0, 2], [2, 1, 1]], np.int32))
    d["cnt_bad_sum"] = save(tmp_path, "cnt_bad_sum", np.array([[1, 0, 2], [2, 1, 0]], np.int32))
    d["cnt_neg"] = save(tmp_path, "cnt_neg", np.array([[1, -1, 3], [2, 1, 1]], np.int32))
    d["cnt_f32"] = save(tmp_path, "cnt_f32", np.ones((2, 3), np.float32))
    d["sc6"] = save(tmp_path, "sc6", np.zeros(6, np.float32))
    d["idx"] = save(tmp_path, "idx", np.array([2, 0, 3, 1], np.int32))
    d["idx_neg"] = save(tmp_path, "idx_neg", np.array([2, 0, -3, 1], np.int32))
    d["probs"] = save(tmp_path, "probs", np.ones((2, 2), np.float32))
    d["probs3"] = save(tmp_path, "probs3", np.ones((3, 2), np.float32))
    d["ptok"] = save(tmp_path, "ptok", np.ones((4, 2), np.float32))
    d["u2"] = save(tmp_path, "u2", np.ones((4, 2), np.uint16))
    d["i64_2d"] = save(tmp_path, "i64_2d", np.zeros((3, 2), np.int64))
    d["notnpy"] = os.path.join(str(tmp_path), "notnpy.npy")
    with open(d["notnpy"], "w") as f:
        f.write("not a numpy file")
    d["out"] = str(tmp_path / "out")
    return d


BAD = [
    # (status, args, words the message must contain)
    (REFUSED, ["re-routing", "--tokens", "{tok}", "--expert-token-num-per-rank", "{cnt_bad_sum}"], "sum"),
    (REFUSED, ["re-routing", "--tokens", "{tok}", "--expert-token-num-per-rank", "{cnt_neg}"], "negative"),
    (REFUSED, ["re-routing", "--tokens", "{tok}", "--expert-token-num-per-rank", "{cnt}", "--per-token-scales",
               "{sc6}"], "per-token-scales"),
    (REFUSED, ["token-unpermute", "--permuted-tokens", "{ptok}", "--sorted-indices", "{idx_neg}", "--probs",
               "{probs}"], "negative"),
    (REFUSED, ["token-unpermute", "--permuted-tokens", "{ptok}", "--sorted-indices", "{idx}", "--probs",
               "{probs3}"], "T*k"),
    (REFUSED, ["token-permute", "--tokens", "{tok}", "--indices", "{i64_2d}"], "rows"),
    (REFUSED, ["finalize-routing", "--expanded-x", "{ptok}", "--expanded-row-idx", "{idx}", "--drop-pad-mode", "4"],
     "drop_pad_mode"),
    (REFUSED, ["finalize-routing", "--expanded-x", "{ptok}", "--expanded-row-idx", "{idx}", "--scales", "{probs3}"],
     "N*K"),
    (IO, ["re-routing", "--tokens", "{tok}", "--expert-token-num-per-rank", "{cnt_f32}"], "int32"),
    (IO, ["re-routing", "--tokens", "{notnpy}", "--expert-token-num-per-rank", "{cnt}"], "notnpy"),
    (IO, ["re-routing", "--tokens", "{ptok}", "--expert-token-num-per-rank", "{cnt}"], "float16"),
    (IO, ["token-unpermute", "--permuted-tokens", "{u2}", "--sorted-indices", "{idx}"], "--bf16"),
    (IO, ["token-unpermute", "--permuted-tokens", "{ptok}", "--sorted-indices", "{probs}"], "1-D"),
    (USAGE, ["re-routing", "--tokens", "{tok}"], "--expert-token-num-per-rank"),
    (USAGE, ["finalize-routing", "--expanded-x", "{ptok}", "--expanded-row-idx", "{idx}", "--version", "3"],
     "--version"),
    (USAGE, ["finalize-routing", "--expanded-x", "{ptok}", "--expanded-row-idx", "{idx}", "--version", "1"], "--x1"),
    (USAGE, ["token-permute", "--tokens", "{tok}", "--indices", "{idx}", "--num-out-tokens", "x"], "integer"),
    (USAGE, ["token-permute", "--tokens", "{tok}", "--indices", "{idx}", "--probs", "{probs}"], "probs"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input(inp, i):
    status, args, words = BAD[i]
    res = run(*[a.format(**inp) for a in args], "--out", inp["out"])
    assert res.returncode == status, (args, res.returncode, res.stderr)
    assert res.stderr.startswith("moeroute %s: " % args[0]) and words in res.stderr, res.stderr
    assert files(inp["out"]) == []


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd):
    for args in ([cmd, "--help"], [cmd, "-h"], ["help", cmd]):
        res = run(*args)
        assert res.returncode == OK and res.stderr == "", res.stderr
        assert res.stdout.startswith("usage: moeroute %s " % cmd)
        assert "exit status" in res.stdout and "  3  file" in res.stdout
    assert re.search(r"^  %s +\S" % re.escape(cmd), run("--help").stdout, re.M)


def test_help_names_every_option():
    options = {
        "token-permute": ["--tokens", "--indices", "--num-out-tokens"],
        "token-unpermute": ["--permuted-tokens", "--sorted-indices", "--probs"],
        "finalize-routing": ["--expanded-x", "--expanded-row-idx", "--x1", "--x2", "--bias", "--scales",
                             "--expert-idx", "--drop-pad-mode", "--version"],
        "re-routing": ["--tokens", "--expert-token-num-per-rank", "--per-token-scales"],
    }
    for cmd, opts in options.items():
        text = run(cmd, "--help").stdout
        for o in opts + ["--out", "--bf16", "--threads", "--isa"]:
            assert re.search(r"(^|[\s\[])%s([\s=\]]|$)" % re.escape(o), text, re.M), (cmd, o)


# ---- the combine examples of cli/README.md, as written --------------------------------------------------------

def test_readme_examples(tmp_path):
    blocks = readme_blocks("The combine operators")
    joined = "".join(blocks)
    for cmd in COMMANDS:
        assert "moeroute %s " % cmd in joined, cmd
    work = run_readme_blocks(tmp_path, blocks)
    # the results the README states
    assert load(work / "out_perm", "sorted_indices").tolist() == [2, 4, 0, 3, 1, 5]
    x = np.load(work / "x_doc.npy")
    assert_bytes(load(work / "out_unperm", "out"), x)   # .5 * row + .5 * row is the row again, exactly
    assert_bytes(load(work / "out_fin", "out"), x)
    assert load(work / "out_rr", "permute_token_idx").tolist() == [0, 3, 4, 5, 1, 2, 6]
    assert load(work / "out_rr", "expert_token_num").tolist() == [3, 1, 3]
    e = np.load(work / "e_doc.npy")
    wp, ws = permute_model(x, e, 0)
    assert_bytes(load(work / "out_perm", "permuted_tokens"), wp)
    want = cg.token_unpermute(load(work / "out_perm", "permuted_tokens"), "f32", ws,
                              np.full((3, 2), 0.5, np.float32), "f32")
    assert_bytes(load(work / "out_unperm", "out"), want)
    want = cg.finalize_routing_v2(load(work / "out_perm", "permuted_tokens"), ws, None, None, None,
                                  np.full((3, 2), 0.5, np.float32), None, 2, "f32")
    assert_bytes(load(work / "out_fin", "out"), want)
