/* SPDX-License-Identifier: MIT */
/*
 * The device model (v3/device.h, v3/irqchip.h): creation by name and
 * options, instance names, claims and their overlaps, the IRQ router with
 * deferred line changes and wired-OR sharing, deadlines on the VM clock
 * (virtual clock: exact), the vCPU taking interrupts through the ExtINT
 * operations, and a halted guest sleeping between timer ticks.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "../support/v3test.h"
#include "internal/vm.h"
#include "arch/system.h"

static struct v3_vm *vm_with(const char *machine, const char *const *devs, unsigned n, int clock, int *err)
{
    struct v3_vm_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1 << 20;
    cfg.machine = machine;
    cfg.device_args = devs;
    cfg.num_device_args = n;
    cfg.clock = clock;
    return v3_create_vm(&cfg, err);
}

static uint64_t port_in(struct v3_vm *vm, uint16_t port, unsigned size)
{
    struct v3_exit ex;
    struct v3_core *core = v3_get_core(vm, 0);

    memset(&ex, 0, sizeof(ex));
    ex.reason = V3_EXIT_IO;
    ex.io.port = port;
    ex.io.size = (uint8_t)size;
    ex.io.in = true;
    core->gpr[V3_RAX] = 0;
    assert_int_equal(v3_handle_io_exit(core, &ex), 0);
    return core->gpr[V3_RAX] & (size == 4 ? 0xffffffffull : (1ull << (8 * size)) - 1);
}

/* ---------------------------------------------------------------- creation */

static void test_names_and_options(void **state)
{
    const char *devs[] = { "uart", "uart,port=0x2f8,irq=3", "uart,port=0x3e8,irq=0x4,input=off" };
    struct v3_device_info in;
    int err;
    struct v3_vm *vm = vm_with("none", devs, 3, V3_CLOCK_REALTIME, &err);

    (void)state;
    assert_non_null(vm);
    assert_non_null(v3_vm_find_device(vm, "uart"));
    assert_non_null(v3_vm_find_device(vm, "uart-1"));
    assert_non_null(v3_vm_find_device(vm, "uart-2"));
    assert_null(v3_vm_find_device(vm, "uart-3"));
    assert_int_equal(v3_vm_device_info(vm, 1, &in), V3_OK);
    assert_string_equal(in.name, "uart-1");
    assert_string_equal(in.model, "uart");
    assert_int_equal(in.nio, 1);
    assert_int_equal(in.io[0].first, 0x2f8);
    assert_int_equal(in.io[0].last, 0x2ff);
    assert_int_equal(in.nirq, 1);
    assert_int_equal(in.irq[0], 3);
    assert_int_equal(v3_vm_device_info(vm, 3, &in), V3_ENOENT);
    /* the second UART answers on its port: LCR reads its reset value */
    assert_int_equal(port_in(vm, 0x2fb, 1), 0x03);
    v3_free_vm(vm);
}

static void test_create_errors(void **state)
{
    static const struct {
        const char *spec;
        int err;
    } cases[] = {
        { "nosuchdevice", V3_ENOENT },
        { "uart,port=0x2f8,bogus=1", V3_EINVAL },
        { "uart,port=zz", V3_EINVAL },
        { "uart,port=0x10000", V3_EINVAL },
        { "uart,port=0x2f8,irq=99", V3_EINVAL },
        { "uart,port=0x2f8,input=maybe", V3_EINVAL },
        { ",port=1", V3_EINVAL },
        { "uart,,", V3_EINVAL },
        { "debug-exit,port=0x3fc", V3_EOVERLAP },    /* inside the UART's 0x3f8-0x3ff */
        { "testdev", V3_EOVERLAP },                  /* a second test device page */
    };
    (void)state;
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *devs[] = { "uart", "testdev", cases[i].spec };
        long logs = v3t_error_logs();
        int err = 0;
        struct v3_vm *vm = vm_with("none", devs, 3, V3_CLOCK_REALTIME, &err);
        if (vm)
            fail_msg("'%s' was accepted", cases[i].spec);
        assert_int_equal(err, cases[i].err);
        assert_true(v3t_error_logs() > logs);
        assert_int_equal(v3t_outstanding(), 0);
    }
    {
        int err = 0;
        assert_null(vm_with("nosuchmachine", NULL, 0, V3_CLOCK_REALTIME, &err));
        assert_int_equal(err, V3_ENOENT);
        assert_null(vm_with("none", NULL, 0, 7, &err));
        assert_int_equal(err, V3_EINVAL);
    }
}

/* ---------------------------------------------------------------- the router */

struct pinlog {
    int n;
    char ev[64][16];
};
static struct pinlog plog;

static void chip_pic_pin(void *chip, unsigned pin, int level)
{
    (void)chip;
    snprintf(plog.ev[plog.n++ & 63], 16, "pic%u=%d", pin, level);
}
static void chip_io_pin(void *chip, unsigned pin, int level)
{
    (void)chip;
    snprintf(plog.ev[plog.n++ & 63], 16, "io%u=%d", pin, level);
}
static const struct v3_irqchip_ops fake_pic = { .set_pin = chip_pic_pin };
static const struct v3_irqchip_ops fake_ioapic = { .set_pin = chip_io_pin };

static int chips_create(struct v3_device *dev, struct v3_dev_args *args)
{
    int rc;
    (void)args;
    rc = v3_vm_set_irqchip(v3_dev_vm(dev), V3_IRQCHIP_PIC, &fake_pic, dev);
    if (rc == 0)
        rc = v3_vm_set_irqchip(v3_dev_vm(dev), V3_IRQCHIP_IOAPIC, &fake_ioapic, dev);
    return rc;
}
static const struct v3_device_ops chips_model = { .name = "fakechips", .create = chips_create };

struct src {
    struct v3_irq_line *l0, *l5, *l20;
};
static int src_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct src *s = v3_dev_state(dev);
    (void)args;
    s->l0 = v3_dev_irq(dev, 0);
    s->l5 = v3_dev_irq(dev, 5);
    s->l20 = v3_dev_irq(dev, 20);
    return s->l0 && s->l5 && s->l20 ? 0 : V3_ENOMEM;
}
static const struct v3_device_ops src_model = { .name = "src", .state_size = sizeof(struct src),
                                                .create = src_create };

static void expect_log(const char *const *want, int n)
{
    assert_int_equal(plog.n, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(plog.ev[i], want[i]);
    plog.n = 0;
}

static void test_router(void **state)
{
    struct v3_vm *vm = vm_with("none", NULL, 0, V3_CLOCK_REALTIME, NULL);
    struct v3_device *a, *b;
    struct src *sa, *sb;

    (void)state;
    assert_non_null(vm);
    assert_int_equal(v3_vm_add_device_ops(vm, &chips_model, NULL), V3_OK);
    assert_int_equal(v3_vm_add_device_ops(vm, &chips_model, NULL), V3_EEXIST);   /* one PIC per VM */
    assert_int_equal(v3_vm_add_device_ops(vm, &src_model, NULL), V3_OK);
    assert_int_equal(v3_vm_add_device_ops(vm, &src_model, "x=1"), V3_EINVAL);    /* unknown option */
    assert_int_equal(v3_vm_add_device_ops(vm, &src_model, NULL), V3_OK);
    a = v3_vm_find_device(vm, "src");
    b = v3_vm_find_device(vm, "src-1");
    assert_non_null(a);
    assert_non_null(b);
    sa = v3_dev_state(a);
    sb = v3_dev_state(b);
    plog.n = 0;

    /* outside the device lock: at once; IRQ 0 goes to PIC pin 0 and IOAPIC pin 2 */
    v3_irq_set(sa->l0, 1);
    expect_log((const char *[]){ "pic0=1", "io2=1" }, 2);
    v3_irq_set(sa->l0, 1);                              /* no change, no call */
    expect_log(NULL, 0);
    v3_irq_set(sa->l0, 0);
    expect_log((const char *[]){ "pic0=0", "io2=0" }, 2);

    /* IRQ 20: IOAPIC only */
    v3_irq_pulse(sa->l20);
    expect_log((const char *[]){ "io20=1", "io20=0" }, 2);

    /* under the lock: nothing until the unlock, then the edge and the final level */
    v3_dev_lock(a);
    v3_irq_set(sa->l5, 1);
    v3_irq_set(sa->l5, 0);
    expect_log(NULL, 0);
    v3_dev_unlock(a);
    expect_log((const char *[]){ "pic5=1", "io5=1", "pic5=0", "io5=0" }, 4);
    v3_dev_lock(a);
    v3_irq_set(sa->l5, 0);                              /* low to low: nothing */
    v3_dev_unlock(a);
    expect_log(NULL, 0);

    /* wired OR: the pin drops only when the last source does */
    v3_irq_set(sa->l5, 1);
    v3_irq_set(sb->l5, 1);
    expect_log((const char *[]){ "pic5=1", "io5=1" }, 2);
    v3_irq_set(sa->l5, 0);
    expect_log(NULL, 0);
    v3_irq_pulse(sa->l5);                               /* an edge hidden by the other source */
    expect_log(NULL, 0);
    v3_irq_set(sb->l5, 0);
    expect_log((const char *[]){ "pic5=0", "io5=0" }, 2);

    /* freeing a device drops its asserted lines */
    v3_irq_set(sb->l20, 1);
    expect_log((const char *[]){ "io20=1" }, 1);
    v3_free_vm(vm);
    assert_int_equal(v3t_outstanding(), 0);
}

/* ---------------------------------------------------------------- deadlines and interrupts */

/* A timer device: a deadline every `period` ns; counts its calls; asks the VM to stop
 * after `stop` ticks.  With `intr=1` it raises an ExtINT (vector 0x20) at each tick. */
struct ticker {
    uint64_t period, next, stop, ticks, last_now, acks;
    int pending, intr;
};

static bool tk_intr(void *p)
{
    struct v3_device *d = p;
    struct ticker *t = v3_dev_state(d);
    return __atomic_load_n(&t->pending, __ATOMIC_SEQ_CST) != 0;
}
static uint8_t tk_ack(void *p)
{
    struct v3_device *d = p;
    struct ticker *t = v3_dev_state(d);
    __atomic_store_n(&t->pending, 0, __ATOMIC_SEQ_CST);
    t->acks++;
    return 0x20;
}
static const struct v3_extint_ops tk_extint = { .intr = tk_intr, .ack = tk_ack };

static int tk_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct ticker *t = v3_dev_state(dev);
    uint64_t intr = 0;
    if (v3_dev_arg_u64(args, "period", &t->period) != 1 || v3_dev_arg_u64(args, "stop", &t->stop) != 1 ||
        v3_dev_arg_u64(args, "intr", &intr) < 0)
        return V3_EINVAL;
    t->intr = (int)intr;
    t->next = t->period;
    return t->intr ? v3_vm_set_extint(v3_dev_vm(dev), &tk_extint, dev) : 0;
}
static uint64_t tk_deadline(struct v3_device *dev)
{
    struct ticker *t = v3_dev_state(dev);
    return t->ticks >= t->stop ? V3_NO_DEADLINE : t->next;
}
static void tk_timer(struct v3_device *dev, uint64_t now)
{
    struct ticker *t = v3_dev_state(dev);
    t->ticks++;
    t->last_now = now;
    t->next += t->period;
    if (t->intr) {
        __atomic_store_n(&t->pending, 1, __ATOMIC_SEQ_CST);
        v3_vm_extint_changed(v3_dev_vm(dev));
    }
    if (t->ticks == t->stop)
        v3_vm_request_stop(v3_dev_vm(dev), V3_STOP_DEBUG_EXIT, 77);
}
static const struct v3_device_ops ticker_model = { .name = "ticker", .state_size = sizeof(struct ticker),
                                                   .create = tk_create, .deadline = tk_deadline,
                                                   .timer = tk_timer };

static struct v3_vm *real_mode_vm(int clock, const uint8_t *code, size_t len, const char *ticker_opts)
{
    struct v3_vm *vm = vm_with("none", NULL, 0, clock, NULL);
    assert_non_null(vm);
    assert_int_equal(v3_vm_add_device_ops(vm, &ticker_model, ticker_opts), V3_OK);
    assert_int_equal(v3_load_flat(vm, code, len, 0x1000, 0x1000, V3_FLAT_REAL), V3_OK);
    return vm;
}

/* Virtual clock: 1 ns per instruction, so the 5th deadline of a 1000 ns ticker
 * arrives exactly after 5000 instructions of a tight loop. */
static void test_virtual_deadline_exact(void **state)
{
    static const uint8_t loop[] = { 0x40, 0xeb, 0xfd };         /* inc ax; jmp $-1 */
    struct v3_vm_result res;
    uint64_t n1;
    struct v3_vm *vm;

    (void)state;
    for (int run = 0; run < 2; run++) {
        struct ticker *t;
        vm = real_mode_vm(V3_CLOCK_VIRTUAL, loop, sizeof(loop), "period=1000,stop=5");
        t = v3_dev_state(v3_vm_find_device(vm, "ticker"));
        assert_int_equal(v3_run_vm(vm, &res), V3_OK);
        assert_int_equal(res.reason, V3_STOP_DEBUG_EXIT);
        assert_int_equal(res.exit_code, 77);
        assert_int_equal(t->ticks, 5);
        assert_int_equal(t->last_now, 5000);
        assert_int_equal(v3_get_core(vm, 0)->insn_count, 5000);
        /* the TSC runs from the VM clock at 2 GHz: 5000 ns -> 10000 ticks (the wiring survives resets) */
        assert_non_null(v3_get_core(vm, 0)->clock);
        assert_int_equal(v3_cpu_read_tsc(v3_get_core(vm, 0)), 10000);
        {
            /* the guest can learn that frequency: leaf 0x15 (crystal * EBX / EAX), 0x16 (MHz)
               and the hypervisor timing leaf 0x40000010 (kHz) */
            uint32_t r[4];
            struct v3_core *c = v3_get_core(vm, 0);
            v3_cpu_cpuid(c, 0x15, 0, r);
            assert_int_equal((uint64_t)r[2] * r[1] / r[0], 2000000000ull);
            v3_cpu_cpuid(c, 0x16, 0, r);
            assert_int_equal(r[0], 2000);
            v3_cpu_cpuid(c, 0x40000000, 0, r);
            assert_int_equal(r[0], 0x40000010);
            assert_memory_equal(&r[1], "V3VM", 4);
            v3_cpu_cpuid(c, 0x40000010, 0, r);
            assert_int_equal(r[0], 2000000);
            assert_int_equal(r[1], 1000000);
        }
        if (run == 0)
            n1 = v3_get_core(vm, 0)->gpr[V3_RAX];
        else
            assert_int_equal(v3_get_core(vm, 0)->gpr[V3_RAX], n1);   /* same run twice */
        v3_free_vm(vm);
    }
}

/* The TSC follows the VM clock at 2 GHz (2 ticks per ns of the virtual clock's
 * 1 ns per instruction), not the instruction count: RDTSC in a loop stopped by
 * the ticker after 5000 instructions last read about 2 * 5000. */
static void test_tsc_follows_clock(void **state)
{
    static const uint8_t loop[] = { 0x0f, 0x31, 0xeb, 0xfc };   /* rdtsc; jmp $-2 */
    struct v3_vm_result res;
    struct v3_vm *vm;
    uint64_t tsc;

    (void)state;
    vm = real_mode_vm(V3_CLOCK_VIRTUAL, loop, sizeof(loop), "period=1000,stop=5");
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_DEBUG_EXIT);
    tsc = (uint32_t)v3_get_core(vm, 0)->gpr[V3_RAX];
    assert_true(tsc >= 2 * 4990 && tsc <= 2 * 5000);
    v3_free_vm(vm);
}

/* real mode: IVT[0x20] -> 0000:1100 (IRET after counting in BX); the main loop halts */
static const uint8_t halt_guest[] = {
    0xfb,                   /* 1000: sti */
    0xf4,                   /* 1001: hlt */
    0xeb, 0xfd,             /* 1002: jmp 1001 */
};
static const uint8_t handler[] = { 0x43, 0xcf };                 /* inc bx; iret */

static void install_handler(struct v3_vm *vm)
{
    uint8_t ivt[4] = { 0x00, 0x11, 0x00, 0x00 };
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x20 * 4, 4, ivt), 4);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x1100, sizeof(handler), handler),
                     (int)sizeof(handler));
}

/* A halted vCPU in virtual time: the clock jumps to each deadline, the ExtINT is
 * taken through the interrupt window, the handler runs once per tick. */
static void test_virtual_hlt_interrupts(void **state)
{
    struct v3_vm_result res;
    struct v3_vm *vm = real_mode_vm(V3_CLOCK_VIRTUAL, halt_guest, sizeof(halt_guest),
                                    "period=1000000,stop=20,intr=1");
    struct ticker *t = v3_dev_state(v3_vm_find_device(vm, "ticker"));

    (void)state;
    install_handler(vm);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_DEBUG_EXIT);
    assert_int_equal(t->ticks, 20);
    assert_int_equal(t->last_now, 20000000);            /* 20 ms of virtual time */
    assert_int_equal(t->acks, 19);                      /* the 20th stopped the VM first */
    assert_false(tk_intr(v3_vm_find_device(vm, "ticker")) == false);   /* ...and stays pending */
    assert_int_equal(v3_get_core(vm, 0)->gpr[V3_RBX] & 0xffff, 19);
    assert_true(v3_get_core(vm, 0)->insn_count < 200);  /* it slept, it did not spin */
    v3_free_vm(vm);
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Realtime: a halted guest with a 100 Hz timer interrupt sleeps between ticks:
 * under 2% of one host CPU over half a second. */
static void test_realtime_hlt_cpu(void **state)
{
    struct v3_vm_result res;
    struct v3_vm *vm = real_mode_vm(V3_CLOCK_REALTIME, halt_guest, sizeof(halt_guest),
                                    "period=10000000,stop=50,intr=1");
    struct ticker *t = v3_dev_state(v3_vm_find_device(vm, "ticker"));
    double c0, w0, cpu, wall;

    (void)state;
    install_handler(vm);
    c0 = thread_cpu_s();
    w0 = mono_s();
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    cpu = thread_cpu_s() - c0;
    wall = mono_s() - w0;
    assert_int_equal(res.reason, V3_STOP_DEBUG_EXIT);
    assert_int_equal(t->ticks, 50);
    /* each tick raises the request; on a loaded host two ticks may meet one request */
    assert_true((v3_get_core(vm, 0)->gpr[V3_RBX] & 0xffff) >= 25);
    assert_int_equal(v3_get_core(vm, 0)->gpr[V3_RBX] & 0xffff, t->acks);
    print_message("halted guest, 100 Hz timer: %.2f%% of one CPU over %.3f s\n", 100 * cpu / wall, wall);
    assert_true(wall >= 0.4);                   /* the clock started at creation, before the run */
    assert_true(cpu < 0.02 * wall);
    v3_free_vm(vm);
}

/* -machine pc with 5 GiB: 3 GiB below the device window, 2 GiB from 4 GiB; -machine none keeps one run. */
static void test_pc_ram_hole(void **state)
{
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    uint32_t v = 0x12345678, r = 0;
    int err;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 5ull << 30;
    cfg.machine = "pc";
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(v3_mem_size(vm), 3ull << 30);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, (4ull << 30) + 0x1000, 4, &v), 4);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, (4ull << 30) + 0x1000, 4, &r), 4);
    assert_int_equal(r, v);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, (6ull << 30) + 0x1000, 4, &r), V3_EUNMAPPED);
    assert_true(v3_read_gpa_memory(vm, NULL, 0xc0000000ull, 4, &r) < 0);
    v3_free_vm(vm);

    cfg.machine = "none";
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(v3_mem_size(vm), 5ull << 30);
    v3_free_vm(vm);
    assert_int_equal(v3t_outstanding(), 0);
}

/* CPUID topology of a 4-vCPU VM: leaf 1 (APIC ID, count, HTT), leaf 0xB, AMD 0x80000008 ECX. */
static void test_cpuid_topology(void **state)
{
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    uint32_t r[4];
    struct v3_core *c;
    int err;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1 << 20;
    cfg.num_cores = 4;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    c = v3_get_core(vm, 2);
    v3_cpu_cpuid(c, 1, 0, r);
    assert_int_equal(r[1] >> 24, 2);
    assert_int_equal((r[1] >> 16) & 0xff, 4);
    assert_true(r[3] & (1u << 28));
    v3_cpu_cpuid(c, 0xb, 0, r);
    assert_int_equal(r[1], 1);
    assert_int_equal(r[2], 1u << 8);
    assert_int_equal(r[3], 2);
    v3_cpu_cpuid(c, 0xb, 1, r);
    assert_int_equal(r[0], 2);                          /* shift: 4 vCPUs need 2 ID bits */
    assert_int_equal(r[1], 4);
    assert_int_equal(r[2], 1u | (2u << 8));
    assert_int_equal(r[3], 2);
    v3_cpu_cpuid(c, 0xb, 2, r);
    assert_int_equal(r[0] | r[1], 0);
    assert_int_equal(r[2], 2);                          /* level 2: invalid type */
    v3_cpu_cpuid(c, 0x80000008u, 0, r);
    assert_int_equal(r[2], (2u << 12) | 3);
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_options),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_router),
        cmocka_unit_test(test_virtual_deadline_exact),
        cmocka_unit_test(test_virtual_hlt_interrupts),
        cmocka_unit_test(test_tsc_follows_clock),
        cmocka_unit_test(test_realtime_hlt_cpu),
        cmocka_unit_test(test_pc_ram_hole),
        cmocka_unit_test(test_cpuid_topology),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
