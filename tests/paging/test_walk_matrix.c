/* SPDX-License-Identifier: MIT */
/*
 * Exhaustive page-walk matrix: hand-built page tables in guest RAM for every
 * paging mode, every combination of entry flags (P, R/W, U/S, XD, page
 * size) along the walk, every privilege context (CPL 0/3, CR0.WP, SMEP,
 * SMAP, RFLAGS.AC, EFER.NXE) and access kind (read, write, fetch, implicit
 * supervisor read/write), and every candidate reserved/ignored bit at every
 * level, checked against the reference model in oracle.h: the outcome, the
 * guest physical address, the #PF error code and CR2, and the accessed and
 * dirty bits left in memory.  Every table configuration is walked as built
 * (A and D clear), with A already set in every entry, and with A set and
 * the leaf already dirty.
 *
 * Option: --cases N  check at most N table configurations per mode and
 *          page size in the flag matrix, evenly spread over all of them
 *          (default: all; CTest passes a bound that only thins 5-level).
 */
#include "common.h"

static long opt_cases = -1;     /* table configurations per mode (flag matrix) */
static long opt_stride = 1;

#define TBL(l) (0x10000ull + (uint64_t)(l) * 0x1000)
#define PDPT_PAE 0x20040ull

struct lvl {
    bool present;
    uint64_t flags;     /* RW/US/XD (and the injected bit) */
};

struct path {
    enum o_mode m;
    unsigned top, leaf;     /* level numbers: top is read first, leaf maps the page */
    bool ps_no_pse;         /* 32-bit: PDE has PS set while CR4.PSE = 0 */
    int inject_level, inject_bit;
    struct lvl l[6];
    uint64_t la;
};

/* filled by build() */
struct built {
    unsigned n;
    uint64_t addr[6], val[6];   /* by level */
    bool used[6];
};

static unsigned leaf_shift(const struct path *p)
{
    if (p->m == O_32)
        return p->leaf == 2 ? 22 : 12;
    return 12 + 9 * (p->leaf - 1);
}

static uint64_t target_base(unsigned shift)
{
    switch (shift) {
    case 12: return 0x123000ull;
    case 21: return 0x600000ull;
    case 22: return 0xc00000ull;
    default: return 0x40000000ull;
    }
}

static enum o_kind kind_of(const struct path *p, unsigned L)
{
    bool leaf = L == p->leaf;
    switch (p->m) {
    case O_32:
        return L == 2 ? (leaf ? O_PDE32_4M : O_PDE32_TABLE) : O_PTE32;
    case O_PAE:
        if (L == 3)
            return O_PDPTE_PAE;
        return L == 2 ? (leaf ? O_PDE_PAE_2M : O_PDE_PAE_TABLE) : O_PTE_PAE;
    default:
        switch (L) {
        case 5: return O_PML5E;
        case 4: return O_PML4E;
        case 3: return leaf ? O_PDPTE_1G : O_PDPTE_TABLE;
        case 2: return leaf ? O_PDE_2M : O_PDE_TABLE;
        default: return O_PTE;
        }
    }
}

static uint64_t entry_addr(const struct path *p, unsigned L)
{
    uint64_t la = p->la;
    if (p->m == O_32)
        return TBL(L) + (L == 2 ? ((la >> 22) & 0x3ff) : ((la >> 12) & 0x3ff)) * 4;
    if (p->m == O_PAE && L == 3)
        return PDPT_PAE + ((la >> 30) & 3) * 8;
    return TBL(L) + ((la >> (12 + 9 * (L - 1))) & 511) * 8;
}

static uint64_t cr3_of(const struct path *p)
{
    if (p->m == O_PAE)
        return PDPT_PAE | 0x18;         /* PWT/PCD: ignored for the walk */
    return TBL(p->top) | 0x18;
}

static void build(struct tvm *t, const struct path *p, struct built *b)
{
    memset(b, 0, sizeof(*b));
    for (unsigned L = p->top; L >= p->leaf; L--) {
        const struct lvl *e = &p->l[L];
        uint64_t v;
        b->addr[L] = entry_addr(p, L);
        b->used[L] = true;
        if (!e->present) {
            v = 0xdeadbeefcafebabeull;          /* anything, with P clear */
        } else {
            v = P_P | ((p->m == O_PAE && L == 3) ? 0 : e->flags);   /* PDPTE: P only */
            if (L == p->leaf)
                v |= target_base(leaf_shift(p)) | (L > 1 ? P_PS : 0);
            else
                v |= TBL(L - 1) | (p->ps_no_pse && L == 2 ? P_PS : 0);
            if ((int)L == p->inject_level)
                v |= 1ull << p->inject_bit;
        }
        if (p->m == O_32)
            v &= 0xffffffffull;
        b->val[L] = v;
        if (!e->present)
            break;
    }
}

static void reset_entries(struct tvm *t, const struct path *p, const struct built *b)
{
    for (unsigned L = 1; L <= 5; L++) {
        if (!b->used[L])
            continue;
        if (p->m == O_32)
            wr32(t, b->addr[L], (uint32_t)b->val[L]);
        else
            wr64(t, b->addr[L], b->val[L]);
    }
}

struct expect {
    bool fault;
    uint32_t ec;
    uint64_t gpa;
    bool us, rw, xd;        /* effective rights (when no walk fault) */
};

static void model(const struct path *p, const struct built *b, const struct o_ctx *c, unsigned access,
                  struct expect *x)
{
    bool us = true, rw = true, xd = false;
    unsigned shift = leaf_shift(p);
    uint64_t gpa;

    memset(x, 0, sizeof(*x));
    for (unsigned L = p->top; L >= p->leaf; L--) {
        uint64_t v = b->val[L];
        if (!(v & P_P)) {
            x->fault = true;
            x->ec = o_error_code(c, p->m, false, false, access);
            return;
        }
        for (unsigned bit = 1; bit < (p->m == O_32 ? 32u : 64u); bit++) {
            if ((v >> bit) & 1 && o_reserved(kind_of(p, L), bit, c)) {
                x->fault = true;
                x->ec = o_error_code(c, p->m, true, true, access);
                return;
            }
        }
    }
    for (unsigned L = p->top; L >= p->leaf; L--) {
        uint64_t v = b->val[L];
        if (p->m == O_PAE && L == 3)
            continue;                           /* PAE PDPTEs carry no access rights */
        us = us && (v & P_US);
        rw = rw && (v & P_RW);
        xd = xd || (p->m != O_32 && (v & P_XD));
    }
    x->us = us;
    x->rw = rw;
    x->xd = xd;
    if (!o_allowed(c, p->m, us, rw, xd, access)) {
        x->fault = true;
        x->ec = o_error_code(c, p->m, true, false, access);
        return;
    }
    gpa = target_base(shift) | (p->la & ((1ull << shift) - 1));
    if (p->m == O_32 && p->leaf == 2)
        gpa |= ((b->val[2] >> 13) & 0xff) << 32;       /* PSE-36 */
    x->gpa = gpa;
}

static const unsigned accesses[] = {
    V3_ACCESS_READ, V3_ACCESS_WRITE, V3_ACCESS_EXEC,
    V3_ACCESS_READ | V3_ACCESS_SUPERVISOR, V3_ACCESS_WRITE | V3_ACCESS_SUPERVISOR,
};

static long walks, faults_seen, tlb_checks, tlb_hits;

