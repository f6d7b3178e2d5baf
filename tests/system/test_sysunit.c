/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the system level (src/arch): control-register and MSR
 * checks that QEMU TCG does not enforce (so the guest programs cannot
 * compare them), event delivery frames in real and protected mode, triple
 * fault, segment-load faults, the TSS I/O bitmap and breakpoint predicates.
 * Expected values are taken from the Intel SDM / AMD APM by hand.
 */
#include <stdio.h>
#include <string.h>
#include "v3test.h"
#include <v3/cpu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/vm.h>
#include "arch/system.h"

#define RAM (4u << 20)
static struct v3_vm *vm;
static struct v3_core *core;
static uint8_t *ram;
static struct v3_exception exc;
static const struct v3_backend_ops null_backend = { .name = "null" };

static int setup(void **state)
{
    (void)state;
    if (v3t_setup(NULL))
        return -1;
    vm = v3t_create_vm(RAM, &null_backend, &core, &ram);   /* state only: nothing runs */
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

static int reset(void **state)
{
    (void)state;
    memset(ram, 0, RAM);
    v3_core_reset(core);
    v3_tlb_flush_all(core);
    memset(&exc, 0, sizeof(exc));
    return 0;
}

static void put64(uint64_t a, uint64_t v) { memcpy(ram + a, &v, 8); }
static void put32(uint64_t a, uint32_t v) { memcpy(ram + a, &v, 4); }
static void put16(uint64_t a, uint16_t v) { memcpy(ram + a, &v, 2); }
static uint32_t get32(uint64_t a) { uint32_t v; memcpy(&v, ram + a, 4); return v; }
static uint16_t get16(uint64_t a) { uint16_t v; memcpy(&v, ram + a, 2); return v; }

#define GDT 0x1000
#define IDT 0x2000
#define TSS 0x3000

/* flat 32-bit protected mode at CPL 0 with a GDT: 08 code, 10 data, 1b code dpl3, 23 data dpl3, 28 tss */
static void enter_pm32(void)
{
    put64(GDT + 0x08, 0x00cf9a000000ffffull);
    put64(GDT + 0x10, 0x00cf92000000ffffull);
    put64(GDT + 0x18, 0x00cffa000000ffffull);
    put64(GDT + 0x20, 0x00cff2000000ffffull);
    put64(GDT + 0x28, 0x0000890000000000ull | TSS << 16 | (0x68 + 8192));
    put64(GDT + 0x30, 0x00cf12000000ffffull);     /* data, not present */
    core->gdtr.base = GDT;
    core->gdtr.limit = 0x3f;
    core->cr0 |= V3_CR0_PE;
    v3_cpu_desc_to_seg(0x00cf9a000000ffffull, 0x08, &core->seg[V3_CS]);
    for (int s = V3_ES; s <= V3_GS; s++)
        if (s != V3_CS)
            v3_cpu_desc_to_seg(0x00cf92000000ffffull, 0x10, &core->seg[s]);
    v3_cpu_desc_to_seg(0x0000890000000000ull | TSS << 16 | (0x68 + 8192), 0x28, &core->seg[V3_TR]);
    v3_core_update_mode(core);
}

static void idt_gate32(unsigned vec, uint32_t off, uint16_t sel, uint16_t attr)
{
    put32(IDT + vec * 8, (off & 0xffff) | (uint32_t)sel << 16);
    put32(IDT + vec * 8 + 4, (off & 0xffff0000u) | attr);
}

/* ---------------------------------------------------------------- control registers */

static void test_cr0_checks(void **state)
{
    (void)state;
    assert_int_equal(v3_cpu_write_cr(core, 0, V3_CR0_PG | V3_CR0_ET, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_GP);
    assert_int_equal(exc.error_code, 0);
    assert_int_equal(v3_cpu_write_cr(core, 0, V3_CR0_PE | V3_CR0_NW, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_write_cr(core, 0, V3_CR0_PE, &exc), 0);
    assert_int_equal(core->mode, V3_MODE_PROT16);
    assert_true(core->cr0 & V3_CR0_ET);                 /* ET is hard-wired */
    assert_int_equal(v3_cpu_write_cr(core, 0, 1ull << 32 | V3_CR0_PE, &exc), 0);   /* legacy: upper half dropped */
}

static void test_cr4_cr8_checks(void **state)
{
    (void)state;
    assert_int_equal(v3_cpu_write_cr(core, 4, 1ull << 15, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_GP);
    assert_int_equal(v3_cpu_write_cr(core, 4, V3_CR4_PAE | V3_CR4_PSE, &exc), 0);
    assert_int_equal(v3_cpu_write_cr(core, 8, 1, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_UD);
    assert_int_equal(v3_cpu_write_cr(core, 5, 0, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_UD);
    assert_int_equal(v3_cpu_write_cr(core, 2, 0x12345678, &exc), 0);
    assert_int_equal(core->cr2, 0x12345678);
}

static void test_long_mode_activation(void **state)
{
    (void)state;
    enter_pm32();
    /* page tables: one 2 MiB identity page */
    put64(0x10000, 0x11000 | 3);
    put64(0x11000, 0x12000 | 3);
    put64(0x12000, 0x83);
    assert_int_equal(v3_cpu_write_cr(core, 3, 0x10000, &exc), 0);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_EFER, V3_EFER_LME, &exc), 0);
    /* PG with LME but without PAE: #GP(0) */
    assert_int_equal(v3_cpu_write_cr(core, 0, core->cr0 | V3_CR0_PG, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_GP);
    assert_int_equal(v3_cpu_write_cr(core, 4, V3_CR4_PAE, &exc), 0);
    assert_int_equal(v3_cpu_write_cr(core, 0, core->cr0 | V3_CR0_PG, &exc), 0);
    assert_true(core->efer & V3_EFER_LMA);
    assert_int_equal(core->mode, V3_MODE_COMPAT32);
    /* with paging on, LME cannot change; PAE cannot be cleared in long mode */
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_EFER, 0, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_write_cr(core, 4, 0, &exc), V3_EFAULT);
    uint64_t v;
    assert_int_equal(v3_cpu_rdmsr(core, V3_MSR_EFER, &v, &exc), 0);
    assert_int_equal(v, V3_EFER_LME | V3_EFER_LMA);
    /* paging off leaves long mode */
    assert_int_equal(v3_cpu_write_cr(core, 0, core->cr0 & ~V3_CR0_PG, &exc), 0);
    assert_false(core->efer & V3_EFER_LMA);
    assert_int_equal(core->mode, V3_MODE_PROT32);
}

/* ---------------------------------------------------------------- MSRs */

static void test_msrs(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(v3_cpu_rdmsr(core, 0x12345678, &v, &exc), V3_MSR_UNKNOWN);
    assert_int_equal(v3_cpu_wrmsr(core, 0x12345678, 1, &exc), V3_MSR_UNKNOWN);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_EFER, 1ull << 1, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_LSTAR, 0x0000800000000000ull, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_FS_BASE, 0x0000800000000000ull, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_GS_BASE, 0x8000000000000000ull, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_KERNEL_GS_BASE, 0x0001000000000000ull, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_LSTAR, 0xffff800000001000ull, &exc), 0);
    assert_int_equal(v3_cpu_rdmsr(core, V3_MSR_LSTAR, &v, &exc), 0);
    assert_int_equal(v, 0xffff800000001000ull);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_PAT, 0x0000000000000002ull, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_PAT, 0x0007010600070106ull, &exc), 0);
    assert_int_equal(v3_cpu_wrmsr(core, 0x201, 0xfff00000800ull, &exc), 0);   /* MTRR mask 0 */
    assert_int_equal(v3_cpu_rdmsr(core, 0x201, &v, &exc), 0);
    assert_int_equal(v, 0xfff00000800ull);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_TSC, 1000, &exc), 0);
    assert_int_equal(v3_cpu_read_tsc(core), 1000);
    assert_int_equal(v3_cpu_wrmsr(core, V3_MSR_GS_BASE, 0x1234, &exc), 0);
    assert_int_equal(core->seg[V3_GS].base, 0x1234);
    enter_pm32();
    core->cpl = 3;
    assert_int_equal(v3_cpu_rdmsr(core, V3_MSR_EFER, &v, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_GP);
}

/* The inert MSRs of src/arch/system.c, per vendor (values from the
 * AMD BKDG/PPR for family 17h and the Intel SDM vol. 4). */
/* DR6 bit 16 (RTM) is reserved and reads 1 on a CPU without RTM (SDM 17.2.3) */
static void test_dr6_rtm(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(v3_cpu_write_dr(core, 6, 0, &exc), 0);
    assert_int_equal(v3_cpu_read_dr(core, 6, &v, &exc), 0);
    assert_int_equal(v, 0xffff0ff0);
    assert_int_equal(v3_cpu_write_dr(core, 6, 0x00004005, &exc), 0);
    assert_int_equal(v3_cpu_read_dr(core, 6, &v, &exc), 0);
    assert_int_equal(v, 0xffff4ff5);
    assert_int_equal(v3_cpu_write_dr(core, 6, 0xffffffff, &exc), 0);
    assert_int_equal(v3_cpu_read_dr(core, 6, &v, &exc), 0);
    assert_int_equal(v, 0xffffefff);
}

static void test_msrs_vendor(void **state)
{
    (void)state;
    uint64_t v;
    /* this core has no back end: the default (AMD) model */
    assert_int_equal(v3_cpu_rdmsr(core, 0xc0010015, &v, &exc), 0);          /* HWCR */
    assert_int_equal(v, 0x01000010);
    assert_int_equal(v3_cpu_wrmsr(core, 0xc0010015, 1ull << 30, &exc), 0);  /* IRPerfEn; TscFreqSel RO */
    assert_int_equal(v3_cpu_rdmsr(core, 0xc0010015, &v, &exc), 0);
    assert_int_equal(v, (1ull << 30) | (1ull << 24));
    assert_int_equal(v3_cpu_wrmsr(core, 0xc0010015, 1ull << 40, &exc), V3_EFAULT);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(v3_cpu_wrmsr(core, 0xc0010000 + i, 0x430076 + i, &exc), 0);
        assert_int_equal(v3_cpu_wrmsr(core, 0xc0010004 + i, ~0ull - i, &exc), 0);
    }
    assert_int_equal(v3_cpu_rdmsr(core, 0xc0010002, &v, &exc), 0);
    assert_int_equal(v, 0x430078);
    assert_int_equal(v3_cpu_rdmsr(core, 0xc0010007, &v, &exc), 0);
    assert_int_equal(v, (~0ull - 3) & 0xffffffffffffull);                  /* 48-bit counter */
    assert_int_equal(v3_cpu_rdmsr(core, 0xc0010010, &v, &exc), 0);          /* SYSCFG */
    assert_int_equal(v, 0x00140000);
    assert_int_equal(v3_cpu_wrmsr(core, 0xc0010010, 1ull << 23, &exc), V3_EFAULT);   /* no SME */
    assert_int_equal(v3_cpu_wrmsr(core, 0xc001001f, 1ull << 46, &exc), 0);  /* NB_CFG */
    assert_int_equal(v3_cpu_rdmsr(core, 0xc001001f, &v, &exc), 0);
    assert_int_equal(v, 1ull << 46);
    assert_int_equal(v3_cpu_rdmsr(core, 0x8b, &v, &exc), 0);                /* PATCH_LEVEL */
    assert_int_equal(v >> 32, 1);
    assert_int_equal(v3_cpu_wrmsr(core, 0x8b, 0, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_rdmsr(core, 0x179, &v, &exc), 0);               /* MCG_CAP: no banks */
    assert_int_equal(v, 0);
    assert_int_equal(v3_cpu_wrmsr(core, 0x17a, 0, &exc), 0);
    assert_int_equal(v3_cpu_wrmsr(core, 0x17a, 1, &exc), V3_EFAULT);
    /* Intel-only MSRs and unreported features: the VMM's (#GP) */
    assert_int_equal(v3_cpu_rdmsr(core, 0x1a0, &v, &exc), V3_MSR_UNKNOWN);
    assert_int_equal(v3_cpu_rdmsr(core, 0xce, &v, &exc), V3_MSR_UNKNOWN);
    assert_int_equal(v3_cpu_rdmsr(core, 0x48, &v, &exc), V3_MSR_UNKNOWN);   /* SPEC_CTRL */
    assert_int_equal(v3_cpu_wrmsr(core, 0x49, 1, &exc), V3_MSR_UNKNOWN);    /* PRED_CMD */

    /* an Intel model on a software-CPU core */
    struct v3_core *ic;
    uint8_t *iram;
    struct v3_cpu_model m;
    struct v3_vm *ivm = v3t_create_vm(RAM, &v3_emu_backend, &ic, &iram);
    uint32_t id[4];
    assert_non_null(ivm);
    v3_cpu_vendor_model(&m, V3_CPU_VENDOR_INTEL);
    assert_int_equal(v3_cpu_set_model(ic, &m), V3_OK);
    v3_cpu_cpuid(ic, 0, 0, id);
    assert_int_equal(id[1], 0x756e6547u);                                  /* "Genu" */
    v3_cpu_cpuid(ic, 0x30000000u, 0, id);                                  /* beyond range: leaf 0x16 */
    assert_int_equal(id[0], 2000);
    v3_cpu_cpuid(ic, 0x40000000u, 0, id);                                  /* the hypervisor range */
    assert_int_equal(id[0], 0x40000010u);
    assert_int_equal(v3_cpu_rdmsr(ic, 0x1a0, &v, &exc), 0);
    assert_int_equal(v, 0x1801);
    assert_int_equal(v3_cpu_wrmsr(ic, 0x1a0, 0x1800, &exc), 0);             /* fast strings off */
    assert_int_equal(v3_cpu_rdmsr(ic, 0x1a0, &v, &exc), 0);
    assert_int_equal(v, 0x1800);
    assert_int_equal(v3_cpu_wrmsr(ic, 0x1a0, 1ull << 22, &exc), V3_EFAULT); /* LIMIT_CPUID */
    assert_int_equal(v3_cpu_rdmsr(ic, 0xce, &v, &exc), 0);
    assert_int_equal((v >> 8) & 0xff, 20);
    assert_int_equal(v3_cpu_rdmsr(ic, 0x3a, &v, &exc), 0);
    assert_int_equal(v, 1);
    assert_int_equal(v3_cpu_wrmsr(ic, 0x3a, 5, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_wrmsr(ic, 0x8b, 0, &exc), 0);                   /* revision query */
    assert_int_equal(v3_cpu_rdmsr(ic, 0xc0010015, &v, &exc), V3_MSR_UNKNOWN);
    assert_int_equal(v3_cpu_rdmsr(ic, 0xc0010004, &v, &exc), V3_MSR_UNKNOWN);
    v3_free_vm(ivm);
    /* AMD: a leaf beyond the range reads zeros */
    v3_cpu_cpuid(core, 0x30000000u, 0, id);
    assert_int_equal(id[0] | id[1] | id[2] | id[3], 0);
    v3_cpu_cpuid(core, 0x8000001fu, 0, id);
    assert_int_equal(id[0] | id[1] | id[2] | id[3], 0);
}

/* ---------------------------------------------------------------- delivery */

static void test_real_mode_delivery(void **state)
{
    (void)state;
    core->seg[V3_CS].selector = 0x1000;
    core->seg[V3_CS].base = 0x10000;
    core->rip = 0x234;
    core->seg[V3_SS].selector = 0;
    core->seg[V3_SS].base = 0;
    core->gpr[V3_RSP] = 0x8000;
    core->idtr.base = 0;
    core->idtr.limit = 0x3ff;
    v3_core_set_rflags(core, 0x2 | V3_FLAG_IF | V3_FLAG_TF | V3_FLAG_CF);
    put32(0x21 * 4, 0x20000100);      /* 2000:0100 */
    struct v3_event ev = { .type = V3_EVENT_INTERRUPT, .vector = 0x21 };
    assert_int_equal(v3_cpu_deliver_event(core, &ev), 0);
    assert_int_equal(core->seg[V3_CS].selector, 0x2000);
    assert_int_equal(core->seg[V3_CS].base, 0x20000);
    assert_int_equal(core->rip, 0x100);
    assert_int_equal(core->gpr[V3_RSP], 0x7ffa);
    assert_int_equal(get16(0x7ffa), 0x234);
    assert_int_equal(get16(0x7ffc), 0x1000);
    assert_int_equal(get16(0x7ffe), 0x2 | V3_FLAG_IF | V3_FLAG_TF | V3_FLAG_CF);
    assert_int_equal(v3_core_get_rflags(core) & (V3_FLAG_IF | V3_FLAG_TF), 0);
}

static void test_pm32_delivery_frame(void **state)
{
    (void)state;
    enter_pm32();
    core->idtr.base = IDT;
    core->idtr.limit = 0x7ff;
    idt_gate32(13, 0x5000, 0x08, 0x8e00);
    core->rip = 0x4000;
    core->gpr[V3_RSP] = 0x9000;
    v3_core_set_rflags(core, 0x202);
    struct v3_event ev = { .type = V3_EVENT_EXCEPTION, .vector = 13, .has_error_code = true,
                           .error_code = 0x30 };
    assert_int_equal(v3_cpu_deliver_event(core, &ev), 0);
    assert_int_equal(core->rip, 0x5000);
    assert_int_equal(core->gpr[V3_RSP], 0x9000 - 16);
    assert_int_equal(get32(0x9000 - 16), 0x30);
    assert_int_equal(get32(0x9000 - 12), 0x4000);
    assert_int_equal(get32(0x9000 - 8), 0x08);
    assert_int_equal(get32(0x9000 - 4), 0x202 | V3_FLAG_RF);     /* a fault pushes RF (SDM 17.3.1.1) */
    assert_int_equal(v3_core_get_rflags(core) & (V3_FLAG_IF | V3_FLAG_RF), 0);
    /* a trap-class exception (#BP) and an external interrupt push RFLAGS as it is */
    idt_gate32(3, 0x5000, 0x08, 0x8e00);
    idt_gate32(0x40, 0x5000, 0x08, 0x8e00);
    struct v3_event evs[2] = { { .type = V3_EVENT_EXCEPTION, .vector = 3 },
                               { .type = V3_EVENT_INTERRUPT, .vector = 0x40 } };
    for (int i = 0; i < 2; i++) {
        core->rip = 0x4000;
        core->gpr[V3_RSP] = 0x9000;
        v3_core_set_rflags(core, 0x202);
        assert_int_equal(v3_cpu_deliver_event(core, &evs[i]), 0);
        assert_int_equal(get32(0x9000 - 4), 0x202);
    }
}

static void test_pm32_ring3_to_ring0(void **state)
{
    (void)state;
    enter_pm32();
    core->idtr.base = IDT;
    core->idtr.limit = 0x7ff;
    idt_gate32(0x80, 0x6000, 0x08, 0xef00);      /* trap gate, DPL 3 */
    put32(TSS + 4, 0x20000);                      /* ESP0 */
    put32(TSS + 8, 0x10);                         /* SS0 */
    v3_cpu_desc_to_seg(0x00cffa000000ffffull, 0x1b, &core->seg[V3_CS]);
    v3_cpu_desc_to_seg(0x00cff2000000ffffull, 0x23, &core->seg[V3_SS]);
    v3_core_update_mode(core);
    assert_int_equal(core->cpl, 3);
    core->rip = 0x4002;
    core->gpr[V3_RSP] = 0x9000;
    v3_core_set_rflags(core, 0x202);
    assert_int_equal(v3_cpu_deliver(core, 0x80, V3_SRC_SOFT_INT, false, 0, 0, 0x4004), 0);
    assert_int_equal(core->cpl, 0);
    assert_int_equal(core->seg[V3_SS].selector, 0x10);
    assert_int_equal(core->gpr[V3_RSP], 0x20000 - 20);
    assert_int_equal(get32(0x20000 - 20), 0x4004);
    assert_int_equal(get32(0x20000 - 16), 0x1b);
    assert_int_equal(get32(0x20000 - 12), 0x202);
    assert_int_equal(get32(0x20000 - 8), 0x9000);
    assert_int_equal(get32(0x20000 - 4), 0x23);
    assert_true(v3_core_get_rflags(core) & V3_FLAG_IF);   /* trap gate keeps IF */
}

static void test_gate_dpl_and_double_fault(void **state)
{
    (void)state;
    enter_pm32();
    core->idtr.base = IDT;
    core->idtr.limit = 0x7ff;
    idt_gate32(8, 0x7000, 0x08, 0x8e00);
    idt_gate32(13, 0x5000, 0x08, 0x8e00);
    idt_gate32(0x40, 0x5100, 0x08, 0x8e00);          /* DPL 0 */
    core->cpl = 3;
    v3_cpu_desc_to_seg(0x00cffa000000ffffull, 0x1b, &core->seg[V3_CS]);
    v3_cpu_desc_to_seg(0x00cff2000000ffffull, 0x23, &core->seg[V3_SS]);
    v3_core_update_mode(core);
    put32(TSS + 4, 0x20000);
    put32(TSS + 8, 0x10);
    core->rip = 0x4000;
    core->gpr[V3_RSP] = 0x9000;
    /* INT 0x40 from ring 3 through a DPL-0 gate: #GP(0x40*8+2), delivered at the INT */
    assert_int_equal(v3_cpu_deliver(core, 0x40, V3_SRC_SOFT_INT, false, 0, 0, 0x4002), 0);
    assert_int_equal(core->rip, 0x5000);
    assert_int_equal(get32(0x20000 - 24), 0x202);    /* error code */
    assert_int_equal(get32(0x20000 - 20), 0x4000);   /* the INT itself */
    /* #GP whose gate is not present -> #NP -> contributory pair -> #DF(0) */
    enter_pm32();
    core->gpr[V3_RSP] = 0x9000;
    idt_gate32(13, 0x5000, 0x08, 0x0e00);
    idt_gate32(11, 0x5000, 0x08, 0x0e00);
    struct v3_event ev = { .type = V3_EVENT_EXCEPTION, .vector = 13, .has_error_code = true };
    assert_int_equal(v3_cpu_deliver_event(core, &ev), 0);
    assert_int_equal(core->rip, 0x7000);
    assert_int_equal(get32(0x9000 - 16), 0);
    /* and with #DF's gate absent too: shutdown */
    enter_pm32();
    core->gpr[V3_RSP] = 0x9000;
    idt_gate32(8, 0x7000, 0x08, 0x0e00);
    assert_int_equal(v3_cpu_deliver_event(core, &ev), V3_CPU_SHUTDOWN);
}

/* ---------------------------------------------------------------- segments, I/O, debug */

static void test_segment_loads(void **state)
{
    (void)state;
    enter_pm32();
    assert_int_equal(v3_load_segment(core, V3_DS, 0x30, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_NP);
    assert_int_equal(exc.error_code, 0x30);
    assert_int_equal(v3_load_segment(core, V3_SS, 0x08, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_GP);
    assert_int_equal(exc.error_code, 0x08);
    assert_int_equal(v3_load_segment(core, V3_SS, 0, &exc), V3_EFAULT);
    assert_int_equal(exc.error_code, 0);
    assert_int_equal(v3_load_segment(core, V3_DS, 0x100, &exc), V3_EFAULT);   /* beyond the GDT */
    assert_int_equal(exc.error_code, 0x100);
    assert_int_equal(v3_load_segment(core, V3_CS, 0x08, &exc), V3_EINVAL);
    assert_int_equal(v3_load_segment(core, V3_ES, 0x10, &exc), 0);
    assert_true(ram[GDT + 0x10 + 5] & 1);           /* accessed bit set */
}

static void test_io_bitmap(void **state)
{
    (void)state;
    enter_pm32();
    put16(TSS + 0x66, 0x68);
    memset(ram + TSS + 0x68, 0xff, 8193);
    ram[TSS + 0x68 + 0x80 / 8] = (uint8_t)~3;      /* ports 0x80, 0x81 */
    core->cpl = 3;
    assert_int_equal(v3_cpu_io_allowed(core, 0x80, 1, &exc), 0);
    assert_int_equal(v3_cpu_io_allowed(core, 0x80, 2, &exc), 0);
    assert_int_equal(v3_cpu_io_allowed(core, 0x81, 2, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_GP);
    assert_int_equal(v3_cpu_io_allowed(core, 0xffff, 1, &exc), V3_EFAULT);
    v3_core_set_rflags(core, 0x3002);               /* IOPL 3 */
    assert_int_equal(v3_cpu_io_allowed(core, 0x84, 4, &exc), 0);
}

static void test_breakpoints(void **state)
{
    (void)state;
    assert_false(v3_cpu_dr7_active(core));
    core->dr[0] = 0x1000;                           /* execute */
    core->dr[1] = 0x2004;                           /* write, 4 bytes */
    core->dr[2] = 0x3000;                           /* read/write, 8 bytes */
    core->dr[7] = 0x400 | 0x01 | 0x04 | 0x10 | (0x1 << 20) | (0x3 << 22) | (0x3 << 24) | (0x2 << 26);
    assert_true(v3_cpu_dr7_active(core));
    assert_int_equal(v3_cpu_exec_breakpoint(core, 0x1000), 1);
    assert_int_equal(v3_cpu_exec_breakpoint(core, 0x1001), 0);
    assert_int_equal(v3_cpu_data_breakpoint(core, 0x2006, 1, true), 2);
    assert_int_equal(v3_cpu_data_breakpoint(core, 0x2006, 1, false), 0);
    assert_int_equal(v3_cpu_data_breakpoint(core, 0x2000, 4, true), 0);
    assert_int_equal(v3_cpu_data_breakpoint(core, 0x2ffe, 4, false), 4);
    v3_core_set_rflags(core, 0x2 | V3_FLAG_RF);
    assert_int_equal(v3_cpu_exec_breakpoint(core, 0x1000), 0);
}

/* CR4 bits follow the CPUID model: what the model does not report is #GP */
static void test_cr4_follows_cpuid(void **state)
{
    struct v3_core *ec;
    uint8_t *eram;
    struct v3_vm *evm;
    struct v3_cpu_model m;
    (void)state;
    /* the default model (this core has no back end): SMEP, SMAP, UMIP, PGE, OSXSAVE yes; VME, MCE, FSGSBASE no */
    assert_int_equal(v3_cpu_write_cr(core, 4, V3_CR4_OSXSAVE, &exc), 0);
    assert_int_equal(v3_cpu_write_cr(core, 4, V3_CR4_SMEP | V3_CR4_SMAP | V3_CR4_UMIP | V3_CR4_PGE, &exc), 0);
    assert_int_equal(core->cr4, V3_CR4_SMEP | V3_CR4_SMAP | V3_CR4_UMIP | V3_CR4_PGE);
    const uint64_t absent[] = { V3_CR4_VME, V3_CR4_PVI, V3_CR4_MCE, V3_CR4_FSGSBASE };
    for (unsigned i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        assert_int_equal(v3_cpu_write_cr(core, 4, absent[i], &exc), V3_EFAULT);
        assert_int_equal(exc.vector, V3_EXC_GP);
    }
    assert_int_equal(core->cr4, V3_CR4_SMEP | V3_CR4_SMAP | V3_CR4_UMIP | V3_CR4_PGE);   /* unchanged */

    /* a model without SMEP/SMAP/UMIP and without PGE on a software-CPU core */
    evm = v3t_create_vm(RAM, &v3_emu_backend, &ec, &eram);
    assert_non_null(evm);
    v3_cpu_default_model(&m);
    m.leaf7_ebx &= ~((1u << 7) | (1u << 20));
    m.leaf7_ecx = 0;
    m.feat_edx &= ~(1u << 13);
    m.feat_ecx &= ~(1u << 26);         /* no XSAVE: CR4.OSXSAVE cannot be set */
    assert_int_equal(v3_cpu_set_model(ec, &m), V3_OK);
    assert_int_equal(v3_cpu_write_cr(ec, 4, V3_CR4_OSXSAVE, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_write_cr(ec, 4, V3_CR4_PAE, &exc), 0);
    assert_int_equal(v3_cpu_write_cr(ec, 4, V3_CR4_SMEP, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_write_cr(ec, 4, V3_CR4_SMAP, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_write_cr(ec, 4, V3_CR4_UMIP, &exc), V3_EFAULT);
    assert_int_equal(v3_cpu_write_cr(ec, 4, V3_CR4_PGE, &exc), V3_EFAULT);
    assert_int_equal(ec->cr4, V3_CR4_PAE);
    v3_free_vm(evm);
}

/* DR7.GD: the next MOV to or from a debug register faults with #DB, sets
 * DR6.BD and clears GD (so the handler's own MOV DR works) */
static void test_general_detect(void **state)
{
    uint64_t v = 0;
    (void)state;
    assert_int_equal(v3_cpu_write_dr(core, 0, 0x1234, &exc), 0);
    assert_int_equal(v3_cpu_write_dr(core, 7, 0x400 | (1u << 13), &exc), 0);
    assert_true(core->dr[7] & (1u << 13));
    assert_int_equal(v3_cpu_read_dr(core, 0, &v, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_DB);
    assert_false(exc.has_error_code);
    assert_true(core->dr[6] & (1u << 13));
    assert_false(core->dr[7] & (1u << 13));
    assert_int_equal(v, 0);
    assert_int_equal(v3_cpu_read_dr(core, 0, &v, &exc), 0);     /* GD cleared: allowed */
    assert_int_equal(v, 0x1234);
    /* a write is detected too and leaves the register */
    assert_int_equal(v3_cpu_write_dr(core, 7, 0x400 | (1u << 13), &exc), 0);
    assert_int_equal(v3_cpu_write_dr(core, 1, 0x5678, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_DB);
    assert_int_equal(core->dr[1], 0);
    /* #UD for DR4/DR5 with CR4.DE comes first */
    assert_int_equal(v3_cpu_write_dr(core, 7, 0x400 | (1u << 13), &exc), 0);
    core->cr4 |= V3_CR4_DE;
    assert_int_equal(v3_cpu_read_dr(core, 5, &v, &exc), V3_EFAULT);
    assert_int_equal(exc.vector, V3_EXC_UD);
    assert_true(core->dr[7] & (1u << 13));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_cr0_checks, reset),
        cmocka_unit_test_setup(test_cr4_cr8_checks, reset),
        cmocka_unit_test_setup(test_cr4_follows_cpuid, reset),
        cmocka_unit_test_setup(test_msrs_vendor, reset),
        cmocka_unit_test_setup(test_dr6_rtm, reset),
        cmocka_unit_test_setup(test_long_mode_activation, reset),
        cmocka_unit_test_setup(test_msrs, reset),
        cmocka_unit_test_setup(test_real_mode_delivery, reset),
        cmocka_unit_test_setup(test_pm32_delivery_frame, reset),
        cmocka_unit_test_setup(test_pm32_ring3_to_ring0, reset),
        cmocka_unit_test_setup(test_gate_dpl_and_double_fault, reset),
        cmocka_unit_test_setup(test_segment_loads, reset),
        cmocka_unit_test_setup(test_io_bitmap, reset),
        cmocka_unit_test_setup(test_breakpoints, reset),
        cmocka_unit_test_setup(test_general_detect, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
