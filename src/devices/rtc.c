/* SPDX-License-Identifier: MIT */
/*
 * MC146818 RTC and CMOS ("rtc"; options base=host|EPOCH_SECONDS, irq=8).
 *
 * Ports 0x70 (index; bit 7 is the NMI mask, kept but no NMI source exists)
 * and 0x71 (data).  Time is computed when the guest reads it: seconds since
 * the epoch = base + VM clock + the offset the guest set.  base=host takes
 * the host's wall clock at creation when the host offers one (and the VM
 * clock is realtime); a virtual clock, or a host without a wall clock,
 * starts at 2026-01-01 00:00:00 UTC unless base= gives the seconds.
 *
 *  A: UIP (bit 7) during the last 244 us of each second, divider (6-4:
 *     010 runs, 11x holds the divider in reset), rate select (3-0).
 *  B: SET (7) freezes the registers for the guest to write, PIE (6), AIE
 *     (5), UIE (4), SQWE (3, kept), DM (2: binary), 24/12 (1), DSE (0, kept,
 *     daylight saving is not applied).
 *  C: IRQF PF AF UF, set as the datasheet says (PF at each period, UF at
 *     each update, AF when the alarm matches; 0xC0-0xFF alarm bytes match
 *     anything), cleared when read; IRQ 8 follows IRQF.
 *  D: VRT (7) set.
 *  0x0E-0x7F: CMOS NVRAM, with the fields PC firmware reads: base memory
 *     (0x15), extended memory (0x17, 0x30), memory above 16 MiB in 64 KiB
 *     units (0x34), memory above 4 GiB (0x5B-0x5D), the century (0x32), the
 *     equipment byte (0x14), the CPU count minus one (0x5F), and the
 *     checksum over 0x10-0x2D at 0x2E.
 * Interrupts need the VM clock to reach an event: the device's deadline is
 * the next periodic tick (PIE) or second boundary (UIE/AIE).
 *
 * Lost periodic ticks: when the vCPU loop polls late (the host descheduled
 * the vCPU thread) and several periods ended while IRQF was clear, a guest
 * that reads C in its handler would have seen one interrupt per period.
 * timer() raises one and owes the others (at most RTC_OWED_MAX and at most
 * one second of them); each owed one is raised (PF, IRQF) at the first poll
 * after the guest read C, i.e. once the previous one was taken.  Clearing
 * PIE or changing the rate or divider drops what is owed.
 */
#include "internal/host.h"
#include "internal/vm.h"

#define NS_PER_S       1000000000ull
#define UIP_NS         244000ull         /* UIP precedes the update by 244 us */
#define DEFAULT_EPOCH  1767225600ull     /* 2026-01-01 00:00:00 UTC */
#define RTC_OWED_MAX   100               /* most periodic ticks owed (and at most 1 s of them) */

#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define B_SET  0x80
#define B_PIE  0x40
#define B_AIE  0x20
#define B_UIE  0x10
#define B_DM   0x04
#define B_24H  0x02
#define C_IRQF 0x80
#define C_PF   0x40
#define C_AF   0x20
#define C_UF   0x10

struct rtc {
    struct v3_irq_line *irq;
    uint8_t index, nmi_masked;
    uint8_t cmos[128];                  /* 0-9 are recomputed from the time on read */
    uint64_t base;                      /* epoch seconds at VM clock 0 */
    int64_t off_s;                      /* seconds the guest added by setting the time */
    uint64_t phase_ns;                  /* device time = VM clock + phase (0 .. 1e9): where seconds start */
    uint64_t frozen_s;                  /* time shown while SET is on */
    uint64_t pf_seen, uf_seen;          /* periods / shown seconds already turned into flags */
    uint64_t period_ns;                 /* 0: no periodic rate */
    uint64_t period_origin;             /* device time at which the periodic divider restarted */
    uint64_t pf_owed;                   /* periodic interrupts a late poll missed, still owed */
};

/* ------------------------------------------------------------ calendar */

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static uint8_t to_bcd(unsigned v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }
static unsigned from_bcd(uint8_t v) { return (unsigned)((v >> 4) * 10 + (v & 15)); }

/* ------------------------------------------------------------ time */

/* Device time: the VM clock shifted so that the guest's seconds start at multiples of 1e9. */
static uint64_t now_ns(struct rtc *r, struct v3_device *dev)
{
    return v3_vm_clock_ns(v3_dev_vm(dev)) + r->phase_ns;
}

/* Seconds since the epoch at device time @p t (never below 0). */
static uint64_t secs_at(const struct rtc *r, uint64_t t)
{
    int64_t s = (int64_t)(r->base + t / NS_PER_S) + r->off_s;
    return s < 0 ? 0 : (uint64_t)s;
}

/* Seconds since the epoch shown by the clock. */
static uint64_t shown_s(struct rtc *r, struct v3_device *dev)
{
    if (r->cmos[REG_B] & B_SET)
        return r->frozen_s;
    return secs_at(r, now_ns(r, dev));
}

static uint8_t enc(const struct rtc *r, unsigned v)
{
    return (r->cmos[REG_B] & B_DM) ? (uint8_t)v : to_bcd(v);
}
static unsigned dec(const struct rtc *r, uint8_t v)
{
    return (r->cmos[REG_B] & B_DM) ? v : from_bcd(v);
}

static uint8_t enc_hour(const struct rtc *r, unsigned h)
{
    unsigned h12;
    if (r->cmos[REG_B] & B_24H)
        return enc(r, h);
    h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(enc(r, h12) | (h >= 12 ? 0x80 : 0));
}
static unsigned dec_hour(const struct rtc *r, uint8_t v)
{
    unsigned h;
    if (r->cmos[REG_B] & B_24H)
        return dec(r, v);
    h = dec(r, v & 0x7f) % 12;
    return (v & 0x80) ? h + 12 : h;
}

/* Fill registers 0, 2, 4, 6-9 and 0x32 from @p s. */
static void time_to_regs(struct rtc *r, uint64_t s)
{
    int64_t days = (int64_t)(s / 86400), y;
    unsigned sod = (unsigned)(s % 86400), m, d;

    civil_from_days(days, &y, &m, &d);
    r->cmos[0] = enc(r, sod % 60);
    r->cmos[2] = enc(r, sod / 60 % 60);
    r->cmos[4] = enc_hour(r, sod / 3600);
    r->cmos[6] = enc(r, (unsigned)((days + 4) % 7) + 1);     /* 1970-01-01 was a Thursday: day 5 */
    r->cmos[7] = enc(r, d);
    r->cmos[8] = enc(r, m);
    r->cmos[9] = enc(r, (unsigned)(y % 100));
    r->cmos[0x32] = to_bcd((unsigned)(y / 100));
}

static uint64_t regs_to_time(const struct rtc *r)
{
    unsigned year = dec(r, r->cmos[9]) % 100 + from_bcd(r->cmos[0x32]) * 100;
    unsigned mon = dec(r, r->cmos[8]), day = dec(r, r->cmos[7]);
    int64_t days;

    if (year < 1970)
        year += 100;
    if (mon < 1 || mon > 12)
        mon = 1;
    if (day < 1 || day > 31)
        day = 1;
    days = days_from_civil(year, mon, day);
    return (uint64_t)days * 86400 + dec_hour(r, r->cmos[4]) * 3600ull + dec(r, r->cmos[2]) % 60 * 60ull +
           dec(r, r->cmos[0]) % 60;
}

/* ------------------------------------------------------------ flags */

static bool divider_runs(const struct rtc *r)
{
    return ((r->cmos[REG_A] >> 4) & 7) == 2;
}

static uint64_t rate_ns(const struct rtc *r)
{
    unsigned rs = r->cmos[REG_A] & 15;
    uint64_t hz;

    if (!rs)
        return 0;
    hz = rs <= 2 ? (256u >> (rs - 1)) : (65536u >> rs);
    return NS_PER_S / hz + (NS_PER_S % hz ? 1 : 0);     /* 30517.6 ns at 32768 Hz: round up */
}

static bool alarm_match(const struct rtc *r, uint64_t s)
{
    unsigned sod = (unsigned)(s % 86400);
    uint8_t as = r->cmos[1], am = r->cmos[3], ah = r->cmos[5];

    return (as >= 0xc0 || dec(r, as) == sod % 60) && (am >= 0xc0 || dec(r, am) == sod / 60 % 60) &&
           (ah >= 0xc0 || dec_hour(r, ah) == sod / 3600);
}

/* Turn the time that passed into PF/UF/AF and update IRQ 8. */
static void update_flags(struct rtc *r, struct v3_device *dev)
{
    uint64_t t = now_ns(r, dev);
    uint8_t c = r->cmos[REG_C] & (C_PF | C_AF | C_UF);

    if (divider_runs(r) && r->period_ns) {
        uint64_t n = (t - r->period_origin) / r->period_ns;
        if (n != r->pf_seen) {
            r->pf_seen = n;
            c |= C_PF;
        }
    }
    if (divider_runs(r) && !(r->cmos[REG_B] & B_SET)) {
        uint64_t s = secs_at(r, t);
        if (s != r->uf_seen) {
            /* each second boundary passed: an update; the alarm checked at the last one */
            c |= C_UF;
            for (uint64_t k = (s - r->uf_seen > 86400 ? s - 86400 : r->uf_seen + 1); k <= s; k++)
                if (alarm_match(r, k)) {
                    c |= C_AF;
                    break;
                }
            r->uf_seen = s;
        }
    }
    if ((c & C_PF && r->cmos[REG_B] & B_PIE) || (c & C_AF && r->cmos[REG_B] & B_AIE) ||
        (c & C_UF && r->cmos[REG_B] & B_UIE))
        c |= C_IRQF;
    r->cmos[REG_C] = c;
    v3_irq_set(r->irq, (c & C_IRQF) != 0);
}

static void restart_divider(struct rtc *r, struct v3_device *dev)
{
    r->period_ns = rate_ns(r);
    r->period_origin = now_ns(r, dev);
    r->pf_seen = 0;
    r->pf_owed = 0;
    r->uf_seen = secs_at(r, r->period_origin);
}

/* ------------------------------------------------------------ registers */

static uint8_t cmos_read(struct rtc *r, struct v3_device *dev, unsigned idx)
{
    uint8_t v;

    switch (idx) {
    case 0: case 2: case 4: case 6: case 7: case 8: case 9: case 0x32:
        time_to_regs(r, shown_s(r, dev));
        return r->cmos[idx];
    case REG_A: {
        uint64_t frac = now_ns(r, dev) % NS_PER_S;
        v = r->cmos[REG_A] & 0x7f;
        if (divider_runs(r) && !(r->cmos[REG_B] & B_SET) && frac >= NS_PER_S - UIP_NS)
            v |= 0x80;
        return v;
    }
    case REG_C:
        update_flags(r, dev);
        v = r->cmos[REG_C];
        r->cmos[REG_C] = 0;
        v3_irq_set(r->irq, 0);
        v3_dev_deadline_changed(dev);
        return v;
    case REG_D:
        return 0x80;
    default:
        return r->cmos[idx];
    }
}

static void cmos_write(struct rtc *r, struct v3_device *dev, unsigned idx, uint8_t v)
{
    switch (idx) {
    case 0: case 2: case 4: case 6: case 7: case 8: case 9: case 0x32:
        if (!(r->cmos[REG_B] & B_SET))
            time_to_regs(r, shown_s(r, dev));
        r->cmos[idx] = v;
        if (!(r->cmos[REG_B] & B_SET)) {
            /* a write while running takes effect at once */
            uint64_t want = regs_to_time(r);
            r->off_s += (int64_t)want - (int64_t)shown_s(r, dev);
            r->uf_seen = want;
        } else {
            r->frozen_s = regs_to_time(r);
        }
        break;
    case REG_A: {
        uint8_t old = r->cmos[REG_A];
        r->cmos[REG_A] = v & 0x7f;
        if ((old ^ v) & 0x7f)
            restart_divider(r, dev);
        v3_dev_deadline_changed(dev);
        break;
    }
    case REG_B:
        if ((v & B_SET) && !(r->cmos[REG_B] & B_SET)) {
            r->frozen_s = shown_s(r, dev);
            time_to_regs(r, r->frozen_s);
        } else if (!(v & B_SET) && (r->cmos[REG_B] & B_SET)) {
            /* leaving SET: the written time runs from now, at the start of a second */
            uint64_t clock = v3_vm_clock_ns(v3_dev_vm(dev));
            r->phase_ns = (NS_PER_S - clock % NS_PER_S) % NS_PER_S;
            r->off_s = (int64_t)r->frozen_s - (int64_t)(r->base + now_ns(r, dev) / NS_PER_S);
            r->uf_seen = r->frozen_s;
            r->period_origin = now_ns(r, dev);
            r->pf_seen = 0;
            r->pf_owed = 0;
        }
        if (!(v & B_PIE))
            r->pf_owed = 0;
        r->cmos[REG_B] = v;
        if (v & B_SET)
            time_to_regs(r, r->frozen_s);
        update_flags(r, dev);
        v3_dev_deadline_changed(dev);
        break;
    case REG_C:
    case REG_D:
        break;                          /* read only */
    default:
        r->cmos[idx] = v;
        break;
    }
}

