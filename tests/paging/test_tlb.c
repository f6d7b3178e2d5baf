/* SPDX-License-Identifier: MIT */
/*
 * Software TLB and guest-virtual access: the memory-map invalidation
 * property (hook / unhook / remap a cached page), what is cacheable, the
 * dirty-bit rule, the invalidation matrix (CR3, INVLPG, control changes,
 * map ranges) against a naive model, page-crossing accesses, canonical
 * checks, paging off, entries outside RAM, and argument errors.
 */
#include "common.h"

/* ---------------------------------------------------------------- a small 4-level mapper */

#define PT_POOL 0x100000ull        /* table pages are allocated from here */

struct mapper {
    struct tvm *t;
    uint64_t next, root;
};

static uint64_t alloc_table(struct mapper *m)
{
    uint64_t p = m->next;
    m->next += 0x1000;
    memset(m->t->ram + p, 0, 0x1000);
    return p;
}

static void mapper_init(struct mapper *m, struct tvm *t)
{
    m->t = t;
    m->next = PT_POOL;
    m->root = alloc_table(m);
}

/* Map [la, la + 2^shift) to gpa with leaf flags (P added); intermediate entries P|RW|US. */
static uint64_t map_page(struct mapper *m, uint64_t la, uint64_t gpa, unsigned shift, uint64_t flags)
{
    uint64_t table = m->root;
    for (unsigned L = 4; L >= 1; L--) {
        unsigned s = 12 + 9 * (L - 1);
        uint64_t ea = table + ((la >> s) & 511) * 8;
        uint64_t e = rd64(m->t, ea);
        if (s == shift) {
            wr64(m->t, ea, gpa | flags | P_P | (L > 1 ? P_PS : 0));
            return ea;
        }
        if (!(e & P_P)) {
            e = alloc_table(m) | P_P | P_RW | P_US;
            wr64(m->t, ea, e);
        }
        table = e & 0x000ffffffffff000ull;
    }
    return 0;
}

static void long_mode(struct tvm *t, struct mapper *m, unsigned cpl)
{
    struct v3_core *c = t->core;
    c->cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_WP;
    c->cr4 = V3_CR4_PAE | V3_CR4_PGE;
    c->efer = V3_EFER_LME | V3_EFER_LMA | V3_EFER_NXE;
    c->cr3 = m->root;
    c->cpl = (uint8_t)cpl;
    c->rflags = 2;
    v3_tlb_flush_all(c);
}

/* Software-CPU style access: the TLB fast path, else the slow path. */
static int cpu_read8(struct tvm *t, uint64_t la, uint8_t *v)
{
    uint8_t *p = v3_tlb_lookup(t->core, la, V3_ACCESS_READ);
    struct v3_exception exc;
    if (p) {
        *v = *p;
        return 0;
    }
    return v3_read_gva_memory(t->core, la, 1, v, V3_ACCESS_READ, &exc) == 1 ? 1 : -1;
}

static int hook_calls;
static uint8_t hook_value = 0xa5;

static int hread(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    (void)core; (void)gpa; (void)priv;
    memset(dst, hook_value, len);
    hook_calls++;
    return 0;
}

static int hwrite(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)core; (void)gpa; (void)src; (void)len; (void)priv;
    hook_calls++;
    return 0;
}

/* ---------------------------------------------------------------- the seed's property */

static void test_hook_unhook_cached_page(void **st)
{
    struct tvm t;
    struct mapper m;
    uint64_t la = 0x400000000ull, gpa = 0x200000;
    uint8_t v = 0;

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    map_page(&m, la, gpa, 12, P_RW | P_US | P_D);
    long_mode(&t, &m, 0);
    t.ram[gpa + 5] = 0x11;

    /* cache it */
    assert_int_equal(cpu_read8(&t, la + 5, &v), 1);
    assert_int_equal(v, 0x11);
    assert_non_null(v3_tlb_lookup(t.core, la + 5, V3_ACCESS_READ));
    assert_int_equal(cpu_read8(&t, la + 5, &v), 0);

    /* hook the page: the cached translation must not survive */
    hook_calls = 0;
    assert_int_equal(v3_hook_full_mem(t.vm, gpa, gpa + 0x1000, hread, hwrite, NULL), V3_OK);
    assert_null(v3_tlb_lookup(t.core, la + 5, V3_ACCESS_READ));
    assert_int_equal(cpu_read8(&t, la + 5, &v), 1);
    assert_int_equal(v, hook_value);
    assert_int_equal(hook_calls, 1);
    assert_null(v3_tlb_lookup(t.core, la + 5, V3_ACCESS_READ));    /* never cached */
    assert_int_equal(cpu_read8(&t, la + 5, &v), 1);
    assert_int_equal(hook_calls, 2);
    {   /* writes reach the hook too */
        struct v3_exception exc;
        uint8_t w = 0x77;
        assert_int_equal(v3_write_gva_memory(t.core, la + 5, 1, &w, V3_ACCESS_WRITE, &exc), 1);
        assert_int_equal(hook_calls, 3);
        assert_int_equal(t.ram[gpa + 5], 0x11);
    }

    /* unhook: back to memory */
    assert_int_equal(v3_unhook_mem(t.vm, gpa), V3_OK);
    assert_int_equal(cpu_read8(&t, la + 5, &v), 1);
    assert_int_equal(v, 0x11);
    assert_int_equal(hook_calls, 3);
    assert_int_equal(cpu_read8(&t, la + 5, &v), 0);
    tvm_close(&t);
}

static void test_remap_cached_page(void **st)
{
    struct tvm t;
    struct mapper m;
    uint64_t la = 0x7f0000001000ull, gpa = 0x300000;
    uint8_t *other = aligned_alloc(4096, 4096);
    uint8_t v = 0;

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    map_page(&m, la, gpa, 12, P_RW | P_US | P_D);
    long_mode(&t, &m, 3);
    memset(other, 0x5c, 4096);
    t.ram[gpa + 9] = 0x22;

    assert_int_equal(cpu_read8(&t, la + 9, &v), 1);
    assert_int_equal(v, 0x22);
    assert_int_equal(cpu_read8(&t, la + 9, &v), 0);

    /* remap to other host memory */
    assert_int_equal(v3_add_shadow_mem(t.vm, gpa, gpa + 0x1000, other), V3_OK);
    assert_null(v3_tlb_lookup(t.core, la + 9, V3_ACCESS_READ));
    assert_int_equal(cpu_read8(&t, la + 9, &v), 1);
    assert_int_equal(v, 0x5c);
    assert_int_equal(cpu_read8(&t, la + 9, &v), 0);       /* shadow memory is cacheable */
    assert_int_equal(v, 0x5c);
    {
        /* read fills never cache write permission (the dirty-page log marks
           a page when a writable entry is filled, so only a write fills one) */
        uint8_t *p = v3_tlb_lookup(t.core, la + 9, V3_ACCESS_READ);
        assert_ptr_equal(p, other + 9);
        assert_null(v3_tlb_lookup(t.core, la + 9, V3_ACCESS_WRITE));
    }

    /* remove it: RAM again */
    assert_int_equal(v3_delete_shadow_region(t.vm, gpa), V3_OK);
    assert_null(v3_tlb_lookup(t.core, la + 9, V3_ACCESS_READ));
    assert_int_equal(cpu_read8(&t, la + 9, &v), 1);
    assert_int_equal(v, 0x22);
    tvm_close(&t);
    free(other);
}

/* A page-table page remapped: the cached translation stays (as with a hardware TLB), but a new walk reads the new tables. */
static void test_write_hooked_and_dirty(void **st)
{
    struct tvm t;
    struct mapper m;
    uint64_t la = 0x10000ull, gpa = 0x380000, pte;
    uint8_t *back = aligned_alloc(4096, 4096);
    void *hva;
    uint64_t g;
    struct v3_exception exc;
    uint8_t w = 9;

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    pte = map_page(&m, la, gpa, 12, P_RW | P_US);            /* clean: D = 0 */
    map_page(&m, la + 0x1000, 0x390000, 12, P_RW | P_US);
    long_mode(&t, &m, 0);

    /* read fill of a clean page: no write permission cached */
    assert_int_equal(v3_tlb_fill(t.core, la, V3_ACCESS_READ, &hva, &g, &exc), V3_OK);
    assert_ptr_equal(hva, t.ram + gpa);
    assert_int_equal(rd64(&t, pte) & (P_A | P_D), P_A);
    assert_non_null(v3_tlb_lookup(t.core, la, V3_ACCESS_READ));
    assert_null(v3_tlb_lookup(t.core, la, V3_ACCESS_WRITE));
    /* the write takes the slow path and sets D */
    assert_int_equal(v3_write_gva_memory(t.core, la + 1, 1, &w, 0, &exc), 1);
    assert_int_equal(rd64(&t, pte) & (P_A | P_D), P_A | P_D);
    assert_int_equal(t.ram[gpa + 1], 9);
    assert_ptr_equal(v3_tlb_lookup(t.core, la + 1, V3_ACCESS_WRITE), t.ram + gpa + 1);

    /* write-hooked page: cached for reads and fetches, never for writes */
    memset(back, 0x33, 4096);
    assert_int_equal(v3_hook_write_mem(t.vm, 0x390000, 0x391000, back, hwrite, NULL), V3_OK);
    wr64(&t, pte + 8, rd64(&t, pte + 8) | P_D);
    hook_calls = 0;
    assert_int_equal(v3_tlb_fill(t.core, la + 0x1000, V3_ACCESS_WRITE, &hva, &g, &exc), V3_OK);
    assert_null(hva);
    assert_int_equal(g, 0x390000);
    assert_ptr_equal(v3_tlb_lookup(t.core, la + 0x1000, V3_ACCESS_READ), back);
    assert_ptr_equal(v3_tlb_lookup(t.core, la + 0x1000, V3_ACCESS_EXEC), back);
    assert_null(v3_tlb_lookup(t.core, la + 0x1000, V3_ACCESS_WRITE));
    assert_int_equal(v3_write_gva_memory(t.core, la + 0x1000, 4, "abcd", 0, &exc), 4);
    assert_int_equal(hook_calls, 1);
    assert_memory_equal(back, "abcd", 4);
    {
        struct v3_tlb_probe pr;
        assert_int_equal(v3_tlb_probe(t.core, la + 0x1000, &pr), 1);
        assert_true(pr.flags & V3_TLB_WHOOK);
        assert_int_equal(pr.perm & (V3_ACCESS_WRITE * 0x111u), 0);
    }
    assert_int_equal(v3_unhook_mem(t.vm, 0x390000), V3_OK);
    assert_int_equal(v3_tlb_probe(t.core, la + 0x1000, NULL), 0);
    tvm_close(&t);
    free(back);
}

/* ---------------------------------------------------------------- invalidation matrix */

/* Entries: 8 pages of 4 KiB (odd ones global), 4 slices of a 2 MiB page (global),
 * 4 slices of a 1 GiB page (not global), 1 page of a user 4 KiB mapping. */
struct inv_setup {
    struct tvm t;
    struct mapper m;
    uint64_t la4k[8], la2m, la1g;
};

#define LA4K(i)  (0x1100000ull + (uint64_t)(i) * 0x1000)   /* TLB slots 0x100.. */
#define LA2M     0x40000000ull
#define LA1G     0x8000000000ull

static void inv_open(struct inv_setup *s)
{
    tvm_open(&s->t);
    mapper_init(&s->m, &s->t);
    for (unsigned i = 0; i < 8; i++)
        map_page(&s->m, LA4K(i), 0x800000 + i * 0x1000, 12, P_RW | P_US | P_D | ((i & 1) ? P_G : 0));
    map_page(&s->m, LA2M, 0xa00000, 21, P_RW | P_D | P_G);
    map_page(&s->m, LA1G, 0, 30, P_RW | P_D);
    long_mode(&s->t, &s->m, 0);
}

/* Fill all 16 entries; returns the list of linear addresses. */
static unsigned inv_fill(struct inv_setup *s, uint64_t *las)
{
    unsigned n = 0;
    uint64_t g;
    for (unsigned i = 0; i < 8; i++)
        las[n++] = LA4K(i);
    for (unsigned i = 0; i < 4; i++)
        las[n++] = LA2M + i * 0x3000 + 0x21000;              /* slots 0x21.. */
    for (unsigned i = 0; i < 4; i++)
        las[n++] = LA1G + i * 0x5000;                        /* slots 0, 5, 10, 15 */
    v3_tlb_flush_all(s->t.core);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(v3_gva_to_gpa(s->t.core, las[i], V3_ACCESS_READ, &g, NULL), V3_OK);
    assert_int_equal(v3_tlb_count(s->t.core), n);
    return n;
}

static uint64_t gpa_of(uint64_t la)
{
    if (la >= LA1G)
        return la - LA1G;
    if (la >= LA2M)
        return 0xa00000 + (la - LA2M);
    return 0x800000 + (la - LA4K(0));
}

static bool is_global(uint64_t la)
{
    if (la >= LA1G)
        return false;
    if (la >= LA2M)
        return true;
    return ((la - LA4K(0)) >> 12) & 1;
}

/* Check the TLB holds exactly the entries for which keep() says so. */
static void inv_check(struct inv_setup *s, const uint64_t *las, unsigned n, const char *what,
                      bool (*keep)(uint64_t la, const void *arg), const void *arg)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < n; i++) {
        int present = v3_tlb_probe(s->t.core, las[i], NULL);
        bool want = keep(las[i], arg);
        if (present != (int)want)
            fail_msg("%s: entry for %#llx %s", what, (unsigned long long)las[i],
                     present ? "survived" : "was dropped");
        kept += want;
    }
    assert_int_equal(v3_tlb_count(s->t.core), kept);
}

static bool keep_none(uint64_t la, const void *a) { (void)la; (void)a; return false; }
static bool keep_all(uint64_t la, const void *a) { (void)la; (void)a; return true; }
static bool keep_global(uint64_t la, const void *a) { (void)a; return is_global(la); }
static bool keep_not_page(uint64_t la, const void *a)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t size = la >= LA1G ? (1ull << 30) : la >= LA2M ? (1ull << 21) : 0x1000;
    return (la & ~(size - 1)) != (x & ~(size - 1));
}
struct range { uint64_t start, end; };
static bool keep_outside(uint64_t la, const void *a)
{
    const struct range *r = a;
    uint64_t g = gpa_of(la) & ~0xfffull;
    return !(g >= r->start && g < r->end);
}

static void test_invalidation_matrix(void **st)
{
    struct inv_setup s;
    uint64_t las[16];
    unsigned n;
    struct v3_core *c;

    (void)st;
    inv_open(&s);
    c = s.t.core;

    /* CR3 write with PGE: global entries stay */
    n = inv_fill(&s, las);
    v3_paging_cr3_written(c);
    inv_check(&s, las, n, "CR3 write, PGE", keep_global, NULL);
    /* CR3 write without PGE: all go */
    n = inv_fill(&s, las);
    c->cr4 &= ~V3_CR4_PGE;
    v3_tlb_flush_all(c);
    n = inv_fill(&s, las);
    v3_paging_cr3_written(c);
    inv_check(&s, las, n, "CR3 write, no PGE", keep_none, NULL);
    c->cr4 |= V3_CR4_PGE;

    /* INVLPG: exactly the page (or the large page) */
    for (unsigned i = 0; i < 16; i++) {
        uint64_t x;
        n = inv_fill(&s, las);
        x = las[i] + 0x10;
        v3_tlb_invlpg(c, x);
        inv_check(&s, las, n, "INVLPG", keep_not_page, &x);
    }
    {   /* INVLPG of an uncached slice of a cached large page drops the whole large page */
        uint64_t x = LA2M + 0x1ff000;
        n = inv_fill(&s, las);
        v3_tlb_invlpg(c, x);
        inv_check(&s, las, n, "INVLPG other slice", keep_not_page, &x);
        x = LA1G + 0x3fff0000;
        n = inv_fill(&s, las);
        v3_tlb_invlpg(c, x);
        inv_check(&s, las, n, "INVLPG other slice 1G", keep_not_page, &x);
        x = 0x123456000ull;               /* nothing there */
        n = inv_fill(&s, las);
        v3_tlb_invlpg(c, x);
        inv_check(&s, las, n, "INVLPG elsewhere", keep_all, NULL);
    }

    /* control changes: each paging control flushes everything, others nothing */
    {
        struct { uint64_t cr0, cr4, efer; bool flush; const char *name; } ev[] = {
            { V3_CR0_PG, 0, 0, true, "CR0.PG" },
            { V3_CR0_WP, 0, 0, true, "CR0.WP" },
            { 0, V3_CR4_PAE, 0, true, "CR4.PAE" },
            { 0, V3_CR4_PSE, 0, true, "CR4.PSE" },
            { 0, V3_CR4_PGE, 0, true, "CR4.PGE" },
            { 0, V3_CR4_SMEP, 0, true, "CR4.SMEP" },
            { 0, V3_CR4_SMAP, 0, true, "CR4.SMAP" },
            { 0, V3_CR4_LA57, 0, true, "CR4.LA57" },
            { 0, 0, V3_EFER_NXE, true, "EFER.NXE" },
            { 0, 0, V3_EFER_LME, true, "EFER.LME" },
            { V3_CR0_TS, 0, 0, false, "CR0.TS" },
            { V3_CR0_MP, 0, 0, false, "CR0.MP" },
            { 0, V3_CR4_OSFXSR, 0, false, "CR4.OSFXSR" },
            { 0, V3_CR4_TSD, 0, false, "CR4.TSD" },
            { 0, 0, V3_EFER_SCE, false, "EFER.SCE" },
        };
        for (unsigned i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
            uint64_t o0 = c->cr0, o4 = c->cr4, oe = c->efer;
            n = inv_fill(&s, las);
            c->cr0 ^= ev[i].cr0;
            c->cr4 ^= ev[i].cr4;
            c->efer ^= ev[i].efer;
            v3_paging_controls_changed(c, o0, o4, oe);
            inv_check(&s, las, n, ev[i].name, ev[i].flush ? keep_none : keep_all, NULL);
            c->cr0 = o0;
            c->cr4 = o4;
            c->efer = oe;
            v3_tlb_flush_all(c);
        }
    }

    /* memory-map changes: entries whose guest physical page is in the range */
    {
        static uint8_t buf[0x10000] __attribute__((aligned(4096)));
        struct range r[] = {
            { 0x803000, 0x804000 }, { 0x800000, 0x808000 }, { 0xa24000, 0xa25000 }, { 0xa20000, 0xa2a000 },
            { 0x0, 0x1000 }, { 0x5000, 0x6000 }, { 0x900000, 0x904000 }, { 0x807000, 0x80b000 },
        };
        for (unsigned i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
            uint64_t len = r[i].end - r[i].start;
            n = inv_fill(&s, las);
            assert_true(len <= sizeof(buf));
            assert_int_equal(v3_add_shadow_mem(s.t.vm, r[i].start, r[i].end, buf), V3_OK);
            inv_check(&s, las, n, "map change (add)", keep_outside, &r[i]);
            n = inv_fill(&s, las);
            assert_int_equal(v3_delete_shadow_region(s.t.vm, r[i].start), V3_OK);
            inv_check(&s, las, n, "map change (delete)", keep_outside, &r[i]);
        }
    }
    tvm_close(&s.t);
}

/* Random fills and random gpa ranges against a naive list of cached pages. */
static void test_range_invalidation_model(void **st)
{
    struct tvm t;
    struct mapper m;
    struct { uint64_t la, gpa; bool in; } pages[512];
    unsigned seed = 12345;

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    for (unsigned i = 0; i < 512; i++) {
        seed = seed * 1103515245u + 12345u;
        pages[i].la = 0x200000000ull + (uint64_t)i * 0x1000;
        pages[i].gpa = 0x400000 + (uint64_t)((seed >> 8) % 2048) * 0x1000;   /* aliases allowed */
        map_page(&m, pages[i].la, pages[i].gpa, 12, P_RW | P_D);
        pages[i].in = false;
    }
    long_mode(&t, &m, 0);
    for (unsigned round = 0; round < 2000; round++) {
        uint64_t g, a, b;
        seed = seed * 1103515245u + 12345u;
        for (unsigned k = 0; k < 16; k++) {
            unsigned i = (seed >> (k & 7)) % 512;
            assert_int_equal(v3_gva_to_gpa(t.core, pages[i].la, V3_ACCESS_READ, &g, NULL), V3_OK);
            pages[i].in = true;
            seed = seed * 1103515245u + 12345u;
        }
        a = 0x400000 + (uint64_t)((seed >> 4) % 2100) * 0x1000;
        b = a + (uint64_t)(1 + (seed >> 20) % 64) * 0x1000;
        v3_tlb_invalidate_gpa_range(t.core, a, b);
        for (unsigned i = 0; i < 512; i++) {
            if (pages[i].in && pages[i].gpa >= a && pages[i].gpa < b)
                pages[i].in = false;
            int cached = v3_tlb_probe(t.core, pages[i].la, NULL);
            if (cached != (int)pages[i].in)
                fail_msg("round %u: page %u (gpa %#llx) cached %d, model %d", round, i,
                         (unsigned long long)pages[i].gpa, cached, pages[i].in);
        }
    }
    tvm_close(&t);
}

/* ---------------------------------------------------------------- guest-virtual access */

static void test_page_crossing(void **st)
{
    struct tvm t;
    struct mapper m;
    uint64_t la = 0x600000000ull, pte0, pte1;
    struct v3_exception exc;
    uint8_t buf[64], zero[64];

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    pte0 = map_page(&m, la, 0x500000, 12, P_RW | P_US);
    pte1 = map_page(&m, la + 0x1000, 0x700000, 12, P_US);          /* read-only */
    long_mode(&t, &m, 3);
    memset(zero, 0, sizeof(zero));
    memset(buf, 0xee, sizeof(buf));

    /* write crossing into a read-only page: fault at the second page, nothing written, no A/D */
    memset(&exc, 0, sizeof(exc));
    assert_int_equal(v3_write_gva_memory(t.core, la + 0xff0, 32, buf, V3_ACCESS_WRITE, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_PF);
    assert_int_equal(exc.error_code, V3_PF_P | V3_PF_W | V3_PF_U);
    assert_int_equal(exc.cr2, la + 0x1000);
    assert_memory_equal(t.ram + 0x500ff0, zero, 16);
    assert_memory_equal(t.ram + 0x700000, zero, 16);
    assert_int_equal(rd64(&t, pte0) & (P_A | P_D), 0);
    assert_int_equal(rd64(&t, pte1) & (P_A | P_D), 0);

    /* the side-effect-free check agrees, and leaves no trace */
    {
        uint64_t g = 0;
        unsigned before = v3_tlb_count(t.core);
        assert_int_equal(v3_gva_check(t.core, la + 0x10, V3_ACCESS_WRITE, &g, &exc), V3_OK);
        assert_int_equal(g, 0x500010);
        memset(&exc, 0, sizeof(exc));
        assert_int_equal(v3_gva_check(t.core, la + 0x1010, V3_ACCESS_WRITE, &g, &exc), V3_EFAULT);
        assert_int_equal(exc.error_code, V3_PF_P | V3_PF_W | V3_PF_U);
        assert_int_equal(exc.cr2, la + 0x1010);
        assert_int_equal(v3_gva_check(t.core, la + 0x1010, V3_ACCESS_READ, NULL, &exc), V3_OK);
        assert_int_equal(rd64(&t, pte0) & (P_A | P_D), 0);
        assert_int_equal(rd64(&t, pte1) & (P_A | P_D), 0);
        assert_int_equal(v3_tlb_count(t.core), before);
        assert_int_equal(v3_gva_check(t.core, la, 0, &g, &exc), V3_EINVAL);
    }

    /* read crossing: fine, both A bits set, no D */
    memcpy(t.ram + 0x500ff0, "0123456789abcdef", 16);
    memcpy(t.ram + 0x700000, "ghijklmnopqrstuv", 16);
    assert_int_equal(v3_read_gva_memory(t.core, la + 0xff0, 32, buf, V3_ACCESS_READ, &exc), 32);
    assert_memory_equal(buf, "0123456789abcdefghijklmnopqrstuv", 32);
    assert_int_equal(rd64(&t, pte0) & (P_A | P_D), P_A);
    assert_int_equal(rd64(&t, pte1) & (P_A | P_D), P_A);

    /* not-present second page on a read */
    memset(&exc, 0, sizeof(exc));
    assert_int_equal(v3_read_gva_memory(t.core, la + 0x1ffe, 4, buf, V3_ACCESS_READ, &exc), V3_EFAULT);
    assert_int_equal(exc.error_code, V3_PF_U);
    assert_int_equal(exc.cr2, la + 0x2000);

    /* a successful crossing write sets D in both leaves */
    wr64(&t, pte1, rd64(&t, pte1) | P_RW);
    v3_tlb_invlpg(t.core, la + 0x1000);
    assert_int_equal(v3_write_gva_memory(t.core, la + 0xffe, 4, "WXYZ", V3_ACCESS_WRITE, &exc), 4);
    assert_memory_equal(t.ram + 0x500ffe, "WX", 2);
    assert_memory_equal(t.ram + 0x700000, "YZ", 2);
    assert_int_equal(rd64(&t, pte0) & (P_A | P_D), P_A | P_D);
    assert_int_equal(rd64(&t, pte1) & (P_A | P_D), P_A | P_D);

    /* a long access over many pages */
    for (unsigned i = 2; i < 40; i++)
        map_page(&m, la + i * 0x1000ull, 0x900000 + i * 0x1000ull, 12, P_RW | P_US);
    {
        size_t len = 36 * 4096 + 100;
        uint8_t *big = malloc(len), *back = malloc(len);
        for (size_t i = 0; i < len; i++)
            big[i] = (uint8_t)(i * 7);
        assert_int_equal(v3_write_gva_memory(t.core, la + 0x2010, len, big, 0, &exc), (int64_t)len);
        assert_int_equal(v3_read_gva_memory(t.core, la + 0x2010, len, back, 0, &exc), (int64_t)len);
        assert_memory_equal(big, back, len);
        assert_memory_equal(t.ram + 0x902010, big, 100);
        free(big);
        free(back);
    }
    tvm_close(&t);
}

static void test_canonical(void **st)
{
    struct tvm t;
    struct mapper m;
    struct v3_exception exc;
    uint64_t g;
    uint8_t buf[16];

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    map_page(&m, 0x7ffffffff000ull, 0x500000, 12, P_RW | P_US);
    map_page(&m, 0xffff800000000000ull, 0x501000, 12, P_RW);
    long_mode(&t, &m, 0);

    assert_int_equal(v3_gva_to_gpa(t.core, 0x7ffffffff008ull, V3_ACCESS_READ, &g, &exc), V3_OK);
    assert_int_equal(g, 0x500008);
    assert_int_equal(v3_gva_to_gpa(t.core, 0xffff800000000010ull, V3_ACCESS_WRITE, &g, &exc), V3_OK);
    assert_int_equal(g, 0x501010);
    static const uint64_t bad[] = { 0x800000000000ull, 0xffff7fffffffffffull, 0x0001000000000000ull,
                                    0x8000000000000000ull, 0x00ff800000000000ull };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&exc, 0, sizeof(exc));
        assert_int_equal(v3_gva_to_gpa(t.core, bad[i], V3_ACCESS_READ, &g, &exc), V3_EFAULT);
        assert_int_equal(exc.vector, V3_EXC_GP);
        assert_int_equal(exc.error_code, 0);
        memset(&exc, 0, sizeof(exc));
        assert_int_equal(v3_gva_to_gpa(t.core, bad[i], V3_ACCESS_WRITE | V3_ACCESS_STACK, &g, &exc),
                         V3_EFAULT);
        assert_int_equal(exc.vector, V3_EXC_SS);
        assert_int_equal(exc.error_code, 0);
    }
    /* an access running off the end of the lower half */
    memset(&exc, 0, sizeof(exc));
    assert_int_equal(v3_read_gva_memory(t.core, 0x7ffffffffff8ull, 16, buf, V3_ACCESS_READ | V3_ACCESS_STACK,
                                        &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_SS);

    /* LA57: 57-bit canonical */
    t.core->cr4 |= V3_CR4_LA57;
    memset(&exc, 0, sizeof(exc));
    assert_int_equal(v3_gva_to_gpa(t.core, 0x0100000000000000ull, V3_ACCESS_READ, &g, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_GP);
    memset(&exc, 0, sizeof(exc));
    /* canonical under LA57 (bit 47 set, 56 clear): a walk, which finds no PML5 entry: #PF */
    assert_int_equal(v3_gva_to_gpa(t.core, 0x0000800000000000ull, V3_ACCESS_READ, &g, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_PF);
    assert_int_equal(exc.cr2, 0x0000800000000000ull);
    tvm_close(&t);
}

static void test_paging_off_and_legacy_wrap(void **st)
{
    struct tvm t;
    struct v3_exception exc;
    uint64_t g;
    uint8_t buf[8];

    (void)st;
    tvm_open(&t);
    t.core->cr0 = V3_CR0_PE;
    t.core->cr4 = 0;
    t.core->efer = 0;
    t.core->cpl = 3;
    assert_int_equal(v3_gva_to_gpa(t.core, 0x12345678ull, V3_ACCESS_WRITE, &g, &exc), V3_OK);
    assert_int_equal(g, 0x12345678ull);
    assert_int_equal(v3_gva_to_gpa(t.core, 0x100012345ull, V3_ACCESS_EXEC, &g, &exc), V3_OK);
    assert_int_equal(g, 0x12345ull);                /* 32-bit linear addresses */
    memcpy(t.ram + 0x1000, "paging", 6);
    assert_int_equal(v3_read_gva_memory(t.core, 0x1000, 6, buf, 0, &exc), 6);
    assert_memory_equal(buf, "paging", 6);
    assert_ptr_equal(v3_tlb_lookup(t.core, 0x1002, V3_ACCESS_READ), t.ram + 0x1002);
    assert_ptr_equal(v3_tlb_lookup(t.core, 0x1002, V3_ACCESS_EXEC), t.ram + 0x1002);
    assert_null(v3_tlb_lookup(t.core, 0x1002, V3_ACCESS_WRITE));   /* filled by a read */
    /* beyond RAM: no memory; reads all ones as on a PC (strict_mem: V3_EUNMAPPED, below) */
    memset(buf, 0, 4);
    assert_int_equal(v3_read_gva_memory(t.core, 0xfffff000ull, 4, buf, 0, &exc), 4);
    assert_memory_equal(buf, "\xff\xff\xff\xff", 4);
    assert_int_equal(v3_write_gva_memory(t.core, 0xfffff000ull, 4, "abcd", 0, &exc), 4);
    assert_int_equal(v3_read_gva_memory(t.core, 0xfffff000ull, 4, buf, 0, &exc), 4);
    assert_memory_equal(buf, "\xff\xff\xff\xff", 4);
    {
        struct v3_vm_stats vs;
        assert_int_equal(v3_vm_get_stats(t.vm, &vs), V3_OK);
        assert_int_equal(vs.mem_unbacked, 3);
    }
    {
        struct tvm s;
        tvm_strict_mem = true;
        tvm_open(&s);
        tvm_strict_mem = false;
        s.core->cr0 = V3_CR0_PE;
        assert_int_equal(v3_read_gva_memory(s.core, 0xfffff000ull, 4, buf, 0, &exc), V3_EUNMAPPED);
        assert_int_equal(v3_write_gva_memory(s.core, 0xfffff000ull, 4, "abcd", 0, &exc), V3_EUNMAPPED);
        tvm_close(&s);
    }

    /* a vCPU reset empties the TLB */
    assert_true(v3_tlb_count(t.core) > 0);
    v3_core_reset(t.core);
    assert_int_equal(v3_tlb_count(t.core), 0);
    t.core->cr0 = V3_CR0_PE;
    t.core->cpl = 3;

    /* 32-bit paging: an access wrapping at 4 GiB */
    {
        uint64_t pd = 0x20000, pt0 = 0x21000, pt1 = 0x22000;
        memset(t.ram + pd, 0, 0x3000);
        wr32(&t, pd + 0x3ff * 4, (uint32_t)(pt1 | 7));
        wr32(&t, pt1 + 0x3ff * 4, 0x30000 | 7);
        wr32(&t, pd, (uint32_t)(pt0 | 7));
        wr32(&t, pt0, 0x31000 | 7);
        t.core->cr0 = V3_CR0_PE | V3_CR0_PG;
        t.core->cr3 = pd;
        v3_tlb_flush_all(t.core);
        memcpy(t.ram + 0x30ffe, "ab", 2);
        memcpy(t.ram + 0x31000, "cd", 2);
        assert_int_equal(v3_read_gva_memory(t.core, 0xfffffffeull, 4, buf, 0, &exc), 4);
        assert_memory_equal(buf, "abcd", 4);
    }
    tvm_close(&t);
}

/* Paging-structure entries outside RAM: V3_EPTE. */
static void test_entry_outside_ram(void **st)
{
    struct tvm t;
    struct mapper m;
    uint64_t g, pte;
    struct v3_exception exc;
    uint8_t buf[4];

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    pte = map_page(&m, 0x1000, 0x2000, 12, P_RW);
    long_mode(&t, &m, 0);
    /* root table beyond RAM, where nothing is: the entry reads as all ones,
       which has reserved bits (PS in a PML4E; physical bits above MAXPHYADDR) */
    t.core->cr3 = 0x40000000ull;
    memset(&exc, 0, sizeof(exc));
    assert_int_equal(v3_gva_to_gpa(t.core, 0x1000, V3_ACCESS_READ, &g, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_PF);
    assert_int_equal(exc.error_code, V3_PF_P | V3_PF_RSVD);
    assert_int_equal(exc.cr2, 0x1000);
    assert_int_equal(v3_read_gva_memory(t.core, 0x1000, 4, buf, 0, &exc), V3_EFAULT);
    assert_int_equal(exc.error_code, V3_PF_P | V3_PF_RSVD);
    {
        /* the same with strict_mem: the walk stops with V3_EPTE */
        struct tvm s;
        tvm_strict_mem = true;
        tvm_open(&s);
        tvm_strict_mem = false;
        s.core->cr0 = t.core->cr0;
        s.core->cr4 = t.core->cr4;
        s.core->efer = t.core->efer;
        s.core->cr3 = 0x40000000ull;
        assert_int_equal(v3_gva_to_gpa(s.core, 0x1000, V3_ACCESS_READ, &g, &exc), V3_EPTE);
        assert_int_equal(v3_read_gva_memory(s.core, 0x1000, 4, buf, 0, &exc), V3_EPTE);
        /* 32-bit paging, PAE: all-ones PDPTE has reserved bits */
        s.core->efer = 0;
        s.core->cr4 = V3_CR4_PAE;
        s.core->cr3 = 0x40000000ull;
        v3_tlb_flush_all(s.core);
        assert_int_equal(v3_gva_to_gpa(s.core, 0x1000, V3_ACCESS_READ, &g, &exc), V3_EPTE);
        tvm_close(&s);
    }
    {
        /* legacy modes, default: PAE (all-ones PDPTE: reserved bits), 32-bit
           with PSE (4 MiB PDE with bit 21 set: reserved), 32-bit without PSE
           (all-ones PDE and PTE: the page at 0xFFFFF000, as hardware walks) */
        uint64_t cr0 = t.core->cr0, cr4 = t.core->cr4, efer = t.core->efer;
        t.core->efer = 0;
        t.core->cr4 = V3_CR4_PAE;
        t.core->cr3 = 0x40000000ull;
        v3_tlb_flush_all(t.core);
        assert_int_equal(v3_gva_to_gpa(t.core, 0x1000, V3_ACCESS_WRITE, &g, &exc), V3_EFAULT);
        assert_int_equal(exc.error_code, V3_PF_P | V3_PF_RSVD | V3_PF_W);
        t.core->cr4 = V3_CR4_PSE;
        v3_tlb_flush_all(t.core);
        assert_int_equal(v3_gva_to_gpa(t.core, 0x1234, V3_ACCESS_READ, &g, &exc), V3_EFAULT);
        assert_int_equal(exc.error_code, V3_PF_P | V3_PF_RSVD);
        t.core->cr4 = 0;
        v3_tlb_flush_all(t.core);
        assert_int_equal(v3_gva_to_gpa(t.core, 0x1234, V3_ACCESS_WRITE, &g, &exc), V3_OK);
        assert_int_equal(g, 0xfffff234ull);
        t.core->cr0 = cr0;
        t.core->cr4 = cr4;
        t.core->efer = efer;
        v3_tlb_flush_all(t.core);
    }
    t.core->cr3 = m.root;
    assert_int_equal(v3_gva_to_gpa(t.core, 0x1000, V3_ACCESS_READ, &g, &exc), V3_OK);
    /* page table page fully hooked */
    assert_int_equal(v3_hook_full_mem(t.vm, pte & ~0xfffull, (pte & ~0xfffull) + 0x1000, hread, hwrite, NULL),
                     V3_OK);
    assert_int_equal(v3_gva_to_gpa(t.core, 0x1000, V3_ACCESS_READ, &g, &exc), V3_EPTE);
    assert_int_equal(v3_unhook_mem(t.vm, pte & ~0xfffull), V3_OK);
    /* write-hooked page table: read from backing memory, A/D set there, no callback */
    {
        uint8_t *back = aligned_alloc(4096, 4096);
        uint64_t tp = pte & ~0xfffull, e;
        memcpy(back, t.ram + tp, 4096);
        wr64(&t, pte, rd64(&t, pte) & ~P_A);
        memcpy(&e, back + (pte & 0xfff), 8);
        e &= ~(P_A | P_D);
        memcpy(back + (pte & 0xfff), &e, 8);
        hook_calls = 0;
        assert_int_equal(v3_hook_write_mem(t.vm, tp, tp + 0x1000, back, hwrite, NULL), V3_OK);
        assert_int_equal(v3_gva_to_gpa(t.core, 0x1000, V3_ACCESS_WRITE, &g, &exc), V3_OK);
        assert_int_equal(g, 0x2000);
        memcpy(&e, back + (pte & 0xfff), 8);
        assert_int_equal(e & (P_A | P_D), P_A | P_D);
        assert_int_equal(hook_calls, 0);
        assert_int_equal(v3_unhook_mem(t.vm, tp), V3_OK);
        free(back);
    }
    tvm_close(&t);
}

static void test_bad_arguments(void **st)
{
    struct tvm t;
    uint64_t g;
    uint8_t buf[4];
    struct v3_exception exc;
    struct v3_core lone;

    (void)st;
    tvm_open(&t);
    assert_int_equal(v3_gva_to_gpa(NULL, 0, V3_ACCESS_READ, &g, &exc), V3_EINVAL);
    assert_int_equal(v3_gva_to_gpa(t.core, 0, V3_ACCESS_READ, NULL, &exc), V3_EINVAL);
    assert_int_equal(v3_gva_to_gpa(t.core, 0, 0, &g, &exc), V3_EINVAL);
    assert_int_equal(v3_gva_to_gpa(t.core, 0, V3_ACCESS_READ | V3_ACCESS_WRITE, &g, &exc), V3_EINVAL);
    assert_int_equal(v3_gva_to_gpa(t.core, 0, V3_ACCESS_READ | 0x100, &g, &exc), V3_EINVAL);
    assert_int_equal(v3_gva_to_gpa(t.core, 0, V3_ACCESS_READ, &g, NULL), V3_OK);
    assert_int_equal(v3_read_gva_memory(t.core, 0, 4, NULL, 0, &exc), V3_EINVAL);
    assert_int_equal(v3_read_gva_memory(t.core, 0, 0, NULL, 0, &exc), 0);
    assert_int_equal(v3_write_gva_memory(t.core, 0, 4, buf, V3_ACCESS_READ, &exc), V3_EINVAL);
    assert_int_equal(v3_read_gva_memory(NULL, 0, 4, buf, 0, &exc), V3_EINVAL);
    assert_int_equal(v3_paging_set_maxphyaddr(t.core, 35), V3_EINVAL);
    assert_int_equal(v3_paging_set_maxphyaddr(t.core, 53), V3_EINVAL);
    assert_int_equal(v3_paging_set_maxphyaddr(t.core, 48), V3_OK);
    assert_int_equal(v3_paging_init_core(t.core), V3_EEXIST);
    assert_int_equal(v3_paging_init_core(NULL), V3_EINVAL);
    memset(&lone, 0, sizeof(lone));
    assert_int_equal(v3_paging_init_core(&lone), V3_EINVAL);
    /* a core without TLB still translates, and the TLB calls are no-ops */
    lone.vm = t.vm;
    assert_null(v3_tlb_lookup(&lone, 0, V3_ACCESS_READ));
    assert_int_equal(v3_gva_to_gpa(&lone, 0x1234, V3_ACCESS_READ, &g, &exc), V3_OK);
    assert_int_equal(g, 0x1234);
    v3_tlb_flush_all(&lone);
    v3_tlb_invlpg(&lone, 0);
    v3_paging_cr3_written(&lone);
    v3_paging_free_core(&lone);
    assert_int_equal(v3_paging_set_maxphyaddr(&lone, 48), V3_EINVAL);
    /* allocation failure, and no leak on free */
    v3_paging_free_core(t.core);
    assert_null(t.core->tlb);
    v3t_fail_nth(1);
    assert_int_equal(v3_paging_init_core(t.core), V3_ENOMEM);
    v3t_fail_nth(0);
    assert_null(t.core->tlb);
    assert_int_equal(v3_paging_init_core(t.core), V3_OK);
    tvm_close(&t);
}

/*
 * Map changes from another thread while the vCPU thread translates and
 * reads through the slow path: every read sees either the hook or the RAM
 * value, and the TLB's structure survives (its count matches its entries).
 */
#include <pthread.h>
#include <unistd.h>

struct churn {
    struct tvm *t;
    uint64_t gpa;
    volatile int stop;
    long changes;
};

static void *churn_main(void *arg)
{
    struct churn *ch = arg;
    while (!ch->stop) {
        if (v3_hook_full_mem(ch->t->vm, ch->gpa, ch->gpa + 0x1000, hread, hwrite, NULL) != V3_OK)
            abort();
        usleep(20);
        if (v3_unhook_mem(ch->t->vm, ch->gpa) != V3_OK)
            abort();
        usleep(20);
        ch->changes++;
    }
    return NULL;
}

static void test_concurrent_map_changes(void **st)
{
    struct tvm t;
    struct mapper m;
    struct churn ch;
    pthread_t th;
    uint64_t la = 0x500000000ull;
    long seen_hook = 0, seen_ram = 0;

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    for (unsigned i = 0; i < 64; i++)
        map_page(&m, la + i * 0x1000ull, 0x600000 + i * 0x1000ull, 12, P_RW | P_D);
    long_mode(&t, &m, 0);
    for (unsigned i = 0; i < 64; i++)
        t.ram[0x600000 + i * 0x1000ull] = 0x3c;
    memset(&ch, 0, sizeof(ch));
    ch.t = &t;
    ch.gpa = 0x600000 + 7 * 0x1000;
    assert_int_equal(pthread_create(&th, NULL, churn_main, &ch), 0);
    for (long r = 0; r < 2000000 && (r < 20000 || ch.changes < 300); r++) {
        unsigned i = (r & 1) ? 7 : (unsigned)(r * 13) % 64;
        uint8_t v = 0;
        struct v3_exception exc;
        uint64_t g;
        if (i == 7) {
            /* the churned page: only the slow path (hooked or not) */
            v3_tlb_invlpg(t.core, la + i * 0x1000ull);
            assert_int_equal(v3_read_gva_memory(t.core, la + i * 0x1000ull, 1, &v, 0, &exc), 1);
            if (v == hook_value)
                seen_hook++;
            else if (v == 0x3c)
                seen_ram++;
            else
                fail_msg("read %#x", v);
        } else {
            assert_int_equal(v3_gva_to_gpa(t.core, la + i * 0x1000ull, V3_ACCESS_READ, &g, &exc), V3_OK);
            assert_int_equal(g, 0x600000 + i * 0x1000ull);
        }
        if ((r & 63) == 0)
            usleep(1);              /* let the writer in: the map's rwlock prefers readers */
        if ((r & 1023) == 0) {
            assert_true(v3_tlb_count(t.core) <= 64);
            v3_tlb_flush_all(t.core);
        }
    }
    ch.stop = 1;
    pthread_join(th, NULL);
    printf("concurrent: %ld map changes, %ld hook reads, %ld RAM reads\n", ch.changes, seen_hook, seen_ram);
    assert_true(ch.changes > 0);
    tvm_close(&t);
}

/*
 * Walks of tables whose entries are already accessed (and the leaf already
 * dirty) write nothing to guest memory and take the translation's fast
 * path: the global flag needs CR4.PGE, a clean leaf is cached without write
 * permission, a write to it still sets D, and the A20 mask applies, as for
 * a first walk.
 */
static void test_pre_accessed_walk(void **st)
{
    struct tvm t;
    struct mapper m;
    struct v3_tlb_probe pr;
    struct v3_exception exc;
    const uint64_t la = 0x500000000ull, la2 = la + 0x1000, la3 = la + 0x200000;
    uint64_t gpa, ea, ea2;
    void *hva;

    (void)st;
    tvm_open(&t);
    mapper_init(&m, &t);
    map_page(&m, la, 0x300000, 12, P_RW | P_G | P_A | P_D);
    ea2 = map_page(&m, la2, 0x301000, 12, P_RW | P_A);               /* clean */
    map_page(&m, la3, 0x400000, 21, P_RW | P_G | P_A | P_D);        /* 2 MiB */
    for (ea = m.root; ea < m.next; ea += 8)                            /* every table entry accessed */
        if (rd64(&t, ea) & P_P)
            wr64(&t, ea, rd64(&t, ea) | P_A);
    long_mode(&t, &m, 0);

    for (unsigned pge = 0; pge < 2; pge++) {
        t.core->cr4 = V3_CR4_PAE | (pge ? V3_CR4_PGE : 0);
        v3_tlb_flush_all(t.core);
        assert_int_equal(v3_tlb_fill(t.core, la + 8, V3_ACCESS_READ, &hva, &gpa, &exc), V3_OK);
        assert_int_equal(gpa, 0x300008);
        assert_ptr_equal(hva, t.ram + 0x300008);
        assert_int_equal(v3_tlb_probe(t.core, la, &pr), 1);
        assert_int_equal(pr.flags, V3_TLB_DIRTY | (pge ? V3_TLB_GLOBAL : 0));
        assert_int_equal(pr.shift, 12);
        assert_int_equal(pr.perm, 0x550);        /* user: nothing; supervisor (AC or not): RX (a read fill
                                                    caches no write permission: the dirty log) */
        assert_int_equal(v3_gva_to_gpa(t.core, la3 + 0x12345, V3_ACCESS_WRITE, &gpa, &exc), V3_OK);
        assert_int_equal(gpa, 0x412345);
        assert_int_equal(v3_tlb_probe(t.core, la3 + 0x12345, &pr), 1);
        assert_int_equal(pr.flags, V3_TLB_DIRTY | (pge ? V3_TLB_GLOBAL : 0));
        assert_int_equal(pr.shift, 21);
        assert_ptr_equal(pr.hva, t.ram + 0x412000);
        v3_paging_cr3_written(t.core);
        assert_int_equal(v3_tlb_probe(t.core, la, &pr), (int)pge);
    }

    /* clean leaf: read cached without write; a write sets D */
    v3_tlb_flush_all(t.core);
    assert_int_equal(v3_tlb_fill(t.core, la2, V3_ACCESS_READ, &hva, &gpa, &exc), V3_OK);
    assert_int_equal(v3_tlb_probe(t.core, la2, &pr), 1);
    assert_int_equal(pr.flags, 0);
    assert_int_equal(pr.perm, 0x550);
    assert_null(v3_tlb_lookup(t.core, la2, V3_ACCESS_WRITE));
    assert_int_equal(rd64(&t, ea2) & P_D, 0);
    assert_int_equal(v3_tlb_fill(t.core, la2, V3_ACCESS_WRITE, &hva, &gpa, &exc), V3_OK);
    assert_int_equal(rd64(&t, ea2) & P_D, P_D);
    assert_non_null(v3_tlb_lookup(t.core, la2, V3_ACCESS_WRITE));

    /* a read-only user page: the cached permissions follow CR0.WP, CR4.SMEP
       and CR4.SMAP, each changed alone (Gray code order) */
    {
        static const unsigned gray[] = { 0, 1, 3, 2, 6, 7, 5, 4, 0 };
        const uint64_t la5 = 0x500400000ull;
        map_page(&m, la5, 0x302000, 12, P_US | P_A | P_D);
        for (unsigned k = 0; k < sizeof(gray) / sizeof(gray[0]); k++) {
            bool wp = gray[k] & 1, smep = gray[k] & 2, smap = gray[k] & 4;
            unsigned u = 1 | 4, sac = 1 | (wp ? 0 : 2) | (smep ? 0 : 4), sup = smap ? (smep ? 0 : 4) : sac;
            t.core->cr0 = V3_CR0_PE | V3_CR0_PG | (wp ? V3_CR0_WP : 0);
            t.core->cr4 = V3_CR4_PAE | V3_CR4_PGE | (smep ? V3_CR4_SMEP : 0) | (smap ? V3_CR4_SMAP : 0);
            v3_tlb_flush_all(t.core);
            /* the PDE of la5 was allocated by map_page without A: the first
               fill sets it, the later ones walk accessed entries only */
            assert_int_equal(v3_tlb_fill(t.core, la5, V3_ACCESS_READ | V3_ACCESS_SUPERVISOR, &hva, &gpa, &exc),
                             smap ? V3_EFAULT : V3_OK);
            if (smap)
                assert_int_equal(v3_tlb_fill(t.core, la5, V3_ACCESS_EXEC, &hva, &gpa, &exc),
                                 smep ? V3_EFAULT : V3_OK);
            if (smap && smep) {
                t.core->cpl = 3;
                assert_int_equal(v3_tlb_fill(t.core, la5, V3_ACCESS_READ, &hva, &gpa, &exc), V3_OK);
                t.core->cpl = 0;
            }
            assert_int_equal(v3_tlb_probe(t.core, la5, &pr), 1);
            assert_int_equal(pr.perm, (u | sup << 4 | sac << 8) & ~0x222u);   /* read fills: no W */
        }
        t.core->cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_WP;
        t.core->cr4 = V3_CR4_PAE | V3_CR4_PGE;
    }

    /* a 1 GiB page over guest RAM: cached; with an address bit 29:13 set, #PF RSVD */
    {
        const uint64_t la4 = 0x540000000ull;
        uint64_t pdpte = m.root + 0x1000;    /* the PDPT allocated for la */
        uint64_t slot = pdpte + ((la4 >> 30) & 511) * 8;
        assert_int_equal((rd64(&t, m.root) & ~0xfffull), pdpte);
        wr64(&t, slot, P_P | P_RW | P_A | P_D | P_PS);              /* gpa 0 */
        v3_tlb_flush_all(t.core);
        assert_int_equal(v3_tlb_fill(t.core, la4 + 0x123456, V3_ACCESS_WRITE, &hva, &gpa, &exc), V3_OK);
        assert_int_equal(gpa, 0x123456);
        assert_ptr_equal(hva, t.ram + 0x123456);
        assert_int_equal(v3_tlb_probe(t.core, la4 + 0x123456, &pr), 1);
        assert_int_equal(pr.shift, 30);
        for (unsigned b = 13; b < 30; b++) {
            wr64(&t, slot, P_P | P_RW | P_A | P_D | P_PS | (1ull << b));
            v3_tlb_flush_all(t.core);
            memset(&exc, 0, sizeof(exc));
            assert_int_equal(v3_tlb_fill(t.core, la4 + 0x123456, V3_ACCESS_READ, &hva, &gpa, &exc), V3_EFAULT);
            assert_int_equal(exc.error_code, V3_PF_P | V3_PF_RSVD);
            assert_int_equal(exc.cr2, la4 + 0x123456);
            assert_int_equal(v3_tlb_probe(t.core, la4 + 0x123456, &pr), 0);
        }
        wr64(&t, slot, 0);
    }

    /* A20 gate disabled: bit 20 of the data address reads as 0 */
    t.core->a20_clear = 1ull << 20;
    v3_tlb_flush_all(t.core);
    assert_int_equal(v3_tlb_fill(t.core, la + 8, V3_ACCESS_READ, &hva, &gpa, &exc), V3_OK);
    assert_int_equal(gpa, 0x200008);
    assert_ptr_equal(hva, t.ram + 0x200008);
    assert_int_equal(v3_gva_to_gpa(t.core, la3 + 0x112345, V3_ACCESS_READ, &gpa, &exc), V3_OK);
    assert_int_equal(gpa, 0x412345);
    t.core->a20_clear = 0;
    tvm_close(&t);
}

static void test_no_leak(void **st)
{
    long before;
    struct tvm t;

    (void)st;
    before = v3t_outstanding();
    tvm_open(&t);
    tvm_close(&t);
    assert_int_equal(v3t_outstanding(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_unhook_cached_page),
        cmocka_unit_test(test_remap_cached_page),
        cmocka_unit_test(test_write_hooked_and_dirty),
        cmocka_unit_test(test_invalidation_matrix),
        cmocka_unit_test(test_range_invalidation_model),
        cmocka_unit_test(test_page_crossing),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_paging_off_and_legacy_wrap),
        cmocka_unit_test(test_entry_outside_ram),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_concurrent_map_changes),
        cmocka_unit_test(test_pre_accessed_walk),
        cmocka_unit_test(test_no_leak),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
