/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the hooked-access emulator: random instruction bytes at
 * RIP, random register state, random region kinds (RAM, write hook, full
 * hook, unmapped) for a 4-page data window, 16-, 32- and 64-bit code, entry
 * through v3_emulate_one() or v3_handle_mem_fault().  Invariants: no crash,
 * no sanitizer report, no hang, every callback call lies inside a hooked
 * page of the right kind without crossing a page, and the result record is
 * well formed.
 *
 * Input layout (missing bytes read as zero):
 *   [0] mode (16/32/64)      [1] kinds of the 4 window pages (2 bits each)
 *   [2] entry/callback flags [3..4] RFLAGS low bits   [5] RIP offset
 *   [8..135]   16 GPRs (8 bytes each; see reg_value() for the biasing)
 *   [136..151] FS and GS bases   [152..159] fault address
 *   [160..]    instruction bytes (at most 32 used)
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <v3/v3.h>
#include <v3/backend.h>
#include <v3/emu.h>
#include <v3/paging.h>
#include "fuzz_emu.h"

#define HDR 160
#define WIN_PAGES 4
enum { K_RAM, K_WRITE, K_FULL, K_NONE };

struct fvm {
    struct v3_vm *vm;
    struct v3_core *core;
    int mode;
    int kind[WIN_PAGES];
    uint64_t win, code;
    uint8_t *winmem;          /* backing for RAM / write-hook pages */
    uint8_t *codemem;
    unsigned flags;           /* callback behaviour for the current input */
};

static struct fvm *cache[3][256];

static void die(const char *what, struct fvm *f, uint64_t gpa, uint32_t len)
{
    fprintf(stderr, "fuzz_emu: %s: gpa %#llx len %u (mode %d kinds %d/%d/%d/%d)\n", what,
            (unsigned long long)gpa, len, f->mode, f->kind[0], f->kind[1], f->kind[2], f->kind[3]);
    abort();
}

static int win_page(struct fvm *f, uint64_t gpa)
{
    if (gpa < f->win || gpa >= f->win + WIN_PAGES * 4096ull)
        return -1;
    return (int)((gpa - f->win) >> 12);
}

static void check_call(struct fvm *f, struct v3_core *core, uint64_t gpa, uint32_t len, int want)
{
    int p = win_page(f, gpa);
    if (core != f->core)
        die("callback with a foreign vCPU", f, gpa, len);
    if (p < 0)
        die("callback outside the hooked window", f, gpa, len);
    if (f->kind[p] != want && !(want == K_WRITE && f->kind[p] == K_FULL))
        die("callback for a page of another kind", f, gpa, len);
    if (len == 0 || len > 512 || ((gpa & 0xfff) + len) > 4096)
        die("callback length zero, too long, or crossing a page", f, gpa, len);
}

static int cb_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct fvm *f = priv;
    check_call(f, core, gpa, len, K_FULL);
    if ((f->flags & 0x10) && (gpa & 0x40))
        return -1;                                    /* a failing device */
    for (uint32_t i = 0; i < len; i++)
        ((uint8_t *)dst)[i] = (uint8_t)((gpa + i) * 0x9d);
    return 0;
}

static int cb_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct fvm *f = priv;
    volatile uint8_t sink = 0;
    check_call(f, core, gpa, len, K_WRITE);
    for (uint32_t i = 0; i < len; i++)
        sink ^= ((const uint8_t *)src)[i];           /* ASan checks the buffer */
    (void)sink;
    if ((f->flags & 0x20) && (gpa & 0x80))
        return -1;                                    /* veto */
    return 0;
}

static int nb_init(struct v3_core *core) { (void)core; return 0; }
static void nb_free(struct v3_core *core) { (void)core; }
static int nb_run(struct v3_core *core, struct v3_exit *exit) { (void)core; (void)exit; return V3_EUNSUPPORTED; }
static int nb_inject(struct v3_core *core, const struct v3_event *ev) { (void)core; (void)ev; return V3_EUNSUPPORTED; }
static const struct v3_backend_ops null_backend = {
    .name = "fuzz-null", .init_core = nb_init, .free_core = nb_free, .run = nb_run, .inject = nb_inject,
};

static void quiet_log(enum v3_log_level level, const char *fmt, va_list ap)
{
    (void)level; (void)fmt; (void)ap;
}

static struct fvm *get_vm(int mi, unsigned kinds)
{
    static int inited;
    if (!inited) {
        static struct v3_os_hooks h;
        h = *v3_posix_os_hooks();
        if (!getenv("FUZZ_EMU_LOG"))
            h.log = quiet_log;
        if (v3_init(&h) < 0)
            abort();
        inited = 1;
    }
    if (cache[mi][kinds])
        return cache[mi][kinds];

    struct fvm *f = calloc(1, sizeof(*f));
    struct v3_vm_config cfg = { .mem_size = 64 << 10, .num_cores = 1, .backend_ops = &null_backend };
    int err;
    f->mode = mi == 0 ? 16 : mi == 1 ? 32 : 64;
    f->win = f->mode == 16 ? 0x8000 : 0x10000000;
    f->code = f->mode == 16 ? 0x4000 : 0x20000000;
    f->vm = v3_create_vm(&cfg, &err);
    if (!f->vm)
        abort();
    f->core = v3_get_core(f->vm, 0);
    f->winmem = aligned_alloc(4096, WIN_PAGES * 4096);
    f->codemem = aligned_alloc(4096, 4096);
    memset(f->winmem, 0x5a, WIN_PAGES * 4096);
    if (v3_add_shadow_mem(f->vm, f->code, f->code + 4096, f->codemem) < 0)
        abort();
    for (int i = 0; i < WIN_PAGES; i++) {
        uint64_t a = f->win + 4096ull * (uint64_t)i;
        int rc = 0;
        f->kind[i] = (int)((kinds >> (2 * i)) & 3);
        switch (f->kind[i]) {
        case K_RAM:   rc = v3_add_shadow_mem(f->vm, a, a + 4096, f->winmem + 4096 * i); break;
        case K_WRITE: rc = v3_hook_write_mem(f->vm, a, a + 4096, f->winmem + 4096 * i, cb_write, f); break;
        case K_FULL:  rc = v3_hook_full_mem(f->vm, a, a + 4096, cb_read, cb_write, f); break;
        default:
            /* in 16-bit mode the window lies in RAM: cover "unmapped" with a full hook there */
            if (f->mode == 16) { f->kind[i] = K_FULL; rc = v3_hook_full_mem(f->vm, a, a + 4096, cb_read, cb_write, f); }
            break;
        }
        if (rc < 0)
            abort();
    }
    struct v3_core *c = f->core;
    if (f->mode == 64) {
        uint64_t pml4e = 0x2000 | 0x7, pdpt[512];
        for (int i = 0; i < 512; i++)
            pdpt[i] = ((uint64_t)i << 30) | 0x87;
        v3_write_gpa_memory(f->vm, NULL, 0x1000, 8, &pml4e);
        v3_write_gpa_memory(f->vm, NULL, 0x2000, sizeof(pdpt), pdpt);
    }
    (void)c;
    cache[mi][kinds] = f;
    return f;
}

static void set_mode(struct fvm *f)
{
    struct v3_core *c = f->core;
    memset(c->gpr, 0, sizeof(c->gpr));
    if (f->mode == 64) {
        c->cr3 = 0x1000;
        c->cr4 = V3_CR4_PAE | V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT;
        c->efer = V3_EFER_LME | V3_EFER_LMA | V3_EFER_NXE;
        c->cr0 = V3_CR0_PE | V3_CR0_MP | V3_CR0_ET | V3_CR0_NE | V3_CR0_WP | V3_CR0_PG;
    } else {
        c->cr3 = 0;
        c->cr4 = V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT;
        c->efer = 0;
        c->cr0 = V3_CR0_ET | V3_CR0_NE | V3_CR0_MP | (f->mode == 32 ? V3_CR0_PE : 0);
    }
    for (int s = 0; s < 6; s++) {
        c->seg[s].base = 0;
        c->seg[s].limit = f->mode == 16 ? 0xffff : 0xffffffff;
        c->seg[s].selector = f->mode == 64 ? 0x2b : f->mode == 32 ? 0x10 : 0;
        c->seg[s].attrib = V3_SEG_P | V3_SEG_S | 0x3 | (f->mode == 64 ? (3 << 5) : 0) |
                           (f->mode != 16 ? V3_SEG_DB | V3_SEG_G : 0);
    }
    c->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb |
                           (f->mode == 64 ? (3 << 5) | V3_SEG_L | V3_SEG_G :
                            f->mode == 32 ? V3_SEG_DB | V3_SEG_G : 0);
    v3_core_update_mode(c);
}

