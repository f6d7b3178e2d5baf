; SPDX-License-Identifier: MIT
; Local APIC and IOAPIC (xAPIC mode, 32-bit protected mode, paging off):
; version and IA32_APIC_BASE, self-IPI, TPR masking and PPR, ISR nesting of
; a higher vector inside a lower one's handler, EOI, the timer in one-shot,
; periodic and TSC-deadline modes (interrupts counted, never time), software
; disable (LVTs masked and kept masked), ESR.  The IOAPIC is ioapic.asm.
%include "lib.inc"

%include "apic.inc"

main:
        SAYLN "apic: start"
        GATE V_SELF, h_self
        GATE V_LOW, h_low
        GATE V_TPR, h_tpr
        GATE V_TIMER, h_timer
        GATE V_HIGH, h_high
        GATE V_SPUR, h_spur

        mov ecx, 0x1b
        rdmsr
        and eax, 0xfffff900
        SHOW "apic base", eax
        mov eax, [A_VER]
        SHOW "version", eax
        call newline
        mov eax, 1
        cpuid
        mov eax, ecx
        shr eax, 24
        and eax, 1
        SHOW "cpuid tsc-deadline", eax
        mov eax, edx
        shr eax, 9
        and eax, 1
        SHOW "apic", eax
        call newline

        ; software enable, spurious vector 0xff
        mov dword [A_SVR], 0x1ff
        mov eax, [A_SVR]
        SHOW "svr", eax
        mov dword [A_TPR], 0
        mov eax, [A_PPR]
        SHOW "ppr", eax
        call newline

        ; ---------------------------------------------------------- self-IPI
        mov dword [A_ICRL], 0x00044000 | V_SELF
        mov eax, [A_IRR + 0x20]         ; vectors 0x40-0x5f
        and eax, 1
        SHOW "self-ipi irr", eax
        mov eax, [A_ICRL]
        and eax, 0x000cdfff             ; without delivery status
        SHOW "icr", eax
        WINDOW
        SHOW "count", [cnt_self]
        mov eax, [A_ISR + 0x20]
        SHOW "isr after eoi", eax
        call newline

        ; ---------------------------------------------------------- TPR
        mov dword [A_TPR], 0x50
        mov eax, [A_PPR]
        SHOW "tpr 50 ppr", eax
        mov dword [A_ICRL], 0x00044000 | V_TPR
        WINDOW
        SHOW "count", [cnt_tpr]
        mov dword [A_TPR], 0x4f
        WINDOW
        SHOW "tpr 4f count", [cnt_tpr]
        mov dword [A_TPR], 0x3f
        WINDOW
        SHOW "tpr 3f count", [cnt_tpr]
        call newline
        mov dword [A_TPR], 0

        ; ---------------------------------------------------------- nesting
        mov dword [A_ICRL], 0x00044000 | V_LOW
        WINDOW
        mov esi, nest_log
        SAY "nesting: "
        call puts
        call newline
        SHOW "isr in high", [isr_in_high]
        SHOW "ppr in high", [ppr_in_high]
        SHOW "ppr in low", [ppr_in_low]
        call newline
        mov eax, [A_ISR + 0x20]
        or eax, [A_ISR + 0x30]
        SHOW "isr after", eax
        mov eax, [A_PPR]
        SHOW "ppr", eax
        call newline

        ; ---------------------------------------------------------- ESR
        mov dword [A_ESR], 0
        mov dword [A_ICRL], 0x00044000 | 5      ; illegal vector 5 to self
        mov eax, [A_ESR]
        SHOW "esr before write", eax
        mov dword [A_ESR], 0
        mov eax, [A_ESR]
        SHOW "esr", eax
        mov dword [A_ESR], 0
        mov eax, [A_ESR]
        SHOW "esr again", eax
        ; an illegal vector is not delivered (QEMU delivers it: catch it as vector 5)
        mov dword [exc_vec], -1
        mov dword [resume], .r5
        WINDOW
.r5:    cli
        mov dword [resume], 0
        xor eax, eax
        cmp dword [exc_vec], 5
        jne .n5
        mov dword [A_EOI], 0
        inc eax
.n5:    SHOW "delivered", eax
        call newline

        ; ---------------------------------------------------------- timer one-shot
        mov dword [A_TDCR], 0xb          ; divide by 1
        mov dword [A_LVTT], V_TIMER      ; one-shot, unmasked
        mov dword [A_TICR], 0xffffffff   ; about 4 s: still running when read back
        mov eax, [A_TCCR]
        test eax, eax
        setnz al
        movzx eax, al
        SHOW "oneshot running", eax
        mov dword [A_TICR], 100000       ; restart with 100 us
        sti
        mov eax, 1
        call wait_timer
        mov ecx, 200000                  ; twice as long as the period: no second one
.os:    dec ecx
        jnz .os
        call wait_ccr_zero
        cli
        SHOW "count", [cnt_timer]
        mov eax, [A_TCCR]
        SHOW "ccr", eax
        call newline

        ; ---------------------------------------------------------- timer periodic
        mov dword [cnt_timer], 0
        mov dword [A_TDCR], 0x0          ; divide by 2
        mov eax, [A_TDCR]
        SHOW "dcr", eax
        mov dword [A_LVTT], V_TIMER | (1 << 17) | (1 << 16)    ; periodic, masked
        mov dword [A_TICR], 0xffffffff
        mov eax, [A_TCCR]
        mov ebx, eax
        mov ecx, 1000
.pd:    dec ecx
        jnz .pd
        mov eax, [A_TCCR]
        cmp eax, ebx
        setb al
        movzx eax, al
        SHOW "ccr counts down", eax
        mov dword [timer_limit], 3       ; the handler stops the timer at the third
        mov dword [A_LVTT], V_TIMER | (1 << 17)
        mov dword [A_TICR], 50000
        sti
        mov eax, 3
        call wait_timer
        cli
        WINDOW                           ; an expiry pending at the stop is not counted
        mov dword [timer_limit], 0
        mov eax, [A_TCCR]
        SHOW "periodic reached", [cnt_timer]
        SHOW "ccr", eax
        call newline
        mov dword [cnt_timer], 0
        WINDOW
        SHOW "after stop", [cnt_timer]
        ; HLT sleeps until the one-shot timer wakes it (1 ms)
        mov dword [A_LVTT], V_TIMER
        mov dword [A_TDCR], 0xb
        mov dword [A_TICR], 1000000
        sti
        hlt
        cli
        SHOW "hlt woken by timer", [cnt_timer]
        call newline

        ; ---------------------------------------------------------- TSC deadline
        call tsc_deadline_test

        ; ---------------------------------------------------------- software disable
        mov dword [A_LVTT], V_TIMER
        mov dword [A_SVR], 0x0ff
        mov eax, [A_LVTT]
        SHOW "disabled lvtt", eax
        mov eax, [A_LVTE]
        SHOW "lvte", eax
        mov dword [A_LVTT], V_TIMER
        mov eax, [A_LVTT]
        SHOW "write unmasked", eax
        call newline
        mov dword [A_SVR], 0x1ff
        mov eax, [A_LVTT]
        SHOW "enabled again lvtt", eax
        mov eax, [A_SVR]
        SHOW "svr", eax
        call newline

        SAYLN "apic: done"
        ret

tsc_deadline_test:
        mov dword [cnt_timer], 0
        mov eax, 1
        cpuid
        bt ecx, 24
        jc .yes
        SAYLN "tsc-deadline: not reported"
        SAYLN "tsc-deadline: skipped"
        ret
.yes:
        mov dword [A_LVTT], V_TIMER | (2 << 17)
        mov eax, [A_LVTT]
        SHOW "lvt tsc-deadline", eax
        rdtsc
        add eax, 200000
        adc edx, 0
        mov ecx, 0x6e0
        wrmsr
        rdmsr
        or eax, edx
        setnz al
        movzx eax, al
        SHOW "armed", eax
        sti
        mov eax, 1
        call wait_timer
        cli
        SHOW "count", [cnt_timer]
        mov ecx, 0x6e0
        rdmsr
        SHOW "deadline after", eax
        call newline
        ; a deadline in the past fires at once
        rdtsc
        sub eax, 1000
        sbb edx, 0
        mov ecx, 0x6e0
        wrmsr
        WINDOW
        SHOW "past deadline count", [cnt_timer]
        ; leaving TSC-deadline mode disarms the timer
        rdtsc
        add eax, 100000
        adc edx, 0
        mov ecx, 0x6e0
        wrmsr
        mov dword [A_LVTT], V_TIMER | 0x10000
        mov ecx, 0x6e0
        rdmsr
        SHOW "msr after mode change", eax
        call newline

        ret

; wait until [cnt_timer] >= eax (IF=1), or print a timeout
wait_timer:
        mov ecx, 100000000
.l:     cmp [cnt_timer], eax
        jae .ok
        dec ecx
        jnz .l
        SAYLN "timer: timeout"
.ok:    ret

wait_ccr_zero:
        mov ecx, 100000000
.l:     cmp dword [A_TCCR], 0
        je .ok
        dec ecx
        jnz .l
        SAYLN "ccr: timeout"
.ok:    ret

; ---------------------------------------------------------------- handlers
h_self:
        inc dword [cnt_self]
        mov dword [A_EOI], 0
        iretd
h_tpr:
        inc dword [cnt_tpr]
        mov dword [A_EOI], 0
        iretd
h_timer:
        push eax
        mov eax, [timer_limit]
        test eax, eax
        jz .inc
        cmp [cnt_timer], eax
        jae .go                          ; one that was already pending when it stopped
.inc:   inc dword [cnt_timer]
        mov eax, [cnt_timer]
        cmp eax, [timer_limit]
        jne .go
        mov dword [A_TICR], 0            ; limit reached: stop a periodic timer
.go:    mov dword [A_EOI], 0
        pop eax
        iretd
h_spur:
        inc dword [cnt_spur]
        iretd
h_low:
        pushad
        call nest_L
        mov eax, [A_PPR]
        mov [ppr_in_low], eax
        mov dword [A_ICRL], 0x00044000 | V_HIGH
        sti
        mov ecx, 2000
.l:     dec ecx
        jnz .l
        cli
        mov al, 'l'
        call nest_put
        mov dword [A_EOI], 0
        popad
        iretd
h_high:
        pushad
        mov al, 'H'
        call nest_put
        mov eax, [A_ISR + 0x20]
        and eax, 2                      ; 0x41
        mov ebx, [A_ISR + 0x30]
        and ebx, 2                      ; 0x61
        shl ebx, 4
        or eax, ebx
        mov [isr_in_high], eax
        mov eax, [A_PPR]
        mov [ppr_in_high], eax
        mov al, 'h'
        call nest_put
        mov dword [A_EOI], 0
        popad
        iretd
nest_L:
        mov al, 'L'
nest_put:
        push edi
        mov edi, [nest_pos]
        mov [nest_log + edi], al
        inc dword [nest_pos]
        pop edi
        ret

        align 4
cnt_self:   dd 0
cnt_tpr:    dd 0
cnt_timer:  dd 0
timer_limit: dd 0
cnt_spur:   dd 0
isr_in_high: dd 0
ppr_in_high: dd 0
ppr_in_low: dd 0
nest_pos:   dd 0
nest_log:   times 16 db 0

%include "lib_end.inc"
bss_end:
