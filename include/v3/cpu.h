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
#include <v3/cpuid.h>

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

/**
 * True while an injected event (v3_backend_ops::inject) waits for delivery
 * on the software CPU (an NMI blocked by an earlier one, an interrupt not
 * yet taken): the slot is busy and another inject() would fail.  The
 * thread that runs the vCPU, between runs.
 */
bool v3_cpu_event_pending(struct v3_core *core);

/**
 * Drop a request of the back end's kick() (struct v3_backend_ops) that has
 * not yet ended a run: the next run() does not return V3_EXIT_KICK for it.
 * For the VMM's run loop, on the vCPU's thread while the vCPU is not
 * running, once it has looked at everything a kick announces (device
 * deadlines, pending interrupts); a kick made after this call still ends
 * the next run.
 */
void v3_cpu_discard_kick(struct v3_core *core);

/** Decode-cache and loop counters. */
struct v3_cpu_stats {
    uint64_t blocks_decoded;    /**< blocks built */
    uint64_t insns_decoded;     /**< instructions decoded into blocks */
    uint64_t block_execs;       /**< block dispatches */
    uint64_t smc_invalidations; /**< code pages dropped because the guest wrote them */
    uint64_t xmc_requests;      /**< stores of this vCPU into code another vCPU decoded */
    uint64_t xmc_invalidations; /**< code pages dropped because another vCPU wrote them */
    uint64_t map_invalidations; /**< memory-map listener calls that dropped code */
    uint64_t cross_page_insns;  /**< page-crossing instructions executed (never cached) */
    uint64_t cache_flushes;     /**< whole-cache flushes (size bound) */
    uint64_t live_blocks;       /**< blocks in the cache now */
};

/** Copy the counters of @p core.  V3_EINVAL if it has no back-end state. */
int v3_cpu_get_stats(struct v3_core *core, struct v3_cpu_stats *out);

#endif
