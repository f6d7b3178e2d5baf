# SPDX-License-Identifier: MIT
# Sourced by tests/linux/linux-boot.sh and scripts/kvm-nested.sh: checks the
# console output of a boot of Debian's kernel with the initramfs of
# tests/linux/init.sh.
#
#   linux_check OUT WANT_STATUS CPUS CLOCKSOURCE
#
# Needs from the caller: $status (v3vm's exit status), $tmp (a scratch
# directory), $version (the kernel release, or empty), ok/bad functions and
# $fail; OUT.err is v3vm's stderr.  V3_DMESG_ALLOW, when set, is one more
# grep pattern of kernel-log lines known to be harmless there (the caller
# says why).
linux_check() {
    local out=$1 want=$2 cpus=$3 cs=$4 line
    if [ "$status" -eq "$want" ]; then ok "exit status $status"; else bad "exit status $status, want $want"; fi
    grep -q "^V3T init-start" "$out" && ok "/init ran" || bad "/init did not run"
    if [ -n "$version" ]; then
        grep -qx "V3T uname ${version}" "$out" && ok "uname -r is $version" || bad "uname -r: $(grep '^V3T uname' "$out")"
    fi
    line=$(grep "^V3T flags" "$out" || true)
    for f in fpu tsc msr pae cx8 cmov pat mmx fxsr sse sse2 syscall nx lm; do
        case " $line " in *" $f "*) ;; *) bad "cpuinfo flags lack $f: $line";; esac
    done
    grep -q "^V3T clocksource $cs\$" "$out" && ok "clocksource $cs" || bad "clocksource: $(grep '^V3T clocksource' "$out")"
    read -r _ _ t1 t2 < <(grep "^V3T timer" "$out" || echo "x x 0 0")
    if [ "${t2:-0}" -gt "${t1:-0}" ]; then ok "timer interrupts rise ($t1 -> $t2)"; else bad "timer interrupts $t1 -> $t2"; fi
    grep -q "^V3T memtotal [0-9]" "$out" && ok "meminfo" || bad "no MemTotal"
    grep -qx "V3T cpus $cpus" "$out" && ok "$cpus CPU(s)" || bad "cpus: $(grep '^V3T cpus' "$out")"
    # md5 of "v3vmm\n" (host md5sum as the oracle)
    grep -qx "V3T sum $(echo v3vmm | md5sum | cut -d' ' -f1)" "$out" && ok "md5sum" || bad "md5sum"
    grep -qx "V3T seq 1 2 3 4 5 " "$out" && ok "seq" || bad "seq"
    grep -q "^V3T poweroff" "$out" && ok "reached poweroff" || bad "did not reach poweroff"
    # The kernel's log: no warning, oops or BUG the platform causes.  Lines
    # known to be harmless are filtered first, each with its reason.
    sed -n '/^V3T dmesg-begin/,/^V3T dmesg-end/p' "$out" > "$tmp/dmesg"
    grep -v -e 'AMD-Vi: AMD IOMMUv2 functionality not available on this system - This is not a bug' \
            -e 'Unknown kernel command line parameters' \
            -e 'Speculative Return Stack Overflow: WARNING: See https://kernel.org' \
            -e "CPU: vendor_id 'V3vmmV3vmmV3' unknown, using generic init" \
            -e 'CPU: Your system may be unstable' \
            -e 'PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs" and report a bug' \
            ${V3_DMESG_ALLOW:+-e "$V3_DMESG_ALLOW"} "$tmp/dmesg" > "$tmp/dmesg.f" || true
    #   - AMD-Vi: the IOMMUv2 driver says there is no IOMMU (there is none), "not a bug"
    #   - "Unknown kernel command line parameters": none are passed; kept for local -append edits
    #   - "Speculative Return Stack Overflow: WARNING": the CPU model's AMD family is in
    #     Linux's SRSO list and CPUID 0x80000021 has no SRSO_NO (the software CPU does not
    #     speculate; reporting SRSO_NO is a CPU-model change)
    #   - "vendor_id 'V3vmmV3vmmV3' unknown ... may be unstable": the CPU model's vendor
    #     string; goes when the CPU model reports AuthenticAMD
    #   - "use pci=nocrs and report a bug": Linux prints it on every ACPI machine with a _CRS
    if grep -n -i -E 'warning|oops|\bbug\b|bug:|unexpected|call trace|panic|segfault|unstable|unchecked msr|firmware bug|firmware warn' "$tmp/dmesg.f"; then
        bad "kernel log has the lines above"
    else
        ok "kernel log clean"
    fi
    if grep -q "VM error" "$out.err"; then bad "VM error: $(grep 'VM error' "$out.err")"; fi
    if [ $fail -ne 0 ]; then
        echo "--- serial output (tail)"; tail -60 "$out"; echo "--- stderr"; cat "$out.err"
    fi
}

