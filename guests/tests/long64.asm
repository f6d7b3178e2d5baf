; SPDX-License-Identifier: MIT
; Long mode: exception frames through the 64-bit IDT (error codes, saved
; RIP, SS:RSP always pushed, 16-byte stack alignment, IST stacks), canonical
; #GP/#SS, #PF error codes with CR2 (including NX), ring 3 through SYSRET,
; SYSCALL with RFLAGS masking, SWAPGS, FS/GS bases through MSRs, RDTSCP.
%include "lib.inc"

%macro TRY64 2+
        lea r15, [rel %%r]
        mov [resume64], r15
        mov qword [e_vec], -1
        lea r15, [rel %%f]
        mov [e_at], r15
%%f:    %2
%%r:    mov qword [resume64], 0
        lea rsi, [rel %%s]
        call puts64
        call report64
        jmp %%o
%%s:    db %1, 0
%%o:
%endmacro

IST1_TOP  equ 0x60000
RSP0_TOP  equ 0x68000
USTACK    equ 0x50000

main:
        mov [saved_esp32], esp
        SAYLN "long64: start"
        ; identity map the first GiB (2 MiB pages), 4 KiB pages for 2-4 MiB
        mov dword [pml4], pdpt + 7
        mov dword [pdpt], pd + 7
        mov edi, pd
        mov eax, 0x87
        mov ecx, 512
.l:     mov [edi], eax
        add eax, 0x200000
        add edi, 8
        loop .l
        mov dword [pd + 8], pt + 7
        mov edi, pt
        mov eax, 0x200007
        mov ecx, 512
.l2:    mov [edi], eax
        add eax, 0x1000
        add edi, 8
        loop .l2
        mov dword [pt + 0x100 * 8], 0                  ; 0x300000 not present
        mov dword [pt + 0x101 * 8], 0x301000 | 0x005   ; read-only
        mov dword [pt + 0x102 * 8], 0x302000 | 0x003   ; supervisor only
        mov dword [pt + 0x103 * 8 + 4], 0x80000000     ; 0x303000 no-execute
        ; 64-bit TSS: RSP0 and IST1
        mov dword [tss64 + 4], RSP0_TOP
        mov dword [tss64 + 0x24], IST1_TOP
        mov word [tss64 + 0x66], 0x68
        mov edi, tss64 + 0x68
        mov ecx, 8192 / 4 + 1
        mov eax, -1
        rep stosd
        mov byte [tss64 + 0x68 + 0x3f8 / 8], 0          ; COM1 for ring 3
        mov eax, tss64
        mov ebx, 0x68 + 8192
        mov ecx, 0x089
        call build_desc
        mov edi, SEL_TSS
        call set_desc
        mov dword [gdt + SEL_TSS + 8], 0
        mov dword [gdt + SEL_TSS + 12], 0
        ; 64-bit IDT
        xor ecx, ecx
.g:     mov eax, [isr64_table + ecx * 4]
        mov edi, ecx
        shl edi, 4
        add edi, idt64
        mov [edi], ax
        mov word [edi + 2], SEL_CODE64
        mov word [edi + 4], 0x8e00
        shr eax, 16
        mov [edi + 6], ax
        mov dword [edi + 8], 0
        inc ecx
        cmp ecx, 32
        jb .g
        mov byte [idt64 + 3 * 16 + 4], 1                ; #BP on IST1
        mov byte [idt64 + 3 * 16 + 5], 0xee              ; and DPL 3
        ; long mode
        mov eax, pml4
        mov cr3, eax
        mov eax, cr4
        or eax, 1 << 5
        mov cr4, eax
        mov ecx, 0xc0000080
        rdmsr
        or eax, (1 << 8) | (1 << 11) | 1                 ; LME, NXE, SCE
        wrmsr
        mov eax, cr0
        or eax, 0x80010000                               ; PG, WP
        mov cr0, eax
        jmp SEL_CODE64:start64

        bits 64
start64:
        mov ax, SEL_DATA32
        mov ss, ax
        mov rsp, 0x8f000
        mov [saved_rsp], rsp
        lidt [idt64_desc]
        mov ax, SEL_TSS
        ltr ax
        lea rsi, [rel s_in64]
        call puts64

        xor ecx, ecx
        TRY64 "de", div ecx
        TRY64 "ud", ud2
        TRY64 "bp", int3
        call show_frame
        mov rax, 0x0000800000000000
        TRY64 "gp noncanonical", mov rbx, [rax]
        mov rbx, 0x0000800000000000
        TRY64 "ss noncanonical", mov rax, [rsp + rbx]
        TRY64 "ud into", db 0xce
        TRY64 "pf read np", mov rax, [0x300010]
        call show_cr2
        TRY64 "pf write ro", mov byte [0x301fff], 1
        call show_cr2
        mov byte [0x303000], 0xc3                        ; ret (data write is fine)
        mov rax, 0x303000
        TRY64 "pf nx fetch", call rax
.after_nx:
        call show_cr2
        ; misaligned RSP: the frame starts at a 16-byte boundary
        mov rsp, 0x8f000              ; (the faulting CALL above left its return address)
        mov [saved_rsp], rsp
        sub rsp, 8
        mov rax, 0x0000800000000000
        TRY64 "gp misaligned rsp", mov rbx, [rax]
        mov rsp, [saved_rsp]
        call show_frame
        ; FS and GS bases
        mov ecx, 0xc0000100
        mov eax, data64
        xor edx, edx
        wrmsr
        mov rax, [fs:8]
        lea rsi, [rel s_fs]
        call puts64
        call puthex64
        call nl64
        mov ecx, 0xc0000102                              ; KERNEL_GS_BASE
        mov eax, data64 + 16
        xor edx, edx
        wrmsr
        mov ecx, 0xc0000101
        xor eax, eax
        wrmsr
        swapgs
        mov rax, [gs:0]
        lea rsi, [rel s_gs]
        call puts64
        call puthex64
        call nl64
        swapgs
        ; RDTSCP returns TSC_AUX in ECX
        mov ecx, 0xc0000103
        mov eax, 0x1234
        xor edx, edx
        wrmsr
        rdtscp
        mov eax, ecx
        lea rsi, [rel s_aux]
        call puts64
        call puthex64
        call nl64

        ; ring 3 through SYSRET; SYSCALL back
        mov ecx, 0xc0000081                              ; STAR
        xor eax, eax
        mov edx, (0x30 << 16) | SEL_CODE64
        wrmsr
        mov ecx, 0xc0000082                              ; LSTAR
        lea rax, [rel syscall_entry]
        mov rdx, rax
        shr rdx, 32
        wrmsr
        mov ecx, 0xc0000084                              ; SFMASK: IF, TF, DF
        mov eax, 0x700
        xor edx, edx
        wrmsr
        mov [kernel_rsp], rsp
        lea rcx, [rel user64]
        mov r11, 0x202 | 0x400                           ; IF, DF
        o64 sysret
after_user:
        mov rsp, [kernel_rsp]
        lea rsi, [rel s_sysc]
        call puts64
        mov rax, [sys_rcx]
        lea rbx, [rel user_sys_ret]
        sub rax, rbx
        call puthex64
        lea rsi, [rel s_r11]
        call puts64
        mov rax, [sys_r11]
        call puthex64
        lea rsi, [rel s_fl]
        call puts64
        mov rax, [sys_rflags]
        call puthex64
        lea rsi, [rel s_cs]
        call puts64
        movzx eax, word [sys_cs]
        call puthex64
        lea rsi, [rel s_ss]
        call puts64
        movzx eax, word [sys_ss]
        call puthex64
        call nl64
        lea rsi, [rel s_ucs]
        call puts64
        movzx eax, word [user_cs]
        call puthex64
        lea rsi, [rel s_ss]
        call puts64
        movzx eax, word [user_ss]
        call puthex64
        call nl64
        ; back to 32-bit code for the exit
        jmp far dword [rel to32]
        bits 32
back32:
        mov ax, SEL_DATA32            ; IRET to ring 3 nulled DS and ES
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, [saved_esp32]
        ; an exception in compatibility mode goes through the 64-bit IDT and
        ; IRETQ returns to 32-bit code
        mov dword [resume64], compat_resume
        mov dword [resume64 + 4], 0
        mov dword [e_vec], -1
        mov [compat_esp], esp
compat_fault:
        ud2
compat_resume:
        mov dword [resume64], 0
        SHOW "compat ud vec", [e_vec]
        mov eax, [e_rip]
        sub eax, compat_fault
        SHOW "rip-fault", eax
        SHOW "cs", [e_cs]
        SHOW "ss", [e_ss]
        mov eax, [compat_esp]
        sub eax, [e_rsp]
        SHOW "rsp-delta", eax
        mov eax, esp
        sub eax, [compat_esp]
        SHOW "esp after", eax
        call newline
        SAYLN "long64: done"
        ret
        bits 64

syscall_entry:
        mov [sys_rcx], rcx
        mov [sys_r11], r11
        pushfq
        pop rax
        mov [sys_rflags], rax
        mov ax, cs
        mov [sys_cs], ax
        mov ax, ss
        mov [sys_ss], ax
        jmp after_user

; ring 3, 64-bit
user64:
        cld
        mov ax, cs
        mov [user_cs], ax
        mov ax, ss
        mov [user_ss], ax
        TRY64 "user cli", cli
        TRY64 "user swapgs", swapgs
        TRY64 "user int3 ist", int3
        call show_frame_user
        TRY64 "user read supervisor page", mov al, [0x302000]
        TRY64 "user mov cr2", mov rax, cr2
        syscall
user_sys_ret:
        jmp user_sys_ret

; ---------------------------------------------------------------- 64-bit output
putc64:
        push rdx
        push rax
        mov dx, COM1 + 5
.w:     in al, dx
        test al, 0x20
        jz .w
        pop rax
        mov dx, COM1
        out dx, al
        pop rdx
        ret
puts64:
        push rax
        push rsi
.l:     lodsb
        test al, al
        jz .d
        call putc64
        jmp .l
.d:     pop rsi
        pop rax
        ret
; puthex64: rax as 16 digits, or 8 when the high half is zero
puthex64:
        push rax
        push rcx
        push rdx
        mov rdx, rax
        mov ecx, 16
        mov rax, rdx
        shr rax, 32
        jnz .l
        mov ecx, 8
        shl rdx, 32
.l:     rol rdx, 4
        mov al, dl
        and al, 15
        add al, '0'
        cmp al, '9'
        jbe .p
        add al, 'a' - '9' - 1
.p:     call putc64
        dec ecx
        jnz .l
        pop rdx
        pop rcx
        pop rax
        ret
nl64:
        push rax
        mov al, 10
        call putc64
        pop rax
        ret


report64:
        pushfq
        push rax
        push rsi
        cmp qword [e_vec], -1
        jne .e
        lea rsi, [rel s_none]
        call puts64
        jmp .d
.e:     lea rsi, [rel s_vec]
        call puts64
        mov rax, [e_vec]
        call puthex64
        lea rsi, [rel s_ec]
        call puts64
        mov rax, [e_ec]
        cmp rax, -1
        jne .ec
        lea rsi, [rel s_nonec]
        call puts64
        jmp .rip
.ec:    call puthex64
.rip:   lea rsi, [rel s_rip]
        call puts64
        mov rax, [e_rip]
        sub rax, [e_at]
        call puthex64
.d:     call nl64
        pop rsi
        pop rax
        popfq
        ret

show_frame:
        lea rsi, [rel s_frame]
        call puts64
        mov rax, [e_cs]
        call puthex64
        lea rsi, [rel s_ss]
        call puts64
        mov rax, [e_ss]
        call puthex64
        lea rsi, [rel s_rspd]
        call puts64
        mov rax, [saved_rsp]
        sub rax, [e_rsp]
        call puthex64
        lea rsi, [rel s_hrsp]
        call puts64
        mov rax, [e_hrsp]
        call puthex64
        call nl64
        ret
show_frame_user:
        lea rsi, [rel s_frame]
        call puts64
        mov rax, [e_cs]
        call puthex64
        lea rsi, [rel s_ss]
        call puts64
        mov rax, [e_ss]
        call puthex64
        lea rsi, [rel s_hrsp]
        call puts64
        mov rax, [e_hrsp]
        call puthex64
        call nl64
        ret
