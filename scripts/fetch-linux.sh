#!/usr/bin/env bash
# Downloads Debian 12's own kernel (linux-image-6.1.0-N-amd64, the newest
# the apt lists know) and busybox-static into a cache directory and unpacks
# them with dpkg-deb.  Idempotent: a second run only prints the paths.
#
#   scripts/fetch-linux.sh [CACHE_DIR]     (default: $V3_LINUX_CACHE or ~/.cache/v3vmm/linux)
#
# Output (stdout), one per line, for scripts to eval:
#   V3_LINUX_BZIMAGE=<path to vmlinuz>
#   V3_LINUX_BUSYBOX=<path to the static busybox>
#   V3_LINUX_VERSION=<kernel release, e.g. 6.1.0-50-amd64>
# The kernel path is also written to CACHE_DIR/bzImage.path for the tests.
set -euo pipefail
cache=${1:-${V3_LINUX_CACHE:-$HOME/.cache/v3vmm/linux}}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

if [ ! -f "$cache/.done" ]; then
    command -v apt-get >/dev/null || { echo "fetch-linux: needs apt-get (Debian 12)" >&2; exit 1; }
    pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sort -V | tail -n1)
    if [ -z "$pkg" ]; then
        echo "fetch-linux: no linux-image-6.1.0-*-amd64 in the apt lists; running apt-get update" >&2
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sort -V | tail -n1)
    fi
    [ -n "$pkg" ] || { echo "fetch-linux: no linux-image-6.1.0-*-amd64 package found" >&2; exit 1; }
    tmp=$(mktemp -d "$cache/dl.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download -qq "$pkg" busybox-static)
    rm -rf "$cache/root"
    mkdir -p "$cache/root"
    for deb in "$tmp"/*.deb; do
        dpkg-deb -x "$deb" "$cache/root"
    done
    echo "${pkg#linux-image-}" > "$cache/version"
    kernel=$(ls "$cache"/root/boot/vmlinuz-* | head -n1)
    ln -sf "$kernel" "$cache/bzImage"
    ln -sf "$cache/root/bin/busybox" "$cache/busybox"
    echo "$cache/bzImage" > "$cache/bzImage.path"
    touch "$cache/.done"
fi
echo "V3_LINUX_BZIMAGE=$cache/bzImage"
echo "V3_LINUX_BUSYBOX=$cache/busybox"
echo "V3_LINUX_VERSION=$(cat "$cache/version")"
