; SPDX-License-Identifier: MIT
; Several processors (run with -smp N, N = 1..8; the count comes from CMOS
; byte 0x5F, as a PC BIOS leaves it): the BSP wakes the APs with
; INIT-SIPI-SIPI through a real-mode trampoline at 0x8000; each AP reports
; its APIC ID in turn (a ticket in memory orders the lines); then every
; processor races on shared memory: LOCK XADD on one counter, a spin lock
; (XCHG) around a plain read-increment-write, LOCK ADD on a dword that
; crosses a page and on one that crosses a cache line, a 64-bit counter
; through LOCK CMPXCHG8B; an IPI ping-pong between the BSP and APIC 1; a
; TLB shootdown (the BSP changes a PTE, the others INVLPG on an IPI and
; read the new page).  Totals are printed as "ok" or "BAD <value>", so the
; output depends on N only through the CPU count and the AP lines.
%include "lib.inc"

APIC   equ 0xfee00000
A_ID   equ APIC + 0x20
A_EOI  equ APIC + 0xb0
A_SVR  equ APIC + 0xf0
A_ICRL equ APIC + 0x300
A_ICRH equ APIC + 0x310

TRAMP    equ 0x8000             ; SIPI vector 0x08
AP_STACK equ 0x70000            ; AP n (ticket n): stack top AP_STACK + n * 0x1000 (n <= 15)
PD       equ 0x200000           ; page directory (4 KiB)
PT0      equ 0x201000           ; page table for 0-4 MiB
TVA      equ 0x300000           ; the page a shootdown remaps
PAGE_A   equ 0x310000
PAGE_B   equ 0x320000

V_PING  equ 0x40
V_PONG  equ 0x41
V_SHOOT equ 0x42

XADD_N  equ 1000000
SPIN_N  equ 20000
SPLIT_N equ 50000
C8B_N   equ 50000
PING_N  equ 1000

CMD_XADD   equ 1
CMD_SPIN   equ 2
CMD_SPLIT  equ 3
CMD_C8B    equ 4
CMD_PAGING equ 5
CMD_XMC    equ 6

%macro GATE 2
        mov eax, %1
        mov ebx, %2
        mov edx, 0x8e00
        call set_gate32
%endmacro

; report: eax = got, ebx = want
%macro CHECK 1
        SAY %1
        call check
%endmacro

main:
        GATE V_PING, h_ping
        GATE V_PONG, h_pong
        GATE V_SHOOT, h_shoot
        mov dword [A_SVR], 0x1ff
        mov al, 0x5f
        out 0x70, al
        in al, 0x71
        movzx eax, al
        inc eax
        mov [ncpu], eax
        SAY "smp: cpus="
        mov ecx, 2
        call puthex
        call newline

        ; the trampoline goes below 1 MiB
        mov esi, tramp_start
        mov edi, TRAMP
        mov ecx, tramp_end - tramp_start
        rep movsb
        mov dword [ticket], 1
        cmp dword [ncpu], 1
        je .alone
        mov dword [A_ICRH], 0
        mov dword [A_ICRL], 0x000c4500          ; INIT, all excluding self
        call delay
        mov dword [A_ICRL], 0x000c4600 | (TRAMP >> 12)   ; SIPI
        call delay
        mov dword [A_ICRL], 0x000c4600 | (TRAMP >> 12)   ; second SIPI (ignored by a started AP)
        ; the APs print in ticket order; wait until the last one has
.wait_up:
        pause
        mov eax, [ticket]
        cmp eax, [ncpu]
        jb .wait_up
