/* SPDX-License-Identifier: MIT */
/*
 * Interrupt delivery on the software CPU back end: the STI and MOV SS
 * interrupt shadows, HLT woken by an interrupt, NMI blocking until IRET, and
 * a triple fault ending in V3_EXIT_SHUTDOWN.  Expected frames are computed by
 * hand from the architecture (real-mode IVT delivery pushes FLAGS, CS, IP).
 */
#include <stdio.h>
#include <string.h>
#include "v3test.h"
#include <v3/backend.h>
#include <v3/cpu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/vm.h>
#include "arch/system.h"

#define RAM (1u << 20)
static struct v3_vm *vm;
static struct v3_core *core;
static uint8_t *ram;

static int setup(void **state)
{
    (void)state;
    if (v3t_setup(NULL))
        return -1;
    vm = v3t_create_vm(RAM, &v3_emu_backend, &core, &ram);
    if (!vm)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    v3_free_vm(vm);
    return v3t_teardown(NULL);
}

/* Real mode at 0000:1000, stack 0000:8000, IVT vector 0x20 -> 0000:2000 (HLT), NMI -> 0000:3000. */
static int reset(void **state)
{
    (void)state;
    memset(ram, 0, RAM);
    v3_cpu_invalidate_code(core, 0, RAM);
    v3_core_reset(core);
    core->seg[V3_CS].selector = 0;
    core->seg[V3_CS].base = 0;
    core->rip = 0x1000;
    core->gpr[V3_RSP] = 0x8000;
    core->idtr.base = 0;
    core->idtr.limit = 0x3ff;
    v3_tlb_flush_all(core);
    v3_cpu_set_insn_limit(core, 0);
    uint32_t v20 = 0x2000, v2 = 0x3000;
    memcpy(ram + 0x20 * 4, &v20, 4);
    memcpy(ram + 2 * 4, &v2, 4);
    ram[0x2000] = 0xf4;                 /* hlt */
    ram[0x3000] = 0xf4;                 /* hlt */
    ram[0x3001] = 0xcf;                 /* iret */
    ram[0x3002] = 0xf4;                 /* hlt */
    return 0;
}

static uint16_t get16(unsigned a) { uint16_t v; memcpy(&v, ram + a, 2); return v; }

static int run(struct v3_exit *ex)
{
    memset(ex, 0, sizeof(*ex));
    return v3_emu_backend.run(core, ex);
}

static void inject_int(unsigned vec)
{
    struct v3_event ev = { .type = V3_EVENT_INTERRUPT, .vector = (uint8_t)vec };
    assert_int_equal(v3_emu_backend.inject(core, &ev), 0);
}

static void test_sti_shadow(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0xfb, 0x90, 0xfa, 0xf4 };   /* sti; nop; cli; hlt */
    struct v3_exit ex;
    memcpy(ram + 0x1000, code, sizeof(code));
    inject_int(0x20);                    /* pending while IF = 0 */
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x2001);             /* in the handler */
    assert_int_equal(get16(0x8000 - 6), 0x1002);     /* taken after the NOP, not after STI */
    assert_true(get16(0x8000 - 2) & V3_FLAG_IF);
}

static void test_movss_shadow(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0x8e, 0xd0, 0x90, 0xf4 };   /* mov ss, ax; nop; hlt */
    struct v3_exit ex;
    memcpy(ram + 0x1000, code, sizeof(code));
    core->gpr[V3_RAX] = 0;
    v3_core_set_rflags(core, 0x202);
    v3_cpu_set_insn_limit(core, core->insn_count + 1);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_INSN_LIMIT);
    assert_int_equal(core->rip, 0x1002);
    v3_cpu_set_insn_limit(core, 0);
    inject_int(0x20);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(get16(0x8000 - 6), 0x1003);     /* after the NOP that follows MOV SS */
}

static void test_hlt_wakes(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0xfb, 0xf4, 0xf4 };         /* sti; hlt; hlt */
    struct v3_exit ex;
    memcpy(ram + 0x1000, code, sizeof(code));
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x1002);
    inject_int(0x20);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x2001);
    assert_int_equal(get16(0x8000 - 6), 0x1002);     /* returns after the HLT */
    assert_int_equal(core->halted, 1);               /* halted again, in the handler */
}

static void test_nmi_blocking(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0x90, 0xf4 };
    struct v3_exit ex;
    struct v3_event nmi = { .type = V3_EVENT_NMI };
    memcpy(ram + 0x1000, code, sizeof(code));
    assert_int_equal(v3_emu_backend.inject(core, &nmi), 0);
    assert_int_equal(run(&ex), 0);                   /* NMI taken at once (IF does not matter) */
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x3001);
    assert_int_equal(core->nmi_blocked, 1);
    /* a second NMI waits for the IRET; blocked, it cannot wake the HLT */
    assert_int_equal(v3_emu_backend.inject(core, &nmi), 0);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x3001);
    assert_int_equal(core->halted, 1);
    core->halted = 0;                                /* the VMM resumes the handler past its HLT */
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x3001);             /* delivered right after the IRET */
    assert_int_equal(get16(0x8000 - 6), 0x1000);     /* pushed after the IRET (nested delivery would push 0x3001) */
}

static void test_triple_fault(void **state)
{
    (void)state;
    /* protected mode with an empty IDT: UD2 -> #UD -> #GP -> #DF -> shutdown */
    static const uint8_t code[] = { 0x0f, 0x0b };
    uint64_t gdt[3] = { 0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull };
    struct v3_exit ex;
    memcpy(ram + 0x500, gdt, sizeof(gdt));
    memcpy(ram + 0x1000, code, sizeof(code));
    core->gdtr.base = 0x500;
    core->gdtr.limit = 23;
    core->idtr.base = 0;
    core->idtr.limit = 0;
    core->cr0 |= V3_CR0_PE;
    v3_cpu_desc_to_seg(gdt[1], 0x08, &core->seg[V3_CS]);
    v3_cpu_desc_to_seg(gdt[2], 0x10, &core->seg[V3_SS]);
    v3_cpu_desc_to_seg(gdt[2], 0x10, &core->seg[V3_DS]);
    v3_core_update_mode(core);
    v3_tlb_flush_all(core);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_SHUTDOWN);
}

/* A halted vCPU stays halted: run() again reports HLT without executing, until an event is taken. */
static void test_halted_stays(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0xf4, 0x40, 0xf4 };         /* hlt; inc ax; hlt (IF = 0) */
    struct v3_exit ex;
    uint64_t n;
    memcpy(ram + 0x1000, code, sizeof(code));
    core->gpr[V3_RAX] = 7;
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x1001);
    assert_int_equal(core->halted, 1);
    n = core->insn_count;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run(&ex), 0);
        assert_int_equal(ex.reason, V3_EXIT_HLT);
        assert_int_equal(core->rip, 0x1001);
        assert_int_equal(core->gpr[V3_RAX], 7);      /* INC AX did not run */
        assert_int_equal(core->insn_count, n);
        assert_int_equal(core->halted, 1);
    }
    /* an interrupt while IF = 0 does not wake it */
    inject_int(0x20);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x1001);
    assert_int_equal(core->gpr[V3_RAX], 7);
    /* a stop request is still reported */
    v3_cpu_request_stop(core);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_STOP);
    assert_int_equal(core->rip, 0x1001);
    assert_int_equal(core->gpr[V3_RAX], 7);
    /* with IF = 1 the pending interrupt is taken: the handler runs, IP after the HLT is pushed */
    v3_core_set_rflags(core, 0x202);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x2001);
    assert_int_equal(get16(0x8000 - 6), 0x1001);
    assert_int_equal(core->gpr[V3_RAX], 7);
}

/*
 * Single-step over an instruction that faults: the fault is delivered and no
 * single-step #DB follows (the instruction did not complete; real-mode
 * delivery clears TF, so the handler runs untrapped).  IVT: #DE -> 0000:4000
 * (hlt), #DB -> 0000:5000 (hlt).
 */
static void test_tf_fault_no_step_trap(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0xf6, 0xf3 };               /* div bl (BL = 0): #DE */
    uint32_t v0 = 0x4000, v1 = 0x5000;
    struct v3_exit ex;
    memcpy(ram + 0 * 4, &v0, 4);
    memcpy(ram + 1 * 4, &v1, 4);
    ram[0x4000] = 0xf4;
    ram[0x5000] = 0xf4;
    memcpy(ram + 0x1000, code, sizeof(code));
    core->gpr[V3_RAX] = 100;
    core->gpr[V3_RBX] = 0;
    v3_core_set_rflags(core, 0x102);                 /* TF */
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x4001);             /* in the #DE handler, not the #DB one */
    assert_int_equal(get16(0x8000 - 6), 0x1000);     /* #DE frame: the faulting DIV */
    assert_true(get16(0x8000 - 2) & V3_FLAG_TF);
    assert_int_equal(core->gpr[V3_RSP] & 0xffff, 0x8000 - 6);   /* one frame only */
    assert_int_equal(core->dr[6] & 0x4000, 0);       /* no DR6.BS */

    /* control: the same with a DIV that completes traps after it */
    core->halted = 0;
    core->rip = 0x1000;
    core->gpr[V3_RSP] = 0x8000;
    core->gpr[V3_RAX] = 100;
    core->gpr[V3_RBX] = 7;
    v3_core_set_rflags(core, 0x102);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x5001);             /* #DB handler */
    assert_int_equal(get16(0x8000 - 6), 0x1002);     /* after the DIV */
    assert_int_equal(core->gpr[V3_RAX] & 0xffff, (2 << 8) | 14);   /* 100 = 7 * 14 + 2 */
    assert_true(core->dr[6] & 0x4000);
}

/*
 * Debug exceptions around the interrupt shadows (SDM vol. 3 6.8.3, 17.3.1.4):
 * a data breakpoint hit by MOV SS and the single-step trap of MOV SS are
 * reported after the NEXT instruction, in one #DB (B0 and BS); STI's shadow
 * does not delay the single-step trap.
 */
static void test_db_shadows(void **state)
{
    (void)state;
    static const uint8_t code[] = { 0x8e, 0x16, 0x00, 0x06, 0x90, 0xf4 };   /* mov ss, [600h]; nop; hlt */
    uint32_t v1 = 0x5000;
    struct v3_exit ex;
    memcpy(ram + 1 * 4, &v1, 4);
    ram[0x5000] = 0xf4;
    memcpy(ram + 0x1000, code, sizeof(code));
    core->dr[0] = 0x600;
    core->dr[7] = 0x400 | 1 | (3u << 16);           /* L0, read/write, 1 byte */
    v3_core_set_rflags(core, 0x102);                 /* TF */
    assert_int_equal(run(&ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(core->rip, 0x5001);             /* #DB handler */
    assert_int_equal(get16(0x8000 - 6), 0x1005);     /* after the NOP, not after MOV SS */
    assert_int_equal(core->gpr[V3_RSP] & 0xffff, 0x8000 - 6);   /* one #DB */
    assert_int_equal(core->dr[6] & 0x400f, 0x4001);  /* BS and B0 together */

    /* data breakpoint alone (TF clear): the same delay */
    core->halted = 0;
    core->rip = 0x1000;
    core->gpr[V3_RSP] = 0x8000;
    core->dr[6] = 0xffff0ff0;
    v3_core_set_rflags(core, 0x2);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(core->rip, 0x5001);
    assert_int_equal(get16(0x8000 - 6), 0x1005);
    assert_int_equal(core->dr[6] & 0x400f, 0x0001);

    /* STI with TF: the trap follows STI itself */
    static const uint8_t sti[] = { 0xfb, 0x90, 0xf4 };
    memcpy(ram + 0x1000, sti, sizeof(sti));
    v3_cpu_invalidate_code(core, 0x1000, 0x1000 + sizeof(sti));
    core->dr[7] = 0x400;
    core->halted = 0;
    core->rip = 0x1000;
    core->gpr[V3_RSP] = 0x8000;
    v3_core_set_rflags(core, 0x102);
    assert_int_equal(run(&ex), 0);
    assert_int_equal(core->rip, 0x5001);
    assert_int_equal(get16(0x8000 - 6), 0x1001);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_sti_shadow, reset),
        cmocka_unit_test_setup(test_movss_shadow, reset),
        cmocka_unit_test_setup(test_db_shadows, reset),
        cmocka_unit_test_setup(test_hlt_wakes, reset),
        cmocka_unit_test_setup(test_nmi_blocking, reset),
        cmocka_unit_test_setup(test_triple_fault, reset),
        cmocka_unit_test_setup(test_halted_stays, reset),
        cmocka_unit_test_setup(test_tf_fault_no_step_trap, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
