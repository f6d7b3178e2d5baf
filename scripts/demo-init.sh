#!/bin/sh
# /init of the demo initramfs (scripts/demo.sh): shows the platform the
# kernel found on v3vmm, then powers off (ACPI S5) or, with v3demo=shell on
# the command line, starts a shell on the serial console.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
show() { printf '\n\033[1m$ %s\033[0m\n' "$*"; sh -c "$*"; }
echo
echo "=== Debian's kernel $(uname -r) on the v3vmm software CPU: /init after $(cut -d' ' -f1 /proc/uptime) s of guest time"
show "grep -E '^(processor|vendor_id|model name|cpu MHz|flags)' /proc/cpuinfo"
show "cat /proc/interrupts | head -8"
show "cat /sys/devices/system/clocksource/clocksource0/current_clocksource /sys/devices/system/clocksource/clocksource0/available_clocksource"
show "dmesg | grep -E 'tsc: (Detected|Refined)|BIOS-e820|ACPI: (RSDP|FACP|APIC|DSDT)|Command line'"
show "grep -v '^ ' /proc/iomem"
show "head -3 /proc/meminfo; ls /sys/bus/platform/devices | tr '\n' ' '; echo"
if grep -q v3demo=shell /proc/cmdline; then
    echo
    echo "=== busybox shell: try ls /proc, dmesg, cat /proc/interrupts; 'poweroff -f' or Ctrl-A X ends v3vm"
    exec setsid cttyhack sh
fi
echo
echo "=== powering off (ACPI S5)"
poweroff -f
