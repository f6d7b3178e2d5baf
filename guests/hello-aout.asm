; SPDX-License-Identifier: MIT
; hello-aout: the hello guest as a flat binary with the multiboot a.out-kludge
; header (flag 16): load address, load end, bss end and entry in the header.
MB_MAGIC    equ 0x1badb002
MB_FLAGS    equ 0x00010002
LOAD_ADDR   equ 0x100000

bits 32
org LOAD_ADDR
mb_header:
        dd MB_MAGIC
        dd MB_FLAGS
        dd -(MB_MAGIC + MB_FLAGS)
        dd mb_header                    ; header_addr
        dd LOAD_ADDR                    ; load_addr
        dd load_end                     ; load_end_addr
        dd bss_end                      ; bss_end_addr
        dd _start                       ; entry_addr

_start:
        mov esp, stack_top
        mov edi, eax
        call serial_init
        mov esi, msg_hello
        call puts
        cmp edi, 0x2badb002
        jne .bad
        cmp dword [bss_check], 0        ; the loader zeroes the bss
        jne .bad
        mov esi, msg_ok
        call puts
        xor al, al
        call debug_exit
.bad:   mov esi, msg_bad
        call puts
        mov al, 1
        call debug_exit

%include "serial32.inc"

msg_hello:  db "Hello from an a.out-kludge v3vmm guest!", 10, 0
msg_ok:     db "multiboot magic ok, bss zeroed", 10, 0
msg_bad:    db "bad multiboot state", 10, 0
align 4
load_end:

absolute load_end
bss_check:  resd 1
            resb 4096
stack_top:
bss_end:
