#!/usr/bin/env bash
# Build and run the whole test suite (CTest): hand-worked and validation tests per ISA level, the numpy
# golden-model comparisons, kernel byte-equality, thread pool, C++ headers, installed-package consumers.
#   tools/test.sh              Debug build in build-test/
#   tools/test.sh --sanitize   ASan + UBSan build in build-asan/
# Extra arguments after the option go to ctest (e.g. -R golden, -V).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-test
cfg=(-DCMAKE_BUILD_TYPE=Debug)
if [[ "${1:-}" == "--sanitize" ]]; then
  shift
  dir=build-asan
  cfg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOEROUTE_SANITIZE=ON)
fi
cmake -S . -B "$dir" "${cfg[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j 2 "$@"
