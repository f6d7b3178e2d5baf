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

/* ---- the PIT's owed ticks through IOAPIC pin 2 and the LAPIC ---- */

#define PIT_HZ 1193182ull

static void outb(uint16_t port, uint8_t v)
{
    struct v3_exit e = { .reason = V3_EXIT_IO };
    e.io.port = port;
    e.io.size = 1;
    e.io.data = v;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
}

/* First nanosecond of PIT clock @p t (128-bit arithmetic, independent of the device). */
static uint64_t tick_ns(uint64_t t)
{
    unsigned __int128 n = (unsigned __int128)t * 1000000000u;
    return (uint64_t)((n + PIT_HZ - 1) / PIT_HZ);
}

/* The vCPU loop at PIT clock @p t: due timers run; with @p take the guest
 * takes every interrupt (ack, EOI).  Returns the vector 0x30 interrupts taken. */
static unsigned loop_at(uint64_t t, bool take)
{
    unsigned n = 0;
    int v;

    core->insn_count = tick_ns(t);                  /* virtual clock: 1 ns per instruction */
    v3_devmodel_poll(vm, v3_vm_clock_ns(vm));
    while (take && (v = ack()) >= 0) {
        assert_int_equal(v, 0x30);
        mwr(0xfee000b0, 0);
        n++;
    }
    return n;
}

/* Counter 0 at ~1 kHz, IRQ 0 through IOAPIC pin 2 (edge, vector 0x30).  The
 * loop comes 10 periods late and the guest then keeps IF clear for most of
 * a period: every edge of the 8254's schedule still arrives as one
 * interrupt, because an owed one waits until the previous one was taken
 * (the LAPIC's IRR -> ISR, reported to the PIT through the IOAPIC). */
static void test_pit_owed_ticks_through_ioapic(void **state)
{
    struct v3_vm_config cfg;
    const char *devs[] = { "lapic", "ioapic", "pit" };
    const uint64_t s = 1, n = 1193, jump = s + 11 * n + 5;
    unsigned got = 0;
    int err = 0;
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1 << 20;
    cfg.machine = "none";
    cfg.device_args = devs;
    cfg.num_device_args = 3;
    cfg.clock = V3_CLOCK_VIRTUAL;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    core = v3_get_core(vm, 0);
    mwr(0xfee000f0, 0x1ff);
    io_wr(0x15, 0);
    io_wr(0x14, 0x30);                              /* pin 2: edge, fixed, vector 0x30, APIC 0 */
    outb(0x43, 0x34);                               /* counter 0, mode 2, at clock 0 */
    outb(0x40, (uint8_t)n);
    outb(0x40, (uint8_t)(n >> 8));
    for (uint64_t t = 0; t <= s + n + 10; t += 50)
        got += loop_at(t, true);
    assert_int_equal(got, 1);
    got += loop_at(jump, false);                    /* edges 2-11: one raised, 9 owed */
    for (uint64_t t = jump + 10; t < jump + 900; t += 10)
        got += loop_at(t, false);                   /* IF clear: nothing taken */
    assert_int_equal(got, 1);
    for (uint64_t t = jump + 900; t < s + 16 * n; t += 10)
        got += loop_at(t, true);
    assert_int_equal(got, 15);                      /* edges 1-15 */
    assert_int_equal(vm->dm.irq_taken[0], 15);
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
        cmocka_unit_test(test_pit_owed_ticks_through_ioapic),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
