; SPDX-License-Identifier: MIT
; The MC146818 RTC at 0x70/0x71 on the PC: register D, the power-on rate in
; A, setting the time with SET and reading it back in BCD, binary and
; 12-hour formats, the periodic (PF), update-ended (UF) and alarm (AF)
; flags in C with IRQ 8 through the cascaded 8259A, UIP before an update,
; NVRAM, and the NMI-mask bit of the index port.  Output does not depend on
; the date or the host's speed.
%include "lib.inc"
%include "pic.inc"

%macro RTC_RD 1
        mov al, %1
        out 0x70, al
        in al, 0x71
%endmacro
%macro RTC_WR 2
        mov al, %1
        out 0x70, al
        mov al, %2
        out 0x71, al
%endmacro

SPINS equ 40000000

main:
        SAYLN "rtc: start"
        mov dword [putc_buf], outbuf
        call set_gates
        call pic_init
        RTC_RD 0x0d
        SHOWB "d"
        RTC_RD 0x0a
        and al, 0x7f
        SHOWB "a"
        call newline

        ; set 2030-06-15 10:20:30 in BCD, 24-hour
        RTC_WR 0x0b, 0x82
        RTC_WR 0x00, 0x30
        RTC_WR 0x02, 0x20
        RTC_WR 0x04, 0x10
        RTC_WR 0x07, 0x15
        RTC_WR 0x08, 0x06
        RTC_WR 0x09, 0x30
        RTC_WR 0x32, 0x20
        RTC_RD 0x00                     ; frozen while SET is on
        SHOWB "set sec"
        RTC_WR 0x0b, 0x02
        RTC_RD 0x02
        SHOWB "min"
        RTC_RD 0x04
        SHOWB "hour"
        RTC_RD 0x07
        SHOWB "day"
        RTC_RD 0x08
        SHOWB "mon"
        RTC_RD 0x09
        SHOWB "year"
        call newline
        ; the same time in binary, then 10 PM in 12-hour BCD
        RTC_WR 0x0b, 0x06
        RTC_RD 0x04
        SHOWB "binary hour"
        RTC_RD 0x09
        SHOWB "binary year"
        RTC_WR 0x0b, 0x02               ; back to BCD before SET (the data mode changes only outside SET)
        RTC_WR 0x0b, 0x82
        RTC_WR 0x04, 0x22
        RTC_WR 0x0b, 0x02               ; leave SET in the format the time was written in
        RTC_WR 0x0b, 0x00
        RTC_RD 0x04
        SHOWB "12h hour"
        RTC_WR 0x0b, 0x02
        RTC_RD 0x04
        SHOWB "24h hour"
        call newline

        ; periodic flag with IRQ 8 on the slave (rtc_on: 1024 Hz, PIE), then into the CPU
        OUTB 0x21, 0xfb
        OUTB 0xa1, 0xfe
        call rtc_on
        RTC_RD 0x0c
        and al, 0xc0
        SHOWB "c after irq"
        call rtc_on
        call window
        call print_log
        OUTB 0xa0, 0x20
        OUTB 0x20, 0x20
        call rtc_off
        call newline

        ; update-ended flag once a second, polled (no interrupt enabled: IRQF stays clear)
        RTC_WR 0x0b, 0x02
        RTC_RD 0x0c
        mov ecx, SPINS
.uf:    RTC_RD 0x0c
        test al, 0x10
        jnz .ufok
        dec ecx
        jnz .uf
        SAYLN "timeout waiting for UF"
.ufok:  and al, 0x90
        SHOWB "uf"
        ; UIP shows before an update
        mov ecx, SPINS
.uip:   RTC_RD 0x0a
        test al, 0x80
        jnz .uipok
        dec ecx
        jnz .uip
        SAYLN "timeout waiting for UIP"
.uipok: SAY "uip seen "
        ; alarm with don't-care bytes fires at the next update, with IRQF when AIE is on
        RTC_WR 0x01, 0xc0
        RTC_WR 0x03, 0xc0
        RTC_WR 0x05, 0xc0
        RTC_RD 0x0c
        RTC_WR 0x0b, 0x22
        mov ecx, SPINS
.af:    RTC_RD 0x0c
        test al, 0x20
        jnz .afok
        dec ecx
        jnz .af
        SAYLN "timeout waiting for AF"
.afok:  and al, 0xa0
        SHOWB "af"
        RTC_WR 0x0b, 0x02
        RTC_RD 0x0c
        call newline

        ; NVRAM, and the NMI-mask bit of the index
        RTC_WR 0x50, 0xa5
        RTC_WR 0xd1, 0x5a               ; index 0x51 with NMI masked
        RTC_RD 0xd0
        SHOWB "nvram 50"
        RTC_RD 0x51
        SHOWB "nvram 51"
        call newline

        SAYLN "rtc: done"
        mov esi, outbuf
        call putc_flush
        ret

%include "lib_end.inc"
outbuf: resb 8192
bss_end:
