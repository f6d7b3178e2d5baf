#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan+fuzzer coverage) and runs
# each for a bounded time.  Usage: fuzz/run-ci.sh [seconds] (default 60).
#
# The budget is about 2 x seconds in all, as when there were two targets:
# the instruction-level targets (fuzz_cpu, fuzz_emu) get 3/4 of [seconds]
# each, the small ones (fuzz_loader, fuzz_cli) 1/4 each.  A target's seed
# corpus (fuzz/<dir>/corpus/, in the repository) is copied into its working
# corpus first, so every run starts from meaningful inputs.
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
    dir=$(basename "$(dirname "$f")")
    case $name in
        fuzz_cpu|fuzz_emu) t=$(( secs * 3 / 4 )) ;;
        *)                 t=$(( secs / 4 )) ;;
    esac
    [ "$t" -ge 1 ] || t=1
    corpus="$build/corpus-$name"
    mkdir -p "$corpus"
    if [ -d "fuzz/$dir/corpus" ]; then
        cp -n fuzz/"$dir"/corpus/* "$corpus"/ 2>/dev/null || true
    fi
    echo "--- $name: ${t}s"
    if ! "$f" -max_total_time="$t" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
            "$corpus" > "$build/$name.log" 2>&1; then
        echo "$name: FAILED"; tail -60 "$build/$name.log"; status=1
    else
        grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|Done [0-9]+ runs' \
            "$build/$name.log" | tail -3
    fi
done
exit $status
