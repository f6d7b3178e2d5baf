/* SPDX-License-Identifier: MIT */
/*
 * The small PC devices against their specifications, on a virtual VM clock
 * the test moves by hand: ACPI PM1 registers and PM timer (ACPI 6.4, 4.8),
 * S5 power-off and the 0xCF9 reset, the 8042 controller's commands, and
 * QEMU's fw_cfg items.
 */
#include "devtest.h"

static struct v3_vm *vm;

static void make(const char *dev, uint64_t mem)
{
    const char *devs[] = { dev };
    vm = dt_vm_mem(devs, 1, mem);
}

static void test_pm_timer(void **state)
{
    (void)state;
    make("acpi-pm", 1 << 20);
    dt_set_clock_ns(1000000000ull);
    assert_int_equal(inp(0x608, 4), 3579545);
    dt_set_clock_ns(5000000000ull);                   /* 17897725 ticks, 24 bits wide */
    assert_int_equal(inp(0x608, 4), 17897725 - (1 << 24));
    assert_int_equal(inp(0x60a, 1), ((17897725 - (1 << 24)) >> 16) & 0xff);
    /* TMR_STS: bit 23 toggled (at 2.34 s and 4.69 s); write 1 clears it */
    assert_int_equal(inp(0x600, 2) & 1, 1);
    outp(0x600, 2, 1);
    assert_int_equal(inp(0x600, 2) & 1, 0);
    dt_set_clock_ns(5500000000ull);
    assert_int_equal(inp(0x600, 2) & 1, 0);         /* no toggle since */
    /* SCI_EN reads 1; PM1_EN keeps the enable bits it has */
    assert_int_equal(inp(0x604, 2) & 1, 1);
    outp(0x602, 2, 0xffff);
    assert_int_equal(inp(0x602, 2), 0x0721);
    v3_free_vm(vm);
}

static void test_poweroff_and_reset(void **state)
{
    (void)state;
    make("acpi-pm", 1 << 20);
    outp(0x604, 2, (3u << 10) | (1u << 13));        /* S3: not modelled, ignored */
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_NONE);
    outp(0x604, 2, (5u << 10));                     /* SLP_TYP without SLP_EN */
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_NONE);
    assert_int_equal((inp(0x604, 2) >> 10) & 7, 5);
    outp(0x605, 1, (5u << 2) | 0x20);               /* byte write of the high half: S5 */
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_POWEROFF);
    vm->pending_stop = V3_STOP_NONE;
    outp(0xcf9, 1, 0x02);                           /* no reset without bit 2 */
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_NONE);
    outp(0xcf9, 1, 0x06);
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_RESET);
    v3_free_vm(vm);
}

static void test_i8042(void **state)
{
    (void)state;
    make("i8042", 1 << 20);
    assert_int_equal(inp(0x64, 1) & 1, 0);
    outp(0x64, 1, 0xaa);                            /* self-test */
    assert_int_equal(inp(0x64, 1) & 0x0d, 0x0d);    /* OBF, SYS, last write was a command */
    assert_int_equal(inp(0x60, 1), 0x55);
    assert_int_equal(inp(0x64, 1) & 1, 0);
    outp(0x64, 1, 0x20);
    assert_int_equal(inp(0x60, 1), 0x45);
    outp(0x64, 1, 0x60);
    outp(0x60, 1, 0x47);
    outp(0x64, 1, 0x20);
    assert_int_equal(inp(0x60, 1), 0x47);
    outp(0x60, 1, 0xff);                            /* keyboard reset */
    assert_int_equal(inp(0x60, 1), 0xfa);
    assert_int_equal(inp(0x60, 1), 0xaa);
    outp(0x64, 1, 0xd3);                            /* aux loopback */
    outp(0x60, 1, 0x5a);
    assert_int_equal(inp(0x64, 1) & 0x21, 0x21);
    assert_int_equal(inp(0x60, 1), 0x5a);
    outp(0x64, 1, 0xd4);                            /* no mouse */
    outp(0x60, 1, 0xff);
    assert_int_equal(inp(0x60, 1), 0xfe);
    outp(0x64, 1, 0xd0);
    assert_int_equal(inp(0x60, 1) & 3, 3);          /* reset high, A20 on */
    outp(0x64, 1, 0x12);                            /* unknown: logged, ignored */
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_NONE);
    outp(0x64, 1, 0xfe);                            /* pulse reset */
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_RESET);
    v3_free_vm(vm);
}

static void fw_select(uint16_t sel) { outp(0x510, 2, sel); }
static void fw_read(void *buf, unsigned n)
{
    uint8_t *b = buf;
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)inp(0x511, 1);
}

static void test_fw_cfg(void **state)
{
    char sig[5] = "";
    uint8_t b[64];
    uint64_t ram = 0;
    uint16_t cpus = 0;
    (void)state;
    make("fw-cfg", 5ull << 30);
    fw_select(0x0000);
    fw_read(sig, 4);
    assert_string_equal(sig, "QEMU");
    fw_read(b, 2);
    assert_int_equal(b[0] | b[1], 0);              /* past the end */
    fw_select(0x0001);
    fw_read(b, 4);
    assert_int_equal(b[0], 1);
    fw_select(0x0003);
    fw_read(&ram, 8);
    assert_int_equal(ram, 5ull << 30);
    fw_select(0x0005);
    fw_read(&cpus, 2);
    assert_int_equal(cpus, 1);
    fw_select(0x0019);
    fw_read(b, 4);
    assert_int_equal(b[3], 1);                     /* one file, big endian count */
    fw_read(b, 64);
    assert_int_equal(b[3], 40);                    /* etc/e820: two entries */
    assert_int_equal(b[4] << 8 | b[5], 0x20);
    assert_string_equal((char *)b + 8, "etc/e820");
    fw_select(0x20);
    {
        uint64_t e[5];
        fw_read(e, 40);
        /* 3 GiB below the hole, 2 GiB from 4 GiB (two 20-byte entries) */
        uint64_t a0, l0, a1, l1;
        uint32_t t0, t1;
        memcpy(&a0, (uint8_t *)e, 8);
        memcpy(&l0, (uint8_t *)e + 8, 8);
        memcpy(&t0, (uint8_t *)e + 16, 4);
        memcpy(&a1, (uint8_t *)e + 20, 8);
        memcpy(&l1, (uint8_t *)e + 28, 8);
        memcpy(&t1, (uint8_t *)e + 36, 4);
        assert_int_equal(a0, 0);
        assert_int_equal(l0, 3ull << 30);
        assert_int_equal(t0, 1);
        assert_int_equal(a1, 4ull << 30);
        assert_int_equal(l1, 2ull << 30);
        assert_int_equal(t1, 1);
    }
    fw_select(0x1234);                             /* unknown item: zeros */
    fw_read(b, 4);
    assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
    outp(0x511, 1, 0xaa);                           /* data port writes are ignored */
    v3_free_vm(vm);
}

/* FERR# raises IRQ 13 and stays up until port 0xF0 is written. */
static void test_fpu_err(void **state)
{
    struct v3_core *c;
    (void)state;
    make("fpu-err", 1 << 20);
    c = v3_get_core(vm, 0);
    assert_non_null(c->ferr);
    assert_int_equal(vm->dm.irq_count[13], 0);
    c->ferr(c, c->ferr_opaque);
    assert_int_equal(vm->dm.irq_count[13], 1);
    c->ferr(c, c->ferr_opaque);                    /* a second report: still one level */
    assert_int_equal(vm->dm.irq_count[13], 1);
    assert_int_equal(inp(0xf0, 1) & 0xff, 0xff);
    outp(0xf0, 1, 0);
    assert_int_equal(vm->dm.irq_count[13], 0);
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pm_timer),
        cmocka_unit_test(test_poweroff_and_reset),
        cmocka_unit_test(test_i8042),
        cmocka_unit_test(test_fw_cfg),
        cmocka_unit_test(test_fpu_err),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
