/* SPDX-License-Identifier: MIT */
/*
 * Guest accesses to guest-physical memory that nothing backs, on the
 * software CPU (v3_vm_config::strict_mem).  The oracle is the PC: a read of
 * an address no device decodes gives all ones (the data bus floats high),
 * a write goes nowhere, and an instruction fetch there reads 0xFF bytes
 * (FF FF is FF /7, an invalid encoding: #UD).  With strict_mem the VM stops
 * with V3_EUNMAPPED at the accessing instruction instead.
 *
 * The guest runs in real mode with 64 KiB of RAM, so segment 0x2000 is a hole.
 */
#include <stdio.h>
#include <string.h>
#include "v3test.h"
#include <v3/cpu.h>
#include <v3/io.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/vm.h>

#define RAM 0x10000u
#define CODE 0x1000u

struct port_log {
    unsigned n;
    uint8_t val[64];
};

static int log_write(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv)
{
    struct port_log *l = priv;
    (void)core;
    (void)port;
    for (unsigned i = 0; i < size && l->n < sizeof(l->val); i++)
        l->val[l->n++] = ((const uint8_t *)src)[i];
    return 0;
}

static int const_read(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv)
{
    (void)core;
    (void)port;
    (void)priv;
    memset(dst, 0x42, size);
    return 0;
}

static struct v3_vm *make_vm(bool strict, struct v3_core **core, uint8_t **ram)
{
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    void *p;
    int err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = RAM;
    cfg.strict_mem = strict;
    cfg.max_insns = 100000;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    *core = v3_get_core(vm, 0);
    assert_int_equal(v3_gpa_to_hva(vm, 0, &p), V3_OK);
    *ram = p;
    /* real mode, CS = 0, IP = CODE, SS:SP = 0:0x8000, IF clear (HLT stops) */
    for (int s = V3_ES; s <= V3_GS; s++) {
        (*core)->seg[s].selector = 0;
        (*core)->seg[s].base = 0;
    }
    (*core)->rip = CODE;
    (*core)->gpr[V3_RSP] = 0x8000;
    v3_core_set_rflags(*core, 2);
    return vm;
}

/* Loads, stores, a load straddling the end of RAM, REP MOVSB from a hole. */
static const uint8_t prog_data[] = {
    0xb8, 0x00, 0x20,                               /* mov ax, 0x2000 */
    0x8e, 0xd8,                                     /* mov ds, ax */
    0x66, 0xa1, 0x10, 0x00,                         /* mov eax, [0x10]      (0x20010: hole) */
    0x66, 0xc7, 0x06, 0x10, 0x00, 0x78, 0x56, 0x34, 0x12, /* mov dword [0x10], 0x12345678 */
    0x66, 0x8b, 0x1e, 0x10, 0x00,                   /* mov ebx, [0x10] */
    0xb9, 0xff, 0x0f,                               /* mov cx, 0x0fff */
    0x8e, 0xd9,                                     /* mov ds, cx */
    0x66, 0x8b, 0x16, 0x0e, 0x00,                   /* mov edx, [0x0e]      (0xfffe..0x10001) */
    0x8e, 0xd8,                                     /* mov ds, ax  (0xffff: 0xffff0, a hole) */
    0x31, 0xf6,                                     /* xor si, si */
    0x31, 0xc9,                                     /* xor cx, cx */
    0x8e, 0xc1,                                     /* mov es, cx */
    0xbf, 0x00, 0x50,                               /* mov di, 0x5000 */
    0xb1, 0x08,                                     /* mov cl, 8 */
    0xf3, 0xa4,                                     /* rep movsb            (hole -> RAM) */
    0xf4,                                           /* hlt */
};

static void test_data_default(void **state)
{
    struct v3_core *core;
    uint8_t *ram;
    struct v3_vm *vm = make_vm(false, &core, &ram);
    struct v3_vm_result res;
    struct v3_vm_stats st;

    (void)state;
    memcpy(ram + CODE, prog_data, sizeof(prog_data));
    ram[0xfffe] = 0x34;
    ram[0xffff] = 0x12;
    memset(ram + 0x5000, 0, 16);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_HLT);
    assert_int_equal(res.rip, CODE + sizeof(prog_data) - 1);
    assert_int_equal(core->gpr[V3_RAX] & 0xffffffff, 0xffffffff);
    assert_int_equal(core->gpr[V3_RBX] & 0xffffffff, 0xffffffff); /* the store was dropped */
    assert_int_equal(core->gpr[V3_RDX] & 0xffffffff, 0xffff1234);
    for (int i = 0; i < 8; i++)
        assert_int_equal(ram[0x5000 + i], 0xff);
    assert_int_equal(ram[0x5008], 0);
    assert_int_equal(v3_vm_get_stats(vm, &st), V3_OK);
    assert_true(st.mem_unbacked >= 12);                        /* 3 + 1 + 8 at least */
    v3_free_vm(vm);
}

static void test_data_strict(void **state)
{
    struct v3_core *core;
    uint8_t *ram;
    struct v3_vm *vm = make_vm(true, &core, &ram);
    struct v3_vm_result res;

    (void)state;
    memcpy(ram + CODE, prog_data, sizeof(prog_data));
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_ERROR);
    assert_int_equal(res.error, V3_EUNMAPPED);
    assert_int_equal(res.rip, CODE + 5);                      /* the first load */
    v3_free_vm(vm);
}

/* A jump into the hole fetches FF FF: #UD through the IVT to a HLT. */
static const uint8_t prog_fetch[] = {
    0xea, 0x34, 0x12, 0x00, 0x20,                   /* jmp 0x2000:0x1234 */
};

static void test_fetch(void **state)
{
    for (int strict = 0; strict < 2; strict++) {
        struct v3_core *core;
        uint8_t *ram;
        struct v3_vm *vm = make_vm(strict, &core, &ram);
        struct v3_vm_result res;
        uint16_t ip, cs;

        (void)state;
        memcpy(ram + CODE, prog_fetch, sizeof(prog_fetch));
        ram[6 * 4 + 0] = 0x00;                      /* IVT[6] = 0000:3000 */
        ram[6 * 4 + 1] = 0x30;
        ram[6 * 4 + 2] = 0;
        ram[6 * 4 + 3] = 0;
        ram[0x3000] = 0xf4;                         /* hlt */
        assert_int_equal(v3_run_vm(vm, &res), V3_OK);
        if (strict) {
            assert_int_equal(res.reason, V3_STOP_ERROR);
            assert_int_equal(res.error, V3_EUNMAPPED);
        } else {
            assert_int_equal(res.reason, V3_STOP_HLT);
            assert_int_equal(res.rip, 0x3000);
            /* the #UD frame: IP, CS, FLAGS of the faulting instruction */
            memcpy(&ip, ram + 0x8000 - 6, 2);
            memcpy(&cs, ram + 0x8000 - 4, 2);
            assert_int_equal(ip, 0x1234);
            assert_int_equal(cs, 0x2000);
        }
        v3_free_vm(vm);
    }
}

/* String I/O: OUTSB from a hole sends 0xFF; INSB into a hole drops the bytes. */
static const uint8_t prog_io[] = {
    0xb8, 0x00, 0x20,                               /* mov ax, 0x2000 */
    0x8e, 0xd8,                                     /* mov ds, ax */
    0x8e, 0xc0,                                     /* mov es, ax */
    0x31, 0xf6,                                     /* xor si, si */
    0x31, 0xff,                                     /* xor di, di */
    0xba, 0xe9, 0x00,                               /* mov dx, 0xe9 */
    0xb9, 0x04, 0x00,                               /* mov cx, 4 */
    0xf3, 0x6e,                                     /* rep outsb */
    0xb9, 0x04, 0x00,                               /* mov cx, 4 */
    0xf3, 0x6c,                                     /* rep insb */
    0x26, 0x8b, 0x1d,                               /* mov bx, es:[di] */
    0xf4,                                           /* hlt */
};

static void test_string_io(void **state)
{
    for (int strict = 0; strict < 2; strict++) {
        struct v3_core *core;
        uint8_t *ram;
        struct v3_vm *vm = make_vm(strict, &core, &ram);
        struct v3_vm_result res;
        struct port_log l = { 0 };

        (void)state;
        assert_int_equal(v3_hook_io_port(vm, 0xe9, const_read, log_write, &l), V3_OK);
        memcpy(ram + CODE, prog_io, sizeof(prog_io));
        assert_int_equal(v3_run_vm(vm, &res), V3_OK);
        if (strict) {
            assert_int_equal(res.reason, V3_STOP_ERROR);
            assert_int_equal(res.error, V3_EUNMAPPED);
            assert_int_equal(l.n, 0);
        } else {
            assert_int_equal(res.reason, V3_STOP_HLT);
            assert_int_equal(l.n, 4);
            for (int i = 0; i < 4; i++)
                assert_int_equal(l.val[i], 0xff);
            assert_int_equal(core->gpr[V3_RDI] & 0xffff, 4);
            assert_int_equal(core->gpr[V3_RBX] & 0xffff, 0xffff);
        }
        v3_free_vm(vm);
    }
}

/* Each page is logged once, and the log is bounded. */
static void test_log_bounded(void **state)
{
    struct v3_core *core;
    uint8_t *ram;
    struct v3_vm *vm = make_vm(false, &core, &ram);
    uint8_t b[8];
    long before;

    (void)state;
    before = v3t_warn_logs();
    /* 40 distinct pages, each read twice through the guest-virtual path */
    for (int round = 0; round < 2; round++)
        for (uint64_t p = 0; p < 40; p++)
            assert_int_equal(v3_read_gva_memory(core, 0x100000 + p * 4096, 8, b, 0, NULL), 8);
    assert_int_equal(b[0], 0xff);
    /* the first 16 pages, then one line saying the rest are not logged */
    assert_int_equal(v3t_warn_logs() - before, 17);
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_default),
        cmocka_unit_test(test_data_strict),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_string_io),
        cmocka_unit_test(test_log_bounded),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
