/* SPDX-License-Identifier: MIT */
/*
 * The guest physical memory map: base RAM plus non-overlapping overlay
 * regions kept in a red-black tree ordered by guest address.
 *
 * Beside the tree the map keeps a lookup index: a dense array of
 * {start, region} sorted by start.  The tree gives ordered iteration,
 * overlap checks and the insertion point; the index answers lookups with a
 * branch-free binary search that prefetches both possible next probes,
 * which touches fewer, denser cache lines than a walk down scattered tree
 * nodes.  An insert shifts the index in place, or when it is full moves it
 * to an array 1/32 larger than needed; a removal closes the gap in place
 * and never allocates, so removals cannot fail.
 *
 * Locking: every change takes the map's write side; listeners run inside
 * it.  Lookups do not lock (the caller holds a read lock when other
 * threads may change the map); guest accesses in access.c take the read
 * lock themselves.  There are two read sides: vCPU threads use a per-core
 * depth counter (v3_mem_core_read_lock() in memmap.h, no host call), other
 * threads the host rwlock (v3_mem_read_lock()).  A writer excludes both:
 * it takes a second host rwlock (the gate, serialising writers), announces
 * itself in m->writer, waits for every core's depth to reach 0, then takes
 * the host write lock (protocol and rules in memmap.h).
 */
#include "internal/host.h"
#include "internal/vm.h"

_Static_assert(sizeof(struct v3_mem_region) + sizeof(struct v3_mem_idx) <= 96,
               "a region (record plus index entry) must stay within 96 bytes");
_Static_assert(offsetof(struct v3_vm, mem) == 0,
               "v3_mem_map_of_core() finds the map at the start of struct v3_vm");
_Static_assert(offsetof(struct v3_rb_node, right) == offsetof(struct v3_rb_node, left) + sizeof(void *),
               "lookups index the children as (&n->left)[0 or 1]");

#define PAGE_MASK (V3_PAGE_SIZE - 1)

/* Generation numbers come from one global counter, so a cache filled from
 * one map can never look valid for another, and 0 (a zeroed cache) is
 * never current. */
static uint64_t v3_mem_gen_source;

static uint64_t new_generation(void)
{
    return __atomic_add_fetch(&v3_mem_gen_source, 1, __ATOMIC_RELAXED);
}

static inline struct v3_mem_region *node_region(const struct v3_rb_node *n)
{
    return n ? v3_rb_entry(n, struct v3_mem_region, node) : NULL;
}

static inline unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

/* ------------------------------------------------------------ lifetime */

int v3_mem_map_init(struct v3_vm *vm, uint64_t mem_size)
{
    struct v3_mem_map *m = &vm->mem;
    void *lock, *gate, *ram;
    size_t pages;

    if (mem_size == 0 || (mem_size & PAGE_MASK)) {
        V3_ERROR("memory map: guest RAM size %#llx is zero or not a multiple of 4 KiB", ull(mem_size));
        return V3_ESIZE;
    }
    if (mem_size > V3_GPA_LIMIT) {
        V3_ERROR("memory map: guest RAM size %#llx exceeds the 52-bit guest physical space",
                 ull(mem_size));
        return V3_ELIMIT;
    }
    pages = (size_t)(mem_size / V3_PAGE_SIZE);
    lock = v3_host.rwlock_alloc();
    gate = lock ? v3_host.rwlock_alloc() : NULL;
    if (!gate) {
        if (lock)
            v3_host.rwlock_free(lock);
        V3_ERROR("memory map: out of memory for the map lock");
        return V3_ENOMEM;
    }
    ram = v3_alloc_pages(pages);
    if (!ram) {
        v3_host.rwlock_free(gate);
        v3_host.rwlock_free(lock);
        V3_ERROR("memory map: cannot allocate %zu pages of guest RAM", pages);
        return V3_ENOMEM;
    }
    memset(m, 0, sizeof(*m));
    m->base.guest_start = 0;
    m->base.guest_end = mem_size;
    m->base.host_addr = ram;
    m->base.type = V3_REGION_BASE;
    m->mem_size = mem_size;
    m->base_pages = pages;
    m->tree.node = NULL;
    m->generation = new_generation();
    m->lock = lock;
    m->gate = gate;
    return V3_OK;
}

static void write_lock(struct v3_vm *vm);
static void write_unlock(struct v3_vm *vm);

int v3_mem_dirty_init(struct v3_mem_map *m, uint64_t hi_start, uint64_t hi_pages)
{
    uint64_t lo = m->mem_size >> 12, bits = lo + hi_pages;
    uint64_t words = (bits + 63) / 64, sums = (words + 63) / 64;

    m->dirty = v3_zalloc((size_t)(words ? words : 1) * 8);
    m->dirty_sum = v3_zalloc((size_t)(sums ? sums : 1) * 8);
    m->ptpages = v3_zalloc((size_t)(words ? words : 1) * 8);
    if (!m->dirty || !m->dirty_sum || !m->ptpages) {
        v3_free(m->dirty);
        v3_free(m->dirty_sum);
        v3_free(m->ptpages);
        m->dirty = m->dirty_sum = m->ptpages = NULL;
        V3_ERROR("memory map: out of memory for the dirty-page log");
        return V3_ENOMEM;
    }
    m->dirty_lo_pages = lo;
    m->dirty_hi_start = hi_start;
    m->dirty_hi_pages = hi_pages;
    return V3_OK;
}

void v3_mem_map_deinit(struct v3_vm *vm)
{
    struct v3_mem_map *m = &vm->mem;
    struct v3_rb_node *n;
    struct v3_mem_listener *l, *next;

    /* No vCPU should run any more; if one is still inside an access,
     * wait for it to leave before the records go. */
    write_lock(vm);
    write_unlock(vm);
    n = m->tree.node;

    /* Post-order walk: free a node once both subtrees are gone. */
    while (n) {
        if (n->left) {
            n = n->left;
        } else if (n->right) {
            n = n->right;
        } else {
            struct v3_rb_node *p = v3_rb_parent(n);

            if (p) {
                if (p->left == n)
                    p->left = NULL;
                else
                    p->right = NULL;
            }
            v3_free(node_region(n));
            n = p;
        }
    }
    m->tree.node = NULL;
    m->count = 0;
    v3_free(m->idx);
    v3_free(m->dirty);
    v3_free(m->dirty_sum);
    v3_free(m->ptpages);
    m->dirty = m->dirty_sum = m->ptpages = NULL;
    m->idx = NULL;
    m->idx_cap = 0;
    v3_free_pages(m->base.host_addr, m->base_pages);
    m->base.host_addr = NULL;
    m->base_pages = 0;
    for (l = m->listeners; l; l = next) {
        next = l->next;
        v3_free(l);
    }
    m->listeners = NULL;
    if (m->lock)
        v3_host.rwlock_free(m->lock);
    m->lock = NULL;
    if (m->gate)
        v3_host.rwlock_free(m->gate);
    m->gate = NULL;
    m->generation = new_generation();
}

/* ------------------------------------------------------------ lookups */

/*
 * The index entry with the greatest start <= gpa, or NULL.  Branch-free
 * binary search: the comparison only selects the next base with a
 * conditional move, and both candidates for the following probe are
 * prefetched, so cache misses on successive levels overlap.
 */
static inline const struct v3_mem_idx *idx_floor(const struct v3_mem_map *m, uint64_t gpa)
{
    const struct v3_mem_idx *b = m->idx;
    size_t n = m->count;

    if (!n || gpa < b[0].start)
        return NULL;
    while (n > 1) {
        size_t half = n / 2;

        __builtin_prefetch(&b[half / 2]);
        __builtin_prefetch(&b[half + half / 2]);
        b = b[half].start <= gpa ? b + half : b;
        n -= half;
    }
    return b;
}

struct v3_mem_region *v3_mem_find_window(struct v3_mem_map *m, uint64_t gpa,
                                         uint64_t *lo, uint64_t *hi)
{
    const struct v3_mem_idx *f = idx_floor(m, gpa);
    const struct v3_mem_idx *c = f ? f + 1 : m->idx;        /* first start > gpa */
    uint64_t l, h;

    /* A sequential walk will want the next region's record soon: start
     * fetching it now (it is usually a cold cache line). */
    if (c && c < m->idx + m->count)
        __builtin_prefetch(c->region);
    if (f && gpa < f->region->guest_end) {
        *lo = f->region->guest_start;
        *hi = f->region->guest_end;
        return f->region;
    }
    /* Between overlays: [end of the one below, start of the one above). */
    l = f ? f->region->guest_end : 0;
    h = (c && c < m->idx + m->count) ? c->start : V3_GPA_LIMIT;
    if (gpa < m->mem_size) {
        *lo = l;
        *hi = h < m->mem_size ? h : m->mem_size;
        return &m->base;
    }
    /* A hole: [l, h) without overlays, minus RAM below mem_size. */
    *lo = l > m->mem_size ? l : m->mem_size;
    *hi = h;
    if (gpa >= V3_GPA_LIMIT) {
        *lo = gpa;
        *hi = UINT64_MAX;
    }
    return NULL;
}

struct v3_mem_region *v3_get_shadow_region(struct v3_vm *vm, uint64_t gpa)
{
    const struct v3_mem_idx *f;

    if (!vm)
        return NULL;
    f = idx_floor(&vm->mem, gpa);
    if (f && gpa < f->region->guest_end)
        return f->region;
    /* No overlay: base RAM, which ends at mem_size exclusive. */
    return gpa < vm->mem.mem_size ? &vm->mem.base : NULL;
}

/* Cache miss: full lookup, then remember the answer and its window. */
static __attribute__((noinline)) struct v3_mem_region *
lookup_miss(struct v3_vm *vm, struct v3_mem_cache *cache, uint64_t gpa, uint64_t gen)
{
    uint64_t lo, hi;
    struct v3_mem_region *r = v3_mem_find_window(&vm->mem, gpa, &lo, &hi);

    if (r) {
        cache->region = r;
        cache->start = lo;
        cache->end = hi;
        cache->generation = gen;
    }
    return r;
}

/* The hit path is a leaf function of a few instructions; misses tail-call out. */
struct v3_mem_region *v3_mem_lookup(struct v3_vm *vm, struct v3_mem_cache *cache, uint64_t gpa)
{
    if (__builtin_expect(vm != NULL && cache != NULL, 1)) {
        uint64_t gen = __atomic_load_n(&vm->mem.generation, __ATOMIC_RELAXED);

        if (__builtin_expect(cache->generation == gen &&
                             gpa - cache->start < cache->end - cache->start, 1))
            return (struct v3_mem_region *)cache->region;
        return lookup_miss(vm, cache, gpa, gen);
    }
    return v3_get_shadow_region(vm, gpa);
}

int v3_get_shadow_addr(const struct v3_mem_region *reg, uint64_t gpa, void **hva)
{
    if (!reg || !hva) {
        V3_ERROR("v3_get_shadow_addr: NULL %s", reg ? "result pointer" : "region");
        return V3_EINVAL;
    }
    if (gpa < reg->guest_start || gpa >= reg->guest_end) {
        V3_DEBUG("v3_get_shadow_addr: %#llx is outside [%#llx, %#llx)",
                 ull(gpa), ull(reg->guest_start), ull(reg->guest_end));
        return V3_EUNMAPPED;
    }
    if (reg->type == V3_REGION_FULL_HOOK || !reg->host_addr) {
        V3_DEBUG("v3_get_shadow_addr: %#llx is fully hooked, no host memory", ull(gpa));
        return V3_EHOOKED;
    }
    *hva = (char *)reg->host_addr + (gpa - reg->guest_start);
    return V3_OK;
}

int v3_gpa_to_hva(struct v3_vm *vm, uint64_t gpa, void **hva)
{
    struct v3_mem_region *r;

    if (!vm || !hva) {
        V3_ERROR("v3_gpa_to_hva: NULL %s", vm ? "result pointer" : "VM");
        return V3_EINVAL;
    }
    r = v3_get_shadow_region(vm, gpa);
    if (!r) {
        V3_DEBUG("v3_gpa_to_hva: no memory at %#llx", ull(gpa));
        return V3_EUNMAPPED;
    }
    return v3_get_shadow_addr(r, gpa, hva);
}

struct v3_mem_region *v3_mem_base(struct v3_vm *vm)
{
    return vm ? &vm->mem.base : NULL;
}

uint64_t v3_mem_size(struct v3_vm *vm)
{
    return vm ? vm->mem.mem_size : 0;
}

struct v3_mem_region *v3_mem_first(struct v3_vm *vm)
{
    return vm ? node_region(v3_rb_first(&vm->mem.tree)) : NULL;
}

struct v3_mem_region *v3_mem_next(struct v3_vm *vm, struct v3_mem_region *reg)
{
    if (!vm || !reg || reg == &vm->mem.base)
        return NULL;
    return node_region(v3_rb_next(&reg->node));
}

size_t v3_mem_region_count(struct v3_vm *vm)
{
    return vm ? vm->mem.count : 0;
}

uint64_t v3_mem_generation(struct v3_vm *vm)
{
    return vm ? __atomic_load_n(&vm->mem.generation, __ATOMIC_RELAXED) : 0;
}

const char *v3_shdw_region_type_to_str(enum v3_region_type type)
{
    switch (type) {
    case V3_REGION_BASE:       return "base";
    case V3_REGION_SHADOW:     return "shadow";
    case V3_REGION_WRITE_HOOK: return "write-hook";
    case V3_REGION_FULL_HOOK:  return "full-hook";
    }
    return "unknown";
}

/* ------------------------------------------------------------ locking */

void v3_mem_read_lock(struct v3_vm *vm)
{
    if (!vm) {
        V3_ERROR("v3_mem_read_lock: NULL VM");
        return;
    }
    v3_host.read_lock(vm->mem.lock);
}

void v3_mem_read_unlock(struct v3_vm *vm)
{
    if (!vm) {
        V3_ERROR("v3_mem_read_unlock: NULL VM");
        return;
    }
    v3_host.read_unlock(vm->mem.lock);
}

/* Pause iterations before a thread waiting for a writer goes to sleep. */
#define SPIN_BEFORE_SLEEP 256

/*
 * Wait until no writer is announced.  Spin briefly, then sleep on the gate:
 * a writer holds its write side from before it announces itself until
 * after it withdrew, so a read lock/unlock pair blocks until the change is
 * done instead of burning a CPU that the writer, or a vCPU it waits for,
 * may need (vCPU threads can outnumber host CPUs).  The caller holds no
 * map lock of any kind, and nobody waits for anything while holding the
 * gate's read side, so the gate cannot take part in a deadlock.
 */
static void wait_writer_gone(struct v3_mem_map *m)
{
    for (unsigned spins = 0; __atomic_load_n(&m->writer, __ATOMIC_ACQUIRE);) {
        if (spins < SPIN_BEFORE_SLEEP) {
            spins++;
            __builtin_ia32_pause();
        } else {
            v3_host.read_lock(m->gate);
            v3_host.read_unlock(m->gate);
        }
    }
}

/* A vCPU that found a writer announced: step back out (so the writer can
 * proceed), wait for the flag to clear, and try again. */
void v3_mem_core_read_lock_slow(struct v3_core *core)
{
    struct v3_mem_map *m = &core->vm->mem;

    do {
        __atomic_store_n(&core->mem_read_depth, 0u, __ATOMIC_RELEASE);
        wait_writer_gone(m);
        __atomic_store_n(&core->mem_read_depth, 1u, __ATOMIC_SEQ_CST);
    } while (__atomic_load_n(&m->writer, __ATOMIC_SEQ_CST));
}

void v3_mem_core_quiesce(struct v3_core *core)
{
    if (!v3_mem_writer_waiting(core))
        return;
    v3_mem_core_read_unlock(core);      /* depth 1 -> 0: the writer may go on */
    v3_mem_core_read_lock(core);        /* waits for the change (slow path) */
}

/* How long a writer waits for one vCPU before it logs a warning: a
 * callback that changes the map waits here forever. */
#define WRITER_WARN_NS 1000000000ull

/*
 * The write side: take the gate (one writer at a time; waiting vCPUs sleep
 * on it), announce the writer, wait until no vCPU is inside a read
 * section, then take the host write lock against readers that use it.
 * The host lock comes last so that a vCPU callback that reads guest memory
 * with a NULL core (host read lock) still finishes while the writer waits
 * for that vCPU.
 */
static void write_lock(struct v3_vm *vm)
{
    struct v3_mem_map *m = &vm->mem;

    v3_host.write_lock(m->gate);
    __atomic_store_n(&m->writer, 1, __ATOMIC_SEQ_CST);
    if (v3_host.barrier_all)
        v3_host.barrier_all();    /* vCPU read locks take no barrier of their own */
    for (unsigned i = 0; vm->cores && i < vm->num_cores; i++) {
        unsigned long spins = 0;
        uint64_t since = 0;

        if (m->core_kick && __atomic_load_n(&vm->cores[i].mem_read_depth, __ATOMIC_SEQ_CST))
            m->core_kick(&vm->cores[i]);
        while (__atomic_load_n(&vm->cores[i].mem_read_depth, __ATOMIC_SEQ_CST)) {
            if (!v3_wait_step(&spins) || since == ~0ull)
                continue;
            if (!since) {
                since = v3_time_ns();
            } else if (v3_time_ns() - since > WRITER_WARN_NS) {
                V3_WARN("memory map: a change has waited over a second for vCPU %u to leave a memory "
                        "access (a callback that changes the map never returns)", i);
                since = ~0ull;          /* warn once */
            }
        }
    }
    v3_host.write_lock(m->lock);
}

static void write_unlock(struct v3_vm *vm)
{
    v3_host.write_unlock(vm->mem.lock);
    __atomic_store_n(&vm->mem.writer, 0, __ATOMIC_RELEASE);
    v3_host.write_unlock(vm->mem.gate);
}

static void notify(struct v3_vm *vm, uint64_t start, uint64_t end)
{
    for (struct v3_mem_listener *l = vm->mem.listeners; l; l = l->next)
        l->fn(vm, start, end, l->priv);
}

/* ------------------------------------------------------------ changes */

/* The overlay region that starts exactly at @p start, or NULL. */
static struct v3_mem_region *find_overlay_at(struct v3_mem_map *m, uint64_t start)
{
    const struct v3_rb_node *n = m->tree.node;

    while (n) {
        struct v3_mem_region *r = node_region(n);

        if (start < r->guest_start)
            n = n->left;
        else if (start >= r->guest_end)
            n = n->right;
        else
            return r->guest_start == start ? r : NULL;
    }
    return NULL;
}

static int check_range(const char *fn, uint64_t start, uint64_t end)
{
    if (start >= end) {
        V3_ERROR("%s: range [%#llx, %#llx) is empty or reversed", fn, ull(start), ull(end));
        return V3_ERANGE_ORDER;
    }
    if ((start | end) & PAGE_MASK) {
        V3_ERROR("%s: range [%#llx, %#llx) is not 4 KiB aligned", fn, ull(start), ull(end));
        return V3_EALIGN;
    }
    if (end > V3_GPA_LIMIT) {
        V3_ERROR("%s: range [%#llx, %#llx) goes beyond the 52-bit guest physical space",
                 fn, ull(start), ull(end));
        return V3_ELIMIT;
    }
    return V3_OK;
}

