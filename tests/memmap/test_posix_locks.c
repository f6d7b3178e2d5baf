/* SPDX-License-Identifier: MIT */
/*
 * The POSIX host checks pthread lock results: a lock misused (relocked by
 * its holder, unlocked by a thread that does not hold it) aborts the
 * process with a message instead of corrupting the lock.  Each case runs
 * in a forked child (a death test); the parent checks for SIGABRT and the
 * message on the child's stderr.  The listener case is the one found in
 * practice: a memory-map listener (run under the map's write lock) that
 * takes the map's read lock.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "v3test.h"
#include <v3/host.h>
#include <v3/mem.h>
#include <v3/vm.h>

/* Run @p fn in a child with stderr to a pipe; returns the wait status, output in @p out. */
static int death(void (*fn)(void), char *out, size_t outlen)
{
    int p[2], st = 0;
    pid_t pid;
    size_t n = 0;
    ssize_t r;

    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        alarm(10);          /* a misuse that deadlocks instead: SIGALRM, reported */
        fn();
        _exit(0);           /* survived: the parent reports it */
    }
    close(p[1]);
    while (n + 1 < outlen && (r = read(p[0], out + n, outlen - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void expect_abort(void (*fn)(void), const char *text)
{
    char out[4096];
    int st = death(fn, out, sizeof(out));

    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
        fail_msg("child was not aborted (status %#x), output: %s", st, out);
    if (!strstr(out, text))
        fail_msg("child output lacks \"%s\": %s", text, out);
}

static void relock_mutex(void)
{
    const struct v3_os_hooks *h = v3_posix_os_hooks();
    void *m = h->mutex_alloc();
    h->mutex_lock(m);
    h->mutex_lock(m);
}

static void unlock_unheld_mutex(void)
{
    const struct v3_os_hooks *h = v3_posix_os_hooks();
    void *m = h->mutex_alloc();
    h->mutex_unlock(m);
}

static void write_then_read(void)
{
    const struct v3_os_hooks *h = v3_posix_os_hooks();
    void *l = h->rwlock_alloc();
    h->write_lock(l);
    h->read_lock(l);
}

static void write_twice(void)
{
    const struct v3_os_hooks *h = v3_posix_os_hooks();
    void *l = h->rwlock_alloc();
    h->write_lock(l);
    h->write_lock(l);
}

static struct v3_vm *lvm;

static void relocking_listener(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv)
{
    (void)start;
    (void)end;
    (void)priv;
    v3_mem_read_lock(vm);
    v3_mem_read_unlock(vm);
}

static void listener_relocks(void)
{
    struct v3_vm_config cfg;
    static uint8_t page[4096] __attribute__((aligned(4096)));
    int err;

    if (v3_init(v3_posix_os_hooks()) < 0)
        _exit(3);
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1 << 20;
    cfg.backend = "emu";
    lvm = v3_create_vm(&cfg, &err);
    if (!lvm || v3_mem_add_listener(lvm, relocking_listener, NULL) < 0)
        _exit(4);
    v3_add_shadow_mem(lvm, 0x200000, 0x201000, page);
}

static void test_mutex_misuse(void **state)
{
    (void)state;
    expect_abort(relock_mutex, "pthread_mutex_lock");
    expect_abort(relock_mutex, "already holds it");
    expect_abort(unlock_unheld_mutex, "pthread_mutex_unlock");
    expect_abort(unlock_unheld_mutex, "does not hold it");
}

static void test_rwlock_misuse(void **state)
{
    (void)state;
    expect_abort(write_then_read, "pthread_rwlock_rdlock");
    expect_abort(write_twice, "pthread_rwlock_wrlock");
}

static void test_listener_relocks(void **state)
{
    (void)state;
    expect_abort(listener_relocks, "pthread_rwlock_rdlock");
}

/* correct use does not abort: lock/unlock pairs from one thread */
static void test_correct_use(void **state)
{
    const struct v3_os_hooks *h = v3_posix_os_hooks();
    void *m = h->mutex_alloc(), *l = h->rwlock_alloc();

    (void)state;
    assert_non_null(m);
    assert_non_null(l);
    h->mutex_lock(m);
    h->mutex_unlock(m);
    h->read_lock(l);
    h->read_lock(l);
    h->read_unlock(l);
    h->read_unlock(l);
    h->write_lock(l);
    h->write_unlock(l);
    h->mutex_free(m);
    h->rwlock_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutex_misuse),
        cmocka_unit_test(test_rwlock_misuse),
        cmocka_unit_test(test_listener_relocks),
        cmocka_unit_test(test_correct_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
