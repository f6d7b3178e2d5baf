#!/usr/bin/env bash
# Proves that the v3vmm core calls its host only through the host OS interface:
# links every core object (all of libv3 except src/host/posix.c) into one
# relocatable object and lists what it still needs from outside.  Allowed:
# mem* functions, Zydis/Zycore (the decoder), and compiler runtime helpers.
set -euo pipefail
build=${1:-build}
objdir="$build/CMakeFiles/v3core.dir"
[ -d "$objdir" ] || { echo "check-core-symbols: no core objects in $objdir (build first)" >&2; exit 2; }
mapfile -t objs < <(find "$objdir" -name '*.o' | sort)
[ ${#objs[@]} -gt 0 ] || { echo "check-core-symbols: no objects found" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ld -r -o "$tmp/core.o" "${objs[@]}"
nm -u "$tmp/core.o" | awk '{print $2}' | sort -u > "$tmp/undef"
# v3_kvm_backend/v3_kvm_probe: the KVM back end (src/host/kvm.c) lives beside posix.c with libc
# allowed; the core only names it in select_backend() (src/vm/vm.c).
allowed='^(v3_kvm_backend|v3_kvm_probe|memcpy|memset|memmove|memcmp|Zydis[A-Za-z0-9_]*|Zycore[A-Za-z0-9_]*|_GLOBAL_OFFSET_TABLE_|__(u)?(div|mod)ti3|__popcount[a-z]i2|__clz[a-z]i2|__ctz[a-z]i2|__stack_chk_fail)$'
bad=$(grep -Ev "$allowed" "$tmp/undef" || true)
echo "core objects: ${#objs[@]}; undefined symbols: $(wc -l < "$tmp/undef")"
sed 's/^/  /' "$tmp/undef"
if [ -n "$bad" ]; then
    echo "check-core-symbols: FAIL: the core references host symbols outside the host OS interface:" >&2
    echo "$bad" | sed 's/^/  /' >&2
    exit 1
fi
echo "check-core-symbols: OK (only mem*, Zydis and compiler helpers)"
