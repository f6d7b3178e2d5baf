/* SPDX-License-Identifier: MIT */
/*
 * Local APIC and IOAPIC models against the Intel SDM (vol. 3, chapter 10)
 * and the 82093AA datasheet, driven through their callbacks with a fake VM
 * whose clock the test sets (fakevm.c).  Expected values are the
 * architectural ones, worked out by hand from those documents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <v3/error.h>
#include "fakevm.h"
#include "v3test.h"
#include "devices/ioapic.h"
#include "devices/lapic.h"

/* register offsets */
enum {
    ID = 0x20, VER = 0x30, TPR = 0x80, PPR = 0xa0, EOI = 0xb0, LDR = 0xd0, DFR = 0xe0,
    SVR = 0xf0, ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, ICRL = 0x300, ICRH = 0x310,
    LVTT = 0x320, LINT0 = 0x350, LINT1 = 0x360, LVTE = 0x370, TICR = 0x380, TCCR = 0x390,
    TDCR = 0x3e0,
};

struct v3_snap {            /* matches fakevm.c */
    uint8_t buf[65536];
    size_t len, pos;
};

static struct v3_vm *vm;
static struct v3_device *lapic, *ioapic;

static void setup_vm(unsigned ncores, const char *lapic_args)
{
    vm = fv_create(ncores);
    lapic = fv_add(vm, &v3_dev_lapic, lapic_args);
    assert_non_null(lapic);
    ioapic = fv_add(vm, &v3_dev_ioapic, "");
    assert_non_null(ioapic);
}

static int teardown_vm(void **state)
{
    (void)state;
    if (vm) {
        assert_false(vm->lock_violation);
        fv_free(vm);
    }
    vm = NULL;
    return 0;
}

static uint32_t rd(unsigned core, unsigned off) { return fv_read(lapic, core, off, 4); }
static void wr(unsigned core, unsigned off, uint32_t v) { fv_write(lapic, core, off, 4, v); }
static bool irr_has(unsigned core, unsigned v) { return (rd(core, IRR + (v >> 5) * 16) >> (v & 31)) & 1; }
static bool isr_has(unsigned core, unsigned v) { return (rd(core, ISR + (v >> 5) * 16) >> (v & 31)) & 1; }
static bool tmr_has(unsigned core, unsigned v) { return (rd(core, TMR + (v >> 5) * 16) >> (v & 31)) & 1; }
static int pending(unsigned core) { return vm->lapic_ops->pending(vm->lapic, &vm->cores[core]); }
static int ack(unsigned core) { return vm->lapic_ops->ack(vm->lapic, &vm->cores[core]); }
static void self_ipi(unsigned core, uint8_t v) { wr(core, ICRL, 0x00044000u | v); }
static void enable(unsigned core) { wr(core, SVR, 0x1ff); }

static uint32_t io_rd(uint32_t reg)
{
    fv_write(ioapic, 0, 0, 4, reg);
    return fv_read(ioapic, 0, 0x10, 4);
}
static void io_wr(uint32_t reg, uint32_t v)
{
    fv_write(ioapic, 0, 0, 4, reg);
    fv_write(ioapic, 0, 0x10, 4, v);
}
static void pin(unsigned p, int level) { vm->ioapic_ops->set_pin(vm->ioapic, p, level); }

/* ------------------------------------------------------------------ LAPIC */

static void test_reset_state(void **state)
{
    (void)state;
    setup_vm(2, "");
    assert_int_equal(rd(0, VER), 0x00050014);
    assert_int_equal(rd(0, ID), 0);
    assert_int_equal(rd(1, ID), 1u << 24);         /* each vCPU reaches its own APIC */
    assert_int_equal(rd(0, SVR), 0xff);
    assert_int_equal(rd(0, DFR), 0xffffffffu);
    assert_int_equal(rd(0, LVTT), 0x10000);
    assert_int_equal(rd(0, LVTE), 0x10000);
    assert_int_equal(rd(0, LINT0), 0x700);          /* ExtINT, as firmware leaves it */
    assert_int_equal(rd(0, LINT1), 0x400);          /* NMI */
    assert_int_equal(vm->cores[0].apic_base, 0xfee00900ull);
    assert_int_equal(vm->cores[1].apic_base, 0xfee00800ull);
    assert_int_equal(pending(0), -1);
}

static void test_priority_ppr_nesting(void **state)
{
    (void)state;
    setup_vm(1, "");
    enable(0);
    wr(0, TPR, 0x50);
    assert_int_equal(rd(0, PPR), 0x50);
    self_ipi(0, 0x45);                              /* class 4 <= TPR class 5: held */
    assert_true(irr_has(0, 0x45));
    assert_int_equal(pending(0), -1);
    self_ipi(0, 0x65);
    assert_int_equal(pending(0), 0x65);
    assert_int_equal(ack(0), 0x65);
    assert_true(isr_has(0, 0x65));
    assert_false(irr_has(0, 0x65));
    assert_int_equal(rd(0, PPR), 0x60);             /* ISRV class above TPR */
    self_ipi(0, 0x61);                              /* same class as in service: held */
    assert_int_equal(pending(0), -1);
    self_ipi(0, 0x71);                              /* higher class: nests */
    assert_int_equal(pending(0), 0x71);
    assert_int_equal(ack(0), 0x71);
    assert_int_equal(rd(0, PPR), 0x70);
    wr(0, EOI, 0);                                  /* EOI ends the highest in service */
    assert_false(isr_has(0, 0x71));
    assert_true(isr_has(0, 0x65));
    assert_int_equal(pending(0), -1);
    wr(0, EOI, 0);
    assert_int_equal(rd(0, PPR), 0x50);
    assert_int_equal(pending(0), 0x61);
    wr(0, TPR, 0x3f);
    assert_int_equal(rd(0, PPR), 0x3f);
    assert_int_equal(ack(0), 0x61);
    /* 0x45 (class 4) is held by 0x61 in service: an INTA now gets the spurious vector */
    assert_int_equal(pending(0), -1);
    assert_int_equal(ack(0), 0xff);
    assert_false(isr_has(0, 0xff));
    assert_int_equal(rd(0, PPR), 0x60);
    wr(0, EOI, 0);
    assert_int_equal(ack(0), 0x45);
    wr(0, EOI, 0);
    assert_int_equal(rd(0, ISR + 0x20), 0);
    assert_int_equal(rd(0, ISR + 0x30), 0);
    assert_int_equal(pending(0), -1);
}

static void test_cr8_is_tpr(void **state)
{
    (void)state;
    setup_vm(1, "");
    enable(0);
    wr(0, TPR, 0x70);
    assert_int_equal(vm->cores[0].cr8, 7);
    vm->cores[0].cr8 = 2;                           /* MOV CR8 in 64-bit mode */
    assert_int_equal(rd(0, TPR), 0x20);
    self_ipi(0, 0x35);
    assert_int_equal(pending(0), 0x35);
}

static void test_level_tmr_eoi_broadcast(void **state)
{
    struct v3_apic_msg m = { .vector = 0x80, .delivery = 0, .logical = false, .level = true, .dest = 0 };
    (void)state;
    setup_vm(1, "");
    enable(0);
    vm->lapic_ops->deliver(vm->lapic, &m);
    assert_true(tmr_has(0, 0x80));
    assert_int_equal(ack(0), 0x80);
    wr(0, EOI, 0);
    assert_int_equal(vm->eois, 1);
    assert_int_equal(vm->last_eoi, 0x80);
    m.level = false;                                /* edge: TMR cleared, no broadcast */
    vm->lapic_ops->deliver(vm->lapic, &m);
    assert_false(tmr_has(0, 0x80));
    assert_int_equal(ack(0), 0x80);
    wr(0, EOI, 0);
    assert_int_equal(vm->eois, 1);
    assert_false(vm->lock_violation);
}

static void test_timer_oneshot(void **state)
{
    (void)state;
    setup_vm(1, "");
    enable(0);
    vm->now = 1000;
    wr(0, TDCR, 0xb);                               /* divide by 1: 1 ns per tick */
    wr(0, LVTT, 0x40);
    wr(0, TICR, 5000);
    assert_int_equal(fv_deadline(lapic), 6000);
    vm->now = 2250;
    assert_int_equal(rd(0, TCCR), 3750);
    fv_advance(vm, 5999);
    assert_false(irr_has(0, 0x40));
    fv_advance(vm, 6000);
    assert_true(irr_has(0, 0x40));
    assert_true(vm->kicks[0] > 0);
    assert_int_equal(rd(0, TCCR), 0);
    assert_int_equal(fv_deadline(lapic), V3_NO_DEADLINE);
    /* divide by 16 (DCR 0x3): 16 ns per tick */
    assert_int_equal(ack(0), 0x40);
    wr(0, EOI, 0);
    wr(0, TDCR, 0x3);
    vm->now = 10000;
    wr(0, TICR, 100);
    assert_int_equal(fv_deadline(lapic), 10000 + 1600);
    vm->now = 10000 + 320;
    assert_int_equal(rd(0, TCCR), 80);
    /* masked: counts and expires without an interrupt */
    wr(0, LVTT, 0x10040);
    fv_advance(vm, 20000);
    assert_false(irr_has(0, 0x40));
    /* initial count 0 stops the timer */
    wr(0, TICR, 100);
    wr(0, TICR, 0);
    assert_int_equal(fv_deadline(lapic), V3_NO_DEADLINE);
}

static void test_timer_periodic(void **state)
{
    unsigned n = 0;
    (void)state;
    setup_vm(1, "");
    enable(0);
    wr(0, TDCR, 0xb);
    wr(0, LVTT, 0x20041);                           /* periodic, vector 0x41 */
    wr(0, TICR, 100);
    assert_int_equal(fv_deadline(lapic), 100);
    for (uint64_t t = 100; t <= 500; t += 100) {
        fv_advance(vm, t);
        if (ack(0) == 0x41) {
            n++;
            wr(0, EOI, 0);
        }
    }
    assert_int_equal(n, 5);
    assert_int_equal(fv_deadline(lapic), 600);
    /* late by two and a half periods: three expiries (600, 700, 800), one
       interrupt per handler, each owed one after the EOI; the phase is kept */
    fv_advance(vm, 850);
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(ack(0), 0x41);
        wr(0, EOI, 0);
    }
    assert_int_equal(ack(0), -1);
    assert_int_equal(fv_deadline(lapic), 900);
    vm->now = 870;
    assert_int_equal(rd(0, TCCR), 30);
    /* the divider changes mid-period: the remaining count is kept */
    wr(0, TDCR, 0x0);                               /* divide by 2 */
    assert_int_equal(rd(0, TCCR), 30);
    assert_int_equal(fv_deadline(lapic), 870 + 60);
}

/* The guest of the lost-tick test: takes every interrupt the APIC offers
 * (ack, EOI) and counts the timer's. */
static unsigned take_all(unsigned vec)
{
    unsigned n = 0;
    int v;

    while ((v = ack(0)) >= 0) {
        assert_int_equal(v, vec);
        assert_int_equal(pending(0), -1);          /* the next one waits for the EOI */
        wr(0, EOI, 0);
        n++;
    }
    return n;
}

/* A poll late by N periods: N interrupts, one per handler (at most 100 and
 * at most one second of them); a new initial count drops what is owed; a
 * snapshot keeps it. */
static void test_timer_periodic_lost_ticks(void **state)
{
    static struct v3_snap snap;
    unsigned n = 0;
    (void)state;
    setup_vm(1, "");
    enable(0);
    wr(0, TDCR, 0xb);
    wr(0, LVTT, 0x20042);                           /* periodic, vector 0x42 */
    wr(0, TICR, 1000);                              /* 1 MHz: cap 100 */
    for (uint64_t t = 1000; t <= 5000; t += 1000) { /* on time: one per period */
        fv_advance(vm, t + 10);
        n += take_all(0x42);
        assert_int_equal(n, t / 1000);
    }
    fv_advance(vm, 15010);                          /* expiries 6000 .. 15000 */
    assert_int_equal(take_all(0x42), 10);
    fv_advance(vm, 15500);
    assert_int_equal(take_all(0x42), 0);
    fv_advance(vm, 1015010);                        /* 1000 expiries */
    assert_int_equal(take_all(0x42), 100);
    /* owed ticks dropped by a new count: 5 expiries (1016000 .. 1020000);
       the first taken put the second in IRR, where it stays */
    fv_advance(vm, 1020010);
    assert_int_equal(ack(0), 0x42);
    wr(0, EOI, 0);
    wr(0, TICR, 1000);
    assert_int_equal(take_all(0x42), 1);
    /* 1 ms period (divide by 1, count 1000000): one second is 1000, cap 100 still;
       100 ms period (count 100000000): one second is 10 */
    vm->now = 2000000;
    wr(0, TICR, 100000000);
    fv_advance(vm, 2000000 + 50ull * 100000000 + 5);
    assert_int_equal(take_all(0x42), 10);
    /* the snapshot carries the owed count */
    fv_advance(vm, 2000000 + 56ull * 100000000 + 5); /* 6 expiries: one in IRR, 5 owed */
    memset(&snap, 0, sizeof(snap));
    assert_int_equal(lapic->ops->save(lapic, &snap), 0);
    lapic->ops->reset(lapic);
    assert_int_equal(lapic->ops->load(lapic, &snap), 0);
    assert_int_equal(take_all(0x42), 6);
}

static void test_timer_tsc_deadline(void **state)
{
    uint64_t v;
    (void)state;
    setup_vm(1, "tsc-hz=2000000000");               /* 2 TSC ticks per ns */
    enable(0);
    /* outside TSC-deadline mode the MSR reads 0 and writes are dropped */
    assert_int_equal(fv_wrmsr(vm, 0, 0x6e0, 1000), 0);
    assert_int_equal(fv_rdmsr(vm, 0, 0x6e0, &v), 0);
    assert_int_equal(v, 0);
    wr(0, LVTT, 0x40050);
    assert_int_equal(rd(0, LVTT), 0x40050);
    vm->cores[0].insn_count = 1000;                 /* guest TSC 1000 */
    vm->now = 500;
    assert_int_equal(fv_wrmsr(vm, 0, 0x6e0, 5000), 0);
    assert_int_equal(fv_rdmsr(vm, 0, 0x6e0, &v), 0);
    assert_int_equal(v, 5000);
    assert_int_equal(fv_deadline(lapic), 500 + 2000);   /* 4000 ticks at 2 GHz */
    wr(0, TICR, 77);                                /* ignored in this mode */
    assert_int_equal(rd(0, TICR), 0);
    fv_advance(vm, 2500);
    assert_true(irr_has(0, 0x50));
    assert_int_equal(fv_rdmsr(vm, 0, 0x6e0, &v), 0);
    assert_int_equal(v, 0);                         /* disarmed after it fired */
    /* a deadline in the past fires at once */
    assert_int_equal(fv_wrmsr(vm, 0, 0x6e0, 1), 0);
    assert_int_equal(fv_deadline(lapic), 2500);
    /* leaving the mode disarms */
    assert_int_equal(fv_wrmsr(vm, 0, 0x6e0, 1u << 30), 0);
    wr(0, LVTT, 0x00050);
    assert_int_equal(fv_deadline(lapic), V3_NO_DEADLINE);
    assert_int_equal(fv_rdmsr(vm, 0, 0x6e0, &v), 0);
    assert_int_equal(v, 0);
}

static void test_cpuid_leaf1(void **state)
{
    uint32_t r[4] = { 0, 0, 0x80000000u | (1u << 21), 0 };
    (void)state;
    setup_vm(1, "x2apic=off");
    assert_non_null(vm->cpuid1);
    vm->cpuid1(&vm->cores[0], 1, 0, r, vm->cpuid1_priv);
    assert_int_equal(r[2], 0x80000000u | (1u << 24));   /* TSC-deadline, no x2APIC */
    assert_int_equal(r[3], 1u << 9);
    assert_int_equal(fv_wrmsr(vm, 0, 0x1b, 0xfee00000), 0);  /* globally disabled */
    vm->cpuid1(&vm->cores[0], 1, 0, r, vm->cpuid1_priv);
    assert_int_equal(r[3], 0);
}

static void test_no_tsc_deadline_option(void **state)
{
    uint64_t v;
    uint32_t r[4] = { 0, 0, 0, 0 };
    (void)state;
    setup_vm(1, "tsc-deadline=off,x2apic=off");
    vm->cpuid1(&vm->cores[0], 1, 0, r, vm->cpuid1_priv);
    assert_int_equal(r[2], 0);
    enable(0);
    wr(0, LVTT, 0x40050);                           /* mode 2 is reserved: bit 18 not kept */
    assert_int_equal(rd(0, LVTT), 0x00050);
    assert_int_equal(fv_rdmsr(vm, 0, 0x6e0, &v), 1); /* not hooked: #GP in the VM */
    assert_int_equal(fv_wrmsr(vm, 0, 0x1b, 0xfee00c00), V3_EFAULT);   /* EXTD without x2APIC */
}

static void test_svr_software_disable(void **state)
{
    (void)state;
    setup_vm(1, "");
    enable(0);
    wr(0, LVTT, 0x40);
    wr(0, LVTE, 0x41);
    wr(0, SVR, 0x0ff);                              /* software disable: all LVTs masked */
    assert_int_equal(rd(0, LVTT), 0x10040);
    assert_int_equal(rd(0, LVTE), 0x10041);
    assert_int_equal(rd(0, LINT0), 0x10700);
    wr(0, LVTT, 0x40);                              /* cannot be unmasked while disabled */
    assert_int_equal(rd(0, LVTT), 0x10040);
    self_ipi(0, 0x40);                              /* no fixed interrupts accepted */
    assert_false(irr_has(0, 0x40));
    enable(0);
    assert_int_equal(rd(0, LVTT), 0x10040);         /* they stay masked */
    assert_int_equal(rd(0, SVR), 0x1ff);
}

static void test_esr(void **state)
{
    (void)state;
    setup_vm(1, "");
    enable(0);
    self_ipi(0, 5);                                 /* illegal vector */
    assert_false(irr_has(0, 5));
    assert_int_equal(rd(0, ESR), 0);                /* not latched yet */
    wr(0, ESR, 0);
    assert_int_equal(rd(0, ESR), 0x20);             /* send illegal vector */
    wr(0, ESR, 0);
    assert_int_equal(rd(0, ESR), 0);
    /* an unmasked error LVT raises its vector */
    wr(0, LVTE, 0x33);
    (void)rd(0, 0x3c0);                             /* illegal register address */
    assert_true(irr_has(0, 0x33));
    wr(0, ESR, 0);
    assert_int_equal(rd(0, ESR), 0x80);
}

static void test_ipi_destinations(void **state)
{
    (void)state;
    setup_vm(4, "");
    for (unsigned i = 0; i < 4; i++)
        enable(i);
    /* physical destination 2 */
    wr(0, ICRH, 2u << 24);
    wr(0, ICRL, 0x4050);
    assert_true(irr_has(2, 0x50));
    assert_false(irr_has(0, 0x50) || irr_has(1, 0x50) || irr_has(3, 0x50));
    assert_int_equal(rd(0, ICRL) & (1u << 12), 0);  /* delivery status idle */
    assert_true(vm->kicks[2] > 0);
    /* broadcast excluding self */
    wr(1, ICRL, 0x000c4051);
    assert_true(irr_has(0, 0x51) && irr_has(2, 0x51) && irr_has(3, 0x51));
    assert_false(irr_has(1, 0x51));
    /* all including self */
    wr(3, ICRL, 0x00084052);
    for (unsigned i = 0; i < 4; i++)
        assert_true(irr_has(i, 0x52));
    /* logical flat: LDR bits 0x01, 0x02, 0x04, 0x08 */
    for (unsigned i = 0; i < 4; i++)
        wr(i, LDR, (1u << i) << 24);
    wr(0, ICRH, 0x0au << 24);
    wr(0, ICRL, 0x4853);                            /* logical */
    assert_true(irr_has(1, 0x53) && irr_has(3, 0x53));
    assert_false(irr_has(0, 0x53) || irr_has(2, 0x53));
    /* logical cluster: DFR model 0, cluster in 7:4 */
    for (unsigned i = 0; i < 4; i++) {
        wr(i, DFR, 0x0fffffffu);
        wr(i, LDR, ((i < 2 ? 0x10u : 0x20u) | (1u << (i & 1))) << 24);
    }
    assert_int_equal(rd(0, DFR), 0x0fffffffu);
    wr(0, ICRH, 0x22u << 24);                       /* cluster 2, member bit 1: vCPU 3 */
    wr(0, ICRL, 0x4854);
    assert_true(irr_has(3, 0x54));
    assert_false(irr_has(0, 0x54) || irr_has(1, 0x54) || irr_has(2, 0x54));
    /* lowest priority among all in cluster 1: the lower TPR wins */
    wr(0, TPR, 0x80);
    wr(1, TPR, 0x20);
    wr(2, ICRH, 0x13u << 24);
    wr(2, ICRL, 0x4955);                            /* lowest priority, logical */
    assert_true(irr_has(1, 0x55));
    assert_false(irr_has(0, 0x55));
    /* INIT, SIPI and NMI are recorded for the vCPU side */
    wr(0, ICRH, 3u << 24);
    wr(0, ICRL, 0x4500);
    wr(0, ICRL, 0x4612);
    {
        uint8_t vec = 0;
        assert_int_equal(v3_lapic_take_init_sipi(lapic, 3, &vec), V3_LAPIC_INIT);
        assert_int_equal(v3_lapic_take_init_sipi(lapic, 3, &vec), V3_LAPIC_SIPI);
        assert_int_equal(vec, 0x12);
        assert_int_equal(v3_lapic_take_init_sipi(lapic, 3, &vec), 0);
    }
    wr(0, ICRL, 0x4400);
    assert_true(v3_lapic_take_nmi(lapic, 3));
    assert_false(v3_lapic_take_nmi(lapic, 3));
    assert_false(vm->lock_violation);
}

static void test_extint_lint0(void **state)
{
    (void)state;
    setup_vm(2, "");
    vm->extint = true;
    vm->extint_vector = 0x20;
    assert_int_equal(pending(1), -1);               /* only the BSP's LINT0 is wired */
    assert_true(pending(0) >= 0);
    assert_int_equal(ack(0), 0x20);
    assert_int_equal(vm->extint_acks, 1);
    assert_int_equal(pending(0), -1);
    /* masked LINT0: the PIC is not asked */
    wr(0, LINT0, 0x10700);
    vm->extint = true;
    assert_int_equal(pending(0), -1);
}

static void test_x2apic(void **state)
{
    uint64_t v;
    (void)state;
    setup_vm(2, "");
    enable(0);
    enable(1);
    assert_int_equal(fv_rdmsr(vm, 1, 0x802, &v), V3_EFAULT);        /* not in x2APIC mode */
    assert_int_equal(fv_wrmsr(vm, 1, 0x1b, 0xfee00000 | (1u << 11) | (1u << 10)), 0);
    assert_int_equal(vm->cores[1].apic_base, 0xfee00c00ull);
    assert_int_equal(fv_rdmsr(vm, 1, 0x802, &v), 0);
    assert_int_equal(v, 1);                                         /* 32-bit ID */
    assert_int_equal(fv_rdmsr(vm, 1, 0x80d, &v), 0);
    assert_int_equal(v, (0u << 16) | (1u << 1));                    /* derived LDR */
    assert_int_equal(fv_rdmsr(vm, 1, 0x803, &v), 0);
    assert_int_equal(v, 0x00050014);
    /* MMIO no longer reaches it */
    assert_int_equal(rd(1, VER), 0xffffffffu);
    /* SELF_IPI */
    assert_int_equal(fv_wrmsr(vm, 1, 0x83f, 0x61), 0);
    assert_int_equal(pending(1), 0x61);
    /* ICR is one 64-bit MSR: destination in 63:32 (x2APIC ID 0, xAPIC vCPU 0 still matches
     * by physical ID 0) */
    assert_int_equal(fv_wrmsr(vm, 1, 0x830, (0ull << 32) | 0x4062), 0);
    assert_true(irr_has(0, 0x62));
    /* x2APIC logical: cluster 0, member bit 1 = vCPU 1 (itself) */
    assert_int_equal(fv_wrmsr(vm, 1, 0x830, (2ull << 32) | 0x4863), 0);
    assert_int_equal(fv_rdmsr(vm, 1, 0x823, &v), 0);            /* IRR 0x60-0x7f */
    assert_int_equal(v, (1u << 1) | (1u << 3));                 /* 0x61 and 0x63 */
    assert_false(irr_has(0, 0x63));
    /* an IOAPIC message (8-bit destination) reaches it by the low byte of its ID */
    {
        struct v3_apic_msg m = { .vector = 0x64, .dest = 1 };
        vm->lapic_ops->deliver(vm->lapic, &m);
        assert_int_equal(fv_rdmsr(vm, 1, 0x823, &v), 0);
        assert_int_equal(v, (1u << 1) | (1u << 3) | (1u << 4));
    }
    /* #GP: reads of EOI/SELF_IPI, writes of read-only or reserved bits, non-zero EOI */
    assert_int_equal(fv_rdmsr(vm, 1, 0x80b, &v), V3_EFAULT);
    assert_int_equal(fv_rdmsr(vm, 1, 0x83f, &v), V3_EFAULT);
    assert_int_equal(fv_wrmsr(vm, 1, 0x802, 5), V3_EFAULT);
    assert_int_equal(fv_wrmsr(vm, 1, 0x808, 0x100), V3_EFAULT);
    assert_int_equal(fv_wrmsr(vm, 1, 0x80b, 1), V3_EFAULT);
    assert_int_equal(fv_rdmsr(vm, 1, 0x80e, &v), 1);                /* DFR: no such MSR */
    assert_int_equal(fv_wrmsr(vm, 1, 0x80b, 0), 0);                 /* nothing in service */
    /* x2APIC -> xAPIC directly is illegal; -> disabled is allowed */
    assert_int_equal(fv_wrmsr(vm, 1, 0x1b, 0xfee00800), V3_EFAULT);
    assert_int_equal(fv_wrmsr(vm, 1, 0x1b, 0xfee00000), 0);
    /* disabled -> x2APIC directly is illegal; EXTD without EN is invalid */
    assert_int_equal(fv_wrmsr(vm, 1, 0x1b, 0xfee00c00), V3_EFAULT);
    assert_int_equal(fv_wrmsr(vm, 1, 0x1b, 0xfee00400), V3_EFAULT);
    assert_int_equal(fv_wrmsr(vm, 1, 0x1b, 0xfee00800), 0);
    assert_int_equal(rd(1, ID), 1u << 24);                          /* back to reset state */
    assert_int_equal(rd(1, SVR), 0xff);
    /* reserved bits (beyond 40-bit physical) */
    assert_int_equal(fv_wrmsr(vm, 1, 0x1b, 0x10000fee00800ull), V3_EFAULT);
}

static void test_bad_widths(void **state)
{
    long errs;
    (void)state;
    setup_vm(1, "");
    enable(0);
    errs = v3t_error_logs();
    assert_int_equal(fv_read(lapic, 0, VER, 1), 0);
    assert_int_equal(fv_read(lapic, 0, VER + 2, 2), 0);
    assert_int_equal(fv_read(lapic, 0, VER + 4, 4), 0);
    assert_int_equal(fv_read(lapic, 0, VER, 8), 0);
    fv_write(lapic, 0, TPR, 1, 0x55);
    fv_write(lapic, 0, TPR + 4, 4, 0x55);
    fv_write(lapic, 0, TPR, 8, 0x55);
    assert_int_equal(rd(0, TPR), 0);
    assert_int_equal(v3t_error_logs(), errs);       /* a guest error is a warning, not a VMM error */
    /* every offset and width: no crash, reads of no register give 0 */
    for (unsigned off = 0; off < 0x1000; off += 4)
        (void)fv_read(lapic, 0, off, 4);
    assert_int_equal(fv_read(lapic, 0, 0xff0, 4), 0);
    /* IOAPIC: IOWIN takes 32-bit accesses only */
    fv_write(ioapic, 0, 0, 4, 1);
    assert_int_equal(fv_read(ioapic, 0, 0x10, 1), 0);
    assert_int_equal(fv_read(ioapic, 0, 0x10, 4), 0x00170011);
    assert_int_equal(fv_read(ioapic, 0, 0x40, 4), 0);               /* no EOI register in 0x11 */
    fv_write(ioapic, 0, 0x40, 4, 0x30);
    assert_int_equal(fv_read(ioapic, 0, 0x14, 4), 0);
}

static void test_save_load(void **state)
{
    static struct v3_snap snap;
    (void)state;
    setup_vm(2, "");
    enable(1);
    wr(1, TPR, 0x30);
    wr(1, LVTT, 0x20045);
    wr(1, TDCR, 0xb);
    wr(1, TICR, 1000);
    self_ipi(1, 0x77);
    io_wr(0x14, 0x1a060);
    memset(&snap, 0, sizeof(snap));
    assert_int_equal(lapic->ops->save(lapic, &snap), 0);
    assert_int_equal(ioapic->ops->save(ioapic, &snap), 0);
    lapic->ops->reset(lapic);
    ioapic->ops->reset(ioapic);
    assert_int_equal(rd(1, TPR), 0);
    assert_int_equal(io_rd(0x14), 0x10000);
    assert_int_equal(lapic->ops->load(lapic, &snap), 0);
    assert_int_equal(ioapic->ops->load(ioapic, &snap), 0);
    assert_int_equal(rd(1, TPR), 0x30);
    assert_int_equal(rd(1, LVTT), 0x20045);
    assert_true(irr_has(1, 0x77));
    assert_int_equal(fv_deadline(lapic), 1000);
    assert_int_equal(io_rd(0x14), 0x1a060);
    /* a state whose periodic timer has no count does not divide by zero */
    {
        static struct v3_snap bad;
        memset(&bad, 0, sizeof(bad));
        wr(1, TICR, 0);
        assert_int_equal(lapic->ops->save(lapic, &bad), 0);
        /* vCPU 1's timer_next sits after the header and vCPU 0's state: force it to 5 */
        {
            uint64_t five = 5, nodl = V3_NO_DEADLINE;
            size_t hdr = 8, one = (bad.len - hdr) / 2;
            uint8_t *p1 = bad.buf + hdr + one;
            for (size_t k = 0; k + 8 <= one; k += 8)
                if (!memcmp(p1 + k, &nodl, 8)) {
                    memcpy(p1 + k, &five, 8);
                    break;
                }
        }
        assert_int_equal(lapic->ops->load(lapic, &bad), 0);
        fv_advance(vm, 10);
        assert_int_equal(fv_deadline(lapic), V3_NO_DEADLINE);
    }
    /* a short stream is refused */
    snap.pos = 0;
    snap.len = 4;
    assert_int_equal(lapic->ops->load(lapic, &snap), V3_EIMAGE);
}

/* ------------------------------------------------------------------ IOAPIC */

static void test_ioapic_registers(void **state)
{
    (void)state;
    setup_vm(1, "");
    assert_int_equal(io_rd(0x01), 0x00170011);
    assert_int_equal(io_rd(0x00), 0);
    io_wr(0x00, 0xffffffffu);
    assert_int_equal(io_rd(0x00), 0x0f000000);      /* ID in 27:24 */
    for (unsigned p = 0; p < 24; p++)
        assert_int_equal(io_rd(0x10 + 2 * p), 0x10000);
    io_wr(0x10, 0xffffffffu);                       /* Remote IRR, status are read-only */
    assert_int_equal(io_rd(0x10), 0x1afff);
    io_wr(0x11, 0xffffffffu);
    assert_int_equal(io_rd(0x11), 0xff000000u);
    assert_int_equal(io_rd(0x40), 0xffffffffu);     /* beyond the table */
}

static void test_ioapic_level_remote_irr(void **state)
{
    (void)state;
    setup_vm(1, "");
    enable(0);
    io_wr(0x15, 0);
    io_wr(0x14, 0x18060);                           /* masked, level, vector 0x60 */
    pin(2, 1);
    assert_int_equal(vm->sends, 0);                 /* masked */
    io_wr(0x14, 0x08060);                           /* unmasked while asserted: sent now */
    assert_int_equal(vm->sends, 1);
    assert_true(vm->last_msg.level);
    assert_int_equal(io_rd(0x14) & 0x4000, 0x4000); /* Remote IRR */
    assert_true(tmr_has(0, 0x60));
    pin(2, 1);                                      /* still asserted: nothing new */
    assert_int_equal(vm->sends, 1);
    assert_int_equal(ack(0), 0x60);
    wr(0, EOI, 0);                                  /* broadcast: Remote IRR clears, resent */
    assert_int_equal(vm->eois, 1);
    assert_int_equal(vm->sends, 2);
    assert_int_equal(io_rd(0x14) & 0x4000, 0x4000);
    assert_int_equal(ack(0), 0x60);
    pin(2, 0);
    wr(0, EOI, 0);
    assert_int_equal(vm->sends, 2);
    assert_int_equal(io_rd(0x14) & 0x4000, 0);
    assert_int_equal(pending(0), -1);
    /* active low: level 0 is asserted */
    io_wr(0x16, 0x10000);
    io_wr(0x17, 0);
    pin(3, 1);
    io_wr(0x16, 0xa070);                            /* level, active low, vector 0x70 */
    assert_int_equal(vm->sends, 2);
    pin(3, 0);
    assert_int_equal(vm->sends, 3);
    assert_int_equal(vm->last_msg.vector, 0x70);
    assert_false(vm->lock_violation);
}

static void test_ioapic_edge(void **state)
{
    (void)state;
    setup_vm(1, "");
    enable(0);
    io_wr(0x20, 0x10051);                           /* pin 8, masked edge */
    pin(8, 1);
    pin(8, 0);
    io_wr(0x20, 0x00051);                           /* an edge while masked is lost */
    assert_int_equal(vm->sends, 0);
    pin(8, 1);
    assert_int_equal(vm->sends, 1);
    assert_false(vm->last_msg.level);
    assert_int_equal(io_rd(0x20) & 0x4000, 0);      /* no Remote IRR for edges */
    pin(8, 1);                                      /* no new edge */
    assert_int_equal(vm->sends, 1);
    pin(8, 0);
    pin(8, 1);
    assert_int_equal(vm->sends, 2);
    assert_true(irr_has(0, 0x51));
    /* logical destination and lowest priority carried in the message */
    io_wr(0x21, 0x03000000);
    io_wr(0x20, 0x00952);
    pin(8, 0);
    pin(8, 1);
    assert_true(vm->last_msg.logical);
    assert_int_equal(vm->last_msg.delivery, 1);
    assert_int_equal(vm->last_msg.dest, 3);
    pin(30, 1);                                     /* beyond the pins: ignored */
}

/* The vCPU taking an edge pin's vector (IRR -> ISR) is reported per IRQ
 * (v3_vm_irq_taken): pin 2 is the router's IRQ 0; masked and level pins
 * with the same vector are not. */
static void test_ioapic_taken(void **state)
{
    (void)state;
    setup_vm(1, "");
    enable(0);
    io_wr(0x14, 0x00050);                           /* pin 2: edge, vector 0x50 */
    io_wr(0x18, 0x10050);                           /* pin 4: masked edge, 0x50 */
    io_wr(0x1a, 0x08050);                           /* pin 5: level, 0x50 */
    io_wr(0x1c, 0x00051);                           /* pin 6: edge, 0x51 */
    pin(2, 1);
    assert_true(irr_has(0, 0x50));
    assert_int_equal(vm->irq_taken[0], 0);          /* raised, not taken */
    assert_int_equal(ack(0), 0x50);
    assert_int_equal(vm->irq_taken[0], 1);
    assert_int_equal(vm->irq_taken[2], 0);
    assert_int_equal(vm->irq_taken[4], 0);
    assert_int_equal(vm->irq_taken[5], 0);
    assert_int_equal(vm->irq_taken[6], 0);
    wr(0, EOI, 0);
    pin(6, 1);
    assert_int_equal(ack(0), 0x51);
    assert_int_equal(vm->irq_taken[6], 1);
    assert_int_equal(vm->irq_taken[0], 1);
    assert_false(vm->lock_violation);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reset_state, teardown_vm),
        cmocka_unit_test_teardown(test_priority_ppr_nesting, teardown_vm),
        cmocka_unit_test_teardown(test_cr8_is_tpr, teardown_vm),
        cmocka_unit_test_teardown(test_level_tmr_eoi_broadcast, teardown_vm),
        cmocka_unit_test_teardown(test_timer_oneshot, teardown_vm),
        cmocka_unit_test_teardown(test_timer_periodic, teardown_vm),
        cmocka_unit_test_teardown(test_timer_periodic_lost_ticks, teardown_vm),
        cmocka_unit_test_teardown(test_timer_tsc_deadline, teardown_vm),
        cmocka_unit_test_teardown(test_cpuid_leaf1, teardown_vm),
        cmocka_unit_test_teardown(test_no_tsc_deadline_option, teardown_vm),
        cmocka_unit_test_teardown(test_svr_software_disable, teardown_vm),
        cmocka_unit_test_teardown(test_esr, teardown_vm),
        cmocka_unit_test_teardown(test_ipi_destinations, teardown_vm),
        cmocka_unit_test_teardown(test_extint_lint0, teardown_vm),
        cmocka_unit_test_teardown(test_x2apic, teardown_vm),
        cmocka_unit_test_teardown(test_bad_widths, teardown_vm),
        cmocka_unit_test_teardown(test_save_load, teardown_vm),
        cmocka_unit_test_teardown(test_ioapic_registers, teardown_vm),
        cmocka_unit_test_teardown(test_ioapic_level_remote_irr, teardown_vm),
        cmocka_unit_test_teardown(test_ioapic_edge, teardown_vm),
        cmocka_unit_test_teardown(test_ioapic_taken, teardown_vm),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
