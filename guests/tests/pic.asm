; SPDX-License-Identifier: MIT
; The 8259A PIC pair: IMR, ELCR (read-only bits of IRQ 0/1/2/8/13), IRR and
; ISR reads, edge latching and level following, poll mode, fixed priority,
; non-specific and specific EOI, set priority, rotation on EOI, special
; mask mode, automatic EOI with rotation, the cascade through IRQ 2, and
; 16-bit accesses to the 8-bit ports.
;
; Requests come from three sources a PC has: the PIT's counter 0 in mode 0
; (one rising edge on IRQ 0), COM1's transmitter-empty interrupt (IRQ 4,
; high while IER.ETBEI is set, as the THR is always empty here) and the
; RTC's periodic interrupt (IRQ 8, high until register C is read).
; Interrupt handlers only record their vector: the program sends every EOI.
%include "lib.inc"

MBASE equ 0x20
SBASE equ 0x28
TIMEOUT equ 2000000

%macro OUTB 2
        mov al, %2
        out %1, al
%endmacro

; print "<label>=<al as 2 hex digits> "
%macro SHOWB 1
        SAY %1
        SAY "="
        call puthex2
        SAY " "
%endmacro

; read IRR (OCW3 RR) / ISR (OCW3 RR|RIS) of the master (0x20) or slave (0xa0)
%macro RD_IRR 1
        mov al, 0x0a
        out %1, al
        in al, %1
%endmacro
%macro RD_ISR 1
        mov al, 0x0b
        out %1, al
        in al, %1
%endmacro

main:
        SAYLN "pic: start"
        mov dword [putc_buf], outbuf    ; COM1 is an interrupt source: print at the end
        call set_gates
        call pic_init
        ; COM1: MCR.OUT2 gates the UART IRQ on a PC
        mov dx, COM1 + 4
        mov al, 0x08
        out dx, al

        ; ---- IMR and ELCR
        OUTB 0x21, 0xa5
        OUTB 0xa1, 0x5a
        in al, 0x21
        SHOWB "imr master"
        in al, 0xa1
        SHOWB "slave"
        call newline
        mov dx, 0x4d0
        mov al, 0xff
        out dx, al
        inc dx
        out dx, al
        dec dx
        in al, dx
        SHOWB "elcr ff written: 4d0"
        inc dx
        in al, dx
        SHOWB "4d1"
        xor al, al
        out dx, al
        dec dx
        out dx, al
        in al, dx
        SHOWB "after 0: 4d0"
        call newline
        OUTB 0x21, 0xff
        OUTB 0xa1, 0xff

        ; ---- IRR latches an edge while masked, follows nothing else
        call pit0_pulse
        RD_IRR 0x20
        SHOWB "masked pit edge: irr"
        RD_ISR 0x20
        SHOWB "isr"
        call newline
        call uart_on
        RD_IRR 0x20
        SHOWB "uart line up: irr"
        call uart_off
        RD_IRR 0x20
        SHOWB "line down again (edge latched): irr"
        call newline

        ; ---- poll mode, non-specific and specific EOI
        call uart_on
        OUTB 0x21, 0xee         ; IRQ 0 and 4 unmasked, IF = 0
        OUTB 0x20, 0x0c         ; poll
        in al, 0x20
        SHOWB "poll"
        RD_ISR 0x20
        SHOWB "isr"
        OUTB 0x20, 0x0c
        in al, 0x20
        and al, 0x80
        SHOWB "poll below isr (bit 7)"
        call newline
        OUTB 0x20, 0x20         ; non-specific EOI
        RD_ISR 0x20
        SHOWB "after eoi: isr"
        OUTB 0x20, 0x0c
        in al, 0x20
        SHOWB "poll"
        RD_ISR 0x20
        SHOWB "isr"
        OUTB 0x20, 0x64         ; specific EOI, level 4
        RD_ISR 0x20
        SHOWB "after seoi 4: isr"
        RD_IRR 0x20
        SHOWB "irr (edge acked, line still up)"
        call newline
        call uart_off

        ; ---- level-triggered IRQ 4 through ELCR
        mov dx, 0x4d0
        mov al, 0x10
        out dx, al
        call uart_on
        RD_IRR 0x20
        SHOWB "level: line up irr"
        OUTB 0x20, 0x0c
        in al, 0x20
        SHOWB "poll"
        RD_IRR 0x20
        SHOWB "irr after ack"
        call uart_off
        RD_IRR 0x20
        SHOWB "line down irr"
        OUTB 0x20, 0x64
        mov dx, 0x4d0
        xor al, al
        out dx, al
        call newline

        ; ---- delivered interrupts: fixed priority
        call pend_both
        call window
        call print_log
        RD_ISR 0x20
        SHOWB "isr"
        OUTB 0x20, 0x20
        call window
        call print_log
        RD_ISR 0x20
        SHOWB "isr"
        OUTB 0x20, 0x64
        call newline
        call uart_off

        ; ---- set priority: lowest = 3, so IRQ 4 outranks IRQ 0
        OUTB 0x20, 0xc3
        call pend_both
        call window
        call print_log
        OUTB 0x20, 0x20
        call window
        call print_log
        RD_ISR 0x20
        SHOWB "isr"
        OUTB 0x20, 0x20
        OUTB 0x20, 0xc7
        call newline
        call uart_off

        ; ---- rotate on non-specific EOI
        call pit0_pulse
        call window             ; IRQ 0
        OUTB 0x20, 0xa0         ; EOI + rotate: IRQ 0 becomes the lowest
        call pend_both
        call window             ; IRQ 4 first now
        OUTB 0x20, 0xa0         ; EOI + rotate: IRQ 4 lowest (order 5 6 7 0 ...)
        call window             ; IRQ 0
        call print_log
        RD_ISR 0x20
        SHOWB "isr"
        OUTB 0x20, 0xe0         ; rotate on specific EOI of 0: IRQ 0 lowest
        call uart_off
        call pend_both
        call window
        call print_log
        OUTB 0x20, 0x64
        OUTB 0x20, 0x60
        OUTB 0x20, 0xc7
        call newline
        call uart_off

        ; ---- special mask mode
        call pend_both
        call window             ; IRQ 0; IRQ 4 waits behind ISR 0
        call window
        OUTB 0x20, 0x68         ; set special mask mode
        OUTB 0x21, 0xef         ; mask IRQ 0 (in service)
        call window             ; IRQ 4 now
        call print_log
        RD_ISR 0x20
        SHOWB "isr"
        OUTB 0x20, 0x48         ; reset special mask mode
        OUTB 0x20, 0x64
        OUTB 0x20, 0x60
        OUTB 0x21, 0xee
        RD_ISR 0x20
        SHOWB "after seoi: isr"
        call newline
        call uart_off

        ; ---- automatic EOI, then rotation in automatic EOI mode
        OUTB 0x20, 0x11
        OUTB 0x21, MBASE
        OUTB 0x21, 0x04
        OUTB 0x21, 0x03         ; 8086 mode, AEOI
        in al, 0x21
        SHOWB "imr after icw"
        OUTB 0x21, 0xee
        call pend_both
        call window
        call print_log
        RD_ISR 0x20
        SHOWB "isr"
        call uart_off
        OUTB 0x20, 0x80         ; rotate in AEOI mode (set)
        call pit0_pulse
        call window             ; IRQ 0 taken, becomes the lowest
        call pend_both
        call window             ; 4 before 0
        call print_log
        OUTB 0x20, 0x00         ; rotate in AEOI mode (clear)
        call uart_off
        call newline
        call pic_init
        OUTB 0x21, 0xff

        ; ---- the cascade: RTC on IRQ 8
        OUTB 0x21, 0xfb
        OUTB 0xa1, 0xfe
        call rtc_on
        RD_IRR 0xa0
        SHOWB "rtc: slave irr"
        RD_IRR 0x20
        SHOWB "master irr"
        call window
        call print_log
        RD_ISR 0x20
        SHOWB "master isr"
        RD_ISR 0xa0
        SHOWB "slave isr"
        call newline
        call rtc_off
        OUTB 0xa0, 0x20
        OUTB 0x20, 0x20
        RD_ISR 0x20
        SHOWB "after eoi: master isr"
        RD_ISR 0xa0
        SHOWB "slave isr"
        RD_IRR 0xa0
        SHOWB "slave irr"
        call newline
        call rtc_on
        OUTB 0x20, 0x0c
        in al, 0x20
        SHOWB "poll master"
        OUTB 0xa0, 0x0c
        in al, 0xa0
        SHOWB "poll slave"
        RD_ISR 0x20
        SHOWB "master isr"
        RD_ISR 0xa0
        SHOWB "slave isr"
        call rtc_off
        OUTB 0xa0, 0x20
        OUTB 0x20, 0x20
        call newline

        ; ---- 16-bit reads of the 8-bit ports (split in bytes by the bus)
        OUTB 0x21, 0xee
        OUTB 0x20, 0x0a
        in ax, 0x20
        movzx eax, ax
        SHOW "in ax 20", eax
        in ax, 0x21
        movzx eax, ax
        SHOW "in ax 21", eax
        mov dx, 0x4d0
        mov ax, 0xffff
        out dx, ax
        in ax, dx
        movzx eax, ax
        SHOW "elcr word", eax
        xor ax, ax
        out dx, ax
        call newline
        OUTB 0x21, 0xff
        OUTB 0xa1, 0xff
        SAYLN "pic: done"
        mov esi, outbuf
        call putc_flush
        ret

