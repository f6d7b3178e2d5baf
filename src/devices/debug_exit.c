/* SPDX-License-Identifier: MIT */
/* Debug-exit port ("debug-exit"; option port=0xf4), as QEMU's isa-debug-exit with iosize=4:
 * writing v stops the VM with exit status (v << 1) | 1.  Reads return 0. */
#include "internal/host.h"
#include "internal/vm.h"

static uint64_t dbgexit_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    (void)dev;
    (void)core;
    (void)off;
    (void)size;
    return 0;
}

static void dbgexit_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    uint32_t v = (uint32_t)(val & (size >= 4 ? 0xffffffffull : (1ull << (8 * size)) - 1));

    (void)core;
    (void)off;
    V3_DEBUG("debug-exit: guest wrote 0x%x: exit status %d", v, (int)((v << 1) | 1));
    v3_vm_request_stop(v3_dev_vm(dev), V3_STOP_DEBUG_EXIT, (int)((v << 1) | 1));
}

static int dbgexit_create(struct v3_device *dev, struct v3_dev_args *args)
{
    uint64_t port = V3_DEBUG_EXIT_PORT;

    if (v3_dev_arg_u64(args, "port", &port) < 0)
        return V3_EINVAL;
    if (port > 0xfffc) {
        V3_ERROR("device %s: port 0x%llx out of range", v3_dev_name(dev), (unsigned long long)port);
        return V3_EINVAL;
    }
    return v3_dev_claim_io(dev, (uint16_t)port, 4, dbgexit_read, dbgexit_write);
}

/* No state of its own (the A20 gate lives in the vCPU): an empty record. */
static int dbgexit_save(struct v3_device *dev, struct v3_snap *s)
{
    (void)dev;
    (void)s;
    return 0;
}

static int dbgexit_load(struct v3_device *dev, struct v3_snap *s)
{
    (void)dev;
    (void)s;
    return 0;
}

const struct v3_device_ops v3_dev_debug_exit = {
    .name = "debug-exit",
    .help = "isa-debug-exit: port=0xf4 (4 ports); writing v exits with status (v << 1) | 1",
    .create = dbgexit_create,
    .save = dbgexit_save,
    .load = dbgexit_load,
};
