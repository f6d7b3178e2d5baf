; SPDX-License-Identifier: MIT
; x87 basics: FNINIT state, control and status words, the register stack
; (TOP in FSW), loads/stores of every size, arithmetic, integer conversion
; with each rounding control, FCOMIP flags, FNSAVE/FRSTOR, #MF for an
; unmasked exception with CR0.NE = 1, FSQRT FRNDINT FPREM FXTRACT FBSTP FBLD
; FISTTP FCOMPP FXAM, and #NM from CR0.TS / CR0.EM / CR0.MP.
%include "lib.inc"

%macro SHOWFPU 1
        fnstsw ax
        movzx eax, ax
        SHOW %1, eax
%endmacro

main:
        SAYLN "x87: start"
        mov eax, cr0
        and eax, ~((1 << 2) | (1 << 3))        ; EM = TS = 0
        or eax, (1 << 1) | (1 << 5)            ; MP, NE
        mov cr0, eax
        fninit
        fnstcw [w]
        movzx eax, word [w]
        SHOW "fcw", eax
        SHOWFPU "fsw"
        call newline
        mov word [w], 0x027f
        fldcw [w]
        fnstcw [w]
        movzx eax, word [w]
        SHOW "fcw after fldcw", eax
        call newline
        fninit
        fld1
        SHOWFPU "fsw one push"
        fld1
        SHOWFPU "two"
        faddp
        SHOWFPU "after faddp"
        fild dword [three]
        fmulp st1, st0
        fistp dword [res]
        SHOW "(1+1)*3", [res]
        SHOWFPU "fsw"
        call newline
        fld qword [d325]
        fadd dword [f15]
        fstp qword [out]
        SHOW "3.25+1.5 hi", [out + 4]
        SHOW "lo", [out]
        call newline
        fld qword [d325]
        fdiv dword [f15]
        fstp tword [out]
        SHOW "3.25/1.5 ext", [out + 6]
        SHOW "", [out + 2]
        movzx eax, word [out]
        SHOW "", eax
        call newline
        ; rounding controls for FISTP: 3.5, 2.5 and -2.5
        mov esi, round_vals
.rv:    cmp dword [esi], 0
        je .rvd
        xor ecx, ecx
.rc:    mov eax, ecx
        shl eax, 10
        or eax, 0x037f & ~0x0c00
        mov [w], ax
        fldcw [w]
        fld dword [esi]
        fistp dword [res]
        mov eax, [res]
        call puthex8
        SAY " "
        inc ecx
        cmp ecx, 4
        jb .rc
        call newline
        add esi, 4
        jmp .rv
