/* SPDX-License-Identifier: MIT */
/**
 * @file v3/devices.h
 * Built-in devices.  Each is attached to a VM by a bit in
 * v3_vm_config::devices (see v3/vm.h) when the VM is created, and freed
 * with it.
 *
 *  - UART: a 16550A at COM1, ports 0x3F8-0x3FF.  The registers a polling
 *    driver uses: RBR/THR, IER, IIR/FCR, LCR, MCR (loopback included), LSR,
 *    MSR, SCR and the divisor latch (LCR.DLAB).  Transmitted bytes go to
 *    v3_vm_config::serial.output at once (THR is always empty); received
 *    bytes come from serial.input when the guest polls LSR or reads RBR.
 *    No interrupt line is wired: IIR reports the pending cause for drivers
 *    that poll it.
 *  - Debug exit: ports 0xF4-0xF7 as QEMU's isa-debug-exit (iobase=0xf4,
 *    iosize=4).  Writing value v (of any size) stops the VM with
 *    V3_STOP_DEBUG_EXIT and exit code (v << 1) | 1 (the value masked to the
 *    access size).  Reads return 0.
 *  - VGA text: 32 KiB of write-hooked memory at 0xB8000-0xBFFFF.  Guest
 *    writes land in the memory (reads work) and update an 80x25 text screen
 *    of characters that v3_vga_render() returns.  The CRT controller's
 *    index/data ports 0x3D4/0x3D5 keep their registers (cursor position in
 *    registers 0x0E/0x0F, see v3_vga_cursor()); nothing else of the VGA
 *    register set is modelled.
 *  - Test device: a full-hook MMIO page at V3_TESTDEV_BASE with the
 *    registers below, and the hypercalls V3_HCALL_TEST_SUM/TEST_COUNT.
 *    All registers take accesses of 1 to 8 bytes at any offset: a read
 *    returns the bytes of the register file at that offset, a write updates
 *    the writable bytes it covers.  Each access (not each byte) counts once.
 *  - System Control Port A: port 0x92.  Bit 1 is the A20 gate: writing 0
 *    disables it on every vCPU (physical address bit 20 of every guest
 *    access then reads as 0, see v3_cpu_set_a20() and vcpu.h a20_clear),
 *    writing 1 enables it; reads return it.  Bit 0 is the fast reset: v3vmm
 *    models no reset, so writing 1 stops the VM with V3_STOP_SHUTDOWN (as a
 *    triple fault, which resets a PC as well) and logs one line.  Other bits
 *    are ignored on writes and read as 0.
 */
#ifndef V3_DEVICES_H
#define V3_DEVICES_H

#include <stddef.h>
#include <stdint.h>

struct v3_vm;

#define V3_UART_COM1         0x3F8u
#define V3_DEBUG_EXIT_PORT   0xF4u
#define V3_SYSCTL_A_PORT     0x92u
#define V3_SYSCTL_A_RESET    0x01u   /**< port 0x92 bit 0: fast reset */
#define V3_SYSCTL_A_A20      0x02u   /**< port 0x92 bit 1: A20 gate enabled */
#define V3_VGA_TEXT_BASE     0xB8000ull
#define V3_VGA_TEXT_END      0xC0000ull
#define V3_VGA_COLS          80
#define V3_VGA_ROWS          25

/* Test device registers (offsets from V3_TESTDEV_BASE). */
#define V3_TESTDEV_BASE      0xFEB00000ull
#define V3_TESTDEV_SIZE      0x1000ull
#define V3_TESTDEV_ID        0x00   /**< RO 32-bit: V3_TESTDEV_MAGIC */
#define V3_TESTDEV_VERSION   0x04   /**< RO 32-bit: 1 */
#define V3_TESTDEV_READS     0x08   /**< RO 32-bit: reads before this one */
#define V3_TESTDEV_WRITES    0x0C   /**< RO 32-bit: writes so far */
#define V3_TESTDEV_ECHO      0x10   /**< RW 64-bit: reads return the last value written */
#define V3_TESTDEV_ECHO_NOT  0x18   /**< RO 64-bit: bitwise NOT of ECHO */
#define V3_TESTDEV_MAGIC     0x4D4D3356u   /**< "V3MM" in memory order */

/** Render the VGA text screen into @p buf: 25 lines of 80 characters, each ended by '\n',
 *  non-printable characters as '.', trailing blanks kept; NUL-terminated if room.
 *  @return bytes written (without the NUL), or V3_ENOENT if the VM has no VGA device,
 *          V3_EINVAL for NULL arguments or a buffer smaller than 25 * 81 + 1. */
int v3_vga_render(struct v3_vm *vm, char *buf, size_t size);

/** Cursor position from CRTC registers 0x0E/0x0F.  V3_ENOENT without VGA, V3_EINVAL for NULL. */
int v3_vga_cursor(struct v3_vm *vm, unsigned *row, unsigned *col);

/** Number of screen cells the VGA device saw change. */
uint64_t v3_vga_cells_changed(struct v3_vm *vm);

#endif
