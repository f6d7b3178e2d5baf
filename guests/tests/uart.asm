; SPDX-License-Identifier: MIT
; The 16550A at COM1 with interrupts, tested in loopback mode (MCR bit 4:
; transmitted bytes come back to the receiver, modem outputs drive the
; modem inputs, nothing reaches the host): IIR causes and priorities
; (line status, received data, THR empty, modem status), their clearing
; reads, the FIFO bits of IIR, overrun, the IRQ 4 line through the 8259A
; with OUT2 (MCR bit 3), and the interrupt taken by the CPU.  Lines are
; buffered and printed after loopback is left.
%include "lib.inc"
%include "pic.inc"

%macro UOUT 2
        mov dx, COM1 + %1
        mov al, %2
        out dx, al
%endmacro
%macro UIN 1
        mov dx, COM1 + %1
        in al, dx
%endmacro

main:
        SAYLN "uart: start"
        mov dword [putc_buf], outbuf
        call set_gates
        call pic_init
        OUTB 0x21, 0xef                 ; IRQ 4 only
        UOUT 4, 0x18                    ; loopback, OUT2
        UOUT 2, 0x00                    ; no FIFO
        UIN 5
        UIN 0                           ; drain
        UIN 6                           ; clear modem deltas
        UIN 2
        SHOWB "iir idle"
        ; received data: IIR 4, IRQ 4 pending at the PIC, cleared by reading RBR
        UOUT 1, 0x01
        UOUT 0, 0x41
        UIN 5
        SHOWB "lsr"
        UIN 2
        SHOWB "iir rda"
        RD_IRR 0x20
        and al, 0x10
        SHOWB "irr4"
        UIN 0
        SHOWB "rbr"
        UIN 2
        SHOWB "iir"
        RD_IRR 0x20
        and al, 0x10
        SHOWB "irr4"
        call newline
        ; THR empty: raised when enabled, cleared by reading IIR
        UOUT 1, 0x02
        UIN 2
        SHOWB "iir thre"
        UIN 2
        SHOWB "iir again"
        UOUT 0, 0x42                    ; a transmitted byte sets it again (and arrives)
        UIN 2
        SHOWB "iir after tx"
        UOUT 1, 0x03
        UIN 2
        SHOWB "iir rda+thre"
        UIN 0
        SHOWB "rbr"
        UIN 2
        SHOWB "iir"
        call newline
        ; OUT2 gates the line; the interrupt reaches the CPU when it is on
        UOUT 1, 0x01
        UOUT 4, 0x10                    ; OUT2 off
        UOUT 0, 0x43
        RD_IRR 0x20
        and al, 0x10
        SHOWB "out2 off irr4"
        UOUT 4, 0x18
        RD_IRR 0x20
        and al, 0x10
        SHOWB "out2 on irr4"
        call window
        call print_log
        UIN 0
        SHOWB "rbr"
        OUTB 0x20, 0x20
        call newline
        ; modem status: loopback outputs drive the inputs, deltas in MSR
        UOUT 1, 0x08
        UOUT 4, 0x1b                    ; DTR, RTS, OUT2
        UIN 2
        SHOWB "iir msr"
        UIN 6
        SHOWB "msr"
        UIN 2
        SHOWB "iir"
        call newline
        ; FIFO mode: IIR bits 7:6; overrun past 16 bytes with the line-status cause first
        UOUT 1, 0x05
        UOUT 2, 0x07
        UIN 2
        SHOWB "iir fifo"
        mov ecx, 17
.fill:  UOUT 0, 0x30
        loop .fill
        UIN 2
        SHOWB "iir overrun"
        UIN 5
        and al, 0x03
        SHOWB "lsr"
        UIN 2
        and al, 0x07                    ; without bit 3: a character timeout depends on time
        SHOWB "iir then"
        UOUT 2, 0x07                    ; clear the FIFO
        UIN 5
        and al, 0x01
        SHOWB "lsr dr"
        call newline
        ; back to normal: no loopback, no interrupts
        UOUT 1, 0x00
        UOUT 2, 0x00
        UOUT 4, 0x03
        SAYLN "uart: done"
        mov esi, outbuf
        call putc_flush
        ret

%include "lib_end.inc"
outbuf: resb 8192
bss_end:
