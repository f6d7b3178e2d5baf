/* SPDX-License-Identifier: MIT */
/* VM layer: creation, the run loop's exit dispatch, I/O port hooks (with string
 * I/O), hypercalls, MSR/CPUID hooks.  Driven by a scripted back end. */
#include <pthread.h>
#include <time.h>
#include "fakecpu.h"
#include "internal/vm.h"
#include <v3/hypercall.h>
#include <v3/io.h>
#include <v3/paging.h>

#define MB (1ull << 20)

static struct v3_exit io_out(uint16_t port, uint8_t size, uint32_t data)
{
    struct v3_exit e = { .reason = V3_EXIT_IO, .insn_rip = 0x1000 };
    e.io.port = port;
    e.io.size = size;
    e.io.data = data;
    return e;
}

/* ---------------------------------------------------------------- creation */

static void test_create_free(void **state)
{
    long before = v3t_outstanding();
    struct v3_vm *vm = fake_vm(MB, V3_DEV_ALL, NULL);

    assert_int_equal(fake.init_calls, 1);
    assert_int_equal(v3_vm_num_cores(vm), 1);
    assert_string_equal(v3_vm_config(vm)->backend, "fake");
    v3_free_vm(vm);
    assert_int_equal(fake.free_calls, 1);
    assert_int_equal(v3t_outstanding(), before);
}

static void test_create_errors(void **state)
{
    struct v3_vm_config cfg;
    int err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MB;
    cfg.backend = "no-such-cpu";
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_ENOENT);

    cfg.backend = NULL;
    cfg.backend_ops = &fake_ops;
    cfg.num_cores = V3_MAX_CORES + 1;
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_EINVAL);

    cfg.num_cores = 1;
    cfg.devices = 1u << 30;
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_EINVAL);

    cfg.devices = 0;
    cfg.mem_size = 12345;
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_ESIZE);

    cfg.mem_size = MB;
    cfg.num_regions = 1;
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_EINVAL);

    /* the software CPU by name and by default */
    struct v3_vm *vm;
    cfg.num_regions = 0;
    cfg.backend_ops = NULL;
    cfg.backend = "emu";
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_string_equal(v3_vm_config(vm)->backend, "emu");
    v3_free_vm(vm);
    cfg.backend = NULL;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_string_equal(v3_vm_config(vm)->backend, "emu");
    v3_free_vm(vm);
    cfg.backend_ops = &fake_ops;

    /* back end refuses the vCPU: no VM, nothing leaked */
    long before = v3t_outstanding();
    cfg.num_regions = 0;
    memset(&fake, 0, sizeof(fake));
    fake.init_rc = V3_ENOMEM;
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_ENOMEM);
    assert_int_equal(v3t_outstanding(), before);
}

static void test_create_extra_region(void **state)
{
    static uint8_t mem[8192] __attribute__((aligned(4096)));
    struct v3_vm_region_config r = { 0x40000000, 0x40002000, mem };
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    uint32_t v = 0x5a5aa5a5, got = 0;
    int err;

    memset(&fake, 0, sizeof(fake));
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MB;
    cfg.backend_ops = &fake_ops;
    cfg.regions = &r;
    cfg.num_regions = 1;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x40001000, 4, &v), 4);
    memcpy(&got, mem + 4096, 4);
    assert_int_equal(got, v);
    v3_free_vm(vm);

    /* an overlapping pair fails creation with the map's error */
    struct v3_vm_region_config two[2] = { { 0x40000000, 0x40002000, mem }, { 0x40001000, 0x40003000, mem } };
    cfg.regions = two;
    cfg.num_regions = 2;
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_EOVERLAP);
}

static void test_create_allocfail(void **state)
{
    struct v3_vm_config cfg;
    long before = v3t_outstanding(), n;
    int err;

    memset(&fake, 0, sizeof(fake));
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MB;
    cfg.backend_ops = &fake_ops;
    cfg.devices = V3_DEV_ALL;
    for (n = 1; n < 1000; n++) {
        struct v3_vm *vm;
        v3t_reset_counts();
        v3t_fail_nth(n);
        vm = v3_create_vm(&cfg, &err);
        v3t_fail_nth(0);
        if (vm) {
            assert_false(v3t_failed());
            v3_free_vm(vm);
            break;
        }
        assert_int_equal(err, V3_ENOMEM);
        assert_int_equal(v3t_outstanding(), before);
    }
    assert_true(n > 5);
    assert_int_equal(v3t_outstanding(), before);
}

/* ---------------------------------------------------------------- run loop */

