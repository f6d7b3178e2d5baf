/* SPDX-License-Identifier: MIT */
/**
 * @file v3/paging.h
 * Guest address translation: page walks in every x86 paging mode, and the
 * per-vCPU software TLB that caches them.
 *
 * Addresses here are linear addresses (segmentation already applied).  The
 * vCPU's paging mode, CPL and permission controls come from struct v3_core
 * (CR0.PG/WP, CR4.PSE/PAE/PGE/SMEP/SMAP/LA57, EFER.LMA/NXE, RFLAGS.AC, cpl).
 *
 * Paging modes, chosen from the vCPU state on every walk:
 *  - CR0.PG = 0: no paging, the physical address is the linear address
 *    truncated to 32 bits (EFER.LMA without CR0.PG cannot happen);
 *  - CR0.PG = 1, EFER.LMA = 0, CR4.PAE = 0: 32-bit paging (4 KiB pages, and
 *    4 MiB pages with CR4.PSE, PSE-36 giving physical bits 39:32);
 *  - CR0.PG = 1, EFER.LMA = 0, CR4.PAE = 1: PAE paging (4 KiB, 2 MiB, NX);
 *  - EFER.LMA = 1: 4-level paging (4 KiB, 2 MiB, 1 GiB), or 5-level paging
 *    with CR4.LA57.
 * Outside long mode only the low 32 bits of a linear address are used (it
 * wraps at 4 GiB).  In long mode a non-canonical address (bits 63:47, or
 * 63:56 with LA57, not all equal) raises #GP(0), or #SS(0) for a stack access.
 *
 * Permission checks follow the Intel SDM (vol. 3A, 4.6): U/S with the CPL
 * (CPL 3 is a user access unless V3_ACCESS_SUPERVISOR), R/W with CR0.WP, XD
 * with EFER.NXE (bit 63 is reserved while NXE is clear; 32-bit paging has no
 * XD), SMEP, and SMAP with RFLAGS.AC (implicit supervisor accesses ignore AC).
 * Reserved bits are checked at every level for the configured MAXPHYADDR
 * (40 by default, what the default CPU model reports in CPUID 0x80000008;
 * see v3_paging_set_maxphyaddr()).
 * Where Intel and AMD differ the Intel rule is used: bit 8 of a non-leaf
 * PML4E/PDPTE is ignored, not reserved.  PAE PDPTEs are read from memory
 * on every walk (as AMD processors do; no PDPTE registers): a non-present
 * PDPTE gives #PF, a PDPTE with reserved bits #PF with RSVD.  Protection
 * keys are not implemented (PK bits are ignored; the PK error bit is 0).
 * PCIDs are not tagged: a CR3 write always flushes as without PCIDE.
 *
 * Accessed and dirty bits are set as the hardware does, but only when the
 * access succeeds: A in every paging-structure entry used, D in the entry
 * that maps the page on a write.  They are set with atomic
 * compare-and-exchange on the entry's backing memory (RAM, shadow or
 * write-hooked region; a write hook's callback is not called for these
 * updates).  A paging-structure entry that lies in a fully hooked region
 * makes the walk fail with V3_EPTE (one log line): the guest pointed its
 * page tables at a device, and the VMM decides what to do.  An entry in no
 * region at all reads as all ones, as on a PC (unbacked memory floats
 * high): present, A and D set (nothing is written back), and with reserved
 * bits in PAE and long mode and in a 32-bit PDE with CR4.PSE (bit 21), so
 * the walk raises #PF with P and RSVD; a 32-bit walk without PSE goes on to
 * a page table at 0xFFFFF000.  With v3_vm_config::strict_mem such an entry
 * gives V3_EPTE instead.
 *
 * Faults: a #PF carries the architectural error code (P, W/R, U/S, RSVD,
 * and I/D when the access is an instruction fetch and CR4.SMEP is set, or
 * CR4.PAE and EFER.NXE are both set) and cr2 = the faulting linear address.
 *
 * Software TLB: each vCPU set up with v3_paging_init_core() caches, per
 * 4 KiB linear page, the host address of RAM-backed pages and the
 * permissions of every privilege context (the internal fast path is
 * src/paging/tlb.h).  Fully hooked pages are never cached, write-hooked
 * pages only for reads and fetches, and write permission only once the
 * dirty bit is set.  Like a hardware TLB it is not coherent with guest
 * page-table edits: the guest (or the VMM on its behalf) invalidates with
 * INVLPG / CR3 writes / control changes through the functions below.  It is
 * coherent with the memory map: every map change drops the entries of its
 * guest physical range on every vCPU, through a listener.  Walks and fills
 * are serialised with that listener (see tlb.h for the locking), so a map
 * change may come from any thread; an access that a vCPU has already
 * translated when the map changes completes through the old mapping.
 */