.alone:
        SAYLN "smp: all processors up"

        mov eax, CMD_XADD
        call run_cmd
        mov eax, [xcount]
        mov ebx, [ncpu]
        imul ebx, ebx, XADD_N
        CHECK "lock xadd: "

        mov eax, CMD_SPIN
        call run_cmd
        mov eax, [scount]
        mov ebx, [ncpu]
        imul ebx, ebx, SPIN_N
        CHECK "spin lock: "

        mov eax, CMD_SPLIT
        call run_cmd
        mov eax, [PAGE_A - 2]
        mov ebx, [ncpu]
        imul ebx, ebx, SPLIT_N
        CHECK "lock add across a page: "
        mov eax, [line_split]
        CHECK "lock add across a line: "

        mov eax, CMD_C8B
        call run_cmd
        mov eax, [c8b]
        mov ebx, [ncpu]
        imul ebx, ebx, C8B_N
        CHECK "lock cmpxchg8b: "
        mov eax, [c8b + 4]
        xor ebx, ebx
        CHECK "lock cmpxchg8b high: "

        ; cross-modifying code: every processor runs xfunc, the BSP rewrites
        ; its immediate, every processor runs it again (the command is the
        ; synchronisation the SDM asks for)
        mov dword [xfunc + 1], 0x11111111
        mov eax, CMD_XMC
        call run_cmd
        mov dword [xfunc + 1], 0x22222222
        mov dword [xmc_ok], 0
        mov eax, CMD_XMC
        call run_cmd
        mov eax, [xmc_ok]
        mov ebx, [ncpu]
        CHECK "cross-modifying code: "

        ; IPI ping-pong with APIC 1
        cmp dword [ncpu], 2
        jb .no_ping
        sti
        xor esi, esi
.ping:  mov dword [A_ICRH], 1 << 24
        mov dword [A_ICRL], V_PING               ; fixed, physical, APIC 1
        inc esi
.pw:    pause
        cmp [pongs], esi
        jb .pw
        cmp esi, PING_N
        jb .ping
        cli
        mov eax, [pings]
        mov ebx, PING_N
        CHECK "ipi ping: "
        mov eax, [pongs]
        CHECK "ipi pong: "
        jmp .ping_done
.no_ping:
        SAYLN "ipi: one processor"
.ping_done:

        ; TLB shootdown
        call build_paging
        mov eax, CMD_PAGING
        call run_cmd
        call paging_on
        mov eax, [TVA]
        mov ebx, 0xaaaaaaaa
        CHECK "tlb before: "
        mov dword [PT0 + (TVA >> 12) * 4], PAGE_B | 3
        invlpg [TVA]
        mov dword [shot], 0
        cmp dword [ncpu], 1
        je .shot_done
        sti
        mov dword [A_ICRL], 0x000c0000 | V_SHOOT  ; fixed, all excluding self
        mov ebx, [ncpu]
        dec ebx
.sw:    pause
        cmp [shot], ebx
        jb .sw
        cli
.shot_done:
        mov eax, [TVA]
        mov ebx, 0xbbbbbbbb
        CHECK "tlb after (bsp): "
        ; every AP read the new page after its INVLPG
        mov ecx, 1
.sc:    cmp ecx, [ncpu]
        jae .sc_done
        mov eax, [seen + ecx * 4]
        mov ebx, 0xbbbbbbbb
        push ecx
        CHECK "tlb after (ap): "
        pop ecx
        inc ecx
        jmp .sc
.sc_done:
        SAYLN "smp: done"
        ret

; check: eax got, ebx want; prints "ok" or "BAD <got>"
check:
        cmp eax, ebx
        jne .bad
        SAYLN "ok"
        ret
.bad:   SAY "BAD "
        call puthex8
        call newline
        ret

; a few microseconds of busy waiting (the INIT/SIPI spacing; emulators need none)
delay:
        mov ecx, 20000
.l:     pause
        dec ecx
        jnz .l
        ret

; run_cmd: eax = command; the APs and the BSP each do it, the BSP waits for all
run_cmd:
        mov dword [done], 0
        mov [cmd], eax
        inc dword [cmd_seq]                     ; the APs look at cmd_seq
        call do_cmd
        mov ebx, [ncpu]
        dec ebx
.w:     pause
        cmp [done], ebx
        jb .w
        ret

; do_cmd: eax = command (any processor)
do_cmd:
        cmp eax, CMD_XADD
        je cmd_xadd
        cmp eax, CMD_SPIN
        je cmd_spin
        cmp eax, CMD_SPLIT
        je cmd_split
        cmp eax, CMD_C8B
        je cmd_c8b
        cmp eax, CMD_PAGING
        je paging_on
        cmp eax, CMD_XMC
        je cmd_xmc
        ret

cmd_xmc:
        call xfunc
        cmp eax, 0x22222222
        jne .old
        lock inc dword [xmc_ok]
.old:   ret

cmd_xadd:
        mov ecx, XADD_N
.l:     mov eax, 1
        lock xadd [xcount], eax
        dec ecx
        jnz .l
        ret

cmd_spin:
        mov ecx, SPIN_N
.l:     mov eax, 1
.acq:   xchg [slock], eax                       ; XCHG with memory: locked
        test eax, eax
        jz .got
