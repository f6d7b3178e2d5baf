; SPDX-License-Identifier: MIT
; Privilege levels in 32-bit protected mode: ring 3 entry through IRET,
; the stack switch to the TSS ring-0 stack, IOPL and the TSS I/O bitmap,
; privileged instructions, segment loads from ring 3, gate DPL checks,
; call gates with a parameter, LAR/LSL/VERR/VERW/ARPL.
%include "lib.inc"

USER_STACK equ 0x70000
SEL_GATE   equ SEL_SPARE0 | 3
KSTACK0    equ 0x80000

main:
        SAYLN "priv: start"
        ; TSS: ring-0 stack, I/O bitmap allowing 0x80-0x81 and COM1 only
        mov dword [tss32 + 4], KSTACK0
        mov dword [tss32 + 8], SEL_DATA32
        mov word [tss32 + 0x66], 0x68
        mov edi, tss32 + 0x68
        mov ecx, 8192 / 4 + 1
        mov eax, -1
        rep stosd
        and byte [tss32 + 0x68 + 0x80 / 8], ~3                ; 0x80, 0x81
        mov byte [tss32 + 0x68 + 0x3f8 / 8], 0                ; 0x3f8-0x3ff
        mov eax, tss32
        mov ebx, 0x68 + 8192
        mov ecx, 0x089
        call build_desc
        mov edi, SEL_TSS
        call set_desc
        mov ax, SEL_TSS
        ltr ax
        xor eax, eax
        str ax
        SHOW "tr", eax
        mov eax, [gdt + SEL_TSS + 4]
        SHOW "tss desc hi after ltr", eax
        call newline
        ; int 0x30: DPL3 gate back to the kernel
        mov eax, 0x30
        mov ebx, ring3_exit
        mov edx, 0xee00
        call set_gate32
        ; call gate, DPL3, to ring-0 code, 1 dword parameter
        mov eax, gate_target
        mov [gdt + SEL_SPARE0], ax
        mov word [gdt + SEL_SPARE0 + 2], SEL_CODE32
        mov word [gdt + SEL_SPARE0 + 4], 0xec01
        shr eax, 16
        mov [gdt + SEL_SPARE0 + 6], ax

        SAYLN "ring3 iopl0"
        mov eax, ring3_iopl0
        mov ebx, 0x002
        call to_ring3
        call show_exit_frame

        SAYLN "ring3 iopl3"
        mov eax, ring3_iopl3
        mov ebx, 0x3002
        call to_ring3
        call show_exit_frame
        SAYLN "priv: done"
        ret

show_exit_frame:
        SHOW "exit eip-ok", [x_eipok]
        SHOW "cs", [x_cs]
        SHOW "ss", [x_ss]
        SHOW "esp", [x_esp]
        SHOW "kesp", [x_kesp]
        call newline
        SHOW "eflags", [x_efl]
        call newline
        ret

; to_ring3: eax = entry, ebx = eflags; returns when ring 3 does int 0x30
to_ring3:
        mov [kesp], esp
        mov cx, SEL_UDATA32
        mov ds, cx
        mov es, cx
        mov fs, cx
        mov gs, cx
        push dword SEL_UDATA32
        push dword USER_STACK
        push ebx
        push dword SEL_UCODE32
        push eax
        iretd

ring3_exit:
        mov [x_kesp], esp
        mov eax, [esp]
        mov [x_eip], eax
        mov eax, [esp + 4]
        mov [x_cs], eax
        mov eax, [esp + 8]
        mov [x_efl], eax
        mov eax, [esp + 12]
        mov [x_esp], eax
        mov eax, [esp + 16]
        mov [x_ss], eax
        mov eax, [x_eip]
        sub eax, [x_expect]
        mov [x_eipok], eax
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov esp, [kesp]
        ret

gate_target:
        mov [g_esp], esp
        mov eax, [esp + 8]
        mov [g_param], eax
        mov eax, [esp + 4]
        mov [g_cs], eax
        mov eax, [esp + 16]
        mov [g_ss], eax
        mov ax, ss
        mov [g_newss], eax
        retf 4

; ---------------------------------------------------------------- ring 3, IOPL 0
ring3_iopl0:
        mov eax, cs
        SHOW "cs", eax
        mov eax, ss
        SHOW "ss", eax
        mov eax, ds
        SHOW "ds", eax
        call newline
        TRY "cli", cli
        TRY "sti", sti
        TRY "hlt", hlt
        TRY "in 0x80 allowed", in al, 0x80
        TRY "in ax 0x81 half denied", in ax, 0x81
        TRY "out 0x84 denied", out 0x84, al
        mov dx, 0x3fc
        TRY "in 0x3fc allowed", in al, dx
        TRY "mov eax cr0", mov eax, cr0
        TRY "mov cr3 eax", mov cr3, eax
        TRY "mov eax dr7", mov eax, dr7
        TRY "lgdt", lgdt [gdt_desc]
        TRY "lidt", lidt [idt32_desc]
        TRY "ltr", ltr ax
        TRY "lldt", lldt ax
        TRY "clts", clts
        TRY "invlpg", invlpg [0]
        TRY "wbinvd", wbinvd
        TRY "rdmsr", rdmsr
        TRY "wrmsr", wrmsr
        TRY "rdpmc", rdpmc
        TRY "rdtsc allowed", rdtsc
        TRY "lmsw", lmsw ax
        TRY "smsw allowed", smsw eax
        and eax, 0xffff
        SHOW "msw", eax
        call newline
        TRY "sgdt allowed", sgdt [sg_buf]
        mov eax, [sg_buf + 2]
        sub eax, gdt
        SHOW "sgdt base-gdt", eax
        movzx eax, word [sg_buf]
        SHOW "limit", eax
        call newline
        TRY "str allowed", str ax
        movzx eax, ax
        SHOW "tr", eax
        call newline
        ; POPF cannot change IF or IOPL at CPL3 with IOPL0
        pushfd
        or dword [esp], 0x3200
        popfd
        pushfd
        pop eax
        and eax, 0x3200
        SHOW "popf if/iopl", eax
        call newline
        ; segment loads
        mov ax, SEL_DATA32
        TRY "mov ds dpl0", mov ds, ax
        mov ax, SEL_DATA32 | 3
        TRY "mov ds dpl0 rpl3", mov ds, ax
        mov ax, SEL_UDATA32
        TRY "mov es user", mov es, ax
        mov ax, SEL_DATA32
        TRY "mov ss dpl0", mov ss, ax
        mov ax, SEL_UDATA32 & ~3
        TRY "mov ss rpl0", mov ss, ax
        mov ax, SEL_UCODE32
        TRY "mov es user code", mov es, ax
        mov ax, SEL_UDATA32
        mov es, ax
        ; gates
        TRY "int3 dpl0 gate", int3
        TRY "int 0x41 dpl0 gate", int 0x41
        mov eax, 0x7fffffff
        add eax, 1
        TRY "into dpl0 gate", into
        TRY "int 0x80 absent", int 0x80
        ; call gate with one parameter
        push dword 0x1234abcd
        TRY "call gate", call SEL_GATE:0
        SHOW "param", [g_param]
        SHOW "cs", [g_cs]
        SHOW "old ss", [g_ss]
        SHOW "new ss", [g_newss]
        SHOW "esp", [g_esp]
        call newline
        mov eax, esp
        SHOW "user esp after", eax
        call newline
        ; LAR / LSL / VERR / VERW / ARPL
        mov ebx, lar_sels
.lar:   movzx ecx, word [ebx]
        test ecx, ecx
        jz .lar_done
        SAY "sel "
        mov eax, ecx
        call puthex4
        mov eax, 0xdeadbeef
        lar eax, ecx
        setz dl
        SAY " lar "
        call puthex8
        SAY " z"
        movzx eax, dl
        call puthex2
        mov eax, 0xdeadbeef
        lsl eax, ecx
        setz dl
        SAY " lsl "
        call puthex8
        SAY " z"
        movzx eax, dl
        call puthex2
        verr cx
        setz dl
        SAY " verr "
        movzx eax, dl
        call puthex2
        verw cx
        setz dl
        SAY " verw "
        movzx eax, dl
        call puthex2
        call newline
        add ebx, 2
        jmp .lar
.lar_done:
        mov ax, 0x10
        mov bx, 0x3
        arpl ax, bx
        setz dl
        movzx eax, ax
        SHOW "arpl", eax
        movzx eax, dl
        SHOW "z", eax
        mov ax, 0x13
        mov bx, 0x1
        arpl ax, bx
        setz dl
        movzx eax, ax
        SHOW "arpl", eax
        movzx eax, dl
        SHOW "z", eax
        call newline
        mov dword [x_expect], .back
        int 0x30
.back:

ring3_iopl3:
        TRY "cli iopl3", cli
        TRY "sti iopl3", sti
        TRY "out 0x84 iopl3", out 0x84, al
        TRY "hlt iopl3", hlt
        pushfd
        pop eax
        and eax, 0x3200
        SHOW "eflags if/iopl", eax
        call newline
        cli
        mov dword [x_expect], .back
        int 0x30
.back:

        align 4
lar_sels:   dw SEL_CODE32, SEL_UCODE32, SEL_UDATA32, SEL_TSS, SEL_GATE, SEL_DATA32 | 3, 0x0800, 0x3
            dw 0
kesp:       dd 0
x_eip:      dd 0
x_expect:   dd 0
x_eipok:    dd 0
x_cs:       dd 0
x_efl:      dd 0
x_esp:      dd 0
x_ss:       dd 0
x_kesp:     dd 0
g_esp:      dd 0
g_param:    dd 0
g_cs:       dd 0
g_ss:       dd 0
g_newss:    dd 0
sg_buf:     dd 0, 0

%include "lib_end.inc"
        alignb 16
tss32:  resb 0x68 + 8192 + 8
bss_end:
