/* SPDX-License-Identifier: MIT */
/**
 * @file v3/mem.h
 * The guest physical memory map.
 *
 * Each VM has a base region, guest RAM [0, mem_size) allocated through the
 * host interface, and any number of non-overlapping, page-granular overlay
 * regions anywhere in the 52-bit guest physical space, kept in a red-black
 * tree.  Where an overlay covers RAM it takes priority.  Overlay kinds:
 *
 *  - V3_REGION_SHADOW: guest range backed by host memory the caller owns;
 *  - V3_REGION_WRITE_HOOK: reads come from backing memory; a write calls the
 *    write callback first and then, if the callback returned 0, updates the
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
 * change the map (add, hook, unhook or delete regions).
 *
 * Concurrency: map changes take the map's write lock (a host rwlock); guest
 * accesses through v3_read_gpa_memory()/v3_write_gpa_memory() take the read
 * lock.  Raw lookups (v3_get_shadow_region(), v3_mem_lookup()) do not lock:
 * the caller holds v3_mem_read_lock() when other threads may change the map.
 * Every change bumps a generation number that invalidates per-vCPU lookup
 * caches, and calls the registered change listeners once with the changed
 * range, with the write lock held, before a removed region is freed.
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

/** A region.  Fields are read-only for users of this API. */
struct v3_mem_region {
    struct v3_rb_node node;
    uint64_t guest_start;        /**< first byte */
    uint64_t guest_end;          /**< one past the last byte */
    void *host_addr;             /**< backing memory (NULL for a full hook) */
    v3_mem_read_fn read_hook;
    v3_mem_write_fn write_hook;
    void *priv;
    uint64_t hook_calls;         /**< callback invocations (statistics) */
    enum v3_region_type type;
};

/** Called after a region is inserted or before one is freed: [start, end) changed. */
typedef void (*v3_mem_listener_fn)(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv);

/* ---- changing the map: return V3_OK or a negative enum v3_error; on error the map is unchanged ---- */

/** Back [start, end) with caller-owned host memory at @p host_addr (page aligned, not freed by v3). */
int v3_add_shadow_mem(struct v3_vm *vm, uint64_t start, uint64_t end, void *host_addr);
/** Write-hook [start, end), backed by @p host_addr (caller-owned).  @p write must not be NULL. */
int v3_hook_write_mem(struct v3_vm *vm, uint64_t start, uint64_t end, void *host_addr,
                      v3_mem_write_fn write, void *priv);
/** Fully hook [start, end).  Both callbacks must be non-NULL. */
int v3_hook_full_mem(struct v3_vm *vm, uint64_t start, uint64_t end,
                     v3_mem_read_fn read, v3_mem_write_fn write, void *priv);
/** Remove the write or full hook that starts at @p start.  V3_ENOENT if none, V3_ENOTHOOK for a shadow region. */
int v3_unhook_mem(struct v3_vm *vm, uint64_t start);
/** Remove the overlay region (any kind) that starts at @p start.  V3_ENOENT if none. */
int v3_delete_shadow_region(struct v3_vm *vm, uint64_t start);

/* ---- lookups ---- */

/** The region covering @p gpa: an overlay first, else the base region; NULL if none (also at gpa >= mem_size without overlay). */
struct v3_mem_region *v3_get_shadow_region(struct v3_vm *vm, uint64_t gpa);
/** As v3_get_shadow_region() with a caller-owned last-hit cache (e.g. &core->mem_cache). */
struct v3_mem_region *v3_mem_lookup(struct v3_vm *vm, struct v3_mem_cache *cache, uint64_t gpa);
/**
 * Host address of @p gpa inside @p reg.
 * @return V3_OK and *hva set; V3_EHOOKED for a full hook (no memory);
 *         V3_EUNMAPPED if @p gpa is outside the region; V3_EINVAL for NULL.
 */
int v3_get_shadow_addr(const struct v3_mem_region *reg, uint64_t gpa, void **hva);
/** Host address of @p gpa for RAM-backed memory (base, shadow, write hook). V3_EHOOKED / V3_EUNMAPPED otherwise. */
int v3_gpa_to_hva(struct v3_vm *vm, uint64_t gpa, void **hva);

/** The base region (guest RAM). */
struct v3_mem_region *v3_mem_base(struct v3_vm *vm);
/** Guest RAM size in bytes. */
uint64_t v3_mem_size(struct v3_vm *vm);
/** Overlay regions in address order: first, and the one after @p reg (NULL at the end). */
struct v3_mem_region *v3_mem_first(struct v3_vm *vm);
struct v3_mem_region *v3_mem_next(struct v3_vm *vm, struct v3_mem_region *reg);
/** Number of overlay regions. */
size_t v3_mem_region_count(struct v3_vm *vm);
/** "base", "shadow", "write-hook", "full-hook", or "unknown". */
const char *v3_shdw_region_type_to_str(enum v3_region_type type);
/** Log the map as a table through the host logger at @p level (an empty map logs just the base region). */
void v3_print_shadow_map(struct v3_vm *vm, int level);

/* ---- guest physical access ---- */

/**
 * Read @p len bytes at @p gpa into @p dst (any length and alignment, across
 * pages and regions).  RAM is copied; hooked regions go through callbacks.
 * @p core is the accessing vCPU or NULL.
 * @return @p len, or a negative error (V3_EUNMAPPED where no region covers a
 *         byte, V3_ECALLBACK if a callback failed) - then no byte after the
 *         failing one was read and, for writes, see v3_write_gpa_memory().
 */
int64_t v3_read_gpa_memory(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, void *dst);
/**
 * Write @p len bytes from @p src at @p gpa.  The whole range is checked to be
 * mapped before any byte is written, so an unmapped byte fails the access
 * with nothing written.  A callback failure part-way is reported as
 * V3_ECALLBACK; the pieces before it were written.
 */
int64_t v3_write_gpa_memory(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, const void *src);

/* ---- listeners and locking ---- */

/** Register a change listener.  V3_EEXIST if the same (fn, priv) is registered. */
int v3_mem_add_listener(struct v3_vm *vm, v3_mem_listener_fn fn, void *priv);
/** Remove a change listener.  V3_ENOENT if not registered. */
int v3_mem_remove_listener(struct v3_vm *vm, v3_mem_listener_fn fn, void *priv);
/** Current map generation (bumped by every change). */
uint64_t v3_mem_generation(struct v3_vm *vm);
void v3_mem_read_lock(struct v3_vm *vm);
void v3_mem_read_unlock(struct v3_vm *vm);

#endif
