; SPDX-License-Identifier: MIT
; echo: reads one line from COM1 (polling LSR.DR) and prints it back with its
; length; exits through the debug-exit port with value 0 (status 1).
%include "multiboot.inc"

MAX_LINE    equ 200

section .text
global _start
_start:
        mov esp, stack_top
        ; No serial_init: switching a 16550 into FIFO mode clears its receive
        ; FIFO, which would drop bytes that arrived before the guest started
        ; (QEMU receives them at once).  The UART works at its reset settings.
        mov esi, msg_prompt
        call puts
        mov edi, line
        xor ecx, ecx
.read:  mov dx, COM1 + 5
.poll:  in al, dx
        test al, 1                      ; data ready
        jz .poll
        mov dx, COM1
        in al, dx
        cmp al, 10
        je .done
        cmp ecx, MAX_LINE
        jae .read
        stosb
        inc ecx
        jmp .read
.done:  mov byte [edi], 0
        mov esi, msg_got
        call puts
        mov esi, line
        call puts
        mov esi, msg_len
        call puts
        mov eax, ecx
        call put_dec
        mov al, 10
        call putc
        xor al, al
        call debug_exit

%include "serial32.inc"

section .rodata
msg_prompt: db "echo: send a line", 10, 0
msg_got:    db "got: ", 0
msg_len:    db " length ", 0

section .bss
line:   resb MAX_LINE + 1
alignb 16
        resb 4096
stack_top:
