; SPDX-License-Identifier: MIT
; SMP benchmark guest (bench/smp/run.sh builds it with -DMODE=n and runs it
; on v3vm and on QEMU TCG with -smp N).  The BSP wakes the APs (INIT-SIPI-
; SIPI), every processor does the same work, the BSP exits when all are done.
;   MODE 1 compute: LOOPS iterations of a 4-instruction ALU loop each
;   MODE 2 shared:  LOOPS / 4 LOCK XADD on one dword (one cache line)
;   MODE 3 private: LOOPS / 4 LOCK XADD, each processor on its own line
;   MODE 4 ipi:     PINGS IPI round trips BSP -> APIC 1 -> BSP (N = 2)
%include "lib.inc"

APIC   equ 0xfee00000
A_ID   equ APIC + 0x20
A_EOI  equ APIC + 0xb0
A_SVR  equ APIC + 0xf0
A_ICRL equ APIC + 0x300
A_ICRH equ APIC + 0x310
TRAMP  equ 0x8000
AP_STACK equ 0x70000
%ifndef LOOPS
LOOPS  equ 50000000
%endif
%ifndef PINGS
PINGS  equ 20000
%endif

main:
        mov eax, 0x40
        mov ebx, h_ping
        mov edx, 0x8e00
        call set_gate32
        mov eax, 0x41
        mov ebx, h_pong
        mov edx, 0x8e00
        call set_gate32
        mov dword [A_SVR], 0x1ff
        mov al, 0x5f
        out 0x70, al
        in al, 0x71
        movzx eax, al
        inc eax
        mov [ncpu], eax
        mov esi, tramp_start
        mov edi, TRAMP
        mov ecx, tramp_end - tramp_start
        rep movsb
        cmp dword [ncpu], 1
        je .go
        mov dword [A_ICRH], 0
        mov dword [A_ICRL], 0x000c4500
        mov dword [A_ICRL], 0x000c4600 | (TRAMP >> 12)
        mov dword [A_ICRL], 0x000c4600 | (TRAMP >> 12)
.up:    pause
        mov eax, [started]
        inc eax
        cmp eax, [ncpu]
        jb .up
.go:    mov dword [go], 1
%if MODE == 4
        sti
        xor esi, esi
.ping:  mov dword [A_ICRH], 1 << 24
        mov dword [A_ICRL], 0x40
        inc esi
.pw:    cmp [pongs], esi
        jb .pw
        cmp esi, PINGS
        jb .ping
        cli
%else
        xor ebx, ebx
        call work
        mov ebx, [ncpu]
        dec ebx
.w:     pause
        cmp [done], ebx
        jb .w
%endif
        SAYLN "bench: done"
        ret

; work: ebx = processor number
work:
%if MODE == 1
        mov ecx, LOOPS
        xor eax, eax
.l:     add eax, ecx
        xor eax, 0x55
        dec ecx
        jnz .l
%elif MODE == 2
        mov ecx, LOOPS / 4
.l:     mov eax, 1
        lock xadd [shared], eax
        dec ecx
        jnz .l
%elif MODE == 3
        shl ebx, 6
        mov ecx, LOOPS / 4
.l:     mov eax, 1
        lock xadd [lines + ebx], eax
        dec ecx
        jnz .l
%endif
        ret

h_ping: mov dword [A_ICRH], 0
        mov dword [A_ICRL], 0x41
        mov dword [A_EOI], 0
        iretd
h_pong: inc dword [pongs]
        mov dword [A_EOI], 0
        iretd

ap_main:
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, 1
        lock xadd [apno], eax
        lea ebx, [eax + 1]                      ; processor number
        mov eax, ebx
        shl eax, 12
        add eax, AP_STACK
        mov esp, eax
        lidt [idt32_desc]
        mov dword [A_SVR], 0x1ff                ; ready for IPIs: now count in
        lock inc dword [started]
.g:     pause
        cmp dword [go], 0
        je .g
%if MODE == 4
        sti
.idle:  hlt
        jmp .idle
%else
        call work
        lock inc dword [done]
.h:     cli
        hlt
        jmp .h
%endif

        bits 16
tramp_start:
        cli
        mov ax, cs
        mov ds, ax
        o32 lgdt [tramp_gdt - tramp_start]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp dword SEL_CODE32:ap_main
        align 4
tramp_gdt:
        dw gdt_end - gdt - 1
        dd gdt
tramp_end:
        bits 32

        align 4096                              ; data apart from code (a store into a
shared: dd 0                                    ; code page drops its decoded blocks)
        align 64
lines:  times 64 * 16 db 0
ncpu:   dd 0
started: dd 0
apno:   dd 0
go:     dd 0
done:   dd 0
pongs:  dd 0
%include "lib_end.inc"
bss_end:
