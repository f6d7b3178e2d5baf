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

static inline void load_small(void *dst, const uint8_t *p, unsigned len)
{
    switch (len) {
    case 1: *(uint8_t *)dst = *p; break;
    case 2: memcpy(dst, p, 2); break;
    case 4: memcpy(dst, p, 4); break;
    case 8: memcpy(dst, p, 8); break;
    case 16: memcpy(dst, p, 16); break;
    default: memcpy(dst, p, len); break;
    }
}

static inline void store_small(uint8_t *p, const void *src, unsigned len)
{
    switch (len) {
    case 1: *p = *(const uint8_t *)src; break;
    case 2: memcpy(p, src, 2); break;
    case 4: memcpy(p, src, 4); break;
    case 8: memcpy(p, src, 8); break;
    case 16: memcpy(p, src, 16); break;
    default: memcpy(p, src, len); break;
    }
}

struct piece {
    uint64_t la, gpa;
    uint8_t *hva;
    unsigned len;
};

/* Translate every page of [la, la+len) before any byte moves. */
static int xlate_pieces(struct v3_cpu *cpu, uint64_t la, unsigned len, unsigned access,
                        struct piece *pc, unsigned *npc)
{
    unsigned n = 0, done = 0;
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

static int mem_read_slow(struct v3_cpu *cpu, uint64_t la, void *dst, unsigned len, unsigned access)
{
    struct piece pc[3];
    unsigned n, off = 0;
    int rc = xlate_pieces(cpu, la, len, access, pc, &n);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        if (pc[i].hva) {
            memcpy((uint8_t *)dst + off, pc[i].hva, pc[i].len);
        } else {
            int64_t r = v3_read_gpa_memory(cpu->core->vm, cpu->core, pc[i].gpa, pc[i].len,
                                           (uint8_t *)dst + off);
            if (r < 0)
                return (int)r;
        }
        off += pc[i].len;
    }
    return V3_OK;
}

static int mem_write_slow(struct v3_cpu *cpu, uint64_t la, const void *src, unsigned len,
                          unsigned access)
{
    struct piece pc[3];
    unsigned n, off = 0;
    int rc = xlate_pieces(cpu, la, len, access, pc, &n);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        if (pc[i].hva) {
            memcpy(pc[i].hva, (const uint8_t *)src + off, pc[i].len);
        } else {
            int64_t r = v3_write_gpa_memory(cpu->core->vm, cpu->core, pc[i].gpa, pc[i].len,
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
