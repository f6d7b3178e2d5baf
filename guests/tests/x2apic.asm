; SPDX-License-Identifier: MIT
; x2APIC mode (SDM vol. 3, 10.12), 32-bit protected mode: entering it
; through IA32_APIC_BASE.EXTD, the 32-bit ID and the LDR derived from it,
; the version through MSR 0x803, SELF_IPI (0x83F) and the 64-bit ICR (0x830),
; #GP on reads of write-only registers, on reserved bits, on a non-zero EOI
; and on MSRs with no register (DFR), the illegal x2APIC -> xAPIC
; transition, and the reset state after disable -> xAPIC.
; Without CPUID.1:ECX[21] the program prints placeholder lines.
%include "lib.inc"

V_SELF equ 0x40
V_ICR  equ 0x41

%macro WINDOW 0
        sti
        mov ecx, 2000
%%l:    dec ecx
        jnz %%l
        cli
%endmacro

; RDMSR ecx -> eax (edx dropped)
%macro RDMSR 1
        mov ecx, %1
        rdmsr
%endmacro
; WRMSR %1 <- edx:eax = 0:%2
%macro WRMSR 2
        mov ecx, %1
        mov eax, %2
        xor edx, edx
        wrmsr
%endmacro

main:
        SAYLN "x2apic: start"
        mov eax, 1
        cpuid
        bt ecx, 21
        jc .yes
        SAYLN "x2apic: not reported"
        SAYLN "x2apic: skipped 1"
        SAYLN "x2apic: skipped 2"
        SAYLN "x2apic: skipped 3"
        SAYLN "x2apic: skipped 4"
        SAYLN "x2apic: skipped 5"
        SAYLN "x2apic: skipped 6"
        SAYLN "x2apic: skipped 7"
        SAYLN "x2apic: skipped 8"
        SAYLN "x2apic: skipped 9"
        SAYLN "x2apic: skipped 10"
        SAYLN "x2apic: skipped 11"
        jmp .done
.yes:   SAYLN "cpuid x2apic: 1"
        mov eax, V_SELF
        mov ebx, h_self
        mov edx, 0x8e00
        call set_gate32
        mov eax, V_ICR
        mov ebx, h_self
        mov edx, 0x8e00
        call set_gate32

        RDMSR 0x1b
        or eax, 0xc00                   ; EN | EXTD
        wrmsr
        RDMSR 0x1b
        SHOW "base", eax
        RDMSR 0x802
        SHOW "id", eax
        RDMSR 0x80d
        SHOW "ldr", eax
        RDMSR 0x803
        SHOW "version", eax
        call newline

        WRMSR 0x80f, 0x1ff              ; SVR: enable
        WRMSR 0x808, 0                  ; TPR
        WRMSR 0x83f, V_SELF             ; SELF_IPI
        RDMSR 0x822                     ; IRR 0x40-0x5f
        and eax, 1
        SHOW "self-ipi irr", eax
        WINDOW
        SHOW "count", [cnt]
        mov ecx, 0x830                  ; ICR: fixed, physical, destination 0 (this vCPU)
        mov eax, 0x4000 | V_ICR
        xor edx, edx
        wrmsr
        WINDOW
        SHOW "icr count", [cnt]
        RDMSR 0x830
        SHOW "icr", eax
        call newline

        mov ecx, 0x80b
        TRY "rdmsr eoi", rdmsr
        mov ecx, 0x83f
        TRY "rdmsr self-ipi", rdmsr
        mov ecx, 0x80e
        TRY "rdmsr dfr", rdmsr
        mov ecx, 0x80b
        mov eax, 1
        xor edx, edx
        TRY "wrmsr eoi 1", wrmsr
        mov ecx, 0x808
        mov eax, 0x100
        TRY "wrmsr tpr reserved", wrmsr
        mov ecx, 0x802
        mov eax, 5
        TRY "wrmsr id", wrmsr
        mov ecx, 0x80b
        xor eax, eax
        TRY "wrmsr eoi 0", wrmsr

        ; x2APIC -> xAPIC directly is illegal
        RDMSR 0x1b
        and eax, ~0x400
        TRY "x2apic to xapic", wrmsr
        ; through disabled: the xAPIC comes back in its reset state
        RDMSR 0x1b
        and eax, ~0xc00
        wrmsr
        or eax, 0x800
        wrmsr
        RDMSR 0x1b
        SHOW "base", eax
        mov eax, [0xfee000f0]
        SHOW "svr", eax
        mov eax, [0xfee00020]
        SHOW "id", eax
        call newline
.done:  SAYLN "x2apic: done"
        ret

h_self:
        push eax
        push ecx
        push edx
        inc dword [cnt]
        WRMSR 0x80b, 0                  ; EOI
        pop edx
        pop ecx
        pop eax
        iretd

        align 4
cnt:    dd 0

%include "lib_end.inc"
bss_end:
