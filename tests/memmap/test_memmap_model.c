/* SPDX-License-Identifier: MIT */
/*
 * Model-based random test of the memory map.
 *
 * A naive, independent model (an owner per 4 KiB page, its own copies of
 * RAM and of every backing buffer, a pattern for full-hook reads) predicts
 * the result of each random operation: add shadow, hook write, hook full
 * (valid and invalid arguments), unhook, delete, lookups (plain and
 * cached), gpa_to_hva, and reads/writes of random length and alignment
 * across page and region boundaries.  Every return value, every byte read,
 * every callback's (core, gpa, len, data) in order, listener calls,
 * generation changes and hook_calls are checked; RAM and backing memory
 * are compared in full every 1000 operations and at the end.
 *
 *   test_memmap_model [--cases N] [--seed S] [--verbose]
 */
#include <stdio.h>
#include "mm_util.h"

#define NPAGES     256                 /* model space [0, 1 MiB) */
#define RAM_PAGES  160                 /* guest RAM is the first 640 KiB */
#define MAXREG     512
#define MAXCALLS   32

static long opt_cases = 200000;
static unsigned long long opt_seed = 0x6d656d6d6170ull;
static int opt_verbose;

static uint64_t rs;
static uint64_t rnd(void)
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return rs * 0x2545F4914F6CDD1Dull;
}
static uint64_t rn(uint64_t n) { return n ? rnd() % n : 0; }

/* ------------------------------------------------------------ model */

struct mregion {
    int live;
    uint64_t start, end;           /* bytes */
    enum v3_region_type type;
    unsigned char *host;           /* the SUT's backing buffer (shadow, write hook) */
    unsigned char *model;          /* the model's copy of what it must hold */
    int fail_odd;                  /* callbacks fail on odd pages */
    uint64_t tag;                  /* full-hook read pattern seed */
    uint64_t calls;                /* expected hook_calls */
};

static struct mregion regs[MAXREG];
static int owner[NPAGES];          /* index into regs, or -1 */
static unsigned char *model_ram;

/* ------------------------------------------------------------ recorded callbacks */

struct rcall {
    int write;
    struct v3_core *core;
    uint64_t gpa;
    uint32_t len;
    struct mregion *reg;
    unsigned char data[4096];
};
static struct rcall got[MAXCALLS], want[MAXCALLS];
static int ngot, nwant;

static unsigned char pattern(const struct mregion *r, uint64_t gpa)
{
    uint64_t x = (gpa + r->tag) * 0x9E3779B97F4A7C15ull;
    return (unsigned char)(x >> 56);
}

static int cb_fails(const struct mregion *r, uint64_t gpa)
{
    return r->fail_odd && ((gpa >> 12) & 1);
}

static int cb_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct mregion *r = priv;
    struct rcall *c = &got[ngot < MAXCALLS ? ngot : MAXCALLS - 1];

    ngot++;
    c->write = 0;
    c->core = core;
    c->gpa = gpa;
    c->len = len;
    c->reg = r;
    for (uint32_t i = 0; i < len; i++)
        ((unsigned char *)dst)[i] = pattern(r, gpa + i);
    return cb_fails(r, gpa) ? -1 : 0;
}

static int cb_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct mregion *r = priv;
    struct rcall *c = &got[ngot < MAXCALLS ? ngot : MAXCALLS - 1];

    ngot++;
    c->write = 1;
    c->core = core;
    c->gpa = gpa;
    c->len = len;
    c->reg = r;
    memcpy(c->data, src, len <= 4096 ? len : 4096);
    return cb_fails(r, gpa) ? -2 : 0;
}

static int lis_n;
static uint64_t lis_start, lis_end;
static void listener(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv)
{
    (void)vm; (void)priv;
    lis_n++;
    lis_start = start;
    lis_end = end;
}

/* ------------------------------------------------------------ model helpers */

static int page_owner(uint64_t gpa)
{
    uint64_t p = gpa >> 12;
    return p < NPAGES ? owner[p] : -1;
}

/* 1 if byte @p gpa has memory: an overlay, or RAM. */
static int mapped(uint64_t gpa)
{
    return page_owner(gpa) >= 0 || gpa < (uint64_t)RAM_PAGES * PG;
}

static int free_slot(void)
{
    for (int i = 0; i < MAXREG; i++)
        if (!regs[i].live)
            return i;
    return -1;
}

static struct v3_vm *vm;
static struct v3_core *core0;
static long stat_ops[16], stat_err[16];

static void fail_op(long op, const char *what)
{
    fail_msg("operation %ld (seed %#llx): %s", op, opt_seed, what);
}

/* ------------------------------------------------------------ operations */

static void op_add(long op, enum v3_region_type type)
{
    uint64_t sp = rn(NPAGES), np = 1 + (rn(4) ? rn(3) : rn(24));
    uint64_t start = sp * PG, end = (sp + np) * PG;
    int expect = V3_OK, rc, slot = free_slot();
    int bad = (int)rn(20);
    int fail_odd = rn(8) == 0;
    void *host = NULL;
    uint64_t gen = v3_mem_generation(vm);
    int lis_before = lis_n;
    struct mregion *r;

    if (end > (uint64_t)NPAGES * PG)
        end = (uint64_t)NPAGES * PG;
    if (slot < 0)
        return;
    r = &regs[slot];
    /* occasionally a malformed request */
    if (bad == 0) {
        uint64_t t = start; start = end; end = t;      /* reversed */
        expect = V3_ERANGE_ORDER;
    } else if (bad == 1) {
        start += 1 + rn(PG - 1);
        expect = V3_EALIGN;
    } else if (bad == 2 && type != V3_REGION_SHADOW) {
        expect = V3_ENOCALLBACK;
    }
    if (expect == V3_OK) {
        for (uint64_t p = start / PG; p < end / PG; p++)
            if (owner[p] >= 0)
                expect = V3_EOVERLAP;
    }
    if (type != V3_REGION_FULL_HOOK) {
        host = mm_host_pages((size_t)((end > start ? end - start : PG) / PG + 1), 0);
        for (uint64_t i = 0; i < (end > start ? end - start : 0); i++)
            ((unsigned char *)host)[i] = (unsigned char)rnd();
    }
    memset(r, 0, sizeof(*r));
    r->start = start;
    r->end = end;
    r->type = type;
    r->fail_odd = fail_odd;
    r->tag = rnd();
    r->host = host;
    switch (type) {
    case V3_REGION_SHADOW:
        rc = v3_add_shadow_mem(vm, start, end, host);
        break;
    case V3_REGION_WRITE_HOOK:
        rc = v3_hook_write_mem(vm, start, end, host, bad == 2 ? NULL : cb_write, r);
        break;
    default:
        rc = v3_hook_full_mem(vm, start, end, bad == 2 ? NULL : cb_read, cb_write, r);
        break;
    }
    if (rc != expect) {
        char m[160];
        snprintf(m, sizeof(m), "add %s [%#llx, %#llx): got %d, model says %d",
                 v3_shdw_region_type_to_str(type), (unsigned long long)start,
                 (unsigned long long)end, rc, expect);
        fail_op(op, m);
    }
    if (rc == V3_OK) {
        r->live = 1;
        if (host) {
            r->model = malloc(end - start);
            memcpy(r->model, host, end - start);
        }
        for (uint64_t p = start / PG; p < end / PG; p++)
            owner[p] = slot;
        if (v3_mem_generation(vm) == gen)
            fail_op(op, "generation unchanged by an add");
        if (lis_n != lis_before + 1 || lis_start != start || lis_end != end)
            fail_op(op, "listener not called once with the added range");
    } else {
        stat_err[type]++;
        free(host);
        if (v3_mem_generation(vm) != gen)
            fail_op(op, "generation changed by a failed add");
        if (lis_n != lis_before)
            fail_op(op, "listener called for a failed add");
    }
}

static void op_remove(long op, int unhook)
{
    uint64_t start;
    int slot = -1, expect, rc;
    uint64_t gen = v3_mem_generation(vm);
    int lis_before = lis_n;

    /* mostly an existing region's start, sometimes any page */
    if (rn(4)) {
        int tries = 8;
        while (tries--) {
            int i = (int)rn(MAXREG);
            if (regs[i].live) {
                slot = i;
                break;
            }
        }
    }
    start = slot >= 0 ? regs[slot].start : rn(NPAGES + 4) * PG;
    slot = page_owner(start);
    if (slot < 0 || regs[slot].start != start)
        expect = V3_ENOENT, slot = -1;
    else if (unhook && regs[slot].type == V3_REGION_SHADOW)
        expect = V3_ENOTHOOK;
    else
        expect = V3_OK;
    rc = unhook ? v3_unhook_mem(vm, start) : v3_delete_shadow_region(vm, start);
    if (rc != expect) {
        char m[128];
        snprintf(m, sizeof(m), "%s %#llx: got %d, model says %d", unhook ? "unhook" : "delete",
                 (unsigned long long)start, rc, expect);
        fail_op(op, m);
    }
    if (rc == V3_OK) {
        struct mregion *r = &regs[slot];
        if (r->host && memcmp(r->host, r->model, r->end - r->start))
            fail_op(op, "backing memory differs from the model at removal");
        if (lis_n != lis_before + 1 || lis_start != r->start || lis_end != r->end)
            fail_op(op, "listener not called once with the removed range");
        if (v3_mem_generation(vm) == gen)
            fail_op(op, "generation unchanged by a removal");
        for (uint64_t p = r->start / PG; p < r->end / PG; p++)
            owner[p] = -1;
        free(r->host);
        free(r->model);
        r->live = 0;
    } else {
        stat_err[8 + unhook]++;
        if (lis_n != lis_before || v3_mem_generation(vm) != gen)
            fail_op(op, "failed removal changed the generation or called a listener");
    }
}

static struct v3_mem_cache lcache;

static void op_lookup(long op)
{
    uint64_t gpa = rn((NPAGES + 8) * PG);
    int o;

    if (rn(4) == 0)                   /* region and RAM edges: the last or first byte of a page */
        gpa = (gpa & ~(PG - 1)) - rn(2);
    if (gpa >= (NPAGES + 8) * PG)
        gpa = 0;
    o = page_owner(gpa);
    struct v3_mem_region *a = v3_get_shadow_region(vm, gpa);
    struct v3_mem_region *b = v3_mem_lookup(vm, &lcache, gpa);
    void *hva = NULL;
    int rc = v3_gpa_to_hva(vm, gpa, &hva);

    if (a != b)
        fail_op(op, "cached lookup differs from plain lookup");
    if (o >= 0) {
        struct mregion *r = &regs[o];
        if (!a || a->guest_start != r->start || a->guest_end != r->end || a->type != r->type ||
            a->priv != (r->type == V3_REGION_SHADOW ? NULL : (void *)r))
            fail_op(op, "lookup did not find the model's overlay");
        if (__atomic_load_n(&a->hook_calls, __ATOMIC_RELAXED) != r->calls)
            fail_op(op, "hook_calls differs from the model's count");
        if (r->type == V3_REGION_FULL_HOOK) {
            if (rc != V3_EHOOKED)
                fail_op(op, "gpa_to_hva of a full hook is not V3_EHOOKED");
        } else if (rc != V3_OK || hva != r->host + (gpa - r->start)) {
            fail_op(op, "gpa_to_hva of an overlay is wrong");
        }
    } else if (gpa < (uint64_t)RAM_PAGES * PG) {
        if (a != v3_mem_base(vm))
            fail_op(op, "lookup of RAM did not give the base region");
        if (rc != V3_OK || hva != (char *)v3_mem_base(vm)->host_addr + gpa)
            fail_op(op, "gpa_to_hva of RAM is wrong");
    } else {
        if (a)
            fail_op(op, "lookup of a hole returned a region");
        if (rc != V3_EUNMAPPED)
            fail_op(op, "gpa_to_hva of a hole is not V3_EUNMAPPED");
    }
}

static size_t rand_len(void)
{
    switch (rn(10)) {
    case 0: return (size_t)rn(3 * PG + 1);
    case 1: case 2: return (size_t)rn(700);
    default: return (size_t)(1 + rn(16));
    }
}

/* The model's answer to an access: the expected callback list and result.
 * For writes it also applies the effect to the model memory. */
static int64_t model_access(int write, struct v3_core *core, uint64_t gpa, size_t len,
                            const unsigned char *src, unsigned char *expect_dst, size_t *valid)
{
    uint64_t i;

    nwant = 0;
    *valid = 0;
    for (i = 0; i < len; i++)
        if (!mapped(gpa + i))
            return V3_EUNMAPPED;
    i = 0;
    while (i < len) {
        uint64_t a = gpa + i;
        int o = page_owner(a);
        struct mregion *r = o >= 0 ? &regs[o] : NULL;
        uint64_t n = 1;

        /* grow the piece while owner and (for hooks) page stay the same */
        while (i + n < len && page_owner(a + n) == o &&
               (!r || r->type == V3_REGION_SHADOW || ((a + n) >> 12) == (a >> 12)))
            n++;
        if (!r) {
            if (write)
                memcpy(model_ram + a, src + i, n);
            else
                memcpy(expect_dst + i, model_ram + a, n);
        } else if (r->type == V3_REGION_SHADOW ||
                   (r->type == V3_REGION_WRITE_HOOK && !write)) {
            if (write)
                memcpy(r->model + (a - r->start), src + i, n);
            else
                memcpy(expect_dst + i, r->model + (a - r->start), n);
        } else {
            struct rcall *c = &want[nwant < MAXCALLS ? nwant : MAXCALLS - 1];
            nwant++;
            r->calls++;
            c->write = write;
            c->core = core;
            c->gpa = a;
            c->len = (uint32_t)n;
            c->reg = r;
            if (write)
                memcpy(c->data, src + i, n);
            else
                for (uint64_t k = 0; k < n; k++)
                    expect_dst[i + k] = pattern(r, a + k);
            if (cb_fails(r, a)) {
                *valid = i;         /* bytes before the failing piece */
                return V3_ECALLBACK;
            }
            if (write && r->type == V3_REGION_WRITE_HOOK)
                memcpy(r->model + (a - r->start), src + i, n);
        }
        i += n;
    }
    *valid = len;
    return (int64_t)len;
}

static unsigned char srcbuf[4 * 4096], dstbuf[4 * 4096], expbuf[4 * 4096];

static void op_access(long op, int write)
{
    uint64_t gpa = rn((NPAGES + 2) * PG);
    size_t len = rand_len(), valid;
    struct v3_core *core = rn(2) ? core0 : NULL;
    int64_t rc, expect;

    if (rn(16) == 0)                  /* start right at a page boundary, often a region edge */
        gpa &= ~(PG - 1);
    for (size_t i = 0; i < len; i++)
        srcbuf[i] = (unsigned char)rnd();
    memset(dstbuf, 0xEE, len);
    ngot = 0;
    expect = model_access(write, core, gpa, len, srcbuf, expbuf, &valid);
    if (write)
        rc = v3_write_gpa_memory(vm, core, gpa, len, srcbuf);
    else
        rc = v3_read_gpa_memory(vm, core, gpa, len, dstbuf);
    if (rc != expect) {
        char m[160];
        snprintf(m, sizeof(m), "%s [%#llx, +%zu): got %lld, model says %lld",
                 write ? "write" : "read", (unsigned long long)gpa, len, (long long)rc,
                 (long long)expect);
        fail_op(op, m);
    }
    if (rc < 0)
        stat_err[write ? 11 : 10]++;
    if (ngot != nwant) {
        char m[128];
        snprintf(m, sizeof(m), "%s [%#llx, +%zu): %d callback calls, model says %d",
                 write ? "write" : "read", (unsigned long long)gpa, len, ngot, nwant);
        fail_op(op, m);
    }
    for (int i = 0; i < ngot && i < MAXCALLS; i++) {
        const struct rcall *g = &got[i], *w = &want[i];
        if (g->write != w->write || g->core != w->core || g->gpa != w->gpa || g->len != w->len ||
            g->reg != w->reg || (g->write && memcmp(g->data, w->data, g->len))) {
            char m[200];
            snprintf(m, sizeof(m), "callback %d: got (%s, %p, %#llx, %u), model says (%s, %p, %#llx, %u)",
                     i, g->write ? "w" : "r", (void *)g->core, (unsigned long long)g->gpa, g->len,
                     w->write ? "w" : "r", (void *)w->core, (unsigned long long)w->gpa, w->len);
            fail_op(op, m);
        }
    }
    if (!write && rc != V3_EUNMAPPED) {
        /* every byte read before any failure, including the failing piece's
         * bytes the callback filled */
        size_t check = rc >= 0 ? len : valid;
        if (memcmp(dstbuf, expbuf, check))
            fail_op(op, "bytes read differ from the model");
    }
    if (!write && rc == V3_EUNMAPPED) {
        for (size_t i = 0; i < len; i++)
            if (dstbuf[i] != 0xEE)
                fail_op(op, "a failed (unmapped) read wrote into the buffer");
    }
}

static void full_compare(long op)
{
    if (memcmp(v3_mem_base(vm)->host_addr, model_ram, (size_t)RAM_PAGES * PG))
        fail_op(op, "guest RAM differs from the model");
    for (int i = 0; i < MAXREG; i++)
        if (regs[i].live && regs[i].host && memcmp(regs[i].host, regs[i].model, regs[i].end - regs[i].start))
            fail_op(op, "backing memory differs from the model");
    /* the region list, in order, equals the model's */
    {
        struct v3_mem_region *r = v3_mem_first(vm);
        size_t n = 0;
        for (int p = 0; p < NPAGES; p++) {
            int o = owner[p];
            if (o < 0 || regs[o].start != (uint64_t)p * PG)
                continue;
            if (!r || r->guest_start != regs[o].start || r->guest_end != regs[o].end)
                fail_op(op, "region list differs from the model");
            r = v3_mem_next(vm, r);
            n++;
        }
        if (r || n != v3_mem_region_count(vm))
            fail_op(op, "region count differs from the model");
    }
}

static void test_model(void **state)
{
    long op;

    (void)state;
    rs = opt_seed | 1;
    memset(regs, 0, sizeof(regs));
    for (int p = 0; p < NPAGES; p++)
        owner[p] = -1;
    vm = mm_vm((uint64_t)RAM_PAGES * PG);
    core0 = v3_get_core(vm, 0);
    model_ram = calloc(RAM_PAGES, PG);
    memset(&lcache, 0, sizeof(lcache));
    lis_n = 0;
    assert_int_equal(v3_mem_add_listener(vm, listener, NULL), V3_OK);
    /* seed RAM with random bytes through the API */
    for (uint64_t a = 0; a < (uint64_t)RAM_PAGES * PG; a += sizeof(srcbuf)) {
        for (size_t i = 0; i < sizeof(srcbuf); i++)
            srcbuf[i] = (unsigned char)rnd();
        assert_int_equal(v3_write_gpa_memory(vm, NULL, a, sizeof(srcbuf), srcbuf), sizeof(srcbuf));
        memcpy(model_ram + a, srcbuf, sizeof(srcbuf));
    }

    for (op = 0; op < opt_cases; op++) {
        unsigned k = (unsigned)rn(100);

        if (k < 5)        { op_add(op, V3_REGION_SHADOW); stat_ops[0]++; }
        else if (k < 10)  { op_add(op, V3_REGION_WRITE_HOOK); stat_ops[1]++; }
        else if (k < 15)  { op_add(op, V3_REGION_FULL_HOOK); stat_ops[2]++; }
        else if (k < 22)  { op_remove(op, 1); stat_ops[3]++; }
        else if (k < 28)  { op_remove(op, 0); stat_ops[4]++; }
        else if (k < 45)  { op_lookup(op); stat_ops[5]++; }
        else if (k < 72)  { op_access(op, 0); stat_ops[6]++; }
        else              { op_access(op, 1); stat_ops[7]++; }
        if (op % 1000 == 999)
            full_compare(op);
        if (opt_verbose && op % 50000 == 0)
            v3_print_shadow_map(vm, V3_LOG_ERROR);
    }
    full_compare(op);
    printf("model: %ld operations: add shadow %ld, hook write %ld, hook full %ld, unhook %ld, "
           "delete %ld, lookup %ld, read %ld, write %ld; %zu regions at the end\n",
           opt_cases, stat_ops[0], stat_ops[1], stat_ops[2], stat_ops[3], stat_ops[4],
           stat_ops[5], stat_ops[6], stat_ops[7], v3_mem_region_count(vm));
    printf("model: failures checked: add %ld/%ld/%ld, unhook %ld, delete %ld, read %ld, write %ld\n",
           stat_err[1], stat_err[2], stat_err[3], stat_err[9], stat_err[8], stat_err[10], stat_err[11]);
    v3_free_vm(vm);
    for (int i = 0; i < MAXREG; i++) {
        if (regs[i].live) {
            free(regs[i].host);
            free(regs[i].model);
            regs[i].live = 0;
        }
    }
    free(model_ram);
    assert_int_equal(v3t_outstanding(), 0);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            opt_cases = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            opt_seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--verbose"))
            opt_verbose = 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
