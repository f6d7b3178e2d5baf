/* SPDX-License-Identifier: MIT */
/*
 * The 8254 PIT and port 0x61 ("pit") against the Intel 82C54 datasheet,
 * clock by clock: the test sets the virtual VM clock to the first
 * nanosecond of a given PIT clock (1.193182 MHz).  A count
 * written during clock T is in the CE at clock T + 1 ("on the next CLK
 * pulse"), so mode 0's OUT rises at T + N + 1, the N + 1 clocks the
 * datasheet gives.  Covered: modes 0-5 (OUT and count per clock), gates,
 * counter latch and read-back (status byte, null count), access modes,
 * BCD, port 0x61, IRQ 0 through deadline()/timer() into the PIC, bad
 * accesses.
 */
#include "devtest.h"

#define PIT_HZ 1193182ull

static struct v3_vm *vm;

/* First nanosecond of PIT clock @p t (independent of the device's code: 128-bit arithmetic). */
static uint64_t tick_ns(uint64_t t)
{
    unsigned __int128 n = (unsigned __int128)t * 1000000000u;
    return (uint64_t)((n + PIT_HZ - 1) / PIT_HZ);
}

static void set_clock_ns(uint64_t ns)
{
    dt_set_clock_ns(ns);
    assert_int_equal(v3_vm_clock_ns(vm), ns);
}

static void at(uint64_t t)
{
    set_clock_ns(tick_ns(t));
}

static void pit_vm(bool with_pic)
{
    static const char *const specs[] = { "pit", "pic" };

    vm = dt_vm(specs, with_pic ? 2 : 1);
}

static int out2(void) { return inb(0x61) >> 5 & 1; }

static void program(unsigned ch, unsigned mode, uint16_t count)
{
    outb(0x43, (uint8_t)(ch << 6 | 0x30 | mode << 1));
    outb((uint16_t)(0x40 + ch), (uint8_t)count);
    outb((uint16_t)(0x40 + ch), (uint8_t)(count >> 8));
}

static uint16_t latch(unsigned ch)
{
    uint16_t v;

    outb(0x43, (uint8_t)(ch << 6));
    v = inb((uint16_t)(0x40 + ch));
    return (uint16_t)(v | inb((uint16_t)(0x40 + ch)) << 8);
}

static uint8_t status(unsigned ch)
{
    outb(0x43, (uint8_t)(0xe0 | 2 << ch));
    return inb((uint16_t)(0x40 + ch));
}

static void test_mode0_exact(void **state)
{
    (void)state;
    pit_vm(false);
    at(1000);
    outb(0x61, 0x01);                       /* gate 2 high, speaker off (Linux) */
    outb(0x43, 0xb0);
    assert_int_equal(status(2), 0x70);      /* OUT low, null count, LSB/MSB, mode 0 */
    outb(0x42, 11931 & 0xff);
    outb(0x42, 11931 >> 8);
    assert_int_equal(status(2) & 0xc0, 0x40);
    assert_int_equal(latch(2), 11931);
    at(1001);                               /* loaded */
    assert_int_equal(status(2), 0x30);
    assert_int_equal(latch(2), 11931);
    at(1002);
    assert_int_equal(latch(2), 11930);
    at(1000 + 11931);
    assert_int_equal(latch(2), 1);
    assert_int_equal(out2(), 0);
    at(1000 + 11931 + 1);                   /* N + 1 clocks after the write */
    assert_int_equal(latch(2), 0);
    assert_int_equal(out2(), 1);
    assert_int_equal(status(2) >> 7, 1);
    at(1000 + 11931 + 2);
    assert_int_equal(latch(2), 0xffff);     /* counts on, OUT stays high */
    assert_int_equal(out2(), 1);
    /* the last nanosecond before the edge still sees OUT low */
    program(2, 0, 100);
    at(20000);
    program(2, 0, 100);
    set_clock_ns(tick_ns(20101) - 1);
    assert_int_equal(out2(), 0);
    set_clock_ns(tick_ns(20101));
    assert_int_equal(out2(), 1);
    v3_free_vm(vm);
}

static void test_mode0_gate_and_rewrite(void **state)
{
    (void)state;
    pit_vm(false);
    at(500);
    outb(0x61, 0x00);                       /* gate 2 low: counting suspended */
    program(2, 0, 50);
    at(600);
    assert_int_equal(latch(2), 50);
    assert_int_equal(out2(), 0);
    outb(0x61, 0x01);
    at(610);
    assert_int_equal(latch(2), 40);
    outb(0x61, 0x00);
    at(700);
    assert_int_equal(latch(2), 40);         /* held while low */
    outb(0x61, 0x01);
    at(740);
    assert_int_equal(latch(2), 0);
    assert_int_equal(out2(), 1);
    /* first byte of a new count: counting stops and OUT goes low */
    outb(0x42, 0x10);
    assert_int_equal(out2(), 0);
    at(800);
    assert_int_equal(out2(), 0);
    outb(0x42, 0x00);                       /* count 0x0010, loaded at 801 */
    at(816);
    assert_int_equal(out2(), 0);
    at(817);
    assert_int_equal(out2(), 1);
    v3_free_vm(vm);
}

static void test_mode1_one_shot(void **state)
{
    (void)state;
    pit_vm(false);
    at(100);
    outb(0x61, 0x00);
    program(2, 1, 10);
    at(150);
    assert_int_equal(out2(), 1);            /* no trigger yet */
    assert_int_equal(status(2) & 0x40, 0x40);   /* not loaded: null count */
    outb(0x61, 0x01);                       /* trigger at 150 */
    assert_int_equal(out2(), 1);
    at(151);
    assert_int_equal(out2(), 0);
    assert_int_equal(latch(2), 10);
    assert_int_equal(status(2) & 0x40, 0);
    at(160);
    assert_int_equal(out2(), 0);
    assert_int_equal(latch(2), 1);
    at(161);
    assert_int_equal(out2(), 1);
    /* retrigger during the pulse restarts it */
    at(200);
    outb(0x61, 0x00);
    outb(0x61, 0x01);                       /* trigger at 200 */
    at(205);
    outb(0x61, 0x00);
    outb(0x61, 0x01);                       /* again at 205 */
    at(215);
    assert_int_equal(out2(), 0);
    at(216);
    assert_int_equal(out2(), 1);
    /* gates 0 and 1 are tied high: counter 0 in mode 1 never starts */
    program(0, 1, 10);
    at(300);
    assert_int_equal(status(0) >> 7, 1);
    v3_free_vm(vm);
}

static void test_mode2_rate(void **state)
{
    (void)state;
    pit_vm(false);
    at(1000);
    outb(0x61, 0x01);
    program(2, 2, 5);
    at(1001); assert_int_equal(latch(2), 5); assert_int_equal(out2(), 1);
    at(1004); assert_int_equal(latch(2), 2); assert_int_equal(out2(), 1);
    at(1005); assert_int_equal(latch(2), 1); assert_int_equal(out2(), 0);
    at(1006); assert_int_equal(latch(2), 5); assert_int_equal(out2(), 1);
    at(1010); assert_int_equal(out2(), 0);
    /* gate low: OUT high, counting stops; rising gate reloads on the next clock */
    at(1012);
    outb(0x61, 0x00);
    at(1015);
    assert_int_equal(out2(), 1);
    assert_int_equal(latch(2), 4);
    at(1020);
    outb(0x61, 0x01);
    at(1021); assert_int_equal(latch(2), 5);
    at(1025); assert_int_equal(out2(), 0);
    /* a new count while counting takes effect at the end of the period */
    at(1027);
    outb(0x42, 8);
    outb(0x42, 0);
    assert_int_equal(status(2) & 0x40, 0x40);
    at(1030); assert_int_equal(out2(), 0); assert_int_equal(latch(2), 1);
    at(1031); assert_int_equal(latch(2), 8);
    assert_int_equal(status(2) & 0x40, 0);
    at(1038); assert_int_equal(out2(), 0);
    at(1039); assert_int_equal(out2(), 1);
    /* mode 6 is mode 2; the status byte reports the bits as written */
    outb(0x43, 0xbc);
    assert_int_equal(status(2), 0xfc);
    v3_free_vm(vm);
}

static void test_mode3_square(void **state)
{
    (void)state;
    pit_vm(false);
    at(1000);
    outb(0x61, 0x01);
    program(2, 3, 6);
    static const int even_out[] = { 1, 1, 1, 0, 0, 0, 1, 1 };
    static const uint16_t even_cnt[] = { 6, 4, 2, 6, 4, 2, 6, 4 };
    for (unsigned i = 0; i < 8; i++) {
        at(1001 + i);
        assert_int_equal(out2(), even_out[i]);
        assert_int_equal(latch(2), even_cnt[i]);
    }
    at(2000);
    program(2, 3, 5);
    static const int odd_out[] = { 1, 1, 1, 0, 0, 1 };
    static const uint16_t odd_cnt[] = { 5, 4, 2, 5, 2, 5 };
    for (unsigned i = 0; i < 6; i++) {
        at(2001 + i);
        assert_int_equal(out2(), odd_out[i]);
        assert_int_equal(latch(2), odd_cnt[i]);
    }
    at(2004);
    outb(0x61, 0x00);                       /* gate low in the low half: OUT high */
    assert_int_equal(out2(), 1);
    outb(0x43, 0xbe);                       /* mode 7 = mode 3 */
    assert_int_equal(status(2), 0xfe);
    v3_free_vm(vm);
}

static void test_mode4_mode5_strobe(void **state)
{
    (void)state;
    pit_vm(false);
    at(1000);
    outb(0x61, 0x01);
    program(2, 4, 4);
    at(1001); assert_int_equal(latch(2), 4); assert_int_equal(out2(), 1);
    at(1004); assert_int_equal(latch(2), 1); assert_int_equal(out2(), 1);
    at(1005); assert_int_equal(latch(2), 0); assert_int_equal(out2(), 0);
    at(1006); assert_int_equal(latch(2), 0xffff); assert_int_equal(out2(), 1);
    at(1100); assert_int_equal(out2(), 1);
    /* mode 5: the gate's rising edge starts it */
    outb(0x61, 0x00);
    program(2, 5, 4);
    at(1200);
    assert_int_equal(out2(), 1);
    outb(0x61, 0x01);
    at(1205); assert_int_equal(out2(), 0);
    at(1206); assert_int_equal(out2(), 1);
    v3_free_vm(vm);
}

static void test_latch_readback(void **state)
{
    (void)state;
    pit_vm(false);
    at(100);
    outb(0x61, 0x01);
    program(2, 0, 1000);
    at(111);
    outb(0x43, 0x80);                       /* latch: 1000 - 10 */
    at(200);
    outb(0x43, 0x80);                       /* ignored: the first is not read yet */
    assert_int_equal(inb(0x42), 990 & 0xff);
    at(300);
    assert_int_equal(inb(0x42), 990 >> 8);  /* still the latched MSB */
    assert_int_equal(latch(2), 1000 - 199);
    /* read-back: count and status of counters 0 and 2; status comes first */
    program(0, 2, 0x1234);
    at(301);
    outb(0x43, 0xc0 | 0x02 | 0x08);
    assert_int_equal(inb(0x40), 0xb4);      /* OUT high, loaded, LSB/MSB, mode 2 */
    assert_int_equal(inb(0x40), 0x34);
    assert_int_equal(inb(0x40), 0x12);
    assert_int_equal(inb(0x42), 0x30);      /* mode 0, OUT low */
    assert_int_equal(inb(0x42), (1000 - 200) & 0xff);
    assert_int_equal(inb(0x42), (1000 - 200) >> 8);
    /* a second read-back before the read leaves the first values */
    outb(0x43, 0xe8);                       /* status of 2 */
    at(1200);
    outb(0x43, 0xe8);
    assert_int_equal(inb(0x42), 0x30);
    assert_int_equal(inb(0x42), (1000 - 1099 + 65536) & 0xff);  /* then live reads */
    assert_int_equal(inb(0x42), (1000 - 1099 + 65536) >> 8);
    /* read toggle of the live count: LSB then MSB */
    program(2, 0, 0x0302);
    at(1201);
    assert_int_equal(inb(0x42), 0x02);
    assert_int_equal(inb(0x42), 0x03);
    v3_free_vm(vm);
}

static void test_access_modes_bcd(void **state)
{
    (void)state;
    pit_vm(false);
    at(100);
    outb(0x61, 0x01);
    outb(0x43, 0x90);                       /* LSB only */
    outb(0x42, 0x34);
    assert_int_equal(status(2), 0x50);
    at(101);
    assert_int_equal(inb(0x42), 0x34);
    assert_int_equal(inb(0x42), 0x34);      /* each read is the LSB */
    at(102);
    assert_int_equal(inb(0x42), 0x33);
    outb(0x43, 0xa0);                       /* MSB only */
    outb(0x42, 0x12);                       /* 0x1200 */
    at(104);
    assert_int_equal(inb(0x42), 0x11);      /* 0x1200 - 1 = 0x11ff */
    outb(0x43, 0x80);
    assert_int_equal(inb(0x42), 0x11);
    /* BCD */
    outb(0x43, 0xb1);
    outb(0x42, 0x00);
    outb(0x42, 0x01);                       /* 100 decimal */
    at(105); assert_int_equal(latch(2), 0x0100);
    at(106); assert_int_equal(latch(2), 0x0099);
    at(204); assert_int_equal(latch(2), 0x0001); assert_int_equal(out2(), 0);
    at(205); assert_int_equal(latch(2), 0x0000); assert_int_equal(out2(), 1);
    at(206); assert_int_equal(latch(2), 0x9999);
    assert_int_equal(status(2) & 1, 1);
    outb(0x43, 0xb1);
    outb(0x42, 0x00);
    outb(0x42, 0x00);                       /* 0 = 10000 */
    at(208); assert_int_equal(latch(2), 0x9999);
    v3_free_vm(vm);
}

static void test_port61(void **state)
{
    (void)state;
    pit_vm(false);
    at(18 * 10);
    outb(0x61, 0xff);
    assert_int_equal(inb(0x61) & 0xcf, 0x0f);   /* bits 0-3 kept, 6-7 read 0 */
    assert_int_equal(inb(0x61) & 0x10, 0x00);   /* refresh: (tick / 18) & 1 */
    at(18 * 11 - 1);
    assert_int_equal(inb(0x61) & 0x10, 0x00);
    at(18 * 11);
    assert_int_equal(inb(0x61) & 0x10, 0x10);
    outb(0x61, 0x00);
    assert_int_equal(inb(0x61) & 0x0f, 0x00);
    v3_free_vm(vm);
}

static uint64_t call_deadline(struct v3_device *d)
{
    uint64_t r;

    v3_dev_lock(d);
    r = v3_dev_ops(d)->deadline(d);
    v3_dev_unlock(d);
    return r;
}

static void call_timer(struct v3_device *d)
{
    v3_dev_lock(d);
    v3_dev_ops(d)->timer(d, v3_vm_clock_ns(vm));
    v3_dev_unlock(d);
}

static void test_irq0(void **state)
{
    struct v3_device *pit;
    (void)state;

    pit_vm(true);
    pit = v3_vm_find_device(vm, "pit");
    assert_non_null(pit);
    outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, 0x01);
    outb(0x21, 0xfe);
    at(5000);
    program(0, 2, 1193);                    /* rate generator, ~1 kHz */
    assert_int_equal(call_deadline(pit), tick_ns(5000 + 1 + 1193));
    at(5000 + 1193);
    call_timer(pit);                        /* early: nothing */
    assert_false(v3_vm_extint_pending(vm));
    at(5000 + 1 + 1193);
    call_timer(pit);
    assert_true(v3_vm_extint_pending(vm));
    assert_int_equal(v3_vm_extint_ack(vm), 0x20);
    outb(0x20, 0x20);
    assert_int_equal(call_deadline(pit), tick_ns(5001 + 2 * 1193));
    /* the loop came late: four edges (periods 2-5) passed; one interrupt
       now, the three others owed, one every period / 8 (+ 1 clock) */
    at(5001 + 5 * 1193 + 7);
    call_timer(pit);
    assert_int_equal(v3_vm_extint_ack(vm), 0x20);
    outb(0x20, 0x20);
    assert_false(v3_vm_extint_pending(vm));
    assert_int_equal(call_deadline(pit), tick_ns(5001 + 5 * 1193 + 7 + 1193 / 8 + 1));
    for (unsigned i = 0; i < 3; i++) {
        at(5001 + 5 * 1193 + 7 + (i + 1) * (1193 / 8 + 1));
        call_timer(pit);
        assert_int_equal(v3_vm_extint_ack(vm), 0x20);
        outb(0x20, 0x20);
    }
    assert_int_equal(call_deadline(pit), tick_ns(5001 + 6 * 1193));
    /* mode 0: one edge at N + 1 clocks, then none */
    at(20000);
    program(0, 0, 300);
    assert_int_equal(call_deadline(pit), tick_ns(20301));
    at(20301);
    call_timer(pit);
    assert_int_equal(v3_vm_extint_ack(vm), 0x20);
    outb(0x20, 0x20);
    assert_int_equal(call_deadline(pit), V3_NO_DEADLINE);
    /* mode 3: rising edges at each period */
    at(30000);
    program(0, 3, 100);
    assert_int_equal(call_deadline(pit), tick_ns(30101));
    /* mode 4: OUT rises after its one-clock strobe, N + 2 clocks after the write */
    program(0, 4, 100);
    assert_int_equal(call_deadline(pit), tick_ns(30102));
    v3_free_vm(vm);
}

/* ---------------------------------------------------------------- lost ticks
 *
 * The vCPU loop as src/vm/run.c drives it: the clock advances, due timers
 * run (v3_devmodel_poll), and the guest takes every interrupt the PIC
 * raises (INTA, EOI).  The oracle is the 8254's schedule: a mode 2/3
 * counter loaded at tick S with N clocks has a rising edge at S + k * N,
 * and a guest that counts IRQ 0 interrupts must count every one of them,
 * however late the loop comes (up to the cap).
 */

static unsigned irq0_taken;

static void poll_at(uint64_t t)
{
    at(t);
    v3_devmodel_poll(vm, v3_vm_clock_ns(vm));
    while (v3_vm_extint_pending(vm)) {
        assert_int_equal(v3_vm_extint_ack(vm), 0x20);
        outb(0x20, 0x20);
        irq0_taken++;
    }
}

/* Poll every @p step clocks from @p from to @p to (inclusive). */
static void poll_range(uint64_t from, uint64_t to, uint64_t step)
{
    for (uint64_t t = from; t <= to; t += step)
        poll_at(t);
}

/* Edges of a periodic counter loaded at @p s with @p n clocks, up to tick @p t. */
static uint64_t edges(uint64_t s, uint64_t n, uint64_t t)
{
    return t < s ? 0 : (t - s) / n;
}

static void pic_irq0_only(void)
{
    outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, 0x01);
    outb(0x21, 0xfe);
}

/* No poll comes late: one interrupt per period, in the poll after its edge. */
static void test_ticks_on_time(void **state)
{
    const uint64_t s = 5001, n = 1193;
    (void)state;

    pit_vm(true);
    pic_irq0_only();
    irq0_taken = 0;
    at(5000);
    program(0, 2, (uint16_t)n);
    for (uint64_t t = 5000; t <= s + 20 * n + 50; t += 97) {
        poll_at(t);
        assert_int_equal(irq0_taken, edges(s, n, t));
    }
    assert_int_equal(irq0_taken, 20);
    v3_free_vm(vm);
}

/* The loop comes 10 periods late: the 10 edges missed are all delivered,
 * each as its own interrupt, while the counter reads the real time. */
static void test_ticks_caught_up(void **state)
{
    const uint64_t s = 5001, n = 1193, jump = s + 11 * n + 5;
    (void)state;

    pit_vm(true);
    pic_irq0_only();
    irq0_taken = 0;
    at(5000);
    program(0, 2, (uint16_t)n);
    poll_range(5000, s + n + 10, 100);
    assert_int_equal(irq0_taken, 1);
    poll_at(jump);                          /* edges 2-11 passed unseen */
    assert_int_equal(irq0_taken, 2);
    assert_int_equal(latch(0), n - 5);      /* the counter is not delayed */
    poll_range(jump + 20, s + 16 * n - 1, 20);
    assert_int_equal(irq0_taken, edges(s, n, s + 16 * n - 1));
    assert_int_equal(irq0_taken, 15);
    /* caught up: on schedule again */
    poll_range(s + 16 * n, s + 18 * n + 19, 20);
    assert_int_equal(irq0_taken, 18);
    v3_free_vm(vm);
}

/* A long stop owes at most 100 ticks, and at most one second of them. */
static void test_ticks_capped(void **state)
{
    const uint64_t s = 5001, n = 1193;
    uint64_t jump, end;
    (void)state;

    pit_vm(true);
    pic_irq0_only();
    irq0_taken = 0;
    at(5000);
    program(0, 2, (uint16_t)n);             /* ~1 kHz: 1 s is 1000 ticks, cap 100 */
    poll_range(5000, s + n + 10, 100);
    jump = s + 1001 * n + 5;                /* 1000 edges missed */
    end = jump + 20 * n;
    poll_at(jump);
    poll_range(jump + 20, end, 20);
    assert_int_equal(irq0_taken, 1 + 100 + edges(s, n, end) - edges(s, n, jump));

    /* 65535 clocks (18.2 Hz, mode 3): one second is 18 ticks */
    at(10000000);
    program(0, 3, 65535);
    irq0_taken = 0;
    poll_at(10000000 + 1 + 65535);
    assert_int_equal(irq0_taken, 1);
    jump = 10000001 + 51 * 65535 + 3;       /* 50 edges missed */
    end = jump + 4 * 65535 + 999;
    poll_at(jump);
    poll_range(jump + 1000, end, 1000);
    assert_int_equal(irq0_taken, 1 + 18 + 4);
    v3_free_vm(vm);
}

/* Reprogramming counter 0 drops the ticks owed for the old schedule. */
static void test_ticks_dropped_on_reprogram(void **state)
{
    const uint64_t s = 5001, n = 1193;
    uint64_t s2;
    (void)state;

    pit_vm(true);
    pic_irq0_only();
    irq0_taken = 0;
    at(5000);
    program(0, 2, (uint16_t)n);
    poll_at(s + 10 * n);                    /* 10 edges: one now, 9 owed */
    assert_int_equal(irq0_taken, 1);
    s2 = s + 10 * n + 2;
    at(s2 - 1);
    program(0, 2, 2000);
    poll_range(s2, s2 + 5 * 2000 + 10, 50);
    assert_int_equal(irq0_taken, 1 + 5);
    v3_free_vm(vm);
}

/* The guest keeps IF clear for most of a period after a late poll: owed
 * ticks wait in the PIT until the PIC's INTA took the previous one, so
 * none merges in IRR. */
static void test_ticks_wait_until_taken(void **state)
{
    const uint64_t s = 5001, n = 1193, jump = s + 11 * n + 5;
    (void)state;

    pit_vm(true);
    pic_irq0_only();
    irq0_taken = 0;
    at(5000);
    program(0, 2, (uint16_t)n);
    poll_range(5000, s + n + 10, 100);
    assert_int_equal(irq0_taken, 1);
    for (uint64_t t = jump; t < jump + 1000; t += 10) {
        at(t);                                  /* polls, nothing taken */
        v3_devmodel_poll(vm, v3_vm_clock_ns(vm));
    }
    assert_int_equal(vm->dm.irq_taken[0], 1);
    poll_range(jump + 1000, s + 16 * n - 1, 20);
    assert_int_equal(irq0_taken, 15);
    assert_int_equal(vm->dm.irq_taken[0], 15);
    v3_free_vm(vm);
}

/* Owed ticks nobody takes (IRQ 0 masked here) cost no wake-ups of their
 * own: after one look a period/8 after the late edge, the PIT's next
 * deadline is its regular edge again, and the owed ticks still come once
 * IRQ 0 is unmasked and taken. */
static void test_ticks_untaken_no_extra_wakeups(void **state)
{
    const uint64_t s = 5001, n = 1193, jump = s + 11 * n + 5, look = jump + n / 8 + 2;
    uint64_t next;
    (void)state;

    pit_vm(true);
    pic_irq0_only();
    irq0_taken = 0;
    at(5000);
    program(0, 2, (uint16_t)n);
    poll_range(5000, s + n + 10, 100);
    assert_int_equal(irq0_taken, 1);
    outb(0x21, 0xff);                       /* IRQ 0 masked: nothing is taken */
    poll_at(jump);                          /* late: one edge now, 10 owed */
    at(look);
    next = v3_devmodel_poll(vm, v3_vm_clock_ns(vm));
    assert_true(next >= tick_ns(s + 12 * n));           /* no earlier than the regular edge */
    assert_true(next <= tick_ns(s + 12 * n) + 1000);
    outb(0x21, 0xfe);                       /* unmasked: the owed ticks are delivered */
    poll_range(look + 1, s + 16 * n - 1, 20);
    assert_int_equal(irq0_taken, 15);
    v3_free_vm(vm);
}

/* A snapshot taken while ticks are owed carries them. */
static void test_ticks_snapshot(void **state)
{
    static const char *const specs[] = { "pit", "pic" };
    const uint64_t s = 5001, n = 1193;
    void *buf;
    size_t len;
    (void)state;

    /* no test IRQ source: it has no save() */
    vm = dt_vm_mem(specs, 2, 1 << 20);
    pic_irq0_only();
    irq0_taken = 0;
    at(5000);
    program(0, 2, (uint16_t)n);
    poll_at(s + 6 * n);                     /* one now, 5 owed */
    assert_int_equal(irq0_taken, 1);
    assert_int_equal(v3_vm_save_buf(vm, &buf, &len), 0);
    v3_free_vm(vm);

    vm = dt_vm_mem(specs, 2, 1 << 20);
    assert_int_equal(v3_vm_restore(vm, buf, len), 0);
    v3_snapshot_buf_free(buf);
    poll_range(s + 6 * n + 20, s + 7 * n - 1, 20);
    assert_int_equal(irq0_taken, 6);
    v3_free_vm(vm);
}

/* Power-on state, as a PC BIOS leaves it: counters in mode 3 with count
 * 65536 (counter 0: 18.2 Hz on IRQ 0), gate 2 low. */
static void test_reset_state(void **state)
{
    struct v3_device *pit;
    (void)state;

    pit_vm(false);
    pit = v3_vm_find_device(vm, "pit");
    assert_int_equal(status(0), 0xb6);
    assert_int_equal(status(1), 0xb6);
    assert_int_equal(status(2), 0xb6);
    assert_int_equal(inb(0x61) & 0x0f, 0x00);
    assert_int_equal(call_deadline(pit), tick_ns(65536 + 1));
    at(1 + 32768);
    assert_int_equal(status(0) >> 7, 0);    /* second half of the square wave */
    assert_int_equal(latch(2), 0);          /* gate 2 low: counter 2 holds 65536 */
    v3_free_vm(vm);
}

static void test_bad_accesses(void **state)
{
    long errs = v3t_error_logs();
    (void)state;

    pit_vm(false);
    at(100);
    assert_int_equal(inb(0x43), 0xff);      /* control register: write only */
    outb(0x43, 0xb0);
    outb(0x42, 0x34);
    outb(0x42, 0x12);
    at(101);
    assert_int_equal(inp(0x42, 2), 0xff34); /* counter 2 LSB, then port 0x43 floats */
    assert_int_equal(inp(0x61, 2), 0xff00 | inb(0x61));
    assert_int_equal(inp(0x40, 4) >> 24, 0xff);
    outp(0x42, 2, 0x0000);                  /* count byte 0 to counter 2, 0 to 0x43 (latch ch0) */
    outb(0x43, 0xc0);                       /* read-back with no counter selected */
    outb(0x43, 0xff);                       /* read-back of "counter 3": reserved bit */
    assert_int_equal(v3t_error_logs(), errs);
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode0_exact),
        cmocka_unit_test(test_mode0_gate_and_rewrite),
        cmocka_unit_test(test_mode1_one_shot),
        cmocka_unit_test(test_mode2_rate),
        cmocka_unit_test(test_mode3_square),
        cmocka_unit_test(test_mode4_mode5_strobe),
        cmocka_unit_test(test_latch_readback),
        cmocka_unit_test(test_access_modes_bcd),
        cmocka_unit_test(test_port61),
        cmocka_unit_test(test_irq0),
        cmocka_unit_test(test_ticks_on_time),
        cmocka_unit_test(test_ticks_caught_up),
        cmocka_unit_test(test_ticks_capped),
        cmocka_unit_test(test_ticks_dropped_on_reprogram),
        cmocka_unit_test(test_ticks_wait_until_taken),
        cmocka_unit_test(test_ticks_untaken_no_extra_wakeups),
        cmocka_unit_test(test_ticks_snapshot),
        cmocka_unit_test(test_reset_state),
        cmocka_unit_test(test_bad_accesses),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
