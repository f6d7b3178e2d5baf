; SPDX-License-Identifier: MIT
; Mode transitions: 32-bit protected -> 16-bit protected -> real mode
; (segment arithmetic, IVT interrupts and exceptions, the 64 KiB limit) -> 32-bit protected -> long mode (compatibility and
; 64-bit, far transfers between them) -> back to 32-bit protected mode;
; control-register consistency checks.
%include "lib.inc"

LOW equ 0x7000
%define L(x) ((x) - low_start + LOW)

main:
        SAYLN "modes: start"
        ; copy the 16-bit code below 64 KiB
        mov esi, low_start
        mov edi, LOW
        mov ecx, low_end - low_start
        rep movsb
        mov [saved_esp], esp
        jmp SEL_CODE16:L(pm16_entry)
back_in_pm32:
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov esp, [saved_esp]
        call idt32_init
        SAYLN "back in pm32"
        ; results recorded in 16-bit code
        mov eax, [L(r_pm16_push)]
        SHOW "pm16 push size", eax
        mov eax, [L(r_pm16_cs)]
        SHOW "cs", eax
        call newline
        movzx eax, word [L(r_rm_cs)]
        SHOW "rm cs", eax
        mov eax, [L(r_rm_cr0)]
        and eax, 0x8000001f
        SHOW "cr0", eax
        call newline
        movzx eax, word [L(r_seg_read)]
        SHOW "rm seg arith", eax
        mov eax, [0x12350]
        and eax, 0xffff
        SHOW "phys 12350", eax
        call newline
        movzx eax, word [L(r_int_sp)]
        SHOW "int60 sp", eax
        movzx eax, word [L(r_int_flags)]
        and eax, 0x300
        SHOW "int60 if/tf", eax
        movzx eax, word [L(r_int_ret)]
        SHOW "int60 ret ip", eax
        call newline
        movzx eax, word [L(r_de_ip)]
        SHOW "rm #DE ip", eax
        movzx eax, word [L(r_de_count)]
        SHOW "count", eax
        call newline
        movzx eax, word [L(r_gp_count)]
        SHOW "rm limit #GP count", eax
        call newline

        call cr_checks
        call long_mode
        SAYLN "modes: done"
        ret

