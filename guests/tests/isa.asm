; SPDX-License-Identifier: MIT
; Instruction-set conformance of the CPU model, at CPL 0 and CPL 3: the
; instructions whose answer depends on what CPUID reports (SALC, CLAC/STAC,
; XGETBV/XSETBV/XSAVE/XRSTOR, RDRAND, hint-space NOPs) and those a CPU
; without the feature rejects (VMX, SVM with EFER.SVME = 0, GETSEC, RSM,
; TSX, VEX with XCR0.AVX = 0).  Each line: result or vector + error code.
%include "lib.inc"

USER_STACK equ 0x70000
KSTACK0    equ 0x80000

; the checks shared by both privilege levels
%macro COMMON 0
        stc
        mov eax, 0x11223344
        TRY "salc cf=1", salc
        SHOW "eax", eax
        call newline
        TRY "stac", stac
        TRY "clac", clac
        xor ecx, ecx
        TRY "xgetbv 0", xgetbv
        SHOW "xcr0", eax
        call newline
        mov ecx, 1
        TRY "xgetbv 1", xgetbv
        xor ecx, ecx
        mov eax, 3
        xor edx, edx
        TRY "xsetbv 3", xsetbv
        mov eax, 3
        xor edx, edx
        mov ebx, xarea
        TRY "xsave aligned", xsave [ebx]
        mov eax, [xarea + 512]
        and eax, 3
        SHOW "xstate_bv", eax
        call newline
        mov ebx, xarea + 16
        TRY "xsave misaligned", xsave [ebx]
        mov ebx, xarea
        TRY "xrstor", xrstor [ebx]
        mov dword [xarea + 520], 1
        TRY "xrstor xcomp_bv", xrstor [ebx]
        mov dword [xarea + 520], 0
        TRY "rdrand", call rdrand_cf
        SHOW "cf", [rd_cf]
        call newline
        mov eax, xarea
        TRY "bndmk", bndmk bnd0, [eax]
        TRY "cldemote", cldemote [eax]
        TRY "endbr32", endbr32
        TRY "vmxon", vmxon [eax]
        TRY "vmcall", vmcall
        TRY "vmrun", vmrun
        TRY "stgi", stgi
        TRY "getsec", getsec
        TRY "rsm", rsm
        TRY "xbegin", xbegin $+6
        TRY "xtest", xtest
        TRY "vaddps", vaddps xmm0, xmm1, xmm2
        TRY "ud0", ud0 eax, [eax]
%endmacro

main:
        SAYLN "isa: start"
        ; TSS with the ring-0 stack for ring 3
        mov dword [tss32 + 4], KSTACK0
        mov dword [tss32 + 8], SEL_DATA32
        mov word [tss32 + 0x66], 0x68
        mov eax, tss32
        mov ebx, 0x67
        mov ecx, 0x089
        call build_desc
        mov edi, SEL_TSS
        call set_desc
        mov ax, SEL_TSS
        ltr ax
        mov eax, 0x30
        mov ebx, ring3_exit
        mov edx, 0xee00
        call set_gate32

        SAYLN "cr4.osxsave=0"
        xor ecx, ecx
        TRY "xgetbv no osxsave", xgetbv
        mov ebx, xarea
        mov eax, 3
        xor edx, edx
        TRY "xsave no osxsave", xsave [ebx]
        ; OSFXSR | OSXSAVE
        mov eax, cr4
        or eax, (1 << 9) | (1 << 18)
        mov cr4, eax
        mov eax, 1
        cpuid
        shr ecx, 27
        and ecx, 1
        SHOW "cpuid osxsave", ecx
        call newline
        xor ecx, ecx
        xor eax, eax
        xor edx, edx
        TRY "xsetbv 0", xsetbv
        mov eax, 5
        TRY "xsetbv avx without sse", xsetbv
        mov eax, 0x80000003
        TRY "xsetbv bit 31", xsetbv
        mov ecx, 1
        mov eax, 3
        TRY "xsetbv ecx=1", xsetbv

        SAYLN "cpl0"
        COMMON
        SAYLN "cpl3"
        mov eax, ring3
        mov ebx, 0x3002                 ; IOPL 3: the serial port from ring 3
        call to_ring3
        SAYLN "isa: done"
        ret

ring3:
        COMMON
        int 0x30

; to_ring3: eax = entry, ebx = eflags; returns when ring 3 does int 0x30
to_ring3:
        mov [kesp], esp
        mov cx, SEL_UDATA32
        mov ds, cx
        mov es, cx
        mov fs, cx
        mov gs, cx
        push dword SEL_UDATA32
        push dword USER_STACK
        push ebx
        push dword SEL_UCODE32
        push eax
        iretd

ring3_exit:
        mov ax, SEL_DATA32
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov esp, [kesp]
        ret

; rdrand_cf: RDRAND, CF to [rd_cf]
rdrand_cf:
        mov dword [rd_cf], 0
        rdrand eax
        setc [rd_cf]
        ret

kesp:   dd 0
rd_cf:  dd 0

%include "lib_end.inc"
        alignb 64
xarea:  resb 1024
tss32:  resb 0x68
bss_end:
