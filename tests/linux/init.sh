#!/bin/sh
# /init of the test initramfs (scripts/mkinitramfs.sh): prints what the
# platform looks like between marker lines the test script checks, then
# powers off.  busybox provides every command.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "V3T init-start"
echo "V3T uname $(uname -r)"
echo "V3T flags $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)"
echo "V3T clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
# timer interrupts: IRQ 0 (PIT through the PIC or IOAPIC) plus the LAPIC timer (LOC)
ticks() { awk '/ timer$|^ *LOC:/ {n += $2} END {print n + 0}' /proc/interrupts; }
t1=$(ticks)
sleep 1
t2=$(ticks)
echo "V3T timer $t1 $t2"
echo "V3T memtotal $(awk '/MemTotal/ {print $2}' /proc/meminfo)"
echo "V3T cpus $(grep -c ^processor /proc/cpuinfo)"
echo "V3T sum $(echo v3vmm | md5sum | cut -d' ' -f1)"
echo "V3T seq $(seq 1 5 | tr '\n' ' ')"
echo "V3T date-year $(date +%Y)"
echo "V3T dmesg-begin"
dmesg
echo "V3T dmesg-end"
echo "V3T poweroff"
poweroff -f
