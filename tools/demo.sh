#!/usr/bin/env bash
# Build (Release) and run the two examples: the CANN sample on the documented case, then the native API on a
# DeepSeek-V3-sized prefill batch (N tokens, default 4096).  Usage: tools/demo.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target cann_sample native_deepseek
echo "== CANN sample (examples/cann_sample.cpp) =="
./build/examples/cann_sample
echo
echo "== native API, DeepSeek-V3 sized (examples/native_deepseek.c) =="
./build/examples/native_deepseek "${1:-4096}"
