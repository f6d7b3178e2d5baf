/* SPDX-License-Identifier: MIT */
/**
 * @file v3/cpu.h
 * The software x86 CPU back end ("emu").
 *
 * v3_emu_backend runs a vCPU by interpreting its instructions with the
 * emulator's instruction semantics (the same handlers the hooked-access
 * fault path uses).  Instructions are decoded once with Zydis into blocks
 * kept per guest physical page (the decode cache) and executed from there;
 * every guest memory access goes through the software TLB and, on a miss or
 * for hooked memory, through the translation layer and the memory map, so
 * hook callbacks are called directly by the running instruction.
 *
 * The decode cache stays coherent with guest memory by itself for stores the
 * guest makes (self-modifying code, also within the block being executed),
 * for memory-map changes (a map listener), and for instructions crossing a
 * page boundary (never cached).  Stores the VMM makes to guest RAM behind
 * the CPU's back (a device model writing into memory holding code, a loader
 * replacing code after the vCPU ran) must be announced with
 * v3_cpu_invalidate_code().
 *
 * Threads: run() executes on the calling thread.  v3_cpu_request_stop() and
 * inject() may be called from any thread.  Memory-map changes may come from
 * any thread: a run holds the vCPU's read lock on the map and lets a change
 * through only at a block boundary, so when the change returns, the vCPU's
 * TLB, decode cache and hook cache have been invalidated and no access or
 * instruction through the old map is in flight.  v3_cpu_invalidate_code()
 * must happen on the vCPU's thread or while the vCPU is not running, since
 * the decode cache is not locked.
 *
 * Guest exceptions are delivered through the system level
 * (v3_cpu_deliver_event(), src/arch/); a build without it turns a
 * guest exception into a V3_EXIT_ERROR exit.  Events and stop requests are
 * taken at instruction boundaries: the loop tests one flag word (and the
 * interrupt shadow) after every instruction.
 *
 * Execution is deterministic: the same guest image, state and inputs (exit
 * results, injected events at the same instruction counts) give the same
 * instruction count and the same results.  core->insn_count counts retired
 * instructions; a REP string instruction counts once per resumption (the
 * back end resumes a long REP every few thousand iterations so that stops
 * and interrupts are taken).
 */
#ifndef V3_CPU_H
#define V3_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/backend.h>
#include <v3/vcpu.h>

/** The software CPU back end (name "emu"). */
extern const struct v3_backend_ops v3_emu_backend;

/**
 * Stop the vCPU when core->insn_count reaches @p max (an absolute count;
 * 0 = no limit).  run() then returns with V3_EXIT_INSN_LIMIT before
 * executing the instruction that would exceed it.  Needs init_core() first.
 * @return V3_OK, or V3_EINVAL (NULL core or no back-end state).
 */
int v3_cpu_set_insn_limit(struct v3_core *core, uint64_t max);

/**
 * Ask a running vCPU to stop at the next instruction boundary (any thread;
 * run() returns V3_EXIT_STOP).  A request made while the vCPU is not running
 * stops the next run() before its first instruction.
 */
void v3_cpu_request_stop(struct v3_core *core);

/**
 * Drop decoded instructions of guest physical [start, end): call it after
 * the VMM wrote guest memory that may hold code the vCPU already ran.
 */
void v3_cpu_invalidate_code(struct v3_core *core, uint64_t start, uint64_t end);

/**
 * End the current block at the next instruction boundary, so the loop
 * re-reads state it caches per block (for handlers that change RFLAGS.TF,
 * DR7, paging or the mode inside a block without a branch).
 */
void v3_cpu_kick(struct v3_core *core);

/** The CPU model CPUID reports. */
struct v3_cpu_model {
    char vendor[13];            /**< 12 characters + NUL, e.g. "GenuineIntel" */
    uint32_t max_leaf;          /**< highest basic leaf (>= 1) */
    uint32_t max_ext_leaf;      /**< highest extended leaf (>= 0x80000000) */
    uint32_t signature;         /**< leaf 1 EAX: family/model/stepping */
    uint32_t feat_ecx, feat_edx;        /**< leaf 1 ECX/EDX feature bits */
    uint32_t ext_feat_ecx, ext_feat_edx;/**< leaf 0x80000001 ECX/EDX */
    uint32_t leaf7_ebx;         /**< leaf 7 subleaf 0 EBX */
    uint32_t leaf7_ecx;         /**< leaf 7 subleaf 0 ECX */
    char brand[49];             /**< brand string (leaves 0x80000002-4) */
    uint32_t leaf_d1_eax;       /**< leaf 0xD subleaf 1 EAX: bit 0 XSAVEOPT (others unsupported) */
    uint8_t phys_bits;          /**< MAXPHYADDR, 36..52: CPUID 0x80000008 EAX[7:0] and the page
                                     walker's reserved-bit checks (applied by v3_cpu_set_model) */
    uint8_t virt_bits;          /**< linear-address width, CPUID 0x80000008 EAX[15:8] (48) */
    uint64_t exit_leaves;       /**< bit n: leaf n (n < 32) exits to the VMM as V3_EXIT_CPUID;
                                     bit 63: every leaf beyond max_leaf/max_ext_leaf exits */
};

/** CPU vendors a model can present (CPUID leaf 0 and vendor-specific behaviour). */
enum v3_cpu_vendor {
    V3_CPU_VENDOR_AMD = 0,      /**< "AuthenticAMD" (the default) */
    V3_CPU_VENDOR_INTEL = 1,    /**< "GenuineIntel" */
};

/**
 * Fill @p m with the model of the software CPU as @p vendor presents it:
 * the same implemented features, the vendor string, a plausible
 * family/model/stepping, and vendor-dependent details (AMD repeats leaf-1
 * EDX bits in 0x80000001 EDX; a leaf beyond the range answers zeros on AMD,
 * the highest basic leaf on Intel; PLATFORM_INFO exists only on Intel, the
 * AMD MSRs HWCR/SYSCFG/NB_CFG/PERF_CTL only on AMD).  Never fails.
 */
void v3_cpu_vendor_model(struct v3_cpu_model *m, enum v3_cpu_vendor vendor);

/** True when the model's vendor string is "GenuineIntel" (false for NULL). */
bool v3_cpu_model_is_intel(const struct v3_cpu_model *m);

/** The default model (v3_cpu_vendor_model with V3_CPU_VENDOR_AMD): a 64-bit CPU with the features the software CPU
 *  implements.  The model also bounds CR4: a write that sets a bit whose
 *  feature the model does not report (VME, PSE, PAE, PGE, MCE, OSFXSR,
 *  OSXMMEXCPT, OSXSAVE, FSGSBASE, SMEP, SMAP, UMIP, ...) raises #GP. */
void v3_cpu_default_model(struct v3_cpu_model *m);

/** Replace the model of @p core (copied) and apply its MAXPHYADDR to the
 *  vCPU's page walker (v3_paging_set_maxphyaddr, which flushes the TLB).
 *  V3_EINVAL for NULL, a max_leaf < 1, phys_bits outside 36..52 or
 *  virt_bits other than 48/57.  Call between runs of the vCPU. */
int v3_cpu_set_model(struct v3_core *core, const struct v3_cpu_model *m);

/**
 * Make CPUID leaf @p leaf (< 32) exit to the VMM (@p on) or not, for @p core
 * (v3_cpu_model::exit_leaves bit).  v3_hook_cpuid() uses it so that hooked
 * leaves reach their hook.  V3_EINVAL for NULL, no back-end state or leaf >= 32.
 */
int v3_cpu_set_cpuid_exit(struct v3_core *core, uint32_t leaf, bool on);

/**
 * CPUID as the model answers it (what the instruction puts in EAX..EDX).
 * On a V3_EXIT_CPUID the registers already hold these values.
 */
void v3_cpu_cpuid(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/** True when CPUID @p leaf must exit to the VMM (v3_cpu_model::exit_leaves). */
bool v3_cpu_cpuid_exits(struct v3_core *core, uint32_t leaf);

/** Decode-cache and loop counters. */
struct v3_cpu_stats {
    uint64_t blocks_decoded;    /**< blocks built */
    uint64_t insns_decoded;     /**< instructions decoded into blocks */
    uint64_t block_execs;       /**< block dispatches */
    uint64_t smc_invalidations; /**< code pages dropped because the guest wrote them */
    uint64_t map_invalidations; /**< memory-map listener calls that dropped code */
    uint64_t cross_page_insns;  /**< page-crossing instructions executed (never cached) */
    uint64_t cache_flushes;     /**< whole-cache flushes (size bound) */
    uint64_t live_blocks;       /**< blocks in the cache now */
};

/** Copy the counters of @p core.  V3_EINVAL if it has no back-end state. */
int v3_cpu_get_stats(struct v3_core *core, struct v3_cpu_stats *out);

#endif
