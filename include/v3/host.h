/* SPDX-License-Identifier: MIT */
/**
 * @file v3/host.h
 * The host OS interface: the only way the v3vmm core reaches its host.
 *
 * An embedder (a kernel module, a user-space program) fills in a
 * struct v3_os_hooks and passes it to v3_init() before any other call.  The
 * core never calls libc or the OS directly, apart from memcpy/memset/memcmp
 * class functions: allocation, pages, address translation, logging, locks
 * and time all come through these pointers.  v3_posix_os_hooks() returns a
 * ready implementation for Linux user space.
 *
 * Every member is mandatory unless marked optional.  Allocation functions may fail by returning
 * NULL; the core turns that into V3_ENOMEM and leaves its objects unchanged.
 */
#ifndef V3_HOST_H
#define V3_HOST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/** Log levels, most severe first. */
enum v3_log_level {
    V3_LOG_ERROR = 0,
    V3_LOG_WARN  = 1,
    V3_LOG_INFO  = 2,
    V3_LOG_DEBUG = 3,
};

struct v3_os_hooks {
    /** Allocate @p size bytes for a small object (no alignment beyond 16). NULL on failure. */
    void *(*malloc)(size_t size);
    /** Free an object from malloc(); NULL is ignored. */
    void (*free)(void *ptr);

    /** Allocate @p npages contiguous, page-aligned, zero-filled 4 KiB pages.
     *  Returns the host virtual address, NULL on failure. */
    void *(*alloc_pages)(size_t npages);
    /** Free a run from alloc_pages(); @p npages is the count given at allocation. */
    void (*free_pages)(void *va, size_t npages);

    /** Host virtual -> host physical address (identity in user space). */
    uint64_t (*vaddr_to_paddr)(void *va);
    /** Host physical -> host virtual address (identity in user space). */
    void *(*paddr_to_vaddr)(uint64_t pa);

    /** Emit one log line (the core gives no trailing newline).  @p fmt is printf-like. */
    void (*log)(enum v3_log_level level, const char *fmt, va_list ap);

    /** Mutexes.  mutex_alloc() returns NULL on failure. */
    void *(*mutex_alloc)(void);
    void (*mutex_free)(void *m);
    void (*mutex_lock)(void *m);
    void (*mutex_unlock)(void *m);

    /** Read-write locks.  rwlock_alloc() returns NULL on failure. */
    void *(*rwlock_alloc)(void);
    void (*rwlock_free)(void *l);
    void (*read_lock)(void *l);
    void (*read_unlock)(void *l);
    void (*write_lock)(void *l);
    void (*write_unlock)(void *l);

    /** Monotonic time in nanoseconds. */
    uint64_t (*time_ns)(void);

    /** Optional (may be NULL): execute a full memory barrier on every CPU
     *  that runs a thread of this VMM, before returning (Linux user space:
     *  membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED); a kernel: an IPI that
     *  runs a barrier on each CPU).  Memory-map changes call it; with it, a
     *  vCPU's read lock on the map (taken for every access to a hooked
     *  region) needs no barrier instruction of its own.  Without it, each
     *  such read lock executes one. */
    void (*barrier_all)(void);

    /** Optional (may be NULL): give up the CPU for a moment (POSIX:
     *  sched_yield()).  Threads that wait for another one call it between
     *  polls: a halted vCPU waiting for an interrupt in v3_run_vm(), a map
     *  change waiting for vCPUs to leave their accesses.  Without it they
     *  spin with a pause instruction. */
    void (*yield)(void);

    /** Optional, all four or none: a wake-up event (auto-reset).  A halted
     *  vCPU sleeps in event_wait() until its next device deadline or until
     *  another thread (an interrupt, v3_stop_vm()) calls event_signal().
     *  Without them it polls the clock with yield().  POSIX: a mutex and a
     *  condition variable on CLOCK_MONOTONIC. */
    void *(*event_alloc)(void);           /**< NULL on failure */
    void (*event_free)(void *ev);
    /** Wait until signalled or @p timeout_ns nanoseconds have passed; clears the signal. */
    void (*event_wait)(void *ev, uint64_t timeout_ns);
    void (*event_signal)(void *ev);

    /** Optional: wall-clock time in nanoseconds since 1970-01-01 UTC (POSIX:
     *  CLOCK_REALTIME).  The RTC starts from it; without it, from a fixed date. */
    uint64_t (*wall_ns)(void);
    /** Optional (may be NULL): fill @p buf with @p len bytes from a
     *  cryptographically secure random source (POSIX: getrandom()).  Called
     *  from vCPU threads, any number at once.  Returns 0 when all @p len
     *  bytes were written, a negative value otherwise.  With it the CPU
     *  model reports RDRAND and RDSEED, whose values come from here (a
     *  failure reads as the instruction's CF = 0, "no value available");
     *  without it they are not reported and raise #UD. */
    int (*entropy)(void *buf, size_t len);

    /** Optional, both or neither: host threads.  A VM with more than one
     *  vCPU runs vCPU 0 on the thread that calls v3_run_vm() and every other
     *  vCPU on a thread of its own, started with thread_create() when the
     *  run begins and joined with thread_join() before v3_run_vm() returns.
     *  Without them, v3_create_vm() refuses more than one vCPU (V3_EINVAL).
     *  thread_create() starts @p fn(@p arg) on a new thread and returns a
     *  handle, or NULL when no thread could be started (nothing was run);
     *  thread_join() waits until that thread has returned from @p fn and
     *  releases the handle.  POSIX: pthread_create() / pthread_join(). */
    void *(*thread_create)(void (*fn)(void *arg), void *arg);
    void (*thread_join)(void *thread);
};

/**
 * Install the host OS interface.  The struct is copied; the caller keeps
 * ownership of @p hooks.  Must be called before any other v3 function and
 * may be called again to replace the hooks while no VM exists.
 * @return V3_OK, or V3_EINVAL if @p hooks is NULL or a member is NULL,
 *         V3_EBUSY if VMs still exist.
 */
int v3_init(const struct v3_os_hooks *hooks);

/** Forget the hooks.  Returns V3_EBUSY (and does nothing) while VMs exist. */
int v3_deinit(void);

/** The hooks installed by v3_init(), or NULL. */
const struct v3_os_hooks *v3_os(void);

/**
 * The POSIX implementation (src/host/posix.c): malloc, mmap'd pages,
 * pthread locks, CLOCK_MONOTONIC, logging to stderr, sched_yield(), and
 * barrier_all through Linux membarrier(2) when the kernel offers the
 * private expedited command (else barrier_all is NULL).  Static storage.
 * Lock misuse is a programming error there: a lock operation that pthreads
 * fails (relocking a lock the thread holds, e.g. a memory-map listener
 * taking the map's lock again: EDEADLK; unlocking a lock it does not hold:
 * EPERM) prints the operation and the error on stderr and aborts the
 * process, rather than go on with a corrupted lock.  Mutexes are
 * error-checking, so relocking one aborts instead of hanging.
 */
const struct v3_os_hooks *v3_posix_os_hooks(void);

/** Minimum level the POSIX logger prints (default V3_LOG_WARN). */
void v3_posix_set_log_level(enum v3_log_level level);

#endif