#ifndef V3_PAGING_H
#define V3_PAGING_H

#include <stddef.h>
#include <stdint.h>
#include <v3/vcpu.h>

/*
 * Access flags: exactly one of READ/WRITE/EXEC, optionally with modifiers.
 * Anything else is rejected with V3_EINVAL.
 */
#define V3_ACCESS_READ       0x01u
#define V3_ACCESS_WRITE      0x02u
#define V3_ACCESS_EXEC       0x04u
#define V3_ACCESS_SUPERVISOR 0x08u  /**< implicit supervisor access (descriptor tables, TSS) regardless of CPL; ignores RFLAGS.AC */
#define V3_ACCESS_STACK      0x10u  /**< stack access: a non-canonical address raises #SS instead of #GP */

/** Default MAXPHYADDR (physical address width) used for reserved-bit checks: the
 *  default CPU model's (struct v3_cpu_model::phys_bits). */
#define V3_PAGING_MAXPHYADDR 40

/**
 * Translate linear address @p la for an access of kind @p access.
 * Always walks the guest page tables (never answers from the TLB), sets
 * accessed/dirty bits as hardware does, and on success caches the
 * translation in the vCPU's software TLB when the page is RAM-backed.
 * @param exc may be NULL (the fault is then only reported by the return value).
 * @return V3_OK with *gpa set;
 *         V3_EFAULT with *exc filled: #PF (error code, cr2 = la), or
 *         #GP(0)/#SS(0) for a non-canonical address in long mode;
 *         V3_EPTE if a paging-structure entry lies in hooked memory (or in
 *         unbacked memory with strict_mem; the VMM decides);
 *         V3_EINVAL for a NULL core/VM/result or a bad @p access.
 */
int v3_gva_to_gpa(struct v3_core *core, uint64_t la, unsigned access, uint64_t *gpa,
                  struct v3_exception *exc);

/**
 * Check that an access would succeed, without side effects: the same walk
 * and checks as v3_gva_to_gpa(), but no accessed/dirty bit is set and the
 * TLB is not filled.  For multi-page accesses (check every page first, then
 * commit each with v3_gva_to_gpa() or v3_tlb_fill()), so that a fault on a
 * later page leaves no A/D trace of the earlier ones.
 * @return as v3_gva_to_gpa().
 */
int v3_gva_check(struct v3_core *core, uint64_t la, unsigned access, uint64_t *gpa,
                 struct v3_exception *exc);

/**
 * Read @p len bytes at linear address @p la (may cross pages and regions;
 * hooked memory goes through its callbacks, see v3_read_gpa_memory()).
 * Every page is translated and checked before any byte is read, and A/D
 * bits are only set once the whole access is known not to fault.
 * @p access is the permission checked: V3_ACCESS_READ (or 0), V3_ACCESS_EXEC,
 * or V3_ACCESS_WRITE for the read half of a read-modify-write (checks write
 * permission and sets D), optionally with the modifiers.
 * Pages that the TLB holds are read through it (the TLB may be stale with
 * respect to guest page-table edits not yet followed by INVLPG/CR3 writes,
 * exactly like a hardware TLB).
 * These are guest accesses (string I/O, the fault path's fetch use them):
 * guest-physical memory that no region backs reads as all ones, and a
 * paging-structure entry there as an all-ones entry (a #PF with RSVD in
 * PAE and long mode), unless the VM has v3_vm_config::strict_mem, which
 * gives V3_EUNMAPPED / V3_EPTE as v3_read_gpa_memory() would.
 * @return @p len, or a negative error: V3_EFAULT with *exc describing the
 *         first faulting address (nothing read), V3_EPTE (an entry in
 *         hooked memory, or unbacked with strict_mem), V3_EINVAL, or a
 *         memory-map error (V3_EUNMAPPED with strict_mem, V3_ECALLBACK;
 *         bytes before the failing page were read).
 */
int64_t v3_read_gva_memory(struct v3_core *core, uint64_t la, size_t len, void *dst,
                           unsigned access, struct v3_exception *exc);

/**
 * Write counterpart of v3_read_gva_memory(): @p access is V3_ACCESS_WRITE
 * (or 0) with optional modifiers.  Bytes for unbacked guest-physical memory
 * are dropped (strict_mem: V3_EUNMAPPED).  On a fault nothing is written
 * and no A/D bit changes.  A memory-map error part-way (V3_EUNMAPPED or V3_ECALLBACK
 * from v3_write_gpa_memory()) leaves the pages before the failing one
 * written.  The only other partial write is when another vCPU changes the
 * page tables between the check and the copy.
 */
int64_t v3_write_gva_memory(struct v3_core *core, uint64_t la, size_t len, const void *src,
                            unsigned access, struct v3_exception *exc);

/**
 * Set up the software TLB for @p core and register its memory-map listener
 * (called by v3_create_vm() for every vCPU).
 * @return V3_OK, V3_EINVAL (NULL core or VM), V3_ENOMEM, V3_EEXIST (already set up).
 */
int v3_paging_init_core(struct v3_core *core);
/** Unregister the listener and release the TLB; @p core->tlb becomes NULL.  Safe on a core without TLB. */
void v3_paging_free_core(struct v3_core *core);

/**
 * Set the MAXPHYADDR used for reserved-bit checks (36..52; it should match
 * what CPUID reports to the guest).  Needs v3_paging_init_core().  Flushes the TLB.
 * @return V3_OK, V3_EINVAL (no TLB, or @p bits out of range).
 */
int v3_paging_set_maxphyaddr(struct v3_core *core, unsigned bits);

/*
 * TLB invalidation.  A vCPU without a TLB (v3_paging_init_core() not
 * called) ignores these.  Memory-map changes invalidate by themselves
 * (through the listener): entries whose guest physical page lies in the
 * changed range are dropped, on every vCPU of the VM.
 */
/** Drop every TLB entry of @p core. */
void v3_tlb_flush_all(struct v3_core *core);
/** Drop every entry except global ones (a CR3 write with CR4.PGE set). */
void v3_tlb_flush_nonglobal(struct v3_core *core);
/** INVLPG: drop the entries translating @p la (including a large page covering it, global or not). */
void v3_tlb_invlpg(struct v3_core *core, uint64_t la);
/** Tell the TLB that CR3 was written: non-global entries when CR4.PGE, else all. */
void v3_paging_cr3_written(struct v3_core *core);
/**
 * Tell the TLB that CR0/CR4/EFER changed from the given old values: full
 * flush when CR0.PG/WP, CR4.PAE/PSE/PGE/SMEP/SMAP/LA57/PCIDE or
 * EFER.NXE/LME/LMA changed; nothing otherwise.
 */
void v3_paging_controls_changed(struct v3_core *core, uint64_t old_cr0, uint64_t old_cr4, uint64_t old_efer);

#endif
