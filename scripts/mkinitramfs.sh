#!/usr/bin/env bash
# Builds a small initramfs (cpio "newc", gzip-compressed) with a static
# busybox and the given /init script.  Needs no root: the archive is
# written here entry by entry (the newc format is ASCII headers), so it can
# hold the /dev/console and /dev/null device nodes the kernel wants.
#
#   scripts/mkinitramfs.sh OUT INIT_SCRIPT [BUSYBOX]
#
# BUSYBOX defaults to the one scripts/fetch-linux.sh fetched.  The archive
# has /bin/busybox, /bin/sh -> busybox, /init (mode 0755), /dev/console
# (c 5 1), /dev/null (c 1 3) and empty /proc /sys /tmp /root /etc /sbin.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUT INIT_SCRIPT [BUSYBOX]" >&2; exit 2; }
out=$1 init=$2
bb=${3:-${V3_LINUX_CACHE:-$HOME/.cache/v3vmm/linux}/busybox}
[ -f "$init" ] || { echo "mkinitramfs: no init script $init" >&2; exit 1; }
[ -f "$bb" ] || { echo "mkinitramfs: no busybox at $bb (run scripts/fetch-linux.sh)" >&2; exit 1; }

tmp="$out.cpio.$$"
trap 'rm -f "$tmp"' EXIT
: > "$tmp"
ino=1
pad4() { local n=$(( (4 - $1 % 4) % 4 )); [ $n -eq 0 ] || head -c $n /dev/zero; }
# entry NAME MODE(octal) RDEVMAJ RDEVMIN [DATAFILE | -s TARGET]
entry() {
    local name=$1 mode=$2 rmaj=$3 rmin=$4 size=0 nlen
    if [ "${5:-}" = "-s" ]; then size=${#6}; elif [ -n "${5:-}" ]; then size=$(stat -L -c %s "$5"); fi
    nlen=$(( ${#name} + 1 ))
    {
        printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
            "$ino" "$((8#$mode))" 0 0 1 0 "$size" 0 0 "$rmaj" "$rmin" "$nlen" 0
        printf '%s\0' "$name"
        pad4 $(( 110 + nlen ))
        if [ "${5:-}" = "-s" ]; then printf '%s' "$6"; elif [ -n "${5:-}" ]; then cat "$5"; fi
        pad4 "$size"
    } >> "$tmp"
    ino=$((ino + 1))
}
for d in bin dev etc proc root sbin sys tmp; do entry "$d" 040755 0 0; done
entry dev/console 020600 5 1
entry dev/null 020666 1 3
entry bin/busybox 0100755 0 0 "$bb"
entry bin/sh 0120777 0 0 -s busybox
entry init 0100755 0 0 "$init"
ino=0
entry TRAILER!!! 0 0 0
gzip -9n < "$tmp" > "$out"
echo "$out"
