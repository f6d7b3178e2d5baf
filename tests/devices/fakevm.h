/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for the VM side of the device model (v3/device.h, v3/irqchip.h)
 * for unit tests of interrupt controllers: the test owns the clock, sees
 * every claim, MSR hook, kick and message, and checks the lock discipline
 * (no message leaves a device that holds its own lock).  The device sources
 * are compiled into the test program against it; the real VM is not linked.
 */
#ifndef V3_TEST_FAKEVM_H
#define V3_TEST_FAKEVM_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/device.h>
#include <v3/io.h>
#include <v3/irqchip.h>
#include <v3/vcpu.h>

#define FV_MAX_CORES 8
#define FV_MAX_DEVS 4
#define FV_MAX_MSR 128

struct v3_device {
    const struct v3_device_ops *ops;
    struct v3_vm *vm;
    void *state;
    const char *args;          /* "key=value,..." */
    int locked;                /* depth; must stay 0/1 */
    uint64_t mmio_base, mmio_size;
    v3_dev_read_fn read;
    v3_dev_write_fn write;
    int deadline_changes;
};

struct fv_msr {
    uint32_t msr;
    v3_msr_read_fn read;
    v3_msr_write_fn write;
    void *priv;
};

struct v3_vm {
    unsigned ncores;
    struct v3_core cores[FV_MAX_CORES];
    uint64_t now;
    struct v3_device devs[FV_MAX_DEVS];
    unsigned ndevs;
    const struct v3_lapic_ops *lapic_ops;
    void *lapic;
    const struct v3_irqchip_ops *ioapic_ops;
    void *ioapic;
    struct fv_msr msr[FV_MAX_MSR];
    unsigned nmsr;
    unsigned kicks[FV_MAX_CORES];
    unsigned eois;
    unsigned irq_taken[24];     /* v3_vm_irq_taken() per IRQ */
    uint8_t last_eoi;
    unsigned sends;
    struct v3_apic_msg last_msg;
    bool extint;               /* the PIC's INTR */
    uint8_t extint_vector;
    unsigned extint_acks;
    v3_cpuid_fn cpuid1;        /* the CPUID leaf 1 hook */
    void *cpuid1_priv;
    bool lock_violation;       /* a message left a device holding its lock */
};

/* Create a fake VM with @p ncores vCPUs. */
struct v3_vm *fv_create(unsigned ncores);
void fv_free(struct v3_vm *vm);
/* Create a device instance of @p ops with options @p args ("" for none).  Returns it or NULL. */
struct v3_device *fv_add(struct v3_vm *vm, const struct v3_device_ops *ops, const char *args);
/* MMIO access by vCPU @p core (the VM takes the device lock around the callback). */
uint32_t fv_read(struct v3_device *d, unsigned core, uint64_t off, unsigned size);
void fv_write(struct v3_device *d, unsigned core, uint64_t off, unsigned size, uint64_t val);
/* RDMSR/WRMSR by vCPU @p core through the hooks: 0, V3_EFAULT (#GP), or -V3_ENOENT-like 1 (unhooked). */
int fv_rdmsr(struct v3_vm *vm, unsigned core, uint32_t msr, uint64_t *val);
int fv_wrmsr(struct v3_vm *vm, unsigned core, uint32_t msr, uint64_t val);
/* Advance the clock to @p t and run timer() of every device whose deadline passed. */
void fv_advance(struct v3_vm *vm, uint64_t t);
uint64_t fv_deadline(struct v3_device *d);

#endif