static void test_debug_exit_stop(void **state)
{
    struct fake_step s[] = {
        { .exit = io_out(0x80, 1, 0x12), .insns = 5 },     /* unhooked: ignored */
        { .exit = io_out(0xf4, 1, 0x10), .insns = 7 },
        { .exit = io_out(0x3f8, 1, 'x') },                 /* never reached */
    };
    struct v3_vm *vm;
    struct v3_vm_result res;
    struct v3_vm_stats st;

    fake_load(s, 3);
    vm = fake_vm(MB, V3_DEV_DEBUG_EXIT, NULL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_DEBUG_EXIT);
    assert_int_equal(res.exit_code, 0x21);
    assert_int_equal(fake.pos, 2);
    assert_int_equal(v3_vm_get_stats(vm, &st), V3_OK);
    assert_int_equal(st.exits[V3_EXIT_IO], 2);
    assert_int_equal(st.exits_total, 2);
    assert_int_equal(st.insns, 12);
    assert_int_equal(st.io_unhooked, 1);
    assert_int_equal(v3_io_port_calls(vm, 0xf4), 1);
    v3_vm_print_stats(vm, V3_LOG_DEBUG);
    v3_free_vm(vm);
}

static void test_debug_exit_sizes(void **state)
{
    struct fake_step s[] = { { .exit = io_out(0xf5, 2, 0x11234) } };
    struct v3_vm *vm;
    struct v3_vm_result res;

    fake_load(s, 1);
    vm = fake_vm(MB, V3_DEV_DEBUG_EXIT, NULL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_DEBUG_EXIT);
    assert_int_equal(res.exit_code, (0x1234 << 1) | 1);
    v3_free_vm(vm);
}

static void test_shutdown(void **state)
{
    struct fake_step s[] = { { .exit = { .reason = V3_EXIT_SHUTDOWN, .insn_rip = 0x4242 } } };
    struct v3_vm *vm;
    struct v3_vm_result res;

    fake_load(s, 1);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_SHUTDOWN);
    assert_int_equal(res.rip, 0x4242);
    v3_free_vm(vm);
}

static void set_if(struct v3_core *core) { v3_core_set_rflags(core, 0x202); }
/* an asynchronous source raises an interrupt while the vCPU halts */
static void set_if_raise(struct v3_core *core)
{
    v3_core_set_rflags(core, 0x202);
    assert_int_equal(v3_vm_raise_interrupt(core->vm, 0x30), V3_OK);
}
static void clear_if(struct v3_core *core) { v3_core_set_rflags(core, 0x2); }

static void test_hlt(void **state)
{
    struct fake_step s1[] = { { .exit = { .reason = V3_EXIT_HLT, .insn_rip = 0x77 }, .before = clear_if } };
    struct fake_step s2[] = { { .exit = { .reason = V3_EXIT_HLT, .insn_rip = 0x78 }, .before = set_if } };
    struct v3_vm *vm;
    struct v3_vm_result res;

    /* IF clear: nothing can wake it */
    fake_load(s1, 1);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_HLT);
    assert_int_equal(res.rip, 0x77);
    v3_free_vm(vm);

    /* IF set but no interrupt source */
    fake_load(s2, 1);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_HLT);
    v3_free_vm(vm);

    /* IF set and an interrupt comes: injected, the guest goes on (then shuts down) */
    struct fake_step s3[] = { { .exit = { .reason = V3_EXIT_HLT, .insn_rip = 0x79 }, .before = set_if_raise } };
    fake_load(s3, 1);
    vm = fake_vm(MB, 0, NULL);
    v3_vm_interrupt_sources(vm, 1);
    assert_int_equal(v3_vm_raise_interrupt(vm, 3), V3_EINVAL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_SHUTDOWN);
    assert_int_equal(fake.nevents, 1);
    assert_int_equal(fake.events[0].type, V3_EVENT_INTERRUPT);
    assert_int_equal(fake.events[0].vector, 0x30);
    v3_free_vm(vm);
}

/* raise the interrupt once the halted vCPU has slept or yielded while
 * waiting (or after 5 s, when the test then fails on the counts) */
static long raise_y0;
static void *raise_later(void *arg)
{
    struct timespec ts = { 0, 1000 * 1000 };
    for (int i = 0; i < 5000 && v3t_yield_count() + v3t_wait_count() == raise_y0; i++)
        nanosleep(&ts, NULL);
    v3_vm_raise_interrupt(arg, 0x41);
    return NULL;
}

/* A halted vCPU waiting for an interrupt from another thread: the loop
 * waits (yielding the CPU through the host's yield()), then injects it. */
static void test_hlt_wait_other_thread(void **state)
{
    struct fake_step s[] = { { .exit = { .reason = V3_EXIT_HLT, .insn_rip = 0x7a }, .before = set_if } };
    struct v3_vm *vm;
    struct v3_vm_result res;
    pthread_t t;
    long y0 = v3t_yield_count() + v3t_wait_count();

    raise_y0 = y0;
    fake_load(s, 1);
    vm = fake_vm(MB, 0, NULL);
    v3_vm_interrupt_sources(vm, 1);
    assert_int_equal(pthread_create(&t, NULL, raise_later, vm), 0);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    pthread_join(t, NULL);
    assert_int_equal(res.reason, V3_STOP_SHUTDOWN);
    assert_int_equal(fake.nevents, 1);
    assert_int_equal(fake.events[0].type, V3_EVENT_INTERRUPT);
    assert_int_equal(fake.events[0].vector, 0x41);
    assert_true(v3t_yield_count() + v3t_wait_count() > y0);   /* it slept or yielded, not spun */
    v3_free_vm(vm);
}

static void test_insn_limit(void **state)
{
    struct fake_step s[] = {
        { .exit = io_out(0x80, 1, 0), .insns = 60 },
        { .exit = io_out(0x80, 1, 0), .insns = 60 },
        { .exit = io_out(0x80, 1, 0), .insns = 60 },
    };
    struct fake_step s2[] = { { .exit = { .reason = V3_EXIT_INSN_LIMIT } } };
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    struct v3_vm_result res;
    int err;

    fake_load(s, 3);
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MB;
    cfg.backend_ops = &fake_ops;
    cfg.max_insns = 100;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_INSN_LIMIT);
    assert_int_equal(fake.pos, 2);           /* stopped once 120 >= 100 */
    v3_free_vm(vm);

    fake_load(s2, 1);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_INSN_LIMIT);
    v3_free_vm(vm);
}

static void test_error_exit(void **state)
{
    struct fake_step s[] = { { .exit = { .reason = V3_EXIT_ERROR, .insn_rip = 0x1234,
                                         .error = { .code = V3_EUNSUPPORTED, .bytes = { 0x0f, 0x0b },
                                                    .len = 2, .msg = "undefined opcode" } } } };
    struct v3_vm *vm;
    struct v3_vm_result res;

    fake_load(s, 1);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_ERROR);
    assert_int_equal(res.error, V3_EUNSUPPORTED);
    assert_int_equal(res.rip, 0x1234);
    assert_int_equal(res.len, 2);
    assert_int_equal(res.bytes[0], 0x0f);
    assert_int_equal(res.bytes[1], 0x0b);
    assert_string_equal(res.msg, "undefined opcode");
    assert_int_equal(v3_run_vm(NULL, &res), V3_EINVAL);
    assert_int_equal(v3_run_vm(vm, NULL), V3_EINVAL);
    v3_free_vm(vm);
}

static void test_stop_request(void **state)
{
    struct fake_step s[] = { { .exit = io_out(0x80, 1, 0) } };
    struct v3_vm *vm;
    struct v3_vm_result res;

    fake_load(s, 1);
    vm = fake_vm(MB, 0, NULL);
    v3_stop_vm(vm);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_REQUESTED);
    assert_int_equal(fake.runs, 0);
    /* the request is consumed: running again goes on */
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_SHUTDOWN);
    assert_int_equal(fake.runs, 2);
    v3_free_vm(vm);
}

/* ---------------------------------------------------------------- I/O ports */

struct port_log {
    uint16_t port[64];
    unsigned size[64];
    uint32_t val[64];
    int n;
    uint32_t next_read;
};

static int log_read(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv)
{
    struct port_log *l = priv;
    uint32_t v = l->next_read++;

    memcpy(dst, &v, size);
    if (l->n < 64) {
        l->port[l->n] = port;
        l->size[l->n] = size;
        l->val[l->n++] = v;
    }
    return 0;
}

static int log_write(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv)
{
    struct port_log *l = priv;
    uint32_t v = 0;

    memcpy(&v, src, size);
    if (l->n < 64) {
        l->port[l->n] = port;
        l->size[l->n] = size;
        l->val[l->n++] = v;
    }
    return 0;
}

static int fail_read(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv)
{
    return V3_EIO;
}

static void test_io_hook_api(void **state)
{
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct port_log l = { 0 };

    assert_int_equal(v3_hook_io_port(vm, 0x1234, log_read, log_write, &l), V3_OK);
    assert_int_equal(v3_hook_io_port(vm, 0x1234, log_read, NULL, &l), V3_EEXIST);
    assert_int_equal(v3_hook_io_port(vm, 0x1235, NULL, NULL, &l), V3_ENOCALLBACK);
    assert_int_equal(v3_hook_io_port(NULL, 0x1235, log_read, NULL, &l), V3_EINVAL);
    assert_int_equal(v3_unhook_io_port(vm, 0x1235), V3_ENOENT);
    assert_int_equal(v3_unhook_io_port(vm, 0x1234), V3_OK);
    assert_int_equal(v3_unhook_io_port(vm, 0x1234), V3_ENOENT);
    assert_int_equal(v3_hook_io_port(vm, 0x1234, log_read, NULL, &l), V3_OK);
    /* many ports: the tree keeps them apart */
    for (unsigned p = 0; p < 65536; p += 97)
        if (p != 0x1234)
            assert_int_equal(v3_hook_io_port(vm, (uint16_t)p, NULL, log_write, &l), V3_OK);
    for (unsigned p = 0; p < 65536; p += 194)
        if (p != 0x1234)
            assert_int_equal(v3_unhook_io_port(vm, (uint16_t)p), V3_OK);
    v3_free_vm(vm);
}

static void test_io_sizes(void **state)
{
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);
    struct port_log l = { .next_read = 0xa1b2c3d4 };
    struct v3_exit e;

    assert_int_equal(v3_hook_io_port(vm, 0x60, log_read, log_write, &l), V3_OK);
    core->gpr[V3_RAX] = 0x1122334455667788ull;
    e = io_out(0x60, 1, 0);
    e.io.in = true;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(core->gpr[V3_RAX], 0x11223344556677d4ull);     /* AL only */
    e.io.size = 2;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(core->gpr[V3_RAX], 0x112233445566c3d5ull);     /* AX only */
    e.io.size = 4;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(core->gpr[V3_RAX], 0xa1b2c3d6ull);             /* EAX, zero-extended */
    assert_int_equal(l.size[0], 1);
    assert_int_equal(l.size[1], 2);
    assert_int_equal(l.size[2], 4);

    e = io_out(0x60, 1, 0xdeadbeef);
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    e.io.size = 2;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    e.io.size = 4;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(l.val[3], 0xef);
    assert_int_equal(l.val[4], 0xbeef);
    assert_int_equal(l.val[5], 0xdeadbeef);
    assert_int_equal(v3_io_port_calls(vm, 0x60), 6);

    e.io.size = 3;
    assert_int_equal(v3_handle_io_exit(core, &e), V3_EINVAL);
    v3_free_vm(vm);
}

static void test_io_unhooked(void **state)
{
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);
    struct v3_exit e = io_out(0x4321, 2, 0);
    struct v3_vm_stats st;

    e.io.in = true;
    core->gpr[V3_RAX] = 0x1234567800000000ull;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(core->gpr[V3_RAX], 0x123456780000ffffull);
    assert_non_null(strstr(v3t_last_log(), "unhooked port 0x4321"));
    /* logged once per port */
    assert_int_equal(v3_unhook_io_port(vm, 7), V3_ENOENT);       /* marker line */
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    e.io.in = false;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_null(strstr(v3t_last_log(), "0x4321"));
    e.io.port = 0x4322;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_non_null(strstr(v3t_last_log(), "unhooked port 0x4322"));
    e.io.in = true;
    e.io.size = 4;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(core->gpr[V3_RAX], 0xffffffffull);
    assert_int_equal(v3_vm_get_stats(vm, &st), V3_OK);
    assert_int_equal(st.io_unhooked, 5);
    v3_free_vm(vm);
}

static void test_io_hook_failure_stops(void **state)
{
    struct v3_exit e = io_out(0x70, 1, 0);
    struct fake_step s[1];
    struct v3_vm *vm;
    struct v3_vm_result res;

    e.io.in = true;
    s[0].exit = e;
    s[0].before = NULL;
    s[0].insns = 0;
    fake_load(s, 1);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_hook_io_port(vm, 0x70, fail_read, NULL, NULL), V3_OK);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_ERROR);
    assert_int_equal(res.error, V3_EIO);
    assert_int_equal(res.rip, 0x1000);
    v3_free_vm(vm);
}

static uint8_t *ram(struct v3_vm *vm, uint64_t gpa)
{
    void *p;
    assert_int_equal(v3_gpa_to_hva(vm, gpa, &p), V3_OK);
    return p;
}

static void test_io_outs_rep(void **state)
{
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);
    struct port_log l = { 0 };
    struct v3_exit e = io_out(0x3f8, 1, 0);

    flat32(core);
    assert_int_equal(v3_hook_io_port(vm, 0x3f8, NULL, log_write, &l), V3_OK);
    memcpy(ram(vm, 0x5000), "hello", 5);
    e.io.string = true;
    e.io.rep = true;
    e.io.addr_size = 4;
    e.io.seg = V3_DS;
    core->gpr[V3_RSI] = 0xabcd000000005000ull;     /* upper half ignored and cleared (32-bit) */
    core->gpr[V3_RCX] = 0x5;
    core->rip = 0x1002;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(l.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(l.val[i], (uint8_t)"hello"[i]);
    assert_int_equal(core->gpr[V3_RSI], 0x5005);
    assert_int_equal(core->gpr[V3_RCX], 0);
    assert_int_equal(core->rip, 0x1002);

    /* DS base is applied outside 64-bit mode */
    l.n = 0;
    core->seg[V3_DS].base = 0x1000;
    core->gpr[V3_RSI] = 0x4000;
    core->gpr[V3_RCX] = 2;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.val[0], 'h');

    /* RCX = 0: nothing */
    l.n = 0;
    core->gpr[V3_RCX] = 0;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(l.n, 0);

    /* without REP: one element, RCX untouched */
    e.io.rep = false;
    core->seg[V3_DS].base = 0;
    core->gpr[V3_RSI] = 0x5001;
    core->gpr[V3_RCX] = 99;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.val[0], 'e');
    assert_int_equal(core->gpr[V3_RCX], 99);
    assert_int_equal(core->gpr[V3_RSI], 0x5002);
    v3_free_vm(vm);
}

static void test_io_ins_rep_df_16bit(void **state)
{
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);
    struct port_log l = { .next_read = 0x100 };
    struct v3_exit e = io_out(0x1f0, 2, 0);
    uint16_t w;

    /* real mode, 16-bit addresses, DF = 1: ES:DI walks down, CX counts */
    core->seg[V3_ES].base = 0x20000;
    core->gpr[V3_RDI] = 0x77770000ull | 0x0006;      /* upper bits preserved */
    core->gpr[V3_RCX] = 0x55550003ull;
    v3_core_set_rflags(core, 0x2 | V3_FLAG_DF);
    assert_int_equal(v3_hook_io_port(vm, 0x1f0, log_read, NULL, &l), V3_OK);
    e.io.in = true;
    e.io.string = true;
    e.io.rep = true;
    e.io.addr_size = 2;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(l.n, 3);
    memcpy(&w, ram(vm, 0x20006), 2);
    assert_int_equal(w, 0x100);
    memcpy(&w, ram(vm, 0x20004), 2);
    assert_int_equal(w, 0x101);
    memcpy(&w, ram(vm, 0x20002), 2);
    assert_int_equal(w, 0x102);
    assert_int_equal(core->gpr[V3_RDI], 0x77770000ull);
    assert_int_equal(core->gpr[V3_RCX], 0x55550000ull);

    /* 16-bit wrap of DI */
    l.n = 0;
    core->gpr[V3_RDI] = 0x0000;
    core->gpr[V3_RCX] = 2;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(core->gpr[V3_RDI], 0xfffc);
    memcpy(&w, ram(vm, 0x2fffe), 2);
    assert_int_equal(w, 0x104);
    v3_free_vm(vm);
}

static void test_io_rep_long_resumes(void **state)
{
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);
    struct port_log l = { 0 };
    struct v3_exit e = io_out(0x80, 1, 0);

    flat32(core);
    assert_int_equal(v3_hook_io_port(vm, 0x80, NULL, log_write, &l), V3_OK);
    e.io.string = true;
    e.io.rep = true;
    e.io.addr_size = 4;
    e.io.seg = V3_DS;
    e.insn_rip = 0x2000;
    core->rip = 0x2002;
    core->gpr[V3_RSI] = 0x10000;
    core->gpr[V3_RCX] = 10000;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    /* a slice was done; the instruction runs again for the rest */
    assert_true(core->gpr[V3_RCX] > 0 && core->gpr[V3_RCX] < 10000);
    assert_int_equal(core->gpr[V3_RSI], 0x10000 + (10000 - core->gpr[V3_RCX]));
    assert_int_equal(core->rip, 0x2000);
    assert_int_equal(v3_io_port_calls(vm, 0x80), 10000 - core->gpr[V3_RCX]);
    v3_free_vm(vm);
}

/* 32-bit paging: PD at 0x1000, PT at 0x2000 mapping pages 0-15; page 16 not present */
static void paging_first_16_pages(struct v3_vm *vm, struct v3_core *core)
{
    uint32_t pde = 0x2000 | 3;
    memcpy(ram(vm, 0x1000), &pde, 4);
    for (uint32_t i = 0; i < 16; i++) {
        uint32_t pte = (i << 12) | 3;
        memcpy(ram(vm, 0x2000 + 4 * i), &pte, 4);
    }
    flat32(core);
    core->cr3 = 0x1000;
    core->cr0 |= V3_CR0_PG;
    v3_core_update_mode(core);
}

static void test_io_outs_page_fault(void **state)
{
    fake_load(NULL, 0);
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);
    struct port_log l = { 0 };
    struct v3_exit e = io_out(0x80, 4, 0);

    paging_first_16_pages(vm, core);
    assert_int_equal(v3_hook_io_port(vm, 0x80, NULL, log_write, &l), V3_OK);
    e.io.string = true;
    e.io.rep = true;
    e.io.addr_size = 4;
    e.io.seg = V3_DS;
    e.insn_rip = 0x3000;
    core->rip = 0x3002;
    core->gpr[V3_RSI] = 0xfffc;
    core->gpr[V3_RCX] = 4;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(l.n, 1);                       /* the element before the fault */
    assert_int_equal(core->gpr[V3_RCX], 3);         /* resumable */
    assert_int_equal(core->gpr[V3_RSI], 0x10000);
    assert_int_equal(core->rip, 0x3000);            /* restart the instruction */
    assert_int_equal(fake.nevents, 1);
    assert_int_equal(fake.events[0].type, V3_EVENT_EXCEPTION);
    assert_int_equal(fake.events[0].vector, V3_EXC_PF);
    assert_int_equal(fake.events[0].cr2, 0x10000);
    assert_true(fake.events[0].has_error_code);
    assert_int_equal(fake.events[0].error_code & V3_PF_P, 0);
    v3_free_vm(vm);
}

