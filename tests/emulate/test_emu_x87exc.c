/* SPDX-License-Identifier: MIT */
/*
 * x87 numeric exception delivery (src/emu/ops_x87.c, v3_x87_begin): an
 * unmasked exception sets FSW.ES and FSW.B without faulting; the next
 * WAITING x87 instruction (or FWAIT) raises #MF when CR0.NE = 1, or asserts
 * FERR# once through core->ferr when CR0.NE = 0 and then executes; the
 * no-wait forms (FNSTSW, FNSTCW, FNCLEX, FNINIT, FNSAVE, FNSTENV) never
 * fault.  Expected behaviour from the SDM (vol. 1 8.7 and 8.8, vol. 3
 * 6.15 "Interrupt 16").
 */
#include "emu_util.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define EXEC(...) exec1(B(__VA_ARGS__), sizeof(B(__VA_ARGS__)))

static int exec1(const uint8_t *b, size_t n)
{
    code(b, n);
    core->rip = CODE;
    return run();
}

static int ferr_calls;
static void *ferr_arg;

static void ferr_cb(struct v3_core *c, void *opaque)
{
    assert_ptr_equal(c, core);
    ferr_calls++;
    ferr_arg = opaque;
}

/* FLD1; FLDZ; FDIVP ST(1), ST(0) with ZE unmasked: 1/0 leaves ES pending */
static void divide_by_zero_pending(void)
{
    unsigned top0 = (core->fpu.fsw >> 11) & 7;
    core->fpu.fcw = 0x37b;                   /* ZE unmasked */
    assert_int_equal(EXEC(0xd9, 0xe8), V3_OK);   /* fld1 */
    assert_int_equal(EXEC(0xd9, 0xee), V3_OK);   /* fldz */
    assert_int_equal(EXEC(0xde, 0xf9), V3_OK);   /* fdivp st1, st0: no fault here */
    assert_int_equal(res.status, V3_EMU_DONE);
    assert_true(core->fpu.fsw & 0x0004);         /* ZE */
    assert_true(core->fpu.fsw & 0x0080);         /* ES */
    assert_true(core->fpu.fsw & 0x8000);         /* B */
    /* the unmasked exception aborted the instruction: no pop, ST(1) still 1.0 */
    assert_int_equal((core->fpu.fsw >> 11) & 7, (top0 - 2) & 7);
    assert_int_equal(core->fpu.st[1][9], 0x3f);
    assert_int_equal(core->fpu.st[1][8], 0xff);
}

static void t_mf_with_ne(void **s)
{
    (void)s;
    core->cr0 |= V3_CR0_NE;
    core->ferr = ferr_cb;
    ferr_calls = 0;
    divide_by_zero_pending();
    /* FWAIT: #MF, RIP at the FWAIT, nothing changed */
    assert_int_equal(EXEC(0x9b), V3_EFAULT);
    ASSERT_EXC(V3_EXC_MF);
    assert_int_equal(core->rip, CODE);
    /* a waiting x87 instruction: #MF too, no push */
    assert_int_equal(EXEC(0xd9, 0xe8), V3_EFAULT);   /* fld1 */
    ASSERT_EXC(V3_EXC_MF);
    assert_int_equal((core->fpu.fsw >> 11) & 7, 6);
    /* no-wait forms run: FNSTSW AX sees ES */
    core->gpr[V3_RAX] = 0;
    assert_int_equal(EXEC(0xdf, 0xe0), V3_OK);       /* fnstsw ax */
    assert_true(core->gpr[V3_RAX] & 0x80);
    assert_int_equal(EXEC(0xd9, 0x3c, 0x25, 0x00, 0x00, 0x02, 0x00), V3_OK);   /* fnstcw [0x20000] */
    assert_int_equal(ram[DATA], 0x7b);
    /* FNCLEX clears it: FWAIT passes */
    assert_int_equal(EXEC(0xdb, 0xe2), V3_OK);       /* fnclex */
    assert_int_equal(core->fpu.fsw & 0x80ff, 0);
    assert_int_equal(EXEC(0x9b), V3_OK);
    assert_int_equal(res.status, V3_EMU_DONE);
    assert_int_equal(ferr_calls, 0);                 /* FERR# is not used with CR0.NE = 1 */
}

static void t_ferr_hook_without_ne(void **s)
{
    (void)s;
    core->cr0 &= ~V3_CR0_NE;
    core->ferr = ferr_cb;
    core->ferr_opaque = &ferr_calls;
    ferr_calls = 0;
    divide_by_zero_pending();
    assert_int_equal(ferr_calls, 0);                 /* not at the faulting instruction */
    /* FWAIT: FERR# asserted once, the instruction completes */
    assert_int_equal(EXEC(0x9b), V3_OK);
    assert_int_equal(res.status, V3_EMU_DONE);
    assert_int_equal(core->rip, CODE + 1);
    assert_int_equal(ferr_calls, 1);
    assert_ptr_equal(ferr_arg, &ferr_calls);
    /* still pending: a waiting instruction executes, no second assertion */
    assert_int_equal(EXEC(0xd9, 0xe8), V3_OK);       /* fld1 */
    assert_int_equal((core->fpu.fsw >> 11) & 7, 5);
    assert_int_equal(ferr_calls, 1);
    /* cleared by FNCLEX; a new exception asserts it again */
    assert_int_equal(EXEC(0xdb, 0xe2), V3_OK);
    divide_by_zero_pending();
    assert_int_equal(EXEC(0x9b), V3_OK);
    assert_int_equal(ferr_calls, 2);
    /* FNINIT clears it as well */
    assert_int_equal(EXEC(0xdb, 0xe3), V3_OK);
    assert_int_equal(core->fpu.fsw, 0);
    divide_by_zero_pending();
    assert_int_equal(EXEC(0x9b), V3_OK);
    assert_int_equal(ferr_calls, 3);
}

static void t_ferr_unconnected(void **s)
{
    (void)s;
    core->cr0 &= ~V3_CR0_NE;
    core->ferr = NULL;
    divide_by_zero_pending();
    assert_int_equal(EXEC(0x9b), V3_OK);             /* nothing on FERR#: nothing happens */
    assert_int_equal(res.status, V3_EMU_DONE);
    assert_int_equal(EXEC(0xd9, 0xe8), V3_OK);
    assert_int_equal(res.status, V3_EMU_DONE);
}

static void t_masked_no_fault(void **s)
{
    (void)s;
    core->cr0 |= V3_CR0_NE;
    core->fpu.fcw = 0x37f;
    assert_int_equal(EXEC(0xd9, 0xe8), V3_OK);
    assert_int_equal(EXEC(0xd9, 0xee), V3_OK);
    assert_int_equal(EXEC(0xde, 0xf9), V3_OK);       /* 1/0 masked: +inf, popped */
    assert_true(core->fpu.fsw & 0x0004);
    assert_false(core->fpu.fsw & 0x0080);
    assert_int_equal((core->fpu.fsw >> 11) & 7, 7);
    assert_int_equal(core->fpu.st[0][9], 0x7f);
    assert_int_equal(core->fpu.st[0][8], 0xff);
    assert_int_equal(EXEC(0x9b), V3_OK);
    assert_int_equal(res.status, V3_EMU_DONE);
    /* FLDCW unmasking the sticky ZE makes it pending: the next FWAIT faults */
    core->fpu.fsw |= 0;                                  /* ZE still set */
    ram[DATA] = 0x7b;
    ram[DATA + 1] = 0x03;
    assert_int_equal(EXEC(0xd9, 0x2c, 0x25, 0x00, 0x00, 0x02, 0x00), V3_OK);   /* fldcw [0x20000] */
    assert_true(core->fpu.fsw & 0x0080);
    assert_int_equal(EXEC(0x9b), V3_EFAULT);
    ASSERT_EXC(V3_EXC_MF);
}

/* #NM comes before #MF: CR0.TS with a pending exception */
static void t_nm_before_mf(void **s)
{
    (void)s;
    core->cr0 |= V3_CR0_NE;
    divide_by_zero_pending();
    core->cr0 |= V3_CR0_TS;
    assert_int_equal(EXEC(0xd9, 0xe8), V3_EFAULT);
    ASSERT_EXC(V3_EXC_NM);
    /* FWAIT: #NM only with MP as well, else #MF */
    assert_int_equal(EXEC(0x9b), V3_EFAULT);
    ASSERT_EXC(V3_EXC_MF);
    core->cr0 |= V3_CR0_MP;
    assert_int_equal(EXEC(0x9b), V3_EFAULT);
    ASSERT_EXC(V3_EXC_NM);
}

static int x87_reset(void **state)
{
    reset(state);
    core->fpu.fcw = 0x37f;
    core->fpu.fsw = 0;
    core->fpu.ftw = 0;
    core->ferr = NULL;
    core->ferr_opaque = NULL;
    core->ferr_asserted = 0;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_mf_with_ne, x87_reset),
        cmocka_unit_test_setup(t_ferr_hook_without_ne, x87_reset),
        cmocka_unit_test_setup(t_ferr_unconnected, x87_reset),
        cmocka_unit_test_setup(t_masked_no_fault, x87_reset),
        cmocka_unit_test_setup(t_nm_before_mf, x87_reset),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
