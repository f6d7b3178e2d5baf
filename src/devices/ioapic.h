/* SPDX-License-Identifier: MIT */
/* I/O APIC device (src/devices/ioapic.c). */
#ifndef V3_DEVICES_IOAPIC_H
#define V3_DEVICES_IOAPIC_H

#include <v3/device.h>

/** Default MMIO base of the IOAPIC (option base=ADDR). */
#define V3_IOAPIC_BASE 0xfec00000ull

/** The "ioapic" model. */
extern const struct v3_device_ops v3_dev_ioapic;

#endif
