"""The manual page cli/moeroute.1: it renders with man(1) without warnings, names every command the tool
has, carries the library's version, and CMake's install rules put it in share/man/man1.

MOEROUTE_CLI is the built binary (CTest sets it; its build tree is the one installed); by hand:
    MOEROUTE_CLI=build/cli/moeroute python3 -m pytest -q tests/cli/test_cli_man.py
"""

import os
import re
import shutil
import subprocess

import pytest

from cli_common import CLI, ROOT

PAGE = os.path.join(ROOT, "cli", "moeroute.1")


def render():
    """The page as man -l (else nroff -man) formats it, and the warnings on stderr."""
    env = dict(os.environ, MANWIDTH="100", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
    for var in ("LD_PRELOAD", "ASAN_OPTIONS"):  # the sanitizer runtime CTest preloads for python, not for troff
        env.pop(var, None)
    if shutil.which("man"):
        cmd = ["man", "--warnings", "-l", PAGE]
    elif shutil.which("nroff"):
        cmd = ["nroff", "-man", "-ww", PAGE]
    else:
        pytest.skip("neither man nor nroff is installed: the page cannot be rendered here")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


def test_renders_without_warnings():
    text, warnings = render()
    assert warnings == "", warnings
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "EXIT STATUS", "ENVIRONMENT", "EXAMPLES"):
        assert re.search(r"^%s$" % section, text, re.M), section
    assert "moeroute - MoE token routing" in text


def test_version_and_commands_match_the_tool():
    with open(os.path.join(ROOT, "include", "moeroute", "moeroute.h")) as f:
        h = f.read()
    ver = "%s.%s" % tuple(re.search(r"#define MOEROUTE_VERSION_%s +(\d+)" % p, h).group(1) for p in ("MAJOR", "MINOR"))
    with open(PAGE) as f:
        page = f.read()
    assert re.search(r'^\.TH MOEROUTE 1 "[^"]*" "moeroute %s"' % re.escape(ver), page, re.M), "update .TH"
    if not CLI:
        pytest.skip("MOEROUTE_CLI is not set: the command list is not compared")
    r = subprocess.run([CLI, "--help"], capture_output=True, text=True, timeout=60)
    commands = re.findall(r"^  ([a-z][a-z0-9-]+) ", r.stdout.split("commands:", 1)[1].split("\n\n", 1)[0], re.M)
    assert "init-routing" in commands and "info" in commands
    source = page.replace("\\-", "-")
    for c in commands:
        assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(c), source), \
            "cli/moeroute.1 does not describe the command '%s' (add it, from cli/README.md)" % c


def test_installed_to_share_man_man1(tmp_path):
    # the install rules of cli/ alone (the tool and its page), run from the build tree of MOEROUTE_CLI
    script = os.path.join(os.path.dirname(os.path.abspath(CLI)), "cmake_install.cmake") if CLI else ""
    if not os.path.exists(script) or not shutil.which("cmake"):
        pytest.skip("no CMake build tree to install from (MOEROUTE_CLI unset or not in one)")
    r = subprocess.run(["cmake", "-DCMAKE_INSTALL_PREFIX=%s" % tmp_path, "-P", script], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = tmp_path / "share" / "man" / "man1" / "moeroute.1"
    assert installed.read_bytes() == open(PAGE, "rb").read()
