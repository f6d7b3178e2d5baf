; SPDX-License-Identifier: MIT
; Guest programs of the PC-platform interrupt benchmark (bench_platform.c):
; one source, one image per variant (nasm -DVARIANT=n).  Each image runs
; unchanged on v3vm and on QEMU (multiboot, 32-bit protected mode, lib.inc),
; prints one result line on COM1 and exits through isa-debug-exit.
;
;   0 empty     start and exit (the startup cost of the emulator)
;   1 oneshot   N one-shot LAPIC timer interrupts with an initial count of 1
;               (divide by 1), re-armed from the handler after its EOI
;   2 control   the same handler body (TSC reads, EOI, re-arm) run N times
;               as a loop, LVT timer masked: no interrupt is delivered
;   3 loop      a compute loop of LOOP_ITERS iterations, no timer
;   4 periodic  the same loop under the LAPIC timer in periodic mode,
;               initial count 100,000 at divide by 1 (10 kHz on a 1 GHz bus),
;               the handler counts and EOIs
;   5 pit       the same loop under PIT counter 0 in mode 2, divisor 119
;               (10.03 kHz), IRQ 0 through the 8259 (vector 0x20), the
;               handler counts and sends a non-specific EOI
;
; Result line: "r=<variant> n=<interrupts> t=<TSC ticks of the measured
; part, hex16> lat=<sum over interrupts of the TSC ticks from the re-arm
; write to the handler's first instruction, hex16>"
%include "lib.inc"

%ifndef VARIANT
%define VARIANT 0
%endif

APIC   equ 0xfee00000
A_EOI  equ APIC + 0xb0
A_SVR  equ APIC + 0xf0
A_LVTT equ APIC + 0x320
A_TICR equ APIC + 0x380
A_TDCR equ APIC + 0x3e0

V_TIMER equ 0x50
V_PIT   equ 0x20
N_ONESHOT  equ 100000
LOOP_ITERS equ 20000000

; 64-bit TSC into edx:eax, stored at %1
%macro TSC_TO 1
        rdtsc
        mov [%1], eax
        mov [%1 + 4], edx
%endmacro

; the one-shot handler's work after its first instruction (rdtsc): add the
; ticks since the re-arm to lat, EOI, count, re-arm unless N are done
%macro ONESHOT_BODY 0
        sub eax, [arm]
        sbb edx, [arm + 4]
        add [lat], eax
        adc [lat + 4], edx
        mov dword [A_EOI], 0
        inc dword [cnt]
        cmp dword [cnt], N_ONESHOT
        jae %%done
        TSC_TO arm
        mov dword [A_TICR], 1
%%done:
%endmacro

; the compute loop (5 instructions per iteration)
%macro COMPUTE 0
        mov ecx, LOOP_ITERS
        mov ebx, 7
%%l:    add eax, ebx
        xor edx, eax
        sub ebx, 3
        dec ecx
        jnz %%l
%endmacro

main:
%if VARIANT == 1 || VARIANT == 2 || VARIANT == 4
        mov eax, V_TIMER
        mov ebx, h_timer
        mov edx, 0x8e00
        call set_gate32
        mov dword [A_SVR], 0x1ff        ; software enable, spurious vector 0xff
        mov dword [A_TDCR], 0xb         ; divide by 1
%endif

%if VARIANT == 1
        mov dword [A_LVTT], V_TIMER     ; one-shot, unmasked
        TSC_TO t0
        sti
        TSC_TO arm
        mov dword [A_TICR], 1
.wait:  cmp dword [cnt], N_ONESHOT
        jb .wait
        cli
        TSC_TO t1
%elif VARIANT == 2
        mov dword [A_LVTT], 0x10000 | V_TIMER   ; masked
        TSC_TO t0
        TSC_TO arm
        mov dword [A_TICR], 1
.loop:  rdtsc
        ONESHOT_BODY
        cmp dword [cnt], N_ONESHOT
        jb .loop
        TSC_TO t1
%elif VARIANT == 3
        TSC_TO t0
        COMPUTE
        TSC_TO t1
%elif VARIANT == 4
        mov dword [A_LVTT], 0x20000 | V_TIMER   ; periodic
        mov dword [A_TICR], 100000
        sti
        TSC_TO t0
        COMPUTE
        TSC_TO t1
        cli
        mov dword [A_LVTT], 0x10000 | V_TIMER
        mov dword [A_TICR], 0
%elif VARIANT == 5
        mov eax, V_PIT
        mov ebx, h_pit
        mov edx, 0x8e00
        call set_gate32
        mov al, 0x11                    ; 8259 pair: edge, cascade, ICW4
        out 0x20, al
        out 0xa0, al
        mov al, V_PIT
        out 0x21, al
        mov al, 0x28
        out 0xa1, al
        mov al, 4
        out 0x21, al
        mov al, 2
        out 0xa1, al
        mov al, 1
        out 0x21, al
        out 0xa1, al
        mov al, 0xfe                    ; only IRQ 0
        out 0x21, al
        mov al, 0xff
        out 0xa1, al
        mov al, 0x34                    ; counter 0, lobyte/hibyte, mode 2
        out 0x43, al
        mov al, 119
        out 0x40, al
        xor al, al
        out 0x40, al
        sti
        TSC_TO t0
        COMPUTE
        TSC_TO t1
        cli
        mov al, 0xff
        out 0x21, al
%endif

        SAY "r="
        mov eax, VARIANT
        call puthex2
        SHOW " n", [cnt]
        SAY "t="
        mov eax, [t1]
        mov edx, [t1 + 4]
        sub eax, [t0]
        sbb edx, [t0 + 4]
        xchg eax, edx
        call puthex8
        mov eax, edx
        call puthex8
        SAY " lat="
        mov eax, [lat + 4]
        call puthex8
        mov eax, [lat]
        call puthex8
        call newline
        ret

h_timer:
%if VARIANT == 1
        push eax
        push edx
        rdtsc
        ONESHOT_BODY
        pop edx
        pop eax
%else
        mov dword [A_EOI], 0
        inc dword [cnt]
%endif
        iretd

h_pit:
        push eax
        mov al, 0x20
        out 0x20, al
        inc dword [cnt]
        pop eax
        iretd

%include "lib_end.inc"
; the variables live in zeroed memory on a page of their own: a store to
; the page holding the code would cost both emulators a retranslation
        alignb 4096
t0:     resq 1
t1:     resq 1
arm:    resq 1
lat:    resq 1
cnt:    resd 1
        alignb 4096
bss_end:
