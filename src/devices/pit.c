/* SPDX-License-Identifier: MIT */
/*
 * The PC's 8254 programmable interval timer ("pit") and the timer bits of
 * port 0x61 (NMI status and control).
 *
 *   0x40-0x42  counters 0-2 (count register writes, counter / status reads)
 *   0x43       control word: mode, counter latch command, read-back command
 *              (write only: reads float, 0xFF)
 *   0x61       bit 0 counter 2 gate (RW), bit 1 speaker data enable (RW),
 *              bits 2-3 SERR#/IOCHK# NMI enables (RW, stored only), bit 4
 *              refresh toggle (RO, flips every 18 PIT clocks, ~15 us),
 *              bit 5 counter 2 OUT (RO), bits 6-7 NMI sources (RO, 0).
 *
 * Counters run at 1.193182 MHz of VM clock (v3_vm_clock_ns()).  Nothing
 * ticks: a counter keeps the clock tick at which its count element (CE) was
 * loaded ("start") and every value (count, OUT, null count) is a function
 * of the ticks elapsed since.  Modes 0-5 (6 and 7 are 2 and 3) follow the
 * Intel 82C54 datasheet:
 *   - a count written takes effect on the next clock (OUT of mode 0 goes
 *     high N + 1 clocks after the write);
 *   - mode 0: writing the first byte of a two-byte count stops counting;
 *     modes 2 and 3: a count written while counting is loaded at the end
 *     of the current period (the datasheet loads mode 3 at the end of the
 *     half cycle; this model waits for the period); mode 4: reloads on the
 *     next clock; modes 1 and 5: used at the next gate trigger;
 *   - gate: level gating in modes 0, 2, 3, 4 (low suspends counting; in
 *     modes 2 and 3 low forces OUT high and a rising edge reloads the
 *     count), rising edge triggers in modes 1, 2, 3, 5.  Gates 0 and 1 are
 *     tied high as on a PC, so counters 0 and 1 never see a trigger;
 *     gate 2 is port 0x61 bit 0.
 *   - count 0 is 65536 (binary) or 10000 (BCD).
 * Counter 0's OUT drives IRQ 0, raised from timer() at the deadline of the
 * next rising edge.  In modes 0 and 1 OUT stays high after the edge, and
 * so does the line (an IOAPIC pin programmed level-triggered sees it
 * high) until OUT drops again when the counter is reprogrammed; in modes
 * 2-5 OUT is high for most of the period or strobes low for one clock, and
 * each rising edge is a pulse.
 *
 * Lost ticks (modes 2 and 3).  When the vCPU loop comes late (the host
 * descheduled the vCPU thread) several periods may have ended since the
 * last edge given to IRQ 0; their edges would coalesce into one interrupt
 * and a guest that counts interrupts (jiffies) would lose time.  timer()
 * gives one edge for the period that ended last and owes the others
 * ("missed", at most CATCHUP_MAX and at most one second of ticks).  An
 * owed edge goes once a vCPU took the previous IRQ 0 interrupt (the
 * per-IRQ count of v3_irq_taken(): the PIC's INTA, or the IOAPIC vector
 * moving to a LAPIC's ISR), and no sooner than period / CATCHUP_DIV after
 * the previous edge, so each owed tick is an interrupt of its own; the
 * regular edges keep their schedule.  Only the interrupts are delayed:
 * counter reads, OUT and port 0x61 follow the VM clock.  Writing counter
 * 0's control word or count drops what is owed.
 */
#include "internal/host.h"
#include "internal/ticks.h"
#include <v3/device.h>
#include <v3/error.h>

#define PIT_PORT      0x40
#define PIT_PORT_61   0x61
#define PIT_HZ        1193182ull
#define REFRESH_TICKS 18            /* DRAM refresh period of a PC: 18 PIT clocks */
#define NO_TICK       UINT64_MAX
#define CATCHUP_MAX   100           /* most ticks owed to IRQ 0 (and at most 1 s of them) */
#define CATCHUP_DIV   8             /* an owed tick every period / CATCHUP_DIV */

enum {
    WARN_WIDTH = 1u << 0,
    WARN_READ_CTRL = 1u << 1,
    WARN_RW0 = 1u << 2,
};

struct pit_channel {
    uint8_t mode_bits;      /* mode as written (0-7): the status byte reports it */
    uint8_t mode;           /* effective mode 0-5 */
    uint8_t rw;             /* 1 LSB, 2 MSB, 3 LSB then MSB */
    bool bcd;
    bool gate;
    uint16_t cr;            /* count register as written */
    uint32_t n;             /* clocks of the count in the CE (1..65536) */
    bool have_count;        /* a count was written since the control word */
    bool armed;             /* the CE holds a count (mode 1/5: triggered) */
    bool frozen;            /* gate low: counting suspended at frozen_e */
    uint64_t start;         /* tick at which the CE held n (elapsed 0) */
    uint64_t frozen_e;
    bool pending;           /* modes 2/3: the CR is loaded at pending_at */
    uint64_t pending_at;
    bool null_count;        /* CR written, not yet in the CE (until null_until) */
    uint64_t null_until;
    bool write_msb;         /* rw 3: the next write is the MSB */
    uint8_t write_lsb;
    bool read_msb;          /* rw 3: the next read of the live count is the MSB */
    uint8_t latch_left;     /* latched count bytes left to read (0 none) */
    bool latch_msb;         /* the next latched byte is the MSB */
    uint16_t latch;
    bool status_latched;
    uint8_t status;
};

struct pit_state {
    struct pit_channel ch[3];
    uint8_t port61;         /* bits 0-3 as written */
    uint64_t last_edge;     /* counter 0: tick of the last edge given to IRQ 0 */
    uint32_t missed;        /* counter 0 (modes 2/3): edges owed to IRQ 0 */
    uint64_t catchup_at;    /* tick at which the next owed edge may go */
    uint32_t taken_seen;    /* v3_irq_taken() of IRQ 0 when the last edge was given */
    unsigned warned;
    struct v3_device *dev;
    struct v3_irq_line *irq0;
};

/* ---------------------------------------------------------------- time */

static uint64_t ns_to_ticks(uint64_t ns)
{
    return v3_ns_to_ticks(ns, PIT_HZ);
}

/* The first nanosecond at which ns_to_ticks() reaches @p t. */
static uint64_t ticks_to_ns(uint64_t t)
{
    return v3_ticks_to_ns_up(t, PIT_HZ);
}

static uint64_t pit_now(struct pit_state *p)
{
    return ns_to_ticks(v3_vm_clock_ns(v3_dev_vm(p->dev)));
}

static void pit_warn_once(struct pit_state *p, unsigned bit, const char *what, unsigned a, unsigned b)
{
    if (p->warned & bit)
        return;
    p->warned |= bit;
    V3_WARN("%s: %s (0x%x, 0x%x; logged once)", v3_dev_name(p->dev), what, a, b);
}

/* ---------------------------------------------------------------- counting */

static uint32_t bcd_to_bin(uint16_t v)
{
    return (uint32_t)(v & 0xF) + (uint32_t)(v >> 4 & 0xF) * 10 + (uint32_t)(v >> 8 & 0xF) * 100 +
           (uint32_t)(v >> 12 & 0xF) * 1000;
}

static uint16_t bin_to_bcd(uint32_t v)
{
    return (uint16_t)(v % 10 | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000 % 10) << 12);
}

static uint32_t cr_clocks(const struct pit_channel *c)
{
    if (c->cr == 0)
        return c->bcd ? 10000 : 65536;
    return c->bcd ? bcd_to_bin(c->cr) : c->cr;
}

/* Apply a count that was waiting for the end of a period (modes 2/3). */
static void ch_settle(struct pit_channel *c, uint64_t t)
{
    if (c->pending && t >= c->pending_at) {
        c->pending = false;
        c->n = cr_clocks(c);
        c->start = c->pending_at;
    }
}

/* Clocks elapsed since the CE was loaded, or -1 if it is not (yet) counting. */
static int64_t ch_elapsed(const struct pit_channel *c, uint64_t t)
{
    if (!c->armed)
        return -1;
    if (c->frozen)
        return (int64_t)c->frozen_e;
    if (t < c->start)
        return -1;
    return (int64_t)(t - c->start);
}

static int ch_out(const struct pit_channel *c, uint64_t t)
{
    int64_t e = ch_elapsed(c, t);
    uint64_t n = c->n;

    switch (c->mode) {
    case 0:
        return c->armed && e >= 0 && (uint64_t)e >= n;
    case 1:
        return e < 0 || (uint64_t)e >= n;
    case 2:
        if (e < 0 || c->frozen || n < 2)
            return 1;
        return (uint64_t)e % n != n - 1;
    case 3:
        if (e < 0 || c->frozen)
            return 1;
        return (uint64_t)e % n < (n + 1) / 2;
    default: /* 4, 5: low for one clock when the CE reaches 0 */
        return e < 0 || (uint64_t)e != n;
    }
}

/* The CE as a number of clocks (0 .. 65535 or 0 .. 9999). */
static uint32_t ch_count(const struct pit_channel *c, uint64_t t)
{
    int64_t e = ch_elapsed(c, t);
    uint32_t range = c->bcd ? 10000 : 65536;
    uint64_t n = c->n;

    if (e < 0)
        return cr_clocks(c) % range;
    switch (c->mode) {
    case 2:
        return (uint32_t)((n - (uint64_t)e % n) % range);
    case 3: {
        uint64_t k = (uint64_t)e % n, half = (n + 1) / 2;
        if (!(n & 1))
            return (uint32_t)((n - 2 * (k % (n / 2))) % range);
        if (k < half)       /* high half: N, N-1, N-3, ... */
            return (uint32_t)((k ? n + 1 - 2 * k : n) % range);
        k -= half;          /* low half: N, N-3, N-5, ... */
        return (uint32_t)((k ? n - 1 - 2 * k : n) % range);
    }
    default:
        return (uint32_t)((n + range - (uint64_t)e % range) % range);
    }
}

static uint16_t ch_count_reg(const struct pit_channel *c, uint64_t t)
{
    uint32_t v = ch_count(c, t);
    return c->bcd ? bin_to_bcd(v) : (uint16_t)v;
}

static uint8_t ch_status(const struct pit_channel *c, uint64_t t)
{
    bool null = c->null_count && t < c->null_until;

    return (uint8_t)(ch_out(c, t) << 7 | null << 6 | c->rw << 4 | c->mode_bits << 1 | c->bcd);
}

/* Load the CR into the CE on the clock after @p t (a count write or a trigger). */
static void ch_load(struct pit_channel *c, uint64_t t)
{
    c->n = cr_clocks(c);
    c->armed = true;
    c->pending = false;
    c->start = t + 1;
    c->frozen = false;
    c->null_until = t + 1;
    if (!c->gate && (c->mode == 0 || c->mode == 2 || c->mode == 3 || c->mode == 4)) {
        c->frozen = true;
        c->frozen_e = 0;
    }
}

/* A complete count was written to the CR at tick @p t. */
static void ch_count_written(struct pit_channel *c, uint64_t t)
{
    c->have_count = true;
    c->null_count = true;
    switch (c->mode) {
    case 1:
    case 5:
        c->null_until = NO_TICK;    /* loaded by the next trigger */
        break;
    case 2:
    case 3:
        if (c->armed && !c->frozen && t >= c->start) {
            uint64_t e = t - c->start;
            c->pending = true;
            c->pending_at = c->start + (e / c->n + 1) * c->n;
            c->null_until = c->pending_at;
            break;
        }
        ch_load(c, t);
        break;
    default:
        ch_load(c, t);
        break;
    }
}

static void ch_set_gate(struct pit_channel *c, bool gate, uint64_t t)
{
    bool rising = gate && !c->gate;
    int64_t e;

    if (gate == c->gate)
        return;
    ch_settle(c, t);
    e = ch_elapsed(c, t);
    c->gate = gate;
    switch (c->mode) {
    case 0:
    case 4:
        if (!c->armed)
            break;
        if (!gate) {
            c->frozen = true;
            c->frozen_e = e < 0 ? 0 : (uint64_t)e;
        } else if (c->frozen) {
            c->frozen = false;
            c->start = t - c->frozen_e;
        }
        break;
    case 2:
    case 3:
        if (rising && c->have_count) {
            ch_load(c, t);
        } else if (!gate && c->armed) {
            c->frozen = true;
            c->frozen_e = e < 0 ? 0 : (uint64_t)e;
            c->pending = false;
        }
        break;
    default: /* 1, 5 */
        if (rising && c->have_count)
            ch_load(c, t);
        break;
    }
}

/* Tick of the first rising edge of OUT after tick @p after, or NO_TICK. */
static uint64_t ch_next_edge(const struct pit_channel *c, uint64_t after)
{
    uint64_t n = c->n, edge, k;

    if (!c->armed || c->frozen)
        return NO_TICK;
    switch (c->mode) {
    case 0:
    case 1:
        edge = c->start + n;
        break;
    case 2:
    case 3:
        if (n < 2)
            return NO_TICK;
        k = after < c->start ? 1 : (after - c->start) / n + 1;
        return c->start + k * n;
    default:
        edge = c->start + n + 1;
        break;
    }
    return edge > after ? edge : NO_TICK;
}

/* ---------------------------------------------------------------- registers */

static void pit_control(struct pit_state *p, uint8_t v, uint64_t t)
{
    unsigned sel = v >> 6;

    if (sel == 3) {     /* read-back: bit 5 = !COUNT, bit 4 = !STATUS, bits 3-1 counters */
        for (unsigned i = 0; i < 3; i++) {
            struct pit_channel *c = &p->ch[i];
            if (!(v >> (i + 1) & 1))
                continue;
            ch_settle(c, t);
            if (!(v & 0x10) && !c->status_latched) {
                c->status = ch_status(c, t);
                c->status_latched = true;
            }
            if (!(v & 0x20) && !c->latch_left) {
                c->latch = ch_count_reg(c, t);
                c->latch_left = c->rw == 3 ? 2 : 1;
                c->latch_msb = c->rw == 2;
            }
        }
        return;
    }

    struct pit_channel *c = &p->ch[sel];
    unsigned rw = v >> 4 & 3;

    ch_settle(c, t);
    if (rw == 0) {      /* counter latch command; a second one before the read is ignored */
        if (!c->latch_left) {
            c->latch = ch_count_reg(c, t);
            c->latch_left = c->rw == 3 ? 2 : 1;
            c->latch_msb = c->rw == 2;
        }
        return;
    }
    if (sel == 0)       /* ticks of the old schedule are no longer owed */
        p->missed = 0;
    c->rw = (uint8_t)rw;
    c->mode_bits = v >> 1 & 7;
    c->mode = c->mode_bits >= 6 ? (uint8_t)(c->mode_bits - 4) : c->mode_bits;
    c->bcd = v & 1;
    c->have_count = false;
    c->armed = false;
    c->frozen = false;
    c->pending = false;
    c->null_count = true;
    c->null_until = NO_TICK;
    c->write_msb = false;
    c->read_msb = false;
    c->latch_left = 0;
    c->status_latched = false;
}

static void pit_write_count(struct pit_state *p, struct pit_channel *c, uint8_t v, uint64_t t)
{
    ch_settle(c, t);
    if (c == &p->ch[0])
        p->missed = 0;
    switch (c->rw) {
    case 1:
        c->cr = v;
        break;
    case 2:
        c->cr = (uint16_t)(v << 8);
        break;
    case 3:
        if (!c->write_msb) {
            c->write_lsb = v;
            c->write_msb = true;
            if (c->mode == 0) {     /* the first byte stops counting, OUT low */
                c->armed = false;
                c->pending = false;
            }
            return;
        }
        c->write_msb = false;
        c->cr = (uint16_t)(c->write_lsb | v << 8);
        break;
    default:
        pit_warn_once(p, WARN_RW0, "count written to a counter that was never programmed", 0, v);
        return;
    }
    ch_count_written(c, t);
}

static uint8_t pit_read_counter(struct pit_channel *c, uint64_t t)
{
    uint16_t v;
    bool msb;

    ch_settle(c, t);
    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    if (c->latch_left) {
        msb = c->latch_msb;
        c->latch_msb = !c->latch_msb;
        c->latch_left--;
        return (uint8_t)(msb ? c->latch >> 8 : c->latch);
    }
    v = ch_count_reg(c, t);
    switch (c->rw) {
    case 1: return (uint8_t)v;
    case 2: return (uint8_t)(v >> 8);
    default:
        msb = c->read_msb;
        c->read_msb = !c->read_msb;
        return (uint8_t)(msb ? v >> 8 : v);
    }
}

static uint8_t port61_read(struct pit_state *p, uint64_t t)
{
    struct pit_channel *c = &p->ch[2];

    ch_settle(c, t);
    return (uint8_t)((p->port61 & 0x0F) | ((t / REFRESH_TICKS) & 1) << 4 | ch_out(c, t) << 5);
}

/* ---------------------------------------------------------------- port callbacks */

static uint8_t pit_read_byte(struct pit_state *p, unsigned port, uint64_t t)
{
    if (port == PIT_PORT_61)
        return port61_read(p, t);
    if (port >= PIT_PORT && port < PIT_PORT + 3)
        return pit_read_counter(&p->ch[port - PIT_PORT], t);
    if (port == PIT_PORT + 3)
        pit_warn_once(p, WARN_READ_CTRL, "read of the write-only control word register", port, 0);
    return 0xFF;
}

static void pit_write_byte(struct pit_state *p, unsigned port, uint8_t v, uint64_t t)
{
    if (port == PIT_PORT_61) {
        p->port61 = v & 0x0F;
        ch_set_gate(&p->ch[2], v & 1, t);
    } else if (port == PIT_PORT + 3) {
        pit_control(p, v, t);
    } else if (port >= PIT_PORT && port < PIT_PORT + 3) {
        pit_write_count(p, &p->ch[port - PIT_PORT], v, t);
    }
}

/* 8-bit registers: a wider access is taken byte by byte, as the ISA bus
 * does; bytes beyond the claimed ports read as 0xFF and drop writes. */
static unsigned port_of(struct v3_device *dev, uint64_t off, unsigned size, bool is61)
{
    struct pit_state *p = v3_dev_state(dev);

    if (size != 1)
        pit_warn_once(p, WARN_WIDTH, "access wider than a byte to an 8-bit PIT port",
                      (unsigned)(is61 ? PIT_PORT_61 : PIT_PORT + off), size);
    return is61 ? PIT_PORT_61 : PIT_PORT + (unsigned)off;
}

static bool claimed(unsigned first, unsigned port)
{
    return first == PIT_PORT_61 ? port == PIT_PORT_61 : port >= PIT_PORT && port < PIT_PORT + 4;
}

static uint64_t pit_read_any(struct v3_device *dev, uint64_t off, unsigned size, bool is61)
{
    struct pit_state *p = v3_dev_state(dev);
    unsigned port = port_of(dev, off, size, is61);
    uint64_t t = pit_now(p), v = 0;

    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)(claimed(port, port + i) ? pit_read_byte(p, port + i, t) : 0xFF) << (8 * i);
    return v;
}

static void pit_write_any(struct v3_device *dev, uint64_t off, unsigned size, uint64_t val, bool is61)
{
    struct pit_state *p = v3_dev_state(dev);
    unsigned port = port_of(dev, off, size, is61);
    uint64_t t = pit_now(p);

    for (unsigned i = 0; i < size; i++)
        if (claimed(port, port + i))
            pit_write_byte(p, port + i, (uint8_t)(val >> (8 * i)), t);
    if (!is61) {    /* only counter 0 has a deadline; port 0x61 drives gate 2 */
        struct pit_channel *c = &p->ch[0];
        /* modes 0/1 hold the line at OUT: reprogramming drops it with OUT */
        if (c->mode > 1 || !ch_out(c, t))
            v3_irq_set(p->irq0, 0);
        v3_dev_deadline_changed(dev);
    }
}

static uint64_t pit_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    (void)core;
    return pit_read_any(dev, off, size, false);
}

static void pit_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    (void)core;
    pit_write_any(dev, off, size, val, false);
}

static uint64_t p61_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    (void)core;
    return pit_read_any(dev, off, size, true);
}

static void p61_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    (void)core;
    pit_write_any(dev, off, size, val, true);
}

/* ---------------------------------------------------------------- IRQ 0 */

static uint64_t pit_deadline(struct v3_device *dev)
{
    struct pit_state *p = v3_dev_state(dev);
    struct pit_channel *c = &p->ch[0];
    uint64_t edge;

    ch_settle(c, pit_now(p));
    edge = ch_next_edge(c, p->last_edge);
    if (c->pending && edge != NO_TICK && edge > c->pending_at)
        edge = c->pending_at;
    if (p->missed && p->catchup_at < edge)
        edge = p->catchup_at;
    return edge == NO_TICK ? V3_NO_DEADLINE : ticks_to_ns(edge);
}

