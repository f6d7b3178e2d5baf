/* SPDX-License-Identifier: MIT */
/*
 * The VM clock: nanoseconds since the VM was created, in one of two modes.
 *
 *  realtime: host monotonic time (v3_os_hooks::time_ns) minus the creation time.
 *  virtual:  vCPU 0's retired instructions times a fixed period, plus the time
 *            skipped while every vCPU was halted (a halted VM jumps to its next
 *            device deadline).  The same guest and input give the same clock.
 *
 * The TSC of every vCPU derives from it at V3_TSC_KHZ (plus the vCPU's
 * tsc_offset), so a guest can learn a fixed TSC frequency from CPUID.
 * The state lives in struct v3_vm; vCPUs reach it through core->clock.
 * Everything here is lock-free: the fields are written only at creation,
 * except skip_ns, which only the thread running vCPU 0 advances.
 */
#ifndef V3_INTERNAL_CLOCK_H
#define V3_INTERNAL_CLOCK_H

#include <stdint.h>
#include <v3/vcpu.h>
#include "internal/host.h"

#define V3_TSC_KHZ 2000000ull           /* 2 GHz */
#define V3_APIC_BUS_KHZ 1000000ull      /* the local APIC timer's bus clock: 1 GHz (src/devices/lapic.c) */
#define V3_HV_SIGNATURE "V3VMM V3VMM "  /* CPUID 0x40000000 EBX, ECX, EDX */

struct v3_clock {
    int mode;                           /* V3_CLOCK_REALTIME / V3_CLOCK_VIRTUAL (v3/vm.h) */
    uint32_t insn_ps;                   /* virtual: picoseconds per instruction */
    uint64_t base_ns;                   /* realtime: host time at creation */
    uint64_t skip_ns;                   /* virtual: halted time skipped (atomic) */
    const uint64_t *insns;              /* virtual: vCPU 0's retired-instruction counter */
};

static inline uint64_t v3_clock_now(const struct v3_clock *c)
{
    if (c->mode == 0)
        return v3_time_ns() - c->base_ns;
    return __atomic_load_n(c->insns, __ATOMIC_RELAXED) * c->insn_ps / 1000u +
           __atomic_load_n(&c->skip_ns, __ATOMIC_RELAXED);
}

/* TSC ticks in @p ns nanoseconds at V3_TSC_KHZ, without a 128-bit division. */
static inline uint64_t v3_clock_ns_to_tsc(uint64_t ns)
{
    return (ns / 1000000u) * V3_TSC_KHZ + (ns % 1000000u) * V3_TSC_KHZ / 1000000u;
}

/* Nanoseconds in @p ticks TSC ticks (rounded down). */
static inline uint64_t v3_clock_tsc_to_ns(uint64_t ticks)
{
    return (ticks / V3_TSC_KHZ) * 1000000u + (ticks % V3_TSC_KHZ) * 1000000u / V3_TSC_KHZ;
}

/* The TSC of @p core before its tsc_offset: from the VM clock, or the
 * retired-instruction count for a vCPU outside a VM (unit tests). */
static inline uint64_t v3_core_tsc_base(const struct v3_core *core)
{
    return core->clock ? v3_clock_ns_to_tsc(v3_clock_now(core->clock)) : core->insn_count;
}

#endif
