/* SPDX-License-Identifier: MIT */
/*
 * src/arch/system.h - the architectural system level, shared by every back end: event
 * delivery (exceptions, interrupts, NMI) in every mode, segment loads with
 * their checks, control/debug registers, MSRs, I/O permission, debug
 * breakpoints and the interrupt-shadow protocol.  The interpreter loop
 * (src/cpu/) calls these; the system instruction handlers (src/emu/ops_system*.c)
 * are built on them.
 *
 * Memory for descriptor tables, the TSS and exception stack frames is
 * accessed through v3_read_gva_memory()/v3_write_gva_memory() (v3/paging.h),
 * so page faults during delivery are real page faults.
 *
 * Return convention: 0 on success; V3_EFAULT (negative) with *exc filled when
 * the guest must get an exception (the caller delivers it with
 * v3_cpu_deliver_event()); another negative enum v3_error for a VMM-side
 * failure (paging structure outside RAM...).  Positive values are listed
 * per function.
 *
 * ---------------------------------------------------------------------
 * Interrupt shadows and single-step: the protocol for the loop
 * ---------------------------------------------------------------------
 * At each instruction boundary:
 *     if (core->intr_shadow == 0 && (rflags & IF) && an interrupt is pending)
 *         v3_cpu_deliver_event(core, &ev);            (also wakes core->halted)
 *     NMIs: taken when !core->nmi_blocked && !(intr_shadow & V3_SHADOW_MOVSS)
 *     shadow = core->intr_shadow; core->intr_shadow = 0;
 *     tf = rflags & TF;
 *     if (v3_cpu_dr7_active(core)) check v3_cpu_exec_breakpoint() (fault, honours RF)
 *     execute the instruction (STI with IF=0 sets V3_SHADOW_STI, MOV SS /
 *     POP SS set V3_SHADOW_MOVSS);
 *     on success clear RFLAGS.RF; if (tf && !(core->intr_shadow & V3_SHADOW_MOVSS))
 *         -> v3_cpu_single_step_trap(core) delivers #DB (DR6.BS) after the instruction
 *     (data breakpoints likewise: v3_cpu_data_breakpoint() on the memory path
 *     records hits in core->dr[6] bits 0-3 via a pending mask; see below).
 * Everything a loop must check per instruction is therefore one load of
 * core->intr_shadow and of RFLAGS.TF, plus DR7 only when v3_cpu_dr7_active().
 *
 * A20: core->a20_clear is (1 << 20) while the A20 gate is disabled (port 0x92
 * bit 1 = 0, or the keyboard controller's output port); the translation path
 * is to apply gpa &= ~core->a20_clear (and flush its TLB when it changes).
 * v3_cpu_set_a20() sets it on every vCPU.  The System Control Port A device
 * (src/devices/sysctl_a.c, port 0x92) calls it, and the translation path
 * (src/paging/walk.c) masks the final guest physical address of every walk,
 * paging on or off.
 */
#ifndef V3_CPU_SYSTEM_H
#define V3_CPU_SYSTEM_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/backend.h>
#include <v3/error.h>
#include <v3/vcpu.h>

/* core->intr_shadow bits */
#define V3_SHADOW_STI    0x01
#define V3_SHADOW_MOVSS  0x02

/* ------------------------------------------------------------ events */

/** Positive result of v3_cpu_deliver_event(): triple fault, the VMM must shut the guest down. */
#define V3_CPU_SHUTDOWN 1

/**
 * Deliver @p ev now, in the current mode: IVT in real mode; IDT in protected
 * and long mode (interrupt/trap gates, task gates in legacy protected mode,
 * privilege change to the TSS stack, IST in long mode).  For a fault the
 * caller has set core->rip to the faulting instruction; for a trap or an
 * interrupt, to the next one.  #PF sets CR2 from ev->cr2.  A fault during
 * delivery is escalated as the architecture says (#DF, then shutdown).
 * Clears core->halted.  An NMI sets core->nmi_blocked.
 * @return 0 delivered, V3_CPU_SHUTDOWN on a triple fault, or a negative
 *         enum v3_error (VMM-side failure; guest state may be partly updated).
 */
int v3_cpu_deliver_event(struct v3_core *core, const struct v3_event *ev);

/** Kinds for v3_cpu_deliver(): how the event was raised. */
enum v3_event_src {
    V3_SRC_HW_EXC = 0,     /**< exception raised by an instruction or the CPU (no DPL check) */
    V3_SRC_EXT_INT,        /**< external interrupt (no DPL check, no error code) */
    V3_SRC_NMI,
    V3_SRC_SOFT_INT,       /**< INT n: gate DPL >= CPL checked, RIP is the next instruction */
    V3_SRC_SOFT_EXC,       /**< INT3 / INTO: like INT n (DPL check) */
    V3_SRC_ICEBP,          /**< INT1 (F1): no DPL check, trap */
};

/**
 * General form of v3_cpu_deliver_event() used by INT n / INT3 / INTO / INT1:
 * @p return_rip is the RIP pushed (next instruction for software events).
 * Same results.
 */
int v3_cpu_deliver(struct v3_core *core, unsigned vector, enum v3_event_src src,
                   bool has_ec, uint32_t ec, uint64_t cr2, uint64_t return_rip);

/* ------------------------------------------------------------ segments */

/**
 * Load segment register @p sreg (V3_ES..V3_GS) with @p selector as MOV/POP/LxS
 * do, in the current mode and CPL: real/vm86 base = selector << 4; protected
 * and long mode read the descriptor from the GDT/LDT and check it
 * (#GP(sel) type/privilege, #SS(sel) for SS, #NP(sel) not present; a null
 * selector is allowed except for SS outside 64-bit ring < 3), setting the
 * descriptor's accessed bit.  V3_CS is refused (V3_EINVAL): CS changes only
 * through far transfers.
 * @return 0, V3_EFAULT with *exc, or a negative error.
 */
int v3_load_segment(struct v3_core *core, int sreg, uint16_t selector, struct v3_exception *exc);

/**
 * Read the 8-byte descriptor for @p selector (GDT or LDT by TI) into *desc;
 * in long mode system descriptors are 16 bytes: desc[1] gets the high half.
 * @return 0; V3_EFAULT with #GP(selector & ~3) (or @p fault_vector) when
 *         the index is beyond the table limit.
 */
int v3_cpu_read_descriptor(struct v3_core *core, uint16_t selector, uint64_t desc[2],
                           unsigned fault_vector, struct v3_exception *exc);

/** Decode a legacy descriptor into the hidden segment form (struct v3_segment). */
void v3_cpu_desc_to_seg(uint64_t desc, uint16_t selector, struct v3_segment *seg);

/* ------------------------------------------------------------ control and debug registers */

/**
 * MOV to CR0/CR2/CR3/CR4/CR8 with the architectural checks (#GP(0) for
 * reserved bits, PG without PE, clearing PE/PAE while in long mode, LME
 * changes with paging on...), mode updates (v3_core_update_mode) and TLB
 * notifications (v3_paging_cr3_written / v3_paging_controls_changed).
 * @return 0, V3_EFAULT with *exc (#GP(0), #UD for CR1/5-7/9-15).
 */
int v3_cpu_write_cr(struct v3_core *core, unsigned cr, uint64_t val, struct v3_exception *exc);
/** MOV from CRn. */
int v3_cpu_read_cr(struct v3_core *core, unsigned cr, uint64_t *val, struct v3_exception *exc);
/** MOV to DRn (DR4/5 alias DR6/7 unless CR4.DE: #UD). */
int v3_cpu_write_dr(struct v3_core *core, unsigned dr, uint64_t val, struct v3_exception *exc);
int v3_cpu_read_dr(struct v3_core *core, unsigned dr, uint64_t *val, struct v3_exception *exc);

/* ------------------------------------------------------------ MSRs */

/** Positive result of the MSR functions: the MSR is not modelled; the caller exits to the VMM. */
#define V3_MSR_UNKNOWN 2

/* architectural MSR numbers */
#define V3_MSR_TSC            0x00000010u
#define V3_MSR_APIC_BASE      0x0000001bu
#define V3_MSR_SYSENTER_CS    0x00000174u
#define V3_MSR_SYSENTER_ESP   0x00000175u
#define V3_MSR_SYSENTER_EIP   0x00000176u
#define V3_MSR_MTRRCAP        0x000000feu
#define V3_MSR_MTRR_DEF_TYPE  0x000002ffu
#define V3_MSR_PAT            0x00000277u
#define V3_MSR_EFER           0xc0000080u
#define V3_MSR_STAR           0xc0000081u
#define V3_MSR_LSTAR          0xc0000082u
#define V3_MSR_CSTAR          0xc0000083u
#define V3_MSR_SFMASK         0xc0000084u
#define V3_MSR_FS_BASE        0xc0000100u
#define V3_MSR_GS_BASE        0xc0000101u
#define V3_MSR_KERNEL_GS_BASE 0xc0000102u
#define V3_MSR_TSC_AUX        0xc0000103u

/**
 * RDMSR @p index.  @return 0 with *val, V3_MSR_UNKNOWN, or V3_EFAULT (#GP(0)).
 * The TSC reads v3_cpu_read_tsc().
 */
int v3_cpu_rdmsr(struct v3_core *core, uint32_t index, uint64_t *val, struct v3_exception *exc);
/** WRMSR.  @return 0, V3_MSR_UNKNOWN, or V3_EFAULT (#GP(0): reserved bits, non-canonical base...). */
int v3_cpu_wrmsr(struct v3_core *core, uint32_t index, uint64_t val, struct v3_exception *exc);
/** Guest TSC: core->insn_count + core->tsc_offset (deterministic). */
uint64_t v3_cpu_read_tsc(const struct v3_core *core);

/* ------------------------------------------------------------ I/O permission */

/**
 * May the guest access ports [port, port+size) now?  In protected mode with
 * CPL > IOPL (and always in vm86) the TSS I/O bitmap decides.
 * @return 0 allowed, V3_EFAULT with #GP(0), or a negative error.
 */
int v3_cpu_io_allowed(struct v3_core *core, uint16_t port, unsigned size, struct v3_exception *exc);

/* ------------------------------------------------------------ debug */

/** True when DR7 enables any breakpoint (the only case where the loop calls the checks below). */
static inline bool v3_cpu_dr7_active(const struct v3_core *core)
{
    return (core->dr[7] & 0xff) != 0;
}
/**
 * Instruction breakpoint check at linear address @p la (fault-class #DB).
 * @return bit mask of DR0-3 that hit (0 = none); ignored when RFLAGS.RF is set.
 */
unsigned v3_cpu_exec_breakpoint(struct v3_core *core, uint64_t la);
/**
 * Data breakpoint check for an access [la, la+len) (@p write: a write).
 * @return bit mask of DR0-3 that hit.  The loop ORs it into a pending mask
 * and, after the instruction retires, calls v3_cpu_debug_trap(core, mask).
 */
unsigned v3_cpu_data_breakpoint(struct v3_core *core, uint64_t la, unsigned len, bool write);
/**
 * Memory operations that check data breakpoints (DR0-3 with R/W = 01 or 11)
 * on every access made through them, OR-ing hits into core->db_pending,
 * then pass the access to @p inner.  The software CPU installs them for one
 * instruction while DR7 enables a breakpoint and delivers the trap after it.
 */
struct v3_emu_mem_ops;
const struct v3_emu_mem_ops *v3_cpu_dbg_mem_ops(const struct v3_emu_mem_ops *inner);

/**
 * Deliver a trap-class #DB after an instruction: @p hits = DR0-3 hit mask,
 * @p single_step sets DR6.BS.  Same results as v3_cpu_deliver_event().
 */
int v3_cpu_debug_trap(struct v3_core *core, unsigned hits, bool single_step);

/* ------------------------------------------------------------ misc */

/** A20 gate for every vCPU of @p core's VM (see core->a20_clear). */
void v3_cpu_set_a20(struct v3_core *core, bool enabled);

/**
 * Exit reasons that system instruction handlers (src/emu/ops_system.c) return
 * with V3_X_EXIT (ctx->exit_reason is an enum v3_exit_reason from
 * v3/backend.h).  RIP stays at the instruction; the back end retires it
 * (RIP past it) before reporting the exit, so the VMM completes it:
 *   V3_EXIT_IO:        exit_info[0] = port | size << 16 | in << 24 | string << 25 |
 *                      rep << 26 | addr_size << 28 (bytes), exit_info[1] = OUT data
 *                      or the OUTS source segment; IOPL / TSS I/O bitmap already
 *                      checked (#GP(0) otherwise).
 *   V3_EXIT_HLT:       core->halted = 1.
 *   V3_EXIT_HYPERCALL: VMCALL/VMMCALL.
 *   V3_EXIT_MSR_READ / V3_EXIT_MSR_WRITE: exit_info[0] = index, [1] = value
 *                      (MSRs v3_cpu_rdmsr/v3_cpu_wrmsr do not model).
 *   V3_EXIT_SHUTDOWN:  triple fault during INT n / a far transfer.
 * Handlers that change state the loop samples once per block (CR0/CR4/EFER,
 * DR7) retire themselves and return V3_X_JUMP so that the block ends.
 *
 * Far transfers: the branch family (ops_branch.c) hands protected-mode far
 * JMP/CALL to a system descriptor (call gate, TSS, task gate) to
 * v3_sys_far_gate() and every protected-mode far RET to v3_sys_far_ret();
 * POP sreg goes to v3_sys_pop_sreg() (all in ops_system.c).
 *
 * Not implemented: entering virtual-8086 mode by IRET (V3_X_UNSUPPORTED),
 * 16-bit TSS task switches, task switches in long mode (#GP as hardware),
 * DR7.GD, I/O breakpoints, SMM.
 */

#endif