static uint64_t rtc_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct rtc *r = v3_dev_state(dev);

    (void)core;
    (void)size;
    if (off == 0)
        return 0xff;                    /* the index register is write only */
    return cmos_read(r, dev, r->index);
}

static void rtc_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct rtc *r = v3_dev_state(dev);

    (void)core;
    (void)size;
    if (off == 0) {
        r->index = (uint8_t)(val & 0x7f);
        r->nmi_masked = (uint8_t)((val >> 7) & 1);
    } else {
        cmos_write(r, dev, r->index, (uint8_t)val);
    }
}

static uint64_t rtc_deadline(struct v3_device *dev)
{
    struct rtc *r = v3_dev_state(dev);
    uint64_t next = V3_NO_DEADLINE;

    if (!divider_runs(r) || (r->cmos[REG_C] & C_IRQF))
        return V3_NO_DEADLINE;          /* nothing new can be signalled before C is read */
    if (r->pf_owed && (r->cmos[REG_B] & B_PIE) && r->period_ns)
        return 0;                       /* the previous one was taken: the next owed one now */
    /* the first event not yet turned into a flag, in device time */
    if ((r->cmos[REG_B] & B_PIE) && r->period_ns)
        next = r->period_origin + (r->pf_seen + 1) * r->period_ns;
    if ((r->cmos[REG_B] & (B_UIE | B_AIE)) && !(r->cmos[REG_B] & B_SET)) {
        /* the device time at which the shown seconds pass uf_seen */
        int64_t s = (int64_t)r->uf_seen + 1 - (int64_t)r->base - r->off_s;
        uint64_t t = s <= 0 ? 0 : (uint64_t)s > UINT64_MAX / NS_PER_S ? V3_NO_DEADLINE : (uint64_t)s * NS_PER_S;
        if (t < next)
            next = t;
    }
    if (next == V3_NO_DEADLINE)
        return next;
    /* a moment already past is due at once (the VM calls timer() for it) */
    return next < r->phase_ns ? 0 : next - r->phase_ns;
}

static void rtc_timer(struct v3_device *dev, uint64_t now)
{
    struct rtc *r = v3_dev_state(dev);
    bool pie = (r->cmos[REG_B] & B_PIE) && r->period_ns && divider_runs(r);
    uint64_t seen = r->pf_seen;

    (void)now;
    pie = pie && !(r->cmos[REG_C] & C_IRQF);
    update_flags(r, dev);
    if (!pie)
        return;
    if (r->pf_seen > seen + 1) {        /* periods ended unseen while IRQF was clear */
        uint64_t cap = NS_PER_S / r->period_ns;

        if (cap > RTC_OWED_MAX)
            cap = RTC_OWED_MAX;
        if (cap < 1)
            cap = 1;
        r->pf_owed += r->pf_seen - seen - 1;
        if (r->pf_owed > cap - 1)
            r->pf_owed = cap - 1;       /* with the one raised now: at most cap */
    } else if (r->pf_seen == seen && r->pf_owed && !(r->cmos[REG_C] & C_IRQF)) {
        r->pf_owed--;
        r->cmos[REG_C] |= C_PF | C_IRQF;
        v3_irq_set(r->irq, 1);
    }
}

static void cmos_fill_memory(struct rtc *r, struct v3_vm *vm)
{
    uint64_t mem = vm->config.mem_size, below4g = mem < 0xc0000000ull ? mem : 0xc0000000ull;
    uint64_t ext_kb = below4g > (1u << 20) ? (below4g >> 10) - 1024 : 0, above16, above4g;
    unsigned sum = 0;

    r->cmos[0x10] = 0;                  /* no floppy drives */
    r->cmos[0x14] = 0x06;               /* equipment: FPU, VGA/EGA display */
    r->cmos[0x15] = 640 & 0xff;         /* base memory 640 KiB */
    r->cmos[0x16] = 640 >> 8;
    if (ext_kb > 0xffff)
        ext_kb = 0xffff;
    r->cmos[0x17] = r->cmos[0x30] = (uint8_t)ext_kb;
    r->cmos[0x18] = r->cmos[0x31] = (uint8_t)(ext_kb >> 8);
    above16 = below4g > (16u << 20) ? (below4g - (16u << 20)) >> 16 : 0;
    if (above16 > 0xffff)
        above16 = 0xffff;
    r->cmos[0x34] = (uint8_t)above16;
    r->cmos[0x35] = (uint8_t)(above16 >> 8);
    above4g = mem > below4g ? (mem - below4g) >> 16 : 0;
    r->cmos[0x5b] = (uint8_t)above4g;
    r->cmos[0x5c] = (uint8_t)(above4g >> 8);
    r->cmos[0x5d] = (uint8_t)(above4g >> 16);
    r->cmos[0x5f] = (uint8_t)(vm->num_cores - 1);
    for (unsigned i = 0x10; i <= 0x2d; i++)
        sum += r->cmos[i];
    r->cmos[0x2e] = (uint8_t)(sum >> 8);
    r->cmos[0x2f] = (uint8_t)sum;
}

static void rtc_reset(struct v3_device *dev)
{
    struct rtc *r = v3_dev_state(dev);

    /* registers A-D after power-on as firmware leaves them: running, 1024 Hz
     * rate selected, interrupts off, BCD, 24-hour */
    r->cmos[REG_A] = 0x26;
    r->cmos[REG_B] = B_24H;
    r->cmos[REG_C] = 0;
    restart_divider(r, dev);
    update_flags(r, dev);
    r->cmos[REG_C] = 0;
    v3_irq_set(r->irq, 0);
}

static int rtc_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct rtc *r = v3_dev_state(dev);
    struct v3_vm *vm = v3_dev_vm(dev);
    const char *base = "host";
    uint64_t irq = 8, secs;

    if (v3_dev_arg_u64(args, "irq", &irq) < 0 || irq > 15)
        return V3_EINVAL;
    if (v3_dev_arg_str(args, "base", &base) == 1 && !v3_str_eq(base, "host")) {
        /* a number: seconds since the epoch */
        const char *p = base;
        secs = 0;
        if (!*p)
            return V3_EINVAL;
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || secs > UINT64_MAX / 20) {
                V3_ERROR("device %s: base=%s is neither host nor a number of seconds", v3_dev_name(dev), base);
                return V3_EINVAL;
            }
            secs = secs * 10 + (uint64_t)(*p - '0');
        }
        r->base = secs;
    } else if (vm->config.clock == V3_CLOCK_REALTIME && v3_host.wall_ns) {
        r->base = v3_host.wall_ns() / NS_PER_S;
    } else {
        r->base = DEFAULT_EPOCH;
    }
    r->irq = v3_dev_irq(dev, (unsigned)irq);
    if (!r->irq)
        return V3_ENOMEM;
    cmos_fill_memory(r, vm);
    return v3_dev_claim_io(dev, 0x70, 2, rtc_read, rtc_write);
}

static int rtc_save(struct v3_device *dev, struct v3_snap *s)
{
    struct rtc *r = v3_dev_state(dev);
    return v3_snap_put(s, &r->index, sizeof(*r) - ((uint8_t *)&r->index - (uint8_t *)r));
}

static int rtc_load(struct v3_device *dev, struct v3_snap *s)
{
    struct rtc *r = v3_dev_state(dev);
    int rc = v3_snap_get(s, &r->index, sizeof(*r) - ((uint8_t *)&r->index - (uint8_t *)r));
    r->index &= 0x7f;
    if (r->pf_owed >= RTC_OWED_MAX)
        r->pf_owed = RTC_OWED_MAX - 1;
    v3_irq_set(r->irq, (r->cmos[REG_C] & C_IRQF) != 0);
    return rc;
}

const struct v3_device_ops v3_dev_rtc = {
    .name = "rtc",
    .help = "MC146818 RTC and CMOS at 0x70/0x71: base=host|SECONDS irq=8",
    .state_size = sizeof(struct rtc),
    .create = rtc_create,
    .reset = rtc_reset,
    .save = rtc_save,
    .load = rtc_load,
    .deadline = rtc_deadline,
    .timer = rtc_timer,
};
