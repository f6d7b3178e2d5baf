/* SPDX-License-Identifier: MIT */
/*
 * ACPI fixed hardware ("acpi-pm"; options base=0x600, sci=9, s5=5, tmr32=off,
 * reset=0xcf9): what the FADT points a kernel at.
 *
 *   base+0  PM1a_STS (16 bits, write 1 to clear): TMR_STS (0), PWRBTN_STS (8),
 *           RTC_STS (10), WAK_STS (15)
 *   base+2  PM1a_EN  (16 bits): TMR_EN (0), PWRBTN_EN (8), RTC_EN (10)
 *   base+4  PM1a_CNT (16 bits): SCI_EN (0, reads 1: the machine has no SMI
 *           handshake, ACPI is always on), SLP_TYP (12:10), SLP_EN (13, write
 *           only).  SLP_EN with SLP_TYP = the s5 option powers the VM off
 *           (v3_run_vm() returns V3_STOP_POWEROFF); other sleep types are
 *           logged once and ignored (no sleep state is modelled).
 *   base+8  PM_TMR: the power-management timer, 3.579545 MHz from the VM
 *           clock, 24 bits (32 with tmr32=on, which the FADT must then
 *           declare with TMR_VAL_EXT).  TMR_STS is set each time its top bit
 *           changes.
 *   reset   The reset control register (0xCF9): writing bit 2 with bit 1 or
 *           bit 2 set resets the machine: v3_run_vm() returns V3_STOP_RESET.
 * The SCI (IRQ 9, level) is asserted while an enabled status bit is set.
 */
#include "internal/host.h"
#include "internal/vm.h"
#include "internal/ticks.h"

#define PM_TMR_HZ 3579545ull
#define STS_TMR   0x0001
#define STS_MASK  0x8d31                /* TMR, BM, GBL, PWRBTN, SLPBTN, RTC, WAK */
#define EN_MASK   0x0721

struct acpi_pm {
    struct v3_irq_line *sci;
    uint16_t sts, en, cnt;
    uint8_t s5, tmr32, warned_sleep;
    uint64_t tmr_seen;                  /* top-bit toggles already turned into TMR_STS */
};

static uint64_t ticks(struct v3_device *dev)
{
    uint64_t ns = v3_vm_clock_ns(v3_dev_vm(dev));
    return v3_ns_to_ticks(ns, PM_TMR_HZ);
}

static unsigned top_shift(const struct acpi_pm *p) { return p->tmr32 ? 31 : 23; }

static void update(struct acpi_pm *p, struct v3_device *dev)
{
    uint64_t toggles = ticks(dev) >> top_shift(p);

    if (toggles != p->tmr_seen) {
        p->tmr_seen = toggles;
        p->sts |= STS_TMR;
    }
    v3_irq_set(p->sci, (p->cnt & 1) && (p->sts & p->en & EN_MASK));
}

static uint64_t pm_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct acpi_pm *p = v3_dev_state(dev);
    uint64_t v;

    (void)core;
    update(p, dev);
    switch (off) {
    case 0: v = p->sts | (uint32_t)p->en << 16; break;
    case 1: v = p->sts >> 8; break;
    case 2: v = p->en; break;
    case 3: v = p->en >> 8; break;
    case 4: v = p->cnt; break;
    case 5: v = p->cnt >> 8; break;
    case 8: case 9: case 10: case 11:
        v = (ticks(dev) & (p->tmr32 ? 0xffffffffull : 0xffffffull)) >> (8 * (off - 8));
        break;
    default: v = 0; break;
    }
    return v & (size >= 4 ? 0xffffffffull : (1ull << (8 * size)) - 1);
}

static void pm_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct acpi_pm *p = v3_dev_state(dev);

    (void)core;
    update(p, dev);
    /* byte lanes: an access covers registers from @off for @size bytes */
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i));
        unsigned o = (unsigned)off + i;
        switch (o) {
        case 0: p->sts &= (uint16_t)~b; break;
        case 1: p->sts &= (uint16_t)~((unsigned)b << 8); break;
        case 2: p->en = (uint16_t)((p->en & 0xff00) | b); break;
        case 3: p->en = (uint16_t)((p->en & 0x00ff) | (unsigned)b << 8); break;
        case 4: p->cnt = (uint16_t)((p->cnt & 0xff00) | (b & 0x06) | 1); break;
        case 5: {
            unsigned typ = (b >> 2) & 7;
            p->cnt = (uint16_t)((p->cnt & 0x00ff) | (unsigned)(b & 0x1c) << 8);
            if (b & 0x20) {             /* SLP_EN */
                if (typ == p->s5) {
                    V3_INFO("acpi-pm: the guest entered S5: power off");
                    v3_vm_request_stop(v3_dev_vm(dev), V3_STOP_POWEROFF, 0);
                } else if (!p->warned_sleep) {
                    p->warned_sleep = 1;
                    V3_WARN("acpi-pm: sleep type %u is not modelled: ignored", typ);
                }
            }
            break;
        }
        default: break;                 /* PM_TMR is read only */
        }
    }
    p->sts &= STS_MASK;
    p->en &= EN_MASK;
    update(p, dev);
    v3_dev_deadline_changed(dev);
}

static uint64_t cf9_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    (void)dev;
    (void)core;
    (void)off;
    (void)size;
    return 0;
}

static void cf9_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    (void)core;
    (void)off;
    (void)size;
    if (val & 0x04) {
        V3_INFO("acpi-pm: reset through the reset control register (0x%x)", (unsigned)(val & 0xff));
        v3_vm_request_stop(v3_dev_vm(dev), V3_STOP_RESET, 0);
    }
}

static uint64_t pm_deadline(struct v3_device *dev)
{
    struct acpi_pm *p = v3_dev_state(dev);
    uint64_t next_tick;

    if (!(p->en & STS_TMR) || (p->sts & STS_TMR))
        return V3_NO_DEADLINE;
    next_tick = (p->tmr_seen + 1) << top_shift(p);
    return v3_ticks_to_ns_up(next_tick, PM_TMR_HZ);
}

static void pm_timer(struct v3_device *dev, uint64_t now)
{
    (void)now;
    update(v3_dev_state(dev), dev);
}

static void pm_reset(struct v3_device *dev)
{
    struct acpi_pm *p = v3_dev_state(dev);
    p->sts = p->en = 0;
    p->cnt = 1;
    p->tmr_seen = ticks(dev) >> top_shift(p);
    update(p, dev);
}

static int pm_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct acpi_pm *p = v3_dev_state(dev);
    uint64_t base = 0x600, sci = 9, s5 = 5, reset = 0xcf9;
    bool tmr32 = false;
    int rc;

    if (v3_dev_arg_u64(args, "base", &base) < 0 || v3_dev_arg_u64(args, "sci", &sci) < 0 ||
        v3_dev_arg_u64(args, "s5", &s5) < 0 || v3_dev_arg_bool(args, "tmr32", &tmr32) < 0 ||
        v3_dev_arg_u64(args, "reset", &reset) < 0)
        return V3_EINVAL;
    if (base > 0xfff0 || sci > 23 || s5 > 7 || reset > 0xffff) {
        V3_ERROR("device %s: an option is out of range", v3_dev_name(dev));
        return V3_EINVAL;
    }
    p->s5 = (uint8_t)s5;
    p->tmr32 = tmr32;
    p->sci = v3_dev_irq(dev, (unsigned)sci);
    if (!p->sci)
        return V3_ENOMEM;
    rc = v3_dev_claim_io(dev, (uint16_t)base, 12, pm_read, pm_write);
    if (rc == 0 && reset)
        rc = v3_dev_claim_io(dev, (uint16_t)reset, 1, cf9_read, cf9_write);
    return rc;
}

static int pm_save(struct v3_device *dev, struct v3_snap *s)
{
    struct acpi_pm *p = v3_dev_state(dev);
    return v3_snap_put(s, &p->sts, sizeof(*p) - ((uint8_t *)&p->sts - (uint8_t *)p));
}

static int pm_load(struct v3_device *dev, struct v3_snap *s)
{
    struct acpi_pm *p = v3_dev_state(dev);
    int rc = v3_snap_get(s, &p->sts, sizeof(*p) - ((uint8_t *)&p->sts - (uint8_t *)p));
    update(p, dev);
    return rc;
}

const struct v3_device_ops v3_dev_acpi_pm = {
    .name = "acpi-pm",
    .help = "ACPI PM1a event/control and PM timer: base=0x600 sci=9 s5=5 tmr32=off reset=0xcf9 (0: none)",
    .state_size = sizeof(struct acpi_pm),
    .create = pm_create,
    .reset = pm_reset,
    .save = pm_save,
    .load = pm_load,
    .deadline = pm_deadline,
    .timer = pm_timer,
};