/* Rising edges of a periodic (mode 2/3) counter in (start, @p t]. */
static uint64_t ch_edges_upto(const struct pit_channel *c, uint64_t t)
{
    return t < c->start ? 0 : (t - c->start) / c->n;
}

static void pit_timer(struct v3_device *dev, uint64_t now)
{
    struct pit_state *p = v3_dev_state(dev);
    struct pit_channel *c = &p->ch[0];
    uint64_t t = ns_to_ticks(now), edge;

    ch_settle(c, t);
    edge = ch_next_edge(c, p->last_edge);
    if (edge != NO_TICK && edge <= t) {
        if (c->mode <= 1) {
            v3_irq_set(p->irq0, 1);     /* OUT stays high */
        } else {
            if (c->mode <= 3) {         /* periodic: owe the edges that came and went */
                uint64_t owed = ch_edges_upto(c, t) - ch_edges_upto(c, p->last_edge) + p->missed;
                uint64_t cap = PIT_HZ / c->n;   /* >= 18 */

                if (cap > CATCHUP_MAX)
                    cap = CATCHUP_MAX;
                if (owed > cap)
                    owed = cap;
                p->missed = owed ? (uint32_t)(owed - 1) : 0;   /* one goes now */
                p->catchup_at = t + c->n / CATCHUP_DIV + 1;
            }
            p->taken_seen = v3_irq_taken(p->irq0);
            v3_irq_pulse(p->irq0);
        }
        p->last_edge = t;
    } else if (p->missed && t >= p->catchup_at) {
        if (c->mode == 2 || c->mode == 3) {
            uint32_t taken = v3_irq_taken(p->irq0);
            if (taken != p->taken_seen) {   /* the previous one was taken */
                p->taken_seen = taken;
                v3_irq_pulse(p->irq0);
                p->missed--;
                p->catchup_at = t + c->n / CATCHUP_DIV + 1;
            } else {
                /* not taken yet (IRQ 0 masked, IF=0 or just slow): look again a period
                   later, so a guest that never takes it costs no wake-ups of its own */
                p->catchup_at = t + c->n;
            }
        } else {
            p->missed = 0;
        }
    }
}

/* ---------------------------------------------------------------- life cycle */

static void pit_reset(struct v3_device *dev)
{
    struct pit_state *p = v3_dev_state(dev);
    uint64_t t = pit_now(p);

    /* As a PC BIOS leaves it: every counter in mode 3 with count 0 (65536,
     * 18.2 Hz), LSB then MSB; gate 2 low. */
    for (unsigned i = 0; i < 3; i++) {
        struct pit_channel *c = &p->ch[i];

        memset(c, 0, sizeof(*c));
        c->gate = i != 2;
        pit_control(p, (uint8_t)(i << 6 | 0x36), t);
        c->cr = 0;
        ch_count_written(c, t);
        c->null_count = false;
    }
    p->port61 = 0;
    p->last_edge = t;
    p->missed = 0;
    p->catchup_at = 0;
    v3_dev_deadline_changed(dev);
}

static int pit_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct pit_state *p = v3_dev_state(dev);
    int rc;
    (void)args;

    p->dev = dev;
    p->irq0 = v3_dev_irq(dev, 0);
    if (!p->irq0)
        return V3_ENOMEM;
    if ((rc = v3_dev_claim_io(dev, PIT_PORT, 4, pit_read, pit_write)) < 0)
        return rc;
    return v3_dev_claim_io(dev, PIT_PORT_61, 1, p61_read, p61_write);
}

/* Snapshot: version, port 0x61, last edge, then each channel's fields,
 * then the ticks owed to IRQ 0 and the tick of the next one (version 2). */
#define PIT_SNAP_VERSION 2
#define SNAP_WORDS (3 + 3 * CH_WORDS + 2)
#define CH_WORDS 24

static void ch_pack(const struct pit_channel *c, uint64_t w[CH_WORDS])
{
    uint64_t v[CH_WORDS] = {
        c->mode_bits, c->rw, c->bcd, c->gate, c->cr, c->n, c->have_count, c->armed,
        c->frozen, c->start, c->frozen_e, c->pending, c->pending_at, c->null_count,
        c->null_until, c->write_msb, c->write_lsb, c->read_msb, c->latch_left, c->latch_msb,
        c->latch, c->status_latched, c->status, 0,
    };
    memcpy(w, v, sizeof(v));
}

static int ch_unpack(struct pit_channel *c, const uint64_t w[CH_WORDS])
{
    for (unsigned i = 0; i < CH_WORDS; i++) {
        static const uint64_t max[CH_WORDS] = {
            7, 3, 1, 1, 0xFFFF, 65536, 1, 1, 1, UINT64_MAX, UINT64_MAX, 1, UINT64_MAX, 1,
            UINT64_MAX, 1, 0xFF, 1, 2, 1, 0xFFFF, 1, 0xFF, 0,
        };
        if (w[i] > max[i])
            return V3_EIMAGE;
    }
    if (w[1] == 0 || w[5] == 0)
        return V3_EIMAGE;
    c->mode_bits = (uint8_t)w[0];
    c->mode = c->mode_bits >= 6 ? (uint8_t)(c->mode_bits - 4) : c->mode_bits;
    c->rw = (uint8_t)w[1]; c->bcd = w[2]; c->gate = w[3]; c->cr = (uint16_t)w[4];
    c->n = (uint32_t)w[5]; c->have_count = w[6]; c->armed = w[7]; c->frozen = w[8];
    c->start = w[9]; c->frozen_e = w[10]; c->pending = w[11]; c->pending_at = w[12];
    c->null_count = w[13]; c->null_until = w[14]; c->write_msb = w[15];
    c->write_lsb = (uint8_t)w[16]; c->read_msb = w[17]; c->latch_left = (uint8_t)w[18];
    c->latch_msb = w[19]; c->latch = (uint16_t)w[20]; c->status_latched = w[21];
    c->status = (uint8_t)w[22];
    return 0;
}

static int pit_save(struct v3_device *dev, struct v3_snap *s)
{
    struct pit_state *p = v3_dev_state(dev);
    uint64_t w[SNAP_WORDS];

    w[0] = PIT_SNAP_VERSION;
    w[1] = p->port61;
    w[2] = p->last_edge;
    for (unsigned i = 0; i < 3; i++)
        ch_pack(&p->ch[i], w + 3 + i * CH_WORDS);
    w[3 + 3 * CH_WORDS] = p->missed;
    w[4 + 3 * CH_WORDS] = p->catchup_at;
    return v3_snap_put(s, w, sizeof(w));
}

static int pit_load(struct v3_device *dev, struct v3_snap *s)
{
    struct pit_state *p = v3_dev_state(dev);
    struct pit_channel ch[3];
    uint64_t w[SNAP_WORDS];
    int rc = v3_snap_get(s, w, sizeof(w));

    if (rc < 0)
        return rc;
    if (w[0] != PIT_SNAP_VERSION || w[1] > 0x0F || w[3 + 3 * CH_WORDS] >= CATCHUP_MAX)
        goto bad;
    for (unsigned i = 0; i < 3; i++)
        if (ch_unpack(&ch[i], w + 3 + i * CH_WORDS) < 0)
            goto bad;
    memcpy(p->ch, ch, sizeof(ch));
    p->port61 = (uint8_t)w[1];
    p->last_edge = w[2];
    p->missed = (uint32_t)w[3 + 3 * CH_WORDS];
    p->catchup_at = w[4 + 3 * CH_WORDS];
    /* the count of taken interrupts is the running VM's: take the last edge
       as taken (waiting for it could wait forever) */
    p->taken_seen = v3_irq_taken(p->irq0) - 1;
    v3_dev_deadline_changed(dev);
    return 0;
bad:
    V3_ERROR("%s: snapshot state is malformed", v3_dev_name(dev));
    return V3_EIMAGE;
}

const struct v3_device_ops v3_dev_pit = {
    .name = "pit",
    .help = "8254 PIT (ports 0x40-0x43, IRQ 0) with port 0x61 (gate 2, speaker enable, OUT 2); no options",
    .state_size = sizeof(struct pit_state),
    .create = pit_create,
    .reset = pit_reset,
    .save = pit_save,
    .load = pit_load,
    .deadline = pit_deadline,
    .timer = pit_timer,
};