static void describe(const struct path *p, const struct built *b, const struct o_ctx *c, unsigned access)
{
    fprintf(stderr, "mode %d top %u leaf %u la %#llx access %#x cpl %u wp %d smep %d smap %d ac %d nxe %d pse %d M %u\n",
            p->m, p->top, p->leaf, (unsigned long long)p->la, access, c->cpl, c->wp, c->smep, c->smap,
            c->ac, c->nxe, c->pse, c->maxphy);
    for (unsigned L = p->top; L >= 1; L--)
        if (b->used[L])
            fprintf(stderr, "  L%u @%#llx = %#llx\n", L, (unsigned long long)b->addr[L],
                    (unsigned long long)b->val[L]);
}

/* Run one configuration in one context for one access and check everything. */
static void run_one(struct tvm *t, const struct path *p, const struct built *b, const struct o_ctx *c,
                    unsigned access)
{
    struct expect x;
    struct v3_exception exc;
    uint64_t gpa = 0;
    int rc;

    reset_entries(t, p, b);
    set_mode(t->core, p->m, c, cr3_of(p));
    v3_tlb_flush_all(t->core);      /* the tables changed: as a guest would, invalidate */
    model(p, b, c, access, &x);
    memset(&exc, 0, sizeof(exc));
    rc = v3_gva_to_gpa(t->core, p->la, access, &gpa, &exc);
    walks++;
    if (x.fault) {
        faults_seen++;
        if (rc != V3_EFAULT || exc.vector != V3_EXC_PF || !exc.has_error_code ||
            exc.error_code != x.ec || exc.cr2 != p->la) {
            describe(p, b, c, access);
            fail_msg("expected #PF ec %#x; got rc %d vector %u ec %#x cr2 %#llx", x.ec, rc, exc.vector,
                     exc.error_code, (unsigned long long)exc.cr2);
        }
    } else if (rc != V3_OK || gpa != x.gpa) {
        describe(p, b, c, access);
        fail_msg("expected gpa %#llx; got rc %d gpa %#llx (ec %#x)", (unsigned long long)x.gpa, rc,
                 (unsigned long long)gpa, exc.error_code);
    }
    /*
     * The TLB entry the walk left must answer every other privilege context
     * and access kind as the model does (the same controls; write only when
     * the walk was made for a write, which also sets the leaf's D bit: the
     * dirty-page log marks a page when a writable entry is filled, so a
     * read or fetch never caches write permission; only guest RAM is cached).
     */
    if (!x.fault) {
        bool cached = x.gpa < T_MEM;
        bool dirty = (access & V3_ACCESS_WRITE) != 0;
        unsigned kinds = 0;
        for (unsigned sel = 0; sel < 4; sel++) {
            struct o_ctx c2 = *c;
            c2.cpl = (sel & 1) ? 3 : 0;
            c2.ac = sel & 2;
            t->core->cpl = (uint8_t)c2.cpl;
            t->core->rflags = 0x2 | (c2.ac ? V3_FLAG_AC : 0);
            for (unsigned a = 0; a < sizeof(accesses) / sizeof(accesses[0]); a++) {
                unsigned acc = accesses[a];
                bool want = cached && o_allowed(&c2, p->m, x.us, x.rw, x.xd, acc) &&
                            (!(acc & V3_ACCESS_WRITE) || dirty);
                void *hp = v3_tlb_lookup(t->core, p->la, acc);
                if ((hp != NULL) != want) {
                    describe(p, b, c, access);
                    fail_msg("TLB for cpl %u ac %d access %#x: %s, model says %s", c2.cpl, c2.ac, acc,
                             hp ? "hit" : "miss", want ? "allowed" : "not cached/denied");
                }
                if (hp && hp != (void *)(t->ram + x.gpa))
                    fail_msg("TLB host address %p, expected %p", hp, (void *)(t->ram + x.gpa));
                kinds += hp != NULL;
            }
        }
        tlb_checks++;
        tlb_hits += kinds;
        t->core->cpl = (uint8_t)c->cpl;
        t->core->rflags = 0x2 | (c->ac ? V3_FLAG_AC : 0);
    }

    /* A in every entry used, D in the leaf on a write; nothing on a fault */
    for (unsigned L = 1; L <= 5; L++) {
        uint64_t want, got;
        if (!b->used[L])
            continue;
        want = b->val[L];
        if (!x.fault && !(p->m == O_PAE && L == 3)) {
            want |= P_A;
            if (L == p->leaf && (access & V3_ACCESS_WRITE))
                want |= P_D;
        }
        got = p->m == O_32 ? rd32(t, b->addr[L]) : rd64(t, b->addr[L]);
        if (got != want) {
            describe(p, b, c, access);
            fail_msg("level %u entry %#llx, expected %#llx", L, (unsigned long long)got,
                     (unsigned long long)want);
        }
    }
}

/*
 * The same tables as earlier walks leave them: A set in every present entry
 * (PAE PDPTEs have none) and, with @p dirty, D in the leaf.  Walks of such
 * tables write nothing to guest memory (the translation's fast path).
 */
static void preset_ad(const struct path *p, const struct built *b, struct built *out, bool dirty)
{
    *out = *b;
    for (unsigned L = 1; L <= 5; L++) {
        if (!out->used[L] || !(out->val[L] & P_P) || (p->m == O_PAE && L == 3))
            continue;
        out->val[L] |= P_A;
        if (dirty && L == p->leaf)
            out->val[L] |= P_D;
    }
}

static void run_contexts(struct tvm *t, const struct path *p, bool pse, unsigned maxphy)
{
    struct built b[3];

    build(t, p, &b[0]);
    preset_ad(p, &b[0], &b[1], false);
    preset_ad(p, &b[0], &b[2], true);
    for (unsigned bitsel = 0; bitsel < 64; bitsel++) {
        struct o_ctx c = {
            .cpl = (bitsel & 1) ? 3 : 0, .wp = bitsel & 2, .smep = bitsel & 4, .smap = bitsel & 8,
            .ac = bitsel & 16, .nxe = bitsel & 32, .pse = pse, .maxphy = maxphy,
        };
        for (unsigned v = 0; v < 3; v++)
            for (unsigned a = 0; a < sizeof(accesses) / sizeof(accesses[0]); a++)
                run_one(t, p, &b[v], &c, accesses[a]);
    }
}

/* ---------------------------------------------------------------- flag matrix */

static uint64_t la_of(enum o_mode m)
{
    switch (m) {
    case O_32: return 0x8049a123ull;
    case O_PAE: return 0xc0a5b321ull;
    case O_4L: return 0xffff812345678abcull;
    default: return 0xff8a123456789abcull;
    }
}

static unsigned top_of(enum o_mode m)
{
    return m == O_32 ? 2 : m == O_PAE ? 3 : m == O_4L ? 4 : 5;
}

struct matrix_state {
    struct tvm *t;
    struct path p;
    bool pse;
    long configs, taken;
};

/* Number of flag choices for a present entry at level L. */
static unsigned nflags(const struct path *p, unsigned L)
{
    if (p->m == O_PAE && L == 3)
        return 1;
    return p->m == O_32 ? 4 : 8;
}

static uint64_t flags_of(const struct path *p, unsigned L, unsigned i)
{
    (void)L;
    return ((i & 1) ? P_RW : 0) | ((i & 2) ? P_US : 0) | ((p->m != O_32 && (i & 4)) ? P_XD : 0);
}

static long count_configs(struct path *p, unsigned L)
{
    long n = 1;                               /* this level not present */
    if (L < p->leaf)
        return 1;
    for (unsigned i = 0; i < nflags(p, L); i++)
        n += count_configs(p, L - 1);
    return n;
}

static void enumerate(struct matrix_state *s, unsigned L)
{
    struct path *p = &s->p;

    if (opt_cases >= 0 && s->taken >= opt_cases)
        return;
    if (L < p->leaf) {
        s->configs++;
        if ((s->configs - 1) % opt_stride == 0) {
            s->taken++;
            run_contexts(s->t, p, s->pse, V3_PAGING_MAXPHYADDR);
        }
        return;
    }
    /* not present: lower levels are not read */
    p->l[L].present = false;
    p->l[L].flags = 0;
    {
        unsigned saved_leaf = p->leaf;
        s->configs++;
        if ((s->configs - 1) % opt_stride == 0 && !(opt_cases >= 0 && s->taken >= opt_cases)) {
            s->taken++;
            run_contexts(s->t, p, s->pse, V3_PAGING_MAXPHYADDR);
        }
        p->leaf = saved_leaf;
    }
    for (unsigned i = 0; i < nflags(p, L); i++) {
        p->l[L].present = true;
        p->l[L].flags = flags_of(p, L, i);
        enumerate(s, L - 1);
    }
}

static void flag_matrix(enum o_mode m)
{
    struct tvm t;
    struct matrix_state s;
    unsigned top = top_of(m);
    /* leaf options: level, ps_no_pse, pse */
    struct { unsigned leaf; bool ps_no_pse, pse; } opts[4];
    unsigned nopts = 0;

    tvm_open(&t);
    if (m == O_32) {
        opts[nopts++] = (typeof(opts[0])){1, false, false};
        opts[nopts++] = (typeof(opts[0])){1, false, true};
        opts[nopts++] = (typeof(opts[0])){1, true, false};
        opts[nopts++] = (typeof(opts[0])){2, false, true};
    } else if (m == O_PAE) {
        opts[nopts++] = (typeof(opts[0])){1, false, false};
        opts[nopts++] = (typeof(opts[0])){2, false, false};
    } else {
        opts[nopts++] = (typeof(opts[0])){1, false, false};
        opts[nopts++] = (typeof(opts[0])){2, false, false};
        opts[nopts++] = (typeof(opts[0])){3, false, false};
    }
    walks = faults_seen = tlb_checks = tlb_hits = 0;
    for (unsigned o = 0; o < nopts; o++) {
        memset(&s, 0, sizeof(s));
        s.t = &t;
        s.p.m = m;
        s.p.top = top;
        s.p.leaf = opts[o].leaf;
        s.p.ps_no_pse = opts[o].ps_no_pse;
        s.pse = opts[o].pse;
        s.p.inject_level = -1;
        s.p.la = la_of(m);
        opt_stride = 1;
        if (opt_cases > 0) {
            long total = count_configs(&s.p, top);
            opt_stride = (total + opt_cases - 1) / opt_cases;
        }
        enumerate(&s, top);
        printf("mode %d leaf %u%s: %ld of %ld table configurations\n", m, opts[o].leaf,
               opts[o].ps_no_pse ? " (PS without PSE)" : "", s.taken, s.configs);
    }
    printf("mode %d: %ld walks checked, %ld faults; TLB entries checked for 20 contexts after %ld walks (%ld hits)\n",
           m, walks, faults_seen, tlb_checks, tlb_hits);
    assert_true(faults_seen > 0 && faults_seen < walks);
    tvm_close(&t);
}

static void test_matrix_32(void **st) { (void)st; flag_matrix(O_32); }
static void test_matrix_pae(void **st) { (void)st; flag_matrix(O_PAE); }
static void test_matrix_4l(void **st) { (void)st; flag_matrix(O_4L); }
static void test_matrix_5l(void **st) { (void)st; flag_matrix(O_5L); }

/* ---------------------------------------------------------------- reserved bits */

/* Bits worth setting in an entry of kind k: everything that is reserved,
 * ignored or a harmless flag, but not P, not a bit that changes the
 * structure of the walk (PS where it selects a large page) and not an
 * address bit below MAXPHYADDR. */
static bool candidate(const struct path *p, enum o_kind k, unsigned b, unsigned M)
{
    unsigned width = p->m == O_32 ? 32 : 64;
    unsigned shift;

    if (b == 0 || b == 1 || b == 2 || b >= width)
        return false;
    if (b == 7) {
        return k == O_PML4E || k == O_PML5E || k == O_PDPTE_PAE || k == O_PTE || k == O_PTE_PAE ||
               k == O_PTE32;
    }
    if (b < 12)
        return true;
    if (p->m == O_32) {
        if (k == O_PDE32_4M)
            return b <= 21;                 /* PAT, PSE-36 address bits, bit 21 */
        return false;
    }
    if (b >= M)
        return true;
    shift = (k == O_PDPTE_1G) ? 30 : (k == O_PDE_2M || k == O_PDE_PAE_2M) ? 21 : 12;
    return b < shift;                        /* PAT (12) and bits below the page size */
}

static void reserved_matrix(enum o_mode m)
{
    static const unsigned widths[] = { 52, 36 };
    struct tvm t;
    long n = 0, rsvd = 0;
    unsigned top = top_of(m);
    unsigned leaves[3], nleaves = 0;

    tvm_open(&t);
    leaves[nleaves++] = 1;
    leaves[nleaves++] = 2;
    if (m == O_4L || m == O_5L)
        leaves[nleaves++] = 3;
    for (unsigned w = 0; w < 2; w++) {
        unsigned M = widths[w];
        assert_int_equal(v3_paging_set_maxphyaddr(t.core, M), V3_OK);
        for (unsigned li = 0; li < nleaves; li++) {
            for (unsigned L = top; L >= leaves[li]; L--) {
                struct path p;
                memset(&p, 0, sizeof(p));
                p.m = m;
                p.top = top;
                p.leaf = leaves[li];
                p.la = la_of(m);
                for (unsigned k = 1; k <= 5; k++) {
                    p.l[k].present = true;
                    p.l[k].flags = P_RW | P_US;
                }
                for (unsigned b = 0; b < 64; b++) {
                    struct built bt[3];
                    if (!candidate(&p, kind_of(&p, L), b, M))
                        continue;
                    p.inject_level = (int)L;
                    p.inject_bit = (int)b;
                    build(&t, &p, &bt[0]);
                    preset_ad(&p, &bt[0], &bt[1], false);
                    preset_ad(&p, &bt[0], &bt[2], true);
                    for (unsigned sel = 0; sel < 4; sel++) {
                        struct o_ctx c = { .cpl = (sel & 1) ? 3 : 0, .nxe = sel & 2, .pse = true,
                                           .wp = true, .maxphy = M };
                        for (unsigned v = 0; v < 3; v++) {
                            for (unsigned a = 0; a < 3; a++) {
                                struct expect x;
                                run_one(&t, &p, &bt[v], &c, accesses[a]);
                                model(&p, &bt[v], &c, accesses[a], &x);
                                rsvd += x.fault && (x.ec & 8);
                                n++;
                            }
                        }
                    }
                }
            }
        }
    }
    printf("mode %d: %ld reserved-bit cases, %ld with RSVD\n", m, n, rsvd);
    assert_true(rsvd > 0);
    tvm_close(&t);
}

static void test_reserved_32(void **st) { (void)st; reserved_matrix(O_32); }
static void test_reserved_pae(void **st) { (void)st; reserved_matrix(O_PAE); }
static void test_reserved_4l(void **st) { (void)st; reserved_matrix(O_4L); }
static void test_reserved_5l(void **st) { (void)st; reserved_matrix(O_5L); }

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            opt_cases = atol(argv[++i]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix_32),
        cmocka_unit_test(test_matrix_pae),
        cmocka_unit_test(test_matrix_4l),
        cmocka_unit_test(test_matrix_5l),
        cmocka_unit_test(test_reserved_32),
        cmocka_unit_test(test_reserved_pae),
        cmocka_unit_test(test_reserved_4l),
        cmocka_unit_test(test_reserved_5l),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
