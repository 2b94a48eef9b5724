#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang under ASan + UBSan and run each for a bounded time, starting from
# the seed corpus in tests/fuzz/corpus (new inputs go to a scratch folder, not into the repository).
#   tools/fuzz.sh [seconds per fuzzer, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOEROUTE_FUZZ=ON \
  -DMOEROUTE_SANITIZE=ON -DMOEROUTE_BUILD_TESTS=OFF -DMOEROUTE_BUILD_EXAMPLES=OFF -DMOEROUTE_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_native fuzz_aclnn fuzz_routing_family fuzz_re_routing fuzz_gating fuzz_combine fuzz_mlp
for f in native aclnn routing_family re_routing gating combine mlp; do
  scratch=$(mktemp -d)
  echo "== fuzz_$f for ${secs}s =="
  if ! build-fuzz/tests/fuzz/fuzz_$f -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
      "$scratch" "tests/fuzz/corpus/$f" >"$scratch.log" 2>&1; then
    tail -n 60 "$scratch.log"
    echo "fuzz_$f FAILED (crash input saved in the working directory)"
    exit 1
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|DONE" "$scratch.log" || true
  rm -rf "$scratch" "$scratch.log"
done
