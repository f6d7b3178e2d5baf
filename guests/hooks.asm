; SPDX-License-Identifier: MIT
; hooks: exercises RAM, the write-hooked VGA text memory, the UART scratch
; register, the v3 test device (full-hook MMIO at 0xFEB00000) and hypercalls.
; Prints PASS or FAIL per check and exits through the debug-exit port with
; value 0 (status 1) when every check passed, 1 (status 3) otherwise.
; The test device and hypercalls exist only under v3vmm: the guest detects
; the device by its ID register and says so when it is absent (QEMU), before
; any VMCALL (which would raise #UD there).
%include "multiboot.inc"

VGA         equ 0xb8000
TESTDEV     equ 0xfeb00000
TD_ID       equ TESTDEV + 0x00
TD_VERSION  equ TESTDEV + 0x04
TD_READS    equ TESTDEV + 0x08
TD_WRITES   equ TESTDEV + 0x0c
TD_ECHO     equ TESTDEV + 0x10
TD_ECHO_NOT equ TESTDEV + 0x18
TD_MAGIC    equ 0x4d4d3356
HC_MEM_OFFSET equ 0x1000
HC_SUM      equ 0x5633
HC_COUNT    equ 0x5634

; EXPECT actual, expected, "name": compare and report.
%macro EXPECT 3
        cmp %1, %2
        sete al
        mov esi, %%name
        call report
[section .rodata]
%%name: db %3, 0
__SECT__
%endmacro

section .text
global _start
_start:
        mov esp, stack_top
        cld
        lgdt [gdt_desc]                 ; our own flat GDT (the loader's CS value differs)
        jmp 0x08:.reload
.reload:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        call serial_init
        mov esi, msg_start
        call puts

        ; ---- RAM: a 16 KiB pattern written and read back ----
        mov edi, ram_buf
        mov ecx, 4096
        mov eax, 0x12345678
.fill:  stosd
        imul eax, eax, 1664525
        add eax, 1013904223
        loop .fill
        mov esi, ram_buf
        mov ecx, 4096
        mov eax, 0x12345678
        xor ebx, ebx                    ; mismatches
.check: cmp [esi], eax
        je .ok
        inc ebx
.ok:    add esi, 4
        imul eax, eax, 1664525
        add eax, 1013904223
        loop .check
        EXPECT ebx, 0, "ram pattern 16 KiB"

        mov dword [ram_buf], 0x11223344
        movzx eax, byte [ram_buf + 1]
        EXPECT eax, 0x33, "ram byte view"
        movzx eax, word [ram_buf + 2]
        EXPECT eax, 0x1122, "ram word view"

        mov esi, ram_buf
        mov edi, ram_buf2
        mov ecx, 256
        rep movsd
        mov esi, ram_buf
        mov edi, ram_buf2
        mov ecx, 256
        repe cmpsd
        EXPECT ecx, 0, "ram rep movsd/cmpsd"

        ; ---- VGA text memory (write-hooked): writes land, reads see them ----
        mov esi, vga_text
        mov edi, VGA
        mov ah, 0x1f
.vput:  lodsb
        test al, al
        jz .vdone
        stosw
        jmp .vput
.vdone: mov esi, vga_text
        mov edi, VGA
        xor ebx, ebx
.vchk:  lodsb
        test al, al
        jz .vchkd
        mov ah, 0x1f
        cmp [edi], ax
        je .vok
        inc ebx
.vok:   add edi, 2
        jmp .vchk
.vchkd: EXPECT ebx, 0, "vga text readback"

        mov edi, line_buf               ; a line of '=' in attribute 0x0e
        mov ecx, 80
        mov ax, 0x0e3d
        rep stosw
        mov esi, line_buf
        mov edi, VGA + 2 * 160
        mov ecx, 80
        rep movsw
        mov esi, line_buf
        mov edi, VGA + 2 * 160
        mov ecx, 80
        repe cmpsw
        EXPECT ecx, 0, "vga rep movsw line"

        mov byte [VGA + 4 * 160], 'X'
        mov byte [VGA + 4 * 160 + 1], 0x2e
        movzx eax, word [VGA + 4 * 160]
        EXPECT eax, 0x2e58, "vga byte writes, word read"

        ; ---- UART scratch register ----
        mov dx, COM1 + 7
        mov al, 0xa5
        out dx, al
        in al, dx
        movzx eax, al
        EXPECT eax, 0xa5, "uart scratch register"

        ; ---- string I/O: REP OUTSB to the UART, REP INSB (DF=1) from its scratch register ----
        mov dx, COM1
        mov esi, outs_line
        mov ecx, outs_line_len
        rep outsb
        EXPECT ecx, 0, "uart rep outsb"
        mov dx, COM1 + 7
        mov al, 0x5a
        out dx, al
        mov dword [ram_buf], 0
        mov dword [ram_buf + 4], 0
        mov edi, ram_buf + 7
        mov ecx, 7
        std
        rep insb
        cld
        EXPECT edi, ram_buf, "uart rep insb df=1 pointer"
        mov eax, [ram_buf + 4]
        EXPECT eax, 0x5a5a5a5a, "uart rep insb df=1 data (high)"
        mov eax, [ram_buf]
        EXPECT eax, 0x5a5a5a00, "uart rep insb df=1 data (low)"

        ; ---- v3 test device present? ----
        mov eax, [TD_ID]
        cmp eax, TD_MAGIC
        je .present
        mov esi, msg_absent
        call puts
        jmp finish
.present:
        mov esi, msg_present
        call puts

        ; ---- MMIO on a full hook ----
        mov eax, [TD_ID]
        EXPECT eax, TD_MAGIC, "mmio id register"
        mov eax, [TD_VERSION]
        EXPECT eax, 1, "mmio version register"
        mov ebx, [TD_READS]
        mov eax, [TD_READS]
        dec eax
        EXPECT eax, ebx, "mmio read counter"
        mov ebx, [TD_WRITES]
        mov dword [TD_ECHO], 0xcafebabe
        mov eax, [TD_WRITES]
        dec eax
        EXPECT eax, ebx, "mmio write counter"
        mov eax, [TD_ECHO]
        EXPECT eax, 0xcafebabe, "mmio echo dword"
        mov eax, [TD_ECHO_NOT]
        EXPECT eax, 0x35014541, "mmio echo inverted"
        mov byte [TD_ECHO + 1], 0
        mov eax, [TD_ECHO]
        EXPECT eax, 0xcafe00be, "mmio echo byte write"
        mov esi, TESTDEV
        mov edi, ram_buf
        mov ecx, 8
        rep movsd
        mov eax, [ram_buf]
        EXPECT eax, TD_MAGIC, "mmio rep movsd to ram (id)"
        mov eax, [ram_buf + 4]
        EXPECT eax, 1, "mmio rep movsd to ram (version)"
        mov ebx, [TD_WRITES]
        mov edi, TD_ECHO
        mov ecx, 2
        mov eax, 0x01020304
        rep stosd
        mov eax, [TD_ECHO + 4]
        EXPECT eax, 0x01020304, "mmio rep stosd echo"
        mov eax, [TD_WRITES]
        sub eax, ebx
        EXPECT eax, 2, "mmio rep stosd counted twice"

        ; ---- an unknown MSR raises #GP (caught through the IDT); QEMU TCG
        ; reads unknown MSRs as 0 without #GP, so this runs on v3vmm only ----
        mov eax, gp_handler
        mov [idt + 13 * 8], ax
        mov word [idt + 13 * 8 + 2], 0x08
        mov word [idt + 13 * 8 + 4], 0x8e00      ; present 32-bit interrupt gate
        shr eax, 16
        mov [idt + 13 * 8 + 6], ax
        lidt [idt_desc]
        mov ecx, 0x4b5a0001
        rdmsr
        mov eax, [gp_count]
        EXPECT eax, 1, "unknown msr rdmsr raises #GP"
        mov ecx, 0x4b5a0001
        xor eax, eax
        xor edx, edx
        wrmsr
        mov eax, [gp_count]
        EXPECT eax, 2, "unknown msr wrmsr raises #GP"

        ; ---- hypercalls ----
        mov eax, HC_SUM
        mov ebx, 1
        mov ecx, 2
        mov edx, 3
        vmcall
        EXPECT eax, 6, "hypercall vmcall sum"
        mov eax, HC_SUM
        mov ebx, 10
        mov ecx, 20
        mov edx, 30
        vmmcall
        EXPECT eax, 60, "hypercall vmmcall sum"
        mov eax, 0x7777
        vmcall
        EXPECT eax, -1, "hypercall unknown id returns -1"
        mov eax, HC_MEM_OFFSET
        vmcall
        cmp eax, -1
        jne .memoff_on
        mov esi, msg_memoff_off
        call puts
        jmp .memoff_done
.memoff_on:
        EXPECT eax, 0, "hypercall mem_offset enabled"
.memoff_done:
        mov eax, HC_COUNT
        vmcall
        EXPECT eax, 3, "hypercall count"

finish:
        mov esi, msg_done
        call puts
        mov eax, [failures]
        call put_dec
        mov esi, msg_failed
        call puts
        mov al, 0
        cmp dword [failures], 0
        je .exit
        mov al, 1
.exit:  call debug_exit

; #GP: skip the 2-byte RDMSR/WRMSR and count.
gp_handler:
        add esp, 4                      ; error code
        add dword [esp], 2
        inc dword [gp_count]
        iret

; report: AL = 1 for pass; ESI = check name.
report:
        push esi
        mov esi, msg_pass
        test al, al
        jnz .p
        inc dword [failures]
        mov esi, msg_fail
.p:     call puts
        pop esi
        call puts
        mov al, 10
        call putc
        ret

%include "serial32.inc"

section .rodata
msg_start:      db "hooks: start", 10, 0
msg_pass:       db "PASS ", 0
msg_fail:       db "FAIL ", 0
msg_absent:     db "testdev: not present (not running on v3vmm): MMIO and hypercall checks skipped", 10, 0
msg_present:    db "testdev: present", 10, 0
msg_memoff_off: db "INFO hypercall mem_offset disabled", 10, 0
msg_done:       db "hooks: done, ", 0
msg_failed:     db " failed", 10, 0
vga_text:       db "v3vmm hooks guest: VGA text memory", 0
outs_line:      db "string output through rep outsb", 10
outs_line_len   equ $ - outs_line

align 8
gdt:            dq 0
                dq 0x00cf9a000000ffff   ; 0x08: flat 32-bit code
                dq 0x00cf92000000ffff   ; 0x10: flat data
gdt_desc:       dw 3 * 8 - 1
                dd gdt

section .data
failures:       dd 0
gp_count:       dd 0
idt_desc:       dw 14 * 8 - 1
                dd idt

section .bss
alignb 4096
ram_buf:        resb 16384
ram_buf2:       resb 4096
line_buf:       resb 160
idt:            resb 14 * 8
alignb 16
                resb 4096
stack_top:
