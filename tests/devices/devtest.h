/* SPDX-License-Identifier: MIT */
/* Helpers of the device tests (PIC, PIT, RTC, the small PC devices): a VM
 * of machine "none" with named devices on a virtual clock the test sets
 * (vCPU 0's instruction count at 1 ns per instruction), port accesses
 * through the VM's I/O dispatch, and ISA IRQ lines driven through the VM's
 * router by a test device. */
#ifndef V3_TEST_DEVTEST_H
#define V3_TEST_DEVTEST_H

#include <string.h>
#include "../support/v3test.h"
#include "internal/vm.h"

static struct v3_core *dt_core;
static struct v3_irq_line *dt_lines[16];

/* "irqsrc": a test device that owns a line on each of IRQ 0-15. */
static int irqsrc_create(struct v3_device *dev, struct v3_dev_args *args)
{
    (void)args;
    for (unsigned i = 0; i < 16; i++)
        if (!(dt_lines[i] = v3_dev_irq(dev, i)))
            return V3_ENOMEM;
    return 0;
}

static const struct v3_device_ops irqsrc_ops = {
    .name = "irqsrc",
    .help = "test: IRQ lines 0-15",
    .state_size = 8,
    .create = irqsrc_create,
};

/* A VM of machine "none" with @p mem bytes of RAM and the devices @p specs,
 * on the virtual clock; its vCPU 0 becomes the one the port helpers use. */
static inline struct v3_vm *dt_vm_mem(const char *const *specs, unsigned n, uint64_t mem)
{
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    int err = 0;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = mem;
    cfg.machine = "none";
    cfg.device_args = specs;
    cfg.num_device_args = n;
    cfg.clock = V3_CLOCK_VIRTUAL;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    dt_core = v3_get_core(vm, 0);
    return vm;
}

/* A VM of machine "none" with 1 MiB, the devices @p specs and the test's IRQ source. */
static inline struct v3_vm *dt_vm(const char *const *specs, unsigned n)
{
    struct v3_vm *vm = dt_vm_mem(specs, n, 1 << 20);

    assert_int_equal(v3_vm_add_device_ops(vm, &irqsrc_ops, NULL), 0);
    return vm;
}

/* The VM clock of the virtual-clock VM: @p ns nanoseconds since creation. */
static inline void dt_set_clock_ns(uint64_t ns)
{
    dt_core->insn_count = ns;
}

/* Set the level of the test device's line on ISA IRQ @p irq. */
static inline void dt_irq(struct v3_vm *vm, unsigned irq, int level)
{
    (void)vm;
    v3_irq_set(dt_lines[irq], level);
}

static inline uint32_t inp(uint16_t port, uint8_t size)
{
    struct v3_exit e = { .reason = V3_EXIT_IO };
    e.io.port = port;
    e.io.size = size;
    e.io.in = true;
    dt_core->gpr[V3_RAX] = 0;
    assert_int_equal(v3_handle_io_exit(dt_core, &e), 0);
    return (uint32_t)dt_core->gpr[V3_RAX];
}

static inline void outp(uint16_t port, uint8_t size, uint32_t v)
{
    struct v3_exit e = { .reason = V3_EXIT_IO };
    e.io.port = port;
    e.io.size = size;
    e.io.data = v;
    assert_int_equal(v3_handle_io_exit(dt_core, &e), 0);
}

static inline void outb(uint16_t port, uint8_t v)
{
    outp(port, 1, v);
}

static inline uint8_t inb(uint16_t port)
{
    return (uint8_t)inp(port, 1);
}

#endif
