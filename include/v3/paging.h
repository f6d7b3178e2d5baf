/* SPDX-License-Identifier: MIT */
/**
 * @file v3/paging.h
 * Guest address translation: page walks in every x86 paging mode, and the
 * per-vCPU software TLB that caches them.
 *
 * Addresses here are linear addresses (segmentation already applied).  The
 * vCPU's paging mode, CPL and permission controls come from struct v3_core
 * (CR0.PG/WP, CR4.PSE/PAE/PGE/SMEP/SMAP/LA57, EFER.LMA/NXE, RFLAGS.AC, cpl).
 */
#ifndef V3_PAGING_H
#define V3_PAGING_H

#include <stddef.h>
#include <stdint.h>
#include <v3/vcpu.h>

/* Access flags: one of READ/WRITE/EXEC, optionally with modifiers. */
#define V3_ACCESS_READ       0x01u
#define V3_ACCESS_WRITE      0x02u
#define V3_ACCESS_EXEC       0x04u
#define V3_ACCESS_SUPERVISOR 0x08u  /**< implicit supervisor access (descriptor tables, TSS) regardless of CPL */
#define V3_ACCESS_STACK      0x10u  /**< stack access: a non-canonical address raises #SS instead of #GP */

/**
 * Translate linear address @p la for an access of kind @p access.
 * Sets accessed/dirty bits in the guest page tables as hardware does.
 * @return V3_OK with *gpa set;
 *         V3_EFAULT with *exc filled: #PF (error code, cr2 = la), or
 *         #GP(0)/#SS(0) for a non-canonical address in long mode;
 *         V3_EPTE if a paging-structure entry lies outside RAM-backed memory
 *         (the VMM decides; typically a fatal guest error).
 */
int v3_gva_to_gpa(struct v3_core *core, uint64_t la, unsigned access, uint64_t *gpa,
                  struct v3_exception *exc);

/**
 * Read @p len bytes at linear address @p la (may cross pages and regions;
 * hooked memory goes through its callbacks).  Every page is translated
 * before any byte is read.
 * @return @p len, or a negative error: V3_EFAULT with *exc describing the
 *         first faulting address, or a memory-map error.
 */
int64_t v3_read_gva_memory(struct v3_core *core, uint64_t la, size_t len, void *dst,
                           unsigned access, struct v3_exception *exc);

/** Write counterpart of v3_read_gva_memory(); on a fault nothing is written. */
int64_t v3_write_gva_memory(struct v3_core *core, uint64_t la, size_t len, const void *src,
                            unsigned access, struct v3_exception *exc);

/** Set up the software TLB for @p core and register its memory-map listener. */
int v3_paging_init_core(struct v3_core *core);
/** Release it. */
void v3_paging_free_core(struct v3_core *core);

/** Drop every TLB entry of @p core. */
void v3_tlb_flush_all(struct v3_core *core);
/** Drop every entry except global ones (a CR3 write with CR4.PGE set). */
void v3_tlb_flush_nonglobal(struct v3_core *core);
/** INVLPG: drop the entries translating @p la (including a large page covering it). */
void v3_tlb_invlpg(struct v3_core *core, uint64_t la);
/** Tell the TLB that CR3 was written (flushes as the architecture requires). */
void v3_paging_cr3_written(struct v3_core *core);
/** Tell the TLB that CR0/CR4/EFER changed from the given old values (full flush when a paging control bit changed). */
void v3_paging_controls_changed(struct v3_core *core, uint64_t old_cr0, uint64_t old_cr4, uint64_t old_efer);

#endif
