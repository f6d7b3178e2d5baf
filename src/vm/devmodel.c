/* SPDX-License-Identifier: MIT */
/*
 * The device model: instances created by name with options, their port and
 * MMIO claims (checked for overlaps), their locks, deferred interrupt-line
 * changes and deadlines.  See include/v3/device.h.
 */
#include "internal/host.h"
#include "internal/vm.h"
#include "internal/clock.h"

/* ------------------------------------------------------------ options */

#define V3_DEV_MAX_ARGS 16

struct v3_dev_args {
    const char *dev;                    /* model name, for messages */
    unsigned n;
    struct {
        const char *key, *val;          /* val NULL: "key" alone */
        bool used;
    } a[V3_DEV_MAX_ARGS];
};

/* Split "name,k=v,k2=v2" in place (@p buf is a writable copy). */
static int args_parse(char *buf, struct v3_dev_args *args, const char **name)
{
    char *p = buf;

    memset(args, 0, sizeof(*args));
    *name = p;
    while (*p && *p != ',')
        p++;
    if (*p)
        *p++ = 0;
    if (!**name) {
        V3_ERROR("device: empty device name");
        return V3_EINVAL;
    }
    args->dev = *name;
    while (*p) {
        char *key = p, *val = NULL;
        while (*p && *p != ',' && *p != '=')
            p++;
        if (*p == '=') {
            *p++ = 0;
            val = p;
            while (*p && *p != ',')
                p++;
        }
        if (*p)
            *p++ = 0;
        if (!*key) {
            V3_ERROR("device %s: empty option", *name);
            return V3_EINVAL;
        }
        if (args->n == V3_DEV_MAX_ARGS) {
            V3_ERROR("device %s: more than %d options", *name, V3_DEV_MAX_ARGS);
            return V3_EINVAL;
        }
        args->a[args->n].key = key;
        args->a[args->n].val = val;
        args->n++;
    }
    return V3_OK;
}

static int args_find(struct v3_dev_args *args, const char *key)
{
    if (!args)
        return -1;
    for (unsigned i = 0; i < args->n; i++)
        if (v3_str_eq(args->a[i].key, key)) {
            args->a[i].used = true;
            return (int)i;
        }
    return -1;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0, base = 10;
    int digits = 0;

    if (!s || !*s)
        return V3_EINVAL;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            return V3_EINVAL;
        v = v * base + d;
        digits++;
    }
    if (!digits)
        return V3_EINVAL;
    if (*s) {
        unsigned shift;
        switch (*s) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return V3_EINVAL;
        }
        if (s[1] || v > (UINT64_MAX >> shift))
            return V3_EINVAL;
        v <<= shift;
    }
    *out = v;
    return V3_OK;
}

int v3_dev_arg_u64(struct v3_dev_args *args, const char *key, uint64_t *out)
{
    int i = args_find(args, key);
    uint64_t v;

    if (i < 0)
        return 0;
    if (parse_u64(args->a[i].val, &v) < 0) {
        V3_ERROR("device %s: option %s=%s is not a number", args->dev, key,
                 args->a[i].val ? args->a[i].val : "");
        return V3_EINVAL;
    }
    *out = v;
    return 1;
}

int v3_dev_arg_str(struct v3_dev_args *args, const char *key, const char **out)
{
    int i = args_find(args, key);

    if (i < 0)
        return 0;
    *out = args->a[i].val ? args->a[i].val : "";
    return 1;
}

int v3_dev_arg_bool(struct v3_dev_args *args, const char *key, bool *out)
{
    int i = args_find(args, key);
    const char *v;

    if (i < 0)
        return 0;
    v = args->a[i].val;
    if (!v || v3_str_eq(v, "on") || v3_str_eq(v, "yes") || v3_str_eq(v, "true") || v3_str_eq(v, "1")) {
        *out = true;
        return 1;
    }
    if (v3_str_eq(v, "off") || v3_str_eq(v, "no") || v3_str_eq(v, "false") || v3_str_eq(v, "0")) {
        *out = false;
        return 1;
    }
    V3_ERROR("device %s: option %s=%s is not on/off", args->dev, key, v);
    return V3_EINVAL;
}

/* ------------------------------------------------------------ accessors */

void *v3_dev_state(struct v3_device *dev) { return dev ? dev->state : NULL; }
struct v3_vm *v3_dev_vm(struct v3_device *dev) { return dev ? dev->vm : NULL; }
const char *v3_dev_name(const struct v3_device *dev) { return dev ? dev->name : "?"; }
const struct v3_device_ops *v3_dev_ops(const struct v3_device *dev) { return dev ? dev->ops : NULL; }

/* ------------------------------------------------------------ interrupt lines */

/* Give the router @p line's level @p level, after a rising edge first if @p rose. */
static void line_apply(struct v3_irq_line *line, int level, int rose)
{
    struct v3_devmodel *dm = &line->dev->vm->dm;
    unsigned irq = line->irq;

    v3_mutex_lock(dm->irq_lock);
    if (rose && !line->level) {
        line->level = 1;
        if (dm->irq_count[irq]++ == 0)
            v3_irq_route(line->dev->vm, irq, 1);
    }
    if (level != line->level) {
        line->level = (uint8_t)level;
        if (level) {
            if (dm->irq_count[irq]++ == 0)
                v3_irq_route(line->dev->vm, irq, 1);
        } else {
            if (--dm->irq_count[irq] == 0)
                v3_irq_route(line->dev->vm, irq, 0);
        }
    }
    v3_mutex_unlock(dm->irq_lock);
}

struct v3_irq_line *v3_dev_irq(struct v3_device *dev, unsigned irq)
{
    struct v3_irq_line *l;

    if (!dev)
        return NULL;
    if (irq >= V3_NR_IRQS) {
        V3_ERROR("device %s: IRQ %u is beyond the machine's %d lines", dev->name, irq, V3_NR_IRQS);
        return NULL;
    }
    l = v3_zalloc(sizeof(*l));
    if (!l) {
        V3_ERROR("device %s: out of memory for IRQ %u", dev->name, irq);
        return NULL;
    }
    l->dev = dev;
    l->irq = (uint8_t)irq;
    l->next = dev->lines;
    dev->lines = l;
    return l;
}

void v3_irq_set(struct v3_irq_line *line, int level)
{
    if (!line)
        return;
    level = level ? 1 : 0;
    if (level && !line->pend)
        line->rose = 1;
    line->pend = (uint8_t)level;
    if (line->dev->held) {
        line->dirty = 1;            /* delivered by v3_dev_unlock() */
        return;
    }
    line->rose = 0;
    line_apply(line, level, 0);
}

void v3_irq_pulse(struct v3_irq_line *line)
{
    if (!line)
        return;
    if (line->dev->held) {
        if (!line->pend)
            line->rose = 1;
        line->pend = 0;
        line->dirty = 1;
        return;
    }
    line->pend = 0;
    line->rose = 0;
    line_apply(line, 0, 1);
}

uint32_t v3_irq_taken(const struct v3_irq_line *line)
{
    if (!line)
        return 0;
    return __atomic_load_n(&line->dev->vm->dm.irq_taken[line->irq], __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------ locking */

void v3_dev_lock(struct v3_device *dev)
{
    v3_mutex_lock(dev->lock);
    dev->held++;
}

void v3_dev_unlock(struct v3_device *dev)
{
    struct v3_irq_line *todo[V3_NR_IRQS * 2];
    uint8_t lvl[V3_NR_IRQS * 2], rose[V3_NR_IRQS * 2];
    unsigned n = 0;

    if (--dev->held == 0) {
        for (struct v3_irq_line *l = dev->lines; l; l = l->next) {
            if (!l->dirty)
                continue;
            if (n < V3_NR_IRQS * 2) {
                todo[n] = l;
                lvl[n] = l->pend;
                rose[n] = l->rose;
                n++;
            }
            l->dirty = 0;
            l->rose = 0;
        }
    }
    v3_mutex_unlock(dev->lock);
    for (unsigned i = 0; i < n; i++)
        line_apply(todo[i], lvl[i], rose[i]);
}

/* ------------------------------------------------------------ claims */

static struct v3_dev_claim *claim_owner(struct v3_vm *vm, bool mmio, uint64_t base, uint64_t len)
{
    for (unsigned i = 0; i < vm->dm.ndevs; i++)
        for (struct v3_dev_claim *c = vm->dm.devs[i]->claims; c; c = c->next)
            if (c->mmio == mmio && base < c->base + c->len && c->base < base + len)
                return c;
    return NULL;
}

static struct v3_dev_claim *claim_new(struct v3_device *dev, bool mmio, uint64_t base, uint64_t len,
                                      v3_dev_read_fn read, v3_dev_write_fn write)
{
    struct v3_dev_claim *c = v3_zalloc(sizeof(*c));
    if (!c)
        return NULL;
    c->dev = dev;
    c->mmio = mmio;
    c->base = base;
    c->len = len;
    c->read = read;
    c->write = write;
    return c;
}

static uint64_t claim_read(struct v3_dev_claim *c, struct v3_core *core, uint64_t off, unsigned size)
{
    uint64_t v;
    if (!c->read)
        return ~0ull;
    v3_dev_lock(c->dev);
    v = c->read(c->dev, core, off, size);
    v3_dev_unlock(c->dev);
    return v;
}

static void claim_write(struct v3_dev_claim *c, struct v3_core *core, uint64_t off, unsigned size, uint64_t v)
{
    if (!c->write)
        return;
    v3_dev_lock(c->dev);
    c->write(c->dev, core, off, size, v);
    v3_dev_unlock(c->dev);
}

static int devio_read(struct v3_core *core, uint16_t port, void *dst, unsigned size, void *priv)
{
    struct v3_dev_claim *c = priv;
    uint64_t v = claim_read(c, core, port - c->base, size);
    memcpy(dst, &v, size);
    return 0;
}

static int devio_write(struct v3_core *core, uint16_t port, const void *src, unsigned size, void *priv)
{
    struct v3_dev_claim *c = priv;
    uint64_t v = 0;
    memcpy(&v, src, size);
    claim_write(c, core, port - c->base, size, v);
    return 0;
}

int v3_dev_claim_io(struct v3_device *dev, uint16_t port, uint32_t count,
                    v3_dev_read_fn read, v3_dev_write_fn write)
{
    struct v3_dev_claim *c, *o;
    uint32_t i;
    int rc;

    if (!dev || !count || (uint32_t)port + count > 0x10000u) {
        V3_ERROR("device %s: bad port range 0x%x+%u", dev ? dev->name : "?", port, count);
        return V3_EINVAL;
    }
    o = claim_owner(dev->vm, false, port, count);
    if (o) {
        V3_ERROR("device %s: ports 0x%x-0x%x overlap ports 0x%llx-0x%llx of device %s", dev->name, port,
                 port + count - 1, (unsigned long long)o->base, (unsigned long long)(o->base + o->len - 1),
                 o->dev->name);
        return V3_EOVERLAP;
    }
    c = claim_new(dev, false, port, count, read, write);
    if (!c) {
        V3_ERROR("device %s: out of memory for a port claim", dev->name);
        return V3_ENOMEM;
    }
    for (i = 0; i < count; i++) {
        rc = v3_hook_io_port(dev->vm, (uint16_t)(port + i), devio_read, devio_write, c);
        if (rc < 0) {
            if (rc == V3_EEXIST) {
                V3_ERROR("device %s: port 0x%x is hooked outside the device model", dev->name, port + i);
                rc = V3_EOVERLAP;
            }
            while (i-- > 0)
                v3_unhook_io_port(dev->vm, (uint16_t)(port + i));
            v3_free(c);
            return rc;
        }
    }
    c->next = dev->claims;
    dev->claims = c;
    return V3_OK;
}

/* MMIO: an access of 1, 2, 4 or 8 bytes is one call; other sizes go in pieces. */
static int devmm_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct v3_dev_claim *c = priv;
    uint8_t *d = dst;

    while (len) {
        unsigned n = len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;
        uint64_t v = claim_read(c, core, gpa - c->base, n);
        memcpy(d, &v, n);
        d += n;
        gpa += n;
        len -= n;
    }
    return 0;
}

static int devmm_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct v3_dev_claim *c = priv;
    const uint8_t *s = src;

    while (len) {
        unsigned n = len >= 8 ? 8 : len >= 4 ? 4 : len >= 2 ? 2 : 1;
        uint64_t v = 0;
        memcpy(&v, s, n);
        claim_write(c, core, gpa - c->base, n, v);
        s += n;
        gpa += n;
        len -= n;
    }
    return 0;
}

int v3_dev_claim_mmio(struct v3_device *dev, uint64_t gpa, uint64_t size,
                      v3_dev_read_fn read, v3_dev_write_fn write)
{
    struct v3_dev_claim *c, *o;
    int rc;

    if (!dev || !size || gpa + size < gpa) {
        V3_ERROR("device %s: bad MMIO range", dev ? dev->name : "?");
        return V3_EINVAL;
    }
    if ((gpa | size) & (V3_PAGE_SIZE - 1)) {
        V3_ERROR("device %s: MMIO range 0x%llx+0x%llx is not page aligned", dev->name,
                 (unsigned long long)gpa, (unsigned long long)size);
        return V3_EALIGN;
    }
    o = claim_owner(dev->vm, true, gpa, size);
    if (o) {
        V3_ERROR("device %s: MMIO 0x%llx-0x%llx overlaps 0x%llx-0x%llx of device %s", dev->name,
                 (unsigned long long)gpa, (unsigned long long)(gpa + size - 1), (unsigned long long)o->base,
                 (unsigned long long)(o->base + o->len - 1), o->dev->name);
        return V3_EOVERLAP;
    }
    c = claim_new(dev, true, gpa, size, read, write);
    if (!c) {
        V3_ERROR("device %s: out of memory for an MMIO claim", dev->name);
        return V3_ENOMEM;
    }
    rc = v3_hook_full_mem(dev->vm, gpa, gpa + size, devmm_read, devmm_write, c);
    if (rc < 0) {
        V3_ERROR("device %s: MMIO 0x%llx-0x%llx: %s", dev->name, (unsigned long long)gpa,
                 (unsigned long long)(gpa + size - 1), v3_strerror(rc));
        v3_free(c);
        return rc;
    }
    c->next = dev->claims;
    dev->claims = c;
    return V3_OK;
}

/* ------------------------------------------------------------ time */

uint64_t v3_vm_clock_ns(struct v3_vm *vm)
{
    return vm ? v3_clock_now(&vm->clock) : 0;
}

void v3_dev_deadline_changed(struct v3_device *dev)
{
    if (!dev)
        return;
    __atomic_store_n(&dev->vm->dm.deadline_dirty, 1, __ATOMIC_RELEASE);
    v3_vm_kick(dev->vm, 0);
}

static uint64_t dev_deadline(struct v3_device *d)
{
    uint64_t t;
    if (!d->ops->deadline)
        return V3_NO_DEADLINE;
    v3_dev_lock(d);
    t = d->ops->deadline(d);
    v3_dev_unlock(d);
    return t;
}

uint64_t v3_devmodel_poll(struct v3_vm *vm, uint64_t now)
{
    struct v3_devmodel *dm = &vm->dm;
    uint64_t next = V3_NO_DEADLINE;

    if (!__atomic_exchange_n(&dm->deadline_dirty, 0, __ATOMIC_ACQ_REL) && dm->next_deadline > now)
        return dm->next_deadline;
    for (unsigned i = 0; i < dm->ndevs; i++) {
        struct v3_device *d = dm->devs[i];
        uint64_t t = dev_deadline(d);
        if (t <= now && d->ops->timer) {
            v3_dev_lock(d);
            d->ops->timer(d, now);
            t = d->ops->deadline(d);
            v3_dev_unlock(d);
            if (t <= now) {
                /* a device that keeps asking for the past would spin the loop */
                V3_DEBUG("device %s: deadline %llu is not after the clock %llu", d->name,
                         (unsigned long long)t, (unsigned long long)now);
                t = now + 1000;
            }
        }
        if (t < next)
            next = t;
    }
    dm->next_deadline = next;
    return next;
}

/* ------------------------------------------------------------ snapshots */

int v3_snap_put(struct v3_snap *s, const void *data, size_t len)
{
    if (!s || s->err)
        return s ? s->err : V3_EINVAL;
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        uint8_t *nb;
        while (cap < s->len + len)
            cap *= 2;
        nb = v3_malloc(cap);
        if (!nb)
            return s->err = V3_ENOMEM;
        if (s->len)
            memcpy(nb, s->buf, s->len);
        v3_free(s->buf);
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return V3_OK;
}

int v3_snap_get(struct v3_snap *s, void *data, size_t len)
{
    if (!s || s->err)
        return s ? s->err : V3_EINVAL;
    if (len > s->len - s->pos)
        return s->err = V3_EIMAGE;
    memcpy(data, s->buf + s->pos, len);
    s->pos += len;
    return V3_OK;
}

/* ------------------------------------------------------------ instances */

static const struct v3_device_ops *model_find(const char *name)
{
    for (unsigned i = 0; v3_device_registry[i]; i++)
        if (v3_str_eq(v3_device_registry[i]->name, name))
            return v3_device_registry[i];
    return NULL;
}

const struct v3_device_ops *const *v3_device_models(void)
{
    return v3_device_registry;
}

const char *const *v3_machine_names(void)
{
    static const char *names[8];
    unsigned n = 0;
    names[n++] = "none";
    for (unsigned i = 0; v3_machine_registry[i].name && n < 7; i++)
        names[n++] = v3_machine_registry[i].name;
    names[n] = NULL;
    return names;
}

/* "name" or "name-N" for the N-th further instance of a model. */
static void instance_name(struct v3_vm *vm, const char *model, char *out, size_t size)
{
    unsigned same = 0, n = 0;
    size_t len = v3_strlen(model);

    for (unsigned i = 0; i < vm->dm.ndevs; i++)
        if (vm->dm.devs[i]->ops->name == model || v3_str_eq(vm->dm.devs[i]->ops->name, model))
            same++;
    if (len > size - 6)
        len = size - 6;
    memcpy(out, model, len);
    n = (unsigned)len;
    if (same) {
        char digits[4];
        unsigned k = 0;
        out[n++] = '-';
        do {
            digits[k++] = (char)('0' + same % 10);
            same /= 10;
        } while (same && k < 3);
        while (k)
            out[n++] = digits[--k];
    }
    out[n] = 0;
}

static void dev_free(struct v3_device *d)
{
    if (d->ops->destroy && d->state)
        d->ops->destroy(d);
    while (d->claims) {
        struct v3_dev_claim *c = d->claims;
        d->claims = c->next;
        if (c->mmio) {
            v3_unhook_mem(d->vm, c->base);
        } else {
            for (uint64_t p = c->base; p < c->base + c->len; p++)
                v3_unhook_io_port(d->vm, (uint16_t)p);
        }
        v3_free(c);
    }
    while (d->lines) {
        struct v3_irq_line *l = d->lines;
        d->lines = l->next;
        if (l->level)
            line_apply(l, 0, 0);
        v3_free(l);
    }
    v3_mutex_free(d->lock);
    v3_free(d->state);
    v3_free(d);
}

/* Create an instance of @p ops (or of the model named in @p spec when @p ops is NULL). */
static int add_device(struct v3_vm *vm, const struct v3_device_ops *ops, const char *spec)
{
    struct v3_dev_args args;
    struct v3_device *d;
    const char *name;
    char *buf;
    size_t len;
    int rc;

    if (vm->has_run) {
        V3_ERROR("v3_vm_add_device: %s: the VM has already run", ops ? ops->name : spec);
        return V3_EBUSY;
    }
    len = v3_strlen(spec);
    buf = v3_malloc(len + 1);
    if (!buf) {
        V3_ERROR("v3_vm_add_device: out of memory");
        return V3_ENOMEM;
    }
    memcpy(buf, spec, len + 1);
    rc = args_parse(buf, &args, &name);
    if (rc < 0)
        goto out;
    if (!ops)
        ops = model_find(name);
    if (!ops) {
        V3_ERROR("v3_vm_add_device: no device model \"%.32s\"", name);
        rc = V3_ENOENT;
        goto out;
    }
    args.dev = ops->name;
    if (vm->dm.ndevs == vm->dm.cap) {
        unsigned cap = vm->dm.cap ? vm->dm.cap * 2 : 16;
        struct v3_device **nd = v3_zalloc(cap * sizeof(*nd));
        if (!nd) {
            V3_ERROR("v3_vm_add_device: out of memory for the device table");
            rc = V3_ENOMEM;
            goto out;
        }
        if (vm->dm.ndevs)
            memcpy(nd, vm->dm.devs, vm->dm.ndevs * sizeof(*nd));
        v3_free(vm->dm.devs);
        vm->dm.devs = nd;
        vm->dm.cap = cap;
    }
    d = v3_zalloc(sizeof(*d));
    if (!d) {
        V3_ERROR("v3_vm_add_device: out of memory for device %s", ops->name);
        rc = V3_ENOMEM;
        goto out;
    }
    d->ops = ops;
    d->vm = vm;
    instance_name(vm, ops->name, d->name, sizeof(d->name));
    d->lock = v3_mutex_alloc();
    d->state = v3_zalloc(ops->state_size ? ops->state_size : 1);
    if (!d->lock || !d->state) {
        V3_ERROR("device %s: out of memory", d->name);
        v3_mutex_free(d->lock);
        v3_free(d->state);
        v3_free(d);
        rc = V3_ENOMEM;
        goto out;
    }
    rc = ops->create ? ops->create(d, &args) : V3_OK;
    for (unsigned i = 0; rc >= 0 && i < args.n; i++)
        if (!args.a[i].used) {
            V3_ERROR("device %s: unknown option \"%.32s\"", d->name, args.a[i].key);
            rc = V3_EINVAL;
        }
    if (rc < 0) {
        V3_ERROR("device %s: creation failed: %s", d->name, v3_strerror(rc));
        dev_free(d);
        goto out;
    }
    vm->dm.devs[vm->dm.ndevs++] = d;
    if (ops->reset) {
        v3_dev_lock(d);
        ops->reset(d);
        v3_dev_unlock(d);
    }
    vm->dm.deadline_dirty = 1;
    rc = V3_OK;
out:
    v3_free(buf);
    return rc;
}

int v3_vm_add_device(struct v3_vm *vm, const char *spec)
{
    if (!vm || !spec) {
        V3_ERROR("v3_vm_add_device: NULL %s", vm ? "specification" : "VM");
        return V3_EINVAL;
    }
    return add_device(vm, NULL, spec);
}

int v3_vm_add_device_ops(struct v3_vm *vm, const struct v3_device_ops *ops, const char *options)
{
    char spec[256];
    size_t n = 0, ol;

    if (!vm || !ops || !ops->name) {
        V3_ERROR("v3_vm_add_device_ops: NULL %s", !vm ? "VM" : "model");
        return V3_EINVAL;
    }
    /* the options after a placeholder name: the model is given */
    spec[n++] = 'x';
    if (options && *options) {
        ol = v3_strlen(options);
        if (ol > sizeof(spec) - 3) {
            V3_ERROR("v3_vm_add_device_ops: %s: options too long", ops->name);
            return V3_EINVAL;
        }
        spec[n++] = ',';
        memcpy(spec + n, options, ol);
        n += ol;
    }
    spec[n] = 0;
    return add_device(vm, ops, spec);
}

struct v3_device *v3_vm_find_device(struct v3_vm *vm, const char *name)
{
    if (!vm || !name)
        return NULL;
    for (unsigned i = 0; i < vm->dm.ndevs; i++)
        if (v3_str_eq(vm->dm.devs[i]->name, name))
            return vm->dm.devs[i];
    return NULL;
}

int v3_vm_device_info(struct v3_vm *vm, unsigned idx, struct v3_device_info *info)
{
    struct v3_device *d;

    if (!vm || !info)
        return V3_EINVAL;
    if (idx >= vm->dm.ndevs)
        return V3_ENOENT;
    d = vm->dm.devs[idx];
    memset(info, 0, sizeof(*info));
    info->name = d->name;
    info->model = d->ops->name;
    /* claims are kept newest first: list them in the order they were made */
    for (int pass = 0; pass < 2; pass++) {
        struct v3_dev_claim *order[64];
        unsigned n = 0;
        for (struct v3_dev_claim *c = d->claims; c && n < 64; c = c->next)
            if (c->mmio == (pass == 1))
                order[n++] = c;
        while (n--) {
            struct v3_dev_claim *c = order[n];
            if (!c->mmio && info->nio < 8) {
                info->io[info->nio].first = (uint16_t)c->base;
                info->io[info->nio].last = (uint16_t)(c->base + c->len - 1);
                info->nio++;
            } else if (c->mmio && info->nmmio < 8) {
                info->mmio[info->nmmio].first = c->base;
                info->mmio[info->nmmio].last = c->base + c->len - 1;
                info->nmmio++;
            }
        }
    }
    {
        /* lines are kept newest first: list them in the order they were taken */
        unsigned k = 0, total = 0;
        for (struct v3_irq_line *l = d->lines; l; l = l->next)
            total++;
        for (struct v3_irq_line *l = d->lines; l; l = l->next, k++)
            if (total - 1 - k < 8)
                info->irq[total - 1 - k] = l->irq;
        info->nirq = total < 8 ? total : 8;
    }
    return V3_OK;
}

void v3_vm_dump_devices(struct v3_vm *vm, int level)
{
    struct v3_device_info in;

    if (!vm)
        return;
    v3_log(level, "devices (%u):", vm->dm.ndevs);
    for (unsigned i = 0; v3_vm_device_info(vm, i, &in) == V3_OK; i++) {
        v3_log(level, "  %-12s model %s", in.name, in.model);
        for (unsigned k = 0; k < in.nio; k++)
            v3_log(level, "      io   %04x-%04x", in.io[k].first, in.io[k].last);
        for (unsigned k = 0; k < in.nmmio; k++)
            v3_log(level, "      mmio %016llx-%016llx", (unsigned long long)in.mmio[k].first,
                   (unsigned long long)in.mmio[k].last);
        for (unsigned k = 0; k < in.nirq; k++)
            v3_log(level, "      irq  %u", in.irq[k]);
    }
}

/* ------------------------------------------------------------ VM side */

int v3_devmodel_init(struct v3_vm *vm)
{
    vm->dm.irq_lock = v3_mutex_alloc();
    if (!vm->dm.irq_lock) {
        V3_ERROR("v3_create_vm: out of memory for the IRQ router");
        return V3_ENOMEM;
    }
    vm->dm.next_deadline = V3_NO_DEADLINE;
    return V3_OK;
}

uint64_t v3_machine_ram_hole(const char *name)
{
    if (!name)
        return 0;
    for (unsigned i = 0; v3_machine_registry[i].name; i++)
        if (v3_str_eq(v3_machine_registry[i].name, name))
            return v3_machine_registry[i].ram_hole;
    return 0;
}

static const char *const dev_bits[] = { "uart", "debug-exit", "vga", "testdev", "sysctl-a" };

int v3_devmodel_create_config(struct v3_vm *vm, const struct v3_vm_config *cfg)
{
    const char *machine = cfg->machine ? cfg->machine : "none";
    int rc;

    if (!v3_str_eq(machine, "none")) {
        const struct v3_machine_def *m = NULL;
        for (unsigned i = 0; v3_machine_registry[i].name; i++)
            if (v3_str_eq(v3_machine_registry[i].name, machine))
                m = &v3_machine_registry[i];
        if (!m) {
            V3_ERROR("v3_create_vm: no machine \"%.32s\"", machine);
            return V3_ENOENT;
        }
        for (unsigned i = 0; m->devices[i]; i++) {
            rc = v3_vm_add_device(vm, m->devices[i]);
            if (rc < 0)
                return rc;
        }
    }
    for (unsigned b = 0; b < sizeof(dev_bits) / sizeof(dev_bits[0]); b++) {
        if (!(cfg->devices & (1u << b)))
            continue;
        if (v3_vm_find_device(vm, dev_bits[b]))
            continue;               /* the machine has it already */
        rc = v3_vm_add_device(vm, dev_bits[b]);
        if (rc < 0)
            return rc;
    }
    for (unsigned i = 0; i < cfg->num_device_args; i++) {
        rc = v3_vm_add_device(vm, cfg->device_args[i]);
        if (rc < 0)
            return rc;
    }
    return V3_OK;
}

void v3_devmodel_reset(struct v3_vm *vm)
{
    for (unsigned i = 0; i < vm->dm.ndevs; i++) {
        struct v3_device *d = vm->dm.devs[i];
        if (!d->ops->reset)
            continue;
        v3_dev_lock(d);
        d->ops->reset(d);
        v3_dev_unlock(d);
    }
    vm->dm.deadline_dirty = 1;
}

void v3_devmodel_free(struct v3_vm *vm)
{
    /* interrupts stop travelling first: a device freed later may drop a line */
    vm->dm.pic_ops = vm->dm.ioapic_ops = NULL;
    vm->dm.extint_ops = NULL;
    vm->dm.lapic_ops = NULL;
    /* newest first: a device may use one created before it */
    while (vm->dm.ndevs) {
        struct v3_device *d = vm->dm.devs[--vm->dm.ndevs];
        dev_free(d);
    }
    v3_free(vm->dm.devs);
    vm->dm.devs = NULL;
    vm->dm.cap = 0;
    v3_mutex_free(vm->dm.irq_lock);
    vm->dm.irq_lock = NULL;
}
