/* SPDX-License-Identifier: MIT */
/*
 * A minimal 8042 keyboard controller ("i8042"; ports 0x60 data, 0x64
 * status/command; IRQ 1 keyboard, IRQ 12 auxiliary), with a keyboard that
 * answers its commands and no mouse.
 *
 * Controller commands: 0x20 read / 0x60 write the command byte, 0xA7/0xA8
 * and 0xAD/0xAE disable/enable the ports, 0xA9/0xAB port tests (0x00), 0xAA
 * self-test (0x55), 0xD0/0xD1 read/write the output port (bit 0 low resets
 * the machine, bit 1 is the A20 gate), 0xD2/0xD3 write the keyboard/aux
 * output buffer (the aux loopback a driver probes with), 0xD4 send to the
 * aux device (none: answered 0xFE), 0xF0-0xFF pulse output-port lines (bit
 * 0 clear: reset, v3_run_vm() returns V3_STOP_RESET).  Keyboard commands on
 * port 0x60: 0xFF reset (0xFA 0xAA), 0xF2 identify (0xFA 0xAB 0x83), 0xEE
 * echo, 0xED/0xF3/0xF0 with their argument byte, everything else 0xFA.
 * No key presses come from the host.  Unknown controller commands are
 * logged once and ignored.
 */
#include "internal/host.h"
#include "internal/vm.h"

#define QLEN 16
#define ST_OBF  0x01
#define ST_SYS  0x04
#define ST_CMD  0x08
#define ST_UNL  0x10
#define ST_AUX  0x20

struct i8042 {
    struct v3_irq_line *irq1, *irq12;
    uint8_t q[QLEN], qaux[QLEN];
    uint8_t qhead, qlen;
    uint8_t cmdbyte, outport, last_cmd_write;
    uint8_t pending;                    /* controller command waiting for its data byte */
    uint8_t kbd_pending;                /* keyboard command waiting for its argument */
    uint8_t warned;
};

static void push(struct i8042 *k, uint8_t b, bool aux)
{
    unsigned i;
    if (k->qlen == QLEN)
        return;
    i = (k->qhead + k->qlen) % QLEN;
    k->q[i] = b;
    k->qaux[i] = aux;
    k->qlen++;
}

static void update_irq(struct i8042 *k)
{
    bool aux = k->qlen && k->qaux[k->qhead];
    v3_irq_set(k->irq1, k->qlen && !aux && (k->cmdbyte & 0x01));
    v3_irq_set(k->irq12, k->qlen && aux && (k->cmdbyte & 0x02));
}

static void kbd_command(struct i8042 *k, uint8_t b)
{
    if (k->kbd_pending) {
        k->kbd_pending = 0;
        push(k, 0xfa, false);
        return;
    }
    switch (b) {
    case 0xff: push(k, 0xfa, false); push(k, 0xaa, false); break;
    case 0xf2: push(k, 0xfa, false); push(k, 0xab, false); push(k, 0x83, false); break;
    case 0xee: push(k, 0xee, false); break;
    case 0xed: case 0xf3: case 0xf0: k->kbd_pending = b; push(k, 0xfa, false); break;
    default: push(k, 0xfa, false); break;
    }
}

static void write_outport(struct i8042 *k, struct v3_device *dev, uint8_t v)
{
    k->outport = v | 0x01;
    v3_vm_set_a20(v3_dev_vm(dev), (v & 0x02) != 0);
    if (!(v & 0x01)) {
        V3_INFO("i8042: reset line pulsed by the guest");
        v3_vm_request_stop(v3_dev_vm(dev), V3_STOP_RESET, 0);
    }
}

static uint64_t kbc_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct i8042 *k = v3_dev_state(dev);
    uint8_t v;

    (void)core;
    (void)size;
    if (off == 4) {
        v = (uint8_t)(ST_UNL | (k->cmdbyte & ST_SYS) | (k->last_cmd_write ? ST_CMD : 0));
        if (k->qlen)
            v |= (uint8_t)(ST_OBF | (k->qaux[k->qhead] ? ST_AUX : 0));
        return v;
    }
    if (off != 0)
        return 0xff;
    if (!k->qlen)
        return k->q[(k->qhead + QLEN - 1) % QLEN];     /* the last byte again, as the hardware */
    v = k->q[k->qhead];
    k->qhead = (uint8_t)((k->qhead + 1) % QLEN);
    k->qlen--;
    update_irq(k);
    return v;
}

static void kbc_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct i8042 *k = v3_dev_state(dev);
    uint8_t b = (uint8_t)val;

    (void)core;
    (void)size;
    if (off == 0) {
        uint8_t p = k->pending;
        k->last_cmd_write = 0;
        k->pending = 0;
        switch (p) {
        case 0x60: k->cmdbyte = b; break;
        case 0xd1: write_outport(k, dev, b); break;
        case 0xd2: push(k, b, false); break;
        case 0xd3: push(k, b, true); break;
        case 0xd4: push(k, 0xfe, true); break;          /* no aux device */
        default: kbd_command(k, b); break;
        }
        update_irq(k);
        return;
    }
    if (off != 4)
        return;
    k->last_cmd_write = 1;
    switch (b) {
    case 0x20: push(k, k->cmdbyte, false); break;
    case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4: k->pending = b; break;
    case 0xa7: k->cmdbyte |= 0x20; break;
    case 0xa8: k->cmdbyte &= (uint8_t)~0x20; break;
    case 0xa9: case 0xab: push(k, 0x00, false); break;
    case 0xaa: push(k, 0x55, false); k->cmdbyte |= ST_SYS; break;
    case 0xad: k->cmdbyte |= 0x10; break;
    case 0xae: k->cmdbyte &= (uint8_t)~0x10; break;
    case 0xc0: push(k, 0x80, false); break;
    case 0xd0: push(k, k->outport, false); break;
    default:
        if (b >= 0xf0) {
            if (!(b & 0x01)) {
                V3_INFO("i8042: reset pulsed by command 0x%02x", b);
                v3_vm_request_stop(v3_dev_vm(dev), V3_STOP_RESET, 0);
            }
        } else if (!k->warned) {
            k->warned = 1;
            V3_WARN("i8042: controller command 0x%02x is not modelled: ignored", b);
        }
        break;
    }
    update_irq(k);
}

static void kbc_reset(struct v3_device *dev)
{
    struct i8042 *k = v3_dev_state(dev);
    k->qhead = k->qlen = 0;
    k->cmdbyte = 0x45;                  /* keyboard interrupt, system flag, translation; aux on */
    k->outport = 0x03;                  /* reset line high, A20 enabled */
    k->pending = k->kbd_pending = k->last_cmd_write = 0;
    update_irq(k);
}

/* The claims give offsets from their own base: tell 0x60 from 0x64 apart by a second pair. */
static uint64_t kbc_read64(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    return kbc_read(dev, core, off + 4, size);
}
static void kbc_write64(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    kbc_write(dev, core, off + 4, size, val);
}

static int kbc_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct i8042 *k = v3_dev_state(dev);
    int rc;

    (void)args;
    k->irq1 = v3_dev_irq(dev, 1);
    k->irq12 = v3_dev_irq(dev, 12);
    if (!k->irq1 || !k->irq12)
        return V3_ENOMEM;
    rc = v3_dev_claim_io(dev, 0x60, 1, kbc_read, kbc_write);
    if (rc == 0)
        rc = v3_dev_claim_io(dev, 0x64, 1, kbc_read64, kbc_write64);
    return rc;
}

static int kbc_save(struct v3_device *dev, struct v3_snap *s)
{
    struct i8042 *k = v3_dev_state(dev);
    return v3_snap_put(s, k->q, sizeof(*k) - ((uint8_t *)k->q - (uint8_t *)k));
}

static int kbc_load(struct v3_device *dev, struct v3_snap *s)
{
    struct i8042 *k = v3_dev_state(dev);
    int rc = v3_snap_get(s, k->q, sizeof(*k) - ((uint8_t *)k->q - (uint8_t *)k));
    k->qhead %= QLEN;
    if (k->qlen > QLEN)
        k->qlen = 0;
    update_irq(k);
    return rc;
}

const struct v3_device_ops v3_dev_i8042 = {
    .name = "i8042",
    .help = "8042 keyboard controller at 0x60/0x64 (IRQ 1/12): self-test, command byte, A20, reset",
    .state_size = sizeof(struct i8042),
    .create = kbc_create,
    .reset = kbc_reset,
    .save = kbc_save,
    .load = kbc_load,
};