static int add_region(struct v3_vm *vm, const char *fn, enum v3_region_type type,
                      uint64_t start, uint64_t end, void *host_addr,
                      v3_mem_read_fn rd, v3_mem_write_fn wr, void *priv)
{
    struct v3_mem_map *m;
    struct v3_mem_region *r;
    struct v3_rb_node **link, *parent = NULL;
    int rc;

    if (!vm) {
        V3_ERROR("%s: NULL VM", fn);
        return V3_EINVAL;
    }
    m = &vm->mem;
    rc = check_range(fn, start, end);
    if (rc)
        return rc;
    if ((type == V3_REGION_WRITE_HOOK && !wr) ||
        (type == V3_REGION_FULL_HOOK && (!rd || !wr))) {
        V3_ERROR("%s: [%#llx, %#llx): %s callback is NULL", fn, ull(start), ull(end),
                 !wr ? "write" : "read");
        return V3_ENOCALLBACK;
    }
    if (type != V3_REGION_FULL_HOOK) {
        if (!host_addr) {
            V3_ERROR("%s: [%#llx, %#llx): NULL host memory", fn, ull(start), ull(end));
            return V3_EINVAL;
        }
        if ((uintptr_t)host_addr & PAGE_MASK) {
            V3_ERROR("%s: [%#llx, %#llx): host memory %p is not 4 KiB aligned",
                     fn, ull(start), ull(end), host_addr);
            return V3_EALIGN;
        }
    }

    r = v3_malloc(sizeof(*r));
    if (!r) {
        V3_ERROR("%s: [%#llx, %#llx): out of memory for the region record", fn, ull(start), ull(end));
        return V3_ENOMEM;
    }
    memset(r, 0, sizeof(*r));
    r->guest_start = start;
    r->guest_end = end;
    r->host_addr = type == V3_REGION_FULL_HOOK ? NULL : host_addr;
    r->read_hook = rd;
    r->write_hook = wr;
    r->priv = priv;
    r->type = type;

    write_lock(vm);
    link = &m->tree.node;
    while (*link) {
        struct v3_mem_region *o = node_region(*link);

        parent = *link;
        if (end <= o->guest_start) {
            link = &parent->left;
        } else if (start >= o->guest_end) {
            link = &parent->right;
        } else {
            write_unlock(vm);
            V3_ERROR("%s: [%#llx, %#llx) overlaps %s region [%#llx, %#llx)", fn,
                     ull(start), ull(end), v3_shdw_region_type_to_str(o->type),
                     ull(o->guest_start), ull(o->guest_end));
            v3_free(r);
            return V3_EOVERLAP;
        }
    }
    /* Make room in the index: in place when there is spare capacity, else
     * in a new array 1/32 larger than needed (so inserts stay amortised
     * O(n) copying without keeping more than 1/32 spare entries). */
    {
        const struct v3_mem_idx *f = idx_floor(m, start);
        size_t pos = f ? (size_t)(f - m->idx) + 1 : 0;

        if (m->idx_cap < m->count + 1) {
            size_t cap = m->count + 1 + (m->count + 1) / 32;
            struct v3_mem_idx *ni = v3_malloc(cap * sizeof(*ni));

            if (!ni) {
                write_unlock(vm);
                V3_ERROR("%s: [%#llx, %#llx): out of memory for the lookup index", fn,
                         ull(start), ull(end));
                v3_free(r);
                return V3_ENOMEM;
            }
            if (pos)
                memcpy(ni, m->idx, pos * sizeof(*ni));
            if (m->count > pos)
                memcpy(ni + pos + 1, m->idx + pos, (m->count - pos) * sizeof(*ni));
            v3_free(m->idx);
            m->idx = ni;
            m->idx_cap = cap;
        } else if (m->count > pos) {
            memmove(m->idx + pos + 1, m->idx + pos, (m->count - pos) * sizeof(*m->idx));
        }
        m->idx[pos].start = start;
        m->idx[pos].region = r;
    }
    v3_rb_link(&r->node, parent, link);
    v3_rb_insert_fixup(&r->node, &m->tree);
    m->count++;
    __atomic_store_n(&m->generation, new_generation(), __ATOMIC_RELEASE);
    notify(vm, start, end);
    write_unlock(vm);
    return V3_OK;
}

int v3_add_shadow_mem(struct v3_vm *vm, uint64_t start, uint64_t end, void *host_addr)
{
    return add_region(vm, "v3_add_shadow_mem", V3_REGION_SHADOW, start, end, host_addr,
                      NULL, NULL, NULL);
}

int v3_hook_write_mem(struct v3_vm *vm, uint64_t start, uint64_t end, void *host_addr,
                      v3_mem_write_fn write, void *priv)
{
    return add_region(vm, "v3_hook_write_mem", V3_REGION_WRITE_HOOK, start, end, host_addr,
                      NULL, write, priv);
}

int v3_hook_full_mem(struct v3_vm *vm, uint64_t start, uint64_t end,
                     v3_mem_read_fn read, v3_mem_write_fn write, void *priv)
{
    return add_region(vm, "v3_hook_full_mem", V3_REGION_FULL_HOOK, start, end, NULL,
                      read, write, priv);
}

static int remove_region(struct v3_vm *vm, const char *fn, uint64_t start, int hooks_only)
{
    struct v3_mem_map *m;
    struct v3_mem_region *r;
    uint64_t end;

    if (!vm) {
        V3_ERROR("%s: NULL VM", fn);
        return V3_EINVAL;
    }
    m = &vm->mem;
    write_lock(vm);
    r = find_overlay_at(m, start);
    if (!r) {
        write_unlock(vm);
        V3_ERROR("%s: no region starts at %#llx", fn, ull(start));
        return V3_ENOENT;
    }
    if (hooks_only && r->type != V3_REGION_WRITE_HOOK && r->type != V3_REGION_FULL_HOOK) {
        write_unlock(vm);
        V3_ERROR("%s: region [%#llx, %#llx) is %s, not a hook", fn,
                 ull(r->guest_start), ull(r->guest_end), v3_shdw_region_type_to_str(r->type));
        return V3_ENOTHOOK;
    }
    end = r->guest_end;
    /* Listeners see the region still mapped; it goes away right after. */
    notify(vm, start, end);
    v3_rb_erase(&r->node, &m->tree);
    {
        const struct v3_mem_idx *f = idx_floor(m, start);
        size_t pos = (size_t)(f - m->idx);

        memmove(m->idx + pos, m->idx + pos + 1, (m->count - pos - 1) * sizeof(*m->idx));
    }
    m->count--;
    __atomic_store_n(&m->generation, new_generation(), __ATOMIC_RELEASE);
    write_unlock(vm);
    v3_free(r);
    return V3_OK;
}

