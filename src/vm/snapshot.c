/* SPDX-License-Identifier: MIT */
/*
 * VM snapshots (include/v3/snapshot.h): the file format, save and restore,
 * the dirty-page log API, in-memory snapshots and fast reset.
 *
 * Restore checks the whole input first (header, section bounds, CRC, the
 * VM's configuration, every device's name and model, record bounds) and
 * changes nothing until all of it passed.  Device load() is the one step
 * that can still fail afterwards: every device's current state is saved
 * first and loaded back if one of them refuses its data, before RAM,
 * vCPUs or the clock are touched.
 */
#include "internal/host.h"
#include "internal/vm.h"
#include "cpu/cpu.h"
#include "paging/tlb.h"
#include <v3/snapshot.h>
#include <v3/cpu.h>
#include <v3/paging.h>

#define PAGE 4096u
#define HDR_SIZE 32u
static const char snap_magic[8] = { 'V', '3', 'V', 'M', 'S', 'N', 'A', 'P' };

#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define T_CONF TAG('C', 'O', 'N', 'F')
#define T_CLCK TAG('C', 'L', 'C', 'K')
#define T_VMST TAG('V', 'M', 'S', 'T')
#define T_CPU  TAG('C', 'P', 'U', ' ')
#define T_DEVS TAG('D', 'E', 'V', 'S')
#define T_RAM  TAG('R', 'A', 'M', ' ')
#define T_END  TAG('E', 'N', 'D', ' ')

/* The architectural part of struct v3_core: everything before the VMM's own fields. */
#define CORE_ARCH_LEN offsetof(struct v3_core, vm)

/* Back-end state kept outside struct v3_core (the software CPU's queued event). */
struct cpu_extra {
    uint64_t insn_count;
    uint8_t ferr_asserted, ev_pending, db_deferred, pad[5];
    struct v3_event ev;
};

struct vm_extra {
    int32_t pending_irq, halted, pending_stop, pending_exit_code;
    uint64_t hypercalls_done;
};

struct conf_rec {
    uint64_t lo_pages, hi_start, hi_pages;
    uint32_t num_cores, clock_mode, insn_ps, nregions, ndevs, pad;
};

struct region_rec {
    uint64_t start, end;
    uint32_t type, pad;
};

struct dev_rec {
    char name[32];
    char model[32];
    uint32_t nlines, pad;
    uint64_t len;
};

static uint32_t layout_word(void)
{
    return (uint32_t)(CORE_ARCH_LEN * 131u + sizeof(struct cpu_extra) * 7u + sizeof(struct vm_extra) +
                      sizeof(struct conf_rec) * 3u + sizeof(struct dev_rec) * 5u);
}

/* ------------------------------------------------------------ CRC-32 */

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    if (__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;       /* the same value from any thread */
    }
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

/* Running CRC-32 (start with 0). */
static uint32_t crc_update(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;

    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ------------------------------------------------------------ helpers */

static int vm_claim(struct v3_vm *vm, const char *fn)
{
    int idle = VM_IDLE;

    if (!__atomic_compare_exchange_n(&vm->run_state, &idle, VM_RUNNING, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_ACQUIRE)) {
        V3_ERROR("%s: the VM is %s", fn, idle == VM_RUNNING ? "running (or in another snapshot call)"
                                                            : "being freed");
        return V3_EBUSY;
    }
    if (vm->mem.dirty_pull)
        vm->mem.dirty_pull(vm);     /* a hardware back end's own log of guest writes */
    return V3_OK;
}

static void vm_release(struct v3_vm *vm)
{
    __atomic_store_n(&vm->run_state, VM_IDLE, __ATOMIC_RELEASE);
}

static int is_emu(const struct v3_vm *vm)
{
    return vm->backend == &v3_emu_backend;
}

static uint64_t ram_pages(const struct v3_vm *vm)
{
    return vm->mem.dirty_lo_pages + vm->mem.dirty_hi_pages;
}

/* Host address of dirty-log page @p i. */
static uint8_t *page_hva(struct v3_vm *vm, uint64_t i)
{
    if (i < vm->mem.dirty_lo_pages)
        return (uint8_t *)vm->mem.base.host_addr + i * PAGE;
    return (uint8_t *)vm->high_ram + (i - vm->mem.dirty_lo_pages) * PAGE;
}

static uint64_t page_gpa(const struct v3_vm *vm, uint64_t i)
{
    if (i < vm->mem.dirty_lo_pages)
        return i * PAGE;
    return (vm->mem.dirty_hi_start + (i - vm->mem.dirty_lo_pages)) * PAGE;
}

static bool page_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    uint64_t acc = 0;

    for (unsigned i = 0; i < PAGE / 8; i += 8)
        acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
    return acc == 0;
}

static void core_extra_get(struct v3_vm *vm, struct v3_core *c, struct cpu_extra *x)
{
    if (vm->backend->get_state)
        vm->backend->get_state(c);  /* a hardware back end: the core's state, complete */
    memset(x, 0, sizeof(*x));
    x->insn_count = c->insn_count;
    x->ferr_asserted = c->ferr_asserted;
    if (is_emu(vm) && c->backend) {
        struct v3_cpu *cpu = cpu_of(c);
        x->ev_pending = cpu->ev_pending;
        x->db_deferred = cpu->db_deferred;
        if (cpu->ev_pending)
            x->ev = cpu->ev;
    }
}

static void core_extra_set(struct v3_vm *vm, struct v3_core *c, const struct cpu_extra *x)
{
    c->insn_count = x->insn_count;
    c->ferr_asserted = x->ferr_asserted;
    if (is_emu(vm) && c->backend) {
        struct v3_cpu *cpu = cpu_of(c);
        cpu->ev_pending = x->ev_pending != 0;
        cpu->ev = x->ev;
        cpu->db_deferred = x->db_deferred;
        cpu->ins_pending = false;
        cpu->want_window = false;
        if (cpu->ev_pending)
            __atomic_fetch_or(&cpu->brk, CPU_BRK_EVENT, __ATOMIC_RELEASE);
    }
    if (vm->backend->set_state)
        vm->backend->set_state(c);  /* a hardware back end loads all of it before it runs again */
}

static uint64_t clock_now(struct v3_vm *vm)
{
    return v3_clock_now(&vm->clock);
}

/* Set the clock so that it reads @p now, given the restored instruction count. */
static void clock_set(struct v3_vm *vm, uint64_t now, uint64_t skip)
{
    if (vm->clock.mode == V3_CLOCK_REALTIME)
        vm->clock.base_ns = v3_time_ns() - now;
    else
        __atomic_store_n(&vm->clock.skip_ns, skip, __ATOMIC_RELAXED);
}

static void vm_extra_get(struct v3_vm *vm, struct vm_extra *x)
{
    memset(x, 0, sizeof(*x));
    x->pending_irq = __atomic_load_n(&vm->pending_irq, __ATOMIC_RELAXED);
    x->halted = vm->halted;
    {
        uint64_t w = __atomic_load_n(&vm->pending_stop, __ATOMIC_ACQUIRE);   /* reason | code << 32 */
        x->pending_stop = (int32_t)(uint32_t)w;
        x->pending_exit_code = (int32_t)(w >> 32);
    }
    x->hypercalls_done = vm->hypercalls_done;
}

static void vm_extra_set(struct v3_vm *vm, const struct vm_extra *x)
{
    __atomic_store_n(&vm->pending_irq, x->pending_irq, __ATOMIC_RELAXED);
    vm->halted = x->halted;
    __atomic_store_n(&vm->pending_stop,
                     (uint64_t)(uint32_t)x->pending_stop | (uint64_t)(uint32_t)x->pending_exit_code << 32,
                     __ATOMIC_RELEASE);
    vm->hypercalls_done = x->hypercalls_done;
}

/* Drop every vCPU's translations and (all, or none) decoded code. */
static void drop_caches(struct v3_vm *vm, bool code)
{
    for (unsigned i = 0; i < vm->num_cores; i++) {
        struct v3_core *c = &vm->cores[i];
        v3_tlb_flush_all(c);
        if (code && is_emu(vm) && c->backend)
            v3_cpu_invalidate_code(c, 0, ~0ull);
    }
}

/* ------------------------------------------------------------ devices */

static unsigned dev_nlines(const struct v3_device *d)
{
    unsigned n = 0;
    for (const struct v3_irq_line *l = d->lines; l; l = l->next)
        n++;
    return n;
}

/* Save device @p d into @p s (a growing stream): its state only. */
static int dev_save(struct v3_device *d, struct v3_snap *s)
{
    int rc;

    v3_dev_lock(d);
    rc = d->ops->save(d, s);
    v3_dev_unlock(d);
    if (rc == V3_OK && s->err)
        rc = s->err;
    return rc;
}

static int dev_load(struct v3_device *d, const uint8_t *data, size_t len)
{
    struct v3_snap s = { (uint8_t *)(uintptr_t)data, len, 0, len, 0 };
    int rc;

    v3_dev_lock(d);
    rc = d->ops->load(d, &s);
    v3_dev_unlock(d);
    if (rc == V3_OK && s.pos != s.len) {
        V3_ERROR("snapshot: device %s read %zu of its %zu bytes", d->name, s.pos, s.len);
        rc = V3_EIMAGE;
    }
    if (rc < 0 && rc != V3_EIMAGE)
        V3_ERROR("snapshot: device %s refused its state: %s", d->name, v3_strerror(rc));
    return rc;
}

static int devs_check_saveable(struct v3_vm *vm, const char *fn)
{
    for (unsigned i = 0; i < vm->dm.ndevs; i++) {
        struct v3_device *d = vm->dm.devs[i];
        if (!d->ops->save || !d->ops->load) {
            V3_ERROR("%s: device %s (model %s) has no save/load: the VM cannot be saved", fn, d->name,
                     d->ops->name);
            return V3_EUNSUPPORTED;
        }
    }
    return V3_OK;
}

static void rec_name(char out[32], const char *name)
{
    size_t i = 0;

    memset(out, 0, 32);
    while (i < 31 && name && name[i]) {
        out[i] = name[i];
        i++;
    }
}

/*
 * The DEVS payload: per device a dev_rec, its line levels (one byte each),
 * then its state.  Into @p out (growing).
 */
static int devs_save(struct v3_vm *vm, struct v3_snap *out)
{
    uint32_t n = vm->dm.ndevs;

    v3_snap_put(out, &n, 4);
    for (unsigned i = 0; i < n; i++) {
        struct v3_device *d = vm->dm.devs[i];
        struct v3_snap s = { 0 };
        struct dev_rec r;
        int rc = dev_save(d, &s);

        if (rc < 0) {
            V3_ERROR("snapshot: device %s could not save its state: %s", d->name, v3_strerror(rc));
            v3_free(s.buf);
            return rc;
        }
        memset(&r, 0, sizeof(r));
        rec_name(r.name, d->name);
        rec_name(r.model, d->ops->name);
        r.nlines = dev_nlines(d);
        r.len = s.len;
        v3_snap_put(out, &r, sizeof(r));
        for (const struct v3_irq_line *l = d->lines; l; l = l->next) {
            uint8_t lv = __atomic_load_n(&l->pend, __ATOMIC_RELAXED);
            v3_snap_put(out, &lv, 1);
        }
        if (s.len)
            v3_snap_put(out, s.buf, s.len);
        v3_free(s.buf);
    }
    return out->err;
}

/* Check a DEVS payload against the VM; on success @p state[i] / @p len[i] / @p lines[i]
 * point at device i's parts. */
static int devs_check(struct v3_vm *vm, const uint8_t *p, uint64_t len, const uint8_t **state,
                      uint64_t *slen, const uint8_t **lines)
{
    uint64_t pos = 4;
    uint32_t n;

    if (len < 4)
        return V3_EIMAGE;
    memcpy(&n, p, 4);
    if (n != vm->dm.ndevs) {
        V3_ERROR("snapshot: %u devices saved, the VM has %u", n, vm->dm.ndevs);
        return V3_EMISMATCH;
    }
    for (unsigned i = 0; i < n; i++) {
        struct v3_device *d = vm->dm.devs[i];
        struct dev_rec r;
        char name[32], model[32];

        if (len - pos < sizeof(r))
            return V3_EIMAGE;
        memcpy(&r, p + pos, sizeof(r));
        pos += sizeof(r);
        rec_name(name, d->name);
        rec_name(model, d->ops->name);
        if (memcmp(name, r.name, 32) || memcmp(model, r.model, 32)) {
            r.name[31] = r.model[31] = 0;
            V3_ERROR("snapshot: device %u is %s (%s) in the snapshot, %s (%s) in the VM", i, r.name,
                     r.model, d->name, d->ops->name);
            return V3_EMISMATCH;
        }
        if (r.nlines != dev_nlines(d)) {
            V3_ERROR("snapshot: device %s has %u interrupt lines saved, %u in the VM", d->name, r.nlines,
                     dev_nlines(d));
            return V3_EMISMATCH;
        }
        if (!d->ops->load) {
            V3_ERROR("snapshot: device %s (model %s) cannot load a state", d->name, d->ops->name);
            return V3_EUNSUPPORTED;
        }
        if (len - pos < r.nlines || len - pos - r.nlines < r.len)
            return V3_EIMAGE;
        lines[i] = p + pos;
        pos += r.nlines;
        state[i] = p + pos;
        slen[i] = r.len;
        pos += r.len;
    }
    return pos == len ? V3_OK : V3_EIMAGE;
}

/* Line levels of every device, and the router's counts from them. */
static void lines_set(struct v3_vm *vm, const uint8_t *const *lines)
{
    struct v3_devmodel *dm = &vm->dm;

    v3_mutex_lock(dm->irq_lock);
    memset(dm->irq_count, 0, sizeof(dm->irq_count));
    for (unsigned i = 0; i < dm->ndevs; i++) {
        unsigned k = 0;
        for (struct v3_irq_line *l = dm->devs[i]->lines; l; l = l->next, k++) {
            uint8_t lv = lines[i][k] ? 1 : 0;
            l->level = l->pend = lv;
            l->rose = 0;
            l->dirty = 0;
            if (lv && l->irq < V3_NR_IRQS)
                dm->irq_count[l->irq]++;
        }
    }
    v3_mutex_unlock(dm->irq_lock);
}

/* Load every device states we saved ourselves (fast reset): no backup. */
static int devs_load_own(struct v3_vm *vm, const uint8_t *const *state, const uint64_t *slen)
{
    struct v3_devmodel *dm = &vm->dm;
    int rc = V3_OK;

    for (unsigned i = 0; i < dm->ndevs && rc == V3_OK; i++)
        rc = dev_load(dm->devs[i], state[i], (size_t)slen[i]);
    __atomic_store_n(&dm->deadline_dirty, 1, __ATOMIC_RELEASE);
    return rc;
}

/* Load every device; on a refusal, put back the states saved in @p backup. */
static int devs_load(struct v3_vm *vm, const uint8_t *const *state, const uint64_t *slen)
{
    struct v3_devmodel *dm = &vm->dm;
    struct v3_snap *backup = v3_zalloc(sizeof(*backup) * (dm->ndevs ? dm->ndevs : 1));
    int rc = V3_OK;
    unsigned i;

    if (!backup)
        return V3_ENOMEM;
    for (i = 0; i < dm->ndevs && rc == V3_OK; i++)
        rc = dev_save(dm->devs[i], &backup[i]);
    if (rc < 0) {
        V3_ERROR("snapshot: device %s could not save its current state: %s", dm->devs[i - 1]->name,
                 v3_strerror(rc));
        goto out;
    }
    for (i = 0; i < dm->ndevs; i++) {
        rc = dev_load(dm->devs[i], state[i], (size_t)slen[i]);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        for (unsigned k = 0; k <= i && k < dm->ndevs; k++)
            dev_load(dm->devs[k], backup[k].buf, backup[k].len);
    }
    __atomic_store_n(&dm->deadline_dirty, 1, __ATOMIC_RELEASE);
out:
    for (unsigned k = 0; k < dm->ndevs; k++)
        v3_free(backup[k].buf);
    v3_free(backup);
    return rc;
}

/* ------------------------------------------------------------ configuration */

static void conf_get(struct v3_vm *vm, struct conf_rec *c)
{
    memset(c, 0, sizeof(*c));
    c->lo_pages = vm->mem.dirty_lo_pages;
    c->hi_start = vm->mem.dirty_hi_start;
    c->hi_pages = vm->mem.dirty_hi_pages;
    c->num_cores = vm->num_cores;
    c->clock_mode = (uint32_t)vm->clock.mode;
    c->insn_ps = vm->clock.insn_ps;
    c->nregions = (uint32_t)vm->mem.count;
    c->ndevs = vm->dm.ndevs;
}

static void region_get(struct v3_vm *vm, size_t i, struct region_rec *r)
{
    const struct v3_mem_region *m = vm->mem.idx[i].region;

    memset(r, 0, sizeof(*r));
    r->start = m->guest_start;
    r->end = m->guest_end;
    r->type = (uint32_t)m->type;
}

static int conf_check(struct v3_vm *vm, const uint8_t *p, uint64_t len)
{
    struct conf_rec c, mine;

    if (len < sizeof(c))
        return V3_EIMAGE;
    memcpy(&c, p, sizeof(c));
    conf_get(vm, &mine);
    if (len != sizeof(c) + (uint64_t)c.nregions * sizeof(struct region_rec))
        return V3_EIMAGE;
    if (c.lo_pages != mine.lo_pages || c.hi_start != mine.hi_start || c.hi_pages != mine.hi_pages) {
        V3_ERROR("snapshot: RAM of %llu + %llu pages saved, the VM has %llu + %llu",
                 (unsigned long long)c.lo_pages, (unsigned long long)c.hi_pages,
                 (unsigned long long)mine.lo_pages, (unsigned long long)mine.hi_pages);
        return V3_EMISMATCH;
    }
    if (c.num_cores != mine.num_cores) {
        V3_ERROR("snapshot: %u vCPUs saved, the VM has %u", c.num_cores, mine.num_cores);
        return V3_EMISMATCH;
    }
    if (c.clock_mode != mine.clock_mode || c.insn_ps != mine.insn_ps) {
        V3_ERROR("snapshot: the saved VM had another clock (%s, %u ps per instruction)",
                 c.clock_mode == V3_CLOCK_VIRTUAL ? "virtual" : "realtime", c.insn_ps);
        return V3_EMISMATCH;
    }
    if (c.nregions != mine.nregions) {
        V3_ERROR("snapshot: %u memory-map regions saved, the VM has %u", c.nregions, mine.nregions);
        return V3_EMISMATCH;
    }
    for (uint32_t i = 0; i < c.nregions; i++) {
        struct region_rec a, b;
        memcpy(&a, p + sizeof(c) + i * sizeof(a), sizeof(a));
        region_get(vm, i, &b);
        if (a.start != b.start || a.end != b.end || a.type != b.type) {
            V3_ERROR("snapshot: memory-map region [%#llx, %#llx) type %u saved, the VM has [%#llx, %#llx) "
                     "type %u", (unsigned long long)a.start, (unsigned long long)a.end, a.type,
                     (unsigned long long)b.start, (unsigned long long)b.end, b.type);
            return V3_EMISMATCH;
        }
    }
    return V3_OK;
}

/* ------------------------------------------------------------ writer */

struct writer {
    v3_snapshot_write_fn fn;
    void *opaque;
    struct v3_snap buf;             /* without fn */
    uint32_t crc;
    int err;
};

static void w_put(struct writer *w, const void *data, size_t len)
{
    if (w->err || !len)
        return;
    w->crc = crc_update(w->crc, data, len);
    if (w->fn) {
        int rc = w->fn(w->opaque, data, len);
        if (rc < 0)
            w->err = rc;
    } else if (v3_snap_put(&w->buf, data, len) < 0) {
        w->err = V3_ENOMEM;
    }
}

static void w_section(struct writer *w, uint32_t tag, uint64_t len)
{
    uint32_t h[2] = { tag, 0 };

    w_put(w, h, 8);
    w_put(w, &len, 8);
}

static int save(struct v3_vm *vm, struct writer *w)
{
    struct v3_snap devs = { 0 };
    struct conf_rec conf;
    struct vm_extra vx;
    uint64_t npages = ram_pages(vm), nz = 0, clk[2], term = ~0ull;
    uint8_t hdr[HDR_SIZE];
    uint32_t v;
    int rc;

    crc_init();
    rc = devs_check_saveable(vm, "v3_vm_save");
    if (rc < 0)
        return rc;
    rc = devs_save(vm, &devs);
    if (rc < 0) {
        v3_free(devs.buf);
        return rc;
    }
    for (uint64_t i = 0; i < npages; i++)
        if (!page_zero(page_hva(vm, i)))
            nz++;

    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, snap_magic, 8);
    v = V3_SNAPSHOT_VERSION;
    memcpy(hdr + 8, &v, 4);
    v = HDR_SIZE;
    memcpy(hdr + 12, &v, 4);
    v = layout_word();
    memcpy(hdr + 16, &v, 4);
    v = vm->num_cores;
    memcpy(hdr + 20, &v, 4);
    w_put(w, hdr, sizeof(hdr));

    conf_get(vm, &conf);
    w_section(w, T_CONF, sizeof(conf) + conf.nregions * sizeof(struct region_rec));
    w_put(w, &conf, sizeof(conf));
    for (size_t i = 0; i < conf.nregions; i++) {
        struct region_rec r;
        region_get(vm, i, &r);
        w_put(w, &r, sizeof(r));
    }

    clk[0] = clock_now(vm);
    clk[1] = __atomic_load_n(&vm->clock.skip_ns, __ATOMIC_RELAXED);
    w_section(w, T_CLCK, sizeof(clk));
    w_put(w, clk, sizeof(clk));

    vm_extra_get(vm, &vx);
    w_section(w, T_VMST, sizeof(vx));
    w_put(w, &vx, sizeof(vx));

    w_section(w, T_CPU, (uint64_t)vm->num_cores * (CORE_ARCH_LEN + sizeof(struct cpu_extra)));
    for (unsigned i = 0; i < vm->num_cores; i++) {
        struct cpu_extra x;
        core_extra_get(vm, &vm->cores[i], &x);
        w_put(w, &vm->cores[i], CORE_ARCH_LEN);
        w_put(w, &x, sizeof(x));
    }

    w_section(w, T_DEVS, devs.len);
    w_put(w, devs.buf, devs.len);
    v3_free(devs.buf);

    w_section(w, T_RAM, nz * (8 + PAGE) + 8);
    for (uint64_t i = 0; i < npages && !w->err; i++) {
        const uint8_t *p = page_hva(vm, i);
        if (page_zero(p))
            continue;
        w_put(w, &i, 8);
        w_put(w, p, PAGE);
    }
    w_put(w, &term, 8);

    w_section(w, T_END, 4);
    v = w->crc;
    w_put(w, &v, 4);
    return w->err;
}

int v3_vm_save(struct v3_vm *vm, v3_snapshot_write_fn write, void *opaque)
{
    struct writer w;
    int rc;

    if (!vm || !write) {
        V3_ERROR("v3_vm_save: NULL %s", vm ? "callback" : "VM");
        return V3_EINVAL;
    }
    if ((rc = vm_claim(vm, "v3_vm_save")) < 0)
        return rc;
    memset(&w, 0, sizeof(w));
    w.fn = write;
    w.opaque = opaque;
    rc = save(vm, &w);
    vm_release(vm);
    return rc;
}

int v3_vm_save_buf(struct v3_vm *vm, void **buf, size_t *len)
{
    struct writer w;
    int rc;

    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    if (!vm || !buf || !len) {
        V3_ERROR("v3_vm_save_buf: NULL argument");
        return V3_EINVAL;
    }
    if ((rc = vm_claim(vm, "v3_vm_save_buf")) < 0)
        return rc;
    memset(&w, 0, sizeof(w));
    rc = save(vm, &w);
    vm_release(vm);
    if (rc < 0) {
        v3_free(w.buf.buf);
        return rc;
    }
    *buf = w.buf.buf;
    *len = w.buf.len;
    return V3_OK;
}

void v3_snapshot_buf_free(void *buf)
{
    v3_free(buf);
}

/* ------------------------------------------------------------ restore */

struct parsed {
    const uint8_t *conf, *clk, *vmst, *cpu, *devs, *ram;
    uint64_t conf_len, clk_len, vmst_len, cpu_len, devs_len, ram_len;
    const uint8_t **dev_state, **dev_lines;
    uint64_t *dev_len;
};

static int parse(struct v3_vm *vm, const uint8_t *b, size_t len, struct parsed *p)
{
    uint32_t ver, hsize, layout, ncores, crc, want;
    uint64_t pos;
    bool end = false;
    int rc;

    crc_init();
    if (len < HDR_SIZE || memcmp(b, snap_magic, 8)) {
        V3_ERROR("snapshot: not a v3vmm snapshot (bad magic or shorter than its header)");
        return V3_EIMAGE;
    }
    memcpy(&ver, b + 8, 4);
    memcpy(&hsize, b + 12, 4);
    memcpy(&layout, b + 16, 4);
    memcpy(&ncores, b + 20, 4);
    if (ver != V3_SNAPSHOT_VERSION) {
        V3_ERROR("snapshot: format version %u, this build reads version %u", ver, V3_SNAPSHOT_VERSION);
        return V3_ESNAPVER;
    }
    if (hsize != HDR_SIZE) {
        V3_ERROR("snapshot: header of %u bytes, expected %u", hsize, HDR_SIZE);
        return V3_EIMAGE;
    }
    if (layout != layout_word()) {
        V3_ERROR("snapshot: written by a build with another state layout (0x%x, this one 0x%x)", layout,
                 layout_word());
        return V3_ESNAPVER;
    }
    /* sections, up to END; the CRC covers every byte before END's payload */
    for (pos = HDR_SIZE; !end;) {
        uint32_t tag;
        uint64_t slen;
        const uint8_t *sp;

        if (len - pos < 16) {
            V3_ERROR("snapshot: truncated at byte %llu (no end section)", (unsigned long long)pos);
            return V3_EIMAGE;
        }
        memcpy(&tag, b + pos, 4);
        memcpy(&slen, b + pos + 8, 8);
        pos += 16;
        if (slen > len - pos) {
            V3_ERROR("snapshot: section at byte %llu runs past the end (truncated)",
                     (unsigned long long)pos - 16);
            return V3_EIMAGE;
        }
        sp = b + pos;
        switch (tag) {
        case T_CONF: p->conf = sp; p->conf_len = slen; break;
        case T_CLCK: p->clk = sp; p->clk_len = slen; break;
        case T_VMST: p->vmst = sp; p->vmst_len = slen; break;
        case T_CPU: p->cpu = sp; p->cpu_len = slen; break;
        case T_DEVS: p->devs = sp; p->devs_len = slen; break;
        case T_RAM: p->ram = sp; p->ram_len = slen; break;
        case T_END:
            if (slen != 4)
                return V3_EIMAGE;
            memcpy(&crc, sp, 4);
            want = crc_update(0, b, (size_t)pos);
            if (crc != want) {
                V3_ERROR("snapshot: checksum 0x%08x, contents give 0x%08x", crc, want);
                return V3_ECHECKSUM;
            }
            end = true;
            break;
        default:
            V3_ERROR("snapshot: unknown section 0x%08x at byte %llu", tag, (unsigned long long)pos - 16);
            return V3_EIMAGE;
        }
        pos += slen;
    }
    if (pos != len) {
        V3_ERROR("snapshot: %llu bytes after the end section", (unsigned long long)(len - pos));
        return V3_EIMAGE;
    }
    if (!p->conf || !p->clk || !p->vmst || !p->cpu || !p->devs || !p->ram) {
        V3_ERROR("snapshot: a section is missing");
        return V3_EIMAGE;
    }
    if (p->clk_len != 16 || p->vmst_len != sizeof(struct vm_extra))
        return V3_EIMAGE;
    if ((rc = conf_check(vm, p->conf, p->conf_len)) < 0)
        return rc;
    if (ncores != vm->num_cores ||
        p->cpu_len != (uint64_t)vm->num_cores * (CORE_ARCH_LEN + sizeof(struct cpu_extra)))
        return V3_EIMAGE;
    /* RAM records: increasing page numbers inside RAM, then the terminator */
    {
        uint64_t rpos = 0, last = 0, n = ram_pages(vm);
        bool first = true;
        for (;;) {
            uint64_t i;
            if (p->ram_len - rpos < 8)
                return V3_EIMAGE;
            memcpy(&i, p->ram + rpos, 8);
            rpos += 8;
            if (i == ~0ull)
                break;
            if (i >= n || (!first && i <= last) || p->ram_len - rpos < PAGE) {
                V3_ERROR("snapshot: bad RAM record (page %llu)", (unsigned long long)i);
                return V3_EIMAGE;
            }
            first = false;
            last = i;
            rpos += PAGE;
        }
        if (rpos != p->ram_len)
            return V3_EIMAGE;
    }
    p->dev_state = v3_zalloc(sizeof(void *) * (vm->dm.ndevs + 1));
    p->dev_lines = v3_zalloc(sizeof(void *) * (vm->dm.ndevs + 1));
    p->dev_len = v3_zalloc(sizeof(uint64_t) * (vm->dm.ndevs + 1));
    if (!p->dev_state || !p->dev_lines || !p->dev_len)
        return V3_ENOMEM;
    return devs_check(vm, p->devs, p->devs_len, p->dev_state, p->dev_len, p->dev_lines);
}

static void parsed_free(struct parsed *p)
{
    v3_free(p->dev_state);
    v3_free(p->dev_lines);
    v3_free(p->dev_len);
}

static void restore_ram(struct v3_vm *vm, const uint8_t *r)
{
    uint64_t n = ram_pages(vm), next, pos = 0;

    memcpy(&next, r, 8);
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *h = page_hva(vm, i);
        if (i == next) {
            if (memcmp(h, r + pos + 8, PAGE)) {
                memcpy(h, r + pos + 8, PAGE);
                v3_mem_mark_dirty(&vm->mem, page_gpa(vm, i));
            }
            pos += 8 + PAGE;
            memcpy(&next, r + pos, 8);
        } else if (!page_zero(h)) {
            memset(h, 0, PAGE);
            v3_mem_mark_dirty(&vm->mem, page_gpa(vm, i));
        }
    }
}

static int restore(struct v3_vm *vm, const uint8_t *b, size_t len)
{
    struct parsed p;
    struct vm_extra vx;
    uint64_t clk[2];
    int rc;

    memset(&p, 0, sizeof(p));
    rc = parse(vm, b, len, &p);
    if (rc < 0) {
        if (rc == V3_EIMAGE)
            V3_ERROR("snapshot: malformed or truncated snapshot: the VM is unchanged");
        parsed_free(&p);
        return rc;
    }
    /* the one step that can still fail undoes itself */
    rc = devs_load(vm, p.dev_state, p.dev_len);
    if (rc < 0) {
        parsed_free(&p);
        return rc;
    }
    lines_set(vm, p.dev_lines);
    for (unsigned i = 0; i < vm->num_cores; i++) {
        const uint8_t *c = p.cpu + i * (CORE_ARCH_LEN + sizeof(struct cpu_extra));
        struct cpu_extra x;
        memcpy(&vm->cores[i], c, CORE_ARCH_LEN);
        memcpy(&x, c + CORE_ARCH_LEN, sizeof(x));
        core_extra_set(vm, &vm->cores[i], &x);
    }
    memcpy(clk, p.clk, sizeof(clk));
    clock_set(vm, clk[0], clk[1]);
    memcpy(&vx, p.vmst, sizeof(vx));
    vm_extra_set(vm, &vx);
    restore_ram(vm, p.ram);
    drop_caches(vm, true);
    vm->snap_owner = 0;
    parsed_free(&p);
    return V3_OK;
}

int v3_vm_restore(struct v3_vm *vm, const void *buf, size_t len)
{
    int rc;

    if (!vm || !buf) {
        V3_ERROR("v3_vm_restore: NULL %s", vm ? "buffer" : "VM");
        return V3_EINVAL;
    }
    if ((rc = vm_claim(vm, "v3_vm_restore")) < 0)
        return rc;
    rc = restore(vm, buf, len);
    vm_release(vm);
    return rc;
}

int v3_vm_restore_cb(struct v3_vm *vm, v3_snapshot_read_fn read, void *opaque)
{
    struct v3_snap s = { 0 };
    uint8_t chunk[16384];
    int rc;

    if (!vm || !read) {
        V3_ERROR("v3_vm_restore_cb: NULL %s", vm ? "callback" : "VM");
        return V3_EINVAL;
    }
    for (;;) {
        int64_t n = read(opaque, chunk, sizeof(chunk));
        if (n < 0) {
            v3_free(s.buf);
            V3_ERROR("v3_vm_restore_cb: the read callback failed: %s", v3_strerror((int)n));
            return (int)n;
        }
        if (n == 0)
            break;
        if ((uint64_t)n > sizeof(chunk)) {
            v3_free(s.buf);
            return V3_EIO;
        }
        if (v3_snap_put(&s, chunk, (size_t)n) < 0) {
            v3_free(s.buf);
            V3_ERROR("v3_vm_restore_cb: out of memory for the snapshot");
            return V3_ENOMEM;
        }
    }
    if (!s.buf) {
        V3_ERROR("v3_vm_restore_cb: empty input");
        return V3_EIMAGE;
    }
    rc = v3_vm_restore(vm, s.buf, s.len);
    v3_free(s.buf);
    return rc;
}

/* ------------------------------------------------------------ dirty log */

uint64_t v3_vm_dirty_pages(const struct v3_vm *vm)
{
    return vm ? ram_pages(vm) : 0;
}

static void dirty_clear(struct v3_vm *vm)
{
    uint64_t words = (ram_pages(vm) + 63) / 64;

    memset(vm->mem.dirty, 0, (size_t)words * 8);
    memset(vm->mem.dirty_sum, 0, (size_t)((words + 63) / 64) * 8);
    for (unsigned i = 0; i < vm->num_cores; i++)
        v3_tlb_drop_write(&vm->cores[i]);
}

int v3_vm_dirty_log(struct v3_vm *vm, uint64_t *bitmap, size_t words, unsigned flags)
{
    uint64_t have;
    int rc;

    if (!vm || (words && !bitmap) || (flags & ~V3_DIRTY_CLEAR)) {
        V3_ERROR("v3_vm_dirty_log: %s", !vm ? "NULL VM" : (flags & ~V3_DIRTY_CLEAR) ? "unknown flags"
                                                                                     : "NULL bitmap");
        return V3_EINVAL;
    }
    if ((rc = vm_claim(vm, "v3_vm_dirty_log")) < 0)
        return rc;
    have = (ram_pages(vm) + 63) / 64;
    for (size_t i = 0; i < words; i++)
        bitmap[i] = i < have ? vm->mem.dirty[i] : 0;
    if (flags & V3_DIRTY_CLEAR) {
        dirty_clear(vm);
        vm->snap_owner = 0;
    }
    vm_release(vm);
    return V3_OK;
}

/* ------------------------------------------------------------ in-memory snapshots */

struct v3_vm_snapshot {
    struct v3_vm *vm;
    uint64_t id;
    uint64_t npages;
    uint8_t **pages;                /* per RAM page: its copy, NULL for zeros */
    uint8_t *store;                 /* the copies */
    uint8_t *cores;                 /* num_cores * (arch part + cpu_extra) */
    uint64_t clk[2];
    struct vm_extra vx;
    struct v3_snap devs;            /* DEVS payload */
    const uint8_t **dev_state, **dev_lines;
    uint64_t *dev_len;
};

void v3_vm_snapshot_free(struct v3_vm_snapshot *s)
{
    if (!s)
        return;
    if (s->store)
        v3_free_pages(s->store, (size_t)s->npages);
    v3_free(s->pages);
    v3_free(s->cores);
    v3_free(s->devs.buf);
    v3_free(s->dev_state);
    v3_free(s->dev_lines);
    v3_free(s->dev_len);
    v3_free(s);
}

static int take(struct v3_vm *vm, struct v3_vm_snapshot *s)
{
    uint64_t nz = 0, k = 0;
    size_t clen = CORE_ARCH_LEN + sizeof(struct cpu_extra);
    int rc;

    if ((rc = devs_check_saveable(vm, "v3_vm_snapshot_take")) < 0)
        return rc;
    if ((rc = devs_save(vm, &s->devs)) < 0)
        return rc;
    s->dev_state = v3_zalloc(sizeof(void *) * (vm->dm.ndevs + 1));
    s->dev_lines = v3_zalloc(sizeof(void *) * (vm->dm.ndevs + 1));
    s->dev_len = v3_zalloc(sizeof(uint64_t) * (vm->dm.ndevs + 1));
    s->npages = ram_pages(vm);
    s->pages = v3_zalloc(sizeof(uint8_t *) * (size_t)(s->npages ? s->npages : 1));
    s->cores = v3_zalloc(clen * vm->num_cores);
    if (!s->dev_state || !s->dev_lines || !s->dev_len || !s->pages || !s->cores)
        return V3_ENOMEM;
    rc = devs_check(vm, s->devs.buf, s->devs.len, s->dev_state, s->dev_len, s->dev_lines);
    if (rc < 0)
        return rc;
    for (uint64_t i = 0; i < s->npages; i++)
        if (!page_zero(page_hva(vm, i)))
            nz++;
    if (nz) {
        s->store = v3_alloc_pages((size_t)s->npages);   /* reserved, touched only where copied */
        if (!s->store)
            return V3_ENOMEM;
        for (uint64_t i = 0; i < s->npages; i++) {
            const uint8_t *h = page_hva(vm, i);
            if (page_zero(h))
                continue;
            s->pages[i] = s->store + i * PAGE;
            memcpy(s->pages[i], h, PAGE);
            k++;
        }
    }
    for (unsigned i = 0; i < vm->num_cores; i++) {
        struct cpu_extra x;
        core_extra_get(vm, &vm->cores[i], &x);
        memcpy(s->cores + i * clen, &vm->cores[i], CORE_ARCH_LEN);
        memcpy(s->cores + i * clen + CORE_ARCH_LEN, &x, sizeof(x));
    }
    s->clk[0] = clock_now(vm);
    s->clk[1] = __atomic_load_n(&vm->clock.skip_ns, __ATOMIC_RELAXED);
    vm_extra_get(vm, &s->vx);
    dirty_clear(vm);
    s->id = ++vm->snap_next_id;
    vm->snap_owner = s->id;
    (void)k;
    return V3_OK;
}

struct v3_vm_snapshot *v3_vm_snapshot_take(struct v3_vm *vm, int *err)
{
    struct v3_vm_snapshot *s;
    int rc;

    if (err)
        *err = V3_OK;
    if (!vm) {
        V3_ERROR("v3_vm_snapshot_take: NULL VM");
        rc = V3_EINVAL;
        goto fail;
    }
    if ((rc = vm_claim(vm, "v3_vm_snapshot_take")) < 0)
        goto fail;
    s = v3_zalloc(sizeof(*s));
    if (!s) {
        vm_release(vm);
        rc = V3_ENOMEM;
        goto fail;
    }
    s->vm = vm;
    crc_init();
    rc = take(vm, s);
    vm_release(vm);
    if (rc == V3_OK)
        return s;
    if (rc == V3_ENOMEM)
        V3_ERROR("v3_vm_snapshot_take: out of memory");
    v3_vm_snapshot_free(s);
fail:
    if (err)
        *err = rc;
    return NULL;
}

/* Copy RAM page @p i back from the snapshot; drop its decoded code. */
static inline void reset_page(struct v3_vm *vm, const struct v3_vm_snapshot *s, uint64_t i, bool emu)
{
    uint8_t *h = page_hva(vm, i);

    if (s->pages[i])
        memcpy(h, s->pages[i], PAGE);
    else
        memset(h, 0, PAGE);
    if (emu) {
        uint64_t g = page_gpa(vm, i);
        for (unsigned c = 0; c < vm->num_cores; c++)
            v3_cpu_invalidate_code(&vm->cores[c], g, g + PAGE);
    }
}

static int reset(struct v3_vm *vm, const struct v3_vm_snapshot *s)
{
    size_t clen = CORE_ARCH_LEN + sizeof(struct cpu_extra);
    uint64_t words = (s->npages + 63) / 64, sums = (words + 63) / 64;
    bool emu = is_emu(vm);
    int rc;

    /* states this VM's devices wrote themselves: loaded without a backup
       (a refusal is a device bug; it is reported and the reset fails) */
    rc = devs_load_own(vm, s->dev_state, s->dev_len);
    if (rc < 0)
        return rc;
    lines_set(vm, s->dev_lines);
    if (vm->snap_owner == s->id) {
        /* the log lists exactly the pages written since the snapshot.
           Translations: those of these pages go; if one of them held a
           paging-structure entry a walk used, every translation goes */
        bool full = false;
        for (uint64_t sw = 0; sw < sums && !full; sw++) {
            uint64_t sm = vm->mem.dirty_sum[sw];
            while (sm && !full) {
                uint64_t w = sw * 64 + (uint64_t)__builtin_ctzll(sm);
                sm &= sm - 1;
                full = (vm->mem.dirty[w] & vm->mem.ptpages[w]) != 0;
            }
        }
        if (full) {
            drop_caches(vm, false);
            memset(vm->mem.ptpages, 0, (size_t)words * 8);
        } else {
            for (unsigned i = 0; i < vm->num_cores; i++) {
                struct v3_core *c = &vm->cores[i];
                struct v3_core saved;
                memcpy(&saved, s->cores + i * clen, CORE_ARCH_LEN);
                /* other paging controls or address space: nothing cached holds */
                if (c->cr0 != saved.cr0 || c->cr3 != saved.cr3 || c->cr4 != saved.cr4 ||
                    c->efer != saved.efer || c->a20_clear != saved.a20_clear)
                    v3_tlb_flush_all(c);
                else
                    v3_tlb_drop_dirty(c, &vm->mem);
            }
        }
        for (uint64_t sw = 0; sw < sums; sw++) {
            uint64_t sm = vm->mem.dirty_sum[sw];
            if (!sm)
                continue;
            vm->mem.dirty_sum[sw] = 0;
            while (sm) {
                uint64_t w = sw * 64 + (uint64_t)__builtin_ctzll(sm);
                uint64_t bits = vm->mem.dirty[w];
                sm &= sm - 1;
                vm->mem.dirty[w] = 0;
                while (bits) {
                    reset_page(vm, s, w * 64 + (uint64_t)__builtin_ctzll(bits), emu);
                    bits &= bits - 1;
                }
            }
        }
    } else {
        /* the log was cleared or taken over since: compare every page */
        for (uint64_t i = 0; i < s->npages; i++) {
            const uint8_t *h = page_hva(vm, i);
            if (s->pages[i] ? memcmp(h, s->pages[i], PAGE) != 0 : !page_zero(h))
                reset_page(vm, s, i, emu);
        }
        memset(vm->mem.dirty, 0, (size_t)words * 8);
        memset(vm->mem.dirty_sum, 0, (size_t)sums * 8);
        vm->snap_owner = s->id;
        drop_caches(vm, false);
        memset(vm->mem.ptpages, 0, (size_t)words * 8);
    }
    for (unsigned i = 0; i < vm->num_cores; i++) {
        struct cpu_extra x;
        memcpy(&vm->cores[i], s->cores + i * clen, CORE_ARCH_LEN);
        memcpy(&x, s->cores + i * clen + CORE_ARCH_LEN, sizeof(x));
        core_extra_set(vm, &vm->cores[i], &x);
    }
    clock_set(vm, s->clk[0], s->clk[1]);
    vm_extra_set(vm, &s->vx);
    return V3_OK;
}

int v3_vm_reset(struct v3_vm *vm, const struct v3_vm_snapshot *s)
{
    int rc;

    if (!vm || !s || s->vm != vm) {
        V3_ERROR("v3_vm_reset: %s", !vm ? "NULL VM" : !s ? "NULL snapshot" : "a snapshot of another VM");
        return V3_EINVAL;
    }
    if ((rc = vm_claim(vm, "v3_vm_reset")) < 0)
        return rc;
    rc = reset(vm, s);
    vm_release(vm);
    return rc;
}
