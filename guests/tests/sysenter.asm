; SPDX-License-Identifier: MIT
; SYSENTER/SYSEXIT in 32-bit protected mode: selectors derived from
; IA32_SYSENTER_CS, EIP/ESP from the MSRs, IF cleared on entry, EDX/ECX as
; the return EIP/ESP; #GP(0) for SYSENTER with SYSENTER_CS = 0 and for
; SYSEXIT outside ring 0.
%include "lib.inc"

main:
        SAYLN "sysenter: start"
        mov dword [tss + 4], 0x7f000            ; ESP0 for faults in ring 3
        mov dword [tss + 8], SEL_DATA32
        mov word [tss + 0x66], 0x68
        mov eax, tss
        mov ebx, 0x67
        mov ecx, 0x089
        call build_desc
        mov edi, SEL_TSS
        call set_desc
        mov ax, SEL_TSS
        ltr ax
        ; GDT layout SYSENTER_CS = 08: CS 08, SS 10, user CS 18|3, user SS 20|3
        ; (our 18/20 are 16-bit ring-0 descriptors: make them ring-3 flat 32-bit)
        mov edi, SEL_CODE16
        mov eax, 0x0000ffff
        mov edx, 0x00cffa00
        call set_desc
        mov edi, SEL_DATA16
        mov eax, 0x0000ffff
        mov edx, 0x00cff200
        call set_desc
        mov ecx, 0x174
        xor eax, eax
        xor edx, edx
        wrmsr
        TRY "sysenter cs=0", sysenter
        mov ecx, 0x174
        mov eax, SEL_CODE32
        xor edx, edx
        wrmsr
        mov ecx, 0x175
        mov eax, 0x7e000
        wrmsr
        mov ecx, 0x176
        mov eax, kernel_entry
        wrmsr
        ; to ring 3 with SYSEXIT (IOPL 3 so that ring 3 can print)
        pushfd
        or dword [esp], 0x3000
        popfd
        mov [kesp], esp
        mov edx, user_code
        mov ecx, 0x7d000
        sysexit
after:
        mov esp, [kesp]
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        SHOW "user cs", [u_cs]
        SHOW "ss", [u_ss]
        SHOW "esp", [u_esp]
        call newline
        SHOW "kernel cs", [k_cs]
        SHOW "ss", [k_ss]
        SHOW "esp", [k_esp]
        SHOW "if", [k_if]
        SHOW "edx", [k_edx]
        call newline
        SAYLN "sysenter: done"
        ret

user_code:
        mov ax, SEL_DATA16 | 3          ; a ring-3 data segment: IRET back to ring 3
        mov ds, ax                      ; would null a DPL-0 DS
        mov es, ax
        mov eax, cs
        mov [u_cs], eax
        mov eax, ss
        mov [u_ss], eax
        mov [u_esp], esp
        TRY "sysexit in ring 3", sysexit
        pushfd
        or dword [esp], 0x200
        popfd
        mov edx, 0x12345678
        sysenter

kernel_entry:
        mov eax, cs
        mov [k_cs], eax
        mov eax, ss
        mov [k_ss], eax
        mov [k_esp], esp
        pushfd
        pop eax
        and eax, 0x200
        mov [k_if], eax
        mov [k_edx], edx
        jmp after

        align 4
kesp:   dd 0
u_cs:   dd 0
u_ss:   dd 0
u_esp:  dd 0
k_cs:   dd 0
k_ss:   dd 0
k_esp:  dd 0
k_if:   dd 0
k_edx:  dd 0

%include "lib_end.inc"
        alignb 16
tss:    resb 0x68
bss_end:
