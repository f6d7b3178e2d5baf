#!/bin/sh
# v3vm --snapshot-at-insn / -loadvm across processes.  Oracle: the same
# guest run from start to end in one process (-clock virtual, deterministic):
# the serial output of the first part followed by that of the continued run
# must equal the whole run's, with the same exit status and total count of
# retired instructions (--stats).
# usage: snapshot-cli.sh V3VM IMAGE N [N...]
set -u
v3vm=$1 image=$2
shift 2
[ -x "$v3vm" ] || { echo "SKIP: no v3vm"; exit 77; }
[ -f "$image" ] || { echo "SKIP: no guest image $image"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
opts="-m 128M -clock virtual -serial stdio --stats"

count() { sed -n 's/^statistics: \([0-9]*\) instructions.*/\1/p' "$1"; }

"$v3vm" $opts -kernel "$image" > "$tmp/full.out" 2> "$tmp/full.err" < /dev/null
full_status=$?
full_insns=$(count "$tmp/full.err")
[ -n "$full_insns" ] || { echo "FAIL: no statistics from the full run"; cat "$tmp/full.err"; exit 1; }
echo "full run: status $full_status, $full_insns instructions, $(wc -l < "$tmp/full.out") lines"
for n in "$@"; do
    "$v3vm" $opts -kernel "$image" --snapshot-at-insn "$n" "$tmp/snap" > "$tmp/a.out" 2> "$tmp/a.err" < /dev/null
    st=$?
    [ $st -eq 0 ] || { echo "FAIL: saving at $n: status $st"; cat "$tmp/a.err"; exit 1; }
    "$v3vm" $opts -kernel "$image" -loadvm "$tmp/snap" > "$tmp/b.out" 2> "$tmp/b.err" < /dev/null
    st=$?
    cat "$tmp/a.out" "$tmp/b.out" > "$tmp/ab.out"
    if ! cmp -s "$tmp/full.out" "$tmp/ab.out"; then
        echo "FAIL: at $n the serial output differs"
        diff "$tmp/full.out" "$tmp/ab.out" | head -20
        exit 1
    fi
    [ $st -eq $full_status ] || { echo "FAIL: at $n: status $st, full run $full_status"; cat "$tmp/b.err"; exit 1; }
    got=$(count "$tmp/b.err")
    [ "$got" = "$full_insns" ] || { echo "FAIL: at $n: $got instructions in all, full run $full_insns"; exit 1; }
    echo "snapshot at $n ($(wc -c < "$tmp/snap") bytes): identical output, status and count"
done
# a corrupt snapshot is refused with a clear error
printf 'X' | dd of="$tmp/snap" bs=1 seek=100 conv=notrunc 2> /dev/null
"$v3vm" $opts -kernel "$image" -loadvm "$tmp/snap" > /dev/null 2> "$tmp/c.err" < /dev/null
st=$?
[ $st -ne 0 ] && grep -q "cannot restore" "$tmp/c.err" || { echo "FAIL: corrupt snapshot accepted (status $st)"; exit 1; }
echo "PASS"
