#!/usr/bin/env bash
# The main demo: installs what is missing, builds v3vmm, fetches Debian 12's
# own kernel and busybox (scripts/fetch-linux.sh, as the tests do), boots the
# kernel through its PVH entry on the software CPU to a busybox /init that
# shows the platform (CPUs, interrupts, clocksource, memory map) and powers
# off through ACPI S5.
#
#   scripts/demo.sh [--shell] [--bzimage] [--realtime] [BUILD_DIR]
#       --shell     stay in an interactive busybox shell (Ctrl-A X or
#                   'poweroff -f' ends it; Ctrl-A H lists the escapes)
#       --bzimage   boot the compressed vmlinuz itself (xz decompression on
#                   the software CPU: about 4.5G more instructions)
#       --realtime  VM clock from host time (default for --shell); otherwise
#                   the virtual clock (1 ns per instruction, idle time skipped:
#                   fast and the same output every run)
#   scripts/demo.sh hooks [BUILD_DIR]
#       the second demo: the sample guest 'hooks' and the guest memory map
#
# Without apt-get or a network (no kernel can be fetched) it falls back to
# the hooks demo.
set -euo pipefail
cd "$(dirname "$0")/.."
shell=0 bz=0 clock=virtual what=linux build=build
for a in "$@"; do
    case $a in
    --shell) shell=1; clock=realtime;;
    --bzimage) bz=1;;
    --realtime) clock=realtime;;
    hooks) what=hooks;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    -*) echo "demo: unknown option $a" >&2; exit 2;;
    *) build=$a;;
    esac
done
[ -x scripts/install-deps.sh ] && scripts/install-deps.sh >/dev/null 2>&1 || true
scripts/build.sh "$build" >/dev/null
v3vm=$build/tools/v3vm/v3vm

hooks_demo() {
    if [ -x "$v3vm" ] && [ -f "$build/guests/hooks.elf" ]; then
        set +e
        "$v3vm" -m 64M -kernel "$build/guests/hooks.elf" --dump-map --stats
        status=$?
        set -e
        # v3vm exits with the guest's debug-exit status (v << 1) | 1; the guest
        # writes 0 when every check passed.  See docs/v3vm.1 for the other codes.
        if [ "$status" -eq 1 ]; then
            echo "demo: guest exited through the debug-exit port with value 0 (all checks passed)"
            exit 0
        fi
        echo "demo: v3vm exit status $status (see docs/v3vm.1)" >&2
        exit 1
    fi
    exec "$build/tools/memmap-demo/v3-memmap-demo"
}
[ "$what" = hooks ] && hooks_demo

if ! env_lines=$(scripts/fetch-linux.sh); then
    echo "demo: could not fetch Debian's kernel (needs apt-get and a network); showing the hooks demo" >&2
    hooks_demo
fi
eval "$env_lines"
cache=$(dirname "$V3_LINUX_BZIMAGE")
kernel=$V3_LINUX_BZIMAGE
if [ $bz -eq 0 ]; then
    [ -e "$cache/vmlinux" ] || scripts/extract-vmlinux.sh "$V3_LINUX_BZIMAGE" "$cache/vmlinux" >/dev/null
    kernel=$cache/vmlinux
fi
initrd=$build/demo-initrd.gz
scripts/mkinitramfs.sh "$initrd" scripts/demo-init.sh "$V3_LINUX_BUSYBOX" >/dev/null
append="console=ttyS0 quiet"
[ $shell -eq 1 ] && append="$append v3demo=shell"
echo "demo: $v3vm -m 256M -clock $clock -kernel $kernel -initrd $initrd -append \"$append\" --stats"
set +e
"$v3vm" -m 256M -clock "$clock" -kernel "$kernel" -initrd "$initrd" -append "$append" --stats
status=$?
set -e
if [ "$status" -eq 0 ]; then
    echo "demo: the guest powered off (v3vm exit status 0)"
else
    echo "demo: v3vm exit status $status (see docs/v3vm.1)" >&2
fi
exit "$status"
