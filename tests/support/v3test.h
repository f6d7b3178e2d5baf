/* SPDX-License-Identifier: MIT */
/* Shared test support: a host OS interface that counts and can fail allocations. */
#ifndef V3_TEST_SUPPORT_H
#define V3_TEST_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <v3/v3.h>

/*
 * The test host wraps the POSIX host.  Every allocation (malloc, page runs,
 * mutexes, rwlocks) is counted; v3t_fail_nth(n) makes the n-th allocation
 * from now (1-based) return NULL, 0 disables.  v3t_outstanding() is the
 * number of allocations not yet freed, so a test can check for leaks.
 */
const struct v3_os_hooks *v3t_host(void);
void v3t_fail_nth(long n);
long v3t_alloc_count(void);          /* allocations attempted since the last reset */
long v3t_outstanding(void);          /* live allocations */
void v3t_reset_counts(void);
int v3t_failed(void);                /* did the armed failure fire? */

/* Log lines captured by the test host (last line and count at error level). */
const char *v3t_last_log(void);
long v3t_yield_count(void);          /* calls of the host's yield() so far */
long v3t_wait_count(void);           /* calls of the host's event_wait() so far */
void v3t_entropy_fail(int on);       /* make the host's entropy() fail (1) or work (0) */
long v3t_error_logs(void);
long v3t_warn_logs(void);            /* log lines at warning level so far */
void v3t_set_log_echo(int on);       /* also print logs to stderr */

/*
 * A one-vCPU VM with @p mem_size bytes of RAM on back end @p ops (NULL: the
 * default), on the virtual clock (deterministic TSC).  Sets *core and *ram
 * (host address of guest physical 0).
 * Prints the error and returns NULL on failure.
 */
struct v3_backend_ops;
struct v3_vm *v3t_create_vm(uint64_t mem_size, const struct v3_backend_ops *ops,
                            struct v3_core **core, uint8_t **ram);

/*
 * Put @p core in 64-bit mode, CPL 0, with paging rooted at @p cr3 (tables
 * are the caller's), flat 64-bit CS (selector 8) and flat data segments
 * (selector 0x10), SSE enabled; flushes the software TLB.
 */
void v3t_core_long64(struct v3_core *core, uint64_t cr3);

/* cmocka group setup/teardown that installs the test host. */
int v3t_setup(void **state);
int v3t_teardown(void **state);

#endif
