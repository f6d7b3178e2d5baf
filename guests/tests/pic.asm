; SPDX-License-Identifier: MIT
; The 8259A PIC pair: IMR, ELCR (read-only bits of IRQ 0/1/2/8/13), IRR and
; ISR reads, edge latching and level following, poll mode, fixed priority,
; non-specific and specific EOI, set priority, rotation on EOI, special
; mask mode, automatic EOI with rotation, and 16-bit accesses to the 8-bit
; ports (the cascade is in piccascade.asm).
;
; Requests come from two sources a PC has: the PIT's counter 0 in mode 0
; (one rising edge on IRQ 0) and COM1's transmitter-empty interrupt (IRQ 4,
; high while IER.ETBEI is set, as the THR is always empty here).
; Interrupt handlers only record their vector: the program sends every EOI.
%include "lib.inc"
%include "pic.inc"

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

%include "lib_end.inc"
outbuf: resb 8192
bss_end:
