#!/usr/bin/env bash
# Installs what is missing, builds v3vmm and runs the whole test suite.
# Usage: scripts/test.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scripts/build.sh "$build"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
