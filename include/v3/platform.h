/* SPDX-License-Identifier: MIT */
/**
 * @file v3/platform.h
 * The PC machine layout: one description of the guest platform from which
 * the BIOS e820 memory map, the ACPI tables, the Intel MP table and the boot
 * loaders' placement decisions are all derived, so they agree.
 *
 * v3_pc_layout_init() fills it as a PC with @c mem_size bytes of RAM does:
 * RAM from 0 up to the EBDA (0x9FC00), the reserved low areas (EBDA, VGA,
 * option ROMs, BIOS: 0x9FC00-0x100000), RAM from 1 MiB up to the 32-bit
 * device window (0xC0000000), the window itself (MMIO: IOAPIC 0xFEC00000,
 * LAPIC 0xFEE00000, ...) up to 4 GiB, and the rest of the RAM from 4 GiB.
 * The ISA devices (PIC, PIT, RTC, COM1) sit at their PC ports and IRQs;
 * ISA IRQ 0 is wired to IOAPIC pin 2, every other ISA IRQ to the pin of
 * the same number.  The ACPI fixed hardware is an I/O block at
 * V3_PC_PM_BASE: PM1a event block (status + enable, 4 bytes), PM1a control
 * (2 bytes) and a 32-bit PM timer (4 bytes); the SCI is ISA IRQ 9 (level,
 * active high).  A guest powers off by writing SLP_TYP = @c s5_slp_typ with
 * SLP_EN (bit 13) to PM1a_CNT, and resets by writing @c reset_value to
 * port @c reset_port; the devices answering those ports are separate.
 *
 * All functions here are pure (no VM, no allocation): any thread.
 */
#ifndef V3_PLATFORM_H
#define V3_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

struct v3_vm;

/** e820 memory types (ACPI address range types). */
enum v3_e820_type {
    V3_E820_RAM = 1,
    V3_E820_RESERVED = 2,
    V3_E820_ACPI = 3,
    V3_E820_NVS = 4,
};

/** One e820 entry, as the BIOS INT 15h E820h call and the Linux zero page lay it out. */
struct v3_e820_entry {
    uint64_t addr, size;
    uint32_t type;
};

#define V3_PC_LOW_RAM_END       0x9FC00ull       /**< EBDA start: end of conventional RAM */
#define V3_PC_EBDA              0x9FC00ull       /**< extended BIOS data area (1 KiB) */
#define V3_PC_VGA               0xA0000ull       /**< VGA window 0xA0000-0xBFFFF */
#define V3_PC_BOOT_AREA         0xC0000ull       /**< reserved: loader GDT + page tables (64 KiB) */
#define V3_PC_FW_AREA           0xE0000ull       /**< reserved: ACPI tables, MP table (128 KiB) */
#define V3_PC_HIGH_RAM          0x100000ull      /**< 1 MiB */
#define V3_PC_MMIO_START        0xC0000000ull    /**< 32-bit device window [3 GiB, 4 GiB) */
#define V3_PC_MMIO_END          0x100000000ull
#define V3_PC_IOAPIC_BASE       0xFEC00000ull
#define V3_PC_LAPIC_BASE        0xFEE00000ull
#define V3_PC_PM_BASE           0x600u           /**< ACPI PM I/O block */
#define V3_PC_MAX_CPUS          64u
#define V3_PC_MAX_RAM_RANGES    4u
#define V3_PC_MAX_OVERRIDES     4u
#define V3_PC_MAX_E820          16u              /**< v3_pc_e820() never returns more */

/** An ISA IRQ routed to another GSI or with non-ISA polarity/trigger (MADT type 2). */
struct v3_pc_irq_override {
    uint8_t isa_irq;
    uint32_t gsi;
    uint16_t flags;          /**< MPS INTI flags: bits 0-1 polarity (1 high, 3 low), 2-3 trigger (1 edge, 3 level) */
};

/** The machine, as loaders and firmware tables see it. */
struct v3_pc_layout {
    uint64_t mem_size;                         /**< total RAM in bytes */
    struct { uint64_t base, size; } ram[V3_PC_MAX_RAM_RANGES];
    unsigned num_ram;                          /**< RAM ranges, ascending */
    uint64_t low_ram_top;                      /**< end of the RAM range starting at 1 MiB (<= 3 GiB) */
    uint64_t reserved_low_start, reserved_low_end;   /**< 0x9FC00, 0x100000 */
    uint64_t mmio_start, mmio_end;             /**< 32-bit device window */
    uint64_t boot_area;                        /**< loader GDT and page tables (reserved, 64 KiB) */
    uint64_t fw_area, fw_area_size;            /**< firmware tables (reserved) */

    unsigned num_cpus;                         /**< LAPIC IDs 0 .. num_cpus-1 */
    uint64_t lapic_base;
    uint64_t ioapic_base;
    uint8_t ioapic_id;                         /**< num_cpus (after the LAPIC IDs) */
    unsigned ioapic_pins;                      /**< 24, GSI base 0 */
    struct v3_pc_irq_override overrides[V3_PC_MAX_OVERRIDES];
    unsigned num_overrides;                    /**< IRQ0 -> GSI 2; IRQ 9 (SCI) level, active high */

    uint16_t pic_master, pic_slave;            /**< 0x20, 0xA0 (2 ports each); cascade on IRQ 2 */
    uint16_t pit_port;  uint8_t pit_irq;       /**< 0x40 (4 ports), IRQ 0 */
    uint16_t rtc_port;  uint8_t rtc_irq;       /**< 0x70 (2 ports), IRQ 8; CMOS century at index 0x32 */
    uint16_t com1_port; uint8_t com1_irq;      /**< 0x3F8 (8 ports), IRQ 4 */

    uint16_t pm1a_evt, pm1a_evt_len;           /**< 0x600, 4 (PM1_STS, PM1_EN) */
    uint16_t pm1a_cnt, pm1a_cnt_len;           /**< 0x604, 2 (SCI_EN reads 1: no SMI_CMD, always ACPI mode) */
    uint16_t pm_tmr, pm_tmr_len;               /**< 0x608, 4: 32-bit counter (TMR_VAL_EXT) at 3.579545 MHz */
    uint8_t sci_irq;                           /**< 9 */
    uint8_t s5_slp_typ;                        /**< the _S5 SLP_TYP value (5) */
    uint16_t reset_port;  uint8_t reset_value; /**< 0xCF9, 0x06 (FADT RESET_REG) */
};

/**
 * Fill @p l for a PC with @p mem_size bytes of RAM and @p num_cpus CPUs.
 * @return 0; V3_EINVAL for NULL, a zero or unaligned (4 KiB) @p mem_size,
 *         RAM below 2 MiB, or a CPU count of 0 or above V3_PC_MAX_CPUS.
 */
int v3_pc_layout_init(struct v3_pc_layout *l, uint64_t mem_size, unsigned num_cpus);

/**
 * The e820 map of @p l, ascending and non-overlapping: RAM ranges, the
 * reserved low areas (EBDA 0x9FC00-0xA0000 and 0xC0000-0x100000), the
 * IOAPIC and LAPIC pages.  Writes at most @p max entries to @p out.
 * @return the number of entries the map has (may exceed @p max: then only
 *         the first @p max were written).
 */
unsigned v3_pc_e820(const struct v3_pc_layout *l, struct v3_e820_entry *out, unsigned max);

/** Where v3_pc_write_tables() put things. */
struct v3_pc_tables {
    uint64_t rsdp, xsdt, rsdt, fadt, facs, madt, dsdt;   /**< ACPI */
    uint64_t mp_float, mp_config;                        /**< Intel MP 1.4 */
    uint64_t end;                                        /**< first byte after the tables */
};

/**
 * Build the firmware tables of @p l into @p buf (the image of the firmware
 * area, @c l->fw_area_size bytes, addresses relative to @c l->fw_area):
 * RSDP v2 (at fw_area), RSDT, XSDT, FADT (revision 6, PM blocks, SCI,
 * reset register), FACS, MADT (LAPIC per CPU, IOAPIC, overrides, LINT1
 * NMI), DSDT (AML: \\_S5, COM1, RTC, PIT, PIC), and the MP floating
 * pointer (at fw_area + 0x10000) with its configuration table.
 * @return 0, or V3_EINVAL (NULL arguments, buffer too small).
 */
int v3_pc_build_tables(const struct v3_pc_layout *l, uint8_t *buf, size_t size, struct v3_pc_tables *where);

/**
 * Write the firmware tables (v3_pc_build_tables()) and the BIOS data area
 * words a kernel reads (EBDA segment at 0x40E, base memory KiB at 0x413)
 * into the guest memory of @p vm.  Called by the Linux loaders.
 * @return 0 or the negative error of the guest memory write.
 */
int v3_pc_write_tables(struct v3_vm *vm, const struct v3_pc_layout *l, struct v3_pc_tables *where);

#endif
