/* SPDX-License-Identifier: MIT */
/**
 * @file v3/vcpu.h
 * The vCPU state: one definition for the whole project.
 *
 * struct v3_core holds the architectural state of one virtual CPU.  The
 * hooked-access emulator, the page walker and software TLB, and every
 * execution back end read and write this structure; back ends that run the
 * guest elsewhere (hardware) copy their state in and out of it.
 *
 * Arithmetic flags are kept lazily: an instruction may record its operands
 * and result in @c lazy instead of computing CF/PF/AF/ZF/SF/OF.  Always read
 * RFLAGS through v3_core_get_rflags() and write it through
 * v3_core_set_rflags(); the @c rflags field alone may be stale.
 */
#ifndef V3_VCPU_H
#define V3_VCPU_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/cpuid.h>

struct v3_vm;
struct v3_debug;

/** General registers, in x86 encoding order. */
enum v3_gpr {
    V3_RAX, V3_RCX, V3_RDX, V3_RBX, V3_RSP, V3_RBP, V3_RSI, V3_RDI,
    V3_R8, V3_R9, V3_R10, V3_R11, V3_R12, V3_R13, V3_R14, V3_R15,
    V3_NR_GPRS
};

/** Segment registers, in x86 encoding order, then LDTR and TR. */
enum v3_sreg { V3_ES, V3_CS, V3_SS, V3_DS, V3_FS, V3_GS, V3_LDTR, V3_TR, V3_NR_SREGS };

/* RFLAGS bits */
#define V3_FLAG_CF   (1ull << 0)
#define V3_FLAG_PF   (1ull << 2)
#define V3_FLAG_AF   (1ull << 4)
#define V3_FLAG_ZF   (1ull << 6)
#define V3_FLAG_SF   (1ull << 7)
#define V3_FLAG_TF   (1ull << 8)
#define V3_FLAG_IF   (1ull << 9)
#define V3_FLAG_DF   (1ull << 10)
#define V3_FLAG_OF   (1ull << 11)
#define V3_FLAG_IOPL (3ull << 12)
#define V3_FLAG_NT   (1ull << 14)
#define V3_FLAG_RF   (1ull << 16)
#define V3_FLAG_VM   (1ull << 17)
#define V3_FLAG_AC   (1ull << 18)
#define V3_FLAG_VIF  (1ull << 19)
#define V3_FLAG_VIP  (1ull << 20)
#define V3_FLAG_ID   (1ull << 21)
#define V3_FLAGS_ARITH (V3_FLAG_CF | V3_FLAG_PF | V3_FLAG_AF | V3_FLAG_ZF | V3_FLAG_SF | V3_FLAG_OF)

/* Control register and EFER bits */
#define V3_CR0_PE (1ull << 0)
#define V3_CR0_MP (1ull << 1)
#define V3_CR0_EM (1ull << 2)
#define V3_CR0_TS (1ull << 3)
#define V3_CR0_ET (1ull << 4)
#define V3_CR0_NE (1ull << 5)
#define V3_CR0_WP (1ull << 16)
#define V3_CR0_AM (1ull << 18)
#define V3_CR0_NW (1ull << 29)
#define V3_CR0_CD (1ull << 30)
#define V3_CR0_PG (1ull << 31)
#define V3_CR4_VME        (1ull << 0)
#define V3_CR4_PVI        (1ull << 1)
#define V3_CR4_TSD        (1ull << 2)
#define V3_CR4_DE         (1ull << 3)
#define V3_CR4_PSE        (1ull << 4)
#define V3_CR4_PAE        (1ull << 5)
#define V3_CR4_MCE        (1ull << 6)
#define V3_CR4_PGE        (1ull << 7)
#define V3_CR4_PCE        (1ull << 8)
#define V3_CR4_OSFXSR     (1ull << 9)
#define V3_CR4_OSXMMEXCPT (1ull << 10)
#define V3_CR4_UMIP       (1ull << 11)
#define V3_CR4_LA57       (1ull << 12)
#define V3_CR4_FSGSBASE   (1ull << 16)
#define V3_CR4_PCIDE      (1ull << 17)
#define V3_CR4_OSXSAVE    (1ull << 18)
#define V3_CR4_SMEP       (1ull << 20)
#define V3_CR4_SMAP       (1ull << 21)
#define V3_CR4_PKE        (1ull << 22)
#define V3_EFER_SCE (1ull << 0)
#define V3_EFER_LME (1ull << 8)
#define V3_EFER_LMA (1ull << 10)
#define V3_EFER_NXE (1ull << 11)

/**
 * A segment register with its hidden part.  @c attrib uses the AMD SVM
 * layout: bits 3:0 type, 4 S, 6:5 DPL, 7 P, 8 AVL, 9 L, 10 D/B, 11 G.
 * @c limit is the expanded byte limit (G already applied).
 */
struct v3_segment {
    uint16_t selector;
    uint16_t attrib;
    uint32_t limit;
    uint64_t base;
};
#define V3_SEG_TYPE(a)  ((a) & 0xf)
#define V3_SEG_S        (1u << 4)
#define V3_SEG_DPL(a)   (((a) >> 5) & 3)
#define V3_SEG_P        (1u << 7)
#define V3_SEG_AVL      (1u << 8)
#define V3_SEG_L        (1u << 9)
#define V3_SEG_DB       (1u << 10)
#define V3_SEG_G        (1u << 11)

/** GDTR / IDTR. */
struct v3_dtable {
    uint64_t base;
    uint16_t limit;
};

/** Execution mode, derived from CR0.PE, EFER.LMA, RFLAGS.VM and CS.L/CS.D. */
enum v3_cpu_mode {
    V3_MODE_REAL,      /**< real address mode (16-bit) */
    V3_MODE_VM86,      /**< virtual-8086 mode (16-bit) */
    V3_MODE_PROT16,    /**< protected mode, 16-bit code segment */
    V3_MODE_PROT32,    /**< protected mode, 32-bit code segment */
    V3_MODE_COMPAT16,  /**< long mode, 16-bit compatibility code */
    V3_MODE_COMPAT32,  /**< long mode, 32-bit compatibility code */
    V3_MODE_LONG64,    /**< 64-bit mode */
};

/** x87/MMX/SSE state, laid out exactly as the 64-bit FXSAVE area. */
struct v3_fpu_state {
    uint16_t fcw, fsw;
    uint8_t  ftw, rsvd0;
    uint16_t fop;
    uint64_t fip, fdp;
    uint32_t mxcsr, mxcsr_mask;
    uint8_t  st[8][16];     /**< ST0-7 / MM0-7 (80 bits used, 16-byte slots) */
    uint8_t  xmm[16][16];   /**< XMM0-15 */
    uint8_t  rsvd1[96];
} __attribute__((aligned(16)));

/** Exception vectors. */
enum v3_vector {
    V3_EXC_DE = 0, V3_EXC_DB = 1, V3_EXC_NMI = 2, V3_EXC_BP = 3, V3_EXC_OF = 4,
    V3_EXC_BR = 5, V3_EXC_UD = 6, V3_EXC_NM = 7, V3_EXC_DF = 8, V3_EXC_TS = 10,
    V3_EXC_NP = 11, V3_EXC_SS = 12, V3_EXC_GP = 13, V3_EXC_PF = 14, V3_EXC_MF = 16,
    V3_EXC_AC = 17, V3_EXC_MC = 18, V3_EXC_XM = 19,
};

/** #PF error-code bits. */
#define V3_PF_P    (1u << 0)
#define V3_PF_W    (1u << 1)
#define V3_PF_U    (1u << 2)
#define V3_PF_RSVD (1u << 3)
#define V3_PF_I    (1u << 4)
#define V3_PF_PK   (1u << 5)

/** A guest exception to deliver (produced by page walks and the emulator). */
struct v3_exception {
    uint8_t  vector;          /**< enum v3_vector */
    bool     has_error_code;
    uint32_t error_code;
    uint64_t cr2;             /**< faulting linear address, for #PF */
};

/**
 * Lazy arithmetic flags.  When @c op is 0 the arithmetic bits of
 * v3_core::rflags are current.  Otherwise they are computed on demand from
 * the record by v3_core_get_rflags(); the encoding of @c op is private to
 * src/emu/flags.c.
 */
struct v3_lazy_flags {
    uint64_t res, src1, src2;
    uint32_t op;
    uint32_t size;            /**< operand size in bytes */
};

/** Per-caller last-hit cache for memory-map lookups (see v3/mem.h). */
struct v3_mem_cache {
    const struct v3_mem_region *region;
    uint64_t generation;
    uint64_t start, end;      /**< [start, end): where @c region is the answer (a gap for the base region) */
};

/** One virtual CPU. */
struct v3_core {
    uint64_t gpr[V3_NR_GPRS];
    uint64_t rip;
    uint64_t rflags;              /**< read via v3_core_get_rflags() */
    struct v3_lazy_flags lazy;

    struct v3_segment seg[V3_NR_SREGS];
    struct v3_dtable gdtr, idtr;

    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer;
    uint64_t dr[8];
    uint64_t xcr0;

    /* architectural MSRs kept as state */
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t tsc_aux, pat, apic_base, tsc_offset;

    struct v3_fpu_state fpu;

    struct v3_cpu_model model;    /**< what CPUID reports (v3/cpuid.h); max_leaf 0: the default */

    enum v3_cpu_mode mode;        /**< kept current by v3_core_update_mode() */
    uint8_t cpl;

    /* ---- system-level bookkeeping (src/arch/system.h) ---- */
    uint8_t intr_shadow;          /**< V3_SHADOW_STI / V3_SHADOW_MOVSS: set by the instruction that
                                       starts a shadow, cleared by the loop before the next one */
    uint8_t nmi_blocked;          /**< an NMI handler runs (until the next IRET) */
    uint8_t halted;               /**< HLT executed, waiting for an interrupt */
    uint8_t db_pending;           /**< DR0-3 data-breakpoint hits of the instruction being executed */
    uint64_t a20_clear;           /**< physical address bits forced to 0: (1 << 20) while the A20
                                       gate is disabled, 0 otherwise (the reset value) */
    uint64_t mtrr[28];            /**< MTRR storage: DEF_TYPE, 11 fixed, 8 variable base/mask pairs */
    struct {                      /**< MSRs kept without effect (src/arch/system.c lists them) */
        uint64_t misc_enable;     /**< Intel IA32_MISC_ENABLE */
        uint64_t perf_ctl[4];     /**< AMD PERF_CTL0-3 (nothing counts) */
        uint64_t perf_ctr[4];     /**< AMD PERF_CTR0-3 (48 bits; RDPMC 0-3 reads them) */
        uint64_t hwcr, syscfg, nb_cfg, de_cfg;   /**< AMD HWCR, SYSCFG, NB_CFG, DE_CFG */
    } msr_inert;

    /* ---- owned by the VMM, not architectural ---- */
    struct v3_vm *vm;             /**< the VM this core belongs to */
    unsigned id;                  /**< vCPU index in the VM */
    struct v3_mem_cache mem_cache;/**< last-hit memory-map lookup cache */
    void *tlb;                    /**< software TLB (src/paging), NULL if none */
    void *backend;                /**< execution back end's private state */
    uint64_t insn_count;          /**< instructions retired (software CPU) */
    void *emu_fault;              /**< hooked-access fault path caches (src/emu), NULL if none */
    struct v3_clock *clock;       /**< the VM clock (src/internal/clock.h), NULL outside a VM */
    unsigned mem_read_depth;      /**< internal (src/mem/memmap.h): nesting depth of this vCPU's
                                       memory-map read lock, 0 outside guest memory accesses */

    /* ---- debugger (v3/debug.h): not architectural, the guest's DR0-7 are separate ---- */
    const struct v3_debug *dbg;   /**< the VM's breakpoint and watchpoint lists */
    uint8_t dbg_flags;            /**< V3_DBG_F_*: non-zero makes the CPU check every instruction */
    uint8_t dbg_stepped;          /**< back end: an instruction ran since single-stepping was set */
    uint8_t dbg_watch_type;       /**< memory path: enum v3_watch_type of a pending watchpoint hit, 0 if none */
    uint64_t dbg_watch_la;        /**< its watchpoint's address */
    /**
     * FERR# output: the x87 error signal a PC routes to IRQ 13.  With
     * CR0.NE = 0, the first waiting x87 instruction (or FWAIT) that finds an
     * unmasked exception pending (FSW.ES) calls ferr(core, ferr_opaque) once
     * and then executes (as with IGNNE# asserted); it is called again only
     * after the exception was cleared (FNCLEX, FNINIT, FNSAVE, or FRSTOR,
     * FLDENV, FXRSTOR loading a status word without ES).  Called on the
     * vCPU's thread, inside instruction execution: it must only record the
     * request (e.g. raise the interrupt line).  NULL (the default): FERR#
     * is not connected and nothing happens.  With CR0.NE = 1 the pending
     * exception raises #MF instead and ferr is not called.  The platform
     * sets these before the vCPU runs.
     */
    void (*ferr)(struct v3_core *core, void *opaque);
    void *ferr_opaque;
    uint8_t ferr_asserted;        /**< internal (src/emu): FERR# reported, until the exception is cleared */
};

/** Return RFLAGS with lazy arithmetic flags materialised. */
uint64_t v3_core_get_rflags(struct v3_core *core);

/** Set RFLAGS (all bits) and drop any lazy flag record. */
void v3_core_set_rflags(struct v3_core *core, uint64_t rflags);

/**
 * Recompute core->mode (and core->cpl from CS/SS) after CR0, EFER, CS or
 * RFLAGS.VM changed.  Sets EFER.LMA from CR0.PG && EFER.LME.
 */
void v3_core_update_mode(struct v3_core *core);

/** Put the core in the x86 reset state (real mode, CS:IP = F000:FFF0). */
void v3_core_reset(struct v3_core *core);

/** Name of a mode, for logs ("real", "prot32", "long64", ...). */
const char *v3_cpu_mode_str(enum v3_cpu_mode mode);

#endif
