; SPDX-License-Identifier: MIT
; hello: prints over COM1 and exits through the debug-exit port (status 1 on success).
%include "multiboot.inc"

section .text
global _start
_start:
        mov esp, stack_top
        mov edi, eax                    ; boot magic
        call serial_init
        mov esi, msg_hello
        call puts
        cmp edi, 0x2badb002
        jne .bad
        mov esi, msg_magic
        call puts
        test dword [ebx], 1             ; MBI_MEM
        jz .bad
        cmp dword [ebx + 8], 1024       ; at least 1 MiB of upper memory
        jb .bad
        mov esi, msg_mem
        call puts
        mov esi, msg_bye
        call puts
        xor al, al
        call debug_exit
.bad:   mov esi, msg_bad
        call puts
        mov al, 1
        call debug_exit

%include "serial32.inc"

section .rodata
msg_hello:  db "Hello from a v3vmm guest!", 10, 0
msg_magic:  db "multiboot magic ok", 10, 0
msg_mem:    db "memory information ok", 10, 0
msg_bye:    db "bye", 10, 0
msg_bad:    db "bad multiboot state", 10, 0

section .bss
alignb 16
        resb 4096
stack_top:
