; SPDX-License-Identifier: MIT
; Guest kernels for the software-CPU benchmark (64-bit code at 0x20001000).
; Header: for each kernel, dq entry, end (the HLT that ends it).
; Inputs: ecx = iterations (set by the harness), rsi/rdi = data buffers,
; r8 = address in the fully hooked page.
bits 64
org 0x20001000

header:
    dq alu, alu_end
    dq ram, ram_end
    dq stores, stores_end
    dq callret, callret_end
    dq repmovsb, repmovsb_end
    dq hooked, hooked_end
    dq crc, crc_end
    dq sieve, sieve_end
    dq nops, nops_end
    dq 0, 0

align 64
; register ALU loop: 6 instructions per iteration
alu:
.l: add eax, ebx
    xor edx, eax
    sub ebx, 3
    inc esi
    dec ecx
    jnz .l
alu_end:
    hlt

align 64
; RAM load/store loop: 7 instructions per iteration, one load and one store
ram:
    xor edx, edx
.l: mov rax, [rsi+rdx]
    add rax, rcx
    mov [rsi+rdx+8], rax
    add edx, 16
    and edx, 0xff0
    dec ecx
    jnz .l
ram_end:
    hlt

align 64
; RAM stores: 5 instructions per iteration, one store
stores:
    xor edx, edx
.l: mov [rdi+rdx], rax
    add edx, 8
    and edx, 0xff8
    dec ecx
    jnz .l
stores_end:
    hlt

align 64
; call/return: 4 instructions per iteration
callret:
.l: call .f
    dec ecx
    jnz .l
    jmp callret_end
.f: ret
callret_end:
    hlt

align 64
; rep movsb of 4 KiB per iteration
repmovsb:
    mov ebx, ecx
.l: mov rsi, r9
    mov rdi, r10
    mov ecx, 4096
    rep movsb
    dec ebx
    jnz .l
repmovsb_end:
    hlt

align 64
; stores to a fully hooked page: 3 instructions per iteration, one callback
hooked:
.l: mov [r8], eax
    dec ecx
    jnz .l
hooked_end:
    hlt

align 64
; bitwise CRC-32 of ecx bytes at rsi
crc:
    mov eax, 0xffffffff
.l: movzx edx, byte [rsi]
    xor eax, edx
    mov edi, 8
.b: shr eax, 1
    jnc .s
    xor eax, 0xedb88320
.s: dec edi
    jnz .b
    inc rsi
    dec ecx
    jnz .l
    not eax
crc_end:
    hlt

align 64
; sieve of Eratosthenes over 8192 bytes at rdi, repeated ecx times
sieve:
    mov r11d, ecx
.rep:
    xor eax, eax
    mov ecx, 8192
    push rdi
    rep stosb
    pop rdi
    mov ebx, 2
    xor r12d, r12d
.outer:
    cmp byte [rdi+rbx], 0
    jne .next
    inc r12d
    lea rdx, [rbx+rbx]
.inner:
    cmp edx, 8192
    jae .next
    mov byte [rdi+rdx], 1
    add edx, ebx
    jmp .inner
.next:
    inc ebx
    cmp ebx, 8192
    jb .outer
    dec r11d
    jnz .rep
    mov eax, r12d
sieve_end:
    hlt

align 64
; dispatch cost: 8 NOPs, DEC, JNZ per iteration (10 instructions)
nops:
.l: nop
    nop
    nop
    nop
    nop
    nop
    nop
    nop
    dec ecx
    jnz .l
nops_end:
    hlt
