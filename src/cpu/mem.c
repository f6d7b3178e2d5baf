/* SPDX-License-Identifier: MIT */
/*
 * Guest memory for the software CPU: the emulator's memory interface
 * (struct v3_emu_mem_ops) over the software TLB, with the translation layer
 * and the memory map (hook callbacks) as the slow path.  Every store that
 * reaches a guest physical page holding decoded code invalidates it.
 */
#include "internal/host.h"
#include "internal/vm.h"
#include "paging/tlb.h"
#include "cpu/cpu.h"

/* TLB hit for @p access with the guest physical page; NULL on a miss. */
static inline struct v3_tlb_entry *tlb_hit(struct v3_core *core, uint64_t la, unsigned access)
{
    struct v3_tlb_entry *e = (struct v3_tlb_entry *)core->tlb;
    if (__builtin_expect(!e, 0))
        return NULL;
    e += (la >> 12) & (V3_TLB_SIZE - 1);
    if (__builtin_expect(e->tag != (la & ~0xfffull), 0))
        return NULL;
    if (__builtin_expect(!((e->perm >> v3_tlb_ctx_shift(core, access)) & access & 7u), 0))
        return NULL;
    return e;
}

/* Guest RAM accesses: each is one host move, never libc memcpy() (see
 * v3_mem_copy_access() in mem/memmap.h). */
static inline void load_small(void *dst, const uint8_t *p, unsigned len)
{
    v3_mem_copy_access(dst, p, len);
}

static inline void store_small(uint8_t *p, const void *src, unsigned len)
{
    v3_mem_copy_access(p, src, len);
}

struct piece {
    uint64_t la, gpa;
    uint8_t *hva;
    unsigned len;
};

/*
 * Translate every page of [la, la+len) before any byte moves.  An access that
 * crosses a page end is first checked page by page without side effects
 * (v3_gva_check): A/D bits are set only once no page of it faults, as
 * v3/paging.h requires (a fault on the second page leaves no A/D trace on
 * the first).  Pages the TLB already holds for this access need no check.
 */
static int xlate_pieces(struct v3_cpu *cpu, uint64_t la, unsigned len, unsigned access,
                        struct piece *pc, unsigned *npc)
{
    unsigned n = 0, done = 0;
    if ((la & 0xfff) + len > 4096) {
        unsigned hit = access & (V3_ACCESS_READ | V3_ACCESS_WRITE | V3_ACCESS_SUPERVISOR);
        for (uint64_t a = la; done < len;) {
            unsigned room = 4096 - (unsigned)(a & 0xfff);
            struct v3_exception exc;
            int rc;
            if (!tlb_hit(cpu->core, a, hit)) {
                rc = v3_gva_check(cpu->core, a, access, NULL, &exc);
                if (rc < 0) {
                    if (rc == V3_EFAULT)
                        cpu->ctx.exc = exc;
                    return rc;
                }
            }
            done += len - done < room ? len - done : room;
            a = la + done;
        }
        done = 0;
    }
    while (done < len) {
        uint64_t a = la + done;
        unsigned room = 4096 - (unsigned)(a & 0xfff);
        unsigned l = len - done < room ? len - done : room;
        void *hva = NULL;
        struct v3_exception exc;
        int rc;
        if (n == 3) {
            V3_ERROR("cpu: guest access of %u bytes spans too many pages", len);
            return V3_EINVAL;
        }
        rc = v3_tlb_fill(cpu->core, a, access, &hva, &pc[n].gpa, &exc);
        if (rc < 0) {
            if (rc == V3_EFAULT)
                cpu->ctx.exc = exc;
            return rc;
        }
        pc[n].la = a;
        pc[n].hva = hva;
        pc[n].len = l;
        n++;
        done += l;
    }
    *npc = n;
    return V3_OK;
}

/* ---------------------------------------------------------------- hooked pages */

static inline uint64_t tlb_gen(const struct v3_core *core)
{
    const struct v3_tlb *t = core->tlb;
    if (!t)
        return 0;
    return t->stats.flush_all + t->stats.flush_nonglobal + t->stats.invlpg + t->stats.range_inval;
}

