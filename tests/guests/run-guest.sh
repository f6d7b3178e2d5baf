#!/bin/sh
# SPDX-License-Identifier: MIT
# Run a sample guest and check its serial output and exit status.
#
#   run-guest.sh qemu    IMAGE EXPECTED QEMU
#   run-guest.sh v3vm    IMAGE EXPECTED V3VM
#   run-guest.sh compare IMAGE CUT      V3VM QEMU
#
# qemu/v3vm: the serial output must equal EXPECTED byte for byte and the exit
# status must be 1 (debug-exit value 0).  compare: both must exit with 1 and
# their outputs must be identical byte for byte; if CUT is not "-", only the
# lines before the first line starting with CUT are compared (the guest
# prints CUT where it reaches devices only one of them has), and that line
# must be present in both outputs.  The guests read standard input from
# $V3_GUEST_INPUT (default /dev/null).  Exit status 0 pass, 1 fail, 77 skipped.
set -u
kind=$1 image=$2 ref=$3 runner=$4 qemu=${5:-}
tmp=${TMPDIR:-/tmp}/v3guest.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

for r in "$runner" $qemu; do
    if [ ! -x "$r" ]; then
        echo "SKIP: runner '$r' is not available"
        exit 77
    fi
done
[ -f "$image" ] || { echo "FAIL: no image $image"; exit 1; }
# V3_ACCEL=kvm: the v3vm runs use the KVM back end; skipped without a usable device.
if [ "${V3_ACCEL:-}" = kvm ]; then
    dev=${V3_KVM_DEVICE:-/dev/kvm}
    if [ ! -r "$dev" ] || [ ! -w "$dev" ]; then
        echo "SKIP: $dev is not usable"
        exit 77
    fi
fi

run_qemu() {  # $1 binary, $2 output
    timeout 60 "$1" -accel tcg -cpu max -no-reboot -nodefaults -display none \
        -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 -m 64 \
        -kernel "$image" > "$2.raw" 2> "$2.err" < "${V3_GUEST_INPUT:-/dev/null}"
    st=$?
    tr -d '\r' < "$2.raw" > "$2"
    return $st
}
run_v3vm() {  # $1 binary, $2 output
    timeout 120 "$1" ${V3_ACCEL:+-accel "$V3_ACCEL"} -m 64M -kernel "$image" -serial stdio > "$2" 2> "$2.err" < "${V3_GUEST_INPUT:-/dev/null}"
}
check_status() {  # $1 what, $2 status, $3 stderr file
    if [ "$2" -ne 1 ]; then
        echo "FAIL: $1 exit status $2, expected 1 (debug-exit value 0)"
        sed -n '1,20p' "$3"
        exit 1
    fi
}

case $kind in
qemu|v3vm)
    if [ "$kind" = qemu ]; then run_qemu "$runner" "$tmp.out"; else run_v3vm "$runner" "$tmp.out"; fi
    st=$?
    if ! cmp -s "$ref" "$tmp.out"; then
        diff -u "$ref" "$tmp.out"
        echo "FAIL: $kind output differs from $(basename "$ref") (exit status $st)"
        sed -n '1,20p' "$tmp.out.err"
        exit 1
    fi
    check_status "$kind" $st "$tmp.out.err"
    echo "PASS: $kind output matches $(basename "$ref") ($(wc -c < "$tmp.out") bytes), status 1"
    ;;
compare)
    run_v3vm "$runner" "$tmp.v3"
    st=$?
    check_status v3vm $st "$tmp.v3.err"
    run_qemu "$qemu" "$tmp.qemu"
    st=$?
    check_status qemu $st "$tmp.qemu.err"
    if [ "$ref" != "-" ]; then
        for f in v3 qemu; do
            if ! grep -q "^$ref" "$tmp.$f"; then
                echo "FAIL: $f output has no line starting with '$ref'"
                cat "$tmp.$f"
                exit 1
            fi
            awk -v cut="$ref" 'index($0, cut) == 1 { exit } { print }' "$tmp.$f" > "$tmp.$f.cut"
            mv "$tmp.$f.cut" "$tmp.$f"
        done
    fi
    if ! cmp "$tmp.v3" "$tmp.qemu"; then
        diff -u "$tmp.qemu" "$tmp.v3"
        echo "FAIL: v3vm and QEMU serial output differ"
        exit 1
    fi
    echo "PASS: v3vm and QEMU serial output identical ($(wc -c < "$tmp.v3") bytes compared)"
    ;;
*)
    echo "usage: $0 qemu|v3vm|compare IMAGE EXPECTED|CUT RUNNER [QEMU]"
    exit 2
    ;;
esac
exit 0