static uint64_t rd64(const uint8_t *b) { uint64_t v; memcpy(&v, b, 8); return v; }

/* Bias register values towards the window so that accesses hit the hooks. */
static uint64_t reg_value(struct fvm *f, uint64_t raw)
{
    switch (raw >> 62) {
    case 0: return f->win + (raw & 0x3fff) - 0x100;     /* in or just around the window */
    case 1: return raw & 0xff;                           /* small counts, indexes */
    case 2: return (raw & 1) ? (uint64_t)-(int64_t)(raw & 0xfff) : (raw & 0xffff);
    default: return raw;
    }
}

int fuzz_emu_one(const uint8_t *data, size_t size)
{
    uint8_t in[HDR + 32];
    memset(in, 0, sizeof(in));
    memcpy(in, data, size < sizeof(in) ? size : sizeof(in));

    int mi = in[0] % 3;
    struct fvm *f = get_vm(mi, in[1]);
    struct v3_core *c = f->core;
    f->flags = in[2];
    set_mode(f);
    for (int i = 0; i < 16; i++) {
        uint64_t v = reg_value(f, rd64(in + 8 + 8 * i));
        c->gpr[i] = f->mode == 64 ? v : (v & 0xffffffff);
    }
    if (f->mode == 64) {
        c->seg[V3_FS].base = reg_value(f, rd64(in + 136)) & 0x0000ffffffffffffull;
        c->seg[V3_GS].base = reg_value(f, rd64(in + 144));
    }
    v3_core_set_rflags(c, ((uint64_t)in[3] | ((uint64_t)in[4] << 8)) & (V3_FLAGS_ARITH | V3_FLAG_DF));
    for (int i = 0; i < 16; i++)
        memset(c->fpu.xmm[i], 0x11 * i, 16);

    /* instruction: at the start of the code page, or close to its end (then
       the rest of it runs into the next page, unmapped in 32/64-bit mode) */
    memset(f->codemem, 0, 4096);
    unsigned off = (in[2] & 0x40) ? 4096 - 1 - (in[5] & 15) : (in[5] & 0x3f);
    size_t n = size > HDR ? size - HDR : 0;
    if (n > 32)
        n = 32;
    if (off + n > 4096)
        n = 4096 - off;
    memcpy(f->codemem + off, in + HDR, n);
    c->rip = f->code + off;

    struct v3_emu_result res;
    int rc;
    for (int round = 0; round < 3; round++) {
        uint64_t rip0 = c->rip;
        if ((in[2] & 1) && round == 0) {
            uint64_t a = reg_value(f, rd64(in + 152));
            rc = v3_handle_mem_fault(c, a, a, (in[2] & 2) ? V3_ACCESS_WRITE : V3_ACCESS_READ, &res);
        } else {
            rc = v3_emulate_one(c, &res);
        }
        if (res.len > 15 || (unsigned)res.status > V3_EMU_ERROR)
            abort();
        if ((rc == 0) != (res.status == V3_EMU_DONE))
            abort();
        if (res.status == V3_EMU_EXCEPTION && res.exc.vector > 31)
            abort();
        if (res.status != V3_EMU_DONE || c->rip != rip0)
            break;                 /* only re-enter an unfinished REP */
    }
    return 0;
}

#ifndef FUZZ_EMU_NO_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_emu_one(data, size);
}
#endif
