#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive v3vm's gdb stub with the real gdb and check what gdb reports.

usage: gdb_session.py CASE V3VM GDB GUEST_ELF
CASE is one of:
  break      breakpoint at a function, stepi, registers, memory, a write
             watchpoint, a hardware breakpoint, monitor xp, run to the exit
  interrupt  Ctrl-C (SIGINT to gdb, which sends 0x03) stops a spinning guest
  attach     gdb attaches to a guest already running (no -S) and detaches
  long       a 64-bit guest with paging (longmode): control registers,
             virtual memory through its page tables, an address they do not map

Expected values come from the guest's source (initial values, what each
instruction does), its symbol table (nm) and the multiboot magic; gdb's
output is the thing under test.  Every step has a timeout, so a hang fails.
Exit status 0 on success, 1 on a failed check, 77 when gdb is missing.
"""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

STEP_TIMEOUT = 60


def fail(msg, *texts):
    print("FAIL: " + msg)
    for t in texts:
        print("---- output ----")
        print(t)
    sys.exit(1)


def symbols(elf):
    out = subprocess.run(["nm", elf], capture_output=True, text=True, timeout=STEP_TIMEOUT, check=True).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3:
            syms[f[2]] = int(f[0], 16)
    return syms


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_vm(v3vm, elf, port, wait, tmp):
    args = [v3vm, "-gdb", "tcp:127.0.0.1:%d" % port, "-serial", "file:" + os.path.join(tmp, "serial.out"),
            "-kernel", elf]
    if wait:
        args.insert(3, "-S")
    vm = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    # the listening socket exists once v3vm says so
    deadline = time.time() + STEP_TIMEOUT
    line = ""
    while time.time() < deadline:
        r, _, _ = select.select([vm.stderr], [], [], 1)
        if r:
            line = vm.stderr.readline()
            if " on port " in line or not line:
                break
    if " on port " not in line:
        vm.kill()
        fail("v3vm did not start listening: " + line)
    return vm


def run_gdb(gdb, port, script, tmp):
    path = os.path.join(tmp, "script.gdb")
    with open(path, "w") as f:
        f.write(script)
    try:
        p = subprocess.run([gdb, "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
                            "-ex", "target remote 127.0.0.1:%d" % port, "-x", path],
                           capture_output=True, text=True, timeout=STEP_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        fail("gdb timed out", (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""))
    return p.stdout + p.stderr


def finish_vm(vm, expect_status, out):
    try:
        vm.wait(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        vm.kill()
        fail("v3vm did not exit", out)
    err = vm.stderr.read()
    if vm.returncode != expect_status:
        fail("v3vm exit status %d, expected %d" % (vm.returncode, expect_status), out, err)


def expect(out, pattern, what):
    m = re.search(pattern, out, re.M)
    if not m:
        fail("gdb output lacks %s (/%s/)" % (what, pattern), out)
    return m


def case_break(v3vm, gdb, elf, tmp):
    syms = symbols(elf)
    bump = syms["bump"]
    port = free_port()
    vm = start_vm(v3vm, elf, port, True, tmp)
    script = """
symbol-file %(elf)s
break bump
continue
printf "STOP1 pc=%%#x\\n", $pc
stepi
printf "STEP pc=%%#x eax=%%#x\\n", $pc, $eax
print/x {int}&counter
info registers
watch {int}&counter
continue
printf "WATCH pc=%%#x\\n", $pc
delete
hbreak bump
continue
printf "HBREAK pc=%%#x counter=%%#x\\n", $pc, {int}&counter
delete
set var $eax = 0x5a5a
printf "SETREG eax=%%#x\\n", $eax
monitor xp %(mb)x 8
python
try:
    gdb.execute("x/4xb 0x40000000")
except gdb.MemoryError as e:
    print("MEMERR %%s" %% e)
end
continue
""" % {"elf": elf, "mb": 0x100000}
    out = run_gdb(gdb, port, script, tmp)
    expect(out, r"^Breakpoint 1, (0x[0-9a-f]+ in )?bump \(\)", "the breakpoint stop in bump")
    expect(out, r"^STOP1 pc=%#x$" % bump, "pc at bump")
    # mov eax, [counter] is 5 bytes (A1 imm32); counter starts at 0x1234
    expect(out, r"^STEP pc=%#x eax=0x1234$" % (bump + 5), "pc and eax after one stepi")
    expect(out, r"^\$1 = 0x1234$", "the variable's value")
    for reg in ("rax", "rip", "eflags", "cs", "fs_base", "k_gs_base", "cr0", "cr3", "efer"):
        expect(out, r"^%s\s+0x[0-9a-f]+" % reg, "register %s in info registers" % reg)
    expect(out, r"^rip\s+%#x\s" % (bump + 5), "rip in info registers")
    expect(out, r"^Hardware watchpoint 2: \{int\}&counter", "the watchpoint")
    expect(out, r"^Old value = 4660\nNew value = 4667$", "the watchpoint's old and new values")
    # add eax, 7 (3 bytes) and mov [counter], eax (5 bytes) ran: the stop is after the store
    expect(out, r"^WATCH pc=%#x$" % (bump + 13), "pc after the watched store")
    expect(out, r"^Hardware assisted breakpoint 3 at %#x" % bump, "the hardware breakpoint")
    expect(out, r"^Breakpoint 3, (0x[0-9a-f]+ in )?bump \(\)", "the hardware breakpoint stop")
    expect(out, r"^HBREAK pc=%#x counter=0x123b$" % bump, "second call of bump, counter + 7")
    expect(out, r"^SETREG eax=0x5a5a$", "a register write")
    expect(out, r"^0000000000100000: 02 b0 ad 1b", "monitor xp: the multiboot magic at 1 MiB")
    expect(out, r"MEMERR Cannot access memory at address 0x40000000$", "an error for unmapped memory")
    expect(out, r"exited with code 01\]", "the guest's exit status")
    finish_vm(vm, 1, out)
    serial = open(os.path.join(tmp, "serial.out")).read()
    if "gdbtest ok" not in serial:
        fail("the guest did not finish correctly", serial)


def case_interrupt(v3vm, gdb, elf, tmp):
    syms = symbols(elf)
    spin = syms["spin"]
    port = free_port()
    vm = start_vm(v3vm, elf, port, True, tmp)
    script = """
