/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "v3test.h"

static const struct v3_os_hooks *base;
static long fail_at, attempts, outstanding, errors;
static int fired, echo;
static char last[512];

static int should_fail(void)
{
    long n = __atomic_add_fetch(&attempts, 1, __ATOMIC_SEQ_CST);

    if (fail_at && n == fail_at) {
        fired = 1;
        return 1;
    }
    return 0;
}

static void *t_malloc(size_t n)
{
    void *p;

    if (should_fail())
        return NULL;
    p = base->malloc(n);
    if (p)
        __atomic_add_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
    return p;
}
static void t_free(void *p)
{
    if (p) {
        __atomic_sub_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
        base->free(p);
    }
}
static void *t_alloc_pages(size_t n)
{
    void *p;

    if (should_fail())
        return NULL;
    p = base->alloc_pages(n);
    if (p)
        __atomic_add_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
    return p;
}
static void t_free_pages(void *p, size_t n)
{
    if (p) {
        __atomic_sub_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
        base->free_pages(p, n);
    }
}
static void *t_mutex_alloc(void)
{
    void *p;

    if (should_fail())
        return NULL;
    p = base->mutex_alloc();
    if (p)
        __atomic_add_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
    return p;
}
static void t_mutex_free(void *m)
{
    if (m) {
        __atomic_sub_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
        base->mutex_free(m);
    }
}
static void *t_rwlock_alloc(void)
{
    void *p;

    if (should_fail())
        return NULL;
    p = base->rwlock_alloc();
    if (p)
        __atomic_add_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
    return p;
}
static void t_rwlock_free(void *l)
{
    if (l) {
        __atomic_sub_fetch(&outstanding, 1, __ATOMIC_SEQ_CST);
        base->rwlock_free(l);
    }
}
static long warnings;

static void t_log(enum v3_log_level level, const char *fmt, va_list ap)
{
    va_list aq;

    va_copy(aq, ap);
    vsnprintf(last, sizeof(last), fmt, aq);
    va_end(aq);
    if (level == V3_LOG_ERROR)
        __atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
    if (level == V3_LOG_WARN)
        __atomic_add_fetch(&warnings, 1, __ATOMIC_SEQ_CST);
    if (echo)
        fprintf(stderr, "[v3 log %d] %s\n", (int)level, last);
}

static struct v3_os_hooks hooks;
static long yields;

static void t_yield(void)
{
    __atomic_add_fetch(&yields, 1, __ATOMIC_RELAXED);
    base->yield();
}
long v3t_yield_count(void) { return __atomic_load_n(&yields, __ATOMIC_RELAXED); }

static long waits;
static void t_event_wait(void *ev, uint64_t ns)
{
    __atomic_add_fetch(&waits, 1, __ATOMIC_RELAXED);
    base->event_wait(ev, ns);
}
long v3t_wait_count(void) { return __atomic_load_n(&waits, __ATOMIC_RELAXED); }
static int entropy_fail;
static int t_entropy(void *buf, size_t len)
{
    if (__atomic_load_n(&entropy_fail, __ATOMIC_RELAXED))
        return -1;
    return base->entropy(buf, len);
}
void v3t_entropy_fail(int on) { __atomic_store_n(&entropy_fail, on, __ATOMIC_RELAXED); }

const struct v3_os_hooks *v3t_host(void)
{
    if (!base) {
        base = v3_posix_os_hooks();
        hooks = *base;
        hooks.malloc = t_malloc;
        hooks.free = t_free;
        hooks.alloc_pages = t_alloc_pages;
        hooks.free_pages = t_free_pages;
        hooks.mutex_alloc = t_mutex_alloc;
        hooks.mutex_free = t_mutex_free;
        hooks.rwlock_alloc = t_rwlock_alloc;
        hooks.rwlock_free = t_rwlock_free;
        hooks.log = t_log;
        if (base->yield)
            hooks.yield = t_yield;
        if (base->event_wait)
            hooks.event_wait = t_event_wait;
        echo = getenv("V3T_LOG") != NULL;
        if (base->entropy)
            hooks.entropy = t_entropy;
        if (getenv("V3T_NO_ENTROPY"))
            hooks.entropy = NULL;          /* a host without an entropy source */
        if (getenv("V3T_NO_BARRIER_ALL"))
            hooks.barrier_all = NULL;      /* the fallback of the vCPU read lock */
    }
    return &hooks;
}

void v3t_fail_nth(long n)
{
    attempts = 0;
    fired = 0;
    fail_at = n;
}
long v3t_alloc_count(void) { return attempts; }
long v3t_outstanding(void) { return outstanding; }
void v3t_reset_counts(void) { attempts = 0; fail_at = 0; fired = 0; errors = 0; }
int v3t_failed(void) { return fired; }
const char *v3t_last_log(void) { return last; }
long v3t_error_logs(void) { return errors; }
long v3t_warn_logs(void) { return warnings; }
void v3t_set_log_echo(int on) { echo = on; }

int v3t_setup(void **state)
{
    (void)state;
    v3t_reset_counts();
    return v3_init(v3t_host()) == V3_OK ? 0 : -1;
}

int v3t_teardown(void **state)
{
    (void)state;
    return v3_deinit() == V3_OK ? 0 : -1;
}
