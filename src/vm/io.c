/* SPDX-License-Identifier: MIT */
/* I/O port hooks and the I/O exit: IN/OUT and INS/OUTS (with REP) done by the VMM. */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/paging.h>

/* Elements of a REP INS/OUTS done per exit; the rest re-executes the instruction. */
#define V3_IO_REP_CHUNK 4096u

static struct v3_io_hook *io_find(struct v3_vm *vm, uint16_t port)
{
    struct v3_rb_node *n = vm->io_hooks.node;

    while (n) {
        struct v3_io_hook *h = v3_rb_entry(n, struct v3_io_hook, node);
        if (port < h->port)
            n = n->left;
        else if (port > h->port)
            n = n->right;
        else
            return h;
    }
    return NULL;
}

int v3_hook_io_port(struct v3_vm *vm, uint16_t port, v3_io_read_fn read, v3_io_write_fn write, void *priv)
{
    struct v3_rb_node **link, *parent = NULL;
    struct v3_io_hook *h;

    if (!vm) {
        V3_ERROR("v3_hook_io_port: NULL VM");
        return V3_EINVAL;
    }
    if (!read && !write) {
        V3_ERROR("v3_hook_io_port: port 0x%x: no callback", port);
        return V3_ENOCALLBACK;
    }
    link = &vm->io_hooks.node;
    while (*link) {
        struct v3_io_hook *o = v3_rb_entry(*link, struct v3_io_hook, node);
        parent = *link;
        if (port < o->port) {
            link = &(*link)->left;
        } else if (port > o->port) {
            link = &(*link)->right;
        } else {
            V3_ERROR("v3_hook_io_port: port 0x%x is already hooked", port);
            return V3_EEXIST;
        }
    }
    h = v3_zalloc(sizeof(*h));
    if (!h) {
        V3_ERROR("v3_hook_io_port: out of memory");
        return V3_ENOMEM;
    }
    h->port = port;
    h->read = read;
    h->write = write;
    h->priv = priv;
    v3_rb_link(&h->node, parent, link);
    v3_rb_insert_fixup(&h->node, &vm->io_hooks);
    return V3_OK;
}

int v3_unhook_io_port(struct v3_vm *vm, uint16_t port)
{
    struct v3_io_hook *h;

    if (!vm) {
        V3_ERROR("v3_unhook_io_port: NULL VM");
        return V3_EINVAL;
    }
    h = io_find(vm, port);
    if (!h) {
        V3_ERROR("v3_unhook_io_port: port 0x%x is not hooked", port);
        return V3_ENOENT;
    }
    v3_rb_erase(&h->node, &vm->io_hooks);
    v3_free(h);
    return V3_OK;
}

uint64_t v3_io_port_calls(struct v3_vm *vm, uint16_t port)
{
    struct v3_io_hook *h = vm ? io_find(vm, port) : NULL;

    return h ? h->calls : 0;
}

void v3_io_free_all(struct v3_vm *vm)
{
    struct v3_rb_node *n;

    while ((n = v3_rb_first(&vm->io_hooks)) != NULL) {
        v3_rb_erase(n, &vm->io_hooks);
        v3_free(v3_rb_entry(n, struct v3_io_hook, node));
    }
}

static void io_unhooked(struct v3_vm *vm, uint16_t port, bool in, unsigned size)
{
    __atomic_add_fetch(&vm->stats.io_unhooked, 1, __ATOMIC_RELAXED);
    if (vm->io_warned && !(vm->io_warned[port >> 3] & (1u << (port & 7)))) {
        vm->io_warned[port >> 3] |= (uint8_t)(1u << (port & 7));
        V3_WARN("io: %s of %u byte(s) at unhooked port 0x%x (%s; logged once)",
                in ? "read" : "write", size, port, in ? "reads all ones" : "ignored");
    }
}

/* One port access of @size bytes; @val in/out (little endian in the low bytes). */
static int io_access(struct v3_core *core, uint16_t port, unsigned size, bool in, uint32_t *val)
{
    struct v3_vm *vm = core->vm;
    struct v3_io_hook *h = io_find(vm, port);
    int rc = 0;

    if (in) {
        uint32_t v = 0xffffffffu;
        if (h && h->read) {
            h->calls++;
            v = 0;
            rc = h->read(core, port, &v, size, h->priv);
        } else {
            if (!h)
                io_unhooked(vm, port, true, size);
        }
        if (size < 4)
            v &= (1u << (size * 8)) - 1;
        *val = v;
    } else {
        if (h && h->write) {
            h->calls++;
            rc = h->write(core, port, val, size, h->priv);
        } else if (!h) {
            io_unhooked(vm, port, false, size);
        }
    }
    if (rc < 0) {
        V3_ERROR("io: hook of port 0x%x failed on %s: %s", port, in ? "read" : "write",
                 v3_strerror(rc));
        return rc;
    }
    return 0;
}

static uint64_t addr_mask(unsigned addr_size)
{
    return addr_size == 2 ? 0xffffull : addr_size == 4 ? 0xffffffffull : ~0ull;
}

/* Write a register as an instruction with this address size would. */
static void set_masked(uint64_t *reg, uint64_t val, uint64_t mask)
{
    if (mask == 0xffffull)
        *reg = (*reg & ~0xffffull) | (val & 0xffff);
    else
        *reg = val & mask;      /* 32-bit writes zero-extend */
}

static int io_inject_fault(struct v3_core *core, const struct v3_exit *ex, const struct v3_exception *exc)
{
    struct v3_vm *vm = core->vm;
    struct v3_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = V3_EVENT_EXCEPTION;
    ev.vector = exc->vector;
    ev.has_error_code = exc->has_error_code;
    ev.error_code = exc->error_code;
    ev.cr2 = exc->cr2;
    core->rip = ex->insn_rip;        /* a fault restarts the instruction */
    if (!vm->backend || !vm->backend->inject)
        return V3_EUNSUPPORTED;
    return vm->backend->inject(core, &ev);
}

static int io_string(struct v3_core *core, const struct v3_exit *ex)
{
    unsigned size = ex->io.size;
    uint64_t mask = addr_mask(ex->io.addr_size);
    bool in = ex->io.in;
    int seg = in ? V3_ES : ex->io.seg;
    uint64_t *idx = &core->gpr[in ? V3_RDI : V3_RSI];
    uint64_t count = ex->io.rep ? (core->gpr[V3_RCX] & mask) : 1;
    uint64_t todo = count > V3_IO_REP_CHUNK ? V3_IO_REP_CHUNK : count;
    int64_t step = (v3_core_get_rflags(core) & V3_FLAG_DF) ? -(int64_t)size : (int64_t)size;
    uint64_t base = 0;
    int rc;

    if (seg < 0 || seg >= V3_NR_SREGS || size == 0 || size > 4)
        return V3_EINVAL;
    if (core->mode != V3_MODE_LONG64 || seg == V3_FS || seg == V3_GS)
        base = core->seg[seg].base;

    for (uint64_t i = 0; i < todo; i++) {
        uint64_t la = base + (*idx & mask);
        struct v3_exception exc;
        uint32_t v = 0;
        int64_t r;

        if (core->mode != V3_MODE_LONG64)
            la &= 0xffffffffull;
        if (in) {
            /* a destination that faults is found before the port is read */
            uint64_t gpa;
            r = v3_gva_check(core, la, V3_ACCESS_WRITE, &gpa, &exc);
            if (r == 0 && ((la & 0xfff) + size > 0x1000))
                r = v3_gva_check(core, la + size - 1, V3_ACCESS_WRITE, &gpa, &exc);
            if (r == V3_EFAULT)
                return io_inject_fault(core, ex, &exc);
            rc = io_access(core, ex->io.port, size, true, &v);
            if (rc < 0)
                return rc;
            r = v3_write_gva_memory(core, la, size, &v, V3_ACCESS_WRITE, &exc);
        } else {
            r = v3_read_gva_memory(core, la, size, &v, V3_ACCESS_READ, &exc);
            if (r >= 0) {
                rc = io_access(core, ex->io.port, size, false, &v);
                if (rc < 0)
                    return rc;
            }
        }
        if (r == V3_EFAULT)
            return io_inject_fault(core, ex, &exc);
        if (r < 0) {
            V3_ERROR("io: %s at linear 0x%llx failed: %s", in ? "INS" : "OUTS",
                     (unsigned long long)la, v3_strerror((int)r));
            return (int)r;
        }
        set_masked(idx, *idx + (uint64_t)step, mask);
        if (ex->io.rep)
            set_masked(&core->gpr[V3_RCX], (core->gpr[V3_RCX] & mask) - 1, mask);
    }
    if (todo < count)
        core->rip = ex->insn_rip;    /* not finished: execute the instruction again */
    return 0;
}

int v3_handle_io_exit(struct v3_core *core, const struct v3_exit *ex)
{
    unsigned size = ex->io.size;
    uint32_t v;
    int rc;

    if (size != 1 && size != 2 && size != 4) {
        V3_ERROR("io: bad access size %u at port 0x%x", size, ex->io.port);
        return V3_EINVAL;
    }
    if (ex->io.string)
        return io_string(core, ex);
    if (ex->io.in) {
        rc = io_access(core, ex->io.port, size, true, &v);
        if (rc < 0)
            return rc;
        if (size == 1)
            core->gpr[V3_RAX] = (core->gpr[V3_RAX] & ~0xffull) | v;
        else if (size == 2)
            core->gpr[V3_RAX] = (core->gpr[V3_RAX] & ~0xffffull) | v;
        else
            core->gpr[V3_RAX] = v;
        return 0;
    }
    v = ex->io.data;
    if (size < 4)
        v &= (1u << (size * 8)) - 1;
    return io_access(core, ex->io.port, size, false, &v);
}
