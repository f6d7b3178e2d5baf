/* SPDX-License-Identifier: MIT */
/*
 * The LAPIC and IOAPIC models inside a real VM: created by name, reached
 * through guest-physical MMIO (the VM's claims and device locks), an IRQ line
 * through the VM's router to the IOAPIC, a message to the LAPIC, the vCPU's
 * view through v3_lapic_ops, EOI broadcast back to the IOAPIC (SDM vol. 3
 * 10.8.5; 82093AA Remote IRR).
 */
#include <string.h>
#include "v3test.h"
#include "internal/vm.h"
#include <v3/device.h>
#include <v3/irqchip.h>
#include <v3/mem.h>

static struct v3_irq_line *line5;

static int src_create(struct v3_device *dev, struct v3_dev_args *args)
{
    (void)args;
    line5 = v3_dev_irq(dev, 5);
    return line5 ? 0 : V3_ENOMEM;
}

static const struct v3_device_ops src_model = {
    .name = "irqsrc", .help = "test IRQ 5 source", .state_size = 8, .create = src_create,
};

static struct v3_vm *vm;
static struct v3_core *core;

static uint32_t mrd(uint64_t gpa)
{
    uint32_t v = 0;
    assert_int_equal(v3_read_gpa_memory(vm, core, gpa, 4, &v), 4);
    return v;
}

static void mwr(uint64_t gpa, uint32_t v)
{
    assert_int_equal(v3_write_gpa_memory(vm, core, gpa, 4, &v), 4);
}

static void io_wr(uint32_t reg, uint32_t v)
{
    mwr(0xfec00000, reg);
    mwr(0xfec00010, v);
}

static uint32_t io_rd(uint32_t reg)
{
    mwr(0xfec00000, reg);
    return mrd(0xfec00010);
}

static int pending(void) { return vm->dm.lapic_ops->pending(vm->dm.lapic, core); }
static int ack(void) { return vm->dm.lapic_ops->ack(vm->dm.lapic, core); }

static void test_level_through_router(void **state)
{
    struct v3_vm_config cfg;
    const char *devs[] = { "lapic", "ioapic" };
    int err = 0;
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1 << 20;
    cfg.machine = "none";
    cfg.device_args = devs;
    cfg.num_device_args = 2;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    core = v3_get_core(vm, 0);
    assert_int_equal(v3_vm_add_device_ops(vm, &src_model, NULL), V3_OK);
    assert_non_null(v3_vm_find_device(vm, "lapic"));

    assert_int_equal(mrd(0xfee00030), 0x00050014);
    assert_int_equal(io_rd(1), 0x00170011);
    mwr(0xfee000f0, 0x1ff);                         /* software enable */
    io_wr(0x1a, 0x8065);                            /* pin 5: level, vector 0x65, dest 0 */
    io_wr(0x1b, 0);
    assert_int_equal(pending(), -1);

    v3_irq_set(line5, 1);
    assert_int_equal(pending(), 0x65);
    assert_int_equal(io_rd(0x1a) & 0x4000, 0x4000); /* Remote IRR */
    assert_int_equal(ack(), 0x65);
    assert_int_equal(mrd(0xfee00180 + 0x30) & (1u << 5), 1u << 5);   /* TMR */
    mwr(0xfee000b0, 0);                             /* EOI: line still high -> again */
    assert_int_equal(pending(), 0x65);
    assert_int_equal(io_rd(0x1a) & 0x4000, 0x4000);
    assert_int_equal(ack(), 0x65);
    v3_irq_set(line5, 0);
    mwr(0xfee000b0, 0);
    assert_int_equal(io_rd(0x1a) & 0x4000, 0);
    assert_int_equal(pending(), -1);

    /* masked while asserted: delivered on unmask */
    io_wr(0x1a, 0x18065);
    v3_irq_set(line5, 1);
    assert_int_equal(pending(), -1);
    io_wr(0x1a, 0x08065);
    assert_int_equal(pending(), 0x65);
    v3_free_vm(vm);
    vm = NULL;
}

static void test_pc_machine_has_them(void **state)
{
    bool l = false, i = false;
    (void)state;
    for (const struct v3_device_ops *const *m = v3_device_models(); *m; m++) {
        l |= !strcmp((*m)->name, "lapic");
        i |= !strcmp((*m)->name, "ioapic");
    }
    assert_true(l && i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_through_router),
        cmocka_unit_test(test_pc_machine_has_them),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
