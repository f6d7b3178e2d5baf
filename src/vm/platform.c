/* SPDX-License-Identifier: MIT */
/* The PC machine layout and its e820 map (see v3/platform.h). */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/platform.h>

int v3_pc_layout_init(struct v3_pc_layout *l, uint64_t mem_size, unsigned num_cpus)
{
    uint64_t low;

    if (!l || !mem_size || (mem_size & 0xfff) || mem_size < 0x200000 || !num_cpus ||
        num_cpus > V3_PC_MAX_CPUS)
        return V3_EINVAL;
    memset(l, 0, sizeof(*l));
    l->mem_size = mem_size;
    l->ram[0].base = 0;
    l->ram[0].size = V3_PC_LOW_RAM_END;
    low = mem_size < V3_PC_MMIO_START ? mem_size : V3_PC_MMIO_START;
    l->ram[1].base = V3_PC_HIGH_RAM;
    l->ram[1].size = low - V3_PC_HIGH_RAM;
    l->num_ram = 2;
    l->low_ram_top = low;
    if (mem_size > V3_PC_MMIO_START) {
        l->ram[2].base = V3_PC_MMIO_END;
        l->ram[2].size = mem_size - V3_PC_MMIO_START;
        l->num_ram = 3;
    }
    l->reserved_low_start = V3_PC_EBDA;
    l->reserved_low_end = V3_PC_HIGH_RAM;
    l->mmio_start = V3_PC_MMIO_START;
    l->mmio_end = V3_PC_MMIO_END;
    l->boot_area = V3_PC_BOOT_AREA;
    l->fw_area = V3_PC_FW_AREA;
    l->fw_area_size = V3_PC_HIGH_RAM - V3_PC_FW_AREA;

    l->num_cpus = num_cpus;
    l->lapic_base = V3_PC_LAPIC_BASE;
    l->ioapic_base = V3_PC_IOAPIC_BASE;
    l->ioapic_id = (uint8_t)num_cpus;
    l->ioapic_pins = 24;
    l->overrides[0] = (struct v3_pc_irq_override){ 0, 2, 0 };           /* PIT: conforming */
    l->overrides[1] = (struct v3_pc_irq_override){ 9, 9, 0x1 | 0xc };    /* SCI: active high, level */
    l->num_overrides = 2;

    l->pic_master = 0x20;
    l->pic_slave = 0xA0;
    l->pit_port = 0x40;
    l->pit_irq = 0;
    l->rtc_port = 0x70;
    l->rtc_irq = 8;
    l->com1_port = 0x3F8;
    l->com1_irq = 4;

    l->pm1a_evt = V3_PC_PM_BASE;
    l->pm1a_evt_len = 4;
    l->pm1a_cnt = V3_PC_PM_BASE + 4;
    l->pm1a_cnt_len = 2;
    l->pm_tmr = V3_PC_PM_BASE + 8;
    l->pm_tmr_len = 4;
    l->sci_irq = 9;
    l->s5_slp_typ = 5;
    l->reset_port = 0xCF9;
    l->reset_value = 0x06;
    return 0;
}

unsigned v3_pc_e820(const struct v3_pc_layout *l, struct v3_e820_entry *out, unsigned max)
{
    struct v3_e820_entry e[V3_PC_MAX_E820];
    unsigned n = 0, k = 0;

    if (!l)
        return 0;
    /* Ascending: low RAM, EBDA, BIOS areas, RAM from 1 MiB, IOAPIC, LAPIC, RAM above 4 GiB. */
    for (unsigned i = 0; i < l->num_ram && i < V3_PC_MAX_RAM_RANGES; i++) {
        if (l->ram[i].base >= l->mmio_end) {
            e[n++] = (struct v3_e820_entry){ l->ioapic_base, 0x1000, V3_E820_RESERVED };
            e[n++] = (struct v3_e820_entry){ l->lapic_base, 0x1000, V3_E820_RESERVED };
            k = 1;
        }
        if (l->ram[i].size)
            e[n++] = (struct v3_e820_entry){ l->ram[i].base, l->ram[i].size, V3_E820_RAM };
        if (l->ram[i].base == 0) {
            e[n++] = (struct v3_e820_entry){ l->reserved_low_start, V3_PC_VGA - l->reserved_low_start,
                                             V3_E820_RESERVED };
            e[n++] = (struct v3_e820_entry){ l->boot_area, l->reserved_low_end - l->boot_area,
                                             V3_E820_RESERVED };
        }
    }
    if (!k) {
        e[n++] = (struct v3_e820_entry){ l->ioapic_base, 0x1000, V3_E820_RESERVED };
        e[n++] = (struct v3_e820_entry){ l->lapic_base, 0x1000, V3_E820_RESERVED };
    }
    for (unsigned i = 0; i < n && i < max; i++)
        out[i] = e[i];
    return n;
}

int v3_pc_write_tables(struct v3_vm *vm, const struct v3_pc_layout *l, struct v3_pc_tables *where)
{
    uint8_t bda[2];
    uint16_t v;
    uint8_t *buf;
    int rc;
    int64_t r;

    if (!vm || !l)
        return V3_EINVAL;
    buf = v3_zalloc(l->fw_area_size);
    if (!buf)
        return V3_ENOMEM;
    rc = v3_pc_build_tables(l, buf, l->fw_area_size, where);
    if (rc == 0) {
        r = v3_write_gpa_memory(vm, NULL, l->fw_area, l->fw_area_size, buf);
        rc = r < 0 ? (int)r : 0;
    }
    v3_free(buf);
    if (rc < 0)
        return rc;
    v = (uint16_t)(l->reserved_low_start >> 4);          /* EBDA segment */
    memcpy(bda, &v, 2);
    r = v3_write_gpa_memory(vm, NULL, 0x40E, 2, bda);
    if (r < 0)
        return (int)r;
    v = (uint16_t)(l->reserved_low_start >> 10);         /* base memory in KiB (639) */
    memcpy(bda, &v, 2);
    r = v3_write_gpa_memory(vm, NULL, 0x413, 2, bda);
    return r < 0 ? (int)r : 0;
}
