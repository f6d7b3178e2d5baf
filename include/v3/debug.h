/* SPDX-License-Identifier: MIT */
/**
 * @file v3/debug.h
 * Debugger support in the execution back end: breakpoints, watchpoints and
 * single-stepping that belong to a debugger (the gdb stub, v3/gdbstub.h, or
 * any embedder), separate from the guest's own debug registers.
 *
 * Nothing here modifies guest memory or the guest's DR0-DR7: the software
 * CPU compares the linear address of every instruction with the breakpoint
 * list before executing it, and checks the linear range of every data
 * access against the watchpoint list after the access succeeded.  While no
 * breakpoint, watchpoint or step is set (core->dbg_flags == 0) the CPU runs
 * as without a debugger.  With breakpoints only, blocks of decoded code run
 * whole up to a breakpoint; with a step or watchpoints it runs one
 * instruction at a time.
 *
 * A debugger event ends back-end run() with V3_EXIT_DEBUG (v3/backend.h),
 * and v3_run_vm() with V3_STOP_DEBUG (v3/vm.h), the vCPU stopped at an
 * instruction boundary:
 *  - V3_DEBUG_BREAK: RIP is at the breakpoint; the instruction has not run.
 *    Resuming there hits the breakpoint again: remove it (or step it with
 *    the breakpoint removed) first, as gdb does.
 *  - V3_DEBUG_STEP: one instruction ran (or an exception or interrupt was
 *    delivered instead: RIP is at the handler's first instruction).
 *  - V3_DEBUG_WATCH: the instruction that made the access retired; RIP is
 *    past it.  v3_vm_result::debug_addr is the watchpoint's address.
 *
 * The software CPU back end implements these checks; a back end that does
 * not simply never reports V3_EXIT_DEBUG.
 *
 * Threads and ownership: the lists belong to the VM; change them only while
 * the VM is not running (between v3_run_vm() calls).  Addresses are linear
 * (CS base + RIP for breakpoints; segmentation applied for data).
 */
#ifndef V3_DEBUG_H
#define V3_DEBUG_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/vcpu.h>

struct v3_vm;

#define V3_DBG_MAX_BREAK 64     /**< breakpoints per VM */
#define V3_DBG_MAX_WATCH 16     /**< watchpoints per VM */

/** core->dbg_flags: what the back end must check (kept by the functions below). */
#define V3_DBG_F_BREAK 0x01u    /**< the VM has breakpoints */
#define V3_DBG_F_WATCH 0x02u    /**< the VM has watchpoints */
#define V3_DBG_F_STEP  0x04u    /**< this vCPU single-steps */

/** What stopped the vCPU (v3_exit::debug.kind, v3_vm_result::debug_kind). */
enum v3_debug_kind {
    V3_DEBUG_NONE = 0,
    V3_DEBUG_BREAK,             /**< a breakpoint at RIP */
    V3_DEBUG_STEP,              /**< a single step completed */
    V3_DEBUG_WATCH,             /**< a watchpoint was hit; see the address and type */
};

/** Watchpoint kinds (which accesses hit). */
enum v3_watch_type {
    V3_WATCH_WRITE = 1,
    V3_WATCH_READ = 2,
    V3_WATCH_ACCESS = 3,        /**< reads and writes */
};

struct v3_debug_watch {
    uint64_t la;                /**< first byte */
    uint64_t len;               /**< bytes (>= 1) */
    unsigned type;              /**< enum v3_watch_type */
};

/** The debugger state of a VM (read by the back end through core->dbg). */
struct v3_debug {
    unsigned nbreak;
    uint64_t brk[V3_DBG_MAX_BREAK];
    unsigned nwatch;
    struct v3_debug_watch watch[V3_DBG_MAX_WATCH];
};

/**
 * Add (@p on) or remove a breakpoint at linear address @p la for every vCPU.
 * Adding an address already present, or removing an absent one, is V3_OK.
 * @return V3_OK, V3_EINVAL (NULL VM), V3_ENOMEM (V3_DBG_MAX_BREAK reached).
 */
int v3_debug_breakpoint(struct v3_vm *vm, uint64_t la, bool on);

/**
 * Add (@p on) or remove a watchpoint on linear [la, la + len) of kind
 * @p type (enum v3_watch_type).  Removal matches all three values.
 * @return V3_OK, V3_EINVAL (NULL VM, len 0, bad type, range wrapping),
 *         V3_ENOMEM (V3_DBG_MAX_WATCH reached), V3_ENOENT (removal of an
 *         unknown watchpoint).
 */
int v3_debug_watchpoint(struct v3_vm *vm, uint64_t la, uint64_t len, unsigned type, bool on);

/**
 * Single-step vCPU @p core (@p on) or stop doing so: with it set, the next
 * run executes one instruction and stops with V3_DEBUG_STEP.
 * @return V3_OK, or V3_EINVAL for a NULL core.
 */
int v3_debug_step(struct v3_core *core, bool on);

/** Remove every breakpoint and watchpoint and stop single-stepping on every vCPU.  NULL is ignored. */
void v3_debug_clear(struct v3_vm *vm);

#endif
