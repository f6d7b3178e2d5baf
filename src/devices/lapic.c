/* SPDX-License-Identifier: MIT */
/*
 * Local APIC, one per vCPU (model "lapic").
 *
 * xAPIC registers through MMIO at IA32_APIC_BASE (0xFEE00000 after reset;
 * every vCPU reaches its own APIC there: the callback gets the accessing
 * vCPU), x2APIC registers through MSRs 0x800-0x8FF when IA32_APIC_BASE.EXTD
 * is set, the timer in one-shot, periodic and TSC-deadline modes, IPIs with
 * every destination form of the ICR, EOI broadcast to the IOAPIC for
 * level-triggered vectors, LINT0 as ExtINT from the 8259A.
 *
 * Version 0x00050014: six LVT entries (timer, thermal, performance counter,
 * LINT0, LINT1, error), no EOI-broadcast suppression (SVR bit 12 reads 0).
 *
 * Timer clock: the APIC bus runs at 1 GHz (V3_LAPIC_BUS_HZ), so one timer
 * tick at divide-by-1 is one nanosecond of the VM clock.  Counters are not
 * stepped: the current count is computed from the VM clock when the guest
 * reads it, and deadline() gives the next expiry.
 *
 * Lost periodic ticks: a poll that comes late by several periods (the host
 * descheduled the vCPU thread) raises the timer vector once and owes the
 * other expiries (at most TIMER_OWED_MAX and at most one second of them).
 * When the vCPU takes the timer vector (IRR -> ISR in ack()), an owed
 * expiry sets it in IRR again: the guest sees one interrupt per handler,
 * after its EOI.  A write of the initial count, the timer's LVT (mask, mode
 * or vector) or a stop drops what is owed.
 *
 * Locking: one device mutex covers the APICs of every vCPU.  Messages that
 * leave the device (EOI broadcast to the IOAPIC, kicks of vCPUs) are
 * collected under the lock and sent after it is released; inside a VM
 * callback (which runs with the lock held) the device drops the lock for
 * that moment (flush_out()).
 *
 * NMI, INIT and SIPI are recorded per vCPU; the vCPU takes them through
 * v3_lapic_ops::special at its next boundary (src/vm/run.c).
 * Not modelled yet: SMI, the thermal and performance-counter sources,
 * relocation of the MMIO window away from 0xFEE00000.
 */
#include "internal/clock.h"
#include "internal/host.h"
#include "internal/ticks.h"
#include <v3/device.h>
#include <v3/error.h>
#include <v3/io.h>
#include <v3/irqchip.h>
#include <v3/vm.h>
#include "devices/lapic.h"

#define LAPIC_DEFAULT_BASE 0xfee00000ull
#define LAPIC_VERSION      0x00050014u

/* IA32_APIC_BASE bits */
#define MSR_APIC_BASE      0x1bu
#define MSR_TSC_DEADLINE   0x6e0u
#define APIC_BASE_BSP      (1ull << 8)
#define APIC_BASE_EXTD     (1ull << 10)
#define APIC_BASE_EN       (1ull << 11)
#define APIC_BASE_ADDR     0x000000fffffff000ull     /* 40-bit physical addresses */

/* register offsets (xAPIC; the x2APIC MSR is 0x800 + offset / 16) */
enum {
    R_ID = 0x20, R_VER = 0x30, R_TPR = 0x80, R_APR = 0x90, R_PPR = 0xa0, R_EOI = 0xb0,
    R_RRD = 0xc0, R_LDR = 0xd0, R_DFR = 0xe0, R_SVR = 0xf0, R_ISR = 0x100, R_TMR = 0x180,
    R_IRR = 0x200, R_ESR = 0x280, R_ICR_LO = 0x300, R_ICR_HI = 0x310, R_LVT_TIMER = 0x320,
    R_LVT_THERMAL = 0x330, R_LVT_PERF = 0x340, R_LVT_LINT0 = 0x350, R_LVT_LINT1 = 0x360,
    R_LVT_ERROR = 0x370, R_TIMER_ICR = 0x380, R_TIMER_CCR = 0x390, R_TIMER_DCR = 0x3e0,
    R_SELF_IPI = 0x3f0,
};

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_N };

#define LVT_MASKED        (1u << 16)
#define LVT_LEVEL         (1u << 15)
#define LVT_REMOTE_IRR    (1u << 14)
#define LVT_POLARITY      (1u << 13)
#define LVT_STATUS        (1u << 12)
#define LVT_DM(v)         (((v) >> 8) & 7)
#define TIMER_MODE(v)     (((v) >> 17) & 3)
#define TIMER_ONESHOT     0
#define TIMER_PERIODIC    1
#define TIMER_OWED_MAX    100   /* most periodic expiries owed (and at most 1 s of them) */
#define TIMER_TSCDEADLINE 2

#define SVR_ENABLE        (1u << 8)

/* ESR bits */
#define ESR_SEND_ILLEGAL  (1u << 5)
#define ESR_RECV_ILLEGAL  (1u << 6)
#define ESR_ILLEGAL_REG   (1u << 7)

/* delivery modes */
enum { DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5, DM_SIPI = 6, DM_EXTINT = 7 };

/* The APIC of one vCPU. */
struct vlapic {
    uint64_t base_msr;      /* IA32_APIC_BASE as this APIC sees it */
    uint32_t id;            /* xAPIC: the ID register (ID in bits 31:24); x2APIC: the 32-bit ID */
    uint32_t tpr, ldr, dfr, svr;
    uint32_t isr[8], tmr[8], irr[8];
    uint32_t esr_pending;   /* errors since the last ESR write */
    uint32_t esr;           /* what ESR reads (latched by the last write) */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[LVT_N];
    uint32_t timer_icr, timer_dcr;
    uint64_t timer_start;   /* VM clock (ns) at which the count was loaded */
    uint64_t timer_next;    /* VM clock of the next expiry, V3_NO_DEADLINE if none */
    uint64_t tsc_deadline;  /* IA32_TSC_DEADLINE as the guest wrote it (0: disarmed) */
    uint64_t cr8_seen;      /* core->cr8 when this APIC last synchronised TPR with it */
    uint32_t timer_owed;    /* periodic expiries a late poll missed, still owed */
    /* taken by the vCPU through op_special() */
    uint8_t nmi_pending, init_pending, sipi_pending, sipi_vector;
    uint8_t lint0_level, lint1_level;
};

struct lapic_dev {
    struct v3_device *dev;
    struct v3_vm *vm;
    unsigned n;                 /* vCPUs */
    struct vlapic *cpu;         /* n entries */
    bool x2apic;                /* offer x2APIC (IA32_APIC_BASE.EXTD) */
    bool tsc_deadline;          /* offer the TSC-deadline timer mode */
    uint64_t tsc_hz;            /* guest TSC frequency for TSC-deadline conversion */
    bool bad_access_logged, reloc_logged;
    uint32_t msr_hooked[64];    /* MSRs create() hooked (destroy() unhooks them) */
    unsigned n_msr_hooks;
    bool cpuid_hooked;          /* CPUID leaf 1 hooked (cpuid_leaf1()) */
    /* work to do once the lock is released */
    uint64_t kick_mask;         /* vCPUs 0-63 to kick */
    uint8_t eoi_vec[16];        /* level-triggered EOIs for the IOAPIC */
    unsigned n_eoi;
};

/* ------------------------------------------------------------------ helpers */

static inline bool bit_test(const uint32_t *r, unsigned v) { return (r[v >> 5] >> (v & 31)) & 1; }
static inline void bit_set(uint32_t *r, unsigned v) { r[v >> 5] |= 1u << (v & 31); }
static inline void bit_clear(uint32_t *r, unsigned v) { r[v >> 5] &= ~(1u << (v & 31)); }

/* Highest set vector of a 256-bit register, or -1. */
static int highest(const uint32_t *r)
{
    for (int i = 7; i >= 0; i--)
        if (r[i])
            return i * 32 + 31 - __builtin_clz(r[i]);
    return -1;
}

static bool x2apic_mode(const struct vlapic *a)
{
    return (a->base_msr & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}

static bool hw_enabled(const struct vlapic *a) { return (a->base_msr & APIC_BASE_EN) != 0; }
static bool sw_enabled(const struct vlapic *a) { return hw_enabled(a) && (a->svr & SVR_ENABLE); }

static unsigned idx_of(const struct lapic_dev *s, const struct vlapic *a)
{
    return (unsigned)(a - s->cpu);
}

/* The vCPU's APIC for an access by @p core (vCPU 0 for the VMM's own accesses). */
static struct vlapic *apic_of(struct lapic_dev *s, const struct v3_core *core)
{
    unsigned i = core ? core->id : 0;
    return i < s->n ? &s->cpu[i] : NULL;
}

static void want_kick(struct lapic_dev *s, const struct vlapic *a)
{
    unsigned i = idx_of(s, a);
    if (i < 64)
        s->kick_mask |= 1ull << i;
}

/* Deliver the collected kicks and EOIs.  Call with the lock NOT held. */
static void send_out(struct lapic_dev *s, uint64_t kicks, const uint8_t *eoi, unsigned n_eoi)
{
    for (unsigned i = 0; i < n_eoi; i++)
        v3_vm_apic_eoi(s->vm, eoi[i]);
    for (unsigned i = 0; kicks; i++, kicks >>= 1)
        if (kicks & 1)
            v3_vm_kick(s->vm, i);
}

/* Take the pending outside work under the lock. */
static unsigned take_out(struct lapic_dev *s, uint64_t *kicks, uint8_t *eoi)
{
    unsigned n = s->n_eoi;
    *kicks = s->kick_mask;
    memcpy(eoi, s->eoi_vec, n);
    s->kick_mask = 0;
    s->n_eoi = 0;
    return n;
}

/* Inside a callback that holds the lock: drop it to send the collected work. */
static void flush_out(struct lapic_dev *s)
{
    uint64_t kicks;
    uint8_t eoi[16];
    unsigned n;

    if (!s->kick_mask && !s->n_eoi)
        return;
    n = take_out(s, &kicks, eoi);
    v3_dev_unlock(s->dev);
    send_out(s, kicks, eoi, n);
    v3_dev_lock(s->dev);
}

/* Our own entry points: unlock, then send. */
static void unlock_and_send(struct lapic_dev *s)
{
    uint64_t kicks;
    uint8_t eoi[16];
    unsigned n = take_out(s, &kicks, eoi);
    v3_dev_unlock(s->dev);
    send_out(s, kicks, eoi, n);
}

static void set_error(struct lapic_dev *s, struct vlapic *a, uint32_t bits);

/* ------------------------------------------------------------------ TPR / PPR */

/* MOV to CR8 in 64-bit mode writes TPR[7:4]: pick it up. */
static void sync_cr8_in(struct lapic_dev *s, struct vlapic *a)
{
    struct v3_core *c = v3_get_core(s->vm, idx_of(s, a));
    if (c && c->cr8 != a->cr8_seen) {
        a->tpr = (uint32_t)(c->cr8 & 0xf) << 4;
        a->cr8_seen = c->cr8 & 0xf;
    }
}

static void sync_cr8_out(struct lapic_dev *s, struct vlapic *a)
{
    struct v3_core *c = v3_get_core(s->vm, idx_of(s, a));
    a->cr8_seen = (a->tpr >> 4) & 0xf;
    if (c)
        c->cr8 = a->cr8_seen;
}

static uint32_t ppr_of(const struct vlapic *a)
{
    int isrv = highest(a->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    if ((a->tpr & 0xf0) >= isr_class)
        return a->tpr & 0xff;
    return isr_class;
}

/* Highest IRR vector the processor would take now (class above PPR), or -1. */
static int deliverable(const struct vlapic *a)
{
    int v;
    if (!sw_enabled(a))
        return -1;
    v = highest(a->irr);
    if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr_of(a) & 0xf0))
        return -1;
    return v;
}

/* ------------------------------------------------------------------ accepting interrupts */

/* A fixed (or lowest-priority) interrupt arrives at @p a. */
static void accept_fixed(struct lapic_dev *s, struct vlapic *a, uint8_t vector, bool level)
{
    if (!hw_enabled(a))
        return;
    if (vector < 16) {
        set_error(s, a, ESR_RECV_ILLEGAL);
        return;
    }
    if (!sw_enabled(a))
        return;       /* a software-disabled APIC accepts no fixed interrupts (SDM 10.4.7.2) */
    bit_set(a->irr, vector);
    if (level)
        bit_set(a->tmr, vector);
    else
        bit_clear(a->tmr, vector);
    if (deliverable(a) >= 0)
        want_kick(s, a);
}

static void accept(struct lapic_dev *s, struct vlapic *a, unsigned dm, uint8_t vector, bool level)
{
    if (!hw_enabled(a))
        return;
    switch (dm) {
    case DM_FIXED:
    case DM_LOWEST:
        accept_fixed(s, a, vector, level);
        break;
    case DM_NMI:
        a->nmi_pending = 1;            /* the vCPU takes it (op_special()) and injects an NMI */
        want_kick(s, a);
        break;
    case DM_INIT:
        a->init_pending = 1;           /* the vCPU resets to wait-for-SIPI (src/vm/run.c) */
        a->sipi_pending = 0;
        want_kick(s, a);
        break;
    case DM_SIPI:
        a->sipi_pending = 1;
        a->sipi_vector = vector;       /* a vCPU waiting for SIPI starts at vector << 12 */
        want_kick(s, a);
        break;
    case DM_EXTINT:
        want_kick(s, a);               /* the vCPU asks the PIC (pending()/ack()) */
        break;
    default:                           /* SMI and reserved modes: not modelled */
        break;
    }
}

static void set_error(struct lapic_dev *s, struct vlapic *a, uint32_t bits)
{
    uint32_t lvt = a->lvt[LVT_ERROR];
    bool fresh = (a->esr_pending & bits) != bits;
    a->esr_pending |= bits;
    if (fresh && !(lvt & LVT_MASKED) && (lvt & 0xff) >= 16)
        accept_fixed(s, a, (uint8_t)lvt, false);
}

/* Does destination @p dest (mode @p logical) name APIC @p a?  @p wide: a 32-bit
 * x2APIC destination (an ICR written in x2APIC mode); otherwise 8 bits (xAPIC ICR,
 * IOAPIC), compared with the low 8 bits of an x2APIC-mode APIC's ID. */
static bool matches(const struct vlapic *a, uint32_t dest, bool logical, bool wide)
{
    bool a_x2 = x2apic_mode(a);
    if (!hw_enabled(a))
        return false;
    if (!wide)
        dest &= 0xff;
    if (dest == (wide ? 0xffffffffu : 0xffu))
        return true;                       /* broadcast */
    if (!logical)
        return dest == (a_x2 ? (wide ? a->id : (a->id & 0xff)) : a->id >> 24);
    if (a_x2) {
        /* x2APIC logical: cluster in 31:16, member bits in 15:0 */
        return wide && (dest >> 16) == (a->ldr >> 16) && (dest & a->ldr & 0xffff) != 0;
    }
    {
        uint32_t ldr = a->ldr >> 24;
        if ((a->dfr >> 28) == 0xf)         /* flat */
            return (ldr & dest) != 0;
        /* cluster: cluster in 7:4 (15 = all), members in 3:0 */
        return ((dest >> 4) == (ldr >> 4) || (dest >> 4) == 0xf) && (ldr & dest & 0xf) != 0;
    }
}

/* Send an interrupt message from @p src (NULL: the IOAPIC) to the APICs it names. */
static void route(struct lapic_dev *s, const struct vlapic *src, unsigned shorthand, unsigned dm,
                  uint8_t vector, bool level, bool logical, uint32_t dest)
{
    bool wide = src && x2apic_mode(src);
    struct vlapic *lowest = NULL;

    for (unsigned i = 0; i < s->n; i++) {
        struct vlapic *a = &s->cpu[i];
        bool hit;
        switch (shorthand) {
        case 1: hit = a == src; break;                 /* self */
        case 2: hit = true; break;                     /* all including self */
        case 3: hit = a != src; break;                 /* all excluding self */
        default: hit = matches(a, dest, logical, wide); break;
        }
        if (!hit || !hw_enabled(a))
            continue;
        if (dm == DM_LOWEST) {
            /* lowest priority: the lowest PPR among the targets (first one on a tie) */
            if (!lowest || (ppr_of(a) & 0xf0) < (ppr_of(lowest) & 0xf0))
                lowest = a;
            continue;
        }
        accept(s, a, dm, vector, level);
    }
    if (lowest)
        accept(s, lowest, DM_FIXED, vector, level);
}

/* ------------------------------------------------------------------ EOI */

static void do_eoi(struct lapic_dev *s, struct vlapic *a)
{
    int v = highest(a->isr);
    if (v < 0)
        return;
    bit_clear(a->isr, (unsigned)v);
    if (bit_test(a->tmr, (unsigned)v) && s->n_eoi < sizeof(s->eoi_vec))
        s->eoi_vec[s->n_eoi++] = (uint8_t)v;        /* broadcast to the IOAPIC */
    if (deliverable(a) >= 0)
        want_kick(s, a);
}

/* ------------------------------------------------------------------ timer */

static uint64_t timer_div(const struct vlapic *a)
{
    unsigned d = (a->timer_dcr & 3) | ((a->timer_dcr >> 1) & 4);
    return d == 7 ? 1 : 2ull << d;
}

/* Nanoseconds per timer tick (1 GHz bus: = divisor). */
static uint64_t tick_ns(const struct vlapic *a)
{
    return timer_div(a) * (1000000000ull / V3_LAPIC_BUS_HZ);
}

static uint32_t timer_mode(const struct vlapic *a)
{
    return TIMER_MODE(a->lvt[LVT_TIMER]);
}

static uint32_t current_count(const struct vlapic *a, uint64_t now)
{
    uint64_t ticks;
    if (timer_mode(a) == TIMER_TSCDEADLINE || !a->timer_icr || a->timer_next == V3_NO_DEADLINE)
        return 0;
    ticks = (now - a->timer_start) / tick_ns(a);
    if (timer_mode(a) == TIMER_PERIODIC)
        return a->timer_icr - (uint32_t)(ticks % a->timer_icr);
    return ticks >= a->timer_icr ? 0 : a->timer_icr - (uint32_t)ticks;
}

static void timer_load(struct lapic_dev *s, struct vlapic *a, uint64_t now)
{
    a->timer_start = now;
    a->timer_owed = 0;
    if (a->timer_icr && timer_mode(a) != TIMER_TSCDEADLINE)
        a->timer_next = now + (uint64_t)a->timer_icr * tick_ns(a);
    else
        a->timer_next = V3_NO_DEADLINE;
    v3_dev_deadline_changed(s->dev);
}

static void timer_stop(struct lapic_dev *s, struct vlapic *a)
{
    a->timer_next = V3_NO_DEADLINE;
    a->tsc_deadline = 0;
    a->timer_owed = 0;
    v3_dev_deadline_changed(s->dev);
}

/* Guest TSC of vCPU @p i: derived from the VM clock at V3_TSC_KHZ plus the vCPU's
 * tsc_offset (src/internal/clock.h; what RDTSC returns). */
static uint64_t guest_tsc(struct lapic_dev *s, unsigned i)
{
    struct v3_core *c = v3_get_core(s->vm, i);
    return c ? v3_core_tsc_base(c) + c->tsc_offset : 0;
}

static void tsc_deadline_arm(struct lapic_dev *s, struct vlapic *a, uint64_t deadline)
{
    uint64_t now = v3_vm_clock_ns(s->vm), tsc = guest_tsc(s, idx_of(s, a));

    a->tsc_deadline = deadline;
    if (!deadline) {
        a->timer_next = V3_NO_DEADLINE;
    } else if (deadline <= tsc) {
        a->timer_next = now;
    } else {
        uint64_t d = deadline - tsc;
        uint64_t ns = v3_ticks_to_ns_up(d, s->tsc_hz);
        a->timer_next = now + ns < now ? V3_NO_DEADLINE - 1 : now + ns;
    }
    v3_dev_deadline_changed(s->dev);
}

static void timer_fire(struct lapic_dev *s, struct vlapic *a, uint64_t now)
{
    uint32_t lvt = a->lvt[LVT_TIMER];

    if (!(lvt & LVT_MASKED))
        accept_fixed(s, a, (uint8_t)lvt, false);
    switch (timer_mode(a)) {
    case TIMER_PERIODIC: {
        uint64_t period = (uint64_t)a->timer_icr * tick_ns(a);
        uint64_t n;
        if (!period) {                  /* not running (a loaded state may say so) */
            a->timer_next = V3_NO_DEADLINE;
            break;
        }
        /* the phase is kept; the expiries a late poll missed are owed */
        n = (now - a->timer_next) / period + 1;
        a->timer_next += n * period;
        if (n > 1 && !(lvt & LVT_MASKED)) {
            uint64_t cap = 1000000000ull / period, owed = a->timer_owed + n - 1;
            if (cap > TIMER_OWED_MAX)
                cap = TIMER_OWED_MAX;
            if (cap < 1)
                cap = 1;
            a->timer_owed = (uint32_t)(owed > cap - 1 ? cap - 1 : owed);
        }
        break;
    }
    case TIMER_TSCDEADLINE:
        a->tsc_deadline = 0;
        a->timer_next = V3_NO_DEADLINE;
        break;
    default:
        a->timer_next = V3_NO_DEADLINE;
        break;
    }
}

/* ------------------------------------------------------------------ reset */

static void vlapic_reset(struct lapic_dev *s, struct vlapic *a, unsigned i, bool power_on)
{
    uint64_t base = power_on ? (LAPIC_DEFAULT_BASE | APIC_BASE_EN | (i == 0 ? APIC_BASE_BSP : 0))
                             : a->base_msr;
    memset(a, 0, sizeof(*a));
    a->base_msr = base;
    a->id = i << 24;
    a->dfr = 0xffffffffu;
    a->svr = 0xff;
    for (unsigned k = 0; k < LVT_N; k++)
        a->lvt[k] = LVT_MASKED;
    /* as firmware leaves them on a PC: LINT0 ExtINT (the 8259A), LINT1 NMI */
    if (power_on) {
        a->lvt[LVT_LINT0] = DM_EXTINT << 8;
        a->lvt[LVT_LINT1] = DM_NMI << 8;
    }
    a->timer_next = V3_NO_DEADLINE;
    (void)s;
}

/* ------------------------------------------------------------------ registers */

static uint32_t reg_read(struct lapic_dev *s, struct vlapic *a, unsigned off, bool *ok)
{
    *ok = true;
    sync_cr8_in(s, a);
    switch (off) {
    case R_ID:      return a->id;
    case R_VER:     return LAPIC_VERSION;
    case R_TPR:     return a->tpr;
    case R_APR:     return 0;           /* arbitration priority: not modelled (P6 bus) */
    case R_PPR:     return ppr_of(a);
    case R_LDR:     return a->ldr;
    case R_DFR:     return x2apic_mode(a) ? (*ok = false, 0) : a->dfr;
    case R_SVR:     return a->svr;
    case R_ESR:     return a->esr;
    case R_ICR_LO:  return a->icr_lo & ~(1u << 12);   /* delivery status: always idle */
    case R_ICR_HI:  return a->icr_hi;
    case R_LVT_TIMER: case R_LVT_THERMAL: case R_LVT_PERF:
    case R_LVT_LINT0: case R_LVT_LINT1: case R_LVT_ERROR:
        return a->lvt[(off - R_LVT_TIMER) >> 4];
    case R_TIMER_ICR: return a->timer_icr;
    case R_TIMER_CCR: return current_count(a, v3_vm_clock_ns(s->vm));
    case R_TIMER_DCR: return a->timer_dcr;
    default:
        break;
    }
    if (off >= R_ISR && off < R_ISR + 0x80)
        return a->isr[(off - R_ISR) >> 4];
    if (off >= R_TMR && off < R_TMR + 0x80)
        return a->tmr[(off - R_TMR) >> 4];
    if (off >= R_IRR && off < R_IRR + 0x80)
        return a->irr[(off - R_IRR) >> 4];
    if (off == R_EOI || off == R_RRD || off == R_SELF_IPI) {
        *ok = false;        /* write-only (xAPIC reads them as 0) */
        return 0;
    }
    *ok = false;
    return 0;
}

static void send_icr(struct lapic_dev *s, struct vlapic *a)
{
    uint32_t lo = a->icr_lo;
    unsigned dm = LVT_DM(lo), shorthand = (lo >> 18) & 3;
    uint8_t vector = (uint8_t)lo;
    bool logical = (lo >> 11) & 1, level = (lo >> 15) & 1, assert = (lo >> 14) & 1;
    uint32_t dest = x2apic_mode(a) ? a->icr_hi : a->icr_hi >> 24;

    if ((dm == DM_FIXED || dm == DM_LOWEST) && vector < 16) {
        set_error(s, a, ESR_SEND_ILLEGAL);
        return;
    }
    if (dm == DM_INIT && level && !assert)
        return;                 /* INIT level de-assert: synchronises arbitration IDs only */
    if (dm == DM_EXTINT || dm == DM_SMI)
        return;                 /* not something an IPI may carry here */
    if ((dm == DM_LOWEST || dm == DM_SIPI || dm == DM_INIT) && shorthand == 1)
        return;                 /* illegal with the self shorthand */
    route(s, a, shorthand, dm, vector, dm == DM_FIXED || dm == DM_LOWEST ? level : false,
          logical, dest);
}

static uint32_t lvt_mask_bits(unsigned k, bool tsc_deadline)
{
    switch (k) {
    case LVT_TIMER:
        return 0xff | LVT_MASKED | (tsc_deadline ? 3u << 17 : 1u << 17);
    case LVT_THERMAL: case LVT_PERF:
        return 0xff | (7u << 8) | LVT_MASKED;
    case LVT_LINT0: case LVT_LINT1:
        return 0xff | (7u << 8) | LVT_POLARITY | LVT_LEVEL | LVT_MASKED;
    default:
        return 0xff | LVT_MASKED;
    }
}

/* Returns false for an offset that names no writable register. */
static bool reg_write(struct lapic_dev *s, struct vlapic *a, unsigned off, uint32_t val)
{
    uint64_t now;

    sync_cr8_in(s, a);
    switch (off) {
    case R_ID:
        if (x2apic_mode(a))
            return false;
        a->id = val & 0xff000000u;
        return true;
    case R_TPR:
        a->tpr = val & 0xff;
        sync_cr8_out(s, a);
        if (deliverable(a) >= 0)
            want_kick(s, a);
        return true;
    case R_EOI:
        do_eoi(s, a);
        return true;
    case R_LDR:
        if (x2apic_mode(a))
            return false;
        a->ldr = val & 0xff000000u;
        return true;
    case R_DFR:
        if (x2apic_mode(a))
            return false;
        a->dfr = val | 0x0fffffffu;
        return true;
    case R_SVR:
        a->svr = val & 0x3ff;
        if (!(a->svr & SVR_ENABLE))
            for (unsigned k = 0; k < LVT_N; k++)
                a->lvt[k] |= LVT_MASKED;
        else if (deliverable(a) >= 0)
            want_kick(s, a);
        return true;
    case R_ESR:
        a->esr = a->esr_pending;
        a->esr_pending = 0;
        return true;
    case R_ICR_LO:
        a->icr_lo = val & 0x000ccfffu;
        send_icr(s, a);
        return true;
    case R_ICR_HI:
        if (x2apic_mode(a))
            return false;
        a->icr_hi = val & 0xff000000u;
        return true;
    case R_LVT_TIMER: case R_LVT_THERMAL: case R_LVT_PERF:
    case R_LVT_LINT0: case R_LVT_LINT1: case R_LVT_ERROR: {
        unsigned k = (off - R_LVT_TIMER) >> 4;
        uint32_t old = a->lvt[k];
        uint32_t keep = old & (LVT_REMOTE_IRR | LVT_STATUS);
        uint32_t v = (val & lvt_mask_bits(k, s->tsc_deadline)) | keep;
        if (TIMER_MODE(v) == 3)
            v &= ~(3u << 17);           /* reserved mode: treated as one-shot */
        if (!(a->svr & SVR_ENABLE))
            v |= LVT_MASKED;
        a->lvt[k] = v;
        if (k == LVT_TIMER && ((old ^ v) & (LVT_MASKED | 3u << 17 | 0xff)))
            a->timer_owed = 0;
        if (k == LVT_TIMER && TIMER_MODE(old) != TIMER_MODE(v) &&
            (TIMER_MODE(old) == TIMER_TSCDEADLINE || TIMER_MODE(v) == TIMER_TSCDEADLINE)) {
            /* switching to or from TSC-deadline mode disarms the timer (SDM 10.5.4.1) */
            a->timer_icr = 0;
            timer_stop(s, a);
        }
        return true;
    }
    case R_TIMER_ICR:
        if (timer_mode(a) == TIMER_TSCDEADLINE)
            return true;                /* ignored in TSC-deadline mode */
        a->timer_icr = val;
        timer_load(s, a, v3_vm_clock_ns(s->vm));
        return true;
    case R_TIMER_DCR:
        /* a new divisor applies from now: re-base the running count */
        now = v3_vm_clock_ns(s->vm);
        if (a->timer_next != V3_NO_DEADLINE && timer_mode(a) != TIMER_TSCDEADLINE) {
            uint32_t cur = current_count(a, now);
            a->timer_dcr = val & 0xb;
            a->timer_start = now - (uint64_t)(a->timer_icr - cur) * tick_ns(a);
            a->timer_next = now + (uint64_t)cur * tick_ns(a);
            v3_dev_deadline_changed(s->dev);
        } else {
            a->timer_dcr = val & 0xb;
        }
        return true;
    case R_SELF_IPI:
        if (!x2apic_mode(a))
            return false;
        if ((val & 0xff) < 16)
            set_error(s, a, ESR_SEND_ILLEGAL);
        else
            accept_fixed(s, a, (uint8_t)val, false);
        return true;
    default:
        return false;           /* read-only or no register */
    }
}

/* ------------------------------------------------------------------ xAPIC MMIO */

static void log_bad(struct lapic_dev *s, const char *what, uint64_t off, unsigned size)
{
    if (s->bad_access_logged)
        return;
    s->bad_access_logged = true;
    V3_WARN("%s: %s at offset %#llx width %u ignored (xAPIC registers take aligned "
            "32-bit accesses; further ones are not logged)", v3_dev_name(s->dev), what,
            (unsigned long long)off, size);
}

/* The APIC the MMIO window reaches for @p core, or NULL (disabled, x2APIC, moved away). */
static struct vlapic *mmio_apic(struct lapic_dev *s, struct v3_core *core)
{
    struct vlapic *a = apic_of(s, core);
    if (!a || !hw_enabled(a) || x2apic_mode(a))
        return NULL;
    if ((a->base_msr & APIC_BASE_ADDR) != LAPIC_DEFAULT_BASE)
        return NULL;
    return a;
}

static uint64_t mmio_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct lapic_dev *s = v3_dev_state(dev);
    struct vlapic *a = mmio_apic(s, core);
    bool ok;
    uint32_t v;

    if (!a)
        return ~0ull >> (64 - 8 * size);        /* nothing answers: the bus floats */
    if (size != 4 || (off & 15)) {
        log_bad(s, "read", off, size);
        return 0;
    }
    v = reg_read(s, a, (unsigned)off, &ok);
    if (!ok && off != R_EOI && off != R_RRD && off != R_SELF_IPI)
        set_error(s, a, ESR_ILLEGAL_REG);
    flush_out(s);
    return v;
}

static void mmio_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size,
                       uint64_t val)
{
    struct lapic_dev *s = v3_dev_state(dev);
    struct vlapic *a = mmio_apic(s, core);

    if (!a)
        return;
    if (size != 4 || (off & 15)) {
        log_bad(s, "write", off, size);
        return;
    }
    if (!reg_write(s, a, (unsigned)off, (uint32_t)val)) {
        /* read-only registers drop the write; unknown offsets also flag ESR */
        bool ro = off == R_VER || off == R_APR || off == R_PPR || off == R_RRD ||
                  off == R_TIMER_CCR || (off >= R_ISR && off < R_IRR + 0x80);
        if (!ro)
            set_error(s, a, ESR_ILLEGAL_REG);
    }
    flush_out(s);
}

/* ------------------------------------------------------------------ MSRs */

static bool msr_readable(unsigned off)
{
    switch (off) {
    case R_ID: case R_VER: case R_TPR: case R_PPR: case R_LDR: case R_SVR: case R_ESR:
    case R_ICR_LO: case R_LVT_TIMER: case R_LVT_THERMAL: case R_LVT_PERF: case R_LVT_LINT0:
    case R_LVT_LINT1: case R_LVT_ERROR: case R_TIMER_ICR: case R_TIMER_CCR: case R_TIMER_DCR:
        return true;
    default:
        return (off >= R_ISR && off < R_IRR + 0x80);
    }
}

static bool msr_writable(unsigned off)
{
    switch (off) {
    case R_TPR: case R_EOI: case R_SVR: case R_ESR: case R_ICR_LO: case R_LVT_TIMER:
    case R_LVT_THERMAL: case R_LVT_PERF: case R_LVT_LINT0: case R_LVT_LINT1: case R_LVT_ERROR:
    case R_TIMER_ICR: case R_TIMER_DCR: case R_SELF_IPI:
        return true;
    default:
        return false;
    }
}

/* Bits an x2APIC write may set (others: #GP). */
static uint64_t msr_write_mask(const struct lapic_dev *s, unsigned off)
{
    switch (off) {
    case R_TPR: return 0xff;
    case R_EOI: case R_ESR: return 0;
    case R_SVR: return 0x3ff;
    case R_ICR_LO: return 0xffffffff000ccfffull;
    case R_TIMER_ICR: return 0xffffffffu;
    case R_TIMER_DCR: return 0xb;
    case R_SELF_IPI: return 0xff;
    default:
        if (off >= R_LVT_TIMER && off <= R_LVT_ERROR)
            return lvt_mask_bits((off - R_LVT_TIMER) >> 4, s->tsc_deadline);
        return 0;
    }
}

static int x2apic_rdmsr(struct v3_core *core, uint32_t msr, uint64_t *value, void *priv)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    unsigned off = (msr - 0x800) << 4;
    int rc = 0;
    bool ok = false;

    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    if (!a || !x2apic_mode(a) || !msr_readable(off)) {
        rc = V3_EFAULT;               /* #GP(0) */
    } else if (off == R_ICR_LO) {
        *value = ((uint64_t)a->icr_hi << 32) | a->icr_lo;
    } else {
        *value = reg_read(s, a, off, &ok);
        if (!ok)
            rc = V3_EFAULT;
    }
    unlock_and_send(s);
    return rc;
}

static int x2apic_wrmsr(struct v3_core *core, uint32_t msr, uint64_t value, void *priv)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    unsigned off = (msr - 0x800) << 4;
    int rc = 0;

    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    if (!a || !x2apic_mode(a) || !msr_writable(off) || (value & ~msr_write_mask(s, off))) {
        rc = V3_EFAULT;
    } else if (off == R_ICR_LO) {
        a->icr_hi = (uint32_t)(value >> 32);
        a->icr_lo = (uint32_t)value & 0x000ccfffu;
        send_icr(s, a);
    } else if (!reg_write(s, a, off, (uint32_t)value)) {
        rc = V3_EFAULT;
    }
    unlock_and_send(s);
    return rc;
}

static int tsc_deadline_rdmsr(struct v3_core *core, uint32_t msr, uint64_t *value, void *priv)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    (void)msr;
    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    *value = a && timer_mode(a) == TIMER_TSCDEADLINE ? a->tsc_deadline : 0;
    v3_dev_unlock(s->dev);
    return 0;
}

static int tsc_deadline_wrmsr(struct v3_core *core, uint32_t msr, uint64_t value, void *priv)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    (void)msr;
    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    /* written outside TSC-deadline mode (or with the APIC disabled) the write is dropped */
    if (a && hw_enabled(a) && timer_mode(a) == TIMER_TSCDEADLINE)
        tsc_deadline_arm(s, a, value);
    unlock_and_send(s);
    return 0;
}

/* IA32_APIC_BASE: enable, x2APIC mode, (not yet) relocation. */
static int apic_base_rdmsr(struct v3_core *core, uint32_t msr, uint64_t *value, void *priv)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    (void)msr;
    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    *value = a ? a->base_msr : core->apic_base;
    v3_dev_unlock(s->dev);
    return 0;
}

static int apic_base_wrmsr(struct v3_core *core, uint32_t msr, uint64_t value, void *priv)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    uint64_t allowed = APIC_BASE_ADDR | APIC_BASE_EN | APIC_BASE_BSP |
                       (s->x2apic ? APIC_BASE_EXTD : 0);
    int rc = 0;
    (void)msr;

    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    if (!a) {
        v3_dev_unlock(s->dev);
        return V3_EFAULT;
    }
    {
        uint64_t old = a->base_msr;
        bool en = value & APIC_BASE_EN, extd = value & APIC_BASE_EXTD;
        bool was_x2 = x2apic_mode(a), was_en = hw_enabled(a);

        value = (value & ~APIC_BASE_BSP) | (old & APIC_BASE_BSP);   /* BSP is read-only */
        if (value & ~allowed)
            rc = V3_EFAULT;                       /* reserved bits */
        else if (extd && !en)
            rc = V3_EFAULT;                       /* invalid state */
        else if (was_x2 && en && !extd)
            rc = V3_EFAULT;                       /* x2APIC -> xAPIC directly */
        else if (!was_en && en && extd)
            rc = V3_EFAULT;                       /* disabled -> x2APIC directly */
        if (!rc) {
            unsigned i = idx_of(s, a);
            if (!en && was_en) {
                /* global disable: the APIC returns to its power-up state (SDM 10.4.3) */
                vlapic_reset(s, a, i, false);
                a->lvt[LVT_LINT0] = LVT_MASKED;
                a->lvt[LVT_LINT1] = LVT_MASKED;
                v3_dev_deadline_changed(s->dev);
            }
            if (extd && !was_x2) {
                /* xAPIC -> x2APIC: 32-bit ID, LDR derived from it (SDM 10.12.10.2) */
                a->id = i;
                a->ldr = ((i >> 4) << 16) | (1u << (i & 15));
            }
            if (!en && was_en)
                a->id = i << 24;
            a->base_msr = value;
            core->apic_base = value;
            if ((value & APIC_BASE_ADDR) != LAPIC_DEFAULT_BASE && !s->reloc_logged) {
                s->reloc_logged = true;
                V3_WARN("%s: vCPU %u moved its APIC to %#llx: relocation is not supported, "
                        "the window stays at 0xfee00000 and no longer answers this vCPU",
                        v3_dev_name(s->dev), i, (unsigned long long)(value & APIC_BASE_ADDR));
            }
        }
    }
    unlock_and_send(s);
    return rc;
}

/* CPUID leaf 1 as this APIC changes it (the hook gets the back end's values):
 * EDX bit 9 (APIC) follows IA32_APIC_BASE.EN, ECX bit 21 (x2APIC) and bit 24
 * (TSC-deadline) report what the device offers. */
static int cpuid_leaf1(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t regs[4],
                       void *priv)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    (void)leaf;
    (void)subleaf;
    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    regs[2] &= ~((1u << 21) | (1u << 24));
    if (s->x2apic)
        regs[2] |= 1u << 21;
    if (s->tsc_deadline)
        regs[2] |= 1u << 24;
    if (a && !hw_enabled(a))
        regs[3] &= ~(1u << 9);
    else
        regs[3] |= 1u << 9;
    v3_dev_unlock(s->dev);
    return 0;
}

/* ------------------------------------------------------------------ vCPU interface */

static bool lint0_extint(const struct vlapic *a)
{
    /* LINT0 programmed as ExtINT and not masked; with the APIC globally disabled the
     * processor takes the 8259A directly (as a CPU without an APIC) */
    if (!hw_enabled(a))
        return true;
    return !(a->lvt[LVT_LINT0] & LVT_MASKED) && LVT_DM(a->lvt[LVT_LINT0]) == DM_EXTINT;
}

static int op_pending(void *priv, struct v3_core *core)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    bool extint;
    int v;

    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    if (!a) {
        v3_dev_unlock(s->dev);
        return -1;
    }
    sync_cr8_in(s, a);
    v = deliverable(a);
    extint = idx_of(s, a) == 0 && lint0_extint(a);
    v3_dev_unlock(s->dev);
    /* ExtINT outranks the APIC's fixed interrupts; its vector is known at INTA only */
    if (extint && v3_vm_extint_pending(s->vm))
        return v >= 0 ? v : 0xff;
    return v;
}

static int op_ack(void *priv, struct v3_core *core)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    bool extint, taken;
    int v;

    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    if (!a) {
        v3_dev_unlock(s->dev);
        return -1;
    }
    extint = idx_of(s, a) == 0 && lint0_extint(a);
    v3_dev_unlock(s->dev);
    if (extint && v3_vm_extint_pending(s->vm))
        return v3_vm_extint_ack(s->vm);

    v3_dev_lock(s->dev);
    sync_cr8_in(s, a);
    v = deliverable(a);
    taken = v >= 0;
    if (v >= 0) {
        uint32_t lvt = a->lvt[LVT_TIMER];
        bit_clear(a->irr, (unsigned)v);
        bit_set(a->isr, (unsigned)v);
        if (a->timer_owed && (unsigned)v == (lvt & 0xff) && !(lvt & LVT_MASKED) &&
            timer_mode(a) == TIMER_PERIODIC) {
            a->timer_owed--;            /* the next owed expiry, taken after this one's EOI */
            bit_set(a->irr, (unsigned)v);
        }
    } else if (sw_enabled(a) && highest(a->irr) >= 0) {
        v = a->svr & 0xff;      /* withdrawn by a priority change: the spurious vector */
    }
    v3_dev_unlock(s->dev);
    if (taken)
        v3_vm_apic_taken(s->vm, (uint8_t)v);
    return v;
}

static void op_deliver(void *priv, const struct v3_apic_msg *msg)
{
    struct lapic_dev *s = priv;
    v3_dev_lock(s->dev);
    route(s, NULL, 0, msg->delivery, msg->vector, msg->level, msg->logical, msg->dest);
    unlock_and_send(s);
}

static unsigned op_special(void *priv, struct v3_core *core, unsigned take, uint8_t *sipi_vector)
{
    struct lapic_dev *s = priv;
    struct vlapic *a;
    unsigned r = 0;

    v3_dev_lock(s->dev);
    a = apic_of(s, core);
    if (a) {
        r = (a->nmi_pending ? V3_APIC_NMI : 0) | (a->init_pending ? V3_APIC_INIT : 0) |
            (a->sipi_pending ? V3_APIC_SIPI : 0);
        if (sipi_vector)
            *sipi_vector = a->sipi_vector;
        if (take & r & V3_APIC_NMI)
            a->nmi_pending = 0;
        if (take & r & V3_APIC_SIPI)
            a->sipi_pending = 0;
        if (take & r & V3_APIC_INIT) {
            /* INIT: the APIC resets (ID, base kept); a SIPI that came after it stays */
            uint8_t nmi = a->nmi_pending, sipi = a->sipi_pending, vec = a->sipi_vector;
            uint32_t id = a->id;
            vlapic_reset(s, a, idx_of(s, a), false);
            a->id = id;
            a->nmi_pending = nmi;
            a->sipi_pending = sipi;
            a->sipi_vector = vec;
            a->cr8_seen = core ? core->cr8 : 0;
        }
    }
    v3_dev_unlock(s->dev);
    return r;
}

static const struct v3_lapic_ops lapic_ops = {
    .pending = op_pending,
    .ack = op_ack,
    .deliver = op_deliver,
    .special = op_special,
};

/* ---- interface for the SMP / NMI work (src/devices/lapic.h) ---- */

bool v3_lapic_take_nmi(struct v3_device *dev, unsigned core_id)
{
    struct lapic_dev *s = v3_dev_state(dev);
    bool r = false;
    v3_dev_lock(dev);
    if (core_id < s->n && s->cpu[core_id].nmi_pending) {
        s->cpu[core_id].nmi_pending = 0;
        r = true;
    }
    v3_dev_unlock(dev);
    return r;
}

int v3_lapic_take_init_sipi(struct v3_device *dev, unsigned core_id, uint8_t *sipi_vector)
{
    struct lapic_dev *s = v3_dev_state(dev);
    int r = 0;
    v3_dev_lock(dev);
    if (core_id < s->n) {
        struct vlapic *a = &s->cpu[core_id];
        if (a->init_pending) {
            a->init_pending = 0;
            r = V3_LAPIC_INIT;
        } else if (a->sipi_pending) {
            a->sipi_pending = 0;
            *sipi_vector = a->sipi_vector;
            r = V3_LAPIC_SIPI;
        }
    }
    v3_dev_unlock(dev);
    return r;
}

/* ------------------------------------------------------------------ device ops */

static uint64_t lapic_deadline(struct v3_device *dev)
{
    struct lapic_dev *s = v3_dev_state(dev);
    uint64_t d = V3_NO_DEADLINE;
    for (unsigned i = 0; i < s->n; i++)
        if (s->cpu[i].timer_next < d)
            d = s->cpu[i].timer_next;
    return d;
}

static void lapic_timer(struct v3_device *dev, uint64_t now)
{
    struct lapic_dev *s = v3_dev_state(dev);
    for (unsigned i = 0; i < s->n; i++)
        if (s->cpu[i].timer_next <= now)
            timer_fire(s, &s->cpu[i], now);
    flush_out(s);
}

static void lapic_reset(struct v3_device *dev)
{
    struct lapic_dev *s = v3_dev_state(dev);
    for (unsigned i = 0; i < s->n; i++) {
        struct v3_core *c = v3_get_core(s->vm, i);
        vlapic_reset(s, &s->cpu[i], i, true);
        if (c) {
            c->apic_base = s->cpu[i].base_msr;
            s->cpu[i].cr8_seen = c->cr8;
        }
    }
    s->kick_mask = 0;
    s->n_eoi = 0;
}

#define SNAP_MAGIC 0x4c415032u      /* "LAP2": struct vlapic with timer_owed */

static int lapic_save(struct v3_device *dev, struct v3_snap *snap)
{
    struct lapic_dev *s = v3_dev_state(dev);
    uint32_t hdr[2] = { SNAP_MAGIC, s->n };
    int rc = v3_snap_put(snap, hdr, sizeof(hdr));
    for (unsigned i = 0; !rc && i < s->n; i++)
        rc = v3_snap_put(snap, &s->cpu[i], sizeof(s->cpu[i]));
    return rc;
}

static int lapic_load(struct v3_device *dev, struct v3_snap *snap)
{
    struct lapic_dev *s = v3_dev_state(dev);
    uint32_t hdr[2];
    int rc = v3_snap_get(snap, hdr, sizeof(hdr));
    if (rc)
        return rc;
    if (hdr[0] != SNAP_MAGIC || hdr[1] != s->n) {
        V3_ERROR("%s: snapshot is not a LAPIC state for %u vCPUs", v3_dev_name(dev), s->n);
        return V3_EIMAGE;
    }
    for (unsigned i = 0; i < s->n; i++) {
        struct vlapic tmp;
        if ((rc = v3_snap_get(snap, &tmp, sizeof(tmp))))
            return rc;
        if (tmp.timer_owed >= TIMER_OWED_MAX)
            tmp.timer_owed = TIMER_OWED_MAX - 1;
        s->cpu[i] = tmp;
    }
    for (unsigned i = 0; i < s->n; i++) {
        struct v3_core *c = v3_get_core(s->vm, i);
        if (c)
            c->apic_base = s->cpu[i].base_msr;
    }
    v3_dev_deadline_changed(dev);
    return 0;
}

static void lapic_destroy(struct v3_device *dev)
{
    struct lapic_dev *s = v3_dev_state(dev);
    if (s->cpuid_hooked)
        v3_unhook_cpuid(s->vm, 1);
    s->cpuid_hooked = false;
    /* the MSR hooks point at this state: remove the ones create() made */
    for (unsigned i = 0; i < s->n_msr_hooks; i++)
        v3_unhook_msr(s->vm, s->msr_hooked[i]);
    s->n_msr_hooks = 0;
    v3_free(s->cpu);
    s->cpu = NULL;
}

static int hook(struct lapic_dev *s, uint32_t msr, v3_msr_read_fn rd, v3_msr_write_fn wr)
{
    int rc;
    if (s->n_msr_hooks >= sizeof(s->msr_hooked) / sizeof(s->msr_hooked[0]))
        return V3_ENOMEM;
    rc = v3_hook_msr(s->vm, msr, rd, wr, s);
    if (rc >= 0)
        s->msr_hooked[s->n_msr_hooks++] = msr;
    return rc;
}

static int lapic_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct lapic_dev *s = v3_dev_state(dev);
    bool opt;
    uint64_t hz = 0;
    int rc;

    s->dev = dev;
    s->vm = v3_dev_vm(dev);
    s->n = v3_vm_num_cores(s->vm);
    s->x2apic = true;
    s->tsc_deadline = true;
    s->tsc_hz = V3_LAPIC_TSC_HZ;
    if ((rc = v3_dev_arg_bool(args, "x2apic", &opt)) < 0)
        return rc;
    if (rc)
        s->x2apic = opt;
    if ((rc = v3_dev_arg_bool(args, "tsc-deadline", &opt)) < 0)
        return rc;
    if (rc)
        s->tsc_deadline = opt;
    if ((rc = v3_dev_arg_u64(args, "tsc-hz", &hz)) < 0)
        return rc;
    if (rc) {
        if (!hz) {
            V3_ERROR("%s: tsc-hz must not be 0", v3_dev_name(dev));
            return V3_EINVAL;
        }
        s->tsc_hz = hz;
    }
    if (!s->n || s->n > 64) {
        V3_ERROR("%s: %u vCPUs (1-64 supported)", v3_dev_name(dev), s->n);
        return V3_EINVAL;
    }
    s->cpu = v3_zalloc(sizeof(*s->cpu) * s->n);
    if (!s->cpu) {
        V3_ERROR("%s: out of memory", v3_dev_name(dev));
        return V3_ENOMEM;
    }
    rc = v3_dev_claim_mmio(dev, LAPIC_DEFAULT_BASE, 0x1000, mmio_read, mmio_write);
    if (rc < 0)
        return rc;
    if ((rc = hook(s, MSR_APIC_BASE, apic_base_rdmsr, apic_base_wrmsr)) < 0)
        return rc;
    if (s->tsc_deadline && (rc = hook(s, MSR_TSC_DEADLINE, tsc_deadline_rdmsr,
                                      tsc_deadline_wrmsr)) < 0)
        return rc;
    if (s->x2apic)
        for (unsigned off = 0; off < 0x400; off += 0x10)
            if (msr_readable(off) || msr_writable(off))
                if ((rc = hook(s, 0x800 + (off >> 4), x2apic_rdmsr, x2apic_wrmsr)) < 0)
                    return rc;
    /* CPUID.1 reports x2APIC / TSC-deadline; another owner of leaf 1 is not fatal */
    if (v3_hook_cpuid(s->vm, 1, cpuid_leaf1, s) == 0)
        s->cpuid_hooked = true;
    else
        V3_WARN("%s: CPUID leaf 1 is hooked elsewhere: x2APIC and TSC-deadline are not "
                "announced there", v3_dev_name(dev));
    rc = v3_vm_set_lapic(s->vm, &lapic_ops, s);
    if (rc < 0)
        return rc;
    lapic_reset(dev);
    return 0;
}

const struct v3_device_ops v3_dev_lapic = {
    .name = "lapic",
    .help = "local APIC per vCPU at 0xfee00000 (xAPIC, x2APIC, timer incl. TSC-deadline); "
            "options: x2apic=on|off, tsc-deadline=on|off, tsc-hz=N",
    .state_size = sizeof(struct lapic_dev),
    .create = lapic_create,
    .destroy = lapic_destroy,
    .reset = lapic_reset,
    .save = lapic_save,
    .load = lapic_load,
    .deadline = lapic_deadline,
    .timer = lapic_timer,
};
