#!/usr/bin/env bash
# Print the path of a Python 3 interpreter that has what the test suite needs (numpy, pytest, wheel),
# provisioning it when needed, in this order:
#   1. $MOEROUTE_PYTHON, if set (used as given; it must have the modules);
#   2. python3 on PATH, if it already has them;
#   3. Debian's /usr/bin/python3, installing python3-numpy python3-pytest python3-wheel with apt-get when
#      running as root (the Debian packages avoid PyPI's multi-gigabyte torch and friends);
#   4. a private virtual environment in build-venv/ (python3 -m venv + pip install numpy pytest wheel).
# Progress goes to stderr; stdout is only the interpreter path. Exits non-zero when nothing works.
set -euo pipefail
cd "$(dirname "$0")/.."
need='import numpy, pytest, wheel'
has() { "$1" -c "$need" >/dev/null 2>&1; }

if [[ -n "${MOEROUTE_PYTHON:-}" ]]; then
  has "$MOEROUTE_PYTHON" || { echo "MOEROUTE_PYTHON=$MOEROUTE_PYTHON lacks numpy/pytest/wheel" >&2; exit 1; }
  echo "$MOEROUTE_PYTHON"; exit 0
fi
if command -v python3 >/dev/null && has "$(command -v python3)"; then command -v python3; exit 0; fi
if [[ -x /usr/bin/python3 ]] && has /usr/bin/python3; then echo /usr/bin/python3; exit 0; fi
if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "provisioning: apt-get install python3 python3-numpy python3-pytest python3-wheel python3-venv" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq python3 python3-numpy python3-pytest python3-wheel python3-venv; } >&2 || true
  if [[ -x /usr/bin/python3 ]] && has /usr/bin/python3; then echo /usr/bin/python3; exit 0; fi
fi
base=$(command -v python3 || echo /usr/bin/python3)
venv=build-venv
if [[ ! -x "$venv/bin/python" ]] || ! has "$venv/bin/python"; then
  echo "provisioning: a virtual environment in $venv with numpy, pytest and wheel from PyPI" >&2
  rm -rf "$venv"
  "$base" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2 || true
  "$venv/bin/python" -m pip install --quiet numpy pytest wheel setuptools >&2
fi
has "$venv/bin/python" || { echo "could not provision a Python with numpy, pytest and wheel" >&2; exit 1; }
echo "$PWD/$venv/bin/python"
