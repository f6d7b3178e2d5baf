/* SPDX-License-Identifier: MIT */
/**
 * @file v3/mem.h
 * The guest physical memory map.
 *
 * Each VM has a base region, guest RAM [0, mem_size) allocated through the
 * host interface, and any number of non-overlapping, page-granular overlay
 * regions anywhere in the 52-bit guest physical space, kept in a red-black
 * tree (order, iteration, overlap checks) with a dense sorted lookup index
 * beside it (O(log n) lookups with few cache misses).  Where an overlay
 * covers RAM it takes priority.  Overlay kinds:
 *
 *  - V3_REGION_SHADOW: guest range backed by host memory the caller owns;
 *  - V3_REGION_WRITE_HOOK: reads come from backing memory; a write calls the
 *    write callback first and then, if the callback returned >= 0, updates the
 *    backing memory.  A callback that returns a negative value vetoes the
 *    write: memory is left unchanged and the access fails with V3_ECALLBACK;
 *  - V3_REGION_FULL_HOOK: MMIO.  No backing memory; every read and write
 *    goes to the callbacks.
 *
 * Callbacks receive the vCPU that made the access (NULL for accesses made by
 * the VMM itself), the guest physical address, and a buffer.  One call never
 * spans two regions or two 4 KiB pages, and an access the guest made at full
 * width (up to 16 bytes, or up to a page boundary for VMM accesses) arrives
 * as one call.  Callbacks run with the map's read lock held: they must not
 * change the map (add, hook, unhook or delete regions, add or remove
 * listeners); a callback that does waits forever (the change waits for the
 * callback's own vCPU to leave its access; after about a second it logs one
 * warning naming that vCPU).
 *
 * Concurrency: the map has two read sides.  A guest access made with a
 * core of the map's VM (v3_read/write_gpa_memory() with that core, and
 * the software CPU, the fault path and the page walker) takes the core's
 * own read lock: a per-vCPU depth counter, no host call: two plain
 * accesses to enter when the host offers barrier_all() (v3/host.h; map
 * changes then call it), else one store with a full barrier; a plain
 * store to leave.  It is
 * recursive: a callback may call v3_read/write_gpa_memory() again with the
 * same core, or with a NULL core.  The software CPU holds its vCPU's read
 * lock for a whole run and leaves it at block boundaries when a change is
 * announced, so a change waits for the next block boundary of each running
 * vCPU.  Accesses with a NULL core (or a core of
 * another VM) and v3_mem_read_lock() use the host rwlock.  A core is used
 * only from the thread running it.  Map changes (and VM teardown) wait for
 * both: a change announces itself, waits until every vCPU of the VM has
 * left its accesses (vCPUs that start one meanwhile wait for the change),
 * then takes the host write lock; changes run one at a time.  So a thread
 * must not hold v3_mem_read_lock() while it makes an access with a core,
 * and a vCPU must not hold, across a guest access, a lock that a callback
 * on another vCPU may wait for.  Raw lookups (v3_get_shadow_region(),
 * v3_mem_lookup(), v3_gpa_to_hva(), iteration) do not lock: the caller
 * holds v3_mem_read_lock() when other threads may change the map, and a
 * region pointer or host address it obtained stays valid only while it
 * holds it.
 *
 * Every change bumps a generation number that invalidates per-vCPU lookup
 * caches, and calls the registered change listeners once with the whole
 * changed range, with the write lock held: after the region is inserted,
 * and before a removed region leaves the tree and is freed.  Listeners must
 * not call functions that take the map lock.
 *
 * Errors: every failing call returns a distinct negative enum v3_error,
 * logs exactly one line through the host logger, and leaves the map as it
 * was.  Range checks run in this order: start >= end (V3_ERANGE_ORDER),
 * start or end not 4 KiB aligned (V3_EALIGN), end above 2^52 (V3_ELIMIT),
 * NULL callback (V3_ENOCALLBACK), NULL host memory (V3_EINVAL) or host
 * memory not 4 KiB aligned (V3_EALIGN), out of memory (V3_ENOMEM), overlap
 * with an existing overlay (V3_EOVERLAP, the log line names both ranges).
 * Overlays may overlap base RAM (they take priority there) but not each
 * other.
 */
#ifndef V3_MEM_H
#define V3_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <v3/rbtree.h>
#include <v3/vcpu.h>

#define V3_PAGE_SIZE   4096ull
#define V3_GPA_LIMIT   (1ull << 52)    /**< guest physical addresses are below this */

enum v3_region_type {
    V3_REGION_BASE = 0,      /**< guest RAM, the base region */
    V3_REGION_SHADOW,        /**< host memory given by the caller */
    V3_REGION_WRITE_HOOK,    /**< write-hooked, reads hit memory */
    V3_REGION_FULL_HOOK,     /**< fully hooked (MMIO) */
};

/** Read callback of a full hook: fill @p dst with @p len bytes at @p gpa.  0 or negative error. */
typedef int (*v3_mem_read_fn)(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv);
/** Write callback: @p len bytes at @p gpa from @p src.  0 or negative error. */
typedef int (*v3_mem_write_fn)(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv);

/**
 * A region.  Fields are read-only for users of this API.  The record is 80
 * bytes; with its 16-byte lookup-index entry a region costs 96 bytes
 * (checked at compile time in src/mem/memmap.c).
 */
struct v3_mem_region {
    struct v3_rb_node node;
    uint64_t guest_start;        /**< first byte */
    uint64_t guest_end;          /**< one past the last byte */
    void *host_addr;             /**< backing memory (NULL for a full hook) */
    v3_mem_read_fn read_hook;
    v3_mem_write_fn write_hook;
    void *priv;
    /** Callback invocations (statistics, wraps at 2^32; read it with an
     *  atomic load).  Calls made by the software CPU are counted per vCPU and
     *  added in batches: when its run() returns, every 4096 calls, and before
     *  the region is changed.  The count is exact whenever no vCPU is running. */
    uint32_t hook_calls;
    enum v3_region_type type;
};

/** Called after a region is inserted or before one is freed: [start, end) changed. */
typedef void (*v3_mem_listener_fn)(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv);

/* ---- changing the map: return V3_OK or a negative enum v3_error; on error the map is unchanged ---- */

/**
 * Back [start, end) with caller-owned host memory at @p host_addr (4 KiB
 * aligned, at least end - start bytes, not freed by v3).  Guest reads and
 * writes go straight to that memory.
 * @return V3_OK, V3_EINVAL (NULL vm or host_addr), V3_ERANGE_ORDER,
 *         V3_EALIGN, V3_ELIMIT, V3_ENOMEM or V3_EOVERLAP.
 */
int v3_add_shadow_mem(struct v3_vm *vm, uint64_t start, uint64_t end, void *host_addr);
/**
 * Write-hook [start, end), backed by @p host_addr (caller-owned, as for
 * v3_add_shadow_mem()).  Reads come from the backing memory.  A write calls
 * @p write(core, gpa, src, len, priv) for each (page, region) piece first;
 * if it returns >= 0 the piece is then copied into the backing memory, if
 * it returns < 0 the piece is not stored and the access stops with
 * V3_ECALLBACK (earlier pieces stay written).
 * @return as v3_add_shadow_mem(), plus V3_ENOCALLBACK for a NULL @p write.
 */
int v3_hook_write_mem(struct v3_vm *vm, uint64_t start, uint64_t end, void *host_addr,
                      v3_mem_write_fn write, void *priv);
/**
 * Fully hook [start, end) (MMIO): no memory behind it; every read calls
 * @p read and every write @p write, once per (page, region) piece.
 * @return V3_OK, V3_EINVAL (NULL vm), V3_ERANGE_ORDER, V3_EALIGN,
 *         V3_ELIMIT, V3_ENOCALLBACK (either callback NULL), V3_ENOMEM or
 *         V3_EOVERLAP.
 */
int v3_hook_full_mem(struct v3_vm *vm, uint64_t start, uint64_t end,
                     v3_mem_read_fn read, v3_mem_write_fn write, void *priv);
/**
 * Remove the write or full hook that starts exactly at @p start.  Listeners
 * run first, then the record is freed (the backing memory is the caller's).
 * @return V3_OK, V3_EINVAL (NULL vm), V3_ENOENT if no overlay starts there,
 *         V3_ENOTHOOK if it is a shadow region (use v3_delete_shadow_region()).
 */
int v3_unhook_mem(struct v3_vm *vm, uint64_t start);
/**
 * Remove the overlay region (any kind) that starts exactly at @p start.
 * @return V3_OK, V3_EINVAL (NULL vm) or V3_ENOENT.  The base region cannot
 *         be removed (it is not an overlay: V3_ENOENT).
 */
int v3_delete_shadow_region(struct v3_vm *vm, uint64_t start);

/* ---- lookups ---- */

/**
 * The region covering @p gpa: an overlay first, else the base region; NULL
 * if none (also at gpa >= mem_size without overlay, and for a NULL vm).
 * O(log n), no locking, no logging.
 */
struct v3_mem_region *v3_get_shadow_region(struct v3_vm *vm, uint64_t gpa);
/**
 * As v3_get_shadow_region() with a caller-owned last-hit cache (e.g.
 * &core->mem_cache; zero-initialised is valid).  The cache remembers the
 * window around the last answer (the overlay, or the RAM gap between two
 * overlays) and is used only while the map generation is unchanged.  One
 * cache per thread; @p cache may be NULL.
 */
struct v3_mem_region *v3_mem_lookup(struct v3_vm *vm, struct v3_mem_cache *cache, uint64_t gpa);
/**
 * Host address of @p gpa inside @p reg.
 * @return V3_OK and *hva set; V3_EHOOKED for a full hook (no memory);
 *         V3_EUNMAPPED if @p gpa is outside the region; V3_EINVAL for NULL.
 */
int v3_get_shadow_addr(const struct v3_mem_region *reg, uint64_t gpa, void **hva);
/**
 * Host address of @p gpa for RAM-backed memory (base, shadow, write hook).
 * A pointer into a write-hooked region bypasses the hook if written.
 * @return V3_OK; V3_EHOOKED for a full hook; V3_EUNMAPPED where nothing is
 *         mapped; V3_EINVAL for NULL arguments.
 */
int v3_gpa_to_hva(struct v3_vm *vm, uint64_t gpa, void **hva);

/** The base region (guest RAM [0, mem_size)); NULL for a NULL vm. */
struct v3_mem_region *v3_mem_base(struct v3_vm *vm);
/** Guest RAM size in bytes (0 for a NULL vm). */
uint64_t v3_mem_size(struct v3_vm *vm);
/** First overlay region in address order, NULL if there is none. */
struct v3_mem_region *v3_mem_first(struct v3_vm *vm);
/** The overlay after @p reg in address order; NULL at the end, for NULL or for the base region. */
struct v3_mem_region *v3_mem_next(struct v3_vm *vm, struct v3_mem_region *reg);
/** Number of overlay regions. */
size_t v3_mem_region_count(struct v3_vm *vm);
/** "base", "shadow", "write-hook", "full-hook", or "unknown". */
const char *v3_shdw_region_type_to_str(enum v3_region_type type);
/**
 * Log the map as a table through the host logger at @p level (an enum
 * v3_log_level; out-of-range values log at V3_LOG_INFO): a summary line, a
 * header, the base region, then one line per overlay.  An empty map logs
 * just the base region.  Takes the read lock.
 */
void v3_print_shadow_map(struct v3_vm *vm, int level);

/* ---- guest physical access ---- */

/**
 * Read @p len bytes at @p gpa into @p dst (any length and alignment, across
 * pages and regions).  RAM-backed regions are copied; full hooks call their
 * read callback once per (region, 4 KiB page) piece.  @p core is the
 * accessing vCPU or NULL; with a core of this VM its lookup cache is used
 * (only from the thread running that core).  Takes the read lock.
 * The whole range is checked to be mapped before anything is read, so an
 * unmapped byte fails the access with no callback called.
 * @return @p len (0 for len 0), or V3_EINVAL (NULL vm/dst, len > INT64_MAX),
 *         V3_EUNMAPPED (a byte has no region or lies beyond 2^52), or
 *         V3_ECALLBACK (a callback returned < 0: the pieces before it were
 *         read, none after it).
 */
int64_t v3_read_gpa_memory(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, void *dst);
/**
 * Write @p len bytes from @p src at @p gpa.  RAM and shadow memory are
 * written directly; write hooks call their callback and then store the
 * piece (see v3_hook_write_mem()); full hooks call their write callback.
 * The whole range is checked to be mapped before any byte is written, so an
 * unmapped byte fails the access with nothing written.  A callback failure
 * part-way is reported as V3_ECALLBACK; the pieces before it were written.
 * @return @p len or a negative error as for v3_read_gpa_memory().
 */
int64_t v3_write_gpa_memory(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, const void *src);

/* ---- listeners and locking ---- */

/**
 * Register a change listener, called after every insert and before every
 * removal with the region's whole range (see the file comment).  Listeners
 * run in registration order and are freed (not called) at VM teardown.
 * @return V3_OK, V3_EINVAL (NULL vm), V3_ENOCALLBACK (NULL fn), V3_ENOMEM,
 *         or V3_EEXIST if the same (fn, priv) is registered.
 */
int v3_mem_add_listener(struct v3_vm *vm, v3_mem_listener_fn fn, void *priv);
/** Remove a change listener.  V3_OK, V3_EINVAL (NULL vm) or V3_ENOENT if not registered. */
int v3_mem_remove_listener(struct v3_vm *vm, v3_mem_listener_fn fn, void *priv);
/** Current map generation: changes with every insert or removal, never 0, unique across VMs. */
uint64_t v3_mem_generation(struct v3_vm *vm);
/** Take the map's read lock: the map cannot change until v3_mem_read_unlock().  Do not change the map while holding it.  A NULL VM is logged and ignored. */
void v3_mem_read_lock(struct v3_vm *vm);
/** Release the read lock taken by v3_mem_read_lock().  A NULL VM is logged and ignored. */
void v3_mem_read_unlock(struct v3_vm *vm);

#endif
