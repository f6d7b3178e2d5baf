/* SPDX-License-Identifier: MIT */
/*
 * Guest physical access: v3_read_gpa_memory() / v3_write_gpa_memory().
 *
 * An access runs under the map's read lock (the vCPU read lock when it is
 * made with a core of this VM, else the host rwlock) in two passes.  The first walks
 * the range window by window (a window is a stretch where one region is the
 * answer) and fails with V3_EUNMAPPED, having touched nothing, if any byte
 * has no memory.  The second transfers: RAM-backed pieces by copy, hooked
 * pieces through callbacks, one call per (region, 4 KiB page) piece.
 */
#include "internal/host.h"
#include "internal/vm.h"

static inline unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

/* Region at @p gpa and its window, through the vCPU's cache when there is one. */
static struct v3_mem_region *lookup(struct v3_vm *vm, struct v3_core *core, uint64_t gpa,
                                    uint64_t *lo, uint64_t *hi)
{
    struct v3_mem_cache *c;
    struct v3_mem_region *r;
    uint64_t gen;

    if (!core || core->vm != vm)
        return v3_mem_find_window(&vm->mem, gpa, lo, hi);
    c = &core->mem_cache;
    gen = __atomic_load_n(&vm->mem.generation, __ATOMIC_RELAXED);
    if (c->generation == gen && gpa - c->start < c->end - c->start) {
        *lo = c->start;
        *hi = c->end;
        return (struct v3_mem_region *)c->region;
    }
    r = v3_mem_find_window(&vm->mem, gpa, lo, hi);
    if (r) {
        c->region = r;
        c->start = *lo;
        c->end = *hi;
        c->generation = gen;
    }
    return r;
}

/* Validate arguments; on success *end is one past the last byte. */
static int check_args(const char *fn, struct v3_vm *vm, uint64_t gpa, size_t len,
                      const void *buf, uint64_t *end)
{
    if (!vm || !buf) {
        V3_ERROR("%s: NULL %s", fn, vm ? "buffer" : "VM");
        return V3_EINVAL;
    }
    if (len > (size_t)INT64_MAX) {
        V3_ERROR("%s: length %zu is too large", fn, len);
        return V3_EINVAL;
    }
    if (gpa >= V3_GPA_LIMIT || len > V3_GPA_LIMIT - gpa) {
        V3_ERROR("%s: [%#llx, +%#zx) goes beyond the 52-bit guest physical space", fn,
                 ull(gpa), len);
        return V3_EUNMAPPED;
    }
    *end = gpa + len;
    return V3_OK;
}

/* First pass: is every byte of [gpa, end) covered by some region? */
static int check_mapped(const char *fn, struct v3_vm *vm, struct v3_core *core,
                        uint64_t gpa, uint64_t end)
{
    uint64_t cur = gpa, lo, hi;

    while (cur < end) {
        if (!lookup(vm, core, cur, &lo, &hi)) {
            V3_ERROR("%s: no memory at %#llx (access [%#llx, %#llx))", fn,
                     ull(cur), ull(gpa), ull(end));
            return V3_EUNMAPPED;
        }
        if (hi <= cur) {            /* cannot happen; never loop forever */
            V3_ERROR("%s: empty window at %#llx", fn, ull(cur));
            return V3_EINVAL;
        }
        cur = hi;
    }
    return V3_OK;
}

/* Length of the piece at @p cur: up to the window end, the access end and,
 * for hooks, the next page boundary. */
static inline uint64_t piece_len(const struct v3_mem_region *r, uint64_t cur, uint64_t hi,
                                 uint64_t end)
{
    uint64_t stop = hi < end ? hi : end;

    if (r->type == V3_REGION_WRITE_HOOK || r->type == V3_REGION_FULL_HOOK) {
        uint64_t page_end = (cur | (V3_PAGE_SIZE - 1)) + 1;
        if (page_end < stop)
            stop = page_end;
    }
    return stop - cur;
}

/*
 * Guest-physical memory that nothing backs, as a PC answers it: reads give
 * all ones, writes are dropped.  The first V3_UNBACKED_LOG distinct pages are
 * logged once each (a warning), then one line says further pages are not
 * logged; every access is counted in v3_vm_stats::mem_unbacked.
 */
void v3_mem_note_unbacked(struct v3_vm *vm, uint64_t gpa, bool write)
{
    uint64_t page = gpa & ~(uint64_t)(V3_PAGE_SIZE - 1);
    unsigned n;

    __atomic_add_fetch(&vm->stats.mem_unbacked, 1, __ATOMIC_RELAXED);
    n = __atomic_load_n(&vm->unbacked_nlogged, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < n && i < V3_UNBACKED_LOG; i++)
        if (__atomic_load_n(&vm->unbacked_logged[i], __ATOMIC_RELAXED) == page + 1)
            return;
    if (n > V3_UNBACKED_LOG)
        return;
    n = __atomic_fetch_add(&vm->unbacked_nlogged, 1, __ATOMIC_RELAXED);
    if (n < V3_UNBACKED_LOG) {
        __atomic_store_n(&vm->unbacked_logged[n], page + 1, __ATOMIC_RELAXED);
        V3_WARN("guest %s of unbacked guest-physical memory at %#llx (%s; logged once per page)",
                write ? "write" : "read", ull(gpa), write ? "dropped" : "reads all ones");
    } else if (n == V3_UNBACKED_LOG) {
        V3_WARN("guest accesses unbacked memory on more than %u pages: further pages are not logged",
                V3_UNBACKED_LOG);
    }
}

/* Guest access to a hole [cur, cur + n): all ones, or nothing written. */
static void unbacked_piece(struct v3_vm *vm, uint64_t cur, uint64_t n, char *data, bool write)
{
    for (uint64_t a = cur; a < cur + n; a = (a | (V3_PAGE_SIZE - 1)) + 1)
        v3_mem_note_unbacked(vm, a, write);
    if (!write)
        memset(data, 0xff, (size_t)n);
}

/* Copy one piece to or from a region's memory: an emulated guest access of
 * 1, 2, 4, 8 or 16 bytes (the KVM back end's fault path, a write-hooked
 * page) as one host move (v3_mem_copy_access()), other sizes with memmove(). */
static void copy_piece(void *dst, const void *src, uint64_t n)
{
    if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16)
        v3_mem_copy_access(dst, src, (unsigned)n);
    else
        memmove(dst, src, (size_t)n);
}

/*
 * One guest physical access of either direction.  Both passes run under the
 * read lock; a write-hook piece calls the callback first and stores only if
 * it returned 0.  @p guest (an access the guest makes, VM not strict_mem):
 * holes read as all ones and take no writes instead of failing the access.
 */
static int64_t gpa_access(const char *fn, struct v3_vm *vm, struct v3_core *core, uint64_t gpa,
                          size_t len, void *buf, bool write, bool guest)
{
    uint64_t end, cur, lo, hi;
    bool vcpu;
    int rc;

    if (len == 0 && vm)
        return 0;
    rc = check_args(fn, vm, gpa, len, buf, &end);
    if (rc)
        return rc;
    vcpu = core && core->vm == vm;
    if (vcpu)
        v3_mem_core_read_lock(core);
    else
        v3_host.read_lock(vm->mem.lock);
    rc = guest ? V3_OK : check_mapped(fn, vm, core, gpa, end);
    for (cur = gpa; rc == V3_OK && cur < end;) {
        struct v3_mem_region *r = lookup(vm, core, cur, &lo, &hi);
        char *data = (char *)buf + (cur - gpa);
        uint64_t n;
        bool hooked;

        if (!r) {                   /* a hole (guest accesses only: checked above) */
            n = (hi > cur && hi < end) ? hi - cur : end - cur;
            unbacked_piece(vm, cur, n, data, write);
            cur += n;
            continue;
        }
        n = piece_len(r, cur, hi, end);
        hooked = r->type == V3_REGION_FULL_HOOK || (write && r->type == V3_REGION_WRITE_HOOK);

        if (hooked) {
            int cb;

            __atomic_add_fetch(&r->hook_calls, 1, __ATOMIC_RELAXED);
            cb = write ? r->write_hook(core, cur, data, (uint32_t)n, r->priv)
                       : r->read_hook(core, cur, data, (uint32_t)n, r->priv);
            if (cb < 0) {
                V3_ERROR("%s: %s callback of [%#llx, %#llx) failed (%d) at %#llx+%llu", fn,
                         write ? "write" : "read", ull(r->guest_start), ull(r->guest_end), cb,
                         ull(cur), ull(n));
                rc = V3_ECALLBACK;
                break;
            }
        }
        if (r->type != V3_REGION_FULL_HOOK) {
            char *mem = (char *)r->host_addr + (cur - r->guest_start);
            if (write) {
                copy_piece(mem, data, n);
                v3_mem_mark_dirty_range(&vm->mem, cur, n);
            } else {
                copy_piece(data, mem, n);
            }
        }
        cur += n;
    }
    if (vcpu)
        v3_mem_core_read_unlock(core);
    else
        v3_host.read_unlock(vm->mem.lock);
    return rc == V3_OK ? (int64_t)len : rc;
}

int64_t v3_read_gpa_memory(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, void *dst)
{
    return gpa_access("v3_read_gpa_memory", vm, core, gpa, len, dst, false, false);
}

int64_t v3_write_gpa_memory(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, const void *src)
{
    return gpa_access("v3_write_gpa_memory", vm, core, gpa, len, (void *)src, true, false);
}

bool v3_mem_unbacked_ok(const struct v3_vm *vm)
{
    return !vm->config.strict_mem;
}

int64_t v3_guest_read_gpa(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, void *dst)
{
    return gpa_access("guest read", vm, core, gpa, len, dst, false, vm && !vm->config.strict_mem);
}

int64_t v3_guest_write_gpa(struct v3_vm *vm, struct v3_core *core, uint64_t gpa, size_t len, const void *src)
{
    return gpa_access("guest write", vm, core, gpa, len, (void *)src, true, vm && !vm->config.strict_mem);
}
