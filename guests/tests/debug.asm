; SPDX-License-Identifier: MIT
; Debug exceptions: single-step traps with TF (which instructions trap,
; saved EIP, DR6.BS), the MOV SS and POP SS shadows that suppress the trap,
; an instruction breakpoint in DR0 (fault, DR6.B0, resumed with RF), INT3
; and INT1 under single-step.
%include "lib.inc"

main:
        SAYLN "debug: start"
        mov eax, 1
        mov ebx, db_handler
        mov edx, 0x8e00
        call set_gate32

        ; single-step six instructions
        call db_reset
        pushfd
        or dword [esp], 0x100
        popfd
ss_base:
        nop
        mov eax, 5
        add eax, eax
        pushfd
        and dword [esp], ~0x100
        popfd
        mov ebx, ss_base
        SAYLN "single-step:"
        call db_show

        ; MOV SS: no trap after it, the next instruction traps
        call db_reset
        mov ax, ss
        pushfd
        or dword [esp], 0x100
        popfd
movss_base:
        mov ss, ax
        nop
        nop
        pushfd
        and dword [esp], ~0x100
        popfd
        mov ebx, movss_base
        SAYLN "mov ss shadow:"
        call db_show

        ; POP SS likewise
        call db_reset
        push ss
        pushfd
        or dword [esp], 0x100
        popfd
popss_base:
        pop ss
        nop
        pushfd
        and dword [esp], ~0x100
        popfd
        mov ebx, popss_base
        SAYLN "pop ss shadow:"
        call db_show

        ; TF is visible in the pushed flags; a trap after the POPF that clears it
        call db_reset
        pushfd
        or dword [esp], 0x100
        popfd
        pushfd
        pop eax
        and eax, 0x100
        mov [tf_seen], eax
        pushfd
        and dword [esp], ~0x100
        popfd
        nop
        SHOW "pushed tf", [tf_seen]
        SHOW "traps", [db_count]
        call newline

        ; DR0 instruction breakpoint: a fault before the instruction runs
        call db_reset
        mov eax, bp_target
        mov dr0, eax
        mov eax, 0x401                  ; L0, RW0=00 (execute), LEN0=00
        mov dr7, eax
        mov ecx, 0
bp_target:
        inc ecx
        inc ecx
        xor eax, eax
        mov dr7, eax
        mov ebx, bp_target
        SAYLN "dr0 execute breakpoint:"
        call db_show
        SHOW "ecx", ecx
        mov eax, dr7
        SHOW "dr7", eax
        call newline

        ; a breakpoint that is not enabled does nothing
        call db_reset
        mov eax, bp_target2
        mov dr1, eax
        mov eax, 0x400 | (0 << 2)
        mov dr7, eax
bp_target2:
        nop
        SHOW "disabled bp traps", [db_count]
        call newline
        xor eax, eax
        mov dr7, eax

        ; DR1 data breakpoint on a 4-byte variable: write-only, then read/write
        call db_reset
        mov eax, watched
        mov dr1, eax
        mov eax, 0x400 | (1 << 2) | (0x1 << 20) | (0x3 << 22)
        mov dr7, eax
dbw_base:
        mov eax, [watched]              ; read: no trap with R/W = 01
        mov dword [watched + 2], 7      ; overlaps bytes 2-3: trap after it
        mov byte [watched + 4], 1       ; outside: no trap
        mov eax, 0x400 | (1 << 2) | (0x3 << 20) | (0x3 << 22)
        mov dr7, eax
        mov eax, [watched]              ; read: trap with R/W = 11
        xor eax, eax
        mov dr7, eax
        mov ebx, dbw_base
        SAYLN "dr1 data breakpoint:"
        call db_show

        ; DR4/DR5 alias DR6/DR7 while CR4.DE = 0, #UD with CR4.DE = 1
        TRY "mov eax dr4 de0", mov eax, dr4
        mov eax, cr4
        or eax, 1 << 3
        mov cr4, eax
        TRY "mov eax dr4 de1", mov eax, dr4
        mov eax, cr4
        and eax, ~(1 << 3)
        mov cr4, eax
        SAYLN "debug: done"
        ret

db_reset:
        mov dword [db_count], 0
        push eax
        xor eax, eax
        mov dr6, eax
        pop eax
        ret

; print every recorded trap: "  #N eip=+OFF dr6=XXXX" relative to ebx
db_show:
        pushad
        xor esi, esi
.l:     cmp esi, [db_count]
        jae .d
        SAY "  #"
        mov eax, esi
        call puthex2
        SAY " eip=+"
        mov eax, [db_eips + esi * 4]
        sub eax, ebx
        call puthex2
        SAY " dr6="
        mov eax, [db_dr6s + esi * 4]
        and eax, 0xe00f
        call puthex4
        call newline
        inc esi
        jmp .l
.d:     SHOW "  count", [db_count]
        call newline
        popad
        ret

db_handler:
        push eax
        push ebx
        push ds
        mov ax, SEL_DATA32
        mov ds, ax
        mov ebx, [db_count]
        cmp ebx, 16
        jae .full
        mov eax, [esp + 12]
        mov [db_eips + ebx * 4], eax
        mov eax, dr6
        mov [db_dr6s + ebx * 4], eax
        inc dword [db_count]
.full:  xor eax, eax
        mov dr6, eax
        or dword [esp + 20], 0x10000    ; RF: do not hit the breakpoint again
        pop ds
        pop ebx
        pop eax
        iretd

        align 4
db_count:   dd 0
watched:    dd 0, 0
tf_seen:    dd 0
db_eips:    times 16 dd 0
db_dr6s:    times 16 dd 0

%include "lib_end.inc"
bss_end:
