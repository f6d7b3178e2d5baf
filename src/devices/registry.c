/* SPDX-License-Identifier: MIT */
/*
 * The device models this build knows and the machines made of them.
 * Adding a device: its file in src/devices/, a line in v3_device_registry,
 * and its name in the machines that have it.
 */
#include "internal/host.h"
#include "internal/devmodel.h"

extern const struct v3_device_ops v3_dev_uart, v3_dev_debug_exit, v3_dev_sysctl_a, v3_dev_vga,
    v3_dev_testdev, v3_dev_rtc, v3_dev_acpi_pm, v3_dev_i8042, v3_dev_fw_cfg, v3_dev_pic, v3_dev_pit,
    v3_dev_lapic, v3_dev_ioapic, v3_dev_fpu_err;

const struct v3_device_ops *const v3_device_registry[] = {
    &v3_dev_uart,
    &v3_dev_debug_exit,
    &v3_dev_sysctl_a,
    &v3_dev_vga,
    &v3_dev_testdev,
    &v3_dev_rtc,
    &v3_dev_acpi_pm,
    &v3_dev_i8042,
    &v3_dev_fw_cfg,
    &v3_dev_pic,
    &v3_dev_pit,
    &v3_dev_lapic,
    &v3_dev_ioapic,
    &v3_dev_fpu_err,
    NULL,
};

/* The PC: interrupt controllers first (devices created later wire to them). */
static const char *const pc_devices[] = {
    "pic",
    "lapic",
    "ioapic",
    "pit",
    "rtc",
    "acpi-pm,tmr32=on",       /* the FADT declares TMR_VAL_EXT (v3/platform.h) */
    "i8042",
    "fw-cfg",
    "fpu-err",
    "uart",
    "debug-exit",
    "sysctl-a",
    "vga",
    "testdev",
    NULL,
};

const struct v3_machine_def v3_machine_registry[] = {
    /* RAM beyond 3 GiB moves above 4 GiB, leaving 0xC0000000-0xFFFFFFFF to devices */
    { "pc", "a PC: PIC, PIT, RTC, LAPIC, IOAPIC, 16550A, port 0x92, VGA text, debug exit", pc_devices,
      0xc0000000ull },
    { NULL, NULL, NULL, 0 },
};
