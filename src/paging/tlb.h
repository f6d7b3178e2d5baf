/* SPDX-License-Identifier: MIT */
/*
 * The per-vCPU software TLB (internal interface).
 *
 * A direct-mapped array of V3_TLB_SIZE entries indexed by the linear page
 * number.  Each entry caches, for one 4 KiB linear page, the host address of
 * its backing memory and which accesses may use it, for each of three
 * privilege contexts:
 *   user (CPL 3, not implicit), supervisor (CPL < 3 with RFLAGS.AC = 0, or an
 *   implicit supervisor access), supervisor with RFLAGS.AC = 1.
 * Pages of a large page are cached one 4 KiB slice at a time, remembering
 * the large page's size for INVLPG.
 *
 * Only RAM-backed pages are cached (base RAM, shadow regions); write-hooked
 * pages are cached for reads and fetches only; fully hooked pages never.
 * Write permission is only cached once the dirty bit of the mapping entry is
 * set, so the first write to a clean page takes the slow path and sets D;
 * and only by a fill made for a write, which marks the page in the VM's
 * dirty-page log (src/mem/memmap.h): a page read first takes one more fill
 * on its first write.  Clearing the log takes write permission from every
 * entry (v3_tlb_drop_write()).
 *
 * Use from the software CPU, on every guest memory access:
 *
 *     uint8_t *p = v3_tlb_lookup(core, la, V3_ACCESS_READ);
 *     if (!p) {        // miss, not cacheable, or fault: slow path
 *         rc = v3_tlb_fill(core, la, V3_ACCESS_READ, &hva, &gpa, &exc);
 *         ...          // rc < 0: fault/error; hva NULL: go through gpa
 *     }
 *
 * The pointer is valid up to the end of the 4 KiB page containing @p la,
 * until the next invalidation (memory-map change, CR3 write, INVLPG, control
 * register change).
 *
 * Concurrency.  Every change to the TLB (fill, flush, INVLPG, range drop)
 * happens under the TLB's own lock, which the memory-map listener also
 * takes (inside the map's write lock; lock order: map, then TLB).  A walk
 * holds the TLB lock from start to fill, reading paging structures through
 * the memory windows cached in the TLB (copies of region geometry that the
 * listener drops), so the map can neither finish a change nor free a
 * removed region under a walk, and no fill made from the old map survives
 * the change.  A walk that needs memory not in a cached window starts again
 * with the map's read lock held.  The lookup fast path takes no lock: a
 * pointer obtained from it must not be used after the map changes.  The
 * software CPU guarantees that by holding its vCPU's read lock on the map
 * for a whole run and leaving it only at block boundaries
 * (v3_mem_core_quiesce()): a map change, and this listener, run only while
 * no access of that vCPU is in flight.  Another user of the fast path on a
 * running vCPU must do the same.
 */
#ifndef V3_PAGING_TLB_H
#define V3_PAGING_TLB_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/paging.h>
#include "mem/memmap.h"

#define V3_TLB_BITS   12
#define V3_TLB_SIZE   (1u << V3_TLB_BITS)
#define V3_TLB_NOTAG  1ull            /* tag of an empty entry: never a page address */

/* perm: bits [4*ctx + 0..2] = read, write, exec allowed in context ctx */
#define V3_TLB_CTX_USER 0u
#define V3_TLB_CTX_SUP  1u
#define V3_TLB_CTX_SUPAC 2u
#define V3_TLB_PERM_ALL 0x777u

/* flags */
#define V3_TLB_GLOBAL  0x01u          /* global page (G with CR4.PGE) */
#define V3_TLB_DIRTY   0x02u          /* D was set in the mapping entry when filled */
#define V3_TLB_WHOOK   0x04u          /* page is write-hooked (never writable here) */

struct v3_tlb_entry {
    uint64_t tag;         /* linear address of the 4 KiB page, or V3_TLB_NOTAG */
    uint8_t *hva;         /* host address of that page */
    uint64_t gpa;         /* guest physical address of that page */
    uint16_t perm;
    uint8_t flags;
    uint8_t shift;        /* log2 of the mapping page size: 12, 21, 22 or 30 */
    uint16_t live;        /* index in v3_tlb::live */
    uint16_t pad;
};

struct v3_tlb_stats {
    uint64_t fills;             /* entries written */
    uint64_t flush_all;         /* v3_tlb_flush_all() calls (any cause) */
    uint64_t flush_nonglobal;
    uint64_t invlpg;
    uint64_t range_inval;       /* memory-map listener calls */
    uint64_t dropped;           /* entries dropped by any invalidation */
};

/* A window of guest physical memory answered by one region (see walk.c). */
struct v3_tlb_win {
    uint64_t start, size;
    uint8_t *base;            /* host address of start; NULL: not RAM-backed */
    unsigned type;            /* enum v3_region_type */
};
#define V3_TLB_NWIN 4

struct v3_tlb {
    struct v3_tlb_entry e[V3_TLB_SIZE];   /* first: core->tlb points here */
    uint16_t live[V3_TLB_SIZE];           /* indices of valid entries */
    uint64_t live_gpa[V3_TLB_SIZE];       /* their gpa pages, for range scans */
    unsigned nlive;
    unsigned nlarge;                      /* valid entries with shift > 12 */
    uint64_t gpa_lo, gpa_hi;              /* bounds of cached gpa pages (lo > hi when empty) */
    /*
     * Serialises changes to the TLB (fills, flushes) with the memory-map
     * listener, which runs on whatever thread changes the map.  Held for a
     * whole walk: the listener cannot complete, and the map cannot free a
     * removed region, while a walk uses a memory window.
     */
    int lock;
    /* memory windows of the paging structures and pages recently walked,
       most recently used first; dropped by every memory-map change */
    struct v3_tlb_win win[V3_TLB_NWIN];
    /* reserved-bit masks for the configured MAXPHYADDR */
    unsigned maxphyaddr;
    uint64_t addr_mask;                   /* bits maxphyaddr-1:12 */
    uint64_t rsvd_pae, rsvd_long;         /* bits 62:M and 51:M */
    uint64_t rsvd_long_nxe[2];            /* rsvd_long, with XD while EFER.NXE is clear:
                                             [0] NXE clear, [1] NXE set */
    /* the walk's permission bits by (U/S, R/W, XD) under the controls in
       perm_key (CR0.WP | CR4.SMEP | CR4.SMAP | 1; 0: not computed yet) */
    uint64_t perm_key;
    uint16_t perm_tab[8];
    struct v3_core *core;
    struct v3_tlb_stats stats;
};

