; SPDX-License-Identifier: MIT
; longmode: from multiboot's 32-bit protected mode into long mode with
; 4-level paging (the first 2 MiB through 4 KiB pages, the rest of the first
; GiB through 2 MiB pages), then a CRC-32 (IEEE 802.3, reflected, bitwise) of
; a 64 KiB buffer filled by an LCG (x = x * 1103515245 + 12345, byte = x >> 16),
; printed in hex.  Exits through the debug-exit port with value 0 (status 1).
%include "multiboot.inc"

BUF_SIZE    equ 65536

section .text
bits 32
global _start
_start:
        mov esp, stack_top
        call serial_init
        mov esi, msg_start
        call puts

        ; PML4[0] -> PDPT; PDPT[0] -> PD; PD[0] -> PT (4 KiB pages); PD[1..511] 2 MiB pages.
        mov edi, pml4
        xor eax, eax
        mov ecx, 4 * 4096 / 4
        rep stosd
        mov dword [pml4], pdpt + 3
        mov dword [pdpt], pd + 3
        mov dword [pd], pt + 3
        mov edi, pt
        mov eax, 3                      ; present | writable
        mov ecx, 512
.pte:   mov [edi], eax
        add eax, 4096
        add edi, 8
        loop .pte
        mov edi, pd + 8
        mov eax, 0x200000 | 0x83        ; present | writable | page size
        mov ecx, 511
.pde:   mov [edi], eax
        add eax, 0x200000
        add edi, 8
        loop .pde

        mov eax, cr4
        or eax, 1 << 5                  ; PAE
        mov cr4, eax
        mov eax, pml4
        mov cr3, eax
        mov ecx, 0xc0000080             ; EFER
        rdmsr
        or eax, 1 << 8                  ; LME
        wrmsr
        lgdt [gdt_desc]
        mov eax, cr0
        or eax, 0x80000001              ; PG | PE
        mov cr0, eax
        jmp 0x08:long_entry

%include "serial32.inc"

bits 64
long_entry:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        lea rsp, [rel stack_top]
        lea rsi, [rel msg_long]
        call puts64

        ; fill the buffer
        lea rdi, [rel buffer]
        mov ecx, BUF_SIZE
        mov eax, 1
.fill:  imul eax, eax, 1103515245
        add eax, 12345
        mov edx, eax
        shr edx, 16
        mov [rdi], dl
        inc rdi
        dec ecx
        jnz .fill

        ; CRC-32, bit by bit
        lea rsi, [rel buffer]
        mov ecx, BUF_SIZE
        mov eax, 0xffffffff
.byte:  movzx edx, byte [rsi]
        xor eax, edx
        mov r8d, 8
.bit:   shr eax, 1
        jnc .nox
        xor eax, 0xedb88320
.nox:   dec r8d
        jnz .bit
        inc rsi
        dec ecx
        jnz .byte
        not eax
        mov r12d, eax

        lea rsi, [rel msg_crc]
        call puts64
        mov eax, r12d
        call put_hex64_32
        mov al, 10
        call putc64
        lea rsi, [rel msg_done]
        call puts64
        mov dx, 0xf4
        xor eax, eax
        out dx, al
.hang:  cli
        hlt
        jmp .hang

putc64:
        push rdx
        push rax
        mov dx, 0x3fd
.wait:  in al, dx
        test al, 0x20
        jz .wait
        pop rax
        mov dx, 0x3f8
        out dx, al
        pop rdx
        ret

puts64:
        push rax
        push rsi
.next:  lodsb
        test al, al
        jz .done
        call putc64
        jmp .next
.done:  pop rsi
        pop rax
        ret

put_hex64_32:                           ; EAX as 8 hex digits
        push rcx
        push rdx
        push rax
        mov edx, eax
        mov ecx, 8
.dig:   rol edx, 4
        mov al, dl
        and al, 15
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'a' - '0' - 10
.out:   call putc64
        dec ecx
        jnz .dig
        pop rax
        pop rdx
        pop rcx
        ret

section .rodata
align 8
gdt:    dq 0
        dq 0x00af9a000000ffff           ; 0x08: 64-bit code
        dq 0x00cf92000000ffff           ; 0x10: data
gdt_desc:
        dw gdt_desc - gdt - 1
        dd gdt
msg_start:  db "longmode: protected mode, enabling 4-level paging", 10, 0
msg_long:   db "longmode: in 64-bit mode", 10, 0
msg_crc:    db "crc32 of 65536 LCG bytes: ", 0
msg_done:   db "longmode: done", 10, 0

section .bss
alignb 4096
pml4:   resb 4096
pdpt:   resb 4096
pd:     resb 4096
pt:     resb 4096
buffer: resb BUF_SIZE
alignb 16
        resb 4096
stack_top:
