/* SPDX-License-Identifier: MIT */
/*
 * The fault path's per-vCPU caches (src/emu/fault_cache.h) must never change
 * what an access does: a changed instruction at the same RIP, the same bytes
 * in another CPU mode, a page-table change followed by INVLPG or a TLB
 * flush, a CR3 switch, and a memory-map change between two faults are each
 * followed by a fault that behaves as on a fresh vCPU.  Expected values come
 * from the page tables and regions the test sets up.
 */
#include "emu_util.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define CODEB(...) code(B(__VA_ARGS__), sizeof(B(__VA_ARGS__)))

#define LIN 0x100000ull        /* linear page remapped by the tests (PT index 256) */

static uint64_t *pt(void) { return (uint64_t *)(ram + 0x4000); }

static void t_changed_bytes_redecoded(void **s)
{
    (void)s;
    core->gpr[V3_RBX] = FH + 0x10;
    core->gpr[V3_RAX] = 0x1122334455667788ull;
    CODEB(0x48, 0x89, 0x03);                 /* mov [rbx], rax */
    for (int i = 0; i < 3; i++) {            /* cached after the first */
        core->rip = CODE;
        assert_int_equal(run(), V3_OK);
        assert_int_equal(rec.c[i].len, 8);
        assert_int_equal(core->rip, CODE + 3);
    }
    CODEB(0x89, 0x03);                       /* mov [rbx], eax (byte 3 stays 0x03) */
    core->rip = CODE;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 4);
    assert_int_equal(rec.c[3].len, 4);
    assert_int_equal(core->rip, CODE + 2);
    CODEB(0x88, 0x03);                       /* mov [rbx], al: differs in the opcode only */
    core->rip = CODE;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 5);
    assert_int_equal(rec.c[4].len, 1);
    assert_int_equal(rec.c[4].data[0], 0x88);
}

static void t_same_bytes_other_mode(void **s)
{
    (void)s;
    CODEB(0x48, 0x89, 0x03);                 /* 64-bit: mov [rbx], rax */
    core->gpr[V3_RBX] = FH + 0x10;
    core->gpr[V3_RAX] = 5;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);
    set_mode(32);                            /* 32-bit: dec eax; mov [ebx], eax */
    core->gpr[V3_RBX] = FH + 0x10;
    core->gpr[V3_RAX] = 5;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 1);              /* DEC touches no memory */
    assert_int_equal(core->gpr[V3_RAX], 4);
    assert_int_equal(core->rip, CODE + 1);
}

static void t_pte_change_with_invlpg(void **s)
{
    (void)s;
    CODEB(0x89, 0x03);                       /* mov [rbx], eax */
    core->gpr[V3_RBX] = LIN + 0x10;
    pt()[LIN / PG] = FH | 7;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[0].gpa, FH + 0x10);

    pt()[LIN / PG] = (FH + PG) | 7;
    v3_tlb_invlpg(core, LIN);
    core->rip = CODE;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[1].gpa, FH + PG + 0x10);

    pt()[LIN / PG] = FH | 7;
    v3_tlb_flush_all(core);
    core->rip = CODE;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[2].gpa, FH + 0x10);

    pt()[LIN / PG] = 0;                      /* not present any more */
    v3_tlb_invlpg(core, LIN);
    core->rip = CODE;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_PF);
    assert_int_equal(res.exc.cr2, LIN + 0x10);
    assert_int_equal(rec.n, 3);
    assert_int_equal(core->rip, CODE);
}

static void t_cr3_switch(void **s)
{
    (void)s;
    CODEB(0x8b, 0x03);                       /* mov eax, [rbx] */
    core->gpr[V3_RBX] = LIN + 0x20;
    pt()[LIN / PG] = FH | 7;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[0].gpa, FH + 0x20);
    /* a second hierarchy at 0x5000..0x8000: the same but LIN -> FH + PG */
    uint64_t *pml4 = (uint64_t *)(ram + 0x5000), *pdpt = (uint64_t *)(ram + 0x6000);
    uint64_t *pd = (uint64_t *)(ram + 0x7000), *pt2 = (uint64_t *)(ram + 0x8000);
    memset(ram + 0x5000, 0, 0x4000);
    pml4[0] = 0x6000 | 7;
    pdpt[0] = 0x7000 | 7;
    pd[0] = 0x8000 | 7;
    memcpy(pt2, pt(), PG);
    pt2[LIN / PG] = (FH + PG) | 7;
    core->cr3 = 0x5000;
    v3_tlb_flush_all(core);
    core->rip = CODE;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[1].gpa, FH + PG + 0x20);
    core->cr3 = 0x1000;
    v3_tlb_flush_all(core);
    core->rip = CODE;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.c[2].gpa, FH + 0x20);
}

static uint8_t shadow[2 * PG] __attribute__((aligned(4096)));

static void t_map_change(void **s)
{
    (void)s;
    memset(shadow, 0, sizeof(shadow));
    memcpy(ram + DATA, "abcdefgh", 8);
    CODEB(0xf3, 0xa4);                       /* rep movsb (RAM -> FH) */
    for (int round = 0; round < 2; round++) {
        core->rip = CODE;
        core->gpr[V3_RSI] = DATA;
        core->gpr[V3_RDI] = FH + 0x40;
        core->gpr[V3_RCX] = 8;
        assert_int_equal(run(), V3_OK);
        assert_int_equal(core->gpr[V3_RCX], 0);
        assert_int_equal(rec.n, 8 * (round + 1));   /* one callback per byte */
    }
    /* the hooked range becomes RAM: no callback, the bytes land in it */
    assert_int_equal(v3_unhook_mem(vm, FH), V3_OK);
    assert_int_equal(v3_add_shadow_mem(vm, FH, FH + 2 * PG, shadow), V3_OK);
    core->rip = CODE;
    core->gpr[V3_RSI] = DATA;
    core->gpr[V3_RDI] = FH + 0x40;
    core->gpr[V3_RCX] = 8;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 16);
    assert_memory_equal(shadow + 0x40, "abcdefgh", 8);
    /* and back to a hook */
    assert_int_equal(v3_delete_shadow_region(vm, FH), V3_OK);
    assert_int_equal(v3_hook_full_mem(vm, FH, FH + 2 * PG, fh_read, fh_write, NULL), V3_OK);
    CODEB(0x89, 0x03);                       /* mov [rbx], eax */
    core->rip = CODE;
    core->gpr[V3_RBX] = FH + 0x40;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(rec.n, 17);
    assert_int_equal(rec.c[16].gpa, FH + 0x40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_changed_bytes_redecoded, reset),
        cmocka_unit_test_setup(t_same_bytes_other_mode, reset),
        cmocka_unit_test_setup(t_pte_change_with_invlpg, reset),
        cmocka_unit_test_setup(t_cr3_switch, reset),
        cmocka_unit_test_setup(t_map_change, reset),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
