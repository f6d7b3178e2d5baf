#!/bin/sh
# Snapshot benchmarks side by side: bench_snapshot, then the fuzzing example.
# usage: bench/snapshot/run.sh [BUILD_DIR] [--quick]
b=${1:-build}
shift 2>/dev/null
"$b/bench/snapshot/bench_snapshot" "$@" || exit 1
echo "fuzzing example (examples/fuzz_reset):"
"$b/examples/fuzz_reset/fuzz_reset" --iters 200000
