#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan+fuzzer coverage) and runs
# each for a bounded time.  Usage: fuzz/run-ci.sh [seconds-per-target] (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-${V3_FUZZ_SECONDS:-60}}
build=build-fuzz
CC=clang cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DV3_FUZZ=ON -DV3_BUILD_TESTS=OFF -DV3_BUILD_BENCH=OFF >/dev/null
ninja -C "$build"
status=0
for f in $(find "$build/fuzz" -maxdepth 2 -type f -name 'fuzz_*' -perm -u+x | sort); do
    name=$(basename "$f")
    corpus="$build/corpus-$name"
    mkdir -p "$corpus"
    echo "--- $name: ${secs}s"
    if ! "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
            "$corpus" > "$build/$name.log" 2>&1; then
        echo "$name: FAILED"; tail -60 "$build/$name.log"; status=1
    else
        grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$build/$name.log" | tail -2
    fi
done
exit $status
