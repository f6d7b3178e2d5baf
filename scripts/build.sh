#!/usr/bin/env bash
# Installs what is missing and builds v3vmm (RelWithDebInfo, Ninja).
# Usage: scripts/build.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scripts/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DV3_VALGRIND_LABELS= >/dev/null
ninja -C "$build"
