/* SPDX-License-Identifier: MIT */
/*
 * The KVM back end: runs a vCPU on Linux KVM (/dev/kvm) behind the same
 * struct v3_backend_ops as the software CPU.
 *
 * This file sits beside src/host/posix.c and, like it, may use libc and
 * Linux system calls (open, ioctl, mmap, signals, POSIX timers): it is
 * compiled into the host part of the library (v3host), not into the
 * libc-free core, and scripts/check-core-symbols.sh allows the core's two
 * references into it (v3_kvm_backend, v3_kvm_probe).  See
 * docs/KVM.md for the design: memory slots
 * from the map's change listener, exits onto the VM's dispatch, the
 * interrupt controllers staying in v3vmm, time-based slices.
 */
#define _GNU_SOURCE
#include "internal/host.h"
#include "internal/vm.h"
#include "internal/clock.h"

#include <v3/cpu.h>
#include <v3/paging.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define KVM_DEFAULT_PATH "/dev/kvm"
/* Nominal rate at which time spent in KVM_RUN counts as instructions (per ns):
 * instruction slices and limits become time, core->insn_count an estimate. */
#define KVM_NOMINAL_IPNS 1u
#define KVM_MAX_SLOTS 64
#define KVM_MAX_KNOWN 256
#define KVM_HC_DOORBELL_PORT V3_HCALL_DOORBELL_PORT

struct kvm_slot {
    int used;
    uint64_t gpa, size;
    void *hva;
    uint32_t flags;
};

/* What the vCPUs of one VM share: the VM fd and its memory slots. */
struct kvm_vm {
    struct v3_vm *vm;
    int sys_fd, vm_fd;
    unsigned refs;                   /* vCPUs using it; the last one frees it */
    struct kvm_slot slots[KVM_MAX_SLOTS];
    const struct v3_mem_region *known[KVM_MAX_KNOWN];
    unsigned nknown;
    int slot_error;                  /* a slot update failed: every vCPU's next run() reports it */
    int log_dirty;                   /* RAM slots have KVM_MEM_LOG_DIRTY_PAGES (from the first dirty_pull) */
    int listening;                   /* kvm_map_changed is registered with the map */
    int msr_exits;                   /* KVM_CAP_X86_USER_SPACE_MSR + MSR_FILTER: hooked MSRs exit to us */
    uint64_t filter_gen;             /* v3_vm::msr_hooks_gen the filter was built from (+1; 0: none) */
    pthread_mutex_t filter_lock;
    uint32_t tsc_khz;                /* the guest TSC rate KVM gives (0: unknown) */
};

struct kvm_core {
    struct v3_core *core;
    struct kvm_vm *kv;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    /* state last exchanged with KVM, to push only what the VMM changed */
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    int full_sync;                   /* push everything (FPU, MSRs too) before the next run */
    int pending_completion;          /* an MMIO exit waits for its KVM_RUN completion */
    int stale;                       /* KVM's registers are newer than the core's */
    int cpuid_final;                 /* CPUID set with the VM's CPUID hooks (at the first run) */
    /* thread, kick, slice */
    pthread_t thread;
    int has_thread;
    timer_t timer;
    int has_timer;
    int kicked;                      /* atomic */
    uint64_t slice_ns;               /* 0: none */
    uint64_t run_ns;                 /* time spent in KVM_RUN */
};

static inline struct kvm_core *kvm_of(struct v3_core *core)
{
    return (struct kvm_core *)core->backend;
}

/* ------------------------------------------------------------ device and capabilities */

static const char *kvm_path(void)
{
    const char *p = getenv("V3_KVM_DEVICE");
    return p && *p ? p : KVM_DEFAULT_PATH;
}

static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR && req != KVM_RUN);
    return r;
}

struct kvm_cap_need {
    long cap;
    const char *name;
};
static const struct kvm_cap_need kvm_needed[] = {
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
    { KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
};

/* Open the device and check the API and capabilities; the fd or a negative
 * error, with *why set to one line naming the cause. */
static int kvm_open_checked(char *why, size_t whylen)
{
    const char *path = kvm_path();
    const char *fake_missing = getenv("V3_KVM_DISABLE_CAP");
    int fd = open(path, O_RDWR | O_CLOEXEC);
    int v;

    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "%s: %s (%s)", path,
                 e == ENOENT ? "no such device" : e == EACCES || e == EPERM ? "not accessible" : "cannot open",
                 strerror(e));
        return V3_ENOACCEL;
    }
    v = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION) {
        snprintf(why, whylen, "%s: KVM API version %d, need %d", path, v, KVM_API_VERSION);
        close(fd);
        return V3_ENOACCEL;
    }
    for (size_t i = 0; i < sizeof(kvm_needed) / sizeof(kvm_needed[0]); i++) {
        int have = ioctl(fd, KVM_CHECK_EXTENSION, kvm_needed[i].cap);
        if (fake_missing && !strcmp(fake_missing, kvm_needed[i].name))
            have = 0;           /* tests: pretend the kernel lacks it */
        if (have <= 0) {
            snprintf(why, whylen, "%s lacks the capability %s", path, kvm_needed[i].name);
            close(fd);
            return V3_ENOACCEL;
        }
    }
    return fd;
}

int v3_kvm_probe(bool quiet)
{
    char why[256];
    int fd = kvm_open_checked(why, sizeof(why));

    if (fd < 0) {
        if (!quiet)
            V3_ERROR("kvm: %s", why);
        else
            V3_INFO("kvm: %s", why);
        return fd;
    }
    close(fd);
    return V3_OK;
}

/* ------------------------------------------------------------ signals: kick and slice timer */

static __thread struct kvm_run *tls_run;
#define KVM_KICK_SIGNAL (SIGRTMIN + 6)
static pthread_once_t kvm_sig_once = PTHREAD_ONCE_INIT;

static void kvm_sig_handler(int sig)
{
    (void)sig;
    if (tls_run)
        tls_run->immediate_exit = 1;
}

static void kvm_sig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kvm_sig_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(KVM_KICK_SIGNAL, &sa, NULL);
}

/* The calling thread runs the vCPU: a kick or the slice timer signals it. */
static int kvm_attach_thread(struct kvm_core *k)
{
    sigset_t set;

    if (k->has_thread && pthread_equal(k->thread, pthread_self()))
        return 0;
    pthread_once(&kvm_sig_once, kvm_sig_install);
    sigemptyset(&set);
    sigaddset(&set, KVM_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    if (k->has_timer) {
        timer_delete(k->timer);
        k->has_timer = 0;
    }
    {
        struct sigevent sev;
        memset(&sev, 0, sizeof(sev));
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = KVM_KICK_SIGNAL;
        sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
        if (timer_create(CLOCK_MONOTONIC, &sev, &k->timer) == 0)
            k->has_timer = 1;
        else
            V3_WARN("kvm: no slice timer (%s): device deadlines are met at the next exit only",
                    strerror(errno));
    }
    k->thread = pthread_self();
    k->has_thread = 1;
    return 0;
}

static void kvm_arm_timer(struct kvm_core *k, uint64_t ns)
{
    struct itimerspec its;

    if (!k->has_timer)
        return;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(ns % 1000000000ull);
    timer_settime(k->timer, 0, &its, NULL);
}

/* ------------------------------------------------------------ memory slots */

struct want_slot {
    uint64_t gpa, end;
    void *hva;
    uint32_t flags;
};

static int want_add(struct want_slot *w, unsigned *n, uint64_t gpa, uint64_t end, void *hva, uint32_t flags)
{
    if (end <= gpa)
        return 0;
    if (*n >= KVM_MAX_SLOTS)
        return V3_ENOMEM;
    w[*n].gpa = gpa;
    w[*n].end = end;
    w[*n].hva = hva;
    w[*n].flags = flags;
    (*n)++;
    return 0;
}

/* The slots the map asks for, without overlay @p skip (being removed). */
static int kvm_wanted(struct v3_vm *vm, const struct v3_mem_region *skip, bool log, struct want_slot *w,
                      unsigned *n)
{
    uint32_t ram = log ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    struct v3_mem_region *base = v3_mem_base(vm);
    uint64_t ram_end = v3_mem_size(vm), cur = 0;
    int rc;

    *n = 0;
    for (struct v3_mem_region *r = v3_mem_first(vm); r; r = v3_mem_next(vm, r)) {
        if (r == skip)
            continue;
        if (r->guest_start > cur && cur < ram_end) {
            uint64_t e = r->guest_start < ram_end ? r->guest_start : ram_end;
            rc = want_add(w, n, cur, e, (uint8_t *)base->host_addr + cur, ram);
            if (rc < 0)
                return rc;
        }
        if (r->guest_end > cur)
            cur = r->guest_end;
        if (r->type == V3_REGION_SHADOW || r->type == V3_REGION_WRITE_HOOK) {
            rc = want_add(w, n, r->guest_start, r->guest_end, r->host_addr,
                          r->type == V3_REGION_WRITE_HOOK ? KVM_MEM_READONLY : ram);
            if (rc < 0)
                return rc;
        }
    }
    if (cur < ram_end)
        return want_add(w, n, cur, ram_end, (uint8_t *)base->host_addr + cur, ram);
    return 0;
}

static int kvm_set_slot(struct kvm_vm *kv, unsigned id, uint64_t gpa, uint64_t size, void *hva, uint32_t flags)
{
    struct kvm_userspace_memory_region m;

    memset(&m, 0, sizeof(m));
    m.slot = id;
    m.flags = flags;
    m.guest_phys_addr = gpa;
    m.memory_size = size;
    m.userspace_addr = (uint64_t)(uintptr_t)hva;
    if (kvm_ioctl(kv->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
        V3_ERROR("kvm: KVM_SET_USER_MEMORY_REGION slot %u [%#llx, +%#llx) failed: %s", id,
                 (unsigned long long)gpa, (unsigned long long)size, strerror(errno));
        return V3_EIO;
    }
    return 0;
}

/* Make the KVM slots match the map: delete the slots that changed, then add the new ones. */
static int kvm_sync_slots(struct kvm_vm *kv, const struct v3_mem_region *skip)
{
    struct want_slot w[KVM_MAX_SLOTS];
    unsigned n, i, j;
    int keep[KVM_MAX_SLOTS] = { 0 }, rc;

    rc = kvm_wanted(kv->vm, skip, kv->log_dirty, w, &n);
    if (rc < 0) {
        V3_ERROR("kvm: the memory map needs more than %u slots", KVM_MAX_SLOTS);
        return rc;
    }
    for (i = 0; i < KVM_MAX_SLOTS; i++) {
        struct kvm_slot *s = &kv->slots[i];
        int found = 0;
        if (!s->used)
            continue;
        for (j = 0; j < n; j++)
            if (!keep[j] && w[j].gpa == s->gpa && w[j].end - w[j].gpa == s->size && w[j].hva == s->hva &&
                w[j].flags == s->flags) {
                keep[j] = 1;
                found = 1;
                break;
            }
        if (!found) {
            rc = kvm_set_slot(kv, i, s->gpa, 0, s->hva, s->flags);
            if (rc < 0)
                return rc;
            s->used = 0;
        }
    }
    for (j = 0; j < n; j++) {
        if (keep[j])
            continue;
        for (i = 0; i < KVM_MAX_SLOTS && kv->slots[i].used; i++)
            ;
        if (i == KVM_MAX_SLOTS)
            return V3_ENOMEM;
        rc = kvm_set_slot(kv, i, w[j].gpa, w[j].end - w[j].gpa, w[j].hva, w[j].flags);
        if (rc < 0)
            return rc;
        kv->slots[i] = (struct kvm_slot){ 1, w[j].gpa, w[j].end - w[j].gpa, w[j].hva, w[j].flags };
    }
    return 0;
}

static void kvm_remember_overlays(struct kvm_vm *kv, const struct v3_mem_region *skip)
{
    kv->nknown = 0;
    for (struct v3_mem_region *r = v3_mem_first(kv->vm); r; r = v3_mem_next(kv->vm, r))
        if (r != skip && kv->nknown < KVM_MAX_KNOWN)
            kv->known[kv->nknown++] = r;
}

/*
 * The map's change listener (runs with the map's write lock held): called
 * after an insert and before a removal.  A region we knew that is still in
 * the map at @p start is the one being removed.  Every vCPU holds its map
 * read lock for the whole of KVM_RUN and the writer kicks them all out
 * first (v3_mem_map::core_kick), so slots never change under a running
 * guest: replacing a RAM slot by its pieces (delete, then add) would
 * otherwise leave a moment where guest code has no memory.
 */
static void kvm_map_changed(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv)
{
    struct kvm_vm *kv = priv;
    struct v3_mem_region *r = v3_get_shadow_region(vm, start);
    const struct v3_mem_region *skip = NULL;
    int rc;

    (void)end;
    if (r && r->type != V3_REGION_BASE && r->guest_start == start)
        for (unsigned i = 0; i < kv->nknown; i++)
            if (kv->known[i] == r)
                skip = r;
    rc = kvm_sync_slots(kv, skip);
    if (rc < 0)
        __atomic_store_n(&kv->slot_error, rc, __ATOMIC_RELEASE);
    kvm_remember_overlays(kv, skip);
}

/* ------------------------------------------------------------ state conversion */

static void seg_to_kvm(const struct v3_segment *s, struct kvm_segment *d)
{
    memset(d, 0, sizeof(*d));
    d->base = s->base;
    d->limit = s->limit;
    d->selector = s->selector;
    d->type = V3_SEG_TYPE(s->attrib);
    d->s = !!(s->attrib & V3_SEG_S);
    d->dpl = V3_SEG_DPL(s->attrib);
    d->present = !!(s->attrib & V3_SEG_P);
    d->avl = !!(s->attrib & V3_SEG_AVL);
    d->l = !!(s->attrib & V3_SEG_L);
    d->db = !!(s->attrib & V3_SEG_DB);
    d->g = !!(s->attrib & V3_SEG_G);
    d->unusable = !d->present;
}

static void seg_from_kvm(const struct kvm_segment *s, struct v3_segment *d)
{
    d->base = s->base;
    d->limit = s->limit;
    d->selector = s->selector;
    d->attrib = (uint16_t)((s->type & 0xf) | (s->s ? V3_SEG_S : 0) | ((s->dpl & 3) << 5) |
                           (s->present && !s->unusable ? V3_SEG_P : 0) | (s->avl ? V3_SEG_AVL : 0) |
                           (s->l ? V3_SEG_L : 0) | (s->db ? V3_SEG_DB : 0) | (s->g ? V3_SEG_G : 0));
}

static const int seg_order[V3_NR_SREGS] = { V3_ES, V3_CS, V3_SS, V3_DS, V3_FS, V3_GS, V3_LDTR, V3_TR };

static void core_to_regs(struct v3_core *c, struct kvm_regs *r)
{
    memset(r, 0, sizeof(*r));
    r->rax = c->gpr[V3_RAX]; r->rbx = c->gpr[V3_RBX]; r->rcx = c->gpr[V3_RCX]; r->rdx = c->gpr[V3_RDX];
    r->rsi = c->gpr[V3_RSI]; r->rdi = c->gpr[V3_RDI]; r->rsp = c->gpr[V3_RSP]; r->rbp = c->gpr[V3_RBP];
    r->r8 = c->gpr[V3_R8]; r->r9 = c->gpr[V3_R9]; r->r10 = c->gpr[V3_R10]; r->r11 = c->gpr[V3_R11];
    r->r12 = c->gpr[V3_R12]; r->r13 = c->gpr[V3_R13]; r->r14 = c->gpr[V3_R14]; r->r15 = c->gpr[V3_R15];
    r->rip = c->rip;
    r->rflags = v3_core_get_rflags(c) | 2;
}

static void regs_to_core(const struct kvm_regs *r, struct v3_core *c)
{
    c->gpr[V3_RAX] = r->rax; c->gpr[V3_RBX] = r->rbx; c->gpr[V3_RCX] = r->rcx; c->gpr[V3_RDX] = r->rdx;
    c->gpr[V3_RSI] = r->rsi; c->gpr[V3_RDI] = r->rdi; c->gpr[V3_RSP] = r->rsp; c->gpr[V3_RBP] = r->rbp;
    c->gpr[V3_R8] = r->r8; c->gpr[V3_R9] = r->r9; c->gpr[V3_R10] = r->r10; c->gpr[V3_R11] = r->r11;
    c->gpr[V3_R12] = r->r12; c->gpr[V3_R13] = r->r13; c->gpr[V3_R14] = r->r14; c->gpr[V3_R15] = r->r15;
    c->rip = r->rip;
    v3_core_set_rflags(c, r->rflags);
}

static void core_to_sregs(struct v3_core *c, const struct kvm_sregs *old, struct kvm_sregs *s)
{
    struct kvm_segment *segs[V3_NR_SREGS];

    *s = *old;
    /* KVM_SET_SREGS queues the lowest vector of this bitmap as an injected
     * interrupt, over the one KVM_INTERRUPT queued; an empty bitmap leaves
     * KVM's queue alone (kvm_pull keeps the copy's empty too) */
    memset(s->interrupt_bitmap, 0, sizeof(s->interrupt_bitmap));
    segs[V3_ES] = &s->es; segs[V3_CS] = &s->cs; segs[V3_SS] = &s->ss; segs[V3_DS] = &s->ds;
    segs[V3_FS] = &s->fs; segs[V3_GS] = &s->gs; segs[V3_LDTR] = &s->ldt; segs[V3_TR] = &s->tr;
    for (int i = 0; i < V3_NR_SREGS; i++)
        seg_to_kvm(&c->seg[seg_order[i]], segs[seg_order[i]]);
    s->gdt.base = c->gdtr.base;
    s->gdt.limit = c->gdtr.limit;
    memset(s->gdt.padding, 0, sizeof(s->gdt.padding));
    s->idt.base = c->idtr.base;
    s->idt.limit = c->idtr.limit;
    memset(s->idt.padding, 0, sizeof(s->idt.padding));
    s->cr0 = c->cr0; s->cr2 = c->cr2; s->cr3 = c->cr3; s->cr4 = c->cr4; s->cr8 = c->cr8;
    s->efer = c->efer;
    s->apic_base = c->apic_base;
}

static void sregs_to_core(const struct kvm_sregs *s, struct v3_core *c)
{
    const struct kvm_segment *segs[V3_NR_SREGS] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs,
                                                    &s->ldt, &s->tr };
    for (int i = 0; i < V3_NR_SREGS; i++)
        seg_from_kvm(segs[i], &c->seg[i]);
    c->gdtr.base = s->gdt.base;
    c->gdtr.limit = s->gdt.limit;
    c->idtr.base = s->idt.base;
    c->idtr.limit = s->idt.limit;
    c->cr0 = s->cr0; c->cr2 = s->cr2; c->cr3 = s->cr3; c->cr4 = s->cr4; c->cr8 = s->cr8;
    c->efer = s->efer;
    c->apic_base = s->apic_base;
    v3_core_update_mode(c);
}

static const uint32_t kvm_msr_list[] = {
    0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102,  /* STAR LSTAR CSTAR SFMASK KGSBASE */
    0x174, 0x175, 0x176, 0x277, 0xc0000103,                      /* SYSENTER_CS/ESP/EIP PAT TSC_AUX */
    0x10,                                                        /* TSC: the VM clock's, see below */
};
#define KVM_NMSRS (sizeof(kvm_msr_list) / sizeof(kvm_msr_list[0]))

static uint64_t *msr_field(struct v3_core *c, uint32_t idx)
{
    switch (idx) {
    case 0xc0000081: return &c->star;
    case 0xc0000082: return &c->lstar;
    case 0xc0000083: return &c->cstar;
    case 0xc0000084: return &c->sfmask;
    case 0xc0000102: return &c->kernel_gs_base;
    case 0x174: return &c->sysenter_cs;
    case 0x175: return &c->sysenter_esp;
    case 0x176: return &c->sysenter_eip;
    case 0x277: return &c->pat;
    default: return &c->tsc_aux;
    }
}

static int kvm_msrs(struct kvm_core *k, bool set)
{
    /* struct kvm_msrs followed by its entries */
    uint64_t buf[(sizeof(struct kvm_msrs) + KVM_NMSRS * sizeof(struct kvm_msr_entry)) / 8 + 1];
    struct kvm_msrs *h = (struct kvm_msrs *)buf;
    struct kvm_msr_entry *e = h->entries;
    int r;

    memset(buf, 0, sizeof(buf));
    h->nmsrs = KVM_NMSRS;
    for (unsigned i = 0; i < KVM_NMSRS; i++) {
        e[i].index = kvm_msr_list[i];
        if (set)
            e[i].data = *msr_field(k->core, kvm_msr_list[i]);
    }
    /* The guest TSC is the VM clock's (as on the software CPU) plus the core's
       offset; KVM runs it on from there at the rate it gives (tsc_khz). */
    if (set)
        e[KVM_NMSRS - 1].data = v3_core_tsc_base(k->core) + k->core->tsc_offset;
    r = kvm_ioctl(k->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, h);
    if (r < 0)
        return V3_EIO;
    if (!set)
        for (int i = 0; i < r; i++) {
            if (e[i].index == 0x10)
                k->core->tsc_offset = e[i].data - v3_core_tsc_base(k->core);
            else
                *msr_field(k->core, e[i].index) = e[i].data;
        }
    return 0;
}

static int kvm_fpu(struct kvm_core *k, bool set)
{
    struct kvm_fpu f;
    struct v3_fpu_state *s = &k->core->fpu;

    memset(&f, 0, sizeof(f));
    if (set) {
        memcpy(f.fpr, s->st, sizeof(f.fpr));
        f.fcw = s->fcw;
        f.fsw = s->fsw;
        f.ftwx = s->ftw;
        f.last_opcode = s->fop;
        f.last_ip = s->fip;
        f.last_dp = s->fdp;
        memcpy(f.xmm, s->xmm, sizeof(f.xmm));
        f.mxcsr = s->mxcsr;
        return kvm_ioctl(k->fd, KVM_SET_FPU, &f) < 0 ? V3_EIO : 0;
    }
    if (kvm_ioctl(k->fd, KVM_GET_FPU, &f) < 0)
        return V3_EIO;
    memcpy(s->st, f.fpr, sizeof(f.fpr));
    s->fcw = f.fcw;
    s->fsw = f.fsw;
    s->ftw = f.ftwx;
    s->fop = f.last_opcode;
    s->fip = f.last_ip;
    s->fdp = f.last_dp;
    memcpy(s->xmm, f.xmm, sizeof(f.xmm));
    s->mxcsr = f.mxcsr;
    return 0;
}

/* Read the registers after an exit into the core (and keep a copy). */
static int kvm_pull(struct kvm_core *k)
{
    if (kvm_ioctl(k->fd, KVM_GET_REGS, &k->regs) < 0 || kvm_ioctl(k->fd, KVM_GET_SREGS, &k->sregs) < 0)
        return V3_EIO;
    memset(k->sregs.interrupt_bitmap, 0, sizeof(k->sregs.interrupt_bitmap));   /* see core_to_sregs */
    regs_to_core(&k->regs, k->core);
    sregs_to_core(&k->sregs, k->core);
    k->stale = 0;
    return 0;
}

/* Before KVM_RUN: push what the VMM changed in the core since the last pull. */
static int kvm_push(struct kvm_core *k)
{
    struct kvm_regs r;
    struct kvm_sregs s;

    if (k->full_sync) {
        if (kvm_fpu(k, true) < 0 || kvm_msrs(k, true) < 0) {
            V3_ERROR("kvm: cannot load the FPU or MSR state: %s", strerror(errno));
            return V3_EIO;
        }
    }
    core_to_regs(k->core, &r);
    if (k->full_sync || memcmp(&r, &k->regs, sizeof(r))) {
        if (kvm_ioctl(k->fd, KVM_SET_REGS, &r) < 0) {
            V3_ERROR("kvm: KVM_SET_REGS failed: %s", strerror(errno));
            return V3_EIO;
        }
        k->regs = r;
    }
    core_to_sregs(k->core, &k->sregs, &s);
    if (k->full_sync || memcmp(&s, &k->sregs, sizeof(s))) {
        if (kvm_ioctl(k->fd, KVM_SET_SREGS, &s) < 0) {
            V3_ERROR("kvm: KVM_SET_SREGS failed (the state is not valid for VMX/SVM?): %s", strerror(errno));
            return V3_EIO;
        }
        k->sregs = s;
    }
    k->full_sync = 0;
    return 0;
}

/* ------------------------------------------------------------ CPUID */

static const struct kvm_cpuid_entry2 *sup_entry(const struct kvm_cpuid2 *sup, uint32_t leaf, uint32_t index)
{
    for (uint32_t i = 0; i < sup->nent; i++)
        if (sup->entries[i].function == leaf && sup->entries[i].index == index)
            return &sup->entries[i];
    return NULL;
}

/* Subleaves the model answers for @p leaf (1: it has none). */
static uint32_t cpuid_subleaves(uint32_t leaf)
{
    switch (leaf) {
    case 0xb: return 3;         /* SMT, core, then the invalid level that ends the list */
    case 0xd: return 2;
    default: return 1;
    }
}

/* The guest's TSC rate in the model's timing leaves, when KVM could not set the model's own. */
static void cpuid_patch_tsc(struct kvm_cpuid_entry2 *e, uint32_t khz)
{
    if (e->function == 0x15) {
        e->eax = 25000;         /* TSC = 25 MHz crystal * khz / 25000 */
        e->ebx = khz;
        e->ecx = 25000000u;
    } else if (e->function == 0x16) {
        e->eax = e->ebx = khz / 1000;
    } else if (e->function == 0x40000010u) {
        e->eax = khz;
    }
}

/* CPUID.1:ECX bits v3vmm's LAPIC model provides whatever KVM supports, when
 * its MSRs reach the model: x2APIC, and TSC-deadline when the guest TSC runs
 * at the model's rate (the LAPIC converts deadlines at V3_TSC_KHZ). */
static uint32_t kvm_user_cpuid_ecx1(const struct kvm_vm *kv)
{
    uint32_t bits = 0;
    if (kv->msr_exits) {
        bits |= 1u << 21;
        if (kv->tsc_khz == V3_TSC_KHZ)
            bits |= 1u << 24;
    }
    return bits;
}

/* Append the entries of @p leaf (each of its subleaves) to @p out, which has
 * room for @p max; returns the new count. */
static uint32_t cpuid_add_leaf(struct kvm_core *k, const struct kvm_cpuid2 *sup, struct kvm_cpuid2 *out,
                               uint32_t n, uint32_t max, uint32_t leaf)
{
    uint32_t v[4];

    for (uint32_t idx = 0; idx < cpuid_subleaves(leaf) && n < max; idx++) {
        struct kvm_cpuid_entry2 *e = &out->entries[n++];
        const struct kvm_cpuid_entry2 *s = sup_entry(sup, leaf, idx);
        v3_cpu_cpuid(k->core, leaf, idx, v);
        if (k->cpuid_final)
            v3_cpuid_apply_hooks(k->core, leaf, idx, v);   /* devices' bits (the LAPIC's) */
        memset(e, 0, sizeof(*e));
        e->function = leaf;
        e->index = idx;
        e->eax = v[0]; e->ebx = v[1]; e->ecx = v[2]; e->edx = v[3];
        if (leaf == 7 || leaf == 0xb || leaf == 0xd)
            e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        /* feature words: only what the host's KVM can give */
        if (leaf == 1) {
            e->ecx &= (s ? s->ecx : 0) | (1u << 31) | kvm_user_cpuid_ecx1(k->kv);
            e->edx &= s ? s->edx : 0;
        } else if (leaf == 7 || leaf == 0x80000001u) {
            e->ebx &= s ? s->ebx : 0;
            e->ecx &= s ? s->ecx : 0;
            e->edx &= s ? s->edx : 0;
        } else if (leaf == 0xd && idx == 0) {
            e->eax &= s ? s->eax : 0;   /* XCR0 components */
        }
        if (k->kv->tsc_khz && k->kv->tsc_khz != V3_TSC_KHZ)
            cpuid_patch_tsc(e, k->kv->tsc_khz);
    }
    return n;
}

/*
 * KVM_SET_CPUID2 for the vCPU from its CPU model (core->model: vendor,
 * topology with this vCPU's APIC ID, hypervisor leaves), every feature word
 * ANDed with what this KVM supports.
 */
static int kvm_setup_cpuid(struct kvm_core *k)
{
    enum { MAX_OUT = 96 };
    struct kvm_cpuid2 *sup, *out;
    int nent = 256, rc = V3_EIO;
    uint32_t v[4], n = 0;

    sup = calloc(1, sizeof(*sup) + nent * sizeof(struct kvm_cpuid_entry2));
    out = calloc(1, sizeof(*out) + MAX_OUT * sizeof(struct kvm_cpuid_entry2));
    if (!sup || !out)
        goto done;
    sup->nent = nent;
    if (kvm_ioctl(k->kv->sys_fd, KVM_GET_SUPPORTED_CPUID, sup) < 0) {
        V3_ERROR("kvm: KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
        goto done;
    }
    v3_cpu_cpuid(k->core, 0, 0, v);
    for (uint32_t leaf = 0; leaf <= v[0]; leaf++)
        n = cpuid_add_leaf(k, sup, out, n, MAX_OUT, leaf);
    v3_cpu_cpuid(k->core, 0x40000000u, 0, v);      /* the hypervisor leaves, when the model has them */
    if (v[0])
        n = cpuid_add_leaf(k, sup, out, n, MAX_OUT, 0x40000000u);
    if (v[0] >= 0x40000010u)
        n = cpuid_add_leaf(k, sup, out, n, MAX_OUT, 0x40000010u);
    v3_cpu_cpuid(k->core, 0x80000000u, 0, v);
    for (uint32_t leaf = 0x80000000u; leaf <= v[0]; leaf++)
        n = cpuid_add_leaf(k, sup, out, n, MAX_OUT, leaf);
    out->nent = n;
    if (kvm_ioctl(k->fd, KVM_SET_CPUID2, out) < 0) {
        V3_ERROR("kvm: KVM_SET_CPUID2 failed: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(sup);
    free(out);
    return rc;
}

/* ------------------------------------------------------------ back-end ops */

static void kvm_kick(struct v3_core *core);

/*
 * The map's dirty_pull: KVM's dirty log into the map's.  Logging starts
 * with the first call (it costs a write fault per page and every huge
 * page, so a VM that never asks does not pay); that first call marks all
 * RAM written, since the writes before it were not logged.
 */
static void kvm_dirty_pull(struct v3_vm *vm)
{
    struct kvm_core *k0 = vm->num_cores ? kvm_of(&vm->cores[0]) : NULL;
    struct kvm_vm *kv = k0 ? k0->kv : NULL;
    struct v3_mem_map *m = &vm->mem;

    if (!kv)
        return;
    if (!kv->log_dirty) {
        kv->log_dirty = 1;
        if (kvm_sync_slots(kv, NULL) < 0)
            __atomic_store_n(&kv->slot_error, V3_EIO, __ATOMIC_RELEASE);
        v3_mem_mark_dirty_range(m, 0, m->dirty_lo_pages << 12);
        v3_mem_mark_dirty_range(m, m->dirty_hi_start << 12, m->dirty_hi_pages << 12);
        return;
    }
    for (unsigned i = 0; i < KVM_MAX_SLOTS; i++) {
        struct kvm_slot *s = &kv->slots[i];
        struct kvm_dirty_log dl;
        uint64_t pages = s->size >> 12, words = (pages + 63) / 64, *bm;

        if (!s->used || !(s->flags & KVM_MEM_LOG_DIRTY_PAGES))
            continue;
        bm = calloc(words ? words : 1, 8);
        if (!bm) {
            v3_mem_mark_dirty_range(m, s->gpa, s->size);    /* cannot ask: assume all written */
            continue;
        }
        memset(&dl, 0, sizeof(dl));
        dl.slot = i;
        dl.dirty_bitmap = bm;
        if (kvm_ioctl(kv->vm_fd, KVM_GET_DIRTY_LOG, &dl) < 0) {
            V3_WARN("kvm: KVM_GET_DIRTY_LOG slot %u failed (%s): every page counts as written",
                    i, strerror(errno));
            v3_mem_mark_dirty_range(m, s->gpa, s->size);
        } else {
            for (uint64_t w = 0; w < words; w++)
                for (uint64_t b = bm[w]; b; b &= b - 1)
                    v3_mem_mark_dirty(m, s->gpa + ((w * 64 + (uint64_t)__builtin_ctzll(b)) << 12));
        }
        free(bm);
    }
}

/*
 * The MSR filter: every MSR the VM hooks (v3_hook_msr: the LAPIC's APIC
 * base, TSC-deadline and x2APIC registers, the embedder's own) is denied
 * to KVM, so its RDMSR/WRMSR exits to user space and reaches the hook, as
 * on the software CPU; the rest stays KVM's.  Rebuilt before a KVM_RUN
 * when the hooks changed.  KVM takes 16 ranges: one per 256-MSR block.
 */
static void kvm_msr_filter_sync(struct kvm_vm *kv)
{
    uint64_t gen = __atomic_load_n(&kv->vm->msr_hooks_gen, __ATOMIC_ACQUIRE);
    uint8_t bitmaps[KVM_MSR_FILTER_MAX_RANGES][32];
    struct kvm_msr_filter f;
    unsigned n = 0, dropped = 0;

    pthread_mutex_lock(&kv->filter_lock);
    if (kv->filter_gen == gen + 1) {
        pthread_mutex_unlock(&kv->filter_lock);
        return;
    }
    memset(&f, 0, sizeof(f));
    f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    for (struct v3_msr_hook *h = kv->vm->msr_hooks; h; h = h->next) {
        uint32_t base = h->msr & ~255u;
        unsigned i;
        for (i = 0; i < n && f.ranges[i].base != base; i++)
            ;
        if (i == n) {
            if (n == KVM_MSR_FILTER_MAX_RANGES) {
                dropped++;
                continue;
            }
            f.ranges[n].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
            f.ranges[n].nmsrs = 256;
            f.ranges[n].base = base;
            f.ranges[n].bitmap = bitmaps[n];
            memset(bitmaps[n], 0xff, sizeof(bitmaps[n]));     /* 1: KVM's */
            n++;
        }
        bitmaps[i][(h->msr & 255) / 8] &= (uint8_t)~(1u << (h->msr & 7));
    }
    if (kvm_ioctl(kv->vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0)
        V3_WARN("kvm: KVM_X86_SET_MSR_FILTER failed (%s): MSR hooks do not apply under KVM", strerror(errno));
    else if (dropped)
        V3_WARN("kvm: hooked MSRs span more than %d blocks of 256: %u hook(s) do not apply under KVM",
                KVM_MSR_FILTER_MAX_RANGES, dropped);
    kv->filter_gen = gen + 1;
    pthread_mutex_unlock(&kv->filter_lock);
}

static void kvm_vm_put(struct kvm_vm *kv)
{
    if (!kv || --kv->refs)
        return;
    if (kv->listening) {
        v3_mem_remove_listener(kv->vm, kvm_map_changed, kv);
        kv->vm->mem.core_kick = NULL;
        kv->vm->mem.dirty_pull = NULL;
    }
    if (kv->vm_fd >= 0) {
        pthread_mutex_destroy(&kv->filter_lock);
        close(kv->vm_fd);
    }
    if (kv->sys_fd >= 0)
        close(kv->sys_fd);
    free(kv);
}

/* The KVM VM of @p vm: created with its first vCPU (vCPU 0), shared by the others. */
static struct kvm_vm *kvm_vm_get(struct v3_vm *vm, int *err)
{
    struct kvm_vm *kv;
    char why[256];
    int rc;

    for (unsigned i = 0; i < vm->num_cores; i++) {
        struct kvm_core *o = kvm_of(&vm->cores[i]);
        if (o && o->kv) {
            o->kv->refs++;
            return o->kv;
        }
    }
    kv = calloc(1, sizeof(*kv));
    if (!kv) {
        *err = V3_ENOMEM;
        return NULL;
    }
    kv->vm = vm;
    kv->refs = 1;
    kv->vm_fd = -1;
    kv->sys_fd = kvm_open_checked(why, sizeof(why));
    if (kv->sys_fd < 0) {
        V3_ERROR("kvm: %s", why);
        *err = kv->sys_fd;
        goto fail;
    }
    *err = V3_EIO;
    kv->vm_fd = ioctl(kv->sys_fd, KVM_CREATE_VM, 0);
    if (kv->vm_fd < 0) {
        V3_ERROR("kvm: KVM_CREATE_VM failed: %s", strerror(errno));
        goto fail;
    }
    /* Intel needs a TSS area (3 pages) and an identity map page for real mode; put them at the top of 4 GiB,
     * inside the BIOS ROM hole that no guest of ours uses for RAM. */
    if (ioctl(kv->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
        V3_WARN("kvm: KVM_SET_TSS_ADDR failed: %s", strerror(errno));
    {
        uint64_t idmap = 0xfffbc000ull;
        ioctl(kv->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
    }
    pthread_mutex_init(&kv->filter_lock, NULL);
    if (ioctl(kv->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR) > 0 &&
        ioctl(kv->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) > 0) {
        struct kvm_enable_cap cap;
        memset(&cap, 0, sizeof(cap));
        cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
        /* denied by the filter (hooked MSRs), and the ones KVM would refuse with #GP or does
           not know (the x2APIC range, which KVM never filters, fails there without an
           in-kernel LAPIC): all reach v3vmm's hooks, #GP(0) when none answers */
        cap.args[0] = KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN;
        kv->msr_exits = ioctl(kv->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
    }
    if (!kv->msr_exits)
        V3_INFO("kvm: no user-space MSR exits (KVM_CAP_X86_USER_SPACE_MSR/MSR_FILTER): MSR hooks, "
                "x2APIC and TSC-deadline are not available under KVM");
    rc = kvm_sync_slots(kv, NULL);
    if (rc < 0) {
        *err = rc;
        goto fail;
    }
    kvm_remember_overlays(kv, NULL);
    rc = v3_mem_add_listener(vm, kvm_map_changed, kv);
    if (rc < 0) {
        *err = rc;
        goto fail;
    }
    kv->listening = 1;
    vm->mem.core_kick = kvm_kick;
    vm->mem.dirty_pull = kvm_dirty_pull;
    return kv;
fail:
    kvm_vm_put(kv);
    return NULL;
}

static void kvm_free_core(struct v3_core *core)
{
    struct kvm_core *k = kvm_of(core);

    if (!k)
        return;
    if (k->has_timer)
        timer_delete(k->timer);
    if (k->run)
        munmap(k->run, k->run_size);
    if (k->fd >= 0)
        close(k->fd);
    core->backend = NULL;
    kvm_vm_put(k->kv);
    free(k);
}

static int kvm_init_core(struct v3_core *core)
{
    struct kvm_core *k;
    int rc = V3_EIO, sz;

    k = calloc(1, sizeof(*k));
    if (!k)
        return V3_ENOMEM;
    k->core = core;
    k->fd = -1;
    k->kv = kvm_vm_get(core->vm, &rc);
    core->backend = k;
    if (!k->kv)
        goto fail;
    rc = V3_EIO;
    k->fd = ioctl(k->kv->vm_fd, KVM_CREATE_VCPU, (unsigned long)core->id);
    if (k->fd < 0) {
        V3_ERROR("kvm: KVM_CREATE_VCPU %u failed: %s", core->id, strerror(errno));
        goto fail;
    }
    sz = ioctl(k->kv->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz <= 0) {
        V3_ERROR("kvm: KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
        goto fail;
    }
    k->run_size = (size_t)sz;
    k->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, 0);
    if (k->run == MAP_FAILED) {
        k->run = NULL;
        V3_ERROR("kvm: cannot map the kvm_run page: %s", strerror(errno));
        goto fail;
    }
    /* the model's TSC rate when KVM can scale it; else the guest is told the rate it gets */
    ioctl(k->fd, KVM_SET_TSC_KHZ, (unsigned long)V3_TSC_KHZ);
    {
        int khz = ioctl(k->fd, KVM_GET_TSC_KHZ, 0);
        if (khz > 0 && !k->kv->tsc_khz) {
            k->kv->tsc_khz = (uint32_t)khz;
            if ((uint32_t)khz != V3_TSC_KHZ)
                V3_INFO("kvm: the guest TSC runs at %d kHz (KVM cannot scale it to %u kHz)", khz,
                        (unsigned)V3_TSC_KHZ);
        }
    }
    rc = kvm_setup_cpuid(k);
    if (rc < 0)
        goto fail;
    if (kvm_ioctl(k->fd, KVM_GET_SREGS, &k->sregs) < 0 || kvm_ioctl(k->fd, KVM_GET_REGS, &k->regs) < 0) {
        V3_ERROR("kvm: cannot read the initial vCPU state: %s", strerror(errno));
        rc = V3_EIO;
        goto fail;
    }
    k->full_sync = 1;
    return 0;
fail:
    kvm_free_core(core);
    return rc < 0 ? rc : V3_EIO;
}

static int kvm_get_state(struct v3_core *core)
{
    struct kvm_core *k = kvm_of(core);
    if (!k)
        return V3_EINVAL;
    if (k->full_sync)
        return 0;       /* the core is the newer copy */
    /* registers: KVM's when it ran since the last pull, else the core's (the VMM may have changed them) */
    if ((k->stale && kvm_pull(k) < 0) || kvm_fpu(k, false) < 0 || kvm_msrs(k, false) < 0)
        return V3_EIO;
    return 0;
}

static int kvm_set_state(struct v3_core *core)
{
    struct kvm_core *k = kvm_of(core);
    if (!k)
        return V3_EINVAL;
    k->full_sync = 1;
    return 0;
}

static void kvm_kick(struct v3_core *core)
{
    struct kvm_core *k = kvm_of(core);

    if (!k)
        return;
    __atomic_store_n(&k->kicked, 1, __ATOMIC_SEQ_CST);
    k->run->immediate_exit = 1;
    if (k->has_thread)
        pthread_kill(k->thread, KVM_KICK_SIGNAL);
}

static bool kvm_intr_ready(struct v3_core *core)
{
    struct kvm_core *k = kvm_of(core);
    return k && k->run->ready_for_interrupt_injection && k->run->if_flag;
}

static void kvm_intr_window(struct v3_core *core, bool on)
{
    struct kvm_core *k = kvm_of(core);
    if (k)
        k->run->request_interrupt_window = on;
}

static void kvm_set_slice(struct v3_core *core, uint64_t insns)
{
    struct kvm_core *k = kvm_of(core);
    if (k)
        k->slice_ns = insns ? (insns + KVM_NOMINAL_IPNS - 1) / KVM_NOMINAL_IPNS : 0;
}

static int kvm_inject(struct v3_core *core, const struct v3_event *ev)
{
    struct kvm_core *k = kvm_of(core);

    if (!k || !ev)
        return V3_EINVAL;
    if (k->full_sync || !k->stale) {
        int rc = kvm_push(k);
        if (rc < 0)
            return rc;
    }
    switch (ev->type) {
    case V3_EVENT_INTERRUPT: {
        struct kvm_interrupt irq = { .irq = ev->vector };
        if (kvm_ioctl(k->fd, KVM_INTERRUPT, &irq) < 0) {
            V3_ERROR("kvm: KVM_INTERRUPT vector %u failed: %s", ev->vector, strerror(errno));
            return V3_EBUSY;
        }
        /* KVM holds one queued interrupt, and a second KVM_INTERRUPT replaces it
         * silently (the first is lost, its vector stuck in the LAPIC's ISR).  The
         * run page says "ready" as of the last exit; until KVM_RUN has run (and
         * rewritten it: not ready while the interrupt waits), it must say no, or
         * a run() that returns before entering the guest (a kick, an expired
         * slice) would let the next vcpu_prepare() inject over this one. */
        k->run->ready_for_interrupt_injection = 0;
        break;
    }
    case V3_EVENT_NMI:
        if (kvm_ioctl(k->fd, KVM_NMI, NULL) < 0)
            return V3_EIO;
        break;
    case V3_EVENT_EXCEPTION: {
        struct kvm_vcpu_events e;
        if (kvm_ioctl(k->fd, KVM_GET_VCPU_EVENTS, &e) < 0)
            return V3_EIO;
        e.exception.injected = 1;
        e.exception.nr = ev->vector;
        e.exception.has_error_code = ev->has_error_code;
        e.exception.error_code = ev->error_code;
        e.flags = 0;
        if (ev->vector == V3_EXC_PF) {
            core->cr2 = ev->cr2;
            k->sregs.cr2 = ~ev->cr2;      /* force the SREGS push with the new CR2 */
        }
        if (kvm_ioctl(k->fd, KVM_SET_VCPU_EVENTS, &e) < 0)
            return V3_EIO;
        break;
    }
    default:
        return V3_EINVAL;
    }
    core->halted = 0;
    return 0;
}

/* Complete a pending PIO/MMIO exit now (KVM does it at the start of the next
 * KVM_RUN; with immediate_exit set it returns right after). */
static int kvm_complete(struct kvm_core *k)
{
    uint8_t saved = k->run->immediate_exit;
    int r;

    k->run->immediate_exit = 1;
    k->run->cr8 = k->core->cr8;     /* this KVM_RUN reloads the TPR too (see kvm_run_inner) */
    r = ioctl(k->fd, KVM_RUN, 0);
    k->run->immediate_exit = saved;
    if (r < 0 && errno != EINTR) {
        V3_ERROR("kvm: completing an exit failed: %s", strerror(errno));
        return V3_EIO;
    }
    return 0;
}

/* Before run() returns: finish a pending MMIO completion and bring the core up to date. */
static int kvm_settle(struct kvm_core *k)
{
    if (k->pending_completion) {
        k->pending_completion = 0;
        if (kvm_complete(k) < 0)
            return V3_EIO;
        k->stale = 1;
    }
    if (k->stale)
        return kvm_pull(k);
    return 0;
}

static int exit_error(struct kvm_core *k, struct v3_exit *ex, int code, const char *msg)
{
    ex->reason = V3_EXIT_ERROR;
    ex->error.code = code;
    ex->error.msg = msg;
    ex->insn_rip = k->core->rip;
    return code;
}

/* MMIO exit: through the map (hooks with the guest's width, write hooks then store). */
static int kvm_mmio(struct kvm_core *k, struct v3_exit *ex)
{
    struct v3_vm *vm = k->core->vm;
    uint64_t gpa = k->run->mmio.phys_addr;
    uint32_t len = k->run->mmio.len;
    int64_t r;

    if (len > 8)
        len = 8;
    if (k->run->mmio.is_write) {
        r = v3_write_gpa_memory(vm, k->core, gpa, len, k->run->mmio.data);
    } else {
        r = v3_read_gpa_memory(vm, k->core, gpa, len, k->run->mmio.data);
        if (r == V3_EUNMAPPED)
            memset(k->run->mmio.data, 0xff, len);   /* open bus */
    }
    if (r < 0 && r != V3_EUNMAPPED) {
        kvm_pull(k);
        return exit_error(k, ex, (int)r, "memory hook failed on an MMIO exit");
    }
    return 0;
}

/* String port I/O (INS/OUTS, count elements in the run page): KVM moved the
 * memory part; each element goes to the port hooks as one access. */
static int kvm_pio_string(struct kvm_core *k, struct v3_exit *ex)
{
    struct kvm_run *run = k->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    uint64_t rax = k->core->gpr[V3_RAX];

    for (uint32_t i = 0; i < run->io.count; i++) {
        struct v3_exit e;
        int rc;
        memset(&e, 0, sizeof(e));
        e.reason = V3_EXIT_IO;
        e.io.port = run->io.port;
        e.io.size = run->io.size;
        e.io.in = run->io.direction == KVM_EXIT_IO_IN;
        if (!e.io.in)
            memcpy(&e.io.data, data + i * run->io.size, run->io.size);
        rc = v3_handle_io_exit(k->core, &e);
        if (rc < 0) {
            k->core->gpr[V3_RAX] = rax;
            return exit_error(k, ex, rc, "I/O port hook failed");
        }
        if (e.io.in)
            memcpy(data + i * run->io.size, &k->core->gpr[V3_RAX], run->io.size);
    }
    k->core->gpr[V3_RAX] = rax;
    return 0;
}

static int kvm_run_inner(struct kvm_core *k, struct v3_core *core, struct v3_exit *ex);

/* The signal handler reaches the run page through tls_run only while run()
 * runs: a VM freed on another thread leaves no pointer behind. */
static int kvm_run_core(struct v3_core *core, struct v3_exit *ex)
{
    struct kvm_core *k = kvm_of(core);
    int rc;

    if (!k)
        return V3_EINVAL;
    kvm_attach_thread(k);
    tls_run = k->run;
    rc = kvm_run_inner(k, core, ex);
    tls_run = NULL;
    return rc;
}

static int kvm_run_inner(struct kvm_core *k, struct v3_core *core, struct v3_exit *ex)
{
    struct v3_vm *vm = core->vm;
    uint64_t t_end = 0;
    int rc;

    if (k->slice_ns)
        t_end = v3_time_ns() + k->slice_ns;
    if (vm->config.max_insns) {
        uint64_t left = core->insn_count < vm->config.max_insns ? vm->config.max_insns - core->insn_count : 0;
        uint64_t ns = left / KVM_NOMINAL_IPNS + 1, now = v3_time_ns();
        if (!t_end || now + ns < t_end)
            t_end = now + ns;
    }
    for (;;) {
        struct kvm_run *run = k->run;
        uint64_t t0, t1;
        int r, err;

        rc = __atomic_load_n(&k->kv->slot_error, __ATOMIC_ACQUIRE);
        if (rc < 0)
            return exit_error(k, ex, rc, "KVM memory slot update failed");
        if (core->halted) {
            ex->reason = V3_EXIT_HLT;
            ex->insn_rip = core->rip - 1;
            return 0;
        }
        if (__atomic_exchange_n(&k->kicked, 0, __ATOMIC_SEQ_CST)) {
            if (kvm_settle(k) < 0)
                return exit_error(k, ex, V3_EIO, "cannot read the vCPU state from KVM");
            run->immediate_exit = 0;
            ex->reason = V3_EXIT_KICK;
            ex->insn_rip = core->rip;
            return 0;
        }
        if (!k->cpuid_final) {
            /* the devices exist now: CPUID with their hooks (allowed until the first KVM_RUN) */
            k->cpuid_final = 1;
            if (kvm_setup_cpuid(k) < 0)
                return exit_error(k, ex, V3_EIO, "cannot set the vCPU's CPUID in KVM");
        }
        if (k->kv->msr_exits && __atomic_load_n(&vm->msr_hooks_gen, __ATOMIC_ACQUIRE) + 1 != k->kv->filter_gen)
            kvm_msr_filter_sync(k->kv);
        if (!k->stale) {
            rc = kvm_push(k);
            if (rc < 0)
                return exit_error(k, ex, rc, "cannot load the vCPU state into KVM");
        }
        k->pending_completion = 0;
        t0 = v3_time_ns();
        if (t_end) {
            if (t0 >= t_end) {
                if (kvm_settle(k) < 0)
                    return exit_error(k, ex, V3_EIO, "cannot read the vCPU state from KVM");
                ex->reason = vm->config.max_insns && core->insn_count >= vm->config.max_insns ?
                             V3_EXIT_INSN_LIMIT : V3_EXIT_SLICE;
                ex->insn_rip = core->rip;
                return 0;
            }
            kvm_arm_timer(k, t_end - t0);
        }
        /* without an in-kernel LAPIC, KVM reloads CR8 (the TPR) from the run page at every entry */
        run->cr8 = core->cr8;
        /* the map cannot change while the guest runs: a writer kicks us out first */
        v3_mem_core_read_lock(core);
        r = ioctl(k->fd, KVM_RUN, 0);
        err = errno;
        v3_mem_core_read_unlock(core);
        run->immediate_exit = 0;
        if (t_end)
            kvm_arm_timer(k, 0);
        t1 = v3_time_ns();
        k->run_ns += t1 - t0;
        core->insn_count += (t1 - t0) * KVM_NOMINAL_IPNS;
        if (r < 0 && err != EINTR && err != EAGAIN) {
            kvm_pull(k);
            V3_ERROR("kvm: KVM_RUN failed: %s", strerror(err));
            return exit_error(k, ex, V3_EIO, "KVM_RUN failed");
        }
        if (r < 0 || run->exit_reason == KVM_EXIT_INTR) {
            /* a signal: kick, slice timer, or the VMM's own */
            if (kvm_pull(k) < 0)
                return exit_error(k, ex, V3_EIO, "cannot read the vCPU state from KVM");
            if (t_end && v3_time_ns() >= t_end) {
                ex->reason = vm->config.max_insns && core->insn_count >= vm->config.max_insns ?
                             V3_EXIT_INSN_LIMIT : V3_EXIT_SLICE;
                ex->insn_rip = core->rip;
                return 0;
            }
            __atomic_store_n(&k->kicked, 0, __ATOMIC_SEQ_CST);
            ex->reason = V3_EXIT_KICK;
            ex->insn_rip = core->rip;
            return 0;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            bool in = run->io.direction == KVM_EXIT_IO_IN;
            uint64_t rip;
            if (kvm_pull(k) < 0)
                return exit_error(k, ex, V3_EIO, "cannot read the vCPU state from KVM");
            rip = core->rip;
            if (run->io.count != 1) {
                rc = kvm_pio_string(k, ex);
                if (rc < 0)
                    return rc;
                if (kvm_complete(k) < 0 || kvm_pull(k) < 0)
                    return exit_error(k, ex, V3_EIO, "cannot complete string I/O");
                continue;
            }
            if (!in && run->io.port == KVM_HC_DOORBELL_PORT) {
                if (kvm_complete(k) < 0 || kvm_pull(k) < 0)
                    return exit_error(k, ex, V3_EIO, "cannot complete port I/O");
                ex->reason = V3_EXIT_HYPERCALL;
                ex->insn_rip = rip;
                return 0;
            }
            memset(&ex->io, 0, sizeof(ex->io));
            ex->reason = V3_EXIT_IO;
            ex->insn_rip = rip;
            ex->io.port = run->io.port;
            ex->io.size = run->io.size;
            ex->io.in = in;
            if (!in)
                memcpy(&ex->io.data, (uint8_t *)run + run->io.data_offset, run->io.size);
            else    /* completed with the current AL/AX/EAX; the VMM's value is pushed before the next run */
                memcpy((uint8_t *)run + run->io.data_offset, &core->gpr[V3_RAX], run->io.size);
            {
                uint64_t rax = core->gpr[V3_RAX];
                if (kvm_complete(k) < 0 || kvm_pull(k) < 0)
                    return exit_error(k, ex, V3_EIO, "cannot complete port I/O");
                core->gpr[V3_RAX] = rax;
            }
            return 0;
        }
        case KVM_EXIT_MMIO:
            /* the registers are not read here: take the guest's TPR from the run page
             * (KVM stores it at every exit), so a LAPIC access sees a MOV to CR8 made
             * since the last exit and the next entry does not undo it */
            core->cr8 = run->cr8;
            rc = kvm_mmio(k, ex);
            if (rc < 0)
                return rc;
            k->pending_completion = 1;      /* the next KVM_RUN completes it */
            k->stale = 1;
            continue;
        case KVM_EXIT_X86_RDMSR:
        case KVM_EXIT_X86_WRMSR: {
            /* a hooked MSR (the filter) or one KVM refuses: the hook answers, a KVM_RUN with
               immediate_exit completes the instruction (RAX:RDX, or #GP with msr.error) and
               the run loop then sees the result, as after WRMSR on the software CPU (a LAPIC
               write may have made an interrupt due before the next instruction) */
            bool wr = run->exit_reason == KVM_EXIT_X86_WRMSR;
            uint64_t v = run->msr.data;
            if (kvm_pull(k) < 0)
                return exit_error(k, ex, V3_EIO, "cannot read the vCPU state from KVM");
            rc = v3_msr_access(core, run->msr.index, wr, &v);
            if (rc < 0 && rc != V3_EFAULT)
                return exit_error(k, ex, rc, "MSR hook failed");
            run->msr.error = rc == V3_EFAULT;
            if (!wr && !rc)
                run->msr.data = v;
            rc = kvm_push(k);           /* what the hook changed (IA32_APIC_BASE) */
            if (rc < 0)
                return exit_error(k, ex, rc, "cannot load the vCPU state into KVM");
            if (kvm_complete(k) < 0 || kvm_pull(k) < 0)
                return exit_error(k, ex, V3_EIO, "cannot complete an MSR access");
            ex->reason = V3_EXIT_NONE;
            ex->insn_rip = core->rip;
            return 0;
        }
        case KVM_EXIT_HLT:
            if (kvm_pull(k) < 0)
                return exit_error(k, ex, V3_EIO, "cannot read the vCPU state from KVM");
            core->halted = 1;
            ex->reason = V3_EXIT_HLT;
            ex->insn_rip = core->rip - 1;
            return 0;
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            run->request_interrupt_window = 0;
            if (kvm_pull(k) < 0)
                return exit_error(k, ex, V3_EIO, "cannot read the vCPU state from KVM");
            ex->reason = V3_EXIT_INTR_WINDOW;
            ex->insn_rip = core->rip;
            return 0;
        case KVM_EXIT_SHUTDOWN:
            kvm_pull(k);
            ex->reason = V3_EXIT_SHUTDOWN;
            ex->insn_rip = core->rip;
            return 0;
        case KVM_EXIT_FAIL_ENTRY:
            kvm_pull(k);
            V3_ERROR("kvm: VM entry failed, hardware reason %#llx",
                     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            return exit_error(k, ex, V3_EIO, "KVM could not enter the guest (invalid vCPU state)");
        case KVM_EXIT_INTERNAL_ERROR:
            kvm_pull(k);
            V3_ERROR("kvm: internal error, suberror %u%s", run->internal.suberror,
                     run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
                     " (KVM could not emulate an instruction)" : "");
            return exit_error(k, ex, V3_EUNSUPPORTED, "KVM internal error");
        default:
            kvm_pull(k);
            V3_ERROR("kvm: unexpected exit reason %u", run->exit_reason);
            return exit_error(k, ex, V3_EUNSUPPORTED, "unexpected KVM exit");
        }
    }
}

const struct v3_backend_ops v3_kvm_backend = {
    .name = "kvm",
    .init_core = kvm_init_core,
    .free_core = kvm_free_core,
    .run = kvm_run_core,
    .inject = kvm_inject,
    .get_state = kvm_get_state,
    .set_state = kvm_set_state,
    .kick = kvm_kick,
    .intr_ready = kvm_intr_ready,
    .intr_window = kvm_intr_window,
    .set_slice = kvm_set_slice,
};
