; SPDX-License-Identifier: MIT
; 16-bit protected mode: INT through a 16-bit interrupt gate (6-byte frame,
; 16-bit IRET), through a 32-bit gate from 16-bit code (12-byte frame on the
; 16-bit stack, IRETD back), and #GP with a 16-bit error code through a
; 16-bit gate; PUSH/POP widths with and without the operand-size prefix.
%include "lib.inc"

LOW equ 0x7000
%define L(x) ((x) - low_start + LOW)

main:
        SAYLN "pm16: start"
        mov esi, low_start
        mov edi, LOW
        mov ecx, low_end - low_start
        rep movsb
        ; 0x50: 16-bit interrupt gate to h16; 0x51: 32-bit gate to h32; 13: 16-bit gate
        mov eax, 0x50
        mov ebx, L(h16)
        mov edx, 0x8600
        call set_gate16
        mov eax, 0x51
        mov ebx, h32
        mov edx, 0x8e00
        call set_gate32
        mov eax, 13
        mov ebx, L(gp16)
        mov edx, 0x8600
        call set_gate16
        mov [saved_esp], esp
        jmp SEL_CODE16:L(entry16)
back32:
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, [saved_esp]
        call idt32_init
        movzx eax, word [L(r_sp16)]
        SHOW "int16 sp", eax
        movzx eax, word [L(r_ip16)]
        SHOW "ip-ret", eax
        movzx eax, word [L(r_cs16)]
        SHOW "cs", eax
        movzx eax, word [L(r_fl16)]
        and eax, 0x200
        SHOW "if", eax
        call newline
        SHOW "int32 from 16 sp", [r_sp32]
        SHOW "eip-ret", [r_eip32]
        SHOW "cs", [r_cs32]
        call newline
        movzx eax, word [L(r_gp_ec)]
        SHOW "gp16 ec", eax
        movzx eax, word [L(r_gp_ip)]
        SHOW "ip-fault", eax
        movzx eax, word [L(r_gp_sp)]
        SHOW "sp", eax
        call newline
        movzx eax, word [L(r_push16)]
        SHOW "push sizes", eax
        movzx eax, word [L(r_push32)]
        SHOW "", eax
        call newline
        SAYLN "pm16: done"
        ret

; set_gate16: eax = vector, ebx = 16-bit offset, edx = attributes; selector SEL_CODE16
set_gate16:
        push edi
        lea edi, [idt32 + eax * 8]
        mov [edi], bx
        mov word [edi + 2], SEL_CODE16
        mov [edi + 4], dx
        mov word [edi + 6], 0
        pop edi
        ret

h32:
        push ds                         ; DS is the 16-bit data segment (limit ffff)
        push eax
        mov ax, SEL_DATA32
        mov ds, ax
        lea eax, [esp + 8]
        mov [r_sp32], eax
        mov eax, [esp + 8]
        sub eax, L(after51)
        mov [r_eip32], eax
        mov eax, [esp + 12]
        mov [r_cs32], eax
        pop eax
        pop ds
        iretd

        align 4
saved_esp: dd 0
r_sp32:    dd 0
r_eip32:   dd 0
r_cs32:    dd 0
back_ptr:  dd back32
           dw SEL_CODE32

        bits 16
low_start:
entry16:
        mov ax, SEL_DATA16
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x6000                 ; upper half 0: the 32-bit handler uses ESP
        sti
        int 0x50
after50:
        cli
        int 0x51
after51:
        mov bx, SEL_TSS                 ; not a data segment: #GP(0x48)
gp_here:
        mov ds, bx
gp_resume:
        mov ax, sp
        push ax
        sub ax, sp
        pop bx
        mov [L(r_push16)], ax
        mov ax, sp
        push eax
        sub ax, sp
        pop ebx
        mov [L(r_push32)], ax
        jmp far dword [L(back_ptr16)]

h16:
        mov [L(r_sp16)], sp
        mov bp, sp
        mov ax, [bp]
        sub ax, L(after50)
        mov [L(r_ip16)], ax
        mov ax, [bp + 2]
        mov [L(r_cs16)], ax
        mov ax, [bp + 4]
        mov [L(r_fl16)], ax
        iret

gp16:
        mov bp, sp
        mov ax, [bp]
        mov [L(r_gp_ec)], ax
        mov ax, [bp + 2]
        sub ax, L(gp_here)
        mov [L(r_gp_ip)], ax
        mov [L(r_gp_sp)], sp
        add sp, 2
        mov bp, sp
        mov word [bp], L(gp_resume)
        iret

back_ptr16: dd back32
            dw SEL_CODE32
r_sp16:   dw 0
r_ip16:   dw 0
r_cs16:   dw 0
r_fl16:   dw 0
r_gp_ec:  dw 0
r_gp_ip:  dw 0
r_gp_sp:  dw 0
r_push16: dw 0
r_push32: dw 0
low_end:
        bits 32

%include "lib_end.inc"
bss_end:
