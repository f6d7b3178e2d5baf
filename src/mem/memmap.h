/* SPDX-License-Identifier: MIT */
/* Internal memory-map state embedded in struct v3_vm (see include/v3/mem.h). */
#ifndef V3_MEM_MEMMAP_H
#define V3_MEM_MEMMAP_H

#include <v3/mem.h>

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
    void *lock;                      /* host rwlock */
    struct v3_mem_listener *listeners;
};

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

#endif
