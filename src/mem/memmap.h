/* SPDX-License-Identifier: MIT */
/* Internal memory-map state embedded in struct v3_vm (see include/v3/mem.h). */
#ifndef V3_MEM_MEMMAP_H
#define V3_MEM_MEMMAP_H

#include <v3/mem.h>
#include "internal/host.h"

struct v3_mem_listener {
    v3_mem_listener_fn fn;
    void *priv;
    struct v3_mem_listener *next;
};

/* Lookup index entry: overlay regions sorted by guest_start. */
struct v3_mem_idx {
    uint64_t start;
    struct v3_mem_region *region;
};

struct v3_mem_map {
    struct v3_mem_region base;       /* guest RAM [0, mem_size) */
    uint64_t mem_size;
    size_t base_pages;               /* pages in base.host_addr, all freed at teardown */
    struct v3_rb_root tree;          /* overlay regions by guest_start */
    size_t count;                    /* overlay regions */
    struct v3_mem_idx *idx;          /* count entries sorted by start (lookups) */
    size_t idx_cap;                  /* entries allocated (at most count + count/32 + 1 after growth) */
    uint64_t generation;             /* bumped by every change; never 0; unique across maps */
    void *lock;                      /* host rwlock: writers and non-vCPU readers */
    void *gate;                      /* host rwlock: writers (write side), vCPUs waiting for one (read side) */
    int writer;                      /* atomic: a writer is announced (see below) */
    struct v3_mem_listener *listeners;
    /* Optional: make a vCPU that holds its read lock across guest execution
     * (the KVM back end, for the whole of KVM_RUN) leave it soon.  A writer
     * calls it for each core it finds inside its read section. */
    void (*core_kick)(struct v3_core *core);
    /* Optional: bring the dirty log below up to date with RAM written
     * behind the map's back (the KVM back end: KVM's own dirty log).
     * Called by src/vm/snapshot.c before it reads or clears the log, with
     * the VM not running. */
    void (*dirty_pull)(struct v3_vm *vm);
    /*
     * Dirty-page log of guest RAM (src/vm/snapshot.c reads and clears it):
     * one bit per page of base RAM [0, mem_size) followed by one per page of
     * the RAM above 4 GiB [dirty_hi_start, + dirty_hi_pages) pages; dirty_sum
     * has one bit per non-zero word of dirty.  Every path that writes RAM
     * marks the page (v3_mem_mark_dirty()); the software TLB marks a page
     * when it caches a writable translation for it.  NULL until set up.
     */
    uint64_t *dirty;
    uint64_t *dirty_sum;
    uint64_t dirty_lo_pages;         /* base RAM pages */
    uint64_t dirty_hi_start;         /* first page number of the high RAM */
    uint64_t dirty_hi_pages;
    /* Same indexing: pages a page walk has read a paging-structure entry
     * from since the bit was last cleared (a fast reset that copies one of
     * them back must drop every cached translation, not only those of the
     * copied pages).  Set by the walker; cleared by a full TLB flush from
     * src/vm/snapshot.c. */
    uint64_t *ptpages;
};

/* Set up the dirty log for base RAM and @p hi_pages pages at page @p hi_start
 * (V3_OK or V3_ENOMEM); freed by v3_mem_map_deinit(). */
int v3_mem_dirty_init(struct v3_mem_map *m, uint64_t hi_start, uint64_t hi_pages);

/* Bit index of guest page number @p pg in the dirty log, or ~0 when it is not RAM. */
static inline uint64_t v3_mem_dirty_index(const struct v3_mem_map *m, uint64_t pg)
{
    if (pg < m->dirty_lo_pages)
        return pg;
    if (pg - m->dirty_hi_start < m->dirty_hi_pages)
        return m->dirty_lo_pages + (pg - m->dirty_hi_start);
    return ~0ull;
}

/* Mark the page of @p gpa written (any thread; nothing for non-RAM). */
static inline void v3_mem_mark_dirty(struct v3_mem_map *m, uint64_t gpa)
{
    uint64_t i = v3_mem_dirty_index(m, gpa >> 12), bit;
    uint64_t *w;

    if (i == ~0ull || !m->dirty)
        return;
    w = &m->dirty[i >> 6];
    bit = 1ull << (i & 63);
    if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit)
        return;
    __atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
    __atomic_fetch_or(&m->dirty_sum[i >> 12], 1ull << ((i >> 6) & 63), __ATOMIC_RELAXED);
}

/* Note that the page of @p gpa holds a paging-structure entry a walk used. */
static inline void v3_mem_mark_pt(struct v3_mem_map *m, uint64_t gpa)
{
    uint64_t i = m ? v3_mem_dirty_index(m, gpa >> 12) : ~0ull, bit;
    uint64_t *w;

    if (!m || i == ~0ull || !m->ptpages)
        return;
    w = &m->ptpages[i >> 6];
    bit = 1ull << (i & 63);
    if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
        __atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
}

/*
 * Move the @p len bytes of one guest access between guest RAM and a buffer
 * (they do not overlap).  Guest RAM is shared with the other vCPUs' threads,
 * so an access of 1, 2, 4, 8 or 16 bytes must be one host load or store, as
 * on x86 (where an aligned one is single-copy atomic), and a store must
 * write each byte once.  memcpy() promises neither: the core is built
 * -ffreestanding, so memcpy() is a call to the C library, and glibc copies 2
 * to 31 bytes with two overlapping moves: a 4-byte guest store became two
 * host stores of the same bytes, and another vCPU's locked read-modify-write
 * landing between them was undone by the second one (an XCHG spin lock let
 * two vCPUs in).  __builtin_memcpy() with a constant size is one move at
 * every optimisation level; other sizes (pieces of page-crossing accesses,
 * 10-byte x87 and 32/64-byte vector operands) go in non-overlapping
 * 8/4/2/1-byte moves.
 */
static inline void v3_mem_copy_pieces(void *dst, const void *src, unsigned len)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *p = (const uint8_t *)src;

    for (; len >= 8; d += 8, p += 8, len -= 8)
        __builtin_memcpy(d, p, 8);
    if (len & 4) { __builtin_memcpy(d, p, 4); d += 4; p += 4; }
    if (len & 2) { __builtin_memcpy(d, p, 2); d += 2; p += 2; }
    if (len & 1) *d = *p;
}

static inline void v3_mem_copy_access(void *dst, const void *src, unsigned len)
{
    switch (len) {
    case 1: *(uint8_t *)dst = *(const uint8_t *)src; break;
    case 2: __builtin_memcpy(dst, src, 2); break;
    case 4: __builtin_memcpy(dst, src, 4); break;
    case 8: __builtin_memcpy(dst, src, 8); break;
    case 16: __builtin_memcpy(dst, src, 16); break;
    default: v3_mem_copy_pieces(dst, src, len); break;
    }
}

/* Mark every page of [gpa, gpa + len) written. */
static inline void v3_mem_mark_dirty_range(struct v3_mem_map *m, uint64_t gpa, uint64_t len)
{
    if (!len)
        return;
    for (uint64_t a = gpa & ~0xfffull; a < gpa + len; a += 0x1000)
        v3_mem_mark_dirty(m, a);
}

/* Called by v3_create_vm() / v3_free_vm().  init returns V3_OK, V3_ESIZE,
 * V3_ELIMIT or V3_ENOMEM (one log line, nothing allocated on failure);
 * deinit frees every region record, all guest RAM pages, listeners and
 * the lock (listeners are not called). */
int v3_mem_map_init(struct v3_vm *vm, uint64_t mem_size);
void v3_mem_map_deinit(struct v3_vm *vm);

/*
 * The region answering @p gpa and the window [lo, hi) around @p gpa in
 * which it stays the answer (the region itself for an overlay, the gap
 * between overlays clipped to RAM for the base region).  NULL when nothing
 * covers @p gpa; lo and hi then bound the hole.  No locking.
 */
struct v3_mem_region *v3_mem_find_window(struct v3_mem_map *m, uint64_t gpa,
                                         uint64_t *lo, uint64_t *hi);

/*
 * The vCPU read lock: the map's read side for the thread running @p core.
 *
 * Each core carries a depth (core->mem_read_depth) that only its own thread
 * writes.  Taking the lock at depth 0 stores depth 1 and then loads
 * m->writer: with the host's barrier_all() (v3/host.h) both are plain
 * accesses (the writer calls barrier_all() between announcing itself and
 * reading the depths, which orders every vCPU's store before the writer's
 * load, or the writer's flag before the vCPU's load: asymmetric Dekker);
 * without it the store is sequentially consistent (one full barrier).  A nested lock
 * only increments the depth, so callbacks may re-enter
 * v3_read/write_gpa_memory() with the same core.  Unlocking stores depth - 1
 * with release order.  No host call on the fast path.
 *
 * A writer (every map change, and teardown) takes the write side of
 * m->gate (writers wait for one another there), sets m->writer, waits
 * (spinning, then yielding through the host's yield()) until every core of
 * the VM has depth 0, then takes the host
 * write lock m->lock (which waits for readers that use v3_mem_read_lock()),
 * changes the map, releases m->lock, clears m->writer and releases the
 * gate.  Both sides store first and load second, each with sequentially
 * consistent operations (Dekker): either the writer sees the core's depth
 * 1 and waits for it, or the core sees the flag and backs off (depth back
 * to 0, wait for the flag to clear, retry).  A backed-off vCPU spins a
 * little, then sleeps on the gate's read side until the writer is done.
 *
 * Rules for users (see also include/v3/mem.h):
 *  - only the thread running @p core takes its lock, and @p core belongs to
 *    the VM whose map is read (core->vm);
 *  - a thread holding the lock must not change the map: the writer would
 *    wait for this core forever (a writer has no way to know its own core;
 *    after a long wait it logs one warning naming the core it waits for);
 *  - a thread holding v3_mem_read_lock() must not take a vCPU read lock
 *    (the writer may be announced and waiting for that host lock);
 *  - while holding it, a vCPU may take v3_mem_read_lock() (e.g. a callback
 *    calling v3_read_gpa_memory(vm, NULL, ...)): a writer waits for the
 *    vCPUs before it takes the host write lock (taking that lock first
 *    would deadlock here: the callback would wait for the writer, which
 *    waits for the callback);
 *  - a vCPU must not hold, across a guest memory access, a lock that a
 *    callback on another vCPU may wait for: with a writer announced, the
 *    access waits for the writer, which waits for that callback.
 */
void v3_mem_core_read_lock_slow(struct v3_core *core);

/*
 * Guest-made accesses to guest physical memory (the software CPU, the fault
 * path, instruction fetch, string I/O, page walks through
 * v3_read/write_gva_memory()).  As v3_read/write_gpa_memory(), except that
 * without v3_vm_config::strict_mem bytes that no region backs read as all
 * ones and writes to them are dropped, as on a PC (each page logged once,
 * bounded; counted in v3_vm_stats::mem_unbacked).  With strict_mem a hole
 * fails the access with V3_EUNMAPPED, having touched nothing.
 */
int64_t v3_guest_read_gpa(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, void *dst);
int64_t v3_guest_write_gpa(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, const void *src);
/* true unless the VM is strict_mem: a guest access to a hole is answered, not an error */
bool v3_mem_unbacked_ok(const struct v3_vm *vm);
/* Count and (once per page, bounded) log a guest access to unbacked @p gpa. */
void v3_mem_note_unbacked(struct v3_vm *vm, uint64_t gpa, bool write);
#define V3_UNBACKED_LOG 16u

/* struct v3_mem_map is the first member of struct v3_vm (checked in memmap.c). */
static inline struct v3_mem_map *v3_mem_map_of_core(const struct v3_core *core)
{
    return (struct v3_mem_map *)(void *)core->vm;
}

static inline void v3_mem_core_read_lock(struct v3_core *core)
{
    unsigned d = __atomic_load_n(&core->mem_read_depth, __ATOMIC_RELAXED);

    if (d) {
        __atomic_store_n(&core->mem_read_depth, d + 1, __ATOMIC_RELAXED);
        return;
    }
    if (__builtin_expect(v3_host.barrier_all != NULL, 1)) {
        /* the writer's barrier_all() orders this store before its loads */
        __atomic_store_n(&core->mem_read_depth, 1u, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (__builtin_expect(__atomic_load_n(&v3_mem_map_of_core(core)->writer, __ATOMIC_RELAXED) != 0, 0))
            v3_mem_core_read_lock_slow(core);
        return;
    }
    __atomic_store_n(&core->mem_read_depth, 1u, __ATOMIC_SEQ_CST);
    if (__builtin_expect(__atomic_load_n(&v3_mem_map_of_core(core)->writer, __ATOMIC_SEQ_CST) != 0, 0))
        v3_mem_core_read_lock_slow(core);
}

/*
 * A vCPU back end may hold its core's read lock for a whole run (the
 * software CPU does: then a map change, and the listeners it calls, never
 * run while the vCPU uses its TLB or decoded code).  It must then offer
 * the writer a quiescent point often (at block boundaries): when
 * v3_mem_writer_waiting() says a change is announced, v3_mem_core_quiesce()
 * leaves the read section, waits for the change and enters again.  Only at
 * depth 1 (no access in progress).
 */
static inline int v3_mem_writer_waiting(const struct v3_core *core)
{
    return __atomic_load_n(&v3_mem_map_of_core(core)->writer, __ATOMIC_RELAXED) != 0;
}
void v3_mem_core_quiesce(struct v3_core *core);

static inline void v3_mem_core_read_unlock(struct v3_core *core)
{
    unsigned d = __atomic_load_n(&core->mem_read_depth, __ATOMIC_RELAXED);

    __atomic_store_n(&core->mem_read_depth, d - 1, __ATOMIC_RELEASE);
}

#endif
