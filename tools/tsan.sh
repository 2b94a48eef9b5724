#!/usr/bin/env bash
# ThreadSanitizer build of the threaded paths: the pool's own tests, application threads running separate
# executors and contexts at once (each operator using a pool), the parallel sort, and two threads racing for
# one one-shot executor (test_hardening); HCCL communicators over threads and the MC2 operators on them
# (test_hccl, test_distribute, test_distribute_v1); re-routing, gating and the grouped matmul over several threads
# (test_re_routing, test_gating, test_grouped_matmul), the packing of grouped-matmul weights (test_gmm_packed), the
# element-wise MLP operators over several threads with the process-wide SiLU tables (test_mlp_elementwise).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOEROUTE_TSAN=ON -DMOEROUTE_BUILD_EXAMPLES=OFF \
  -DMOEROUTE_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j "$(nproc)" --target test_threadpool test_concurrency test_cases test_hardening test_routing_determinism \
  test_hccl test_distribute test_distribute_v1 test_re_routing test_gating test_grouped_matmul test_gmm_packed test_mlp_elementwise
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export MOEROUTE_NUM_THREADS=3
ctest --test-dir build-tsan --output-on-failure -R '^(test_threadpool|test_concurrency|test_cases|test_hardening|test_routing_determinism|test_hccl|test_distribute|test_distribute_v1|test_re_routing|test_gating|test_grouped_matmul|test_gmm_packed|test_mlp_elementwise)$'
