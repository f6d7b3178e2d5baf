; SPDX-License-Identifier: MIT
; cmdline: prints the multiboot command line between brackets, then exits with status 1.
; QEMU and GRUB give the kernel's file name, a space, then -append.
%include "multiboot.inc"

section .text
global _start
_start:
        mov esp, stack_top
        call serial_init
        mov esi, msg_open
        call puts
        test dword [ebx], 4             ; MBI_CMDLINE
        jz .none
        mov esi, [ebx + 16]
        call puts
.none:  mov esi, msg_close
        call puts
        xor al, al
        call debug_exit

%include "serial32.inc"

section .rodata
msg_open:   db "[", 0
msg_close:  db "]", 10, 0

section .bss
alignb 16
        resb 4096
stack_top:
