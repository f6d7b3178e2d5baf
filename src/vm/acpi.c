/* SPDX-License-Identifier: MIT */
/* Firmware tables from the PC layout: ACPI (RSDP v2, RSDT, XSDT, FADT rev 6,
 * FACS, MADT, DSDT with a small AML emitter) and the Intel MP 1.4 table.
 * Layouts and field offsets follow the ACPI 6.x specification and the
 * Intel MultiProcessor Specification 1.4. */
#include "internal/host.h"
#include <v3/error.h>
#include <v3/platform.h>

static void w8(uint8_t *p, uint8_t v) { *p = v; }
static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void w64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t sum8(const uint8_t *p, size_t n)
{
    uint8_t s = 0;

    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* ---- AML emitter -------------------------------------------------------- */

#define AML_MAX    1024
#define AML_DEPTH  8

struct aml {
    uint8_t b[AML_MAX];
    size_t n;
    size_t open[AML_DEPTH];     /* body start of each open PkgLength */
    unsigned depth;
    int overflow;
};

static void aml_byte(struct aml *a, uint8_t v)
{
    if (a->n < AML_MAX)
        a->b[a->n++] = v;
    else
        a->overflow = 1;
}

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aml_byte(a, ((const uint8_t *)p)[i]);
}

/* Start a PkgLength-prefixed body (the length is inserted when it closes). */
static void aml_open(struct aml *a)
{
    if (a->depth < AML_DEPTH)
        a->open[a->depth++] = a->n;
    else
        a->overflow = 1;
}

/* Close the innermost body: insert its PkgLength, which counts its own bytes. */
static void aml_close(struct aml *a)
{
    size_t start, body, len, nb;
    uint8_t enc[4];

    if (!a->depth || a->overflow) {
        a->overflow = 1;
        return;
    }
    start = a->open[--a->depth];
    body = a->n - start;
    nb = body + 1 < 0x40 ? 1 : body + 2 < 0x1000 ? 2 : body + 3 < 0x100000 ? 3 : 4;
    len = body + nb;
    if (nb == 1) {
        enc[0] = (uint8_t)len;
    } else {
        enc[0] = (uint8_t)(((nb - 1) << 6) | (len & 0xf));
        for (size_t i = 1; i < nb; i++)
            enc[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
    }
    if (a->n + nb > AML_MAX) {
        a->overflow = 1;
        return;
    }
    memmove(a->b + start + nb, a->b + start, body);
    memcpy(a->b + start, enc, nb);
    a->n += nb;
}

static void aml_name4(struct aml *a, const char *seg) { aml_bytes(a, seg, 4); }

static void aml_int(struct aml *a, uint32_t v)
{
    if (v == 0) {
        aml_byte(a, 0x00);                  /* ZeroOp */
    } else if (v == 1) {
        aml_byte(a, 0x01);                  /* OneOp */
    } else if (v <= 0xff) {
        aml_byte(a, 0x0A);                  /* BytePrefix */
        aml_byte(a, (uint8_t)v);
    } else if (v <= 0xffff) {
        aml_byte(a, 0x0B);                  /* WordPrefix */
        aml_byte(a, (uint8_t)v);
        aml_byte(a, (uint8_t)(v >> 8));
    } else {
        uint8_t d[4];
        w32(d, v);
        aml_byte(a, 0x0C);                  /* DWordPrefix */
        aml_bytes(a, d, 4);
    }
}

/* Name(NAME, integer) */
static void aml_name_int(struct aml *a, const char *name, uint32_t v)
{
    aml_byte(a, 0x08);
    aml_name4(a, name);
    aml_int(a, v);
}

/* EISA ID "PNPxxxx" compressed to the dword ASL's EisaId() gives. */
static uint32_t eisa_id(const char *id)
{
    uint16_t vendor = (uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40));
    uint32_t prod = 0;

    for (int i = 3; i < 7; i++)
        prod = (prod << 4) | (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
    /* Big-endian vendor then product bytes, read as a little-endian dword. */
    return (uint32_t)(vendor >> 8) | (uint32_t)(vendor & 0xff) << 8 | (prod >> 8 & 0xff) << 16 | (prod & 0xff) << 24;
}

struct io_res { uint16_t port; uint8_t len; };

/* Device(NAME) { _HID EisaId(hid), [_UID], _CRS: IO ranges + IRQNoFlags } */
static void aml_isa_device(struct aml *a, const char *name, const char *hid, int uid,
                           const struct io_res *io, unsigned nio, int irq)
{
    uint8_t crs[64];
    size_t c = 0;

    for (unsigned i = 0; i < nio; i++) {
        crs[c++] = 0x47;                    /* small item: I/O port descriptor, 7 bytes */
        crs[c++] = 0x01;                    /* 16-bit decode */
        w16(crs + c, io[i].port);
        w16(crs + c + 2, io[i].port);
        c += 4;
        crs[c++] = 1;                       /* alignment */
        crs[c++] = io[i].len;
    }
    if (irq >= 0) {
        crs[c++] = 0x22;                    /* small item: IRQ descriptor, 2 bytes */
        w16(crs + c, (uint16_t)(1u << irq));
        c += 2;
    }
    crs[c++] = 0x79;                        /* end tag; checksum 0 means "not computed" */
    crs[c++] = 0;

    aml_byte(a, 0x5B);                      /* DeviceOp */
    aml_byte(a, 0x82);
    aml_open(a);
    aml_name4(a, name);
    aml_name_int(a, "_HID", eisa_id(hid));
    if (uid >= 0)
        aml_name_int(a, "_UID", (uint32_t)uid);
    aml_byte(a, 0x08);                      /* Name(_CRS, Buffer(){...}) */
    aml_name4(a, "_CRS");
    aml_byte(a, 0x11);                      /* BufferOp */
    aml_open(a);
    aml_int(a, (uint32_t)c);
    aml_bytes(a, crs, c);
    aml_close(a);
    aml_close(a);
}

static void build_dsdt_body(struct aml *a, const struct v3_pc_layout *l)
{
    struct io_res io[2];

    /* Name(\_S5, Package(4){SLP_TYP, SLP_TYP, 0, 0}) */
    aml_byte(a, 0x08);
    aml_byte(a, '\\');
    aml_name4(a, "_S5_");
    aml_byte(a, 0x12);                      /* PackageOp */
    aml_open(a);
    aml_byte(a, 4);
    aml_int(a, l->s5_slp_typ);
    aml_int(a, l->s5_slp_typ);
    aml_int(a, 0);
    aml_int(a, 0);
    aml_close(a);

    /* Scope(\_SB) { devices } */
    aml_byte(a, 0x10);                      /* ScopeOp */
    aml_open(a);
    aml_byte(a, '\\');
    aml_name4(a, "_SB_");
    io[0] = (struct io_res){ l->com1_port, 8 };
    aml_isa_device(a, "COM1", "PNP0501", 1, io, 1, l->com1_irq);
    io[0] = (struct io_res){ l->rtc_port, 2 };
    aml_isa_device(a, "RTC_", "PNP0B00", -1, io, 1, l->rtc_irq);
    io[0] = (struct io_res){ l->pit_port, 4 };
    aml_isa_device(a, "TMR_", "PNP0100", -1, io, 1, l->pit_irq);
    io[0] = (struct io_res){ l->pic_master, 2 };
    io[1] = (struct io_res){ l->pic_slave, 2 };
    aml_isa_device(a, "PIC_", "PNP0000", -1, io, 2, 2);
    aml_close(a);
}

/* ---- tables -------------------------------------------------------------- */

static void sdt_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    w32(t + 4, len);
    w8(t + 8, rev);
    memcpy(t + 10, "V3VMM ", 6);
    memcpy(t + 16, "V3PC    ", 8);
    w32(t + 24, 1);                         /* OEM revision */
    memcpy(t + 28, "V3VM", 4);              /* creator ID */
    w32(t + 32, 1);
}

static void sdt_checksum(uint8_t *t)
{
    uint32_t len;

    memcpy(&len, t + 4, 4);
    t[9] = 0;
    t[9] = (uint8_t)-sum8(t, len);
}

/* Generic address structure, system I/O space. */
static void gas_io(uint8_t *p, uint16_t port, unsigned bytes)
{
    w8(p, 1);                               /* SystemIO */
    w8(p + 1, (uint8_t)(bytes * 8));
    w8(p + 2, 0);
    w8(p + 3, bytes == 1 ? 1 : bytes == 2 ? 2 : 3);   /* access size: byte/word/dword */
    w64(p + 4, port);
}

#define FADT_LEN  276
#define FACS_LEN  64

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

int v3_pc_build_tables(const struct v3_pc_layout *l, uint8_t *buf, size_t size, struct v3_pc_tables *where)
{
    struct v3_pc_tables w;
    struct aml *a;
    uint64_t base, off;
    uint32_t madt_len, mp_len;
    uint16_t mp_count = 0;
    uint8_t *t;

    if (!l || !buf || size < 0x10000 + 0x1000 || l->num_cpus == 0 || l->num_cpus > V3_PC_MAX_CPUS)
        return V3_EINVAL;
    a = v3_zalloc(sizeof(*a));
    if (!a)
        return V3_ENOMEM;
    build_dsdt_body(a, l);
    if (a->overflow || a->depth) {
        v3_free(a);
        return V3_EINVAL;
    }
    memset(buf, 0, size);
    base = l->fw_area;
    memset(&w, 0, sizeof(w));
    /* RSDP at the start (16-byte aligned, inside the 0xE0000-0xFFFFF scan range). */
    w.rsdp = base;
    w.facs = base + 0x40;                   /* 64-byte aligned */
    off = 0x40 + FACS_LEN;
    w.rsdt = base + off;   off = align_up(off + 36 + 4 * 2, 16);
    w.xsdt = base + off;   off = align_up(off + 36 + 8 * 2, 16);
    w.fadt = base + off;   off = align_up(off + FADT_LEN, 16);
    madt_len = 44 + 8 * l->num_cpus + 12 + 10 * l->num_overrides + 6;
    w.madt = base + off;   off = align_up(off + madt_len, 16);
    w.dsdt = base + off;   off = align_up(off + 36 + a->n, 16);
    if (off > 0x10000) {
        v3_free(a);
        return V3_EINVAL;
    }

    /* DSDT */
    t = buf + (w.dsdt - base);
    sdt_header(t, "DSDT", (uint32_t)(36 + a->n), 2);
    memcpy(t + 36, a->b, a->n);
    sdt_checksum(t);
    v3_free(a);

    /* FACS (no checksum) */
    t = buf + (w.facs - base);
    memcpy(t, "FACS", 4);
    w32(t + 4, FACS_LEN);
    w8(t + 32, 2);                          /* version */

    /* FADT */
    t = buf + (w.fadt - base);
    sdt_header(t, "FACP", FADT_LEN, 6);
    w32(t + 36, 0);                         /* FIRMWARE_CTRL: 0, X_FIRMWARE_CTRL has the FACS (with
                                               both set, Linux installs the FACS twice) */
    w32(t + 40, (uint32_t)w.dsdt);
    w8(t + 45, 0);                          /* preferred PM profile: unspecified */
    w16(t + 46, l->sci_irq);
    w32(t + 48, 0);                         /* SMI_CMD 0: ACPI mode is always on */
    w32(t + 56, l->pm1a_evt);
    w32(t + 64, l->pm1a_cnt);
    w32(t + 76, l->pm_tmr);
    w8(t + 88, (uint8_t)l->pm1a_evt_len);
    w8(t + 89, (uint8_t)l->pm1a_cnt_len);
    w8(t + 91, (uint8_t)l->pm_tmr_len);
    w16(t + 96, 101);                       /* P_LVL2_LAT > 100: no C2 */
    w16(t + 98, 1001);                      /* P_LVL3_LAT > 1000: no C3 */
    w8(t + 108, 0x32);                      /* CMOS century index */
    w16(t + 109, 1u << 0);                  /* IAPC_BOOT_ARCH: LEGACY_DEVICES; no 8042 */
    /* Flags: WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON (no fixed buttons), TMR_VAL_EXT, RESET_REG_SUP. */
    w32(t + 112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 10));
    gas_io(t + 116, l->reset_port, 1);
    w8(t + 128, l->reset_value);
    w8(t + 131, 0);                         /* FADT minor version */
    w64(t + 132, w.facs);                   /* X_FIRMWARE_CTRL */
    w64(t + 140, w.dsdt);                   /* X_DSDT */
    gas_io(t + 148, l->pm1a_evt, l->pm1a_evt_len);
    gas_io(t + 172, l->pm1a_cnt, l->pm1a_cnt_len);
    gas_io(t + 208, l->pm_tmr, l->pm_tmr_len);
    memcpy(t + 268, "V3VMM\0\0\0", 8);     /* hypervisor vendor identity */
    sdt_checksum(t);

    /* MADT */
    t = buf + (w.madt - base);
    sdt_header(t, "APIC", madt_len, 5);
    w32(t + 36, (uint32_t)l->lapic_base);
    w32(t + 40, 1);                         /* PCAT_COMPAT: dual 8259s present */
    off = 44;
    for (unsigned i = 0; i < l->num_cpus; i++, off += 8) {
        w8(t + off, 0);                     /* Processor Local APIC */
        w8(t + off + 1, 8);
        w8(t + off + 2, (uint8_t)i);        /* ACPI processor UID */
        w8(t + off + 3, (uint8_t)i);        /* APIC ID */
        w32(t + off + 4, 1);                /* enabled */
    }
    w8(t + off, 1);                         /* I/O APIC */
    w8(t + off + 1, 12);
    w8(t + off + 2, l->ioapic_id);
    w32(t + off + 4, (uint32_t)l->ioapic_base);
    w32(t + off + 8, 0);                    /* GSI base */
    off += 12;
    for (unsigned i = 0; i < l->num_overrides; i++, off += 10) {
        w8(t + off, 2);                     /* Interrupt Source Override */
        w8(t + off + 1, 10);
        w8(t + off + 2, 0);                 /* ISA */
        w8(t + off + 3, l->overrides[i].isa_irq);
        w32(t + off + 4, l->overrides[i].gsi);
        w16(t + off + 8, l->overrides[i].flags);
    }
    w8(t + off, 4);                         /* Local APIC NMI: all processors, LINT1 */
    w8(t + off + 1, 6);
    w8(t + off + 2, 0xff);
    w16(t + off + 3, 0);                    /* conforming */
    w8(t + off + 5, 1);
    sdt_checksum(t);

    /* RSDT / XSDT: FADT and MADT */
    t = buf + (w.rsdt - base);
    sdt_header(t, "RSDT", 36 + 8, 1);
    w32(t + 36, (uint32_t)w.fadt);
    w32(t + 40, (uint32_t)w.madt);
    sdt_checksum(t);
    t = buf + (w.xsdt - base);
    sdt_header(t, "XSDT", 36 + 16, 1);
    w64(t + 36, w.fadt);
    w64(t + 44, w.madt);
    sdt_checksum(t);

    /* RSDP v2 */
    t = buf;
    memcpy(t, "RSD PTR ", 8);
    memcpy(t + 9, "V3VMM ", 6);
    w8(t + 15, 2);
    w32(t + 16, (uint32_t)w.rsdt);
    w32(t + 20, 36);
    w64(t + 24, w.xsdt);
    t[8] = (uint8_t)-sum8(t, 20);
    t[32] = (uint8_t)-sum8(t, 36);

    /* Intel MP 1.4: floating pointer at +64 KiB (inside the 0xF0000 scan range), then the table. */
    w.mp_float = base + 0x10000;
    w.mp_config = w.mp_float + 16;
    t = buf + (w.mp_config - base);
    off = 44;
    for (unsigned i = 0; i < l->num_cpus; i++, off += 20, mp_count++) {
        w8(t + off, 0);                     /* processor */
        w8(t + off + 1, (uint8_t)i);        /* LAPIC ID */
        w8(t + off + 2, 0x14);              /* LAPIC version */
        w8(t + off + 3, (uint8_t)(1u | (i == 0 ? 2u : 0u)));   /* EN, BP */
        w32(t + off + 4, 0x600);            /* family 6 signature */
        w32(t + off + 8, (1u << 0) | (1u << 9));   /* FPU, APIC */
    }
    w8(t + off, 1);                         /* bus 0: ISA */
    w8(t + off + 1, 0);
    memcpy(t + off + 2, "ISA   ", 6);
    off += 8;
    mp_count++;
    w8(t + off, 2);                         /* I/O APIC */
    w8(t + off + 1, l->ioapic_id);
    w8(t + off + 2, 0x20);                  /* version */
    w8(t + off + 3, 1);                     /* enabled */
    w32(t + off + 4, (uint32_t)l->ioapic_base);
    off += 8;
    mp_count++;
    /* I/O interrupts: 8259 ExtINT on pin 0, then ISA IRQs (not the cascade) by the override rules. */
    for (int irq = -1; irq < 16; irq++) {
        uint32_t pin = irq < 0 ? 0 : (uint32_t)irq;
        uint16_t flags = 0;

        if (irq == 2)
            continue;
        for (unsigned k = 0; irq >= 0 && k < l->num_overrides; k++) {
            if (l->overrides[k].isa_irq == irq) {
                pin = l->overrides[k].gsi;
                flags = l->overrides[k].flags;
            }
        }
        w8(t + off, 3);
        w8(t + off + 1, irq < 0 ? 3 : 0);   /* ExtINT / INT */
        w16(t + off + 2, flags);
        w8(t + off + 4, 0);                 /* source bus ISA */
        w8(t + off + 5, (uint8_t)(irq < 0 ? 0 : irq));
        w8(t + off + 6, l->ioapic_id);
        w8(t + off + 7, (uint8_t)pin);
        off += 8;
        mp_count++;
    }
    for (int lint = 0; lint < 2; lint++, off += 8, mp_count++) {
        w8(t + off, 4);                     /* local interrupt: LINT0 ExtINT, LINT1 NMI, all LAPICs */
        w8(t + off + 1, lint ? 1 : 3);
        w16(t + off + 2, 0);
        w8(t + off + 4, 0);
        w8(t + off + 5, 0);
        w8(t + off + 6, 0xff);
        w8(t + off + 7, (uint8_t)lint);
    }
    mp_len = (uint32_t)off;
    memcpy(t, "PCMP", 4);
    w16(t + 4, (uint16_t)mp_len);
    w8(t + 6, 4);                           /* spec 1.4 */
    memcpy(t + 8, "V3VMM   ", 8);
    memcpy(t + 16, "V3PC        ", 12);
    w16(t + 34, mp_count);
    w32(t + 36, (uint32_t)l->lapic_base);
    t[7] = (uint8_t)-sum8(t, mp_len);
    t = buf + (w.mp_float - base);
    memcpy(t, "_MP_", 4);
    w32(t + 4, (uint32_t)w.mp_config);
    w8(t + 8, 1);                           /* length in 16-byte units */
    w8(t + 9, 4);
    t[10] = (uint8_t)-sum8(t, 16);
    w.end = w.mp_config + mp_len;
    if (where)
        *where = w;
    return 0;
}
