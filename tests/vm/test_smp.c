/* SPDX-License-Identifier: MIT */
/*
 * Several vCPUs on the software CPU: creation limits and the host's thread
 * members, v3_stop_vm() from another thread joins every vCPU thread, a VM
 * whose vCPUs all wait stops with HLT, INIT/SIPI start an AP at vector << 12
 * (its triple fault stops the VM and names it in the result).
 */
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "v3test.h"
#include <v3/cpu.h>
#include <v3/loader.h>
#include <v3/mem.h>

static struct v3_vm *smp_vm(unsigned n, const char *machine, const uint8_t *code, size_t len)
{
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    int err = 0;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 4u << 20;
    cfg.num_cores = n;
    cfg.machine = machine;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(v3_vm_num_cores(vm), n);
    assert_int_equal(v3_load_flat(vm, code, len, 0x1000, 0x1000, V3_FLAT_PROT32), V3_OK);
    return vm;
}

static void test_smp_create_limits(void **state)
{
    struct v3_vm_config cfg;
    struct v3_os_hooks h;
    struct v3_vm *vm;
    int err = 0;
    (void)state;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1u << 20;
    cfg.num_cores = V3_MAX_CORES + 1;
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_EINVAL);
    cfg.num_cores = V3_MAX_CORES;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(v3_vm_num_cores(vm), V3_MAX_CORES);
    v3_free_vm(vm);

    /* a host without threads: one vCPU only, with a clear error */
    h = *v3t_host();
    h.thread_join = NULL;
    assert_int_equal(v3_init(&h), V3_EINVAL);           /* the two members come together */
    h.thread_create = NULL;
    assert_int_equal(v3_init(&h), V3_OK);
    cfg.num_cores = 2;
    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, V3_EINVAL);
    assert_non_null(strstr(v3t_last_log(), "thread"));
    cfg.num_cores = 1;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    v3_free_vm(vm);
    assert_int_equal(v3_init(v3t_host()), V3_OK);
}

static void *stop_later(void *arg)
{
    struct timespec ts = { 0, 50 * 1000000 };
    nanosleep(&ts, NULL);
    v3_stop_vm(arg);
    return NULL;
}

/* vCPU 0 spins, the APs wait for a SIPI that never comes: a stop from
 * another thread ends the run (every thread joined), and the VM runs on. */
static void test_smp_stop_requested(void **state)
{
    static const uint8_t spin[] = { 0xeb, 0xfe };           /* jmp $ */
    struct v3_vm_result res;
    struct v3_vm *vm = smp_vm(4, NULL, spin, sizeof(spin));
    pthread_t t;
    (void)state;

    for (int round = 0; round < 2; round++) {
        assert_int_equal(pthread_create(&t, NULL, stop_later, vm), 0);
        assert_int_equal(v3_run_vm(vm, &res), V3_OK);
        pthread_join(t, NULL);
        assert_int_equal(res.reason, V3_STOP_REQUESTED);
        assert_int_equal(res.core, 0);
        assert_int_equal(v3_get_core(vm, 0)->rip, 0x1000);
        assert_true(v3_get_core(vm, 0)->insn_count > 0);
        for (unsigned i = 1; i < 4; i++)
            assert_int_equal(v3_get_core(vm, i)->insn_count, 0);   /* never started */
    }
    v3_free_vm(vm);
}

/* cli; hlt on vCPU 0 and every AP in wait-for-SIPI: nothing can ever wake any */
static void test_smp_all_waiting(void **state)
{
    static const uint8_t code[] = { 0xfa, 0xf4 };
    struct v3_vm_result res;
    struct v3_vm *vm = smp_vm(2, NULL, code, sizeof(code));
    struct v3_vm_stats st;
    (void)state;

    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_HLT);
    assert_int_equal(v3_vm_get_vcpu_stats(vm, 0, &st), V3_OK);
    assert_int_equal(st.insns, 2);
    assert_true(st.exits[V3_EXIT_HLT] >= 1);
    assert_int_equal(v3_vm_get_vcpu_stats(vm, 1, &st), V3_OK);
    assert_int_equal(st.insns, 0);
    assert_int_equal(v3_vm_get_vcpu_stats(vm, 2, &st), V3_EINVAL);
    v3_free_vm(vm);
}

/* The BSP sends INIT and SIPI (vector 8) to APIC 1 and spins; the AP starts
 * in real mode at 0x8000 (CS 0x0800, IP 0), loads an empty IDT and executes
 * INT3: #GP, #DF, shutdown.  The AP's shutdown stops the VM. */
static void test_smp_init_sipi(void **state)
{
    static const uint8_t bsp[] = {
        0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01,  /* ICR high: APIC 1 */
        0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00,  /* INIT */
        0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00,  /* SIPI 0x08 */
        0xeb, 0xfe,                                                  /* jmp $ */
    };
    static const uint8_t ap[] = {
        0x2e, 0x0f, 0x01, 0x1e, 0x10, 0x00,                          /* lidt cs:[0x10] */
        0xcc,                                                        /* int3 */
    };
    struct v3_vm_result res;
    struct v3_vm *vm = smp_vm(3, "pc", bsp, sizeof(bsp));
    uint8_t zero[6] = { 0 };
    struct v3_core *c;
    (void)state;

    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x8000, sizeof(ap), ap), (int)sizeof(ap));
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x8010, sizeof(zero), zero), (int)sizeof(zero));
    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    assert_int_equal(res.reason, V3_STOP_SHUTDOWN);
    assert_int_equal(res.core, 1);
    c = v3_get_core(vm, 1);
    assert_int_equal(c->seg[V3_CS].selector, 0x0800);
    assert_int_equal(c->seg[V3_CS].base, 0x8000);
    assert_int_equal(c->insn_count, 1);                      /* LIDT retired, INT3 faulted */
    assert_int_equal(v3_get_core(vm, 2)->insn_count, 0);     /* not addressed: still waiting */
    v3_free_vm(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smp_create_limits),
        cmocka_unit_test(test_smp_stop_requested),
        cmocka_unit_test(test_smp_all_waiting),
        cmocka_unit_test(test_smp_init_sipi),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
