#!/bin/sh
# SPDX-License-Identifier: MIT
# SMP benchmark: the same guest (smp_bench.asm) on v3vm and on QEMU TCG
# (multi-threaded TCG, -smp N) in one run; wall-clock time of each whole
# run (boot included, a few ms) and the guest's rate.
#   bench/smp/run.sh V3VM_BINARY [QEMU_BINARY] [ROUNDS]
# The best of ROUNDS (default 3) runs is shown.
set -eu
v3vm=$1 qemu=${2:-qemu-system-x86_64} rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
inc=$here/../../guests/tests/
tmp=${TMPDIR:-/tmp}/v3smpbench.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT INT TERM
LOOPS=20000000 PINGS=20000
for m in 1 2 3 4; do
    nasm -f bin -I"$inc" -DMODE=$m -DLOOPS=$LOOPS -DPINGS=$PINGS -o "$tmp/m$m.bin" "$here/smp_bench.asm"
done
best() {   # command...: best wall time in seconds over $rounds runs
    b=""
    for r in $(seq "$rounds"); do
        t0=$(date +%s%N)
        "$@" > "$tmp/out" 2>&1 < /dev/null || true
        t1=$(date +%s%N)
        grep -q "bench: done" "$tmp/out" || { echo "run failed: $*" >&2; cat "$tmp/out" >&2; exit 1; }
        t=$(( (t1 - t0) / 1000 ))
        if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
    done
    echo "$b"
}
v3() { best "$v3vm" -m 64M -smp "$1" -kernel "$2" -serial stdio; }
qm() { best timeout 300 "$qemu" -accel tcg,thread=multi -cpu max -no-reboot -nodefaults -display none \
        -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 -m 64 -smp "$1" -kernel "$2"; }
printf '%-34s %4s %12s %12s %8s\n' "benchmark" "N" "v3vm" "qemu-tcg" "v3/qemu"
row() {   # name N image ops unit
    a=$(v3 "$2" "$3"); b=$(qm "$2" "$3")
    awk -v n="$1" -v c="$2" -v a="$a" -v b="$b" -v ops="$4" -v u="$5" 'BEGIN {
        ra = ops / a; rb = ops / b;     # ops per microsecond
        printf "%-34s %4d %8.1f M%s/s %8.1f M%s/s %7.2fx\n", n, c, ra, u, rb, u, ra / rb }'
}
for n in 1 2; do
    row "compute (4-insn ALU loop)" $n "$tmp/m1.bin" $((LOOPS * 4 * n)) "i"
done
for n in 1 2; do
    row "lock xadd, one shared line" $n "$tmp/m2.bin" $((LOOPS / 4 * n)) "op"
    row "lock xadd, a line per vCPU" $n "$tmp/m3.bin" $((LOOPS / 4 * n)) "op"
done
a=$(v3 2 "$tmp/m4.bin"); b=$(qm 2 "$tmp/m4.bin")
awk -v a="$a" -v b="$b" -v p="$PINGS" 'BEGIN {
    printf "%-34s %4d %8.2f us     %8.2f us     %7.2fx\n", "IPI round trip (ICR -> handler x2)", 2, a / p, b / p, b / a }'