static void test_io_ins_page_fault_before_port_read(void **state)
{
    fake_load(NULL, 0);
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);
    struct port_log l = { .next_read = 0x11 };
    struct v3_exit e = io_out(0x60, 2, 0);

    paging_first_16_pages(vm, core);     /* the second word straddles into page 16 */
    assert_int_equal(v3_hook_io_port(vm, 0x60, log_read, NULL, &l), V3_OK);
    e.io.in = true;
    e.io.string = true;
    e.io.rep = true;
    e.io.addr_size = 4;
    e.insn_rip = 0x3000;
    core->gpr[V3_RDI] = 0xfffd;
    core->gpr[V3_RCX] = 3;
    assert_int_equal(v3_handle_io_exit(core, &e), 0);
    assert_int_equal(l.n, 1);                       /* the faulting element read no port */
    assert_int_equal(core->gpr[V3_RCX], 2);
    assert_int_equal(core->gpr[V3_RDI], 0xffff);
    assert_int_equal(ram(vm, 0xfffd)[0], 0x11);
    assert_int_equal(fake.nevents, 1);
    assert_int_equal(fake.events[0].vector, V3_EXC_PF);
    assert_int_equal(fake.events[0].cr2, 0x10000);
    assert_true(fake.events[0].error_code & V3_PF_W);
    assert_int_equal(core->rip, 0x3000);
    v3_free_vm(vm);
}

/* ---------------------------------------------------------------- hypercalls */

static int hc_add(struct v3_core *core, uint64_t id, uint64_t *result, void *priv)
{
    *result = core->gpr[V3_RBX] + core->gpr[V3_RCX] + (uintptr_t)priv;
    return 0;
}

static int hc_fail(struct v3_core *core, uint64_t id, uint64_t *result, void *priv)
{
    return V3_ECALLBACK;
}

static void test_hypercall_api(void **state)
{
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);

    assert_int_equal(v3_register_hypercall(vm, 0x42, hc_add, (void *)100), V3_OK);
    assert_int_equal(v3_register_hypercall(vm, 0x42, hc_add, NULL), V3_EEXIST);
    assert_int_equal(v3_register_hypercall(vm, 0x43, NULL, NULL), V3_ENOCALLBACK);
    assert_int_equal(v3_register_hypercall(NULL, 0x43, hc_add, NULL), V3_EINVAL);
    assert_int_equal(v3_register_hypercall(vm, V3_HCALL_MEM_OFFSET, hc_add, NULL), V3_EEXIST);

    core->mode = V3_MODE_LONG64;
    core->gpr[V3_RAX] = 0x42;
    core->gpr[V3_RBX] = 1;
    core->gpr[V3_RCX] = 2;
    assert_int_equal(v3_handle_hypercall(core), 0);
    assert_int_equal(core->gpr[V3_RAX], 103);

    /* unknown ID: -1, the guest continues */
    core->gpr[V3_RAX] = 0x999;
    assert_int_equal(v3_handle_hypercall(core), 0);
    assert_int_equal(core->gpr[V3_RAX], ~0ull);

    /* outside 64-bit mode only EAX is the ID */
    flat32(core);
    core->gpr[V3_RAX] = 0xffffffff00000042ull;
    assert_int_equal(v3_handle_hypercall(core), 0);
    assert_int_equal(core->gpr[V3_RAX], 103);

    /* CPL 3: a kernel-only handler is not called, RAX = -1 (as KVM's
       -KVM_EPERM); a handler registered with V3_HCALL_USER is */
    {
        struct v3_vm_stats st;
        core->cpl = 3;
        core->gpr[V3_RAX] = 0x42;
        assert_int_equal(v3_handle_hypercall(core), 0);
        assert_int_equal(core->gpr[V3_RAX], ~0ull);
        core->cpl = 1;
        core->gpr[V3_RAX] = 0x42;
        assert_int_equal(v3_handle_hypercall(core), 0);
        assert_int_equal(core->gpr[V3_RAX], ~0ull);
        assert_int_equal(v3_vm_get_stats(vm, &st), V3_OK);
        assert_int_equal(st.hypercalls_denied, 2);
        assert_int_equal(v3_register_hypercall_flags(vm, 0x44, hc_add, (void *)7, V3_HCALL_USER), V3_OK);
        assert_int_equal(v3_register_hypercall_flags(vm, 0x45, hc_add, NULL, 0x80), V3_EINVAL);
        core->cpl = 3;
        core->gpr[V3_RAX] = 0x44;
        assert_int_equal(v3_handle_hypercall(core), 0);
        assert_int_equal(core->gpr[V3_RAX], 10);
        core->cpl = 0;
        core->gpr[V3_RAX] = 0x44;
        assert_int_equal(v3_handle_hypercall(core), 0);
        assert_int_equal(core->gpr[V3_RAX], 10);
        assert_int_equal(v3_remove_hypercall(vm, 0x44), V3_OK);
    }

    assert_int_equal(v3_remove_hypercall(vm, 0x42), V3_OK);
    assert_int_equal(v3_remove_hypercall(vm, 0x42), V3_ENOENT);
    core->gpr[V3_RAX] = 0x42;
    assert_int_equal(v3_handle_hypercall(core), 0);
    assert_int_equal(core->gpr[V3_RAX], ~0ull);

    /* many IDs against a naive model */
    for (uint64_t id = 1; id < 2000; id += 3)
        assert_int_equal(v3_register_hypercall(vm, id << 20, hc_add, (void *)(uintptr_t)id), V3_OK);
    for (uint64_t id = 1; id < 2000; id += 6)
        assert_int_equal(v3_remove_hypercall(vm, id << 20), V3_OK);
    core->gpr[V3_RBX] = core->gpr[V3_RCX] = 0;
    for (uint64_t id = 1; id < 2000; id++) {
        int present = (id % 3 == 1) && (id % 6 != 1);
        core->mode = V3_MODE_LONG64;
        core->gpr[V3_RAX] = id << 20;
        assert_int_equal(v3_handle_hypercall(core), 0);
        assert_int_equal(core->gpr[V3_RAX], present ? id : ~0ull);
    }
    v3_free_vm(vm);
}

