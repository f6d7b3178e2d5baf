#!/bin/sh
# SPDX-License-Identifier: MIT
# Run one system-level guest test program and compare its serial output
# with the architectural expectation.
#
#   run-guest.sh qemu IMAGE EXPECTED [DEVIATIONS] QEMU_BINARY [SMP]
#   run-guest.sh v3vm IMAGE EXPECTED [DEVIATIONS] V3VM_BINARY [SMP]
#
# SMP (default 1) is the number of vCPUs, given to both as -smp SMP.
# EXPECTED holds the lines the architecture defines (what v3vmm must print).
# DEVIATIONS (may be "-") lists where QEMU TCG is known to differ, as blocks
#     # why, with the evidence
#     - <architectural line>
#     + <line QEMU prints>
# For the QEMU run each "-" line of EXPECTED is replaced by its "+" line;
# v3vm is compared with EXPECTED as is.  Exit status: 0 pass, 1 fail,
# 77 skipped (the runner is not available).
set -u
kind=$1 image=$2 expected=$3 dev=$4 runner=$5 smp=${6:-1}
tmp=${TMPDIR:-/tmp}/v3sys.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

if [ ! -x "$runner" ]; then
    echo "SKIP: $kind runner '$runner' is not available"
    exit 77
fi
# A program whose v3vm run is known not to pass yet names the missing piece
# in <name>.v3vm-pending next to its expected output: skip with that reason.
pending="${expected%.expected}.v3vm-pending"
if [ "$kind" = v3vm ] && [ -f "$pending" ]; then
    echo "SKIP: v3vm run pending: $(cat "$pending")"
    exit 77
fi
if [ ! -f "$image" ]; then
    echo "FAIL: no image $image"
    exit 1
fi

cp "$expected" "$tmp.want"
if [ "$kind" = qemu ] && [ "$dev" != "-" ] && [ -f "$dev" ]; then
    awk -v devfile="$dev" '
        BEGIN {
            n = 0
            while ((getline line < devfile) > 0) {
                if (substr(line, 1, 2) == "- ") { from[n] = substr(line, 3) }
                else if (substr(line, 1, 2) == "+ ") { to[n] = substr(line, 3); n++ }
            }
        }
        {
            for (i = 0; i < n; i++)
                if (!(i in used) && $0 == from[i]) { used[i] = 1; $0 = to[i]; break }
            print
        }' "$expected" > "$tmp.want"
fi

# several vCPUs race on a small, shared host: give them longer
limit=60
[ "$smp" -gt 1 ] && limit=200
case $kind in
qemu)
    timeout $limit "$runner" -accel tcg -cpu max -no-reboot -nodefaults -display none \
        -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 -m 128 -smp "$smp" \
        -kernel "$image" > "$tmp.out" 2> "$tmp.err" < /dev/null
    status=$?
    ;;
v3vm)
    timeout $((limit * 2)) "$runner" -m 128M -smp "$smp" -kernel "$image" -serial stdio > "$tmp.out" 2> "$tmp.err" < /dev/null
    status=$?
    ;;
*)
    echo "usage: $0 qemu|v3vm IMAGE EXPECTED DEVIATIONS RUNNER"
    exit 2
    ;;
esac

tr -d '\r' < "$tmp.out" > "$tmp.got"
if ! diff -u "$tmp.want" "$tmp.got"; then
    echo "FAIL: $kind output differs from $(basename "$expected") (exit status $status)"
    sed -n '1,20p' "$tmp.err"
    exit 1
fi
if [ "$status" -ne 1 ]; then
    echo "FAIL: $kind exit status $status, expected 1 (debug-exit value 0)"
    sed -n '1,20p' "$tmp.err"
    exit 1
fi
echo "PASS: $(wc -l < "$tmp.got") lines match"
exit 0
