; SPDX-License-Identifier: MIT
; gdbtest: a guest for the gdb stub tests (built with DWARF line information).
; Calls bump five times (each adds 7 to counter), prints the result and
; exits with debug-exit status 1 when counter ends at 0x1234 + 5 * 7.
%include "multiboot.inc"

section .text
global _start
_start:
        mov esp, stack_top
        call serial_init
        mov esi, msg_hello
        call puts
        mov ecx, 5
.again: call bump
        loop .again
        cmp dword [counter], 0x1234 + 5 * 7
        jne .bad
        mov esi, msg_ok
        call puts
        xor al, al
        call debug_exit
.bad:   mov esi, msg_bad
        call puts
        mov al, 1
        call debug_exit

; counter += 7 (clobbers EAX)
global bump
bump:
        mov eax, [counter]
        add eax, 7
        mov [counter], eax
        ret

%include "serial32.inc"

section .data
global counter
counter:    dd 0x1234

section .rodata
msg_hello:  db "gdbtest running", 10, 0
msg_ok:     db "gdbtest ok", 10, 0
msg_bad:    db "gdbtest: counter is wrong", 10, 0

section .bss
alignb 16
        resb 4096
stack_top:
