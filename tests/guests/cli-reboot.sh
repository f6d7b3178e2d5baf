#!/bin/sh
# v3vm --reboot: a real-mode flat guest prints 'R' on COM1 and resets the
# machine through port 0xCF9.  Without --reboot v3vm exits 4 after one 'R';
# with it the guest starts again and again until v3vm gets SIGTERM (130).
#   cli-reboot.sh V3VM
set -u
v3vm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# mov dx,0x3f8; mov al,'R'; out dx,al; mov dx,0xcf9; mov al,6; out dx,al; hlt
printf '\272\370\003\260\122\356\272\371\014\260\006\356\364' > "$tmp/rb.bin"
fail=0
out=$("$v3vm" -q --flat 0x1000 --real -kernel "$tmp/rb.bin" < /dev/null 2>/dev/null)
st=$?
if [ "$st" -eq 4 ] && [ "$out" = R ]; then echo "ok: without --reboot: one R, status 4"
else echo "FAIL: without --reboot: '$out', status $st"; fail=1; fi
"$v3vm" -q --flat 0x1000 --real --reboot -kernel "$tmp/rb.bin" < /dev/null > "$tmp/out" 2> "$tmp/err" &
pid=$!
sleep 2
kill -TERM "$pid"         # one signal (timeout(1) also signals its process group: a second one kills)
wait "$pid"
st=$?
n=$(tr -cd R < "$tmp/out" | wc -c)
b=$(grep -c 'booting it again (--reboot)' "$tmp/err")
if [ "$st" -eq 130 ] && [ "$n" -ge 3 ] && [ "$b" -ge 2 ] && [ "$b" -ge $((n - 1)) ]; then
    echo "ok: --reboot: $n boots, $b reboots, status 130 after SIGTERM"
else
    echo "FAIL: --reboot: status $st, $n R, $b reboot lines"; head -5 "$tmp/err"; fail=1
fi
exit $fail
