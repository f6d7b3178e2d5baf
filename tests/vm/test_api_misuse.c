/* SPDX-License-Identifier: MIT */
/*
 * API misuse made safe: a second thread calling v3_run_vm() on a running VM
 * gets V3_EBUSY; v3_free_vm() while another thread is inside v3_run_vm()
 * stops that VM and waits for the call to return before freeing (ASan
 * reports a use after free otherwise); v3_mem_read_lock(NULL) and its unlock
 * log an error instead of dereferencing NULL.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include "v3test.h"
#include <v3/cpu.h>
#include <v3/io.h>
#include <v3/mem.h>
#include <v3/vm.h>

static int started;

static int mark_started(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv)
{
    (void)core;
    (void)port;
    (void)src;
    (void)size;
    (void)priv;
    __atomic_store_n(&started, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* real mode at 0:0x1000: out 0x80, al; jmp $ (runs until stopped) */
static struct v3_vm *looping_vm(void)
{
    static const uint8_t prog[] = { 0xe6, 0x80, 0xeb, 0xfe };
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    struct v3_core *core;
    void *ram;
    int err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1 << 20;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    core = v3_get_core(vm, 0);
    assert_int_equal(v3_gpa_to_hva(vm, 0, &ram), V3_OK);
    memcpy((uint8_t *)ram + 0x1000, prog, sizeof(prog));
    for (int s = V3_ES; s <= V3_GS; s++) {
        core->seg[s].selector = 0;
        core->seg[s].base = 0;
    }
    core->rip = 0x1000;
    assert_int_equal(v3_hook_io_port(vm, 0x80, NULL, mark_started, NULL), V3_OK);
    __atomic_store_n(&started, 0, __ATOMIC_SEQ_CST);
    return vm;
}

struct runner {
    struct v3_vm *vm;
    struct v3_vm_result res;
    int rc;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->rc = v3_run_vm(r->vm, &r->res);
    return NULL;
}

static void wait_started(void)
{
    while (!__atomic_load_n(&started, __ATOMIC_SEQ_CST))
        sched_yield();
}

static void test_second_run_is_busy(void **state)
{
    struct runner r = { .vm = looping_vm() };
    struct v3_vm_result res2;
    pthread_t t;

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
    wait_started();
    memset(&res2, 0x5a, sizeof(res2));
    assert_int_equal(v3_run_vm(r.vm, &res2), V3_EBUSY);
    assert_int_equal(res2.reason, 0x5a5a5a5a);          /* untouched */
    v3_stop_vm(r.vm);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.rc, V3_OK);
    assert_int_equal(r.res.reason, V3_STOP_REQUESTED);
    /* once stopped, the VM runs again from this thread (and is stopped again) */
    v3_stop_vm(r.vm);
    assert_int_equal(v3_run_vm(r.vm, &res2), V3_OK);
    assert_int_equal(res2.reason, V3_STOP_REQUESTED);
    v3_free_vm(r.vm);
}

static void test_free_while_running(void **state)
{
    struct runner r = { .vm = looping_vm() };
    pthread_t t;
    long errors = v3t_error_logs();

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
    wait_started();
    v3_free_vm(r.vm);             /* stops the VM, waits for v3_run_vm() to return */
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.rc, V3_OK);
    assert_int_equal(r.res.reason, V3_STOP_REQUESTED);
    assert_int_equal(v3t_error_logs(), errors);
}

static void test_mem_read_lock_null(void **state)
{
    long errors = v3t_error_logs();

    (void)state;
    v3_mem_read_lock(NULL);
    v3_mem_read_unlock(NULL);
    assert_int_equal(v3t_error_logs(), errors + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_run_is_busy),
        cmocka_unit_test(test_free_while_running),
        cmocka_unit_test(test_mem_read_lock_null),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
