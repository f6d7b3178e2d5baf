/* SPDX-License-Identifier: MIT */
/* Devices: 16550A UART registers, debug-exit port, VGA text memory, the test device. */
#include "fakecpu.h"
#include "internal/vm.h"
#include <v3/devices.h>
#include <v3/hypercall.h>
#include <v3/mem.h>
#include <v3/paging.h>

#define MB (1ull << 20)

static struct v3_core *C;

static uint32_t inp(uint16_t port, uint8_t size)
{
    struct v3_exit e = { .reason = V3_EXIT_IO };
    e.io.port = port;
    e.io.size = size;
    e.io.in = true;
    C->gpr[V3_RAX] = 0;
    assert_int_equal(v3_handle_io_exit(C, &e), 0);
    return (uint32_t)C->gpr[V3_RAX];
}

static void outp(uint16_t port, uint8_t size, uint32_t v)
{
    struct v3_exit e = { .reason = V3_EXIT_IO };
    e.io.port = port;
    e.io.size = size;
    e.io.data = v;
    assert_int_equal(v3_handle_io_exit(C, &e), 0);
}

/* serial sink/source */
static char out_buf[256];
static int out_n;
static const char *in_src;
static int in_polls;

static void sink(void *priv, uint8_t b)
{
    assert_ptr_equal(priv, &out_n);
    if (out_n < (int)sizeof(out_buf))
        out_buf[out_n++] = (char)b;
}

static int source(void *priv, uint8_t *b)
{
    in_polls++;
    if (!in_src || !*in_src)
        return 0;
    *b = (uint8_t)*in_src++;
    return 1;
}

static struct v3_vm *uart_vm(void)
{
    struct v3_serial_io io = { .output = sink, .input = source, .priv = &out_n };
    struct v3_vm *vm;

    fake_load(NULL, 0);
    vm = fake_vm(MB, V3_DEV_UART, &io);
    C = v3_get_core(vm, 0);
    out_n = 0;
    in_src = NULL;
    in_polls = 0;
    return vm;
}

#define COM1 0x3f8

static void test_uart_tx_lsr(void **state)
{
    struct v3_vm *vm = uart_vm();

    assert_int_equal(inp(COM1 + 5, 1), 0x60);       /* THRE | TEMT, no data */
    outp(COM1, 1, 'O');
    outp(COM1, 1, 'K');
    assert_int_equal(out_n, 2);
    assert_memory_equal(out_buf, "OK", 2);
    assert_int_equal(inp(COM1 + 5, 1), 0x60);
    assert_int_equal(inp(COM1 + 6, 1), 0xb0);       /* DCD | DSR | CTS */
    assert_int_equal(v3_io_port_calls(vm, COM1), 2);
    v3_free_vm(vm);
}

static void test_uart_divisor_latch(void **state)
{
    struct v3_vm *vm = uart_vm();

    outp(COM1 + 1, 1, 0x05);                        /* IER */
    outp(COM1 + 3, 1, 0x83);                        /* DLAB */
    assert_int_equal(inp(COM1 + 3, 1), 0x83);
    outp(COM1, 1, 0x01);                            /* DLL: not transmitted */
    outp(COM1 + 1, 1, 0x02);                        /* DLM: not IER */
    assert_int_equal(inp(COM1, 1), 0x01);
    assert_int_equal(inp(COM1 + 1, 1), 0x02);
    assert_int_equal(out_n, 0);
    outp(COM1 + 3, 1, 0x03);
    assert_int_equal(inp(COM1 + 1, 1), 0x05);       /* IER kept */
    outp(COM1 + 1, 1, 0xff);
    assert_int_equal(inp(COM1 + 1, 1), 0x0f);       /* 4 bits */
    outp(COM1 + 4, 1, 0xff);
    assert_int_equal(inp(COM1 + 4, 1), 0x1f);       /* 5 bits */
    outp(COM1 + 7, 1, 0x5a);
    assert_int_equal(inp(COM1 + 7, 1), 0x5a);       /* scratch */
    outp(COM1 + 5, 1, 0x00);                        /* LSR read-only */
    assert_int_equal(inp(COM1 + 5, 1) & 0x60, 0x60);
    v3_free_vm(vm);
}

static void test_uart_iir(void **state)
{
    struct v3_vm *vm = uart_vm();

    assert_int_equal(inp(COM1 + 2, 1), 0x01);       /* no FIFO, nothing pending */
    outp(COM1 + 2, 1, 0x07);                        /* FIFO on */
    assert_int_equal(inp(COM1 + 2, 1), 0xc1);
    outp(COM1 + 1, 1, 0x02);                        /* ETBEI: THR empty is pending */
    assert_int_equal(inp(COM1 + 2, 1), 0xc2);
    assert_int_equal(inp(COM1 + 2, 1), 0xc1);       /* acknowledged by reading IIR */
    outp(COM1, 1, 'x');
    assert_int_equal(inp(COM1 + 2, 1), 0xc2);
    in_src = "z";
    outp(COM1 + 1, 1, 0x03);                        /* + ERBFI */
    assert_int_equal(inp(COM1 + 2, 1), 0xc4);       /* data available ranks first */
    assert_int_equal(inp(COM1, 1), 'z');
    outp(COM1 + 2, 1, 0x00);
    assert_int_equal(inp(COM1 + 2, 1) & 0xc0, 0);
    v3_free_vm(vm);
}

static void test_uart_rx(void **state)
{
    struct v3_vm *vm = uart_vm();

    in_src = "ab";
    assert_int_equal(inp(COM1 + 5, 1), 0x61);
    assert_int_equal(inp(COM1, 1), 'a');
    assert_int_equal(inp(COM1 + 5, 1), 0x61);
    assert_int_equal(inp(COM1, 1), 'b');
    assert_int_equal(inp(COM1 + 5, 1), 0x60);
    assert_int_equal(inp(COM1, 1), 0);              /* empty RBR */
    assert_true(in_polls >= 3);
    /* FCR bit 1 clears the receive FIFO */
    in_src = "c";
    assert_int_equal(inp(COM1 + 5, 1), 0x61);
    outp(COM1 + 2, 1, 0x03);
    in_src = NULL;
    assert_int_equal(inp(COM1 + 5, 1), 0x60);
    /* so does a change of FIFO mode (FCR bit 0), without bit 1 */
    in_src = "d";
    assert_int_equal(inp(COM1 + 5, 1), 0x61);
    outp(COM1 + 2, 1, 0x00);
    in_src = NULL;
    assert_int_equal(inp(COM1 + 5, 1), 0x60);
    in_src = "e";
    assert_int_equal(inp(COM1 + 5, 1), 0x61);
    outp(COM1 + 2, 1, 0x00);                        /* no change: kept */
    assert_int_equal(inp(COM1 + 5, 1), 0x61);
    assert_int_equal(inp(COM1, 1), 'e');
    v3_free_vm(vm);
}

static void test_uart_loopback(void **state)
{
    struct v3_vm *vm = uart_vm();

    outp(COM1 + 4, 1, 0x10 | 0x0b);                 /* loop | OUT2 | RTS | DTR */
    assert_int_equal(inp(COM1 + 6, 1), 0x80 | 0x10 | 0x20);  /* DCD, CTS, DSR */
    outp(COM1 + 4, 1, 0x10 | 0x04);                 /* loop | OUT1 */
    /* RI; CTS, DSR and DCD dropped: their delta bits (0-1, 3) are set until MSR is read */
    assert_int_equal(inp(COM1 + 6, 1), 0x40 | 0x0b);
    assert_int_equal(inp(COM1 + 6, 1), 0x40);
    in_src = "no";                                   /* not polled in loopback */
    outp(COM1, 1, 0xa5);
    assert_int_equal(out_n, 0);
    assert_int_equal(inp(COM1 + 5, 1), 0x61);
    assert_int_equal(inp(COM1, 1), 0xa5);
    assert_int_equal(inp(COM1 + 5, 1), 0x60);
    assert_int_equal(in_polls, 0);
    v3_free_vm(vm);
}

static void test_uart_no_sink(void **state)
{
    struct v3_vm *vm;

    fake_load(NULL, 0);
    vm = fake_vm(MB, V3_DEV_UART, NULL);             /* -serial none */
    C = v3_get_core(vm, 0);
    outp(COM1, 1, 'x');
    assert_int_equal(inp(COM1 + 5, 1), 0x60);
    assert_int_equal(inp(COM1, 1), 0);
    v3_free_vm(vm);
}

static void test_debug_exit_reads(void **state)
{
    struct v3_vm *vm;

    fake_load(NULL, 0);
    vm = fake_vm(MB, V3_DEV_DEBUG_EXIT, NULL);
    C = v3_get_core(vm, 0);
    assert_int_equal(inp(0xf4, 4), 0);
    assert_int_equal(inp(0xf7, 1), 0);
    assert_int_equal(inp(0xf8, 1), 0xff);            /* not part of it */
    outp(0xf6, 4, 0x7f);
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_DEBUG_EXIT);
    assert_int_equal((int)(vm->pending_stop >> 32), 0xff);
    v3_free_vm(vm);
}

static void test_vga(void **state)
{
    struct v3_vm *vm;
    char screen[V3_VGA_ROWS * (V3_VGA_COLS + 1) + 1];
    char small[100];
    uint8_t back[8];

    fake_load(NULL, 0);
    vm = fake_vm(MB, V3_DEV_VGA_TEXT, NULL);
    assert_int_equal(v3_vga_render(vm, screen, sizeof(screen)), V3_VGA_ROWS * (V3_VGA_COLS + 1));
    assert_int_equal(screen[0], ' ');
    assert_int_equal(v3_vga_cells_changed(vm), 0);

    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_VGA_TEXT_BASE, 6, "H\x1fi\x1f!\x1f"), 6);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, V3_VGA_TEXT_BASE, 6, back), 6);
    assert_memory_equal(back, "H\x1fi\x1f!\x1f", 6);
    assert_int_equal(v3_vga_cells_changed(vm), 3);
    /* second row, last column; a control character renders as '.' */
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_VGA_TEXT_BASE + 2 * (80 + 79), 1, "Z"), 1);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_VGA_TEXT_BASE + 2 * 3, 1, "\x01"), 1);
    /* same character again: no change */
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_VGA_TEXT_BASE, 1, "H"), 1);
    assert_int_equal(v3_vga_cells_changed(vm), 5);
    /* beyond the 80x25 screen: memory only */
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_VGA_TEXT_BASE + 4000, 2, "Q\x07"), 2);
    assert_int_equal(v3_vga_cells_changed(vm), 5);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, V3_VGA_TEXT_BASE + 4000, 1, back), 1);
    assert_int_equal(back[0], 'Q');

    assert_int_equal(v3_vga_render(vm, screen, sizeof(screen)), V3_VGA_ROWS * (V3_VGA_COLS + 1));
    assert_memory_equal(screen, "Hi!.  ", 6);
    assert_int_equal(screen[80], '\n');
    assert_int_equal(screen[81 + 79], 'Z');
    assert_int_equal(screen[81 + 80], '\n');
    assert_int_equal(strlen(screen), V3_VGA_ROWS * (V3_VGA_COLS + 1));
    assert_int_equal(v3_vga_render(vm, small, sizeof(small)), V3_EINVAL);

    /* the region counts its hook calls */
    struct v3_mem_region *r = v3_get_shadow_region(vm, V3_VGA_TEXT_BASE);
    assert_non_null(r);
    assert_int_equal(r->type, V3_REGION_WRITE_HOOK);
    assert_true(r->hook_calls >= 5);
    v3_free_vm(vm);

    fake_load(NULL, 0);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_vga_render(vm, screen, sizeof(screen)), V3_ENOENT);
    unsigned row, col;
    assert_int_equal(v3_vga_cursor(vm, &row, &col), V3_ENOENT);
    v3_free_vm(vm);
}

static void test_vga_crtc(void **state)
{
    struct v3_vm *vm;
    unsigned row = 99, col = 99;

    fake_load(NULL, 0);
    vm = fake_vm(MB, V3_DEV_VGA_TEXT, NULL);
    C = v3_get_core(vm, 0);
    assert_int_equal(v3_vga_cursor(vm, &row, &col), V3_OK);
    assert_int_equal(row, 0);
    assert_int_equal(col, 0);
    /* cursor to row 3, column 5 (position 245 = 0x00f5), byte and word writes */
    outp(0x3d4, 1, 0x0f);
    outp(0x3d5, 1, 0xf5);
    outp(0x3d4, 2, 0x000e);                         /* index 0x0e, data 0x00 */
    assert_int_equal(v3_vga_cursor(vm, &row, &col), V3_OK);
    assert_int_equal(row, 3);
    assert_int_equal(col, 5);
    assert_int_equal(inp(0x3d4, 1), 0x0e);
    assert_int_equal(inp(0x3d5, 1), 0x00);
    outp(0x3d4, 1, 0x0a);
    assert_int_equal(inp(0x3d5, 1), 0x0d);          /* cursor start after reset */
    outp(0x3d4, 1, 0x40);                            /* no such register */
    assert_int_equal(inp(0x3d5, 1), 0xff);
    outp(0x3d5, 1, 0x12);                            /* ignored */
    assert_int_equal(v3_vga_cursor(NULL, &row, &col), V3_EINVAL);
    v3_free_vm(vm);
}

static uint32_t rd32(struct v3_vm *vm, uint64_t off)
{
    uint32_t v = 0;
    assert_int_equal(v3_read_gpa_memory(vm, NULL, V3_TESTDEV_BASE + off, 4, &v), 4);
    return v;
}

static void test_testdev(void **state)
{
    struct v3_vm *vm;
    uint64_t q = 0;
    uint8_t b;
    uint32_t v;

    fake_load(NULL, 0);
    vm = fake_vm(MB, V3_DEV_TESTDEV, NULL);
    C = v3_get_core(vm, 0);
    assert_int_equal(rd32(vm, V3_TESTDEV_ID), V3_TESTDEV_MAGIC);
    assert_int_equal(rd32(vm, V3_TESTDEV_VERSION), 1);
    assert_int_equal(rd32(vm, V3_TESTDEV_READS), 2);         /* reads before this one */
    assert_int_equal(rd32(vm, V3_TESTDEV_READS), 3);
    assert_int_equal(rd32(vm, V3_TESTDEV_WRITES), 0);
    v = 0xcafebabe;
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_TESTDEV_BASE + V3_TESTDEV_ECHO, 4, &v), 4);
    assert_int_equal(rd32(vm, V3_TESTDEV_ECHO), 0xcafebabe);
    assert_int_equal(rd32(vm, V3_TESTDEV_ECHO_NOT), 0x35014541);
    assert_int_equal(rd32(vm, V3_TESTDEV_ECHO_NOT + 4), 0xffffffff);
    b = 0;
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_TESTDEV_BASE + V3_TESTDEV_ECHO + 1, 1, &b), 1);
    assert_int_equal(rd32(vm, V3_TESTDEV_ECHO), 0xcafe00be);
    q = 0x0123456789abcdefull;
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_TESTDEV_BASE + V3_TESTDEV_ECHO, 8, &q), 8);
    q = 0;
    assert_int_equal(v3_read_gpa_memory(vm, NULL, V3_TESTDEV_BASE + V3_TESTDEV_ECHO, 8, &q), 8);
    assert_int_equal(q, 0x0123456789abcdefull);
    /* writes to read-only registers are counted and ignored */
    v = 0;
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_TESTDEV_BASE + V3_TESTDEV_ID, 4, &v), 4);
    assert_int_equal(rd32(vm, V3_TESTDEV_ID), V3_TESTDEV_MAGIC);
    assert_int_equal(rd32(vm, V3_TESTDEV_WRITES), 4);
    assert_int_equal(rd32(vm, 0x800), 0);                    /* past the registers */
    struct v3_mem_region *r = v3_get_shadow_region(vm, V3_TESTDEV_BASE);
    assert_non_null(r);
    assert_int_equal(r->type, V3_REGION_FULL_HOOK);
    assert_int_equal(r->hook_calls, 17);      /* 13 reads + 4 writes */

    /* its hypercalls */
    C->mode = V3_MODE_LONG64;
    C->gpr[V3_RAX] = V3_HCALL_TEST_SUM;
    C->gpr[V3_RBX] = 1;
    C->gpr[V3_RCX] = 2;
    C->gpr[V3_RDX] = 0x100000000ull;
    assert_int_equal(v3_handle_hypercall(C), 0);
    assert_int_equal(C->gpr[V3_RAX], 0x100000003ull);
    C->gpr[V3_RAX] = V3_HCALL_TEST_COUNT;
    assert_int_equal(v3_handle_hypercall(C), 0);
    assert_int_equal(C->gpr[V3_RAX], 1);
    v3_free_vm(vm);
}

/* ------------------------------------------------------------ System Control Port A (0x92) */

static void put32(struct v3_vm *vm, uint64_t gpa, uint32_t v)
{
    assert_int_equal(v3_write_gpa_memory(vm, NULL, gpa, 4, &v), 4);
}

static void put64(struct v3_vm *vm, uint64_t gpa, uint64_t v)
{
    assert_int_equal(v3_write_gpa_memory(vm, NULL, gpa, 8, &v), 8);
}

/* Byte at linear @p la through the translation path (TLB included). */
static uint8_t peek(uint64_t la)
{
    struct v3_exception exc;
    uint8_t b = 0;
    assert_int_equal(v3_read_gva_memory(C, la, 1, &b, V3_ACCESS_READ, &exc), 1);
    return b;
}

static uint64_t xlate(uint64_t la)
{
    struct v3_exception exc;
    uint64_t gpa = ~0ull;
    assert_int_equal(v3_gva_to_gpa(C, la, V3_ACCESS_READ, &gpa, &exc), V3_OK);
    return gpa;
}

/* Markers: 0x00f000 holds 0x55, 0x10f000 holds 0xaa (its alias with A20 off). */
static struct v3_vm *a20_vm(unsigned devices)
{
    struct v3_vm *vm;
    uint8_t lo = 0x55, hi = 0xaa;

    fake_load(NULL, 0);
    vm = fake_vm(4 * MB, devices, NULL);
    C = v3_get_core(vm, 0);
    flat32(C);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x00f000, 1, &lo), 1);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x10f000, 1, &hi), 1);
    return vm;
}

static void test_sysctl_a_port(void **state)
{
    struct v3_vm *vm = a20_vm(V3_DEV_SYSCTL_A);

    assert_int_equal(C->a20_clear, 0);
    assert_int_equal(inp(0x92, 1), 0x02);              /* A20 enabled at creation */
    assert_int_equal(inp(0x93, 1), 0xff);              /* not part of it */
    /* the TLB learns 0x10f000 with A20 on */
    assert_int_equal(peek(0x10f000), 0xaa);
    assert_int_equal(xlate(0x10f123), 0x10f123);

    outp(0x92, 1, 0x00);                               /* A20 off */
    assert_int_equal(C->a20_clear, 1ull << 20);
    assert_int_equal(inp(0x92, 1), 0x00);
    assert_int_equal(peek(0x10f000), 0x55);            /* no stale TLB entry */
    assert_int_equal(xlate(0x10f123), 0x00f123);
    assert_int_equal(xlate(0x30f456), 0x20f456);       /* only bit 20 */
    assert_int_equal(xlate(0x00f456), 0x00f456);
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_NONE);

    outp(0x92, 1, 0xfe);                               /* other bits ignored; A20 back on */
    assert_int_equal(C->a20_clear, 0);
    assert_int_equal(inp(0x92, 1), 0x02);
    assert_int_equal(peek(0x10f000), 0xaa);
    assert_int_equal(inp(0x92, 2), 0xff02);            /* wide read: 0x93 byte is all ones */
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_NONE);

    outp(0x92, 1, 0x03);                               /* fast reset: the VM shuts down */
    assert_int_equal((uint32_t)vm->pending_stop, V3_STOP_SHUTDOWN);
    assert_int_equal(C->a20_clear, 0);
    v3_free_vm(vm);

    /* without the device bit, port 0x92 is not decoded */
    vm = a20_vm(V3_DEV_ALL & ~V3_DEV_SYSCTL_A);
    assert_int_equal(inp(0x92, 1), 0xff);
    outp(0x92, 1, 0x00);
    assert_int_equal(C->a20_clear, 0);
    v3_free_vm(vm);
}

