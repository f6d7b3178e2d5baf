#!/usr/bin/env bash
# Debian 12's kernel (when scripts/fetch-linux.sh has fetched it; else exit
# 77) started through PVH on v3vm for a bounded number of instructions: the
# kernel's own early log must show that it took our command line, e820 map,
# initrd, ACPI tables and MP table.  Whatever stops the run (the platform is
# not complete yet) does not matter; the log lines do.
#   linux-early-boot.sh V3VM SOURCE_DIR
set -euo pipefail
v3vm=$1 src=$2
cache=${V3_LINUX_CACHE:-$HOME/.cache/v3vmm/linux}
[ -e "$cache/bzImage" ] || { echo "no kernel in $cache (run scripts/fetch-linux.sh): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexec /bin/sh\n' > "$tmp/init"
"$src/scripts/mkinitramfs.sh" "$tmp/initrd.gz" "$tmp/init" "$cache/busybox" >/dev/null
"$src/scripts/extract-vmlinux.sh" "$cache/bzImage" "$cache/vmlinux" >/dev/null
timeout 120 "$v3vm" -m 256M -kernel "$cache/vmlinux" -initrd "$tmp/initrd.gz" \
    -append "console=ttyS0 earlyprintk=serial,ttyS0 v3-early-boot-test" --max-insns 40000000 \
    > "$tmp/out" 2>&1 < /dev/null || true
fail=0
want() {
    if grep -qF -- "$1" "$tmp/out"; then echo "ok: $1"; else echo "FAIL: missing '$1'"; fail=1; fi
}
want "Command line: console=ttyS0 earlyprintk=serial,ttyS0 v3-early-boot-test"
want "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"
want "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable"
want "BIOS-e820: [mem 0x00000000fee00000-0x00000000fee00fff] reserved"
want "RAMDISK: [mem 0x"
want "found SMP MP-table at [mem 0x000f0000-0x000f000f]"
want "ACPI: RSDP 0x00000000000E0000 000024 (v02 V3VMM )"
want "ACPI: FACP 0x"
want "(v06 V3VMM  V3PC"
want "ACPI: APIC 0x"
want "ACPI: DSDT 0x"
if [ $fail -ne 0 ]; then echo "--- v3vm output:"; head -80 "$tmp/out"; fi
exit $fail
