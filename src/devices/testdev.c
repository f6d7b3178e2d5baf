/* SPDX-License-Identifier: MIT */
/* The v3 test device: a full-hook MMIO page counting accesses and echoing values, and test hypercalls. */
#include "internal/host.h"
#include "internal/vm.h"

#define REGS_SIZE 0x20

struct v3_testdev {
    uint32_t reads, writes;
    uint64_t echo;
    int hc_sum, hc_count;
};

static void snapshot(const struct v3_testdev *t, uint8_t regs[REGS_SIZE])
{
    uint32_t id = V3_TESTDEV_MAGIC, ver = 1;
    uint64_t inv = ~t->echo;

    memcpy(regs + V3_TESTDEV_ID, &id, 4);
    memcpy(regs + V3_TESTDEV_VERSION, &ver, 4);
    memcpy(regs + V3_TESTDEV_READS, &t->reads, 4);
    memcpy(regs + V3_TESTDEV_WRITES, &t->writes, 4);
    memcpy(regs + V3_TESTDEV_ECHO, &t->echo, 8);
    memcpy(regs + V3_TESTDEV_ECHO_NOT, &inv, 8);
}

static uint64_t td_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct v3_testdev *t = v3_dev_state(dev);
    uint8_t regs[REGS_SIZE];
    uint64_t v = 0;

    (void)core;
    snapshot(t, regs);
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)((off + i < REGS_SIZE) ? regs[off + i] : 0) << (8 * i);
    t->reads++;
    return v;
}

static void td_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct v3_testdev *t = v3_dev_state(dev);
    uint8_t e[8];

    (void)core;
    memcpy(e, &t->echo, 8);
    for (unsigned i = 0; i < size; i++)
        if (off + i >= V3_TESTDEV_ECHO && off + i < V3_TESTDEV_ECHO + 8)
            e[off + i - V3_TESTDEV_ECHO] = (uint8_t)(val >> (8 * i));
    memcpy(&t->echo, e, 8);
    t->writes++;
}

static int hc_sum(struct v3_core *core, uint64_t id, uint64_t *result, void *priv)
{
    (void)id;
    (void)priv;
    *result = core->gpr[V3_RBX] + core->gpr[V3_RCX] + core->gpr[V3_RDX];
    return 0;
}

static int hc_count(struct v3_core *core, uint64_t id, uint64_t *result, void *priv)
{
    (void)id;
    (void)priv;
    *result = core->vm->hypercalls_done;
    return 0;
}

static int td_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct v3_testdev *t = v3_dev_state(dev);
    struct v3_vm *vm = v3_dev_vm(dev);
    int rc;

    (void)args;
    rc = v3_dev_claim_mmio(dev, V3_TESTDEV_BASE, V3_TESTDEV_SIZE, td_read, td_write);
    if (rc < 0)
        return rc;
    rc = v3_register_hypercall(vm, V3_HCALL_TEST_SUM, hc_sum, t);
    if (rc < 0)
        return rc;
    t->hc_sum = 1;
    rc = v3_register_hypercall(vm, V3_HCALL_TEST_COUNT, hc_count, t);
    if (rc < 0)
        return rc;
    t->hc_count = 1;
    return V3_OK;
}

static void td_destroy(struct v3_device *dev)
{
    struct v3_testdev *t = v3_dev_state(dev);

    if (t->hc_sum)
        v3_remove_hypercall(v3_dev_vm(dev), V3_HCALL_TEST_SUM);
    if (t->hc_count)
        v3_remove_hypercall(v3_dev_vm(dev), V3_HCALL_TEST_COUNT);
}

/* The counters and the echo register (the hypercall registrations are not state). */
static int td_save(struct v3_device *dev, struct v3_snap *s)
{
    struct v3_testdev *t = v3_dev_state(dev);
    int rc = v3_snap_put(s, &t->reads, 4);

    if (!rc)
        rc = v3_snap_put(s, &t->writes, 4);
    return rc ? rc : v3_snap_put(s, &t->echo, 8);
}

static int td_load(struct v3_device *dev, struct v3_snap *s)
{
    struct v3_testdev *t = v3_dev_state(dev);
    uint32_t r, w;
    uint64_t e;
    int rc = v3_snap_get(s, &r, 4);

    if (!rc)
        rc = v3_snap_get(s, &w, 4);
    if (!rc)
        rc = v3_snap_get(s, &e, 8);
    if (rc)
        return rc;
    t->reads = r;
    t->writes = w;
    t->echo = e;
    return 0;
}

const struct v3_device_ops v3_dev_testdev = {
    .name = "testdev",
    .help = "v3 test device: MMIO page at 0xFEB00000 (ID, counters, echo) and test hypercalls",
    .state_size = sizeof(struct v3_testdev),
    .create = td_create,
    .destroy = td_destroy,
    .save = td_save,
    .load = td_load,
};
