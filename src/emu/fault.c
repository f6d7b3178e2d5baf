/* SPDX-License-Identifier: MIT */
/*
 * The hooked-access fault path: fetch at CS:RIP, decode, execute through the
 * memory map.  Memory operations here translate every page with
 * v3_gva_to_gpa() before touching any byte, then go through
 * v3_read_gpa_memory()/v3_write_gpa_memory(), which deliver one callback per
 * region piece (so an access within one page and region is one call).
 */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/emu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include "emu/insn.h"
#include "emu/fault_cache.h"
#include "paging/tlb.h"

#define PAGE 4096ull

/* ------------------------------------------------------------ per-vCPU caches (fault_cache.h) */

#define FC_DEC_BITS 6
#define FC_DEC_SIZE (1u << FC_DEC_BITS)
#define FC_XL_SIZE  16u

struct fc_dec {
    uint64_t lo, hi;          /* instruction bytes, zero beyond len */
    uint64_t mlo, mhi;        /* masks of the len bytes */
    uint8_t len;              /* 0: empty */
    uint8_t mode;
    struct v3_insn in;
};

struct fc_xl {
    uint64_t tag;             /* linear page | key (low 12 bits); 1 = empty */
    uint64_t gpa;             /* guest physical page */
    uint64_t nomap;           /* 1: the whole page is in one window of a hooked region,
                                 so fp_map() answers NULL (map changes clear the cache) */
};

struct v3_fault_cache {
    /* validity of the translations */
    uint64_t tlb_gen, cr0, cr3, cr4, efer, a20;
    struct fc_xl xl[FC_XL_SIZE];
    struct fc_dec dec[FC_DEC_SIZE];
};

void v3_emu_fault_free_core(struct v3_core *core)
{
    if (core && core->emu_fault) {
        v3_free(core->emu_fault);
        core->emu_fault = NULL;
    }
}

static void fc_xl_clear(struct v3_fault_cache *fc)
{
    for (unsigned i = 0; i < FC_XL_SIZE; i++)
        fc->xl[i].tag = 1;
}

/* The caches of @p core, allocated on first use for a vCPU of a VM (freed
 * with the VM); NULL for a free-standing core or when memory is short. */
static struct v3_fault_cache *fc_get(struct v3_core *core)
{
    struct v3_fault_cache *fc = core->emu_fault;
    if (__builtin_expect(fc != NULL, 1))
        return fc;
    struct v3_vm *vm = core->vm;
    if (!vm->cores || core < vm->cores || core >= vm->cores + vm->num_cores)
        return NULL;
    fc = v3_zalloc(sizeof(*fc));
    if (!fc)
        return NULL;
    fc->tlb_gen = ~0ull;      /* no translation valid yet */
    fc_xl_clear(fc);
    core->emu_fault = fc;
    return fc;
}

/* Sum of the TLB's invalidation counters: changes with every flush, INVLPG
 * and memory-map change.  0 without a TLB (then nothing is cached). */
static uint64_t tlb_generation(const struct v3_core *core)
{
    const struct v3_tlb *t = core->tlb;
    if (!t)
        return 0;
    return __atomic_load_n(&t->stats.flush_all, __ATOMIC_ACQUIRE) +
           __atomic_load_n(&t->stats.flush_nonglobal, __ATOMIC_ACQUIRE) +
           __atomic_load_n(&t->stats.invlpg, __ATOMIC_ACQUIRE) +
           __atomic_load_n(&t->stats.range_inval, __ATOMIC_ACQUIRE) + 1;
}

/* Make the translation cache match the current TLB generation and control
 * registers; returns 0 when nothing may be cached (no TLB). */
static int fc_xl_sync(struct v3_fault_cache *fc, const struct v3_core *core)
{
    uint64_t gen = tlb_generation(core);
    if (!gen)
        return 0;
    if (__builtin_expect(gen != fc->tlb_gen || core->cr3 != fc->cr3 || core->cr0 != fc->cr0 ||
                         core->cr4 != fc->cr4 || core->efer != fc->efer ||
                         core->a20_clear != fc->a20, 0)) {
        fc_xl_clear(fc);
        fc->tlb_gen = gen;
        fc->cr0 = core->cr0;
        fc->cr3 = core->cr3;
        fc->cr4 = core->cr4;
        fc->efer = core->efer;
        fc->a20 = core->a20_clear;
    }
    return 1;
}

