; SPDX-License-Identifier: MIT
; IOAPIC (82093AA-like, at 0xFEC00000) with the local APIC in xAPIC mode,
; 32-bit protected mode: version and reset state of a redirection entry,
; then a level-triggered entry driven by the PIT (IRQ 0 on IOAPIC pin 2;
; counter 0 in mode 0 keeps OUT high after the terminal count): nothing
; while masked, delivery on unmask with Remote IRR set and the vector in TMR,
; re-delivery after EOI while the line is still high, none once it is low;
; then an edge-triggered entry: one message per rising edge.
%include "lib.inc"

%include "apic.inc"

main:
        SAYLN "ioapic: start"
        GATE V_IO, h_io
        GATE V_SPUR, h_spur
        mov dword [A_SVR], 0x1ff
        mov dword [A_TPR], 0
        call ioapic_test
        SAYLN "ioapic: done"
        ret

; ---------------------------------------------------------------- IOAPIC
io_read:        ; eax = register -> eax
        mov [IOAPIC], eax
        mov eax, [IOAPIC + 0x10]
        ret
io_write:       ; eax = register, ebx = value
        mov [IOAPIC], eax
        mov [IOAPIC + 0x10], ebx
        ret

; PIT counter 0 in mode 0 with count 1000: OUT low now, high at the terminal count
pit_arm:
        mov al, 0x30
        out 0x43, al
        mov al, 0xe8
        out 0x40, al
        mov al, 0x03
        out 0x40, al
        ret

; wait for PIT counter 0 OUT high (read-back status bit 7)
pit_wait_high:
        mov ecx, 10000000
.l:     mov al, 0xe2
        out 0x43, al
        in al, 0x40
        test al, 0x80
        jnz .ok
        dec ecx
        jnz .l
        SAYLN "pit: timeout"
.ok:    ret

ioapic_test:
        mov eax, 1
        call io_read
        SHOW "ioapic version", eax
        mov eax, 0x14
        call io_read
        SHOW "rte2 reset", eax
        call newline

        ; pin 2: vector V_IO, fixed, physical dest 0, active high, level, masked
        mov eax, 0x15
        xor ebx, ebx
        call io_write
        mov eax, 0x14
        mov ebx, V_IO | (1 << 15) | (1 << 16)
        call io_write
        call pit_arm
        call pit_wait_high
        WINDOW
        SHOW "masked while high", [cnt_io]
        mov eax, 0x14
        call io_read
        SHOW "rte", eax
        call newline

        ; unmask: delivered once, Remote IRR set, the handler does no EOI
        mov eax, 0x14
        mov ebx, V_IO | (1 << 15)
        call io_write
        mov eax, 1
        call wait_io
        SHOW "unmasked count", [cnt_io]
        mov eax, [io_rte]
        and eax, 0x4000
        SHOW "remote irr in handler", eax
        mov eax, [A_TMR + 0x30]
        and eax, 1
        SHOW "tmr", eax
        call newline

        ; EOI while the line is still high: Remote IRR clears and the pin is sent again
        mov dword [A_EOI], 0
        mov eax, 2
        call wait_io
        SHOW "after eoi count", [cnt_io]
        mov eax, 0x14
        call io_read
        and eax, 0x4000
        SHOW "remote irr", eax
        call newline

        ; line low (reloading counter 0 drives OUT low for 55 ms), then EOI: nothing more
        call pit_arm_long
        mov dword [A_EOI], 0
        WINDOW
        SHOW "line low eoi count", [cnt_io]
        mov eax, 0x14
        call io_read
        and eax, 0x5000
        SHOW "remote irr", eax
        call newline

        ; edge-triggered, unmasked: one message per rising edge, none while it stays high
        mov eax, 0x14
        mov ebx, V_IO
        call io_write
        call pit_arm
        mov eax, 3
        call wait_io
        mov dword [A_EOI], 0
        WINDOW
        SHOW "edge count", [cnt_io]
        mov eax, [io_rte]
        and eax, 0xf000
        SHOW "rte bits in handler", eax
        mov eax, [A_TMR + 0x30]
        and eax, 1
        SHOW "tmr", eax
        mov eax, 0x14
        mov ebx, V_IO | (1 << 16)
        call io_write
        call newline
        ret

; wait until [cnt_io] >= eax (IF=1 meanwhile), or print a timeout
wait_io:
        mov ecx, 100000000
        sti
.l:     cmp [cnt_io], eax
        jae .ok
        dec ecx
        jnz .l
        cli
        SAYLN "ioapic: timeout"
        ret
.ok:    cli
        ret

pit_arm_long:                   ; mode 0, count 0 (65536: 55 ms)
        mov al, 0x30
        out 0x43, al
        xor al, al
        out 0x40, al
        out 0x40, al
        ret

; ---------------------------------------------------------------- handlers
h_io:
        push eax
        inc dword [cnt_io]
        mov eax, 0x14
        call io_read
        mov [io_rte], eax
        pop eax
        iretd                   ; no EOI: the main program gives it
h_spur:
        iretd

        align 4
cnt_io:     dd 0
io_rte:     dd 0

%include "lib_end.inc"
bss_end:
