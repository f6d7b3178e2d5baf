/* SPDX-License-Identifier: MIT */
/*
 * Software CPU benchmark: the same 64-bit guest kernels (guest.asm) run on
 * v3vmm's software CPU and on Unicorn 2 in one run, with the ratio of
 * their speeds.  Options: --only NAME, --scale F (iterations), --rounds N
 * (measured runs of each engine, interleaved; the best of each is shown,
 * default 5), --v3-only (for valgrind --tool=callgrind: host instructions
 * per guest instruction).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>
#include <v3/v3.h>
#include <v3/cpu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/vm.h>

#define LA      0x20000000ull
#define GPA     0x200000ull
#define CODE    0x20001000ull
#define HOOK_LA 0x20180000ull
#define STACK   0x20170000ull

struct kernel {
    const char *name;
    uint64_t iters;
    const char *unit;        /* what one "op" is, for the rate column */
    double ops_per_iter;
};

static const struct kernel kernels[] = {
    { "alu",      5000000, "insn", 0 },
    { "ram",      2000000, "store", 1 },
    { "stores",   3000000, "store", 1 },
    { "callret",  2000000, "call", 1 },
    { "repmovsb", 2000,    "MB", 4096.0 / 1e6 },
    { "hooked",   1000000, "callback", 1 },
    { "crc",      65536,   "byte", 1 },
    { "sieve",    5,       "sieve", 1 },
    { "nops",     3000000, "insn", 0 },
};
#define NK (sizeof(kernels) / sizeof(kernels[0]))

static uint8_t image[4096];
static size_t image_len;
static uint64_t hdr[2 * NK + 2];
static long hook_calls;

/* thread CPU time: both engines run on this thread, and the figure is less
 * disturbed by other load on a shared machine than wall-clock time */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void set_inputs(uint64_t r[16], uint64_t iters)
{
    memset(r, 0, 16 * sizeof(uint64_t));
    r[1] = iters;                    /* rcx */
    r[3] = 7;                        /* rbx */
    r[4] = STACK;                    /* rsp */
    r[6] = 0x20060000;               /* rsi: data / CRC buffer */
    r[7] = 0x20020000;               /* rdi: store buffer / sieve */
    r[8] = HOOK_LA;
    r[9] = 0x20030000;               /* rep movsb source */
    r[10] = 0x20040000;              /* rep movsb destination */
}

/* ------------------------------------------------------------------ v3 */

static int hk_read(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *p)
{
    (void)c; (void)gpa; (void)p;
    memset(dst, 0, len);
    hook_calls++;
    return 0;
}
static int hk_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *p)
{
    (void)c; (void)gpa; (void)src; (void)len; (void)p;
    hook_calls++;
    return 0;
}

struct v3g { struct v3_vm *vm; struct v3_core *core; uint8_t *ram; };

static void v3_setup(struct v3g *g)
{
    struct v3_vm_config cfg;
    void *hva;
    uint64_t *pt;
    struct v3_core *c;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 8u << 20;
    cfg.backend_ops = &v3_emu_backend;
    g->vm = v3_create_vm(&cfg, NULL);
    if (!g->vm) { fprintf(stderr, "v3_create_vm failed\n"); exit(1); }
    g->core = c = v3_get_core(g->vm, 0);
    v3_gpa_to_hva(g->vm, 0, &hva);
    g->ram = hva;
    pt = (uint64_t *)(g->ram + 0x1000); pt[0] = 0x2000 | 3;
    pt = (uint64_t *)(g->ram + 0x2000); pt[0] = 0x3000 | 3;
    pt = (uint64_t *)(g->ram + 0x3000); pt[(LA >> 21) & 511] = GPA | 0x83;
    c->cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_ET | V3_CR0_NE | V3_CR0_MP;
    c->cr4 = V3_CR4_PAE | V3_CR4_OSFXSR;
    c->cr3 = 0x1000;
    c->efer = V3_EFER_LME | V3_EFER_LMA;
    c->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb | V3_SEG_L;
    c->seg[V3_CS].base = 0;
    for (int s = 0; s < 6; s++) {
        if (s == V3_CS) continue;
        c->seg[s].attrib = V3_SEG_P | V3_SEG_S | 0x3 | V3_SEG_DB;
        c->seg[s].base = 0;
        c->seg[s].limit = 0xffffffff;
    }
    v3_core_update_mode(c);
    v3_tlb_flush_all(c);
    memcpy(g->ram + GPA + (CODE - LA), image, image_len);
    if (v3_hook_full_mem(g->vm, GPA + (HOOK_LA - LA), GPA + (HOOK_LA - LA) + 4096, hk_read, hk_write, NULL)) {
        fprintf(stderr, "hook failed\n");
        exit(1);
    }
}

static double v3_run(struct v3g *g, unsigned k, uint64_t iters, uint64_t *insns, uint64_t *rax)
{
    struct v3_core *c = g->core;
    struct v3_exit ex;
    uint64_t start = c->insn_count;
    double t0, t1;
    set_inputs(c->gpr, iters);
    c->rip = hdr[2 * k];
    c->halted = 0;                   /* the previous kernel ended in HLT */
    v3_core_set_rflags(c, 2);
    t0 = now();
    v3_emu_backend.run(c, &ex);
    t1 = now();
    if (ex.insn_rip != hdr[2 * k + 1]) {
        fprintf(stderr, "v3: kernel %s stopped at %#llx (exit %d, code %d)\n", kernels[k].name,
                (unsigned long long)ex.insn_rip, ex.reason, ex.error.code);
        exit(1);
    }
    *insns = c->insn_count - start - (ex.reason == V3_EXIT_HLT);
    *rax = c->gpr[0];
    return t1 - t0;
}

/* ------------------------------------------------------------------ Unicorn */

static uint64_t uc_hr(uc_engine *uc, uint64_t off, unsigned size, void *p)
{
    (void)uc; (void)off; (void)size; (void)p;
    hook_calls++;
    return 0;
}
static void uc_hw(uc_engine *uc, uint64_t off, unsigned size, uint64_t v, void *p)
{
    (void)uc; (void)off; (void)size; (void)v; (void)p;
    hook_calls++;
}

static uc_engine *uc_setup(void)
{
    uc_engine *uc;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc)) { fprintf(stderr, "uc_open failed\n"); exit(1); }
    uc_mem_map(uc, LA, 0x180000, UC_PROT_ALL);
    uc_mmio_map(uc, HOOK_LA, 0x1000, uc_hr, NULL, uc_hw, NULL);
    uc_mem_write(uc, CODE, image, image_len);
    return uc;
}

static double uc_run(uc_engine *uc, unsigned k, uint64_t iters, uint64_t *rax)
{
    static const int regs[16] = { UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
        UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8, UC_X86_REG_R9,
        UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15 };
    uint64_t r[16], fl = 2;
    double t0, t1;
    uc_err e;
    set_inputs(r, iters);
    for (int i = 0; i < 16; i++)
        uc_reg_write(uc, regs[i], &r[i]);
    uc_reg_write(uc, UC_X86_REG_RFLAGS, &fl);
    t0 = now();
    e = uc_emu_start(uc, hdr[2 * k], hdr[2 * k + 1], 0, 0);
    t1 = now();
    if (e) {
        fprintf(stderr, "unicorn: kernel %s: %s\n", kernels[k].name, uc_strerror(e));
        exit(1);
    }
    uc_reg_read(uc, UC_X86_REG_RAX, rax);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    double scale = 1.0;
    int v3_only = 0, rounds = 5;
    FILE *f;
    struct v3g g;
    uc_engine *uc = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc) scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--v3-only")) v3_only = 1;
        else { fprintf(stderr, "usage: %s [--only NAME] [--scale F] [--rounds N] [--v3-only]\n", argv[0]); return 2; }
    }
    f = fopen(V3_BENCH_GUEST, "rb");
    if (!f) { perror(V3_BENCH_GUEST); return 1; }
    image_len = fread(image, 1, sizeof(image), f);
    fclose(f);
    memcpy(hdr, image, sizeof(hdr));
    v3_init(v3_posix_os_hooks());
    v3_setup(&g);
    if (!v3_only)
        uc = uc_setup();

    printf("%-9s %12s %10s %9s %10s %9s %8s  %s\n", "kernel", "guest insns", "v3 ms", "v3 MIPS",
           "unicorn ms", "uc MIPS", "v3/uc", "rate (v3 | unicorn)");
    for (unsigned k = 0; k < NK; k++) {
        uint64_t iters = (uint64_t)(kernels[k].iters * scale), insns, r1, r2 = 0;
        double tv, tu = 0, ops;
        long hc;
        if (only && strcmp(only, kernels[k].name))
            continue;
        if (iters == 0) iters = 1;
        /* warm-up (decode cache / translation, Unicorn's translation), then
           the measured runs, v3 and Unicorn alternating; best of each */
        v3_run(&g, k, iters < 1000 ? iters : 1000, &insns, &r1);
        if (!v3_only)
            uc_run(uc, k, iters < 1000 ? iters : 1000, &r2);
        tv = tu = 1e30;
        for (int rd = 0; rd < (rounds > 0 ? rounds : 1); rd++) {
            double t;
            hook_calls = 0;
            t = v3_run(&g, k, iters, &insns, &r1);
            hc = hook_calls;
            if (t < tv)
                tv = t;
            if (!v3_only) {
                t = uc_run(uc, k, iters, &r2);
                if (t < tu)
                    tu = t;
            }
        }
        ops = kernels[k].ops_per_iter * (double)iters;
        if (!strcmp(kernels[k].name, "crc") || !strcmp(kernels[k].name, "sieve"))
            ops = (double)iters;
        if (!v3_only) {
            if (r1 != r2 && strcmp(kernels[k].name, "hooked"))
                fprintf(stderr, "warning: %s: results differ (v3 %#llx, unicorn %#llx)\n", kernels[k].name,
                        (unsigned long long)r1, (unsigned long long)r2);
        }
        if (!kernels[k].ops_per_iter)
            ops = (double)insns;
        if (v3_only)
            printf("%-9s %12llu %10.1f %9.1f %10s %9s %8s  %.3g %s/s\n", kernels[k].name,
                   (unsigned long long)insns, tv * 1e3, insns / tv / 1e6, "-", "-", "-", ops / tv,
                   kernels[k].unit);
        else
            printf("%-9s %12llu %10.1f %9.1f %10.1f %9.1f %7.2fx  %.3g | %.3g %s/s%s\n", kernels[k].name,
                   (unsigned long long)insns, tv * 1e3, insns / tv / 1e6, tu * 1e3, insns / tu / 1e6, tu / tv,
                   ops / tv, ops / tu, kernels[k].unit, hc ? "" : "");
    }
    if (uc)
        uc_close(uc);
    v3_free_vm(g.vm);
    return 0;
}
