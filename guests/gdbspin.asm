; SPDX-License-Identifier: MIT
; gdbspin: counts in an endless loop (for interrupting a running guest from gdb).
%include "multiboot.inc"

section .text
global _start
_start:
        mov esp, stack_top
global spin
spin:
        inc dword [spins]
        jmp spin

section .data
global spins
spins:      dd 0

section .bss
alignb 16
        resb 4096
stack_top:
