/* SPDX-License-Identifier: MIT */
/*
 * The PC's pair of 8259A programmable interrupt controllers ("pic").
 *
 *   master  0x20 (ICW1, OCW2, OCW3 / IRR, ISR, poll)  0x21 (ICW2-4, OCW1 / IMR)
 *   slave   0xA0                                        0xA1
 *   ELCR    0x4D0 (IRQ 0-7)  0x4D1 (IRQ 8-15): 1 = level triggered.  IRQ 0,
 *           1, 2, 8 and 13 cannot be level triggered on a PC: those bits
 *           read as 0 and ignore writes.
 *
 * Behaviour follows the Intel 8259A datasheet, in 8086 mode only (an
 * initialisation that selects MCS-80/85 mode is logged once and behaves as
 * 8086 mode).
 *
 * Request path.  The router sets the level of pins 0-15 (set_pin).  A pin
 * is level triggered when ICW1.LTIM or its ELCR bit is set: its IRR bit
 * then follows the line.  Otherwise it is edge triggered: a rising edge
 * sets its IRR bit, which stays set until the request is acknowledged (or
 * the chip is initialised again), whatever the line does meanwhile.  The
 * slave's INTR output drives master pin 2 (OR'ed with what the router puts
 * on pin 2).
 *
 * Arbitration.  The highest priority request in IRR that is not masked
 * wins if it has a higher priority than every in-service level (ISR);
 * in special mask mode, masked in-service levels do not count, and in
 * special fully nested mode the master does not count its in-service
 * cascade level against a new request on that level.  Priority is fixed
 * (IR0 highest) or rotated by OCW2; "lowest" is the level with the lowest
 * priority.
 *
 * INTA (ack).  The winner moves from IRR to ISR (not to ISR in automatic EOI
 * mode) and its vector is base + level.  When the master's winner is its
 * cascade input, the slave answers the vector.  A request that went away
 * between INTR and INTA gives the spurious vector base + 7 with no ISR bit
 * set (a spurious slave interrupt still sets the master's ISR bit 2, as the
 * master does not know).
 *
 * Locking: the VM holds the device lock around the port callbacks; set_pin,
 * intr and ack come without it and take it.  Changes to INTR are announced
 * with v3_vm_extint_changed().
 */
#include "internal/host.h"
#include <v3/device.h>
#include <v3/error.h>
#include <v3/irqchip.h>

#define PIC_MASTER_PORT  0x20
#define PIC_SLAVE_PORT   0xA0
#define PIC_ELCR_PORT    0x4D0
#define PIC_CASCADE_PIN  2
#define ELCR_MASK_MASTER 0xF8   /* IRQ 0, 1, 2 cannot be level triggered */
#define ELCR_MASK_SLAVE  0xDE   /* IRQ 8 and 13 neither */

/* OCW / ICW bits */
#define ICW1_IC4   0x01
#define ICW1_SNGL  0x02
#define ICW1_LTIM  0x08
#define ICW1_SEL   0x10
#define ICW4_UPM   0x01
#define ICW4_AEOI  0x02
#define ICW4_SFNM  0x10
#define OCW3_SEL   0x08
#define OCW3_RIS   0x01
#define OCW3_RR    0x02
#define OCW3_POLL  0x04
#define OCW3_SMM   0x20
#define OCW3_ESMM  0x40

/* Warnings logged once per instance. */
enum {
    WARN_MCS80 = 1u << 0,
    WARN_WIDTH = 1u << 1,
    WARN_OCW_IN_INIT = 1u << 2,
    WARN_ELCR_RO = 1u << 3,
};

struct i8259 {
    uint8_t irr, isr, imr;
    uint8_t lines;          /* input pin levels (edge sense: a rising edge needs a 0 first) */
    uint8_t elcr;           /* ELCR: 1 = level triggered */
    uint8_t elcr_mask;      /* writable ELCR bits */
    uint8_t base;           /* vector base (ICW2 & 0xF8) */
    uint8_t icw3;
    uint8_t init_step;      /* 0: operational; 2, 3, 4: the ICW expected next */
    uint8_t lowest;         /* level with the lowest priority (7 after ICW1) */
    bool ic4, single, ltim;
    bool aeoi, rotate_aeoi, sfnm, upm;
    bool read_isr;          /* OCW3: port 0 reads ISR (else IRR) */
    bool poll;              /* OCW3 poll command pending */
    bool smm;               /* special mask mode */
    bool slave;             /* this is the slave chip */
};

struct pic_state {
    struct i8259 chip[2];   /* 0 master, 1 slave */
    uint8_t ext_pin2;       /* router level of master pin 2 */
    uint8_t intr_seen;      /* INTR as last announced: only a rise wakes the vCPU */
    unsigned warned;
    struct v3_device *dev;
};

static void pic_warn_once(struct pic_state *p, unsigned bit, const char *what, unsigned a, unsigned b)
{
    if (p->warned & bit)
        return;
    p->warned |= bit;
    V3_WARN("%s: %s (0x%x, 0x%x; logged once)", v3_dev_name(p->dev), what, a, b);
}

/* ---------------------------------------------------------------- arbitration */

static bool pin_level_mode(const struct i8259 *c, unsigned pin)
{
    return c->ltim || (c->elcr >> pin & 1);
}

/* Priority rank of the best set bit of @p mask (0 = highest), or 8 if none. */
static unsigned best_rank(const struct i8259 *c, uint8_t mask)
{
    unsigned top = (c->lowest + 1) & 7;

    if (!mask)
        return 8;
    for (unsigned r = 0; r < 8; r++)
        if (mask >> ((top + r) & 7) & 1)
            return r;
    return 8;
}

static unsigned rank_level(const struct i8259 *c, unsigned rank)
{
    return (c->lowest + 1 + rank) & 7;
}

/* The level that would be acknowledged now, or -1. */
static int chip_winner(const struct i8259 *c)
{
    uint8_t req = c->irr & (uint8_t)~c->imr;
    uint8_t busy = c->isr;
    unsigned r;

    if (c->init_step)
        return -1;
    r = best_rank(c, req);
    if (r == 8)
        return -1;
    if (c->smm)
        busy &= (uint8_t)~c->imr;
    if (!c->slave && c->sfnm && !c->single)
        busy &= (uint8_t)~c->icw3;
    if (r < best_rank(c, busy))
        return (int)rank_level(c, r);
    return -1;
}

/* Set input @p pin of @p c to @p level, with edge detection. */
static void chip_set_line(struct i8259 *c, unsigned pin, int level)
{
    uint8_t bit = (uint8_t)(1u << pin);
    bool rising = level && !(c->lines & bit);

    if (level)
        c->lines |= bit;
    else
        c->lines &= (uint8_t)~bit;
    if (pin_level_mode(c, pin))
        c->irr = (uint8_t)((c->irr & ~bit) | (c->lines & bit));
    else if (rising)
        c->irr |= bit;
}

/* Propagate the slave's INTR to master pin 2. */
static void cascade_update(struct pic_state *p)
{
    int level = chip_winner(&p->chip[1]) >= 0 || p->ext_pin2;

    if (((p->chip[0].lines >> PIC_CASCADE_PIN) & 1) != (unsigned)level)
        chip_set_line(&p->chip[0], PIC_CASCADE_PIN, level);
}

/* The winner moves to ISR (INTA or poll); returns its level or -1 (spurious). */
static int chip_take(struct i8259 *c)
{
    int l = chip_winner(c);
    uint8_t bit;

    if (l < 0)
        return -1;
    bit = (uint8_t)(1u << l);
    if (!pin_level_mode(c, (unsigned)l))
        c->irr &= (uint8_t)~bit;
    if (!c->aeoi)
        c->isr |= bit;
    else if (c->rotate_aeoi)
        c->lowest = (uint8_t)l;
    return l;
}

static bool is_cascade(const struct i8259 *master, int level)
{
    return level == PIC_CASCADE_PIN && !master->single && (master->icw3 >> PIC_CASCADE_PIN & 1);
}

/* INTA with the lock held; *irq gets the IRQ answered, or -1 (spurious). */
static uint8_t pair_ack(struct pic_state *p, int *irq)
{
    struct i8259 *m = &p->chip[0], *s = &p->chip[1];
    int l;
    uint8_t vec;

    cascade_update(p);
    l = chip_take(m);
    *irq = -1;
    if (l < 0) {
        vec = (uint8_t)(m->base | 7);
    } else if (is_cascade(m, l)) {
        int sl = chip_take(s);
        vec = (uint8_t)(s->base | (sl < 0 ? 7 : sl));
        if (sl >= 0)
            *irq = 8 + sl;
    } else {
        vec = (uint8_t)(m->base | l);
        *irq = l;
    }
    cascade_update(p);
    return vec;
}

/* ---------------------------------------------------------------- commands */

static void chip_eoi(struct i8259 *c, int level, bool rotate)
{
    if (level < 0) {
        uint8_t busy = c->isr;
        unsigned r;

        if (c->smm)
            busy &= (uint8_t)~c->imr;  /* datasheet: a masked ISR bit is not cleared in SMM */
        r = best_rank(c, busy);
        if (r == 8)
            return;
        level = (int)rank_level(c, r);
    }
    c->isr &= (uint8_t)~(1u << level);
    if (rotate)
        c->lowest = (uint8_t)level;
}

static void chip_ocw2(struct i8259 *c, uint8_t v)
{
    int l = v & 7;

    switch (v >> 5) {
    case 0: c->rotate_aeoi = false; break;      /* rotate in AEOI mode (clear) */
    case 1: chip_eoi(c, -1, false); break;      /* non-specific EOI */
    case 2: break;                              /* no operation */
    case 3: chip_eoi(c, l, false); break;       /* specific EOI */
    case 4: c->rotate_aeoi = true; break;       /* rotate in AEOI mode (set) */
    case 5: chip_eoi(c, -1, true); break;       /* rotate on non-specific EOI */
    case 6: c->lowest = (uint8_t)l; break;      /* set priority */
    case 7: chip_eoi(c, l, true); break;        /* rotate on specific EOI */
    }
}

static void chip_ocw3(struct i8259 *c, uint8_t v)
{
    if (v & OCW3_ESMM)
        c->smm = (v & OCW3_SMM) != 0;
    if (v & OCW3_RR)
        c->read_isr = (v & OCW3_RIS) != 0;
    c->poll = (v & OCW3_POLL) != 0;
}

static void chip_icw1(struct i8259 *c, uint8_t v)
{
    c->ic4 = (v & ICW1_IC4) != 0;
    c->single = (v & ICW1_SNGL) != 0;
    c->ltim = (v & ICW1_LTIM) != 0;
    c->init_step = 2;
    c->imr = 0;
    c->isr = 0;
    c->lowest = 7;
    c->smm = false;
    c->read_isr = false;
    c->poll = false;
    c->rotate_aeoi = false;
    c->icw3 = 0;
    if (!c->ic4) {
        c->aeoi = c->sfnm = c->upm = false;
    }
    /* Edge sense reset: an edge request needs a new low-to-high transition
     * (a line that is high now must fall first: its level is kept in lines). */
    c->irr = 0;
    for (unsigned pin = 0; pin < 8; pin++)
        if (pin_level_mode(c, pin))
            c->irr |= (uint8_t)(c->lines & (1u << pin));
}

static void chip_init_done(struct pic_state *p, struct i8259 *c)
{
    c->init_step = 0;
    if (!c->upm)
        pic_warn_once(p, WARN_MCS80, "MCS-80/85 mode selected (ICW4.uPM=0 or no ICW4); behaving as 8086 mode",
                      c->slave, c->base);
}

static void chip_write(struct pic_state *p, struct i8259 *c, unsigned a0, uint8_t v)
{
    if (!a0) {
        if (v & ICW1_SEL) {
            chip_icw1(c, v);
            return;
        }
        if (c->init_step)
            pic_warn_once(p, WARN_OCW_IN_INIT, "OCW2/OCW3 written during the initialisation sequence",
                          c->init_step, v);
        if (v & OCW3_SEL)
            chip_ocw3(c, v);
        else
            chip_ocw2(c, v);
        return;
    }
    switch (c->init_step) {
    case 0:
        c->imr = v;
        break;
    case 2:
        c->base = v & 0xF8;
        c->init_step = !c->single ? 3 : c->ic4 ? 4 : 0;
        if (!c->init_step)
            chip_init_done(p, c);
        break;
    case 3:
        c->icw3 = v;
        c->init_step = c->ic4 ? 4 : 0;
        if (!c->init_step)
            chip_init_done(p, c);
        break;
    case 4:
        c->upm = (v & ICW4_UPM) != 0;
        c->aeoi = (v & ICW4_AEOI) != 0;
        c->sfnm = (v & ICW4_SFNM) != 0;
        chip_init_done(p, c);
        break;
    }
}

/* Poll command: the read answers 0x80 | level and acknowledges it, or 0 if none. */
static uint8_t chip_poll(struct pic_state *p, struct i8259 *c)
{
    int l;

    c->poll = false;
    if (!c->slave)
        cascade_update(p);
    l = chip_take(c);
    return l < 0 ? 0 : (uint8_t)(0x80 | l);
}

static uint8_t chip_read(struct pic_state *p, struct i8259 *c, unsigned a0)
{
    if (c->poll)
        return chip_poll(p, c);
    if (a0)
        return c->imr;
    return c->read_isr ? c->isr : c->irr;
}

/* ---------------------------------------------------------------- port callbacks */

/* INTR rose since it was last looked at (call with the lock held). */
static bool intr_rose(struct pic_state *p)
{
    bool now = chip_winner(&p->chip[0]) >= 0, rose = now && !p->intr_seen;
    p->intr_seen = now;
    return rose;
}

static void pic_changed(struct pic_state *p)
{
    cascade_update(p);
    if (intr_rose(p))
        v3_vm_extint_changed(v3_dev_vm(p->dev));
}

/* 8-bit registers: a wider access is taken byte by byte, as the ISA bus does;
 * bytes beyond the claimed pair read as 0xFF (nothing else decodes them here). */
static uint64_t chip_port_read(struct v3_device *dev, unsigned idx, uint64_t off, unsigned size)
{
    struct pic_state *p = v3_dev_state(dev);
    struct i8259 *c = &p->chip[idx];
    bool polled = c->poll;
    uint64_t v = 0;

    if (size != 1)
        pic_warn_once(p, WARN_WIDTH, "access wider than a byte to an 8-bit PIC port", (unsigned)off, size);
    for (unsigned i = 0; i < size; i++) {
        uint64_t a = off + i;
        uint64_t b = a < 2 ? chip_read(p, c, (unsigned)a) : 0xFF;
        v |= b << (8 * i);
    }
    if (polled)
        pic_changed(p);     /* the poll acknowledged a request */
    return v;
}

static void chip_port_write(struct v3_device *dev, unsigned idx, uint64_t off, unsigned size, uint64_t val)
{
    struct pic_state *p = v3_dev_state(dev);
    struct i8259 *c = &p->chip[idx];

    if (size != 1)
        pic_warn_once(p, WARN_WIDTH, "access wider than a byte to an 8-bit PIC port", (unsigned)off, size);
    for (unsigned i = 0; i < size; i++) {
        uint64_t a = off + i;
        if (a < 2)
            chip_write(p, c, (unsigned)a, (uint8_t)(val >> (8 * i)));
    }
    pic_changed(p);
}

static uint64_t master_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    (void)core;
    return chip_port_read(dev, 0, off, size);
}

static void master_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    (void)core;
    chip_port_write(dev, 0, off, size, val);
}

static uint64_t slave_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    (void)core;
    return chip_port_read(dev, 1, off, size);
}

static void slave_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    (void)core;
    chip_port_write(dev, 1, off, size, val);
}

static uint64_t elcr_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct pic_state *p = v3_dev_state(dev);
    uint64_t v = 0;
    (void)core;

    for (unsigned i = 0; i < size; i++) {
        unsigned a = (unsigned)off + i;
        v |= (uint64_t)(a < 2 ? p->chip[a].elcr : 0xFF) << (8 * i);
    }
    return v;
}

static void elcr_set(struct pic_state *p, struct i8259 *c, uint8_t v)
{
    uint8_t old = c->elcr;

    if (v & ~c->elcr_mask)
        pic_warn_once(p, WARN_ELCR_RO, "ELCR bit of IRQ 0, 1, 2, 8 or 13 set (read-only 0)", c->slave, v);
    c->elcr = v & c->elcr_mask;
    for (unsigned pin = 0; pin < 8; pin++) {
        uint8_t bit = (uint8_t)(1u << pin);
        if ((old ^ c->elcr) & bit && pin_level_mode(c, pin))
            c->irr = (uint8_t)((c->irr & ~bit) | (c->lines & bit));
    }
}

static void elcr_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct pic_state *p = v3_dev_state(dev);
    (void)core;

    for (unsigned i = 0; i < size; i++) {
        unsigned a = (unsigned)off + i;
        if (a < 2)
            elcr_set(p, &p->chip[a], (uint8_t)(val >> (8 * i)));
    }
    pic_changed(p);
}

/* ---------------------------------------------------------------- interrupt controller ops */

static void pic_set_pin(void *chip, unsigned pin, int level)
{
    struct pic_state *p = chip;
    bool rose;

    if (pin >= 16)
        return;
    v3_dev_lock(p->dev);
    if (pin == PIC_CASCADE_PIN)
        p->ext_pin2 = level != 0;
    else
        chip_set_line(&p->chip[pin >> 3], pin & 7, level != 0);
    cascade_update(p);
    rose = intr_rose(p);
    v3_dev_unlock(p->dev);
    if (rose)
        v3_vm_extint_changed(v3_dev_vm(p->dev));
}

static bool pic_intr(void *chip)
{
    struct pic_state *p = chip;
    bool r;

    v3_dev_lock(p->dev);
    cascade_update(p);
    r = chip_winner(&p->chip[0]) >= 0;
    v3_dev_unlock(p->dev);
    return r;
}

static uint8_t pic_ack(void *chip)
{
    struct pic_state *p = chip;
    uint8_t v;
    int irq;

    v3_dev_lock(p->dev);
    v = pair_ack(p, &irq);
    intr_rose(p);                       /* the vCPU taking this one looks again before its next run */
    v3_dev_unlock(p->dev);
    if (irq >= 0)
        v3_vm_irq_taken(v3_dev_vm(p->dev), (unsigned)irq);
    return v;
}

static const struct v3_irqchip_ops pic_chip_ops = { .set_pin = pic_set_pin };
static const struct v3_extint_ops pic_extint_ops = { .intr = pic_intr, .ack = pic_ack };

/* ---------------------------------------------------------------- life cycle */

static void pic_reset(struct v3_device *dev)
{
    struct pic_state *p = v3_dev_state(dev);

    for (unsigned i = 0; i < 2; i++) {
        struct i8259 *c = &p->chip[i];
        uint8_t lines = c->lines;

        memset(c, 0, sizeof(*c));
        c->slave = i == 1;
        c->elcr_mask = i ? ELCR_MASK_SLAVE : ELCR_MASK_MASTER;
        c->lowest = 7;
        c->upm = true;
        c->lines = lines;                   /* the wires keep their levels */
    }
    cascade_update(p);
}

static int pic_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct pic_state *p = v3_dev_state(dev);
    struct v3_vm *vm = v3_dev_vm(dev);
    int rc;
    (void)args;

    p->dev = dev;
    if ((rc = v3_dev_claim_io(dev, PIC_MASTER_PORT, 2, master_read, master_write)) < 0 ||
        (rc = v3_dev_claim_io(dev, PIC_SLAVE_PORT, 2, slave_read, slave_write)) < 0 ||
        (rc = v3_dev_claim_io(dev, PIC_ELCR_PORT, 2, elcr_read, elcr_write)) < 0)
        return rc;
    if ((rc = v3_vm_set_irqchip(vm, V3_IRQCHIP_PIC, &pic_chip_ops, p)) < 0)
        return rc;
    return v3_vm_set_extint(vm, &pic_extint_ops, p);
}

/* Snapshot: a version byte, then 20 bytes per chip and the pin-2 level. */
#define PIC_SNAP_VERSION 1

static void chip_pack(const struct i8259 *c, uint8_t b[20])
{
    b[0] = c->irr; b[1] = c->isr; b[2] = c->imr; b[3] = c->lines;
    b[4] = 0; b[5] = c->elcr; b[6] = c->base; b[7] = c->icw3;
    b[8] = c->init_step; b[9] = c->lowest;
    b[10] = (uint8_t)(c->ic4 | c->single << 1 | c->ltim << 2 | c->aeoi << 3 | c->rotate_aeoi << 4 |
                      c->sfnm << 5 | c->upm << 6);
    b[11] = (uint8_t)(c->read_isr | c->poll << 1 | c->smm << 2);
    memset(b + 12, 0, 8);
}

static int chip_unpack(struct i8259 *c, const uint8_t b[20])
{
    if ((b[8] != 0 && (b[8] < 2 || b[8] > 4)) || b[9] > 7 || (b[10] & 0x80) || (b[11] & 0xF8))
        return V3_EIMAGE;
    c->irr = b[0]; c->isr = b[1]; c->imr = b[2]; c->lines = b[3];
    c->elcr = b[5] & c->elcr_mask; c->base = b[6] & 0xF8; c->icw3 = b[7];
    c->init_step = b[8]; c->lowest = b[9];
    c->ic4 = b[10] & 1; c->single = b[10] >> 1 & 1; c->ltim = b[10] >> 2 & 1;
    c->aeoi = b[10] >> 3 & 1; c->rotate_aeoi = b[10] >> 4 & 1; c->sfnm = b[10] >> 5 & 1;
    c->upm = b[10] >> 6 & 1;
    c->read_isr = b[11] & 1; c->poll = b[11] >> 1 & 1; c->smm = b[11] >> 2 & 1;
    return 0;
}

static int pic_save(struct v3_device *dev, struct v3_snap *s)
{
    struct pic_state *p = v3_dev_state(dev);
    uint8_t b[42];

    b[0] = PIC_SNAP_VERSION;
    chip_pack(&p->chip[0], b + 1);
    chip_pack(&p->chip[1], b + 21);
    b[41] = p->ext_pin2;
    return v3_snap_put(s, b, sizeof(b));
}

static int pic_load(struct v3_device *dev, struct v3_snap *s)
{
    struct pic_state *p = v3_dev_state(dev);
    struct i8259 c[2] = { p->chip[0], p->chip[1] };
    uint8_t b[42];
    int rc = v3_snap_get(s, b, sizeof(b));

    if (rc < 0)
        return rc;
    if (b[0] != PIC_SNAP_VERSION || b[41] > 1 || chip_unpack(&c[0], b + 1) < 0 ||
        chip_unpack(&c[1], b + 21) < 0) {
        V3_ERROR("%s: snapshot state is malformed", v3_dev_name(dev));
        return V3_EIMAGE;
    }
    p->chip[0] = c[0];
    p->chip[1] = c[1];
    p->ext_pin2 = b[41];
    pic_changed(p);
    return 0;
}

const struct v3_device_ops v3_dev_pic = {
    .name = "pic",
    .help = "8259A PIC pair (ports 0x20-0x21, 0xA0-0xA1) with the ELCR (0x4D0-0x4D1); no options",
    .state_size = sizeof(struct pic_state),
    .create = pic_create,
    .reset = pic_reset,
    .save = pic_save,
    .load = pic_load,
};
