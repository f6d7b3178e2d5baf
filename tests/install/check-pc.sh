#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the build tree to a temporary prefix and check the generated
# pkg-config file: it names that prefix (not the configured default), and
# pkg-config resolves the flags to the installed headers and library.
#
#   check-pc.sh BUILD_DIR
set -u
build=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/v3pc.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" > "$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: install"; exit 1; }
pc=$(find "$prefix" -name v3.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: no v3.pc installed under $prefix"; exit 1; }
echo "installed: $pc"
sed 's/^/    /' "$pc"
fails=0
grep -qx "prefix=$prefix" "$pc" || { echo "FAIL: prefix line is not prefix=$prefix"; fails=1; }
if command -v pkg-config > /dev/null; then
    cflags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags v3)
    libs=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --libs v3)
    echo "pkg-config: $cflags $libs"
    inc=$(echo "$cflags" | sed -n 's/^-I\([^ ]*\).*/\1/p')
    [ -f "$inc/v3/vm.h" ] || { echo "FAIL: --cflags ($cflags) does not point at the installed headers"; fails=1; }
    libdir=$(echo "$libs" | sed -n 's/^-L\([^ ]*\).*/\1/p')
    ls "$libdir"/libv3.* > /dev/null 2>&1 || { echo "FAIL: --libs ($libs) does not point at the installed library"; fails=1; }
fi
[ $fails -eq 0 ] && echo "ok"
exit $fails
