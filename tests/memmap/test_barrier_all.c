/* SPDX-License-Identifier: MIT */
/*
 * The host's barrier_all() (v3/host.h), on which the vCPU read lock of the
 * memory map relies: a store-buffering litmus test.  Two threads, each
 * iteration from a common start:
 *
 *   vCPU side:   depth = 1;  (compiler barrier only)  r1 = writer;
 *   writer side: writer = 1; barrier_all();           r2 = depth;
 *
 * Without a barrier between each side's store and load, x86 may let both
 * loads see 0 (each store still in its CPU's store buffer).  With the
 * writer's barrier_all() that outcome is forbidden: it is exactly what
 * would let a vCPU enter a hooked region while a writer frees it.  The
 * control run (no barrier at all) prints how often the outcome shows up on
 * this machine, which tells how sharp the check is; it is not asserted.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <v3/host.h>

static long iterations = 50000;

static unsigned depth_var, writer_var;
static unsigned start_seq, done_seq;
static unsigned r1_seen;

static void *vcpu_side(void *arg)
{
    (void)arg;
    for (unsigned i = 1; i <= (unsigned)iterations; i++) {
        while (__atomic_load_n(&start_seq, __ATOMIC_ACQUIRE) != i)
            __builtin_ia32_pause();
        __atomic_store_n(&depth_var, 1u, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        r1_seen = __atomic_load_n(&writer_var, __ATOMIC_RELAXED);
        __atomic_store_n(&done_seq, i, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Iterations where both sides read 0. */
static long run(void (*barrier)(void))
{
    pthread_t t;
    long both_zero = 0;

    start_seq = done_seq = 0;
    assert_int_equal(pthread_create(&t, NULL, vcpu_side, NULL), 0);
    for (unsigned i = 1; i <= (unsigned)iterations; i++) {
        unsigned r2;
        __atomic_store_n(&depth_var, 0u, __ATOMIC_RELAXED);
        __atomic_store_n(&writer_var, 0u, __ATOMIC_RELAXED);
        __atomic_store_n(&start_seq, i, __ATOMIC_RELEASE);
        /* the other side sees the start some 100 ns later: wait a varying
           while so that the two store/load pairs overlap in some iterations */
        for (unsigned d = (i * 7u) % 97u; d; d--)
            __asm__ volatile("" ::: "memory");
        __atomic_store_n(&writer_var, 1u, __ATOMIC_RELAXED);
        if (barrier)
            barrier();
        else
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
        r2 = __atomic_load_n(&depth_var, __ATOMIC_RELAXED);
        while (__atomic_load_n(&done_seq, __ATOMIC_ACQUIRE) != i)
            __builtin_ia32_pause();
        if (r2 == 0 && r1_seen == 0)
            both_zero++;
    }
    pthread_join(t, NULL);
    return both_zero;
}

static void test_barrier_all_orders_stores(void **state)
{
    const struct v3_os_hooks *h = v3_posix_os_hooks();
    long control, with;
    (void)state;
    if (!h->barrier_all) {
        printf("barrier_all: not offered by this kernel (vCPU read locks use a full barrier)\n");
        skip();
    }
    control = run(NULL);
    with = run(h->barrier_all);
    printf("barrier_all: %ld iterations; both loads saw 0: %ld without a barrier, %ld with barrier_all()\n",
           iterations, control, with);
    assert_int_equal(with, 0);
}

int main(int argc, char **argv)
{
    const char *q = getenv("V3_TEST_QUICK");
    if (q && *q && *q != '0')
        iterations = 200;        /* e.g. under valgrind, which runs one thread at a time */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            iterations = atol(argv[++i]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_barrier_all_orders_stores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
