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

# --mpi: instead, a Python 3 with numpy and mpi4py for the MPI Python tests (tests/CMakeLists.txt reads it as
# -DMOEROUTE_MPI_PYTHON=...), in this order: $MOEROUTE_MPI_PYTHON; python3 on PATH or /usr/bin/python3 if it has
# both; as root, Debian's python3-numpy python3-mpi4py (mpi4py built for Debian's Open MPI); a private virtual
# environment build-venv-mpi (pip install numpy mpi4py, compiled with the mpicc on PATH). Exits non-zero when
# nothing works; the tests are then reported as skipped.
if [[ "${1:-}" == --mpi ]]; then
  mpi_has() { "$1" -c 'import numpy, mpi4py' >/dev/null 2>&1; }
  if [[ -n "${MOEROUTE_MPI_PYTHON:-}" ]]; then
    mpi_has "$MOEROUTE_MPI_PYTHON" || { echo "MOEROUTE_MPI_PYTHON=$MOEROUTE_MPI_PYTHON lacks numpy/mpi4py" >&2; exit 1; }
    echo "$MOEROUTE_MPI_PYTHON"; exit 0
  fi
  for py in "$(command -v python3 || true)" /usr/bin/python3; do
    if [[ -n "$py" && -x "$py" ]] && mpi_has "$py"; then echo "$py"; exit 0; fi
  done
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "provisioning: apt-get install python3 python3-numpy python3-mpi4py" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq python3 python3-numpy python3-mpi4py; } >&2 || true
    if [[ -x /usr/bin/python3 ]] && mpi_has /usr/bin/python3; then echo /usr/bin/python3; exit 0; fi
  fi
  command -v mpicc >/dev/null || { echo "no mpi4py, and no mpicc to build it (apt-get install libopenmpi-dev)" >&2; exit 1; }
  venv=build-venv-mpi
  if [[ ! -x "$venv/bin/python" ]] || ! mpi_has "$venv/bin/python"; then
    echo "provisioning: a virtual environment in $venv with numpy and mpi4py from PyPI" >&2
    rm -rf "$venv"
    "$(command -v python3 || echo /usr/bin/python3)" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet numpy mpi4py >&2 || true
  fi
  mpi_has "$venv/bin/python" || { echo "could not provision a Python with numpy and mpi4py" >&2; exit 1; }
  echo "$PWD/$venv/bin/python"; exit 0
fi
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
