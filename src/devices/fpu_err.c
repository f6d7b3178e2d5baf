/* SPDX-License-Identifier: MIT */
/*
 * The PC's x87 error wiring ("fpu-err"; options irq=13): with CR0.NE = 0 an
 * unmasked x87 exception asserts FERR#, which a PC routes to IRQ 13 (the
 * vCPU's FERR# hook, struct v3_core::ferr, see src/emu).  The line stays
 * asserted until the guest writes port 0xF0 (the coprocessor error latch),
 * which DOS-era handlers do before FNCLEX; writing 0xF1 (the coprocessor
 * reset port of the AT) clears it too.  Reads of 0xF0/0xF1 return 0xFF.
 */
#include "internal/host.h"
#include "internal/vm.h"

struct fpu_err {
    struct v3_device *dev;
    struct v3_irq_line *irq;
};

/* FERR# from a vCPU (on its thread, inside an x87 instruction): record only. */
static void ferr(struct v3_core *core, void *opaque)
{
    struct v3_device *dev = opaque;
    struct fpu_err *f = v3_dev_state(dev);

    (void)core;
    v3_dev_lock(dev);
    v3_irq_set(f->irq, 1);
    v3_dev_unlock(dev);
}

static uint64_t fe_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    (void)dev;
    (void)core;
    (void)off;
    (void)size;
    return ~0ull;
}

static void fe_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct fpu_err *f = v3_dev_state(dev);

    (void)core;
    (void)off;
    (void)size;
    (void)val;
    v3_irq_set(f->irq, 0);
}

static int fe_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct fpu_err *f = v3_dev_state(dev);
    struct v3_vm *vm = v3_dev_vm(dev);
    uint64_t irq = 13;

    if (v3_dev_arg_u64(args, "irq", &irq) < 0 || irq > 15)
        return V3_EINVAL;
    f->dev = dev;
    f->irq = v3_dev_irq(dev, (unsigned)irq);
    if (!f->irq)
        return V3_ENOMEM;
    for (unsigned i = 0; i < vm->num_cores; i++) {
        vm->cores[i].ferr = ferr;
        vm->cores[i].ferr_opaque = dev;
    }
    return v3_dev_claim_io(dev, 0xf0, 2, fe_read, fe_write);
}

static void fe_destroy(struct v3_device *dev)
{
    struct v3_vm *vm = v3_dev_vm(dev);

    for (unsigned i = 0; i < vm->num_cores; i++)
        if (vm->cores[i].ferr_opaque == dev) {
            vm->cores[i].ferr = NULL;
            vm->cores[i].ferr_opaque = NULL;
        }
}

static void fe_reset(struct v3_device *dev)
{
    struct fpu_err *f = v3_dev_state(dev);
    v3_irq_set(f->irq, 0);
}

static int fe_save(struct v3_device *dev, struct v3_snap *s)
{
    (void)dev;
    (void)s;
    return 0;                           /* the line level is the router's; nothing of our own */
}

static int fe_load(struct v3_device *dev, struct v3_snap *s)
{
    (void)dev;
    (void)s;
    return 0;
}

const struct v3_device_ops v3_dev_fpu_err = {
    .name = "fpu-err",
    .help = "x87 FERR# to IRQ 13 (CR0.NE = 0), cleared by a write to port 0xF0: irq=13",
    .state_size = sizeof(struct fpu_err),
    .create = fe_create,
    .destroy = fe_destroy,
    .reset = fe_reset,
    .save = fe_save,
    .load = fe_load,
};
