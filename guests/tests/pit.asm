; SPDX-License-Identifier: MIT
; The 8254 PIT and port 0x61: gate 2 and speaker bits, the refresh toggle,
; modes 0-5 (and the aliases 6/7) seen through the read-back status byte
; (OUT, null count, access mode, mode, BCD) and OUT 2 on port 0x61, gate
; behaviour of counter 2, the counter latch and read-back commands (a
; second latch before the read is ignored), LSB-only / MSB-only / two-byte
; access, BCD counting, the write-only control register, and IRQ 0 at
; 1 kHz from counter 0 in mode 2 counted over a 50 ms interval that
; counter 2 measures.
; Values that depend on how fast the program runs are reduced to flags
; (a count is below its start, its digits are decimal, ...).
%include "lib.inc"

TIMEOUT equ 4000000

%macro OUTB 2
        mov al, %2
        out %1, al
%endmacro

%macro SHOWB 1
        SAY %1
        SAY "="
        call puthex2
        SAY " "
%endmacro

; a short wait without I/O (the polling loops below also run on a virtual
; VM clock at 1 ns per instruction: this makes each poll cover more time;
; NOPs, as QEMU TCG leaves its CPU loop at each PAUSE)
%macro SPIN 0
        times 16 nop
%endmacro

; status of counter 2 through the read-back command
%macro STATUS2 0
        mov al, 0xe8
        out 0x43, al
        in al, 0x42
%endmacro

main:
        SAYLN "pit: start"

        ; ---- port 0x61
        OUTB 0x61, 0x00
        in al, 0x61
        and al, 0x03
        SHOWB "61 after 00"
        OUTB 0x61, 0x03
        in al, 0x61
        and al, 0x03
        SHOWB "after 03"
        in al, 0x61
        and al, 0xc0
        SHOWB "bits 7-6"
        call refresh_toggles
        SHOWB "refresh toggles"
        OUTB 0x61, 0x00
        call newline

        ; ---- mode 0 with gate 2 low, then high
        OUTB 0x43, 0xb0                 ; counter 2, LSB then MSB, mode 0, binary
        STATUS2
        SHOWB "mode 0 control word: status"
        OUTB 0x42, 0x00
        OUTB 0x42, 0x10                 ; count 0x1000
        call delay
        STATUS2
        SHOWB "count written, gate low: status"
        OUTB 0x43, 0x80                 ; latch counter 2
        call read2
        cmp eax, 0x1000
        sete al
        SHOWB "count held"
        call newline
        OUTB 0x61, 0x01                 ; gate high
        call wait_out2_high
        SHOWB "gate high: out2 rose"
        STATUS2
        SHOWB "status"
        call delay                      ; at least a clock past the terminal count
        OUTB 0x43, 0x80
        call read2
        test eax, eax
        setnz al                        ; not stuck at 0 (next 0 is 55 ms away)
        SHOWB "counts on past 0"
        call newline

        ; ---- mode 0: the first byte of a new count stops counting, OUT low
        OUTB 0x42, 0x20
        STATUS2
        and al, 0x80
        SHOWB "lsb written: out"
        OUTB 0x42, 0x00                 ; count 0x0020
        call wait_out2_high
        SHOWB "msb written: out2 rose"
        call newline

        ; ---- latch: a second latch before the read is ignored (count and status)
        OUTB 0x43, 0xb0
        OUTB 0x42, 100
        OUTB 0x42, 0
        OUTB 0x43, 0x80                 ; latch while counting down from 100
        OUTB 0x43, 0xe8                 ; read-back: status of counter 2 (OUT low)
        call wait_out2_high
        OUTB 0x43, 0x80                 ; ignored: the first is not read
        OUTB 0x43, 0xe8                 ; ignored as well
        in al, 0x42
        and al, 0x80
        SHOWB "latched status out"
        call read2
        cmp eax, 100
        setbe al
        SHOWB "latched count <= 100"
        OUTB 0x43, 0x80
        call read2
        cmp eax, 100
        seta al
        SHOWB "new latch > 100"
        call newline

        ; ---- read-back of count and status together: status first
        OUTB 0x43, 0xb4                 ; mode 2
        OUTB 0x42, 0x00
        OUTB 0x42, 0x80
        call delay
        OUTB 0x43, 0xc8                 ; count and status of counter 2
        in al, 0x42
        SHOWB "mode 2 read-back status"
        call read2
        test eax, eax
        setnz bl
        cmp eax, 0x8000
        setbe al
        and al, bl
        SHOWB "count in 1..8000"
        call newline

        ; ---- modes through OUT
        call mode1
        call mode2
        call mode3
        call mode4
        call mode5
        OUTB 0x43, 0xbc                 ; mode 6 = mode 2
        STATUS2
        SHOWB "mode 6 control word: status"
        OUTB 0x43, 0xbe                 ; mode 7 = mode 3
        STATUS2
        SHOWB "mode 7: status"
        call newline

        ; ---- access modes and BCD
        OUTB 0x61, 0x01
        OUTB 0x43, 0x90                 ; LSB only, mode 0
        OUTB 0x42, 0x80
        STATUS2
        and al, 0xbf
        SHOWB "lsb-only status"
        call wait_out2_high
        SHOWB "out2 rose"
        OUTB 0x43, 0xa0                 ; MSB only, mode 0
        OUTB 0x42, 0x01
        STATUS2
        and al, 0xbf
        SHOWB "msb-only status"
        call wait_out2_high
        SHOWB "out2 rose"
        call newline
        OUTB 0x43, 0xb1                 ; BCD, mode 0
        OUTB 0x42, 0x00
        OUTB 0x42, 0x00                 ; 0 = 10000 decimal
        STATUS2
        and al, 0x3f
        SHOWB "bcd status"
        call delay
        OUTB 0x43, 0x80
        call read2
        call bcd_ok
        SHOWB "count 0: bcd digits"
        in al, 0x43
        SHOWB "read 43"
        call newline

        call irq0_rate
        OUTB 0x61, 0x00
        SAYLN "pit: done"
        ret

; ---------------------------------------------------------------- modes
mode1:
        OUTB 0x61, 0x00
        OUTB 0x43, 0xb2
        OUTB 0x42, 0xff
        OUTB 0x42, 0xff
        call delay
        STATUS2
        and al, 0x80
        SHOWB "mode 1 untriggered out"
        OUTB 0x61, 0x01                 ; trigger
        call wait_out2_low
        SHOWB "triggered: low"
        call wait_out2_high
        SHOWB "then high"
        call newline
        ret

mode2:
        OUTB 0x61, 0x01
        OUTB 0x43, 0xb4
        OUTB 0x42, 0
        OUTB 0x42, 0                    ; 65536: OUT is low one clock in 55 ms
        call delay
        STATUS2
        SHOWB "mode 2 status"
        call sees_reload
        SHOWB "reloads"
        OUTB 0x61, 0x00
        STATUS2
        and al, 0x80
        SHOWB "gate low out"
        call newline
        ret

mode3:
        OUTB 0x61, 0x01
        OUTB 0x43, 0xb6
        OUTB 0x42, 0xe8
        OUTB 0x42, 0x03                 ; 1000
        call wait_out2_low
        SHOWB "mode 3 low"
        call wait_out2_high
        SHOWB "high"
        call wait_out2_low
        SHOWB "low"
        STATUS2
        and al, 0x7f
        SHOWB "status"
        OUTB 0x61, 0x00
        call newline
        ret

mode4:
        OUTB 0x61, 0x01
        OUTB 0x43, 0xb8
        OUTB 0x42, 100
        OUTB 0x42, 0
        STATUS2
        and al, 0xbf
        SHOWB "mode 4 status"
        call wraps
        SHOWB "wrapped past 0"
        STATUS2
        and al, 0x80
        SHOWB "out"
        call newline
        ret

mode5:
        OUTB 0x61, 0x00
        OUTB 0x43, 0xba
        OUTB 0x42, 100
        OUTB 0x42, 0
        call delay
        STATUS2
        and al, 0x80
        SHOWB "mode 5 untriggered out"
        OUTB 0x61, 0x01                 ; trigger
        call wraps
        SHOWB "triggered: wrapped past 0"
        STATUS2
        and al, 0x80
        SHOWB "out"
        OUTB 0x61, 0x00
        call newline
        ret

; ---------------------------------------------------------------- IRQ 0
; Counter 0 in mode 3 at 1193182 / 23864 Hz (50 Hz) drives IRQ 0; counter 2
; in mode 2 with count 0 (65536 clocks, 55 ms) is the ruler: the program
; adds up the clocks it sees pass in latched counts of counter 2 until 20
; periods of counter 0 (477280 clocks, 400 ms) have gone by, and counts
; the interrupts meanwhile: 20, give or take one for the phase.  The check
; accepts 10 to 24, wide for a loaded host: a vCPU that is not scheduled
; for longer than a period loses interrupts (an emulator gives one for the
; periods it missed: QEMU 7.2 and v3vm both gave 11 to 20 with eight of
; them running on 2 cores), and a pause longer than 55 ms loses a turn of
; the ruler.  It still tells a missing or stuck IRQ 0 and a wrong rate
; (18.2 Hz: 7; 100 Hz: 40) from a working one.  The polling loop leaves
; the I/O ports alone most of the time (a busy I/O loop keeps QEMU's timers
; from running on time).  Mode 3 rather than the rate generator for IRQ 0:
; QEMU raises its line from a timer callback at the level OUT has then,
; and OUT of mode 2 is active for one PIT clock only (838 ns), so a late
; callback loses the interrupt; the square wave keeps OUT high for half
; the period.
irq0_rate:
        OUTB 0x20, 0x11
        OUTB 0x21, 0x20
        OUTB 0x21, 0x04
        OUTB 0x21, 0x01
        OUTB 0x21, 0xfe                 ; IRQ 0 only
        mov eax, 0x20
        mov ebx, irq0_handler
        mov edx, 0x8e00
        call set_gate32
        OUTB 0x61, 0x01
        OUTB 0x43, 0xb4                 ; counter 2: mode 2, 65536
        OUTB 0x42, 0
        OUTB 0x42, 0
        OUTB 0x43, 0x36                 ; counter 0: mode 3, 50 Hz
        OUTB 0x40, 23864 & 0xff
        OUTB 0x40, 23864 >> 8
        call delay
        OUTB 0x43, 0x80
        call read2
        mov esi, eax                    ; previous count
        xor edi, edi                    ; clocks seen
        mov dword [ticks], 0
        sti
.l:     mov ecx, 100
.s:     pause
        loop .s
        OUTB 0x43, 0x80
        call read2
        mov edx, esi
        sub edx, eax
        and edx, 0xffff
        add edi, edx
        mov esi, eax
        cmp edi, 20 * 23864
        jb .l
        cli
        mov ebx, [ticks]
        cmp ebx, 10
        setae cl
        cmp ebx, 24
        setbe al
        and al, cl
        SHOWB "irq0 at 50 Hz in 400 ms: 10..24"
        call newline
        OUTB 0x21, 0xff
        OUTB 0x43, 0x30                 ; counter 0 back to a one-shot
        OUTB 0x40, 0xff
        OUTB 0x40, 0xff
        ret

irq0_handler:
        push eax
        inc dword [ticks]
        mov al, 0x20
        out 0x20, al
        pop eax
        iretd

; ---------------------------------------------------------------- helpers
; read a two-byte count of counter 2 into eax
read2:
        xor eax, eax
        in al, 0x42
        mov ah, al
        in al, 0x42
        xchg al, ah
        ret

delay:
        push ecx
        push eax
        mov ecx, 300
.l:     SPIN
        in al, 0x61
        loop .l
        pop eax
        pop ecx
        ret

; al = 1 when port 0x61 bit 5 went high (0 on timeout)
wait_out2_high:
        push ecx
        mov ecx, TIMEOUT
.l:     SPIN
        in al, 0x61
        test al, 0x20
        jnz .ok
        loop .l
        xor eax, eax
        pop ecx
        ret
.ok:    mov eax, 1
        pop ecx
        ret

wait_out2_low:
        push ecx
        mov ecx, TIMEOUT
.l:     SPIN
        in al, 0x61
        test al, 0x20
        jz .ok
        loop .l
        xor eax, eax
        pop ecx
        ret
.ok:    mov eax, 1
        pop ecx
        ret

; al = 1 when port 0x61 bit 4 changes within the timeout
refresh_toggles:
        push ecx
        push ebx
        in al, 0x61
        mov bl, al
        and bl, 0x10
        mov ecx, TIMEOUT
.l:     SPIN
        in al, 0x61
        and al, 0x10
        cmp al, bl
        jne .ok
        loop .l
        xor eax, eax
        jmp .d
.ok:    mov eax, 1
.d:     pop ebx
        pop ecx
        ret

; al = 1 when a latched count of counter 2 is seen to go up (a reload)
sees_reload:
        push ecx
        push ebx
        OUTB 0x43, 0x80
        call read2
        mov ebx, eax
        mov ecx, TIMEOUT
.l:     SPIN
        OUTB 0x43, 0x80
        call read2
        cmp eax, ebx
        ja .ok
        mov ebx, eax
        loop .l
        xor eax, eax
        jmp .d
.ok:    mov eax, 1
.d:     pop ebx
        pop ecx
        ret

; al = 1 when the latched count of counter 2 (counting down from 100) is
; seen above 100: it went through 0 and on from 0xFFFF
wraps:
        push ecx
        mov ecx, TIMEOUT
.l:     SPIN
        OUTB 0x43, 0x80
        call read2
        cmp eax, 100
        ja .ok
        loop .l
        xor eax, eax
        pop ecx
        ret
.ok:    mov eax, 1
        pop ecx
        ret

; al = 1 when every nibble of ax is a decimal digit
bcd_ok:
        push ecx
        push ebx
        mov ebx, eax
        mov ecx, 4
.l:     mov al, bl
        and al, 0x0f
        cmp al, 9
        ja .bad
        shr ebx, 4
        loop .l
        mov eax, 1
        jmp .d
.bad:   xor eax, eax
.d:     pop ebx
        pop ecx
        ret

        align 4
ticks:  dd 0

%include "lib_end.inc"
bss_end:
