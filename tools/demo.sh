#!/usr/bin/env bash
# Build (Release) and run the examples, each checking its own result:
#   1. the CANN sample (examples/cann_sample.cpp) on the documented case, compared with the documented output;
#   2. the CANN-style MoeInitRoutingV3 sample (examples/cann_init_routing_v3.cpp), compared likewise;
#   2b. the CANN-style gating / permute / unpermute sample (examples/cann_gating_combine.cpp), which checks its
#      results against a reference it computes itself;
#   3. the native API on a DeepSeek-V3-sized prefill batch (N tokens, default 4096), which verifies its bytes
#      against a second path (one thread, scalar kernels) and the order of its index maps;
#   4. the same DeepSeek-V3 call in the benchmark: its time as a ratio to this machine's copy limit;
#   5. a whole MoE layer (examples/moe_layer.cpp, small preset: bf16, W8A8 fused and both fallbacks) against its
#      float64 reference, within the error bound of docs/layer.md;
#   6. expert parallelism, CANN-style (examples/cann_distribute.cpp): dispatch -> experts -> combine on 4 ranks as
#      threads (HcclCommInitAll), bf16 and int8, each rank checked against the reference it computes itself.
# Usage: tools/demo.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target cann_sample cann_init_routing_v3 cann_gating_combine native_deepseek moeroute_bench moe_layer \
  cann_distribute

expect() { # expect NAME OUTPUT LINE...: every LINE must appear in OUTPUT
  local name=$1 out=$2; shift 2
  for line in "$@"; do
    if ! grep -qF -- "$line" <<<"$out"; then
      echo "FAILED: $name: its output lacks the documented line '$line'"
      exit 1
    fi
  done
  echo "verified: $name matches the documented result"
}

echo "== CANN sample (examples/cann_sample.cpp) =="
out=$(./build/examples/cann_sample)
echo "$out"
expect "the CANN sample" "$out" "expandedRowIdx:    2 0 1 4 3 5" "expandedExpertIdx: 0 0 1 1 2 2" "row 5: 1 1 1 1"
echo
echo "== CANN-style MoeInitRoutingV3 sample (examples/cann_init_routing_v3.cpp) =="
out=$(./build/examples/cann_init_routing_v3)
echo "$out"
expect "the V3 sample" "$out" "expandedRowIdx: 2 4 0 3 1 5" "expertTokens: 2 2 2" "row 0: 0.2" \
  "row 5: 127 127 127 127 scale 0.00236220472"
echo
echo "== CANN-style gating, permute and unpermute (examples/cann_gating_combine.cpp) =="
./build/examples/cann_gating_combine
echo
echo "== native API, DeepSeek-V3 sized (examples/native_deepseek.c) =="
./build/examples/native_deepseek "${1:-4096}"
echo
echo "== the same call against this machine's copy limit (bench/moeroute_bench; docs/performance.md) =="
./build/bench/moeroute_bench --op init-routing-quant --preset deepseek-v3 --n "${1:-4096}" --dtype bf16 \
  --routing uniform --reps 3 | grep '^init-routing-quant ' | awk '{print $1, $2, "N=" $3, $4, "median", $8, "ms,", $9, "GB/s; copy limit", $12, "GB/s; ratio", $14}'
echo
echo "== a whole MoE layer, small preset (examples/moe_layer.cpp; docs/layer.md) =="
out=$(./build/examples/moe_layer --preset small)
echo "$out"
expect "the MoE layer" "$out" "verified: the layer output is within its error bound of the float64 reference"
echo
echo "== expert parallelism, CANN-style: 4 ranks as threads (examples/cann_distribute.cpp; docs/hccl.md) =="
./build/examples/cann_distribute --ranks 4
./build/examples/cann_distribute --ranks 4 --quant 2
