/* SPDX-License-Identifier: MIT */
/*
 * Translation cost, side by side in one run:
 *   - a plain host pointer dereference (the baseline),
 *   - a software-TLB hit (v3_tlb_lookup + dereference),
 *   - a TLB miss with a 4-level walk (two linear pages that share a TLB
 *     slot, accessed alternately: every access walks and refills),
 *   - the same with 2 MiB pages (3-level walk),
 * all in the same loop shape, reported in ns per access and as a ratio to
 * the baseline; then the cost of invalidating the TLB for a memory-map
 * change with 64 and 4096 cached entries (the listener's scan, and a whole
 * v3_add_shadow_mem + v3_delete_shadow_region pair).
 *
 * Usage: bench_paging [iterations [rounds]]   (default 20000000 15)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <v3/v3.h>
#include <v3/backend.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include "paging/tlb.h"

#define MEM (64ull << 20)

static struct v3_vm *vm;
static struct v3_core *core;
static uint8_t *ram;
static uint64_t next_table = 0x100000, root;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);    /* CPU time: robust to a loaded machine */
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t rd64(uint64_t gpa) { uint64_t v; memcpy(&v, ram + gpa, 8); return v; }
static void wr64(uint64_t gpa, uint64_t v) { memcpy(ram + gpa, &v, 8); }

static uint64_t new_table(void)
{
    uint64_t p = next_table;
    next_table += 0x1000;
    memset(ram + p, 0, 0x1000);
    return p;
}

/* Map la -> gpa with a 2^shift page, accessed and dirty already set. */
static void map(uint64_t la, uint64_t gpa, unsigned shift)
{
    uint64_t table = root;
    for (unsigned L = 4; L >= 1; L--) {
        unsigned s = 12 + 9 * (L - 1);
        uint64_t ea = table + ((la >> s) & 511) * 8, e = rd64(ea);
        if (s == shift) {
            wr64(ea, gpa | 0x63 | (L > 1 ? 0x80 : 0));
            return;
        }
        if (!(e & 1)) {
            e = new_table() | 0x23;
            wr64(ea, e);
        }
        table = e & 0x000ffffffffff000ull;
    }
}

static const struct v3_backend_ops bench_backend = { .name = "bench" };

static void setup(void)
{
    struct v3_vm_config cfg;
    void *p;
    int err;

    if (v3_init(v3_posix_os_hooks()) != V3_OK) {
        fprintf(stderr, "v3_init failed\n");
        exit(1);
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MEM;
    cfg.backend_ops = &bench_backend;
    vm = v3_create_vm(&cfg, &err);
    if (!vm) {
        fprintf(stderr, "v3_create_vm: %s\n", v3_strerror(err));
        exit(1);
    }
    core = v3_get_core(vm, 0);
    v3_gpa_to_hva(vm, 0, &p);
    ram = p;
    root = new_table();
    core->cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_WP;
    core->cr4 = V3_CR4_PAE | V3_CR4_PGE;
    core->efer = V3_EFER_LME | V3_EFER_LMA | V3_EFER_NXE;
    core->cr3 = root;
    core->cpl = 0;
    core->rflags = 2;
}

/* The access loop: NPAGES linear pages, one 8-byte read per iteration. */
#define NPAGES 2
static uint64_t las[NPAGES];
static uint64_t hostoff[NPAGES];      /* host address - linear address, for the baseline */

static inline uint64_t slow_read(uint64_t la)
{
    void *hva;
    uint64_t gpa, v;
    struct v3_exception exc;
    if (v3_tlb_fill(core, la, V3_ACCESS_READ, &hva, &gpa, &exc) < 0 || !hva)
        abort();
    memcpy(&v, hva, 8);
    return v;
}

__attribute__((noinline)) static double run_plain(long n)
{
    uint64_t sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        unsigned k = i & (NPAGES - 1);
        uint64_t la = las[k] + ((i * 8) & 0xff8);
        sum += *(volatile uint64_t *)(uintptr_t)(la + hostoff[k]);
    }
    __asm__ volatile("" :: "r"(sum));
    return (now_ns() - t0) / n;
}

__attribute__((noinline)) static double run_tlb(long n)
{
    uint64_t sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        unsigned k = i & (NPAGES - 1);
        uint64_t la = las[k] + ((i * 8) & 0xff8);
        uint64_t *p = v3_tlb_lookup(core, la, V3_ACCESS_READ);
        if (__builtin_expect(p != NULL, 1))
            sum += *(volatile uint64_t *)p;
        else
            sum += slow_read(la);
    }
    __asm__ volatile("" :: "r"(sum));
    return (now_ns() - t0) / n;
}


/* Cost of one listener call (range hitting the cached bounds, dropping nothing)
 * and of one add + delete of a one-page shadow region, with @p entries cached. */
static void inval_bench(unsigned entries, double *scan_ns, double *change_ns, unsigned *left)
{
    static uint8_t page[4096] __attribute__((aligned(4096)));
    const uint64_t la0 = 0x4000000000ull, g0 = 0x1000000;
    uint64_t gap = g0 + 0x1000;        /* never cached */
    const long reps = 2000;
    double t0;

    v3_tlb_flush_all(core);
    for (unsigned i = 0; i < entries; i++)
        if (!v3_tlb_lookup(core, la0 + i * 0x1000ull, V3_ACCESS_READ))
            slow_read(la0 + i * 0x1000ull);
    if (v3_tlb_count(core) != entries) {
        fprintf(stderr, "expected %u cached entries, have %u\n", entries, v3_tlb_count(core));
        exit(1);
    }
    t0 = now_ns();
    for (long r = 0; r < reps; r++)
        v3_tlb_invalidate_gpa_range(core, gap, gap + 0x1000);
    *scan_ns = (now_ns() - t0) / reps;
    t0 = now_ns();
    for (long r = 0; r < reps; r++) {
        if (v3_add_shadow_mem(vm, gap, gap + 0x1000, page) < 0 || v3_delete_shadow_region(vm, gap) < 0)
            abort();
    }
    *change_ns = (now_ns() - t0) / reps;
    *left = v3_tlb_count(core);
}

/* The four translation cases, measured in interleaved rounds so that each
 * sees the same machine conditions; the best round of each is kept. */
struct tcase {
    uint64_t la[NPAGES], off[NPAGES];
    double best;
    long div;                 /* iterations divisor (misses are slow) */
};

static void select_case(const struct tcase *c)
{
    memcpy(las, c->la, sizeof(las));
    memcpy(hostoff, c->off, sizeof(hostoff));
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 15;
    struct tcase plain = { .div = 1 }, hit = { .div = 1 }, miss4 = { .div = 20 }, miss2 = { .div = 20 };
    double scan64, chg64, scan4k, chg4k, chg0, scan0;
    unsigned left64, left4k, left0;

    setup();

    /* 4 KiB pages: two linear pages sharing a TLB slot (every access misses) */
    miss4.la[0] = 0x7f0000000000ull;
    miss4.la[1] = miss4.la[0] + (uint64_t)V3_TLB_SIZE * 4096;
    map(miss4.la[0], 0x200000, 12);
    map(miss4.la[1], 0x300000, 12);
    /* hits: two pages in different slots, same memory as the plain loop */
    hit.la[0] = miss4.la[0];
    hit.la[1] = miss4.la[0] + 4096;
    map(hit.la[1], 0x300000, 12);
    /* 2 MiB pages sharing a slot */
    miss2.la[0] = 0x7e0000000000ull;
    miss2.la[1] = miss2.la[0] + (uint64_t)V3_TLB_SIZE * 4096 * 2;
    map(miss2.la[0], 0x400000, 21);
    map(miss2.la[1], 0x600000, 21);
    for (int k = 0; k < NPAGES; k++) {
        uint64_t gpa;
        v3_gva_to_gpa(core, hit.la[k], V3_ACCESS_READ, &gpa, NULL);
        hit.off[k] = (uint64_t)(uintptr_t)(ram + gpa) - hit.la[k];
    }
    plain = hit;
    plain.div = 1;
    plain.best = hit.best = miss4.best = miss2.best = 1e30;
    for (int r = 0; r < rounds; r++) {
        struct { struct tcase *c; double (*fn)(long); } order[] = {
            { &plain, run_plain }, { &hit, run_tlb }, { &miss4, run_tlb }, { &miss2, run_tlb },
        };
        for (unsigned i = 0; i < 4; i++) {
            double v;
            select_case(order[i].c);
            v = order[i].fn(n / order[i].c->div);
            if (v < order[i].c->best)
                order[i].c->best = v;
        }
    }

    /* invalidation: cached pages at g0 + 2*i pages (the odd pages stay uncached) */
    for (unsigned i = 0; i < 4096; i++)
        map(0x4000000000ull + i * 0x1000ull, 0x1000000 + i * 0x2000ull, 12);
    inval_bench(0, &scan0, &chg0, &left0);
    inval_bench(64, &scan64, &chg64, &left64);
    inval_bench(4096, &scan4k, &chg4k, &left4k);

    printf("translation (%ld iterations, best of %d interleaved rounds, thread CPU time)\n", n, rounds);
    printf("                                              ns/access   x plain\n");
    printf("  plain host dereference                      %8.2f   %7.2f\n", plain.best, 1.0);
    printf("  TLB hit (v3_tlb_lookup)                     %8.2f   %7.2f\n", hit.best, hit.best / plain.best);
    printf("  TLB miss, 4-level walk, 4 KiB page          %8.2f   %7.2f\n", miss4.best, miss4.best / plain.best);
    printf("  TLB miss, 3-level walk, 2 MiB page          %8.2f   %7.2f\n", miss2.best, miss2.best / plain.best);
    printf("\nmemory-map change with N cached entries      listener ns   add+delete region ns   entries kept\n");
    printf("  N = 0                                      %9.1f   %12.1f   %12u\n", scan0, chg0, left0);
    printf("  N = 64                                     %9.1f   %12.1f   %12u\n", scan64, chg64, left64);
    printf("  N = 4096                                   %9.1f   %12.1f   %12u\n", scan4k, chg4k, left4k);
    v3_free_vm(vm);
    return 0;
}
