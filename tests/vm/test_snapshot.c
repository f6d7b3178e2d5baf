/* SPDX-License-Identifier: MIT */
/*
 * Snapshots, the dirty-page log and fast reset (v3/snapshot.h).
 *
 * Oracles: the VM itself before a save (a restore into a fresh VM must give
 * back the same bytes when saved again, the same vCPU fields, and the same
 * run afterwards); copies of RAM and of the vCPU taken by the test; for the
 * dirty log, the set of pages the test's guest program writes, known from
 * its code (the paging entries are created with A and D set so that the
 * walker writes nothing).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "v3test.h"
#include "paging/tlb.h"          /* v3_tlb_probe() (internal) */
#include <v3/cpu.h>
#include <v3/device.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/snapshot.h>
#include <v3/vm.h>

#define RAM    0x400000u          /* 4 MiB */
#define PML4   0x1000u
#define PDPT   0x2000u
#define PD     0x3000u
#define CODE   0x10000u
#define ROUT   0x11000u           /* a routine the guest may patch */
#define INPUT  0x12000u           /* the fuzz input byte */
#define DATA   0x20000u           /* pages the guest writes */
#define HOOK   0x30000u           /* a write-hooked page inside RAM */
#define STACK  0x80000u
#define ARCH_LEN offsetof(struct v3_core, vm)

static uint8_t hook_mem[4096] __attribute__((aligned(4096)));
static unsigned hook_calls;

static int hook_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)core;
    (void)gpa;
    (void)src;
    (void)len;
    (void)priv;
    hook_calls++;
    return 0;
}

static struct v3_vm *make_vm(uint64_t mem, uint8_t **ram)
{
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    void *p;
    int err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = mem;
    cfg.machine = "pc";
    cfg.clock = V3_CLOCK_VIRTUAL;
    cfg.max_insns = 0;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(v3_gpa_to_hva(vm, 0, &p), V3_OK);
    *ram = p;
    return vm;
}

/* Identity map of the first 1 GiB with 2 MiB pages, A and D preset. */
static void setup_paging(uint8_t *ram, struct v3_core *c)
{
    uint64_t e;

    memset(ram + PML4, 0, 3 * 4096);
    e = PDPT | 0x23;                      /* P RW A */
    memcpy(ram + PML4, &e, 8);
    e = PD | 0x23;
    memcpy(ram + PDPT, &e, 8);
    for (uint64_t i = 0; i < 512; i++) {
        e = (i << 21) | 0xe3;             /* P RW A D PS */
        memcpy(ram + PD + i * 8, &e, 8);
    }
    v3t_core_long64(c, PML4);
    c->gpr[V3_RSP] = STACK;
    c->rip = CODE;
    v3_core_set_rflags(c, 2);
}

static size_t put(uint8_t *p, size_t n, const uint8_t *b, size_t len)
{
    memcpy(p + n, b, len);
    return n + len;
}

static size_t mov_d(uint8_t *p, size_t n, uint32_t addr, uint32_t imm)   /* mov dword [addr], imm */
{
    uint8_t b[11] = { 0xc7, 0x04, 0x25 };
    memcpy(b + 3, &addr, 4);
    memcpy(b + 7, &imm, 4);
    return put(p, n, b, 11);
}

static size_t debug_exit(uint8_t *p, size_t n)
{
    static const uint8_t b[] = { 0xb0, 0x00, 0xe6, 0xf4 };  /* mov al, 0; out 0xf4, al */
    return put(p, n, b, sizeof(b));
}

/* The dirty-log program: two stores through the TLB, REP STOSB from the end
 * of DATA+0x2000 into DATA+0x3000, a store to the hooked page. */
static void prog_writes(uint8_t *ram)
{
    uint8_t *p = ram + CODE;
    size_t n = 0;
    static const uint8_t stos[] = {
        0xfc,                                   /* cld */
        0xbf, 0xf0, 0x2f, 0x02, 0x00,           /* mov edi, DATA + 0x2ff0 */
        0xb9, 0x20, 0x00, 0x00, 0x00,           /* mov ecx, 0x20 */
        0xb0, 0x5a,                             /* mov al, 0x5a */
        0xf3, 0xaa,                             /* rep stosb */
    };

    n = mov_d(p, n, DATA + 0x10, 0x11111111);
    n = mov_d(p, n, DATA + 0x1ffc, 0x22222222);
    n = put(p, n, stos, sizeof(stos));
    n = mov_d(p, n, HOOK + 0x40, 0x33333333);
    n = mov_d(p, n, HOOK + 0x48, 0x44444444);
    debug_exit(p, n);
}

static void run_to_exit(struct v3_vm *vm)
{
    struct v3_vm_result res;

    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    if (res.reason != V3_STOP_DEBUG_EXIT)
        fprintf(stderr, "stop: %s rip %llx error %d %s\n", v3_stop_reason_str(res.reason),
                (unsigned long long)res.rip, res.error, res.msg ? res.msg : "");
    assert_int_equal(res.reason, V3_STOP_DEBUG_EXIT);
}

static void expect_dirty(struct v3_vm *vm, const uint64_t *pages, unsigned n)
{
    uint64_t total = v3_vm_dirty_pages(vm), words = (total + 63) / 64;
    uint64_t *bm = calloc(words, 8);
    unsigned found = 0;

    assert_non_null(bm);
    assert_int_equal(total, RAM / 4096);
    assert_int_equal(v3_vm_dirty_log(vm, bm, words, V3_DIRTY_CLEAR), V3_OK);
    for (uint64_t i = 0; i < total; i++) {
        bool want = false, got = (bm[i / 64] >> (i % 64)) & 1;
        for (unsigned k = 0; k < n; k++)
            want |= pages[k] == i;
        if (want != got)
            fprintf(stderr, "page %#llx: dirty %d, expected %d\n", (unsigned long long)i, got, want);
        assert_int_equal(want, got);
        found += got;
    }
    assert_int_equal(found, n);
    free(bm);
}

static void test_dirty_exact(void **state)
{
    uint8_t *ram;
    struct v3_vm *vm = make_vm(RAM, &ram);
    struct v3_core *c = v3_get_core(vm, 0);
    const uint64_t guest_pages[] = { DATA >> 12, (DATA >> 12) + 1, (DATA >> 12) + 2, (DATA >> 12) + 3,
                                     HOOK >> 12 };
    const uint64_t with_vmm[] = { DATA >> 12, (DATA >> 12) + 1, (DATA >> 12) + 2, (DATA >> 12) + 3,
                                  HOOK >> 12, 0x99 };
    uint32_t v = 0x55;

    (void)state;
    assert_int_equal(v3_hook_write_mem(vm, HOOK, HOOK + 4096, hook_mem, hook_write, NULL), V3_OK);
    setup_paging(ram, c);
    prog_writes(ram);
    v3_vm_dirty_log(vm, NULL, 0, V3_DIRTY_CLEAR);
    run_to_exit(vm);
    expect_dirty(vm, guest_pages, 5);
    assert_true(hook_calls >= 2);

    /* again: the TLB still holds writable entries from the first run; the
       clear took their write permission, so the pages are marked again */
    c->rip = CODE;
    run_to_exit(vm);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x99000 + 12, 4, &v), 4);
    expect_dirty(vm, with_vmm, 6);

    /* nothing written: nothing marked */
    expect_dirty(vm, NULL, 0);
    v3_free_vm(vm);
}

/* The fuzz program: when INPUT is non-zero, patch the routine's immediate
 * to 2 first; call the routine (mov eax, 1; ret); store eax in DATA; stop. */
static void prog_fuzz(uint8_t *ram)
{
    static const uint8_t code[] = {
        0x80, 0x3c, 0x25, 0x00, 0x20, 0x01, 0x00, 0x00,     /* cmp byte [INPUT], 0 */
        0x74, 0x08,                                         /* je +8 */
        0xc6, 0x04, 0x25, 0x01, 0x10, 0x01, 0x00, 0x02,     /* mov byte [ROUT + 1], 2 */
        0xe8, 0xe9, 0x0f, 0x00, 0x00,                       /* call ROUT (0x10012 + 5 + 0xfe9) */
        0x89, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00,           /* mov [DATA], eax */
    };
    static const uint8_t rout[] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3 };   /* mov eax, 1; ret */
    size_t n = put(ram + CODE, 0, code, sizeof(code));
    debug_exit(ram + CODE, n);
    memcpy(ram + ROUT, rout, sizeof(rout));
}

static void test_reset(void **state)
{
    uint8_t *ram, *copy = malloc(RAM), arch[ARCH_LEN];
    struct v3_vm *vm = make_vm(RAM, &ram);
    struct v3_core *c = v3_get_core(vm, 0);
    struct v3_vm_snapshot *s;
    uint8_t one = 1;
    uint64_t insns;
    int err;

    (void)state;
    assert_non_null(copy);
    setup_paging(ram, c);
    prog_fuzz(ram);
    s = v3_vm_snapshot_take(vm, &err);
    assert_non_null(s);
    memcpy(copy, ram, RAM);
    memcpy(arch, c, ARCH_LEN);

    /* input 0: the routine gives 1 */
    run_to_exit(vm);
    assert_int_equal(ram[DATA], 1);
    insns = c->insn_count;
    assert_int_equal(v3_vm_reset(vm, s), V3_OK);
    assert_memory_equal(ram, copy, RAM);
    assert_memory_equal(c, arch, ARCH_LEN);

    /* input 1: the guest patches the routine, which then gives 2 (and is decoded so) */
    assert_int_equal(v3_write_gpa_memory(vm, NULL, INPUT, 1, &one), 1);
    run_to_exit(vm);
    assert_int_equal(ram[DATA], 2);
    assert_int_equal(v3_vm_reset(vm, s), V3_OK);
    assert_memory_equal(ram, copy, RAM);
    assert_memory_equal(c, arch, ARCH_LEN);

    /* input 0 again: the patched block must not run; same count as the first run */
    run_to_exit(vm);
    assert_int_equal(ram[DATA], 1);
    assert_int_equal(c->insn_count, insns);

    /* many rounds */
    for (int i = 0; i < 1000; i++) {
        uint8_t in = (uint8_t)(i & 1);
        assert_int_equal(v3_vm_reset(vm, s), V3_OK);
        assert_int_equal(v3_write_gpa_memory(vm, NULL, INPUT, 1, &in), 1);
        run_to_exit(vm);
        assert_int_equal(ram[DATA], 1u + in);
    }
    /* a cleared log makes reset compare every page: still exact */
    assert_int_equal(v3_vm_dirty_log(vm, NULL, 0, V3_DIRTY_CLEAR), V3_OK);
    assert_int_equal(v3_vm_reset(vm, s), V3_OK);
    assert_memory_equal(ram, copy, RAM);
    v3_vm_snapshot_free(s);
    v3_free_vm(vm);
    free(copy);
}

/* Run partway, save, restore into a new VM, save again: the same bytes; the
 * same vCPU; the same rest of the run. */
static void test_roundtrip(void **state)
{
    uint8_t *ram1, *ram2;
    struct v3_vm *vm1 = make_vm(RAM, &ram1), *vm2 = make_vm(RAM, &ram2);
    struct v3_core *c1 = v3_get_core(vm1, 0), *c2 = v3_get_core(vm2, 0);
    void *a, *b;
    size_t alen, blen;
    uint8_t one = 1;
    struct v3_vm_result r1, r2;

    (void)state;
    setup_paging(ram1, c1);
    prog_fuzz(ram1);
    assert_int_equal(v3_write_gpa_memory(vm1, NULL, INPUT, 1, &one), 1);
    /* stop in the middle: after the patch */
    {
        struct v3_vm_config *cfg = (struct v3_vm_config *)v3_vm_config(vm1);
        cfg->max_insns = 3;
        assert_int_equal(v3_run_vm(vm1, &r1), V3_OK);
        assert_int_equal(r1.reason, V3_STOP_INSN_LIMIT);
        cfg->max_insns = 0;
    }
    c1->fpu.xmm[3][5] = 0x77;             /* a few fields away from the reset state */
    c1->msr_inert.hwcr = 0x1234;
    c1->dr[0] = 0xabc;
    c1->tsc_offset = 99;
    c1->nmi_blocked = 1;
    assert_int_equal(v3_vm_save_buf(vm1, &a, &alen), V3_OK);
    assert_true(alen < RAM / 4);          /* zero pages are left out */
    assert_int_equal(v3_vm_restore(vm2, a, alen), V3_OK);
    assert_memory_equal(c1, c2, ARCH_LEN);
    assert_int_equal(c1->insn_count, c2->insn_count);
    assert_memory_equal(ram1, ram2, RAM);
    assert_int_equal(v3_vm_clock_ns(vm1), v3_vm_clock_ns(vm2));
    assert_int_equal(v3_vm_save_buf(vm2, &b, &blen), V3_OK);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    c1->nmi_blocked = c2->nmi_blocked = 0;
    assert_int_equal(v3_run_vm(vm1, &r1), V3_OK);
    assert_int_equal(v3_run_vm(vm2, &r2), V3_OK);
    assert_int_equal(r1.reason, V3_STOP_DEBUG_EXIT);
    assert_int_equal(r2.reason, V3_STOP_DEBUG_EXIT);
    assert_int_equal(ram2[DATA], 2);
    assert_memory_equal(c1, c2, ARCH_LEN);
    assert_int_equal(c1->insn_count, c2->insn_count);
    assert_memory_equal(ram1, ram2, RAM);
    v3_snapshot_buf_free(a);
    v3_snapshot_buf_free(b);
    v3_free_vm(vm1);
    v3_free_vm(vm2);
}

static void expect_rejected(struct v3_vm *vm, const uint8_t *ram, const void *img, size_t len, int want)
{
    uint8_t *before = malloc(RAM), arch[ARCH_LEN];
    struct v3_core *c = v3_get_core(vm, 0);
    uint64_t clk = v3_vm_clock_ns(vm);

    assert_non_null(before);
    memcpy(before, ram, RAM);
    memcpy(arch, c, ARCH_LEN);
    assert_int_equal(v3_vm_restore(vm, img, len), want);
    assert_memory_equal(before, ram, RAM);
    assert_memory_equal(arch, c, ARCH_LEN);
    assert_int_equal(clk, v3_vm_clock_ns(vm));
    free(before);
}

static int sink(void *opaque, const void *data, size_t len)
{
    FILE *f = opaque;
    return fwrite(data, 1, len, f) == len ? 0 : V3_EIO;
}

static int64_t source(void *opaque, void *data, size_t len)
{
    FILE *f = opaque;
    return (int64_t)fread(data, 1, len, f);
}

static void test_bad_inputs(void **state)
{
    uint8_t *ram1, *ram2, *ram3, *img;
    struct v3_vm *vm1 = make_vm(RAM, &ram1), *vm2 = make_vm(RAM, &ram2), *vm3 = make_vm(RAM * 2, &ram3);
    struct v3_core *c1 = v3_get_core(vm1, 0);
    void *a;
    size_t len;
    uint32_t v;
    FILE *f;

    (void)state;
    setup_paging(ram1, c1);
    prog_fuzz(ram1);
    setup_paging(ram2, v3_get_core(vm2, 0));
    ram2[DATA + 5] = 0x42;                /* vm2 differs from the snapshot */
    assert_int_equal(v3_vm_save_buf(vm1, &a, &len), V3_OK);
    img = malloc(len);
    assert_non_null(img);

    /* truncated: at every section boundary region, and a few bytes short */
    expect_rejected(vm2, ram2, a, len - 1, V3_EIMAGE);
    expect_rejected(vm2, ram2, a, len / 2, V3_EIMAGE);
    expect_rejected(vm2, ram2, a, 20, V3_EIMAGE);
    /* corrupt payload byte (in RAM data): the checksum catches it */
    memcpy(img, a, len);
    img[len - 100] ^= 0x40;
    expect_rejected(vm2, ram2, img, len, V3_ECHECKSUM);
    /* wrong checksum field */
    memcpy(img, a, len);
    img[len - 1] ^= 1;
    expect_rejected(vm2, ram2, img, len, V3_ECHECKSUM);
    /* other version */
    memcpy(img, a, len);
    v = 2;
    memcpy(img + 8, &v, 4);
    expect_rejected(vm2, ram2, img, len, V3_ESNAPVER);
    /* not a snapshot */
    memcpy(img, a, len);
    img[0] = 'X';
    expect_rejected(vm2, ram2, img, len, V3_EIMAGE);
    /* another RAM size */
    expect_rejected(vm3, ram3, a, len, V3_EMISMATCH);
    /* other hooks */
    assert_int_equal(v3_hook_write_mem(vm2, HOOK, HOOK + 4096, hook_mem, hook_write, NULL), V3_OK);
    expect_rejected(vm2, ram2, a, len, V3_EMISMATCH);
    assert_int_equal(v3_unhook_mem(vm2, HOOK), V3_OK);
    assert_int_equal(v3_vm_restore(vm2, NULL, 0), V3_EINVAL);

    /* callbacks: through a file, then accepted */
    f = tmpfile();
    assert_non_null(f);
    assert_int_equal(v3_vm_save(vm1, sink, f), V3_OK);
    rewind(f);
    assert_int_equal(v3_vm_restore_cb(vm2, source, f), V3_OK);
    fclose(f);
    assert_memory_equal(ram1, ram2, RAM);
    free(img);
    v3_snapshot_buf_free(a);
    v3_free_vm(vm1);
    v3_free_vm(vm2);
    v3_free_vm(vm3);
}

static int nosave_create(struct v3_device *dev, struct v3_dev_args *args)
{
    (void)dev;
    (void)args;
    return 0;
}

/* A reset that copies a paging structure back drops every translation made
 * through it; one that copies only data pages keeps the others. */
static void test_reset_translations(void **state)
{
    uint8_t *ram, v = 0;
    struct v3_vm *vm = make_vm(RAM, &ram);
    struct v3_core *c = v3_get_core(vm, 0);
    struct v3_exception exc;
    struct v3_vm_snapshot *s;
    uint64_t pde = 0x0 | 0xe3;
    struct v3_tlb_probe pr;
    int err;

    (void)state;
    setup_paging(ram, c);
    ram[0x200000] = 0xa1;
    ram[0x0] = 0xb2;
    s = v3_vm_snapshot_take(vm, &err);
    assert_non_null(s);
    assert_int_equal(v3_read_gva_memory(c, 0x200000, 1, &v, 0, &exc), 1);
    assert_int_equal(v, 0xa1);
    /* the VMM remaps la 0x200000 to gpa 0 (the PD page is dirty now), then flushes as INVLPG would */
    assert_int_equal(v3_write_gpa_memory(vm, NULL, PD + 8, 8, &pde), 8);
    v3_tlb_flush_all(c);
    assert_int_equal(v3_read_gva_memory(c, 0x200000, 1, &v, 0, &exc), 1);
    assert_int_equal(v, 0xb2);
    assert_int_equal(v3_vm_reset(vm, s), V3_OK);
    assert_int_equal(v3_read_gva_memory(c, 0x200000, 1, &v, 0, &exc), 1);
    assert_int_equal(v, 0xa1);
    /* a data page only: translations of other pages survive the reset */
    assert_int_equal(v3_read_gva_memory(c, 0x300000, 1, &v, 0, &exc), 1);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, DATA, 1, &v), 1);
    assert_int_equal(v3_vm_reset(vm, s), V3_OK);
    assert_int_equal(v3_tlb_probe(c, 0x300000, &pr), 1);
    assert_int_equal(pr.gpa, 0x300000);
    v3_vm_snapshot_free(s);
    v3_free_vm(vm);
}

/* RAM that the pc machine moves above 4 GiB: in the dirty log, saved, restored, reset. */
static void test_high_ram(void **state)
{
    const uint64_t mem = 0xc0000000ull + (8u << 20), hi = 1ull << 32;
    uint8_t *ram1, *ram2, b = 0x5a, got = 0, z = 0;
    struct v3_vm *vm1 = make_vm(mem, &ram1), *vm2 = make_vm(mem, &ram2);
    uint64_t lo_pages = 0xc0000000ull / 4096, total = v3_vm_dirty_pages(vm1);
    uint64_t *bm = calloc((total + 63) / 64, 8);
    struct v3_vm_snapshot *s;
    void *a;
    size_t len;
    int err;

    (void)state;
    assert_non_null(bm);
    assert_int_equal(total, lo_pages + 2048);
    s = v3_vm_snapshot_take(vm1, &err);
    assert_non_null(s);
    assert_int_equal(v3_write_gpa_memory(vm1, NULL, hi + 0x5123, 1, &b), 1);
    assert_int_equal(v3_vm_dirty_log(vm1, bm, (total + 63) / 64, 0), V3_OK);
    for (uint64_t i = 0; i < total; i++)
        assert_int_equal((bm[i / 64] >> (i % 64)) & 1, i == lo_pages + 5);
    assert_int_equal(v3_vm_save_buf(vm1, &a, &len), V3_OK);
    assert_int_equal(v3_vm_restore(vm2, a, len), V3_OK);
    assert_int_equal(v3_read_gpa_memory(vm2, NULL, hi + 0x5123, 1, &got), 1);
    assert_int_equal(got, 0x5a);
    assert_int_equal(v3_vm_reset(vm1, s), V3_OK);
    assert_int_equal(v3_read_gpa_memory(vm1, NULL, hi + 0x5123, 1, &got), 1);
    assert_int_equal(got, z);
    v3_snapshot_buf_free(a);
    v3_vm_snapshot_free(s);
    free(bm);
    v3_free_vm(vm1);
    v3_free_vm(vm2);
}

static const struct v3_device_ops nosave_ops = {
    .name = "nosave", .help = "test device without save()", .create = nosave_create,
};

static void test_device_without_save(void **state)
{
    uint8_t *ram;
    struct v3_vm *vm = make_vm(RAM, &ram);
    void *a = (void *)1;
    size_t len = 1;
    int err;

    (void)state;
    assert_int_equal(v3_vm_add_device_ops(vm, &nosave_ops, NULL), V3_OK);
    assert_int_equal(v3_vm_save_buf(vm, &a, &len), V3_EUNSUPPORTED);
    assert_null(a);
    assert_int_equal(len, 0);
    assert_null(v3_vm_snapshot_take(vm, &err));
    assert_int_equal(err, V3_EUNSUPPORTED);
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dirty_exact),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_device_without_save),
        cmocka_unit_test(test_high_ram),
        cmocka_unit_test(test_reset_translations),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