; ---------------------------------------------------------------- helpers
pic_init:
        OUTB 0x20, 0x11         ; ICW1: edge, cascade, ICW4
        OUTB 0xa0, 0x11
        OUTB 0x21, MBASE        ; ICW2
        OUTB 0xa1, SBASE
        OUTB 0x21, 0x04         ; ICW3: slave on IR2
        OUTB 0xa1, 0x02         ; ICW3: slave id 2
        OUTB 0x21, 0x01         ; ICW4: 8086 mode
        OUTB 0xa1, 0x01
        OUTB 0x21, 0xff
        OUTB 0xa1, 0xff
        ret

; IRQ 0: one rising edge from PIT counter 0 in mode 0 (count 20); waits
; until the master's IRR shows it.
pit0_pulse:
        push ecx
        OUTB 0x43, 0x30
        OUTB 0x40, 20
        OUTB 0x40, 0
        mov ecx, TIMEOUT
.w:     RD_IRR 0x20
        test al, 1
        jnz .ok
        loop .w
        SAYLN "timeout waiting for IRQ 0"
.ok:    pop ecx
        ret

; IRQ 4: COM1 transmitter-empty interrupt on (rising edge) / off
uart_on:
        push edx
        mov dx, COM1 + 1
        xor al, al
        out dx, al
        mov al, 0x02
        out dx, al
        pop edx
        ret
uart_off:
        push edx
        mov dx, COM1 + 1
        xor al, al
        out dx, al
        pop edx
        ret

pend_both:
        call pit0_pulse
        call uart_on
        ret

; IRQ 8: RTC periodic interrupt (1024 Hz); waits until the slave's IRR has it
rtc_on:
        push ecx
        OUTB 0x70, 0x0c
        in al, 0x71
        OUTB 0x70, 0x0a
        OUTB 0x71, 0x26
        OUTB 0x70, 0x0b
        OUTB 0x71, 0x42
        mov ecx, TIMEOUT
.w:     RD_IRR 0xa0
        test al, 1
        jnz .ok
        loop .w
        SAYLN "timeout waiting for IRQ 8"
.ok:    pop ecx
        ret
rtc_off:
        OUTB 0x70, 0x0b
        OUTB 0x71, 0x02
        OUTB 0x70, 0x0c
        in al, 0x71
        ret

; let pending interrupts in for a moment
window:
        push ecx
        mov ecx, 1000
        sti
.l:     nop
        loop .l
        cli
        pop ecx
        ret

; print "log=<vectors> " and empty the log
print_log:
        pushad
        SAY "log="
        xor ebx, ebx
.l:     cmp ebx, [log_n]
        jae .d
        movzx eax, byte [log + ebx]
        call puthex2
        SAY ","
        inc ebx
        jmp .l
.d:     SAY " "
        mov dword [log_n], 0
        popad
        ret

set_gates:
        mov ecx, 0
.l:     lea eax, [MBASE + ecx]
        mov ebx, [irq_table + ecx * 4]
        mov edx, 0x8e00
        call set_gate32
        inc ecx
        cmp ecx, 16
        jb .l
        ret

%assign i 0
%rep 16
irq %+ i:
        push dword MBASE + i
        jmp irq_common
%assign i i + 1
%endrep

irq_table:
%assign i 0
%rep 16
        dd irq %+ i
%assign i i + 1
%endrep

irq_common:
        push eax
        push ebx
        mov ebx, [log_n]
        mov eax, [esp + 8]
        cmp ebx, 32
        jae .full
        mov [log + ebx], al
        inc dword [log_n]
.full:  pop ebx
        pop eax
        add esp, 4
        iretd

        align 4
log_n:  dd 0
log:    times 32 db 0

%include "lib_end.inc"
outbuf: resb 8192
bss_end:
