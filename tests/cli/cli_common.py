"""What the tests/cli files share: the repository root, tests/python on sys.path (the golden models), the CLI
under test (MOEROUTE_CLI, set by CTest) with its exit statuses, running it, and running the examples of
cli/README.md as written."""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLDEN_DIR = os.path.join(ROOT, "tests", "python")
if GOLDEN_DIR not in sys.path:
    sys.path.insert(0, GOLDEN_DIR)

CLI = os.environ.get("MOEROUTE_CLI")
needs_cli = pytest.mark.skipif(not CLI, reason="MOEROUTE_CLI is not set")

OK, REFUSED, USAGE, IO = 0, 1, 2, 3


def cli_env(extra=None):
    """The environment for the CLI child. CTest's sanitizer settings exist for python loading an ASan
    library: the CLI links its own runtime (no LD_PRELOAD needed) and must pass with leak checking on."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=0", "detect_leaks=1")
    if extra:
        env.update(extra)
    return env


def run(*args, env=None, cwd=None):
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, timeout=120,
                       env=cli_env(env), cwd=cwd)
    # a sanitizer report is a failure whatever the status says
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


def readme_blocks(section=None):
    """The ```sh blocks of the EXAMPLES section of cli/README.md (those after "### <section>" when given)."""
    with open(os.path.join(ROOT, "cli", "README.md")) as f:
        text = f.read()
    examples = text.split("## EXAMPLES", 1)[1].split("\n## ", 1)[0]
    if section is not None:
        examples = examples.split("### " + section, 1)[1]
    return re.findall(r"```sh\n(.*?)```", examples, re.S)


def run_readme_blocks(tmp_path, blocks):
    """Run each block with bash -e in a fresh work folder, `moeroute` and `python3` on PATH, as a user would:
    each must exit 0 without a sanitizer report. Returns the work folder."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(CLI, bindir / "moeroute")
    os.symlink(sys.executable, bindir / "python3")
    env = cli_env({"PATH": "%s:%s" % (bindir, os.environ.get("PATH", ""))})
    work = tmp_path / "work"
    work.mkdir()
    for block in blocks:
        r = subprocess.run(["bash", "-e", "-c", block], cwd=work, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "block:\n%s\nstdout:\n%s\nstderr:\n%s" % (block, r.stdout, r.stderr)
        assert "Sanitizer" not in r.stderr
    return work
