/* SPDX-License-Identifier: MIT */
/* Helpers shared by the memory-map tests: map snapshots for "unchanged" checks. */
#ifndef V3_TEST_MM_UTIL_H
#define V3_TEST_MM_UTIL_H

#include <stdlib.h>
#include <string.h>
#include "v3test.h"
#include "internal/vm.h"
#include <v3/backend.h>

#define PG 4096ull

struct mm_snap_region {
    uint64_t start, end;
    enum v3_region_type type;
    void *host;
    v3_mem_read_fn rd;
    v3_mem_write_fn wr;
    void *priv;
};

struct mm_snap {
    size_t count;
    struct mm_snap_region *regions;
    size_t nlisteners;
    void *listeners[32][2];
    uint64_t generation;
    uint64_t mem_size;
    void *base_host;
    uint64_t ram_hash;
};

static inline uint64_t mm_hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Snapshot using only the public API (plus the listener list from the internal state). */
static inline void mm_snapshot(struct v3_vm *vm, struct mm_snap *s)
{
    struct v3_mem_region *r;
    size_t i = 0;

    memset(s, 0, sizeof(*s));
    s->count = v3_mem_region_count(vm);
    s->regions = calloc(s->count + 1, sizeof(*s->regions));
    for (r = v3_mem_first(vm); r; r = v3_mem_next(vm, r), i++) {
        assert_true(i < s->count);
        s->regions[i] = (struct mm_snap_region){ r->guest_start, r->guest_end, r->type,
                                                 r->host_addr, r->read_hook, r->write_hook, r->priv };
    }
    assert_int_equal(i, s->count);
    for (struct v3_mem_listener *l = vm->mem.listeners; l && s->nlisteners < 32; l = l->next) {
        s->listeners[s->nlisteners][0] = (void *)l->fn;
        s->listeners[s->nlisteners][1] = l->priv;
        s->nlisteners++;
    }
    s->generation = v3_mem_generation(vm);
    s->mem_size = v3_mem_size(vm);
    s->base_host = v3_mem_base(vm)->host_addr;
    s->ram_hash = mm_hash(s->base_host, (size_t)s->mem_size);
}

static inline void mm_snap_free(struct mm_snap *s)
{
    free(s->regions);
    s->regions = NULL;
}

static inline void mm_assert_same(const struct mm_snap *a, const struct mm_snap *b)
{
    assert_int_equal(a->count, b->count);
    assert_memory_equal(a->regions, b->regions, a->count * sizeof(*a->regions));
    assert_int_equal(a->nlisteners, b->nlisteners);
    assert_memory_equal(a->listeners, b->listeners, sizeof(a->listeners));
    assert_int_equal(a->generation, b->generation);
    assert_int_equal(a->mem_size, b->mem_size);
    assert_ptr_equal(a->base_host, b->base_host);
    assert_int_equal(a->ram_hash, b->ram_hash);
}

/* The memory map needs no CPU: VMs in these tests use an empty back end. */
static const struct v3_backend_ops mm_backend = { .name = "memmap-test" };

static inline struct v3_vm_config mm_cfg(uint64_t mem_size)
{
    struct v3_vm_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = mem_size;
    cfg.num_cores = 1;
    cfg.backend_ops = &mm_backend;
    return cfg;
}

static inline struct v3_vm *mm_vm(uint64_t mem_size)
{
    struct v3_vm_config cfg = mm_cfg(mem_size);
    int err = 1;
    struct v3_vm *vm = v3_create_vm(&cfg, &err);

    assert_non_null(vm);
    assert_int_equal(err, V3_OK);
    return vm;
}

/* Page-aligned host buffer for shadow / write-hook backing, filled with @p fill. */
static inline void *mm_host_pages(size_t pages, int fill)
{
    void *p = NULL;

    assert_int_equal(posix_memalign(&p, PG, pages * PG), 0);
    memset(p, fill, pages * PG);
    return p;
}

#endif
