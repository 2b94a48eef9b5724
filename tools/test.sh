#!/usr/bin/env bash
# Build and run the whole test suite (CTest): hand-worked and validation tests per ISA level, the numpy
# golden-model comparisons, kernel byte-equality, thread pool, C++ headers, installed-package consumers.
#   tools/test.sh              Debug build in build-test/
#   tools/test.sh --sanitize   ASan + UBSan build in build-asan/
# Extra arguments after the option go to ctest (e.g. -R golden, -V).
# The Python the tests need (numpy, pytest, wheel; the wheel test fetches its build backend from PyPI) is
# found or provisioned afresh on every run by tools/provision_python.sh (Debian packages as root, else a
# private venv in build-venv/).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-test
cfg=(-DCMAKE_BUILD_TYPE=Debug)
if [[ "${1:-}" == "--sanitize" ]]; then
  shift
  dir=build-asan
  cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOEROUTE_SANITIZE=ON)
fi
py=$(tools/provision_python.sh)
echo "tests use $py ($("$py" -c 'import sys, numpy, pytest; print(sys.version.split()[0], "numpy", numpy.__version__, "pytest", pytest.__version__)'))"
# the interpreter is passed every run, so a stale cache never keeps an old one
cmake -S . -B "$dir" "${cfg[@]}" -DPython3_EXECUTABLE="$py" >/dev/null
cmake --build "$dir" -j "$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j 2 "$@"
