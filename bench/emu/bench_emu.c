/* SPDX-License-Identifier: MIT */
/*
 * Cost per hooked access: v3vmm's fault path (v3_handle_mem_fault: fetch,
 * Zydis decode, execute, callback) against Unicorn 2's uc_mmio_map callbacks
 * running the same guest instructions in a loop.  64-bit guest code.
 *
 *   bench_emu [--iters N] [--rounds R]
 *
 * Rows: a 4-byte MOV store, a 4-byte MOV load, and REP MOVSB of 4 KiB from
 * RAM into the hooked region (cost per byte access; one callback per byte
 * in both).  Unicorn's figure includes its loop instructions (DEC/JNZ,
 * compiled to host code; negligible next to the callback).  Both sides
 * check that they made exactly the expected number of callbacks.
 *
 * BENCH_ONLY=<row> runs one row (for callgrind), BENCH_TRACE=1 prints each
 * measurement.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>
#include <v3/v3.h>
#include <v3/backend.h>
#include <v3/emu.h>
#include <v3/paging.h>

#define MMIO  0x10000000ull
#define RAMW  0x10010000ull   /* RAM source for REP MOVSB */
#define CODE  0x20000000ull

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);   /* CPU time: robust on a loaded machine */
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile uint64_t sink;
static uint64_t ncalls;

/* ---------------------------------------------------------------- v3vmm */
static int v_read(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *p)
{
    (void)c; (void)p;
    ncalls++;
    memset(dst, (int)(gpa & 0xff), len);
    return 0;
}
static int v_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *p)
{
    (void)c; (void)p; (void)gpa;
    ncalls++;
    sink += ((const uint8_t *)src)[0] + len;
    return 0;
}
static int nb_init(struct v3_core *core) { (void)core; return 0; }
static void nb_free(struct v3_core *core) { (void)core; }
static int nb_run(struct v3_core *core, struct v3_exit *e) { (void)core; (void)e; return V3_EUNSUPPORTED; }
static int nb_inject(struct v3_core *core, const struct v3_event *ev) { (void)core; (void)ev; return V3_EUNSUPPORTED; }
static const struct v3_backend_ops null_backend = {
    .name = "bench-null", .init_core = nb_init, .free_core = nb_free, .run = nb_run, .inject = nb_inject,
};

static struct v3_vm *vm;
static struct v3_core *core;
static uint8_t *codepage, *rampage;

static void v3_setup(void)
{
    struct v3_vm_config cfg = { .mem_size = 1 << 20, .num_cores = 1, .backend_ops = &null_backend };
    int err;
    if (v3_init(v3_posix_os_hooks()) < 0 || !(vm = v3_create_vm(&cfg, &err))) {
        fprintf(stderr, "cannot create a VM\n");
        exit(1);
    }
    core = v3_get_core(vm, 0);
    codepage = aligned_alloc(4096, 4096);
    rampage = aligned_alloc(4096, 2 * 4096);
    memset(codepage, 0x90, 4096);
    memset(rampage, 0xab, 2 * 4096);
    if (v3_add_shadow_mem(vm, CODE, CODE + 4096, codepage) < 0 ||
        v3_add_shadow_mem(vm, RAMW, RAMW + 2 * 4096, rampage) < 0 ||
        v3_hook_full_mem(vm, MMIO, MMIO + 2 * 4096, v_read, v_write, NULL) < 0) {
        fprintf(stderr, "cannot map\n");
        exit(1);
    }
    /* identity map of the first GiB with 2 MiB pages (BENCH_1G=1: one 1 GiB page) */
    uint64_t pml4e = 0x2000 | 0x7, pdpt[512], pd[512];
    int one_g = getenv("BENCH_1G") != NULL;
    for (int i = 0; i < 512; i++) {
        pdpt[i] = one_g ? (((uint64_t)i << 30) | 0x87) : 0;
        pd[i] = ((uint64_t)i << 21) | 0x87;
    }
    if (!one_g)
        pdpt[0] = 0x3000 | 0x7;
    v3_write_gpa_memory(vm, NULL, 0x1000, 8, &pml4e);
    v3_write_gpa_memory(vm, NULL, 0x2000, sizeof(pdpt), pdpt);
    v3_write_gpa_memory(vm, NULL, 0x3000, sizeof(pd), pd);
    core->cr3 = 0x1000;
    core->cr4 = V3_CR4_PAE | V3_CR4_OSFXSR;
    core->efer = V3_EFER_LME | V3_EFER_LMA;
    core->cr0 = V3_CR0_PE | V3_CR0_ET | V3_CR0_NE | V3_CR0_PG;
    for (int s = 0; s < 6; s++) {
        core->seg[s].base = 0;
        core->seg[s].limit = 0xffffffff;
        core->seg[s].attrib = V3_SEG_P | V3_SEG_S | 0x3 | V3_SEG_DB | V3_SEG_G;
    }
    core->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb | V3_SEG_L | V3_SEG_G;
    v3_core_update_mode(core);
}

/* ns per access through the fault path for instruction @p code */
static double v3_bench(const uint8_t *code, int len, unsigned access, long iters, int rep)
{
    struct v3_emu_result res;
    memcpy(codepage, code, (size_t)len);
    uint64_t calls0 = ncalls;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        core->rip = CODE;
        core->gpr[V3_RBX] = MMIO + 0x100;
        core->gpr[V3_RAX] = (uint64_t)i;
        if (rep) {
            core->gpr[V3_RSI] = RAMW;
            core->gpr[V3_RDI] = MMIO;
            core->gpr[V3_RCX] = 4096;
        }
        do {
            if (v3_handle_mem_fault(core, MMIO + 0x100, MMIO + 0x100, access, &res) < 0) {
                fprintf(stderr, "fault path failed: status %d error %d\n", res.status, res.error);
                exit(1);
            }
        } while (core->rip == CODE);
    }
    double t = now() - t0;
    uint64_t calls = ncalls - calls0;
    if (getenv("BENCH_TRACE"))
        fprintf(stderr, "  v3: %llu callbacks in %.3f s\n", (unsigned long long)calls, t);
    if (calls != (uint64_t)iters * (rep ? 4096 : 1)) {
        fprintf(stderr, "v3: %llu callbacks, expected %llu\n", (unsigned long long)calls,
                (unsigned long long)iters * (rep ? 4096 : 1));
        exit(1);
    }
    return t * 1e9 / (double)(calls ? calls : 1);
}

/* ---------------------------------------------------------------- Unicorn */
static uint64_t u_read(uc_engine *uc, uint64_t off, unsigned size, void *p)
{
    (void)uc; (void)p; (void)size;
    ncalls++;
    return off & 0xff;
}
static void u_write(uc_engine *uc, uint64_t off, unsigned size, uint64_t val, void *p)
{
    (void)uc; (void)p; (void)off;
    ncalls++;
    sink += val + size;
}

static uc_engine *uc;

static bool u_unmapped(uc_engine *e, uc_mem_type t, uint64_t addr, int size, int64_t val, void *p)
{
    (void)e; (void)p; (void)val;
    fprintf(stderr, "unicorn: unmapped access type %d at %#llx size %d\n", (int)t, (unsigned long long)addr, size);
    return false;
}

static void uc_setup(void)
{
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK ||
        uc_mem_map(uc, CODE, 4096, UC_PROT_ALL) != UC_ERR_OK ||
        uc_mem_map(uc, RAMW, 2 * 4096, UC_PROT_ALL) != UC_ERR_OK ||
        uc_mmio_map(uc, MMIO, 2 * 4096, u_read, NULL, u_write, NULL) != UC_ERR_OK) {
        fprintf(stderr, "unicorn setup failed\n");
        exit(1);
    }
    uc_hook h;
    uc_hook_add(uc, &h, UC_HOOK_MEM_UNMAPPED, (void *)u_unmapped, NULL, 1, 0);
}

/* Guest loop: body; dec r12; jnz body (r12 = iters). ns per callback. */
static double uc_bench(const uint8_t *body, int blen, long iters, int rep)
{
    uint8_t code[64];
    int n = 0;
    memcpy(code, body, (size_t)blen);
    n = blen;
    if (rep) {
        /* re-arm RSI/RDI/RCX before the REP body: mov esi, imm; mov edi, imm; mov ecx, 4096 */
        uint8_t pre[15] = { 0xbe, 0, 0, 0, 0, 0xbf, 0, 0, 0, 0, 0xb9, 0, 0x10, 0, 0 };
        uint32_t s = (uint32_t)RAMW, d = (uint32_t)MMIO;
        memcpy(pre + 1, &s, 4);
        memcpy(pre + 6, &d, 4);
        memmove(code + 15, code, (size_t)n);
        memcpy(code, pre, 15);
        n += 15;
    }
    uint8_t tail[] = { 0x49, 0xff, 0xcc, 0x75, 0 };      /* dec r12; jnz start */
    tail[4] = (uint8_t)(-(n + 5));
    memcpy(code + n, tail, sizeof(tail));
    n += (int)sizeof(tail);
    code[n] = 0xf4;                                       /* hlt: a sure stop after the loop */
    uc_mem_write(uc, CODE, code, (size_t)n + 1);
    /* Unicorn 2.0.1 keeps blocks translated from the old bytes after
     * uc_mem_write(): without this, a later row would run the previous
     * row's loop */
    uc_ctl_remove_cache(uc, CODE, CODE + 4096);
    uint64_t rbx = MMIO + 0x100, r12 = (uint64_t)iters, rax = 0x1234;
    uc_reg_write(uc, UC_X86_REG_RBX, &rbx);
    uc_reg_write(uc, UC_X86_REG_R12, &r12);
    uc_reg_write(uc, UC_X86_REG_RAX, &rax);
    uint64_t calls0 = ncalls;
    double t0 = now();
    uc_err e = uc_emu_start(uc, CODE, CODE + (uint64_t)n, 0, 0);
    double t = now() - t0;
    if (e != UC_ERR_OK) {
        uint64_t rip = 0; uc_reg_read(uc, UC_X86_REG_RIP, &rip);
        fprintf(stderr, "unicorn: %s at rip %#llx\n", uc_strerror(e), (unsigned long long)rip);
        exit(1);
    }
    uint64_t calls = ncalls - calls0;
    if (getenv("BENCH_TRACE"))
        fprintf(stderr, "  unicorn: %llu callbacks in %.3f s\n", (unsigned long long)calls, t);
    if (calls != (uint64_t)iters * (rep ? 4096 : 1)) {
        fprintf(stderr, "unicorn: %llu callbacks, expected %llu\n", (unsigned long long)calls,
                (unsigned long long)iters * (rep ? 4096 : 1));
        exit(1);
    }
    return t * 1e9 / (double)(calls ? calls : 1);
}

int main(int argc, char **argv)
{
    long iters = 100000;
    int rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = strtol(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--iters N] [--rounds R]\n", argv[0]);
            return 2;
        }
    }
    v3_setup();
    uc_setup();

    static const uint8_t st[] = { 0x89, 0x03 };            /* mov [rbx], eax */
    static const uint8_t ld[] = { 0x8b, 0x03 };            /* mov eax, [rbx] */
    static const uint8_t rm[] = { 0xf3, 0xa4 };            /* rep movsb */
    struct row { const char *name; const uint8_t *code; unsigned access; int rep; long it; double v, u; } rows[] = {
        { "mov [mmio], eax (4-byte store)", st, V3_ACCESS_WRITE, 0, iters, 1e99, 1e99 },
        { "mov eax, [mmio] (4-byte load)", ld, V3_ACCESS_READ, 0, iters, 1e99, 1e99 },
        { "rep movsb 4 KiB RAM -> mmio", rm, V3_ACCESS_WRITE, 1, iters / 512 ? iters / 512 : 1, 1e99, 1e99 },
    };
    /* interleaved rounds, best of each */
    for (int r = 0; r < rounds; r++)
        for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            if (getenv("BENCH_ONLY") && (unsigned)atoi(getenv("BENCH_ONLY")) != i)
                continue;            /* one row, e.g. under callgrind */
            double v = v3_bench(rows[i].code, 2, rows[i].access, rows[i].it, rows[i].rep);
            double u = uc_bench(rows[i].code, 2, rows[i].it, rows[i].rep);
            if (getenv("BENCH_TRACE")) fprintf(stderr, "row %u: v3 %.1f uc %.1f\n", i, v, u);
            if (v < rows[i].v) rows[i].v = v;
            if (u < rows[i].u) rows[i].u = u;
        }
    printf("hooked access cost, ns per callback (best of %d rounds)\n", rounds);
    printf("%-32s %14s %14s %12s\n", "access", "v3 fault path", "unicorn mmio", "v3/unicorn");
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        printf("%-32s %14.1f %14.1f %11.2fx\n", rows[i].name, rows[i].v, rows[i].u, rows[i].v / rows[i].u);
    v3_free_vm(vm);
    uc_close(uc);
    return 0;
}
