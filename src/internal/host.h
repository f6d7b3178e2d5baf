/* SPDX-License-Identifier: MIT */
/* Core-side access to the host OS interface (see include/v3/host.h). */
#ifndef V3_INTERNAL_HOST_H
#define V3_INTERNAL_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <v3/error.h>
#include <v3/host.h>

extern struct v3_os_hooks v3_host;      /* copy made by v3_init() */
extern int v3_host_ready;

static inline void *v3_malloc(size_t n) { return v3_host.malloc(n); }
static inline void v3_free(void *p) { if (p) v3_host.free(p); }
static inline void *v3_zalloc(size_t n)
{
    void *p = v3_host.malloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}
static inline void *v3_alloc_pages(size_t n) { return v3_host.alloc_pages(n); }
static inline void v3_free_pages(void *p, size_t n) { if (p) v3_host.free_pages(p, n); }
static inline uint64_t v3_time_ns(void) { return v3_host.time_ns(); }

/* One step of a wait for another thread: a pause for the first 256 calls
 * (counted in *spins), then the host's yield() when it has one.  Returns 1
 * once the wait is past its spinning phase (a long wait). */
static inline int v3_wait_step(unsigned long *spins)
{
    if (*spins < 256) {
        (*spins)++;
        __builtin_ia32_pause();
        return 0;
    }
    if (v3_host.yield)
        v3_host.yield();
    else
        __builtin_ia32_pause();
    return 1;
}

/* libc-free string helpers for the core */
static inline int v3_str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}
static inline size_t v3_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* Mutex helpers */
static inline void *v3_mutex_alloc(void) { return v3_host.mutex_alloc(); }
static inline void v3_mutex_free(void *m) { if (m) v3_host.mutex_free(m); }
static inline void v3_mutex_lock(void *m) { v3_host.mutex_lock(m); }
static inline void v3_mutex_unlock(void *m) { v3_host.mutex_unlock(m); }

void v3_log(enum v3_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define V3_ERROR(...) v3_log(V3_LOG_ERROR, __VA_ARGS__)
#define V3_WARN(...)  v3_log(V3_LOG_WARN, __VA_ARGS__)
#define V3_INFO(...)  v3_log(V3_LOG_INFO, __VA_ARGS__)
#define V3_DEBUG(...) v3_log(V3_LOG_DEBUG, __VA_ARGS__)

/* VM accounting, so v3_deinit() can refuse while VMs exist. */
void v3_host_vm_created(void);
void v3_host_vm_freed(void);

#endif