static void test_hypercall_exit_and_failure(void **state)
{
    static void (*const setups[])(struct v3_core *) = { NULL };
    struct fake_step s[] = {
        { .exit = { .reason = V3_EXIT_HYPERCALL, .insn_rip = 0x10 } },
        { .exit = { .reason = V3_EXIT_HYPERCALL, .insn_rip = 0x20 } },
    };
    struct v3_vm *vm;
    struct v3_vm_result res;
    struct v3_vm_stats st;

    (void)setups;
    fake_load(s, 2);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_register_hypercall(vm, 0x5, hc_fail, NULL), V3_OK);
    v3_get_core(vm, 0)->gpr[V3_RAX] = 0x77;          /* unknown: -1, go on */
    s[1].before = NULL;
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_SHUTDOWN);
    assert_int_equal(v3_vm_get_stats(vm, &st), V3_OK);
    assert_int_equal(st.exits[V3_EXIT_HYPERCALL], 2);
    assert_int_equal(st.hypercalls_unknown, 2);
    v3_free_vm(vm);
}

static void rax5(struct v3_core *core) { core->gpr[V3_RAX] = 5; }

static void test_hypercall_handler_failure(void **state)
{
    struct fake_step s[] = { { .exit = { .reason = V3_EXIT_HYPERCALL, .insn_rip = 0x30 }, .before = rax5 } };
    struct v3_vm *vm;
    struct v3_vm_result res;

    fake_load(s, 1);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_register_hypercall(vm, 0x5, hc_fail, NULL), V3_OK);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_ERROR);
    assert_int_equal(res.error, V3_ECALLBACK);
    assert_int_equal(res.rip, 0x30);
    v3_free_vm(vm);
}

static void test_mem_offset(void **state)
{
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    struct v3_core *core;
    void *hva;
    int err;

    /* off by default: -1, RBX untouched */
    vm = fake_vm(MB, 0, NULL);
    core = v3_get_core(vm, 0);
    core->gpr[V3_RAX] = V3_HCALL_MEM_OFFSET;
    core->gpr[V3_RBX] = 0x1111;
    assert_int_equal(v3_handle_hypercall(core), 0);
    assert_int_equal(core->gpr[V3_RAX], ~0ull);
    assert_int_equal(core->gpr[V3_RBX], 0x1111);
    v3_free_vm(vm);

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MB;
    cfg.backend_ops = &fake_ops;
    cfg.enable_mem_offset_hypercall = true;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    core = v3_get_core(vm, 0);
    core->gpr[V3_RAX] = V3_HCALL_MEM_OFFSET;
    assert_int_equal(v3_handle_hypercall(core), 0);
    assert_int_equal(core->gpr[V3_RAX], 0);
    assert_int_equal(v3_gpa_to_hva(vm, 0, &hva), V3_OK);
    assert_int_equal(core->gpr[V3_RBX], (uint64_t)(uintptr_t)hva);
    v3_free_vm(vm);
}

/* ---------------------------------------------------------------- MSR / CPUID */

static int msr_rd(struct v3_core *core, uint32_t msr, uint64_t *value, void *priv)
{
    *value = 0x1122334455667788ull;
    return 0;
}

static int msr_wr(struct v3_core *core, uint32_t msr, uint64_t value, void *priv)
{
    *(uint64_t *)priv = value;
    return 0;
}

static int cpuid_fn(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t regs[4], void *priv)
{
    regs[0] = leaf;
    regs[1] = subleaf;
    regs[3] ^= 0xffffffffu;
    return 0;
}

static void test_msr_cpuid(void **state)
{
    struct v3_vm *vm = fake_vm(MB, 0, NULL);
    struct v3_core *core = v3_get_core(vm, 0);
    struct v3_exit e = { .reason = V3_EXIT_MSR_READ, .insn_rip = 0x500 };
    uint64_t written = 0;

    /* unhooked: #GP(0) at the instruction */
    e.msr.index = 0xc0001234;
    core->rip = 0x502;
    assert_int_equal(v3_handle_msr_exit(core, &e, false), 0);
    assert_int_equal(fake.nevents, 1);
    assert_int_equal(fake.events[0].vector, V3_EXC_GP);
    assert_true(fake.events[0].has_error_code);
    assert_int_equal(fake.events[0].error_code, 0);
    assert_int_equal(core->rip, 0x500);

    assert_int_equal(v3_hook_msr(vm, 0xc0001234, msr_rd, NULL, NULL), V3_OK);
    assert_int_equal(v3_hook_msr(vm, 0xc0001234, msr_rd, NULL, NULL), V3_EEXIST);
    assert_int_equal(v3_hook_msr(vm, 0x10, NULL, NULL, NULL), V3_ENOCALLBACK);
    core->rip = 0x502;
    core->gpr[V3_RAX] = core->gpr[V3_RDX] = ~0ull;
    assert_int_equal(v3_handle_msr_exit(core, &e, false), 0);
    assert_int_equal(core->gpr[V3_RAX], 0x55667788);
    assert_int_equal(core->gpr[V3_RDX], 0x11223344);
    assert_int_equal(core->rip, 0x502);
    /* the write direction has no callback: #GP */
    e.reason = V3_EXIT_MSR_WRITE;
    assert_int_equal(v3_handle_msr_exit(core, &e, true), 0);
    assert_int_equal(fake.nevents, 2);
    assert_int_equal(v3_unhook_msr(vm, 0xc0001234), V3_OK);
    assert_int_equal(v3_unhook_msr(vm, 0xc0001234), V3_ENOENT);
    assert_int_equal(v3_hook_msr(vm, 0xc0001234, NULL, msr_wr, &written), V3_OK);
    e.msr.value = 0xabcdef;
    assert_int_equal(v3_handle_msr_exit(core, &e, true), 0);
    assert_int_equal(written, 0xabcdef);

    /* CPUID */
    struct v3_exit c = { .reason = V3_EXIT_CPUID };
    c.cpuid.leaf = 0x40000000;
    c.cpuid.subleaf = 3;
    core->gpr[V3_RDX] = 0x0f0f0f0f;
    assert_int_equal(v3_handle_cpuid_exit(core, &c), 0);    /* unhooked: unchanged */
    assert_int_equal(core->gpr[V3_RDX], 0x0f0f0f0f);
    assert_int_equal(v3_hook_cpuid(vm, 0x40000000, cpuid_fn, NULL), V3_OK);
    assert_int_equal(v3_hook_cpuid(vm, 0x40000000, cpuid_fn, NULL), V3_EEXIST);
    assert_int_equal(v3_handle_cpuid_exit(core, &c), 0);
    assert_int_equal(core->gpr[V3_RAX], 0x40000000);
    assert_int_equal(core->gpr[V3_RBX], 3);
    assert_int_equal(core->gpr[V3_RDX], 0xf0f0f0f0);
    assert_int_equal(v3_unhook_cpuid(vm, 0x40000000), V3_OK);
    assert_int_equal(v3_unhook_cpuid(vm, 0x40000000), V3_ENOENT);
    v3_free_vm(vm);
}

static void test_msr_via_run_loop(void **state)
{
    struct fake_step s[] = {
        { .exit = { .reason = V3_EXIT_MSR_READ, .insn_rip = 0x600, .msr = { .index = 0x1b0 } } },
        { .exit = { .reason = V3_EXIT_CPUID, .insn_rip = 0x610, .cpuid = { .leaf = 1 } } },
    };
    struct v3_vm *vm;
    struct v3_vm_result res;
    struct v3_vm_stats st;

    fake_load(s, 2);
    vm = fake_vm(MB, 0, NULL);
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_SHUTDOWN);
    assert_int_equal(fake.nevents, 1);
    assert_int_equal(fake.events[0].vector, V3_EXC_GP);
    assert_int_equal(v3_vm_get_stats(vm, &st), V3_OK);
    assert_int_equal(st.exits[V3_EXIT_MSR_READ], 1);
    assert_int_equal(st.exits[V3_EXIT_CPUID], 1);
    assert_int_equal(st.exits[V3_EXIT_SHUTDOWN], 1);
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_free),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_create_extra_region),
        cmocka_unit_test(test_create_allocfail),
        cmocka_unit_test(test_debug_exit_stop),
        cmocka_unit_test(test_debug_exit_sizes),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_hlt),
        cmocka_unit_test(test_hlt_wait_other_thread),
        cmocka_unit_test(test_insn_limit),
        cmocka_unit_test(test_error_exit),
        cmocka_unit_test(test_stop_request),
        cmocka_unit_test(test_io_hook_api),
        cmocka_unit_test(test_io_sizes),
        cmocka_unit_test(test_io_unhooked),
        cmocka_unit_test(test_io_hook_failure_stops),
        cmocka_unit_test(test_io_outs_rep),
        cmocka_unit_test(test_io_ins_rep_df_16bit),
        cmocka_unit_test(test_io_rep_long_resumes),
        cmocka_unit_test(test_io_outs_page_fault),
        cmocka_unit_test(test_io_ins_page_fault_before_port_read),
        cmocka_unit_test(test_hypercall_api),
        cmocka_unit_test(test_hypercall_exit_and_failure),
        cmocka_unit_test(test_hypercall_handler_failure),
        cmocka_unit_test(test_mem_offset),
        cmocka_unit_test(test_msr_cpuid),
        cmocka_unit_test(test_msr_via_run_loop),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
