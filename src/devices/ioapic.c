/* SPDX-License-Identifier: MIT */
/*
 * I/O APIC (model "ioapic"), an 82093AA-like part with 24 redirection
 * entries at 0xFEC00000 (option base=ADDR).
 *
 * Registers: IOREGSEL at +0x00 and IOWIN at +0x10 (32-bit accesses; other
 * widths or offsets read 0 / drop the write, logged once).  Version 0x11
 * has no EOI register at +0x40 (it came with version 0x20).  Indirect
 * registers: 0x00 ID (bits 27:24), 0x01 version 0x00170011 (24 entries),
 * 0x02 arbitration ID, 0x10-0x3F redirection table (two words per pin).
 *
 * Pins: set_pin() gives the line level; polarity (bit 13, active low)
 * inverts it.  An edge entry sends a message on each inactive-to-active
 * transition of an unmasked pin.  A level entry sends while the pin is
 * active, unmasked and Remote IRR (bit 14) is clear, and sets Remote IRR;
 * the local APIC's EOI for that vector clears it, and the entry is sent
 * again if the pin is still active.  A masked level pin that is active is
 * sent when unmasked.  Delivery status (bit 12) reads 0: messages are never
 * held up.
 *
 * Messages go out through v3_vm_apic_send() after the lock is released.
 */
#include "internal/host.h"
#include <v3/device.h>
#include <v3/error.h>
#include <v3/irqchip.h>
#include "devices/ioapic.h"

#define IOAPIC_PINS     24
#define IOAPIC_VERSION  (0x11u | ((IOAPIC_PINS - 1) << 16))

#define RTE_MASKED      (1ull << 16)
#define RTE_LEVEL       (1ull << 15)
#define RTE_REMOTE_IRR  (1ull << 14)
#define RTE_POLARITY    (1ull << 13)   /* 1: active low */
#define RTE_STATUS      (1ull << 12)
#define RTE_LOGICAL     (1ull << 11)
#define RTE_DM(e)       ((unsigned)((e) >> 8) & 7)
/* writable: vector, delivery mode, destination mode, polarity, trigger, mask, destination */
#define RTE_WRITABLE    (0xff000000000000ffull | (7ull << 8) | RTE_LOGICAL | RTE_POLARITY | \
                         RTE_LEVEL | RTE_MASKED)

struct ioapic {
    struct v3_device *dev;
    struct v3_vm *vm;
    uint64_t base;
    uint32_t regsel;
    uint32_t id;                 /* bits 27:24 */
    uint64_t rte[IOAPIC_PINS];
    uint32_t level;              /* input line levels (as driven, before polarity) */
    bool bad_logged;
    /* messages to send once the lock is released */
    struct v3_apic_msg out[IOAPIC_PINS];
    unsigned n_out;
};

static bool pin_active(const struct ioapic *s, unsigned pin)
{
    bool l = (s->level >> pin) & 1;
    return (s->rte[pin] & RTE_POLARITY) ? !l : l;
}

/* Queue the message of @p pin. */
static void fire(struct ioapic *s, unsigned pin)
{
    uint64_t e = s->rte[pin];
    struct v3_apic_msg *m;

    if (s->n_out >= IOAPIC_PINS)
        return;
    m = &s->out[s->n_out++];
    m->vector = (uint8_t)e;
    m->delivery = (uint8_t)RTE_DM(e);
    m->logical = (e & RTE_LOGICAL) != 0;
    m->level = (e & RTE_LEVEL) != 0;
    m->dest = (uint32_t)(e >> 56);
    if (e & RTE_LEVEL)
        s->rte[pin] |= RTE_REMOTE_IRR;
}

/* A level entry that is active, unmasked and not waiting for EOI sends. */
static void level_check(struct ioapic *s, unsigned pin)
{
    uint64_t e = s->rte[pin];
    if ((e & RTE_LEVEL) && !(e & (RTE_MASKED | RTE_REMOTE_IRR)) && pin_active(s, pin))
        fire(s, pin);
}

/* Send the queued messages.  Called without the lock. */
static void send(struct ioapic *s, struct v3_apic_msg *msgs, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        v3_vm_apic_send(s->vm, &msgs[i]);
}

static unsigned take(struct ioapic *s, struct v3_apic_msg *msgs)
{
    unsigned n = s->n_out;
    memcpy(msgs, s->out, n * sizeof(*msgs));
    s->n_out = 0;
    return n;
}

/* Inside a VM callback (lock held): drop the lock to send. */
static void flush(struct ioapic *s)
{
    struct v3_apic_msg msgs[IOAPIC_PINS];
    unsigned n;
    if (!s->n_out)
        return;
    n = take(s, msgs);
    v3_dev_unlock(s->dev);
    send(s, msgs, n);
    v3_dev_lock(s->dev);
}

static void unlock_and_send(struct ioapic *s)
{
    struct v3_apic_msg msgs[IOAPIC_PINS];
    unsigned n = take(s, msgs);
    v3_dev_unlock(s->dev);
    send(s, msgs, n);
}

/* ------------------------------------------------------------------ chip ops */

static void op_set_pin(void *chip, unsigned pin, int level)
{
    struct ioapic *s = chip;
    bool was;

    if (pin >= IOAPIC_PINS)
        return;
    v3_dev_lock(s->dev);
    was = pin_active(s, pin);
    if (level)
        s->level |= 1u << pin;
    else
        s->level &= ~(1u << pin);
    if (s->rte[pin] & RTE_LEVEL)
        level_check(s, pin);
    else if (!was && pin_active(s, pin) && !(s->rte[pin] & RTE_MASKED))
        fire(s, pin);
    unlock_and_send(s);
}

static void op_eoi(void *chip, uint8_t vector)
{
    struct ioapic *s = chip;

    v3_dev_lock(s->dev);
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
        if ((uint8_t)s->rte[pin] != vector || !(s->rte[pin] & RTE_REMOTE_IRR))
            continue;
        s->rte[pin] &= ~RTE_REMOTE_IRR;
        level_check(s, pin);            /* still asserted: deliver again */
    }
    unlock_and_send(s);
}

/* A LAPIC took @p vector: the IRQs of the edge pins that send it were taken. */
static void op_taken(void *chip, uint8_t vector)
{
    struct ioapic *s = chip;
    uint32_t pins = 0;

    v3_dev_lock(s->dev);
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
        if ((uint8_t)s->rte[pin] == vector && !(s->rte[pin] & (RTE_MASKED | RTE_LEVEL)))
            pins |= 1u << pin;
    unlock_and_send(s);
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
        if (pins >> pin & 1)
            v3_vm_irq_taken(s->vm, pin == 2 ? 0 : pin);    /* the router's IRQ 0 is pin 2 */
}

static const struct v3_irqchip_ops ioapic_ops = {
    .set_pin = op_set_pin,
    .eoi = op_eoi,
    .taken = op_taken,
};

/* ------------------------------------------------------------------ registers */

static uint32_t reg_read(struct ioapic *s)
{
    uint32_t r = s->regsel & 0xff;
    switch (r) {
    case 0x00: return s->id;
    case 0x01: return IOAPIC_VERSION;
    case 0x02: return s->id;            /* arbitration ID: the APIC ID after reset */
    default:
        if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
            uint64_t e = s->rte[(r - 0x10) >> 1];
            return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
        }
        return 0xffffffffu;             /* no register: the 82093AA floats */
    }
}

static void reg_write(struct ioapic *s, uint32_t val)
{
    uint32_t r = s->regsel & 0xff;
    if (r == 0x00) {
        s->id = val & 0x0f000000u;
        return;
    }
    if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
        unsigned pin = (r - 0x10) >> 1;
        uint64_t e = s->rte[pin], w = (r & 1) ? (uint64_t)val << 32 : val;
        uint64_t half = (r & 1) ? 0xffffffff00000000ull : 0xffffffffull;
        e = (e & ~(half & RTE_WRITABLE)) | (w & half & RTE_WRITABLE);
        if (!(e & RTE_LEVEL))
            e &= ~RTE_REMOTE_IRR;       /* an edge entry has no Remote IRR */
        s->rte[pin] = e;
        level_check(s, pin);            /* unmasked while active: deliver now */
    }
    /* version, arbitration and unknown registers are read-only */
}

static void log_bad(struct ioapic *s, const char *what, uint64_t off, unsigned size)
{
    if (s->bad_logged)
        return;
    s->bad_logged = true;
    V3_WARN("%s: %s at offset %#llx width %u ignored (IOREGSEL/IOWIN take aligned 32-bit "
            "accesses; further ones are not logged)", v3_dev_name(s->dev), what,
            (unsigned long long)off, size);
}

static uint64_t mmio_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct ioapic *s = v3_dev_state(dev);
    (void)core;
    if (size != 4 || (off != 0x00 && off != 0x10)) {
        log_bad(s, "read", off, size);
        return 0;
    }
    return off == 0 ? s->regsel : reg_read(s);
}

static void mmio_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size,
                       uint64_t val)
{
    struct ioapic *s = v3_dev_state(dev);
    (void)core;
    if (size != 4 || (off != 0x00 && off != 0x10)) {
        log_bad(s, "write", off, size);
        return;
    }
    if (off == 0)
        s->regsel = (uint32_t)val & 0xff;
    else
        reg_write(s, (uint32_t)val);
    flush(s);
}

/* ------------------------------------------------------------------ device ops */

static void ioapic_reset(struct v3_device *dev)
{
    struct ioapic *s = v3_dev_state(dev);
    s->regsel = 0;
    s->id = 0;
    for (unsigned i = 0; i < IOAPIC_PINS; i++)
        s->rte[i] = RTE_MASKED;
    s->n_out = 0;
    /* the input levels are the devices' business: they survive a reset */
}

#define SNAP_MAGIC 0x494f4131u      /* "IOA1" */

static int ioapic_save(struct v3_device *dev, struct v3_snap *snap)
{
    struct ioapic *s = v3_dev_state(dev);
    uint32_t hdr[5] = { SNAP_MAGIC, IOAPIC_PINS, s->regsel, s->id, s->level };
    int rc = v3_snap_put(snap, hdr, sizeof(hdr));
    if (!rc)
        rc = v3_snap_put(snap, s->rte, sizeof(s->rte));
    return rc;
}

static int ioapic_load(struct v3_device *dev, struct v3_snap *snap)
{
    struct ioapic *s = v3_dev_state(dev);
    uint32_t hdr[5];
    uint64_t rte[IOAPIC_PINS];
    int rc = v3_snap_get(snap, hdr, sizeof(hdr));
    if (!rc)
        rc = v3_snap_get(snap, rte, sizeof(rte));
    if (rc)
        return rc;
    if (hdr[0] != SNAP_MAGIC || hdr[1] != IOAPIC_PINS) {
        V3_ERROR("%s: snapshot is not an IOAPIC state", v3_dev_name(dev));
        return V3_EIMAGE;
    }
    s->regsel = hdr[2] & 0xff;
    s->id = hdr[3] & 0x0f000000u;
    s->level = hdr[4] & ((1u << IOAPIC_PINS) - 1);
    for (unsigned i = 0; i < IOAPIC_PINS; i++)
        s->rte[i] = rte[i] & (RTE_WRITABLE | RTE_REMOTE_IRR);
    return 0;
}

static int ioapic_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct ioapic *s = v3_dev_state(dev);
    uint64_t base = V3_IOAPIC_BASE;
    int rc;

    s->dev = dev;
    s->vm = v3_dev_vm(dev);
    if ((rc = v3_dev_arg_u64(args, "base", &base)) < 0)
        return rc;
    s->base = base;
    if ((rc = v3_dev_claim_mmio(dev, base, 0x1000, mmio_read, mmio_write)) < 0)
        return rc;
    if ((rc = v3_vm_set_irqchip(s->vm, V3_IRQCHIP_IOAPIC, &ioapic_ops, s)) < 0)
        return rc;
    ioapic_reset(dev);
    return 0;
}

const struct v3_device_ops v3_dev_ioapic = {
    .name = "ioapic",
    .help = "82093AA-like I/O APIC, 24 pins, at 0xfec00000; option: base=ADDR (page aligned)",
    .state_size = sizeof(struct ioapic),
    .create = ioapic_create,
    .reset = ioapic_reset,
    .save = ioapic_save,
    .load = ioapic_load,
};
