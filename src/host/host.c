/* SPDX-License-Identifier: MIT */
/* The core side of the host OS interface: installing hooks, logging, errors. */
#include "internal/host.h"

struct v3_os_hooks v3_host;
int v3_host_ready;
static long v3_live_vms;

int v3_init(const struct v3_os_hooks *h)
{
    if (!h || !h->malloc || !h->free || !h->alloc_pages || !h->free_pages ||
        !h->vaddr_to_paddr || !h->paddr_to_vaddr || !h->log ||
        !h->mutex_alloc || !h->mutex_free || !h->mutex_lock || !h->mutex_unlock ||
        !h->rwlock_alloc || !h->rwlock_free || !h->read_lock || !h->read_unlock ||
        !h->write_lock || !h->write_unlock || !h->time_ns)
        return V3_EINVAL;
    if (!h->event_alloc != !h->event_free || !h->event_alloc != !h->event_wait ||
        !h->event_alloc != !h->event_signal)
        return V3_EINVAL;           /* the event members come as a set */
    if (!h->thread_create != !h->thread_join)
        return V3_EINVAL;           /* so do the thread members */
    if (__atomic_load_n(&v3_live_vms, __ATOMIC_SEQ_CST) != 0)
        return V3_EBUSY;
    v3_host = *h;
    v3_host_ready = 1;
    return V3_OK;
}

int v3_deinit(void)
{
    if (__atomic_load_n(&v3_live_vms, __ATOMIC_SEQ_CST) != 0)
        return V3_EBUSY;
    v3_host_ready = 0;
    memset(&v3_host, 0, sizeof(v3_host));
    return V3_OK;
}

const struct v3_os_hooks *v3_os(void)
{
    return v3_host_ready ? &v3_host : NULL;
}

void v3_host_vm_created(void) { __atomic_add_fetch(&v3_live_vms, 1, __ATOMIC_SEQ_CST); }
void v3_host_vm_freed(void) { __atomic_sub_fetch(&v3_live_vms, 1, __ATOMIC_SEQ_CST); }

void v3_log(enum v3_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!v3_host_ready)
        return;
    va_start(ap, fmt);
    v3_host.log(level, fmt, ap);
    va_end(ap);
}

const char *v3_strerror(int err)
{
    switch (err) {
    case V3_OK:           return "success";
    case V3_EINVAL:       return "invalid argument";
    case V3_ERANGE_ORDER: return "range start is not below its end";
    case V3_EALIGN:       return "address or size is not 4 KiB aligned";
    case V3_ELIMIT:       return "address beyond the 52-bit guest physical space";
    case V3_EOVERLAP:     return "range overlaps an existing region";
    case V3_ENOCALLBACK:  return "missing hook callback";
    case V3_ENOENT:       return "no such entry";
    case V3_ENOMEM:       return "out of memory";
    case V3_ESIZE:        return "memory size is zero or not a multiple of 4 KiB";
    case V3_EHOOKED:      return "address is fully hooked and has no host memory";
    case V3_EUNMAPPED:    return "no memory region covers the address";
    case V3_ECALLBACK:    return "a hook callback failed";
    case V3_EFAULT:       return "guest exception";
    case V3_EUNSUPPORTED: return "unsupported instruction or feature";
    case V3_EBUSY:        return "busy";
    case V3_EEXIST:       return "already exists";
    case V3_ENOTHOOK:     return "region is not a hook";
    case V3_ENOTINIT:     return "v3_init() has not been called";
    case V3_EPTE:         return "page-table entry outside RAM-backed memory";
    case V3_EIMAGE:       return "malformed guest image";
    case V3_EIO:          return "host I/O error";
    case V3_ENOFIT:       return "the guest image does not fit in guest RAM";
    case V3_ENOACCEL:     return "hardware accelerator not available";
    case V3_ESNAPVER:     return "the snapshot has another format version";
    case V3_ECHECKSUM:    return "the snapshot checksum does not match (corrupt snapshot)";
    case V3_EMISMATCH:    return "the snapshot does not match this VM's configuration";
    default:              return "unknown error";
    }
}