/* key of a translation: access kind (R/W/X, SUPERVISOR) and privilege context */
static inline uint64_t xl_key(const struct v3_core *core, unsigned kind)
{
    return (uint64_t)((kind & (7u | V3_ACCESS_SUPERVISOR)) | (v3_tlb_ctx_shift(core, kind) << 4)) << 1 | 1;
}

static inline struct fc_xl *xl_slot(struct v3_fault_cache *fc, uint64_t la)
{
    /* hashed: regions are often aligned to 64 KiB or more */
    return &fc->xl[((la >> 12) * 0x9e3779b97f4a7c15ull) >> 60];
}

/* translate one page: the cache, else a walk (cached on success) */
static inline __attribute__((always_inline)) int xlate(struct v3_emu_ctx *ctx, struct v3_fault_cache *fc, uint64_t la, unsigned kind,
                 uint64_t *gpa, struct v3_exception *exc)
{
    struct v3_core *core = ctx->core;
    if (fc) {
        uint64_t tag = (la & ~(PAGE - 1)) | xl_key(core, kind);
        struct fc_xl *x = xl_slot(fc, la);
        if (x->tag == tag) {
            *gpa = x->gpa | (la & (PAGE - 1));
            return V3_OK;
        }
        int rc = v3_gva_to_gpa(core, la, kind, gpa, exc);
        if (rc == V3_OK) {
            x->tag = tag;
            x->gpa = *gpa & ~(PAGE - 1);
            x->nomap = 0;
        }
        return rc;
    }
    return v3_gva_to_gpa(core, la, kind, gpa, exc);
}

struct piece {
    uint64_t gpa;
    unsigned len;
};

/* translate [la, la+len) (len <= 16 in guest accesses, any length here) into at most 2 pieces
 * per call chunk; we handle up to 2 pages for accesses of at most one page */
static inline __attribute__((always_inline)) int
translate(struct v3_emu_ctx *ctx, uint64_t la, unsigned len, unsigned access, struct piece p[2],
          unsigned *np)
{
    unsigned kind = (access & V3_ACCESS_WRITE) ? V3_ACCESS_WRITE
                  : (access & V3_ACCESS_EXEC) ? V3_ACCESS_EXEC : V3_ACCESS_READ;
    kind |= access & (V3_ACCESS_STACK | V3_ACCESS_SUPERVISOR);
    if (__builtin_expect((la & (PAGE - 1)) + len <= PAGE && len, 1)) {
        /* within one page: one translation, one piece */
        p[0].len = len;
        *np = 1;
        return xlate(ctx, ctx->mem_priv, la, kind, &p[0].gpa, &ctx->exc);
    }
    unsigned n = 0;
    while (len) {
        unsigned chunk = (unsigned)(PAGE - (la & (PAGE - 1)));
        if (chunk > len)
            chunk = len;
        if (n == 2)
            return V3_EINVAL;
        int rc = xlate(ctx, ctx->mem_priv, la, kind, &p[n].gpa, &ctx->exc);
        if (rc)
            return rc;
        p[n].len = chunk;
        n++;
        la += chunk;
        len -= chunk;
    }
    *np = n;
    return V3_OK;
}

/*
 * One piece [gpa, gpa+len) (within one page) that lies in a single window of
 * a fully hooked region: call its callback directly under the map's read
 * lock, as v3_read_gpa_memory()/v3_write_gpa_memory() would, without their
 * generic piece loop.  Returns 1 with *rc set when done, 0 when the piece is
 * anything else (the caller takes the generic path).
 */
static int hook_piece(struct v3_core *core, uint64_t gpa, unsigned len, void *buf, int write,
                      int *rc)
{
    struct v3_vm *vm = core->vm;
    v3_mem_core_read_lock(core);
    const struct v3_mem_region *r = v3_mem_lookup(vm, &core->mem_cache, gpa);
    if (!r || r->type != V3_REGION_FULL_HOOK || core->mem_cache.region != r ||
        gpa - core->mem_cache.start >= core->mem_cache.end - core->mem_cache.start ||
        len > core->mem_cache.end - gpa) {
        v3_mem_core_read_unlock(core);
        return 0;
    }
    struct v3_mem_region *wr = (struct v3_mem_region *)r;
    __atomic_add_fetch(&wr->hook_calls, 1, __ATOMIC_RELAXED);
    int cb = write ? r->write_hook(core, gpa, buf, len, r->priv)
                   : r->read_hook(core, gpa, buf, len, r->priv);
    v3_mem_core_read_unlock(core);
    if (cb < 0) {
        V3_ERROR("emu: %s callback of [%#llx, %#llx) failed (%d) at %#llx+%u",
                 write ? "write" : "read", (unsigned long long)r->guest_start,
                 (unsigned long long)r->guest_end, cb, (unsigned long long)gpa, len);
        *rc = V3_ECALLBACK;
    } else {
        *rc = V3_OK;
    }
    return 1;
}

/* Host address of [la, la+len) when it lies in one page that the software
 * TLB holds for this access (RAM; for reads also a write-hooked page, whose
 * reads come from its backing memory), else NULL. */
static inline uint8_t *tlb_ram(struct v3_core *core, uint64_t la, unsigned len, unsigned access)
{
    if ((la & (PAGE - 1)) + len > PAGE)
        return NULL;
    unsigned kind = (access & V3_ACCESS_WRITE) ? V3_ACCESS_WRITE : V3_ACCESS_READ;
    return v3_tlb_lookup(core, la, kind | (access & V3_ACCESS_SUPERVISOR));
}

/* memcpy with the common guest access widths inlined (the core is built
 * -ffreestanding, so a plain memcpy is always a library call) */
static inline void copy_small(void *d, const void *s, unsigned len)
{
    switch (len) {
    case 1: __builtin_memcpy(d, s, 1); break;
    case 2: __builtin_memcpy(d, s, 2); break;
    case 4: __builtin_memcpy(d, s, 4); break;
    case 8: __builtin_memcpy(d, s, 8); break;
    case 16: __builtin_memcpy(d, s, 16); break;
    default: memcpy(d, s, len); break;
    }
}

static int fp_read(struct v3_emu_ctx *ctx, uint64_t la, void *dst, unsigned len, unsigned access)
{
    uint8_t *h = tlb_ram(ctx->core, la, len, access);
    if (h) {
        copy_small(dst, h, len);
        return V3_OK;
    }
    struct piece p[2];
    unsigned n;
    int rc = translate(ctx, la, len, access, p, &n);
    if (rc)
        return rc;
    uint8_t *d = dst;
    if (n == 1 && hook_piece(ctx->core, p[0].gpa, p[0].len, dst, 0, &rc))
        return rc;
    for (unsigned i = 0; i < n; i++) {
        int64_t r = v3_guest_read_gpa(ctx->core->vm, ctx->core, p[i].gpa, p[i].len, d);
        if (r < 0)
            return (int)r;
        d += p[i].len;
    }
    return V3_OK;
}

static int fp_write(struct v3_emu_ctx *ctx, uint64_t la, const void *src, unsigned len,
                    unsigned access)
{
    uint8_t *h = tlb_ram(ctx->core, la, len, V3_ACCESS_WRITE | access);
    if (h) {
        copy_small(h, src, len);
        return V3_OK;
    }
    struct piece p[2];
    unsigned n;
    int rc = translate(ctx, la, len, access | V3_ACCESS_WRITE, p, &n);
    if (rc)
        return rc;
    /* every piece must be mapped before the first one is written (a single
     * piece is checked by v3_write_gpa_memory() before it writes) */
    for (unsigned i = 0; n > 1 && !v3_mem_unbacked_ok(ctx->core->vm) && i < n; i++) {
        if (!v3_mem_lookup(ctx->core->vm, &ctx->core->mem_cache, p[i].gpa) ||
            !v3_mem_lookup(ctx->core->vm, &ctx->core->mem_cache, p[i].gpa + p[i].len - 1))
            return V3_EUNMAPPED;
    }
    const uint8_t *s = src;
    if (n == 1 && hook_piece(ctx->core, p[0].gpa, p[0].len, (void *)(uintptr_t)src, 1, &rc))
        return rc;
    for (unsigned i = 0; i < n; i++) {
        int64_t r = v3_guest_write_gpa(ctx->core->vm, ctx->core, p[i].gpa, p[i].len, s);
        if (r < 0)
            return (int)r;
        s += p[i].len;
    }
    return V3_OK;
}

/* host pointer for plain RAM (base or shadow region) within one page.  The
 * lookup is not made under the map lock: as for any raw lookup, a VMM that
 * changes the map while vCPUs run must pause them first (see v3/mem.h).
 * Pages the software TLB holds for this access (not write-hooked) are
 * answered from it. */
static void *fp_map(struct v3_emu_ctx *ctx, uint64_t la, unsigned len, unsigned access)
{
    if ((la & (PAGE - 1)) + len > PAGE)
        return NULL;
    struct v3_core *core = ctx->core;
    unsigned kind = (access & V3_ACCESS_WRITE) ? V3_ACCESS_WRITE : V3_ACCESS_READ;
    kind |= access & V3_ACCESS_SUPERVISOR;
    const struct v3_tlb_entry *e = core->tlb;
    if (e) {
        e += (la >> 12) & (V3_TLB_SIZE - 1);
        if (e->tag == (la & ~(PAGE - 1)) && !(e->flags & V3_TLB_WHOOK) &&
            ((e->perm >> v3_tlb_ctx_shift(core, kind)) & kind & 7u))
            return e->hva + (la & (PAGE - 1));
    }
    uint64_t gpa;
    struct v3_exception exc;
    struct v3_fault_cache *fc = ctx->mem_priv;
    struct fc_xl *x = NULL;
    if (fc) {
        x = xl_slot(fc, la);
        if (x->tag == ((la & ~(PAGE - 1)) | xl_key(core, kind)) && x->nomap)
            return NULL;
    }
    if (xlate(ctx, fc, la, kind, &gpa, &exc))
        return NULL;
    const struct v3_mem_region *reg = v3_mem_lookup(core->vm, &core->mem_cache, gpa);
    if (reg && (reg->type == V3_REGION_FULL_HOOK || reg->type == V3_REGION_WRITE_HOOK) && x &&
        x->tag == ((la & ~(PAGE - 1)) | xl_key(core, kind)) && core->mem_cache.region == reg &&
        core->mem_cache.start <= (gpa & ~(PAGE - 1)) && core->mem_cache.end >= (gpa | (PAGE - 1)) + 1)
        x->nomap = 1;
    if (!reg || (reg->type != V3_REGION_BASE && reg->type != V3_REGION_SHADOW) ||
        gpa + len > reg->guest_end)
        return NULL;
    void *hva;
    if (v3_get_shadow_addr(reg, gpa, &hva))
        return NULL;
    return hva;
}

static const struct v3_emu_mem_ops fault_mem_ops = {
    .read = fp_read,
    .write = fp_write,
    .map = fp_map,
};

static void hexbytes(char *out, const uint8_t *b, unsigned n)
{
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[i * 3] = hx[b[i] >> 4];
        out[i * 3 + 1] = hx[b[i] & 15];
        out[i * 3 + 2] = i + 1 < n ? ' ' : 0;
    }
    if (!n)
        out[0] = 0;
}

static int finish_exc(struct v3_emu_result *res, const struct v3_exception *exc)
{
    res->status = V3_EMU_EXCEPTION;
    res->exc = *exc;
    res->error = V3_EFAULT;
    return V3_EFAULT;
}

static int finish_err(struct v3_emu_result *res, enum v3_emu_status s, int err)
{
    res->status = s;
    res->error = err;
    return err;
}

static inline uint64_t load8(const uint8_t *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);    /* inlined: the core is built -ffreestanding */
    return v;
}

/* Fetch, decode and execute the instruction at CS:RIP; @p res is zeroed with
 * res->rip set. */
static int emulate(struct v3_core *core, struct v3_emu_result *res)
{
    struct v3_fault_cache *fc = fc_get(core);
    /* a REP string instruction does at most V3_EMU_REP_CHUNK iterations per
       call (RIP stays at it; the guest re-executes it), so that one call is
       bounded even over unbacked memory, which never faults */
    struct v3_emu_ctx ctx = { .core = core, .mem = &fault_mem_ops, .rep_limit = V3_EMU_REP_CHUNK };

    if (fc && fc_xl_sync(fc, core))
        ctx.mem_priv = fc;

    /* ---- fetch up to 15 bytes at CS:RIP, stopping at what is readable */
    uint64_t rip = core->rip;
    if (core->mode != V3_MODE_LONG64)
        rip &= 0xffffffffull;
    unsigned want = 15;
    if (core->mode != V3_MODE_LONG64) {
        uint64_t lim = core->seg[V3_CS].limit;
        if (rip > lim) {
            v3_exc_gp0(&ctx);
            return finish_exc(res, &ctx.exc);
        }
        if (lim - rip + 1 < want)
            want = (unsigned)(lim - rip + 1);
    }
    uint64_t la;
    if (core->mode == V3_MODE_LONG64 && (uint64_t)(((int64_t)rip >> 47) + 1) <= 1) {
        la = rip;    /* 64-bit mode: CS base 0, no limit; canonical */
    } else if (v3_seg_linear(&ctx, V3_CS, rip, 1, V3_ACCESS_EXEC, &la)) {
        return finish_exc(res, &ctx.exc);
    }
    unsigned first = (unsigned)(PAGE - (la & (PAGE - 1)));
    if (first > want)
        first = want;
    /* a page the software TLB holds is read through it, as
     * v3_read_gva_memory() would */
    const uint8_t *hcode = v3_tlb_lookup(core, la, V3_ACCESS_EXEC);
    if (hcode) {
        if (first == 15)
            __builtin_memcpy(res->bytes, hcode, 15);
        else
            memcpy(res->bytes, hcode, first);
    } else {
        struct v3_exception fexc;
        int64_t r = v3_read_gva_memory(core, la, first, res->bytes, V3_ACCESS_EXEC, &fexc);
        if (r == V3_EFAULT)
            return finish_exc(res, &fexc);
        if (r < 0) {
            V3_ERROR("emu: cannot fetch at rip %llx: %d", (unsigned long long)core->rip, (int)r);
            return finish_err(res, V3_EMU_ERROR, (int)r);
        }
    }
    unsigned got = first;
    res->len = (uint8_t)got;

    /* ---- decode: the cache when the fetched bytes equal a cached
     * instruction's; else Zydis, fetching the next page only if the
     * instruction continues there (no speculative read of a hooked page
     * behind the code) */
    struct v3_insn in;
    int dl;
    struct fc_dec *d = NULL;
    if (fc) {
        d = &fc->dec[((la >> FC_DEC_BITS) ^ la) & (FC_DEC_SIZE - 1)];
        /* res->bytes is zero beyond what was fetched */
        uint8_t b[16];
        __builtin_memcpy(b, res->bytes, 15);
        b[15] = 0;
        if (d->len && d->len <= got && d->mode == (uint8_t)core->mode &&
            !(((load8(b) ^ d->lo) & d->mlo) | ((load8(b + 8) ^ d->hi) & d->mhi))) {
            __builtin_memcpy(&in, &d->in, sizeof(in));
            res->len = in.len;
            goto execute;
        }
    }
    dl = v3_decode(core->mode, res->bytes, got, &in);
    if (dl == V3_DEC_SHORT && got < want) {
        struct v3_exception sexc;
        uint64_t la2 = (la + got) & (core->mode == V3_MODE_LONG64 ? ~0ull : 0xffffffffull);
        int64_t r2 = v3_read_gva_memory(core, la2, want - got, res->bytes + got, V3_ACCESS_EXEC, &sexc);
        if (r2 == V3_EFAULT)
            return finish_exc(res, &sexc);
        if (r2 < 0) {
            V3_ERROR("emu: cannot fetch instruction tail at rip %llx: %d",
                     (unsigned long long)core->rip, (int)r2);
            return finish_err(res, V3_EMU_ERROR, (int)r2);
        }
        got = want;
        res->len = (uint8_t)got;
        dl = v3_decode(core->mode, res->bytes, got, &in);
    }
    if (dl == V3_DEC_SHORT) {
        v3_exc_gp0(&ctx);    /* ran into the CS limit */
        return finish_exc(res, &ctx.exc);
    }
    if (dl == V3_DEC_LONG) {
        v3_exc_gp0(&ctx);
        return finish_exc(res, &ctx.exc);
    }
    if (dl < 0) {
        v3_exc_ud(&ctx);
        return finish_exc(res, &ctx.exc);
    }
    res->len = in.len;
    if (d && in.len <= 15) {
        uint8_t b[16] = { 0 };
        memcpy(b, res->bytes, in.len);
        d->lo = load8(b);
        d->hi = load8(b + 8);
        d->mlo = in.len >= 8 ? ~0ull : (1ull << (in.len * 8)) - 1;
        d->mhi = in.len <= 8 ? 0 : in.len >= 16 ? ~0ull : (1ull << ((in.len - 8) * 8)) - 1;
        d->lo &= d->mlo;
        d->hi &= d->mhi;
        d->mode = (uint8_t)core->mode;
        d->in = in;
        d->len = in.len;
    }

execute:;
    /* ---- execute.  An instruction without semantics here (the #UD fallback
     * of a model that does not report it) reached memory on the CPU that
     * faulted, so that CPU has it: the emulator's gap, reported as
     * unsupported, not an architectural #UD. */
    int st = in.handler == v3_op_ud_unreported ? V3_X_UNSUPPORTED : v3_exec(&ctx, &in);
    switch (st) {
    case V3_X_NEXT:
    case V3_X_JUMP:
        res->status = V3_EMU_DONE;
        return V3_OK;
    case V3_X_EXC:
        return finish_exc(res, &ctx.exc);
    case V3_X_ERROR:
        V3_ERROR("emu: access failed at rip %llx: %s", (unsigned long long)res->rip,
                 v3_strerror(ctx.error));
        return finish_err(res, V3_EMU_ERROR, ctx.error ? ctx.error : V3_EINVAL);
    default: {
        char hex[48];
        hexbytes(hex, res->bytes, res->len);
        V3_ERROR("emu: unsupported instruction at rip %llx: %s", (unsigned long long)res->rip, hex);
        return finish_err(res, V3_EMU_UNSUPPORTED, V3_EUNSUPPORTED);
    }
    }
}

int v3_emulate_one(struct v3_core *core, struct v3_emu_result *res)
{
    if (!core || !res)
        return V3_EINVAL;
    __builtin_memset(res, 0, sizeof(*res));
    res->rip = core->rip;
    if (!core->vm) {
        V3_ERROR("emu: core has no VM");
        return finish_err(res, V3_EMU_ERROR, V3_EINVAL);
    }
    return emulate(core, res);
}

int v3_handle_mem_fault(struct v3_core *core, uint64_t gva, uint64_t gpa, unsigned access,
                        struct v3_emu_result *res)
{
    (void)gva;
    (void)access;
    if (!core || !res)
        return V3_EINVAL;
    __builtin_memset(res, 0, sizeof(*res));
    res->rip = core->rip;
    if (!core->vm) {
        V3_ERROR("emu: core has no VM");
        return finish_err(res, V3_EMU_ERROR, V3_EINVAL);
    }
    if (!v3_mem_lookup(core->vm, &core->mem_cache, gpa) && !v3_mem_unbacked_ok(core->vm)) {
        V3_ERROR("emu: fault at gpa %llx: no region", (unsigned long long)gpa);
        return finish_err(res, V3_EMU_ERROR, V3_EUNMAPPED);
    }
    return emulate(core, res);
}