/* The mask applies to the final address of a walk: 32-bit paging (4 KiB) and PAE (2 MiB page). */
static void test_sysctl_a_paging(void **state)
{
    struct v3_vm *vm = a20_vm(V3_DEV_ALL);

    /* 32-bit: PD at 0x1000, PT at 0x2000; la 0x40f000 -> pa 0x10f000 */
    put32(vm, 0x1000 + 1 * 4, 0x2000 | 7);
    put32(vm, 0x2000 + 0x0f * 4, 0x10f000 | 7);
    C->cr3 = 0x1000;
    C->cr0 |= V3_CR0_PG;
    v3_core_update_mode(C);
    v3_tlb_flush_all(C);
    assert_int_equal(peek(0x40f000), 0xaa);
    outp(0x92, 1, 0x00);
    assert_int_equal(peek(0x40f000), 0x55);
    assert_int_equal(xlate(0x40f010), 0x00f010);
    outp(0x92, 1, 0x02);
    assert_int_equal(xlate(0x40f010), 0x10f010);

    /* PAE: PDPT at 0x3000, PD at 0x4000; PDE 1 maps a 2 MiB page at 0: la 0x30f000 -> pa 0x10f000 */
    put64(vm, 0x3000, 0x4000 | 1);
    put64(vm, 0x4000 + 1 * 8, 0x000000 | 0x80 | 7);
    C->cr0 &= ~V3_CR0_PG;
    C->cr4 |= V3_CR4_PAE;
    C->cr3 = 0x3000;
    C->cr0 |= V3_CR0_PG;
    v3_core_update_mode(C);
    v3_tlb_flush_all(C);
    assert_int_equal(xlate(0x30f000), 0x10f000);
    assert_int_equal(peek(0x30f000), 0xaa);
    outp(0x92, 1, 0x00);
    assert_int_equal(xlate(0x30f000), 0x00f000);
    assert_int_equal(peek(0x30f000), 0x55);
    v3_free_vm(vm);
}

static void test_devices_allocfail(void **state)
{
    struct v3_vm_config cfg;
    long before = v3t_outstanding();
    int err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MB;
    cfg.backend_ops = &fake_ops;
    cfg.devices = V3_DEV_ALL;
    fake_load(NULL, 0);
    for (long n = 1; n < 1000; n++) {
        struct v3_vm *vm;
        v3t_reset_counts();
        v3t_fail_nth(n);
        vm = v3_create_vm(&cfg, &err);
        v3t_fail_nth(0);
        if (vm) {
            v3_free_vm(vm);
            break;
        }
        assert_int_equal(err, V3_ENOMEM);
        assert_int_equal(v3t_outstanding(), before);
    }
    assert_int_equal(v3t_outstanding(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uart_tx_lsr),
        cmocka_unit_test(test_uart_divisor_latch),
        cmocka_unit_test(test_uart_iir),
        cmocka_unit_test(test_uart_rx),
        cmocka_unit_test(test_uart_loopback),
        cmocka_unit_test(test_uart_no_sink),
        cmocka_unit_test(test_debug_exit_reads),
        cmocka_unit_test(test_vga),
        cmocka_unit_test(test_vga_crtc),
        cmocka_unit_test(test_testdev),
        cmocka_unit_test(test_sysctl_a_port),
        cmocka_unit_test(test_sysctl_a_paging),
        cmocka_unit_test(test_devices_allocfail),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
