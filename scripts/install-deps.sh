#!/usr/bin/env bash
# Installs the Debian 12 packages v3vmm needs to build, test and benchmark.
# Only packages that are missing are installed; running it twice is cheap.
set -euo pipefail
pkgs=(cmake ninja-build gcc clang libclang-rt-14-dev make pkg-config nasm
      libzydis-dev libcmocka-dev libunicorn-dev qemu-system-x86 valgrind binutils gdb python3
      acpica-tools cpio xz-utils zstd tmux)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