show_cr2:
        lea rsi, [rel s_cr2]
        call puts64
        mov rax, [e_cr2]
        call puthex64
        call nl64
        ret

%assign i 0
%rep 32
isr64_ %+ i:
%if (EC_MASK >> i) & 1
%else
        push qword -1
%endif
        push qword i
        jmp isr64_common
%assign i i + 1
%endrep
isr64_table:
%assign i 0
%rep 32
        dd isr64_ %+ i
%assign i i + 1
%endrep

; [rsp] vec, ec, rip, cs, rflags, rsp, ss
isr64_common:
        push rax
        lea rax, [rsp + 8]
        mov [e_hrsp], rax
        mov rax, [rsp + 8]
        mov [e_vec], rax
        mov rax, [rsp + 16]
        mov [e_ec], rax
        mov rax, [rsp + 24]
        mov [e_rip], rax
        mov rax, [rsp + 32]
        mov [e_cs], rax
        mov rax, [rsp + 48]
        mov [e_rsp], rax
        mov rax, [rsp + 56]
        mov [e_ss], rax
        mov rax, cr2
        mov [e_cr2], rax
        ; the handler's RSP relative to the stack it runs on
        mov rax, [e_hrsp]
        cmp qword [e_vec], 3
        jne .not_ist
        sub rax, IST1_TOP
        jmp .st
.not_ist:
        test byte [rsp + 32], 3
        jz .same
        sub rax, RSP0_TOP
        jmp .st
.same:  sub rax, [saved_rsp]
.st:    mov [e_hrsp], rax
        mov rax, [resume64]
        test rax, rax
        jz .unexpected
        mov [rsp + 24], rax
        pop rax
        add rsp, 16
        iretq
.unexpected:
        lea rsi, [rel s_unexp]
        call puts64
        mov rax, [rsp + 8]
        call puthex64
        lea rsi, [rel s_rip]
        call puts64
        mov rax, [rsp + 24]
        call puthex64
        call nl64
        mov al, 0
        out 0xf4, al
        hlt

s_in64:   db "in 64-bit mode", 10, 0
s_none:   db ": none", 0
s_vec:    db ": vec=", 0
s_ec:     db " ec=", 0
s_nonec:  db "none", 0
s_rip:    db " rip=+", 0
s_frame:  db "frame cs=", 0
s_ss:     db " ss=", 0
s_rspd:   db " rsp-delta=", 0
s_hrsp:   db " handler-rsp=", 0
s_cr2:    db "cr2=", 0
s_fs:     db "fs:8=", 0
s_gs:     db "swapgs gs:0=", 0
s_aux:    db "rdtscp ecx=", 0
s_sysc:   db "syscall rcx-ret=", 0
s_r11:    db " r11=", 0
s_fl:     db " rflags=", 0
s_cs:     db " cs=", 0
s_ucs:    db "user cs=", 0
s_unexp:  db "unexpected exception ", 0

        align 8
idt64_desc: dw 256 * 16 - 1
            dq idt64
to32:       dd back32
            dw SEL_CODE32
data64:     dq 0x1111111111111111, 0x2222222222222222, 0x3333333333333333
resume64:   dq 0
e_vec:      dq 0
e_ec:       dq 0
e_rip:      dq 0
e_cs:       dq 0
e_rsp:      dq 0
e_ss:       dq 0
e_cr2:      dq 0
e_at:       dq 0
e_hrsp:     dq 0
saved_rsp:  dq 0
saved_esp32: dq 0
compat_esp: dq 0
kernel_rsp: dq 0
sys_rcx:    dq 0
sys_r11:    dq 0
sys_rflags: dq 0
sys_cs:     dw 0
sys_ss:     dw 0
user_cs:    dw 0
user_ss:    dw 0
        bits 32

%include "lib_end.inc"
        alignb 4096
pml4:   resb 4096
pdpt:   resb 4096
pd:     resb 4096
pt:     resb 4096
idt64:  resb 4096
tss64:  resb 0x68 + 8192 + 8
bss_end:
