; SPDX-License-Identifier: MIT
; The 8259A cascade: a request on the slave (the RTC's periodic interrupt,
; IRQ 8, high until register C is read) reaches the master through IR2;
; INTA sets ISR bits in both chips and the slave answers the vector;
; EOIs to both; poll mode through the cascade (master answers 0x82, the
; slave its own level).
%include "lib.inc"
%include "pic.inc"

main:
        SAYLN "piccascade: start"
        mov dword [putc_buf], outbuf
        call set_gates
        call pic_init
        ; ---- the cascade: RTC on IRQ 8
        OUTB 0x21, 0xfb
        OUTB 0xa1, 0xfe
        call rtc_on
        RD_IRR 0xa0
        SHOWB "rtc: slave irr"
        RD_IRR 0x20
        and al, 0x04                    ; IRQ 0 of the PIT may be latched too
        SHOWB "master irr bit 2"
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

        SAYLN "piccascade: done"
        mov esi, outbuf
        call putc_flush
        ret

%include "lib_end.inc"
outbuf: resb 8192
bss_end:
