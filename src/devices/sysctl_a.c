/* SPDX-License-Identifier: MIT */
/*
 * System Control Port A ("sysctl-a", port 0x92, the PS/2 "fast A20 and reset" port).
 *   bit 1: A20 gate (1 = enabled).  Writes go to every vCPU (core->a20_clear,
 *          TLBs flushed); reads report the gate.
 *   bit 0: fast reset.  Writing 1 stops the VM with V3_STOP_SHUTDOWN (as a
 *          triple fault does; a PC resets on both), with one log line.  Reads 0.
 * The other bits are not modelled: written values are ignored, reads give 0.
 * An access wider than a byte uses its low byte; the bytes for the ports
 * above read as 0xff (nothing decodes them).
 */
#include "internal/host.h"
#include "internal/vm.h"

static uint64_t sysctl_a_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct v3_vm *vm = v3_dev_vm(dev);
    uint64_t a20 = (core ? core->a20_clear : vm->cores[0].a20_clear) ? 0 : V3_SYSCTL_A_A20;

    (void)off;
    (void)size;
    return (~0ull << 8) | a20;
}

static void sysctl_a_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    uint8_t v = (uint8_t)val;

    (void)core;
    (void)off;
    (void)size;
    v3_vm_set_a20(v3_dev_vm(dev), (v & V3_SYSCTL_A_A20) != 0);
    if (v & V3_SYSCTL_A_RESET) {
        V3_INFO("port 0x92: guest requested a fast reset (value 0x%x): the VM shuts down", v);
        v3_vm_request_stop(v3_dev_vm(dev), V3_STOP_SHUTDOWN, 0);
    }
}

static int sysctl_a_create(struct v3_device *dev, struct v3_dev_args *args)
{
    (void)args;
    return v3_dev_claim_io(dev, V3_SYSCTL_A_PORT, 1, sysctl_a_read, sysctl_a_write);
}

/* No state of its own (the A20 gate lives in the vCPU): an empty record. */
static int sysctl_a_save(struct v3_device *dev, struct v3_snap *s)
{
    (void)dev;
    (void)s;
    return 0;
}

static int sysctl_a_load(struct v3_device *dev, struct v3_snap *s)
{
    (void)dev;
    (void)s;
    return 0;
}

const struct v3_device_ops v3_dev_sysctl_a = {
    .name = "sysctl-a",
    .help = "System Control Port A at 0x92: A20 gate, fast reset",
    .create = sysctl_a_create,
    .save = sysctl_a_save,
    .load = sysctl_a_load,
};
