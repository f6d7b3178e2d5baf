/* SPDX-License-Identifier: MIT */
/* Host OS interface for Linux user space: the only file of libv3 that uses libc freely. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <v3/host.h>

static enum v3_log_level posix_log_level = V3_LOG_WARN;

void v3_posix_set_log_level(enum v3_log_level level) { posix_log_level = level; }

static void *posix_malloc(size_t n) { return malloc(n ? n : 1); }
static void posix_free(void *p) { free(p); }

static void *posix_alloc_pages(size_t n)
{
    void *p;

    if (n == 0 || n > (SIZE_MAX >> 12))
        return NULL;
    p = mmap(NULL, n << 12, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;   /* anonymous mappings are zero-filled */
}

static void posix_free_pages(void *p, size_t n)
{
    if (p)
        munmap(p, n << 12);
}

static uint64_t posix_v2p(void *va) { return (uint64_t)(uintptr_t)va; }
static void *posix_p2v(uint64_t pa) { return (void *)(uintptr_t)pa; }

static void posix_log(enum v3_log_level level, const char *fmt, va_list ap)
{
    static const char *names[] = { "error", "warning", "info", "debug" };

    if (level > posix_log_level)
        return;
    flockfile(stderr);
    fprintf(stderr, "v3 %s: ", names[level <= V3_LOG_DEBUG ? level : V3_LOG_DEBUG]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

/*
 * Lock operations check what pthreads returns.  A failure is a programming
 * error in the caller of the core (a thread that relocks a lock it holds,
 * e.g. a memory-map listener or hook that takes the map's lock again:
 * EDEADLK; an unlock by a thread that does not hold the lock: EPERM), or a
 * broken lock (EINVAL, EAGAIN).  Going on would corrupt the lock and then
 * the memory map, so the POSIX host logs the operation and the error on
 * stderr and aborts.  Mutexes are error-checking (PTHREAD_MUTEX_ERRORCHECK),
 * so relocking one is reported instead of hanging.  Relocking an rwlock is
 * reported where glibc detects it (a thread holding the write lock asks for
 * it again, for either side); a read lock taken again by its holder while
 * a writer waits may deadlock, as pthreads allows.
 */
static void lock_check(int rc, const char *op, void *lock)
{
    if (__builtin_expect(rc == 0, 1))
        return;
    fprintf(stderr, "v3: %s(%p) failed: %s (%s): a lock used wrongly, aborting\n", op, lock,
            strerror(rc), rc == EDEADLK ? "this thread already holds it" :
                          rc == EPERM ? "this thread does not hold it" : "invalid lock");
    fflush(stderr);
    abort();
}

static void *posix_mutex_alloc(void)
{
    pthread_mutex_t *m = malloc(sizeof(*m));
    pthread_mutexattr_t a;

    if (!m)
        return NULL;
    if (pthread_mutexattr_init(&a) != 0) {
        free(m);
        return NULL;
    }
    if (pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK) != 0 || pthread_mutex_init(m, &a) != 0) {
        free(m);
        m = NULL;
    }
    pthread_mutexattr_destroy(&a);
    return m;
}
static void posix_mutex_free(void *m)
{
    if (m) {
        lock_check(pthread_mutex_destroy(m), "pthread_mutex_destroy", m);
        free(m);
    }
}
static void posix_mutex_lock(void *m) { lock_check(pthread_mutex_lock(m), "pthread_mutex_lock", m); }
static void posix_mutex_unlock(void *m) { lock_check(pthread_mutex_unlock(m), "pthread_mutex_unlock", m); }

static void *posix_rwlock_alloc(void)
{
    pthread_rwlock_t *l = malloc(sizeof(*l));

    if (l && pthread_rwlock_init(l, NULL) != 0) {
        free(l);
        l = NULL;
    }
    return l;
}
static void posix_rwlock_free(void *l)
{
    if (l) {
        lock_check(pthread_rwlock_destroy(l), "pthread_rwlock_destroy", l);
        free(l);
    }
}
static void posix_read_lock(void *l) { lock_check(pthread_rwlock_rdlock(l), "pthread_rwlock_rdlock", l); }
static void posix_read_unlock(void *l) { lock_check(pthread_rwlock_unlock(l), "pthread_rwlock_unlock", l); }
static void posix_write_lock(void *l) { lock_check(pthread_rwlock_wrlock(l), "pthread_rwlock_wrlock", l); }
static void posix_write_unlock(void *l) { lock_check(pthread_rwlock_unlock(l), "pthread_rwlock_unlock", l); }

static uint64_t posix_time_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void posix_yield(void) { sched_yield(); }

/* Every thread of the process executes a full barrier before this returns.
 * Registered by v3_posix_os_hooks() before it is offered, so it cannot fail. */
static void posix_barrier_all(void)
{
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
        perror("v3: membarrier");
        abort();      /* vCPU read locks rely on it: going on would be unsafe */
    }
}

static uint64_t posix_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wake-up events: a flag under a mutex, a condition variable on CLOCK_MONOTONIC. */
struct posix_event {
    pthread_mutex_t m;
    pthread_cond_t c;
    int signalled;
};

static void *posix_event_alloc(void)
{
    struct posix_event *e = calloc(1, sizeof(*e));
    pthread_condattr_t ca;

    if (!e)
        return NULL;
    if (pthread_condattr_init(&ca) != 0) {
        free(e);
        return NULL;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&e->m, NULL) != 0 || pthread_cond_init(&e->c, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        free(e);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    return e;
}

static void posix_event_free(void *p)
{
    struct posix_event *e = p;
    if (!e)
        return;
    pthread_cond_destroy(&e->c);
    pthread_mutex_destroy(&e->m);
    free(e);
}

static void posix_event_wait(void *p, uint64_t timeout_ns)
{
    struct posix_event *e = p;
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (timeout_ns > 3600ull * 1000000000ull)
        timeout_ns = 3600ull * 1000000000ull;
    ts.tv_sec += (time_t)(timeout_ns / 1000000000ull);
    ts.tv_nsec += (long)(timeout_ns % 1000000000ull);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->m);
    while (!e->signalled)
        if (pthread_cond_timedwait(&e->c, &e->m, &ts) != 0)
            break;                  /* ETIMEDOUT (or EINTR-like): the caller rechecks */
    e->signalled = 0;
    pthread_mutex_unlock(&e->m);
}

static void posix_event_signal(void *p)
{
    struct posix_event *e = p;
    pthread_mutex_lock(&e->m);
    e->signalled = 1;
    pthread_cond_signal(&e->c);
    pthread_mutex_unlock(&e->m);
}

/* Register for private expedited membarrier: 1 when it can be used. */
static int posix_membarrier_ok(void)
{
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
        return 0;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

static int posix_entropy(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

struct posix_thread {
    pthread_t t;
    void (*fn)(void *arg);
    void *arg;
};

static void *posix_thread_main(void *p)
{
    struct posix_thread *th = p;
    th->fn(th->arg);
    return NULL;
}

static void *posix_thread_create(void (*fn)(void *arg), void *arg)
{
    struct posix_thread *th = calloc(1, sizeof(*th));

    if (!th)
        return NULL;
    th->fn = fn;
    th->arg = arg;
    if (pthread_create(&th->t, NULL, posix_thread_main, th) != 0) {
        free(th);
        return NULL;
    }
    return th;
}

static void posix_thread_join(void *p)
{
    struct posix_thread *th = p;
    int rc;

    if (!th)
        return;
    rc = pthread_join(th->t, NULL);
    if (rc != 0) {
        fprintf(stderr, "v3 posix: pthread_join: %s\n", strerror(rc));
        abort();
    }
    free(th);
}

static struct v3_os_hooks posix_hooks;

static void posix_probe(void)
{
    if (posix_membarrier_ok())
        posix_hooks.barrier_all = posix_barrier_all;
}

static struct v3_os_hooks posix_hooks = {
    .malloc = posix_malloc,
    .free = posix_free,
    .alloc_pages = posix_alloc_pages,
    .free_pages = posix_free_pages,
    .vaddr_to_paddr = posix_v2p,
    .paddr_to_vaddr = posix_p2v,
    .log = posix_log,
    .mutex_alloc = posix_mutex_alloc,
    .mutex_free = posix_mutex_free,
    .mutex_lock = posix_mutex_lock,
    .mutex_unlock = posix_mutex_unlock,
    .rwlock_alloc = posix_rwlock_alloc,
    .rwlock_free = posix_rwlock_free,
    .read_lock = posix_read_lock,
    .read_unlock = posix_read_unlock,
    .write_lock = posix_write_lock,
    .write_unlock = posix_write_unlock,
    .time_ns = posix_time_ns,
    .yield = posix_yield,
    .event_alloc = posix_event_alloc,
    .event_free = posix_event_free,
    .event_wait = posix_event_wait,
    .event_signal = posix_event_signal,
    .wall_ns = posix_wall_ns,
    .entropy = posix_entropy,
    .thread_create = posix_thread_create,
    .thread_join = posix_thread_join,
};

const struct v3_os_hooks *v3_posix_os_hooks(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, posix_probe);
    return &posix_hooks;
}