static inline void v3_tlb_lock(struct v3_tlb *t)
{
    while (__builtin_expect(__atomic_exchange_n(&t->lock, 1, __ATOMIC_ACQUIRE), 0))
        while (__atomic_load_n(&t->lock, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

static inline void v3_tlb_unlock(struct v3_tlb *t)
{
    __atomic_store_n(&t->lock, 0, __ATOMIC_RELEASE);
}

/* Privilege context of an access: the shift of its bits in perm. */
static inline unsigned v3_tlb_ctx_shift(const struct v3_core *core, unsigned access)
{
    if (access & V3_ACCESS_SUPERVISOR)
        return 4 * V3_TLB_CTX_SUP;
    if (core->cpl == 3)
        return 4 * V3_TLB_CTX_USER;
    return 4 + (unsigned)((core->rflags >> 16) & 4);   /* RFLAGS.AC (bit 18) -> ctx 2 */
}

/*
 * Host address of linear address @p la for an access of kind @p access
 * (exactly one of READ/WRITE/EXEC, optional SUPERVISOR), or NULL on a miss,
 * a page that is not cacheable for this access, or an access the cached
 * permissions deny (the slow path then raises the fault).
 */
static inline void *v3_tlb_lookup(struct v3_core *core, uint64_t la, unsigned access)
{
    struct v3_tlb_entry *e = (struct v3_tlb_entry *)core->tlb;

    if (__builtin_expect(!e, 0))
        return (void *)0;
    e += (la >> 12) & (V3_TLB_SIZE - 1);
    if (__builtin_expect(e->tag != (la & ~0xfffull), 0))
        return (void *)0;
    if (__builtin_expect(!((e->perm >> v3_tlb_ctx_shift(core, access)) & access & 7u), 0))
        return (void *)0;
    return e->hva + (la & 0xfff);
}

/*
 * Slow path: walk (setting A/D), fill the TLB when cacheable, and return
 * the translation.  On V3_OK *gpa is the guest physical address of @p la and
 * *hva its host address when the page may be accessed directly for this
 * access (RAM; read/exec of a write-hooked page), else NULL (go through
 * v3_read_gpa_memory()/v3_write_gpa_memory()).  Errors as v3_gva_to_gpa().
 */
int v3_tlb_fill(struct v3_core *core, uint64_t la, unsigned access, void **hva, uint64_t *gpa,
                struct v3_exception *exc);

/* Take write permission from every entry (the dirty log was cleared: the
 * next write through each page fills again and marks it). */
void v3_tlb_drop_write(struct v3_core *core);

/* Drop the entries whose guest physical page is marked in the dirty log
 * of map @p m (a fast reset copies those pages back). */
void v3_tlb_drop_dirty(struct v3_core *core, const struct v3_mem_map *m);

/* Drop the entries whose guest physical page lies in [start, end). */
void v3_tlb_invalidate_gpa_range(struct v3_core *core, uint64_t start, uint64_t end);

/* Test and statistics helpers. */
struct v3_tlb_probe {
    uint64_t gpa;
    void *hva;
    unsigned perm, flags, shift;
};
/* 1 and *out filled if an entry for the 4 KiB page of @p la exists, else 0. */
int v3_tlb_probe(struct v3_core *core, uint64_t la, struct v3_tlb_probe *out);
/* Number of valid entries. */
unsigned v3_tlb_count(struct v3_core *core);
/* Counters (NULL if no TLB). */
const struct v3_tlb_stats *v3_tlb_get_stats(struct v3_core *core);

/* Internal: insert an entry (from the walker), TLB lock held. */
static inline void v3_tlb_insert(struct v3_tlb *t, uint64_t la_page, uint8_t *hva, uint64_t gpa_page,
                   unsigned perm, unsigned flags, unsigned shift)
{
    unsigned idx = (unsigned)(la_page >> 12) & (V3_TLB_SIZE - 1);
    struct v3_tlb_entry *e = &t->e[idx];

    if (e->tag != V3_TLB_NOTAG) {
        if (e->shift > 12)
            t->nlarge--;
    } else {
        e->live = (uint16_t)t->nlive;
        t->live[t->nlive++] = (uint16_t)idx;
    }
    t->live_gpa[e->live] = gpa_page;
    /* a writable translation: the page counts as written from now on (the
       dirty log; clearing it drops write permission, v3_tlb_drop_write()) */
    if ((perm & (V3_ACCESS_WRITE * 0x111u)) && t->core && t->core->vm)
        v3_mem_mark_dirty(v3_mem_map_of_core(t->core), gpa_page);
    if (shift > 12)
        t->nlarge++;
    e->hva = hva;
    e->gpa = gpa_page;
    e->perm = (uint16_t)perm;
    e->flags = (uint8_t)flags;
    e->shift = (uint8_t)shift;
    e->tag = la_page;
    if (gpa_page < t->gpa_lo)
        t->gpa_lo = gpa_page;
    if (gpa_page > t->gpa_hi)
        t->gpa_hi = gpa_page;
    t->stats.fills++;
}

#endif