static inline uint64_t hc_tag(const struct v3_core *core, uint64_t la, unsigned write)
{
    return (la & ~0xfffull) | write | (v3_tlb_ctx_shift(core, write ? V3_ACCESS_WRITE : V3_ACCESS_READ) >> 1);
}

/* slot of a page and access kind: reads and writes of one page (a device's
 * status and data registers) have slots of their own */
static inline struct cpu_hook_ent *hc_slot(struct v3_cpu *cpu, uint64_t la, unsigned write)
{
    return &cpu->hc[(((la >> 12) << 1) | write) & (CPU_HC_SIZE - 1)];
}

static inline struct cpu_hook_ent *hc_find(struct v3_cpu *cpu, uint64_t la, unsigned write)
{
    struct v3_core *core = cpu->core;
    struct cpu_hook_ent *e = hc_slot(cpu, la, write);
    if (e->tag != hc_tag(core, la, write) || !e->reg)
        return NULL;
    if (e->mem_gen != core->vm->mem.generation || e->tlb_gen != tlb_gen(core))
        return NULL;
    return e;
}

/* Add @p e's pending callback count to its region (map read- or write-locked). */
static void hc_flush_ent(struct cpu_hook_ent *e)
{
    if (e->reg && e->pending) {
        __atomic_add_fetch(&e->reg->hook_calls, e->pending, __ATOMIC_RELAXED);
        e->pending = 0;
    }
}

void cpu_hc_flush(struct v3_cpu *cpu)
{
    v3_mem_core_read_lock(cpu->core);
    for (unsigned i = 0; i < CPU_HC_SIZE; i++)
        hc_flush_ent(&cpu->hc[i]);
    v3_mem_core_read_unlock(cpu->core);
}

void cpu_hc_drop(struct v3_cpu *cpu, uint64_t start, uint64_t end)
{
    for (unsigned i = 0; i < CPU_HC_SIZE; i++) {
        struct cpu_hook_ent *e = &cpu->hc[i];
        if (e->reg && e->gpa < end && e->gpa + 4096 > start) {
            hc_flush_ent(e);
            e->reg = NULL;
            e->tag = 0;
        }
    }
}

/* Remember that the page of @p la translates to hooked region @p gpa (call with the map read-locked). */
static void hc_fill(struct v3_cpu *cpu, uint64_t la, unsigned write, uint64_t gpa, uint64_t tgen)
{
    struct v3_core *core = cpu->core;
    struct v3_mem_region *r = v3_mem_lookup(core->vm, &core->mem_cache, gpa);
    struct cpu_hook_ent *e = hc_slot(cpu, la, write);
    if (!r || (r->type != V3_REGION_FULL_HOOK && r->type != V3_REGION_WRITE_HOOK) ||
        r->guest_start > (gpa & ~0xfffull) || r->guest_end < (gpa & ~0xfffull) + 4096)
        return;
    hc_flush_ent(e);
    e->tag = hc_tag(core, la, write);
    e->gpa = gpa & ~0xfffull;
    e->reg = r;
    e->mem_gen = core->vm->mem.generation;
    e->tlb_gen = tgen;
}

/*
 * One access within one hooked page straight to the region's callback, when
 * the hook cache knows the page: 1 when it does not (nothing done).  The
 * entry is checked with the map's read lock held, so its region cannot go
 * away between the check and the callback.  A read of a write-hooked page
 * reads its memory.
 */
static inline __attribute__((always_inline)) int hook_access(struct v3_cpu *cpu, uint64_t la, void *buf,
                                                             unsigned len, unsigned write, unsigned tagw)
{
    struct v3_core *core = cpu->core;
    struct cpu_hook_ent *e;
    struct v3_mem_region *r;
    uint64_t gpa, rs, re;
    int cb;

    v3_mem_core_read_lock(core);
    e = hc_find(cpu, la, tagw);     /* tagw: the access's kind (a read of a read-modify-write has it set) */
    if (!e) {
        v3_mem_core_read_unlock(core);
        return 1;
    }
    r = e->reg;
    rs = r->guest_start;            /* for the error message, after the unlock */
    re = r->guest_end;
    gpa = e->gpa | (la & 0xfff);
    if (write) {
        if (__builtin_expect(++e->pending >= CPU_HC_FLUSH, 0))
            hc_flush_ent(e);
        cb = r->write_hook(core, gpa, buf, len, r->priv);
        if (cb >= 0 && r->type == V3_REGION_WRITE_HOOK) {
            v3_mem_copy_pieces((uint8_t *)r->host_addr + (gpa - r->guest_start), buf, len);
            v3_mem_mark_dirty(&core->vm->mem, gpa);
        }
    } else if (r->type == V3_REGION_FULL_HOOK) {
        if (__builtin_expect(++e->pending >= CPU_HC_FLUSH, 0))
            hc_flush_ent(e);
        cb = r->read_hook(core, gpa, buf, len, r->priv);
    } else {
        v3_mem_copy_pieces(buf, (uint8_t *)r->host_addr + (gpa - r->guest_start), len);
        cb = 0;
    }
    v3_mem_core_read_unlock(core);
    if (__builtin_expect(cb < 0, 0)) {
        V3_ERROR("cpu: %s callback of [%#llx, %#llx) failed (%d) at %#llx+%u", write ? "write" : "read",
                 (unsigned long long)rs, (unsigned long long)re, cb, (unsigned long long)gpa, len);
        return V3_ECALLBACK;
    }
    if (write)
        cpu_store_check(cpu, gpa);
    return V3_OK;
}

int cpu_hook_write(struct v3_cpu *cpu, uint64_t la, uint64_t val, unsigned len)
{
    return hook_access(cpu, la, &val, len, 1, 1);
}

int cpu_hook_read(struct v3_cpu *cpu, uint64_t la, uint64_t *val, unsigned len)
{
    return hook_access(cpu, la, val, len, 0, 0);
}

static __attribute__((noinline)) int mem_read_slow(struct v3_cpu *cpu, uint64_t la, void *dst, unsigned len, unsigned access)
{
    struct piece pc[3];
    unsigned n, off = 0;
    int rc;
    uint64_t tgen = tlb_gen(cpu->core);
    if ((la & 0xfff) + len <= 4096 && !(access & V3_ACCESS_SUPERVISOR)) {
        rc = hook_access(cpu, la, dst, len, 0, (access & V3_ACCESS_WRITE) ? 1 : 0);
        if (rc <= 0)
            return rc;
    }
    rc = xlate_pieces(cpu, la, len, access, pc, &n);
    if (rc < 0)
        return rc;
    if (n == 1 && !pc[0].hva && !(access & V3_ACCESS_SUPERVISOR)) {
        v3_mem_core_read_lock(cpu->core);
        hc_fill(cpu, la, (access & V3_ACCESS_WRITE) ? 1 : 0, pc[0].gpa, tgen);
        v3_mem_core_read_unlock(cpu->core);
    }
    for (unsigned i = 0; i < n; i++) {
        if (pc[i].hva) {
            load_small((uint8_t *)dst + off, pc[i].hva, pc[i].len);
        } else {
            int64_t r = v3_guest_read_gpa(cpu->core->vm, cpu->core, pc[i].gpa, pc[i].len,
                                           (uint8_t *)dst + off);
            if (r < 0)
                return (int)r;
        }
        off += pc[i].len;
    }
    return V3_OK;
}

static __attribute__((noinline)) int mem_write_slow(struct v3_cpu *cpu, uint64_t la, const void *src, unsigned len,
                          unsigned access)
{
    struct piece pc[3];
    unsigned n, off = 0;
    int rc;
    uint64_t tgen = tlb_gen(cpu->core);
    if ((la & 0xfff) + len <= 4096 && !(access & V3_ACCESS_SUPERVISOR)) {
        /* the callback only reads the buffer */
        rc = hook_access(cpu, la, (void *)(uintptr_t)src, len, 1, 1);
        if (rc <= 0)
            return rc;
    }
    rc = xlate_pieces(cpu, la, len, access, pc, &n);
    if (rc < 0)
        return rc;
    if (n == 1 && !pc[0].hva && !(access & V3_ACCESS_SUPERVISOR)) {
        v3_mem_core_read_lock(cpu->core);
        hc_fill(cpu, la, 1, pc[0].gpa, tgen);
        v3_mem_core_read_unlock(cpu->core);
    }
    for (unsigned i = 0; i < n; i++) {
        if (pc[i].hva) {
            store_small(pc[i].hva, (const uint8_t *)src + off, pc[i].len);
        } else {
            int64_t r = v3_guest_write_gpa(cpu->core->vm, cpu->core, pc[i].gpa, pc[i].len,
                                            (const uint8_t *)src + off);
            if (r < 0)
                return (int)r;
        }
        cpu_store_check(cpu, pc[i].gpa);
        off += pc[i].len;
    }
    return V3_OK;
}

static int cpu_mem_read(struct v3_emu_ctx *ctx, uint64_t la, void *dst, unsigned len, unsigned access)
{
    struct v3_cpu *cpu = cpu_of_ctx(ctx);
    if (__builtin_expect((la & 0xfff) + len <= 4096, 1)) {
        struct v3_tlb_entry *e = tlb_hit(cpu->core, la, access & (V3_ACCESS_READ | V3_ACCESS_WRITE |
                                                                   V3_ACCESS_SUPERVISOR));
        if (__builtin_expect(e != NULL, 1)) {
            if (access & V3_ACCESS_WRITE)
                cpu_store_check(cpu, e->gpa);
            load_small(dst, e->hva + (la & 0xfff), len);
            return V3_OK;
        }
    }
    return mem_read_slow(cpu, la, dst, len, access);
}

static int cpu_mem_write(struct v3_emu_ctx *ctx, uint64_t la, const void *src, unsigned len,
                         unsigned access)
{
    struct v3_cpu *cpu = cpu_of_ctx(ctx);
    access = (access & ~(unsigned)(V3_ACCESS_READ | V3_ACCESS_EXEC)) | V3_ACCESS_WRITE;
    if (__builtin_expect((la & 0xfff) + len <= 4096, 1)) {
        struct v3_tlb_entry *e = tlb_hit(cpu->core, la, access & (V3_ACCESS_WRITE | V3_ACCESS_SUPERVISOR));
        if (__builtin_expect(e != NULL, 1)) {
            cpu_store_check(cpu, e->gpa);
            store_small(e->hva + (la & 0xfff), src, len);
            return V3_OK;
        }
    }
    return mem_write_slow(cpu, la, src, len, access);
}

static void *cpu_mem_map(struct v3_emu_ctx *ctx, uint64_t la, unsigned len, unsigned access)
{
    struct v3_cpu *cpu = cpu_of_ctx(ctx);
    struct v3_tlb_entry *e;
    if ((la & 0xfff) + len > 4096)
        return NULL;
    e = tlb_hit(cpu->core, la, access & (V3_ACCESS_READ | V3_ACCESS_WRITE | V3_ACCESS_SUPERVISOR));
    if (!e) {
        void *hva = NULL;
        uint64_t gpa;
        struct v3_exception exc;
        if (v3_tlb_fill(cpu->core, la, access, &hva, &gpa, &exc) < 0 || !hva)
            return NULL;      /* the regular path reports the fault */
        e = tlb_hit(cpu->core, la, access & (V3_ACCESS_READ | V3_ACCESS_WRITE | V3_ACCESS_SUPERVISOR));
        if (!e) {
            if (access & V3_ACCESS_WRITE)
                cpu_store_check(cpu, gpa);
            return hva;
        }
    }
    if (access & V3_ACCESS_WRITE)
        cpu_store_check(cpu, e->gpa);
    return e->hva + (la & 0xfff);
}

const struct v3_emu_mem_ops cpu_mem_ops = {
    .read = cpu_mem_read,
    .write = cpu_mem_write,
    .map = cpu_mem_map,
};

int cpu_fetch_xlate(struct v3_cpu *cpu, uint64_t la, uint64_t *gpa, uint8_t **hva,
                    struct v3_exception *exc)
{
    struct v3_tlb_entry *e = tlb_hit(cpu->core, la, V3_ACCESS_EXEC);
    void *h = NULL;
    int rc;
    if (__builtin_expect(e != NULL, 1)) {
        *gpa = e->gpa | (la & 0xfff);
        *hva = e->hva + (la & 0xfff);
        return V3_OK;
    }
    rc = v3_tlb_fill(cpu->core, la, V3_ACCESS_EXEC, &h, gpa, exc);
    if (rc < 0)
        return rc;
    *hva = h;
    return V3_OK;
}