.sp:    pause
        cmp dword [slock], 0
        jne .sp
        mov eax, 1
        jmp .acq
.got:   mov eax, [scount]                       ; not atomic: the lock makes it exact
        inc eax
        mov [scount], eax
        mov dword [slock], 0
        dec ecx
        jnz .l
        ret

cmd_split:
        mov ecx, SPLIT_N
.l:     lock add dword [PAGE_A - 2], 1          ; two bytes in each page
        lock add dword [line_split], 1          ; crosses a 64-byte line
        dec ecx
        jnz .l
        ret

cmd_c8b:
        push ebx
        push esi
        mov esi, C8B_N
.l:     mov eax, [c8b]
        mov edx, [c8b + 4]
.retry: mov ebx, eax
        mov ecx, edx
        add ebx, 1
        adc ecx, 0
        lock cmpxchg8b [c8b]
        jnz .retry
        dec esi
        jnz .l
        pop esi
        pop ebx
        ret

; identity paging with 4 MiB pages, 4 KiB pages for 0-4 MiB, TVA -> PAGE_A
build_paging:
        mov edi, PD
        mov eax, 0x83                           ; 4 MiB, RW, present
        mov ecx, 1024
.pd:    mov [edi], eax
        add eax, 0x400000
        add edi, 4
        dec ecx
        jnz .pd
        mov dword [PD], PT0 | 3
        mov edi, PT0
        mov eax, 3
        mov ecx, 1024
.pt:    mov [edi], eax
        add eax, 0x1000
        add edi, 4
        dec ecx
        jnz .pt
        mov dword [PT0 + (TVA >> 12) * 4], PAGE_A | 3
        mov dword [PAGE_A], 0xaaaaaaaa
        mov dword [PAGE_B], 0xbbbbbbbb
        ret

paging_on:
        mov eax, cr4
        or eax, 0x10                            ; PSE
        mov cr4, eax
        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        mov eax, [TVA]                          ; the old mapping is in the TLB now
        ret

; ---------------------------------------------------------------- handlers
h_ping:                                         ; on APIC 1: answer to APIC 0
        inc dword [pings]
        mov dword [A_ICRH], 0
        mov dword [A_ICRL], V_PONG
        mov dword [A_EOI], 0
        iretd
h_pong:                                         ; on the BSP
        inc dword [pongs]
        mov dword [A_EOI], 0
        iretd
h_shoot:
        push eax
        push ebx
        invlpg [TVA]
        mov eax, [TVA]
        mov ebx, [A_ID]
        shr ebx, 24
        mov [seen + ebx * 4], eax
        lock inc dword [shot]
        mov dword [A_EOI], 0
        pop ebx
        pop eax
        iretd

; ---------------------------------------------------------------- APs
        bits 32
ap_main:
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov eax, 1
        lock xadd [stack_no], eax
        inc eax
        shl eax, 12
        add eax, AP_STACK
        mov esp, eax
        lidt [idt32_desc]
        mov dword [A_SVR], 0x1ff
        mov ebx, [A_ID]
        shr ebx, 24                             ; APIC ID
.turn:  pause
        cmp [ticket], ebx
        jne .turn
        SAY "ap "
        mov eax, ebx
        mov ecx, 2
        call puthex
        SAYLN " up"
        inc dword [ticket]
        ; command loop: interrupts on (IPIs), wait for the next command
        mov esi, [cmd_seq]
        sti
.idle:  pause
        cmp [cmd_seq], esi
        je .idle
        mov esi, [cmd_seq]
        mov eax, [cmd]
        push esi
        call do_cmd
        pop esi
        lock inc dword [done]
        jmp .idle

; a page of its own: the code other processors rewrite
        align 4096
xfunc:  mov eax, 0
        ret
        align 4096

; ---------------------------------------------------------------- trampoline
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

        align 64
        times 62 db 0
line_split: dd 0                                ; two bytes in each of two lines
        align 8
c8b:    dd 0, 0
ncpu:   dd 0
ticket: dd 0
stack_no: dd 0
cmd:    dd 0
cmd_seq: dd 0
done:   dd 0
xcount: dd 0
slock:  dd 0
scount: dd 0
pings:  dd 0
pongs:  dd 0
shot:   dd 0
xmc_ok: dd 0
seen:   times 64 dd 0

%include "lib_end.inc"
bss_end:
