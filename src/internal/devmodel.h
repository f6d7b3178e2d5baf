/* SPDX-License-Identifier: MIT */
/*
 * Internal state of the device model (include/v3/device.h, v3/irqchip.h):
 * device instances, their claims and interrupt lines, the IRQ router and
 * the interrupt controllers registered with the VM.
 */
#ifndef V3_INTERNAL_DEVMODEL_H
#define V3_INTERNAL_DEVMODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/device.h>
#include <v3/irqchip.h>

#define V3_NR_IRQS 24

struct v3_irq_line {
    struct v3_irq_line *next;           /* the device's lines */
    struct v3_device *dev;
    uint8_t irq;
    uint8_t level;                      /* level the router has (under the router lock) */
    uint8_t pend;                       /* level the device set last */
    uint8_t rose;                       /* a rising edge is waiting for delivery */
    uint8_t dirty;                      /* pend/rose wait for the device's unlock */
};

struct v3_dev_claim {
    struct v3_dev_claim *next;
    struct v3_device *dev;
    uint64_t base, len;
    v3_dev_read_fn read;
    v3_dev_write_fn write;
    bool mmio;
};

struct v3_device {
    const struct v3_device_ops *ops;
    struct v3_vm *vm;
    char name[32];
    void *lock;                         /* host mutex */
    int held;                           /* the lock is held (written by the holder) */
    struct v3_irq_line *lines;
    struct v3_dev_claim *claims;
    void *state;
};

/* A device-state stream (v3_snap_put/get): written into a growing buffer,
 * or read from a fixed one (buf not owned then).  src/vm/snapshot.c. */
struct v3_snap {
    uint8_t *buf;
    size_t len, pos, cap;
    int err;
};

struct v3_devmodel {
    struct v3_device **devs;
    unsigned ndevs, cap;
    void *irq_lock;                     /* router: counts and chip calls */
    uint16_t irq_count[V3_NR_IRQS];     /* asserted lines per IRQ (wired OR) */
    uint32_t irq_taken[V3_NR_IRQS];     /* atomic: interrupts taken per IRQ (v3_irq_taken) */
    const struct v3_irqchip_ops *pic_ops;
    void *pic;
    const struct v3_irqchip_ops *ioapic_ops;
    void *ioapic;
    const struct v3_extint_ops *extint_ops;
    void *extint;
    const struct v3_lapic_ops *lapic_ops;
    void *lapic;
    int deadline_dirty;                 /* atomic: recompute next_deadline */
    uint64_t next_deadline;
};

struct v3_vm;
struct v3_vm_config;
int v3_devmodel_init(struct v3_vm *vm);
/* Create the machine's devices, the V3_DEV_* shorthands and the extra devices. */
int v3_devmodel_create_config(struct v3_vm *vm, const struct v3_vm_config *cfg);
void v3_devmodel_free(struct v3_vm *vm);
/* Run timer() of every device whose deadline is at or before @p now; returns the next deadline. */
uint64_t v3_devmodel_poll(struct v3_vm *vm, uint64_t now);
/* Reset every device (power-on state). */
void v3_devmodel_reset(struct v3_vm *vm);

/* Provided by the devices layer (src/devices/registry.c). */
extern const struct v3_device_ops *const v3_device_registry[];
/* Machine table: name and its devices, NULL-terminated lists. */
struct v3_machine_def {
    const char *name;
    const char *help;
    const char *const *devices;
    uint64_t ram_hole;              /* RAM above this moves to 4 GiB (0: no hole) */
};
/* The RAM hole of machine @p name (NULL: "none"), 0 if it has none. */
uint64_t v3_machine_ram_hole(const char *name);
extern const struct v3_machine_def v3_machine_registry[];

#endif
