#!/usr/bin/env bash
# Runs test_vm_linux_real on Debian 12's kernel if scripts/fetch-linux.sh
# has fetched it (else exit 77: skipped).  Extracts the vmlinux for PVH
# (scripts/extract-vmlinux.sh) and builds an initramfs (scripts/mkinitramfs.sh)
# into a temporary directory; the PVH entry the test expects is read with
# readelf -n (note type 0x12 of owner Xen).
#   linux-real.sh TEST_BINARY SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
cache=${V3_LINUX_CACHE:-$HOME/.cache/v3vmm/linux}
if [ ! -e "$cache/bzImage" ]; then
    echo "no kernel in $cache (run scripts/fetch-linux.sh): skipped"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\necho v3vmm initramfs\nexec /bin/sh\n' > "$tmp/init"
"$src/scripts/mkinitramfs.sh" "$tmp/initrd.gz" "$tmp/init" "$cache/busybox" >/dev/null
vml="$cache/vmlinux"
"$src/scripts/extract-vmlinux.sh" "$cache/bzImage" "$vml" >/dev/null
# "description data: b0 b1 ... b7", little endian
entry=$(readelf -n "$vml" | awk '/Xen/ && /0x00000012/ { getline; s = ""; for (i = NF; i >= 3; i--) s = s $i; print "0x" s }' | head -n1)
[ -n "$entry" ] || { echo "FAIL: no PVH note in $vml"; exit 1; }
echo "PVH entry from readelf: $entry"
rc=0
"$bin" "$cache/bzImage" "$tmp/initrd.gz" "$vml" "$entry" || rc=$?
exit $rc
