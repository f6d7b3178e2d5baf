; SPDX-License-Identifier: MIT
; The A20 gate through port 0x92 (bit 1): with A20 disabled, physical
; address bit 20 is forced to 0, so 0x10F000 aliases 0x00F000.  The code
; that runs while A20 is off is copied below 1 MiB (the image itself sits
; in the odd megabyte and would alias too).
%include "lib.inc"

LOW equ 0x7000
%define L(x) ((x) - low_start + LOW)

main:
        SAYLN "a20: start"
        mov esi, low_start
        mov edi, LOW
        mov ecx, low_end - low_start
        rep movsb
        mov byte [0x00f000], 0x55
        mov byte [0x10f000], 0xaa
        mov byte [0x00f001], 0x11
        mov byte [0x10f001], 0x22
        call L(a20_low)
        movzx eax, byte [L(r_port92)]
        SHOW "port92", eax
        movzx eax, byte [L(r_on)]
        SHOW "a20 on", eax
        movzx eax, byte [L(r_off)]
        SHOW "a20 off", eax
        call newline
        movzx eax, byte [0x00f001]
        SHOW "00f001", eax
        movzx eax, byte [0x10f001]
        SHOW "10f001", eax
        in al, 0x92
        and eax, 0xff
        SHOW "port92 after", eax
        call newline
        SAYLN "a20: done"
        ret

low_start:
a20_low:
        in al, 0x92
        mov [L(r_port92)], al
        mov al, [0x10f000]
        mov [L(r_on)], al
        in al, 0x92
        and al, ~2
        out 0x92, al
        mov al, [0x10f000]
        mov [L(r_off)], al
        mov byte [0x10f001], 0x77               ; lands at 0x00f001
        in al, 0x92
        or al, 2
        out 0x92, al
        ret
r_port92:   db 0
r_on:       db 0
r_off:      db 0
low_end:

%include "lib_end.inc"
bss_end:
