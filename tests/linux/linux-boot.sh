#!/usr/bin/env bash
# Boots Debian 12's own kernel (scripts/fetch-linux.sh; exit 77 when it has
# not been fetched) on v3vm's software CPU with the initramfs of
# tests/linux/init.sh and checks what the guest prints and how v3vm ends.
#
#   linux-boot.sh V3VM SOURCE_DIR CASE
#
# CASE:
#   pvh            PVH entry, the whole platform (LAPIC, IOAPIC, ACPI): exit 0 via ACPI S5
#   pvh-noacpi     PVH entry, noapic nolapic acpi=off (8259A PIC, PIT, MP table only):
#                  Linux has no way to power off and halts
#                  with interrupts off (v3vm: exit 6, "no interrupt that could wake it")
#   bzimage        the bzImage itself (xz decompression: ~4.5G instructions, label slow)
#   determinism    PVH twice with -clock virtual: same console output, same instruction count
#   interactive    a shell in tmux: type a command, read the answer, Ctrl-A X, terminal restored
#
# Boots run with -clock virtual (HLT skips to the next timer: `sleep 1` costs
# nothing), so the output is reproducible and the run time is CPU time only.
set -euo pipefail
v3vm=$1 src=$2 case=$3
cache=${V3_LINUX_CACHE:-$HOME/.cache/v3vmm/linux}
[ -e "$cache/bzImage" ] || { echo "no kernel in $cache (run scripts/fetch-linux.sh): skipped"; exit 77; }
tmp=$(mktemp -d)
sess=
cleanup() {
    [ -z "$sess" ] || tmux kill-session -t "$sess" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
version=$(cat "$cache/version" 2>/dev/null || true)
version=${version%-unsigned}
[ -e "$cache/vmlinux" ] || "$src/scripts/extract-vmlinux.sh" "$cache/bzImage" "$cache/vmlinux" >/dev/null
base_append="console=ttyS0"
fail=0
ok()   { echo "ok: $*"; }
bad()  { echo "FAIL: $*"; fail=1; }

# boot KERNEL APPEND OUT INITRD: runs v3vm, leaves its status in $status
boot() {
    set +e
    timeout "${V3_LINUX_TIMEOUT:-1100}" "$v3vm" -m 256M -clock virtual -kernel "$1" -initrd "$4" \
        -append "$2" --stats < /dev/null > "$3.raw" 2> "$3.err"
    status=$?
    tr -d '\r' < "$3.raw" > "$3"       # the serial console ends lines with CR LF
    set -e
}

# check OUT WANT_STATUS: tests/linux/check.sh (shared with scripts/kvm-nested.sh)
. "$src/tests/linux/check.sh"
check() { linux_check "$1" "$2" 1 tsc; }

"$src/scripts/mkinitramfs.sh" "$tmp/initrd.gz" "$src/tests/linux/init.sh" "$cache/busybox" >/dev/null
case $case in
pvh)
    boot "$cache/vmlinux" "$base_append" "$tmp/out" "$tmp/initrd.gz"
    check "$tmp/out" 0
    ;;
pvh-noacpi)
    boot "$cache/vmlinux" "$base_append noapic nolapic acpi=off" "$tmp/out" "$tmp/initrd.gz"
    check "$tmp/out" 6
    ;;
bzimage)
    boot "$cache/bzImage" "$base_append" "$tmp/out" "$tmp/initrd.gz"
    check "$tmp/out" 0
    ;;
determinism)
    boot "$cache/vmlinux" "$base_append" "$tmp/out1" "$tmp/initrd.gz"
    s1=$status
    boot "$cache/vmlinux" "$base_append" "$tmp/out2" "$tmp/initrd.gz"
    [ "$s1" -eq 0 ] && [ "$status" -eq 0 ] && ok "both boots exit 0" || bad "exit statuses $s1 $status"
    n1=$(grep -o '^statistics: [0-9]* instructions' "$tmp/out1.err" || true)
    n2=$(grep -o '^statistics: [0-9]* instructions' "$tmp/out2.err" || true)
    [ -n "$n1" ] && [ "$n1" = "$n2" ] && ok "same instruction count ($n1)" || bad "instruction counts '$n1' / '$n2'"
    if cmp -s "$tmp/out1" "$tmp/out2"; then ok "same console output ($(wc -l < "$tmp/out1") lines)"
    else bad "console outputs differ"; diff "$tmp/out1" "$tmp/out2" | head -20; fi
    ;;
interactive)
    command -v tmux >/dev/null || { echo "no tmux: skipped"; exit 77; }
    printf '#!/bin/sh\n/bin/busybox --install -s /bin\nmount -t proc proc /proc\necho V3T shell-ready\nexec sh\n' > "$tmp/init-sh"
    "$src/scripts/mkinitramfs.sh" "$tmp/initrd-sh.gz" "$tmp/init-sh" "$cache/busybox" >/dev/null
    sess=v3vm-linux-$$
    export TMUX_TMPDIR=$tmp
    tmux -f /dev/null new-session -d -s "$sess" -x 120 -y 40 \
        "'$v3vm' -q -m 256M -kernel '$cache/vmlinux' -initrd '$tmp/initrd-sh.gz' -append '$base_append quiet'; echo v3vm-status=\$?; stty -a | grep -o -- '-\\?icanon' | sed 's/^/v3vm-tty=/'; sleep 600"
    pane() { tmux capture-pane -p -t "$sess" -S -200; }
    waitfor() {     # waitfor REGEX SECONDS
        for _ in $(seq 1 "$2"); do pane | grep -q -E "$1" && return 0; sleep 1; done
        return 1
    }
    if waitfor '^/ # ?$' "${V3_LINUX_TIMEOUT:-300}"; then ok "shell prompt"; else bad "no shell prompt"; fi
    tmux send-keys -t "$sess" 'echo hello $((6 * 7))' Enter
    waitfor '^hello 42' 60 && ok "typed command answered" || bad "no answer to the typed command"
    tmux send-keys -t "$sess" C-a x
    waitfor 'v3vm-tty=' 30 || true
    pane | grep -q '^v3vm-status=0' && ok "Ctrl-A X: exit status 0" || bad "Ctrl-A X did not end v3vm with 0"
    pane | grep -q '^v3vm-tty=icanon' && ok "terminal restored (icanon)" || bad "terminal left raw"
    [ $fail -eq 0 ] || pane | tail -30
    ;;
*)
    echo "unknown case $case"; exit 2;;
esac
exit $fail
