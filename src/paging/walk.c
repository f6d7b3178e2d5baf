/* SPDX-License-Identifier: MIT */
/*
 * Guest page walks in every x86 paging mode, and guest-virtual memory access.
 * The rules implemented are described in include/v3/paging.h.
 */
#include "internal/host.h"
#include "internal/vm.h"
#include "paging/tlb.h"

/* Paging-structure entry bits */
#define PTE_P    (1ull << 0)
#define PTE_RW   (1ull << 1)
#define PTE_US   (1ull << 2)
#define PTE_A    (1ull << 5)
#define PTE_D    (1ull << 6)
#define PTE_PS   (1ull << 7)
#define PTE_G    (1ull << 8)
#define PTE_XD   (1ull << 63)

#define MAX_LEVELS 5

static inline unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

/* Bits hi..lo set (hi >= lo), or 0 when hi < lo. */
static inline uint64_t bits(unsigned hi, unsigned lo)
{
    if (hi < lo)
        return 0;
    return (~0ull >> (63 - hi)) & ~((1ull << lo) - 1);
}

enum pmode { PM_OFF, PM_32, PM_PAE, PM_4L, PM_5L };

static enum pmode paging_mode(const struct v3_core *c)
{
    if (!(c->cr0 & V3_CR0_PG))
        return PM_OFF;
    if (c->efer & V3_EFER_LMA)
        return (c->cr4 & V3_CR4_LA57) ? PM_5L : PM_4L;
    return (c->cr4 & V3_CR4_PAE) ? PM_PAE : PM_32;
}

/* A window of guest physical memory answered by one region (see win_load()). */

/* The result of a walk. */
struct walk {
    uint64_t la;            /* linear address actually translated (32-bit truncated outside long mode) */
    uint64_t gpa;
    unsigned shift;         /* page size log2 */
    bool user, write, nx;   /* effective: U/S and R/W at every level, XD at any */
    bool global, dirty;
    /* entries to update for A/D */
    unsigned n;
    void *ptr[MAX_LEVELS];
    uint64_t val[MAX_LEVELS];
    uint64_t ea[MAX_LEVELS];    /* their guest physical addresses (the dirty log) */
    bool wide;              /* 8-byte entries */
    bool all_a;             /* A already set in every entry used */
    struct v3_tlb_win win;         /* last memory window used */
    struct v3_tlb *t;       /* the vCPU's TLB (NULL: none) */
    bool locked;            /* the map's read lock is held */
    bool need_lock;         /* a window was missing: redo the walk with the map lock */
    uint64_t addr_mask, rsvd_pae, rsvd_long;
};

/* The dirty log: a walk wrote A/D into a paging entry, or hands out a
 * writable host address. */
static inline void walk_mark(struct v3_core *c, uint64_t gpa)
{
    if (c->vm)
        v3_mem_mark_dirty(&c->vm->mem, gpa);
}

/* The page of @p ea holds a paging-structure entry this walk used. */
static inline void walk_pt(struct v3_core *c, uint64_t ea)
{
    if (c->vm)
        v3_mem_mark_pt(&c->vm->mem, ea);
}

#define WALK_RETRY 1         /* internal: walk again with the map's read lock */

#define WALK_COMMIT 1u       /* set A/D bits and fill the TLB */

static inline bool is_write(unsigned access) { return access & V3_ACCESS_WRITE; }
static inline bool is_exec(unsigned access) { return access & V3_ACCESS_EXEC; }
static inline bool is_user(const struct v3_core *c, unsigned access)
{
    return c->cpl == 3 && !(access & V3_ACCESS_SUPERVISOR);
}

static int check_access(const char *fn, unsigned access)
{
    unsigned kind = access & 7u;

    if ((access & ~0x1fu) || !kind || (kind & (kind - 1))) {
        V3_ERROR("%s: bad access flags %#x", fn, access);
        return V3_EINVAL;
    }
    return V3_OK;
}

static unsigned maxphy(const struct v3_core *c)
{
    const struct v3_tlb *t = c->tlb;
    return t ? t->maxphyaddr : V3_PAGING_MAXPHYADDR;
}

static int page_fault(const struct v3_core *c, uint64_t la, unsigned access, uint32_t ec,
                      struct v3_exception *exc)
{
    if (is_write(access))
        ec |= V3_PF_W;
    if (is_user(c, access))
        ec |= V3_PF_U;
    if (is_exec(access) && ((c->cr4 & V3_CR4_SMEP) ||
                            ((c->cr4 & V3_CR4_PAE) && (c->efer & V3_EFER_NXE))))
        ec |= V3_PF_I;
    if (exc) {
        exc->vector = V3_EXC_PF;
        exc->has_error_code = true;
        exc->error_code = ec;
        exc->cr2 = la;
    }
    return V3_EFAULT;
}

/*
 * Permission bits (V3_TLB perm layout) of a translation with effective
 * user/write/nx, for every privilege context, under the current controls.
 */
static inline __attribute__((always_inline)) unsigned perm_of(const struct v3_core *c, bool user, bool write,
                                                              bool nx)
{
    bool wp = c->cr0 & V3_CR0_WP;
    bool smep = c->cr4 & V3_CR4_SMEP, smap = c->cr4 & V3_CR4_SMAP;
    unsigned u = 0, s = 0, sac = 0;

    if (user) {
        u = V3_ACCESS_READ | (write ? V3_ACCESS_WRITE : 0) | (nx ? 0 : V3_ACCESS_EXEC);
        /* supervisor data access to a user page: SMAP unless AC (explicit only) */
        sac = V3_ACCESS_READ | ((write || !wp) ? V3_ACCESS_WRITE : 0);
        s = smap ? 0 : sac;
        if (!smep && !nx) {
            s |= V3_ACCESS_EXEC;
            sac |= V3_ACCESS_EXEC;
        }
    } else {
        s = V3_ACCESS_READ | ((write || !wp) ? V3_ACCESS_WRITE : 0) | (nx ? 0 : V3_ACCESS_EXEC);
        sac = s;
    }
    return u << (4 * V3_TLB_CTX_USER) | s << (4 * V3_TLB_CTX_SUP) | sac << (4 * V3_TLB_CTX_SUPAC);
}

/*
 * Memory windows: guest physical memory answered by one region, from the
 * memory map's lookup cache (struct v3_mem_cache: [start, end) where the
 * region is the answer).  The TLB keeps the last few windows, as copies,
 * and every memory-map change drops them (through the listener, under the
 * TLB lock), so a walk holding the TLB lock can use them without the map's
 * lock: the map cannot finish a change, nor free a removed region, before
 * the walk is over.  A walk that needs a window it does not have starts
 * again holding the map's read lock and looks it up.
 */
static bool win_load(struct v3_core *c, struct v3_tlb_win *w, uint64_t gpa)
{
    struct v3_mem_region *r = v3_mem_lookup(c->vm, &c->mem_cache, gpa);
    uint64_t start, end;

    if (!r)
        return false;
    start = c->mem_cache.start;
    end = c->mem_cache.end;
    if (c->mem_cache.region != r || gpa - start >= end - start) {
        /* no usable window: just this page */
        start = gpa & ~0xfffull;
        end = start + 0x1000;
    }
    if (start < r->guest_start)
        start = r->guest_start;
    if (end > r->guest_end)
        end = r->guest_end;
    if (gpa < start || gpa >= end)
        return false;
    w->start = start;
    w->size = end - start;
    w->type = r->type;
    w->base = (r->type == V3_REGION_FULL_HOOK || !r->host_addr) ? NULL
              : (uint8_t *)r->host_addr + (start - r->guest_start);
    return true;
}

static void *win_miss(struct v3_core *c, struct walk *w, uint64_t gpa)
{
    struct v3_tlb *t = w->t;

    /* the TLB keeps its windows most recently used first: walks start in win[0] */
    if (t) {
        for (unsigned i = 0; i < V3_TLB_NWIN; i++) {
            if (gpa - t->win[i].start < t->win[i].size) {
                w->win = t->win[i];
                if (i) {
                    t->win[i] = t->win[0];
                    t->win[0] = w->win;
                }
                goto found;
            }
        }
    }
    if (!w->locked) {
        w->need_lock = true;
        return NULL;
    }
    if (!win_load(c, &w->win, gpa))
        return NULL;
    if (t) {
        memmove(&t->win[1], &t->win[0], (V3_TLB_NWIN - 1) * sizeof(t->win[0]));
        t->win[0] = w->win;
    }
found:
    return w->win.base ? w->win.base + (gpa - w->win.start) : NULL;
}

/* Host address of guest physical @p gpa if RAM-backed, else NULL (then see w->need_lock). */
static inline void *win_ptr(struct v3_core *c, struct walk *w, uint64_t gpa)
{
    if (__builtin_expect(gpa - w->win.start < w->win.size, 1))
        return w->win.base ? w->win.base + (gpa - w->win.start) : NULL;
    return win_miss(c, w, gpa);
}

/* Set @p set bits in the entry if it still holds @p old.  false if it changed. */
static inline bool update_entry(void *p, bool wide, uint64_t old, uint64_t set)
{
    if (wide) {
        uint64_t o = old;
        return __atomic_compare_exchange_n((uint64_t *)p, &o, old | set, false,
                                           __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    } else {
        uint32_t o = (uint32_t)old;
        return __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)(old | set), false,
                                           __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
}

/*
 * A paging-structure entry at guest physical @p ea that is not RAM-backed.
 * Unbacked memory (no region at all) reads as all ones on a PC, so without
 * strict_mem the walk reads an all-ones entry: it is present, has A and D
 * set (nothing is ever written back) and, in PAE and long mode, reserved
 * bits (#PF with RSVD); in 32-bit paging a PDE with PSE has bit 21 set
 * (reserved: #PF RSVD) and without PSE the walk goes on to a page table at
 * 0xFFFFF000, as hardware would.  NULL: hooked (MMIO) tables, strict_mem,
 * or a window still to be looked up under the map lock.
 */
static uint64_t unbacked_entry_ones = ~0ull;

static void *unbacked_entry(struct v3_core *c, const struct walk *w, uint64_t ea)
{
    if (w->need_lock || !w->locked || !v3_mem_unbacked_ok(c->vm))
        return NULL;
    if (ea - w->win.start < w->win.size)
        return NULL;                /* a hooked region answers: not a hole */
    if (v3_mem_lookup(c->vm, &c->mem_cache, ea))
        return NULL;
    v3_mem_note_unbacked(c->vm, ea, false);
    return &unbacked_entry_ones;
}

static int bad_entry(const struct walk *w, unsigned level, uint64_t ea, uint64_t la)
{
    if (w->need_lock)
        return WALK_RETRY;
    V3_WARN("page walk: level-%u paging entry at %#llx (for %#llx) is not in RAM-backed memory",
            level, ull(ea), ull(la));
    return V3_EPTE;
}

/*
 * Walk the tables for @p la (map read lock held).  Returns V3_OK with *w
 * filled, V3_EFAULT (not present, reserved bit), or V3_EPTE.  Permissions
 * are checked by the caller from w->user/write/nx.
 */
static int walk32(struct v3_core *c, uint64_t la, unsigned access, struct walk *w,
                  struct v3_exception *exc)
{
    unsigned M = maxphy(c), m = M < 40 ? M : 40;
    uint64_t ea = (c->cr3 & 0xfffff000ull) + ((la >> 22) & 0x3ff) * 4;
    uint32_t *p = win_ptr(c, w, ea);
    uint32_t e;

    w->wide = false;
    if (!p && !(p = unbacked_entry(c, w, ea)))
        return bad_entry(w, 2, ea, la);
    e = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    if (!(e & PTE_P))
        return page_fault(c, la, access, 0, exc);
    w->ptr[0] = p;
    w->val[0] = e;
    w->ea[0] = ea;
    walk_pt(c, ea);
    if ((e & PTE_PS) && (c->cr4 & V3_CR4_PSE)) {
        /* 4 MiB page; PDE bits 20:13 are physical bits 39:32 (PSE-36) */
        if (e & ((1u << 21) | (uint32_t)bits(20, m - 19)))
            return page_fault(c, la, access, V3_PF_P | V3_PF_RSVD, exc);
        w->n = 1;
        w->gpa = (((uint64_t)e & 0xffc00000ull) | ((((uint64_t)e >> 13) & 0xff) << 32) | (la & 0x3fffff)) &
                 bits(m - 1, 0);
        w->shift = 22;
    } else {
        uint32_t e2;
        ea = (e & 0xfffff000u) + ((la >> 12) & 0x3ff) * 4;
        p = win_ptr(c, w, ea);
        if (!p && !(p = unbacked_entry(c, w, ea)))
            return bad_entry(w, 1, ea, la);
        e2 = __atomic_load_n(p, __ATOMIC_ACQUIRE);
        if (!(e2 & PTE_P))
            return page_fault(c, la, access, 0, exc);
        w->ptr[1] = p;
        w->val[1] = e2;
        w->ea[1] = ea;
        walk_pt(c, ea);
        w->n = 2;
        e &= e2 | ~(uint32_t)(PTE_RW | PTE_US);     /* effective R/W, U/S */
        w->gpa = (e2 & 0xfffff000u) | (la & 0xfff);
        w->shift = 12;
        w->global = (e2 & PTE_G) && (c->cr4 & V3_CR4_PGE);
        w->dirty = e2 & PTE_D;
        w->user = e & PTE_US;
        w->write = e & PTE_RW;
        w->nx = false;
        w->all_a = (e & e2 & PTE_A) != 0;
        return V3_OK;
    }
    w->global = (e & PTE_G) && (c->cr4 & V3_CR4_PGE);
    w->dirty = e & PTE_D;
    w->user = e & PTE_US;
    w->write = e & PTE_RW;
    w->nx = false;
    w->all_a = e & PTE_A;
    return V3_OK;
}

/* PAE, 4-level and 5-level paging: 8-byte entries, 9 index bits per level. */
static int walk64(struct v3_core *c, enum pmode mode, uint64_t la, unsigned access, struct walk *w,
                  struct v3_exception *exc)
{
    const uint64_t addr_mask = w->addr_mask;
    const bool nxe = c->efer & V3_EFER_NXE;
    /* reserved in every entry: physical-address bits at or above M (to bit 62
       in PAE entries, to bit 51 in long mode), and XD while NXE is clear */
    const uint64_t rsvd = (mode == PM_PAE ? w->rsvd_pae : w->rsvd_long) | (nxe ? 0 : PTE_XD);
    uint64_t table, all = ~0ull, any = 0, *p, e;
    unsigned level, n = 0;

    w->wide = true;
    if (mode == PM_PAE) {
        /* PDPTE: read on every walk; no access rights, no A/D */
        uint64_t ea = (c->cr3 & 0xffffffe0ull) + ((la >> 30) & 3) * 8;
        p = win_ptr(c, w, ea);
        if (!p && !(p = unbacked_entry(c, w, ea)))
            return bad_entry(w, 3, ea, la);
        e = __atomic_load_n(p, __ATOMIC_ACQUIRE);
        walk_pt(c, ea);
        if (!(e & PTE_P))
            return page_fault(c, la, access, 0, exc);
        if (e & (bits(2, 1) | bits(8, 5) | w->rsvd_pae | PTE_XD))
            return page_fault(c, la, access, V3_PF_P | V3_PF_RSVD, exc);
        table = e & addr_mask;
        level = 2;
    } else {
        table = c->cr3 & addr_mask;
        level = mode == PM_5L ? 5 : 4;
    }
    for (;; level--) {
        unsigned shift = 12 + 9 * (level - 1);
        uint64_t ea = table + ((la >> shift) & 511) * 8, rs = rsvd;
        bool leaf = level == 1;

        p = win_ptr(c, w, ea);
        if (!p && !(p = unbacked_entry(c, w, ea)))
            return bad_entry(w, level, ea, la);
        e = __atomic_load_n(p, __ATOMIC_ACQUIRE);
        if (!(e & PTE_P))
            return page_fault(c, la, access, 0, exc);
        if (level >= 4) {
            rs |= PTE_PS;                           /* PML4E / PML5E */
        } else if (level > 1 && (e & PTE_PS)) {
            leaf = true;                            /* 1 GiB or 2 MiB page */
            rs |= bits(shift - 1, 13);
        }
        if (e & rs)
            return page_fault(c, la, access, V3_PF_P | V3_PF_RSVD, exc);
        all &= e;
        any |= e;
        w->ptr[n] = p;
        w->val[n] = e;
        w->ea[n] = ea;
        walk_pt(c, ea);
        n++;
        if (leaf) {
            uint64_t off = (1ull << shift) - 1;
            w->n = n;
            w->gpa = (e & addr_mask & ~off) | (la & off);
            w->shift = shift;
            w->global = (e & PTE_G) && (c->cr4 & V3_CR4_PGE);
            w->dirty = e & PTE_D;
            w->user = all & PTE_US;
            w->write = all & PTE_RW;
            w->nx = nxe && (any & PTE_XD);
            w->all_a = all & PTE_A;
            return V3_OK;
        }
        table = e & addr_mask;
    }
}

/*
 * The common committed walk, without the general walk's bookkeeping:
 * 4-level or 5-level paging, a TLB, every paging-structure entry and the
 * data page inside the memory window used last (RAM, not write-hooked),
 * every entry present, free of reserved bits and already accessed, the
 * leaf already dirty on a write, and the access allowed.  Then nothing in
 * guest memory changes, and the result (the TLB entry, *gpa, *hva) is what
 * translate() produces for the same walk.  Anything else (a fault, an A or
 * D bit to set, another window, another mode) returns FAST_NO having
 * changed nothing, and the general walk decides.
 *
 * Entries are read with relaxed atomic loads: each entry is read once,
 * whole, and each load depends on the previous one.
 */
#define FAST_NO 1

/* One entry of the fast walk, in the table at @p table: false unless it lies
   in the window [wstart, wstart + wsize) (host address: guest physical plus
   @p hbias), is present and accessed, and has no bit of @p rsvd set. */
static inline __attribute__((always_inline)) bool fast_entry(uintptr_t hbias, uint64_t wstart, uint64_t wsize,
                                                            uint64_t table, uint64_t la, unsigned shift,
                                                            uint64_t rsvd, uint64_t *e, struct v3_mem_map *m)
{
    uint64_t ea = table + ((la >> shift) & 511) * 8;

    if (__builtin_expect(ea - wstart >= wsize, 0))
        return false;
    *e = __atomic_load_n((const uint64_t *)(hbias + (uintptr_t)ea), __ATOMIC_RELAXED);
    v3_mem_mark_pt(m, ea);
    return !((~*e & (PTE_P | PTE_A)) | (*e & rsvd));
}

/* perm_of() by the walk's effective (U/S, R/W, XD), cached in the TLB for
   the current CR0.WP, CR4.SMEP and CR4.SMAP (TLB lock held). */
static inline __attribute__((always_inline)) unsigned fast_perm(struct v3_core *c, struct v3_tlb *t,
                                                               uint64_t all, bool nx)
{
    uint64_t key = (c->cr0 & V3_CR0_WP) | (c->cr4 & (V3_CR4_SMEP | V3_CR4_SMAP)) | 1;

    if (__builtin_expect(t->perm_key != key, 0)) {
        for (unsigned i = 0; i < 8; i++)
            t->perm_tab[i] = (uint16_t)perm_of(c, i & 4, i & 2, i & 1);
        t->perm_key = key;
    }
    return t->perm_tab[(all & (PTE_US | PTE_RW)) | nx];
}

static inline __attribute__((always_inline)) int walk_fast(struct v3_core *c, struct v3_tlb *t, uint64_t la,
                                                          unsigned access, uint64_t *gpa, void **hva)
{
    const struct v3_tlb_win *win;
    struct v3_mem_map *mm;
    uint64_t amask, rsvd, wstart, wsize, off, all, any, e, pmask, g;
    uint8_t *wbase;
    uintptr_t hb;
    unsigned shift, perm, tflags;
    bool la57, nxe;

    if (!(c->cr0 & V3_CR0_PG) || !(c->efer & V3_EFER_LMA) || !c->vm)
        return FAST_NO;
    mm = &c->vm->mem;
    la57 = c->cr4 & V3_CR4_LA57;
    /* canonical: bits 63:47 (63:56) all equal */
    if (__builtin_expect(!la57, 1)) {
        if ((uint64_t)((int64_t)(la << 16) >> 16) != la)
            return FAST_NO;
    } else if ((uint64_t)((int64_t)(la << 7) >> 7) != la) {
        return FAST_NO;
    }

    v3_tlb_lock(t);
    win = &t->win[0];
    wstart = win->start;
    wsize = win->size;
    wbase = win->base;
    if (!wbase || win->type == V3_REGION_WRITE_HOOK)
        goto no;
    hb = (uintptr_t)wbase - (uintptr_t)wstart;
    amask = t->addr_mask;
    nxe = c->efer & V3_EFER_NXE;
    rsvd = t->rsvd_long_nxe[nxe];
    e = c->cr3;
    all = ~0ull;
    any = 0;
    /* PML5E, PML4E: PS is reserved */
    if (la57) {
        if (!fast_entry(hb, wstart, wsize, e & amask, la, 48, rsvd | PTE_PS, &e, mm))
            goto no;
        all &= e;
        any |= e;
    }
    if (!fast_entry(hb, wstart, wsize, e & amask, la, 39, rsvd | PTE_PS, &e, mm))
        goto no;
    all &= e;
    any |= e;
    /* PDPTE: a 1 GiB page's address bits 29:13 are reserved */
    shift = 30;
    if (!fast_entry(hb, wstart, wsize, e & amask, la, 30, rsvd, &e, mm))
        goto no;
    all &= e;
    any |= e;
    if (e & PTE_PS) {
        if (e & bits(29, 13))
            goto no;
        goto leaf;
    }
    /* PDE: a 2 MiB page's address bits 20:13 are reserved */
    shift = 21;
    if (!fast_entry(hb, wstart, wsize, e & amask, la, 21, rsvd, &e, mm))
        goto no;
    all &= e;
    any |= e;
    if (e & PTE_PS) {
        if (e & bits(20, 13))
            goto no;
        goto leaf;
    }
    /* PTE (bit 7 is PAT) */
    shift = 12;
    if (!fast_entry(hb, wstart, wsize, e & amask, la, 12, rsvd, &e, mm))
        goto no;
    all &= e;
    any |= e;
leaf:
    if ((access & V3_ACCESS_WRITE) && !(e & PTE_D))
        goto no;
    /* XD can only be set here with NXE (else it is reserved) */
    perm = fast_perm(c, t, all, any >> 63);
    if (!((perm >> v3_tlb_ctx_shift(c, access)) & access & 7u))
        goto no;
    pmask = (1ull << shift) - 1;
    g = ((e & amask & ~pmask) | (la & pmask)) & ~c->a20_clear;
    off = (g & ~0xfffull) - wstart;
    if (__builtin_expect(off >= wsize, 0))
        goto no;
    tflags = 0;
    if (e & PTE_D)
        tflags |= V3_TLB_DIRTY;
    else
        perm &= ~(V3_ACCESS_WRITE * 0x111u);
    if (!(access & V3_ACCESS_WRITE))
        perm &= ~(V3_ACCESS_WRITE * 0x111u);   /* the dirty log: writable only when filled by a write */
    if ((e & PTE_G) && (c->cr4 & V3_CR4_PGE))
        tflags |= V3_TLB_GLOBAL;
    v3_tlb_insert(t, la & ~0xfffull, wbase + off, g & ~0xfffull, perm, tflags, shift);
    v3_tlb_unlock(t);
    *gpa = g;
    if (hva)
        *hva = wbase + off + (la & 0xfff);
    return V3_OK;
no:
    v3_tlb_unlock(t);
    return FAST_NO;
}

/*
 * Translate @p la.  With WALK_COMMIT, A/D bits are set and the TLB filled;
 * *hva (if not NULL) receives the host address when the page may be
 * accessed directly for this access.
 */
static int translate(struct v3_core *c, uint64_t la, unsigned access, unsigned flags,
                     uint64_t *gpa, void **hva, struct v3_exception *exc)
{
    enum pmode mode = paging_mode(c);
    struct walk w;
    unsigned perm, tflags = 0;
    uint8_t *hpage;
    int rc, tries = 0;

    if (hva)
        *hva = NULL;
    if (c->efer & V3_EFER_LMA) {
        unsigned sh = (mode == PM_5L) ? 56 : 47;
        int64_t top = (int64_t)la >> sh;
        if (top != 0 && top != -1) {
            if (exc) {
                exc->vector = (access & V3_ACCESS_STACK) ? V3_EXC_SS : V3_EXC_GP;
                exc->has_error_code = true;
                exc->error_code = 0;
                exc->cr2 = 0;
            }
            return V3_EFAULT;
        }
    } else {
        la &= 0xffffffffull;
    }

    w.n = 0;
    w.gpa = 0;
    w.shift = 12;
    w.user = w.write = w.nx = w.global = w.dirty = w.all_a = w.wide = false;
    w.win.start = 1;
    w.win.size = 0;             /* empty window: the first access finds one */
    w.t = c->tlb;
    if (w.t) {
        w.addr_mask = w.t->addr_mask;
        w.rsvd_pae = w.t->rsvd_pae;
        w.rsvd_long = w.t->rsvd_long;
        w.locked = false;
        v3_tlb_lock(w.t);
        w.win = w.t->win[0];                /* most walks stay in one window */
    } else {
        w.addr_mask = bits(V3_PAGING_MAXPHYADDR - 1, 12);
        w.rsvd_pae = bits(62, V3_PAGING_MAXPHYADDR);
        w.rsvd_long = bits(51, V3_PAGING_MAXPHYADDR);
        w.locked = true;
        v3_mem_core_read_lock(c);
    }

again:
    w.need_lock = false;
    if (mode == PM_OFF) {
        w.gpa = la;
        w.shift = 12;
        w.dirty = true;
        w.n = 0;
        perm = V3_TLB_PERM_ALL;
    } else {
        rc = mode == PM_32 ? walk32(c, la, access, &w, exc) : walk64(c, mode, la, access, &w, exc);
        if (rc == WALK_RETRY)
            goto relock;
        if (rc < 0)
            goto out;
        perm = perm_of(c, w.user, w.write, w.nx);
        if (!((perm >> v3_tlb_ctx_shift(c, access)) & access & 7u)) {
            rc = page_fault(c, la, access, V3_PF_P, exc);
            goto out;
        }
    }
    /* A20 gate disabled (core->a20_clear = 1 << 20): physical address bit 20
       of the accessed byte reads as 0 in every mode.  Paging-structure reads
       are not masked (A20M is a real-mode compatibility feature).
       v3_cpu_set_a20() flushes the TLB whenever the gate changes. */
    w.gpa &= ~c->a20_clear;
    rc = V3_OK;
    *gpa = w.gpa;
    if (!(flags & WALK_COMMIT))
        goto out;

    /* the data page's memory, before anything is changed */
    hpage = win_ptr(c, &w, w.gpa & ~0xfffull);
    if (!hpage && w.need_lock)
        goto relock;

    for (unsigned i = 0; !(w.all_a && (w.dirty || !is_write(access))) && i < w.n; i++) {
        uint64_t set = PTE_A;
        if (i == w.n - 1 && is_write(access))
            set |= PTE_D;
        if ((w.val[i] & set) == set)
            continue;
        if (!update_entry(w.ptr[i], w.wide, w.val[i], set)) {
            /* the entry changed under us: walk again, as hardware does */
            if (++tries < 16)
                goto again;
            rc = V3_EBUSY;
            V3_WARN("page walk: entry for %#llx keeps changing", ull(la));
            goto out;
        }
        walk_mark(c, w.ea[i]);
    }
    if (is_write(access))
        w.dirty = true;

    /* Fill the TLB with the 4 KiB slice, if the data page is RAM-backed. */
    if (!hpage)
        goto out;
    if (w.win.type == V3_REGION_WRITE_HOOK) {
        perm &= ~(V3_ACCESS_WRITE * 0x111u);
        tflags |= V3_TLB_WHOOK;
    }
    if (!w.dirty || !is_write(access))
        perm &= ~(V3_ACCESS_WRITE * 0x111u);   /* is_write: the dirty log marks writable fills */
    if (w.dirty)
        tflags |= V3_TLB_DIRTY;
    if (w.global)
        tflags |= V3_TLB_GLOBAL;
    if (w.t)
        v3_tlb_insert(w.t, la & ~0xfffull, hpage, w.gpa & ~0xfffull, perm, tflags, w.shift);
    if (hva && !(is_write(access) && w.win.type == V3_REGION_WRITE_HOOK)) {
        *hva = hpage + (la & 0xfff);
        if (is_write(access))
            walk_mark(c, w.gpa);
    }
out:
    if (w.t)
        v3_tlb_unlock(w.t);
    if (w.locked)
        v3_mem_core_read_unlock(c);
    return rc;

relock:
    /* lock order: the map's lock, then the TLB's (as the listener) */
    v3_tlb_unlock(w.t);
    v3_mem_core_read_lock(c);
    v3_tlb_lock(w.t);
    w.locked = true;
    w.n = 0;
    goto again;
}

static int check_core(const char *fn, struct v3_core *core)
{
    if (!core || !core->vm) {
        V3_ERROR("%s: NULL %s", fn, core ? "VM" : "core");
        return V3_EINVAL;
    }
    return V3_OK;
}

int v3_gva_to_gpa(struct v3_core *core, uint64_t la, unsigned access, uint64_t *gpa,
                  struct v3_exception *exc)
{
    int rc;

    if ((rc = check_core("v3_gva_to_gpa", core)) < 0)
        return rc;
    if (!gpa) {
        V3_ERROR("v3_gva_to_gpa: NULL result pointer");
        return V3_EINVAL;
    }
    if ((rc = check_access("v3_gva_to_gpa", access)) < 0)
        return rc;
    if (core->tlb && walk_fast(core, core->tlb, la, access, gpa, NULL) == V3_OK)
        return V3_OK;
    return translate(core, la, access, WALK_COMMIT, gpa, NULL, exc);
}

int v3_gva_check(struct v3_core *core, uint64_t la, unsigned access, uint64_t *gpa,
                 struct v3_exception *exc)
{
    uint64_t g;
    int rc;

    if ((rc = check_core("v3_gva_check", core)) < 0)
        return rc;
    if ((rc = check_access("v3_gva_check", access)) < 0)
        return rc;
    rc = translate(core, la, access, 0, &g, NULL, exc);
    if (rc == V3_OK && gpa)
        *gpa = g;
    return rc;
}

/* The general fill path: the whole walk inlined (flatten), out of line so
   that the fast path in v3_tlb_fill() stays a small function. */
__attribute__((flatten, noinline))
static int fill_slow(struct v3_core *core, uint64_t la, unsigned access, void **hva, uint64_t *gpa,
                     struct v3_exception *exc)
{
    uint64_t g;
    int rc;

    if ((rc = check_core("v3_tlb_fill", core)) < 0)
        return rc;
    if ((rc = check_access("v3_tlb_fill", access)) < 0)
        return rc;
    rc = translate(core, la, access, WALK_COMMIT, &g, hva, exc);
    if (rc == V3_OK && gpa)
        *gpa = g;
    return rc;
}

/* Exactly one of READ/WRITE/EXEC, with SUPERVISOR and STACK optional
   (check_access() without the log line): bit a of the mask for a < 32. */
static inline bool access_ok(unsigned access)
{
    return access < 32 && ((0x16161616u >> access) & 1);
}

int v3_tlb_fill(struct v3_core *core, uint64_t la, unsigned access, void **hva, uint64_t *gpa,
                struct v3_exception *exc)
{
    struct v3_tlb *t;
    uint64_t g;

    if (__builtin_expect(core && core->vm && (t = core->tlb) && access_ok(access), 1) &&
        walk_fast(core, t, la, access, gpa ? gpa : &g, hva) == V3_OK)
        return V3_OK;
    return fill_slow(core, la, access, hva, gpa, exc);
}

/* ------------------------------------------------------------ guest-virtual access */

static int64_t gva_access(const char *fn, struct v3_core *core, uint64_t la, size_t len,
                          void *rbuf, const void *wbuf, unsigned access, struct v3_exception *exc)
{
    uint64_t mask, gpa;
    size_t off, n;
    int64_t r;
    int rc;

    if ((rc = check_core(fn, core)) < 0)
        return rc;
    if (!(access & 7u))
        access |= wbuf ? V3_ACCESS_WRITE : V3_ACCESS_READ;
    if ((rc = check_access(fn, access)) < 0)
        return rc;
    if (wbuf && !(access & V3_ACCESS_WRITE)) {
        V3_ERROR("%s: a write needs V3_ACCESS_WRITE (got %#x)", fn, access);
        return V3_EINVAL;
    }
    if (len == 0)
        return 0;
    if ((!rbuf && !wbuf) || len > (size_t)INT64_MAX) {
        V3_ERROR("%s: %s", fn, (!rbuf && !wbuf) ? "NULL buffer" : "length too large");
        return V3_EINVAL;
    }
    mask = (core->efer & V3_EFER_LMA) ? ~0ull : 0xffffffffull;

    /* 1: every page must translate, before anything is touched or marked. */
    for (off = 0; off < len; off += n) {
        uint64_t cur = (la + off) & mask;
        n = 4096 - (cur & 0xfff);
        if (n > len - off)
            n = len - off;
        if (v3_tlb_lookup(core, cur, access))
            continue;
        rc = translate(core, cur, access, 0, &gpa, NULL, exc);
        if (rc < 0)
            return rc;
    }

    /* 2: set A/D, fill the TLB, and copy page by page. */
    for (off = 0; off < len; off += n) {
        uint64_t cur = (la + off) & mask;
        void *p;
        n = 4096 - (cur & 0xfff);
        if (n > len - off)
            n = len - off;
        p = v3_tlb_lookup(core, cur, access);
        if (!p) {
            rc = translate(core, cur, access, WALK_COMMIT, &gpa, &p, exc);
            if (rc < 0)
                return rc;
        }
        if (p) {
            if (wbuf)
                memcpy(p, (const uint8_t *)wbuf + off, n);
            else
                memcpy((uint8_t *)rbuf + off, p, n);
            continue;
        }
        if (wbuf)
            r = v3_guest_write_gpa(core->vm, core, gpa, n, (const uint8_t *)wbuf + off);
        else
            r = v3_guest_read_gpa(core->vm, core, gpa, n, (uint8_t *)rbuf + off);
        if (r < 0)
            return r;
    }
    return (int64_t)len;
}

int64_t v3_read_gva_memory(struct v3_core *core, uint64_t la, size_t len, void *dst,
                           unsigned access, struct v3_exception *exc)
{
    return gva_access("v3_read_gva_memory", core, la, len, dst, NULL, access, exc);
}

int64_t v3_write_gva_memory(struct v3_core *core, uint64_t la, size_t len, const void *src,
                            unsigned access, struct v3_exception *exc)
{
    return gva_access("v3_write_gva_memory", core, la, len, NULL, src, access, exc);
}
