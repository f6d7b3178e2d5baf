; SPDX-License-Identifier: MIT
; Hardware task switching in 32-bit protected mode: CALL to a TSS (back
; link, NT, busy bits, CR0.TS, state saved in the outgoing TSS) and IRET
; back through the back link; a double fault delivered through a task gate
; with its error code on the new task's stack.
%include "lib.inc"

SEL_TSS_A equ SEL_TSS
SEL_TSS_B equ SEL_SPARE0
SEL_TSS_C equ SEL_SPARE1
SEL_TASKGATE equ SEL_SPARE2

main:
        SAYLN "tasks: start"
        ; TSS A: the current task
        mov eax, tss_a
        mov ebx, 0x67
        mov ecx, 0x089
        call build_desc
        mov edi, SEL_TSS_A
        call set_desc
        mov ax, SEL_TSS_A
        ltr ax
        ; TSS C: a task entered by CALL
        mov eax, tss_c
        mov ebx, 0x67
        mov ecx, 0x089
        call build_desc
        mov edi, SEL_TSS_C
        call set_desc
        mov edi, tss_c
        call init_tss
        mov dword [tss_c + 0x20], task_c
        mov dword [tss_c + 0x38], 0x7c000
        mov dword [tss_c + 0x2c], 0x1111                ; ECX
        ; TSS B: the double-fault task
        mov eax, tss_b
        mov ebx, 0x67
        mov ecx, 0x089
        call build_desc
        mov edi, SEL_TSS_B
        call set_desc
        mov edi, tss_b
        call init_tss
        mov dword [tss_b + 0x20], task_b
        mov dword [tss_b + 0x38], 0x7b000

        mov ecx, 0x2222
        mov esi, 0x3333
        call SEL_TSS_C:0
.after_call_label:
        SAYLN "back in task a"
        SHOW "ecx", ecx
        SHOW "esi", esi
        mov eax, [c_ecx]
        SHOW "task c saw ecx", eax
        SHOW "c eflags nt", [c_nt]
        SHOW "c tr", [c_tr]
        SHOW "c backlink", [c_link]
        call newline
        SHOW "a saved esi", [a_saved_esi]
        mov eax, [tss_a + 0x20]
        sub eax, after_call
        SHOW "a saved eip-ret", eax
        mov eax, [c_cr0_ts]
        SHOW "cr0.ts in c", eax
        call newline
        mov eax, [gdt + SEL_TSS_A + 4]
        shr eax, 8
        and eax, 0xf
        SHOW "tss a type", eax
        mov eax, [gdt + SEL_TSS_C + 4]
        shr eax, 8
        and eax, 0xf
        SHOW "tss c type", eax
        pushfd
        pop eax
        and eax, 0x4000
        SHOW "a nt", eax
        xor eax, eax
        str ax
        SHOW "tr", eax
        call newline
        clts
        ; calling a busy TSS (our own) is #GP(sel)
        TRY "call busy tss", call SEL_TSS_A:0

        ; #DF through a task gate: #GP beyond the IDT limit while delivering #GP
        mov dword [gdt + SEL_TASKGATE], SEL_TSS_B << 16
        mov dword [gdt + SEL_TASKGATE + 4], 0x8500
        mov word [idt32 + 8 * 8], 0
        mov word [idt32 + 8 * 8 + 2], SEL_TSS_B
        mov word [idt32 + 8 * 8 + 4], 0x8500
        mov word [idt32 + 8 * 8 + 6], 0
        mov word [small_idt], 13 * 8 - 1
        mov dword [small_idt + 2], idt32
        lidt [small_idt]
        xor eax, eax
df_here:
        mov ss, ax
        SAYLN "no double fault"
        ret

after_call equ main.after_call_label

task_c:
        mov [c_ecx], ecx
        pushfd
        pop eax
        and eax, 0x4000
        mov [c_nt], eax
        xor eax, eax
        str ax
        mov [c_tr], eax
        movzx eax, word [tss_c]
        mov [c_link], eax
        mov eax, [tss_a + 0x40]
        mov [a_saved_esi], eax
        mov eax, cr0
        and eax, 8
        mov [c_cr0_ts], eax
        mov ecx, 0x4444
        iretd

task_b:
        mov ax, SEL_DATA32
        mov ds, ax
        SAYLN "double fault task"
        pop eax
        SHOW "error code", eax
        xor eax, eax
        str ax
        SHOW "tr", eax
        movzx eax, word [tss_b]
        SHOW "backlink", eax
        pushfd
        pop eax
        and eax, 0x4000
        SHOW "nt", eax
        call newline
        mov eax, [tss_a + 0x20]
        sub eax, df_here
        SHOW "a saved eip-fault", eax
        mov eax, [gdt + SEL_TSS_B + 4]
        shr eax, 8
        and eax, 0xf
        SHOW "tss b type", eax
        call newline
        SAYLN "tasks: done"
        jmp exit

; init_tss: edi = TSS; flat selectors, CR3 0, EFLAGS 2
init_tss:
        mov dword [edi + 0x24], 2
        mov dword [edi + 0x4c], SEL_CODE32
        mov dword [edi + 0x48], SEL_DATA32
        mov dword [edi + 0x50], SEL_DATA32
        mov dword [edi + 0x54], SEL_DATA32
        mov dword [edi + 0x58], SEL_DATA32
        mov dword [edi + 0x5c], SEL_DATA32
        ret

        align 4
c_ecx:       dd 0
c_nt:        dd 0
c_tr:        dd 0
c_link:      dd 0
c_cr0_ts:    dd 0
a_saved_esi: dd 0
small_idt:   dw 0
             dd 0

%include "lib_end.inc"
        alignb 16
tss_a:  resb 0x68
tss_b:  resb 0x68
tss_c:  resb 0x68
bss_end:
