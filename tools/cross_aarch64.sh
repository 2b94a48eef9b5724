#!/usr/bin/env bash
# Cross-build for AArch64 (cmake/toolchain-aarch64-linux-gnu.cmake) and run the C test suite under user-mode
# QEMU: every SIMD level's kernels against scalar byte for byte, the hand-worked and validation tests at
# MOEROUTE_ISA=scalar and =neon, the GEMM operators also on a CPU without sdot. Installs Debian's cross compiler
# and qemu-user first when missing (apt, as root).
#   tools/cross_aarch64.sh [build-dir]    (default build-aarch64; extra ctest arguments in MOEROUTE_CTEST_ARGS)
# The build is Release: the NEON kernels and the loops vectorized with -ftree-vectorize are tested as shipped,
# and optimized code keeps the emulated run short. The Python suites, the MPI tests and the installed-consumer
# test need target Python/MPI/compilers and are not run (the first two report "skipped").
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-aarch64}

pkgs=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || pkgs+=(gcc-aarch64-linux-gnu)
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || pkgs+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null 2>&1 || pkgs+=(qemu-user)
if ((${#pkgs[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "cross_aarch64.sh: missing ${pkgs[*]}; run as root or apt-get install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${pkgs[@]}"
fi

cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DMOEROUTE_BUILD_EXAMPLES=OFF -DMOEROUTE_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j "${MOEROUTE_BUILD_JOBS:-2}"
# shellcheck disable=SC2086 # MOEROUTE_CTEST_ARGS is a list of words
ctest --test-dir "$dir" --output-on-failure -j 2 --timeout 600 -R '^(test_|python_suites$)' \
  -E '^test_install_consumers$' ${MOEROUTE_CTEST_ARGS:-}
# The kernel and GEMM tests once more on a CPU model without the dot-product extension: the smull/sadalp int8
# kernel at operator level, and a check that dispatch never runs sdot there (QEMU raises SIGILL for it there).
QEMU_CPU=cortex-a53 MOEROUTE_ISA=neon ctest --test-dir "$dir" --output-on-failure \
  -R '^(test_isa_kernels|test_grouped_matmul|test_gmm_swiglu_quant)$'