; ---------------------------------------------------------------- CR checks (PM32)
cr_checks:
        ; (CR0.PG without PE and NW without CD are checked by the unit tests:
        ; QEMU TCG accepts both, and the first one ends the guest)
        ; (a reserved CR4 bit is checked by the unit tests too: QEMU 7.2 TCG
        ; loops forever on the #GP of MOV to CR4)
        TRY "mov cr1", db 0x0f, 0x22, 0xc8
        mov ecx, 0xc0000080
        rdmsr
        SHOW "efer", eax
        call newline
        mov ecx, 0xc0000080
        xor edx, edx
        mov eax, 1 << 1
        TRY "efer reserved bit", wrmsr
        mov ecx, 0x12345678
        TRY "rdmsr unknown", rdmsr
        ret

; ---------------------------------------------------------------- long mode
long_mode:
        ; identity map the first GiB with 2 MiB pages
        mov dword [pml4], pdpt + 3
        mov dword [pdpt], pd + 3
        mov edi, pd
        mov eax, 0x83
        mov ecx, 512
.l:     mov [edi], eax
        mov dword [edi + 4], 0
        add eax, 0x200000
        add edi, 8
        loop .l
        mov eax, pml4
        mov cr3, eax
        ; (PG with LME but without PAE, clearing PAE or LME in long mode:
        ; #GP(0) architecturally, accepted by QEMU TCG: in the unit tests)
        mov ecx, 0xc0000080
        rdmsr
        or eax, 1 << 8
        wrmsr
        mov eax, cr4
        or eax, 1 << 5
        mov cr4, eax
        mov eax, cr0
        or eax, 0x80000000
        TRY "pg with lme and pae", mov cr0, eax
        mov ecx, 0xc0000080
        rdmsr
        SHOW "efer in compat", eax
        call newline
        ; 64-bit mode
        jmp SEL_CODE64:entry64
        bits 64
entry64:
        mov rax, rsp
        push rax
        sub rax, rsp
        mov [r64_push], rax
        pop rax
        mov rax, 0x123456789abcdef0
        mov [r64_val], rax
        lea rax, [rel entry64]
        mov [r64_rip], rax
        mov ax, cs
        mov [r64_cs], ax
        ; to compatibility mode through an m16:32 far jump
        jmp far dword [rel compat_ptr]
        bits 32
compat_entry:
        mov eax, esp
        push eax
        sub eax, esp
        mov [r_compat_push], eax
        pop eax
        mov ax, cs
        mov [r_compat_cs], ax
        ; back to 64-bit through RETF
        push dword SEL_CODE64
        push dword entry64_again
        retf
        bits 64
entry64_again:
        mov qword [r64_again], 1
        ; far call into compat and far return
        call far dword [rel compat_call_ptr]
        mov [r64_after_call], eax
        ; leave long mode: to compat, paging off, LME off
        jmp far dword [rel leave_ptr]
        bits 32
compat_func:
        mov eax, 0x5a5a
        retf
leave_long:
        mov eax, cr0
        and eax, 0x7fffffff
        mov cr0, eax
        mov ecx, 0xc0000080
        rdmsr
        mov [r_efer_pg_off], eax
        and eax, ~(1 << 8)
        wrmsr
        mov eax, cr4
        and eax, ~(1 << 5)
        mov cr4, eax
        SAYLN "back from long mode"
        SHOW "efer pg off", [r_efer_pg_off]
        call newline
        SHOW "64 push size", [r64_push]
        mov eax, [r64_val + 4]
        SHOW "64 val hi", eax
        mov eax, [r64_rip]
        sub eax, entry64
        SHOW "rip-rel ok", eax
        movzx eax, word [r64_cs]
        SHOW "cs", eax
        call newline
        SHOW "compat push size", [r_compat_push]
        movzx eax, word [r_compat_cs]
        SHOW "cs", eax
        SHOW "again", [r64_again]
        SHOW "far call", [r64_after_call]
        call newline
        ret

        align 8
compat_ptr:      dd compat_entry
                 dw SEL_CODE32
compat_call_ptr: dd compat_func
                 dw SEL_CODE32
leave_ptr:       dd leave_long
                 dw SEL_CODE32
        align 8
r64_push:       dq 0
r64_val:        dq 0
r64_rip:        dq 0
r64_again:      dq 0
r64_after_call: dq 0
r64_cs:         dw 0
r_compat_cs:    dw 0
r_compat_push:  dd 0
r_efer_pg_off:  dd 0
saved_esp:      dd 0

; ---------------------------------------------------------------- 16-bit code, run at LOW
        bits 16
low_start:
pm16_entry:
        mov ax, SEL_DATA16
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x6000
        mov ax, sp
        push ax
        sub ax, sp
        pop bx
        movzx eax, ax
        mov [L(r_pm16_push)], eax
        mov ax, cs
        movzx eax, ax
        mov [L(r_pm16_cs)], eax
        ; to real mode
        mov eax, cr0
        and eax, ~1
        mov cr0, eax
        jmp 0:L(rm_entry)
rm_entry:
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x6000
        mov ax, cs
        mov [L(r_rm_cs)], ax
        mov eax, cr0
        mov [L(r_rm_cr0)], eax
        lidt [L(rm_idt)]
        ; segment arithmetic: 1234:0010 is 0x12350
        mov ax, 0x1234
        mov ds, ax
        mov word [0x0010], 0xbeef
        mov ax, 0x1235
        mov es, ax
        mov ax, [es:0]
        xor bx, bx
        mov ds, bx
        mov [L(r_seg_read)], ax
        ; INT through the IVT
        mov word [0x60 * 4], L(rm_int60)
        mov word [0x60 * 4 + 2], 0
        sti
        int 0x60
rm_after_int:
        cli
        ; #DE through the IVT: the saved IP is the faulting DIV
        mov word [0], L(rm_de)
        mov word [2], 0
        xor cx, cx
rm_div: div cl
        ; a word access at offset 0xffff crosses the 64 KiB limit: #GP (vector 13)
        mov word [13 * 4], L(rm_gp)
        mov word [13 * 4 + 2], 0
        mov bx, 0xffff
        mov ax, [bx]
rm_after_gp:
        ; back to protected mode
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp far dword [L(pm32_ptr)]

rm_int60:
        mov [L(r_int_sp)], sp
        pushf
        pop ax
        mov [L(r_int_flags)], ax
        mov bp, sp
        mov ax, [bp]
        sub ax, L(rm_after_int)
        mov [L(r_int_ret)], ax
        iret
rm_de:
        mov bp, sp
        mov ax, [bp]
        sub ax, L(rm_div)
        mov [L(r_de_ip)], ax
        inc word [L(r_de_count)]
        add word [bp], 2
        iret
rm_gp:
        inc word [L(r_gp_count)]
        mov bp, sp
        mov word [bp], L(rm_after_gp)
        iret

pm32_ptr:   dd back_in_pm32
            dw SEL_CODE32
rm_idt:     dw 0x3ff
            dd 0
r_pm16_push: dd 0
r_pm16_cs:   dd 0
r_rm_cr0:    dd 0
r_rm_cs:     dw 0
r_seg_read:  dw 0
r_a20_on:    db 0
r_a20_off:   db 0
r_port92:    db 0
            db 0
r_int_sp:    dw 0
r_int_flags: dw 0
r_int_ret:   dw 0
r_de_ip:     dw 0
r_de_count:  dw 0
r_gp_count:  dw 0
low_end:
        bits 32

%include "lib_end.inc"
        alignb 4096
pml4:   resb 4096
pdpt:   resb 4096
pd:     resb 4096
bss_end:
