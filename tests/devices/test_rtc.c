/* SPDX-License-Identifier: MIT */
/*
 * MC146818 RTC ("rtc") against the datasheet, on a virtual VM clock the
 * test moves by hand (vCPU 0's instruction count at 1 ns per instruction):
 * calendar registers in BCD and binary, 12/24-hour, UIP, SET, periodic,
 * update and alarm flags in register C (cleared on read), CMOS memory
 * fields, and hostile accesses.
 */
#include "devtest.h"

static struct v3_vm *vm;

static uint8_t rd(uint8_t idx) { outb(0x70, idx); return inb(0x71); }
static void wr(uint8_t idx, uint8_t v) { outb(0x70, idx); outb(0x71, v); }

static void make(uint64_t mem)
{
    const char *devs[] = { "rtc,base=1767225600" };     /* 2026-01-01 00:00:00 UTC, a Thursday */
    vm = dt_vm_mem(devs, 1, mem);
}

static void test_calendar(void **state)
{
    (void)state;
    make(128 << 20);
    dt_set_clock_ns(0);
    assert_int_equal(rd(0), 0x00);
    assert_int_equal(rd(2), 0x00);
    assert_int_equal(rd(4), 0x00);
    assert_int_equal(rd(6), 5);                    /* Thursday (Sunday = 1) */
    assert_int_equal(rd(7), 0x01);
    assert_int_equal(rd(8), 0x01);
    assert_int_equal(rd(9), 0x26);
    assert_int_equal(rd(0x32), 0x20);
    assert_int_equal(rd(0x0b), 0x02);              /* 24-hour, BCD */
    assert_int_equal(rd(0x0d), 0x80);              /* valid RAM and time */
    /* 59 days, 13:45:59.5 later: 2026-03-01 (not a leap year), a Sunday */
    dt_set_clock_ns(((59ull * 86400) + 13 * 3600 + 45 * 60 + 59) * 1000000000ull + 500000000ull);
    assert_int_equal(rd(0), 0x59);
    assert_int_equal(rd(2), 0x45);
    assert_int_equal(rd(4), 0x13);
    assert_int_equal(rd(6), 1);
    assert_int_equal(rd(7), 0x01);
    assert_int_equal(rd(8), 0x03);
    /* binary, 12-hour: 1 PM is 0x81 */
    wr(0x0b, 0x04);
    assert_int_equal(rd(4), 0x81);
    assert_int_equal(rd(0), 59);
    assert_int_equal(rd(9), 26);
    v3_free_vm(vm);
}

static void test_uip_and_set(void **state)
{
    (void)state;
    make(1 << 20);
    dt_set_clock_ns(999700000ull);                    /* 300 us before the update */
    assert_int_equal(rd(0x0a) & 0x80, 0);
    dt_set_clock_ns(999800000ull);                    /* 200 us before: update in progress */
    assert_int_equal(rd(0x0a), 0x80 | 0x26);
    /* SET: the guest writes 2030-06-15 10:20:30, the clock runs from there when SET drops */
    wr(0x0b, 0x82);
    assert_int_equal(rd(0x0a) & 0x80, 0);          /* no update while SET */
    wr(9, 0x30);
    wr(8, 0x06);
    wr(7, 0x15);
    wr(4, 0x10);
    wr(2, 0x20);
    wr(0, 0x30);
    dt_set_clock_ns(5000000000ull);                   /* frozen meanwhile */
    assert_int_equal(rd(0), 0x30);
    wr(0x0b, 0x02);
    dt_set_clock_ns(7500000000ull);
    assert_int_equal(rd(0), 0x32);
    assert_int_equal(rd(2), 0x20);
    assert_int_equal(rd(9), 0x30);
    assert_int_equal(rd(8), 0x06);
    v3_free_vm(vm);
}

static void test_flags(void **state)
{
    (void)state;
    make(1 << 20);
    dt_set_clock_ns(0);
    assert_int_equal(rd(0x0c), 0x00);
    /* 1024 Hz: after one period PF is set, IRQF only when PIE is on */
    dt_set_clock_ns(1000000);
    assert_int_equal(rd(0x0c), 0x40);
    assert_int_equal(rd(0x0c), 0x00);              /* cleared by the read */
    wr(0x0b, 0x42);                                /* PIE */
    dt_set_clock_ns(3000000);
    assert_int_equal(rd(0x0c), 0xc0);
    /* update-ended at each second; alarm at 00:00:05 exactly */
    wr(0x0b, 0x32);                                /* AIE | UIE */
    wr(1, 0x05);
    wr(3, 0x00);
    wr(5, 0x00);
    (void)rd(0x0c);
    dt_set_clock_ns(4100000000ull);
    assert_int_equal(rd(0x0c) & 0xb0, 0x90);       /* IRQF | UF, no alarm yet (PF is set but not enabled) */
    dt_set_clock_ns(5100000000ull);
    assert_int_equal(rd(0x0c) & 0xb0, 0xb0);       /* IRQF | AF | UF */
    dt_set_clock_ns(6100000000ull);
    assert_int_equal(rd(0x0c) & 0x20, 0);          /* no alarm at 00:00:06 */
    /* don't-care alarm bytes match every second */
    wr(1, 0xc0);
    wr(3, 0xff);
    wr(5, 0xc0);
    dt_set_clock_ns(7100000000ull);
    assert_int_equal(rd(0x0c) & 0x20, 0x20);
    /* divider held in reset: no flags */
    wr(0x0a, 0x66);
    (void)rd(0x0c);
    dt_set_clock_ns(9100000000ull);
    assert_int_equal(rd(0x0c), 0x00);
    v3_free_vm(vm);
}

/* The deadline brings the periodic and update interrupts without the guest reading C. */
static void test_deadline_raises_irq8(void **state)
{
    uint64_t next;
    (void)state;
    make(1 << 20);
    dt_set_clock_ns(0);
    wr(0x0b, 0x42);                                /* PIE at 1024 Hz */
    next = v3_devmodel_poll(vm, 0);
    assert_int_equal(next, 976563);                /* 1e9 / 1024 rounded up */
    assert_int_equal(vm->dm.irq_count[8], 0);
    dt_set_clock_ns(next);
    next = v3_devmodel_poll(vm, next);
    assert_int_equal(vm->dm.irq_count[8], 1);      /* IRQF: the line is up */
    assert_int_equal(next, V3_NO_DEADLINE);        /* nothing new until C is read */
    assert_int_equal(rd(0x0c), 0xc0);
    assert_int_equal(vm->dm.irq_count[8], 0);
    /* update-ended interrupt at the next second boundary */
    wr(0x0b, 0x12);
    next = v3_devmodel_poll(vm, 976563);
    assert_int_equal(next, 1000000000);
    dt_set_clock_ns(next);
    v3_devmodel_poll(vm, next);
    assert_int_equal(vm->dm.irq_count[8], 1);
    assert_int_equal(rd(0x0c) & 0x90, 0x90);
    v3_free_vm(vm);
}

/* The guest of the lost-tick tests: the vCPU loop polls at @p ns, and the
 * guest's handler reads C each time IRQ 8 is up.  Returns the interrupts
 * taken. */
static unsigned poll_take(uint64_t ns)
{
    unsigned n = 0;

    dt_set_clock_ns(ns);
    for (int i = 0; i < 1000; i++) {
        v3_devmodel_poll(vm, ns);
        if (!vm->dm.irq_count[8])
            break;
        assert_int_equal(rd(0x0c) & 0xc0, 0xc0);   /* IRQF | PF */
        n++;
    }
    return n;
}

/* A late poll: every period that ended while IRQF was clear is one
 * interrupt, delivered one at a time after C is read; none when on time. */
static void test_periodic_lost_ticks(void **state)
{
    const uint64_t p = 976563;                     /* 1024 Hz */
    unsigned n = 0;
    (void)state;
    make(1 << 20);
    dt_set_clock_ns(0);
    wr(0x0b, 0x42);                                /* PIE */
    (void)rd(0x0c);
    for (uint64_t k = 1; k <= 20; k++) {           /* on time: one per period */
        n += poll_take(k * p + 1000);
        assert_int_equal(n, k);
    }
    n += poll_take(31 * p + 1000);                 /* 11 periods ended unseen */
    assert_int_equal(n, 31);
    n += poll_take(31 * p + 2000);                 /* nothing more owed */
    assert_int_equal(n, 31);
    n += poll_take(32 * p + 1000);
    assert_int_equal(n, 32);
    /* a long stop: at most 100 owed */
    n = poll_take(2032 * p + 1000);
    assert_int_equal(n, 100);
    /* at 2 Hz: at most one second (2 ticks) */
    wr(0x0a, 0x2f);
    (void)rd(0x0c);
    n = poll_take(2032 * p + 10 * 500000000ull + 3000);
    assert_int_equal(n, 2);
    /* clearing PIE drops what is owed */
    wr(0x0a, 0x26);                                /* 1024 Hz from 2032 p + 5e9 + 3000 */
    (void)rd(0x0c);
    dt_set_clock_ns(2032 * p + 5000003000ull + 11 * p + 10);
    v3_devmodel_poll(vm, v3_vm_clock_ns(vm));      /* one raised, 10 owed */
    assert_int_equal(vm->dm.irq_count[8], 1);
    assert_int_equal(rd(0x0c) & 0xc0, 0xc0);
    wr(0x0b, 0x02);
    wr(0x0b, 0x42);
    assert_int_equal(poll_take(v3_vm_clock_ns(vm)), 0);
    v3_free_vm(vm);
}

static void test_cmos_memory(void **state)
{
    unsigned sum = 0;
    (void)state;
    make(128 << 20);
    assert_int_equal(rd(0x15) | rd(0x16) << 8, 640);
    assert_int_equal(rd(0x17) | rd(0x18) << 8, 0xffff);            /* 127 MiB, capped at 64 MiB - 1 KiB */
    assert_int_equal(rd(0x30) | rd(0x31) << 8, 0xffff);
    assert_int_equal(rd(0x34) | rd(0x35) << 8, (128 - 16) * 16);     /* 64 KiB units above 16 MiB */
    assert_int_equal(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 0);
    assert_int_equal(rd(0x5f), 0);                  /* CPUs - 1 */
    for (unsigned i = 0x10; i <= 0x2d; i++)
        sum += rd((uint8_t)i);
    assert_int_equal(rd(0x2e) << 8 | rd(0x2f), sum);
    /* NVRAM keeps what is written; index bit 7 is the NMI mask, not an address bit */
    wr(0x50, 0xa5);
    assert_int_equal(rd(0x50 | 0x80), 0xa5);
    v3_free_vm(vm);
}

static void test_hostile(void **state)
{
    (void)state;
    make(1 << 20);
    /* wide accesses, reads of the index port, writes to C/D: answered, never a crash */
    outp(0x70, 4, 0xffffffffu);
    assert_int_equal(inp(0x70, 1), 0xff);
    outp(0x71, 2, 0x1234);
    wr(0x0c, 0xff);
    wr(0x0d, 0x00);
    assert_int_equal(rd(0x0d), 0x80);
    assert_int_equal(rd(0x0c), 0x00);
    for (unsigned i = 0; i < 256; i++)
        wr((uint8_t)i, (uint8_t)(i * 37));
    for (unsigned i = 0; i < 256; i++)
        (void)rd((uint8_t)i);
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_uip_and_set),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_deadline_raises_irq8),
        cmocka_unit_test(test_periodic_lost_ticks),
        cmocka_unit_test(test_cmos_memory),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
