#!/usr/bin/env bash
# Disassembles the ACPI tables v3 builds (2 CPUs, 5 GiB) with iasl (ACPICA,
# an independent parser) and checks the fields it decodes: checksums,
# FADT PM blocks / SCI / reset register, MADT entries, and that the DSDT
# disassembly recompiles without errors.  Exit 77 (skip) without iasl.
#   acpi-iasl.sh TEST_BINARY
set -euo pipefail
command -v iasl >/dev/null || { echo "iasl not installed (acpica-tools): skipped"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$1" --dump "$dir"
cd "$dir"
for t in facp apic dsdt xsdt; do
    iasl -d "$t.dat" > "$t.log" 2>&1 || { cat "$t.log"; echo "FAIL: iasl -d $t"; exit 1; }
done
fail=0
want() {   # want FILE REGEX COUNT
    local n
    n=$(grep -cE "$2" "$1" || true)
    if [ "$n" -ne "$3" ]; then echo "FAIL: $1: '$2' found $n times, want $3"; fail=1; fi
}
for t in facp apic dsdt xsdt; do want "$t.dsl" "Incorrect checksum|Invalid|[Ww]arning|[Ee]rror" 0; done
want facp.dsl "Revision : 06" 1
want facp.dsl "SCI Interrupt : 0009" 1
want facp.dsl "PM1A Event Block Address : 00000600" 1
want facp.dsl "PM1A Control Block Address : 00000604" 1
want facp.dsl "PM Timer Block Address : 00000608" 1
want facp.dsl "PM1 Event Block Length : 04" 1
want facp.dsl "PM1 Control Block Length : 02" 1
want facp.dsl "PM Timer Block Length : 04" 1
want facp.dsl "32-bit PM Timer \(V1\) : 1" 1
want facp.dsl "Hardware Reduced \(V5\) : 0" 1
want facp.dsl "Reset Register Supported \(V2\) : 1" 1
want facp.dsl "Address : 0000000000000CF9" 1
want facp.dsl "Value to cause reset : 06" 1
want facp.dsl "Address : 0000000000000608" 1
want apic.dsl "Local Apic Address : FEE00000" 1
want apic.dsl "Subtable Type : 00 \[Processor Local APIC\]" 2
want apic.dsl "Processor Enabled : 1" 2
want apic.dsl "Subtable Type : 01 \[I/O APIC\]" 1
want apic.dsl "Address : FEC00000" 1
want apic.dsl "I/O Apic ID : 02" 1
want apic.dsl "Subtable Type : 02 \[Interrupt Source Override\]" 2
want apic.dsl "Source : 09" 1
want apic.dsl "Subtable Type : 04 \[Local APIC NMI\]" 1
want apic.dsl "Interrupt Input LINT : 01" 1
want dsdt.dsl 'EisaId \("PNP0501"\)' 1
want dsdt.dsl 'EisaId \("PNP0B00"\)' 1
want dsdt.dsl "0x03F8," 2
want dsdt.dsl "\{4\}" 1
want dsdt.dsl "Name \(\\\\_S5, Package \(0x04\)" 1
iasl dsdt.dsl > recompile.log 2>&1 || { cat recompile.log; echo "FAIL: DSDT disassembly does not recompile"; fail=1; }
grep -q "0 Errors, 0 Warnings" recompile.log || { cat recompile.log; echo "FAIL: DSDT recompile reports problems"; fail=1; }
[ $fail -eq 0 ] && echo "ACPI tables: iasl agrees"
exit $fail
