/* SPDX-License-Identifier: MIT */
/*
 * BMI1 and CLFLUSH corner cases the host-differential test (test_cpu_diff64)
 * cannot reach: CLFLUSH faults exactly like a one-byte load (a not-present
 * page gives #PF with a read error code at the flushed address, a
 * non-canonical address #GP(0)) and otherwise changes nothing; BMI1 forms
 * (VEX-encoded) are #UD in real mode; BEXTR with start/length beyond the
 * operand (SDM vol. 2, BEXTR operation) and a memory source on a hooked
 * region (one read of the operand width).
 */
#include "emu_util.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define CODEB(...) code(B(__VA_ARGS__), sizeof(B(__VA_ARGS__)))

static void t_clflush_not_present(void **s)
{
    (void)s;
    CODEB(0x0f, 0xae, 0x3b);                 /* clflush [rbx] */
    core->gpr[V3_RBX] = NP + 0x123;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_PF);
    assert_int_equal(res.exc.cr2, NP + 0x123);
    assert_false(res.exc.error_code & V3_PF_W);
    assert_false(res.exc.error_code & V3_PF_P);
    assert_int_equal(core->rip, CODE);
}

static void t_clflush_ram_noop(void **s)
{
    (void)s;
    CODEB(0x0f, 0xae, 0x3b);                 /* clflush [rbx] */
    core->gpr[V3_RBX] = DATA + 0x40;
    ram[DATA + 0x40] = 0x5a;
    uint64_t fl = v3_core_get_rflags(core);
    assert_int_equal(run(), V3_OK);
    assert_int_equal(res.status, V3_EMU_DONE);
    assert_int_equal(core->rip, CODE + 3);
    assert_int_equal(ram[DATA + 0x40], 0x5a);
    assert_int_equal(v3_core_get_rflags(core), fl);
}

static void t_clflush_noncanonical(void **s)
{
    (void)s;
    CODEB(0x0f, 0xae, 0x3b);                 /* clflush [rbx] */
    core->gpr[V3_RBX] = 0x0000800000000000ull;
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_GP);
}

static void t_bmi_real_mode_ud(void **s)
{
    (void)s;
    set_mode(16);
    CODEB(0xc4, 0xe2, 0x70, 0xf2, 0xc2);     /* andn eax, ecx, edx */
    assert_int_equal(run(), V3_EFAULT);
    ASSERT_EXC(V3_EXC_UD);
}

static void t_bextr_edges(void **s)
{
    (void)s;
    /* bextr rax, [rbx], rcx: c4 e2 f0 f7 03 */
    CODEB(0xc4, 0xe2, 0xf0, 0xf7, 0x03);
    core->gpr[V3_RBX] = FH;
    memcpy(rec.mem, B(0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01), 8);
    core->gpr[V3_RCX] = 0x1004;              /* start 4, length 16 */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 0xbcdeull);   /* bits 19..4 of 0x0123456789abcdef */
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.c[0].len, 8);
    assert_false(rec.c[0].write);
    /* start beyond the operand: 0 and ZF; length 0: 0 */
    core->rip = CODE;
    core->gpr[V3_RCX] = 0x2040;              /* start 64 */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 0);
    assert_true(v3_core_get_rflags(core) & V3_FLAG_ZF);
    core->rip = CODE;
    core->gpr[V3_RCX] = 0xff3c;              /* start 60, length 255: bits 63..60 */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 0);  /* 0x01 >> 4 */
    core->rip = CODE;
    core->gpr[V3_RCX] = 0xff38;              /* start 56: the top byte 0x01 */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->gpr[V3_RAX], 1);
    assert_false(v3_core_get_rflags(core) & (V3_FLAG_ZF | V3_FLAG_CF | V3_FLAG_OF));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_clflush_not_present, reset),
        cmocka_unit_test_setup(t_clflush_ram_noop, reset),
        cmocka_unit_test_setup(t_clflush_noncanonical, reset),
        cmocka_unit_test_setup(t_bmi_real_mode_ud, reset),
        cmocka_unit_test_setup(t_bextr_edges, reset),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
