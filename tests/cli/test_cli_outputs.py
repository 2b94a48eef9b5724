"""The CLI's output files as a set (cli/moeroute_cli.c: cli_write_output, cli_commit_outputs) and its error
lines: a command that fails while writing leaves every existing output file as it was and no temporary
file behind; every refused input is reported on exactly one stderr line.

MOEROUTE_CLI is the built binary (CTest sets it); by hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli/test_cli_outputs.py
"""

import os
import resource
import signal
import subprocess

import numpy as np

from cli_common import CLI, IO, OK, REFUSED, USAGE, needs_cli

pytestmark = needs_cli

NAMES = ("expanded_x.npy", "expanded_row_idx.npy", "expanded_expert_idx.npy")


def run(*args, limit_file_size=None):
    def pre():
        if limit_file_size is not None:  # writes beyond the limit fail with EFBIG instead of killing the CLI
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, timeout=60, env=env,
                       preexec_fn=pre)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


def inputs(tmp_path, seed, n=250, k=4, h=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h)).astype(np.float32)
    e = rng.integers(0, 9, size=(n, k)).astype(np.int32)
    np.save(tmp_path / ("x%d.npy" % seed), x)
    np.save(tmp_path / ("e%d.npy" % seed), e)
    return ["init-routing-quant", "--x", tmp_path / ("x%d.npy" % seed), "--expert-idx", tmp_path / ("e%d.npy" % seed),
            "--scale", 3, "--offset", 0]


def snapshot(d):
    return {n: (open(os.path.join(d, n), "rb").read() if os.path.isfile(os.path.join(d, n)) else "dir")
            for n in sorted(os.listdir(d))}


def test_success_leaves_exactly_the_outputs(tmp_path):
    out = tmp_path / "out"
    r = run(*inputs(tmp_path, 1), "--out", out, "-v")
    assert r.returncode == OK, r.stderr
    assert sorted(os.listdir(out)) == sorted(NAMES)
    assert r.stdout.splitlines() == ["wrote %s %s" % (out / n, s) for n, s in
                                     zip(NAMES, ("'|i1' [1000, 2]", "'<i4' [1000]", "'<i4' [1000]"))]


def test_second_output_is_a_directory(tmp_path):
    out = tmp_path / "out"
    assert run(*inputs(tmp_path, 1), "--out", out).returncode == OK
    os.remove(out / NAMES[1])
    os.mkdir(out / NAMES[1])  # the second output cannot be replaced
    before = snapshot(out)
    r = run(*inputs(tmp_path, 2), "--out", out, "-v")
    assert r.returncode == IO, (r.returncode, r.stderr)
    assert "is a directory" in r.stderr and str(out / NAMES[1]) in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stdout == ""
    assert snapshot(out) == before  # the first and third files are the old ones; no temporary file


def test_write_failure_on_the_second_file(tmp_path):
    out = tmp_path / "out"
    assert run(*inputs(tmp_path, 1), "--out", out).returncode == OK
    before = snapshot(out)
    # expanded_x is 2000 data bytes, expanded_row_idx 4000: a 3000-byte file size limit fails the second write
    r = run(*inputs(tmp_path, 2), "--out", out, limit_file_size=3000)
    assert r.returncode == IO, (r.returncode, r.stderr)
    assert "expanded_row_idx.npy" in r.stderr and "write failed" in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert snapshot(out) == before
    r = run(*inputs(tmp_path, 2), "--out", out)  # and without the limit the new set replaces the old one
    assert r.returncode == OK and snapshot(out) != before


def test_one_error_line_per_refused_input(tmp_path):
    base = inputs(tmp_path, 3, n=6, k=2, h=4)
    bad_row = np.arange(12, dtype=np.int32).reshape(6, 2)
    bad_row[1, 1] = 0
    np.save(tmp_path / "row.npy", bad_row)
    np.save(tmp_path / "f64.npy", np.zeros((6, 4)))
    np.save(tmp_path / "x1d.npy", np.zeros(6, np.float32))
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    np.save(tmp_path / "desc.npy", np.array([3, 1], np.int32))  # not ascending
    out = tmp_path / "o"
    cases = [
        (REFUSED, base + ["--row-idx", tmp_path / "row.npy", "--out", out]),   # the library's refusal
        (REFUSED, base + ["--active-num", -1, "--out", out]),
        (USAGE, base + ["--bogus", 1, "--out", out]),
        (USAGE, base + ["--out", out, "--scale", 2]),
        (USAGE, ["init-routing-quant", "--x", tmp_path / "x3.npy"]),
        (IO, ["init-routing", "--x", tmp_path / "f64.npy", "--expert-idx", tmp_path / "e3.npy", "--out", out]),
        (IO, ["init-routing", "--x", tmp_path / "x1d.npy", "--expert-idx", tmp_path / "e3.npy", "--out", out]),
        (IO, ["init-routing", "--x", tmp_path / "junk.npy", "--expert-idx", tmp_path / "e3.npy", "--out", out]),
        (IO, ["init-routing", "--x", tmp_path / "missing.npy", "--expert-idx", tmp_path / "e3.npy", "--out", out]),
        (REFUSED, ["init-routing-v3", "--x", tmp_path / "x3.npy", "--expert-idx", tmp_path / "e3.npy",
                   "--expert-num", 4, "--active-expert-range", "3,2", "--out", out]),
        (REFUSED, ["compute-expert-tokens", "--sorted-experts", tmp_path / "desc.npy", "--num-experts", 9,
                   "--out", out]),
        (USAGE, ["no-such-command"]),
    ]
    for want, args in cases:
        r = run(*args)
        assert r.returncode == want, (args, r.returncode, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("moeroute"), (args, r.stderr)
    assert not out.exists()  # nothing was written by any of them