int v3_unhook_mem(struct v3_vm *vm, uint64_t start)
{
    return remove_region(vm, "v3_unhook_mem", start, 1);
}

int v3_delete_shadow_region(struct v3_vm *vm, uint64_t start)
{
    return remove_region(vm, "v3_delete_shadow_region", start, 0);
}

/* ------------------------------------------------------------ listeners */

int v3_mem_add_listener(struct v3_vm *vm, v3_mem_listener_fn fn, void *priv)
{
    struct v3_mem_listener *l, **pp;

    if (!vm || !fn) {
        V3_ERROR("v3_mem_add_listener: NULL %s", vm ? "function" : "VM");
        return vm ? V3_ENOCALLBACK : V3_EINVAL;
    }
    l = v3_malloc(sizeof(*l));
    if (!l) {
        V3_ERROR("v3_mem_add_listener: out of memory");
        return V3_ENOMEM;
    }
    l->fn = fn;
    l->priv = priv;
    l->next = NULL;
    write_lock(vm);
    for (pp = &vm->mem.listeners; *pp; pp = &(*pp)->next) {
        if ((*pp)->fn == fn && (*pp)->priv == priv) {
            write_unlock(vm);
            v3_free(l);
            V3_ERROR("v3_mem_add_listener: listener already registered");
            return V3_EEXIST;
        }
    }
    *pp = l;                    /* appended: listeners run in registration order */
    write_unlock(vm);
    return V3_OK;
}

int v3_mem_remove_listener(struct v3_vm *vm, v3_mem_listener_fn fn, void *priv)
{
    struct v3_mem_listener *l, **pp;

    if (!vm) {
        V3_ERROR("v3_mem_remove_listener: NULL VM");
        return V3_EINVAL;
    }
    write_lock(vm);
    for (pp = &vm->mem.listeners; (l = *pp); pp = &l->next) {
        if (l->fn == fn && l->priv == priv) {
            *pp = l->next;
            write_unlock(vm);
            v3_free(l);
            return V3_OK;
        }
    }
    write_unlock(vm);
    V3_ERROR("v3_mem_remove_listener: listener not registered");
    return V3_ENOENT;
}

/* ------------------------------------------------------------ dump */

void v3_print_shadow_map(struct v3_vm *vm, int level)
{
    struct v3_mem_map *m;
    const struct v3_rb_node *n;
    enum v3_log_level lv = (enum v3_log_level)level;
    unsigned long i = 0;

    if (!vm) {
        V3_ERROR("v3_print_shadow_map: NULL VM");
        return;
    }
    if (level < V3_LOG_ERROR || level > V3_LOG_DEBUG)
        lv = V3_LOG_INFO;
    m = &vm->mem;
    v3_host.read_lock(m->lock);
    v3_log(lv, "memory map: %zu overlay region(s), RAM %#llx bytes, generation %llu",
           m->count, ull(m->mem_size), ull(m->generation));
    v3_log(lv, "  %-4s %-18s %-18s %-10s %-18s %s", "#", "guest start", "guest end",
           "type", "host", "hook calls");
    v3_log(lv, "  %-4s %#-18llx %#-18llx %-10s %-18p %llu", "base",
           ull(m->base.guest_start), ull(m->base.guest_end),
           v3_shdw_region_type_to_str(m->base.type), m->base.host_addr,
           ull(m->base.hook_calls));
    for (n = v3_rb_first(&m->tree); n; n = v3_rb_next(n), i++) {
        const struct v3_mem_region *r = node_region(n);

        v3_log(lv, "  %-4lu %#-18llx %#-18llx %-10s %-18p %llu", i,
               ull(r->guest_start), ull(r->guest_end), v3_shdw_region_type_to_str(r->type),
               r->host_addr, ull(__atomic_load_n(&r->hook_calls, __ATOMIC_RELAXED)));
    }
    v3_host.read_unlock(m->lock);
}
