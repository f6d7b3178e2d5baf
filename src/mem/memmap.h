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

struct v3_mem_map {
    struct v3_mem_region base;       /* guest RAM [0, mem_size) */
    uint64_t mem_size;
    struct v3_rb_root tree;          /* overlay regions by guest_start */
    size_t count;                    /* overlay regions */
    uint64_t generation;             /* bumped by every change */
    void *lock;                      /* host rwlock */
    struct v3_mem_listener *listeners;
};

/* Called by v3_create_vm() / v3_free_vm(). */
int v3_mem_map_init(struct v3_vm *vm, uint64_t mem_size);
void v3_mem_map_deinit(struct v3_vm *vm);

#endif
