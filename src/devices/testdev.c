/* SPDX-License-Identifier: MIT */
/* The v3 test device: a full-hook MMIO page counting accesses and echoing values, and test hypercalls. */
#include "internal/host.h"
#include "internal/vm.h"

#define REGS_SIZE 0x20

struct v3_testdev {
    uint32_t reads, writes;
    uint64_t echo;
    int hooked, hc_sum, hc_count;
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

static int td_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct v3_testdev *t = priv;
    uint8_t regs[REGS_SIZE], *d = dst;
    uint64_t off = gpa - V3_TESTDEV_BASE;

    snapshot(t, regs);
    for (uint32_t i = 0; i < len; i++)
        d[i] = (off + i < REGS_SIZE) ? regs[off + i] : 0;
    t->reads++;
    return 0;
}

static int td_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct v3_testdev *t = priv;
    const uint8_t *s = src;
    uint64_t off = gpa - V3_TESTDEV_BASE;
    uint8_t e[8];

    memcpy(e, &t->echo, 8);
    for (uint32_t i = 0; i < len; i++)
        if (off + i >= V3_TESTDEV_ECHO && off + i < V3_TESTDEV_ECHO + 8)
            e[off + i - V3_TESTDEV_ECHO] = s[i];
    memcpy(&t->echo, e, 8);
    t->writes++;
    return 0;
}

static int hc_sum(struct v3_core *core, uint64_t id, uint64_t *result, void *priv)
{
    *result = core->gpr[V3_RBX] + core->gpr[V3_RCX] + core->gpr[V3_RDX];
    return 0;
}

static int hc_count(struct v3_core *core, uint64_t id, uint64_t *result, void *priv)
{
    *result = core->vm->hypercalls_done;
    return 0;
}

int v3_testdev_attach(struct v3_vm *vm)
{
    struct v3_testdev *t = v3_zalloc(sizeof(*t));
    int rc;

    if (!t) {
        V3_ERROR("testdev: out of memory");
        return V3_ENOMEM;
    }
    vm->testdev = t;
    rc = v3_hook_full_mem(vm, V3_TESTDEV_BASE, V3_TESTDEV_BASE + V3_TESTDEV_SIZE, td_read, td_write, t);
    if (rc < 0)
        return rc;
    t->hooked = 1;
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

void v3_testdev_detach(struct v3_vm *vm)
{
    struct v3_testdev *t = vm->testdev;

    if (!t)
        return;
    if (t->hooked)
        v3_unhook_mem(vm, V3_TESTDEV_BASE);
    if (t->hc_sum)
        v3_remove_hypercall(vm, V3_HCALL_TEST_SUM);
    if (t->hc_count)
        v3_remove_hypercall(vm, V3_HCALL_TEST_COUNT);
    v3_free(t);
    vm->testdev = NULL;
}
