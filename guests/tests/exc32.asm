; SPDX-License-Identifier: MIT
; 32-bit protected mode exceptions: vector, error code and saved EIP (fault
; vs trap) of #DE #DB(INT1) #BP #OF #BR #UD #NP #SS #GP #PF, IDT gate
; privilege, double fault, CR2 and #PF error codes.
%include "lib.inc"

main:
        SAYLN "exc32: start"
        xor ecx, ecx
        TRY "de div", div ecx
        mov eax, 0x80000000
        cdq
        mov ecx, -1
        TRY "de idiv overflow", idiv ecx
        TRY "bp int3", int3
        TRY "bp int 3", int 3
        TRY "db int1", int1
        mov eax, 0x7fffffff
        add eax, 1
        TRY "of into", into
        mov eax, 5
        TRY "br bound in range", bound eax, [bounds]
        mov eax, 2
        TRY "br bound below", bound eax, [bounds]
        TRY "ud ud2", ud2
        TRY "ud lock nop", db 0xf0, 0x90
        TRY "gp int 0x80 no gate", int 0x80

        ; segment register loads
        mov ax, 0x1234 & 0xfff8
        TRY "gp ds beyond gdt", mov ds, ax
        mov ax, SEL_CODE64 & ~7
        mov ax, SEL_TSS
        TRY "gp ds system desc", mov ds, ax
        mov ax, SEL_DATA32 | 3
        TRY "gp ss rpl", mov ss, ax
        mov ax, SEL_CODE32
        TRY "gp ss code", mov ss, ax
        mov ax, SEL_UDATA32
        TRY "gp ss dpl", mov ss, ax
        xor ax, ax
        TRY "gp ss null", mov ss, ax
        TRY "ok es null", mov es, ax
        mov ax, SEL_DATA32
        mov es, ax
        ; execute-only code segment in DS
        mov edi, SEL_SPARE0
        mov eax, 0x0000ffff
        mov edx, 0x00cf9800
        call set_desc
        mov ax, SEL_SPARE0
        TRY "gp ds exec-only", mov ds, ax
        ; not present data segment
        mov edi, SEL_SPARE1
        mov eax, 0x0000ffff
        mov edx, 0x00cf1200
        call set_desc
        mov ax, SEL_SPARE1
        TRY "np ds", mov es, ax
        TRY "ss ss not present", mov ss, ax
        mov ax, SEL_DATA32
        mov es, ax
        ; readable code segment in DS is fine
        mov edi, SEL_SPARE2
        mov eax, 0x0000ffff
        mov edx, 0x00cf9a00
        call set_desc
        mov ax, SEL_SPARE2
        TRY "ok fs readable code", mov fs, ax
        mov ax, SEL_DATA32
        mov fs, ax
        ; write to a read-only data segment
        mov edi, SEL_SPARE3
        mov eax, 0x0000ffff
        mov edx, 0x00cf9000
        call set_desc
        mov ax, SEL_SPARE3
        mov fs, ax
        TRY "gp write ro seg", mov dword [fs:0x1000], 1
        TRY "ok read ro seg", mov eax, [fs:0x1000]
        mov ax, SEL_DATA32
        mov fs, ax
        ; accessed bit set by a load
        mov eax, [gdt + SEL_SPARE2 + 4]
        SHOW "spare2 access byte", eax
        call newline

        ; privileged instruction checks are in ring3; far jump to a null selector
        TRY "gp jmp far null", jmp 0:0

        ; IDT: not-present gate gives #NP(vec*8+2+ext)
        mov eax, 0x40
        mov ebx, isr0
        mov edx, 0x0e00
        call set_gate32
        TRY "np int 0x40", int 0x40
        ; a DPL3 gate is fine at CPL0; it reports as #BP-like trap via vector 3
        mov eax, 0x41
        mov ebx, soft41
        mov edx, 0xee00
        call set_gate32
        mov dword [soft_count], 0
        int 0x41
        SHOW "int 0x41 count", [soft_count]
        call newline
        ; interrupt gate clears IF, trap gate keeps it
        mov eax, 0x42
        mov ebx, flags_probe
        mov edx, 0x8e00
        call set_gate32
        mov eax, 0x43
        mov ebx, flags_probe
        mov edx, 0x8f00
        call set_gate32
        pushfd
        or dword [esp], 0x200 | 0x100
        and dword [esp], ~0x100
        popfd
        int 0x42
        SHOW "intgate if", [probe_if]
        int 0x43
        SHOW "trapgate if", [probe_if]
        cli
        call newline

        call paging_tests
        call df_test
        SAYLN "exc32: done"
        ret

soft41:
        inc dword [soft_count]
        iretd
flags_probe:
        pushfd
        pop eax
        and eax, 0x200
        mov [probe_if], eax
        iretd

; ---------------------------------------------------------------- paging
paging_tests:
        ; identity map 0-4 MiB with 4 KiB pages
        mov edi, ptab
        mov eax, 0x003
        mov ecx, 1024
.l:     mov [edi], eax
        add eax, 0x1000
        add edi, 4
        loop .l
        mov eax, ptab
        or eax, 0x007
        mov [pdir], eax
        ; user-accessible page table entries for the test pages
        mov dword [ptab + 0x300 * 4], 0x300000          ; not present
        mov dword [ptab + 0x301 * 4], 0x301000 | 0x005  ; read-only, user
        mov dword [ptab + 0x302 * 4], 0x302000 | 0x003  ; supervisor rw
        mov dword [ptab + 0x303 * 4], 0x303000 | 0x007  ; user rw
        mov eax, pdir
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        SAYLN "paging on"
        TRY "pf read np", mov eax, [0x300010]
        SHOW "cr2", cr2
        call newline
        TRY "pf write np", mov dword [0x300ffc], 1
        SHOW "cr2", cr2
        call newline
        TRY "ok write ro wp0", mov dword [0x301000], 1
        mov eax, cr0
        or eax, 1 << 16
        mov cr0, eax
        TRY "pf write ro wp1", mov dword [0x301008], 1
        SHOW "cr2", cr2
        call newline
        ; a write straddling into a not-present page: CR2 is the first byte
        ; of the faulting page
        TRY "pf straddle", mov dword [0x2ffffe], 0x11223344
        SHOW "cr2", cr2
        mov eax, [0x2ffffc]
        SHOW "before", eax
        call newline
        ; accessed and dirty bits
        mov eax, [ptab + 0x303 * 4]
        SHOW "pte303", eax
        mov dword [0x303000], 5
        mov eax, [ptab + 0x303 * 4]
        SHOW "pte303 after write", eax
        call newline
        ; stale TLB until INVLPG
        mov dword [ptab + 0x303 * 4], 0x304000 | 0x007
        mov dword [0x304000], 0xabcd
        invlpg [0x303000]
        mov eax, [0x303000]
        SHOW "after invlpg", eax
        call newline
        mov eax, cr0
        and eax, 0x7fffffff
        mov cr0, eax
        ret

; ---------------------------------------------------------------- double fault
; #GP whose gate is beyond the IDT limit: #GP while delivering #GP -> #DF(0)
df_test:
        sidt [saved_idt]
        mov word [small_idt], 13 * 8 - 1
        mov dword [small_idt + 2], idt32
        lidt [small_idt]
        xor eax, eax
        TRY "df via idt limit", mov ss, ax
        lidt [saved_idt]
        SHOW "df frame cs", [exc_cs]
        call newline
        ret

        align 4
bounds:     dd 3, 10
soft_count: dd 0
probe_if:   dd 0
saved_idt:  dw 0
            dd 0
small_idt:  dw 0
            dd 0

%include "lib_end.inc"
        alignb 4096
pdir:   resb 4096
ptab:   resb 4096
bss_end:
