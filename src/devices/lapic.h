/* SPDX-License-Identifier: MIT */
/*
 * Local APIC device (src/devices/lapic.c): what the VM and the coming SMP
 * work reach beyond v3_lapic_ops (v3/irqchip.h).
 */
#ifndef V3_DEVICES_LAPIC_H
#define V3_DEVICES_LAPIC_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/device.h>
#include "internal/clock.h"

/** APIC bus (timer input) frequency: one tick per ns at divide-by-1. */
#define V3_LAPIC_BUS_HZ 1000000000ull
/** Guest TSC frequency for IA32_TSC_DEADLINE (option tsc-hz=N overrides): the
 *  VM's TSC runs at V3_TSC_KHZ (src/internal/clock.h) off the VM clock. */
#define V3_LAPIC_TSC_HZ (V3_TSC_KHZ * 1000ull)

/** The "lapic" model. */
extern const struct v3_device_ops v3_dev_lapic;

/**
 * Take the NMI pending for vCPU @p core_id (an NMI IPI, or an NMI message
 * from the IOAPIC): true once per NMI.  The vCPU injects V3_EVENT_NMI.
 * Takes the device lock; any thread.
 */
bool v3_lapic_take_nmi(struct v3_device *dev, unsigned core_id);

enum { V3_LAPIC_INIT = 1, V3_LAPIC_SIPI = 2 };
/**
 * Take a pending INIT (returns V3_LAPIC_INIT: the vCPU enters wait-for-SIPI)
 * or, once no INIT is pending, a SIPI (returns V3_LAPIC_SIPI with its vector
 * in *sipi_vector: the vCPU starts in real mode at vector << 12).  0 if none.
 * The VM takes them through v3_lapic_ops::special (src/vm/run.c).  Any thread.
 */
int v3_lapic_take_init_sipi(struct v3_device *dev, unsigned core_id, uint8_t *sipi_vector);

#endif
