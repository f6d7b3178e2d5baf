/* SPDX-License-Identifier: MIT */
/* The fake VM side of the device model (see fakevm.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <v3/error.h>
#include <v3/vm.h>
#include "fakevm.h"

struct v3_vm *fv_create(unsigned ncores)
{
    struct v3_vm *vm = calloc(1, sizeof(*vm));
    vm->ncores = ncores;
    for (unsigned i = 0; i < ncores; i++) {
        vm->cores[i].id = i;
        vm->cores[i].vm = vm;
    }
    return vm;
}

void fv_free(struct v3_vm *vm)
{
    for (unsigned i = 0; i < vm->ndevs; i++) {
        struct v3_device *d = &vm->devs[i];
        if (d->ops->destroy)
            d->ops->destroy(d);
        free(d->state);
    }
    free(vm);
}

struct v3_device *fv_add(struct v3_vm *vm, const struct v3_device_ops *ops, const char *args)
{
    struct v3_device *d = &vm->devs[vm->ndevs++];
    memset(d, 0, sizeof(*d));
    d->ops = ops;
    d->vm = vm;
    d->args = args;
    d->state = calloc(1, ops->state_size);
    d->locked = 1;
    if (ops->create(d, (struct v3_dev_args *)d) < 0) {
        d->locked = 0;
        return NULL;
    }
    if (ops->reset)
        ops->reset(d);
    d->locked = 0;
    return d;
}

static void lock(struct v3_device *d)
{
    if (d->locked)
        d->vm->lock_violation = true;       /* would deadlock */
    d->locked++;
}

static void unlock(struct v3_device *d)
{
    d->locked--;
}

uint32_t fv_read(struct v3_device *d, unsigned core, uint64_t off, unsigned size)
{
    uint64_t v;
    lock(d);
    v = d->read(d, &d->vm->cores[core], off, size);
    unlock(d);
    return (uint32_t)v;
}

void fv_write(struct v3_device *d, unsigned core, uint64_t off, unsigned size, uint64_t val)
{
    lock(d);
    d->write(d, &d->vm->cores[core], off, size, val);
    unlock(d);
}

static struct fv_msr *find_msr(struct v3_vm *vm, uint32_t msr)
{
    for (unsigned i = 0; i < vm->nmsr; i++)
        if (vm->msr[i].msr == msr)
            return &vm->msr[i];
    return NULL;
}

int fv_rdmsr(struct v3_vm *vm, unsigned core, uint32_t msr, uint64_t *val)
{
    struct fv_msr *h = find_msr(vm, msr);
    if (!h || !h->read)
        return 1;
    return h->read(&vm->cores[core], msr, val, h->priv);
}

int fv_wrmsr(struct v3_vm *vm, unsigned core, uint32_t msr, uint64_t val)
{
    struct fv_msr *h = find_msr(vm, msr);
    if (!h || !h->write)
        return 1;
    return h->write(&vm->cores[core], msr, val, h->priv);
}

uint64_t fv_deadline(struct v3_device *d)
{
    uint64_t t;
    lock(d);
    t = d->ops->deadline ? d->ops->deadline(d) : V3_NO_DEADLINE;
    unlock(d);
    return t;
}

void fv_advance(struct v3_vm *vm, uint64_t t)
{
    vm->now = t;
    for (unsigned i = 0; i < vm->ndevs; i++) {
        struct v3_device *d = &vm->devs[i];
        if (d->ops->timer && fv_deadline(d) <= t) {
            lock(d);
            d->ops->timer(d, t);
            unlock(d);
        }
    }
}

/* ---- v3/device.h ---- */

void *v3_dev_state(struct v3_device *dev) { return dev->state; }
struct v3_vm *v3_dev_vm(struct v3_device *dev) { return dev->vm; }
const char *v3_dev_name(const struct v3_device *dev) { return dev->ops->name; }
const struct v3_device_ops *v3_dev_ops(const struct v3_device *dev) { return dev->ops; }

static const char *find_arg(struct v3_dev_args *args, const char *key)
{
    const char *s = ((struct v3_device *)args)->args;
    size_t kl = strlen(key);
    while (s && *s) {
        if (!strncmp(s, key, kl) && s[kl] == '=')
            return s + kl + 1;
        s = strchr(s, ',');
        if (s)
            s++;
    }
    return NULL;
}

int v3_dev_arg_u64(struct v3_dev_args *args, const char *key, uint64_t *out)
{
    const char *v = find_arg(args, key);
    char *end;
    if (!v)
        return 0;
    *out = strtoull(v, &end, 0);
    return (*end && *end != ',') ? V3_EINVAL : 1;
}

int v3_dev_arg_str(struct v3_dev_args *args, const char *key, const char **out)
{
    const char *v = find_arg(args, key);
    if (!v)
        return 0;
    *out = v;
    return 1;
}

int v3_dev_arg_bool(struct v3_dev_args *args, const char *key, bool *out)
{
    const char *v = find_arg(args, key);
    if (!v)
        return 0;
    if (!strncmp(v, "on", 2) || *v == '1') { *out = true; return 1; }
    if (!strncmp(v, "off", 3) || *v == '0') { *out = false; return 1; }
    return V3_EINVAL;
}

int v3_dev_claim_io(struct v3_device *dev, uint16_t port, uint32_t count, v3_dev_read_fn read,
                    v3_dev_write_fn write)
{
    (void)dev; (void)port; (void)count; (void)read; (void)write;
    return V3_EUNSUPPORTED;
}

int v3_dev_claim_mmio(struct v3_device *dev, uint64_t gpa, uint64_t size, v3_dev_read_fn read,
                      v3_dev_write_fn write)
{
    if (dev->read || (gpa & 0xfff) || (size & 0xfff))
        return V3_EINVAL;
    dev->mmio_base = gpa;
    dev->mmio_size = size;
    dev->read = read;
    dev->write = write;
    return V3_OK;
}

struct v3_irq_line *v3_dev_irq(struct v3_device *dev, unsigned irq) { (void)dev; (void)irq; return NULL; }
void v3_irq_set(struct v3_irq_line *line, int level) { (void)line; (void)level; }
void v3_irq_pulse(struct v3_irq_line *line) { (void)line; }
void v3_dev_lock(struct v3_device *dev) { lock(dev); }
void v3_dev_unlock(struct v3_device *dev) { unlock(dev); }
void v3_dev_deadline_changed(struct v3_device *dev) { dev->deadline_changes++; }
uint64_t v3_vm_clock_ns(struct v3_vm *vm) { return vm->now; }

/* snapshots: a growing buffer (struct v3_snap is the test's) */
struct v3_snap {
    uint8_t buf[65536];
    size_t len, pos;
};

int v3_snap_put(struct v3_snap *s, const void *data, size_t len)
{
    if (s->len + len > sizeof(s->buf))
        return V3_ENOMEM;
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return 0;
}

int v3_snap_get(struct v3_snap *s, void *data, size_t len)
{
    if (s->pos + len > s->len)
        return V3_EIMAGE;
    memcpy(data, s->buf + s->pos, len);
    s->pos += len;
    return 0;
}

/* ---- v3/irqchip.h ---- */

static bool any_locked(struct v3_vm *vm)
{
    for (unsigned i = 0; i < vm->ndevs; i++)
        if (vm->devs[i].locked)
            return true;
    return false;
}

int v3_vm_set_irqchip(struct v3_vm *vm, enum v3_irqchip_kind kind, const struct v3_irqchip_ops *ops,
                      void *chip)
{
    if (kind != V3_IRQCHIP_IOAPIC || vm->ioapic_ops)
        return V3_EEXIST;
    vm->ioapic_ops = ops;
    vm->ioapic = chip;
    return V3_OK;
}

int v3_vm_set_lapic(struct v3_vm *vm, const struct v3_lapic_ops *ops, void *lapic)
{
    if (vm->lapic_ops)
        return V3_EEXIST;
    vm->lapic_ops = ops;
    vm->lapic = lapic;
    return V3_OK;
}

void v3_vm_apic_send(struct v3_vm *vm, const struct v3_apic_msg *msg)
{
    if (any_locked(vm))
        vm->lock_violation = true;
    vm->sends++;
    vm->last_msg = *msg;
    if (vm->lapic_ops)
        vm->lapic_ops->deliver(vm->lapic, msg);
}

void v3_vm_apic_eoi(struct v3_vm *vm, uint8_t vector)
{
    if (any_locked(vm))
        vm->lock_violation = true;
    vm->eois++;
    vm->last_eoi = vector;
    if (vm->ioapic_ops && vm->ioapic_ops->eoi)
        vm->ioapic_ops->eoi(vm->ioapic, vector);
}

void v3_vm_apic_taken(struct v3_vm *vm, uint8_t vector)
{
    if (any_locked(vm))
        vm->lock_violation = true;
    if (vm->ioapic_ops && vm->ioapic_ops->taken)
        vm->ioapic_ops->taken(vm->ioapic, vector);
}

void v3_vm_irq_taken(struct v3_vm *vm, unsigned irq)
{
    if (any_locked(vm))
        vm->lock_violation = true;
    if (irq < 24)
        vm->irq_taken[irq]++;
}

void v3_vm_kick(struct v3_vm *vm, unsigned core_id)
{
    if (any_locked(vm))
        vm->lock_violation = true;
    if (core_id < FV_MAX_CORES)
        vm->kicks[core_id]++;
}

bool v3_vm_extint_pending(struct v3_vm *vm) { return vm->extint; }

uint8_t v3_vm_extint_ack(struct v3_vm *vm)
{
    vm->extint_acks++;
    vm->extint = false;
    return vm->extint_vector;
}

/* ---- v3/vm.h, v3/io.h ---- */

struct v3_core *v3_get_core(struct v3_vm *vm, unsigned idx)
{
    return idx < vm->ncores ? &vm->cores[idx] : NULL;
}

unsigned v3_vm_num_cores(const struct v3_vm *vm) { return vm->ncores; }

int v3_hook_msr(struct v3_vm *vm, uint32_t msr, v3_msr_read_fn read, v3_msr_write_fn write, void *priv)
{
    if (find_msr(vm, msr))
        return V3_EEXIST;
    if (vm->nmsr >= FV_MAX_MSR)
        return V3_ENOMEM;
    vm->msr[vm->nmsr++] = (struct fv_msr){ msr, read, write, priv };
    return V3_OK;
}

int v3_unhook_msr(struct v3_vm *vm, uint32_t msr)
{
    struct fv_msr *h = find_msr(vm, msr);
    if (!h)
        return V3_ENOENT;
    *h = vm->msr[--vm->nmsr];
    return V3_OK;
}

int v3_hook_cpuid(struct v3_vm *vm, uint32_t leaf, v3_cpuid_fn fn, void *priv)
{
    if (leaf != 1 || vm->cpuid1)
        return V3_EEXIST;
    vm->cpuid1 = fn;
    vm->cpuid1_priv = priv;
    return V3_OK;
}

int v3_unhook_cpuid(struct v3_vm *vm, uint32_t leaf)
{
    if (leaf != 1 || !vm->cpuid1)
        return V3_ENOENT;
    vm->cpuid1 = NULL;
    return V3_OK;
}