.rvd:   fninit
        ; FSUBR, FDIVR, FCHS, FABS, FXCH
        fild dword [three]
        fild dword [ten]
        fsubr st0, st1                         ; 3 - 10
        fistp dword [res]
        SHOW "3-10", [res]
        fild dword [ten]
        fdivr st0, st1                         ; 3 / 10 * 100
        fimul dword [hundred]
        fistp dword [res]
        SHOW "3/10*100", [res]
        fchs
        fistp dword [res]
        SHOW "fchs 3", [res]
        fild dword [three]
        fchs
        fabs
        fild dword [ten]
        fxch
        fistp dword [res]
        SHOW "fxch", [res]
        fistp dword [res]
        call newline
        ; FCOMIP / FUCOMIP flags
        fild dword [three]
        fild dword [ten]
        fcomip st0, st1
        pushfd
        pop eax
        and eax, 0x45
        SHOW "10 vs 3", eax
        fild dword [three]
        fucomip st0, st1
        pushfd
        pop eax
        and eax, 0x45
        SHOW "3 vs 3", eax
        fild dword [ten]
        fxch
        fcomip st0, st1
        pushfd
        pop eax
        and eax, 0x45
        SHOW "3 vs 10", eax
        fninit
        call newline
        ; 64- and 16-bit integer forms
        fild qword [big]
        fiadd word [small]
        fistp qword [out]
        SHOW "big+small hi", [out + 4]
        SHOW "lo", [out]
        call newline
        ; FNSAVE / FRSTOR
        fninit
        fld1
        fild dword [three]
        fnsave [save_area]
        movzx eax, word [save_area]
        SHOW "saved fcw", eax
        movzx eax, word [save_area + 4]
        SHOW "fsw", eax
        movzx eax, word [save_area + 8]
        SHOW "ftw", eax
        SHOWFPU "fsw after fnsave"
        call newline
        frstor [save_area]
        SHOWFPU "fsw after frstor"
        fistp dword [res]
        SHOW "st0", [res]
        fistp dword [res]
        SHOW "st1", [res]
        call newline
        ; FNSTENV / FLDENV: the 28-byte environment; FNSTENV masks every exception
        fninit
        fld1
        mov word [w], 0x360
        fldcw [w]
        fnstenv [save_area]
        movzx eax, word [save_area]
        SHOW "env fcw", eax
        movzx eax, word [save_area + 4]
        SHOW "fsw", eax
        movzx eax, word [save_area + 8]
        SHOW "ftw", eax
        fnstcw [w]
        movzx eax, word [w]
        SHOW "fcw after fnstenv", eax
        fldenv [save_area]
        fnstcw [w]
        movzx eax, word [w]
        SHOW "fcw after fldenv", eax
        fistp dword [res]
        SHOW "st0", [res]
        fninit
        call newline
        ; numeric exceptions: 1/0 with ZE unmasked sets ES and B without a
        ; fault; with CR0.NE = 1 the next waiting instruction raises #MF (16),
        ; the no-wait forms do not; FNCLEX clears the pending exception
        fninit
        mov word [w], 0x37b
        fldcw [w]
        fld1
        fldz
        TRY "fdivp by 0 unmasked", fdivp st1, st0
        SHOWFPU "fsw"
        TRY "fwait pending", fwait
        TRY "fld1 pending", fld1
        TRY "fnstsw pending", fnstsw ax
        TRY "fnclex", fnclex
        TRY "fwait after fnclex", fwait
        SHOWFPU "fsw"
        fninit
        call newline
        ; newer instructions with exactly defined results
        fld qword [d325]
        fsqrt
        fstp tword [out]
        SHOW "sqrt 3.25", [out + 6]
        SHOW "", [out + 2]
        fld qword [d325]
        frndint
        fistp dword [res]
        SHOW "frndint", [res]
        fild dword [ten]
        fild dword [three]
        fxch
        fprem
        fistp dword [res]
        SHOW "10 fprem 3", [res]
        fstp st0
        fld qword [d325]
        fxtract
        fistp dword [res]
        SHOW "fxtract mant*1", [res]
        fistp dword [res]
        SHOW "exp", [res]
        fild dword [hundred]
        fbstp [out]
        SHOW "fbstp 100", [out]
        fbld [out]
        fistp dword [res]
        SHOW "fbld", [res]
        fld qword [d325]
        fisttp dword [res]
        SHOW "fisttp 3.25", [res]
        fldpi
        fld1
        fcompp
        SHOWFPU "fcompp 1 vs pi"
        fldz
        fxam
        SHOWFPU "fxam 0"
        fstp st0
        call newline
        ; #NM
        mov eax, cr0
        or eax, 1 << 3
        mov cr0, eax
        TRY "fld1 ts", fld1
        TRY "fwait ts mp", fwait
        mov eax, cr0
        and eax, ~(1 << 1)
        mov cr0, eax
        TRY "fwait ts no mp", fwait
        clts
        TRY "fld1 after clts", fld1
        mov eax, cr0
        or eax, 1 << 2
        mov cr0, eax
        TRY "fninit em", fninit
        mov eax, cr0
        and eax, ~(1 << 2)
        mov cr0, eax
        fninit
        SAYLN "x87: done"
        ret

        align 8
d325:       dq 3.25
big:        dq 0x123456789a
f15:        dd 1.5
three:      dd 3
ten:        dd 10
hundred:    dd 100
small:      dw -2
            dw 0
round_vals: dd 3.5, 2.5, -2.5, 0.75, 0
res:        dd 0
w:          dd 0
out:        dq 0, 0
save_area:  times 108 db 0

%include "lib_end.inc"
bss_end:
