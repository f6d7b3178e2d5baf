#!/bin/sh
# SPDX-License-Identifier: MIT
# v3vm's command line: bad flags and bad images give their message and their
# documented exit status (see docs/v3vm.1).  With "cpu" as third argument the
# cases that run guest code (instruction limit, HLT, shutdown) are included.
#
#   cli-errors.sh V3VM GUEST_DIR [cpu]
set -u
v3vm=$1 guests=$2 cpu=${3:-}
tmp=${TMPDIR:-/tmp}/v3cli.$$
trap 'rm -rf "$tmp".*' EXIT INT TERM
[ -x "$v3vm" ] || { echo "SKIP: no v3vm at $v3vm"; exit 77; }
fails=0 n=0

# expect STATUS "TEXT" ARGS...: run v3vm, check status and that stderr+stdout has TEXT
expect() {
    want=$1 text=$2
    shift 2
    n=$((n + 1))
    timeout 60 "$v3vm" "$@" > "$tmp.out" 2>&1 < /dev/null
    st=$?
    if [ "$st" -ne "$want" ] || ! grep -qF -- "$text" "$tmp.out"; then
        echo "FAIL: v3vm $*: status $st (want $want), output:"
        sed 's/^/    /' "$tmp.out" | head -10
        echo "    (wanted text: $text)"
        fails=$((fails + 1))
    else
        echo "ok: v3vm $* -> $st: $(grep -F -- "$text" "$tmp.out" | head -1)" | cut -c1-400
    fi
}

hello=$guests/hello.elf
expect 0 "Usage:"                          --help
expect 2 "no kernel given"
expect 2 "unknown option '--bogus'"        --bogus -kernel "$hello"
expect 2 "needs an argument"               -kernel
expect 2 "invalid memory size"             -m 12Q -kernel "$hello"
expect 2 "invalid memory size"             -m 0 -kernel "$hello"
expect 2 "invalid memory size"             -m 5K -kernel "$hello"
expect 2 "invalid serial back end"         -serial tcp:1234 -kernel "$hello"
expect 2 "invalid serial back end"         -serial file: -kernel "$hello"
expect 2 "unknown trace"                   --trace everything -kernel "$hello"
expect 2 "invalid instruction count"       --max-insns 0 -kernel "$hello"
expect 2 "invalid instruction count"       --max-insns -5 -kernel "$hello"
expect 2 "--real needs --flat"             --real -kernel "$hello"
expect 2 "-S needs -gdb or -s"             -S -kernel "$hello"
expect 2 "invalid -gdb 'tcp::0'"           -gdb tcp::0 -kernel "$hello"
expect 2 "invalid -gdb 'tcp::99999'"       -gdb tcp::99999 -kernel "$hello"
expect 12 "cannot open '$tmp.missing'"     -kernel "$tmp.missing"
expect 2 "invalid accelerator 'hvf'"       -accel hvf -kernel "$hello"
# the KVM back end on a device that is missing, or not KVM: one line names it
V3_KVM_DEVICE=$tmp.nokvm expect 12 "no such device"  -accel kvm -kernel "$hello"
V3_KVM_DEVICE=$tmp.nokvm expect 12 "hardware accelerator not available" -accel kvm -kernel "$hello"
V3_KVM_DEVICE=/dev/null expect 12 "KVM API version" -accel kvm -kernel "$hello"

printf 'this is not a kernel\n' > "$tmp.txt"
expect 12 "no multiboot header"            -kernel "$tmp.txt"
: > "$tmp.empty"
expect 12 "no multiboot header"            -kernel "$tmp.empty"
# the a.out-kludge header (at offset 0) survives, the image it describes does not
head -c 100 "$guests/hello-aout.bin" > "$tmp.trunc"
expect 12 "truncated image"                -kernel "$tmp.trunc"
expect 12 "outside guest RAM"              -m 1M -kernel "$hello"
expect 12 "cannot open"                    -kernel "$hello" -initrd "$tmp.missing"
# a bzImage header (0xAA55 at 0x1FE, "HdrS" at 0x202) with boot protocol 2.00
head -c 4096 /dev/zero > "$tmp.bz"
printf '\125\252\353\000HdrS\000\002' | dd of="$tmp.bz" bs=1 seek=510 conv=notrunc 2>/dev/null
expect 12 "boot protocol 2.00 is too old"  -kernel "$tmp.bz"
expect 12 "does not fit in guest RAM"      -m 8K --flat 0x1000 -kernel "$hello"
# ... with its own message, not the text of V3_ESIZE (a bad memory size)
if grep -qF "multiple of 4 KiB" "$tmp.out"; then
    echo "FAIL: the loader's does-not-fit error prints the memory-size error text"; fails=$((fails + 1))
fi
# images are read with a bound (guest RAM): an endless or huge file is not read whole
expect 12 "is larger than guest RAM"       -m 4M -kernel /dev/zero
truncate -s 2G "$tmp.sparse"
expect 12 "(2147483648 bytes) is larger than guest RAM" -m 64M -kernel "$tmp.sparse"
expect 12 "is larger than guest RAM"       -m 4M -kernel "$hello" -initrd /dev/zero
# a module that cannot be read stops the start, even after a good one
expect 12 "cannot open '$tmp.missing'"     -kernel "$hello" -initrd "$hello,$tmp.missing"
# bad module lists: their own message, usage status
expect 2 "module 1 is empty"               -kernel "$hello" -initrd ""
expect 2 "module 1 is empty"               -kernel "$hello" -initrd ","
expect 2 "module 2 is empty"               -kernel "$hello" -initrd "$hello,"
expect 2 "module 1 has an empty path"      -kernel "$hello" -initrd " args"
long=$(head -c 4096 /dev/zero | tr '\0' 'a')
expect 2 "path of module 1 is too long"    -kernel "$hello" -initrd "$long"
m17="$hello"; for i in 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17; do m17="$m17,$hello"; done
expect 2 "too many modules (at most 16)"   -kernel "$hello" -initrd "$m17"
# with more than 4 GiB of contiguous RAM (-machine none: no hole below 4 GiB)
# the test device's MMIO page lies inside RAM's range: nothing is loaded there
expect 12 "device memory"                  -machine none -m 5G --flat 0xFEB00000 -kernel "$hello"
expect 12 "lands on a full-hook region"    -machine none -m 5G --flat 0xFEAFF000 -kernel "$hello"

if [ "$cpu" = cpu ]; then
    V3_KVM_DEVICE=$tmp.nokvm expect 1 "accelerator: emu" -accel auto -kernel "$hello"
    expect 1 "Hello from a v3vmm guest!"   -m 16M -kernel "$hello"
    expect 8 "instruction limit (100) reached" --max-insns 100 -kernel "$hello"
    printf '\372\364' > "$tmp.hlt"        # cli; hlt
    expect 6 "halted"                      --flat 0x1000 -kernel "$tmp.hlt"
    printf '\315\003' > "$tmp.int3"       # int3 with an empty IDT: triple fault
    expect 4 "triple fault"                --flat 0x100000 -kernel "$tmp.int3"
    printf '\271\170\126\064\022\017\062' > "$tmp.msr"   # mov ecx, 0x12345678; rdmsr (no IDT)
    expect 4 "exit msr-read msr 12345678"  --flat 0x100000 -kernel "$tmp.msr" --trace exits
    # a serial file that cannot be written: one warning, the guest runs on
    expect 1 "serial output: write failed" -kernel "$hello" -serial file:/dev/full
    if [ "$(grep -c "serial output: write failed" "$tmp.out")" -ne 1 ]; then
        echo "FAIL: the serial write error is not reported exactly once"; fails=$((fails + 1))
    fi
    # a load from unbacked memory reads all ones (0xff to the debug-exit port:
    # status (0xff << 1 | 1) & 0xff); --strict-mem stops the VM instead
    printf '\241\000\000\040\000\346\364' > "$tmp.unb"  # mov eax, [0x200000]; out 0xf4, al
    expect 255 "unbacked memory accesses 1" -m 1M --flat 0x1000 -kernel "$tmp.unb" --stats
    expect 10 "no memory region covers the address" -m 1M --flat 0x1000 -kernel "$tmp.unb" --strict-mem
    expect 1 "exits io"                    -kernel "$hello" --stats -serial none
    expect 1 "v3vmm hooks guest: VGA text memory" -kernel "$guests/hooks.elf" --vga -serial none
    expect 1 "INFO hypercall mem_offset disabled" -kernel "$guests/hooks.elf"
    expect 1 "PASS hypercall mem_offset enabled"  -kernel "$guests/hooks.elf" --enable-mem-offset-hypercall
    expect 1 "hooks: done, 0 failed"       -kernel "$guests/hooks.elf" --enable-mem-offset-hypercall
    expect 1 "full-hook"                   -kernel "$hello" --dump-map -serial none
    # RAM above the 3 GiB device window is mapped from 4 GiB
    expect 1 "0x0000000100000000 0x0000000180000000 shadow" -m 5G -kernel "$hello" --dump-map -serial none
    expect 1 "exit io out port 03f8"       -kernel "$hello" --trace exits -serial none
    # SIGTERM stops a guest that never stops by itself: status 130
    printf '\353\376' > "$tmp.loop"       # jmp $
    n=$((n + 1))
    "$v3vm" --flat 0x1000 -kernel "$tmp.loop" > "$tmp.out" 2>&1 < /dev/null &
    pid=$!
    sleep 1
    kill -TERM $pid
    wait $pid
    st=$?
    if [ "$st" -ne 130 ] || ! grep -q "stopped" "$tmp.out"; then
        echo "FAIL: SIGTERM: status $st (want 130)"
        cat "$tmp.out"
        fails=$((fails + 1))
    else
        echo "ok: SIGTERM on a looping guest -> 130"
    fi
    n=$((n + 1))
    timeout 60 "$v3vm" -kernel "$hello" -serial "file:$tmp.serial" > "$tmp.out" 2>&1 < /dev/null
    st=$?
    if [ "$st" -ne 1 ] || [ -s "$tmp.out" ] || ! grep -q "^bye$" "$tmp.serial"; then
        echo "FAIL: -serial file: status $st, stdout/stderr $(wc -c < "$tmp.out") bytes, file:"
        cat "$tmp.serial"
        fails=$((fails + 1))
    else
        echo "ok: -serial file:PATH -> 1, output in the file only"
    fi
fi
echo "$n cases, $fails failed"
[ "$fails" -eq 0 ]