symbol-file %s
shell (sleep 1; kill -INT $PPID) &
continue
printf "INT pc=%%#x spins=%%d\\n", $pc, {int}&spins
info threads
kill
""" % elf
    out = run_gdb(gdb, port, script, tmp)
    expect(out, r"^Program received signal SIGINT, Interrupt\.$", "the SIGINT stop")
    m = expect(out, r"^INT pc=(0x[0-9a-f]+) spins=(\d+)$", "pc and the loop counter")
    # the loop is inc dword [spins] (6 bytes) and jmp spin: the stop is at an instruction boundary in it
    if int(m.group(1), 16) not in (spin, spin + 6):
        fail("pc %s is not an instruction of the spin loop at %#x" % (m.group(1), spin), out)
    if int(m.group(2)) <= 0:
        fail("the guest did not run before the interrupt", out)
    expect(out, r"^\* 1\s+Thread 1 ", "vCPU 0 as thread 1")
    expect(out, r"\[Inferior 1 \(Remote target\) killed\]", "the kill")
    finish_vm(vm, 130, out)


def case_attach(v3vm, gdb, elf, tmp):
    syms = symbols(elf)
    spin = syms["spin"]
    port = free_port()
    vm = start_vm(v3vm, elf, port, False, tmp)
    script = """
symbol-file %s
printf "ATTACH pc=%%#x spins=%%d\\n", $pc, {int}&spins
info threads
detach
""" % elf
    out = run_gdb(gdb, port, script, tmp)
    m = expect(out, r"^ATTACH pc=(0x[0-9a-f]+) spins=(\d+)$", "pc and the loop counter")
    if int(m.group(1), 16) not in (spin, spin + 6) or int(m.group(2)) <= 0:
        fail("not stopped inside a running spin loop", out)
    expect(out, r"^\[Inferior 1 \(Remote target\) detached\]", "the detach")
    # detached, the guest runs on; SIGTERM stops v3vm as without a debugger
    time.sleep(0.3)
    if vm.poll() is not None:
        fail("v3vm exited after the detach", out)
    vm.send_signal(signal.SIGTERM)
    finish_vm(vm, 130, out)


def case_long(v3vm, gdb, elf, tmp):
    syms = symbols(elf)
    entry, pml4, pdpt = syms["long_entry"], syms["pml4"], syms["pdpt"]
    out_insn = syms["long_entry.hang"] - 1      # out dx, al (one byte, EE) before .hang
    port = free_port()
    vm = start_vm(v3vm, elf, port, True, tmp)
    script = """
symbol-file %s
break long_entry
continue
printf "LONG pc=%%#x cr3=%%#x cr4=%%#x efer=%%#x cr0=%%#x\\n", $pc, $cr3, $cr4, $efer, $cr0
stepi
printf "STEP pc=%%#x\\n", $pc
printf "PML4E=%%#x\\n", {int}&pml4
python
for a in ("0x40000000", "0x8000000000000000"):
    try:
        gdb.execute("x/xg " + a)
    except gdb.MemoryError as e:
        print("MEMERR %%s" %% e)
end
delete
break *%#x
continue
printf "OUT pc=%%#x dx=%%#x\\n", $pc, $dx
delete
continue
""" % (elf, out_insn)
    out = run_gdb(gdb, port, script, tmp)
    # paging as the guest set it up: CR3 = pml4, CR4.PAE, EFER.LME|LMA; CR0.PG|PE on top of
    # the multiboot entry state (PE|ET, caches enabled)
    expect(out, r"^LONG pc=%#x cr3=%#x cr4=0x20 efer=0x500 cr0=0x80000011$" % (entry, pml4),
           "the 64-bit entry and the control registers")
    # mov ax, 0x10 is 4 bytes (66 B8 imm16)
    expect(out, r"^STEP pc=%#x$" % (entry + 4), "one 64-bit instruction stepped")
    # PML4[0] = pdpt | present | writable as the guest wrote it, with the accessed bit
    # its own page walks set; read through the guest's page tables
    expect(out, r"^PML4E=%#x$" % (pdpt | 0x23), "memory read through the page tables")
    expect(out, r"MEMERR Cannot access memory at address 0x40000000$", "a linear address the guest does not map")
    expect(out, r"MEMERR Cannot access memory at address 0x8000000000000000$", "a non-canonical address")
    # a breakpoint in the middle of the block the CRC loop runs in (blocks go on past
    # conditional jumps and calls): hit exactly, after the loops ran at block speed
    expect(out, r"^OUT pc=%#x dx=0xf4$" % out_insn, "the breakpoint on the debug-exit OUT")
    expect(out, r"exited with code 01\]", "the guest's exit status")
    finish_vm(vm, 1, out)


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    case, v3vm, gdb, elf = sys.argv[1:]
    if not shutil.which(gdb):
        print("SKIP: no gdb")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        {"break": case_break, "interrupt": case_interrupt, "attach": case_attach,
         "long": case_long}[case](v3vm, gdb, elf, tmp)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
